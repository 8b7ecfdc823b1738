/* keelctl's master commands against a fake master answering the operator API with fixed JSON. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/http_server.h"
#include "tests/harness.h"
#include "tests/loop_util.h"

extern char **environ;

/* The fake: one server is the master and the agent; another only redirects to it. */
struct fake {
	struct keel_loop *loop;		/* loop */
	struct keel_http_server *srv;	/* master + agent */
	struct keel_http_server *other; /* a non-leader answering 307 */
	char addr[32], other_addr[32];	/* their host:port */
	char last_call[512];		/* the last operator call body */
	unsigned reads;			/* /files/read requests */
};

static void api(struct keel_http_req *req, void *arg)
{
	struct fake *f = arg;
	size_t len;
	const char *body = keel_http_req_body(req, &len);
	char ans[1024];

	snprintf(f->last_call, sizeof(f->last_call), "%.*s", (int)len, body);
	if (strstr(f->last_call, "GET_MASTER") != NULL) {
		snprintf(ans, sizeof(ans),
			 "{\"type\":\"GET_MASTER\",\"get_master\":{\"master_info\":{\"id\":\"m-1\","
			 "\"ip\":16777343,\"port\":5050,\"hostname\":\"master-host\"}}}");
	} else if (strstr(f->last_call, "GET_AGENTS") != NULL) {
		/* The agent is this same server. */
		snprintf(
		    ans, sizeof(ans),
		    "{\"type\":\"GET_AGENTS\",\"get_agents\":{\"agents\":[{\"agent_info\":"
		    "{\"hostname\":\"127.0.0.1\",\"port\":%s,\"id\":{\"value\":\"a-1\"}},"
		    "\"active\":true,\"total_resources\":[{\"name\":\"cpus\",\"type\":"
		    "\"SCALAR\",\"scalar\":{\"value\":4}},{\"name\":\"mem\",\"type\":\"SCALAR\","
		    "\"scalar\":{\"value\":2048}}]}]}}",
		    strchr(f->addr, ':') + 1);
	} else if (strstr(f->last_call, "GET_FRAMEWORKS") != NULL) {
		snprintf(ans, sizeof(ans),
			 "{\"type\":\"GET_FRAMEWORKS\",\"get_frameworks\":{\"frameworks\":[{"
			 "\"framework_info\":{\"id\":{\"value\":\"fw-1\"},\"name\":\"batch\","
			 "\"user\":\"alice\"},\"active\":true,\"connected\":false}]}}");
	} else if (strstr(f->last_call, "GET_TASKS") != NULL) {
		snprintf(ans, sizeof(ans),
			 "{\"type\":\"GET_TASKS\",\"get_tasks\":{\"tasks\":[{\"name\":\"web\","
			 "\"task_id\":{\"value\":\"t-1\"},\"framework_id\":{\"value\":\"fw-1\"},"
			 "\"agent_id\":{\"value\":\"a-1\"},\"state\":\"TASK_RUNNING\"}]}}");
	} else if (strstr(f->last_call, "GET_ROLES") != NULL) {
		snprintf(ans, sizeof(ans),
			 "{\"type\":\"GET_ROLES\",\"get_roles\":{\"roles\":[{\"name\":\"prod\","
			 "\"weight\":2.5,\"frameworks\":[{\"value\":\"fw-1\"}]}]}}");
	} else if (strstr(f->last_call, "DRAIN_AGENT") != NULL ||
		   strstr(f->last_call, "MARK_AGENT_GONE") != NULL) {
		if (strstr(f->last_call, "a-unknown") != NULL) {
			keel_http_respond_text(req, 400, "Unknown agent");
			return;
		}
		keel_http_respond(req, 200, NULL, NULL, NULL, 0);
		return;
	} else {
		keel_http_respond_text(req, 400, "unknown call");
		return;
	}
	keel_http_respond(req, 200, "application/json", NULL, ans, strlen(ans));
}

static void redirect(struct keel_http_req *req, void *arg)
{
	struct fake *f = arg;
	char loc[64];
	const char *hdrs[] = {"Location", loc, NULL};

	snprintf(loc, sizeof(loc), "//%s/api/v1", f->addr);
	keel_http_respond(req, 307, NULL, hdrs, NULL, 0);
}

static void files_read(struct keel_http_req *req, void *arg)
{
	struct fake *f = arg;
	const struct keel_http_head *h = keel_http_req_head(req);
	const char *body;

	f->reads++;
	static const char want[] = "/frameworks/fw-1/executors/t-1/runs/latest/stdout";

	if (memmem(h->query, h->query_len, want, sizeof(want) - 1) == NULL) {
		keel_http_respond_text(req, 404, "no such file");
		return;
	}
	body = memmem(h->query, h->query_len, "offset=0&", 9) != NULL
		   ? "{\"data\":\"line one\\nline two\\n\",\"offset\":0}"
		   : "{\"data\":\"\",\"offset\":18}";
	keel_http_respond(req, 200, "application/json", NULL, body, strlen(body));
}

static void fake_up(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	ASSERT_OK(keel_loop_new(&f->loop, NULL, NULL));
	ASSERT_OK(keel_http_server_new(f->loop, "127.0.0.1", 0, NULL, &f->srv, NULL));
	ASSERT_OK(keel_http_server_route(f->srv, KEEL_HTTP_POST, "/api/v1", api, f));
	ASSERT_OK(keel_http_server_route(f->srv, KEEL_HTTP_GET, "/files/read", files_read, f));
	ASSERT_OK(keel_http_server_new(f->loop, "127.0.0.1", 0, NULL, &f->other, NULL));
	ASSERT_OK(keel_http_server_route(f->other, KEEL_HTTP_POST, "/api/v1", redirect, f));
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", keel_http_server_port(f->srv));
	snprintf(f->other_addr, sizeof(f->other_addr), "127.0.0.1:%u",
		 keel_http_server_port(f->other));
}

static void fake_down(struct fake *f)
{
	keel_http_server_free(f->srv);
	keel_http_server_free(f->other);
	keel_loop_free(f->loop);
}

/* Runs keelctl with up to 4 args while serving the fake; its exit code, stdout in out. */
static int keelctl(struct fake *f, char *out, size_t n, const char *a1, const char *a2,
		   const char *a3, const char *a4)
{
	const char *bin = getenv("KEELCTL");
	char tmp[] = "/tmp/keelctl-outXXXXXX";
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0, fd;
	ssize_t r;

	if (bin == NULL)
		TH_SKIP("KEELCTL not set");
	fd = mkstemp(tmp);
	ASSERT_TRUE(fd >= 0);
	unlink(tmp);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	char *argv[] = {(char *)bin, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
	ASSERT_OK(posix_spawn(&pid, bin, &fa, NULL, argv, environ));
	posix_spawn_file_actions_destroy(&fa);
	if (!RUN_UNTIL(f->loop, waitpid(pid, &st, WNOHANG) == pid, 20000)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		ASSERT_TRUE(!"keelctl did not finish");
	}
	r = pread(fd, out, n - 1, 0);
	out[r > 0 ? r : 0] = '\0';
	close(fd);
	ASSERT_TRUE(WIFEXITED(st));
	return WEXITSTATUS(st);
}

TEST(keelctl_tables)
{
	struct fake f;
	char m[64], out[4096];

	fake_up(&f);
	snprintf(m, sizeof(m), "--master=%s", f.addr);
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "leader", m, NULL, NULL), 0);
	ASSERT_STR_CONTAINS(out, "m-1");
	ASSERT_STR_CONTAINS(out, "master-host");
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "agents", m, NULL, NULL), 0);
	ASSERT_STR_CONTAINS(out, "a-1");
	ASSERT_STR_CONTAINS(out, "4.00");
	ASSERT_STR_CONTAINS(out, "2048");
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "frameworks", m, NULL, NULL), 0);
	ASSERT_STR_CONTAINS(out, "alice");
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "tasks", m, NULL, NULL), 0);
	ASSERT_STR_CONTAINS(out, "TASK_RUNNING");
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "roles", m, NULL, NULL), 0);
	ASSERT_STR_CONTAINS(out, "prod");
	ASSERT_STR_CONTAINS(out, "2.50");
	/* Through a coordination URL (the static backend's detector). */
	snprintf(m, sizeof(m), "--master=static://%s", f.addr);
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "frameworks", m, NULL, NULL), 0);
	ASSERT_STR_CONTAINS(out, "alice");
	fake_down(&f);
}

TEST(keelctl_json_and_redirect)
{
	struct fake f;
	char m[64], out[4096];

	fake_up(&f);
	/* Asked at a non-leader: follows its 307. */
	snprintf(m, sizeof(m), "--master=%s", f.other_addr);
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "tasks", m, "--json", NULL), 0);
	ASSERT_STR_CONTAINS(out, "\"get_tasks\"");
	ASSERT_STR_CONTAINS(out, "\"t-1\"");
	ASSERT_STR_CONTAINS(f.last_call, "GET_TASKS");
	fake_down(&f);
}

TEST(keelctl_task_log)
{
	struct fake f;
	char m[64], out[4096];

	fake_up(&f);
	snprintf(m, sizeof(m), "--master=%s", f.addr);
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "task", "log", "t-1", m), 0);
	ASSERT_STR_EQ(out, "line one\nline two\n");
	ASSERT_UINT_EQ(f.reads, 2);
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "task", "log", "t-nope", m), 3);
	fake_down(&f);
}

TEST(keelctl_agent_ops)
{
	struct fake f;
	char m[64], out[4096];

	fake_up(&f);
	snprintf(m, sizeof(m), "--master=%s", f.addr);
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "agent", "drain", "a-1", m), 0);
	ASSERT_STR_CONTAINS(f.last_call, "\"DRAIN_AGENT\"");
	ASSERT_STR_CONTAINS(f.last_call, "\"a-1\"");
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "agent", "gone", "a-1", m), 0);
	ASSERT_STR_CONTAINS(f.last_call, "\"MARK_AGENT_GONE\"");
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "agent", "gone", "a-unknown", m), 1);
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "agent", "reboot", "a-1", m), 2);
	fake_down(&f);
}

TEST(keelctl_usage_and_completion)
{
	struct fake f;
	char out[4096];

	fake_up(&f);
	unsetenv("KEEL_MASTER");
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "agents", NULL, NULL, NULL), 2);
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "completion", "bash", NULL, NULL), 0);
	ASSERT_STR_CONTAINS(out, "complete -o nospace -F _keelctl keelctl");
	/* A master that does not answer. */
	ASSERT_INT_EQ(keelctl(&f, out, sizeof(out), "agents", "--master=127.0.0.1:1", NULL, NULL),
		      1);
	fake_down(&f);
}
