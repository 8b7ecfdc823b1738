/* Allocation wrappers: the test countdown hook and the abort-on-failure variants for daemons. */
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KEEL_FAILPOINTS
/* Test-only state: allocations made, and the countdown to the next failure. */
static long alloc_count;
static long alloc_fail_at;
static bool alloc_sticky;

static bool alloc_should_fail(void)
{
	alloc_count++;
	if (alloc_fail_at == 0)
		return false;
	if (alloc_count == alloc_fail_at)
		return true;
	return alloc_sticky && alloc_count > alloc_fail_at;
}

long keel_alloc_fail_after(long n, bool sticky)
{
	long made = alloc_count;

	alloc_count = 0;
	alloc_fail_at = n;
	alloc_sticky = sticky;
	return made;
}
#else
static inline bool alloc_should_fail(void)
{
	return false;
}

long keel_alloc_fail_after(long n, bool sticky)
{
	(void)n;
	(void)sticky;
	return 0;
}
#endif

void *keel_malloc(size_t n)
{
	return alloc_should_fail() ? NULL : malloc(n);
}

void *keel_calloc(size_t nmemb, size_t size)
{
	return alloc_should_fail() ? NULL : calloc(nmemb, size);
}

void *keel_realloc(void *p, size_t n)
{
	return alloc_should_fail() ? NULL : realloc(p, n);
}

char *keel_strdup(const char *s)
{
	return alloc_should_fail() ? NULL : strdup(s);
}

char *keel_strndup(const char *s, size_t n)
{
	return alloc_should_fail() ? NULL : strndup(s, n);
}

void keel_free(void *p)
{
	free(p);
}

static void *oom(size_t n)
{
	fprintf(stderr, "keel: out of memory allocating %zu bytes\n", n);
	abort();
}

void *keel_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	return p ? p : oom(n);
}

void *keel_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	return p ? p : oom(nmemb * size);
}

void *keel_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	return q ? q : oom(n);
}

char *keel_xstrdup(const char *s)
{
	char *p = strdup(s);
	return p ? p : oom(strlen(s) + 1);
}
