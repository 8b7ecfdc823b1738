/* replog wire codec: struct replog_msg <-> protobuf (proto/keel/replog/replog.proto) batches. */
#ifndef KEEL_REPLOG_WIRE_H
#define KEEL_REPLOG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "runtime/buf.h"

/*
 * One HTTP body between two replicas is a keel.replog.Batch: the messages
 * in order. Encoding maps every field of struct replog_msg 1:1; decoding
 * goes through keel_pbjson_unpack (nesting limit) and then checks the shape
 * that needs no configuration: known type with the matching body, known
 * tag, reply, status and action types, node indexes < REPLOG_NODES_MAX,
 * positions <= REPLOG_POSITION_MAX, values <= REPLOG_VALUE_MAX and only on
 * APPEND. The config-dependent checks are replog_msg_validate's (the core
 * runs it on every RECEIVE).
 */

/* Largest batch body a decoder accepts. */
#define REPLOG_WIRE_BODY_MAX ((size_t)REPLOG_VALUE_MAX * 2)

/*
 * Appends the encoding of msgs[0, n) to out. 0, -EINVAL (a message of an
 * unknown type, message in errmsg), -ENOMEM. On error out may hold a
 * partial reservation but no new bytes.
 */
int replog_wire_encode(const struct replog_msg *msgs, size_t n, struct keel_buf *out, char *errmsg);

/* A decoded batch; everything it points at is owned by it. */
struct replog_wire_batch {
	size_t n;		       /* number of messages */
	struct replog_msg *msgs;       /* the messages; values point into `pb` */
	struct replog_action *actions; /* storage for learned / learn_resp entries */
	void *pb;		       /* the unpacked keel.replog.Batch */
};

/*
 * Decodes one batch body into *out (zeroed first). 0; -EINVAL for anything
 * malformed (message in errmsg, naming the message index); -EMSGSIZE for a
 * body over REPLOG_WIRE_BODY_MAX; -ENOMEM. On error *out holds nothing.
 * Free with replog_wire_batch_free.
 */
int replog_wire_decode(const void *buf, size_t len, struct replog_wire_batch *out, char *errmsg);

/* Frees a decoded batch; a zeroed one is fine. */
void replog_wire_batch_free(struct replog_wire_batch *b);

#endif
