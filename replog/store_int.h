/* Internals of the replog LMDB store shared by its files: the store object, batches, helpers. */
#ifndef KEEL_REPLOG_STORE_INT_H
#define KEEL_REPLOG_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "record.h"
#include "store.h"
#include "trace.h"
#include "runtime/err.h"

/*
 * How the store makes writes durable (docs/replog.md, "The store"):
 *
 * The storage thread takes every queued submission at once (a group). In
 * the usual case it puts the group's writes into an LMDB write transaction
 * that it keeps open across groups, appends the group as one record to the
 * write-ahead log ("wal") and fdatasyncs that file: one flush, and the group
 * is durable. The open transaction is committed (data fdatasync, meta page,
 * our meta fdatasync: MDB_NOMETASYNC) later, every STORE_TXN_AGE_NS or when
 * it grows large, on flush and on close; then the log starts again at
 * offset 0. At open, records LMDB does not hold yet are replayed.
 *
 * A group is instead committed straight to LMDB, as before the log existed
 * ("direct"), when it truncates (DELETE_BELOW can touch many pages), when
 * its record would be large, or when the space the open transaction could
 * need is not reserved on disk (the log must never acknowledge a write that
 * LMDB might then fail to hold for want of space: see store_room).
 */

/* The store-private write kind of a learned mark (record.h). */
#define STORE_WRITE_MARK REPLOG_RECORD_WRITE_MARK
/* How long lazy submissions wait for an urgent one to share its group (fsync). */
#define STORE_LAZY_MS 5

/* One submission: its writes, copied, with values in the same allocation. */
struct store_batch {
	uint64_t seq;		     /* submission number */
	size_t n;		     /* number of writes */
	struct replog_write *w;	     /* the writes (values point into this allocation) */
	struct store_batch *q_next;  /* queue link (under mu), then the thread's group/txn link */
	struct store_batch *ov_prev; /* overlay list, older (loop thread) */
	struct store_batch *ov_next; /* overlay list, newer (loop thread) */
};

/* The write-ahead log file (storage thread only, after open). */
struct store_wal {
	int fd;		    /* the "wal" file (-1: none) */
	uint64_t size;	    /* bytes allocated, zeroed and synced: records go below this */
	uint64_t off;	    /* where the next record starts (a multiple of 4096) */
	uint64_t epoch;	    /* epoch written into this session's records */
	unsigned char *buf; /* record encoding buffer */
	size_t cap;	    /* its size */
};

struct replog_store {
	struct replog_store_config cfg; /* copy of the config (path not owned after open) */
	MDB_env *env;			/* the environment */
	MDB_dbi dbi_meta;		/* "meta" database (metadata and wal state) */
	MDB_dbi dbi_actions;		/* "actions" database */
	MDB_dbi dbi_learned;		/* "learned" database: learned marks */
	MDB_txn *rtxn;		   /* loop thread's reusable read transaction (reset when idle) */
	pthread_rwlock_t map_lock; /* readers vs. the storage thread resizing the map */
	struct keel_async *async;  /* wakes the loop on a durability report */
	uint64_t seq_base;	   /* a submission's number in the log: seq_base + seq */

	/* Loop thread only. */
	struct store_batch *ov_old;    /* overlay: oldest submission not in LMDB yet */
	struct store_batch *ov_new;    /* overlay: newest */
	uint64_t next_seq;	       /* last seq handed out */
	uint64_t durable_seq;	       /* highest seq reported durable to the loop */
	bool lazy_unkicked;	       /* a lazy submission the thread was not woken for */
	struct keel_timer *lazy_timer; /* kicked lazy submissions: wake the thread when due */
	bool error_reported;	       /* on_durable already told of the current failure */
	void **reads;		       /* copies handed out by replog_store_read */
	size_t n_reads;		       /* number of copies */
	size_t cap_reads;	       /* capacity of reads */
	char errmsg[KEEL_ERRMSG_SIZE]; /* last loop-side error */

	/* Shared with the storage thread, under mu. */
	pthread_mutex_t mu;		      /* guards the fields below */
	pthread_cond_t cond_work;	      /* the thread waits for work or stop */
	pthread_cond_t cond_done;	      /* flush waits for progress */
	struct store_batch *q_head;	      /* queued, not yet taken by the thread */
	struct store_batch *q_tail;	      /* last queued */
	bool q_urgent;			      /* the queue holds a non-lazy submission */
	bool flush_req;			      /* flush waits: commit the open transaction now */
	uint64_t committed_seq;		      /* highest seq durable (log or LMDB) */
	uint64_t applied_seq;		      /* highest seq committed to LMDB */
	int error;			      /* 0 or the failure that stops writes */
	bool error_sticky;		      /* the failure cannot be recovered (fsync) */
	bool stop;			      /* close asked the thread to finish */
	struct replog_store_stats stats;      /* counters */
	char thread_errmsg[KEEL_ERRMSG_SIZE]; /* the thread's failure message */
	pthread_t thread;		      /* the storage thread */
	bool thread_started;		      /* thread is joinable */

	/* Storage thread only (and open/close). */
	struct replog_trace *trace;    /* the storage thread's latency trace (NULL: off) */
	struct store_wal wal;	       /* the write-ahead log */
	MDB_txn *txn;		       /* open write transaction (NULL: none) */
	struct store_batch *txn_first; /* batches in it, durable in the log (q_next links) */
	struct store_batch *txn_last;  /* the last of them */
	uint64_t txn_pages;	       /* pages it may add to the data file (estimate) */
	uint64_t txn_deadline;	       /* CLOCK_MONOTONIC ns by which to commit it */
	uint64_t t_applied;	/* highest seq committed to LMDB (published as applied_seq) */
	uint64_t t_durable;	/* highest seq durable (published as committed_seq) */
	uint64_t meta_pending;	/* committed straight to LMDB, meta page not synced (0: none) */
	int data_fd;		/* LMDB's data file */
	int owner_fd;		/* <path>/owner, flock()ed while open: one process per store */
	uint64_t reserved_end;	/* the data file is written (zeros) up to here (0: unknown) */
	unsigned psize;		/* LMDB page size */
	unsigned reserve_pause; /* groups to wait after a failed reservation */
	uint64_t last_direct;	/* when a large group last went straight to LMDB */
};

/* Maps an LMDB return code to a negative errno (MAP_FULL: -ENOSPC). */
int store_lmdb_err(int rc);

/*
 * Applies one write to txn. Sets *map_full when LMDB's map is full. 0 or a
 * negative errno with a message.
 */
int store_apply(struct replog_store *s, MDB_txn *txn, const struct replog_write *w, bool *map_full,
		char *errmsg);

/* Puts the wal state {s->wal.epoch, applied} into txn. 0 or -errno with a message. */
int store_put_wal_state(struct replog_store *s, MDB_txn *txn, uint64_t applied, bool *map_full,
			char *errmsg);

/* Grows the map (doubling, capped at map_max); false when it cannot. No transaction open. */
bool store_grow_map(struct replog_store *s);

/* The storage thread. */
void *store_thread_main(void *arg);

/* --- store_wal.c: the write-ahead log file. --- */

/* Opens (creating, and syncing the directory) DIR/wal. -errno with a message. */
int store_wal_open(struct store_wal *w, const char *dir, char *errmsg);

void store_wal_close(struct store_wal *w);

/*
 * Replays into txn every record of the log's valid chain (see record.h and
 * store_wal.c) that holds submissions above `applied`; *last is set to the
 * highest submission number replayed (or `applied`). -EBADMSG for a damaged
 * write inside a record whose checksum is right, or a gap in the chain;
 * LMDB errors (*map_full set when the map is full).
 */
int store_wal_replay(struct replog_store *s, MDB_txn *txn, uint64_t epoch, uint64_t applied,
		     uint64_t *last, bool *map_full, char *errmsg);

/* Makes room for a record of `len` bytes at w->off: zero-fills and syncs. -errno. */
int store_wal_reserve(struct store_wal *w, size_t len, char *errmsg);

/* Writes the record in w->buf[0, len) at w->off and moves off on. -errno with a message. */
int store_wal_write(struct store_wal *w, size_t len, char *errmsg);

/* fdatasync of the log. -errno with a message. */
int store_wal_sync(struct store_wal *w, char *errmsg);

/* Makes w->buf at least `len` bytes. -ENOMEM. */
int store_wal_buf(struct store_wal *w, size_t len);

#endif
