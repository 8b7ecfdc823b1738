/* A fake Mesos master for libkeel-sched tests: the v1 scheduler API on the runtime loop. */
#ifndef KEEL_TESTS_SCHED_FAKE_MASTER_H
#define KEEL_TESTS_SCHED_FAKE_MASTER_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/mesos/v1/scheduler.pb-c.h"
#include "runtime/http_server.h"
#include "runtime/loop.h"

#define FM_MAX_CALLS 256

/* One call the fake received. */
struct fm_call {
	Mesos__V1__Scheduler__Call *call; /* decoded (owned) */
	bool json;			  /* it came as JSON */
	char stream_id[64];		  /* its Mesos-Stream-Id header, "" when absent */
};

/* A fake master. Tests set the knobs, then read what it recorded. */
struct fake_master {
	struct keel_loop *loop;	      /* loop */
	struct keel_http_server *srv; /* server */
	uint16_t port;		      /* its port */
	char addr[32];		      /* "127.0.0.1:port" */
	/* knobs */
	int subscribe_status;	   /* answer SUBSCRIBE with this (not 200) when non-zero */
	const char *redirect_to;   /* answer SUBSCRIBE with 307 to this "host:port" */
	double heartbeat_interval; /* sent in SUBSCRIBED [0.5 s] */
	const char *framework_id;  /* given in SUBSCRIBED when the call has none ["fw-1"] */
	int call_status;	   /* answer calls with this [202] */
	unsigned agent_port;	   /* offers carry url 127.0.0.1:agent_port when non-zero */
	/* Called with every non-SUBSCRIBE call after it is recorded, before it is answered. */
	void (*on_call)(struct fake_master *fm, const Mesos__V1__Scheduler__Call *call, void *arg);
	void *on_call_arg; /* its argument */
	/* state */
	struct keel_http_req *stream;	    /* the open SUBSCRIBE stream, or NULL */
	bool stream_json;		    /* its encoding */
	unsigned stream_seq;		    /* streams opened (for the stream id) */
	char stream_id[64];		    /* the current stream's id */
	unsigned subscribes;		    /* SUBSCRIBE calls received */
	struct fm_call calls[FM_MAX_CALLS]; /* every call received, SUBSCRIBE included */
	size_t total_calls;		    /* calls received, recorded or not */
	size_t n_calls;			    /* how many */
};

/* Starts a fake on loop, port chosen by the kernel. */
int fm_start(struct fake_master *fm, struct keel_loop *loop);
/* Stops it and frees the recorded calls. */
void fm_stop(struct fake_master *fm);
/* Sends one event on the open stream; -ENOTCONN when none. */
int fm_send(struct fake_master *fm, const Mesos__V1__Scheduler__Event *ev);
/* Sends HEARTBEAT / an OFFERS event with one offer (id, agent id, hostname, port). */
int fm_heartbeat(struct fake_master *fm);
int fm_offer(struct fake_master *fm, const char *offer_id, const char *agent_id,
	     const char *hostname);
/* Sends an UPDATE for a task (state, message, with a uuid). */
int fm_update(struct fake_master *fm, const char *task_id, const char *agent_id,
	      Mesos__V1__TaskState state, const char *message);
/* The same with one text attribute attr_name:attr_value (none when attr_name is NULL). */
int fm_offer_attr(struct fake_master *fm, const char *offer_id, const char *agent_id,
		  const char *hostname, const char *attr_name, const char *attr_value);
/* Ends the open stream cleanly (the client sees the stream close). */
void fm_end_stream(struct fake_master *fm);
/* Calls of a type received so far. */
size_t fm_count(const struct fake_master *fm, Mesos__V1__Scheduler__Call__Type type);
/* The last call of a type, or NULL. */
const Mesos__V1__Scheduler__Call *fm_last(const struct fake_master *fm,
					  Mesos__V1__Scheduler__Call__Type type);

#endif
