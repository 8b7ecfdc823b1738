/* keel-containerizer: launch, wait, kill, list and destroy containers from the command line. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerizer.h"
#include "runtime/err.h"

#define DEFAULT_WORK_DIR "/var/lib/keel/containerizer"
#define MAX_LIST 64

static const char usage_text[] =
    "usage: keel-containerizer [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Runs tasks in containers (namespaces, cgroups, capabilities, seccomp) without a daemon:\n"
    "each container has a small supervisor process that outlives this command.\n"
    "\n"
    "Options (before the command):\n"
    "  --work_dir DIR       checkpoints and sandboxes (default " DEFAULT_WORK_DIR ")\n"
    "  --cgroups MODE       auto, v1, v2 or none (default auto)\n"
    "  --cgroup_root DIR    cgroupfs mount point (default /sys/fs/cgroup)\n"
    "  --cgroup_parent REL  parent of container cgroups (default keel)\n"
    "  --image_dir DIR      image store (default WORK_DIR/images)\n"
    "  --image_copy         copy image layers into each rootfs instead of overlayfs\n"
    "\n"
    "Commands:\n"
    "  launch [FLAGS] -- CMD [ARGS...]   start a container, print its ID\n"
    "      --id ID            container ID (default: random)\n"
    "      --rootfs DIR       pivot_root into DIR (default: the host filesystem)\n"
    "      --image REF        run an imported image (name[:tag] or sha256:ID); its\n"
    "                         Entrypoint/Cmd/Env/WorkingDir/User apply, CMD replaces Cmd\n"
    "      --sandbox DIR      sandbox dir (default: WORK_DIR/sandboxes/ID)\n"
    "      --cpus N           CPU shares and quota, in cores (e.g. 0.5)\n"
    "      --mem MB           memory limit in MiB\n"
    "      --pids N           process limit\n"
    "      --user USER        user name or uid[:gid]\n"
    "      --launcher NAME    linux (namespaces; default as root) or posix\n"
    "      --net              private network namespace (loopback only)\n"
    "      --hostname NAME    UTS hostname (default: the ID)\n"
    "      --cwd DIR          working directory inside the container\n"
    "      --env NAME=VALUE   environment (repeatable; default PATH only)\n"
    "      --volume SRC:DST[:ro]  bind mount (SRC absolute on the host or relative to\n"
    "                         the sandbox; DST in the container; needs --rootfs)\n"
    "      --cap-add CAP      keep a capability (repeatable, e.g. NET_ADMIN)\n"
    "      --no-seccomp       run without the default seccomp profile\n"
    "      --wait             wait for the exit and return the task's exit code\n"
    "  wait ID [--timeout SEC]   wait for the exit; exit code = the task's\n"
    "  kill ID [--grace SEC]     SIGTERM, then SIGKILL after the grace (default 3 s)\n"
    "  status ID                 state, reason, exit code, usage\n"
    "  ps                        list containers\n"
    "  destroy ID                kill if running, then remove cgroups and checkpoint\n"
    "  images import PATH [--ref NAME:TAG]   import an OCI layout (dir or tar) or a\n"
    "                            docker save archive; prints the image ID\n"
    "  images ls                 list image references\n"
    "\n"
    "Exit codes: the task's exit code for wait/--wait (128+N for signal N, 137 for OOM\n"
    "or kill, 125 when the launch failed); 1 on errors, 2 on usage errors.\n";

/* Parsed global options. */
struct cli {
	struct keel_ctr_config cfg; /* context configuration */
	struct keel_ctr *ctx;	    /* open context */
};

static int usage_error(const char *fmt, ...) KEEL_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keel-containerizer: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'keel-containerizer --help'.\n");
	return 2;
}

static int fail(const char *what, const char *msg)
{
	fprintf(stderr, "keel-containerizer: %s: %s\n", what, msg);
	return 1;
}

/* Converts a final status into this command's exit code. */
static int status_exit_code(const struct keel_ctr_status *st)
{
	switch (st->reason) {
	case KEEL_CTR_REASON_EXITED:
		return st->exit_code;
	case KEEL_CTR_REASON_LAUNCH_FAILED:
		return 125;
	case KEEL_CTR_REASON_LOST:
		return 1;
	default:
		return st->signal > 0 ? 128 + st->signal : 137;
	}
}

static void print_status(const char *id, const struct keel_ctr_status *st)
{
	printf("%s %s", id, keel_ctr_state_name(st->state));
	if (st->state == KEEL_CTR_EXITED) {
		printf(" reason=%s", keel_ctr_reason_name(st->reason));
		if (st->exit_code >= 0)
			printf(" exit_code=%d", st->exit_code);
		if (st->signal > 0)
			printf(" signal=%d", st->signal);
		if (st->limits_hit & KEEL_CTR_LIMIT_MEMORY)
			printf(" limit=memory");
		if (st->limits_hit & KEEL_CTR_LIMIT_PIDS)
			printf(" limit=pids");
		if (st->message[0] != '\0')
			printf(" message=\"%s\"", st->message);
	} else if (st->task_pid > 0) {
		printf(" pid=%d", (int)st->task_pid);
	}
	printf("\n");
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (end == s || *end != '\0' || errno != 0) ? -EINVAL : 0;
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return (end == s || *end != '\0' || errno != 0) ? -EINVAL : 0;
}

static int open_ctx(struct cli *cli, bool recover)
{
	char msg[KEEL_ERRMSG_SIZE] = "";
	int rv = keel_ctr_open(&cli->cfg, &cli->ctx, msg);

	if (rv < 0)
		return fail("open", msg);
	if (recover && keel_ctr_recover(cli->ctx, NULL) < 0)
		fprintf(stderr, "keel-containerizer: recover: %s\n", keel_ctr_errmsg(cli->ctx));
	return 0;
}

static int wait_and_report(struct cli *cli, const char *id, int timeout_ms)
{
	struct keel_ctr_status st;
	int rv = keel_ctr_wait(cli->ctx, id, timeout_ms, &st);

	if (rv < 0)
		return fail("wait", keel_ctr_errmsg(cli->ctx));
	print_status(id, &st);
	return status_exit_code(&st);
}

/* Bounded argument lists for launch. */
#define MAX_ITEMS 64
#define MAX_VOLUMES 16

static int cmd_launch(struct cli *cli, int argc, char **argv)
{
	struct keel_ctr_spec spec;
	struct keel_ctr_mount mounts[MAX_VOLUMES];
	char mount_buf[MAX_VOLUMES][PATH_MAX * 2];
	const char *env[MAX_ITEMS + 1];
	size_t n_env = 0;
	uint64_t add_caps = 0;
	bool wait = false;
	char id[KEEL_CTR_ID_SIZE];
	double mem_mb = 0;
	int i, rv;

	memset(&spec, 0, sizeof(spec));
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--wait") == 0) {
			wait = true;
			continue;
		}
		if (strcmp(a, "--net") == 0) {
			spec.network_ns = true;
			continue;
		}
		if (strcmp(a, "--no-seccomp") == 0) {
			spec.seccomp = KEEL_CTR_SECCOMP_UNCONFINED;
			continue;
		}
		if (a[0] != '-')
			break;
		if (v == NULL)
			return usage_error("%s needs a value", a);
		i++;
		if (strcmp(a, "--id") == 0)
			spec.id = v;
		else if (strcmp(a, "--rootfs") == 0)
			spec.rootfs = v;
		else if (strcmp(a, "--image") == 0)
			spec.image = v;
		else if (strcmp(a, "--sandbox") == 0)
			spec.sandbox = v;
		else if (strcmp(a, "--user") == 0)
			spec.user = v;
		else if (strcmp(a, "--hostname") == 0)
			spec.hostname = v;
		else if (strcmp(a, "--cwd") == 0)
			spec.cwd = v;
		else if (strcmp(a, "--cpus") == 0) {
			if (parse_double(v, &spec.cpus) < 0)
				return usage_error("--cpus: '%s' is not a number", v);
		} else if (strcmp(a, "--mem") == 0) {
			if (parse_double(v, &mem_mb) < 0)
				return usage_error("--mem: '%s' is not a number of MiB", v);
			spec.mem_bytes = (int64_t)(mem_mb * 1024 * 1024);
			if (mem_mb < 0)
				spec.mem_bytes = -1;
		} else if (strcmp(a, "--pids") == 0) {
			if (parse_i64(v, &spec.pids_max) < 0)
				return usage_error("--pids: '%s' is not a number", v);
		} else if (strcmp(a, "--launcher") == 0) {
			if (strcmp(v, "linux") == 0)
				spec.launcher = KEEL_CTR_LAUNCHER_LINUX;
			else if (strcmp(v, "posix") == 0)
				spec.launcher = KEEL_CTR_LAUNCHER_POSIX;
			else
				return usage_error("--launcher: '%s' is not linux or posix", v);
		} else if (strcmp(a, "--env") == 0) {
			if (n_env == MAX_ITEMS)
				return usage_error("%s: too many", a);
			env[n_env++] = v;
		} else if (strcmp(a, "--cap-add") == 0) {
			int cap = keel_ctr_cap_from_name(v);
			if (cap < 0)
				return usage_error("--cap-add: unknown capability '%s'", v);
			add_caps |= 1ULL << cap;
		} else if (strcmp(a, "--volume") == 0) {
			char *buf, *dst, *opt;
			size_t m = spec.n_mounts;

			if (m == MAX_VOLUMES)
				return usage_error("%s: too many", a);
			buf = mount_buf[m];
			if (snprintf(buf, sizeof(mount_buf[m]), "%s", v) >=
			    (int)sizeof(mount_buf[m]))
				return usage_error("--volume: '%s' is too long", v);
			dst = strchr(buf, ':');
			if (dst == NULL)
				return usage_error("--volume: '%s' is not SRC:DST[:ro]", v);
			*dst++ = '\0';
			opt = strchr(dst, ':');
			if (opt != NULL) {
				*opt++ = '\0';
				if (strcmp(opt, "ro") != 0 && strcmp(opt, "rw") != 0)
					return usage_error("--volume: unknown option in '%s'", v);
			}
			mounts[m].source = buf;
			mounts[m].target = dst;
			mounts[m].readonly = opt != NULL && strcmp(opt, "ro") == 0;
			spec.mounts = mounts;
			spec.n_mounts = m + 1;
		} else {
			return usage_error("launch: unknown flag %s", a);
		}
	}
	if (i >= argc && spec.image == NULL)
		return usage_error("%s", "launch: no command given (use -- CMD ARGS...)");
	if (i < argc)
		spec.argv = (const char *const *)(argv + i);
	if (n_env > 0) {
		env[n_env] = NULL;
		spec.env = env;
	}
	if (add_caps != 0) {
		uint64_t base = spec.user == NULL ? keel_ctr_caps_root_default() : 0;

		spec.caps_set = true;
		spec.caps.bounding = spec.caps.permitted = spec.caps.effective = base | add_caps;
		if (spec.user != NULL)
			spec.caps.inheritable = spec.caps.ambient = add_caps;
	}
	rv = open_ctx(cli, false);
	if (rv != 0)
		return rv;
	rv = keel_ctr_launch(cli->ctx, &spec, id);
	if (rv < 0)
		return fail("launch", keel_ctr_errmsg(cli->ctx));
	if (!wait) {
		printf("%s\n", id);
		return 0;
	}
	return wait_and_report(cli, id, -1);
}

static int cmd_wait(struct cli *cli, int argc, char **argv)
{
	double secs = -1;

	if (argc < 1)
		return usage_error("%s", "wait: which container?");
	if (argc == 3 && strcmp(argv[1], "--timeout") == 0) {
		if (parse_double(argv[2], &secs) < 0 || secs < 0)
			return usage_error("--timeout: '%s' is not a number of seconds", argv[2]);
	} else if (argc != 1) {
		return usage_error("%s", "wait: usage: wait ID [--timeout SEC]");
	}
	if (open_ctx(cli, true) != 0)
		return 1;
	return wait_and_report(cli, argv[0], secs < 0 ? -1 : (int)(secs * 1000));
}

static int cmd_kill(struct cli *cli, int argc, char **argv)
{
	double secs = 3;

	if (argc < 1)
		return usage_error("%s", "kill: which container?");
	if (argc == 3 && strcmp(argv[1], "--grace") == 0) {
		if (parse_double(argv[2], &secs) < 0 || secs < 0)
			return usage_error("--grace: '%s' is not a number of seconds", argv[2]);
	} else if (argc != 1) {
		return usage_error("%s", "kill: usage: kill ID [--grace SEC]");
	}
	if (open_ctx(cli, true) != 0)
		return 1;
	if (keel_ctr_kill(cli->ctx, argv[0], (uint32_t)(secs * 1000)) < 0)
		return fail("kill", keel_ctr_errmsg(cli->ctx));
	return 0;
}

static int cmd_status(struct cli *cli, int argc, char **argv)
{
	struct keel_ctr_status st;
	struct keel_ctr_usage u;

	if (argc != 1)
		return usage_error("%s", "status: usage: status ID");
	if (open_ctx(cli, true) != 0)
		return 1;
	keel_ctr_process(cli->ctx);
	if (keel_ctr_status(cli->ctx, argv[0], &st) < 0)
		return fail("status", "no such container");
	print_status(argv[0], &st);
	if (keel_ctr_usage(cli->ctx, argv[0], &u) == 0)
		printf("cpu_usec=%" PRIu64 " mem_bytes=%" PRIu64 " mem_peak_bytes=%" PRIu64
		       " pids=%" PRIu64 " oom_kills=%" PRIu64 "\n",
		       u.cpu_usec, u.mem_bytes, u.mem_peak_bytes, u.pids, u.oom_kills);
	return 0;
}

static int cmd_ps(struct cli *cli, int argc, char **argv)
{
	char ids[MAX_LIST][KEEL_CTR_ID_SIZE];
	size_t n, i;

	(void)argv;
	if (argc != 0)
		return usage_error("%s", "ps takes no arguments");
	if (open_ctx(cli, true) != 0)
		return 1;
	keel_ctr_process(cli->ctx);
	n = keel_ctr_list(cli->ctx, ids, MAX_LIST);
	printf("%-20s %-9s %-8s %s\n", "ID", "STATE", "PID", "REASON");
	for (i = 0; i < n && i < MAX_LIST; i++) {
		struct keel_ctr_status st;

		if (keel_ctr_status(cli->ctx, ids[i], &st) < 0)
			continue;
		printf("%-20s %-9s %-8d %s", ids[i], keel_ctr_state_name(st.state),
		       (int)st.task_pid,
		       st.state == KEEL_CTR_EXITED ? keel_ctr_reason_name(st.reason) : "-");
		if (st.state == KEEL_CTR_EXITED && st.reason == KEEL_CTR_REASON_EXITED)
			printf(" (%d)", st.exit_code);
		printf("\n");
	}
	if (n > MAX_LIST)
		printf("... and %zu more\n", n - MAX_LIST);
	return 0;
}

static void print_image(void *arg, const char *ref, const char *id)
{
	(void)arg;
	printf("%-40s %s\n", ref, id);
}

static const char *image_dir_of(struct cli *cli, char *buf, size_t n)
{
	if (cli->cfg.image_dir != NULL)
		return cli->cfg.image_dir;
	snprintf(buf, n, "%s/images", cli->cfg.work_dir);
	return buf;
}

static int cmd_images(struct cli *cli, int argc, char **argv)
{
	char dir[PATH_MAX], msg[KEEL_ERRMSG_SIZE] = "", id[KEEL_CTR_IMAGE_ID_SIZE];
	const char *ref = NULL;
	int rv;

	if (argc >= 1 && strcmp(argv[0], "ls") == 0 && argc == 1) {
		printf("%-40s %s\n", "REFERENCE", "IMAGE ID");
		rv = keel_ctr_image_list(image_dir_of(cli, dir, sizeof(dir)), print_image, NULL);
		return rv < 0 ? fail("images ls", strerror(-rv)) : 0;
	}
	if (argc >= 2 && strcmp(argv[0], "import") == 0) {
		if (argc == 4 && strcmp(argv[2], "--ref") == 0)
			ref = argv[3];
		else if (argc != 2)
			return usage_error("%s", "images import PATH [--ref NAME:TAG]");
		rv = keel_ctr_image_import(image_dir_of(cli, dir, sizeof(dir)), argv[1], ref, NULL,
					   id, msg);
		if (rv < 0)
			return fail("images import", msg);
		printf("%s\n", id);
		return 0;
	}
	return usage_error("%s",
			   "images: use 'images import PATH [--ref NAME:TAG]' or 'images ls'");
}

static int cmd_destroy(struct cli *cli, int argc, char **argv)
{
	struct keel_ctr_status st;

	if (argc != 1)
		return usage_error("%s", "destroy: usage: destroy ID");
	if (open_ctx(cli, true) != 0)
		return 1;
	if (keel_ctr_status(cli->ctx, argv[0], &st) < 0)
		return fail("destroy", "no such container");
	if (keel_ctr_destroy(cli->ctx, argv[0]) < 0)
		return fail("destroy", keel_ctr_errmsg(cli->ctx));
	if (keel_ctr_status(cli->ctx, argv[0], &st) == 0) {
		/* Still known: it was running; the removal follows its exit event. */
		if (keel_ctr_wait(cli->ctx, argv[0], 30000, &st) < 0)
			return fail("destroy", keel_ctr_errmsg(cli->ctx));
		if (keel_ctr_status(cli->ctx, argv[0], &st) == 0)
			return fail("destroy", keel_ctr_errmsg(cli->ctx));
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli;
	const char *cmd;
	int i, rv;

	memset(&cli, 0, sizeof(cli));
	cli.cfg.work_dir = getenv("KEEL_WORK_DIR") ? getenv("KEEL_WORK_DIR") : DEFAULT_WORK_DIR;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (strcmp(a, "--image_copy") == 0) {
			cli.cfg.image_copy = true;
			continue;
		}
		if (a[0] != '-')
			break;
		if (v == NULL)
			return usage_error("%s needs a value", a);
		i++;
		if (strcmp(a, "--work_dir") == 0)
			cli.cfg.work_dir = v;
		else if (strcmp(a, "--cgroup_root") == 0)
			cli.cfg.cgroup_root = v;
		else if (strcmp(a, "--cgroup_parent") == 0)
			cli.cfg.cgroup_parent = v;
		else if (strcmp(a, "--image_dir") == 0)
			cli.cfg.image_dir = v;
		else if (strcmp(a, "--cgroups") == 0) {
			if (strcmp(v, "auto") == 0)
				cli.cfg.cgroup_mode = KEEL_CTR_CGROUP_AUTO;
			else if (strcmp(v, "v1") == 0)
				cli.cfg.cgroup_mode = KEEL_CTR_CGROUP_V1;
			else if (strcmp(v, "v2") == 0)
				cli.cfg.cgroup_mode = KEEL_CTR_CGROUP_V2;
			else if (strcmp(v, "none") == 0)
				cli.cfg.cgroup_mode = KEEL_CTR_CGROUP_NONE;
			else
				return usage_error("--cgroups: '%s' is not auto, v1, v2 or none",
						   v);
		} else {
			return usage_error("unknown option %s", a);
		}
	}
	if (i >= argc)
		return usage_error("%s", "no command given");
	cmd = argv[i++];
	if (strcmp(cmd, "launch") == 0)
		rv = cmd_launch(&cli, argc - i, argv + i);
	else if (strcmp(cmd, "wait") == 0)
		rv = cmd_wait(&cli, argc - i, argv + i);
	else if (strcmp(cmd, "kill") == 0)
		rv = cmd_kill(&cli, argc - i, argv + i);
	else if (strcmp(cmd, "status") == 0)
		rv = cmd_status(&cli, argc - i, argv + i);
	else if (strcmp(cmd, "ps") == 0)
		rv = cmd_ps(&cli, argc - i, argv + i);
	else if (strcmp(cmd, "destroy") == 0)
		rv = cmd_destroy(&cli, argc - i, argv + i);
	else if (strcmp(cmd, "images") == 0)
		rv = cmd_images(&cli, argc - i, argv + i);
	else if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		rv = 0;
	} else
		rv = usage_error("unknown command '%s'", cmd);
	keel_ctr_close(cli.ctx);
	return rv;
}
