/* The registrar: the master's registry as a state machine on the replicated log (or in memory). */
#ifndef KEEL_MASTER_REGISTRAR_H
#define KEEL_MASTER_REGISTRAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/keel/internal/registry.pb-c.h"
#include "proto/mesos/v1/mesos.pb-c.h"
#include "runtime/err.h"
#include "runtime/loop.h"

/*
 * The registry (proto/keel/internal/registry.proto: master info, admitted
 * agents, unreachable agents with timestamps, gone agents, frameworks,
 * weights, quotas, maintenance) lives in memory, indexed, and in the log as
 * entries: each APPEND is one keel.registry.Entry, a Batch of operations or
 * one chunk of a snapshot. Operations queued while an append is in flight
 * (or in the same loop turn) go out together in the next append: many
 * operations, one append, one fsync per replica. Every so often (by bytes
 * of operations since the last snapshot) the registrar writes a snapshot and
 * then truncates the log below it; recovery = newest complete snapshot +
 * replay of the batches after it. An operation costs what it changes, not
 * the size of the registry.
 *
 * Durability and visibility: an operation is validated when queued against
 * the registry as it will be once everything queued before it is applied;
 * the in-memory registry (what the lookup functions return) changes only
 * when the operation's batch is durable, just before its callback runs.
 * Callbacks run in queue order. At most one queued operation per agent ID
 * (a second one gets -EBUSY synchronously): the master serialises changes
 * to one agent anyway.
 *
 * Fail-stop: when an append or a snapshot cannot be made durable (the log
 * writer was deposed, the log failed, or store_timeout_ms passed) or the
 * recovery does not finish within fetch_timeout_ms, the registrar calls
 * on_fatal once and from then on accepts nothing; the pending operations'
 * callbacks never run. The master must stop leading (exit) from on_fatal:
 * the outcome of the failed append is unknown, and no half-applied state is
 * ever visible.
 *
 * Callbacks: every function that takes a callback either fails
 * synchronously (negative errno, never calls back) or returns 0 and calls
 * back exactly once, on the loop thread, never from inside the starting call.
 * Threads: the loop's thread only.
 */

struct registrar;
struct replog;

/* An operation's outcome: 0 durable and applied. */
typedef void (*registrar_done_cb)(struct registrar *r, int status, void *arg);

/* The registrar cannot persist: stop leading. message is one line. */
typedef void (*registrar_fatal_cb)(struct registrar *r, int err, const char *message, void *arg);

/* Options; zero fields take the defaults in brackets (Mesos's flag defaults). */
struct registrar_config {
	struct replog *log;	   /* the master's replica (writer started by recover); NULL:
				      in-memory registry (--registry=in_memory) */
	uint32_t fetch_timeout_ms; /* recovery deadline [60000] (--registry_fetch_timeout) */
	uint32_t store_timeout_ms; /* deadline of each append [20000] (--registry_store_timeout) */
	uint64_t max_agent_age_ms; /* prune unreachable/gone older than this [14 days]
				      (--registry_max_agent_age) */
	uint32_t max_agent_count;  /* keep at most this many unreachable and gone records each
				      [102400] (--registry_max_agent_count) */
	size_t snapshot_bytes;	   /* snapshot after this many bytes of batches [4 MiB] */
	size_t chunk_bytes;	   /* snapshot chunk size [256 KiB] */
	registrar_fatal_cb on_fatal; /* required */
	void *fatal_arg;	     /* its argument */
};

/* Counters and timings for /metrics/snapshot (Mesos names in comments). */
struct registrar_stats {
	bool recovered;		    /* registrar/log/recovered */
	double state_fetch_ms;	    /* registrar/state_fetch_ms: last recovery */
	double state_store_ms;	    /* registrar/state_store_ms: last append */
	uint64_t queued;	    /* registrar/queued_operations: waiting now */
	uint64_t registry_size;	    /* registrar/registry_size_bytes: packed size estimate */
	uint64_t operations;	    /* operations made durable */
	uint64_t appends;	    /* batch appends made durable */
	uint64_t snapshots;	    /* snapshots written */
	uint64_t recovered_entries; /* log entries read by the last recovery */
};

/* Opens an empty registrar on loop. -EINVAL (bad config), -ENOMEM. */
int registrar_open(struct keel_loop *loop, const struct registrar_config *cfg,
		   struct registrar **out, char *errmsg);

/*
 * Frees r: pending operations are dropped without their callbacks (the
 * caller is stopping). NULL is ignored.
 */
void registrar_close(struct registrar *r);

/*
 * Recovers: starts the log writer (replog_writer_start, which also catches
 * up), replays the log into memory, then makes an UpdateMaster operation
 * with mi durable (this proves the writer can write). cb(0) when the registry
 * is ready to serve; cb(<0) never: a failure calls on_fatal instead.
 * -EALREADY when called twice. With an in-memory registrar it completes on
 * the next loop turn.
 */
int registrar_recover(struct registrar *r, const Mesos__V1__MasterInfo *mi, registrar_done_cb cb,
		      void *arg);

/*
 * Operations. Each is validated against the registry plus the queued
 * operations; synchronous errors: -EAGAIN (not recovered yet), -EBUSY
 * (another operation on this agent is queued), -EEXIST / -ENOENT (see each),
 * -EINVAL (missing fields), -ESHUTDOWN (after on_fatal), -ENOMEM. Messages
 * (protobuf) are copied. `time_ns` is wall-clock nanoseconds.
 */

/* Admits a new agent (info->id set by the master). -EEXIST when the ID is
 * admitted, unreachable or gone. */
int registrar_admit_agent(struct registrar *r, const Mesos__V1__AgentInfo *info,
			  registrar_done_cb cb, void *arg);

/* Moves an admitted agent to unreachable. -ENOENT when not admitted. Also
 * prunes the unreachable list by age and count in the same batch. */
int registrar_mark_unreachable(struct registrar *r, const char *agent_id, int64_t time_ns,
			       registrar_done_cb cb, void *arg);

/* Moves an unreachable agent back to admitted with info (it re-registered).
 * -ENOENT when not unreachable. */
int registrar_mark_reachable(struct registrar *r, const Mesos__V1__AgentInfo *info,
			     registrar_done_cb cb, void *arg);

/* Marks an admitted or unreachable agent gone (it never comes back).
 * -ENOENT when neither; -EEXIST when already gone. Prunes gone by age and
 * count. */
int registrar_mark_gone(struct registrar *r, const char *agent_id, int64_t time_ns,
			registrar_done_cb cb, void *arg);

/* Removes an admitted agent (it shut down). -ENOENT when not admitted. */
int registrar_remove_agent(struct registrar *r, const char *agent_id, registrar_done_cb cb,
			   void *arg);

/* Sets an admitted agent's deactivated flag and drain info (NULL: not draining; copied).
 * -ENOENT when not admitted. */
int registrar_update_agent_drain(struct registrar *r, const char *agent_id, bool deactivated,
				 const Mesos__V1__DrainInfo *drain, registrar_done_cb cb,
				 void *arg);
/* Whether a durable admitted agent is deactivated; *drain (when not NULL) gets its drain info or
 * NULL (valid until the next loop turn). */
bool registrar_agent_drain(const struct registrar *r, const char *agent_id,
			   const Mesos__V1__DrainInfo **drain);
/* Frameworks (for the next issue). -EEXIST / -ENOENT as for agents. */
int registrar_add_framework(struct registrar *r, const Mesos__V1__FrameworkInfo *info,
			    registrar_done_cb cb, void *arg);
/* Replaces a durable framework's FrameworkInfo (UPDATE_FRAMEWORK). -ENOENT when unknown. */
int registrar_update_framework(struct registrar *r, const Mesos__V1__FrameworkInfo *info,
			       registrar_done_cb cb, void *arg);
int registrar_remove_framework(struct registrar *r, const char *framework_id, registrar_done_cb cb,
			       void *arg);

/*
 * Operators' role settings (registrar_roles.c), validated by the caller (master/quota.c); no
 * per-ID serialisation: operations apply in queue order. UpdateWeights sets the weights given
 * (others stay); UpdateQuota replaces a role's quota; RemoveQuota drops it (a no-op when there
 * is none). -EINVAL (no role, a weight not > 0, no weights), -EAGAIN, -ESHUTDOWN, -ENOMEM.
 */
int registrar_update_weights(struct registrar *r, Keel__Registry__Weight *const *weights, size_t n,
			     registrar_done_cb cb, void *arg);
int registrar_update_quota(struct registrar *r, const Keel__Registry__Quota *quota,
			   registrar_done_cb cb, void *arg);
int registrar_remove_quota(struct registrar *r, const char *role, registrar_done_cb cb, void *arg);
/* The durable weight or quota of a role, or NULL; valid until the next loop turn. */
const Keel__Registry__Weight *registrar_weight(const struct registrar *r, const char *role);
const Keel__Registry__Quota *registrar_quota(const struct registrar *r, const char *role);
/* Calls fn for every durable weight / quota (any order) until it returns false. */
void registrar_foreach_weight(const struct registrar *r,
			      bool (*fn)(const Keel__Registry__Weight *w, void *arg), void *arg);
void registrar_foreach_quota(const struct registrar *r,
			     bool (*fn)(const Keel__Registry__Quota *q, void *arg), void *arg);

/* Lookups in the durable registry; pointers valid until the next loop turn. */
enum registrar_agent_state {
	REGISTRAR_AGENT_UNKNOWN = 0,	 /* never admitted, or removed, or pruned */
	REGISTRAR_AGENT_ADMITTED = 1,	 /* admitted */
	REGISTRAR_AGENT_UNREACHABLE = 2, /* marked unreachable */
	REGISTRAR_AGENT_GONE = 3,	 /* marked gone */
};
enum registrar_agent_state registrar_agent_state(const struct registrar *r, const char *agent_id,
						 const Mesos__V1__AgentInfo **info,
						 int64_t *time_ns);

/* Calls fn for every agent in the given state (any order); fn returns false to stop. */
void registrar_foreach_agent(const struct registrar *r, enum registrar_agent_state state,
			     bool (*fn)(const Mesos__V1__AgentInfo *info, const char *agent_id,
					int64_t time_ns, void *arg),
			     void *arg);

/* Number of agents in a state. */
size_t registrar_count_agents(const struct registrar *r, enum registrar_agent_state state);

/* The MasterInfo of the latest durable UpdateMaster, or NULL. */
const Mesos__V1__MasterInfo *registrar_master(const struct registrar *r);

void registrar_get_stats(const struct registrar *r, struct registrar_stats *out);

/* The FrameworkInfo of a durable framework, or NULL; valid until the next loop turn. */
const Mesos__V1__FrameworkInfo *registrar_framework(const struct registrar *r,
						    const char *framework_id);

/* Number of durable frameworks. */
size_t registrar_count_frameworks(const struct registrar *r);

#endif
