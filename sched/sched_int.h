/* libkeel-sched internals shared by its source files: the client struct and helpers. */
#ifndef KEEL_SCHED_INT_H
#define KEEL_SCHED_INT_H

#include "coord/coord.h"
#include "runtime/buf.h"
#include "runtime/http_client.h"
#include "runtime/loop.h"
#include "runtime/recordio.h"
#include "sched/scheduler.h"

/* Client states. */
enum sched_state {
	SST_IDLE = 0,	    /* created, not started */
	SST_WAITING = 1,    /* waiting for a leader or for the backoff timer */
	SST_CONNECTING = 2, /* SUBSCRIBE sent, no answer yet */
	SST_STREAMING = 3,  /* 200 received, events flowing */
	SST_STOPPED = 4,    /* stopped by the user, a 4xx or a teardown */
};

/* One connection generation: the SUBSCRIBE stream and the calls client of one master. */
struct sched_conn {
	struct keel_sched *s;		  /* owner */
	uint64_t gen;			  /* generation; stale when != s->gen */
	struct keel_http_client *sub;	  /* the SUBSCRIBE stream's client */
	struct keel_http_client *calls;	  /* client for calls (a second connection) */
	int status;			  /* HTTP status of the SUBSCRIBE answer, 0 before */
	struct keel_buf errbody;	  /* body of a non-200 SUBSCRIBE answer */
	struct keel_recordio_decoder dec; /* event stream decoder */
	struct sched_conn *next;	  /* on the dead list once replaced */
};

/* The client. */
struct keel_sched {
	struct keel_loop *loop;		   /* the loop */
	bool own_loop;			   /* we created it */
	struct keel_sched_cbs cbs;	   /* event callbacks */
	void *arg;			   /* their argument */
	bool json;			   /* JSON wire format */
	unsigned backoff_min, backoff_max; /* ms */
	unsigned misses;		   /* heartbeat misses before dead */
	unsigned req_timeout;		   /* ms */
	char *path;			   /* endpoint path */
	Mesos__V1__FrameworkInfo *fw;	   /* our copy of the FrameworkInfo */
	char *framework_id;		   /* from SUBSCRIBED or the config, or NULL */
	enum sched_state state;		   /* see enum */
	uint64_t gen;			   /* current connection generation */
	struct sched_conn *conn;	   /* current connection, or NULL */
	struct sched_conn *dead;	   /* replaced connections awaiting the reaper */
	struct keel_timer *reaper;	   /* frees dead connections on the next turn */
	struct keel_timer *retry;	   /* backoff timer */
	struct keel_timer *watchdog;	   /* heartbeat watchdog */
	unsigned backoff_cur;		   /* current backoff ms, 0 = none yet */
	uint64_t rng;			   /* jitter state */
	double hb_interval;		   /* seconds, from SUBSCRIBED */
	char *stream_id;		   /* Mesos-Stream-Id of the current stream */
	char **masters;			   /* list mode: host:port strings */
	size_t n_masters;		   /* how many */
	size_t master_idx;		   /* next one to try */
	struct coord *coord;		   /* coord mode: the session */
	struct coord_detector *detector;   /* coord mode: the detector */
	char *leader;			   /* coord mode: host:port of the leader, or NULL */
	char *redirect;			   /* host:port from a 307, tried next */
	unsigned redirects;		   /* consecutive redirects */
	char *current;			   /* host:port of the current connection */
	uint64_t subscriptions;		   /* SUBSCRIBED events seen */
	bool in_free;			   /* keel_sched_free runs */
};

/* Splits "host:port" (host may be [v6]); -EINVAL. host is caller's buffer of hostlen bytes. */
int sched_hostport(const char *hp, char *host, size_t hostlen, uint16_t *port, char *errmsg);

/* Encodes a message in the wire format of s into out (protobuf or JSON). */
int sched_encode(const struct keel_sched *s, const ProtobufCMessage *m, struct keel_buf *out,
		 char *errmsg);

/* Checks a Call's required fields by type (no framework_id check); -EINVAL with a message. */
int sched_call_validate(const Mesos__V1__Scheduler__Call *call, char *errmsg);

/* Drops the current connection (its events are ignored from now on). */
void sched_conn_drop(struct keel_sched *s);

/* Drops the connection and schedules a re-subscribe after the backoff; reports why. */
void sched_conn_fail(struct keel_sched *s, int err, const char *why);

#endif
