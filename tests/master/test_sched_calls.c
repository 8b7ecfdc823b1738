/* UPDATE_FRAMEWORK, SHUTDOWN and MESSAGE through the scheduler API in process, the test playing
 * the agent: status codes and texts, the registry first, offers of dropped roles rescinded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/allocator.h"
#include "master/master_int.h"
#include "master/offers.h"
#include "master/registrar.h"
#include "master/sched.h"
#include "master/tasks.h"
#include "fake_agent.h"
#include "master_fixture.h"
#include "runtime/http_server.h"
#include "runtime/pbjson.h"
#include "sched_client.h"
#include "test_http_util.h"

#define FW_INFO                                                                                    \
	"{\"user\":\"alice\",\"name\":\"calls test\",\"roles\":[\"web\"],\"failover_timeout\":60," \
	"\"capabilities\":[{\"type\":\"MULTI_ROLE\"}]}"

static struct master *start_leader(struct fx *f, bool in_memory)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, in_memory, in_memory ? NULL : "m");
	c.heartbeat_interval_ms = 60000;
	c.allocation_interval_ms = 20;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

/* Calls json (each "%s" replaced by the framework ID) and checks status and body text. */
static void call_expect(struct fx *f, struct master *m, struct sc_stream *s, const char *tmpl,
			int status, const char *contains)
{
	struct hresp r = {0};
	char json[4096];
	size_t n = 0;

	for (const char *p = tmpl; *p != '\0' && n + 1 < sizeof(json); p++) {
		if (p[0] == '%' && p[1] == 's') {
			n += (size_t)snprintf(json + n, sizeof(json) - n, "%s", s->framework_id);
			p++;
		} else {
			json[n++] = *p;
		}
	}
	json[n] = '\0';
	sc_call(f, m->port, s, json, &r);
	if (r.status != status || strstr(r.body, contains) == NULL)
		fprintf(stderr, "call %s: got %d '%s'\n", json, r.status, r.body);
	ASSERT_INT_EQ(r.status, status);
	ASSERT_STR_CONTAINS(r.body, contains);
	if (contains[0] == '\0')
		ASSERT_UINT_EQ(r.len, 0);
	hresp_free(&r);
}

static const char *newest_offer_role(const struct sc_stream *s)
{
	const Mesos__V1__Offer *o = sc_newest_offer(s);

	ASSERT_NOT_NULL(o->allocation_info);
	return o->allocation_info->role;
}

#define UPDATE_HEAD "{\"type\":\"UPDATE_FRAMEWORK\",\"framework_id\":{\"value\":\"%s\"},"

/* Invalid updates: 400 with Mesos's text, nothing changes (registry, offers, the stream). */
static const struct {
	const char *what;     /* the case */
	const char *body;     /* the call ("%s": the framework ID) */
	int status;	      /* expected status */
	const char *contains; /* expected text */
} BAD_UPDATES[] = {
    {"no update_framework", "{\"type\":\"UPDATE_FRAMEWORK\",\"framework_id\":{\"value\":\"%s\"}}",
     400, "Failed to validate scheduler::Call: Expecting 'update_framework' to be present"},
    {"ids differ",
     UPDATE_HEAD "\"update_framework\":{\"framework_info\":{\"user\":\"alice\",\"name\":\"n\","
		 "\"id\":{\"value\":\"other\"}}}}",
     400,
     "Failed to validate scheduler::Call: 'framework_id' differs from "
     "'update_framework.framework_info.id'"},
    {"no id in framework_info",
     UPDATE_HEAD "\"update_framework\":{\"framework_info\":{\"user\":\"alice\",\"name\":\"n\"}}}",
     400, "'framework_id' differs from 'update_framework.framework_info.id'"},
    {"user changes",
     UPDATE_HEAD "\"update_framework\":{\"framework_info\":{\"user\":\"bob\",\"name\":\"n\","
		 "\"id\":{\"value\":\"%s\"}}}}",
     400,
     "Updating 'FrameworkInfo.user' is unsupported; attempted to update from 'alice' to 'bob'"},
    {"checkpoint changes",
     UPDATE_HEAD "\"update_framework\":{\"framework_info\":{\"user\":\"alice\",\"name\":\"n\","
		 "\"checkpoint\":true,\"id\":{\"value\":\"%s\"}}}}",
     400,
     "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from 'false' to "
     "'true'"},
    {"principal changes",
     UPDATE_HEAD "\"update_framework\":{\"framework_info\":{\"user\":\"alice\",\"name\":\"n\","
		 "\"principal\":\"p\",\"id\":{\"value\":\"%s\"}}}}",
     400, "Changing framework's principal is not allowed."},
    {"suppressed role not subscribed",
     UPDATE_HEAD "\"update_framework\":{\"framework_info\":{\"user\":\"alice\",\"name\":\"n\","
		 "\"roles\":[\"web\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"}],"
		 "\"id\":{\"value\":\"%s\"}},\"suppressed_roles\":[\"web\",\"db\",\"x\"]}}",
     400, "Suppressed roles { db, x } are not contained in the set of roles"},
};

TEST(update_framework_invalid_changes_nothing)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	uint64_t ops;
	struct registrar_stats st;

	fx_init(&f);
	m = start_leader(&f, true);
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	registrar_get_stats(m->registrar, &st);
	ops = st.operations;
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(BAD_UPDATES); i++) {
		s.protobuf = i % 2 == 1; /* both encodings */
		call_expect(&f, m, &s, BAD_UPDATES[i].body, BAD_UPDATES[i].status,
			    BAD_UPDATES[i].contains);
	}
	s.protobuf = false;
	registrar_get_stats(m->registrar, &st);
	ASSERT_UINT_EQ(st.operations, ops);
	ASSERT_STR_EQ(registrar_framework(m->registrar, s.framework_id)->name, "calls test");
	ASSERT_STR_EQ(master_framework_find(m, s.framework_id)->info->name, "calls test");
	ASSERT_FALSE(s.done);
	sc_close(&s);
	master_free(m, 0);
	fx_fini(&f);
}

/*
 * A valid update: durable before the 200, applied to the framework (name, failover_timeout,
 * roles), the offer of the role it left rescinded and the new role offered; a new leader on the
 * same log has the new FrameworkInfo.
 */
TEST(update_framework_applies_and_survives_failover)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, old_offer[128];
	const Mesos__V1__FrameworkInfo *rec;
	const Mesos__V1__Scheduler__Event *ev;
	struct master_framework *fw;

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_leader(&f, false);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) >= 1, 20000));
	ASSERT_STR_EQ(newest_offer_role(&s), "web");
	snprintf(old_offer, sizeof(old_offer), "%s", sc_newest_offer(&s)->id->value);

	call_expect(&f, m, &s,
		    UPDATE_HEAD "\"update_framework\":{\"framework_info\":{\"user\":\"alice\","
				"\"name\":\"renamed\",\"roles\":[\"db\"],\"failover_timeout\":7,"
				"\"capabilities\":[{\"type\":\"MULTI_ROLE\"}],"
				"\"id\":{\"value\":\"%s\"}}}}",
		    200, "");
	/* Durable and applied when answered. */
	rec = registrar_framework(m->registrar, s.framework_id);
	ASSERT_NOT_NULL(rec);
	ASSERT_STR_EQ(rec->name, "renamed");
	fw = master_framework_find(m, s.framework_id);
	ASSERT_STR_EQ(fw->info->name, "renamed");
	ASSERT_TRUE(fw->info->failover_timeout == 7.0);
	ASSERT_NULL(master_offer_find(m, old_offer));
	/* RESCIND for the "web" offer, then an offer in "db". */
	ASSERT_TRUE(RUN_UNTIL(f.loop, sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND) == 1,
			      20000));
	ev = sc_last(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND);
	ASSERT_STR_EQ(ev->rescind->offer_id->value, old_offer);
	ASSERT_TRUE(RUN_UNTIL(f.loop, strcmp(newest_offer_role(&s), "db") == 0, 20000));
	/* Updating to the same info again is fine (200, still one framework). */
	call_expect(&f, m, &s,
		    UPDATE_HEAD "\"update_framework\":{\"framework_info\":{\"user\":\"alice\","
				"\"name\":\"renamed\",\"roles\":[\"db\"],\"failover_timeout\":7,"
				"\"capabilities\":[{\"type\":\"MULTI_ROLE\"}],"
				"\"id\":{\"value\":\"%s\"}},\"suppressed_roles\":[\"db\"]}}",
		    200, "");
	ASSERT_UINT_EQ(fw->n_suppressed, 1);
	ASSERT_UINT_EQ(registrar_count_frameworks(m->registrar), 1);

	/* A new leader on the same log knows the updated FrameworkInfo. */
	master_free(m, 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, s.done, 20000));
	m = start_leader(&f, false);
	rec = registrar_framework(m->registrar, s.framework_id);
	ASSERT_NOT_NULL(rec);
	ASSERT_STR_EQ(rec->name, "renamed");
	ASSERT_UINT_EQ(rec->n_roles, 1);
	ASSERT_STR_EQ(rec->roles[0], "db");
	ASSERT_UINT_EQ(l.bad, 0);
	free(agent);
	sc_close(&s);
	master_free(m, 0);
	fx_fini(&f);
}

/* Launches one command task named task_id from the newest offer. */
static void launch(struct fx *f, struct master *m, struct sc_stream *s, const char *agent,
		   const char *task_id, const char *executor_json)
{
	char json[4096];
	struct hresp r = {0};

	snprintf(
	    json, sizeof(json),
	    "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
	    "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
	    "\"launch\":{\"task_infos\":[{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},"
	    "\"agent_id\":{\"value\":\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":"
	    "\"SCALAR\",\"scalar\":{\"value\":1}}]%s}]}}],\"filters\":{\"refuse_seconds\":0}}}",
	    s->framework_id, sc_newest_offer(s)->id->value, task_id, task_id, agent, executor_json);
	sc_call(f, m->port, s, json, &r);
	ASSERT_INT_EQ(r.status, 202);
	hresp_free(&r);
}

/* SHUTDOWN: 202; KillTask for each live task of that executor on that agent, and no other. */
TEST(shutdown_kills_the_executors_tasks)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, json[1024];

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_leader(&f, true);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) >= 1, 20000));
	launch(&f, m, &s, agent, "t1", ",\"command\":{\"value\":\"true\"}");
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) >= 2, 20000));
	launch(&f, m, &s, agent, "t2", ",\"command\":{\"value\":\"true\"}");
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.run == 2, 20000));

	/* The command executor of t2 is named t2. */
	snprintf(json, sizeof(json),
		 "{\"type\":\"SHUTDOWN\",\"framework_id\":{\"value\":\"%%s\"},\"shutdown\":{"
		 "\"executor_id\":{\"value\":\"t2\"},\"agent_id\":{\"value\":\"%s\"}}}",
		 agent);
	call_expect(&f, m, &s, json, 202, "");
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.kill == 1, 20000));
	ASSERT_STR_EQ(l.last_kill, "t2");
	/* An executor with no tasks there, and an unknown agent: 202, nothing sent. */
	snprintf(json, sizeof(json),
		 "{\"type\":\"SHUTDOWN\",\"framework_id\":{\"value\":\"%%s\"},\"shutdown\":{"
		 "\"executor_id\":{\"value\":\"nope\"},\"agent_id\":{\"value\":\"%s\"}}}",
		 agent);
	call_expect(&f, m, &s, json, 202, "");
	call_expect(&f, m, &s,
		    "{\"type\":\"SHUTDOWN\",\"framework_id\":{\"value\":\"%s\"},\"shutdown\":{"
		    "\"executor_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":\"ghost\"}}}",
		    202, "");
	call_expect(&f, m, &s, "{\"type\":\"SHUTDOWN\",\"framework_id\":{\"value\":\"%s\"}}", 400,
		    "Failed to validate scheduler::Call: Expecting 'shutdown' to be present");
	/* A MESSAGE round trip is a barrier: the agent got no other kill. */
	snprintf(json, sizeof(json),
		 "{\"type\":\"MESSAGE\",\"framework_id\":{\"value\":\"%%s\"},\"message\":{"
		 "\"executor_id\":{\"value\":\"t1\"},\"agent_id\":{\"value\":\"%s\"},"
		 "\"data\":\"aGk=\"}}",
		 agent);
	call_expect(&f, m, &s, json, 202, "");
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.messages == 1, 20000));
	ASSERT_UINT_EQ(l.kill, 1);
	ASSERT_UINT_EQ(l.bad, 0);
	free(agent);
	sc_close(&s);
	master_free(m, 0);
	fx_fini(&f);
}

/* MESSAGE: 202, forwarded once to the agent with the framework, executor and data. */
TEST(message_is_forwarded_to_the_agent)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, json[1024];

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start_leader(&f, true);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, FW_INFO, true, &s);
	sc_wait_subscribed(&f, &s);
	snprintf(json, sizeof(json),
		 "{\"type\":\"MESSAGE\",\"framework_id\":{\"value\":\"%%s\"},\"message\":{"
		 "\"executor_id\":{\"value\":\"ex-1\"},\"agent_id\":{\"value\":\"%s\"},"
		 "\"data\":\"aGVsbG8=\"}}",
		 agent);
	call_expect(&f, m, &s, json, 202, "");
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.messages == 1, 20000));
	ASSERT_STR_EQ(l.msg_executor, "ex-1");
	ASSERT_STR_EQ(l.msg_data, "hello");
	ASSERT_STR_EQ(l.msg_framework, s.framework_id);
	/* Unknown agent: 202 (Mesos drops it and logs); missing payload: 400. */
	call_expect(&f, m, &s,
		    "{\"type\":\"MESSAGE\",\"framework_id\":{\"value\":\"%s\"},\"message\":{"
		    "\"executor_id\":{\"value\":\"ex-1\"},\"agent_id\":{\"value\":\"ghost\"},"
		    "\"data\":\"aGk=\"}}",
		    202, "");
	call_expect(&f, m, &s, "{\"type\":\"MESSAGE\",\"framework_id\":{\"value\":\"%s\"}}", 400,
		    "Failed to validate scheduler::Call: Expecting 'message' to be present");
	ASSERT_UINT_EQ(l.messages, 1);
	ASSERT_UINT_EQ(l.bad, 0);
	free(agent);
	sc_close(&s);
	master_free(m, 0);
	fx_fini(&f);
}

/* The summed scalar named name in a Role's resources (unreserved and reserved alike). */
static double role_scalar(const Mesos__V1__Role *r, const char *name)
{
	double v = 0;

	for (size_t i = 0; i < r->n_resources; i++)
		if (strcmp(r->resources[i]->name, name) == 0 && r->resources[i]->scalar != NULL)
			v += r->resources[i]->scalar->value;
	return v;
}

/*
 * GET_ROLES and GET_WEIGHTS with --weights=web=3,db=1.5: both weighted roles listed with their
 * weights (sorted), "web" with its framework and the resources its offer holds; a role with
 * only a framework ("*" of a second framework) weighs 1. JSON and protobuf agree.
 */
TEST(get_roles_and_weights)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct sc_stream s, t;
	struct fake_agent l;
	struct hresp r = {0};
	Mesos__V1__Master__Call get = MESOS__V1__MASTER__CALL__INIT;
	Mesos__V1__Master__Response *resp;
	const Mesos__V1__Master__Response__GetRoles *gr;
	json_t *j, *roles;
	char *agent;

	fx_init(&f);
	fake_agent_routes(&f, &l);
	fx_config(&f, &c, true, NULL);
	c.heartbeat_interval_ms = 60000;
	c.allocation_interval_ms = 20;
	c.weights = "web=3,db=1.5";
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	sc_subscribe(&f, m->port, "{\"user\":\"bob\",\"name\":\"star\"}", false, &t);
	sc_wait_subscribed(&f, &t);
	/* The whole agent is on offer: the reserved memory to "web", the rest to either. */
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) >= 1, 20000));
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, allocator_res_empty(allocator_agent_free(master_offers_allocator(m), agent)),
	    20000));

	get.has_type = true;
	get.type = MESOS__V1__MASTER__CALL__TYPE__GET_ROLES;
	api_pb(&f, m->port, &get, &r);
	resp = hpb(&r);
	ASSERT_INT_EQ(resp->type, MESOS__V1__MASTER__RESPONSE__TYPE__GET_ROLES);
	gr = resp->get_roles;
	ASSERT_NOT_NULL(gr);
	ASSERT_UINT_EQ(gr->n_roles, 3);
	ASSERT_STR_EQ(gr->roles[0]->name, "*");
	ASSERT_TRUE(gr->roles[0]->weight == 1.0);
	ASSERT_UINT_EQ(gr->roles[0]->n_frameworks, 1);
	ASSERT_STR_EQ(gr->roles[0]->frameworks[0]->value, t.framework_id);
	ASSERT_STR_EQ(gr->roles[1]->name, "db");
	ASSERT_TRUE(gr->roles[1]->weight == 1.5);
	ASSERT_UINT_EQ(gr->roles[1]->n_frameworks, 0);
	ASSERT_UINT_EQ(gr->roles[1]->n_resources, 0);
	ASSERT_STR_EQ(gr->roles[2]->name, "web");
	ASSERT_TRUE(gr->roles[2]->weight == 3.0);
	ASSERT_UINT_EQ(gr->roles[2]->n_frameworks, 1);
	ASSERT_STR_EQ(gr->roles[2]->frameworks[0]->value, s.framework_id);
	/* The agent is all on offer, between the two roles; its memory reserved for "web" can
	 * only be offered to "web". */
	ASSERT_TRUE(role_scalar(gr->roles[2], "cpus") + role_scalar(gr->roles[0], "cpus") == 4.0);
	ASSERT_TRUE(role_scalar(gr->roles[2], "mem") >= 512.0);
	ASSERT_TRUE(role_scalar(gr->roles[2], "mem") + role_scalar(gr->roles[0], "mem") == 1536.0);
	keel_pbjson_free(&resp->base);

	api_json(&f, m->port, "{\"type\":\"GET_ROLES\"}", &r);
	j = hjson(&r);
	ASSERT_STR_EQ(json_string_value(json_object_get(j, "type")), "GET_ROLES");
	roles = json_object_get(json_object_get(j, "get_roles"), "roles");
	ASSERT_UINT_EQ(json_array_size(roles), 3);
	ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(roles, 2), "name")), "web");
	ASSERT_TRUE(json_number_value(json_object_get(json_array_get(roles, 2), "weight")) == 3.0);
	json_decref(j);

	api_json(&f, m->port, "{\"type\":\"GET_WEIGHTS\"}", &r);
	j = hjson(&r);
	roles = json_object_get(json_object_get(j, "get_weights"), "weight_infos");
	ASSERT_UINT_EQ(json_array_size(roles), 2);
	ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(roles, 0), "role")), "web");
	ASSERT_TRUE(json_number_value(json_object_get(json_array_get(roles, 1), "weight")) == 1.5);
	json_decref(j);
	hresp_free(&r);
	free(agent);
	sc_close(&s);
	sc_close(&t);
	master_free(m, 0);
	fx_fini(&f);
}

/* A --weights value that bypassed the flag parser (a program's own config) fails the start. */
TEST(bad_weights_in_the_config_fail_the_start)
{
	struct fx f;
	struct master_config c;
	struct master *m = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];

	fx_init(&f);
	fx_config(&f, &c, true, NULL);
	c.weights = "web=0";
	ASSERT_OK(master_new(f.loop, &c, &m, errmsg));
	ASSERT_INT_EQ(master_start(m, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "the weight of role 'web' must be a number > 0");
	master_free(m, 0);
	fx_fini(&f);
}
