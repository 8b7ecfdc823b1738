/* keel-emu-agents' tasks: RunTask/KillTask/StatusAck/ShutdownFramework and status updates. */
#ifndef KEEL_TESTS_TOOLS_EMU_TASKS_H
#define KEEL_TESTS_TOOLS_EMU_TASKS_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/mesos/v1/mesos.pb-c.h"
#include "runtime/buf.h"
#include "runtime/http_server.h"
#include "runtime/loop.h"

/* How an emulated task ends. */
enum emu_task_end {
	EMU_TASK_FINISHED = 0, /* TASK_FINISHED after task_ms */
	EMU_TASK_FAILED = 1,   /* TASK_FAILED after task_ms */
	EMU_TASK_NEVER = 2,    /* stays RUNNING until killed */
};

struct emu_tasks_config {
	uint64_t task_ms;      /* time from RUNNING to the end */
	enum emu_task_end end; /* how tasks end */
	uint64_t retry_ms;     /* resend an unacknowledged update after this */
};

struct emu_tasks;

/*
 * Routes the four master -> agent task messages on srv (each answered 202,
 * or 409 for a stale epoch) and runs every task: TASK_STARTING and
 * TASK_RUNNING at once, then the configured end. Updates go to the leader
 * (emu_tasks_set_leader) as StatusUpdate, one in flight per task, in order,
 * each resent every retry_ms until its StatusAck. Aborts on out-of-memory
 * (a test tool).
 */
struct emu_tasks *emu_tasks_new(struct keel_loop *loop, struct keel_http_server *srv,
				const struct emu_tasks_config *cfg);
void emu_tasks_free(struct emu_tasks *t);

/* A new leader (epoch 0: none): the connection moves, unacknowledged updates are resent. */
void emu_tasks_set_leader(struct emu_tasks *t, const char *host, uint16_t port, uint64_t epoch);

/*
 * The tasks an agent runs, as Task messages for its ReregisterAgent (newest
 * state, resources). *out is a new array (keel_free it) of pointers valid
 * until the loop runs again. Returns how many.
 */
size_t emu_tasks_of_agent(struct emu_tasks *t, const char *agent_id, Mesos__V1__Task ***out);

/* Appends ,"tasks":{...} (counts by state and message counters) to a JSON object in b. */
void emu_tasks_status(const struct emu_tasks *t, struct keel_buf *b);

#endif
