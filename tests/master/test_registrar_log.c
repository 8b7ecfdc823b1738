/* Registrar tests on a real replicated log (LMDB, loopback HTTP): batching, snapshots, recovery,
 * store and fetch timeouts, a deposed writer. */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>

#include "harness.h"
#include "loop_util.h"
#include "master/registrar_int.h"
#include "replog/msg.h"
#include "replog/replog.h"
#include "runtime/http_server.h"
#include "test_registrar_util.h"

#define MAXN 3

/* A log of n replicas on one loop, and a registrar per replica when opened. */
struct lfx {
	struct keel_loop *loop;		    /* shared loop */
	unsigned n;			    /* replicas */
	struct keel_http_server *srv[MAXN]; /* one server per replica */
	struct replog *log[MAXN];	    /* replicas (NULL when down) */
	struct replog_peer peers[MAXN];	    /* addresses */
	char dir[MAXN][600];		    /* LMDB dirs */
	char root[512];			    /* parent dir */
	struct registrar *r[MAXN];	    /* registrars (NULL when closed) */
	struct tr_fatal fatal[MAXN];	    /* their on_fatal records */
	struct tr_master master;	    /* what they recover with */
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void lfx_server(struct lfx *f, unsigned i, uint16_t port)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv;

	/* A port just given up is free once the loop has closed its listener. */
	for (int tries = 0;; tries++) {
		rv = keel_http_server_new(f->loop, "127.0.0.1", port, NULL, &f->srv[i], errmsg);
		if (rv != -EADDRINUSE || tries == 200)
			break;
		keel_loop_run_once(f->loop, 10);
	}
	if (rv < 0)
		th_fail(__FILE__, __LINE__, "server: %s", errmsg);
	f->peers[i].host = "127.0.0.1";
	f->peers[i].port = keel_http_server_port(f->srv[i]);
}

static void lfx_up(struct lfx *f, unsigned i)
{
	char errmsg[KEEL_ERRMSG_SIZE];

	if (f->srv[i] == NULL)
		lfx_server(f, i, f->peers[i].port);
	struct replog_options o = {.path = f->dir[i],
				   .self = i,
				   .nodes = f->n,
				   .quorum = f->n / 2 + 1,
				   .peers = f->peers,
				   .server = f->srv[i],
				   .prefix = "/replog",
				   .auto_init = true,
				   .tick_ms = 20,
				   .seed = th_seed() + i};

	if (replog_open(f->loop, &o, &f->log[i], errmsg) < 0)
		th_fail(__FILE__, __LINE__, "replica %u: %s", i, errmsg);
}

static void lfx_down(struct lfx *f, unsigned i)
{
	replog_close(f->log[i]);
	f->log[i] = NULL;
	keel_http_server_free(f->srv[i]);
	f->srv[i] = NULL;
}

/* n replicas; `up` of them opened (the others only have an address). */
static void lfx_setup(struct lfx *f, unsigned n, unsigned up)
{
	const char *base = getenv("KEEL_TEST_TMP");

	memset(f, 0, sizeof(*f));
	f->n = n;
	ASSERT_OK(keel_loop_new(&f->loop, NULL, NULL));
	snprintf(f->root, sizeof(f->root), "%s/registrar_log.XXXXXX", base ? base : "/tmp");
	ASSERT_NOT_NULL(mkdtemp(f->root));
	tr_master_init(&f->master, "master-1");
	for (unsigned i = 0; i < n; i++) {
		snprintf(f->dir[i], sizeof(f->dir[i]), "%s/r%u", f->root, i);
		lfx_server(f, i, 0);
	}
	for (unsigned i = 0; i < up; i++)
		lfx_up(f, i);
}

static void lfx_close_registrar(struct lfx *f, unsigned i)
{
	registrar_close(f->r[i]);
	f->r[i] = NULL;
}

static void lfx_teardown(struct lfx *f)
{
	for (unsigned i = 0; i < f->n; i++)
		lfx_close_registrar(f, i);
	for (unsigned i = 0; i < f->n; i++) {
		if (f->log[i])
			replog_close(f->log[i]);
		keel_http_server_free(f->srv[i]);
	}
	keel_loop_free(f->loop);
	nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Opens registrar i on replica i and starts its recovery. */
static void lfx_open(struct lfx *f, unsigned i, const struct registrar_config *base,
		     struct tr_done *d)
{
	struct registrar_config cfg = {0};
	char errmsg[KEEL_ERRMSG_SIZE];

	if (base)
		cfg = *base;
	cfg.log = f->log[i];
	cfg.on_fatal = tr_on_fatal;
	memset(&f->fatal[i], 0, sizeof(f->fatal[i]));
	cfg.fatal_arg = &f->fatal[i];
	if (registrar_open(f->loop, &cfg, &f->r[i], errmsg) < 0)
		th_fail(__FILE__, __LINE__, "registrar: %s", errmsg);
	ASSERT_OK(registrar_recover(f->r[i], &f->master.info, tr_on_done, d));
	ASSERT_INT_EQ(d->fired, 0);
}

/* Opens and recovers registrar i. */
static void lfx_recover(struct lfx *f, unsigned i, const struct registrar_config *base)
{
	struct tr_done d = {0};

	lfx_open(f, i, base, &d);
	if (!RUN_UNTIL(f->loop, d.fired || f->fatal[i].fired, 15000))
		th_fail(__FILE__, __LINE__, "recovery did not finish");
	if (f->fatal[i].fired)
		th_fail(__FILE__, __LINE__, "recovery failed: %s", f->fatal[i].msg);
	ASSERT_INT_EQ(d.fired, 1);
	ASSERT_OK(d.status);
}

/* Closes registrar and replica i and opens the replica again from its disk. */
static void lfx_restart(struct lfx *f, unsigned i)
{
	lfx_close_registrar(f, i);
	lfx_down(f, i);
	lfx_up(f, i);
}

/* Waits for every completion in d[0, n). */
static void wait_all(struct lfx *f, struct tr_done *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		TH_CONTEXT("operation %u", i);
		ASSERT_TRUE(RUN_UNTIL(f->loop, d[i].fired || f->fatal[0].fired, 15000));
		if (f->fatal[0].fired)
			th_fail(__FILE__, __LINE__, "fatal: %s", f->fatal[0].msg);
		ASSERT_INT_EQ(d[i].fired, 1);
		ASSERT_OK(d[i].status);
	}
	TH_CONTEXT(NULL);
}

/*
 * A workload on registrar 0: admits [first, first+n) in turns of `per_turn`,
 * then marks every 5th unreachable, every 7th gone, removes every 11th, adds
 * a framework.
 */
static void workload(struct lfx *f, unsigned first, unsigned n, unsigned per_turn)
{
	struct tr_done *d = calloc(n, sizeof(*d));
	struct tr_agent a;
	struct tr_framework fw;
	char id[32];
	unsigned k = 0;

	ASSERT_NOT_NULL(d);
	for (unsigned i = 0; i < n; i++) {
		tr_agent_init(&a, first + i, 0);
		ASSERT_OK(registrar_admit_agent(f->r[0], &a.info, tr_on_done, &d[i]));
		if ((i + 1) % per_turn == 0)
			wait_all(f, d, i + 1);
	}
	wait_all(f, d, n);
	memset(d, 0, n * sizeof(*d));
	for (unsigned i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "agent-%u", first + i);
		if (i % 5 == 0)
			ASSERT_OK(
			    registrar_mark_unreachable(f->r[0], id, 1000 + i, tr_on_done, &d[k++]));
		else if (i % 7 == 0)
			ASSERT_OK(registrar_mark_gone(f->r[0], id, 2000 + i, tr_on_done, &d[k++]));
		else if (i % 11 == 0)
			ASSERT_OK(registrar_remove_agent(f->r[0], id, tr_on_done, &d[k++]));
	}
	snprintf(id, sizeof(id), "fw-%u", first);
	tr_framework_init(&fw, id);
	ASSERT_OK(registrar_add_framework(f->r[0], &fw.info, tr_on_done, &d[k++]));
	wait_all(f, d, k);
	free(d);
}

TEST(log_recover_batch_and_recover_again)
{
	struct lfx f;
	struct tr_done d[100];
	struct tr_agent a;
	struct replog_metrics m0, m1;
	struct registrar_stats st;
	size_t len, len2;
	uint8_t *canon, *canon2;

	memset(d, 0, sizeof(d));
	lfx_setup(&f, 1, 1);
	lfx_recover(&f, 0, NULL);
	ASSERT_NOT_NULL(registrar_master(f.r[0]));
	registrar_get_stats(f.r[0], &st);
	ASSERT_TRUE(st.recovered);

	/* 100 operations queued in one turn: one append, visible only once durable. */
	replog_metrics(f.log[0], &m0);
	for (unsigned i = 0; i < 100; i++) {
		tr_agent_init(&a, i, 0);
		ASSERT_OK(registrar_admit_agent(f.r[0], &a.info, tr_on_done, &d[i]));
	}
	ASSERT_UINT_EQ(registrar_count_agents(f.r[0], REGISTRAR_AGENT_ADMITTED), 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, d[0].fired || f.fatal[0].fired, 10000));
	/* All at once: the first callback finds the whole batch applied... */
	ASSERT_UINT_EQ(registrar_count_agents(f.r[0], REGISTRAR_AGENT_ADMITTED), 100);
	wait_all(&f, d, 100);
	replog_metrics(f.log[0], &m1);
	ASSERT_UINT_EQ(m1.appends - m0.appends, 1);

	workload(&f, 1000, 60, 7);
	canon = tr_canon(f.r[0], &len);

	/* Recovery from the log gives the same registry. */
	lfx_restart(&f, 0);
	lfx_recover(&f, 0, NULL);
	canon2 = tr_canon(f.r[0], &len2);
	ASSERT_UINT_EQ(len2, len);
	ASSERT_MEM_EQ(canon2, canon, len);
	registrar_get_stats(f.r[0], &st);
	ASSERT_UINT_GT(st.recovered_entries, 5);
	ASSERT_UINT_EQ(st.snapshots, 0);
	free(canon);
	free(canon2);
	lfx_teardown(&f);
}

TEST(log_snapshots_truncate_and_recovery_is_identical)
{
	struct registrar_config cfg = {.snapshot_bytes = 4096, .chunk_bytes = 1024};
	struct lfx f;
	struct registrar_stats st;
	size_t len, len2;
	uint8_t *canon, *canon2;
	uint64_t begin1, begin2;

	lfx_setup(&f, 1, 1);
	lfx_recover(&f, 0, &cfg);
	workload(&f, 0, 300, 10);
	registrar_get_stats(f.r[0], &st);
	ASSERT_UINT_GE(st.snapshots, 3);
	begin1 = replog_reader_beginning(f.log[0]);
	ASSERT_UINT_GT(begin1, 0);
	canon = tr_canon(f.r[0], &len);

	/* Recover: snapshot + replay, from a log whose beginning moved. */
	lfx_restart(&f, 0);
	lfx_recover(&f, 0, &cfg);
	canon2 = tr_canon(f.r[0], &len2);
	ASSERT_UINT_EQ(len2, len);
	ASSERT_MEM_EQ(canon2, canon, len);
	registrar_get_stats(f.r[0], &st);
	/* Far fewer entries than the ~40 appends so far: only the last snapshot and after. */
	ASSERT_UINT_LT(st.recovered_entries, 30);
	free(canon);
	free(canon2);

	/* More operations (more snapshots) on the recovered registrar, then again. */
	workload(&f, 5000, 600, 50);
	registrar_get_stats(f.r[0], &st);
	ASSERT_UINT_GE(st.snapshots, 2);
	begin2 = replog_reader_beginning(f.log[0]);
	ASSERT_UINT_GT(begin2, begin1);
	canon = tr_canon(f.r[0], &len);
	lfx_restart(&f, 0);
	lfx_recover(&f, 0, &cfg);
	canon2 = tr_canon(f.r[0], &len2);
	ASSERT_UINT_EQ(len2, len);
	ASSERT_MEM_EQ(canon2, canon, len);
	ASSERT_UINT_GT(registrar_count_agents(f.r[0], REGISTRAR_AGENT_ADMITTED), 300);
	free(canon);
	free(canon2);
	lfx_teardown(&f);
}

/* Completion of a direct log call. */
struct logdone {
	bool fired; /* called back */
	int status; /* its status */
};

static void on_log(struct replog *log, int status, uint64_t position, void *arg)
{
	struct logdone *d = arg;

	(void)log;
	(void)position;
	d->fired = true;
	d->status = status;
}

/* Appends raw bytes through replica 0's writer (still elected after its registrar closed). */
static void raw_append(struct lfx *f, const void *data, size_t len)
{
	struct logdone d = {0};

	ASSERT_OK(replog_writer_append(f->log[0], data, len, on_log, &d));
	ASSERT_TRUE(RUN_UNTIL(f->loop, d.fired, 10000));
	ASSERT_OK(d.status);
}

TEST(log_incomplete_trailing_snapshot_is_ignored_and_garbage_fails_recovery)
{
	struct lfx f;
	Keel__Registry__Entry e = KEEL__REGISTRY__ENTRY__INIT;
	Keel__Registry__SnapshotChunk c = KEEL__REGISTRY__SNAPSHOT_CHUNK__INIT;
	uint8_t chunk[64], junk[5] = {0xff, 0xff, 0xff, 0xff, 0xff};
	size_t len, len2, n;
	uint8_t *canon, *canon2;
	struct tr_done d = {0};

	lfx_setup(&f, 1, 1);
	lfx_recover(&f, 0, NULL);
	workload(&f, 0, 40, 40);
	canon = tr_canon(f.r[0], &len);
	lfx_close_registrar(&f, 0);

	/* The first chunk of three of a snapshot that never finished, at the log's end. */
	memset(chunk, 0, sizeof(chunk));
	c.id = replog_reader_ending(f.log[0]) + 1;
	c.index = 0;
	c.count = 3;
	c.data.data = chunk;
	c.data.len = sizeof(chunk);
	e.kind_case = KEEL__REGISTRY__ENTRY__KIND_SNAPSHOT;
	e.snapshot = &c;
	{
		uint8_t buf[256];
		n = protobuf_c_message_pack(&e.base, buf);
		raw_append(&f, buf, n);
	}
	lfx_restart(&f, 0);
	lfx_recover(&f, 0, NULL);
	canon2 = tr_canon(f.r[0], &len2);
	ASSERT_UINT_EQ(len2, len);
	ASSERT_MEM_EQ(canon2, canon, len);
	free(canon);
	free(canon2);

	/* An entry that is not a registry entry: recovery fail-stops, never calls back. */
	lfx_close_registrar(&f, 0);
	raw_append(&f, junk, sizeof(junk));
	lfx_restart(&f, 0);
	lfx_open(&f, 0, NULL, &d);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.fatal[0].fired, 15000));
	ASSERT_INT_EQ(f.fatal[0].err, -EBADMSG);
	ASSERT_STR_CONTAINS(f.fatal[0].msg, "is not a registry entry");
	for (unsigned i = 0; i < 5; i++)
		keel_loop_run_once(f.loop, 0);
	ASSERT_INT_EQ(d.fired, 0);
	ASSERT_INT_EQ(f.fatal[0].fired, 1);
	lfx_teardown(&f);
}

TEST(log_recovery_prunes_by_age)
{
	struct registrar_config young = {.max_agent_age_ms = 3600 * 1000};
	struct lfx f;
	struct tr_done d = {0};
	int64_t now = tr_wall_ns(), hour = 3600 * 1000000000ll;

	lfx_setup(&f, 1, 1);
	lfx_recover(&f, 0, NULL); /* 14 days */
	workload(&f, 0, 3, 3);	  /* agent-0 unreachable at time 1000: very old */
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-0", NULL, NULL),
		      REGISTRAR_AGENT_UNKNOWN); /* older than 14 days: pruned at once */
	ASSERT_OK(registrar_mark_unreachable(f.r[0], "agent-1", now - 2 * hour, tr_on_done, &d));
	wait_all(&f, &d, 1);
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-1", NULL, NULL),
		      REGISTRAR_AGENT_UNREACHABLE);
	/* A master with a one-hour limit prunes it in its recovery. */
	lfx_restart(&f, 0);
	lfx_recover(&f, 0, &young);
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-1", NULL, NULL),
		      REGISTRAR_AGENT_UNKNOWN);
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-2", NULL, NULL),
		      REGISTRAR_AGENT_ADMITTED);
	lfx_teardown(&f);
}

TEST(log_pruned_agents_count_as_unknown_while_the_prune_is_in_flight)
{
	struct registrar_config cfg = {.max_agent_count = 1};
	struct lfx f;
	struct tr_done d[4];
	struct tr_agent a;

	memset(d, 0, sizeof(d));
	/* Three replicas: an append takes several loop turns, so the in-flight window is seen. */
	lfx_setup(&f, 3, 3);
	lfx_recover(&f, 0, &cfg);
	workload(&f, 0, 3, 3); /* agent-0 marked unreachable (and pruned: very old) */
	ASSERT_OK(
	    registrar_mark_unreachable(f.r[0], "agent-1", tr_wall_ns() - 5, tr_on_done, &d[0]));
	wait_all(&f, d, 1);
	/* The next mark prunes agent-1 (count 1); while that batch is in flight agent-1 is
	 * unknown to new operations: re-admitting it goes after the prune. */
	ASSERT_OK(registrar_mark_unreachable(f.r[0], "agent-2", tr_wall_ns(), tr_on_done, &d[1]));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.r[0]->tickets != NULL || d[1].fired, 5000));
	ASSERT_INT_EQ(d[1].fired, 0);
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-1", NULL, NULL),
		      REGISTRAR_AGENT_UNREACHABLE);
	tr_agent_init(&a, 1, 0);
	ASSERT_INT_EQ(registrar_mark_reachable(f.r[0], &a.info, tr_on_done, &d[2]), -ENOENT);
	ASSERT_OK(registrar_admit_agent(f.r[0], &a.info, tr_on_done, &d[2]));
	ASSERT_INT_EQ(registrar_mark_gone(f.r[0], "agent-1", 1, tr_on_done, &d[3]), -EBUSY);
	wait_all(&f, d, 3);
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-1", NULL, NULL),
		      REGISTRAR_AGENT_ADMITTED);
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-2", NULL, NULL),
		      REGISTRAR_AGENT_UNREACHABLE);
	ASSERT_UINT_EQ(registrar_count_agents(f.r[0], REGISTRAR_AGENT_UNREACHABLE), 1);
	lfx_teardown(&f);
}

TEST(log_quorum_loss_times_out_the_store_and_applies_nothing)
{
	struct registrar_config cfg = {.store_timeout_ms = 400};
	struct lfx f;
	struct tr_done d = {0}, d2 = {0};
	struct tr_agent a;
	uint64_t t0, elapsed_ms;

	lfx_setup(&f, 3, 3);
	lfx_recover(&f, 0, &cfg);
	workload(&f, 0, 5, 5);
	/* Two of three replicas go away: no quorum. */
	lfx_down(&f, 1);
	lfx_down(&f, 2);
	tr_agent_init(&a, 100, 0);
	t0 = keel_loop_clock_ns();
	ASSERT_OK(registrar_admit_agent(f.r[0], &a.info, tr_on_done, &d));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.fatal[0].fired, 10000));
	elapsed_ms = (keel_loop_clock_ns() - t0) / 1000000;
	ASSERT_UINT_GE(elapsed_ms, 390);
	ASSERT_INT_EQ(f.fatal[0].err, -ETIMEDOUT);
	ASSERT_STR_CONTAINS(f.fatal[0].msg, "400 ms");
	/* Never acknowledged, never applied; nothing more accepted. */
	for (unsigned i = 0; i < 10; i++)
		keel_loop_run_once(f.loop, 10);
	ASSERT_INT_EQ(d.fired, 0);
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-100", NULL, NULL),
		      REGISTRAR_AGENT_UNKNOWN);
	ASSERT_INT_EQ(registrar_admit_agent(f.r[0], &a.info, tr_on_done, &d2), -ESHUTDOWN);
	ASSERT_INT_EQ(registrar_recover(f.r[0], &f.master.info, tr_on_done, &d2), -ESHUTDOWN);
	ASSERT_INT_EQ(f.fatal[0].fired, 1);
	lfx_teardown(&f);
}

TEST(log_fetch_timeout_without_a_quorum)
{
	struct registrar_config cfg = {.fetch_timeout_ms = 300};
	struct lfx f;
	struct tr_done d = {0};

	/* Three replicas, only this one running: it never becomes VOTING. */
	lfx_setup(&f, 3, 1);
	lfx_open(&f, 0, &cfg, &d);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.fatal[0].fired, 10000));
	ASSERT_INT_EQ(f.fatal[0].err, -ETIMEDOUT);
	ASSERT_STR_CONTAINS(f.fatal[0].msg, "fetch");
	ASSERT_INT_EQ(d.fired, 0);
	ASSERT_INT_EQ(f.fatal[0].fired, 1);
	lfx_teardown(&f);
}

TEST(log_deposed_writer_fails_its_next_append)
{
	struct lfx f;
	struct tr_done d = {0};
	struct tr_agent a;
	struct logdone st = {0};

	lfx_setup(&f, 3, 3);
	lfx_recover(&f, 0, NULL);
	workload(&f, 0, 5, 5);
	/* Another replica elects its writer: replica 0's writer is deposed. */
	ASSERT_OK(replog_writer_start(f.log[1], on_log, &st));
	ASSERT_TRUE(RUN_UNTIL(f.loop, st.fired, 10000));
	ASSERT_OK(st.status);
	tr_agent_init(&a, 100, 0);
	ASSERT_OK(registrar_admit_agent(f.r[0], &a.info, tr_on_done, &d));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.fatal[0].fired, 10000));
	ASSERT_INT_LT(f.fatal[0].err, 0);
	ASSERT_STR_CONTAINS(f.fatal[0].msg, "append failed");
	ASSERT_INT_EQ(d.fired, 0);
	ASSERT_INT_EQ(registrar_agent_state(f.r[0], "agent-100", NULL, NULL),
		      REGISTRAR_AGENT_UNKNOWN);
	lfx_teardown(&f);
}

TEST(log_close_from_on_fatal_is_safe)
{
	struct registrar_config cfg = {.store_timeout_ms = 200};
	struct lfx f;
	struct tr_done d = {0};
	struct tr_agent a;

	lfx_setup(&f, 3, 3);
	lfx_recover(&f, 0, &cfg);
	lfx_down(&f, 1);
	lfx_down(&f, 2);
	f.fatal[0].close = true;
	tr_agent_init(&a, 1, 0);
	ASSERT_OK(registrar_admit_agent(f.r[0], &a.info, tr_on_done, &d));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.fatal[0].fired, 10000));
	f.r[0] = NULL; /* closed by on_fatal */
	for (unsigned i = 0; i < 5; i++)
		keel_loop_run_once(f.loop, 10);
	ASSERT_INT_EQ(d.fired, 0);
	lfx_teardown(&f);
}

/* Queues agent-2 from agent-1's completion and records the snapshots written until then. */
struct chain {
	struct tr_agent next;	/* agent-2 */
	struct tr_done done2;	/* its completion */
	uint64_t snaps_at_1;	/* snapshots when agent-1 completed */
	uint64_t snaps_at_2;	/* ... when agent-2 did */
	bool snapshotting_at_2; /* a snapshot was being written when agent-2 completed */
};

static void on_second(struct registrar *r, int status, void *arg)
{
	struct chain *c = arg;
	struct registrar_stats st;

	registrar_get_stats(r, &st);
	c->snaps_at_2 = st.snapshots;
	c->snapshotting_at_2 = r->snapshotting;
	tr_on_done(r, status, &c->done2);
}

static void on_first(struct registrar *r, int status, void *arg)
{
	struct chain *c = arg;
	struct registrar_stats st;

	ASSERT_OK(status);
	registrar_get_stats(r, &st);
	c->snaps_at_1 = st.snapshots;
	ASSERT_OK(registrar_admit_agent(r, &c->next.info, on_second, c));
}

TEST(log_operations_queued_during_a_snapshot_wait_for_it)
{
	/* Every batch makes a snapshot due: agent-2, queued as agent-1's batch completes, goes
	 * out only after the snapshot (chunks and truncation) that batch triggered. */
	struct registrar_config cfg = {.snapshot_bytes = 1, .chunk_bytes = 64};
	struct lfx f;
	struct chain c;
	struct tr_agent a;
	size_t len, len2;
	uint8_t *canon, *canon2;

	memset(&c, 0, sizeof(c));
	lfx_setup(&f, 1, 1);
	lfx_recover(&f, 0, &cfg);
	tr_agent_init(&a, 1, 0);
	tr_agent_init(&c.next, 2, 0);
	ASSERT_OK(registrar_admit_agent(f.r[0], &a.info, on_first, &c));
	ASSERT_TRUE(RUN_UNTIL(f.loop, c.done2.fired || f.fatal[0].fired, 10000));
	ASSERT_INT_EQ(f.fatal[0].fired, 0);
	ASSERT_INT_EQ(c.done2.fired, 1);
	ASSERT_UINT_EQ(c.snaps_at_2, c.snaps_at_1 + 1);
	ASSERT_FALSE(c.snapshotting_at_2);
	ASSERT_UINT_EQ(registrar_count_agents(f.r[0], REGISTRAR_AGENT_ADMITTED), 2);
	canon = tr_canon(f.r[0], &len);
	lfx_restart(&f, 0);
	lfx_recover(&f, 0, &cfg);
	canon2 = tr_canon(f.r[0], &len2);
	ASSERT_UINT_EQ(len2, len);
	ASSERT_MEM_EQ(canon2, canon, len);
	free(canon);
	free(canon2);
	lfx_teardown(&f);
}
