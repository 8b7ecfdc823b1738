/* HTTP/1.1 server: connection state machine, routing, responses, timeouts by deadline-ordered
 * lists. */
#include "http_server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

enum conn_state {
	CS_IDLE,      /* between requests */
	CS_READING,   /* part of a request has arrived */
	CS_CHUNKED,   /* head done, decoding a chunked body */
	CS_BUSY,      /* the handler owns the request; waiting for its response */
	CS_STREAMING, /* a chunked response is being streamed */
	CS_CLOSING,   /* closing; nothing more is read or answered */
};

enum { TL_NONE, TL_READING, TL_IDLE };

struct conn;

/* The request being handled (one per connection). */
struct keel_http_req {
	struct conn *c;		    /* its connection; NULL once closed */
	struct keel_http_head head; /* parsed head (pointers valid during the handler) */
	const char *body;	    /* body bytes (valid during the handler) */
	size_t body_len;	    /* body length */
	bool answered;		    /* a response was started */
	bool is_head;		    /* HEAD request: no body in the response */
	void (*on_drain)(struct keel_http_req *, void *); /* output drained */
	void (*on_close)(struct keel_http_req *, void *); /* closed before completion */
	void *cb_arg;					  /* their argument */
};

/* One client connection. */
struct conn {
	struct keel_http_server *srv;	  /* owning server */
	struct keel_stream *s;		  /* the socket */
	enum conn_state st;		  /* state */
	struct keel_http_req req;	  /* the current request */
	struct conn *prev, *next;	  /* server's list of connections */
	struct conn *tprev, *tnext;	  /* timeout list links */
	int tlist;			  /* which timeout list (TL_*) */
	uint64_t deadline;		  /* when the timeout list expires it */
	bool in_read;			  /* inside on_read (pipelined requests continue there) */
	bool keep_alive;		  /* the current request allows keep-alive */
	bool close_after;		  /* close once the current response is complete */
	bool paused;			  /* reading stopped for back-pressure */
	bool sent_continue;		  /* 100 Continue sent for the current request */
	struct keel_buf headcopy;	  /* chunked requests: the head, copied */
	struct keel_buf body;		  /* chunked requests: the decoded body */
	struct keel_http_chunked chunked; /* chunked decoder */
};

/* A route. */
struct route {
	enum keel_http_method method; /* or KEEL_HTTP_ANY_METHOD */
	char *path;		      /* path, without the trailing '*' of a prefix */
	size_t len;		      /* its length */
	bool prefix;		      /* prefix route */
	keel_http_handler handler;    /* handler */
	void *arg;		      /* its argument */
};

/* Intrusive FIFO of connections ordered by deadline (all share one timeout). */
struct tlist {
	struct conn *head, *tail;
};

struct keel_http_server {
	struct keel_loop *loop;		    /* the loop */
	struct keel_listener *l;	    /* listener */
	struct keel_http_server_config cfg; /* limits with defaults applied */
	struct route *routes;		    /* routes */
	size_t nroutes;			    /* count */
	struct conn *conns;		    /* all connections */
	size_t nconns;			    /* count */
	struct tlist reading, idle;	    /* timeout lists */
	struct keel_timer *timer;	    /* fires at the earliest list deadline */
	uint64_t timer_at;		    /* when it is set to fire, 0 = not set */
	char date[64];			    /* cached "Date: ...\r\n" line */
	time_t date_sec;		    /* second the cached Date is for */
	bool freeing;			    /* keel_http_server_free called; free at last conn */
};

static const char *const method_names[] = {
    [KEEL_HTTP_OTHER] = "",	     [KEEL_HTTP_GET] = "GET",	  [KEEL_HTTP_HEAD] = "HEAD",
    [KEEL_HTTP_POST] = "POST",	     [KEEL_HTTP_PUT] = "PUT",	  [KEEL_HTTP_DELETE] = "DELETE",
    [KEEL_HTTP_OPTIONS] = "OPTIONS", [KEEL_HTTP_PATCH] = "PATCH",
};

const char *keel_http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 300   ? "OK"
		       : status < 400 ? "Redirect"
		       : status < 500 ? "Client Error"
				      : "Server Error";
	}
}

/* --- timeout lists --- */

static void tl_remove(struct conn *c)
{
	struct tlist *l;

	if (c->tlist == TL_NONE)
		return;
	l = c->tlist == TL_READING ? &c->srv->reading : &c->srv->idle;
	if (c->tprev != NULL)
		c->tprev->tnext = c->tnext;
	else
		l->head = c->tnext;
	if (c->tnext != NULL)
		c->tnext->tprev = c->tprev;
	else
		l->tail = c->tprev;
	c->tprev = c->tnext = NULL;
	c->tlist = TL_NONE;
}

static void server_arm_timer(struct keel_http_server *srv)
{
	uint64_t at = 0, now = keel_loop_now(srv->loop);

	if (srv->reading.head != NULL)
		at = srv->reading.head->deadline;
	if (srv->idle.head != NULL && (at == 0 || srv->idle.head->deadline < at))
		at = srv->idle.head->deadline;
	if (at == 0 || (srv->timer_at != 0 && srv->timer_at <= at))
		return; /* the timer fires earlier anyway and re-arms then */
	srv->timer_at = at;
	keel_timer_start(srv->timer, at > now ? at - now : 0, 0);
}

static void tl_append(struct conn *c, int which)
{
	struct keel_http_server *srv = c->srv;
	struct tlist *l = which == TL_READING ? &srv->reading : &srv->idle;
	unsigned timeout = which == TL_READING ? srv->cfg.read_timeout : srv->cfg.idle_timeout;

	tl_remove(c);
	c->tlist = which;
	c->deadline = keel_loop_now(srv->loop) + timeout;
	c->tprev = l->tail;
	c->tnext = NULL;
	if (l->tail != NULL)
		l->tail->tnext = c;
	else
		l->head = c;
	l->tail = c;
	if (l->head == c)
		server_arm_timer(srv);
}

/* --- writing responses --- */

static int put_dec(struct keel_buf *b, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return keel_buf_append(b, tmp + sizeof(tmp) - n, (size_t)n);
}

static const char *server_date(struct keel_http_server *srv)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != srv->date_sec) {
		srv->date_sec = now;
		gmtime_r(&now, &tm);
		strftime(srv->date, sizeof(srv->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	}
	return srv->date;
}

/* Appends the status line and the common headers; the caller adds its own, then "\r\n". */
static int write_head(struct conn *c, int status, const char *content_type,
		      const char *const *headers)
{
	struct keel_buf *b = keel_stream_wbuf(c->s);
	const char *reason = keel_http_status_text(status);
	int rv = 0;

	rv |= keel_buf_append(b, "HTTP/1.1 ", 9);
	rv |= put_dec(b, (uint64_t)status);
	rv |= keel_buf_putc(b, ' ');
	rv |= keel_buf_puts(b, reason);
	rv |= keel_buf_append(b, "\r\nServer: ", 10);
	rv |= keel_buf_puts(b, c->srv->cfg.server_name);
	rv |= keel_buf_append(b, "\r\n", 2);
	rv |= keel_buf_puts(b, server_date(c->srv));
	if (content_type != NULL) {
		rv |= keel_buf_append(b, "Content-Type: ", 14);
		rv |= keel_buf_puts(b, content_type);
		rv |= keel_buf_append(b, "\r\n", 2);
	}
	if (!c->keep_alive || c->close_after)
		rv |= keel_buf_append(b, "Connection: close\r\n", 19);
	else if (c->req.head.minor_version == 0)
		rv |= keel_buf_append(b, "Connection: keep-alive\r\n", 24);
	for (; headers != NULL && headers[0] != NULL && headers[1] != NULL; headers += 2) {
		rv |= keel_buf_puts(b, headers[0]);
		rv |= keel_buf_append(b, ": ", 2);
		rv |= keel_buf_puts(b, headers[1]);
		rv |= keel_buf_append(b, "\r\n", 2);
	}
	return rv < 0 ? -ENOMEM : 0;
}

static void conn_close(struct conn *c)
{
	if (c->st == CS_CLOSING)
		return;
	c->st = CS_CLOSING;
	tl_remove(c);
	keel_stream_close(c->s, c->srv->cfg.linger);
}

/* The response is complete: keep the connection for the next request, or close it. */
static void response_done(struct conn *c)
{
	c->req.on_drain = NULL;
	c->req.on_close = NULL;
	if (!c->keep_alive || c->close_after) {
		conn_close(c);
		return;
	}
	c->st = CS_IDLE;
	c->sent_continue = false;
	keel_buf_clear(&c->body);
	tl_append(c, TL_IDLE);
	if (!c->in_read) {
		/* Answered later: requests that arrived meanwhile wait in the stream. */
		if (c->paused) {
			c->paused = false;
			keel_stream_read_start(c->s);
		} else {
			keel_stream_redeliver(c->s);
		}
	}
}

/* Checks that req can still be answered, marks it answered and writes the head's common part. */
static int begin_response(struct keel_http_req *req, int status, const char *content_type,
			  const char *const *headers)
{
	struct conn *c = req->c;

	if (c == NULL || c->st == CS_CLOSING)
		return -EPIPE;
	if (req->answered)
		return -EALREADY;
	req->answered = true;
	if (write_head(c, status, content_type, headers) < 0) {
		keel_stream_abort(c->s);
		return -ENOMEM;
	}
	return 0;
}

int keel_http_respond(struct keel_http_req *req, int status, const char *content_type,
		      const char *const *headers, const void *body, size_t len)
{
	struct conn *c = req->c;
	struct keel_buf *b;
	int rv = begin_response(req, status, content_type, headers);

	if (rv < 0)
		return rv;
	b = keel_stream_wbuf(c->s);
	if (status >= 200 && status != 204 && status != 304) {
		rv |= keel_buf_append(b, "Content-Length: ", 16);
		rv |= put_dec(b, len);
		rv |= keel_buf_append(b, "\r\n", 2);
	}
	rv |= keel_buf_append(b, "\r\n", 2);
	if (!req->is_head && len > 0)
		rv |= keel_buf_append(b, body, len);
	if (rv < 0) {
		keel_stream_abort(c->s);
		return -ENOMEM;
	}
	keel_stream_flush(c->s);
	response_done(c);
	return 0;
}

int keel_http_respond_text(struct keel_http_req *req, int status, const char *text)
{
	return keel_http_respond(req, status, "text/plain; charset=utf-8", NULL, text,
				 strlen(text));
}

int keel_http_stream_start(struct keel_http_req *req, int status, const char *content_type,
			   const char *const *headers)
{
	struct conn *c = req->c;
	int rv = begin_response(req, status, content_type, headers);

	if (rv < 0)
		return rv;
	if (keel_buf_append(keel_stream_wbuf(c->s), "Transfer-Encoding: chunked\r\n\r\n", 30) < 0) {
		keel_stream_abort(c->s);
		return -ENOMEM;
	}
	keel_stream_flush(c->s);
	c->st = CS_STREAMING;
	return 0;
}

int keel_http_stream_write(struct keel_http_req *req, const void *data, size_t len)
{
	struct conn *c = req->c;
	struct keel_buf *b;
	char hdr[KEEL_HTTP_CHUNK_HEADER_MAX];
	int rv;

	if (c == NULL || c->st != CS_STREAMING)
		return -EPIPE;
	if (len == 0)
		return 0; /* an empty chunk would end the body */
	if (keel_stream_pending(c->s) + len > c->srv->cfg.max_pending) {
		KEEL_WARN("http", "dropping a client that fell %zu bytes behind a stream",
			  keel_stream_pending(c->s));
		keel_stream_abort(c->s);
		return -ENOBUFS;
	}
	b = keel_stream_wbuf(c->s);
	rv = keel_buf_append(b, hdr, keel_http_chunk_header(hdr, len));
	rv |= keel_buf_append(b, data, len);
	rv |= keel_buf_append(b, "\r\n", 2);
	if (rv < 0) {
		keel_stream_abort(c->s);
		return -ENOMEM;
	}
	keel_stream_flush(c->s);
	return 0;
}

int keel_http_stream_end(struct keel_http_req *req)
{
	struct conn *c = req->c;

	if (c == NULL || c->st != CS_STREAMING)
		return -EPIPE;
	if (keel_buf_append(keel_stream_wbuf(c->s), "0\r\n\r\n", 5) < 0) {
		keel_stream_abort(c->s);
		return -ENOMEM;
	}
	keel_stream_flush(c->s);
	response_done(c);
	return 0;
}

size_t keel_http_req_pending(const struct keel_http_req *req)
{
	return req->c != NULL ? keel_stream_pending(req->c->s) : 0;
}

void keel_http_req_on_events(struct keel_http_req *req,
			     void (*on_drain)(struct keel_http_req *req, void *arg),
			     void (*on_close)(struct keel_http_req *req, void *arg), void *arg)
{
	req->on_drain = on_drain;
	req->on_close = on_close;
	req->cb_arg = arg;
}

const struct keel_http_head *keel_http_req_head(const struct keel_http_req *req)
{
	return &req->head;
}

const char *keel_http_req_body(const struct keel_http_req *req, size_t *len)
{
	if (len != NULL)
		*len = req->body_len;
	return req->body;
}

const char *keel_http_req_header(const struct keel_http_req *req, const char *name, char *buf,
				 size_t buflen)
{
	size_t n;
	const char *v = keel_http_header_get(&req->head, name, &n);

	if (v == NULL || n >= buflen)
		return NULL;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

struct keel_http_server *keel_http_req_server(const struct keel_http_req *req)
{
	return req->c != NULL ? req->c->srv : NULL;
}

/* --- routing and dispatch --- */

static const struct route *route_find(const struct keel_http_server *srv,
				      const struct keel_http_head *h, char *allow, size_t allowlen)
{
	const struct route *best = NULL;
	bool path_known = false;
	size_t i, bestlen = 0;

	allow[0] = '\0';
	for (i = 0; i < srv->nroutes; i++) {
		const struct route *r = &srv->routes[i];
		bool match = r->prefix
				 ? (h->path_len >= r->len && memcmp(h->path, r->path, r->len) == 0)
				 : (h->path_len == r->len && memcmp(h->path, r->path, r->len) == 0);
		if (!match)
			continue;
		/* Exact routes outrank prefixes; longer prefixes outrank shorter. */
		size_t rank = r->prefix ? r->len : SIZE_MAX;
		if (r->method != KEEL_HTTP_ANY_METHOD && r->method != h->method) {
			if (!path_known || rank >= bestlen) {
				size_t n = strlen(allow);
				snprintf(allow + n, allowlen - n, "%s%s", n ? ", " : "",
					 method_names[r->method]);
			}
			path_known = true;
			continue;
		}
		if (best == NULL || rank > bestlen) {
			best = r;
			bestlen = rank;
		}
	}
	if (best == NULL && !path_known)
		allow[0] = '\0';
	return best;
}

static void dispatch(struct conn *c)
{
	struct keel_http_server *srv = c->srv;
	const struct route *r;
	char allow[128];

	tl_remove(c);
	c->st = CS_BUSY;
	c->keep_alive = c->req.head.keep_alive;
	c->req.answered = false;
	c->req.is_head = c->req.head.method == KEEL_HTTP_HEAD;
	c->req.on_drain = NULL;
	c->req.on_close = NULL;
	r = route_find(srv, &c->req.head, allow, sizeof(allow));
	if (r == NULL && allow[0] != '\0') {
		const char *hdrs[] = {"Allow", allow, NULL};
		char msg[192];
		snprintf(msg, sizeof(msg), "Expecting one of { '%s' }, but received '%.*s'", allow,
			 (int)c->req.head.method_len, c->req.head.method_str);
		keel_http_respond(&c->req, 405, "text/plain; charset=utf-8", hdrs, msg,
				  strlen(msg));
		return;
	}
	if (r == NULL) {
		keel_http_respond_text(&c->req, 404, "Not Found");
		return;
	}
	r->handler(&c->req, r->arg);
}

/* Answers a request the server refuses, then closes. */
static void refuse(struct conn *c, int status, const char *text)
{
	c->close_after = true;
	c->st = CS_BUSY;
	c->req.answered = false;
	c->req.is_head = false;
	c->keep_alive = false;
	keel_http_respond_text(&c->req, status, text);
}

static void refuse_parse_error(struct conn *c, int rv)
{
	switch (rv) {
	case -E2BIG:
		refuse(c, 431, "Request header fields too large");
		break;
	case -EPROTONOSUPPORT:
		refuse(c, 505, "HTTP version not supported");
		break;
	case -ENOTSUP:
		refuse(c, 501, "Transfer-Encoding not supported");
		break;
	default:
		refuse(c, 400, "Malformed request");
		break;
	}
}

static void send_continue(struct conn *c)
{
	if (c->sent_continue || !c->req.head.expect_continue)
		return;
	c->sent_continue = true;
	keel_stream_write(c->s, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Decodes chunked body bytes; returns bytes used, dispatching when the body is complete. */
static size_t read_chunked(struct conn *c, const char *data, size_t len)
{
	size_t used = 0;

	while (used < len) {
		size_t consumed = 0, dlen = 0;
		const char *d = NULL;
		int rv = keel_http_chunked_decode(&c->chunked, data + used, len - used, &consumed,
						  &d, &dlen);
		used += consumed;
		if (rv < 0) {
			refuse(c, 400, "Malformed chunked body");
			return len;
		}
		if (dlen > 0) {
			if (keel_buf_size(&c->body) + dlen > c->srv->cfg.max_body) {
				refuse(c, 413, "Request body too large");
				return len;
			}
			if (keel_buf_append(&c->body, d, dlen) < 0) {
				refuse(c, 500, "Out of memory");
				return len;
			}
		}
		if (rv == 1) {
			c->req.body = keel_buf_rptr(&c->body);
			c->req.body_len = keel_buf_size(&c->body);
			dispatch(c);
			return used;
		}
		if (dlen == 0 && consumed == 0)
			break;
	}
	return used;
}

static size_t conn_read(struct keel_stream *s, const char *data, size_t len, void *arg)
{
	struct conn *c = arg;
	struct keel_http_server *srv = c->srv;
	size_t off = 0;
	int rv;

	c->in_read = true;
	while (off < len) {
		if (c->st == CS_STREAMING || c->st == CS_CLOSING) {
			off = len; /* nothing more is expected on this connection */
			break;
		}
		if (c->st == CS_BUSY) {
			if (len - off > srv->cfg.max_head + srv->cfg.max_body) {
				c->paused = true;
				keel_stream_read_stop(s);
			}
			break;
		}
		if (keel_stream_pending(s) > srv->cfg.max_pending) {
			/* The client sends faster than it reads our answers. */
			c->paused = true;
			keel_stream_read_stop(s);
			break;
		}
		if (c->st == CS_CHUNKED) {
			off += read_chunked(c, data + off, len - off);
			continue;
		}
		if (c->st == CS_IDLE) {
			c->st = CS_READING;
			tl_append(c, TL_READING);
		}
		rv =
		    keel_http_parse_request(data + off, len - off, srv->cfg.max_head, &c->req.head);
		if (rv == 0)
			break;
		if (rv < 0) {
			refuse_parse_error(c, rv);
			off = len;
			break;
		}
		const struct keel_http_head *h = &c->req.head;
		if (h->content_length > 0 && (uint64_t)h->content_length > srv->cfg.max_body) {
			refuse(c, 413, "Request body too large");
			off = len;
			break;
		}
		if (h->chunked) {
			/* The body arrives piecewise: keep a copy of the head and decode as it
			 * comes. */
			keel_buf_clear(&c->headcopy);
			if (keel_buf_append(&c->headcopy, data + off, (size_t)rv) < 0 ||
			    keel_http_parse_request(keel_buf_rptr(&c->headcopy), (size_t)rv,
						    srv->cfg.max_head, &c->req.head) != rv) {
				refuse(c, 500, "Out of memory");
				off = len;
				break;
			}
			keel_buf_clear(&c->body);
			keel_http_chunked_init(&c->chunked, 4096);
			c->st = CS_CHUNKED;
			send_continue(c);
			off += (size_t)rv;
			continue;
		}
		size_t cl = h->content_length > 0 ? (size_t)h->content_length : 0;
		if (len - off < (size_t)rv + cl) {
			send_continue(c);
			break;
		}
		c->req.body = data + off + rv;
		c->req.body_len = cl;
		off += (size_t)rv + cl;
		dispatch(c);
	}
	c->in_read = false;
	return off;
}

static void conn_end(struct keel_stream *s, int err, void *arg)
{
	struct conn *c = arg;

	(void)s;
	/*
	 * The peer closed. A response already queued still goes out (graceful
	 * close), but a request still being handled is taken as abandoned, as
	 * nginx does: its close callback fires and its answer goes nowhere.
	 */
	if (err < 0)
		keel_stream_abort(c->s);
	else
		conn_close(c);
}

static void conn_drain(struct keel_stream *s, void *arg)
{
	struct conn *c = arg;

	if (c->paused && (c->st == CS_IDLE || c->st == CS_READING)) {
		c->paused = false;
		keel_stream_read_start(s);
	}
	if ((c->st == CS_BUSY || c->st == CS_STREAMING) && c->req.on_drain != NULL)
		c->req.on_drain(&c->req, c->req.cb_arg);
}

static void server_maybe_free(struct keel_http_server *srv);

static void conn_closed(struct keel_stream *s, void *arg)
{
	struct conn *c = arg;
	struct keel_http_server *srv = c->srv;

	(void)s;
	tl_remove(c);
	c->req.c = NULL;
	if (c->req.on_close != NULL)
		c->req.on_close(&c->req, c->req.cb_arg);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->nconns--;
	keel_buf_free(&c->headcopy);
	keel_buf_free(&c->body);
	keel_free(c);
	server_maybe_free(srv);
}

static const struct keel_stream_ops conn_ops = {
    .on_read = conn_read,
    .on_end = conn_end,
    .on_drain = conn_drain,
    .on_close = conn_closed,
};

static void server_accept(struct keel_listener *l, int fd, void *arg)
{
	struct keel_http_server *srv = arg;
	struct conn *c;

	(void)l;
	if (fd < 0) {
		KEEL_WARN("http", "accept: %s", strerror(-fd));
		return;
	}
	if (srv->nconns >= srv->cfg.max_conns || srv->freeing) {
		close(fd);
		return;
	}
	c = keel_calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->req.c = c;
	if (keel_stream_new(srv->loop, fd, &conn_ops, c, &c->s) < 0) {
		keel_free(c);
		return;
	}
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	c->st = CS_IDLE;
	tl_append(c, TL_IDLE);
	keel_stream_read_start(c->s);
}

static void server_timer(struct keel_timer *t, void *arg)
{
	struct keel_http_server *srv = arg;
	uint64_t now = keel_loop_now(srv->loop);

	(void)t;
	srv->timer_at = 0;
	while (srv->reading.head != NULL && srv->reading.head->deadline <= now) {
		struct conn *c = srv->reading.head;
		tl_remove(c);
		refuse(c, 408, "Request not received in time");
	}
	while (srv->idle.head != NULL && srv->idle.head->deadline <= now)
		conn_close(srv->idle.head);
	server_arm_timer(srv);
}

int keel_http_server_new(struct keel_loop *loop, const char *host, uint16_t port,
			 const struct keel_http_server_config *cfg, struct keel_http_server **out,
			 char *errmsg)
{
	struct keel_http_server *srv = keel_calloc(1, sizeof(*srv));
	int rv;

	if (srv == NULL)
		return keel_errf(errmsg, -ENOMEM, "allocating the HTTP server");
	srv->loop = loop;
	if (cfg != NULL)
		srv->cfg = *cfg;
	if (srv->cfg.max_head == 0)
		srv->cfg.max_head = 65536;
	if (srv->cfg.max_body == 0)
		srv->cfg.max_body = 64u << 20;
	if (srv->cfg.max_pending == 0)
		srv->cfg.max_pending = 64u << 20;
	if (srv->cfg.read_timeout == 0)
		srv->cfg.read_timeout = 30000;
	if (srv->cfg.idle_timeout == 0)
		srv->cfg.idle_timeout = 120000;
	if (srv->cfg.linger == 0)
		srv->cfg.linger = 2000;
	if (srv->cfg.max_conns == 0)
		srv->cfg.max_conns = 100000;
	if (srv->cfg.server_name == NULL)
		srv->cfg.server_name = "keel";
	rv = keel_timer_new(loop, server_timer, srv, &srv->timer);
	if (rv < 0) {
		keel_free(srv);
		return keel_errf(errmsg, rv, "allocating the HTTP server");
	}
	rv = keel_listener_new(loop, host, port, 4096, server_accept, srv, &srv->l, errmsg);
	if (rv < 0) {
		keel_timer_free(srv->timer);
		keel_free(srv);
		return rv;
	}
	*out = srv;
	return 0;
}

uint16_t keel_http_server_port(const struct keel_http_server *srv)
{
	return keel_listener_port(srv->l);
}

size_t keel_http_server_conns(const struct keel_http_server *srv)
{
	return srv->nconns;
}

int keel_http_server_route(struct keel_http_server *srv, enum keel_http_method method,
			   const char *path, keel_http_handler handler, void *arg)
{
	size_t len = strlen(path), i;
	bool prefix = len > 0 && path[len - 1] == '*';
	struct route *r;

	if (prefix)
		len--;
	for (i = 0; i < srv->nroutes; i++) {
		r = &srv->routes[i];
		if (r->method == method && r->prefix == prefix && r->len == len &&
		    memcmp(r->path, path, len) == 0)
			return -EEXIST;
	}
	r = keel_realloc(srv->routes, (srv->nroutes + 1) * sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	srv->routes = r;
	r = &srv->routes[srv->nroutes];
	r->path = keel_strndup(path, len);
	if (r->path == NULL)
		return -ENOMEM;
	r->method = method;
	r->len = len;
	r->prefix = prefix;
	r->handler = handler;
	r->arg = arg;
	srv->nroutes++;
	return 0;
}

static void server_maybe_free(struct keel_http_server *srv)
{
	size_t i;

	if (!srv->freeing || srv->nconns > 0)
		return;
	for (i = 0; i < srv->nroutes; i++)
		keel_free(srv->routes[i].path);
	keel_free(srv->routes);
	keel_timer_free(srv->timer);
	keel_free(srv);
}

void keel_http_server_free(struct keel_http_server *srv)
{
	struct conn *c;

	if (srv == NULL || srv->freeing)
		return;
	srv->freeing = true;
	keel_timer_stop(srv->timer);
	keel_listener_close(srv->l);
	for (c = srv->conns; c != NULL; c = c->next) {
		tl_remove(c);
		c->st = CS_CLOSING;
		keel_stream_abort(c->s);
	}
	server_maybe_free(srv);
}
