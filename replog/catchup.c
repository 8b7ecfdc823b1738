/* Recovery (recover protocol, auto-init, fence) and catch-up (learn rounds, then fills). */
#include "core_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/*
 * Recovery of a replica that is not VOTING (it is new, or lost its disk, or
 * crashed during an earlier recovery):
 *
 *  QUERY  ask everyone for status/begin/end/promise (RECOVER_REQ). With
 *         auto_init, EMPTY -> STARTING when all 2q-1 are EMPTY or STARTING,
 *         STARTING -> VOTING when all are STARTING or VOTING. When a quorum
 *         of others is VOTING: become RECOVERING and fence.
 *  FENCE  an implicit promise round with a new ballot b_r to the others,
 *         until a quorum of VOTING replicas promised it. From then on no
 *         ballot below b_r can be accepted by a quorum, so every value that
 *         this replica may have accepted before it lost its data (all under
 *         ballots below b_r) and that was chosen lies at or below the highest
 *         `end` those promises reported (hi); and lo = their lowest `begin`.
 *  LEARN  copy what others learned in [lo, hi] (LEARN_REQ rounds).
 *  FILL   Paxos-fill (explicit promise + write, ballot >= b_r) whatever no
 *         replica of a quorum has learned.
 *  Then everything in [lo, hi] is learned here: VOTING, with promise >= b_r.
 *
 * A STARTING replica has never voted, so it skips the fence (nothing it could
 * have accepted is lost) and catches up to the VOTING replicas' reported end.
 *
 * Reader catch-up of a VOTING replica is QUERY (the highest end among a quorum
 * of VOTING replicas, this one included), then LEARN and, after
 * catchup_patience fruitless rounds and only while no local writer runs, FILL.
 */

static unsigned cu_backoff(const struct replog_core *c)
{
	return 2 + c->cfg.self % 3;
}

/* Sends `m` (from this node) to every other node. */
static int cu_send_others(struct replog_core *c, struct replog_msg *m, uint64_t mask)
{
	unsigned i;
	int rv;

	m->from = (uint8_t)c->cfg.self;
	for (i = 0; i < c->cfg.nodes; i++) {
		if (i == c->cfg.self || !(mask & node_bit(i)))
			continue;
		m->to = (uint8_t)i;
		rv = core_push_msg(c, m);
		if (rv < 0)
			return rv;
	}
	return 0;
}

/* True when every position of [lo, hi] is learned here (or truncated). */
static bool cu_caught_up(const struct replog_core *c)
{
	uint64_t e;

	return !replica_next_missing(c, c->cu.lo, &e) || e > c->cu.hi;
}

static int cu_eval_query(struct replog_core *c);
static int cu_start_learn(struct replog_core *c);
static int cu_learn_round_done(struct replog_core *c);

/* Starts a QUERY phase: answers to earlier requests no longer count. */
static void cu_reset_query(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;

	cu->phase = CU_QUERY;
	cu->first_req = c->req_next;
	cu->req = c->req_next;
	cu->responded = 0;
	cu->qlo = UINT64_MAX;
	cu->qhi = 0;
	memset(cu->node_req, 0, sizeof(cu->node_req));
}

/*
 * Asks every other node for its status. A new phase forgets earlier answers;
 * a retry (on a tick) asks again with a new request number and keeps, per
 * node, the newest answer given to any request of this phase, so a slow
 * network (round trip longer than a tick) still gathers a full picture.
 */
static int cu_send_query(struct replog_core *c, bool new_phase)
{
	struct replog_catchup *cu = &c->cu;
	struct replog_msg m;
	int rv;

	if (new_phase || cu->phase != CU_QUERY)
		cu_reset_query(c);
	cu->req = c->req_next++;
	memset(&m, 0, sizeof(m));
	m.type = REPLOG_MSG_RECOVER_REQ;
	m.tag = REPLOG_TAG_CATCHUP;
	m.ballot = cu->req;
	rv = cu_send_others(c, &m, all_nodes(c));
	if (rv < 0)
		return rv;
	return cu_eval_query(c);
}

static int cu_start_fence(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	struct replog_msg m;
	uint64_t b;
	int rv;

	if (c->r.status != REPLOG_RECOVERING) {
		rv = replica_set_status(c, REPLOG_RECOVERING);
		if (rv < 0)
			return rv;
	}
	rv = prop_reset(c, &cu->p);
	if (rv < 0)
		return rv;
	rv = core_new_ballot(c, &b);
	if (rv < 0)
		return keel_errwrap(c->errmsg, -EIO, "recovery");
	cu->p.ballot = b;
	cu->phase = CU_FENCE;
	cu->acks = 0;
	cu->ignored = 0;
	cu->lo = UINT64_MAX;
	cu->hi = 0;
	memset(&m, 0, sizeof(m));
	m.type = REPLOG_MSG_PROMISE_REQ;
	m.tag = REPLOG_TAG_CATCHUP;
	m.ballot = b;
	return cu_send_others(c, &m, all_nodes(c));
}

/* The recover protocol's decision after each RECOVER_RESP (and when the round starts). */
static int cu_eval_recover(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	unsigned count[REPLOG_EMPTY + 1] = {0}, i, voting_others;
	int rv;

	for (i = 0; i < c->cfg.nodes; i++)
		if (i != c->cfg.self && (cu->responded & node_bit(i)))
			count[cu->status[i]]++;
	voting_others = count[REPLOG_VOTING];
	count[c->r.status]++;
	if (voting_others >= c->cfg.quorum && c->r.status == REPLOG_STARTING) {
		/*
		 * A STARTING replica never voted (a lost disk comes back EMPTY), so
		 * it has nothing to fence: it catches up to what the VOTING ones
		 * reported, for complete local reads, and does not depose the writer.
		 */
		rv = replica_set_status(c, REPLOG_RECOVERING);
		if (rv == 0 && cu->qlo > c->r.begin)
			rv = replica_advance_begin(c, cu->qlo);
		if (rv < 0)
			return rv;
		cu->lo = cu->qlo;
		cu->hi = cu->qhi;
		cu->fruitless = 0;
		cu->p.ballot = 0;
		return cu_start_learn(c);
	}
	if (voting_others >= c->cfg.quorum)
		return cu_start_fence(c);
	if (!c->cfg.auto_init)
		return 0;
	if (c->r.status == REPLOG_EMPTY &&
	    count[REPLOG_EMPTY] + count[REPLOG_STARTING] == c->cfg.nodes) {
		c->upd.sync = true;
		rv = replica_set_status(c, REPLOG_STARTING);
		return rv < 0 ? rv : cu_send_query(c, true);
	}
	if (c->r.status == REPLOG_STARTING &&
	    count[REPLOG_STARTING] + count[REPLOG_VOTING] == c->cfg.nodes) {
		c->upd.sync = true;
		cu->mode = CU_NONE;
		return replica_set_status(c, REPLOG_VOTING);
	}
	return 0;
}

/* Reader: once a quorum (this VOTING replica included) reported, learn up to their end. */
static int cu_eval_reader(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	unsigned i, voting = 1;

	for (i = 0; i < c->cfg.nodes; i++)
		if (i != c->cfg.self && (cu->responded & node_bit(i)) &&
		    cu->status[i] == REPLOG_VOTING)
			voting++;
	if (voting < c->cfg.quorum)
		return 0;
	cu->lo = c->r.begin;
	return cu_start_learn(c);
}

static int cu_eval_query(struct replog_core *c)
{
	if (c->cu.phase != CU_QUERY)
		return 0;
	return c->cu.mode == CU_RECOVER ? cu_eval_recover(c) : cu_eval_reader(c);
}

/* Sends the current LEARN round's request (again) to the nodes that have not answered it. */
static int cu_send_learn(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	struct replog_msg m;

	cu->req = c->req_next++;
	memset(&m, 0, sizeof(m));
	m.type = REPLOG_MSG_LEARN_REQ;
	m.tag = REPLOG_TAG_CATCHUP;
	m.ballot = cu->req;
	m.u.learn_req.from = cu->learn_from;
	m.u.learn_req.to = cu->hi;
	return cu_send_others(c, &m, all_nodes(c) & ~cu->responded);
}

static int cu_start_learn(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	uint64_t from;
	int rv;

	cu->phase = CU_LEARN;
	cu->first_req = c->req_next;
	cu->responded = 0;
	cu->learned_before = 0;
	if (!replica_next_missing(c, cu->lo, &from) || from > cu->hi)
		return 0; /* caught up; catchup_progress finishes */
	cu->learn_from = from;
	rv = cu_send_learn(c);
	if (rv < 0)
		return rv;
	if (c->cfg.quorum <= 1)
		return cu_learn_round_done(c);
	return 0;
}

static bool cu_may_fill(const struct replog_core *c)
{
	/* A reader's fill would raise the local promise over our own writer's ballot. */
	return c->cu.mode == CU_RECOVER || c->w.state == W_IDLE;
}

static int cu_start_fill(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	uint64_t b;
	int rv;

	if (cu->p.ballot == 0) {
		rv = core_new_ballot(c, &b);
		if (rv < 0)
			return keel_errwrap(c->errmsg, -EIO, "catch-up");
		cu->p.ballot = b;
	}
	cu->phase = CU_FILL;
	cu->fill_next = cu->lo;
	return 0;
}

/* A quorum answered the LEARN round (learned_before counts what it taught). */
static int cu_learn_round_done(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	unsigned patience = cu->mode == CU_RECOVER ? 1 : c->cfg.catchup_patience;

	if (cu_caught_up(c))
		return 0;
	if (cu->learned_before > 0) {
		cu->fruitless = 0;
		return cu_start_learn(c);
	}
	cu->fruitless++;
	if (cu->fruitless >= patience && cu_may_fill(c))
		return cu_start_fill(c);
	/* The next tick asks again. */
	cu->responded = all_nodes(c);
	return 0;
}

/* Learned actions from a LEARN_RESP (always safe to take: they were chosen). */
static int cu_take_learned(struct replog_core *c, const struct replog_msg *m)
{
	const struct replog_learn_resp *r = &m->u.learn_resp;
	size_t i;
	bool had;
	int rv;

	if (r->begin > c->r.begin) {
		rv = replica_advance_begin(c, r->begin);
		if (rv < 0)
			return rv;
		c->cu.learned_before++;
	}
	for (i = 0; i < r->n; i++) {
		had = replica_is_learned(c, r->actions[i].position) ||
		      r->actions[i].position < c->r.begin;
		rv = replica_learn(c, &r->actions[i]);
		if (rv < 0)
			return rv;
		if (!had)
			c->cu.learned_before++;
	}
	return 0;
}

static int cu_on_fence(struct replog_core *c, const struct replog_msg *m)
{
	struct replog_catchup *cu = &c->cu;
	const struct replog_promise_resp *r = &m->u.promise_resp;
	uint64_t bit = node_bit(m->from);
	int rv;

	if (cu->phase != CU_FENCE || m->ballot != cu->p.ballot || (cu->acks & bit))
		return 0;
	if (r->reply == REPLOG_REJECT) {
		cu_reset_query(c);
		cu->wait = cu_backoff(c);
		return 0;
	}
	if (r->reply == REPLOG_IGNORED) {
		cu->ignored |= bit;
		if (c->cfg.nodes - 1 - popcount64(cu->ignored) < c->cfg.quorum) {
			cu_reset_query(c);
			cu->wait = cu_backoff(c);
		}
		return 0;
	}
	cu->acks |= bit;
	cu->ignored &= ~bit;
	cu->lo = KEEL_MIN(cu->lo, r->begin);
	cu->hi = KEEL_MAX(cu->hi, r->end);
	if (popcount64(cu->acks) < c->cfg.quorum)
		return 0;
	if (cu->lo > c->r.begin) {
		rv = replica_advance_begin(c, cu->lo);
		if (rv < 0)
			return rv;
	}
	cu->fruitless = 0;
	return cu_start_learn(c);
}

static int cu_on_fill(struct replog_core *c, const struct replog_msg *m)
{
	struct replog_catchup *cu = &c->cu;
	int outcome, rv;

	if (cu->phase != CU_FILL)
		return 0;
	rv = prop_receive(c, &cu->p, m, &outcome);
	if (rv < 0 || outcome == PROP_NOTHING)
		return rv;
	rv = prop_flush_learned(c, &cu->p);
	if (rv == 0)
		rv = prop_reset(c, &cu->p);
	if (rv < 0)
		return rv;
	cu->p.ballot = 0;
	cu->fruitless = 0;
	cu->wait = cu_backoff(c);
	/* Rejected: learn again, then fill with a higher ballot. Hopeless: ask again. */
	if (outcome == PROP_REJECTED) {
		cu->phase = CU_LEARN;
		cu->responded = all_nodes(c);
	} else {
		cu_reset_query(c);
	}
	return 0;
}

int catchup_receive(struct replog_core *c, const struct replog_msg *m)
{
	struct replog_catchup *cu = &c->cu;
	uint64_t bit = node_bit(m->from);
	int rv;

	switch (m->type) {
	case REPLOG_MSG_LEARN_RESP:
		rv = cu_take_learned(c, m);
		if (rv < 0 || cu->mode == CU_NONE || cu->phase != CU_LEARN ||
		    m->ballot < cu->first_req || m->ballot > cu->req || (cu->responded & bit))
			return rv;
		cu->responded |= bit;
		if (popcount64(cu->responded) + 1 < c->cfg.quorum)
			return 0;
		return cu_learn_round_done(c);
	case REPLOG_MSG_RECOVER_RESP:
		if (cu->mode == CU_NONE || cu->phase != CU_QUERY || m->ballot < cu->first_req ||
		    m->ballot > cu->req || m->ballot <= cu->node_req[m->from] ||
		    m->from == c->cfg.self)
			return 0;
		cu->node_req[m->from] = m->ballot;
		cu->responded |= bit;
		cu->status[m->from] = m->u.recover_resp.status;
		if (m->u.recover_resp.status == REPLOG_VOTING) {
			cu->qlo = KEEL_MIN(cu->qlo, m->u.recover_resp.begin);
			cu->qhi = KEEL_MAX(cu->qhi, m->u.recover_resp.end);
		}
		if (m->u.recover_resp.promised > cu->promised_max)
			cu->promised_max = m->u.recover_resp.promised;
		if (cu->mode == CU_READER && m->u.recover_resp.status == REPLOG_VOTING &&
		    m->u.recover_resp.end > cu->hi)
			cu->hi = m->u.recover_resp.end;
		return cu_eval_query(c);
	case REPLOG_MSG_PROMISE_RESP:
		if (cu->mode == CU_NONE)
			return 0;
		if (!m->u.promise_resp.explicit_)
			return cu_on_fence(c, m);
		return cu_on_fill(c, m);
	case REPLOG_MSG_WRITE_RESP:
		if (cu->mode == CU_NONE)
			return 0;
		return cu_on_fill(c, m);
	default:
		return 0;
	}
}

int catchup_start_reader(struct replog_core *c, void *cookie)
{
	struct replog_catchup *cu = &c->cu;

	if (c->r.status != REPLOG_VOTING)
		return keel_errf(c->errmsg, -EAGAIN, "catch-up: the replica is %s, not VOTING",
				 replog_status_name(c->r.status));
	if (cu->mode != CU_NONE)
		return keel_errf(c->errmsg, -EBUSY, "catch-up: one is running");
	if (c->w.state == W_ELECTED) {
		/* Everything up to the writer's last completed write is learned here. */
		return core_push_done(c, REPLOG_OP_CATCHUP, 0, c->w.next_done - 1, cookie);
	}
	cu->mode = CU_READER;
	cu->cookie = cookie;
	cu->hi = c->r.end;
	cu->lo = c->r.begin;
	cu->fruitless = 0;
	cu->wait = 0;
	cu->p.ballot = 0;
	return cu_send_query(c, true);
}

int catchup_tick(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	struct replog_msg m;

	if (cu->mode == CU_NONE)
		return 0;
	if (cu->wait > 0 && --cu->wait > 0)
		return 0;
	switch (cu->phase) {
	case CU_QUERY:
		return cu_send_query(c, false);
	case CU_FENCE:
		cu->ignored = 0;
		memset(&m, 0, sizeof(m));
		m.type = REPLOG_MSG_PROMISE_REQ;
		m.tag = REPLOG_TAG_CATCHUP;
		m.ballot = cu->p.ballot;
		return cu_send_others(c, &m, all_nodes(c) & ~cu->acks);
	case CU_LEARN:
		/* A round that taught nothing waits for a tick and starts again. */
		if (cu->responded == all_nodes(c))
			return cu_start_learn(c);
		return cu_send_learn(c);
	case CU_FILL:
		return prop_retransmit(c, &cu->p);
	default:
		return 0;
	}
}

/* Starts fills for missing positions of [lo, hi]. */
static int cu_fill(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	uint64_t e;
	int rv;

	for (;;) {
		if (!replica_next_missing(c, cu->fill_next, &e) || e > cu->hi)
			return 0;
		if (prop_find(&cu->p, e) != NULL) {
			if (e == REPLOG_POSITION_MAX)
				return 0;
			cu->fill_next = e + 1;
			continue;
		}
		if (!prop_fits(&cu->p, e))
			return 0;
		rv = prop_start_fill(c, &cu->p, e);
		if (rv < 0)
			return rv;
		if (e == REPLOG_POSITION_MAX)
			return 0;
		cu->fill_next = e + 1;
	}
}

static int cu_finish(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	int rv;

	rv = prop_reset(c, &cu->p);
	if (rv < 0)
		return rv;
	cu->p.ballot = 0;
	if (cu->mode == CU_RECOVER) {
		cu->mode = CU_NONE;
		return replica_set_status(c, REPLOG_VOTING);
	}
	cu->mode = CU_NONE;
	return core_push_done(c, REPLOG_OP_CATCHUP, 0, cu->hi, cu->cookie);
}

int catchup_progress(struct replog_core *c)
{
	struct replog_catchup *cu = &c->cu;
	int rv;

	if (cu->mode == CU_NONE)
		return 0;
	rv = prop_flush_learned(c, &cu->p);
	if (rv == 0)
		rv = prop_release_learned_fills(c, &cu->p);
	if (rv < 0)
		return rv;
	if ((cu->phase == CU_LEARN || cu->phase == CU_FILL) && cu_caught_up(c))
		return cu_finish(c);
	if (cu->phase == CU_FILL && cu->wait == 0) {
		rv = cu_fill(c);
		if (rv < 0)
			return rv;
		return prop_flush_learned(c, &cu->p);
	}
	return 0;
}
