/* Container suite without privileges: checkpoints, paths, caps, seccomp, fake cgroups. */
#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerizer.h"
#include "ctr_caps.h"
#include "ctr_cgpool.h"
#include "ctr_cgroup.h"
#include "ctr_checkpoint.h"
#include "ctr_layer.h"
#include "ctr_path.h"
#include "ctr_plan.h"
#include "ctr_seccomp.h"
#include "harness.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/failpoint.h"

TEST(checkpoint_state_roundtrip_escapes)
{
	char buf[CTR_CKPT_MAX + 1], msg[KEEL_ERRMSG_SIZE] = "";
	struct ctr_ckpt_state in, out;
	int n;

	memset(&in, 0, sizeof(in));
	in.id = "c1";
	in.supervisor_pid = 4242;
	in.task_pid = 4243;
	in.boot_id = "b0";
	in.launcher = "linux";
	in.cgroup_mode = "v1";
	in.cgroups[0] = "/sys/fs/cgroup/memory/keel/c1";
	in.cgroup_ctrls[0] = CTR_CG_BIT(CTR_CG_MEMORY);
	in.cgroups[1] = "/sys/fs/cgroup/pids/keel/c1";
	in.cgroup_ctrls[1] = CTR_CG_BIT(CTR_CG_PIDS);
	in.n_cgroups = 2;
	in.sandbox = "/work/with\nnewline and \\ backslash";
	n = ctr_ckpt_state_format(buf, sizeof(buf), &in);
	ASSERT_INT_GT(n, 0);
	ASSERT_OK(ctr_ckpt_state_parse(buf, (size_t)n, &out, msg));
	ASSERT_STR_EQ(out.id, "c1");
	ASSERT_INT_EQ(out.supervisor_pid, 4242);
	ASSERT_INT_EQ(out.task_pid, 4243);
	ASSERT_STR_EQ(out.cgroup_mode, "v1");
	ASSERT_UINT_EQ(out.n_cgroups, 2);
	ASSERT_STR_EQ(out.cgroups[1], "/sys/fs/cgroup/pids/keel/c1");
	ASSERT_UINT_EQ(out.cgroup_ctrls[1], CTR_CG_BIT(CTR_CG_PIDS));
	ASSERT_STR_EQ(out.sandbox, "/work/with\nnewline and \\ backslash");
}

TEST(checkpoint_status_roundtrip)
{
	char buf[CTR_CKPT_MAX + 1], msg[KEEL_ERRMSG_SIZE] = "";
	struct ctr_ckpt_status in, out;
	int n;

	memset(&in, 0, sizeof(in));
	in.id = "c7";
	in.reason = KEEL_CTR_REASON_OOM;
	in.exit_code = -1;
	in.signal = 9;
	in.limits_hit = KEEL_CTR_LIMIT_MEMORY;
	in.message = "killed: over 32 MiB";
	in.usage.cpu_usec = 123;
	in.usage.oom_kills = 1;
	n = ctr_ckpt_status_format(buf, sizeof(buf), &in);
	ASSERT_INT_GT(n, 0);
	ASSERT_OK(ctr_ckpt_status_parse(buf, (size_t)n, &out, msg));
	ASSERT_STR_EQ(out.id, "c7");
	ASSERT_INT_EQ(out.reason, KEEL_CTR_REASON_OOM);
	ASSERT_INT_EQ(out.exit_code, -1);
	ASSERT_INT_EQ(out.signal, 9);
	ASSERT_UINT_EQ(out.limits_hit, KEEL_CTR_LIMIT_MEMORY);
	ASSERT_STR_EQ(out.message, "killed: over 32 MiB");
	ASSERT_UINT_EQ(out.usage.cpu_usec, 123);
	ASSERT_UINT_EQ(out.usage.oom_kills, 1);
}

TEST(checkpoint_rejects_malformed)
{
	static const char *const bad_status[] = {
	    "",
	    "reason=exited\n",				 /* no version first */
	    "version=2\nreason=exited\n",		 /* unknown version */
	    "version=1\n",				 /* no reason */
	    "version=1\nreason=exited",			 /* unterminated line */
	    "version=1\nreason=bogus\n",		 /* unknown reason */
	    "version=1\nreason=exited\nexit_code=999\n", /* out of range */
	    "version=1\nreason=exited\nexit_code=\n",	 /* empty number */
	    "version=1\nreason=exited\nmessage=a\\qb\n", /* bad escape */
	    "version=1\n=x\nreason=exited\n",		 /* empty key */
	    "version=1\nreason=exited\ncpu_usec=-1\n",	 /* negative counter */
	};
	static const char *const bad_state[] = {
	    "version=1\nid=x\ncgroup_mode=v1\n",				 /* no supervisor */
	    "version=1\nid=x\nsupervisor_pid=0\ncgroup_mode=v1\n",		 /* pid 0 */
	    "version=1\nid=x\nsupervisor_pid=5\ncgroup_mode=v3\n",		 /* bad mode */
	    "version=1\nid=x\nsupervisor_pid=5\ncgroup_mode=v1\ncgroup=rel\n",	 /* no mask */
	    "version=1\nid=x\nsupervisor_pid=5\ncgroup_mode=v1\ncgroup=ff:/x\n", /* mask */
	};
	char buf[256], msg[KEEL_ERRMSG_SIZE];
	struct ctr_ckpt_status st;
	struct ctr_ckpt_state ss;
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(bad_status); i++) {
		TH_CONTEXT("status %zu", i);
		snprintf(buf, sizeof(buf), "%s", bad_status[i]);
		msg[0] = '\0';
		ASSERT_INT_EQ(ctr_ckpt_status_parse(buf, strlen(buf), &st, msg), -EINVAL);
		ASSERT_INT_NE(msg[0], '\0');
	}
	for (i = 0; i < KEEL_ARRAY_SIZE(bad_state); i++) {
		TH_CONTEXT("state %zu", i);
		snprintf(buf, sizeof(buf), "%s", bad_state[i]);
		ASSERT_INT_EQ(ctr_ckpt_state_parse(buf, strlen(buf), &ss, msg), -EINVAL);
	}
	/* An embedded NUL is refused too. */
	memcpy(buf, "version=1\n\0reason=exited\n", 26);
	ASSERT_INT_EQ(ctr_ckpt_status_parse(buf, 25, &st, msg), -EINVAL);
}

TEST(checkpoint_dir_recycled_and_claimed_without_new_inodes)
{
	char dir[] = "/tmp/keel-ckpt-XXXXXX", buf[64];
	struct stat before, after, status_before, status_after;
	int cfd, dfd, fd;

	ASSERT_NOT_NULL(mkdtemp(dir));
	cfd = open(dir, O_RDONLY | O_DIRECTORY);
	ASSERT_INT_GE(cfd, 0);
	ASSERT_OK(mkdirat(cfd, "c1", 0700));
	dfd = openat(cfd, "c1", O_RDONLY | O_DIRECTORY);
	ASSERT_INT_GE(dfd, 0);
	fd = ctr_ckpt_create(dfd, "state", "version=1\nid=c1\n", 16);
	ASSERT_INT_GE(fd, 0);
	close(fd);
	ASSERT_OK(ctr_ckpt_write(dfd, "status", "version=1\n", 10, false));
	ASSERT_OK(fstatat(cfd, "c1", &before, 0));
	ASSERT_OK(fstatat(dfd, "status", &status_before, 0));
	close(dfd);

	/* Recycled: the same dir under the spare name, state empty, status now status.tmp. */
	ASSERT_OK(ctr_ckpt_recycle(cfd, "c1", ".spare-c1"));
	ASSERT_INT_EQ(faccessat(cfd, "c1", F_OK, 0), -1);
	ASSERT_OK(fstatat(cfd, ".spare-c1", &after, 0));
	ASSERT_UINT_EQ(after.st_ino, before.st_ino);
	/* Claimed by c2: never over an existing entry. */
	ASSERT_OK(mkdirat(cfd, "busy", 0700));
	ASSERT_INT_EQ(ctr_ckpt_claim(cfd, ".spare-c1", "busy"), -EEXIST);
	ASSERT_OK(ctr_ckpt_claim(cfd, ".spare-c1", "c2"));
	ASSERT_INT_EQ(ctr_ckpt_claim(cfd, ".spare-c1", "c3"), -ENOENT);
	dfd = openat(cfd, "c2", O_RDONLY | O_DIRECTORY);
	ASSERT_INT_GE(dfd, 0);
	ASSERT_INT_EQ(ctr_ckpt_read(dfd, "state", buf, sizeof(buf)), 0);
	ASSERT_INT_EQ(ctr_ckpt_read(dfd, "status", buf, sizeof(buf)), -ENOENT);
	/* The next status is written under status.tmp: the old file's inode again. */
	ASSERT_OK(ctr_ckpt_write(dfd, "status", "version=1\nid=c2\n", 16, false));
	ASSERT_OK(fstatat(dfd, "status", &status_after, 0));
	ASSERT_UINT_EQ(status_after.st_ino, status_before.st_ino);

	/* Anything else in it: left alone, for the caller to remove. */
	fd = openat(dfd, "other", O_WRONLY | O_CREAT, 0600);
	ASSERT_INT_GE(fd, 0);
	close(fd);
	close(dfd);
	ASSERT_INT_EQ(ctr_ckpt_recycle(cfd, "c2", ".spare-c2"), -ENOTEMPTY);
	ASSERT_OK(faccessat(cfd, "c2", F_OK, 0));
	ASSERT_INT_EQ(ctr_ckpt_recycle(cfd, "missing", ".spare-m"), -ENOENT);
	close(cfd);
	ASSERT_OK(ctr_remove_tree_at(AT_FDCWD, dir));
}

TEST(checkpoint_write_is_atomic_and_readable)
{
	char dir[] = "/tmp/keel-ckpt-XXXXXX", buf[64];
	int dfd, n;

	ASSERT_NOT_NULL(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ASSERT_INT_GE(dfd, 0);
	ASSERT_OK(ctr_ckpt_write(dfd, "status", "version=1\n", 10, true));
	ASSERT_OK(ctr_ckpt_write(dfd, "status", "version=1\nx=2\n", 14, false));
	n = ctr_ckpt_read(dfd, "status", buf, sizeof(buf));
	ASSERT_INT_EQ(n, 14);
	ASSERT_MEM_EQ(buf, "version=1\nx=2\n", 14);
	ASSERT_INT_EQ(faccessat(dfd, "status.tmp", F_OK, 0), -1);
	ASSERT_INT_EQ(ctr_ckpt_read(dfd, "missing", buf, sizeof(buf)), -ENOENT);
	/* Too big for the buffer: -EFBIG, never a silently cut checkpoint. */
	ASSERT_INT_EQ(ctr_ckpt_read(dfd, "status", buf, 8), -EFBIG);
#ifdef KEEL_FAILPOINTS
	keel_failpoint_set("ctr_ckpt_write", 1, -EIO, 0);
	ASSERT_INT_EQ(ctr_ckpt_write(dfd, "status", "version=1\n", 10, true), -EIO);
	keel_failpoint_clear();
	/* The failed write left the old file and no temporary. */
	ASSERT_INT_EQ(ctr_ckpt_read(dfd, "status", buf, sizeof(buf)), 14);
	ASSERT_INT_EQ(faccessat(dfd, "status.tmp", F_OK, 0), -1);
#endif
	close(dfd);
	ASSERT_OK(ctr_remove_tree_at(AT_FDCWD, dir));
	ASSERT_FALSE(access(dir, F_OK) == 0);
}

TEST(checkpoint_state_log_appends_and_ignores_a_torn_tail)
{
	char dir[] = "/tmp/keel-ckpt-XXXXXX", buf[CTR_CKPT_MAX + 1], msg[KEEL_ERRMSG_SIZE] = "";
	struct ctr_ckpt_state in, out;
	int dfd, fd, n;

	ASSERT_NOT_NULL(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ASSERT_INT_GE(dfd, 0);
	memset(&in, 0, sizeof(in));
	in.id = "c1";
	in.supervisor_pid = 77;
	in.cgroup_mode = "none";
	n = ctr_ckpt_state_format(buf, sizeof(buf), &in);
	ASSERT_INT_GT(n, 0);
	fd = ctr_ckpt_create(dfd, "state", buf, (size_t)n);
	ASSERT_INT_GE(fd, 0);
	/* The task runs: a record appended; its value replaces the first one. */
	ASSERT_OK(ctr_ckpt_append(fd, "task_pid=42\n", 12));
	n = ctr_ckpt_read(dfd, "state", buf, sizeof(buf) - 1);
	ASSERT_INT_GT(n, 0);
	ASSERT_OK(ctr_ckpt_state_parse(buf, (size_t)n, &out, msg));
	ASSERT_INT_EQ(out.task_pid, 42);
	ASSERT_INT_EQ(out.supervisor_pid, 77);
	/* A record caught half-written is not there yet; a bad complete one is an error. */
	ASSERT_OK(ctr_ckpt_append(fd, "task_pid=9", 10));
	n = ctr_ckpt_read(dfd, "state", buf, sizeof(buf) - 1);
	ASSERT_OK(ctr_ckpt_state_parse(buf, (size_t)n, &out, msg));
	ASSERT_INT_EQ(out.task_pid, 42);
	ASSERT_OK(ctr_ckpt_append(fd, "x\n", 2));
	n = ctr_ckpt_read(dfd, "state", buf, sizeof(buf) - 1);
	ASSERT_INT_EQ(ctr_ckpt_state_parse(buf, (size_t)n, &out, msg), -EINVAL);
	close(fd);
	/* A first record cut short lacks required keys: not a state yet. */
	ASSERT_INT_EQ(
	    ctr_ckpt_state_parse(memcpy(buf, "version=1\nid=c1\nsuperv", 23), 23, &out, msg),
	    -EINVAL);
#ifdef KEEL_FAILPOINTS
	keel_failpoint_set("ctr_ckpt_write", 1, -EIO, 0);
	ASSERT_INT_EQ(ctr_ckpt_create(dfd, "state2", "version=1\n", 10), -EIO);
	keel_failpoint_clear();
	ASSERT_INT_EQ(faccessat(dfd, "state2", F_OK, 0), -1);
#endif
	close(dfd);
	ASSERT_OK(ctr_remove_tree_at(AT_FDCWD, dir));
}

TEST(paths_and_ids)
{
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_TRUE(ctr_path_has_dotdot(".."));
	ASSERT_TRUE(ctr_path_has_dotdot("/a/../b"));
	ASSERT_TRUE(ctr_path_has_dotdot("a/.."));
	ASSERT_FALSE(ctr_path_has_dotdot("/a/..b/c"));
	ASSERT_FALSE(ctr_path_has_dotdot("/a/b.."));
	ASSERT_FALSE(ctr_path_has_dotdot("/"));
	ASSERT_INT_EQ(ctr_path_check("cwd", "/x/../y", true, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "'..'");
	ASSERT_INT_EQ(ctr_path_check("cwd", "rel", true, msg), -EINVAL);
	ASSERT_INT_EQ(ctr_path_check("src", "/abs", false, msg), -EINVAL);
	ASSERT_INT_EQ(ctr_path_check("src", "", false, msg), -EINVAL);
	ASSERT_OK(ctr_path_check("cwd", "/a/b", true, msg));
	ASSERT_TRUE(ctr_id_valid("abc-1_2.3"));
	ASSERT_FALSE(ctr_id_valid(".hidden"));
	ASSERT_FALSE(ctr_id_valid("a/b"));
	ASSERT_FALSE(ctr_id_valid(""));
	ASSERT_FALSE(
	    ctr_id_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

TEST(capability_names_and_checks)
{
	struct keel_ctr_caps c;
	char msg[KEEL_ERRMSG_SIZE], list[256];

	ASSERT_INT_EQ(keel_ctr_cap_from_name("CAP_NET_ADMIN"), 12);
	ASSERT_INT_EQ(keel_ctr_cap_from_name("sys_admin"), 21);
	ASSERT_INT_EQ(keel_ctr_cap_from_name("nope"), -EINVAL);
	ASSERT_STR_EQ(ctr_cap_name(0), "chown");
	/* Root's default: Docker's set without mknod; no sys_admin. */
	ASSERT_TRUE(keel_ctr_caps_root_default() & (1ULL << 0));
	ASSERT_FALSE(keel_ctr_caps_root_default() & (1ULL << 27));
	ASSERT_FALSE(keel_ctr_caps_root_default() & (1ULL << 21));
	ctr_caps_format((1ULL << 0) | (1ULL << 5), list, sizeof(list));
	ASSERT_STR_EQ(list, "chown,kill");
	memset(&c, 0, sizeof(c));
	c.effective = 1;
	ASSERT_INT_EQ(ctr_caps_check(&c, 40, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "effective");
	c.permitted = 1;
	ASSERT_OK(ctr_caps_check(&c, 40, msg));
	c.ambient = 1;
	ASSERT_INT_EQ(ctr_caps_check(&c, 40, msg), -EINVAL);
	c.inheritable = 1;
	ASSERT_OK(ctr_caps_check(&c, 40, msg));
	c.bounding = 1ULL << 45;
	ASSERT_INT_EQ(ctr_caps_check(&c, 40, msg), -EINVAL);
}

TEST(seccomp_profile_builds_per_capabilities)
{
	struct sock_fprog a, b;
	char msg[KEEL_ERRMSG_SIZE] = "";

	ASSERT_OK(ctr_seccomp_build(0, &a, msg));
	ASSERT_UINT_GT(a.len, 20);
	ASSERT_OK(ctr_seccomp_build(1ULL << 21, &b, msg));
	/* CAP_SYS_ADMIN re-allows the mount family: a shorter program. */
	ASSERT_UINT_LT(b.len, a.len);
	ASSERT_TRUE(ctr_seccomp_relevant_caps() & (1ULL << 21));
	ctr_seccomp_free(&a);
	ctr_seccomp_free(&b);
	ASSERT_NULL(a.filter);
}

TEST(cgroup_conversions)
{
	ASSERT_UINT_EQ(ctr_cg_cpu_shares(0.5), 512);
	ASSERT_UINT_EQ(ctr_cg_cpu_shares(0.0001), 2);
	ASSERT_UINT_EQ(ctr_cg_cpu_shares(1e9), 262144);
	ASSERT_UINT_EQ(ctr_cg_cpu_weight(0.0001), 1);
	ASSERT_UINT_EQ(ctr_cg_cpu_weight(1e9), 10000);
	ASSERT_UINT_EQ(ctr_cg_cpu_weight(1), 39);
	ASSERT_UINT_EQ(ctr_cg_cfs_quota_us(0.5, 100000), 50000);
	ASSERT_UINT_EQ(ctr_cg_cfs_quota_us(0.001, 100000), 1000);
}

/* Makes dir/name hold `text`. */
static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT_INT_GE(fd, 0);
	ASSERT_INT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void get(const char *dir, const char *name, char *buf, size_t n)
{
	char path[PATH_MAX];
	int fd;
	ssize_t r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	ASSERT_INT_GE(fd, 0);
	r = read(fd, buf, n - 1);
	ASSERT_INT_GE(r, 0);
	buf[r] = '\0';
	close(fd);
}

/*
 * cgroup v2 limits and counters on a fake cgroupfs tree (a temp dir with
 * the files): this host binds cpu, memory and pids to v1, so a real v2
 * hierarchy here has none of them. The real v2 code paths that need no
 * controller (placement, cgroup.kill, removal) run in test_ctr_limits.
 */
TEST(cgroup_v2_fake_tree_limits_and_usage)
{
	static const char *const files[] = {"cgroup.procs", "cpu.weight",      "cpu.max",
					    "memory.max",   "memory.swap.max", "pids.max"};
	char root[] = "/tmp/keel-fakecg-XXXXXX", dir[PATH_MAX], buf[64], msg[KEEL_ERRMSG_SIZE] = "";
	struct ctr_cg_limits lim = {0.5, 64 << 20, 100};
	struct ctr_cg_set set;
	struct keel_ctr_usage u;
	int procs[CTR_CG_NCTRL];
	unsigned hit, i, owned;
	size_t k;

	ASSERT_NOT_NULL(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/c1", root);
	ASSERT_OK(mkdir(dir, 0755));
	for (k = 0; k < KEEL_ARRAY_SIZE(files); k++)
		put(dir, files[k], "");
	memset(&set, 0, sizeof(set));
	set.mode = KEEL_CTR_CGROUP_V2;
	set.n = 1;
	set.dir[0] = dir;
	set.ctrls[0] = CTR_CG_BIT(CTR_CG_CPU) | CTR_CG_BIT(CTR_CG_MEMORY) | CTR_CG_BIT(CTR_CG_PIDS);
	/* The directory exists but is empty: reused. */
	ASSERT_OK(ctr_cg_create(&set, &lim, procs, &owned, msg));
	get(dir, "cpu.weight", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "20");
	get(dir, "cpu.max", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "50000 100000");
	get(dir, "memory.max", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "67108864");
	get(dir, "memory.swap.max", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "0");
	get(dir, "pids.max", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "100");
	for (i = 0; i < set.n; i++)
		close(procs[i]);

	put(dir, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
	put(dir, "memory.current", "4096\n");
	put(dir, "memory.peak", "8192\n");
	put(dir, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
	put(dir, "pids.current", "7\n");
	put(dir, "pids.events", "max 2\n");
	ASSERT_OK(ctr_cg_usage(&set, &u, &hit));
	ASSERT_UINT_EQ(u.cpu_usec, 1500);
	ASSERT_UINT_EQ(u.mem_bytes, 4096);
	ASSERT_UINT_EQ(u.mem_peak_bytes, 8192);
	ASSERT_UINT_EQ(u.oom_kills, 1);
	ASSERT_UINT_EQ(u.pids, 7);
	ASSERT_UINT_EQ(u.pids_max_events, 2);
	ASSERT_UINT_EQ(hit, KEEL_CTR_LIMIT_MEMORY | KEEL_CTR_LIMIT_PIDS);

	/* A cgroup that still has processes is not taken over. */
	put(dir, "cgroup.procs", "123\n");
	ASSERT_INT_EQ(ctr_cg_create(&set, &lim, procs, &owned, msg), -EBUSY);
	ASSERT_STR_CONTAINS(msg, "in use");
	ASSERT_UINT_EQ(owned, 0); /* not ours: never to be killed or removed by us */
	ASSERT_FALSE(ctr_cg_empty(&set));
	ASSERT_OK(ctr_remove_tree_at(AT_FDCWD, root));
}

/* The same on a fake v1 layout: one dir per hierarchy, the v1 file names. */
TEST(cgroup_v1_fake_tree_limits_and_usage)
{
	char root[] = "/tmp/keel-fakecg-XXXXXX", mem[PATH_MAX], cpu[PATH_MAX], pids[PATH_MAX],
	     buf[64], msg[KEEL_ERRMSG_SIZE] = "";
	struct ctr_cg_limits lim = {1.5, 32 << 20, 10};
	struct ctr_cg_set set;
	struct keel_ctr_usage u;
	int procs[CTR_CG_NCTRL];
	unsigned hit, i, owned;

	ASSERT_NOT_NULL(mkdtemp(root));
	snprintf(mem, sizeof(mem), "%s/memory", root);
	snprintf(cpu, sizeof(cpu), "%s/cpu", root);
	snprintf(pids, sizeof(pids), "%s/pids", root);
	ASSERT_OK(mkdir(mem, 0755));
	ASSERT_OK(mkdir(cpu, 0755));
	ASSERT_OK(mkdir(pids, 0755));
	put(mem, "cgroup.procs", "");
	put(mem, "memory.limit_in_bytes", "");
	put(cpu, "cgroup.procs", "");
	put(cpu, "cpu.shares", "");
	put(cpu, "cpu.cfs_period_us", "");
	put(cpu, "cpu.cfs_quota_us", "");
	put(pids, "cgroup.procs", "");
	put(pids, "pids.max", "");
	memset(&set, 0, sizeof(set));
	set.mode = KEEL_CTR_CGROUP_V1;
	set.n = 3;
	set.dir[0] = cpu;
	set.ctrls[0] = CTR_CG_BIT(CTR_CG_CPU) | CTR_CG_BIT(CTR_CG_CPUACCT);
	set.dir[1] = mem;
	set.ctrls[1] = CTR_CG_BIT(CTR_CG_MEMORY);
	set.dir[2] = pids;
	set.ctrls[2] = CTR_CG_BIT(CTR_CG_PIDS);
	ASSERT_OK(ctr_cg_create(&set, &lim, procs, &owned, msg));
	ASSERT_UINT_EQ(owned, 7);
	for (i = 0; i < set.n; i++)
		close(procs[i]);
	get(cpu, "cpu.shares", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "1536");
	get(cpu, "cpu.cfs_quota_us", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "150000");
	get(mem, "memory.limit_in_bytes", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "33554432");
	get(pids, "pids.max", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "10");
	/* memsw is optional: absent here, no error, and not created. */
	char memsw[PATH_MAX + 32];
	snprintf(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", mem);
	ASSERT_INT_EQ(access(memsw, F_OK), -1);

	put(cpu, "cpuacct.usage", "2500000\n");
	put(mem, "memory.usage_in_bytes", "100\n");
	put(mem, "memory.max_usage_in_bytes", "200\n");
	put(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	put(mem, "memory.failcnt", "5\n");
	put(pids, "pids.current", "3\n");
	put(pids, "pids.events", "max 0\n");
	ASSERT_OK(ctr_cg_usage(&set, &u, &hit));
	ASSERT_UINT_EQ(u.cpu_usec, 2500);
	ASSERT_UINT_EQ(u.mem_bytes, 100);
	ASSERT_UINT_EQ(u.mem_peak_bytes, 200);
	ASSERT_UINT_EQ(u.oom_kills, 2);
	ASSERT_UINT_EQ(u.pids, 3);
	ASSERT_UINT_EQ(hit, KEEL_CTR_LIMIT_MEMORY);
	ASSERT_OK(ctr_remove_tree_at(AT_FDCWD, root));
}

/* A fake v1 tree: <root>/{cpu,memory}/keel, each with a set dir `name` holding the files given. */
static void fake_v1_set(const char *root, const char *name, char cpu[PATH_MAX], char mem[PATH_MAX])
{
	char path[PATH_MAX];

	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/cpu", root), (int)(sizeof(path)));
	mkdir(path, 0755);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/cpu/keel", root), (int)(sizeof(path)));
	mkdir(path, 0755);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/memory", root), (int)(sizeof(path)));
	mkdir(path, 0755);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/memory/keel", root), (int)(sizeof(path)));
	mkdir(path, 0755);
	ASSERT_INT_LT(snprintf(cpu, PATH_MAX, "%s/cpu/keel/%s", root, name), (int)PATH_MAX);
	ASSERT_INT_LT(snprintf(mem, PATH_MAX, "%s/memory/keel/%s", root, name), (int)PATH_MAX);
	ASSERT_OK(mkdir(cpu, 0755));
	ASSERT_OK(mkdir(mem, 0755));
	put(cpu, "cgroup.procs", "");
	put(cpu, "cpu.shares", "KEEP");
	put(cpu, "cpuacct.usage", "7");
	put(mem, "cgroup.procs", "");
	put(mem, "memory.limit_in_bytes", "KEEP");
	put(mem, "memory.usage_in_bytes", "81920\n");
	put(mem, "memory.max_usage_in_bytes", "9");
	put(mem, "memory.failcnt", "3");
	put(mem, "memory.force_empty", "");
}

static bool exists_in(const char *dir, const char *name)
{
	char path[PATH_MAX];

	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/%s", dir, name), (int)(sizeof(path)));
	return access(path, F_OK) == 0;
}

TEST(cgroup_v1_fake_tree_spare_claimed_reset_and_pooled)
{
	char root[] = "/tmp/keel-fakecg-XXXXXX", cpu[PATH_MAX], mem[PATH_MAX], cpu_parent[PATH_MAX],
	     mem_parent[PATH_MAX], spare_cpu[PATH_MAX], spare_mem[PATH_MAX], path9[PATH_MAX],
	     buf[64], msg[KEEL_ERRMSG_SIZE] = "";
	struct ctr_cg_limits lim = {1, 64 << 20, 0};
	struct keel_ctr_usage u;
	struct ctr_cg_set set;
	int procs[CTR_CG_NCTRL];
	unsigned i, owned;

	ASSERT_NOT_NULL(mkdtemp(root));
	fake_v1_set(root, ".pool-t-k-old", spare_cpu, spare_mem);
	ASSERT_INT_LT(snprintf(cpu_parent, sizeof(cpu_parent), "%s/cpu/keel", root),
		      (int)(sizeof(cpu_parent)));
	ASSERT_INT_LT(snprintf(mem_parent, sizeof(mem_parent), "%s/memory/keel", root),
		      (int)(sizeof(mem_parent)));
	ASSERT_INT_LT(snprintf(cpu, sizeof(cpu), "%s/c1", cpu_parent), (int)(sizeof(cpu)));
	ASSERT_INT_LT(snprintf(mem, sizeof(mem), "%s/c1", mem_parent), (int)(sizeof(mem)));
	memset(&set, 0, sizeof(set));
	set.mode = KEEL_CTR_CGROUP_V1;
	set.n = 2;
	set.dir[0] = cpu;
	set.ctrls[0] = CTR_CG_BIT(CTR_CG_CPU) | CTR_CG_BIT(CTR_CG_CPUACCT);
	set.dir[1] = mem;
	set.ctrls[1] = CTR_CG_BIT(CTR_CG_MEMORY);
	set.spare = ".pool-t-k-old";
	set.pool_as = ".pool-t-k-c1";

	/* Claimed: renamed in each hierarchy, its limits left as they were (no rewrite). */
	ASSERT_OK(ctr_cg_create(&set, &lim, procs, &owned, msg));
	ASSERT_UINT_EQ(owned, 3);
	for (i = 0; i < set.n; i++)
		close(procs[i]);
	ASSERT_FALSE(exists_in(cpu_parent, ".pool-t-k-old"));
	ASSERT_FALSE(exists_in(mem_parent, ".pool-t-k-old"));
	get(cpu, "cpu.shares", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "KEEP");
	get(mem, "memory.limit_in_bytes", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "KEEP");

	/* A process still listed (and the caller saw none): removed, never pooled. */
	memset(&u, 0, sizeof(u));
	put(mem, "cgroup.procs", "4242\n");
	ASSERT_INT_LT(ctr_cg_release(&set, &u, false),
		      0); /* rmdir of a fake dir with files fails */
	ASSERT_FALSE(exists_in(mem_parent, ".pool-t-k-c1"));
	ASSERT_TRUE(exists_in(mem_parent, "c1"));
	put(mem, "cgroup.procs", "");

	/* Released clean: counters reset, renamed to its pool name, 1. */
	ASSERT_INT_EQ(ctr_cg_release(&set, &u, false), 1);
	ASSERT_TRUE(exists_in(cpu_parent, ".pool-t-k-c1"));
	ASSERT_TRUE(exists_in(mem_parent, ".pool-t-k-c1"));
	ASSERT_FALSE(exists_in(mem_parent, "c1"));
	ASSERT_INT_LT(snprintf(spare_mem, sizeof(spare_mem), "%s/.pool-t-k-c1", mem_parent),
		      (int)(sizeof(spare_mem)));
	ASSERT_INT_LT(snprintf(spare_cpu, sizeof(spare_cpu), "%s/.pool-t-k-c1", cpu_parent),
		      (int)(sizeof(spare_cpu)));
	get(spare_mem, "memory.max_usage_in_bytes", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "0");
	get(spare_mem, "memory.failcnt", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "0");
	get(spare_cpu, "cpuacct.usage", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "0");
	get(spare_mem, "memory.force_empty", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, ""); /* 80 KiB left: tolerated, nothing reclaimed */

	/* Claim it again, then end with an OOM kill: never pooled (the counter cannot be reset). */
	set.spare = ".pool-t-k-c1";
	ASSERT_OK(ctr_cg_create(&set, &lim, procs, &owned, msg));
	for (i = 0; i < set.n; i++)
		close(procs[i]);
	u.oom_kills = 1;
	ASSERT_INT_LT(ctr_cg_release(&set, &u, false),
		      0); /* rmdir of a fake dir with files fails */
	ASSERT_FALSE(exists_in(mem_parent, ".pool-t-k-c1"));
	ASSERT_TRUE(exists_in(mem_parent, "c1"));

	/* Page cache charged (8 MiB): no reuse, and never reclaimed (no force_empty write). */
	u.oom_kills = 0;
	put(mem, "memory.usage_in_bytes", "8388608\n");
	ASSERT_INT_LT(ctr_cg_release(&set, &u, false), 0);
	ASSERT_FALSE(exists_in(mem_parent, ".pool-t-k-c1"));
	get(mem, "memory.force_empty", buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "");

	/* A rename that fails in one hierarchy (a non-empty dir has the name): no spare. */
	u.oom_kills = 0;
	put(mem, "memory.usage_in_bytes", "0\n");
	set.pool_as = ".pool-t-k-c9";
	ASSERT_INT_LT(snprintf(path9, sizeof(path9), "%s/.pool-t-k-c9", mem_parent),
		      (int)sizeof(path9));
	ASSERT_OK(mkdir(path9, 0755));
	put(path9, "x", "");
	ASSERT_INT_LT(ctr_cg_release(&set, &u, false), 0); /* fake dirs with files: rmdir fails */
	ASSERT_TRUE(exists_in(mem_parent, "c1"));

	/* No pool name (v2, or pooling off): removal as before. */
	set.pool_as = NULL;
	set.spare = NULL;
	put(mem, "memory.usage_in_bytes", "0\n");
	ASSERT_INT_LT(ctr_cg_release(&set, &u, false), 0);
	ASSERT_FALSE(exists_in(mem_parent, ".pool-t-k-c1"));
	ASSERT_OK(ctr_remove_tree_at(AT_FDCWD, root));
}

TEST(cgroup_pool_hands_out_matching_spares_trims_and_removes)
{
	char root[] = "/tmp/keel-fakecg-XXXXXX", cpu_m[PATH_MAX], mem_m[PATH_MAX], name[256],
	     other[256], path[PATH_MAX];
	struct ctr_cg_limits lim = {1, 64 << 20, 0}, lim2 = {0.5, 64 << 20, 0};
	struct ctr_cg_pool pool;
	struct ctr_cg_sys sys;
	struct ctr_cg_set set;
	int c;

	ASSERT_NOT_NULL(mkdtemp(root));
	ASSERT_INT_LT(snprintf(cpu_m, sizeof(cpu_m), "%s/cpu", root), (int)(sizeof(cpu_m)));
	ASSERT_INT_LT(snprintf(mem_m, sizeof(mem_m), "%s/memory", root), (int)(sizeof(mem_m)));
	memset(&sys, 0, sizeof(sys));
	for (c = 0; c < CTR_CG_NCTRL; c++)
		sys.v1_alias[c] = -1;
	sys.mode = KEEL_CTR_CGROUP_V1;
	sys.parent = "keel";
	sys.v1_mount[CTR_CG_CPU] = cpu_m;
	sys.v1_mount[CTR_CG_MEMORY] = mem_m;
	ASSERT_OK(mkdir(cpu_m, 0755));
	ASSERT_OK(mkdir(mem_m, 0755));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel", cpu_m), (int)(sizeof(path)));
	ASSERT_OK(mkdir(path, 0755));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel", mem_m), (int)(sizeof(path)));
	ASSERT_OK(mkdir(path, 0755));

	/* Another work dir's spare (and a foreign name) are never adopted or handed out. */
	ctr_cg_pool_init(&pool, "/elsewhere", 0);
	ASSERT_OK(ctr_cg_pool_name(other, sizeof(other), pool.token, &lim, "x1"));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel/%s", cpu_m, other),
		      (int)(sizeof(path)));
	ASSERT_OK(mkdir(path, 0755));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel/%s", mem_m, other),
		      (int)(sizeof(path)));
	ASSERT_OK(mkdir(path, 0755));
	ctr_cg_pool_close(&pool, &sys); /* an empty pool's close still removes its leftovers */
	ASSERT_FALSE(exists_in(path, ""));

	ASSERT_OK(mkdir(path, 0755)); /* the other work dir's spare, again */
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel/%s", cpu_m, other),
		      (int)(sizeof(path)));
	ASSERT_OK(mkdir(path, 0755));
	ctr_cg_pool_init(&pool, "/w", 2);
	ASSERT_UINT_EQ(pool.max, 2);
	ctr_cg_pool_put(&pool, &sys, other);
	ctr_cg_pool_put(&pool, &sys, "c1");
	ctr_cg_pool_put(&pool, &sys, "../x");
	ASSERT_UINT_EQ(pool.n, 0);

	/* A leftover of an earlier context on /w is adopted at the first plan and handed out. */
	ASSERT_OK(ctr_cg_pool_name(name, sizeof(name), pool.token, &lim, "old"));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel/%s", cpu_m, name), (int)(sizeof(path)));
	ASSERT_OK(mkdir(path, 0755));
	memset(&set, 0, sizeof(set));
	set.mode = KEEL_CTR_CGROUP_V1;
	set.n = 1;
	ASSERT_OK(ctr_cg_pool_plan(&pool, &sys, &set, &lim2, "a"));
	ASSERT_UINT_EQ(pool.n, 1);
	ASSERT_NULL(set.spare); /* other limits: no match */
	ASSERT_NOT_NULL(set.pool_as);
	ASSERT_TRUE(strstr(set.pool_as, "-a") != NULL);
	keel_free(set.pool_as);
	set.pool_as = NULL;
	ASSERT_OK(ctr_cg_pool_plan(&pool, &sys, &set, &lim, "b"));
	ASSERT_NOT_NULL(set.spare);
	ASSERT_STR_EQ(set.spare, name);
	ASSERT_UINT_EQ(pool.n, 0);
	keel_free(set.spare);
	keel_free(set.pool_as);

	/* Past max the oldest spare is removed from the hierarchies; duplicates count once. */
	ctr_cg_pool_put(&pool, &sys, name);
	ctr_cg_pool_put(&pool, &sys, name);
	ASSERT_UINT_EQ(pool.n, 1);
	ASSERT_OK(ctr_cg_pool_name(other, sizeof(other), pool.token, &lim, "p2"));
	ctr_cg_pool_put(&pool, &sys, other);
	ASSERT_OK(ctr_cg_pool_name(other, sizeof(other), pool.token, &lim, "p3"));
	ctr_cg_pool_put(&pool, &sys, other);
	ASSERT_UINT_EQ(pool.n, 2);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel", cpu_m), (int)(sizeof(path)));
	ASSERT_FALSE(exists_in(path, name));

	/* Close removes every spare of /w, listed or not, and leaves the others'. */
	ASSERT_OK(ctr_cg_pool_name(name, sizeof(name), pool.token, &lim, "unlisted"));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel/%s", cpu_m, name), (int)(sizeof(path)));
	ASSERT_OK(mkdir(path, 0755));
	ctr_cg_pool_close(&pool, &sys);
	ASSERT_FALSE(exists_in(path, ""));
	ctr_cg_pool_init(&pool, "/elsewhere", 0);
	ASSERT_OK(ctr_cg_pool_name(other, sizeof(other), pool.token, &lim, "x1"));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/keel", cpu_m), (int)(sizeof(path)));
	ASSERT_TRUE(exists_in(path, other));
	ctr_cg_pool_close(&pool, &sys);
	ASSERT_FALSE(exists_in(path, other));

	/* Pooling off: no pool name, nothing handed out. */
	ctr_cg_pool_init(&pool, "/w", -1);
	memset(&set, 0, sizeof(set));
	set.mode = KEEL_CTR_CGROUP_V1;
	set.n = 1;
	ASSERT_OK(ctr_cg_pool_plan(&pool, &sys, &set, &lim, "c"));
	ASSERT_NULL(set.pool_as);
	ctr_cg_pool_close(&pool, &sys);
	ASSERT_OK(ctr_remove_tree_at(AT_FDCWD, root));
}

TEST(cgroup_detect_refuses_wrong_mode)
{
	struct ctr_cg_sys sys;
	char msg[KEEL_ERRMSG_SIZE] = "";

	/* A plain directory is neither: v2 requested -> refused; auto -> no cgroups. */
	ASSERT_INT_EQ(ctr_cg_detect(&sys, KEEL_CTR_CGROUP_V2, "/tmp", NULL, msg), -ENOTSUP);
	ASSERT_STR_CONTAINS(msg, "not a cgroup2 mount");
	ASSERT_INT_EQ(ctr_cg_detect(&sys, KEEL_CTR_CGROUP_V1, "/tmp", NULL, msg), -ENOTSUP);
	ASSERT_OK(ctr_cg_detect(&sys, KEEL_CTR_CGROUP_AUTO, "/tmp", NULL, msg));
	ASSERT_INT_EQ(sys.mode, KEEL_CTR_CGROUP_NONE);
	ctr_cg_sys_free(&sys);
	ASSERT_INT_EQ(ctr_cg_detect(&sys, KEEL_CTR_CGROUP_AUTO, "/tmp", "../x", msg), -EINVAL);
	ASSERT_INT_EQ(ctr_cg_detect(&sys, KEEL_CTR_CGROUP_AUTO, "rel", NULL, msg), -EINVAL);
}

TEST(open_rejects_bad_config_and_survives_oom)
{
	struct keel_ctr_config cfg;
	struct keel_ctr *ctx = NULL;
	char msg[KEEL_ERRMSG_SIZE] = "", dir[] = "/tmp/keel-open-XXXXXX";

	memset(&cfg, 0, sizeof(cfg));
	ASSERT_INT_EQ(keel_ctr_open(&cfg, &ctx, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "work_dir");
	cfg.work_dir = "relative/dir";
	ASSERT_INT_EQ(keel_ctr_open(&cfg, &ctx, msg), -EINVAL);
	ASSERT_NULL(ctx);
	ASSERT_NOT_NULL(mkdtemp(dir));
	cfg.work_dir = dir;
	cfg.cgroup_mode = KEEL_CTR_CGROUP_NONE;
#ifdef KEEL_FAILPOINTS
	{
		long n, total;

		/* Count allocations of a successful open, then fail each one in turn. */
		keel_alloc_fail_after(0, false);
		ASSERT_OK(keel_ctr_open(&cfg, &ctx, msg));
		keel_ctr_close(ctx);
		total = keel_alloc_fail_after(0, false);
		ASSERT_INT_GT(total, 0);
		for (n = 1; n <= total; n++) {
			TH_CONTEXT("allocation %ld of %ld", n, total);
			keel_alloc_fail_after(n, false);
			int rv = keel_ctr_open(&cfg, &ctx, msg);
			keel_alloc_fail_after(0, false);
			ASSERT_INT_EQ(rv, -ENOMEM);
			ASSERT_NULL(ctx);
		}
	}
#endif
	ASSERT_OK(keel_ctr_open(&cfg, &ctx, msg));
	ASSERT_INT_EQ(keel_ctr_cgroup_mode(ctx), KEEL_CTR_CGROUP_NONE);
	ASSERT_INT_GE(keel_ctr_fd(ctx), 0);
	ASSERT_INT_EQ(keel_ctr_process(ctx), 0);
	ASSERT_UINT_EQ(keel_ctr_list(ctx, NULL, 0), 0);
	ASSERT_INT_EQ(keel_ctr_kill(ctx, "nope", 0), -ENOENT);
	ASSERT_INT_EQ(keel_ctr_destroy(ctx, "nope"), -ENOENT);
	keel_ctr_close(ctx);
	ASSERT_OK(ctr_remove_tree_at(AT_FDCWD, dir));
}

/* A layer tar in a memfd: `files` files of `size` bytes (zeros), then `trailing` zero bytes. */
static int bomb_layer(int files, size_t size, size_t trailing)
{
	static char zeros[65536];
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int fd = memfd_create("layer", MFD_CLOEXEC);
	int i;

	ASSERT_NOT_NULL(a);
	ASSERT_NOT_NULL(e);
	ASSERT_INT_GE(fd, 0);
	ASSERT_INT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	ASSERT_INT_EQ(archive_write_open_fd(a, fd), ARCHIVE_OK);
	for (i = 0; i < files; i++) {
		char name[32];
		size_t left = size;

		snprintf(name, sizeof(name), "f%d", i);
		archive_entry_clear(e);
		archive_entry_set_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_uid(e, geteuid());
		archive_entry_set_gid(e, getegid());
		archive_entry_set_size(e, (la_int64_t)size);
		ASSERT_INT_EQ(archive_write_header(a, e), ARCHIVE_OK);
		while (left > 0) {
			size_t n = left < sizeof(zeros) ? left : sizeof(zeros);
			ASSERT_INT_EQ(archive_write_data(a, zeros, n), (la_ssize_t)n);
			left -= n;
		}
	}
	ASSERT_INT_EQ(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
	while (trailing > 0) {
		size_t n = trailing < sizeof(zeros) ? trailing : sizeof(zeros);
		ASSERT_INT_EQ(write(fd, zeros, n), (ssize_t)n);
		trailing -= n;
	}
	ASSERT_INT_EQ(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Unpacks a layer under dir with the given budget; returns the result, removes what it made. */
static int unpack_with(int fd, const char *dir, uint64_t max_bytes, uint64_t max_entries, char *msg)
{
	char blob[72], diff[72];
	struct ctr_unpack_budget b;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rv;

	ASSERT_INT_GE(dfd, 0);
	ctr_unpack_budget_init(&b, max_bytes, max_entries);
	rv = ctr_layer_unpack(fd, dfd, "l", &b, blob, diff, msg);
	if (rv == 0) {
		/* What was charged is what the layer holds. */
		ASSERT_UINT_EQ(b.max_bytes - b.bytes, 3 * 100000);
		ASSERT_UINT_EQ(b.max_entries - b.entries, 3);
		ASSERT_OK(ctr_remove_tree_at(dfd, "l"));
	}
	/* A refused layer leaves nothing behind. */
	ASSERT_FALSE(faccessat(dfd, "l", F_OK, AT_SYMLINK_NOFOLLOW) == 0);
	close(dfd);
	return rv;
}

TEST(layer_unpack_stops_at_the_byte_entry_and_stream_limits)
{
	char dir[] = "/tmp/keel-ctr-budget-XXXXXX", msg[KEEL_ERRMSG_SIZE] = "";
	int fd;

	ASSERT_NOT_NULL(mkdtemp(dir));
	/* Three files of 100000 bytes: fits in 300000 bytes and 3 entries exactly. */
	fd = bomb_layer(3, 100000, 0);
	ASSERT_OK(unpack_with(fd, dir, 300000, 3, msg));
	close(fd);
	/* One byte or one entry less: -EFBIG with a message that names the limit. */
	fd = bomb_layer(3, 100000, 0);
	ASSERT_INT_EQ(unpack_with(fd, dir, 299999, 3, msg), -EFBIG);
	ASSERT_STR_CONTAINS(msg, "more than 299999 bytes");
	close(fd);
	fd = bomb_layer(3, 100000, 0);
	ASSERT_INT_EQ(unpack_with(fd, dir, 300000, 2, msg), -EFBIG);
	ASSERT_STR_CONTAINS(msg, "more than 2 entries");
	close(fd);
	/* A tar followed by megabytes of zeros: the uncompressed stream is capped too. */
	fd = bomb_layer(3, 100000, 4 << 20);
	ASSERT_INT_EQ(unpack_with(fd, dir, 300000, 3, msg), -EFBIG);
	ASSERT_STR_CONTAINS(msg, "longer than");
	close(fd);
	ASSERT_OK(rmdir(dir));
}

/* A plan with every field set, as ctr_launch.c would build it (heap-owned). */
static struct ctr_plan *full_plan(void)
{
	static struct sock_filter insns[3] = {{6, 0, 0, 1}, {6, 0, 0, 2}, {6, 0, 0, 3}};
	struct ctr_plan *p = keel_calloc(1, sizeof(*p));
	size_t i;

	ASSERT_NOT_NULL(p);
	snprintf(p->id, sizeof(p->id), "plan-1");
	p->launcher = KEEL_CTR_LAUNCHER_LINUX;
	p->ns_flags = 0x7e020000;
	p->privileged = true;
	p->argv = keel_calloc(3, sizeof(char *));
	p->envp = keel_calloc(2, sizeof(char *));
	p->copy_layers = keel_calloc(2, sizeof(char *));
	ASSERT_NOT_NULL(p->argv);
	ASSERT_NOT_NULL(p->envp);
	ASSERT_NOT_NULL(p->copy_layers);
	p->argv[0] = keel_strdup("/bin/sh");
	p->argv[1] = keel_strdup("");
	p->envp[0] = keel_strdup("A=b\nc");
	p->copy_layers[0] = keel_strdup("/layers/x");
	p->path_env = keel_strdup("/bin");
	p->rootfs = keel_strdup("/r");
	p->sandbox = keel_strdup("/s");
	p->hostname = keel_strdup("h");
	p->image_root = keel_strdup("/i");
	p->overlay_opts = keel_strdup("lowerdir=/a");
	p->set_user = true;
	p->uid = 1000;
	p->gid = 1001;
	p->groups = keel_calloc(2, sizeof(gid_t));
	ASSERT_NOT_NULL(p->groups);
	p->groups[0] = 5;
	p->groups[1] = 6;
	p->ngroups = 2;
	p->caps = (struct keel_ctr_caps){1, 2, 3, 4, 5};
	p->cap_last = 40;
	p->seccomp.len = 3;
	p->seccomp.filter = insns; /* borrowed, as from the context cache */
	p->mounts = keel_calloc(2, sizeof(*p->mounts));
	ASSERT_NOT_NULL(p->mounts);
	for (i = 0; i < 2; i++) {
		p->mounts[i].source = keel_strdup(i ? "/host" : "data");
		p->mounts[i].in_sandbox = i == 0;
		p->mounts[i].target = keel_strdup(i ? "/t1" : "/t0");
		p->mounts[i].readonly = i == 1;
		p->n_mounts++;
	}
	p->cg.mode = KEEL_CTR_CGROUP_V1;
	p->cg.dir[0] = keel_strdup("/sys/fs/cgroup/cpu/keel/plan-1");
	p->cg.dir[1] = keel_strdup("/sys/fs/cgroup/memory/keel/plan-1");
	p->cg.ctrls[0] = 3;
	p->cg.ctrls[1] = 4;
	p->cg.n = 2;
	p->limits = (struct ctr_cg_limits){0.5, 64 << 20, 100};
	p->cg_mode_name = "v1";
	p->grace_ms = 3000;
	p->meta_fd = 3;
	p->lock_fd = 4;
	p->notify_fd = 5;
	p->sandbox_fd = 6;
	return p;
}

TEST(plan_wire_roundtrip_truncations_and_oom)
{
	struct ctr_plan *in = full_plan(), *out = NULL;
	void *buf;
	size_t len, cut;
	long n, total;
	int rv;

	ASSERT_OK(ctr_plan_encode(in, &buf, &len));
	ASSERT_OK(ctr_plan_decode(buf, len, &out));
	ASSERT_STR_EQ(out->id, "plan-1");
	ASSERT_INT_EQ(out->launcher, KEEL_CTR_LAUNCHER_LINUX);
	ASSERT_UINT_EQ(out->ns_flags, 0x7e020000);
	ASSERT_TRUE(out->privileged);
	ASSERT_STR_EQ(out->argv[0], "/bin/sh");
	ASSERT_STR_EQ(out->argv[1], "");
	ASSERT_NULL(out->argv[2]);
	ASSERT_STR_EQ(out->envp[0], "A=b\nc");
	ASSERT_STR_EQ(out->copy_layers[0], "/layers/x");
	ASSERT_NULL(out->cwd);
	ASSERT_STR_EQ(out->overlay_opts, "lowerdir=/a");
	ASSERT_UINT_EQ(out->uid, 1000);
	ASSERT_UINT_EQ(out->ngroups, 2);
	ASSERT_UINT_EQ(out->groups[1], 6);
	ASSERT_UINT_EQ(out->caps.ambient, 5);
	ASSERT_UINT_EQ(out->seccomp.len, 3);
	ASSERT_UINT_EQ(out->seccomp.filter[2].k, 3);
	ASSERT_TRUE(out->seccomp_owned);
	ASSERT_UINT_EQ(out->n_mounts, 2);
	ASSERT_STR_EQ(out->mounts[0].source, "data");
	ASSERT_TRUE(out->mounts[0].in_sandbox);
	ASSERT_TRUE(out->mounts[1].readonly);
	ASSERT_UINT_EQ(out->cg.n, 2);
	ASSERT_STR_EQ(out->cg.dir[1], "/sys/fs/cgroup/memory/keel/plan-1");
	ASSERT_UINT_EQ(out->cg.ctrls[1], 4);
	ASSERT_TRUE(out->limits.cpus == 0.5);
	ASSERT_INT_EQ(out->limits.pids_max, 100);
	ASSERT_STR_EQ(out->cg_mode_name, "v1");
	ASSERT_UINT_EQ(out->grace_ms, 3000);
	ASSERT_INT_EQ(out->sandbox_fd, 6);
	ctr_plan_free(out);
	/* Every shorter input fails cleanly, even when its header claims that length. */
	for (cut = 0; cut < len; cut++) {
		unsigned char *copy = keel_malloc(len);
		uint64_t claimed = cut;

		ASSERT_NOT_NULL(copy);
		memcpy(copy, buf, len);
		if (cut >= 16)
			memcpy(copy + 8, &claimed, sizeof(claimed));
		TH_CONTEXT("cut at %zu of %zu", cut, len);
		ASSERT_INT_EQ(ctr_plan_decode(copy, cut, &out), -EINVAL);
		ASSERT_NULL(out);
		keel_free(copy);
	}
	TH_CONTEXT(NULL);
	/* A wrong magic or version is refused. */
	((unsigned char *)buf)[0] ^= 1;
	ASSERT_INT_EQ(ctr_plan_decode(buf, len, &out), -EINVAL);
	((unsigned char *)buf)[0] ^= 1;
#ifdef KEEL_FAILPOINTS
	/* Each allocation of decode and encode can fail: -ENOMEM, nothing leaked. */
	keel_alloc_fail_after(0, false);
	ASSERT_OK(ctr_plan_decode(buf, len, &out));
	total = keel_alloc_fail_after(0, false);
	ctr_plan_free(out);
	for (n = 1; n <= total; n++) {
		keel_alloc_fail_after(n, false);
		rv = ctr_plan_decode(buf, len, &out);
		keel_alloc_fail_after(0, false);
		ASSERT_INT_EQ(rv, -ENOMEM);
	}
	keel_alloc_fail_after(1, false);
	void *again;
	size_t again_len;
	rv = ctr_plan_encode(in, &again, &again_len);
	keel_alloc_fail_after(0, false);
	ASSERT_INT_EQ(rv, -ENOMEM);
#else
	(void)n;
	(void)total;
	(void)rv;
#endif
	keel_free(buf);
	in->seccomp.filter = NULL; /* borrowed */
	ctr_plan_free(in);
}

/* The supervisor program ctr_spawn.c execs, as containerizer/meson.build embeds it. */
extern const unsigned char ctr_supervisor_elf[];
extern const unsigned char ctr_supervisor_elf_end[];

TEST(supervisor_program_is_a_static_pie_of_the_configured_libc)
{
	const char *libc = getenv("KEEL_CTR_SUPERVISOR_LIBC");
	size_t n = (size_t)(ctr_supervisor_elf_end - ctr_supervisor_elf);
	bool has_dynamic = false, glibc_marks;
	Elf64_Ehdr eh;
	size_t i;

	ASSERT_UINT_GT(n, sizeof(eh));
	memcpy(&eh, ctr_supervisor_elf, sizeof(eh));
	ASSERT_MEM_EQ(eh.e_ident, ELFMAG, SELFMAG);
	ASSERT_INT_EQ(eh.e_ident[EI_CLASS], ELFCLASS64);
	/* A position-independent program (its addresses change per launch)... */
	ASSERT_INT_EQ(eh.e_type, ET_DYN);
	ASSERT_UINT_LE((size_t)eh.e_phoff + (size_t)eh.e_phnum * sizeof(Elf64_Phdr), n);
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, ctr_supervisor_elf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		/* ...that needs no dynamic loader: it relocates itself. */
		ASSERT_UINT_NE(ph.p_type, PT_INTERP);
		if (ph.p_type == PT_DYNAMIC)
			has_dynamic = true;
	}
	ASSERT_TRUE(has_dynamic);
	/* glibc's static start-up carries its tunables' names ("glibc.malloc...."); musl has none.
	 */
	glibc_marks = memmem(ctr_supervisor_elf, n, "glibc.", 6) != NULL;
	if (libc == NULL)
		TH_SKIP("KEEL_CTR_SUPERVISOR_LIBC not set (run through meson test)");
	if (strcmp(libc, "musl") == 0)
		ASSERT_FALSE(glibc_marks);
	else
		ASSERT_TRUE(glibc_marks);
}
