/* Container isolation: caps, no_new_privs, seccomp, fds, namespaces, mounts, escapes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ctr_fixture.h"
#include "harness.h"

/* Runs argv to completion and returns its stdout (static buffer); asserts a clean exit. */
static const char *run_output(struct keel_ctr_spec *spec, int want_exit)
{
	static char out[16384];
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE];
	char err[1024] = "";

	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(spec)), (int)sizeof(id));
	st = fx_wait(id, 30000);
	fx_read_sandbox(id, "stderr", err, sizeof(err));
	TH_CONTEXT("%s: %s; stderr: %s", keel_ctr_reason_name(st.reason), st.message, err);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_EXITED);
	ASSERT_INT_EQ(st.exit_code, want_exit);
	TH_CONTEXT(NULL);
	ASSERT_INT_GE(fx_read_sandbox(id, "stdout", out, sizeof(out)), 0);
	return out;
}

static void assert_unprivileged_status(const char *dump)
{
	TH_CONTEXT("%s", dump);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapEff"), 0);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapPrm"), 0);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapBnd"), 0);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapInh"), 0);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapAmb"), 0);
	ASSERT_INT_EQ(fx_status_dec(dump, "NoNewPrivs"), 1);
	ASSERT_INT_EQ(fx_status_dec(dump, "Seccomp"), 2);
	ASSERT_INT_EQ(fx_status_dec(dump, "Uid"), 65534);
	ASSERT_INT_EQ(fx_status_dec(dump, "Gid"), 65534);
	TH_CONTEXT(NULL);
}

TEST(nonroot_task_has_no_caps_nnp_and_seccomp_in_rootfs)
{
	const char *argv[] = {"cat", "/proc/self/status", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .user = "nobody"};

	fx_require_root();
	fx_open();
	spec.rootfs = fx_rootfs();
	assert_unprivileged_status(run_output(&spec, 0));
	fx_cleanup();
}

TEST(nonroot_task_has_no_caps_nnp_and_seccomp_host_fs_and_posix)
{
	const char *argv[] = {fx_probe(), "status", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .user = "65534"};

	fx_require_root();
	fx_open();
	assert_unprivileged_status(run_output(&spec, 0));
	spec.launcher = KEEL_CTR_LAUNCHER_POSIX;
	spec.user = "nobody:nogroup";
	assert_unprivileged_status(run_output(&spec, 0));
	fx_cleanup();
}

TEST(task_starts_with_default_signals_whatever_the_caller_ignores)
{
	const char *argv[] = {fx_probe(), "status", NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	const char *dump;
	sigset_t block, old;

	fx_require_root();
	fx_open();
	/* A caller that ignores SIGPIPE and SIGUSR1 and blocks SIGUSR2, as daemons do. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, &old);
	dump = run_output(&spec, 0);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	TH_CONTEXT("%s", dump);
	ASSERT_INT_EQ(fx_status_hex(dump, "SigIgn"), 0);
	ASSERT_INT_EQ(fx_status_hex(dump, "SigBlk"), 0);
	TH_CONTEXT(NULL);
	fx_cleanup();
}

TEST(root_task_keeps_only_default_caps_and_spec_caps_apply)
{
	const char *argv[] = {"cat", "/proc/self/status", NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	const char *dump;
	long long def = (long long)keel_ctr_caps_root_default();

	fx_require_root();
	fx_open();
	spec.rootfs = fx_rootfs();
	dump = run_output(&spec, 0);
	TH_CONTEXT("%s", dump);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapBnd"), def);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapEff"), def);
	ASSERT_INT_EQ(fx_status_dec(dump, "NoNewPrivs"), 1);
	ASSERT_INT_EQ(fx_status_dec(dump, "Seccomp"), 2);
	TH_CONTEXT(NULL);

	/* A non-root user with one ambient capability: it survives exec, nothing else does. */
	spec.user = "nobody";
	spec.caps_set = true;
	spec.caps.bounding = spec.caps.permitted = spec.caps.effective = spec.caps.inheritable =
	    spec.caps.ambient = 1ULL << 10; /* CAP_NET_BIND_SERVICE */
	dump = run_output(&spec, 0);
	TH_CONTEXT("%s", dump);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapBnd"), 1LL << 10);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapAmb"), 1LL << 10);
	ASSERT_INT_EQ(fx_status_hex(dump, "CapEff"), 1LL << 10);
	ASSERT_INT_EQ(fx_status_dec(dump, "Uid"), 65534);
	TH_CONTEXT(NULL);
	fx_cleanup();
}

TEST(seccomp_default_profile_denies_the_list)
{
	const char *argv[] = {fx_probe(), "syscalls", NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	const char *out;

	fx_require_root();
	fx_open();
	/* As root with the default capabilities: only the filter stands in the way. */
	out = run_output(&spec, 0);
	ASSERT_STR_CONTAINS(out, "keyctl=EPERM\n");
	ASSERT_STR_CONTAINS(out, "add_key=EPERM\n");
	ASSERT_STR_CONTAINS(out, "unshare=EPERM\n");
	ASSERT_STR_CONTAINS(out, "mount=EPERM\n");
	ASSERT_STR_CONTAINS(out, "bpf=EPERM\n");
	ASSERT_STR_CONTAINS(out, "io_uring_setup=EPERM\n");
	ASSERT_STR_CONTAINS(out, "clone3=ENOSYS\n");
	ASSERT_STR_CONTAINS(out, "reboot=EPERM\n");
	ASSERT_STR_CONTAINS(out, "getpid=OK\n");
	/* Unconfined: keyctl reaches the kernel (which answers for itself). */
	spec.seccomp = KEEL_CTR_SECCOMP_UNCONFINED;
	out = run_output(&spec, 0);
	ASSERT_FALSE(strstr(out, "keyctl=EPERM") != NULL);
	ASSERT_FALSE(strstr(out, "clone3=ENOSYS") != NULL);
	fx_cleanup();
}

/* The task is running (its RUNNING event processed, so its pid known) and has printed. */
static bool ready(void *arg)
{
	struct keel_ctr_status st;
	char buf[64];

	return keel_ctr_status(fx.ctx, arg, &st) == 0 && st.state == KEEL_CTR_RUNNING &&
	       fx_read_sandbox(arg, "stdout", buf, sizeof(buf)) > 0;
}

/* Lists /proc/PID/fd from the host; with `avoid`, asserts no fd points at that path. */
static void host_fds(pid_t pid, char *out, size_t n, const char *avoid)
{
	char path[64], fdpath[400], target[PATH_MAX];
	struct dirent *de;
	DIR *d;
	size_t off = 0;

	ASSERT_INT_LT(snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid), (int)sizeof(path));
	d = opendir(path);
	ASSERT_NOT_NULL(d);
	out[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		off += (size_t)snprintf(out + off, n - off, "%s ", de->d_name);
		ASSERT_INT_LT(snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name),
			      (int)sizeof(fdpath));
		len = readlink(fdpath, target, sizeof(target) - 1);
		if (avoid != NULL && len > 0) {
			target[len] = '\0';
			/* The file is already unlinked: the link reads "<path> (deleted)". */
			ASSERT_FALSE(strncmp(target, avoid, strlen(avoid)) == 0);
		}
	}
	closedir(d);
}

static void check_fds(enum keel_ctr_launcher launcher)
{
	const char *fds[] = {fx_probe(), "fds", NULL};
	const char *sleep_argv[] = {fx_probe(), "sleep", NULL};
	struct keel_ctr_spec spec = {.argv = fds, .launcher = launcher};
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE], list[256], leak[] = "/tmp/keel-leak-XXXXXX";
	int extra;

	/* An fd the caller opened without O_CLOEXEC: it must reach neither supervisor nor task. */
	extra = mkstemp(leak);
	ASSERT_INT_GE(extra, 3);
	unlink(leak); /* nothing left behind, whatever happens below */
	ASSERT_STR_EQ(run_output(&spec, 0), "fds: 0 1 2\n");
	spec.argv = sleep_argv;
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(ready, id, 20000));
	ASSERT_OK(keel_ctr_status(fx.ctx, id, &st));
	host_fds(st.task_pid, list, sizeof(list), leak);
	ASSERT_STR_EQ(list, "0 1 2 ");
	host_fds(st.supervisor_pid, list, sizeof(list), leak);
	close(extra);
	keel_ctr_kill(fx.ctx, id, 0);
	fx_wait(id, 20000);
}

TEST(only_fds_0_1_2_reach_the_task)
{
	fx_require_root();
	fx_open();
	check_fds(KEEL_CTR_LAUNCHER_LINUX);
	check_fds(KEEL_CTR_LAUNCHER_POSIX);
	fx_cleanup();
}

TEST(namespaces_and_filesystem_of_a_rootfs_container)
{
	const char *argv[] = {
	    "sh", "-c",
	    "echo pid=$$; echo host=$(hostname); ls /dev | tr '\\n' ' '; echo;"
	    "touch /sys/x 2>/dev/null && echo sys=rw || echo sys=ro;"
	    "grep ' /tmp ' /proc/mounts | cut -d' ' -f3;"
	    "echo hi > /mnt/mesos/sandbox/from-inside; pwd; echo $MESOS_SANDBOX;"
	    "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo procsys=rw || echo procsys=ro",
	    NULL};
	struct keel_ctr_spec spec = {.argv = argv, .hostname = "keel-box"};
	char buf[64];
	const char *out, *id;

	fx_require_root();
	fx_open();
	spec.rootfs = fx_rootfs();
	out = run_output(&spec, 0);
	TH_CONTEXT("%s", out);
	ASSERT_STR_CONTAINS(out, "pid=1\n");
	ASSERT_STR_CONTAINS(out, "host=keel-box\n");
	ASSERT_STR_CONTAINS(out, "fd full null ptmx pts random shm stderr stdin stdout tty urandom "
				 "zero \n");
	ASSERT_STR_CONTAINS(out, "sys=ro\n");
	ASSERT_STR_CONTAINS(out, "tmpfs\n");
	ASSERT_STR_CONTAINS(out, "/mnt/mesos/sandbox\n/mnt/mesos/sandbox\n");
	ASSERT_STR_CONTAINS(out, "procsys=ro\n");
	TH_CONTEXT(NULL);
	id = fx.events[fx.n_events - 1].id;
	ASSERT_INT_GE(fx_read_sandbox(id, "from-inside", buf, sizeof(buf)), 0);
	ASSERT_STR_EQ(buf, "hi\n");
	fx_cleanup();
}

TEST(network_namespace_has_only_loopback_up)
{
	const char *argv[] = {"sh", "-c",
			      "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .network_ns = true};

	fx_require_root();
	fx_open();
	spec.rootfs = fx_rootfs();
	ASSERT_STR_EQ(run_output(&spec, 0), "lo\n");
	fx_cleanup();
}

static struct keel_ctr_status run_status(struct keel_ctr_spec *spec)
{
	const char *id = fx_launch(spec);

	return fx_wait(id, 30000);
}

TEST(escape_cwd_through_proc_self_fd_is_refused)
{
	const char *argv[] = {"pwd", NULL};
	const char *probe_cwd[] = {fx_probe(), "cwd", NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	struct keel_ctr_status st;
	int fd;

	fx_require_root();
	fx_open();
	/* Whatever fd the task has while it resolves its cwd, a /proc magic link is refused. */
	spec.rootfs = fx_rootfs();
	for (fd = 0; fd < 8; fd++) {
		char cwd[64];

		ASSERT_INT_LT(snprintf(cwd, sizeof(cwd), "/proc/self/fd/%d", fd), (int)sizeof(cwd));
		spec.cwd = cwd;
		TH_CONTEXT("cwd %s", cwd);
		st = run_status(&spec);
		ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
		ASSERT_STR_CONTAINS(st.message, "working directory");
	}
	/* Through /proc/self/cwd and /proc/1/root too, and on the host filesystem. */
	spec.cwd = "/proc/self/root";
	st = run_status(&spec);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
	spec.rootfs = NULL;
	spec.argv = probe_cwd;
	spec.cwd = "/proc/self/fd/3";
	st = run_status(&spec);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
	ASSERT_STR_CONTAINS(st.message, "working directory");
	/* A plain directory works. */
	spec.cwd = "/tmp";
	ASSERT_STR_EQ(run_output(&spec, 0), "cwd=/tmp\n");
	fx_cleanup();
}

TEST(escape_mount_source_symlink_out_of_the_sandbox_is_refused)
{
	const char *argv[] = {"true", NULL};
	struct keel_ctr_mount m = {"escape", "/mnt/data", false};
	struct keel_ctr_spec spec = {.argv = argv, .mounts = &m, .n_mounts = 1};
	struct keel_ctr_status st;
	char sandbox[PATH_MAX], link[PATH_MAX];
	static const char *const targets[] = {"/etc", "../../../../../../etc",
					      "/proc/self/root/etc"};
	size_t i;

	fx_require_root();
	fx_open();
	spec.rootfs = fx_rootfs();
	ASSERT_INT_LT(snprintf(sandbox, sizeof(sandbox), "%s/sb", fx.work_dir),
		      (int)sizeof(sandbox));
	ASSERT_OK(mkdir(sandbox, 0755));
	spec.sandbox = sandbox;
	ASSERT_INT_LT(snprintf(link, sizeof(link), "%s/escape", sandbox), (int)sizeof(link));
	for (i = 0; i < KEEL_ARRAY_SIZE(targets); i++) {
		TH_CONTEXT("escape -> %s", targets[i]);
		unlink(link);
		ASSERT_OK(symlink(targets[i], link));
		st = run_status(&spec);
		ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
		ASSERT_STR_CONTAINS(st.message, "mount source escape");
	}
	fx_cleanup();
}

TEST(mount_target_symlinks_resolve_inside_the_rootfs)
{
	const char *argv[] = {"cat", "/evil/keel-mnt-test/hello", NULL};
	struct keel_ctr_mount m = {"data", "/evil/keel-mnt-test", true};
	struct keel_ctr_spec spec = {.argv = argv, .mounts = &m, .n_mounts = 1};
	char sandbox[PATH_MAX], path[PATH_MAX], inside[PATH_MAX];
	FILE *f;

	fx_require_root();
	fx_open();
	spec.rootfs = fx_rootfs();
	/* /evil -> /etc: followed naively from the host, the mount would land on the host's /etc.
	 */
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/evil", spec.rootfs), (int)sizeof(path));
	unlink(path);
	ASSERT_OK(symlink("/etc", path));
	ASSERT_INT_LT(snprintf(sandbox, sizeof(sandbox), "%s/sb", fx.work_dir),
		      (int)sizeof(sandbox));
	ASSERT_OK(mkdir(sandbox, 0755));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/data", sandbox), (int)sizeof(path));
	ASSERT_OK(mkdir(path, 0755));
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/data/hello", sandbox), (int)sizeof(path));
	f = fopen(path, "w");
	ASSERT_NOT_NULL(f);
	fputs("from the sandbox\n", f);
	fclose(f);
	spec.sandbox = sandbox;
	ASSERT_STR_EQ(run_output(&spec, 0), "from the sandbox\n");
	/* The mount point was made inside the rootfs, never on the host. */
	ASSERT_FALSE(fx_exists("/etc/keel-mnt-test"));
	ASSERT_INT_LT(snprintf(inside, sizeof(inside), "%s/etc/keel-mnt-test", spec.rootfs),
		      (int)sizeof(inside));
	ASSERT_TRUE(fx_exists(inside));
	rmdir(inside);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/evil", spec.rootfs), (int)sizeof(path));
	unlink(path);

	/* A read-only bind is read-only. */
	const char *write_argv[] = {"sh", "-c", "echo x > /data/new || echo refused", NULL};
	struct keel_ctr_mount ro = {"data", "/data", true};
	spec.argv = write_argv;
	spec.mounts = &ro;
	ASSERT_STR_CONTAINS(run_output(&spec, 0), "refused");
	ASSERT_INT_LT(snprintf(inside, sizeof(inside), "%s/data", spec.rootfs),
		      (int)sizeof(inside));
	rmdir(inside);
	fx_cleanup();
}

TEST(rootfs_device_nodes_are_unusable)
{
	const char *argv[] = {"sh", "-c", "cat /baddev 2>&1 | head -c 200; echo; echo done", NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	char node[PATH_MAX];
	const char *out;

	fx_require_root();
	fx_open();
	spec.rootfs = fx_rootfs();
	/* A device node planted in the image (here /dev/mem's numbers): the rootfs is nodev. */
	ASSERT_INT_LT(snprintf(node, sizeof(node), "%s/baddev", spec.rootfs), (int)sizeof(node));
	unlink(node);
	ASSERT_OK(mknod(node, S_IFCHR | 0666, makedev(1, 1)));
	out = run_output(&spec, 0);
	unlink(node);
	ASSERT_STR_CONTAINS(out, "Permission denied");
	fx_cleanup();
}
