/* The v1 scheduler API in process: SUBSCRIBE streams, framework IDs in the registry, status codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/registrar.h"
#include "master/sched.h"
#include "master_fixture.h"
#include "runtime/pbjson.h"
#include "sched_client.h"
#include "test_http_util.h"

#define FW_INFO                                                                                    \
	"{\"user\":\"alice\",\"name\":\"test framework\",\"roles\":[\"web\"],"                     \
	"\"failover_timeout\":3600}"

static struct master *start_leader(struct fx *f, bool in_memory, const char *sub)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, in_memory, sub);
	c.heartbeat_interval_ms = 100;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

static const char *const TYPE_NAMES[] = {"UNKNOWN", "SUBSCRIBED", "OFFERS", "RESCIND",	"UPDATE",
					 "MESSAGE", "FAILURE",	  "ERROR",  "HEARTBEAT"};

static const char *ev_name(const Mesos__V1__Scheduler__Event *ev)
{
	return (unsigned)ev->type < KEEL_ARRAY_SIZE(TYPE_NAMES) ? TYPE_NAMES[ev->type] : "?";
}

/* SUBSCRIBE in one encoding: the stream, its first events, heartbeats, the registry entry. */
static void subscribe_case(bool protobuf)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	const Mesos__V1__Scheduler__Event__Subscribed *sub;
	const Mesos__V1__FrameworkInfo *rec;
	struct master_framework *fw;

	fx_init(&f);
	m = start_leader(&f, false, "m");
	sc_subscribe(&f, m->port, FW_INFO, protobuf, &s);
	sc_wait_subscribed(&f, &s);
	/* Durable before SUBSCRIBED was sent. */
	rec = registrar_framework(m->registrar, s.framework_id);
	ASSERT_NOT_NULL(rec);
	ASSERT_STR_EQ(rec->name, "test framework");
	ASSERT_STR_EQ(rec->id->value, s.framework_id);
	ASSERT_STR_EQ(s.ctype, protobuf ? "application/x-protobuf" : "application/json");
	ASSERT_UINT_EQ(strlen(s.stream_id), 36);
	ASSERT_INT_EQ(s.decode_err, 0);
	ASSERT_STR_EQ(ev_name(s.ev[0]), "SUBSCRIBED");
	sub = s.ev[0]->subscribed;
	ASSERT_TRUE(sub->has_heartbeat_interval_seconds);
	ASSERT_TRUE(sub->heartbeat_interval_seconds > 0.099 &&
		    sub->heartbeat_interval_seconds < 0.101);
	ASSERT_NOT_NULL(sub->master_info);
	ASSERT_STR_EQ(sub->master_info->id, m->id);
	ASSERT_UINT_EQ(sub->master_info->port, m->port);
	ASSERT_TRUE(strncmp(s.framework_id, m->id, strlen(m->id)) == 0);
	/* A HEARTBEAT at once, then one per interval. */
	ASSERT_TRUE(RUN_UNTIL(f.loop, s.n >= 2, 5000));
	ASSERT_STR_EQ(ev_name(s.ev[1]), "HEARTBEAT");
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT) >= 4, 5000));
	ASSERT_UINT_EQ(master_frameworks_count(m), 1);
	ASSERT_UINT_EQ(master_frameworks_connected(m), 1);
	fw = master_framework_find(m, s.framework_id);
	ASSERT_NOT_NULL(fw);
	ASSERT_STR_EQ(fw->stream_id, s.stream_id);
	/* The scheduler leaves: disconnected, still known. */
	sc_close(&s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_frameworks_connected(m) == 0, 5000));
	ASSERT_UINT_EQ(master_frameworks_count(m), 1);
	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(subscribe_json)
{
	subscribe_case(false);
}

TEST(subscribe_protobuf)
{
	subscribe_case(true);
}

/* Two frameworks get two IDs; both are in the registry. */
TEST(subscribe_assigns_distinct_ids)
{
	struct fx f;
	struct master *m;
	struct sc_stream a, b;

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	sc_subscribe(&f, m->port, FW_INFO, false, &a);
	sc_subscribe(&f, m->port, "{\"user\":\"bob\",\"name\":\"two\"}", true, &b);
	sc_wait_subscribed(&f, &a);
	sc_wait_subscribed(&f, &b);
	ASSERT_TRUE(strcmp(a.framework_id, b.framework_id) != 0);
	ASSERT_TRUE(strcmp(a.stream_id, b.stream_id) != 0);
	ASSERT_UINT_EQ(registrar_count_frameworks(m->registrar), 2);
	ASSERT_UINT_EQ(master_frameworks_connected(m), 2);
	sc_close(&a);
	sc_close(&b);
	master_free(m, 0);
	fx_fini(&f);
}

/* Re-subscribing with the ID: the same framework, a new stream; the old stream ends. */
TEST(resubscribe_gets_the_same_framework)
{
	struct fx f;
	struct master *m;
	struct sc_stream a, b;
	struct hresp r = {0};
	char info[256];
	uint64_t frameworks;

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	sc_subscribe(&f, m->port, FW_INFO, false, &a);
	sc_wait_subscribed(&f, &a);
	frameworks = registrar_count_frameworks(m->registrar);
	snprintf(info, sizeof(info),
		 "{\"user\":\"alice\",\"name\":\"renamed\",\"id\":{\"value\":\"%s\"}}",
		 a.framework_id);
	sc_subscribe(&f, m->port, info, true, &b);
	sc_wait_subscribed(&f, &b);
	ASSERT_STR_EQ(b.framework_id, a.framework_id);
	ASSERT_TRUE(strcmp(a.stream_id, b.stream_id) != 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, a.done, 5000));
	ASSERT_INT_EQ(a.err, 0); /* ended cleanly */
	ASSERT_UINT_EQ(registrar_count_frameworks(m->registrar), frameworks);
	ASSERT_STR_EQ(master_framework_find(m, a.framework_id)->info->name, "renamed");
	/* The old stream ID is refused now, the new one works. */
	snprintf(info, sizeof(info),
		 "{\"type\":\"REQUEST\",\"framework_id\":{\"value\":\"%s\"},"
		 "\"request\":{}}",
		 a.framework_id);
	sc_call(&f, m->port, &a, info, &r);
	ASSERT_INT_EQ(r.status, 400);
	ASSERT_STR_CONTAINS(r.body, "didn't match the stream ID");
	sc_call(&f, m->port, &b, info, &r);
	ASSERT_INT_EQ(r.status, 202);
	ASSERT_UINT_EQ(r.len, 0);
	hresp_free(&r);
	sc_close(&a);
	sc_close(&b);
	master_free(m, 0);
	fx_fini(&f);
}

/* A new leader knows frameworks from the registry: the same ID subscribes again. */
TEST(resubscribe_after_failover)
{
	struct fx f;
	struct master *m;
	struct sc_stream a, b;
	struct hresp r = {0};
	char info[256], call[256];
	uint64_t ops;
	struct registrar_stats st;

	fx_init(&f);
	m = start_leader(&f, false, "m");
	sc_subscribe(&f, m->port, FW_INFO, false, &a);
	sc_wait_subscribed(&f, &a);
	master_free(m, 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, a.done, 5000));

	m = start_leader(&f, false, "m");
	ASSERT_NOT_NULL(registrar_framework(m->registrar, a.framework_id));
	ASSERT_UINT_EQ(master_frameworks_count(m), 0);
	/* Known, but not subscribed to this leader yet. */
	snprintf(call, sizeof(call),
		 "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"},\"revive\":{}}",
		 a.framework_id);
	sc_call(&f, m->port, NULL, call, &r);
	ASSERT_INT_EQ(r.status, 403);
	ASSERT_STR_EQ(r.body, "Framework is not subscribed");
	registrar_get_stats(m->registrar, &st);
	ops = st.operations;
	snprintf(info, sizeof(info),
		 "{\"user\":\"alice\",\"name\":\"x\",\"id\":{\"value\":\"%s\"}}", a.framework_id);
	sc_subscribe(&f, m->port, info, false, &b);
	sc_wait_subscribed(&f, &b);
	ASSERT_STR_EQ(b.framework_id, a.framework_id);
	registrar_get_stats(m->registrar, &st);
	ASSERT_UINT_EQ(st.operations, ops); /* nothing new to record */
	ASSERT_UINT_EQ(registrar_count_frameworks(m->registrar), 1);
	hresp_free(&r);
	sc_close(&a);
	sc_close(&b);
	master_free(m, 0);
	fx_fini(&f);
}

/* An ID no leader recorded (a framework from elsewhere) is recorded, as Mesos accepts it. */
TEST(subscribe_with_unknown_id_records_it)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"n\",\"id\":{\"value\":\"fw-ext\"}}",
		     false, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_STR_EQ(s.framework_id, "fw-ext");
	ASSERT_NOT_NULL(registrar_framework(m->registrar, "fw-ext"));
	sc_close(&s);
	master_free(m, 0);
	fx_fini(&f);
}

/* TEARDOWN: 202, the stream ends, the registry forgets it, later calls find nothing. */
TEST(teardown_removes_the_framework)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct hresp r = {0};
	char call[256];

	fx_init(&f);
	m = start_leader(&f, false, "m");
	sc_subscribe(&f, m->port, FW_INFO, true, &s);
	sc_wait_subscribed(&f, &s);
	snprintf(call, sizeof(call), "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"%s\"}}",
		 s.framework_id);
	sc_call(&f, m->port, &s, call, &r);
	ASSERT_INT_EQ(r.status, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, s.done, 5000));
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, registrar_framework(m->registrar, s.framework_id) == NULL, 5000));
	ASSERT_UINT_EQ(master_frameworks_count(m), 0);
	sc_call(&f, m->port, &s, call, &r);
	ASSERT_INT_EQ(r.status, 400);
	ASSERT_STR_EQ(r.body, "Framework cannot be found");
	hresp_free(&r);
	sc_close(&s);
	master_free(m, 0);
	fx_fini(&f);
}

/* One row of the status code table. */
struct code_case {
	const char *what;     /* description */
	const char *method;   /* HTTP method */
	const char *ctype;    /* Content-Type, or NULL */
	const char *accept;   /* Accept, or NULL */
	int stream;	      /* 0: no Mesos-Stream-Id; 1: the live one; 2: a wrong one */
	const char *body;     /* body ("%s" is the framework ID), sent as is */
	bool pb;	      /* convert the JSON body to protobuf */
	int status;	      /* expected status */
	const char *contains; /* expected text in the body ("" for an empty body) */
};

#define FID "{\"value\":\"%s\"}"

static const struct code_case CASES[] = {
    {"no Content-Type", "POST", NULL, NULL, 0, "{}", false, 400,
     "Expecting 'Content-Type' to be present"},
    {"other Content-Type", "POST", "text/plain", NULL, 0, "{}", false, 415,
     "Expecting 'Content-Type' of application/json or application/x-protobuf"},
    {"bad JSON", "POST", "application/json", NULL, 0, "{", false, 400,
     "Failed to convert JSON into Call protobuf"},
    {"bad protobuf", "POST", "application/x-protobuf", NULL, 0, "\xff\xff\xff", false, 400,
     "Failed to parse body into Call protobuf"},
    {"no type", "POST", "application/json", NULL, 0, "{}", false, 400,
     "Failed to validate scheduler::Call: Expecting 'type' to be present"},
    {"SUBSCRIBE without subscribe", "POST", "application/json", NULL, 0, "{\"type\":\"SUBSCRIBE\"}",
     false, 400, "Expecting 'subscribe' to be present"},
    {"SUBSCRIBE ids differ", "POST", "application/json", NULL, 0,
     "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"x\"},\"subscribe\":{"
     "\"framework_info\":{\"user\":\"u\",\"name\":\"n\",\"id\":{\"value\":\"y\"}}}}",
     false, 400, "'framework_id' differs from 'subscribe.framework_info.id'"},
    {"SUBSCRIBE id only outside", "POST", "application/json", NULL, 0,
     "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"x\"},\"subscribe\":{"
     "\"framework_info\":{\"user\":\"u\",\"name\":\"n\"}}}",
     false, 400, "'framework_id' differs from 'subscribe.framework_info.id'"},
    {"SUBSCRIBE with a stream ID", "POST", "application/json", NULL, 1,
     "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":"
     "\"n\"}}}",
     false, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header"},
    {"SUBSCRIBE not acceptable", "POST", "application/json", "text/html", 0,
     "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":"
     "\"n\"}}}",
     false, 406, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"},
    {"SUBSCRIBE missing name", "POST", "application/json", NULL, 0,
     "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\"}}}", false, 400,
     "subscribe.framework_info.name"},
    {"TEARDOWN without framework_id", "POST", "application/json", NULL, 1,
     "{\"type\":\"TEARDOWN\"}", false, 400, "Expecting 'framework_id' to be present"},
    {"DECLINE without decline", "POST", "application/json", NULL, 1,
     "{\"type\":\"DECLINE\",\"framework_id\":" FID "}", false, 400,
     "Expecting 'decline' to be present"},
    {"KILL without kill", "POST", "application/json", NULL, 1,
     "{\"type\":\"KILL\",\"framework_id\":" FID "}", true, 400, "Expecting 'kill' to be present"},
    {"ACKNOWLEDGE bad uuid", "POST", "application/json", NULL, 1,
     "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":" FID ",\"acknowledge\":{\"agent_id\":{"
     "\"value\":\"a\"},\"task_id\":{\"value\":\"t\"},\"uuid\":\"AAAA\"}}",
     false, 400, "Not a valid UUID"},
    {"unknown framework", "POST", "application/json", NULL, 1,
     "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"nope\"}}", false, 400,
     "Framework cannot be found"},
    {"no stream ID", "POST", "application/json", NULL, 0,
     "{\"type\":\"REVIVE\",\"framework_id\":" FID "}", false, 400,
     "All non-subscribe calls should include the 'Mesos-Stream-Id' header"},
    {"wrong stream ID", "POST", "application/json", NULL, 2,
     "{\"type\":\"REVIVE\",\"framework_id\":" FID "}", false, 400,
     "didn't match the stream ID currently associated with framework ID"},
    {"REQUEST accepted", "POST", "application/json", NULL, 1,
     "{\"type\":\"REQUEST\",\"framework_id\":" FID ",\"request\":{}}", true, 202, ""},
    {"UNKNOWN call", "POST", "application/json", NULL, 1,
     "{\"type\":\"UNKNOWN\",\"framework_id\":" FID "}", false, 501, "UNKNOWN"},
    {"GET", "GET", NULL, NULL, 0, "", false, 405, ""},
};

/* Copies tmpl into out with each "%s" replaced by fid. */
static void subst(char *out, size_t size, const char *tmpl, const char *fid)
{
	size_t n = 0;

	for (const char *p = tmpl; *p != '\0' && n + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 's') {
			n += (size_t)snprintf(out + n, size - n, "%s", fid);
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n < size ? n : size - 1] = '\0';
}

/* Every status code of the endpoint, each with Mesos's text (MESOS_API.md). */
TEST(status_codes_table)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct hresp r = {0};
	char body[1024];

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(CASES); i++) {
		const struct code_case *c = &CASES[i];
		const char *sid = c->stream == 1   ? s.stream_id
				  : c->stream == 2 ? "00000000-0000-4000-8000-000000000000"
						   : NULL;
		size_t len;
		subst(body, sizeof(body), c->body, s.framework_id);
		len = strlen(body);
		if (c->pb) {
			ProtobufCMessage *msg = NULL;
			char json[1024];
			snprintf(json, sizeof(json), "%s", body);
			ASSERT_OK(keel_pbjson_read(&mesos__v1__scheduler__call__descriptor, json,
						   strlen(json), &msg, NULL));
			len = protobuf_c_message_pack(msg, (uint8_t *)body);
			keel_pbjson_free(msg);
		}
		sc_raw(&f, m->port, c->method,
		       i % 2 ? "/master/api/v1/scheduler" : "/api/v1/scheduler",
		       c->pb ? "application/x-protobuf" : c->ctype, c->accept, sid, body, len, &r);
		if (r.status != c->status || strstr(r.body, c->contains) == NULL)
			fprintf(stderr, "case '%s': got %d '%s'\n", c->what, r.status, r.body);
		ASSERT_INT_EQ(r.status, c->status);
		ASSERT_STR_CONTAINS(r.body, c->contains);
		if (c->contains[0] == '\0' && c->status == 202)
			ASSERT_UINT_EQ(r.len, 0);
	}
	/* The stream survived all of it; a disconnected framework gets 403. */
	ASSERT_FALSE(s.done);
	ASSERT_UINT_EQ(registrar_count_frameworks(m->registrar), 1);
	snprintf(body, sizeof(body), "{\"type\":\"REVIVE\",\"framework_id\":" FID "}",
		 s.framework_id);
	sc_close(&s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_frameworks_connected(m) == 0, 5000));
	sc_raw(&f, m->port, "POST", "/api/v1/scheduler", "application/json", NULL, s.stream_id,
	       body, strlen(body), &r);
	ASSERT_INT_EQ(r.status, 403);
	ASSERT_STR_EQ(r.body, "Framework is not subscribed");
	hresp_free(&r);
	master_free(m, 0);
	fx_fini(&f);
}

/* A standby master redirects the scheduler API to the leader, on both paths. */
TEST(standby_redirects_the_scheduler_api)
{
	struct fx f;
	struct master *a, *b;
	struct hresp r = {0};
	char loc[256];
	const char *body = "{\"type\":\"SUBSCRIBE\"}";

	fx_init(&f);
	a = fx_leader_and_standby(&f, &b);
	sc_raw(&f, b->port, "POST", "/api/v1/scheduler", "application/json", NULL, NULL, body,
	       strlen(body), &r);
	ASSERT_INT_EQ(r.status, 307);
	snprintf(loc, sizeof(loc), "//127.0.0.1:%u/api/v1/scheduler", a->port);
	ASSERT_STR_EQ(r.location, loc);
	sc_raw(&f, b->port, "POST", "/master/api/v1/scheduler", "application/json", NULL, NULL,
	       body, strlen(body), &r);
	ASSERT_INT_EQ(r.status, 307);
	snprintf(loc, sizeof(loc), "//127.0.0.1:%u/master/api/v1/scheduler", a->port);
	ASSERT_STR_EQ(r.location, loc);
	hresp_free(&r);
	master_free(b, 0);
	master_free(a, 0);
	fx_fini(&f);
}

/* Disconnected longer than failover_timeout: torn down and gone from the registry. */
TEST(failover_timeout_tears_down)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	char id[128];
	uint64_t start;

	fx_init(&f);
	m = start_leader(&f, true, NULL);
	sc_subscribe(&f, m->port, "{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":1}", false,
		     &s);
	sc_wait_subscribed(&f, &s);
	snprintf(id, sizeof(id), "%s", s.framework_id);
	start = keel_loop_clock_ns();
	sc_close(&s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_frameworks_connected(m) == 0, 5000));
	/* Not yet torn down, unless this loaded machine stalled the test for most of the second. */
	if (keel_loop_clock_ns() - start < 500 * 1000000ull)
		ASSERT_UINT_EQ(master_frameworks_count(m), 1);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_frameworks_count(m) == 0, 5000));
	ASSERT_TRUE(RUN_UNTIL(f.loop, registrar_framework(m->registrar, id) == NULL, 5000));
	master_free(m, 0);
	fx_fini(&f);
}
