/* The operator API's SUBSCRIBE: subscribers, events encoded once per encoding, heartbeats. */
#include "operator_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_api.h"
#include "master_int.h"
#include "sched.h"
#include "runtime/alloc.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "runtime/recordio.h"

#define JSON_TYPE "application/json"
#define PROTOBUF_TYPE "application/x-protobuf"
#define DEFAULT_HEARTBEAT_MS 15000u

/* One subscriber. */
struct opsub {
	struct master_opstream *os; /* owner */
	struct keel_http_req *req;  /* its stream */
	bool protobuf;		    /* protobuf records (else JSON) */
	struct opsub *prev, *next;  /* os->subs list */
};

struct master_opstream {
	struct master *m;	      /* owner */
	struct opsub *subs;	      /* live subscribers */
	size_t n[2];		      /* subscribers per encoding: [0] JSON, [1] protobuf */
	struct keel_timer *heartbeat; /* one HEARTBEAT timer for every subscriber */
	struct keel_buf enc;	      /* an event's encoding (reused) */
	struct keel_buf rec[2];	      /* its RecordIO record per encoding (reused) */
	uint64_t dropped;	      /* subscribers dropped for their backlog */
	uint64_t events;	      /* events published */
};

int master_message_encode(const ProtobufCMessage *msg, bool protobuf, struct keel_buf *out)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv;

	keel_buf_clear(out);
	if (protobuf) {
		size_t n = protobuf_c_message_get_packed_size(msg);
		if (keel_buf_reserve(out, n ? n : 1) < 0)
			abort(); /* a daemon's out-of-memory is fatal */
		protobuf_c_message_pack(msg, (uint8_t *)keel_buf_wptr(out));
		keel_buf_commit(out, n);
		return 0;
	}
	rv = keel_pbjson_write(out, msg, errmsg);
	if (rv == -ENOMEM)
		abort();
	if (rv < 0)
		KEEL_ERROR(MASTER_LOG, "cannot write a %s as JSON: %s", msg->descriptor->short_name,
			   errmsg);
	return rv;
}

static uint32_t heartbeat_ms(const struct master *m)
{
	return m->cfg.heartbeat_interval_ms ? m->cfg.heartbeat_interval_ms : DEFAULT_HEARTBEAT_MS;
}

static size_t backlog_cap(const struct master *m)
{
	return m->cfg.opstream_backlog ? m->cfg.opstream_backlog : MASTER_OPSTREAM_BACKLOG;
}

size_t master_opstream_subscribers(const struct master *m)
{
	return m->opstream ? m->opstream->n[0] + m->opstream->n[1] : 0;
}

uint64_t master_opstream_dropped(const struct master *m)
{
	return m->opstream ? m->opstream->dropped : 0;
}

/* Forgets s (its request is closing or ended) and frees it. */
static void sub_unlink(struct opsub *s)
{
	struct master_opstream *os = s->os;

	if (s->prev)
		s->prev->next = s->next;
	else
		os->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	os->n[s->protobuf]--;
	if (os->subs == NULL)
		keel_timer_stop(os->heartbeat);
	keel_free(s);
}

static void sub_closed(struct keel_http_req *req, void *arg)
{
	struct opsub *s = arg;

	(void)req;
	KEEL_INFO(MASTER_LOG, "operator subscriber left");
	sub_unlink(s);
}

/* Ends s's stream (last chunk queued) and forgets it. */
static void sub_end(struct opsub *s)
{
	struct keel_http_req *req = s->req;

	keel_http_req_on_events(req, NULL, NULL, NULL);
	sub_unlink(s);
	keel_http_stream_end(req);
}

/*
 * Writes one record to s; drops s (freed) when its backlog is over the cap or the write fails.
 * Returns whether s is still subscribed.
 */
static bool sub_write(struct opsub *s, const struct keel_buf *rec)
{
	struct master *m = s->os->m;
	size_t len = keel_buf_size(rec);
	int rv;

	if (keel_http_req_pending(s->req) + len > backlog_cap(m)) {
		KEEL_WARN(MASTER_LOG,
			  "operator subscriber dropped: %zu bytes unsent (cap %zu); it must "
			  "subscribe again",
			  keel_http_req_pending(s->req), backlog_cap(m));
		s->os->dropped++;
		sub_end(s);
		return false;
	}
	rv = keel_http_stream_write(s->req, keel_buf_rptr(rec), len);
	if (rv < 0) {
		/* The server closed the connection: its close callback may not come now. */
		KEEL_WARN(MASTER_LOG, "operator subscriber stream broke (%s)", strerror(-rv));
		keel_http_req_on_events(s->req, NULL, NULL, NULL);
		sub_unlink(s);
		return false;
	}
	return true;
}

/* Encodes ev as a record for encoding p into os->rec[p]; false when it cannot be written. */
static bool record(struct master_opstream *os, const Mesos__V1__Master__Event *ev, bool p)
{
	if (master_message_encode(&ev->base, p, &os->enc) < 0)
		return false;
	keel_buf_clear(&os->rec[p]);
	if (keel_recordio_encode(&os->rec[p], keel_buf_rptr(&os->enc), keel_buf_size(&os->enc)) < 0)
		abort();
	return true;
}

/* Sends ev to every subscriber: encoded once per encoding in use. */
static void publish(struct master_opstream *os, const Mesos__V1__Master__Event *ev)
{
	bool ok[2] = {false, false};
	struct opsub *s, *next;

	for (int p = 0; p < 2; p++)
		if (os->n[p] > 0)
			ok[p] = record(os, ev, p);
	os->events++;
	for (s = os->subs; s != NULL; s = next) {
		next = s->next;
		if (ok[s->protobuf])
			(void)sub_write(s, &os->rec[s->protobuf]);
	}
}

/* The stream for m when somebody listens, else NULL. */
static struct master_opstream *listening(struct master *m)
{
	return m->opstream != NULL && m->opstream->subs != NULL ? m->opstream : NULL;
}

static void event_init(Mesos__V1__Master__Event *ev, Mesos__V1__Master__Event__Type type)
{
	mesos__v1__master__event__init(ev);
	ev->has_type = true;
	ev->type = type;
}

static void on_heartbeat(struct keel_timer *t, void *arg)
{
	struct master_opstream *os = arg;
	Mesos__V1__Master__Event ev;

	(void)t;
	if (os->m->state != MASTER_LEADING) {
		master_opstream_close_all(os->m);
		return;
	}
	event_init(&ev, MESOS__V1__MASTER__EVENT__TYPE__HEARTBEAT);
	publish(os, &ev);
}

static struct master_opstream *opstream_get(struct master *m)
{
	struct master_opstream *os = m->opstream;

	if (os != NULL)
		return os;
	os = keel_xcalloc(1, sizeof(*os));
	os->m = m;
	os->enc = (struct keel_buf)KEEL_BUF_INIT;
	os->rec[0] = (struct keel_buf)KEEL_BUF_INIT;
	os->rec[1] = (struct keel_buf)KEEL_BUF_INIT;
	if (keel_timer_new(m->loop, on_heartbeat, os, &os->heartbeat) < 0)
		abort();
	m->opstream = os;
	return os;
}

void master_opstream_subscribe(struct master *m, struct keel_http_req *req, bool protobuf)
{
	struct master_opstream *os = opstream_get(m);
	Mesos__V1__Master__Call get = MESOS__V1__MASTER__CALL__INIT;
	Mesos__V1__Master__Event ev;
	Mesos__V1__Master__Event__Subscribed sub = MESOS__V1__MASTER__EVENT__SUBSCRIBED__INIT;
	struct master_api_reply r;
	char errmsg[KEEL_ERRMSG_SIZE];
	struct opsub *s;
	bool ok;

	get.has_type = true;
	get.type = MESOS__V1__MASTER__CALL__TYPE__GET_STATE;
	if (master_api_reply_build(m, &get, &r, errmsg) < 0) {
		master_api_answer_text(req, 500, "%s", errmsg);
		master_api_reply_free(&r);
		return;
	}
	event_init(&ev, MESOS__V1__MASTER__EVENT__TYPE__SUBSCRIBED);
	sub.get_state = &r.state;
	sub.has_heartbeat_interval_seconds = true;
	sub.heartbeat_interval_seconds = heartbeat_ms(m) / 1000.0;
	ev.subscribed = &sub;
	ok = record(os, &ev, protobuf);
	master_api_reply_free(&r);
	if (!ok) {
		master_api_answer_text(req, 500, "Failed to serialize the SUBSCRIBED event");
		return;
	}
	if (keel_http_stream_start(req, 200, protobuf ? PROTOBUF_TYPE : JSON_TYPE, NULL) < 0) {
		KEEL_WARN(MASTER_LOG, "operator subscriber left before its stream started");
		return;
	}
	s = keel_xcalloc(1, sizeof(*s));
	s->os = os;
	s->req = req;
	s->protobuf = protobuf;
	s->next = os->subs;
	if (os->subs)
		os->subs->prev = s;
	os->subs = s;
	os->n[protobuf]++;
	keel_http_req_on_events(req, NULL, sub_closed, s);
	KEEL_INFO(MASTER_LOG, "operator subscribed (%s), %zu subscribers",
		  protobuf ? "protobuf" : "JSON", master_opstream_subscribers(m));
	if (os->subs->next == NULL &&
	    keel_timer_start(os->heartbeat, heartbeat_ms(m), heartbeat_ms(m)) < 0)
		abort();
	/* SUBSCRIBED, then a HEARTBEAT at once, as Mesos. */
	if (!sub_write(s, &os->rec[protobuf]))
		return;
	event_init(&ev, MESOS__V1__MASTER__EVENT__TYPE__HEARTBEAT);
	if (record(os, &ev, protobuf))
		sub_write(s, &os->rec[protobuf]);
}

void master_opstream_close_all(struct master *m)
{
	struct master_opstream *os = m->opstream;

	if (os == NULL)
		return;
	while (os->subs != NULL)
		sub_end(os->subs);
}

void master_opstream_free(struct master *m)
{
	struct master_opstream *os = m->opstream;

	if (os == NULL)
		return;
	while (os->subs != NULL) {
		keel_http_req_on_events(os->subs->req, NULL, NULL, NULL);
		sub_unlink(os->subs);
	}
	keel_timer_free(os->heartbeat);
	keel_buf_free(&os->enc);
	keel_buf_free(&os->rec[0]);
	keel_buf_free(&os->rec[1]);
	keel_free(os);
	m->opstream = NULL;
}

/* --- Hooks --- */

void master_opstream_task_added(struct master *m, const Mesos__V1__Task *task)
{
	struct master_opstream *os = listening(m);
	Mesos__V1__Master__Event ev;
	Mesos__V1__Master__Event__TaskAdded ta = MESOS__V1__MASTER__EVENT__TASK_ADDED__INIT;

	if (os == NULL)
		return;
	event_init(&ev, MESOS__V1__MASTER__EVENT__TYPE__TASK_ADDED);
	ta.task = (Mesos__V1__Task *)task;
	ev.task_added = &ta;
	publish(os, &ev);
}

void master_opstream_task_updated(struct master *m, const Mesos__V1__Task *task,
				  const Mesos__V1__TaskStatus *status)
{
	struct master_opstream *os = listening(m);
	Mesos__V1__Master__Event ev;
	Mesos__V1__Master__Event__TaskUpdated tu = MESOS__V1__MASTER__EVENT__TASK_UPDATED__INIT;
	Mesos__V1__TaskStatus made = MESOS__V1__TASK_STATUS__INIT;

	if (os == NULL)
		return;
	if (status == NULL) {
		made.task_id = task->task_id;
		made.state = task->state;
		made.agent_id = task->agent_id;
		made.has_source = true;
		made.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
		made.has_timestamp = true;
		made.timestamp = (double)master_wall_ns() / 1e9;
		status = &made;
	}
	event_init(&ev, MESOS__V1__MASTER__EVENT__TYPE__TASK_UPDATED);
	tu.framework_id = task->framework_id;
	tu.status = (Mesos__V1__TaskStatus *)status;
	tu.state = task->state;
	ev.task_updated = &tu;
	publish(os, &ev);
}

void master_opstream_agent_added(struct master *m, const struct master_agent *a)
{
	struct master_opstream *os = listening(m);
	Mesos__V1__Master__Event ev;
	Mesos__V1__Master__Event__AgentAdded aa = MESOS__V1__MASTER__EVENT__AGENT_ADDED__INIT;
	Mesos__V1__Master__Response__GetAgents__Agent g;
	Mesos__V1__TimeInfo registered;
	Mesos__V1__DrainInfo drain;
	char pid[300];

	if (os == NULL || a->info == NULL)
		return;
	master_api_agent_fill(m, a, &g, &registered, &drain);
	snprintf(pid, sizeof(pid), "slave(1)@%s", a->origin ? a->origin->name : "");
	g.pid = pid;
	event_init(&ev, MESOS__V1__MASTER__EVENT__TYPE__AGENT_ADDED);
	aa.agent = &g;
	ev.agent_added = &aa;
	publish(os, &ev);
}

void master_opstream_agent_removed(struct master *m, const char *agent_id)
{
	struct master_opstream *os = listening(m);
	Mesos__V1__Master__Event ev;
	Mesos__V1__Master__Event__AgentRemoved ar = MESOS__V1__MASTER__EVENT__AGENT_REMOVED__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;

	if (os == NULL)
		return;
	aid.value = (char *)agent_id;
	event_init(&ev, MESOS__V1__MASTER__EVENT__TYPE__AGENT_REMOVED);
	ar.agent_id = &aid;
	ev.agent_removed = &ar;
	publish(os, &ev);
}

void master_opstream_framework(struct master *m, const struct master_framework *fw,
			       Mesos__V1__Master__Event__Type type)
{
	struct master_opstream *os = listening(m);
	Mesos__V1__Master__Event ev;
	Mesos__V1__Master__Event__FrameworkAdded fa =
	    MESOS__V1__MASTER__EVENT__FRAMEWORK_ADDED__INIT;
	Mesos__V1__Master__Event__FrameworkUpdated fu =
	    MESOS__V1__MASTER__EVENT__FRAMEWORK_UPDATED__INIT;
	Mesos__V1__Master__Event__FrameworkRemoved fr =
	    MESOS__V1__MASTER__EVENT__FRAMEWORK_REMOVED__INIT;
	Mesos__V1__Master__Response__GetFrameworks__Framework f;

	if (os == NULL)
		return;
	event_init(&ev, type);
	master_api_framework_fill(fw, &f);
	switch (type) {
	case MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_ADDED:
		fa.framework = &f;
		ev.framework_added = &fa;
		break;
	case MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_UPDATED:
		fu.framework = &f;
		ev.framework_updated = &fu;
		break;
	case MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_REMOVED:
		fr.framework_info = fw->info;
		ev.framework_removed = &fr;
		break;
	default:
		return; /* not a framework event: a caller's bug, nothing sent */
	}
	publish(os, &ev);
}
