/* The replicated log's public API: a replica on a keel loop, its writer and its reader. */
#ifndef KEEL_REPLOG_REPLOG_H
#define KEEL_REPLOG_REPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/util.h"

/*
 * One `struct replog` is one replica of a log, run on a keel loop: the pure
 * core (replog/core.h), its LMDB store with a storage thread (replog/store.h)
 * and a network driver. Replicas talk over HTTP/1.1: each serves
 * `POST <prefix>/batch` on a keel_http_server the embedder owns (so a master
 * can host it on its one port) and sends to each peer through one
 * keel_http_client (keep-alive, pipelined, reconnecting). A body is a
 * keel.replog.Batch (proto/keel/replog/replog.proto); the answer is 204,
 * replies travel as requests the other way.
 *
 * Positions are uint64 in [0, 2^64-2].
 *
 * Callbacks: every operation that takes a callback either fails
 * synchronously (negative errno, no callback ever) or returns 0 and calls
 * back exactly once, on the loop thread, and never before the starting call
 * has returned: an outcome decided during the call (a catch-up that
 * completes at once, a storage failure) is delivered on a later loop turn.
 * Callbacks of one replica run in the order their operations completed
 * (appends and truncates in position order). replog_close runs every
 * callback still owed before it returns.
 *
 * Caveats.
 * - Fork: the replica holds LMDB handles and a thread; never use one in a
 *   child of fork. Fork (or exec) first, open after.
 * - Threads: everything here is for the loop's thread. The storage thread is
 *   internal; it commits with group commit and wakes the loop through a
 *   keel_async.
 * - A dead writer: when an append or truncate is rejected (another writer
 *   was elected) or cannot reach a quorum of VOTING replicas, it and every
 *   later pending write fail, and the writer accepts nothing until
 *   replog_writer_start is called again. A failed append's outcome is
 *   unknown: the next writer may still choose it.
 * - Storage failure: an fsync error (EIO) stops this replica for good (it
 *   stops voting, never reports the write durable); close and reopen it. A
 *   full disk or map (ENOSPC) fails the pending writes; the replica reloads
 *   from its store and takes writes again when there is space.
 */

struct replog;
struct keel_loop;
struct keel_http_server;

#define REPLOG_API KEEL_EXPORT

/* A peer's address. */
struct replog_peer {
	const char *host; /* IP address or name of its HTTP server */
	uint16_t port;	  /* its port */
};

struct replog_options {
	const char *path;		 /* LMDB directory of this replica */
	unsigned self;			 /* this replica's index in peers */
	unsigned nodes;			 /* number of replicas (entries in peers) */
	unsigned quorum;		 /* votes needed (> nodes / 2) */
	const struct replog_peer *peers; /* static membership: nodes entries (copied) */
	struct keel_http_server *server; /* where to serve the replog routes (embedder's) */
	const char *prefix;		 /* route prefix, e.g. "/replog" (copied) */
	bool auto_init;			 /* Mesos auto-initialisation when every replica is empty */
	unsigned tick_ms;		 /* retry interval (0: 100), jittered by up to half */
	uint64_t seed;			 /* seeds the tick jitter */
	size_t map_size;		 /* LMDB map size (0: 64 MiB) */
	size_t map_max;			 /* grow the map up to this (0: no growth) */
};

/* Completion of an operation: status 0 or negative errno; position as in replog/core.h. */
typedef void (*replog_done_cb)(struct replog *r, int status, uint64_t position, void *arg);

/* Counters (replog_metrics). */
struct replog_metrics {
	bool recovered;	     /* the replica is VOTING */
	unsigned ensemble;   /* replicas in the log */
	uint64_t appends;    /* appends completed successfully */
	uint64_t fsyncs;     /* store fsyncs */
	uint64_t commits;    /* store transactions */
	uint64_t batch_max;  /* most submissions in one transaction */
	uint64_t batch_last; /* submissions in the latest transaction */
	uint64_t msgs_sent;  /* messages handed to the network */
	uint64_t msgs_recv;  /* messages received */
};

/*
 * Opens the replica: loads its store (refusing a damaged one), registers the
 * routes on opts->server, starts ticking. -EINVAL (bad options), -EBADMSG
 * (damaged store), -EEXIST (routes taken), -ENOMEM, or a storage error;
 * message in errmsg.
 */
REPLOG_API int replog_open(struct keel_loop *loop, const struct replog_options *opts,
			   struct replog **out, char *errmsg);

/*
 * Closes: pending operations complete with -ECANCELED first, queued writes
 * are made durable, the thread stops. The HTTP server has no way to remove a
 * route, and the replog route still points at this replica: free the server
 * before the loop runs again (a request reaching it after the close would
 * use freed memory).
 */
REPLOG_API void replog_close(struct replog *r);

/*
 * Membership: tells the replica that peer `node` now lives at host:port (a
 * coord membership watch feeds this; with a static list it is never
 * needed). Requests in flight to the old address fail and are retried by the
 * protocol. -EINVAL (node is self or out of range), -ENOMEM, or the client's
 * error; on error the old address stays.
 */
REPLOG_API int replog_peer_set(struct replog *r, unsigned node, const char *host, uint16_t port);

/* Elects this replica's writer. Errors as REPLOG_EV_START in core.h. */
REPLOG_API int replog_writer_start(struct replog *r, replog_done_cb cb, void *arg);

/* Appends `len` bytes (copied). Errors as REPLOG_EV_APPEND in core.h. */
REPLOG_API int replog_writer_append(struct replog *r, const void *data, size_t len,
				    replog_done_cb cb, void *arg);

/* Appends a TRUNCATE: every position below `to` goes. */
REPLOG_API int replog_writer_truncate(struct replog *r, uint64_t to, replog_done_cb cb, void *arg);

/* Learns everything up to the log's current end (REPLOG_EV_CATCHUP). */
REPLOG_API int replog_reader_catchup(struct replog *r, replog_done_cb cb, void *arg);

/* First untruncated position and last position held locally. */
REPLOG_API uint64_t replog_reader_beginning(struct replog *r);
REPLOG_API uint64_t replog_reader_ending(struct replog *r);

/*
 * Reads one learned entry: *type (REPLOG_ACTION_*), the value of an APPEND
 * (valid until the next call into this replica). -ENOENT (truncated),
 * -ERANGE (past the end), -EAGAIN (not learned here: catch up first).
 */
REPLOG_API int replog_reader_read(struct replog *r, uint64_t position, uint8_t *type,
				  const void **value, size_t *len);

/* Status (enum replog_status) of the local replica. */
REPLOG_API uint8_t replog_status(struct replog *r);

REPLOG_API void replog_metrics(struct replog *r, struct replog_metrics *out);

/* The last failure's message. */
REPLOG_API const char *replog_errmsg(const struct replog *r);

#endif
