/* A fake agent for the scheduler API tests: the master-to-agent routes on the fixture's server,
 * one table, recording what arrives. */
#ifndef KEEL_TESTS_MASTER_FAKE_AGENT_H
#define KEEL_TESTS_MASTER_FAKE_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "master_fixture.h"

#define FAKE_AGENT_ROUTES 5 /* run_task, kill_task, ack, shutdown_framework, framework_message */

/* One route's binding (the handler's argument). */
struct fake_agent_binding {
	struct fake_agent *agent; /* whose log */
	unsigned route;		  /* index in the route table */
};

/* What the agent side received. Counters and last-seen fields; the test reads them. */
struct fake_agent {
	unsigned run, kill, ack, shutdown_fw, messages; /* messages per kind */
	unsigned bad;					/* messages that did not decode */
	unsigned fail_run;	 /* RunTask is answered 503 while this is > 0 */
	unsigned refused_run;	 /* RunTasks answered 503 */
	char last_run_task[64];	 /* task ID of the last RunTask ("" for a group) */
	size_t last_group_n;	 /* tasks in the last RunTask's group, 0 if none */
	char last_executor[64];	 /* executor ID of the last RunTask's executor, or "" */
	char last_kill[64];	 /* task ID of the last KillTask */
	int64_t last_kill_grace; /* its kill policy's grace period (ns), or -1 if none */
	uint8_t last_ack[16];	 /* uuid of the last StatusAck */
	size_t last_ack_len;	 /* its length */
	char msg_executor[64];	 /* executor ID of the last FrameworkMessage */
	char msg_data[64];	 /* its data */
	char msg_framework[128]; /* its framework ID */
	struct fake_agent_binding bind[FAKE_AGENT_ROUTES]; /* handler arguments (internal) */
};

/*
 * Clears a and routes the master-to-agent messages of the fixture's agent server to it. Every
 * message is answered 202 (RunTask 503 while fail_run > 0). a must outlive the server's use.
 */
void fake_agent_routes(struct fx *f, struct fake_agent *a);

/* The agent POSTs a StatusUpdate for task (16-byte uuid of byte b) to m; asserts the answer is
 * expect. */
void fake_agent_update(struct fx *f, struct master *m, const char *agent, const char *fid,
		       const char *task, Mesos__V1__TaskState state, uint8_t b, int expect);
/* Re-registers agent id (key host) with one RUNNING task of framework fid using cpus:1; asserts
 * 200. */
void fake_agent_reregister(struct fx *f, struct master *m, const char *id, const char *host,
			   const char *fid, const char *task);

#endif
