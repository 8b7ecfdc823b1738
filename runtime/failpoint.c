/* Failpoint table: armed by tests or the KEEL_FAILPOINTS environment variable. */
#include "failpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef KEEL_FAILPOINTS
/* One armed failpoint. */
struct failpoint {
	char name[64];	/* the name passed to KEEL_FAILPOINT */
	long countdown; /* hits left before it fires; 0 = disarmed */
	int err;	/* negative errno, or KEEL_FAILPOINT_CRASH */
	int sticky;	/* keep firing after the first time */
	int fired;	/* has fired at least once */
};

/* Test-only table; a handful of failpoints are armed at once. */
static struct failpoint fp_table[32];
static int fp_env_loaded;

static void failpoint_load_env(void)
{
	const char *spec;

	if (fp_env_loaded)
		return;
	fp_env_loaded = 1;
	spec = getenv("KEEL_FAILPOINTS");
	if (spec != NULL)
		keel_failpoint_parse(spec);
}

int keel_failpoint_hit(const char *name)
{
	size_t i;

	failpoint_load_env();
	for (i = 0; i < sizeof(fp_table) / sizeof(fp_table[0]); i++) {
		struct failpoint *f = &fp_table[i];
		if (f->countdown == 0 && !(f->sticky && f->fired))
			continue;
		if (strcmp(f->name, name) != 0)
			continue;
		if (!f->fired && --f->countdown > 0)
			return 0;
		f->countdown = 0;
		f->fired = 1;
		if (f->err == KEEL_FAILPOINT_CRASH)
			_exit(KEEL_FAILPOINT_CRASH_STATUS);
		return f->err;
	}
	return 0;
}

int keel_failpoint_set(const char *name, long countdown, int err, int sticky)
{
	size_t i, freeslot = (size_t)-1;

	fp_env_loaded = 1;
	for (i = 0; i < sizeof(fp_table) / sizeof(fp_table[0]); i++) {
		struct failpoint *f = &fp_table[i];
		if (strcmp(f->name, name) == 0) {
			freeslot = i;
			break;
		}
		if (f->name[0] == '\0' && freeslot == (size_t)-1)
			freeslot = i;
	}
	if (freeslot == (size_t)-1)
		return -ENOSPC;
	struct failpoint *f = &fp_table[freeslot];
	if (strlen(name) >= sizeof(f->name))
		return -ENAMETOOLONG;
	strcpy(f->name, name);
	f->countdown = countdown;
	f->err = err;
	f->sticky = sticky;
	f->fired = 0;
	if (countdown == 0)
		f->name[0] = '\0';
	return 0;
}

void keel_failpoint_clear(void)
{
	memset(fp_table, 0, sizeof(fp_table));
	fp_env_loaded = 1;
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
