/* Starting the supervisor program: the embedded binary in a sealed memfd, vfork + execveat. */
#include "ctr_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctr_sys.h"
#include "runtime/err.h"
#include "runtime/failpoint.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: executable memfd, said explicitly */
#endif

/* The program's bytes, from the generated ctr_supervisor_blob.c (see meson.build). */
extern const unsigned char ctr_supervisor_elf[];
extern const unsigned char ctr_supervisor_elf_end[];

int ctr_spawn_program_fd(char *errmsg)
{
	const unsigned char *p = ctr_supervisor_elf;
	size_t left = (size_t)(ctr_supervisor_elf_end - ctr_supervisor_elf);
	int fd;

	fd = memfd_create("keel-ctr-supervisor", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) /* before Linux 6.3 */
		fd = memfd_create("keel-ctr-supervisor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return keel_errno_f(errmsg, -errno, "memfd for the supervisor program");
	while (left > 0) {
		ssize_t w = write(fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			return keel_errno_f(errmsg, -e, "write the supervisor program");
		}
		p += w;
		left -= (size_t)w;
	}
	/* Nobody may change the program once it is in place. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		int e = errno;
		close(fd);
		return keel_errno_f(errmsg, -e, "seal the supervisor program");
	}
	return fd;
}

/* What the vfork child reads (shared memory: it writes `err` and its own stack only). */
struct spawn_args {
	int prog_fd;	   /* the program */
	char *const *argv; /* its argv */
	char *const *envp; /* its environment */
	const int *fds;	   /* fds to keep across the exec */
	size_t n;	   /* entries in fds */
	int err;	   /* errno of a failed exec, written by the child */
};

/*
 * The child between clone and exec. Not instrumented: it runs on a borrowed
 * stack while the caller sleeps, and must leave no sanitizer state behind.
 */
__attribute__((no_sanitize("address"))) static int spawn_child(void *arg)
{
	struct spawn_args *a = arg;
	size_t i;

	for (i = 0; i < a->n; i++) {
		if (a->fds[i] >= 0 && syscall(SYS_fcntl, a->fds[i], F_SETFD, 0) < 0)
			goto fail;
	}
	syscall(SYS_execveat, a->prog_fd, "", a->argv, a->envp, AT_EMPTY_PATH);
fail:
	a->err = errno != 0 ? errno : EIO;
	syscall(SYS_exit, 127);
	return 127;
}

int ctr_spawn_supervisor(int prog_fd, void *stack, size_t stack_size, int plan_fd, const int *fds,
			 size_t n, pid_t *pid, int *pidfd, char *errmsg)
{
	char plan_arg[16];
	char *argv[] = {(char *)"keel-supervisor", plan_arg, NULL};
	/*
	 * The caller's environment stays behind (the task's comes from the plan);
	 * only test builds' failpoints travel, since the supervisor reads them there.
	 */
	char *fp = getenv("KEEL_FAILPOINTS");
	char fp_env[512];
	char *envp[] = {NULL, NULL};
	struct spawn_args a = {prog_fd, argv, envp, fds, n, 0};
	int keep[8];
	sigset_t all, old;
	size_t i;

	if (n + 1 > sizeof(keep) / sizeof(keep[0]))
		return keel_errf(errmsg, -EINVAL, "too many fds for the supervisor");
	for (i = 0; i < n; i++)
		keep[i] = fds[i];
	keep[n] = plan_fd;
	a.fds = keep;
	a.n = n + 1;
	snprintf(plan_arg, sizeof(plan_arg), "%d", plan_fd);
	if (KEEL_FAILPOINT("ctr_spawn_exec") < 0)
		a.prog_fd = -1; /* test hook: the exec fails (EBADF) */
	if (fp != NULL &&
	    (size_t)snprintf(fp_env, sizeof(fp_env), "KEEL_FAILPOINTS=%s", fp) < sizeof(fp_env))
		envp[0] = fp_env;
	*pidfd = -1;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	*pid = ctr_clone_vfork_pidfd(spawn_child, &a, stack, stack_size, pidfd);
	int clone_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (*pid < 0)
		return keel_errno_f(errmsg, -clone_errno, "start the supervisor (clone)");
	if (a.err != 0) {
		siginfo_t si;

		waitid(P_PIDFD, (id_t)*pidfd, &si, WEXITED);
		close(*pidfd);
		*pidfd = -1;
		return keel_errno_f(errmsg, -a.err, "start the supervisor (execveat)");
	}
	return 0;
}
