/* POST /api/v1/scheduler: validation, SUBSCRIBE and its event stream, the framework table. */
#include "sched.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http_api.h"
#include "master_int.h"
#include "offers.h"
#include "operator_stream.h"
#include "tasks.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "runtime/recordio.h"

#define JSON_TYPE "application/json"
#define PROTOBUF_TYPE "application/x-protobuf"
#define STREAM_HEADER "Mesos-Stream-Id"
#define DEFAULT_HEARTBEAT_MS 15000u

struct master_sched {
	struct master *m;	     /* owner */
	struct keel_hmap frameworks; /* framework ID -> struct master_framework */
	uint64_t next_seq;	     /* n of the next framework ID "<master id>-<nnnn>" */
	size_t connected;	     /* frameworks with a live stream */
	struct keel_buf enc;	     /* an event's encoding (reused) */
	struct keel_buf rec;	     /* its RecordIO record (reused) */
};

static void answer_text(struct keel_http_req *req, int status, const char *fmt, ...)
    KEEL_PRINTF(3, 4);

static void answer_text(struct keel_http_req *req, int status, const char *fmt, ...)
{
	char text[KEEL_ERRMSG_SIZE + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	keel_http_respond_text(req, status, text);
}

struct master_framework *master_framework_find(const struct master *m, const char *id)
{
	return m->sched ? keel_hmap_get(&m->sched->frameworks, id) : NULL;
}

bool master_frameworks_next(const struct master *m, size_t *pos, struct master_framework **out)
{
	const char *key;
	void *value;

	if (m->sched == NULL || !keel_hmap_next(&m->sched->frameworks, pos, &key, &value))
		return false;
	*out = value;
	return true;
}

size_t master_frameworks_count(const struct master *m)
{
	return m->sched ? m->sched->frameworks.count : 0;
}

size_t master_frameworks_connected(const struct master *m)
{
	return m->sched ? m->sched->connected : 0;
}

/* --- Streams --- */

/* Forgets the live stream (its connection is closing or closed); stops the heartbeats. */
static void fw_detach(struct master_framework *fw)
{
	if (fw->stream == NULL)
		return;
	keel_http_req_on_events(fw->stream, NULL, NULL, NULL);
	fw->stream = NULL;
	fw->stream_id[0] = '\0';
	keel_timer_stop(fw->heartbeat);
	fw->sched->connected--;
	master_offers_framework_down(fw->sched->m, fw);
}

/* Ends the live stream cleanly (last chunk sent), if any. */
static void fw_end_stream(struct master_framework *fw)
{
	struct keel_http_req *req = fw->stream;

	if (req == NULL)
		return;
	fw_detach(fw);
	keel_http_stream_end(req);
}

/* Disconnected: torn down unless it re-subscribes within its failover_timeout (Mesos: 0 s). */
static void fw_start_failover(struct master_framework *fw)
{
	double secs = fw->info->has_failover_timeout ? fw->info->failover_timeout : 0;
	uint64_t ms;

	if (!(secs > 0))
		secs = 0;
	if (secs > 365.0 * 24 * 3600)
		secs = 365.0 * 24 * 3600;
	ms = (uint64_t)(secs * 1000);
	if (keel_timer_start(fw->failover, ms, 0) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
}

static void stream_closed(struct keel_http_req *req, void *arg)
{
	struct master_framework *fw = arg;

	(void)req;
	KEEL_INFO(MASTER_LOG, "framework %s disconnected (its event stream closed)", fw->id);
	fw->stream = NULL; /* the request is going: do not touch it */
	fw->stream_id[0] = '\0';
	keel_timer_stop(fw->heartbeat);
	fw->sched->connected--;
	master_offers_framework_down(fw->sched->m, fw);
	fw_start_failover(fw);
	master_opstream_framework(fw->sched->m, fw,
				  MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_UPDATED);
}

int master_framework_send(struct master_framework *fw, const Mesos__V1__Scheduler__Event *ev)
{
	struct master_sched *s = fw->sched;
	int rv;

	if (fw->stream == NULL)
		return -ENOTCONN;
	/* Our own event not writable is a bug: logged, the event dropped. */
	if ((rv = master_message_encode(&ev->base, fw->protobuf, &s->enc)) < 0)
		return rv;
	return master_framework_send_raw(fw, keel_buf_rptr(&s->enc), keel_buf_size(&s->enc));
}

int master_framework_send_raw(struct master_framework *fw, const char *data, size_t len)
{
	struct master_sched *s = fw->sched;
	int rv;

	if (fw->stream == NULL)
		return -ENOTCONN;
	keel_buf_clear(&s->rec);
	if (keel_recordio_encode(&s->rec, data, len) < 0)
		abort();
	rv = keel_http_stream_write(fw->stream, keel_buf_rptr(&s->rec), keel_buf_size(&s->rec));
	if (rv < 0) {
		KEEL_WARN(MASTER_LOG, "framework %s: event stream broke (%s)", fw->id,
			  strerror(-rv));
		fw_detach(fw);
		fw_start_failover(fw);
		master_opstream_framework(s->m, fw,
					  MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_UPDATED);
		return rv;
	}
	fw->events++;
	return 0;
}

static void send_heartbeat(struct master_framework *fw)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;

	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT;
	master_framework_send(fw, &ev);
}

static void on_heartbeat(struct keel_timer *t, void *arg)
{
	struct master_framework *fw = arg;

	(void)t;
	if (fw->sched->m->state != MASTER_LEADING) {
		keel_timer_stop(fw->heartbeat);
		return;
	}
	send_heartbeat(fw);
}

static uint32_t heartbeat_ms(const struct master *m)
{
	return m->cfg.heartbeat_interval_ms ? m->cfg.heartbeat_interval_ms : DEFAULT_HEARTBEAT_MS;
}

/* Answers req with the stream and sends SUBSCRIBED and the first HEARTBEAT. */
static void fw_open_stream(struct master_framework *fw, struct keel_http_req *req, bool protobuf)
{
	struct master *m = fw->sched->m;
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	char stream_id[40];
	const char *headers[] = {STREAM_HEADER, stream_id, NULL};

	fw_end_stream(fw); /* a second SUBSCRIBE closes the old stream */
	master_uuid(stream_id);
	if (keel_http_stream_start(req, 200, protobuf ? PROTOBUF_TYPE : JSON_TYPE, headers) < 0) {
		KEEL_WARN(MASTER_LOG, "framework %s left before its stream started", fw->id);
		return;
	}
	fw->stream = req;
	fw->protobuf = protobuf;
	snprintf(fw->stream_id, sizeof(fw->stream_id), "%s", stream_id);
	fw->sched->connected++;
	keel_timer_stop(fw->failover);
	keel_http_req_on_events(req, NULL, stream_closed, fw);

	fid.value = fw->id;
	sub.framework_id = &fid;
	sub.has_heartbeat_interval_seconds = true;
	sub.heartbeat_interval_seconds = heartbeat_ms(m) / 1000.0;
	sub.master_info = m->info;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
	ev.subscribed = &sub;
	if (master_framework_send(fw, &ev) < 0)
		return;
	send_heartbeat(fw);
	if (fw->stream != NULL)
		master_offers_framework_up(m, fw, fw->suppressed, fw->n_suppressed);
	if (fw->stream != NULL &&
	    keel_timer_start(fw->heartbeat, heartbeat_ms(m), heartbeat_ms(m)) < 0)
		abort();
	KEEL_INFO(MASTER_LOG, "framework %s (%s) subscribed, stream %s", fw->id,
		  fw->info->name ? fw->info->name : "", fw->stream_id);
}

/* --- The framework table --- */

void master_framework_set_suppressed(struct master_framework *fw, char *const *roles, size_t n)
{
	for (size_t i = 0; i < fw->n_suppressed; i++)
		keel_free(fw->suppressed[i]);
	keel_free(fw->suppressed);
	fw->suppressed = NULL;
	fw->n_suppressed = 0;
	if (n == 0)
		return;
	fw->suppressed = keel_xcalloc(n, sizeof(*fw->suppressed));
	for (size_t i = 0; i < n; i++)
		fw->suppressed[i] = keel_xstrdup(roles[i]);
	fw->n_suppressed = n;
}

bool master_framework_multi_role(const Mesos__V1__FrameworkInfo *info)
{
	for (size_t i = 0; i < info->n_capabilities; i++)
		if (info->capabilities[i]->has_type &&
		    info->capabilities[i]->type ==
			MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE)
			return true;
	return false;
}

void master_framework_set_info(struct master_framework *fw, Mesos__V1__FrameworkInfo *info)
{
	Mesos__V1__FrameworkInfo *old = fw->info;

	fw->info = info;
	fw->id = info->id->value;
	/* The table's key pointer moves to the new copy before the old one goes. */
	if (keel_hmap_put(&fw->sched->frameworks, fw->id, fw, NULL) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
	keel_pbjson_free(&old->base);
}

static void teardown(struct master_sched *s, struct master_framework *fw);

static void on_failover(struct keel_timer *t, void *arg)
{
	struct master_framework *fw = arg;

	(void)t;
	if (fw->stream != NULL || fw->sched->m->state != MASTER_LEADING)
		return;
	KEEL_INFO(MASTER_LOG, "framework %s did not re-subscribe within its failover timeout",
		  fw->id);
	teardown(fw->sched, fw);
}

static struct master_framework *fw_add(struct master_sched *s, Mesos__V1__FrameworkInfo *info)
{
	struct master_framework *fw = keel_xcalloc(1, sizeof(*fw));

	fw->sched = s;
	fw->info = info;
	fw->id = info->id->value;
	if (keel_timer_new(s->m->loop, on_heartbeat, fw, &fw->heartbeat) < 0 ||
	    keel_timer_new(s->m->loop, on_failover, fw, &fw->failover) < 0 ||
	    keel_hmap_put(&s->frameworks, fw->id, fw, NULL) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
	return fw;
}

static void fw_free(struct master_framework *fw)
{
	fw_detach(fw);
	if (fw->subscribing != NULL)
		keel_http_req_on_events(fw->subscribing, NULL, NULL, NULL);
	keel_timer_free(fw->heartbeat);
	keel_timer_free(fw->failover);
	keel_pbjson_free(&fw->info->base);
	master_framework_set_suppressed(fw, NULL, 0);
	keel_free(fw->pending);
	keel_free(fw);
}

static void fw_remove(struct master_framework *fw)
{
	keel_hmap_del(&fw->sched->frameworks, fw->id);
	fw_free(fw);
}

/* --- SUBSCRIBE --- */

static void subscribing_closed(struct keel_http_req *req, void *arg)
{
	struct master_framework *fw = arg;

	(void)req;
	fw->subscribing = NULL;
}

/* The new framework's registry entry is durable (status 0) or not. */
static void added(struct master *m, int status, struct master_agent *unused, void *data)
{
	struct master_framework *fw = keel_hmap_get(&m->sched->frameworks, (const char *)data);
	struct keel_http_req *req;

	(void)unused;
	keel_free(data);
	if (fw == NULL)
		return;
	req = fw->subscribing;
	fw->subscribing = NULL;
	fw->adding = false;
	if (req != NULL)
		keel_http_req_on_events(req, NULL, NULL, NULL);
	if (status < 0) {
		/* The registrar reports failures through on_fatal as well. */
		if (req != NULL)
			answer_text(req, 503, "Failed to record framework %s in the registry: %s",
				    fw->id, strerror(-status));
		fw_remove(fw);
		return;
	}
	if (req == NULL) {
		KEEL_INFO(MASTER_LOG, "framework %s recorded; it left before SUBSCRIBED", fw->id);
		return;
	}
	fw_open_stream(fw, req, fw->protobuf);
	master_opstream_framework(m, fw, MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_ADDED);
}

/* Records fw (new) in the registry and parks req until that is durable. */
static void fw_record(struct master_sched *s, struct master_framework *fw,
		      struct keel_http_req *req)
{
	struct master *m = s->m;
	struct master_op *op = master_op_new(m, added, NULL, keel_xstrdup(fw->id));
	int rv = registrar_add_framework(m->registrar, fw->info, master_op_done, op);

	if (rv < 0) {
		keel_free(op->data);
		master_op_cancel(op);
		if (rv == -EAGAIN || rv == -ESHUTDOWN)
			answer_text(req, 503, "The registry is not available: %s", strerror(-rv));
		else
			answer_text(req, 500, "Failed to record framework %s: %s", fw->id,
				    strerror(-rv));
		fw_remove(fw);
		return;
	}
	fw->adding = true;
	fw->subscribing = req;
	keel_http_req_on_events(req, NULL, subscribing_closed, fw);
}

static void subscribe(struct master_sched *s, struct keel_http_req *req,
		      Mesos__V1__Scheduler__Call *call, bool protobuf)
{
	struct master *m = s->m;
	Mesos__V1__FrameworkInfo *given = call->subscribe->framework_info;
	struct master_framework *fw;
	Mesos__V1__FrameworkInfo *info;
	char id[80];

	if (given->id != NULL) {
		const char *fid = given->id->value;
		fw = keel_hmap_get(&s->frameworks, fid);
		if (fw != NULL && fw->adding) {
			answer_text(req, 503, "Framework %s is being subscribed", fid);
			return;
		}
		/* The FrameworkInfo may change on re-subscription; the ID may not. */
		info = (Mesos__V1__FrameworkInfo *)master_pb_copy(&given->base);
		if (fw != NULL) {
			master_framework_set_info(fw, info);
			master_framework_set_suppressed(fw, call->subscribe->suppressed_roles,
							call->subscribe->n_suppressed_roles);
			fw_open_stream(fw, req, protobuf);
			master_opstream_framework(
			    m, fw, MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_UPDATED);
			return;
		}
		fw = fw_add(s, info);
		fw->protobuf = protobuf;
		master_framework_set_suppressed(fw, call->subscribe->suppressed_roles,
						call->subscribe->n_suppressed_roles);
		if (registrar_framework(m->registrar, fid) != NULL) {
			/* Known from the registry (a failover): the same framework again. */
			KEEL_INFO(MASTER_LOG, "framework %s re-subscribed after a failover", fid);
			fw_open_stream(fw, req, protobuf);
			master_opstream_framework(m, fw,
						  MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_ADDED);
			return;
		}
		/* Unknown ID: Mesos lets a framework fail over to a master that never knew it. */
		fw_record(s, fw, req);
		return;
	}
	snprintf(id, sizeof(id), "%s-%04" PRIu64, m->id, s->next_seq++);
	info = (Mesos__V1__FrameworkInfo *)master_pb_copy(&given->base);
	info->id = keel_xmalloc(sizeof(*info->id));
	mesos__v1__framework_id__init(info->id);
	info->id->value = keel_xstrdup(id);
	fw = fw_add(s, info);
	fw->protobuf = protobuf;
	master_framework_set_suppressed(fw, call->subscribe->suppressed_roles,
					call->subscribe->n_suppressed_roles);
	fw_record(s, fw, req);
}

/* --- Other calls --- */

/* The torn-down framework's registry removal is durable (or failed: on_fatal says why). */
static void removed(struct master *m, int status, struct master_agent *unused, void *data)
{
	(void)m;
	(void)unused;
	if (status < 0)
		KEEL_WARN(MASTER_LOG, "framework %s: registry removal failed: %s", (char *)data,
			  strerror(-status));
	keel_free(data);
}

static void teardown(struct master_sched *s, struct master_framework *fw)
{
	struct master *m = s->m;
	struct master_op *op = master_op_new(m, removed, NULL, keel_xstrdup(fw->id));
	int rv = registrar_remove_framework(m->registrar, fw->id, master_op_done, op);

	if (rv < 0) {
		KEEL_WARN(MASTER_LOG, "framework %s: registry removal refused: %s", fw->id,
			  strerror(-rv));
		keel_free(op->data);
		master_op_cancel(op);
	}
	KEEL_INFO(MASTER_LOG, "framework %s torn down", fw->id);
	fw_end_stream(fw);
	master_tasks_teardown(m, fw->id);
	master_offers_framework_remove(m, fw);
	master_opstream_framework(m, fw, MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_REMOVED);
	fw_remove(fw);
}

void master_sched_teardown(struct master *m, struct master_framework *fw)
{
	teardown(m->sched, fw);
}

/* --- The endpoint --- */

static const char *type_name(Mesos__V1__Scheduler__Call__Type type)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &mesos__v1__scheduler__call__type__descriptor, (int)type);
	return v ? v->name : "UNKNOWN";
}

/* Runs a call of a subscribed framework whose stream ID matched. */
static void dispatch(struct master_sched *s, struct keel_http_req *req, struct master_framework *fw,
		     const Mesos__V1__Scheduler__Call *call)
{
	switch (call->type) {
	case MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN:
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		teardown(s, fw);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE:
		master_offers_decline(s->m, fw, call->decline->offer_ids,
				      call->decline->n_offer_ids, call->decline->filters);
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE:
	case MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS: {
		bool revive = call->type == MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE;
		char *const *roles = NULL;
		size_t n = 0;
		char errmsg[KEEL_ERRMSG_SIZE];
		if (revive && call->revive != NULL) {
			roles = call->revive->roles;
			n = call->revive->n_roles;
		} else if (!revive && call->suppress != NULL) {
			roles = call->suppress->roles;
			n = call->suppress->n_roles;
		}
		if ((revive ? master_offers_revive(s->m, fw, roles, n, errmsg)
			    : master_offers_suppress(s->m, fw, roles, n, errmsg)) < 0) {
			answer_text(req, 400, "Failed to validate scheduler::Call: %s", errmsg);
			return;
		}
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		return;
	}
	case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT:
		master_tasks_accept(s->m, fw, call->accept, req);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		master_tasks_acknowledge(s->m, fw, call->acknowledge);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__KILL:
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		master_tasks_kill(s->m, fw, call->kill);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE:
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		master_tasks_reconcile(s->m, fw, call->reconcile);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN:
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		master_sched_shutdown_executor(s->m, fw, call->shutdown);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE:
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		master_sched_message(s->m, fw, call->message);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK:
		master_sched_update_framework(s->m, fw, call->update_framework, req);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST:
		/* Mesos hands requests to its allocator, which ignores them. */
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
		return;
	case MESOS__V1__SCHEDULER__CALL__TYPE__UNKNOWN:
		answer_text(req, 501, "Received an unexpected 'UNKNOWN' call");
		return;
	default:
		answer_text(req, 501, "Call type %s is not implemented by keel-master yet",
			    type_name(call->type));
		return;
	}
}

static void on_scheduler(struct keel_http_req *req, void *arg)
{
	struct master_sched *s = arg;
	struct master *m = s->m;
	Mesos__V1__Scheduler__Call *call;
	struct master_framework *fw;
	const char *invalid, *sid, *principal;
	char buf[128];
	size_t sid_len = 0;
	bool protobuf;

	if (!master_http_gate(m, req) ||
	    !master_auth_authenticate(m->auth, MASTER_AUTH_FRAMEWORK, req, &principal))
		return;
	call = (Mesos__V1__Scheduler__Call *)master_api_decode(
	    req, &mesos__v1__scheduler__call__descriptor);
	if (call == NULL)
		return;
	if ((invalid = master_sched_call_invalid(call, buf, sizeof(buf))) != NULL) {
		answer_text(req, 400, "Failed to validate scheduler::Call: %s", invalid);
		goto out;
	}
	sid = keel_http_header_get(keel_http_req_head(req), STREAM_HEADER, &sid_len);
	if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
		if (sid != NULL) {
			answer_text(req, 400,
				    "Subscribe calls should not include the '" STREAM_HEADER
				    "' header");
			goto out;
		}
		if (master_auth_subscribe(m->auth, req, call->subscribe->framework_info,
					  principal) &&
		    master_api_negotiate(req, &protobuf))
			subscribe(s, req, call, protobuf);
		goto out;
	}
	fw = keel_hmap_get(&s->frameworks, call->framework_id->value);
	if (fw == NULL && registrar_framework(m->registrar, call->framework_id->value) == NULL) {
		answer_text(req, 400, "Framework cannot be found");
		goto out;
	}
	if (fw == NULL || fw->stream == NULL) {
		answer_text(req, 403, "Framework is not subscribed");
		goto out;
	}
	if (!master_auth_call(req, fw->info, principal))
		goto out;
	if (sid == NULL) {
		answer_text(req, 400,
			    "All non-subscribe calls should include the '" STREAM_HEADER
			    "' header");
		goto out;
	}
	if (sid_len != strlen(fw->stream_id) || memcmp(sid, fw->stream_id, sid_len) != 0) {
		answer_text(req, 400,
			    "The stream ID '%.*s' included in this request didn't match the "
			    "stream ID currently associated with framework ID %s",
			    (int)(sid_len > 64 ? 64 : sid_len), sid, fw->id);
		goto out;
	}
	dispatch(s, req, fw, call);
out:
	keel_pbjson_free(&call->base);
}

int master_sched_start(struct master *m, char *errmsg)
{
	static const char *const paths[] = {"/api/v1/scheduler", "/master/api/v1/scheduler"};
	struct master_sched *s = keel_xcalloc(1, sizeof(*s));
	int rv;

	s->m = m;
	s->enc = (struct keel_buf)KEEL_BUF_INIT;
	s->rec = (struct keel_buf)KEEL_BUF_INIT;
	m->sched = s;
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(paths); i++) {
		rv = keel_http_server_route(m->server, KEEL_HTTP_POST, paths[i], on_scheduler, s);
		if (rv < 0)
			return keel_errf(errmsg, rv, "cannot route %s", paths[i]);
	}
	return 0;
}

void master_sched_free(struct master *m)
{
	struct master_sched *s = m->sched;
	const char *key;
	void *value;
	size_t pos = 0;

	if (s == NULL)
		return;
	while (keel_hmap_next(&s->frameworks, &pos, &key, &value)) {
		keel_hmap_del(&s->frameworks, key);
		fw_free(value);
	}
	keel_hmap_free(&s->frameworks);
	keel_buf_free(&s->enc);
	keel_buf_free(&s->rec);
	keel_free(s);
	m->sched = NULL;
}
