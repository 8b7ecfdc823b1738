/* The replog network driver: runs the core on a keel loop with the LMDB store and HTTP peers. */
#include "replog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "store.h"
#include "trace.h"
#include "wire.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/loop.h"

#define DRIVER_TICK_DEFAULT 100
#define DRIVER_PEER_INFLIGHT_MAX 4096
/* A peer's coalesced messages go out at once beyond this many bytes. */
#define DRIVER_OUT_MAX (1u << 20)
/* Longest a LEARNED notice to a peer waits for a message to ride with (driver_hold). */
#define DRIVER_LEARNED_HOLD_MS 5

/* A client operation in flight: its callback and, for APPEND, the bytes (owned). */
struct driver_op {
	replog_done_cb cb;	       /* called exactly once */
	void *arg;		       /* its argument */
	void *data;		       /* APPEND bytes, kept until completion */
	struct driver_op *prev, *next; /* the replica's list of operations not completed */
	int status;		       /* once completed: its status */
	uint64_t position;	       /* once completed: its position */
	struct driver_op *dnext;       /* FIFO of completions waiting for a later loop turn */
};

/* What one update leaves to do once the store has made `seq` durable. */
struct driver_pending {
	uint64_t seq;			/* durable seq needed first (0: none) */
	struct keel_buf *bodies;	/* per node: encoded batch (empty: nothing); nodes more
					 * follow: LEARNED notices to that node, held (driver_hold) */
	struct replog_completion *done; /* completions (copied) */
	size_t n_done;			/* number of completions */
	struct driver_pending *next;	/* FIFO link */
};

/* A received (or self-addressed) batch waiting to be stepped. */
struct driver_inbox {
	struct replog_wire_batch batch; /* decoded messages */
	bool self;			/* addressed by this node to itself */
	struct driver_inbox *next;	/* FIFO link */
};

struct replog {
	struct keel_loop *loop;		   /* the loop */
	struct replog_options opts;	   /* options (peers and prefix copied below) */
	struct replog_peer *peers;	   /* copy of the peers (hosts copied) */
	char *prefix;			   /* copy of the route prefix */
	struct keel_http_client **clients; /* per node (NULL for self) */
	size_t *inflight;		   /* per node: requests not answered */
	struct keel_buf *out;		   /* per node: messages to send when the drain ends */
	struct keel_buf *held;		   /* per node: LEARNED notices waiting for a ride */
	struct keel_timer *hold_timer;	   /* posts held notices DRIVER_LEARNED_HOLD_MS late */
	struct replog_config cfg;	   /* core config */
	struct replog_core *core;	   /* the core (NULL while failed) */
	struct replog_store *store;	   /* the store */
	struct keel_timer *tick;	   /* tick timer */
	uint64_t rng;			   /* xorshift state for the jitter */
	struct driver_pending *pend_head;  /* updates waiting for durability, in order */
	struct driver_pending *pend_tail;  /* last one */
	struct driver_inbox *in_head;	   /* batches to step, in order */
	struct driver_inbox *in_tail;	   /* last one */
	bool stepping;			   /* inside driver_drain (no reentry) */
	bool closing;			   /* replog_close runs */
	bool failing;			   /* driver_fail runs (store reports ignored) */
	int failed;			   /* sticky storage failure */
	struct driver_op *ops;		   /* operations not completed yet */
	struct driver_op *def_head;	   /* completed, callback deferred to a later turn */
	struct driver_op *def_tail;	   /* last one */
	unsigned api_depth;		   /* inside a starting call (callbacks are deferred) */
	struct keel_async *defer;	   /* runs the deferred callbacks on the next turn */
	struct replog_metrics m;	   /* counters */
	struct replog_trace *trace;	   /* latency trace (KEEL_REPLOG_TRACE; NULL: off) */
	char errmsg[KEEL_ERRMSG_SIZE];	   /* last failure */
};

static uint64_t driver_rand(struct replog *r)
{
	uint64_t x = r->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->rng = x;
	return x;
}

/* The position a message is about (for the trace): the written, answered or first learned one. */
static uint64_t driver_msg_position(const struct replog_msg *m)
{
	switch (m->type) {
	case REPLOG_MSG_WRITE_REQ:
		return m->u.write_req.action.position;
	case REPLOG_MSG_WRITE_RESP:
		return m->u.write_resp.position;
	case REPLOG_MSG_LEARNED:
		return m->u.learned.n ? m->u.learned.entries[0].position : 0;
	case REPLOG_MSG_PROMISE_REQ:
		return m->u.promise_req.position;
	case REPLOG_MSG_PROMISE_RESP:
		return m->u.promise_resp.position;
	default:
		return 0;
	}
}

/* Runs an operation's callback and frees it. */
static void driver_op_fire(struct replog *r, struct driver_op *op)
{
	keel_free(op->data);
	op->data = NULL;
	if (op->cb)
		op->cb(r, op->status, op->position, op->arg);
	keel_free(op);
}

/* Runs the deferred callbacks, oldest first (including any queued while they run). */
static void driver_run_deferred(struct replog *r)
{
	while (r->def_head) {
		struct driver_op *op = r->def_head;
		r->def_head = op->dnext;
		if (r->def_head == NULL)
			r->def_tail = NULL;
		driver_op_fire(r, op);
	}
}

static void driver_on_defer(struct keel_async *a, void *arg)
{
	(void)a;
	driver_run_deferred(arg);
}

/*
 * Completes an operation. Its callback never runs inside the call that
 * started it (replog.h): a completion decided inside a starting call, or
 * behind one still waiting, goes to a FIFO that a keel_async drains on a
 * later loop turn, so callbacks also keep their order.
 */
static void driver_complete(struct replog *r, const struct replog_completion *c)
{
	struct driver_op *op = c->cookie;

	if (op == NULL)
		return;
	if (op->prev)
		op->prev->next = op->next;
	else
		r->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	if (c->op == REPLOG_OP_APPEND && c->status == 0)
		r->m.appends++;
	REPLOG_TRACE(r->trace, "done", c->op, c->position, (uint64_t)-c->status);
	op->status = c->status;
	op->position = c->position;
	if (r->api_depth == 0 && r->def_head == NULL) {
		driver_op_fire(r, op);
		return;
	}
	op->dnext = NULL;
	if (r->def_tail)
		r->def_tail->dnext = op;
	else
		r->def_head = op;
	r->def_tail = op;
	if (op == r->def_head)
		keel_async_send(r->defer);
}

static void driver_pending_free(struct replog *r, struct driver_pending *p)
{
	if (p->bodies)
		for (unsigned i = 0; i < 2 * r->cfg.nodes; i++)
			keel_buf_free(&p->bodies[i]);
	keel_free(p->bodies);
	keel_free(p->done);
	keel_free(p);
}

static void driver_on_response(int err, const struct keel_http_response *resp, void *arg);

/* Per-request context: which node it went to. */
struct driver_req {
	struct replog *r; /* owner */
	unsigned node;	  /* destination */
};

static void driver_on_response(int err, const struct keel_http_response *resp, void *arg)
{
	struct driver_req *q = arg;
	(void)err;
	(void)resp;
	if (q->r)
		q->r->inflight[q->node]--;
	keel_free(q);
}

/* POSTs the messages coalesced for `node` as one batch (they are lost on failure). */
static void driver_post(struct replog *r, unsigned node)
{
	static const struct keel_http_client_cbs cbs = {.on_done = driver_on_response};
	struct keel_buf *body = &r->out[node];
	char path[256];
	struct driver_req *q;

	if (keel_buf_size(body) == 0)
		return;
	if (r->clients[node] == NULL || r->inflight[node] >= DRIVER_PEER_INFLIGHT_MAX)
		goto out; /* messages may be lost: retransmitted on ticks */
	q = keel_malloc(sizeof(*q));
	if (q == NULL)
		goto out;
	q->r = r;
	q->node = node;
	snprintf(path, sizeof(path), "%s/batch", r->prefix);
	if (keel_http_client_request(r->clients[node], "POST", path, NULL, "application/x-protobuf",
				     keel_buf_rptr(body), keel_buf_size(body), &cbs, q) < 0) {
		keel_free(q);
		goto out;
	}
	REPLOG_TRACE(r->trace, "post", node, keel_buf_size(body), 0);
	r->inflight[node]++;
out:
	keel_buf_clear(body);
}

/* Moves the notices held for `node` (driver_hold) to its outgoing batch. */
static void driver_unhold(struct replog *r, unsigned node)
{
	if (keel_buf_size(&r->held[node]) == 0)
		return;
	/* On ENOMEM they stay held, for the next message or notice to `node`. */
	if (keel_buf_append(&r->out[node], keel_buf_rptr(&r->held[node]),
			    keel_buf_size(&r->held[node])) == 0)
		keel_buf_clear(&r->held[node]);
}

/*
 * Queues an encoded batch for `node`. Everything queued during one drain
 * (driver_drain) leaves as one request per peer when it ends: an encoded
 * Batch is a repeated field, so batches concatenate into one. Under load
 * that turns dozens of requests per peer into one (measured: docs/replog.md).
 */
static void driver_send(struct replog *r, unsigned node, struct keel_buf *body)
{
	driver_unhold(r, node); /* held notices first: they are about earlier positions */
	if (keel_buf_append(&r->out[node], keel_buf_rptr(body), keel_buf_size(body)) < 0)
		return; /* lost: retransmitted on ticks */
	if (keel_buf_size(&r->out[node]) >= DRIVER_OUT_MAX)
		driver_post(r, node);
}

static void driver_flush_out(struct replog *r)
{
	for (unsigned i = 0; i < r->cfg.nodes; i++)
		driver_post(r, i);
}

/*
 * Holds LEARNED notices for `node` until another message goes there (the
 * next append's WRITE, usually) or DRIVER_LEARNED_HOLD_MS pass. Posted at
 * once, they wake each follower (and its storage thread, for the lazy mark)
 * right when the writer answers its client, on the CPUs the client's next
 * request needs; riding with the next WRITE they cost no wake-up at all.
 * Only the followers' knowledge of what was chosen is late, which the core
 * tolerates like any delay of the network; no vote and no reply waits.
 */
static void driver_hold(struct replog *r, unsigned node, struct keel_buf *body)
{
	if (keel_buf_size(&r->out[node]) > 0 || r->hold_timer == NULL) {
		/* Something leaves anyway: ride with it (or closing: no timer). */
		driver_send(r, node, body);
		return;
	}
	if (keel_buf_append(&r->held[node], keel_buf_rptr(body), keel_buf_size(body)) < 0)
		return; /* lost: the followers learn on catch-up */
	if (keel_buf_size(&r->held[node]) >= DRIVER_OUT_MAX) {
		driver_unhold(r, node);
		driver_post(r, node);
	} else if (!keel_timer_active(r->hold_timer)) {
		keel_timer_start(r->hold_timer, DRIVER_LEARNED_HOLD_MS, 0);
	}
}

static void driver_on_hold_timer(struct keel_timer *t, void *arg)
{
	struct replog *r = arg;
	(void)t;
	for (unsigned i = 0; i < r->cfg.nodes; i++) {
		driver_unhold(r, i);
		driver_post(r, i);
	}
}

/*
 * Puts what is queued for peers on the wire now, before this node steps a
 * message to itself. On the writer's node that step is its own replica
 * accepting a WRITE: a store submission whose thread wake-up (and, on a busy
 * machine, the CPU it takes) would otherwise delay the followers' copies,
 * which are on the critical path of an append. Only when nothing waits for
 * the disk (pend_head NULL: about one operation in flight); under load the
 * messages of a drain leave together at its end, in one request per peer.
 */
static void driver_send_now(struct replog *r)
{
	bool any = false;

	for (unsigned i = 0; i < r->cfg.nodes; i++)
		any |= keel_buf_size(&r->out[i]) > 0;
	if (!any)
		return;
	driver_flush_out(r);
	keel_loop_send_now(r->loop);
}

static void driver_inbox_push(struct replog *r, struct driver_inbox *in)
{
	in->next = NULL;
	if (r->in_tail)
		r->in_tail->next = in;
	else
		r->in_head = in;
	r->in_tail = in;
}

/* Carries out a pending update: messages out (self ones to the inbox), then completions. */
static void driver_dispatch(struct replog *r, struct driver_pending *p)
{
	REPLOG_TRACE(r->trace, "dispatch", p->seq, 0, 0);
	for (unsigned i = 0; p->bodies && i < r->cfg.nodes; i++) {
		if (keel_buf_size(&p->bodies[i]) == 0)
			continue;
		if (i == r->cfg.self) {
			struct driver_inbox *in = keel_calloc(1, sizeof(*in));
			if (in && replog_wire_decode(keel_buf_rptr(&p->bodies[i]),
						     keel_buf_size(&p->bodies[i]), &in->batch,
						     NULL) == 0) {
				in->self = true;
				driver_inbox_push(r, in);
			} else
				keel_free(in); /* only on ENOMEM: the core retries on ticks */
		} else {
			driver_send(r, i, &p->bodies[i]);
		}
	}
	for (unsigned i = 0; p->bodies && i < r->cfg.nodes; i++)
		if (keel_buf_size(&p->bodies[r->cfg.nodes + i]) > 0)
			driver_hold(r, i, &p->bodies[r->cfg.nodes + i]);
	for (size_t i = 0; i < p->n_done; i++)
		driver_complete(r, &p->done[i]);
}

/* Dispatches every pending update whose writes are durable, in order. */
static void driver_flush_pending(struct replog *r)
{
	uint64_t durable = replog_store_durable_seq(r->store);

	while (r->pend_head && r->pend_head->seq <= durable) {
		struct driver_pending *p = r->pend_head;
		r->pend_head = p->next;
		if (r->pend_head == NULL)
			r->pend_tail = NULL;
		driver_dispatch(r, p);
		driver_pending_free(r, p);
	}
}

/* Fails everything pending (messages dropped, completions with `status`). */
static void driver_fail_pending(struct replog *r, int status)
{
	while (r->pend_head) {
		struct driver_pending *p = r->pend_head;
		r->pend_head = p->next;
		for (size_t i = 0; i < p->n_done; i++) {
			struct replog_completion c = p->done[i];
			c.status = status;
			driver_complete(r, &c);
		}
		driver_pending_free(r, p);
	}
	r->pend_tail = NULL;
}

/* Completes every operation still outstanding (the core that knew of them is gone). */
static void driver_fail_ops(struct replog *r, int status)
{
	while (r->ops) {
		struct replog_completion c = {.status = status, .cookie = r->ops};
		driver_complete(r, &c);
	}
}

/* Takes over what one update asks for. 0 or a storage/memory error (the core is then unusable). */
static int driver_take_update(struct replog *r, const struct replog_update *u)
{
	struct driver_pending *p;
	uint64_t seq = 0;
	int rv;

	if (u->n_writes) {
		rv = u->sync ? replog_store_submit(r->store, u->writes, u->n_writes, &seq)
			     : replog_store_submit_lazy(r->store, u->writes, u->n_writes, &seq);
		if (rv < 0)
			return keel_errf(r->errmsg, rv, "store: %s", replog_store_errmsg(r->store));
		REPLOG_TRACE(r->trace, "submit", seq, u->sync, u->n_writes);
	}
	if (u->n_msgs == 0 && u->n_done == 0)
		return 0;
	p = keel_calloc(1, sizeof(*p));
	if (p == NULL)
		return keel_errf(r->errmsg, -ENOMEM, "out of memory");
	/* Messages wait for durability if sync; completions follow messages in any case. */
	if (u->sync)
		replog_store_submit(r->store, NULL, 0, &p->seq); /* everything handed over so far */
	if (u->n_msgs) {
		p->bodies = keel_calloc(2 * r->cfg.nodes, sizeof(*p->bodies));
		if (p->bodies == NULL)
			goto nomem;
		for (size_t i = 0; i < u->n_msgs; i++) {
			const struct replog_msg *m = &u->msgs[i];
			if (m->to >= r->cfg.nodes)
				continue;
			REPLOG_TRACE(r->trace, "out", m->type, driver_msg_position(m),
				     m->to | (uint64_t)p->seq << 8);
			/* LEARNED to a peer: held for a ride (driver_hold); self ones step now. */
			bool hold = m->type == REPLOG_MSG_LEARNED && m->to != r->cfg.self;
			rv = replog_wire_encode(m, 1, &p->bodies[m->to + (hold ? r->cfg.nodes : 0)],
						r->errmsg);
			if (rv < 0) {
				driver_pending_free(r, p);
				return rv;
			}
			r->m.msgs_sent++;
		}
	}
	if (u->n_done) {
		p->done = keel_calloc(u->n_done, sizeof(*p->done));
		if (p->done == NULL)
			goto nomem;
		memcpy(p->done, u->done, u->n_done * sizeof(*p->done));
		p->n_done = u->n_done;
	}
	if (!u->sync && p->n_done == 0) {
		/*
		 * Messages that depend on no write may leave at once (core.h): the
		 * writer's WRITE and PROMISE requests and learned notices. Queued
		 * behind this replica's own replies, they would wait for its
		 * fdatasync and reach the followers one flush late.
		 */
		driver_dispatch(r, p);
		driver_pending_free(r, p);
		return 0;
	}
	if (r->pend_tail)
		r->pend_tail->next = p;
	else
		r->pend_head = p;
	r->pend_tail = p;
	return 0;
nomem:
	driver_pending_free(r, p);
	return keel_errf(r->errmsg, -ENOMEM, "out of memory");
}

static int driver_load_core(struct replog *r);

/* The core or the store failed: stop (EIO and friends) or reload from the store (ENOSPC). */
static void driver_fail(struct replog *r, int rv)
{
	keel_log(KEEL_LOG_ERROR, "replog", "replica %u: %s", r->cfg.self, r->errmsg);
	replog_core_free(r->core);
	r->core = NULL;
	driver_fail_pending(r, rv == -ENOSPC ? -ENOSPC : -EIO);
	driver_fail_ops(r, rv == -ENOSPC ? -ENOSPC : -EIO);
	/*
	 * The new core is built from what LMDB holds. When the core failed (not
	 * the store), the store still holds its writes, submitted and durable or
	 * on their way, some only in the write-ahead log: wait for all of them
	 * to reach LMDB first, or the new core would act on an older promise than
	 * the one it made durable. This blocks the loop on the disk, once, on
	 * this error path only. After a store failure, recover does that job.
	 */
	r->failing = true; /* the flush reports through on_durable: recover handles it */
	if (replog_store_error(r->store) == 0)
		replog_store_flush(r->store);
	r->failing = false;
	if (replog_store_recover(r->store) < 0) {
		r->failed = -EIO;
		return;
	}
	if (driver_load_core(r) < 0)
		r->failed = -EIO;
}

static int driver_step(struct replog *r, const struct replog_event *ev)
{
	const struct replog_update *u;
	int rv;

	if (r->core == NULL)
		return r->failed ? r->failed : -EIO;
	replog_store_release_reads(r->store);
	rv = replog_core_step(r->core, ev, &u);
	if (rv < 0) {
		if (rv == -EINVAL || rv == -ENOTCONN || rv == -EBUSY || rv == -EALREADY ||
		    rv == -EAGAIN || rv == -ERANGE || rv == -EOVERFLOW)
			return rv;
		keel_errf(r->errmsg, rv, "core: %s", replog_core_errmsg(r->core));
		driver_fail(r, rv);
		return 0; /* the event's operation was completed by driver_fail */
	}
	rv = driver_take_update(r, u);
	if (rv < 0) {
		driver_fail(r, rv);
		return 0; /* the event was taken; its completion came through driver_fail */
	}
	return 0;
}

/* Steps queued batches and dispatches what became ready, until nothing is left. */
static void driver_drain(struct replog *r)
{
	if (r->stepping)
		return;
	r->stepping = true;
	for (;;) {
		driver_flush_pending(r);
		struct driver_inbox *in = r->in_head;
		if (in == NULL)
			break;
		if (in->self && r->pend_head == NULL)
			driver_send_now(r);
		r->in_head = in->next;
		if (r->in_head == NULL)
			r->in_tail = NULL;
		for (size_t i = 0; i < in->batch.n && r->core; i++) {
			struct replog_event ev = {.type = REPLOG_EV_RECEIVE,
						  .msg = &in->batch.msgs[i]};
			r->m.msgs_recv++;
			REPLOG_TRACE(r->trace, "in", ev.msg->type, driver_msg_position(ev.msg),
				     ev.msg->from);
			driver_step(r, &ev);
		}
		replog_wire_batch_free(&in->batch);
		keel_free(in);
	}
	r->stepping = false;
	driver_flush_out(r);
	replog_store_kick(r->store);
}

static void driver_on_durable(struct replog_store *s, uint64_t seq, int status, void *arg)
{
	struct replog *r = arg;
	(void)s;
	if (r->failing)
		return;
	REPLOG_TRACE(r->trace, "durable", seq, (uint64_t)-status, 0);
	if (status < 0) {
		keel_errf(r->errmsg, status, "store: %s", replog_store_errmsg(r->store));
		driver_fail(r, status);
	}
	driver_drain(r);
}

static void driver_on_tick(struct keel_timer *t, void *arg)
{
	struct replog *r = arg;
	struct replog_event ev = {.type = REPLOG_EV_TICK};
	unsigned base = r->opts.tick_ms;

	REPLOG_TRACE(r->trace, "tick", 0, 0, 0);
	driver_step(r, &ev);
	driver_drain(r);
	keel_timer_start(t, base + driver_rand(r) % (base / 2 + 1), 0);
}

static void driver_on_batch(struct keel_http_req *req, void *arg)
{
	struct replog *r = arg;
	struct driver_inbox *in;
	const char *body;
	size_t len;
	char errmsg[KEEL_ERRMSG_SIZE];

	if (r->closing || r->core == NULL) {
		keel_http_respond_text(req, 503, "replica not running\n");
		return;
	}
	body = keel_http_req_body(req, &len);
	REPLOG_TRACE(r->trace, "recv", len, 0, 0);
	in = keel_calloc(1, sizeof(*in));
	if (in == NULL) {
		keel_http_respond_text(req, 503, "out of memory\n");
		return;
	}
	if (replog_wire_decode(body ? body : "", len, &in->batch, errmsg) < 0) {
		keel_free(in);
		keel_http_respond_text(req, 400, errmsg);
		return;
	}
	keel_http_respond(req, 204, NULL, NULL, NULL, 0);
	driver_inbox_push(r, in);
	driver_drain(r);
}

struct driver_restore {
	struct replog_core *core; /* being restored */
};

static int driver_restore_cb(void *arg, const struct replog_action *a)
{
	struct driver_restore *d = arg;
	return replog_core_restore_action(d->core, a->position, a->learned);
}

static int driver_load_core(struct replog *r)
{
	struct replog_meta meta;
	struct replog_store_ops ops = replog_store_ops(r->store);
	struct driver_restore d;
	int rv;

	rv = replog_store_meta(r->store, &meta);
	if (rv < 0 && rv != -ENOENT)
		return keel_errf(r->errmsg, rv, "%s", replog_store_errmsg(r->store));
	r->cfg.incarnation++;
	rv = replog_core_new(&r->cfg, &ops, rv == 0 ? &meta : NULL, &r->core, r->errmsg);
	if (rv < 0)
		return rv;
	d.core = r->core;
	rv = replog_store_scan(r->store, rv == 0 && meta.begin ? meta.begin : 0, driver_restore_cb,
			       &d);
	if (rv == 0)
		rv = replog_core_restore_done(r->core);
	if (rv < 0) {
		keel_errf(r->errmsg, rv, "restore: %s",
			  rv == -EBADMSG ? replog_store_errmsg(r->store)
					 : replog_core_errmsg(r->core));
		replog_core_free(r->core);
		r->core = NULL;
	}
	return rv;
}

int replog_open(struct keel_loop *loop, const struct replog_options *opts, struct replog **out,
		char *errmsg)
{
	struct replog *r;
	char route[256];
	int rv;

	*out = NULL;
	if (opts == NULL || opts->path == NULL || opts->peers == NULL || opts->server == NULL ||
	    opts->nodes == 0 || opts->nodes > REPLOG_NODES_MAX || opts->self >= opts->nodes ||
	    opts->quorum <= opts->nodes / 2 || opts->quorum > opts->nodes)
		return keel_errf(errmsg, -EINVAL, "replog: bad options");
	r = keel_calloc(1, sizeof(*r));
	if (r == NULL)
		return keel_errf(errmsg, -ENOMEM, "replog: out of memory");
	r->loop = loop;
	r->opts = *opts;
	if (r->opts.tick_ms == 0)
		r->opts.tick_ms = DRIVER_TICK_DEFAULT;
	r->rng = opts->seed ? opts->seed : 0x9e3779b97f4a7c15ull;
	r->prefix = keel_strdup(opts->prefix ? opts->prefix : "/replog");
	r->peers = keel_calloc(opts->nodes, sizeof(*r->peers));
	r->clients = keel_calloc(opts->nodes, sizeof(*r->clients));
	r->inflight = keel_calloc(opts->nodes, sizeof(*r->inflight));
	r->out = keel_calloc(opts->nodes, sizeof(*r->out));
	r->held = keel_calloc(opts->nodes, sizeof(*r->held));
	if (r->prefix == NULL || r->peers == NULL || r->clients == NULL || r->inflight == NULL ||
	    r->out == NULL || r->held == NULL) {
		rv = keel_errf(errmsg, -ENOMEM, "replog: out of memory");
		goto fail;
	}
	r->cfg.self = opts->self;
	r->cfg.nodes = opts->nodes;
	r->cfg.quorum = opts->quorum;
	r->cfg.auto_init = opts->auto_init;
	r->cfg.incarnation = (uint32_t)(keel_loop_clock_ns() / 1000);
	r->m.ensemble = opts->nodes;

	/* A latency trace for profiling (replog/trace.h): off unless the environment asks. */
	const char *trace = getenv("KEEL_REPLOG_TRACE");
	rv = replog_trace_open(trace, opts->self, "loop", &r->trace);
	if (rv < 0) {
		keel_errf(errmsg, rv, "trace %s: %s", trace, strerror(-rv));
		goto fail;
	}
	struct replog_store_config scfg = {.path = opts->path,
					   .map_size = opts->map_size,
					   .map_max = opts->map_max,
					   .loop = loop,
					   .on_durable = driver_on_durable,
					   .arg = r,
					   .trace = trace,
					   .trace_node = opts->self};
	rv = replog_store_open(&scfg, &r->store, errmsg);
	if (rv < 0)
		goto fail;
	rv = driver_load_core(r);
	if (rv < 0) {
		keel_errf(errmsg, rv, "%s", r->errmsg);
		goto fail;
	}
	for (unsigned i = 0; i < opts->nodes; i++) {
		if (i == opts->self)
			continue;
		rv = keel_http_client_new(loop, opts->peers[i].host, opts->peers[i].port, NULL,
					  &r->clients[i], errmsg);
		if (rv < 0)
			goto fail;
	}
	snprintf(route, sizeof(route), "%s/batch", r->prefix);
	rv = keel_http_server_route(opts->server, KEEL_HTTP_POST, route, driver_on_batch, r);
	if (rv < 0) {
		keel_errf(errmsg, rv, "route %s: %s", route,
			  rv == -EEXIST ? "already taken" : strerror(-rv));
		goto fail;
	}
	rv = keel_async_new(loop, driver_on_defer, r, &r->defer, errmsg);
	if (rv < 0)
		goto fail;
	rv = keel_timer_new(loop, driver_on_hold_timer, r, &r->hold_timer);
	if (rv == 0)
		rv = keel_timer_new(loop, driver_on_tick, r, &r->tick);
	if (rv == 0)
		rv = keel_timer_start(r->tick, 1, 0);
	if (rv < 0) {
		keel_errf(errmsg, rv, "replog: timer");
		goto fail;
	}
	*out = r;
	return 0;
fail:
	replog_close(r);
	return rv;
}

void replog_close(struct replog *r)
{
	if (r == NULL)
		return;
	r->closing = true;
	if (r->tick)
		keel_timer_free(r->tick);
	keel_timer_free(r->hold_timer); /* NULL-safe; held notices now go at once */
	r->hold_timer = NULL;
	if (r->core) {
		/* Cancel the writer's pending work (completions fire). */
		struct replog_event ev = {.type = REPLOG_EV_STOP};
		driver_step(r, &ev);
	}
	if (r->store) {
		replog_store_flush(r->store);
		/* Without a store (open failed early) nothing is pending. */
		driver_flush_pending(r);
	}
	driver_fail_pending(r, -ECANCELED);
	driver_fail_ops(r, -ECANCELED);
	driver_run_deferred(r); /* decided earlier; their callbacks run now, in order */
	if (r->defer)
		keel_async_close(r->defer);
	while (r->in_head) {
		struct driver_inbox *in = r->in_head;
		r->in_head = in->next;
		replog_wire_batch_free(&in->batch);
		keel_free(in);
	}
	for (unsigned i = 0; r->clients && i < r->opts.nodes; i++)
		keel_http_client_free(r->clients[i]); /* answers -ECANCELED: q->r still valid */
	replog_core_free(r->core);
	replog_store_close(r->store);
	replog_trace_close(r->trace);
	keel_free(r->clients);
	keel_free(r->inflight);
	for (unsigned i = 0; r->out && i < r->opts.nodes; i++)
		keel_buf_free(&r->out[i]);
	keel_free(r->out);
	for (unsigned i = 0; r->held && i < r->opts.nodes; i++)
		keel_buf_free(&r->held[i]);
	keel_free(r->held);
	keel_free(r->peers);
	keel_free(r->prefix);
	keel_free(r);
}

int replog_peer_set(struct replog *r, unsigned node, const char *host, uint16_t port)
{
	struct keel_http_client *c;
	int rv;

	if (node >= r->cfg.nodes || node == r->cfg.self || host == NULL)
		return keel_errf(r->errmsg, -EINVAL, "peer %u: not a peer of replica %u", node,
				 r->cfg.self);
	rv = keel_http_client_new(r->loop, host, port, NULL, &c, r->errmsg);
	if (rv < 0)
		return rv;
	keel_http_client_free(r->clients[node]); /* in-flight requests fail: -ECANCELED */
	r->clients[node] = c;
	return 0;
}

static struct driver_op *driver_op_new(replog_done_cb cb, void *arg)
{
	struct driver_op *op = keel_calloc(1, sizeof(*op));
	if (op) {
		op->cb = cb;
		op->arg = arg;
	}
	return op;
}

static int driver_submit(struct replog *r, struct replog_event *ev, struct driver_op *op)
{
	int rv;

	if (op == NULL)
		return keel_errf(r->errmsg, -ENOMEM, "out of memory");
	REPLOG_TRACE(r->trace, "api", ev->type, ev->len, 0);
	ev->cookie = op;
	op->next = r->ops;
	if (r->ops)
		r->ops->prev = op;
	r->ops = op;
	r->api_depth++;
	rv = driver_step(r, ev);
	if (rv < 0) {
		/* Refused before any state changed: no completion will come. */
		if (op->prev)
			op->prev->next = op->next;
		else
			r->ops = op->next;
		if (op->next)
			op->next->prev = op->prev;
		keel_free(op->data);
		keel_free(op);
		r->api_depth--;
		return rv;
	}
	driver_drain(r);
	r->api_depth--;
	return 0;
}

int replog_writer_start(struct replog *r, replog_done_cb cb, void *arg)
{
	struct replog_event ev = {.type = REPLOG_EV_START};
	return driver_submit(r, &ev, driver_op_new(cb, arg));
}

int replog_writer_append(struct replog *r, const void *data, size_t len, replog_done_cb cb,
			 void *arg)
{
	struct replog_event ev = {.type = REPLOG_EV_APPEND, .len = len};
	struct driver_op *op = driver_op_new(cb, arg);

	if (op && len) {
		op->data = keel_malloc(len);
		if (op->data == NULL) {
			keel_free(op);
			op = NULL;
		} else {
			memcpy(op->data, data, len);
		}
	}
	ev.value = op ? op->data : NULL;
	return driver_submit(r, &ev, op);
}

int replog_writer_truncate(struct replog *r, uint64_t to, replog_done_cb cb, void *arg)
{
	struct replog_event ev = {.type = REPLOG_EV_TRUNCATE, .to = to};
	return driver_submit(r, &ev, driver_op_new(cb, arg));
}

int replog_reader_catchup(struct replog *r, replog_done_cb cb, void *arg)
{
	struct replog_event ev = {.type = REPLOG_EV_CATCHUP};
	return driver_submit(r, &ev, driver_op_new(cb, arg));
}

uint64_t replog_reader_beginning(struct replog *r)
{
	return r->core ? replog_core_begin(r->core) : 0;
}

uint64_t replog_reader_ending(struct replog *r)
{
	return r->core ? replog_core_end(r->core) : 0;
}

int replog_reader_read(struct replog *r, uint64_t position, uint8_t *type, const void **value,
		       size_t *len)
{
	struct replog_action a;
	int rv;

	if (r->core == NULL)
		return r->failed ? r->failed : -EIO;
	replog_store_release_reads(r->store);
	rv = replog_core_read(r->core, position, &a);
	if (rv < 0)
		return keel_errf(r->errmsg, rv, "read %" PRIu64 ": %s", position,
				 replog_core_errmsg(r->core));
	*type = a.type;
	*value = a.value;
	*len = a.len;
	return 0;
}

uint8_t replog_status(struct replog *r)
{
	return r->core ? replog_core_status(r->core) : 0;
}

void replog_metrics(struct replog *r, struct replog_metrics *out)
{
	struct replog_store_stats st;

	replog_store_stats(r->store, &st);
	r->m.recovered = r->core && replog_core_status(r->core) == REPLOG_VOTING;
	r->m.fsyncs = st.fsyncs;
	r->m.commits = st.commits;
	r->m.batch_max = st.batch_max;
	r->m.batch_last = st.batch_last;
	*out = r->m;
}

const char *replog_errmsg(const struct replog *r)
{
	return r->errmsg;
}
