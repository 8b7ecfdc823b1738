/* Quota through the real master (set with UPDATE_QUOTA over the operator API): a guarantee is
 * honoured against a greedy framework of another role, and a limit is never exceeded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/sched.h"
#include "master/tasks.h"
#include "master_fixture.h"
#include "runtime/http_server.h"
#include "runtime/pbjson.h"
#include "sched_client.h"
#include "test_http_util.h"

/* The agent side: every RunTask is taken (the tasks stay STAGING, holding their resources). */
static void on_run(struct keel_http_req *req, void *arg)
{
	(*(unsigned *)arg)++;
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);
}

/* A greedy framework: every whole cpu of every offer becomes a task (1 cpu, 1 MB). */
struct greedy {
	struct sc_stream s;  /* its stream */
	size_t next;	     /* first event not looked at */
	unsigned launched;   /* tasks it launched */
	double cpus_offered; /* unreserved cpus in every offer it got */
	const char *name;    /* task ID prefix */
};

static double cpus_of(const Mesos__V1__Offer *o)
{
	double v = 0;

	for (size_t i = 0; i < o->n_resources; i++) {
		const Mesos__V1__Resource *r = o->resources[i];
		if (strcmp(r->name, "cpus") == 0 && r->scalar != NULL && r->n_reservations == 0)
			v += r->scalar->value;
	}
	return v;
}

/* Launches one task per whole cpu of one offer (or declines it, for an hour, when it has
 * none). */
static void greedy_answer(struct fx *f, struct master *m, struct greedy *g,
			  const Mesos__V1__Offer *o)
{
	struct hresp r = {0};
	struct keel_buf b = KEEL_BUF_INIT;
	unsigned n = (unsigned)(cpus_of(o) + 1e-9);
	char *json;

	g->cpus_offered += cpus_of(o);
	if (n == 0) {
		keel_buf_printf(&b,
				"{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"%s\"},"
				"\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
				"\"filters\":{\"refuse_seconds\":3600}}}",
				g->s.framework_id, o->id->value);
	} else {
		keel_buf_printf(&b,
				"{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},"
				"\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{"
				"\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[",
				g->s.framework_id, o->id->value);
		for (unsigned i = 0; i < n; i++)
			keel_buf_printf(&b,
					"%s{\"name\":\"t\",\"task_id\":{\"value\":\"%s-%u\"},"
					"\"agent_id\":{\"value\":\"%s\"},\"command\":{\"value\":"
					"\"true\"},\"resources\":[{\"name\":\"cpus\",\"type\":"
					"\"SCALAR\",\"scalar\":{\"value\":1}},{\"name\":\"mem\","
					"\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}",
					i ? "," : "", g->name, g->launched + i, o->agent_id->value);
		keel_buf_printf(&b, "]}}],\"filters\":{\"refuse_seconds\":0}}}");
		g->launched += n;
	}
	json = keel_buf_steal(&b, NULL);
	sc_call(f, m->port, &g->s, json, &r);
	ASSERT_INT_EQ(r.status, 202);
	free(json);
	hresp_free(&r);
}

/* Answers every new offer; returns how many offers it answered. */
static unsigned greedy_take(struct fx *f, struct master *m, struct greedy *g)
{
	unsigned n = 0;

	for (; g->next < g->s.n; g->next++) {
		const Mesos__V1__Scheduler__Event *ev = g->s.ev[g->next];
		if (ev->type != MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
			continue;
		for (size_t i = 0; i < ev->offers->n_offers; i++, n++)
			greedy_answer(f, m, g, ev->offers->offers[i]);
	}
	return n;
}

static size_t events_total(struct greedy *const *gs, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += gs[i]->s.n;
	return total;
}

/* Lets the frameworks take offers until the master holds `tasks` tasks (20 s without any new
 * event fails). */
static void run_until_tasks(struct fx *f, struct master *m, struct greedy *const *gs, size_t n,
			    size_t tasks)
{
	while (master_tasks_count(m) < tasks) {
		size_t before = events_total(gs, n);
		unsigned answered = 0;

		for (size_t i = 0; i < n; i++)
			answered += greedy_take(f, m, gs[i]);
		if (answered == 0 && !RUN_UNTIL(f->loop, events_total(gs, n) > before, 20000)) {
			fprintf(stderr, "stuck at %zu tasks (want %zu)\n", master_tasks_count(m),
				tasks);
			ASSERT_TRUE(false);
		}
	}
}

static size_t tasks_of(struct master *m, const char *fid)
{
	size_t n = 0;

	for (struct master_task *t = master_tasks_of(m, fid); t != NULL; t = t->next)
		n++;
	return n;
}

static void update_quota(struct fx *f, struct master *m, const char *configs)
{
	struct hresp r = {0};
	char json[1024];

	snprintf(json, sizeof(json),
		 "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"force\":true,"
		 "\"quota_configs\":[%s]}}",
		 configs);
	api_json(f, m->port, json, &r);
	ASSERT_INT_EQ(r.status, 200);
	hresp_free(&r);
}

/*
 * A master with quota `configs` (set with UPDATE_QUOTA, forced: no agents yet) and `agents`
 * agents of cpus:1;mem:1024, every RunTask taken. With `restart` the quota is set on a master
 * on a replicated log, which is stopped; a new master on that log recovers it and is the one
 * returned (the agents register with it).
 */
static struct master *cluster(struct fx *f, int agents, unsigned *runs, const char *configs,
			      bool restart)
{
	struct master_config c;
	struct master *m;
	Mesos__V1__AgentInfo *info;
	char host[32];

	fx_init(f);
	ASSERT_OK(keel_http_server_route(f->agent, KEEL_HTTP_POST, "/internal/master/run_task",
					 on_run, runs));
	fx_config(f, &c, !restart, restart ? "log" : NULL);
	c.heartbeat_interval_ms = 60000;
	c.allocation_interval_ms = 20;
	c.ping_timeout_ms = 10000; /* a loaded machine must not make agents unreachable */
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	update_quota(f, m, configs);
	if (restart) {
		master_free(m, 0);
		fx_config(f, &c, false, "log");
		c.heartbeat_interval_ms = 60000;
		c.allocation_interval_ms = 20;
		c.ping_timeout_ms = 10000; /* a loaded machine must not make agents unreachable */
		m = fx_master(f, &c);
		fx_wait_leading(f, m);
	}
	info = rich_agent_info("plain");
	for (size_t i = 2; i < info->n_resources; i++)
		keel_pbjson_free(&info->resources[i]->base);
	info->n_resources = 2;
	info->resources[0]->scalar->value = 1;
	for (int i = 0; i < agents; i++) {
		snprintf(host, sizeof(host), "host-%03d", i);
		free(register_agent_info(f, m, host, info));
	}
	keel_pbjson_free(&info->base);
	return m;
}

#define AGENTS 100
#define GUARANTEE 30

/*
 * Role "a" has a guarantee of 30 cpus. A greedy framework of role "b" comes first and takes
 * whatever it is offered: it ends with the other 70, and the 30 stay free for "a" (headroom),
 * whose framework, arriving later, gets all 30.
 */
static void guarantee_honoured(bool restart)
{
	struct fx f;
	struct master *m;
	struct greedy a = {.name = "a"}, b = {.name = "b"};
	struct greedy *both[] = {&a, &b};
	unsigned runs = 0;

	m = cluster(&f, AGENTS, &runs, "{\"role\":\"a\",\"guarantees\":{\"cpus\":{\"value\":30}}}",
		    restart);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"b\",\"role\":\"b\"}", false, &b.s);
	sc_wait_subscribed(&f, &b.s);
	run_until_tasks(&f, m, both + 1, 1, AGENTS - GUARANTEE);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"a\",\"role\":\"a\"}", true, &a.s);
	sc_wait_subscribed(&f, &a.s);
	run_until_tasks(&f, m, both, 2, AGENTS);
	/* Every task reached the agent (a RunTask may be sent again when the machine is slow). */
	ASSERT_TRUE(RUN_UNTIL(f.loop, runs >= AGENTS, 20000));
	fprintf(stderr, "role a (guarantee %d cpus): %zu tasks, role b: %zu tasks\n", GUARANTEE,
		tasks_of(m, a.s.framework_id), tasks_of(m, b.s.framework_id));
	ASSERT_UINT_GE(tasks_of(m, a.s.framework_id), GUARANTEE);
	ASSERT_UINT_EQ(tasks_of(m, b.s.framework_id), AGENTS - GUARANTEE);
	/* b was never offered the cpus held for a. */
	ASSERT_TRUE(b.cpus_offered < AGENTS - GUARANTEE + 0.5);
	sc_close(&a.s);
	sc_close(&b.s);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(quota_guarantee_honoured_against_a_greedy_role)
{
	guarantee_honoured(false);
}

/* The same with the quota set before a restart: the new master's allocator has it. */
TEST(quota_guarantee_honoured_after_a_restart)
{
	guarantee_honoured(true);
}

#define LIMIT_AGENTS 30
#define LIMIT 10

/*
 * Role "l" has a limit of 10 cpus (no guarantee). Its greedy framework, alone on 30 agents,
 * is offered 10 cpus and no more; a framework of another role takes the other 20.
 */
TEST(quota_limit_never_exceeded)
{
	struct fx f;
	struct master *m;
	struct greedy l = {.name = "l"}, o = {.name = "o"};
	struct greedy *both[] = {&l, &o};
	unsigned runs = 0;

	m = cluster(&f, LIMIT_AGENTS, &runs,
		    "{\"role\":\"l\",\"limits\":{\"cpus\":{\"value\":10}}}", false);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"l\",\"role\":\"l\"}", false, &l.s);
	sc_wait_subscribed(&f, &l.s);
	run_until_tasks(&f, m, both, 1, LIMIT);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"o\",\"role\":\"o\"}", false, &o.s);
	sc_wait_subscribed(&f, &o.s);
	run_until_tasks(&f, m, both, 2, LIMIT_AGENTS);
	ASSERT_TRUE(RUN_UNTIL(f.loop, runs >= LIMIT_AGENTS, 20000));
	fprintf(stderr, "role l (limit %d cpus): %zu tasks, offered %.0f cpus; role o: %zu\n",
		LIMIT, tasks_of(m, l.s.framework_id), l.cpus_offered,
		tasks_of(m, o.s.framework_id));
	ASSERT_UINT_EQ(tasks_of(m, l.s.framework_id), LIMIT);
	ASSERT_TRUE(l.cpus_offered < LIMIT + 0.5);
	ASSERT_UINT_EQ(tasks_of(m, o.s.framework_id), LIMIT_AGENTS - LIMIT);
	sc_close(&l.s);
	sc_close(&o.s);
	master_free(m, 0);
	fx_fini(&f);
}
