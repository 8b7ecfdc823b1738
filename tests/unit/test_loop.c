/* Unit tests for the io_uring loop: timers, async wake-ups, poll, streams, listeners, shutdown. */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "loop_util.h"
#include "runtime/buf.h"
#include "runtime/loop.h"

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

/* --- timers --- */

struct tlog {
	int order[16];
	int n;
	struct keel_timer *self_free;
};

static void tcb(struct keel_timer *t, void *arg)
{
	struct tlog *l = arg;
	(void)t;
	l->order[l->n++] = (int)(intptr_t)0;
}

struct tid {
	struct tlog *log;
	int id;
};

static void tcb_id(struct keel_timer *t, void *arg)
{
	struct tid *x = arg;
	(void)t;
	x->log->order[x->log->n++] = x->id;
}

TEST(timers_fire_in_deadline_order)
{
	struct keel_loop *loop = new_loop();
	struct tlog log = {0};
	struct tid ids[4];
	struct keel_timer *t[4];
	const uint64_t after[4] = {30, 10, 20, 10};
	int i;

	for (i = 0; i < 4; i++) {
		ids[i].log = &log;
		ids[i].id = i;
		ASSERT_OK(keel_timer_new(loop, tcb_id, &ids[i], &t[i]));
		ASSERT_OK(keel_timer_start(t[i], after[i], 0));
	}
	keel_timer_stop(t[2]);
	ASSERT_FALSE(keel_timer_active(t[2]));
	ASSERT_TRUE(RUN_UNTIL(loop, log.n == 3, 2000));
	ASSERT_INT_EQ(log.order[0], 1); /* equal deadlines fire in start order */
	ASSERT_INT_EQ(log.order[1], 3);
	ASSERT_INT_EQ(log.order[2], 0);
	for (i = 0; i < 4; i++)
		keel_timer_free(t[i]);
	keel_loop_free(loop);
}

struct rep {
	int count;
	struct keel_timer *t;
};

static void rep_cb(struct keel_timer *t, void *arg)
{
	struct rep *r = arg;
	if (++r->count == 3) {
		keel_timer_free(t); /* freeing inside its own callback is allowed */
		r->t = NULL;
	}
}

TEST(timer_repeats_and_frees_itself)
{
	struct keel_loop *loop = new_loop();
	struct rep r = {0};

	ASSERT_OK(keel_timer_new(loop, rep_cb, &r, &r.t));
	ASSERT_OK(keel_timer_start(r.t, 1, 5));
	ASSERT_TRUE(RUN_UNTIL(loop, r.count == 3, 2000));
	ASSERT_NULL(r.t);
	/* It stays quiet after freeing itself. */
	keel_loop_run_once(loop, 30);
	ASSERT_INT_EQ(r.count, 3);
	keel_loop_free(loop);
}

TEST(many_timers_heap)
{
	struct keel_loop *loop = new_loop();
	struct tlog log = {0};
	struct keel_timer *t[1000];
	int i;

	(void)tcb;
	for (i = 0; i < 1000; i++) {
		ASSERT_OK(keel_timer_new(loop, tcb, &log, &t[i]));
		ASSERT_OK(keel_timer_start(t[i], (uint64_t)(rand() % 1000) + 10000, 0));
	}
	/* Stop every other one, then restart a few: the heap must stay consistent. */
	for (i = 0; i < 1000; i += 2)
		keel_timer_stop(t[i]);
	for (i = 0; i < 10; i++)
		ASSERT_OK(keel_timer_start(t[i * 7], 1, 0));
	ASSERT_TRUE(RUN_UNTIL(loop, log.n >= 10, 2000));
	keel_loop_run_once(loop, 20);
	ASSERT_INT_EQ(log.n, 10);
	for (i = 0; i < 1000; i++)
		keel_timer_free(t[i]);
	keel_loop_free(loop);
}

/* --- async --- */

struct async_ctx {
	struct keel_async *a;
	int calls;
	int sent;
};

static void async_cb(struct keel_async *a, void *arg)
{
	struct async_ctx *c = arg;
	(void)a;
	c->calls++;
}

static void *sender(void *arg)
{
	struct async_ctx *c = arg;
	keel_async_send(c->a);
	return NULL;
}

TEST(async_wakes_loop_from_thread)
{
	struct keel_loop *loop = new_loop();
	struct async_ctx c = {0};
	pthread_t th;

	ASSERT_OK(keel_async_new(loop, async_cb, &c, &c.a, NULL));
	ASSERT_INT_EQ(pthread_create(&th, NULL, sender, &c), 0);
	ASSERT_TRUE(RUN_UNTIL(loop, c.calls == 1, 2000));
	pthread_join(th, NULL);
	/* Sends before the callback runs coalesce into one call. */
	keel_async_send(c.a);
	keel_async_send(c.a);
	ASSERT_TRUE(RUN_UNTIL(loop, c.calls == 2, 2000));
	keel_loop_run_once(loop, 20);
	ASSERT_INT_EQ(c.calls, 2);
	keel_async_close(c.a);
	keel_loop_free(loop);
}

/* --- poll --- */

struct poll_ctx {
	int fires;
	int last;
	int rfd;
};

static void poll_cb(struct keel_poll *p, int revents, void *arg)
{
	struct poll_ctx *c = arg;
	char b;
	(void)p;
	c->fires++;
	c->last = revents;
	if (revents & KEEL_POLL_IN)
		ASSERT_INT_EQ(read(c->rfd, &b, 1), 1);
}

TEST(poll_is_level_triggered_and_stops)
{
	struct keel_loop *loop = new_loop();
	struct poll_ctx c = {0};
	struct keel_poll *p;
	int fds[2];

	ASSERT_INT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	c.rfd = fds[0];
	ASSERT_OK(keel_poll_new(loop, fds[0], poll_cb, &c, &p));
	ASSERT_OK(keel_poll_start(p, KEEL_POLL_IN));
	ASSERT_INT_EQ(write(fds[1], "ab", 2), 2);
	/* Two bytes, one read per callback: level-triggered means two callbacks. */
	ASSERT_TRUE(RUN_UNTIL(loop, c.fires == 2, 2000));
	ASSERT_TRUE(c.last & KEEL_POLL_IN);
	keel_poll_stop(p);
	ASSERT_INT_EQ(write(fds[1], "c", 1), 1);
	keel_loop_run_once(loop, 30);
	keel_loop_run_once(loop, 30);
	ASSERT_INT_EQ(c.fires, 2);
	ASSERT_OK(keel_poll_start(p, KEEL_POLL_IN));
	ASSERT_TRUE(RUN_UNTIL(loop, c.fires == 3, 2000));
	keel_poll_close(p);
	keel_loop_free(loop);
	close(fds[0]);
	close(fds[1]);
}

/*
 * Closing a poll whose request has a wake-up pending. With DEFER_TASKRUN the kernel runs the
 * wake-up's task work only when the loop next waits, so these cases put the request in that state
 * deterministically: arm, make the fd ready, drain it again, then stop or close the watch in the
 * same turn. A poll-remove cannot take the request from its pending wake-up; the kernel then polls
 * the (drained) fd again and re-arms, and the request lives on.
 */

/* Arms p on sv[0] for IN, then leaves a wake-up pending on it with sv[0] drained again. */
static void poll_leave_wakeup_pending(struct keel_loop *loop, const int sv[2])
{
	char b;

	keel_loop_run_once(loop, 0); /* submits the poll request */
	ASSERT_INT_EQ(write(sv[1], "x", 1), 1);
	ASSERT_INT_EQ(read(sv[0], &b, 1), 1);
}

/* True once nothing holds the other end of peer open any more (it hangs up). Looks without
 * writing: bytes sent would wake the very request under test. */
static bool peer_gone(int peer)
{
	struct pollfd pfd = {.fd = peer, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

static void poll_count_cb(struct keel_poll *p, int revents, void *arg)
{
	struct poll_ctx *c = arg;

	(void)p;
	c->fires++;
	c->last = revents;
}

TEST(poll_fd_may_be_closed_right_after_close_with_wakeup_pending)
{
	struct keel_loop *loop = new_loop();
	struct poll_ctx c = {0};
	struct keel_poll *p;
	int sv[2];

	ASSERT_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ASSERT_OK(keel_poll_new(loop, sv[0], poll_count_cb, &c, &p));
	ASSERT_OK(keel_poll_start(p, KEEL_POLL_IN));
	poll_leave_wakeup_pending(loop, sv);
	keel_poll_close(p);
	ASSERT_INT_EQ(close(sv[0]), 0);
	/* The kernel's poll request held the socket; once it is really gone, so is the socket. */
	ASSERT_TRUE(RUN_UNTIL(loop, peer_gone(sv[1]), 2000));
	ASSERT_INT_EQ(c.fires, 0);
	uint64_t t0 = keel_loop_clock_ns();
	keel_loop_free(loop);
	ASSERT_UINT_LT(keel_loop_clock_ns() - t0, 1000000000ull);
	close(sv[1]);
}

TEST(poll_stop_then_close_with_wakeup_pending)
{
	struct keel_loop *loop = new_loop();
	struct poll_ctx c = {0};
	struct keel_poll *p;
	int sv[2];

	ASSERT_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ASSERT_OK(keel_poll_new(loop, sv[0], poll_count_cb, &c, &p));
	ASSERT_OK(keel_poll_start(p, KEEL_POLL_IN));
	poll_leave_wakeup_pending(loop, sv);
	keel_poll_stop(p);
	keel_loop_run_once(loop, 0);
	keel_poll_close(p);
	ASSERT_INT_EQ(close(sv[0]), 0);
	ASSERT_TRUE(RUN_UNTIL(loop, peer_gone(sv[1]), 2000));
	ASSERT_INT_EQ(c.fires, 0);
	keel_loop_free(loop);
	close(sv[1]);
}

TEST(poll_restart_with_wakeup_pending_reports_the_new_interest)
{
	struct keel_loop *loop = new_loop();
	struct poll_ctx c = {0};
	struct keel_poll *p;
	int sv[2];

	ASSERT_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ASSERT_OK(keel_poll_new(loop, sv[0], poll_count_cb, &c, &p));
	ASSERT_OK(keel_poll_start(p, KEEL_POLL_IN));
	poll_leave_wakeup_pending(loop, sv);
	/* The socket is writable: the new interest must be reported although the old request's
	 * wake-up was pending when it changed. */
	ASSERT_OK(keel_poll_start(p, KEEL_POLL_OUT));
	ASSERT_TRUE(RUN_UNTIL(loop, c.fires > 0, 2000));
	ASSERT_TRUE(c.last & KEEL_POLL_OUT);
	ASSERT_FALSE(c.last & KEEL_POLL_IN);
	keel_poll_close(p);
	ASSERT_INT_EQ(close(sv[0]), 0);
	ASSERT_TRUE(RUN_UNTIL(loop, peer_gone(sv[1]), 2000));
	keel_loop_free(loop);
	close(sv[1]);
}

TEST(poll_close_while_idle_and_while_armed_frees_promptly)
{
	struct keel_loop *loop = new_loop();
	struct poll_ctx c = {0};
	struct keel_poll *idle, *armed;
	int sv[2], pv[2];

	ASSERT_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ASSERT_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pv), 0);
	ASSERT_OK(keel_poll_new(loop, sv[0], poll_count_cb, &c, &idle));
	ASSERT_OK(keel_poll_new(loop, pv[0], poll_count_cb, &c, &armed));
	ASSERT_OK(keel_poll_start(armed, KEEL_POLL_IN));
	keel_loop_run_once(loop, 0);
	keel_poll_close(idle);
	keel_poll_close(armed);
	keel_poll_close(armed); /* a second close is ignored */
	ASSERT_INT_EQ(close(sv[0]), 0);
	ASSERT_INT_EQ(close(pv[0]), 0);
	ASSERT_TRUE(RUN_UNTIL(loop, peer_gone(sv[1]) && peer_gone(pv[1]), 2000));
	ASSERT_INT_EQ(c.fires, 0);
	keel_loop_free(loop);
	close(sv[1]);
	close(pv[1]);
}

/* --- streams --- */

/* An echo server and a client that counts what comes back. */
struct echo {
	struct keel_loop *loop;
	struct keel_listener *l;
	struct keel_stream *server_side;
	struct keel_stream *client;
	struct keel_buf got;
	int connected;
	int server_ended;
	int client_ended;
	int closes;
	size_t hold; /* server consumes nothing until this many bytes arrived */
};

static size_t echo_read(struct keel_stream *s, const char *data, size_t len, void *arg)
{
	struct echo *e = arg;

	if (len < e->hold)
		return 0;
	ASSERT_OK(keel_stream_write(s, data, len));
	return len;
}

static void echo_end(struct keel_stream *s, int err, void *arg)
{
	struct echo *e = arg;
	(void)err;
	e->server_ended++;
	keel_stream_close(s, 0);
}

static void count_close(struct keel_stream *s, void *arg)
{
	struct echo *e = arg;
	(void)s;
	e->closes++;
}

static const struct keel_stream_ops echo_ops = {
    .on_read = echo_read,
    .on_end = echo_end,
    .on_close = count_close,
};

static void on_accept(struct keel_listener *l, int fd, void *arg)
{
	struct echo *e = arg;
	(void)l;
	ASSERT_INT_GE(fd, 0);
	ASSERT_OK(keel_stream_new(e->loop, fd, &echo_ops, e, &e->server_side));
	ASSERT_OK(keel_stream_read_start(e->server_side));
}

static size_t client_read(struct keel_stream *s, const char *data, size_t len, void *arg)
{
	struct echo *e = arg;
	(void)s;
	ASSERT_OK(keel_buf_append(&e->got, data, len));
	return len;
}

static void client_end(struct keel_stream *s, int err, void *arg)
{
	struct echo *e = arg;
	(void)s;
	(void)err;
	e->client_ended++;
}

static const struct keel_stream_ops client_ops = {
    .on_read = client_read,
    .on_end = client_end,
    .on_close = count_close,
};

static void on_connect(struct keel_stream *s, int status, void *arg)
{
	struct echo *e = arg;
	ASSERT_OK(status);
	e->connected = 1;
	ASSERT_OK(keel_stream_read_start(s));
}

static void echo_setup(struct echo *e)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(e, 0, sizeof(*e));
	e->loop = new_loop();
	ASSERT_OK(keel_listener_new(e->loop, "127.0.0.1", 0, 128, on_accept, e, &e->l, NULL));
	ASSERT_INT_NE(keel_listener_port(e->l), 0);
	ASSERT_OK(keel_resolve("127.0.0.1", keel_listener_port(e->l), &ss, &len, NULL));
	ASSERT_OK(keel_stream_connect(e->loop, (struct sockaddr *)&ss, len, &client_ops, on_connect,
				      e, &e->client));
	ASSERT_TRUE(RUN_UNTIL(e->loop, e->connected && e->server_side != NULL, 2000));
}

TEST(stream_echo_large_transfer)
{
	struct echo e;
	size_t total = 8 << 20, i;
	char *data = malloc(total);

	echo_setup(&e);
	for (i = 0; i < total; i++)
		data[i] = (char)(i * 7 + i / 4096);
	/* Written in pieces within one turn: all of it goes out, in order. */
	for (i = 0; i < total; i += 100000)
		ASSERT_OK(keel_stream_write(e.client, data + i, KEEL_MIN(100000, total - i)));
	ASSERT_TRUE(RUN_UNTIL(e.loop, keel_buf_size(&e.got) == total, 10000));
	ASSERT_MEM_EQ(keel_buf_rptr(&e.got), data, total);
	/* Client closes: the server sees EOF, closes too; both close callbacks run. */
	keel_stream_close(e.client, 1000);
	ASSERT_TRUE(RUN_UNTIL(e.loop, e.closes == 2, 2000));
	ASSERT_INT_EQ(e.server_ended, 1);
	keel_listener_close(e.l);
	keel_buf_free(&e.got);
	keel_loop_free(e.loop);
	free(data);
}

TEST(stream_unconsumed_bytes_are_presented_again)
{
	struct echo e;

	echo_setup(&e);
	e.hold = 10;
	ASSERT_OK(keel_stream_write(e.client, "01234", 5));
	keel_loop_run_once(e.loop, 50);
	keel_loop_run_once(e.loop, 50);
	ASSERT_UINT_EQ(keel_buf_size(&e.got), 0);
	ASSERT_OK(keel_stream_write(e.client, "56789", 5));
	ASSERT_TRUE(RUN_UNTIL(e.loop, keel_buf_size(&e.got) == 10, 2000));
	ASSERT_MEM_EQ(keel_buf_rptr(&e.got), "0123456789", 10);
	keel_loop_free(e.loop); /* closes everything still open */
	keel_buf_free(&e.got);
}

TEST(stream_read_stop_buffers_and_restart_redelivers)
{
	struct echo e;

	echo_setup(&e);
	keel_stream_read_stop(e.server_side);
	ASSERT_OK(keel_stream_write(e.client, "hello", 5));
	keel_loop_run_once(e.loop, 50);
	keel_loop_run_once(e.loop, 50);
	ASSERT_UINT_EQ(keel_buf_size(&e.got), 0);
	ASSERT_OK(keel_stream_read_start(e.server_side));
	ASSERT_TRUE(RUN_UNTIL(e.loop, keel_buf_size(&e.got) == 5, 2000));
	ASSERT_MEM_EQ(keel_buf_rptr(&e.got), "hello", 5);
	keel_loop_free(e.loop);
	keel_buf_free(&e.got);
}

static void refused_connect(struct keel_stream *s, int status, void *arg)
{
	int *st = arg;
	(void)s;
	*st = status;
}

TEST(stream_connect_refused_reports_error)
{
	struct keel_loop *loop = new_loop();
	struct sockaddr_storage ss;
	socklen_t len;
	int status = 1, fd;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);

	/* A port that was free a moment ago and has no listener. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_INT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ASSERT_INT_EQ(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	ASSERT_OK(keel_resolve("127.0.0.1", ntohs(sin.sin_port), &ss, &len, NULL));
	ASSERT_OK(keel_stream_connect(loop, (struct sockaddr *)&ss, len, NULL, refused_connect,
				      &status, NULL));
	ASSERT_TRUE(RUN_UNTIL(loop, status != 1, 2000));
	ASSERT_INT_EQ(status, -ECONNREFUSED);
	close(fd);
	keel_loop_free(loop);
}

TEST(listener_bind_error_names_address)
{
	struct keel_loop *loop = new_loop();
	struct keel_listener *l1, *l2;
	char err[KEEL_ERRMSG_SIZE] = "";

	ASSERT_OK(keel_listener_new(loop, "127.0.0.1", 0, 16, on_accept, NULL, &l1, err));
	ASSERT_INT_EQ(keel_listener_new(loop, "127.0.0.1", keel_listener_port(l1), 16, on_accept,
					NULL, &l2, err),
		      -EADDRINUSE);
	ASSERT_STR_CONTAINS(err, "bind 127.0.0.1:");
	ASSERT_INT_EQ(
	    keel_listener_new(loop, "no-such-host.invalid", 0, 16, on_accept, NULL, &l2, err),
	    -EHOSTUNREACH);
	ASSERT_STR_CONTAINS(err, "no-such-host.invalid");
	keel_loop_free(loop);
}

TEST(loop_send_now_puts_queued_bytes_on_the_wire_inside_the_turn)
{
	struct keel_loop *loop = new_loop();
	struct keel_stream *s;
	struct pollfd pfd;
	char got[8];
	int sv[2];

	ASSERT_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ASSERT_OK(keel_stream_new(loop, sv[0], NULL, NULL, &s));
	keel_loop_send_now(loop); /* nothing queued: nothing to do */
	ASSERT_OK(keel_stream_write(s, "ping", 4));
	/* A write leaves when the turn ends: the loop has not run, so nothing is there yet. */
	ASSERT_INT_EQ(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), -1);
	ASSERT_INT_EQ(errno, EAGAIN);
	keel_loop_send_now(loop);
	pfd = (struct pollfd){.fd = sv[1], .events = POLLIN};
	ASSERT_INT_EQ(poll(&pfd, 1, 30000), 1);
	ASSERT_INT_EQ(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), 4);
	ASSERT_MEM_EQ(got, "ping", 4);
	/* A later write in the same turn still leaves at its end, after the first. */
	ASSERT_OK(keel_stream_write(s, "pong", 4));
	ASSERT_TRUE(RUN_UNTIL(loop, recv(sv[1], got, sizeof(got), MSG_DONTWAIT) == 4, 30000));
	ASSERT_MEM_EQ(got, "pong", 4);
	keel_stream_close(s, 0);
	keel_loop_free(loop);
	close(sv[1]);
}
