/* keel-execute: runs one command on the cluster like mesos-execute, prints its stdout, exits with
 * its code. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/loop.h"
#include "sched/scheduler.h"

#define FILES_CHUNK 65536 /* bytes asked for per /files/read */

/* The run's state. */
struct exec {
	const char *name;		/* task name */
	const char *command;		/* shell command */
	const char *image;		/* container image, or NULL */
	const char *resources;		/* resource spec */
	char task_id[128];		/* our task's ID */
	bool launched;			/* ACCEPT sent */
	int exit_code;			/* what we exit with */
	char agent_id[256];		/* where the task runs */
	char agent_host[256];		/* the agent's host */
	unsigned agent_port;		/* and port */
	struct keel_http_client *files; /* client of the agent's /files/read */
	uint64_t offset;		/* next offset in stdout */
	bool finishing;			/* TEARDOWN sent: the stream's end is expected */
	struct keel_sched *s;		/* client */
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
		finish(x);
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

	/* Mesos's virtual sandbox path; a command task's executor ID is its task ID. */
	snprintf(path, sizeof(path),
		 "/files/read?path=/frameworks/%s/executors/%s/runs/latest/stdout&offset=%llu"
		 "&length=%d",
		 fid != NULL ? fid : "", x->task_id, (unsigned long long)x->offset, FILES_CHUNK);
	if (keel_http_client_request(x->files, "GET", path, NULL, NULL, NULL, 0, &cbs, x) < 0)
		finish(x);
}

static void print_stdout(struct exec *x)
{
	char msg[KEEL_ERRMSG_SIZE];

	if (x->agent_host[0] == '\0' ||
	    keel_http_client_new(keel_sched_loop(x->s), x->agent_host, (uint16_t)x->agent_port,
				 NULL, &x->files, msg) < 0) {
		fprintf(stderr, "keel-execute: cannot reach the agent for the sandbox stdout\n");
		finish(x);
		return;
	}
	read_more(x);
}

static void on_subscribed(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Subscribed *ev,
			  void *arg)
{
	fprintf(stderr, "Subscribed with ID %s\n", ev->framework_id->value);
}

static void on_offers(struct keel_sched *s, Mesos__V1__Offer *const *offers, size_t n, void *arg)
{
	struct exec *x = arg;
	Mesos__V1__TaskInfo *task = NULL;
	char msg[KEEL_ERRMSG_SIZE];
	size_t i = 0;
	int rv;

	if (!x->launched) {
		const Mesos__V1__Offer *o = offers[0];
		if (x->image != NULL)
			rv = keel_sched_task_container(x->name, x->task_id, o->agent_id->value,
						       x->command, x->image, x->resources, &task,
						       msg);
		else
			rv = keel_sched_task_command(x->name, x->task_id, o->agent_id->value,
						     x->command, x->resources, &task, msg);
		if (rv == 0)
			rv = keel_sched_launch(s, o->id, &task, 1, NULL, NULL, msg);
		keel_sched_msg_free(task);
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
		fprintf(stderr, "Submitted task '%s' to agent '%s'\n", x->name, x->agent_id);
		x->launched = true;
		i = 1;
	}
	for (; i < n; i++) {
		const Mesos__V1__OfferID *id = offers[i]->id;
		keel_sched_decline(s, &id, 1, 3600, NULL, NULL, NULL);
	}
}

static const char *state_name(Mesos__V1__TaskState st)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)st);
	return v != NULL ? v->name : "UNKNOWN";
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

static void on_update(struct keel_sched *s, const Mesos__V1__TaskStatus *st, void *arg)
{
	struct exec *x = arg;
	const char *reason = reason_name(st);
	int code;

	fprintf(stderr, "Received status update %s for task '%s'\n", state_name(st->state),
		st->task_id->value);
	if (st->message != NULL && st->message[0] != '\0')
		fprintf(stderr, "  message: '%s'\n", st->message);
	if (reason != NULL)
		fprintf(stderr, "  reason: %s\n", reason);
	if (st->has_uuid)
		keel_sched_acknowledge(s, st, NULL, NULL, NULL);
	if (strcmp(st->task_id->value, x->task_id) != 0)
		return;
	switch (st->state) {
	case MESOS__V1__TASK_STATE__TASK_FINISHED:
		x->exit_code = 0;
		break;
	case MESOS__V1__TASK_STATE__TASK_FAILED:
		code = keel_sched_exit_status(st);
		if (code < 0) /* no exit status: it never ran (e.g. no such image) */
			goto not_run;
		x->exit_code = code > 0 ? code : 1;
		break;
	case MESOS__V1__TASK_STATE__TASK_ERROR:
	case MESOS__V1__TASK_STATE__TASK_KILLED:
	case MESOS__V1__TASK_STATE__TASK_LOST:
	case MESOS__V1__TASK_STATE__TASK_DROPPED:
	case MESOS__V1__TASK_STATE__TASK_GONE:
	case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
	not_run:
		fprintf(stderr, "keel-execute: task '%s' did not run to completion: %s%s%s\n",
			x->name, st->message != NULL ? st->message : state_name(st->state),
			reason != NULL ? " " : "", reason != NULL ? reason : "");
		x->exit_code = 1;
		finish(x);
		return;
	default:
		return;
	}
	print_stdout(x);
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

static void usage(FILE *f)
{
	fprintf(f, "usage: keel-execute --master=URL --name=NAME --command='...'\n"
		   "         [--image=NAME] [--resources=cpus:0.1;mem:32] [--framework_name=NAME]\n"
		   "         [--json]\n"
		   "URL: zk://host:2181/keel, etcd://host:2379/keel, static://host:5050, or\n"
		   "     host:5050[,host:5050...]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"master", required_argument, NULL, 'm'},
	    {"name", required_argument, NULL, 'n'},
	    {"command", required_argument, NULL, 'c'},
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
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	struct keel_sched_config cfg = {.cbs = &cbs, .arg = &x};
	char msg[KEEL_ERRMSG_SIZE];
	int c, rv;

	fi.name = "keel-execute";
	fi.user = getenv("USER") != NULL ? getenv("USER") : "root";
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
		case 'i':
			x.image = optarg;
			break;
		case 'r':
			x.resources = optarg;
			break;
		case 'f':
			fi.name = optarg;
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
	if (cfg.master == NULL || x.command == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	snprintf(x.task_id, sizeof(x.task_id), "%s-%d", x.name, (int)getpid());
	cfg.framework = &fi;
	rv = keel_sched_new(&cfg, &x.s, msg);
	if (rv == 0)
		rv = keel_sched_start(x.s, msg);
	if (rv < 0) {
		fprintf(stderr, "keel-execute: %s\n", msg);
		keel_sched_free(x.s);
		return 1;
	}
	keel_sched_run(x.s);
	if (x.files != NULL)
		keel_http_client_free(x.files);
	keel_sched_free(x.s);
	return x.exit_code;
}
