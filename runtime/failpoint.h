/* Failpoints: named test hooks that inject an error or a crash; nothing unless -Dfailpoints=true.
 */
#ifndef KEEL_RUNTIME_FAILPOINT_H
#define KEEL_RUNTIME_FAILPOINT_H

/*
 * Use at a place where a fault matters:
 *
 *	int rv = KEEL_FAILPOINT("replog_before_fsync");
 *	if (rv < 0)
 *		return rv;
 *
 * In a normal build KEEL_FAILPOINT(name) is the constant 0. In a build with
 * -Dfailpoints=true it returns the armed error once its countdown reaches
 * zero. Arm from a test with keel_failpoint_set(), or in a real process with
 * the environment: KEEL_FAILPOINTS="name=countdown:action[,name=...]" where
 * action is an errno name or number (EIO, 5), or "crash" (the process exits
 * at once with status 86, as if it lost power there).
 *
 * Threads: hits, arming and clearing may come from any thread (a mutex guards
 * the table; with nothing armed a hit takes no lock).
 */
#ifdef KEEL_FAILPOINTS
int keel_failpoint_hit(const char *name);
#define KEEL_FAILPOINT(name) keel_failpoint_hit(name)
#else
#define KEEL_FAILPOINT(name) 0
#endif

#define KEEL_FAILPOINT_CRASH 1
#define KEEL_FAILPOINT_CRASH_STATUS 86

/*
 * Arms `name`: the countdown-th hit from now (1 = next) returns `err` (a
 * negative errno), or exits the process when err == KEEL_FAILPOINT_CRASH;
 * sticky keeps returning it after that. countdown 0 disarms. Returns -ENOSYS
 * in builds without failpoints, -ENOSPC when the table is full.
 */
int keel_failpoint_set(const char *name, long countdown, int err, int sticky);

/* Disarms every failpoint. */
void keel_failpoint_clear(void);

/* Parses a KEEL_FAILPOINTS string and arms what it names; -EINVAL on bad syntax. */
int keel_failpoint_parse(const char *spec);

#endif
