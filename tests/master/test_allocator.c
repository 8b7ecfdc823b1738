/* Unit tests of the allocator core: DRF, weights, quota, filters, suppression, reservations,
 * errors. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "master/allocator.h"
#include "runtime/alloc.h"

/* ---- Helpers ------------------------------------------------------------------------------ */

static struct allocator *mk_cfg(const char *min_allocatable)
{
	struct allocator_config cfg = {.min_allocatable = min_allocatable};
	struct allocator *a = NULL;
	char err[KEEL_ERRMSG_SIZE];

	if (allocator_new(&cfg, &a, err) < 0)
		th_fail(__FILE__, __LINE__, "allocator_new: %s", err);
	return a;
}

static struct allocator *mk(void)
{
	return mk_cfg(NULL);
}

static struct allocator_res *P(struct allocator *a, const char *text)
{
	struct allocator_res *r = NULL;

	if (allocator_res_parse(a, text, &r) < 0)
		th_fail(__FILE__, __LINE__, "parse '%s': %s", text, allocator_errmsg(a));
	return r;
}

static const char *F(struct allocator *a, const struct allocator_res *r)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	allocator_res_format(a, r, buf[i], sizeof(buf[i]));
	return buf[i];
}

static void agent(struct allocator *a, const char *id, const char *total)
{
	struct allocator_res *t = P(a, total);
	int rv = allocator_agent_add(a, id, t, NULL, 0);

	allocator_res_unref(t);
	if (rv < 0)
		th_fail(__FILE__, __LINE__, "agent_add %s: %s", id, allocator_errmsg(a));
}

static void agents(struct allocator *a, int n, const char *total)
{
	char id[32];

	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "agent-%03d", i);
		agent(a, id, total);
	}
}

static void fw_caps(struct allocator *a, const char *id, const char *role, uint32_t caps)
{
	const char *roles[] = {role};
	struct allocator_framework f = {
	    .id = id, .roles = roles, .n_roles = 1, .capabilities = caps};

	if (allocator_framework_add(a, &f) < 0)
		th_fail(__FILE__, __LINE__, "framework_add %s: %s", id, allocator_errmsg(a));
}

static void fw(struct allocator *a, const char *id, const char *role)
{
	fw_caps(a, id, role, 0);
}

#define CHECK(a)                                                                                   \
	do {                                                                                       \
		if (allocator_check(a) < 0)                                                        \
			th_fail(__FILE__, __LINE__, "check: %s", allocator_errmsg(a));             \
	} while (0)

/* Runs a cycle, checks the invariants, returns the offers. */
static size_t cycle(struct allocator *a, int64_t now, const struct allocator_offer **o)
{
	const struct allocator_offer *dummy;
	size_t n = 0;
	int rv = allocator_allocate(a, now, o ? o : &dummy, &n);

	if (rv < 0)
		th_fail(__FILE__, __LINE__, "allocate: %s", allocator_errmsg(a));
	rv = allocator_check(a);
	if (rv < 0)
		th_fail(__FILE__, __LINE__, "check: %s", allocator_errmsg(a));
	return n;
}

/* Declines every offer (refuse seconds, at now). */
static void decline_all(struct allocator *a, const struct allocator_offer *o, size_t n,
			double refuse, int64_t now)
{
	/* Copy first: recover invalidates the offers' pointers only at the next allocate, but be
	 * safe about strings. */
	for (size_t i = 0; i < n; i++) {
		char ag[64], fw_id[64], role[64];
		struct allocator_res *r = allocator_res_ref(o[i].resources);

		snprintf(ag, sizeof(ag), "%s", o[i].agent_id);
		snprintf(fw_id, sizeof(fw_id), "%s", o[i].framework_id);
		snprintf(role, sizeof(role), "%s", o[i].role);
		if (allocator_recover(a, ag, fw_id, role, r, refuse, now) < 0)
			th_fail(__FILE__, __LINE__, "recover: %s", allocator_errmsg(a));
		allocator_res_unref(r);
	}
}

static size_t count_for(const struct allocator_offer *o, size_t n, const char *fw_id)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += strcmp(o[i].framework_id, fw_id) == 0;
	return c;
}

/* ---- DRF --------------------------------------------------------------------------------- */

/* Weights 1 and 3, both frameworks accepting everything: 100 agents split 25:75. */
TEST(drf_weights_1_to_3_over_100_agents)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	size_t n, na = 0, nb = 0;

	ASSERT_OK(allocator_role_set_weight(a, "a", 1));
	ASSERT_OK(allocator_role_set_weight(a, "b", 3));
	fw(a, "fa", "a");
	fw(a, "fb", "b");
	agents(a, 100, "cpus:1;mem:1024");
	for (int c = 0; c < 5; c++) {
		n = cycle(a, c * 1000, &o);
		na += count_for(o, n, "fa");
		nb += count_for(o, n, "fb");
	}
	/* One task per agent: within one task of 25:75. */
	ASSERT_UINT_EQ(na + nb, 100);
	ASSERT_UINT_GE(na, 24);
	ASSERT_UINT_LE(na, 26);
	ASSERT_TRUE(fabs(allocator_role_share(a, "a") - allocator_role_share(a, "b")) <= 0.011);
	allocator_free(a);
}

/* The same as tasks come and go: after each finishes, the split stays 1:3. */
TEST(drf_weights_hold_under_churn)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	char held[100][8] = {{0}};
	size_t n;

	ASSERT_OK(allocator_role_set_weight(a, "b", 3));
	fw(a, "fa", "a");
	fw(a, "fb", "b");
	agents(a, 100, "cpus:1;mem:1024");
	for (int c = 0; c < 60; c++) {
		int na = 0;

		n = cycle(a, c * 1000, &o);
		for (size_t i = 0; i < n; i++)
			snprintf(held[atoi(o[i].agent_id + 6)], 8, "%s", o[i].framework_id);
		for (int i = 0; i < 100; i++)
			na += strcmp(held[i], "fa") == 0;
		ASSERT_INT_GE(na, 24);
		ASSERT_INT_LE(na, 26);
		/* Ten tasks finish (no filter): their agents are offered again next cycle. */
		for (int i = c % 10; i < 100; i += 10) {
			char id[32];
			struct allocator_res *r = P(a, "cpus:1;mem:1024");

			snprintf(id, sizeof(id), "agent-%03d", i);
			ASSERT_OK(allocator_recover(a, id, held[i], held[i][1] == 'a' ? "a" : "b",
						    r, 0, c * 1000));
			allocator_res_unref(r);
			held[i][0] = 0;
		}
	}
	allocator_free(a);
}

TEST(drf_two_frameworks_in_one_role_share_equally)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	size_t n;

	fw(a, "f1", "web");
	fw(a, "f2", "web");
	agents(a, 100, "cpus:2;mem:2048");
	n = cycle(a, 0, &o);
	ASSERT_UINT_EQ(n, 100);
	ASSERT_UINT_GE(count_for(o, n, "f1"), 49);
	ASSERT_UINT_LE(count_for(o, n, "f1"), 51);
	ASSERT_TRUE(fabs(allocator_framework_share(a, "f1", "web") - 0.5) <= 0.011);
	/* Nothing left: the next cycle has nothing to do and says so. */
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 0);
	allocator_free(a);
}

/* The lowest share goes first: a framework that already holds resources waits. */
TEST(drf_lowest_share_first)
{
	struct allocator *a = mk();
	struct allocator_res *t = P(a, "cpus:4;mem:4096"), *u = P(a, "cpus:3;mem:1024");
	struct allocator_use use = {.framework_id = "big", .role = "r", .res = u};
	const struct allocator_offer *o;

	fw(a, "big", "r");
	fw(a, "small", "r");
	ASSERT_OK(allocator_agent_add(a, "busy", t, &use, 1));
	agent(a, "idle", "cpus:4;mem:4096");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 2);
	ASSERT_STR_EQ(o[0].framework_id, "small");
	ASSERT_STR_EQ(F(a, o[0].resources), "cpus:1;mem:3072");
	ASSERT_STR_EQ(o[0].agent_id, "busy");
	allocator_res_unref(t);
	allocator_res_unref(u);
	allocator_free(a);
}

/* ---- Quota -------------------------------------------------------------------------------- */

TEST(quota_guarantee_first_even_with_a_higher_share)
{
	struct allocator *a = mk();
	struct allocator_res *t = P(a, "cpus:4;mem:1024"), *q = P(a, "cpus:12");
	struct allocator_use use = {.framework_id = "fq", .role = "q", .res = t};
	const struct allocator_offer *o;
	int64_t qcpus = 0;
	size_t n;

	ASSERT_OK(allocator_role_set_quota(a, "q", q));
	fw(a, "fq", "q");
	fw(a, "fn", "n");
	/* q already holds two agents (share 0.2); n holds nothing (share 0). */
	ASSERT_OK(allocator_agent_add(a, "a0", t, &use, 1));
	ASSERT_OK(allocator_agent_add(a, "a1", t, &use, 1));
	agents(a, 8, "cpus:4;mem:1024");
	n = cycle(a, 0, &o);
	/* The first offer goes to the quota role although its share is higher. */
	ASSERT_STR_EQ(o[0].framework_id, "fq");
	for (size_t i = 0; i < n; i++)
		if (strcmp(o[i].framework_id, "fq") == 0)
			qcpus += allocator_res_scalar(a, o[i].resources, "cpus", NULL);
	ASSERT_INT_GE(qcpus + 8000, 12000);
	allocator_res_unref(t);
	allocator_res_unref(q);
	allocator_free(a);
}

/* A role still owed its guarantee keeps its headroom even with nobody there to take it. */
TEST(quota_headroom_held_back_from_other_roles)
{
	struct allocator *a = mk();
	struct allocator_res *q = P(a, "cpus:20");
	const struct allocator_offer *o;
	int64_t cpus = 0;
	size_t n;

	ASSERT_OK(allocator_role_set_quota(a, "q", q));
	fw(a, "fn", "n");
	agents(a, 10, "cpus:4;mem:1024");
	n = cycle(a, 0, &o);
	for (size_t i = 0; i < n; i++) {
		ASSERT_STR_EQ(o[i].framework_id, "fn");
		cpus += allocator_res_scalar(a, o[i].resources, "cpus", NULL);
	}
	/* 40 cpus in all, 20 kept for q; memory is not under quota and all goes. */
	ASSERT_INT_EQ(cpus, 20000);
	ASSERT_UINT_EQ(n, 10);
	/* Cycles stay within it. */
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 0);
	/* q's framework arrives: it gets the 20 it is owed. */
	fw(a, "fq", "q");
	n = cycle(a, 2000, &o);
	cpus = 0;
	for (size_t i = 0; i < n; i++) {
		ASSERT_STR_EQ(o[i].framework_id, "fq");
		cpus += allocator_res_scalar(a, o[i].resources, "cpus", NULL);
	}
	ASSERT_INT_EQ(cpus, 20000);
	/* Removing the quota frees nothing already allocated, and nothing is left. */
	ASSERT_OK(allocator_role_set_quota(a, "q", NULL));
	ASSERT_UINT_EQ(cycle(a, 3000, &o), 0);
	allocator_res_unref(q);
	allocator_free(a);
}

TEST(quota_counts_unallocated_reservations)
{
	struct allocator *a = mk();
	struct allocator_res *q = P(a, "cpus:4");
	const struct allocator_offer *o;
	size_t n;

	ASSERT_OK(allocator_role_set_quota(a, "q", q));
	fw(a, "fn", "n");
	/* q's guarantee is met by a reservation: nothing else is held back. */
	agent(a, "resv", "cpus(q):4;mem(q):128");
	agents(a, 2, "cpus:4;mem:1024");
	n = cycle(a, 0, &o);
	ASSERT_UINT_EQ(n, 2);
	ASSERT_STR_EQ(F(a, o[0].resources), "cpus:4;mem:1024");
	allocator_res_unref(q);
	allocator_free(a);
}

/* ---- Suppress, revive, filters ------------------------------------------------------------- */

TEST(suppressed_framework_gets_nothing_until_revive)
{
	struct allocator *a = mk();
	const char *roles[] = {"r"};
	struct allocator_framework f = {
	    .id = "f", .roles = roles, .n_roles = 1, .suppressed = roles, .n_suppressed = 1};
	const struct allocator_offer *o;

	ASSERT_OK(allocator_framework_add(a, &f));
	agents(a, 3, "cpus:1;mem:64");
	for (int c = 0; c < 5; c++)
		ASSERT_UINT_EQ(cycle(a, c * 1000, &o), 0);
	ASSERT_OK(allocator_framework_revive(a, "f", NULL, 0));
	ASSERT_UINT_EQ(cycle(a, 5000, &o), 3);
	decline_all(a, o, 3, 0, 5000);
	ASSERT_OK(allocator_framework_suppress(a, "f", roles, 1));
	ASSERT_UINT_EQ(cycle(a, 6000, &o), 0);
	ASSERT_OK(allocator_framework_revive(a, "f", roles, 1));
	ASSERT_UINT_EQ(cycle(a, 7000, &o), 3);
	allocator_free(a);
}

TEST(suppress_per_role_of_a_multi_role_framework)
{
	struct allocator *a = mk();
	const char *roles[] = {"r1", "r2"}, *only_r1[] = {"r1"}, *bad[] = {"r3"};
	struct allocator_framework f = {
	    .id = "m", .roles = roles, .n_roles = 2, .capabilities = ALLOCATOR_CAP_MULTI_ROLE};
	const struct allocator_offer *o;
	size_t n;

	ASSERT_OK(allocator_framework_add(a, &f));
	ASSERT_OK(allocator_framework_suppress(a, "m", only_r1, 1));
	ASSERT_INT_EQ(allocator_framework_suppress(a, "m", bad, 1), -EINVAL);
	ASSERT_INT_EQ(allocator_framework_revive(a, "m", bad, 1), -EINVAL);
	agents(a, 4, "cpus:1;mem:64");
	n = cycle(a, 0, &o);
	ASSERT_UINT_EQ(n, 4);
	for (size_t i = 0; i < n; i++)
		ASSERT_STR_EQ(o[i].role, "r2");
	allocator_free(a);
}

TEST(declined_resources_return_after_refuse_seconds)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	size_t n;

	fw(a, "f", "r");
	agent(a, "a0", "cpus:4;mem:1024");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 1);
	decline_all(a, o, 1, 10, 0);
	/* Time is an argument: no sleeping. */
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 0);
	ASSERT_UINT_EQ(cycle(a, 9999, &o), 0);
	n = cycle(a, 10000, &o);
	ASSERT_UINT_EQ(n, 1);
	ASSERT_STR_EQ(F(a, o[0].resources), "cpus:4;mem:1024");
	/* The default filter is 5 s. */
	decline_all(a, o, 1, ALLOCATOR_REFUSE_DEFAULT, 10000);
	ASSERT_UINT_EQ(cycle(a, 14999, &o), 0);
	ASSERT_UINT_EQ(cycle(a, 15000, &o), 1);
	/* refuse_seconds 0: no filter at all. */
	decline_all(a, o, 1, 0, 15000);
	ASSERT_UINT_EQ(cycle(a, 15000, &o), 1);
	/* More than 365 days counts as 365 days. */
	decline_all(a, o, 1, 1e12, 15000);
	ASSERT_UINT_EQ(cycle(a, 15000 + ALLOCATOR_REFUSE_MAX_MS - 1, &o), 0);
	ASSERT_UINT_EQ(cycle(a, 15000 + ALLOCATOR_REFUSE_MAX_MS, &o), 1);
	allocator_free(a);
}

/* A filter refuses what was declined and its subsets, not more. */
TEST(filter_covers_subsets_only)
{
	struct allocator *a = mk();
	struct allocator_res *task = P(a, "cpus:3;mem:512"), *rest = P(a, "cpus:1;mem:512");
	const struct allocator_offer *o;

	fw(a, "f", "r");
	fw(a, "g", "other");
	ASSERT_OK(allocator_framework_suppress(a, "g", NULL, 0));
	agent(a, "a0", "cpus:4;mem:1024");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 1);
	/* f launches a task with part of it and refuses the rest for a minute. */
	ASSERT_OK(allocator_recover(a, "a0", "f", "r", rest, 60, 0));
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 0);
	/* Another framework is not filtered. */
	ASSERT_OK(allocator_framework_revive(a, "g", NULL, 0));
	ASSERT_UINT_EQ(cycle(a, 2000, &o), 1);
	ASSERT_STR_EQ(o[0].framework_id, "g");
	decline_all(a, o, 1, 3600, 2000);
	/* The task ends: now the agent has more than f refused, so f is offered all of it. */
	ASSERT_OK(allocator_recover(a, "a0", "f", "r", task, 0, 3000));
	ASSERT_UINT_EQ(cycle(a, 3000, &o), 1);
	ASSERT_STR_EQ(o[0].framework_id, "f");
	ASSERT_STR_EQ(F(a, o[0].resources), "cpus:4;mem:1024");
	/* Part of it is taken by f again: the rest is exactly what it refused. */
	ASSERT_OK(allocator_recover(a, "a0", "f", "r", rest, 0, 3000));
	ASSERT_UINT_EQ(cycle(a, 4000, &o), 0);
	ASSERT_UINT_EQ(cycle(a, 60000, &o), 1);
	allocator_res_unref(task);
	allocator_res_unref(rest);
	allocator_free(a);
}

/* The Mesos benchmark in small: everyone declines everything for a long time. */
TEST(decline_everything_then_cycles_touch_nothing)
{
	struct allocator *a = mk();
	struct allocator_stats st;
	const struct allocator_offer *o;
	char id[16];
	int rounds = 0;
	size_t n;

	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "f%02d", i);
		fw(a, id, "*");
	}
	agents(a, 300, "cpus:8;mem:2048;ports:[31000-32000]");
	while ((n = cycle(a, rounds * 1000, &o)) > 0) {
		/* Each round offers every agent once, to someone who did not refuse it yet. */
		ASSERT_UINT_EQ(n, 300);
		decline_all(a, o, n, 1e9, rounds * 1000);
		rounds++;
		ASSERT_INT_LE(rounds, 20);
	}
	ASSERT_INT_EQ(rounds, 20);
	allocator_stats(a, &st);
	ASSERT_UINT_EQ(st.filters, 300 * 20);
	ASSERT_UINT_EQ(cycle(a, 100000, &o), 0);
	allocator_stats(a, &st);
	ASSERT_TRUE(st.last_skipped);
	ASSERT_UINT_EQ(st.last_words, 0);
	ASSERT_UINT_EQ(st.last_checks, 0);
	/* One agent changes: the next cycle looks at that agent's word only, per framework. */
	ASSERT_OK(allocator_agent_deactivate(a, "agent-007"));
	ASSERT_OK(allocator_agent_activate(a, "agent-007"));
	ASSERT_UINT_EQ(cycle(a, 101000, &o), 0);
	allocator_stats(a, &st);
	ASSERT_FALSE(st.last_skipped);
	ASSERT_UINT_EQ(st.last_clients, 20);
	ASSERT_UINT_LE(st.last_words, 20);
	ASSERT_UINT_EQ(st.last_checks, 0);
	/* A revived framework sees everything again, in one cycle. */
	ASSERT_OK(allocator_framework_revive(a, "f03", NULL, 0));
	ASSERT_UINT_EQ(cycle(a, 102000, &o), 300);
	ASSERT_UINT_EQ(count_for(o, 300, "f03"), 300);
	allocator_free(a);
}

/* Hundreds of filters on one agent (several record chunks), expiring in a mixed order. */
TEST(many_filters_on_one_agent)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	struct allocator_stats st;
	char id[16];
	int64_t t = 0;

	for (int i = 0; i < 150; i++) {
		snprintf(id, sizeof(id), "f%03d", i);
		fw(a, id, "r");
	}
	agent(a, "a0", "cpus:1;mem:64");
	for (int i = 0; i < 150; i++, t++) {
		ASSERT_UINT_EQ(cycle(a, t, &o), 1);
		/* Lengths 10..160 s in a scrambled order. */
		decline_all(a, o, 1, 10 + (i * 37) % 151, t);
	}
	ASSERT_UINT_EQ(cycle(a, t, &o), 0);
	allocator_stats(a, &st);
	ASSERT_UINT_EQ(st.filters, 150);
	/* As time passes, filters expire one by one and their frameworks get the agent back. */
	for (int64_t now = t; now < 200000; now += 1000) {
		size_t n = cycle(a, now, &o);

		if (n)
			decline_all(a, o, n, 0, now);
	}
	allocator_stats(a, &st);
	ASSERT_UINT_EQ(st.filters, 0);
	CHECK(a);
	allocator_free(a);
}

/* ---- Reservations, GPUs, minimum -------------------------------------------------------- */

TEST(reservations_offered_only_to_their_role)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	size_t n;

	fw(a, "other", "r2");
	agent(a, "mixed", "cpus(r1):2;mem(r1):512;cpus:1;mem:256");
	agent(a, "mine", "cpus(r1):4;mem(r1):1024");
	n = cycle(a, 0, &o);
	ASSERT_UINT_EQ(n, 1);
	ASSERT_STR_EQ(o[0].agent_id, "mixed");
	ASSERT_STR_EQ(F(a, o[0].resources), "cpus:1;mem:256");
	fw(a, "owner", "r1");
	n = cycle(a, 1000, &o);
	ASSERT_UINT_EQ(n, 2);
	for (size_t i = 0; i < n; i++) {
		ASSERT_STR_EQ(o[i].framework_id, "owner");
		ASSERT_STR_EQ(o[i].role, "r1");
		ASSERT_INT_EQ(allocator_res_scalar(a, o[i].resources, "cpus", NULL),
			      allocator_res_scalar(a, o[i].resources, "cpus", "r1"));
	}
	/* A multi-role framework gets a reservation only in that role. */
	allocator_free(a);
}

TEST(gpu_agents_only_for_gpu_frameworks)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;

	fw(a, "plain", "r");
	agent(a, "gpu", "cpus:8;mem:8192;gpus:2");
	agent(a, "cpu", "cpus:8;mem:8192");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 1);
	ASSERT_STR_EQ(o[0].agent_id, "cpu");
	fw_caps(a, "ml", "r", ALLOCATOR_CAP_GPU_RESOURCES);
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 1);
	ASSERT_STR_EQ(o[0].agent_id, "gpu");
	ASSERT_STR_EQ(o[0].framework_id, "ml");
	allocator_free(a);
}

TEST(min_allocatable_resources)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	char err[KEEL_ERRMSG_SIZE];
	struct allocator_config bad = {.min_allocatable = "cpus:1|ports:[1-2]"};
	struct allocator *b = NULL;

	fw(a, "f", "r");
	agent(a, "tiny", "cpus:0.005;mem:16");
	agent(a, "mem", "mem:32");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 1);
	ASSERT_STR_EQ(o[0].agent_id, "mem");
	allocator_free(a);
	a = mk_cfg("");
	fw(a, "f", "r");
	agent(a, "tiny", "cpus:0.005;mem:16");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 1);
	allocator_free(a);
	a = mk_cfg("cpus:2;mem:100");
	fw(a, "f", "r");
	agent(a, "small", "cpus:2;mem:99");
	agent(a, "ok", "cpus:2;mem:100");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 1);
	ASSERT_STR_EQ(o[0].agent_id, "ok");
	allocator_free(a);
	ASSERT_INT_EQ(allocator_new(&bad, &b, err), -EINVAL);
	ASSERT_STR_CONTAINS(err, "scalars only");
	bad.min_allocatable = "cpus:1|";
	ASSERT_INT_EQ(allocator_new(&bad, &b, err), -EINVAL);
	ASSERT_NULL(b);
}

/* ---- Agents and frameworks coming and going --------------------------------------------- */

TEST(recover_after_remove)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	struct allocator_res *r = P(a, "cpus:2;mem:256");
	size_t n;

	fw(a, "f1", "r");
	agents(a, 3, "cpus:2;mem:256");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 3);
	/* The agent goes away with f1's offer on it: recovering it later finds nothing. */
	ASSERT_OK(allocator_agent_remove(a, "agent-001"));
	ASSERT_INT_EQ(allocator_recover(a, "agent-001", "f1", "r", r, 5, 0), -ENOENT);
	ASSERT_NULL(allocator_agent_free(a, "agent-001"));
	CHECK(a);
	/* f1 goes away: what it held returns and goes to f2. */
	fw(a, "f2", "r");
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 0);
	ASSERT_OK(allocator_framework_remove(a, "f1"));
	ASSERT_INT_EQ(allocator_recover(a, "agent-000", "f1", "r", r, 5, 1000), -ENOENT);
	ASSERT_INT_EQ(allocator_framework_remove(a, "f1"), -ENOENT);
	n = cycle(a, 2000, &o);
	ASSERT_UINT_EQ(n, 2);
	ASSERT_UINT_EQ(count_for(o, n, "f2"), 2);
	/* A re-added agent ID is a new agent. */
	agent(a, "agent-001", "cpus:1;mem:64");
	ASSERT_UINT_EQ(cycle(a, 3000, &o), 1);
	allocator_res_unref(r);
	allocator_free(a);
}

/* Agents re-registering with tasks of a framework that has not re-subscribed yet. */
TEST(used_resources_of_a_framework_not_yet_back)
{
	struct allocator *a = mk();
	struct allocator_res *t = P(a, "cpus:4;mem:1024"), *u = P(a, "cpus:1;mem:128");
	struct allocator_use use = {.framework_id = "old", .role = "r", .res = u};
	const struct allocator_offer *o;

	ASSERT_OK(allocator_agent_add(a, "a0", t, &use, 1));
	ASSERT_STR_EQ(F(a, allocator_agent_free(a, "a0")), "cpus:3;mem:896");
	ASSERT_STR_EQ(F(a, allocator_allocation(a, "a0", "old", "r")), "cpus:1;mem:128");
	fw(a, "new", "r");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 1);
	ASSERT_STR_EQ(F(a, o[0].resources), "cpus:3;mem:896");
	/* The old framework comes back and adopts its tasks. */
	fw(a, "old", "r");
	ASSERT_OK(allocator_recover(a, "a0", "old", "r", u, 0, 0));
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 1);
	ASSERT_STR_EQ(o[0].framework_id, "old");
	/* Its task ends before it re-subscribes in another life: the framework entry goes too. */
	decline_all(a, o, 1, 0, 1000);
	ASSERT_OK(allocator_framework_remove(a, "old"));
	ASSERT_OK(allocator_agent_add_used(a, "a0", "ghost", "r", u));
	ASSERT_OK(allocator_recover(a, "a0", "ghost", "r", u, 0, 0));
	ASSERT_INT_EQ(allocator_framework_remove(a, "ghost"), -ENOENT);
	/* Used resources beyond the total are refused. */
	use.res = t;
	ASSERT_INT_EQ(allocator_agent_add(a, "a1", u, &use, 1), -EINVAL);
	ASSERT_INT_EQ(allocator_agent_add_used(a, "a0", "x", "r", t), -EINVAL);
	CHECK(a);
	allocator_res_unref(t);
	allocator_res_unref(u);
	allocator_free(a);
}

TEST(agent_deactivate_and_update_total)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	struct allocator_res *big = P(a, "cpus:8;mem:2048"), *small = P(a, "cpus:1;mem:128");

	fw(a, "f", "r");
	agent(a, "a0", "cpus:2;mem:512");
	ASSERT_OK(allocator_agent_deactivate(a, "a0"));
	ASSERT_OK(allocator_agent_deactivate(a, "a0"));
	ASSERT_UINT_EQ(cycle(a, 0, &o), 0);
	ASSERT_OK(allocator_agent_activate(a, "a0"));
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 1);
	/* f holds all of it: shrinking below that is refused, growing is offered. */
	ASSERT_INT_EQ(allocator_agent_update_total(a, "a0", small), -EINVAL);
	ASSERT_OK(allocator_agent_update_total(a, "a0", big));
	ASSERT_UINT_EQ(cycle(a, 2000, &o), 1);
	ASSERT_STR_EQ(F(a, o[0].resources), "cpus:6;mem:1536");
	allocator_res_unref(big);
	allocator_res_unref(small);
	allocator_free(a);
}

TEST(framework_update_roles_and_capabilities)
{
	struct allocator *a = mk();
	const char *r1[] = {"r1"}, *r12[] = {"r1", "r2"}, *r11[] = {"r1", "r1"};
	struct allocator_framework f = {.id = "f", .roles = r1, .n_roles = 1};
	const struct allocator_offer *o;

	ASSERT_OK(allocator_framework_add(a, &f));
	ASSERT_INT_EQ(allocator_framework_add(a, &f), -EEXIST);
	agent(a, "a0", "cpus:1;mem:64");
	agent(a, "g", "cpus:1;mem:64;gpus:1");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 1);
	decline_all(a, o, 1, 1000, 0);
	/* Two roles need MULTI_ROLE; duplicates and a stray suppressed role are refused. */
	f.roles = r12;
	f.n_roles = 2;
	ASSERT_INT_EQ(allocator_framework_update(a, &f), -EINVAL);
	f.capabilities = ALLOCATOR_CAP_MULTI_ROLE;
	f.roles = r11;
	ASSERT_INT_EQ(allocator_framework_update(a, &f), -EINVAL);
	f.roles = r1;
	f.n_roles = 1;
	f.suppressed = r12 + 1;
	f.n_suppressed = 1;
	ASSERT_INT_EQ(allocator_framework_update(a, &f), -EINVAL);
	/* Adding r2 and GPU_RESOURCES: offers in r2 (not filtered there) and the GPU agent. */
	f.roles = r12;
	f.n_roles = 2;
	f.n_suppressed = 0;
	f.capabilities = ALLOCATOR_CAP_MULTI_ROLE | ALLOCATOR_CAP_GPU_RESOURCES;
	ASSERT_OK(allocator_framework_update(a, &f));
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 2);
	decline_all(a, o, 2, 0, 1000);
	/* Dropping r1 drops its filters; re-adding it later starts clean. */
	f.roles = r12 + 1;
	f.n_roles = 1;
	ASSERT_OK(allocator_framework_update(a, &f));
	f.roles = r1;
	ASSERT_OK(allocator_framework_update(a, &f));
	ASSERT_UINT_EQ(cycle(a, 2000, &o), 2);
	ASSERT_STR_EQ(o[0].role, "r1");
	/* No roles at all (MULTI_ROLE): no offers. */
	decline_all(a, o, 2, 0, 2000);
	f.n_roles = 0;
	ASSERT_OK(allocator_framework_update(a, &f));
	ASSERT_UINT_EQ(cycle(a, 3000, &o), 0);
	ASSERT_OK(allocator_framework_deactivate(a, "f"));
	ASSERT_OK(allocator_framework_activate(a, "f"));
	allocator_free(a);
}

TEST(framework_deactivate_keeps_filters)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;

	fw(a, "f", "r");
	agent(a, "a0", "cpus:1;mem:64");
	agent(a, "a1", "cpus:1;mem:64");
	ASSERT_UINT_EQ(cycle(a, 0, &o), 2);
	ASSERT_STR_EQ(o[0].agent_id, "a0");
	decline_all(a, o, 1, 100, 0);
	decline_all(a, o + 1, 1, 0, 0);
	ASSERT_OK(allocator_framework_deactivate(a, "f"));
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 0);
	ASSERT_OK(allocator_framework_activate(a, "f"));
	ASSERT_UINT_EQ(cycle(a, 2000, &o), 1);
	ASSERT_STR_EQ(o[0].agent_id, "a1");
	allocator_free(a);
}

/* ---- Determinism ------------------------------------------------------------------------ */

static void scripted_run(char *log, size_t size)
{
	struct allocator *a = mk();
	const struct allocator_offer *o;
	size_t len = 0, n;
	char id[16];

	ASSERT_OK(allocator_role_set_weight(a, "b", 2));
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "f%d", i);
		fw(a, id, i % 2 ? "a" : "b");
	}
	agents(a, 40, "cpus:4;mem:4096;ports:[1-100]");
	for (int c = 0; c < 30; c++) {
		n = cycle(a, c * 700, &o);
		for (size_t i = 0; i < n; i++)
			len += (size_t)snprintf(log + len, size - len, "%d %s %s %s %s\n", c,
						o[i].framework_id, o[i].role, o[i].agent_id,
						F(a, o[i].resources));
		/* Decline every third offer for a while, keep the rest, end a task now and then. */
		for (size_t i = 0; i < n; i += 3)
			decline_all(a, o + i, 1, (double)(i % 5), c * 700);
		if (c % 4 == 3) {
			snprintf(id, sizeof(id), "f%d", c % 6);
			ASSERT_OK(allocator_framework_remove(a, id));
			fw(a, id, c % 2 ? "a" : "b");
		}
	}
	allocator_free(a);
}

TEST(same_events_same_offers)
{
	static char l1[1 << 20], l2[1 << 20];

	scripted_run(l1, sizeof(l1));
	scripted_run(l2, sizeof(l2));
	ASSERT_TRUE(strlen(l1) > 1000);
	ASSERT_STR_EQ(l1, l2);
}

/* ---- Errors --------------------------------------------------------------------------------- */

TEST(errors_leave_state_alone)
{
	struct allocator *a = mk();
	struct allocator_res *r = P(a, "cpus:1;mem:64"), *ports = P(a, "ports:[1-2]");
	struct allocator_res *resv = P(a, "cpus(x):1");
	const struct allocator_offer *o;
	size_t n;

	fw(a, "f", "r");
	agent(a, "a0", "cpus:1;mem:64");
	ASSERT_INT_EQ(allocator_agent_add(a, "a0", r, NULL, 0), -EEXIST);
	ASSERT_INT_EQ(allocator_agent_add(a, "", r, NULL, 0), -EINVAL);
	ASSERT_INT_EQ(allocator_agent_remove(a, "nope"), -ENOENT);
	ASSERT_INT_EQ(allocator_agent_update_total(a, "nope", r), -ENOENT);
	ASSERT_INT_EQ(allocator_agent_activate(a, "nope"), -ENOENT);
	ASSERT_INT_EQ(allocator_agent_deactivate(a, "nope"), -ENOENT);
	ASSERT_INT_EQ(allocator_agent_add_used(a, "nope", "f", "r", r), -ENOENT);
	ASSERT_INT_EQ(allocator_framework_remove(a, "nope"), -ENOENT);
	ASSERT_INT_EQ(allocator_framework_activate(a, "nope"), -ENOENT);
	ASSERT_INT_EQ(allocator_framework_deactivate(a, "nope"), -ENOENT);
	ASSERT_INT_EQ(allocator_framework_suppress(a, "nope", NULL, 0), -ENOENT);
	ASSERT_INT_EQ(allocator_framework_revive(a, "nope", NULL, 0), -ENOENT);
	{
		const char *roles[] = {"r"}, *badroles[] = {"-x"}, *star[] = {"*"};
		struct allocator_framework u = {.id = "nope", .roles = roles, .n_roles = 1};

		ASSERT_INT_EQ(allocator_framework_update(a, &u), -ENOENT);
		u.id = "";
		ASSERT_INT_EQ(allocator_framework_add(a, &u), -EINVAL);
		u.id = "g";
		u.roles = badroles;
		ASSERT_INT_EQ(allocator_framework_add(a, &u), -EINVAL);
		ASSERT_STR_CONTAINS(allocator_errmsg(a), "invalid role name");
		u.roles = star;
		ASSERT_OK(allocator_framework_add(a, &u));
	}
	ASSERT_INT_EQ(allocator_role_set_weight(a, "r", 0), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_weight(a, "r", -1), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_weight(a, "r", NAN), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_weight(a, "r", INFINITY), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_weight(a, "a b", 1), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_quota(a, "*", r), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_quota(a, "q", ports), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_quota(a, "q", resv), -EINVAL);
	ASSERT_INT_EQ(allocator_allocate(a, -1, &o, &n), -EINVAL);
	ASSERT_UINT_EQ(n, 0);
	n = cycle(a, 0, &o);
	ASSERT_UINT_EQ(n, 1);
	/* Recovering what is not held, with the wrong role, or too much. */
	ASSERT_INT_EQ(allocator_recover(a, "a0", o[0].framework_id, "other", r, 0, 0), -ENOENT);
	ASSERT_INT_EQ(allocator_recover(a, "a0", "nope", "r", r, 0, 0), -ENOENT);
	ASSERT_INT_EQ(allocator_recover(a, "a0", o[0].framework_id, o[0].role, ports, 0, 0),
		      -EINVAL);
	ASSERT_INT_EQ(allocator_recover(a, "a0", o[0].framework_id, o[0].role, r, 0, -5), -EINVAL);
	CHECK(a);
	allocator_res_unref(r);
	allocator_res_unref(ports);
	allocator_res_unref(resv);
	allocator_free(a);
}

/*
 * Out of memory at every allocation of every kind of call: each either succeeds or returns
 * -ENOMEM with the books still consistent (allocate may have made some offers), and the same
 * call then succeeds. ASan reports any leak.
 */
enum { OOM_STEPS = 16 };

static int oom_step(struct allocator *a, int step)
{
	static const char *const r12[] = {"r1", "r2"}, *const r3[] = {"r3"},
				 *const r24[] = {"r2", "r4"};
	struct allocator_framework m = {
	    .id = "m", .roles = r12, .n_roles = 2, .capabilities = ALLOCATOR_CAP_MULTI_ROLE};
	struct allocator_res *x = NULL, *y = NULL;
	struct allocator_use use = {.framework_id = "f", .role = "r1"};
	const struct allocator_offer *o;
	size_t n;
	int rv = 0;
	char id[16];

	switch (step) {
	case 0:
		rv = allocator_framework_add(a, &m);
		break;
	case 1:
		rv = allocator_res_parse(a, "cpus:4;mem:1024;ports:[1-9];disk(r1):5;z:{a}", &x);
		if (rv == 0)
			rv = allocator_res_parse(a, "cpus:1;ports:[2-3]", &y);
		use.res = y;
		for (int i = 0; rv == 0 && i < 70; i++) {
			snprintf(id, sizeof(id), "a%d", i);
			if (allocator_agent_free(a, id))
				continue;
			rv = allocator_agent_add(a, id, x, &use, i % 3 == 0);
		}
		break;
	case 2:
		rv = allocator_allocate(a, 0, &o, &n);
		break;
	case 3:
		rv = allocator_res_parse(a, "cpus:0.5;ports:[5-5]", &x);
		for (int k = 0; rv == 0 && k < 2; k++) {
			const struct allocator_res *h = allocator_allocation(a, "a1", "m", r12[k]);

			if (h && allocator_res_contains(h, x))
				rv = allocator_recover(a, "a1", "m", r12[k], x, 60, 0);
		}
		break;
	case 4:
		rv = allocator_res_parse(a, "cpus:6", &x);
		if (rv == 0)
			rv = allocator_role_set_quota(a, "r3", x);
		break;
	case 5:
		m.id = "q";
		m.roles = r3;
		m.n_roles = 1;
		m.capabilities = 0;
		rv = allocator_framework_add(a, &m);
		break;
	case 6:
		rv = allocator_allocate(a, 100, &o, &n);
		break;
	case 7:
		rv = allocator_framework_suppress(a, "m", NULL, 0);
		if (rv == 0)
			rv = allocator_framework_revive(a, "m", NULL, 0);
		break;
	case 8:
		m.roles = r24;
		rv = allocator_framework_update(a, &m);
		break;
	case 9:
		rv = allocator_res_parse(a, "cpus:40;mem:2048;ports:[1-20];disk(r1):5;z:{a}", &x);
		if (rv == 0)
			rv = allocator_agent_update_total(a, "a69", x);
		break;
	case 10:
		rv = allocator_res_parse(a, "cpus:1", &x);
		if (rv == 0)
			rv = allocator_agent_add_used(a, "a69", "newcomer", "r9", x);
		break;
	case 11:
		rv = allocator_allocate(a, 200, &o, &n);
		for (size_t i = 0; rv == 0 && i < n; i++)
			rv = allocator_recover(a, o[i].agent_id, o[i].framework_id, o[i].role,
					       o[i].resources, 3600, 200);
		break;
	case 12:
		rv = allocator_framework_remove(a, "m");
		break;
	case 13:
		rv = allocator_agent_remove(a, "a3");
		break;
	case 14:
		rv = allocator_allocate(a, 3600200, &o, &n);
		break;
	default:
		rv = allocator_role_set_quota(a, "r3", NULL);
		break;
	}
	allocator_res_unref(x);
	allocator_res_unref(y);
	return rv;
}

TEST(out_of_memory_at_every_allocation)
{
#ifndef KEEL_FAILPOINTS
	TH_SKIP("needs -Dfailpoints=true");
#endif
	for (int step = 0; step < OOM_STEPS; step++) {
		long failures = 0;

		for (long k = 1;; k++) {
			struct allocator *a = mk();
			int rv;

			for (int s = 0; s < step; s++)
				ASSERT_OK(oom_step(a, s));
			keel_alloc_fail_after(k, false);
			rv = oom_step(a, step);
			keel_alloc_fail_after(0, false);
			TH_CONTEXT("step %d, allocation %ld", step, k);
			CHECK(a);
			if (rv == 0) {
				allocator_free(a);
				break;
			}
			ASSERT_INT_EQ(rv, -ENOMEM);
			failures++;
			ASSERT_OK(oom_step(a, step));
			CHECK(a);
			allocator_free(a);
		}
		TH_CONTEXT("step %d", step);
		/* Removing an agent and clearing a quota allocate nothing; every other step does.
		 */
		if (step != 13 && step != 15)
			ASSERT_INT_GT(failures, 0);
	}
	TH_CONTEXT(NULL);
}

/* A quota limit caps what a role holds across agents, and a role at its limit gets nothing
 * until it gives some back; other roles take the rest. */
TEST(quota_limit_caps_a_role_across_agents)
{
	struct allocator *a = mk();
	const struct allocator_limit l = {"cpus", 6};
	const struct allocator_offer *o;
	int64_t lcpus = 0, ocpus = 0;
	const char *agent = NULL;
	struct allocator_res *back = NULL;
	size_t n;

	ASSERT_OK(allocator_role_set_limits(a, "l", &l, 1));
	fw(a, "fl", "l");
	agents(a, 4, "cpus:4");
	n = cycle(a, 0, &o);
	for (size_t i = 0; i < n; i++) {
		int64_t c = allocator_res_scalar(a, o[i].resources, "cpus", NULL);
		ASSERT_STR_EQ(o[i].framework_id, "fl");
		lcpus += c;
		if (c == 4000) {
			agent = o[i].agent_id;
			back = allocator_res_ref(o[i].resources);
		}
	}
	/* 6 of the 16 cpus: one whole agent and 2 of another. */
	ASSERT_INT_EQ(lcpus, 6000);
	ASSERT_TRUE(agent != NULL);
	ASSERT_OK(allocator_check(a));
	/* At its limit it is offered nothing more, though 10 cpus are free. */
	ASSERT_UINT_EQ(cycle(a, 1000, &o), 0);
	/* Another role takes the rest. */
	fw(a, "fo", "o");
	n = cycle(a, 2000, &o);
	for (size_t i = 0; i < n; i++) {
		ASSERT_STR_EQ(o[i].framework_id, "fo");
		ocpus += allocator_res_scalar(a, o[i].resources, "cpus", NULL);
	}
	ASSERT_INT_EQ(ocpus, 10000);
	/* l gives a whole agent back: below its limit again, and with the lower share (2/16
	 * against 10/16), it gets that agent back, all 4 (room 4). */
	ASSERT_OK(allocator_recover(a, agent, "fl", "l", back, 0, 3000));
	allocator_res_unref(back);
	n = cycle(a, 4000, &o);
	ASSERT_UINT_EQ(n, 1);
	ASSERT_STR_EQ(o[0].framework_id, "fl");
	ASSERT_INT_EQ(allocator_res_scalar(a, o[0].resources, "cpus", NULL), 4000);
	ASSERT_OK(allocator_check(a));
	/* Removing the limit: nothing new is free, nothing is offered. */
	ASSERT_OK(allocator_role_set_limits(a, "l", NULL, 0));
	ASSERT_UINT_EQ(cycle(a, 5000, &o), 0);
	allocator_free(a);
}

/* A limit of 0 on a name keeps it out of the role's offers entirely (other names are offered);
 * limits are refused for "*", for bad values, and past the name table. */
TEST(quota_limit_zero_and_invalid)
{
	struct allocator *a = mk();
	const struct allocator_limit z[] = {{"cpus", 0}, {"gpus", 0}};
	const struct allocator_limit neg = {"cpus", -1}, nan_ = {"cpus", NAN}, big = {"cpus", 2e9};
	const struct allocator_limit noname = {"", 1};
	const struct allocator_offer *o;
	size_t n;

	ASSERT_INT_EQ(allocator_role_set_limits(a, "*", z, 1), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_limits(a, "l", &neg, 1), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_limits(a, "l", &nan_, 1), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_limits(a, "l", &big, 1), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_limits(a, "l", &noname, 1), -EINVAL);
	ASSERT_INT_EQ(allocator_role_set_limits(a, "l", z, ALLOCATOR_NAMES_MAX + 1), -ENOSPC);
	ASSERT_OK(allocator_role_set_limits(a, "l", z, 2));
	fw(a, "fl", "l");
	agents(a, 2, "cpus:4;mem:1024");
	n = cycle(a, 0, &o);
	/* No cpus at all; memory is not limited: both agents' memory is offered. */
	ASSERT_UINT_EQ(n, 2);
	for (size_t i = 0; i < n; i++) {
		ASSERT_INT_EQ(allocator_res_scalar(a, o[i].resources, "cpus", NULL), 0);
		ASSERT_INT_EQ(allocator_res_scalar(a, o[i].resources, "mem", NULL), 1024000);
	}
	ASSERT_OK(allocator_check(a));
	allocator_free(a);
}
