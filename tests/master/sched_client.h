/* A test scheduler on the runtime HTTP client: SUBSCRIBE streams decoded into events, calls. */
#ifndef KEEL_TESTS_MASTER_SCHED_CLIENT_H
#define KEEL_TESTS_MASTER_SCHED_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master_fixture.h"
#include "proto/mesos/v1/scheduler.pb-c.h"
#include "runtime/recordio.h"

/* One SUBSCRIBE stream as a scheduler sees it. */
struct sc_stream {
	struct keel_http_client *client;  /* its own connection */
	bool protobuf;			  /* Accept: application/x-protobuf */
	int status;			  /* HTTP status of the answer, 0 before */
	char stream_id[64];		  /* Mesos-Stream-Id, or "" */
	char ctype[64];			  /* Content-Type */
	char error_body[512];		  /* body of a non-200 answer */
	bool head;			  /* the head arrived */
	bool done;			  /* the stream ended (on_done ran) */
	int err;			  /* on_done's error */
	int decode_err;			  /* a record that did not decode, or 0 */
	struct keel_recordio_decoder dec; /* RecordIO decoder */
	Mesos__V1__Scheduler__Event **ev; /* every event received (owned), in order */
	size_t n;			  /* how many */
	size_t cap;			  /* room in ev */
	char framework_id[128];		  /* from SUBSCRIBED, or "" */
};

/*
 * Sends SUBSCRIBE with the FrameworkInfo JSON text info_json (as the subscribe.framework_info
 * object; its "id" decides a re-subscription) to 127.0.0.1:port, JSON or protobuf both ways.
 * Does not wait. Free with sc_close.
 */
void sc_subscribe(struct fx *f, uint16_t port, const char *info_json, bool protobuf,
		  struct sc_stream *s);
/* Runs the loop until SUBSCRIBED (asserts 200 within 10 s). */
void sc_wait_subscribed(struct fx *f, struct sc_stream *s);
/* Events of a type received so far. */
size_t sc_count(const struct sc_stream *s, Mesos__V1__Scheduler__Event__Type type);
/* The last event of a type, or NULL. */
const Mesos__V1__Scheduler__Event *sc_last(const struct sc_stream *s,
					   Mesos__V1__Scheduler__Event__Type type);
/* The last UPDATE's status for task_id, or NULL. */
const Mesos__V1__TaskStatus *sc_update_of(const struct sc_stream *s, const char *task_id);
/* The last offer of the last OFFERS event (asserts there is one). */
const Mesos__V1__Offer *sc_newest_offer(const struct sc_stream *s);
/* Frees the client (ending the stream) and the events. */
void sc_close(struct sc_stream *s);

/*
 * POSTs a Call given as JSON text to /api/v1/scheduler with s's stream ID (if
 * s is not NULL and has one); in protobuf when s->protobuf (converted with
 * pbjson). Waits for the answer into *out (test_http_util's hresp).
 */
struct hresp;
void sc_call(struct fx *f, uint16_t port, struct sc_stream *s, const char *call_json,
	     struct hresp *out);

/* sc_call, asserting the answer's status is expect (the call and the answer are printed if not). */
void sc_call_expect(struct fx *f, uint16_t port, struct sc_stream *s, const char *call_json,
		    int expect);

/* sc_call with the body sent chunked (Transfer-Encoding: chunked, two chunks) on a raw socket. */
void sc_call_chunked(struct fx *f, uint16_t port, struct sc_stream *s, const char *call_json,
		     struct hresp *out);

/* Any request: headers Accept and Mesos-Stream-Id when not NULL; waits for the answer. */
void sc_raw(struct fx *f, uint16_t port, const char *method, const char *path, const char *ctype,
	    const char *accept, const char *stream_id, const void *body, size_t len,
	    struct hresp *out);

#endif
