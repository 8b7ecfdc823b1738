/* coord internals the networked backends share: host formatting, backoff, lists of own nodes or
 * keys to delete later, and the goodbye thread. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord_int.h"
#include "runtime/alloc.h"

void coord_host_format(const struct coord_host *h, char *out, size_t n)
{
	if (strchr(h->host, ':') != NULL)
		snprintf(out, n, "[%s]:%u", h->host, h->port);
	else
		snprintf(out, n, "%s:%u", h->host, h->port);
}

uint64_t coord_backoff_ms(uint64_t base_ms, unsigned n)
{
	return base_ms << (n > 5 ? 5 : n);
}

/* --- string lists --- */

bool coord_strlist_add(struct coord_strlist *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = keel_realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return false;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = keel_strdup(s);
	if (l->v[l->n] == NULL)
		return false;
	l->n++;
	return true;
}

void coord_strlist_clear(struct coord_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		keel_free(l->v[i]);
	l->n = 0;
}

void coord_strlist_free(struct coord_strlist *l)
{
	coord_strlist_clear(l);
	keel_free(l->v);
	l->v = NULL;
	l->cap = 0;
}

void coord_strlist_drain(struct coord_strlist *l, void (*fn)(void *ctx, const char *s), void *ctx)
{
	struct coord_strlist old = *l;
	size_t i;

	if (old.n == 0)
		return;
	l->v = NULL;
	l->n = l->cap = 0;
	for (i = 0; i < old.n; i++)
		fn(ctx, old.v[i]);
	coord_strlist_free(&old);
}

/* --- the goodbye thread --- */

/* State shared between a goodbye thread and a caller that may wait for it. */
struct coord_goodbye {
	void (*fn)(void *arg); /* the goodbye */
	void *arg;	       /* its argument (fn owns it) */
	pthread_mutex_t mu;    /* guards done and refs */
	pthread_cond_t cv;     /* signalled when done */
	bool done;	       /* fn returned */
	int refs;	       /* thread + caller */
};

static void goodbye_unref(struct coord_goodbye *g)
{
	int left;

	pthread_mutex_lock(&g->mu);
	left = --g->refs;
	pthread_mutex_unlock(&g->mu);
	if (left > 0)
		return;
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

static void *goodbye_main(void *arg)
{
	struct coord_goodbye *g = arg;

	g->fn(g->arg);
	pthread_mutex_lock(&g->mu);
	g->done = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	goodbye_unref(g);
	return NULL;
}

/* Starts g's thread (detached); false when any part of it cannot be set up (g is then freed). */
static bool goodbye_start(struct coord_goodbye *g)
{
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t th;
	bool started = false;

	if (pthread_condattr_init(&ca) == 0) {
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (pthread_mutex_init(&g->mu, NULL) == 0) {
			if (pthread_cond_init(&g->cv, &ca) == 0) {
				if (pthread_attr_init(&attr) == 0) {
					pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
					started = pthread_create(&th, &attr, goodbye_main, g) == 0;
					pthread_attr_destroy(&attr);
				}
				if (!started)
					pthread_cond_destroy(&g->cv);
			}
			if (!started)
				pthread_mutex_destroy(&g->mu);
		}
		pthread_condattr_destroy(&ca);
	}
	if (!started)
		free(g);
	return started;
}

int coord_goodbye_run(void (*fn)(void *arg), void *arg, unsigned wait_ms)
{
	/* Plain calloc: the thread may free it after the process stopped counting allocations. */
	struct coord_goodbye *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return -ENOMEM;
	g->fn = fn;
	g->arg = arg;
	g->refs = 2;
	if (!goodbye_start(g))
		return -EAGAIN;
	if (wait_ms > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&g->mu);
		while (!g->done)
			if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) != 0)
				break;
		pthread_mutex_unlock(&g->mu);
	}
	goodbye_unref(g);
	return 0;
}
