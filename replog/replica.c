/* The replica role: acceptor (promise, write) and learner (learned notices, learn requests). */
#include "core_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Restore bookkeeping lives in the replica until restore_done. */
static uint64_t replica_restore_next(const struct replog_core *c, bool *any)
{
	*any = c->r.end != UINT64_MAX;
	return *any ? c->r.end + 1 : c->r.begin;
}

int replica_init(struct replog_core *c, const struct replog_meta *meta)
{
	struct replog_replica *r = &c->r;

	if (meta == NULL) {
		r->status = REPLOG_EMPTY;
		r->promised = 0;
		r->begin = 0;
	} else {
		if (meta->status < REPLOG_VOTING || meta->status > REPLOG_EMPTY)
			return keel_errf(c->errmsg, -EINVAL, "stored status %u is not a status",
					 meta->status);
		r->status = meta->status;
		r->promised = meta->promised;
		r->begin = meta->begin;
	}
	/* While restoring, end = UINT64_MAX means "no action restored yet". */
	r->end = UINT64_MAX;
	core_see_ballot(c, r->promised);
	return 0;
}

int replica_restore_action(struct replog_core *c, uint64_t position, bool learned)
{
	struct replog_replica *r = &c->r;
	bool any;
	uint64_t next = replica_restore_next(c, &any);
	int rv;

	if (position > REPLOG_POSITION_MAX || position < r->begin || (any && position < next))
		return keel_errf(c->errmsg, -EINVAL,
				 "stored action at %" PRIu64 " out of order (begin %" PRIu64
				 ", next %" PRIu64 ")",
				 position, r->begin, next);
	/* Positions skipped since the previous action are holes. */
	if (position > next) {
		rv = replog_iset_add(&r->missing, next, position - 1);
		if (rv < 0)
			return keel_errf(c->errmsg, rv, "out of memory");
	}
	if (!learned) {
		rv = replog_iset_add(&r->missing, position, position);
		if (rv < 0)
			return keel_errf(c->errmsg, rv, "out of memory");
	}
	r->end = position;
	return 0;
}

int replica_restore_done(struct replog_core *c)
{
	struct replog_replica *r = &c->r;
	int rv;

	if (r->end != UINT64_MAX)
		return 0;
	/* No action stored: a new log (position 0 is a hole) or everything truncated. */
	if (r->begin == 0) {
		r->end = 0;
		rv = replog_iset_add(&r->missing, 0, 0);
		if (rv < 0)
			return keel_errf(c->errmsg, rv, "out of memory");
	} else {
		r->end = r->begin - 1;
	}
	return 0;
}

bool replica_is_learned(const struct replog_core *c, uint64_t position)
{
	const struct replog_replica *r = &c->r;

	return position >= r->begin && position <= r->end &&
	       !replog_iset_contains(&r->missing, position);
}

bool replica_next_missing(const struct replog_core *c, uint64_t from, uint64_t *out)
{
	const struct replog_replica *r = &c->r;
	uint64_t x = 0, y;
	bool found;

	if (from < r->begin)
		from = r->begin;
	found = replog_iset_next(&r->missing, from, &x);
	if (r->end < REPLOG_POSITION_MAX) {
		/* Every position past the end is missing too. */
		y = KEEL_MAX(from, r->end + 1);
		if (!found || y < x) {
			x = y;
			found = true;
		}
	}
	if (found)
		*out = x;
	return found;
}

int replica_set_status(struct replog_core *c, uint8_t status)
{
	c->r.status = status;
	return core_push_meta(c);
}

static int replica_missing_add(struct replog_core *c, uint64_t lo, uint64_t hi)
{
	int rv = replog_iset_add(&c->r.missing, lo, hi);

	return rv < 0 ? keel_errf(c->errmsg, rv, "out of memory (missing set)") : 0;
}

static int replica_missing_remove(struct replog_core *c, uint64_t lo, uint64_t hi)
{
	int rv = replog_iset_remove(&c->r.missing, lo, hi);

	return rv < 0 ? keel_errf(c->errmsg, rv, "out of memory (missing set)") : 0;
}

int replica_advance_begin(struct replog_core *c, uint64_t begin)
{
	struct replog_replica *r = &c->r;
	struct replog_write w = {.kind = REPLOG_WRITE_DELETE_BELOW};
	int rv;

	if (begin <= r->begin)
		return 0;
	/* begin <= end + 1 holds: an empty log may start past what we held. */
	if (begin - 1 > r->end)
		r->end = begin - 1;
	rv = replica_missing_remove(c, 0, begin - 1);
	if (rv < 0)
		return rv;
	r->begin = begin;
	w.below = begin;
	rv = core_push_write(c, &w);
	if (rv == 0)
		rv = core_push_meta(c);
	return rv;
}

int replica_learn(struct replog_core *c, const struct replog_action *a)
{
	struct replog_replica *r = &c->r;
	struct replog_write w = {.kind = REPLOG_WRITE_ACTION};
	uint64_t e = a->position;
	int rv;

	if (e < r->begin || replica_is_learned(c, e))
		return 0;
	if (a->tombstone)
		return replica_advance_begin(c, e + 1);
	w.action = *a;
	w.action.learned = true;
	rv = core_push_write(c, &w);
	if (rv < 0)
		return rv;
	if (e > r->end) {
		if (e > r->end + 1) {
			rv = replica_missing_add(c, r->end + 1, e - 1);
			if (rv < 0)
				return rv;
		}
		r->end = e;
	} else {
		rv = replica_missing_remove(c, e, e);
		if (rv < 0)
			return rv;
	}
	if (a->type == REPLOG_ACTION_TRUNCATE && a->to > r->begin)
		return replica_advance_begin(c, a->to);
	return 0;
}

/* A reply to `m` of `type`, from this node, echoing tag and ballot. */
static struct replog_msg replica_reply(const struct replog_core *c, const struct replog_msg *m,
				       uint8_t type)
{
	struct replog_msg r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.tag = m->tag;
	r.from = (uint8_t)c->cfg.self;
	r.to = m->from;
	r.ballot = m->ballot;
	return r;
}

/* Raises the promise to `ballot` if higher (persisted with the update). */
static int replica_promise(struct replog_core *c, uint64_t ballot)
{
	if (ballot <= c->r.promised)
		return 0;
	c->r.promised = ballot;
	return core_push_meta(c);
}

/*
 * PROMISE_REQ. Ballots are unique per node, so a request with the ballot
 * already promised comes from the same proposer (a retransmission or the
 * explicit phase of its own election) and is answered again.
 */
static int replica_on_promise(struct replog_core *c, const struct replog_msg *m)
{
	struct replog_replica *r = &c->r;
	struct replog_msg out = replica_reply(c, m, REPLOG_MSG_PROMISE_RESP);
	struct replog_promise_resp *p = &out.u.promise_resp;
	uint64_t e = m->u.promise_req.position;
	int rv;

	p->explicit_ = m->u.promise_req.explicit_;
	p->position = p->explicit_ ? e : 0;
	c->upd.sync = true;
	if (r->status != REPLOG_VOTING) {
		p->reply = REPLOG_IGNORED;
	} else if (m->ballot < r->promised) {
		p->reply = REPLOG_REJECT;
	} else {
		rv = replica_promise(c, m->ballot);
		if (rv < 0)
			return rv;
		p->reply = REPLOG_ACCEPT;
		p->begin = r->begin;
		p->end = r->end;
		if (p->explicit_ && e < r->begin) {
			/* Truncated: a learned tombstone (Mesos does the same). */
			p->has_action = true;
			p->action.position = e;
			p->action.type = REPLOG_ACTION_NOP;
			p->action.learned = true;
			p->action.tombstone = true;
		} else if (p->explicit_ && e <= r->end) {
			rv = core_read(c, e, &p->action);
			if (rv == 0)
				p->has_action = true;
			else if (rv != -ENOENT)
				return rv;
			else
				memset(&p->action, 0, sizeof(p->action));
		}
	}
	p->promised = r->promised;
	return core_push_msg(c, &out);
}

/* Same chosen content (type and body), whatever the ballots. */
static bool replica_same_value(const struct replog_action *x, const struct replog_action *y)
{
	if (x->type != y->type)
		return false;
	if (x->type == REPLOG_ACTION_TRUNCATE)
		return x->to == y->to;
	if (x->type == REPLOG_ACTION_APPEND)
		return x->len == y->len && (x->len == 0 || memcmp(x->value, y->value, x->len) == 0);
	return true;
}

static int replica_on_write(struct replog_core *c, const struct replog_msg *m)
{
	struct replog_replica *r = &c->r;
	struct replog_msg out = replica_reply(c, m, REPLOG_MSG_WRITE_RESP);
	struct replog_write_resp *p = &out.u.write_resp;
	const struct replog_action *a = &m->u.write_req.action;
	struct replog_write w = {.kind = REPLOG_WRITE_ACTION};
	struct replog_action stored;
	uint64_t e = a->position;
	int rv;

	p->position = e;
	c->upd.sync = true;
	if (r->status != REPLOG_VOTING) {
		p->reply = REPLOG_IGNORED;
		goto reply;
	}
	if (m->ballot < r->promised) {
		p->reply = REPLOG_REJECT;
		goto reply;
	}
	/* Accepting a ballot promises it: no lower ballot may overwrite this. */
	rv = replica_promise(c, m->ballot);
	if (rv < 0)
		return rv;
	p->reply = REPLOG_ACCEPT;
	if (e < r->begin)
		goto reply; /* truncated: whatever is chosen here is never read */
	if (replica_is_learned(c, e)) {
		/*
		 * Never overwrite a learned position (its learned notice can come
		 * before the write). The value there is chosen, so acknowledging a
		 * write of that same value is harmless and lets the proposer finish;
		 * any other write is ignored without a reply (as in Mesos).
		 */
		rv = core_read(c, e, &stored);
		if (rv < 0 && rv != -ENOENT)
			return rv;
		if (rv == -ENOENT || !replica_same_value(&stored, a))
			return 0;
		goto reply;
	}
	w.action = *a;
	w.action.ballot = m->ballot;
	w.action.learned = false;
	w.action.tombstone = false;
	rv = core_push_write(c, &w);
	if (rv < 0)
		return rv;
	if (e > r->end) {
		rv = replica_missing_add(c, r->end + 1, e);
		if (rv < 0)
			return rv;
		r->end = e;
	}
reply:
	p->promised = r->promised;
	return core_push_msg(c, &out);
}

/* One LEARNED entry: full entries are stored; compact ones mark a matching accepted action. */
static int replica_on_learned_entry(struct replog_core *c, const struct replog_action *a)
{
	struct replog_action stored;
	int rv;

	if (a->position < c->r.begin || replica_is_learned(c, a->position))
		return 0;
	if (a->type != REPLOG_ACTION_NONE)
		return replica_learn(c, a);
	if (a->position > c->r.end)
		return 0;
	rv = core_read(c, a->position, &stored);
	if (rv == -ENOENT)
		return 0;
	if (rv < 0)
		return rv;
	if (stored.ballot != a->ballot)
		return 0;
	return replica_learn(c, &stored);
}

static int replica_on_learned(struct replog_core *c, const struct replog_msg *m)
{
	size_t i;
	int rv;

	for (i = 0; i < m->u.learned.n; i++) {
		rv = replica_on_learned_entry(c, &m->u.learned.entries[i]);
		if (rv < 0)
			return rv;
	}
	return 0;
}

static int replica_on_recover(struct replog_core *c, const struct replog_msg *m)
{
	struct replog_msg out = replica_reply(c, m, REPLOG_MSG_RECOVER_RESP);

	out.u.recover_resp.status = c->r.status;
	out.u.recover_resp.promised = c->r.promised;
	out.u.recover_resp.begin = c->r.begin;
	out.u.recover_resp.end = c->r.end;
	c->upd.sync = true;
	return core_push_msg(c, &out);
}

/* LEARN_REQ: learned actions from [from, to], at most learn_batch of them. */
static int replica_on_learn_req(struct replog_core *c, const struct replog_msg *m)
{
	const struct replog_replica *r = &c->r;
	struct replog_msg out = replica_reply(c, m, REPLOG_MSG_LEARN_RESP);
	struct replog_learn_resp *p = &out.u.learn_resp;
	uint64_t from = KEEL_MAX(m->u.learn_req.from, r->begin);
	uint64_t to = KEEL_MIN(m->u.learn_req.to, r->end);
	struct replog_action *acts;
	uint64_t pos = from, gap;
	size_t n = 0, off;
	int rv;

	p->begin = r->begin;
	p->end = r->end;
	p->upto = m->u.learn_req.to;
	acts = core_alloc_entries(c, c->cfg.learn_batch, &off);
	if (acts == NULL)
		return -ENOMEM;
	while (from <= to && pos <= to) {
		if (replog_iset_run(&r->missing, pos, &gap)) {
			/* Skip this run of missing positions. */
			if (gap >= to)
				break;
			pos = gap + 1;
			continue;
		}
		if (n == c->cfg.learn_batch) {
			p->upto = pos - 1;
			break;
		}
		rv = core_read(c, pos, &acts[n]);
		if (rv == -ENOENT || (rv == 0 && !acts[n].learned))
			return keel_errf(c->errmsg, -EUCLEAN,
					 "store lost learned position %" PRIu64, pos);
		if (rv < 0)
			return rv;
		n++;
		if (pos == to)
			break;
		pos++;
	}
	p->n = n;
	p->actions = (const struct replog_action *)(uintptr_t)off;
	return core_push_msg(c, &out);
}

int replica_receive(struct replog_core *c, const struct replog_msg *m)
{
	switch (m->type) {
	case REPLOG_MSG_PROMISE_REQ:
		return replica_on_promise(c, m);
	case REPLOG_MSG_WRITE_REQ:
		return replica_on_write(c, m);
	case REPLOG_MSG_LEARNED:
		return replica_on_learned(c, m);
	case REPLOG_MSG_RECOVER_REQ:
		return replica_on_recover(c, m);
	case REPLOG_MSG_LEARN_REQ:
		return replica_on_learn_req(c, m);
	default:
		return keel_errf(c->errmsg, -EINVAL, "replica got %s",
				 replog_msg_type_name(m->type));
	}
}
