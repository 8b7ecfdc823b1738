/* keel-master's tasks: ACCEPT/LAUNCH validation, RunTask, status updates, acks, kill, reconcile. */
#include "tasks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents_drain.h"
#include "auth.h"
#include "allocator.h"
#include "allocator_proto.h"
#include "http_api.h"
#include "master_int.h"
#include "offers.h"
#include "operator_stream.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "runtime/util.h"
#include "sched.h"

#define PROTOBUF_TYPE "application/x-protobuf"
#define RETRY_FIRST_MS 100u
#define RETRY_MAX_MS 5000u

/* A framework's tasks. */
struct fw_tasks {
	char *id;		  /* framework ID (key in by_fw) */
	struct master_task *head; /* its tasks */
	size_t n;		  /* how many */
};

/* A message to an agent, retried until 202 or the agent leaves. */
struct agent_msg {
	struct master_tasks *ts;       /* owner; NULL once the owner is gone */
	char *agent_id;		       /* to whom (in the same allocation as this struct) */
	const char *path;	       /* where (static) */
	uint8_t *buf;		       /* the packed message (same allocation, after agent_id) */
	size_t len;		       /* its length */
	unsigned backoff_ms;	       /* next retry delay */
	struct keel_timer *retry;      /* retry timer, made at the first retry (NULL before) */
	struct master_origin *origin;  /* the connection of the request in flight, or NULL */
	struct agent_msg *prev, *next; /* ts->msgs */
};

struct master_tasks {
	struct master *m;		/* owner */
	struct keel_hmap by_key;	/* task key -> struct master_task */
	struct keel_hmap by_fw;		/* framework ID -> struct fw_tasks */
	struct agent_msg *msgs;		/* messages in flight or waiting to retry */
	struct master_task_stats stats; /* counters */
};

/* --- Helpers --- */

static bool terminal(Mesos__V1__TaskState s)
{
	switch (s) {
	case MESOS__V1__TASK_STATE__TASK_FINISHED:
	case MESOS__V1__TASK_STATE__TASK_FAILED:
	case MESOS__V1__TASK_STATE__TASK_KILLED:
	case MESOS__V1__TASK_STATE__TASK_LOST:
	case MESOS__V1__TASK_STATE__TASK_ERROR:
	case MESOS__V1__TASK_STATE__TASK_DROPPED:
	case MESOS__V1__TASK_STATE__TASK_GONE:
	case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
		return true;
	default:
		return false;
	}
}

static bool has_capability(const Mesos__V1__FrameworkInfo *info,
			   Mesos__V1__FrameworkInfo__Capability__Type type)
{
	for (size_t i = 0; info != NULL && i < info->n_capabilities; i++)
		if (info->capabilities[i]->has_type && info->capabilities[i]->type == type)
			return true;
	return false;
}

static bool partition_aware(const struct master_framework *fw)
{
	return fw != NULL &&
	       has_capability(fw->info,
			      MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE);
}

static char *task_key(const char *fid, const char *tid)
{
	size_t a = strlen(fid), b = strlen(tid);
	char *k = keel_xmalloc(a + b + 2);

	memcpy(k, fid, a);
	k[a] = '\x1f';
	memcpy(k + a + 1, tid, b + 1);
	return k;
}

static unsigned state_index(Mesos__V1__TaskState s)
{
	return (unsigned)s < 16 ? (unsigned)s : 15;
}

/* --- Messages to agents --- */

static void msg_free(struct agent_msg *am)
{
	struct master_tasks *ts = am->ts;

	if (ts != NULL) {
		if (am->prev)
			am->prev->next = am->next;
		else
			ts->msgs = am->next;
		if (am->next)
			am->next->prev = am->prev;
	}
	keel_timer_free(am->retry);
	keel_free(am); /* agent_id and buf with it */
}

static void msg_try(struct agent_msg *am);
static void on_retry(struct keel_timer *t, void *arg);

/*
 * Retries am after its backoff. Most messages are answered 202 at once, so the
 * timer is made here, at the first retry, not with every message.
 */
static void msg_retry_later(struct agent_msg *am)
{
	if ((am->retry == NULL && keel_timer_new(am->ts->m->loop, on_retry, am, &am->retry) < 0) ||
	    keel_timer_start(am->retry, am->backoff_ms, 0) < 0)
		abort();
	am->backoff_ms = am->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : am->backoff_ms * 2;
}

static void msg_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct agent_msg *am = arg;
	struct master_tasks *ts = am->ts;

	if (ts == NULL) {
		msg_free(am); /* the master is going away */
		return;
	}
	master_origin_put(ts->m, am->origin);
	am->origin = NULL;
	if (err == 0 && resp->status == 202) {
		msg_free(am);
		return;
	}
	KEEL_DEBUG(MASTER_LOG, "%s to agent %s: %s", am->path, am->agent_id,
		   err < 0 ? strerror(-err) : keel_http_status_text(resp->status));
	msg_retry_later(am);
}

static void msg_try(struct agent_msg *am)
{
	static const struct keel_http_client_cbs cbs = {.on_done = msg_done};
	struct master_tasks *ts = am->ts;
	struct master *m = ts->m;
	struct master_agent *a = master_agent_find(m, am->agent_id);

	if (a == NULL || a->origin == NULL || m->state != MASTER_LEADING) {
		msg_free(am); /* the agent left: its re-registration settles the rest */
		return;
	}
	am->origin = a->origin;
	am->origin->refs++;
	ts->stats.agent_messages++;
	if (keel_http_client_request(am->origin->client, "POST", am->path, NULL, PROTOBUF_TYPE,
				     (const char *)am->buf, am->len, &cbs, am) < 0) {
		master_origin_put(m, am->origin);
		am->origin = NULL;
		msg_retry_later(am);
	}
}

static void on_retry(struct keel_timer *t, void *arg)
{
	(void)t;
	msg_try(arg);
}

/* Packs msg and sends it to the agent, retrying until 202 or the agent leaves. */
static void agent_send(struct master_tasks *ts, const char *agent_id, const char *path,
		       const ProtobufCMessage *msg)
{
	size_t id_len = strlen(agent_id), len = protobuf_c_message_get_packed_size(msg);
	/* One allocation per message: the struct, the agent ID, the packed message. */
	struct agent_msg *am = keel_xcalloc(1, sizeof(*am) + id_len + 1 + len);

	am->ts = ts;
	am->agent_id = (char *)(am + 1);
	memcpy(am->agent_id, agent_id, id_len + 1);
	am->path = path;
	am->len = len;
	am->buf = (uint8_t *)am->agent_id + id_len + 1;
	protobuf_c_message_pack(msg, am->buf);
	am->backoff_ms = RETRY_FIRST_MS;
	am->next = ts->msgs;
	if (ts->msgs)
		ts->msgs->prev = am;
	ts->msgs = am;
	msg_try(am);
}

/* --- The task table --- */

static struct fw_tasks *fw_tasks_get(struct master_tasks *ts, const char *fid, bool create)
{
	struct fw_tasks *ft = keel_hmap_get(&ts->by_fw, fid);

	if (ft == NULL && create) {
		ft = keel_xcalloc(1, sizeof(*ft));
		ft->id = keel_xstrdup(fid);
		if (keel_hmap_put(&ts->by_fw, ft->id, ft, NULL) < 0)
			abort();
	}
	return ft;
}

/* Adds a task (task owned from now); role and res (a reference taken) may be NULL. */
static struct master_task *task_add(struct master_tasks *ts, Mesos__V1__Task *task,
				    const char *role, const struct allocator_res *res)
{
	struct master_task *t = keel_xcalloc(1, sizeof(*t));
	struct fw_tasks *ft = fw_tasks_get(ts, task->framework_id->value, true);

	t->task = task;
	t->key = task_key(task->framework_id->value, task->task_id->value);
	t->role = role ? keel_xstrdup(role) : NULL;
	t->res = res ? allocator_res_ref(res) : NULL;
	if (keel_hmap_put(&ts->by_key, t->key, t, NULL) < 0)
		abort();
	t->next = ft->head;
	if (ft->head)
		ft->head->prev = t;
	ft->head = t;
	ft->n++;
	ts->stats.per_state[state_index(task->state)]++;
	return t;
}

static void task_remove(struct master_tasks *ts, struct master_task *t)
{
	struct fw_tasks *ft = fw_tasks_get(ts, t->task->framework_id->value, false);

	if (t->prev)
		t->prev->next = t->next;
	else if (ft != NULL)
		ft->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	if (ft != NULL && --ft->n == 0) {
		keel_hmap_del(&ts->by_fw, ft->id);
		keel_free(ft->id);
		keel_free(ft);
	}
	ts->stats.per_state[state_index(t->task->state)]--;
	keel_hmap_del(&ts->by_key, t->key);
	keel_free(t->key);
	keel_free(t->role);
	allocator_res_unref(t->res);
	keel_pbjson_free(&t->task->base);
	if (t->last)
		keel_pbjson_free(&t->last->base);
	keel_free(t);
}

static void task_set_state(struct master_tasks *ts, struct master_task *t, Mesos__V1__TaskState s)
{
	ts->stats.per_state[state_index(t->task->state)]--;
	if (t->task->state != s)
		ts->stats.reached[state_index(s)]++;
	t->task->state = s;
	ts->stats.per_state[state_index(s)]++;
}

/* Gives a task's resources back to the allocator (once). */
static void task_recover(struct master_tasks *ts, struct master_task *t)
{
	if (t->res == NULL)
		return;
	master_offers_recover(ts->m, t->task->agent_id->value, t->task->framework_id->value,
			      t->role ? t->role : "*", t->res, 0);
	allocator_res_unref(t->res);
	t->res = NULL;
}

size_t master_tasks_count(const struct master *m)
{
	return m->tasks ? m->tasks->by_key.count : 0;
}

struct master_task *master_tasks_of(const struct master *m, const char *framework_id)
{
	struct fw_tasks *ft = m->tasks ? keel_hmap_get(&m->tasks->by_fw, framework_id) : NULL;

	return ft ? ft->head : NULL;
}

struct master_task *master_task_find(const struct master *m, const char *framework_id,
				     const char *task_id)
{
	char small[256], *k = small;
	size_t a, b;
	struct master_task *t;

	if (m->tasks == NULL)
		return NULL;
	/* Called for every update and acknowledgement: the key on the stack when it fits. */
	a = strlen(framework_id);
	b = strlen(task_id);
	if (a + b + 2 > sizeof(small))
		k = keel_xmalloc(a + b + 2);
	memcpy(k, framework_id, a);
	k[a] = '\x1f';
	memcpy(k + a + 1, task_id, b + 1);
	t = keel_hmap_get(&m->tasks->by_key, k);
	if (k != small)
		keel_free(k);
	return t;
}

bool master_tasks_next(const struct master *m, size_t *pos, struct master_task **out)
{
	const char *key;
	void *value;

	if (m->tasks == NULL || !keel_hmap_next(&m->tasks->by_key, pos, &key, &value))
		return false;
	*out = value;
	return true;
}

void master_tasks_stats(const struct master *m, struct master_task_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (m->tasks != NULL)
		*out = m->tasks->stats;
}

/* --- Updates to frameworks --- */

static void send_update(struct master_framework *fw, Mesos__V1__TaskStatus *status)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;

	if (fw == NULL || fw->stream == NULL)
		return;
	up.status = status;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
	ev.update = &up;
	master_framework_send(fw, &ev);
}

/* An update the master makes itself (no uuid: nothing to acknowledge); with unreachable_time
 * when unreachable_ns > 0. */
static void master_update_at(struct master_tasks *ts, struct master_framework *fw,
			     const char *task_id, const char *agent_id, Mesos__V1__TaskState state,
			     Mesos__V1__TaskStatus__Reason reason, const char *message,
			     int64_t unreachable_ns)
{
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TimeInfo ut = MESOS__V1__TIME_INFO__INIT;

	tid.value = (char *)task_id;
	st.task_id = &tid;
	st.state = state;
	st.has_source = true;
	st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
	st.has_reason = true;
	st.reason = reason;
	st.message = (char *)message;
	if (agent_id != NULL) {
		aid.value = (char *)agent_id;
		st.agent_id = &aid;
	}
	if (unreachable_ns > 0) {
		ut.nanoseconds = unreachable_ns;
		st.unreachable_time = &ut;
	}
	st.has_timestamp = true;
	st.timestamp = (double)master_wall_ns() / 1e9;
	send_update(fw, &st);
	ts->stats.forwarded++;
}

static void master_update(struct master_tasks *ts, struct master_framework *fw, const char *task_id,
			  const char *agent_id, Mesos__V1__TaskState state,
			  Mesos__V1__TaskStatus__Reason reason, const char *message)
{
	master_update_at(ts, fw, task_id, agent_id, state, reason, message, 0);
}

/* --- ACCEPT --- */

static const char *operation_name(Mesos__V1__Offer__Operation__Type type)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &mesos__v1__offer__operation__type__descriptor, (int)type);
	return v ? v->name : "UNKNOWN";
}

/* Why a task cannot launch on agent (NULL: valid so far). buf holds the text. */
static const char *task_invalid(struct master *m, struct master_framework *fw,
				const Mesos__V1__TaskInfo *ti, const struct master_agent *a,
				bool in_group, char *buf, size_t size)
{
	if (master_task_find(m, fw->id, ti->task_id->value) != NULL) {
		snprintf(buf, size, "Task has duplicate ID: %s", ti->task_id->value);
		return buf;
	}
	if (strcmp(ti->agent_id->value, a->id) != 0) {
		snprintf(buf, size, "Task uses invalid agent: %s", ti->agent_id->value);
		return buf;
	}
	if (in_group) {
		if (ti->executor != NULL)
			return "'TaskInfo.executor' must not be set";
		return NULL;
	}
	if ((ti->command == NULL) == (ti->executor == NULL))
		return "Task should have at least one (but not both) of CommandInfo or "
		       "ExecutorInfo present";
	return NULL;
}

/* The resources of rs as a vector; NULL with a message when they cannot be used. */
static struct allocator_res *task_res(struct master *m, Mesos__V1__Resource *const *rs, size_t n,
				      char *buf, size_t size)
{
	struct allocator *al = master_offers_allocator(m);
	struct allocator_res *r = NULL;

	if (allocator_res_from_proto(al, rs, n, &r) < 0) {
		snprintf(buf, size, "Task uses invalid resources: %s", allocator_errmsg(al));
		return NULL;
	}
	return r;
}

/*
 * The Task the master keeps for ti: the fields it shares with ti are moved out
 * of ti (the decoded call, freed when the call is done: its free skips the
 * NULLs left behind), the rest is new. No pack/unpack copy per task.
 */
static Mesos__V1__Task *task_from_info(const struct master_framework *fw, Mesos__V1__TaskInfo *ti,
				       const Mesos__V1__ExecutorID *executor_id)
{
	Mesos__V1__Task *task = keel_xmalloc(sizeof(*task));
	Mesos__V1__FrameworkID *fid = keel_xmalloc(sizeof(*fid));

	mesos__v1__task__init(task);
	mesos__v1__framework_id__init(fid);
	fid->value = keel_xstrdup(fw->id);
	task->framework_id = fid;
	task->state = MESOS__V1__TASK_STATE__TASK_STAGING;
	task->user = fw->info->user ? keel_xstrdup(fw->info->user) : NULL;
	if (executor_id != NULL)
		task->executor_id = (Mesos__V1__ExecutorID *)master_pb_copy(&executor_id->base);
	task->name = keel_steal_ptr(&ti->name);
	task->task_id = keel_steal_ptr(&ti->task_id);
	task->agent_id = keel_steal_ptr(&ti->agent_id);
	task->labels = keel_steal_ptr(&ti->labels);
	task->kill_policy = keel_steal_ptr(&ti->kill_policy);
	task->resources = keel_steal_ptr(&ti->resources);
	task->n_resources = ti->n_resources;
	ti->n_resources = 0;
	return task;
}

/*
 * Sends one task (or a group's tasks with one RunTask) and records it; the
 * TaskInfos are moved from (task_from_info) once the RunTask is packed.
 */
static void launch(struct master_tasks *ts, struct master_framework *fw, struct master_agent *a,
		   const char *role, Mesos__V1__TaskInfo *const *tis, size_t n,
		   struct allocator_res *const *res, Mesos__V1__ExecutorInfo *executor,
		   Mesos__V1__TaskGroupInfo *group)
{
	struct master *m = ts->m;
	Keel__Agent__RunTask rt = KEEL__AGENT__RUN_TASK__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;

	aid.value = a->id;
	rt.agent_id = &aid;
	rt.epoch = m->epoch;
	rt.framework = fw->info;
	if (group != NULL) {
		rt.task_group = group;
		rt.executor = executor;
	} else {
		rt.task = tis[0];
	}
	agent_send(ts, a->id, "/internal/master/run_task", &rt.base);
	for (size_t i = 0; i < n; i++) {
		Mesos__V1__TaskInfo *ti = tis[i];
		const Mesos__V1__ExecutorID *eid =
		    executor ? executor->executor_id
			     : (ti->executor ? ti->executor->executor_id : NULL);
		master_opstream_task_added(
		    m, task_add(ts, task_from_info(fw, ti, eid), role, res[i])->task);
		ts->stats.launched++;
	}
}

/* Every task of every LAUNCH / LAUNCH_GROUP gets state with reason and message. */
static void refuse_all(struct master_tasks *ts, struct master_framework *fw,
		       const Mesos__V1__Scheduler__Call__Accept *acc, Mesos__V1__TaskState state,
		       Mesos__V1__TaskStatus__Reason reason, const char *message)
{
	for (size_t i = 0; i < acc->n_operations; i++) {
		const Mesos__V1__Offer__Operation *op = acc->operations[i];
		Mesos__V1__TaskInfo **tis = NULL;
		size_t n = 0;
		if (op->type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH && op->launch) {
			tis = op->launch->task_infos;
			n = op->launch->n_task_infos;
		} else if (op->type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP &&
			   op->launch_group && op->launch_group->task_group) {
			tis = op->launch_group->task_group->tasks;
			n = op->launch_group->task_group->n_tasks;
		}
		for (size_t j = 0; j < n; j++) {
			master_update(ts, fw, tis[j]->task_id->value, tis[j]->agent_id->value,
				      state, reason, message);
			ts->stats.invalid++;
		}
	}
}

void master_tasks_accept(struct master *m, struct master_framework *fw,
			 Mesos__V1__Scheduler__Call__Accept *acc, struct keel_http_req *req)
{
	struct master_tasks *ts = m->tasks;
	struct allocator *al = master_offers_allocator(m);
	struct master_offer **offers;
	struct master_agent *agent = NULL;
	struct allocator_res *total = NULL, *used = NULL;
	double refuse = acc->filters && acc->filters->has_refuse_seconds
			    ? acc->filters->refuse_seconds
			    : ALLOCATOR_REFUSE_DEFAULT;
	char why[KEEL_ERRMSG_SIZE] = "";
	char role[256] = "";
	size_t n = 0;

	for (size_t i = 0; i < acc->n_operations; i++) {
		Mesos__V1__Offer__Operation__Type type = acc->operations[i]->type;
		if (type != MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH &&
		    type != MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP) {
			char text[160];
			snprintf(text, sizeof(text),
				 "Operation %s is not supported by keel-master yet (only LAUNCH "
				 "and LAUNCH_GROUP are)",
				 operation_name(type));
			keel_http_respond_text(req, 501, text);
			return;
		}
	}
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);

	/* The offers: valid, this framework's, one agent, no duplicates. */
	offers = keel_xcalloc(acc->n_offer_ids + 1, sizeof(*offers));
	for (size_t i = 0; i < acc->n_offer_ids; i++) {
		const char *id = acc->offer_ids[i]->value;
		struct master_offer *o = master_offer_find(m, id);
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup = dup || strcmp(acc->offer_ids[j]->value, id) == 0;
		if (dup) {
			if (why[0] == '\0')
				snprintf(why, sizeof(why), "Duplicate offer %s in accept call", id);
			continue;
		}
		if (o == NULL || o->fw != fw) {
			if (why[0] == '\0')
				snprintf(why, sizeof(why), "Offer %s is no longer valid", id);
			continue;
		}
		if (agent != NULL && o->agent != agent && why[0] == '\0')
			snprintf(why, sizeof(why),
				 "Aggregated offers must belong to one single agent");
		if (role[0] != '\0' && strcmp(role, o->role) != 0 && why[0] == '\0')
			snprintf(why, sizeof(why),
				 "Aggregated offers must be allocated to the same role");
		agent = o->agent;
		snprintf(role, sizeof(role), "%s", o->role);
		offers[n++] = o;
	}
	if (n == 0 && why[0] == '\0')
		snprintf(why, sizeof(why), "No offers in the accept call");
	if (why[0] != '\0') {
		char text[KEEL_ERRMSG_SIZE + 64];
		for (size_t i = 0; i < n; i++) {
			master_offers_recover(m, offers[i]->agent->id, fw->id, offers[i]->role,
					      offers[i]->res, refuse);
			master_offer_drop(m, offers[i]);
		}
		snprintf(text, sizeof(text), "Task launched with invalid offers: %s", why);
		refuse_all(ts, fw, acc,
			   partition_aware(fw) ? MESOS__V1__TASK_STATE__TASK_DROPPED
					       : MESOS__V1__TASK_STATE__TASK_LOST,
			   MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS, text);
		keel_free(offers);
		return;
	}
	if (allocator_res_parse(al, "", &total) < 0 || allocator_res_parse(al, "", &used) < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct allocator_res *sum;
		if (allocator_res_add(al, total, offers[i]->res, &sum) < 0)
			abort();
		allocator_res_unref(total);
		total = sum;
		master_offer_drop(m, offers[i]);
	}
	keel_free(offers);

	for (size_t i = 0; i < acc->n_operations; i++) {
		const Mesos__V1__Offer__Operation *op = acc->operations[i];
		bool group = op->type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP;
		Mesos__V1__TaskInfo **tis;
		size_t nt;
		const char *bad = NULL;
		char buf[KEEL_ERRMSG_SIZE];

		if (group) {
			if (op->launch_group == NULL || op->launch_group->task_group == NULL)
				continue;
			tis = op->launch_group->task_group->tasks;
			nt = op->launch_group->task_group->n_tasks;
		} else {
			if (op->launch == NULL)
				continue;
			tis = op->launch->task_infos;
			nt = op->launch->n_task_infos;
		}
		/* LAUNCH: task by task. LAUNCH_GROUP: all or nothing. */
		for (size_t j = 0; j < nt; j += group ? nt : 1) {
			size_t k = group ? nt : 1;
			struct allocator_res **res = keel_xcalloc(k, sizeof(*res));
			struct allocator_res *need = NULL, *avail = NULL, *sum = NULL;
			Mesos__V1__TaskStatus__Reason reason =
			    MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID;
			bad = NULL;
			if (allocator_res_parse(al, "", &need) < 0)
				abort();
			for (size_t x = 0; x < k && bad == NULL; x++) {
				const Mesos__V1__TaskInfo *ti = tis[j + x];
				/* As Mesos: authorization (run_tasks) before validation. */
				bad = master_auth_task_denied(
				    m->auth, fw->info, ti,
				    group ? op->launch_group->executor : NULL, buf, sizeof(buf));
				if (bad != NULL)
					reason =
					    MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNAUTHORIZED;
				else
					bad =
					    task_invalid(m, fw, ti, agent, group, buf, sizeof(buf));
				for (size_t y = 0; bad == NULL && y < x; y++)
					if (strcmp(tis[j + y]->task_id->value,
						   ti->task_id->value) == 0) {
						snprintf(buf, sizeof(buf),
							 "Task has duplicate ID: %s",
							 ti->task_id->value);
						bad = buf;
					}
				if (bad == NULL &&
				    (res[x] = task_res(m, ti->resources, ti->n_resources, buf,
						       sizeof(buf))) == NULL)
					bad = buf;
				if (bad == NULL) {
					if (allocator_res_add(al, need, res[x], &sum) < 0)
						abort();
					allocator_res_unref(need);
					need = sum;
				}
			}
			if (bad == NULL && group && op->launch_group->executor != NULL) {
				const Mesos__V1__ExecutorInfo *ex = op->launch_group->executor;
				struct allocator_res *er =
				    task_res(m, ex->resources, ex->n_resources, buf, sizeof(buf));
				if (er == NULL) {
					bad = buf;
				} else {
					/* The executor's resources travel with the first task. */
					if (allocator_res_add(al, need, er, &sum) < 0 ||
					    allocator_res_add(al, res[0], er, &avail) < 0)
						abort();
					allocator_res_unref(need);
					need = sum;
					allocator_res_unref(res[0]);
					res[0] = avail;
					avail = NULL;
					allocator_res_unref(er);
				}
			}
			if (bad == NULL) {
				if (allocator_res_subtract(al, total, used, &avail) < 0)
					abort();
				if (!allocator_res_contains(avail, need)) {
					char have[96], want[96];
					allocator_res_format(al, need, want, sizeof(want));
					allocator_res_format(al, avail, have, sizeof(have));
					snprintf(buf, sizeof(buf),
						 "Task uses more resources %s than available %s",
						 want, have);
					bad = buf;
				}
				allocator_res_unref(avail);
			}
			if (bad != NULL) {
				for (size_t x = 0; x < k; x++) {
					master_update(ts, fw, tis[j + x]->task_id->value, agent->id,
						      MESOS__V1__TASK_STATE__TASK_ERROR, reason,
						      bad);
					ts->stats.invalid++;
				}
			} else {
				if (allocator_res_add(al, used, need, &sum) < 0)
					abort();
				allocator_res_unref(used);
				used = sum;
				launch(ts, fw, agent, role, tis + j, k, res,
				       group ? op->launch_group->executor : NULL,
				       group ? op->launch_group->task_group : NULL);
			}
			for (size_t x = 0; x < k; x++)
				allocator_res_unref(res[x]);
			keel_free(res);
			allocator_res_unref(need);
		}
	}
	/* What the tasks do not use goes back, with the accept's filters. */
	{
		struct allocator_res *left = NULL;
		if (allocator_res_subtract(al, total, used, &left) < 0)
			abort();
		if (!allocator_res_empty(left))
			master_offers_recover(m, agent->id, fw->id, role, left, refuse);
		allocator_res_unref(left);
	}
	allocator_res_unref(total);
	allocator_res_unref(used);
}

/* --- Status updates from agents --- */

static void status_answer(struct keel_http_req *req, int status, const char *text)
{
	if (text != NULL)
		keel_http_respond_text(req, status, text);
	else
		keel_http_respond(req, status, NULL, NULL, NULL, 0);
}

static void on_status(struct keel_http_req *req, void *arg)
{
	struct master_tasks *ts = arg;
	struct master *m = ts->m;
	Keel__Agent__StatusUpdate *su = NULL;
	struct master_framework *fw;
	struct master_task *t;
	char errmsg[KEEL_ERRMSG_SIZE];
	size_t len;
	const char *body;
	Mesos__V1__TaskState was = MESOS__V1__TASK_STATE__TASK_STAGING;

	if (!master_http_gate(m, req))
		return;
	body = keel_http_req_body(req, &len);
	if (keel_pbjson_unpack(&keel__agent__status_update__descriptor, body, len,
			       (ProtobufCMessage **)&su, errmsg) < 0) {
		char text[KEEL_ERRMSG_SIZE + 64];
		snprintf(text, sizeof(text), "Failed to parse StatusUpdate: %s", errmsg);
		m->counters.invalid_messages++;
		status_answer(req, 400, text);
		return;
	}
	if (master_agent_find(m, su->agent_id->value) == NULL) {
		enum registrar_agent_state rs =
		    registrar_agent_state(m->registrar, su->agent_id->value, NULL, NULL);
		status_answer(req, rs == REGISTRAR_AGENT_GONE ? 410 : 503,
			      rs == REGISTRAR_AGENT_GONE ? "Agent is gone"
							 : "Agent is not registered");
		goto out;
	}
	ts->stats.updates++;
	master_drain_status(m, su);
	t = master_task_find(m, su->framework_id->value, su->status->task_id->value);
	if (t != NULL) {
		Mesos__V1__TaskState newest =
		    su->has_latest_state ? su->latest_state : su->status->state;
		was = t->task->state;
		task_set_state(ts, t, newest);
		t->task->has_status_update_state = true;
		t->task->status_update_state = su->status->state;
		keel_free(t->task->status_update_uuid.data);
		t->task->has_status_update_uuid = su->status->has_uuid;
		t->task->status_update_uuid.len = su->status->uuid.len;
		t->task->status_update_uuid.data = keel_xmalloc(su->status->uuid.len + 1);
		memcpy(t->task->status_update_uuid.data, su->status->uuid.data,
		       su->status->uuid.len);
		if (terminal(newest))
			task_recover(ts, t);
	}
	fw = master_framework_find(m, su->framework_id->value);
	if (fw != NULL && fw->stream != NULL) {
		send_update(fw, su->status);
		ts->stats.forwarded++;
	}
	if (t != NULL) {
		/* The decoded status becomes the task's latest: moved, not copied. */
		if (t->last)
			keel_pbjson_free(&t->last->base);
		t->last = su->status;
		su->status = NULL;
		if (was != t->task->state) {
			master_opstream_task_updated(m, t->task, t->last);
			master_drain_task_changed(m, t->task, was);
		}
	}
	status_answer(req, 202, NULL);
out:
	keel_pbjson_free(&su->base);
}

/* --- ACKNOWLEDGE, KILL, RECONCILE, TEARDOWN --- */

void master_tasks_acknowledge(struct master *m, struct master_framework *fw,
			      const Mesos__V1__Scheduler__Call__Acknowledge *ack)
{
	struct master_tasks *ts = m->tasks;
	Keel__Agent__StatusAck sa = KEEL__AGENT__STATUS_ACK__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	struct master_task *t = master_task_find(m, fw->id, ack->task_id->value);

	fid.value = fw->id;
	sa.agent_id = ack->agent_id;
	sa.epoch = m->epoch;
	sa.framework_id = &fid;
	sa.task_id = ack->task_id;
	sa.uuid = ack->uuid;
	if (master_agent_find(m, ack->agent_id->value) != NULL) {
		agent_send(ts, ack->agent_id->value, "/internal/master/ack", &sa.base);
		ts->stats.acks++;
	}
	if (t != NULL && t->last != NULL && terminal(t->last->state) && t->last->has_uuid &&
	    t->last->uuid.len == ack->uuid.len &&
	    memcmp(t->last->uuid.data, ack->uuid.data, ack->uuid.len) == 0)
		task_remove(ts, t); /* its terminal update is acknowledged: done */
}

/* The latest status of t again, as reconciliation sends it (no uuid). */
static void reconcile_task(struct master_tasks *ts, struct master_framework *fw,
			   struct master_task *t)
{
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;

	if (t->last != NULL)
		st = *t->last;
	st.task_id = t->task->task_id;
	st.agent_id = t->task->agent_id;
	st.state = t->task->state;
	st.has_source = true;
	st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
	st.has_reason = true;
	st.reason = MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION;
	st.message = "Reconciliation: Latest task state";
	st.has_uuid = false;
	st.uuid.len = 0;
	st.uuid.data = NULL;
	st.has_timestamp = true;
	st.timestamp = (double)master_wall_ns() / 1e9;
	send_update(fw, &st);
	ts->stats.forwarded++;
}

void master_tasks_kill(struct master *m, struct master_framework *fw,
		       const Mesos__V1__Scheduler__Call__Kill *kill)
{
	struct master_tasks *ts = m->tasks;
	struct master_task *t = master_task_find(m, fw->id, kill->task_id->value);
	Keel__Agent__KillTask kt = KEEL__AGENT__KILL_TASK__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;

	if (t == NULL) {
		/* Unknown: reconciliation says so (Mesos's kill of an unknown task). */
		master_update(ts, fw, kill->task_id->value,
			      kill->agent_id ? kill->agent_id->value : NULL,
			      partition_aware(fw) ? MESOS__V1__TASK_STATE__TASK_UNKNOWN
						  : MESOS__V1__TASK_STATE__TASK_LOST,
			      MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION,
			      "Attempted to kill an unknown task");
		return;
	}
	fid.value = fw->id;
	kt.agent_id = t->task->agent_id;
	kt.epoch = m->epoch;
	kt.framework_id = &fid;
	kt.task_id = t->task->task_id;
	kt.kill_policy = kill->kill_policy;
	agent_send(ts, t->task->agent_id->value, "/internal/master/kill_task", &kt.base);
}

/*
 * A task this leader does not know, as Mesos's master answers it: nothing while its agent (or,
 * without an agent ID, any agent) has not re-registered after a failover (the framework asks
 * again); TASK_GONE when its agent is registered, TASK_UNREACHABLE (with the time) when the agent
 * is unreachable, TASK_GONE_BY_OPERATOR when it is gone, TASK_UNKNOWN otherwise; TASK_LOST for
 * each of those when the framework is not PARTITION_AWARE.
 */
static void reconcile_unknown(struct master *m, struct master_framework *fw, const char *task_id,
			      const char *agent_id)
{
	enum master_agent_standing at = MASTER_STANDING_UNKNOWN;
	Mesos__V1__TaskState state = MESOS__V1__TASK_STATE__TASK_UNKNOWN;
	const char *message = "Reconciliation: Task is unknown";
	int64_t since = 0;

	if (agent_id != NULL)
		at = master_agent_standing(m, agent_id, &since);
	else if (m->agents.awaiting.count > 0)
		at = MASTER_STANDING_RECOVERED; /* it may be on any agent not back yet */
	switch (at) {
	case MASTER_STANDING_RECOVERED:
		KEEL_INFO(MASTER_LOG, "reconciliation of task %s of framework %s dropped: %s",
			  task_id, fw->id,
			  agent_id != NULL ? "its agent has not re-registered yet"
					   : "some agents have not re-registered yet");
		return;
	case MASTER_STANDING_REGISTERED:
		state = MESOS__V1__TASK_STATE__TASK_GONE;
		message = "Reconciliation: Task is unknown to the agent";
		break;
	case MASTER_STANDING_UNREACHABLE:
		state = MESOS__V1__TASK_STATE__TASK_UNREACHABLE;
		message = "Reconciliation: Task is unreachable";
		break;
	case MASTER_STANDING_GONE:
		state = MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR;
		message = "Reconciliation: Task is gone";
		since = 0;
		break;
	case MASTER_STANDING_UNKNOWN:
		break;
	}
	master_update_at(m->tasks, fw, task_id, agent_id,
			 partition_aware(fw) ? state : MESOS__V1__TASK_STATE__TASK_LOST,
			 MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION, message, since);
}

void master_tasks_reconcile(struct master *m, struct master_framework *fw,
			    const Mesos__V1__Scheduler__Call__Reconcile *rec)
{
	struct master_tasks *ts = m->tasks;

	if (rec->n_tasks == 0) {
		for (struct master_task *t = master_tasks_of(m, fw->id); t != NULL; t = t->next)
			reconcile_task(ts, fw, t);
		return;
	}
	for (size_t i = 0; i < rec->n_tasks; i++) {
		const Mesos__V1__Scheduler__Call__Reconcile__Task *rt = rec->tasks[i];
		struct master_task *t = master_task_find(m, fw->id, rt->task_id->value);
		if (t != NULL) {
			reconcile_task(ts, fw, t);
			continue;
		}
		reconcile_unknown(m, fw, rt->task_id->value,
				  rt->agent_id ? rt->agent_id->value : NULL);
	}
}

void master_tasks_teardown(struct master *m, const char *framework_id)
{
	struct master_tasks *ts = m->tasks;
	struct fw_tasks *ft = ts ? fw_tasks_get(ts, framework_id, false) : NULL;
	Keel__Agent__ShutdownFramework sf = KEEL__AGENT__SHUTDOWN_FRAMEWORK__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	struct keel_hmap sent = {0};

	if (ft == NULL)
		return;
	fid.value = (char *)framework_id;
	sf.framework_id = &fid;
	sf.epoch = m->epoch;
	sf.agent_id = &aid;
	/* One ShutdownFramework per agent: O(its tasks). */
	while (ft != NULL && ft->head != NULL) {
		struct master_task *t = ft->head;
		const char *agent = t->task->agent_id->value;
		bool last = ft->n == 1;
		if (keel_hmap_get(&sent, agent) == NULL) {
			char *copy = keel_xstrdup(agent);
			if (keel_hmap_put(&sent, copy, copy, NULL) < 0)
				abort();
			aid.value = copy;
			agent_send(ts, agent, "/internal/master/shutdown_framework", &sf.base);
		}
		allocator_res_unref(t->res); /* the allocator drops the framework's allocations */
		t->res = NULL;
		task_remove(ts, t);
		if (last)
			break;
	}
	{
		const char *key;
		void *value;
		size_t pos = 0;
		while (keel_hmap_next(&sent, &pos, &key, &value))
			keel_free(value);
		keel_hmap_free(&sent);
	}
}

/* --- Agents --- */

const char *master_task_role(const Mesos__V1__Task *task)
{
	if (task->n_resources > 0 && task->resources[0]->allocation_info != NULL &&
	    task->resources[0]->allocation_info->role != NULL)
		return task->resources[0]->allocation_info->role;
	return "*";
}

bool master_task_state_terminal(Mesos__V1__TaskState s)
{
	return terminal(s);
}

void master_tasks_agent_reregistered(struct master *m, struct master_agent *a)
{
	struct master_tasks *ts = m->tasks;

	if (ts == NULL)
		return;
	for (size_t i = 0; i < a->n_tasks; i++) {
		const Mesos__V1__Task *rt = a->tasks[i];
		struct master_task *t =
		    master_task_find(m, rt->framework_id->value, rt->task_id->value);
		if (t != NULL) {
			/* Back from a partition: the agent's word is the truth now. */
			if (t->task->state != rt->state)
				task_set_state(ts, t, rt->state);
			if (t->res == NULL && !terminal(rt->state) &&
			    allocator_res_from_proto(master_offers_allocator(m), rt->resources,
						     rt->n_resources, &t->res) < 0)
				t->res = NULL;
			continue;
		}
		t = task_add(ts, (Mesos__V1__Task *)master_pb_copy(&rt->base), NULL, NULL);
		t->role = keel_xstrdup(master_task_role(rt));
		if (!terminal(rt->state) &&
		    allocator_res_from_proto(master_offers_allocator(m), rt->resources,
					     rt->n_resources, &t->res) < 0)
			t->res = NULL; /* not modelled: the allocator does not count it either */
	}
}

void master_tasks_agent_lost(struct master *m, struct master_agent *a, bool removed)
{
	struct master_tasks *ts = m->tasks;
	const char *key;
	void *value;
	size_t pos = 0;

	(void)removed;
	if (ts == NULL)
		return;
	/* Tasks per agent are not indexed: walk the table (an agent loss is rare). */
	while (keel_hmap_next(&ts->by_key, &pos, &key, &value)) {
		struct master_task *t = value;
		struct master_framework *fw;
		if (strcmp(t->task->agent_id->value, a->id) != 0 || terminal(t->task->state))
			continue;
		fw = master_framework_find(m, t->task->framework_id->value);
		task_set_state(ts, t,
			       partition_aware(fw) ? MESOS__V1__TASK_STATE__TASK_UNREACHABLE
						   : MESOS__V1__TASK_STATE__TASK_LOST);
		allocator_res_unref(
		    t->res); /* allocator_agent_remove took the agent's allocations */
		t->res = NULL;
		master_update(ts, fw, t->task->task_id->value, a->id, t->task->state,
			      MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED,
			      "Agent is unreachable");
		master_opstream_task_updated(m, t->task, NULL);
	}
}

/* --- Life --- */

int master_tasks_start(struct master *m, char *errmsg)
{
	struct master_tasks *ts = keel_xcalloc(1, sizeof(*ts));
	int rv;

	ts->m = m;
	m->tasks = ts;
	rv = keel_http_server_route(m->server, KEEL_HTTP_POST, "/internal/agent/status", on_status,
				    ts);
	if (rv < 0)
		return keel_errf(errmsg, rv, "cannot route /internal/agent/status");
	return 0;
}

void master_tasks_free(struct master *m)
{
	struct master_tasks *ts = m->tasks;
	const char *key;
	void *value;
	size_t pos = 0;

	if (ts == NULL)
		return;
	while (ts->msgs != NULL) {
		struct agent_msg *am = ts->msgs;
		ts->msgs = am->next;
		am->ts = NULL;
		am->prev = am->next = NULL;
		if (am->origin == NULL)
			msg_free(am); /* waiting to retry; else its callback frees it */
		else if (am->retry != NULL)
			keel_timer_stop(am->retry);
	}
	while (keel_hmap_next(&ts->by_key, &pos, &key, &value)) {
		struct master_task *t = value;
		allocator_res_unref(t->res);
		t->res = NULL;
		keel_free(t->role);
		keel_pbjson_free(&t->task->base);
		if (t->last)
			keel_pbjson_free(&t->last->base);
		keel_free(t->key);
		keel_free(t);
	}
	keel_hmap_free(&ts->by_key);
	pos = 0;
	while (keel_hmap_next(&ts->by_fw, &pos, &key, &value)) {
		struct fw_tasks *ft = value;
		keel_free(ft->id);
		keel_free(ft);
	}
	keel_hmap_free(&ts->by_fw);
	keel_free(ts);
	m->tasks = NULL;
}
