/* DRF through the real master: two frameworks in roles weighted 1 and 3 (--weights) share 100
 * agents, both always accepting: their allocations end 1:3 within a task. */
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

#define AGENTS 100
#define CPUS_PER_AGENT 1 /* one task each: an offer is exactly one task */

/* The agent side: every RunTask is taken (the tasks stay STAGING, holding their resources). */
static void on_run(struct keel_http_req *req, void *arg)
{
	(*(unsigned *)arg)++;
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);
}

/* A framework that takes one task (1 cpu, 1 MB) from every offer and gives the rest back. */
struct taker {
	struct sc_stream s; /* its stream */
	size_t next;	    /* first event not looked at */
	unsigned launched;  /* tasks it launched */
	const char *name;   /* task ID prefix */
};

/* The unreserved, non-revocable cpus of an offer. */
static double offer_cpus(const Mesos__V1__Offer *o)
{
	double v = 0;

	for (size_t i = 0; i < o->n_resources; i++) {
		const Mesos__V1__Resource *r = o->resources[i];
		if (strcmp(r->name, "cpus") == 0 && r->scalar != NULL && r->revocable == NULL &&
		    r->n_reservations == 0)
			v += r->scalar->value;
	}
	return v;
}

/* Answers every new offer of t (one task, or a decline); returns how many it answered. */
static unsigned take(struct fx *f, struct master *m, struct taker *t)
{
	struct hresp r = {0};
	char json[2048];
	unsigned n = 0;

	for (; t->next < t->s.n; t->next++) {
		const Mesos__V1__Scheduler__Event *ev = t->s.ev[t->next];
		if (ev->type != MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
			continue;
		for (size_t i = 0; i < ev->offers->n_offers; i++) {
			const Mesos__V1__Offer *o = ev->offers->offers[i];
			if (offer_cpus(o) < 1) {
				/* Of no use to it (memory and ports only): declined for long. */
				snprintf(json, sizeof(json),
					 "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":"
					 "\"%s\"},\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
					 "\"filters\":{\"refuse_seconds\":3600}}}",
					 t->s.framework_id, o->id->value);
				sc_call(f, m->port, &t->s, json, &r);
				ASSERT_INT_EQ(r.status, 202);
				continue;
			}
			snprintf(
			    json, sizeof(json),
			    "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},"
			    "\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{"
			    "\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{\"name\":\"t\","
			    "\"task_id\":{\"value\":\"%s-%u\"},\"agent_id\":{\"value\":\"%s\"},"
			    "\"command\":{\"value\":\"true\"},\"resources\":[{\"name\":\"cpus\","
			    "\"type\":\"SCALAR\",\"scalar\":{\"value\":1}},{\"name\":\"mem\","
			    "\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}]}}],"
			    "\"filters\":{\"refuse_seconds\":0}}}",
			    t->s.framework_id, o->id->value, t->name, t->launched,
			    o->agent_id->value);
			sc_call(f, m->port, &t->s, json, &r);
			ASSERT_INT_EQ(r.status, 202);
			t->launched++;
			n++;
		}
	}
	hresp_free(&r);
	return n;
}

static size_t tasks_of(struct master *m, const char *fid)
{
	size_t n = 0;

	for (struct master_task *t = master_tasks_of(m, fid); t != NULL; t = t->next)
		n += t->task->state == MESOS__V1__TASK_STATE__TASK_STAGING;
	return n;
}

TEST(weighted_roles_share_one_to_three)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct taker a = {.name = "a"}, b = {.name = "b"};
	unsigned runs = 0;
	char host[32];
	size_t na, nb;
	Mesos__V1__AgentInfo *info;

	fx_init(&f);
	ASSERT_OK(keel_http_server_route(f.agent, KEEL_HTTP_POST, "/internal/master/run_task",
					 on_run, &runs));
	fx_config(&f, &c, true, NULL);
	c.heartbeat_interval_ms = 60000;
	c.allocation_interval_ms = 20;
	c.weights = "one=1,three=3";
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"one\",\"role\":\"one\"}", false,
		     &a.s);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"three\",\"role\":\"three\"}", true,
		     &b.s);
	sc_wait_subscribed(&f, &a.s);
	sc_wait_subscribed(&f, &b.s);
	/* Then the agents, each cpus:1;mem:1024 (no disk or ports: an offer weighs its one
	 * cpu), so that every offer is one task and no framework holds what it will not use. */
	info = rich_agent_info("plain");
	for (size_t i = 2; i < info->n_resources; i++)
		keel_pbjson_free(&info->resources[i]->base);
	info->n_resources = 2;
	info->resources[0]->scalar->value = CPUS_PER_AGENT;
	for (int i = 0; i < AGENTS; i++) {
		snprintf(host, sizeof(host), "host-%03d", i);
		free(register_agent_info(&f, m, host, info));
	}
	/* Both take one task per offer until every cpu runs a task. */
	while (master_tasks_count(m) < AGENTS * CPUS_PER_AGENT) {
		size_t before = a.s.n + b.s.n;
		if (take(&f, m, &a) + take(&f, m, &b) == 0 &&
		    !RUN_UNTIL(f.loop, a.s.n + b.s.n > before, 20000)) {
			fprintf(stderr, "stuck: %zu tasks, launched %u + %u, runs %u\n",
				master_tasks_count(m), a.launched, b.launched, runs);
			ASSERT_TRUE(false);
		}
	}
	keel_pbjson_free(&info->base);
	ASSERT_TRUE(RUN_UNTIL(f.loop, runs == AGENTS * CPUS_PER_AGENT, 20000));
	na = tasks_of(m, a.s.framework_id);
	nb = tasks_of(m, b.s.framework_id);
	fprintf(stderr, "role one (weight 1): %zu tasks, role three (weight 3): %zu tasks\n", na,
		nb);
	ASSERT_UINT_EQ(na + nb, AGENTS * CPUS_PER_AGENT);
	/* 1:3 within one task: 25 and 75. */
	ASSERT_UINT_GE(na, AGENTS / 4 - 1);
	ASSERT_UINT_LE(na, AGENTS / 4 + 1);
	sc_close(&a.s);
	sc_close(&b.s);
	master_free(m, 0);
	fx_fini(&f);
}
