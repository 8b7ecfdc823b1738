/* keel-containerizer CLI: help, usage errors, launch/ps/kill/wait/status/destroy end to end. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctr_fixture.h"
#include "harness.h"

extern char **environ;

/* What one CLI run produced. */
struct run {
	int code;	/* exit status (128+sig if killed) */
	char out[8192]; /* stdout */
	char err[4096]; /* stderr */
};

/* Reads fd to EOF into buf. */
static void slurp(int fd, char *buf, size_t n)
{
	size_t off = 0;
	ssize_t r;

	while (off + 1 < n && (r = read(fd, buf + off, n - 1 - off)) > 0)
		off += (size_t)r;
	buf[off] = '\0';
}

/* Runs the CLI with --work_dir and --cgroup_parent of the fixture, then `args` (NULL-ended). */
static void cli(struct run *r, ...)
{
	const char *argv[64];
	int out[2], err[2], st;
	posix_spawn_file_actions_t fa;
	va_list ap;
	size_t n = 0;
	pid_t pid;

	argv[n++] = fx_cli();
	argv[n++] = "--work_dir";
	argv[n++] = fx.work_dir;
	argv[n++] = "--cgroup_parent";
	argv[n++] = fx.cg_parent;
	va_start(ap, r);
	for (;;) {
		const char *a = va_arg(ap, const char *);
		if (a == NULL)
			break;
		ASSERT_UINT_LT(n, 63);
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;
	ASSERT_OK(pipe2(out, O_CLOEXEC));
	ASSERT_OK(pipe2(err, O_CLOEXEC));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	ASSERT_OK(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ));
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(err[1]);
	/* Small outputs: read stdout fully, then stderr. */
	slurp(out[0], r->out, sizeof(r->out));
	slurp(err[0], r->err, sizeof(r->err));
	close(out[0]);
	close(err[0]);
	ASSERT_INT_EQ(waitpid(pid, &st, 0), pid);
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(cli_help_and_usage_errors)
{
	struct run r;

	fx_open_mode(KEEL_CTR_CGROUP_NONE, NULL);
	cli(&r, "--help", NULL);
	ASSERT_INT_EQ(r.code, 0);
	ASSERT_STR_CONTAINS(r.out, "usage: keel-containerizer");
	ASSERT_STR_CONTAINS(r.out, "launch");
	cli(&r, NULL);
	ASSERT_INT_EQ(r.code, 2);
	ASSERT_STR_CONTAINS(r.err, "no command");
	cli(&r, "frobnicate", NULL);
	ASSERT_INT_EQ(r.code, 2);
	ASSERT_STR_CONTAINS(r.err, "unknown command 'frobnicate'");
	cli(&r, "launch", "--cpus", "lots", "--", "/bin/true", NULL);
	ASSERT_INT_EQ(r.code, 2);
	ASSERT_STR_CONTAINS(r.err, "--cpus");
	cli(&r, "launch", "--launcher", "vm", "--", "/bin/true", NULL);
	ASSERT_INT_EQ(r.code, 2);
	cli(&r, "launch", NULL);
	ASSERT_INT_EQ(r.code, 2);
	ASSERT_STR_CONTAINS(r.err, "no command given");
	cli(&r, "wait", NULL);
	ASSERT_INT_EQ(r.code, 2);
	cli(&r, "--cgroups", "v7", "ps", NULL);
	ASSERT_INT_EQ(r.code, 2);
	fx_cleanup();
}

TEST(cli_bad_spec_is_a_clear_error)
{
	struct run r;

	fx_require_root();
	fx_open();
	cli(&r, "launch", "--mem", "-5", "--", "/bin/true", NULL);
	ASSERT_INT_EQ(r.code, 1);
	ASSERT_STR_CONTAINS(r.err, "memory limit");
	cli(&r, "launch", "--user", "no-such-user-keel", "--", "/bin/true", NULL);
	ASSERT_INT_EQ(r.code, 1);
	ASSERT_STR_CONTAINS(r.err, "unknown user");
	cli(&r, "launch", "--rootfs", "/nonexistent", "--", "/bin/true", NULL);
	ASSERT_INT_EQ(r.code, 1);
	ASSERT_STR_CONTAINS(r.err, "rootfs /nonexistent");
	cli(&r, "wait", "nope", NULL);
	ASSERT_INT_EQ(r.code, 1);
	ASSERT_STR_CONTAINS(r.err, "no container nope");
	fx_cleanup();
}

TEST(cli_launch_wait_returns_the_task_exit_code)
{
	struct run r;

	fx_require_root();
	fx_open();
	cli(&r, "launch", "--wait", "--mem", "64", "--cpus", "0.5", "--pids", "50", "--",
	    fx_probe(), "exit", "3", NULL);
	ASSERT_INT_EQ(r.code, 3);
	ASSERT_STR_CONTAINS(r.out, "exited reason=exited exit_code=3");
	cli(&r, "launch", "--wait", "--rootfs", fx_rootfs(), "--user", "nobody", "--", "sh", "-c",
	    "exit 4", NULL);
	ASSERT_INT_EQ(r.code, 4);
	cli(&r, "launch", "--wait", "--", "/nonexistent", NULL);
	ASSERT_INT_EQ(r.code, 125);
	ASSERT_STR_CONTAINS(r.out, "launch_failed");
	ASSERT_STR_CONTAINS(r.out, "exec /nonexistent");
	fx_cleanup();
}

TEST(cli_launch_ps_kill_wait_destroy)
{
	char id[KEEL_CTR_ID_SIZE];
	struct run r;

	fx_require_root();
	fx_open();
	cli(&r, "launch", "--id", "web", "--", fx_probe(), "sleep", "ignore", NULL);
	ASSERT_INT_EQ(r.code, 0);
	ASSERT_STR_EQ(r.out, "web\n");
	ASSERT_INT_LT(snprintf(id, sizeof(id), "web"), (int)sizeof(id));
	/* The same ID again is refused while it exists. */
	cli(&r, "launch", "--id", "web", "--", fx_probe(), "sleep", NULL);
	ASSERT_INT_EQ(r.code, 1);
	ASSERT_STR_CONTAINS(r.err, "already exists");
	cli(&r, "ps", NULL);
	ASSERT_INT_EQ(r.code, 0);
	ASSERT_STR_CONTAINS(r.out, "web");
	cli(&r, "status", id, NULL);
	ASSERT_INT_EQ(r.code, 0);
	ASSERT_STR_CONTAINS(r.out, "cpu_usec=");
	cli(&r, "kill", id, "--grace", "0.2", NULL);
	ASSERT_INT_EQ(r.code, 0);
	cli(&r, "wait", id, "--timeout", "20", NULL);
	ASSERT_INT_EQ(r.code, 137);
	ASSERT_STR_CONTAINS(r.out, "reason=killed");
	cli(&r, "destroy", id, NULL);
	ASSERT_INT_EQ(r.code, 0);
	cli(&r, "ps", NULL);
	ASSERT_FALSE(strstr(r.out, "web") != NULL);

	/* destroy on a running container kills it and removes it. */
	cli(&r, "launch", "--id", "db", "--", fx_probe(), "sleep", NULL);
	ASSERT_INT_EQ(r.code, 0);
	cli(&r, "destroy", "db", NULL);
	ASSERT_INT_EQ(r.code, 0);
	cli(&r, "ps", NULL);
	ASSERT_FALSE(strstr(r.out, "db") != NULL);
	cli(&r, "wait", "db", "--timeout", "0", NULL);
	ASSERT_INT_EQ(r.code, 1);
	fx_cleanup();
}
