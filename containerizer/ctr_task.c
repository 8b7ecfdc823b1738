/* The task between clone and exec: cgroups, stdio, filesystem, privileges, exec. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr_plan.h"
#include "ctr_sys.h"
#include "runtime/err.h"
#include "runtime/failpoint.h"

_Noreturn static void task_fail(int err_fd, const char *msg)
{
	size_t n = strlen(msg);

	if (n == 0) {
		msg = "launch failed";
		n = strlen(msg);
	}
	while (write(err_fd, msg, n) < 0 && errno == EINTR)
		;
	_exit(127);
}

/*
 * True while the supervisor lives. It holds the only read end of the exec
 * error pipe whose write end is err_fd: once it is gone, the pipe has no
 * reader and err_fd polls as an error. (With a new pid namespace getppid()
 * is 0 either way, so it cannot tell.)
 */
static bool task_supervisor_alive(int err_fd)
{
	struct pollfd pfd = {err_fd, POLLOUT, 0};

	return poll(&pfd, 1, 0) >= 0 && !(pfd.revents & POLLERR);
}

static void task_reset_signals(void)
{
	sigset_t none;

	/*
	 * The supervisor reset every disposition, then ignored these and blocked
	 * SIGTERM and SIGCHLD: the task starts with defaults and nothing blocked.
	 */
	static const int ignored[] = {SIGPIPE, SIGHUP, SIGINT, SIGQUIT};
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(ignored); i++)
		signal(ignored[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* execve argv[0], searching PATH when it has no '/'. Returns only on failure (errno set). */
static void task_exec(const struct ctr_plan *p)
{
	const char *file = p->argv[0];
	const char *dir;
	char path[PATH_MAX];
	int saved = ENOENT;

	if (strchr(file, '/') != NULL) {
		execve(file, p->argv, p->envp);
		return;
	}
	for (dir = p->path_env; dir != NULL && *dir != '\0';) {
		const char *end = strchr(dir, ':');
		size_t len = end ? (size_t)(end - dir) : strlen(dir);
		int r;

		r = snprintf(path, sizeof(path), "%.*s/%s", (int)len, len ? dir : ".", file);
		if (r > 0 && (size_t)r < sizeof(path)) {
			execve(path, p->argv, p->envp);
			if (errno == EACCES)
				saved = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE)
				return;
		}
		if (end == NULL)
			break;
		dir = end + 1;
	}
	errno = saved;
}

/*
 * Test hook: the task announces itself ("in-setup" in the sandbox) and waits
 * (up to 10 s) until its supervisor dies or a "go" file appears there.
 */
static void task_pause(const struct ctr_plan *p, int err_fd)
{
	int fd =
	    openat(p->sandbox_fd, "in-setup", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 10000 && task_supervisor_alive(err_fd) &&
			faccessat(p->sandbox_fd, "go", F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	     i++)
		usleep(1000);
}

_Noreturn void ctr_task_main(const struct ctr_plan *p, const int procs_fd[CTR_CG_NCTRL],
			     int stdout_fd, int stderr_fd, int err_fd)
{
	char msg[KEEL_ERRMSG_SIZE] = "";
	const char *cwd;
	int nullfd, cwdfd, rv;

	/*
	 * If the supervisor dies, so do we, from the first instruction on (a
	 * credential change below resets this; ctr_privs_apply sets it again).
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(127);
	if (KEEL_FAILPOINT("ctr_task_pause") < 0)
		task_pause(p, err_fd);
	if (!task_supervisor_alive(err_fd))
		_exit(127);
	task_reset_signals();
	/* Only the supervisor holds the lock and talks to the caller. */
	close(p->lock_fd);
	close(p->notify_fd);
	close(p->meta_fd);
	/* First of all: be counted and limited by the container's cgroups. */
	if (ctr_cg_join(&p->cg, procs_fd) < 0) {
		keel_errno_f(msg, -errno, "join the container's cgroups");
		task_fail(err_fd, msg);
	}
	if (p->launcher == KEEL_CTR_LAUNCHER_LINUX && p->cg.n > 0 && unshare(CLONE_NEWCGROUP) < 0 &&
	    errno != EINVAL) {
		keel_errno_f(msg, -errno, "unshare the cgroup namespace");
		task_fail(err_fd, msg);
	}
	if (KEEL_FAILPOINT("ctr_task_setup") < 0)
		task_fail(err_fd, "failpoint ctr_task_setup");
	setsid();
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) {
		keel_errno_f(msg, -errno, "set up stdin/stdout/stderr");
		task_fail(err_fd, msg);
	}
	if (p->launcher == KEEL_CTR_LAUNCHER_LINUX) {
		umask(0);
		rv = ctr_fs_setup(p, msg);
		if (rv < 0)
			task_fail(err_fd, msg);
	}
	umask(022);

	/*
	 * The working directory is resolved inside the container and may not go
	 * through a /proc magic link (cwd "/proc/self/fd/N" is how a leaked host
	 * fd becomes a way out). It is entered after the user switch, so the
	 * task's own permissions apply.
	 */
	cwd = p->cwd ? p->cwd : (p->rootfs ? KEEL_CTR_SANDBOX_PATH : p->sandbox);
	if (p->rootfs != NULL)
		cwdfd = ctr_openat2(AT_FDCWD, cwd, O_PATH | O_DIRECTORY | O_CLOEXEC,
				    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	else
		cwdfd = ctr_openat2(AT_FDCWD, cwd, O_PATH | O_DIRECTORY | O_CLOEXEC,
				    RESOLVE_NO_MAGICLINKS);
	if (cwdfd < 0) {
		keel_errno_f(msg, -errno, "working directory %s", cwd);
		task_fail(err_fd, msg);
	}
	/* Nothing but 0-2 may reach the program: every other fd closes at exec. */
	if (ctr_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		keel_errno_f(msg, -errno, "close_range");
		task_fail(err_fd, msg);
	}
	rv = ctr_privs_apply(p, msg);
	if (rv < 0)
		task_fail(err_fd, msg);
	/* The parent-death signal is armed again: had the supervisor died meanwhile, stop. */
	if (!task_supervisor_alive(err_fd))
		_exit(127);
	if (fchdir(cwdfd) < 0) {
		keel_errno_f(msg, -errno, "chdir %s", cwd);
		task_fail(err_fd, msg);
	}
	task_exec(p);
	keel_errno_f(msg, -errno, "exec %s", p->argv[0]);
	task_fail(err_fd, msg);
}
