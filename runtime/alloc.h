/* Allocation wrappers with a countdown fault hook for tests; libraries return -ENOMEM on failure.
 */
#ifndef KEEL_RUNTIME_ALLOC_H
#define KEEL_RUNTIME_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Out-of-memory policy: library code (runtime, replog, coord, containerizer,
 * sched) calls these and returns -ENOMEM when they return NULL. Daemons call
 * keel_xmalloc and friends, which abort with a message: a daemon that cannot
 * allocate cannot keep its promises and is restarted by its supervisor.
 */
void *keel_malloc(size_t n);
void *keel_calloc(size_t nmemb, size_t size);
void *keel_realloc(void *p, size_t n);
char *keel_strdup(const char *s);
char *keel_strndup(const char *s, size_t n);
void keel_free(void *p);

void *keel_xmalloc(size_t n);
void *keel_xcalloc(size_t nmemb, size_t size);
void *keel_xrealloc(void *p, size_t n);
char *keel_xstrdup(const char *s);

/*
 * Test hook, effective only in builds with -Dfailpoints=true: the nth
 * allocation from now fails (1 = the next one), and with `sticky` every one
 * after it too. n = 0 turns the hook off. Returns how many allocations were
 * made since the previous call, so a test can first count, then fail each.
 */
long keel_alloc_fail_after(long n, bool sticky);

#endif
