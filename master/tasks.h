/* keel-master's tasks: ACCEPT/LAUNCH validation, RunTask, status updates, acks, kill, reconcile. */
#ifndef KEEL_MASTER_TASKS_H
#define KEEL_MASTER_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master.h"
#include "proto/mesos/v1/scheduler.pb-c.h"

struct master_framework;
struct keel_http_req;
struct allocator_res;

/*
 * Tasks this leader knows (launched this term, or reported by agents that
 * re-registered), in a hash table by "<framework ID>\x1f<task ID>" and in a
 * list per framework ID. The master side of docs/agent-protocol.md "Tasks and
 * status updates": RunTask, KillTask, StatusAck and ShutdownFramework go to
 * the agent's address and are retried (100 ms doubling to 5 s) until the
 * agent answers 202 or leaves the agents table; POST /internal/agent/status
 * updates the task and forwards the update to the framework as UPDATE with
 * its uuid. A task's resources go back to the allocator at its first
 * terminal update; it is forgotten when that update is acknowledged.
 *
 * Threads: the loop's only. Memory: out-of-memory is fatal.
 */

/* One task. */
struct master_task {
	char *key;			 /* "<framework ID>\x1f<task ID>" (key in by_key) */
	Mesos__V1__Task *task;		 /* what /state and GET_TASKS show (owned) */
	Mesos__V1__TaskStatus *last;	 /* latest status, or NULL while STAGING (owned) */
	char *role;			 /* allocation role */
	struct allocator_res *res;	 /* resources held in the allocator, NULL once recovered */
	struct master_task *prev, *next; /* the framework's list */
};

/* Creates m->tasks and routes POST /internal/agent/status. */
int master_tasks_start(struct master *m, char *errmsg);
/* Frees every task and message in flight. */
void master_tasks_free(struct master *m);

/* Number of tasks known, and the tasks of one framework (a list; NULL when none). */
size_t master_tasks_count(const struct master *m);
struct master_task *master_tasks_of(const struct master *m, const char *framework_id);
/* Iterates every task: start with *pos = 0; false at the end. No changes meanwhile. */
bool master_tasks_next(const struct master *m, size_t *pos, struct master_task **out);
/* The task, or NULL. */
struct master_task *master_task_find(const struct master *m, const char *framework_id,
				     const char *task_id);

/*
 * Scheduler calls (sched.c calls them after its checks). Each answers req
 * itself: ACCEPT 202 (invalid tasks get TASK_ERROR / TASK_DROPPED / TASK_LOST
 * updates, as Mesos), or 501 for operations keel does not support yet
 * (RESERVE, UNRESERVE, CREATE, DESTROY, ...: nothing changes); the others 202.
 * ACCEPT moves fields out of the TaskInfos it launches (name, IDs, resources,
 * labels, kill policy become the master's Task; NULL is left behind): acc must
 * be a decoded call that is only freed (keel_pbjson_free) afterwards.
 */
void master_tasks_accept(struct master *m, struct master_framework *fw,
			 Mesos__V1__Scheduler__Call__Accept *acc, struct keel_http_req *req);
void master_tasks_acknowledge(struct master *m, struct master_framework *fw,
			      const Mesos__V1__Scheduler__Call__Acknowledge *ack);
void master_tasks_kill(struct master *m, struct master_framework *fw,
		       const Mesos__V1__Scheduler__Call__Kill *kill);
void master_tasks_reconcile(struct master *m, struct master_framework *fw,
			    const Mesos__V1__Scheduler__Call__Reconcile *rec);
/* TEARDOWN: ShutdownFramework to every agent with its tasks; its tasks are forgotten. */
void master_tasks_teardown(struct master *m, const char *framework_id);

/* Agent events: tasks it reported when re-registering are learned (allocator use included). */
void master_tasks_agent_reregistered(struct master *m, struct master_agent *a);
/* An agent left: its tasks become TASK_UNREACHABLE (PARTITION_AWARE) or TASK_LOST. */
void master_tasks_agent_lost(struct master *m, struct master_agent *a, bool removed);

/* The allocation role of a task (its first resource's, else "*"). */
const char *master_task_role(const Mesos__V1__Task *task);
/* FINISHED, FAILED, KILLED, LOST, ERROR, DROPPED, GONE, GONE_BY_OPERATOR. */
bool master_task_state_terminal(Mesos__V1__TaskState s);

/* Counters. */
struct master_task_stats {
	uint64_t launched;	 /* tasks sent to agents */
	uint64_t invalid;	 /* tasks refused at ACCEPT */
	uint64_t updates;	 /* status updates received from agents */
	uint64_t forwarded;	 /* updates sent to frameworks */
	uint64_t acks;		 /* acknowledgements routed to agents */
	uint64_t agent_messages; /* messages sent to agents, retries included */
	uint64_t per_state[16];	 /* tasks known by TaskState (index = enum value, clamped) */
	uint64_t reached[16];	 /* tasks that reached each state, ever (terminal counters) */
};
void master_tasks_stats(const struct master *m, struct master_task_stats *out);

#endif
