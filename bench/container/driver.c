/* bench/container driver: launch-to-exec latency and launch throughput of keel, runc/crun, fork. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containerizer/containerizer.h"
#include "runtime/flags.h"

/* What the driver was asked to do; filled from the flags. */
struct bench {
	int mode;		/* MODE_* */
	int measure;		/* MEASURE_* */
	char *rootfs;		/* busybox rootfs with /bin/stamp and /bin/true */
	char *work_dir;		/* keel: the context's work dir */
	char *cg_parent;	/* keel: cgroup parent ("keel/bench-...") */
	char *runtime;		/* runc/crun binary */
	char *runtime_root;	/* --root of the runtime (its state dir) */
	char *bundles;		/* dir holding one OCI bundle per parallel slot: b0, b1, ... */
	int64_t n;		/* launches to measure */
	int64_t parallel;	/* launches in flight (throughput) */
	int64_t warmup;		/* launches before measuring */
	uint64_t rss;		/* bytes of memory to touch in the caller before measuring */
	double cpus;		/* keel: CPU limit (the bundles carry their own) */
	uint64_t mem;		/* keel: memory limit */
	bool cgroups;		/* keel: use cgroups (off: to see what they cost) */
	struct keel_ctr *ctx;	/* keel: the context */
	int64_t in_flight;	/* keel throughput: containers not yet exited */
	int64_t done;		/* keel throughput: containers exited */
	int failures;		/* launches that did not exit 0 */
	char fail_msg[256];	/* the first failure */
	pid_t *slot_pid;	/* runtime throughput: child per slot, 0 = free */
	int64_t launch_counter; /* names runtime containers uniquely */
};

enum { MODE_KEEL, MODE_FORK, MODE_RUNTIME, MODE_SPAWN };
enum { MEASURE_LATENCY, MEASURE_THROUGHPUT };

static const char *const mode_names[] = {"keel", "fork", "runtime", "spawn", NULL};
static const char *const measure_names[] = {"latency", "throughput", NULL};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void note_failure(struct bench *b, const char *who, const char *what, int code)
{
	if (b->failures++ == 0)
		snprintf(b->fail_msg, sizeof(b->fail_msg), "%s: a launch ended with %s (%d)", who,
			 what, code);
}

/* Parses the decimal CLOCK_MONOTONIC nanoseconds the stamp program printed. */
static int parse_stamp(const char *buf, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (end == buf || errno != 0)
		return -EINVAL;
	return 0;
}

/* ---- keel ---- */

static void keel_on_event(void *data, const char *id, const struct keel_ctr_status *st)
{
	struct bench *b = data;

	if (st->state != KEEL_CTR_EXITED)
		return;
	if (st->reason != KEEL_CTR_REASON_EXITED || st->exit_code != 0)
		note_failure(b, "keel", keel_ctr_reason_name(st->reason), st->exit_code);
	if (b->measure == MEASURE_THROUGHPUT) {
		b->in_flight--;
		b->done++;
		keel_ctr_destroy(b->ctx, id);
	}
}

static int keel_open(struct bench *b)
{
	struct keel_ctr_config cfg = {0};
	char msg[KEEL_ERRMSG_SIZE] = "";
	int rv;

	cfg.work_dir = b->work_dir;
	cfg.cgroup_parent = b->cg_parent;
	cfg.cgroup_mode = b->cgroups ? KEEL_CTR_CGROUP_AUTO : KEEL_CTR_CGROUP_NONE;
	cfg.on_event = keel_on_event;
	cfg.event_data = b;
	rv = keel_ctr_open(&cfg, &b->ctx, msg);
	if (rv < 0)
		fprintf(stderr, "keel-ctr-bench: open: %s\n", msg);
	return rv;
}

static int keel_launch(struct bench *b, const char *prog, char id[KEEL_CTR_ID_SIZE])
{
	const char *argv[] = {prog, NULL};
	struct keel_ctr_spec spec = {0};
	int rv;

	spec.argv = argv;
	spec.rootfs = b->rootfs;
	spec.cpus = b->cgroups ? b->cpus : 0;
	spec.mem_bytes = b->cgroups ? (int64_t)b->mem : 0;
	rv = keel_ctr_launch(b->ctx, &spec, id);
	if (rv < 0)
		fprintf(stderr, "keel-ctr-bench: launch: %s\n", keel_ctr_errmsg(b->ctx));
	return rv;
}

/* One launch-to-exec sample: launch /bin/stamp, wait, read its stamp, destroy. */
static int keel_latency_one(struct bench *b, uint64_t *lat)
{
	char id[KEEL_CTR_ID_SIZE], path[PATH_MAX], buf[64] = "";
	struct keel_ctr_status st;
	uint64_t t0, stamp = 0;
	ssize_t n = -1;
	int fd, rv;

	t0 = now_ns();
	rv = keel_launch(b, "/bin/stamp", id);
	if (rv < 0)
		return rv;
	rv = keel_ctr_wait(b->ctx, id, 30000, &st);
	if (rv < 0) {
		fprintf(stderr, "keel-ctr-bench: wait: %s\n", keel_ctr_errmsg(b->ctx));
		return rv;
	}
	snprintf(path, sizeof(path), "%s/stdout", keel_ctr_sandbox(b->ctx, id));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	rv = keel_ctr_destroy(b->ctx, id);
	if (rv == 0) {
		/* The sandbox is the caller's: remove it so the work dir does not grow. */
		unlink(path);
		path[strlen(path) - strlen("/stdout")] = '\0';
		char errp[PATH_MAX + 8];
		snprintf(errp, sizeof(errp), "%s/stderr", path);
		unlink(errp);
		rmdir(path);
	}
	if (parse_stamp(buf, &stamp) < 0 || stamp < t0) {
		fprintf(stderr, "keel-ctr-bench: no stamp from the container (%s: %s)\n",
			keel_ctr_reason_name(st.reason), st.message);
		return -EIO;
	}
	*lat = stamp - t0;
	return 0;
}

static int keel_throughput(struct bench *b, int64_t count)
{
	int64_t launched = 0;
	char id[KEEL_CTR_ID_SIZE];

	b->done = 0;
	b->in_flight = 0;
	while (b->done < count) {
		while (launched < count && b->in_flight < b->parallel) {
			if (keel_launch(b, "/bin/true", id) < 0)
				return -1;
			launched++;
			b->in_flight++;
		}
		struct pollfd pfd = {keel_ctr_fd(b->ctx), POLLIN, 0};
		if (poll(&pfd, 1, 30000) <= 0) {
			fprintf(stderr, "keel-ctr-bench: no container event for 30 s\n");
			return -1;
		}
		if (keel_ctr_process(b->ctx) < 0)
			return -1;
	}
	return 0;
}

/* Removes what the throughput runs left in the sandboxes dir. */
static void keel_clean_sandboxes(const struct bench *b)
{
	char cmd[PATH_MAX + 64];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/sandboxes'", b->work_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "keel-ctr-bench: could not clean %s/sandboxes\n", b->work_dir);
}

/* ---- fork+exec and OCI runtimes ---- */

/* posix_spawn (glibc: a vfork-style clone, no page table copied) of argv, stdout on out_fd. */
static pid_t spawn_posix(char *const argv[], int out_fd)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rv;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rv = posix_spawn(&pid, argv[0], &fa, NULL, argv, NULL);
	posix_spawn_file_actions_destroy(&fa);
	if (rv != 0) {
		errno = rv;
		return -1;
	}
	return pid;
}

/*
 * Starts argv with stdout on out_fd (or /dev/null when < 0); returns the pid.
 * fork() as a plain caller would, or posix_spawn in spawn mode.
 */
static pid_t spawn(const struct bench *b, char *const argv[], int out_fd)
{
	if (b->mode == MODE_SPAWN)
		return spawn_posix(argv, out_fd);
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		if (out_fd < 0 && getenv("KEEL_BENCH_VERBOSE") == NULL)
			dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/*
 * The argv of one launch in fork or spawn mode (`prog` inside the rootfs, run on the
 * host) or runtime mode (bundle b<bundle>, whose config.json names the program).
 */
static void child_argv(struct bench *b, const char *prog, int64_t bundle, char *bufs[2],
		       char *argv[16])
{
	int i = 0;

	if (b->mode == MODE_FORK || b->mode == MODE_SPAWN) {
		snprintf(bufs[0], PATH_MAX, "%s%s", b->rootfs, prog);
		argv[i++] = bufs[0];
	} else {
		snprintf(bufs[0], PATH_MAX, "%s/b%" PRId64, b->bundles, bundle);
		snprintf(bufs[1], PATH_MAX, "k%d-%" PRId64, (int)getpid(), b->launch_counter++);
		argv[i++] = b->runtime;
		argv[i++] = (char *)"--root";
		argv[i++] = b->runtime_root;
		argv[i++] = (char *)"run";
		argv[i++] = (char *)"--bundle";
		argv[i++] = bufs[0];
		argv[i++] = bufs[1];
	}
	argv[i] = NULL;
}

static int check_exit(struct bench *b, int status)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		note_failure(b, b->mode == MODE_RUNTIME ? b->runtime : mode_names[b->mode],
			     "wait status", status);
		return -1;
	}
	return 0;
}

static int proc_latency_one(struct bench *b, uint64_t *lat)
{
	char s0[PATH_MAX], s1[PATH_MAX], *bufs[2] = {s0, s1}, *argv[16], buf[64];
	uint64_t t0, stamp = 0;
	size_t off = 0;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	/* The bundle's process runs /bin/stamp: its args are fixed in config.json. */
	child_argv(b, "/bin/stamp", 0, bufs, argv);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	t0 = now_ns();
	pid = spawn(b, argv, p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -errno;
	}
	while (off + 1 < sizeof(buf) && (n = read(p[0], buf + off, sizeof(buf) - 1 - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0 || check_exit(b, status) < 0 ||
	    parse_stamp(buf, &stamp) < 0 || stamp < t0) {
		fprintf(stderr, "keel-ctr-bench: no stamp from %s (status %d, output '%s')\n",
			argv[0], status, buf);
		return -EIO;
	}
	*lat = stamp - t0;
	return 0;
}

static int proc_throughput(struct bench *b, int64_t count)
{
	char s0[PATH_MAX], s1[PATH_MAX], *bufs[2] = {s0, s1}, *argv[16];
	int64_t launched = 0, done = 0, in_flight = 0, slot;
	int status;

	for (slot = 0; slot < b->parallel; slot++)
		b->slot_pid[slot] = 0;
	while (done < count) {
		for (slot = 0; slot < b->parallel && launched < count; slot++) {
			if (b->slot_pid[slot] != 0)
				continue;
			/* Bundles b1..bP run /bin/true (b0 runs /bin/stamp). */
			child_argv(b, "/bin/true", slot + 1, bufs, argv);
			b->slot_pid[slot] = spawn(b, argv, -1);
			if (b->slot_pid[slot] < 0)
				return -1;
			launched++;
			in_flight++;
		}
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0)
			return -1;
		for (slot = 0; slot < b->parallel; slot++) {
			if (b->slot_pid[slot] == pid)
				b->slot_pid[slot] = 0;
		}
		in_flight--;
		done++;
		check_exit(b, status);
	}
	return in_flight == 0 ? 0 : -1;
}

/* ---- measuring ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static uint64_t percentile(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static int run_latency(struct bench *b)
{
	uint64_t *lat = calloc((size_t)b->n, sizeof(uint64_t)), sink;
	int64_t i;
	int rv = 0;

	if (lat == NULL)
		return -ENOMEM;
	for (i = 0; rv == 0 && i < b->warmup; i++)
		rv = b->mode == MODE_KEEL ? keel_latency_one(b, &sink) : proc_latency_one(b, &sink);
	for (i = 0; rv == 0 && i < b->n; i++)
		rv = b->mode == MODE_KEEL ? keel_latency_one(b, &lat[i])
					  : proc_latency_one(b, &lat[i]);
	if (rv == 0) {
		qsort(lat, (size_t)b->n, sizeof(uint64_t), cmp_u64);
		/* One line for run.sh: p50 and p99 in microseconds. */
		printf("%.1f %.1f\n", (double)percentile(lat, (size_t)b->n, 0.50) / 1000.0,
		       (double)percentile(lat, (size_t)b->n, 0.99) / 1000.0);
	}
	free(lat);
	return rv;
}

/* CPU time (user + system) of this process and of every descendant it has reaped, in us. */
static double cpu_us(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			kids.ru_stime.tv_sec) *
		   1e6 +
	       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
			kids.ru_stime.tv_usec);
}

static int run_throughput(struct bench *b)
{
	uint64_t t0, t1;
	double c0, c1;
	int rv;

	b->slot_pid = calloc((size_t)b->parallel, sizeof(pid_t));
	if (b->slot_pid == NULL)
		return -ENOMEM;
	rv = b->mode == MODE_KEEL ? keel_throughput(b, b->warmup) : proc_throughput(b, b->warmup);
	t0 = now_ns();
	c0 = cpu_us();
	if (rv == 0)
		rv = b->mode == MODE_KEEL ? keel_throughput(b, b->n) : proc_throughput(b, b->n);
	t1 = now_ns();
	c1 = cpu_us();
	/* One line for run.sh: launches/s, and CPU time per launch in us (all processes reaped). */
	if (rv == 0)
		printf("%.1f %.0f\n", (double)b->n * 1e9 / (double)(t1 - t0),
		       (c1 - c0) / (double)b->n);
	free(b->slot_pid);
	return rv;
}

int main(int argc, char **argv)
{
	struct bench b = {0};
	const struct keel_flag table[] = {
	    {"mode", KEEL_FLAG_ENUM, &b.mode, "keel",
	     "What launches: keel, fork (fork+exec), spawn (posix_spawn), or runtime (--runtime "
	     "run of a bundle).",
	     .choices = mode_names},
	    {"measure", KEEL_FLAG_ENUM, &b.measure, "latency",
	     "latency (p50 and p99 launch-to-exec, us) or throughput (launches/s).",
	     .choices = measure_names},
	    {"rootfs", KEEL_FLAG_STRING, &b.rootfs, NULL,
	     "Busybox rootfs holding /bin/stamp and /bin/true.", .required = true},
	    {"work_dir", KEEL_FLAG_STRING, &b.work_dir, NULL, "keel: the work dir."},
	    {"cgroup_parent", KEEL_FLAG_STRING, &b.cg_parent, "keel/bench", "keel: cgroup parent."},
	    {"runtime", KEEL_FLAG_STRING, &b.runtime, "/usr/sbin/runc",
	     "runtime: the OCI runtime binary."},
	    {"runtime_root", KEEL_FLAG_STRING, &b.runtime_root, NULL,
	     "runtime: its --root state dir."},
	    {"bundles", KEEL_FLAG_STRING, &b.bundles, NULL,
	     "runtime: dir of bundles b0 (runs /bin/stamp), b1..bP (run /bin/true)."},
	    {"n", KEEL_FLAG_INT64, &b.n, "200", "Launches measured.", .min = "1", .max = "1000000"},
	    {"parallel", KEEL_FLAG_INT64, &b.parallel, "1", "Launches in flight (throughput).",
	     .min = "1", .max = "256"},
	    {"warmup", KEEL_FLAG_INT64, &b.warmup, "10", "Launches before measuring.", .min = "0",
	     .max = "100000"},
	    {"rss", KEEL_FLAG_BYTES, &b.rss, "0B",
	     "Memory the driver touches before measuring (a big caller)."},
	    {"cpus", KEEL_FLAG_DOUBLE, &b.cpus, "1", "keel: CPU limit in cores."},
	    {"mem", KEEL_FLAG_BYTES, &b.mem, "64MB", "keel: memory limit."},
	    {"cgroups", KEEL_FLAG_BOOL, &b.cgroups, "true",
	     "keel: use cgroups (--no-cgroups shows what they cost)."},
	};
	struct keel_flags flags;
	void *ballast = NULL;
	int rv;

	if (keel_flags_init(&flags, table, KEEL_ARRAY_SIZE(table), NULL) < 0) {
		fprintf(stderr, "keel-ctr-bench: %s\n", flags.errmsg);
		return 2;
	}
	rv = keel_flags_parse(&flags, argc, argv, NULL);
	if (rv == KEEL_FLAGS_HELP)
		return 0;
	if (rv < 0) {
		fprintf(stderr, "keel-ctr-bench: %s\n", flags.errmsg);
		return 2;
	}
	if ((b.mode == MODE_KEEL && b.work_dir == NULL) ||
	    (b.mode == MODE_RUNTIME && (b.bundles == NULL || b.runtime_root == NULL))) {
		fprintf(stderr, "keel-ctr-bench: keel needs --work_dir; runtime needs --bundles "
				"and --runtime_root\n");
		return 2;
	}
	if (b.rss > 0) {
		/* A caller with a big, touched heap: what fork() has to copy page tables of. */
		ballast =
		    mmap(NULL, b.rss, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ballast == MAP_FAILED) {
			perror("keel-ctr-bench: mmap");
			return 1;
		}
		memset(ballast, 1, b.rss);
	}
	signal(SIGPIPE, SIG_IGN);
	if (b.mode == MODE_KEEL && keel_open(&b) < 0)
		return 1;
	rv = b.measure == MEASURE_LATENCY ? run_latency(&b) : run_throughput(&b);
	if (b.ctx != NULL) {
		keel_ctr_close(b.ctx);
		keel_clean_sandboxes(&b);
	}
	if (ballast != NULL)
		munmap(ballast, b.rss);
	keel_flags_free(&flags);
	if (b.failures > 0) {
		fprintf(stderr, "keel-ctr-bench: %d launches failed; first: %s\n", b.failures,
			b.fail_msg);
		return 1;
	}
	return rv < 0 ? 1 : 0;
}
