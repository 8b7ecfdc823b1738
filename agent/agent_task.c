/* Tasks on the containerizer: checkpoint, launch, watch, kill, recover, map exits to Mesos states.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent/agent_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "runtime/util.h"

#define TASK_PATH_DEFAULT "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static struct agent_task *task_new(struct agent *a, const char *framework_id, const char *task_id)
{
	struct agent_task *t = keel_calloc(1, sizeof(*t));
	size_t fl = strlen(framework_id), tl = strlen(task_id);

	if (!t)
		return NULL;
	t->agent = a;
	t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
	t->key = keel_malloc(fl + tl + 2);
	t->framework_id = keel_strdup(framework_id);
	t->task_id = keel_strdup(task_id);
	if (!t->key || !t->framework_id || !t->task_id)
		goto fail;
	memcpy(t->key, framework_id, fl);
	t->key[fl] = '/';
	memcpy(t->key + fl + 1, task_id, tl + 1);
	if (keel_hmap_put(&a->tasks, t->key, t, NULL) < 0)
		goto fail;
	return t;
fail:
	keel_free(t->key);
	keel_free(t->framework_id);
	keel_free(t->task_id);
	keel_free(t);
	return NULL;
}

/* Takes t out of its group's ring (and the group map, if it was the one listed). */
static void task_group_unlink(struct agent_task *t)
{
	struct agent *a = t->agent;

	if (!t->group_key)
		return;
	if (keel_hmap_get(&a->groups, t->group_key) == t) {
		if (t->group_next == t)
			keel_hmap_del(&a->groups, t->group_key);
		else
			keel_hmap_put(&a->groups, t->group_next->group_key, t->group_next, NULL);
	}
	t->group_prev->group_next = t->group_next;
	t->group_next->group_prev = t->group_prev;
	keel_free(t->group_key);
	t->group_key = NULL;
}

static void task_free(struct agent_task *t)
{
	task_group_unlink(t);
	agent_update_task_free(t);
	if (t->run)
		keel_pbjson_free(&t->run->base);
	keel_free(t->key);
	keel_free(t->framework_id);
	keel_free(t->task_id);
	keel_free(t);
}

/* Store key "<prefix>/<task key>". */
static void task_store_key(const struct agent_task *t, char prefix, char *out, size_t size)
{
	snprintf(out, size, "%c/%s", prefix, t->key);
}

void agent_task_forget(struct agent_task *t)
{
	struct agent *a = t->agent;
	char key[1100];

	task_store_key(t, 't', key, sizeof(key));
	agent_store_del(a->store, key, NULL);
	task_store_key(t, 'c', key, sizeof(key));
	agent_store_del(a->store, key, NULL);
	agent_flush_soon(a);
	keel_hmap_del(&a->tasks, t->key);
	if (t->ctr_id[0]) {
		keel_hmap_del(&a->by_ctr, t->ctr_id);
		keel_ctr_destroy(a->ctr, t->ctr_id); /* -ENOENT when already destroyed */
		agent_gc_schedule(a, t->ctr_id, t->key);
	}
	task_free(t);
}

/* Whether the task's framework has capability `type`. */
static bool task_fw_capable(const struct agent_task *t,
			    Mesos__V1__FrameworkInfo__Capability__Type type)
{
	const Mesos__V1__FrameworkInfo *fw = t->run ? t->run->framework : NULL;

	for (size_t i = 0; fw && i < fw->n_capabilities; i++)
		if (fw->capabilities[i]->has_type && fw->capabilities[i]->type == type)
			return true;
	return false;
}

static bool task_killing_capable(const struct agent_task *t)
{
	return task_fw_capable(t, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE);
}

static bool task_partition_aware(const struct agent_task *t)
{
	return task_fw_capable(t, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE);
}

/* A TASK_FAILED update with reason and a formatted message. */
static void KEEL_PRINTF(3, 4)
    task_fail(struct agent_task *t, Mesos__V1__TaskStatus__Reason reason, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->agent->n_tasks_failed++;
	agent_update_add(t, MESOS__V1__TASK_STATE__TASK_FAILED, reason, true, msg);
}

static void task_kill(struct agent_task *t, uint32_t grace_ms);
static uint32_t task_grace_ms(const struct agent_task *t, const Mesos__V1__KillPolicy *policy);

/* The executor ID of a task launched in a task group (LAUNCH_GROUP), or NULL. */
static const char *task_group_of(const struct agent_task *t)
{
	const Keel__Agent__RunTask *r = t->run;

	return r && r->executor && r->executor->executor_id ? r->executor->executor_id->value
							    : NULL;
}

/*
 * Gives t its run and, for a task of a group, links it into the group's ring.
 * -ENOMEM leaves t without a run.
 */
static int task_set_run(struct agent_task *t, Keel__Agent__RunTask *run)
{
	struct agent *a = t->agent;
	struct agent_task *first;
	const char *group;

	t->run = run;
	t->group_prev = t->group_next = t;
	if (!(group = task_group_of(t)))
		return 0;
	if (!(t->group_key = keel_malloc(strlen(t->framework_id) + strlen(group) + 2))) {
		t->run = NULL;
		return -ENOMEM;
	}
	sprintf(t->group_key, "%s/%s", t->framework_id, group);
	if (!(first = keel_hmap_get(&a->groups, t->group_key))) {
		if (keel_hmap_put(&a->groups, t->group_key, t, NULL) < 0) {
			keel_free(t->group_key);
			t->group_key = NULL;
			t->run = NULL;
			return -ENOMEM;
		}
		return 0;
	}
	t->group_next = first;
	t->group_prev = first->group_prev;
	first->group_prev->group_next = t;
	first->group_prev = t;
	return 0;
}

/*
 * As Mesos's default executor does: when a task of a group ends other than FINISHED, every
 * other live task of the group is killed (a walk of the group's ring only).
 */
static void task_group_end(struct agent_task *t)
{
	struct agent_task *o;

	if (!t->group_key || !t->terminal || t->state == MESOS__V1__TASK_STATE__TASK_FINISHED)
		return;
	for (o = t->group_next; o != t; o = o->group_next)
		if (!o->terminal)
			task_kill(o, task_grace_ms(o, NULL));
}

/* The terminal update for a task whose container ended with st. */
static void task_exited(struct agent_task *t, const struct keel_ctr_status *st)
{
	struct agent *a = t->agent;

	if (t->terminal)
		return;
	/* A task that ran (however briefly) was RUNNING first, as Mesos reports it. */
	if (!t->reboot_lost &&
	    (st->reason == KEEL_CTR_REASON_EXITED || st->reason == KEEL_CTR_REASON_SIGNALED ||
	     st->reason == KEEL_CTR_REASON_OOM) &&
	    (t->state == MESOS__V1__TASK_STATE__TASK_STAGING ||
	     t->state == MESOS__V1__TASK_STATE__TASK_STARTING))
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_RUNNING, 0, false, NULL);
	if (t->reboot_lost) {
		a->n_tasks_lost++;
		agent_update_add(t,
				 task_partition_aware(t) ? MESOS__V1__TASK_STATE__TASK_GONE
							 : MESOS__V1__TASK_STATE__TASK_LOST,
				 MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_RESTARTED, true,
				 "The host rebooted");
	} else if (st->reason == KEEL_CTR_REASON_OOM || (st->limits_hit & KEEL_CTR_LIMIT_MEMORY)) {
		a->n_tasks_failed++;
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_FAILED,
				 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY,
				 true, "Memory limit exceeded");
	} else if (st->reason == KEEL_CTR_REASON_KILLED || t->kill_requested) {
		a->n_tasks_killed++;
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_KILLED, 0, false,
				 "Command terminated by a kill request");
	} else if (st->reason == KEEL_CTR_REASON_EXITED && st->exit_code == 0) {
		a->n_tasks_finished++;
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_FINISHED, 0, false,
				 "Command exited with status 0");
	} else if (st->reason == KEEL_CTR_REASON_EXITED) {
		task_fail(t, MESOS__V1__TASK_STATUS__REASON__REASON_COMMAND_EXECUTOR_FAILED,
			  "Command exited with status %d", st->exit_code);
	} else if (st->reason == KEEL_CTR_REASON_SIGNALED) {
		task_fail(t, MESOS__V1__TASK_STATUS__REASON__REASON_COMMAND_EXECUTOR_FAILED,
			  "Command terminated with signal %d", st->signal);
	} else if (st->reason == KEEL_CTR_REASON_LAUNCH_FAILED) {
		task_fail(t, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
			  "Failed to launch container: %s", st->message);
	} else if (a->rebooted) {
		a->n_tasks_lost++;
		agent_update_add(t,
				 task_partition_aware(t) ? MESOS__V1__TASK_STATE__TASK_GONE
							 : MESOS__V1__TASK_STATE__TASK_LOST,
				 MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_RESTARTED, true,
				 "The host rebooted");
	} else {
		a->n_tasks_failed++;
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_FAILED,
				 MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED, true,
				 "The container's supervisor vanished");
	}
}

static void task_on_event(void *data, const char *id, const struct keel_ctr_status *st)
{
	struct agent *a = data;
	struct agent_task *t = keel_hmap_get(&a->by_ctr, id);

	if (!t) {
		/* A container no task knows (its task was forgotten): remove it. */
		if (st->state == KEEL_CTR_EXITED)
			keel_ctr_destroy(a->ctr, id);
		return;
	}
	if (st->state == KEEL_CTR_RUNNING && !t->terminal &&
	    t->state != MESOS__V1__TASK_STATE__TASK_RUNNING &&
	    t->state != MESOS__V1__TASK_STATE__TASK_KILLING) {
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_RUNNING, 0, false, NULL);
	} else if (st->state == KEEL_CTR_EXITED) {
		task_exited(t, st);
		task_group_end(t);
		/* The sandbox stays for --gc_delay; the container's checkpoint and cgroups go. */
		keel_hmap_del(&a->by_ctr, id);
		keel_ctr_destroy(a->ctr, id);
	}
}

static void task_on_ctr_fd(struct keel_poll *p, int revents, void *arg)
{
	struct agent *a = arg;

	if (keel_ctr_process(a->ctr) < 0)
		KEEL_ERROR("agent", "containerizer: %s", keel_ctr_errmsg(a->ctr));
}

/* The image reference of a task, or NULL. */
static const char *task_image(const Mesos__V1__TaskInfo *ti)
{
	const Mesos__V1__ContainerInfo *ci = ti->container;

	if (!ci || !ci->mesos || !ci->mesos->image || !ci->mesos->image->docker)
		return NULL;
	return ci->mesos->image->docker->name;
}

/* Why a RunTask cannot launch, or NULL. */
static const char *task_invalid(const Keel__Agent__RunTask *run)
{
	const Mesos__V1__TaskInfo *ti = run->task;

	if (!ti)
		return "RunTask has no task";
	if (ti->executor)
		return "custom executors are not supported: give a CommandInfo";
	if (!ti->command)
		return "TaskInfo has no command";
	if (ti->container) {
		const Mesos__V1__ContainerInfo *ci = ti->container;

		if (ci->type != MESOS__V1__CONTAINER_INFO__TYPE__MESOS)
			return "only ContainerInfo type MESOS is supported";
		if (ci->mesos && ci->mesos->image &&
		    (ci->mesos->image->type != MESOS__V1__IMAGE__TYPE__DOCKER ||
		     !ci->mesos->image->docker))
			return "only DOCKER images (from the local store) are supported";
		for (size_t i = 0; i < ci->n_volumes; i++)
			if (!ci->volumes[i]->host_path)
				return "volumes need a host_path";
	}
	if ((!ti->command->value || !*ti->command->value) &&
	    !(task_image(ti) && ti->command->has_shell && !ti->command->shell))
		return "CommandInfo.value is empty";
	for (size_t i = 0; ti->command->environment && i < ti->command->environment->n_variables;
	     i++) {
		const Mesos__V1__Environment__Variable *v = ti->command->environment->variables[i];

		if (!v->value || strchr(v->name, '='))
			return "environment variables need a name without '=' and a value";
	}
	return NULL;
}

/* Sums a scalar resource of the task. */
static double task_scalar(const Mesos__V1__TaskInfo *ti, const char *name)
{
	double sum = 0;

	for (size_t i = 0; i < ti->n_resources; i++)
		if (strcmp(ti->resources[i]->name, name) == 0 && ti->resources[i]->scalar)
			sum += ti->resources[i]->scalar->value;
	return sum;
}

/* Launches the task's container; a failure is reported as an update. */
static void task_launch(struct agent_task *t)
{
	struct agent *a = t->agent;
	const Mesos__V1__TaskInfo *ti = t->run->task;
	const Mesos__V1__CommandInfo *cmd = ti->command;
	size_t n_env = cmd->environment ? cmd->environment->n_variables : 0;
	const char **argv = NULL, **env = NULL;
	char **env_store = NULL;
	struct keel_ctr_spec spec = {0};
	struct keel_ctr_mount *mounts = NULL;
	char id[KEEL_CTR_ID_SIZE], key[1100], sandbox[4096];
	uint8_t rnd[12];
	size_t n = 0;
	int rv;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (uint8_t)random();
	n = (size_t)snprintf(t->ctr_id, sizeof(t->ctr_id), "task-");
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += (size_t)snprintf(t->ctr_id + n, sizeof(t->ctr_id) - n, "%02x", rnd[i]);
	snprintf(sandbox, sizeof(sandbox), "%s/sandboxes/%s", a->work_dir, t->ctr_id);
	argv = keel_calloc(cmd->n_arguments + 4, sizeof(*argv));
	env = keel_calloc(n_env + 7, sizeof(*env));
	env_store = keel_calloc(n_env + 6, sizeof(*env_store));
	if (!argv || !env || !env_store)
		goto oom;
	n = 0;
	if (!cmd->has_shell || cmd->shell) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = cmd->value;
	} else if (cmd->value && *cmd->value) {
		argv[n++] = cmd->value;
		for (size_t i = 1; i < cmd->n_arguments; i++)
			argv[n++] = cmd->arguments[i];
	}
	n = 0;
	if (asprintf(&env_store[n++], "MESOS_SANDBOX=%s", sandbox) < 0 ||
	    asprintf(&env_store[n++], "MESOS_TASK_ID=%s", t->task_id) < 0 ||
	    asprintf(&env_store[n++], "MESOS_FRAMEWORK_ID=%s", t->framework_id) < 0 ||
	    asprintf(&env_store[n++], "MESOS_AGENT_ID=%s", a->agent_id ? a->agent_id : "") < 0)
		goto oom;
	for (size_t i = 0; i < n_env; i++) {
		const Mesos__V1__Environment__Variable *v = cmd->environment->variables[i];

		if (asprintf(&env_store[n++], "%s=%s", v->name, v->value) < 0)
			goto oom;
	}
	env[0] = TASK_PATH_DEFAULT;
	for (size_t i = 0; i < n; i++)
		env[i + 1] = env_store[i];
	spec.id = t->ctr_id;
	spec.argv = n > 0 ? argv : NULL; /* NULL: the image's entrypoint and cmd */
	spec.image = task_image(ti);
	if (ti->container) {
		spec.hostname = ti->container->hostname;
		mounts = keel_calloc(ti->container->n_volumes + 1, sizeof(*mounts));
		if (!mounts)
			goto oom;
		for (size_t i = 0; i < ti->container->n_volumes; i++) {
			const Mesos__V1__Volume *v = ti->container->volumes[i];

			mounts[i].source = v->host_path;
			mounts[i].target = v->container_path;
			mounts[i].readonly = v->mode == MESOS__V1__VOLUME__MODE__RO;
		}
		spec.mounts = mounts;
		spec.n_mounts = ti->container->n_volumes;
	}
	spec.env = env;
	spec.sandbox = NULL; /* <work_dir>/sandboxes/<id> */
	spec.user = cmd->user && *cmd->user				  ? cmd->user
		    : t->run->framework->user && *t->run->framework->user ? t->run->framework->user
									  : NULL;
	spec.launcher = a->launcher == KEEL_AGENT_LAUNCHER_LINUX   ? KEEL_CTR_LAUNCHER_LINUX
			: a->launcher == KEEL_AGENT_LAUNCHER_POSIX ? KEEL_CTR_LAUNCHER_POSIX
								   : KEEL_CTR_LAUNCHER_DEFAULT;
	if (a->cgroups) {
		spec.cpus = task_scalar(ti, "cpus");
		spec.mem_bytes = (int64_t)(task_scalar(ti, "mem") * 1024 * 1024);
	}
	spec.kill_grace_ms = (uint32_t)(a->grace_ns / 1000000);
	if (ti->kill_policy && ti->kill_policy->grace_period)
		spec.kill_grace_ms =
		    (uint32_t)(ti->kill_policy->grace_period->nanoseconds / 1000000);
	/* The container ID is durable before the container exists: a restart finds it. */
	task_store_key(t, 'c', key, sizeof(key));
	if (agent_store_put(a->store, key, t->ctr_id, strlen(t->ctr_id), a->errmsg) < 0 ||
	    agent_store_commit(a->store, a->errmsg) < 0) {
		KEEL_ERROR("agent", "%s", a->errmsg);
		t->ctr_id[0] = '\0';
		a->n_tasks_failed++;
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_FAILED,
				 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
				 true, "cannot checkpoint the container ID");
		goto out;
	}
	if ((rv = keel_ctr_launch(a->ctr, &spec, id)) < 0) {
		char msg[400];

		agent_store_del(a->store, key, NULL);
		t->ctr_id[0] = '\0';
		if (rv == -EINVAL || rv == -ENOENT) {
			/* The spec cannot run here as given (an image not in the store, a user
			 * unknown to the host or the image, a missing volume source): refused
			 * before anything was created, so the task is invalid, not failed. */
			snprintf(msg, sizeof(msg), "Task is invalid: %s", keel_ctr_errmsg(a->ctr));
			a->n_tasks_error++;
			agent_update_add(t, MESOS__V1__TASK_STATE__TASK_ERROR,
					 MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, true,
					 msg);
			goto out;
		}
		snprintf(msg, sizeof(msg), "Failed to launch container: %s",
			 keel_ctr_errmsg(a->ctr));
		a->n_tasks_failed++;
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_FAILED,
				 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED,
				 true, msg);
		goto out;
	}
	if (keel_hmap_put(&a->by_ctr, t->ctr_id, t, NULL) < 0) {
		keel_ctr_kill(a->ctr, t->ctr_id, 0);
		goto oom;
	}
	a->n_tasks_launched++;
	agent_update_add(t, MESOS__V1__TASK_STATE__TASK_STARTING, 0, false, NULL);
	goto out;
oom:
	KEEL_ERROR("agent", "task %s: out of memory", t->key);
	a->n_tasks_failed++;
	agent_update_add(t, MESOS__V1__TASK_STATE__TASK_FAILED,
			 MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, true,
			 "out of memory");
out:
	for (size_t i = 0; env_store && i < n_env + 6; i++)
		free(env_store[i]);
	keel_free(env_store);
	keel_free(env);
	keel_free(argv);
	keel_free(mounts);
}

/* One task of a RunTask (run is owned by the task from here on, or freed). */
static int task_run_one(struct agent *a, Keel__Agent__RunTask *run, const char *task_id,
			const char *invalid, char *errmsg)
{
	struct agent_task *t;
	struct keel_buf packed = KEEL_BUF_INIT;
	char key[1100];
	size_t len;

	snprintf(key, sizeof(key), "%s/%s", run->framework->id->value, task_id);
	if (keel_hmap_get(&a->tasks, key)) {
		keel_pbjson_free(&run->base);
		return 0; /* a repeated RunTask changes nothing */
	}
	if (!(t = task_new(a, run->framework->id->value, task_id))) {
		keel_pbjson_free(&run->base);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	if (task_set_run(t, run) < 0) {
		keel_hmap_del(&a->tasks, t->key);
		task_free(t);
		keel_pbjson_free(&run->base);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	len = protobuf_c_message_get_packed_size(&run->base);
	task_store_key(t, 't', key, sizeof(key));
	if (keel_buf_reserve(&packed, len) < 0) {
		agent_task_forget(t);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	protobuf_c_message_pack(&run->base, (uint8_t *)keel_buf_wptr(&packed));
	keel_buf_commit(&packed, len);
	if (agent_store_put(a->store, key, keel_buf_rptr(&packed), len, errmsg) < 0) {
		keel_buf_free(&packed);
		agent_task_forget(t);
		return -EIO;
	}
	keel_buf_free(&packed);
	if (invalid) {
		a->n_tasks_error++;
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_ERROR,
				 run->task_group
				     ? MESOS__V1__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID
				     : MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID,
				 true, invalid);
	} else {
		task_launch(t);
		task_group_end(t); /* a launch that failed at once */
	}
	/* The 202 means checkpointed. */
	if (agent_store_commit(a->store, errmsg) < 0)
		return -EIO;
	return 0;
}

/*
 * A task group (LAUNCH_GROUP): each task runs in a container of its own, all checkpointed with
 * the group's executor, so that a task ending other than FINISHED takes the others down
 * (task_group_end). One invalid task makes the whole group TASK_ERROR
 * (REASON_TASK_GROUP_INVALID), as Mesos validates a group as a whole.
 */
static int task_run_group(struct agent *a, Keel__Agent__RunTask *run, char *errmsg)
{
	Mesos__V1__TaskGroupInfo *g = run->task_group;
	struct keel_buf packed = KEEL_BUF_INIT;
	size_t len = protobuf_c_message_get_packed_size(&run->base);
	char why[600] = "";
	int rv = 0;

	for (size_t i = 0; i < g->n_tasks && why[0] == '\0'; i++) {
		Keel__Agent__RunTask probe = *run;
		const char *bad;

		probe.task = g->tasks[i];
		probe.task_group = NULL;
		if ((bad = task_invalid(&probe)) != NULL)
			snprintf(why, sizeof(why), "Task group is invalid: task '%s': %s",
				 g->tasks[i]->task_id->value, bad);
	}
	if (g->n_tasks == 0 || run->executor == NULL || run->executor->executor_id == NULL) {
		keel_pbjson_free(&run->base);
		return keel_errf(errmsg, -EINVAL,
				 "RunTask: a task group needs tasks and an executor");
	}
	if (keel_buf_reserve(&packed, len) < 0) {
		keel_pbjson_free(&run->base);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	protobuf_c_message_pack(&run->base, (uint8_t *)keel_buf_wptr(&packed));
	keel_buf_commit(&packed, len);
	for (size_t i = 0; i < g->n_tasks && rv == 0; i++) {
		Keel__Agent__RunTask *copy = NULL;
		Mesos__V1__TaskGroupInfo *cg;

		if ((rv = keel_pbjson_unpack(&keel__agent__run_task__descriptor,
					     keel_buf_rptr(&packed), len,
					     (ProtobufCMessage **)&copy, errmsg)) < 0)
			break;
		if (why[0] != '\0') {
			/* Kept as a group: the reason says TASK_GROUP_INVALID. */
			rv = task_run_one(a, copy, g->tasks[i]->task_id->value, why, errmsg);
			continue;
		}
		/* This task alone, with the group's executor: task i moves out of the group. */
		cg = copy->task_group;
		copy->task = cg->tasks[i];
		cg->tasks[i] = cg->tasks[cg->n_tasks - 1];
		cg->n_tasks--;
		copy->task_group = NULL;
		keel_pbjson_free(&cg->base);
		rv = task_run_one(a, copy, copy->task->task_id->value, NULL, errmsg);
	}
	keel_buf_free(&packed);
	keel_pbjson_free(&run->base);
	return rv;
}

int agent_task_run(struct agent *a, Keel__Agent__RunTask *run, char *errmsg)
{
	if (run->task_group)
		return task_run_group(a, run, errmsg);
	if (!run->task) {
		keel_pbjson_free(&run->base);
		return keel_errf(errmsg, -EINVAL, "RunTask has neither task nor task_group");
	}
	return task_run_one(a, run, run->task->task_id->value, task_invalid(run), errmsg);
}

/* Asks the container of t to stop, with grace_ms. */
static void task_kill(struct agent_task *t, uint32_t grace_ms)
{
	struct agent *a = t->agent;

	if (t->terminal || t->kill_requested)
		return;
	t->kill_requested = true;
	if (task_killing_capable(t))
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_KILLING, 0, false, NULL);
	if (t->ctr_id[0] && keel_hmap_get(&a->by_ctr, t->ctr_id)) {
		if (keel_ctr_kill(a->ctr, t->ctr_id, grace_ms) < 0)
			KEEL_ERROR("agent", "kill %s: %s", t->key, keel_ctr_errmsg(a->ctr));
	} else {
		a->n_tasks_killed++;
		agent_update_add(t, MESOS__V1__TASK_STATE__TASK_KILLED, 0, false,
				 "Killed before it was launched");
	}
}

/* The grace period of t: the kill's policy, else the task's, else the agent default. */
static uint32_t task_grace_ms(const struct agent_task *t, const Mesos__V1__KillPolicy *policy)
{
	const Mesos__V1__TaskInfo *ti = t->run ? t->run->task : NULL;

	if (policy && policy->grace_period)
		return (uint32_t)(policy->grace_period->nanoseconds / 1000000);
	if (ti && ti->kill_policy && ti->kill_policy->grace_period)
		return (uint32_t)(ti->kill_policy->grace_period->nanoseconds / 1000000);
	return (uint32_t)(t->agent->grace_ns / 1000000);
}

void agent_task_kill(struct agent *a, const char *framework_id, const char *task_id,
		     const Mesos__V1__KillPolicy *policy)
{
	char key[1100];
	struct agent_task *t;

	snprintf(key, sizeof(key), "%s/%s", framework_id, task_id);
	if ((t = keel_hmap_get(&a->tasks, key))) {
		task_kill(t, task_grace_ms(t, policy));
		return;
	}
	/* Unknown: answer with TASK_LOST (REASON_TASK_UNKNOWN) from a stub task. */
	if (!(t = task_new(a, framework_id, task_id))) {
		KEEL_ERROR("agent", "kill of unknown task %s: out of memory", key);
		return;
	}
	task_store_key(t, 't', key, sizeof(key));
	agent_store_put(a->store, key, "", 0, NULL);
	a->n_tasks_lost++;
	agent_update_add(t, MESOS__V1__TASK_STATE__TASK_LOST,
			 MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNKNOWN, true,
			 "Cannot find the task on this agent");
}

void agent_framework_shutdown(struct agent *a, const char *framework_id)
{
	const char *key;
	void *val;
	size_t pos = 0;

	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		struct agent_task *t = val;

		if (strcmp(t->framework_id, framework_id) == 0)
			task_kill(t, task_grace_ms(t, NULL));
	}
}

void agent_tasks_kill_all(struct agent *a)
{
	const char *key;
	void *val;
	size_t pos = 0;

	while (keel_hmap_next(&a->tasks, &pos, &key, &val))
		task_kill(val, 0);
}

/* A Task entry of a ReregisterAgent with the storage it points to. */
struct task_entry {
	Mesos__V1__Task task;	/* the entry */
	Mesos__V1__AgentID aid; /* its agent_id */
};

int agent_tasks_fill(struct agent *a, Keel__Agent__ReregisterAgent *m)
{
	size_t n = a->tasks.count, nt = 0, nf = 0;
	struct task_entry *e = keel_calloc(n ? n : 1, sizeof(*e));
	Mesos__V1__Task **tasks = keel_calloc(n ? n : 1, sizeof(*tasks));
	Mesos__V1__FrameworkInfo **fws = keel_calloc(n ? n : 1, sizeof(*fws));
	const char *key;
	void *val;
	size_t pos = 0;

	if (!e || !tasks || !fws) {
		keel_free(e);
		keel_free(tasks);
		keel_free(fws);
		return -ENOMEM;
	}
	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		struct agent_task *t = val;
		Mesos__V1__Task *task = &e[nt].task;
		bool seen = false;

		if (!t->run || !t->run->task)
			continue;
		mesos__v1__task__init(task);
		mesos__v1__agent_id__init(&e[nt].aid);
		e[nt].aid.value = a->agent_id;
		task->name = t->run->task->name;
		task->task_id = t->run->task->task_id;
		task->framework_id = t->run->framework->id;
		task->agent_id = &e[nt].aid;
		task->state = t->state;
		task->n_resources = t->run->task->n_resources;
		task->resources = t->run->task->resources;
		if (t->head) {
			task->has_status_update_state = true;
			task->status_update_state = t->head->state;
			task->has_status_update_uuid = true;
			task->status_update_uuid.data = t->head->uuid;
			task->status_update_uuid.len = sizeof(t->head->uuid);
		}
		task->kill_policy = t->run->task->kill_policy;
		task->container = t->run->task->container;
		tasks[nt++] = task;
		for (size_t i = 0; i < nf; i++)
			if (strcmp(fws[i]->id->value, t->framework_id) == 0)
				seen = true;
		if (!seen)
			fws[nf++] = t->run->framework;
	}
	if (nt == 0)
		keel_free(e); /* else tasks[0] points at it: agent_tasks_fill_free frees it */
	m->n_tasks = nt;
	m->tasks = tasks;
	m->n_frameworks = nf;
	m->frameworks = fws;
	return 0;
}

void agent_tasks_fill_free(Keel__Agent__ReregisterAgent *m)
{
	/* tasks[0] is the start of the entry array (each entry starts with its Task). */
	if (m->tasks)
		keel_free(m->n_tasks ? (void *)m->tasks[0] : NULL);
	keel_free(m->tasks);
	keel_free(m->frameworks);
	m->tasks = NULL;
	m->frameworks = NULL;
}

/* Scan callback: one checkpointed task. */
static int task_load_one(void *arg, const char *key, const void *val, size_t len)
{
	struct agent *a = arg;
	Keel__Agent__RunTask *run = NULL;
	struct agent_task *t;
	struct keel_buf cid = KEEL_BUF_INIT;
	const char *slash = strchr(key + 2, '/');
	char fw[512];
	char ckey[1100];

	if (!slash || (size_t)(slash - key - 2) >= sizeof(fw))
		return 0;
	memcpy(fw, key + 2, (size_t)(slash - key - 2));
	fw[slash - key - 2] = '\0';
	if (len > 0 && keel_pbjson_unpack(&keel__agent__run_task__descriptor, val, len,
					  (ProtobufCMessage **)&run, NULL) < 0) {
		KEEL_WARN("agent", "checkpoint %s: not a RunTask; ignored", key);
		return 0;
	}
	if (!(t = task_new(a, fw, slash + 1))) {
		if (run)
			keel_pbjson_free(&run->base);
		return -ENOMEM;
	}
	if (task_set_run(t, run) < 0) {
		keel_hmap_del(&a->tasks, t->key);
		task_free(t);
		keel_pbjson_free(&run->base);
		return -ENOMEM;
	}
	snprintf(ckey, sizeof(ckey), "c/%s", t->key);
	if (agent_store_get(a->store, ckey, &cid, NULL) == 0 && keel_buf_size(&cid) > 0 &&
	    keel_buf_size(&cid) < sizeof(t->ctr_id)) {
		memcpy(t->ctr_id, cid.data, keel_buf_size(&cid));
		t->ctr_id[keel_buf_size(&cid)] = '\0';
	}
	keel_buf_free(&cid);
	if (!run)
		t->terminal = true; /* a stub for an unknown task's TASK_LOST */
	return 0;
}

/* After loading: attach tasks to recovered containers; report those that vanished. */
static void task_reconcile(struct agent *a)
{
	const char *key;
	void *val;
	size_t pos = 0;

	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		struct agent_task *t = val;
		struct keel_ctr_status st;

		if (t->head)
			t->state = t->tail->state;
		if (t->ctr_id[0] && keel_ctr_status(a->ctr, t->ctr_id, &st) == 0) {
			if (t->terminal) {
				keel_ctr_destroy(a->ctr, t->ctr_id);
			} else if (keel_hmap_put(&a->by_ctr, t->ctr_id, t, NULL) < 0) {
				KEEL_ERROR("agent", "recover %s: out of memory", t->key);
			} else if (a->rebooted) {
				/* Started under another boot: not to be trusted, report it gone. */
				t->reboot_lost = true;
				t->kill_requested = true;
				keel_ctr_kill(a->ctr, t->ctr_id, 0);
			} else if (a->recover == KEEL_AGENT_RECOVER_CLEANUP) {
				task_kill(t, 0);
			}
			continue;
		}
		if (t->terminal) {
			if (!t->head)
				agent_task_forget(t);
			continue;
		}
		/* No container: it was never launched, or it is gone without a trace. */
		struct keel_ctr_status lost = {.state = KEEL_CTR_EXITED,
					       .reason = KEEL_CTR_REASON_LOST};

		task_exited(t, &lost);
	}
}

int agent_tasks_open(struct agent *a, char *errmsg)
{
	struct keel_ctr_config cc = {0};
	struct keel_buf boot = KEEL_BUF_INIT;
	size_t n = 0;
	int rv;

	if ((rv = agent_store_scan(a->store, "t/", task_load_one, a, errmsg)) < 0 ||
	    (rv = agent_updates_load(a, errmsg)) < 0)
		return rv;
	if (agent_store_get(a->store, "agent/boot", &boot, NULL) == 0) {
		a->rebooted = keel_buf_size(&boot) != strlen(a->boot_id) ||
			      memcmp(boot.data, a->boot_id, keel_buf_size(&boot)) != 0;
	}
	keel_buf_free(&boot);
	if ((rv = agent_store_put(a->store, "agent/boot", a->boot_id, strlen(a->boot_id), errmsg)) <
	    0)
		return rv;
	cc.work_dir = a->work_dir;
	cc.cgroup_mode = a->cgroups ? KEEL_CTR_CGROUP_AUTO : KEEL_CTR_CGROUP_NONE;
	cc.image_dir = a->image_dir;
	cc.on_event = task_on_event;
	cc.event_data = a;
	if ((rv = keel_ctr_open(&cc, &a->ctr, errmsg)) < 0)
		return rv;
	if (keel_ctr_recover(a->ctr, &n) < 0)
		KEEL_WARN("agent", "recover: %s", keel_ctr_errmsg(a->ctr));
	if ((rv = keel_poll_new(a->loop, keel_ctr_fd(a->ctr), task_on_ctr_fd, a, &a->ctr_poll)) <
		0 ||
	    (rv = keel_poll_start(a->ctr_poll, KEEL_POLL_IN)) < 0)
		return keel_errf(errmsg, rv, "poll the containerizer");
	task_reconcile(a);
	if (n || a->tasks.count)
		KEEL_INFO("agent", "recovered %zu containers, %zu tasks%s", n, a->tasks.count,
			  a->rebooted ? " (the host rebooted)" : "");
	agent_flush_soon(a);
	return agent_store_commit(a->store, errmsg);
}

void agent_tasks_close(struct agent *a)
{
	const char *key;
	void *val;
	size_t pos = 0;

	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		keel_hmap_del(&a->tasks, key);
		task_free(val);
	}
	keel_hmap_free(&a->tasks);
	keel_hmap_free(&a->groups);
	keel_hmap_free(&a->by_ctr);
	if (a->ctr_poll)
		keel_poll_close(a->ctr_poll);
	a->ctr_poll = NULL;
	keel_ctr_close(a->ctr);
	a->ctr = NULL;
	keel_timer_free(a->flush_timer);
	a->flush_timer = NULL;
}
