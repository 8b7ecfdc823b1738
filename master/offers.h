/* keel-master's allocator wiring: agents and frameworks as events, batched cycles, offers. */
#ifndef KEEL_MASTER_OFFERS_H
#define KEEL_MASTER_OFFERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master.h"
#include "proto/mesos/v1/scheduler.pb-c.h"

struct master_framework;
struct allocator_res;

/*
 * The master feeds the allocator core (master/allocator.h) with events:
 * an agent that becomes ACTIVE is added with its resources, one that stops
 * being ACTIVE (unreachable, removed, gone) is removed and its outstanding
 * offers are rescinded (RESCIND, nothing recovered); a framework with a live
 * stream is added (or activated), a disconnected one is deactivated and its
 * offers recovered, a torn-down one removed. Each such event arms the cycle
 * timer if it is idle: one allocation cycle runs --allocation_interval
 * later, taking in every event since (batching), and sends one OFFERS event
 * per framework. The timer is re-armed after a cycle only while filters are
 * live (their expiry needs a cycle); an idle cluster runs no cycles. No work
 * per event visits all agents or all frameworks.
 *
 * Offers: IDs "<master id>-O<n>", kept in a hash table and in lists per
 * agent and per framework. With --offer_timeout an offer is rescinded and its
 * resources recovered (no filter) when it times out.
 *
 * Threads: the loop's only. Memory: out-of-memory is fatal.
 */

/* One outstanding offer. */
struct master_offer {
	char id[80];			    /* offer ID (key in by_id) */
	struct master_offers *owner;	    /* the master's offers */
	struct master_framework *fw;	    /* to whom */
	struct master_agent *agent;	    /* where */
	char *role;			    /* allocation role */
	struct allocator_res *res;	    /* what (a reference) */
	struct keel_timer *timeout;	    /* --offer_timeout, or NULL */
	struct master_offer *fprev, *fnext; /* fw->offers list */
	struct master_offer *aprev, *anext; /* agent->offers list */
};

/* Creates m->offers (the allocator and the cycle timer). -ENOMEM, -EINVAL. */
int master_offers_new(struct master *m, char *errmsg);
/* Frees every offer (unlinking them from agents and frameworks) and the allocator. */
void master_offers_free(struct master *m);

/* Agent events (agents.c, agents_register.c). */
void master_offers_agent_up(struct master *m, struct master_agent *a);
void master_offers_agent_down(struct master *m, struct master_agent *a);
/* Its AgentInfo changed while ACTIVE: the total follows (when what is allocated fits). */
void master_offers_agent_update(struct master *m, struct master_agent *a);

/* Framework events (sched.c). suppressed: roles the SUBSCRIBE suppressed. */
void master_offers_framework_up(struct master *m, struct master_framework *fw,
				char *const *suppressed, size_t n_suppressed);
void master_offers_framework_down(struct master *m, struct master_framework *fw);
void master_offers_framework_remove(struct master *m, struct master_framework *fw);

/* Calls (sched.c); each answers nothing itself: the caller answers 202. */
void master_offers_decline(struct master *m, struct master_framework *fw,
			   Mesos__V1__OfferID *const *ids, size_t n,
			   const Mesos__V1__Filters *filters);
/* REVIVE / SUPPRESS; 0, or -EINVAL with errmsg (a role the framework does not have). */
int master_offers_revive(struct master *m, struct master_framework *fw, char *const *roles,
			 size_t n, char *errmsg);
int master_offers_suppress(struct master *m, struct master_framework *fw, char *const *roles,
			   size_t n, char *errmsg);

/* Runs an allocation cycle soon (a role's weight or quota changed: master/quota.c). */
void master_offers_kick(struct master *m);

/* The outstanding offer with this ID, or NULL. */
struct master_offer *master_offer_find(const struct master *m, const char *id);
/* Sends RESCIND for the offer, gives its resources back (no filter) and frees it. */
void master_offer_rescind(struct master *m, struct master_offer *o);
/* Removes an offer without recovering its resources (they were used); frees it. */
void master_offer_drop(struct master *m, struct master_offer *o);
/* Returns resources a framework held on an agent in a role, with a filter (<0: default). */
void master_offers_recover(struct master *m, const char *agent_id, const char *framework_id,
			   const char *role, const struct allocator_res *res,
			   double refuse_seconds);
/* The allocator (for ACCEPT's resource arithmetic). */
struct allocator *master_offers_allocator(const struct master *m);

/* Counters. */
struct master_offer_stats {
	uint64_t cycles;	     /* allocation cycles run */
	uint64_t offers_sent;	     /* offers made [master/outstanding_offers is live] */
	uint64_t declined;	     /* offers declined */
	uint64_t rescinded;	     /* offers rescinded */
	uint64_t outstanding;	     /* live offers */
	uint64_t last_cycle_us;	     /* duration of the last cycle, µs */
	uint64_t last_offers;	     /* offers the last cycle made */
	uint64_t offer_cycles;	     /* cycles that made offers */
	uint64_t offer_cycle_us;     /* duration of the latest cycle that made offers, µs */
	uint64_t offer_cycle_offers; /* offers it made */
	uint64_t agents_skipped;     /* agents whose resources the allocator refused */
};
void master_offers_stats(const struct master *m, struct master_offer_stats *out);

#endif
