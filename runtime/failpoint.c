/* Failpoint table: armed by tests or the KEEL_FAILPOINTS environment variable. */
#include "failpoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef KEEL_FAILPOINTS
/* One armed failpoint. */
struct failpoint {
	char name[64];	/* the name passed to KEEL_FAILPOINT; "" = free slot */
	long countdown; /* hits left before it fires; 0 = disarmed */
	int err;	/* negative errno, or KEEL_FAILPOINT_CRASH */
	int sticky;	/* keep firing after the first time */
	int fired;	/* has fired at least once */
};

/*
 * Test-only table; a handful of failpoints are armed at once. Hits come from
 * any thread (the loop, storage threads, client library threads), so the
 * table is guarded by fp_lock; fp_used lets a hit skip the lock while nothing
 * is armed.
 */
static struct failpoint fp_table[32];
static pthread_mutex_t fp_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int fp_used;			   /* slots with a name */
static atomic_int fp_env_skip;			   /* armed by hand: KEEL_FAILPOINTS is not read */
static pthread_once_t fp_once = PTHREAD_ONCE_INIT; /* reads KEEL_FAILPOINTS once */

static void failpoint_load_env(void)
{
	const char *spec = getenv("KEEL_FAILPOINTS");

	if (spec != NULL && !atomic_load(&fp_env_skip))
		keel_failpoint_parse(spec);
}

/* Counts the used slots again; with fp_lock held. */
static void failpoint_recount(void)
{
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(fp_table) / sizeof(fp_table[0]); i++)
		n += fp_table[i].name[0] != '\0';
	atomic_store(&fp_used, n);
}

int keel_failpoint_hit(const char *name)
{
	size_t i;
	int rv = 0;

	pthread_once(&fp_once, failpoint_load_env);
	if (atomic_load_explicit(&fp_used, memory_order_acquire) == 0)
		return 0;
	pthread_mutex_lock(&fp_lock);
	for (i = 0; i < sizeof(fp_table) / sizeof(fp_table[0]); i++) {
		struct failpoint *f = &fp_table[i];
		if (f->countdown == 0 && !(f->sticky && f->fired))
			continue;
		if (strcmp(f->name, name) != 0)
			continue;
		if (!f->fired && --f->countdown > 0)
			break;
		f->countdown = 0;
		f->fired = 1;
		if (f->err == KEEL_FAILPOINT_CRASH)
			_exit(KEEL_FAILPOINT_CRASH_STATUS);
		rv = f->err;
		break;
	}
	pthread_mutex_unlock(&fp_lock);
	return rv;
}

int keel_failpoint_set(const char *name, long countdown, int err, int sticky)
{
	size_t i, freeslot = (size_t)-1;
	int rv = 0;

	atomic_store(&fp_env_skip, 1);
	if (strlen(name) >= sizeof(fp_table[0].name))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&fp_lock);
	for (i = 0; i < sizeof(fp_table) / sizeof(fp_table[0]); i++) {
		struct failpoint *f = &fp_table[i];
		if (strcmp(f->name, name) == 0) {
			freeslot = i;
			break;
		}
		if (f->name[0] == '\0' && freeslot == (size_t)-1)
			freeslot = i;
	}
	if (freeslot == (size_t)-1) {
		rv = countdown == 0 ? 0 : -ENOSPC;
	} else {
		struct failpoint *f = &fp_table[freeslot];
		strcpy(f->name, name);
		f->countdown = countdown;
		f->err = err;
		f->sticky = sticky;
		f->fired = 0;
		if (countdown == 0)
			f->name[0] = '\0';
		failpoint_recount();
	}
	pthread_mutex_unlock(&fp_lock);
	return rv;
}

void keel_failpoint_clear(void)
{
	atomic_store(&fp_env_skip, 1);
	pthread_mutex_lock(&fp_lock);
	memset(fp_table, 0, sizeof(fp_table));
	failpoint_recount();
	pthread_mutex_unlock(&fp_lock);
}
#else
int keel_failpoint_set(const char *name, long countdown, int err, int sticky)
{
	(void)name;
	(void)countdown;
	(void)err;
	(void)sticky;
	return -ENOSYS;
}

void keel_failpoint_clear(void)
{
}
#endif

/* Errno names accepted in KEEL_FAILPOINTS. */
static const struct {
	const char *name;
	int err;
} fp_errnos[] = {
    {"EIO", EIO},	{"ENOSPC", ENOSPC},	    {"ENOMEM", ENOMEM},
    {"EAGAIN", EAGAIN}, {"ECONNRESET", ECONNRESET}, {"ETIMEDOUT", ETIMEDOUT},
    {"EROFS", EROFS},	{"EPIPE", EPIPE},
};

static int failpoint_parse_action(const char *s, size_t n, int *err)
{
	size_t i;
	char *end;
	long v;

	if (n == 5 && memcmp(s, "crash", 5) == 0) {
		*err = KEEL_FAILPOINT_CRASH;
		return 0;
	}
	for (i = 0; i < sizeof(fp_errnos) / sizeof(fp_errnos[0]); i++) {
		if (strlen(fp_errnos[i].name) == n && memcmp(fp_errnos[i].name, s, n) == 0) {
			*err = -fp_errnos[i].err;
			return 0;
		}
	}
	v = strtol(s, &end, 10);
	if (end != s + n || v <= 0 || v > 4095)
		return -EINVAL;
	*err = (int)-v;
	return 0;
}

int keel_failpoint_parse(const char *spec)
{
	const char *p = spec;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *colon = eq ? memchr(eq, ':', (size_t)(end - eq)) : NULL;
		char name[64], *numend;
		long countdown;
		int err, rv;

		if (eq == NULL || colon == NULL || eq == p || (size_t)(eq - p) >= sizeof(name))
			return -EINVAL;
		memcpy(name, p, (size_t)(eq - p));
		name[eq - p] = '\0';
		countdown = strtol(eq + 1, &numend, 10);
		if (numend != colon || countdown < 1)
			return -EINVAL;
		rv = failpoint_parse_action(colon + 1, (size_t)(end - colon - 1), &err);
		if (rv < 0)
			return rv;
		rv = keel_failpoint_set(name, countdown, err, 0);
		if (rv < 0)
			return rv;
		p = comma ? comma + 1 : end;
	}
	return 0;
}
