/* Pruning unreachable and gone agents by age and count: the Prune operation that closes a batch. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "master/registrar_int.h"
#include "runtime/alloc.h"

/* An agent entering a list in this batch. */
struct prune_entering {
	const char *id;			/* its ID (inside the queued operation) */
	int64_t time_ns;		/* its timestamp */
	struct registrar_pending *pend; /* its pending entry (owned by its operation) */
};

/* A growable list of IDs to prune. */
struct prune_ids {
	Mesos__V1__AgentID *ids;	/* the IDs (values borrowed) */
	size_t n;			/* used */
	size_t cap;			/* allocated */
	struct registrar_pending **ent; /* entering agents pruned: their pending entries */
	size_t n_ent;			/* used */
};

static int cmp_entering(const void *a, const void *b)
{
	const struct prune_entering *x = a, *y = b;
	return (x->time_ns > y->time_ns) - (x->time_ns < y->time_ns);
}

static int ids_push(struct prune_ids *l, const char *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		Mesos__V1__AgentID *ids = keel_realloc(l->ids, cap * sizeof(*ids));
		if (ids == NULL)
			return -ENOMEM;
		l->ids = ids;
		l->cap = cap;
	}
	mesos__v1__agent_id__init(&l->ids[l->n]);
	l->ids[l->n++].value = (char *)id;
	return 0;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Chooses what to prune from one list: merges the durable list (oldest first)
 * with the agents entering it in this batch (sorted by time) and takes the
 * oldest while they are older than `cutoff` or the projected count exceeds
 * max. A durable agent with an operation queued on it is skipped (it leaves
 * the list, or changes, by that operation). Cost: what is pruned plus what is
 * skipped.
 */
static int plan_list(struct registrar *r, const struct registry_agelist *list, size_t count,
		     size_t leaving, struct prune_entering *ent, size_t n_ent, int64_t cutoff,
		     struct prune_ids *out)
{
	const struct registry_agent *a = list->oldest;
	size_t projected = count - leaving + n_ent, e = 0;
	size_t max = r->cfg.max_agent_count;
	int rv;

	while (a != NULL || e < n_ent) {
		bool take_durable = e == n_ent || (a != NULL && a->time_ns <= ent[e].time_ns);
		int64_t t = take_durable ? a->time_ns : ent[e].time_ns;

		if (t >= cutoff && projected <= max)
			break;
		if (take_durable) {
			if (keel_hmap_get(&r->pend_agents, a->id) == NULL) {
				rv = ids_push(out, a->id);
				if (rv < 0)
					return rv;
				projected--;
			}
			a = a->newer;
		} else {
			rv = ids_push(out, ent[e].id);
			if (rv < 0)
				return rv;
			out->ent[out->n_ent++] = ent[e].pend;
			projected--;
			e++;
		}
	}
	return 0;
}

/* Scans the batch: what enters and leaves each list. */
static void scan_batch(struct registrar *r, const struct registrar_op *batch, bool *do_unr,
		       bool *do_gone, size_t *leave_unr, struct prune_entering *unr, size_t *n_unr,
		       struct prune_entering *gone, size_t *n_gone)
{
	for (const struct registrar_op *op = batch; op; op = op->next) {
		const Keel__Registry__Operation *m = op->op;
		const struct registry_agent *a;

		switch (m->op_case) {
		case KEEL__REGISTRY__OPERATION__OP_MARK_UNREACHABLE:
			*do_unr = true;
			if (unr)
				unr[*n_unr] = (struct prune_entering){
				    m->mark_unreachable->id->value,
				    m->mark_unreachable->timestamp->nanoseconds, op->pend};
			(*n_unr)++;
			break;
		case KEEL__REGISTRY__OPERATION__OP_MARK_GONE:
			*do_gone = true;
			if (gone)
				gone[*n_gone] = (struct prune_entering){
				    m->mark_gone->id->value, m->mark_gone->timestamp->nanoseconds,
				    op->pend};
			(*n_gone)++;
			a = registry_agent_find(&r->reg, m->mark_gone->id->value);
			if (a && a->state == REGISTRAR_AGENT_UNREACHABLE)
				(*leave_unr)++;
			break;
		case KEEL__REGISTRY__OPERATION__OP_MARK_REACHABLE:
			(*leave_unr)++;
			break;
		case KEEL__REGISTRY__OPERATION__OP_UPDATE_MASTER:
			*do_unr = *do_gone = true;
			break;
		default:
			break;
		}
	}
}

/* Marks the durable agents a queued prune drops: later operations see them as unknown. */
static int mark_pruned(struct registrar *r, struct registrar_op *op, const struct prune_ids *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		const char *id = l->ids[i].value;
		struct registrar_pending *p;
		size_t n;

		if (keel_hmap_get(&r->pend_agents, id))
			continue; /* entering in this batch: handled by the caller */
		n = strlen(id);
		p = keel_calloc(1, sizeof(*p) + n + 1);
		if (p == NULL)
			goto fail;
		memcpy(p->id, id, n + 1);
		p->op = op;
		p->state = REGISTRAR_AGENT_UNKNOWN;
		if (keel_hmap_put(&r->pend_agents, p->id, p, NULL) < 0) {
			keel_free(p);
			goto fail;
		}
	}
	return 0;
fail:
	while (i-- > 0) {
		struct registrar_pending *p = keel_hmap_get(&r->pend_agents, l->ids[i].value);
		if (p && p->op == op) {
			keel_hmap_del(&r->pend_agents, p->id);
			keel_free(p);
		}
	}
	return -ENOMEM;
}

int registrar_prune_plan(struct registrar *r, const struct registrar_op *batch,
			 struct registrar_op **out)
{
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__Prune body = KEEL__REGISTRY__OPERATION__PRUNE__INIT;
	struct prune_entering *unr = NULL, *gone = NULL;
	struct prune_ids pu = {0}, pg = {0};
	Mesos__V1__AgentID **pu_ptrs = NULL, **pg_ptrs = NULL;
	struct registrar_op *op = NULL;
	bool do_unr = false, do_gone = false;
	size_t leave_unr = 0, n_unr = 0, n_gone = 0;
	int64_t now, cutoff;
	uint64_t age_ns;
	int rv = -ENOMEM;

	*out = NULL;
	scan_batch(r, batch, &do_unr, &do_gone, &leave_unr, NULL, &n_unr, NULL, &n_gone);
	if (!do_unr && !do_gone)
		return 0;
	unr = keel_calloc(n_unr + 1, sizeof(*unr));
	gone = keel_calloc(n_gone + 1, sizeof(*gone));
	pu.ent = keel_calloc(n_unr + 1, sizeof(*pu.ent));
	pg.ent = keel_calloc(n_gone + 1, sizeof(*pg.ent));
	if (unr == NULL || gone == NULL || pu.ent == NULL || pg.ent == NULL)
		goto out;
	leave_unr = n_unr = n_gone = 0;
	scan_batch(r, batch, &do_unr, &do_gone, &leave_unr, unr, &n_unr, gone, &n_gone);
	qsort(unr, n_unr, sizeof(*unr), cmp_entering);
	qsort(gone, n_gone, sizeof(*gone), cmp_entering);

	now = wall_ns();
	age_ns = r->cfg.max_agent_age_ms > (uint64_t)INT64_MAX / 1000000u
		     ? UINT64_MAX
		     : r->cfg.max_agent_age_ms * 1000000u;
	cutoff = age_ns > (uint64_t)now - (uint64_t)INT64_MIN ? INT64_MIN : now - (int64_t)age_ns;
	if (do_unr) {
		rv = plan_list(r, &r->reg.unreachable_age, r->reg.unreachable.count, leave_unr, unr,
			       n_unr, cutoff, &pu);
		if (rv < 0)
			goto out;
	}
	if (do_gone) {
		rv =
		    plan_list(r, &r->reg.gone_age, r->reg.gone.count, 0, gone, n_gone, cutoff, &pg);
		if (rv < 0)
			goto out;
	}
	rv = 0;
	if (pu.n == 0 && pg.n == 0)
		goto out;

	rv = -ENOMEM;
	pu_ptrs = keel_calloc(pu.n + 1, sizeof(*pu_ptrs));
	pg_ptrs = keel_calloc(pg.n + 1, sizeof(*pg_ptrs));
	if (pu_ptrs == NULL || pg_ptrs == NULL)
		goto out;
	for (size_t i = 0; i < pu.n; i++)
		pu_ptrs[i] = &pu.ids[i];
	for (size_t i = 0; i < pg.n; i++)
		pg_ptrs[i] = &pg.ids[i];
	body.n_unreachable = pu.n;
	body.unreachable = pu_ptrs;
	body.n_gone = pg.n;
	body.gone = pg_ptrs;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_PRUNE;
	msg.prune = &body;
	rv = registrar_op_new(&msg, &op, NULL);
	if (rv < 0)
		goto out;
	op->internal = true;
	rv = mark_pruned(r, op, &pu);
	if (rv == 0) {
		rv = mark_pruned(r, op, &pg);
		if (rv < 0) {
			/* Undo the unreachable markers. */
			for (size_t i = 0; i < pu.n; i++) {
				struct registrar_pending *p =
				    keel_hmap_get(&r->pend_agents, pu.ids[i].value);
				if (p && p->op == op) {
					keel_hmap_del(&r->pend_agents, p->id);
					keel_free(p);
				}
			}
		}
	}
	if (rv < 0) {
		registrar_op_free(op);
		goto out;
	}
	/* Agents entering a list in this batch and pruned at its end: unknown afterwards. */
	for (size_t i = 0; i < pu.n_ent; i++)
		pu.ent[i]->state = REGISTRAR_AGENT_UNKNOWN;
	for (size_t i = 0; i < pg.n_ent; i++)
		pg.ent[i]->state = REGISTRAR_AGENT_UNKNOWN;
	*out = op;
out:
	keel_free(unr);
	keel_free(gone);
	keel_free(pu.ids);
	keel_free(pg.ids);
	keel_free(pu.ent);
	keel_free(pg.ent);
	keel_free(pu_ptrs);
	keel_free(pg_ptrs);
	return rv;
}
