/* keelctl leader|agents|frameworks|tasks|roles, task log, agent drain|gone: the operator API v1
 * on the leading master. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coord/coord.h"
#include "keelctl.h"
#include "runtime/http_client.h"
#include "runtime/loop.h"

/* One keelctl run against the master. */
struct km {
	struct keel_loop *loop; /* the loop */
	const char *url;	/* --master or KEEL_MASTER */
	char leader[300];	/* host:port of the leader once known */
	bool found;		/* leader known (or none: err set) */
	int err;		/* why not */
	bool json;		/* --json */
	int64_t timeout_ms;	/* --timeout */
	/* the last answer */
	bool done;	    /* it arrived */
	int rv;		    /* negative errno, or 0 */
	int status;	    /* HTTP status */
	char *body;	    /* body (owned) */
	size_t body_len;    /* its length */
	char location[300]; /* host:port of a 307 */
};

static void on_leader(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	struct km *k = arg;
	const Mesos__V1__MasterInfo *mi = l->info;
	const char *host = NULL;
	unsigned port = 0;

	if (!l->present || mi == NULL)
		return; /* keep waiting: progress is printed meanwhile */
	if (mi->address != NULL) {
		host = mi->address->ip != NULL ? mi->address->ip : mi->address->hostname;
		port = (unsigned)mi->address->port;
	}
	if (host == NULL) {
		host = mi->hostname;
		port = mi->port;
	}
	if (host == NULL || port == 0)
		return;
	snprintf(k->leader, sizeof(k->leader), "%s:%u", host, port);
	k->found = true;
}

/* Finds the leader: a coordination URL through the detector, else host:port as given. */
static int find_leader(struct km *k)
{
	struct coord *c = NULL;
	struct coord_detector *d = NULL;
	char msg[KEEL_ERRMSG_SIZE];
	uint64_t start, last = 0;
	const char *u = k->url;

	if (strstr(u, "://") == NULL || strncmp(u, "http://", 7) == 0) {
		if (strncmp(u, "http://", 7) == 0)
			u += 7;
		snprintf(k->leader, sizeof(k->leader), "%.*s", (int)strcspn(u, "/,"), u);
		return 0;
	}
	if (coord_open(k->loop, u, NULL, &c, msg) < 0 ||
	    coord_detect(c, COORD_DETECT_MASTER_INFO, on_leader, k, &d, msg) < 0) {
		fprintf(stderr, "keelctl: %s\n", msg);
		if (c != NULL)
			coord_close(c, 0);
		return -EINVAL;
	}
	start = keel_loop_clock_ns() / 1000000;
	while (!k->found) {
		uint64_t now = keel_loop_clock_ns() / 1000000;
		if ((int64_t)(now - start) > k->timeout_ms)
			break;
		if (now - last >= 1000 && now - start >= 500) {
			fprintf(stderr, "keelctl: waiting for a leading master at %s (%llus)...\n",
				u, (unsigned long long)((now - start) / 1000));
			last = now;
		}
		keel_loop_run_once(k->loop, 100);
	}
	coord_detector_close(d);
	coord_close(c, 0);
	if (!k->found) {
		fprintf(stderr, "keelctl: no leading master at %s\n", u);
		return -ETIMEDOUT;
	}
	return 0;
}

static void on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct km *k = arg;
	const char *loc;
	size_t ll;

	k->done = true;
	k->rv = err;
	if (err < 0)
		return;
	k->status = resp->status;
	k->body = malloc(resp->body_len + 1);
	if (k->body != NULL) {
		memcpy(k->body, resp->body, resp->body_len);
		k->body[resp->body_len] = '\0';
		k->body_len = resp->body_len;
	}
	loc = keel_http_header_get(resp->head, "Location", &ll);
	if (resp->status == 307 && loc != NULL) {
		const char *p = loc, *end = loc + ll;
		if (ll > 2 && p[0] == '/' && p[1] == '/')
			p += 2;
		else if (ll > 7 && strncmp(p, "http://", 7) == 0)
			p += 7;
		const char *slash = memchr(p, '/', (size_t)(end - p));
		snprintf(k->location, sizeof(k->location), "%.*s",
			 (int)((slash != NULL ? slash : end) - p), p);
	}
}

/* One request to host:port; follows up to 3 redirects to the leader. */
static int request(struct km *k, const char *method, const char *path, const char *json_body)
{
	static const struct keel_http_client_cbs cbs = {.on_done = on_done};
	const char *hdrs[] = {"Accept", "application/json", NULL};

	for (int hop = 0; hop < 4; hop++) {
		struct keel_http_client *c = NULL;
		char host[sizeof(k->leader)], msg[KEEL_ERRMSG_SIZE], *colon;
		unsigned long port;

		snprintf(host, sizeof(host), "%s", k->leader);
		colon = strrchr(host, ':');
		if (colon == NULL) {
			fprintf(stderr, "keelctl: master \"%s\" is not host:port\n", k->leader);
			return -EINVAL;
		}
		*colon = '\0';
		port = strtoul(colon + 1, NULL, 10);
		if (host[0] == '[') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		if (port == 0 || port > 65535 ||
		    keel_http_client_new(k->loop, host, (uint16_t)port, NULL, &c, msg) < 0) {
			fprintf(stderr, "keelctl: bad master address \"%s\"\n", k->leader);
			return -EINVAL;
		}
		free(k->body);
		k->body = NULL;
		k->done = false;
		k->location[0] = '\0';
		if (keel_http_client_request(
			c, method, path, hdrs, json_body != NULL ? "application/json" : NULL,
			json_body, json_body != NULL ? strlen(json_body) : 0, &cbs, k) < 0) {
			keel_http_client_free(c);
			return -ENOMEM;
		}
		while (!k->done)
			keel_loop_run_once(k->loop, 100);
		keel_http_client_free(c);
		if (k->rv < 0) {
			fprintf(stderr, "keelctl: %s: %s\n", k->leader, strerror(-k->rv));
			return k->rv;
		}
		if (k->status != 307 || k->location[0] == '\0')
			return 0;
		snprintf(k->leader, sizeof(k->leader), "%s", k->location);
	}
	fprintf(stderr, "keelctl: too many redirects\n");
	return -ELOOP;
}

/* POSTs an operator call {"type":TYPE,...}; returns the parsed answer or NULL (message
 * printed). */
static json_t *call(struct km *k, const char *body)
{
	json_t *j;

	if (request(k, "POST", "/api/v1", body) < 0)
		return NULL;
	if (k->status != 200 && k->status != 202) {
		fprintf(stderr, "keelctl: %s answered %d: %s\n", k->leader, k->status,
			k->body != NULL ? k->body : "");
		return NULL;
	}
	if (k->body_len == 0)
		return json_object();
	j = json_loadb(k->body, k->body_len, 0, NULL);
	if (j == NULL)
		fprintf(stderr, "keelctl: %s sent JSON that does not parse\n", k->leader);
	return j;
}

static const char *str(json_t *o, const char *path)
{
	/* path: "a.b.c" of objects */
	char buf[128], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok != NULL && o != NULL;
	     tok = strtok_r(NULL, ".", &save))
		o = json_object_get(o, tok);
	return json_is_string(o) ? json_string_value(o) : "-";
}

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

static double scalar(json_t *resources, const char *name)
{
	double sum = 0;
	size_t i;
	json_t *r;

	json_array_foreach(resources, i, r)
	{
		if (strcmp(str(r, "name"), name) == 0)
			sum += num(json_object_get(r, "scalar"), "value");
	}
	return sum;
}

static json_t *list(json_t *ans, const char *outer, const char *inner)
{
	json_t *l = json_object_get(json_object_get(ans, outer), inner);

	return json_is_array(l) ? l : NULL; /* json_array_size(NULL) is 0 */
}

static int print(struct km *k, const char *what, json_t *ans)
{
	json_t *e, *arr;
	size_t i;

	if (k->json) {
		json_dumpf(ans, stdout, JSON_INDENT(2));
		putchar('\n');
		return KEELCTL_OK;
	}
	if (strcmp(what, "leader") == 0) {
		json_t *mi = json_object_get(json_object_get(ans, "get_master"), "master_info");
		printf("%-40s %-24s %s\n", "ID", "HOSTNAME", "ADDRESS");
		printf("%-40s %-24s %s\n", str(mi, "id"), str(mi, "hostname"), k->leader);
		return KEELCTL_OK;
	}
	if (strcmp(what, "agents") == 0) {
		arr = list(ans, "get_agents", "agents");
		printf("%-40s %-24s %-7s %8s %10s %s\n", "ID", "HOSTNAME", "ACTIVE", "CPUS", "MEM",
		       "DRAIN");
		json_array_foreach(arr, i, e)
		{
			json_t *ai = json_object_get(e, "agent_info");
			const char *drain = str(e, "drain_info.state");
			if (strcmp(drain, "-") == 0 &&
			    json_is_true(json_object_get(e, "deactivated")))
				drain = "DEACTIVATED";
			printf("%-40s %-24s %-7s %8.2f %10.0f %s\n", str(ai, "id.value"),
			       str(ai, "hostname"),
			       json_is_true(json_object_get(e, "active")) ? "yes" : "no",
			       scalar(json_object_get(e, "total_resources"), "cpus"),
			       scalar(json_object_get(e, "total_resources"), "mem"), drain);
		}
	} else if (strcmp(what, "frameworks") == 0) {
		arr = list(ans, "get_frameworks", "frameworks");
		printf("%-40s %-24s %-12s %-7s %s\n", "ID", "NAME", "USER", "ACTIVE", "CONNECTED");
		json_array_foreach(arr, i, e)
		{
			json_t *fi = json_object_get(e, "framework_info");
			printf("%-40s %-24s %-12s %-7s %s\n", str(fi, "id.value"), str(fi, "name"),
			       str(fi, "user"),
			       json_is_true(json_object_get(e, "active")) ? "yes" : "no",
			       json_is_true(json_object_get(e, "connected")) ? "yes" : "no");
		}
	} else if (strcmp(what, "tasks") == 0) {
		arr = list(ans, "get_tasks", "tasks");
		printf("%-30s %-20s %-16s %-40s %s\n", "ID", "NAME", "STATE", "FRAMEWORK", "AGENT");
		json_array_foreach(arr, i, e)
		{
			printf("%-30s %-20s %-16s %-40s %s\n", str(e, "task_id.value"),
			       str(e, "name"), str(e, "state"), str(e, "framework_id.value"),
			       str(e, "agent_id.value"));
		}
	} else {
		arr = list(ans, "get_roles", "roles");
		printf("%-24s %8s %s\n", "ROLE", "WEIGHT", "FRAMEWORKS");
		json_array_foreach(arr, i, e)
		{
			json_t *fw = json_object_get(e, "frameworks");
			printf("%-24s %8.2f %zu\n", str(e, "name"), num(e, "weight"),
			       json_is_array(fw) ? json_array_size(fw) : 0);
		}
	}
	return KEELCTL_OK;
}

/* Finds a task's framework, agent host:port; 0 or KEELCTL_* code. */
static int locate_task(struct km *k, const char *task, char *fw, size_t fwlen, char *agent,
		       size_t alen)
{
	json_t *ans, *e, *found = NULL;
	const char *lists[] = {"tasks", "completed_tasks", "orphan_tasks"};
	const char *aid;
	size_t i;

	ans = call(k, "{\"type\":\"GET_TASKS\"}");
	if (ans == NULL)
		return KEELCTL_FAIL;
	for (size_t l = 0; l < 3 && found == NULL; l++) {
		json_t *arr = list(ans, "get_tasks", lists[l]);
		json_array_foreach(arr, i, e)
		{
			if (strcmp(str(e, "task_id.value"), task) == 0) {
				found = e;
				break;
			}
		}
	}
	if (found == NULL) {
		fprintf(stderr, "keelctl: no task \"%s\"\n", task);
		json_decref(ans);
		return KEELCTL_NONE;
	}
	snprintf(fw, fwlen, "%s", str(found, "framework_id.value"));
	char aidb[256];
	snprintf(aidb, sizeof(aidb), "%s", str(found, "agent_id.value"));
	json_decref(ans);
	aid = aidb;
	ans = call(k, "{\"type\":\"GET_AGENTS\"}");
	if (ans == NULL)
		return KEELCTL_FAIL;
	agent[0] = '\0';
	json_t *agents = list(ans, "get_agents", "agents");
	json_array_foreach(agents, i, e)
	{
		json_t *ai = json_object_get(e, "agent_info");
		if (strcmp(str(ai, "id.value"), aid) == 0)
			snprintf(agent, alen, "%s:%.0f", str(ai, "hostname"),
				 num(ai, "port") != 0 ? num(ai, "port") : 5051);
	}
	json_decref(ans);
	if (agent[0] == '\0') {
		fprintf(stderr, "keelctl: agent %s of task %s is not known\n", aid, task);
		return KEELCTL_FAIL;
	}
	return 0;
}

static int task_log(struct km *k, const char *task, bool follow, const char *file)
{
	char fw[256], agent[300], path[1024];
	uint64_t offset = 0;
	int rc;

	rc = locate_task(k, task, fw, sizeof(fw), agent, sizeof(agent));
	if (rc != 0)
		return rc;
	snprintf(k->leader, sizeof(k->leader), "%s", agent);
	for (;;) {
		json_t *j, *data;
		snprintf(path, sizeof(path),
			 "/files/read?path=/frameworks/%s/executors/%s/runs/latest/%s&offset=%llu"
			 "&length=65536",
			 fw, task, file, (unsigned long long)offset);
		if (request(k, "GET", path, NULL) < 0)
			return KEELCTL_FAIL;
		if (k->status != 200) {
			fprintf(stderr, "keelctl: agent %s answered %d for %s\n", agent, k->status,
				file);
			return KEELCTL_FAIL;
		}
		j = json_loadb(k->body, k->body_len, 0, NULL);
		data = json_object_get(j, "data");
		if (!json_is_string(data)) {
			json_decref(j);
			fprintf(stderr, "keelctl: bad /files/read answer from %s\n", agent);
			return KEELCTL_FAIL;
		}
		fwrite(json_string_value(data), 1, json_string_length(data), stdout);
		offset += json_string_length(data);
		if (json_string_length(data) == 0) {
			json_decref(j);
			fflush(stdout);
			if (!follow)
				return KEELCTL_OK;
			struct timespec ts = {0, 500 * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		json_decref(j);
	}
}

/* How `keelctl agent drain` drains. */
struct drain_opts {
	double max_grace_s; /* --max-grace-period in seconds, or < 0 when not given */
	bool mark_gone;	    /* --mark-gone */
};

/* agent drain|deactivate|reactivate|gone ID: one operator call, answered 200 when durable. */
static int agent_op(struct km *k, const char *op, const char *id, const struct drain_opts *d)
{
	static const struct {
		const char *op, *type, *field, *done;
	} ops[] = {
	    {"drain", "DRAIN_AGENT", "drain_agent", "draining"},
	    {"deactivate", "DEACTIVATE_AGENT", "deactivate_agent", "deactivated"},
	    {"reactivate", "REACTIVATE_AGENT", "reactivate_agent", "reactivated"},
	    {"gone", "MARK_AGENT_GONE", "mark_agent_gone", "marked gone"},
	};
	char body[768], extra[128] = "";
	json_t *ans;
	size_t i = 0;

	while (strcmp(ops[i].op, op) != 0)
		i++;
	if (i == 0 && d->max_grace_s >= 0)
		snprintf(extra, sizeof(extra), ",\"max_grace_period\":{\"nanoseconds\":%.0f}",
			 d->max_grace_s * 1e9);
	if (i == 0 && d->mark_gone)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 ",\"mark_gone\":true");
	snprintf(body, sizeof(body), "{\"type\":\"%s\",\"%s\":{\"agent_id\":{\"value\":\"%s\"}%s}}",
		 ops[i].type, ops[i].field, id, extra);
	ans = call(k, body);
	if (ans == NULL)
		return KEELCTL_FAIL;
	json_decref(ans);
	printf("agent %s: %s\n", id, ops[i].done);
	return KEELCTL_OK;
}

/* Whether op is one of the agent subcommands. */
static bool agent_op_known(const char *op)
{
	return strcmp(op, "drain") == 0 || strcmp(op, "deactivate") == 0 ||
	       strcmp(op, "reactivate") == 0 || strcmp(op, "gone") == 0;
}

static const char completion[] =
    "# bash completion for keelctl: source <(keelctl completion bash)\n"
    "_keelctl() {\n"
    "  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
    "  case \"$COMP_CWORD:${COMP_WORDS[1]}\" in\n"
    "    1:*) COMPREPLY=($(compgen -W \"leader agents frameworks tasks roles task agent coord "
    "log cluster completion help\" -- \"$cur\")) ;;\n"
    "    2:log) COMPREPLY=($(compgen -W \"dump\" -- \"$cur\")) ;;\n"
    "    2:cluster) COMPREPLY=($(compgen -W \"up down url masters agents\" -- \"$cur\")) ;;\n"
    "    2:task) COMPREPLY=($(compgen -W \"log\" -- \"$cur\")) ;;\n"
    "    2:agent) COMPREPLY=($(compgen -W \"drain deactivate reactivate gone\" -- \"$cur\")) ;;\n"
    "    2:coord) COMPREPLY=($(compgen -W \"leader members\" -- \"$cur\")) ;;\n"
    "    2:completion) COMPREPLY=($(compgen -W \"bash\" -- \"$cur\")) ;;\n"
    "    *) COMPREPLY=($(compgen -W \"--master= --json --follow --stderr --timeout= --work_dir= "
    "--from= --dir= --ha --coord= --masters= --agents= --max-grace-period= --mark-gone\" -- "
    "\"$cur\")) ;;\n"
    "  esac\n"
    "}\n"
    "complete -o nospace -F _keelctl keelctl\n";

static void usage(FILE *f)
{
	fprintf(f, "usage: keelctl leader|agents|frameworks|tasks|roles [--master=URL] [--json]\n"
		   "       keelctl task log TASK [--follow] [--stderr] [--master=URL]\n"
		   "       keelctl agent drain AGENT_ID [--max-grace-period=SECONDS] [--mark-gone] "
		   "[--master=URL]\n"
		   "       keelctl agent deactivate|reactivate|gone AGENT_ID [--master=URL]\n"
		   "       keelctl completion bash\n"
		   "URL: zk://..., etcd://..., static://host:port, or host:port; default "
		   "$KEEL_MASTER.\n"
		   "--timeout=SECONDS waits that long for a leader [30].\n");
}

int keelctl_master(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"master", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"follow", no_argument, NULL, 'f'},
	    {"stderr", no_argument, NULL, 'e'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"max-grace-period", required_argument, NULL, 'g'},
	    {"mark-gone", no_argument, NULL, 'G'},
	    {NULL, 0, NULL, 0},
	};
	struct km k = {.timeout_ms = 30000};
	const char *cmd = argv[0], *types[][2] = {{"leader", "GET_MASTER"},
						  {"agents", "GET_AGENTS"},
						  {"frameworks", "GET_FRAMEWORKS"},
						  {"tasks", "GET_TASKS"},
						  {"roles", "GET_ROLES"}};
	bool follow = false, err_file = false, drain_flags = false;
	struct drain_opts drain = {.max_grace_s = -1, .mark_gone = false};
	char *end;
	char body[64];
	int c, rc = KEELCTL_USAGE;

	if (strcmp(cmd, "completion") == 0) {
		if (argc == 2 && strcmp(argv[1], "bash") == 0) {
			fputs(completion, stdout);
			return KEELCTL_OK;
		}
		usage(stderr);
		return KEELCTL_USAGE;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			k.url = optarg;
			break;
		case 'j':
			k.json = true;
			break;
		case 'f':
			follow = true;
			break;
		case 'e':
			err_file = true;
			break;
		case 't':
			k.timeout_ms = (int64_t)(strtod(optarg, NULL) * 1000);
			break;
		case 'g':
			drain.max_grace_s = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(drain.max_grace_s >= 0) ||
			    drain.max_grace_s > 1e9) {
				fprintf(
				    stderr,
				    "keelctl: --max-grace-period wants seconds >= 0, not '%s'\n",
				    optarg);
				return KEELCTL_USAGE;
			}
			drain_flags = true;
			break;
		case 'G':
			drain.mark_gone = true;
			drain_flags = true;
			break;
		case 'h':
			usage(stdout);
			return KEELCTL_OK;
		default:
			usage(stderr);
			return KEELCTL_USAGE;
		}
	}
	if (drain_flags && !(strcmp(cmd, "agent") == 0 && argc - optind == 2 &&
			     strcmp(argv[optind], "drain") == 0)) {
		fprintf(stderr,
			"keelctl: --max-grace-period and --mark-gone go with agent drain\n");
		return KEELCTL_USAGE;
	}
	if (strcmp(cmd, "agent") == 0 && !(argc - optind == 2 && agent_op_known(argv[optind]))) {
		usage(stderr);
		return KEELCTL_USAGE;
	}
	if (k.url == NULL)
		k.url = getenv("KEEL_MASTER");
	if (k.url == NULL) {
		fprintf(stderr, "keelctl: no master: pass --master=URL or set KEEL_MASTER\n");
		return KEELCTL_USAGE;
	}
	if (keel_loop_new(&k.loop, NULL, NULL) < 0) {
		fprintf(stderr, "keelctl: cannot create the event loop\n");
		return KEELCTL_FAIL;
	}
	if (find_leader(&k) < 0) {
		rc = KEELCTL_NONE;
		goto out;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(cmd, types[i][0]) != 0)
			continue;
		if (optind != argc)
			goto usage;
		json_t *ans;
		snprintf(body, sizeof(body), "{\"type\":\"%s\"}", types[i][1]);
		ans = call(&k, body);
		rc = ans != NULL ? print(&k, cmd, ans) : KEELCTL_FAIL;
		json_decref(ans);
		goto out;
	}
	if (strcmp(cmd, "task") == 0 && argc - optind == 2 && strcmp(argv[optind], "log") == 0) {
		rc = task_log(&k, argv[optind + 1], follow, err_file ? "stderr" : "stdout");
		goto out;
	}
	if (strcmp(cmd, "agent") == 0 && argc - optind == 2 && agent_op_known(argv[optind])) {
		rc = agent_op(&k, argv[optind], argv[optind + 1], &drain);
		goto out;
	}
usage:
	usage(stderr);
	rc = KEELCTL_USAGE;
out:
	free(k.body);
	keel_loop_free(k.loop);
	return rc;
}
