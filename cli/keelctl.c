/* keelctl: dispatches to the subcommands (coord; later issues add more). */
#include <stdio.h>
#include <string.h>

#include "keelctl.h"

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: keelctl COMMAND [ARGS]\n"
	       "\n"
	       "Commands:\n"
	       "  coord leader URL    show the current leader for a coordination URL\n"
	       "  coord members URL   show the members of a group (--group, default log_replicas)\n"
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
	fprintf(stderr, "keelctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return KEELCTL_USAGE;
}
