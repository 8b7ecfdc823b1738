/* The scheduler calls aimed at executors: SHUTDOWN (kill an executor's tasks) and MESSAGE. */
#include <stdio.h>
#include <string.h>

#include "master_int.h"
#include "proto/keel/internal/agent.pb-c.h"
#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "sched.h"
#include "tasks.h"

/* Whether t runs under executor_id: its own executor, or the command executor named after it. */
static bool task_of_executor(const struct master_task *t, const char *executor_id)
{
	const Mesos__V1__Task *task = t->task;

	if (task->executor_id != NULL)
		return strcmp(task->executor_id->value, executor_id) == 0;
	return strcmp(task->task_id->value, executor_id) == 0;
}

size_t master_sched_shutdown_executor(struct master *m, struct master_framework *fw,
				      const Mesos__V1__Scheduler__Call__Shutdown *sd)
{
	const char *agent = sd->agent_id->value;
	const char *executor = sd->executor_id->value;
	Mesos__V1__Scheduler__Call__Kill kill = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
	Mesos__V1__TaskID **ids = NULL;
	size_t n = 0, cap = 0;

	if (master_agent_find(m, agent) == NULL) {
		KEEL_WARN(MASTER_LOG,
			  "cannot shut down executor '%s' of framework %s on unknown agent %s",
			  executor, fw->id, agent);
		return 0;
	}
	/* Collect first: a kill may change the task list. */
	for (struct master_task *t = master_tasks_of(m, fw->id); t != NULL; t = t->next) {
		if (strcmp(t->task->agent_id->value, agent) != 0 ||
		    !task_of_executor(t, executor) || master_task_state_terminal(t->task->state))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			ids = keel_xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = (Mesos__V1__TaskID *)master_pb_copy(&t->task->task_id->base);
	}
	kill.agent_id = sd->agent_id;
	for (size_t i = 0; i < n; i++) {
		kill.task_id = ids[i];
		master_tasks_kill(m, fw, &kill);
		keel_pbjson_free(&ids[i]->base);
	}
	keel_free(ids);
	KEEL_INFO(MASTER_LOG, "shutting down executor '%s' of framework %s on agent %s (%zu tasks)",
		  executor, fw->id, agent, n);
	return n;
}

bool master_sched_message(struct master *m, struct master_framework *fw,
			  const Mesos__V1__Scheduler__Call__Message *msg)
{
	Keel__Agent__FrameworkMessage fm = KEEL__AGENT__FRAMEWORK_MESSAGE__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	struct master_agent *a = master_agent_find(m, msg->agent_id->value);

	if (a == NULL || a->origin == NULL) {
		KEEL_WARN(MASTER_LOG, "cannot send a framework message of %s to %s agent %s",
			  fw->id, a == NULL ? "unknown" : "disconnected", msg->agent_id->value);
		return false;
	}
	fid.value = fw->id;
	fm.agent_id = msg->agent_id;
	fm.epoch = m->epoch;
	fm.framework_id = &fid;
	fm.executor_id = msg->executor_id;
	fm.data = msg->data;
	master_agent_post_once(m, a->origin->name, "/internal/master/framework_message", &fm.base);
	return true;
}
