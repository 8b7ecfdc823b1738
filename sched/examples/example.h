/* What the example frameworks share: their set-up and run, and task state helpers. */
#ifndef KEEL_SCHED_EXAMPLES_EXAMPLE_H
#define KEEL_SCHED_EXAMPLES_EXAMPLE_H

#include <stdbool.h>

#include "sched/scheduler.h"

/*
 * Runs a framework: FrameworkInfo with `framework_name` and the user $USER (root when unset);
 * creates the client into *s (so that callbacks can reach it through their argument), starts it
 * and runs its loop until keel_sched_stop. cfg's master, callbacks, argument and other options
 * are the caller's (cfg->framework is set during the call). Returns 0 after the run, or 1 after
 * printing "prog: why" to stderr when the client could not be made or started (the callbacks
 * never fired then). Either way the caller frees *s with keel_sched_free (NULL is fine).
 */
int example_run(const char *prog, const char *framework_name, struct keel_sched_config *cfg,
		struct keel_sched **s);

/* True for a terminal task state (anything but STAGING, STARTING, RUNNING, KILLING). */
bool example_terminal(Mesos__V1__TaskState st);

/* The name of a task state ("TASK_RUNNING"), "UNKNOWN" for a number outside the enum. */
const char *example_state_name(Mesos__V1__TaskState st);

#endif
