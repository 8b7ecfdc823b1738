/* Unit tests for the runtime basics: buffers, error messages, failpoints, allocation hooks, log. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "harness.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/err.h"
#include "runtime/failpoint.h"
#include "runtime/log.h"

TEST(buf_append_consume_compact)
{
	struct keel_buf b = KEEL_BUF_INIT;
	char big[1000];
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	ASSERT_OK(keel_buf_append(&b, big, sizeof(big)));
	ASSERT_UINT_EQ(keel_buf_size(&b), 1000);
	keel_buf_consume(&b, 990);
	ASSERT_UINT_EQ(keel_buf_size(&b), 10);
	ASSERT_MEM_EQ(keel_buf_rptr(&b), big + 990, 10);
	/* Room at the front is reused rather than growing. */
	size_t cap = b.cap;
	ASSERT_OK(keel_buf_append(&b, big, 500));
	ASSERT_UINT_EQ(b.cap, cap);
	ASSERT_MEM_EQ(keel_buf_rptr(&b), big + 990, 10);
	ASSERT_MEM_EQ(keel_buf_rptr(&b) + 10, big, 500);
	keel_buf_consume(&b, keel_buf_size(&b));
	ASSERT_UINT_EQ(b.off, 0);
	ASSERT_UINT_EQ(b.len, 0);
	keel_buf_free(&b);
}

TEST(buf_printf_and_steal)
{
	struct keel_buf b = KEEL_BUF_INIT;
	size_t n;

	ASSERT_OK(keel_buf_printf(&b, "%s=%d", "port", 5050));
	ASSERT_OK(keel_buf_putc(&b, ';'));
	keel_buf_consume(&b, 1);
	char *s = keel_buf_steal(&b, &n);
	ASSERT_STR_EQ(s, "ort=5050;");
	ASSERT_UINT_EQ(n, 9);
	ASSERT_NULL(b.data);
	free(s);
}

TEST(err_wrap_adds_context)
{
	char msg[KEEL_ERRMSG_SIZE] = "";

	ASSERT_INT_EQ(keel_errf(msg, -EINVAL, "bad port %d", 70000), -EINVAL);
	ASSERT_INT_EQ(keel_errwrap(msg, -EINVAL, "flag --port"), -EINVAL);
	ASSERT_STR_EQ(msg, "flag --port: bad port 70000");
	ASSERT_INT_EQ(keel_errno_f(msg, -ENOENT, "open %s", "/x"), -ENOENT);
	ASSERT_STR_EQ(msg, "open /x: No such file or directory");
	ASSERT_INT_EQ(keel_errf(NULL, -EIO, "ignored"), -EIO);
}

TEST(log_level_parse)
{
	enum keel_log_level l;

	ASSERT_OK(keel_log_level_parse("WARNING", &l));
	ASSERT_INT_EQ(l, KEEL_LOG_WARN);
	ASSERT_OK(keel_log_level_parse("debug", &l));
	ASSERT_INT_EQ(l, KEEL_LOG_DEBUG);
	ASSERT_INT_EQ(keel_log_level_parse("loud", &l), -EINVAL);
}

TEST(failpoint_spec_parse)
{
	ASSERT_OK(keel_failpoint_parse("a=1:EIO,b=3:28,c=2:crash"));
	ASSERT_INT_EQ(keel_failpoint_parse("a=0:EIO"), -EINVAL);
	ASSERT_INT_EQ(keel_failpoint_parse("a=1:EWHAT"), -EINVAL);
	ASSERT_INT_EQ(keel_failpoint_parse("noequals"), -EINVAL);
	keel_failpoint_clear();
}

#ifdef KEEL_FAILPOINTS
TEST(failpoint_countdown_fires_once)
{
	keel_failpoint_clear();
	ASSERT_OK(keel_failpoint_set("fp_test", 3, -EIO, 0));
	ASSERT_INT_EQ(KEEL_FAILPOINT("fp_test"), 0);
	ASSERT_INT_EQ(KEEL_FAILPOINT("other"), 0);
	ASSERT_INT_EQ(KEEL_FAILPOINT("fp_test"), 0);
	ASSERT_INT_EQ(KEEL_FAILPOINT("fp_test"), -EIO);
	ASSERT_INT_EQ(KEEL_FAILPOINT("fp_test"), 0);
	ASSERT_OK(keel_failpoint_set("fp_sticky", 1, -ENOSPC, 1));
	ASSERT_INT_EQ(KEEL_FAILPOINT("fp_sticky"), -ENOSPC);
	ASSERT_INT_EQ(KEEL_FAILPOINT("fp_sticky"), -ENOSPC);
	keel_failpoint_clear();
	ASSERT_INT_EQ(KEEL_FAILPOINT("fp_sticky"), 0);
}

/* Threads hitting one failpoint: its countdown is exact, it fires exactly once. */
struct fp_race {
	atomic_int fired; /* hits that returned the error */
	atomic_int go;	  /* start line */
};

static void *fp_race_thread(void *arg)
{
	struct fp_race *r = arg;
	int i;

	while (!atomic_load(&r->go))
		;
	for (i = 0; i < 20000; i++)
		if (KEEL_FAILPOINT("fp_race") == -EIO)
			atomic_fetch_add(&r->fired, 1);
	return NULL;
}

TEST(failpoint_hits_from_threads_count_exactly)
{
	struct fp_race r = {0};
	pthread_t t[4];
	int i, round;

	for (round = 0; round < 5; round++) {
		keel_failpoint_clear();
		atomic_store(&r.fired, 0);
		atomic_store(&r.go, 0);
		/* Fires on the 60,000th of 80,000 hits. */
		ASSERT_OK(keel_failpoint_set("fp_race", 60000, -EIO, 0));
		for (i = 0; i < 4; i++)
			ASSERT_INT_EQ(pthread_create(&t[i], NULL, fp_race_thread, &r), 0);
		atomic_store(&r.go, 1);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		ASSERT_INT_EQ(atomic_load(&r.fired), 1);
	}
	keel_failpoint_clear();
}

TEST(alloc_hook_fails_nth)
{
	struct keel_buf b = KEEL_BUF_INIT;

	keel_alloc_fail_after(1, false);
	ASSERT_INT_EQ(keel_buf_append(&b, "x", 1), -ENOMEM);
	ASSERT_OK(keel_buf_append(&b, "x", 1));
	keel_alloc_fail_after(0, false);
	keel_buf_free(&b);
}
#endif
