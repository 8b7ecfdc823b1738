/* Agent liveness on the leader: the ping wheel, unreachable marking, the re-registration
 * deadline. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "master_int.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/http_client.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

/*
 * The wheel. Each ACTIVE agent sits in one of n_slots lists (assigned round
 * robin, so the lists stay within one agent of each other in size); a timer
 * visits one slot every slot_ms, so each agent is visited once per ping
 * timeout and the pings of N agents go out N / n_slots at a time, spread over
 * the interval. A visit counts a miss if the previous ping is still without a
 * pong, marks the agent unreachable after max_agent_ping_timeouts misses in a
 * row, and otherwise sends the next ping. Work per tick is the slot's size:
 * nothing scans all agents.
 */

#define WHEEL_SLOT_MS_MIN 20   /* finest slot */
#define WHEEL_SLOTS_MAX 1024   /* most slots */
#define AWAITING_RETRY_MS 1000 /* retry of a marking the registrar refused (busy) */

/* An admitted agent an earlier leader knew, not yet re-registered with this one. */
struct master_awaiting {
	bool marking; /* its unreachable marking is in flight */
	char id[];    /* agent ID (the key in agents.awaiting) */
};

/* A ping in flight. */
struct ping_ctx {
	struct master *m;	 /* owner */
	struct master_origin *o; /* reference held while in flight */
	char id[];		 /* the agent's ID */
};

void master_wheel_add(struct master *m, struct master_agent *a)
{
	struct master_agents *t = &m->agents;

	if (a->in_wheel || t->slots == NULL)
		return;
	a->slot = t->next_slot;
	t->next_slot = (t->next_slot + 1) % t->n_slots;
	a->prev = NULL;
	a->next = t->slots[a->slot];
	if (a->next)
		a->next->prev = a;
	t->slots[a->slot] = a;
	a->in_wheel = true;
}

void master_wheel_remove(struct master *m, struct master_agent *a)
{
	if (!a->in_wheel)
		return;
	if (a->prev)
		a->prev->next = a->next;
	else
		m->agents.slots[a->slot] = a->next;
	if (a->next)
		a->next->prev = a->prev;
	a->prev = a->next = NULL;
	a->in_wheel = false;
}

static void ping_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct ping_ctx *c = arg;
	struct master *m = c->m;
	struct master_agent *a = keel_hmap_get(&m->agents.by_id, c->id);
	Keel__Agent__Pong *pong = NULL;

	if (err == 0 && resp->status == 200 && a != NULL && a->state == MASTER_AGENT_ACTIVE &&
	    keel_pbjson_unpack(&keel__agent__pong__descriptor, resp->body, resp->body_len,
			       (ProtobufCMessage **)&pong, NULL) == 0) {
		if (strcmp(pong->agent_id->value, a->id) == 0) {
			a->awaiting = false;
			a->misses = 0;
			m->counters.pongs++;
		}
		keel_pbjson_free(&pong->base);
	} else if (err == 0 && resp->status == 409 && a != NULL) {
		/* The agent follows another epoch: either it has not seen this term yet (it will)
		 * or this master was deposed, which the leadership check finds out. */
		KEEL_DEBUG(MASTER_LOG, "agent %s dropped our ping: it follows another leader",
			   a->id);
		master_leading(m);
	}
	master_origin_put(m, c->o);
	keel_free(c);
}

static void ping_send(struct master *m, struct master_agent *a)
{
	static const struct keel_http_client_cbs cbs = {.on_done = ping_done};
	Keel__Agent__Ping p = KEEL__AGENT__PING__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	size_t idlen = strlen(a->id), len;
	struct ping_ctx *c;
	uint8_t buf[512];

	aid.value = a->id;
	p.agent_id = &aid;
	p.epoch = m->epoch;
	p.connected = true;
	len = keel__agent__ping__get_packed_size(&p);
	if (len > sizeof(buf) || a->origin == NULL)
		return;
	keel__agent__ping__pack(&p, buf);
	c = keel_xmalloc(sizeof(*c) + idlen + 1);
	c->m = m;
	c->o = a->origin;
	c->o->refs++;
	memcpy(c->id, a->id, idlen + 1);
	a->awaiting = true;
	if (keel_http_client_request(c->o->client, "POST", "/internal/master/ping", NULL,
				     "application/x-protobuf", (const char *)buf, len, &cbs,
				     c) < 0) {
		master_origin_put(m, c->o);
		keel_free(c);
		return; /* counted as missed at the next visit */
	}
	m->counters.pings_sent++;
}

/* --- unreachable marking --- */

static void marked(struct master *m, int status, struct master_agent *a, void *data)
{
	(void)data;
	if (status < 0) {
		master_fail(m, "marking agent %s unreachable failed: %s", a->id, strerror(-status));
		return;
	}
	/* Durable: now it may be announced. */
	m->counters.unreachable_completed++;
	KEEL_WARN(MASTER_LOG, "agent %s (%s) marked unreachable after %" PRIu32 " missed pings",
		  a->id, a->info ? a->info->hostname : "?", a->misses);
	master_agent_remove(m, a);
}

static void mark_unreachable(struct master *m, struct master_agent *a)
{
	struct master_op *op;
	int rv;

	master_agent_set_state(m, a, MASTER_AGENT_MARKING);
	op = master_op_new(m, marked, a, NULL);
	rv = registrar_mark_unreachable(m->registrar, a->id, (int64_t)master_wall_ns(),
					master_op_done, op);
	if (rv < 0) {
		master_op_cancel(op);
		KEEL_WARN(MASTER_LOG, "cannot mark agent %s unreachable yet: %s", a->id,
			  strerror(-rv));
		/* Back in the wheel: the next visit tries again (misses stay over the limit). */
		uint32_t misses = a->misses;
		master_agent_set_state(m, a, MASTER_AGENT_ACTIVE);
		a->misses = misses;
		a->awaiting = true;
		return;
	}
	m->counters.unreachable_scheduled++;
}

static void wheel_tick(struct keel_timer *t, void *arg)
{
	struct master *m = arg;
	struct master_agents *ag = &m->agents;
	struct master_agent *a, *next;

	(void)t;
	master_origins_sweep(m);
	if (ag->slots[ag->cur_slot] != NULL && !master_leading(m))
		return;
	for (a = ag->slots[ag->cur_slot]; a != NULL; a = next) {
		next = a->next;
		if (a->awaiting) {
			a->misses++;
			m->counters.pings_missed++;
			if (a->misses >= m->cfg.max_ping_timeouts) {
				mark_unreachable(m, a);
				continue;
			}
		}
		ping_send(m, a);
	}
	ag->cur_slot = (ag->cur_slot + 1) % ag->n_slots;
}

/* --- agents admitted before this term --- */

static bool collect_awaiting(const Mesos__V1__AgentInfo *info, const char *agent_id,
			     int64_t time_ns, void *arg)
{
	struct master *m = arg;
	size_t n = strlen(agent_id);
	struct master_awaiting *w;

	(void)info;
	(void)time_ns;
	if (master_agent_find(m, agent_id) != NULL ||
	    keel_hmap_get(&m->agents.awaiting, agent_id) != NULL)
		return true;
	w = keel_xmalloc(sizeof(*w) + n + 1);
	w->marking = false;
	memcpy(w->id, agent_id, n + 1);
	if (keel_hmap_put(&m->agents.awaiting, w->id, w, NULL) < 0)
		abort();
	return true;
}

void master_awaiting_forget(struct master *m, const char *id)
{
	struct master_awaiting *w = keel_hmap_get(&m->agents.awaiting, id);

	if (w != NULL && !w->marking) {
		keel_hmap_del(&m->agents.awaiting, id);
		keel_free(w);
	}
}

bool master_awaiting_marking(const struct master *m, const char *id)
{
	const struct master_awaiting *w = keel_hmap_get(&m->agents.awaiting, id);

	return w != NULL && w->marking;
}

static void awaiting_marked(struct master *m, int status, struct master_agent *a, void *data)
{
	struct master_awaiting *w = data;

	(void)a;
	if (status < 0) {
		master_fail(m, "marking agent %s unreachable failed: %s", w->id, strerror(-status));
		return;
	}
	m->counters.unreachable_completed++;
	KEEL_WARN(MASTER_LOG,
		  "agent %s marked unreachable: it did not re-register within "
		  "--agent_reregister_timeout",
		  w->id);
	keel_hmap_del(&m->agents.awaiting, w->id);
	keel_free(w);
}

static void reregister_deadline(struct keel_timer *t, void *arg)
{
	struct master *m = arg;
	size_t pos = 0, retry = 0;
	const char *key;
	void *value;

	if (m->agents.awaiting.count == 0 || !master_leading(m))
		return;
	while (keel_hmap_next(&m->agents.awaiting, &pos, &key, &value)) {
		struct master_awaiting *w = value;
		struct master_op *op;
		int rv;

		if (w->marking)
			continue;
		op = master_op_new(m, awaiting_marked, NULL, w);
		rv = registrar_mark_unreachable(m->registrar, w->id, (int64_t)master_wall_ns(),
						master_op_done, op);
		if (rv < 0) {
			master_op_cancel(op);
			if (rv == -ENOENT) { /* no longer admitted: nothing to wait for */
				keel_hmap_del(&m->agents.awaiting, key);
				keel_free(w);
			} else {
				retry++;
			}
			continue;
		}
		w->marking = true;
		m->counters.unreachable_scheduled++;
	}
	if (retry > 0)
		keel_timer_start(t, AWAITING_RETRY_MS, 0);
}

int master_liveness_start(struct master *m, char *errmsg)
{
	struct master_agents *ag = &m->agents;
	uint32_t period = m->cfg.ping_timeout_ms;
	unsigned n = KEEL_MAX(1u, KEEL_MIN(period / WHEEL_SLOT_MS_MIN, WHEEL_SLOTS_MAX));
	int rv;

	ag->n_slots = n;
	ag->slot_ms = KEEL_MAX(1u, period / n);
	ag->cur_slot = 0;
	ag->next_slot = 0;
	ag->slots = keel_xcalloc(n, sizeof(*ag->slots));
	registrar_foreach_agent(m->registrar, REGISTRAR_AGENT_ADMITTED, collect_awaiting, m);
	rv = keel_timer_new(m->loop, wheel_tick, m, &ag->wheel_timer);
	if (rv == 0)
		rv = keel_timer_start(ag->wheel_timer, ag->slot_ms, ag->slot_ms);
	if (rv == 0)
		rv = keel_timer_new(m->loop, reregister_deadline, m, &ag->reregister_timer);
	if (rv == 0)
		rv = keel_timer_start(ag->reregister_timer, m->cfg.reregister_timeout_ms, 0);
	if (rv < 0)
		return keel_errf(errmsg, rv, "liveness timers");
	/* Agents that re-registered while the registry recovered cannot exist (503), so every
	 * agent in the wheel comes later; nothing else to do. */
	return 0;
}

void master_liveness_stop(struct master *m)
{
	keel_timer_free(m->agents.wheel_timer);
	m->agents.wheel_timer = NULL;
	keel_timer_free(m->agents.reregister_timer);
	m->agents.reregister_timer = NULL;
}
