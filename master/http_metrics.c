/* GET /metrics/snapshot: the master's counters and gauges under Mesos's metric names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "auth.h"
#include "http_api.h"
#include "http_json.h"
#include "master_int.h"
#include "offers.h"
#include "sched.h"
#include "tasks.h"
#include "registrar.h"
#include "runtime/http_server.h"

/* Appends one metric (the table is sized for every name below). */
static void add(struct master_metric *out, size_t *n, const char *name, double value)
{
	if (*n >= MASTER_METRICS_MAX)
		abort(); /* a programming error: MASTER_METRICS_MAX is too small */
	out[*n].name = name;
	out[*n].value = value;
	(*n)++;
}

/* Totals of the scalar resources Mesos reports per master, over the registered agents. */
struct totals {
	double cpus, gpus, mem, disk; /* non-revocable scalar totals */
};

static void totals_sum(const struct master *m, struct totals *t)
{
	size_t pos = 0;
	const char *key;
	void *value;

	memset(t, 0, sizeof(*t));
	while (keel_hmap_next(&m->agents.by_id, &pos, &key, &value)) {
		const struct master_agent *a = value;
		if (a->info == NULL ||
		    (a->state != MASTER_AGENT_ACTIVE && a->state != MASTER_AGENT_MARKING))
			continue;
		for (size_t i = 0; i < a->info->n_resources; i++) {
			const Mesos__V1__Resource *r = a->info->resources[i];
			double v;
			if (r->type != MESOS__V1__VALUE__TYPE__SCALAR || r->scalar == NULL ||
			    r->revocable != NULL || r->name == NULL)
				continue;
			v = r->scalar->value;
			if (strcmp(r->name, "cpus") == 0)
				t->cpus += v;
			else if (strcmp(r->name, "gpus") == 0)
				t->gpus += v;
			else if (strcmp(r->name, "mem") == 0)
				t->mem += v;
			else if (strcmp(r->name, "disk") == 0)
				t->disk += v;
		}
	}
}

static int metric_cmp(const void *a, const void *b)
{
	const struct master_metric *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* The system/ metrics libprocess reports. */
static void system_metrics(struct master_metric *out, size_t *n)
{
	struct sysinfo si;
	double load[3];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus > 0)
		add(out, n, "system/cpus_total", (double)cpus);
	if (getloadavg(load, 3) == 3) {
		add(out, n, "system/load_1min", load[0]);
		add(out, n, "system/load_5min", load[1]);
		add(out, n, "system/load_15min", load[2]);
	}
	if (sysinfo(&si) == 0) {
		add(out, n, "system/mem_total_bytes", (double)si.totalram * si.mem_unit);
		add(out, n, "system/mem_free_bytes", (double)si.freeram * si.mem_unit);
	}
}

/* Offers, tasks by state (gauges for live states, counters for terminal ones, as Mesos), and
 * the allocator's cycles. */
static void tasks_and_offers(struct master *m, struct master_metric *out, size_t *n)
{
	static const struct {
		const char *name;
		Mesos__V1__TaskState state;
		bool terminal;
	} states[] = {
	    {"master/tasks_staging", MESOS__V1__TASK_STATE__TASK_STAGING, false},
	    {"master/tasks_starting", MESOS__V1__TASK_STATE__TASK_STARTING, false},
	    {"master/tasks_running", MESOS__V1__TASK_STATE__TASK_RUNNING, false},
	    {"master/tasks_killing", MESOS__V1__TASK_STATE__TASK_KILLING, false},
	    {"master/tasks_unreachable", MESOS__V1__TASK_STATE__TASK_UNREACHABLE, false},
	    {"master/tasks_finished", MESOS__V1__TASK_STATE__TASK_FINISHED, true},
	    {"master/tasks_failed", MESOS__V1__TASK_STATE__TASK_FAILED, true},
	    {"master/tasks_killed", MESOS__V1__TASK_STATE__TASK_KILLED, true},
	    {"master/tasks_lost", MESOS__V1__TASK_STATE__TASK_LOST, true},
	    {"master/tasks_error", MESOS__V1__TASK_STATE__TASK_ERROR, true},
	    {"master/tasks_dropped", MESOS__V1__TASK_STATE__TASK_DROPPED, true},
	};
	struct master_offer_stats os;
	struct master_task_stats ts;

	master_offers_stats(m, &os);
	master_tasks_stats(m, &ts);
	add(out, n, "master/outstanding_offers", (double)os.outstanding);
	add(out, n, "master/offers_declined", (double)os.declined);
	add(out, n, "master/offers_rescinded", (double)os.rescinded);
	add(out, n, "allocator/mesos/allocation_runs", (double)os.cycles);
	add(out, n, "allocator/mesos/allocation_run_ms", (double)os.last_cycle_us / 1000.0);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(states); i++)
		add(out, n, states[i].name,
		    (double)(states[i].terminal ? ts.reached[states[i].state]
						: ts.per_state[states[i].state]));
	add(out, n, "master/tasks_launched", (double)ts.launched);
	add(out, n, "master/valid_status_updates", (double)ts.updates);
}

size_t master_metrics_collect(struct master *m, struct master_metric *out)
{
	const struct master_counters *c = &m->counters;
	struct totals t;
	size_t n = 0;
	uint64_t now = master_wall_ns();
	size_t unreachable = 0;

	totals_sum(m, &t);
	if (m->registrar != NULL)
		unreachable = registrar_count_agents(m->registrar, REGISTRAR_AGENT_UNREACHABLE);

	/* Mesos names. */
	add(out, &n, "master/elected", m->state == MASTER_LEADING ? 1 : 0);
	add(out, &n, "master/uptime_secs",
	    now > m->start_time_ns ? (double)(now - m->start_time_ns) / 1e9 : 0);
	add(out, &n, "master/slaves_active", (double)master_agents_count(m, MASTER_AGENT_ACTIVE));
	add(out, &n, "master/slaves_inactive",
	    (double)master_agents_count(m, MASTER_AGENT_MARKING));
	add(out, &n, "master/slaves_connected",
	    (double)master_agents_count(m, MASTER_AGENT_ACTIVE));
	add(out, &n, "master/slaves_disconnected",
	    (double)master_agents_count(m, MASTER_AGENT_MARKING));
	add(out, &n, "master/slaves_unreachable", (double)unreachable);
	add(out, &n, "master/slave_registrations", (double)c->registrations);
	add(out, &n, "master/slave_reregistrations", (double)c->reregistrations);
	add(out, &n, "master/slave_removals", (double)master_api_marked_gone(m));
	add(out, &n, "master/slave_unreachable_scheduled", (double)c->unreachable_scheduled);
	add(out, &n, "master/slave_unreachable_completed", (double)c->unreachable_completed);
	add(out, &n, "master/frameworks_active", (double)master_frameworks_connected(m));
	add(out, &n, "master/frameworks_inactive",
	    (double)(master_frameworks_count(m) - master_frameworks_connected(m)));
	add(out, &n, "master/frameworks_connected", (double)master_frameworks_connected(m));
	add(out, &n, "master/frameworks_disconnected",
	    (double)(master_frameworks_count(m) - master_frameworks_connected(m)));
	tasks_and_offers(m, out, &n);
	add(out, &n, "master/cpus_total", t.cpus);
	add(out, &n, "master/cpus_used", 0);
	add(out, &n, "master/cpus_percent", 0);
	add(out, &n, "master/gpus_total", t.gpus);
	add(out, &n, "master/gpus_used", 0);
	add(out, &n, "master/gpus_percent", 0);
	add(out, &n, "master/mem_total", t.mem);
	add(out, &n, "master/mem_used", 0);
	add(out, &n, "master/mem_percent", 0);
	add(out, &n, "master/disk_total", t.disk);
	add(out, &n, "master/disk_used", 0);
	add(out, &n, "master/disk_percent", 0);

	/* keel's own (no Mesos counterpart; docs/master-api.md). */
	add(out, &n, "master/agent_pings_sent", (double)c->pings_sent);
	add(out, &n, "master/agent_pongs_received", (double)c->pongs);
	add(out, &n, "master/agent_pings_missed", (double)c->pings_missed);
	add(out, &n, "master/agent_shutdowns_sent", (double)c->shutdowns_sent);
	add(out, &n, "master/agent_reachable", (double)c->reachable);
	add(out, &n, "master/agent_gone_answers", (double)c->gone_answers);
	add(out, &n, "master/agent_busy_answers", (double)c->busy);
	add(out, &n, "master/invalid_agent_messages", (double)c->invalid_messages);
	add(out, &n, "master/http_redirects", (double)c->redirects);
	add(out, &n, "master/http_unavailable", (double)c->unavailable);
	add(out, &n, "master/registry_recovery_ms", (double)m->recovered_ms);

	if (m->registrar != NULL) {
		struct registrar_stats st;
		registrar_get_stats(m->registrar, &st);
		add(out, &n, "registrar/log/recovered", st.recovered ? 1 : 0);
		add(out, &n, "registrar/state_fetch_ms", st.state_fetch_ms);
		add(out, &n, "registrar/state_store_ms", st.state_store_ms);
		add(out, &n, "registrar/queued_operations", (double)st.queued);
		add(out, &n, "registrar/registry_size_bytes", (double)st.registry_size);
		/* keel's own: the log entries behind those figures. */
		add(out, &n, "registrar/operations", (double)st.operations);
		add(out, &n, "registrar/appends", (double)st.appends);
		add(out, &n, "registrar/snapshots", (double)st.snapshots);
	}
	if (!m->cfg.in_memory)
		add(out, &n, "registrar/log/ensemble_size", (double)(2 * m->cfg.quorum - 1));
	system_metrics(out, &n);
	qsort(out, n, sizeof(*out), metric_cmp);
	return n;
}

void master_metrics_render(struct master *m, struct keel_buf *out)
{
	struct master_metric metrics[MASTER_METRICS_MAX];
	size_t n = master_metrics_collect(m, metrics);
	struct master_json w;

	master_json_init(&w, out);
	master_json_object_begin(&w);
	for (size_t i = 0; i < n; i++)
		master_json_kv_double(&w, metrics[i].name, metrics[i].value);
	master_json_object_end(&w);
}

static void on_snapshot(struct keel_http_req *req, void *arg)
{
	struct keel_buf body = KEEL_BUF_INIT;

	if (!master_auth_readonly(arg, req))
		return;
	master_metrics_render(arg, &body);
	keel_http_respond(req, 200, "application/json", NULL, keel_buf_rptr(&body),
			  keel_buf_size(&body));
	keel_buf_free(&body);
}

int master_metrics_routes(struct master *m, char *errmsg)
{
	int rv =
	    keel_http_server_route(m->server, KEEL_HTTP_GET, "/metrics/snapshot", on_snapshot, m);

	if (rv < 0)
		return keel_errf(errmsg, rv, "cannot route /metrics/snapshot");
	return 0;
}
