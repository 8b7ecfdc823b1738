/* Tiny test harness: self-registering cases, typed asserts that print both sides, skip = exit 77.
 */
#ifndef KEEL_TESTS_HARNESS_H
#define KEEL_TESTS_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * A test binary is one .c file (or a few) with cases:
 *
 *	TEST(parser_rejects_bad_version)
 *	{
 *		ASSERT_INT_EQ(parse("HTTP/9.9"), -EINVAL);
 *	}
 *
 * linked with tests/harness.c, which supplies main(): it runs every case (or
 * those whose name contains argv's --filter), prints "ok NAME" or
 * "FAIL NAME" with the failed assertion, and exits 0 when all passed, 1 when
 * any failed, 77 (meson's skip) when every case skipped. A failed assertion
 * ends its case at once; the next case runs. Cases run in the order written.
 *
 * Fixtures are plain functions called at the top and bottom of a case;
 * parameter matrices are loops inside a case with TH_CONTEXT naming the row,
 * so a failure says which row failed.
 */

struct th_case {
	const char *name;     /* the TEST() name */
	void (*fn)(void);     /* the body */
	struct th_case *next; /* registration list */
};

void th_register(struct th_case *c);
void th_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
void th_skip(const char *reason) __attribute__((noreturn));
/* Sets a label printed with any failure in this case (e.g. the parameter row); NULL clears. */
void th_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Seed for randomized cases: --seed N on the command line, else time-based; printed on failure. */
uint64_t th_seed(void);

#define TEST(name)                                                                                 \
	static void th_test_##name(void);                                                          \
	__attribute__((constructor)) static void th_reg_##name(void)                               \
	{                                                                                          \
		static struct th_case c = {#name, th_test_##name, NULL};                           \
		th_register(&c);                                                                   \
	}                                                                                          \
	static void th_test_##name(void)

#define TH_SKIP(reason) th_skip(reason)
#define TH_CONTEXT(...) th_context(__VA_ARGS__)

#define ASSERT_TRUE(x)                                                                             \
	do {                                                                                       \
		if (!(x))                                                                          \
			th_fail(__FILE__, __LINE__, "expected true: %s", #x);                      \
	} while (0)

#define ASSERT_FALSE(x)                                                                            \
	do {                                                                                       \
		if ((x))                                                                           \
			th_fail(__FILE__, __LINE__, "expected false: %s", #x);                     \
	} while (0)

#define TH_CMP_INT(a, op, b)                                                                       \
	do {                                                                                       \
		int64_t th_a = (int64_t)(a), th_b = (int64_t)(b);                                  \
		if (!(th_a op th_b))                                                               \
			th_fail(__FILE__, __LINE__, "%s %s %s: %" PRId64 " vs %" PRId64, #a, #op,  \
				#b, th_a, th_b);                                                   \
	} while (0)

#define TH_CMP_UINT(a, op, b)                                                                      \
	do {                                                                                       \
		uint64_t th_a = (uint64_t)(a), th_b = (uint64_t)(b);                               \
		if (!(th_a op th_b))                                                               \
			th_fail(__FILE__, __LINE__, "%s %s %s: %" PRIu64 " vs %" PRIu64, #a, #op,  \
				#b, th_a, th_b);                                                   \
	} while (0)

#define ASSERT_INT_EQ(a, b) TH_CMP_INT(a, ==, b)
#define ASSERT_INT_NE(a, b) TH_CMP_INT(a, !=, b)
#define ASSERT_INT_LT(a, b) TH_CMP_INT(a, <, b)
#define ASSERT_INT_LE(a, b) TH_CMP_INT(a, <=, b)
#define ASSERT_INT_GT(a, b) TH_CMP_INT(a, >, b)
#define ASSERT_INT_GE(a, b) TH_CMP_INT(a, >=, b)
#define ASSERT_UINT_EQ(a, b) TH_CMP_UINT(a, ==, b)
#define ASSERT_UINT_NE(a, b) TH_CMP_UINT(a, !=, b)
#define ASSERT_UINT_LT(a, b) TH_CMP_UINT(a, <, b)
#define ASSERT_UINT_LE(a, b) TH_CMP_UINT(a, <=, b)
#define ASSERT_UINT_GT(a, b) TH_CMP_UINT(a, >, b)
#define ASSERT_UINT_GE(a, b) TH_CMP_UINT(a, >=, b)
#define ASSERT_PTR_EQ(a, b)                                                                        \
	TH_CMP_UINT((uintptr_t)(const void *)(a), ==, (uintptr_t)(const void *)(b))

/* rv == 0, else prints rv and strerror(-rv). */
#define ASSERT_OK(rv)                                                                              \
	do {                                                                                       \
		int64_t th_rv = (int64_t)(rv);                                                     \
		if (th_rv != 0)                                                                    \
			th_fail(__FILE__, __LINE__, "%s: expected 0, got %" PRId64 " (%s)", #rv,   \
				th_rv, th_rv < 0 ? strerror((int)-th_rv) : "positive");            \
	} while (0)

#define ASSERT_NULL(p)                                                                             \
	do {                                                                                       \
		const void *th_p = (p);                                                            \
		if (th_p != NULL)                                                                  \
			th_fail(__FILE__, __LINE__, "%s: expected NULL, got %p", #p, th_p);        \
	} while (0)

#define ASSERT_NOT_NULL(p)                                                                         \
	do {                                                                                       \
		if ((p) == NULL)                                                                   \
			th_fail(__FILE__, __LINE__, "%s: expected non-NULL", #p);                  \
	} while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
	do {                                                                                       \
		const char *th_a = (a), *th_b = (b);                                               \
		if (th_a == NULL || th_b == NULL || strcmp(th_a, th_b) != 0)                       \
			th_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b,          \
				th_a ? th_a : "(null)", th_b ? th_b : "(null)");                   \
	} while (0)

/* Substring check: haystack contains needle. */
#define ASSERT_STR_CONTAINS(hay, needle)                                                           \
	do {                                                                                       \
		const char *th_h = (hay), *th_n = (needle);                                        \
		if (th_h == NULL || strstr(th_h, th_n) == NULL)                                    \
			th_fail(__FILE__, __LINE__, "%s contains %s: \"%s\" lacks \"%s\"", #hay,   \
				#needle, th_h ? th_h : "(null)", th_n);                            \
	} while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                                     \
	do {                                                                                       \
		size_t th_n = (n);                                                                 \
		if (memcmp((a), (b), th_n) != 0)                                                   \
			th_fail(__FILE__, __LINE__, "%s == %s: %zu bytes differ", #a, #b, th_n);   \
	} while (0)

#endif
