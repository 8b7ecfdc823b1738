/* Unit tests for keel_hmap: a randomized run against a plain array, deletion while iterating. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runtime/alloc.h"
#include "runtime/hmap.h"

#define N_KEYS 3000

static char keys[N_KEYS][16];

static void keys_init(void)
{
	for (int i = 0; i < N_KEYS; i++)
		snprintf(keys[i], sizeof(keys[i]), "agent-S%d", i);
}

TEST(hmap_empty)
{
	struct keel_hmap m = {0};
	size_t pos = 0;
	const char *k;
	void *v;

	ASSERT_NULL(keel_hmap_get(&m, "x"));
	ASSERT_NULL(keel_hmap_del(&m, "x"));
	ASSERT_FALSE(keel_hmap_next(&m, &pos, &k, &v));
	keel_hmap_free(&m);
}

TEST(hmap_put_replace_del)
{
	struct keel_hmap m = {0};
	int a = 1, b = 2;
	void *old = NULL;

	ASSERT_INT_EQ(keel_hmap_put(&m, "k", &a, NULL), 0);
	ASSERT_INT_EQ(keel_hmap_put(&m, "k", &b, &old), 1);
	ASSERT_TRUE(old == &a);
	ASSERT_PTR_EQ(keel_hmap_get(&m, "k"), &b);
	ASSERT_UINT_EQ(m.count, 1);
	ASSERT_PTR_EQ(keel_hmap_del(&m, "k"), &b);
	ASSERT_NULL(keel_hmap_get(&m, "k"));
	ASSERT_UINT_EQ(m.count, 0);
	keel_hmap_free(&m);
}

/* Random puts and deletes mirrored in an array; every lookup and a full iteration must agree. */
TEST(hmap_random_against_reference)
{
	struct keel_hmap m = {0};
	static int ref[N_KEYS]; /* 0 absent, else value tag */
	static int vals[N_KEYS];
	unsigned seed = (unsigned)th_seed();

	keys_init();
	memset(ref, 0, sizeof(ref));
	for (int step = 0; step < 200000; step++) {
		int i = rand_r(&seed) % N_KEYS;

		if (rand_r(&seed) % 3) {
			vals[i] = step + 1;
			ASSERT_INT_EQ(keel_hmap_put(&m, keys[i], &vals[i], NULL), ref[i] ? 1 : 0);
			ref[i] = 1;
		} else {
			ASSERT_PTR_EQ(keel_hmap_del(&m, keys[i]), ref[i] ? &vals[i] : NULL);
			ref[i] = 0;
		}
	}
	size_t live = 0;
	for (int i = 0; i < N_KEYS; i++) {
		live += ref[i] != 0;
		ASSERT_PTR_EQ(keel_hmap_get(&m, keys[i]), ref[i] ? &vals[i] : NULL);
	}
	ASSERT_UINT_EQ(m.count, live);
	static int seen[N_KEYS];
	size_t pos = 0, n = 0;
	const char *k;
	void *v;

	memset(seen, 0, sizeof(seen));
	while (keel_hmap_next(&m, &pos, &k, &v)) {
		int i = (int)((int *)v - vals);

		ASSERT_TRUE(i >= 0 && i < N_KEYS);
		ASSERT_STR_EQ(k, keys[i]);
		ASSERT_INT_EQ(seen[i], 0);
		seen[i] = 1;
		n++;
	}
	ASSERT_UINT_EQ(n, live);
	keel_hmap_free(&m);
}

/* Deleting each entry as the iteration returns it (or every other one) visits each entry once. */
TEST(hmap_delete_while_iterating)
{
	unsigned seed = (unsigned)th_seed();

	keys_init();
	for (int round = 0; round < 50; round++) {
		struct keel_hmap m = {0};
		static int seen[N_KEYS];
		int n_put = 1 + rand_r(&seed) % N_KEYS;
		size_t pos = 0, n = 0, deleted = 0;
		const char *k;
		void *v;

		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < n_put; i++)
			ASSERT_INT_EQ(keel_hmap_put(&m, keys[i], keys[i], NULL), 0);
		while (keel_hmap_next(&m, &pos, &k, &v)) {
			int i = (int)(((char(*)[16])v) - keys);

			ASSERT_INT_EQ(seen[i], 0);
			seen[i] = 1;
			n++;
			if (rand_r(&seed) % 2) {
				ASSERT_PTR_EQ(keel_hmap_del(&m, k), v);
				deleted++;
			}
		}
		ASSERT_UINT_EQ(n, (size_t)n_put);
		ASSERT_UINT_EQ(m.count, (size_t)n_put - deleted);
		keel_hmap_free(&m);
	}
}

#ifdef KEEL_FAILPOINTS
TEST(hmap_grow_failure_changes_nothing)
{
	struct keel_hmap m = {0};
	int i = 0, rv = 0;

	keys_init();
	keel_alloc_fail_after(1, false);
	rv = keel_hmap_put(&m, keys[0], keys[0], NULL);
	keel_alloc_fail_after(0, false);
	ASSERT_INT_EQ(rv, -ENOMEM);
	ASSERT_UINT_EQ(m.count, 0);
	for (i = 0; i < 12; i++)
		ASSERT_INT_EQ(keel_hmap_put(&m, keys[i], keys[i], NULL), 0);
	keel_alloc_fail_after(1, false);
	rv = keel_hmap_put(&m, keys[12], keys[12], NULL); /* needs to grow past 16 * 3/4 */
	keel_alloc_fail_after(0, false);
	ASSERT_INT_EQ(rv, -ENOMEM);
	ASSERT_UINT_EQ(m.count, 12);
	for (i = 0; i < 12; i++)
		ASSERT_PTR_EQ(keel_hmap_get(&m, keys[i]), keys[i]);
	ASSERT_NULL(keel_hmap_get(&m, keys[12]));
	keel_hmap_free(&m);
}
#endif
