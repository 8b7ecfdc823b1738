/* Snapshots: the packed registry written as consecutive chunk appends, then truncation below it. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "master/registrar_int.h"
#include "replog/replog.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/log.h"

#define REGISTRAR_LOG "registrar"

/*
 * Due after snapshot_bytes of batches, or after as many bytes as the last
 * snapshot held when that is more: writing snapshots then costs at most as
 * much as the operations since the last one, so a change keeps costing what
 * it changes even when the registry is larger than snapshot_bytes.
 */
bool registrar_snapshot_due(const struct registrar *r)
{
	return r->cfg.log != NULL && r->batch_bytes >= r->cfg.snapshot_bytes &&
	       r->batch_bytes >= r->snapshot_size;
}

/*
 * Packs the registry and starts appending its chunks. Nothing else is in
 * flight (the caller checked), so the first chunk lands right after the last
 * position this writer wrote; operations queue until the truncation is done.
 */
void registrar_snapshot_start(struct registrar *r)
{
	size_t size, count;
	int rv;

	keel_buf_clear(&r->snap);
	rv = registry_pack(&r->reg, false, &r->snap, r->errmsg);
	if (rv < 0) {
		registrar_fatal(r, rv, "cannot pack a registry snapshot: out of memory");
		return;
	}
	size = keel_buf_size(&r->snap);
	count = size == 0 ? 1 : (size + r->cfg.chunk_bytes - 1) / r->cfg.chunk_bytes;
	if (count > UINT32_MAX) {
		registrar_fatal(r, -EFBIG, "registry snapshot of %zu bytes has too many chunks",
				size);
		return;
	}
	r->snapshotting = true;
	r->snapshot_size = size;
	r->snap_id = r->last_pos + 1;
	r->snap_count = (uint32_t)count;
	r->snap_sent = 0;
	r->snap_done = 0;
	KEEL_INFO(REGISTRAR_LOG,
		  "writing a registry snapshot of %zu bytes in %zu chunks at log position %" PRIu64,
		  size, count, r->snap_id);
	registrar_snapshot_send(r);
}

/* Appends chunks while fewer than REGISTRAR_CHUNK_WINDOW are in flight. */
void registrar_snapshot_send(struct registrar *r)
{
	while (r->snap_sent < r->snap_count &&
	       r->snap_sent - r->snap_done < REGISTRAR_CHUNK_WINDOW) {
		Keel__Registry__Entry e = KEEL__REGISTRY__ENTRY__INIT;
		Keel__Registry__SnapshotChunk c = KEEL__REGISTRY__SNAPSHOT_CHUNK__INIT;
		size_t off = (size_t)r->snap_sent * r->cfg.chunk_bytes, n, len;
		struct registrar_ticket *t;
		uint8_t *buf;
		int rv;

		n = KEEL_MIN(r->cfg.chunk_bytes, keel_buf_size(&r->snap) - off);
		c.id = r->snap_id;
		c.index = r->snap_sent;
		c.count = r->snap_count;
		c.data.data = (uint8_t *)keel_buf_rptr(&r->snap) + off;
		c.data.len = n;
		e.kind_case = KEEL__REGISTRY__ENTRY__KIND_SNAPSHOT;
		e.snapshot = &c;
		len = protobuf_c_message_get_packed_size(&e.base);
		buf = keel_malloc(len);
		t = buf ? registrar_ticket_new(r, REGISTRAR_TICKET_CHUNK) : NULL;
		if (t == NULL) {
			keel_free(buf);
			registrar_fatal(r, -ENOMEM,
					"cannot write a registry snapshot: out of memory");
			return;
		}
		protobuf_c_message_pack(&e.base, buf);
		t->chunk = r->snap_sent;
		t->bytes = len;
		registrar_ticket_link(r, t);
		rv = replog_writer_append(r->cfg.log, buf, len, registrar_on_log_done, t);
		keel_free(buf);
		if (rv < 0) {
			/* t is the newest ticket: take it back before failing. */
			struct registrar_ticket **pp = &r->tickets;
			while (*pp != t)
				pp = &(*pp)->next;
			*pp = NULL;
			r->tickets_tail = pp;
			keel_free(t);
			registrar_fatal_log(r, rv, "registry snapshot append refused");
			return;
		}
		r->snap_sent++;
	}
}

static void snapshot_truncate(struct registrar *r)
{
	struct registrar_ticket *t = registrar_ticket_new(r, REGISTRAR_TICKET_TRUNCATE);
	int rv;

	if (t == NULL) {
		registrar_fatal(r, -ENOMEM, "cannot truncate the registry log: out of memory");
		return;
	}
	registrar_ticket_link(r, t);
	rv = replog_writer_truncate(r->cfg.log, r->snap_id, registrar_on_log_done, t);
	if (rv < 0) {
		struct registrar_ticket **pp = &r->tickets;
		while (*pp != t)
			pp = &(*pp)->next;
		*pp = NULL;
		r->tickets_tail = pp;
		keel_free(t);
		registrar_fatal_log(r, rv, "registry log truncation refused");
	}
}

void registrar_snapshot_done(struct registrar *r, struct registrar_ticket *t)
{
	if (t->status < 0) {
		registrar_fatal_log(r, t->status,
				    t->kind == REGISTRAR_TICKET_CHUNK
					? "registry snapshot append failed"
					: "registry log truncation failed");
		return;
	}
	r->last_pos = t->position;
	if (t->kind == REGISTRAR_TICKET_TRUNCATE) {
		r->snapshotting = false;
		r->batch_bytes = 0;
		r->stats.snapshots++;
		keel_buf_free(&r->snap);
		return;
	}
	if (t->position != r->snap_id + t->chunk) {
		/* Only this writer appends: anything else means the log is not what we think. */
		registrar_fatal(r, -EPROTO,
				"registry snapshot chunk %" PRIu32
				" landed at log position %" PRIu64 ", expected %" PRIu64,
				t->chunk, t->position, r->snap_id + t->chunk);
		return;
	}
	r->snap_done++;
	if (r->snap_done == r->snap_count)
		snapshot_truncate(r);
	else
		registrar_snapshot_send(r);
}
