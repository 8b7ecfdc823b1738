/* The context's pool of spare cgroup sets (v1): hand one to a launch, keep what supervisors leave,
 * trim. */
#include "ctr_cgpool.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"

void ctr_cg_pool_init(struct ctr_cg_pool *pool, const char *work_dir, int max)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	const char *s;

	memset(pool, 0, sizeof(*pool));
	for (s = work_dir; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	snprintf(pool->token, sizeof(pool->token), "%016llx", (unsigned long long)h);
	pool->max = max < 0 ? 0 : max == 0 ? CTR_CG_POOL_DEFAULT : (size_t)max;
}

/* True when name is a spare of this pool: our prefix, one path component. */
static bool pool_owns(const struct ctr_cg_pool *pool, const char *name)
{
	size_t tlen = strlen(pool->token);

	return strncmp(name, ".pool-", 6) == 0 && strncmp(name + 6, pool->token, tlen) == 0 &&
	       name[6 + tlen] == '-' && strchr(name, '/') == NULL && strlen(name) < NAME_MAX;
}

static void pool_drop(struct ctr_cg_pool *pool, size_t i)
{
	keel_free(pool->names[i]);
	memmove(&pool->names[i], &pool->names[i + 1], (pool->n - i - 1) * sizeof(char *));
	pool->n--;
}

void ctr_cg_pool_put(struct ctr_cg_pool *pool, const struct ctr_cg_sys *sys, const char *name)
{
	char *copy;
	size_t i;

	if (sys->mode != KEEL_CTR_CGROUP_V1 || !pool_owns(pool, name))
		return;
	for (i = 0; i < pool->n; i++) {
		if (strcmp(pool->names[i], name) == 0)
			return;
	}
	if (pool->names == NULL && pool->max > 0)
		pool->names = keel_calloc(pool->max, sizeof(char *));
	copy = keel_strdup(name);
	if (pool->names == NULL || copy == NULL) {
		/* No room to remember it: remove it rather than leak it. */
		keel_free(copy);
		ctr_cg_pool_remove(sys, name);
		return;
	}
	if (pool->n == pool->max) {
		ctr_cg_pool_remove(sys, pool->names[0]);
		pool_drop(pool, 0);
	}
	pool->names[pool->n++] = copy;
}

static void pool_adopt(const char *name, void *arg)
{
	void **a = arg;

	ctr_cg_pool_put(a[0], a[1], name);
}

int ctr_cg_pool_plan(struct ctr_cg_pool *pool, const struct ctr_cg_sys *sys, struct ctr_cg_set *set,
		     const struct ctr_cg_limits *lim, const char *id)
{
	char name[NAME_MAX + 1], prefix[NAME_MAX + 1];
	size_t i, plen;

	if (sys->mode != KEEL_CTR_CGROUP_V1 || set->n == 0 || pool->max == 0)
		return 0;
	if (!pool->scanned) {
		void *a[2] = {pool, (void *)sys};

		pool->scanned = true;
		ctr_cg_pool_scan(sys, pool->token, pool_adopt, a);
	}
	if (ctr_cg_pool_name(name, sizeof(name), pool->token, lim, id) < 0 ||
	    ctr_cg_pool_name(prefix, sizeof(prefix), pool->token, lim, "") < 0)
		return 0; /* too long to pool: mkdir and rmdir as without a pool */
	set->pool_as = keel_strdup(name);
	if (set->pool_as == NULL)
		return -ENOMEM;
	plen = strlen(prefix);
	for (i = pool->n; i-- > 0;) {
		if (strncmp(pool->names[i], prefix, plen) == 0) {
			set->spare = pool->names[i];
			pool->names[i] = NULL;
			pool_drop(pool, i);
			break;
		}
	}
	return 0;
}

static void pool_remove_one(const char *name, void *arg)
{
	ctr_cg_pool_remove(arg, name);
}

void ctr_cg_pool_close(struct ctr_cg_pool *pool, const struct ctr_cg_sys *sys)
{
	size_t i;

	for (i = 0; i < pool->n; i++) {
		ctr_cg_pool_remove(sys, pool->names[i]);
		keel_free(pool->names[i]);
	}
	keel_free(pool->names);
	if (sys->mode == KEEL_CTR_CGROUP_V1 && pool->max > 0)
		ctr_cg_pool_scan(sys, pool->token, pool_remove_one, (void *)sys);
	memset(pool, 0, sizeof(*pool));
}
