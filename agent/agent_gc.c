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
 * A gc record: key `g/<deadline ms, 16 hex digits>/<container id>`, value the task key (or
 * empty); beside it `s/<task key>` -> container ID, so a forgotten task's sandbox stays
 * readable by its virtual path until it is removed. Keys sort by deadline, so a pass reads
 * what is due and one record more: its cost is what it removes, not what the store holds.
 */
#define GC_PASS_MAX 64 /* sandboxes removed per pass; the rest in the next, at once */

/* State of one scan: what is due, and the earliest deadline not yet due. */
struct gc_scan {
	uint64_t now;				      /* wall clock, ms */
	uint64_t next;				      /* earliest deadline still to come, 0 none */
	char due[GC_PASS_MAX][KEEL_CTR_ID_SIZE + 24]; /* store keys due now */
	char task[GC_PASS_MAX][1100]; /* their `s/<task key>` keys, "" without one */
	unsigned n_due;		      /* how many */
};

/* Collects due records in deadline order; stops (returns 1) at the first one not due. */
static int gc_scan_one(void *arg, const char *key, const void *val, size_t len)
{
	struct gc_scan *g = arg;
	uint64_t when = strtoull(key + 2, NULL, 16);

	if (when > g->now || g->n_due == GC_PASS_MAX) {
		g->next = when > g->now ? when : g->now;
		return 1;
	}
	if (strlen(key) >= sizeof(g->due[0]) || len + 3 > sizeof(g->task[0]))
		return 0; /* not ours */
	snprintf(g->due[g->n_due], sizeof(g->due[0]), "%s", key);
	if (len > 0) {
		memcpy(g->task[g->n_due], "s/", 2);
		memcpy(g->task[g->n_due] + 2, val, len);
		g->task[g->n_due][len + 2] = '\0';
	} else {
		g->task[g->n_due][0] = '\0';
	}
	g->n_due++;
	return 0;
}

/* Removes what is due and re-arms the timer for the next deadline. */
static void gc_run(struct agent *a)
{
	struct gc_scan *g = calloc(1, sizeof(*g));

	if (!g)
		return;
	g->now = gc_now_ms();
	if (agent_store_scan(a->store, "g/", gc_scan_one, g, a->errmsg) < 0)
		KEEL_WARN("agent", "gc: %s", a->errmsg);
	for (unsigned i = 0; i < g->n_due; i++) {
		const char *ctr = strchr(g->due[i] + 2, '/');
		char dir[4200];

		if (ctr != NULL && ctr[1] != '\0') {
			snprintf(dir, sizeof(dir), "%s/sandboxes/%s", a->work_dir, ctr + 1);
			nftw(dir, gc_unlink, 16, FTW_DEPTH | FTW_PHYS);
		}
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
	char key[1100];
	uint64_t delay_ms = (uint64_t)(a->gc_delay_ns / 1000000);
	const char *val = task_key;

	if (!ctr_id[0] || !a->gc_timer)
		return;
	if (snprintf(key, sizeof(key), "s/%s", task_key) >= (int)sizeof(key) ||
	    agent_store_put(a->store, key, ctr_id, strlen(ctr_id), a->errmsg) < 0)
		val = ""; /* the sandbox still goes; only its virtual path is not kept */
	snprintf(key, sizeof(key), "g/%016" PRIx64 "/%s", gc_now_ms() + delay_ms, ctr_id);
	if (agent_store_put(a->store, key, val, strlen(val), a->errmsg) < 0) {
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
