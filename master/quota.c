/* The operator API's quota and weight calls: validation, registry operations, the allocator. */
#include "quota.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "http_api.h"
#include "master_int.h"
#include "offers.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/http_server.h"
#include "runtime/log.h"

/* Largest quantity accepted for one name (the allocator's scalar range). */
#define QUOTA_VALUE_MAX ((double)(ALLOCATOR_SCALAR_MAX / 1000))
/* Quantities compare to the allocator's precision (thousandths). */
#define QUOTA_EPSILON 0.0005

/* A change waiting for the registry. */
struct quota_wait {
	struct master_quota *q;		/* owner */
	struct keel_http_req *req;	/* the request, or NULL once its client left */
	char **roles;			/* roles whose quota (or weight) to apply once durable */
	size_t n_roles;			/* entries in roles */
	bool weights;			/* weights (else quotas) */
	struct quota_wait *prev, *next; /* q->waits list */
};

struct master_quota {
	struct master *m;	  /* owner */
	struct quota_wait *waits; /* changes in flight */
};

/* One scalar quantity of a config (name borrowed from the request). */
struct qitem {
	const char *name; /* resource name */
	double value;	  /* its quantity */
};

/* One role's requested quota, normalised (names unique). */
struct qconf {
	const char *role; /* borrowed */
	struct qitem *g;  /* guarantees */
	size_t ng;	  /* entries in g */
	struct qitem *l;  /* limits */
	size_t nl;	  /* entries in l */
	bool has_limits;  /* limits were given (SET_QUOTA: the guarantee) */
};

/* --- Names and roles --- */

/*
 * Mesos's role name rules (roles::validate) without hierarchical roles, which keel's allocator
 * does not support: NULL when valid, else the reason (static, or formatted into why).
 */
static const char *role_invalid(const char *role, char *why, size_t size)
{
	size_t len = strlen(role);

	if (len == 0)
		return "Empty role name is invalid";
	if (strcmp(role, "*") == 0)
		return NULL;
	if (len > 255) {
		snprintf(why, size, "Role '%.64s...' is longer than 255 bytes", role);
		return why;
	}
	if (strcmp(role, ".") == 0 || strcmp(role, "..") == 0) {
		snprintf(why, size, "Role '%.128s' cannot be '.' or '..'", role);
		return why;
	}
	if (role[0] == '-') {
		snprintf(why, size, "Role '%.128s' cannot start with '-'", role);
		return why;
	}
	if (strchr(role, '/') != NULL) {
		snprintf(why, size,
			 "Role '%.128s' contains '/': hierarchical roles are not supported by keel",
			 role);
		return why;
	}
	for (const char *p = role; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c == 0x7f || c == '\\') {
			snprintf(why, size,
				 "Role '%.128s' cannot contain whitespace, control characters or "
				 "backslashes",
				 role);
			return why;
		}
	}
	return NULL;
}

/* Resource names keel knows not to be scalars: no quota for them, as in Mesos. */
static bool name_not_scalar(const char *name)
{
	return strcmp(name, "ports") == 0 || strcmp(name, "ephemeral_ports") == 0;
}

/* Whether a resource name fits the allocator's text form (and is not empty). */
static bool name_ok(const char *name)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > 128)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c == 0x7f || strchr(";:()[]{},", c) != NULL)
			return false;
	}
	return true;
}

/* Adds (or, when named already, replaces) one quantity; validates it. */
static const char *qitem_put(struct qitem **v, size_t *n, const char *name, double value,
			     const char *field, char *why, size_t size)
{
	if (!name_ok(name)) {
		snprintf(why, size, "Invalid '%s': invalid resource name '%s'", field,
			 name ? name : "");
		return why;
	}
	if (name_not_scalar(name)) {
		snprintf(why, size,
			 "Invalid '%s': quota is not supported for the non-scalar resource '%s'",
			 field, name);
		return why;
	}
	if (!isfinite(value) || value < 0) {
		snprintf(why, size, "Invalid '%s': negative or non-finite value %g for '%s'", field,
			 value, name);
		return why;
	}
	if (value > QUOTA_VALUE_MAX) {
		snprintf(why, size, "Invalid '%s': value %g for '%s' is too large", field, value,
			 name);
		return why;
	}
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*v)[i].name, name) == 0) {
			(*v)[i].value = value;
			return NULL;
		}
	}
	*v = keel_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = name;
	(*v)[*n].value = value;
	(*n)++;
	return NULL;
}

static double qitem_get(const struct qitem *v, size_t n, const char *name, bool *found)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) == 0) {
			*found = true;
			return v[i].value;
		}
	}
	*found = false;
	return 0;
}

/* "cpus:1; mem:128" (or "{}") into b. */
static void qitems_format(struct keel_buf *b, const struct qitem *v, size_t n)
{
	if (n == 0)
		keel_buf_printf(b, "{}");
	for (size_t i = 0; i < n; i++)
		keel_buf_printf(b, "%s%s:%g", i ? "; " : "", v[i].name, v[i].value);
}

static void qconf_free(struct qconf *c)
{
	keel_free(c->g);
	keel_free(c->l);
	memset(c, 0, sizeof(*c));
}

/* Mesos's quota::validate(QuotaConfig): the role, then quantities, then guarantees <= limits. */
static const char *qconf_check(const struct qconf *c, char *why, size_t size)
{
	char rwhy[KEEL_ERRMSG_SIZE];
	const char *r = role_invalid(c->role, rwhy, sizeof(rwhy));

	if (r != NULL) {
		snprintf(why, size, "Invalid 'QuotaConfig.role': %s", r);
		return why;
	}
	if (strcmp(c->role, "*") == 0) {
		snprintf(why, size,
			 "Invalid 'QuotaConfig.role': setting quota for the default "
			 "'*' role is not supported");
		return why;
	}
	for (size_t i = 0; c->has_limits && i < c->ng; i++) {
		bool found;
		double lim = qitem_get(c->l, c->nl, c->g[i].name, &found);
		if (found && c->g[i].value > lim + QUOTA_EPSILON) {
			struct keel_buf b = KEEL_BUF_INIT;
			keel_buf_printf(&b, "'QuotaConfig.guarantees' ");
			qitems_format(&b, c->g, c->ng);
			keel_buf_printf(&b, " is not contained within the 'QuotaConfig.limits' ");
			qitems_format(&b, c->l, c->nl);
			snprintf(why, size, "%.*s", (int)keel_buf_size(&b),
				 (const char *)keel_buf_rptr(&b));
			keel_buf_free(&b);
			return why;
		}
	}
	return NULL;
}

/* A QuotaConfig into c (names borrowed from cfg); NULL or the reason. */
static const char *qconf_from_config(const Mesos__V1__Quota__QuotaConfig *cfg, struct qconf *c,
				     char *why, size_t size)
{
	const char *e;

	memset(c, 0, sizeof(*c));
	c->role = cfg->role ? cfg->role : "";
	for (size_t i = 0; i < cfg->n_guarantees; i++) {
		const Mesos__V1__Quota__QuotaConfig__GuaranteesEntry *x = cfg->guarantees[i];
		if ((e = qitem_put(&c->g, &c->ng, x->key, x->value ? x->value->value : 0,
				   "QuotaConfig.guarantees", why, size)) != NULL)
			return e;
	}
	for (size_t i = 0; i < cfg->n_limits; i++) {
		const Mesos__V1__Quota__QuotaConfig__LimitsEntry *x = cfg->limits[i];
		if ((e = qitem_put(&c->l, &c->nl, x->key, x->value ? x->value->value : 0,
				   "QuotaConfig.limits", why, size)) != NULL)
			return e;
	}
	c->has_limits = cfg->n_limits > 0;
	return qconf_check(c, why, size);
}

/* The deprecated QuotaRequest: guarantees as Resources, each scalar, unreserved, once. */
static const char *qconf_from_request(const Mesos__V1__Quota__QuotaRequest *rq, struct qconf *c,
				      char *why, size_t size)
{
	char rwhy[KEEL_ERRMSG_SIZE];
	const char *e;

	memset(c, 0, sizeof(*c));
	c->role = rq->role ? rq->role : "";
	if (rq->role == NULL)
		return "Field 'role' is not set in the QuotaRequest";
	if ((e = role_invalid(c->role, rwhy, sizeof(rwhy))) != NULL) {
		snprintf(why, size, "Invalid role '%s': %s", c->role, e);
		return why;
	}
	if (strcmp(c->role, "*") == 0)
		return "Invalid role '*': setting quota for the default '*' role is not supported";
	for (size_t i = 0; i < rq->n_guarantee; i++) {
		const Mesos__V1__Resource *r = rq->guarantee[i];
		bool dup;
		if (r->type != MESOS__V1__VALUE__TYPE__SCALAR || r->scalar == NULL) {
			snprintf(why, size, "Quota request with non-scalar resource '%s'",
				 r->name ? r->name : "");
			return why;
		}
		if (r->n_reservations > 0 || r->reservation != NULL ||
		    (r->role != NULL && strcmp(r->role, "*") != 0)) {
			snprintf(why, size, "Quota request with reserved resource '%s'", r->name);
			return why;
		}
		if (r->revocable != NULL || r->disk != NULL || r->shared != NULL ||
		    r->provider_id != NULL) {
			snprintf(why, size,
				 "Quota request with revocable, shared, disk or provider resource "
				 "'%s'",
				 r->name);
			return why;
		}
		qitem_get(c->g, c->ng, r->name, &dup);
		if (dup) {
			snprintf(why, size, "Quota request with duplicate resource name '%s'",
				 r->name);
			return why;
		}
		if ((e = qitem_put(&c->g, &c->ng, r->name, r->scalar->value, "guarantee", why,
				   size)) != NULL)
			return e;
	}
	/* Mesos 1.9+: the guarantee is the limit too. */
	c->l = keel_xmalloc((c->ng ? c->ng : 1) * sizeof(*c->l));
	if (c->ng > 0)
		memcpy(c->l, c->g, c->ng * sizeof(*c->l));
	c->nl = c->ng;
	c->has_limits = c->ng > 0;
	return NULL;
}

/* --- Registry messages --- */

/* Resource messages for v (names borrowed): one array holding everything, freed at once. */
struct res_block {
	Mesos__V1__Resource **ptrs;   /* the array */
	Mesos__V1__Resource *res;     /* the messages */
	Mesos__V1__Value__Scalar *sc; /* their scalars */
};

static void res_block_make(struct res_block *b, const struct qitem *v, size_t n)
{
	b->ptrs = keel_xcalloc(n ? n : 1, sizeof(*b->ptrs));
	b->res = keel_xcalloc(n ? n : 1, sizeof(*b->res));
	b->sc = keel_xcalloc(n ? n : 1, sizeof(*b->sc));
	for (size_t i = 0; i < n; i++) {
		mesos__v1__resource__init(&b->res[i]);
		mesos__v1__value__scalar__init(&b->sc[i]);
		b->sc[i].value = v[i].value;
		b->res[i].name = (char *)v[i].name;
		b->res[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
		b->res[i].scalar = &b->sc[i];
		b->ptrs[i] = &b->res[i];
	}
}

static void res_block_free(struct res_block *b)
{
	keel_free(b->ptrs);
	keel_free(b->res);
	keel_free(b->sc);
}

/* Sums a registry quota's scalars of one name. */
static double res_sum(Mesos__V1__Resource *const *rs, size_t n, const char *name)
{
	double v = 0;

	for (size_t i = 0; i < n; i++)
		if (rs[i]->name != NULL && strcmp(rs[i]->name, name) == 0 && rs[i]->scalar)
			v += rs[i]->scalar->value;
	return v;
}

/* --- The allocator --- */

/* Resources in the allocator's text form ("cpus:1.000;mem:2.000") into a new reference. */
static int res_parse_list(struct allocator *a, Mesos__V1__Resource *const *rs, size_t n,
			  struct allocator_res **out)
{
	struct keel_buf b = KEEL_BUF_INIT;
	char *text;
	int rv;

	for (size_t i = 0; i < n; i++)
		if (rs[i]->name != NULL && rs[i]->scalar != NULL)
			keel_buf_printf(&b, "%s%s:%.3f", keel_buf_size(&b) ? ";" : "", rs[i]->name,
					rs[i]->scalar->value);
	text = keel_buf_steal(&b, NULL);
	rv = allocator_res_parse(a, text ? text : "", out);
	keel_free(text);
	return rv;
}

/* Gives the allocator a role's durable quota (NULL: none). */
static int quota_apply(struct master *m, const char *role, const Keel__Registry__Quota *q,
		       char *errmsg)
{
	struct allocator *a = master_offers_allocator(m);
	struct allocator_res *g = NULL;
	struct allocator_limit *l = NULL;
	size_t nl = 0;
	int rv = 0;

	if (a == NULL)
		return 0;
	if (q != NULL && (rv = res_parse_list(a, q->guarantees, q->n_guarantees, &g)) < 0) {
		keel_errf(errmsg, rv, "quota of role '%s': %s", role, allocator_errmsg(a));
		goto out;
	}
	if (q != NULL && q->n_limits > 0) {
		l = keel_xcalloc(q->n_limits, sizeof(*l));
		for (size_t i = 0; i < q->n_limits; i++) {
			if (q->limits[i]->name == NULL || q->limits[i]->scalar == NULL)
				continue;
			l[nl].name = q->limits[i]->name;
			l[nl].value = q->limits[i]->scalar->value;
			nl++;
		}
	}
	if ((rv = allocator_role_set_quota(a, role, g)) < 0 ||
	    (rv = allocator_role_set_limits(a, role, l, nl)) < 0)
		keel_errf(errmsg, rv, "quota of role '%s': %s", role, allocator_errmsg(a));
out:
	allocator_res_unref(g);
	keel_free(l);
	return rv;
}

static int weight_apply(struct master *m, const char *role, char *errmsg)
{
	struct allocator *a = master_offers_allocator(m);
	double w = master_role_weight(m, role, NULL);
	int rv;

	if (a == NULL)
		return 0;
	if ((rv = allocator_role_set_weight(a, role, w)) < 0)
		return keel_errf(errmsg, rv, "weight of role '%s': %s", role, allocator_errmsg(a));
	return 0;
}

/* --- Weights --- */

/* Looks a role up in --weights. */
struct weight_find {
	const char *role; /* wanted */
	double weight;	  /* found */
	bool found;	  /* whether */
};

static int weight_find_cb(const char *role, double weight, void *arg)
{
	struct weight_find *wf = arg;

	if (strcmp(role, wf->role) == 0) {
		wf->weight = weight;
		wf->found = true;
	}
	return 0;
}

double master_role_weight(const struct master *m, const char *role, bool *set)
{
	const Keel__Registry__Weight *w =
	    m->registrar ? registrar_weight(m->registrar, role) : NULL;
	struct weight_find wf = {.role = role, .weight = 1.0};

	if (w == NULL && m->cfg.weights != NULL)
		master_weights_parse(m->cfg.weights, weight_find_cb, &wf, NULL);
	if (set != NULL)
		*set = w != NULL || wf.found;
	return w != NULL ? w->weight : wf.weight;
}

/* --- Waiting for the registry --- */

static void wait_unlink(struct quota_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		w->q->waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
}

static void wait_free(struct quota_wait *w)
{
	if (w->req != NULL)
		keel_http_req_on_events(w->req, NULL, NULL, NULL);
	for (size_t i = 0; i < w->n_roles; i++)
		keel_free(w->roles[i]);
	keel_free(w->roles);
	keel_free(w);
}

static void wait_req_closed(struct keel_http_req *req, void *arg)
{
	struct quota_wait *w = arg;

	(void)req;
	w->req = NULL;
}

/* The change is durable (status 0): apply it, answer 200. */
static void wait_done(struct master *m, int status, struct master_agent *unused, void *data)
{
	struct quota_wait *w = data;
	struct keel_http_req *req = w->req;
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv = 0;

	(void)unused;
	wait_unlink(w);
	if (req != NULL)
		keel_http_req_on_events(req, NULL, NULL, NULL);
	w->req = NULL;
	if (status < 0) {
		if (req != NULL)
			master_api_answer_text(req, 503, "Failed to update the registry: %s",
					       strerror(-status));
		wait_free(w);
		return;
	}
	for (size_t i = 0; rv == 0 && i < w->n_roles; i++) {
		if (w->weights)
			rv = weight_apply(m, w->roles[i], errmsg);
		else
			rv = quota_apply(m, w->roles[i], registrar_quota(m->registrar, w->roles[i]),
					 errmsg);
	}
	if (rv < 0) {
		/* Validated before it was recorded: the allocator refusing it is a bug. */
		KEEL_ERROR(MASTER_LOG, "cannot apply a durable %s change: %s",
			   w->weights ? "weight" : "quota", errmsg);
		if (req != NULL)
			master_api_answer_text(req, 500, "%s", errmsg);
		wait_free(w);
		return;
	}
	KEEL_INFO(MASTER_LOG, "%s of %zu role(s) updated by the operator",
		  w->weights ? "weights" : "quota", w->n_roles);
	master_offers_kick(m);
	if (req != NULL)
		keel_http_respond(req, 200, NULL, NULL, NULL, 0);
	wait_free(w);
}

static struct quota_wait *wait_new(struct master_quota *q, bool weights)
{
	struct quota_wait *w = keel_xcalloc(1, sizeof(*w));

	w->q = q;
	w->weights = weights;
	return w;
}

static void wait_add_role(struct quota_wait *w, const char *role)
{
	w->roles = keel_xrealloc(w->roles, (w->n_roles + 1) * sizeof(*w->roles));
	w->roles[w->n_roles++] = keel_xstrdup(role);
}

/* The last operation of a change was queued with op: hold req until it is durable. */
static void wait_hold(struct quota_wait *w, struct keel_http_req *req)
{
	struct master_quota *q = w->q;

	w->next = q->waits;
	if (q->waits)
		q->waits->prev = w;
	q->waits = w;
	w->req = req;
	keel_http_req_on_events(req, NULL, wait_req_closed, w);
}

/* Answers a synchronous registrar failure. */
static void answer_queue_error(struct keel_http_req *req, int rv, const char *what)
{
	if (rv == -EAGAIN || rv == -ESHUTDOWN)
		master_api_answer_text(req, 503, "The registry is not available: %s",
				       strerror(-rv));
	else
		master_api_answer_text(req, 500, "Failed to %s: %s", what, strerror(-rv));
}

/* --- Quota changes --- */

/* Sums guarantees of durable quotas of roles the change does not touch. */
struct guar_acc {
	const struct qconf *cs; /* the change */
	size_t n;		/* its configs */
	struct qitem **tot;	/* running totals */
	size_t *ntot;		/* their count */
};

static void qitem_add(struct qitem **v, size_t *n, const char *name, double value)
{
	char ignore[KEEL_ERRMSG_SIZE];
	bool found;
	double cur = qitem_get(*v, *n, name, &found);

	qitem_put(v, n, name, cur + value, "", ignore, sizeof(ignore));
}

static bool guar_acc_cb(const Keel__Registry__Quota *q, void *arg)
{
	struct guar_acc *ga = arg;

	for (size_t i = 0; i < ga->n; i++)
		if (strcmp(ga->cs[i].role, q->role) == 0)
			return true;
	for (size_t i = 0; i < q->n_guarantees; i++)
		if (name_ok(q->guarantees[i]->name) && q->guarantees[i]->scalar != NULL)
			qitem_add(ga->tot, ga->ntot, q->guarantees[i]->name,
				  q->guarantees[i]->scalar->value);
	return true;
}

/*
 * Mesos's capacity heuristic: the guarantees of every role after the change must fit the
 * total scalar resources of the agents the master knows. NULL or the reason.
 */
static const char *capacity_check(struct master *m, const struct qconf *cs, size_t n, char *why,
				  size_t size)
{
	struct qitem *cap = NULL, *tot = NULL;
	size_t ncap = 0, ntot = 0;
	struct guar_acc ga = {.cs = cs, .n = n, .tot = &tot, .ntot = &ntot};
	const char *key, *res = NULL;
	void *value;
	size_t pos = 0;

	while (keel_hmap_next(&m->agents.by_id, &pos, &key, &value)) {
		const struct master_agent *a = value;
		for (size_t i = 0; a->info != NULL && i < a->info->n_resources; i++) {
			const Mesos__V1__Resource *r = a->info->resources[i];
			if (r->type == MESOS__V1__VALUE__TYPE__SCALAR && r->scalar != NULL &&
			    name_ok(r->name) && r->revocable == NULL)
				qitem_add(&cap, &ncap, r->name, r->scalar->value);
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < cs[i].ng; k++)
			qitem_add(&tot, &ntot, cs[i].g[k].name, cs[i].g[k].value);
	registrar_foreach_quota(m->registrar, guar_acc_cb, &ga);
	for (size_t i = 0; i < ntot; i++) {
		bool found;
		double c = qitem_get(cap, ncap, tot[i].name, &found);
		if (tot[i].value > c + QUOTA_EPSILON) {
			struct keel_buf b = KEEL_BUF_INIT;
			keel_buf_printf(&b, "Total quota guarantees '");
			qitems_format(&b, tot, ntot);
			keel_buf_printf(&b, "' exceed cluster capacity '");
			qitems_format(&b, cap, ncap);
			keel_buf_printf(&b, "' (use 'force' flag to bypass this check)");
			snprintf(why, size, "%.*s", (int)keel_buf_size(&b),
				 (const char *)keel_buf_rptr(&b));
			keel_buf_free(&b);
			res = why;
			break;
		}
	}
	keel_free(cap);
	keel_free(tot);
	return res;
}

/* Records the configs (validated) and holds req until they are durable. */
static void quota_record(struct master_quota *q, struct keel_http_req *req, const struct qconf *cs,
			 size_t n)
{
	struct master *m = q->m;
	struct quota_wait *w = wait_new(q, false);
	struct master_op *op = NULL;
	int rv = 0;

	for (size_t i = 0; i < n; i++)
		wait_add_role(w, cs[i].role);
	for (size_t i = 0; rv == 0 && i < n; i++) {
		const struct qconf *c = &cs[i];
		bool last = i + 1 == n;
		registrar_done_cb cb = last ? master_op_done : NULL;

		if (last)
			op = master_op_new(m, wait_done, NULL, w);
		if (c->ng == 0 && c->nl == 0) {
			rv = registrar_remove_quota(m->registrar, c->role, cb, op);
		} else {
			Keel__Registry__Quota rq = KEEL__REGISTRY__QUOTA__INIT;
			struct res_block g, l;

			res_block_make(&g, c->g, c->ng);
			res_block_make(&l, c->l, c->nl);
			rq.role = (char *)c->role;
			rq.guarantees = g.ptrs;
			rq.n_guarantees = c->ng;
			rq.limits = l.ptrs;
			rq.n_limits = c->nl;
			rv = registrar_update_quota(m->registrar, &rq, cb, op);
			res_block_free(&g);
			res_block_free(&l);
		}
	}
	if (rv < 0) {
		if (op != NULL)
			master_op_cancel(op);
		/* Earlier operations of this change (if any) stay queued: a partial change. */
		if (n > 1)
			KEEL_ERROR(MASTER_LOG, "a quota change was queued in part: %s",
				   strerror(-rv));
		answer_queue_error(req, rv, "update quota");
		wait_free(w);
		return;
	}
	wait_hold(w, req);
}

static void update_quota(struct master_quota *q, struct keel_http_req *req,
			 const Mesos__V1__Master__Call__UpdateQuota *uq)
{
	char why[KEEL_ERRMSG_SIZE];
	struct qconf *cs = keel_xcalloc(uq->n_quota_configs + 1, sizeof(*cs));
	const char *e = NULL;
	size_t n = 0;

	for (; e == NULL && n < uq->n_quota_configs; n++) {
		e = qconf_from_config(uq->quota_configs[n], &cs[n], why, sizeof(why));
		for (size_t k = 0; e == NULL && k < n; k++) {
			if (strcmp(cs[k].role, cs[n].role) == 0) {
				snprintf(why, sizeof(why),
					 "Invalid 'QuotaConfig.role': role '%s' appears more than "
					 "once in the request",
					 cs[n].role);
				e = why;
			}
		}
	}
	if (e != NULL) {
		master_api_answer_text(req, 400, "Invalid QuotaConfig: %s", e);
	} else if (!(uq->has_force && uq->force) &&
		   (e = capacity_check(q->m, cs, n, why, sizeof(why))) != NULL) {
		master_api_answer_text(req, 400, "%s", e);
	} else if (n == 0) {
		keel_http_respond(req, 200, NULL, NULL, NULL, 0);
	} else {
		quota_record(q, req, cs, n);
	}
	for (size_t i = 0; i < n; i++)
		qconf_free(&cs[i]);
	keel_free(cs);
}

static void set_quota(struct master_quota *q, struct keel_http_req *req,
		      const Mesos__V1__Quota__QuotaRequest *rq)
{
	char why[KEEL_ERRMSG_SIZE];
	struct qconf c;
	const char *e = qconf_from_request(rq, &c, why, sizeof(why));

	if (e == NULL && registrar_quota(q->m->registrar, c.role) != NULL)
		e = "Can not set quota for a role that already has quota";
	if (e == NULL && c.ng == 0)
		e = "Quota request with an empty guarantee";
	if (e != NULL)
		master_api_answer_text(req, 400, "Failed to validate set quota request: %s", e);
	else if (!(rq->has_force && rq->force) &&
		 (e = capacity_check(q->m, &c, 1, why, sizeof(why))) != NULL)
		master_api_answer_text(req, 400, "%s", e);
	else
		quota_record(q, req, &c, 1);
	qconf_free(&c);
}

static void remove_quota(struct master_quota *q, struct keel_http_req *req, const char *role)
{
	struct qconf c = {.role = role};

	if (registrar_quota(q->m->registrar, role) == NULL) {
		master_api_answer_text(req, 400,
				       "Failed to remove quota: Role '%s' has no quota set", role);
		return;
	}
	quota_record(q, req, &c, 1);
}

/* --- GET_QUOTA --- */

/* Every durable quota, sorted by role. */
struct quota_list {
	const Keel__Registry__Quota **v; /* borrowed */
	size_t n;			 /* entries */
};

static bool quota_list_cb(const Keel__Registry__Quota *q, void *arg)
{
	struct quota_list *l = arg;

	l->v = keel_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = q;
	return true;
}

static int cmp_quota(const void *x, const void *y)
{
	const Keel__Registry__Quota *a = *(const Keel__Registry__Quota *const *)x;
	const Keel__Registry__Quota *b = *(const Keel__Registry__Quota *const *)y;

	return strcmp(a->role, b->role);
}

/* A map<string, Value.Scalar> of a QuotaConfig from registry Resources (names borrowed);
 * guarantees and limits entries share one layout. */
static void *map_make(Mesos__V1__Resource *const *rs, size_t n, bool limits, size_t *count)
{
	Mesos__V1__Quota__QuotaConfig__GuaranteesEntry **g = NULL;
	Mesos__V1__Quota__QuotaConfig__LimitsEntry **l = NULL;
	size_t k = 0;

	if (limits)
		l = keel_xcalloc(n ? n : 1, sizeof(*l));
	else
		g = keel_xcalloc(n ? n : 1, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		Mesos__V1__Value__Scalar *sc;
		if (rs[i]->name == NULL || rs[i]->scalar == NULL)
			continue;
		sc = keel_xmalloc(sizeof(*sc));
		mesos__v1__value__scalar__init(sc);
		sc->value = res_sum(rs, n, rs[i]->name);
		if (limits) {
			l[k] = keel_xmalloc(sizeof(*l[k]));
			mesos__v1__quota__quota_config__limits_entry__init(l[k]);
			l[k]->key = rs[i]->name;
			l[k]->value = sc;
		} else {
			g[k] = keel_xmalloc(sizeof(*g[k]));
			mesos__v1__quota__quota_config__guarantees_entry__init(g[k]);
			g[k]->key = rs[i]->name;
			g[k]->value = sc;
		}
		k++;
	}
	*count = k;
	return limits ? (void *)l : (void *)g;
}

static void get_quota(struct master_quota *q, struct keel_http_req *req, bool protobuf)
{
	Mesos__V1__Master__Response resp = MESOS__V1__MASTER__RESPONSE__INIT;
	Mesos__V1__Master__Response__GetQuota gq = MESOS__V1__MASTER__RESPONSE__GET_QUOTA__INIT;
	Mesos__V1__Quota__QuotaStatus st = MESOS__V1__QUOTA__QUOTA_STATUS__INIT;
	struct quota_list l = {0};
	Mesos__V1__Quota__QuotaInfo *infos, **iptrs;
	Mesos__V1__Quota__QuotaConfig *cfgs, **cptrs;

	registrar_foreach_quota(q->m->registrar, quota_list_cb, &l);
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_quota);
	infos = keel_xcalloc(l.n + 1, sizeof(*infos));
	iptrs = keel_xcalloc(l.n + 1, sizeof(*iptrs));
	cfgs = keel_xcalloc(l.n + 1, sizeof(*cfgs));
	cptrs = keel_xcalloc(l.n + 1, sizeof(*cptrs));
	for (size_t i = 0; i < l.n; i++) {
		const Keel__Registry__Quota *x = l.v[i];
		mesos__v1__quota__quota_config__init(&cfgs[i]);
		cfgs[i].role = x->role;
		cfgs[i].guarantees =
		    map_make(x->guarantees, x->n_guarantees, false, &cfgs[i].n_guarantees);
		cfgs[i].limits = map_make(x->limits, x->n_limits, true, &cfgs[i].n_limits);
		cptrs[i] = &cfgs[i];
		/* infos: the deprecated guarantee-only view, for roles with a guarantee. */
		if (x->n_guarantees > 0) {
			mesos__v1__quota__quota_info__init(&infos[st.n_infos]);
			infos[st.n_infos].role = x->role;
			infos[st.n_infos].guarantee = x->guarantees;
			infos[st.n_infos].n_guarantee = x->n_guarantees;
			iptrs[st.n_infos] = &infos[st.n_infos];
			st.n_infos++;
		}
	}
	st.infos = iptrs;
	st.configs = cptrs;
	st.n_configs = l.n;
	gq.status = &st;
	resp.has_type = true;
	resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_QUOTA;
	resp.get_quota = &gq;
	master_api_answer_message(req, protobuf, &resp.base);
	for (size_t i = 0; i < l.n; i++) {
		for (size_t k = 0; k < cfgs[i].n_guarantees; k++) {
			keel_free(cfgs[i].guarantees[k]->value);
			keel_free(cfgs[i].guarantees[k]);
		}
		for (size_t k = 0; k < cfgs[i].n_limits; k++) {
			keel_free(cfgs[i].limits[k]->value);
			keel_free(cfgs[i].limits[k]);
		}
		keel_free(cfgs[i].guarantees);
		keel_free(cfgs[i].limits);
	}
	keel_free(infos);
	keel_free(iptrs);
	keel_free(cfgs);
	keel_free(cptrs);
	keel_free(l.v);
}

/* --- UPDATE_WEIGHTS --- */

static void update_weights(struct master_quota *q, struct keel_http_req *req,
			   const Mesos__V1__Master__Call__UpdateWeights *uw)
{
	struct master *m = q->m;
	char why[KEEL_ERRMSG_SIZE];
	Keel__Registry__Weight *ws, **wp;
	struct quota_wait *w;
	struct master_op *op;
	int rv;

	for (size_t i = 0; i < uw->n_weight_infos; i++) {
		const Mesos__V1__WeightInfo *x = uw->weight_infos[i];
		const char *role = x->role ? x->role : "";
		const char *e = role_invalid(role, why, sizeof(why));
		if (e == NULL && strcmp(role, "*") == 0)
			e = "Cannot set the weight of the default '*' role";
		if (e != NULL) {
			master_api_answer_text(req, 400,
					       "Failed to validate update weights request: Invalid "
					       "role '%s': %s",
					       role, e);
			return;
		}
		if (!isfinite(x->weight) || !(x->weight > 0)) {
			master_api_answer_text(
			    req, 400,
			    "Failed to validate update weights request: Invalid "
			    "weight '%g' for role '%s': weights must be positive",
			    x->weight, role);
			return;
		}
	}
	if (uw->n_weight_infos == 0) {
		keel_http_respond(req, 200, NULL, NULL, NULL, 0);
		return;
	}
	ws = keel_xcalloc(uw->n_weight_infos, sizeof(*ws));
	wp = keel_xcalloc(uw->n_weight_infos, sizeof(*wp));
	w = wait_new(q, true);
	for (size_t i = 0; i < uw->n_weight_infos; i++) {
		keel__registry__weight__init(&ws[i]);
		ws[i].role = uw->weight_infos[i]->role;
		ws[i].weight = uw->weight_infos[i]->weight;
		wp[i] = &ws[i];
		wait_add_role(w, ws[i].role);
	}
	op = master_op_new(m, wait_done, NULL, w);
	rv = registrar_update_weights(m->registrar, wp, uw->n_weight_infos, master_op_done, op);
	keel_free(ws);
	keel_free(wp);
	if (rv < 0) {
		master_op_cancel(op);
		answer_queue_error(req, rv, "update weights");
		wait_free(w);
		return;
	}
	wait_hold(w, req);
}

/* --- Dispatch, life, recovery --- */

bool master_quota_handles(Mesos__V1__Master__Call__Type type)
{
	return type == MESOS__V1__MASTER__CALL__TYPE__UPDATE_QUOTA ||
	       type == MESOS__V1__MASTER__CALL__TYPE__GET_QUOTA ||
	       type == MESOS__V1__MASTER__CALL__TYPE__SET_QUOTA ||
	       type == MESOS__V1__MASTER__CALL__TYPE__REMOVE_QUOTA ||
	       type == MESOS__V1__MASTER__CALL__TYPE__UPDATE_WEIGHTS;
}

void master_quota_call(struct master_quota *q, struct keel_http_req *req,
		       const Mesos__V1__Master__Call *call, bool protobuf)
{
	switch (call->type) {
	case MESOS__V1__MASTER__CALL__TYPE__UPDATE_QUOTA:
		update_quota(q, req, call->update_quota);
		break;
	case MESOS__V1__MASTER__CALL__TYPE__SET_QUOTA:
		set_quota(q, req, call->set_quota->quota_request);
		break;
	case MESOS__V1__MASTER__CALL__TYPE__REMOVE_QUOTA:
		remove_quota(q, req, call->remove_quota->role);
		break;
	case MESOS__V1__MASTER__CALL__TYPE__UPDATE_WEIGHTS:
		update_weights(q, req, call->update_weights);
		break;
	default:
		get_quota(q, req, protobuf);
		break;
	}
}

struct master_quota *master_quota_new(struct master *m)
{
	struct master_quota *q = keel_xcalloc(1, sizeof(*q));

	q->m = m;
	return q;
}

void master_quota_free(struct master_quota *q)
{
	if (q == NULL)
		return;
	while (q->waits != NULL) {
		struct quota_wait *w = q->waits;
		wait_unlink(w);
		wait_free(w);
	}
	keel_free(q);
}

/* Recovery: every durable weight and quota to the allocator. */
struct recover_acc {
	struct master *m; /* whose */
	int rv;		  /* first failure */
	char *errmsg;	  /* its message */
};

static bool recover_weight_cb(const Keel__Registry__Weight *w, void *arg)
{
	struct recover_acc *ra = arg;

	ra->rv = weight_apply(ra->m, w->role, ra->errmsg);
	return ra->rv == 0;
}

static bool recover_quota_cb(const Keel__Registry__Quota *q, void *arg)
{
	struct recover_acc *ra = arg;

	ra->rv = quota_apply(ra->m, q->role, q, ra->errmsg);
	return ra->rv == 0;
}

int master_quota_recover(struct master *m, char *errmsg)
{
	struct recover_acc ra = {.m = m, .errmsg = errmsg};

	registrar_foreach_weight(m->registrar, recover_weight_cb, &ra);
	if (ra.rv == 0)
		registrar_foreach_quota(m->registrar, recover_quota_cb, &ra);
	if (ra.rv == 0)
		master_offers_kick(m);
	return ra.rv;
}
