/* Unit tests for the HTTP/1.1 server and client on the loop, including hostile and slow peers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "loop_util.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"

/* --- fixture: a loop, a server with a few routes --- */

struct fx {
	struct keel_loop *loop;
	struct keel_http_server *srv;
	uint16_t port;
	int handled;
	struct keel_http_req *deferred; /* a request answered later */
	int closed_reqs;		/* on_close callbacks of pending requests */
};

static void h_hello(struct keel_http_req *req, void *arg)
{
	struct fx *f = arg;
	f->handled++;
	ASSERT_OK(keel_http_respond(req, 200, "text/plain", NULL, "hello", 5));
}

static void h_echo(struct keel_http_req *req, void *arg)
{
	struct fx *f = arg;
	size_t n;
	const char *b = keel_http_req_body(req, &n);
	f->handled++;
	ASSERT_OK(keel_http_respond(req, 200, "application/octet-stream", NULL, b, n));
}

static void req_closed(struct keel_http_req *req, void *arg)
{
	struct fx *f = arg;
	(void)req;
	f->closed_reqs++;
	f->deferred = NULL;
}

static void h_later(struct keel_http_req *req, void *arg)
{
	struct fx *f = arg;
	f->handled++;
	f->deferred = req;
	keel_http_req_on_events(req, NULL, req_closed, f);
}

static void fx_setup(struct fx *f, const struct keel_http_server_config *cfg)
{
	char err[KEEL_ERRMSG_SIZE] = "";
	int rv;

	memset(f, 0, sizeof(*f));
	rv = keel_loop_new(&f->loop, NULL, err);
	if (rv == -ENOSYS || rv == -EPERM)
		TH_SKIP(err);
	ASSERT_OK(rv);
	ASSERT_OK(keel_http_server_new(f->loop, "127.0.0.1", 0, cfg, &f->srv, err));
	f->port = keel_http_server_port(f->srv);
	ASSERT_OK(keel_http_server_route(f->srv, KEEL_HTTP_GET, "/hello", h_hello, f));
	ASSERT_OK(keel_http_server_route(f->srv, KEEL_HTTP_HEAD, "/hello", h_hello, f));
	ASSERT_OK(keel_http_server_route(f->srv, KEEL_HTTP_POST, "/echo", h_echo, f));
	ASSERT_OK(keel_http_server_route(f->srv, KEEL_HTTP_GET, "/later", h_later, f));
	ASSERT_OK(keel_http_server_route(f->srv, KEEL_HTTP_GET, "/files/*", h_hello, f));
	ASSERT_INT_EQ(keel_http_server_route(f->srv, KEEL_HTTP_GET, "/hello", h_hello, f), -EEXIST);
}

static void fx_teardown(struct fx *f)
{
	keel_http_server_free(f->srv);
	keel_loop_free(f->loop);
}

/* --- a raw client on its own thread (for hostile input), blocking sockets --- */

struct raw {
	uint16_t port;
	const char *send; /* bytes to send */
	size_t send_len;
	unsigned byte_delay_ms; /* > 0: send one byte at a time with this gap */
	bool shut_wr;		/* shutdown(SHUT_WR) after sending */
	char got[65536];	/* what came back until EOF */
	size_t got_len;
	bool eof; /* the server closed */
	atomic_int done;
	pthread_t th;
};

static void *raw_main(void *arg)
{
	struct raw *r = arg;
	struct sockaddr_in sin = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {5, 0};
	size_t i;
	ssize_t n;

	sin.sin_family = AF_INET;
	sin.sin_port = htons(r->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
		if (r->byte_delay_ms == 0) {
			(void)!send(fd, r->send, r->send_len, MSG_NOSIGNAL);
		} else {
			for (i = 0; i < r->send_len; i++) {
				if (send(fd, r->send + i, 1, MSG_NOSIGNAL) != 1)
					break;
				usleep(r->byte_delay_ms * 1000);
			}
		}
		if (r->shut_wr)
			shutdown(fd, SHUT_WR);
		while ((n = recv(fd, r->got + r->got_len, sizeof(r->got) - 1 - r->got_len, 0)) > 0)
			r->got_len += (size_t)n;
		r->eof = n == 0;
	}
	r->got[r->got_len] = '\0';
	close(fd);
	atomic_store(&r->done, 1);
	return NULL;
}

static void raw_run(struct fx *f, struct raw *r, const char *req, size_t len)
{
	r->port = f->port;
	r->send = req;
	r->send_len = len;
	atomic_store(&r->done, 0);
	ASSERT_INT_EQ(pthread_create(&r->th, NULL, raw_main, r), 0);
	ASSERT_TRUE(RUN_UNTIL(f->loop, atomic_load(&r->done), 10000));
	pthread_join(r->th, NULL);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

TEST(server_answers_pipelined_requests_in_order)
{
	struct fx f;
	struct raw r = {0};
	const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
			   "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
			   "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	fx_setup(&f, NULL);
	raw_run(&f, &r, req, sizeof(req) - 1);
	ASSERT_TRUE(r.eof);
	ASSERT_INT_EQ(count(r.got, "HTTP/1.1 200 OK"), 3);
	const char *a = strstr(r.got, "hello"), *b = strstr(r.got, "abc");
	ASSERT_NOT_NULL(a);
	ASSERT_NOT_NULL(b);
	ASSERT_TRUE(a < b);
	ASSERT_STR_CONTAINS(b, "Connection: close");
	ASSERT_INT_EQ(f.handled, 3);
	fx_teardown(&f);
}

TEST(server_decodes_chunked_request_body)
{
	struct fx f;
	struct raw r = {0};
	const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
			   "Connection: close\r\n\r\n"
			   "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n";

	fx_setup(&f, NULL);
	raw_run(&f, &r, req, sizeof(req) - 1);
	ASSERT_STR_CONTAINS(r.got, "Content-Length: 11\r\n");
	ASSERT_STR_CONTAINS(r.got, "\r\n\r\nhello world");
	fx_teardown(&f);
}

TEST(server_refuses_bad_input_and_closes)
{
	static const struct {
		const char *req;
		const char *status;
	} rows[] = {
	    {"GARBAGE\r\n\r\n", "HTTP/1.1 400 "},
	    {"GET /hello HTTP/1.1\r\nBad Header: x\r\n\r\n", "HTTP/1.1 400 "},
	    {"GET /hello HTTP/2.0\r\n\r\n", "HTTP/1.1 505 "},
	    {"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 "},
	    {"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	     "HTTP/1.1 400 "},
	    {"POST /echo HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", "HTTP/1.1 413 "},
	    {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400 "},
	    {"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", "HTTP/1.1 404 "},
	    {"DELETE /hello HTTP/1.1\r\nConnection: close\r\n\r\n", "HTTP/1.1 405 "},
	};
	struct keel_http_server_config cfg = {.max_body = 1 << 20};
	struct fx f;
	size_t i;

	fx_setup(&f, &cfg);
	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		struct raw r = {0};
		TH_CONTEXT("row %zu: %s", i, rows[i].req);
		raw_run(&f, &r, rows[i].req, strlen(rows[i].req));
		ASSERT_TRUE(strncmp(r.got, rows[i].status, strlen(rows[i].status)) == 0);
		ASSERT_TRUE(r.eof);
		ASSERT_INT_EQ(count(r.got, "HTTP/1.1 "), 1);
	}
	TH_CONTEXT(NULL);
	ASSERT_INT_EQ(f.handled, 0);
	fx_teardown(&f);
}

TEST(server_405_lists_allowed_methods)
{
	struct fx f;
	struct raw r = {0};
	const char req[] = "PUT /hello HTTP/1.1\r\n\r\n";

	fx_setup(&f, NULL);
	raw_run(&f, &r, req, sizeof(req) - 1);
	ASSERT_STR_CONTAINS(r.got, "Allow: GET, HEAD\r\n");
	fx_teardown(&f);
}

TEST(server_431_on_oversized_head)
{
	struct keel_http_server_config cfg = {.max_head = 1024};
	struct fx f;
	struct raw r = {0};
	char req[4096];

	fx_setup(&f, &cfg);
	snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nX-Big: %03000d\r\n\r\n", 1);
	raw_run(&f, &r, req, strlen(req));
	ASSERT_STR_CONTAINS(r.got, "HTTP/1.1 431 ");
	ASSERT_TRUE(r.eof);
	fx_teardown(&f);
}

TEST(server_head_request_has_no_body)
{
	struct fx f;
	struct raw r = {0};
	const char req[] = "HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n";

	fx_setup(&f, NULL);
	raw_run(&f, &r, req, sizeof(req) - 1);
	ASSERT_STR_CONTAINS(r.got, "Content-Length: 5\r\n");
	ASSERT_TRUE(strstr(r.got, "hello") == NULL);
	fx_teardown(&f);
}

TEST(server_answers_after_client_half_close)
{
	struct fx f;
	struct raw r = {.shut_wr = true};
	const char req[] = "GET /hello HTTP/1.1\r\n\r\n";

	fx_setup(&f, NULL);
	raw_run(&f, &r, req, sizeof(req) - 1);
	ASSERT_STR_CONTAINS(r.got, "\r\n\r\nhello");
	ASSERT_TRUE(r.eof);
	fx_teardown(&f);
}

TEST(server_drops_slowloris_at_read_timeout)
{
	struct keel_http_server_config cfg = {.read_timeout = 300};
	struct fx f;
	struct raw r = {.byte_delay_ms = 50};
	const char req[] = "GET /hello HTTP/1.1\r\nHost: a-slow-client.example\r\n"
			   "X-Padding: 0123456789\r\n\r\n";
	uint64_t t0;

	fx_setup(&f, &cfg);
	t0 = keel_loop_clock_ns();
	raw_run(&f, &r, req, sizeof(req) - 1);
	/* The request needs ~4 s at this pace; the server gives up at its read timeout. */
	ASSERT_INT_LT((keel_loop_clock_ns() - t0) / 1000000, 3000);
	ASSERT_STR_CONTAINS(r.got, "HTTP/1.1 408 ");
	ASSERT_INT_EQ(f.handled, 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, keel_http_server_conns(f.srv) == 0, 5000));
	fx_teardown(&f);
}

TEST(server_closes_idle_keepalive_connections)
{
	struct keel_http_server_config cfg = {.idle_timeout = 200};
	struct fx f;
	struct raw r = {0};
	const char req[] = "GET /hello HTTP/1.1\r\n\r\n";

	fx_setup(&f, &cfg);
	raw_run(&f, &r, req, sizeof(req) - 1); /* returns when the server closes */
	ASSERT_STR_CONTAINS(r.got, "hello");
	ASSERT_TRUE(r.eof);
	fx_teardown(&f);
}

TEST(server_peer_closes_mid_body)
{
	struct fx f;
	struct raw r = {.shut_wr = true};
	const char req[] = "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly-some";

	fx_setup(&f, NULL);
	raw_run(&f, &r, req, sizeof(req) - 1);
	ASSERT_TRUE(r.eof);
	ASSERT_INT_EQ(f.handled, 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, keel_http_server_conns(f.srv) == 0, 5000));
	fx_teardown(&f);
}

/* --- with the keel client --- */

struct result {
	int done;
	int err;
	int status;
	char body[256];
	size_t body_len;
	int order[8];
	int norder;
};

struct tagged {
	struct result *res;
	int tag;
};

static void on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct result *r = arg;
	r->done++;
	r->err = err;
	if (resp != NULL) {
		r->status = resp->status;
		r->body_len = KEEL_MIN(resp->body_len, sizeof(r->body) - 1);
		memcpy(r->body, resp->body, r->body_len);
		r->body[r->body_len] = '\0';
	}
}

static void on_done_tagged(int err, const struct keel_http_response *resp, void *arg)
{
	struct tagged *t = arg;
	on_done(err, resp, t->res);
	t->res->order[t->res->norder++] = t->tag;
}

static const struct keel_http_client_cbs buffered = {.on_done = on_done};
static const struct keel_http_client_cbs buffered_tagged = {.on_done = on_done_tagged};

TEST(client_pipelines_and_keeps_order_with_deferred_answer)
{
	struct fx f;
	struct keel_http_client *c;
	struct result res = {0};
	struct tagged t[3] = {{&res, 0}, {&res, 1}, {&res, 2}};

	fx_setup(&f, NULL);
	ASSERT_OK(keel_http_client_new(f.loop, "127.0.0.1", f.port, NULL, &c, NULL));
	ASSERT_OK(keel_http_client_request(c, "GET", "/later", NULL, NULL, NULL, 0,
					   &buffered_tagged, &t[0]));
	ASSERT_OK(keel_http_client_request(c, "POST", "/echo", NULL, "text/plain", "xyz", 3,
					   &buffered_tagged, &t[1]));
	ASSERT_OK(keel_http_client_request(c, "GET", "/hello", NULL, NULL, NULL, 0,
					   &buffered_tagged, &t[2]));
	ASSERT_UINT_EQ(keel_http_client_pending(c), 3);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.deferred != NULL, 5000));
	/* The later requests wait behind the deferred one. */
	keel_loop_run_once(f.loop, 50);
	ASSERT_INT_EQ(res.done, 0);
	ASSERT_INT_EQ(f.handled, 1);
	ASSERT_OK(keel_http_respond(f.deferred, 202, "text/plain", NULL, "late", 4));
	ASSERT_TRUE(RUN_UNTIL(f.loop, res.done == 3, 5000));
	ASSERT_INT_EQ(res.order[0], 0);
	ASSERT_INT_EQ(res.order[1], 1);
	ASSERT_INT_EQ(res.order[2], 2);
	ASSERT_STR_EQ(res.body, "hello");
	ASSERT_INT_EQ(keel_http_server_conns(f.srv), 1); /* one kept-alive connection */
	keel_http_client_free(c);
	fx_teardown(&f);
}

TEST(client_request_timeout_and_pending_close_callback)
{
	struct keel_http_client_config cc = {.request_timeout = 200};
	struct fx f;
	struct keel_http_client *c;
	struct result res = {0};

	fx_setup(&f, NULL);
	ASSERT_OK(keel_http_client_new(f.loop, "127.0.0.1", f.port, &cc, &c, NULL));
	ASSERT_OK(
	    keel_http_client_request(c, "GET", "/later", NULL, NULL, NULL, 0, &buffered, &res));
	ASSERT_TRUE(RUN_UNTIL(f.loop, res.done == 1, 5000));
	ASSERT_INT_EQ(res.err, -ETIMEDOUT);
	/* The server learns that the connection of its pending request closed. */
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.closed_reqs == 1, 5000));
	ASSERT_NULL(f.deferred);
	keel_http_client_free(c);
	fx_teardown(&f);
}

TEST(client_connection_refused)
{
	struct fx f;
	struct keel_http_client *c;
	struct result res = {0};
	uint16_t port;

	fx_setup(&f, NULL);
	port = f.port;
	keel_http_server_free(f.srv);
	f.srv = NULL;
	keel_loop_run_once(f.loop, 10);
	ASSERT_OK(keel_http_client_new(f.loop, "127.0.0.1", port, NULL, &c, NULL));
	ASSERT_OK(
	    keel_http_client_request(c, "GET", "/hello", NULL, NULL, NULL, 0, &buffered, &res));
	ASSERT_TRUE(RUN_UNTIL(f.loop, res.done == 1, 5000));
	ASSERT_INT_EQ(res.err, -ECONNREFUSED);
	ASSERT_INT_EQ(
	    keel_http_client_request(c, "GET", "no-slash", NULL, NULL, NULL, 0, &buffered, &res),
	    -EINVAL);
	keel_http_client_free(c);
	keel_loop_free(f.loop);
}

TEST(client_free_cancels_pending)
{
	struct fx f;
	struct keel_http_client *c;
	struct result res = {0};

	fx_setup(&f, NULL);
	ASSERT_OK(keel_http_client_new(f.loop, "127.0.0.1", f.port, NULL, &c, NULL));
	ASSERT_OK(
	    keel_http_client_request(c, "GET", "/later", NULL, NULL, NULL, 0, &buffered, &res));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.deferred != NULL, 5000));
	keel_http_client_free(c);
	ASSERT_INT_EQ(res.done, 1);
	ASSERT_INT_EQ(res.err, -ECANCELED);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.closed_reqs == 1, 5000));
	fx_teardown(&f);
}

/* --- streaming: a slow reader costs bounded memory --- */

struct streamer {
	struct keel_http_req *req;
	size_t sent, total, chunk;
	size_t max_pending_seen;
	bool paced; /* wait for drain when pending exceeds `bound` */
	size_t bound;
	int write_err;
	int closed;
	char data[4096];
};

static void stream_pump(struct streamer *st)
{
	while (st->req != NULL && st->sent < st->total) {
		if (st->paced && keel_http_req_pending(st->req) >= st->bound)
			return; /* on_drain resumes */
		size_t n = KEEL_MIN(st->chunk, st->total - st->sent);
		memset(st->data, 'a' + (int)((st->sent / st->chunk) % 26), n);
		int rv = keel_http_stream_write(st->req, st->data, n);
		if (rv < 0) {
			st->write_err = rv;
			return;
		}
		st->sent += n;
		st->max_pending_seen =
		    KEEL_MAX(st->max_pending_seen, keel_http_req_pending(st->req));
	}
	if (st->req != NULL && st->sent == st->total) {
		ASSERT_OK(keel_http_stream_end(st->req));
		st->req = NULL;
	}
}

static void st_drain(struct keel_http_req *req, void *arg)
{
	(void)req;
	stream_pump(arg);
}

static void st_close(struct keel_http_req *req, void *arg)
{
	struct streamer *st = arg;
	(void)req;
	st->closed++;
	st->req = NULL;
}

static void h_stream(struct keel_http_req *req, void *arg)
{
	struct streamer *st = arg;
	st->req = req;
	keel_http_req_on_events(req, st_drain, st_close, st);
	ASSERT_OK(keel_http_stream_start(req, 200, "application/recordio", NULL));
	stream_pump(st);
}

/* A streaming client that reads slowly: it stops reading for a while after each piece. */
struct slow {
	size_t got;
	int heads;
	int done;
	int err;
	bool bad_byte;
	size_t expect_pos;
	size_t chunk;
};

static void slow_head(const struct keel_http_response *resp, void *arg)
{
	struct slow *s = arg;
	ASSERT_INT_EQ(resp->status, 200);
	s->heads++;
}

static void slow_data(const char *d, size_t n, void *arg)
{
	struct slow *s = arg;
	for (size_t i = 0; i < n; i++, s->expect_pos++)
		if (d[i] != 'a' + (int)((s->expect_pos / s->chunk) % 26))
			s->bad_byte = true;
	s->got += n;
}

static void slow_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct slow *s = arg;
	(void)resp;
	s->done++;
	s->err = err;
}

static const struct keel_http_client_cbs slow_cbs = {slow_head, slow_data, slow_done};

/* A raw slow reader: small receive buffer, reads a little at a time. */
struct slow_raw {
	uint16_t port;
	size_t got;
	atomic_int done;
	pthread_t th;
};

static void *slow_raw_main(void *arg)
{
	struct slow_raw *r = arg;
	struct sockaddr_in sin = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
	const char req[] = "GET /stream HTTP/1.1\r\n\r\n";
	char buf[4096];
	ssize_t n;
	struct timeval tv = {10, 0};

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(r->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
		(void)!send(fd, req, sizeof(req) - 1, 0);
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
			r->got += (size_t)n;
			usleep(200); /* slow */
		}
	}
	close(fd);
	atomic_store(&r->done, 1);
	return NULL;
}

TEST(stream_to_slow_reader_is_paced_with_bounded_memory)
{
	struct fx f;
	struct streamer st = {.total = 32 << 20, .chunk = 4000, .paced = true, .bound = 256 << 10};
	struct slow_raw r = {0};

	fx_setup(&f, NULL);
	ASSERT_OK(keel_http_server_route(f.srv, KEEL_HTTP_GET, "/stream", h_stream, &st));
	r.port = f.port;
	ASSERT_INT_EQ(pthread_create(&r.th, NULL, slow_raw_main, &r), 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, st.sent == st.total && st.req == NULL, 60000));
	ASSERT_INT_EQ(st.write_err, 0);
	/* Never more than the bound plus one chunk queued in user space, however slow the reader.
	 */
	ASSERT_UINT_LE(st.max_pending_seen, st.bound + st.chunk + 64);
	fx_teardown(&f);
	pthread_join(r.th, NULL);
	ASSERT_UINT_GT(r.got, st.total);
}

TEST(stream_drops_reader_that_falls_too_far_behind)
{
	struct keel_http_server_config cfg = {.max_pending = 1 << 20};
	struct fx f;
	struct streamer st = {.total = 64 << 20, .chunk = 4000, .paced = false};
	struct slow_raw r = {0};

	fx_setup(&f, &cfg);
	ASSERT_OK(keel_http_server_route(f.srv, KEEL_HTTP_GET, "/stream", h_stream, &st));
	r.port = f.port;
	ASSERT_INT_EQ(pthread_create(&r.th, NULL, slow_raw_main, &r), 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, st.closed == 1, 20000));
	ASSERT_INT_EQ(st.write_err, -ENOBUFS);
	ASSERT_UINT_LT(st.sent, st.total);
	pthread_join(r.th, NULL);
	fx_teardown(&f);
}

TEST(client_streams_chunked_body)
{
	struct fx f;
	struct streamer st = {.total = 1 << 20, .chunk = 1000, .paced = true, .bound = 64 << 10};
	struct keel_http_client *c;
	struct slow s = {.chunk = 1000};

	fx_setup(&f, NULL);
	ASSERT_OK(keel_http_server_route(f.srv, KEEL_HTTP_GET, "/stream", h_stream, &st));
	ASSERT_OK(keel_http_client_new(f.loop, "127.0.0.1", f.port, NULL, &c, NULL));
	ASSERT_OK(
	    keel_http_client_request(c, "GET", "/stream", NULL, NULL, NULL, 0, &slow_cbs, &s));
	ASSERT_TRUE(RUN_UNTIL(f.loop, s.done == 1, 20000));
	ASSERT_INT_EQ(s.err, 0);
	ASSERT_INT_EQ(s.heads, 1);
	ASSERT_UINT_EQ(s.got, st.total);
	ASSERT_FALSE(s.bad_byte);
	keel_http_client_free(c);
	fx_teardown(&f);
}

/* --- 10,000 concurrent keep-alive connections --- */

enum { MANY = 10000 };

static int raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

/* The client side, in a child process (so each side needs only MANY fds): two rounds of
 * MANY requests on MANY kept-alive connections; reports each round on `up`, waits on `down`. */
static int many_clients(uint16_t port, int up, int down)
{
	struct keel_loop *loop;
	struct keel_http_client **cs = calloc(MANY, sizeof(*cs));
	struct result *res = calloc(MANY, sizeof(*res));
	int i, round, ok = 1;
	char b;

	if (keel_loop_new(&loop, NULL, NULL) < 0) {
		fprintf(stderr, "many_clients: keel_loop_new failed\n");
		return 1;
	}
	for (i = 0; i < MANY; i++)
		if (keel_http_client_new(loop, "127.0.0.1", port, NULL, &cs[i], NULL) < 0) {
			fprintf(stderr, "many_clients: client %d: keel_http_client_new failed\n",
				i);
			return 1;
		}
	for (round = 1; round <= 2; round++) {
		for (i = 0; i < MANY; i++)
			if (keel_http_client_request(cs[i], "GET", "/hello", NULL, NULL, NULL, 0,
						     &buffered, &res[i]) < 0) {
				fprintf(stderr,
					"many_clients: round %d: client %d: request failed\n",
					round, i);
				return 1;
			}
		int all = 0;
		RUN_UNTIL(loop, ({
				  all = 0;
				  for (i = 0; i < MANY; i++)
					  all += res[i].done == round;
				  all == MANY;
			  }),
			  80000);
		int done = 0, bad = -1;
		for (i = 0; i < MANY; i++) {
			done += res[i].done == round;
			if (bad < 0 && !(res[i].done == round && res[i].err == 0 &&
					 res[i].status == 200 && strcmp(res[i].body, "hello") == 0))
				bad = i;
		}
		if (bad >= 0) {
			/* Say what went wrong: the parent only sees 'n'. */
			fprintf(stderr,
				"many_clients: round %d: %d of %d answered; client %d: done %d "
				"err %d (%s) status %d body \"%.16s\"\n",
				round, done, MANY, bad, res[bad].done, res[bad].err,
				res[bad].err ? strerror(-res[bad].err) : "-", res[bad].status,
				res[bad].body);
			ok = 0;
		}
		b = ok ? 'y' : 'n';
		if (write(up, &b, 1) != 1 || read(down, &b, 1) != 1)
			return 1;
	}
	for (i = 0; i < MANY; i++)
		keel_http_client_free(cs[i]);
	keel_loop_free(loop);
	free(cs);
	free(res);
	return ok ? 0 : 1;
}

TEST(ten_thousand_keepalive_connections)
{
	struct fx f;
	int up[2], down[2], status, round;
	pid_t pid;
	char b = 0;

	if (raise_nofile(MANY + 200) != 0)
		TH_SKIP("cannot raise RLIMIT_NOFILE to 10200");
	fx_setup(&f, NULL);
	ASSERT_INT_EQ(pipe2(up, O_NONBLOCK | O_CLOEXEC), 0);
	ASSERT_INT_EQ(pipe2(down, O_CLOEXEC), 0);
	pid = fork();
	ASSERT_INT_GE(pid, 0);
	if (pid == 0) {
		/* The child touches nothing of the parent's loop (it must not cross fork). */
		close(up[0]);
		close(down[1]);
		_exit(many_clients(f.port, up[1], down[0]));
	}
	for (round = 1; round <= 2; round++) {
		ASSERT_TRUE(RUN_UNTIL(f.loop, read(up[0], &b, 1) == 1, 90000));
		ASSERT_INT_EQ(b, 'y');
		/* Every client kept its one connection: the server holds exactly MANY. */
		ASSERT_INT_EQ(keel_http_server_conns(f.srv), MANY);
		ASSERT_INT_EQ(f.handled, round * MANY);
		ASSERT_INT_EQ(write(down[1], "g", 1), 1);
	}
	ASSERT_TRUE(RUN_UNTIL(f.loop, keel_http_server_conns(f.srv) == 0, 30000));
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	fx_teardown(&f);
}
