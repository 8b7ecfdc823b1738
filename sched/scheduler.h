/* libkeel-sched: a C client for the Mesos v1 scheduler HTTP API (subscribe, events, calls). */
#ifndef KEEL_SCHEDULER_H
#define KEEL_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/mesos/v1/mesos.pb-c.h"
#include "proto/mesos/v1/scheduler.pb-c.h"

/*
 * A `struct keel_sched` is one framework's connection to the leading master:
 * it finds the leader (a coordination URL followed through coord/coord.h's
 * detector, or a list of masters whose 307 redirects it follows), sends
 * SUBSCRIBE, decodes the RecordIO event stream and hands each event to a
 * callback. After a disconnect, a leader change, a 5xx answer or missed
 * heartbeats it subscribes again, with the framework ID the master gave it,
 * after a capped exponential backoff (reset by every SUBSCRIBED).
 *
 * Liveness: the master sends HEARTBEAT every heartbeat_interval_seconds
 * (from SUBSCRIBED; 15 s when absent). Any event proves the stream alive. When
 * nothing arrives for heartbeat_misses (default 3) intervals, the stream is
 * declared dead: disconnected(-ETIMEDOUT) fires and the client re-subscribes.
 *
 * Errors: every function returns 0 or a negative errno and writes a one-line
 * message into errmsg (KEEL_ERRMSG_SIZE bytes, may be NULL). A call that
 * fails synchronously sends nothing and never calls its completion callback;
 * a call that returns 0 calls its completion callback (if any) exactly once.
 *
 * Messages passed in are only read during the call (the library packs them
 * at once); messages passed to callbacks are valid during the callback only.
 *
 * Caveats:
 * - Threads: a keel_sched and its loop belong to one thread: the one that
 *   created the loop. Call nothing from another thread; to poke it from
 *   elsewhere use keel_async (runtime/loop.h) on the same loop.
 * - fork(): do not use a keel_sched in a child; the child may exec or exit.
 * - Re-entrancy: callbacks may call the library, including every call
 *   function, keel_sched_stop, and keel_sched_reconnect. They must not call
 *   keel_sched_free (call keel_sched_stop, and free after run returns).
 * - Events from a stream that is no longer current (a master that lost
 *   leadership, a stream replaced after a reconnect) are dropped, never
 *   delivered: each connection carries a generation number, and the old
 *   stream is closed before a new one is opened.
 * - No global state: several keel_sched may share a loop or a process.
 */

#ifndef KEEL_ERRMSG_SIZE
#define KEEL_ERRMSG_SIZE 256
#endif

struct keel_loop;
struct keel_sched;

/* Event callbacks; each may be NULL. Pointers are valid during the callback only. */
struct keel_sched_cbs {
	/* A SUBSCRIBE stream to `master` ("host:port") got its 200 answer. */
	void (*connected)(struct keel_sched *s, const char *master, void *arg);
	/* The stream ended or failed (err: -ECONNRESET, -ETIMEDOUT for missed heartbeats,
	 * -ECONNREFUSED, -EBADMSG, -EAGAIN for a leader change...); a new one follows. */
	void (*disconnected)(struct keel_sched *s, int err, const char *why, void *arg);
	/* SUBSCRIBED: the framework ID is kept and used from now on. */
	void (*subscribed)(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Subscribed *ev,
			   void *arg);
	/* OFFERS. */
	void (*offers)(struct keel_sched *s, Mesos__V1__Offer *const *offers, size_t n, void *arg);
	/* RESCIND of one offer. */
	void (*rescind)(struct keel_sched *s, const Mesos__V1__OfferID *offer_id, void *arg);
	/* UPDATE of a task's status; acknowledge it with keel_sched_acknowledge when it has a
	 * uuid. */
	void (*update)(struct keel_sched *s, const Mesos__V1__TaskStatus *status, void *arg);
	/* MESSAGE from an executor. */
	void (*message)(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Message *m,
			void *arg);
	/* FAILURE of an agent or an executor. */
	void (*failure)(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Failure *f,
			void *arg);
	/* ERROR event, or a SUBSCRIBE refused with a 4xx (then the client stops: status is the
	 * HTTP code, 0 for an ERROR event). */
	void (*error)(struct keel_sched *s, int status, const char *message, void *arg);
	/* HEARTBEAT. */
	void (*heartbeat)(struct keel_sched *s, void *arg);
	/* Every event, after the typed callback (also INVERSE_OFFERS and others not typed above).
	 */
	void (*event)(struct keel_sched *s, const Mesos__V1__Scheduler__Event *ev, void *arg);
};

/* Options of keel_sched_new; zero fields take the defaults in brackets. */
struct keel_sched_config {
	/* Where the masters are (required): zk://..., etcd://..., static://host:port, or a
	 * comma-separated list of host:port (each may start with http://). */
	const char *master;
	/* The framework (required: user and name); copied. Its id, when set, is used to
	 * re-subscribe an existing framework. */
	const Mesos__V1__FrameworkInfo *framework;
	struct keel_loop *loop; /* run on this loop [NULL: the keel_sched makes its own] */
	const struct keel_sched_cbs *cbs; /* event callbacks [none] */
	void *arg;			  /* their argument */
	bool json;			  /* JSON on the wire instead of protobuf [false] */
	unsigned backoff_min_ms;	  /* first re-subscribe delay [250] */
	unsigned backoff_max_ms;	  /* cap of the doubling delay [15000] */
	unsigned heartbeat_misses;	  /* silent intervals before the stream is dead [3] */
	unsigned request_timeout_ms;	  /* connect and answer timeout of each request [10000] */
	const char *path;		  /* endpoint path ["/api/v1/scheduler"] */
};

/*
 * Creates a client (not yet connected). Fails with -EINVAL (no master, no
 * framework, a FrameworkInfo missing user or name, a bad URL or host list),
 * -ENOMEM, or the loop's error. The caller frees it with keel_sched_free.
 */
int keel_sched_new(const struct keel_sched_config *cfg, struct keel_sched **out, char *errmsg);

/* Starts finding the leader and subscribing; callbacks follow on the loop. -EALREADY. */
int keel_sched_start(struct keel_sched *s, char *errmsg);

/* Runs the client's own loop until keel_sched_stop. -EINVAL if cfg.loop was given. */
int keel_sched_run(struct keel_sched *s);

/*
 * Own-loop integration with the caller's poll/epoll: keel_sched_fd is
 * readable when the loop has work; then call keel_sched_process. Also call it
 * at least every KEEL_SCHED_PROCESS_INTERVAL_MS (timers: backoff, heartbeat).
 */
#define KEEL_SCHED_PROCESS_INTERVAL_MS 100
int keel_sched_fd(const struct keel_sched *s);
int keel_sched_process(struct keel_sched *s);

/* Closes the stream, stops re-subscribing and makes keel_sched_run return. From callbacks too. */
void keel_sched_stop(struct keel_sched *s);

/* Drops the current stream and subscribes again at once (as after a failure, no backoff). */
void keel_sched_reconnect(struct keel_sched *s);

/* Frees; pending call completions fire with -ECANCELED first. Not from a callback. */
void keel_sched_free(struct keel_sched *s);

/* The framework ID from the last SUBSCRIBED (or the configured one), or NULL. */
const char *keel_sched_framework_id(const struct keel_sched *s);
/* true between SUBSCRIBED and the next disconnect. */
bool keel_sched_subscribed(const struct keel_sched *s);
/* "host:port" of the master currently talked to, or NULL. */
const char *keel_sched_master(const struct keel_sched *s);
/* The loop the client runs on. */
struct keel_loop *keel_sched_loop(const struct keel_sched *s);
/* Subscriptions made so far (SUBSCRIBED events), for tests and metrics. */
uint64_t keel_sched_subscriptions(const struct keel_sched *s);

/* --- Calls --- */

/*
 * Completion of a call: err 0 and the HTTP status with the body (202 and
 * empty on success; 4xx/5xx with the master's message), or a negative errno
 * when no answer came (-ECONNRESET, -ETIMEDOUT, -ECANCELED on free).
 */
typedef void (*keel_sched_done_cb)(struct keel_sched *s, int err, int status, const char *body,
				   size_t len, void *arg);

/*
 * Every call needs a subscription (-ENOTCONN otherwise) and checks its
 * required fields before sending (-EINVAL, message naming the field).
 * `done` may be NULL.
 */

/* Any call built by the caller: type set, its sub-message present, framework_id filled in. */
int keel_sched_call(struct keel_sched *s, const Mesos__V1__Scheduler__Call *call,
		    keel_sched_done_cb done, void *arg, char *errmsg);

/* ACCEPT offers with operations (at least one offer; each operation's type and body set). */
int keel_sched_accept(struct keel_sched *s, const Mesos__V1__OfferID *const *offer_ids,
		      size_t n_offers, const Mesos__V1__Offer__Operation *const *ops, size_t n_ops,
		      const Mesos__V1__Filters *filters, keel_sched_done_cb done, void *arg,
		      char *errmsg);
/* ACCEPT with one LAUNCH of tasks: the common case. */
int keel_sched_launch(struct keel_sched *s, const Mesos__V1__OfferID *offer_id,
		      Mesos__V1__TaskInfo *const *tasks, size_t n_tasks, keel_sched_done_cb done,
		      void *arg, char *errmsg);
/* DECLINE offers; refuse_seconds < 0 leaves the master's default filter. */
int keel_sched_decline(struct keel_sched *s, const Mesos__V1__OfferID *const *offer_ids, size_t n,
		       double refuse_seconds, keel_sched_done_cb done, void *arg, char *errmsg);
/* REVIVE / SUPPRESS offers for roles (n 0: every role of the framework). */
int keel_sched_revive(struct keel_sched *s, const char *const *roles, size_t n,
		      keel_sched_done_cb done, void *arg, char *errmsg);
int keel_sched_suppress(struct keel_sched *s, const char *const *roles, size_t n,
			keel_sched_done_cb done, void *arg, char *errmsg);
/* KILL a task; agent_id may be NULL. */
int keel_sched_kill(struct keel_sched *s, const char *task_id, const char *agent_id,
		    keel_sched_done_cb done, void *arg, char *errmsg);
/* SHUTDOWN an executor on an agent (both required). */
int keel_sched_shutdown(struct keel_sched *s, const char *executor_id, const char *agent_id,
			keel_sched_done_cb done, void *arg, char *errmsg);
/* ACKNOWLEDGE a status update: needs its agent_id, task_id and uuid. */
int keel_sched_acknowledge(struct keel_sched *s, const Mesos__V1__TaskStatus *status,
			   keel_sched_done_cb done, void *arg, char *errmsg);
/* RECONCILE tasks (n 0: implicit reconciliation); agent_ids may be NULL or hold NULLs. */
int keel_sched_reconcile(struct keel_sched *s, const char *const *task_ids,
			 const char *const *agent_ids, size_t n, keel_sched_done_cb done, void *arg,
			 char *errmsg);
/* MESSAGE to an executor (agent and executor required). */
int keel_sched_message(struct keel_sched *s, const char *agent_id, const char *executor_id,
		       const void *data, size_t len, keel_sched_done_cb done, void *arg,
		       char *errmsg);
/* REQUEST resources (at least one request). */
int keel_sched_request(struct keel_sched *s, Mesos__V1__Request *const *requests, size_t n,
		       keel_sched_done_cb done, void *arg, char *errmsg);
/* TEARDOWN the framework; the client stops re-subscribing once the master answers 202. */
int keel_sched_teardown(struct keel_sched *s, keel_sched_done_cb done, void *arg, char *errmsg);
/* UPDATE_FRAMEWORK with a new FrameworkInfo (user and name required; id filled in). */
int keel_sched_update_framework(struct keel_sched *s, const Mesos__V1__FrameworkInfo *info,
				keel_sched_done_cb done, void *arg, char *errmsg);

/* --- Builders: results are freed with keel_sched_msg_free --- */

/*
 * Parses "cpus:0.5;mem:128;ports:[31000-31005,32000-32000]" (scalars and
 * ranges) into an array of Resources (*out owned by the caller). -EINVAL
 * names the bad part, -ENOMEM. Free with keel_sched_resources_free.
 */
int keel_sched_resources_parse(const char *spec, Mesos__V1__Resource ***out, size_t *n,
			       char *errmsg);
void keel_sched_resources_free(Mesos__V1__Resource **r, size_t n);

/* A command task (shell) for an agent with resources from a spec as above. */
int keel_sched_task_command(const char *name, const char *task_id, const char *agent_id,
			    const char *command, const char *resources, Mesos__V1__TaskInfo **out,
			    char *errmsg);
/*
 * The same, run in a MESOS container (ContainerInfo type MESOS) from the
 * Docker image `image` ("name[:tag]", from the agent's local image store).
 * -EINVAL without an image.
 */
int keel_sched_task_container(const char *name, const char *task_id, const char *agent_id,
			      const char *command, const char *image, const char *resources,
			      Mesos__V1__TaskInfo **out, char *errmsg);

/* Frees a message from a builder; NULL is fine. */
void keel_sched_msg_free(void *msg);

/* "Command exited with status N" in a TASK_FAILED message -> N; -1 when absent. */
int keel_sched_exit_status(const Mesos__V1__TaskStatus *st);

#endif
