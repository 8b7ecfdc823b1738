/* The agents table: agents by ID and by key, shared connections per agent address, parked
 * requests. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agents_drain.h"
#include "master_int.h"
#include "offers.h"
#include "offers_wire.h"
#include "operator_stream.h"
#include "runtime/alloc.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

struct master_agent *master_agent_find(const struct master *m, const char *id)
{
	return keel_hmap_get(&m->agents.by_id, id);
}

struct master_agent *master_agent_add(struct master *m, const char *id, const char *key,
				      enum master_agent_state state)
{
	struct master_agent *a = keel_xcalloc(1, sizeof(*a));

	a->id = keel_xstrdup(id);
	a->state = state;
	a->registered_ns = master_wall_ns();
	if (keel_hmap_put(&m->agents.by_id, a->id, a, NULL) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
	m->agents.count[state]++;
	if (key != NULL)
		master_agent_set_key(m, a, key);
	if (state == MASTER_AGENT_ACTIVE)
		master_wheel_add(m, a);
	return a;
}

void master_agent_set_key(struct master *m, struct master_agent *a, const char *key)
{
	if (a->key != NULL && key != NULL && strcmp(a->key, key) == 0)
		return;
	if (a->key != NULL) {
		if (keel_hmap_get(&m->agents.by_key, a->key) == a)
			keel_hmap_del(&m->agents.by_key, a->key);
		keel_free(a->key);
		a->key = NULL;
	}
	if (key == NULL)
		return;
	a->key = keel_xstrdup(key);
	void *old = NULL;
	if (keel_hmap_put(&m->agents.by_key, a->key, a, &old) < 0)
		abort();
	if (old != NULL && old != a) {
		/* Another agent had this key (the agent process restarted with a new ID): it keeps
		 * its ID but loses the key. */
		struct master_agent *o = old;
		keel_free(o->key);
		o->key = NULL;
	}
}

void master_agent_set_state(struct master *m, struct master_agent *a, enum master_agent_state state)
{
	if (a->state == state)
		return;
	m->agents.count[a->state]--;
	m->agents.count[state]++;
	if (a->state == MASTER_AGENT_ACTIVE) {
		master_wheel_remove(m, a);
		master_offers_agent_down(m, a);
		master_opstream_agent_removed(m, a->id);
	}
	a->state = state;
	if (state == MASTER_AGENT_ACTIVE) {
		a->misses = 0;
		a->awaiting = false;
		master_wheel_add(m, a);
		master_offers_agent_up(m, a);
		master_drain_agent_up(m, a);
		master_opstream_agent_added(m, a);
	}
}

void master_agent_set_info(struct master_agent *a, Mesos__V1__AgentInfo *info)
{
	if (a->info != NULL)
		keel_pbjson_free(&a->info->base);
	a->info = info;
	master_offer_cache_free(a);
}

static void master_agent_free_tasks(struct master_agent *a)
{
	for (size_t i = 0; i < a->n_tasks; i++)
		keel_pbjson_free(&a->tasks[i]->base);
	keel_free(a->tasks);
	a->tasks = NULL;
	a->n_tasks = 0;
}

static void master_agent_free(struct master *m, struct master_agent *a)
{
	while (a->parked) {
		struct master_parked *p = a->parked;
		a->parked = p->next;
		keel_http_req_on_events(p->req, NULL, NULL, NULL);
		keel_free(p);
	}
	if (a->origin)
		master_origin_put(m, a->origin);
	if (a->info)
		keel_pbjson_free(&a->info->base);
	master_offer_cache_free(a);
	master_agent_free_tasks(a);
	keel_free(a->version);
	keel_free(a->key);
	keel_free(a->id);
	keel_free(a);
}

void master_agent_remove(struct master *m, struct master_agent *a)
{
	master_agent_answer_parked(m, a, 503, "agent removed while the request waited");
	if (a->state == MASTER_AGENT_ACTIVE) {
		master_wheel_remove(m, a);
		master_opstream_agent_removed(m, a->id);
	}
	master_offers_agent_down(m, a);
	m->agents.count[a->state]--;
	keel_hmap_del(&m->agents.by_id, a->id);
	if (a->key != NULL && keel_hmap_get(&m->agents.by_key, a->key) == a)
		keel_hmap_del(&m->agents.by_key, a->key);
	master_agent_free(m, a);
}

int master_address_format(const Mesos__V1__Address *addr, char *out, size_t size, char *errmsg)
{
	const char *host = addr->ip != NULL && addr->ip[0] != '\0' ? addr->ip : addr->hostname;

	if (host == NULL || host[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "address has neither ip nor hostname");
	if (addr->port <= 0 || addr->port > 65535)
		return keel_errf(errmsg, -EINVAL, "address port %d out of range", addr->port);
	if (strlen(host) > 253 || strpbrk(host, "/?#@ ") != NULL)
		return keel_errf(errmsg, -EINVAL, "address host \"%.64s\" is not a host", host);
	if (strchr(host, ':') != NULL)
		snprintf(out, size, "[%s]:%d", host, addr->port);
	else
		snprintf(out, size, "%s:%d", host, addr->port);
	return 0;
}

int master_agent_set_address(struct master *m, struct master_agent *a,
			     const Mesos__V1__Address *addr, char *errmsg)
{
	char name[300];
	struct master_origin *o;
	int rv = master_address_format(addr, name, sizeof(name), errmsg);

	if (rv < 0)
		return rv;
	if (a->origin != NULL && strcmp(a->origin->name, name) == 0)
		return 0;
	o = master_origin_get(m, name, errmsg);
	if (o == NULL)
		return -EINVAL;
	if (a->origin)
		master_origin_put(m, a->origin);
	a->origin = o;
	master_offer_cache_free(a);
	return 0;
}

/* Splits "host:port" or "[v6]:port". */
static int origin_split(const char *name, char *host, size_t size, uint16_t *port)
{
	const char *colon = strrchr(name, ':');
	const char *h = name;
	size_t len;
	long p;

	if (colon == NULL)
		return -EINVAL;
	len = (size_t)(colon - name);
	if (name[0] == '[' && len >= 2 && name[len - 1] == ']') {
		h = name + 1;
		len -= 2;
	}
	if (len == 0 || len >= size)
		return -EINVAL;
	memcpy(host, h, len);
	host[len] = '\0';
	p = strtol(colon + 1, NULL, 10);
	if (p <= 0 || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

struct master_origin *master_origin_get(struct master *m, const char *name, char *errmsg)
{
	struct master_origin *o = keel_hmap_get(&m->agents.origins, name);
	struct keel_http_client_config cc = {0};
	char host[300];
	uint16_t port;

	if (o != NULL) {
		o->refs++;
		return o; /* an idle one stays in the idle list; the sweep skips referenced ones */
	}
	if (origin_split(name, host, sizeof(host), &port) < 0) {
		keel_errf(errmsg, -EINVAL, "bad agent address \"%s\"", name);
		return NULL;
	}
	/* A ping must be answered before the next round: the request timeout is one interval. */
	cc.request_timeout = m->cfg.ping_timeout_ms;
	cc.connect_timeout = KEEL_MIN(m->cfg.ping_timeout_ms, 5000u);
	o = keel_xcalloc(1, sizeof(*o));
	if (keel_http_client_new(m->loop, host, port, &cc, &o->client, errmsg) < 0) {
		keel_free(o);
		return NULL;
	}
	o->name = keel_xstrdup(name);
	o->refs = 1;
	if (keel_hmap_put(&m->agents.origins, o->name, o, NULL) < 0)
		abort();
	return o;
}

void master_origin_put(struct master *m, struct master_origin *o)
{
	if (--o->refs > 0 || o->idle)
		return;
	o->idle = true;
	o->idle_next = m->agents.idle;
	m->agents.idle = o;
}

static void master_origin_free(struct master_origin *o)
{
	keel_http_client_free(o->client);
	keel_free(o->name);
	keel_free(o);
}

void master_origins_sweep(struct master *m)
{
	struct master_origin **pp = &m->agents.idle;

	while (*pp != NULL) {
		struct master_origin *o = *pp;
		if (o->refs > 0) {
			*pp = o->idle_next; /* in use again */
			o->idle = false;
		} else if (keel_http_client_pending(o->client) == 0) {
			*pp = o->idle_next;
			keel_hmap_del(&m->agents.origins, o->name);
			master_origin_free(o);
		} else {
			pp = &o->idle_next;
		}
	}
}

static void parked_closed(struct keel_http_req *req, void *arg)
{
	struct master_parked *p = arg, **pp;

	(void)req;
	for (pp = &p->agent->parked; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	keel_free(p);
}

void master_agent_park(struct master_agent *a, struct keel_http_req *req)
{
	struct master_parked *p = keel_xcalloc(1, sizeof(*p));

	p->req = req;
	p->agent = a;
	p->next = a->parked;
	a->parked = p;
	keel_http_req_on_events(req, NULL, parked_closed, p);
}

void master_agent_answer_parked(struct master *m, struct master_agent *a, int status,
				const char *text)
{
	while (a->parked) {
		struct master_parked *p = a->parked;
		a->parked = p->next;
		keel_http_req_on_events(p->req, NULL, NULL, NULL);
		if (status == 200)
			master_agent_answer(m, a, p->req);
		else
			keel_http_respond_text(p->req, status, text);
		keel_free(p);
	}
}

void master_agents_free(struct master *m)
{
	struct master_agents *t = &m->agents;
	size_t pos = 0;
	const char *key;
	void *value;

	master_liveness_stop(m);
	/* Agents first (they drop their origin references), then every origin: freeing a client
	 * cancels its requests, whose callbacks look agents up (gone by then) and put origins
	 * back (idle, freed below). */
	while (keel_hmap_next(&t->by_id, &pos, &key, &value)) {
		struct master_agent *a = value;
		keel_hmap_del(&t->by_id, key);
		master_agent_free(m, a);
	}
	keel_hmap_free(&t->by_id);
	keel_hmap_free(&t->by_key);
	pos = 0;
	while (keel_hmap_next(&t->origins, &pos, &key, &value)) {
		struct master_origin *o = value;
		o->refs++; /* keep it out of the idle list while its client cancels requests */
		keel_http_client_free(o->client);
		o->client = NULL;
	}
	pos = 0;
	while (keel_hmap_next(&t->origins, &pos, &key, &value)) {
		struct master_origin *o = value;
		keel_hmap_del(&t->origins, key);
		keel_free(o->name);
		keel_free(o);
	}
	keel_hmap_free(&t->origins);
	t->idle = NULL;
	pos = 0;
	while (keel_hmap_next(&t->awaiting, &pos, &key, &value)) {
		keel_hmap_del(&t->awaiting, key);
		keel_free(value);
	}
	keel_hmap_free(&t->awaiting);
	keel_free(t->slots);
	t->slots = NULL;
}
