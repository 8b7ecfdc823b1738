/* etcd backend internals shared by the session and mirror code (etcd.c) and the recipes
 * (etcd_elect.c). */
#ifndef KEEL_COORD_ETCD_INT_H
#define KEEL_COORD_ETCD_INT_H

#include <jansson.h>

#include "coord_int.h"
#include "etcd_http.h"

/* What a request is for. */
enum etcd_kind {
	ETCD_GRANT,	/* lease grant */
	ETCD_KEEPALIVE, /* lease keep-alive */
	ETCD_REVOKE,	/* lease revoke (fire and forget) */
	ETCD_RANGE,	/* mirror: read the whole prefix */
	ETCD_WATCH,	/* mirror: the watch stream */
	ETCD_CREATE,	/* create a contender's or member's key */
	ETCD_DELETE,	/* delete an own key */
};

/* A request in flight; the argument of its eh callbacks. */
struct etcd_op {
	struct etcd_op *prev, *next; /* e->ops list */
	struct etcd *e;		     /* owner */
	enum etcd_kind kind;	     /* what it is for */
	void *owner;		     /* contender or member (ETCD_CREATE); NULL once gone */
	bool is_member;		     /* owner is a coord_member */
	uint64_t gen;		     /* e->gen when sent (a lease generation) */
	uint64_t issued_ms;	     /* clock when sent */
	size_t ep;		     /* endpoint index used */
	struct eh_req *req;	     /* the HTTP request */
	char *key;		     /* key it is about (CREATE, DELETE) */
};

/* One key of the mirror. */
struct etcd_kv {
	char *key;	    /* the key (NUL-terminated; keys holding NUL bytes are skipped) */
	int64_t create_rev; /* create_revision */
	int64_t mod_rev;    /* mod_revision */
	int64_t lease;	    /* lease id, 0 for none */
	char *value;	    /* value bytes (NUL-terminated copy) */
	size_t vlen;	    /* value length */
};

/* Backend state of one coord. */
struct etcd {
	struct coord *c;    /* owner */
	struct eh *http;    /* libcurl on the loop */
	char **eps;	    /* "http://host:port" per endpoint */
	size_t neps;	    /* how many */
	size_t cur;	    /* endpoint in use */
	char *prefix;	    /* "<path>/": everything of ours */
	char *prefix_end;   /* "<path>0": range end of prefix */
	char *elect;	    /* "<path>/election/" */
	char *members;	    /* "<path>/members/" */
	struct etcd_op ops; /* sentinel of requests in flight */
	/* the lease (the session) */
	uint64_t gen;		     /* bumped for every new lease */
	int64_t lease;		     /* current lease id, 0 when none */
	bool lease_ok;		     /* granted and not lost */
	bool granting;		     /* a grant is in flight */
	bool keeping;		     /* a keep-alive is in flight */
	bool verify;		     /* run waiting contenders after the next keep-alive */
	uint32_t counter;	     /* suffix for the next key */
	struct keel_timer *ka_timer; /* keep-alive every ttl/4 */
	struct keel_timer *retry;    /* grant / resync / deletes after failures (backoff) */
	struct keel_timer *unreach;  /* UNREACHABLE after connect_timeout_ms without contact */
	unsigned streak;	     /* consecutive transport failures */
	uint64_t last_contact_ms;    /* clock of the last answer from any member */
	bool unreach_told;	     /* UNREACHABLE delivered for this outage */
	char last_err[200];	     /* the last transport error */
	/* the mirror of <prefix> */
	bool synced;		      /* kvs reflect the store up to rev */
	bool syncing;		      /* a range or watch start is under way */
	int64_t rev;		      /* revision the mirror is at */
	struct etcd_kv *kvs;	      /* keys, in create_revision order */
	size_t nkvs, capkvs;	      /* count and capacity */
	struct etcd_op *watch;	      /* the watch stream, or NULL */
	struct coord_strlist deletes; /* own keys whose delete must be retried */
};

/* etcd.c */
/* Per-request timeout: a third of the TTL, within [300 ms, 5 s]. */
long etcd_req_timeout(const struct etcd *e);
/* The message of an etcd error body ({"error": "...", "code": N} or {"error": {...}}), or NULL;
 * the gRPC code in *code (0 if none). */
const char *etcd_error_text(json_t *j, int64_t *code);
/* Starts a POST of body to path on the current endpoint; the op is linked in e->ops. */
struct etcd_op *etcd_post(struct etcd *e, enum etcd_kind kind, const char *path,
			  const struct keel_buf *body, long timeout_ms);
/* Appends base64(data) to b. */
int etcd_b64(struct keel_buf *b, const void *data, size_t len);
/* Reads an int64 member that etcd writes as a string (or a number); false if absent/bad. */
bool etcd_json_i64(json_t *o, const char *key, int64_t *out);
/* Decodes a base64 string member into a new NUL-terminated buffer (absent: empty); 0, -EINVAL
 * (not a string, bad base64) or -ENOMEM. */
int etcd_json_b64(json_t *o, const char *key, char **out, size_t *len);
/* Deletes an own key now, or retries later; forgotten when the lease goes. */
void etcd_delete_key(struct etcd *e, const char *key);
/* A transport failure on endpoint ep: rotate, remember the error, report unreachability. */
void etcd_transport_failed(struct etcd *e, size_t ep, const char *why);
/* An answer arrived: contact. */
void etcd_contact(struct etcd *e);
/* Asks for a keep-alive now (to verify the lease after one of our keys vanished). */
void etcd_verify_lease(struct etcd *e);
/* Arms the retry timer with backoff. */
void etcd_schedule_retry(struct etcd *e);

/* etcd_elect.c */
/* Creates keys for contenders and members that need one (lease granted). */
void etcd_run(struct etcd *e, bool after_keepalive);
/* Re-reads the mirror for every contender, detector and watch. */
void etcd_evaluate(struct etcd *e);
/* A create transaction answered. */
void etcd_create_done(struct etcd *e, struct etcd_op *op, int err, long status, json_t *body,
		      const char *why);
/* The lease is gone: leaders lose, keys are forgotten, detectors and watches report unknown. */
void etcd_recipes_reset(struct etcd *e, int reason, const char *msg);
void etcd_contender_gone(struct coord_contender *ct);
void etcd_member_gone(struct coord_member *m);

#endif
