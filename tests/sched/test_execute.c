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
};

static void on_call(struct fake_master *fm, const Mesos__V1__Scheduler__Call *c, void *arg)
{
	struct script *sc = arg;
	const Mesos__V1__TaskInfo *t;

	if (c->type == MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN)
		sc->teardowns++;
	if (c->type != MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT)
		return;
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
	char off[32], path[512], body[1024];
	unsigned long o;
	size_t len = strlen(sc->out);

	sc->reads++;
	if (query_arg(h->query, h->query_len, "offset", off, sizeof(off)) == NULL ||
	    query_arg(h->query, h->query_len, "path", path, sizeof(path)) == NULL ||
	    strstr(path, sc->task_id) == NULL || strstr(path, "/stdout") == NULL) {
		keel_http_respond_text(req, 404, "no such file");
		return;
	}
	o = strtoul(off, NULL, 10);
	/* Two bytes at a time, so that the client has to follow the offset. */
	char data[16] = "";
	for (size_t i = o, k = 0; i < len && i < o + 2; i++) {
		if (sc->out[i] == '\n') {
			data[k++] = '\\';
			data[k++] = 'n';
		} else {
			data[k++] = sc->out[i];
		}
	}
	snprintf(body, sizeof(body), "{\"data\":\"%s\",\"offset\":%lu}", data, o);
	keel_http_respond(req, 200, "application/json", NULL, body, strlen(body));
}

/* Runs keel-execute with args against a fresh fake; returns its exit status. */
static int run_execute(struct script *sc, const char *extra, char *out, size_t outlen, char *err,
		       size_t errlen)
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
	char *argv[] = {(char *)bin, master, "--name=t", "--command=echo hi", (char *)extra, NULL};
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
