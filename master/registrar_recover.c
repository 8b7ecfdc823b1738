/* Recovery: elect the log writer, replay the log into memory, then persist an UpdateMaster. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "master/registrar_int.h"
#include "replog/msg.h"
#include "replog/replog.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

#define REGISTRAR_LOG "registrar"

int registrar_recover(struct registrar *r, const Mesos__V1__MasterInfo *mi, registrar_done_cb cb,
		      void *arg)
{
	Mesos__V1__MasterInfo *copy = NULL;
	uint8_t *buf;
	size_t n;
	int rv;

	if (r->phase == REGISTRAR_FAILED)
		return -ESHUTDOWN;
	if (r->phase != REGISTRAR_NEW)
		return -EALREADY;
	if (mi == NULL || keel_pbjson_check(&mi->base, NULL) < 0)
		return -EINVAL;
	n = protobuf_c_message_get_packed_size(&mi->base);
	buf = keel_malloc(n ? n : 1);
	if (buf == NULL)
		return -ENOMEM;
	protobuf_c_message_pack(&mi->base, buf);
	rv = keel_pbjson_unpack(&mesos__v1__master_info__descriptor, buf, n,
				(ProtobufCMessage **)&copy, NULL);
	keel_free(buf);
	if (rv < 0)
		return rv;
	if (r->cfg.log) {
		rv = keel_timer_start(r->fetch_timer, r->cfg.fetch_timeout_ms, 0);
		if (rv < 0)
			goto fail;
	}
	rv = keel_timer_start(r->kick, 0, 0);
	if (rv < 0) {
		keel_timer_stop(r->fetch_timer);
		goto fail;
	}
	r->master_info = copy;
	r->recover_cb = cb;
	r->recover_arg = arg;
	r->recover_start_ns = keel_loop_clock_ns();
	r->phase = r->cfg.log ? REGISTRAR_STARTING : REGISTRAR_REPLAYING;
	return 0;
fail:
	keel_pbjson_free(&copy->base);
	return rv;
}

static void recover_retry_later(struct registrar *r)
{
	if (keel_timer_start(r->retry_timer, REGISTRAR_START_RETRY_MS, 0) < 0)
		registrar_fatal(r, -ENOMEM, "cannot retry the log writer start: out of memory");
}

/* Starts the writer election, or retries it later while the replica is not VOTING yet. */
void registrar_recover_step(struct registrar *r)
{
	struct registrar_ticket *t;
	int rv;

	if (r->tickets != NULL || keel_timer_active(r->retry_timer))
		return;
	t = registrar_ticket_new(r, REGISTRAR_TICKET_START);
	if (t == NULL) {
		registrar_fatal(r, -ENOMEM, "cannot start the log writer: out of memory");
		return;
	}
	registrar_ticket_link(r, t);
	rv = replog_writer_start(r->cfg.log, registrar_on_log_done, t);
	if (rv == 0)
		return;
	r->tickets = NULL;
	r->tickets_tail = &r->tickets;
	keel_free(t);
	switch (rv) {
	case -EAGAIN: /* the replica is not VOTING yet (recovering, auto-initialising) */
	case -EBUSY:  /* an election is running */
		recover_retry_later(r);
		return;
	case -EALREADY: /* this replica's writer is elected already: it is ours */
		r->log_end = replog_reader_ending(r->cfg.log);
		r->last_pos = r->log_end;
		r->phase = REGISTRAR_REPLAYING;
		registrar_kick(r);
		return;
	default:
		registrar_fatal_log(r, rv, "cannot start the log writer");
	}
}

void registrar_recover_started(struct registrar *r, struct registrar_ticket *t)
{
	if (t->status < 0) {
		registrar_fatal_log(r, t->status, "cannot become the log writer");
		return;
	}
	r->log_end = t->position;
	r->last_pos = t->position;
	r->phase = REGISTRAR_REPLAYING;
}

/* The recovery's UpdateMaster is durable: the registrar serves. */
static void registrar_recover_done(struct registrar *r, int status, void *arg)
{
	registrar_done_cb cb = r->recover_cb;

	(void)arg;
	(void)status;
	r->phase = REGISTRAR_READY;
	r->stats.recovered = true;
	r->recover_cb = NULL;
	KEEL_INFO(REGISTRAR_LOG,
		  "registry recovered: %zu admitted, %zu unreachable, %zu gone agents, "
		  "%zu frameworks (%" PRIu64 " log entries, %.1f ms)",
		  r->reg.admitted.count, r->reg.unreachable.count, r->reg.gone.count,
		  r->reg.frameworks.count, r->stats.recovered_entries, r->stats.state_fetch_ms);
	if (cb)
		cb(r, 0, r->recover_arg);
}

/* Reads [beginning, end] of the log into the registry. */
static int replay_log(struct registrar *r)
{
	struct registry_replay rp;
	uint64_t p, begin = replog_reader_beginning(r->cfg.log);
	int rv = 0;

	registry_replay_init(&rp, &r->reg);
	for (p = begin; p <= r->log_end; p++) {
		const void *value;
		uint8_t type;
		size_t len;

		rv = replog_reader_read(r->cfg.log, p, &type, &value, &len);
		if (rv < 0) {
			char what[64];
			snprintf(what, sizeof(what), "cannot read log position %" PRIu64, p);
			registrar_fatal_log(r, rv, what);
			break;
		}
		if (type != REPLOG_ACTION_APPEND)
			continue;
		rv = registry_replay_entry(&rp, p, value, len, r->errmsg);
		if (rv < 0) {
			char msg[KEEL_ERRMSG_SIZE];
			snprintf(msg, sizeof(msg), "%s", r->errmsg);
			registrar_fatal(r, rv == -ENOMEM ? rv : -EBADMSG,
					"cannot replay the registry log: %s", msg);
			break;
		}
	}
	r->batch_bytes = rp.batch_bytes;
	r->snapshot_size = rp.snapshot_bytes;
	r->stats.recovered_entries = rp.entries;
	registry_replay_free(&rp);
	return rv;
}

void registrar_recover_replay(struct registrar *r)
{
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__UpdateMaster body =
	    KEEL__REGISTRY__OPERATION__UPDATE_MASTER__INIT;
	int rv;

	if (r->cfg.log && replay_log(r) < 0)
		return;
	keel_timer_stop(r->fetch_timer);
	r->stats.state_fetch_ms = (double)(keel_loop_clock_ns() - r->recover_start_ns) / 1e6;
	r->phase = REGISTRAR_UPDATING;
	body.info = r->master_info;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_MASTER;
	msg.update_master = &body;
	rv = registrar_queue_internal(r, &msg, registrar_recover_done, NULL);
	keel_pbjson_free(&r->master_info->base);
	r->master_info = NULL;
	if (rv < 0)
		registrar_fatal(r, rv, "cannot queue the master's update: %s", strerror(-rv));
}
