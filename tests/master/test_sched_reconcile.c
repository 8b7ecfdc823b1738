/* Explicit reconciliation after a master failover, as Mesos's master answers it: nothing for a
 * task that may be on an agent not re-registered yet, then the truth once it is back or once
 * --agent_reregister_timeout marked it unreachable (and after it is marked gone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_agent.h"
#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/registrar.h"
#include "master/tasks.h"
#include "master_fixture.h"
#include "sched_client.h"
#include "test_http_util.h"

#define PA_CAP ",\"capabilities\":[{\"type\":\"PARTITION_AWARE\"}]"

/* A master on the fixture's work dir "m"; reregister_ms: its --agent_reregister_timeout. */
static struct master *start_master(struct fx *f, uint64_t reregister_ms)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, false, "m");
	c.allocation_interval_ms = 20;
	c.heartbeat_interval_ms = 60000;
	c.reregister_timeout_ms = reregister_ms;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

/* Subscribes a framework (PARTITION_AWARE or not) with ID fid, or a new one when fid is "". */
static void subscribe(struct fx *f, struct master *m, bool partition_aware, const char *fid,
		      struct sc_stream *s)
{
	char info[512], id[192] = "";

	if (fid[0] != '\0')
		snprintf(id, sizeof(id), ",\"id\":{\"value\":\"%s\"}", fid);
	snprintf(info, sizeof(info),
		 "{\"user\":\"u\",\"name\":\"r\",\"failover_timeout\":3600%s%s}",
		 partition_aware ? PA_CAP : "", id);
	sc_subscribe(f, m->port, info, false, s);
	sc_wait_subscribed(f, s);
	if (fid[0] != '\0')
		ASSERT_STR_EQ(s->framework_id, fid);
}

/* RECONCILE of tasks given as "task@agent" or "task" (no agent ID); answered 202. */
static void reconcile(struct fx *f, struct master *m, struct sc_stream *s, const char *const *tasks,
		      size_t n)
{
	char json[4096];
	size_t len;

	len = (size_t)snprintf(json, sizeof(json),
			       "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},"
			       "\"reconcile\":{\"tasks\":[",
			       s->framework_id);
	for (size_t i = 0; i < n; i++) {
		const char *at = strchr(tasks[i], '@');
		int tlen = at != NULL ? (int)(at - tasks[i]) : (int)strlen(tasks[i]);
		len += (size_t)snprintf(json + len, sizeof(json) - len,
					"%s{\"task_id\":{\"value\":\"%.*s\"}", i > 0 ? "," : "",
					tlen, tasks[i]);
		if (at != NULL)
			len += (size_t)snprintf(json + len, sizeof(json) - len,
						",\"agent_id\":{\"value\":\"%s\"}", at + 1);
		len += (size_t)snprintf(json + len, sizeof(json) - len, "}");
	}
	snprintf(json + len, sizeof(json) - len, "]}}");
	ASSERT_UINT_LT(len, sizeof(json) - 8);
	sc_call_expect(f, m->port, s, json, 202);
}

/* Asserts task's last update: state, REASON_RECONCILIATION, SOURCE_MASTER, message. */
static void expect_update(const struct sc_stream *s, const char *task, Mesos__V1__TaskState state,
			  const char *message)
{
	const Mesos__V1__TaskStatus *st = sc_update_of(s, task);

	ASSERT_NOT_NULL(st);
	ASSERT_INT_EQ(st->state, state);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION);
	ASSERT_INT_EQ(st->source, MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER);
	ASSERT_FALSE(st->has_uuid);
	ASSERT_STR_EQ(st->message, message);
}

static char *concat(char *buf, size_t size, const char *task, const char *agent)
{
	snprintf(buf, size, "%s@%s", task, agent);
	return buf;
}

/*
 * Two agents admitted, the master fails over, one re-registers at once and one late. Until the
 * late one is back: a task named on it, and a task named without an agent, get no answer (the
 * answers that follow them in the same call arrive, so nothing was sent for them), while a task
 * unknown to the re-registered agent is TASK_GONE. Once it is back: its task is RUNNING, and a
 * task no agent knows is TASK_UNKNOWN.
 */
TEST(reconcile_waits_for_agents_not_reregistered)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *late, *early, fid[128], t1[256], t2[256], t3[256];

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_master(&f, 600000);
	late = register_rich_agent(&f, m, "host-late");
	early = register_rich_agent(&f, m, "host-early");
	subscribe(&f, m, true, "", &s);
	snprintf(fid, sizeof(fid), "%s", s.framework_id);
	sc_close(&s);
	master_free(m, 0);

	m = start_master(&f, 600000);
	ASSERT_UINT_EQ(m->agents.awaiting.count, 2);
	ASSERT_INT_EQ(master_agent_standing(m, late, NULL), MASTER_STANDING_RECOVERED);
	fake_agent_reregister(&f, m, early, "host-early", fid, "on-early");
	ASSERT_INT_EQ(master_agent_standing(m, early, NULL), MASTER_STANDING_REGISTERED);
	ASSERT_INT_EQ(master_agent_standing(m, late, NULL), MASTER_STANDING_RECOVERED);
	subscribe(&f, m, true, fid, &s);
	{
		const char *tasks[] = {concat(t1, sizeof(t1), "on-late", late), "anywhere",
				       concat(t2, sizeof(t2), "ghost", early),
				       concat(t3, sizeof(t3), "on-early", early)};
		reconcile(&f, m, &s, tasks, 4);
	}
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "on-early") != NULL, 20000));
	expect_update(&s, "on-early", MESOS__V1__TASK_STATE__TASK_RUNNING,
		      "Reconciliation: Latest task state");
	expect_update(&s, "ghost", MESOS__V1__TASK_STATE__TASK_GONE,
		      "Reconciliation: Task is unknown to the agent");
	ASSERT_STR_EQ(sc_update_of(&s, "ghost")->agent_id->value, early);
	ASSERT_NULL(sc_update_of(&s, "on-late"));
	ASSERT_NULL(sc_update_of(&s, "anywhere"));
	ASSERT_UINT_EQ(sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 2);

	fake_agent_reregister(&f, m, late, "host-late", fid, "on-late");
	ASSERT_UINT_EQ(m->agents.awaiting.count, 0);
	{
		const char *tasks[] = {concat(t1, sizeof(t1), "on-late", late), "anywhere"};
		reconcile(&f, m, &s, tasks, 2);
	}
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_update_of(&s, "anywhere") != NULL, 20000));
	expect_update(&s, "on-late", MESOS__V1__TASK_STATE__TASK_RUNNING,
		      "Reconciliation: Latest task state");
	expect_update(&s, "anywhere", MESOS__V1__TASK_STATE__TASK_UNKNOWN,
		      "Reconciliation: Task is unknown");
	ASSERT_NULL(sc_update_of(&s, "anywhere")->agent_id);
	sc_close(&s);
	free(late);
	free(early);
	master_free(m, 0);
	fx_fini(&f);
}

/*
 * An agent that never re-registers: once --agent_reregister_timeout has marked it unreachable,
 * its task is TASK_UNREACHABLE with the time it was marked (TASK_LOST for a framework that is not
 * PARTITION_AWARE), a task named without an agent is TASK_UNKNOWN / TASK_LOST; after the
 * operator marks the agent gone, TASK_GONE_BY_OPERATOR / TASK_LOST.
 */
TEST(reconcile_after_the_reregister_timeout_and_gone)
{
	struct fx f;
	struct master *m;
	struct sc_stream pa, old;
	struct fake_agent l;
	struct hresp r = {0};
	char *agent, pa_id[128], old_id[128], t1[256], json[512];
	const Mesos__V1__TaskStatus *st;
	int64_t since = 0;

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_master(&f, 600000);
	agent = register_rich_agent(&f, m, "host-away");
	subscribe(&f, m, true, "", &pa);
	subscribe(&f, m, false, "", &old);
	snprintf(pa_id, sizeof(pa_id), "%s", pa.framework_id);
	snprintf(old_id, sizeof(old_id), "%s", old.framework_id);
	sc_close(&pa);
	sc_close(&old);
	master_free(m, 0);

	/* A short timeout: the test waits for it to have fired, nothing races it. */
	m = start_master(&f, 200);
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, master_agent_standing(m, agent, &since) == MASTER_STANDING_UNREACHABLE, 20000));
	ASSERT_TRUE(RUN_UNTIL(f.loop, m->agents.awaiting.count == 0, 20000));
	ASSERT_TRUE(since > 0);
	subscribe(&f, m, true, pa_id, &pa);
	subscribe(&f, m, false, old_id, &old);
	{
		const char *tasks[] = {concat(t1, sizeof(t1), "away", agent), "nowhere"};
		reconcile(&f, m, &pa, tasks, 2);
		reconcile(&f, m, &old, tasks, 2);
	}
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, sc_update_of(&pa, "nowhere") != NULL && sc_update_of(&old, "nowhere") != NULL,
	    20000));
	expect_update(&pa, "away", MESOS__V1__TASK_STATE__TASK_UNREACHABLE,
		      "Reconciliation: Task is unreachable");
	st = sc_update_of(&pa, "away");
	ASSERT_NOT_NULL(st->unreachable_time);
	ASSERT_INT_EQ(st->unreachable_time->nanoseconds, since);
	ASSERT_STR_EQ(st->agent_id->value, agent);
	expect_update(&old, "away", MESOS__V1__TASK_STATE__TASK_LOST,
		      "Reconciliation: Task is unreachable");
	expect_update(&pa, "nowhere", MESOS__V1__TASK_STATE__TASK_UNKNOWN,
		      "Reconciliation: Task is unknown");
	expect_update(&old, "nowhere", MESOS__V1__TASK_STATE__TASK_LOST,
		      "Reconciliation: Task is unknown");

	snprintf(
	    json, sizeof(json),
	    "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
	    agent);
	api_json(&f, m->port, json, &r);
	ASSERT_INT_EQ(r.status, 200);
	hresp_free(&r);
	ASSERT_INT_EQ(master_agent_standing(m, agent, NULL), MASTER_STANDING_GONE);
	{
		const char *tasks[] = {concat(t1, sizeof(t1), "away", agent)};
		reconcile(&f, m, &pa, tasks, 1);
		reconcile(&f, m, &old, tasks, 1);
	}
	ASSERT_TRUE(RUN_UNTIL(f.loop,
			      sc_update_of(&pa, "away")->state ==
				      MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR &&
				  sc_count(&old, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE) == 3,
			      20000));
	expect_update(&pa, "away", MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR,
		      "Reconciliation: Task is gone");
	ASSERT_NULL(sc_update_of(&pa, "away")->unreachable_time);
	expect_update(&old, "away", MESOS__V1__TASK_STATE__TASK_LOST,
		      "Reconciliation: Task is gone");
	sc_close(&pa);
	sc_close(&old);
	free(agent);
	master_free(m, 0);
	fx_fini(&f);
}
