/* The registrar's live path: the operation queue, batching into appends, timeouts, fail-stop. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "master/registrar_int.h"
#include "replog/replog.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

#define REGISTRAR_LOG "registrar"

/* ---- Guarding against a close from inside our own callbacks ---- */

static bool registrar_alive(const struct registrar *r)
{
	return !r->closed && r->phase != REGISTRAR_FAILED;
}

static void registrar_enter(struct registrar *r)
{
	r->depth++;
}

static void registrar_leave(struct registrar *r)
{
	if (--r->depth == 0 && r->closed)
		keel_free(r);
}

/* ---- Operations ---- */

void registrar_op_free(struct registrar_op *op)
{
	if (op == NULL)
		return;
	keel_pbjson_free(op->op ? &op->op->base : NULL);
	keel_free(op);
}

static void op_list_free(struct registrar_op *op)
{
	while (op) {
		struct registrar_op *next = op->next;
		registrar_op_free(op);
		op = next;
	}
}

int registrar_op_new(const Keel__Registry__Operation *msg, struct registrar_op **out, char *errmsg)
{
	struct registrar_op *op;
	size_t n;
	int rv;

	rv = keel_pbjson_check(&msg->base, errmsg);
	if (rv < 0)
		return rv;
	n = protobuf_c_message_get_packed_size(&msg->base);
	if (n > REGISTRAR_OP_MAX)
		return keel_errf(errmsg, -EINVAL, "operation of %zu bytes (at most %zu)", n,
				 REGISTRAR_OP_MAX);
	op = keel_calloc(1, sizeof(*op) + n);
	if (op == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	op->len = protobuf_c_message_pack(&msg->base, op->bytes);
	/* The copy the registry keeps once the operation is durable. */
	rv = keel_pbjson_unpack(&keel__registry__operation__descriptor, op->bytes, op->len,
				(ProtobufCMessage **)&op->op, errmsg);
	if (rv < 0) {
		keel_free(op);
		return rv;
	}
	*out = op;
	return 0;
}

/* Frees every pending entry of a map. */
static void pend_map_free(struct keel_hmap *m)
{
	size_t pos = 0;
	const char *key;
	void *v;

	while (keel_hmap_next(m, &pos, &key, &v))
		keel_free(v);
	keel_hmap_free(m);
}

/* Drops the pending entry op owns (it was applied or dropped). */
static void op_release_pending(struct registrar_op *op)
{
	if (op->pend && op->pend->op == op) {
		keel_hmap_del(op->pend_map, op->pend->id);
		keel_free(op->pend);
	}
	op->pend = NULL;
}

/* ---- Tickets: one log call each ---- */

struct registrar_ticket *registrar_ticket_new(struct registrar *r, enum registrar_ticket_kind kind)
{
	struct registrar_ticket *t = keel_calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->r = r;
	t->kind = kind;
	t->start_ns = keel_loop_clock_ns();
	return t;
}

void registrar_ticket_link(struct registrar *r, struct registrar_ticket *t)
{
	t->next = NULL;
	*r->tickets_tail = t;
	r->tickets_tail = &t->next;
}

/* Unlinks the newest ticket (a call that failed synchronously). */
static void ticket_unlink_last(struct registrar *r, struct registrar_ticket *t)
{
	struct registrar_ticket **pp = &r->tickets;

	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	*pp = t->next;
	if (r->tickets_tail == &t->next)
		r->tickets_tail = pp;
}

void registrar_on_log_done(struct replog *log, int status, uint64_t position, void *arg)
{
	struct registrar_ticket *t = arg;

	(void)log;
	if (t->r == NULL) {
		/* The registrar closed or failed: nobody waits for this. */
		op_list_free(t->ops);
		keel_free(t);
		return;
	}
	t->done = true;
	t->status = status;
	t->position = position;
	registrar_kick(t->r);
}

/* Drops every queued and in-flight operation without callbacks; detaches tickets. */
static void registrar_drop_all(struct registrar *r)
{
	struct registrar_ticket *t = r->tickets;

	op_list_free(r->queue);
	r->queue = NULL;
	r->queue_tail = &r->queue;
	while (t) {
		struct registrar_ticket *next = t->next;
		op_list_free(t->ops);
		t->ops = NULL;
		if (t->done || !r->cfg.log)
			keel_free(t);
		else
			t->r = NULL; /* freed when the log calls back */
		t = next;
	}
	r->tickets = NULL;
	r->tickets_tail = &r->tickets;
	pend_map_free(&r->pend_agents);
	pend_map_free(&r->pend_frameworks);
	r->queued = 0;
}

/* ---- Fail-stop ---- */

static void timer_stop(struct keel_timer *t)
{
	if (t)
		keel_timer_stop(t);
}

void registrar_fatal(struct registrar *r, int err, const char *fmt, ...)
{
	va_list ap;

	if (!registrar_alive(r))
		return;
	va_start(ap, fmt);
	vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
	va_end(ap);
	r->phase = REGISTRAR_FAILED;
	timer_stop(r->kick);
	timer_stop(r->store_timer);
	timer_stop(r->fetch_timer);
	timer_stop(r->retry_timer);
	registrar_drop_all(r);
	keel_buf_free(&r->snap);
	r->snapshotting = false;
	KEEL_ERROR(REGISTRAR_LOG, "cannot persist the registry, stopping: %s", r->errmsg);
	r->cfg.on_fatal(r, err, r->errmsg, r->cfg.fatal_arg);
}

void registrar_fatal_log(struct registrar *r, int err, const char *what)
{
	const char *m = r->cfg.log ? replog_errmsg(r->cfg.log) : NULL;

	if (m == NULL || m[0] == '\0')
		registrar_fatal(r, err, "%s: %s", what, strerror(-err));
	else
		registrar_fatal(r, err, "%s: %s (log: %s)", what, strerror(-err), m);
}

/* ---- Progress: completions in order, then the next append ---- */

void registrar_kick(struct registrar *r)
{
	int rv;

	if (!registrar_alive(r) || keel_timer_active(r->kick))
		return;
	rv = keel_timer_start(r->kick, 0, 0);
	if (rv < 0) {
		registrar_enter(r);
		registrar_fatal(r, rv, "cannot schedule the registrar: out of memory");
		registrar_leave(r);
	}
}

/* A batch is durable (or failed): apply its operations in order and call back. */
static void registrar_batch_done(struct registrar *r, struct registrar_ticket *t)
{
	struct registrar_op *op;
	int rv;

	if (t->status < 0) {
		registrar_fatal_log(r, t->status, "registry append failed");
		return;
	}
	if (r->cfg.log)
		r->last_pos = t->position;
	r->stats.appends++;
	r->stats.state_store_ms = (double)(keel_loop_clock_ns() - t->start_ns) / 1e6;
	r->batch_bytes += t->bytes;
	while ((op = t->ops) != NULL) {
		registrar_done_cb cb = op->cb;
		void *arg = op->arg;
		bool internal = op->internal;

		t->ops = op->next;
		if (op->op->op_case == KEEL__REGISTRY__OPERATION__OP_PRUNE) {
			const Keel__Registry__Operation__Prune *p = op->op->prune;
			for (size_t i = 0; i < p->n_unreachable + p->n_gone; i++) {
				const Mesos__V1__AgentID *id = i < p->n_unreachable
								   ? p->unreachable[i]
								   : p->gone[i - p->n_unreachable];
				struct registrar_pending *pe =
				    keel_hmap_get(&r->pend_agents, id->value);
				if (pe && pe->op == op) {
					keel_hmap_del(&r->pend_agents, pe->id);
					keel_free(pe);
				}
			}
		}
		op_release_pending(op);
		rv = registry_apply(&r->reg, op->op, r->errmsg);
		registrar_op_free(op);
		if (rv < 0) {
			char msg[KEEL_ERRMSG_SIZE];
			snprintf(msg, sizeof(msg), "%s", r->errmsg);
			registrar_fatal(r, rv, "cannot apply a durable operation: %s", msg);
			return;
		}
		if (!internal) {
			r->queued--;
			r->stats.operations++;
		}
		if (cb)
			cb(r, 0, arg);
		if (!registrar_alive(r))
			return;
	}
}

/* Writes varint v at p; returns its length. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t varint_size(uint64_t v)
{
	uint8_t tmp[10];
	return put_varint(tmp, v);
}

/*
 * Packs Entry{batch: Batch{operations}} from the operations' packed bytes
 * (field 1 of both messages, length-delimited), so the registry is never packed.
 */
static uint8_t *batch_encode(const struct registrar_op *ops, size_t *len)
{
	size_t inner = 0, n = 0;
	uint8_t *buf;

	for (const struct registrar_op *op = ops; op; op = op->next)
		inner += 1 + varint_size(op->len) + op->len;
	buf = keel_malloc(1 + varint_size(inner) + inner);
	if (buf == NULL)
		return NULL;
	buf[n++] = 0x0a;
	n += put_varint(buf + n, inner);
	for (const struct registrar_op *op = ops; op; op = op->next) {
		buf[n++] = 0x0a;
		n += put_varint(buf + n, op->len);
		memcpy(buf + n, op->bytes, op->len);
		n += op->len;
	}
	*len = n;
	return buf;
}

/* Takes operations off the queue (up to REGISTRAR_BATCH_BYTES) and appends them as one entry. */
static void registrar_batch_send(struct registrar *r)
{
	struct registrar_op *batch = r->queue, *last = r->queue, *prune = NULL;
	struct registrar_ticket *t;
	size_t total = last->len, len;
	uint8_t *buf;
	int rv;

	while (last->next && total + last->next->len <= REGISTRAR_BATCH_BYTES) {
		last = last->next;
		total += last->len;
	}
	r->queue = last->next;
	if (r->queue == NULL)
		r->queue_tail = &r->queue;
	last->next = NULL;

	/* Until linked to its ticket, the batch is ours to free; a fatal error drops the
	 * pending entries that still point at it. */
	rv = registrar_prune_plan(r, batch, &prune);
	if (rv < 0) {
		op_list_free(batch);
		registrar_fatal(r, rv, "cannot plan pruning: out of memory");
		return;
	}
	last->next = prune;
	buf = batch_encode(batch, &len);
	t = buf ? registrar_ticket_new(r, REGISTRAR_TICKET_BATCH) : NULL;
	if (t == NULL) {
		keel_free(buf);
		op_list_free(batch);
		registrar_fatal(r, -ENOMEM, "cannot build a registry batch: out of memory");
		return;
	}
	t->ops = batch;
	registrar_ticket_link(r, t);
	t->bytes = len;
	if (r->cfg.log == NULL) {
		/* In memory: durable at once, applied on the next turn. */
		keel_free(buf);
		t->done = true;
		registrar_kick(r);
		return;
	}
	rv = replog_writer_append(r->cfg.log, buf, len, registrar_on_log_done, t);
	keel_free(buf);
	if (rv < 0) {
		ticket_unlink_last(r, t);
		op_list_free(t->ops);
		keel_free(t);
		registrar_fatal_log(r, rv, "registry append refused");
	}
}

/* Starts whatever comes next when nothing is in flight. */
static void registrar_flush(struct registrar *r)
{
	switch (r->phase) {
	case REGISTRAR_STARTING:
		registrar_recover_step(r);
		return;
	case REGISTRAR_REPLAYING:
		registrar_recover_replay(r);
		break;
	case REGISTRAR_UPDATING:
	case REGISTRAR_READY:
		break;
	default:
		return;
	}
	if (!registrar_alive(r) || r->tickets != NULL || r->snapshotting)
		return;
	if (registrar_snapshot_due(r)) {
		registrar_snapshot_start(r);
		return;
	}
	if (r->queue)
		registrar_batch_send(r);
}

/* The oldest append not yet durable, or NULL. */
static struct registrar_ticket *oldest_store(const struct registrar *r)
{
	for (struct registrar_ticket *t = r->tickets; t; t = t->next)
		if (t->kind != REGISTRAR_TICKET_START && !t->done)
			return t;
	return NULL;
}

static void registrar_store_timer_rearm(struct registrar *r)
{
	struct registrar_ticket *t = oldest_store(r);
	uint64_t elapsed_ms, left;

	if (t == NULL || r->cfg.log == NULL) {
		keel_timer_stop(r->store_timer);
		return;
	}
	elapsed_ms = (keel_loop_clock_ns() - t->start_ns) / 1000000u;
	left = elapsed_ms >= r->cfg.store_timeout_ms ? 0 : r->cfg.store_timeout_ms - elapsed_ms;
	if (keel_timer_start(r->store_timer, left, 0) < 0)
		registrar_fatal(r, -ENOMEM, "cannot arm the store timeout: out of memory");
}

static void registrar_progress(struct registrar *r)
{
	struct registrar_ticket *t;

	while (registrar_alive(r) && (t = r->tickets) != NULL && t->done) {
		r->tickets = t->next;
		if (r->tickets == NULL)
			r->tickets_tail = &r->tickets;
		switch (t->kind) {
		case REGISTRAR_TICKET_START:
			registrar_recover_started(r, t);
			break;
		case REGISTRAR_TICKET_BATCH:
			registrar_batch_done(r, t);
			break;
		default:
			registrar_snapshot_done(r, t);
			break;
		}
		op_list_free(t->ops);
		keel_free(t);
	}
	if (registrar_alive(r))
		registrar_flush(r);
	if (registrar_alive(r))
		registrar_store_timer_rearm(r);
}

/* The kick and the retry timers: make whatever progress is possible now. */
static void registrar_on_progress(struct keel_timer *timer, void *arg)
{
	struct registrar *r = arg;

	(void)timer;
	registrar_enter(r);
	registrar_progress(r);
	registrar_leave(r);
}

static void registrar_on_store_timeout(struct keel_timer *timer, void *arg)
{
	struct registrar *r = arg;
	struct registrar_ticket *t;

	(void)timer;
	registrar_enter(r);
	t = oldest_store(r);
	if (t && keel_loop_clock_ns() - t->start_ns >= (uint64_t)r->cfg.store_timeout_ms * 1000000u)
		registrar_fatal(r, -ETIMEDOUT,
				"the registry store did not complete within %" PRIu32
				" ms (no quorum of log replicas?)",
				r->cfg.store_timeout_ms);
	else if (registrar_alive(r))
		registrar_store_timer_rearm(r);
	registrar_leave(r);
}

static void registrar_on_fetch_timeout(struct keel_timer *timer, void *arg)
{
	struct registrar *r = arg;

	(void)timer;
	registrar_enter(r);
	if (r->phase == REGISTRAR_STARTING || r->phase == REGISTRAR_REPLAYING)
		registrar_fatal(r, -ETIMEDOUT,
				"the registry fetch did not complete within %" PRIu32
				" ms (no quorum of log replicas?)",
				r->cfg.fetch_timeout_ms);
	registrar_leave(r);
}

/* ---- Open and close ---- */

int registrar_open(struct keel_loop *loop, const struct registrar_config *cfg,
		   struct registrar **out, char *errmsg)
{
	struct registrar *r;
	int rv = 0;

	if (loop == NULL || cfg == NULL || out == NULL)
		return keel_errf(errmsg, -EINVAL, "registrar: loop, config and out are required");
	if (cfg->on_fatal == NULL)
		return keel_errf(errmsg, -EINVAL, "registrar: on_fatal is required");
	if (cfg->chunk_bytes != 0 &&
	    (cfg->chunk_bytes < REGISTRAR_CHUNK_MIN || cfg->chunk_bytes > REGISTRAR_CHUNK_MAX))
		return keel_errf(errmsg, -EINVAL,
				 "registrar: chunk_bytes %zu out of range [%zu, %zu]",
				 cfg->chunk_bytes, REGISTRAR_CHUNK_MIN, REGISTRAR_CHUNK_MAX);
	r = keel_calloc(1, sizeof(*r));
	if (r == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	r->loop = loop;
	r->cfg = *cfg;
	if (r->cfg.fetch_timeout_ms == 0)
		r->cfg.fetch_timeout_ms = REGISTRAR_FETCH_TIMEOUT_MS;
	if (r->cfg.store_timeout_ms == 0)
		r->cfg.store_timeout_ms = REGISTRAR_STORE_TIMEOUT_MS;
	if (r->cfg.max_agent_age_ms == 0)
		r->cfg.max_agent_age_ms = REGISTRAR_MAX_AGENT_AGE_MS;
	if (r->cfg.max_agent_count == 0)
		r->cfg.max_agent_count = REGISTRAR_MAX_AGENT_COUNT;
	if (r->cfg.snapshot_bytes == 0)
		r->cfg.snapshot_bytes = REGISTRAR_SNAPSHOT_BYTES;
	if (r->cfg.chunk_bytes == 0)
		r->cfg.chunk_bytes = REGISTRAR_CHUNK_BYTES;
	r->phase = REGISTRAR_NEW;
	registry_init(&r->reg);
	r->queue_tail = &r->queue;
	r->tickets_tail = &r->tickets;
	if ((rv = keel_timer_new(loop, registrar_on_progress, r, &r->kick)) < 0 ||
	    (rv = keel_timer_new(loop, registrar_on_store_timeout, r, &r->store_timer)) < 0 ||
	    (rv = keel_timer_new(loop, registrar_on_fetch_timeout, r, &r->fetch_timer)) < 0 ||
	    (rv = keel_timer_new(loop, registrar_on_progress, r, &r->retry_timer)) < 0) {
		registrar_close(r);
		return keel_errf(errmsg, rv, "out of memory");
	}
	*out = r;
	return 0;
}

void registrar_close(struct registrar *r)
{
	if (r == NULL || r->closed)
		return;
	registrar_drop_all(r);
	keel_timer_free(r->kick);
	keel_timer_free(r->store_timer);
	keel_timer_free(r->fetch_timer);
	keel_timer_free(r->retry_timer);
	r->kick = r->store_timer = r->fetch_timer = r->retry_timer = NULL;
	registry_free(&r->reg);
	keel_buf_free(&r->snap);
	keel_pbjson_free(r->master_info ? &r->master_info->base : NULL);
	r->master_info = NULL;
	if (r->depth > 0) {
		r->closed = true; /* freed when the callback we are in returns */
		return;
	}
	keel_free(r);
}

/* ---- Queueing operations ---- */

static int registrar_ready(const struct registrar *r)
{
	if (r->phase == REGISTRAR_FAILED)
		return -ESHUTDOWN;
	if (r->phase != REGISTRAR_READY)
		return -EAGAIN;
	return 0;
}

/*
 * Links op at the queue's tail and makes sure a flush will run. With `map`,
 * op takes the pending entry of `id` there (creating it) with projected state
 * `to`. On error nothing changed and op is freed.
 */
static int registrar_enqueue(struct registrar *r, struct registrar_op *op, struct keel_hmap *map,
			     const char *id, struct registrar_pending *pend,
			     enum registrar_agent_state to, registrar_done_cb cb, void *arg)
{
	struct registrar_op *old_op = NULL;
	enum registrar_agent_state old_state = REGISTRAR_AGENT_UNKNOWN;
	bool created = false;
	int rv;

	if (map) {
		if (pend == NULL) {
			size_t n = strlen(id);
			pend = keel_calloc(1, sizeof(*pend) + n + 1);
			if (pend == NULL) {
				registrar_op_free(op);
				return -ENOMEM;
			}
			memcpy(pend->id, id, n + 1);
			rv = keel_hmap_put(map, pend->id, pend, NULL);
			if (rv < 0) {
				keel_free(pend);
				registrar_op_free(op);
				return rv;
			}
			created = true;
		} else {
			old_op = pend->op;
			old_state = pend->state;
		}
		pend->op = op;
		pend->state = to;
		op->pend = pend;
		op->pend_map = map;
	}
	if (r->tickets == NULL && !keel_timer_active(r->kick)) {
		rv = keel_timer_start(r->kick, 0, 0);
		if (rv < 0) {
			if (created) {
				keel_hmap_del(map, pend->id);
				keel_free(pend);
			} else if (map) {
				pend->op = old_op;
				pend->state = old_state;
			}
			registrar_op_free(op);
			return rv;
		}
	}
	op->cb = cb;
	op->arg = arg;
	*r->queue_tail = op;
	r->queue_tail = &op->next;
	if (!op->internal)
		r->queued++;
	return 0;
}

int registrar_queue_internal(struct registrar *r, const Keel__Registry__Operation *msg,
			     registrar_done_cb cb, void *arg)
{
	struct registrar_op *op;
	int rv = registrar_op_new(msg, &op, r->errmsg);

	if (rv < 0)
		return rv;
	op->internal = true;
	return registrar_enqueue(r, op, NULL, NULL, NULL, REGISTRAR_AGENT_UNKNOWN, cb, arg);
}

int registrar_queue(struct registrar *r, const Keel__Registry__Operation *msg, registrar_done_cb cb,
		    void *arg)
{
	struct registrar_op *op;
	int rv;

	if ((rv = registrar_ready(r)) < 0 || (rv = registrar_op_new(msg, &op, r->errmsg)) < 0)
		return rv;
	return registrar_enqueue(r, op, NULL, NULL, NULL, REGISTRAR_AGENT_UNKNOWN, cb, arg);
}

/*
 * The state an ID will have once everything queued is applied. -EBUSY when an
 * operation on it is queued (a pending entry left by a queued prune does not
 * count: the new operation goes after the prune).
 */
static int projected_agent(struct registrar *r, const char *id, enum registrar_agent_state *st,
			   struct registrar_pending **pend)
{
	struct registrar_pending *p = keel_hmap_get(&r->pend_agents, id);
	struct registry_agent *a;

	if (p && !p->op->internal)
		return -EBUSY;
	*pend = p;
	if (p) {
		*st = p->state;
		return 0;
	}
	a = registry_agent_find(&r->reg, id);
	*st = a ? a->state : REGISTRAR_AGENT_UNKNOWN;
	return 0;
}

static const char *valid_id(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Checks, copies and queues an operation on agent `id`; `errs[state]` is the error for each
 * projected state (0: allowed). */
static int submit_agent(struct registrar *r, const char *id, const int errs[4],
			enum registrar_agent_state to, const Keel__Registry__Operation *msg,
			registrar_done_cb cb, void *arg)
{
	struct registrar_pending *pend;
	enum registrar_agent_state st;
	struct registrar_op *op;
	int rv;

	if ((rv = registrar_ready(r)) < 0)
		return rv;
	if (id == NULL)
		return -EINVAL;
	rv = keel_pbjson_check(&msg->base, NULL);
	if (rv < 0)
		return rv;
	rv = projected_agent(r, id, &st, &pend);
	if (rv < 0)
		return rv;
	if (errs[st] < 0)
		return errs[st];
	rv = registrar_op_new(msg, &op, NULL);
	if (rv < 0)
		return rv;
	return registrar_enqueue(r, op, &r->pend_agents, id, pend, to, cb, arg);
}

static const char *agent_info_id(const Mesos__V1__AgentInfo *info)
{
	return info && info->id ? valid_id(info->id->value) : NULL;
}

int registrar_admit_agent(struct registrar *r, const Mesos__V1__AgentInfo *info,
			  registrar_done_cb cb, void *arg)
{
	static const int errs[4] = {0, -EEXIST, -EEXIST, -EEXIST};
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__AdmitAgent body = KEEL__REGISTRY__OPERATION__ADMIT_AGENT__INIT;

	body.info = (Mesos__V1__AgentInfo *)info;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_ADMIT_AGENT;
	msg.admit_agent = &body;
	return submit_agent(r, agent_info_id(info), errs, REGISTRAR_AGENT_ADMITTED, &msg, cb, arg);
}

/* MarkAgentUnreachable and MarkAgentGone share a shape. */
static int submit_mark(struct registrar *r, const char *agent_id, int64_t time_ns, bool gone,
		       registrar_done_cb cb, void *arg)
{
	static const int unreach_errs[4] = {-ENOENT, 0, -ENOENT, -ENOENT};
	static const int gone_errs[4] = {-ENOENT, 0, 0, -EEXIST};
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__MarkAgentUnreachable u =
	    KEEL__REGISTRY__OPERATION__MARK_AGENT_UNREACHABLE__INIT;
	Keel__Registry__Operation__MarkAgentGone g =
	    KEEL__REGISTRY__OPERATION__MARK_AGENT_GONE__INIT;
	Mesos__V1__AgentID id = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TimeInfo ts = MESOS__V1__TIME_INFO__INIT;

	id.value = (char *)agent_id;
	ts.nanoseconds = time_ns;
	if (gone) {
		g.id = &id;
		g.timestamp = &ts;
		msg.op_case = KEEL__REGISTRY__OPERATION__OP_MARK_GONE;
		msg.mark_gone = &g;
		return submit_agent(r, valid_id(agent_id), gone_errs, REGISTRAR_AGENT_GONE, &msg,
				    cb, arg);
	}
	u.id = &id;
	u.timestamp = &ts;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_MARK_UNREACHABLE;
	msg.mark_unreachable = &u;
	return submit_agent(r, valid_id(agent_id), unreach_errs, REGISTRAR_AGENT_UNREACHABLE, &msg,
			    cb, arg);
}

int registrar_mark_unreachable(struct registrar *r, const char *agent_id, int64_t time_ns,
			       registrar_done_cb cb, void *arg)
{
	return submit_mark(r, agent_id, time_ns, false, cb, arg);
}

int registrar_mark_gone(struct registrar *r, const char *agent_id, int64_t time_ns,
			registrar_done_cb cb, void *arg)
{
	return submit_mark(r, agent_id, time_ns, true, cb, arg);
}

int registrar_mark_reachable(struct registrar *r, const Mesos__V1__AgentInfo *info,
			     registrar_done_cb cb, void *arg)
{
	static const int errs[4] = {-ENOENT, -ENOENT, 0, -ENOENT};
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__MarkAgentReachable body =
	    KEEL__REGISTRY__OPERATION__MARK_AGENT_REACHABLE__INIT;

	body.info = (Mesos__V1__AgentInfo *)info;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_MARK_REACHABLE;
	msg.mark_reachable = &body;
	return submit_agent(r, agent_info_id(info), errs, REGISTRAR_AGENT_ADMITTED, &msg, cb, arg);
}

int registrar_remove_agent(struct registrar *r, const char *agent_id, registrar_done_cb cb,
			   void *arg)
{
	static const int errs[4] = {-ENOENT, 0, -ENOENT, -ENOENT};
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__RemoveAgent body = KEEL__REGISTRY__OPERATION__REMOVE_AGENT__INIT;
	Mesos__V1__AgentID id = MESOS__V1__AGENT_ID__INIT;

	id.value = (char *)agent_id;
	body.id = &id;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_REMOVE_AGENT;
	msg.remove_agent = &body;
	return submit_agent(r, valid_id(agent_id), errs, REGISTRAR_AGENT_UNKNOWN, &msg, cb, arg);
}

int registrar_update_agent_drain(struct registrar *r, const char *agent_id, bool deactivated,
				 const Mesos__V1__DrainInfo *drain, registrar_done_cb cb, void *arg)
{
	static const int errs[4] = {-ENOENT, 0, -ENOENT, -ENOENT};
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__UpdateAgentDrain body =
	    KEEL__REGISTRY__OPERATION__UPDATE_AGENT_DRAIN__INIT;
	Mesos__V1__AgentID id = MESOS__V1__AGENT_ID__INIT;

	id.value = (char *)agent_id;
	body.id = &id;
	body.has_deactivated = true;
	body.deactivated = deactivated;
	body.drain_info = (Mesos__V1__DrainInfo *)drain;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_AGENT_DRAIN;
	msg.update_agent_drain = &body;
	return submit_agent(r, valid_id(agent_id), errs, REGISTRAR_AGENT_ADMITTED, &msg, cb, arg);
}

bool registrar_agent_drain(const struct registrar *r, const char *agent_id,
			   const Mesos__V1__DrainInfo **drain)
{
	const struct registry_agent *a = agent_id ? registry_agent_find(&r->reg, agent_id) : NULL;

	if (drain)
		*drain = a ? a->drain : NULL;
	return a != NULL && a->deactivated;
}

/* Frameworks: projected state ADMITTED (exists) or UNKNOWN. */
static int submit_framework(struct registrar *r, const char *id, bool add,
			    const Keel__Registry__Operation *msg, registrar_done_cb cb, void *arg)
{
	struct registrar_pending *p;
	struct registrar_op *op;
	bool exists;
	int rv;

	if ((rv = registrar_ready(r)) < 0)
		return rv;
	if (id == NULL)
		return -EINVAL;
	rv = keel_pbjson_check(&msg->base, NULL);
	if (rv < 0)
		return rv;
	p = keel_hmap_get(&r->pend_frameworks, id);
	if (p)
		return -EBUSY;
	exists = keel_hmap_get(&r->reg.frameworks, id) != NULL;
	if (add && exists)
		return -EEXIST;
	if (!add && !exists)
		return -ENOENT;
	rv = registrar_op_new(msg, &op, NULL);
	if (rv < 0)
		return rv;
	return registrar_enqueue(r, op, &r->pend_frameworks, id, NULL,
				 add ? REGISTRAR_AGENT_ADMITTED : REGISTRAR_AGENT_UNKNOWN, cb, arg);
}

int registrar_add_framework(struct registrar *r, const Mesos__V1__FrameworkInfo *info,
			    registrar_done_cb cb, void *arg)
{
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__AddFramework body =
	    KEEL__REGISTRY__OPERATION__ADD_FRAMEWORK__INIT;

	body.info = (Mesos__V1__FrameworkInfo *)info;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_ADD_FRAMEWORK;
	msg.add_framework = &body;
	return submit_framework(r, info && info->id ? valid_id(info->id->value) : NULL, true, &msg,
				cb, arg);
}

int registrar_update_framework(struct registrar *r, const Mesos__V1__FrameworkInfo *info,
			       registrar_done_cb cb, void *arg)
{
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__UpdateFramework body =
	    KEEL__REGISTRY__OPERATION__UPDATE_FRAMEWORK__INIT;

	body.info = (Mesos__V1__FrameworkInfo *)info;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_FRAMEWORK;
	msg.update_framework = &body;
	/* It must exist, like a removal (the projected state is not read for frameworks). */
	return submit_framework(r, info && info->id ? valid_id(info->id->value) : NULL, false, &msg,
				cb, arg);
}

int registrar_remove_framework(struct registrar *r, const char *framework_id, registrar_done_cb cb,
			       void *arg)
{
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__RemoveFramework body =
	    KEEL__REGISTRY__OPERATION__REMOVE_FRAMEWORK__INIT;
	Mesos__V1__FrameworkID id = MESOS__V1__FRAMEWORK_ID__INIT;

	id.value = (char *)framework_id;
	body.id = &id;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_REMOVE_FRAMEWORK;
	msg.remove_framework = &body;
	return submit_framework(r, valid_id(framework_id), false, &msg, cb, arg);
}

/* ---- Lookups ---- */

enum registrar_agent_state registrar_agent_state(const struct registrar *r, const char *agent_id,
						 const Mesos__V1__AgentInfo **info,
						 int64_t *time_ns)
{
	const struct registry_agent *a = agent_id ? registry_agent_find(&r->reg, agent_id) : NULL;

	if (info)
		*info = a ? a->info : NULL;
	if (time_ns)
		*time_ns = a && a->state != REGISTRAR_AGENT_ADMITTED ? a->time_ns : 0;
	return a ? a->state : REGISTRAR_AGENT_UNKNOWN;
}

void registrar_foreach_agent(const struct registrar *r, enum registrar_agent_state state,
			     bool (*fn)(const Mesos__V1__AgentInfo *info, const char *agent_id,
					int64_t time_ns, void *arg),
			     void *arg)
{
	const struct keel_hmap *m = registry_agent_map(&r->reg, state);
	size_t pos = 0;
	const char *key;
	void *v;

	if (m == NULL)
		return;
	while (keel_hmap_next(m, &pos, &key, &v)) {
		const struct registry_agent *a = v;
		if (!fn(a->info, a->id, state == REGISTRAR_AGENT_ADMITTED ? 0 : a->time_ns, arg))
			return;
	}
}

size_t registrar_count_agents(const struct registrar *r, enum registrar_agent_state state)
{
	const struct keel_hmap *m = registry_agent_map(&r->reg, state);

	return m ? m->count : 0;
}

const Mesos__V1__MasterInfo *registrar_master(const struct registrar *r)
{
	return r->reg.master;
}

const Mesos__V1__FrameworkInfo *registrar_framework(const struct registrar *r,
						    const char *framework_id)
{
	const struct registry_framework *f =
	    framework_id ? keel_hmap_get(&r->reg.frameworks, framework_id) : NULL;

	return f ? f->info : NULL;
}

size_t registrar_count_frameworks(const struct registrar *r)
{
	return r->reg.frameworks.count;
}

void registrar_get_stats(const struct registrar *r, struct registrar_stats *out)
{
	*out = r->stats;
	out->queued = r->queued;
	out->registry_size = r->reg.size;
}
