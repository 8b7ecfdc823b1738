/* Tests of the replog driver: three replicas on one loop over loopback HTTP, appends, restart. */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>

#include "harness.h"
#include "loop_util.h"
#include "replog/msg.h"
#include "replog/replog.h"
#include "runtime/err.h"
#include "runtime/http_server.h"

#define N 3

/* The cluster under test. */
struct fixture {
	struct keel_loop *loop;		 /* shared loop */
	struct keel_http_server *srv[N]; /* one server per replica */
	struct replog *r[N];		 /* replicas (NULL when down) */
	struct replog_peer peers[N];	 /* addresses */
	char dir[N][600];		 /* LMDB dirs */
	char root[512];			 /* parent dir */
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void fx_server(struct fixture *fx, unsigned i, uint16_t port)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv = keel_http_server_new(fx->loop, "127.0.0.1", port, NULL, &fx->srv[i], errmsg);
	if (rv < 0)
		th_fail(__FILE__, __LINE__, "server: %s", errmsg);
	fx->peers[i].host = "127.0.0.1";
	fx->peers[i].port = keel_http_server_port(fx->srv[i]);
}

static int fx_try_open(struct fixture *fx, unsigned i, char *errmsg)
{
	struct replog_options o = {.path = fx->dir[i],
				   .self = i,
				   .nodes = N,
				   .quorum = 2,
				   .peers = fx->peers,
				   .server = fx->srv[i],
				   .prefix = "/replog",
				   .auto_init = true,
				   .tick_ms = 20,
				   .seed = th_seed() + i};
	return replog_open(fx->loop, &o, &fx->r[i], errmsg);
}

static void fx_open(struct fixture *fx, unsigned i)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	if (fx_try_open(fx, i, errmsg) < 0)
		th_fail(__FILE__, __LINE__, "open %u: %s", i, errmsg);
}

static void fx_setup(struct fixture *fx)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	const char *base = getenv("KEEL_TEST_TMP");

	memset(fx, 0, sizeof(*fx));
	ASSERT_OK(keel_loop_new(&fx->loop, NULL, errmsg));
	snprintf(fx->root, sizeof(fx->root), "%s/replog_driver.XXXXXX", base ? base : "/tmp");
	ASSERT_NOT_NULL(mkdtemp(fx->root));
	for (unsigned i = 0; i < N; i++) {
		snprintf(fx->dir[i], sizeof(fx->dir[i]), "%s/r%u", fx->root, i);
		fx_server(fx, i, 0);
	}
	for (unsigned i = 0; i < N; i++)
		fx_open(fx, i);
}

static void fx_down(struct fixture *fx, unsigned i)
{
	replog_close(fx->r[i]);
	fx->r[i] = NULL;
	keel_http_server_free(fx->srv[i]);
	fx->srv[i] = NULL;
}

static void fx_teardown(struct fixture *fx)
{
	for (unsigned i = 0; i < N; i++)
		if (fx->r[i])
			fx_down(fx, i);
	keel_loop_free(fx->loop);
	nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool all_voting(struct fixture *fx)
{
	for (unsigned i = 0; i < N; i++)
		if (fx->r[i] && replog_status(fx->r[i]) != REPLOG_VOTING)
			return false;
	return true;
}

/* One completion record. */
struct done {
	bool fired;	   /* callback ran */
	int status;	   /* its status */
	uint64_t position; /* its position */
};

static void on_done(struct replog *r, int status, uint64_t position, void *arg)
{
	struct done *d = arg;
	(void)r;
	ASSERT_FALSE(d->fired);
	d->fired = true;
	d->status = status;
	d->position = position;
}

/* Appends `count` values "v<k>" from k = first, with up to `window` in flight. */
static void append_many(struct fixture *fx, unsigned w, unsigned first, unsigned count,
			unsigned window, uint64_t *pos)
{
	struct done *d = calloc(count, sizeof(*d));
	unsigned sent = 0, doneidx = 0;
	char v[32];

	ASSERT_NOT_NULL(d);
	while (doneidx < count) {
		while (sent < count && sent - doneidx < window) {
			snprintf(v, sizeof(v), "v%u", first + sent);
			ASSERT_OK(replog_writer_append(fx->r[w], v, strlen(v), on_done, &d[sent]));
			sent++;
		}
		ASSERT_TRUE(RUN_UNTIL(fx->loop, d[doneidx].fired, 10000));
		TH_CONTEXT("append %u", doneidx);
		ASSERT_OK(d[doneidx].status);
		if (doneidx > 0)
			ASSERT_UINT_EQ(d[doneidx].position, d[doneidx - 1].position + 1);
		pos[doneidx] = d[doneidx].position;
		doneidx++;
	}
	TH_CONTEXT(NULL);
	free(d);
}

static void check_replica(struct fixture *fx, unsigned i, const uint64_t *pos, unsigned count)
{
	struct done c = {0};
	char v[32];

	ASSERT_OK(replog_reader_catchup(fx->r[i], on_done, &c));
	ASSERT_TRUE(RUN_UNTIL(fx->loop, c.fired, 10000));
	ASSERT_OK(c.status);
	for (unsigned k = 0; k < count; k++) {
		uint8_t type;
		const void *val;
		size_t len;
		TH_CONTEXT("replica %u position %" PRIu64, i, pos[k]);
		ASSERT_OK(replog_reader_read(fx->r[i], pos[k], &type, &val, &len));
		ASSERT_UINT_EQ(type, REPLOG_ACTION_APPEND);
		snprintf(v, sizeof(v), "v%u", k);
		ASSERT_UINT_EQ(len, strlen(v));
		ASSERT_MEM_EQ(val, v, len);
	}
	TH_CONTEXT(NULL);
}

TEST(driver_three_replicas_elect_append_and_read_back)
{
	struct fixture fx;
	struct done st = {0};
	uint64_t pos[300];
	struct replog_metrics m;

	fx_setup(&fx);
	ASSERT_TRUE(RUN_UNTIL(fx.loop, all_voting(&fx), 10000));
	ASSERT_OK(replog_writer_start(fx.r[0], on_done, &st));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, st.fired, 10000));
	ASSERT_OK(st.status);
	append_many(&fx, 0, 0, 100, 1, pos);
	append_many(&fx, 0, 100, 200, 64, pos + 100);
	for (unsigned i = 0; i < N; i++)
		check_replica(&fx, i, pos, 300);
	replog_metrics(fx.r[0], &m);
	ASSERT_TRUE(m.recovered);
	ASSERT_UINT_EQ(m.ensemble, 3);
	ASSERT_UINT_EQ(m.appends, 300);
	ASSERT_UINT_GT(m.fsyncs, 0);
	fx_teardown(&fx);
}

static bool learned_at(struct fixture *fx, unsigned i, uint64_t position)
{
	uint8_t type;
	const void *val;
	size_t len;
	return replog_reader_read(fx->r[i], position, &type, &val, &len) == 0;
}

/*
 * The writer holds LEARNED notices to followers for the next message to
 * them (driver_hold): when no append follows, its timer still sends them,
 * and the followers learn the last append without a catch-up of their own.
 */
TEST(driver_followers_learn_the_last_append_without_a_next_one)
{
	struct fixture fx;
	struct done st = {0};
	uint64_t pos[3];

	fx_setup(&fx);
	ASSERT_TRUE(RUN_UNTIL(fx.loop, all_voting(&fx), 10000));
	ASSERT_OK(replog_writer_start(fx.r[0], on_done, &st));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, st.fired, 10000));
	ASSERT_OK(st.status);
	append_many(&fx, 0, 0, 3, 1, pos);
	for (unsigned i = 0; i < N; i++) {
		TH_CONTEXT("replica %u", i);
		ASSERT_TRUE(RUN_UNTIL(fx.loop, learned_at(&fx, i, pos[2]), 10000));
		ASSERT_TRUE(learned_at(&fx, i, pos[0]));
	}
	TH_CONTEXT(NULL);
	fx_teardown(&fx);
}

TEST(driver_replica_restart_keeps_and_catches_up)
{
	struct fixture fx;
	struct done st = {0};
	uint64_t pos[200];
	uint16_t port;

	fx_setup(&fx);
	ASSERT_TRUE(RUN_UNTIL(fx.loop, all_voting(&fx), 10000));
	ASSERT_OK(replog_writer_start(fx.r[0], on_done, &st));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, st.fired, 10000));
	ASSERT_OK(st.status);
	append_many(&fx, 0, 0, 50, 8, pos);
	/* Replica 2 goes down; the other two still form a quorum. */
	port = fx.peers[2].port;
	fx_down(&fx, 2);
	append_many(&fx, 0, 50, 100, 16, pos + 50);
	fx_server(&fx, 2, port);
	fx_open(&fx, 2);
	ASSERT_TRUE(RUN_UNTIL(fx.loop, replog_status(fx.r[2]) == REPLOG_VOTING, 10000));
	append_many(&fx, 0, 150, 50, 16, pos + 150);
	check_replica(&fx, 2, pos, 200);
	fx_teardown(&fx);
}

TEST(driver_bad_options_fail_synchronously)
{
	struct replog *r = NULL;
	struct replog_options o = {0};
	char errmsg[KEEL_ERRMSG_SIZE];

	ASSERT_INT_EQ(replog_open(NULL, &o, &r, errmsg), -EINVAL);
	ASSERT_NULL(r);
	ASSERT_STR_CONTAINS(errmsg, "bad options");
}

#ifdef KEEL_FAILPOINTS
#include "runtime/failpoint.h"

/* Elects replica 0 on a fresh cluster and appends a few values. */
static void fx_elected(struct fixture *fx, uint64_t *pos, unsigned n)
{
	struct done st = {0};

	fx_setup(fx);
	ASSERT_TRUE(RUN_UNTIL(fx->loop, all_voting(fx), 10000));
	ASSERT_OK(replog_writer_start(fx->r[0], on_done, &st));
	ASSERT_TRUE(RUN_UNTIL(fx->loop, st.fired, 10000));
	ASSERT_OK(st.status);
	append_many(fx, 0, 0, n, 4, pos);
}

TEST(driver_fsync_eio_stops_voting_and_fails_pending_appends)
{
	struct fixture fx;
	uint64_t pos[10];
	struct done d = {0};

	fx_elected(&fx, pos, 10);
	/* Every store's fsync fails from now on (failpoints are per process). */
	keel_failpoint_set("replog_store_before_fsync", 1, -EIO, 1);
	ASSERT_OK(replog_writer_append(fx.r[0], "lost", 4, on_done, &d));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, d.fired, 10000));
	keel_failpoint_clear();
	/* Never reported as written; the writer's replica stopped voting for good. */
	ASSERT_INT_EQ(d.status, -EIO);
	ASSERT_TRUE(RUN_UNTIL(fx.loop, replog_status(fx.r[0]) == 0, 5000));
	ASSERT_STR_CONTAINS(replog_errmsg(fx.r[0]), "fsync failed");
	ASSERT_INT_EQ(replog_writer_append(fx.r[0], "x", 1, on_done, &d), -EIO);
	fx_teardown(&fx);
}

TEST(driver_enospc_fails_appends_then_resumes_after_restart_of_writer)
{
	struct fixture fx;
	uint64_t pos[10];
	struct done d = {0}, st = {0}, d2 = {0};

	fx_elected(&fx, pos, 10);
	keel_failpoint_set("replog_store_before_commit", 1, -ENOSPC, 0);
	ASSERT_OK(replog_writer_append(fx.r[0], "nospace", 7, on_done, &d));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, d.fired, 10000));
	keel_failpoint_clear();
	/* Either the writer's own store or a follower's failed; either way nothing is lost. */
	if (d.status == 0) {
		ASSERT_UINT_EQ(d.position, pos[9] + 1);
	} else {
		ASSERT_INT_EQ(d.status, -ENOSPC);
		/* The replica reloaded from its store: start the writer again and go on. */
		ASSERT_TRUE(RUN_UNTIL(fx.loop, replog_status(fx.r[0]) == REPLOG_VOTING, 10000));
		ASSERT_OK(replog_writer_start(fx.r[0], on_done, &st));
		ASSERT_TRUE(RUN_UNTIL(fx.loop, st.fired, 10000));
		ASSERT_OK(st.status);
	}
	ASSERT_OK(replog_writer_append(fx.r[0], "after", 5, on_done, &d2));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, d2.fired, 10000));
	ASSERT_OK(d2.status);
	check_replica(&fx, 1, pos, 10);
	fx_teardown(&fx);
}
#endif

/* A completion that checks it runs only after the call that started it returned. */
struct call {
	bool returned;	      /* the starting call returned */
	struct done d;	      /* the completion */
	struct replog *again; /* if set: start another catch-up from inside the callback */
	struct call *next;    /* ... with this record */
};

static void on_call_done(struct replog *r, int status, uint64_t position, void *arg)
{
	struct call *c = arg;
	ASSERT_TRUE(c->returned);
	on_done(r, status, position, &c->d);
	if (c->again) {
		ASSERT_OK(replog_reader_catchup(c->again, on_call_done, c->next));
		c->next->returned = true;
	}
}

TEST(driver_callbacks_never_run_inside_the_starting_call)
{
	struct fixture fx;
	struct done st = {0};
	uint64_t pos[10];
	struct call c1 = {0}, c2 = {0}, c3 = {0};

	fx_setup(&fx);
	ASSERT_TRUE(RUN_UNTIL(fx.loop, all_voting(&fx), 10000));
	ASSERT_OK(replog_writer_start(fx.r[0], on_done, &st));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, st.fired, 10000));
	ASSERT_OK(st.status);
	append_many(&fx, 0, 0, 10, 4, pos);
	/* On the elected writer's node a catch-up is decided at once: delivered later. */
	c1.again = fx.r[0];
	c1.next = &c2;
	ASSERT_OK(replog_reader_catchup(fx.r[0], on_call_done, &c1));
	ASSERT_FALSE(c1.d.fired);
	c1.returned = true;
	ASSERT_TRUE(RUN_UNTIL(fx.loop, c1.d.fired && c2.d.fired, 10000));
	ASSERT_OK(c1.d.status);
	ASSERT_UINT_EQ(c1.d.position, pos[9]);
	/* One started from inside a callback waits for its own call to return too. */
	ASSERT_OK(c2.d.status);
	ASSERT_UINT_EQ(c2.d.position, pos[9]);
	/* Close delivers a callback still owed, with its outcome, before it returns. */
	ASSERT_OK(replog_reader_catchup(fx.r[0], on_call_done, &c3));
	c3.returned = true;
	ASSERT_FALSE(c3.d.fired);
	fx_down(&fx, 0);
	ASSERT_TRUE(c3.d.fired);
	ASSERT_OK(c3.d.status);
	fx_teardown(&fx);
}

#ifdef KEEL_FAILPOINTS
#include "runtime/alloc.h"

/* Out of memory at each allocation of replog_open in turn (its timers included): it fails
 * with -ENOMEM and leaks nothing (ASan); then it opens and the replica works. */
TEST(driver_open_fails_cleanly_at_each_allocation)
{
	struct fixture fx;
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv = -ENOMEM;

	fx_setup(&fx);
	for (long k = 1; k <= 10000 && rv == -ENOMEM; k++) {
		TH_CONTEXT("allocation %ld", k);
		fx_down(&fx, 1); /* a new server each time: a route cannot be removed */
		fx_server(&fx, 1, 0);
		keel_alloc_fail_after(k, false);
		rv = fx_try_open(&fx, 1, errmsg);
		keel_alloc_fail_after(0, false);
		if (rv < 0)
			ASSERT_NULL(fx.r[1]);
	}
	TH_CONTEXT(NULL);
	ASSERT_OK(rv);
	ASSERT_NOT_NULL(fx.r[1]);
	ASSERT_OK(replog_peer_set(fx.r[0], 1, "127.0.0.1", fx.peers[1].port));
	ASSERT_OK(replog_peer_set(fx.r[2], 1, "127.0.0.1", fx.peers[1].port));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, all_voting(&fx), 10000));
	fx_teardown(&fx);
}

TEST(driver_failure_inside_a_call_is_reported_after_it_returns)
{
	struct fixture fx;
	uint64_t pos[4];
	unsigned failed = 0;

	fx_elected(&fx, pos, 4);
	/* Out of memory at each allocation of a catch-up call in turn: the call refuses
	 * (no callback), or the core fails inside it and every operation completes with
	 * -EIO; either way no callback runs before the call returns. */
	for (long k = 1; k <= 12; k++) {
		struct call c = {0};
		struct done st = {0};
		int rv;

		TH_CONTEXT("allocation %ld", k);
		keel_alloc_fail_after(k, false);
		rv = replog_reader_catchup(fx.r[0], on_call_done, &c);
		keel_alloc_fail_after(0, false);
		c.returned = true;
		if (rv < 0) {
			ASSERT_INT_EQ(rv, -ENOMEM);
			continue;
		}
		ASSERT_FALSE(c.d.fired);
		ASSERT_TRUE(RUN_UNTIL(fx.loop, c.d.fired, 10000));
		if (c.d.status == 0)
			continue;
		ASSERT_INT_EQ(c.d.status, -EIO);
		failed++;
		/* The replica reloaded from its store; its writer must be started again. */
		ASSERT_TRUE(RUN_UNTIL(fx.loop, replog_status(fx.r[0]) == REPLOG_VOTING, 10000));
		ASSERT_OK(replog_writer_start(fx.r[0], on_done, &st));
		ASSERT_TRUE(RUN_UNTIL(fx.loop, st.fired, 10000));
		ASSERT_OK(st.status);
	}
	TH_CONTEXT(NULL);
	ASSERT_UINT_GT(failed, 0);
	fx_teardown(&fx);
}
#endif

TEST(driver_peer_moves_to_a_new_port)
{
	struct fixture fx;
	struct done st = {0};
	uint64_t pos[60];

	fx_setup(&fx);
	ASSERT_TRUE(RUN_UNTIL(fx.loop, all_voting(&fx), 10000));
	ASSERT_OK(replog_writer_start(fx.r[0], on_done, &st));
	ASSERT_TRUE(RUN_UNTIL(fx.loop, st.fired, 10000));
	ASSERT_OK(st.status);
	append_many(&fx, 0, 0, 20, 4, pos);
	/* Replica 2 comes back on another port; the others are told. */
	fx_down(&fx, 2);
	fx_server(&fx, 2, 0);
	for (unsigned i = 0; i < 2; i++)
		ASSERT_OK(replog_peer_set(fx.r[i], 2, "127.0.0.1", fx.peers[2].port));
	fx_open(&fx, 2);
	ASSERT_INT_EQ(replog_peer_set(fx.r[0], 0, "127.0.0.1", 1), -EINVAL);
	ASSERT_INT_EQ(replog_peer_set(fx.r[0], 3, "127.0.0.1", 1), -EINVAL);
	/* Replica 1 goes down: appends now need replica 2 at its new address. */
	fx_down(&fx, 1);
	append_many(&fx, 0, 20, 40, 4, pos + 20);
	check_replica(&fx, 2, pos, 60);
	fx_teardown(&fx);
}
