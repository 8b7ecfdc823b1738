/* coord internals: HTTP POSTs with JSON bodies on libcurl's multi-socket API, driven by the keel
 * loop (socket readiness through an epoll set under one keel_poll, a keel timer for the timeout).
 */
#ifndef KEEL_COORD_ETCD_HTTP_H
#define KEEL_COORD_ETCD_HTTP_H

#include <stddef.h>

#include "runtime/loop.h"

struct eh;
struct eh_req;

/*
 * A request ended. err is 0 with the HTTP status and the whole body (for a
 * streaming request: what was left after the last line), or a negative
 * errno for a transport failure (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH,
 * -EMSGSIZE for a body over the limit, -EIO) with a message in why. The
 * request is freed after the callback returns. Never called after
 * eh_cancel.
 */
typedef void (*eh_done_cb)(struct eh_req *r, int err, long status, const char *body, size_t len,
			   const char *why, void *arg);

/* Streaming requests: one complete line of the body (without its '\n'), as soon as it arrives. */
typedef void (*eh_line_cb)(struct eh_req *r, const char *line, size_t len, void *arg);

/* A multi handle on loop (no threads). -ENOMEM, or another negative errno when the epoll set
 * cannot be made. */
int eh_new(struct keel_loop *loop, struct eh **out);

/* Cancels every request (no callbacks) and frees h; safe inside any of its callbacks. */
void eh_free(struct eh *h);

/*
 * POSTs body[0, len) (copied) as application/json to url. timeout_ms bounds
 * the whole request (0: none, for streams); connect_timeout_ms the
 * connection. With `line` set, the body is delivered line by line as it
 * arrives. Callbacks run on the loop, never inside this call. Returns 0 or
 * -ENOMEM / -EIO (nothing is called then).
 */
int eh_post(struct eh *h, const char *url, const char *body, size_t len, long timeout_ms,
	    long connect_timeout_ms, eh_line_cb line, eh_done_cb done, void *arg,
	    struct eh_req **out);

/* Aborts r; no callback after this. Safe inside any callback. NULL is ignored. */
void eh_cancel(struct eh_req *r);

#endif
