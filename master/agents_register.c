/* The agent protocol on the leader: RegisterAgent and ReregisterAgent, answered once durable. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "master_int.h"
#include "offers.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

#define PROTOBUF_TYPE "application/x-protobuf"

/* Answers 400 with one line and counts it; nothing changes. */
static void bad_request(struct master *m, struct keel_http_req *req, const char *what,
			const char *why)
{
	char text[KEEL_ERRMSG_SIZE + 64];

	m->counters.invalid_messages++;
	snprintf(text, sizeof(text), "malformed %s: %s", what, why);
	keel_http_respond_text(req, 400, text);
}

static void busy(struct master *m, struct keel_http_req *req)
{
	m->counters.busy++;
	keel_http_respond_text(req, 503, "a change to this agent is in progress, retry");
}

void master_agent_answer(struct master *m, struct master_agent *a, struct keel_http_req *req)
{
	Keel__Agent__AgentRegistered ok = KEEL__AGENT__AGENT_REGISTERED__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	uint8_t small[1024];
	uint8_t *buf = small;
	size_t len;

	if (!master_leading(m)) {
		master_http_unavailable(m, req, "No leader elected");
		return;
	}
	aid.value = a->id;
	ok.agent_id = &aid;
	ok.epoch = m->epoch;
	ok.master = m->info;
	ok.has_ping_timeout_ms = true;
	ok.ping_timeout_ms = m->cfg.ping_timeout_ms;
	len = keel__agent__agent_registered__get_packed_size(&ok);
	if (len > sizeof(small))
		buf = keel_xmalloc(len);
	keel__agent__agent_registered__pack(&ok, buf);
	keel_http_respond(req, 200, PROTOBUF_TYPE, NULL, buf, len);
	if (buf != small)
		keel_free(buf);
}

/* Checks what the protocol needs beyond the schema; 0 or -EINVAL with why. */
static int check_agent(const Mesos__V1__AgentInfo *info, const Mesos__V1__Address *addr,
		       const char *key, char *why)
{
	char name[300];

	if (info->hostname[0] == '\0')
		return keel_errf(why, -EINVAL, "info.hostname is empty");
	if (key[0] == '\0')
		return keel_errf(why, -EINVAL, "key is empty");
	if (strlen(key) > 1024)
		return keel_errf(why, -EINVAL, "key longer than 1024 bytes");
	if (master_address_format(addr, name, sizeof(name), why) < 0)
		return keel_errwrap(why, -EINVAL, "address");
	return 0;
}

static char *steal_str(char **s)
{
	char *v = *s;
	*s = NULL;
	return v;
}

/* --- register --- */

static void admitted(struct master *m, int status, struct master_agent *a, void *data)
{
	(void)data;
	if (status < 0) {
		master_fail(m, "admitting agent %s failed: %s", a->id, strerror(-status));
		return;
	}
	if (!master_leading(m))
		return;
	master_agent_set_state(m, a, MASTER_AGENT_ACTIVE);
	m->counters.registrations++;
	KEEL_INFO(MASTER_LOG, "agent %s (%s) registered at %s", a->id, a->info->hostname,
		  a->origin ? a->origin->name : "?");
	master_agent_answer_parked(m, a, 200, NULL);
}

static void on_register(struct keel_http_req *req, void *arg)
{
	struct master *m = arg;
	Keel__Agent__RegisterAgent *msg = NULL;
	Mesos__V1__AgentID *aid;
	struct master_agent *a;
	struct master_op *op;
	char why[KEEL_ERRMSG_SIZE], id[96];
	const char *body;
	size_t len;
	int rv;

	if (!master_http_gate(m, req))
		return;
	body = keel_http_req_body(req, &len);
	rv = keel_pbjson_unpack(&keel__agent__register_agent__descriptor, body, len,
				(ProtobufCMessage **)&msg, why);
	if (rv < 0) {
		bad_request(m, req, "RegisterAgent", why);
		return;
	}
	if (check_agent(msg->info, msg->address, msg->key, why) < 0) {
		bad_request(m, req, "RegisterAgent", why);
		goto out;
	}
	if (msg->info->id != NULL) {
		bad_request(m, req, "RegisterAgent",
			    "info.id is set: an agent with an ID re-registers");
		goto out;
	}
	a = keel_hmap_get(&m->agents.by_key, msg->key);
	if (a != NULL) {
		/* A retry of a registration we know: the same ID, once durable. */
		if (a->state == MASTER_AGENT_ADMITTING) {
			master_agent_park(a, req);
		} else if (a->state == MASTER_AGENT_ACTIVE) {
			if (master_agent_set_address(m, a, msg->address, why) < 0) {
				bad_request(m, req, "RegisterAgent", why);
				goto out;
			}
			master_agent_answer(m, a, req);
		} else {
			busy(m, req);
		}
		goto out;
	}
	snprintf(id, sizeof(id), "%s-S%" PRIu64, m->id, m->agents.next_seq);
	aid = keel_xcalloc(1, sizeof(*aid));
	mesos__v1__agent_id__init(aid);
	aid->value = keel_xstrdup(id);
	msg->info->id = aid;
	a = master_agent_add(m, id, msg->key, MASTER_AGENT_ADMITTING);
	if (master_agent_set_address(m, a, msg->address, why) < 0) {
		master_agent_remove(m, a);
		bad_request(m, req, "RegisterAgent", why);
		goto out;
	}
	op = master_op_new(m, admitted, a, NULL);
	rv = registrar_admit_agent(m->registrar, msg->info, master_op_done, op);
	if (rv < 0) {
		master_op_cancel(op);
		master_agent_remove(m, a);
		KEEL_WARN(MASTER_LOG, "cannot admit agent %s: %s", id, strerror(-rv));
		master_http_unavailable(m, req, "the registry refused the admission, retry");
		goto out;
	}
	m->agents.next_seq++;
	master_agent_set_info(a, msg->info);
	msg->info = NULL;
	if (a->state == MASTER_AGENT_ACTIVE)
		master_offers_agent_update(m, a);
	a->version = steal_str(&msg->version);
	master_agent_park(a, req);
out:
	keel_pbjson_free(&msg->base);
}

/* --- reregister --- */

static void reached(struct master *m, int status, struct master_agent *a, void *data)
{
	(void)data;
	if (status < 0) {
		master_fail(m, "marking agent %s reachable failed: %s", a->id, strerror(-status));
		return;
	}
	if (!master_leading(m))
		return;
	master_agent_set_state(m, a, MASTER_AGENT_ACTIVE);
	m->counters.reachable++;
	m->counters.reregistrations++;
	KEEL_INFO(MASTER_LOG, "agent %s (%s) is reachable again", a->id, a->info->hostname);
	master_agent_answer_parked(m, a, 200, NULL);
}

/* Takes what a ReregisterAgent says about the agent into a. */
static void take_reregistration(struct master *m, struct master_agent *a,
				Keel__Agent__ReregisterAgent *msg)
{
	master_agent_set_key(m, a, msg->key);
	master_agent_set_info(a, msg->info);
	msg->info = NULL;
	for (size_t i = 0; i < a->n_tasks; i++)
		keel_pbjson_free(&a->tasks[i]->base);
	keel_free(a->tasks);
	a->tasks = msg->tasks;
	a->n_tasks = msg->n_tasks;
	msg->tasks = NULL;
	msg->n_tasks = 0;
	keel_free(a->version);
	a->version = steal_str(&msg->version);
	a->registered_ns = master_wall_ns();
}

static void on_reregister(struct keel_http_req *req, void *arg)
{
	struct master *m = arg;
	Keel__Agent__ReregisterAgent *msg = NULL;
	enum registrar_agent_state rs;
	struct master_agent *a;
	struct master_op *op;
	char why[KEEL_ERRMSG_SIZE], origin[300];
	const char *body, *id;
	size_t len;
	int rv;

	if (!master_http_gate(m, req))
		return;
	body = keel_http_req_body(req, &len);
	rv = keel_pbjson_unpack(&keel__agent__reregister_agent__descriptor, body, len,
				(ProtobufCMessage **)&msg, why);
	if (rv < 0) {
		bad_request(m, req, "ReregisterAgent", why);
		return;
	}
	if (check_agent(msg->info, msg->address, msg->key, why) < 0) {
		bad_request(m, req, "ReregisterAgent", why);
		goto out;
	}
	if (msg->info->id == NULL || msg->info->id->value[0] == '\0') {
		bad_request(m, req, "ReregisterAgent", "info.id is missing");
		goto out;
	}
	id = msg->info->id->value;
	a = master_agent_find(m, id);
	if (a != NULL) {
		if (a->state != MASTER_AGENT_ACTIVE) {
			busy(m, req);
			goto out;
		}
		/* Known to this leader already (a retry, or the agent reconnected). */
		if (master_agent_set_address(m, a, msg->address, why) < 0) {
			bad_request(m, req, "ReregisterAgent", why);
			goto out;
		}
		take_reregistration(m, a, msg);
		m->counters.reregistrations++;
		master_agent_answer(m, a, req);
		goto out;
	}
	if (master_awaiting_marking(m, id)) {
		busy(m, req);
		goto out;
	}
	rs = registrar_agent_state(m->registrar, id, NULL, NULL);
	if (rs == REGISTRAR_AGENT_ADMITTED) {
		/* Admitted by this or an earlier leader: accept at once, nothing to write. */
		a = master_agent_add(m, id, NULL, MASTER_AGENT_ADMITTING);
		if (master_agent_set_address(m, a, msg->address, why) < 0) {
			master_agent_remove(m, a);
			bad_request(m, req, "ReregisterAgent", why);
			goto out;
		}
		take_reregistration(m, a, msg);
		master_agent_set_state(m, a, MASTER_AGENT_ACTIVE);
		master_awaiting_forget(m, id);
		m->counters.reregistrations++;
		KEEL_DEBUG(MASTER_LOG, "agent %s re-registered", id);
		master_agent_answer(m, a, req);
		goto out;
	}
	if (rs == REGISTRAR_AGENT_UNREACHABLE) {
		a = master_agent_add(m, id, NULL, MASTER_AGENT_REACHING);
		if (master_agent_set_address(m, a, msg->address, why) < 0) {
			master_agent_remove(m, a);
			bad_request(m, req, "ReregisterAgent", why);
			goto out;
		}
		if (!master_leading(m)) {
			master_agent_remove(m, a);
			master_http_unavailable(m, req, "No leader elected");
			goto out;
		}
		op = master_op_new(m, reached, a, NULL);
		rv = registrar_mark_reachable(m->registrar, msg->info, master_op_done, op);
		if (rv < 0) {
			master_op_cancel(op);
			master_agent_remove(m, a);
			if (rv == -EBUSY)
				busy(m, req);
			else
				master_http_unavailable(m, req,
							"the registry refused the change, retry");
			goto out;
		}
		take_reregistration(m, a, msg);
		master_agent_park(a, req);
		goto out;
	}
	/* Gone, removed, pruned or never admitted: it must shut down and register anew. */
	m->counters.gone_answers++;
	KEEL_INFO(MASTER_LOG, "agent %s tried to re-register but is %s: shutting it down", id,
		  rs == REGISTRAR_AGENT_GONE ? "gone" : "not in the registry");
	master_address_format(msg->address, origin, sizeof(origin), NULL);
	master_send_shutdown(m, id, origin,
			     rs == REGISTRAR_AGENT_GONE ? "agent is marked gone"
							: "agent is not in the registry");
	keel_http_respond_text(req, 410,
			       rs == REGISTRAR_AGENT_GONE
				   ? "agent is marked gone: shut down and register anew"
				   : "agent is unknown or removed: shut down and register anew");
out:
	keel_pbjson_free(&msg->base);
}

/* --- ShutdownAgent --- */

/* Context of a fire-and-forget message to an agent. */
struct post_ctx {
	struct master *m;	 /* owner */
	struct master_origin *o; /* origin reference held while in flight */
	const char *path;	 /* where it went (static) */
};

static void post_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct post_ctx *c = arg;

	if (err < 0 || resp->status != 202)
		KEEL_DEBUG(MASTER_LOG, "%s to %s: %s", c->path, c->o->name,
			   err < 0 ? strerror(-err) : keel_http_status_text(resp->status));
	master_origin_put(c->m, c->o);
	keel_free(c);
}

void master_agent_post_once(struct master *m, const char *origin_name, const char *path,
			    const ProtobufCMessage *msg)
{
	static const struct keel_http_client_cbs cbs = {.on_done = post_done};
	struct post_ctx *c;
	size_t len;
	uint8_t *buf;

	if (!master_leading(m))
		return;
	c = keel_xcalloc(1, sizeof(*c));
	c->m = m;
	c->path = path;
	c->o = master_origin_get(m, origin_name, NULL);
	if (c->o == NULL) {
		keel_free(c);
		return;
	}
	len = protobuf_c_message_get_packed_size(msg);
	buf = keel_xmalloc(len ? len : 1);
	protobuf_c_message_pack(msg, buf);
	if (keel_http_client_request(c->o->client, "POST", path, NULL, PROTOBUF_TYPE,
				     (const char *)buf, len, &cbs, c) < 0) {
		master_origin_put(m, c->o);
		keel_free(c);
	}
	keel_free(buf);
}

void master_send_shutdown(struct master *m, const char *id, const char *origin_name,
			  const char *message)
{
	Keel__Agent__ShutdownAgent sd = KEEL__AGENT__SHUTDOWN_AGENT__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;

	if (!master_leading(m))
		return;
	aid.value = (char *)id;
	sd.agent_id = &aid;
	sd.epoch = m->epoch;
	sd.message = (char *)message;
	master_agent_post_once(m, origin_name, "/internal/master/shutdown", &sd.base);
	m->counters.shutdowns_sent++;
}

int master_agents_routes(struct master *m, char *errmsg)
{
	int rv = keel_http_server_route(m->server, KEEL_HTTP_POST, "/internal/agent/register",
					on_register, m);
	if (rv == 0)
		rv = keel_http_server_route(m->server, KEEL_HTTP_POST, "/internal/agent/reregister",
					    on_reregister, m);
	if (rv < 0)
		return keel_errf(errmsg, rv, "cannot route the agent protocol");
	return 0;
}

/* --- Standing (reconciliation) --- */

enum master_agent_standing master_agent_standing(const struct master *m, const char *id,
						 int64_t *time_ns)
{
	const struct master_agent *a = master_agent_find(m, id);
	int64_t t = 0;

	if (time_ns != NULL)
		*time_ns = 0;
	/* Mesos counts an agent being marked unreachable as registered until that is durable. */
	if (a != NULL && (a->state == MASTER_AGENT_ACTIVE || a->state == MASTER_AGENT_MARKING))
		return MASTER_STANDING_REGISTERED;
	if (keel_hmap_get(&m->agents.awaiting, id) != NULL)
		return MASTER_STANDING_RECOVERED;
	if (m->registrar == NULL)
		return MASTER_STANDING_UNKNOWN;
	switch (registrar_agent_state(m->registrar, id, NULL, &t)) {
	case REGISTRAR_AGENT_UNREACHABLE:
		if (time_ns != NULL)
			*time_ns = t;
		return MASTER_STANDING_UNREACHABLE;
	case REGISTRAR_AGENT_GONE:
		if (time_ns != NULL)
			*time_ns = t;
		return MASTER_STANDING_GONE;
	default: /* admitted but registering anew with this leader: unknown to it, as in Mesos */
		return MASTER_STANDING_UNKNOWN;
	}
}
