/* The writer (Mesos coordinator): implicit-promise election, fill, pipelined appends. */
#include "core_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static int writer_send_promise(struct replog_core *c, uint64_t mask)
{
	struct replog_msg m;
	unsigned i;
	int rv;

	memset(&m, 0, sizeof(m));
	m.type = REPLOG_MSG_PROMISE_REQ;
	m.tag = REPLOG_TAG_WRITER;
	m.from = (uint8_t)c->cfg.self;
	m.ballot = c->w.p.ballot;
	for (i = 0; i < c->cfg.nodes; i++) {
		if (!(mask & node_bit(i)))
			continue;
		m.to = (uint8_t)i;
		rv = core_push_msg(c, &m);
		if (rv < 0)
			return rv;
	}
	return 0;
}

int writer_start(struct replog_core *c, void *cookie)
{
	struct replog_writer *w = &c->w;
	uint64_t b;
	int rv;

	if (c->r.status != REPLOG_VOTING)
		return keel_errf(c->errmsg, -EAGAIN, "writer start: the replica is %s, not VOTING",
				 replog_status_name(c->r.status));
	if (w->state == W_ELECTING || w->state == W_FILLING)
		return keel_errf(c->errmsg, -EBUSY, "writer start: an election is running");
	if (w->state == W_ELECTED)
		return keel_errf(c->errmsg, -EALREADY, "writer start: already elected");
	if (c->round_max >= REPLOG_ROUND_MAX)
		return keel_errf(c->errmsg, -EOVERFLOW, "writer start: ballot rounds exhausted");
	rv = core_new_ballot(c, &b);
	if (rv < 0)
		return rv;
	w->p.ballot = b;
	w->state = W_ELECTING;
	w->acks = 0;
	w->ignored = 0;
	w->end_max = 0;
	w->start_cookie = cookie;
	return writer_send_promise(c, all_nodes(c));
}

int writer_submit(struct replog_core *c, const struct replog_event *ev)
{
	struct replog_writer *w = &c->w;
	struct replog_action a;
	int rv;

	if (w->state != W_ELECTED)
		return keel_errf(c->errmsg, -ENOTCONN, "writer is not elected");
	if (w->index > REPLOG_POSITION_MAX)
		return keel_errf(c->errmsg, -ERANGE, "the log is full (last position %" PRIu64 ")",
				 (uint64_t)REPLOG_POSITION_MAX);
	memset(&a, 0, sizeof(a));
	a.position = w->index;
	if (ev->type == REPLOG_EV_APPEND) {
		if (ev->len > REPLOG_VALUE_MAX || (ev->len > 0 && ev->value == NULL))
			return keel_errf(c->errmsg, -EINVAL, "append of %zu bytes (max %u)",
					 ev->len, REPLOG_VALUE_MAX);
		a.type = REPLOG_ACTION_APPEND;
		a.value = ev->value;
		a.len = ev->len;
	} else {
		if (ev->to > w->index)
			return keel_errf(c->errmsg, -EINVAL,
					 "truncate to %" PRIu64 " beyond its own position %" PRIu64,
					 ev->to, w->index);
		a.type = REPLOG_ACTION_TRUNCATE;
		a.to = ev->to;
	}
	if (!prop_fits(&w->p, w->index))
		return keel_errf(c->errmsg, -EBUSY, "%u writes in flight", w->p.cap);
	rv = prop_start_write(
	    c, &w->p, &a, ev->type == REPLOG_EV_APPEND ? INST_APPEND : INST_TRUNCATE, ev->cookie);
	w->index++;
	return rv;
}

/*
 * The writer is dead (rejected, or too few voting replicas): chosen writes
 * still complete with success, in order; everything else fails with err.
 */
static int writer_die(struct replog_core *c, int err)
{
	struct replog_writer *w = &c->w;
	struct replog_inst *in;
	int rv;

	rv = prop_flush_learned(c, &w->p);
	if (rv < 0)
		return rv;
	if (w->state == W_ELECTING || w->state == W_FILLING) {
		rv = core_push_done(c, REPLOG_OP_START, err, 0, w->start_cookie);
		if (rv < 0)
			return rv;
	}
	if (w->state == W_ELECTED) {
		for (; w->next_done < w->index; w->next_done++) {
			in = prop_find(&w->p, w->next_done);
			if (in == NULL)
				continue;
			rv = core_push_done(
			    c, in->kind == INST_APPEND ? REPLOG_OP_APPEND : REPLOG_OP_TRUNCATE,
			    in->state == INST_CHOSEN ? 0 : err, in->position, in->cookie);
			if (rv < 0)
				return rv;
		}
	}
	w->state = W_IDLE;
	w->p.ballot = 0;
	return prop_reset(c, &w->p);
}

int writer_stop(struct replog_core *c)
{
	if (c->w.state == W_IDLE)
		return keel_errf(c->errmsg, -ENOTCONN, "writer stop: no writer runs");
	return writer_die(c, -ECANCELED);
}

static int writer_on_election(struct replog_core *c, const struct replog_msg *m)
{
	struct replog_writer *w = &c->w;
	const struct replog_promise_resp *r = &m->u.promise_resp;
	uint64_t bit = node_bit(m->from);

	if (w->state != W_ELECTING || (w->acks & bit))
		return 0;
	if (r->reply == REPLOG_REJECT)
		return writer_die(c, -ESTALE);
	if (r->reply == REPLOG_IGNORED) {
		/* Too few VOTING replicas for now: the election waits and retries on ticks. */
		w->ignored |= bit;
		return 0;
	}
	w->acks |= bit;
	w->ignored &= ~bit;
	if (r->end > w->end_max)
		w->end_max = r->end;
	if (popcount64(w->acks) < c->cfg.quorum)
		return 0;
	w->state = W_FILLING;
	w->fill_next = c->r.begin;
	return 0;
}

int writer_receive(struct replog_core *c, const struct replog_msg *m)
{
	struct replog_writer *w = &c->w;
	int outcome, rv;

	if (w->state == W_IDLE || m->ballot != w->p.ballot)
		return 0;
	if (m->type == REPLOG_MSG_PROMISE_RESP && !m->u.promise_resp.explicit_)
		return writer_on_election(c, m);
	if (m->type != REPLOG_MSG_PROMISE_RESP && m->type != REPLOG_MSG_WRITE_RESP)
		return 0;
	rv = prop_receive(c, &w->p, m, &outcome);
	if (rv < 0)
		return rv;
	if (outcome == PROP_REJECTED)
		return writer_die(c, -ESTALE);
	if (outcome == PROP_HOPELESS)
		return writer_die(c, -EAGAIN);
	return 0;
}

int writer_tick(struct replog_core *c)
{
	struct replog_writer *w = &c->w;

	if (w->state == W_ELECTING) {
		w->ignored = 0;
		return writer_send_promise(c, all_nodes(c) & ~w->acks);
	}
	if (w->state == W_FILLING || w->state == W_ELECTED)
		return prop_retransmit(c, &w->p);
	return 0;
}

/* Starts fills for positions the local replica has not learned, up to the quorum's end. */
static int writer_fill(struct replog_core *c)
{
	struct replog_writer *w = &c->w;
	uint64_t e;
	int rv;

	rv = prop_release_learned_fills(c, &w->p);
	if (rv < 0)
		return rv;
	for (;;) {
		if (w->fill_next < c->r.begin)
			w->fill_next = c->r.begin;
		if (w->fill_next > w->end_max || !replica_next_missing(c, w->fill_next, &e) ||
		    e > w->end_max)
			break;
		if (prop_find(&w->p, e) == NULL) {
			if (!prop_fits(&w->p, e))
				return 0;
			rv = prop_start_fill(c, &w->p, e);
			if (rv < 0)
				return rv;
		}
		if (e == REPLOG_POSITION_MAX)
			break;
		w->fill_next = e + 1;
	}
	if (w->p.active > 0)
		return 0;
	/* Every position up to the quorum's end is learned here: elected. */
	w->state = W_ELECTED;
	w->index = w->end_max + 1;
	w->next_done = w->index;
	return core_push_done(c, REPLOG_OP_START, 0, w->end_max, w->start_cookie);
}

/* Reports chosen writes to the client in position order. */
static int writer_complete(struct replog_core *c)
{
	struct replog_writer *w = &c->w;
	struct replog_inst *in;
	int rv;

	while (w->next_done < w->index) {
		in = prop_find(&w->p, w->next_done);
		if (in == NULL || in->state != INST_CHOSEN || in->broadcast)
			break;
		rv = core_push_done(c,
				    in->kind == INST_APPEND ? REPLOG_OP_APPEND : REPLOG_OP_TRUNCATE,
				    0, in->position, in->cookie);
		if (rv == 0)
			rv = prop_release(c, &w->p, in);
		if (rv < 0)
			return rv;
		w->next_done++;
	}
	return 0;
}

int writer_progress(struct replog_core *c)
{
	struct replog_writer *w = &c->w;
	int rv;

	if (w->state == W_IDLE)
		return 0;
	rv = prop_flush_learned(c, &w->p);
	if (rv < 0)
		return rv;
	if (w->state == W_FILLING) {
		rv = writer_fill(c);
		if (rv < 0)
			return rv;
		/* New fills may already be chosen (a quorum of one); flush again next step. */
		return prop_flush_learned(c, &w->p);
	}
	if (w->state == W_ELECTED)
		return writer_complete(c);
	return 0;
}
