/* The Mesos v1 scheduler API of keel-master: POST /api/v1/scheduler, frameworks, event streams. */
#ifndef KEEL_MASTER_SCHED_H
#define KEEL_MASTER_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master.h"
#include "proto/mesos/v1/scheduler.pb-c.h"

/*
 * Endpoint: POST /api/v1/scheduler and /master/api/v1/scheduler, leader only
 * (master_http_gate: 307 to the leader, or 503). Bodies are Call messages in
 * JSON or protobuf (master_api_decode); docs/master-api.md lists the calls,
 * the events and every status code.
 *
 * SUBSCRIBE without a framework ID: the master assigns "<master id>-<nnnn>",
 * records the FrameworkInfo in the registry, and only when that is durable
 * answers 200 with a chunked RecordIO stream (one event per chunk, in one
 * write; Content-Type by Accept; header Mesos-Stream-Id), whose first event is
 * SUBSCRIBED, then HEARTBEAT at once and every --heartbeat_interval. With an
 * ID the leader knows (this term, or from the registry after a failover), the
 * same framework is subscribed again: a live older stream is ended first.
 *
 * Every other call names its framework and carries the Mesos-Stream-Id of
 * its live stream; the checks and their order are Mesos's.
 *
 * Frameworks this leader knows are kept in a hash table by ID; every call is
 * O(1) in the number of frameworks and agents. Threads: the loop's only.
 * Memory: out-of-memory is fatal (keel_x* allocators).
 */

/* What the scheduler API knows of one framework this term. */
struct master_framework {
	char *id;			   /* framework ID (key in sched->frameworks) */
	Mesos__V1__FrameworkInfo *info;	   /* latest FrameworkInfo, id set (owned) */
	struct master_sched *sched;	   /* owner */
	struct keel_http_req *stream;	   /* live event stream, or NULL (disconnected) */
	char stream_id[40];		   /* its Mesos-Stream-Id (a UUID), or "" */
	bool protobuf;			   /* the stream carries protobuf (else JSON) */
	bool adding;			   /* its registry entry is not durable yet */
	struct keel_http_req *subscribing; /* the SUBSCRIBE waiting for the registry, or NULL */
	struct keel_timer *failover;	   /* tears it down after failover_timeout disconnected */
	struct keel_timer *heartbeat;	   /* HEARTBEAT timer while the stream is live */
	uint64_t events;		   /* events sent to it this term */
	struct master_offer *offers;	   /* its outstanding offers (offers.c) */
	bool allocating;		   /* added to the allocator */
	char **suppressed;		   /* roles its SUBSCRIBE suppressed (owned) */
	size_t n_suppressed;		   /* how many */
	struct master_offer **pending;	   /* its offers made in the running cycle (offers.c) */
	size_t n_pending, cap_pending;	   /* how many, room */
	struct master_framework *pending_next; /* next framework with offers this cycle */
};

/* Creates m->sched and routes the endpoint. -EEXIST (a route is taken; errmsg names it). */
int master_sched_start(struct master *m, char *errmsg);

/*
 * Frees m->sched (NULL is fine): streams are detached (the server closes
 * their connections) and timers freed. Call before the server is freed.
 */
void master_sched_free(struct master *m);

/* Tears fw down as its TEARDOWN call does (the operator API's TEARDOWN): fw is freed. */
void master_sched_teardown(struct master *m, struct master_framework *fw);

/* The framework with this ID this term, or NULL. */
struct master_framework *master_framework_find(const struct master *m, const char *id);

/* Iterates the frameworks: start with *pos = 0; false at the end. No changes meanwhile. */
bool master_frameworks_next(const struct master *m, size_t *pos, struct master_framework **out);

/* Frameworks known this term, and those with a live stream. */
size_t master_frameworks_count(const struct master *m);
size_t master_frameworks_connected(const struct master *m);

/*
 * Sends ev to the framework's live stream as one RecordIO record in one
 * chunk. Returns 0, or -ENOTCONN (no live stream; nothing sent), -EPIPE or
 * -ENOBUFS (the stream broke and is now detached: the framework is
 * disconnected).
 */
int master_framework_send(struct master_framework *fw, const Mesos__V1__Scheduler__Event *ev);
/* The same with an event already encoded in the stream's format (protobuf or JSON). */
int master_framework_send_raw(struct master_framework *fw, const char *data, size_t len);

/* Whether info has the MULTI_ROLE capability (roles in `roles`; else the one `role`, "*"). */
bool master_framework_multi_role(const Mesos__V1__FrameworkInfo *info);

/* Replaces fw's FrameworkInfo with info (owned from now on; its id must be fw's). */
void master_framework_set_info(struct master_framework *fw, Mesos__V1__FrameworkInfo *info);
/* Replaces fw's suppressed roles with a copy of roles[0..n). */
void master_framework_set_suppressed(struct master_framework *fw, char *const *roles, size_t n);

/*
 * SHUTDOWN (sched_executor.c): kills, through the agent protocol (KillTask), every live task
 * of fw on sd's agent that runs under sd's executor (its executor_id, or a command task whose
 * task ID is the executor ID, as Mesos names command executors). Returns how many; an unknown
 * agent is logged and changes nothing (Mesos answers 202 all the same).
 */
size_t master_sched_shutdown_executor(struct master *m, struct master_framework *fw,
				      const Mesos__V1__Scheduler__Call__Shutdown *sd);

/*
 * MESSAGE (sched_executor.c): forwards the data to the agent as a FrameworkMessage, once (no
 * retry: unreliable as in Mesos). False when the agent is unknown or disconnected (logged).
 */
bool master_sched_message(struct master *m, struct master_framework *fw,
			  const Mesos__V1__Scheduler__Call__Message *msg);

/*
 * UPDATE_FRAMEWORK (framework_update.c): validates the new FrameworkInfo against fw's as Mesos
 * does (400 with the reason: user, principal and checkpoint cannot change; suppressed roles
 * must be among its roles), records it in the registry and, once durable, applies it (roles,
 * name, failover_timeout, capabilities, suppressed roles; offers of roles it left are
 * rescinded) and answers 200 with an empty body. 503 when the registry refuses it for now
 * (another change of this framework is in flight, or the registry is not available).
 */
void master_sched_update_framework(struct master *m, struct master_framework *fw,
				   const Mesos__V1__Scheduler__Call__UpdateFramework *uf,
				   struct keel_http_req *req);

/*
 * Mesos's validation::scheduler::call::validate of a decoded Call: NULL when
 * valid, else the reason (a static string or buf, size bytes) that follows
 * "Failed to validate scheduler::Call: " in the 400 answer. Pure (no master
 * state): master/sched_call.c.
 */
const char *master_sched_call_invalid(const Mesos__V1__Scheduler__Call *call, char *buf,
				      size_t size);

#endif
