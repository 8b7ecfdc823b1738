/* keel-agent running real tasks through the containerizer against a fake master. */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "agent/agent_store.h"
#include "agent_fixture.h"

/* RunTask storage for one command task. */
struct run {
	Keel__Agent__RunTask m;		/* the message */
	Mesos__V1__AgentID aid;		/* agent_id */
	Mesos__V1__FrameworkID fid;	/* framework id */
	Mesos__V1__FrameworkInfo fw;	/* framework */
	Mesos__V1__TaskInfo ti;		/* task */
	Mesos__V1__TaskID tid;		/* task id */
	Mesos__V1__CommandInfo cmd;	/* command */
	Mesos__V1__KillPolicy kp;	/* kill policy */
	Mesos__V1__DurationInfo grace;	/* its grace */
	Mesos__V1__Resource res[2];	/* cpus, mem */
	Mesos__V1__Resource *resp[2];	/* pointers */
	Mesos__V1__Value__Scalar sc[2]; /* values */
	char id[64];			/* task id text */
};

static void run_init(struct run *r, struct fx *f, const char *task_id, const char *shell)
{
	memset(r, 0, sizeof(*r));
	keel__agent__run_task__init(&r->m);
	mesos__v1__agent_id__init(&r->aid);
	mesos__v1__framework_id__init(&r->fid);
	mesos__v1__framework_info__init(&r->fw);
	mesos__v1__task_info__init(&r->ti);
	mesos__v1__task_id__init(&r->tid);
	mesos__v1__command_info__init(&r->cmd);
	snprintf(r->id, sizeof(r->id), "%s", task_id);
	r->aid.value = f->fm->agent_id;
	r->fid.value = "fw1";
	r->fw.id = &r->fid;
	r->fw.user = "";
	r->fw.name = "test";
	r->tid.value = r->id;
	r->cmd.value = (char *)shell;
	r->ti.name = r->id;
	r->ti.task_id = &r->tid;
	r->ti.agent_id = &r->aid;
	r->ti.command = &r->cmd;
	for (int i = 0; i < 2; i++) {
		mesos__v1__resource__init(&r->res[i]);
		mesos__v1__value__scalar__init(&r->sc[i]);
		r->res[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
		r->res[i].scalar = &r->sc[i];
		r->resp[i] = &r->res[i];
	}
	r->res[0].name = "cpus";
	r->sc[0].value = 0.1;
	r->res[1].name = "mem";
	r->sc[1].value = 32;
	r->ti.n_resources = 2;
	r->ti.resources = r->resp;
	r->m.agent_id = &r->aid;
	r->m.epoch = f->fm->epoch;
	r->m.framework = &r->fw;
	r->m.task = &r->ti;
}

static void run_grace(struct run *r, int64_t ms)
{
	mesos__v1__kill_policy__init(&r->kp);
	mesos__v1__duration_info__init(&r->grace);
	r->grace.nanoseconds = ms * 1000000;
	r->kp.grace_period = &r->grace;
	r->ti.kill_policy = &r->kp;
}

static int fx_call(struct fx *f, const char *path, const ProtobufCMessage *m)
{
	fm_send(f->fm, path, m);
	ASSERT_TRUE(fm_run_until(f->loop, fx_answered, f, 10000));
	return f->fm->last_status;
}

/* Condition: the task in cond_task has an update in cond_state. */
struct want {
	struct fx *f;		    /* the world */
	const char *task;	    /* task ID */
	Mesos__V1__TaskState state; /* wanted state */
};

static bool has_state(void *arg)
{
	struct want *w = arg;

	for (unsigned i = 0; i < w->f->fm->n_updates; i++)
		if (strcmp(w->f->fm->updates[i].task_id, w->task) == 0 &&
		    w->f->fm->updates[i].state == w->state)
			return true;
	return false;
}

static const struct fm_update *wait_state(struct fx *f, const char *task,
					  Mesos__V1__TaskState state, unsigned ms)
{
	struct want w = {f, task, state};

	ASSERT_TRUE(fm_run_until(f->loop, has_state, &w, ms));
	for (unsigned i = 0; i < f->fm->n_updates; i++)
		if (strcmp(f->fm->updates[i].task_id, task) == 0 &&
		    f->fm->updates[i].state == state)
			return &f->fm->updates[i];
	return NULL;
}

/* The distinct states a task went through, in order (duplicates from resends folded). */
static unsigned task_states(struct fx *f, const char *task, Mesos__V1__TaskState *out, unsigned cap)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->fm->n_updates; i++) {
		const struct fm_update *u = &f->fm->updates[i];

		if (strcmp(u->task_id, task) != 0)
			continue;
		if (n > 0 && out[n - 1] == u->state)
			continue;
		if (n < cap)
			out[n++] = u->state;
	}
	return n;
}

struct all_done {
	struct fx *f; /* the world */
	unsigned n;   /* tasks t0..t(n-1) */
};

static bool all_finished(void *arg)
{
	struct all_done *d = arg;

	for (unsigned i = 0; i < d->n; i++) {
		char id[32];
		struct want w = {d->f, id, MESOS__V1__TASK_STATE__TASK_FINISHED};

		snprintf(id, sizeof(id), "t%u", i);
		if (!has_state(&w))
			return false;
	}
	return true;
}

/* A registered agent on a fake master that acknowledges every update. */
static void fx_up(struct fx *f)
{
	fx_init(f);
	f->fm->auto_ack = true;
	fx_start(f);
	ASSERT_TRUE(fm_run_until(f->loop, fx_registered, f, 5000));
}

TEST(fifty_tasks_run_and_finish_with_acks)
{
	struct fx f;
	struct all_done d;

	fx_up(&f);
	for (unsigned i = 0; i < 50; i++) {
		struct run r;
		char id[32];

		snprintf(id, sizeof(id), "t%u", i);
		run_init(&r, &f, id, "echo hello from $MESOS_TASK_ID");
		ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	}
	d = (struct all_done){&f, 50};
	ASSERT_TRUE(fm_run_until(f.loop, all_finished, &d, 60000));
	for (unsigned i = 0; i < 50; i++) {
		Mesos__V1__TaskState st[8];
		char id[32];
		unsigned n;

		snprintf(id, sizeof(id), "t%u", i);
		TH_CONTEXT("task %s", id);
		n = task_states(&f, id, st, 8);
		ASSERT_UINT_EQ(n, 3);
		ASSERT_INT_EQ(st[0], MESOS__V1__TASK_STATE__TASK_STARTING);
		ASSERT_INT_EQ(st[1], MESOS__V1__TASK_STATE__TASK_RUNNING);
		ASSERT_INT_EQ(st[2], MESOS__V1__TASK_STATE__TASK_FINISHED);
	}
	fx_free(&f);
}

TEST(failing_command_is_task_failed)
{
	struct fx f;
	struct run r;
	const struct fm_update *u;

	fx_up(&f);
	run_init(&r, &f, "fails", "exit 3");
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	u = wait_state(&f, "fails", MESOS__V1__TASK_STATE__TASK_FAILED, 10000);
	ASSERT_STR_CONTAINS(u->message, "status 3");
	fx_free(&f);
}

/* A user the host does not know: TASK_ERROR (the TaskInfo cannot run here), never STARTING. */
TEST(bad_user_is_task_error)
{
	struct fx f;
	struct run r;
	const struct fm_update *u;

	fx_up(&f);
	run_init(&r, &f, "baduser", "true");
	r.cmd.user = "no-such-user-keel";
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	u = wait_state(&f, "baduser", MESOS__V1__TASK_STATE__TASK_ERROR, 10000);
	ASSERT_TRUE(u->has_reason);
	ASSERT_INT_EQ(u->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
	ASSERT_STR_CONTAINS(u->message, "no-such-user-keel");
	ASSERT_UINT_EQ(fm_count(f.fm, "baduser"), 1); /* never STARTING */
	fx_free(&f);
}

/* Some sandbox's stdout says "ready". */
static bool stdout_ready(void *arg)
{
	struct fx *f = arg;
	char pattern[700], buf[64] = "";
	glob_t g;
	bool ready = false;

	snprintf(pattern, sizeof(pattern), "%s/sandboxes/*/stdout", f->work_dir);
	if (glob(pattern, 0, NULL, &g) != 0)
		return false;
	for (size_t i = 0; i < g.gl_pathc && !ready; i++) {
		FILE *fp = fopen(g.gl_pathv[i], "r");

		if (fp) {
			ready = fgets(buf, sizeof(buf), fp) && strncmp(buf, "ready", 5) == 0;
			fclose(fp);
		}
	}
	globfree(&g);
	return ready;
}

TEST(kill_waits_for_the_grace_period)
{
	struct fx f;
	struct run r;
	Keel__Agent__KillTask k = KEEL__AGENT__KILL_TASK__INIT;
	Mesos__V1__FrameworkInfo__Capability cap = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__INIT;
	Mesos__V1__FrameworkInfo__Capability *caps[1] = {&cap};
	uint64_t t0, ms;

	fx_up(&f);
	/* The task ignores SIGTERM: only the SIGKILL after the grace ends it. */
	run_init(&r, &f, "stubborn", "trap '' TERM; echo ready; while :; do sleep 0.05; done");
	run_grace(&r, 700);
	cap.has_type = true;
	cap.type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE;
	r.fw.n_capabilities = 1;
	r.fw.capabilities = caps;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	wait_state(&f, "stubborn", MESOS__V1__TASK_STATE__TASK_RUNNING, 10000);
	/* The trap is set once it printed "ready" (its only task, so its only sandbox). */
	ASSERT_TRUE(fm_run_until(f.loop, stdout_ready, &f, 10000));
	k.agent_id = &r.aid;
	k.epoch = 1;
	k.framework_id = &r.fid;
	k.task_id = &r.tid;
	t0 = keel_loop_clock_ns();
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/kill_task", &k.base), 202);
	wait_state(&f, "stubborn", MESOS__V1__TASK_STATE__TASK_KILLING, 5000);
	wait_state(&f, "stubborn", MESOS__V1__TASK_STATE__TASK_KILLED, 10000);
	ms = (keel_loop_clock_ns() - t0) / 1000000;
	ASSERT_UINT_GE(ms, 600);
	fx_free(&f);
}

struct http_get {
	int status;	 /* answer status, 0 pending */
	char body[4096]; /* answer body */
};

static void http_get_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct http_get *g = arg;

	g->status = err ? err : resp->status;
	if (!err)
		snprintf(g->body, sizeof(g->body), "%.*s", (int)resp->body_len, resp->body);
}

static bool http_get_answered(void *arg)
{
	return ((struct http_get *)arg)->status != 0;
}

static void http_get(struct fx *f, const char *path, struct http_get *g)
{
	static const struct keel_http_client_cbs cbs = {.on_done = http_get_done};
	struct keel_http_client *c;
	char errmsg[KEEL_ERRMSG_SIZE];

	memset(g, 0, sizeof(*g));
	ASSERT_OK(keel_http_client_new(f->loop, "127.0.0.1", keel_agent_port(f->agent), NULL, &c,
				       errmsg));
	ASSERT_OK(keel_http_client_request(c, "GET", path, NULL, NULL, NULL, 0, &cbs, g));
	ASSERT_TRUE(fm_run_until(f->loop, http_get_answered, g, 5000));
	keel_http_client_free(c);
}

TEST(files_read_of_stdout_and_traversal_refused)
{
	struct fx f;
	struct run r;
	struct http_get g;
	char path[1200], sandbox[600], *dir, *end;
	const struct fm_update *fin;

	fx_init(&f);
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	run_init(&r, &f, "hello", "echo hello-sandbox");
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	/* Not acknowledged: the task stays in /state. Wait for its FINISHED. */
	f.fm->auto_ack = false;
	{
		const struct fm_update *u =
		    wait_state(&f, "hello", MESOS__V1__TASK_STATE__TASK_STARTING, 10000);

		fm_ack(f.fm, u);
		ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
		u = wait_state(&f, "hello", MESOS__V1__TASK_STATE__TASK_RUNNING, 10000);
		fm_ack(f.fm, u);
		ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
		fin = wait_state(&f, "hello", MESOS__V1__TASK_STATE__TASK_FINISHED, 10000);
	}
	http_get(&f, "/state", &g);
	ASSERT_INT_EQ(g.status, 200);
	ASSERT_STR_CONTAINS(g.body, "TASK_FINISHED");
	dir = strstr(g.body, "\"directory\":\"");
	ASSERT_NOT_NULL(dir);
	dir += strlen("\"directory\":\"");
	end = strchr(dir, '"');
	ASSERT_NOT_NULL(end);
	*end = '\0';
	snprintf(sandbox, sizeof(sandbox), "%s", dir); /* g is reused below */
	dir = sandbox;
	snprintf(path, sizeof(path), "/files/read?path=%s/stdout&offset=0", dir);
	http_get(&f, path, &g);
	ASSERT_INT_EQ(g.status, 200);
	ASSERT_STR_CONTAINS(g.body, "\"data\":\"hello-sandbox\\n\"");
	ASSERT_STR_CONTAINS(g.body, "\"offset\":0");
	snprintf(path, sizeof(path), "/files/read?path=%s/stdout&offset=-1", dir);
	http_get(&f, path, &g);
	ASSERT_INT_EQ(g.status, 200);
	ASSERT_STR_CONTAINS(g.body, "\"offset\":14");
	snprintf(path, sizeof(path), "/files/read?path=%s/../../meta/data.mdb&offset=0", dir);
	http_get(&f, path, &g);
	ASSERT_INT_EQ(g.status, 403);
	http_get(&f, "/files/read?path=/etc/passwd", &g);
	ASSERT_INT_EQ(g.status, 403);
	/* Mesos's virtual path of the sandbox (a command task's executor ID is its task ID). */
	http_get(&f, "/files/read?path=/frameworks/fw1/executors/hello/runs/latest/stdout&offset=0",
		 &g);
	ASSERT_INT_EQ(g.status, 200);
	ASSERT_STR_CONTAINS(g.body, "\"data\":\"hello-sandbox\\n\"");
	http_get(&f,
		 "/files/read?path=/frameworks/fw1/executors/hello/runs/latest/../../meta/data.mdb",
		 &g);
	ASSERT_INT_EQ(g.status, 403);
	http_get(&f, "/files/read?path=/frameworks/fw2/executors/hello/runs/latest/stdout", &g);
	ASSERT_INT_EQ(g.status, 404);
	http_get(&f, "/files/read?path=/frameworks/fw1/executors/hello/runs/latestx", &g);
	ASSERT_INT_EQ(g.status, 404);
	/* Acknowledged, the task is forgotten; its sandbox stays readable until gc removes it. */
	fm_ack(f.fm, fin);
	ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
	http_get(&f, "/state", &g);
	ASSERT_FALSE(strstr(g.body, "TASK_FINISHED") != NULL);
	http_get(&f, "/files/read?path=/frameworks/fw1/executors/hello/runs/latest/stdout&offset=0",
		 &g);
	ASSERT_INT_EQ(g.status, 200);
	ASSERT_STR_CONTAINS(g.body, "\"data\":\"hello-sandbox\\n\"");
	http_get(&f, "/files/read", &g);
	ASSERT_INT_EQ(g.status, 400);
	http_get(&f, "/health", &g);
	ASSERT_INT_EQ(g.status, 200);
	http_get(&f, "/metrics/snapshot", &g);
	ASSERT_STR_CONTAINS(g.body, "\"slave/registered\":1");
	fx_free(&f);
}

TEST(oom_is_task_failed_memory_limitation)
{
	struct fx f;
	struct run r;
	const struct fm_update *u;
	FILE *fp = fopen("/sys/fs/cgroup/cgroup.controllers", "r");
	char line[512] = "";

	if (geteuid() != 0)
		TH_SKIP("needs root");
	if (fp) {
		if (!fgets(line, sizeof(line), fp))
			line[0] = '\0';
		fclose(fp);
	} else if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
		snprintf(line, sizeof(line), "memory");
	}
	if (!strstr(line, "memory"))
		TH_SKIP("no memory cgroup controller");
	fx_init(&f);
	f.fm->auto_ack = true;
	f.cfg.cgroups = true;
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	/* tail -n 1 keeps a line without a newline in memory: 200 MB over a 32 MB limit. */
	run_init(&r, &f, "hog", "head -c 200000000 /dev/zero | tail -n 1 > /dev/null");
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	u = wait_state(&f, "hog", MESOS__V1__TASK_STATE__TASK_FAILED, 30000);
	ASSERT_TRUE(u->has_reason);
	ASSERT_INT_EQ(u->reason,
		      MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY);
	fx_free(&f);
}

/* A keel-agent process on the fake master (the binary from KEEL_AGENT_BIN). */
static pid_t agent_spawn(struct fx *f, const char *log)
{
	const char *bin = getenv("KEEL_AGENT_BIN");
	char master[80], work[600], *argv[8];
	pid_t pid;

	if (!bin)
		TH_SKIP("KEEL_AGENT_BIN not set");
	snprintf(master, sizeof(master), "--master=%s", f->master);
	snprintf(work, sizeof(work), "--work_dir=%s", f->work_dir);
	argv[0] = (char *)bin;
	argv[1] = master;
	argv[2] = work;
	argv[3] = "--port=0";
	argv[4] = "--launcher=posix";
	argv[5] = "--resources=cpus:2;mem:1024";
	argv[6] = NULL;
	pid = fork();
	ASSERT_INT_GE(pid, 0);
	if (pid == 0) {
		FILE *out = freopen(log, "a", stdout);

		if (!out || dup2(fileno(stdout), 2) < 0)
			_exit(126);
		/* Status updates are resent after 10 s in the daemon: keep the test short. */
		setenv("KEEL_AGENT_LOGGING_LEVEL", "INFO", 1);
		execv(bin, argv);
		_exit(127);
	}
	return pid;
}

static bool fx_answered_or_registered(void *arg)
{
	struct fx *f = arg;

	return f->fm->registers > 0 && f->fm->agent;
}

/* The newest update is a RUNNING of survivor after the restart. */
static bool fx_running_again(void *arg)
{
	struct fx *f = arg;
	const struct fm_update *u = f->fm->n_updates ? &f->fm->updates[f->fm->n_updates - 1] : NULL;

	return u && f->fm->reregisters > 0 && strcmp(u->task_id, "survivor") == 0 &&
	       u->state == MESOS__V1__TASK_STATE__TASK_RUNNING;
}

static bool fm_rereg_tasks(void *arg)
{
	struct fx *f = arg;

	return f->fm->reregisters > 0 && f->fm->agent;
}

TEST(agent_sigkill_mid_task_recovers_and_delivers_in_order)
{
	struct fx f;
	struct run r;
	const struct fm_update *u;
	uint8_t running_uuid[16];
	char log[700];
	pid_t pid;
	int status;

	fx_init(&f);
	snprintf(log, sizeof(log), "%s.log", f.work_dir);
	pid = agent_spawn(&f, log);
	ASSERT_TRUE(fm_run_until(f.loop, fx_answered_or_registered, &f, 10000));
	/* Wait until the agent took the registration in (its pongs say so). */
	for (int i = 0; i < 100; i++) {
		fm_ping(f.fm, 1, true);
		ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
		if (f.fm->last_status == 200)
			break;
		keel_loop_run_once(f.loop, 20);
	}
	ASSERT_INT_EQ(f.fm->last_status, 200);
	run_init(&r, &f, "survivor", "sleep 2; echo done");
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	u = wait_state(&f, "survivor", MESOS__V1__TASK_STATE__TASK_STARTING, 10000);
	fm_ack(f.fm, u);
	ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
	u = wait_state(&f, "survivor", MESOS__V1__TASK_STATE__TASK_RUNNING, 10000);
	memcpy(running_uuid, u->uuid, 16);
	/* RUNNING is not acknowledged; the agent dies. */
	ASSERT_INT_EQ(kill(pid, SIGKILL), 0);
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	f.fm->reregisters = 0;
	pid = agent_spawn(&f, log);
	ASSERT_TRUE(fm_run_until(f.loop, fm_rereg_tasks, &f, 10000));
	ASSERT_UINT_EQ(f.fm->reregister_tasks, 1);
	/* The unacknowledged RUNNING comes again (same uuid) before anything newer. */
	{
		struct want w = {&f, "survivor", MESOS__V1__TASK_STATE__TASK_FINISHED};

		ASSERT_TRUE(fm_run_until(f.loop, fx_running_again, &f, 10000));
		ASSERT_MEM_EQ(f.fm->updates[f.fm->n_updates - 1].uuid, running_uuid, 16);
		ASSERT_FALSE(has_state(&w));
		fm_ack(f.fm, &f.fm->updates[f.fm->n_updates - 1]);
		ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
	}
	u = wait_state(&f, "survivor", MESOS__V1__TASK_STATE__TASK_FINISHED, 15000);
	fm_ack(f.fm, u);
	ASSERT_TRUE(fm_run_until(f.loop, fx_answered, &f, 5000));
	{
		Mesos__V1__TaskState st[8];
		unsigned n = task_states(&f, "survivor", st, 8);

		ASSERT_UINT_EQ(n, 3);
		ASSERT_INT_EQ(st[0], MESOS__V1__TASK_STATE__TASK_STARTING);
		ASSERT_INT_EQ(st[1], MESOS__V1__TASK_STATE__TASK_RUNNING);
		ASSERT_INT_EQ(st[2], MESOS__V1__TASK_STATE__TASK_FINISHED);
	}
	ASSERT_INT_EQ(kill(pid, SIGTERM), 0);
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	fx_free(&f);
	/* The daemon ran clean under the sanitizers (its exit report lands in the log). */
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "! grep -E 'runtime error|Sanitizer' '%s'", log);
		ASSERT_INT_EQ(system(cmd), 0);
	}
	unlink(log);
}

TEST(missing_image_is_task_error_and_nothing_starts)
{
	struct fx f;
	struct run r;
	const struct fm_update *u;
	Mesos__V1__ContainerInfo ci = MESOS__V1__CONTAINER_INFO__INIT;
	Mesos__V1__ContainerInfo__MesosInfo mi = MESOS__V1__CONTAINER_INFO__MESOS_INFO__INIT;
	Mesos__V1__Image img = MESOS__V1__IMAGE__INIT;
	Mesos__V1__Image__Docker dk = MESOS__V1__IMAGE__DOCKER__INIT;

	fx_up(&f);
	run_init(&r, &f, "noimage", "true");
	dk.name = "keel-test/no-such-image:1";
	img.type = MESOS__V1__IMAGE__TYPE__DOCKER;
	img.docker = &dk;
	mi.image = &img;
	ci.type = MESOS__V1__CONTAINER_INFO__TYPE__MESOS;
	ci.mesos = &mi;
	r.ti.container = &ci;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	u = wait_state(&f, "noimage", MESOS__V1__TASK_STATE__TASK_ERROR, 10000);
	ASSERT_INT_EQ(u->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
	ASSERT_STR_CONTAINS(u->message, "Task is invalid: "); /* here: no linux launcher */
	ASSERT_UINT_EQ(fm_count(f.fm, "noimage"), 1);
	/* An APPC image is not supported: TASK_ERROR before anything. */
	run_init(&r, &f, "appc", "true");
	img.type = MESOS__V1__IMAGE__TYPE__APPC;
	r.ti.container = &ci;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	u = wait_state(&f, "appc", MESOS__V1__TASK_STATE__TASK_ERROR, 10000);
	ASSERT_INT_EQ(u->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID);
	fx_free(&f);
}

static bool sandboxes_empty(void *arg)
{
	struct fx *f = arg;
	char pattern[700];
	glob_t g;
	int rv;

	snprintf(pattern, sizeof(pattern), "%s/sandboxes/*", f->work_dir);
	rv = glob(pattern, 0, NULL, &g);
	globfree(&g);
	return rv == GLOB_NOMATCH;
}

static int count_one(void *arg, const char *key, const void *val, size_t len)
{
	(void)key, (void)val, (void)len;
	++*(unsigned *)arg;
	return 0;
}

/* Records in the agent's store under prefix. */
static unsigned store_count(struct fx *f, const char *prefix)
{
	struct agent *a = (struct agent *)f->agent;
	char errmsg[KEEL_ERRMSG_SIZE];
	unsigned n = 0;

	ASSERT_OK(agent_store_scan(a->store, prefix, count_one, &n, errmsg));
	return n;
}

static bool gc_records_gone(void *arg)
{
	return sandboxes_empty(arg) && store_count(arg, "g/") == 0 && store_count(arg, "s/") == 0;
}

/* Every sandbox goes --gc_delay after its task, and with it its gc and virtual-path records. */
TEST(sandbox_removed_after_gc_delay)
{
	struct fx f;
	struct run r[5];

	fx_init(&f);
	f.fm->auto_ack = true;
	f.cfg.gc_delay_ns = 300000000; /* 300 ms */
	fx_start(&f);
	ASSERT_TRUE(fm_run_until(f.loop, fx_registered, &f, 5000));
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "gc%d", i);
		run_init(&r[i], &f, id, "echo bye");
		ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r[i].m.base), 202);
		wait_state(&f, id, MESOS__V1__TASK_STATE__TASK_FINISHED, 10000);
	}
	ASSERT_FALSE(sandboxes_empty(&f));
	ASSERT_TRUE(fm_run_until(f.loop, gc_records_gone, &f, 10000));
	fx_free(&f);
}

TEST(new_boot_id_reports_running_tasks_lost)
{
	struct fx f;
	struct run r;
	const struct fm_update *u;

	fx_up(&f);
	run_init(&r, &f, "old", "sleep 60");
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r.m.base), 202);
	wait_state(&f, "old", MESOS__V1__TASK_STATE__TASK_RUNNING, 10000);
	fx_stop_agent(&f);
	/* The agent comes back under another boot id. */
	f.cfg.boot_id = "boot-2";
	fx_start(&f);
	u = wait_state(&f, "old", MESOS__V1__TASK_STATE__TASK_LOST, 15000);
	ASSERT_TRUE(u->has_reason);
	ASSERT_INT_EQ(u->reason, MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_RESTARTED);
	fx_free(&f);
}

TEST(shutdown_framework_kills_its_tasks)
{
	struct fx f;
	struct run r1, r2;
	Keel__Agent__ShutdownFramework m = KEEL__AGENT__SHUTDOWN_FRAMEWORK__INIT;

	fx_up(&f);
	run_init(&r1, &f, "a", "sleep 60");
	run_init(&r2, &f, "b", "sleep 60");
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r1.m.base), 202);
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r2.m.base), 202);
	wait_state(&f, "a", MESOS__V1__TASK_STATE__TASK_RUNNING, 10000);
	wait_state(&f, "b", MESOS__V1__TASK_STATE__TASK_RUNNING, 10000);
	m.agent_id = &r1.aid;
	m.epoch = 1;
	m.framework_id = &r1.fid;
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/shutdown_framework", &m.base), 202);
	wait_state(&f, "a", MESOS__V1__TASK_STATE__TASK_KILLED, 15000);
	wait_state(&f, "b", MESOS__V1__TASK_STATE__TASK_KILLED, 15000);
	fx_free(&f);
}

/* A LAUNCH_GROUP's RunTask: r1's message carrying r1's and r2's tasks and an executor. */
struct group {
	Mesos__V1__TaskGroupInfo g;    /* the group */
	Mesos__V1__TaskInfo *tasks[2]; /* its tasks */
	Mesos__V1__ExecutorInfo ex;    /* the executor */
	Mesos__V1__ExecutorID eid;     /* its ID */
};

static void group_init(struct group *g, struct run *r1, struct run *r2)
{
	mesos__v1__task_group_info__init(&g->g);
	mesos__v1__executor_info__init(&g->ex);
	mesos__v1__executor_id__init(&g->eid);
	g->eid.value = "group-ex";
	g->ex.executor_id = &g->eid;
	g->ex.has_type = true;
	g->ex.type = MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT;
	g->tasks[0] = &r1->ti;
	g->tasks[1] = &r2->ti;
	g->g.n_tasks = 2;
	g->g.tasks = g->tasks;
	r1->m.task = NULL;
	r1->m.task_group = &g->g;
	r1->m.executor = &g->ex;
}

/* A task group: every task runs; one failing takes the other down (KILLED), as Mesos's default
 * executor does; updates carry the group's executor ID. */
TEST(task_group_runs_and_a_failure_kills_the_rest)
{
	struct fx f;
	struct run r1, r2, r3, r4;
	struct group g1, g2;
	const struct fm_update *u;

	fx_up(&f);
	run_init(&r1, &f, "g1a", "echo a");
	run_init(&r2, &f, "g1b", "echo b");
	group_init(&g1, &r1, &r2);
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r1.m.base), 202);
	wait_state(&f, "g1a", MESOS__V1__TASK_STATE__TASK_FINISHED, 15000);
	u = wait_state(&f, "g1b", MESOS__V1__TASK_STATE__TASK_FINISHED, 15000);
	ASSERT_STR_EQ(u->executor_id, "group-ex");

	run_init(&r3, &f, "g2long", "sleep 60");
	run_init(&r4, &f, "g2fails", "sleep 0.3; exit 7");
	group_init(&g2, &r3, &r4);
	g2.eid.value = "group-ex2";
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r3.m.base), 202);
	wait_state(&f, "g2long", MESOS__V1__TASK_STATE__TASK_RUNNING, 15000);
	u = wait_state(&f, "g2fails", MESOS__V1__TASK_STATE__TASK_FAILED, 15000);
	ASSERT_STR_CONTAINS(u->message, "status 7");
	wait_state(&f, "g2long", MESOS__V1__TASK_STATE__TASK_KILLED, 15000);
	/* The first group's tasks were FINISHED and stay so (a resent FINISHED may repeat: at least
	 * once), never killed. */
	for (unsigned i = 0; i < fm_count(f.fm, "g1a"); i++)
		ASSERT_INT_LE(fm_nth(f.fm, "g1a", i)->state, MESOS__V1__TASK_STATE__TASK_FINISHED);
	ASSERT_INT_EQ(fm_nth(f.fm, "g1a", fm_count(f.fm, "g1a") - 1)->state,
		      MESOS__V1__TASK_STATE__TASK_FINISHED);
	fx_free(&f);
}

/* One invalid task makes the whole group TASK_ERROR with REASON_TASK_GROUP_INVALID; nothing
 * starts. */
TEST(task_group_with_an_invalid_task_is_all_task_error)
{
	struct fx f;
	struct run r1, r2;
	struct group g;
	const struct fm_update *u;

	fx_up(&f);
	run_init(&r1, &f, "ok", "sleep 60");
	run_init(&r2, &f, "bad", "");
	group_init(&g, &r1, &r2);
	ASSERT_INT_EQ(fx_call(&f, "/internal/master/run_task", &r1.m.base), 202);
	for (int i = 0; i < 2; i++) {
		u = wait_state(&f, i ? "bad" : "ok", MESOS__V1__TASK_STATE__TASK_ERROR, 10000);
		ASSERT_TRUE(u->has_reason);
		ASSERT_INT_EQ(u->reason, MESOS__V1__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID);
		ASSERT_STR_CONTAINS(u->message, "task 'bad'");
		ASSERT_UINT_EQ(fm_count(f.fm, i ? "bad" : "ok"), 1); /* never STARTING */
	}
	fx_free(&f);
}
