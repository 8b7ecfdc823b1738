/* keel-master's v1 operator API in process: every served call in JSON and protobuf, content
 * negotiation, malformed bodies, 501s, and MARK_AGENT_GONE (durable before answered). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/http_api.h"
#include "master/master_int.h"
#include "master/registrar.h"
#include "master_fixture.h"
#include "runtime/pbjson.h"
#include "test_http_util.h"

/* The flags the test masters report (as keel_flags_json writes them: an object of strings). */
#define FLAGS_JSON "{\"port\":\"5050\",\"registry\":\"in_memory\",\"work_dir\":\"/var/k\\u00e9el\"}"

static struct master *start_leader(struct fx *f, bool in_memory, const char *sub)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, in_memory, sub);
	c.flags_json = (char *)FLAGS_JSON;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

/* Calls type (JSON) and returns the parsed answer, checking its type. */
static json_t *get_json(struct fx *f, struct master *m, const char *call, const char *type)
{
	struct hresp r = {0};
	json_t *j;

	api_json(f, m->port, call, &r);
	j = hjson(&r);
	ASSERT_STR_EQ(hjson_str(j, "type"), type);
	hresp_free(&r);
	return j;
}

TEST(api_get_calls_json)
{
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	json_t *j, *a;
	char *id, pid[64];
	bool elected_found = false;

	fx_init(&f);
	m = start_leader(&f, true, NULL);

	j = get_json(&f, m, "{\"type\":\"GET_HEALTH\"}", "GET_HEALTH");
	ASSERT_TRUE(json_is_true(hjson_at(j, "get_health.healthy")));
	json_decref(j);

	j = get_json(&f, m, "{\"type\":\"GET_VERSION\"}", "GET_VERSION");
	ASSERT_STR_EQ(hjson_str(j, "get_version.version_info.version"), master_build_version());
	ASSERT_UINT_EQ(strlen(hjson_str(j, "get_version.version_info.build_date")), 19);
	ASSERT_TRUE(json_number_value(hjson_at(j, "get_version.version_info.build_time")) > 1e9);
	json_decref(j);

	j = get_json(&f, m, "{\"type\":\"GET_FLAGS\"}", "GET_FLAGS");
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_flags.flags")), 3);
	ASSERT_STR_EQ(hjson_str(j, "get_flags.flags.0.name"), "port");
	ASSERT_STR_EQ(hjson_str(j, "get_flags.flags.0.value"), "5050");
	ASSERT_STR_EQ(hjson_str(j, "get_flags.flags.2.name"), "work_dir");
	ASSERT_STR_EQ(hjson_str(j, "get_flags.flags.2.value"), "/var/k\xc3\xa9"
							       "el");
	json_decref(j);

	j = get_json(&f, m, "{\"type\":\"GET_METRICS\",\"get_metrics\":{}}", "GET_METRICS");
	a = hjson_at(j, "get_metrics.metrics");
	ASSERT_UINT_GT(json_array_size(a), 20);
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *e = json_array_get(a, i);
		if (strcmp(json_string_value(json_object_get(e, "name")), "master/elected") == 0) {
			elected_found = true;
			ASSERT_TRUE(json_number_value(json_object_get(e, "value")) == 1.0);
		}
	}
	ASSERT_TRUE(elected_found);
	json_decref(j);

	j = get_json(&f, m, "{\"type\":\"GET_MASTER\"}", "GET_MASTER");
	ASSERT_STR_EQ(hjson_str(j, "get_master.master_info.id"), m->id);
	snprintf(pid, sizeof(pid), "master@127.0.0.1:%u", m->port);
	ASSERT_STR_EQ(hjson_str(j, "get_master.master_info.pid"), pid);
	ASSERT_INT_EQ(json_integer_value(hjson_at(j, "get_master.master_info.port")), m->port);
	ASSERT_TRUE(json_number_value(hjson_at(j, "get_master.start_time")) > 1e9);
	ASSERT_TRUE(json_number_value(hjson_at(j, "get_master.elected_time")) >=
		    json_number_value(hjson_at(j, "get_master.start_time")));
	json_decref(j);

	/* Nothing registered yet: empty lists are left out, as Mesos leaves them out. */
	j = get_json(&f, m, "{\"type\":\"GET_AGENTS\"}", "GET_AGENTS");
	ASSERT_UINT_EQ(json_object_size(hjson_at(j, "get_agents")), 0);
	json_decref(j);

	id = register_rich_agent(&f, m, "host-a");
	j = get_json(&f, m, "{\"type\":\"GET_AGENTS\"}", "GET_AGENTS");
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_agents.agents")), 1);
	ASSERT_STR_EQ(hjson_str(j, "get_agents.agents.0.agent_info.id.value"), id);
	ASSERT_STR_EQ(hjson_str(j, "get_agents.agents.0.agent_info.hostname"), "host-a");
	ASSERT_TRUE(json_is_true(hjson_at(j, "get_agents.agents.0.active")));
	ASSERT_TRUE(json_is_false(hjson_at(j, "get_agents.agents.0.deactivated")));
	ASSERT_STR_EQ(hjson_str(j, "get_agents.agents.0.version"), "9.9.9");
	snprintf(pid, sizeof(pid), "slave(1)@127.0.0.1:%u", f.agent_port);
	ASSERT_STR_EQ(hjson_str(j, "get_agents.agents.0.pid"), pid);
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_agents.agents.0.total_resources")), 6);
	ASSERT_STR_EQ(hjson_str(j, "get_agents.agents.0.total_resources.0.name"), "cpus");
	ASSERT_TRUE(
	    json_integer_value(hjson_at(j, "get_agents.agents.0.registered_time.nanoseconds")) > 0);
	json_decref(j);

	j = get_json(&f, m, "{\"type\":\"GET_STATE\"}", "GET_STATE");
	ASSERT_STR_EQ(hjson_str(j, "get_state.get_agents.agents.0.agent_info.id.value"), id);
	ASSERT_TRUE(json_is_object(hjson_at(j, "get_state.get_frameworks")));
	ASSERT_TRUE(json_is_object(hjson_at(j, "get_state.get_executors")));
	ASSERT_TRUE(json_is_object(hjson_at(j, "get_state.get_tasks")));
	json_decref(j);
	json_decref(get_json(&f, m, "{\"type\":\"GET_TASKS\"}", "GET_TASKS"));
	json_decref(get_json(&f, m, "{\"type\":\"GET_FRAMEWORKS\"}", "GET_FRAMEWORKS"));
	json_decref(get_json(&f, m, "{\"type\":\"GET_EXECUTORS\"}", "GET_EXECUTORS"));

	/* /master/api/v1 is the same endpoint; no Accept header means JSON. */
	hcall(&f, m->port, "POST", "/master/api/v1", "application/json", NULL,
	      "{\"type\":\"GET_HEALTH\"}", 21, &r);
	j = hjson(&r);
	ASSERT_STR_EQ(hjson_str(j, "type"), "GET_HEALTH");
	json_decref(j);

	hresp_free(&r);
	free(id);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m, 0);
	fx_fini(&f);
}

/* Calls type in protobuf and decodes the answer, checking its type. */
static Mesos__V1__Master__Response *get_pb(struct fx *f, struct master *m,
					   Mesos__V1__Master__Call__Type type,
					   Mesos__V1__Master__Response__Type want)
{
	Mesos__V1__Master__Call call = MESOS__V1__MASTER__CALL__INIT;
	Mesos__V1__Master__Call__GetMetrics gm = MESOS__V1__MASTER__CALL__GET_METRICS__INIT;
	Mesos__V1__Master__Response *resp;
	struct hresp r = {0};

	call.has_type = 1;
	call.type = type;
	if (type == MESOS__V1__MASTER__CALL__TYPE__GET_METRICS)
		call.get_metrics = &gm;
	api_pb(f, m->port, &call, &r);
	resp = hpb(&r);
	ASSERT_TRUE(resp->has_type);
	ASSERT_INT_EQ(resp->type, want);
	hresp_free(&r);
	return resp;
}

TEST(api_get_calls_protobuf)
{
	struct fx f;
	struct master *m;
	Mesos__V1__Master__Response *p;
	char *id;
	bool found = false;

	fx_init(&f);
	m = start_leader(&f, false, "log");
	id = register_rich_agent(&f, m, "host-b");

	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_HEALTH,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_HEALTH);
	ASSERT_NOT_NULL(p->get_health);
	ASSERT_TRUE(p->get_health->healthy);
	keel_pbjson_free(&p->base);

	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_VERSION,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_VERSION);
	ASSERT_STR_EQ(p->get_version->version_info->version, master_build_version());
	keel_pbjson_free(&p->base);

	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_FLAGS,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_FLAGS);
	ASSERT_UINT_EQ(p->get_flags->n_flags, 3);
	ASSERT_STR_EQ(p->get_flags->flags[1]->name, "registry");
	ASSERT_STR_EQ(p->get_flags->flags[1]->value, "in_memory");
	keel_pbjson_free(&p->base);

	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_METRICS,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_METRICS);
	for (size_t i = 0; i < p->get_metrics->n_metrics; i++) {
		if (strcmp(p->get_metrics->metrics[i]->name, "master/slave_registrations") == 0) {
			found = true;
			ASSERT_TRUE(p->get_metrics->metrics[i]->value == 1.0);
		}
	}
	ASSERT_TRUE(found);
	keel_pbjson_free(&p->base);

	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_MASTER,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_MASTER);
	ASSERT_STR_EQ(p->get_master->master_info->id, m->id);
	ASSERT_UINT_EQ(p->get_master->master_info->port, m->port);
	ASSERT_TRUE(p->get_master->has_elected_time);
	keel_pbjson_free(&p->base);

	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_AGENTS);
	ASSERT_UINT_EQ(p->get_agents->n_agents, 1);
	ASSERT_STR_EQ(p->get_agents->agents[0]->agent_info->id->value, id);
	ASSERT_TRUE(p->get_agents->agents[0]->active);
	ASSERT_UINT_EQ(p->get_agents->agents[0]->agent_info->n_attributes, 3);
	keel_pbjson_free(&p->base);

	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_STATE,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_STATE);
	ASSERT_NOT_NULL(p->get_state->get_agents);
	ASSERT_UINT_EQ(p->get_state->get_agents->n_agents, 1);
	ASSERT_STR_EQ(p->get_state->get_agents->agents[0]->agent_info->hostname, "host-b");
	ASSERT_NOT_NULL(p->get_state->get_frameworks);
	ASSERT_UINT_EQ(p->get_state->get_frameworks->n_frameworks, 0);
	ASSERT_NOT_NULL(p->get_state->get_tasks);
	ASSERT_UINT_EQ(p->get_state->get_tasks->n_tasks, 0);
	ASSERT_NOT_NULL(p->get_state->get_executors);
	keel_pbjson_free(&p->base);

	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_TASKS,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_TASKS);
	ASSERT_NOT_NULL(p->get_tasks);
	keel_pbjson_free(&p->base);
	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_FRAMEWORKS,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_FRAMEWORKS);
	ASSERT_NOT_NULL(p->get_frameworks);
	keel_pbjson_free(&p->base);
	p = get_pb(&f, m, MESOS__V1__MASTER__CALL__TYPE__GET_EXECUTORS,
		   MESOS__V1__MASTER__RESPONSE__TYPE__GET_EXECUTORS);
	ASSERT_NOT_NULL(p->get_executors);
	keel_pbjson_free(&p->base);

	free(id);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m, 0);
	fx_fini(&f);
}

/* One call with the given Content-Type and Accept; returns the status and keeps the answer. */
static int negotiate(struct fx *f, struct master *m, const char *ctype, const char *accept,
		     const char *body, struct hresp *r)
{
	hcall(f, m->port, "POST", "/api/v1", ctype, accept, body, strlen(body), r);
	return r->status;
}

TEST(api_content_negotiation)
{
	static const struct {
		const char *accept; /* Accept header, NULL: none */
		int status;	    /* expected status */
		const char *ctype;  /* expected Content-Type of a 200 */
	} cases[] = {
	    {NULL, 200, "application/json"},
	    {"application/json", 200, "application/json"},
	    {"application/x-protobuf", 200, "application/x-protobuf"},
	    {"*/*", 200, "application/json"},
	    {"application/*", 200, "application/json"},
	    {"APPLICATION/X-PROTOBUF", 200, "application/x-protobuf"},
	    /* Mesos tries JSON first, whatever the order in the header. */
	    {"application/x-protobuf, application/json", 200, "application/json"},
	    {"application/json;q=0, application/x-protobuf", 200, "application/x-protobuf"},
	    {"application/json; q=0.0, */*;q=0.5", 200, "application/x-protobuf"},
	    {"text/html, application/json;q=0.1", 200, "application/json"},
	    {"application/json;q=, application/x-protobuf", 200, "application/json"}, /* no q */
	    {"application/json;q=abc", 406, NULL}, /* a q that is not a number refuses */
	    {"text/html", 406, NULL},
	    {"application/json;q=0", 406, NULL},
	    {"", 406, NULL},
	};
	struct fx f;
	struct master *m;
	struct hresp r = {0};

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
		TH_CONTEXT("Accept: %s", cases[i].accept ? cases[i].accept : "(none)");
		ASSERT_INT_EQ(negotiate(&f, m, "application/json", cases[i].accept,
					"{\"type\":\"GET_HEALTH\"}", &r),
			      cases[i].status);
		if (cases[i].status == 200) {
			ASSERT_STR_EQ(r.ctype, cases[i].ctype);
		} else {
			ASSERT_STR_CONTAINS(r.body, "Expecting 'Accept' to allow");
		}
	}
	TH_CONTEXT(NULL);

	/* Content-Type: missing 400, anything but the two exact types 415. */
	ASSERT_INT_EQ(negotiate(&f, m, NULL, NULL, "{\"type\":\"GET_HEALTH\"}", &r), 400);
	ASSERT_STR_EQ(r.body, "Expecting 'Content-Type' to be present");
	ASSERT_INT_EQ(negotiate(&f, m, "text/plain", NULL, "{\"type\":\"GET_HEALTH\"}", &r), 415);
	ASSERT_STR_CONTAINS(r.body, "Expecting 'Content-Type' of application/json or");
	ASSERT_INT_EQ(negotiate(&f, m, "application/json; charset=utf-8", NULL,
				"{\"type\":\"GET_HEALTH\"}", &r),
		      415);
	/* The body is decoded before Accept is looked at (Mesos's order). */
	ASSERT_INT_EQ(negotiate(&f, m, "application/json", "text/html", "{", &r), 400);
	/* Other methods: 405 with Allow. */
	hcall(&f, m->port, "GET", "/api/v1", NULL, NULL, NULL, 0, &r);
	ASSERT_INT_EQ(r.status, 405);
	ASSERT_STR_CONTAINS(r.allow, "POST");

	hresp_free(&r);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(api_malformed_calls_get_400_and_change_nothing)
{
	static const struct {
		const char *ctype; /* Content-Type */
		const char *body;  /* body */
		size_t len;	   /* its length (0: strlen) */
		const char *why;   /* a part of the expected text */
	} cases[] = {
	    {"application/json", "not json", 0, "Failed to convert JSON into Call protobuf"},
	    {"application/json", "", 0, "Failed to convert JSON into Call protobuf"},
	    {"application/json", "[1]", 0, "Failed to convert JSON"},
	    {"application/json", "{\"type\":9}", 0, "Failed to convert JSON"},
	    {"application/json", "{}", 0, "Expecting 'type' to be present"},
	    {"application/json", "{\"type\":\"NO_SUCH_CALL\"}", 0,
	     "Expecting 'type' to be present"},
	    {"application/json", "{\"type\":\"GET_METRICS\"}", 0,
	     "Expecting 'get_metrics' to be present"},
	    {"application/json", "{\"type\":\"MARK_AGENT_GONE\"}", 0,
	     "Expecting 'mark_agent_gone' to be present"},
	    {"application/json", "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{}}", 0,
	     "mark_agent_gone.agent_id"},
	    {"application/json",
	     "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":7}}}", 0,
	     "mark_agent_gone.agent_id.value"},
	    {"application/json", "{\"type\":\"GET_HEALTH\",\"type\":\"GET_FLAGS\"}", 0,
	     "Failed to convert JSON"},
	    {"application/x-protobuf", "\xff\xff\xff\xff", 4, "Failed to parse body into Call"},
	    /* type = 999: not a Call type. */
	    {"application/x-protobuf", "\x08\xe7\x07", 3, "Expecting 'type' to be present"},
	    /* MARK_AGENT_GONE (32) with an empty mark_agent_gone (field 17): agent_id missing. */
	    {"application/x-protobuf", "\x08\x20\x8a\x01\x00", 5, "Failed to parse body into Call"},
	    /* MARK_AGENT_GONE without its payload. */
	    {"application/x-protobuf", "\x08\x20", 2, "Expecting 'mark_agent_gone' to be present"},
	};
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	char *id;
	uint64_t ops;

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	id = register_rich_agent(&f, m, "host-c");
	ops = hreg_stat(m, false);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].body);
		TH_CONTEXT("case %zu: %s", i, cases[i].why);
		hcall(&f, m->port, "POST", "/api/v1", cases[i].ctype, NULL, cases[i].body, len, &r);
		ASSERT_INT_EQ(r.status, 400);
		ASSERT_STR_CONTAINS(r.body, cases[i].why);
		ASSERT_NULL(strchr(r.body, '\n')); /* one line */
	}
	TH_CONTEXT(NULL);
	/* Nothing changed: no registry operation, the agent still registered and active. */
	ASSERT_UINT_EQ(hreg_stat(m, false), ops);
	ASSERT_INT_EQ(registrar_agent_state(m->registrar, id, NULL, NULL),
		      REGISTRAR_AGENT_ADMITTED);
	ASSERT_NOT_NULL(master_agent_find(m, id));
	ASSERT_INT_EQ(master_agent_find(m, id)->state, MASTER_AGENT_ACTIVE);
	ASSERT_UINT_EQ(master_api_inflight(m), 0);
	ASSERT_UINT_EQ(f.shutdowns, 0);

	hresp_free(&r);
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(api_other_calls_get_501)
{
	static const char *const calls[] = {
	    "{\"type\":\"UNKNOWN\"}",
	    "{\"type\":\"GET_LOGGING_LEVEL\"}",
	    "{\"type\":\"GET_MAINTENANCE_STATUS\"}",
	    "{\"type\":\"GET_MAINTENANCE_SCHEDULE\"}",
	};
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	uint64_t ops;

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	ops = hreg_stat(m, false);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(calls); i++) {
		TH_CONTEXT("%s", calls[i]);
		api_json(&f, m->port, calls[i], &r);
		ASSERT_INT_EQ(r.status, 501);
		ASSERT_STR_CONTAINS(r.body, "is not implemented by keel-master");
	}
	TH_CONTEXT(NULL);
	api_json(&f, m->port, "{\"type\":\"GET_LOGGING_LEVEL\"}", &r);
	ASSERT_STR_EQ(r.body, "Call type GET_LOGGING_LEVEL is not implemented by keel-master yet");
	ASSERT_UINT_EQ(hreg_stat(m, false), ops);
	hresp_free(&r);
	master_free(m, 0);
	fx_fini(&f);
}

/* MARK_AGENT_GONE JSON for id. */
static void gone_json(char *out, size_t size, const char *id)
{
	snprintf(
	    out, size,
	    "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
	    id);
}

static void mark_gone_life_cycle(bool in_memory)
{
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	struct fx_resp fr;
	Mesos__V1__Master__Call call = MESOS__V1__MASTER__CALL__INIT;
	Mesos__V1__Master__Call__MarkAgentGone mg = MESOS__V1__MASTER__CALL__MARK_AGENT_GONE__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	char body[256], *id, *id2;
	json_t *snap, *state;
	uint64_t ops;

	fx_init(&f);
	m = start_leader(&f, in_memory, in_memory ? NULL : "log");
	id = register_rich_agent(&f, m, "host-d");
	id2 = register_rich_agent(&f, m, "host-e");

	/* An agent the registry never heard of: 404, and nothing is written. */
	ops = hreg_stat(m, false);
	gone_json(body, sizeof(body), "no-such-agent");
	api_json(&f, m->port, body, &r);
	ASSERT_INT_EQ(r.status, 404);
	ASSERT_STR_EQ(r.body, "Agent 'no-such-agent' not found");
	ASSERT_UINT_EQ(hreg_stat(m, false), ops);

	/* A registered agent: 200 with an empty body, once the registry says gone. */
	gone_json(body, sizeof(body), id);
	api_json(&f, m->port, body, &r);
	ASSERT_INT_EQ(r.status, 200);
	ASSERT_UINT_EQ(r.len, 0);
	ASSERT_INT_EQ(registrar_agent_state(m->registrar, id, NULL, NULL), REGISTRAR_AGENT_GONE);
	ASSERT_UINT_EQ(hreg_stat(m, false), ops + 1);
	ASSERT_NULL(master_agent_find(m, id));
	ASSERT_UINT_EQ(master_api_inflight(m), 0);
	ASSERT_UINT_EQ(master_api_marked_gone(m), 1);
	/* The agent is told to shut down; the other one is untouched. */
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.shutdowns == 1, 5000));
	ASSERT_NOT_NULL(master_agent_find(m, id2));
	snap = hget_json(&f, m->port, "/metrics/snapshot");
	ASSERT_TRUE(metric(snap, "master/slave_removals") == 1);
	ASSERT_TRUE(metric(snap, "master/slaves_active") == 1);
	json_decref(snap);
	state = hget_json(&f, m->port, "/state");
	ASSERT_UINT_EQ(json_array_size(json_object_get(state, "slaves")), 1);
	ASSERT_STR_EQ(hjson_str(state, "slaves.0.id"), id2);
	json_decref(state);

	/* It may never come back... */
	fx_reregister(&f, m->port, id, "host-d", &fr);
	ASSERT_INT_EQ(fr.status, 410);
	/* ...and marking it again is a no-op that answers 200, as in Mesos. */
	ops = hreg_stat(m, false);
	api_json(&f, m->port, body, &r);
	ASSERT_INT_EQ(r.status, 200);
	ASSERT_UINT_EQ(hreg_stat(m, false), ops);

	/* The same call in protobuf. */
	call.has_type = 1;
	call.type = MESOS__V1__MASTER__CALL__TYPE__MARK_AGENT_GONE;
	aid.value = id2;
	mg.agent_id = &aid;
	call.mark_agent_gone = &mg;
	api_pb(&f, m->port, &call, &r);
	ASSERT_INT_EQ(r.status, 200);
	ASSERT_UINT_EQ(r.len, 0);
	ASSERT_INT_EQ(registrar_agent_state(m->registrar, id2, NULL, NULL), REGISTRAR_AGENT_GONE);
	ASSERT_NULL(master_agent_find(m, id2));
	ASSERT_UINT_EQ(master_api_marked_gone(m), 2);

	hresp_free(&r);
	free(id);
	free(id2);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(mark_agent_gone_in_memory)
{
	mark_gone_life_cycle(true);
}

TEST(mark_agent_gone_replicated_log)
{
	mark_gone_life_cycle(false);
}

/* An unreachable agent can be marked gone too; it is not in the table, so nobody is told. */
TEST(mark_agent_gone_unreachable_agent)
{
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	char body[256], *id;

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	id = register_rich_agent(&f, m, "host-f");
	f.ping_mode = FX_FAIL;
	ASSERT_TRUE(RUN_UNTIL(f.loop,
			      registrar_agent_state(m->registrar, id, NULL, NULL) ==
				      REGISTRAR_AGENT_UNREACHABLE &&
				  master_agent_find(m, id) == NULL,
			      10000));
	gone_json(body, sizeof(body), id);
	api_json(&f, m->port, body, &r);
	ASSERT_INT_EQ(r.status, 200);
	ASSERT_INT_EQ(registrar_agent_state(m->registrar, id, NULL, NULL), REGISTRAR_AGENT_GONE);
	ASSERT_UINT_EQ(registrar_count_agents(m->registrar, REGISTRAR_AGENT_UNREACHABLE), 0);
	ASSERT_UINT_EQ(f.shutdowns, 0);
	hresp_free(&r);
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}

/* Three masters, quorum 2. Returns the leader; the others in others[2]. */
static struct master *three_masters(struct fx *f, struct master_config c[3], struct master *m[3])
{
	static char url[256];
	static char sub[3][8];
	uint16_t port[3];

	for (int i = 0; i < 3; i++)
		port[i] = fx_free_port();
	snprintf(url, sizeof(url), "static://127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u", port[0],
		 port[1], port[2]);
	for (int i = 0; i < 3; i++) {
		snprintf(sub[i], sizeof(sub[i]), "m%d", i);
		fx_config(f, &c[i], false, sub[i]);
		c[i].port = port[i];
		c[i].quorum = 2;
		c[i].coord_url = url;
		c[i].coord_static = true;
		c[i].store_timeout_ms = 60000;
		c[i].flags_json = (char *)FLAGS_JSON;
		m[i] = fx_master(f, &c[i]);
	}
	fx_wait_leading(f, m[0]);
	return m[0];
}

/*
 * With the log's quorum gone, a MARK_AGENT_GONE stays in flight: a second one for the same agent
 * gets 503, nothing is visible yet, and the client may leave; once the quorum is back the change
 * is durable and takes effect without anybody to answer.
 */
TEST(mark_agent_gone_in_flight)
{
	struct fx f;
	struct master_config c[3];
	struct master *m[3], *lead;
	struct hresp r1 = {0}, r2 = {0};
	struct keel_http_client *c1;
	char body[256], *id;
	json_t *j;

	fx_init(&f);
	lead = three_masters(&f, c, m);
	id = register_rich_agent(&f, lead, "host-g");
	master_free(m[1], 0);
	master_free(m[2], 0);
	m[1] = m[2] = NULL;

	gone_json(body, sizeof(body), id);
	c1 = hcall_async(&f, lead->port, "POST", "/api/v1", "application/json", NULL, body,
			 strlen(body), &r1);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_api_inflight(lead) == 1, 10000));
	ASSERT_FALSE(r1.done);

	api_json(&f, lead->port, body, &r2);
	ASSERT_INT_EQ(r2.status, 503);
	ASSERT_STR_CONTAINS(r2.body, "is already being transitioned to gone");
	/* Not durable, so not visible: still admitted, registered and listed. */
	ASSERT_INT_EQ(registrar_agent_state(lead->registrar, id, NULL, NULL),
		      REGISTRAR_AGENT_ADMITTED);
	ASSERT_NOT_NULL(master_agent_find(lead, id));
	j = get_json(&f, lead, "{\"type\":\"GET_AGENTS\"}", "GET_AGENTS");
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_agents.agents")), 1);
	json_decref(j);

	/* The client leaves; the operation goes on. */
	keel_http_client_free(c1);
	ASSERT_TRUE(r1.done);
	ASSERT_INT_NE(r1.err, 0);
	ASSERT_UINT_EQ(master_api_inflight(lead), 1);

	/* The quorum comes back: the change is made durable and applied. */
	m[1] = fx_master(&f, &c[1]);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_api_inflight(lead) == 0, 30000));
	ASSERT_INT_EQ(registrar_agent_state(lead->registrar, id, NULL, NULL), REGISTRAR_AGENT_GONE);
	ASSERT_NULL(master_agent_find(lead, id));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.shutdowns == 1, 5000));
	ASSERT_UINT_EQ(master_api_marked_gone(lead), 1);

	hresp_free(&r1);
	hresp_free(&r2);
	free(id);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m[1], 0);
	master_free(lead, 0);
	fx_fini(&f);
}

/* A master stopped while a MARK_AGENT_GONE waits drops it cleanly (no answer, no leak). */
TEST(mark_agent_gone_pending_at_stop)
{
	struct fx f;
	struct master_config c[3];
	struct master *m[3], *lead;
	struct hresp r = {0};
	struct keel_http_client *cl;
	char body[256], *id;

	fx_init(&f);
	lead = three_masters(&f, c, m);
	id = register_rich_agent(&f, lead, "host-h");
	master_free(m[1], 0);
	master_free(m[2], 0);
	gone_json(body, sizeof(body), id);
	cl = hcall_async(&f, lead->port, "POST", "/api/v1", "application/json", NULL, body,
			 strlen(body), &r);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_api_inflight(lead) == 1, 10000));
	master_free(lead, 0);
	/* The connection closes without an answer. */
	ASSERT_TRUE(RUN_UNTIL(f.loop, r.done, 10000));
	ASSERT_INT_NE(r.err, 0);
	keel_http_client_free(cl);
	hresp_free(&r);
	free(id);
	fx_fini(&f);
}

/* A standby master redirects the API to the leader but answers /state and metrics itself. */
TEST(standby_redirects_api_and_serves_state)
{
	struct fx f;
	struct master *a, *b;
	struct hresp r = {0};
	char loc[256], pid[64];
	json_t *j;

	fx_init(&f);
	a = fx_leader_and_standby(&f, &b);

	api_json(&f, b->port, "{\"type\":\"GET_HEALTH\"}", &r);
	ASSERT_INT_EQ(r.status, 307);
	snprintf(loc, sizeof(loc), "//127.0.0.1:%u/api/v1", a->port); /* the core's form */
	ASSERT_STR_CONTAINS(r.location, loc);
	hcall(&f, b->port, "POST", "/master/api/v1", "application/json", NULL, "{", 1, &r);
	ASSERT_INT_EQ(r.status, 307); /* the gate comes before the body is read */

	snprintf(pid, sizeof(pid), "master@127.0.0.1:%u", a->port);
	j = hget_json(&f, b->port, "/state");
	ASSERT_STR_EQ(hjson_str(j, "leader"), pid);
	ASSERT_STR_EQ(hjson_str(j, "id"), b->id);
	ASSERT_NULL(json_object_get(j, "elected_time"));
	json_decref(j);
	j = hget_json(&f, a->port, "/master/state");
	ASSERT_STR_EQ(hjson_str(j, "leader"), pid);
	ASSERT_STR_EQ(hjson_str(j, "leader_info.id"), a->id);
	json_decref(j);
	j = hget_json(&f, b->port, "/metrics/snapshot");
	ASSERT_TRUE(metric(j, "master/elected") == 0);
	ASSERT_TRUE(metric(j, "registrar/log/recovered") == 0);
	json_decref(j);
	j = hget_json(&f, a->port, "/metrics/snapshot");
	ASSERT_TRUE(metric(j, "master/elected") == 1);
	ASSERT_TRUE(metric(j, "registrar/log/recovered") == 1);
	json_decref(j);

	/* A leader still recovering answers 503 (the core's gate). */
	a->state = MASTER_RECOVERING;
	api_json(&f, a->port, "{\"type\":\"GET_HEALTH\"}", &r);
	ASSERT_INT_EQ(r.status, 503);
	a->state = MASTER_LEADING;

	hresp_free(&r);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(b, 0);
	master_free(a, 0);
	fx_fini(&f);
}
