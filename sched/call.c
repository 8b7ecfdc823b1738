/* libkeel-sched: the scheduler calls, each validated in the library before it is sent. */
#include <errno.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/util.h"
#include "sched/sched_int.h"

/* One call in flight: its completion and the client. */
struct sched_call {
	struct keel_sched *s;	 /* client */
	keel_sched_done_cb done; /* completion, may be NULL */
	void *arg;		 /* its argument */
	bool teardown;		 /* a TEARDOWN: stop on 202 */
};

static bool id_ok(const char *v)
{
	return v != NULL && v[0] != '\0';
}

#define NEED(cond, ...)                                                                            \
	do {                                                                                       \
		if (!(cond))                                                                       \
			return keel_errf(errmsg, -EINVAL, __VA_ARGS__);                            \
	} while (0)

static int validate_op(const Mesos__V1__Offer__Operation *op, size_t i, char *errmsg)
{
	NEED(op != NULL && op->has_type, "accept: operation %zu has no type", i);
	switch (op->type) {
	case MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH:
		NEED(op->launch != NULL && op->launch->n_task_infos > 0 &&
			 op->launch->task_infos != NULL,
		     "accept: operation %zu (LAUNCH) has no task_infos", i);
		for (size_t t = 0; t < op->launch->n_task_infos; t++) {
			const Mesos__V1__TaskInfo *ti = op->launch->task_infos[t];
			NEED(ti != NULL && ti->task_id != NULL && id_ok(ti->task_id->value),
			     "accept: task %zu of operation %zu has no task_id", t, i);
			NEED(ti->agent_id != NULL && id_ok(ti->agent_id->value),
			     "accept: task %s has no agent_id", ti->task_id->value);
			NEED(ti->name != NULL, "accept: task %s has no name", ti->task_id->value);
			NEED(ti->command != NULL || ti->executor != NULL,
			     "accept: task %s has neither command nor executor",
			     ti->task_id->value);
		}
		break;
	case MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP: {
		const Mesos__V1__Offer__Operation__LaunchGroup *lg = op->launch_group;
		NEED(lg != NULL, "accept: operation %zu has no launch_group", i);
		NEED(lg->executor != NULL && lg->executor->executor_id != NULL &&
			 id_ok(lg->executor->executor_id->value),
		     "accept: launch_group of operation %zu has no executor with an executor_id",
		     i);
		NEED(lg->task_group != NULL && lg->task_group->n_tasks > 0 &&
			 lg->task_group->tasks != NULL,
		     "accept: launch_group of operation %zu has no task_group tasks", i);
		for (size_t t = 0; t < lg->task_group->n_tasks; t++) {
			const Mesos__V1__TaskInfo *ti = lg->task_group->tasks[t];
			NEED(ti != NULL && ti->task_id != NULL && id_ok(ti->task_id->value),
			     "accept: task %zu of operation %zu has no task_id", t, i);
			NEED(ti->agent_id != NULL && id_ok(ti->agent_id->value),
			     "accept: task %s has no agent_id", ti->task_id->value);
			NEED(ti->name != NULL, "accept: task %s has no name", ti->task_id->value);
		}
		break;
	}
	case MESOS__V1__OFFER__OPERATION__TYPE__RESERVE:
		NEED(op->reserve != NULL && op->reserve->n_resources > 0,
		     "accept: operation %zu (RESERVE) has no resources", i);
		break;
	case MESOS__V1__OFFER__OPERATION__TYPE__UNRESERVE:
		NEED(op->unreserve != NULL && op->unreserve->n_resources > 0,
		     "accept: operation %zu (UNRESERVE) has no resources", i);
		break;
	case MESOS__V1__OFFER__OPERATION__TYPE__CREATE:
		NEED(op->create != NULL && op->create->n_volumes > 0,
		     "accept: operation %zu (CREATE) has no volumes", i);
		break;
	case MESOS__V1__OFFER__OPERATION__TYPE__DESTROY:
		NEED(op->destroy != NULL && op->destroy->n_volumes > 0,
		     "accept: operation %zu (DESTROY) has no volumes", i);
		break;
	default:
		break;
	}
	return 0;
}

static int validate_ids(Mesos__V1__OfferID **ids, size_t n, const char *what, char *errmsg)
{
	NEED(n > 0 && ids != NULL, "%s: no offer_ids", what);
	for (size_t i = 0; i < n; i++)
		NEED(ids[i] != NULL && id_ok(ids[i]->value), "%s: offer_ids[%zu] is empty", what,
		     i);
	return 0;
}

int sched_call_validate(const Mesos__V1__Scheduler__Call *c, char *errmsg)
{
	int rv;

	NEED(c != NULL && c->has_type, "call: no type");
	switch (c->type) {
	case MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE:
		NEED(c->subscribe != NULL && c->subscribe->framework_info != NULL,
		     "subscribe: no framework_info");
		NEED(c->subscribe->framework_info->user != NULL &&
			 c->subscribe->framework_info->name != NULL,
		     "subscribe: framework_info needs user and name");
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN:
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT:
		NEED(c->accept != NULL, "accept: no accept body");
		rv = validate_ids(c->accept->offer_ids, c->accept->n_offer_ids, "accept", errmsg);
		if (rv < 0)
			return rv;
		NEED(c->accept->n_operations == 0 || c->accept->operations != NULL,
		     "accept: no operations array");
		for (size_t i = 0; i < c->accept->n_operations; i++)
			if ((rv = validate_op(c->accept->operations[i], i, errmsg)) < 0)
				return rv;
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE:
		NEED(c->decline != NULL, "decline: no decline body");
		return validate_ids(c->decline->offer_ids, c->decline->n_offer_ids, "decline",
				    errmsg);
	case MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE:
		NEED(c->revive == NULL || c->revive->n_roles == 0 || c->revive->roles != NULL,
		     "revive: no roles array");
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS:
		NEED(c->suppress == NULL || c->suppress->n_roles == 0 || c->suppress->roles != NULL,
		     "suppress: no roles array");
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__KILL:
		NEED(c->kill != NULL && c->kill->task_id != NULL && id_ok(c->kill->task_id->value),
		     "kill: no task_id");
		NEED(c->kill->agent_id == NULL || id_ok(c->kill->agent_id->value),
		     "kill: agent_id is empty");
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN:
		NEED(c->shutdown != NULL && c->shutdown->executor_id != NULL &&
			 id_ok(c->shutdown->executor_id->value),
		     "shutdown: no executor_id");
		NEED(c->shutdown->agent_id != NULL && id_ok(c->shutdown->agent_id->value),
		     "shutdown: no agent_id");
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
		NEED(c->acknowledge != NULL, "acknowledge: no acknowledge body");
		NEED(c->acknowledge->agent_id != NULL && id_ok(c->acknowledge->agent_id->value),
		     "acknowledge: no agent_id");
		NEED(c->acknowledge->task_id != NULL && id_ok(c->acknowledge->task_id->value),
		     "acknowledge: no task_id");
		NEED(c->acknowledge->uuid.len > 0, "acknowledge: no uuid");
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE:
		NEED(c->reconcile != NULL, "reconcile: no reconcile body");
		NEED(c->reconcile->n_tasks == 0 || c->reconcile->tasks != NULL,
		     "reconcile: no tasks array");
		for (size_t i = 0; i < c->reconcile->n_tasks; i++) {
			const Mesos__V1__Scheduler__Call__Reconcile__Task *t =
			    c->reconcile->tasks[i];
			NEED(t != NULL && t->task_id != NULL && id_ok(t->task_id->value),
			     "reconcile: tasks[%zu] has no task_id", i);
			NEED(t->agent_id == NULL || id_ok(t->agent_id->value),
			     "reconcile: tasks[%zu] has an empty agent_id", i);
		}
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE:
		NEED(c->message != NULL, "message: no message body");
		NEED(c->message->agent_id != NULL && id_ok(c->message->agent_id->value),
		     "message: no agent_id");
		NEED(c->message->executor_id != NULL && id_ok(c->message->executor_id->value),
		     "message: no executor_id");
		NEED(c->message->data.data != NULL || c->message->data.len == 0,
		     "message: data is NULL");
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST:
		NEED(c->request != NULL && c->request->n_requests > 0 &&
			 c->request->requests != NULL,
		     "request: no requests");
		for (size_t i = 0; i < c->request->n_requests; i++)
			NEED(c->request->requests[i] != NULL, "request: requests[%zu] is NULL", i);
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK:
		NEED(c->update_framework != NULL && c->update_framework->framework_info != NULL,
		     "update_framework: no framework_info");
		NEED(c->update_framework->framework_info->user != NULL &&
			 c->update_framework->framework_info->name != NULL,
		     "update_framework: framework_info needs user and name");
		break;
	case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS:
		NEED(c->accept_inverse_offers != NULL, "accept_inverse_offers: no body");
		return validate_ids(c->accept_inverse_offers->inverse_offer_ids,
				    c->accept_inverse_offers->n_inverse_offer_ids,
				    "accept_inverse_offers", errmsg);
	case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS:
		NEED(c->decline_inverse_offers != NULL, "decline_inverse_offers: no body");
		return validate_ids(c->decline_inverse_offers->inverse_offer_ids,
				    c->decline_inverse_offers->n_inverse_offer_ids,
				    "decline_inverse_offers", errmsg);
	case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS: {
		const Mesos__V1__Scheduler__Call__AcknowledgeOperationStatus *a =
		    c->acknowledge_operation_status;
		NEED(a != NULL, "acknowledge_operation_status: no body");
		NEED(a->operation_id != NULL && id_ok(a->operation_id->value),
		     "acknowledge_operation_status: no operation_id");
		NEED(a->uuid.len > 0, "acknowledge_operation_status: no uuid");
		break;
	}
	case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE_OPERATIONS: {
		const Mesos__V1__Scheduler__Call__ReconcileOperations *r = c->reconcile_operations;
		NEED(r != NULL, "reconcile_operations: no body");
		NEED(r->n_operations == 0 || r->operations != NULL,
		     "reconcile_operations: no operations array");
		for (size_t i = 0; i < r->n_operations; i++)
			NEED(r->operations[i] != NULL && r->operations[i]->operation_id != NULL &&
				 id_ok(r->operations[i]->operation_id->value),
			     "reconcile_operations: operations[%zu] has no operation_id", i);
		break;
	}
	default:
		return keel_errf(errmsg, -EINVAL, "call: unknown type %d", (int)c->type);
	}
	return 0;
}

static void call_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct sched_call *sc = arg;
	struct keel_sched *s = sc->s;

	if (sc->teardown && err == 0 && resp->status == 202 && !s->in_free) {
		keel_free(s->framework_id);
		s->framework_id = NULL;
		keel_sched_stop(s);
	}
	if (sc->done != NULL)
		sc->done(s, err, err == 0 ? resp->status : 0, err == 0 ? resp->body : NULL,
			 err == 0 ? resp->body_len : 0, sc->arg);
	keel_free(sc);
}

int keel_sched_call(struct keel_sched *s, const Mesos__V1__Scheduler__Call *call,
		    keel_sched_done_cb done, void *arg, char *errmsg)
{
	static const struct keel_http_client_cbs cbs = {.on_done = call_done};
	Mesos__V1__Scheduler__Call copy;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	struct keel_buf body = {0};
	struct sched_call *sc;
	const char *hdrs[5];
	int rv;

	rv = sched_call_validate(call, errmsg);
	if (rv < 0)
		return rv;
	if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE)
		return keel_errf(errmsg, -EINVAL, "subscribe: the library subscribes by itself");
	if (!keel_sched_subscribed(s) || s->conn == NULL)
		return keel_errf(errmsg, -ENOTCONN, "not subscribed to a master");
	copy = *call;
	fid.value = s->framework_id;
	copy.framework_id = &fid;
	rv = sched_encode(s, &copy.base, &body, errmsg);
	if (rv < 0)
		return rv;
	sc = keel_calloc(1, sizeof(*sc));
	if (sc == NULL) {
		keel_buf_free(&body);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	sc->s = s;
	sc->done = done;
	sc->arg = arg;
	sc->teardown = call->type == MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN;
	hdrs[0] = "Accept";
	hdrs[1] = s->json ? "application/json" : "application/x-protobuf";
	hdrs[2] = "Mesos-Stream-Id";
	hdrs[3] = s->stream_id;
	hdrs[4] = NULL;
	rv = keel_http_client_request(s->conn->calls, "POST", s->path, hdrs, hdrs[1],
				      keel_buf_rptr(&body), keel_buf_size(&body), &cbs, sc);
	keel_buf_free(&body);
	if (rv < 0) {
		keel_free(sc);
		return keel_errf(errmsg, rv, "cannot send the call");
	}
	return 0;
}

/* Fills the type of a call. */
static void call_init(Mesos__V1__Scheduler__Call *c, Mesos__V1__Scheduler__Call__Type t)
{
	mesos__v1__scheduler__call__init(c);
	c->type = t;
	c->has_type = true;
}

int keel_sched_accept(struct keel_sched *s, const Mesos__V1__OfferID *const *offer_ids,
		      size_t n_offers, const Mesos__V1__Offer__Operation *const *ops, size_t n_ops,
		      const Mesos__V1__Filters *filters, keel_sched_done_cb done, void *arg,
		      char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Accept a = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;

	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT);
	a.offer_ids = (Mesos__V1__OfferID **)offer_ids;
	a.n_offer_ids = n_offers;
	a.operations = (Mesos__V1__Offer__Operation **)ops;
	a.n_operations = n_ops;
	a.filters = (Mesos__V1__Filters *)filters;
	c.accept = &a;
	return keel_sched_call(s, &c, done, arg, errmsg);
}

int keel_sched_launch(struct keel_sched *s, const Mesos__V1__OfferID *offer_id,
		      Mesos__V1__TaskInfo *const *tasks, size_t n_tasks, keel_sched_done_cb done,
		      void *arg, char *errmsg)
{
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
	Mesos__V1__Offer__Operation__Launch l = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
	const Mesos__V1__Offer__Operation *ops[1] = {&op};

	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
	op.has_type = true;
	l.task_infos = (Mesos__V1__TaskInfo **)tasks;
	l.n_task_infos = n_tasks;
	op.launch = &l;
	return keel_sched_accept(s, &offer_id, offer_id != NULL ? 1 : 0, ops, 1, NULL, done, arg,
				 errmsg);
}

int keel_sched_decline(struct keel_sched *s, const Mesos__V1__OfferID *const *offer_ids, size_t n,
		       double refuse_seconds, keel_sched_done_cb done, void *arg, char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Decline d = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
	Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;

	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE);
	d.offer_ids = (Mesos__V1__OfferID **)offer_ids;
	d.n_offer_ids = n;
	if (refuse_seconds >= 0) {
		f.refuse_seconds = refuse_seconds;
		f.has_refuse_seconds = true;
		d.filters = &f;
	}
	c.decline = &d;
	return keel_sched_call(s, &c, done, arg, errmsg);
}

/* REVIVE or SUPPRESS: the same body (a list of roles) under two names. */
static int roles_call(struct keel_sched *s, bool revive, const char *const *roles, size_t n,
		      keel_sched_done_cb done, void *arg, char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Revive rv = MESOS__V1__SCHEDULER__CALL__REVIVE__INIT;
	Mesos__V1__Scheduler__Call__Suppress sp = MESOS__V1__SCHEDULER__CALL__SUPPRESS__INIT;

	NEED(n == 0 || roles != NULL, "%s: no roles array", revive ? "revive" : "suppress");
	for (size_t i = 0; i < n; i++)
		NEED(id_ok(roles[i]), "%s: roles[%zu] is empty", revive ? "revive" : "suppress", i);
	if (revive) {
		call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE);
		rv.roles = (char **)roles;
		rv.n_roles = n;
		c.revive = &rv;
	} else {
		call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS);
		sp.roles = (char **)roles;
		sp.n_roles = n;
		c.suppress = &sp;
	}
	return keel_sched_call(s, &c, done, arg, errmsg);
}

int keel_sched_revive(struct keel_sched *s, const char *const *roles, size_t n,
		      keel_sched_done_cb done, void *arg, char *errmsg)
{
	return roles_call(s, true, roles, n, done, arg, errmsg);
}

int keel_sched_suppress(struct keel_sched *s, const char *const *roles, size_t n,
			keel_sched_done_cb done, void *arg, char *errmsg)
{
	return roles_call(s, false, roles, n, done, arg, errmsg);
}

int keel_sched_kill(struct keel_sched *s, const char *task_id, const char *agent_id,
		    keel_sched_done_cb done, void *arg, char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Kill k = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
	Mesos__V1__TaskID t = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID a = MESOS__V1__AGENT_ID__INIT;

	NEED(id_ok(task_id), "kill: no task_id");
	NEED(agent_id == NULL || id_ok(agent_id), "kill: agent_id is empty");
	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__KILL);
	t.value = (char *)task_id;
	k.task_id = &t;
	if (agent_id != NULL) {
		a.value = (char *)agent_id;
		k.agent_id = &a;
	}
	c.kill = &k;
	return keel_sched_call(s, &c, done, arg, errmsg);
}

int keel_sched_shutdown(struct keel_sched *s, const char *executor_id, const char *agent_id,
			keel_sched_done_cb done, void *arg, char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Shutdown sd = MESOS__V1__SCHEDULER__CALL__SHUTDOWN__INIT;
	Mesos__V1__ExecutorID e = MESOS__V1__EXECUTOR_ID__INIT;
	Mesos__V1__AgentID a = MESOS__V1__AGENT_ID__INIT;

	NEED(id_ok(executor_id), "shutdown: no executor_id");
	NEED(id_ok(agent_id), "shutdown: no agent_id");
	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN);
	e.value = (char *)executor_id;
	a.value = (char *)agent_id;
	sd.executor_id = &e;
	sd.agent_id = &a;
	c.shutdown = &sd;
	return keel_sched_call(s, &c, done, arg, errmsg);
}

int keel_sched_acknowledge(struct keel_sched *s, const Mesos__V1__TaskStatus *st,
			   keel_sched_done_cb done, void *arg, char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;

	NEED(st != NULL, "acknowledge: no status");
	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE);
	ack.agent_id = st->agent_id;
	ack.task_id = st->task_id;
	if (st->has_uuid)
		ack.uuid = st->uuid;
	c.acknowledge = &ack;
	return keel_sched_call(s, &c, done, arg, errmsg);
}

int keel_sched_reconcile(struct keel_sched *s, const char *const *task_ids,
			 const char *const *agent_ids, size_t n, keel_sched_done_cb done, void *arg,
			 char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Reconcile r = MESOS__V1__SCHEDULER__CALL__RECONCILE__INIT;
	Mesos__V1__Scheduler__Call__Reconcile__Task *tasks = NULL, **ptrs = NULL;
	Mesos__V1__TaskID *tids = NULL;
	Mesos__V1__AgentID *aids = NULL;
	int rv = -ENOMEM;

	NEED(n == 0 || task_ids != NULL, "reconcile: no task_ids array");
	for (size_t i = 0; i < n; i++) {
		NEED(id_ok(task_ids[i]), "reconcile: task_ids[%zu] is empty", i);
		NEED(agent_ids == NULL || agent_ids[i] == NULL || agent_ids[i][0] != '\0',
		     "reconcile: agent_ids[%zu] is empty", i);
	}
	if (n > 0) {
		tasks = keel_calloc(n, sizeof(*tasks));
		ptrs = keel_calloc(n, sizeof(*ptrs));
		tids = keel_calloc(n, sizeof(*tids));
		aids = keel_calloc(n, sizeof(*aids));
		if (tasks == NULL || ptrs == NULL || tids == NULL || aids == NULL) {
			keel_errf(errmsg, -ENOMEM, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		mesos__v1__scheduler__call__reconcile__task__init(&tasks[i]);
		mesos__v1__task_id__init(&tids[i]);
		tids[i].value = (char *)task_ids[i];
		tasks[i].task_id = &tids[i];
		if (agent_ids != NULL && agent_ids[i] != NULL) {
			mesos__v1__agent_id__init(&aids[i]);
			aids[i].value = (char *)agent_ids[i];
			tasks[i].agent_id = &aids[i];
		}
		ptrs[i] = &tasks[i];
	}
	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE);
	r.tasks = ptrs;
	r.n_tasks = n;
	c.reconcile = &r;
	rv = keel_sched_call(s, &c, done, arg, errmsg);
out:
	keel_free(tasks);
	keel_free(ptrs);
	keel_free(tids);
	keel_free(aids);
	return rv;
}

int keel_sched_message(struct keel_sched *s, const char *agent_id, const char *executor_id,
		       const void *data, size_t len, keel_sched_done_cb done, void *arg,
		       char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Message m = MESOS__V1__SCHEDULER__CALL__MESSAGE__INIT;
	Mesos__V1__ExecutorID e = MESOS__V1__EXECUTOR_ID__INIT;
	Mesos__V1__AgentID a = MESOS__V1__AGENT_ID__INIT;

	NEED(id_ok(agent_id), "message: no agent_id");
	NEED(id_ok(executor_id), "message: no executor_id");
	NEED(data != NULL || len == 0, "message: data is NULL");
	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE);
	a.value = (char *)agent_id;
	e.value = (char *)executor_id;
	m.agent_id = &a;
	m.executor_id = &e;
	m.data.data = (uint8_t *)data;
	m.data.len = len;
	c.message = &m;
	return keel_sched_call(s, &c, done, arg, errmsg);
}

int keel_sched_request(struct keel_sched *s, Mesos__V1__Request *const *requests, size_t n,
		       keel_sched_done_cb done, void *arg, char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__Request r = MESOS__V1__SCHEDULER__CALL__REQUEST__INIT;

	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST);
	r.requests = (Mesos__V1__Request **)requests;
	r.n_requests = n;
	c.request = &r;
	return keel_sched_call(s, &c, done, arg, errmsg);
}

int keel_sched_teardown(struct keel_sched *s, keel_sched_done_cb done, void *arg, char *errmsg)
{
	Mesos__V1__Scheduler__Call c;

	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN);
	return keel_sched_call(s, &c, done, arg, errmsg);
}

int keel_sched_update_framework(struct keel_sched *s, const Mesos__V1__FrameworkInfo *info,
				keel_sched_done_cb done, void *arg, char *errmsg)
{
	Mesos__V1__Scheduler__Call c;
	Mesos__V1__Scheduler__Call__UpdateFramework u =
	    MESOS__V1__SCHEDULER__CALL__UPDATE_FRAMEWORK__INIT;
	Mesos__V1__FrameworkInfo copy;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;

	NEED(info != NULL, "update_framework: no framework_info");
	call_init(&c, MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK);
	copy = *info;
	if (s->framework_id != NULL) {
		fid.value = s->framework_id;
		copy.id = &fid;
	}
	u.framework_info = &copy;
	c.update_framework = &u;
	return keel_sched_call(s, &c, done, arg, errmsg);
}
