/* ZooKeeper backend internals shared by the session code (zk.c) and the recipes (zk_elect.c). */
#ifndef KEEL_COORD_ZK_INT_H
#define KEEL_COORD_ZK_INT_H

#include <pthread.h>
#include <zookeeper/zookeeper.h>

#include "coord_int.h"

/* What a request was for; decides who handles its completion. */
enum zk_kind {
	ZK_PROBE,      /* exists("/"): proves contact, moves the session deadline */
	ZK_AUTH,       /* add_auth digest */
	ZK_MKDIR,      /* create a persistent parent (result ignored) */
	ZK_DELETE,     /* delete an own node (withdraw, leave) */
	ZK_CT_CREATE,  /* contender: create json.info_ */
	ZK_CT_LIST,    /* contender: list the election children */
	ZK_CT_EXISTS,  /* contender: watch the predecessor (or itself when leading) */
	ZK_DET_LIST,   /* detector: list with a children watch */
	ZK_DET_EXISTS, /* detector: wait for the path to appear */
	ZK_DET_GET,    /* detector: read the leader's data */
	ZK_MEM_CREATE, /* member: create member_ */
	ZK_MEM_EXISTS, /* member: watch its own node */
	ZK_W_LIST,     /* group watch: list with a children watch */
	ZK_W_EXISTS,   /* group watch: wait for the group to appear */
	ZK_W_GET,      /* group watch: read a member's data */
};

struct zk_bridge;

/* One queued item: a completed request or a watch event (the library's threads queue them). */
struct zk_qnode {
	struct zk_qnode *qnext; /* queue link */
	bool is_watch;		/* struct zk_wev, else struct zk_req */
};

/*
 * An asynchronous request. Allocated on the loop, owned by the library from
 * submission until its completion runs on the library's completion thread,
 * which fills the result fields and queues it on the bridge (or frees it if
 * the bridge is dead); then owned by the loop again.
 */
struct zk_req {
	struct zk_qnode q;	    /* queue link (first member) */
	struct zk_req *prev, *next; /* the session's outstanding list (loop side only) */
	struct zk_bridge *br;	    /* where the completion goes */
	enum zk_kind kind;	    /* what it was for */
	void *owner;		    /* contender/detector/member/watch; NULL once gone */
	uint64_t issued_ms;	    /* clock when submitted (lower bound of the server's contact) */
	char *path;		    /* the path it was about (owned) */
	/* Results, written by the completion thread: */
	int rc;		  /* ZOK or an error code */
	bool oom;	  /* copying a result failed */
	bool has_stat;	  /* stat is valid */
	struct Stat stat; /* exists/get/create2 stat */
	char *value;	  /* get data or created path (malloc'd) */
	int value_len;	  /* its length (get), -1 for none */
	char **strv;	  /* children (one malloc'd block) */
	int strc;	  /* how many */
};

/* A watch event as queued by the library's threads. */
struct zk_wev {
	struct zk_qnode q; /* queue link (first member) */
	int type;	   /* ZOO_*_EVENT */
	int state;	   /* ZOO_*_STATE */
	char path[];	   /* the path ("" for session events) */
};

/*
 * The hand-over point between the library's threads and the loop: a queue
 * under a mutex and the keel_async that wakes the loop. It outlives the
 * zhandle's threads (the goodbye thread drops the last reference after
 * zookeeper_close returns); once dead, whatever arrives is freed.
 */
struct zk_bridge {
	pthread_mutex_t mu;	       /* guards everything below */
	struct zk_qnode *head, **tail; /* queued items */
	struct keel_async *async;      /* wakes the loop; NULL once dead */
	bool dead;		       /* the loop gave up on this session */
	bool overflow;		       /* an event was dropped (out of memory) */
	int refs;		       /* loop + library */
};

/* Backend state of one coord. */
struct zk {
	struct coord *c;	      /* owner */
	char *hosts;		      /* "h1:p1,h2:p2" for zookeeper_init */
	char *auth;		      /* "user:password" for digest auth, or NULL */
	struct ACL acl_entries[2];    /* the ACL for every node we create */
	struct ACL_vector acl;	      /* points at acl_entries */
	struct keel_async *async;     /* wake-ups from every bridge of this coord */
	struct keel_timer *probe;     /* sends a probe every timeout/4 while connected */
	struct keel_timer *restart;   /* starts a new session after a loss (backoff) */
	struct keel_timer *unreach;   /* reports UNREACHABLE after connect_timeout_ms */
	struct keel_timer *retry;     /* retries objects that failed (backoff) */
	zhandle_t *zh;		      /* current session, or NULL between sessions */
	struct zk_bridge *br;	      /* its bridge */
	struct zk_req reqs;	      /* sentinel of the outstanding requests */
	bool connected;		      /* last session state was CONNECTED */
	bool established;	      /* the session was established at least once */
	bool probing;		      /* a probe is in flight */
	bool unreach_told;	      /* UNREACHABLE reported for this outage */
	unsigned failures;	      /* consecutive sessions that never got established */
	unsigned retry_round;	      /* consecutive retry rounds (backoff) */
	struct coord_strlist deletes; /* own nodes whose delete must be retried */
};

/* zk.c: request submission (each returns 0 or a negative errno; on error nothing is pending). */
int zk_create(struct zk *z, enum zk_kind kind, void *owner, const char *path, const char *data,
	      size_t len, int flags);
int zk_list(struct zk *z, enum zk_kind kind, void *owner, const char *path, bool watch);
int zk_exists(struct zk *z, enum zk_kind kind, void *owner, const char *path, bool watch);
int zk_get(struct zk *z, enum zk_kind kind, void *owner, const char *path);
/* Deletes an own node now, or once connected again; forgotten when the session ends. */
void zk_delete_path(struct zk *z, const char *path);
/* Creates every missing persistent ancestor of `path`, not path itself (pipelined, FIFO). */
void zk_mkparents(struct zk *z, const char *path);
/* NULLs owner in every outstanding request that has it. */
void zk_orphan(struct zk *z, const void *owner);
/* Starts the retry timer (backoff) for objects that failed. */
void zk_schedule_retry(struct zk *z);
/* Maps a ZooKeeper error code to a negative errno. */
int zk_errno(int rc);
/* True for codes that mean "no answer from the server" (the outcome is unknown). */
bool zk_rc_is_connection(int rc);

/* zk_elect.c: the recipes. */
/* Advances every object that can make progress; `retrying` lets failed ones try again. */
void zk_run(struct zk *z, bool retrying);
/* Routes a completed request of the recipes (kinds from ZK_CT_CREATE on). */
void zk_recipe_done(struct zk *z, struct zk_req *r);
/* Routes a node watch event. */
void zk_node_event(struct zk *z, int type, const char *path);
/* The session is gone: leaders lose, everything starts over on the next session. */
void zk_recipes_reset(struct zk *z, int reason, const char *msg);
/* A child is going away: drop references and delete its node. */
void zk_contender_gone(struct coord_contender *ct);
void zk_detector_gone(struct coord_detector *d);
void zk_member_gone(struct coord_member *m);
void zk_watch_gone(struct coord_watch *w);

#endif
