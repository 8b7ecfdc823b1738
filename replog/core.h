/* The pure Paxos core of the replicated log: replog_core_step(state, event) -> update, no I/O. */
#ifndef KEEL_REPLOG_CORE_H
#define KEEL_REPLOG_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/*
 * One `struct replog_core` is one node of a replicated log: a replica
 * (acceptor + learner), an optional writer (the Mesos "coordinator") and a
 * catch-up engine (recovery of a non-VOTING replica, and reader catch-up).
 * It never does I/O, reads no clock, draws no random number and keeps no
 * global state. A driver (the network/LMDB driver, the simulator, the fuzzer)
 * feeds it events and carries out the update each event returns:
 *
 *	const struct replog_update *u;
 *	rv = replog_core_step(core, &ev, &u);
 *	1. apply u->writes to the store, in order, as one atomic unit, after every
 *	   earlier update's writes (several updates may share one transaction);
 *	2. copy u->msgs out; if u->sync, none of them may leave before every write
 *	   of this and all earlier updates is durable (fsync); otherwise they may
 *	   leave at once;
 *	3. only then report u->done to the clients (a completion may release the
 *	   bytes an APPEND handed in, which messages of this update point at).
 *
 * Messages addressed to the node itself (`to == self`) must be delivered back
 * through replog_core_step like any other, after the same durability rule;
 * they may never be dropped. Other messages may be lost, duplicated,
 * reordered or delayed without harm to safety.
 *
 * Memory: every pointer in an update (message bodies, write values) stays
 * valid until the driver's next call into this core, and no longer; it may
 * point into the event being handled (a received message's value), into what
 * the store's read returned, or into an APPEND's bytes. The driver must keep
 * all of those alive until it has consumed the update.
 *
 * Time: the core counts REPLOG_EV_TICK events; every retransmission and retry
 * happens on a tick. The driver should tick each node every retry interval
 * (for example 100 ms) and may jitter it; jitter is what breaks ties between
 * racing proposers (the core itself is deterministic).
 *
 * Errors: replog_core_step returns 0 or a negative errno. -EINVAL, -ENOTCONN,
 * -EBUSY, -EALREADY, -EAGAIN, -ERANGE, -EOVERFLOW reject the event before any
 * state changed (the update is empty, no completion will follow). Any other
 * error (-ENOMEM, a store read error) means the core is failed: every later
 * step returns -EIO; the driver must free it and open the replica again from
 * its store. core->errmsg (replog_core_errmsg) says what happened.
 *
 * Threads: a core is used by one thread at a time; cores share nothing.
 *
 * Recovery: a replica that is not VOTING after restore recovers by itself on
 * ticks (recover protocol, auto-initialisation, catch-up). Recovering a
 * replica that may have lost data (EMPTY or RECOVERING) fences every older
 * ballot, so the writer of the moment fails its next write with -ESTALE and
 * must be started again: see docs/replog.md, "Why recovery fences".
 */

struct replog_core;

/* How the core reads back what earlier updates told the driver to write. */
struct replog_store_ops {
	/*
	 * Reads the action at `position` into *out. Returns 0, -ENOENT if
	 * nothing is stored there, or a negative errno. Must reflect every write
	 * of every update returned so far, durable or not. out->value must stay
	 * valid until the driver's next call into the core.
	 */
	int (*read)(void *ctx, uint64_t position, struct replog_action *out);
	void *ctx; /* passed to read */
};

struct replog_config {
	unsigned self;		   /* this node's index, < nodes */
	unsigned nodes;		   /* replicas in the log, <= REPLOG_NODES_MAX (usually 2q-1) */
	unsigned quorum;	   /* votes needed, > nodes / 2 */
	bool auto_init;		   /* EMPTY -> STARTING -> VOTING when every replica is empty */
	unsigned max_inflight;	   /* Paxos instances a proposer runs at once (0: 64) */
	unsigned learn_batch;	   /* most actions in one LEARN_RESP (0: 64) */
	unsigned catchup_patience; /* fruitless learn rounds before a reader fills (0: 3) */
	uint32_t incarnation;	   /* a boot counter: tells answers to an earlier run apart */
};

/* What a driver must persist. */
enum replog_write_kind {
	REPLOG_WRITE_META = 1,	       /* replace the metadata record with `meta` */
	REPLOG_WRITE_ACTION = 2,       /* store `action` at action.position (replacing) */
	REPLOG_WRITE_DELETE_BELOW = 3, /* delete every action at a position < `below` */
};

struct replog_write {
	uint8_t kind;		     /* enum replog_write_kind */
	struct replog_meta meta;     /* META */
	struct replog_action action; /* ACTION; action.value as described above */
	uint64_t below;		     /* DELETE_BELOW */
};

/* Client operations that complete later. */
enum replog_op {
	REPLOG_OP_START = 1,	/* writer election; position = last position of the log */
	REPLOG_OP_APPEND = 2,	/* position = where the value was written */
	REPLOG_OP_TRUNCATE = 3, /* position = where the TRUNCATE was written */
	REPLOG_OP_CATCHUP = 4,	/* position = the local replica has learned everything up to here */
};

struct replog_completion {
	uint8_t op;	   /* enum replog_op */
	int status;	   /* 0, or a negative errno (see replog_core_step) */
	uint64_t position; /* see enum replog_op; undefined on failure */
	void *cookie;	   /* the event's cookie */
};

/* What the driver must do after one event (see the top of this file). */
struct replog_update {
	const struct replog_write *writes;    /* to persist, in order, atomically */
	size_t n_writes;		      /* number of writes */
	bool sync;			      /* msgs wait until all writes so far are durable */
	const struct replog_msg *msgs;	      /* messages to send */
	size_t n_msgs;			      /* number of messages */
	const struct replog_completion *done; /* client operations finished by this event */
	size_t n_done;			      /* number of completions */
};

enum replog_event_type {
	REPLOG_EV_RECEIVE = 1,	/* a message arrived (msg) */
	REPLOG_EV_TICK = 2,	/* one retry interval passed */
	REPLOG_EV_START = 3,	/* start the writer (elect) */
	REPLOG_EV_APPEND = 4,	/* append value/len */
	REPLOG_EV_TRUNCATE = 5, /* append a TRUNCATE(to) */
	REPLOG_EV_CATCHUP = 6,	/* reader catch-up to the log's current end */
	REPLOG_EV_STOP = 7,	/* stop the writer (its node no longer leads) */
};

struct replog_event {
	uint8_t type; /* enum replog_event_type */
	void *cookie; /* START/APPEND/TRUNCATE/CATCHUP: returned in the completion */
	const struct replog_msg *msg; /* RECEIVE */
	const void *value;	      /* APPEND: bytes, kept alive by the caller until completion */
	size_t len;		      /* APPEND: byte count */
	uint64_t to;		      /* TRUNCATE: positions below `to` go */
};

/*
 * Creates a core for replica `cfg->self`. `meta` is the stored metadata record,
 * or NULL for a replica with no store yet (EMPTY, promised 0, begin 0). After
 * this the driver calls replog_core_restore_action for every stored action in
 * increasing position order, then replog_core_restore_done, before any step.
 * `store` is copied. Returns 0 and sets *out, or -EINVAL (bad config or meta,
 * message in errmsg), -ENOMEM. Free with replog_core_free.
 */
int replog_core_new(const struct replog_config *cfg, const struct replog_store_ops *store,
		    const struct replog_meta *meta, struct replog_core **out, char *errmsg);

/*
 * Restores one stored action's place in the log. Positions must increase and
 * be >= meta.begin and <= REPLOG_POSITION_MAX; otherwise -EINVAL (the store is
 * corrupt: refuse to open). -ENOMEM.
 */
int replog_core_restore_action(struct replog_core *core, uint64_t position, bool learned);

/* Ends restoring; -EINVAL if called twice. */
int replog_core_restore_done(struct replog_core *core);

void replog_core_free(struct replog_core *core);

/*
 * Feeds one event. On return 0, *out (if out is not NULL) points at the
 * update, valid until the next call into this core. See the top of this file
 * for errors and the driver's duties.
 *
 * START: -EAGAIN if the replica is not VOTING yet, -EBUSY while an election
 *	runs, -EALREADY when already elected, -EOVERFLOW when ballots ran out.
 *	Else completes once: 0 when elected (every position up to the quorum's
 *	end is then learned locally; position = that end), -ESTALE when a
 *	replica promised a higher ballot, -EAGAIN when a fill found too few
 *	VOTING replicas (the writer is dead until started again). While a quorum
 *	answers IGNORED the election waits and retries on ticks.
 * APPEND/TRUNCATE: -ENOTCONN if the writer is not elected, -EBUSY when
 *	max_inflight writes are pending, -ERANGE past REPLOG_POSITION_MAX,
 *	-EINVAL for a value over REPLOG_VALUE_MAX or a TRUNCATE `to` beyond its
 *	own position. Else completes once, in position order: 0 when chosen;
 *	when the writer dies (a rejection: -ESTALE; too few replicas VOTING to
 *	ever finish: -EAGAIN) every write not yet chosen fails with that error
 *	and the writer takes nothing more until started again. A failed append
 *	may still be chosen later by the next writer's fill: its outcome is
 *	unknown, not "not written".
 * STOP: -ENOTCONN if no writer runs. Else the writer stops at once: chosen
 *	writes complete with 0, in order; the START (if still electing) and every
 *	other pending write complete with -ECANCELED (outcome unknown, as for any
 *	failed write). For a node that no longer leads.
 * CATCHUP: -EAGAIN if the replica is not VOTING, -EBUSY while one runs. Else
 *	completes once with the position caught up to: the highest end a quorum
 *	reported when asked, or, while this node's writer is elected, at once with
 *	the last position that writer completed (everything up to it is learned
 *	here; a catch-up never fills over its own writer).
 * RECEIVE: -EINVAL for a malformed message (nothing changes).
 * Operations without a quorum stay pending (retried on ticks); none time out.
 */
int replog_core_step(struct replog_core *core, const struct replog_event *ev,
		     const struct replog_update **out);

/*
 * Reads a learned position from the local replica into *out (value valid
 * until the next call into this core). -ENOENT: truncated (below begin);
 * -ERANGE: past the end; -EAGAIN: not learned here yet (catch up first);
 * other negative errno: store error. The message is in replog_core_errmsg.
 */
int replog_core_read(struct replog_core *core, uint64_t position, struct replog_action *out);

uint64_t replog_core_begin(const struct replog_core *core);
uint64_t replog_core_end(const struct replog_core *core);
uint8_t replog_core_status(const struct replog_core *core);
uint64_t replog_core_promised(const struct replog_core *core);
bool replog_core_is_learned(const struct replog_core *core, uint64_t position);
/* True while the writer is elected (appends accepted). */
bool replog_core_writer_elected(const struct replog_core *core);
/* The writer's current ballot (0 when none). */
uint64_t replog_core_writer_ballot(const struct replog_core *core);
const char *replog_core_errmsg(const struct replog_core *core);

/*
 * Checks the core's internal invariants (see docs/replog.md); 0 or -EUCLEAN
 * with the broken one in replog_core_errmsg. For tests, the simulator and the
 * fuzzer.
 */
int replog_core_check(struct replog_core *core);

/*
 * Checks a received message's shape against the config: 0 or -EINVAL. The
 * step does this itself; exposed for decoders.
 */
int replog_msg_validate(const struct replog_msg *m, const struct replog_config *cfg);

#endif
