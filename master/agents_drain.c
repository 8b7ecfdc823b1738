/* DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT: the registry first, then offers and tasks. */
#include "agents_drain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "http_api.h"
#include "http_json.h"
#include "master_int.h"
#include "offers.h"
#include "registrar.h"
#include "sched.h"
#include "tasks.h"
#include "runtime/alloc.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

#define RETRY_MS 1000u

/* What a registry change is for. */
enum drain_kind {
	DRAIN_DEACTIVATE = 0, /* DEACTIVATE_AGENT */
	DRAIN_REACTIVATE = 1, /* REACTIVATE_AGENT */
	DRAIN_START = 2,      /* DRAIN_AGENT */
	DRAIN_DRAINED = 3,    /* every task terminal: DRAINING -> DRAINED */
	DRAIN_GONE = 4,	      /* DRAINED with mark_gone: marked gone */
};

/* A registry change in flight. */
struct drain_op {
	struct master_drain *d;	      /* owner */
	enum drain_kind kind;	      /* what for */
	char *id;		      /* the agent */
	struct keel_http_req *req;    /* the operator's request, or NULL (internal, or it left) */
	struct drain_op *prev, *next; /* d->ops */
};

/* An agent that is DRAINING on this leader. */
struct drain_agent {
	char *id;		  /* agent ID (key in d->draining) */
	size_t live;		  /* its tasks not terminal yet */
	bool finishing;		  /* the DRAINED (or gone) change is queued */
	struct keel_timer *retry; /* retries that change when the registry said busy */
	struct master_drain *d;	  /* owner */
};

struct master_drain {
	struct master *m;	   /* owner */
	struct keel_hmap draining; /* agent ID -> struct drain_agent */
	struct drain_op *ops;	   /* registry changes in flight */
};

static struct master_drain *drain_get(struct master *m)
{
	if (m->drain == NULL) {
		m->drain = keel_xcalloc(1, sizeof(*m->drain));
		m->drain->m = m;
	}
	return m->drain;
}

bool master_drain_state(const struct master *m, const char *agent_id,
			const Mesos__V1__DrainInfo **drain)
{
	if (m->registrar == NULL) {
		if (drain)
			*drain = NULL;
		return false;
	}
	return registrar_agent_drain(m->registrar, agent_id, drain);
}

void master_drain_agent_fill(struct master *m, const char *agent_id,
			     Mesos__V1__Master__Response__GetAgents__Agent *g,
			     Mesos__V1__DrainInfo *storage)
{
	const Mesos__V1__DrainInfo *info = NULL;

	(void)storage;
	g->has_deactivated = true;
	g->deactivated = master_drain_state(m, agent_id, &info);
	g->drain_info = (Mesos__V1__DrainInfo *)info;
}

void master_drain_render(const struct master *m, struct master_json *w, const char *agent_id,
			 struct keel_buf *txt)
{
	const Mesos__V1__DrainInfo *info = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];

	master_json_kv_bool(w, "deactivated", master_drain_state(m, agent_id, &info));
	if (info == NULL)
		return;
	keel_buf_clear(txt);
	if (keel_pbjson_write(txt, &info->base, errmsg) < 0)
		abort(); /* our own valid message: only out of memory fails */
	master_json_key(w, "drain_info");
	master_json_raw(w, keel_buf_rptr(txt), keel_buf_size(txt));
	keel_buf_clear(txt);
}

static bool is_draining(const Mesos__V1__DrainInfo *info)
{
	return info != NULL && info->state == MESOS__V1__DRAIN_STATE__DRAINING;
}

/* --- Offers --- */

/* No offers for a: the allocator skips it and its outstanding offers are rescinded. */
static void offers_off(struct master *m, struct master_agent *a)
{
	struct allocator *al = master_offers_allocator(m);

	if (al != NULL && a->allocating)
		(void)allocator_agent_deactivate(al, a->id);
	while (a->offers != NULL)
		master_offer_rescind(m, a->offers);
}

static void offers_on(struct master *m, struct master_agent *a)
{
	struct allocator *al = master_offers_allocator(m);

	if (al == NULL || !a->allocating)
		return;
	(void)allocator_agent_activate(al, a->id);
	master_offers_agent_update(m, a); /* arms an allocation cycle */
}

/* --- Draining --- */

static void agent_free(struct drain_agent *da)
{
	keel_timer_free(da->retry);
	keel_free(da->id);
	keel_free(da);
}

static void draining_forget(struct master_drain *d, const char *id)
{
	struct drain_agent *da = keel_hmap_get(&d->draining, id);

	if (da == NULL)
		return;
	keel_hmap_del(&d->draining, id);
	agent_free(da);
}

static void finish(struct drain_agent *da);

static void on_retry(struct keel_timer *t, void *arg)
{
	struct drain_agent *da = arg;

	(void)t;
	if (da->d->m->state == MASTER_LEADING)
		finish(da);
}

static struct drain_agent *draining_get(struct master_drain *d, const char *id)
{
	struct drain_agent *da = keel_hmap_get(&d->draining, id);

	if (da != NULL)
		return da;
	da = keel_xcalloc(1, sizeof(*da));
	da->d = d;
	da->id = keel_xstrdup(id);
	if (keel_timer_new(d->m->loop, on_retry, da, &da->retry) < 0 ||
	    keel_hmap_put(&d->draining, da->id, da, NULL) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
	return da;
}

/* The kill grace period for a task: its kill policy's, capped by max (when set). */
static void grace_of(const Mesos__V1__Task *task, const Mesos__V1__DrainConfig *cfg,
		     Mesos__V1__KillPolicy *kp, Mesos__V1__DurationInfo *grace)
{
	const Mesos__V1__DurationInfo *own =
	    task->kill_policy != NULL ? task->kill_policy->grace_period : NULL;
	const Mesos__V1__DurationInfo *max = cfg != NULL ? cfg->max_grace_period : NULL;

	mesos__v1__kill_policy__init(kp);
	mesos__v1__duration_info__init(grace);
	if (own == NULL && max == NULL)
		return;
	if (own != NULL && (max == NULL || own->nanoseconds < max->nanoseconds))
		grace->nanoseconds = own->nanoseconds;
	else
		grace->nanoseconds = max->nanoseconds;
	kp->grace_period = grace;
}

/* Kills every live task of the agent through the agent protocol; counts them. */
static void kill_tasks(struct master *m, struct drain_agent *da, const Mesos__V1__DrainInfo *info)
{
	struct master_framework absent;
	struct master_task *t;
	size_t pos = 0, live = 0;

	while (master_tasks_next(m, &pos, &t)) {
		Mesos__V1__Scheduler__Call__Kill kill = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
		Mesos__V1__KillPolicy kp;
		Mesos__V1__DurationInfo grace;
		struct master_framework *fw;

		if (strcmp(t->task->agent_id->value, da->id) != 0 ||
		    master_task_state_terminal(t->task->state))
			continue;
		live++;
		fw = master_framework_find(m, t->task->framework_id->value);
		if (fw == NULL) {
			/* Not subscribed to this leader (yet): the task is killed all the same, as
			 * Mesos does. For a task it knows, master_tasks_kill reads only the
			 * framework's ID. */
			memset(&absent, 0, sizeof(absent));
			absent.id = t->task->framework_id->value;
			fw = &absent;
		}
		grace_of(t->task, info->config, &kp, &grace);
		kill.task_id = t->task->task_id;
		kill.agent_id = t->task->agent_id;
		kill.kill_policy = &kp;
		master_tasks_kill(m, fw, &kill);
	}
	da->live = live;
	KEEL_INFO(MASTER_LOG, "draining agent %s: %zu live tasks killed", da->id, live);
	if (live == 0)
		finish(da);
}

/* --- Registry changes --- */

static void op_unlink(struct drain_op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		op->d->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
}

static void op_req_closed(struct keel_http_req *req, void *arg)
{
	struct drain_op *op = arg;

	(void)req;
	op->req = NULL;
}

static void op_free(struct drain_op *op)
{
	if (op->req != NULL)
		keel_http_req_on_events(op->req, NULL, NULL, NULL);
	keel_free(op->id);
	keel_free(op);
}

static const char *kind_name(enum drain_kind k)
{
	static const char *const names[] = {"deactivate", "reactivate", "drain", "mark drained",
					    "mark gone"};
	return names[k];
}

static void op_done(struct master *m, int status, struct master_agent *unused, void *data);

/* Queues a registry change; 0, or a negative errno (op freed, req not answered). */
static int op_submit(struct master_drain *d, enum drain_kind kind, const char *id, bool deactivated,
		     const Mesos__V1__DrainInfo *info, struct keel_http_req *req)
{
	struct master *m = d->m;
	struct drain_op *op = keel_xcalloc(1, sizeof(*op));
	struct master_op *mop;
	int rv;

	op->d = d;
	op->kind = kind;
	op->id = keel_xstrdup(id);
	mop = master_op_new(m, op_done, NULL, op);
	if (kind == DRAIN_GONE)
		rv = registrar_mark_gone(m->registrar, id, (int64_t)master_wall_ns(),
					 master_op_done, mop);
	else
		rv = registrar_update_agent_drain(m->registrar, id, deactivated, info,
						  master_op_done, mop);
	if (rv < 0) {
		master_op_cancel(mop);
		op_free(op);
		return rv;
	}
	op->next = d->ops;
	if (d->ops)
		d->ops->prev = op;
	d->ops = op;
	if (req != NULL) {
		op->req = req;
		keel_http_req_on_events(req, NULL, op_req_closed, op);
	}
	return 0;
}

/* DRAINING -> DRAINED (registry), then gone when asked. */
static void finish(struct drain_agent *da)
{
	struct master_drain *d = da->d;
	const Mesos__V1__DrainInfo *info = NULL;
	Mesos__V1__DrainInfo drained;
	int rv;

	if (da->finishing || !master_drain_state(d->m, da->id, &info) || !is_draining(info))
		return;
	drained = *info;
	drained.state = MESOS__V1__DRAIN_STATE__DRAINED;
	rv = op_submit(d, DRAIN_DRAINED, da->id, true, &drained, NULL);
	if (rv == -EBUSY) {
		if (keel_timer_start(da->retry, RETRY_MS, 0) < 0)
			abort();
		return;
	}
	if (rv < 0) {
		KEEL_WARN(MASTER_LOG, "agent %s: cannot record DRAINED: %s", da->id, strerror(-rv));
		return;
	}
	da->finishing = true;
}

/* The agent is gone (durable): told to shut down and forgotten, as MARK_AGENT_GONE does. */
static void gone(struct master *m, const char *id)
{
	struct master_agent *a = master_agent_find(m, id);

	KEEL_INFO(MASTER_LOG, "agent %s drained and marked gone", id);
	if (a != NULL) {
		if (a->origin != NULL)
			master_send_shutdown(m, id, a->origin->name,
					     "Agent has been drained and marked gone");
		master_agent_remove(m, a);
	}
	master_awaiting_forget(m, id);
}

static void op_done(struct master *m, int status, struct master_agent *unused, void *data)
{
	struct drain_op *op = data;
	struct master_drain *d = op->d;
	struct keel_http_req *req = op->req;
	struct master_agent *a;
	const Mesos__V1__DrainInfo *info = NULL;

	(void)unused;
	op_unlink(op);
	if (req != NULL)
		keel_http_req_on_events(req, NULL, NULL, NULL);
	op->req = NULL;
	if (status < 0) {
		/* The registrar reports failures through on_fatal as well. */
		if (req != NULL)
			master_api_answer_text(req, 503, "Failed to %s agent '%s': %s",
					       kind_name(op->kind), op->id, strerror(-status));
		op_free(op);
		return;
	}
	a = master_agent_find(m, op->id);
	switch (op->kind) {
	case DRAIN_DEACTIVATE:
		KEEL_INFO(MASTER_LOG, "agent %s deactivated", op->id);
		if (a != NULL)
			offers_off(m, a);
		break;
	case DRAIN_REACTIVATE:
		KEEL_INFO(MASTER_LOG, "agent %s reactivated", op->id);
		draining_forget(d, op->id);
		if (a != NULL)
			offers_on(m, a);
		break;
	case DRAIN_START:
		KEEL_INFO(MASTER_LOG, "agent %s draining", op->id);
		if (a != NULL)
			offers_off(m, a);
		(void)master_drain_state(m, op->id, &info);
		if (a != NULL && info != NULL)
			kill_tasks(m, draining_get(d, op->id), info);
		break;
	case DRAIN_DRAINED: {
		struct drain_agent *da = keel_hmap_get(&d->draining, op->id);
		KEEL_INFO(MASTER_LOG, "agent %s drained", op->id);
		if (da != NULL)
			da->finishing = false;
		(void)master_drain_state(m, op->id, &info);
		if (info != NULL && info->config != NULL && info->config->has_mark_gone &&
		    info->config->mark_gone) {
			int rv = op_submit(d, DRAIN_GONE, op->id, true, NULL, NULL);
			if (rv < 0)
				KEEL_WARN(MASTER_LOG, "agent %s: cannot mark it gone: %s", op->id,
					  strerror(-rv));
		} else {
			draining_forget(d, op->id);
		}
		break;
	}
	case DRAIN_GONE:
		draining_forget(d, op->id);
		gone(m, op->id);
		break;
	}
	if (req != NULL)
		keel_http_respond(req, 200, NULL, NULL, NULL, 0);
	op_free(op);
}

/* --- The calls --- */

/* Answers a synchronous refusal of the registrar. */
static void answer_refused(struct keel_http_req *req, int rv, const char *id, const char *what)
{
	if (rv == -EBUSY)
		master_api_answer_text(req, 503, "Agent '%s' has a registry change in flight", id);
	else if (rv == -ENOENT)
		master_api_answer_text(req, 400, "Unknown agent");
	else if (rv == -EAGAIN || rv == -ESHUTDOWN)
		master_api_answer_text(req, 503, "The registry is not available: %s",
				       strerror(-rv));
	else
		master_api_answer_text(req, 500, "Failed to %s agent '%s': %s", what, id,
				       strerror(-rv));
}

void master_drain_call(struct master *m, struct keel_http_req *req,
		       const Mesos__V1__Master__Call *call)
{
	struct master_drain *d = drain_get(m);
	const Mesos__V1__DrainInfo *cur = NULL;
	enum registrar_agent_state rs;
	enum drain_kind kind;
	const char *id;
	bool deactivated;
	int rv;

	if (call->type == MESOS__V1__MASTER__CALL__TYPE__DRAIN_AGENT) {
		kind = DRAIN_START;
		id = call->drain_agent->agent_id->value;
	} else if (call->type == MESOS__V1__MASTER__CALL__TYPE__DEACTIVATE_AGENT) {
		kind = DRAIN_DEACTIVATE;
		id = call->deactivate_agent->agent_id->value;
	} else {
		kind = DRAIN_REACTIVATE;
		id = call->reactivate_agent->agent_id->value;
	}
	rs = registrar_agent_state(m->registrar, id, NULL, NULL);
	if (rs == REGISTRAR_AGENT_UNREACHABLE) {
		master_api_answer_text(req, 400,
				       "Agent '%s' is unreachable: keel changes the drain state of "
				       "reachable agents only",
				       id);
		return;
	}
	if (rs != REGISTRAR_AGENT_ADMITTED) {
		master_api_answer_text(req, 400, "Unknown agent");
		return;
	}
	deactivated = master_drain_state(m, id, &cur);
	if (kind == DRAIN_DEACTIVATE) {
		if (deactivated) {
			keel_http_respond(req, 200, NULL, NULL, NULL, 0);
			return;
		}
		rv = op_submit(d, kind, id, true, cur, req);
	} else if (kind == DRAIN_REACTIVATE) {
		if (!deactivated) {
			master_api_answer_text(req, 400, "Agent is not deactivated");
			return;
		}
		rv = op_submit(d, kind, id, false, NULL, req);
	} else {
		const Mesos__V1__Master__Call__DrainAgent *da = call->drain_agent;
		Mesos__V1__DrainInfo info = MESOS__V1__DRAIN_INFO__INIT;
		Mesos__V1__DrainConfig cfg = MESOS__V1__DRAIN_CONFIG__INIT;

		if (da->max_grace_period != NULL && da->max_grace_period->nanoseconds < 0) {
			master_api_answer_text(req, 400,
					       "Negative `max_grace_period` is not allowed");
			return;
		}
		if (cur != NULL && cur->state == MESOS__V1__DRAIN_STATE__DRAINED) {
			keel_http_respond(req, 200, NULL, NULL, NULL, 0);
			return;
		}
		cfg.max_grace_period = da->max_grace_period;
		cfg.has_mark_gone = true;
		cfg.mark_gone = da->has_mark_gone && da->mark_gone;
		info.state = MESOS__V1__DRAIN_STATE__DRAINING;
		info.config = &cfg;
		rv = op_submit(d, kind, id, true, &info, req);
	}
	if (rv < 0)
		answer_refused(req, rv, id, kind_name(kind));
	else
		KEEL_INFO(MASTER_LOG, "operator: %s agent %s", kind_name(kind), id);
}

/* --- Hooks --- */

void master_drain_agent_up(struct master *m, struct master_agent *a)
{
	const Mesos__V1__DrainInfo *info = NULL;

	if (!master_drain_state(m, a->id, &info))
		return;
	offers_off(m, a);
	if (is_draining(info))
		kill_tasks(m, draining_get(drain_get(m), a->id), info);
}

void master_drain_status(struct master *m, Keel__Agent__StatusUpdate *su)
{
	const Mesos__V1__DrainInfo *info = NULL;
	Mesos__V1__TaskStatus *st = su->status;

	if (m->drain == NULL || keel_hmap_get(&m->drain->draining, su->agent_id->value) == NULL)
		return;
	(void)master_drain_state(m, su->agent_id->value, &info);
	if (st == NULL || info == NULL ||
	    (st->state != MESOS__V1__TASK_STATE__TASK_KILLING &&
	     st->state != MESOS__V1__TASK_STATE__TASK_KILLED))
		return;
	st->has_reason = true;
	st->reason = MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_DRAINING;
	if (st->state == MESOS__V1__TASK_STATE__TASK_KILLED && info->config != NULL &&
	    info->config->has_mark_gone && info->config->mark_gone) {
		st->state = MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR;
		if (su->has_latest_state && su->latest_state == MESOS__V1__TASK_STATE__TASK_KILLED)
			su->latest_state = MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR;
	}
}

void master_drain_task_changed(struct master *m, const Mesos__V1__Task *task,
			       Mesos__V1__TaskState was)
{
	struct drain_agent *da;

	if (m->drain == NULL ||
	    (da = keel_hmap_get(&m->drain->draining, task->agent_id->value)) == NULL)
		return;
	if (master_task_state_terminal(was) || !master_task_state_terminal(task->state))
		return;
	if (da->live > 0)
		da->live--;
	if (da->live == 0)
		finish(da);
}

void master_drain_free(struct master *m)
{
	struct master_drain *d = m->drain;
	const char *key;
	void *value;
	size_t pos = 0;

	if (d == NULL)
		return;
	while (d->ops != NULL) {
		struct drain_op *op = d->ops;
		op_unlink(op);
		op_free(op);
	}
	while (keel_hmap_next(&d->draining, &pos, &key, &value)) {
		keel_hmap_del(&d->draining, key);
		agent_free(value);
	}
	keel_hmap_free(&d->draining);
	keel_free(d);
	m->drain = NULL;
}
