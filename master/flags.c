/* keel-master's flags: Mesos names and defaults, parsed by runtime/flags into a master_config. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "coord/coord.h"
#include "auth.h"
#include "master.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/flags.h"

/* Raw flag storage, filled by keel_flags_parse. */
struct master_flag_values {
	char *ip;			/* --ip */
	uint64_t port;			/* --port */
	char *hostname;			/* --hostname */
	char *work_dir;			/* --work_dir */
	char *cluster;			/* --cluster */
	uint64_t quorum;		/* --quorum (0: not given) */
	char *zk;			/* --zk */
	char *coord;			/* --coord */
	char *weights;			/* --weights */
	int64_t zk_session_timeout;	/* --zk_session_timeout, ns */
	int registry;			/* --registry: index into registry_choices */
	int64_t registry_fetch_timeout; /* ns */
	int64_t registry_store_timeout; /* ns */
	int64_t agent_ping_timeout;	/* ns */
	uint64_t max_agent_ping_timeouts;
	int64_t agent_reregister_timeout; /* ns */
	int64_t registry_max_agent_age;	  /* ns */
	uint64_t registry_max_agent_count;
	bool log_auto_initialize;
	int64_t heartbeat_interval;  /* --heartbeat_interval, ns */
	int64_t allocation_interval; /* --allocation_interval, ns */
	int64_t offer_timeout;	     /* --offer_timeout, ns (0: none) */
	bool auth_frameworks;	     /* --authenticate_frameworks */
	bool auth_readwrite;	     /* --authenticate_http_readwrite */
	bool auth_readonly;	     /* --authenticate_http_readonly */
	char *credentials;	     /* --credentials */
	char *acls;		     /* --acls */
};

static const char *const registry_choices[] = {"replicated_log", "in_memory", NULL};

/* Converts a duration flag to ms within [1, max]; -EINVAL naming the flag otherwise. */
static int to_ms(const char *name, int64_t ns, uint64_t max, uint64_t *out, char *errmsg)
{
	uint64_t ms = (uint64_t)ns / 1000000u;
	char buf[32];

	if (ns <= 0 || ms == 0)
		return keel_errf(errmsg, -EINVAL, "--%s=%s: must be at least 1ms", name,
				 keel_format_duration(ns, buf, sizeof(buf)));
	if (ms > max)
		return keel_errf(errmsg, -EINVAL, "--%s=%s: must be at most %" PRIu64 "ms", name,
				 keel_format_duration(ns, buf, sizeof(buf)), max);
	*out = ms;
	return 0;
}

/* Checks the coordination URL and fills in coord_static; `flag` is "zk" or "coord". */
static int check_url(struct master_config *c, const char *flag, char *errmsg)
{
	struct coord_url u;
	char why[KEEL_ERRMSG_SIZE];
	int rv = coord_url_parse(c->coord_url, &u, why);

	if (rv < 0)
		return keel_errf(errmsg, rv, "--%s: %s", flag, why);
	c->coord_static = u.backend == COORD_BACKEND_STATIC;
	if (!c->coord_static && c->quorum == 0)
		rv = keel_errf(errmsg, -EINVAL,
			       "--quorum is required with a %s coordination URL (--%s)",
			       u.backend == COORD_BACKEND_ZK ? "zk://" : "etcd://", flag);
	else if (c->coord_static && c->quorum > 1 && u.num_hosts != 2 * (size_t)c->quorum - 1)
		rv =
		    keel_errf(errmsg, -EINVAL,
			      "--quorum=%u: a log of %u replicas needs %u masters in the static:// "
			      "list (--%s), it has %zu",
			      c->quorum, 2 * c->quorum - 1, 2 * c->quorum - 1, flag, u.num_hosts);
	coord_url_free(&u);
	return rv;
}

static int config_fill(struct master_config *c, struct keel_flags *f,
		       const struct master_flag_values *v, char *errmsg)
{
	struct in_addr a4;
	uint64_t ms;
	int rv;

	if (inet_pton(AF_INET, v->ip, &a4) != 1)
		return keel_errf(errmsg, -EINVAL, "--ip=%s: not an IPv4 address", v->ip);
	if (v->hostname != NULL && v->hostname[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "--hostname: must not be empty");
	if (v->zk != NULL && v->coord != NULL)
		return keel_errf(
		    errmsg, -EINVAL,
		    "--zk and --coord both given: they are the same setting, give one");
	c->in_memory = v->registry == 1;
	if (!c->in_memory && (v->work_dir == NULL || v->work_dir[0] == '\0'))
		return keel_errf(errmsg, -EINVAL,
				 "--work_dir is required with --registry=replicated_log");
	c->port = (uint16_t)v->port;
	c->quorum = (unsigned)v->quorum;
	c->ip = keel_xstrdup(v->ip);
	c->hostname = keel_xstrdup(v->hostname ? v->hostname : v->ip);
	c->work_dir = v->work_dir ? keel_xstrdup(v->work_dir) : NULL;
	c->cluster = v->cluster ? keel_xstrdup(v->cluster) : NULL;
	if (v->zk != NULL || v->coord != NULL) {
		c->coord_url = keel_xstrdup(v->zk ? v->zk : v->coord);
		rv = check_url(c, v->zk ? "zk" : "coord", errmsg);
		if (rv < 0)
			return rv;
	} else {
		c->coord_static = true;
		if (c->quorum > 1)
			return keel_errf(
			    errmsg, -EINVAL,
			    "--quorum=%u: without --zk or --coord there is one master, "
			    "the quorum is 1",
			    c->quorum);
	}
	if (c->quorum == 0)
		c->quorum = 1;
	if ((rv = to_ms("zk_session_timeout", v->zk_session_timeout, UINT32_MAX, &ms, errmsg)) < 0)
		return rv;
	c->session_timeout_ms = (uint32_t)ms;
	if ((rv = to_ms("registry_fetch_timeout", v->registry_fetch_timeout, UINT32_MAX, &ms,
			errmsg)) < 0)
		return rv;
	c->fetch_timeout_ms = (uint32_t)ms;
	if ((rv = to_ms("registry_store_timeout", v->registry_store_timeout, UINT32_MAX, &ms,
			errmsg)) < 0)
		return rv;
	c->store_timeout_ms = (uint32_t)ms;
	if ((rv = to_ms("heartbeat_interval", v->heartbeat_interval, UINT32_MAX, &ms, errmsg)) < 0)
		return rv;
	c->heartbeat_interval_ms = (uint32_t)ms;
	if ((rv = to_ms("allocation_interval", v->allocation_interval, UINT32_MAX, &ms, errmsg)) <
	    0)
		return rv;
	c->allocation_interval_ms = (uint32_t)ms;
	c->offer_timeout_ms = 0;
	if (v->offer_timeout != 0) {
		if ((rv = to_ms("offer_timeout", v->offer_timeout, UINT64_MAX, &ms, errmsg)) < 0)
			return rv;
		c->offer_timeout_ms = ms;
	}
	if ((rv = to_ms("agent_ping_timeout", v->agent_ping_timeout, UINT32_MAX, &ms, errmsg)) < 0)
		return rv;
	c->ping_timeout_ms = (uint32_t)ms;
	c->max_ping_timeouts = (uint32_t)v->max_agent_ping_timeouts;
	if ((rv = to_ms("agent_reregister_timeout", v->agent_reregister_timeout, UINT64_MAX, &ms,
			errmsg)) < 0)
		return rv;
	c->reregister_timeout_ms = ms;
	if ((rv = to_ms("registry_max_agent_age", v->registry_max_agent_age, UINT64_MAX, &ms,
			errmsg)) < 0)
		return rv;
	c->max_agent_age_ms = ms;
	c->max_agent_count = (uint32_t)v->registry_max_agent_count;
	c->log_auto_initialize = v->log_auto_initialize;
	if (v->weights != NULL && v->weights[0] != '\0') {
		if ((rv = master_weights_parse(v->weights, NULL, NULL, errmsg)) < 0)
			return rv;
		c->weights = keel_xstrdup(v->weights);
	}
	if ((rv = master_auth_flags(c, v->auth_frameworks, v->auth_readwrite, v->auth_readonly,
				    v->credentials, v->acls, errmsg)) < 0)
		return rv;

	struct keel_buf json = KEEL_BUF_INIT;
	if (keel_flags_json(f, &json) < 0) {
		keel_buf_free(&json);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	c->flags_json = keel_buf_steal(&json, NULL);
	return 0;
}

int master_config_parse(int argc, char **argv, struct master_config *out, FILE *help_out,
			char *errmsg)
{
	struct master_flag_values v = {0};
	const struct keel_flag table[] = {
	    {"ip", KEEL_FLAG_STRING, &v.ip, "127.0.0.1",
	     "IPv4 address to listen on and to advertise to agents and the other masters."},
	    {"port", KEEL_FLAG_UINT64, &v.port, "5050",
	     "Port to listen on (HTTP API, agent protocol and log replica). 0 picks a free port.",
	     .max = "65535"},
	    {"hostname", KEEL_FLAG_STRING, &v.hostname, NULL,
	     "Hostname to advertise in MasterInfo and redirects (default: the --ip)."},
	    {"work_dir", KEEL_FLAG_STRING, &v.work_dir, NULL,
	     "Directory for the replicated log (required with --registry=replicated_log).",
	     .no_fetch = true},
	    {"cluster", KEEL_FLAG_STRING, &v.cluster, NULL, "Human readable name of the cluster."},
	    {"quorum", KEEL_FLAG_UINT64, &v.quorum, NULL,
	     "Replicas that make a quorum of the replicated log, which has 2*quorum-1 replicas: "
	     "one per master. Required with zk:// and etcd:// URLs; 1 for static://.",
	     .min = "1", .max = "128"},
	    {"zk", KEEL_FLAG_STRING, &v.zk, NULL,
	     "Coordination URL (zk://host:2181,.../path, etcd://host:2379,.../prefix or "
	     "static://host:port,...). Same as --coord; give one."},
	    {"coord", KEEL_FLAG_STRING, &v.coord, NULL,
	     "Coordination URL, as --zk. Neither: static://ip:port, a single master with no "
	     "external service."},
	    {"zk_session_timeout", KEEL_FLAG_DURATION, &v.zk_session_timeout, "10secs",
	     "ZooKeeper session timeout (etcd: lease TTL)."},
	    {"registry", KEEL_FLAG_ENUM, &v.registry, "replicated_log",
	     "Where the registry is kept: replicated_log (durable, needs --work_dir) or "
	     "in_memory (lost at exit; for tests).",
	     .choices = registry_choices},
	    {"registry_fetch_timeout", KEEL_FLAG_DURATION, &v.registry_fetch_timeout, "1mins",
	     "How long a newly elected leader may take to recover the registry before it "
	     "fail-stops."},
	    {"registry_store_timeout", KEEL_FLAG_DURATION, &v.registry_store_timeout, "20secs",
	     "How long a registry change may take to become durable before the master "
	     "fail-stops."},
	    {"heartbeat_interval", KEEL_FLAG_DURATION, &v.heartbeat_interval, "15secs",
	     "Interval between HEARTBEAT events on each scheduler's event stream (Mesos's "
	     "fixed 15 seconds by default)."},
	    {"allocation_interval", KEEL_FLAG_DURATION, &v.allocation_interval, "1secs",
	     "Longest time between an event that may change offers (an agent, a framework, "
	     "declined resources) and the allocation cycle that takes it in; events in between "
	     "share one cycle."},
	    {"offer_timeout", KEEL_FLAG_DURATION, &v.offer_timeout, "0secs",
	     "Time after which an outstanding offer is rescinded; 0secs (the default) means "
	     "never, as Mesos's unset flag."},
	    {"agent_ping_timeout", KEEL_FLAG_DURATION, &v.agent_ping_timeout, "15secs",
	     "Interval between the leader's pings of each agent; a ping without a pong by the "
	     "next one is missed."},
	    {"max_agent_ping_timeouts", KEEL_FLAG_UINT64, &v.max_agent_ping_timeouts, "5",
	     "Consecutive missed pings after which an agent is marked unreachable.", .min = "1",
	     .max = "1000000"},
	    {"agent_reregister_timeout", KEEL_FLAG_DURATION, &v.agent_reregister_timeout, "10mins",
	     "After a failover, agents in the registry that have not re-registered within this "
	     "time are marked unreachable."},
	    {"registry_max_agent_age", KEEL_FLAG_DURATION, &v.registry_max_agent_age, "2weeks",
	     "Unreachable and gone agents older than this are pruned from the registry."},
	    {"registry_max_agent_count", KEEL_FLAG_UINT64, &v.registry_max_agent_count, "102400",
	     "At most this many unreachable (and gone) agents are kept in the registry.",
	     .min = "1", .max = "4294967295"},
	    {"weights", KEEL_FLAG_STRING, &v.weights, NULL,
	     "Role weights for the fair sharing of resources between roles, as "
	     "role1=weight1,role2=weight2 (each weight > 0; roles not listed weigh 1). A "
	     "weight set with UPDATE_WEIGHTS (kept in the registry) wins over this one."},
	    {"authenticate_frameworks", KEEL_FLAG_BOOL, &v.auth_frameworks, "false",
	     "Scheduler API calls need HTTP Basic credentials from --credentials (else 401)."},
	    {"authenticate_http_readwrite", KEEL_FLAG_BOOL, &v.auth_readwrite, "false",
	     "Operator API calls that change state (MARK_AGENT_GONE, DRAIN_AGENT, "
	     "UPDATE_QUOTA, ...) need HTTP Basic credentials."},
	    {"authenticate_http_readonly", KEEL_FLAG_BOOL, &v.auth_readonly, "false",
	     "Operator calls and endpoints that only read (GET_*, /state, /roles, "
	     "/metrics/snapshot) need HTTP Basic credentials."},
	    {"credentials", KEEL_FLAG_STRING, &v.credentials, NULL,
	     "Path (or file://path) of a JSON file of principals and secrets, as Mesos's: "
	     "{\"credentials\":[{\"principal\":\"p\",\"secret\":\"s\"}]}.",
	     .no_fetch = true},
	    {"acls", KEEL_FLAG_STRING, &v.acls, NULL,
	     "Mesos's ACL JSON (or file://path): permissive, register_frameworks (principals -> "
	     "roles), run_tasks (principals -> users), teardown_frameworks (principals -> "
	     "framework_principals). None: everything is allowed."},
	    {"log_auto_initialize", KEEL_FLAG_BOOL, &v.log_auto_initialize, "true",
	     "Initialise the replicated log automatically when every replica is empty."},
	};
	struct keel_flags f;
	int rv;

	memset(out, 0, sizeof(*out));
	rv = keel_flags_init(&f, table, KEEL_ARRAY_SIZE(table), "KEEL_MASTER_");
	if (rv == 0)
		rv = keel_flags_parse(&f, argc, argv, help_out);
	if (rv == 0 && f.num_args > 0)
		rv = keel_errf(f.errmsg, -EINVAL,
			       "unexpected argument \"%s\" (flags are --name=value)", f.args[0]);
	if (rv < 0 || rv == KEEL_FLAGS_HELP) {
		if (rv < 0)
			keel_errf(errmsg, rv, "%s", f.errmsg);
		keel_flags_free(&f);
		return rv;
	}
	rv = config_fill(out, &f, &v, errmsg);
	keel_flags_free(&f);
	if (rv < 0)
		master_config_free(out);
	return rv;
}

int master_weights_parse(const char *text, int (*fn)(const char *role, double weight, void *arg),
			 void *arg, char *errmsg)
{
	const char *p = text;

	while (*p != '\0') {
		size_t len = strcspn(p, ","), rlen;
		const char *eq = memchr(p, '=', len);
		char role[256], num[64], *end;
		double w;
		int rv;

		if (eq == NULL || eq == p || (size_t)(eq - p) >= sizeof(role) ||
		    len - (size_t)(eq - p) - 1 >= sizeof(num) || len - (size_t)(eq - p) == 1)
			return keel_errf(errmsg, -EINVAL,
					 "--weights: expected role=weight, got '%.*s'", (int)len,
					 p);
		rlen = (size_t)(eq - p);
		memcpy(role, p, rlen);
		role[rlen] = '\0';
		memcpy(num, eq + 1, len - rlen - 1);
		num[len - rlen - 1] = '\0';
		w = strtod(num, &end);
		if (*end != '\0' || !isfinite(w) || !(w > 0))
			return keel_errf(errmsg, -EINVAL,
					 "--weights: the weight of role '%s' must be a number > 0, "
					 "got '%s'",
					 role, num);
		if (strcmp(role, "*") == 0 || role[0] == '.' || role[0] == '-' ||
		    strpbrk(role, " \t\n/\\") != NULL)
			return keel_errf(errmsg, -EINVAL, "--weights: invalid role name '%s'",
					 role);
		if (fn != NULL && (rv = fn(role, w, arg)) < 0)
			return keel_errf(errmsg, rv,
					 "--weights: cannot set the weight of role '%s'", role);
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

void master_config_free(struct master_config *c)
{
	keel_free(c->weights);
	keel_free(c->ip);
	keel_free(c->hostname);
	keel_free(c->work_dir);
	keel_free(c->cluster);
	keel_free(c->coord_url);
	keel_free(c->credentials);
	keel_free(c->acls);
	keel_free(c->flags_json);
	memset(c, 0, sizeof(*c));
}
