/* The status update stream: checkpoint each update, send per task in order until acknowledged. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agent/agent_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "runtime/util.h"

bool agent_state_terminal(Mesos__V1__TaskState s)
{
	switch (s) {
	case MESOS__V1__TASK_STATE__TASK_FINISHED:
	case MESOS__V1__TASK_STATE__TASK_FAILED:
	case MESOS__V1__TASK_STATE__TASK_KILLED:
	case MESOS__V1__TASK_STATE__TASK_ERROR:
	case MESOS__V1__TASK_STATE__TASK_LOST:
	case MESOS__V1__TASK_STATE__TASK_DROPPED:
	case MESOS__V1__TASK_STATE__TASK_GONE:
	case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
		return true;
	default:
		return false;
	}
}

static void update_free(struct agent_update *u)
{
	keel_buf_free(&u->packed);
	keel_free(u);
}

static void update_append(struct agent_task *t, struct agent_update *u)
{
	u->next = NULL;
	if (t->tail)
		t->tail->next = u;
	else
		t->head = u;
	t->tail = u;
}

static void update_on_sent(int err, const struct keel_http_response *resp, void *arg)
{
	struct agent *a = arg;

	if (err == 0 && resp->status == 410 && !a->done)
		agent_shutdown(a, "the master says this agent is gone (410)");
	/* Anything else: the resend timer retries until the StatusAck. */
}

/* Sends the head update of t (again). */
static void update_send(struct agent_task *t)
{
	static const struct keel_http_client_cbs cbs = {.on_done = update_on_sent};
	struct agent *a = t->agent;
	struct agent_update *u = t->head;

	if (!u || !a->client || a->epoch == 0 || a->done)
		return;
	if (keel_http_client_request(a->client, "POST", "/internal/agent/status", NULL,
				     "application/x-protobuf", keel_buf_rptr(&u->packed),
				     keel_buf_size(&u->packed), &cbs, a) < 0) {
		KEEL_WARN("agent", "cannot send a status update (out of memory); retrying");
	} else {
		a->n_updates_sent++;
	}
	if (!t->in_flight)
		t->backoff_ms = a->update_backoff_ms;
	t->in_flight = true;
	keel_timer_start(t->resend, t->backoff_ms, 0);
	t->backoff_ms = KEEL_MIN(t->backoff_ms * 2, a->update_backoff_max_ms);
}

static void update_on_resend(struct keel_timer *tm, void *arg)
{
	struct agent_task *t = arg;

	if (t->head && t->in_flight)
		update_send(t);
}

static void update_on_flush(struct keel_timer *tm, void *arg)
{
	struct agent *a = arg;
	const char *key;
	void *val;
	size_t pos = 0;

	if (agent_store_commit(a->store, a->errmsg) < 0) {
		/* Nothing is sent that is not durable: try again shortly. */
		KEEL_ERROR("agent", "%s", a->errmsg);
		keel_timer_start(a->flush_timer, 1000, 0);
		return;
	}
	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		struct agent_task *t = val;

		if (t->head && !t->in_flight)
			update_send(t);
	}
}

void agent_flush_soon(struct agent *a)
{
	if (!keel_timer_active(a->flush_timer))
		keel_timer_start(a->flush_timer, 0, 0);
}

/* Creates the resend timer of t if it has none yet. */
static int update_timer(struct agent_task *t)
{
	if (t->resend)
		return 0;
	return keel_timer_new(t->agent->loop, update_on_resend, t, &t->resend);
}

void agent_update_add(struct agent_task *t, Mesos__V1__TaskState state,
		      Mesos__V1__TaskStatus__Reason reason, bool has_reason, const char *message)
{
	struct agent *a = t->agent;
	Keel__Agent__StatusUpdate m = KEEL__AGENT__STATUS_UPDATE__INIT;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
	Mesos__V1__ContainerStatus cs = MESOS__V1__CONTAINER_STATUS__INIT;
	Mesos__V1__ContainerID cid = MESOS__V1__CONTAINER_ID__INIT;
	struct agent_update *u;
	struct timespec now;
	size_t len;

	if (!(u = keel_calloc(1, sizeof(*u))) || update_timer(t) < 0)
		goto oom;
	if (getrandom(u->uuid, sizeof(u->uuid), 0) != sizeof(u->uuid))
		for (size_t i = 0; i < sizeof(u->uuid); i++)
			u->uuid[i] = (uint8_t)random();
	u->state = state;
	snprintf(u->key, sizeof(u->key), "u/%016" PRIx64, a->next_seq++);
	clock_gettime(CLOCK_REALTIME, &now);
	aid.value = a->agent_id ? a->agent_id : "";
	fid.value = t->framework_id;
	tid.value = t->task_id;
	st.task_id = &tid;
	/* A command task's executor ID is its task ID, as Mesos's command executor's; a task
	 * group's is the group's executor. */
	eid.value = t->run && t->run->executor && t->run->executor->executor_id
			? t->run->executor->executor_id->value
			: t->task_id;
	st.executor_id = &eid;
	st.state = state;
	st.message = (char *)message;
	st.has_source = true;
	st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT;
	st.has_reason = has_reason;
	st.reason = reason;
	st.agent_id = &aid;
	st.has_timestamp = true;
	st.timestamp = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	if (t->ctr_id[0]) {
		cid.value = t->ctr_id;
		cs.container_id = &cid;
		st.container_status = &cs;
	}
	st.has_uuid = true;
	st.uuid.data = u->uuid;
	st.uuid.len = sizeof(u->uuid);
	m.agent_id = &aid;
	m.framework_id = &fid;
	m.status = &st;
	m.has_latest_state = true;
	m.latest_state = state;
	len = keel__agent__status_update__get_packed_size(&m);
	if (keel_buf_reserve(&u->packed, len) < 0)
		goto oom;
	keel__agent__status_update__pack(&m, (uint8_t *)keel_buf_wptr(&u->packed));
	keel_buf_commit(&u->packed, len);
	if (agent_store_put(a->store, u->key, keel_buf_rptr(&u->packed), len, a->errmsg) < 0) {
		KEEL_ERROR("agent", "%s", a->errmsg);
		update_free(u);
		return;
	}
	update_append(t, u);
	t->state = state;
	if (agent_state_terminal(state))
		t->terminal = true;
	KEEL_DEBUG("agent", "task %s: state %d%s%s", t->key, (int)state, message ? ": " : "",
		   message ? message : "");
	agent_flush_soon(a);
	return;
oom:
	if (u)
		update_free(u);
	KEEL_ERROR("agent", "task %s: out of memory producing a status update", t->key);
}

void agent_update_ack(struct agent *a, const char *framework_id, const char *task_id,
		      const uint8_t *uuid, size_t uuid_len)
{
	char key[1024];
	struct agent_task *t;
	struct agent_update *u;

	snprintf(key, sizeof(key), "%s/%s", framework_id, task_id);
	t = keel_hmap_get(&a->tasks, key);
	if (!t || !(u = t->head) || uuid_len != sizeof(u->uuid) ||
	    memcmp(u->uuid, uuid, uuid_len) != 0)
		return; /* unknown or already acknowledged: harmless */
	a->n_acks++;
	if (agent_store_del(a->store, u->key, a->errmsg) < 0)
		KEEL_ERROR("agent", "%s", a->errmsg);
	t->head = u->next;
	if (!t->head)
		t->tail = NULL;
	update_free(u);
	t->in_flight = false;
	keel_timer_stop(t->resend);
	if (t->head)
		agent_flush_soon(a); /* the next one goes at once (after the delete is durable) */
	else if (t->terminal)
		agent_task_forget(t);
	else
		agent_flush_soon(a);
}

void agent_updates_resume(struct agent *a)
{
	const char *key;
	void *val;
	size_t pos = 0;

	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		struct agent_task *t = val;

		t->in_flight = false;
		if (t->resend)
			keel_timer_stop(t->resend);
	}
	agent_flush_soon(a);
}

void agent_update_task_free(struct agent_task *t)
{
	while (t->head) {
		struct agent_update *u = t->head;

		t->head = u->next;
		update_free(u);
	}
	t->tail = NULL;
	keel_timer_free(t->resend);
	t->resend = NULL;
}

/* Scan callback: one checkpointed update. */
static int update_load_one(void *arg, const char *key, const void *val, size_t len)
{
	struct agent *a = arg;
	Keel__Agent__StatusUpdate *m = NULL;
	struct agent_update *u;
	struct agent_task *t;
	char tkey[1024];
	uint64_t seq = strtoull(key + 2, NULL, 16);

	if (seq >= a->next_seq)
		a->next_seq = seq + 1;
	if (keel_pbjson_unpack(&keel__agent__status_update__descriptor, val, len,
			       (ProtobufCMessage **)&m, NULL) < 0) {
		KEEL_WARN("agent", "checkpoint %s: not a status update; dropped", key);
		return 0;
	}
	snprintf(tkey, sizeof(tkey), "%s/%s", m->framework_id->value, m->status->task_id->value);
	t = keel_hmap_get(&a->tasks, tkey);
	u = t && m->status->has_uuid && m->status->uuid.len == 16 ? keel_calloc(1, sizeof(*u))
								  : NULL;
	if (!u || update_timer(t) < 0 || keel_buf_append(&u->packed, val, len) < 0) {
		if (u)
			update_free(u);
		KEEL_WARN("agent", "checkpoint %s: no task %s (or out of memory); dropped", key,
			  tkey);
		keel_pbjson_free(&m->base);
		return 0;
	}
	snprintf(u->key, sizeof(u->key), "%s", key);
	memcpy(u->uuid, m->status->uuid.data, 16);
	u->state = m->status->state;
	update_append(t, u);
	if (agent_state_terminal(u->state))
		t->terminal = true;
	keel_pbjson_free(&m->base);
	return 0;
}

int agent_updates_load(struct agent *a, char *errmsg)
{
	int rv = keel_timer_new(a->loop, update_on_flush, a, &a->flush_timer);

	if (rv < 0)
		return keel_errf(errmsg, rv, "out of memory");
	return agent_store_scan(a->store, "u/", update_load_one, a, errmsg);
}
