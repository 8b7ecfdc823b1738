/* HTTP/1.1 client on the loop: one keep-alive connection per origin, pipelined requests, streamed
 * bodies. */
#ifndef KEEL_RUNTIME_HTTP_CLIENT_H
#define KEEL_RUNTIME_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"
#include "loop.h"

/*
 * A client talks to one origin (host:port) over one connection, opened on
 * the first request and again after a failure. Requests are written as soon
 * as they are made (pipelining) and answered in order. When the connection
 * fails, every request sent on it and not yet answered fails with the error
 * (the server may or may not have acted on it: callers that need exactly-once
 * make their requests idempotent).
 */

struct keel_http_client;

/* Client limits; zero fields take the defaults in brackets. */
struct keel_http_client_config {
	unsigned connect_timeout; /* ms to establish the connection [5000] */
	unsigned request_timeout; /* ms from sending to the response head, and for a
				     buffered body to complete [30000] */
	size_t max_head;	  /* response head [65536] */
	size_t max_body;	  /* buffered response body [64 MiB] */
};

/* A response: valid only during the callback that receives it. */
struct keel_http_response {
	int status;			   /* status code */
	const struct keel_http_head *head; /* headers */
	const char *body;		   /* buffered body (NULL when streamed) */
	size_t body_len;		   /* its length */
};

/* Callbacks of one request. */
struct keel_http_client_cbs {
	/* Streaming only (optional): the head arrived; on_data follows with the body. */
	void (*on_head)(const struct keel_http_response *resp, void *arg);
	/* Streaming only (optional): a piece of the body (chunks decoded); not buffered. */
	void (*on_data)(const char *data, size_t len, void *arg);
	/*
	 * Exactly once per accepted request: err 0 with the complete response
	 * (body buffered unless on_data is set), or a negative errno:
	 * -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EBADMSG (malformed
	 * response), -EMSGSIZE (body over max_body), -ECANCELED (client freed).
	 */
	void (*on_done)(int err, const struct keel_http_response *resp, void *arg);
};

/* Creates a client for host:port; resolves the name now (blocking, see loop.h Caveats). */
int keel_http_client_new(struct keel_loop *loop, const char *host, uint16_t port,
			 const struct keel_http_client_config *cfg, struct keel_http_client **out,
			 char *errmsg);

/* Fails every pending request with -ECANCELED (callbacks run inside this call) and frees. */
void keel_http_client_free(struct keel_http_client *c);

/*
 * Sends a request. `headers` is NULL or a NULL-terminated name, value, ...
 * list; content_type may be NULL. The body is copied. Returns 0 and calls
 * cbs->on_done exactly once later, or fails now (-ENOMEM, -EINVAL) and calls
 * nothing.
 */
int keel_http_client_request(struct keel_http_client *c, const char *method, const char *path,
			     const char *const *headers, const char *content_type, const void *body,
			     size_t body_len, const struct keel_http_client_cbs *cbs, void *arg);

/* Requests sent or queued and not yet answered. */
size_t keel_http_client_pending(const struct keel_http_client *c);

#endif
