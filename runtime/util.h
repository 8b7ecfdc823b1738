/* Small shared helpers: scope-bound cleanup, container_of, array sizes, branch hints. */
#ifndef KEEL_RUNTIME_UTIL_H
#define KEEL_RUNTIME_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define KEEL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KEEL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KEEL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define KEEL_UNUSED __attribute__((unused))
#define KEEL_LIKELY(x) __builtin_expect(!!(x), 1)
#define KEEL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KEEL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define KEEL_EXPORT __attribute__((visibility("default")))

#define keel_container_of(ptr, type, member)                                                       \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The value of one hex digit, or -1. */
static inline int keel_hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static inline void keel_cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void keel_cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/* Frees the pointer when it leaves scope; hand ownership off with keel_steal_ptr. */
#define cleanup_free __attribute__((cleanup(keel_cleanup_freep)))
/* Closes the fd when it leaves scope (if >= 0); hand it off with keel_steal_fd. */
#define cleanup_close __attribute__((cleanup(keel_cleanup_closep)))

static inline void *keel_steal_ptr_impl(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define keel_steal_ptr(pp) keel_steal_ptr_impl(pp)

static inline int keel_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#endif
