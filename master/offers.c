/* The allocator wired into keel-master: events in, batched cycles, OFFERS, DECLINE, RESCIND. */
#include "offers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocator.h"
#include "allocator_proto.h"
#include "master_int.h"
#include "offers_wire.h"
#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "sched.h"
#include "tasks.h"

#define DEFAULT_ALLOCATION_MS 1000u

struct master_offers {
	struct master *m;		  /* owner */
	struct allocator *alloc;	  /* the DRF core */
	struct keel_timer *cycle;	  /* the next batched cycle */
	struct keel_hmap by_id;		  /* offer ID -> struct master_offer */
	uint64_t next_seq;		  /* n of the next offer ID */
	struct master_framework *pending; /* frameworks with offers in the running cycle */
	struct master_offer_stats stats;  /* counters */
	struct keel_buf ev;		  /* the OFFERS event being written */
};

static uint64_t mono_ms(void)
{
	return keel_loop_clock_ns() / 1000000u;
}

static uint32_t interval_ms(const struct master *m)
{
	return m->cfg.allocation_interval_ms ? m->cfg.allocation_interval_ms
					     : DEFAULT_ALLOCATION_MS;
}

/* Arms the cycle timer unless a cycle is already due. */
static void kick(struct master_offers *o)
{
	if (!keel_timer_active(o->cycle) && keel_timer_start(o->cycle, interval_ms(o->m), 0) < 0)
		abort(); /* a daemon's out-of-memory is fatal */
}

struct allocator *master_offers_allocator(const struct master *m)
{
	return m->offers ? m->offers->alloc : NULL;
}

struct master_offer *master_offer_find(const struct master *m, const char *id)
{
	return m->offers ? keel_hmap_get(&m->offers->by_id, id) : NULL;
}

void master_offers_stats(const struct master *m, struct master_offer_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (m->offers == NULL)
		return;
	*out = m->offers->stats;
	out->outstanding = m->offers->by_id.count;
}

/* --- Offers --- */

static void offer_unlink(struct master_offers *os, struct master_offer *o)
{
	if (o->fprev)
		o->fprev->fnext = o->fnext;
	else
		o->fw->offers = o->fnext;
	if (o->fnext)
		o->fnext->fprev = o->fprev;
	if (o->aprev)
		o->aprev->anext = o->anext;
	else
		o->agent->offers = o->anext;
	if (o->anext)
		o->anext->aprev = o->aprev;
	keel_hmap_del(&os->by_id, o->id);
	keel_timer_free(o->timeout);
	allocator_res_unref(o->res);
	keel_free(o->role);
	keel_free(o);
}

void master_offer_drop(struct master *m, struct master_offer *o)
{
	offer_unlink(m->offers, o);
}

void master_offers_recover(struct master *m, const char *agent_id, const char *framework_id,
			   const char *role, const struct allocator_res *res, double refuse_seconds)
{
	struct master_offers *os = m->offers;
	int rv = allocator_recover(os->alloc, agent_id, framework_id, role, res, refuse_seconds,
				   (int64_t)mono_ms());

	if (rv < 0 && rv != -ENOENT)
		KEEL_WARN(MASTER_LOG, "allocator: recovering from %s on %s: %s", framework_id,
			  agent_id, allocator_errmsg(os->alloc));
	kick(os);
}

/* Gives the offer's resources back (with a filter) and forgets it. */
static void offer_recover(struct master_offers *os, struct master_offer *o, double refuse)
{
	master_offers_recover(os->m, o->agent->id, o->fw->id, o->role, o->res, refuse);
	offer_unlink(os, o);
}

static void send_rescind(struct master_offer *o)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Rescind r = MESOS__V1__SCHEDULER__EVENT__RESCIND__INIT;
	Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;

	oid.value = o->id;
	r.offer_id = &oid;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND;
	ev.rescind = &r;
	master_framework_send(o->fw, &ev);
}

void master_offer_rescind(struct master *m, struct master_offer *o)
{
	struct master_offers *os = m->offers;

	send_rescind(o);
	os->stats.rescinded++;
	offer_recover(os, o, 0);
}

static void on_offer_timeout(struct keel_timer *t, void *arg)
{
	struct master_offer *o = arg;

	(void)t;
	KEEL_INFO(MASTER_LOG, "offer %s timed out: rescinded", o->id);
	master_offer_rescind(o->owner->m, o);
}

/* --- The cycle --- */

static void pending_add(struct master_offers *os, struct master_framework *fw,
			struct master_offer *o)
{
	if (fw->n_pending == 0) {
		fw->pending_next = os->pending;
		os->pending = fw;
	}
	if (fw->n_pending == fw->cap_pending) {
		fw->cap_pending = fw->cap_pending ? 2 * fw->cap_pending : 8;
		fw->pending = keel_xrealloc(fw->pending, fw->cap_pending * sizeof(*fw->pending));
	}
	fw->pending[fw->n_pending++] = o;
}

/* Sends each framework's offers of this cycle as one OFFERS event (offers_wire.c). */
static void pending_flush(struct master_offers *os)
{
	while (os->pending != NULL) {
		struct master_framework *fw = os->pending;

		os->pending = fw->pending_next;
		fw->pending_next = NULL;
		keel_buf_clear(&os->ev);
		master_offers_wire_event(os->alloc, &os->ev, fw->protobuf, fw->pending,
					 fw->n_pending);
		fw->n_pending = 0; /* before sending: a broken stream may end fw */
		master_framework_send_raw(fw, keel_buf_rptr(&os->ev), keel_buf_size(&os->ev));
	}
}

static void on_cycle(struct keel_timer *t, void *arg)
{
	struct master_offers *os = arg;
	struct master *m = os->m;
	const struct allocator_offer *offers;
	struct allocator_stats st;
	size_t n = 0;
	uint64_t start = keel_loop_clock_ns(), now = mono_ms();
	int rv;

	(void)t;
	if (m->state != MASTER_LEADING)
		return;
	rv = allocator_allocate(os->alloc, (int64_t)now, &offers, &n);
	if (rv < 0)
		abort(); /* -ENOMEM only */
	os->stats.cycles++;
	for (size_t i = 0; i < n; i++) {
		struct master_framework *fw = master_framework_find(m, offers[i].framework_id);
		struct master_agent *a = master_agent_find(m, offers[i].agent_id);
		struct master_offer *o;

		if (fw == NULL || a == NULL || fw->stream == NULL) {
			/* Cannot happen while events are in step; give it back. */
			allocator_recover(os->alloc, offers[i].agent_id, offers[i].framework_id,
					  offers[i].role, offers[i].resources, 0, (int64_t)now);
			continue;
		}
		o = keel_xcalloc(1, sizeof(*o));
		snprintf(o->id, sizeof(o->id), "%s-O%" PRIu64, m->id, os->next_seq++);
		o->owner = os;
		o->fw = fw;
		o->agent = a;
		o->role = keel_xstrdup(offers[i].role);
		o->res = allocator_res_ref(offers[i].resources);
		o->fnext = fw->offers;
		if (fw->offers)
			fw->offers->fprev = o;
		fw->offers = o;
		o->anext = a->offers;
		if (a->offers)
			a->offers->aprev = o;
		a->offers = o;
		if (keel_hmap_put(&os->by_id, o->id, o, NULL) < 0)
			abort();
		if (m->cfg.offer_timeout_ms > 0) {
			if (keel_timer_new(m->loop, on_offer_timeout, o, &o->timeout) < 0 ||
			    keel_timer_start(o->timeout, m->cfg.offer_timeout_ms, 0) < 0)
				abort();
		}
		pending_add(os, fw, o);
		os->stats.offers_sent++;
	}
	pending_flush(os);
	os->stats.last_cycle_us = (keel_loop_clock_ns() - start) / 1000u;
	os->stats.last_offers = n;
	if (n > 0) {
		os->stats.offer_cycles++;
		os->stats.offer_cycle_us = os->stats.last_cycle_us;
		os->stats.offer_cycle_offers = n;
	}
	allocator_stats(os->alloc, &st);
	if (st.filters > 0)
		kick(os); /* filters expire only in a cycle */
}

/* --- Agents --- */

/* The agent's resources as a vector; unsupported ones (revocable, ...) are left out. */
static struct allocator_res *agent_total(struct master_offers *os, struct master_agent *a)
{
	struct allocator_res *total = NULL, *one = NULL, *sum = NULL;
	const Mesos__V1__AgentInfo *info = a->info;

	if (allocator_res_parse(os->alloc, "", &total) < 0)
		abort();
	for (size_t i = 0; info != NULL && i < info->n_resources; i++) {
		if (allocator_res_from_proto(os->alloc, &info->resources[i], 1, &one) < 0) {
			os->stats.agents_skipped++;
			continue;
		}
		if (allocator_res_add(os->alloc, total, one, &sum) < 0)
			abort();
		allocator_res_unref(one);
		allocator_res_unref(total);
		total = sum;
	}
	return total;
}

void master_offers_agent_up(struct master *m, struct master_agent *a)
{
	struct master_offers *os = m->offers;
	struct allocator_res *total;

	if (os == NULL || a->allocating)
		return;
	total = agent_total(os, a);
	/* Tasks it reported when re-registering hold their resources already. */
	struct allocator_use *uses = keel_xcalloc(a->n_tasks + 1, sizeof(*uses));
	size_t n = 0;
	for (size_t i = 0; i < a->n_tasks; i++) {
		const Mesos__V1__Task *t = a->tasks[i];
		struct allocator_res *r = NULL;
		if (master_task_state_terminal(t->state) ||
		    allocator_res_from_proto(os->alloc, t->resources, t->n_resources, &r) < 0)
			continue;
		uses[n].framework_id = t->framework_id->value;
		uses[n].role = master_task_role(t);
		uses[n].res = r;
		n++;
	}
	master_tasks_agent_reregistered(m, a);
	if (allocator_agent_add(os->alloc, a->id, total, uses, n) == 0 ||
	    allocator_agent_add(os->alloc, a->id, total, NULL, 0) == 0)
		a->allocating = true;
	else
		KEEL_WARN(MASTER_LOG, "allocator: cannot add agent %s: %s", a->id,
			  allocator_errmsg(os->alloc));
	for (size_t i = 0; i < n; i++)
		allocator_res_unref((struct allocator_res *)uses[i].res);
	keel_free(uses);
	allocator_res_unref(total);
	kick(os);
}

void master_offers_agent_update(struct master *m, struct master_agent *a)
{
	struct master_offers *os = m->offers;
	struct allocator_res *total;

	if (os == NULL || !a->allocating)
		return;
	total = agent_total(os, a);
	if (allocator_agent_update_total(os->alloc, a->id, total) < 0)
		KEEL_WARN(MASTER_LOG, "allocator: agent %s: %s", a->id,
			  allocator_errmsg(os->alloc));
	allocator_res_unref(total);
	kick(os);
}

void master_offers_agent_down(struct master *m, struct master_agent *a)
{
	struct master_offers *os = m->offers;

	if (os == NULL || !a->allocating)
		return;
	while (a->offers != NULL) {
		struct master_offer *o = a->offers;
		send_rescind(o);
		os->stats.rescinded++;
		offer_unlink(os, o);
	}
	master_tasks_agent_lost(m, a, true);
	allocator_agent_remove(os->alloc, a->id);
	a->allocating = false;
	kick(os);
}

/* --- Frameworks --- */

/* Fills an allocator_framework from fw's FrameworkInfo; roles point into it. */
static void fw_desc(struct master_framework *fw, struct allocator_framework *d,
		    const char **one_role, char *const *suppressed, size_t n_suppressed)
{
	const Mesos__V1__FrameworkInfo *info = fw->info;

	memset(d, 0, sizeof(*d));
	d->id = fw->id;
	for (size_t i = 0; i < info->n_capabilities; i++) {
		if (!info->capabilities[i]->has_type)
			continue;
		if (info->capabilities[i]->type ==
		    MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE)
			d->capabilities |= ALLOCATOR_CAP_MULTI_ROLE;
		if (info->capabilities[i]->type ==
		    MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__GPU_RESOURCES)
			d->capabilities |= ALLOCATOR_CAP_GPU_RESOURCES;
	}
	if (d->capabilities & ALLOCATOR_CAP_MULTI_ROLE) {
		d->roles = (const char *const *)info->roles;
		d->n_roles = info->n_roles;
	} else {
		*one_role = info->role ? info->role : "*";
		d->roles = one_role;
		d->n_roles = 1;
	}
	d->suppressed = (const char *const *)suppressed;
	d->n_suppressed = n_suppressed;
}

void master_offers_framework_up(struct master *m, struct master_framework *fw,
				char *const *suppressed, size_t n_suppressed)
{
	struct master_offers *os = m->offers;
	struct allocator_framework d;
	const char *role;
	int rv;

	if (os == NULL)
		return;
	fw_desc(fw, &d, &role, suppressed, n_suppressed);
	if (fw->allocating) {
		rv = allocator_framework_update(os->alloc, &d);
		if (rv == 0)
			rv = allocator_framework_activate(os->alloc, fw->id);
	} else {
		rv = allocator_framework_add(os->alloc, &d);
	}
	if (rv < 0)
		KEEL_WARN(MASTER_LOG, "allocator: framework %s: %s", fw->id,
			  allocator_errmsg(os->alloc));
	else
		fw->allocating = true;
	kick(os);
}

void master_offers_framework_down(struct master *m, struct master_framework *fw)
{
	struct master_offers *os = m->offers;

	if (os == NULL || !fw->allocating)
		return;
	while (fw->offers != NULL)
		offer_recover(os, fw->offers, 0);
	allocator_framework_deactivate(os->alloc, fw->id);
	kick(os);
}

void master_offers_framework_remove(struct master *m, struct master_framework *fw)
{
	struct master_offers *os = m->offers;

	if (os == NULL)
		return;
	while (fw->offers != NULL)
		offer_unlink(os, fw->offers); /* the allocator takes everything back below */
	if (fw->allocating)
		allocator_framework_remove(os->alloc, fw->id);
	fw->allocating = false;
	keel_free(fw->pending);
	fw->pending = NULL;
	fw->n_pending = fw->cap_pending = 0;
	kick(os);
}

/* --- Calls --- */

void master_offers_decline(struct master *m, struct master_framework *fw,
			   Mesos__V1__OfferID *const *ids, size_t n,
			   const Mesos__V1__Filters *filters)
{
	struct master_offers *os = m->offers;
	double refuse = ALLOCATOR_REFUSE_DEFAULT;

	if (filters != NULL && filters->has_refuse_seconds)
		refuse = filters->refuse_seconds;
	for (size_t i = 0; i < n; i++) {
		struct master_offer *o = keel_hmap_get(&os->by_id, ids[i]->value);
		if (o == NULL || o->fw != fw)
			continue; /* Mesos ignores offers that are no longer valid */
		os->stats.declined++;
		offer_recover(os, o, refuse);
	}
}

static int roles_call(struct master *m, struct master_framework *fw, char *const *roles, size_t n,
		      bool revive, char *errmsg)
{
	struct master_offers *os = m->offers;
	int rv;

	if (!fw->allocating)
		return 0;
	rv = revive
		 ? allocator_framework_revive(os->alloc, fw->id, (const char *const *)roles, n)
		 : allocator_framework_suppress(os->alloc, fw->id, (const char *const *)roles, n);
	if (rv < 0)
		return keel_errf(errmsg, rv, "%s", allocator_errmsg(os->alloc));
	kick(os);
	return 0;
}

int master_offers_revive(struct master *m, struct master_framework *fw, char *const *roles,
			 size_t n, char *errmsg)
{
	return roles_call(m, fw, roles, n, true, errmsg);
}

int master_offers_suppress(struct master *m, struct master_framework *fw, char *const *roles,
			   size_t n, char *errmsg)
{
	return roles_call(m, fw, roles, n, false, errmsg);
}

void master_offers_kick(struct master *m)
{
	if (m->offers != NULL)
		kick(m->offers);
}

/* --- Life --- */

/* master_weights_parse's callback: the --weights go to the allocator. */
static int set_weight(const char *role, double weight, void *arg)
{
	return allocator_role_set_weight(arg, role, weight);
}

int master_offers_new(struct master *m, char *errmsg)
{
	struct master_offers *os = keel_xcalloc(1, sizeof(*os));
	int rv;

	os->m = m;
	if ((rv = allocator_new(NULL, &os->alloc, errmsg)) < 0) {
		keel_free(os);
		return rv;
	}
	if (m->cfg.weights != NULL &&
	    (rv = master_weights_parse(m->cfg.weights, set_weight, os->alloc, errmsg)) < 0) {
		allocator_free(os->alloc);
		keel_free(os);
		return rv;
	}
	if ((rv = keel_timer_new(m->loop, on_cycle, os, &os->cycle)) < 0) {
		allocator_free(os->alloc);
		keel_free(os);
		return keel_errf(errmsg, rv, "cannot create the allocation timer");
	}
	m->offers = os;
	return 0;
}

void master_offers_free(struct master *m)
{
	struct master_offers *os = m->offers;
	const char *key;
	void *value;
	size_t pos = 0;

	if (os == NULL)
		return;
	while (keel_hmap_next(&os->by_id, &pos, &key, &value))
		offer_unlink(os, value);
	keel_hmap_free(&os->by_id);
	keel_buf_free(&os->ev);
	keel_timer_free(os->cycle);
	allocator_free(os->alloc);
	keel_free(os);
	m->offers = NULL;
}
