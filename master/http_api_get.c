/* The answers to the operator API's GET_* calls, built from the master's tables. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents_drain.h"
#include "http_api.h"
#include "master_int.h"
#include "registrar.h"
#include "sched.h"
#include "tasks.h"
#include "runtime/alloc.h"

typedef Mesos__V1__Master__Response__GetAgents__Agent api_agent;

/* A zeroed array the reply frees. */
static void *reply_alloc(struct master_api_reply *r, size_t n, size_t size)
{
	void *p;

	if (r->n_allocs == KEEL_ARRAY_SIZE(r->allocs))
		abort(); /* a programming error: allocs[] is sized for the largest reply */
	p = keel_xcalloc(n ? n : 1, size);
	r->allocs[r->n_allocs++] = p;
	return p;
}

void master_api_reply_free(struct master_api_reply *r)
{
	for (size_t i = 0; i < r->n_allocs; i++)
		keel_free(r->allocs[i]);
	r->n_allocs = 0;
	if (r->flags_json != NULL)
		json_decref(r->flags_json);
	r->flags_json = NULL;
}

bool master_api_reply_supported(Mesos__V1__Master__Call__Type type)
{
	switch (type) {
	case MESOS__V1__MASTER__CALL__TYPE__GET_HEALTH:
	case MESOS__V1__MASTER__CALL__TYPE__GET_FLAGS:
	case MESOS__V1__MASTER__CALL__TYPE__GET_VERSION:
	case MESOS__V1__MASTER__CALL__TYPE__GET_METRICS:
	case MESOS__V1__MASTER__CALL__TYPE__GET_MASTER:
	case MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS:
	case MESOS__V1__MASTER__CALL__TYPE__GET_FRAMEWORKS:
	case MESOS__V1__MASTER__CALL__TYPE__GET_EXECUTORS:
	case MESOS__V1__MASTER__CALL__TYPE__GET_TASKS:
	case MESOS__V1__MASTER__CALL__TYPE__GET_STATE:
		return true;
	default:
		return false;
	}
}

/* Whether a table agent counts as registered (GET_AGENTS lists it). */
static bool agent_registered(const struct master_agent *a)
{
	return a->info != NULL &&
	       (a->state == MASTER_AGENT_ACTIVE || a->state == MASTER_AGENT_MARKING);
}

/* GET_FLAGS: the flags from their /flags JSON form (an object of strings), in its order. */
static int build_flags(const struct master *m, struct master_api_reply *r, char *errmsg)
{
	const char *text = m->cfg.flags_json ? m->cfg.flags_json : "{}";
	json_error_t jerr;
	Mesos__V1__Flag *flags, **ptrs;
	const char *name;
	json_t *v;
	size_t i = 0;

	r->flags_json = json_loads(text, 0, &jerr);
	if (r->flags_json == NULL || !json_is_object(r->flags_json))
		return keel_errf(errmsg, -EINVAL, "the master's flags are not a JSON object: %s",
				 r->flags_json ? "not an object" : jerr.text);
	flags = reply_alloc(r, json_object_size(r->flags_json), sizeof(*flags));
	ptrs = reply_alloc(r, json_object_size(r->flags_json), sizeof(*ptrs));
	json_object_foreach(r->flags_json, name, v)
	{
		if (!json_is_string(v))
			continue;
		mesos__v1__flag__init(&flags[i]);
		flags[i].name = (char *)name;
		flags[i].value = (char *)json_string_value(v);
		ptrs[i] = &flags[i];
		i++;
	}
	r->flags.n_flags = i;
	r->flags.flags = ptrs;
	r->resp.get_flags = &r->flags;
	return 0;
}

static void build_metrics(struct master *m, struct master_api_reply *r)
{
	struct master_metric *all = reply_alloc(r, MASTER_METRICS_MAX, sizeof(*all));
	size_t n = master_metrics_collect(m, all);
	Mesos__V1__Metric *metrics = reply_alloc(r, n, sizeof(*metrics));
	Mesos__V1__Metric **ptrs = reply_alloc(r, n, sizeof(*ptrs));

	for (size_t i = 0; i < n; i++) {
		mesos__v1__metric__init(&metrics[i]);
		metrics[i].name = (char *)all[i].name;
		metrics[i].has_value = 1;
		metrics[i].value = all[i].value;
		ptrs[i] = &metrics[i];
	}
	r->metrics.n_metrics = n;
	r->metrics.metrics = ptrs;
	r->resp.get_metrics = &r->metrics;
}

static void build_version(struct master_api_reply *r)
{
	r->version_info.version = (char *)master_build_version();
	r->version_info.build_date = master_build_date(r->build_date, sizeof(r->build_date));
	r->version_info.has_build_time = 1;
	r->version_info.build_time = master_build_time();
	r->version.version_info = &r->version_info;
	r->resp.get_version = &r->version;
}

static void build_master(struct master *m, struct master_api_reply *r)
{
	r->master.master_info = m->info;
	r->master.has_start_time = 1;
	r->master.start_time = (double)m->start_time_ns / 1e9;
	if (m->elected_time_ns != 0) {
		r->master.has_elected_time = 1;
		r->master.elected_time = (double)m->elected_time_ns / 1e9;
	}
	r->resp.get_master = &r->master;
}

void master_api_agent_fill(struct master *m, const struct master_agent *a, api_agent *g,
			   Mesos__V1__TimeInfo *registered, Mesos__V1__DrainInfo *drain)
{
	mesos__v1__master__response__get_agents__agent__init(g);
	mesos__v1__time_info__init(registered);
	g->agent_info = a->info;
	g->active = a->state == MASTER_AGENT_ACTIVE;
	g->version = a->version ? a->version : (char *)"";
	registered->nanoseconds = (int64_t)a->registered_ns;
	g->registered_time = registered;
	g->n_total_resources = a->info->n_resources;
	g->total_resources = a->info->resources;
	master_drain_agent_fill(m, a->id, g, drain);
}

void master_api_framework_fill(const struct master_framework *fw,
			       Mesos__V1__Master__Response__GetFrameworks__Framework *f)
{
	mesos__v1__master__response__get_frameworks__framework__init(f);
	f->framework_info = fw->info;
	f->active = fw->stream != NULL;
	f->connected = fw->stream != NULL;
	f->recovered = false;
}

/* GetAgents: the registered agents, and the recovered ones (admitted, not back yet). */
static void build_agents(struct master *m, struct master_api_reply *r)
{
	size_t n = master_agents_count(m, MASTER_AGENT_ACTIVE) +
		   master_agents_count(m, MASTER_AGENT_MARKING);
	size_t n_awaiting = m->agents.awaiting.count, pid_bytes = 0, i = 0, k = 0;
	api_agent *agents = reply_alloc(r, n, sizeof(*agents));
	api_agent **ptrs = reply_alloc(r, n, sizeof(*ptrs));
	Mesos__V1__TimeInfo *times = reply_alloc(r, n, sizeof(*times));
	Mesos__V1__DrainInfo *drains = reply_alloc(r, n, sizeof(*drains));
	Mesos__V1__AgentInfo **recovered = reply_alloc(r, n_awaiting, sizeof(*recovered));
	size_t pos = 0;
	const char *key;
	void *value;
	char *p;

	/* One block for every pid: "slave(1)@" + the agent's address. */
	while (keel_hmap_next(&m->agents.by_id, &pos, &key, &value)) {
		const struct master_agent *a = value;
		if (agent_registered(a))
			pid_bytes +=
			    sizeof("slave(1)@") + (a->origin ? strlen(a->origin->name) : 0);
	}
	p = reply_alloc(r, pid_bytes, 1);
	pos = 0;
	while (keel_hmap_next(&m->agents.by_id, &pos, &key, &value) && i < n) {
		struct master_agent *a = value;
		api_agent *g = &agents[i];
		if (!agent_registered(a))
			continue;
		master_api_agent_fill(m, a, g, &times[i], &drains[i]);
		g->pid = p;
		p += sprintf(p, "slave(1)@%s", a->origin ? a->origin->name : "") + 1;
		ptrs[i] = g;
		i++;
	}
	pos = 0;
	while (m->registrar && keel_hmap_next(&m->agents.awaiting, &pos, &key, &value) &&
	       k < n_awaiting) {
		const Mesos__V1__AgentInfo *info = NULL;
		if (registrar_agent_state(m->registrar, key, &info, NULL) ==
			REGISTRAR_AGENT_ADMITTED &&
		    info != NULL)
			recovered[k++] = (Mesos__V1__AgentInfo *)info;
	}
	r->agents.n_agents = i;
	r->agents.agents = ptrs;
	r->agents.n_recovered_agents = k;
	r->agents.recovered_agents = recovered;
}

/* GetTasks: every task the leader knows (launched this term or reported by agents). */
static void build_tasks(struct master *m, struct master_api_reply *r)
{
	size_t n = master_tasks_count(m), pos = 0, i = 0;
	struct master_task *t;
	Mesos__V1__Task **tasks = reply_alloc(r, n, sizeof(*tasks));

	while (i < n && master_tasks_next(m, &pos, &t))
		tasks[i++] = t->task;
	r->tasks.n_tasks = i;
	r->tasks.tasks = tasks;
}

/* GetFrameworks: the frameworks subscribed to this leader (connected or not). */
static void build_frameworks(struct master *m, struct master_api_reply *r)
{
	size_t n = master_frameworks_count(m), pos = 0, i = 0;
	struct master_framework *fw;
	Mesos__V1__Master__Response__GetFrameworks__Framework **list =
	    reply_alloc(r, n, sizeof(*list));
	Mesos__V1__Master__Response__GetFrameworks__Framework *items =
	    reply_alloc(r, n, sizeof(*items));

	while (i < n && master_frameworks_next(m, &pos, &fw)) {
		Mesos__V1__Master__Response__GetFrameworks__Framework *f = &items[i];
		master_api_framework_fill(fw, f);
		list[i++] = f;
	}
	r->frameworks.n_frameworks = i;
	r->frameworks.frameworks = list;
}

int master_api_reply_build(struct master *m, const Mesos__V1__Master__Call *call,
			   struct master_api_reply *r, char *errmsg)
{
	memset(r, 0, sizeof(*r));
	mesos__v1__master__response__init(&r->resp);
	mesos__v1__master__response__get_health__init(&r->health);
	mesos__v1__master__response__get_flags__init(&r->flags);
	mesos__v1__master__response__get_version__init(&r->version);
	mesos__v1__version_info__init(&r->version_info);
	mesos__v1__master__response__get_metrics__init(&r->metrics);
	mesos__v1__master__response__get_master__init(&r->master);
	mesos__v1__master__response__get_state__init(&r->state);
	mesos__v1__master__response__get_agents__init(&r->agents);
	mesos__v1__master__response__get_frameworks__init(&r->frameworks);
	mesos__v1__master__response__get_executors__init(&r->executors);
	mesos__v1__master__response__get_tasks__init(&r->tasks);
	r->resp.has_type = 1;

	switch (call->type) {
	case MESOS__V1__MASTER__CALL__TYPE__GET_HEALTH:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_HEALTH;
		r->health.healthy = 1;
		r->resp.get_health = &r->health;
		return 0;
	case MESOS__V1__MASTER__CALL__TYPE__GET_FLAGS:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_FLAGS;
		return build_flags(m, r, errmsg);
	case MESOS__V1__MASTER__CALL__TYPE__GET_VERSION:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_VERSION;
		build_version(r);
		return 0;
	case MESOS__V1__MASTER__CALL__TYPE__GET_METRICS:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_METRICS;
		build_metrics(m, r);
		return 0;
	case MESOS__V1__MASTER__CALL__TYPE__GET_MASTER:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_MASTER;
		build_master(m, r);
		return 0;
	case MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_AGENTS;
		build_agents(m, r);
		r->resp.get_agents = &r->agents;
		return 0;
	case MESOS__V1__MASTER__CALL__TYPE__GET_FRAMEWORKS:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_FRAMEWORKS;
		build_frameworks(m, r);
		r->resp.get_frameworks = &r->frameworks;
		return 0;
	case MESOS__V1__MASTER__CALL__TYPE__GET_EXECUTORS:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_EXECUTORS;
		r->resp.get_executors = &r->executors;
		return 0;
	case MESOS__V1__MASTER__CALL__TYPE__GET_TASKS:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_TASKS;
		build_tasks(m, r);
		r->resp.get_tasks = &r->tasks;
		return 0;
	case MESOS__V1__MASTER__CALL__TYPE__GET_STATE:
		r->resp.type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_STATE;
		build_agents(m, r);
		build_frameworks(m, r);
		build_tasks(m, r);
		r->state.get_agents = &r->agents;
		r->state.get_frameworks = &r->frameworks;
		r->state.get_executors = &r->executors;
		r->state.get_tasks = &r->tasks;
		r->resp.get_state = &r->state;
		return 0;
	default:
		return keel_errf(errmsg, -ENOTSUP, "call type %d has no GET answer", call->type);
	}
}
