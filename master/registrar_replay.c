/* Replay of registry log entries: batches apply their operations, complete snapshots replace. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "master/registrar_int.h"
#include "runtime/err.h"
#include "runtime/pbjson.h"

void registry_replay_init(struct registry_replay *rp, struct registry *reg)
{
	memset(rp, 0, sizeof(*rp));
	rp->reg = reg;
}

void registry_replay_free(struct registry_replay *rp)
{
	keel_buf_free(&rp->snap);
	rp->assembling = false;
}

static void replay_drop(struct registry_replay *rp)
{
	rp->assembling = false;
	keel_buf_free(&rp->snap);
}

static int replay_batch(struct registry_replay *rp, uint64_t position, Keel__Registry__Batch *b,
			size_t len, char *errmsg)
{
	/* Anything between a snapshot's chunks means the snapshot was never finished. */
	replay_drop(rp);
	for (size_t i = 0; i < b->n_operations; i++) {
		int rv;

		if (b->operations[i] == NULL)
			continue;
		rv = registry_apply(rp->reg, b->operations[i], errmsg);
		if (rv < 0)
			return keel_errwrap(errmsg, rv, "log position %" PRIu64 " operation %zu",
					    position, i);
		rp->operations++;
	}
	rp->batch_bytes += len;
	return 0;
}

static int replay_complete(struct registry_replay *rp, char *errmsg)
{
	static const uint8_t empty[1];
	Keel__Registry__Registry *msg = NULL;
	size_t size = keel_buf_size(&rp->snap);
	const void *data = rp->snap.data ? (const void *)keel_buf_rptr(&rp->snap) : empty;
	int rv;

	rv = keel_pbjson_unpack(&keel__registry__registry__descriptor, data, size,
				(ProtobufCMessage **)&msg, errmsg);
	if (rv == 0) {
		rv = registry_load(rp->reg, msg, errmsg);
		keel_pbjson_free(&msg->base);
	}
	replay_drop(rp);
	if (rv < 0)
		return keel_errwrap(errmsg, rv, "snapshot %" PRIu64, rp->snap_id);
	rp->have_snapshot = true;
	rp->last_snapshot = rp->snap_id;
	rp->snapshot_bytes = size;
	rp->batch_bytes = 0;
	rp->snapshots++;
	return 0;
}

static int replay_chunk(struct registry_replay *rp, uint64_t position,
			const Keel__Registry__SnapshotChunk *c, char *errmsg)
{
	int rv;

	if (c->index == 0) {
		replay_drop(rp);
		/* A first chunk not at its own id, or of no chunks, is no snapshot. */
		if (c->id != position || c->count == 0)
			return 0;
		rp->assembling = true;
		rp->snap_id = c->id;
		rp->snap_count = c->count;
		rp->snap_next = 0;
	} else if (!rp->assembling || c->id != rp->snap_id || c->count != rp->snap_count ||
		   c->index != rp->snap_next || position - rp->snap_id != c->index) {
		replay_drop(rp);
		return 0;
	}
	if (c->data.len > REGISTRY_SNAPSHOT_MAX - keel_buf_size(&rp->snap)) {
		replay_drop(rp);
		return 0;
	}
	rv = c->data.len ? keel_buf_append(&rp->snap, c->data.data, c->data.len) : 0;
	if (rv < 0) {
		replay_drop(rp);
		return keel_errf(errmsg, rv, "log position %" PRIu64 ": out of memory", position);
	}
	rp->snap_next++;
	if (rp->snap_next == rp->snap_count)
		return replay_complete(rp, errmsg);
	return 0;
}

int registry_replay_entry(struct registry_replay *rp, uint64_t position, const void *data,
			  size_t len, char *errmsg)
{
	Keel__Registry__Entry *e = NULL;
	int rv;

	rp->entries++;
	rv = keel_pbjson_unpack(&keel__registry__entry__descriptor, data, len,
				(ProtobufCMessage **)&e, errmsg);
	if (rv < 0)
		return keel_errwrap(errmsg, rv, "log position %" PRIu64 " is not a registry entry",
				    position);
	switch (e->kind_case) {
	case KEEL__REGISTRY__ENTRY__KIND_BATCH:
		rv = replay_batch(rp, position, e->batch, len, errmsg);
		break;
	case KEEL__REGISTRY__ENTRY__KIND_SNAPSHOT:
		rv = replay_chunk(rp, position, e->snapshot, errmsg);
		break;
	default:
		rv = keel_errf(errmsg, -EINVAL, "log position %" PRIu64 ": empty registry entry",
			       position);
		break;
	}
	keel_pbjson_free(&e->base);
	return rv;
}
