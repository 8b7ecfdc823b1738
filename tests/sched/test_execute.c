/* keel-execute against the fake master and a fake agent's /files/read: output and exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/http_server.h"
#include "tests/harness.h"
#include "tests/loop_util.h"
#include "tests/sched/fake_master.h"

extern char **environ;

#define SC_GROUP_MAX 4 /* tasks in a scripted group */

/* How the fake cluster answers the launch. */
struct script {
	Mesos__V1__TaskState final; /* the terminal state sent after RUNNING */
	const char *message;	    /* its message */
	bool error_reason;	    /* send TASK_ERROR with a reason instead */
	const char *out;	    /* the sandbox stdout */
	char task_id[128];	    /* the launched task */
	char image[128];	    /* its container image, "" without one */
	unsigned reads;		    /* /files/read requests */
	unsigned teardowns;	    /* TEARDOWN calls */
	/* A LAUNCH_GROUP: per task in the group's order, what happens, and what came. */
	Mesos__V1__TaskState finals[SC_GROUP_MAX]; /* terminal state after RUNNING */
	bool no_running[SC_GROUP_MAX];		   /* the terminal state without RUNNING first */
	const char *messages[SC_GROUP_MAX];	   /* its message */
	const char *outs[SC_GROUP_MAX];		   /* its sandbox stdout */
	size_t n_group;				   /* tasks in the launched group, 0 if none */
	char ids[SC_GROUP_MAX][128];		   /* their IDs */
	char names[SC_GROUP_MAX][128];		   /* their names */
	char agents[SC_GROUP_MAX][64];		   /* their agent IDs */
	double cpus[SC_GROUP_MAX];		   /* their cpus */
	char executor_id[64];			   /* the group's executor */
	int executor_type;			   /* its type */
	double executor_cpus;			   /* its cpus */
};

static double cpus_of(Mesos__V1__Resource *const *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i]->name, "cpus") == 0 && r[i]->scalar != NULL)
			return r[i]->scalar->value;
	return 0;
}

/* Records a LAUNCH_GROUP and plays its tasks: every RUNNING, then the terminal states in order. */
static void play_group(struct fake_master *fm, struct script *sc,
		       const Mesos__V1__Offer__Operation__LaunchGroup *lg)
{
	const Mesos__V1__TaskGroupInfo *g = lg->task_group;

	sc->n_group = g->n_tasks < SC_GROUP_MAX ? g->n_tasks : SC_GROUP_MAX;
	for (size_t i = 0; i < sc->n_group; i++) {
		const Mesos__V1__TaskInfo *t = g->tasks[i];
		snprintf(sc->ids[i], sizeof(sc->ids[i]), "%s", t->task_id->value);
		snprintf(sc->names[i], sizeof(sc->names[i]), "%s", t->name);
		snprintf(sc->agents[i], sizeof(sc->agents[i]), "%s", t->agent_id->value);
		sc->cpus[i] = cpus_of(t->resources, t->n_resources);
	}
	if (lg->executor != NULL) {
		snprintf(sc->executor_id, sizeof(sc->executor_id), "%s",
			 lg->executor->executor_id->value);
		sc->executor_type = lg->executor->has_type ? (int)lg->executor->type : -1;
		sc->executor_cpus = cpus_of(lg->executor->resources, lg->executor->n_resources);
	}
	for (size_t i = 0; i < sc->n_group; i++)
		if (!sc->no_running[i])
			fm_update(fm, sc->ids[i], "a-1", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL);
	for (size_t i = 0; i < sc->n_group; i++)
		fm_update(fm, sc->ids[i], "a-1", sc->finals[i], sc->messages[i]);
}

static void on_call(struct fake_master *fm, const Mesos__V1__Scheduler__Call *c, void *arg)
{
	struct script *sc = arg;
	const Mesos__V1__TaskInfo *t;

	if (c->type == MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN)
		sc->teardowns++;
	if (c->type != MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT)
		return;
	if (c->accept->operations[0]->type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP) {
		play_group(fm, sc, c->accept->operations[0]->launch_group);
		return;
	}
	t = c->accept->operations[0]->launch->task_infos[0];
	snprintf(sc->task_id, sizeof(sc->task_id), "%s", t->task_id->value);
	if (t->container != NULL && t->container->mesos != NULL &&
	    t->container->mesos->image != NULL && t->container->mesos->image->docker != NULL)
		snprintf(sc->image, sizeof(sc->image), "%s",
			 t->container->mesos->image->docker->name);
	fm_update(fm, sc->task_id, "a-1", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL);
	fm_update(fm, sc->task_id, "a-1", sc->final, sc->message);
}

static const char *query_arg(const char *q, size_t qlen, const char *key, char *buf, size_t n)
{
	size_t kl = strlen(key);

	for (const char *p = q; p != NULL && p < q + qlen;) {
		const char *amp = memchr(p, '&', (size_t)(q + qlen - p));
		const char *end = amp != NULL ? amp : q + qlen;
		if ((size_t)(end - p) > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(buf, n, "%.*s", (int)(end - p - (long)kl - 1), p + kl + 1);
			return buf;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	return NULL;
}

static void files_read(struct keel_http_req *req, void *arg)
{
	struct script *sc = arg;
	const struct keel_http_head *h = keel_http_req_head(req);
	char off[32], path[512], body[1024], want[256];
	const char *text = NULL;
	unsigned long o;
	size_t len;

	sc->reads++;
	if (query_arg(h->query, h->query_len, "offset", off, sizeof(off)) == NULL ||
	    query_arg(h->query, h->query_len, "path", path, sizeof(path)) == NULL) {
		keel_http_respond_text(req, 400, "no path or offset");
		return;
	}
	/* The virtual path of a task's stdout: the task ID as the executor ID. */
	snprintf(want, sizeof(want), "/executors/%s/runs/latest/stdout", sc->task_id);
	if (sc->task_id[0] != '\0' && strstr(path, want) != NULL)
		text = sc->out;
	for (size_t i = 0; i < sc->n_group && text == NULL; i++) {
		snprintf(want, sizeof(want), "/executors/%s/runs/latest/stdout", sc->ids[i]);
		if (strstr(path, want) != NULL)
			text = sc->outs[i];
	}
	if (text == NULL) {
		keel_http_respond_text(req, 404, "no such file");
		return;
	}
	len = strlen(text);
	o = strtoul(off, NULL, 10);
	/* Two bytes at a time, so that the client has to follow the offset. */
	char data[16] = "";
	for (size_t i = o, k = 0; i < len && i < o + 2; i++) {
		if (text[i] == '\n') {
			data[k++] = '\\';
			data[k++] = 'n';
		} else {
			data[k++] = text[i];
		}
	}
	snprintf(body, sizeof(body), "{\"data\":\"%s\",\"offset\":%lu}", data, o);
	keel_http_respond(req, 200, "application/json", NULL, body, strlen(body));
}

/* Runs keel-execute with what (--command or --task_group) and extra (may be NULL) against a
 * fresh fake; returns its exit status. */
static int run_execute_with(struct script *sc, const char *what, const char *extra, char *out,
			    size_t outlen, char *err, size_t errlen)
{
	struct keel_loop *loop;
	struct fake_master fm;
	struct keel_http_server *agent;
	const char *bin = getenv("KEEL_EXECUTE");
	char master[64], outf[] = "/tmp/keel-exec-outXXXXXX", errf[] = "/tmp/keel-exec-errXXXXXX";
	posix_spawn_file_actions_t fa;
	pid_t pid, w = 0;
	int st = 0, ofd, efd;
	ssize_t n;

	if (bin == NULL)
		TH_SKIP("KEEL_EXECUTE not set");
	ASSERT_OK(keel_loop_new(&loop, NULL, NULL));
	ASSERT_OK(fm_start(&fm, loop));
	ASSERT_OK(keel_http_server_new(loop, "127.0.0.1", 0, NULL, &agent, NULL));
	ASSERT_OK(keel_http_server_route(agent, KEEL_HTTP_GET, "/files/read", files_read, sc));
	fm.agent_port = keel_http_server_port(agent);
	fm.on_call = on_call;
	fm.on_call_arg = sc;
	snprintf(master, sizeof(master), "--master=%s", fm.addr);
	ofd = mkstemp(outf);
	efd = mkstemp(errf);
	ASSERT_TRUE(ofd >= 0 && efd >= 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ofd, 1);
	posix_spawn_file_actions_adddup2(&fa, efd, 2);
	char *argv[] = {(char *)bin, master, "--name=t", (char *)what, (char *)extra, NULL};
	ASSERT_OK(posix_spawn(&pid, bin, &fa, NULL, argv, environ));
	posix_spawn_file_actions_destroy(&fa);
	/* Offer once it subscribed, then serve until it exits. */
	ASSERT_TRUE(RUN_UNTIL(loop, fm.stream != NULL, 10000));
	ASSERT_OK(fm_offer(&fm, "o-1", "a-1", "127.0.0.1"));
	ASSERT_TRUE(RUN_UNTIL(loop, (w = waitpid(pid, &st, WNOHANG)) == pid, 20000));
	n = pread(ofd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	n = pread(efd, err, errlen - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(ofd);
	close(efd);
	unlink(outf);
	unlink(errf);
	keel_http_server_free(agent);
	fm_stop(&fm);
	keel_loop_free(loop);
	ASSERT_TRUE(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Runs keel-execute with --command='echo hi' and extra (may be NULL) against a fresh fake;
 * returns its exit status. */
static int run_execute(struct script *sc, const char *extra, char *out, size_t outlen, char *err,
		       size_t errlen)
{
	return run_execute_with(sc, "--command=echo hi", extra, out, outlen, err, errlen);
}

TEST(execute_finished_prints_stdout_exits_0)
{
	struct script sc = {.final = MESOS__V1__TASK_STATE__TASK_FINISHED, .out = ""};
	char out[256], err[4096];

	sc.out = "hi there\n";
	ASSERT_INT_EQ(run_execute(&sc, NULL, out, sizeof(out), err, sizeof(err)), 0);
	ASSERT_STR_EQ(out, "hi there\n");
	ASSERT_STR_CONTAINS(err, "TASK_RUNNING");
	ASSERT_STR_CONTAINS(err, "TASK_FINISHED");
	ASSERT_UINT_GE(sc.reads, 5);
	ASSERT_UINT_EQ(sc.teardowns, 1);
}

TEST(execute_failed_exits_with_the_code)
{
	struct script sc = {.final = MESOS__V1__TASK_STATE__TASK_FAILED,
			    .message = "Command exited with status 3",
			    .out = "partial\n"};
	char out[256], err[4096];

	ASSERT_INT_EQ(run_execute(&sc, NULL, out, sizeof(out), err, sizeof(err)), 3);
	ASSERT_STR_EQ(out, "partial\n");
	ASSERT_STR_CONTAINS(err, "TASK_FAILED");
}

TEST(execute_task_error_exits_1_with_message)
{
	struct script sc = {.final = MESOS__V1__TASK_STATE__TASK_ERROR,
			    .message = "Failed to provision image 'nosuch': not found",
			    .out = ""};
	char out[256], err[4096];

	ASSERT_INT_EQ(run_execute(&sc, NULL, out, sizeof(out), err, sizeof(err)), 1);
	ASSERT_STR_CONTAINS(err, "did not run to completion");
	ASSERT_STR_CONTAINS(err, "nosuch");
}

/* A launch failure: TASK_FAILED with no exit status. */
TEST(execute_launch_failure_exits_1_with_message_and_reads_nothing)
{
	struct script sc = {.final = MESOS__V1__TASK_STATE__TASK_FAILED,
			    .message = "Failed to launch container: no image 'nosuch:latest'",
			    .out = "never\n"};
	char out[256], err[4096];

	ASSERT_INT_EQ(run_execute(&sc, NULL, out, sizeof(out), err, sizeof(err)), 1);
	ASSERT_STR_CONTAINS(err, "did not run to completion: Failed to launch container: no "
				 "image 'nosuch:latest'");
	ASSERT_STR_EQ(out, "");
	ASSERT_UINT_EQ(sc.reads, 0);
	ASSERT_UINT_EQ(sc.teardowns, 1);
}

TEST(execute_image_launches_a_mesos_container)
{
	struct script sc = {.final = MESOS__V1__TASK_STATE__TASK_FINISHED, .out = "in a box\n"};
	char out[256], err[4096];

	ASSERT_INT_EQ(
	    run_execute(&sc, "--image=busybox:latest", out, sizeof(out), err, sizeof(err)), 0);
	ASSERT_STR_EQ(sc.image, "busybox:latest");
	ASSERT_STR_EQ(out, "in a box\n");
}

/* Writes text to a fresh file under /tmp; returns "--task_group=<path>" in arg (path in path). */
static void group_file(const char *text, char *path, size_t psize, char *arg, size_t asize)
{
	int fd;

	snprintf(path, psize, "/tmp/keel-exec-groupXXXXXX");
	fd = mkstemp(path);
	ASSERT_TRUE(fd >= 0);
	ASSERT_INT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(arg, asize, "--task_group=%s", path);
}

/* run_execute_with --task_group= a file holding json (removed after). */
static int run_group(struct script *sc, const char *json, char *out, size_t outlen, char *err,
		     size_t errlen)
{
	char path[64], arg[128];
	int code;

	group_file(json, path, sizeof(path), arg, sizeof(arg));
	code = run_execute_with(sc, arg, NULL, out, outlen, err, errlen);
	unlink(path);
	return code;
}

/* Runs keel-execute with argv (no master needed: it must fail before connecting); returns its
 * exit status and its stderr in err. */
static int run_alone(char *const *argv, char *err, size_t errlen)
{
	char errf[] = "/tmp/keel-exec-errXXXXXX";
	posix_spawn_file_actions_t fa;
	int st = 0, efd = mkstemp(errf);
	pid_t pid;
	ssize_t n;

	ASSERT_TRUE(efd >= 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, efd, 2);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	ASSERT_OK(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ));
	posix_spawn_file_actions_destroy(&fa);
	ASSERT_INT_EQ(waitpid(pid, &st, 0), pid);
	n = pread(efd, err, errlen - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(efd);
	unlink(errf);
	ASSERT_TRUE(WIFEXITED(st));
	return WEXITSTATUS(st);
}

#define GROUP_TWO                                                                                  \
	"{\"tasks\":[{\"name\":\"first\",\"task_id\":{\"value\":\"g-1\"},"                         \
	"\"agent_id\":{\"value\":\"\"},\"command\":{\"value\":\"echo one\"},"                      \
	"\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.3}}]},"     \
	"{\"name\":\"second\",\"command\":{\"value\":\"echo two\"}}]}"

/*
 * A task group: one LAUNCH_GROUP with the default executor on the offer's agent, task IDs and
 * resources filled in where the file leaves them out, every task's stdout printed in order.
 */
TEST(execute_group_finished_prints_every_stdout_exits_0)
{
	struct script sc = {
	    .finals = {MESOS__V1__TASK_STATE__TASK_FINISHED, MESOS__V1__TASK_STATE__TASK_FINISHED},
	    .outs = {"one\n", "two\n"}};
	char out[256], err[8192];

	ASSERT_INT_EQ(run_group(&sc, GROUP_TWO, out, sizeof(out), err, sizeof(err)), 0);
	ASSERT_STR_EQ(out, "one\ntwo\n");
	ASSERT_UINT_EQ(sc.n_group, 2);
	ASSERT_STR_EQ(sc.ids[0], "g-1");
	ASSERT_STR_CONTAINS(sc.ids[1], "second-"); /* generated from the name */
	ASSERT_STR_EQ(sc.names[1], "second");
	ASSERT_STR_EQ(sc.agents[0], "a-1");
	ASSERT_STR_EQ(sc.agents[1], "a-1");
	ASSERT_TRUE(sc.cpus[0] > 0.29 && sc.cpus[0] < 0.31);
	ASSERT_TRUE(sc.cpus[1] > 0.09 && sc.cpus[1] < 0.11); /* --resources' default */
	ASSERT_STR_EQ(sc.executor_id, "default-executor");
	ASSERT_INT_EQ(sc.executor_type, MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT);
	ASSERT_TRUE(sc.executor_cpus > 0.09 && sc.executor_cpus < 0.11);
	ASSERT_STR_CONTAINS(err, "Submitted task group with 2 tasks to agent 'a-1'");
	ASSERT_STR_CONTAINS(err, "Stdout of task 'g-1'");
	ASSERT_UINT_EQ(sc.teardowns, 1);
}

/*
 * The first task to fail decides the exit code (3, not the later 5); a task killed while running
 * (its sibling failed) still has its stdout printed; one that never ran has none read.
 */
TEST(execute_group_exits_with_the_first_failure)
{
	struct script sc = {
	    .finals = {MESOS__V1__TASK_STATE__TASK_FAILED, MESOS__V1__TASK_STATE__TASK_KILLED,
		       MESOS__V1__TASK_STATE__TASK_FAILED, MESOS__V1__TASK_STATE__TASK_KILLED},
	    .no_running = {false, false, false, true},
	    .messages = {"Command exited with status 3", NULL, "Command exited with status 5",
			 NULL},
	    .outs = {"a\n", "b\n", "c\n", "never\n"}};
	char out[256], err[8192];

	ASSERT_INT_EQ(run_group(&sc,
				"{\"tasks\":[{\"name\":\"a\",\"command\":{\"value\":\"exit 3\"}},"
				"{\"name\":\"b\",\"command\":{\"value\":\"sleep 9\"}},"
				"{\"name\":\"c\",\"command\":{\"value\":\"exit 5\"}},"
				"{\"name\":\"d\",\"command\":{\"value\":\"true\"}}]}",
				out, sizeof(out), err, sizeof(err)),
		      3);
	ASSERT_STR_EQ(out, "a\nb\nc\n");
	ASSERT_STR_CONTAINS(err, "task 'b' did not run to completion: TASK_KILLED");
	ASSERT_STR_CONTAINS(err, "task 'd' did not run to completion");
	ASSERT_UINT_EQ(sc.teardowns, 1);
}

/* An invalid group (TASK_ERROR for every task): exit 1, the reason shown, nothing read. */
TEST(execute_group_invalid_exits_1_reads_nothing)
{
	struct script sc = {
	    .finals = {MESOS__V1__TASK_STATE__TASK_ERROR, MESOS__V1__TASK_STATE__TASK_ERROR},
	    .no_running = {true, true},
	    .messages = {"Task group is invalid: task 'g-1': bad", "Task group is invalid: task "
								   "'g-1': bad"},
	    .outs = {"x\n", "y\n"}};
	char out[256], err[8192];

	ASSERT_INT_EQ(run_group(&sc, GROUP_TWO, out, sizeof(out), err, sizeof(err)), 1);
	ASSERT_STR_EQ(out, "");
	ASSERT_UINT_EQ(sc.reads, 0);
	ASSERT_STR_CONTAINS(err, "did not run to completion: Task group is invalid");
}

/* Bad --task_group files and flag combinations fail before anything is sent. */
TEST(execute_group_bad_input)
{
	static const struct {
		const char *text; /* the file, NULL: no such file */
		const char *err;  /* in stderr */
	} cases[] = {
	    {"{\"tasks\":", "line 1"},
	    {"{\"tasks\":[]}", "expected {\"tasks\":[...]} with 1 to 64 tasks"},
	    {"[1]", "expected {\"tasks\":[...]}"},
	    {"{\"tasks\":[7]}", "tasks[0] is not an object"},
	    {"{\"tasks\":[{\"name\":7}]}", "tasks[0].name: expected a string"},
	    {NULL, "No such file"},
	};
	const char *bin = getenv("KEEL_EXECUTE");
	char err[4096], path[64], arg[128];

	if (bin == NULL)
		TH_SKIP("KEEL_EXECUTE not set");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {(char *)bin, "--master=127.0.0.1:1", arg, NULL};
		int code;

		if (cases[i].text != NULL)
			group_file(cases[i].text, path, sizeof(path), arg, sizeof(arg));
		else
			snprintf(arg, sizeof(arg), "--task_group=/nonexistent/group.json");
		code = run_alone(argv, err, sizeof(err));
		if (cases[i].text != NULL)
			unlink(path);
		if (code != 1 || strstr(err, cases[i].err) == NULL)
			fprintf(stderr, "case %zu: exit %d, stderr '%s'\n", i, code, err);
		ASSERT_INT_EQ(code, 1);
		ASSERT_STR_CONTAINS(err, "keel-execute: --task_group=");
		ASSERT_STR_CONTAINS(err, cases[i].err);
	}
	{
		char *both[] = {(char *)bin, "--master=x:1", "--command=true", "--task_group=f",
				NULL};
		char *image[] = {(char *)bin, "--master=x:1", "--task_group=f", "--image=busybox",
				 NULL};
		char *neither[] = {(char *)bin, "--master=x:1", NULL};
		char *bad_res[] = {(char *)bin, "--master=x:1", arg, "--resources=cpus", NULL};

		/* A task without resources gets --resources: a bad spec is named. */
		group_file("{\"tasks\":[{\"name\":\"x\"}]}", path, sizeof(path), arg, sizeof(arg));
		ASSERT_INT_EQ(run_alone(bad_res, err, sizeof(err)), 1);
		unlink(path);
		ASSERT_STR_CONTAINS(err, "resource \"cpus\" is not name:value");
		ASSERT_INT_EQ(run_alone(both, err, sizeof(err)), 2);
		ASSERT_STR_CONTAINS(err, "usage:");
		ASSERT_INT_EQ(run_alone(image, err, sizeof(err)), 2);
		ASSERT_INT_EQ(run_alone(neither, err, sizeof(err)), 2);
	}
}
