/* The agent's operator endpoints: /health, /state, /metrics/snapshot,
 * /files/{browse,read,download}. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "runtime/alloc.h"
#include "runtime/pbjson.h"
#include "runtime/util.h"

#define FILES_READ_MAX (16u << 20) /* longest /files/read answer */

/* Answers with the JSON of j (stolen) and status. */
static void http_json(struct keel_http_req *req, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (!s)
		keel_http_respond_text(req, 500, "out of memory");
	else
		keel_http_respond(req, status, "application/json", NULL, s, strlen(s));
	free(s);
	json_decref(j);
}

static void http_health(struct keel_http_req *req, void *arg)
{
	keel_http_respond(req, 200, NULL, NULL, NULL, 0);
}

static const char *http_state_name(Mesos__V1__TaskState s)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)s);

	return v ? v->name : "TASK_UNKNOWN";
}

/* The resources of AgentInfo as Mesos's /state prints them: {"cpus":4,"mem":..,"ports":"[..]"}. */
static json_t *http_resources(const Mesos__V1__AgentInfo *info)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < info->n_resources; i++) {
		const Mesos__V1__Resource *r = info->resources[i];

		if (r->scalar) {
			json_object_set_new(o, r->name, json_real(r->scalar->value));
		} else if (r->ranges) {
			char buf[1024];
			size_t n = 0;

			n += (size_t)snprintf(buf, sizeof(buf), "[");
			for (size_t k = 0; k < r->ranges->n_range && n < sizeof(buf); k++)
				n += (size_t)snprintf(
				    buf + n, sizeof(buf) - n, "%s%llu-%llu", k ? ", " : "",
				    (unsigned long long)r->ranges->range[k]->begin,
				    (unsigned long long)r->ranges->range[k]->end);
			if (n < sizeof(buf))
				snprintf(buf + n, sizeof(buf) - n, "]");
			json_object_set_new(o, r->name, json_string(buf));
		}
	}
	return o;
}

static void http_state(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	json_t *st = json_object(), *fws = json_object(), *list = json_array();
	const char *key;
	void *val;
	size_t pos = 0;

	json_object_set_new(st, "version", json_string("keel-agent"));
	json_object_set_new(st, "id", json_string(a->agent_id ? a->agent_id : ""));
	json_object_set_new(st, "pid", json_string(a->key));
	json_object_set_new(st, "hostname", json_string(a->info->hostname));
	json_object_set_new(st, "master_hostname", json_string(a->leader));
	json_object_set_new(st, "resources", http_resources(a->info));
	json_object_set_new(st, "flags", json_pack("{s:s}", "work_dir", a->work_dir));
	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		struct agent_task *t = val;
		json_t *fw = json_object_get(fws, t->framework_id), *task;

		if (!fw) {
			fw = json_pack("{s:s,s:s,s:[],s:[]}", "id", t->framework_id, "name",
				       t->run && t->run->framework->name ? t->run->framework->name
									 : "",
				       "executors", "completed_executors");
			json_object_set_new(fws, t->framework_id, fw);
			json_array_append(list, fw);
		}
		task = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", t->task_id, "name",
				 t->run && t->run->task ? t->run->task->name : "", "framework_id",
				 t->framework_id, "state", http_state_name(t->state),
				 "container_id", t->ctr_id);
		if (t->ctr_id[0]) {
			char dir[4096];

			snprintf(dir, sizeof(dir), "%s/sandboxes/%s", a->work_dir, t->ctr_id);
			json_object_set_new(task, "directory", json_string(dir));
		}
		json_array_append_new(
		    json_object_get(fw, "executors"),
		    json_pack("{s:s,s:s,s:[o]}", "id", t->task_id, "directory",
			      json_string_value(json_object_get(task, "directory")) ?: "", "tasks",
			      task));
	}
	json_object_set_new(st, "frameworks", list);
	json_object_set_new(st, "completed_frameworks", json_array());
	json_decref(fws);
	http_json(req, 200, st);
}

static void http_metrics(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	json_t *m = json_object();
	size_t running = 0, staging = 0;
	const char *key;
	void *val;
	size_t pos = 0;

	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		struct agent_task *t = val;

		running += t->state == MESOS__V1__TASK_STATE__TASK_RUNNING;
		staging += t->state == MESOS__V1__TASK_STATE__TASK_STAGING ||
			   t->state == MESOS__V1__TASK_STATE__TASK_STARTING;
	}
	json_object_set_new(m, "slave/registered", json_real(a->epoch != 0));
	json_object_set_new(m, "slave/uptime_secs",
			    json_real((double)(keel_loop_clock_ns() - a->start_ns) / 1e9));
	json_object_set_new(m, "slave/tasks_running", json_real((double)running));
	json_object_set_new(m, "slave/tasks_staging", json_real((double)staging));
	json_object_set_new(m, "slave/tasks_finished", json_real((double)a->n_tasks_finished));
	json_object_set_new(m, "slave/tasks_failed", json_real((double)a->n_tasks_failed));
	json_object_set_new(m, "slave/tasks_killed", json_real((double)a->n_tasks_killed));
	json_object_set_new(m, "slave/tasks_lost", json_real((double)a->n_tasks_lost));
	json_object_set_new(m, "slave/tasks_error", json_real((double)a->n_tasks_error));
	json_object_set_new(m, "slave/valid_status_updates", json_real((double)a->n_updates_sent));
	json_object_set_new(m, "slave/status_update_acks", json_real((double)a->n_acks));
	json_object_set_new(m, "slave/registrations", json_real((double)a->n_registered));
	json_object_set_new(m, "slave/reregistrations", json_real((double)a->n_reregistered));
	json_object_set_new(m, "slave/pings", json_real((double)a->n_pings));
	json_object_set_new(m, "slave/stale_epoch_messages", json_real((double)a->n_stale));
	json_object_set_new(m, "slave/checkpoint_commits",
			    json_real((double)agent_store_commits(a->store)));
	http_json(req, 200, m);
}

static void http_statistics(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	json_t *list = json_array();
	const char *key;
	void *val;
	size_t pos = 0;

	while (keel_hmap_next(&a->tasks, &pos, &key, &val)) {
		struct agent_task *t = val;
		struct keel_ctr_usage u;

		if (!t->ctr_id[0] || !keel_hmap_get(&a->by_ctr, t->ctr_id) ||
		    keel_ctr_usage(a->ctr, t->ctr_id, &u) < 0)
			continue;
		json_array_append_new(list, json_pack("{s:s,s:s,s:{s:f,s:I,s:I}}", "executor_id",
						      t->task_id, "framework_id", t->framework_id,
						      "statistics", "cpus_system_time_secs",
						      (double)u.cpu_usec / 1e6, "mem_rss_bytes",
						      (json_int_t)u.mem_bytes, "processes",
						      (json_int_t)u.pids));
	}
	http_json(req, 200, list);
}

/* Copies the decoded value of query parameter name into out; false when absent. */
static bool http_param(const struct keel_http_req *req, const char *name, char *out, size_t size)
{
	const struct keel_http_head *h = keel_http_req_head(req);
	const char *q = h->query, *end = q ? q + h->query_len : NULL;
	size_t nlen = strlen(name);

	while (q && q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;

		if ((size_t)(stop - q) > nlen && memcmp(q, name, nlen) == 0 && q[nlen] == '=') {
			size_t n = 0;

			for (const char *p = q + nlen + 1; p < stop && n + 1 < size; p++) {
				unsigned v;

				if (*p == '%' && stop - p >= 3 && sscanf(p + 1, "%2x", &v) == 1) {
					out[n++] = (char)v;
					p += 2;
				} else {
					out[n++] = *p == '+' ? ' ' : *p;
				}
			}
			out[n] = '\0';
			return true;
		}
		q = amp ? amp + 1 : NULL;
	}
	return false;
}

/*
 * Turns Mesos's virtual sandbox path
 * `/frameworks/<framework id>/executors/<executor id>/runs/latest[/rest]` into the host path of
 * that sandbox (a command task's executor ID is its task ID). Returns false when `want` is not
 * of that form or names no known task with a container.
 */
static bool http_virtual_path(struct agent *a, const char *want, char *out, size_t n)
{
	static const char fw[] = "/frameworks/", ex[] = "/executors/", runs[] = "/runs/latest";
	const char *fid = want + sizeof(fw) - 1, *e, *eid, *r, *rest;
	char key[1024], ctr[KEEL_CTR_ID_SIZE];
	struct agent_task *t;

	if (strncmp(want, fw, sizeof(fw) - 1) != 0 || !(e = strstr(fid, ex)))
		return false;
	eid = e + sizeof(ex) - 1;
	if (!(r = strstr(eid, runs)))
		return false;
	rest = r + sizeof(runs) - 1;
	if ((*rest != '\0' && *rest != '/') ||
	    snprintf(key, sizeof(key), "%.*s/%.*s", (int)(e - fid), fid, (int)(r - eid), eid) >=
		(int)sizeof(key))
		return false;
	t = keel_hmap_get(&a->tasks, key);
	if (t != NULL && t->ctr_id[0] != '\0')
		snprintf(ctr, sizeof(ctr), "%s", t->ctr_id);
	else if (!agent_gc_sandbox_of(a, key, ctr, sizeof(ctr))) /* forgotten, not yet removed */
		return false;
	return snprintf(out, n, "%s/sandboxes/%s%s", a->work_dir, ctr, rest) < (int)n;
}

/*
 * Resolves the `path` parameter (a host path, or Mesos's virtual
 * `/frameworks/F/executors/E/runs/latest/...`) to a host path inside <work_dir>/sandboxes;
 * answers and returns -1 when it is missing, absent or outside (symlinks and ".." resolved
 * first).
 */
static int http_sandbox_path(struct agent *a, struct keel_http_req *req, char *out)
{
	char want[PATH_MAX], host[PATH_MAX], root[PATH_MAX], base[PATH_MAX];
	size_t rl;

	if (!http_param(req, "path", want, sizeof(want))) {
		keel_http_respond_text(req, 400, "Expecting 'path=value' in query");
		return -1;
	}
	if (http_virtual_path(a, want, host, sizeof(host)))
		memcpy(want, host, sizeof(want));
	snprintf(base, sizeof(base), "%s/sandboxes", a->work_dir);
	if (!realpath(base, root) || !realpath(want, out)) {
		keel_http_respond_text(req, 404, "No such file or directory");
		return -1;
	}
	rl = strlen(root);
	if (strncmp(out, root, rl) != 0 || (out[rl] != '/' && out[rl] != '\0')) {
		keel_http_respond_text(req, 403, "path is outside the sandboxes");
		return -1;
	}
	return 0;
}

static void http_files_read(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	char path[PATH_MAX], num[32];
	long long offset = 0, length = -1;
	cleanup_close int fd = -1;
	struct stat sb;
	char *data;
	ssize_t n;

	if (http_sandbox_path(a, req, path) < 0)
		return;
	if (http_param(req, "offset", num, sizeof(num)) && sscanf(num, "%lld", &offset) != 1) {
		keel_http_respond_text(req, 400, "Failed to parse offset");
		return;
	}
	if (http_param(req, "length", num, sizeof(num)) &&
	    (sscanf(num, "%lld", &length) != 1 || length < -1)) {
		keel_http_respond_text(req, 400, "Failed to parse length");
		return;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(fd, &sb) < 0) {
		keel_http_respond_text(req, 404, "No such file");
		return;
	}
	if (S_ISDIR(sb.st_mode)) {
		keel_http_respond_text(req, 400, "Cannot read a directory");
		return;
	}
	if (offset == -1) {
		http_json(req, 200,
			  json_pack("{s:s,s:I}", "data", "", "offset", (json_int_t)sb.st_size));
		return;
	}
	if (offset < 0) {
		keel_http_respond_text(req, 400, "Negative offset");
		return;
	}
	if (offset > sb.st_size)
		offset = sb.st_size;
	if (length < 0 || length > FILES_READ_MAX)
		length = KEEL_MIN((long long)FILES_READ_MAX, (long long)sb.st_size - offset);
	if (!(data = keel_malloc((size_t)length + 1))) {
		keel_http_respond_text(req, 500, "out of memory");
		return;
	}
	n = pread(fd, data, (size_t)length, offset);
	if (n < 0) {
		keel_free(data);
		keel_http_respond_text(req, 500, "read failed");
		return;
	}
	http_json(req, 200,
		  json_pack("{s:s%,s:I}", "data", data, (size_t)n, "offset", (json_int_t)offset));
	keel_free(data);
}

static void http_files_browse(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	char path[PATH_MAX];
	json_t *list;
	DIR *d;
	struct dirent *e;

	if (http_sandbox_path(a, req, path) < 0)
		return;
	if (!(d = opendir(path))) {
		keel_http_respond_text(req, 404, "No such directory");
		return;
	}
	list = json_array();
	while ((e = readdir(d))) {
		char full[PATH_MAX + 256];
		struct stat sb;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		if (lstat(full, &sb) < 0)
			continue;
		json_array_append_new(
		    list, json_pack("{s:s,s:I,s:I,s:f,s:I}", "path", full, "size",
				    (json_int_t)sb.st_size, "mode", (json_int_t)sb.st_mode, "mtime",
				    (double)sb.st_mtime, "nlink", (json_int_t)sb.st_nlink));
	}
	closedir(d);
	http_json(req, 200, list);
}

static void http_files_download(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	char path[PATH_MAX];
	cleanup_close int fd = -1;
	struct stat sb;
	char *data;
	ssize_t n;

	if (http_sandbox_path(a, req, path) < 0)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0 ||
	    !S_ISREG(sb.st_mode)) {
		keel_http_respond_text(req, 404, "No such file");
		return;
	}
	if (sb.st_size > (off_t)FILES_READ_MAX * 4) {
		keel_http_respond_text(req, 413, "file too large to download here");
		return;
	}
	if (!(data = keel_malloc((size_t)sb.st_size + 1))) {
		keel_http_respond_text(req, 500, "out of memory");
		return;
	}
	n = pread(fd, data, (size_t)sb.st_size, 0);
	if (n < 0)
		keel_http_respond_text(req, 500, "read failed");
	else
		keel_http_respond(req, 200, "application/octet-stream", NULL, data, (size_t)n);
	keel_free(data);
}

int agent_http_add(struct agent *a)
{
	static const struct {
		const char *path;	   /* route */
		keel_http_handler handler; /* its handler */
	} routes[] = {
	    {"/health", http_health},
	    {"/state", http_state},
	    {"/state.json", http_state},
	    {"/metrics/snapshot", http_metrics},
	    {"/monitor/statistics", http_statistics},
	    {"/monitor/statistics.json", http_statistics},
	    {"/files/read", http_files_read},
	    {"/files/read.json", http_files_read},
	    {"/files/browse", http_files_browse},
	    {"/files/browse.json", http_files_browse},
	    {"/files/download", http_files_download},
	};
	int rv;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if ((rv = keel_http_server_route(a->server, KEEL_HTTP_GET, routes[i].path,
						 routes[i].handler, a)) < 0)
			return rv;
	return 0;
}
