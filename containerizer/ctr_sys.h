/* System call wrappers the containerizer needs and glibc lacks or hides (one place for all). */
#ifndef KEEL_CTR_SYS_H
#define KEEL_CTR_SYS_H

#include <linux/filter.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Every wrapper returns what the system call returns, with errno set on
 * failure (the libc convention), so callers read errno as with any syscall.
 */

/* pidfd_open(2): a pollable fd that becomes readable when `pid` exits. */
int ctr_pidfd_open(pid_t pid);

/* pidfd_send_signal(2) with a queued value (si_code SI_QUEUE, si_int = value). */
int ctr_pidfd_sigqueue(int pidfd, int sig, int value);

/*
 * clone(2) sharing the caller's memory until the child execs or exits
 * (CLONE_VM | CLONE_VFORK, as posix_spawn does), with namespace flags: no page
 * table is copied, and the caller sleeps meanwhile. The child runs fn(arg) on
 * `stack` (size bytes) and must only make system calls and write its own
 * stack before execve or _exit. Returns the child's pid to the caller.
 */
pid_t ctr_clone_vfork(unsigned long ns_flags, int (*fn)(void *), void *arg, void *stack,
		      size_t size);

/*
 * clone(2) of a child that shares the caller's memory until it execs or
 * exits (CLONE_VM | CLONE_VFORK: the caller sleeps meanwhile), with no new
 * namespaces, whose pidfd the kernel writes to *pidfd (CLONE_PIDFD) in the
 * same system call: there is no moment when the child exists and the caller
 * has no pidfd for it. The child runs fn(arg) on `stack` (size bytes).
 */
pid_t ctr_clone_vfork_pidfd(int (*fn)(void *), void *arg, void *stack, size_t size, int *pidfd);

/* execveat(2). */
int ctr_execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags);

/* Installs a seccomp filter on the calling thread (len 0: nothing); needs no_new_privs. */
int ctr_seccomp_install(const struct sock_fprog *p);

/* openat2(2) with an O_* flags and RESOLVE_* mask (mode 0). */
int ctr_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve);

/* close_range(2). */
int ctr_close_range(unsigned int first, unsigned int last, unsigned int flags);

/* pivot_root(2). */
int ctr_pivot_root(const char *new_root, const char *put_old);

/* capset(2) with version 3 of the ABI (64-bit sets). */
int ctr_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);

/*
 * The mount API (Linux 5.2; mount_setattr 5.12) and renameat2(2), called
 * through syscall(2): the supervisor is built with musl where it can be,
 * which has no wrappers for them. Flags and structs are the kernel's
 * (<sys/mount.h> of glibc, or <linux/mount.h>).
 */
int ctr_fsopen(const char *fstype, unsigned int flags);
int ctr_fsconfig(int fsfd, unsigned int cmd, const char *key, const void *value, int aux);
int ctr_fsmount(int fsfd, unsigned int flags, unsigned int attrs);
int ctr_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
		   unsigned int flags);
int ctr_open_tree(int dirfd, const char *path, unsigned int flags);
/* attr points to a struct mount_attr of `size` bytes. */
int ctr_mount_setattr(int dirfd, const char *path, unsigned int flags, void *attr, size_t size);
#ifndef RENAME_NOREPLACE /* musl's <stdio.h> lacks it */
#define RENAME_NOREPLACE (1U << 0)
#endif
int ctr_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		  unsigned int flags);

/* Closes every fd >= 3 except those in keep[] (unsorted, n small); -1 entries are ignored. */
int ctr_close_fds_except(const int *keep, size_t n);

#endif
