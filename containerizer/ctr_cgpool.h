/* The context's pool of spare cgroup sets (v1): reused by later containers with the same limits. */
#ifndef KEEL_CTR_CGPOOL_H
#define KEEL_CTR_CGPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "ctr_cgroup.h"

#define CTR_CG_POOL_DEFAULT 16 /* spare sets kept when the config says 0 */

/*
 * A spare set is a container's cgroup dirs, emptied and reset by its
 * supervisor and renamed (in every v1 hierarchy, beside the containers'
 * dirs) to ".pool-<token>-<limits key>-<id of its last container>". A launch
 * with the same limits gets one in its plan: its supervisor renames it to
 * the new container's dirs instead of mkdir + limit writes, and at its end
 * renames them back to a new spare name instead of rmdir. The token comes
 * from the work dir, so contexts on other work dirs sharing the cgroup parent
 * never take each other's spares (and a rename is atomic if they did).
 */
struct ctr_cg_pool {
	char token[17]; /* 16 hex digits of a hash of the work dir */
	size_t max;	/* spare sets kept; 0 = no pooling */
	char **names;	/* spare names we may hand out, oldest first; heap */
	size_t n;	/* entries in names */
	bool scanned;	/* spares of an earlier context on this work dir adopted */
};

/* Sets up an empty pool for work_dir; max < 0 turns pooling off, 0 = the default. */
void ctr_cg_pool_init(struct ctr_cg_pool *pool, const char *work_dir, int max);

/*
 * Pool use of a new set (v1 only, else nothing): sets set->pool_as (the
 * name its supervisor gives it at the end) and, if a spare with the same
 * limits is there, set->spare (taken out of the pool). The first call adopts
 * spares an earlier context on this work dir left. -ENOMEM.
 */
int ctr_cg_pool_plan(struct ctr_cg_pool *pool, const struct ctr_cg_sys *sys, struct ctr_cg_set *set,
		     const struct ctr_cg_limits *lim, const char *id);

/*
 * A supervisor left a spare called `name` (from its status; ignored unless
 * it is one of ours): keep it for a later launch; past max, the oldest spare
 * is removed.
 */
void ctr_cg_pool_put(struct ctr_cg_pool *pool, const struct ctr_cg_sys *sys, const char *name);

/* Removes every spare of this work dir (listed or not) and frees the pool. */
void ctr_cg_pool_close(struct ctr_cg_pool *pool, const struct ctr_cg_sys *sys);

#endif
