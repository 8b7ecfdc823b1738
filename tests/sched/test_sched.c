/* libkeel-sched against a fake master: subscribe, events, calls, validation, reconnects. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "runtime/err.h"
#include "sched/scheduler.h"
#include "tests/harness.h"
#include "tests/loop_util.h"
#include "tests/sched/fake_master.h"

/* What the callbacks saw. */
struct seen {
	struct keel_sched *s;  /* client */
	unsigned connected;    /* connected callbacks */
	unsigned disconnected; /* disconnected callbacks */
	int last_err;	       /* err of the last disconnect */
	unsigned subscribed;   /* SUBSCRIBED */
	unsigned offers;       /* offers received */
	char offer_id[64];     /* last offer id */
	unsigned updates;      /* UPDATE */
	int last_exit;	       /* exit status of the last update */
	unsigned heartbeats;   /* HEARTBEAT */
	unsigned errors;       /* error callbacks */
	int error_status;      /* status of the last error */
	unsigned events;       /* every event */
	unsigned dones;	       /* call completions */
	int done_status;       /* status of the last completion */
	bool decline_in_cb;    /* decline from inside the offers callback */
	int decline_rv;	       /* what that returned */
	bool reconnect_in_hb;  /* reconnect from inside the heartbeat callback */
	bool stop_on_sub;      /* keel_sched_stop from the subscribed callback */
	bool ack_updates;      /* acknowledge from inside the update callback */
};

static void cb_connected(struct keel_sched *s, const char *m, void *arg)
{
	((struct seen *)arg)->connected++;
}

static void cb_disconnected(struct keel_sched *s, int err, const char *why, void *arg)
{
	struct seen *v = arg;

	v->disconnected++;
	v->last_err = err;
}

static void cb_subscribed(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Subscribed *ev,
			  void *arg)
{
	struct seen *v = arg;

	v->subscribed++;
	if (v->stop_on_sub)
		keel_sched_stop(s);
}

static void cb_done(struct keel_sched *s, int err, int status, const char *body, size_t len,
		    void *arg)
{
	struct seen *v = arg;

	v->dones++;
	v->done_status = err < 0 ? err : status;
}

static void cb_offers(struct keel_sched *s, Mesos__V1__Offer *const *offers, size_t n, void *arg)
{
	struct seen *v = arg;
	char msg[KEEL_ERRMSG_SIZE];

	v->offers += (unsigned)n;
	snprintf(v->offer_id, sizeof(v->offer_id), "%s", offers[0]->id->value);
	if (v->decline_in_cb) {
		const Mesos__V1__OfferID *id = offers[0]->id;
		v->decline_rv = keel_sched_decline(s, &id, 1, 5.0, cb_done, v, msg);
	}
}

static void cb_update(struct keel_sched *s, const Mesos__V1__TaskStatus *st, void *arg)
{
	struct seen *v = arg;

	v->updates++;
	v->last_exit = keel_sched_exit_status(st);
	if (v->ack_updates)
		ASSERT_OK(keel_sched_acknowledge(s, st, cb_done, v, NULL));
}

static void cb_heartbeat(struct keel_sched *s, void *arg)
{
	struct seen *v = arg;

	v->heartbeats++;
	if (v->reconnect_in_hb) {
		v->reconnect_in_hb = false;
		keel_sched_reconnect(s);
	}
}

static void cb_error(struct keel_sched *s, int status, const char *message, void *arg)
{
	struct seen *v = arg;

	v->errors++;
	v->error_status = status;
}

static void cb_event(struct keel_sched *s, const Mesos__V1__Scheduler__Event *ev, void *arg)
{
	((struct seen *)arg)->events++;
}

static const struct keel_sched_cbs cbs = {
    .connected = cb_connected,
    .disconnected = cb_disconnected,
    .subscribed = cb_subscribed,
    .offers = cb_offers,
    .update = cb_update,
    .heartbeat = cb_heartbeat,
    .error = cb_error,
    .event = cb_event,
};

/* A loop, one fake master and a client on the same loop. */
struct fx {
	struct keel_loop *loop; /* loop */
	struct fake_master fm;	/* fake */
	struct keel_sched *s;	/* client */
	struct seen v;		/* callbacks */
};

static void fx_framework(Mesos__V1__FrameworkInfo *fi)
{
	mesos__v1__framework_info__init(fi);
	fi->user = "root";
	fi->name = "test-framework";
}

static void fx_client(struct fx *f, const char *master, bool json)
{
	Mesos__V1__FrameworkInfo fi;
	struct keel_sched_config cfg = {0};
	char msg[KEEL_ERRMSG_SIZE];

	fx_framework(&fi);
	cfg.master = master;
	cfg.framework = &fi;
	cfg.loop = f->loop;
	cfg.cbs = &cbs;
	cfg.arg = &f->v;
	cfg.json = json;
	cfg.backoff_min_ms = 10;
	cfg.backoff_max_ms = 80;
	ASSERT_OK(keel_sched_new(&cfg, &f->s, msg));
	f->v.s = f->s;
	ASSERT_OK(keel_sched_start(f->s, msg));
}

static void fx_up(struct fx *f, bool json)
{
	memset(f, 0, sizeof(*f));
	ASSERT_OK(keel_loop_new(&f->loop, NULL, NULL));
	ASSERT_OK(fm_start(&f->fm, f->loop));
	fx_client(f, f->fm.addr, json);
	ASSERT_TRUE(RUN_UNTIL(f->loop, keel_sched_subscribed(f->s), 5000));
}

static void fx_down(struct fx *f)
{
	keel_sched_free(f->s);
	fm_stop(&f->fm);
	keel_loop_free(f->loop);
}

static void check_roundtrip(bool json)
{
	struct fx f;
	const Mesos__V1__Scheduler__Call *c;

	fx_up(&f, json);
	ASSERT_UINT_EQ(f.v.connected, 1);
	ASSERT_UINT_EQ(f.v.subscribed, 1);
	ASSERT_STR_EQ(keel_sched_framework_id(f.s), "fw-1");
	c = fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE);
	ASSERT_NOT_NULL(c);
	ASSERT_STR_EQ(c->subscribe->framework_info->name, "test-framework");
	ASSERT_TRUE(f.fm.calls[0].json == json);

	ASSERT_OK(fm_offer(&f.fm, "o-1", "a-1", "host1"));
	ASSERT_OK(fm_heartbeat(&f.fm));
	ASSERT_OK(fm_update(&f.fm, "t-1", "a-1", MESOS__V1__TASK_STATE__TASK_FAILED,
			    "Command exited with status 7"));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.updates == 1, 5000));
	ASSERT_UINT_EQ(f.v.offers, 1);
	ASSERT_STR_EQ(f.v.offer_id, "o-1");
	ASSERT_UINT_EQ(f.v.heartbeats, 1);
	ASSERT_INT_EQ(f.v.last_exit, 7);
	ASSERT_UINT_EQ(f.v.events, 4);

	/* A call carries the framework ID and the stream ID, and completes with 202. */
	ASSERT_OK(keel_sched_kill(f.s, "t-1", "a-1", cb_done, &f.v, NULL));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.dones == 1, 5000));
	ASSERT_INT_EQ(f.v.done_status, 202);
	c = fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__KILL);
	ASSERT_NOT_NULL(c);
	ASSERT_STR_EQ(c->framework_id->value, "fw-1");
	ASSERT_STR_EQ(c->kill->task_id->value, "t-1");
	ASSERT_STR_EQ(f.fm.calls[f.fm.n_calls - 1].stream_id, f.fm.stream_id);
	fx_down(&f);
}

TEST(subscribe_events_and_calls_protobuf)
{
	check_roundtrip(false);
}

TEST(subscribe_events_and_calls_json)
{
	check_roundtrip(true);
}

TEST(every_call_sends_what_it_says)
{
	struct fx f;
	Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
	const Mesos__V1__OfferID *ids[1] = {&oid};
	Mesos__V1__TaskInfo *task;
	Mesos__V1__Request req = MESOS__V1__REQUEST__INIT, *reqs[1] = {&req};
	Mesos__V1__FrameworkInfo fi;
	const char *roles[] = {"r1"};
	const char *tids[] = {"t-1"};
	char msg[KEEL_ERRMSG_SIZE];

	fx_up(&f, false);
	oid.value = "o-1";
	ASSERT_OK(
	    keel_sched_task_command("t", "t-1", "a-1", "echo hi", "cpus:0.1;mem:32", &task, msg));
	ASSERT_OK(keel_sched_launch(f.s, &oid, &task, 1, cb_done, &f.v, msg));
	keel_sched_msg_free(task);
	ASSERT_OK(keel_sched_decline(f.s, ids, 1, 10, cb_done, &f.v, msg));
	ASSERT_OK(keel_sched_revive(f.s, roles, 1, cb_done, &f.v, msg));
	ASSERT_OK(keel_sched_suppress(f.s, NULL, 0, cb_done, &f.v, msg));
	ASSERT_OK(keel_sched_shutdown(f.s, "e-1", "a-1", cb_done, &f.v, msg));
	ASSERT_OK(keel_sched_reconcile(f.s, tids, NULL, 1, cb_done, &f.v, msg));
	ASSERT_OK(keel_sched_reconcile(f.s, NULL, NULL, 0, cb_done, &f.v, msg));
	ASSERT_OK(keel_sched_message(f.s, "a-1", "e-1", "xy", 2, cb_done, &f.v, msg));
	ASSERT_OK(keel_sched_request(f.s, reqs, 1, cb_done, &f.v, msg));
	fx_framework(&fi);
	fi.name = "renamed";
	ASSERT_OK(keel_sched_update_framework(f.s, &fi, cb_done, &f.v, msg));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.dones == 10, 5000));

	const Mesos__V1__Scheduler__Call *c =
	    fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT);
	ASSERT_NOT_NULL(c);
	ASSERT_STR_EQ(c->accept->offer_ids[0]->value, "o-1");
	ASSERT_STR_EQ(c->accept->operations[0]->launch->task_infos[0]->command->value, "echo hi");
	ASSERT_UINT_EQ(c->accept->operations[0]->launch->task_infos[0]->n_resources, 2);
	c = fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE);
	ASSERT_TRUE(c->decline->filters->refuse_seconds == 10);
	c = fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE);
	ASSERT_STR_EQ(c->revive->roles[0], "r1");
	ASSERT_UINT_EQ(fm_count(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS), 1);
	c = fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN);
	ASSERT_STR_EQ(c->shutdown->executor_id->value, "e-1");
	ASSERT_UINT_EQ(fm_count(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE), 2);
	c = fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE);
	ASSERT_UINT_EQ(c->message->data.len, 2);
	ASSERT_UINT_EQ(fm_count(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST), 1);
	c = fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK);
	ASSERT_STR_EQ(c->update_framework->framework_info->name, "renamed");
	ASSERT_STR_EQ(c->update_framework->framework_info->id->value, "fw-1");

	/* The master's refusal reaches the completion callback. */
	f.fm.call_status = 400;
	ASSERT_OK(keel_sched_kill(f.s, "t-9", NULL, cb_done, &f.v, msg));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.dones == 11, 5000));
	ASSERT_INT_EQ(f.v.done_status, 400);

	/* TEARDOWN: 202 stops the client. */
	f.fm.call_status = 0;
	ASSERT_OK(keel_sched_teardown(f.s, cb_done, &f.v, msg));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.dones == 12, 5000));
	ASSERT_FALSE(keel_sched_subscribed(f.s));
	ASSERT_INT_EQ(keel_sched_kill(f.s, "t-1", NULL, NULL, NULL, msg), -ENOTCONN);
	fx_down(&f);
}

/* Each case: the call must fail with -EINVAL, name the field and send nothing. */
/* A call refused in the library: -EINVAL with `needle` in the message (msg in scope). */
#define EXPECT_EINVAL(expr, needle)                                                                \
	do {                                                                                       \
		msg[0] = '\0';                                                                     \
		ASSERT_INT_EQ((expr), -EINVAL);                                                    \
		ASSERT_STR_CONTAINS(msg, needle);                                                  \
	} while (0)

/* After refused calls: nothing reached the master and no completion fired; then fx_down. */
static void fx_down_nothing_sent(struct fx *f, size_t before)
{
	for (int i = 0; i < 20; i++)
		keel_loop_run_once(f->loop, 5);
	ASSERT_UINT_EQ(f->fm.n_calls, before);
	ASSERT_UINT_EQ(f->v.dones, 0);
	fx_down(f);
}

TEST(calls_validate_required_fields)
{
	struct fx f;
	Mesos__V1__OfferID empty = MESOS__V1__OFFER_ID__INIT, oid = MESOS__V1__OFFER_ID__INIT;
	const Mesos__V1__OfferID *ids[1] = {&empty}, *good[1] = {&oid};
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
	const Mesos__V1__Offer__Operation *ops[1] = {&op};
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT, *tis[1] = {&ti};
	Mesos__V1__FrameworkInfo fi;
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	const char *bad_roles[] = {""};
	const char *bad_tids[] = {""};
	char msg[KEEL_ERRMSG_SIZE];
	size_t before;

	fx_up(&f, false);
	before = f.fm.n_calls;
	empty.value = "";
	oid.value = "o-1";
	tid.value = "t-1";
	aid.value = "a-1";
	mesos__v1__framework_info__init(&fi);

	EXPECT_EINVAL(keel_sched_accept(f.s, NULL, 0, NULL, 0, NULL, NULL, NULL, msg), "offer_ids");
	EXPECT_EINVAL(keel_sched_accept(f.s, ids, 1, NULL, 0, NULL, NULL, NULL, msg), "offer_ids");
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "no type");
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
	op.has_type = true;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "task_infos");
	EXPECT_EINVAL(keel_sched_launch(f.s, &oid, tis, 1, NULL, NULL, msg), "task_id");
	ti.task_id = &tid;
	EXPECT_EINVAL(keel_sched_launch(f.s, &oid, tis, 1, NULL, NULL, msg), "agent_id");
	ti.agent_id = &aid;
	EXPECT_EINVAL(keel_sched_launch(f.s, &oid, tis, 1, NULL, NULL, msg), "name");
	ti.name = "t";
	EXPECT_EINVAL(keel_sched_launch(f.s, &oid, tis, 1, NULL, NULL, msg), "command");
	EXPECT_EINVAL(keel_sched_launch(f.s, NULL, tis, 1, NULL, NULL, msg), "offer_ids");
	EXPECT_EINVAL(keel_sched_decline(f.s, NULL, 0, -1, NULL, NULL, msg), "offer_ids");
	EXPECT_EINVAL(keel_sched_decline(f.s, ids, 1, -1, NULL, NULL, msg), "offer_ids");
	EXPECT_EINVAL(keel_sched_revive(f.s, bad_roles, 1, NULL, NULL, msg), "roles");
	EXPECT_EINVAL(keel_sched_suppress(f.s, bad_roles, 1, NULL, NULL, msg), "roles");
	EXPECT_EINVAL(keel_sched_kill(f.s, NULL, NULL, NULL, NULL, msg), "task_id");
	EXPECT_EINVAL(keel_sched_kill(f.s, "", NULL, NULL, NULL, msg), "task_id");
	EXPECT_EINVAL(keel_sched_shutdown(f.s, NULL, "a", NULL, NULL, msg), "executor_id");
	EXPECT_EINVAL(keel_sched_shutdown(f.s, "e", "", NULL, NULL, msg), "agent_id");
	EXPECT_EINVAL(keel_sched_acknowledge(f.s, NULL, NULL, NULL, msg), "status");
	EXPECT_EINVAL(keel_sched_acknowledge(f.s, &st, NULL, NULL, msg), "agent_id");
	st.agent_id = &aid;
	EXPECT_EINVAL(keel_sched_acknowledge(f.s, &st, NULL, NULL, msg), "task_id");
	st.task_id = &tid;
	EXPECT_EINVAL(keel_sched_acknowledge(f.s, &st, NULL, NULL, msg), "uuid");
	EXPECT_EINVAL(keel_sched_reconcile(f.s, bad_tids, NULL, 1, NULL, NULL, msg), "task_ids");
	EXPECT_EINVAL(keel_sched_message(f.s, NULL, "e", "x", 1, NULL, NULL, msg), "agent_id");
	EXPECT_EINVAL(keel_sched_message(f.s, "a", "", "x", 1, NULL, NULL, msg), "executor_id");
	EXPECT_EINVAL(keel_sched_message(f.s, "a", "e", NULL, 1, NULL, NULL, msg), "data");
	EXPECT_EINVAL(keel_sched_request(f.s, NULL, 0, NULL, NULL, msg), "requests");
	EXPECT_EINVAL(keel_sched_update_framework(f.s, NULL, NULL, NULL, msg), "framework_info");
	EXPECT_EINVAL(keel_sched_update_framework(f.s, &fi, NULL, NULL, msg), "user and name");
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "no type");
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	call.has_type = true;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "framework_info");
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "accept");
	call.type = (Mesos__V1__Scheduler__Call__Type)99;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "unknown type");

	fx_down_nothing_sent(&f, before);
}

/* The cases above through NULL arrays, and every body of keel_sched_call with a field missing. */
TEST(calls_validate_arrays_and_every_call_body)
{
	struct fx f;
	Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
	const Mesos__V1__OfferID *good[1] = {&oid};
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
	const Mesos__V1__Offer__Operation *ops[1] = {&op};
	Mesos__V1__Offer__Operation__LaunchGroup lg =
	    MESOS__V1__OFFER__OPERATION__LAUNCH_GROUP__INIT;
	Mesos__V1__ExecutorInfo ei = MESOS__V1__EXECUTOR_INFO__INIT;
	Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
	Mesos__V1__TaskGroupInfo tg = MESOS__V1__TASK_GROUP_INFO__INIT;
	Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT, *tis[1] = {&ti};
	Mesos__V1__Offer__Operation__Reserve rs = MESOS__V1__OFFER__OPERATION__RESERVE__INIT;
	Mesos__V1__Offer__Operation__Unreserve us = MESOS__V1__OFFER__OPERATION__UNRESERVE__INIT;
	Mesos__V1__Offer__Operation__Create cr = MESOS__V1__OFFER__OPERATION__CREATE__INIT;
	Mesos__V1__Offer__Operation__Destroy ds = MESOS__V1__OFFER__OPERATION__DESTROY__INIT;
	Mesos__V1__Request *null_req[1] = {NULL};
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__Scheduler__Call__Kill kill = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID empty_aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__Scheduler__Call__Reconcile rec = MESOS__V1__SCHEDULER__CALL__RECONCILE__INIT;
	Mesos__V1__Scheduler__Call__Reconcile__Task
	    rt = MESOS__V1__SCHEDULER__CALL__RECONCILE__TASK__INIT,
	    *rts[1] = {&rt};
	Mesos__V1__Scheduler__Call__AcceptInverseOffers aio =
	    MESOS__V1__SCHEDULER__CALL__ACCEPT_INVERSE_OFFERS__INIT;
	Mesos__V1__Scheduler__Call__DeclineInverseOffers dio =
	    MESOS__V1__SCHEDULER__CALL__DECLINE_INVERSE_OFFERS__INIT;
	Mesos__V1__Scheduler__Call__AcknowledgeOperationStatus aos =
	    MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE_OPERATION_STATUS__INIT;
	Mesos__V1__OperationID opid = MESOS__V1__OPERATION_ID__INIT;
	Mesos__V1__Scheduler__Call__ReconcileOperations ro =
	    MESOS__V1__SCHEDULER__CALL__RECONCILE_OPERATIONS__INIT;
	Mesos__V1__Scheduler__Call__ReconcileOperations__Operation
	    roo = MESOS__V1__SCHEDULER__CALL__RECONCILE_OPERATIONS__OPERATION__INIT,
	    *roos[1] = {&roo};
	const char *empty_aids[1] = {""}, *tids[1] = {"t-1"};
	static const struct {
		Mesos__V1__Scheduler__Call__Type type; /* a call with no body */
		const char *needle;		       /* what the message names */
	} bodiless[] = {
	    {MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE, "framework_info"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT, "accept"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE, "decline"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__KILL, "task_id"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN, "executor_id"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE, "acknowledge"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE, "reconcile"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE, "message"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST, "requests"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK, "framework_info"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS, "accept_inverse_offers"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS, "decline_inverse_offers"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS,
	     "acknowledge_operation_status"},
	    {MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE_OPERATIONS, "reconcile_operations"},
	};
	char msg[KEEL_ERRMSG_SIZE];
	size_t before;

	fx_up(&f, false);
	before = f.fm.n_calls;
	oid.value = "o-1";
	tid.value = "t-1";
	empty_aid.value = "";
	eid.value = "e-1";
	opid.value = "op-1";

	/* NULL arrays with a count. */
	EXPECT_EINVAL(keel_sched_accept(f.s, NULL, 1, NULL, 0, NULL, NULL, NULL, msg), "offer_ids");
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, NULL, 1, NULL, NULL, NULL, msg),
		      "operations");
	EXPECT_EINVAL(keel_sched_launch(f.s, &oid, NULL, 1, NULL, NULL, msg), "task_infos");
	EXPECT_EINVAL(keel_sched_decline(f.s, NULL, 1, -1, NULL, NULL, msg), "offer_ids");
	EXPECT_EINVAL(keel_sched_revive(f.s, NULL, 1, NULL, NULL, msg), "roles");
	EXPECT_EINVAL(keel_sched_suppress(f.s, NULL, 1, NULL, NULL, msg), "roles");
	EXPECT_EINVAL(keel_sched_reconcile(f.s, NULL, NULL, 1, NULL, NULL, msg), "task_ids");
	EXPECT_EINVAL(keel_sched_reconcile(f.s, tids, empty_aids, 1, NULL, NULL, msg),
		      "agent_ids[0]");
	EXPECT_EINVAL(keel_sched_request(f.s, NULL, 1, NULL, NULL, msg), "requests");
	EXPECT_EINVAL(keel_sched_request(f.s, null_req, 1, NULL, NULL, msg), "requests[0]");
	EXPECT_EINVAL(keel_sched_kill(f.s, "t-1", "", NULL, NULL, msg), "agent_id");

	/* Each operation type without its body or its required parts. */
	op.has_type = true;
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg),
		      "launch_group");
	op.launch_group = &lg;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "executor");
	lg.executor = &ei;
	ei.executor_id = &eid;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "task_group");
	lg.task_group = &tg;
	tg.tasks = tis;
	tg.n_tasks = 1;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "task_id");
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__RESERVE;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "RESERVE");
	op.reserve = &rs;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "resources");
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__UNRESERVE;
	op.unreserve = &us;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "UNRESERVE");
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__CREATE;
	op.create = &cr;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "volumes");
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__DESTROY;
	op.destroy = &ds;
	EXPECT_EINVAL(keel_sched_accept(f.s, good, 1, ops, 1, NULL, NULL, NULL, msg), "DESTROY");

	/* keel_sched_call: every type with no body, then with a body missing a field. */
	call.has_type = true;
	for (size_t i = 0; i < sizeof(bodiless) / sizeof(bodiless[0]); i++) {
		call.type = bodiless[i].type;
		EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), bodiless[i].needle);
	}
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	call.subscribe = &sub;
	sub.framework_info = &fi;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "user and name");
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__KILL;
	call.kill = &kill;
	kill.task_id = &tid;
	kill.agent_id = &empty_aid;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "agent_id");
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE;
	call.reconcile = &rec;
	rec.n_tasks = 1;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "tasks array");
	rec.tasks = rts;
	rt.task_id = &tid;
	rt.agent_id = &empty_aid;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "agent_id");
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS;
	call.accept_inverse_offers = &aio;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "offer_ids");
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS;
	call.decline_inverse_offers = &dio;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "offer_ids");
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS;
	call.acknowledge_operation_status = &aos;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "operation_id");
	aos.operation_id = &opid;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "uuid");
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE_OPERATIONS;
	call.reconcile_operations = &ro;
	ro.n_operations = 1;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "operations array");
	ro.operations = roos;
	EXPECT_EINVAL(keel_sched_call(f.s, &call, NULL, NULL, msg), "operation_id");

	fx_down_nothing_sent(&f, before);
}

TEST(calls_before_subscribed_are_refused)
{
	struct keel_loop *loop;
	struct keel_sched *s;
	Mesos__V1__FrameworkInfo fi;
	struct keel_sched_config cfg = {0};
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_OK(keel_loop_new(&loop, NULL, NULL));
	fx_framework(&fi);
	cfg.master = "127.0.0.1:1";
	cfg.framework = &fi;
	cfg.loop = loop;
	ASSERT_OK(keel_sched_new(&cfg, &s, msg));
	ASSERT_INT_EQ(keel_sched_kill(s, "t", NULL, NULL, NULL, msg), -ENOTCONN);
	ASSERT_INT_EQ(keel_sched_run(s), -EINVAL);
	keel_sched_free(s);
	keel_loop_free(loop);
}

TEST(new_rejects_bad_config)
{
	Mesos__V1__FrameworkInfo fi;
	struct keel_sched_config cfg = {0};
	struct keel_sched *s;
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_INT_EQ(keel_sched_new(&cfg, &s, msg), -EINVAL);
	cfg.master = "127.0.0.1:5050";
	ASSERT_INT_EQ(keel_sched_new(&cfg, &s, msg), -EINVAL);
	mesos__v1__framework_info__init(&fi);
	cfg.framework = &fi;
	ASSERT_INT_EQ(keel_sched_new(&cfg, &s, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "user and name");
	fx_framework(&fi);
	cfg.master = "nohostport";
	ASSERT_INT_EQ(keel_sched_new(&cfg, &s, msg), -EINVAL);
	cfg.master = "127.0.0.1:99999";
	ASSERT_INT_EQ(keel_sched_new(&cfg, &s, msg), -EINVAL);
	cfg.master = "zk://";
	ASSERT_INT_EQ(keel_sched_new(&cfg, &s, msg), -EINVAL);
	ASSERT_NULL(s);
}

TEST(redirect_is_followed)
{
	struct fx f;
	struct fake_master other;

	memset(&f, 0, sizeof(f));
	ASSERT_OK(keel_loop_new(&f.loop, NULL, NULL));
	ASSERT_OK(fm_start(&f.fm, f.loop));
	ASSERT_OK(fm_start(&other, f.loop));
	other.redirect_to = f.fm.addr;
	fx_client(&f, other.addr, false);
	ASSERT_TRUE(RUN_UNTIL(f.loop, keel_sched_subscribed(f.s), 5000));
	ASSERT_UINT_EQ(other.subscribes, 1);
	ASSERT_UINT_EQ(f.fm.subscribes, 1);
	ASSERT_STR_EQ(keel_sched_master(f.s), f.fm.addr);
	fm_stop(&other);
	fx_down(&f);
}

TEST(redirect_loop_backs_off)
{
	struct fx f;

	memset(&f, 0, sizeof(f));
	ASSERT_OK(keel_loop_new(&f.loop, NULL, NULL));
	ASSERT_OK(fm_start(&f.fm, f.loop));
	f.fm.redirect_to = f.fm.addr; /* to itself, forever */
	fx_client(&f, f.fm.addr, false);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.last_err == -ELOOP, 5000));
	/* The next round (after the backoff) succeeds once the master stops redirecting. */
	f.fm.redirect_to = NULL;
	ASSERT_TRUE(RUN_UNTIL(f.loop, keel_sched_subscribed(f.s), 5000));
	fx_down(&f);
}

TEST(stream_end_resubscribes_with_same_framework_id)
{
	struct fx f;
	const Mesos__V1__Scheduler__Call *c;

	fx_up(&f, false);
	fm_end_stream(&f.fm);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.subscribed == 2, 5000));
	ASSERT_UINT_EQ(f.v.disconnected, 1);
	ASSERT_INT_EQ(f.v.last_err, -ECONNRESET);
	c = fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE);
	ASSERT_NOT_NULL(c->framework_id);
	ASSERT_STR_EQ(c->framework_id->value, "fw-1");
	ASSERT_STR_EQ(c->subscribe->framework_info->id->value, "fw-1");
	fx_down(&f);
}

TEST(master_gone_keeps_retrying)
{
	struct fx f;

	fx_up(&f, false);
	fm_stop(&f.fm);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.disconnected >= 1, 5000));
	/* Refused connections are reported again on every retry (backoff 10..80 ms). */
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.disconnected >= 4, 5000));
	ASSERT_INT_EQ(f.v.last_err, -ECONNREFUSED);
	ASSERT_FALSE(keel_sched_subscribed(f.s));
	fx_down(&f);
}

TEST(missed_heartbeats_resubscribe)
{
	struct fx f;

	memset(&f, 0, sizeof(f));
	ASSERT_OK(keel_loop_new(&f.loop, NULL, NULL));
	ASSERT_OK(fm_start(&f.fm, f.loop));
	f.fm.heartbeat_interval = 0.05; /* and the fake never sends one */
	fx_client(&f, f.fm.addr, false);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.subscribed == 2, 5000));
	ASSERT_INT_EQ(f.v.last_err, -ETIMEDOUT);
	ASSERT_UINT_EQ(f.fm.subscribes, 2);
	fx_down(&f);
}

TEST(subscribe_refused_4xx_stops)
{
	struct fx f;

	memset(&f, 0, sizeof(f));
	ASSERT_OK(keel_loop_new(&f.loop, NULL, NULL));
	ASSERT_OK(fm_start(&f.fm, f.loop));
	f.fm.subscribe_status = 403;
	fx_client(&f, f.fm.addr, false);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.errors == 1, 5000));
	ASSERT_INT_EQ(f.v.error_status, 403);
	for (int i = 0; i < 20; i++)
		keel_loop_run_once(f.loop, 10);
	ASSERT_UINT_EQ(f.fm.subscribes, 1);
	fx_down(&f);
}

TEST(subscribe_5xx_retries)
{
	struct fx f;

	memset(&f, 0, sizeof(f));
	ASSERT_OK(keel_loop_new(&f.loop, NULL, NULL));
	ASSERT_OK(fm_start(&f.fm, f.loop));
	f.fm.subscribe_status = 503;
	fx_client(&f, f.fm.addr, false);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.fm.subscribes >= 3, 5000));
	ASSERT_UINT_EQ(f.v.subscribed, 0);
	f.fm.subscribe_status = 0;
	ASSERT_TRUE(RUN_UNTIL(f.loop, keel_sched_subscribed(f.s), 5000));
	fx_down(&f);
}

TEST(master_list_fails_over)
{
	struct fx f;
	struct fake_master dead;
	char list[96];

	memset(&f, 0, sizeof(f));
	ASSERT_OK(keel_loop_new(&f.loop, NULL, NULL));
	ASSERT_OK(fm_start(&dead, f.loop));
	ASSERT_OK(fm_start(&f.fm, f.loop));
	dead.subscribe_status = 503;
	snprintf(list, sizeof(list), "http://%s,%s", dead.addr, f.fm.addr);
	fx_client(&f, list, false);
	ASSERT_TRUE(RUN_UNTIL(f.loop, keel_sched_subscribed(f.s), 5000));
	ASSERT_UINT_EQ(dead.subscribes, 1);
	ASSERT_STR_EQ(keel_sched_master(f.s), f.fm.addr);
	fm_stop(&dead);
	fx_down(&f);
}

TEST(callbacks_may_call_the_library)
{
	struct fx f;

	fx_up(&f, false);
	f.v.decline_in_cb = true;
	f.v.ack_updates = true;
	ASSERT_OK(fm_offer(&f.fm, "o-7", "a-1", "h"));
	ASSERT_OK(fm_update(&f.fm, "t-1", "a-1", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.dones == 2, 5000));
	ASSERT_OK(f.v.decline_rv);
	ASSERT_STR_EQ(
	    fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE)->decline->offer_ids[0]->value,
	    "o-7");
	ASSERT_UINT_EQ(
	    fm_last(&f.fm, MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE)->acknowledge->uuid.len,
	    16);

	/* Reconnect from inside a callback: the events after it on the old stream are dropped.
	 */
	f.v.reconnect_in_hb = true;
	ASSERT_OK(fm_heartbeat(&f.fm));
	ASSERT_OK(fm_offer(&f.fm, "o-stale", "a-1", "h"));
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.subscribed == 2, 5000));
	for (int i = 0; i < 10; i++)
		keel_loop_run_once(f.loop, 5);
	ASSERT_STR_EQ(f.v.offer_id, "o-7");
	ASSERT_UINT_EQ(f.v.offers, 1);
	fx_down(&f);
}

TEST(own_loop_run_and_stop_from_callback)
{
	struct fake_master fm;
	struct keel_loop *mloop;
	struct keel_sched *s;
	struct keel_sched_config cfg = {0};
	Mesos__V1__FrameworkInfo fi;
	struct seen v = {.stop_on_sub = true};
	char msg[KEEL_ERRMSG_SIZE];

	/* The fake runs on its own loop, polled from here through the client's fd. */
	ASSERT_OK(keel_loop_new(&mloop, NULL, NULL));
	ASSERT_OK(fm_start(&fm, mloop));
	fx_framework(&fi);
	cfg.master = fm.addr;
	cfg.framework = &fi;
	cfg.cbs = &cbs;
	cfg.arg = &v;
	ASSERT_OK(keel_sched_new(&cfg, &s, msg));
	ASSERT_TRUE(keel_sched_fd(s) >= 0);
	ASSERT_OK(keel_sched_start(s, msg));
	ASSERT_INT_EQ(keel_sched_start(s, msg), -EALREADY);
	for (int i = 0; i < 500 && v.subscribed == 0; i++) {
		keel_loop_run_once(mloop, 2);
		ASSERT_TRUE(keel_sched_process(s) >= 0);
	}
	ASSERT_UINT_EQ(v.subscribed, 1);
	/* Stopped from the callback: run returns at once. */
	ASSERT_OK(keel_sched_run(s));
	keel_sched_free(s);
	fm_stop(&fm);
	keel_loop_free(mloop);
}

TEST(many_reconnects_leak_nothing)
{
	struct fx f;
	unsigned n = 60;

	fx_up(&f, true);
	for (unsigned i = 1; i < n; i++) {
		if (i % 2)
			fm_end_stream(&f.fm);
		else
			keel_sched_reconnect(f.s);
		ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.subscribed == i + 1, 5000));
	}
	ASSERT_UINT_EQ(keel_sched_subscriptions(f.s), n);
	ASSERT_STR_EQ(keel_sched_framework_id(f.s), "fw-1");
	fx_down(&f);
}

TEST(resources_parse)
{
	Mesos__V1__Resource **r;
	size_t n;
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_OK(keel_sched_resources_parse("cpus:0.5;mem:128;ports:[31000-31005,32000-32000]", &r,
					     &n, msg));
	ASSERT_UINT_EQ(n, 3);
	ASSERT_STR_EQ(r[0]->name, "cpus");
	ASSERT_TRUE(r[0]->scalar->value == 0.5);
	ASSERT_TRUE(r[1]->scalar->value == 128);
	ASSERT_UINT_EQ(r[2]->ranges->n_range, 2);
	ASSERT_UINT_EQ(r[2]->ranges->range[0]->end, 31005);
	keel_sched_resources_free(r, n);

	const char *bad[] = {"",	"cpus",	       "cpus:",	     ":1",	 "cpus:x",
			     "cpus:-1", "ports:[5-1]", "ports:[1-2", "ports:[]", "cpus:1;mem"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TH_CONTEXT("spec \"%s\"", bad[i]);
		ASSERT_INT_EQ(keel_sched_resources_parse(bad[i], &r, &n, msg), -EINVAL);
		ASSERT_NULL(r);
	}
}

TEST(task_builders_and_exit_status)
{
	Mesos__V1__TaskInfo *t;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_INT_EQ(keel_sched_task_command("n", NULL, "a", "true", NULL, &t, msg), -EINVAL);
	ASSERT_INT_EQ(keel_sched_task_command("n", "t", "a", "true", "bad", &t, msg), -EINVAL);
	ASSERT_NULL(t);
	ASSERT_INT_EQ(keel_sched_task_container("n", "t", "a", "true", NULL, NULL, &t, msg),
		      -EINVAL);
	ASSERT_NULL(t);
	ASSERT_OK(keel_sched_task_container("n", "t", "a", "true", "busybox", "cpus:0.1", &t, msg));
	ASSERT_INT_EQ(t->container->type, MESOS__V1__CONTAINER_INFO__TYPE__MESOS);
	ASSERT_INT_EQ(t->container->mesos->image->type, MESOS__V1__IMAGE__TYPE__DOCKER);
	ASSERT_STR_EQ(t->container->mesos->image->docker->name, "busybox");
	ASSERT_UINT_EQ(t->n_resources, 1);
	keel_sched_msg_free(t);
	ASSERT_OK(keel_sched_task_command("n", "t", "a", "true", NULL, &t, msg));
	ASSERT_TRUE(t->command->shell);
	keel_sched_msg_free(t);

	ASSERT_INT_EQ(keel_sched_exit_status(&st), -1);
	st.message = "Command exited with status 3";
	ASSERT_INT_EQ(keel_sched_exit_status(&st), 3);
	st.message = "Command exited with status x";
	ASSERT_INT_EQ(keel_sched_exit_status(&st), -1);
}

TEST(coord_url_finds_the_leader)
{
	struct fx f;
	char url[64];

	memset(&f, 0, sizeof(f));
	ASSERT_OK(keel_loop_new(&f.loop, NULL, NULL));
	ASSERT_OK(fm_start(&f.fm, f.loop));
	snprintf(url, sizeof(url), "static://%s", f.fm.addr);
	fx_client(&f, url, false);
	ASSERT_TRUE(RUN_UNTIL(f.loop, keel_sched_subscribed(f.s), 5000));
	ASSERT_STR_EQ(keel_sched_master(f.s), f.fm.addr);
	/* A stream drop with the same leader: back to it with the same framework ID. */
	fm_end_stream(&f.fm);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.v.subscribed == 2, 5000));
	fx_down(&f);
}
