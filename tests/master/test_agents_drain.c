/* DEACTIVATE_AGENT, REACTIVATE_AGENT and DRAIN_AGENT in process: offers, kills, DRAINING ->
 * DRAINED, mark_gone, the answers Mesos gives, and the state surviving a new leader. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_agent.h"
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
		fake_agent_update(f, m, agent, s->framework_id, ids[i],
				  MESOS__V1__TASK_STATE__TASK_RUNNING, (uint8_t)(10 + i), 202);
}

/* A leader, the fake agent (routes into log) registered as host, a framework subscribed. */
static struct master *setup(struct fx *f, struct fake_agent *log, const char *host, bool protobuf,
			    struct sc_stream *s, char **id)
{
	struct master *m;

	fx_init(f);
	fake_agent_routes(f, log);
	m = start_leader(f, NULL);
	*id = register_rich_agent(f, m, host);
	sc_subscribe(f, m->port, FW_INFO, protobuf, s);
	sc_wait_subscribed(f, s);
	return m;
}

/* An agent ID from an AgentRegistered answer (free()). */
static char *registered_id(struct fx_resp *r)
{
	Keel__Agent__AgentRegistered *ok = fx_registered(r);
	char *id = strdup(ok->agent_id->value);

	ASSERT_NOT_NULL(id);
	keel_pbjson_free(&ok->base);
	return id;
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
	struct fake_agent log;
	Mesos__V1__Master__Response *resp;
	const Mesos__V1__Master__Response__GetAgents__Agent *ag;
	struct master_offer_stats st;
	char *id;
	size_t offers;
	uint64_t cycles;
	json_t *state;

	m = setup(&f, &log, "d1", false, &s, &id);
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
	struct fake_agent log;
	Mesos__V1__Master__Response *resp;
	const Mesos__V1__Master__Response__GetAgents__Agent *ag;
	const Mesos__V1__TaskStatus *st;
	json_t *state, *di;
	char *id;

	m = setup(&f, &log, "d3", false, &s, &id);
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

	fake_agent_update(&f, m, id, s.framework_id, "t1", MESOS__V1__TASK_STATE__TASK_KILLED, 20,
			  202);
	ASSERT_TRUE(RUN_UNTIL(f.loop,
			      update_of(&s, "t1") != NULL &&
				  update_of(&s, "t1")->state == MESOS__V1__TASK_STATE__TASK_KILLED,
			      20000));
	st = update_of(&s, "t1");
	ASSERT_TRUE(st->has_reason);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_DRAINING);
	ASSERT_TRUE(drain_is(m, id, MESOS__V1__DRAIN_STATE__DRAINING));
	/* A second DRAIN while draining changes nothing. */
	fake_agent_update(&f, m, id, s.framework_id, "t2", MESOS__V1__TASK_STATE__TASK_KILLED, 21,
			  202);
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
	struct fake_agent log;
	const Mesos__V1__TaskStatus *st;
	char *id;

	m = setup(&f, &log, "d4", true, &s, &id);
	launch(&f, m, &s, id, ids, 1);
	agent_call(&f, m, "DRAIN_AGENT", id, ",\"mark_gone\":true", 200, "");
	ASSERT_TRUE(RUN_UNTIL(f.loop, log.kill == 1, 20000));
	ASSERT_INT_EQ(log.last_kill_grace, 10000000000); /* no cap: the task's own */
	fake_agent_update(&f, m, id, s.framework_id, "g1", MESOS__V1__TASK_STATE__TASK_KILLED, 30,
			  202);
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
	Mesos__V1__Master__Response *resp;
	const Mesos__V1__Master__Response__GetAgents__Agent *ag;
	char *idle, *busy;

	fx_init(&f);
	m = start_leader(&f, "log");
	fx_register(&f, m->port, "k-idle", &r);
	idle = registered_id(&r);
	fx_register(&f, m->port, "k-busy", &r);
	busy = registered_id(&r);
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
	free(registered_id(&r));
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

/* After a failover the leader learns a task from its agent before its framework subscribes
 * again: draining kills it all the same, and DRAINED follows its end. */
TEST(drain_kills_tasks_of_frameworks_not_subscribed_yet)
{
	struct fx f;
	struct master *m;
	struct fake_agent log;
	struct fx_resp r;
	char *id;

	fx_init(&f);
	fake_agent_routes(&f, &log);
	m = start_leader(&f, "log");
	fx_register(&f, m->port, "k-old", &r);
	id = registered_id(&r);
	master_free(m, 0);

	m = start_leader(&f, "log");
	fake_agent_reregister(&f, m, id, "k-old", "fw-old", "t-old");
	agent_call(&f, m, "DRAIN_AGENT", id, NULL, 200, "");
	ASSERT_TRUE(RUN_UNTIL(f.loop, log.kill == 1, 20000));
	ASSERT_STR_EQ(log.last_kill, "t-old");
	ASSERT_INT_EQ(log.last_kill_grace, -1); /* neither a kill policy nor a cap */
	ASSERT_TRUE(drain_is(m, id, MESOS__V1__DRAIN_STATE__DRAINING));
	fake_agent_update(&f, m, id, "fw-old", "t-old", MESOS__V1__TASK_STATE__TASK_KILLED, 40,
			  202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, drain_is(m, id, MESOS__V1__DRAIN_STATE__DRAINED), 20000));
	ASSERT_UINT_EQ(f.fatal, 0);
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}

static void op_queued(struct registrar *r, int status, void *arg)
{
	(void)r;
	*(int *)arg = status == 0 ? 1 : -1;
}

/* Reads from fd (non-blocking) into buf until an HTTP answer with its body is there. */
static bool answer_in(int fd, char *buf, size_t size, size_t *have)
{
	ssize_t n = recv(fd, buf + *have, size - 1 - *have, MSG_DONTWAIT);
	const char *end;

	if (n > 0)
		*have += (size_t)n;
	buf[*have] = '\0';
	end = strstr(buf, "\r\n\r\n");
	if (end == NULL)
		return false;
	const char *cl = strcasestr(buf, "Content-Length:");
	size_t len = cl != NULL && cl < end ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
	return *have >= (size_t)(end + 4 - buf) + len;
}

/* Another registry change to the agent in flight: 503 (retry); an unreachable agent: 400. */
TEST(busy_and_unreachable_agents_refused)
{
	struct fx f;
	struct master *m;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char req[512], body[256], buf[2048], *id;
	size_t have = 0;
	int fd, queued = 0;

	fx_init(&f);
	m = start_leader(&f, "log");
	id = register_rich_agent(&f, m, "d5");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_TRUE(fd >= 0);
	sa.sin_port = htons(m->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
	/* A first request makes sure the connection is accepted and read. */
	snprintf(req, sizeof(req), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
	ASSERT_TRUE(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	ASSERT_TRUE(RUN_UNTIL(f.loop, answer_in(fd, buf, sizeof(buf), &have), 20000));
	ASSERT_TRUE(strncmp(buf, "HTTP/1.1 200", 12) == 0);

	/* The call is on its way before the registry change is queued, which the replicated log
	 * makes durable no sooner than a later loop turn. */
	snprintf(body, sizeof(body),
		 "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{\"agent_id\":{\"value\":"
		 "\"%s\"}}}",
		 id);
	snprintf(req, sizeof(req),
		 "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	ASSERT_TRUE(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	ASSERT_OK(registrar_update_agent_drain(m->registrar, id, false, NULL, op_queued, &queued));
	have = 0;
	ASSERT_TRUE(RUN_UNTIL(f.loop, answer_in(fd, buf, sizeof(buf), &have), 20000));
	ASSERT_TRUE(strncmp(buf, "HTTP/1.1 503", 12) == 0);
	ASSERT_STR_CONTAINS(buf, "has a registry change in flight");
	ASSERT_TRUE(RUN_UNTIL(f.loop, queued != 0, 20000));
	ASSERT_INT_EQ(queued, 1);
	ASSERT_FALSE(registrar_agent_drain(m->registrar, id, NULL));
	close(fd);

	/* It stops answering pings: unreachable, refused. */
	agent_call(&f, m, "DEACTIVATE_AGENT", id, NULL, 200, "");
	f.ping_mode = FX_FAIL;
	ASSERT_TRUE(RUN_UNTIL(f.loop,
			      registrar_agent_state(m->registrar, id, NULL, NULL) ==
				  REGISTRAR_AGENT_UNREACHABLE,
			      30000));
	ASSERT_FALSE(registrar_agent_drain(m->registrar, id, NULL)); /* cleared with the move */
	agent_call(&f, m, "DRAIN_AGENT", id, NULL, 400, NULL);
	ASSERT_UINT_EQ(f.fatal, 0);
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}
