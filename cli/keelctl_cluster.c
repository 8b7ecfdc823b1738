/* keelctl cluster up|down: a local cluster for trying keel, through scripts/cluster.sh. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keelctl.h"
#include "runtime/flags.h"

#ifndef KEEL_SOURCE_SCRIPTS
#define KEEL_SOURCE_SCRIPTS "" /* the source tree's scripts/ (set by meson) */
#endif
#ifndef KEEL_INSTALL_SCRIPTS
#define KEEL_INSTALL_SCRIPTS "" /* <datadir>/keel/scripts (set by meson) */
#endif

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The cluster.sh to run: $KEEL_SCRIPTS_DIR, the installed copy, or the source tree's. */
static int find_script(char *out, size_t size)
{
	const char *dirs[] = {getenv("KEEL_SCRIPTS_DIR"), KEEL_INSTALL_SCRIPTS,
			      KEEL_SOURCE_SCRIPTS};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (dirs[i] == NULL || dirs[i][0] == '\0')
			continue;
		snprintf(out, size, "%s/cluster.sh", dirs[i]);
		if (is_file(out))
			return 0;
	}
	return -ENOENT;
}

/*
 * Tells cluster.sh where the binaries are: beside this keelctl in a build tree
 * (<build>/cli/keelctl -> KEEL_BUILD=<build>), or installed beside it in one bin directory.
 */
static int point_at_binaries(void)
{
	char exe[PATH_MAX], dir[PATH_MAX + 8], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/../master/keel-master", exe);
	if (is_file(path)) {
		snprintf(dir, sizeof(dir), "%s/..", exe);
		return setenv("KEEL_BUILD", dir, 0) < 0 ? -errno : 0;
	}
	static const struct {
		const char *env, *name;
	} bins[] = {{"KEEL_MASTER_BIN", "keel-master"},
		    {"KEEL_AGENT_BIN", "keel-agent"},
		    {"KEEL_CONTAINERIZER_BIN", "keel-containerizer"}};
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", exe, bins[i].name);
		if (!is_file(path))
			return -ENOENT;
		if (setenv(bins[i].env, path, 0) < 0)
			return -errno;
	}
	return 0;
}

/* Runs bash cluster.sh with args; its exit status (1 when it cannot run). */
static int run_script(const char *script, char *const *args, size_t n)
{
	char *argv[16];
	size_t k = 0;
	int status;
	pid_t pid;

	argv[k++] = "bash";
	argv[k++] = (char *)script;
	for (size_t i = 0; i < n && k + 1 < sizeof(argv) / sizeof(argv[0]); i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "keelctl cluster: fork: %s\n", strerror(errno));
		return KEELCTL_FAIL;
	}
	if (pid == 0) {
		execvp("bash", argv);
		fprintf(stderr, "keelctl cluster: cannot run bash: %s\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return KEELCTL_FAIL;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? KEELCTL_OK : KEELCTL_FAIL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: keelctl cluster up [--dir=DIR] [--ha] [--coord=static|zk|etcd] "
		   "[--masters=N] [--agents=N]\n"
		   "       keelctl cluster down [--dir=DIR]\n"
		   "       keelctl cluster url|masters|agents [--dir=DIR]\n"
		   "\n"
		   "A local cluster on loopback for trying keel: masters (one on the embedded\n"
		   "static coordination, or --ha: three on a 3-server ZooKeeper or etcd started\n"
		   "for it), and agents with a busybox:latest image. Everything lives under DIR\n"
		   "(default $KEEL_CLUSTER_DIR, else ./keel-cluster) and `down` stops it by the\n"
		   "PIDs recorded there. `up` prints the coordination URL to use as --master.\n");
}

int keelctl_cluster(int argc, char **argv)
{
	char *dir = NULL, *coord = NULL, script[PATH_MAX + 16], abs[PATH_MAX];
	char masters_s[24], agents_s[24], coord_s[8];
	uint64_t masters = 0, agents = 1;
	bool ha = false;
	const struct keel_flag table[] = {
	    {"dir", KEEL_FLAG_STRING, &dir, NULL, "Where the cluster's data, logs and PIDs live."},
	    {"ha", KEEL_FLAG_BOOL, &ha, "false", "Three masters on ZooKeeper (or --coord=etcd)."},
	    {"coord", KEEL_FLAG_STRING, &coord, NULL,
	     "static (one master, no service), zk or etcd. Default: static, zk with --ha."},
	    {"masters", KEEL_FLAG_UINT64, &masters, NULL, "Masters (default 1; 3 with --ha).",
	     .min = "1", .max = "7"},
	    {"agents", KEEL_FLAG_UINT64, &agents, "1", "Agents to start.", .max = "16"},
	};
	struct keel_flags f;
	const char *cmd = argc >= 2 ? argv[1] : "";
	int rv;

	if (argc < 2 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? KEELCTL_USAGE : KEELCTL_OK;
	}
	if (strcmp(cmd, "up") != 0 && strcmp(cmd, "down") != 0 && strcmp(cmd, "url") != 0 &&
	    strcmp(cmd, "masters") != 0 && strcmp(cmd, "agents") != 0) {
		fprintf(stderr, "keelctl cluster: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return KEELCTL_USAGE;
	}
	if (keel_flags_init(&f, table, sizeof(table) / sizeof(table[0]), NULL) < 0 ||
	    (rv = keel_flags_parse(&f, argc - 1, argv + 1, NULL)) < 0) {
		fprintf(stderr, "keelctl cluster %s: %s\n", cmd, f.errmsg);
		keel_flags_free(&f);
		return KEELCTL_USAGE;
	}
	if (rv == KEEL_FLAGS_HELP || f.num_args > 0) {
		if (f.num_args > 0)
			fprintf(stderr, "keelctl cluster %s: unexpected argument \"%s\"\n", cmd,
				f.args[0]);
		keel_flags_free(&f);
		return rv == KEEL_FLAGS_HELP ? KEELCTL_OK : KEELCTL_USAGE;
	}
	/* Copied out of the flags, freed below; longer than any valid name means invalid. */
	snprintf(coord_s, sizeof(coord_s), "%s",
		 coord == NULL	     ? (ha ? "zk" : "static")
		 : strlen(coord) < 8 ? coord
				     : "invalid");
	coord = coord_s;
	if (masters == 0)
		masters = ha ? 3 : 1;
	if (dir == NULL)
		dir = getenv("KEEL_CLUSTER_DIR") ? getenv("KEEL_CLUSTER_DIR") : "keel-cluster";
	if (realpath(dir, abs) == NULL) {
		if (errno != ENOENT || strcmp(cmd, "up") != 0 || mkdir(dir, 0700) < 0 ||
		    realpath(dir, abs) == NULL) {
			fprintf(stderr, "keelctl cluster %s: %s: %s\n", cmd, dir, strerror(errno));
			keel_flags_free(&f);
			return KEELCTL_FAIL;
		}
	}
	keel_flags_free(&f); /* dir may have pointed into it: abs holds it now */
	rv = KEELCTL_FAIL;
	if (strcmp(coord, "static") != 0 && strcmp(coord, "zk") != 0 &&
	    strcmp(coord, "etcd") != 0) {
		fprintf(stderr, "keelctl cluster up: --coord must be static, zk or etcd\n");
		rv = KEELCTL_USAGE;
	} else if (strcmp(coord, "static") == 0 && masters != 1) {
		fprintf(stderr, "keelctl cluster up: static coordination runs one master; use --ha "
				"(ZooKeeper) or --coord=etcd for more\n");
		rv = KEELCTL_USAGE;
	} else if (find_script(script, sizeof(script)) < 0) {
		fprintf(stderr,
			"keelctl cluster: cluster.sh not found (set KEEL_SCRIPTS_DIR to keel's "
			"scripts/ directory)\n");
	} else if (point_at_binaries() < 0) {
		fprintf(stderr, "keelctl cluster: keel-master, keel-agent and keel-containerizer "
				"must be installed beside keelctl\n");
	} else if (strcmp(cmd, "up") == 0) {
		char *args[] = {"up", abs, coord, masters_s, agents_s};
		snprintf(masters_s, sizeof(masters_s), "%llu", (unsigned long long)masters);
		snprintf(agents_s, sizeof(agents_s), "%llu", (unsigned long long)agents);
		fprintf(stderr,
			"keelctl cluster: starting %s master(s) (%s) and %s agent(s) in %s\n",
			masters_s, coord, agents_s, abs);
		rv = run_script(script, args, 5);
		if (rv == KEELCTL_OK)
			fprintf(
			    stderr,
			    "keelctl cluster: up. Try:\n"
			    "  export KEEL_MASTER=$(keelctl cluster url --dir=%s)\n"
			    "  keelctl agents\n"
			    "  keel-execute --master=$KEEL_MASTER --name=hi --command='echo hi'\n"
			    "Stop it with: keelctl cluster down --dir=%s\n",
			    abs, abs);
	} else {
		char *args[] = {(char *)cmd, abs};
		rv = run_script(script, args, 2);
	}
	return rv;
}
