/* Container suite fixture: busybox rootfs, private work dirs, cgroup parents, event log. */
#include "ctr_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include "ctr_path.h"
#include "harness.h"

struct fx fx;

static char fx_rootfs_dir[256];
static unsigned fx_case_no;

static const char *const v1_ctrls[] = {"cpu", "cpuacct", "memory", "pids", "freezer"};

void fx_require_root(void)
{
	if (geteuid() != 0)
		TH_SKIP("needs root (namespaces, cgroups, setuid)");
}

void fx_require_cgroup_v1(void)
{
	static const char *const need[] = {"memory", "cpu", "pids"};
	size_t i;

	fx_require_root();
	for (i = 0; i < KEEL_ARRAY_SIZE(need); i++) {
		char path[64];
		struct statfs s;

		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", need[i]);
		if (statfs(path, &s) < 0 || s.f_type != CGROUP_SUPER_MAGIC)
			TH_SKIP("needs cgroup v1 memory, cpu and pids controllers");
	}
}

static char fx_probe_dir[64];
static char fx_probe_path[96];

static void copy_file(const char *from, const char *to, mode_t mode);

static void probe_remove(void)
{
	if (fx_probe_dir[0] != '\0')
		ctr_remove_tree_at(AT_FDCWD, fx_probe_dir);
	fx_probe_dir[0] = '\0';
}

/* The probe, copied to a 0755 directory of its own: tasks run as other users must reach it
 * whatever the mode of the checkout (a clone under mktemp -d is 0700). */
const char *fx_probe(void)
{
	const char *p = getenv("KEEL_CTR_PROBE");

	if (p == NULL || access(p, X_OK) < 0)
		TH_SKIP("KEEL_CTR_PROBE is not set (run through meson test)");
	if (fx_probe_path[0] != '\0')
		return fx_probe_path;
	snprintf(fx_probe_dir, sizeof(fx_probe_dir), "/tmp/keel-probe-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(fx_probe_dir));
	atexit(probe_remove);
	ASSERT_OK(chmod(fx_probe_dir, 0755));
	snprintf(fx_probe_path, sizeof(fx_probe_path), "%s/ctr_probe", fx_probe_dir);
	copy_file(p, fx_probe_path, 0755);
	return fx_probe_path;
}

const char *fx_cli(void)
{
	const char *p = getenv("KEEL_CTR_CLI");

	if (p == NULL || access(p, X_OK) < 0)
		TH_SKIP("KEEL_CTR_CLI is not set (run through meson test)");
	return p;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

	ASSERT_TRUE(n > 0 && (size_t)n < sizeof(path));
	f = fopen(path, "w");
	ASSERT_NOT_NULL(f);
	fputs(text, f);
	fclose(f);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	ASSERT_INT_GE(in, 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ASSERT_INT_GE(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ASSERT_INT_EQ(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void rootfs_remove(void)
{
	fx_cleanup();
	if (fx_rootfs_dir[0] != '\0') {
		ctr_remove_tree_at(AT_FDCWD, fx_rootfs_dir);
		fx_rootfs_dir[0] = '\0';
	}
}

const char *fx_rootfs(void)
{
	static const char *const dirs[] = {"bin", "etc", "proc", "sys",	 "dev",
					   "tmp", "mnt", "root", "home", "var"};
	static const char *const applets[] = {
	    "sh",    "cat",  "ls",	 "echo",     "sleep", "id",  "true", "false", "mkdir",
	    "touch", "head", "grep",	 "hostname", "wc",    "ps",  "dd",   "mount", "test",
	    "kill",  "env",  "readlink", "stat",     "rm",    "pwd", "tr",   "cut",   "tail"};
	char path[PATH_MAX];
	size_t i;

	if (fx_rootfs_dir[0] != '\0')
		return fx_rootfs_dir;
	if (access("/bin/busybox", X_OK) < 0)
		TH_SKIP("needs /bin/busybox (apt-get install busybox-static)");
	snprintf(fx_rootfs_dir, sizeof(fx_rootfs_dir), "/tmp/keel-rootfs-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(fx_rootfs_dir));
	atexit(rootfs_remove);
	ASSERT_OK(chmod(fx_rootfs_dir, 0755));
	for (i = 0; i < KEEL_ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx_rootfs_dir, dirs[i]);
		ASSERT_OK(mkdir(path, strcmp(dirs[i], "tmp") == 0 ? 01777 : 0755));
	}
	snprintf(path, sizeof(path), "%s/bin/busybox", fx_rootfs_dir);
	copy_file("/bin/busybox", path, 0755);
	for (i = 0; i < KEEL_ARRAY_SIZE(applets); i++) {
		snprintf(path, sizeof(path), "%s/bin/%s", fx_rootfs_dir, applets[i]);
		ASSERT_OK(symlink("busybox", path));
	}
	snprintf(path, sizeof(path), "%s/etc", fx_rootfs_dir);
	write_file(path, "passwd",
		   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
	write_file(path, "group", "root:x:0:\nnogroup:x:65534:\n");
	return fx_rootfs_dir;
}

static void fx_on_event(void *data, const char *id, const struct keel_ctr_status *st)
{
	(void)data;
	if (fx.n_events < FX_MAX_EVENTS) {
		snprintf(fx.events[fx.n_events].id, KEEL_CTR_ID_SIZE, "%s", id);
		fx.events[fx.n_events].status = *st;
		fx.n_events++;
	}
	if (fx.destroy_on_exit && st->state == KEEL_CTR_EXITED)
		keel_ctr_destroy(fx.ctx, id);
}

static void remove_cg_parents(void)
{
	char path[PATH_MAX];
	size_t i;

	if (fx.cg_parent[0] == '\0')
		return;
	for (i = 0; i < KEEL_ARRAY_SIZE(v1_ctrls); i++) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/%s", v1_ctrls[i], fx.cg_parent);
		rmdir(path);
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/keel", v1_ctrls[i]);
		rmdir(path); /* fails while other users of keel/ exist: fine */
	}
}

void fx_cleanup(void)
{
	char ids[64][KEEL_CTR_ID_SIZE];
	size_t n, i;

	if (fx.ctx != NULL) {
		fx.destroy_on_exit = false;
		/* Containers another process launched here (the CLI) are cleaned up too. */
		keel_ctr_recover(fx.ctx, NULL);
		n = keel_ctr_list(fx.ctx, ids, 64);
		for (i = 0; i < n && i < 64; i++) {
			struct keel_ctr_status st;

			keel_ctr_kill(fx.ctx, ids[i], 0);
			keel_ctr_wait(fx.ctx, ids[i], 20000, &st);
			keel_ctr_destroy(fx.ctx, ids[i]);
		}
		keel_ctr_close(fx.ctx);
		fx.ctx = NULL;
	}
	remove_cg_parents();
	if (fx.work_dir[0] != '\0')
		ctr_remove_tree_at(AT_FDCWD, fx.work_dir);
	memset(&fx, 0, sizeof(fx));
}

static void fx_atexit(void)
{
	fx_cleanup();
}

static struct keel_ctr *fx_open_full(enum keel_ctr_cgroup_mode mode, const char *cgroup_root,
				     bool image_copy)
{
	static bool registered;
	struct keel_ctr_config cfg;
	char msg[KEEL_ERRMSG_SIZE] = "";
	int rv;

	if (!registered) {
		atexit(fx_atexit);
		registered = true;
	}
	fx_cleanup();
	snprintf(fx.work_dir, sizeof(fx.work_dir), "/tmp/keel-ctr-test-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(fx.work_dir));
	ASSERT_OK(chmod(fx.work_dir, 0755));
	snprintf(fx.cg_parent, sizeof(fx.cg_parent), "keel/t%dx%u", (int)getpid(), ++fx_case_no);
	memset(&cfg, 0, sizeof(cfg));
	cfg.work_dir = fx.work_dir;
	cfg.cgroup_mode = mode;
	cfg.cgroup_root = cgroup_root;
	cfg.cgroup_parent = fx.cg_parent;
	cfg.image_copy = image_copy;
	cfg.on_event = fx_on_event;
	rv = keel_ctr_open(&cfg, &fx.ctx, msg);
	TH_CONTEXT("open: %s", msg);
	ASSERT_OK(rv);
	TH_CONTEXT(NULL);
	return fx.ctx;
}

struct keel_ctr *fx_open_mode(enum keel_ctr_cgroup_mode mode, const char *cgroup_root)
{
	return fx_open_full(mode, cgroup_root, false);
}

struct keel_ctr *fx_open(void)
{
	return fx_open_full(KEEL_CTR_CGROUP_AUTO, NULL, false);
}

struct keel_ctr *fx_open_image_mode(bool copy)
{
	return fx_open_full(KEEL_CTR_CGROUP_AUTO, NULL, copy);
}

const char *fx_launch(const struct keel_ctr_spec *spec)
{
	static char id[KEEL_CTR_ID_SIZE];
	int rv = keel_ctr_launch(fx.ctx, spec, id);

	TH_CONTEXT("launch: %s", keel_ctr_errmsg(fx.ctx));
	ASSERT_OK(rv);
	TH_CONTEXT(NULL);
	return id;
}

struct keel_ctr_status fx_wait(const char *id, int timeout_ms)
{
	struct keel_ctr_status st;
	int rv = keel_ctr_wait(fx.ctx, id, timeout_ms, &st);

	TH_CONTEXT("wait: %s", keel_ctr_errmsg(fx.ctx));
	ASSERT_OK(rv);
	TH_CONTEXT(NULL);
	return st;
}

int fx_read_file(const char *path, char *buf, size_t n)
{
	size_t off = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (off + 1 < n && (r = read(fd, buf + off, n - 1 - off)) > 0)
		off += (size_t)r;
	close(fd);
	buf[off] = '\0';
	return (int)off;
}

int fx_read_sandbox(const char *id, const char *name, char *buf, size_t n)
{
	char path[PATH_MAX];
	const char *sb = keel_ctr_sandbox(fx.ctx, id);

	if (sb == NULL)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/%s", sb, name);
	return fx_read_file(path, buf, n);
}

size_t fx_count_events(const char *id, enum keel_ctr_state state)
{
	size_t i, n = 0;

	for (i = 0; i < fx.n_events; i++) {
		if (strcmp(fx.events[i].id, id) == 0 && fx.events[i].status.state == state)
			n++;
	}
	return n;
}

bool fx_until(bool (*pred)(void *), void *arg, int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = {keel_ctr_fd(fx.ctx), POLLIN, 0};
		long spent;

		if (pred(arg))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		spent =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			return pred(arg);
		/* Wake on container events, or every 5 ms to re-check conditions outside them. */
		poll(&pfd, 1, 5);
		keel_ctr_process(fx.ctx);
	}
}

static const char *status_value(const char *dump, const char *key)
{
	size_t klen = strlen(key);
	const char *p = dump;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return p + klen + 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

long long fx_status_hex(const char *dump, const char *key)
{
	const char *v = status_value(dump, key);

	return v ? strtoll(v, NULL, 16) : -1;
}

long long fx_status_dec(const char *dump, const char *key)
{
	const char *v = status_value(dump, key);

	return v ? strtoll(v, NULL, 10) : -1;
}

bool fx_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}
