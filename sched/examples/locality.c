/* keel-locality: a batch framework running N tasks that prefer agents with an attribute, with and
 * without delay scheduling, printing how many ran local. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example.h"
#include "runtime/loop.h"
#include "sched/scheduler.h"

/* One phase of the run: all N tasks, one way of placing them. */
struct phase {
	double delay;	     /* seconds to wait for a preferred offer (0: no delay scheduling) */
	unsigned launched;   /* tasks launched */
	unsigned finished;   /* tasks in a terminal state */
	unsigned local;	     /* launched on a preferred agent */
	uint64_t last_local; /* loop ms of the phase start or the last local launch */
};

/* The framework. */
struct batch {
	struct keel_sched *s;	/* client */
	unsigned n;		/* tasks per phase */
	const char *attr_name;	/* preferred attribute name ("rack") */
	const char *attr_value; /* and value ("r1") */
	const char *command;	/* what each task runs */
	const char *resources;	/* each task's resources */
	struct phase phases[2]; /* the phases to run */
	unsigned n_phases;	/* how many */
	unsigned cur;		/* the running phase */
	int rv;			/* exit code */
};

static bool preferred(const struct batch *b, const Mesos__V1__Offer *o)
{
	for (size_t i = 0; i < o->n_attributes; i++) {
		const Mesos__V1__Attribute *a = o->attributes[i];
		if (a->name != NULL && strcmp(a->name, b->attr_name) == 0 && a->text != NULL &&
		    a->text->value != NULL && strcmp(a->text->value, b->attr_value) == 0)
			return true;
	}
	return false;
}

static void decline(struct keel_sched *s, const Mesos__V1__Offer *o, double refuse)
{
	const Mesos__V1__OfferID *id = o->id;

	keel_sched_decline(s, &id, 1, refuse, NULL, NULL, NULL);
}

static void on_offers(struct keel_sched *s, Mesos__V1__Offer *const *offers, size_t n, void *arg)
{
	struct batch *b = arg;
	uint64_t now = keel_loop_now(keel_sched_loop(s));
	char id[64], msg[KEEL_ERRMSG_SIZE];

	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Offer *o = offers[i];
		struct phase *p = b->cur < b->n_phases ? &b->phases[b->cur] : NULL;
		Mesos__V1__TaskInfo *t = NULL;
		bool local;

		if (p == NULL || p->launched == b->n) {
			decline(s, o, 1);
			continue;
		}
		local = preferred(b, o);
		/* Delay scheduling: skip a non-preferred offer until the job has waited `delay`
		 * seconds since its last local launch. */
		if (!local && p->delay > 0 && now - p->last_local < (uint64_t)(p->delay * 1000)) {
			decline(s, o, 0);
			continue;
		}
		snprintf(id, sizeof(id), "p%u-t%u", b->cur, p->launched);
		if (keel_sched_task_command(id, id, o->agent_id->value, b->command, b->resources,
					    &t, msg) < 0 ||
		    keel_sched_launch(s, o->id, &t, 1, NULL, NULL, msg) < 0) {
			fprintf(stderr, "keel-locality: cannot launch: %s\n", msg);
			keel_sched_msg_free(t);
			b->rv = 1;
			keel_sched_stop(s);
			return;
		}
		keel_sched_msg_free(t);
		p->launched++;
		if (local) {
			p->local++;
			p->last_local = now;
		}
	}
}

static void on_update(struct keel_sched *s, const Mesos__V1__TaskStatus *st, void *arg)
{
	struct batch *b = arg;
	struct phase *p;
	unsigned ph;

	if (st->has_uuid)
		keel_sched_acknowledge(s, st, NULL, NULL, NULL);
	if (!example_terminal(st->state) || sscanf(st->task_id->value, "p%u-", &ph) != 1 ||
	    ph >= b->n_phases)
		return;
	p = &b->phases[ph];
	p->finished++;
	if (ph != b->cur || p->finished < b->n)
		return;
	if (p->delay > 0)
		printf("with delay scheduling (%.1f s): %u of %u tasks local (%.0f%%)\n", p->delay,
		       p->local, b->n, 100.0 * p->local / b->n);
	else
		printf("without delay scheduling: %u of %u tasks local (%.0f%%)\n", p->local, b->n,
		       100.0 * p->local / b->n);
	fflush(stdout);
	b->cur++;
	if (b->cur == b->n_phases) {
		b->rv = 0;
		keel_sched_stop(s);
		return;
	}
	b->phases[b->cur].last_local = keel_loop_now(keel_sched_loop(s));
	keel_sched_revive(s, NULL, 0, NULL, NULL, NULL);
}

static void on_subscribed(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Subscribed *ev,
			  void *arg)
{
	struct batch *b = arg;

	if (b->cur < b->n_phases && b->phases[b->cur].launched == 0)
		b->phases[b->cur].last_local = keel_loop_now(keel_sched_loop(s));
}

static void on_error(struct keel_sched *s, int status, const char *message, void *arg)
{
	fprintf(stderr, "keel-locality: %s\n", message);
	((struct batch *)arg)->rv = 1;
	keel_sched_stop(s);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: keel-locality --master=URL [--tasks=N] [--prefer=rack:r1] [--delay=S]\n"
		   "         [--mode=both|delay|nodelay] [--command=true] [--resources=...]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"master", required_argument, NULL, 'm'},
	    {"tasks", required_argument, NULL, 'n'},
	    {"prefer", required_argument, NULL, 'p'},
	    {"delay", required_argument, NULL, 'd'},
	    {"mode", required_argument, NULL, 'o'},
	    {"command", required_argument, NULL, 'c'},
	    {"resources", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const struct keel_sched_cbs cbs = {
	    .subscribed = on_subscribed,
	    .offers = on_offers,
	    .update = on_update,
	    .error = on_error,
	};
	struct batch b = {.n = 100, .command = "true", .resources = "cpus:0.1;mem:16", .rv = 1};
	struct keel_sched_config cfg = {.cbs = &cbs, .arg = &b};
	const char *prefer = "rack:r1", *mode = "both";
	char pbuf[256], *colon;
	double delay = 5;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			cfg.master = optarg;
			break;
		case 'n':
			b.n = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			prefer = optarg;
			break;
		case 'd':
			delay = strtod(optarg, NULL);
			break;
		case 'o':
			mode = optarg;
			break;
		case 'c':
			b.command = optarg;
			break;
		case 'r':
			b.resources = optarg;
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
	snprintf(pbuf, sizeof(pbuf), "%s", prefer);
	colon = strchr(pbuf, ':');
	if (cfg.master == NULL || b.n == 0 || colon == NULL || !(delay > 0) || optind != argc) {
		usage(stderr);
		return 2;
	}
	*colon = '\0';
	b.attr_name = pbuf;
	b.attr_value = colon + 1;
	if (strcmp(mode, "both") == 0 || strcmp(mode, "nodelay") == 0)
		b.phases[b.n_phases++].delay = 0;
	if (strcmp(mode, "both") == 0 || strcmp(mode, "delay") == 0)
		b.phases[b.n_phases++].delay = delay;
	if (b.n_phases == 0) {
		usage(stderr);
		return 2;
	}
	if (example_run("keel-locality", "keel-locality", &cfg, &b.s) != 0)
		b.rv = 1;
	keel_sched_free(b.s);
	return b.rv;
}
