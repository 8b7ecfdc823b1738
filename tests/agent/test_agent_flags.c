/* keel-agent's flags: Mesos names, defaults, and clear errors for bad values. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent_flags.h"
#include "harness.h"

/* Parses the NULL-terminated argument list; returns the result and the error in errmsg. */
static int parse(struct keel_agent_flags *f, char *errmsg, const char *const *args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = "keel-agent";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return keel_agent_flags_parse(f, argc, argv, stdout, errmsg);
}

TEST(flags_defaults_and_values)
{
	struct keel_agent_flags f;
	char errmsg[KEEL_ERRMSG_SIZE];
	const char *args[] = {"--master=zk://127.0.0.1:2181/keel",
			      "--work_dir=/tmp/x",
			      "--resources=cpus:4;mem:8192;ports:[31000-32000]",
			      "--launcher=posix",
			      "--isolation=cgroups/cpu,cgroups/mem",
			      "--recover=cleanup",
			      "--executor_shutdown_grace_period=2secs",
			      "--port=5052",
			      NULL};

	ASSERT_OK(parse(&f, errmsg, args));
	ASSERT_STR_EQ(f.cfg.master, "zk://127.0.0.1:2181/keel");
	ASSERT_STR_EQ(f.cfg.work_dir, "/tmp/x");
	ASSERT_INT_EQ(f.cfg.launcher, KEEL_AGENT_LAUNCHER_POSIX);
	ASSERT_TRUE(f.cfg.cgroups);
	ASSERT_INT_EQ(f.cfg.recover, KEEL_AGENT_RECOVER_CLEANUP);
	ASSERT_INT_EQ(f.cfg.executor_shutdown_grace_ns, 2000000000LL);
	ASSERT_INT_EQ(f.cfg.gc_delay_ns, 7LL * 24 * 3600 * 1000000000LL);
	ASSERT_UINT_EQ(f.cfg.port, 5052);
	ASSERT_STR_EQ(f.cfg.ip, "127.0.0.1");
	keel_agent_flags_free(&f);
}

TEST(flags_errors_name_the_flag)
{
	static const struct {
		const char *arg;  /* the bad flag */
		const char *want; /* in the message */
	} cases[] = {
	    {"--port=70000", "--port"},
	    {"--launcher=docker", "--launcher"},
	    {"--recover=maybe", "--recover"},
	    {"--isolation=cgroups/gpu", "cgroups/gpu"},
	    {"--image_providers=appc", "--image_providers"},
	    {"--gc_delay=soon", "--gc_delay"},
	    {"--bogus=1", "bogus"},
	    {"--logging_level=LOUD", "--logging_level"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct keel_agent_flags f;
		char errmsg[KEEL_ERRMSG_SIZE] = "";
		const char *args[] = {"--master=127.0.0.1:5050", "--work_dir=/tmp/x", cases[i].arg,
				      NULL};

		TH_CONTEXT("%s", cases[i].arg);
		ASSERT_INT_EQ(parse(&f, errmsg, args), -EINVAL);
		ASSERT_STR_CONTAINS(errmsg, cases[i].want);
		keel_agent_flags_free(&f);
	}
}

TEST(flags_required_and_help)
{
	struct keel_agent_flags f;
	char errmsg[KEEL_ERRMSG_SIZE] = "";
	const char *none[] = {"--work_dir=/tmp/x", NULL};
	const char *help[] = {"--help", NULL};

	ASSERT_INT_EQ(parse(&f, errmsg, none), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "master");
	keel_agent_flags_free(&f);
	ASSERT_INT_EQ(parse(&f, errmsg, help), KEEL_FLAGS_HELP);
	keel_agent_flags_free(&f);
}
