/* DEACTIVATE_AGENT, REACTIVATE_AGENT and DRAIN_AGENT in process: offers, kills, DRAINING ->
 * DRAINED, mark_gone, the answers Mesos gives, and the state surviving a new leader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_tasks.h"
#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/offers.h"
#include "master/registrar.h"
#include "master_fixture.h"
#include "runtime/pbjson.h"
#include "sched_client.h"
#include "test_http_util.h"

#define FW_INFO                                                                                    \
	"{\"user\":\"alice\",\"name\":\"drain test\",\"capabilities\":[{\"type\":"                 \
	"\"PARTITION_AWARE\"}]}"

static struct master *start_leader(struct fx *f, const char *work)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, work == NULL, work);
	c.heartbeat_interval_ms = 60000;
	c.allocation_interval_ms = 20;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

/* An operator call in JSON; asserts the status and, when text is not NULL, the body. */
static void op_call(struct fx *f, struct master *m, const char *json, int status, const char *text)
{
	struct hresp r = {0};

	api_json(f, m->port, json, &r);
	if (r.status != status)
		fprintf(stderr, "%s -> %d %s\n", json, r.status, r.body);
	ASSERT_INT_EQ(r.status, status);
	if (text != NULL)
		ASSERT_STR_EQ(r.body, text);
	hresp_free(&r);
}

static void agent_call(struct fx *f, struct master *m, const char *type, const char *id,
		       const char *extra, int status, const char *text)
{
	char json[1024], field[64];

	snprintf(field, sizeof(field), "%s", type);
	for (char *p = field; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	snprintf(json, sizeof(json), "{\"type\":\"%s\",\"%s\":{\"agent_id\":{\"value\":\"%s\"}%s}}",
		 type, field, id, extra ? extra : "");
	op_call(f, m, json, status, text);
}

/* GET_AGENTS in protobuf: the one agent (caller frees *resp). */
static const Mesos__V1__Master__Response__GetAgents__Agent *
get_agent(struct fx *f, struct master *m, Mesos__V1__Master__Response **resp)
{
	Mesos__V1__Master__Call get = MESOS__V1__MASTER__CALL__INIT;
	struct hresp r = {0};

	get.has_type = true;
	get.type = MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS;
	api_pb(f, m->port, &get, &r);
	*resp = hpb(&r);
	hresp_free(&r);
	ASSERT_UINT_EQ((*resp)->get_agents->n_agents, 1);
	return (*resp)->get_agents->agents[0];
}

static size_t n_events(const struct sc_stream *s, Mesos__V1__Scheduler__Event__Type type)
{
	return sc_count(s, type);
}

/* The last UPDATE for task, or NULL. */
static const Mesos__V1__TaskStatus *update_of(const struct sc_stream *s, const char *task)
{
	for (size_t i = s->n; i > 0; i--) {
		const Mesos__V1__Scheduler__Event *ev = s->ev[i - 1];
		if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE &&
		    strcmp(ev->update->status->task_id->value, task) == 0)
			return ev->update->status;
	}
	return NULL;
}

/* Launches tasks ids[0..n) (cpus 0.5, kill grace 10 s) on the newest offer; all RUNNING. */
static void launch(struct fx *f, struct master *m, struct sc_stream *s, const char *agent,
		   const char *const *ids, size_t n)
{
	const Mesos__V1__Scheduler__Event *oe;
	char json[8192];
	size_t used;
	struct hresp r = {0};

	ASSERT_TRUE(
	    RUN_UNTIL(f->loop, sc_last(s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS), 20000));
	oe = sc_last(s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
	used = (size_t)snprintf(json, sizeof(json),
				"{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},"
				"\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{"
				"\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[",
				s->framework_id, oe->offers->offers[0]->id->value);
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(
		    json + used, sizeof(json) - used,
		    "%s{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":"
		    "\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{"
		    "\"value\":0.5}}],\"command\":{\"value\":\"sleep 100\"},\"kill_policy\":{"
		    "\"grace_period\":{\"nanoseconds\":10000000000}}}",
		    i ? "," : "", ids[i], ids[i], agent);
	snprintf(json + used, sizeof(json) - used, "]}}]}}");
	sc_call(f, m->port, s, json, &r);
	ASSERT_INT_EQ(r.status, 202);
	hresp_free(&r);
	for (size_t i = 0; i < n; i++)
		ft_update(f, m, agent, s->framework_id, ids[i], MESOS__V1__TASK_STATE__TASK_RUNNING,
			  (uint8_t)(10 + i));
}

static bool drain_is(struct master *m, const char *id, Mesos__V1__DrainState state)
{
	const Mesos__V1__DrainInfo *d = NULL;

	(void)registrar_agent_drain(m->registrar, id, &d);
	return d != NULL && d->state == state;
}

TEST(deactivate_rescinds_offers_and_reactivate_brings_them_back)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct ft_log log;
	Mesos__V1__Master__Response *resp;
	const Mesos__V1__Master__Response__GetAgents__Agent *ag;
	struct master_offer_stats st;
	char *id;
	size_t offers;
	uint64_t cycles;
	json_t *state;

	fx_init(&f);
	ft_routes(&f, &log);
	m = start_leader(&f, NULL);
	id = register_rich_agent(&f, m, "d1");
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, n_events(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) == 1, 20000));

	agent_call(&f, m, "DEACTIVATE_AGENT", id, NULL, 200, "");
	ASSERT_TRUE(registrar_agent_drain(m->registrar, id, NULL));
	ASSERT_TRUE(RUN_UNTIL(f.loop, n_events(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND) == 1,
			      20000));
	/* Cycles run (the rescinded resources came back) and offer nothing. */
	master_offers_stats(m, &st);
	cycles = st.cycles;
	offers = n_events(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
	{
		struct hresp r = {0};
		char json[512];
		snprintf(json, sizeof(json),
			 "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}",
			 s.framework_id);
		sc_call(&f, m->port, &s, json, &r);
		ASSERT_INT_EQ(r.status, 202);
		hresp_free(&r);
	}
	ASSERT_TRUE(RUN_UNTIL(f.loop, (master_offers_stats(m, &st), st.cycles > cycles), 20000));
	ASSERT_UINT_EQ(n_events(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS), offers);

	ag = get_agent(&f, m, &resp);
	ASSERT_TRUE(ag->has_deactivated && ag->deactivated);
	ASSERT_TRUE(ag->drain_info == NULL);
	keel_pbjson_free(&resp->base);
	state = hget_json(&f, m->port, "/state");
	ASSERT_TRUE(json_is_true(
	    json_object_get(json_array_get(json_object_get(state, "slaves"), 0), "deactivated")));
	json_decref(state);

	/* Twice: nothing more to do. */
	agent_call(&f, m, "DEACTIVATE_AGENT", id, NULL, 200, "");
	agent_call(&f, m, "REACTIVATE_AGENT", id, NULL, 200, "");
	ASSERT_FALSE(registrar_agent_drain(m->registrar, id, NULL));
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, n_events(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) > offers, 20000));
	ag = get_agent(&f, m, &resp);
	ASSERT_TRUE(ag->has_deactivated && !ag->deactivated);
	keel_pbjson_free(&resp->base);

	agent_call(&f, m, "REACTIVATE_AGENT", id, NULL, 400, "Agent is not deactivated");
	sc_close(&s);
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(bad_calls_get_mesos_answers)
{
	struct fx f;
	struct master *m;
	char *id;

	fx_init(&f);
	m = start_leader(&f, NULL);
	id = register_rich_agent(&f, m, "d2");
	op_call(&f, m, "{\"type\":\"DRAIN_AGENT\"}", 400,
		"Failed to validate master::Call: Expecting 'drain_agent' to be present");
	op_call(&f, m, "{\"type\":\"DEACTIVATE_AGENT\"}", 400,
		"Failed to validate master::Call: Expecting 'deactivate_agent' to be present");
	op_call(&f, m, "{\"type\":\"REACTIVATE_AGENT\"}", 400,
		"Failed to validate master::Call: Expecting 'reactivate_agent' to be present");
	agent_call(&f, m, "DRAIN_AGENT", "no-such-agent", NULL, 400, "Unknown agent");
	agent_call(&f, m, "DEACTIVATE_AGENT", "no-such-agent", NULL, 400, "Unknown agent");
	agent_call(&f, m, "REACTIVATE_AGENT", "no-such-agent", NULL, 400, "Unknown agent");
	agent_call(&f, m, "DRAIN_AGENT", id, ",\"max_grace_period\":{\"nanoseconds\":-1}", 400,
		   "Negative `max_grace_period` is not allowed");
	ASSERT_FALSE(registrar_agent_drain(m->registrar, id, NULL));
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(drain_kills_tasks_then_drained)
{
	static const char *const ids[] = {"t1", "t2"};
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct ft_log log;
	Mesos__V1__Master__Response *resp;
	const Mesos__V1__Master__Response__GetAgents__Agent *ag;
	const Mesos__V1__TaskStatus *st;
	json_t *state, *di;
	char *id;

	fx_init(&f);
	ft_routes(&f, &log);
	m = start_leader(&f, NULL);
	id = register_rich_agent(&f, m, "d3");
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	launch(&f, m, &s, id, ids, 2);

	agent_call(&f, m, "DRAIN_AGENT", id, ",\"max_grace_period\":{\"nanoseconds\":1000000000}",
		   200, "");
	ASSERT_TRUE(drain_is(m, id, MESOS__V1__DRAIN_STATE__DRAINING));
	ASSERT_TRUE(RUN_UNTIL(f.loop, log.kill == 2, 20000));
	ASSERT_INT_EQ(log.last_kill_grace, 1000000000); /* capped: the tasks asked for 10 s */
	ag = get_agent(&f, m, &resp);
	ASSERT_TRUE(ag->deactivated);
	ASSERT_NOT_NULL(ag->drain_info);
	ASSERT_INT_EQ(ag->drain_info->state, MESOS__V1__DRAIN_STATE__DRAINING);
	ASSERT_INT_EQ(ag->drain_info->config->max_grace_period->nanoseconds, 1000000000);
	ASSERT_FALSE(ag->drain_info->config->mark_gone);
	keel_pbjson_free(&resp->base);
	state = hget_json(&f, m->port, "/state");
	di = json_object_get(json_array_get(json_object_get(state, "slaves"), 0), "drain_info");
	ASSERT_STR_EQ(json_string_value(json_object_get(di, "state")), "DRAINING");
	json_decref(state);

	ft_update(&f, m, id, s.framework_id, "t1", MESOS__V1__TASK_STATE__TASK_KILLED, 20);
	ASSERT_TRUE(RUN_UNTIL(f.loop,
			      update_of(&s, "t1") != NULL &&
				  update_of(&s, "t1")->state == MESOS__V1__TASK_STATE__TASK_KILLED,
			      20000));
	st = update_of(&s, "t1");
	ASSERT_TRUE(st->has_reason);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_DRAINING);
	ASSERT_TRUE(drain_is(m, id, MESOS__V1__DRAIN_STATE__DRAINING));
	/* A second DRAIN while draining changes nothing. */
	ft_update(&f, m, id, s.framework_id, "t2", MESOS__V1__TASK_STATE__TASK_KILLED, 21);
	ASSERT_TRUE(RUN_UNTIL(f.loop, drain_is(m, id, MESOS__V1__DRAIN_STATE__DRAINED), 20000));
	ag = get_agent(&f, m, &resp);
	ASSERT_INT_EQ(ag->drain_info->state, MESOS__V1__DRAIN_STATE__DRAINED);
	keel_pbjson_free(&resp->base);
	/* Drained and not gone: still registered. Draining it again: 200, still DRAINED. */
	ASSERT_NOT_NULL(master_agent_find(m, id));
	agent_call(&f, m, "DRAIN_AGENT", id, NULL, 200, "");
	ASSERT_TRUE(drain_is(m, id, MESOS__V1__DRAIN_STATE__DRAINED));
	agent_call(&f, m, "REACTIVATE_AGENT", id, NULL, 200, "");
	ASSERT_FALSE(drain_is(m, id, MESOS__V1__DRAIN_STATE__DRAINED));
	ASSERT_FALSE(registrar_agent_drain(m->registrar, id, NULL));
	ASSERT_UINT_EQ(f.fatal, 0);
	sc_close(&s);
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(drain_mark_gone_ends_with_the_agent_gone)
{
	static const char *const ids[] = {"g1"};
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct ft_log log;
	const Mesos__V1__TaskStatus *st;
	char *id;

	fx_init(&f);
	ft_routes(&f, &log);
	m = start_leader(&f, NULL);
	id = register_rich_agent(&f, m, "d4");
	sc_subscribe(&f, m->port, FW_INFO, true, &s);
	sc_wait_subscribed(&f, &s);
	launch(&f, m, &s, id, ids, 1);
	agent_call(&f, m, "DRAIN_AGENT", id, ",\"mark_gone\":true", 200, "");
	ASSERT_TRUE(RUN_UNTIL(f.loop, log.kill == 1, 20000));
	ASSERT_INT_EQ(log.last_kill_grace, 10000000000); /* no cap: the task's own */
	ft_update(&f, m, id, s.framework_id, "g1", MESOS__V1__TASK_STATE__TASK_KILLED, 30);
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, registrar_agent_state(m->registrar, id, NULL, NULL) == REGISTRAR_AGENT_GONE,
	    20000));
	st = update_of(&s, "g1");
	ASSERT_NOT_NULL(st);
	ASSERT_INT_EQ(st->state, MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_DRAINING);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.shutdowns >= 1, 20000));
	ASSERT_TRUE(master_agent_find(m, id) == NULL);
	agent_call(&f, m, "REACTIVATE_AGENT", id, NULL, 400, "Unknown agent");
	sc_close(&s);
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}

/* The registry keeps the state: a new leader (a restart on the same log) shows it and applies
 * it when the agent re-registers. */
TEST(drain_state_survives_a_new_leader)
{
	struct fx f;
	struct master *m;
	struct fx_resp r;
	Keel__Agent__AgentRegistered *ok;
	Mesos__V1__Master__Response *resp;
	const Mesos__V1__Master__Response__GetAgents__Agent *ag;
	char *idle, *busy;

	fx_init(&f);
	m = start_leader(&f, "log");
	fx_register(&f, m->port, "k-idle", &r);
	ok = fx_registered(&r);
	idle = strdup(ok->agent_id->value);
	keel_pbjson_free(&ok->base);
	fx_register(&f, m->port, "k-busy", &r);
	ok = fx_registered(&r);
	busy = strdup(ok->agent_id->value);
	keel_pbjson_free(&ok->base);
	agent_call(&f, m, "DRAIN_AGENT", idle, NULL, 200, "");
	ASSERT_TRUE(RUN_UNTIL(f.loop, drain_is(m, idle, MESOS__V1__DRAIN_STATE__DRAINED), 20000));
	agent_call(&f, m, "DEACTIVATE_AGENT", busy, NULL, 200, "");
	master_free(m, 0);

	m = start_leader(&f, "log");
	ASSERT_TRUE(drain_is(m, idle, MESOS__V1__DRAIN_STATE__DRAINED));
	ASSERT_TRUE(registrar_agent_drain(m->registrar, idle, NULL));
	ASSERT_TRUE(registrar_agent_drain(m->registrar, busy, NULL));
	ASSERT_FALSE(drain_is(m, busy, MESOS__V1__DRAIN_STATE__DRAINING));
	fx_reregister(&f, m->port, idle, "k-idle", &r);
	ok = fx_registered(&r);
	keel_pbjson_free(&ok->base);
	ag = get_agent(&f, m, &resp);
	ASSERT_STR_EQ(ag->agent_info->id->value, idle);
	ASSERT_TRUE(ag->deactivated);
	ASSERT_INT_EQ(ag->drain_info->state, MESOS__V1__DRAIN_STATE__DRAINED);
	keel_pbjson_free(&resp->base);
	agent_call(&f, m, "REACTIVATE_AGENT", busy, NULL, 200, "");
	ASSERT_FALSE(registrar_agent_drain(m->registrar, busy, NULL));
	ASSERT_UINT_EQ(f.fatal, 0);
	free(idle);
	free(busy);
	master_free(m, 0);
	fx_fini(&f);
}
