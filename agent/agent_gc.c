/* Sandbox garbage collection: a sandbox is removed --gc_delay after its task was forgotten. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "runtime/log.h"

static uint64_t gc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int gc_unlink(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	if (remove(path) < 0 && errno != ENOENT)
		KEEL_WARN("agent", "gc: remove %s: %s", path, strerror(errno));
	return 0;
}

/*
 * A gc record: key `g/<container id>`, value "<deadline ms> <task key>"; beside it
 * `s/<task key>` -> container ID, so a forgotten task's sandbox stays readable by its
 * virtual path until it is removed.
 */

/* State of one scan: what is due, and the earliest deadline not yet due. */
struct gc_scan {
	struct agent *agent;		    /* owner */
	uint64_t now;			    /* wall clock, ms */
	uint64_t next;			    /* earliest deadline in the future, 0 none */
	char due[64][KEEL_CTR_ID_SIZE + 2]; /* store keys due now (bounded per pass) */
	char task[64][1100];		    /* their `s/<task key>` keys, "" without one */
	unsigned n_due;			    /* how many */
};

static int gc_scan_one(void *arg, const char *key, const void *val, size_t len)
{
	struct gc_scan *g = arg;
	char buf[1100], *task;
	uint64_t when;

	if (len == 0 || len >= sizeof(buf) || strlen(key) >= sizeof(g->due[0]))
		return 0;
	memcpy(buf, val, len);
	buf[len] = '\0';
	when = strtoull(buf, &task, 10);
	if (when <= g->now) {
		if (g->n_due < 64) {
			snprintf(g->task[g->n_due], sizeof(g->task[0]), "%s%s",
				 *task == ' ' ? "s/" : "", *task == ' ' ? task + 1 : "");
			snprintf(g->due[g->n_due++], sizeof(g->due[0]), "%s", key);
		} else if (!g->next || g->now < g->next)
			g->next = g->now; /* the rest in the next pass */
	} else if (!g->next || when < g->next) {
		g->next = when;
	}
	return 0;
}

/* Removes what is due and re-arms the timer for the next deadline. */
static void gc_run(struct agent *a)
{
	struct gc_scan *g = calloc(1, sizeof(*g));

	if (!g)
		return;
	g->agent = a;
	g->now = gc_now_ms();
	if (agent_store_scan(a->store, "g/", gc_scan_one, g, a->errmsg) < 0)
		KEEL_WARN("agent", "gc: %s", a->errmsg);
	for (unsigned i = 0; i < g->n_due; i++) {
		char dir[4200];

		snprintf(dir, sizeof(dir), "%s/sandboxes/%s", a->work_dir, g->due[i] + 2);
		nftw(dir, gc_unlink, 16, FTW_DEPTH | FTW_PHYS);
		agent_store_del(a->store, g->due[i], NULL);
		if (g->task[i][0])
			agent_store_del(a->store, g->task[i], NULL);
	}
	if (g->n_due && a->flush_timer)
		agent_flush_soon(a);
	if (g->next)
		keel_timer_start(a->gc_timer, g->next > g->now ? g->next - g->now : 0, 0);
	free(g);
}

static void gc_on_timer(struct keel_timer *t, void *arg)
{
	gc_run(arg);
}

int agent_gc_open(struct agent *a, char *errmsg)
{
	int rv = keel_timer_new(a->loop, gc_on_timer, a, &a->gc_timer);

	if (rv < 0)
		return keel_errf(errmsg, rv, "out of memory");
	gc_run(a);
	return 0;
}

void agent_gc_close(struct agent *a)
{
	keel_timer_free(a->gc_timer);
	a->gc_timer = NULL;
}

void agent_gc_schedule(struct agent *a, const char *ctr_id, const char *task_key)
{
	char key[1100], val[1100];
	uint64_t delay_ms = (uint64_t)(a->gc_delay_ns / 1000000);
	int n;

	if (!ctr_id[0] || !a->gc_timer)
		return;
	n = snprintf(val, sizeof(val), "%" PRIu64 " %s", gc_now_ms() + delay_ms, task_key);
	if (n >= (int)sizeof(val) ||
	    snprintf(key, sizeof(key), "s/%s", task_key) >= (int)sizeof(key) ||
	    agent_store_put(a->store, key, ctr_id, strlen(ctr_id), a->errmsg) < 0)
		n = snprintf(val, sizeof(val), "%" PRIu64, gc_now_ms() + delay_ms);
	snprintf(key, sizeof(key), "g/%s", ctr_id);
	if (agent_store_put(a->store, key, val, (size_t)n, a->errmsg) < 0) {
		KEEL_WARN("agent", "gc: %s", a->errmsg);
		return;
	}
	agent_flush_soon(a);
	if (!keel_timer_active(a->gc_timer))
		keel_timer_start(a->gc_timer, delay_ms, 0);
}

bool agent_gc_sandbox_of(struct agent *a, const char *task_key, char *out, size_t n)
{
	struct keel_buf b = KEEL_BUF_INIT;
	char key[1100];
	bool ok;

	if (snprintf(key, sizeof(key), "s/%s", task_key) >= (int)sizeof(key) ||
	    agent_store_get(a->store, key, &b, NULL) < 0)
		return false;
	ok = b.len - b.off > 0 && b.len - b.off < n;
	if (ok) {
		memcpy(out, b.data + b.off, b.len - b.off);
		out[b.len - b.off] = '\0';
	}
	keel_buf_free(&b);
	return ok;
}
