/* keel-agent's flag table and its checks. */
#include "agent/agent_flags.h"

#include <errno.h>
#include <string.h>

#include "runtime/log.h"

static const char *const launcher_choices[] = {"linux", "posix", NULL};
static const char *const recover_choices[] = {"reconnect", "cleanup", NULL};

int keel_agent_flags_parse(struct keel_agent_flags *f, int argc, char **argv, FILE *help_out,
			   char *errmsg)
{
	const struct keel_flag table[KEEL_AGENT_NUM_FLAGS] = {
	    {"master", KEEL_FLAG_STRING, &f->master, NULL,
	     "Where to find the leading master: a coord URL (zk://, etcd://, static://) or "
	     "host:port.",
	     .required = true, .no_fetch = true},
	    {"work_dir", KEEL_FLAG_STRING, &f->work_dir, NULL,
	     "Directory for checkpoints (meta/), containers and sandboxes.", .required = true,
	     .no_fetch = true},
	    {"resources", KEEL_FLAG_STRING, &f->resources, NULL,
	     "Total resources, e.g. 'cpus:4;mem:8192;disk:10240;ports:[31000-32000]'. Detected "
	     "from the host when absent."},
	    {"attributes", KEEL_FLAG_STRING, &f->attributes, NULL,
	     "Attributes, e.g. 'rack:r1;zone:a'."},
	    {"isolation", KEEL_FLAG_STRING, &f->isolation, "posix/cpu,posix/mem",
	     "Isolators: cgroups/cpu and cgroups/mem limit tasks with cgroups; posix/* do not."},
	    {"launcher", KEEL_FLAG_ENUM, &f->launcher, NULL,
	     "How tasks start: linux (namespaces, needs root) or posix. Default: linux as root.",
	     .choices = launcher_choices},
	    {"image_providers", KEEL_FLAG_STRING, &f->image_providers, NULL,
	     "Image types tasks may use: docker (from the local store)."},
	    {"image_store_dir", KEEL_FLAG_STRING, &f->image_store_dir, NULL,
	     "The local image store. Default: <work_dir>/images.", .no_fetch = true},
	    {"executor_shutdown_grace_period", KEEL_FLAG_DURATION, &f->grace_ns, "5secs",
	     "Grace between SIGTERM and SIGKILL when a task has no kill policy."},
	    {"gc_delay", KEEL_FLAG_DURATION, &f->gc_delay_ns, "1weeks",
	     "How long sandboxes of ended tasks are kept."},
	    {"recover", KEEL_FLAG_ENUM, &f->recover, "reconnect",
	     "reconnect: reattach to the tasks of a previous run; cleanup: kill them.",
	     .choices = recover_choices},
	    {"ip", KEEL_FLAG_STRING, &f->ip, "127.0.0.1", "Address to listen on and advertise."},
	    {"port", KEEL_FLAG_UINT64, &f->port, "5051", "Port to listen on.", .max = "65535"},
	    {"hostname", KEEL_FLAG_STRING, &f->hostname, NULL,
	     "Hostname to advertise. Default: the ip."},
	    {"logging_level", KEEL_FLAG_STRING, &f->logging_level, "INFO",
	     "Lowest level logged: DEBUG, INFO, WARNING, ERROR."},
	};
	enum keel_log_level level;
	int rv;

	memset(f, 0, sizeof(*f));
	f->launcher = -1;
	/* The parser keeps pointing at its table: keep a copy in f. */
	memcpy(f->table, table, sizeof(table));
	if ((rv = keel_flags_init(&f->flags, f->table, KEEL_AGENT_NUM_FLAGS, "KEEL_AGENT_")) < 0 ||
	    (rv = keel_flags_parse(&f->flags, argc, argv, help_out)) < 0) {
		keel_errf(errmsg, rv, "%s", f->flags.errmsg);
		return rv;
	}
	if (rv == KEEL_FLAGS_HELP)
		return rv;
	if (f->flags.num_args > 0)
		return keel_errf(errmsg, -EINVAL, "unexpected argument '%s'", f->flags.args[0]);
	if (keel_log_level_parse(f->logging_level, &level) < 0)
		return keel_errf(errmsg, -EINVAL, "--logging_level=%s: unknown level",
				 f->logging_level);
	keel_log_set_level(level);
	if (f->image_providers && strcmp(f->image_providers, "docker") != 0 &&
	    strcmp(f->image_providers, "DOCKER") != 0)
		return keel_errf(errmsg, -EINVAL,
				 "--image_providers=%s: only docker (the local store) is supported",
				 f->image_providers);
	for (const char *p = f->isolation; p && *p;) {
		size_t n = strcspn(p, ",");

		static const char *const known[] = {
		    "posix/cpu",      "posix/mem",	"cgroups/cpu",
		    "cgroups/mem",    "cgroups/pids",	"filesystem/linux",
		    "docker/runtime", "namespaces/pid", NULL};
		bool ok = false;

		for (size_t i = 0; known[i]; i++)
			ok = ok || (strlen(known[i]) == n && strncmp(p, known[i], n) == 0);
		if (!ok)
			return keel_errf(errmsg, -EINVAL, "--isolation: unknown isolator '%.*s'",
					 (int)n, p);
		p += n;
		p += *p == ',';
	}
	f->cfg.master = f->master;
	f->cfg.work_dir = f->work_dir;
	f->cfg.resources = f->resources;
	f->cfg.attributes = f->attributes;
	f->cfg.ip = f->ip;
	f->cfg.port = (uint16_t)f->port;
	f->cfg.hostname = f->hostname;
	f->cfg.image_dir = f->image_store_dir;
	f->cfg.launcher = f->launcher == 0   ? KEEL_AGENT_LAUNCHER_LINUX
			  : f->launcher == 1 ? KEEL_AGENT_LAUNCHER_POSIX
					     : KEEL_AGENT_LAUNCHER_DEFAULT;
	f->cfg.cgroups = f->isolation && strstr(f->isolation, "cgroups/") != NULL;
	f->cfg.recover =
	    f->recover == 1 ? KEEL_AGENT_RECOVER_CLEANUP : KEEL_AGENT_RECOVER_RECONNECT;
	f->cfg.executor_shutdown_grace_ns = f->grace_ns;
	f->cfg.gc_delay_ns = f->gc_delay_ns;
	return 0;
}

void keel_agent_flags_free(struct keel_agent_flags *f)
{
	keel_flags_free(&f->flags);
}
