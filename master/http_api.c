/* POST /api/v1: the v1 operator API (content negotiation, decoding, validation, dispatch). */
#include "http_api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents_drain.h"
#include "auth.h"
#include "http_api_call.h"
#include "master_int.h"
#include "operator_stream.h"
#include "quota.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "sched.h"

#define JSON_TYPE "application/json"
#define PROTOBUF_TYPE "application/x-protobuf"

/* A MARK_AGENT_GONE waiting for its registry operation. */
struct api_gone {
	struct master_api *api;	      /* owner */
	char *id;		      /* the agent (key in api->marking) */
	struct keel_http_req *req;    /* the request, or NULL once its client left */
	struct api_gone *prev, *next; /* api->gone list */
};

struct master_api {
	struct master *m;	  /* owner */
	struct api_gone *gone;	  /* MARK_AGENT_GONE operations in flight */
	struct keel_hmap marking; /* agent ID -> struct api_gone, the same ones */
	uint64_t marked_gone;	  /* agents marked gone and made durable */
	struct keel_buf scratch;  /* render buffer kept between requests (warm pages) */
	struct master_quota *q;	  /* quota and weight calls (master/quota.h) */
};

struct keel_buf *master_api_scratch(struct master *m)
{
	keel_buf_clear(&m->api->scratch);
	return &m->api->scratch;
}

void master_api_scratch_done(struct master *m)
{
	struct keel_buf *b = &m->api->scratch;

	/* Keep what the next answer of the same size needs; give back a lot more than that. */
	if (b->cap > 4 * keel_buf_size(b) + (1u << 20))
		keel_buf_free(b);
	keel_buf_clear(b);
}

size_t master_api_inflight(const struct master *m)
{
	return m->api ? m->api->marking.count : 0;
}

uint64_t master_api_marked_gone(const struct master *m)
{
	return m->api ? m->api->marked_gone : 0;
}

/* --- Answers --- */

void master_api_answer_text(struct keel_http_req *req, int status, const char *fmt, ...)
{
	char text[KEEL_ERRMSG_SIZE + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	keel_http_respond_text(req, status, text);
}

void master_api_answer_message(struct keel_http_req *req, bool protobuf,
			       const ProtobufCMessage *msg)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	struct keel_buf body = KEEL_BUF_INIT;
	int rv;

	if (protobuf) {
		size_t len;
		uint8_t *buf;
		if ((rv = keel_pbjson_check(msg, errmsg)) < 0) {
			master_api_answer_text(req, 500, "Failed to serialize the response: %s",
					       errmsg);
			return;
		}
		len = protobuf_c_message_get_packed_size(msg);
		buf = keel_xmalloc(len ? len : 1);
		protobuf_c_message_pack(msg, buf);
		keel_http_respond(req, 200, PROTOBUF_TYPE, NULL, buf, len);
		keel_free(buf);
		return;
	}
	rv = keel_pbjson_write(&body, msg, errmsg);
	if (rv == -ENOMEM) {
		KEEL_ERROR(MASTER_LOG, "out of memory writing an operator API answer");
		abort(); /* a daemon's out-of-memory is fatal */
	}
	if (rv < 0)
		master_api_answer_text(req, 500, "Failed to serialize the response: %s", errmsg);
	else
		keel_http_respond(req, 200, JSON_TYPE, NULL, keel_buf_rptr(&body),
				  keel_buf_size(&body));
	keel_buf_free(&body);
}

/* --- MARK_AGENT_GONE --- */

static void gone_unlink(struct api_gone *g)
{
	struct master_api *api = g->api;

	if (g->prev)
		g->prev->next = g->next;
	else
		api->gone = g->next;
	if (g->next)
		g->next->prev = g->prev;
	keel_hmap_del(&api->marking, g->id);
}

/* The waiting request, detached from g (NULL when its client left); answer it at once. */
static struct keel_http_req *gone_take_req(struct api_gone *g)
{
	struct keel_http_req *req = g->req;

	if (req != NULL)
		keel_http_req_on_events(req, NULL, NULL, NULL);
	g->req = NULL;
	return req;
}

static void gone_free(struct api_gone *g)
{
	gone_take_req(g);
	keel_free(g->id);
	keel_free(g);
}

/* The client left before the change was durable: the change goes on, nobody is told. */
static void gone_req_closed(struct keel_http_req *req, void *arg)
{
	struct api_gone *g = arg;

	(void)req;
	g->req = NULL;
}

/* The registry says gone (status 0): shut the agent down and forget it, then answer 200. */
static void gone_done(struct master *m, int status, struct master_agent *unused, void *data)
{
	struct api_gone *g = data;
	struct keel_http_req *req = gone_take_req(g);
	struct master_agent *a;

	(void)unused;
	gone_unlink(g);
	if (status < 0) {
		/* The registrar reports failures through on_fatal; answer anyway. */
		if (req != NULL)
			master_api_answer_text(req, 503, "Failed to mark agent '%s' as gone: %s",
					       g->id, strerror(-status));
		gone_free(g);
		return;
	}
	g->api->marked_gone++;
	KEEL_INFO(MASTER_LOG, "agent %s marked gone by the operator", g->id);
	a = master_agent_find(m, g->id);
	if (a != NULL) {
		if (a->origin != NULL)
			master_send_shutdown(m, g->id, a->origin->name,
					     "Agent has been marked gone by the operator");
		master_agent_remove(m, a);
	}
	master_awaiting_forget(m, g->id);
	if (req != NULL)
		keel_http_respond(req, 200, NULL, NULL, NULL, 0);
	gone_free(g);
}

/* Why a registry change to an agent is in flight, for the 503 text. */
static const char *transition_of(const struct master *m, const char *id)
{
	const struct master_agent *a = master_agent_find(m, id);

	if (a != NULL && a->state == MASTER_AGENT_MARKING)
		return "is being transitioned to unreachable";
	if (a != NULL && a->state == MASTER_AGENT_REACHING)
		return "is being transitioned to reachable";
	if (a != NULL && a->state == MASTER_AGENT_ADMITTING)
		return "is being admitted";
	if (master_awaiting_marking(m, id))
		return "is being transitioned to unreachable";
	return "has a registry change in flight";
}

static void mark_gone(struct master_api *api, struct keel_http_req *req,
		      const Mesos__V1__Master__Call__MarkAgentGone *call)
{
	struct master *m = api->m;
	const char *id = call->agent_id->value;
	enum registrar_agent_state rs;
	struct master_op *op;
	struct api_gone *g;
	int rv;

	if (keel_hmap_get(&api->marking, id) != NULL) {
		master_api_answer_text(req, 503, "Agent '%s' is already being transitioned to gone",
				       id);
		return;
	}
	rs = registrar_agent_state(m->registrar, id, NULL, NULL);
	if (rs == REGISTRAR_AGENT_GONE) {
		KEEL_INFO(MASTER_LOG, "agent %s is gone already", id);
		keel_http_respond(req, 200, NULL, NULL, NULL, 0);
		return;
	}
	if (rs == REGISTRAR_AGENT_UNKNOWN) {
		master_api_answer_text(req, 404, "Agent '%s' not found", id);
		return;
	}
	g = keel_xcalloc(1, sizeof(*g));
	g->api = api;
	g->id = keel_xstrdup(id);
	op = master_op_new(m, gone_done, NULL, g);
	rv = registrar_mark_gone(m->registrar, id, (int64_t)master_wall_ns(), master_op_done, op);
	if (rv < 0) {
		master_op_cancel(op);
		if (rv == -EBUSY)
			master_api_answer_text(req, 503, "Agent '%s' %s", id, transition_of(m, id));
		else if (rv == -ENOENT)
			master_api_answer_text(req, 404, "Agent '%s' not found", id);
		else if (rv == -EEXIST)
			keel_http_respond(req, 200, NULL, NULL, NULL, 0);
		else if (rv == -EAGAIN || rv == -ESHUTDOWN)
			master_api_answer_text(req, 503, "The registry is not available: %s",
					       strerror(-rv));
		else
			master_api_answer_text(req, 500, "Failed to mark agent '%s' as gone: %s",
					       id, strerror(-rv));
		gone_free(g);
		return;
	}
	KEEL_INFO(MASTER_LOG, "marking agent %s gone (operator request)", id);
	if (keel_hmap_put(&api->marking, g->id, g, NULL) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
	g->next = api->gone;
	if (api->gone)
		api->gone->prev = g;
	api->gone = g;
	g->req = req;
	keel_http_req_on_events(req, NULL, gone_req_closed, g);
}

/* --- The endpoint --- */

ProtobufCMessage *master_api_decode(struct keel_http_req *req, const ProtobufCMessageDescriptor *d)
{
	const struct keel_http_head *h = keel_http_req_head(req);
	char errmsg[KEEL_ERRMSG_SIZE];
	ProtobufCMessage *msg = NULL;
	size_t ct_len, len;
	const char *ct = keel_http_header_get(h, "Content-Type", &ct_len);
	const char *body = keel_http_req_body(req, &len);

	if (ct == NULL) {
		master_api_answer_text(req, 400, "Expecting 'Content-Type' to be present");
		return NULL;
	}
	if (ct_len == strlen(PROTOBUF_TYPE) && memcmp(ct, PROTOBUF_TYPE, ct_len) == 0) {
		if (keel_pbjson_unpack(d, body, len, &msg, errmsg) < 0) {
			master_api_answer_text(req, 400,
					       "Failed to parse body into %s protobuf: %s",
					       d->short_name, errmsg);
			return NULL;
		}
	} else if (ct_len == strlen(JSON_TYPE) && memcmp(ct, JSON_TYPE, ct_len) == 0) {
		if (keel_pbjson_read(d, body ? body : "", len, &msg, errmsg) < 0) {
			master_api_answer_text(req, 400,
					       "Failed to convert JSON into %s protobuf: %s",
					       d->short_name, errmsg);
			return NULL;
		}
	} else {
		master_api_answer_text(req, 415, "Expecting 'Content-Type' of %s or %s", JSON_TYPE,
				       PROTOBUF_TYPE);
		return NULL;
	}
	return msg;
}

bool master_api_negotiate(struct keel_http_req *req, bool *protobuf)
{
	const struct keel_http_head *h = keel_http_req_head(req);
	size_t accept_len = 0;
	const char *accept = keel_http_header_get(h, "Accept", &accept_len);

	if (master_api_accepts(accept, accept_len, JSON_TYPE)) {
		*protobuf = false;
	} else if (master_api_accepts(accept, accept_len, PROTOBUF_TYPE)) {
		*protobuf = true;
	} else {
		master_api_answer_text(req, 406, "Expecting 'Accept' to allow '%s' or '%s'",
				       PROTOBUF_TYPE, JSON_TYPE);
		return false;
	}
	return true;
}

/* TEARDOWN (Mesos's answers; the teardown_frameworks ACL decides, master/auth.h). */
static void teardown_call(struct master *m, struct keel_http_req *req,
			  const Mesos__V1__Master__Call__Teardown *td, const char *principal)
{
	struct master_framework *fw;

	if (td == NULL || td->framework_id == NULL) {
		master_api_answer_text(req, 400,
				       "Failed to validate master::Call: Expecting 'teardown' to "
				       "be present");
		return;
	}
	fw = master_framework_find(m, td->framework_id->value);
	if (fw == NULL) {
		master_api_answer_text(req, 400, "No framework found with specified ID");
		return;
	}
	if (!master_auth_authorize(m->auth, MASTER_ACL_TEARDOWN_FRAMEWORKS, principal,
				   fw->info->principal)) {
		keel_http_respond(req, 403, NULL, NULL, NULL, 0);
		return;
	}
	master_sched_teardown(m, fw);
	keel_http_respond(req, 200, NULL, NULL, NULL, 0);
}

static void on_api(struct keel_http_req *req, void *arg)
{
	struct master_api *api = arg;
	struct master *m = api->m;
	Mesos__V1__Master__Call *call;
	const char *invalid, *principal;
	bool protobuf;

	if (!master_http_gate(m, req))
		return;
	/* Both classes need credentials: check them before reading the body, as Mesos does. */
	if (master_auth_required(m->auth, MASTER_AUTH_READONLY) &&
	    master_auth_required(m->auth, MASTER_AUTH_READWRITE) &&
	    !master_auth_authenticate(m->auth, MASTER_AUTH_READONLY, req, &principal))
		return;
	call =
	    (Mesos__V1__Master__Call *)master_api_decode(req, &mesos__v1__master__call__descriptor);
	if (call == NULL)
		return;
	if (!master_auth_authenticate(m->auth, master_auth_operator_class((int)call->type), req,
				      &principal))
		goto out;
	if ((invalid = master_api_call_invalid(call)) != NULL) {
		master_api_answer_text(req, 400, "Failed to validate master::Call: %s", invalid);
		goto out;
	}
	if (!master_api_negotiate(req, &protobuf))
		goto out;

	if (call->type == MESOS__V1__MASTER__CALL__TYPE__MARK_AGENT_GONE) {
		mark_gone(api, req, call->mark_agent_gone);
	} else if (call->type == MESOS__V1__MASTER__CALL__TYPE__TEARDOWN) {
		teardown_call(m, req, call->teardown, principal);
	} else if (call->type == MESOS__V1__MASTER__CALL__TYPE__SUBSCRIBE) {
		master_opstream_subscribe(m, req, protobuf);
	} else if (call->type == MESOS__V1__MASTER__CALL__TYPE__DRAIN_AGENT ||
		   call->type == MESOS__V1__MASTER__CALL__TYPE__DEACTIVATE_AGENT ||
		   call->type == MESOS__V1__MASTER__CALL__TYPE__REACTIVATE_AGENT) {
		master_drain_call(m, req, call);
	} else if (call->type == MESOS__V1__MASTER__CALL__TYPE__GET_ROLES) {
		master_api_get_roles(m, req, protobuf);
	} else if (call->type == MESOS__V1__MASTER__CALL__TYPE__GET_WEIGHTS) {
		master_api_get_weights(m, req, protobuf);
	} else if (master_quota_handles(call->type)) {
		master_quota_call(api->q, req, call, protobuf);
	} else if (master_api_reply_supported(call->type)) {
		struct master_api_reply r;
		char errmsg[KEEL_ERRMSG_SIZE];
		if (master_api_reply_build(m, call, &r, errmsg) < 0)
			master_api_answer_text(req, 500, "%s", errmsg);
		else
			master_api_answer_message(req, protobuf, &r.resp.base);
		master_api_reply_free(&r);
	} else {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		    &mesos__v1__master__call__type__descriptor, (int)call->type);
		master_api_answer_text(req, 501,
				       "Call type %s is not implemented by keel-master yet",
				       v ? v->name : "?");
	}
out:
	keel_pbjson_free(&call->base);
}

int master_api_start(struct master *m, char *errmsg)
{
	static const char *const paths[] = {"/api/v1", "/master/api/v1"};
	int rv;

	m->api = keel_xcalloc(1, sizeof(*m->api));
	m->api->m = m;
	m->api->scratch = (struct keel_buf)KEEL_BUF_INIT;
	m->api->q = master_quota_new(m);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(paths); i++) {
		rv = keel_http_server_route(m->server, KEEL_HTTP_POST, paths[i], on_api, m->api);
		if (rv < 0)
			return keel_errf(errmsg, rv, "cannot route %s", paths[i]);
	}
	if ((rv = master_state_routes(m, errmsg)) < 0 ||
	    (rv = master_roles_routes(m, errmsg)) < 0 ||
	    (rv = master_metrics_routes(m, errmsg)) < 0)
		return rv;
	return 0;
}

void master_api_free(struct master *m)
{
	struct master_api *api = m->api;

	master_opstream_free(m);
	master_drain_free(m);
	if (api == NULL)
		return;
	while (api->gone != NULL) {
		struct api_gone *g = api->gone;
		gone_unlink(g);
		gone_free(g);
	}
	keel_hmap_free(&api->marking);
	keel_buf_free(&api->scratch);
	master_quota_free(api->q);
	keel_free(api);
	m->api = NULL;
}
