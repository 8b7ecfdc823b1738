/* The replog core's entry points: creation, step dispatch, the update, ballots, reads. */
#include "core_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "runtime/alloc.h"

#define CORE_DEFAULT_INFLIGHT 64
#define CORE_DEFAULT_LEARN_BATCH 64
#define CORE_DEFAULT_PATIENCE 3
/* Most instances one proposer window may hold (keeps slot arrays small). */
#define CORE_INFLIGHT_MAX 65536

const char *replog_msg_type_name(unsigned type)
{
	static const char *const names[] = {
	    "?",       "PROMISE_REQ", "PROMISE_RESP", "WRITE_REQ", "WRITE_RESP",
	    "LEARNED", "RECOVER_REQ", "RECOVER_RESP", "LEARN_REQ", "LEARN_RESP",
	};
	return type < KEEL_ARRAY_SIZE(names) ? names[type] : "?";
}

const char *replog_status_name(unsigned status)
{
	switch (status) {
	case REPLOG_VOTING:
		return "VOTING";
	case REPLOG_RECOVERING:
		return "RECOVERING";
	case REPLOG_STARTING:
		return "STARTING";
	case REPLOG_EMPTY:
		return "EMPTY";
	default:
		return "?";
	}
}

const char *replog_action_type_name(unsigned type)
{
	switch (type) {
	case REPLOG_ACTION_NOP:
		return "NOP";
	case REPLOG_ACTION_APPEND:
		return "APPEND";
	case REPLOG_ACTION_TRUNCATE:
		return "TRUNCATE";
	default:
		return "?";
	}
}

int replog_core_new(const struct replog_config *cfg, const struct replog_store_ops *store,
		    const struct replog_meta *meta, struct replog_core **out, char *errmsg)
{
	struct replog_core *c;
	int rv;

	if (cfg == NULL || store == NULL || store->read == NULL || out == NULL)
		return keel_errf(errmsg, -EINVAL, "replog core: missing config, store or out");
	if (cfg->nodes == 0 || cfg->nodes > REPLOG_NODES_MAX)
		return keel_errf(errmsg, -EINVAL, "replog core: %u replicas (1..%d allowed)",
				 cfg->nodes, REPLOG_NODES_MAX);
	if (cfg->self >= cfg->nodes)
		return keel_errf(errmsg, -EINVAL, "replog core: self %u not below %u replicas",
				 cfg->self, cfg->nodes);
	if (cfg->quorum * 2 <= cfg->nodes || cfg->quorum > cfg->nodes)
		return keel_errf(errmsg, -EINVAL,
				 "replog core: quorum %u is not a majority of %u replicas",
				 cfg->quorum, cfg->nodes);
	if (cfg->max_inflight > CORE_INFLIGHT_MAX)
		return keel_errf(errmsg, -EINVAL, "replog core: max_inflight %u over %d",
				 cfg->max_inflight, CORE_INFLIGHT_MAX);

	c = keel_calloc(1, sizeof(*c));
	if (c == NULL)
		return keel_errf(errmsg, -ENOMEM, "replog core: out of memory");
	c->cfg = *cfg;
	if (c->cfg.max_inflight == 0)
		c->cfg.max_inflight = CORE_DEFAULT_INFLIGHT;
	if (c->cfg.learn_batch == 0)
		c->cfg.learn_batch = CORE_DEFAULT_LEARN_BATCH;
	if (c->cfg.catchup_patience == 0)
		c->cfg.catchup_patience = CORE_DEFAULT_PATIENCE;
	c->store = *store;
	/* Request numbers of RECOVER/LEARN rounds: unique across this node's restarts. */
	c->req_next = ((uint64_t)cfg->incarnation << 32) + 1;

	rv = replica_init(c, meta);
	if (rv == 0)
		rv = prop_init(&c->w.p, REPLOG_TAG_WRITER, c->cfg.max_inflight);
	if (rv == 0)
		rv = prop_init(&c->cu.p, REPLOG_TAG_CATCHUP, c->cfg.max_inflight);
	if (rv < 0) {
		keel_errf(errmsg, rv, "replog core: %s",
			  rv == -ENOMEM ? "out of memory" : c->errmsg);
		replog_core_free(c);
		return rv;
	}
	*out = c;
	return 0;
}

int replog_core_restore_action(struct replog_core *c, uint64_t position, bool learned)
{
	if (c->restored)
		return keel_errf(c->errmsg, -EINVAL, "restore after restore_done");
	return replica_restore_action(c, position, learned);
}

int replog_core_restore_done(struct replog_core *c)
{
	int rv;

	if (c->restored)
		return keel_errf(c->errmsg, -EINVAL, "restore_done called twice");
	rv = replica_restore_done(c);
	if (rv < 0)
		return rv;
	c->restored = true;
	if (c->r.status != REPLOG_VOTING) {
		c->cu.mode = CU_RECOVER;
		c->cu.phase = CU_QUERY;
	}
	return 0;
}

static void core_empty_graveyard(struct replog_core *c)
{
	size_t i;

	for (i = 0; i < c->graveyard_n; i++)
		keel_free(c->graveyard[i]);
	c->graveyard_n = 0;
}

void replog_core_free(struct replog_core *c)
{
	if (c == NULL)
		return;
	prop_free(c, &c->w.p);
	prop_free(c, &c->cu.p);
	core_empty_graveyard(c);
	replog_iset_free(&c->r.missing);
	keel_free(c->graveyard);
	keel_free(c->writes);
	keel_free(c->msgs);
	keel_free(c->done);
	keel_free(c->ents);
	keel_free(c);
}

/* Grows *arr (of elem-byte items) to hold need items; 0 or -ENOMEM. */
static int core_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	p = keel_realloc(*arr, ncap * elem);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int core_push_write(struct replog_core *c, const struct replog_write *w)
{
	int rv =
	    core_grow((void **)&c->writes, &c->writes_cap, c->upd.n_writes + 1, sizeof(*c->writes));
	if (rv < 0)
		return keel_errf(c->errmsg, rv, "out of memory (writes)");
	c->writes[c->upd.n_writes++] = *w;
	return 0;
}

int core_push_meta(struct replog_core *c)
{
	struct replog_write w = {.kind = REPLOG_WRITE_META};

	w.meta.status = c->r.status;
	w.meta.promised = c->r.promised;
	w.meta.begin = c->r.begin;
	return core_push_write(c, &w);
}

int core_push_msg(struct replog_core *c, const struct replog_msg *m)
{
	int rv = core_grow((void **)&c->msgs, &c->msgs_cap, c->upd.n_msgs + 1, sizeof(*c->msgs));
	if (rv < 0)
		return keel_errf(c->errmsg, rv, "out of memory (messages)");
	c->msgs[c->upd.n_msgs++] = *m;
	return 0;
}

int core_push_done(struct replog_core *c, uint8_t op, int status, uint64_t position, void *cookie)
{
	int rv = core_grow((void **)&c->done, &c->done_cap, c->upd.n_done + 1, sizeof(*c->done));
	if (rv < 0)
		return keel_errf(c->errmsg, rv, "out of memory (completions)");
	c->done[c->upd.n_done].op = op;
	c->done[c->upd.n_done].status = status;
	c->done[c->upd.n_done].position = position;
	c->done[c->upd.n_done].cookie = cookie;
	c->upd.n_done++;
	return 0;
}

/*
 * LEARNED/LEARN_RESP entries live in one array per step. Messages refer to it
 * by offset while the step runs (the array may move when it grows) and get
 * real pointers in core_finish_update.
 */
struct replog_action *core_alloc_entries(struct replog_core *c, size_t n, size_t *off)
{
	struct replog_action *e;

	if (core_grow((void **)&c->ents, &c->ents_cap, c->ents_n + n, sizeof(*c->ents)) < 0) {
		keel_errf(c->errmsg, -ENOMEM, "out of memory (learned entries)");
		return NULL;
	}
	e = &c->ents[c->ents_n];
	*off = c->ents_n;
	c->ents_n += n;
	return e;
}

/* Turns entry offsets (stored as pointers relative to NULL) into real pointers. */
static void core_finish_update(struct replog_core *c)
{
	size_t i;

	for (i = 0; i < c->upd.n_msgs; i++) {
		struct replog_msg *m = &c->msgs[i];
		uintptr_t off;

		if (m->type == REPLOG_MSG_LEARNED) {
			off = (uintptr_t)m->u.learned.entries;
			m->u.learned.entries = m->u.learned.n ? c->ents + off : NULL;
		} else if (m->type == REPLOG_MSG_LEARN_RESP) {
			off = (uintptr_t)m->u.learn_resp.actions;
			m->u.learn_resp.actions = m->u.learn_resp.n ? c->ents + off : NULL;
		}
	}
	c->upd.writes = c->writes;
	c->upd.msgs = c->msgs;
	c->upd.done = c->done;
}

int core_bury(struct replog_core *c, void *p)
{
	int rv;

	if (p == NULL)
		return 0;
	rv = core_grow((void **)&c->graveyard, &c->graveyard_cap, c->graveyard_n + 1,
		       sizeof(*c->graveyard));
	if (rv < 0) {
		/* Nothing may point at p once the caller failed; free it now. */
		keel_free(p);
		return keel_errf(c->errmsg, rv, "out of memory (graveyard)");
	}
	c->graveyard[c->graveyard_n++] = p;
	return 0;
}

void core_see_ballot(struct replog_core *c, uint64_t ballot)
{
	uint64_t round = replog_ballot_round(ballot);

	if (round > c->round_max)
		c->round_max = round;
}

int core_new_ballot(struct replog_core *c, uint64_t *out)
{
	uint64_t b;

	if (c->round_max >= REPLOG_ROUND_MAX)
		return keel_errf(c->errmsg, -EOVERFLOW, "ballot rounds exhausted");
	c->round_max++;
	b = replog_ballot_make(c->round_max, c->cfg.self);
	/*
	 * The local replica promises the new ballot before anyone hears of it:
	 * after a crash, round_max restarts from the promise, so no ballot is
	 * ever used twice with different values.
	 */
	if (b > c->r.promised)
		c->r.promised = b;
	c->upd.sync = true;
	*out = b;
	return core_push_meta(c);
}

int core_broadcast(struct replog_core *c, const struct replog_msg *tmpl)
{
	struct replog_msg m = *tmpl;
	unsigned i;
	int rv;

	m.from = (uint8_t)c->cfg.self;
	for (i = 0; i < c->cfg.nodes; i++) {
		m.to = (uint8_t)i;
		rv = core_push_msg(c, &m);
		if (rv < 0)
			return rv;
	}
	return 0;
}

int core_read(struct replog_core *c, uint64_t position, struct replog_action *out)
{
	int rv;

	memset(out, 0, sizeof(*out));
	rv = c->store.read(c->store.ctx, position, out);
	if (rv == 0 && out->position != position)
		return keel_errf(c->errmsg, -EIO,
				 "store returned position %" PRIu64 " for %" PRIu64, out->position,
				 position);
	if (rv == -ENOENT || rv == 0)
		return rv;
	return keel_errf(c->errmsg, -EIO, "store read at %" PRIu64 ": %s", position,
			 strerror(rv < 0 ? -rv : EIO));
}

/* Errors that reject an event before anything changed. */
static bool core_is_rejection(int rv)
{
	switch (rv) {
	case -EINVAL:
	case -ENOTCONN:
	case -EBUSY:
	case -EALREADY:
	case -EAGAIN:
	case -ERANGE:
	case -EOVERFLOW:
		return true;
	default:
		return false;
	}
}

static void core_reset_update(struct replog_core *c)
{
	memset(&c->upd, 0, sizeof(c->upd));
	c->ents_n = 0;
}

static int core_receive(struct replog_core *c, const struct replog_msg *m)
{
	int rv = replog_msg_validate(m, &c->cfg);

	if (rv < 0)
		return keel_errf(c->errmsg, rv, "malformed %s from %u",
				 replog_msg_type_name(m->type), m->from);
	/* RECOVER and LEARN messages carry request numbers, not ballots, in `ballot`. */
	switch (m->type) {
	case REPLOG_MSG_PROMISE_REQ:
	case REPLOG_MSG_WRITE_REQ:
	case REPLOG_MSG_LEARNED:
		core_see_ballot(c, m->ballot);
		break;
	case REPLOG_MSG_PROMISE_RESP:
		core_see_ballot(c, m->u.promise_resp.promised);
		break;
	case REPLOG_MSG_WRITE_RESP:
		core_see_ballot(c, m->u.write_resp.promised);
		break;
	case REPLOG_MSG_RECOVER_RESP:
		core_see_ballot(c, m->u.recover_resp.promised);
		break;
	default:
		break;
	}
	switch (m->type) {
	case REPLOG_MSG_PROMISE_REQ:
	case REPLOG_MSG_WRITE_REQ:
	case REPLOG_MSG_LEARNED:
	case REPLOG_MSG_RECOVER_REQ:
	case REPLOG_MSG_LEARN_REQ:
		return replica_receive(c, m);
	default:
		break;
	}
	if (m->tag == REPLOG_TAG_WRITER)
		return writer_receive(c, m);
	return catchup_receive(c, m);
}

int replog_core_step(struct replog_core *c, const struct replog_event *ev,
		     const struct replog_update **out)
{
	int rv;

	if (out != NULL)
		*out = NULL;
	if (c->failed)
		return -EIO;
	if (!c->restored)
		return keel_errf(c->errmsg, -EINVAL, "step before restore_done");
	core_empty_graveyard(c);
	core_reset_update(c);
	if (ev == NULL)
		return keel_errf(c->errmsg, -EINVAL, "no event");

	switch (ev->type) {
	case REPLOG_EV_RECEIVE:
		rv = ev->msg == NULL ? keel_errf(c->errmsg, -EINVAL, "RECEIVE without a message")
				     : core_receive(c, ev->msg);
		break;
	case REPLOG_EV_TICK:
		rv = writer_tick(c);
		if (rv == 0)
			rv = catchup_tick(c);
		break;
	case REPLOG_EV_START:
		rv = writer_start(c, ev->cookie);
		break;
	case REPLOG_EV_APPEND:
	case REPLOG_EV_TRUNCATE:
		rv = writer_submit(c, ev);
		break;
	case REPLOG_EV_STOP:
		rv = writer_stop(c);
		break;
	case REPLOG_EV_CATCHUP:
		rv = catchup_start_reader(c, ev->cookie);
		break;
	default:
		rv = keel_errf(c->errmsg, -EINVAL, "unknown event type %u", ev->type);
		break;
	}
	if (rv == 0)
		rv = writer_progress(c);
	if (rv == 0)
		rv = catchup_progress(c);
	if (rv < 0) {
		if (!core_is_rejection(rv))
			c->failed = true;
		core_reset_update(c);
		return rv;
	}
	core_finish_update(c);
	if (out != NULL)
		*out = &c->upd;
	return 0;
}

int replog_core_read(struct replog_core *c, uint64_t position, struct replog_action *out)
{
	int rv;

	if (position < c->r.begin)
		return keel_errf(c->errmsg, -ENOENT,
				 "position %" PRIu64 " is truncated (the log begins at %" PRIu64
				 ")",
				 position, c->r.begin);
	if (position > c->r.end)
		return keel_errf(c->errmsg, -ERANGE,
				 "position %" PRIu64 " is past the end of the log (%" PRIu64 ")",
				 position, c->r.end);
	if (replog_iset_contains(&c->r.missing, position))
		return keel_errf(
		    c->errmsg, -EAGAIN,
		    "position %" PRIu64 " is not learned by this replica yet (catch up)", position);
	rv = core_read(c, position, out);
	if (rv == -ENOENT || (rv == 0 && !out->learned))
		return keel_errf(c->errmsg, -EUCLEAN, "store lost learned position %" PRIu64,
				 position);
	return rv;
}

uint64_t replog_core_begin(const struct replog_core *c)
{
	return c->r.begin;
}

uint64_t replog_core_end(const struct replog_core *c)
{
	return c->r.end;
}

uint8_t replog_core_status(const struct replog_core *c)
{
	return c->r.status;
}

uint64_t replog_core_promised(const struct replog_core *c)
{
	return c->r.promised;
}

bool replog_core_is_learned(const struct replog_core *c, uint64_t position)
{
	return replica_is_learned(c, position);
}

bool replog_core_writer_elected(const struct replog_core *c)
{
	return c->w.state == W_ELECTED;
}

uint64_t replog_core_writer_ballot(const struct replog_core *c)
{
	return c->w.state == W_IDLE ? 0 : c->w.p.ballot;
}

const char *replog_core_errmsg(const struct replog_core *c)
{
	return c->errmsg;
}

/* Checks one proposer's window. */
static int core_check_proposer(struct replog_core *c, const struct replog_proposer *p,
			       const char *who)
{
	unsigned i, active = 0;

	for (i = 0; i < p->cap; i++) {
		const struct replog_inst *in = &p->inst[i];

		if (in->state == INST_FREE)
			continue;
		active++;
		if (in->position % p->cap != i)
			return keel_errf(c->errmsg, -EUCLEAN, "%s: instance %" PRIu64 " in slot %u",
					 who, in->position, i);
		if (in->state > INST_CHOSEN)
			return keel_errf(c->errmsg, -EUCLEAN, "%s: instance state %u", who,
					 in->state);
		if (p->ballot == 0)
			return keel_errf(c->errmsg, -EUCLEAN, "%s: instance without a ballot", who);
	}
	if (active != p->active)
		return keel_errf(c->errmsg, -EUCLEAN, "%s: %u active instances, counted %u", who,
				 p->active, active);
	if (p->ballot != 0 && replog_ballot_node(p->ballot) != c->cfg.self)
		return keel_errf(c->errmsg, -EUCLEAN, "%s: ballot of another node", who);
	return 0;
}

int replog_core_check(struct replog_core *c)
{
	const struct replog_replica *r = &c->r;
	struct replog_action a;
	uint64_t p;
	size_t i;
	int rv;

	if (r->status < REPLOG_VOTING || r->status > REPLOG_EMPTY)
		return keel_errf(c->errmsg, -EUCLEAN, "status %u", r->status);
	if (r->end > REPLOG_POSITION_MAX)
		return keel_errf(c->errmsg, -EUCLEAN, "end %" PRIu64 " past the last position",
				 r->end);
	if (r->begin > r->end + 1)
		return keel_errf(c->errmsg, -EUCLEAN, "begin %" PRIu64 " > end %" PRIu64 " + 1",
				 r->begin, r->end);
	if (replog_ballot_round(r->promised) > c->round_max)
		return keel_errf(c->errmsg, -EUCLEAN, "round_max below the promise");
	for (i = 0; i < r->missing.n; i++) {
		const struct replog_ival *v = &r->missing.v[i];

		if (v->lo > v->hi || (i > 0 && v->lo <= r->missing.v[i - 1].hi + 1))
			return keel_errf(c->errmsg, -EUCLEAN,
					 "missing set not sorted and disjoint");
		if (v->lo < r->begin || v->hi > r->end)
			return keel_errf(c->errmsg, -EUCLEAN,
					 "missing [%" PRIu64 ", %" PRIu64 "] outside [%" PRIu64
					 ", %" PRIu64 "]",
					 v->lo, v->hi, r->begin, r->end);
	}
	/* Every learned position is in the store, learned (small logs only: cost). */
	if (r->begin <= r->end && r->end - r->begin < 4096) {
		for (p = r->begin;; p++) {
			if (!replog_iset_contains(&r->missing, p)) {
				rv = core_read(c, p, &a);
				if (rv < 0 || !a.learned)
					return keel_errf(c->errmsg, -EUCLEAN,
							 "learned position %" PRIu64
							 " not learned in the store",
							 p);
			}
			if (p == r->end)
				break;
		}
	}
	rv = core_check_proposer(c, &c->w.p, "writer");
	if (rv == 0)
		rv = core_check_proposer(c, &c->cu.p, "catch-up");
	if (rv < 0)
		return rv;
	if (c->w.state == W_ELECTED) {
		if (c->w.next_done > c->w.index)
			return keel_errf(c->errmsg, -EUCLEAN, "writer completed past its index");
		if (c->w.index - c->w.next_done > c->w.p.cap)
			return keel_errf(c->errmsg, -EUCLEAN, "writer window overflow");
	}
	if (c->w.state != W_IDLE && c->w.p.ballot == 0)
		return keel_errf(c->errmsg, -EUCLEAN, "active writer without a ballot");
	return 0;
}

static bool action_valid(const struct replog_action *a, bool allow_compact)
{
	if (a->position > REPLOG_POSITION_MAX)
		return false;
	switch (a->type) {
	case REPLOG_ACTION_NONE:
		return allow_compact && a->ballot != 0 && !a->tombstone;
	case REPLOG_ACTION_NOP:
		return a->len == 0;
	case REPLOG_ACTION_APPEND:
		return !a->tombstone && a->len <= REPLOG_VALUE_MAX && (a->len == 0 || a->value);
	case REPLOG_ACTION_TRUNCATE:
		return !a->tombstone && a->len == 0 && a->to <= a->position;
	default:
		return false;
	}
}

int replog_msg_validate(const struct replog_msg *m, const struct replog_config *cfg)
{
	size_t i;

	if (m->type < 1 || m->type > REPLOG_MSG_TYPE_MAX)
		return -EINVAL;
	if (m->from >= cfg->nodes || m->to != cfg->self)
		return -EINVAL;
	if (m->tag != REPLOG_TAG_WRITER && m->tag != REPLOG_TAG_CATCHUP)
		return -EINVAL;
	switch (m->type) {
	case REPLOG_MSG_PROMISE_REQ:
		if (m->ballot == 0 || replog_ballot_node(m->ballot) != m->from)
			return -EINVAL;
		if (m->u.promise_req.explicit_ && m->u.promise_req.position > REPLOG_POSITION_MAX)
			return -EINVAL;
		return 0;
	case REPLOG_MSG_PROMISE_RESP: {
		const struct replog_promise_resp *r = &m->u.promise_resp;

		if (r->reply < REPLOG_ACCEPT || r->reply > REPLOG_IGNORED)
			return -EINVAL;
		if (r->end > REPLOG_POSITION_MAX || r->begin > r->end + 1)
			return -EINVAL;
		if (r->explicit_ && r->position > REPLOG_POSITION_MAX)
			return -EINVAL;
		if (r->has_action && (!r->explicit_ || !action_valid(&r->action, false) ||
				      r->action.position != r->position ||
				      (r->action.tombstone && !r->action.learned)))
			return -EINVAL;
		return 0;
	}
	case REPLOG_MSG_WRITE_REQ:
		if (m->ballot == 0 || replog_ballot_node(m->ballot) != m->from)
			return -EINVAL;
		if (!action_valid(&m->u.write_req.action, false) || m->u.write_req.action.tombstone)
			return -EINVAL;
		return 0;
	case REPLOG_MSG_WRITE_RESP:
		if (m->u.write_resp.reply < REPLOG_ACCEPT || m->u.write_resp.reply > REPLOG_IGNORED)
			return -EINVAL;
		if (m->u.write_resp.position > REPLOG_POSITION_MAX)
			return -EINVAL;
		return 0;
	case REPLOG_MSG_LEARNED:
		if (m->u.learned.n > 0 && m->u.learned.entries == NULL)
			return -EINVAL;
		for (i = 0; i < m->u.learned.n; i++)
			if (!action_valid(&m->u.learned.entries[i], true))
				return -EINVAL;
		return 0;
	case REPLOG_MSG_RECOVER_REQ:
		return 0;
	case REPLOG_MSG_RECOVER_RESP: {
		const struct replog_recover_resp *r = &m->u.recover_resp;

		if (r->status < REPLOG_VOTING || r->status > REPLOG_EMPTY)
			return -EINVAL;
		if (r->end > REPLOG_POSITION_MAX || r->begin > r->end + 1)
			return -EINVAL;
		return 0;
	}
	case REPLOG_MSG_LEARN_REQ:
		if (m->u.learn_req.from > m->u.learn_req.to ||
		    m->u.learn_req.to > REPLOG_POSITION_MAX)
			return -EINVAL;
		return 0;
	case REPLOG_MSG_LEARN_RESP: {
		const struct replog_learn_resp *r = &m->u.learn_resp;

		if (r->end > REPLOG_POSITION_MAX || r->begin > r->end + 1 ||
		    r->upto > REPLOG_POSITION_MAX)
			return -EINVAL;
		if (r->n > 0 && r->actions == NULL)
			return -EINVAL;
		for (i = 0; i < r->n; i++) {
			const struct replog_action *a = &r->actions[i];

			if (!action_valid(a, false) || a->tombstone || a->position > r->upto ||
			    (i > 0 && a->position <= r->actions[i - 1].position))
				return -EINVAL;
		}
		return 0;
	}
	default:
		return -EINVAL;
	}
}
