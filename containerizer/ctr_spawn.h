/* Starting the supervisor program: embedded in a sealed memfd, vfork + execveat, no page-table
 * copy. */
#ifndef KEEL_CTR_SPAWN_H
#define KEEL_CTR_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* Stack the vfork child runs on until its exec (owned by the context, reused). */
#define CTR_SPAWN_STACK_SIZE (64 * 1024)

/*
 * Creates a sealed, close-on-exec memfd holding the supervisor program that
 * is built into this library (keel-ctr-supervisor, a small static binary).
 * Returns the fd, or a negative errno with a message.
 */
int ctr_spawn_program_fd(char *errmsg);

/*
 * Starts the supervisor program from `prog_fd` with `plan_fd` (its wire-form
 * plan) and `fds` (n of them, -1 entries skipped) inherited at the same
 * numbers; every other fd of the caller that is close-on-exec stays behind,
 * and so does its environment (but KEEL_FAILPOINTS, for test builds).
 * The child is a clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) that runs on
 * `stack` until its execveat: no page table of the caller is copied, however
 * big the caller. The caller's signals are all blocked meanwhile (the child
 * and then the supervisor start with every signal blocked, so a SIGTERM sent
 * early is queued, not lost). On success sets *pid and *pidfd (close-on-exec)
 * and returns 0; on failure nothing runs and a negative errno comes back with
 * a message. The child is our child: reap it (waitid P_PIDFD).
 */
int ctr_spawn_supervisor(int prog_fd, void *stack, size_t stack_size, int plan_fd, const int *fds,
			 size_t n, pid_t *pid, int *pidfd, char *errmsg);

#endif
