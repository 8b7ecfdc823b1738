/* Registrar tests on an in-memory registry: every operation, its errors, batching, pruning, OOM. */
#include <errno.h>
#include <stdlib.h>

#include "harness.h"
#include "master/registrar_int.h"
#include "runtime/alloc.h"
#include "test_registrar_util.h"

/*
 * RUN_UNTIL with 1 ms turns: an in-memory registrar completes within a turn
 * without any I/O, so a 50 ms wait for I/O after it would only slow the tests.
 */
#define TURN_UNTIL(loop, cond, timeout_ms)                                                         \
	({                                                                                         \
		uint64_t dl_ = keel_loop_clock_ns() / 1000000 + (timeout_ms);                      \
		bool ok_;                                                                          \
		while (!(ok_ = (cond)) && keel_loop_clock_ns() / 1000000 < dl_)                    \
			keel_loop_run_once((loop), 1);                                             \
		ok_;                                                                               \
	})

/* One in-memory registrar on its own loop. */
struct fx {
	struct keel_loop *loop;	 /* the loop */
	struct registrar *r;	 /* the registrar (NULL once closed) */
	struct tr_fatal fatal;	 /* on_fatal record */
	struct tr_master master; /* the MasterInfo recovered with */
};

static void fx_open(struct fx *f, const struct registrar_config *base)
{
	struct registrar_config cfg = {0};
	char errmsg[KEEL_ERRMSG_SIZE];

	if (base)
		cfg = *base;
	cfg.on_fatal = tr_on_fatal;
	cfg.fatal_arg = &f->fatal;
	ASSERT_OK(registrar_open(f->loop, &cfg, &f->r, errmsg));
}

/* Opens and recovers. */
static void fx_setup(struct fx *f, const struct registrar_config *base)
{
	struct tr_done d = {0};

	memset(f, 0, sizeof(*f));
	ASSERT_OK(keel_loop_new(&f->loop, NULL, NULL));
	tr_master_init(&f->master, "master-1");
	fx_open(f, base);
	ASSERT_OK(registrar_recover(f->r, &f->master.info, tr_on_done, &d));
	ASSERT_TRUE(TURN_UNTIL(f->loop, d.fired, 5000));
	ASSERT_INT_EQ(d.fired, 1);
	ASSERT_OK(d.status);
}

static void fx_teardown(struct fx *f)
{
	registrar_close(f->r);
	keel_loop_free(f->loop);
}

/* Runs the loop until d fired and checks it succeeded once. */
#define WAIT_OK(f, d)                                                                              \
	do {                                                                                       \
		ASSERT_TRUE(TURN_UNTIL((f)->loop, (d).fired, 5000));                               \
		ASSERT_INT_EQ((d).fired, 1);                                                       \
		ASSERT_OK((d).status);                                                             \
	} while (0)

TEST(registrar_open_rejects_bad_config)
{
	struct keel_loop *loop;
	struct registrar *r;
	struct tr_fatal fatal = {0};
	struct registrar_config cfg = {0};
	char errmsg[KEEL_ERRMSG_SIZE];

	ASSERT_OK(keel_loop_new(&loop, NULL, NULL));
	ASSERT_INT_EQ(registrar_open(loop, &cfg, &r, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "on_fatal");
	cfg.on_fatal = tr_on_fatal;
	cfg.fatal_arg = &fatal;
	cfg.chunk_bytes = 10;
	ASSERT_INT_EQ(registrar_open(loop, &cfg, &r, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "chunk_bytes");
	cfg.chunk_bytes = (size_t)32 << 20;
	ASSERT_INT_EQ(registrar_open(loop, &cfg, &r, errmsg), -EINVAL);
	ASSERT_INT_EQ(registrar_open(NULL, &cfg, &r, errmsg), -EINVAL);
	cfg.chunk_bytes = 0;
	ASSERT_OK(registrar_open(loop, &cfg, &r, errmsg));
	registrar_close(r);
	registrar_close(NULL);
	keel_loop_free(loop);
}

TEST(registrar_recover_in_memory_and_its_errors)
{
	struct fx f;
	struct tr_done d = {0}, d2 = {0};
	struct tr_agent a;
	struct tr_master bad;
	struct registrar_stats st;

	memset(&f, 0, sizeof(f));
	ASSERT_OK(keel_loop_new(&f.loop, NULL, NULL));
	tr_master_init(&f.master, "master-7");
	fx_open(&f, NULL);
	tr_agent_init(&a, 1, 0);
	/* Nothing before recovery. */
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &a.info, tr_on_done, &d), -EAGAIN);
	ASSERT_INT_EQ(registrar_recover(f.r, NULL, tr_on_done, &d), -EINVAL);
	tr_master_init(&bad, "x");
	bad.info.id = NULL; /* required */
	ASSERT_INT_EQ(registrar_recover(f.r, &bad.info, tr_on_done, &d), -EINVAL);
	ASSERT_OK(registrar_recover(f.r, &f.master.info, tr_on_done, &d));
	ASSERT_INT_EQ(registrar_recover(f.r, &f.master.info, tr_on_done, &d2), -EALREADY);
	/* Never from inside the call; operations wait for the recovery. */
	ASSERT_INT_EQ(d.fired, 0);
	ASSERT_NULL(registrar_master(f.r));
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &a.info, tr_on_done, &d2), -EAGAIN);
	WAIT_OK(&f, d);
	ASSERT_NOT_NULL(registrar_master(f.r));
	ASSERT_STR_EQ(registrar_master(f.r)->id, "master-7");
	registrar_get_stats(f.r, &st);
	ASSERT_TRUE(st.recovered);
	ASSERT_UINT_EQ(st.appends, 1);
	ASSERT_UINT_EQ(st.operations, 0); /* the UpdateMaster is the registrar's own */
	ASSERT_INT_EQ(d2.fired, 0);
	fx_teardown(&f);
}

TEST(registrar_admit_is_visible_only_once_durable_and_copied)
{
	struct fx f;
	struct tr_done d = {0};
	struct tr_agent a;
	const Mesos__V1__AgentInfo *info = NULL;
	int64_t t = -1;

	fx_setup(&f, NULL);
	tr_agent_init(&a, 1, 0);
	ASSERT_OK(registrar_admit_agent(f.r, &a.info, tr_on_done, &d));
	/* Queued, not applied. */
	ASSERT_INT_EQ(registrar_agent_state(f.r, "agent-1", &info, &t), REGISTRAR_AGENT_UNKNOWN);
	ASSERT_NULL(info);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_ADMITTED), 0);
	/* The message was copied: changing ours now changes nothing. */
	snprintf(a.host, sizeof(a.host), "changed");
	WAIT_OK(&f, d);
	ASSERT_INT_EQ(registrar_agent_state(f.r, "agent-1", &info, &t), REGISTRAR_AGENT_ADMITTED);
	ASSERT_NOT_NULL(info);
	ASSERT_STR_EQ(info->hostname, "host-1");
	ASSERT_UINT_EQ(info->n_resources, 3);
	ASSERT_INT_EQ(t, 0);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_ADMITTED), 1);
	fx_teardown(&f);
}

/* Applies one operation and waits for it. */
#define DO_OK(f, call)                                                                             \
	do {                                                                                       \
		struct tr_done d_ = {0};                                                           \
		ASSERT_OK(call(tr_on_done, &d_));                                                  \
		WAIT_OK(f, d_);                                                                    \
	} while (0)

TEST(registrar_every_agent_operation_and_its_errors)
{
	struct fx f;
	struct tr_done d = {0};
	struct tr_agent a1, a2, a1b, noid, empty, nohost;
	const Mesos__V1__AgentInfo *info;
	int64_t t;

	fx_setup(&f, NULL);
	tr_agent_init(&a1, 1, 0);
	tr_agent_init(&a2, 2, 0);
	tr_agent_init(&a1b, 1, 0);
	snprintf(a1b.host, sizeof(a1b.host), "host-1-again");
	tr_agent_init(&noid, 9, 0);
	noid.info.id = NULL;
	tr_agent_init(&empty, 9, 0);
	empty.id_buf[0] = '\0';
	tr_agent_init(&nohost, 9, 0);
	nohost.info.hostname = NULL; /* required */

	/* -EINVAL: missing fields. */
	ASSERT_INT_EQ(registrar_admit_agent(f.r, NULL, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &noid.info, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &empty.info, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &nohost.info, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_mark_unreachable(f.r, NULL, 1, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_mark_gone(f.r, "", 1, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_remove_agent(f.r, NULL, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_mark_reachable(f.r, &noid.info, tr_on_done, &d), -EINVAL);

	/* Unknown agents. */
	ASSERT_INT_EQ(registrar_mark_unreachable(f.r, "agent-1", 1, tr_on_done, &d), -ENOENT);
	ASSERT_INT_EQ(registrar_mark_reachable(f.r, &a1.info, tr_on_done, &d), -ENOENT);
	ASSERT_INT_EQ(registrar_mark_gone(f.r, "agent-1", 1, tr_on_done, &d), -ENOENT);
	ASSERT_INT_EQ(registrar_remove_agent(f.r, "agent-1", tr_on_done, &d), -ENOENT);

	/* Admit. */
#define ADMIT1(cb, arg) registrar_admit_agent(f.r, &a1.info, cb, arg)
#define ADMIT2(cb, arg) registrar_admit_agent(f.r, &a2.info, cb, arg)
	DO_OK(&f, ADMIT1);
	DO_OK(&f, ADMIT2);
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &a1.info, tr_on_done, &d), -EEXIST);
	ASSERT_INT_EQ(registrar_mark_reachable(f.r, &a1.info, tr_on_done, &d), -ENOENT);

	/* Unreachable, with its time; the info is kept. */
	int64_t now = tr_wall_ns();
#define UNREACH1(cb, arg) registrar_mark_unreachable(f.r, "agent-1", now, cb, arg)
	DO_OK(&f, UNREACH1);
	ASSERT_INT_EQ(registrar_agent_state(f.r, "agent-1", &info, &t),
		      REGISTRAR_AGENT_UNREACHABLE);
	ASSERT_INT_EQ(t, now);
	ASSERT_NOT_NULL(info);
	ASSERT_STR_EQ(info->hostname, "host-1");
	ASSERT_INT_EQ(registrar_mark_unreachable(f.r, "agent-1", now, tr_on_done, &d), -ENOENT);
	ASSERT_INT_EQ(registrar_remove_agent(f.r, "agent-1", tr_on_done, &d), -ENOENT);
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &a1.info, tr_on_done, &d), -EEXIST);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNREACHABLE), 1);

	/* Reachable again, with its new info. */
#define REACH1(cb, arg) registrar_mark_reachable(f.r, &a1b.info, cb, arg)
	DO_OK(&f, REACH1);
	ASSERT_INT_EQ(registrar_agent_state(f.r, "agent-1", &info, &t), REGISTRAR_AGENT_ADMITTED);
	ASSERT_STR_EQ(info->hostname, "host-1-again");
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNREACHABLE), 0);

	/* Gone from admitted, then from unreachable. */
#define GONE1(cb, arg) registrar_mark_gone(f.r, "agent-1", now + 1, cb, arg)
	DO_OK(&f, GONE1);
	ASSERT_INT_EQ(registrar_agent_state(f.r, "agent-1", &info, &t), REGISTRAR_AGENT_GONE);
	ASSERT_NULL(info);
	ASSERT_INT_EQ(t, now + 1);
	ASSERT_INT_EQ(registrar_mark_gone(f.r, "agent-1", now, tr_on_done, &d), -EEXIST);
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &a1.info, tr_on_done, &d), -EEXIST);
	ASSERT_INT_EQ(registrar_mark_unreachable(f.r, "agent-1", now, tr_on_done, &d), -ENOENT);
	ASSERT_INT_EQ(registrar_mark_reachable(f.r, &a1.info, tr_on_done, &d), -ENOENT);
	ASSERT_INT_EQ(registrar_remove_agent(f.r, "agent-1", tr_on_done, &d), -ENOENT);
#define UNREACH2(cb, arg) registrar_mark_unreachable(f.r, "agent-2", now, cb, arg)
#define GONE2(cb, arg) registrar_mark_gone(f.r, "agent-2", now + 2, cb, arg)
	DO_OK(&f, UNREACH2);
	DO_OK(&f, GONE2);
	ASSERT_INT_EQ(registrar_agent_state(f.r, "agent-2", NULL, &t), REGISTRAR_AGENT_GONE);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_GONE), 2);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNREACHABLE), 0);

	/* Remove an admitted agent. */
	tr_agent_init(&a2, 3, 0);
	DO_OK(&f, ADMIT2);
#define REMOVE3(cb, arg) registrar_remove_agent(f.r, "agent-3", cb, arg)
	DO_OK(&f, REMOVE3);
	ASSERT_INT_EQ(registrar_agent_state(f.r, "agent-3", NULL, NULL), REGISTRAR_AGENT_UNKNOWN);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_ADMITTED), 0);
	ASSERT_INT_EQ(registrar_agent_state(f.r, NULL, NULL, NULL), REGISTRAR_AGENT_UNKNOWN);
	ASSERT_INT_EQ(d.fired, 0);
	fx_teardown(&f);
}

TEST(registrar_frameworks_and_their_errors)
{
	struct fx f;
	struct tr_done d = {0};
	struct tr_framework fw, noid, nouser;

	fx_setup(&f, NULL);
	tr_framework_init(&fw, "fw-1");
	tr_framework_init(&noid, "fw-2");
	noid.info.id = NULL;
	tr_framework_init(&nouser, "fw-3");
	nouser.info.user = NULL;
	ASSERT_INT_EQ(registrar_add_framework(f.r, &noid.info, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_add_framework(f.r, &nouser.info, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_add_framework(f.r, NULL, tr_on_done, &d), -EINVAL);
	ASSERT_INT_EQ(registrar_remove_framework(f.r, "fw-1", tr_on_done, &d), -ENOENT);
	ASSERT_INT_EQ(registrar_remove_framework(f.r, NULL, tr_on_done, &d), -EINVAL);
	ASSERT_OK(registrar_add_framework(f.r, &fw.info, tr_on_done, &d));
	ASSERT_INT_EQ(registrar_add_framework(f.r, &fw.info, tr_on_done, &d), -EBUSY);
	ASSERT_INT_EQ(registrar_remove_framework(f.r, "fw-1", tr_on_done, &d), -EBUSY);
	ASSERT_NULL(registrar_framework(f.r, "fw-1"));
	WAIT_OK(&f, d);
	ASSERT_NOT_NULL(registrar_framework(f.r, "fw-1"));
	ASSERT_STR_EQ(registrar_framework(f.r, "fw-1")->name, "test-framework");
	ASSERT_UINT_EQ(registrar_count_frameworks(f.r), 1);
	ASSERT_INT_EQ(registrar_add_framework(f.r, &fw.info, tr_on_done, &d), -EEXIST);
	memset(&d, 0, sizeof(d));
	ASSERT_OK(registrar_remove_framework(f.r, "fw-1", tr_on_done, &d));
	WAIT_OK(&f, d);
	ASSERT_NULL(registrar_framework(f.r, "fw-1"));
	ASSERT_UINT_EQ(registrar_count_frameworks(f.r), 0);
	fx_teardown(&f);
}

TEST(registrar_one_queued_operation_per_agent)
{
	struct fx f;
	struct tr_done d1 = {0}, d2 = {0}, d3 = {0};
	struct tr_agent a;

	fx_setup(&f, NULL);
	tr_agent_init(&a, 1, 0);
	ASSERT_OK(registrar_admit_agent(f.r, &a.info, tr_on_done, &d1));
	/* Another operation on it waits its turn, even one that would fit afterwards. */
	ASSERT_INT_EQ(registrar_mark_unreachable(f.r, "agent-1", 1, tr_on_done, &d2), -EBUSY);
	ASSERT_INT_EQ(registrar_admit_agent(f.r, &a.info, tr_on_done, &d2), -EBUSY);
	ASSERT_INT_EQ(registrar_remove_agent(f.r, "agent-1", tr_on_done, &d2), -EBUSY);
	WAIT_OK(&f, d1);
	ASSERT_OK(registrar_mark_unreachable(f.r, "agent-1", tr_wall_ns(), tr_on_done, &d2));
	ASSERT_INT_EQ(registrar_mark_gone(f.r, "agent-1", tr_wall_ns(), tr_on_done, &d3), -EBUSY);
	WAIT_OK(&f, d2);
	ASSERT_INT_EQ(d3.fired, 0);
	fx_teardown(&f);
}

TEST(registrar_batches_a_turn_and_calls_back_in_queue_order)
{
	struct fx f;
	struct tr_done d[100];
	struct tr_agent a;
	struct registrar_stats before, after;

	fx_setup(&f, NULL);
	memset(d, 0, sizeof(d));
	registrar_get_stats(f.r, &before);
	for (unsigned i = 0; i < 100; i++) {
		tr_agent_init(&a, i, 0);
		ASSERT_OK(registrar_admit_agent(f.r, &a.info, tr_on_done, &d[i]));
	}
	registrar_get_stats(f.r, &after);
	ASSERT_UINT_EQ(after.queued, 100);
	ASSERT_TRUE(TURN_UNTIL(f.loop, d[99].fired, 5000));
	for (unsigned i = 0; i < 100; i++) {
		TH_CONTEXT("op %u", i);
		ASSERT_INT_EQ(d[i].fired, 1);
		ASSERT_OK(d[i].status);
		if (i > 0)
			ASSERT_UINT_EQ(d[i].seq, d[i - 1].seq + 1);
	}
	TH_CONTEXT(NULL);
	registrar_get_stats(f.r, &after);
	ASSERT_UINT_EQ(after.appends - before.appends, 1);
	ASSERT_UINT_EQ(after.operations - before.operations, 100);
	ASSERT_UINT_EQ(after.queued, 0);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_ADMITTED), 100);
	fx_teardown(&f);
}

TEST(registrar_splits_a_large_queue_into_several_appends)
{
	struct fx f;
	struct tr_done *d = calloc(4000, sizeof(*d));
	struct tr_agent a;
	struct registrar_stats before, after;

	ASSERT_NOT_NULL(d);
	fx_setup(&f, NULL);
	registrar_get_stats(f.r, &before);
	/* 4,000 operations of ~500 bytes: about 2 MB, two or three appends of <= 1 MiB. */
	for (unsigned i = 0; i < 4000; i++) {
		tr_agent_init(&a, i, 400);
		ASSERT_OK(registrar_admit_agent(f.r, &a.info, tr_on_done, &d[i]));
	}
	ASSERT_TRUE(TURN_UNTIL(f.loop, d[3999].fired, 10000));
	registrar_get_stats(f.r, &after);
	ASSERT_UINT_GE(after.appends - before.appends, 2);
	ASSERT_UINT_LE(after.appends - before.appends, 3);
	ASSERT_UINT_EQ(after.operations - before.operations, 4000);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_ADMITTED), 4000);
	free(d);
	fx_teardown(&f);
}

/* Admits agents [first, first + n). */
static void admit_range(struct fx *f, unsigned first, unsigned n)
{
	struct tr_done *d = calloc(n, sizeof(*d));
	struct tr_agent a;

	ASSERT_NOT_NULL(d);
	for (unsigned i = 0; i < n; i++) {
		tr_agent_init(&a, first + i, 0);
		ASSERT_OK(registrar_admit_agent(f->r, &a.info, tr_on_done, &d[i]));
	}
	ASSERT_TRUE(TURN_UNTIL(f->loop, d[n - 1].fired, 5000));
	for (unsigned i = 0; i < n; i++)
		ASSERT_OK(d[i].status);
	free(d);
}

static void mark(struct fx *f, unsigned k, int64_t t, bool gone)
{
	struct tr_done d = {0};
	char id[32];

	snprintf(id, sizeof(id), "agent-%u", k);
	if (gone)
		ASSERT_OK(registrar_mark_gone(f->r, id, t, tr_on_done, &d));
	else
		ASSERT_OK(registrar_mark_unreachable(f->r, id, t, tr_on_done, &d));
	WAIT_OK(f, d);
}

static enum registrar_agent_state state_of(struct fx *f, unsigned k)
{
	char id[32];

	snprintf(id, sizeof(id), "agent-%u", k);
	return registrar_agent_state(f->r, id, NULL, NULL);
}

TEST(registrar_prunes_by_count_oldest_first_even_out_of_order)
{
	struct registrar_config cfg = {.max_agent_count = 2};
	struct fx f;
	int64_t now = tr_wall_ns(), min = 60 * 1000000000ll;

	fx_setup(&f, &cfg);
	admit_range(&f, 0, 8);
	/* Inserted out of time order: 1 (10 min ago), then 2 (50 min ago). */
	mark(&f, 1, now - 10 * min, false);
	mark(&f, 2, now - 50 * min, false);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNREACHABLE), 2);
	/* A third: the oldest by time (2) goes, not the first inserted (1). */
	mark(&f, 3, now, false);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNREACHABLE), 2);
	ASSERT_INT_EQ(state_of(&f, 2), REGISTRAR_AGENT_UNKNOWN);
	ASSERT_INT_EQ(state_of(&f, 1), REGISTRAR_AGENT_UNREACHABLE);
	ASSERT_INT_EQ(state_of(&f, 3), REGISTRAR_AGENT_UNREACHABLE);
	/* One marked with an older time than everything: it is the one pruned at once. */
	mark(&f, 4, now - 100 * min, false);
	ASSERT_INT_EQ(state_of(&f, 4), REGISTRAR_AGENT_UNKNOWN);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNREACHABLE), 2);
	/* Gone has its own count: 5, 6, 7 gone -> 5 pruned; gone from unreachable too. */
	mark(&f, 5, now - 3 * min, true);
	mark(&f, 6, now - 2 * min, true);
	mark(&f, 7, now - 1 * min, true);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_GONE), 2);
	ASSERT_INT_EQ(state_of(&f, 5), REGISTRAR_AGENT_UNKNOWN);
	mark(&f, 1, now, true);
	ASSERT_INT_EQ(state_of(&f, 1), REGISTRAR_AGENT_GONE);
	ASSERT_INT_EQ(state_of(&f, 6), REGISTRAR_AGENT_UNKNOWN);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNREACHABLE), 1);
	/* A pruned agent is unknown: it may be admitted again. */
	admit_range(&f, 2, 1);
	ASSERT_INT_EQ(state_of(&f, 2), REGISTRAR_AGENT_ADMITTED);
	fx_teardown(&f);
}

TEST(registrar_prunes_by_age)
{
	struct registrar_config cfg = {.max_agent_age_ms = 3600 * 1000};
	struct fx f;
	int64_t now = tr_wall_ns(), min = 60 * 1000000000ll;

	fx_setup(&f, &cfg);
	admit_range(&f, 0, 6);
	mark(&f, 1, now - 30 * min, false);
	mark(&f, 2, now - 59 * min, false);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNREACHABLE), 2);
	/* Older than an hour: pruned in the batch that marks it. */
	mark(&f, 3, now - 61 * min, false);
	ASSERT_INT_EQ(state_of(&f, 3), REGISTRAR_AGENT_UNKNOWN);
	mark(&f, 4, now - 2 * 60 * min, true);
	ASSERT_INT_EQ(state_of(&f, 4), REGISTRAR_AGENT_UNKNOWN);
	mark(&f, 5, now, true);
	ASSERT_INT_EQ(state_of(&f, 5), REGISTRAR_AGENT_GONE);
	ASSERT_INT_EQ(state_of(&f, 1), REGISTRAR_AGENT_UNREACHABLE);
	ASSERT_INT_EQ(state_of(&f, 2), REGISTRAR_AGENT_UNREACHABLE);
	fx_teardown(&f);
}

/* Collects IDs seen by foreach; stops after `stop` when set. */
struct seen {
	unsigned n;	 /* calls */
	unsigned stop;	 /* return false at this call (0: never) */
	int64_t time_ns; /* the last time seen */
};

static bool on_agent(const Mesos__V1__AgentInfo *info, const char *id, int64_t time_ns, void *arg)
{
	struct seen *s = arg;

	ASSERT_NOT_NULL(id);
	if (info)
		ASSERT_STR_EQ(info->id->value, id);
	s->n++;
	s->time_ns = time_ns;
	return s->stop == 0 || s->n < s->stop;
}

TEST(registrar_foreach_and_counts)
{
	struct fx f;
	struct seen s = {0};
	int64_t now = tr_wall_ns();

	fx_setup(&f, NULL);
	admit_range(&f, 0, 10);
	mark(&f, 3, now, false);
	registrar_foreach_agent(f.r, REGISTRAR_AGENT_ADMITTED, on_agent, &s);
	ASSERT_UINT_EQ(s.n, 9);
	memset(&s, 0, sizeof(s));
	s.stop = 4;
	registrar_foreach_agent(f.r, REGISTRAR_AGENT_ADMITTED, on_agent, &s);
	ASSERT_UINT_EQ(s.n, 4);
	memset(&s, 0, sizeof(s));
	registrar_foreach_agent(f.r, REGISTRAR_AGENT_UNREACHABLE, on_agent, &s);
	ASSERT_UINT_EQ(s.n, 1);
	ASSERT_INT_EQ(s.time_ns, now);
	memset(&s, 0, sizeof(s));
	registrar_foreach_agent(f.r, REGISTRAR_AGENT_UNKNOWN, on_agent, &s);
	ASSERT_UINT_EQ(s.n, 0);
	ASSERT_UINT_EQ(registrar_count_agents(f.r, REGISTRAR_AGENT_UNKNOWN), 0);
	fx_teardown(&f);
}

/* Closes the registrar from a completion. */
struct closer {
	struct fx *f; /* whose registrar */
	int fired;    /* calls */
};

static void close_on_done(struct registrar *r, int status, void *arg)
{
	struct closer *c = arg;

	(void)status;
	c->fired++;
	ASSERT_PTR_EQ(r, c->f->r);
	registrar_close(r);
	c->f->r = NULL;
}

TEST(registrar_close_from_a_callback_drops_the_rest)
{
	struct fx f;
	struct closer c = {&f, 0};
	struct tr_done d[3];
	struct tr_agent a;

	memset(d, 0, sizeof(d));
	fx_setup(&f, NULL);
	tr_agent_init(&a, 0, 0);
	ASSERT_OK(registrar_admit_agent(f.r, &a.info, close_on_done, &c));
	for (unsigned i = 0; i < 3; i++) {
		tr_agent_init(&a, i + 1, 0);
		ASSERT_OK(registrar_admit_agent(f.r, &a.info, tr_on_done, &d[i]));
	}
	ASSERT_TRUE(TURN_UNTIL(f.loop, c.fired, 5000));
	for (unsigned i = 0; i < 5; i++)
		keel_loop_run_once(f.loop, 0);
	ASSERT_INT_EQ(c.fired, 1);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_INT_EQ(d[i].fired, 0);
	fx_teardown(&f);
}

TEST(registrar_close_with_operations_queued_calls_nothing)
{
	struct fx f;
	struct tr_done d[3];
	struct tr_agent a;

	memset(d, 0, sizeof(d));
	fx_setup(&f, NULL);
	for (unsigned i = 0; i < 3; i++) {
		tr_agent_init(&a, i, 0);
		ASSERT_OK(registrar_admit_agent(f.r, &a.info, tr_on_done, &d[i]));
	}
	registrar_close(f.r);
	f.r = NULL;
	for (unsigned i = 0; i < 5; i++)
		keel_loop_run_once(f.loop, 0);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_INT_EQ(d[i].fired, 0);
	fx_teardown(&f);
}

/*
 * One scenario (open, recover, admit, mark unreachable, mark reachable, gone,
 * remove, framework) on `loop` with the nth allocation failing: every step either
 * fails with -ENOMEM or completes, or the registrar fail-stops; nothing leaks
 * (ASan) and nothing crashes. Returns the allocations the run made.
 */
static long oom_scenario(struct keel_loop *loop, long n)
{
	struct registrar *r = NULL;
	struct tr_fatal fatal = {0};
	struct registrar_config cfg = {
	    .on_fatal = tr_on_fatal, .fatal_arg = &fatal, .max_agent_count = 1};
	struct tr_master m;
	struct tr_agent a, b;
	struct tr_framework fw;
	struct tr_done d[9];
	long made;
	int rv;

	memset(d, 0, sizeof(d));
	tr_master_init(&m, "m");
	tr_agent_init(&a, 1, 0);
	tr_agent_init(&b, 2, 0);
	tr_framework_init(&fw, "fw");
	keel_alloc_fail_after(n, false);
	rv = registrar_open(loop, &cfg, &r, NULL);
	if (rv < 0) {
		ASSERT_INT_EQ(rv, -ENOMEM);
		goto out;
	}
	/* Each step: a synchronous -ENOMEM, a completion, or a fail-stop. */
#define STEP(i, call)                                                                              \
	do {                                                                                       \
		rv = (call);                                                                       \
		if (rv < 0) {                                                                      \
			ASSERT_INT_EQ(rv, -ENOMEM);                                                \
			goto out;                                                                  \
		}                                                                                  \
		TURN_UNTIL(loop, d[i].fired || fatal.fired, 5000);                                 \
		if (fatal.fired) {                                                                 \
			ASSERT_INT_EQ(d[i].fired, 0);                                              \
			goto out;                                                                  \
		}                                                                                  \
		ASSERT_INT_EQ(d[i].fired, 1);                                                      \
		ASSERT_OK(d[i].status);                                                            \
	} while (0)
	STEP(0, registrar_recover(r, &m.info, tr_on_done, &d[0]));
	STEP(1, registrar_admit_agent(r, &a.info, tr_on_done, &d[1]));
	STEP(2, registrar_admit_agent(r, &b.info, tr_on_done, &d[2]));
	STEP(3, registrar_mark_unreachable(r, "agent-1", tr_wall_ns(), tr_on_done, &d[3]));
	STEP(4, registrar_mark_unreachable(r, "agent-2", tr_wall_ns(), tr_on_done, &d[4]));
	STEP(5, registrar_admit_agent(r, &a.info, tr_on_done, &d[5]));
	STEP(6, registrar_mark_gone(r, "agent-1", tr_wall_ns(), tr_on_done, &d[6]));
	STEP(7, registrar_add_framework(r, &fw.info, tr_on_done, &d[7]));
	STEP(8, registrar_remove_framework(r, "fw", tr_on_done, &d[8]));
#undef STEP
	ASSERT_INT_EQ(registrar_agent_state(r, "agent-1", NULL, NULL), REGISTRAR_AGENT_GONE);
out:
	made = keel_alloc_fail_after(0, false);

	ASSERT_INT_LE(fatal.fired, 1);
	registrar_close(r);
	return made;
}

TEST(registrar_out_of_memory_at_every_allocation)
{
	struct keel_loop *loop;
	long total, n;

	/* One loop for every run (a new io_uring per run costs more than the run). */
	ASSERT_OK(keel_loop_new(&loop, NULL, NULL));
	total = oom_scenario(loop, 0);

	if (keel_alloc_fail_after(0, false) == 0 && total == 0)
		TH_SKIP("allocation failures need -Dfailpoints=true");
	for (n = 1; n <= total + 1; n++) {
		TH_CONTEXT("failing allocation %ld of %ld", n, total);
		oom_scenario(loop, n);
	}
	TH_CONTEXT(NULL);
	keel_loop_free(loop);
}
