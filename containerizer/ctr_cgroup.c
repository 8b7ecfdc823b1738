/* Cgroups v1 and v2: layout detection, per-container directories, limits, kill, usage, removal. */
#include "ctr_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "ctr_path.h"
#include "runtime/alloc.h"
#include "runtime/err.h"

/* v1 mount names and v2 controller names, by enum ctr_cg_ctrl. */
static const char *const cg_names[CTR_CG_NCTRL] = {"cpu", "cpuacct", "memory", "pids", "freezer"};

#define CG_CFS_PERIOD_US 100000

/* Memory still charged to a set that may go to the pool (bytes, v1). */
#define CG_POOL_RESIDUE_MAX (1u << 20)

uint64_t ctr_cg_cpu_shares(double cpus)
{
	double s = cpus * 1024.0 + 0.5;

	if (s < 2)
		return 2;
	if (s > 262144)
		return 262144;
	return (uint64_t)s;
}

uint64_t ctr_cg_cpu_weight(double cpus)
{
	/* The usual shares -> weight mapping: [2, 262144] onto [1, 10000]. */
	return 1 + ((ctr_cg_cpu_shares(cpus) - 2) * 9999) / 262142;
}

uint64_t ctr_cg_cfs_quota_us(double cpus, uint64_t period_us)
{
	double q = cpus * (double)period_us + 0.5;

	if (q < 1000)
		return 1000;
	return (uint64_t)q;
}

static void cg_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Writes `val` to dir/file. ENOENT is fine when optional. No heap. */
static int cg_write(const char *dir, const char *file, const char *val, bool optional)
{
	char path[PATH_MAX];
	size_t n = strlen(val);
	int fd, rv;

	rv = ctr_path_join(path, sizeof(path), dir, file);
	if (rv < 0)
		return rv;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return optional && errno == ENOENT ? 0 : -errno;
	rv = 0;
	if (write(fd, val, n) != (ssize_t)n)
		rv = -errno;
	close(fd);
	return rv;
}

/* Reads dir/file into buf (NUL-terminated, truncated to n-1). No heap. */
static int cg_read(const char *dir, const char *file, char *buf, size_t n)
{
	char path[PATH_MAX];
	ssize_t got;
	size_t off = 0;
	int fd, rv;

	rv = ctr_path_join(path, sizeof(path), dir, file);
	if (rv < 0)
		return rv;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off + 1 < n && (got = read(fd, buf + off, n - 1 - off)) > 0)
		off += (size_t)got;
	rv = got < 0 ? -errno : 0;
	close(fd);
	buf[off] = '\0';
	return rv;
}

static int cg_read_u64(const char *dir, const char *file, uint64_t *out)
{
	char buf[64], *end;
	int rv = cg_read(dir, file, buf, sizeof(buf));

	if (rv < 0)
		return rv;
	if (strncmp(buf, "max", 3) == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (end == buf || errno != 0)
		return -EINVAL;
	return 0;
}

/* Reads the value of `key` from a "key value" per line file. */
static int cg_read_keyed(const char *dir, const char *file, const char *key, uint64_t *out)
{
	char buf[4096];
	size_t klen = strlen(key);
	const char *p;
	int rv = cg_read(dir, file, buf, sizeof(buf));

	if (rv < 0)
		return rv;
	p = buf;
	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			*out = strtoull(p + klen + 1, NULL, 10);
			return 0;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -ENOENT;
}

static bool cg_is_fs(const char *path, long magic, dev_t *dev)
{
	struct statfs sfs;
	struct stat st;

	if (statfs(path, &sfs) < 0 || (long)sfs.f_type != magic)
		return false;
	if (dev != NULL) {
		if (stat(path, &st) < 0)
			return false;
		*dev = st.st_dev;
	}
	return true;
}

static int cg_v2_controllers(const char *dir, unsigned *mask)
{
	char buf[1024], *tok, *save = NULL;
	int rv = cg_read(dir, "cgroup.controllers", buf, sizeof(buf));

	*mask = 0;
	if (rv < 0)
		return rv;
	for (tok = strtok_r(buf, " \n", &save); tok != NULL; tok = strtok_r(NULL, " \n", &save)) {
		if (strcmp(tok, "cpu") == 0)
			*mask |= CTR_CG_BIT(CTR_CG_CPU);
		else if (strcmp(tok, "memory") == 0)
			*mask |= CTR_CG_BIT(CTR_CG_MEMORY);
		else if (strcmp(tok, "pids") == 0)
			*mask |= CTR_CG_BIT(CTR_CG_PIDS);
	}
	return 0;
}

int ctr_cg_detect(struct ctr_cg_sys *sys, enum keel_ctr_cgroup_mode want, const char *root,
		  const char *parent, char *errmsg)
{
	dev_t devs[CTR_CG_NCTRL];
	int c, rv;

	memset(sys, 0, sizeof(*sys));
	for (c = 0; c < CTR_CG_NCTRL; c++)
		sys->v1_alias[c] = -1;
	if (root == NULL)
		root = "/sys/fs/cgroup";
	if (parent == NULL)
		parent = "keel";
	rv = ctr_path_check("cgroup_root", root, true, errmsg);
	if (rv == 0)
		rv = ctr_path_check("cgroup_parent", parent, false, errmsg);
	if (rv < 0)
		return rv;
	sys->root = keel_strdup(root);
	sys->parent = keel_strdup(parent);
	if (sys->root == NULL || sys->parent == NULL) {
		ctr_cg_sys_free(sys);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	if (want == KEEL_CTR_CGROUP_NONE) {
		sys->mode = KEEL_CTR_CGROUP_NONE;
		return 0;
	}
	if (cg_is_fs(root, CGROUP2_SUPER_MAGIC, NULL)) {
		if (want == KEEL_CTR_CGROUP_V1) {
			ctr_cg_sys_free(sys);
			return keel_errf(errmsg, -ENOTSUP, "cgroup v1 requested but %s is cgroup2",
					 root);
		}
		sys->mode = KEEL_CTR_CGROUP_V2;
		cg_v2_controllers(root, &sys->avail);
		/* cpu.stat usage and cgroup.freeze/kill are core v2 features. */
		sys->avail |= CTR_CG_BIT(CTR_CG_CPUACCT) | CTR_CG_BIT(CTR_CG_FREEZER);
		return 0;
	}
	if (want == KEEL_CTR_CGROUP_V2) {
		ctr_cg_sys_free(sys);
		return keel_errf(errmsg, -ENOTSUP,
				 "cgroup v2 requested but %s is not a cgroup2 mount", root);
	}
	for (c = 0; c < CTR_CG_NCTRL; c++) {
		char path[PATH_MAX];
		int a;

		if (ctr_path_join(path, sizeof(path), root, cg_names[c]) < 0)
			continue;
		if (!cg_is_fs(path, CGROUP_SUPER_MAGIC, &devs[c]))
			continue;
		sys->v1_mount[c] = keel_strdup(path);
		if (sys->v1_mount[c] == NULL) {
			ctr_cg_sys_free(sys);
			return keel_errf(errmsg, -ENOMEM, "out of memory");
		}
		sys->avail |= CTR_CG_BIT(c);
		for (a = 0; a < c; a++) {
			if (sys->v1_mount[a] != NULL && devs[a] == devs[c]) {
				sys->v1_alias[c] = a;
				break;
			}
		}
	}
	if (sys->avail == 0) {
		if (want == KEEL_CTR_CGROUP_V1) {
			ctr_cg_sys_free(sys);
			return keel_errf(errmsg, -ENOTSUP,
					 "no cgroup v1 controller mounted under %s", root);
		}
		sys->mode = KEEL_CTR_CGROUP_NONE;
		return 0;
	}
	sys->mode = KEEL_CTR_CGROUP_V1;
	return 0;
}

void ctr_cg_sys_free(struct ctr_cg_sys *sys)
{
	int c;

	keel_free(sys->root);
	keel_free(sys->parent);
	for (c = 0; c < CTR_CG_NCTRL; c++)
		keel_free(sys->v1_mount[c]);
	memset(sys, 0, sizeof(*sys));
}

int ctr_cg_check_limits(const struct ctr_cg_sys *sys, const struct ctr_cg_limits *lim, char *errmsg)
{
	static const struct {
		int ctrl;
		const char *what;
	} need[] = {{CTR_CG_CPU, "a CPU limit"},
		    {CTR_CG_MEMORY, "a memory limit"},
		    {CTR_CG_PIDS, "a pids limit"}};
	bool want[3] = {lim->cpus > 0, lim->mem_bytes > 0, lim->pids_max > 0};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!want[i])
			continue;
		if (sys->mode == KEEL_CTR_CGROUP_NONE)
			return keel_errf(errmsg, -ENOTSUP, "%s needs cgroups, which are disabled",
					 need[i].what);
		if (!(sys->avail & CTR_CG_BIT(need[i].ctrl)))
			return keel_errf(errmsg, -ENOTSUP,
					 "%s needs the %s controller, not available in the cgroup "
					 "%s hierarchy at %s",
					 need[i].what, cg_names[need[i].ctrl],
					 sys->mode == KEEL_CTR_CGROUP_V2 ? "v2" : "v1", sys->root);
	}
	return 0;
}

/* v2: enables the available controllers in dir's subtree_control, dropping any refused. */
static void cg_v2_enable(struct ctr_cg_sys *sys, const char *dir)
{
	static const int ctrls[] = {CTR_CG_CPU, CTR_CG_MEMORY, CTR_CG_PIDS};
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(ctrls); i++) {
		char val[16];

		if (!(sys->avail & CTR_CG_BIT(ctrls[i])))
			continue;
		snprintf(val, sizeof(val), "+%s", cg_names[ctrls[i]]);
		if (cg_write(dir, "cgroup.subtree_control", val, false) < 0)
			sys->avail &= ~CTR_CG_BIT(ctrls[i]);
	}
}

int ctr_cg_prepare_parents(struct ctr_cg_sys *sys, char *errmsg)
{
	char path[PATH_MAX];
	int c, rv;

	if (sys->mode == KEEL_CTR_CGROUP_NONE || sys->parents_ready)
		return 0;
	if (sys->mode == KEEL_CTR_CGROUP_V2) {
		const char *p = sys->parent;

		cg_v2_enable(sys, sys->root);
		/* Walk root/a, root/a/b, ...: create each and enable controllers below it. */
		for (;;) {
			const char *slash = strchr(p, '/');
			size_t len = slash ? (size_t)(slash - sys->parent) : strlen(sys->parent);
			int r = snprintf(path, sizeof(path), "%s/%.*s", sys->root, (int)len,
					 sys->parent);

			if (r < 0 || (size_t)r >= sizeof(path))
				return keel_errf(errmsg, -ENAMETOOLONG, "cgroup path too long");
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return keel_errno_f(errmsg, -errno, "mkdir %s", path);
			cg_v2_enable(sys, path);
			if (slash == NULL)
				break;
			p = slash + 1;
		}
		sys->parents_ready = true;
		return 0;
	}
	for (c = 0; c < CTR_CG_NCTRL; c++) {
		if (sys->v1_mount[c] == NULL || sys->v1_alias[c] >= 0)
			continue;
		rv = ctr_path_join(path, sizeof(path), sys->v1_mount[c], sys->parent);
		if (rv == 0)
			rv = ctr_mkdir_p(path, 0755);
		if (rv < 0)
			return keel_errno_f(errmsg, rv, "mkdir %s", path);
	}
	sys->parents_ready = true;
	return 0;
}

int ctr_cg_set_init(struct ctr_cg_set *set, const struct ctr_cg_sys *sys, const char *id)
{
	char path[PATH_MAX], rel[PATH_MAX];
	int c;

	memset(set, 0, sizeof(*set));
	set->mode = sys->mode;
	if (sys->mode == KEEL_CTR_CGROUP_NONE)
		return 0;
	if (ctr_path_join(rel, sizeof(rel), sys->parent, id) < 0)
		return -ENAMETOOLONG;
	if (sys->mode == KEEL_CTR_CGROUP_V2) {
		if (ctr_path_join(path, sizeof(path), sys->root, rel) < 0)
			return -ENAMETOOLONG;
		set->dir[0] = keel_strdup(path);
		if (set->dir[0] == NULL)
			return -ENOMEM;
		set->ctrls[0] = sys->avail;
		set->n = 1;
		return 0;
	}
	for (c = 0; c < CTR_CG_NCTRL; c++) {
		unsigned i;

		if (sys->v1_mount[c] == NULL)
			continue;
		if (sys->v1_alias[c] >= 0) {
			/* Same hierarchy as an earlier controller: that dir serves both. */
			for (i = 0; i < set->n; i++) {
				if (set->ctrls[i] & CTR_CG_BIT(sys->v1_alias[c]))
					set->ctrls[i] |= CTR_CG_BIT(c);
			}
			continue;
		}
		if (ctr_path_join(path, sizeof(path), sys->v1_mount[c], rel) < 0) {
			ctr_cg_set_free(set);
			return -ENAMETOOLONG;
		}
		set->dir[set->n] = keel_strdup(path);
		if (set->dir[set->n] == NULL) {
			ctr_cg_set_free(set);
			return -ENOMEM;
		}
		set->ctrls[set->n++] = CTR_CG_BIT(c);
	}
	return 0;
}

void ctr_cg_set_free(struct ctr_cg_set *set)
{
	unsigned i;

	for (i = 0; i < CTR_CG_NCTRL; i++)
		keel_free(set->dir[i]);
	keel_free(set->spare);
	keel_free(set->pool_as);
	memset(set, 0, sizeof(*set));
}

/* Index of the dir serving controller c, or -1. */
static int cg_dir_of(const struct ctr_cg_set *set, int c)
{
	unsigned i;

	for (i = 0; i < set->n; i++) {
		if (set->ctrls[i] & CTR_CG_BIT(c))
			return (int)i;
	}
	return -1;
}

static bool cg_procs_empty(const char *dir)
{
	char buf[16];
	int rv = cg_read(dir, "cgroup.procs", buf, sizeof(buf));

	return rv == -ENOENT || (rv == 0 && buf[0] == '\0');
}

static int cg_write_limits(const struct ctr_cg_set *set, unsigned i,
			   const struct ctr_cg_limits *lim, char *errmsg)
{
	const char *dir = set->dir[i];
	unsigned ctrls = set->ctrls[i];
	char val[64];
	int rv = 0;

#define CG_SET(file, optional, ...)                                                                \
	do {                                                                                       \
		snprintf(val, sizeof(val), __VA_ARGS__);                                           \
		rv = cg_write(dir, file, val, optional);                                           \
		if (rv < 0)                                                                        \
			return keel_errno_f(errmsg, rv, "write %s to %s/%s", val, dir, file);      \
	} while (0)

	if (set->mode == KEEL_CTR_CGROUP_V1) {
		if ((ctrls & CTR_CG_BIT(CTR_CG_CPU)) && lim->cpus > 0) {
			CG_SET("cpu.shares", false, "%" PRIu64, ctr_cg_cpu_shares(lim->cpus));
			CG_SET("cpu.cfs_period_us", false, "%d", CG_CFS_PERIOD_US);
			CG_SET("cpu.cfs_quota_us", false, "%" PRIu64,
			       ctr_cg_cfs_quota_us(lim->cpus, CG_CFS_PERIOD_US));
		}
		if ((ctrls & CTR_CG_BIT(CTR_CG_MEMORY)) && lim->mem_bytes > 0) {
			CG_SET("memory.limit_in_bytes", false, "%" PRId64, lim->mem_bytes);
			/* With swap accounting, memory+swap gets the same limit: no swapping past
			 * it. */
			CG_SET("memory.memsw.limit_in_bytes", true, "%" PRId64, lim->mem_bytes);
		}
		if ((ctrls & CTR_CG_BIT(CTR_CG_PIDS)) && lim->pids_max > 0)
			CG_SET("pids.max", false, "%" PRId64, lim->pids_max);
		return 0;
	}
	if ((ctrls & CTR_CG_BIT(CTR_CG_CPU)) && lim->cpus > 0) {
		CG_SET("cpu.weight", false, "%" PRIu64, ctr_cg_cpu_weight(lim->cpus));
		CG_SET("cpu.max", false, "%" PRIu64 " %d",
		       ctr_cg_cfs_quota_us(lim->cpus, CG_CFS_PERIOD_US), CG_CFS_PERIOD_US);
	}
	if ((ctrls & CTR_CG_BIT(CTR_CG_MEMORY)) && lim->mem_bytes > 0) {
		CG_SET("memory.max", false, "%" PRId64, lim->mem_bytes);
		CG_SET("memory.swap.max", true, "0");
	}
	if ((ctrls & CTR_CG_BIT(CTR_CG_PIDS)) && lim->pids_max > 0)
		CG_SET("pids.max", false, "%" PRId64, lim->pids_max);
#undef CG_SET
	return 0;
}

/* path of the sibling `name` of dir (same parent). No heap. */
static int cg_sibling(char *buf, size_t n, const char *dir, const char *name)
{
	const char *slash = strrchr(dir, '/');
	int r;

	if (slash == NULL)
		return -EINVAL;
	r = snprintf(buf, n, "%.*s/%s", (int)(slash - dir), dir, name);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

/* Claims the spare of dir i (a rename): true when the dir is ours with its limits in place. */
static bool cg_claim_spare(const struct ctr_cg_set *set, unsigned i)
{
	char spare[PATH_MAX];

	if (set->spare == NULL || cg_sibling(spare, sizeof(spare), set->dir[i], set->spare) < 0)
		return false;
	return rename(spare, set->dir[i]) == 0;
}

/*
 * mkdir of a container's cgroup: 0 or -errno. When the parent (keel/...) is gone since this
 * context made it (another user of the subtree removed it while it was empty), the parents are
 * made again, once.
 */
static int cg_mkdir(const char *dir)
{
	char parent[PATH_MAX], *slash;

	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash == NULL || slash == parent)
		return -ENOENT;
	*slash = '\0';
	if (ctr_mkdir_p(parent, 0755) < 0)
		return -ENOENT;
	return mkdir(dir, 0755) == 0 ? 0 : -errno;
}

int ctr_cg_create(const struct ctr_cg_set *set, const struct ctr_cg_limits *lim,
		  int procs_fd[CTR_CG_NCTRL], unsigned *owned, char *errmsg)
{
	unsigned i;
	int rv;

	*owned = 0;
	for (i = 0; i < CTR_CG_NCTRL; i++)
		procs_fd[i] = -1;
	for (i = 0; i < set->n; i++) {
		char path[PATH_MAX];

		if (cg_claim_spare(set, i)) {
			*owned |= 1u << i;
		} else {
			rv = cg_mkdir(set->dir[i]);
			if (rv < 0) {
				if (rv != -EEXIST)
					return keel_errno_f(errmsg, rv, "mkdir %s", set->dir[i]);
				if (!cg_procs_empty(set->dir[i]))
					return keel_errf(errmsg, -EBUSY,
							 "cgroup %s exists and is in use",
							 set->dir[i]);
			}
			*owned |= 1u << i;
			rv = cg_write_limits(set, i, lim, errmsg);
			if (rv < 0)
				return rv;
		}
		rv = ctr_path_join(path, sizeof(path), set->dir[i], "cgroup.procs");
		if (rv < 0)
			return keel_errf(errmsg, rv, "cgroup path too long");
		procs_fd[i] = open(path, O_WRONLY | O_CLOEXEC);
		if (procs_fd[i] < 0)
			return keel_errno_f(errmsg, -errno, "open %s", path);
	}
	return 0;
}

void ctr_cg_remove_owned(const struct ctr_cg_set *set, unsigned owned)
{
	unsigned i;

	for (i = 0; i < set->n; i++) {
		if (owned & (1u << i))
			rmdir(set->dir[i]);
	}
}

int ctr_cg_join(const struct ctr_cg_set *set, const int procs_fd[CTR_CG_NCTRL])
{
	unsigned i;

	for (i = 0; i < set->n; i++) {
		if (write(procs_fd[i], "0", 1) != 1)
			return -errno;
	}
	return 0;
}

bool ctr_cg_empty(const struct ctr_cg_set *set)
{
	unsigned i;

	for (i = 0; i < set->n; i++) {
		if (!cg_procs_empty(set->dir[i]))
			return false;
	}
	return true;
}

/* SIGKILLs every pid listed in dir/cgroup.procs; returns how many were listed. No heap. */
static int cg_kill_listed(const char *dir)
{
	char path[PATH_MAX], buf[4096];
	long pid = -1;
	int fd, count = 0;
	ssize_t n;

	if (ctr_path_join(path, sizeof(path), dir, "cgroup.procs") < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* Parse across read boundaries: `pid` carries a number in progress. */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		ssize_t i;

		for (i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				pid = (pid < 0 ? 0 : pid * 10) + (buf[i] - '0');
			} else if (pid >= 0) {
				kill((pid_t)pid, SIGKILL);
				count++;
				pid = -1;
			}
		}
	}
	if (pid >= 0) {
		kill((pid_t)pid, SIGKILL);
		count++;
	}
	close(fd);
	return count;
}

static int cg_wait_empty(const struct ctr_cg_set *set, int timeout_ms)
{
	long waited = 0, step = 1;

	while (!ctr_cg_empty(set)) {
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		cg_sleep_ms(step);
		waited += step;
		if (step < 16)
			step *= 2;
	}
	return 0;
}

static void cg_v1_freeze(const char *dir, bool freeze)
{
	char state[32];
	int i;

	cg_write(dir, "freezer.state", freeze ? "FROZEN" : "THAWED", true);
	if (!freeze)
		return;
	/* Freezing is asynchronous; wait (bounded) until every task is frozen. */
	for (i = 0; i < 200; i++) {
		if (cg_read(dir, "freezer.state", state, sizeof(state)) < 0 ||
		    strncmp(state, "FROZEN", 6) == 0)
			return;
		cg_sleep_ms(1);
	}
}

int ctr_cg_kill(const struct ctr_cg_set *set, int timeout_ms)
{
	unsigned i;
	int round;

	if (set->n == 0)
		return 0;
	if (set->mode == KEEL_CTR_CGROUP_V2) {
		if (cg_write(set->dir[0], "cgroup.kill", "1", false) < 0) {
			/* Before Linux 5.14: freeze, kill what is listed, thaw. */
			cg_write(set->dir[0], "cgroup.freeze", "1", true);
			cg_kill_listed(set->dir[0]);
			cg_write(set->dir[0], "cgroup.freeze", "0", true);
		}
		return cg_wait_empty(set, timeout_ms);
	}
	int fz = cg_dir_of(set, CTR_CG_FREEZER);
	for (round = 0; round < 100; round++) {
		int listed = 0;

		if (ctr_cg_empty(set))
			return 0; /* the usual case at a task's end: one read per dir */

		if (fz >= 0)
			cg_v1_freeze(set->dir[fz], true);
		for (i = 0; i < set->n; i++)
			listed += cg_kill_listed(set->dir[i]);
		if (fz >= 0)
			cg_v1_freeze(set->dir[fz], false);
		if (listed == 0)
			break;
		if (fz >= 0)
			break; /* frozen tasks could not fork; one round killed them all */
		cg_sleep_ms(1);
	}
	return cg_wait_empty(set, timeout_ms);
}

int ctr_cg_remove(const struct ctr_cg_set *set)
{
	unsigned i;
	int rv = 0;

	for (i = 0; i < set->n; i++) {
		int tries;

		for (tries = 0; tries < 50; tries++) {
			if (rmdir(set->dir[i]) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY) {
				rv = -errno;
				break;
			}
			/* A task that just exited may still be unlinking from the cgroup. */
			cg_sleep_ms(2);
		}
		if (tries == 50 && rv == 0)
			rv = -EBUSY;
	}
	return rv;
}

/*
 * v1, before a set goes to the pool: resets the counters a new container
 * must start from (peak memory, failcnt, CPU usage). False when something is
 * left that a new container would inherit: more memory charged to it than a
 * task's kernel objects (page cache the last task read or wrote).
 */
static bool cg_pool_reset(const struct ctr_cg_set *set)
{
	uint64_t v;
	int d;

	if ((d = cg_dir_of(set, CTR_CG_MEMORY)) >= 0) {
		const char *dir = set->dir[d];

		/*
		 * Kernel objects of the last task (its pid, namespaces, dentries)
		 * stay charged for a while (70-500 KiB here): tolerated. More is
		 * page cache, which stays charged to the cgroup that first read it:
		 * such a set is removed, not pooled, and its page cache stays in
		 * memory. (memory.force_empty would reclaim it instead: with the
		 * rootfs's own files charged, every launch then read the task's
		 * binary from disk again, charged it to its set, and passed it on.)
		 */
		if (cg_read_u64(dir, "memory.usage_in_bytes", &v) < 0 || v > CG_POOL_RESIDUE_MAX)
			return false;
		if (cg_write(dir, "memory.max_usage_in_bytes", "0", false) < 0 ||
		    cg_write(dir, "memory.failcnt", "0", false) < 0 ||
		    cg_write(dir, "memory.memsw.max_usage_in_bytes", "0", true) < 0 ||
		    cg_write(dir, "memory.memsw.failcnt", "0", true) < 0)
			return false;
	}
	if ((d = cg_dir_of(set, CTR_CG_CPUACCT)) >= 0 &&
	    cg_write(set->dir[d], "cpuacct.usage", "0", false) < 0)
		return false;
	return true;
}

int ctr_cg_release(const struct ctr_cg_set *set, const struct keel_ctr_usage *u, bool seen_empty)
{
	unsigned i, pooled = 0;

	if (set->pool_as == NULL || set->mode != KEEL_CTR_CGROUP_V1 || set->n == 0 ||
	    u->oom_kills > 0 || u->pids_max_events > 0 || (!seen_empty && !ctr_cg_empty(set)) ||
	    !cg_pool_reset(set))
		return ctr_cg_remove(set);
	for (i = 0; i < set->n; i++) {
		char to[PATH_MAX];

		if (cg_sibling(to, sizeof(to), set->dir[i], set->pool_as) == 0 &&
		    rename(set->dir[i], to) == 0)
			pooled |= 1u << i;
	}
	if (pooled == (1u << set->n) - 1)
		return 1;
	/* Not all of it went: a partial spare would be found by no one; remove every part. */
	for (i = 0; i < set->n; i++) {
		char to[PATH_MAX];

		if ((pooled & (1u << i)) &&
		    cg_sibling(to, sizeof(to), set->dir[i], set->pool_as) == 0)
			rmdir(to);
	}
	return ctr_cg_remove(set);
}

int ctr_cg_pool_name(char *buf, size_t n, const char *token, const struct ctr_cg_limits *lim,
		     const char *id)
{
	int r = snprintf(buf, n, ".pool-%s-c%" PRIu64 "m%" PRId64 "p%" PRId64 "-%s", token,
			 (uint64_t)(lim->cpus * 1000.0 + 0.5), lim->mem_bytes, lim->pids_max, id);

	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

void ctr_cg_pool_remove(const struct ctr_cg_sys *sys, const char *name)
{
	char path[PATH_MAX];
	int c;

	for (c = 0; c < CTR_CG_NCTRL; c++) {
		if (sys->v1_mount[c] == NULL || sys->v1_alias[c] >= 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s/%s", sys->v1_mount[c], sys->parent, name) <
		    (int)sizeof(path))
			rmdir(path);
	}
}

int ctr_cg_pool_scan(const struct ctr_cg_sys *sys, const char *token,
		     void (*fn)(const char *name, void *arg), void *arg)
{
	char path[PATH_MAX], prefix[64];
	struct dirent *de;
	size_t plen;
	DIR *d = NULL;
	int c;

	if (sys->mode != KEEL_CTR_CGROUP_V1)
		return 0;
	plen = (size_t)snprintf(prefix, sizeof(prefix), ".pool-%s-", token);
	for (c = 0; c < CTR_CG_NCTRL && d == NULL; c++) {
		if (sys->v1_mount[c] == NULL || sys->v1_alias[c] >= 0)
			continue;
		if (ctr_path_join(path, sizeof(path), sys->v1_mount[c], sys->parent) < 0)
			return -ENAMETOOLONG;
		d = opendir(path);
		if (d == NULL)
			return errno == ENOENT ? 0 : -errno;
	}
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) == 0)
			fn(de->d_name, arg);
	}
	closedir(d);
	return 0;
}

int ctr_cg_usage(const struct ctr_cg_set *set, struct keel_ctr_usage *u, unsigned *limits_hit)
{
	uint64_t v, mem_events = 0;
	int d;

	memset(u, 0, sizeof(*u));
	if (limits_hit != NULL)
		*limits_hit = 0;
	if (set->n == 0)
		return -ENOTSUP;
	if (set->mode == KEEL_CTR_CGROUP_V2) {
		const char *dir = set->dir[0];

		if (cg_read_keyed(dir, "cpu.stat", "usage_usec", &v) == 0)
			u->cpu_usec = v;
		if (cg_read_u64(dir, "memory.current", &v) == 0)
			u->mem_bytes = v;
		if (cg_read_u64(dir, "memory.peak", &v) == 0)
			u->mem_peak_bytes = v;
		if (cg_read_keyed(dir, "memory.events", "oom_kill", &v) == 0)
			u->oom_kills = v;
		if (cg_read_keyed(dir, "memory.events", "max", &v) == 0)
			mem_events = v;
		if (cg_read_u64(dir, "pids.current", &v) == 0)
			u->pids = v;
		if (cg_read_keyed(dir, "pids.events", "max", &v) == 0)
			u->pids_max_events = v;
	} else {
		if ((d = cg_dir_of(set, CTR_CG_CPUACCT)) >= 0 &&
		    cg_read_u64(set->dir[d], "cpuacct.usage", &v) == 0)
			u->cpu_usec = v / 1000;
		if ((d = cg_dir_of(set, CTR_CG_MEMORY)) >= 0) {
			if (cg_read_u64(set->dir[d], "memory.usage_in_bytes", &v) == 0)
				u->mem_bytes = v;
			if (cg_read_u64(set->dir[d], "memory.max_usage_in_bytes", &v) == 0)
				u->mem_peak_bytes = v;
			if (cg_read_keyed(set->dir[d], "memory.oom_control", "oom_kill", &v) == 0)
				u->oom_kills = v;
			if (cg_read_u64(set->dir[d], "memory.failcnt", &v) == 0)
				mem_events = v;
		}
		if ((d = cg_dir_of(set, CTR_CG_PIDS)) >= 0) {
			if (cg_read_u64(set->dir[d], "pids.current", &v) == 0)
				u->pids = v;
			if (cg_read_keyed(set->dir[d], "pids.events", "max", &v) == 0)
				u->pids_max_events = v;
		}
	}
	if (limits_hit != NULL) {
		if (u->oom_kills > 0 || mem_events > 0)
			*limits_hit |= KEEL_CTR_LIMIT_MEMORY;
		if (u->pids_max_events > 0)
			*limits_hit |= KEEL_CTR_LIMIT_PIDS;
	}
	return 0;
}
