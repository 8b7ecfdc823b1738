/* The task side of the fixture's fake agent: RunTask/KillTask logged, status updates sent. */
#ifndef KEEL_TESTS_MASTER_FAKE_TASKS_H
#define KEEL_TESTS_MASTER_FAKE_TASKS_H

#include <stdint.h>

#include "master/master.h"
#include "master_fixture.h"

/* What the fake agent received from the master. */
struct ft_log {
	unsigned run;		 /* RunTask messages */
	unsigned kill;		 /* KillTask messages */
	unsigned other;		 /* acks and ShutdownFramework */
	unsigned bad;		 /* messages that did not decode */
	char last_kill[64];	 /* task ID of the last KillTask */
	int64_t last_kill_grace; /* its kill policy's grace period (ns), or -1 if none */
};

/* Routes the master->agent task messages on the fixture agent; each answered 202. */
void ft_routes(struct fx *f, struct ft_log *l);

/* The agent reports state for task (uuid: 16 bytes of b); asserts the master answers 202. */
void ft_update(struct fx *f, struct master *m, const char *agent, const char *fid, const char *task,
	       Mesos__V1__TaskState state, uint8_t b);

/*
 * Re-registers agent id (key and hostname host, the fixture agent's address) reporting one
 * RUNNING task of framework fid using cpus:1; asserts 200.
 */
void ft_reregister_task(struct fx *f, struct master *m, const char *id, const char *host,
			const char *fid, const char *task);

#endif
