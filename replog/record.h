/* replog storage records: the byte layout of metadata and actions in LMDB, with version and CRC. */
#ifndef KEEL_REPLOG_RECORD_H
#define KEEL_REPLOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
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
 *	learned mark, version 1 (database "learned", same key as the action):
 *	  0  u8  version (1)
 *	  1  u8[3] reserved, 0
 *	  4  u64 ballot of the action it marks learned
 *	 12  u32 CRC-32C of the 8 key bytes followed by bytes [0, 12)
 *
 * The action's and the mark's checksums cover the key, so a record that ends
 * up under another position is refused like a damaged one.
 *
 * A learned mark says "the action stored at this position under this ballot
 * is learned": the store writes one instead of rewriting a whole action (and
 * its value) only to set its learned flag. It counts only while the action
 * there has that ballot; (position, ballot) names one value (docs/replog.md).
 */

#define REPLOG_RECORD_VERSION 1
#define REPLOG_RECORD_KEY_SIZE 8
#define REPLOG_RECORD_ACTION_HEADER 24
#define REPLOG_RECORD_META_SIZE 24
#define REPLOG_RECORD_MARK_SIZE 16

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

/*
 * Reads only the ballot, type and learned flag of a stored action, without
 * checking the value or the checksum (for a decision that a damaged record
 * cannot make unsafe; every read that uses the record decodes it fully).
 * -EBADMSG when the record is too short or of an unknown version.
 */
int replog_record_action_peek(const void *buf, size_t len, uint64_t *ballot, uint8_t *type,
			      bool *learned);

void replog_record_meta_encode(const struct replog_meta *m, void *buf);

/* Decodes the metadata record; -EBADMSG (message in errmsg) for any damage. */
int replog_record_meta_decode(const void *buf, size_t len, struct replog_meta *out, char *errmsg);

/* Encodes the learned mark of (position, ballot) into buf (REPLOG_RECORD_MARK_SIZE bytes). */
void replog_record_mark_encode(uint64_t position, uint64_t ballot, void *buf);

/* Decodes the learned mark stored under `position`; -EBADMSG (message in errmsg) for any damage. */
int replog_record_mark_decode(uint64_t position, const void *buf, size_t len, uint64_t *ballot,
			      char *errmsg);

/*
 * The write-ahead log (file "wal" beside the LMDB files; see store_lmdb.c).
 * One record per group of submissions made durable by one fdatasync, each
 * starting at a 4096-byte boundary (a new record never shares a page, hence
 * a sector, with an acknowledged one):
 *
 *	  0  u32 magic "KWL1" (0x314c574b)
 *	  4  u32 record length, header to checksum inclusive
 *	  8  u64 epoch (the store's open count; see the "wal state" below)
 *	 16  u64 first submission number in the record
 *	 24  u64 last submission number in the record
 *	 32  u32 number of writes
 *	 36  u32 reserved, 0
 *	 40  the writes, each a kind byte and then:
 *	       META (1)           the 24-byte metadata record
 *	       ACTION (2)         u64 position, u32 n, the n-byte action record
 *	       DELETE_BELOW (3)   u64 below
 *	       MARK (0x80)        u64 position, u64 ballot (a learned mark)
 *	 len-4  u32 CRC-32C of bytes [0, len-4)
 *
 * The "wal state" record (database "meta", key "wal") says which records
 * LMDB already holds and which epoch the current file's records carry:
 *
 *	  0  u8  version (1)
 *	  1  u8[3] reserved, 0
 *	  4  u64 epoch
 *	 12  u64 applied: every submission numbered <= applied is in LMDB
 *	 20  u32 CRC-32C of bytes [0, 20)
 */
#define REPLOG_RECORD_WAL_MAGIC 0x314c574bu
#define REPLOG_RECORD_WAL_HEADER 40
#define REPLOG_RECORD_WAL_ALIGN 4096
#define REPLOG_RECORD_WAL_STATE_SIZE 24
/* The store-private write kind of a learned mark (struct replog_write.kind). */
#define REPLOG_RECORD_WRITE_MARK 0x80

/* A WAL record's header fields. */
struct replog_wal_head {
	uint64_t epoch; /* epoch of the session that wrote it */
	uint64_t first; /* first submission number */
	uint64_t last;	/* last submission number */
	uint32_t n;	/* number of writes */
	uint32_t len;	/* record length in bytes */
};

/* Bytes the WAL record of these writes takes (without alignment padding). */
size_t replog_record_wal_size(const struct replog_write *w, size_t n);

/*
 * Appends the record's writes to buf, which must have room for
 * replog_record_wal_size(w, n) bytes from `off` on; the header and checksum
 * are written by replog_record_wal_seal. Returns the new offset. Several
 * submissions' writes may be appended one after another.
 */
size_t replog_record_wal_put(const struct replog_write *w, size_t n, void *buf, size_t off);

/* Writes the header (h->len = end offset) and the checksum of the record in buf[0, h->len). */
void replog_record_wal_seal(const struct replog_wal_head *h, void *buf);

/*
 * Checks the header at buf (avail bytes readable): 0 and *h when the magic,
 * length (<= avail) and reserved field are right, -EBADMSG otherwise. Does
 * not check the checksum (replog_record_wal_check does).
 */
int replog_record_wal_head(const void *buf, size_t avail, struct replog_wal_head *h);

/* 0 when the record's checksum matches, -EBADMSG otherwise. */
int replog_record_wal_check(const void *buf, const struct replog_wal_head *h);

/*
 * Decodes the next write of a checked record: *off starts at
 * REPLOG_RECORD_WAL_HEADER and moves on. Values point into buf. -EBADMSG
 * (message in errmsg) for a write that does not decode.
 */
int replog_record_wal_next(const void *buf, const struct replog_wal_head *h, size_t *off,
			   struct replog_write *out, char *errmsg);

void replog_record_wal_state_encode(uint64_t epoch, uint64_t applied, void *buf);
int replog_record_wal_state_decode(const void *buf, size_t len, uint64_t *epoch, uint64_t *applied,
				   char *errmsg);

/* Writes the key of `position` (8 bytes, big-endian). */
void replog_record_key(uint64_t position, void *key);

/* Reads a key back; -EBADMSG unless it is 8 bytes. */
int replog_record_key_decode(const void *key, size_t len, uint64_t *position);

#endif
