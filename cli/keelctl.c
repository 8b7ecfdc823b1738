/* keelctl: dispatches to the subcommands (coord, and the master's operator API). */
#include <stdio.h>
#include <string.h>

#include "keelctl.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: keelctl COMMAND [ARGS]\n"
	    "\n"
	    "Commands:\n"
	    "  coord leader URL    show the current leader for a coordination URL\n"
	    "  coord members URL   show the members of a group (--group, default log_replicas)\n"
	    "  leader|agents|frameworks|tasks|roles   operator API tables (--json)\n"
	    "  task log TASK       a task's sandbox stdout (--stderr, --follow)\n"
	    "  agent drain|deactivate|reactivate|gone ID\n"
	    "                     drain an agent, stop or resume its offers, or mark it gone\n"
	    "  log dump            a stopped master's registry log, decoded (--work_dir)\n"
	    "  cluster up|down     a local cluster for trying keel (--ha, --agents=N)\n"
	    "  completion bash     a bash completion script\n"
	    "Master commands take --master=URL (coordination URL or host:port) or $KEEL_MASTER.\n"
	    "\n"
	    "URL is zk://[user:pass@]host:port,.../path, etcd://host:port,.../prefix or\n"
	    "static://host:port,... Run `keelctl COMMAND --help` for a command's flags.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return KEELCTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return KEELCTL_OK;
	}
	if (strcmp(argv[1], "coord") == 0)
		return keelctl_coord(argc - 1, argv + 1);
	if (strcmp(argv[1], "log") == 0)
		return keelctl_log(argc - 1, argv + 1);
	if (strcmp(argv[1], "cluster") == 0)
		return keelctl_cluster(argc - 1, argv + 1);
	static const char *const master_cmds[] = {"leader", "agents", "frameworks", "tasks",
						  "roles",  "task",   "agent",	    "completion"};
	for (size_t i = 0; i < sizeof(master_cmds) / sizeof(master_cmds[0]); i++)
		if (strcmp(argv[1], master_cmds[i]) == 0)
			return keelctl_master(argc - 1, argv + 1);
	fprintf(stderr, "keelctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return KEELCTL_USAGE;
}
