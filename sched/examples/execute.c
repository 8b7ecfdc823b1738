/* keel-execute: runs one command, or a task group, on the cluster like mesos-execute, prints the
 * sandbox stdout, exits with the (first failing) task's code. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example.h"
#include "runtime/buf.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/loop.h"
#include "runtime/pbjson.h"
#include "sched/scheduler.h"

#define FILES_CHUNK 65536		     /* bytes asked for per /files/read */
#define EXEC_MAX_TASKS 64		     /* tasks in a group */
#define EXECUTOR_ID "default-executor"	     /* the group's executor, as mesos-execute names it */
#define EXECUTOR_RESOURCES "cpus:0.1;mem:32" /* and its resources */

/* One task of the run: the command's, or one of the group's. */
struct exec_task {
	char id[128];	/* task ID */
	char name[128]; /* task name */
	bool running;	/* TASK_RUNNING seen */
	bool done;	/* a terminal update seen */
	bool ran;	/* it ran: FINISHED, FAILED with an exit status, or KILLED while running */
};

/* The run's state. */
struct exec {
	const char *name;		 /* task name (--command) */
	const char *command;		 /* shell command, or NULL */
	const char *image;		 /* container image, or NULL */
	const char *resources;		 /* resource spec of the task (or of group tasks without) */
	const char *group_file;		 /* --task_group file, or NULL */
	Mesos__V1__TaskGroupInfo *group; /* the group read from it (owned), or NULL */
	struct exec_task tasks[EXEC_MAX_TASKS]; /* the tasks, in the order given */
	size_t n_tasks;				/* how many */
	size_t n_done;				/* how many ended */
	bool failed;				/* exit_code holds the first failure's code */
	bool launched;				/* ACCEPT sent */
	int exit_code;				/* what we exit with */
	char agent_id[256];			/* where the tasks run */
	char agent_host[256];			/* the agent's host */
	unsigned agent_port;			/* and port */
	struct keel_http_client *files;		/* client of the agent's /files/read */
	size_t reading;				/* the task whose stdout is being printed */
	uint64_t offset;			/* next offset in its stdout */
	bool finishing;				/* TEARDOWN sent: the stream's end is expected */
	struct keel_sched *s;			/* client */
};

static void teardown_done(struct keel_sched *s, int err, int status, const char *body, size_t len,
			  void *arg)
{
	keel_sched_stop(s);
}

/* Tears the framework down (its tasks are done), then stops the loop. */
static void finish(struct exec *x)
{
	x->finishing = true;
	if (keel_sched_teardown(x->s, teardown_done, x, NULL) < 0)
		keel_sched_stop(x->s);
}

static void print_next(struct exec *x);
static void read_more(struct exec *x);

/* One /files/read answer: {"data":"...","offset":N}; prints data, asks for more until empty. */
static void files_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct exec *x = arg;
	json_t *j, *data;
	size_t n;

	if (err < 0 || resp->status != 200) {
		fprintf(stderr, "keel-execute: cannot read the sandbox stdout from %s:%u: %s\n",
			x->agent_host, x->agent_port,
			err < 0 ? (const char *)strerror(-err)
				: keel_http_status_text(resp->status));
		finish(x);
		return;
	}
	j = json_loadb(resp->body, resp->body_len, 0, NULL);
	data = j != NULL ? json_object_get(j, "data") : NULL;
	if (!json_is_string(data)) {
		fprintf(stderr, "keel-execute: bad /files/read answer from the agent\n");
		json_decref(j);
		finish(x);
		return;
	}
	n = json_string_length(data);
	fwrite(json_string_value(data), 1, n, stdout);
	json_decref(j);
	if (n == 0) {
		fflush(stdout);
		x->reading++;
		print_next(x);
		return;
	}
	x->offset += n;
	read_more(x);
}

static void read_more(struct exec *x)
{
	static const struct keel_http_client_cbs cbs = {.on_done = files_done};
	char path[1024];
	const char *fid = keel_sched_framework_id(x->s);

	/* Mesos's virtual sandbox path; keel's agent serves every task's (a command task's or a
	 * group task's) under its task ID as the executor ID. */
	snprintf(path, sizeof(path),
		 "/files/read?path=/frameworks/%s/executors/%s/runs/latest/stdout&offset=%llu"
		 "&length=%d",
		 fid != NULL ? fid : "", x->tasks[x->reading].id, (unsigned long long)x->offset,
		 FILES_CHUNK);
	if (keel_http_client_request(x->files, "GET", path, NULL, NULL, NULL, 0, &cbs, x) < 0)
		finish(x);
}

/* Prints the stdout of the next task that ran, in the order given; finishes after the last. */
static void print_next(struct exec *x)
{
	char msg[KEEL_ERRMSG_SIZE];

	while (x->reading < x->n_tasks && !x->tasks[x->reading].ran)
		x->reading++;
	if (x->reading == x->n_tasks) {
		finish(x);
		return;
	}
	if (x->files == NULL &&
	    (x->agent_host[0] == '\0' ||
	     keel_http_client_new(keel_sched_loop(x->s), x->agent_host, (uint16_t)x->agent_port,
				  NULL, &x->files, msg) < 0)) {
		fprintf(stderr, "keel-execute: cannot reach the agent for the sandbox stdout\n");
		finish(x);
		return;
	}
	if (x->group != NULL)
		fprintf(stderr, "Stdout of task '%s':\n", x->tasks[x->reading].id);
	x->offset = 0;
	read_more(x);
}

static void on_subscribed(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Subscribed *ev,
			  void *arg)
{
	fprintf(stderr, "Subscribed with ID %s\n", ev->framework_id->value);
}

/* LAUNCH_GROUP of the group on offer o with the default executor. */
static int launch_group(struct exec *x, const Mesos__V1__Offer *o, char *msg)
{
	Mesos__V1__ExecutorInfo ex = MESOS__V1__EXECUTOR_INFO__INIT;
	Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
	Mesos__V1__Offer__Operation__LaunchGroup lg =
	    MESOS__V1__OFFER__OPERATION__LAUNCH_GROUP__INIT;
	const Mesos__V1__Offer__Operation *ops = &op;
	const Mesos__V1__OfferID *offer_id = o->id;
	Mesos__V1__AgentID *given[EXEC_MAX_TASKS];
	int rv;

	eid.value = EXECUTOR_ID;
	fid.value = (char *)keel_sched_framework_id(x->s);
	ex.executor_id = &eid;
	ex.framework_id = &fid;
	ex.has_type = true;
	ex.type = MESOS__V1__EXECUTOR_INFO__TYPE__DEFAULT;
	if ((rv = keel_sched_resources_parse(EXECUTOR_RESOURCES, &ex.resources, &ex.n_resources,
					     msg)) < 0)
		return rv;
	/* Every task on the offer's agent, for the call only. */
	for (size_t i = 0; i < x->n_tasks; i++) {
		given[i] = x->group->tasks[i]->agent_id;
		x->group->tasks[i]->agent_id = o->agent_id;
	}
	lg.executor = &ex;
	lg.task_group = x->group;
	op.has_type = true;
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP;
	op.launch_group = &lg;
	rv = keel_sched_accept(x->s, &offer_id, 1, &ops, 1, NULL, NULL, NULL, msg);
	for (size_t i = 0; i < x->n_tasks; i++)
		x->group->tasks[i]->agent_id = given[i];
	keel_sched_resources_free(ex.resources, ex.n_resources);
	return rv;
}

static int launch_command(struct exec *x, const Mesos__V1__Offer *o, char *msg)
{
	Mesos__V1__TaskInfo *task = NULL;
	int rv;

	if (x->image != NULL)
		rv = keel_sched_task_container(x->name, x->tasks[0].id, o->agent_id->value,
					       x->command, x->image, x->resources, &task, msg);
	else
		rv = keel_sched_task_command(x->name, x->tasks[0].id, o->agent_id->value,
					     x->command, x->resources, &task, msg);
	if (rv == 0)
		rv = keel_sched_launch(x->s, o->id, &task, 1, NULL, NULL, msg);
	keel_sched_msg_free(task);
	return rv;
}

static void on_offers(struct keel_sched *s, Mesos__V1__Offer *const *offers, size_t n, void *arg)
{
	struct exec *x = arg;
	char msg[KEEL_ERRMSG_SIZE];
	size_t i = 0;

	if (!x->launched) {
		const Mesos__V1__Offer *o = offers[0];
		int rv = x->group != NULL ? launch_group(x, o, msg) : launch_command(x, o, msg);
		if (rv < 0) {
			fprintf(stderr, "keel-execute: cannot launch: %s\n", msg);
			x->exit_code = 1;
			finish(x);
			return;
		}
		snprintf(x->agent_id, sizeof(x->agent_id), "%s", o->agent_id->value);
		if (o->url != NULL && o->url->address != NULL) {
			const Mesos__V1__Address *a = o->url->address;
			snprintf(x->agent_host, sizeof(x->agent_host), "%s",
				 a->ip != NULL	       ? a->ip
				 : a->hostname != NULL ? a->hostname
						       : "");
			x->agent_port = (unsigned)a->port;
		} else {
			snprintf(x->agent_host, sizeof(x->agent_host), "%s",
				 o->hostname != NULL ? o->hostname : "");
			x->agent_port = 5051;
		}
		if (x->group != NULL)
			fprintf(stderr, "Submitted task group with %zu tasks to agent '%s'\n",
				x->n_tasks, x->agent_id);
		else
			fprintf(stderr, "Submitted task '%s' to agent '%s'\n", x->name,
				x->agent_id);
		x->launched = true;
		i = 1;
	}
	for (; i < n; i++) {
		const Mesos__V1__OfferID *id = offers[i]->id;
		keel_sched_decline(s, &id, 1, 3600, NULL, NULL, NULL);
	}
}

static const char *reason_name(const Mesos__V1__TaskStatus *st)
{
	const ProtobufCEnumValue *v;

	if (!st->has_reason)
		return NULL;
	v = protobuf_c_enum_descriptor_get_value(&mesos__v1__task_status__reason__descriptor,
						 (int)st->reason);
	return v != NULL ? v->name : NULL;
}

static struct exec_task *task_of(struct exec *x, const char *id)
{
	for (size_t i = 0; i < x->n_tasks; i++)
		if (strcmp(x->tasks[i].id, id) == 0)
			return &x->tasks[i];
	return NULL;
}

/* A task's terminal update: its exit code (0 when it finished), whether it ran. */
static int task_ended(struct exec *x, struct exec_task *t, const Mesos__V1__TaskStatus *st)
{
	const char *reason = reason_name(st);
	int code;

	switch (st->state) {
	case MESOS__V1__TASK_STATE__TASK_FINISHED:
		t->ran = true;
		return 0;
	case MESOS__V1__TASK_STATE__TASK_FAILED:
		code = keel_sched_exit_status(st);
		if (code >= 0) {
			t->ran = true;
			return code > 0 ? code : 1;
		}
		break; /* no exit status: it never ran (e.g. no such image) */
	case MESOS__V1__TASK_STATE__TASK_KILLED:
		t->ran = t->running; /* e.g. a task of a group whose sibling failed */
		break;
	default:
		break;
	}
	fprintf(stderr, "keel-execute: task '%s' did not run to completion: %s%s%s\n", t->name,
		st->message != NULL ? st->message : example_state_name(st->state),
		reason != NULL ? " " : "", reason != NULL ? reason : "");
	return 1;
}

static void on_update(struct keel_sched *s, const Mesos__V1__TaskStatus *st, void *arg)
{
	struct exec *x = arg;
	const char *reason = reason_name(st);
	struct exec_task *t;
	int code;

	fprintf(stderr, "Received status update %s for task '%s'\n", example_state_name(st->state),
		st->task_id->value);
	if (st->message != NULL && st->message[0] != '\0')
		fprintf(stderr, "  message: '%s'\n", st->message);
	if (reason != NULL)
		fprintf(stderr, "  reason: %s\n", reason);
	if (st->has_uuid)
		keel_sched_acknowledge(s, st, NULL, NULL, NULL);
	t = task_of(x, st->task_id->value);
	if (t == NULL || t->done)
		return;
	if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING)
		t->running = true;
	if (!example_terminal(st->state))
		return;
	t->done = true;
	code = task_ended(x, t, st);
	if (code != 0 && !x->failed) { /* the first task to fail decides */
		x->failed = true;
		x->exit_code = code;
	}
	if (++x->n_done < x->n_tasks)
		return;
	if (!x->failed)
		x->exit_code = 0;
	print_next(x);
}

static void on_error(struct keel_sched *s, int status, const char *message, void *arg)
{
	struct exec *x = arg;

	fprintf(stderr, "keel-execute: %s\n", message);
	x->exit_code = 1;
	keel_sched_stop(s);
}

static void on_disconnected(struct keel_sched *s, int err, const char *why, void *arg)
{
	struct exec *x = arg;

	if (!x->finishing) /* a torn-down framework's stream ends: not news */
		fprintf(stderr, "Disconnected: %s (retrying)\n", why);
}

/* Sets a task's field `key` to {"value": value} when it has none. */
static int json_default_id(json_t *task, const char *key, const char *value)
{
	if (json_object_get(task, key) != NULL)
		return 0;
	return json_object_set_new(task, key, json_pack("{s:s}", "value", value));
}

/* The resources of a spec as a JSON array of Resource objects; NULL with a message. */
static json_t *json_resources(const char *spec, char *msg)
{
	Mesos__V1__Resource **r = NULL;
	struct keel_buf b = KEEL_BUF_INIT;
	json_t *arr = json_array();
	size_t n = 0;
	int rv;

	if (arr == NULL || (rv = keel_sched_resources_parse(spec, &r, &n, msg)) < 0) {
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *one;
		keel_buf_clear(&b);
		if (keel_pbjson_write(&b, &r[i]->base, msg) < 0 ||
		    (one = json_loadb(keel_buf_rptr(&b), keel_buf_size(&b), 0, NULL)) == NULL ||
		    json_array_append_new(arr, one) < 0) {
			snprintf(msg, KEEL_ERRMSG_SIZE, "cannot write the resources '%s'", spec);
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	keel_buf_free(&b);
	keel_sched_resources_free(r, n);
	return arr;
}

/*
 * Reads --task_group: a JSON TaskGroupInfo, {"tasks":[TaskInfo...]}, as mesos-execute takes it.
 * Each task's agent_id is the offer's (any given is ignored); a task without a task_id gets
 * "<name or keel-execute>-<pid>-<i>", without a name its task ID, without resources --resources.
 */
static int group_read(struct exec *x, char *msg)
{
	json_error_t jerr;
	json_t *root = json_load_file(x->group_file, 0, &jerr), *tasks, *t;
	char *text = NULL, id[128];
	size_t i;
	int rv = -EINVAL;

	if (root == NULL) {
		snprintf(msg, KEEL_ERRMSG_SIZE, "line %d: %s", jerr.line, jerr.text);
		return -EINVAL;
	}
	tasks = json_object_get(root, "tasks");
	if (!json_is_array(tasks) || json_array_size(tasks) == 0 ||
	    json_array_size(tasks) > EXEC_MAX_TASKS) {
		snprintf(msg, KEEL_ERRMSG_SIZE, "expected {\"tasks\":[...]} with 1 to %d tasks",
			 EXEC_MAX_TASKS);
		goto out;
	}
	json_array_foreach(tasks, i, t)
	{
		json_t *name = json_object_get(t, "name"), *res;
		if (!json_is_object(t)) {
			snprintf(msg, KEEL_ERRMSG_SIZE, "tasks[%zu] is not an object", i);
			goto out;
		}
		snprintf(id, sizeof(id), "%s-%d-%zu",
			 json_is_string(name) ? json_string_value(name) : "keel-execute",
			 (int)getpid(), i);
		if (json_default_id(t, "task_id", id) < 0 || json_default_id(t, "agent_id", "") < 0)
			goto nomem;
		if (name == NULL &&
		    json_object_set(t, "name",
				    json_object_get(json_object_get(t, "task_id"), "value")) < 0)
			goto nomem;
		if (json_object_get(t, "resources") == NULL) {
			if ((res = json_resources(x->resources, msg)) == NULL)
				goto out;
			if (json_object_set_new(t, "resources", res) < 0)
				goto nomem;
		}
	}
	if ((text = json_dumps(root, JSON_COMPACT)) == NULL)
		goto nomem;
	rv = keel_pbjson_read(&mesos__v1__task_group_info__descriptor, text, strlen(text),
			      (ProtobufCMessage **)&x->group, msg);
	if (rv < 0)
		goto out;
	x->n_tasks = x->group->n_tasks;
	for (i = 0; i < x->n_tasks; i++) {
		snprintf(x->tasks[i].id, sizeof(x->tasks[i].id), "%s",
			 x->group->tasks[i]->task_id->value);
		snprintf(x->tasks[i].name, sizeof(x->tasks[i].name), "%s",
			 x->group->tasks[i]->name);
	}
	goto out;
nomem:
	snprintf(msg, KEEL_ERRMSG_SIZE, "out of memory");
	rv = -ENOMEM;
out:
	free(text);
	json_decref(root);
	return rv;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: keel-execute --master=URL (--command='...' | --task_group=FILE)\n"
	    "         [--name=NAME] [--image=NAME] [--resources=cpus:0.1;mem:32]\n"
	    "         [--framework_name=NAME] [--json]\n"
	    "URL: zk://host:2181/keel, etcd://host:2379/keel, static://host:5050, or\n"
	    "     host:5050[,host:5050...]\n"
	    "--command runs one shell command (in --image when given) as task NAME.\n"
	    "--task_group runs a JSON TaskGroupInfo, {\"tasks\":[TaskInfo...]}, with LAUNCH_GROUP\n"
	    "  and the default executor (" EXECUTOR_RESOURCES "); task_id, name and agent_id\n"
	    "  may be left out, tasks without resources get --resources.\n"
	    "Prints every status update on stderr, then the sandbox stdout of every task that\n"
	    "ran; exits 0 when every task finished, else with the first failing task's code\n"
	    "(1 when it did not run).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"master", required_argument, NULL, 'm'},
	    {"name", required_argument, NULL, 'n'},
	    {"command", required_argument, NULL, 'c'},
	    {"task_group", required_argument, NULL, 'g'},
	    {"image", required_argument, NULL, 'i'},
	    {"resources", required_argument, NULL, 'r'},
	    {"framework_name", required_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct exec x = {.name = "keel-execute", .resources = "cpus:0.1;mem:32", .exit_code = 1};
	static const struct keel_sched_cbs cbs = {
	    .subscribed = on_subscribed,
	    .offers = on_offers,
	    .update = on_update,
	    .error = on_error,
	    .disconnected = on_disconnected,
	};
	struct keel_sched_config cfg = {.cbs = &cbs, .arg = &x};
	const char *framework_name = "keel-execute";
	char msg[KEEL_ERRMSG_SIZE];
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			cfg.master = optarg;
			break;
		case 'n':
			x.name = optarg;
			break;
		case 'c':
			x.command = optarg;
			break;
		case 'g':
			x.group_file = optarg;
			break;
		case 'i':
			x.image = optarg;
			break;
		case 'r':
			x.resources = optarg;
			break;
		case 'f':
			framework_name = optarg;
			break;
		case 'j':
			cfg.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (cfg.master == NULL)
		cfg.master = getenv("KEEL_MASTER");
	if (cfg.master == NULL || (x.command == NULL) == (x.group_file == NULL) ||
	    (x.group_file != NULL && x.image != NULL) || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (x.group_file != NULL) {
		if (group_read(&x, msg) < 0) {
			fprintf(stderr, "keel-execute: --task_group=%s: %s\n", x.group_file, msg);
			return 1;
		}
	} else {
		x.n_tasks = 1;
		snprintf(x.tasks[0].id, sizeof(x.tasks[0].id), "%s-%d", x.name, (int)getpid());
		snprintf(x.tasks[0].name, sizeof(x.tasks[0].name), "%s", x.name);
	}
	if (example_run("keel-execute", framework_name, &cfg, &x.s) != 0)
		x.exit_code = 1;
	if (x.files != NULL)
		keel_http_client_free(x.files);
	keel_sched_free(x.s);
	keel_pbjson_free(x.group != NULL ? &x.group->base : NULL);
	return x.exit_code;
}
