/* replog storage records: the byte layout of metadata and actions in LMDB, with version and CRC. */
#ifndef KEEL_REPLOG_RECORD_H
#define KEEL_REPLOG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/*
 * Keys: an action is stored under its position as 8 big-endian bytes, so
 * LMDB's byte order is position order. The metadata record lives in its own
 * database under the key "meta".
 *
 * Values (all integers little-endian):
 *
 *	action, version 1:
 *	  0  u8  version (1)
 *	  1  u8  type (enum replog_action_type, NOP/APPEND/TRUNCATE)
 *	  2  u8  flags: bit 0 learned, bit 1 tombstone; other bits 0
 *	  3  u8  reserved, 0
 *	  4  u64 ballot
 *	 12  u64 to (TRUNCATE; 0 otherwise)
 *	 20  u32 value length (APPEND; 0 otherwise)
 *	 24  ... value bytes
 *	 24+len  u32 CRC-32C of the 8 key bytes followed by bytes [0, 24+len)
 *
 *	meta, version 1:
 *	  0  u8  version (1)
 *	  1  u8  status (enum replog_status)
 *	  2  u16 reserved, 0
 *	  4  u64 promised
 *	 12  u64 begin
 *	 20  u32 CRC-32C of bytes [0, 20)
 *
 * The action's checksum covers its key, so a record that ends up under
 * another position is refused like a damaged one.
 */

#define REPLOG_RECORD_VERSION 1
#define REPLOG_RECORD_KEY_SIZE 8
#define REPLOG_RECORD_ACTION_HEADER 24
#define REPLOG_RECORD_META_SIZE 24

/* Bytes the encoding of `a` takes: header + value + checksum. */
size_t replog_record_action_size(const struct replog_action *a);

/*
 * Encodes `a` (its position goes into the checksum) into buf, which has
 * replog_record_action_size(a) bytes. a->len must fit in 32 bits (the core
 * caps values at REPLOG_VALUE_MAX).
 */
void replog_record_action_encode(const struct replog_action *a, void *buf);

/*
 * Decodes the action stored under `position`. On 0, *out describes it and
 * out->value points into buf (valid as long as buf). -EBADMSG for any damage
 * (short, unknown version or type, stray bits, wrong length, bad checksum),
 * with a message in errmsg (may be NULL) that names the position.
 */
int replog_record_action_decode(uint64_t position, const void *buf, size_t len,
				struct replog_action *out, char *errmsg);

void replog_record_meta_encode(const struct replog_meta *m, void *buf);

/* Decodes the metadata record; -EBADMSG (message in errmsg) for any damage. */
int replog_record_meta_decode(const void *buf, size_t len, struct replog_meta *out, char *errmsg);

/* Writes the key of `position` (8 bytes, big-endian). */
void replog_record_key(uint64_t position, void *key);

/* Reads a key back; -EBADMSG unless it is 8 bytes. */
int replog_record_key_decode(const void *key, size_t len, uint64_t *position);

#endif
