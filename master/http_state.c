/* GET /state, /flags and /version: the master's view in Mesos's JSON shapes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents_drain.h"
#include "auth.h"
#include "http_api.h"
#include "http_json.h"
#include "master_int.h"
#include "registrar.h"
#include "sched.h"
#include "tasks.h"
#include "runtime/alloc.h"
#include "runtime/http_server.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "0.0.0"
#endif

/* --- Build information --- */

const char *master_build_version(void)
{
	return KEEL_VERSION;
}

/* __DATE__ ("Nov 26 2026") and __TIME__ ("19:30:00") as a struct tm. */
static void build_tm(struct tm *tm)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *date = __DATE__, *tod = __TIME__;
	char mon[4] = {date[0], date[1], date[2], '\0'};
	const char *found = strstr(months, mon);

	memset(tm, 0, sizeof(*tm));
	tm->tm_mon = found ? (int)(found - months) / 3 : 0;
	tm->tm_mday = atoi(date + 4);
	tm->tm_year = atoi(date + 7) - 1900;
	tm->tm_hour = atoi(tod);
	tm->tm_min = atoi(tod + 3);
	tm->tm_sec = atoi(tod + 6);
}

char *master_build_date(char *out, size_t size)
{
	struct tm tm;

	build_tm(&tm);
	if (strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm) == 0 && size > 0)
		out[0] = '\0';
	return out;
}

double master_build_time(void)
{
	struct tm tm;

	build_tm(&tm);
	return (double)timegm(&tm); /* the compiler's clock, taken as UTC */
}

/* --- Resources and attributes as Mesos's flat maps --- */

/* One key of a flat resource map. */
struct flat_entry {
	const char *name;   /* resource name (borrowed) */
	bool revocable;	    /* the key gets "_revocable" */
	int type;	    /* MESOS__V1__VALUE__TYPE__* */
	double scalar;	    /* sum of scalars */
	size_t first_range; /* ranges of this entry: indexes into the range pool (linked) */
	size_t n_ranges;    /* how many */
	size_t first_item;  /* set items: indexes into the item pool (linked) */
	size_t n_items;	    /* how many */
};

/* A range or a set item in a pool, linked per entry. */
struct flat_range {
	uint64_t begin, end; /* inclusive bounds */
	size_t next;	     /* next of the same entry, or SIZE_MAX */
};
struct flat_item {
	const char *item; /* borrowed */
	size_t next;	  /* next of the same entry, or SIZE_MAX */
};

/* Scratch space reused across agents, so rendering allocates once per request, not per agent. */
struct flat {
	struct flat_entry *e; /* entries */
	size_t n, cap;	      /* used, allocated */
	struct flat_range *r; /* range pool */
	size_t nr, rcap;      /* used, allocated */
	struct flat_item *it; /* item pool */
	size_t ni, icap;      /* used, allocated */
	uint64_t (*tmp)[2];   /* sort space for one entry's ranges */
	size_t tcap;	      /* allocated */
};

static void flat_free(struct flat *f)
{
	keel_free(f->e);
	keel_free(f->r);
	keel_free(f->it);
	keel_free(f->tmp);
}

#define FLAT_GROW(ptr, used, cap)                                                                  \
	do {                                                                                       \
		if ((used) == (cap)) {                                                             \
			(cap) = (cap) ? 2 * (cap) : 16;                                            \
			(ptr) = keel_xrealloc((ptr), (cap) * sizeof(*(ptr)));                      \
		}                                                                                  \
	} while (0)

static struct flat_entry *flat_entry(struct flat *f, const char *name, bool revocable, int type)
{
	for (size_t i = 0; i < f->n; i++) {
		if (f->e[i].revocable == revocable && f->e[i].type == type &&
		    strcmp(f->e[i].name, name) == 0)
			return &f->e[i];
	}
	FLAT_GROW(f->e, f->n, f->cap);
	f->e[f->n] = (struct flat_entry){.name = name,
					 .revocable = revocable,
					 .type = type,
					 .first_range = SIZE_MAX,
					 .first_item = SIZE_MAX};
	return &f->e[f->n++];
}

/* The role a resource is reserved for, or NULL when unreserved. */
static const char *resource_role(const Mesos__V1__Resource *r)
{
	if (r->n_reservations > 0) {
		const char *role = r->reservations[r->n_reservations - 1]->role;
		return role ? role : "";
	}
	if (r->reservation != NULL)
		return r->role ? r->role : "";
	if (r->role != NULL && strcmp(r->role, "*") != 0)
		return r->role;
	return NULL;
}

/* Which resources a flat map takes. */
enum flat_filter {
	FLAT_ALL = 0,	     /* every resource */
	FLAT_UNRESERVED = 1, /* resources without a reservation */
	FLAT_ROLE = 2,	     /* resources reserved for one role */
};

static void flat_add(struct flat *f, const Mesos__V1__Resource *r)
{
	struct flat_entry *e;
	bool revocable = r->revocable != NULL;

	if (r->name == NULL)
		return;
	switch (r->type) {
	case MESOS__V1__VALUE__TYPE__SCALAR:
		e = flat_entry(f, r->name, revocable, r->type);
		if (r->scalar != NULL)
			e->scalar += r->scalar->value;
		break;
	case MESOS__V1__VALUE__TYPE__RANGES:
		e = flat_entry(f, r->name, revocable, r->type);
		for (size_t i = 0; r->ranges != NULL && i < r->ranges->n_range; i++) {
			FLAT_GROW(f->r, f->nr, f->rcap);
			f->r[f->nr] = (struct flat_range){r->ranges->range[i]->begin,
							  r->ranges->range[i]->end, e->first_range};
			e->first_range = f->nr++;
			e->n_ranges++;
		}
		break;
	case MESOS__V1__VALUE__TYPE__SET:
		e = flat_entry(f, r->name, revocable, r->type);
		for (size_t i = 0; r->set != NULL && i < r->set->n_item; i++) {
			bool dup = false;
			for (size_t k = e->first_item; k != SIZE_MAX; k = f->it[k].next)
				dup = dup || strcmp(f->it[k].item, r->set->item[i]) == 0;
			if (dup)
				continue;
			FLAT_GROW(f->it, f->ni, f->icap);
			f->it[f->ni] = (struct flat_item){r->set->item[i], e->first_item};
			e->first_item = f->ni++;
			e->n_items++;
		}
		break;
	default:
		break; /* TEXT resources have no flat form (Mesos skips them too) */
	}
}

/* Appends "<begin>-<end>" (after ", " unless first) to txt. */
static void range_text(struct keel_buf *txt, bool first, uint64_t begin, uint64_t end)
{
	char buf[48], *p = buf + sizeof(buf);

	do {
		*--p = (char)('0' + end % 10);
		end /= 10;
	} while (end != 0);
	*--p = '-';
	do {
		*--p = (char)('0' + begin % 10);
		begin /= 10;
	} while (begin != 0);
	if (!first) {
		*--p = ' ';
		*--p = ',';
	}
	if (keel_buf_append(txt, p, (size_t)(buf + sizeof(buf) - p)) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
}

static int range_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] > y[1]) - (x[1] < y[1]);
}

/* "[a-b, c-d]" with overlapping and adjacent ranges merged, as Mesos's Ranges arithmetic does. */
static void flat_ranges_text(struct flat *f, const struct flat_entry *e, struct keel_buf *txt)
{
	size_t n = 0;

	if (e->n_ranges > f->tcap) {
		f->tcap = e->n_ranges;
		f->tmp = keel_xrealloc(f->tmp, f->tcap * sizeof(*f->tmp));
	}
	for (size_t k = e->first_range; k != SIZE_MAX; k = f->r[k].next) {
		f->tmp[n][0] = f->r[k].begin;
		f->tmp[n][1] = f->r[k].end;
		n++;
	}
	qsort(f->tmp, n, sizeof(*f->tmp), range_cmp);
	keel_buf_clear(txt);
	if (keel_buf_putc(txt, '[') < 0)
		abort();
	for (size_t i = 0; i < n;) {
		uint64_t b = f->tmp[i][0], end = f->tmp[i][1];
		for (i++; i < n && (end == UINT64_MAX || f->tmp[i][0] <= end + 1); i++)
			end = KEEL_MAX(end, f->tmp[i][1]);
		range_text(txt, keel_buf_size(txt) == 1, b, end);
	}
	if (keel_buf_putc(txt, ']') < 0)
		abort();
}

static void flat_set_text(const struct flat *f, const struct flat_entry *e, struct keel_buf *txt)
{
	size_t n = 0;
	const char **items = keel_xcalloc(e->n_items ? e->n_items : 1, sizeof(*items));

	/* The pool links newest first: write them back in the order they came. */
	for (size_t k = e->first_item; k != SIZE_MAX; k = f->it[k].next)
		items[e->n_items - 1 - n++] = f->it[k].item;
	keel_buf_clear(txt);
	if (keel_buf_putc(txt, '{') < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if ((i > 0 && keel_buf_puts(txt, ", ") < 0) || keel_buf_puts(txt, items[i]) < 0)
			abort();
	}
	if (keel_buf_putc(txt, '}') < 0)
		abort();
	keel_free(items);
}

static void flat_key(struct master_json *w, const struct flat_entry *e)
{
	char key[320];

	if (!e->revocable) {
		master_json_key(w, e->name);
		return;
	}
	snprintf(key, sizeof(key), "%s_revocable", e->name);
	master_json_key(w, key);
}

/*
 * Writes resources as Mesos's flat map: cpus, gpus, mem and disk always (0 when absent), every
 * scalar summed, ranges as "[a-b, ...]", sets as "{a, b}"; revocable ones under "<name>_revocable".
 */
static void flat_render(struct master_json *w, struct flat *f, Mesos__V1__Resource *const *res,
			size_t n, enum flat_filter filter, const char *role, struct keel_buf *txt)
{
	static const char *const always[] = {"cpus", "gpus", "mem", "disk"};

	f->n = f->nr = f->ni = 0;
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(always); i++)
		flat_entry(f, always[i], false, MESOS__V1__VALUE__TYPE__SCALAR);
	for (size_t i = 0; i < n; i++) {
		const char *r = resource_role(res[i]);
		if ((filter == FLAT_UNRESERVED && r != NULL) ||
		    (filter == FLAT_ROLE && (r == NULL || strcmp(r, role) != 0)))
			continue;
		flat_add(f, res[i]);
	}
	master_json_object_begin(w);
	for (int pass = 0; pass < 3; pass++) {
		static const int order[] = {MESOS__V1__VALUE__TYPE__SCALAR,
					    MESOS__V1__VALUE__TYPE__RANGES,
					    MESOS__V1__VALUE__TYPE__SET};
		for (size_t i = 0; i < f->n; i++) {
			const struct flat_entry *e = &f->e[i];
			if (e->type != order[pass])
				continue;
			flat_key(w, e);
			if (e->type == MESOS__V1__VALUE__TYPE__SCALAR) {
				master_json_double(w, e->scalar);
				continue;
			}
			if (e->type == MESOS__V1__VALUE__TYPE__RANGES)
				flat_ranges_text(f, e, txt);
			else
				flat_set_text(f, e, txt);
			master_json_stringn(w, keel_buf_rptr(txt), keel_buf_size(txt));
		}
	}
	master_json_object_end(w);
}

/* {"role": {flat}, ...} for the reserved resources. */
static void reserved_render(struct master_json *w, struct flat *f, Mesos__V1__Resource *const *res,
			    size_t n, struct keel_buf *txt)
{
	master_json_object_begin(w);
	for (size_t i = 0; i < n; i++) {
		const char *role = resource_role(res[i]);
		bool seen = false;
		if (role == NULL)
			continue;
		for (size_t k = 0; k < i && !seen; k++) {
			const char *other = resource_role(res[k]);
			seen = other != NULL && strcmp(other, role) == 0;
		}
		if (seen)
			continue;
		master_json_key(w, role);
		flat_render(w, f, res, n, FLAT_ROLE, role, txt);
	}
	master_json_object_end(w);
}

/* Ranges or a set of a Value as Mesos prints them. */
static void value_text(const Mesos__V1__Attribute *a, struct keel_buf *txt)
{
	keel_buf_clear(txt);
	if (a->type == MESOS__V1__VALUE__TYPE__RANGES && a->ranges != NULL) {
		if (keel_buf_putc(txt, '[') < 0)
			abort();
		for (size_t i = 0; i < a->ranges->n_range; i++)
			range_text(txt, i == 0, a->ranges->range[i]->begin,
				   a->ranges->range[i]->end);
		if (keel_buf_putc(txt, ']') < 0)
			abort();
	} else if (a->type == MESOS__V1__VALUE__TYPE__SET && a->set != NULL) {
		if (keel_buf_putc(txt, '{') < 0)
			abort();
		for (size_t i = 0; i < a->set->n_item; i++) {
			if ((i > 0 && keel_buf_puts(txt, ", ") < 0) ||
			    keel_buf_puts(txt, a->set->item[i]) < 0)
				abort();
		}
		if (keel_buf_putc(txt, '}') < 0)
			abort();
	}
}

/* {"name": value, ...}: scalars as numbers, ranges and sets as Mesos prints them, text as is. */
static void attributes_render(struct master_json *w, const Mesos__V1__AgentInfo *info,
			      struct keel_buf *txt)
{
	master_json_object_begin(w);
	for (size_t i = 0; i < info->n_attributes; i++) {
		const Mesos__V1__Attribute *a = info->attributes[i];
		if (a->name == NULL)
			continue;
		switch (a->type) {
		case MESOS__V1__VALUE__TYPE__SCALAR:
			master_json_kv_double(w, a->name, a->scalar ? a->scalar->value : 0);
			break;
		case MESOS__V1__VALUE__TYPE__RANGES:
		case MESOS__V1__VALUE__TYPE__SET:
			value_text(a, txt);
			master_json_key(w, a->name);
			master_json_stringn(w, keel_buf_rptr(txt), keel_buf_size(txt));
			break;
		case MESOS__V1__VALUE__TYPE__TEXT:
			master_json_kv_string(w, a->name, a->text ? a->text->value : "");
			break;
		default:
			break;
		}
	}
	master_json_object_end(w);
}

/* id, hostname, port, attributes: Mesos's json(SlaveInfo). */
static void agent_info_fields(struct master_json *w, const char *id,
			      const Mesos__V1__AgentInfo *info, struct keel_buf *txt)
{
	master_json_kv_string(w, "id", id);
	master_json_kv_string(w, "hostname", info->hostname);
	master_json_kv_int(w, "port", info->has_port ? info->port : 5051);
	master_json_key(w, "attributes");
	attributes_render(w, info, txt);
}

/* Whether a table agent is registered as Mesos counts it (listed in /state "slaves"). */
static bool agent_listed(const struct master_agent *a)
{
	return a->info != NULL &&
	       (a->state == MASTER_AGENT_ACTIVE || a->state == MASTER_AGENT_MARKING);
}

/* The flat map of no resources. */
#define NO_RESOURCES "{\"cpus\":0.0,\"gpus\":0.0,\"mem\":0.0,\"disk\":0.0}"

static void agent_render(const struct master *m, struct master_json *w,
			 const struct master_agent *a, struct flat *f, struct keel_buf *txt)
{
	char pid[340];
	Mesos__V1__Resource *const *res = a->info->resources;
	size_t n = a->info->n_resources;

	master_json_object_begin(w);
	agent_info_fields(w, a->id, a->info, txt);
	snprintf(pid, sizeof(pid), "slave(1)@%s", a->origin ? a->origin->name : "");
	master_json_kv_string(w, "pid", pid);
	master_json_kv_seconds(w, "registered_time", a->registered_ns);
	master_json_key(w, "resources");
	flat_render(w, f, res, n, FLAT_ALL, NULL, txt);
	/* Nothing is offered or used before frameworks exist: Mesos's empty flat map. */
	master_json_key(w, "used_resources");
	master_json_raw(w, NO_RESOURCES, sizeof(NO_RESOURCES) - 1);
	master_json_key(w, "offered_resources");
	master_json_raw(w, NO_RESOURCES, sizeof(NO_RESOURCES) - 1);
	master_json_key(w, "reserved_resources");
	reserved_render(w, f, res, n, txt);
	master_json_key(w, "unreserved_resources");
	flat_render(w, f, res, n, FLAT_UNRESERVED, NULL, txt);
	master_json_kv_bool(w, "active", a->state == MASTER_AGENT_ACTIVE);
	master_drain_render(m, w, a->id, txt);
	master_json_kv_string(w, "version", a->version ? a->version : "");
	master_json_key(w, "capabilities");
	master_json_array_begin(w);
	master_json_array_end(w);
	master_json_object_end(w);
}

/* {"id", "pid", "port", "hostname"}: Mesos's json(MasterInfo). */
static void master_info_render(struct master_json *w, const Mesos__V1__MasterInfo *mi)
{
	master_json_object_begin(w);
	master_json_kv_string(w, "id", mi->id);
	master_json_kv_string(w, "pid", mi->pid);
	master_json_kv_int(w, "port", mi->port);
	master_json_kv_string(w, "hostname", mi->hostname);
	master_json_object_end(w);
}

static void empty_array(struct master_json *w, const char *key)
{
	master_json_key(w, key);
	master_json_array_begin(w);
	master_json_array_end(w);
}

static const char *task_state_name(Mesos__V1__TaskState s)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)s);
	return v ? v->name : "TASK_UNKNOWN";
}

/* One task as Mesos's json(Task): ids, state, flat resources, role, statuses. */
static void task_render(struct master_json *w, const struct master_task *mt, struct flat *f,
			struct keel_buf *txt)
{
	const Mesos__V1__Task *t = mt->task;

	master_json_object_begin(w);
	master_json_kv_string(w, "id", t->task_id->value);
	master_json_kv_string(w, "name", t->name);
	master_json_kv_string(w, "framework_id", t->framework_id->value);
	master_json_kv_string(w, "executor_id", t->executor_id ? t->executor_id->value : "");
	master_json_kv_string(w, "slave_id", t->agent_id->value);
	master_json_kv_string(w, "state", task_state_name(t->state));
	master_json_key(w, "resources");
	flat_render(w, f, t->resources, t->n_resources, FLAT_ALL, NULL, txt);
	master_json_kv_string(w, "role", mt->role ? mt->role : "*");
	master_json_key(w, "statuses");
	master_json_array_begin(w);
	if (mt->last != NULL) {
		master_json_object_begin(w);
		master_json_kv_string(w, "state", task_state_name(mt->last->state));
		master_json_kv_double(w, "timestamp", mt->last->timestamp);
		master_json_object_end(w);
	}
	master_json_array_end(w);
	master_json_object_end(w);
}

/* The frameworks subscribed to this leader, each with its tasks (Mesos's /state form). */
static void frameworks_render(struct master_json *w, struct master *m, struct flat *f,
			      struct keel_buf *txt)
{
	struct master_framework *fw;
	size_t pos = 0;

	master_json_key(w, "frameworks");
	master_json_array_begin(w);
	while (master_frameworks_next(m, &pos, &fw)) {
		const Mesos__V1__FrameworkInfo *info = fw->info;
		master_json_object_begin(w);
		master_json_kv_string(w, "id", fw->id);
		master_json_kv_string(w, "name", info->name);
		master_json_kv_string(w, "user", info->user);
		master_json_kv_string(w, "role", info->role ? info->role : "*");
		master_json_key(w, "roles");
		master_json_array_begin(w);
		for (size_t i = 0; i < info->n_roles; i++)
			master_json_string(w, info->roles[i]);
		master_json_array_end(w);
		master_json_kv_string(w, "principal", info->principal ? info->principal : "");
		master_json_kv_double(w, "failover_timeout",
				      info->has_failover_timeout ? info->failover_timeout : 0);
		master_json_kv_bool(w, "checkpoint", info->has_checkpoint && info->checkpoint);
		master_json_kv_string(w, "hostname", info->hostname ? info->hostname : "");
		master_json_kv_bool(w, "active", fw->stream != NULL);
		master_json_kv_bool(w, "connected", fw->stream != NULL);
		master_json_kv_bool(w, "recovered", false);
		master_json_key(w, "tasks");
		master_json_array_begin(w);
		for (const struct master_task *t = master_tasks_of(m, fw->id); t != NULL;
		     t = t->next)
			task_render(w, t, f, txt);
		master_json_array_end(w);
		empty_array(w, "unreachable_tasks");
		empty_array(w, "completed_tasks");
		empty_array(w, "offers");
		empty_array(w, "executors");
		master_json_object_end(w);
	}
	master_json_array_end(w);
}

void master_state_render(struct master *m, struct keel_buf *out)
{
	struct master_json w;
	char date[32];
	struct flat f = {0};
	struct keel_buf txt = KEEL_BUF_INIT;
	const char *flags = m->cfg.flags_json ? m->cfg.flags_json : "{}";
	size_t active = master_agents_count(m, MASTER_AGENT_ACTIVE);
	size_t inactive = master_agents_count(m, MASTER_AGENT_MARKING);
	size_t unreachable =
	    m->registrar ? registrar_count_agents(m->registrar, REGISTRAR_AGENT_UNREACHABLE) : 0;
	/* The detector's MasterInfo of this very master may be a stand-in (static://): use ours. */
	const Mesos__V1__MasterInfo *leader = !m->leader.present ? NULL
					      : m->leader.self	 ? m->info
								 : m->leader.info;
	size_t pos = 0;
	const char *key;
	void *value;
	bool sized = false;

	master_json_init(&w, out);
	master_json_object_begin(&w);
	master_json_kv_string(&w, "version", master_build_version());
	master_json_kv_string(&w, "build_date", master_build_date(date, sizeof(date)));
	master_json_kv_double(&w, "build_time", master_build_time());
	master_json_kv_seconds(&w, "start_time", m->start_time_ns);
	if (m->elected_time_ns != 0)
		master_json_kv_seconds(&w, "elected_time", m->elected_time_ns);
	master_json_kv_string(&w, "id", m->id);
	master_json_kv_string(&w, "pid", m->info ? m->info->pid : "");
	master_json_kv_string(&w, "hostname", m->cfg.hostname);
	empty_array(&w, "capabilities");
	/* Mesos's gauges are doubles: 1.0, not 1. */
	master_json_kv_double(&w, "activated_slaves", (double)active);
	master_json_kv_double(&w, "deactivated_slaves", (double)inactive);
	master_json_kv_double(&w, "unreachable_slaves", (double)unreachable);
	if (leader != NULL) {
		master_json_kv_string(&w, "leader", leader->pid);
		master_json_key(&w, "leader_info");
		master_info_render(&w, leader);
	}
	if (m->cfg.cluster != NULL)
		master_json_kv_string(&w, "cluster", m->cfg.cluster);
	master_json_key(&w, "flags");
	master_json_raw(&w, flags, strlen(flags));

	master_json_key(&w, "slaves");
	master_json_array_begin(&w);
	while (keel_hmap_next(&m->agents.by_id, &pos, &key, &value)) {
		const struct master_agent *a = value;
		size_t before = keel_buf_size(out);
		if (!agent_listed(a))
			continue;
		agent_render(m, &w, a, &f, &txt);
		if (!sized) {
			/* Room for the others at the size of the first, so the buffer grows once.
			 */
			sized = true;
			if (keel_buf_reserve(out, (keel_buf_size(out) - before) * 5 / 4 *
							  (active + inactive) +
						      4096) < 0)
				abort(); /* a daemon's out-of-memory is fatal */
		}
	}
	master_json_array_end(&w);

	/* Admitted by an earlier leader, not re-registered with this one yet. */
	master_json_key(&w, "recovered_slaves");
	master_json_array_begin(&w);
	pos = 0;
	while (m->registrar && keel_hmap_next(&m->agents.awaiting, &pos, &key, &value)) {
		const Mesos__V1__AgentInfo *info = NULL;
		if (registrar_agent_state(m->registrar, key, &info, NULL) !=
			REGISTRAR_AGENT_ADMITTED ||
		    info == NULL)
			continue;
		master_json_object_begin(&w);
		agent_info_fields(&w, key, info, &txt);
		master_json_object_end(&w);
	}
	master_json_array_end(&w);

	frameworks_render(&w, m, &f, &txt);
	empty_array(&w, "completed_frameworks");
	empty_array(&w, "orphan_tasks");
	empty_array(&w, "unregistered_frameworks");
	master_json_object_end(&w);
	flat_free(&f);
	keel_buf_free(&txt);
}

void master_flags_render(const struct master *m, struct keel_buf *out)
{
	struct master_json w;
	const char *flags = m->cfg.flags_json ? m->cfg.flags_json : "{}";

	master_json_init(&w, out);
	master_json_object_begin(&w);
	master_json_key(&w, "flags");
	master_json_raw(&w, flags, strlen(flags));
	master_json_object_end(&w);
}

void master_version_render(struct keel_buf *out)
{
	struct master_json w;
	char date[32];

	master_json_init(&w, out);
	master_json_object_begin(&w);
	master_json_kv_string(&w, "version", master_build_version());
	master_json_kv_string(&w, "build_date", master_build_date(date, sizeof(date)));
	master_json_kv_double(&w, "build_time", master_build_time());
	master_json_object_end(&w);
}

/* --- Routes --- */

static void respond_json(struct keel_http_req *req, struct keel_buf *body)
{
	keel_http_respond(req, 200, "application/json", NULL, keel_buf_rptr(body),
			  keel_buf_size(body));
	keel_buf_free(body);
}

static void on_state(struct keel_http_req *req, void *arg)
{
	struct master *m = arg;
	struct keel_buf *body;

	if (!master_auth_readonly(m, req))
		return;
	body = master_api_scratch(m);
	master_state_render(m, body);
	keel_http_respond(req, 200, "application/json", NULL, keel_buf_rptr(body),
			  keel_buf_size(body));
	master_api_scratch_done(m);
}

static void on_flags(struct keel_http_req *req, void *arg)
{
	struct keel_buf body = KEEL_BUF_INIT;

	if (!master_auth_readonly(arg, req))
		return;
	master_flags_render(arg, &body);
	respond_json(req, &body);
}

static void on_version(struct keel_http_req *req, void *arg)
{
	struct keel_buf body = KEEL_BUF_INIT;

	(void)arg;
	master_version_render(&body);
	respond_json(req, &body);
}

int master_state_routes(struct master *m, char *errmsg)
{
	static const struct {
		const char *path;
		keel_http_handler fn;
	} routes[] = {
	    {"/state", on_state},      {"/master/state", on_state},
	    {"/state.json", on_state}, {"/master/state.json", on_state},
	    {"/flags", on_flags},      {"/master/flags", on_flags},
	    {"/version", on_version},  {"/master/version", on_version},
	};

	for (size_t i = 0; i < KEEL_ARRAY_SIZE(routes); i++) {
		int rv = keel_http_server_route(m->server, KEEL_HTTP_GET, routes[i].path,
						routes[i].fn, m);
		if (rv < 0)
			return keel_errf(errmsg, rv, "cannot route %s", routes[i].path);
	}
	return 0;
}
