/* keel-agent against a fake master: registration, re-registration, epochs, shutdown, updates. */
#include <string.h>

#include "agent_fixture.h"

/* Sends m to path and waits for the agent's answer status. */
static int fx_call(struct fx *f, const char *path, const ProtobufCMessage *m)
{
	fm_send(f->fm, path, m);
	ASSERT_TRUE(fm_run_until(f->loop, fx_answered, f, 5000));
	return f->fm->last_status;
}

static int fx_ping(struct fx *f, uint64_t epoch, bool connected)
{
	fm_ping(f->fm, epoch, connected);
	ASSERT_TRUE(fm_run_until(f->loop, fx_answered, f, 5000));
	return f->fm->last_status;
}

TEST(registers_and_checkpoints_its_id)
{
	struct fx f;
	char id[128];

	fx_init(&f);
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	ASSERT_UINT_EQ(f.fm->registers, 1);
	ASSERT_STR_EQ(keel_agent_id(f.agent), "fake1-S0");
	snprintf(id, sizeof(id), "%s", f.fm->agent_id);
	ASSERT_INT_EQ(fx_ping(&f, 1, true), 200);

	/* A restarted agent re-registers with its checkpointed ID. */
	fx_stop_agent(&f);
	f.fm->registers = 0;
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	ASSERT_UINT_EQ(f.fm->registers, 0);
	ASSERT_UINT_EQ(f.fm->reregisters, 1);
	ASSERT_STR_EQ(f.fm->agent_id, id);
	fx_free(&f);
}

TEST(register_retries_after_503)
{
	struct fx f;

	fx_init(&f);
	f.fm->fail_registers = 3;
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	ASSERT_UINT_EQ(f.fm->fail_registers, 0);
	ASSERT_UINT_EQ(f.fm->registers, 1);
	fx_free(&f);
}

static bool fx_rereg(void *arg)
{
	struct fx *f = arg;

	return f->fm->reregisters > 0 && keel_agent_epoch(f->agent) == f->fm->epoch;
}

TEST(epochs_stale_409_and_new_leader_reregistration)
{
	struct fx f;
	uint16_t port;

	fx_init(&f);
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	ASSERT_INT_EQ(fx_ping(&f, 1, true), 200);
	ASSERT_INT_EQ(fx_ping(&f, 0, true), 409);

	/* The master restarts as a new leader (epoch 7) on the same address. */
	port = f.fm->port;
	fm_free(f.fm);
	f.fm = fm_new(f.loop, port, 7);
	/* Its messages are refused until the agent re-registered with it... */
	snprintf(f.fm->agent_id, sizeof(f.fm->agent_id), "%s", keel_agent_id(f.agent));
	{
		char errmsg[KEEL_ERRMSG_SIZE];
		Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;

		addr.ip = "127.0.0.1";
		addr.port = keel_agent_port(f.agent);
		ASSERT_OK(keel_http_client_new(f.loop, addr.ip, (uint16_t)addr.port, NULL,
					       &f.fm->agent, errmsg));
		f.fm->agent_port = addr.port;
	}
	ASSERT_INT_EQ(fx_ping(&f, 7, true), 409);
	/* ...which the higher epoch triggered. */
	ASSERT_TRUE(fm_run_until(f.loop, fx_rereg, &f, 5000));
	ASSERT_STR_EQ(f.fm->agent_id, "fake1-S0");
	ASSERT_INT_EQ(fx_ping(&f, 7, true), 200);
	/* The deposed leader's epoch is stale now. */
	ASSERT_INT_EQ(fx_ping(&f, 1, true), 409);
	fx_free(&f);
}

TEST(ping_not_connected_makes_it_reregister)
{
	struct fx f;

	fx_init(&f);
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	ASSERT_INT_EQ(fx_ping(&f, 1, false), 200);
	ASSERT_TRUE(fm_run_until(f.loop, fx_rereg, &f, 5000));
	fx_free(&f);
}

static bool fx_rereg_after_refusals(void *arg)
{
	struct fx *f = arg;

	return f->fm->fail_registers == 0 && fx_rereg(arg);
}

/*
 * A leader that stops pinging (it marked the agent unreachable during a
 * partition) is registered with again after two of its ping intervals, and the
 * agent keeps retrying through refusals until it is back.
 */
TEST(missed_pings_make_it_reregister)
{
	struct fx f;

	fx_init(&f);
	f.fm->ping_timeout_ms = 200;
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	ASSERT_INT_EQ(f.fm->reregisters, 0);
	f.fm->fail_registers = 2; /* the first two attempts are answered 503 */
	ASSERT_TRUE(fm_run_until(f.loop, fx_rereg_after_refusals, &f, 30000));
	ASSERT_STR_EQ(f.fm->agent_id, "fake1-S0");
	ASSERT_INT_EQ(fx_ping(&f, 1, true), 200);
	fx_free(&f);
}

TEST(malformed_message_is_400)
{
	struct fx f;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;

	fx_init(&f);
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	aid.value = "x";
	/* An AgentID is not a Ping (required fields missing). */
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/ping", &aid.base), 400);
	fx_free(&f);
}

static bool fx_done(void *arg)
{
	return keel_agent_done(((struct fx *)arg)->agent);
}

TEST(shutdown_agent_honoured_only_with_current_epoch)
{
	struct fx f;
	Keel__Agent__ShutdownAgent m = KEEL__AGENT__SHUTDOWN_AGENT__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;

	fx_init(&f);
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	aid.value = f.fm->agent_id;
	m.agent_id = &aid;
	m.epoch = 5;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/shutdown", &m.base), 409);
	ASSERT_FALSE(keel_agent_done(f.agent));
	m.epoch = 1;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/shutdown", &m.base), 204);
	ASSERT_TRUE(keel_agent_done(f.agent));

	/* It forgot its ID: a new start registers anew. */
	fx_stop_agent(&f);
	f.fm->registers = 0;
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	ASSERT_UINT_EQ(f.fm->registers, 1);
	fx_free(&f);
}

TEST(gone_410_shuts_down)
{
	struct fx f;

	fx_init(&f);
	f.fm->gone = true;
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_done, &f, 5000));
	ASSERT_UINT_EQ(f.fm->registers, 0);
	fx_free(&f);
}

/* Condition: the fake master received at least n updates. */
struct at_least {
	struct fx *f; /* the world */
	unsigned n;   /* how many */
};

static bool fx_updates_at_least(void *arg)
{
	struct at_least *w = arg;

	return w->f->fm->n_updates >= w->n;
}

/* Runs until n updates arrived (or 5 s). */
static bool fx_wait_updates(struct fx *f, unsigned n)
{
	struct at_least w = {f, n};

	return fm_run_until(f->loop, fx_updates_at_least, &w, 5000);
}

TEST(kill_of_unknown_task_is_task_lost_resent_until_acked)
{
	struct fx f;
	Keel__Agent__KillTask m = KEEL__AGENT__KILL_TASK__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	struct fm_update u0;
	unsigned n;

	fx_init(&f);
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	aid.value = f.fm->agent_id;
	fid.value = "fw1";
	tid.value = "nope";
	m.agent_id = &aid;
	m.epoch = 1;
	m.framework_id = &fid;
	m.task_id = &tid;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/kill_task", &m.base), 202);
	ASSERT_TRUE(fx_wait_updates(&f, 1));
	u0 = f.fm->updates[0];
	ASSERT_STR_EQ(u0.task_id, "nope");
	ASSERT_INT_EQ(u0.state, MESOS__V1__TASK_STATE__TASK_LOST);
	ASSERT_TRUE(u0.has_reason);
	ASSERT_INT_EQ(u0.reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNKNOWN);
	/* Not acknowledged: resent with the same uuid. */
	ASSERT_TRUE(fx_wait_updates(&f, 2));
	ASSERT_MEM_EQ(f.fm->updates[1].uuid, u0.uuid, 16);
	/* Survives a restart of the agent: resent after re-registration. */
	fx_stop_agent(&f);
	n = f.fm->n_updates;
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_rereg, &f, 5000));
	ASSERT_TRUE(fx_wait_updates(&f, 3));
	ASSERT_UINT_GT(f.fm->n_updates, n);
	ASSERT_MEM_EQ(f.fm->updates[f.fm->n_updates - 1].uuid, u0.uuid, 16);
	/* Acknowledged (twice: the second is harmless): no more resends. */
	fm_ack(f.fm, &u0);
	ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
	ASSERT_INT_EQ(f.fm->last_status, 202);
	fm_ack(f.fm, &u0);
	ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
	ASSERT_INT_EQ(f.fm->last_status, 202);
	n = f.fm->n_updates;
	/* Wait longer than the longest backoff (400 ms): the update count must stay. */
	{
		uint64_t end = keel_loop_clock_ns() + 1000000000ull;

		while (keel_loop_clock_ns() < end)
			keel_loop_run_once(f.loop, 50);
	}
	ASSERT_UINT_EQ(f.fm->n_updates, n);
	fx_free(&f);
}

TEST(invalid_task_is_task_error_and_nothing_starts)
{
	struct fx f;
	Keel__Agent__RunTask m = KEEL__AGENT__RUN_TASK__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__FrameworkInfo fw = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	char path[700];

	fx_init(&f);
	f.cfg.update_backoff_ms = 10000; /* no resends during this test */
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	aid.value = f.fm->agent_id;
	fid.value = "fw1";
	fw.id = &fid;
	fw.user = "";
	fw.name = "test";
	tid.value = "t-invalid";
	ti.name = "no command";
	ti.task_id = &tid;
	ti.agent_id = &aid;
	m.agent_id = &aid;
	m.epoch = 1;
	m.framework = &fw;
	m.task = &ti;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &m.base), 202);
	ASSERT_TRUE(fx_wait_updates(&f, 1));
	ASSERT_UINT_EQ(f.fm->n_updates, 1);
	ASSERT_INT_EQ(f.fm->updates[0].state, MESOS__V1__TASK_STATE__TASK_ERROR);
	ASSERT_INT_EQ(f.fm->updates[0].reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
	ASSERT_STR_CONTAINS(f.fm->updates[0].message, "command");
	/* Nothing started: no sandbox. */
	snprintf(path, sizeof(path), "%s/sandboxes", f.work_dir);
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s' 2>/dev/null)\"", path);
		ASSERT_INT_EQ(system(cmd), 0);
	}
	/* A repeated RunTask for the same task changes nothing. */
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &m.base), 202);
	ASSERT_UINT_EQ(f.fm->n_updates, 1);
	/* A message for another agent ID is refused. */
	aid.value = "someone-else";
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &m.base), 404);
	fx_free(&f);
}

TEST(bad_resources_refused)
{
	struct fx f;
	struct keel_agent *a = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];

	fx_init(&f);
	f.cfg.resources = "cpus:four";
	ASSERT_INT_EQ(keel_agent_new(f.loop, &f.cfg, &a, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "--resources");
	f.cfg.resources = "ports:[5-3]";
	ASSERT_INT_EQ(keel_agent_new(f.loop, &f.cfg, &a, errmsg), -EINVAL);
	f.cfg.resources = "cpus:2";
	f.cfg.attributes = "rack";
	ASSERT_INT_EQ(keel_agent_new(f.loop, &f.cfg, &a, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "--attributes");
	f.cfg.attributes = NULL;
	f.cfg.master = "zk://";
	ASSERT_INT_EQ(keel_agent_new(f.loop, &f.cfg, &a, errmsg) < 0, 1);
	ASSERT_NULL(a);
	fx_free(&f);
}

/* A FrameworkMessage (a scheduler's MESSAGE): 202 and dropped (command tasks take none); a
 * stale epoch is 409 and a wrong agent ID 404, as for every master message. */
TEST(framework_message_is_accepted_and_dropped)
{
	struct fx f;
	Keel__Agent__FrameworkMessage m = KEEL__AGENT__FRAMEWORK_MESSAGE__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;

	fx_init(&f);
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	aid.value = f.fm->agent_id;
	fid.value = "fw1";
	eid.value = "ex1";
	m.agent_id = &aid;
	m.epoch = 1;
	m.framework_id = &fid;
	m.executor_id = &eid;
	m.data.data = (uint8_t *)"hi";
	m.data.len = 2;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/framework_message", &m.base), 202);
	m.epoch = 7;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/framework_message", &m.base), 409);
	m.epoch = 1;
	aid.value = "someone-else";
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/framework_message", &m.base), 404);
	fx_free(&f);
}
