/* The operator API's GET_ROLES and GET_WEIGHTS, built from the weights (registry over --weights),
 * quotas, frameworks, tasks and offers when asked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "auth.h"
#include "allocator_proto.h"
#include "http_api.h"
#include "http_json.h"
#include "master_int.h"
#include "offers.h"
#include "quota.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/hmap.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "sched.h"
#include "tasks.h"

/* One role being gathered. */
struct role_acc {
	Mesos__V1__Role role;		/* the answer's entry (name points at name[]) */
	Mesos__V1__FrameworkID *fids;	/* its frameworks' IDs (values borrowed) */
	Mesos__V1__FrameworkID **fptrs; /* pointers to them */
	size_t cap;			/* room in both */
	struct allocator_res *res;	/* allocated to it (tasks and offers), or NULL */
	Mesos__V1__Resource **rs;	/* res as messages */
	size_t n_rs;			/* how many */
	char name[];			/* the role (key) */
};

/* The roles gathered for one answer. */
struct roles {
	struct master *m;	  /* whose */
	struct keel_hmap by_name; /* role -> struct role_acc */
};

static struct role_acc *role_get(struct roles *rs, const char *name)
{
	struct role_acc *r = keel_hmap_get(&rs->by_name, name);
	size_t n;

	if (r != NULL)
		return r;
	n = strlen(name);
	r = keel_xcalloc(1, sizeof(*r) + n + 1);
	memcpy(r->name, name, n + 1);
	mesos__v1__role__init(&r->role);
	r->role.name = r->name;
	r->role.weight = 1.0;
	if (keel_hmap_put(&rs->by_name, r->name, r, NULL) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
	return r;
}

static int weight_cb(const char *role, double weight, void *arg)
{
	role_get(arg, role)->role.weight = weight;
	return 0;
}

static bool reg_weight_cb(const Keel__Registry__Weight *w, void *arg)
{
	role_get(arg, w->role)->role.weight = w->weight;
	return true;
}

static bool reg_quota_cb(const Keel__Registry__Quota *q, void *arg)
{
	role_get(arg, q->role);
	return true;
}

static void role_add_framework(struct role_acc *r, char *fid)
{
	if (r->role.n_frameworks == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 4;
		r->fids = keel_xrealloc(r->fids, r->cap * sizeof(*r->fids));
		r->fptrs = keel_xrealloc(r->fptrs, r->cap * sizeof(*r->fptrs));
	}
	mesos__v1__framework_id__init(&r->fids[r->role.n_frameworks]);
	r->fids[r->role.n_frameworks].value = fid;
	r->role.n_frameworks++;
}

static void role_add_res(struct roles *rs, const char *name, const struct allocator_res *res)
{
	struct allocator *a = master_offers_allocator(rs->m);
	struct role_acc *r;
	struct allocator_res *sum;

	if (res == NULL || a == NULL)
		return;
	r = role_get(rs, name);
	if (r->res == NULL) {
		r->res = allocator_res_ref(res);
		return;
	}
	if (allocator_res_add(a, r->res, res, &sum) < 0) {
		KEEL_WARN(MASTER_LOG, "GET_ROLES: cannot add resources of role %s: %s", name,
			  allocator_errmsg(a));
		return;
	}
	allocator_res_unref(r->res);
	r->res = sum;
}

static int cmp_role(const void *x, const void *y)
{
	const struct role_acc *a = *(struct role_acc *const *)x;
	const struct role_acc *b = *(struct role_acc *const *)y;

	return strcmp(a->name, b->name);
}

/* Gathers every role: weighted, subscribed to, or holding resources. */
static void roles_gather(struct roles *rs)
{
	struct master *m = rs->m;
	struct master_framework *fw;
	struct master_task *t;
	size_t pos = 0;

	if (m->cfg.weights != NULL)
		master_weights_parse(m->cfg.weights, weight_cb, rs, NULL);
	if (m->registrar != NULL) {
		registrar_foreach_weight(m->registrar, reg_weight_cb, rs);
		registrar_foreach_quota(m->registrar, reg_quota_cb, rs);
	}
	while (master_frameworks_next(m, &pos, &fw)) {
		const Mesos__V1__FrameworkInfo *info = fw->info;
		if (master_framework_multi_role(info)) {
			for (size_t i = 0; i < info->n_roles; i++)
				role_add_framework(role_get(rs, info->roles[i]), fw->id);
		} else {
			role_add_framework(role_get(rs, info->role ? info->role : "*"), fw->id);
		}
		for (struct master_offer *o = fw->offers; o != NULL; o = o->fnext)
			role_add_res(rs, o->role, o->res);
	}
	pos = 0;
	while (master_tasks_next(m, &pos, &t))
		role_add_res(rs, t->role, t->res);
}

static void roles_free(struct roles *rs)
{
	const char *key;
	void *value;
	size_t pos = 0;

	while (keel_hmap_next(&rs->by_name, &pos, &key, &value)) {
		struct role_acc *r = value;
		allocator_res_proto_free(r->rs, r->n_rs);
		allocator_res_unref(r->res);
		keel_free(r->fids);
		keel_free(r->fptrs);
		keel_free(r);
	}
	keel_hmap_free(&rs->by_name);
}

/* Gathers every role into rs and lists them sorted by name (free the array; the roles live in
 * rs until roles_free). Each role_acc's role is complete (frameworks, resources). */
static size_t roles_list(struct roles *rs, struct role_acc ***out)
{
	struct master *m = rs->m;
	struct role_acc **list;
	const char *key;
	void *value;
	size_t pos = 0, n = 0;

	roles_gather(rs);
	list = keel_xcalloc(rs->by_name.count ? rs->by_name.count : 1, sizeof(*list));
	while (keel_hmap_next(&rs->by_name, &pos, &key, &value)) {
		struct role_acc *r = value;
		for (size_t i = 0; i < r->role.n_frameworks; i++)
			r->fptrs[i] = &r->fids[i];
		r->role.frameworks = r->fptrs;
		if (r->res != NULL && allocator_res_to_proto(master_offers_allocator(m), r->res,
							     NULL, false, &r->rs, &r->n_rs) < 0)
			abort(); /* -ENOMEM only: a daemon's out-of-memory is fatal */
		r->role.resources = r->rs;
		r->role.n_resources = r->n_rs;
		list[n++] = r;
	}
	qsort(list, n, sizeof(*list), cmp_role);
	*out = list;
	return n;
}

void master_api_get_roles(struct master *m, struct keel_http_req *req, bool protobuf)
{
	Mesos__V1__Master__Response resp = MESOS__V1__MASTER__RESPONSE__INIT;
	Mesos__V1__Master__Response__GetRoles gr = MESOS__V1__MASTER__RESPONSE__GET_ROLES__INIT;
	struct roles rs = {.m = m};
	struct role_acc **accs;
	Mesos__V1__Role **list;
	size_t n = roles_list(&rs, &accs);

	list = keel_xcalloc(n ? n : 1, sizeof(*list));
	for (size_t i = 0; i < n; i++)
		list[i] = &accs[i]->role;
	gr.roles = list;
	gr.n_roles = n;
	resp.has_type = true;
	resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_ROLES;
	resp.get_roles = &gr;
	master_api_answer_message(req, protobuf, &resp.base);
	keel_free(list);
	keel_free(accs);
	roles_free(&rs);
}

/* --- GET /roles: Mesos's v0 JSON, with each role's quota --- */

/* Writes {"name": total, ...} of the scalars among rs (names summed, in first-seen order). */
static void json_scalars(struct master_json *w, Mesos__V1__Resource *const *rs, size_t n)
{
	master_json_object_begin(w);
	for (size_t i = 0; i < n; i++) {
		double v = 0;
		bool seen = false;
		if (rs[i]->scalar == NULL || rs[i]->name == NULL)
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = rs[k]->scalar != NULL && rs[k]->name != NULL &&
			       strcmp(rs[k]->name, rs[i]->name) == 0;
		if (seen)
			continue;
		for (size_t k = i; k < n; k++)
			if (rs[k]->scalar != NULL && rs[k]->name != NULL &&
			    strcmp(rs[k]->name, rs[i]->name) == 0)
				v += rs[k]->scalar->value;
		master_json_kv_double(w, rs[i]->name, v);
	}
	master_json_object_end(w);
}

static void on_roles(struct keel_http_req *req, void *arg)
{
	struct master *m = arg;
	struct roles rs = {.m = m};
	struct role_acc **list;
	struct keel_buf *body;
	struct master_json w;
	size_t n;

	if (!master_http_gate(m, req) || !master_auth_readonly(m, req))
		return;
	body = master_api_scratch(m);
	n = roles_list(&rs, &list);
	master_json_init(&w, body);
	master_json_object_begin(&w);
	master_json_key(&w, "roles");
	master_json_array_begin(&w);
	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Role *r = &list[i]->role;
		const Keel__Registry__Quota *q = registrar_quota(m->registrar, r->name);

		master_json_object_begin(&w);
		master_json_kv_string(&w, "name", r->name);
		master_json_kv_double(&w, "weight", r->weight);
		master_json_key(&w, "frameworks");
		master_json_array_begin(&w);
		for (size_t k = 0; k < r->n_frameworks; k++)
			master_json_string(&w, r->frameworks[k]->value);
		master_json_array_end(&w);
		master_json_key(&w, "resources");
		json_scalars(&w, r->resources, r->n_resources);
		master_json_key(&w, "allocated");
		json_scalars(&w, r->resources, r->n_resources);
		master_json_key(&w, "quota");
		master_json_object_begin(&w);
		master_json_kv_string(&w, "role", r->name);
		master_json_key(&w, "guarantee");
		json_scalars(&w, q ? q->guarantees : NULL, q ? q->n_guarantees : 0);
		master_json_key(&w, "limit");
		json_scalars(&w, q ? q->limits : NULL, q ? q->n_limits : 0);
		master_json_key(&w, "consumed");
		json_scalars(&w, r->resources, r->n_resources);
		master_json_object_end(&w);
		master_json_object_end(&w);
	}
	master_json_array_end(&w);
	master_json_object_end(&w);
	keel_http_respond(req, 200, "application/json", NULL, keel_buf_rptr(body),
			  keel_buf_size(body));
	master_api_scratch_done(m);
	keel_free(list);
	roles_free(&rs);
}

int master_roles_routes(struct master *m, char *errmsg)
{
	static const char *const paths[] = {"/roles", "/master/roles", "/roles.json",
					    "/master/roles.json"};

	for (size_t i = 0; i < KEEL_ARRAY_SIZE(paths); i++) {
		int rv = keel_http_server_route(m->server, KEEL_HTTP_GET, paths[i], on_roles, m);
		if (rv < 0)
			return keel_errf(errmsg, rv, "cannot route %s", paths[i]);
	}
	return 0;
}

/* GET_WEIGHTS: the --weights in their order (the registry's value where it has one), then the
 * registry's other weights by role. */
struct weights_acc {
	struct master *m;			     /* whose */
	Mesos__V1__Master__Response__GetWeights *gw; /* the answer */
	size_t from_flags;			     /* entries that came from --weights */
};

static void weight_info_add(Mesos__V1__Master__Response__GetWeights *gw, const char *role,
			    double weight)
{
	Mesos__V1__WeightInfo *w = keel_xmalloc(sizeof(*w));

	mesos__v1__weight_info__init(w);
	w->role = keel_xstrdup(role);
	w->weight = weight;
	gw->weight_infos =
	    keel_xrealloc(gw->weight_infos, (gw->n_weight_infos + 1) * sizeof(*gw->weight_infos));
	gw->weight_infos[gw->n_weight_infos++] = w;
}

static int weight_info_cb(const char *role, double weight, void *arg)
{
	struct weights_acc *wa = arg;

	(void)weight;
	weight_info_add(wa->gw, role, master_role_weight(wa->m, role, NULL));
	return 0;
}

static bool reg_weight_info_cb(const Keel__Registry__Weight *w, void *arg)
{
	struct weights_acc *wa = arg;

	for (size_t i = 0; i < wa->from_flags; i++)
		if (strcmp(wa->gw->weight_infos[i]->role, w->role) == 0)
			return true;
	weight_info_add(wa->gw, w->role, w->weight);
	return true;
}

static int cmp_weight_info(const void *x, const void *y)
{
	const Mesos__V1__WeightInfo *a = *(Mesos__V1__WeightInfo *const *)x;
	const Mesos__V1__WeightInfo *b = *(Mesos__V1__WeightInfo *const *)y;

	return strcmp(a->role, b->role);
}

void master_api_get_weights(struct master *m, struct keel_http_req *req, bool protobuf)
{
	Mesos__V1__Master__Response resp = MESOS__V1__MASTER__RESPONSE__INIT;
	Mesos__V1__Master__Response__GetWeights gw = MESOS__V1__MASTER__RESPONSE__GET_WEIGHTS__INIT;
	struct weights_acc wa = {.m = m, .gw = &gw};

	if (m->cfg.weights != NULL)
		master_weights_parse(m->cfg.weights, weight_info_cb, &wa, NULL);
	wa.from_flags = gw.n_weight_infos;
	if (m->registrar != NULL)
		registrar_foreach_weight(m->registrar, reg_weight_info_cb, &wa);
	if (gw.n_weight_infos > wa.from_flags)
		qsort(gw.weight_infos + wa.from_flags, gw.n_weight_infos - wa.from_flags,
		      sizeof(*gw.weight_infos), cmp_weight_info);
	resp.has_type = true;
	resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_WEIGHTS;
	resp.get_weights = &gw;
	master_api_answer_message(req, protobuf, &resp.base);
	for (size_t i = 0; i < gw.n_weight_infos; i++) {
		keel_free(gw.weight_infos[i]->role);
		keel_free(gw.weight_infos[i]);
	}
	keel_free(gw.weight_infos);
}
