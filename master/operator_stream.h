/* The operator API's SUBSCRIBE: a RecordIO event stream of the master's changes to operators. */
#ifndef KEEL_MASTER_OPERATOR_STREAM_H
#define KEEL_MASTER_OPERATOR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master.h"
#include "proto/mesos/v1/master.pb-c.h"
#include "runtime/buf.h"

struct master_framework;

/*
 * SUBSCRIBE on POST /api/v1 (http_api.c hands the call over after its checks)
 * answers 200 with a chunked RecordIO stream (Content-Type by Accept, as every
 * operator answer): SUBSCRIBED first (the whole GET_STATE and
 * heartbeat_interval_seconds), HEARTBEAT at once and every
 * --heartbeat_interval, and then one event per change as Mesos sends them:
 * TASK_ADDED (a task launched), TASK_UPDATED (a task's state changed),
 * AGENT_ADDED (an agent became active: registered, re-registered, reachable
 * again), AGENT_REMOVED (it stopped being active: unreachable, removed, gone),
 * FRAMEWORK_ADDED (first subscription this term), FRAMEWORK_UPDATED
 * (re-subscribed, disconnected, UPDATE_FRAMEWORK) and FRAMEWORK_REMOVED
 * (torn down).
 *
 * Cost: the hooks below return at once when nobody subscribed. Otherwise an
 * event is built and encoded once per encoding in use (JSON, protobuf) and the
 * same RecordIO bytes are written to every subscriber of that encoding: per
 * event O(size) + one write per subscriber. Heartbeats share one timer.
 *
 * Slow subscribers: before each write the subscriber's unsent backlog
 * (keel_http_req_pending) is checked; past the cap (cfg.opstream_backlog, by
 * default 8 MiB) the master stops writing to it and ends its stream, so a
 * subscriber that does not read costs at most the cap. Leadership loss
 * (master_fail) ends every stream.
 *
 * Threads: the loop's only. Memory: out-of-memory is fatal (keel_x* allocators).
 */

/* Default backlog cap per subscriber, bytes. */
#define MASTER_OPSTREAM_BACKLOG ((size_t)8 << 20)

/* Starts a stream on req (a validated SUBSCRIBE; protobuf chosen by Accept). Answers req. */
void master_opstream_subscribe(struct master *m, struct keel_http_req *req, bool protobuf);

/* Ends every stream (leadership lost, or the master stops). NULL-safe on m->opstream. */
void master_opstream_close_all(struct master *m);

/* Frees m->opstream (streams are left to the server, which closes them). */
void master_opstream_free(struct master *m);

/* Live subscribers, and subscribers dropped for a backlog over the cap (this term). */
size_t master_opstream_subscribers(const struct master *m);
uint64_t master_opstream_dropped(const struct master *m);

/*
 * Encodes msg as protobuf or JSON into out (cleared first). 0, or a negative errno when msg
 * cannot be written as JSON (logged; a bug). Out-of-memory aborts.
 */
int master_message_encode(const ProtobufCMessage *msg, bool protobuf, struct keel_buf *out);

/* --- Hooks: called where the master changes; each returns at once without subscribers --- */

void master_opstream_task_added(struct master *m, const Mesos__V1__Task *task);
/* status: the update that changed it, or NULL (one is made from the task's state). */
void master_opstream_task_updated(struct master *m, const Mesos__V1__Task *task,
				  const Mesos__V1__TaskStatus *status);
void master_opstream_agent_added(struct master *m, const struct master_agent *a);
void master_opstream_agent_removed(struct master *m, const char *agent_id);
/*
 * type: FRAMEWORK_ADDED (new, or first subscription after a failover), FRAMEWORK_UPDATED
 * (re-subscribed, disconnected, UPDATE_FRAMEWORK applied) or FRAMEWORK_REMOVED (torn down).
 */
void master_opstream_framework(struct master *m, const struct master_framework *fw,
			       Mesos__V1__Master__Event__Type type);

#endif
