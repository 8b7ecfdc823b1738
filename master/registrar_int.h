/* The registrar's internals shared by its files: the in-memory registry, replay, queue, tickets. */
#ifndef KEEL_MASTER_REGISTRAR_INT_H
#define KEEL_MASTER_REGISTRAR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/registrar.h"
#include "proto/keel/internal/registry.pb-c.h"
#include "runtime/buf.h"
#include "runtime/hmap.h"

/*
 * ---- The in-memory registry (registrar_state.c) ----
 *
 * A pure state machine: no I/O, no clock. Agents live in one of three maps
 * keyed by agent ID (admitted, unreachable, gone); unreachable and gone
 * records are also on a list ordered by timestamp (oldest first), so pruning
 * by age or count costs what it prunes. Messages held here were unpacked with
 * the keel_malloc allocator and are freed with keel_pbjson_free.
 */

/* One agent: in exactly one of the registry's agent maps. */
struct registry_agent {
	enum registrar_agent_state state; /* ADMITTED, UNREACHABLE or GONE */
	Mesos__V1__AgentInfo *info;	  /* owned; NULL when gone (and when a snapshot had none) */
	int64_t time_ns;		  /* when marked unreachable or gone */
	struct registry_agent *older;	  /* previous on the time-ordered list (unreachable/gone) */
	struct registry_agent *newer;	  /* next on that list */
	size_t size;			  /* packed size of its record in a Registry */
	Mesos__V1__DrainInfo *drain;	  /* ADMITTED: its drain info (owned), or NULL */
	bool deactivated;		  /* ADMITTED: no offers (DEACTIVATE_AGENT, DRAIN_AGENT) */
	char id[];			  /* the agent ID: the map key */
};

/* A time-ordered list of unreachable or gone agents. */
struct registry_agelist {
	struct registry_agent *oldest; /* head: pruned first */
	struct registry_agent *newest; /* tail: where insertions usually land */
};

/* One framework. */
struct registry_framework {
	Mesos__V1__FrameworkInfo *info; /* owned, with id */
	size_t size;			/* packed size of its record in a Registry */
	char id[];			/* the framework ID: the map key */
};

/* The whole registry, indexed. Zero it with registry_init. */
struct registry {
	Mesos__V1__MasterInfo *master;		 /* latest UpdateMaster, owned; or NULL */
	struct keel_hmap admitted;		 /* agent ID -> struct registry_agent */
	struct keel_hmap unreachable;		 /* agent ID -> struct registry_agent */
	struct keel_hmap gone;			 /* agent ID -> struct registry_agent */
	struct registry_agelist unreachable_age; /* unreachable agents by time */
	struct registry_agelist gone_age;	 /* gone agents by time */
	struct keel_hmap frameworks;		 /* framework ID -> struct registry_framework */
	struct keel_hmap weights;		 /* role -> Keel__Registry__Weight (owned) */
	struct keel_hmap quotas;		 /* role -> Keel__Registry__Quota (owned) */
	Keel__Registry__Operation__UpdateMaintenance *maintenance; /* latest windows, owned */
	uint64_t size; /* packed size of the registry (sum of its records) */
};

void registry_init(struct registry *g);
void registry_free(struct registry *g);

/* The agent with this ID in any state, or NULL. */
struct registry_agent *registry_agent_find(const struct registry *g, const char *id);

/* The map of agents in a state (ADMITTED, UNREACHABLE, GONE), or NULL. */
const struct keel_hmap *registry_agent_map(const struct registry *g,
					   enum registrar_agent_state state);

/*
 * Applies one operation. It takes what it keeps out of op (the pointers it
 * keeps are set to NULL in op); the caller frees op afterwards either way.
 * -EINVAL when the operation does not fit the registry (admitting an ID that
 * exists, moving an agent that is not in the state the operation expects, a
 * missing ID...), with nothing changed; -ENOMEM with nothing changed. Prune
 * is lenient: IDs not present are skipped; so is RemoveQuota of a role without
 * quota (two operators' changes may cross).
 */
int registry_apply(struct registry *g, Keel__Registry__Operation *op, char *errmsg);

/*
 * Replaces the registry with the content of a snapshot, taking what it keeps
 * out of msg. -EINVAL (an agent without ID, an ID twice), -ENOMEM; on error g
 * is unchanged.
 */
int registry_load(struct registry *g, Keel__Registry__Registry *msg, char *errmsg);

/*
 * Appends the packed keel.registry.Registry to out. `sorted` orders every list
 * by ID (a canonical form for comparisons); otherwise agents and frameworks
 * come in table order and unreachable/gone by time. -ENOMEM.
 */
int registry_pack(const struct registry *g, bool sorted, struct keel_buf *out, char *errmsg);

/*
 * ---- Replay of log entries (registrar_replay.c) ----
 *
 * Pure as well: feeds keel.registry.Entry bytes read from the log, in
 * position order, into a registry. A batch applies its operations; snapshot
 * chunks are gathered and a complete snapshot (every chunk, chunk i at
 * position id + i) replaces the registry. An incomplete snapshot is dropped
 * silently when anything else comes between its chunks.
 */
struct registry_replay {
	struct registry *reg;	 /* where entries apply (not owned) */
	bool assembling;	 /* a snapshot's chunks are being gathered */
	uint64_t snap_id;	 /* its id (position of its first chunk) */
	uint32_t snap_count;	 /* its number of chunks */
	uint32_t snap_next;	 /* the chunk index expected next */
	struct keel_buf snap;	 /* its bytes so far */
	uint64_t batch_bytes;	 /* bytes of batch entries since the last complete snapshot */
	bool have_snapshot;	 /* a complete snapshot was applied */
	uint64_t last_snapshot;	 /* the id of the last one */
	uint64_t snapshot_bytes; /* its size (packed registry) */
	uint64_t entries;	 /* entries fed */
	uint64_t operations;	 /* operations applied */
	uint64_t snapshots;	 /* complete snapshots applied */
};

/* Largest snapshot a replay gathers (bytes). */
#define REGISTRY_SNAPSHOT_MAX ((size_t)1 << 30)

void registry_replay_init(struct registry_replay *rp, struct registry *reg);
void registry_replay_free(struct registry_replay *rp);

/*
 * Feeds the APPEND entry at `position`. -EINVAL when the bytes are not an
 * Entry, an operation does not apply (see registry_apply: the operations
 * before it in the batch stay applied), or a complete snapshot does not
 * decode; -ENOMEM. The message names the position.
 */
int registry_replay_entry(struct registry_replay *rp, uint64_t position, const void *data,
			  size_t len, char *errmsg);

/* ---- The live registrar (registrar.c and friends) ---- */

/* Defaults (Mesos's flag defaults). */
#define REGISTRAR_FETCH_TIMEOUT_MS 60000u
#define REGISTRAR_STORE_TIMEOUT_MS 20000u
#define REGISTRAR_MAX_AGENT_AGE_MS (14ull * 24 * 3600 * 1000)
#define REGISTRAR_MAX_AGENT_COUNT 102400u
#define REGISTRAR_SNAPSHOT_BYTES ((size_t)4 << 20)
#define REGISTRAR_CHUNK_BYTES ((size_t)256 << 10)
/* chunk_bytes must lie in [REGISTRAR_CHUNK_MIN, REGISTRAR_CHUNK_MAX] (replog values stop at 64
 * MiB, and a replica's HTTP body at 64 MiB by default). */
#define REGISTRAR_CHUNK_MIN ((size_t)64)
#define REGISTRAR_CHUNK_MAX ((size_t)16 << 20)
/* A batch takes queued operations up to this many bytes (at least one operation). */
#define REGISTRAR_BATCH_BYTES ((size_t)1 << 20)
/* One operation may not pack larger than this. */
#define REGISTRAR_OP_MAX ((size_t)8 << 20)
/* Snapshot chunks in flight at once. */
#define REGISTRAR_CHUNK_WINDOW 8u
/* Retry interval of a writer start that found the replica not VOTING yet. */
#define REGISTRAR_START_RETRY_MS 50u

/* A queued operation. */
struct registrar_op {
	struct registrar_op *next;	/* queue or batch order */
	Keel__Registry__Operation *op;	/* unpacked copy, consumed by registry_apply */
	registrar_done_cb cb;		/* completion (NULL: none) */
	void *arg;			/* its argument */
	struct registrar_pending *pend; /* the pending entry it owns, or NULL */
	struct keel_hmap *pend_map;	/* the map that entry lives in */
	bool internal;			/* made by the registrar (prune, update master) */
	size_t len;			/* packed size */
	uint8_t bytes[];		/* the packed Operation */
};

/*
 * What an agent (or framework) will be once every queued operation is
 * applied; present while an operation on that ID is queued or in flight, or
 * while a queued Prune drops it.
 */
struct registrar_pending {
	struct registrar_op *op;	  /* the last operation queued on this ID */
	enum registrar_agent_state state; /* projected state (frameworks: ADMITTED or UNKNOWN) */
	char id[];			  /* the key */
};

/* What a log call was for. */
enum registrar_ticket_kind {
	REGISTRAR_TICKET_START,	   /* replog_writer_start */
	REGISTRAR_TICKET_BATCH,	   /* an append of a Batch */
	REGISTRAR_TICKET_CHUNK,	   /* an append of a snapshot chunk */
	REGISTRAR_TICKET_TRUNCATE, /* the truncation after a snapshot */
};

/* One log call in flight; outlives a closed registrar until the log calls back. */
struct registrar_ticket {
	struct registrar *r;		 /* NULL once detached (registrar closed or failed) */
	struct registrar_ticket *next;	 /* issue order */
	enum registrar_ticket_kind kind; /* what it is */
	bool done;			 /* the log called back */
	int status;			 /* its status */
	uint64_t position;		 /* its position */
	uint64_t start_ns;		 /* when it was issued (monotonic) */
	size_t bytes;			 /* bytes appended */
	uint32_t chunk;			 /* CHUNK: its index */
	struct registrar_op *ops;	 /* BATCH: its operations in order */
};

/* Where the registrar stands. */
enum registrar_phase {
	REGISTRAR_NEW,	     /* opened, recover not called */
	REGISTRAR_STARTING,  /* electing the log writer */
	REGISTRAR_REPLAYING, /* writer elected, the log is read on the next turn */
	REGISTRAR_UPDATING,  /* the UpdateMaster of the recovery is on its way */
	REGISTRAR_READY,     /* recovered: operations accepted */
	REGISTRAR_FAILED,    /* on_fatal was called */
};

struct registrar {
	struct keel_loop *loop;			/* the loop everything runs on */
	struct registrar_config cfg;		/* with defaults filled in */
	enum registrar_phase phase;		/* see above */
	struct registry reg;			/* the durable registry */
	struct keel_hmap pend_agents;		/* agent ID -> struct registrar_pending */
	struct keel_hmap pend_frameworks;	/* framework ID -> struct registrar_pending */
	struct registrar_op *queue;		/* operations not yet in a batch, oldest first */
	struct registrar_op **queue_tail;	/* where the next one goes */
	size_t queued;				/* operations queued or in flight */
	struct registrar_ticket *tickets;	/* log calls in flight, oldest first */
	struct registrar_ticket **tickets_tail; /* where the next one goes */
	struct keel_timer *kick;		/* runs registrar_progress on the next turn */
	struct keel_timer *store_timer;		/* store_timeout_ms of the oldest append */
	struct keel_timer *fetch_timer;		/* fetch_timeout_ms of the recovery */
	struct keel_timer *retry_timer;		/* retries a writer start */
	Mesos__V1__MasterInfo *master_info;	/* registrar_recover's copy, until queued */
	registrar_done_cb recover_cb;		/* registrar_recover's callback */
	void *recover_arg;			/* its argument */
	uint64_t recover_start_ns;		/* when recovery began */
	uint64_t log_end;			/* the position the writer start reported */
	uint64_t last_pos;			/* the last position this writer wrote */
	uint64_t batch_bytes;			/* batch bytes since the last snapshot */
	uint64_t snapshot_size;			/* bytes of the last snapshot (packed registry) */
	bool snapshotting;			/* a snapshot is being written */
	uint64_t snap_id;			/* its id (expected position of chunk 0) */
	uint32_t snap_count;			/* its chunks */
	uint32_t snap_sent;			/* chunks appended */
	uint32_t snap_done;			/* chunks durable */
	struct keel_buf snap;			/* the packed registry being written */
	struct registrar_stats stats;		/* counters */
	unsigned depth;				/* nesting of the registrar's own callbacks */
	bool closed;				/* registrar_close ran inside a callback */
	char errmsg[KEEL_ERRMSG_SIZE];		/* scratch for messages */
};

/* registrar.c */
void registrar_kick(struct registrar *r);
void registrar_fatal(struct registrar *r, int err, const char *fmt, ...) KEEL_PRINTF(3, 4);
/* registrar_fatal with "what: strerror(err)" and the log's last message when it has one. */
void registrar_fatal_log(struct registrar *r, int err, const char *what);
struct registrar_ticket *registrar_ticket_new(struct registrar *r, enum registrar_ticket_kind kind);
void registrar_ticket_link(struct registrar *r, struct registrar_ticket *t);
void registrar_on_log_done(struct replog *log, int status, uint64_t position, void *arg);
int registrar_op_new(const Keel__Registry__Operation *msg, struct registrar_op **out, char *errmsg);
void registrar_op_free(struct registrar_op *op);
int registrar_queue_internal(struct registrar *r, const Keel__Registry__Operation *msg,
			     registrar_done_cb cb, void *arg);
/* Queues an operator's operation on no agent or framework (weights, quota): counted, no
 * pending entry. -EAGAIN, -ESHUTDOWN, -EINVAL (does not pack), -ENOMEM. */
int registrar_queue(struct registrar *r, const Keel__Registry__Operation *msg, registrar_done_cb cb,
		    void *arg);

/* registrar_prune.c: the Prune operation closing a batch, or *out NULL when nothing goes. */
int registrar_prune_plan(struct registrar *r, const struct registrar_op *batch,
			 struct registrar_op **out);

/* registrar_snapshot.c */
bool registrar_snapshot_due(const struct registrar *r);
void registrar_snapshot_start(struct registrar *r);
void registrar_snapshot_send(struct registrar *r);
void registrar_snapshot_done(struct registrar *r, struct registrar_ticket *t);

/* registrar_recover.c */
void registrar_recover_step(struct registrar *r);
void registrar_recover_started(struct registrar *r, struct registrar_ticket *t);
void registrar_recover_replay(struct registrar *r);

#endif
