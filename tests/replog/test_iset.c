/* Unit tests for the replog interval set (replog/iset.c), against a bitmap model. */
#include <errno.h>
#include <stdlib.h>

#include "harness.h"
#include "replog/iset.h"
#include "runtime/alloc.h"
#include "cluster.h"

TEST(iset_add_merges_and_remove_splits)
{
	struct replog_iset s = {0};
	uint64_t x;

	ASSERT_OK(replog_iset_add(&s, 10, 20));
	ASSERT_OK(replog_iset_add(&s, 21, 25)); /* touching: merged */
	ASSERT_UINT_EQ(s.n, 1);
	ASSERT_OK(replog_iset_add(&s, 30, 30));
	ASSERT_UINT_EQ(s.n, 2);
	ASSERT_OK(replog_iset_remove(&s, 15, 16)); /* split */
	ASSERT_UINT_EQ(s.n, 3);
	ASSERT_TRUE(replog_iset_contains(&s, 14));
	ASSERT_FALSE(replog_iset_contains(&s, 15));
	ASSERT_TRUE(replog_iset_contains(&s, 17));
	ASSERT_TRUE(replog_iset_next(&s, 15, &x));
	ASSERT_UINT_EQ(x, 17);
	ASSERT_TRUE(replog_iset_run(&s, 17, &x));
	ASSERT_UINT_EQ(x, 25);
	ASSERT_FALSE(replog_iset_run(&s, 26, &x));
	ASSERT_TRUE(replog_iset_none_in(&s, 26, 29));
	ASSERT_FALSE(replog_iset_none_in(&s, 26, 30));
	ASSERT_OK(replog_iset_remove(&s, 0, 100));
	ASSERT_TRUE(replog_iset_empty(&s));
	ASSERT_FALSE(replog_iset_next(&s, 0, &x));
	replog_iset_free(&s);
}

TEST(iset_extremes_of_uint64)
{
	struct replog_iset s = {0};
	uint64_t x;

	ASSERT_OK(replog_iset_add(&s, UINT64_MAX - 2, UINT64_MAX));
	ASSERT_OK(replog_iset_add(&s, 0, 0));
	ASSERT_OK(replog_iset_add(&s, 1, UINT64_MAX - 3)); /* everything */
	ASSERT_UINT_EQ(s.n, 1);
	ASSERT_OK(replog_iset_remove(&s, 1, UINT64_MAX - 1));
	ASSERT_UINT_EQ(s.n, 2);
	ASSERT_TRUE(replog_iset_contains(&s, 0));
	ASSERT_TRUE(replog_iset_contains(&s, UINT64_MAX));
	ASSERT_TRUE(replog_iset_next(&s, 1, &x));
	ASSERT_UINT_EQ(x, UINT64_MAX);
	ASSERT_OK(replog_iset_remove(&s, UINT64_MAX, UINT64_MAX));
	ASSERT_OK(replog_iset_remove(&s, 0, 0));
	ASSERT_TRUE(replog_iset_empty(&s));
	/* A huge range costs one interval. */
	ASSERT_OK(replog_iset_add(&s, 5, 600000000));
	ASSERT_OK(replog_iset_remove(&s, 0, 599999999));
	ASSERT_UINT_EQ(s.n, 1);
	ASSERT_TRUE(replog_iset_contains(&s, 600000000));
	replog_iset_free(&s);
}

/* Random operations against a bitmap over [0, 256). */
TEST(iset_matches_model)
{
	struct replog_iset s = {0};
	struct sim_rng rng;
	bool model[256] = {false};
	unsigned i, op;
	uint64_t lo, hi, x, y;

	sim_rng_seed(&rng, th_seed());
	for (op = 0; op < 20000; op++) {
		lo = sim_rng_below(&rng, 256);
		hi = lo + sim_rng_below(&rng, 256 - lo);
		if (sim_rng_chance(&rng, 1, 2)) {
			ASSERT_OK(replog_iset_add(&s, lo, hi));
			for (i = (unsigned)lo; i <= hi; i++)
				model[i] = true;
		} else {
			ASSERT_OK(replog_iset_remove(&s, lo, hi));
			for (i = (unsigned)lo; i <= hi; i++)
				model[i] = false;
		}
		x = sim_rng_below(&rng, 256);
		ASSERT_INT_EQ(replog_iset_contains(&s, x), model[x]);
		for (y = x; y < 256 && !model[y]; y++)
			;
		if (y == 256) {
			ASSERT_FALSE(replog_iset_next(&s, x, &hi));
		} else {
			ASSERT_TRUE(replog_iset_next(&s, x, &hi));
			ASSERT_UINT_EQ(hi, y);
		}
		for (i = 1; i < s.n; i++)
			ASSERT_UINT_GT(s.v[i].lo, s.v[i - 1].hi + 1);
	}
	replog_iset_free(&s);
}

TEST(iset_out_of_memory_leaves_set_unchanged)
{
	struct replog_iset s = {0};

	if (keel_alloc_fail_after(1, false) == 0 && false)
		TH_SKIP("unreachable");
	keel_alloc_fail_after(1, false);
	if (replog_iset_add(&s, 1, 2) == 0) {
		keel_alloc_fail_after(0, false);
		replog_iset_free(&s);
		TH_SKIP("allocation hooks need -Dfailpoints=true");
	}
	ASSERT_TRUE(replog_iset_empty(&s));
	keel_alloc_fail_after(0, false);
	ASSERT_OK(replog_iset_add(&s, 1, 2));
	ASSERT_OK(replog_iset_add(&s, 10, 20));
	/* Fill the allocation exactly (8 intervals), then a split must grow it. */
	ASSERT_OK(replog_iset_add(&s, 30, 30));
	ASSERT_OK(replog_iset_add(&s, 40, 40));
	ASSERT_OK(replog_iset_add(&s, 50, 50));
	ASSERT_OK(replog_iset_add(&s, 60, 60));
	ASSERT_OK(replog_iset_add(&s, 70, 70));
	ASSERT_OK(replog_iset_add(&s, 80, 80));
	ASSERT_UINT_EQ(s.n, 8);
	keel_alloc_fail_after(1, true);
	ASSERT_INT_EQ(replog_iset_remove(&s, 15, 15), -ENOMEM);
	ASSERT_INT_EQ(replog_iset_add(&s, 90, 90), -ENOMEM);
	keel_alloc_fail_after(0, false);
	ASSERT_UINT_EQ(s.n, 8);
	ASSERT_TRUE(replog_iset_contains(&s, 15));
	replog_iset_free(&s);
}
