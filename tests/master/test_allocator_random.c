/* Randomized invariant test of the allocator: seeded event sequences checked by the model. */
#include <stdio.h>

#include "harness.h"
#include "test_allocator_model.h"

static void on_violation(void *ctx, const char *msg)
{
	(void)ctx;
	th_fail(__FILE__, __LINE__, "%s", msg);
}

static uint32_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 16);
}

/*
 * 16 runs of 3,000 events from the seed (--seed N replays one): never more offered than
 * free, no resources in two offers, no offer through a live filter, nothing usable left
 * after a cycle when no quota is set, books that agree with the model after every event.
 */
TEST(allocator_random_invariants)
{
	uint64_t seed = th_seed(), offers = 0;

	printf("# allocator_random_invariants seed %llu\n", (unsigned long long)seed);
	for (unsigned run = 0; run < 16; run++) {
		uint64_t s = (seed + run) * 0x9e3779b97f4a7c15ULL | 1;
		struct model *m = model_new(on_violation, NULL);

		ASSERT_NOT_NULL(m);
		TH_CONTEXT("seed %llu run %u", (unsigned long long)seed, run);
		for (unsigned step = 0; step < 3000; step++) {
			uint32_t r1 = next(&s), r2 = next(&s), r3 = next(&s);

			model_step(m, r1, r2, r3);
		}
		offers += model_offers(m);
		model_free(m);
	}
	TH_CONTEXT(NULL);
	/* The runs did allocate (a broken driver could check nothing). */
	ASSERT_UINT_GT(offers, 3000);
}
