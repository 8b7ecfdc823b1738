/* HTTP/1.1 server on the loop: routes by method and path, keep-alive, pipelining, streaming
 * responses. */
#ifndef KEEL_RUNTIME_HTTP_SERVER_H
#define KEEL_RUNTIME_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"
#include "loop.h"

/*
 * A server owns a listener and its connections. Each connection handles one
 * request at a time, in order: pipelined requests wait in the connection's
 * input until the response before them is complete, so responses always go
 * out in request order. Responses written while handling a batch of input
 * leave in one send at the end of the loop turn.
 *
 * A handler is called with a request whose head and body are valid only
 * during the call. It answers with keel_http_respond() (or the streaming
 * functions) at once or later; the `req` pointer stays valid until the
 * response is complete or the connection closes, whichever is first. A
 * handler that answers later and needs to know about the close registers a
 * close callback with keel_http_req_on_close().
 *
 * The server itself answers malformed input: 400 (bad syntax), 404 (no
 * route), 405 with Allow (path known, method not), 408 (request not complete
 * within read_timeout), 413 (body over max_body), 431 (head over max_head),
 * 501 (transfer coding other than chunked), 505 (HTTP version), each with a
 * short text body, then closes the connection gracefully.
 */

struct keel_http_server;
struct keel_http_req;

typedef void (*keel_http_handler)(struct keel_http_req *req, void *arg);

/* Server limits and timeouts; zero fields take the defaults in brackets. */
struct keel_http_server_config {
	size_t max_head;       /* request line + headers [65536] */
	size_t max_body;       /* request body [64 MiB] */
	size_t max_pending;    /* response bytes queued for one slow client before it is dropped [64
				  MiB] */
	unsigned read_timeout; /* ms to receive a whole request once it began [30000] */
	unsigned idle_timeout; /* ms a kept-alive connection may sit idle [120000] */
	unsigned linger;       /* ms to drain a peer's input after closing [2000] */
	unsigned max_conns;    /* connections at once; more are closed at accept [100000] */
	const char *server_name; /* value of the Server header [keel] */
};

/* Creates a server listening on host:port (port 0 picks a free one). */
int keel_http_server_new(struct keel_loop *loop, const char *host, uint16_t port,
			 const struct keel_http_server_config *cfg, struct keel_http_server **out,
			 char *errmsg);

/* Closes the listener and every connection (close callbacks of pending requests fire), frees. */
void keel_http_server_free(struct keel_http_server *srv);

uint16_t keel_http_server_port(const struct keel_http_server *srv);

/* Connections open now. */
size_t keel_http_server_conns(const struct keel_http_server *srv);

#define KEEL_HTTP_ANY_METHOD ((enum keel_http_method) - 1)

/*
 * Routes `method` on `path` to handler. A path ending in '*' matches every
 * path with that prefix (the longest match wins; exact matches win over
 * prefixes). method KEEL_HTTP_ANY_METHOD matches every method. -ENOMEM,
 * -EEXIST for a duplicate route.
 */
int keel_http_server_route(struct keel_http_server *srv, enum keel_http_method method,
			   const char *path, keel_http_handler handler, void *arg);

/* --- The request (valid during the handler call, except as noted) --- */

const struct keel_http_head *keel_http_req_head(const struct keel_http_req *req);
const char *keel_http_req_body(const struct keel_http_req *req, size_t *len);
/* Case-insensitive header lookup, NUL-terminated copy into buf; NULL when absent or too long. */
const char *keel_http_req_header(const struct keel_http_req *req, const char *name, char *buf,
				 size_t buflen);
struct keel_http_server *keel_http_req_server(const struct keel_http_req *req);

/* --- Responses (valid until the response completes or the connection closes) --- */

/*
 * Sends a complete response with a Content-Length body. `headers` is NULL or
 * a NULL-terminated list of name, value, name, value, ... extra headers.
 * content_type may be NULL when len is 0. -EPIPE when the client is gone,
 * -EALREADY when this request was answered already, -ENOMEM.
 */
int keel_http_respond(struct keel_http_req *req, int status, const char *content_type,
		      const char *const *headers, const void *body, size_t len);

/* keel_http_respond with a text/plain body from a NUL-terminated string (for errors). */
int keel_http_respond_text(struct keel_http_req *req, int status, const char *text);

/*
 * Starts a long-lived chunked response. Then keel_http_stream_write sends
 * each call as one HTTP chunk in one write; keel_http_stream_end finishes it.
 * If the client does not keep up and more than max_pending bytes queue up,
 * the connection is closed (-ENOBUFS from the write that overflowed), so a
 * slow reader costs bounded memory; producers that can wait use
 * keel_http_req_pending() and the drain callback to pace themselves.
 */
int keel_http_stream_start(struct keel_http_req *req, int status, const char *content_type,
			   const char *const *headers);
int keel_http_stream_write(struct keel_http_req *req, const void *data, size_t len);
int keel_http_stream_end(struct keel_http_req *req);

/* Response bytes queued for this connection and not yet handed to the kernel. */
size_t keel_http_req_pending(const struct keel_http_req *req);

/*
 * Callbacks for a request answered later or streamed: on_drain when the
 * queued bytes have all been handed to the kernel, on_close when the
 * connection closes before the response completed (the req pointer is
 * invalid after on_close returns). Either may be NULL.
 */
void keel_http_req_on_events(struct keel_http_req *req,
			     void (*on_drain)(struct keel_http_req *req, void *arg),
			     void (*on_close)(struct keel_http_req *req, void *arg), void *arg);

/* The reason phrase for a status code ("OK", "Not Found", ...). */
const char *keel_http_status_text(int status);

#endif
