/* Cgroup limits: OOM reported as OOM, fork bomb held at pids.max, CPU, usage, cgroup v2. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctr_fixture.h"
#include "ctr_path.h"
#include "harness.h"

static void assert_cgroups_gone(const char *id)
{
	static const char *const ctrls[] = {"cpu", "cpuacct", "memory", "pids", "freezer"};
	char dir[PATH_MAX];
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(ctrls); i++) {
		ASSERT_INT_LT(snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s/%s/%s", ctrls[i],
				       fx.cg_parent, id),
			      (int)sizeof(dir));
		TH_CONTEXT("%s", dir);
		ASSERT_FALSE(fx_exists(dir));
	}
	TH_CONTEXT(NULL);
}

/* Spare sets of the case's parent in the memory hierarchy (name of the last one in `last`). */
/* Launches spec, waits for exit 0, destroys it; its cgroups are gone. id gets its ID. */
static void run_to_exit_0_and_destroy(const struct keel_ctr_spec *spec, char id[KEEL_CTR_ID_SIZE])
{
	struct keel_ctr_status st;

	ASSERT_INT_LT(snprintf(id, KEEL_CTR_ID_SIZE, "%s", fx_launch(spec)), KEEL_CTR_ID_SIZE);
	st = fx_wait(id, 60000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_EXITED);
	ASSERT_INT_EQ(st.exit_code, 0);
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	assert_cgroups_gone(id);
}

static int count_spares(char last[256])
{
	char dir[PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *d;

	ASSERT_INT_LT(snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory/%s", fx.cg_parent),
		      (int)sizeof(dir));
	d = opendir(dir);
	ASSERT_NOT_NULL(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".pool-", 6) == 0) {
			if (last != NULL)
				snprintf(last, 256, "%s", de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* Inode of a cgroup dir in the memory hierarchy: the same dir under another name has the same. */
static ino_t memcg_ino(const char *name)
{
	char dir[PATH_MAX];
	struct stat st;

	ASSERT_INT_LT(snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory/%s/%s", fx.cg_parent, name),
		      (int)sizeof(dir));
	ASSERT_OK(stat(dir, &st));
	return st.st_ino;
}

static void read_memcg(const char *id, const char *file, char *buf, size_t n)
{
	char path[PATH_MAX];

	ASSERT_INT_LT(
	    snprintf(path, sizeof(path), "/sys/fs/cgroup/memory/%s/%s/%s", fx.cg_parent, id, file),
	    (int)sizeof(path));
	ASSERT_INT_GT(fx_read_file(path, buf, n), 0);
}

static bool usage_nonzero(void *arg);

/* The container's status names its task's pid (known once the supervisor reported it). */
static bool task_pid_known(void *arg)
{
	struct keel_ctr_status st;

	return keel_ctr_status(fx.ctx, arg, &st) == 0 && st.task_pid > 0;
}

TEST(cgroup_pool_reuses_a_clean_set_with_the_same_limits)
{
	const char *alloc[] = {fx_probe(), "alloc", "24", NULL};
	const char *sleeper[] = {fx_probe(), "sleep", NULL};
	struct keel_ctr_spec spec = {
	    .argv = alloc, .cpus = 0.5, .mem_bytes = 64 << 20, .pids_max = 10};
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE], spare[256], buf[64];
	ino_t ino;

	fx_require_cgroup_v1();
	fx_open();
	/* A first container peaks above 24 MiB; its set goes to the pool, not away. */
	run_to_exit_0_and_destroy(&spec, id);
	ASSERT_INT_EQ(count_spares(spare), 1);
	ino = memcg_ino(spare);

	/* The next one with the same limits gets it: same dir, limits in place, counters reset. */
	spec.argv = sleeper;
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(usage_nonzero, id, 20000));
	ASSERT_INT_EQ(count_spares(NULL), 0);
	ASSERT_UINT_EQ(memcg_ino(id), ino);
	read_memcg(id, "memory.limit_in_bytes", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "67108864\n");
	read_memcg(id, "memory.failcnt", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "0\n");
	read_memcg(id, "memory.max_usage_in_bytes", buf, sizeof(buf));
	ASSERT_INT_LT(atoll(buf), 16 << 20); /* not the first container's peak */
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 0));
	fx_wait(id, 20000);
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	ASSERT_INT_EQ(count_spares(NULL), 1);

	/* Other limits: a new set, with its own limits; the spare stays for later. */
	spec.mem_bytes = 48 << 20;
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(usage_nonzero, id, 20000));
	ASSERT_INT_EQ(count_spares(NULL), 1);
	read_memcg(id, "memory.limit_in_bytes", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "50331648\n");
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 0));
	fx_wait(id, 20000);
	ASSERT_INT_EQ(count_spares(NULL), 2);

	/* Close removes the pool. */
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	keel_ctr_close(fx.ctx);
	fx.ctx = NULL;
	ASSERT_INT_EQ(count_spares(NULL), 0);

	/* A container that ends after its context closed leaves no spare: nobody would reuse it. */
	struct keel_ctr_config cfg = {.work_dir = fx.work_dir, .cgroup_parent = fx.cg_parent};
	char msg[256];
	ASSERT_OK(keel_ctr_open(&cfg, &fx.ctx, msg));
	spec.mem_bytes = 64 << 20;
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(usage_nonzero, id, 20000));
	ASSERT_TRUE(fx_until(task_pid_known, id, 20000));
	ASSERT_OK(keel_ctr_status(fx.ctx, id, &st));
	keel_ctr_close(fx.ctx);
	fx.ctx = NULL;
	/* Never kill(0, ...): that would be this test's whole process group. */
	ASSERT_INT_GT(st.task_pid, 0);
	ASSERT_INT_GT(st.supervisor_pid, 0);
	ASSERT_OK(kill(st.task_pid, SIGKILL));
	ASSERT_INT_EQ(waitpid(st.supervisor_pid, NULL, 0), st.supervisor_pid);
	assert_cgroups_gone(id);
	ASSERT_INT_EQ(count_spares(NULL), 0);
	fx_cleanup();
}

/* Pages of `path` in the page cache (mincore of a mapping of the whole file). */
static size_t cached_pages(const char *path, size_t *total)
{
	long psz = sysconf(_SC_PAGESIZE);
	unsigned char vec[(8 << 20) / 4096];
	struct stat st;
	size_t i, n = 0;
	void *m;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ASSERT_INT_GE(fd, 0);
	ASSERT_OK(fstat(fd, &st));
	*total = ((size_t)st.st_size + (size_t)psz - 1) / (size_t)psz;
	ASSERT_UINT_LE(*total, sizeof(vec));
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(m != MAP_FAILED);
	ASSERT_OK(mincore(m, (size_t)st.st_size, vec));
	for (i = 0; i < *total; i++)
		n += vec[i] & 1;
	munmap(m, (size_t)st.st_size);
	close(fd);
	return n;
}

/*
 * A container that reads files of its rootfs that were not cached has that page cache
 * charged to its memory cgroup: its set is not pooled (a new container would inherit the
 * charge), and the page cache stays cached for the next container (it used to be reclaimed
 * with memory.force_empty, so every launch read the rootfs's files from disk again).
 */
TEST(cgroup_set_with_page_cache_is_removed_and_the_cache_kept)
{
	const char *reader[] = {"/bin/sh", "-c", "cat /big.bin >/dev/null", NULL};
	struct keel_ctr_spec spec = {.argv = reader, .cpus = 0.5, .mem_bytes = 64 << 20};
	char id[KEEL_CTR_ID_SIZE], path[PATH_MAX], block[65536];
	struct statfs sfs;
	size_t total, i;
	int fd;

	fx_require_cgroup_v1();
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/big.bin", fx_rootfs()), (int)sizeof(path));
	ASSERT_OK(statfs(fx_rootfs(), &sfs));
	if (sfs.f_type == TMPFS_MAGIC)
		TH_SKIP("the rootfs is on tmpfs: its pages are not page cache to drop");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_INT_GE(fd, 0);
	memset(block, 'k', sizeof(block));
	for (i = 0; i < (4u << 20) / sizeof(block); i++)
		ASSERT_INT_EQ(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	ASSERT_OK(fsync(fd));
	ASSERT_OK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	close(fd);
	ASSERT_UINT_LT(cached_pages(path, &total), total / 2);

	spec.rootfs = fx_rootfs();
	fx_open();
	run_to_exit_0_and_destroy(&spec, id);
	ASSERT_INT_EQ(count_spares(NULL), 0);
	ASSERT_UINT_GT(cached_pages(path, &total), total * 3 / 4);
	ASSERT_OK(unlink(path));
	fx_cleanup();
}

/* Another user of the keel/ subtree may remove our (empty) parent cgroup while the context
 * lives: the next launch makes it again instead of failing. */
TEST(cgroup_parent_removed_under_the_context_is_made_again)
{
	static const char *const ctrls[] = {"cpu", "cpuacct", "memory", "pids", "freezer"};
	const char *ok[] = {fx_probe(), "exit", "0", NULL};
	struct keel_ctr_spec spec = {.argv = ok, .cpus = 0.5, .mem_bytes = 64 << 20};
	struct keel_ctr_config cfg;
	char id[KEEL_CTR_ID_SIZE], dir[PATH_MAX], msg[256];
	int removed = 0;

	fx_require_cgroup_v1();
	fx_open();
	keel_ctr_close(fx.ctx); /* again, with the pool off: the parent must end up empty */
	memset(&cfg, 0, sizeof(cfg));
	cfg.work_dir = fx.work_dir;
	cfg.cgroup_parent = fx.cg_parent;
	cfg.cgroup_pool = -1;
	ASSERT_OK(keel_ctr_open(&cfg, &fx.ctx, msg));
	for (int round = 0; round < 2; round++) {
		run_to_exit_0_and_destroy(&spec, id);
		if (round == 1)
			break;
		for (size_t i = 0; i < KEEL_ARRAY_SIZE(ctrls); i++) {
			ASSERT_INT_LT(snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s/%s", ctrls[i],
					       fx.cg_parent),
				      (int)sizeof(dir));
			removed += rmdir(dir) == 0;
		}
		ASSERT_INT_GT(removed, 0);
	}
	fx_cleanup();
}

TEST(memory_over_limit_is_oom_killed_and_reported)
{
	const char *hog[] = {fx_probe(), "alloc", "256", NULL};
	const char *fits[] = {fx_probe(), "alloc", "8", NULL};
	struct keel_ctr_spec spec = {.argv = hog, .mem_bytes = 32 << 20};
	struct keel_ctr_status st;
	struct keel_ctr_usage u;
	char id[KEEL_CTR_ID_SIZE];

	fx_require_cgroup_v1();
	fx_open();
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	st = fx_wait(id, 60000);
	TH_CONTEXT("%s %s", keel_ctr_reason_name(st.reason), st.message);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_OOM);
	ASSERT_INT_EQ(st.signal, SIGKILL);
	ASSERT_TRUE(st.limits_hit & KEEL_CTR_LIMIT_MEMORY);
	ASSERT_OK(keel_ctr_usage(fx.ctx, id, &u));
	ASSERT_UINT_GE(u.oom_kills, 1);
	ASSERT_UINT_GE(u.mem_peak_bytes, 16 << 20);
	ASSERT_UINT_LE(u.mem_peak_bytes, 32 << 20);
	assert_cgroups_gone(id);
	ASSERT_INT_EQ(count_spares(NULL), 0); /* an OOM-killed set is never reused */

	/* Under the limit the same program is fine. */
	spec.argv = fits;
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	st = fx_wait(id, 60000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_EXITED);
	ASSERT_INT_EQ(st.exit_code, 0);
	ASSERT_FALSE(st.limits_hit & KEEL_CTR_LIMIT_MEMORY);
	fx_cleanup();
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Fork-bomb watch: the container is at its pids limit and forks have been refused. */
struct bomb_watch {
	const char *id;	  /* container */
	int64_t max;	  /* its pids limit */
	uint64_t peak;	  /* highest pids count seen */
	double worst_gap; /* longest time between two checks, ms: our responsiveness */
	double last;	  /* time of the previous check */
};

static bool bomb_saturated(void *arg)
{
	struct bomb_watch *w = arg;
	struct keel_ctr_usage u;
	double t = now_ms();

	if (w->last > 0 && t - w->last > w->worst_gap)
		w->worst_gap = t - w->last;
	w->last = t;
	if (keel_ctr_usage(fx.ctx, w->id, &u) < 0)
		return false;
	if (u.pids > w->peak)
		w->peak = u.pids;
	return u.pids_max_events > 0 && u.pids == (uint64_t)w->max;
}

static void check_fork_bomb(const char *const *argv, const char *rootfs)
{
	/* One core of the two: a container with a CPU limit, as an agent would give it. */
	struct keel_ctr_spec spec = {.argv = argv, .pids_max = 40, .cpus = 1, .rootfs = rootfs};
	struct bomb_watch w = {0};
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE];

	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	w.id = id;
	w.max = spec.pids_max;
	ASSERT_TRUE(fx_until(bomb_saturated, &w, 30000));
	/* Held at the limit, never above; this process kept its pace meanwhile. */
	ASSERT_UINT_EQ(w.peak, 40);
	ASSERT_TRUE(w.worst_gap < 1000);
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 0));
	st = fx_wait(id, 30000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_KILLED);
	ASSERT_TRUE(st.limits_hit & KEEL_CTR_LIMIT_PIDS);
	assert_cgroups_gone(id);
	ASSERT_INT_EQ(count_spares(NULL), 0); /* pids.events cannot be reset: never reused */
}

TEST(fork_bomb_stops_at_pids_max)
{
	const char *probe[] = {fx_probe(), "forkbomb", NULL};
	const char *shell[] = {"sh", "-c", "b() { b | b & }; b; exec sleep 1000", NULL};

	fx_require_cgroup_v1();
	fx_open();
	check_fork_bomb(probe, NULL);
	/* The classic shell bomb inside a busybox rootfs, posix-free. */
	check_fork_bomb(shell, fx_rootfs());
	fx_cleanup();
}

TEST(cgroup_in_use_is_a_launch_failure_not_a_takeover)
{
	const char *argv[] = {fx_probe(), "exit", "0", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .id = "busy"};
	struct keel_ctr_status st = {0};
	char dir[PATH_MAX], procs[PATH_MAX + 16];
	pid_t child;
	int fd;

	fx_require_cgroup_v1();
	fx_open();
	/* Someone else's process sits in the cgroup this container would get. */
	ASSERT_INT_LT(snprintf(dir, sizeof(dir), "/sys/fs/cgroup/pids/%s/busy", fx.cg_parent),
		      (int)sizeof(dir));
	ASSERT_OK(ctr_mkdir_p(dir, 0755));
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	child = fork();
	ASSERT_INT_GE(child, 0);
	if (child == 0) {
		/* Joins the cgroup itself and dies with this test process at the latest. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(procs, O_WRONLY);
		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(1);
		close(fd);
		pause();
		_exit(0);
	}
	/* Wait until it is in there: a condition, not a sleep. */
	int tries;
	for (tries = 0; tries < 2000; tries++) {
		char buf[64];
		if (fx_read_file(procs, buf, sizeof(buf)) > 0)
			break;
		usleep(1000);
	}
	int alive = -1, destroyed = -1;
	if (tries < 2000) {
		st = fx_wait(fx_launch(&spec), 20000);
		destroyed = keel_ctr_destroy(fx.ctx, "busy");
		/* The foreign process and its cgroup survived the failed launch and the destroy. */
		alive = kill(child, 0) == 0 && fx_exists(dir);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	rmdir(dir);
	ASSERT_INT_LT(tries, 2000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
	ASSERT_STR_CONTAINS(st.message, "in use");
	ASSERT_OK(destroyed);
	ASSERT_INT_EQ(alive, 1);
	fx_cleanup();
}

static bool usage_nonzero(void *arg)
{
	struct keel_ctr_usage u;

	return keel_ctr_usage(fx.ctx, arg, &u) == 0 && u.cpu_usec > 0 && u.mem_bytes > 0 &&
	       u.pids >= 1;
}

TEST(cpu_limits_written_and_usage_reported)
{
	const char *argv[] = {fx_probe(), "sleep", NULL};
	struct keel_ctr_spec spec = {
	    .argv = argv, .cpus = 0.5, .mem_bytes = 64 << 20, .pids_max = 10};
	char id[KEEL_CTR_ID_SIZE], path[PATH_MAX], buf[64];

	fx_require_cgroup_v1();
	fx_open();
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(usage_nonzero, id, 20000));
	ASSERT_INT_LT(
	    snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu/%s/%s/cpu.shares", fx.cg_parent, id),
	    (int)sizeof(path));
	ASSERT_INT_GT(fx_read_file(path, buf, sizeof(buf)), 0);
	ASSERT_STR_EQ(buf, "512\n");
	ASSERT_INT_LT(snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu/%s/%s/cpu.cfs_quota_us",
			       fx.cg_parent, id),
		      (int)sizeof(path));
	ASSERT_INT_GT(fx_read_file(path, buf, sizeof(buf)), 0);
	ASSERT_STR_EQ(buf, "50000\n");
	ASSERT_INT_LT(snprintf(path, sizeof(path),
			       "/sys/fs/cgroup/memory/%s/%s/memory.limit_in_bytes", fx.cg_parent,
			       id),
		      (int)sizeof(path));
	ASSERT_INT_GT(fx_read_file(path, buf, sizeof(buf)), 0);
	ASSERT_STR_EQ(buf, "67108864\n");
	ASSERT_INT_LT(
	    snprintf(path, sizeof(path), "/sys/fs/cgroup/pids/%s/%s/pids.max", fx.cg_parent, id),
	    (int)sizeof(path));
	ASSERT_INT_GT(fx_read_file(path, buf, sizeof(buf)), 0);
	ASSERT_STR_EQ(buf, "10\n");
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 0));
	fx_wait(id, 20000);
	assert_cgroups_gone(id);
	fx_cleanup();
}

/* The task's line for the unified hierarchy in /proc/PID/cgroup ("0::/path"). */
static bool task_in_v2_cgroup(pid_t pid, const char *want)
{
	char path[64], buf[4096], line[PATH_MAX];

	ASSERT_INT_LT(snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid), (int)sizeof(path));
	if (fx_read_file(path, buf, sizeof(buf)) < 0)
		return false;
	ASSERT_INT_LT(snprintf(line, sizeof(line), "0::/%s\n", want), (int)sizeof(line));
	return strstr(buf, line) != NULL;
}

static bool is_running(void *arg)
{
	struct keel_ctr_status st;

	return keel_ctr_status(fx.ctx, arg, &st) == 0 && st.state == KEEL_CTR_RUNNING;
}

/*
 * cgroup v2 for real, on a private cgroup2 mount in a private mount
 * namespace. On this host the cpu, memory and pids controllers are bound to
 * v1, so v2 has none of them: this covers placement, usage (cpu.stat is
 * core), cgroup.kill, removal, and the refusal of limits the hierarchy
 * cannot enforce. v2 limit files are covered on a fake tree in test_ctr_unit.
 */
/* What the v2 case made outside the fixture's knowledge, removed even after a failed assert. */
static char v2_mnt[64], v2_parent[PATH_MAX], v2_keel[PATH_MAX];

static void v2_cleanup(void)
{
	fx_cleanup(); /* containers first: their cgroups live under the parents below */
	if (v2_parent[0] != '\0')
		rmdir(v2_parent);
	if (v2_keel[0] != '\0')
		rmdir(v2_keel); /* fails while others use keel/: fine */
	if (v2_mnt[0] != '\0') {
		umount2(v2_mnt, MNT_DETACH);
		rmdir(v2_mnt);
	}
	v2_mnt[0] = v2_parent[0] = v2_keel[0] = '\0';
}

TEST(cgroup_v2_private_mount_placement_kill_and_removal)
{
	const char *argv[] = {fx_probe(), "sleep", "children", NULL};
	char rel[PATH_MAX], dir[PATH_MAX], id[KEEL_CTR_ID_SIZE];
	struct keel_ctr_spec spec = {.argv = argv};
	struct keel_ctr_status st;
	struct keel_ctr_usage u;

	fx_require_root();
	/* This process keeps the private namespace for the rest of its life: harmless. */
	ASSERT_OK(unshare(CLONE_NEWNS));
	ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL));
	ASSERT_INT_LT(snprintf(v2_mnt, sizeof(v2_mnt), "/tmp/keel-cg2-XXXXXX"),
		      (int)sizeof(v2_mnt));
	ASSERT_NOT_NULL(mkdtemp(v2_mnt));
	atexit(v2_cleanup);
	if (mount("none", v2_mnt, "cgroup2", 0, NULL) < 0)
		TH_SKIP("cannot mount cgroup2 here");
	fx_open_mode(KEEL_CTR_CGROUP_V2, v2_mnt);
	ASSERT_INT_EQ(keel_ctr_cgroup_mode(fx.ctx), KEEL_CTR_CGROUP_V2);
	ASSERT_INT_LT(snprintf(v2_parent, sizeof(v2_parent), "%s/%s", v2_mnt, fx.cg_parent),
		      (int)sizeof(v2_parent));
	ASSERT_INT_LT(snprintf(v2_keel, sizeof(v2_keel), "%s/keel", v2_mnt), (int)sizeof(v2_keel));

	/* Limits this v2 hierarchy cannot enforce are refused before anything exists. */
	spec.mem_bytes = 64 << 20;
	if (keel_ctr_launch(fx.ctx, &spec, id) == 0)
		TH_SKIP("this host has a v2 memory controller; the fake-tree test covers limits");
	ASSERT_STR_CONTAINS(keel_ctr_errmsg(fx.ctx), "memory controller");
	spec.mem_bytes = 0;

	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(is_running, id, 20000));
	ASSERT_OK(keel_ctr_status(fx.ctx, id, &st));
	ASSERT_INT_LT(snprintf(rel, sizeof(rel), "%s/%s", fx.cg_parent, id), (int)sizeof(rel));
	ASSERT_TRUE(task_in_v2_cgroup(st.task_pid, rel));
	ASSERT_OK(keel_ctr_usage(fx.ctx, id, &u));
	ASSERT_INT_LT(snprintf(dir, sizeof(dir), "%s/%s", v2_mnt, rel), (int)sizeof(dir));
	ASSERT_TRUE(fx_exists(dir));
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 0));
	st = fx_wait(id, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_KILLED);
	ASSERT_FALSE(fx_exists(dir));
	v2_cleanup();
	ASSERT_FALSE(fx_exists(v2_parent));
}
