/* Tasks through the scheduler API in process, the test playing the agent: launch, updates, acks,
 * invalid launches, kill, reconcile, teardown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/offers.h"
#include "master/sched.h"
#include "master/tasks.h"
#include "fake_agent.h"
#include "master_fixture.h"
#include "runtime/http_server.h"
#include "runtime/pbjson.h"
#include "sched_client.h"
#include "test_http_util.h"

#define FW_INFO "{\"user\":\"alice\",\"name\":\"tasks test\"}"

static struct master *start_leader(struct fx *f)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, true, NULL);
	c.heartbeat_interval_ms = 60000;
	c.allocation_interval_ms = 20;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

static size_t n_offers(const struct sc_stream *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->ev[i]->type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
			n += s->ev[i]->offers->n_offers;
	return n;
}

static size_t updates_of(const struct sc_stream *s, const char *task)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		const Mesos__V1__Scheduler__Event *ev = s->ev[i];
		n += ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE &&
		     strcmp(ev->update->status->task_id->value, task) == 0;
	}
	return n;
}

/* A TaskInfo JSON object. */
static void task_json(char *out, size_t size, const char *id, const char *agent, double cpus,
		      const char *body)
{
	snprintf(out, size,
		 "{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":\"%s\"},"
		 "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":%g}},"
		 "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":128}}]%s}",
		 id, id, agent, cpus, body);
}

static void do_accept(struct fx *f, struct master *m, struct sc_stream *s, const char *offer,
		      const char *tasks, const char *filters)
{
	char json[8192];

	snprintf(json, sizeof(json),
		 "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
		 "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
		 "\"launch\":{\"task_infos\":[%s]}}]%s}}",
		 s->framework_id, offer, tasks, filters ? filters : "");
	sc_call_expect(f, m->port, s, json, 202);
}

/* /state, GET_TASKS and GET_FRAMEWORKS show the framework and its two STAGING tasks. */
static void check_views(struct fx *f, struct master *m, struct sc_stream *s, const char *agent)
{
	struct hresp r = {0};
	json_t *j, *fws, *tasks;
	Mesos__V1__Master__Response *resp;
	Mesos__V1__Master__Call get = MESOS__V1__MASTER__CALL__INIT;

	j = hget_json(f, m->port, "/state");
	fws = json_object_get(j, "frameworks");
	ASSERT_UINT_EQ(json_array_size(fws), 1);
	ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(fws, 0), "id")),
		      s->framework_id);
	tasks = json_object_get(json_array_get(fws, 0), "tasks");
	ASSERT_UINT_EQ(json_array_size(tasks), 2);
	ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(tasks, 0), "state")),
		      "TASK_STAGING");
	ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(tasks, 0), "slave_id")),
		      agent);
	ASSERT_TRUE(json_real_value(json_object_get(
			json_object_get(json_array_get(tasks, 0), "resources"), "cpus")) == 1.0);
	json_decref(j);

	get.has_type = true;
	get.type = MESOS__V1__MASTER__CALL__TYPE__GET_TASKS;
	api_pb(f, m->port, &get, &r);
	resp = hpb(&r);
	ASSERT_NOT_NULL(resp->get_tasks);
	ASSERT_UINT_EQ(resp->get_tasks->n_tasks, 2);
	keel_pbjson_free(&resp->base);
	get.type = MESOS__V1__MASTER__CALL__TYPE__GET_FRAMEWORKS;
	api_pb(f, m->port, &get, &r);
	resp = hpb(&r);
	ASSERT_NOT_NULL(resp->get_frameworks);
	ASSERT_UINT_EQ(resp->get_frameworks->n_frameworks, 1);
	ASSERT_TRUE(resp->get_frameworks->frameworks[0]->connected);
	ASSERT_STR_EQ(resp->get_frameworks->frameworks[0]->framework_info->id->value,
		      s->framework_id);
	keel_pbjson_free(&resp->base);
	hresp_free(&r);
}

#define CMD ",\"command\":{\"value\":\"true\"}"

TEST(task_life_cycle)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, offer[128], t1[512], t2[512], tasks[2048], json[1024];
	const Mesos__V1__TaskStatus *st;
	struct master_task *t;

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_leader(&f);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, n_offers(&s) == 1, 5000));
	snprintf(offer, sizeof(offer), "%s", sc_newest_offer(&s)->id->value);

	/* Two tasks; the rest comes back at once (refuse_seconds 0). */
	task_json(t1, sizeof(t1), "t1", agent, 1, CMD);
	task_json(t2, sizeof(t2), "t2", agent, 1, CMD);
	snprintf(tasks, sizeof(tasks), "%s,%s", t1, t2);
	do_accept(&f, m, &s, offer, tasks, ",\"filters\":{\"refuse_seconds\":0}");
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.run == 2, 5000));
	ASSERT_UINT_EQ(master_tasks_count(m), 2);
	t = master_task_find(m, s.framework_id, "t1");
	ASSERT_NOT_NULL(t);
	ASSERT_INT_EQ(t->task->state, MESOS__V1__TASK_STATE__TASK_STAGING);
	ASSERT_NULL(master_offer_find(m, offer));
	ASSERT_TRUE(RUN_UNTIL(f.loop, n_offers(&s) == 2, 5000));
	check_views(&f, m, &s, agent);
	/* The offer is used: accepting it again drops the tasks (TASK_LOST, not partition aware).
	 */
	task_json(t1, sizeof(t1), "t3", agent, 1, CMD);
	do_accept(&f, m, &s, offer, t1, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "t3") != NULL, 5000));
	st = sc_update_of(&s, "t3");
	ASSERT_INT_EQ(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS);
	ASSERT_STR_CONTAINS(st->message, "is no longer valid");
	ASSERT_FALSE(st->has_uuid);

	/* RUNNING from the agent: forwarded with its uuid; the ack goes back to the agent. */
	fake_agent_update(&f, m, agent, s.framework_id, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING,
			  7, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "t1") != NULL, 5000));
	st = sc_update_of(&s, "t1");
	ASSERT_INT_EQ(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	ASSERT_TRUE(st->has_uuid && st->uuid.len == 16 && st->uuid.data[0] == 7);
	ASSERT_INT_EQ(t->task->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	snprintf(json, sizeof(json),
		 "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%s\"},\"acknowledge\":{"
		 "\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":\"t1\"},\"uuid\":"
		 "\"BwcHBwcHBwcHBwcHBwcHBw==\"}}",
		 s.framework_id, agent);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.ack == 1, 5000));
	ASSERT_UINT_EQ(l.last_ack_len, 16);
	ASSERT_UINT_EQ(l.last_ack[15], 7);

	/* FINISHED, acknowledged: the task is gone and its resources come back. */
	fake_agent_update(&f, m, agent, s.framework_id, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED,
			  8, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, updates_of(&s, "t1") == 2, 5000));
	snprintf(json, sizeof(json),
		 "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%s\"},\"acknowledge\":{"
		 "\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":\"t1\"},\"uuid\":"
		 "\"CAgICAgICAgICAgICAgICA==\"}}",
		 s.framework_id, agent);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.ack == 2, 5000));
	ASSERT_NULL(master_task_find(m, s.framework_id, "t1"));
	ASSERT_UINT_EQ(master_tasks_count(m), 1);

	/* Reconcile: implicit gives t2 (STAGING), explicit of an unknown task gives TASK_LOST. */
	snprintf(json, sizeof(json),
		 "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{}}",
		 s.framework_id);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "t2") != NULL, 5000));
	st = sc_update_of(&s, "t2");
	ASSERT_INT_EQ(st->state, MESOS__V1__TASK_STATE__TASK_STAGING);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION);
	ASSERT_FALSE(st->has_uuid);
	snprintf(json, sizeof(json),
		 "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{"
		 "\"tasks\":[{\"task_id\":{\"value\":\"ghost\"}}]}}",
		 s.framework_id);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "ghost") != NULL, 5000));
	ASSERT_INT_EQ(sc_update_of(&s, "ghost")->state, MESOS__V1__TASK_STATE__TASK_LOST);

	/* KILL: a known task goes to the agent; an unknown one is answered by the master. */
	snprintf(json, sizeof(json),
		 "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%s\"},\"kill\":{\"task_id\":{"
		 "\"value\":\"t2\"}}}",
		 s.framework_id);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.kill == 1, 5000));
	ASSERT_STR_EQ(l.last_kill, "t2");
	snprintf(json, sizeof(json),
		 "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%s\"},\"kill\":{\"task_id\":{"
		 "\"value\":\"nope\"}}}",
		 s.framework_id);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "nope") != NULL, 5000));
	ASSERT_INT_EQ(sc_update_of(&s, "nope")->state, MESOS__V1__TASK_STATE__TASK_LOST);

	/* The Mesos metric names follow. */
	{
		json_t *snap = hget_json(&f, m->port, "/metrics/snapshot");
		ASSERT_TRUE(metric(snap, "master/tasks_finished") == 1);
		ASSERT_TRUE(metric(snap, "master/tasks_staging") == 1); /* t2 */
		ASSERT_TRUE(metric(snap, "master/tasks_launched") == 2);
		ASSERT_TRUE(metric(snap, "master/frameworks_active") == 1);
		ASSERT_TRUE(metric(snap, "allocator/mesos/allocation_runs") >= 1);
		ASSERT_TRUE(metric(snap, "master/outstanding_offers") >= 1);
		json_decref(snap);
	}
	/* An update from an unknown agent: 503 (it should re-register). */
	fake_agent_update(&f, m, "no-such-agent", s.framework_id, "t2",
			  MESOS__V1__TASK_STATE__TASK_RUNNING, 9, 503);

	/* TEARDOWN: ShutdownFramework to the agent, tasks forgotten. */
	snprintf(json, sizeof(json), "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"%s\"}}",
		 s.framework_id);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.shutdown_fw == 1, 5000));
	ASSERT_UINT_EQ(master_tasks_count(m), 0);
	ASSERT_UINT_EQ(l.bad, 0);
	sc_close(&s);
	free(agent);
	master_free(m, 0);
	fx_fini(&f);
}

/* Invalid tasks get TASK_ERROR with Mesos's reason; valid ones in the same ACCEPT launch. */
TEST(invalid_launches)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, offer[128], t[6][512], tasks[4096], json[2048];

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_leader(&f);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port,
		     "{\"user\":\"u\",\"name\":\"pa\",\"capabilities\":[{\"type\":"
		     "\"PARTITION_AWARE\"}]}",
		     true, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, n_offers(&s) == 1, 5000));
	snprintf(offer, sizeof(offer), "%s", sc_newest_offer(&s)->id->value);

	task_json(t[0], sizeof(t[0]), "ok", agent, 1, CMD);
	task_json(t[1], sizeof(t[1]), "ok", agent, 1, CMD); /* duplicate ID */
	task_json(t[2], sizeof(t[2]), "nocmd", agent, 1, "");
	task_json(t[3], sizeof(t[3]), "big", agent, 100, CMD);
	task_json(t[4], sizeof(t[4]), "elsewhere", "other-agent", 1, CMD);
	snprintf(tasks, sizeof(tasks), "%s,%s,%s,%s,%s", t[0], t[1], t[2], t[3], t[4]);
	do_accept(&f, m, &s, offer, tasks, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.run == 1, 5000));
	ASSERT_STR_EQ(l.last_run_task, "ok");
	ASSERT_TRUE(RUN_UNTIL(f.loop,
			      sc_update_of(&s, "nocmd") && sc_update_of(&s, "big") &&
				  sc_update_of(&s, "elsewhere") && sc_update_of(&s, "ok"),
			      5000));
	ASSERT_STR_CONTAINS(sc_update_of(&s, "ok")->message, "duplicate ID");
	ASSERT_STR_CONTAINS(sc_update_of(&s, "nocmd")->message, "CommandInfo or ExecutorInfo");
	ASSERT_STR_CONTAINS(sc_update_of(&s, "big")->message, "more resources");
	ASSERT_STR_CONTAINS(sc_update_of(&s, "elsewhere")->message, "invalid agent");
	ASSERT_INT_EQ(sc_update_of(&s, "big")->state, MESOS__V1__TASK_STATE__TASK_ERROR);
	ASSERT_INT_EQ(sc_update_of(&s, "big")->reason,
		      MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
	ASSERT_UINT_EQ(master_tasks_count(m), 1);

	/* Invalid offers for a PARTITION_AWARE framework: TASK_DROPPED. */
	task_json(t[5], sizeof(t[5]), "late", agent, 1, CMD);
	do_accept(&f, m, &s, "bogus-offer", t[5], NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "late") != NULL, 5000));
	ASSERT_INT_EQ(sc_update_of(&s, "late")->state, MESOS__V1__TASK_STATE__TASK_DROPPED);

	/* RESERVE: not supported yet, nothing changes. */
	snprintf(json, sizeof(json),
		 "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
		 "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"RESERVE\","
		 "\"reserve\":{}}]}}",
		 s.framework_id, offer);
	{
		struct hresp r = {0};
		sc_call(&f, m->port, &s, json, &r);
		ASSERT_INT_EQ(r.status, 501);
		ASSERT_STR_CONTAINS(r.body, "Operation RESERVE is not supported");
		hresp_free(&r);
	}
	ASSERT_UINT_EQ(l.bad, 0);
	sc_close(&s);
	free(agent);
	master_free(m, 0);
	fx_fini(&f);
}

/*
 * After a failover the new leader learns tasks from ReregisterAgent: the framework re-subscribes
 * with its ID, reconciliation reports the task RUNNING, and its cpus are not offered again.
 */
TEST(tasks_learned_from_reregistration_after_failover)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, fid[128], info[256], json[512];
	const Mesos__V1__TaskStatus *st;
	const Mesos__V1__Offer *o;
	double cpus = 0;

	fx_init(&f);
	fake_agent_routes(&f, &l);
	fx_config(&f, &c, false, "m");
	c.allocation_interval_ms = 20;
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":3600}",
		     false, &s);
	sc_wait_subscribed(&f, &s);
	snprintf(fid, sizeof(fid), "%s", s.framework_id);
	sc_close(&s);
	master_free(m, 0);

	fx_config(&f, &c, false, "m");
	c.allocation_interval_ms = 20;
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	fake_agent_reregister(&f, m, agent, "host-one", fid, "survivor");
	ASSERT_NOT_NULL(master_task_find(m, fid, "survivor"));
	snprintf(info, sizeof(info),
		 "{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":3600,\"id\":{\"value\":"
		 "\"%s\"}}",
		 fid);
	sc_subscribe(&f, m->port, info, false, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_STR_EQ(s.framework_id, fid);
	snprintf(json, sizeof(json),
		 "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{}}",
		 fid);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "survivor") != NULL, 5000));
	st = sc_update_of(&s, "survivor");
	ASSERT_INT_EQ(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION);
	ASSERT_TRUE(RUN_UNTIL(f.loop, n_offers(&s) >= 1, 5000));
	o = sc_newest_offer(&s);
	for (size_t i = 0; i < o->n_resources; i++)
		if (strcmp(o->resources[i]->name, "cpus") == 0)
			cpus += o->resources[i]->scalar->value;
	ASSERT_TRUE(cpus > 2.99 && cpus < 3.01); /* 4 minus the survivor's 1 */
	sc_close(&s);
	free(agent);
	master_free(m, 0);
	fx_fini(&f);
}

/*
 * A partitioned agent: its task is reported TASK_LOST (the framework is not PARTITION_AWARE);
 * when the agent re-registers reporting it RUNNING, reconciliation says RUNNING again.
 */
TEST(partitioned_agent_tasks_lost_then_reconciled_truthfully)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, offer[128], t1[512], json[512];

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_leader(&f);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, n_offers(&s) == 1, 5000));
	snprintf(offer, sizeof(offer), "%s", sc_newest_offer(&s)->id->value);
	task_json(t1, sizeof(t1), "p1", agent, 1, CMD);
	do_accept(&f, m, &s, offer, t1, NULL);
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.run == 1, 5000));
	fake_agent_update(&f, m, agent, s.framework_id, "p1", MESOS__V1__TASK_STATE__TASK_RUNNING,
			  3, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "p1") != NULL, 5000));

	f.ping_mode = FX_FAIL;
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, sc_update_of(&s, "p1")->state == MESOS__V1__TASK_STATE__TASK_LOST, 10000));
	ASSERT_INT_EQ(sc_update_of(&s, "p1")->reason,
		      MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_agent_find(m, agent) == NULL, 10000));

	f.ping_mode = FX_PONG;
	fake_agent_reregister(&f, m, agent, "host-one", s.framework_id, "p1");
	ASSERT_TRUE(RUN_UNTIL(f.loop,
			      master_task_find(m, s.framework_id, "p1")->task->state ==
				  MESOS__V1__TASK_STATE__TASK_RUNNING,
			      10000));
	snprintf(json, sizeof(json),
		 "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{"
		 "\"tasks\":[{\"task_id\":{\"value\":\"p1\"}}]}}",
		 s.framework_id);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop,
			      sc_update_of(&s, "p1")->reason ==
				  MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION,
			      5000));
	ASSERT_INT_EQ(sc_update_of(&s, "p1")->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	sc_close(&s);
	free(agent);
	master_free(m, 0);
	fx_fini(&f);
}

/*
 * A RunTask the agent refuses (503) is resent until it answers 202; and a task
 * whose key does not fit master_task_find's stack buffer is found all the
 * same, its latest status (the decoded update, kept without a copy) answering
 * reconciliation.
 */
TEST(agent_message_retried_and_long_task_id)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, offer[128], id[301], t1[2048], json[2048];
	const Mesos__V1__TaskStatus *st;
	struct master_task *t;
	struct master_task_stats stats;

	fx_init(&f);
	fake_agent_routes(&f, &l);
	l.fail_run = 2;
	m = start_leader(&f);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, n_offers(&s) == 1, 5000));
	snprintf(offer, sizeof(offer), "%s", sc_newest_offer(&s)->id->value);
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	task_json(t1, sizeof(t1), id, agent, 1, CMD);
	do_accept(&f, m, &s, offer, t1, NULL);
	/* Two refusals, then the third try lands (100 ms, then 200 ms later). */
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.run == 1, 20000));
	ASSERT_UINT_EQ(l.refused_run, 2);
	ASSERT_TRUE(l.last_run_task[0] == 'x'); /* (cut to the log's 63 characters) */
	master_tasks_stats(m, &stats);
	ASSERT_UINT_EQ(stats.agent_messages, 3);
	ASSERT_UINT_EQ(stats.launched, 1);

	t = master_task_find(m, s.framework_id, id);
	ASSERT_NOT_NULL(t);
	ASSERT_NULL(t->last);
	fake_agent_update(&f, m, agent, s.framework_id, id, MESOS__V1__TASK_STATE__TASK_RUNNING, 9,
			  202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, id) != NULL, 5000));
	ASSERT_INT_EQ(t->task->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	ASSERT_NOT_NULL(t->last);
	ASSERT_INT_EQ(t->last->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	ASSERT_TRUE(t->last->has_uuid && t->last->uuid.len == 16 && t->last->uuid.data[0] == 9);
	ASSERT_STR_EQ(t->last->task_id->value, id);
	snprintf(json, sizeof(json),
		 "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{"
		 "\"tasks\":[{\"task_id\":{\"value\":\"%s\"}}]}}",
		 s.framework_id, id);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, updates_of(&s, id) == 2, 5000));
	st = sc_update_of(&s, id);
	ASSERT_INT_EQ(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION);
	ASSERT_INT_EQ(st->source, MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER);
	ASSERT_FALSE(st->has_uuid);
	ASSERT_UINT_EQ(l.bad, 0);
	sc_close(&s);
	free(agent);
	master_free(m, 0);
	fx_fini(&f);
}

/*
 * LAUNCH_GROUP: one RunTask with the group and its executor; the master's
 * Tasks (their fields moved out of the decoded call) keep name, IDs, executor
 * ID, labels, kill policy, resources and user, and the views show them.
 */
TEST(launch_group_tasks_keep_their_fields)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, offer[128], json[4096];
	struct master_task *t;

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_leader(&f);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, FW_INFO, true, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, n_offers(&s) == 1, 5000));
	snprintf(offer, sizeof(offer), "%s", sc_newest_offer(&s)->id->value);
	snprintf(
	    json, sizeof(json),
	    "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
	    "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH_GROUP\","
	    "\"launch_group\":{\"executor\":{\"type\":\"DEFAULT\",\"executor_id\":{\"value\":"
	    "\"e1\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{"
	    "\"value\":0.5}}]},\"task_group\":{\"tasks\":["
	    "{\"name\":\"g-one\",\"task_id\":{\"value\":\"g1\"},\"agent_id\":{\"value\":\"%s\"},"
	    "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}],"
	    "\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]},"
	    "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":5}}},"
	    "{\"name\":\"g-two\",\"task_id\":{\"value\":\"g2\"},\"agent_id\":{\"value\":\"%s\"},"
	    "\"resources\":[{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]}"
	    "]}}}]}}",
	    s.framework_id, offer, agent, agent);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.run == 1, 5000));
	ASSERT_UINT_EQ(l.last_group_n, 2);
	ASSERT_STR_EQ(l.last_executor, "e1");
	ASSERT_UINT_EQ(master_tasks_count(m), 2);

	t = master_task_find(m, s.framework_id, "g1");
	ASSERT_NOT_NULL(t);
	ASSERT_STR_EQ(t->task->name, "g-one");
	ASSERT_STR_EQ(t->task->task_id->value, "g1");
	ASSERT_STR_EQ(t->task->agent_id->value, agent);
	ASSERT_STR_EQ(t->task->framework_id->value, s.framework_id);
	ASSERT_STR_EQ(t->task->user, "alice");
	ASSERT_NOT_NULL(t->task->executor_id);
	ASSERT_STR_EQ(t->task->executor_id->value, "e1");
	ASSERT_INT_EQ(t->task->state, MESOS__V1__TASK_STATE__TASK_STAGING);
	ASSERT_UINT_EQ(t->task->n_resources, 1);
	ASSERT_STR_EQ(t->task->resources[0]->name, "cpus");
	ASSERT_NOT_NULL(t->task->labels);
	ASSERT_UINT_EQ(t->task->labels->n_labels, 1);
	ASSERT_STR_EQ(t->task->labels->labels[0]->key, "k");
	ASSERT_NOT_NULL(t->task->kill_policy);
	ASSERT_NOT_NULL(t->task->kill_policy->grace_period);
	t = master_task_find(m, s.framework_id, "g2");
	ASSERT_NOT_NULL(t);
	ASSERT_STR_EQ(t->task->name, "g-two");
	ASSERT_STR_EQ(t->task->executor_id->value, "e1");
	ASSERT_NULL(t->task->labels);
	ASSERT_UINT_EQ(t->task->n_resources, 1);
	ASSERT_STR_EQ(t->task->resources[0]->name, "mem");
	{
		json_t *j = hget_json(&f, m->port, "/state");
		json_t *tasks =
		    json_object_get(json_array_get(json_object_get(j, "frameworks"), 0), "tasks");
		ASSERT_UINT_EQ(json_array_size(tasks), 2);
		json_decref(j);
	}
	ASSERT_UINT_EQ(l.bad, 0);
	sc_close(&s);
	free(agent);
	master_free(m, 0);
	fx_fini(&f);
}
