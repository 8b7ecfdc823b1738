/* The operator API's quota and weight calls in process: every status code and text (a table),
 * UPDATE_QUOTA / SET_QUOTA / REMOVE_QUOTA / GET_QUOTA / UPDATE_WEIGHTS in JSON and protobuf,
 * durable before answered, and kept across a restart of the master on its replicated log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/http_api.h"
#include "master/master_int.h"
#include "master/quota.h"
#include "master/registrar.h"
#include "master_fixture.h"
#include "runtime/pbjson.h"
#include "test_http_util.h"

static struct master *start(struct fx *f, bool in_memory, const char *sub, const char *weights)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, in_memory, sub);
	c.weights = (char *)weights;
	c.ping_timeout_ms = 10000; /* the capacity checks count the agent: it must stay */
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

/* One call and what it must get. */
struct quota_case {
	const char *body;   /* the JSON Call */
	int status;	    /* expected status */
	const char *text;   /* expected body (exact), or NULL */
	const char *substr; /* expected within the body, or NULL */
};

#define UQ(configs) "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[" configs "]}}"
#define UW(infos) "{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":[" infos "]}}"
#define SQ(req) "{\"type\":\"SET_QUOTA\",\"set_quota\":{\"quota_request\":" req "}}"

static const struct quota_case cases[] = {
    /* Call validation. */
    {"{\"type\":\"UPDATE_QUOTA\"}", 400,
     "Failed to validate master::Call: Expecting 'update_quota' to be present", NULL},
    {"{\"type\":\"SET_QUOTA\"}", 400,
     "Failed to validate master::Call: Expecting 'set_quota' to be present", NULL},
    {"{\"type\":\"REMOVE_QUOTA\"}", 400,
     "Failed to validate master::Call: Expecting 'remove_quota' to be present", NULL},
    {"{\"type\":\"UPDATE_WEIGHTS\"}", 400,
     "Failed to validate master::Call: Expecting 'update_weights' to be present", NULL},
    {"{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"quota_configs\":[{}]}}", 400, NULL,
     "Failed to convert JSON into Call protobuf"},
    /* QuotaConfig validation. */
    {UQ("{\"role\":\"\"}"), 400,
     "Invalid QuotaConfig: Invalid 'QuotaConfig.role': Empty role name is invalid", NULL},
    {UQ("{\"role\":\"*\",\"guarantees\":{\"cpus\":{\"value\":1}}}"), 400,
     "Invalid QuotaConfig: Invalid 'QuotaConfig.role': setting quota for the default '*' "
     "role is not supported",
     NULL},
    {UQ("{\"role\":\"..\"}"), 400, NULL, "Role '..' cannot be '.' or '..'"},
    {UQ("{\"role\":\"-x\"}"), 400, NULL, "Role '-x' cannot start with '-'"},
    {UQ("{\"role\":\"a b\"}"), 400, NULL, "cannot contain whitespace"},
    {UQ("{\"role\":\"a/b\"}"), 400, NULL, "hierarchical roles are not supported by keel"},
    {UQ("{\"role\":\"dev\",\"guarantees\":{\"cpus\":{\"value\":2}},"
	"\"limits\":{\"cpus\":{\"value\":1}}}"),
     400,
     "Invalid QuotaConfig: 'QuotaConfig.guarantees' cpus:2 is not contained within the "
     "'QuotaConfig.limits' cpus:1",
     NULL},
    {UQ("{\"role\":\"dev\",\"guarantees\":{\"cpus\":{\"value\":-1}}}"), 400,
     "Invalid QuotaConfig: Invalid 'QuotaConfig.guarantees': negative or non-finite value -1 "
     "for 'cpus'",
     NULL},
    {UQ("{\"role\":\"dev\",\"limits\":{\"ports\":{\"value\":10}}}"), 400,
     "Invalid QuotaConfig: Invalid 'QuotaConfig.limits': quota is not supported for the "
     "non-scalar resource 'ports'",
     NULL},
    {UQ("{\"role\":\"dev\",\"limits\":{\"c;d\":{\"value\":1}}}"), 400,
     "Invalid QuotaConfig: Invalid 'QuotaConfig.limits': invalid resource name 'c;d'", NULL},
    {UQ("{\"role\":\"dev\",\"limits\":{\"cpus\":{\"value\":1e300}}}"), 400, NULL, "is too large"},
    {UQ("{\"role\":\"dev\"},{\"role\":\"dev\"}"), 400, NULL, "appears more than once"},
    /* The capacity heuristic: the one agent has cpus:4 (and 2 revocable, not counted). */
    {UQ("{\"role\":\"dev\",\"guarantees\":{\"cpus\":{\"value\":5}}}"), 400,
     "Total quota guarantees 'cpus:5' exceed cluster capacity 'cpus:4; mem:1536; disk:100' "
     "(use 'force' flag to bypass this check)",
     NULL},
    {UQ("{\"role\":\"dev\",\"guarantees\":{\"gpus\":{\"value\":1}}}"), 400, NULL,
     "exceed cluster capacity"},
    /* SET_QUOTA (deprecated). */
    {SQ("{\"role\":\"*\",\"guarantee\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	"\"scalar\":{\"value\":1}}]}"),
     400, NULL, "Failed to validate set quota request: Invalid role '*'"},
    {SQ("{\"guarantee\":[]}"), 400,
     "Failed to validate set quota request: Field 'role' is not set in the QuotaRequest", NULL},
    {SQ("{\"role\":\"dev\",\"guarantee\":[{\"name\":\"ports\",\"type\":\"RANGES\","
	"\"ranges\":{\"range\":[{\"begin\":1,\"end\":2}]}}]}"),
     400, "Failed to validate set quota request: Quota request with non-scalar resource 'ports'",
     NULL},
    {SQ("{\"role\":\"dev\",\"guarantee\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	"\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"STATIC\",\"role\":\"dev\"}]}]}"),
     400, "Failed to validate set quota request: Quota request with reserved resource 'cpus'",
     NULL},
    {SQ("{\"role\":\"dev\",\"guarantee\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	"\"scalar\":{\"value\":1}},{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{"
	"\"value\":1}}]}"),
     400, "Failed to validate set quota request: Quota request with duplicate resource name 'cpus'",
     NULL},
    {SQ("{\"role\":\"dev\",\"guarantee\":[]}"), 400,
     "Failed to validate set quota request: Quota request with an empty guarantee", NULL},
    {SQ("{\"role\":\"dev\",\"guarantee\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	"\"scalar\":{\"value\":9}}]}"),
     400, NULL, "exceed cluster capacity"},
    /* REMOVE_QUOTA (deprecated) of a role without quota. */
    {"{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"dev\"}}", 400,
     "Failed to remove quota: Role 'dev' has no quota set", NULL},
    /* UPDATE_WEIGHTS. */
    {UW("{\"role\":\"dev\",\"weight\":0}"), 400,
     "Failed to validate update weights request: Invalid weight '0' for role 'dev': weights "
     "must be positive",
     NULL},
    {UW("{\"role\":\"dev\",\"weight\":2},{\"role\":\"ops\",\"weight\":-1}"), 400, NULL,
     "Invalid weight '-1' for role 'ops'"},
    {UW("{\"role\":\"*\",\"weight\":2}"), 400,
     "Failed to validate update weights request: Invalid role '*': Cannot set the weight of "
     "the default '*' role",
     NULL},
    {UW("{\"role\":\"..\",\"weight\":2}"), 400, NULL,
     "Failed to validate update weights request: Invalid role '..'"},
    {UW("{\"weight\":2}"), 400,
     "Failed to validate update weights request: Invalid role '': Empty role name is invalid",
     NULL},
};

/* Every rejected call: its status and text, and nothing written to the registry. */
TEST(quota_calls_rejected_table)
{
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	char *id;
	uint64_t ops;

	fx_init(&f);
	m = start(&f, true, NULL, NULL);
	id = register_rich_agent(&f, m, "host-q");
	ops = hreg_stat(m, false);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
		TH_CONTEXT("case %zu: %s", i, cases[i].body);
		api_json(&f, m->port, cases[i].body, &r);
		ASSERT_INT_EQ(r.status, cases[i].status);
		if (cases[i].text != NULL)
			ASSERT_STR_EQ(r.body, cases[i].text);
		if (cases[i].substr != NULL)
			ASSERT_STR_CONTAINS(r.body, cases[i].substr);
	}
	TH_CONTEXT(NULL);
	ASSERT_UINT_EQ(hreg_stat(m, false), ops);
	/* Empty lists are fine and write nothing. */
	api_json(&f, m->port, UW(""), &r);
	ASSERT_INT_EQ(r.status, 200);
	api_json(&f, m->port, UQ(""), &r);
	ASSERT_INT_EQ(r.status, 200);
	ASSERT_UINT_EQ(hreg_stat(m, false), ops);
	hresp_free(&r);
	free(id);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m, 0);
	fx_fini(&f);
}

/* The GET_QUOTA answer (JSON). */
static json_t *get_quota(struct fx *f, struct master *m)
{
	struct hresp r = {0};
	json_t *j;

	api_json(f, m->port, "{\"type\":\"GET_QUOTA\"}", &r);
	j = hjson(&r);
	ASSERT_STR_EQ(hjson_str(j, "type"), "GET_QUOTA");
	hresp_free(&r);
	return j;
}

static void call_ok(struct fx *f, struct master *m, const char *body)
{
	struct hresp r = {0};

	TH_CONTEXT("%s", body);
	api_json(f, m->port, body, &r);
	ASSERT_INT_EQ(r.status, 200);
	ASSERT_UINT_EQ(r.len, 0);
	TH_CONTEXT(NULL);
	hresp_free(&r);
}

/* A role's weight in GET_ROLES (0 when the role is not listed). */
static double role_weight(struct fx *f, struct master *m, const char *role)
{
	struct hresp r = {0};
	json_t *j, *roles;
	double w = 0;

	api_json(f, m->port, "{\"type\":\"GET_ROLES\"}", &r);
	j = hjson(&r);
	roles = json_object_get(json_object_get(j, "get_roles"), "roles");
	for (size_t i = 0; i < json_array_size(roles); i++) {
		json_t *x = json_array_get(roles, i);
		if (strcmp(json_string_value(json_object_get(x, "name")), role) == 0)
			w = json_number_value(json_object_get(x, "weight"));
	}
	json_decref(j);
	hresp_free(&r);
	return w;
}

static void quota_life_cycle(bool in_memory)
{
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	json_t *j;
	char *id;
	uint64_t ops;
	Mesos__V1__Master__Call call = MESOS__V1__MASTER__CALL__INIT;
	Mesos__V1__Master__Response *resp;

	fx_init(&f);
	m = start(&f, in_memory, in_memory ? NULL : "log", "web=4,dev=1");
	id = register_rich_agent(&f, m, "host-q");

	/* Nothing set: an empty status. */
	j = get_quota(&f, m);
	ASSERT_UINT_EQ(json_object_size(hjson_at(j, "get_quota.status")), 0);
	json_decref(j);

	/* UPDATE_QUOTA: durable when answered. */
	ops = hreg_stat(m, false);
	call_ok(&f, m,
		UQ("{\"role\":\"dev\",\"guarantees\":{\"cpus\":{\"value\":1.5}},"
		   "\"limits\":{\"cpus\":{\"value\":3},\"mem\":{\"value\":512}}},"
		   "{\"role\":\"eng-batch\",\"limits\":{\"cpus\":{\"value\":2}}}"));
	ASSERT_UINT_EQ(hreg_stat(m, false), ops + 2);
	ASSERT_NOT_NULL(registrar_quota(m->registrar, "dev"));
	ASSERT_NOT_NULL(registrar_quota(m->registrar, "eng-batch"));
	j = get_quota(&f, m);
	/* configs, by role; infos only for roles with a guarantee. */
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_quota.status.configs")), 2);
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.configs.0.role"), "dev");
	ASSERT_TRUE(hjson_num(j, "get_quota.status.configs.0.guarantees.cpus.value") == 1.5);
	ASSERT_TRUE(hjson_num(j, "get_quota.status.configs.0.limits.cpus.value") == 3);
	ASSERT_TRUE(hjson_num(j, "get_quota.status.configs.0.limits.mem.value") == 512);
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.configs.1.role"), "eng-batch");
	ASSERT_NULL(json_object_get(hjson_at(j, "get_quota.status.configs.1"), "guarantees"));
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_quota.status.infos")), 1);
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.infos.0.role"), "dev");
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.infos.0.guarantee.0.name"), "cpus");
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.infos.0.guarantee.0.type"), "SCALAR");
	ASSERT_TRUE(hjson_num(j, "get_quota.status.infos.0.guarantee.0.scalar.value") == 1.5);
	json_decref(j);

	/* The same in protobuf. */
	call.has_type = 1;
	call.type = MESOS__V1__MASTER__CALL__TYPE__GET_QUOTA;
	api_pb(&f, m->port, &call, &r);
	resp = hpb(&r);
	ASSERT_INT_EQ(resp->type, MESOS__V1__MASTER__RESPONSE__TYPE__GET_QUOTA);
	ASSERT_UINT_EQ(resp->get_quota->status->n_configs, 2);
	ASSERT_STR_EQ(resp->get_quota->status->configs[0]->role, "dev");
	ASSERT_UINT_EQ(resp->get_quota->status->configs[0]->n_limits, 2);
	ASSERT_UINT_EQ(resp->get_quota->status->n_infos, 1);
	keel_pbjson_free(&resp->base);

	/* GET_ROLES lists the quota roles. */
	ASSERT_TRUE(role_weight(&f, m, "eng-batch") == 1);

	/* SET_QUOTA on a role with quota: 400; on another: the guarantee is the limit too. */
	api_json(&f, m->port,
		 SQ("{\"role\":\"dev\",\"guarantee\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
		    "\"scalar\":{\"value\":1}}]}"),
		 &r);
	ASSERT_INT_EQ(r.status, 400);
	ASSERT_STR_EQ(r.body, "Failed to validate set quota request: Can not set quota for a role "
			      "that already has quota");
	call_ok(&f, m,
		SQ("{\"role\":\"prod\",\"guarantee\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
		   "\"scalar\":{\"value\":2}}]}"));
	j = get_quota(&f, m);
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_quota.status.configs")), 3);
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.configs.2.role"), "prod");
	ASSERT_TRUE(hjson_num(j, "get_quota.status.configs.2.guarantees.cpus.value") == 2);
	ASSERT_TRUE(hjson_num(j, "get_quota.status.configs.2.limits.cpus.value") == 2);
	json_decref(j);
	/* Guarantees add up: dev 1.5 + prod 2 + 1 more is over the 4 cpus... */
	api_json(&f, m->port, UQ("{\"role\":\"ops\",\"guarantees\":{\"cpus\":{\"value\":1}}}"), &r);
	ASSERT_INT_EQ(r.status, 400);
	ASSERT_STR_CONTAINS(r.body, "Total quota guarantees 'cpus:4.5'");
	/* ...unless forced. */
	call_ok(&f, m,
		"{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"force\":true,\"quota_configs\":[{"
		"\"role\":\"ops\",\"guarantees\":{\"cpus\":{\"value\":1}}}]}}");
	/* A role's own old guarantee does not count against its new one. */
	call_ok(&f, m, UQ("{\"role\":\"dev\",\"guarantees\":{\"cpus\":{\"value\":1}}}"));

	/* REMOVE_QUOTA, and UPDATE_QUOTA with neither guarantees nor limits, remove. */
	call_ok(&f, m, "{\"type\":\"REMOVE_QUOTA\",\"remove_quota\":{\"role\":\"prod\"}}");
	call_ok(&f, m, UQ("{\"role\":\"ops\"},{\"role\":\"never-had-one\"}"));
	ASSERT_NULL(registrar_quota(m->registrar, "prod"));
	ASSERT_NULL(registrar_quota(m->registrar, "ops"));
	j = get_quota(&f, m);
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_quota.status.configs")), 2);
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.configs.0.role"), "dev");
	ASSERT_NULL(json_object_get(hjson_at(j, "get_quota.status.configs.0"), "limits"));
	json_decref(j);

	/* UPDATE_WEIGHTS: durable, then in GET_WEIGHTS (--weights order, then the registry's) and
	 * GET_ROLES; the registry's weight wins over --weights. */
	ops = hreg_stat(m, false);
	call_ok(&f, m,
		UW("{\"role\":\"dev\",\"weight\":2.5},{\"role\":\"analytics\",\"weight\":3}"));
	ASSERT_UINT_EQ(hreg_stat(m, false), ops + 1);
	api_json(&f, m->port, "{\"type\":\"GET_WEIGHTS\"}", &r);
	j = hjson(&r);
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_weights.weight_infos")), 3);
	ASSERT_STR_EQ(hjson_str(j, "get_weights.weight_infos.0.role"), "web");
	ASSERT_TRUE(hjson_num(j, "get_weights.weight_infos.0.weight") == 4);
	ASSERT_STR_EQ(hjson_str(j, "get_weights.weight_infos.1.role"), "dev");
	ASSERT_TRUE(hjson_num(j, "get_weights.weight_infos.1.weight") == 2.5);
	ASSERT_STR_EQ(hjson_str(j, "get_weights.weight_infos.2.role"), "analytics");
	ASSERT_TRUE(hjson_num(j, "get_weights.weight_infos.2.weight") == 3);
	json_decref(j);
	ASSERT_TRUE(role_weight(&f, m, "dev") == 2.5);
	ASSERT_TRUE(role_weight(&f, m, "analytics") == 3);
	ASSERT_TRUE(master_role_weight(m, "web", NULL) == 4);

	/* GET /roles: Mesos's JSON, each role with its weight and quota, sorted by name. */
	j = hget_json(&f, m->port, "/roles");
	ASSERT_STR_EQ(hjson_str(j, "roles.0.name"), "analytics");
	ASSERT_TRUE(hjson_num(j, "roles.0.weight") == 3);
	ASSERT_UINT_EQ(json_object_size(hjson_at(j, "roles.0.quota.guarantee")), 0);
	ASSERT_STR_EQ(hjson_str(j, "roles.1.name"), "dev");
	ASSERT_TRUE(hjson_num(j, "roles.1.weight") == 2.5);
	ASSERT_STR_EQ(hjson_str(j, "roles.1.quota.role"), "dev");
	ASSERT_TRUE(hjson_num(j, "roles.1.quota.guarantee.cpus") == 1);
	ASSERT_UINT_EQ(json_object_size(hjson_at(j, "roles.1.quota.limit")), 0);
	ASSERT_STR_EQ(hjson_str(j, "roles.2.name"), "eng-batch");
	ASSERT_TRUE(hjson_num(j, "roles.2.quota.limit.cpus") == 2);
	ASSERT_STR_EQ(hjson_str(j, "roles.3.name"), "web");
	json_decref(j);
	j = hget_json(&f, m->port, "/master/roles.json");
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "roles")), 4);
	json_decref(j);

	hresp_free(&r);
	free(id);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(quota_and_weights_in_memory)
{
	quota_life_cycle(true);
}

TEST(quota_and_weights_replicated_log)
{
	quota_life_cycle(false);
}

/*
 * Quota and weights survive the master: set on one, the master stopped, a new one started on
 * the same replicated log recovers them (GET_QUOTA, GET_WEIGHTS), the registry's weight winning
 * over the new master's --weights for the same role.
 */
TEST(quota_and_weights_survive_a_restart)
{
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	json_t *j;
	char *id;
	bool set;

	fx_init(&f);
	m = start(&f, false, "log", NULL);
	id = register_rich_agent(&f, m, "host-q");
	call_ok(&f, m,
		UQ("{\"role\":\"dev\",\"guarantees\":{\"cpus\":{\"value\":2}},"
		   "\"limits\":{\"cpus\":{\"value\":3}}}"));
	call_ok(&f, m, UW("{\"role\":\"dev\",\"weight\":5}"));
	free(id);
	master_free(m, 0);

	m = start(&f, false, "log", "dev=1,web=2");
	j = get_quota(&f, m);
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_quota.status.configs")), 1);
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.configs.0.role"), "dev");
	ASSERT_TRUE(hjson_num(j, "get_quota.status.configs.0.guarantees.cpus.value") == 2);
	ASSERT_TRUE(hjson_num(j, "get_quota.status.configs.0.limits.cpus.value") == 3);
	json_decref(j);
	api_json(&f, m->port, "{\"type\":\"GET_WEIGHTS\"}", &r);
	j = hjson(&r);
	ASSERT_UINT_EQ(json_array_size(hjson_at(j, "get_weights.weight_infos")), 2);
	ASSERT_STR_EQ(hjson_str(j, "get_weights.weight_infos.0.role"), "dev");
	ASSERT_TRUE(hjson_num(j, "get_weights.weight_infos.0.weight") == 5);
	ASSERT_STR_EQ(hjson_str(j, "get_weights.weight_infos.1.role"), "web");
	ASSERT_TRUE(hjson_num(j, "get_weights.weight_infos.1.weight") == 2);
	json_decref(j);
	ASSERT_TRUE(master_role_weight(m, "dev", &set) == 5);
	ASSERT_TRUE(set);
	ASSERT_TRUE(master_role_weight(m, "none", &set) == 1);
	ASSERT_FALSE(set);
	hresp_free(&r);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m, 0);
	fx_fini(&f);
}

/* A standby does not serve the calls: it redirects them to the leader (307), like every call. */
TEST(quota_calls_on_a_standby_redirect)
{
	struct fx f;
	struct master *a, *b;
	struct hresp r = {0};

	fx_init(&f);
	a = fx_leader_and_standby(&f, &b);
	api_json(&f, b->port, UW("{\"role\":\"dev\",\"weight\":2}"), &r);
	ASSERT_INT_EQ(r.status, 307);
	api_json(&f, b->port, "{\"type\":\"GET_QUOTA\"}", &r);
	ASSERT_INT_EQ(r.status, 307);
	hcall(&f, b->port, "GET", "/roles", NULL, NULL, NULL, 0, &r);
	ASSERT_INT_EQ(r.status, 307);
	hresp_free(&r);
	master_free(b, 0);
	master_free(a, 0);
	fx_fini(&f);
}

/* n masters (quorum 2: the log has 3 replicas, so n is 3) on one replicated log, m[0]
 * leading. */
static void log_masters(struct fx *f, int n, struct master_config *c, struct master **m)
{
	static char url[256];
	static char sub[3][8];
	uint16_t port[3];
	int len;

	ASSERT_TRUE(n <= 3);
	len = snprintf(url, sizeof(url), "static://");
	for (int i = 0; i < n; i++) {
		port[i] = fx_free_port();
		len += snprintf(url + len, sizeof(url) - (size_t)len, "%s127.0.0.1:%u",
				i ? "," : "", port[i]);
	}
	for (int i = 0; i < n; i++) {
		snprintf(sub[i], sizeof(sub[i]), "q%d", i);
		fx_config(f, &c[i], false, sub[i]);
		c[i].port = port[i];
		c[i].quorum = 2;
		c[i].coord_url = url;
		c[i].coord_static = true;
		c[i].store_timeout_ms = 60000;
		m[i] = fx_master(f, &c[i]);
	}
	fx_wait_leading(f, m[0]);
}

/*
 * With the log's quorum gone, changes wait: nothing is visible or applied before they are
 * durable, a client may leave meanwhile (its change still applies), and the one that stayed
 * gets its 200 once the quorum is back.
 */
TEST(quota_changes_wait_for_the_registry)
{
	struct fx f;
	struct master_config c[3];
	struct master *m[3];
	struct hresp r1 = {0}, r2 = {0}, r = {0};
	struct keel_http_client *c1, *c2;
	const char *uw = UW("{\"role\":\"dev\",\"weight\":3}");
	const char *uq = "{\"type\":\"UPDATE_QUOTA\",\"update_quota\":{\"force\":true,"
			 "\"quota_configs\":[{\"role\":\"dev\",\"limits\":{\"cpus\":{\"value\":"
			 "0}}}]}}";
	json_t *j;

	fx_init(&f);
	log_masters(&f, 3, c, m);
	master_free(m[1], 0);
	master_free(m[2], 0);
	m[1] = m[2] = NULL;
	c1 = hcall_async(&f, m[0]->port, "POST", "/api/v1", "application/json", NULL, uw,
			 strlen(uw), &r1);
	ASSERT_TRUE(RUN_UNTIL(f.loop, hreg_stat(m[0], true) == 1, 10000));
	c2 = hcall_async(&f, m[0]->port, "POST", "/api/v1", "application/json", NULL, uq,
			 strlen(uq), &r2);
	ASSERT_TRUE(RUN_UNTIL(f.loop, hreg_stat(m[0], true) == 2, 10000));
	ASSERT_FALSE(r1.done);
	ASSERT_FALSE(r2.done);
	/* Not durable: not visible, not applied. */
	ASSERT_NULL(registrar_weight(m[0]->registrar, "dev"));
	ASSERT_TRUE(master_role_weight(m[0], "dev", NULL) == 1);
	j = get_quota(&f, m[0]);
	ASSERT_UINT_EQ(json_object_size(hjson_at(j, "get_quota.status")), 0);
	json_decref(j);
	/* The first client leaves; its change goes on. */
	keel_http_client_free(c1);
	ASSERT_TRUE(r1.done);
	ASSERT_INT_NE(r1.err, 0);
	/* The quorum is back: both are durable and applied; the second client gets its 200. */
	m[1] = fx_master(&f, &c[1]);
	ASSERT_TRUE(RUN_UNTIL(f.loop, r2.done, 30000));
	ASSERT_INT_EQ(r2.status, 200);
	ASSERT_NOT_NULL(registrar_weight(m[0]->registrar, "dev"));
	ASSERT_TRUE(master_role_weight(m[0], "dev", NULL) == 3);
	j = get_quota(&f, m[0]);
	ASSERT_STR_EQ(hjson_str(j, "get_quota.status.configs.0.role"), "dev");
	/* A limit of 0 is kept as such. */
	ASSERT_TRUE(hjson_num(j, "get_quota.status.configs.0.limits.cpus.value") == 0);
	json_decref(j);
	api_json(&f, m[0]->port, "{\"type\":\"GET_WEIGHTS\"}", &r);
	j = hjson(&r);
	ASSERT_TRUE(hjson_num(j, "get_weights.weight_infos.0.weight") == 3);
	json_decref(j);
	keel_http_client_free(c2);
	hresp_free(&r);
	hresp_free(&r1);
	hresp_free(&r2);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m[1], 0);
	master_free(m[0], 0);
	fx_fini(&f);
}

/* A master stopped while a change waits drops it cleanly (no answer, no leak). */
TEST(quota_change_pending_at_stop)
{
	struct fx f;
	struct master_config c[3];
	struct master *m[3];
	struct hresp r = {0};
	struct keel_http_client *cl;
	const char *uq = SQ("{\"role\":\"dev\",\"force\":true,\"guarantee\":[{\"name\":\"cpus\","
			    "\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}");

	fx_init(&f);
	log_masters(&f, 3, c, m);
	master_free(m[1], 0);
	master_free(m[2], 0);
	cl = hcall_async(&f, m[0]->port, "POST", "/api/v1", "application/json", NULL, uq,
			 strlen(uq), &r);
	ASSERT_TRUE(RUN_UNTIL(f.loop, hreg_stat(m[0], true) == 1, 10000));
	master_free(m[0], 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, r.done, 10000));
	ASSERT_INT_NE(r.err, 0);
	keel_http_client_free(cl);
	hresp_free(&r);
	fx_fini(&f);
}
