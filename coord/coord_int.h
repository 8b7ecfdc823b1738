/* coord internals: the generic objects, the backend interface and the delivery helpers backends
 * share. */
#ifndef KEEL_COORD_INT_H
#define KEEL_COORD_INT_H

#include <stdarg.h>

#include "coord.h"

/* Largest payload accepted (ZooKeeper's default jute.maxbuffer is 1 MiB). */
#define COORD_MAX_PAYLOAD (1024 * 1024)
/* Longest group name. */
#define COORD_MAX_GROUP 64

/*
 * What a backend implements. Every hook runs on the loop thread, never
 * calls a user callback synchronously (they deliver from their own loop
 * callbacks, wrapped in coord_enter/coord_leave), and reports failures
 * through status events and retries rather than return values, except open.
 * Hooks marked optional may be NULL.
 */
struct coord_ops {
	/* Sets up c->be and starts connecting. Returns 0 or a negative errno with errmsg. */
	int (*open)(struct coord *c, char *errmsg);
	/* Ends the session (goodbye to the server), frees c->be. No callbacks. */
	void (*close)(struct coord *c, unsigned wait_ms);
	/* Runs pending work (see coord_kick): children added since, failed ones due again. */
	void (*kick)(struct coord *c);
	/* Optional. A child is going away (already marked dead): drop references, delete its
	 * node/key. */
	void (*contender_gone)(struct coord_contender *ct);
	void (*detector_gone)(struct coord_detector *d);
	void (*member_gone)(struct coord_member *m);
	void (*watch_gone)(struct coord_watch *w);
	/* Optional. The session deadline passed (see coord_session_touch): treat the session as
	 * lost. */
	void (*deadline)(struct coord *c);
	/* Ends the session (see coord_session_fail); required when the backend calls that. */
	void (*fail)(struct coord *c, int reason, const char *msg);
};

extern const struct coord_ops coord_zk_ops;
extern const struct coord_ops coord_etcd_ops;
extern const struct coord_ops coord_static_ops;

/* The session and everything made on it. */
struct coord {
	struct keel_loop *loop;		   /* the loop everything runs on */
	char *url_text;			   /* the URL as given (owned) */
	struct coord_url url;		   /* parsed */
	struct coord_config cfg;	   /* with defaults applied */
	const struct coord_ops *ops;	   /* the backend */
	void *be;			   /* backend state */
	struct coord_contender *cts;	   /* contenders, newest first */
	struct coord_detector *dets;	   /* detectors */
	struct coord_member *mems;	   /* memberships */
	struct coord_watch *watches;	   /* member watches */
	uint64_t deadline_ms;		   /* monotonic ms until which the session surely lives; 0 =
					      no session, UINT64_MAX = forever (static) */
	struct keel_timer *deadline_timer; /* fires ops->deadline at deadline_ms */
	struct keel_timer *kick; /* runs ops->kick (and a deferred failure) on a later turn */
	bool fail_pending;	 /* a session failure waits for the kick */
	int fail_reason;	 /* its reason */
	char fail_msg[KEEL_ERRMSG_SIZE]; /* its message */
	uint32_t session_timeout_ms;	 /* negotiated / granted (cfg value until known) */
	struct coord_stats stats;	 /* counters */
	int depth;			 /* nesting of loop callbacks into this coord */
	bool closing;			 /* coord_close was called; destroy when depth reaches 0 */
	unsigned close_wait_ms;		 /* coord_close's wait_ms */
	bool reap;			 /* dead children wait to be freed at depth 0 */
};

/* A candidacy. Backend fields are shared by zk and etcd; each uses what it needs. */
struct coord_contender {
	struct coord *c;		     /* owner */
	struct coord_contender *prev, *next; /* c->cts list */
	coord_contender_cb cb;		     /* user callback */
	void *arg;			     /* its argument */
	char *payload;			     /* copy of the payload */
	size_t len;			     /* its length */
	bool dead;			     /* withdrawn; freed at depth 0 */
	bool leading;			     /* ELECTED delivered, LOST not yet */
	uint64_t epoch;			     /* epoch while leading */
	int state;			     /* backend state machine */
	char *name;			     /* own node name / key, once created */
	uint64_t seq;			     /* zk: own sequence number */
	uint64_t id;			     /* zk: czxid; etcd: create_revision */
	char *pred;			     /* zk: predecessor being watched */
	bool recheck;			     /* zk: check again once the request in flight ends */
	unsigned tries;			     /* consecutive failed attempts (backoff, errors) */
};

/* A leader watch. */
struct coord_detector {
	struct coord *c;		    /* owner */
	struct coord_detector *prev, *next; /* c->dets list */
	coord_detector_cb cb;		    /* user callback */
	void *arg;			    /* its argument */
	unsigned flags;			    /* COORD_DETECT_* */
	bool dead;			    /* closed; freed at depth 0 */
	bool reported;			    /* something was delivered */
	bool last_present;		    /* what was delivered last: present */
	int last_err;			    /* ... err */
	uint64_t last_epoch;		    /* ... epoch */
	char *last_name;		    /* ... name */
	int state;			    /* backend state machine */
	bool again;			    /* zk: list again once the request in flight ends */
	char *fetching;			    /* zk: name whose data is being read */
};

/* A group membership. */
struct coord_member {
	struct coord *c;		  /* owner */
	struct coord_member *prev, *next; /* c->mems list */
	char *group;			  /* group name */
	char *payload;			  /* copy of the payload */
	size_t len;			  /* its length */
	bool dead;			  /* left; freed at depth 0 */
	int state;			  /* backend state machine */
	char *name;			  /* own node name / key, once created */
	uint64_t id;			  /* czxid / create_revision */
	bool recheck;			  /* zk: look at the node again after the request */
	unsigned tries;			  /* consecutive failed attempts */
};

/* One cached member of a watched group (zk keeps payloads here; etcd reads its mirror). */
struct coord_mcache {
	char *name;    /* node name / key */
	uint64_t id;   /* ordering id */
	char *payload; /* payload (NULL until fetched) */
	size_t len;    /* its length */
	bool fetched;  /* payload read */
	bool pending;  /* zk: a read is in flight */
	bool seen;     /* present in the latest listing (scratch) */
};

/* A group watch. */
struct coord_watch {
	struct coord *c;		 /* owner */
	struct coord_watch *prev, *next; /* c->watches list */
	char *group;			 /* group name */
	coord_watch_cb cb;		 /* user callback */
	void *arg;			 /* its argument */
	bool dead;			 /* closed; freed at depth 0 */
	int state;			 /* backend state machine */
	bool again;			 /* list again once the request in flight ends */
	struct coord_mcache *cache;	 /* zk: members known, by name */
	size_t ncache, capcache;	 /* count and capacity */
	unsigned fetches;		 /* zk: reads in flight */
	bool reported;			 /* something was delivered */
	int last_err;			 /* err delivered last */
	uint64_t *last_ids;		 /* ids delivered last, in order */
	size_t last_n;			 /* how many */
};

/* --- Reentrancy: wrap every loop callback that may call back into user code. --- */

void coord_enter(struct coord *c);
/* Returns true when c was destroyed (the caller must not touch it any more). */
bool coord_leave(struct coord *c);

/* --- Delivery (all suppress callbacks on dead handles and a closing coord). --- */

/* Status event with a printf message; the URL is prefixed. */
void coord_status(struct coord *c, enum coord_status_type type, int err, const char *fmt, ...)
    KEEL_PRINTF(4, 5);

/* Marks ct leading with epoch and delivers COORD_ELECTED (no-op if already leading that epoch). */
void coord_contender_elected(struct coord_contender *ct, uint64_t epoch);

/* If ct leads: delivers COORD_LOST with reason and message, and marks it not leading. */
void coord_contender_lost(struct coord_contender *ct, int reason, const char *fmt, ...)
    KEEL_PRINTF(3, 4);

/* Delivers a leader, deduplicated (same present/name/epoch/err is not repeated). */
void coord_detector_leader(struct coord_detector *d, const char *name, uint64_t epoch,
			   const void *payload, size_t len);
/* Delivers "no leader" with err (0: nobody leads) and a message, deduplicated. */
void coord_detector_none(struct coord_detector *d, int err, const char *fmt, ...) KEEL_PRINTF(3, 4);

/* Delivers a member set (sorted by the caller), deduplicated by ids and err. */
void coord_watch_report(struct coord_watch *w, const struct coord_member_info *m, size_t n,
			int err);

/* The session is gone: state first, then callbacks (a callback may close anything). */
/* Forgets every contender's and member's node/key (name, predecessor) and backend state. */
void coord_children_reset(struct coord *c);
/* Tells every leader COORD_LOST, every detector "no leader" and every watch "unknown" (reason). */
void coord_children_lost(struct coord *c, int reason, const char *msg);

/* --- Pending work --- */

/*
 * Has ops->kick run after_ms from now on the loop, unless a kick is due
 * already (then that one serves). 0 or -ENOMEM.
 */
int coord_kick(struct coord *c, uint64_t after_ms);

/*
 * Ends the session (reason, printf message) through ops->fail, which
 * reports SESSION_LOST or ERROR, tells every child and starts a new one.
 * Raised inside an API call (withdraw, leave: no loop callback under way),
 * it must not call back from there: it then runs on the next turn, before
 * ops->kick (only the first failure pending is kept).
 */
void coord_session_fail(struct coord *c, int reason, const char *fmt, ...) KEEL_PRINTF(3, 4);

/* --- Session deadline --- */

/* How early before a possible expiry a loss is reported. */
uint32_t coord_margin_ms(uint32_t timeout_ms);

/* Monotonic milliseconds from the clock (not the loop's cached turn time). */
uint64_t coord_now_ms(void);

/*
 * The server answered a request sent at issued_ms: the session lives at least until
 * issued_ms + timeout - margin. Moves c->deadline_ms forward and re-arms the deadline timer.
 */
void coord_session_touch(struct coord *c, uint64_t issued_ms);

/* The session is gone: clears the deadline (no leader can lead) and stops the timer. */
void coord_session_clear(struct coord *c);

/* Requests in flight, per backend (coord_debug_pending). */
size_t zk_pending(const struct coord *c);
size_t etcd_pending(const struct coord *c);

/* --- Small helpers --- */

/* Validates a group name; -EINVAL with a message. */
int coord_group_check(const char *group, char *errmsg);

/* Compare for qsort by coord_member_info.id. */
int coord_member_info_cmp(const void *a, const void *b);

/* Frees a watch's zk cache entries. */
void coord_mcache_clear(struct coord_watch *w);

/* --- Shared by the networked backends (backend.c) --- */

/* Formats "host:port" (an IPv6 address in brackets) into out. */
void coord_host_format(const struct coord_host *h, char *out, size_t n);

/* Exponential backoff: base_ms << min(n, 5). */
uint64_t coord_backoff_ms(uint64_t base_ms, unsigned n);

/* A growable list of owned strings (own nodes or keys whose delete must be retried). */
struct coord_strlist {
	char **v;      /* the strings */
	size_t n, cap; /* count and capacity */
};

/* Appends a copy of s; false when out of memory (l unchanged). */
bool coord_strlist_add(struct coord_strlist *l, const char *s);
/* Frees every string; keeps the array for reuse. */
void coord_strlist_clear(struct coord_strlist *l);
/* Frees everything. */
void coord_strlist_free(struct coord_strlist *l);
/* Empties l, then hands every string it had to fn (which may add to l again), then frees them. */
void coord_strlist_drain(struct coord_strlist *l, void (*fn)(void *ctx, const char *s), void *ctx);

/*
 * Runs fn(arg) on a short-lived detached thread (the goodbye to a server,
 * which blocks) and waits up to wait_ms (0: not at all) for it to return;
 * fn owns arg. Returns 0, or a negative errno when no thread could be
 * started (fn did not run; arg is still the caller's).
 */
int coord_goodbye_run(void (*fn)(void *arg), void *arg, unsigned wait_ms);

#endif
