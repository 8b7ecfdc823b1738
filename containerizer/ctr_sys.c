/* System call wrappers: pidfd, raw clone, execveat, seccomp, openat2, close_range, pivot_root,
 * capset, the mount API, renameat2. */
#include "ctr_sys.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int ctr_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int ctr_pidfd_sigqueue(int pidfd, int sig, int value)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, &si, 0);
}

pid_t ctr_clone_vfork(unsigned long ns_flags, int (*fn)(void *), void *arg, void *stack,
		      size_t size)
{
	/* Stacks grow down on every architecture keel runs on. */
	return clone(fn, (char *)stack + size, (int)(ns_flags | CLONE_VM | CLONE_VFORK | SIGCHLD),
		     arg);
}

pid_t ctr_clone_vfork_pidfd(int (*fn)(void *), void *arg, void *stack, size_t size, int *pidfd)
{
	return clone(fn, (char *)stack + size, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, arg,
		     pidfd);
}

int ctr_execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

int ctr_seccomp_install(const struct sock_fprog *p)
{
	if (p->len == 0)
		return 0;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p, 0, 0) < 0 ? -errno : 0;
}

int ctr_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = flags;
	how.resolve = resolve;
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int ctr_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}

int ctr_pivot_root(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int ctr_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	data[0].effective = (uint32_t)effective;
	data[0].permitted = (uint32_t)permitted;
	data[0].inheritable = (uint32_t)inheritable;
	data[1].effective = (uint32_t)(effective >> 32);
	data[1].permitted = (uint32_t)(permitted >> 32);
	data[1].inheritable = (uint32_t)(inheritable >> 32);
	return (int)syscall(SYS_capset, &hdr, data);
}

int ctr_fsopen(const char *fstype, unsigned int flags)
{
	return (int)syscall(SYS_fsopen, fstype, flags);
}

int ctr_fsconfig(int fsfd, unsigned int cmd, const char *key, const void *value, int aux)
{
	return (int)syscall(SYS_fsconfig, fsfd, cmd, key, value, aux);
}

int ctr_fsmount(int fsfd, unsigned int flags, unsigned int attrs)
{
	return (int)syscall(SYS_fsmount, fsfd, flags, attrs);
}

int ctr_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
		   unsigned int flags)
{
	return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

int ctr_open_tree(int dirfd, const char *path, unsigned int flags)
{
	return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int ctr_mount_setattr(int dirfd, const char *path, unsigned int flags, void *attr, size_t size)
{
	return (int)syscall(SYS_mount_setattr, dirfd, path, flags, attr, size);
}

int ctr_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		  unsigned int flags)
{
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int ctr_close_fds_except(const int *keep, size_t n)
{
	unsigned int from = 3;

	for (;;) {
		/* The smallest kept fd at or above `from`. */
		int next = -1;
		size_t i;

		for (i = 0; i < n; i++) {
			if (keep[i] >= (int)from && (next < 0 || keep[i] < next))
				next = keep[i];
		}
		if (next < 0)
			return ctr_close_range(from, ~0U, 0);
		if ((unsigned int)next > from &&
		    ctr_close_range(from, (unsigned int)next - 1, 0) < 0)
			return -1;
		from = (unsigned int)next + 1;
	}
}
