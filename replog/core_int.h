/* Internal state of the replog core shared by its files (replica, proposer, writer, catch-up). */
#ifndef KEEL_REPLOG_CORE_INT_H
#define KEEL_REPLOG_CORE_INT_H

#include "core.h"
#include "iset.h"
#include "runtime/err.h"

/*
 * The replica's view of its log (all derived from the store at restore):
 *
 *	begin <= end + 1
 *	missing ⊆ [begin, end]
 *	every position in [begin, end] \ missing holds a learned action in the store
 *	nothing is stored below begin
 *
 * A new log has begin = end = 0 and missing = {0} (position 0 is a hole that
 * the first writer fills with a NOP, as in Mesos).
 */
struct replog_replica {
	uint8_t status;		    /* enum replog_status */
	uint64_t promised;	    /* highest ballot promised */
	uint64_t begin;		    /* first untruncated position */
	uint64_t end;		    /* last position stored (0 on a new log) */
	struct replog_iset missing; /* positions in [begin, end] not learned here */
};

/* One Paxos instance (one position) run by a proposer. */
enum {
	INST_FREE = 0,	  /* slot unused */
	INST_PROMISE = 1, /* phase 1 sent (explicit promise) */
	INST_WRITE = 2,	  /* phase 2 sent */
	INST_CHOSEN = 3,  /* chosen; learned locally, broadcast pending or done */
};

enum {
	INST_FILL = 1,	   /* fill a position with whatever Paxos allows (or NOP) */
	INST_APPEND = 2,   /* a client APPEND */
	INST_TRUNCATE = 3, /* a client TRUNCATE */
};

struct replog_inst {
	uint64_t position;	  /* the position */
	uint8_t state;		  /* INST_* state */
	uint8_t kind;		  /* INST_FILL / INST_APPEND / INST_TRUNCATE */
	bool have_best;		  /* phase 1: some replica reported an accepted action */
	bool broadcast;		  /* chosen and the LEARNED broadcast is still due */
	uint64_t acks;		  /* nodes that accepted the current phase (bit per node) */
	uint64_t ignored;	  /* nodes that answered IGNORED in the current phase */
	uint64_t compact;	  /* nodes that may get a compact LEARNED entry */
	struct replog_action act; /* phase 1: best seen; phase 2: proposed; chosen: chosen */
	void *owned;		  /* heap copy of act.value when the core owns it, else NULL */
	void *cookie;		  /* client cookie (APPEND/TRUNCATE) */
};

/* A proposer: one ballot and a window of instances indexed by position % cap. */
struct replog_proposer {
	uint8_t tag;		  /* REPLOG_TAG_* carried by its requests */
	uint64_t ballot;	  /* current ballot (0: none) */
	struct replog_inst *inst; /* [cap] */
	unsigned cap;		  /* window size */
	unsigned active;	  /* instances not FREE */
};

/* What one phase-1/2 response meant to the proposer that owns the instance. */
enum {
	PROP_NOTHING = 0,  /* counted (or stale), nothing to decide */
	PROP_REJECTED = 1, /* a replica promised a higher ballot */
	PROP_HOPELESS = 2, /* too many IGNORED to ever reach a quorum */
};

enum {
	W_IDLE = 0,	/* not started, or dead after a rejection */
	W_ELECTING = 1, /* implicit promise phase */
	W_FILLING = 2,	/* filling unlearned positions up to the quorum's end */
	W_ELECTED = 3,	/* taking appends */
};

struct replog_writer {
	uint8_t state;		  /* W_* */
	struct replog_proposer p; /* ballot and instances */
	uint64_t acks;		  /* election: nodes that promised */
	uint64_t ignored;	  /* election: nodes that answered IGNORED */
	uint64_t end_max;	  /* election: highest end among promises */
	uint64_t fill_next;	  /* filling: next position to consider */
	uint64_t index;		  /* elected: next position to write (UINT64_MAX: log full) */
	uint64_t next_done;	  /* lowest position not yet completed to the client */
	void *start_cookie;	  /* the START's cookie */
};

enum {
	CU_NONE = 0,	/* idle */
	CU_RECOVER = 1, /* the replica is not VOTING: recover protocol, fence, catch-up */
	CU_READER = 2,	/* a client asked to catch up the VOTING replica */
};

enum {
	CU_QUERY = 1, /* RECOVER_REQ round: statuses, ends */
	CU_FENCE = 2, /* recovery: implicit promise round with a new ballot */
	CU_LEARN = 3, /* LEARN_REQ round: copy learned actions */
	CU_FILL = 4,  /* Paxos-fill positions nobody has learned */
};

struct replog_catchup {
	uint8_t mode;	    /* CU_NONE / CU_RECOVER / CU_READER */
	uint8_t phase;	    /* CU_QUERY .. CU_FILL */
	uint64_t first_req; /* first request number of the current QUERY phase / LEARN round */
	uint64_t req;	    /* newest request number sent (retries get new numbers) */
	uint64_t
	    node_req[REPLOG_NODES_MAX];	  /* QUERY: request number of each node's newest answer */
	uint64_t learn_from;		  /* LEARN: first position asked in this round */
	uint64_t qlo;			  /* QUERY: lowest begin among VOTING answers */
	uint64_t qhi;			  /* QUERY: highest end among VOTING answers */
	uint64_t responded;		  /* nodes that answered the current round */
	uint64_t acks;			  /* FENCE: nodes that promised */
	uint64_t ignored;		  /* FENCE: nodes that answered IGNORED */
	uint8_t status[REPLOG_NODES_MAX]; /* QUERY: each responder's status */
	uint64_t promised_max;		  /* highest promise heard of */
	uint64_t lo;			  /* range to catch up: first position */
	uint64_t hi;			  /* range to catch up: last position */
	uint64_t upto;			  /* LEARN: lowest `upto` among this round's responders */
	uint64_t learned_before;	  /* LEARN: missing-count proxy at the start of the round */
	unsigned fruitless;		  /* LEARN rounds that taught nothing */
	unsigned wait;			  /* ticks to wait before the next attempt */
	uint64_t fill_next;		  /* FILL: next position to consider */
	struct replog_proposer p;	  /* fills */
	void *cookie;			  /* CU_READER: the client's cookie */
};

struct replog_core {
	struct replog_config cfg;      /* copied at creation, defaults filled in */
	struct replog_store_ops store; /* how to read stored actions */
	struct replog_replica r;       /* acceptor + learner state */
	struct replog_writer w;	       /* the writer role */
	struct replog_catchup cu;      /* recovery / reader catch-up role */
	uint64_t round_max;	       /* highest ballot round seen anywhere */
	uint64_t req_next;	       /* next QUERY/LEARN round number */
	bool restored;		       /* replog_core_restore_done was called */
	bool failed;		       /* an internal error happened; only free is allowed */

	/* The update being built (reset at the start of every step). */
	struct replog_update upd;	/* what step hands out */
	struct replog_write *writes;	/* upd.writes storage */
	size_t writes_cap;		/* allocated writes */
	struct replog_msg *msgs;	/* upd.msgs storage */
	size_t msgs_cap;		/* allocated msgs */
	struct replog_completion *done; /* upd.done storage */
	size_t done_cap;		/* allocated completions */
	struct replog_action *ents;	/* LEARNED entries for all nodes of this step */
	size_t ents_n;			/* entries used */
	size_t ents_cap;		/* entries allocated */
	void **graveyard;		/* heap values to free at the start of the next step */
	size_t graveyard_n;		/* values queued */
	size_t graveyard_cap;		/* slots allocated */

	char errmsg[KEEL_ERRMSG_SIZE]; /* last error */
};

static inline unsigned popcount64(uint64_t x)
{
	return (unsigned)__builtin_popcountll(x);
}

static inline uint64_t node_bit(unsigned node)
{
	return (uint64_t)1 << node;
}

static inline uint64_t all_nodes(const struct replog_core *c)
{
	return c->cfg.nodes == 64 ? UINT64_MAX : node_bit(c->cfg.nodes) - 1;
}

/* core.c: update building. Each returns 0 or -ENOMEM. */
int core_push_write(struct replog_core *c, const struct replog_write *w);
int core_push_meta(struct replog_core *c);
int core_push_msg(struct replog_core *c, const struct replog_msg *m);
int core_push_done(struct replog_core *c, uint8_t op, int status, uint64_t position, void *cookie);
/*
 * Reserves n LEARNED/LEARN_RESP entries; returns the first (valid until the
 * next reservation) or NULL (-ENOMEM). A message refers to them by *off, stored
 * as (const struct replog_action *)(uintptr_t)off; the step makes it a pointer.
 */
struct replog_action *core_alloc_entries(struct replog_core *c, size_t n, size_t *off);
/* Frees `p` at the start of the next step (it may be referenced by this update). */
int core_bury(struct replog_core *c, void *p);
/* Notes a ballot seen anywhere, so the next own ballot is higher. */
void core_see_ballot(struct replog_core *c, uint64_t ballot);
/*
 * Picks a fresh ballot above everything seen, promises it on the local replica
 * (persisted; the update becomes sync so nobody hears of the ballot before
 * the promise is durable) and returns it in *out. -EOVERFLOW, -ENOMEM.
 */
int core_new_ballot(struct replog_core *c, uint64_t *out);
/* Sends a message of `type` with `tag` and `ballot` to every node (self included). */
int core_broadcast(struct replog_core *c, const struct replog_msg *tmpl);
/* Reads from the store; -ENOENT when absent; other errors are the store's. */
int core_read(struct replog_core *c, uint64_t position, struct replog_action *out);

/* replica.c */
int replica_init(struct replog_core *c, const struct replog_meta *meta);
int replica_restore_action(struct replog_core *c, uint64_t position, bool learned);
int replica_restore_done(struct replog_core *c);
int replica_receive(struct replog_core *c, const struct replog_msg *m);
/* Learns one chosen action (full body; tombstones advance begin). 0, -ENOMEM, store errors. */
int replica_learn(struct replog_core *c, const struct replog_action *a);
/* Moves begin up to `begin` (positions below are truncated). */
int replica_advance_begin(struct replog_core *c, uint64_t begin);
/* Persists a new status (and promise). */
int replica_set_status(struct replog_core *c, uint8_t status);
bool replica_is_learned(const struct replog_core *c, uint64_t position);
/* Smallest position >= from (and >= begin) not learned here, positions past end included. */
bool replica_next_missing(const struct replog_core *c, uint64_t from, uint64_t *out);

/* proposer.c */
int prop_init(struct replog_proposer *p, uint8_t tag, unsigned cap);
void prop_free(struct replog_core *c, struct replog_proposer *p);
struct replog_inst *prop_find(struct replog_proposer *p, uint64_t position);
/* True when an instance at `position` fits in the window now. */
bool prop_fits(const struct replog_proposer *p, uint64_t position);
/* Starts a fill at `position`: explicit promise to every node. */
int prop_start_fill(struct replog_core *c, struct replog_proposer *p, uint64_t position);
/* Starts phase 2 directly (appends): the instance takes `a` (value not copied). */
int prop_start_write(struct replog_core *c, struct replog_proposer *p,
		     const struct replog_action *a, uint8_t kind, void *cookie);
/* Handles PROMISE_RESP/WRITE_RESP for one of p's instances; *outcome = PROP_*. */
int prop_receive(struct replog_core *c, struct replog_proposer *p, const struct replog_msg *m,
		 int *outcome);
/* Resends every pending phase to the nodes that have not accepted it. */
int prop_retransmit(struct replog_core *c, struct replog_proposer *p);
/* Sends LEARNED for every chosen instance whose broadcast is due (one message per node). */
int prop_flush_learned(struct replog_core *c, struct replog_proposer *p);
/*
 * Frees fill instances that are done: chosen and broadcast, or whose position
 * the local replica learned (or truncated) meanwhile.
 */
int prop_release_learned_fills(struct replog_core *c, struct replog_proposer *p);
/* Frees an instance (its owned value goes to the graveyard). */
int prop_release(struct replog_core *c, struct replog_proposer *p, struct replog_inst *in);
/* Releases every instance; returns them to the caller through `each` first if not NULL. */
int prop_reset(struct replog_core *c, struct replog_proposer *p);

/* writer.c */
int writer_start(struct replog_core *c, void *cookie);
int writer_submit(struct replog_core *c, const struct replog_event *ev);
int writer_stop(struct replog_core *c);
int writer_receive(struct replog_core *c, const struct replog_msg *m);
int writer_tick(struct replog_core *c);
/* After any event: move on (complete in order, flush learned). */
int writer_progress(struct replog_core *c);

/* catchup.c */
int catchup_start_reader(struct replog_core *c, void *cookie);
int catchup_receive(struct replog_core *c, const struct replog_msg *m);
int catchup_tick(struct replog_core *c);
int catchup_progress(struct replog_core *c);

#endif
