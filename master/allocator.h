/* The allocator: a pure DRF core that turns free agent resources into offers (no I/O, no clock). */
#ifndef KEEL_MASTER_ALLOCATOR_H
#define KEEL_MASTER_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

/*
 * One `struct allocator` holds what the master's allocator needs to decide
 * offers: agents (total and free resources, what each framework holds there),
 * frameworks (roles, suppressed roles, capabilities), roles (weights, quota
 * guarantees) and offer filters. It does no I/O, reads no clock and draws no
 * random number: time comes in as an argument (milliseconds on any monotonic
 * scale the caller likes, within [0, 2^53]; outside it -EINVAL), and the same
 * sequence of calls always gives the same offers. The master (or a test,
 * the fuzzer, the benchmark) calls it for every event and calls
 * allocator_allocate() when it wants offers.
 *
 * Allocation (docs/allocator.md has the details):
 *   - "allocated" means offered or in use by tasks; the core does not tell the
 *     two apart. Offered resources come back through allocator_recover()
 *     (declined, rescinded, left unused by an ACCEPT, or a task finished).
 *   - An offer holds everything an agent has free for the role (unreserved
 *     resources plus those reserved to that role), cut down only by quota
 *     headroom (below). Each cycle gives an agent's free resources to the
 *     client (framework, role) with the lowest share: roles by dominant share
 *     divided by weight, then frameworks within the role by dominant share.
 *   - Quota: first every role whose guarantee is not met gets resources up
 *     to what it is still owed; then everyone shares fairly, and no
 *     allocation may leave less unreserved free than the roles with quota
 *     are still owed (headroom), except to the owed role itself.
 *   - Filters: recovering with refuse_seconds > 0 keeps the framework (in that
 *     role) from being offered a subset of those resources on that agent until
 *     the time passes. REVIVE clears them.
 *
 * Cost: a cycle visits only agents whose free resources changed (or whose
 * filters expired) since the previous cycle, plus every agent for a client
 * that is new, revived or unsuppressed; agents are kept in bitmaps so that a
 * client skips 64 uninteresting agents per word. A cycle with nothing changed
 * returns at once. See docs/allocator.md ("Cost") for the exceptions (quota
 * roles still owed resources, offers cut by headroom, agents whose free
 * resources outgrew a filter).
 *
 * Memory: the allocator owns everything it stores; strings passed in are
 * copied. Pointers it returns (offers, resources, strings in offers) stay
 * valid until the next call into the same allocator unless a function says
 * otherwise. Resources (`struct allocator_res`) are immutable reference-counted
 * values that belong to one allocator (names inside them are interned there);
 * never pass them to another allocator.
 *
 * Errors: functions return 0 or a negative errno, with one line in
 * allocator_errmsg(). Unless a function says otherwise a failure changes
 * nothing: -EINVAL (bad argument), -ENOENT (unknown agent, framework, role),
 * -EEXIST (added twice), -ENOSPC (a fixed limit below), -ENOMEM.
 *
 * Threads: one thread at a time per allocator; allocators share nothing.
 */

struct allocator;
struct allocator_res;

/* Distinct resource names one allocator accepts (cpus, mem, disk, gpus, ports, ...). */
#define ALLOCATOR_NAMES_MAX 64
/* The largest scalar, in thousandths (a billion units of anything). */
#define ALLOCATOR_SCALAR_MAX 1000000000000LL
/* The most agents one allocator holds. */
#define ALLOCATOR_AGENTS_MAX (1u << 22)
/* Pass as refuse_seconds for "the Filters message was absent": the default filter. */
#define ALLOCATOR_REFUSE_DEFAULT (-1.0)
/* Filters last at most this long, as in Mesos (365 days). */
#define ALLOCATOR_REFUSE_MAX_MS (365LL * 24 * 3600 * 1000)

struct allocator_config {
	/* Filter length when refuse_seconds is negative or NaN; 0 means 5000 (Mesos's 5 s). */
	int64_t default_refuse_ms;
	/*
	 * --min_allocatable_resources in Mesos's form: alternatives separated by
	 * '|', each a list of scalar quantities ("cpus:0.01|mem:32", the default
	 * when NULL). An agent's free resources are offered only when they hold
	 * at least one alternative. "" offers anything not empty.
	 */
	const char *min_allocatable;
};

/*
 * Creates an allocator (cfg NULL: defaults). Returns 0 and sets *out, -EINVAL (a bad
 * min_allocatable) or -ENOMEM, with a message in errmsg (KEEL_ERRMSG_SIZE bytes) if not NULL.
 */
int allocator_new(const struct allocator_config *cfg, struct allocator **out, char *errmsg);

/* Frees the allocator and the offers of its last cycle. Resources the caller still references
 * (allocator_res_ref) must be released before. NULL is ignored. */
void allocator_free(struct allocator *a);

/* The message of the last failure. */
const char *allocator_errmsg(const struct allocator *a);

/* ---- Resources --------------------------------------------------------------------------- */

/*
 * Parses Mesos's text form: "cpus:4;mem:1024;disk(role1):10;ports:[31000-32000,40000-40010];
 * zones:{a,b}". Scalars keep three decimal digits (rounded, as Mesos does), must be >= 0
 * and <= ALLOCATOR_SCALAR_MAX / 1000; a name(role) is reserved to the role; "*" or no role
 * is unreserved. Repeated names add up. Returns 0 and a new reference in *out (release
 * with allocator_res_unref), -EINVAL, -ENOSPC (too many names) or -ENOMEM.
 */
int allocator_res_parse(struct allocator *a, const char *text, struct allocator_res **out);

/*
 * Writes r in the text form above (canonical: sorted, ranges merged, no zeros) into buf,
 * snprintf-style: returns the length the whole text needs.
 */
size_t allocator_res_format(const struct allocator *a, const struct allocator_res *r, char *buf,
			    size_t size);

/* Takes one more reference; returns r. */
struct allocator_res *allocator_res_ref(const struct allocator_res *r);

/* Drops one reference (NULL is ignored). */
void allocator_res_unref(struct allocator_res *r);

bool allocator_res_empty(const struct allocator_res *r);
bool allocator_res_equal(const struct allocator_res *x, const struct allocator_res *y);
/* True when every resource in y is in x (scalars <=, ranges and sets as subsets, same roles). */
bool allocator_res_contains(const struct allocator_res *x, const struct allocator_res *y);

/* x + y into a new reference in *out; -ENOMEM. */
int allocator_res_add(struct allocator *a, const struct allocator_res *x,
		      const struct allocator_res *y, struct allocator_res **out);

/* x - y into a new reference in *out; -EINVAL when x does not contain y; -ENOMEM. */
int allocator_res_subtract(struct allocator *a, const struct allocator_res *x,
			   const struct allocator_res *y, struct allocator_res **out);

/*
 * The scalar `name` in r, in thousandths: reserved to `role` only, or with role NULL
 * summed over every role (unreserved included). 0 when absent.
 */
int64_t allocator_res_scalar(const struct allocator *a, const struct allocator_res *r,
			     const char *name, const char *role);

/* ---- Agents ------------------------------------------------------------------------------ */

/* Resources a framework already holds on an agent (tasks running before the master knew). */
struct allocator_use {
	const char *framework_id;	 /* need not be added yet (a framework failing over) */
	const char *role;		 /* the role the resources are allocated to */
	const struct allocator_res *res; /* what it holds */
};

/*
 * Adds an active agent with its total resources and what frameworks already use there
 * (their sum must fit in total: else -EINVAL). -EEXIST if the ID is known, -ENOSPC past
 * ALLOCATOR_AGENTS_MAX.
 */
int allocator_agent_add(struct allocator *a, const char *agent_id,
			const struct allocator_res *total, const struct allocator_use *used,
			size_t n_used);

/*
 * Removes an agent and everything allocated on it (the master rescinds the offers and
 * does not recover them afterwards). -ENOENT.
 */
int allocator_agent_remove(struct allocator *a, const char *agent_id);

/* Replaces an agent's total; -EINVAL when what is allocated there would no longer fit. */
int allocator_agent_update_total(struct allocator *a, const char *agent_id,
				 const struct allocator_res *total);

/*
 * Records resources a framework uses on an agent outside any offer (an agent reporting a
 * task the master did not know about). -EINVAL when they are not free there.
 */
int allocator_agent_add_used(struct allocator *a, const char *agent_id, const char *framework_id,
			     const char *role, const struct allocator_res *res);

/* A deactivated agent keeps its allocations but is not offered. Both are idempotent. */
int allocator_agent_activate(struct allocator *a, const char *agent_id);
int allocator_agent_deactivate(struct allocator *a, const char *agent_id);

/* ---- Frameworks -------------------------------------------------------------------------- */

enum allocator_capability {
	ALLOCATOR_CAP_MULTI_ROLE = 1u << 0,    /* may subscribe to several roles (or none) */
	ALLOCATOR_CAP_GPU_RESOURCES = 1u << 1, /* may be offered agents that have GPUs */
};

struct allocator_framework {
	const char *id;		       /* the FrameworkID */
	const char *const *roles;      /* roles it subscribes to, distinct */
	size_t n_roles;		       /* exactly 1 without MULTI_ROLE */
	const char *const *suppressed; /* roles (among `roles`) it wants no offers for */
	size_t n_suppressed;	       /* entries in suppressed */
	uint32_t capabilities;	       /* enum allocator_capability bits */
};

/* Adds an active framework. -EEXIST when added already; -EINVAL for bad roles. */
int allocator_framework_add(struct allocator *a, const struct allocator_framework *fw);

/*
 * Replaces roles, suppressed roles and capabilities (UPDATE_FRAMEWORK, or a re-subscription).
 * A role dropped loses its filters; what the framework holds in it stays allocated until
 * recovered. -ENOENT, -EINVAL.
 */
int allocator_framework_update(struct allocator *a, const struct allocator_framework *fw);

/*
 * Removes a framework: everything it holds returns to the agents' free resources and its
 * filters go. Its offers and tasks must not be recovered afterwards. -ENOENT.
 */
int allocator_framework_remove(struct allocator *a, const char *framework_id);

/* A deactivated framework keeps its allocations and filters and gets no offers. */
int allocator_framework_activate(struct allocator *a, const char *framework_id);
int allocator_framework_deactivate(struct allocator *a, const char *framework_id);

/*
 * SUPPRESS: no more offers for these roles (n_roles 0: every role it subscribes to).
 * -EINVAL for a role it does not subscribe to (nothing changes).
 */
int allocator_framework_suppress(struct allocator *a, const char *framework_id,
				 const char *const *roles, size_t n_roles);

/* REVIVE: offers again for these roles (0: all), and their filters are removed. */
int allocator_framework_revive(struct allocator *a, const char *framework_id,
			       const char *const *roles, size_t n_roles);

/* ---- Roles ------------------------------------------------------------------------------- */

/* A role's weight (> 0, finite; 1 by default): its fair share is weight / sum of weights. */
int allocator_role_set_weight(struct allocator *a, const char *role, double weight);

/*
 * A role's quota guarantee: unreserved scalars only (cpus:10;mem:4096); NULL or empty
 * removes it. Not for "*". -EINVAL.
 */
int allocator_role_set_quota(struct allocator *a, const char *role,
			     const struct allocator_res *guarantee);

/* One quota limit: at most `value` of the scalar resource `name`. */
struct allocator_limit {
	const char *name; /* resource name (copied) */
	double value;	  /* >= 0, finite, at most ALLOCATOR_SCALAR_MAX / 1000; 0 is allowed */
};

/*
 * A role's quota limits (replacing the ones it had): each the most of that scalar the role may
 * hold at once, reserved and unreserved together (offers are cut to fit); names absent are
 * unlimited; n 0 removes them. A name listed twice: the last wins. Not for "*". -EINVAL (a bad
 * value, "*"), -ENOSPC (too many names), -ENOMEM; nothing changes on error. Lowering a limit
 * below what the role holds takes nothing back: it gets no more of that name until it is below
 * again.
 */
int allocator_role_set_limits(struct allocator *a, const char *role,
			      const struct allocator_limit *limits, size_t n);

/* ---- Recovery and allocation ------------------------------------------------------------- */

/*
 * Returns resources a framework held in `role` on an agent: a declined or rescinded offer,
 * resources an ACCEPT left unused, a finished task. `res` must be part of what the
 * framework holds there in that role (else -EINVAL, nothing changes); -ENOENT for an
 * unknown agent, framework or role (e.g. already removed).
 *
 * refuse_seconds as in mesos.v1.Filters: 0 sets no filter (use it for tasks and rescinds);
 * ALLOCATOR_REFUSE_DEFAULT, any negative value or NaN means the default length; more than
 * 365 days means 365 days. A filter keeps the framework, in that role, from being offered
 * any subset of `res` on that agent until now_ms + the length.
 */
int allocator_recover(struct allocator *a, const char *agent_id, const char *framework_id,
		      const char *role, const struct allocator_res *res, double refuse_seconds,
		      int64_t now_ms);

/* One offer to make: the allocator already counts the resources as allocated. */
struct allocator_offer {
	const char *framework_id;	       /* whom to offer */
	const char *role;		       /* Offer.allocation_info.role */
	const char *agent_id;		       /* where */
	const struct allocator_res *resources; /* what (the allocator's reference) */
};

/*
 * Runs one allocation cycle at time now_ms (filters with expiry <= now_ms are gone first).
 * Sets *offers and *n to the offers to make, in the order decided; at most one offer per
 * (framework, role, agent). The array and its resources stay valid until the next
 * allocator_allocate (so the caller may recover offers while walking it); the ID strings
 * until that agent or framework is removed.
 * Returns 0, or -ENOMEM: the cycle stopped early, and *offers / *n still list the offers
 * made before that, which are allocated and must be sent (or recovered) as usual.
 */
int allocator_allocate(struct allocator *a, int64_t now_ms, const struct allocator_offer **offers,
		       size_t *n);

/* ---- Inspection -------------------------------------------------------------------------- */

/* An agent's free resources (borrowed, valid until the next call), or NULL if unknown. */
const struct allocator_res *allocator_agent_free(const struct allocator *a, const char *agent_id);

/*
 * What a framework holds in a role on an agent (borrowed, until the next call), or NULL
 * when nothing.
 */
const struct allocator_res *allocator_allocation(const struct allocator *a, const char *agent_id,
						 const char *framework_id, const char *role);

/* A role's dominant share divided by its weight, and a framework's dominant share in a role
 * (0 when unknown). */
double allocator_role_share(struct allocator *a, const char *role);
double allocator_framework_share(struct allocator *a, const char *framework_id, const char *role);

/* Counters, for /metrics and the benchmark. */
struct allocator_stats {
	uint64_t cycles;       /* allocator_allocate calls */
	uint64_t offers;       /* offers made, all cycles */
	uint64_t filters;      /* live filters */
	uint32_t agents;       /* agents known */
	uint32_t frameworks;   /* frameworks known (added or holding resources) */
	uint32_t roles;	       /* roles known, "*" included */
	uint32_t last_offers;  /* offers made by the last cycle */
	uint32_t last_clients; /* (framework, role) pairs that looked for agents in it */
	uint32_t last_expired; /* filters that expired at its start */
	uint64_t last_words;   /* bitmap words (64 agents each) it scanned */
	uint64_t last_checks;  /* agents it examined one by one */
	bool last_skipped;     /* it found nothing changed and returned at once */
};
void allocator_stats(const struct allocator *a, struct allocator_stats *out);

/*
 * Checks every internal invariant (free + allocations = total on each agent, per-client
 * and per-role sums, bitmaps, filter indexes, heaps): 0 or -EUCLEAN with the broken one in
 * allocator_errmsg. Costs O(everything): for tests and the fuzzer.
 */
int allocator_check(struct allocator *a);

#endif
