/* keel-emu-agents' tasks: RunTask/KillTask/StatusAck/ShutdownFramework and status updates. */
#include "emu_tasks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/keel/internal/agent.pb-c.h"
#include "runtime/alloc.h"
#include "runtime/hmap.h"
#include "runtime/http_client.h"
#include "runtime/pbjson.h"

#define NSTATES 16

/* One update waiting for its acknowledgement. */
struct emu_update {
	Mesos__V1__TaskState state; /* its state */
	int reason;		    /* its Mesos reason, or -1 */
	uint8_t uuid[16];	    /* its uuid */
	struct emu_update *next;    /* the next one of the task */
};

/* One task. */
struct emu_task {
	struct emu_tasks *owner;	    /* owner */
	char *key;			    /* "<framework>\x1f<task>" */
	char *framework_id, *task_id;	    /* IDs */
	char *agent_id;			    /* where it runs */
	Mesos__V1__TaskState state;	    /* newest state */
	bool ended;			    /* a terminal update is queued */
	struct emu_update *head, *tail;	    /* updates not yet acknowledged, oldest first */
	struct keel_timer *end_timer;	    /* the configured end, NULL until it is started */
	struct emu_task *rq_prev, *rq_next; /* the retry queue (tasks with a head sent) */
	uint64_t rq_due;		    /* when the head is resent (keel_loop_now ms) */
	bool rq_linked;			    /* in the retry queue */
	bool inflight;			    /* the head is being posted */
	bool dead;			    /* done: freed when the post in flight completes */
	Mesos__V1__Resource **res;	    /* its resources (copies, for ReregisterAgent) */
	size_t n_res;			    /* how many */
	Mesos__V1__Task msg;		    /* its Task message (points into this struct) */
	Mesos__V1__TaskID tid;		    /* msg.task_id */
	Mesos__V1__FrameworkID fid;	    /* msg.framework_id */
	Mesos__V1__AgentID aid;		    /* msg.agent_id */
};

struct emu_tasks {
	struct keel_loop *loop;		    /* the loop */
	struct emu_tasks_config cfg;	    /* configuration */
	struct keel_hmap tasks;		    /* key -> struct emu_task */
	struct keel_http_client *client;    /* to the leader, or NULL */
	struct keel_timer *retry;	    /* fires at the due time of the retry queue's head */
	struct emu_task *rq_head, *rq_tail; /* retry queue, by due time (one retry interval) */
	uint64_t epoch;			    /* the leader's epoch, 0: none */
	uint64_t uuid_seq;		    /* makes uuids unique */
	uint64_t by_state[NSTATES];	    /* tasks by newest state (terminal ones stay counted) */
	uint64_t runs, kills, acks, shutdowns, stale, updates_sent, updates_acked, bad;
};

static bool terminal(Mesos__V1__TaskState s)
{
	return s == MESOS__V1__TASK_STATE__TASK_FINISHED ||
	       s == MESOS__V1__TASK_STATE__TASK_FAILED || s == MESOS__V1__TASK_STATE__TASK_KILLED ||
	       s == MESOS__V1__TASK_STATE__TASK_LOST || s == MESOS__V1__TASK_STATE__TASK_ERROR;
}

static char *key_of(const char *fid, const char *tid)
{
	size_t a = strlen(fid), b = strlen(tid);
	char *k = keel_xmalloc(a + b + 2);

	memcpy(k, fid, a);
	k[a] = '\x1f';
	memcpy(k + a + 1, tid, b + 1);
	return k;
}

/* Takes t out of the retry queue (its head was acknowledged, or it goes). */
static void rq_unlink(struct emu_task *t)
{
	struct emu_tasks *et = t->owner;

	if (!t->rq_linked)
		return;
	if (t->rq_prev)
		t->rq_prev->rq_next = t->rq_next;
	else
		et->rq_head = t->rq_next;
	if (t->rq_next)
		t->rq_next->rq_prev = t->rq_prev;
	else
		et->rq_tail = t->rq_prev;
	t->rq_prev = t->rq_next = NULL;
	t->rq_linked = false;
}

/*
 * (Re)queues t to resend its head one retry interval from now. Every task waits the same
 * interval, so appending keeps the queue sorted by due time: one timer for all of them
 * instead of a timer per task started and stopped with every update.
 */
static void rq_push(struct emu_task *t)
{
	struct emu_tasks *et = t->owner;

	rq_unlink(t);
	t->rq_due = keel_loop_now(et->loop) + et->cfg.retry_ms;
	t->rq_prev = et->rq_tail;
	if (et->rq_tail)
		et->rq_tail->rq_next = t;
	else
		et->rq_head = t;
	et->rq_tail = t;
	t->rq_linked = true;
	if (!keel_timer_active(et->retry) && keel_timer_start(et->retry, et->cfg.retry_ms, 0) < 0)
		abort();
}

static void task_free(struct emu_task *t)
{
	rq_unlink(t);
	while (t->head) {
		struct emu_update *u = t->head;
		t->head = u->next;
		keel_free(u);
	}
	for (size_t i = 0; i < t->n_res; i++)
		keel_pbjson_free(&t->res[i]->base);
	keel_free(t->res);
	keel_timer_free(t->end_timer);
	keel_free(t->key);
	keel_free(t->framework_id);
	keel_free(t->task_id);
	keel_free(t->agent_id);
	keel_free(t);
}

static void send_head(struct emu_task *t);

static void on_post_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct emu_task *t = arg;

	(void)err;
	(void)resp;
	t->inflight = false;
	if (t->dead)
		task_free(t);
	/* Answered or not, the retry timer resends the head until its StatusAck arrives. */
}

static void send_head(struct emu_task *t)
{
	static const struct keel_http_client_cbs cbs = {.on_done = on_post_done};
	struct emu_tasks *et = t->owner;
	struct emu_update *u = t->head;
	Keel__Agent__StatusUpdate su = KEEL__AGENT__STATUS_UPDATE__INIT;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	struct timespec ts;
	uint8_t *buf;
	size_t len;

	if (u == NULL)
		return;
	rq_push(t);
	if (et->client == NULL || t->inflight)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	tid.value = t->task_id;
	aid.value = t->agent_id;
	fid.value = t->framework_id;
	st.task_id = &tid;
	st.state = u->state;
	st.agent_id = &aid;
	st.has_source = true;
	st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
	if (u->reason >= 0) {
		st.has_reason = true;
		st.reason = (Mesos__V1__TaskStatus__Reason)u->reason;
	}
	st.has_uuid = true;
	st.uuid.data = u->uuid;
	st.uuid.len = 16;
	st.has_timestamp = true;
	st.timestamp = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	su.agent_id = &aid;
	su.framework_id = &fid;
	su.status = &st;
	su.has_latest_state = true;
	su.latest_state = t->state;
	len = keel__agent__status_update__get_packed_size(&su);
	buf = keel_xmalloc(len + 1);
	keel__agent__status_update__pack(&su, buf);
	if (keel_http_client_request(et->client, "POST", "/internal/agent/status", NULL,
				     "application/x-protobuf", (const char *)buf, len, &cbs,
				     t) == 0) {
		t->inflight = true;
		et->updates_sent++;
	}
	keel_free(buf);
}

/* Resends the head of every task whose retry is due, then waits for the next one. */
static void on_retry(struct keel_timer *tm, void *arg)
{
	struct emu_tasks *et = arg;
	uint64_t now = keel_loop_now(et->loop);

	(void)tm;
	/* send_head requeues each at the tail, due one interval from now: this ends. */
	while (et->rq_head != NULL && et->rq_head->rq_due <= now) {
		struct emu_task *t = et->rq_head;

		rq_unlink(t);
		send_head(t);
	}
	if (et->rq_head != NULL && keel_timer_start(et->retry, et->rq_head->rq_due - now, 0) < 0)
		abort();
}

/* Queues an update (state becomes the task's newest) and sends it if it is the oldest. */
static void queue_update(struct emu_task *t, Mesos__V1__TaskState state, int reason)
{
	struct emu_tasks *et = t->owner;
	struct emu_update *u = keel_xcalloc(1, sizeof(*u));
	uint64_t seq = ++et->uuid_seq;

	u->state = state;
	u->reason = reason;
	memcpy(u->uuid, &seq, sizeof(seq));
	memcpy(u->uuid + 8, &et, sizeof(et) < 8 ? sizeof(et) : 8);
	u->uuid[15] ^= (uint8_t)(seq >> 7);
	if (t->tail)
		t->tail->next = u;
	else
		t->head = u;
	t->tail = u;
	et->by_state[(unsigned)t->state < NSTATES ? t->state : NSTATES - 1]--;
	t->state = state;
	et->by_state[(unsigned)state < NSTATES ? state : NSTATES - 1]++;
	if (terminal(state)) {
		t->ended = true;
		if (t->end_timer != NULL)
			keel_timer_stop(t->end_timer);
	}
	if (t->head == u)
		send_head(t);
}

static void on_end(struct keel_timer *tm, void *arg)
{
	struct emu_task *t = arg;

	(void)tm;
	if (t->ended)
		return;
	queue_update(t,
		     t->owner->cfg.end == EMU_TASK_FAILED ? MESOS__V1__TASK_STATE__TASK_FAILED
							  : MESOS__V1__TASK_STATE__TASK_FINISHED,
		     t->owner->cfg.end == EMU_TASK_FAILED
			 ? MESOS__V1__TASK_STATUS__REASON__REASON_COMMAND_EXECUTOR_FAILED
			 : -1);
}

static struct emu_task *task_new(struct emu_tasks *et, const char *fid, const char *tid,
				 const char *aid)
{
	struct emu_task *t = keel_xcalloc(1, sizeof(*t));

	t->owner = et;
	t->key = key_of(fid, tid);
	t->framework_id = keel_xstrdup(fid);
	t->task_id = keel_xstrdup(tid);
	t->agent_id = keel_xstrdup(aid);
	t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
	et->by_state[t->state]++;
	if (keel_hmap_put(&et->tasks, t->key, t, NULL) < 0)
		abort();
	return t;
}

/* A copy of a Resource (pack and unpack). */
static Mesos__V1__Resource *res_copy(const Mesos__V1__Resource *r)
{
	size_t n = protobuf_c_message_get_packed_size(&r->base);
	uint8_t *buf = keel_xmalloc(n ? n : 1);
	ProtobufCMessage *out = NULL;

	protobuf_c_message_pack(&r->base, buf);
	if (keel_pbjson_unpack(&mesos__v1__resource__descriptor, buf, n, &out, NULL) < 0)
		abort();
	keel_free(buf);
	return (Mesos__V1__Resource *)out;
}

static void start_task(struct emu_tasks *et, const char *fid, const char *tid, const char *aid,
		       Mesos__V1__Resource *const *res, size_t n_res)
{
	char *k = key_of(fid, tid);
	struct emu_task *t = keel_hmap_get(&et->tasks, k);

	keel_free(k);
	if (t != NULL)
		return; /* a repeated RunTask changes nothing */
	t = task_new(et, fid, tid, aid);
	t->res = keel_xcalloc(n_res + 1, sizeof(*t->res));
	for (size_t i = 0; i < n_res; i++)
		t->res[t->n_res++] = res_copy(res[i]);
	queue_update(t, MESOS__V1__TASK_STATE__TASK_STARTING, -1);
	queue_update(t, MESOS__V1__TASK_STATE__TASK_RUNNING, -1);
	/* A task whose ID starts with "emu-never" runs until killed, whatever --task_end says. */
	if (et->cfg.end != EMU_TASK_NEVER && strncmp(tid, "emu-never", 9) != 0 &&
	    (keel_timer_new(et->loop, on_end, t, &t->end_timer) < 0 ||
	     keel_timer_start(t->end_timer, et->cfg.task_ms, 0) < 0))
		abort();
}

/* Decodes a master -> agent message; answers 400 or 409 itself and returns NULL then. */
static ProtobufCMessage *decode(struct emu_tasks *et, struct keel_http_req *req,
				const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *msg = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];
	size_t len;
	const char *body = keel_http_req_body(req, &len);
	const ProtobufCFieldDescriptor *f;

	if (keel_pbjson_unpack(d, body, len, &msg, errmsg) < 0) {
		et->bad++;
		keel_http_respond_text(req, 400, errmsg);
		return NULL;
	}
	f = protobuf_c_message_descriptor_get_field_by_name(d, "epoch");
	if (f != NULL && *(const uint64_t *)((const char *)msg + f->offset) != et->epoch) {
		et->stale++;
		keel_http_respond_text(req, 409, "epoch is not the current leader's");
		keel_pbjson_free(msg);
		return NULL;
	}
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);
	return msg;
}

static void on_run_task(struct keel_http_req *req, void *arg)
{
	struct emu_tasks *et = arg;
	Keel__Agent__RunTask *rt =
	    (Keel__Agent__RunTask *)decode(et, req, &keel__agent__run_task__descriptor);

	if (rt == NULL)
		return;
	et->runs++;
	if (rt->task != NULL)
		start_task(et, rt->framework->id->value, rt->task->task_id->value,
			   rt->agent_id->value, rt->task->resources, rt->task->n_resources);
	for (size_t i = 0; rt->task_group != NULL && i < rt->task_group->n_tasks; i++)
		start_task(et, rt->framework->id->value, rt->task_group->tasks[i]->task_id->value,
			   rt->agent_id->value, rt->task_group->tasks[i]->resources,
			   rt->task_group->tasks[i]->n_resources);
	keel_pbjson_free(&rt->base);
}

static void kill_task(struct emu_task *t)
{
	if (!t->ended)
		queue_update(t, MESOS__V1__TASK_STATE__TASK_KILLED, -1);
}

static void on_kill_task(struct keel_http_req *req, void *arg)
{
	struct emu_tasks *et = arg;
	Keel__Agent__KillTask *kt =
	    (Keel__Agent__KillTask *)decode(et, req, &keel__agent__kill_task__descriptor);
	struct emu_task *t;
	char *k;

	if (kt == NULL)
		return;
	et->kills++;
	k = key_of(kt->framework_id->value, kt->task_id->value);
	t = keel_hmap_get(&et->tasks, k);
	keel_free(k);
	if (t == NULL) {
		/* Unknown here: TASK_LOST with REASON_TASK_UNKNOWN, as Mesos's agent says. */
		t = task_new(et, kt->framework_id->value, kt->task_id->value, kt->agent_id->value);
		queue_update(t, MESOS__V1__TASK_STATE__TASK_LOST,
			     MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNKNOWN);
	} else {
		kill_task(t);
	}
	keel_pbjson_free(&kt->base);
}

static void on_ack(struct keel_http_req *req, void *arg)
{
	struct emu_tasks *et = arg;
	Keel__Agent__StatusAck *sa =
	    (Keel__Agent__StatusAck *)decode(et, req, &keel__agent__status_ack__descriptor);
	struct emu_task *t;
	char *k;

	if (sa == NULL)
		return;
	et->acks++;
	k = key_of(sa->framework_id->value, sa->task_id->value);
	t = keel_hmap_get(&et->tasks, k);
	keel_free(k);
	if (t != NULL && t->head != NULL && sa->uuid.len == 16 &&
	    memcmp(t->head->uuid, sa->uuid.data, 16) == 0) {
		struct emu_update *u = t->head;
		t->head = u->next;
		if (t->head == NULL)
			t->tail = NULL;
		keel_free(u);
		et->updates_acked++;
		rq_unlink(t);
		if (t->head != NULL) {
			send_head(t);
		} else if (t->ended) {
			keel_hmap_del(&et->tasks, t->key);
			if (t->inflight)
				t->dead = true;
			else
				task_free(t);
		}
	}
	keel_pbjson_free(&sa->base);
}

static void on_shutdown_framework(struct keel_http_req *req, void *arg)
{
	struct emu_tasks *et = arg;
	Keel__Agent__ShutdownFramework *sf = (Keel__Agent__ShutdownFramework *)decode(
	    et, req, &keel__agent__shutdown_framework__descriptor);
	const char *key;
	void *value;
	size_t pos = 0;

	if (sf == NULL)
		return;
	et->shutdowns++;
	while (keel_hmap_next(&et->tasks, &pos, &key, &value)) {
		struct emu_task *t = value;
		if (strcmp(t->framework_id, sf->framework_id->value) == 0 &&
		    strcmp(t->agent_id, sf->agent_id->value) == 0)
			kill_task(t);
	}
	keel_pbjson_free(&sf->base);
}

struct emu_tasks *emu_tasks_new(struct keel_loop *loop, struct keel_http_server *srv,
				const struct emu_tasks_config *cfg)
{
	struct emu_tasks *et = keel_xcalloc(1, sizeof(*et));

	et->loop = loop;
	et->cfg = *cfg;
	if (et->cfg.retry_ms == 0)
		et->cfg.retry_ms = 10000;
	if (keel_timer_new(loop, on_retry, et, &et->retry) < 0)
		abort();
	if (keel_http_server_route(srv, KEEL_HTTP_POST, "/internal/master/run_task", on_run_task,
				   et) < 0 ||
	    keel_http_server_route(srv, KEEL_HTTP_POST, "/internal/master/kill_task", on_kill_task,
				   et) < 0 ||
	    keel_http_server_route(srv, KEEL_HTTP_POST, "/internal/master/ack", on_ack, et) < 0 ||
	    keel_http_server_route(srv, KEEL_HTTP_POST, "/internal/master/shutdown_framework",
				   on_shutdown_framework, et) < 0)
		abort();
	return et;
}

void emu_tasks_set_leader(struct emu_tasks *et, const char *host, uint16_t port, uint64_t epoch)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	const char *key;
	void *value;
	size_t pos = 0;

	if (et->client != NULL) {
		keel_http_client_free(et->client); /* in-flight posts complete with -ECANCELED */
		et->client = NULL;
	}
	et->epoch = epoch;
	if (epoch == 0 || host == NULL)
		return;
	if (keel_http_client_new(et->loop, host, port, NULL, &et->client, errmsg) < 0) {
		fprintf(stderr, "emu: tasks cannot reach the leader: %s\n", errmsg);
		et->client = NULL;
		return;
	}
	while (keel_hmap_next(&et->tasks, &pos, &key, &value))
		send_head(value);
}

size_t emu_tasks_of_agent(struct emu_tasks *et, const char *agent_id, Mesos__V1__Task ***out)
{
	const char *key;
	void *value;
	size_t pos = 0, n = 0, cap = 0;
	Mesos__V1__Task **list = NULL;

	while (keel_hmap_next(&et->tasks, &pos, &key, &value)) {
		struct emu_task *t = value;
		if (t->dead || strcmp(t->agent_id, agent_id) != 0)
			continue;
		mesos__v1__task__init(&t->msg);
		mesos__v1__task_id__init(&t->tid);
		mesos__v1__framework_id__init(&t->fid);
		mesos__v1__agent_id__init(&t->aid);
		t->tid.value = t->task_id;
		t->fid.value = t->framework_id;
		t->aid.value = t->agent_id;
		t->msg.name = t->task_id;
		t->msg.task_id = &t->tid;
		t->msg.framework_id = &t->fid;
		t->msg.agent_id = &t->aid;
		t->msg.state = t->state;
		t->msg.n_resources = t->n_res;
		t->msg.resources = t->res;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			list = keel_xrealloc(list, cap * sizeof(*list));
		}
		list[n++] = &t->msg;
	}
	*out = list;
	return n;
}

void emu_tasks_status(const struct emu_tasks *et, struct keel_buf *b)
{
	keel_buf_puts(b, ",\"tasks\":{");
	for (unsigned s = 0; s < NSTATES; s++) {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
		    &mesos__v1__task_state__descriptor, (int)s);
		if (v != NULL)
			keel_buf_printf(b, "\"%s\":%" PRIu64 ",", v->name, et->by_state[s]);
	}
	keel_buf_printf(b,
			"\"live\":%zu,\"run_task\":%" PRIu64 ",\"kill_task\":%" PRIu64
			",\"acks\":%" PRIu64 ",\"shutdown_framework\":%" PRIu64
			",\"stale\":%" PRIu64 ",\"updates_sent\":%" PRIu64
			",\"updates_acked\":%" PRIu64 ",\"bad\":%" PRIu64 "}",
			et->tasks.count, et->runs, et->kills, et->acks, et->shutdowns, et->stale,
			et->updates_sent, et->updates_acked, et->bad);
}

void emu_tasks_free(struct emu_tasks *et)
{
	const char *key;
	void *value;
	size_t pos = 0;

	if (et == NULL)
		return;
	if (et->client != NULL)
		keel_http_client_free(et->client);
	while (keel_hmap_next(&et->tasks, &pos, &key, &value)) {
		keel_hmap_del(&et->tasks, key);
		task_free(value);
	}
	keel_hmap_free(&et->tasks);
	keel_timer_free(et->retry);
	keel_free(et);
}
