/* bench/tasks: a libkeel-sched framework that runs N short container tasks and times them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/scheduler.h"

#define TASK_RESOURCES "cpus:0.05;mem:16" /* each task's share: 40 fit on cpus:2;mem:1024 */

/* One task's times (CLOCK_MONOTONIC ns, 0 not yet). */
struct task_times {
	uint64_t accept;   /* its ACCEPT was sent */
	uint64_t running;  /* TASK_RUNNING arrived */
	uint64_t finished; /* TASK_FINISHED arrived */
};

/* The benchmark's state. */
struct bench {
	struct keel_sched *s;	/* the framework */
	const char *image;	/* Docker image of every task */
	unsigned n;		/* tasks to run */
	unsigned max_inflight;	/* launched and not yet terminal, at most */
	unsigned launched;	/* tasks sent so far */
	unsigned running;	/* TASK_RUNNING seen */
	unsigned finished;	/* TASK_FINISHED seen */
	unsigned failed;	/* other terminal states */
	struct task_times *t;	/* per task */
	uint64_t first_accept;	/* first ACCEPT sent */
	uint64_t last_running;	/* last TASK_RUNNING */
	uint64_t last_finished; /* last TASK_FINISHED */
	int rc;			/* exit status */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Offer resources left for tasks: the min over cpus and mem of how many tasks fit. */
static unsigned offer_fits(const Mesos__V1__Offer *o)
{
	double cpus = 0, mem = 0;

	for (size_t i = 0; i < o->n_resources; i++) {
		const Mesos__V1__Resource *r = o->resources[i];
		if (!r->scalar)
			continue;
		if (strcmp(r->name, "cpus") == 0)
			cpus += r->scalar->value;
		else if (strcmp(r->name, "mem") == 0)
			mem += r->scalar->value;
	}
	cpus = cpus / 0.05 + 1e-6;
	mem = mem / 16 + 1e-6;
	return (unsigned)(cpus < mem ? cpus : mem);
}

static void bench_fail(struct bench *b, const char *what, const char *errmsg)
{
	fprintf(stderr, "bench/tasks: %s: %s\n", what, errmsg);
	b->rc = 1;
	keel_sched_stop(b->s);
}

/* ACCEPT with one LAUNCH; what the tasks leave is offered again at once (refuse 0 s). */
static int launch(struct keel_sched *s, const Mesos__V1__OfferID *id, Mesos__V1__TaskInfo **tasks,
		  unsigned k, char *errmsg)
{
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
	Mesos__V1__Offer__Operation__Launch l = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
	Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
	const Mesos__V1__Offer__Operation *ops = &op;

	l.n_task_infos = k;
	l.task_infos = tasks;
	op.has_type = true;
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
	op.launch = &l;
	f.has_refuse_seconds = true;
	f.refuse_seconds = 0;
	return keel_sched_accept(s, &id, 1, &ops, 1, &f, NULL, NULL, errmsg);
}

static void on_offers(struct keel_sched *s, Mesos__V1__Offer *const *offers, size_t n, void *arg)
{
	struct bench *b = arg;
	char errmsg[KEEL_ERRMSG_SIZE];

	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Offer *o = offers[i];
		unsigned k = offer_fits(o), j;
		Mesos__V1__TaskInfo **tasks;
		uint64_t t0;

		if (k > b->n - b->launched)
			k = b->n - b->launched;
		if (k > b->max_inflight - (b->launched - b->finished - b->failed))
			k = b->max_inflight - (b->launched - b->finished - b->failed);
		if (k == 0) {
			const Mesos__V1__OfferID *id = o->id;
			if (keel_sched_decline(s, &id, 1, b->launched == b->n ? 3600 : 0, NULL,
					       NULL, errmsg) < 0)
				bench_fail(b, "decline", errmsg);
			continue;
		}
		tasks = calloc(k, sizeof(*tasks));
		if (!tasks) {
			bench_fail(b, "launch", "out of memory");
			return;
		}
		for (j = 0; j < k; j++) {
			char id[32];
			snprintf(id, sizeof(id), "t%u", b->launched + j);
			if (keel_sched_task_container(id, id, o->agent_id->value, "true", b->image,
						      TASK_RESOURCES, &tasks[j], errmsg) < 0)
				break;
		}
		if (j == k) {
			t0 = now_ns();
			if (b->first_accept == 0)
				b->first_accept = t0;
			for (j = 0; j < k; j++)
				b->t[b->launched + j].accept = t0;
			if (launch(s, o->id, tasks, k, errmsg) < 0)
				bench_fail(b, "launch", errmsg);
			else
				b->launched += k;
		} else {
			bench_fail(b, "task", errmsg);
		}
		for (j = 0; j < k; j++)
			keel_sched_msg_free(tasks[j]);
		free(tasks);
	}
}

static void on_update(struct keel_sched *s, const Mesos__V1__TaskStatus *st, void *arg)
{
	struct bench *b = arg;
	char errmsg[KEEL_ERRMSG_SIZE];
	unsigned i;
	uint64_t t = now_ns();

	if (st->has_uuid && keel_sched_acknowledge(s, st, NULL, NULL, errmsg) < 0)
		bench_fail(b, "acknowledge", errmsg);
	if (sscanf(st->task_id->value, "t%u", &i) != 1 || i >= b->n)
		return;
	switch (st->state) {
	case MESOS__V1__TASK_STATE__TASK_STARTING:
		break;
	case MESOS__V1__TASK_STATE__TASK_RUNNING:
		if (b->t[i].running == 0) {
			b->t[i].running = t;
			b->running++;
			b->last_running = t;
		}
		break;
	case MESOS__V1__TASK_STATE__TASK_FINISHED:
		if (b->t[i].finished == 0) {
			b->t[i].finished = t;
			b->finished++;
			b->last_finished = t;
		}
		break;
	default:
		if (b->t[i].finished == 0) {
			b->t[i].finished = t;
			b->failed++;
			fprintf(stderr, "bench/tasks: %s: state %d: %s\n", st->task_id->value,
				(int)st->state, st->message ? st->message : "");
		}
		break;
	}
	if (b->finished + b->failed == b->n) {
		if (b->failed)
			b->rc = 1;
		keel_sched_stop(s);
	}
}

static void on_error(struct keel_sched *s, int status, const char *message, void *arg)
{
	(void)s;
	(void)status;
	bench_fail(arg, "master error", message);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Prints the one result line (figures in the README of bench/tasks/run.sh). */
static void bench_print(const struct bench *b)
{
	uint64_t *lat = calloc(b->n, sizeof(*lat));
	unsigned m = 0;

	if (!lat)
		return;
	for (unsigned i = 0; i < b->n; i++)
		if (b->t[i].running)
			lat[m++] = b->t[i].running - b->t[i].accept;
	qsort(lat, m, sizeof(*lat), cmp_u64);
	printf("tasks %u to_running_per_s %.1f to_finished_per_s %.1f accept_to_running_p50_ms "
	       "%.1f p99_ms %.1f\n",
	       b->n, b->running * 1e9 / (double)(b->last_running - b->first_accept),
	       b->finished * 1e9 / (double)(b->last_finished - b->first_accept),
	       m ? lat[m / 2] / 1e6 : 0.0,
	       m ? lat[(m * 99) / 100 < m ? (m * 99) / 100 : m - 1] / 1e6 : 0.0);
	free(lat);
}

int main(int argc, char **argv)
{
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	struct keel_sched_cbs cbs = {.offers = on_offers, .update = on_update, .error = on_error};
	struct keel_sched_config cfg = {0};
	struct bench b = {0};
	char errmsg[KEEL_ERRMSG_SIZE];

	if ((argc != 4 && argc != 5) || atoi(argv[2]) <= 0 || (argc == 5 && atoi(argv[4]) <= 0)) {
		fprintf(stderr, "usage: keel-tasks-bench MASTER N IMAGE [MAX_IN_FLIGHT]\n");
		return 2;
	}
	b.n = (unsigned)atoi(argv[2]);
	b.max_inflight = argc == 5 ? (unsigned)atoi(argv[4]) : b.n;
	b.image = argv[3];
	b.t = calloc(b.n, sizeof(*b.t));
	if (!b.t)
		return 1;
	fi.user = "root";
	fi.name = "keel-tasks-bench";
	cfg.master = argv[1];
	cfg.framework = &fi;
	cfg.cbs = &cbs;
	cfg.arg = &b;
	if (keel_sched_new(&cfg, &b.s, errmsg) < 0 || keel_sched_start(b.s, errmsg) < 0) {
		fprintf(stderr, "bench/tasks: %s\n", errmsg);
		return 1;
	}
	keel_sched_run(b.s);
	if (b.rc == 0 && b.finished == b.n)
		bench_print(&b);
	else
		fprintf(stderr, "bench/tasks: %u of %u finished, %u failed\n", b.finished, b.n,
			b.failed);
	keel_sched_free(b.s);
	free(b.t);
	return b.rc ? b.rc : b.finished == b.n ? 0 : 1;
}
