/* keel-master's flags: defaults, every bad flag named in its error, --zk/--coord, --work_dir. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "master/master.h"
#include "runtime/flags.h"

/* Parses a NULL-terminated argument list (argv[0] added). */
static int parse(struct master_config *c, char *errmsg, ...)
{
	char *argv[32] = {"keel-master"};
	int argc = 1;
	va_list ap;
	char *a;

	va_start(ap, errmsg);
	while ((a = va_arg(ap, char *)) != NULL && argc < 31)
		argv[argc++] = a;
	va_end(ap);
	errmsg[0] = '\0';
	return master_config_parse(argc, argv, c, NULL, errmsg);
}

TEST(defaults_are_mesos_defaults)
{
	struct master_config c;
	char err[KEEL_ERRMSG_SIZE];

	ASSERT_OK(parse(&c, err, "--work_dir=/tmp/x", NULL));
	ASSERT_STR_EQ(c.ip, "127.0.0.1");
	ASSERT_UINT_EQ(c.port, 5050);
	ASSERT_STR_EQ(c.hostname, "127.0.0.1");
	ASSERT_STR_EQ(c.work_dir, "/tmp/x");
	ASSERT_NULL(c.cluster);
	ASSERT_UINT_EQ(c.quorum, 1);
	ASSERT_NULL(c.coord_url); /* static://ip:port once the port is known */
	ASSERT_TRUE(c.coord_static);
	ASSERT_UINT_EQ(c.session_timeout_ms, 10000);
	ASSERT_FALSE(c.in_memory);
	ASSERT_UINT_EQ(c.fetch_timeout_ms, 60000);
	ASSERT_UINT_EQ(c.store_timeout_ms, 20000);
	ASSERT_UINT_EQ(c.ping_timeout_ms, 15000);
	ASSERT_UINT_EQ(c.max_ping_timeouts, 5);
	ASSERT_UINT_EQ(c.reregister_timeout_ms, 600000);
	ASSERT_UINT_EQ(c.max_agent_age_ms, 14ull * 24 * 3600 * 1000);
	ASSERT_UINT_EQ(c.max_agent_count, 102400);
	ASSERT_TRUE(c.log_auto_initialize);
	ASSERT_NOT_NULL(c.flags_json);
	ASSERT_STR_CONTAINS(c.flags_json, "\"agent_ping_timeout\":\"15secs\"");
	master_config_free(&c);
}

TEST(values_are_taken)
{
	struct master_config c;
	char err[KEEL_ERRMSG_SIZE];

	ASSERT_OK(parse(&c, err, "--ip=10.1.2.3", "--port=6060", "--hostname=m1.example",
			"--cluster=prod", "--quorum=2", "--zk=zk://127.0.0.1:2181/keel",
			"--zk_session_timeout=3secs", "--registry=in_memory",
			"--registry_fetch_timeout=2mins", "--registry_store_timeout=5secs",
			"--agent_ping_timeout=1secs", "--max_agent_ping_timeouts=2",
			"--agent_reregister_timeout=30secs", "--registry_max_agent_age=1days",
			"--registry_max_agent_count=10", "--no-log_auto_initialize", NULL));
	ASSERT_STR_EQ(c.ip, "10.1.2.3");
	ASSERT_UINT_EQ(c.port, 6060);
	ASSERT_STR_EQ(c.hostname, "m1.example");
	ASSERT_STR_EQ(c.cluster, "prod");
	ASSERT_UINT_EQ(c.quorum, 2);
	ASSERT_STR_EQ(c.coord_url, "zk://127.0.0.1:2181/keel");
	ASSERT_FALSE(c.coord_static);
	ASSERT_UINT_EQ(c.session_timeout_ms, 3000);
	ASSERT_TRUE(c.in_memory);
	ASSERT_NULL(c.work_dir); /* not needed in memory */
	ASSERT_UINT_EQ(c.fetch_timeout_ms, 120000);
	ASSERT_UINT_EQ(c.store_timeout_ms, 5000);
	ASSERT_UINT_EQ(c.ping_timeout_ms, 1000);
	ASSERT_UINT_EQ(c.max_ping_timeouts, 2);
	ASSERT_UINT_EQ(c.reregister_timeout_ms, 30000);
	ASSERT_UINT_EQ(c.max_agent_age_ms, 86400000);
	ASSERT_UINT_EQ(c.max_agent_count, 10);
	ASSERT_FALSE(c.log_auto_initialize);
	master_config_free(&c);

	ASSERT_OK(parse(&c, err, "--registry=in_memory", "--coord=etcd://127.0.0.1:2379/keel",
			"--quorum=1", NULL));
	ASSERT_STR_EQ(c.coord_url, "etcd://127.0.0.1:2379/keel");
	master_config_free(&c);

	ASSERT_OK(parse(&c, err, "--registry=in_memory", "--quorum=2",
			"--coord=static://127.0.0.1:5050,127.0.0.1:5051,127.0.0.1:5052", NULL));
	ASSERT_TRUE(c.coord_static);
	ASSERT_UINT_EQ(c.quorum, 2);
	master_config_free(&c);
}

/* Every bad flag fails with a message that names it. */
TEST(bad_flags_are_named)
{
	static const struct {
		const char *args[4]; /* NULL-terminated */
		const char *names;   /* the message must contain this */
	} rows[] = {
	    {{"--port=70000"}, "--port"},
	    {{"--port=abc"}, "--port"},
	    {{"--ip=not-an-ip"}, "--ip"},
	    {{"--ip=::1"}, "--ip"},
	    {{"--hostname="}, "--hostname"},
	    {{"--quorum=0"}, "--quorum"},
	    {{"--quorum=two"}, "--quorum"},
	    {{"--registry=leveldb"}, "--registry"},
	    {{"--zk_session_timeout=10"}, "--zk_session_timeout"},
	    {{"--zk_session_timeout=0secs"}, "--zk_session_timeout"},
	    {{"--registry_fetch_timeout=-1secs"}, "--registry_fetch_timeout"},
	    {{"--registry_store_timeout=100weeks"}, "--registry_store_timeout"},
	    {{"--agent_ping_timeout=fast"}, "--agent_ping_timeout"},
	    {{"--max_agent_ping_timeouts=0"}, "--max_agent_ping_timeouts"},
	    {{"--agent_reregister_timeout=0ns"}, "--agent_reregister_timeout"},
	    {{"--registry_max_agent_age=old"}, "--registry_max_agent_age"},
	    {{"--registry_max_agent_count=0"}, "--registry_max_agent_count"},
	    {{"--log_auto_initialize=maybe"}, "--log_auto_initialize"},
	    {{"--zk=http://x"}, "--zk"},
	    {{"--coord=zk://127.0.0.1:2181"}, "--coord"},
	    {{"--coord=zk://127.0.0.1:2181/keel"}, "--quorum"},
	    {{"--zk=etcd://127.0.0.1:2379/keel"}, "--quorum"},
	    {{"--zk=zk://h:1/a", "--coord=zk://h:1/a", "--quorum=1"}, "--zk and --coord"},
	    {{"--quorum=2"}, "--quorum"},
	    {{"--quorum=2", "--coord=static://127.0.0.1:1,127.0.0.1:2"}, "--quorum"},
	    {{"--no_such_flag=1"}, "no_such_flag"},
	    {{"--weights=web"}, "--weights: expected role=weight, got 'web'"},
	    {{"--weights=web=3,=2"}, "--weights: expected role=weight, got '=2'"},
	    {{"--weights=web="}, "--weights: expected role=weight"},
	    {{"--weights=web=0"}, "the weight of role 'web' must be a number > 0, got '0'"},
	    {{"--weights=web=-1"}, "--weights"},
	    {{"--weights=web=3x"}, "--weights"},
	    {{"--weights=web=inf"}, "--weights"},
	    {{"--weights=*=2"}, "--weights: invalid role name '*'"},
	    {{"--weights=a/b=2"}, "--weights: invalid role name 'a/b'"},
	    {{"positional"}, "positional"},
	};

	for (size_t i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		struct master_config c;
		char err[KEEL_ERRMSG_SIZE];
		char *argv[8] = {"keel-master", "--registry=in_memory"};
		int argc = 2;

		TH_CONTEXT("row %zu: %s", i, rows[i].args[0]);
		for (size_t j = 0; j < 3 && rows[i].args[j] != NULL; j++)
			argv[argc++] = (char *)rows[i].args[j];
		err[0] = '\0';
		ASSERT_INT_EQ(master_config_parse(argc, argv, &c, NULL, err), -EINVAL);
		ASSERT_STR_CONTAINS(err, rows[i].names);
		ASSERT_NULL(c.ip); /* nothing left allocated */
	}
}

TEST(work_dir_is_required_with_the_replicated_log)
{
	struct master_config c;
	char err[KEEL_ERRMSG_SIZE];

	ASSERT_INT_EQ(parse(&c, err, NULL), -EINVAL);
	ASSERT_STR_CONTAINS(err, "--work_dir");
	ASSERT_INT_EQ(parse(&c, err, "--registry=replicated_log", "--work_dir=", NULL), -EINVAL);
	ASSERT_STR_CONTAINS(err, "--work_dir");
	ASSERT_OK(parse(&c, err, "--registry=in_memory", NULL));
	master_config_free(&c);
}

TEST(environment_and_help)
{
	struct master_config c;
	char err[KEEL_ERRMSG_SIZE];
	char *argv[] = {"keel-master", "--help"};
	FILE *out = tmpfile();
	char text[8192];
	size_t n;

	ASSERT_OK(setenv("KEEL_MASTER_PORT", "7070", 1));
	ASSERT_OK(parse(&c, err, "--registry=in_memory", NULL));
	ASSERT_UINT_EQ(c.port, 7070);
	master_config_free(&c);
	ASSERT_OK(setenv("KEEL_MASTER_PORT", "x", 1));
	ASSERT_INT_EQ(parse(&c, err, "--registry=in_memory", NULL), -EINVAL);
	ASSERT_STR_CONTAINS(err, "KEEL_MASTER_PORT");
	ASSERT_OK(unsetenv("KEEL_MASTER_PORT"));

	ASSERT_NOT_NULL(out);
	ASSERT_INT_EQ(master_config_parse(2, argv, &c, out, err), KEEL_FLAGS_HELP);
	rewind(out);
	n = fread(text, 1, sizeof(text) - 1, out);
	text[n] = '\0';
	fclose(out);
	const char *names[] = {"--agent_ping_timeout",
			       "--agent_reregister_timeout",
			       "--cluster",
			       "--coord",
			       "--hostname",
			       "--ip",
			       "--[no-]log_auto_initialize",
			       "--max_agent_ping_timeouts",
			       "--port",
			       "--quorum",
			       "--registry",
			       "--registry_fetch_timeout",
			       "--registry_max_agent_age",
			       "--registry_max_agent_count",
			       "--registry_store_timeout",
			       "--work_dir",
			       "--zk",
			       "--zk_session_timeout"};
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(names); i++)
		ASSERT_STR_CONTAINS(text, names[i]);
}

/* --weights: kept as given once checked; master_weights_parse hands out each pair in order. */
static int collect(const char *role, double weight, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 256 - n, "%s:%g;", role, weight);
	return strcmp(role, "stop") == 0 ? -ENOSPC : 0;
}

TEST(weights_flag)
{
	struct master_config c;
	char err[KEEL_ERRMSG_SIZE], seen[256] = "";

	ASSERT_OK(parse(&c, err, "--registry=in_memory", "--weights=web=3,db=1.5", NULL));
	ASSERT_STR_EQ(c.weights, "web=3,db=1.5");
	ASSERT_OK(master_weights_parse(c.weights, collect, seen, err));
	ASSERT_STR_EQ(seen, "web:3;db:1.5;");
	master_config_free(&c);
	ASSERT_OK(parse(&c, err, "--registry=in_memory", NULL));
	ASSERT_NULL(c.weights);
	master_config_free(&c);
	/* The callback's error stops the walk and is returned. */
	seen[0] = '\0';
	ASSERT_INT_EQ(master_weights_parse("a=1,stop=2,b=3", collect, seen, err), -ENOSPC);
	ASSERT_STR_EQ(seen, "a:1;stop:2;");
	ASSERT_STR_CONTAINS(err, "cannot set the weight of role 'stop'");
}
