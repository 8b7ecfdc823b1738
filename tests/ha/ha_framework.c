/* ha_framework: a libkeel-sched framework that runs tasks through master kills and checks every
 * task's fate. */
/*
 * Built on the public header alone (sched/scheduler.h, installed as
 * <keel/scheduler.h>) and the caller's own poll loop (keel_sched_fd +
 * keel_sched_process). Launches --tasks tasks, at most --concurrency at once,
 * each `echo ID >> MARKER; sleep S`. With --kills K the tasks come in K+1
 * batches: batch b+1 is launched only after subscription b+1, and the last
 * task of batch b runs until DIR/release.b exists, so that the test's master
 * kill b (tests/ha/it_ha_sched.sh) falls while a task runs.
 *
 * After every SUBSCRIBED it reconciles (implicitly, and explicitly for its
 * unfinished tasks) and keeps reconciling unfinished tasks every few seconds.
 * It is partition-aware: an unknown task is TASK_UNKNOWN (not final) until the
 * agent tells; after --unknown_grace seconds of nothing else it is given up.
 *
 * DIR/progress (rewritten every tick): "subs R launched running finished
 * terminal" for the test script to wait on. At the end it checks: one
 * framework ID throughout, a reconcile answered 202 after every SUBSCRIBED,
 * updates in order with one terminal state per task, every task terminal,
 * and the marker file: each ID at most once, present exactly for the tasks
 * that ended FINISHED. Prints a summary line; exit 0 only when all held.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sched/scheduler.h"

#define MAX_SUBS 64		/* subscriptions tracked */
#define RECONCILE_EVERY_MS 3000 /* explicit reconciliation of unfinished tasks */

/* One task of the run. */
struct task {
	char id[32];		       /* "ha-N" */
	char agent_id[128];	       /* where it was launched */
	bool launched;		       /* ACCEPT sent */
	bool terminal;		       /* a final state came (or it was given up) */
	int state;		       /* latest state, -1 before any update */
	int rank;		       /* highest non-reconciliation state rank seen */
	unsigned updates;	       /* updates received */
	unsigned long long unknown_ms; /* since when only TASK_UNKNOWN came, 0 if not */
};

/* The framework's state. */
struct fw {
	struct keel_sched *s;		  /* client */
	const char *marker;		  /* marker file the tasks append to */
	const char *dir;		  /* progress and summary go here */
	unsigned n;			  /* tasks */
	unsigned concurrency;		  /* unfinished tasks at most */
	unsigned kills;			  /* master kills expected (batches - 1) */
	unsigned task_sleep;		  /* seconds each task sleeps */
	unsigned unknown_grace;		  /* seconds of TASK_UNKNOWN before giving up */
	struct task *tasks;		  /* n of them */
	unsigned launched;		  /* tasks launched */
	char fid[128];			  /* the first framework ID */
	unsigned subs;			  /* SUBSCRIBED events */
	bool recon_ok[MAX_SUBS];	  /* reconcile answered 202 after subscription i */
	unsigned recon_updates;		  /* updates with reason RECONCILIATION */
	unsigned updates;		  /* all updates */
	unsigned acks;			  /* ACKNOWLEDGE calls sent */
	unsigned launch_fail;		  /* ACCEPTs not answered 202 */
	unsigned gave_up;		  /* tasks given up as unknown */
	unsigned long long last_recon_ms; /* last periodic reconciliation */
	bool tearing_down;		  /* TEARDOWN sent */
	bool done;			  /* leave the loop */
	char errors[4096];		  /* what went wrong, one per line */
};

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3))) static void fw_fail(struct fw *f, const char *fmt, ...)
{
	size_t len = strlen(f->errors);
	va_list ap;

	va_start(ap, fmt);
	if (len + 2 < sizeof(f->errors)) {
		vsnprintf(f->errors + len, sizeof(f->errors) - len - 1, fmt, ap);
		strcat(f->errors, "\n");
	}
	va_end(ap);
}

static const char *state_name(int st)
{
	const ProtobufCEnumValue *v;

	if (st < 0)
		return "NONE";
	v = protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, st);
	return v != NULL ? v->name : "?";
}

static bool state_terminal(int st)
{
	switch (st) {
	case MESOS__V1__TASK_STATE__TASK_FINISHED:
	case MESOS__V1__TASK_STATE__TASK_FAILED:
	case MESOS__V1__TASK_STATE__TASK_KILLED:
	case MESOS__V1__TASK_STATE__TASK_ERROR:
	case MESOS__V1__TASK_STATE__TASK_LOST:
	case MESOS__V1__TASK_STATE__TASK_DROPPED:
	case MESOS__V1__TASK_STATE__TASK_GONE:
	case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
		return true;
	default:
		return false;
	}
}

/* Order of a task's states: STAGING < STARTING < RUNNING < final. */
static int state_rank(int st)
{
	switch (st) {
	case MESOS__V1__TASK_STATE__TASK_STAGING:
		return 0;
	case MESOS__V1__TASK_STATE__TASK_STARTING:
		return 1;
	case MESOS__V1__TASK_STATE__TASK_RUNNING:
		return 2;
	default:
		return state_terminal(st) ? 3 : -1;
	}
}

static struct task *task_find(struct fw *f, const char *id)
{
	unsigned i;

	if (strncmp(id, "ha-", 3) != 0)
		return NULL;
	i = (unsigned)strtoul(id + 3, NULL, 10);
	return i < f->n && strcmp(f->tasks[i].id, id) == 0 ? &f->tasks[i] : NULL;
}

static unsigned count_terminal(const struct fw *f)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->launched; i++)
		n += f->tasks[i].terminal;
	return n;
}

static void recon_done(struct keel_sched *s, int err, int status, const char *body, size_t len,
		       void *arg)
{
	struct fw *f = arg;
	uint64_t sub = keel_sched_subscriptions(s);

	if (err == 0 && status == 202 && sub > 0 && sub <= MAX_SUBS)
		f->recon_ok[sub - 1] = true;
}

/* Explicit reconciliation of the launched, unfinished tasks (implicit too if `implicit`). */
static void reconcile(struct fw *f, bool implicit)
{
	const char **ids = calloc(f->n + 1, sizeof(*ids));
	const char **aids = calloc(f->n + 1, sizeof(*aids));
	char msg[KEEL_ERRMSG_SIZE];
	size_t k = 0;

	if (ids == NULL || aids == NULL) {
		fw_fail(f, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < f->launched; i++) {
		if (f->tasks[i].terminal)
			continue;
		ids[k] = f->tasks[i].id;
		aids[k++] = f->tasks[i].agent_id;
	}
	if (implicit && keel_sched_reconcile(f->s, NULL, NULL, 0, recon_done, f, msg) < 0)
		fprintf(stderr, "ha_framework: implicit reconcile: %s\n", msg);
	if (k > 0 && keel_sched_reconcile(f->s, ids, aids, k, recon_done, f, msg) < 0)
		fprintf(stderr, "ha_framework: reconcile: %s\n", msg);
	f->last_recon_ms = now_ms();
out:
	free(ids);
	free(aids);
}

static void on_subscribed(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Subscribed *ev,
			  void *arg)
{
	struct fw *f = arg;
	const char *id = ev->framework_id->value;

	f->subs++;
	fprintf(stderr, "ha_framework: subscription %u to %s as %s (%u/%u tasks launched)\n",
		f->subs, keel_sched_master(s) != NULL ? keel_sched_master(s) : "?", id, f->launched,
		f->n);
	if (f->fid[0] == '\0')
		snprintf(f->fid, sizeof(f->fid), "%s", id);
	else if (strcmp(f->fid, id) != 0)
		fw_fail(f, "subscription %u got framework ID %s, not %s", f->subs, id, f->fid);
	reconcile(f, true);
}

static void launch_done(struct keel_sched *s, int err, int status, const char *body, size_t len,
			void *arg)
{
	struct fw *f = arg;

	if (err < 0 || status != 202) {
		f->launch_fail++;
		fprintf(stderr, "ha_framework: ACCEPT answered %d (%s); reconciliation will tell\n",
			status, err < 0 ? strerror(-err) : "status");
	}
}

static double offer_scalar(const Mesos__V1__Offer *o, const char *name)
{
	double v = 0;

	for (size_t i = 0; i < o->n_resources; i++)
		if (strcmp(o->resources[i]->name, name) == 0 && o->resources[i]->scalar != NULL)
			v += o->resources[i]->scalar->value;
	return v;
}

/* How many tasks may have been launched by now: the batch of the current subscription. */
static unsigned launch_limit(const struct fw *f)
{
	unsigned batch = f->n / (f->kills + 1);

	if (f->kills == 0 || f->subs > f->kills)
		return f->n;
	return f->subs * batch < f->n ? f->subs * batch : f->n;
}

static void on_offers(struct keel_sched *s, Mesos__V1__Offer *const *offers, size_t n, void *arg)
{
	struct fw *f = arg;
	char msg[KEEL_ERRMSG_SIZE];

	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Offer *o = offers[i];
		Mesos__V1__TaskInfo *ts[16];
		double cpus = offer_scalar(o, "cpus"), mem = offer_scalar(o, "mem");
		unsigned open = f->launched - count_terminal(f), k = 0;
		unsigned first = f->launched;
		int rv = 0;

		while (!f->tearing_down && f->launched + k < launch_limit(f) &&
		       open + k < f->concurrency && k < 16 && cpus >= 0.1 && mem >= 32) {
			struct task *t = &f->tasks[f->launched + k];
			char cmd[1024];

			unsigned idx = f->launched + k, batch = f->n / (f->kills + 1);

			if (batch > 0 && (idx + 1) % batch == 0 && (idx + 1) / batch <= f->kills)
				/* The batch's last task holds until the test has killed the
				 * leader: a task is running across every kill. */
				snprintf(cmd, sizeof(cmd),
					 "echo %s >> '%s'; sleep %u; "
					 "while [ ! -e '%s/release.%u' ]; do sleep 0.1; done",
					 t->id, f->marker, f->task_sleep, f->dir,
					 (idx + 1) / batch);
			else
				snprintf(cmd, sizeof(cmd), "echo %s >> '%s'; sleep %u", t->id,
					 f->marker, f->task_sleep);
			rv = keel_sched_task_command(t->id, t->id, o->agent_id->value, cmd,
						     "cpus:0.1;mem:32", &ts[k], msg);
			if (rv < 0) {
				fw_fail(f, "task builder: %s", msg);
				break;
			}
			snprintf(t->agent_id, sizeof(t->agent_id), "%s", o->agent_id->value);
			cpus -= 0.1;
			mem -= 32;
			k++;
		}
		if (k > 0) {
			rv = keel_sched_launch(s, o->id, ts, k, launch_done, f, msg);
			for (unsigned j = 0; j < k; j++)
				keel_sched_msg_free(ts[j]);
			if (rv < 0) {
				fprintf(stderr, "ha_framework: launch: %s\n", msg);
				continue; /* not sent: the tasks stay unlaunched */
			}
			for (unsigned j = first; j < first + k; j++)
				f->tasks[j].launched = true;
			f->launched += k;
			continue;
		}
		keel_sched_decline(s, (const Mesos__V1__OfferID *const *)&o->id, 1, 1, NULL, NULL,
				   NULL);
	}
}

static void on_update(struct keel_sched *s, const Mesos__V1__TaskStatus *st, void *arg)
{
	struct fw *f = arg;
	struct task *t = task_find(f, st->task_id->value);
	bool recon =
	    st->has_reason && st->reason == MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION;
	int state = (int)st->state;

	f->updates++;
	f->recon_updates += recon;
	if (st->has_uuid && keel_sched_acknowledge(s, st, NULL, NULL, NULL) == 0)
		f->acks++;
	if (t == NULL || !t->launched) {
		fw_fail(f, "update %s for task %s that was never launched", state_name(state),
			st->task_id->value);
		return;
	}
	t->updates++;
	if (state == MESOS__V1__TASK_STATE__TASK_UNKNOWN) {
		if (!t->terminal && t->unknown_ms == 0)
			t->unknown_ms = now_ms();
		return;
	}
	t->unknown_ms = 0;
	if (t->terminal) {
		if (state_terminal(state) && state != t->state)
			fw_fail(f, "task %s: %s after %s", t->id, state_name(state),
				state_name(t->state));
		return; /* a redelivery, or a reconciliation answer from before the end */
	}
	if (!recon) {
		int rank = state_rank(state);
		if (rank < t->rank)
			fw_fail(f, "task %s: %s after a later state", t->id, state_name(state));
		if (rank > t->rank)
			t->rank = rank;
	}
	t->state = state;
	if (state_terminal(state)) {
		t->terminal = true;
		if (state != MESOS__V1__TASK_STATE__TASK_FINISHED)
			fprintf(stderr, "ha_framework: task %s ended %s: %s\n", t->id,
				state_name(state), st->message != NULL ? st->message : "");
	}
}

static void on_error(struct keel_sched *s, int status, const char *message, void *arg)
{
	struct fw *f = arg;

	fw_fail(f, "error event (%d): %s", status, message);
	f->done = true;
}

static void on_disconnected(struct keel_sched *s, int err, const char *why, void *arg)
{
	struct fw *f = arg;

	if (!f->tearing_down)
		fprintf(stderr, "ha_framework: disconnected: %s\n", why);
}

static void teardown_done(struct keel_sched *s, int err, int status, const char *body, size_t len,
			  void *arg)
{
	struct fw *f = arg;

	if (err < 0 || status != 202)
		fw_fail(f, "TEARDOWN answered %d (%s)", status,
			err < 0 ? strerror(-err) : "status");
	f->done = true;
}

static void write_progress(const struct fw *f)
{
	char path[4096], tmp[4200];
	unsigned running = 0, finished = 0, recon = 0;
	FILE *fp;

	for (unsigned i = 0; i < f->launched; i++) {
		running += f->tasks[i].state == MESOS__V1__TASK_STATE__TASK_RUNNING;
		finished += f->tasks[i].state == MESOS__V1__TASK_STATE__TASK_FINISHED;
	}
	for (unsigned i = 0; i < f->subs && i < MAX_SUBS; i++)
		recon += f->recon_ok[i];
	snprintf(path, sizeof(path), "%s/progress", f->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fp = fopen(tmp, "w");
	if (fp == NULL)
		return;
	fprintf(fp, "%u %u %u %u %u %u\n", f->subs, recon, f->launched, running, finished,
		count_terminal(f));
	fclose(fp);
	rename(tmp, path);
}

/* Once a second: progress, periodic reconciliation, giving up on long-unknown tasks, the end. */
static void tick(struct fw *f)
{
	unsigned long long now = now_ms();
	char msg[KEEL_ERRMSG_SIZE];

	write_progress(f);
	for (unsigned i = 0; i < f->launched; i++) {
		struct task *t = &f->tasks[i];
		if (!t->terminal && t->unknown_ms != 0 &&
		    now - t->unknown_ms > (unsigned long long)f->unknown_grace * 1000) {
			fprintf(stderr, "ha_framework: task %s unknown for %u s: given up\n", t->id,
				f->unknown_grace);
			t->terminal = true;
			t->state = MESOS__V1__TASK_STATE__TASK_UNKNOWN;
			f->gave_up++;
		}
	}
	if (!keel_sched_subscribed(f->s) || f->tearing_down)
		return;
	if (f->launched == f->n && count_terminal(f) == f->n) {
		f->tearing_down = true;
		if (keel_sched_teardown(f->s, teardown_done, f, msg) < 0) {
			fw_fail(f, "teardown: %s", msg);
			f->done = true;
		}
		return;
	}
	if (now - f->last_recon_ms >= RECONCILE_EVERY_MS)
		reconcile(f, false);
}

/* The marker file against the final states; appends what is wrong to f->errors. */
static void check_marker(struct fw *f, unsigned *lines)
{
	unsigned *count = calloc(f->n, sizeof(*count));
	char line[256];
	FILE *fp = fopen(f->marker, "r");

	*lines = 0;
	if (count == NULL) {
		fw_fail(f, "out of memory");
		goto out;
	}
	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
		struct task *t;
		line[strcspn(line, "\n")] = '\0';
		(*lines)++;
		t = task_find(f, line);
		if (t == NULL || !t->launched) {
			fw_fail(f, "marker line '%s' is no task of ours", line);
			continue;
		}
		if (++count[t - f->tasks] == 2)
			fw_fail(f, "task %s ran twice", t->id);
	}
	for (unsigned i = 0; i < f->n; i++) {
		const struct task *t = &f->tasks[i];
		bool finished = t->state == MESOS__V1__TASK_STATE__TASK_FINISHED;
		if (!t->terminal)
			fw_fail(f, "task %s never ended (last %s)", t->id, state_name(t->state));
		else if (count[i] > 0 && !finished)
			fw_fail(f, "task %s ran but ended %s", t->id, state_name(t->state));
		else if (count[i] == 0 && finished)
			fw_fail(f, "task %s FINISHED but never ran", t->id);
	}
out:
	if (fp != NULL)
		fclose(fp);
	free(count);
}

static void usage(void)
{
	fprintf(stderr, "usage: ha_framework --master=URL --marker=FILE --dir=DIR [--tasks=60]\n"
			"         [--concurrency=4] [--kills=3] [--sleep=1] [--timeout=600]\n"
			"         [--unknown_grace=60]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"master", required_argument, NULL, 'm'},
	    {"marker", required_argument, NULL, 'k'},
	    {"dir", required_argument, NULL, 'd'},
	    {"tasks", required_argument, NULL, 'n'},
	    {"concurrency", required_argument, NULL, 'c'},
	    {"kills", required_argument, NULL, 'K'},
	    {"sleep", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 't'},
	    {"unknown_grace", required_argument, NULL, 'u'},
	    {NULL, 0, NULL, 0},
	};
	static const struct keel_sched_cbs cbs = {
	    .subscribed = on_subscribed,
	    .offers = on_offers,
	    .update = on_update,
	    .error = on_error,
	    .disconnected = on_disconnected,
	};
	struct fw f = {.n = 60, .concurrency = 4, .kills = 3, .task_sleep = 1, .unknown_grace = 60};
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__FrameworkInfo__Capability cap = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__INIT;
	Mesos__V1__FrameworkInfo__Capability *caps[] = {&cap};
	struct keel_sched_config cfg = {.cbs = &cbs, .arg = &f, .backoff_max_ms = 2000};
	unsigned long long deadline, last_tick = 0;
	unsigned timeout = 600, lines = 0;
	char msg[KEEL_ERRMSG_SIZE];
	int c, rv;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			cfg.master = optarg;
			break;
		case 'k':
			f.marker = optarg;
			break;
		case 'd':
			f.dir = optarg;
			break;
		case 'n':
			f.n = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			f.concurrency = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'K':
			f.kills = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			f.task_sleep = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			timeout = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'u':
			f.unknown_grace = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (cfg.master == NULL || f.marker == NULL || f.dir == NULL || f.n == 0 ||
	    f.concurrency == 0 || f.kills >= MAX_SUBS || optind != argc) {
		usage();
		return 2;
	}
	f.tasks = calloc(f.n, sizeof(*f.tasks));
	if (f.tasks == NULL)
		return 1;
	for (unsigned i = 0; i < f.n; i++) {
		snprintf(f.tasks[i].id, sizeof(f.tasks[i].id), "ha-%u", i);
		f.tasks[i].state = -1;
		f.tasks[i].rank = -1;
	}
	fi.user = "root";
	fi.name = "ha-framework";
	fi.has_failover_timeout = true;
	fi.failover_timeout = 600;
	fi.has_checkpoint = true;
	fi.checkpoint = true;
	cap.has_type = true;
	cap.type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
	fi.capabilities = caps;
	fi.n_capabilities = 1;
	cfg.framework = &fi;
	rv = keel_sched_new(&cfg, &f.s, msg);
	if (rv == 0)
		rv = keel_sched_start(f.s, msg);
	if (rv < 0) {
		fprintf(stderr, "ha_framework: %s\n", msg);
		keel_sched_free(f.s);
		free(f.tasks);
		return 1;
	}
	deadline = now_ms() + (unsigned long long)timeout * 1000;
	while (!f.done) {
		struct pollfd p = {.fd = keel_sched_fd(f.s), .events = POLLIN};
		unsigned long long now;

		poll(&p, 1, KEEL_SCHED_PROCESS_INTERVAL_MS);
		if (keel_sched_process(f.s) < 0) {
			fw_fail(&f, "keel_sched_process failed");
			break;
		}
		now = now_ms();
		if (now >= deadline) {
			fw_fail(&f, "timed out after %u s", timeout);
			break;
		}
		if (now - last_tick >= 1000) {
			last_tick = now;
			tick(&f);
		}
	}
	write_progress(&f);
	keel_sched_stop(f.s);
	if (f.subs != f.kills + 1)
		fprintf(stderr, "ha_framework: %u subscriptions for %u kills\n", f.subs, f.kills);
	if (f.subs < f.kills + 1)
		fw_fail(&f, "only %u subscriptions for %u master kills", f.subs, f.kills);
	for (unsigned i = 0; i < f.subs && i < MAX_SUBS; i++)
		if (!f.recon_ok[i])
			fw_fail(&f, "no reconcile answered 202 after subscription %u", i + 1);
	check_marker(&f, &lines);
	{
		unsigned finished = 0, other = 0;
		for (unsigned i = 0; i < f.n; i++) {
			if (f.tasks[i].state == MESOS__V1__TASK_STATE__TASK_FINISHED)
				finished++;
			else
				other++;
		}
		printf("framework=%s subscriptions=%u launched=%u finished=%u not_run=%u "
		       "gave_up=%u marker_lines=%u updates=%u reconciliation_updates=%u acks=%u "
		       "launch_not_202=%u\n",
		       f.fid, f.subs, f.launched, finished, other, f.gave_up, lines, f.updates,
		       f.recon_updates, f.acks, f.launch_fail);
	}
	keel_sched_free(f.s);
	free(f.tasks);
	if (f.errors[0] != '\0') {
		fprintf(stderr, "ha_framework: FAIL\n%s", f.errors);
		return 1;
	}
	return 0;
}
