/* Container lifecycle: bad specs, exit codes, launch failures, kill, destroy, recovery. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctr_fixture.h"
#include "harness.h"
#include "runtime/alloc.h"
#include "runtime/failpoint.h"

/* Entries of dir, without . and .. and, with `but_spares`, without spare checkpoint dirs. */
static size_t count_entries_in(const char *dir, bool but_spares)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    !(but_spares && strncmp(de->d_name, ".spare-", 7) == 0))
			n++;
	}
	closedir(d);
	return n;
}

static size_t count_sandboxes(void)
{
	char path[PATH_MAX];

	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/sandboxes", fx.work_dir), (int)sizeof(path));
	return count_entries_in(path, false);
}

/*
 * Nothing of any container exists: no checkpoint, no cgroup under the
 * parent, no sandbox beyond the `sandboxes` left by destroyed containers.
 */
static void assert_nothing_created_but(size_t sandboxes)
{
	char path[PATH_MAX];

	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/containers", fx.work_dir),
		      (int)sizeof(path));
	/* Spare dirs (emptied checkpoints kept for reuse) are not containers. */
	ASSERT_UINT_EQ(count_entries_in(path, true), 0);
	ASSERT_UINT_EQ(count_sandboxes(), sandboxes);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "/sys/fs/cgroup/memory/%s", fx.cg_parent),
		      (int)sizeof(path));
	if (fx_exists(path)) {
		/* Only the cgroup files of the parent itself: no child directory. */
		DIR *d = opendir(path);
		struct dirent *de;

		ASSERT_NOT_NULL(d);
		while ((de = readdir(d)) != NULL)
			ASSERT_FALSE(de->d_type == DT_DIR && de->d_name[0] != '.');
		closedir(d);
	}
	ASSERT_UINT_EQ(keel_ctr_list(fx.ctx, NULL, 0), 0);
}

static void assert_nothing_created(void)
{
	assert_nothing_created_but(0);
}

TEST(invalid_spec_fails_before_anything_is_created)
{
	const char *argv[] = {"/bin/true", NULL};
	const char *empty_argv[] = {NULL};
	const char *bad_env[] = {"NOEQUALS", NULL};
	struct keel_ctr_mount mnt = {"/tmp", "/mnt/x", false};
	struct keel_ctr_mount dotdot_mnt = {"data", "/a/../../etc", false};
	struct {
		const char *what;	   /* row label */
		struct keel_ctr_spec spec; /* the bad spec */
		int err;		   /* expected error */
		const char *needle;	   /* expected in the message */
	} rows[] = {
	    {"negative memory", {.argv = argv, .mem_bytes = -1}, -EINVAL, "memory limit"},
	    {"tiny memory", {.argv = argv, .mem_bytes = 4096}, -EINVAL, "minimum"},
	    {"negative pids", {.argv = argv, .pids_max = -5}, -EINVAL, "pids limit"},
	    {"negative cpus", {.argv = argv, .cpus = -0.5}, -EINVAL, "cpus"},
	    {"NaN cpus", {.argv = argv, .cpus = NAN}, -EINVAL, "cpus"},
	    {"unknown user", {.argv = argv, .user = "no-such-user-keel"}, -EINVAL, "unknown user"},
	    {"unknown group",
	     {.argv = argv, .user = "nobody:no-such-group-keel"},
	     -EINVAL,
	     "unknown group"},
	    {"missing rootfs", {.argv = argv, .rootfs = "/nonexistent/rootfs"}, -ENOENT, "rootfs"},
	    {"rootfs is a file", {.argv = argv, .rootfs = "/etc/passwd"}, -ENOTDIR, "rootfs"},
	    {"relative rootfs", {.argv = argv, .rootfs = "rel/dir"}, -EINVAL, "absolute"},
	    {"dotdot rootfs", {.argv = argv, .rootfs = "/tmp/../etc"}, -EINVAL, "'..'"},
	    {"dotdot cwd", {.argv = argv, .cwd = "/a/../.."}, -EINVAL, "'..'"},
	    {"dotdot sandbox", {.argv = argv, .sandbox = "/tmp/x/../../etc"}, -EINVAL, "'..'"},
	    {"dotdot mount target",
	     {.argv = argv, .rootfs = "/", .mounts = &dotdot_mnt, .n_mounts = 1},
	     -EINVAL,
	     "'..'"},
	    {"mount without rootfs",
	     {.argv = argv, .mounts = &mnt, .n_mounts = 1},
	     -EINVAL,
	     "rootfs"},
	    {"no argv", {.argv = empty_argv}, -EINVAL, "program"},
	    {"NULL argv", {.argv = NULL}, -EINVAL, "program"},
	    {"bad id", {.argv = argv, .id = "../escape"}, -EINVAL, "id"},
	    {"bad env", {.argv = argv, .env = bad_env}, -EINVAL, "env"},
	    {"posix with rootfs",
	     {.argv = argv, .rootfs = "/", .launcher = KEEL_CTR_LAUNCHER_POSIX},
	     -EINVAL,
	     "posix"},
	    {"posix with netns",
	     {.argv = argv, .network_ns = true, .launcher = KEEL_CTR_LAUNCHER_POSIX},
	     -EINVAL,
	     "network"},
	    {"bad launcher",
	     {.argv = argv, .launcher = (enum keel_ctr_launcher)9},
	     -EINVAL,
	     "launcher"},
	    {"ambient outside permitted",
	     {.argv = argv, .caps_set = true, .caps = {.ambient = 1, .inheritable = 1}},
	     -EINVAL,
	     "ambient"},
	};
	char id[KEEL_CTR_ID_SIZE];
	size_t i;

	fx_require_root();
	fx_open();
	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		TH_CONTEXT("%s", rows[i].what);
		ASSERT_INT_EQ(keel_ctr_launch(fx.ctx, &rows[i].spec, id), rows[i].err);
		ASSERT_STR_CONTAINS(keel_ctr_errmsg(fx.ctx), rows[i].needle);
		assert_nothing_created();
	}
	/* Limits without cgroups: refused up front, not ignored. */
	fx_open_mode(KEEL_CTR_CGROUP_NONE, NULL);
	struct keel_ctr_spec s = {.argv = argv, .mem_bytes = 64 << 20};
	ASSERT_INT_EQ(keel_ctr_launch(fx.ctx, &s, id), -ENOTSUP);
	ASSERT_STR_CONTAINS(keel_ctr_errmsg(fx.ctx), "cgroups");
	assert_nothing_created();
	fx_cleanup();
}

static void check_exit(enum keel_ctr_launcher launcher, bool rootfs)
{
	const char *probe_argv[] = {fx_probe(), "exit", "7", NULL};
	const char *sh_argv[] = {"sh", "-c", "echo hello; echo oops >&2; exit 3", NULL};
	struct keel_ctr_spec spec = {.launcher = launcher};
	struct keel_ctr_status st;
	char buf[256];
	const char *id;

	spec.argv = rootfs ? sh_argv : probe_argv;
	spec.rootfs = rootfs ? fx_rootfs() : NULL;
	id = fx_launch(&spec);
	st = fx_wait(id, 20000);
	ASSERT_INT_EQ(st.state, KEEL_CTR_EXITED);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_EXITED);
	ASSERT_INT_EQ(st.exit_code, rootfs ? 3 : 7);
	ASSERT_INT_EQ(st.signal, 0);
	/* Exactly one RUNNING, then exactly one EXITED. */
	ASSERT_UINT_EQ(fx_count_events(id, KEEL_CTR_RUNNING), 1);
	ASSERT_UINT_EQ(fx_count_events(id, KEEL_CTR_EXITED), 1);
	ASSERT_INT_EQ(fx.events[0].status.state, KEEL_CTR_RUNNING);
	ASSERT_INT_GT(fx.events[0].status.task_pid, 0);
	if (rootfs) {
		ASSERT_INT_GE(fx_read_sandbox(id, "stdout", buf, sizeof(buf)), 0);
		ASSERT_STR_EQ(buf, "hello\n");
		ASSERT_INT_GE(fx_read_sandbox(id, "stderr", buf, sizeof(buf)), 0);
		ASSERT_STR_EQ(buf, "oops\n");
	}
	/* A second wait returns the same status at once. */
	st = fx_wait(id, 0);
	ASSERT_INT_EQ(st.exit_code, rootfs ? 3 : 7);
}

TEST(exit_code_and_output_linux_rootfs)
{
	fx_require_root();
	fx_open();
	check_exit(KEEL_CTR_LAUNCHER_LINUX, true);
	fx_cleanup();
}

TEST(exit_code_linux_host_fs)
{
	fx_require_root();
	fx_open();
	check_exit(KEEL_CTR_LAUNCHER_LINUX, false);
	fx_cleanup();
}

TEST(exit_code_posix)
{
	fx_open_mode(geteuid() == 0 ? KEEL_CTR_CGROUP_AUTO : KEEL_CTR_CGROUP_NONE, NULL);
	check_exit(KEEL_CTR_LAUNCHER_POSIX, false);
	fx_cleanup();
}

TEST(launch_failure_reported_with_message)
{
	const char *missing[] = {"/nonexistent/program", NULL};
	const char *missing_path[] = {"no-such-program-keel", NULL};
	struct keel_ctr_spec spec = {.argv = missing};
	struct keel_ctr_status st;
	const char *id;

	fx_require_root();
	fx_open();
	id = fx_launch(&spec);
	st = fx_wait(id, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
	ASSERT_STR_CONTAINS(st.message, "exec /nonexistent/program");
	ASSERT_STR_CONTAINS(st.message, "No such file");
	ASSERT_UINT_EQ(fx_count_events(id, KEEL_CTR_RUNNING), 0);
	ASSERT_UINT_EQ(fx_count_events(id, KEEL_CTR_EXITED), 1);

	/* Inside a rootfs, PATH lookup happens in the container. */
	spec.argv = missing_path;
	spec.rootfs = fx_rootfs();
	id = fx_launch(&spec);
	st = fx_wait(id, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
	ASSERT_STR_CONTAINS(st.message, "exec no-such-program-keel");

	/* A working directory that does not exist. */
	const char *ok[] = {"true", NULL};
	spec.argv = ok;
	spec.cwd = "/no/such/dir";
	id = fx_launch(&spec);
	st = fx_wait(id, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
	ASSERT_STR_CONTAINS(st.message, "working directory /no/such/dir");
	fx_cleanup();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool is_running(void *arg)
{
	struct keel_ctr_status st;

	return keel_ctr_status(fx.ctx, arg, &st) == 0 && st.state == KEEL_CTR_RUNNING;
}

/* Waits until the probe has printed `sleeping` (its handlers are installed by then). */
static bool probe_ready(void *arg)
{
	char buf[64];

	return fx_read_sandbox(arg, "stdout", buf, sizeof(buf)) > 0 &&
	       strstr(buf, "sleeping") != NULL;
}

TEST(kill_waits_grace_then_sigkills)
{
	const char *ignore[] = {fx_probe(), "sleep", "ignore", NULL};
	const char *polite[] = {fx_probe(), "sleep", "term-exit", "5", NULL};
	struct keel_ctr_spec spec = {.argv = ignore};
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE];
	double t0;

	fx_require_root();
	fx_open();
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(probe_ready, id, 20000));
	t0 = now_s();
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 300));
	st = fx_wait(id, 20000);
	ASSERT_TRUE(now_s() - t0 >= 0.29);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_KILLED);
	ASSERT_INT_EQ(st.signal, SIGKILL);
	/* Killing an exited container is a no-op. */
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 0));

	/* A task that handles SIGTERM exits by itself within the grace. */
	spec.argv = polite;
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(probe_ready, id, 20000));
	t0 = now_s();
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 30000));
	st = fx_wait(id, 20000);
	ASSERT_TRUE(now_s() - t0 < 10);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_KILLED);
	ASSERT_INT_EQ(st.exit_code, 5);
	fx_cleanup();
}

/* Reads the pids listed in a cgroup.procs file. */
static size_t read_pids(const char *path, pid_t *pids, size_t cap)
{
	char buf[4096], *p, *end;
	size_t n = 0;

	if (fx_read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	for (p = buf; n < cap; p = end) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		pids[n++] = (pid_t)v;
	}
	return n;
}

static bool has_four_procs(void *arg)
{
	pid_t pids[16];

	return read_pids(arg, pids, 16) >= 4;
}

static void check_kill_leaves_nothing(enum keel_ctr_launcher launcher)
{
	const char *argv[] = {fx_probe(), "sleep", "children", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .launcher = launcher};
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE], procs[PATH_MAX], dir[PATH_MAX];
	const char *ctrls[] = {"cpu", "memory", "pids", "freezer"};
	pid_t pids[16];
	size_t n, i;

	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_INT_LT(snprintf(procs, sizeof(procs), "/sys/fs/cgroup/pids/%s/%s/cgroup.procs",
			       fx.cg_parent, id),
		      (int)sizeof(procs));
	/* The probe and its three children (one per fork, each in its own session). */
	ASSERT_TRUE(fx_until(has_four_procs, procs, 20000));
	n = read_pids(procs, pids, 16);
	ASSERT_UINT_EQ(n, 4);
	ASSERT_OK(keel_ctr_kill(fx.ctx, id, 0));
	st = fx_wait(id, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_KILLED);
	for (i = 0; i < n; i++) {
		TH_CONTEXT("pid %d", (int)pids[i]);
		/* Gone, not even a zombie: the supervisor reaped everything before reporting. */
		ASSERT_INT_EQ(kill(pids[i], 0), -1);
		ASSERT_INT_EQ(errno, ESRCH);
	}
	TH_CONTEXT(NULL);
	for (i = 0; i < KEEL_ARRAY_SIZE(ctrls); i++) {
		ASSERT_INT_LT(snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s/%s/%s", ctrls[i],
				       fx.cg_parent, id),
			      (int)sizeof(dir));
		TH_CONTEXT("%s", dir);
		ASSERT_FALSE(fx_exists(dir));
	}
	TH_CONTEXT(NULL);
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	ASSERT_UINT_EQ(keel_ctr_list(fx.ctx, NULL, 0), 0);
}

TEST(kill_leaves_no_process_and_no_cgroup_linux)
{
	fx_require_cgroup_v1();
	fx_open();
	check_kill_leaves_nothing(KEEL_CTR_LAUNCHER_LINUX);
	fx_cleanup();
}

TEST(kill_leaves_no_process_and_no_cgroup_posix)
{
	fx_require_cgroup_v1();
	fx_open();
	check_kill_leaves_nothing(KEEL_CTR_LAUNCHER_POSIX);
	fx_cleanup();
}

TEST(destroy_running_container_kills_then_removes)
{
	const char *argv[] = {fx_probe(), "sleep", NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	char id[KEEL_CTR_ID_SIZE], meta[PATH_MAX], sandbox[PATH_MAX];

	fx_require_root();
	fx_open();
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_INT_LT(snprintf(sandbox, sizeof(sandbox), "%s", keel_ctr_sandbox(fx.ctx, id)),
		      (int)sizeof(sandbox));
	ASSERT_TRUE(fx_until(is_running, id, 20000));
	ASSERT_INT_LT(snprintf(meta, sizeof(meta), "%s/containers/%s", fx.work_dir, id),
		      (int)sizeof(meta));
	ASSERT_TRUE(fx_exists(meta));
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	/* Removal follows the exit event, which still goes out exactly once. */
	ASSERT_UINT_EQ(keel_ctr_list(fx.ctx, NULL, 0), 1);
	fx_wait(id, 20000);
	ASSERT_UINT_EQ(keel_ctr_list(fx.ctx, NULL, 0), 0);
	ASSERT_UINT_EQ(fx_count_events(id, KEEL_CTR_EXITED), 1);
	ASSERT_INT_EQ(fx.events[fx.n_events - 1].status.reason, KEEL_CTR_REASON_KILLED);
	ASSERT_FALSE(fx_exists(meta));
	ASSERT_TRUE(fx_exists(sandbox)); /* logs outlive the container */
	ASSERT_INT_EQ(keel_ctr_destroy(fx.ctx, id), -ENOENT);
	fx_cleanup();
}

TEST(callback_may_destroy_and_many_containers_each_exit_once)
{
	enum { N = 24 };
	char ids[N][KEEL_CTR_ID_SIZE], code[N][8];
	const char *argv[N][4];
	size_t i;

	fx_require_root();
	fx_open();
	fx.destroy_on_exit = true;
	for (i = 0; i < N; i++) {
		struct keel_ctr_spec spec = {0};

		snprintf(code[i], sizeof(code[i]), "%zu", i);
		argv[i][0] = fx_probe();
		argv[i][1] = "exit";
		argv[i][2] = code[i];
		argv[i][3] = NULL;
		spec.argv = argv[i];
		spec.launcher = i % 2 ? KEEL_CTR_LAUNCHER_POSIX : KEEL_CTR_LAUNCHER_LINUX;
		snprintf(ids[i], sizeof(ids[i]), "%s", fx_launch(&spec));
	}
	for (i = 0; i < N; i++) {
		struct keel_ctr_status st;
		int rv = keel_ctr_wait(fx.ctx, ids[i], 30000, &st);

		/* Already destroyed by the callback after its exit event: -ENOENT. */
		ASSERT_TRUE(rv == 0 || rv == -ENOENT);
	}
	ASSERT_UINT_EQ(keel_ctr_list(fx.ctx, NULL, 0), 0);
	for (i = 0; i < N; i++) {
		size_t k, seen = 0;

		TH_CONTEXT("container %zu", i);
		ASSERT_UINT_EQ(fx_count_events(ids[i], KEEL_CTR_EXITED), 1);
		for (k = 0; k < fx.n_events; k++) {
			if (strcmp(fx.events[k].id, ids[i]) == 0 &&
			    fx.events[k].status.state == KEEL_CTR_EXITED) {
				ASSERT_INT_EQ(fx.events[k].status.exit_code, (int)i);
				seen++;
			}
		}
		ASSERT_UINT_EQ(seen, 1);
	}
	fx_cleanup();
}

/* Runs in a forked "caller": opens a context, launches, reports the ID, then waits to die. */
_Noreturn static void caller_child(int report_fd, const char *probe, const char *sandbox,
				   const char *fifo, const char *cg_parent)
{
	const char *argv[] = {probe, "fifo", fifo, "7", NULL};
	struct keel_ctr_config cfg = {0};
	struct keel_ctr_spec spec = {0};
	struct keel_ctr *ctx;
	char id[KEEL_CTR_ID_SIZE] = "";
	char msg[256];

	cfg.work_dir = fx.work_dir;
	cfg.cgroup_parent = cg_parent;
	if (keel_ctr_open(&cfg, &ctx, msg) < 0)
		_exit(2);
	spec.argv = argv;
	spec.sandbox = sandbox;
	spec.id = "survivor";
	if (keel_ctr_launch(ctx, &spec, id) < 0)
		_exit(3);
	for (;;) {
		struct keel_ctr_status st;
		struct pollfd pfd = {keel_ctr_fd(ctx), POLLIN, 0};

		if (keel_ctr_status(ctx, id, &st) < 0 || st.state == KEEL_CTR_EXITED)
			_exit(5);
		if (st.state == KEEL_CTR_RUNNING)
			break;
		poll(&pfd, 1, -1);
		keel_ctr_process(ctx);
	}
	if (write(report_fd, id, sizeof(id)) != (ssize_t)sizeof(id))
		_exit(4);
	for (;;)
		pause();
}

static bool file_exists(void *arg)
{
	return fx_exists(arg);
}

/*
 * The caller is SIGKILLed while its container runs: a new caller recovers
 * the container and gets its true exit status. `exit_while_dead` makes the
 * task finish before the new caller starts.
 */
static void check_recovery(bool exit_while_dead)
{
	char sandbox[PATH_MAX], fifo[PATH_MAX], status_path[PATH_MAX], id[KEEL_CTR_ID_SIZE];
	struct keel_ctr_status st;
	const char *probe = fx_probe();
	int report[2], fd, wst;
	size_t n = 0;
	pid_t caller;

	fx_open();
	ASSERT_INT_LT(snprintf(sandbox, sizeof(sandbox), "%s/sb", fx.work_dir),
		      (int)sizeof(sandbox));
	ASSERT_OK(mkdir(sandbox, 0755));
	ASSERT_INT_LT(snprintf(fifo, sizeof(fifo), "%s/go", sandbox), (int)sizeof(fifo));
	ASSERT_OK(mkfifo(fifo, 0600));
	ASSERT_OK(pipe(report));
	caller = fork();
	ASSERT_INT_GE(caller, 0);
	if (caller == 0) {
		close(report[0]);
		/* Never returns into the harness: this process only launches and waits to die. */
		caller_child(report[1], probe, sandbox, fifo, fx.cg_parent);
	}
	close(report[1]);
	ASSERT_INT_EQ(read(report[0], id, sizeof(id)), (ssize_t)sizeof(id));
	close(report[0]);
	ASSERT_STR_EQ(id, "survivor");
	ASSERT_OK(kill(caller, SIGKILL));
	ASSERT_INT_EQ(waitpid(caller, &wst, 0), caller);
	ASSERT_TRUE(WIFSIGNALED(wst));

	ASSERT_INT_LT(
	    snprintf(status_path, sizeof(status_path), "%s/containers/%s/status", fx.work_dir, id),
	    (int)sizeof(status_path));
	if (exit_while_dead) {
		/* Let the task finish while no caller exists; its supervisor records it. */
		fd = open(fifo, O_WRONLY);
		ASSERT_INT_GE(fd, 0);
		ASSERT_INT_EQ(write(fd, "go\n", 3), 3);
		close(fd);
		ASSERT_TRUE(fx_until(file_exists, status_path, 20000));
	}
	ASSERT_OK(keel_ctr_recover(fx.ctx, &n));
	ASSERT_UINT_EQ(n, 1);
	ASSERT_OK(keel_ctr_status(fx.ctx, id, &st));
	if (!exit_while_dead) {
		ASSERT_INT_EQ(st.state, KEEL_CTR_RUNNING);
		ASSERT_INT_GT(st.supervisor_pid, 0);
		ASSERT_INT_GT(st.task_pid, 0);
		ASSERT_FALSE(fx_exists(status_path));
		/* The fd wakes the caller for the RUNNING event of the recovered container. */
		struct pollfd pfd = {keel_ctr_fd(fx.ctx), POLLIN, 0};
		ASSERT_INT_EQ(poll(&pfd, 1, 0), 1);
		ASSERT_INT_EQ(keel_ctr_process(fx.ctx), 1);
		ASSERT_UINT_EQ(fx_count_events(id, KEEL_CTR_RUNNING), 1);
		/* A second recover finds nothing new. */
		ASSERT_OK(keel_ctr_recover(fx.ctx, &n));
		ASSERT_UINT_EQ(n, 0);
		fd = open(fifo, O_WRONLY);
		ASSERT_INT_GE(fd, 0);
		ASSERT_INT_EQ(write(fd, "go\n", 3), 3);
		close(fd);
	}
	st = fx_wait(id, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_EXITED);
	ASSERT_INT_EQ(st.exit_code, 7);
	ASSERT_UINT_EQ(fx_count_events(id, KEEL_CTR_EXITED), 1);
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	fx_cleanup();
}

TEST(recover_after_caller_sigkill_gets_true_exit_status)
{
	fx_require_root();
	check_recovery(false);
}

TEST(recover_container_that_exited_while_caller_was_dead)
{
	fx_require_root();
	check_recovery(true);
}

static bool pid_gone(void *arg)
{
	return kill(*(pid_t *)arg, 0) < 0 && errno == ESRCH;
}

TEST(supervisor_killed_means_lost_and_task_dies)
{
	const char *argv[] = {fx_probe(), "sleep", NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE];
	pid_t task;

	fx_require_root();
	fx_open();
	ASSERT_INT_LT(snprintf(id, sizeof(id), "%s", fx_launch(&spec)), (int)sizeof(id));
	ASSERT_TRUE(fx_until(is_running, id, 20000));
	ASSERT_OK(keel_ctr_status(fx.ctx, id, &st));
	task = st.task_pid;
	ASSERT_OK(kill(st.supervisor_pid, SIGKILL));
	st = fx_wait(id, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LOST);
	ASSERT_STR_CONTAINS(st.message, "without recording a status");
	/* The task got its parent-death signal; nothing of the container runs. */
	ASSERT_TRUE(fx_until(pid_gone, &task, 20000));
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	fx_cleanup();
}

/*
 * A restarted caller (the context is closed): opens a new one on the same
 * work dir and recovers exactly one container, `id`, which ended lost.
 */
static struct keel_ctr_status reopen_recover_one_lost(const char *id)
{
	struct keel_ctr_config cfg = {.work_dir = fx.work_dir, .cgroup_parent = fx.cg_parent};
	struct keel_ctr_status st;
	char msg[256];
	size_t n;

	ASSERT_OK(keel_ctr_open(&cfg, &fx.ctx, msg));
	ASSERT_OK(keel_ctr_recover(fx.ctx, &n));
	ASSERT_UINT_EQ(n, 1);
	ASSERT_OK(keel_ctr_status(fx.ctx, id, &st));
	ASSERT_INT_EQ(st.state, KEEL_CTR_EXITED);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LOST);
	return st;
}

TEST(recover_reports_lost_when_supervisor_died_unwatched)
{
	const char *argv[] = {fx_probe(), "sleep", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .id = "orphan"};
	struct keel_ctr_status st;

	fx_require_root();
	fx_open();
	fx_launch(&spec);
	ASSERT_TRUE(fx_until(is_running, "orphan", 20000));
	ASSERT_OK(keel_ctr_status(fx.ctx, "orphan", &st));
	/* Forget the container (as if this caller crashed), then kill its supervisor. */
	keel_ctr_close(fx.ctx);
	fx.ctx = NULL;
	ASSERT_OK(kill(st.supervisor_pid, SIGKILL));
	/* It was our child: reap it, which also proves its lock is released. */
	ASSERT_INT_EQ(waitpid(st.supervisor_pid, NULL, 0), st.supervisor_pid);
	st = reopen_recover_one_lost("orphan");
	ASSERT_STR_CONTAINS(st.message, "supervisor died");
	ASSERT_INT_EQ(keel_ctr_process(fx.ctx), 1);
	fx_cleanup();
}

static ino_t ino_of(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/%s", dir, name), (int)sizeof(path));
	TH_CONTEXT("%s", path);
	ASSERT_OK(stat(path, &st));
	TH_CONTEXT(NULL);
	return st.st_ino;
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd;

	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/%s", dir, name), (int)sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_INT_GE(fd, 0);
	ASSERT_INT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

TEST(checkpoint_dirs_reused_and_stale_files_never_read_as_the_new_container)
{
	const char *argv[] = {fx_probe(), "exit", "3", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .id = "first"};
	struct keel_ctr_status st;
	char containers[PATH_MAX], spare[PATH_MAX], msg[256];
	ino_t ino;

	fx_require_root();
	fx_open();
	ASSERT_INT_LT(snprintf(containers, sizeof(containers), "%s/containers", fx.work_dir),
		      (int)sizeof(containers));
	fx_launch(&spec);
	st = fx_wait("first", 20000);
	ASSERT_INT_EQ(st.exit_code, 3);
	ino = ino_of(containers, "first");
	ASSERT_OK(keel_ctr_destroy(fx.ctx, "first"));
	ASSERT_INT_EQ(ino_of(containers, ".spare-first"), ino);

	/* The next launch takes the same directory; its own status comes back. */
	argv[2] = "4";
	spec.id = "second";
	fx_launch(&spec);
	ASSERT_INT_EQ(ino_of(containers, "second"), ino);
	st = fx_wait("second", 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_EXITED);
	ASSERT_INT_EQ(st.exit_code, 4);
	ASSERT_OK(keel_ctr_destroy(fx.ctx, "second"));

	/*
	 * A host crash can bring a reused dir back with its last container's
	 * files (renames and truncations not yet on disk): they name another ID,
	 * so recovery reports the container lost, never exited 4.
	 */
	ASSERT_INT_LT(snprintf(spare, sizeof(spare), "%s/.spare-second", containers),
		      (int)sizeof(spare));
	put_file(spare, "status", "version=1\nid=second\nreason=exited\nexit_code=4\n");
	ASSERT_INT_LT(snprintf(msg, sizeof(msg), "%s/third", containers), (int)sizeof(msg));
	ASSERT_OK(rename(spare, msg)); /* as if "third" had taken it, then the host crashed */
	keel_ctr_close(fx.ctx);
	fx.ctx = NULL;
	reopen_recover_one_lost("third");
	ASSERT_INT_EQ(keel_ctr_process(fx.ctx), 1); /* its EXITED event; destroy acts after it */
	ASSERT_OK(keel_ctr_destroy(fx.ctx, "third"));

	/* Its dir is a spare again; close removes the spares. */
	ASSERT_INT_EQ(ino_of(containers, ".spare-third"), ino);
	keel_ctr_close(fx.ctx);
	fx.ctx = NULL;
	ASSERT_INT_LT(snprintf(spare, sizeof(spare), "%s/.spare-third", containers),
		      (int)sizeof(spare));
	ASSERT_INT_EQ(access(spare, F_OK), -1);
	fx_cleanup();
}

#ifdef KEEL_FAILPOINTS
TEST(launch_survives_every_allocation_failure)
{
	const char *argv[] = {fx_probe(), "exit", "0", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .mem_bytes = 64 << 20, .user = "nobody"};
	char id[KEEL_CTR_ID_SIZE];
	long n, total;
	int rv;

	fx_require_cgroup_v1();
	fx_open();
	/* Count a successful launch's allocations (the seccomp cache is warm after it)... */
	ASSERT_OK(keel_ctr_launch(fx.ctx, &spec, id));
	fx_wait(id, 20000);
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	keel_alloc_fail_after(0, false);
	ASSERT_OK(keel_ctr_launch(fx.ctx, &spec, id));
	total = keel_alloc_fail_after(0, false);
	fx_wait(id, 20000);
	ASSERT_OK(keel_ctr_destroy(fx.ctx, id));
	ASSERT_INT_GT(total, 0);
	/* ...then fail each one: -ENOMEM and nothing left behind. */
	for (n = 1; n <= total; n++) {
		TH_CONTEXT("allocation %ld of %ld", n, total);
		keel_alloc_fail_after(n, false);
		rv = keel_ctr_launch(fx.ctx, &spec, id);
		keel_alloc_fail_after(0, false);
		ASSERT_INT_EQ(rv, -ENOMEM);
		assert_nothing_created_but(2);
	}
	/* A context's first launch allocates more (its spawn stack, the seccomp cache). */
	fx_open();
	keel_alloc_fail_after(0, false);
	ASSERT_OK(keel_ctr_launch(fx.ctx, &spec, id));
	total = keel_alloc_fail_after(0, false);
	fx_wait(id, 20000);
	for (n = 1; n <= total; n++) {
		TH_CONTEXT("first launch, allocation %ld of %ld", n, total);
		fx_open();
		keel_alloc_fail_after(n, false);
		rv = keel_ctr_launch(fx.ctx, &spec, id);
		keel_alloc_fail_after(0, false);
		ASSERT_INT_EQ(rv, -ENOMEM);
		assert_nothing_created();
	}
	TH_CONTEXT(NULL);
	fx_cleanup();
}

TEST(failpoints_in_launch_supervisor_and_task)
{
	const char *argv[] = {fx_probe(), "exit", "0", NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE];
	const char *lid;

	fx_require_root();
	fx_open();
	/*
	 * Caller side, after the directories exist: the plan's memfd, the start,
	 * the supervisor's exec, watching it (then it is killed through the pidfd
	 * of its clone, and its cgroups removed). Undone, error returned, no
	 * callback.
	 */
	static const struct {
		const char *name; /* failpoint */
		int want;	  /* launch result */
	} caller_fps[] = {{"ctr_launch_plan", -EIO},
			  {"ctr_launch_spawn", -EIO},
			  {"ctr_spawn_exec", -EBADF},
			  {"ctr_launch_watch", -EIO}};
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(caller_fps); i++) {
		TH_CONTEXT("%s", caller_fps[i].name);
		keel_failpoint_set(caller_fps[i].name, 1, -EIO, 0);
		ASSERT_INT_EQ(keel_ctr_launch(fx.ctx, &spec, id), caller_fps[i].want);
		keel_failpoint_clear();
		ASSERT_STR_CONTAINS(keel_ctr_errmsg(fx.ctx),
				    caller_fps[i].want == -EBADF ? "execveat" : "");
		assert_nothing_created();
		ASSERT_UINT_EQ(fx.n_events, 0);
	}
	TH_CONTEXT(NULL);
	/* Its processes are gone too: nothing of ours left to reap. */
	ASSERT_INT_EQ(waitpid(-1, NULL, WNOHANG), -1);
	ASSERT_INT_EQ(errno, ECHILD);

	/*
	 * The supervisor is a program of its own: its failpoints (and its task's,
	 * which shares its memory until the exec) are armed through the
	 * environment it inherits. In the task: a launch failure.
	 */
	setenv("KEEL_FAILPOINTS", "ctr_task_setup=1:EIO", 1);
	lid = fx_launch(&spec);
	unsetenv("KEEL_FAILPOINTS");
	st = fx_wait(lid, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
	ASSERT_STR_CONTAINS(st.message, "ctr_task_setup");

	/* A plan the supervisor cannot read: it exits at once, the container is lost. */
	setenv("KEEL_FAILPOINTS", "ctr_sup_plan=1:EIO", 1);
	lid = fx_launch(&spec);
	unsetenv("KEEL_FAILPOINTS");
	st = fx_wait(lid, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LOST);

	/* In the supervisor before it records the status: the container is reported lost. */
	setenv("KEEL_FAILPOINTS", "ctr_sup_before_status=1:EIO", 1);
	lid = fx_launch(&spec);
	unsetenv("KEEL_FAILPOINTS");
	st = fx_wait(lid, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LOST);

	/* The state checkpoint cannot be written: launch failure, reported. */
	setenv("KEEL_FAILPOINTS", "ctr_ckpt_write=1:ENOSPC", 1);
	lid = fx_launch(&spec);
	unsetenv("KEEL_FAILPOINTS");
	st = fx_wait(lid, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LAUNCH_FAILED);
	ASSERT_STR_CONTAINS(st.message, "state checkpoint");
	fx_cleanup();
}

/* Pid of a process whose command line contains `marker`, or 0. */
static pid_t find_process(const char *marker)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	ASSERT_NOT_NULL(d);
	while (found == 0 && (de = readdir(d)) != NULL) {
		char path[300], buf[4096];
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; i < n; i++)
			buf[i] = buf[i] == '\0' ? ' ' : buf[i];
		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, marker) != NULL)
			found = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return found;
}

static bool path_exists(void *path)
{
	return fx_exists(path);
}

static bool no_process(void *marker)
{
	return find_process(marker) == 0;
}

TEST(task_never_outlives_a_supervisor_that_dies_during_its_setup)
{
	char marker[64], path[PATH_MAX];
	const char *argv[] = {"/bin/sh", "-c", "touch /mnt/mesos/sandbox/ran; sleep 100", marker,
			      NULL};
	struct keel_ctr_spec spec = {.argv = argv};
	struct keel_ctr_status st;
	const char *lid;
	pid_t orphan;

	fx_require_root();
	spec.rootfs = fx_rootfs();
	/* No cgroups: nothing but the task's own parent-death guard could stop an orphan. */
	fx_open_mode(KEEL_CTR_CGROUP_NONE, NULL);
	snprintf(marker, sizeof(marker), "keel-orphan-probe-%d", (int)getpid());
	/* The task pauses right after its clone (until its supervisor dies): kill it then. */
	setenv("KEEL_FAILPOINTS", "ctr_task_pause=1:EIO", 1);
	lid = fx_launch(&spec);
	unsetenv("KEEL_FAILPOINTS");
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/in-setup", keel_ctr_sandbox(fx.ctx, lid)),
		      (int)sizeof(path));
	ASSERT_TRUE(fx_until(path_exists, path, 10000));
	ASSERT_OK(keel_ctr_status(fx.ctx, lid, &st));
	ASSERT_INT_GT(st.supervisor_pid, 0);
	ASSERT_OK(kill(st.supervisor_pid, SIGKILL));
	st = fx_wait(lid, 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_LOST);
	/* The program never ran, and nothing of the container is left. */
	bool gone = fx_until(no_process, marker, 5000);
	orphan = find_process(marker);
	if (orphan > 0)
		kill(orphan, SIGKILL);
	ASSERT_TRUE(gone);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/ran", keel_ctr_sandbox(fx.ctx, lid)),
		      (int)sizeof(path));
	ASSERT_FALSE(fx_exists(path));
	fx_cleanup();
}

TEST(kill_during_setup_never_starts_the_program)
{
	/* The program would leave a mark in the sandbox; a kill before its start must prevent it.
	 */
	const char *argv[] = {"/bin/sh", "-c", "touch /mnt/mesos/sandbox/ran; sleep 100", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .kill_grace_ms = 30000};
	struct keel_ctr_status st;
	struct timespec t0, t1;
	char path[PATH_MAX];
	const char *lid;

	fx_require_cgroup_v1();
	spec.rootfs = fx_rootfs();
	spec.mem_bytes = 64 << 20;
	fx_open();
	/* A kill request lands while the supervisor sets up (the hook raises SIGTERM there). */
	setenv("KEEL_FAILPOINTS", "ctr_sup_kill_before_task=1:EIO", 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	lid = fx_launch(&spec);
	unsetenv("KEEL_FAILPOINTS");
	st = fx_wait(lid, 20000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_KILLED);
	ASSERT_STR_CONTAINS(st.message, "before the task started");
	ASSERT_INT_EQ(st.exit_code, -1);
	ASSERT_INT_EQ(st.signal, 0);
	/* No grace period was waited for, nothing ran, and nothing is left in the cgroups. */
	ASSERT_INT_LT(t1.tv_sec - t0.tv_sec, 10);
	ASSERT_UINT_EQ(fx_count_events(lid, KEEL_CTR_RUNNING), 0);
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/ran", keel_ctr_sandbox(fx.ctx, lid)),
		      (int)sizeof(path));
	ASSERT_FALSE(fx_exists(path));
	ASSERT_OK(keel_ctr_destroy(fx.ctx, lid));
	assert_nothing_created_but(1);
	fx_cleanup();
}

TEST(recovered_before_its_exec_then_seen_running_from_the_state_log)
{
	const char *argv[] = {"/bin/sh", "-c", "sleep 30", NULL};
	struct keel_ctr_spec spec = {.argv = argv, .id = "paused"};
	struct keel_ctr_config cfg;
	struct keel_ctr_status st;
	char path[PATH_MAX], msg[KEEL_ERRMSG_SIZE] = "";
	size_t n;
	pid_t sup;
	int fd;

	fx_require_cgroup_v1();
	spec.rootfs = fx_rootfs();
	fx_open();
	setenv("KEEL_FAILPOINTS", "ctr_task_pause=1:EIO", 1);
	fx_launch(&spec);
	unsetenv("KEEL_FAILPOINTS");
	ASSERT_INT_LT(
	    snprintf(path, sizeof(path), "%s/in-setup", keel_ctr_sandbox(fx.ctx, "paused")),
	    (int)sizeof(path));
	ASSERT_TRUE(fx_until(path_exists, path, 10000));
	ASSERT_OK(keel_ctr_status(fx.ctx, "paused", &st));
	sup = st.supervisor_pid;
	/* The caller goes away while the task sets up; a new one recovers it, not yet running. */
	keel_ctr_close(fx.ctx);
	memset(&cfg, 0, sizeof(cfg));
	cfg.work_dir = fx.work_dir;
	cfg.cgroup_parent = fx.cg_parent;
	fx.ctx = NULL;
	ASSERT_OK(keel_ctr_open(&cfg, &fx.ctx, msg));
	ASSERT_OK(keel_ctr_recover(fx.ctx, &n));
	ASSERT_UINT_EQ(n, 1);
	ASSERT_OK(keel_ctr_status(fx.ctx, "paused", &st));
	ASSERT_INT_EQ(st.state, KEEL_CTR_STARTING);
	ASSERT_INT_EQ(st.task_pid, 0);
	/* Let it go: the record appended to its state log says it runs (inotify). */
	ASSERT_INT_LT(snprintf(path, sizeof(path), "%s/go", keel_ctr_sandbox(fx.ctx, "paused")),
		      (int)sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_INT_GE(fd, 0);
	close(fd);
	ASSERT_TRUE(fx_until(is_running, (void *)"paused", 10000));
	ASSERT_OK(keel_ctr_status(fx.ctx, "paused", &st));
	ASSERT_INT_GT(st.task_pid, 0);
	ASSERT_OK(keel_ctr_kill(fx.ctx, "paused", 0));
	st = fx_wait("paused", 20000);
	ASSERT_INT_EQ(st.reason, KEEL_CTR_REASON_KILLED);
	ASSERT_INT_EQ(waitpid(sup, NULL, 0), sup); /* the first context's child */
	fx_cleanup();
}
#endif
