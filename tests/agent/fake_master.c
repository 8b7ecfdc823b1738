/* A fake keel master for agent tests: admits, pings, records and acknowledges status updates. */
#include "fake_master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/pbjson.h"

static void fm_respond_msg(struct keel_http_req *req, int status, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = keel_xmalloc(len + 1);

	protobuf_c_message_pack(m, buf);
	keel_http_respond(req, status, "application/x-protobuf", NULL, buf, len);
	keel_free(buf);
}

/* Connects to the agent at address (replacing an older connection). */
static void fm_connect(struct fake_master *fm, const Mesos__V1__Address *addr)
{
	char errmsg[KEEL_ERRMSG_SIZE];

	if (fm->agent && fm->agent_port == addr->port)
		return; /* keep the connection (and what is in flight on it) */
	if (fm->agent)
		keel_http_client_free(fm->agent);
	fm->agent_port = addr->port;
	fm->agent = NULL;
	if (keel_http_client_new(fm->loop, addr->ip ? addr->ip : "127.0.0.1", (uint16_t)addr->port,
				 NULL, &fm->agent, errmsg) < 0) {
		fprintf(stderr, "fake master: %s\n", errmsg);
		abort();
	}
}

static void fm_answer_registered(struct fake_master *fm, struct keel_http_req *req)
{
	Keel__Agent__AgentRegistered ok = KEEL__AGENT__AGENT_REGISTERED__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__MasterInfo mi = MESOS__V1__MASTER_INFO__INIT;

	aid.value = fm->agent_id;
	mi.id = fm->master_id;
	mi.ip = 0x0100007f;
	mi.port = fm->port;
	mi.hostname = "127.0.0.1";
	ok.agent_id = &aid;
	ok.epoch = fm->epoch;
	ok.master = &mi;
	ok.has_ping_timeout_ms = fm->ping_timeout_ms != 0;
	ok.ping_timeout_ms = fm->ping_timeout_ms;
	fm_respond_msg(req, 200, &ok.base);
}

/* Answers a (re)registration 410 or 503 when the test asked for it; true if it did. */
static bool fm_refuse(struct fake_master *fm, struct keel_http_req *req)
{
	if (fm->gone) {
		keel_http_respond_text(req, 410, "gone");
		return true;
	}
	if (fm->fail_registers > 0) {
		fm->fail_registers--;
		keel_http_respond_text(req, 503, "not ready");
		return true;
	}
	return false;
}

static void fm_on_register(struct keel_http_req *req, void *arg)
{
	struct fake_master *fm = arg;
	Keel__Agent__RegisterAgent *m = NULL;
	size_t len;
	const char *body = keel_http_req_body(req, &len);

	if (keel_pbjson_unpack(&keel__agent__register_agent__descriptor, body, len,
			       (ProtobufCMessage **)&m, NULL) < 0) {
		keel_http_respond_text(req, 400, "bad RegisterAgent");
		return;
	}
	if (!fm_refuse(fm, req)) {
		snprintf(fm->agent_id, sizeof(fm->agent_id), "%s-S%u", fm->master_id,
			 fm->next_agent++);
		fm->registers++;
		fm_connect(fm, m->address);
		fm_answer_registered(fm, req);
	}
	keel_pbjson_free(&m->base);
}

static void fm_on_reregister(struct keel_http_req *req, void *arg)
{
	struct fake_master *fm = arg;
	Keel__Agent__ReregisterAgent *m = NULL;
	size_t len;
	const char *body = keel_http_req_body(req, &len);

	if (keel_pbjson_unpack(&keel__agent__reregister_agent__descriptor, body, len,
			       (ProtobufCMessage **)&m, NULL) < 0 ||
	    !m->info->id) {
		keel_http_respond_text(req, 400, "bad ReregisterAgent");
		keel_pbjson_free(m ? &m->base : NULL);
		return;
	}
	if (!fm_refuse(fm, req)) {
		snprintf(fm->agent_id, sizeof(fm->agent_id), "%s", m->info->id->value);
		fm->reregisters++;
		fm->reregister_tasks = (unsigned)m->n_tasks;
		fm_connect(fm, m->address);
		fm_answer_registered(fm, req);
	}
	keel_pbjson_free(&m->base);
}

static void fm_on_status(struct keel_http_req *req, void *arg)
{
	struct fake_master *fm = arg;
	Keel__Agent__StatusUpdate *m = NULL;
	struct fm_update *u;
	size_t len;
	const char *body = keel_http_req_body(req, &len);

	if (keel_pbjson_unpack(&keel__agent__status_update__descriptor, body, len,
			       (ProtobufCMessage **)&m, NULL) < 0 ||
	    !m->status->has_uuid || m->status->uuid.len != 16) {
		keel_http_respond_text(req, 400, "bad StatusUpdate");
		keel_pbjson_free(m ? &m->base : NULL);
		return;
	}
	if (fm->gone) {
		keel_http_respond_text(req, 410, "gone");
		keel_pbjson_free(&m->base);
		return;
	}
	if (fm->n_updates == fm->cap_updates) {
		fm->cap_updates = fm->cap_updates ? fm->cap_updates * 2 : 64;
		fm->updates = keel_xrealloc(fm->updates, fm->cap_updates * sizeof(*fm->updates));
	}
	u = &fm->updates[fm->n_updates++];
	memset(u, 0, sizeof(*u));
	snprintf(u->task_id, sizeof(u->task_id), "%s", m->status->task_id->value);
	snprintf(u->executor_id, sizeof(u->executor_id), "%s",
		 m->status->executor_id ? m->status->executor_id->value : "");
	snprintf(u->framework_id, sizeof(u->framework_id), "%s", m->framework_id->value);
	u->state = m->status->state;
	u->has_reason = m->status->has_reason;
	u->reason = (int)m->status->reason;
	snprintf(u->message, sizeof(u->message), "%s",
		 m->status->message ? m->status->message : "");
	memcpy(u->uuid, m->status->uuid.data, 16);
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);
	if (fm->auto_ack)
		fm_ack(fm, u);
	keel_pbjson_free(&m->base);
}

struct fake_master *fm_new(struct keel_loop *loop, uint16_t port, uint64_t epoch)
{
	struct fake_master *fm = keel_xcalloc(1, sizeof(*fm));
	char errmsg[KEEL_ERRMSG_SIZE];

	fm->loop = loop;
	fm->epoch = epoch;
	snprintf(fm->master_id, sizeof(fm->master_id), "fake%llu", (unsigned long long)epoch);
	uint64_t end = keel_loop_clock_ns() + 5000000000ull;

	/* A restart on the same port may wait for the old listener's close to complete. */
	while (keel_http_server_new(loop, "127.0.0.1", port, NULL, &fm->server, errmsg) < 0) {
		if (port == 0 || keel_loop_clock_ns() > end) {
			fprintf(stderr, "fake master: %s\n", errmsg);
			abort();
		}
		keel_loop_run_once(loop, 20);
	}
	if (keel_http_server_route(fm->server, KEEL_HTTP_POST, "/internal/agent/register",
				   fm_on_register, fm) < 0 ||
	    keel_http_server_route(fm->server, KEEL_HTTP_POST, "/internal/agent/reregister",
				   fm_on_reregister, fm) < 0 ||
	    keel_http_server_route(fm->server, KEEL_HTTP_POST, "/internal/agent/status",
				   fm_on_status, fm) < 0) {
		fprintf(stderr, "fake master: %s\n", errmsg);
		abort();
	}
	fm->port = keel_http_server_port(fm->server);
	return fm;
}

void fm_free(struct fake_master *fm)
{
	if (!fm)
		return;
	if (fm->agent)
		keel_http_client_free(fm->agent);
	keel_http_server_free(fm->server);
	keel_free(fm->updates);
	keel_free(fm);
}

static void fm_on_answer(int err, const struct keel_http_response *resp, void *arg)
{
	struct fake_master *fm = arg;

	fm->last_status = err ? err : resp->status;
	fm->answers++;
}

void fm_send(struct fake_master *fm, const char *path, const ProtobufCMessage *m)
{
	static const struct keel_http_client_cbs cbs = {.on_done = fm_on_answer};
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = keel_xmalloc(len + 1);

	if (!fm->agent)
		abort();
	protobuf_c_message_pack(m, buf);
	fm->last_status = 0;
	if (keel_http_client_request(fm->agent, "POST", path, NULL, "application/x-protobuf", buf,
				     len, &cbs, fm) < 0)
		abort();
	keel_free(buf);
}

void fm_ping(struct fake_master *fm, uint64_t epoch, bool connected)
{
	Keel__Agent__Ping p = KEEL__AGENT__PING__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;

	aid.value = fm->agent_id;
	p.agent_id = &aid;
	p.epoch = epoch;
	p.connected = connected;
	fm_send(fm, "/internal/master/ping", &p.base);
}

void fm_ack(struct fake_master *fm, const struct fm_update *u)
{
	Keel__Agent__StatusAck m = KEEL__AGENT__STATUS_ACK__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	uint8_t uuid[16];

	memcpy(uuid, u->uuid, 16);
	aid.value = fm->agent_id;
	fid.value = (char *)u->framework_id;
	tid.value = (char *)u->task_id;
	m.agent_id = &aid;
	m.epoch = fm->epoch;
	m.framework_id = &fid;
	m.task_id = &tid;
	m.uuid.data = uuid;
	m.uuid.len = 16;
	fm_send(fm, "/internal/master/ack", &m.base);
}

bool fm_run_until(struct keel_loop *loop, bool (*cond)(void *arg), void *arg, unsigned ms)
{
	uint64_t end = keel_loop_clock_ns() + (uint64_t)ms * 1000000;

	while (!cond(arg)) {
		if (keel_loop_clock_ns() > end)
			return cond(arg);
		keel_loop_run_once(loop, 10);
	}
	return true;
}

unsigned fm_count(const struct fake_master *fm, const char *task_id)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fm->n_updates; i++)
		n += strcmp(fm->updates[i].task_id, task_id) == 0;
	return n;
}

const struct fm_update *fm_nth(const struct fake_master *fm, const char *task_id, unsigned i)
{
	for (unsigned k = 0; k < fm->n_updates; k++)
		if (strcmp(fm->updates[k].task_id, task_id) == 0 && i-- == 0)
			return &fm->updates[k];
	return NULL;
}
