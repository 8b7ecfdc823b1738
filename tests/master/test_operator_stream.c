/* The operator API's SUBSCRIBE in process: the event sequence in JSON and protobuf, two
 * subscribers, heartbeats, a slow subscriber dropped, streams ended on leadership loss. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/operator_stream.h"
#include "master/sched.h"
#include "fake_agent.h"
#include "master_fixture.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/pbjson.h"
#include "runtime/recordio.h"
#include "sched_client.h"
#include "test_http_util.h"

#define FW_INFO "{\"user\":\"alice\",\"name\":\"operator stream test\"}"

/* --- An operator subscriber --- */

struct op_stream {
	struct keel_http_client *client;  /* its own connection */
	bool protobuf;			  /* Accept: application/x-protobuf */
	int status;			  /* HTTP status, 0 before the head */
	char ctype[64];			  /* Content-Type */
	bool done;			  /* the stream ended */
	int decode_err;			  /* a record that did not decode, or 0 */
	struct keel_recordio_decoder dec; /* RecordIO decoder */
	Mesos__V1__Master__Event **ev;	  /* every event (owned), in order */
	size_t n, cap;			  /* how many, room */
};

static int op_record(void *arg, const char *rec, size_t len)
{
	struct op_stream *s = arg;
	ProtobufCMessage *msg = NULL;
	int rv =
	    s->protobuf
		? keel_pbjson_unpack(&mesos__v1__master__event__descriptor, rec, len, &msg, NULL)
		: keel_pbjson_read(&mesos__v1__master__event__descriptor, rec, len, &msg, NULL);

	if (rv < 0) {
		s->decode_err = rv;
		return 0;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->ev = realloc(s->ev, s->cap * sizeof(*s->ev));
		ASSERT_NOT_NULL(s->ev);
	}
	s->ev[s->n++] = (Mesos__V1__Master__Event *)msg;
	return 0;
}

static void op_head(const struct keel_http_response *resp, void *arg)
{
	struct op_stream *s = arg;
	size_t len;
	const char *v = keel_http_header_get(resp->head, "Content-Type", &len);

	s->status = resp->status;
	snprintf(s->ctype, sizeof(s->ctype), "%.*s", v ? (int)len : 0, v ? v : "");
}

static void op_data(const char *data, size_t len, void *arg)
{
	struct op_stream *s = arg;

	if (s->status == 200 && keel_recordio_feed(&s->dec, data, len, op_record, s) < 0)
		s->decode_err = -EBADMSG;
}

static void op_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct op_stream *s = arg;

	(void)err;
	if (resp != NULL && s->status == 0)
		s->status = resp->status;
	s->done = true;
}

static void op_subscribe(struct fx *f, struct master *m, bool protobuf, struct op_stream *s)
{
	static const struct keel_http_client_cbs cbs = {
	    .on_head = op_head, .on_data = op_data, .on_done = op_done};
	struct keel_http_client_config cc = {.request_timeout = 120000};
	const char *type = protobuf ? "application/x-protobuf" : "application/json";
	const char *headers[] = {"Accept", type, NULL};
	char errmsg[KEEL_ERRMSG_SIZE];
	uint8_t pb[16];
	const char *json = "{\"type\":\"SUBSCRIBE\"}";
	Mesos__V1__Master__Call call = MESOS__V1__MASTER__CALL__INIT;
	size_t len;

	memset(s, 0, sizeof(*s));
	s->protobuf = protobuf;
	keel_recordio_decoder_init(&s->dec, 16u << 20);
	call.has_type = true;
	call.type = MESOS__V1__MASTER__CALL__TYPE__SUBSCRIBE;
	len = mesos__v1__master__call__pack(&call, pb);
	ASSERT_OK(keel_http_client_new(f->loop, "127.0.0.1", m->port, &cc, &s->client, errmsg));
	ASSERT_OK(keel_http_client_request(s->client, "POST", "/api/v1", headers, type,
					   protobuf ? (const char *)pb : json,
					   protobuf ? len : strlen(json), &cbs, s));
}

static size_t op_count(const struct op_stream *s, Mesos__V1__Master__Event__Type type)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->ev[i]->type == type;
	return n;
}

static void op_close(struct op_stream *s)
{
	keel_http_client_free(s->client);
	for (size_t i = 0; i < s->n; i++)
		keel_pbjson_free(&s->ev[i]->base);
	free(s->ev);
	keel_recordio_decoder_free(&s->dec);
	memset(s, 0, sizeof(*s));
}

/* The events but HEARTBEATs, as type names joined by spaces. */
static void op_sequence(const struct op_stream *s, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n && used < size; i++) {
		const ProtobufCEnumValue *v;
		if (s->ev[i]->type == MESOS__V1__MASTER__EVENT__TYPE__HEARTBEAT)
			continue;
		v = protobuf_c_enum_descriptor_get_value(
		    &mesos__v1__master__event__type__descriptor, (int)s->ev[i]->type);
		used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " " : "",
					 v ? v->name : "?");
	}
}

static struct master *start_leader(struct fx *f, uint32_t heartbeat_ms, size_t backlog)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, true, NULL);
	c.heartbeat_interval_ms = heartbeat_ms;
	c.allocation_interval_ms = 20;
	c.opstream_backlog = backlog;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

static void sched_call(struct fx *f, struct master *m, struct sc_stream *s, const char *json,
		       int expect)
{
	struct hresp r = {0};

	sc_call(f, m->port, s, json, &r);
	if (r.status != expect)
		fprintf(stderr, "call %s: %d %s\n", json, r.status, r.body);
	ASSERT_INT_EQ(r.status, expect);
	hresp_free(&r);
}

/* Waits until every subscriber has at least n events. */
static void wait_events(struct fx *f, struct op_stream *const *subs, size_t k, size_t n)
{
	for (size_t i = 0; i < k; i++)
		ASSERT_TRUE(RUN_UNTIL(f->loop, subs[i]->n >= n || subs[i]->done, 30000));
}

/*
 * k subscribers (protobuf[i] says which encoding) watch: two agents register, a framework
 * subscribes, launches a task that runs to FINISHED, tears down, one agent is marked gone.
 */
static void run_sequence(const bool *protobuf, size_t k)
{
	struct fx f;
	struct master *m;
	struct op_stream streams[4], *subs[4];
	struct sc_stream s;
	struct fake_agent log;
	char *a1, *a2, offer[128], json[4096], seq[1024];
	const Mesos__V1__Master__Event *ev;
	struct hresp r = {0};
	size_t n;

	fx_init(&f);
	fake_agent_routes(&f, &log);
	m = start_leader(&f, 60000, 0);
	for (size_t i = 0; i < k; i++) {
		subs[i] = &streams[i];
		op_subscribe(&f, m, protobuf[i], subs[i]);
	}
	wait_events(&f, subs, k, 2);
	for (size_t i = 0; i < k; i++) {
		ASSERT_INT_EQ(subs[i]->status, 200);
		ASSERT_STR_EQ(subs[i]->ctype,
			      protobuf[i] ? "application/x-protobuf" : "application/json");
		ASSERT_INT_EQ(subs[i]->decode_err, 0);
		ev = subs[i]->ev[0];
		ASSERT_INT_EQ(ev->type, MESOS__V1__MASTER__EVENT__TYPE__SUBSCRIBED);
		ASSERT_NOT_NULL(ev->subscribed->get_state);
		ASSERT_TRUE(ev->subscribed->has_heartbeat_interval_seconds);
		ASSERT_TRUE(ev->subscribed->heartbeat_interval_seconds == 60.0);
		ASSERT_UINT_EQ(ev->subscribed->get_state->get_agents->n_agents, 0);
		ASSERT_INT_EQ(subs[i]->ev[1]->type, MESOS__V1__MASTER__EVENT__TYPE__HEARTBEAT);
	}
	ASSERT_UINT_EQ(master_opstream_subscribers(m), k);

	a1 = register_rich_agent(&f, m, "op-a1");
	a2 = register_rich_agent(&f, m, "op-a2");
	wait_events(&f, subs, k, 4);
	for (size_t i = 0; i < k; i++) {
		ev = subs[i]->ev[2];
		ASSERT_INT_EQ(ev->type, MESOS__V1__MASTER__EVENT__TYPE__AGENT_ADDED);
		ASSERT_STR_EQ(ev->agent_added->agent->agent_info->id->value, a1);
		ASSERT_TRUE(ev->agent_added->agent->active);
		ASSERT_TRUE(ev->agent_added->agent->has_deactivated);
		ASSERT_FALSE(ev->agent_added->agent->deactivated);
		ASSERT_TRUE(strncmp(ev->agent_added->agent->pid, "slave(1)@127.0.0.1:", 19) == 0);
	}

	sc_subscribe(&f, m->port, FW_INFO, false, &s);
	sc_wait_subscribed(&f, &s);
	wait_events(&f, subs, k, 5);
	for (size_t i = 0; i < k; i++) {
		ev = subs[i]->ev[4];
		ASSERT_INT_EQ(ev->type, MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_ADDED);
		ASSERT_STR_EQ(ev->framework_added->framework->framework_info->id->value,
			      s.framework_id);
		ASSERT_TRUE(ev->framework_added->framework->connected);
	}

	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, sc_last(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) != NULL, 20000));
	{
		const Mesos__V1__Scheduler__Event *oe =
		    sc_last(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
		const Mesos__V1__Offer *o = oe->offers->offers[0];
		snprintf(offer, sizeof(offer), "%s", o->id->value);
		snprintf(json, sizeof(json),
			 "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
			 "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
			 "\"launch\":{\"task_infos\":[{\"name\":\"t1\",\"task_id\":{\"value\":"
			 "\"t1\"},\"agent_id\":{\"value\":\"%s\"},\"resources\":[{\"name\":"
			 "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}],\"command\":{"
			 "\"value\":\"true\"}}]}}]}}",
			 s.framework_id, offer, o->agent_id->value);
		sched_call(&f, m, &s, json, 202);
		wait_events(&f, subs, k, 6);
		for (size_t i = 0; i < k; i++) {
			ev = subs[i]->ev[subs[i]->n - 1];
			ASSERT_INT_EQ(ev->type, MESOS__V1__MASTER__EVENT__TYPE__TASK_ADDED);
			ASSERT_STR_EQ(ev->task_added->task->task_id->value, "t1");
			ASSERT_INT_EQ(ev->task_added->task->state,
				      MESOS__V1__TASK_STATE__TASK_STAGING);
		}
		fake_agent_update(&f, m, o->agent_id->value, s.framework_id, "t1",
				  MESOS__V1__TASK_STATE__TASK_RUNNING, 1, 202);
		/* The same state again changes nothing: no event. */
		fake_agent_update(&f, m, o->agent_id->value, s.framework_id, "t1",
				  MESOS__V1__TASK_STATE__TASK_RUNNING, 2, 202);
		fake_agent_update(&f, m, o->agent_id->value, s.framework_id, "t1",
				  MESOS__V1__TASK_STATE__TASK_FINISHED, 3, 202);
	}
	wait_events(&f, subs, k, 8);
	snprintf(json, sizeof(json), "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"%s\"}}",
		 s.framework_id);
	sched_call(&f, m, &s, json, 202);
	snprintf(
	    json, sizeof(json),
	    "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
	    a2);
	api_json(&f, m->port, json, &r);
	ASSERT_INT_EQ(r.status, 200);
	hresp_free(&r);
	for (size_t i = 0; i < k; i++) {
		ASSERT_TRUE(RUN_UNTIL(
		    f.loop, op_count(subs[i], MESOS__V1__MASTER__EVENT__TYPE__AGENT_REMOVED) == 1,
		    30000));
		op_sequence(subs[i], seq, sizeof(seq));
		ASSERT_STR_EQ(seq, "SUBSCRIBED AGENT_ADDED AGENT_ADDED FRAMEWORK_ADDED TASK_ADDED "
				   "TASK_UPDATED TASK_UPDATED FRAMEWORK_REMOVED AGENT_REMOVED");
		n = subs[i]->n;
		for (size_t j = 0; j < n; j++) {
			ev = subs[i]->ev[j];
			if (ev->type == MESOS__V1__MASTER__EVENT__TYPE__TASK_UPDATED) {
				ASSERT_STR_EQ(ev->task_updated->framework_id->value,
					      s.framework_id);
				ASSERT_STR_EQ(ev->task_updated->status->task_id->value, "t1");
				ASSERT_INT_EQ(ev->task_updated->state,
					      ev->task_updated->status->state);
			}
			if (ev->type == MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_REMOVED)
				ASSERT_STR_EQ(ev->framework_removed->framework_info->id->value,
					      s.framework_id);
			if (ev->type == MESOS__V1__MASTER__EVENT__TYPE__AGENT_REMOVED)
				ASSERT_STR_EQ(ev->agent_removed->agent_id->value, a2);
		}
		ASSERT_INT_EQ(subs[i]->decode_err, 0);
		ASSERT_FALSE(subs[i]->done);
	}
	/* Every subscriber saw the same events (the same bytes, decoded). */
	for (size_t i = 1; i < k; i++)
		ASSERT_UINT_EQ(subs[i]->n, subs[0]->n);
	{
		size_t states[2] = {0, 0};
		for (size_t j = 0; j < subs[0]->n; j++)
			if (subs[0]->ev[j]->type == MESOS__V1__MASTER__EVENT__TYPE__TASK_UPDATED)
				states[states[0] ? 1 : 0] = subs[0]->ev[j]->task_updated->state;
		ASSERT_INT_EQ(states[0], MESOS__V1__TASK_STATE__TASK_RUNNING);
		ASSERT_INT_EQ(states[1], MESOS__V1__TASK_STATE__TASK_FINISHED);
	}

	/* One subscriber leaves: the others stay. */
	op_close(subs[0]);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_opstream_subscribers(m) == k - 1, 20000));
	for (size_t i = 1; i < k; i++)
		op_close(subs[i]);
	sc_close(&s);
	free(a1);
	free(a2);
	master_free(m, 0);
	fx_fini(&f);
	ASSERT_UINT_EQ(log.run, 1);
}

TEST(subscribe_event_sequence_json)
{
	const bool enc[] = {false};
	run_sequence(enc, 1);
}

TEST(subscribe_event_sequence_protobuf)
{
	const bool enc[] = {true};
	run_sequence(enc, 1);
}

TEST(two_subscribers_json_and_protobuf)
{
	const bool enc[] = {false, true};
	run_sequence(enc, 2);
}

TEST(three_subscribers_same_encoding)
{
	const bool enc[] = {true, true, false};
	run_sequence(enc, 3);
}

TEST(heartbeats_at_the_interval)
{
	struct fx f;
	struct master *m;
	struct op_stream s;

	fx_init(&f);
	m = start_leader(&f, 50, 0);
	op_subscribe(&f, m, false, &s);
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, op_count(&s, MESOS__V1__MASTER__EVENT__TYPE__HEARTBEAT) >= 4, 30000));
	ASSERT_INT_EQ(s.ev[0]->type, MESOS__V1__MASTER__EVENT__TYPE__SUBSCRIBED);
	ASSERT_TRUE(s.ev[0]->subscribed->heartbeat_interval_seconds == 0.05);
	op_close(&s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_opstream_subscribers(m) == 0, 20000));
	master_free(m, 0);
	fx_fini(&f);
}

TEST(subscribe_refused_by_accept)
{
	struct fx f;
	struct master *m;
	struct hresp r = {0};
	const char *json = "{\"type\":\"SUBSCRIBE\"}";

	fx_init(&f);
	m = start_leader(&f, 60000, 0);
	hcall(&f, m->port, "POST", "/api/v1", "application/json", "text/html", json, strlen(json),
	      &r);
	ASSERT_INT_EQ(r.status, 406);
	ASSERT_UINT_EQ(master_opstream_subscribers(m), 0);
	hresp_free(&r);
	master_free(m, 0);
	fx_fini(&f);
}

/* A subscriber that never reads: its backlog passes the cap and it is dropped; the other one
 * keeps every event. */
TEST(slow_subscriber_dropped_at_its_backlog_cap)
{
	struct fx f;
	struct master *m;
	struct op_stream fast;
	struct sc_stream *cur;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd, rcv = 2048;
	char req[512], *name, info[70000];
	const char *body = "{\"type\":\"SUBSCRIBE\"}";
	size_t updates = 0;

	fx_init(&f);
	m = start_leader(&f, 60000, 64 * 1024);
	op_subscribe(&f, m, true, &fast);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)));
	sa.sin_port = htons(m->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
	snprintf(req, sizeof(req),
		 "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		 "Accept: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	ASSERT_TRUE(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_opstream_subscribers(m) == 2, 20000));

	/* A framework with a 60 KB name, subscribed again and again: FRAMEWORK_UPDATED each. */
	name = malloc(60001);
	ASSERT_NOT_NULL(name);
	memset(name, 'n', 60000);
	name[60000] = '\0';
	snprintf(info, sizeof(info), "{\"user\":\"alice\",\"name\":\"%s\"}", name);
	cur = calloc(1, sizeof(*cur));
	ASSERT_NOT_NULL(cur);
	sc_subscribe(&f, m->port, info, false, cur);
	sc_wait_subscribed(&f, cur);
	snprintf(info, sizeof(info),
		 "{\"user\":\"alice\",\"name\":\"%s\",\"id\":{\"value\":\"%s\"}}", name,
		 cur->framework_id);
	while (master_opstream_dropped(m) == 0 && updates < 400) {
		/* Each stream is its client's callback argument: it stays where it is. */
		struct sc_stream *again = calloc(1, sizeof(*again));
		ASSERT_NOT_NULL(again);
		sc_subscribe(&f, m->port, info, false, again);
		sc_wait_subscribed(&f, again);
		sc_close(cur);
		free(cur);
		cur = again;
		updates++;
	}
	ASSERT_UINT_EQ(master_opstream_dropped(m), 1);
	ASSERT_UINT_EQ(master_opstream_subscribers(m), 1);
	/* The fast one got every FRAMEWORK_UPDATED (and the ADDED). */
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, op_count(&fast, MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_UPDATED) >= updates,
	    30000));
	ASSERT_UINT_EQ(op_count(&fast, MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_ADDED), 1);
	ASSERT_FALSE(fast.done);
	close(fd);
	free(name);
	sc_close(cur);
	free(cur);
	op_close(&fast);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(leadership_loss_ends_every_stream)
{
	struct fx f;
	struct master *m;
	struct op_stream a, b;

	fx_init(&f);
	m = start_leader(&f, 60000, 0);
	op_subscribe(&f, m, false, &a);
	op_subscribe(&f, m, true, &b);
	ASSERT_TRUE(RUN_UNTIL(f.loop, a.n >= 2 && b.n >= 2, 20000));
	master_fail(m, "test: leadership lost");
	ASSERT_UINT_EQ(f.fatal, 1);
	ASSERT_UINT_EQ(master_opstream_subscribers(m), 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, a.done && b.done, 20000));
	ASSERT_INT_EQ(a.decode_err, 0);
	op_close(&a);
	op_close(&b);
	master_free(m, 0);
	fx_fini(&f);
}
