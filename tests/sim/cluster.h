/* A deterministic cluster of replog cores with simulated network and disk, for tests and sim. */
#ifndef KEEL_TESTS_SIM_CLUSTER_H
#define KEEL_TESTS_SIM_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replog/core.h"

/*
 * The fixture runs N real replog cores. It is the driver of the core
 * contract (replog/core.h) with everything simulated:
 *
 *  - store: each node has a volatile store (every write applied at once, what
 *    the core reads) and a durable one (what survives a crash). Updates'
 *    writes queue as pending batches; sim_cluster_fsync makes a node's pending
 *    batches durable (group commit) and releases the messages that waited for
 *    them. A crash keeps a chosen prefix of the pending batches and loses the
 *    rest and every held message; a disk loss wipes the durable store too.
 *  - network: a pool of in-flight messages (deep copies) with a delivery
 *    time; the caller picks which to deliver, drop or duplicate; `cut`
 *    blocks a link in one direction (delivery on a cut link drops).
 *  - clients: start/append/truncate/catchup with completions recorded.
 *  - checker: every learned action written anywhere is compared with the
 *    first one learned at that position (agreement); every begin must be
 *    justified by a learned TRUNCATE; every acknowledged append is recorded for
 *    the durability check.
 *
 * Nothing here reads a clock or draws a random number: `now` is advanced by
 * the caller, and randomness comes from struct sim_rng seeded by the caller.
 */

/* splitmix64-seeded xoshiro256**: deterministic, fast. */
struct sim_rng {
	uint64_t s[4]; /* state */
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, n) (n > 0). */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t n);
/* True with probability num/den. */
bool sim_rng_chance(struct sim_rng *r, uint64_t num, uint64_t den);

/* One stored action with its own copy of the value. */
struct sim_rec {
	struct replog_action a; /* a.value points at buf */
	uint8_t *buf;		/* owned value bytes */
};

/* An in-memory store: metadata and actions sorted by position. */
struct sim_store {
	bool has_meta;		 /* a metadata record was written */
	struct replog_meta meta; /* the record */
	struct sim_rec *recs;	 /* sorted by position */
	size_t n;		 /* records */
	size_t cap;		 /* allocated */
	void **dead;		 /* value buffers replaced while the core may still point at them */
	size_t dead_n;		 /* queued */
	size_t dead_cap;	 /* allocated */
};

/* A batch of writes (one update's) not yet durable. */
struct sim_batch {
	struct replog_write *w; /* deep copies (values owned in vals) */
	size_t n;		/* writes */
	uint8_t **vals;		/* owned value copies, one per write (NULL when none) */
};

/* A message in flight (deep copy). */
struct sim_msg {
	struct replog_msg m; /* pointers inside point into blob */
	void *blob;	     /* owned copies of entries and values */
	uint64_t at;	     /* delivery time */
	uint64_t id;	     /* sequence number (stable order) */
	uint64_t barrier;    /* held: needs the sender's durable seq >= barrier */
};

/* A client operation handed to a core (its APPEND bytes live here until completion). */
struct sim_op {
	uint8_t op;	     /* enum replog_op */
	unsigned node;	     /* where it was submitted */
	uint64_t value_id;   /* APPEND: the value's id (first 8 bytes of the value) */
	uint8_t *value;	     /* APPEND: bytes */
	size_t len;	     /* APPEND: length */
	uint64_t to;	     /* TRUNCATE */
	uint64_t writer;     /* writer incarnation that took it */
	struct sim_op *next; /* node's list of outstanding ops */
};

struct sim_node {
	struct replog_core *core; /* NULL while down */
	struct replog_config cfg; /* its config */
	struct sim_store vol;	  /* what the core reads */
	struct sim_store dur;	  /* what survives a crash */
	struct sim_batch *pend;	  /* pending batches, oldest first */
	size_t pend_n;		  /* pending batches */
	size_t pend_cap;	  /* allocated */
	uint64_t wseq;		  /* sequence of the newest batch */
	uint64_t dseq;		  /* sequence of the newest durable batch */
	struct sim_msg *held;	  /* messages waiting for durability */
	size_t held_n;		  /* held messages */
	size_t held_cap;	  /* allocated */
	struct sim_op *ops;	  /* outstanding client operations */
	uint64_t writer;	  /* incarnation of its writer (bumped at each START) */
	unsigned crashes;	  /* times crashed */
};

/* A completion as the fixture saw it. */
struct sim_done {
	unsigned node;	   /* where */
	uint8_t op;	   /* enum replog_op */
	int status;	   /* 0 or negative errno */
	uint64_t position; /* as reported */
	uint64_t value_id; /* APPEND: value id */
	uint64_t writer;   /* writer incarnation */
};

/* What the checker keeps per learned position. */
struct sim_chosen {
	uint64_t position; /* the position */
	uint8_t type;	   /* action type */
	uint64_t to;	   /* TRUNCATE */
	uint8_t *value;	   /* APPEND bytes (owned) */
	size_t len;	   /* bytes */
};

struct sim_cluster;
typedef void (*sim_done_fn)(struct sim_cluster *c, const struct sim_done *d, void *arg);
/*
 * Decides a message's fate as it enters the network: returns its delay and
 * sets *copies (0 = lost, 1, 2 = duplicated). Self messages are never lost.
 */
typedef uint64_t (*sim_policy_fn)(struct sim_cluster *c, const struct replog_msg *m, void *arg,
				  unsigned *copies);

struct sim_cluster {
	unsigned n;		/* nodes */
	struct sim_node *nodes; /* [n] */
	struct sim_msg *net;	/* in flight */
	size_t net_n;		/* in flight count */
	size_t net_cap;		/* allocated */
	uint64_t msg_seq;	/* next message id */
	uint64_t now;		/* simulated time (caller's unit) */
	bool auto_sync;		/* durable at once (no held messages) */
	bool tolerate_failures; /* a failed core (e.g. injected -ENOMEM) is not a violation */
	unsigned core_failures; /* steps that failed a core */
	bool cut[REPLOG_NODES_MAX][REPLOG_NODES_MAX]; /* cut[from][to]: link blocked */
	struct sim_done *done;			      /* every completion */
	size_t done_n;				      /* completions */
	size_t done_cap;			      /* allocated */
	sim_done_fn on_done;			      /* called for each completion (may be NULL) */
	void *on_done_arg;			      /* its argument */
	sim_policy_fn policy; /* network fate of each message (NULL: at once, once) */
	void *policy_arg;     /* its argument */
	/* checker */
	struct sim_chosen *chosen; /* learned values by position (sorted) */
	size_t chosen_n;	   /* entries */
	size_t chosen_cap;	   /* allocated */
	uint64_t max_truncate_to;  /* highest `to` of a learned TRUNCATE */
	char violation[512];	   /* first safety violation seen ("" when none) */
	/* trace */
	char **trace;	  /* ring of recent event lines */
	size_t trace_cap; /* ring size */
	size_t trace_n;	  /* lines written in total */
	bool trace_print; /* also print every line as it happens */
	uint64_t steps;	  /* core steps run */
	char errmsg[256]; /* last fixture error */
};

struct sim_cluster_config {
	unsigned nodes;		   /* replicas */
	unsigned quorum;	   /* 0: majority */
	bool auto_init;		   /* replicas start EMPTY with auto-initialisation */
	bool voting;		   /* replicas start VOTING (as if `initialize`d), begin = base */
	uint64_t base;		   /* with voting: first position of the log */
	unsigned max_inflight;	   /* core config */
	unsigned learn_batch;	   /* core config */
	unsigned catchup_patience; /* core config */
	size_t trace_lines;	   /* trace ring size (0: 200) */
};

/* 0 or negative errno (message in c->errmsg). */
int sim_cluster_init(struct sim_cluster *c, const struct sim_cluster_config *cfg);
void sim_cluster_free(struct sim_cluster *c);

/* Adds a trace line (printf-like). */
void sim_trace(struct sim_cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the last `lines` trace lines to stdout. */
void sim_trace_dump(const struct sim_cluster *c, size_t lines);

/* Feeds an event to node `i` and carries out the update. Returns the step's result. */
int sim_node_step(struct sim_cluster *c, unsigned i, const struct replog_event *ev);
int sim_node_tick(struct sim_cluster *c, unsigned i);
/* Client operations; return the step's synchronous result. */
int sim_node_start(struct sim_cluster *c, unsigned i);
int sim_node_append(struct sim_cluster *c, unsigned i, uint64_t value_id, size_t pad);
int sim_node_truncate(struct sim_cluster *c, unsigned i, uint64_t to);
int sim_node_catchup(struct sim_cluster *c, unsigned i);
/* Stops node i's writer (REPLOG_EV_STOP). */
int sim_node_stop(struct sim_cluster *c, unsigned i);

/* Makes every pending batch of node i durable and releases what waited. */
int sim_node_fsync(struct sim_cluster *c, unsigned i);
/* Crashes node i: keeps `keep` oldest pending batches, loses the rest; with lose_disk, all. */
void sim_node_crash(struct sim_cluster *c, unsigned i, size_t keep, bool lose_disk);
/* Restarts node i from its durable store. 0 or the core's error (refused to open). */
int sim_node_restart(struct sim_cluster *c, unsigned i);
static inline bool sim_node_up(const struct sim_cluster *c, unsigned i)
{
	return c->nodes[i].core != NULL;
}

/* Delivers message k of the pool (removing it). Returns the step's result (0 when dropped). */
int sim_net_deliver(struct sim_cluster *c, size_t k);
void sim_net_drop(struct sim_cluster *c, size_t k);
int sim_net_duplicate(struct sim_cluster *c, size_t k);
/* Index of the message with the earliest (at, id), or -1 when empty. */
long sim_net_earliest(const struct sim_cluster *c);

/* Which messages a run may deliver: return true to deliver, false to leave it in the pool. */
typedef bool (*sim_filter_fn)(const struct sim_cluster *c, const struct replog_msg *m, void *arg);
/*
 * Delivers messages in (at, id) order until none passes `filter` (NULL: all)
 * or max_steps deliveries happened. Returns deliveries made, or a negative
 * error from a step other than a rejection.
 */
long sim_run(struct sim_cluster *c, sim_filter_fn filter, void *arg, long max_steps);
/* Drops every pooled message that `filter` matches. */
void sim_net_drop_if(struct sim_cluster *c, sim_filter_fn filter, void *arg);

/* Cuts or heals every link to and from node i. */
void sim_isolate(struct sim_cluster *c, unsigned i, bool cut);
void sim_heal(struct sim_cluster *c);

/* Checker: records a violation (first one wins). */
void sim_violation(struct sim_cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The learned value at a position, or NULL. */
const struct sim_chosen *sim_chosen_at(const struct sim_cluster *c, uint64_t position);
/* Runs replog_core_check on every up node; records a violation on failure. */
void sim_check_cores(struct sim_cluster *c);

/* Value bytes for an id: 8-byte little-endian id then `pad` filler bytes. */
size_t sim_value_make(uint8_t *buf, size_t cap, uint64_t id, size_t pad);
/* The id of a value made by sim_value_make (0 when too short). */
uint64_t sim_value_id(const void *value, size_t len);

const char *sim_msg_describe(const struct replog_msg *m, char *buf, size_t cap);

#endif
