/* Internal interfaces between the files of keel-master (not for other modules). */
#ifndef KEEL_MASTER_MASTER_INT_H
#define KEEL_MASTER_MASTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master.h"
#include "proto/keel/internal/agent.pb-c.h"

#define MASTER_LOG "master"
#define MASTER_REPLOG_PREFIX "/internal/replog"
#define MASTER_REPLICA_GROUP "log_replicas"

/* --- master.c: registry operations in flight --- */

/* What to do when a registry operation is durable (status 0) or failed (status < 0). */
typedef void (*master_op_fn)(struct master *m, int status, struct master_agent *a, void *data);

/* A registry operation in flight; freed after its callback, or by master_free. */
struct master_op {
	struct master *m;	       /* owner */
	master_op_fn fn;	       /* what to do when done */
	struct master_agent *agent;    /* the agent it changes, or NULL */
	void *data;		       /* fn's argument */
	struct master_op *prev, *next; /* m->ops list */
};

/* A new operation for the registrar callback `master_op_done` (never NULL: aborts on OOM). */
struct master_op *master_op_new(struct master *m, master_op_fn fn, struct master_agent *a,
				void *data);
/* Unlinks and frees an operation the registrar refused synchronously. */
void master_op_cancel(struct master_op *op);
/* The registrar callback: runs op->fn unless the master failed, then frees op. */
void master_op_done(struct registrar *r, int status, void *arg);

/* A random (version 4) UUID in its text form. */
void master_uuid(char out[40]);
/* A deep copy of a valid message (pack + unpack; free with keel_pbjson_free). Never NULL. */
ProtobufCMessage *master_pb_copy(const ProtobufCMessage *msg);

/* The log replica is open (or not needed): open the registrar and contend. */
void master_log_ready(struct master *m);

/* --- leader.c: detection, election, recovery --- */

int master_detect_start(struct master *m, char *errmsg);
/* Joins the election when this master is eligible (static://: only the first host). */
int master_contend_start(struct master *m, char *errmsg);
void master_leader_clear(struct master_leader *l);

/* --- replicas.c: the replica set and the log replica --- */

/*
 * Starts replica discovery: joins the coord group, watches it, and opens the
 * replica once the replica table is known (then calls master_log_ready).
 */
int master_replicas_start(struct master *m, char *errmsg);
/* Closes the replica (if open) and frees discovery. */
void master_replicas_free(struct master *m);

/* The replica table: every replica's "host:port" in index order. */
struct master_replica_table {
	char **addrs; /* nodes entries (owned) */
	size_t n;     /* nodes */
};
void master_replica_table_free(struct master_replica_table *t);
/*
 * Builds the table from a group's member payloads when they name exactly
 * `nodes` distinct addresses: those, sorted (byte order). Returns 0, -EAGAIN
 * (fewer), -E2BIG (more: more masters than the log has replicas), -EINVAL (a
 * payload is not "host:port"; message says which).
 */
int master_replica_table_from_members(const char *const *payloads, const size_t *lens, size_t n,
				      size_t nodes, struct master_replica_table *out, char *errmsg);
/* Reads a table file; -ENOENT when absent, -EBADMSG when damaged. */
int master_replica_table_read(const char *path, struct master_replica_table *out, char *errmsg);
/* Writes a table file atomically (temporary file, fsync, rename, fsync of the directory). */
int master_replica_table_write(const char *path, const struct master_replica_table *t,
			       char *errmsg);
/* Index of addr in t, or -1. */
int master_replica_table_index(const struct master_replica_table *t, const char *addr);

/* --- http.c: routes that do not belong to the agent protocol --- */

int master_http_routes(struct master *m, char *errmsg);
/* Answers 503 with text and counts it. */
void master_http_unavailable(struct master *m, struct keel_http_req *req, const char *text);

/* --- agents.c: the table --- */

void master_agents_free(struct master *m);
/* Adds a new agent (state ADMITTING or ACTIVE) under id (copied) and key (copied, may be NULL).
 */
struct master_agent *master_agent_add(struct master *m, const char *id, const char *key,
				      enum master_agent_state state);
/* Moves a to another state (counts, wheel membership). */
void master_agent_set_state(struct master *m, struct master_agent *a,
			    enum master_agent_state state);
/* Removes a from the table and frees it (parked requests are answered 503 first). */
void master_agent_remove(struct master *m, struct master_agent *a);
/* Sets a's key (the old key's entry goes). */
void master_agent_set_key(struct master *m, struct master_agent *a, const char *key);
/* Takes info (owned from now) as a's AgentInfo. */
void master_agent_set_info(struct master_agent *a, Mesos__V1__AgentInfo *info);
/* Points a at host:port; 0 or a negative errno (the address could not be used). */
int master_agent_set_address(struct master *m, struct master_agent *a,
			     const Mesos__V1__Address *addr, char *errmsg);
/* Formats "host:port" of an Address (ip preferred); -EINVAL when unusable. */
int master_address_format(const Mesos__V1__Address *addr, char *out, size_t size, char *errmsg);
/* Origin for "host:port" (created on first use), with a reference taken; NULL on error. */
struct master_origin *master_origin_get(struct master *m, const char *name, char *errmsg);
void master_origin_put(struct master *m, struct master_origin *o);
/* Frees idle origins whose connections have nothing in flight. */
void master_origins_sweep(struct master *m);
/* Parks req on a; answered by master_agent_answer_parked. */
void master_agent_park(struct master_agent *a, struct keel_http_req *req);
/* Answers every parked request of a with status (200: AgentRegistered, else text). */
void master_agent_answer_parked(struct master *m, struct master_agent *a, int status,
				const char *text);

/* --- agents_register.c: the agent protocol handlers --- */

int master_agents_routes(struct master *m, char *errmsg);
/* Answers req 200 with AgentRegistered for a. */
void master_agent_answer(struct master *m, struct master_agent *a, struct keel_http_req *req);
/* Where an agent stands with this leader, as Mesos's master sorts agents for reconciliation. */
enum master_agent_standing {
	MASTER_STANDING_UNKNOWN = 0,	 /* not in the registry (never admitted, removed, pruned) */
	MASTER_STANDING_RECOVERED = 1,	 /* admitted by an earlier leader, not re-registered yet */
	MASTER_STANDING_REGISTERED = 2,	 /* registered or re-registered with this leader */
	MASTER_STANDING_UNREACHABLE = 3, /* marked unreachable (also while it re-registers) */
	MASTER_STANDING_GONE = 4,	 /* marked gone */
};
/* Where agent id stands; *time_ns (may be NULL) gets the time it was marked unreachable or gone. */
enum master_agent_standing master_agent_standing(const struct master *m, const char *id,
						 int64_t *time_ns);
/*
 * POSTs msg (packed as protobuf) to path on the agent at origin_name, once: fire and forget
 * (failures are logged at debug level). Nothing is sent when m is not leading.
 */
void master_agent_post_once(struct master *m, const char *origin_name, const char *path,
			    const ProtobufCMessage *msg);
/* Sends ShutdownAgent for id to the address; fire and forget. */
void master_send_shutdown(struct master *m, const char *id, const char *origin_name,
			  const char *message);

/* --- agents_ping.c: liveness --- */

/* Sets up the wheel and the timers for a new term (after recovery). */
int master_liveness_start(struct master *m, char *errmsg);
void master_liveness_stop(struct master *m);
void master_wheel_add(struct master *m, struct master_agent *a);
void master_wheel_remove(struct master *m, struct master_agent *a);
/* An agent that re-registered is no longer awaited. */
void master_awaiting_forget(struct master *m, const char *id);
/* True while the awaited agent id is being marked unreachable. */
bool master_awaiting_marking(const struct master *m, const char *id);

#endif
