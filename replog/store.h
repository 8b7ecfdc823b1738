/* The replog store: actions and metadata in LMDB, committed by a storage thread with group commit.
 */
#ifndef KEEL_REPLOG_STORE_H
#define KEEL_REPLOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "msg.h"

/*
 * One store is one replica's disk: an LMDB environment in a directory, with
 * three databases, "meta" (the metadata record and the write-ahead log's
 * state), "actions" (keyed by big-endian position) and "learned" (learned
 * marks, same keys), plus a write-ahead log file "wal". record.h has the
 * byte layouts; every record carries a CRC-32C and a damaged one is refused
 * (-EBADMSG), never skipped.
 *
 * Writing. The loop thread hands the core's writes over with
 * replog_store_submit, which copies them, numbers the submission (seq 1, 2,
 * ...) and queues it; it never touches the disk. A storage thread takes
 * everything queued at once (a group: what arrives while one group is being
 * made durable goes into the next) and makes it durable with one fdatasync
 * of the write-ahead log, or, for large groups and truncations, with an
 * LMDB commit (store_int.h explains when); then it reports "every seq <= N
 * is durable" to the loop through a keel_async: on_durable(N, 0) runs on the
 * loop thread. A learned ACTION write whose action is already stored under
 * the same ballot is stored as a small learned mark, not again in full.
 *
 * Reading. replog_store_read, from the loop thread, sees every submitted
 * write, durable or not: submissions sit in an in-memory overlay until LMDB
 * has committed them (which, for those made durable by the log, happens
 * later, in the background).
 *
 * Failure. When a group fails, on_durable(seq, -errno) runs once (seq = the
 * last durable one), nothing after the failed group is made durable and
 * every later submit fails with the same error. The writes of the failed
 * group are not on disk but the core that produced them thinks they are:
 * the driver must throw the core away, call replog_store_recover and build a
 * new core from the store (replog_store_meta + replog_store_scan). -ENOSPC
 * (file system full or LMDB map full and not growable) is recoverable: the
 * group was refused before anything of it reached the disk, every durable
 * write is in LMDB, and writes succeed again once there is space. Any other
 * error (an fsync that returned EIO above all) is sticky: after a failed
 * fsync nobody knows what reached the disk, so the store refuses every
 * write until it is closed and opened again, and never reports those writes
 * durable. Durable writes the failure kept out of LMDB are in the log; the
 * next open applies them.
 *
 * Threads: every function is for the loop thread (or, with no loop, the one
 * thread using the store); the storage thread is internal. Fork: an open
 * store must not be used in a child of fork (LMDB handles must not cross a
 * fork); open it after forking.
 */

struct replog_store;
struct keel_loop;

/* Runs on the loop thread: every submission with seq <= `seq` is durable; or status < 0. */
typedef void (*replog_store_durable_cb)(struct replog_store *s, uint64_t seq, int status,
					void *arg);

struct replog_store_config {
	const char *path;	/* directory of the LMDB files; created (0700) if missing */
	size_t map_size;	/* initial LMDB map size in bytes (0: 64 MiB) */
	size_t map_max;		/* on a full map, grow (doubling) up to this (0: no growth) */
	struct keel_loop *loop; /* loop that gets on_durable; NULL: poll with replog_store_flush */
	replog_store_durable_cb on_durable; /* durability reports (may be NULL) */
	void *arg;			    /* passed to on_durable */
	const char *trace;		    /* latency trace prefix (replog/trace.h); NULL: off */
	unsigned trace_node;		    /* node index in the trace file's name */
};

/* Counters since open (replog_store_stats). */
struct replog_store_stats {
	uint64_t submits;    /* replog_store_submit calls that queued something */
	uint64_t writes;     /* individual writes committed */
	uint64_t groups;     /* groups made durable (one log record or direct commit each) */
	uint64_t commits;    /* LMDB transactions committed */
	uint64_t fsyncs;     /* fdatasyncs: one per log record, two per LMDB commit */
	uint64_t batch_max;  /* most submissions in one group */
	uint64_t batch_last; /* submissions in the latest group */
	uint64_t map_size;   /* current LMDB map size in bytes */
	uint64_t map_grows;  /* times the map was grown */
};

/*
 * Opens (creating if needed) the store in cfg->path and starts its storage
 * thread. What the write-ahead log holds beyond LMDB is applied first (a
 * damaged record inside the log's valid chain, or a gap, is -EBADMSG). The
 * metadata record is checked here (-EBADMSG if damaged); actions and learned
 * marks are checked by replog_store_scan and replog_store_read. Errors: -EINVAL,
 * -ENOMEM, -EBADMSG, or an errno from LMDB / the file system, with a message.
 */
int replog_store_open(const struct replog_store_config *cfg, struct replog_store **out,
		      char *errmsg);

/*
 * Waits until every submitted write is durable (or failed), stops the thread
 * and frees everything. on_durable does not run from here. NULL is a no-op.
 */
void replog_store_close(struct replog_store *s);

/* The stored metadata: 0, -ENOENT for a store that has none yet. */
int replog_store_meta(struct replog_store *s, struct replog_meta *out);

/*
 * Calls cb for every committed action at a position >= from, in increasing
 * position order, checking each record (-EBADMSG and a message on the first
 * damaged one). `a->value` is valid during the call only. A non-zero return
 * from cb stops the scan and is returned. Sees committed data only: call it
 * before submitting, or after replog_store_flush.
 */
int replog_store_scan(struct replog_store *s, uint64_t from,
		      int (*cb)(void *arg, const struct replog_action *a), void *arg);

/*
 * Queues writes (copied; the caller's values may go away on return) as one
 * submission and sets *seq to its number. n == 0 queues nothing and sets
 * *seq to the last number handed out. Errors: -ENOMEM, or the store's error
 * after a failed commit (see above); nothing is queued then.
 */
int replog_store_submit(struct replog_store *s, const struct replog_write *w, size_t n,
			uint64_t *seq);

/*
 * Like replog_store_submit, for writes that need no prompt fsync (the core's
 * updates without `sync`, e.g. learned marks): they wait up to 5 ms for an
 * urgent submission to share its group (and fsync) instead of costing one
 * of their own. Still committed in order: a later urgent submission, a
 * flush or close commits them first. The storage thread is not woken for
 * them until replog_store_kick (or an urgent submission, a flush or close):
 * call it once the submissions of the current step are made.
 */
int replog_store_submit_lazy(struct replog_store *s, const struct replog_write *w, size_t n,
			     uint64_t *seq);

/*
 * Wakes the storage thread for lazy submissions it was not woken for yet
 * (nothing if none). The driver calls it at the end of each drain, so that
 * a learned mark stepped just before a WRITE costs no wake-up of its own.
 */
void replog_store_kick(struct replog_store *s);

/*
 * Reads the action at `position` as every submitted write left it: 0,
 * -ENOENT (none there, or deleted), -EBADMSG (damaged record), other LMDB
 * errors. out->value stays valid until replog_store_release_reads.
 */
int replog_store_read(struct replog_store *s, uint64_t position, struct replog_action *out);

/* Frees the copies replog_store_read handed out. */
void replog_store_release_reads(struct replog_store *s);

/* The replog_store_ops for a core reading through this store. */
struct replog_store_ops replog_store_ops(struct replog_store *s);

/*
 * Blocks until every submission so far is durable and committed to LMDB (so
 * that replog_store_scan sees it): 0 or the store's error. For tools and
 * tests.
 */
int replog_store_flush(struct replog_store *s);

/*
 * Without a loop, or when the caller cannot wait for on_durable: applies any
 * durability report now (drops committed writes from the overlay and calls
 * on_durable). Loop thread only.
 */
void replog_store_poll(struct replog_store *s);

/* Highest seq known durable to the loop thread. */
uint64_t replog_store_durable_seq(const struct replog_store *s);

/* 0, or the error that stopped writes. */
int replog_store_error(struct replog_store *s);

/*
 * After a recoverable failure (-ENOSPC): drops every write not committed and
 * lets submissions in again; returns 0. The sticky error (e.g. -EIO) if the
 * failure was not recoverable. 0 and nothing done when there was no failure.
 */
int replog_store_recover(struct replog_store *s);

void replog_store_stats(struct replog_store *s, struct replog_store_stats *out);

/* The last error message (open, read, scan, or the storage thread's failure). */
const char *replog_store_errmsg(const struct replog_store *s);

#endif
