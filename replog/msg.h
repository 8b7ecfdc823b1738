/* replog protocol records as C structs: actions, replica metadata, messages between nodes. */
#ifndef KEEL_REPLOG_MSG_H
#define KEEL_REPLOG_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every struct here maps 1:1 onto a wire or storage record that a later
 * encoder (proto/) writes; enum values keep the numbers of Mesos's
 * src/messages/log.proto where Mesos has the same concept.
 *
 * Positions are uint64 in [0, REPLOG_POSITION_MAX]. UINT64_MAX is never a
 * position, so `end + 1` never wraps and UINT64_MAX can mean "none".
 *
 * Ballots (Mesos "proposal numbers") are unique per node: the low
 * REPLOG_BALLOT_NODE_BITS bits hold the proposing node's index and the rest a
 * round counter. Ballot 0 means "none". Two proposers can therefore never use
 * the same ballot, and (position, ballot) names exactly one value.
 */

#define REPLOG_POSITION_MAX (UINT64_MAX - 1)
#define REPLOG_NODES_MAX 64
#define REPLOG_BALLOT_NODE_BITS 8
#define REPLOG_ROUND_MAX (UINT64_MAX >> REPLOG_BALLOT_NODE_BITS)
/* Largest APPEND value the core accepts (the wire layer may set a lower one). */
#define REPLOG_VALUE_MAX (64u << 20)

static inline uint64_t replog_ballot_make(uint64_t round, unsigned node)
{
	return (round << REPLOG_BALLOT_NODE_BITS) | (uint64_t)node;
}

static inline uint64_t replog_ballot_round(uint64_t ballot)
{
	return ballot >> REPLOG_BALLOT_NODE_BITS;
}

static inline unsigned replog_ballot_node(uint64_t ballot)
{
	return (unsigned)(ballot & ((1u << REPLOG_BALLOT_NODE_BITS) - 1));
}

/* Replica status (Mesos Metadata.Status numbers). */
enum replog_status {
	REPLOG_VOTING = 1,     /* a full acceptor and learner */
	REPLOG_RECOVERING = 2, /* catching up after data loss; learns but does not vote */
	REPLOG_STARTING = 3,   /* auto-initialisation, between EMPTY and VOTING */
	REPLOG_EMPTY = 4,      /* a new or wiped replica */
};

/* Action types (Mesos Action.Type numbers); 0 only in compact learned notices. */
enum replog_action_type {
	REPLOG_ACTION_NONE = 0, /* compact learned notice: no body, see struct replog_action */
	REPLOG_ACTION_NOP = 1,
	REPLOG_ACTION_APPEND = 2,
	REPLOG_ACTION_TRUNCATE = 3,
};

/*
 * One log entry. In a LEARNED message an entry of type REPLOG_ACTION_NONE
 * is compact: "the value you accepted at `position` under `ballot` is
 * chosen"; a replica that holds exactly that (position, ballot) marks it
 * learned, any other ignores it.
 */
struct replog_action {
	uint64_t position; /* log position */
	uint64_t ballot;   /* ballot it was accepted under (Mesos "performed"); 0 for tombstones */
	uint8_t type;	   /* enum replog_action_type */
	bool learned;	   /* known to be chosen */
	bool tombstone;	   /* a NOP that stands for a truncated position */
	uint64_t to;	   /* TRUNCATE: every position below `to` is removed */
	const void *value; /* APPEND: the bytes (never owned by this struct) */
	size_t len;	   /* APPEND: number of bytes */
};

/* What a replica keeps besides its actions: one record, rewritten in place. */
struct replog_meta {
	uint8_t status;	   /* enum replog_status */
	uint64_t promised; /* highest ballot promised (covers every position) */
	uint64_t begin;	   /* first position not truncated; everything below is gone */
};

enum replog_msg_type {
	REPLOG_MSG_PROMISE_REQ = 1, /* phase 1: implicit (all positions) or explicit (one) */
	REPLOG_MSG_PROMISE_RESP =
	    2, /* ACCEPT with begin/end (+ action if explicit), REJECT, IGNORED */
	REPLOG_MSG_WRITE_REQ = 3,    /* phase 2: accept this action under this ballot */
	REPLOG_MSG_WRITE_RESP = 4,   /* ACCEPT, REJECT or IGNORED */
	REPLOG_MSG_LEARNED = 5,	     /* batch of chosen actions (full or compact) */
	REPLOG_MSG_RECOVER_REQ = 6,  /* "what is your status, begin, end, promise?" */
	REPLOG_MSG_RECOVER_RESP = 7, /* answer to RECOVER_REQ */
	REPLOG_MSG_LEARN_REQ = 8,    /* "send me what you learned in [from, to]" */
	REPLOG_MSG_LEARN_RESP = 9,   /* learned actions, a prefix of the asked range */
};
#define REPLOG_MSG_TYPE_MAX REPLOG_MSG_LEARN_RESP

/* Reply kinds (Mesos PromiseResponse.Type / WriteResponse.Type numbers). */
enum replog_reply {
	REPLOG_ACCEPT = 1,
	REPLOG_REJECT = 2,  /* the replica promised a higher ballot: `promised` says which */
	REPLOG_IGNORED = 3, /* the replica is not VOTING and cannot take part */
};

/* Which role of the sending node asked; replies echo it so they reach that role. */
enum replog_tag {
	REPLOG_TAG_WRITER = 1,	/* the writer (coordinator) */
	REPLOG_TAG_CATCHUP = 2, /* recovery and reader catch-up */
};

struct replog_promise_req {
	bool explicit_;	   /* true: the caller wants the action at `position` */
	uint64_t position; /* explicit only */
};

struct replog_promise_resp {
	uint8_t reply;		     /* enum replog_reply */
	uint64_t promised;	     /* the replica's promise after handling the request */
	uint64_t begin;		     /* ACCEPT: first untruncated position */
	uint64_t end;		     /* ACCEPT: last position the replica holds (0 on a new log) */
	bool explicit_;		     /* echo of the request's kind */
	uint64_t position;	     /* explicit: echo of the requested position */
	bool has_action;	     /* explicit ACCEPT: the replica holds an action there */
	struct replog_action action; /* explicit ACCEPT with has_action */
};

struct replog_write_req {
	struct replog_action action; /* position, type and body; ballot = the message's ballot */
};

struct replog_write_resp {
	uint8_t reply;	   /* enum replog_reply */
	uint64_t promised; /* the replica's promise after handling the request */
	uint64_t position; /* echo */
};

struct replog_learned {
	size_t n;			     /* number of entries */
	const struct replog_action *entries; /* chosen actions (full or compact), learned = true */
};

struct replog_recover_resp {
	uint8_t status;	   /* enum replog_status */
	uint64_t promised; /* the replica's promise */
	uint64_t begin;	   /* first untruncated position */
	uint64_t end;	   /* last position held */
};

struct replog_learn_req {
	uint64_t from; /* first position wanted */
	uint64_t to;   /* last position wanted (inclusive) */
};

struct replog_learn_resp {
	uint64_t begin; /* the replica's begin (positions below are truncated) */
	uint64_t end;	/* the replica's end */
	uint64_t upto;	/* every learned position in [from, upto] is in `actions` */
	size_t n;	/* number of actions */
	const struct replog_action *actions; /* learned actions, increasing positions */
};

/*
 * A message between two nodes of one log. `ballot` is the sender's ballot in
 * PROMISE_REQ/WRITE_REQ, the request's ballot echoed in their responses, and a
 * request number (echoed) in RECOVER_REQ/LEARN_REQ and their responses.
 */
struct replog_msg {
	uint8_t type;	 /* enum replog_msg_type */
	uint8_t tag;	 /* enum replog_tag of the requesting role (echoed in replies) */
	uint8_t from;	 /* sender's node index */
	uint8_t to;	 /* receiver's node index */
	uint64_t ballot; /* see above */
	union {
		struct replog_promise_req promise_req;
		struct replog_promise_resp promise_resp;
		struct replog_write_req write_req;
		struct replog_write_resp write_resp;
		struct replog_learned learned;
		struct replog_recover_resp recover_resp;
		struct replog_learn_req learn_req;
		struct replog_learn_resp learn_resp;
	} u; /* by type; RECOVER_REQ has no body */
};

const char *replog_msg_type_name(unsigned type);
const char *replog_status_name(unsigned status);
const char *replog_action_type_name(unsigned type);

#endif
