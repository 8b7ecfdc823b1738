/* A fake Mesos master for libkeel-sched tests: SUBSCRIBE streams, events, calls, redirects. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runtime/buf.h"
#include "runtime/pbjson.h"
#include "runtime/recordio.h"
#include "tests/sched/fake_master.h"

static int encode(bool json, const ProtobufCMessage *m, struct keel_buf *out)
{
	size_t n;

	if (json)
		return keel_pbjson_write(out, m, NULL);
	n = protobuf_c_message_get_packed_size(m);
	if (keel_buf_reserve(out, n + 1) < 0)
		return -ENOMEM;
	keel_buf_commit(out, protobuf_c_message_pack(m, (uint8_t *)keel_buf_wptr(out)));
	return 0;
}

int fm_send(struct fake_master *fm, const Mesos__V1__Scheduler__Event *ev)
{
	struct keel_buf body = {0}, rec = {0};
	int rv;

	if (fm->stream == NULL)
		return -ENOTCONN;
	rv = encode(fm->stream_json, &ev->base, &body);
	if (rv == 0)
		rv = keel_recordio_encode(&rec, keel_buf_rptr(&body), keel_buf_size(&body));
	if (rv == 0)
		rv = keel_http_stream_write(fm->stream, keel_buf_rptr(&rec), keel_buf_size(&rec));
	keel_buf_free(&body);
	keel_buf_free(&rec);
	return rv;
}

int fm_heartbeat(struct fake_master *fm)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;

	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT;
	ev.has_type = true;
	return fm_send(fm, &ev);
}

int fm_offer(struct fake_master *fm, const char *offer_id, const char *agent_id,
	     const char *hostname)
{
	return fm_offer_attr(fm, offer_id, agent_id, hostname, NULL, NULL);
}

int fm_offer_attr(struct fake_master *fm, const char *offer_id, const char *agent_id,
		  const char *hostname, const char *attr_name, const char *attr_value)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Offers offers = MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
	Mesos__V1__Offer o = MESOS__V1__OFFER__INIT, *op = &o;
	Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__URL url = MESOS__V1__URL__INIT;
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	Mesos__V1__Attribute attr = MESOS__V1__ATTRIBUTE__INIT, *ap = &attr;
	Mesos__V1__Value__Text text = MESOS__V1__VALUE__TEXT__INIT;

	oid.value = (char *)offer_id;
	aid.value = (char *)agent_id;
	fid.value = (char *)(fm->framework_id != NULL ? fm->framework_id : "fw-1");
	o.id = &oid;
	o.agent_id = &aid;
	o.framework_id = &fid;
	o.hostname = (char *)hostname;
	if (attr_name != NULL) {
		text.value = (char *)attr_value;
		attr.name = (char *)attr_name;
		attr.type = MESOS__V1__VALUE__TYPE__TEXT;
		attr.text = &text;
		o.attributes = &ap;
		o.n_attributes = 1;
	}
	if (fm->agent_port != 0) {
		addr.ip = "127.0.0.1";
		addr.port = (int32_t)fm->agent_port;
		url.scheme = "http";
		url.address = &addr;
		url.path = "/slave(1)";
		o.url = &url;
	}
	offers.offers = &op;
	offers.n_offers = 1;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
	ev.has_type = true;
	ev.offers = &offers;
	return fm_send(fm, &ev);
}

int fm_update(struct fake_master *fm, const char *task_id, const char *agent_id,
	      Mesos__V1__TaskState state, const char *message)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	static uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

	tid.value = (char *)task_id;
	aid.value = (char *)agent_id;
	st.task_id = &tid;
	st.agent_id = &aid;
	st.state = state;
	st.message = (char *)message;
	st.uuid.data = uuid;
	st.uuid.len = sizeof(uuid);
	st.has_uuid = true;
	up.status = &st;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
	ev.has_type = true;
	ev.update = &up;
	return fm_send(fm, &ev);
}

void fm_end_stream(struct fake_master *fm)
{
	struct keel_http_req *r = fm->stream;

	if (r == NULL)
		return;
	fm->stream = NULL;
	keel_http_stream_end(r);
}

static void stream_closed(struct keel_http_req *req, void *arg)
{
	struct fake_master *fm = arg;

	if (fm->stream == req)
		fm->stream = NULL;
}

static void subscribe(struct fake_master *fm, struct keel_http_req *req,
		      const Mesos__V1__Scheduler__Call *call, bool json)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	const char *hdrs[3];
	char loc[128];

	fm->subscribes++;
	if (fm->redirect_to != NULL) {
		snprintf(loc, sizeof(loc), "//%s/api/v1/scheduler", fm->redirect_to);
		hdrs[0] = "Location";
		hdrs[1] = loc;
		hdrs[2] = NULL;
		keel_http_respond(req, 307, NULL, hdrs, NULL, 0);
		return;
	}
	if (fm->subscribe_status != 0) {
		keel_http_respond_text(req, fm->subscribe_status, "refused by the fake");
		return;
	}
	/* A second SUBSCRIBE replaces the old stream, as Mesos does. */
	fm_end_stream(fm);
	snprintf(fm->stream_id, sizeof(fm->stream_id), "stream-%u", ++fm->stream_seq);
	hdrs[0] = "Mesos-Stream-Id";
	hdrs[1] = fm->stream_id;
	hdrs[2] = NULL;
	if (keel_http_stream_start(req, 200, json ? "application/json" : "application/x-protobuf",
				   hdrs) < 0)
		return;
	fm->stream = req;
	fm->stream_json = json;
	keel_http_req_on_events(req, NULL, stream_closed, fm);
	fid.value = call->framework_id != NULL
			? call->framework_id->value
			: (char *)(fm->framework_id != NULL ? fm->framework_id : "fw-1");
	sub.framework_id = &fid;
	sub.heartbeat_interval_seconds = fm->heartbeat_interval;
	sub.has_heartbeat_interval_seconds = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
	ev.has_type = true;
	ev.subscribed = &sub;
	fm_send(fm, &ev);
}

static void handle(struct keel_http_req *req, void *arg)
{
	struct fake_master *fm = arg;
	ProtobufCMessage *m = NULL;
	Mesos__V1__Scheduler__Call *call;
	char ct[64], sid[64];
	const char *body;
	size_t len;
	bool json;
	int rv;

	body = keel_http_req_body(req, &len);
	json = keel_http_req_header(req, "Content-Type", ct, sizeof(ct)) != NULL &&
	       strcmp(ct, "application/json") == 0;
	if (json)
		rv = keel_pbjson_read(&mesos__v1__scheduler__call__descriptor, body, len, &m, NULL);
	else
		rv = keel_pbjson_unpack(&mesos__v1__scheduler__call__descriptor, body, len, &m,
					NULL);
	if (rv < 0) {
		keel_http_respond_text(req, 400, "Failed to parse body");
		return;
	}
	call = (Mesos__V1__Scheduler__Call *)m;
	fm->total_calls++;
	if (fm->n_calls < FM_MAX_CALLS) {
		struct fm_call *c = &fm->calls[fm->n_calls++];
		c->call = call;
		c->json = json;
		if (keel_http_req_header(req, "Mesos-Stream-Id", sid, sizeof(sid)) != NULL)
			snprintf(c->stream_id, sizeof(c->stream_id), "%s", sid);
		m = NULL; /* recorded: owned by fm->calls */
	}
	if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
		subscribe(fm, req, call, json);
		keel_pbjson_free(m);
		return;
	}
	if (keel_http_req_header(req, "Mesos-Stream-Id", sid, sizeof(sid)) == NULL ||
	    strcmp(sid, fm->stream_id) != 0) {
		keel_pbjson_free(m);
		keel_http_respond_text(req, 400,
				       "The stream ID included in this request didn't "
				       "match the stream ID currently associated with "
				       "framework");
		return;
	}
	if (fm->on_call != NULL)
		fm->on_call(fm, call, fm->on_call_arg);
	keel_pbjson_free(m);
	keel_http_respond(req, fm->call_status != 0 ? fm->call_status : 202, NULL, NULL, NULL, 0);
}

int fm_start(struct fake_master *fm, struct keel_loop *loop)
{
	int rv;

	memset(fm, 0, sizeof(*fm));
	fm->loop = loop;
	fm->heartbeat_interval = 0.5;
	rv = keel_http_server_new(loop, "127.0.0.1", 0, NULL, &fm->srv, NULL);
	if (rv < 0)
		return rv;
	rv = keel_http_server_route(fm->srv, KEEL_HTTP_POST, "/api/v1/scheduler", handle, fm);
	if (rv < 0)
		return rv;
	fm->port = keel_http_server_port(fm->srv);
	snprintf(fm->addr, sizeof(fm->addr), "127.0.0.1:%u", fm->port);
	return 0;
}

void fm_stop(struct fake_master *fm)
{
	if (fm->srv != NULL)
		keel_http_server_free(fm->srv);
	fm->srv = NULL;
	fm->stream = NULL;
	for (size_t i = 0; i < fm->n_calls; i++)
		keel_pbjson_free(&fm->calls[i].call->base);
	fm->n_calls = 0;
}

size_t fm_count(const struct fake_master *fm, Mesos__V1__Scheduler__Call__Type type)
{
	size_t n = 0;

	for (size_t i = 0; i < fm->n_calls; i++)
		n += fm->calls[i].call->type == type;
	return n;
}

const Mesos__V1__Scheduler__Call *fm_last(const struct fake_master *fm,
					  Mesos__V1__Scheduler__Call__Type type)
{
	for (size_t i = fm->n_calls; i > 0; i--)
		if (fm->calls[i - 1].call->type == type)
			return fm->calls[i - 1].call;
	return NULL;
}
