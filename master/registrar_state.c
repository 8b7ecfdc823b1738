/* The in-memory registry: indexed agents and frameworks, and the operations that change them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "master/registrar_int.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/pbjson.h"

/* Bytes of a varint. */
static size_t pb_varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Bytes of a length-delimited field with a one-byte tag and `len` bytes of payload. */
static size_t pb_field_size(size_t len)
{
	return 1 + pb_varint_size(len) + len;
}

static size_t pb_size(const void *msg)
{
	return msg ? protobuf_c_message_get_packed_size(msg) : 0;
}

static void pb_free(void *msg)
{
	keel_pbjson_free(msg);
}

/* ---- Time-ordered lists ---- */

/* Inserts a by time, after every record with the same time (usually at the tail: O(1)). */
static void agelist_insert(struct registry_agelist *l, struct registry_agent *a)
{
	struct registry_agent *p = l->newest;

	while (p != NULL && p->time_ns > a->time_ns)
		p = p->older;
	a->older = p;
	a->newer = p ? p->newer : l->oldest;
	if (a->newer)
		a->newer->older = a;
	else
		l->newest = a;
	if (p)
		p->newer = a;
	else
		l->oldest = a;
}

static void agelist_remove(struct registry_agelist *l, struct registry_agent *a)
{
	if (a->older)
		a->older->newer = a->newer;
	else
		l->oldest = a->newer;
	if (a->newer)
		a->newer->older = a->older;
	else
		l->newest = a->older;
	a->older = a->newer = NULL;
}

/* ---- Records ---- */

static struct keel_hmap *agent_map(struct registry *g, enum registrar_agent_state st)
{
	switch (st) {
	case REGISTRAR_AGENT_ADMITTED:
		return &g->admitted;
	case REGISTRAR_AGENT_UNREACHABLE:
		return &g->unreachable;
	case REGISTRAR_AGENT_GONE:
		return &g->gone;
	default:
		return NULL;
	}
}

const struct keel_hmap *registry_agent_map(const struct registry *g,
					   enum registrar_agent_state state)
{
	return agent_map((struct registry *)g, state);
}

static struct registry_agelist *agent_list(struct registry *g, enum registrar_agent_state st)
{
	if (st == REGISTRAR_AGENT_UNREACHABLE)
		return &g->unreachable_age;
	if (st == REGISTRAR_AGENT_GONE)
		return &g->gone_age;
	return NULL;
}

/* Packed size of a's record in a Registry, in its current state. */
static size_t agent_size(const struct registry_agent *a)
{
	Mesos__V1__AgentID id = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TimeInfo ts = MESOS__V1__TIME_INFO__INIT;

	id.value = (char *)a->id;
	ts.nanoseconds = a->time_ns;
	switch (a->state) {
	case REGISTRAR_AGENT_ADMITTED: {
		Keel__Registry__Agent m = KEEL__REGISTRY__AGENT__INIT;
		m.info = a->info;
		m.drain_info = a->drain;
		m.has_deactivated = a->deactivated;
		m.deactivated = a->deactivated;
		return pb_field_size(pb_size(&m));
	}
	case REGISTRAR_AGENT_UNREACHABLE: {
		Keel__Registry__UnreachableAgent m = KEEL__REGISTRY__UNREACHABLE_AGENT__INIT;
		m.id = &id;
		m.timestamp = &ts;
		m.info = a->info;
		return pb_field_size(pb_size(&m));
	}
	default: {
		Keel__Registry__GoneAgent m = KEEL__REGISTRY__GONE_AGENT__INIT;
		m.id = &id;
		m.timestamp = &ts;
		return pb_field_size(pb_size(&m));
	}
	}
}

static size_t framework_size(const struct registry_framework *f)
{
	Keel__Registry__Framework m = KEEL__REGISTRY__FRAMEWORK__INIT;

	m.info = f->info;
	return pb_field_size(pb_size(&m));
}

static void agent_free(struct registry_agent *a)
{
	if (a == NULL)
		return;
	pb_free(a->info);
	pb_free(a->drain);
	keel_free(a);
}

static struct registry_agent *agent_new(const char *id)
{
	size_t n = strlen(id);
	struct registry_agent *a = keel_calloc(1, sizeof(*a) + n + 1);

	if (a == NULL)
		return NULL;
	memcpy(a->id, id, n + 1);
	return a;
}

/*
 * Puts a (not yet in any map) into the map and list of state st, with time and
 * info already set. -ENOMEM with nothing changed.
 */
static int agent_insert(struct registry *g, struct registry_agent *a, enum registrar_agent_state st)
{
	struct registry_agelist *l = agent_list(g, st);
	int rv;

	a->state = st;
	rv = keel_hmap_put(agent_map(g, st), a->id, a, NULL);
	if (rv < 0)
		return rv;
	if (l)
		agelist_insert(l, a);
	a->size = agent_size(a);
	g->size += a->size;
	return 0;
}

/* Takes a out of its map and list (it stays allocated). */
static void agent_detach(struct registry *g, struct registry_agent *a)
{
	struct registry_agelist *l = agent_list(g, a->state);

	keel_hmap_del(agent_map(g, a->state), a->id);
	if (l)
		agelist_remove(l, a);
	g->size -= a->size;
}

/*
 * Moves a to state st with the given time. Reserves the destination slot
 * first, so -ENOMEM leaves everything as it was.
 */
static int agent_move(struct registry *g, struct registry_agent *a, enum registrar_agent_state st,
		      int64_t time_ns)
{
	enum registrar_agent_state old = a->state;
	int64_t old_time = a->time_ns;
	int rv;

	agent_detach(g, a);
	a->time_ns = time_ns;
	rv = agent_insert(g, a, st);
	if (rv < 0) {
		/* Putting it back cannot fail: its old slot was just freed. */
		a->time_ns = old_time;
		(void)agent_insert(g, a, old);
		return rv;
	}
	return 0;
}

void registry_init(struct registry *g)
{
	memset(g, 0, sizeof(*g));
}

static void free_agent_map(struct keel_hmap *m)
{
	size_t pos = 0;
	const char *key;
	void *v;

	while (keel_hmap_next(m, &pos, &key, &v))
		agent_free(v);
	keel_hmap_free(m);
}

static void free_msg_map(struct keel_hmap *m)
{
	size_t pos = 0;
	const char *key;
	void *v;

	while (keel_hmap_next(m, &pos, &key, &v))
		pb_free(v);
	keel_hmap_free(m);
}

void registry_free(struct registry *g)
{
	size_t pos = 0;
	const char *key;
	void *v;

	pb_free(g->master);
	free_agent_map(&g->admitted);
	free_agent_map(&g->unreachable);
	free_agent_map(&g->gone);
	while (keel_hmap_next(&g->frameworks, &pos, &key, &v)) {
		struct registry_framework *f = v;
		pb_free(f->info);
		keel_free(f);
	}
	keel_hmap_free(&g->frameworks);
	free_msg_map(&g->weights);
	free_msg_map(&g->quotas);
	pb_free(g->maintenance);
	memset(g, 0, sizeof(*g));
}

struct registry_agent *registry_agent_find(const struct registry *g, const char *id)
{
	struct registry_agent *a = keel_hmap_get(&g->admitted, id);

	if (a == NULL)
		a = keel_hmap_get(&g->unreachable, id);
	if (a == NULL)
		a = keel_hmap_get(&g->gone, id);
	return a;
}

/* ---- Operations ---- */

static const char *agent_state_name(enum registrar_agent_state st)
{
	switch (st) {
	case REGISTRAR_AGENT_ADMITTED:
		return "admitted";
	case REGISTRAR_AGENT_UNREACHABLE:
		return "unreachable";
	case REGISTRAR_AGENT_GONE:
		return "gone";
	default:
		return "unknown";
	}
}

/* The non-empty ID string of an AgentID / FrameworkID, or NULL. */
static const char *id_value(const char *v)
{
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static const char *agent_info_id(const Mesos__V1__AgentInfo *info)
{
	return info != NULL && info->id != NULL ? id_value(info->id->value) : NULL;
}

/* The agent `id` must be in one of the states in mask (bit per state). */
static int agent_expect(struct registry *g, const char *what, const char *id, unsigned mask,
			struct registry_agent **out, char *errmsg)
{
	struct registry_agent *a;
	enum registrar_agent_state st;

	if (id == NULL)
		return keel_errf(errmsg, -EINVAL, "%s: no agent ID", what);
	a = registry_agent_find(g, id);
	st = a ? a->state : REGISTRAR_AGENT_UNKNOWN;
	if (!(mask & (1u << st)))
		return keel_errf(errmsg, -EINVAL, "%s: agent %s is %s", what, id,
				 agent_state_name(st));
	*out = a;
	return 0;
}

#define ST_BIT(s) (1u << REGISTRAR_AGENT_##s)

static int apply_admit(struct registry *g, Mesos__V1__AgentInfo **info, char *errmsg)
{
	const char *id = agent_info_id(*info);
	struct registry_agent *a;
	int rv;

	rv = agent_expect(g, "admit", id, ST_BIT(UNKNOWN), &a, errmsg);
	if (rv < 0)
		return rv;
	a = agent_new(id);
	if (a == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	a->info = *info;
	rv = agent_insert(g, a, REGISTRAR_AGENT_ADMITTED);
	if (rv < 0) {
		a->info = NULL;
		agent_free(a);
		return keel_errf(errmsg, rv, "out of memory");
	}
	*info = NULL;
	return 0;
}

static int apply_mark(struct registry *g, const char *what, const Mesos__V1__AgentID *aid,
		      const Mesos__V1__TimeInfo *ts, unsigned from, enum registrar_agent_state to,
		      char *errmsg)
{
	struct registry_agent *a;
	int rv;

	if (ts == NULL)
		return keel_errf(errmsg, -EINVAL, "%s: no timestamp", what);
	rv = agent_expect(g, what, aid ? id_value(aid->value) : NULL, from, &a, errmsg);
	if (rv < 0)
		return rv;
	rv = agent_move(g, a, to, ts->nanoseconds);
	if (rv < 0)
		return keel_errf(errmsg, rv, "out of memory");
	/* Drain state belongs to admitted agents only (an unreachable record has none). */
	pb_free(a->drain);
	a->drain = NULL;
	a->deactivated = false;
	if (to == REGISTRAR_AGENT_GONE) {
		pb_free(a->info);
		a->info = NULL;
		g->size -= a->size;
		a->size = agent_size(a);
		g->size += a->size;
	}
	return 0;
}

static int apply_reachable(struct registry *g, Mesos__V1__AgentInfo **info, char *errmsg)
{
	struct registry_agent *a;
	Mesos__V1__AgentInfo *old;
	int rv;

	rv = agent_expect(g, "mark reachable", agent_info_id(*info), ST_BIT(UNREACHABLE), &a,
			  errmsg);
	if (rv < 0)
		return rv;
	old = a->info;
	a->info = *info;
	rv = agent_move(g, a, REGISTRAR_AGENT_ADMITTED, 0);
	if (rv < 0) {
		/* agent_move put it back unreachable, sized with the new info: restore. */
		g->size -= a->size;
		a->info = old;
		a->size = agent_size(a);
		g->size += a->size;
		return keel_errf(errmsg, rv, "out of memory");
	}
	*info = NULL;
	pb_free(old);
	return 0;
}

static int apply_remove(struct registry *g, const Mesos__V1__AgentID *aid, char *errmsg)
{
	struct registry_agent *a;
	int rv;

	rv = agent_expect(g, "remove", aid ? id_value(aid->value) : NULL, ST_BIT(ADMITTED), &a,
			  errmsg);
	if (rv < 0)
		return rv;
	agent_detach(g, a);
	agent_free(a);
	return 0;
}

static void prune_list(struct registry *g, struct keel_hmap *m, Mesos__V1__AgentID **ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct registry_agent *a;

		if (ids[i] == NULL || ids[i]->value == NULL)
			continue;
		a = keel_hmap_get(m, ids[i]->value);
		if (a == NULL)
			continue;
		agent_detach(g, a);
		agent_free(a);
	}
}

static int apply_master(struct registry *g, Mesos__V1__MasterInfo **info, char *errmsg)
{
	if (*info == NULL)
		return keel_errf(errmsg, -EINVAL, "update master: no MasterInfo");
	g->size -= g->master ? pb_field_size(pb_size(g->master)) : 0;
	pb_free(g->master);
	g->master = *info;
	*info = NULL;
	g->size += pb_field_size(pb_size(g->master));
	return 0;
}

static const char *framework_info_id(const Mesos__V1__FrameworkInfo *info)
{
	return info != NULL && info->id != NULL ? id_value(info->id->value) : NULL;
}

static int apply_framework(struct registry *g, Mesos__V1__FrameworkInfo **info, bool update,
			   char *errmsg)
{
	const char *id = framework_info_id(*info);
	struct registry_framework *f;
	size_t n;
	int rv;

	if (id == NULL)
		return keel_errf(errmsg, -EINVAL, "framework: no framework ID");
	f = keel_hmap_get(&g->frameworks, id);
	if (update) {
		if (f == NULL)
			return keel_errf(errmsg, -EINVAL, "update framework: %s is unknown", id);
		g->size -= f->size;
		pb_free(f->info);
		f->info = *info;
		*info = NULL;
		f->size = framework_size(f);
		g->size += f->size;
		return 0;
	}
	if (f != NULL)
		return keel_errf(errmsg, -EINVAL, "add framework: %s exists", id);
	n = strlen(id);
	f = keel_calloc(1, sizeof(*f) + n + 1);
	if (f == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	memcpy(f->id, id, n + 1);
	f->info = *info;
	rv = keel_hmap_put(&g->frameworks, f->id, f, NULL);
	if (rv < 0) {
		keel_free(f);
		return keel_errf(errmsg, rv, "out of memory");
	}
	*info = NULL;
	f->size = framework_size(f);
	g->size += f->size;
	return 0;
}

static int apply_remove_framework(struct registry *g, const Mesos__V1__FrameworkID *fid,
				  char *errmsg)
{
	const char *id = fid ? id_value(fid->value) : NULL;
	struct registry_framework *f;

	if (id == NULL)
		return keel_errf(errmsg, -EINVAL, "remove framework: no framework ID");
	f = keel_hmap_del(&g->frameworks, id);
	if (f == NULL)
		return keel_errf(errmsg, -EINVAL, "remove framework: %s is unknown", id);
	g->size -= f->size;
	pb_free(f->info);
	keel_free(f);
	return 0;
}

/*
 * Puts msg (owned) under its role in a role-keyed map, replacing what was
 * there; `role` points into msg. Sizes count one field per entry.
 */
static int role_put(struct registry *g, struct keel_hmap *m, const char *role, void *msg)
{
	void *old = NULL;
	int rv = keel_hmap_put(m, role, msg, &old);

	if (rv < 0)
		return rv;
	if (old) {
		g->size -= pb_field_size(pb_size(old));
		pb_free(old);
	}
	g->size += pb_field_size(pb_size(msg));
	return 0;
}

static int apply_weights(struct registry *g, Keel__Registry__Operation__UpdateWeights *w,
			 char *errmsg)
{
	for (size_t i = 0; i < w->n_weights; i++) {
		Keel__Registry__Weight *x = w->weights[i];
		int rv;

		if (x == NULL || x->role == NULL)
			continue;
		rv = role_put(g, &g->weights, x->role, x);
		if (rv < 0)
			return keel_errf(errmsg, rv, "out of memory");
		w->weights[i] = NULL;
	}
	return 0;
}

static int apply_quota(struct registry *g, Keel__Registry__Quota **q, char *errmsg)
{
	int rv;

	if (*q == NULL || (*q)->role == NULL)
		return keel_errf(errmsg, -EINVAL, "update quota: no role");
	rv = role_put(g, &g->quotas, (*q)->role, *q);
	if (rv < 0)
		return keel_errf(errmsg, rv, "out of memory");
	*q = NULL;
	return 0;
}

static int apply_remove_quota(struct registry *g, const char *role, char *errmsg)
{
	void *q;

	if (role == NULL)
		return keel_errf(errmsg, -EINVAL, "remove quota: no role");
	q = keel_hmap_del(&g->quotas, role);
	if (q == NULL)
		return 0; /* lenient: another change removed it first */
	g->size -= pb_field_size(pb_size(q));
	pb_free(q);
	return 0;
}

static size_t maintenance_size(const Keel__Registry__Operation__UpdateMaintenance *m)
{
	size_t n = 0;

	for (size_t i = 0; m && i < m->n_windows; i++)
		n += pb_field_size(pb_size(m->windows[i]));
	return n;
}

static void apply_maintenance(struct registry *g, Keel__Registry__Operation__UpdateMaintenance **m)
{
	g->size -= maintenance_size(g->maintenance);
	pb_free(g->maintenance);
	g->maintenance = *m;
	*m = NULL;
	g->size += maintenance_size(g->maintenance);
}

static int apply_drain(struct registry *g, Keel__Registry__Operation__UpdateAgentDrain *d,
		       char *errmsg)
{
	struct registry_agent *a;
	int rv;

	rv = agent_expect(g, "update agent drain", d->id ? id_value(d->id->value) : NULL,
			  ST_BIT(ADMITTED), &a, errmsg);
	if (rv < 0)
		return rv;
	g->size -= a->size;
	pb_free(a->drain);
	a->drain = d->drain_info;
	d->drain_info = NULL;
	a->deactivated = d->has_deactivated && d->deactivated;
	a->size = agent_size(a);
	g->size += a->size;
	return 0;
}

int registry_apply(struct registry *g, Keel__Registry__Operation *op, char *errmsg)
{
	switch (op->op_case) {
	case KEEL__REGISTRY__OPERATION__OP_ADMIT_AGENT:
		return apply_admit(g, &op->admit_agent->info, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_UPDATE_AGENT_DRAIN:
		return apply_drain(g, op->update_agent_drain, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_MARK_UNREACHABLE:
		return apply_mark(g, "mark unreachable", op->mark_unreachable->id,
				  op->mark_unreachable->timestamp, ST_BIT(ADMITTED),
				  REGISTRAR_AGENT_UNREACHABLE, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_MARK_REACHABLE:
		return apply_reachable(g, &op->mark_reachable->info, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_MARK_GONE:
		return apply_mark(g, "mark gone", op->mark_gone->id, op->mark_gone->timestamp,
				  ST_BIT(ADMITTED) | ST_BIT(UNREACHABLE), REGISTRAR_AGENT_GONE,
				  errmsg);
	case KEEL__REGISTRY__OPERATION__OP_REMOVE_AGENT:
		return apply_remove(g, op->remove_agent->id, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_PRUNE:
		prune_list(g, &g->unreachable, op->prune->unreachable, op->prune->n_unreachable);
		prune_list(g, &g->gone, op->prune->gone, op->prune->n_gone);
		return 0;
	case KEEL__REGISTRY__OPERATION__OP_UPDATE_MASTER:
		return apply_master(g, &op->update_master->info, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_ADD_FRAMEWORK:
		return apply_framework(g, &op->add_framework->info, false, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_UPDATE_FRAMEWORK:
		return apply_framework(g, &op->update_framework->info, true, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_REMOVE_FRAMEWORK:
		return apply_remove_framework(g, op->remove_framework->id, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_UPDATE_WEIGHTS:
		return apply_weights(g, op->update_weights, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_UPDATE_QUOTA:
		return apply_quota(g, &op->update_quota->quota, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_REMOVE_QUOTA:
		return apply_remove_quota(g, op->remove_quota->role, errmsg);
	case KEEL__REGISTRY__OPERATION__OP_UPDATE_MAINTENANCE:
		apply_maintenance(g, &op->update_maintenance);
		return 0;
	default:
		return keel_errf(errmsg, -EINVAL, "unknown operation %d", (int)op->op_case);
	}
}

/* ---- Snapshots: load ---- */

/* Adds an agent record to g from snapshot parts, taking *info. */
static int load_agent(struct registry *g, const char *id, Mesos__V1__AgentInfo **info,
		      int64_t time_ns, enum registrar_agent_state st, char *errmsg)
{
	struct registry_agent *a;
	int rv;

	if (id == NULL)
		return keel_errf(errmsg, -EINVAL, "snapshot: %s agent without ID",
				 agent_state_name(st));
	if (registry_agent_find(g, id))
		return keel_errf(errmsg, -EINVAL, "snapshot: agent %s appears twice", id);
	a = agent_new(id);
	if (a == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	a->time_ns = time_ns;
	if (info) {
		a->info = *info;
		*info = NULL;
	}
	rv = agent_insert(g, a, st);
	if (rv < 0) {
		agent_free(a);
		return keel_errf(errmsg, rv, "out of memory");
	}
	return 0;
}

static int load_parts(struct registry *g, Keel__Registry__Registry *msg, char *errmsg)
{
	int rv = 0;

	for (size_t i = 0; rv == 0 && i < msg->n_agents; i++) {
		Keel__Registry__Agent *a = msg->agents[i];
		if (a == NULL || a->info == NULL)
			return keel_errf(errmsg, -EINVAL, "snapshot: agent without info");
		const char *id = agent_info_id(a->info); /* points into the info it keeps */
		rv = load_agent(g, id, &a->info, 0, REGISTRAR_AGENT_ADMITTED, errmsg);
		if (rv == 0 && (a->drain_info != NULL || a->deactivated)) {
			struct registry_agent *x = registry_agent_find(g, id);
			g->size -= x->size;
			x->drain = a->drain_info;
			a->drain_info = NULL;
			x->deactivated = a->has_deactivated && a->deactivated;
			x->size = agent_size(x);
			g->size += x->size;
		}
	}
	for (size_t i = 0; rv == 0 && i < msg->n_unreachable; i++) {
		Keel__Registry__UnreachableAgent *u = msg->unreachable[i];
		if (u == NULL || u->id == NULL || u->timestamp == NULL)
			return keel_errf(errmsg, -EINVAL, "snapshot: bad unreachable agent");
		rv = load_agent(g, id_value(u->id->value), &u->info, u->timestamp->nanoseconds,
				REGISTRAR_AGENT_UNREACHABLE, errmsg);
	}
	for (size_t i = 0; rv == 0 && i < msg->n_gone; i++) {
		Keel__Registry__GoneAgent *x = msg->gone[i];
		if (x == NULL || x->id == NULL || x->timestamp == NULL)
			return keel_errf(errmsg, -EINVAL, "snapshot: bad gone agent");
		rv = load_agent(g, id_value(x->id->value), NULL, x->timestamp->nanoseconds,
				REGISTRAR_AGENT_GONE, errmsg);
	}
	for (size_t i = 0; rv == 0 && i < msg->n_frameworks; i++) {
		Keel__Registry__Framework *f = msg->frameworks[i];
		if (f == NULL)
			return keel_errf(errmsg, -EINVAL, "snapshot: bad framework");
		rv = apply_framework(g, &f->info, false, errmsg);
	}
	for (size_t i = 0; rv == 0 && i < msg->n_weights; i++) {
		Keel__Registry__Weight *w = msg->weights[i];
		if (w == NULL || w->role == NULL)
			return keel_errf(errmsg, -EINVAL, "snapshot: bad weight");
		rv = role_put(g, &g->weights, w->role, w);
		if (rv < 0)
			return keel_errf(errmsg, rv, "out of memory");
		msg->weights[i] = NULL;
	}
	for (size_t i = 0; rv == 0 && i < msg->n_quotas; i++) {
		rv = apply_quota(g, &msg->quotas[i], errmsg);
	}
	if (rv < 0)
		return rv;
	if (msg->n_maintenance > 0) {
		Keel__Registry__Operation__UpdateMaintenance *m = keel_malloc(sizeof(*m));
		if (m == NULL)
			return keel_errf(errmsg, -ENOMEM, "out of memory");
		keel__registry__operation__update_maintenance__init(m);
		m->n_windows = msg->n_maintenance;
		m->windows = msg->maintenance;
		msg->n_maintenance = 0;
		msg->maintenance = NULL;
		apply_maintenance(g, &m);
	}
	if (msg->master)
		return apply_master(g, &msg->master, errmsg);
	return 0;
}

int registry_load(struct registry *g, Keel__Registry__Registry *msg, char *errmsg)
{
	struct registry tmp;
	int rv;

	registry_init(&tmp);
	rv = load_parts(&tmp, msg, errmsg);
	if (rv < 0) {
		registry_free(&tmp);
		return rv;
	}
	registry_free(g);
	*g = tmp;
	return 0;
}

/* ---- Snapshots: pack ---- */

/* Borrowed wrappers for one packed Registry; freed after packing. */
struct pack_mem {
	Keel__Registry__Agent *agents;		     /* admitted wrappers */
	Keel__Registry__Agent **agent_ptrs;	     /* their pointers */
	Keel__Registry__UnreachableAgent *unr;	     /* unreachable wrappers */
	Keel__Registry__UnreachableAgent **unr_ptrs; /* their pointers */
	Keel__Registry__GoneAgent *gone;	     /* gone wrappers */
	Keel__Registry__GoneAgent **gone_ptrs;	     /* their pointers */
	Mesos__V1__AgentID *ids;		     /* IDs of unreachable then gone */
	Mesos__V1__TimeInfo *times;		     /* timestamps, same order */
	Keel__Registry__Framework *fws;		     /* framework wrappers */
	Keel__Registry__Framework **fw_ptrs;	     /* their pointers */
	Keel__Registry__Weight **weights;	     /* borrowed weights */
	Keel__Registry__Quota **quotas;		     /* borrowed quotas */
};

static void pack_mem_free(struct pack_mem *pm)
{
	keel_free(pm->agents);
	keel_free(pm->agent_ptrs);
	keel_free(pm->unr);
	keel_free(pm->unr_ptrs);
	keel_free(pm->gone);
	keel_free(pm->gone_ptrs);
	keel_free(pm->ids);
	keel_free(pm->times);
	keel_free(pm->fws);
	keel_free(pm->fw_ptrs);
	keel_free(pm->weights);
	keel_free(pm->quotas);
}

/* An array of n elements of size sz, or a harmless non-NULL result for n = 0. */
static void *pack_array(size_t n, size_t sz, bool *oom)
{
	void *p = keel_calloc(n ? n : 1, sz);

	if (p == NULL)
		*oom = true;
	return p;
}

static int cmp_agent_ptr(const void *a, const void *b)
{
	const Keel__Registry__Agent *x = *(Keel__Registry__Agent *const *)a;
	const Keel__Registry__Agent *y = *(Keel__Registry__Agent *const *)b;
	return strcmp(x->info->id->value, y->info->id->value);
}

static int cmp_unr_ptr(const void *a, const void *b)
{
	const Keel__Registry__UnreachableAgent *x = *(Keel__Registry__UnreachableAgent *const *)a;
	const Keel__Registry__UnreachableAgent *y = *(Keel__Registry__UnreachableAgent *const *)b;
	return strcmp(x->id->value, y->id->value);
}

static int cmp_gone_ptr(const void *a, const void *b)
{
	const Keel__Registry__GoneAgent *x = *(Keel__Registry__GoneAgent *const *)a;
	const Keel__Registry__GoneAgent *y = *(Keel__Registry__GoneAgent *const *)b;
	return strcmp(x->id->value, y->id->value);
}

static int cmp_fw_ptr(const void *a, const void *b)
{
	const Keel__Registry__Framework *x = *(Keel__Registry__Framework *const *)a;
	const Keel__Registry__Framework *y = *(Keel__Registry__Framework *const *)b;
	return strcmp(x->info->id->value, y->info->id->value);
}

static int cmp_weight_ptr(const void *a, const void *b)
{
	return strcmp((*(Keel__Registry__Weight *const *)a)->role,
		      (*(Keel__Registry__Weight *const *)b)->role);
}

static int cmp_quota_ptr(const void *a, const void *b)
{
	return strcmp((*(Keel__Registry__Quota *const *)a)->role,
		      (*(Keel__Registry__Quota *const *)b)->role);
}

/* Collects the values of a role-keyed map into an array. */
static void collect_values(const struct keel_hmap *m, void **out)
{
	size_t pos = 0, i = 0;
	const char *key;
	void *v;

	while (keel_hmap_next(m, &pos, &key, &v))
		out[i++] = v;
}

int registry_pack(const struct registry *g, bool sorted, struct keel_buf *out, char *errmsg)
{
	Keel__Registry__Registry reg = KEEL__REGISTRY__REGISTRY__INIT;
	struct pack_mem pm = {0};
	size_t na = g->admitted.count, nu = g->unreachable.count, ng = g->gone.count;
	size_t nf = g->frameworks.count, i, pos;
	const char *key;
	void *v;
	bool oom = false;
	int rv;

	pm.agents = pack_array(na, sizeof(*pm.agents), &oom);
	pm.agent_ptrs = pack_array(na, sizeof(*pm.agent_ptrs), &oom);
	pm.unr = pack_array(nu, sizeof(*pm.unr), &oom);
	pm.unr_ptrs = pack_array(nu, sizeof(*pm.unr_ptrs), &oom);
	pm.gone = pack_array(ng, sizeof(*pm.gone), &oom);
	pm.gone_ptrs = pack_array(ng, sizeof(*pm.gone_ptrs), &oom);
	pm.ids = pack_array(nu + ng, sizeof(*pm.ids), &oom);
	pm.times = pack_array(nu + ng, sizeof(*pm.times), &oom);
	pm.fws = pack_array(nf, sizeof(*pm.fws), &oom);
	pm.fw_ptrs = pack_array(nf, sizeof(*pm.fw_ptrs), &oom);
	pm.weights = pack_array(g->weights.count, sizeof(*pm.weights), &oom);
	pm.quotas = pack_array(g->quotas.count, sizeof(*pm.quotas), &oom);
	if (oom) {
		pack_mem_free(&pm);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}

	reg.master = g->master;
	pos = 0;
	i = 0;
	while (keel_hmap_next(&g->admitted, &pos, &key, &v)) {
		const struct registry_agent *a = v;
		keel__registry__agent__init(&pm.agents[i]);
		pm.agents[i].info = a->info;
		pm.agents[i].drain_info = a->drain;
		pm.agents[i].has_deactivated = a->deactivated;
		pm.agents[i].deactivated = a->deactivated;
		pm.agent_ptrs[i] = &pm.agents[i];
		i++;
	}
	i = 0;
	for (const struct registry_agent *a = g->unreachable_age.oldest; a; a = a->newer, i++) {
		keel__registry__unreachable_agent__init(&pm.unr[i]);
		mesos__v1__agent_id__init(&pm.ids[i]);
		mesos__v1__time_info__init(&pm.times[i]);
		pm.ids[i].value = (char *)a->id;
		pm.times[i].nanoseconds = a->time_ns;
		pm.unr[i].id = &pm.ids[i];
		pm.unr[i].timestamp = &pm.times[i];
		pm.unr[i].info = a->info;
		pm.unr_ptrs[i] = &pm.unr[i];
	}
	i = 0;
	for (const struct registry_agent *a = g->gone_age.oldest; a; a = a->newer, i++) {
		keel__registry__gone_agent__init(&pm.gone[i]);
		mesos__v1__agent_id__init(&pm.ids[nu + i]);
		mesos__v1__time_info__init(&pm.times[nu + i]);
		pm.ids[nu + i].value = (char *)a->id;
		pm.times[nu + i].nanoseconds = a->time_ns;
		pm.gone[i].id = &pm.ids[nu + i];
		pm.gone[i].timestamp = &pm.times[nu + i];
		pm.gone_ptrs[i] = &pm.gone[i];
	}
	pos = 0;
	i = 0;
	while (keel_hmap_next(&g->frameworks, &pos, &key, &v)) {
		const struct registry_framework *f = v;
		keel__registry__framework__init(&pm.fws[i]);
		pm.fws[i].info = f->info;
		pm.fw_ptrs[i] = &pm.fws[i];
		i++;
	}
	collect_values(&g->weights, (void **)pm.weights);
	collect_values(&g->quotas, (void **)pm.quotas);
	if (sorted) {
		qsort(pm.agent_ptrs, na, sizeof(*pm.agent_ptrs), cmp_agent_ptr);
		qsort(pm.unr_ptrs, nu, sizeof(*pm.unr_ptrs), cmp_unr_ptr);
		qsort(pm.gone_ptrs, ng, sizeof(*pm.gone_ptrs), cmp_gone_ptr);
		qsort(pm.fw_ptrs, nf, sizeof(*pm.fw_ptrs), cmp_fw_ptr);
		qsort(pm.weights, g->weights.count, sizeof(*pm.weights), cmp_weight_ptr);
		qsort(pm.quotas, g->quotas.count, sizeof(*pm.quotas), cmp_quota_ptr);
	}
	reg.n_agents = na;
	reg.agents = pm.agent_ptrs;
	reg.n_unreachable = nu;
	reg.unreachable = pm.unr_ptrs;
	reg.n_gone = ng;
	reg.gone = pm.gone_ptrs;
	reg.n_frameworks = nf;
	reg.frameworks = pm.fw_ptrs;
	reg.n_weights = g->weights.count;
	reg.weights = pm.weights;
	reg.n_quotas = g->quotas.count;
	reg.quotas = pm.quotas;
	if (g->maintenance) {
		reg.n_maintenance = g->maintenance->n_windows;
		reg.maintenance = g->maintenance->windows;
	}

	size_t n = protobuf_c_message_get_packed_size(&reg.base);
	rv = keel_buf_reserve(out, n + 1); /* + 1: storage even for an empty registry */
	if (rv < 0) {
		pack_mem_free(&pm);
		return keel_errf(errmsg, rv, "out of memory (%zu bytes)", n);
	}
	keel_buf_commit(out, protobuf_c_message_pack(&reg.base, (uint8_t *)keel_buf_wptr(out)));
	pack_mem_free(&pm);
	return 0;
}
