/* A reference model that drives the allocator with random events and checks its promises. */
#ifndef KEEL_TESTS_MASTER_TEST_ALLOCATOR_MODEL_H
#define KEEL_TESTS_MASTER_TEST_ALLOCATOR_MODEL_H

#include <stdint.h>

/*
 * The model owns an allocator and mirrors what a master would know: agents and their
 * totals, frameworks with roles, suppressions and capabilities, what each framework holds
 * in each role on each agent (offered or running), and every filter it asked for. Each
 * step applies one event chosen by three random words (add/remove/update agents and
 * frameworks, suppress, revive, weights, quotas, used resources, recoveries, allocation
 * cycles whose offers it accepts, declines or keeps) and then checks:
 *   - allocator_check() passes, and what the allocator says each framework holds on each
 *     agent (and each agent's free) equals the model's books;
 *   - every offer fits in the agent's free resources (so nothing is offered twice), goes to
 *     a framework that wants offers in that role, carries only resources unreserved or
 *     reserved to that role, no GPUs to frameworks without GPU_RESOURCES, at most one per
 *     (framework, role, agent) per cycle;
 *   - no offer is a subset of what that framework refused in that role on that agent with a
 *     filter that has not expired;
 *   - while no quota is set, nothing usable is left behind by a cycle: no framework that
 *     wants offers is left with an agent whose free resources it could be offered.
 * A violation calls `fail` with a message and the recent event trace.
 */

struct model;

/* Reports a violation; must not return (the model aborts if it does). */
typedef void (*model_fail_fn)(void *ctx, const char *msg);

/* A new model with an empty allocator; NULL when out of memory. */
struct model *model_new(model_fail_fn fail, void *ctx);
void model_free(struct model *m);

/* Applies one event chosen by r1..r3 and checks everything. */
void model_step(struct model *m, uint32_t r1, uint32_t r2, uint32_t r3);

/* Offers made so far (to tell a run that did something from one that did not). */
uint64_t model_offers(const struct model *m);

#endif
