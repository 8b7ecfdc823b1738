/* Authentication (HTTP Basic, --credentials) and authorization (--acls) of keel-master. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_agent.h"
#include "harness.h"
#include "loop_util.h"
#include "master/auth.h"
#include "master/master.h"
#include "master_fixture.h"
#include "runtime/base64.h"
#include "runtime/flags.h"
#include "runtime/http_client.h"
#include "runtime/pbjson.h"
#include "sched_client.h"
#include "test_http_util.h"

#define CREDS                                                                                      \
	"{\"credentials\":[{\"principal\":\"ops\",\"secret\":\"s3cret\"},"                         \
	"{\"principal\":\"fw\",\"secret\":\"fwpass\"}]}"

/* An answer with the headers the auth tests look at. */
struct aresp {
	int status;	 /* HTTP status, 0 before */
	int err;	 /* transport error */
	bool done;	 /* head or end seen */
	char www[128];	 /* WWW-Authenticate, or "" */
	char body[1024]; /* body (truncated), streams: "" */
};

static void copy_header(const struct keel_http_response *resp, const char *name, char *out,
			size_t size)
{
	size_t len = 0;
	const char *v = keel_http_header_get(resp->head, name, &len);

	snprintf(out, size, "%.*s", v ? (int)len : 0, v ? v : "");
}

static void on_head(const struct keel_http_response *resp, void *arg)
{
	struct aresp *r = arg;

	r->status = resp->status;
	copy_header(resp, "WWW-Authenticate", r->www, sizeof(r->www));
	if (resp->status == 200)
		r->done = true; /* a SUBSCRIBE stream: the head is the answer */
}

static void on_data(const char *data, size_t len, void *arg)
{
	struct aresp *r = arg;
	size_t have = strlen(r->body);

	if (r->status != 200 && have + len < sizeof(r->body))
		memcpy(r->body + have, data, len);
}

static void on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct aresp *r = arg;

	(void)resp;
	r->err = err;
	r->done = true;
}

/* Sends method path with Basic credentials user_pass ("p:s", NULL: none); waits for the head. */
static void acall(struct fx *f, uint16_t port, const char *method, const char *path,
		  const char *user_pass, const char *body, struct aresp *out)
{
	static const struct keel_http_client_cbs cbs = {
	    .on_head = on_head, .on_data = on_data, .on_done = on_done};
	struct keel_http_client_config cc = {.request_timeout = 60000};
	struct keel_http_client *c;
	char errmsg[KEEL_ERRMSG_SIZE], auth[256] = "Basic ";
	const char *headers[] = {"Accept", "application/json", "Authorization", auth, NULL};

	memset(out, 0, sizeof(*out));
	if (user_pass != NULL) {
		size_t n = keel_base64_encode(auth + 6, user_pass, strlen(user_pass));
		auth[6 + n] = '\0';
	} else {
		headers[2] = NULL;
	}
	keel_loop_run_once(f->loop, 0);
	ASSERT_OK(keel_http_client_new(f->loop, "127.0.0.1", port, &cc, &c, errmsg));
	ASSERT_OK(keel_http_client_request(c, method, path, headers,
					   body ? "application/json" : NULL, body,
					   body ? strlen(body) : 0, &cbs, out));
	ASSERT_TRUE(RUN_UNTIL(f->loop, out->done, 30000));
	/* Let a non-streaming body finish. */
	if (out->status != 200)
		ASSERT_TRUE(RUN_UNTIL(f->loop, keel_http_client_pending(c) == 0, 30000));
	keel_http_client_free(c);
}

/* Writes text to <tmp>/name; returns the path (static buffer per call site is the caller's). */
static void write_file(struct fx *f, const char *name, const char *text, char *path, size_t size)
{
	FILE *fp;

	snprintf(path, size, "%s/%s", f->tmp, name);
	fp = fopen(path, "w");
	ASSERT_NOT_NULL(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct master *start(struct fx *f, bool fw, bool rw, bool ro, const char *acls)
{
	static char creds[600];
	struct master_config c;
	struct master *m;

	write_file(f, "credentials.json", CREDS, creds, sizeof(creds));
	fx_config(f, &c, true, NULL);
	c.heartbeat_interval_ms = 60000;
	c.allocation_interval_ms = 20;
	c.authenticate_frameworks = fw;
	c.authenticate_http_readwrite = rw;
	c.authenticate_http_readonly = ro;
	c.credentials = creds;
	c.acls = (char *)acls;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

/* The credential cases every endpoint class is tried with. */
static const struct {
	const char *user_pass; /* NULL: no Authorization header */
	bool valid;	       /* the right credentials */
} cred_cases[] = {
    {NULL, false},	    {"ops:wrong", false}, {"nobody:s3cret", false}, {"ops:s3cre", false},
    {"ops:s3crett", false}, {"ops", false},	  {"ops:s3cret", true},	    {"fw:fwpass", true},
};

#define GET_HEALTH "{\"type\":\"GET_HEALTH\"}"
#define GET_WEIGHTS "{\"type\":\"GET_WEIGHTS\"}"
#define UPDATE_WEIGHTS                                                                             \
	"{\"type\":\"UPDATE_WEIGHTS\",\"update_weights\":{\"weight_infos\":[{\"role\":\"web\","    \
	"\"weight\":2.5}]}}"

/* Readonly and readwrite endpoints with none / wrong / right credentials; 401 changes nothing. */
TEST(operator_endpoints_by_class)
{
	static const struct {
		const char *method, *path, *body; /* the request */
		bool readwrite;			  /* which flag governs it */
		int pass;			  /* the answer once authenticated */
	} eps[] = {
	    {"GET", "/state", NULL, false, 200},
	    {"GET", "/metrics/snapshot", NULL, false, 200},
	    {"GET", "/roles", NULL, false, 200},
	    {"GET", "/flags", NULL, false, 200},
	    {"POST", "/api/v1", GET_HEALTH, false, 200},
	    {"POST", "/api/v1", GET_WEIGHTS, false, 200},
	    {"POST", "/api/v1", UPDATE_WEIGHTS, true, 200},
	    {"POST", "/api/v1", "{\"type\":\"TEARDOWN\"}", true, 400}, /* invalid call */
	    {"POST", "/api/v1", "not json", true, 400},		       /* undecodable */
	};
	/* Which flags are on: both, readonly only, readwrite only, none. */
	static const struct {
		bool rw, ro;
	} modes[] = {{true, true}, {false, true}, {true, false}, {false, false}};

	for (size_t mi = 0; mi < KEEL_ARRAY_SIZE(modes); mi++) {
		struct fx f;
		struct master *m;
		struct aresp r;

		fx_init(&f);
		m = start(&f, false, modes[mi].rw, modes[mi].ro, NULL);
		for (size_t e = 0; e < KEEL_ARRAY_SIZE(eps); e++)
			for (size_t k = 0; k < KEEL_ARRAY_SIZE(cred_cases); k++) {
				bool needed = eps[e].readwrite ? modes[mi].rw : modes[mi].ro;
				bool ok = cred_cases[k].valid || !needed;
				/* An undecodable body has no class: with readwrite alone it is
				 * 400 before any authentication (with both flags on, the
				 * credentials are checked first, as Mesos does). */
				if (eps[e].body != NULL && eps[e].body[0] == 'n' && !modes[mi].ro)
					ok = true;
				acall(&f, m->port, eps[e].method, eps[e].path,
				      cred_cases[k].user_pass, eps[e].body, &r);
				if (ok != (r.status == eps[e].pass))
					th_fail(__FILE__, __LINE__,
						"mode %zu %s %s %s with %s: status %d (%s)", mi,
						eps[e].method, eps[e].path,
						eps[e].body ? eps[e].body : "",
						cred_cases[k].user_pass ? cred_cases[k].user_pass
									: "(none)",
						r.status, r.body);
				if (!ok) {
					ASSERT_INT_EQ(r.status, 401);
					ASSERT_STR_EQ(r.www, "Basic realm=\"mesos\"");
				}
			}
		/* A refused UPDATE_WEIGHTS changed nothing; the accepted ones did. */
		{
			struct hresp h = {0};
			json_t *j;
			api_json(&f, m->port, GET_WEIGHTS, &h);
			if (!modes[mi].ro) {
				j = hjson(&h);
				ASSERT_STR_CONTAINS(h.body, "web");
				json_decref(j);
			}
			hresp_free(&h);
		}
		master_free(m, 1000);
		fx_fini(&f);
	}
}

/* With readwrite authentication only, no authorized request has happened: weights unchanged. */
TEST(refused_write_changes_nothing)
{
	struct fx f;
	struct master *m;
	struct aresp r;
	struct hresp h = {0};

	fx_init(&f);
	m = start(&f, false, true, false, NULL);
	acall(&f, m->port, "POST", "/api/v1", "ops:nope", UPDATE_WEIGHTS, &r);
	ASSERT_INT_EQ(r.status, 401);
	acall(&f, m->port, "POST", "/api/v1", NULL, UPDATE_WEIGHTS, &r);
	ASSERT_INT_EQ(r.status, 401);
	api_json(&f, m->port, GET_WEIGHTS, &h);
	json_decref(hjson(&h));
	ASSERT_TRUE(strstr(h.body, "web") == NULL);
	hresp_free(&h);
	master_free(m, 1000);
	fx_fini(&f);
}

#define SUB_FMT                                                                                    \
	"{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":"      \
	"\"a\",\"failover_timeout\":3600%s}}}"

static size_t n_frameworks(struct fx *f, struct master *m)
{
	json_t *j = hget_json(f, m->port, "/state");
	size_t n = json_array_size(json_object_get(j, "frameworks"));

	json_decref(j);
	return n;
}

/* One row of a call table: credentials and the answer expected. */
struct call_case {
	const char *user_pass; /* credentials sent (NULL: none) */
	int status;	       /* expected status */
	const char *text;      /* in the body, or NULL */
};

/* POSTs body to path with c's credentials; asserts c's answer (and the 401 header). */
static void expect_call(struct fx *f, struct master *m, const char *path, const struct call_case *c,
			const char *body, size_t i, struct aresp *r)
{
	acall(f, m->port, "POST", path, c->user_pass, body, r);
	if (r->status != c->status)
		th_fail(__FILE__, __LINE__, "case %zu: status %d (%s)", i, r->status, r->body);
	if (c->text != NULL)
		ASSERT_STR_CONTAINS(r->body, c->text);
	if (r->status == 401)
		ASSERT_STR_EQ(r->www, "Basic realm=\"mesos\"");
}

/* --authenticate_frameworks and register_frameworks: 401, 400 principal mismatch, 403, 200. */
TEST(scheduler_subscribe)
{
	static const char acls[] =
	    "{\"register_frameworks\":["
	    "{\"principals\":{\"values\":[\"fw\"]},\"roles\":{\"values\":[\"web\",\"*\"]}},"
	    "{\"principals\":{\"type\":\"ANY\"},\"roles\":{\"type\":\"NONE\"}}]}";
	static const struct {
		const char *extra;  /* FrameworkInfo fields */
		struct call_case c; /* credentials and answer */
	} cases[] = {
	    {"", {NULL, 401, NULL}},
	    {",\"principal\":\"fw\"", {"fw:bad", 401, NULL}},
	    {",\"principal\":\"ops\"",
	     {"fw:fwpass", 400,
	      "Authenticated principal 'fw' does not match principal 'ops' set in "
	      "`FrameworkInfo`"}},
	    {",\"principal\":\"fw\",\"roles\":[\"db\"],\"capabilities\":[{\"type\":\"MULTI_ROLE\"}"
	     "]",
	     {"fw:fwpass", 403, "Not authorized to use roles '{ db }'"}},
	    {",\"principal\":\"ops\"", {"ops:s3cret", 403, "Not authorized to use roles '{ * }'"}},
	    {",\"principal\":\"fw\",\"role\":\"web\"", {"fw:fwpass", 200, NULL}},
	    {"", {"fw:fwpass", 200, NULL}}, /* no FrameworkInfo.principal: the authenticated one */
	};
	struct fx f;
	struct master *m;

	fx_init(&f);
	m = start(&f, true, false, false, acls);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
		char body[512];
		struct aresp r;
		size_t before = n_frameworks(&f, m);

		snprintf(body, sizeof(body), SUB_FMT, cases[i].extra);
		expect_call(&f, m, "/api/v1/scheduler", &cases[i].c, body, i, &r);
		if (r.status != 200)
			ASSERT_UINT_EQ(n_frameworks(&f, m), before);
		else
			ASSERT_TRUE(RUN_UNTIL(f.loop, n_frameworks(&f, m) == before + 1, 30000));
	}
	master_free(m, 1000);
	fx_fini(&f);
}

/* A non-SUBSCRIBE call from another principal than the framework's is 400. */
TEST(scheduler_call_principal_mismatch)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct aresp r;
	char body[512];

	fx_init(&f);
	m = start(&f, false, false, false, NULL);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"a\",\"principal\":\"fw\"}", false,
		     &s);
	sc_wait_subscribed(&f, &s);
	snprintf(body, sizeof(body), "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}",
		 s.framework_id);
	acall(&f, m->port, "POST", "/api/v1/scheduler", "ops:s3cret", body, &r);
	ASSERT_INT_EQ(r.status, 400);
	ASSERT_STR_CONTAINS(r.body, "Authenticated principal 'ops' does not match principal 'fw'");
	sc_close(&s);
	master_free(m, 1000);
	fx_fini(&f);
}

/* A TaskInfo JSON object with one cpu and command "true" (+ user fields in cmd_extra). */
static void task_json(char *out, size_t size, const char *id, const char *agent,
		      const char *cmd_extra)
{
	snprintf(out, size,
		 "{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":"
		 "\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{"
		 "\"value\":1}}],\"command\":{\"value\":\"true\"%s}}",
		 id, id, agent, cmd_extra);
}

/* run_tasks: a task whose user is not allowed gets TASK_ERROR REASON_TASK_UNAUTHORIZED. */
TEST(run_tasks_acl)
{
	static const char acls[] =
	    "{\"permissive\":false,"
	    "\"register_frameworks\":[{\"principals\":{\"type\":\"ANY\"},\"roles\":{\"type\":"
	    "\"ANY\"}}],"
	    "\"run_tasks\":[{\"principals\":{\"values\":[\"fw\"]},\"users\":{\"values\":[\"u\"]}}]"
	    "}";
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct fake_agent l;
	char *agent, json[4096], t[2][1024];
	const Mesos__V1__TaskStatus *st;

	fx_init(&f);
	fake_agent_routes(&f, &l);
	m = start(&f, false, false, false, acls);
	agent = register_rich_agent(&f, m, "host-one");
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"a\",\"principal\":\"fw\"}", false,
		     &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) > 0, 30000));
	task_json(t[0], sizeof(t[0]), "ok", agent, "");
	task_json(t[1], sizeof(t[1]), "root", agent, ",\"user\":\"root\"");
	snprintf(json, sizeof(json),
		 "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
		 "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
		 "\"launch\":{\"task_infos\":[%s,%s]}}]}}",
		 s.framework_id, sc_newest_offer(&s)->id->value, t[0], t[1]);
	sc_call_expect(&f, m->port, &s, json, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, l.run == 1 && sc_update_of(&s, "root") != NULL, 30000));
	ASSERT_STR_EQ(l.last_run_task, "ok");
	st = sc_update_of(&s, "root");
	ASSERT_INT_EQ(st->state, MESOS__V1__TASK_STATE__TASK_ERROR);
	ASSERT_INT_EQ(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNAUTHORIZED);
	ASSERT_STR_EQ(st->message, "Task is not authorized to launch as user 'root'");
	free(agent);
	sc_close(&s);
	master_free(m, 1000);
	fx_fini(&f);
}

/* Operator TEARDOWN: readwrite authentication, then teardown_frameworks; a refusal changes nothing.
 */
TEST(operator_teardown)
{
	static const char acls[] =
	    "{\"permissive\":false,"
	    "\"register_frameworks\":[{\"principals\":{\"type\":\"ANY\"},\"roles\":{\"type\":"
	    "\"ANY\"}}],"
	    "\"teardown_frameworks\":[{\"principals\":{\"values\":[\"ops\"]},"
	    "\"framework_principals\":{\"values\":[\"fw\"]}}]}";
	static const struct {
		bool unknown_id;    /* name another framework ID */
		struct call_case c; /* credentials and answer */
	} cases[] = {
	    {false, {NULL, 401, NULL}},
	    {false, {"ops:bad", 401, NULL}},
	    {false, {"fw:fwpass", 403, NULL}},
	    {true, {"ops:s3cret", 400, "No framework found with specified ID"}},
	    {false, {"ops:s3cret", 200, NULL}},
	};
	struct fx f;
	struct master *m;
	struct sc_stream s;

	fx_init(&f);
	m = start(&f, false, true, false, acls);
	sc_subscribe(&f, m->port,
		     "{\"user\":\"u\",\"name\":\"a\",\"principal\":\"fw\",\"failover_timeout\":"
		     "3600}",
		     false, &s);
	sc_wait_subscribed(&f, &s);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
		char body[512];
		struct aresp r;

		snprintf(
		    body, sizeof(body),
		    "{\"type\":\"TEARDOWN\",\"teardown\":{\"framework_id\":{\"value\":\"%s\"}}}",
		    cases[i].unknown_id ? "no-such-framework" : s.framework_id);
		expect_call(&f, m, "/api/v1", &cases[i].c, body, i, &r);
		ASSERT_UINT_EQ(n_frameworks(&f, m), r.status == 200 ? 0 : 1);
	}
	sc_close(&s);
	master_free(m, 1000);
	fx_fini(&f);
}

/* The local authorizer alone: first matching ACL decides, NONE denies, permissive otherwise. */
TEST(authorizer_table)
{
	static const char acls[] =
	    "{\"permissive\":%s,"
	    "\"register_frameworks\":["
	    "{\"principals\":{\"values\":[\"a\"]},\"roles\":{\"values\":[\"r1\",\"r2\"]}},"
	    "{\"principals\":{\"values\":[\"a\"]},\"roles\":{\"type\":\"NONE\"}},"
	    "{\"principals\":{\"type\":\"ANY\"},\"roles\":{\"values\":[\"pub\"]}}],"
	    "\"run_tasks\":[{\"principals\":{\"type\":\"NONE\"},\"users\":{\"values\":[\"root\"]}}]"
	    ","
	    "\"teardown_frameworks\":[{\"principals\":{\"values\":[\"ops\"]},"
	    "\"framework_principals\":{\"type\":\"ANY\"}}]}";
	static const struct {
		enum master_acl_kind kind; /* action */
		const char *principal;	   /* subject (NULL: none) */
		const char *object;	   /* object */
		bool permissive_true;	   /* expected with permissive true */
		bool permissive_false;	   /* expected with permissive false */
	} cases[] = {
	    {MASTER_ACL_REGISTER_FRAMEWORKS, "a", "r1", true, true},
	    {MASTER_ACL_REGISTER_FRAMEWORKS, "a", "r2", true, true},
	    {MASTER_ACL_REGISTER_FRAMEWORKS, "a", "r3", false, false}, /* NONE rule */
	    {MASTER_ACL_REGISTER_FRAMEWORKS, "a", "pub", false, false},
	    {MASTER_ACL_REGISTER_FRAMEWORKS, "b", "pub", true, true},
	    {MASTER_ACL_REGISTER_FRAMEWORKS, NULL, "pub", true, true},
	    {MASTER_ACL_REGISTER_FRAMEWORKS, "b", "r1", true, false}, /* no rule */
	    {MASTER_ACL_RUN_TASKS, "x", "root", false, false},
	    {MASTER_ACL_RUN_TASKS, NULL, "root", false, false},
	    {MASTER_ACL_RUN_TASKS, "x", "alice", true, false},
	    {MASTER_ACL_TEARDOWN_FRAMEWORKS, "ops", "anyone", true, true},
	    {MASTER_ACL_TEARDOWN_FRAMEWORKS, "dev", "anyone", true, false},
	    {MASTER_ACL_TEARDOWN_FRAMEWORKS, NULL, "anyone", true, false},
	};

	for (int p = 0; p < 2; p++) {
		char text[2048], errmsg[KEEL_ERRMSG_SIZE];
		struct master_auth_config cfg = {.acls = text};
		struct master_auth *a;

		snprintf(text, sizeof(text), acls, p == 0 ? "true" : "false");
		ASSERT_OK(master_auth_new(&cfg, &a, errmsg));
		for (size_t i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
			bool want = p == 0 ? cases[i].permissive_true : cases[i].permissive_false;
			if (master_auth_authorize(a, cases[i].kind, cases[i].principal,
						  cases[i].object) != want)
				th_fail(__FILE__, __LINE__, "permissive %d case %zu: not %d", !p, i,
					want);
		}
		master_auth_free(a);
	}
	/* No --acls: everything is allowed. */
	{
		struct master_auth_config cfg = {0};
		struct master_auth *a;
		char errmsg[KEEL_ERRMSG_SIZE];
		ASSERT_OK(master_auth_new(&cfg, &a, errmsg));
		ASSERT_TRUE(master_auth_authorize(a, MASTER_ACL_RUN_TASKS, NULL, "root"));
		ASSERT_FALSE(master_auth_required(a, MASTER_AUTH_FRAMEWORK));
		master_auth_free(a);
		ASSERT_TRUE(master_auth_authorize(NULL, MASTER_ACL_RUN_TASKS, "x", "root"));
	}
}

/* Start-up errors: master_config_parse refuses bad files and JSON, naming the field. */
TEST(startup_errors)
{
	static const struct {
		const char *creds;     /* credentials file contents, NULL: no file written */
		const char *cred_flag; /* --credentials value ("@": the written file) */
		const char *acls;      /* --acls value, or NULL */
		const char *auth_flag; /* an --authenticate_* flag, or NULL */
		const char *want;      /* in the error */
	} cases[] = {
	    {NULL, "/nonexistent/creds.json", NULL, NULL, "--credentials: cannot read"},
	    {"not json", "@", NULL, NULL, "--credentials: not JSON"},
	    {"[]", "@", NULL, NULL, "expected a JSON object"},
	    {"{\"credentials\":{}}", "@", NULL, NULL, "'credentials' must be an array"},
	    {"{\"credentials\":[{\"secret\":\"x\"}]}", "@", NULL, NULL, "credentials[0].principal"},
	    {"{\"credentials\":[{\"principal\":\"p\"}]}", "@", NULL, NULL, "credentials[0].secret"},
	    {"{\"credentials\":[{\"principal\":\"p\",\"secret\":1}]}", "file://@", NULL, NULL,
	     "credentials[0].secret"},
	    {NULL, NULL, NULL, "--authenticate_frameworks", "needs --credentials"},
	    {NULL, NULL, NULL, "--authenticate_http_readonly", "needs --credentials"},
	    {NULL, NULL, "{", NULL, "--acls: not JSON"},
	    {NULL, NULL, "{\"permissive\":1}", NULL, "permissive must be true or false"},
	    {NULL, NULL, "{\"run_task\":[]}", NULL, "unknown field 'run_task'"},
	    {NULL, NULL, "{\"run_tasks\":{}}", NULL, "run_tasks must be an array"},
	    {NULL, NULL, "{\"run_tasks\":[{\"users\":{\"type\":\"ANY\"}}]}", NULL,
	     "run_tasks[0].principals must be an object"},
	    {NULL, NULL,
	     "{\"register_frameworks\":[{\"principals\":{\"type\":\"ANY\"},\"roles\":{\"type\":"
	     "\"ALL\"}}]}",
	     NULL, "register_frameworks[0].roles.type"},
	    {NULL, NULL,
	     "{\"teardown_frameworks\":[{\"principals\":{\"values\":[1]},"
	     "\"framework_principals\":{\"type\":\"ANY\"}}]}",
	     NULL, "teardown_frameworks[0].principals.values[0]"},
	    {NULL, NULL, "{\"run_tasks\":[{\"principals\":{\"values\":\"a\"},\"users\":{}}]}", NULL,
	     "run_tasks[0].principals.values must be an array"},
	};
	struct fx f;

	fx_init(&f);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
		char path[600], cflag[700], aflag[1024];
		char *argv[8] = {"keel-master", "--registry=in_memory"};
		int argc = 2, rv;
		struct master_config c;
		char errmsg[KEEL_ERRMSG_SIZE];

		if (cases[i].creds != NULL)
			write_file(&f, "bad.json", cases[i].creds, path, sizeof(path));
		if (cases[i].cred_flag != NULL) {
			const char *at = strchr(cases[i].cred_flag, '@');
			if (at != NULL)
				snprintf(cflag, sizeof(cflag), "--credentials=%.*s%s",
					 (int)(at - cases[i].cred_flag), cases[i].cred_flag, path);
			else
				snprintf(cflag, sizeof(cflag), "--credentials=%s",
					 cases[i].cred_flag);
			argv[argc++] = cflag;
		}
		if (cases[i].acls != NULL) {
			snprintf(aflag, sizeof(aflag), "--acls=%s", cases[i].acls);
			argv[argc++] = aflag;
		}
		if (cases[i].auth_flag != NULL)
			argv[argc++] = (char *)cases[i].auth_flag;
		rv = master_config_parse(argc, argv, &c, NULL, errmsg);
		if (rv >= 0)
			th_fail(__FILE__, __LINE__, "case %zu accepted", i);
		ASSERT_INT_LT(rv, 0);
		ASSERT_STR_CONTAINS(errmsg, cases[i].want);
	}
	/* Good ones load: a file:// credentials path and ACLs from a file. */
	{
		char cpath[600], apath[600], cflag[700], aflag[700];
		char *argv[] = {
		    "keel-master", "--registry=in_memory",	cflag,
		    aflag,	   "--authenticate_frameworks", "--authenticate_http_readwrite"};
		struct master_config c;
		char errmsg[KEEL_ERRMSG_SIZE];

		write_file(&f, "c.json", CREDS, cpath, sizeof(cpath));
		write_file(&f, "a.json", "{\"permissive\":false}", apath, sizeof(apath));
		snprintf(cflag, sizeof(cflag), "--credentials=file://%s", cpath);
		snprintf(aflag, sizeof(aflag), "--acls=file://%s", apath);
		ASSERT_OK(master_config_parse(KEEL_ARRAY_SIZE(argv), argv, &c, NULL, errmsg));
		ASSERT_TRUE(c.authenticate_frameworks);
		ASSERT_TRUE(c.authenticate_http_readwrite);
		ASSERT_FALSE(c.authenticate_http_readonly);
		ASSERT_STR_CONTAINS(c.acls, "permissive");
		master_config_free(&c);
	}
	fx_fini(&f);
}
