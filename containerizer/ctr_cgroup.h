/* Cgroups v1 and v2: detect, create, limit, kill, measure and remove a container's cgroups. */
#ifndef KEEL_CTR_CGROUP_H
#define KEEL_CTR_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "containerizer.h"

/* Controllers keel uses; bit (1u << n) in the masks below. */
enum ctr_cg_ctrl {
	CTR_CG_CPU = 0,
	CTR_CG_CPUACCT,
	CTR_CG_MEMORY,
	CTR_CG_PIDS,
	CTR_CG_FREEZER,
	CTR_CG_NCTRL,
};

#define CTR_CG_BIT(c) (1u << (c))

/* The host's cgroup layout, detected once per context. */
struct ctr_cg_sys {
	enum keel_ctr_cgroup_mode mode; /* NONE, V1 or V2 (never AUTO) */
	char *root;			/* cgroupfs mount (v2) or the dir of v1 mounts */
	char *parent;			/* relative parent of container cgroups ("keel") */
	unsigned avail;			/* CTR_CG_BIT of each controller present */
	char *v1_mount[CTR_CG_NCTRL];	/* v1: mount point of each controller, NULL if absent */
	int v1_alias[CTR_CG_NCTRL];	/* v1: earlier controller on the same hierarchy, or -1 */
	bool parents_ready;		/* the parent dirs exist (and v2 controllers are enabled) */
};

/* Limits written into a container's cgroups; 0 = unlimited. */
struct ctr_cg_limits {
	double cpus;	   /* cores: shares/weight and CFS quota */
	int64_t mem_bytes; /* memory limit */
	int64_t pids_max;  /* pids limit */
};

/* One container's cgroup directories (one in v2, one per distinct hierarchy in v1). */
struct ctr_cg_set {
	enum keel_ctr_cgroup_mode mode; /* V1 or V2; NONE = no cgroups (n == 0) */
	unsigned n;			/* directories in use */
	char *dir[CTR_CG_NCTRL];	/* absolute paths, heap-owned */
	unsigned ctrls[CTR_CG_NCTRL];	/* controllers served by each dir */
	char *spare;   /* v1 pool: name of a spare set (beside dir[i]) to claim, or NULL; heap */
	char *pool_as; /* v1 pool: name to give the set at its end instead of rmdir, or NULL */
};

/*
 * Detects (mode AUTO) or checks the requested mode at `root` (NULL =
 * /sys/fs/cgroup). v2 when root is a cgroup2 mount; v1 when it holds
 * per-controller cgroup mounts. NONE is returned as such. Copies root and
 * parent. -ENOTSUP when the requested mode is not what root holds.
 */
int ctr_cg_detect(struct ctr_cg_sys *sys, enum keel_ctr_cgroup_mode want, const char *root,
		  const char *parent, char *errmsg);
void ctr_cg_sys_free(struct ctr_cg_sys *sys);

/* Checks that the controllers the limits need exist; -ENOTSUP with a message if not. */
int ctr_cg_check_limits(const struct ctr_cg_sys *sys, const struct ctr_cg_limits *lim,
			char *errmsg);

/* Creates the parent directories (and enables v2 controllers in them); idempotent. */
int ctr_cg_prepare_parents(struct ctr_cg_sys *sys, char *errmsg);

/* Fills `set` with the directories a container `id` gets (nothing created). -ENOMEM. */
int ctr_cg_set_init(struct ctr_cg_set *set, const struct ctr_cg_sys *sys, const char *id);
void ctr_cg_set_free(struct ctr_cg_set *set);

/*
 * Creates the directories and writes the limits (with set->spare: renames the
 * spare dir of each hierarchy to the container's instead, limits already in
 * place; a spare that is gone falls back to mkdir + limits); opens each dir's
 * cgroup.procs for writing into procs_fd[] (close-on-exec) so a child can
 * join with ctr_cg_join(). An existing empty directory is reused (a leftover
 * of a crash); one with processes is someone else's: -EBUSY, untouched. Sets
 * bit i of *owned for each dir i that is ours (created or reused), also on
 * error, so the caller removes exactly those. Uses no heap.
 */
int ctr_cg_create(const struct ctr_cg_set *set, const struct ctr_cg_limits *lim,
		  int procs_fd[CTR_CG_NCTRL], unsigned *owned, char *errmsg);

/* Removes the dirs whose bit is set in `owned` (empty ones: nothing ran in them). */
void ctr_cg_remove_owned(const struct ctr_cg_set *set, unsigned owned);

/* Moves the calling process into every dir of the set (writes "0" to each procs fd). */
int ctr_cg_join(const struct ctr_cg_set *set, const int procs_fd[CTR_CG_NCTRL]);

/* True when no process is left in the set (or it does not exist). */
bool ctr_cg_empty(const struct ctr_cg_set *set);

/*
 * SIGKILLs every process in the set (v2 cgroup.kill; v1 freezer: freeze,
 * kill, thaw; else repeated kills) and waits up to timeout_ms for the set to
 * empty. -ETIMEDOUT if processes remain (stuck in the kernel).
 */
int ctr_cg_kill(const struct ctr_cg_set *set, int timeout_ms);

/* Removes the directories (ENOENT is fine); -EBUSY if processes remain. */
int ctr_cg_remove(const struct ctr_cg_set *set);

/*
 * The end of a set with set->pool_as (v1): if every dir is empty and its
 * counters that cannot be reset are zero (no OOM kill, no pids.max hit),
 * and at most 1 MiB is still charged to it (no page cache: that is never
 * reclaimed for a spare), resets the others (peak memory, failcnt, CPU
 * usage) and renames each dir to pool_as beside it: 1 when the
 * whole set went to the pool. Otherwise (or without pool_as, or on v2)
 * removes the dirs as ctr_cg_remove does: 0, or its error. `seen_empty`:
 * the caller's ctr_cg_kill just returned 0 and nothing of the container is
 * left to join it (its task reaped), so emptiness is not read again.
 */
int ctr_cg_release(const struct ctr_cg_set *set, const struct keel_ctr_usage *u, bool seen_empty);

/*
 * Spare sets of one context (v1): the name a set of `id` gets in the pool,
 * "<prefix><id>", where prefix is ".pool-<token>-<limits key>-" (not a
 * valid container ID: it starts with '.'). Writes into buf; -ENAMETOOLONG.
 */
int ctr_cg_pool_name(char *buf, size_t n, const char *token, const struct ctr_cg_limits *lim,
		     const char *id);

/* Removes the spare set called `name` in every hierarchy of sys (ENOENT is fine). */
void ctr_cg_pool_remove(const struct ctr_cg_sys *sys, const char *name);

/*
 * Calls fn(name, arg) for each spare set name with prefix ".pool-<token>-"
 * in the first hierarchy of sys (v1). Returns 0, or a negative errno from
 * opening the directory (ENOENT: none).
 */
int ctr_cg_pool_scan(const struct ctr_cg_sys *sys, const char *token,
		     void (*fn)(const char *name, void *arg), void *arg);

/*
 * Reads usage and limit counters (missing files leave fields 0) and, if
 * limits_hit is not NULL, the KEEL_CTR_LIMIT_* bits the counters show.
 * Uses no heap.
 */
int ctr_cg_usage(const struct ctr_cg_set *set, struct keel_ctr_usage *u, unsigned *limits_hit);

/* Pure conversions (tested directly). */
uint64_t ctr_cg_cpu_shares(double cpus);
uint64_t ctr_cg_cpu_weight(double cpus);
uint64_t ctr_cg_cfs_quota_us(double cpus, uint64_t period_us);

#endif
