/* HTTP/1.1 client: connect on demand, pipeline requests, parse responses in order, fail all on
 * error. */
#include "http_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

/* One request, from the call until its on_done. */
struct creq {
	struct creq *next;		 /* FIFO link */
	struct keel_http_client_cbs cbs; /* callbacks */
	void *arg;			 /* their argument */
	bool is_head;			 /* HEAD: no body in the response */
	bool streaming;			 /* on_data set */
	uint64_t deadline;		 /* loop ms by which the head must arrive (0 = none) */
};

enum body_mode { BM_NONE, BM_LENGTH, BM_CHUNKED, BM_EOF };

struct keel_http_client {
	struct keel_loop *loop;		    /* the loop */
	struct keel_http_client_config cfg; /* limits */
	char hostport[280];		    /* Host header value */
	struct sockaddr_storage addr;	    /* resolved origin */
	socklen_t addrlen;		    /* its length */
	struct keel_stream *s;		    /* the connection, NULL when none */
	bool connected;			    /* connect completed */
	struct creq *head, *tail;	    /* requests sent or queued, oldest first */
	size_t npending;		    /* their count */
	struct keel_timer *timer;	    /* request/connect deadline */
	uint64_t connect_deadline;	    /* loop ms by which the connect must finish */
	/* The response being read (for the oldest request). */
	bool in_body;			  /* head parsed, reading the body */
	enum body_mode mode;		  /* how the body is delimited */
	uint64_t left;			  /* BM_LENGTH: bytes left */
	struct keel_buf headbuf;	  /* the response head, copied */
	struct keel_http_head rhead;	  /* parsed from headbuf */
	struct keel_buf body;		  /* buffered body */
	struct keel_http_chunked chunked; /* chunked decoder */
	bool freeing;			  /* inside keel_http_client_free */
};

static void client_fail_all(struct keel_http_client *c, int err);

static struct creq *pop(struct keel_http_client *c)
{
	struct creq *r = c->head;

	c->head = r->next;
	if (c->head == NULL)
		c->tail = NULL;
	c->npending--;
	return r;
}

static void arm_timer(struct keel_http_client *c)
{
	uint64_t now = keel_loop_now(c->loop);
	struct creq *r = c->head;

	uint64_t at;

	if (r == NULL || (c->in_body && r->streaming)) {
		keel_timer_stop(c->timer);
		return;
	}
	at = r->deadline;
	if (!c->connected && c->connect_deadline < at)
		at = c->connect_deadline;
	keel_timer_start(c->timer, at > now ? at - now : 0, 0);
}

static void client_timeout(struct keel_timer *t, void *arg)
{
	struct keel_http_client *c = arg;

	(void)t;
	client_fail_all(c, -ETIMEDOUT);
}

static void response_reset(struct keel_http_client *c)
{
	c->in_body = false;
	keel_buf_clear(&c->headbuf);
	keel_buf_clear(&c->body);
}

/* The oldest request's response is complete (or failed). */
static void complete(struct keel_http_client *c, int err)
{
	struct creq *r = pop(c);
	struct keel_http_response resp = {0};

	if (err == 0) {
		resp.status = c->rhead.status;
		resp.head = &c->rhead;
		if (!r->streaming) {
			resp.body = keel_buf_size(&c->body) ? keel_buf_rptr(&c->body) : "";
			resp.body_len = keel_buf_size(&c->body);
		}
	}
	response_reset(c);
	r->cbs.on_done(err, err == 0 ? &resp : NULL, r->arg);
	keel_free(r);
	if (!c->freeing)
		arm_timer(c);
}

static void body_data(struct keel_http_client *c, const char *d, size_t n, int *err)
{
	struct creq *r = c->head;

	if (n == 0)
		return;
	if (r->streaming) {
		r->cbs.on_data(d, n, r->arg);
		return;
	}
	if (keel_buf_size(&c->body) + n > c->cfg.max_body)
		*err = -EMSGSIZE;
	else if (keel_buf_append(&c->body, d, n) < 0)
		*err = -ENOMEM;
}

static size_t client_read(struct keel_stream *s, const char *data, size_t len, void *arg)
{
	struct keel_http_client *c = arg;
	size_t off = 0;
	int rv, err = 0;

	(void)s;
	while (off < len && c->head != NULL && err == 0) {
		if (!c->in_body) {
			rv = keel_http_parse_response(data + off, len - off, c->cfg.max_head,
						      &c->rhead);
			if (rv == 0)
				break;
			if (rv < 0) {
				err = -EBADMSG;
				break;
			}
			if (c->rhead.status < 200) {
				off +=
				    (size_t)rv; /* 100 Continue and friends: the answer follows */
				continue;
			}
			/* Copy the head so it outlives this buffer while the body streams in. */
			keel_buf_clear(&c->headbuf);
			if (keel_buf_append(&c->headbuf, data + off, (size_t)rv) < 0) {
				err = -ENOMEM;
				break;
			}
			keel_http_parse_response(keel_buf_rptr(&c->headbuf), (size_t)rv,
						 c->cfg.max_head, &c->rhead);
			off += (size_t)rv;
			c->in_body = true;
			if (c->head->is_head || c->rhead.status == 204 || c->rhead.status == 304)
				c->mode = BM_NONE;
			else if (c->rhead.chunked)
				c->mode = BM_CHUNKED;
			else if (c->rhead.content_length >= 0)
				c->mode = BM_LENGTH;
			else
				c->mode = BM_EOF;
			c->left =
			    c->rhead.content_length > 0 ? (uint64_t)c->rhead.content_length : 0;
			if (c->mode == BM_CHUNKED)
				keel_http_chunked_init(&c->chunked, 4096);
			if (c->mode == BM_LENGTH && !c->head->streaming &&
			    c->left > c->cfg.max_body) {
				err = -EMSGSIZE;
				break;
			}
			if (c->head->streaming) {
				struct keel_http_response resp = {c->rhead.status, &c->rhead, NULL,
								  0};
				arm_timer(c); /* no deadline for a streamed body */
				if (c->head->cbs.on_head != NULL)
					c->head->cbs.on_head(&resp, c->head->arg);
			}
			if (c->mode == BM_NONE || (c->mode == BM_LENGTH && c->left == 0))
				complete(c, 0);
			continue;
		}
		if (c->mode == BM_LENGTH) {
			size_t n = (size_t)KEEL_MIN((uint64_t)(len - off), c->left);
			body_data(c, data + off, n, &err);
			off += n;
			c->left -= n;
			if (c->left == 0 && err == 0)
				complete(c, 0);
		} else if (c->mode == BM_CHUNKED) {
			size_t consumed = 0, dlen = 0;
			const char *d = NULL;
			rv = keel_http_chunked_decode(&c->chunked, data + off, len - off, &consumed,
						      &d, &dlen);
			off += consumed;
			if (rv < 0) {
				err = -EBADMSG;
				break;
			}
			body_data(c, d, dlen, &err);
			if (rv == 1 && err == 0)
				complete(c, 0);
		} else {
			body_data(c, data + off, len - off, &err);
			off = len;
		}
	}
	if (err < 0) {
		client_fail_all(c, err);
		return len;
	}
	if (c->head == NULL && off < len)
		off = len; /* bytes nobody asked for */
	return off;
}

static void client_end(struct keel_stream *s, int err, void *arg)
{
	struct keel_http_client *c = arg;

	(void)s;
	if (err == 0 && c->head != NULL && c->in_body && c->mode == BM_EOF) {
		complete(c, 0); /* a body delimited by the close */
		err = -ECONNRESET;
	}
	client_fail_all(c, err < 0 ? err : -ECONNRESET);
}

static const struct keel_stream_ops client_ops = {
    .on_read = client_read,
    .on_end = client_end,
};

static void client_connected(struct keel_stream *s, int status, void *arg)
{
	struct keel_http_client *c = arg;

	if (status < 0) {
		c->s = NULL; /* the loop frees the stream after this callback */
		client_fail_all(c, status);
		return;
	}
	c->connected = true;
	keel_stream_read_start(s);
	arm_timer(c);
}

/* Drops the connection and fails every request on it. */
static void client_fail_all(struct keel_http_client *c, int err)
{
	if (c->s != NULL) {
		keel_stream_set_ops(c->s, NULL);
		keel_stream_abort(c->s);
		c->s = NULL;
	}
	c->connected = false;
	response_reset(c);
	while (c->head != NULL) {
		struct creq *r = pop(c);
		r->cbs.on_done(err, NULL, r->arg);
		keel_free(r);
	}
	keel_timer_stop(c->timer);
}

int keel_http_client_new(struct keel_loop *loop, const char *host, uint16_t port,
			 const struct keel_http_client_config *cfg, struct keel_http_client **out,
			 char *errmsg)
{
	struct keel_http_client *c = keel_calloc(1, sizeof(*c));
	int rv;

	if (c == NULL)
		return keel_errf(errmsg, -ENOMEM, "allocating an HTTP client");
	c->loop = loop;
	if (cfg != NULL)
		c->cfg = *cfg;
	if (c->cfg.connect_timeout == 0)
		c->cfg.connect_timeout = 5000;
	if (c->cfg.request_timeout == 0)
		c->cfg.request_timeout = 30000;
	if (c->cfg.max_head == 0)
		c->cfg.max_head = 65536;
	if (c->cfg.max_body == 0)
		c->cfg.max_body = 64u << 20;
	rv = keel_resolve(host, port, &c->addr, &c->addrlen, errmsg);
	if (rv < 0) {
		keel_free(c);
		return rv;
	}
	snprintf(c->hostport, sizeof(c->hostport), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 port);
	rv = keel_timer_new(loop, client_timeout, c, &c->timer);
	if (rv < 0) {
		keel_free(c);
		return keel_errf(errmsg, rv, "allocating an HTTP client");
	}
	*out = c;
	return 0;
}

void keel_http_client_free(struct keel_http_client *c)
{
	if (c == NULL)
		return;
	c->freeing = true;
	client_fail_all(c, -ECANCELED);
	keel_timer_free(c->timer);
	keel_buf_free(&c->headbuf);
	keel_buf_free(&c->body);
	keel_free(c);
}

size_t keel_http_client_pending(const struct keel_http_client *c)
{
	return c->npending;
}

int keel_http_client_request(struct keel_http_client *c, const char *method, const char *path,
			     const char *const *headers, const char *content_type, const void *body,
			     size_t body_len, const struct keel_http_client_cbs *cbs, void *arg)
{
	struct creq *r;
	struct keel_buf *b;
	int rv;

	if (cbs == NULL || cbs->on_done == NULL || path[0] != '/')
		return -EINVAL;
	r = keel_calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->cbs = *cbs;
	r->arg = arg;
	r->is_head = strcmp(method, "HEAD") == 0;
	r->streaming = cbs->on_data != NULL;
	if (c->s == NULL) {
		rv = keel_stream_connect(c->loop, (struct sockaddr *)&c->addr, c->addrlen,
					 &client_ops, client_connected, c, &c->s);
		if (rv < 0) {
			keel_free(r);
			return rv;
		}
		c->connected = false;
		c->connect_deadline = keel_loop_now(c->loop) + c->cfg.connect_timeout;
	}
	b = keel_stream_wbuf(c->s);
	rv = keel_buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, c->hostport);
	if (content_type != NULL)
		rv |= keel_buf_printf(b, "Content-Type: %s\r\n", content_type);
	if (body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
		rv |= keel_buf_printf(b, "Content-Length: %zu\r\n", body_len);
	for (; headers != NULL && headers[0] != NULL && headers[1] != NULL; headers += 2)
		rv |= keel_buf_printf(b, "%s: %s\r\n", headers[0], headers[1]);
	rv |= keel_buf_append(b, "\r\n", 2);
	if (body_len > 0)
		rv |= keel_buf_append(b, body, body_len);
	if (rv < 0) {
		/* Part of a request may sit in the queue: the connection cannot be trusted. */
		keel_free(r);
		client_fail_all(c, -ENOMEM);
		return -ENOMEM;
	}
	keel_stream_flush(c->s);
	r->deadline = keel_loop_now(c->loop) + c->cfg.request_timeout;
	if (c->tail != NULL)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->npending++;
	if (c->head == r)
		arm_timer(c);
	return 0;
}
