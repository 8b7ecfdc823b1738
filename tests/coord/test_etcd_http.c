/* Unit tests for coord's libcurl driver (coord/etcd_http.c) against a keel HTTP server on the same
 * loop: bodies, streamed lines, errors, cancel and free inside callbacks, a failed readiness watch.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coord/etcd_http.h"
#include "harness.h"
#include "loop_util.h"
#include "runtime/failpoint.h"
#include "runtime/http_server.h"

/* The server side: routes and what they saw. */
struct srv {
	struct keel_http_server *s;   /* the server */
	struct keel_http_req *stream; /* the open /stream request, or NULL */
	int silent;		      /* /silent requests received (never answered) */
	char base[64];		      /* "http://127.0.0.1:port" */
};

static void on_echo(struct keel_http_req *req, void *arg)
{
	size_t len;
	const char *body = keel_http_req_body(req, &len);

	(void)arg;
	ASSERT_OK(keel_http_respond(req, 200, "application/json", NULL, body, len));
}

static void on_stream_close(struct keel_http_req *req, void *arg)
{
	struct srv *s = arg;

	if (s->stream == req)
		s->stream = NULL;
}

static void on_stream(struct keel_http_req *req, void *arg)
{
	struct srv *s = arg;

	ASSERT_OK(keel_http_stream_start(req, 200, "application/json", NULL));
	keel_http_req_on_events(req, NULL, on_stream_close, s);
	s->stream = req;
}

static void on_silent(struct keel_http_req *req, void *arg)
{
	struct srv *s = arg;

	(void)req;
	s->silent++;
}

static struct keel_loop *new_loop(void)
{
	char err[KEEL_ERRMSG_SIZE] = "";
	struct keel_loop *loop = NULL;
	int rv = keel_loop_new(&loop, NULL, err);

	if (rv == -ENOSYS || rv == -EPERM)
		TH_SKIP(err);
	ASSERT_OK(rv);
	return loop;
}

static void srv_start(struct keel_loop *loop, struct srv *s)
{
	char err[KEEL_ERRMSG_SIZE];

	memset(s, 0, sizeof(*s));
	ASSERT_OK(keel_http_server_new(loop, "127.0.0.1", 0, NULL, &s->s, err));
	ASSERT_OK(keel_http_server_route(s->s, KEEL_HTTP_POST, "/echo", on_echo, s));
	ASSERT_OK(keel_http_server_route(s->s, KEEL_HTTP_POST, "/stream", on_stream, s));
	ASSERT_OK(keel_http_server_route(s->s, KEEL_HTTP_POST, "/silent", on_silent, s));
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", keel_http_server_port(s->s));
}

/* What one request reported. */
struct got {
	int done;	     /* completion callbacks */
	int err;	     /* its err */
	long status;	     /* its status */
	char body[256];	     /* its body */
	char why[256];	     /* its message */
	int lines;	     /* line callbacks */
	char last[64];	     /* the last line */
	struct eh *free_in;  /* eh_free this from the callback */
	struct eh_req *self; /* eh_cancel this from the second line callback */
};

static void got_done(struct eh_req *r, int err, long status, const char *body, size_t len,
		     const char *why, void *arg)
{
	struct got *g = arg;

	(void)r;
	g->done++;
	g->err = err;
	g->status = status;
	snprintf(g->body, sizeof(g->body), "%.*s", (int)len, body != NULL ? body : "");
	snprintf(g->why, sizeof(g->why), "%s", why);
	if (g->free_in != NULL)
		eh_free(g->free_in);
}

static void got_line(struct eh_req *r, const char *line, size_t len, void *arg)
{
	struct got *g = arg;

	(void)r;
	g->lines++;
	snprintf(g->last, sizeof(g->last), "%.*s", (int)len, line);
	if (g->self != NULL && g->lines == 2)
		eh_cancel(g->self);
}

/* A loop with the server and a driver on it. */
struct fx {
	struct keel_loop *loop; /* the loop */
	struct srv s;		/* the server */
	struct eh *h;		/* the driver; NULL once freed */
};

static void fx_start(struct fx *f)
{
	f->loop = new_loop();
	srv_start(f->loop, &f->s);
	ASSERT_OK(eh_new(f->loop, &f->h));
}

/* Frees everything and checks the loop lets go at once (no kernel request left behind). */
static void fx_finish(struct fx *f)
{
	eh_free(f->h);
	keel_http_server_free(f->s.s);
	uint64_t t0 = keel_loop_clock_ns();
	keel_loop_free(f->loop);
	ASSERT_UINT_LT(keel_loop_clock_ns() - t0, 2000000000ull);
}

/* POSTs body to path on the server; a stream when `stream`. */
static void post(struct fx *f, const char *path, const char *body, long timeout_ms, bool stream,
		 struct got *g, struct eh_req **out)
{
	char url[128];

	snprintf(url, sizeof(url), "%s%s", f->s.base, path);
	ASSERT_OK(eh_post(f->h, url, body, strlen(body), timeout_ms, 1000, stream ? got_line : NULL,
			  got_done, g, out));
}

TEST(post_returns_status_and_body)
{
	struct fx f;
	struct got g = {0}, nf = {0};

	fx_start(&f);
	post(&f, "/echo", "{\"a\":1}", 2000, false, &g, NULL);
	ASSERT_INT_EQ(g.done, 0); /* never from inside eh_post */
	ASSERT_TRUE(RUN_UNTIL(f.loop, g.done == 1, 5000));
	ASSERT_INT_EQ(g.err, 0);
	ASSERT_INT_EQ(g.status, 200);
	ASSERT_STR_EQ(g.body, "{\"a\":1}");
	/* A status that is not 200 is still a completed request. */
	post(&f, "/nope", "{}", 2000, false, &nf, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, nf.done == 1, 5000));
	ASSERT_INT_EQ(nf.err, 0);
	ASSERT_INT_EQ(nf.status, 404);
	fx_finish(&f);
}

/* Total completions of n requests. */
static int all_done(const struct got *g, int n)
{
	int i, done = 0;

	for (i = 0; i < n; i++)
		done += g[i].done;
	return done;
}

TEST(many_requests_while_sockets_come_and_go)
{
	struct fx f;
	struct got g[64];
	int round, i, ok;

	fx_start(&f);
	/* Unknown paths make the server close the connection: libcurl closes its socket right
	 * after it stopped watching it, again and again, while other sockets stay busy. */
	for (round = 0; round < 5; round++) {
		memset(g, 0, sizeof(g));
		for (i = 0; i < 64; i++)
			post(&f, i % 3 == 0 ? "/nope" : "/echo", "x", 5000, false, &g[i], NULL);
		ASSERT_TRUE(RUN_UNTIL(f.loop, all_done(g, 64) == 64, 10000));
		for (i = 0, ok = 0; i < 64; i++) {
			TH_CONTEXT("round %d request %d", round, i);
			ASSERT_INT_EQ(g[i].done, 1);
			ASSERT_INT_EQ(g[i].err, 0);
			ASSERT_INT_EQ(g[i].status, i % 3 == 0 ? 404 : 200);
			ok += g[i].status == 200 && strcmp(g[i].body, "x") == 0;
		}
		TH_CONTEXT(NULL);
		ASSERT_INT_EQ(ok, 64 - 22);
	}
	fx_finish(&f);
}

TEST(stream_delivers_lines_and_cancel_inside_stops_it)
{
	struct fx f;
	struct eh_req *r;
	struct got g = {0};

	fx_start(&f);
	post(&f, "/stream", "{}", 0, true, &g, &r);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.s.stream != NULL, 5000));
	ASSERT_OK(keel_http_stream_write(f.s.stream, "one\ntw", 6));
	ASSERT_TRUE(RUN_UNTIL(f.loop, g.lines == 1, 5000));
	ASSERT_STR_EQ(g.last, "one");
	g.self = r;
	ASSERT_OK(keel_http_stream_write(f.s.stream, "o\nthree\n", 8));
	ASSERT_TRUE(RUN_UNTIL(f.loop, g.lines == 2, 5000));
	ASSERT_STR_EQ(g.last, "two");
	/* Cancelled from its own line callback: no further line, no completion. */
	keel_loop_run_once(f.loop, 50);
	ASSERT_INT_EQ(g.lines, 2);
	ASSERT_INT_EQ(g.done, 0);
	fx_finish(&f);
}

TEST(transport_errors_and_timeouts)
{
	struct fx f;
	struct got refused = {0}, slow = {0};
	char url[64];

	fx_start(&f);
	/* A port bound but not listening (held while the request runs, so nobody else takes it). */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	ASSERT_INT_GE(fd, 0);
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_OK(getsockname(fd, (struct sockaddr *)&sa, &salen));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", ntohs(sa.sin_port));
	ASSERT_OK(eh_post(f.h, url, "{}", 2, 2000, 1000, NULL, got_done, &refused, NULL));
	ASSERT_TRUE(RUN_UNTIL(f.loop, refused.done == 1, 5000));
	close(fd);
	ASSERT_INT_EQ(refused.err, -ECONNREFUSED);
	ASSERT_TRUE(refused.why[0] != '\0');

	post(&f, "/silent", "{}", 200, false, &slow, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, slow.done == 1, 5000));
	ASSERT_INT_EQ(slow.err, -ETIMEDOUT);
	ASSERT_INT_EQ(f.s.silent, 1);
	fx_finish(&f);
}

TEST(free_inside_a_callback_and_with_requests_in_flight)
{
	struct fx f;
	struct got first = {0}, pending = {0}, stream = {0};

	fx_start(&f);
	post(&f, "/silent", "{}", 0, false, &pending, NULL);
	post(&f, "/stream", "{}", 0, true, &stream, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.s.silent == 1 && f.s.stream != NULL, 5000));
	first.free_in = f.h;
	post(&f, "/echo", "{}", 2000, false, &first, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, first.done == 1, 5000));
	f.h = NULL; /* freed by the callback */
	/* The other requests ended without a callback. */
	keel_loop_run_once(f.loop, 50);
	ASSERT_INT_EQ(pending.done + stream.done, 0);
	fx_finish(&f);
}

#ifdef KEEL_FAILPOINTS
TEST(failed_readiness_watch_ends_transfers_then_recovers)
{
	struct fx f;
	struct got stream = {0}, after = {0};

	fx_start(&f);
	post(&f, "/stream", "{}", 0, true, &stream, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.s.stream != NULL, 5000));
	/* The next readiness report fails instead. */
	ASSERT_OK(keel_failpoint_set("coord_eh_poll", 1, -ENOMEM, 0));
	ASSERT_OK(keel_http_stream_write(f.s.stream, "line\n", 5));
	ASSERT_TRUE(RUN_UNTIL(f.loop, stream.done == 1, 5000));
	keel_failpoint_clear();
	ASSERT_INT_EQ(stream.err, -EIO);
	ASSERT_STR_CONTAINS(stream.why, "readiness watch failed");
	ASSERT_STR_CONTAINS(stream.why, strerror(ENOMEM));
	ASSERT_INT_EQ(stream.lines, 0);
	/* The watch is started again with the next request. */
	post(&f, "/echo", "again", 2000, false, &after, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, after.done == 1, 5000));
	ASSERT_INT_EQ(after.err, 0);
	ASSERT_STR_EQ(after.body, "again");
	fx_finish(&f);
}
#endif
