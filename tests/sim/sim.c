/* The replog simulator: seeded random fault schedules against real cores, then the checks. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "runtime/util.h"

/*
 * One seed = one run:
 *
 *  chaos   for `chaos_ms` of simulated time: racing writer clients append and
 *          truncate, readers read and catch up; the network delays, loses,
 *          duplicates and reorders messages, partitions nodes and cuts links
 *          one way; nodes crash (keeping a random prefix of what was not
 *          fsynced) and restart, and may lose their disk (only while every
 *          replica is durably VOTING, so at most one replica is ever missing data).
 *  heal    every link heals, loss stops, every node restarts. Liveness: all
 *          replicas reach VOTING, then one writer (the others stop) is elected
 *          and appends `final_appends` values, then every replica catches up,
 *          each phase within `bound_ms`.
 *  check   agreement is checked on every learned write as it happens; at the
 *          end: durability (every acknowledged append is on every replica at
 *          its position, unless truncated), uniqueness (no value at two
 *          positions), order (each writer's acknowledgements in position
 *          order), and every core's invariants.
 *
 * Times are in microseconds of simulated time.
 */

#define MS ((uint64_t)1000)

struct params {
	unsigned nodes;	     /* replicas */
	unsigned writers;    /* nodes whose client runs a writer during chaos */
	unsigned inflight;   /* appends a client keeps in flight */
	uint64_t chaos_ms;   /* chaos phase length */
	uint64_t delay_min;  /* network delay */
	uint64_t delay_max;  /* network delay */
	unsigned loss;	     /* per mille */
	unsigned dup;	     /* per mille */
	uint64_t tick;	     /* core tick interval */
	uint64_t fsync_max;  /* fsync latency bound */
	uint64_t client_gap; /* mean gap between client actions */
	uint64_t chaos_gap;  /* mean gap between chaos actions */
	bool crashes;	     /* crash/restart nodes */
	unsigned snipe;	     /* per mille: crash a node just after it starts a writer or appends */
	bool disk_loss;	     /* may lose a disk */
	bool partitions;     /* partitions and one-way cuts */
	bool truncates;	     /* clients truncate */
	bool auto_init;	     /* start EMPTY with auto-initialisation */
	uint64_t base;	     /* first position when starting VOTING */
	unsigned max_inflight;	/* core window */
	unsigned learn_batch;	/* core LEARN_RESP batch */
	unsigned final_appends; /* appends in the liveness phase */
	uint64_t bound_ms;	/* liveness bound per phase */
};

struct client {
	bool writer;	      /* runs a writer during chaos */
	bool starting;	      /* START in flight */
	unsigned inflight;    /* appends/truncates in flight */
	uint64_t last_pos;    /* last acknowledged position of the current writer (+1), 0 none */
	uint64_t last_writer; /* incarnation last_pos belongs to */
	bool catching;	      /* CATCHUP in flight */
	bool final_cu;	      /* the liveness phase's catch-up was started */
	uint64_t next_at;     /* next action */
};

struct acked {
	uint64_t id;	   /* value id */
	uint64_t position; /* where */
};

struct run {
	uint64_t seed;
	struct params p;
	struct sim_rng rng;
	struct sim_cluster c;
	struct client cl[REPLOG_NODES_MAX];
	uint64_t tick_at[REPLOG_NODES_MAX];    /* next tick */
	uint64_t fsync_at[REPLOG_NODES_MAX];   /* fsync in progress completes (0: none) */
	size_t fsync_cover[REPLOG_NODES_MAX];  /* pending batches that fsync covers */
	uint64_t restart_at[REPLOG_NODES_MAX]; /* down node restarts (0: not scheduled) */
	uint64_t
	    crash_at[REPLOG_NODES_MAX]; /* targeted crash soon after a client action (0: none) */
	uint64_t chaos_at;		/* next chaos action */
	uint64_t next_id;		/* next value id */
	struct acked *acked;		/* acknowledged appends */
	size_t acked_n, acked_cap;
	bool chaos;		   /* in the chaos phase */
	unsigned final_writer;	   /* the writer of the liveness phase */
	uint64_t first_final_id;   /* first value id of the liveness phase */
	unsigned final_done;	   /* its appends acknowledged */
	unsigned final_sent;	   /* its appends submitted */
	unsigned caught_up;	   /* nodes whose final catch-up finished */
	bool final_catchup;	   /* in the catch-up part of the liveness phase */
	uint64_t last_catchup_pos; /* highest position a final catch-up reported */
	bool verbose;
	unsigned stat_crashes;	   /* crashes during chaos */
	unsigned stat_disk_losses; /* of which lost the disk */
	char fail[600];
};

static uint64_t rnd(struct run *r, uint64_t lo, uint64_t hi)
{
	return lo + sim_rng_below(&r->rng, hi - lo + 1);
}

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->fail[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(r->fail, sizeof(r->fail), fmt, ap);
	va_end(ap);
}

static void pick_params(struct run *r)
{
	struct params *p = &r->p;
	static const uint64_t bases[] = {
	    0,
	    (1ull << 31) - 3,
	    (1ull << 32) - 3,
	    10000000000ull,
	    UINT64_MAX - 1 - 400, /* the log fills up near the last position */
	};
	uint64_t shape = sim_rng_below(&r->rng, 100);

	p->nodes = shape < 70 ? 3 : shape < 92 ? 5 : shape < 97 ? 1 : 2;
	p->writers = (unsigned)rnd(r, 1, p->nodes < 3 ? p->nodes : 3);
	p->inflight = (unsigned)rnd(r, 1, 6);
	p->chaos_ms = rnd(r, 500, 4000);
	p->delay_min = rnd(r, 100, 2000);
	p->delay_max =
	    p->delay_min + (sim_rng_chance(&r->rng, 1, 4) ? rnd(r, 0, 60000) : rnd(r, 0, 8000));
	p->loss = sim_rng_chance(&r->rng, 1, 3) ? 0 : (unsigned)rnd(r, 0, 200);
	p->dup = sim_rng_chance(&r->rng, 1, 2) ? 0 : (unsigned)rnd(r, 0, 100);
	p->tick = rnd(r, 20, 60) * MS;
	p->fsync_max = rnd(r, 100, 5000);
	p->client_gap = rnd(r, 2, 25) * MS;
	p->chaos_gap = rnd(r, 30, 200) * MS;
	p->crashes = sim_rng_chance(&r->rng, 3, 4);
	p->snipe = p->crashes && sim_rng_chance(&r->rng, 1, 2) ? (unsigned)rnd(r, 10, 150) : 0;
	p->disk_loss = p->nodes >= 3 && sim_rng_chance(&r->rng, 1, 2);
	p->partitions = p->nodes >= 2 && sim_rng_chance(&r->rng, 2, 3);
	p->truncates = sim_rng_chance(&r->rng, 1, 2);
	p->auto_init = sim_rng_chance(&r->rng, 1, 2);
	p->base = p->auto_init ? 0 : bases[sim_rng_below(&r->rng, KEEL_ARRAY_SIZE(bases))];
	p->max_inflight = (unsigned)rnd(r, 2, 12);
	p->learn_batch = (unsigned)rnd(r, 1, 8);
	p->final_appends = 4;
	p->bound_ms = 30000;
}

/* ---- network policy ---- */

static uint64_t policy(struct sim_cluster *c, const struct replog_msg *m, void *arg,
		       unsigned *copies)
{
	struct run *r = arg;

	(void)c;
	*copies = 1;
	if (m->from == m->to)
		return rnd(r, 0, r->p.delay_min);
	if (r->chaos) {
		if (r->p.loss && sim_rng_below(&r->rng, 1000) < r->p.loss)
			*copies = 0;
		else if (r->p.dup && sim_rng_below(&r->rng, 1000) < r->p.dup)
			*copies = 2;
	}
	/* Now and then a message is very late: stale requests and answers arrive. */
	if (r->chaos && sim_rng_chance(&r->rng, 1, 150))
		return rnd(r, 50, 800) * MS;
	return rnd(r, r->p.delay_min, r->p.delay_max);
}

/* ---- clients ---- */

static void on_done(struct sim_cluster *c, const struct sim_done *d, void *arg)
{
	struct run *r = arg;
	struct client *cl = &r->cl[d->node];

	switch (d->op) {
	case REPLOG_OP_START:
		cl->starting = false;
		if (d->status < 0 && d->status != -ESTALE && d->status != -EAGAIN &&
		    d->status != -ECANCELED)
			fail(r, "node %u: START failed with %d", d->node, d->status);
		break;
	case REPLOG_OP_APPEND:
	case REPLOG_OP_TRUNCATE:
		if (cl->inflight > 0)
			cl->inflight--;
		if (d->status < 0) {
			if (d->status != -ESTALE && d->status != -EAGAIN && d->status != -ECANCELED)
				fail(r, "node %u: write failed with %d", d->node, d->status);
			break;
		}
		if (cl->last_writer == d->writer && cl->last_pos > d->position + 1)
			fail(r,
			     "node %u: writer %" PRIu64 " acknowledged %" PRIu64 " after %" PRIu64,
			     d->node, d->writer, d->position, cl->last_pos - 1);
		cl->last_writer = d->writer;
		cl->last_pos = d->position + 1;
		if (d->op == REPLOG_OP_APPEND) {
			if (r->acked_n == r->acked_cap) {
				r->acked_cap = r->acked_cap ? 2 * r->acked_cap : 64;
				r->acked = realloc(r->acked, r->acked_cap * sizeof(*r->acked));
				if (r->acked == NULL)
					abort();
			}
			r->acked[r->acked_n].id = d->value_id;
			r->acked[r->acked_n].position = d->position;
			r->acked_n++;
			if (!r->chaos && d->node == r->final_writer &&
			    d->value_id >= r->first_final_id)
				r->final_done++;
		}
		break;
	case REPLOG_OP_CATCHUP:
		cl->catching = false;
		if (d->status < 0)
			fail(r, "node %u: CATCHUP failed with %d", d->node, d->status);
		else if (cl->final_cu) {
			r->caught_up++;
			if (d->position > r->last_catchup_pos)
				r->last_catchup_pos = d->position;
		}
		break;
	default:
		break;
	}
	(void)c;
}

/* Reads a random learned position and compares it with what the checker saw learned. */
static void client_read(struct run *r, unsigned i)
{
	struct replog_core *core = r->c.nodes[i].core;
	uint64_t b = replog_core_begin(core), e = replog_core_end(core), pos;
	const struct sim_chosen *ch;
	struct replog_action a;
	int rv;

	if (b > e)
		return;
	pos = b + sim_rng_below(&r->rng, e - b + 1);
	rv = replog_core_read(core, pos, &a);
	if (rv == -EAGAIN)
		return;
	if (rv < 0) {
		fail(r, "node %u: read %" PRIu64 " in [%" PRIu64 ", %" PRIu64 "]: %s", i, pos, b, e,
		     replog_core_errmsg(core));
		return;
	}
	ch = sim_chosen_at(&r->c, pos);
	if (ch == NULL || ch->type != a.type ||
	    (a.type == REPLOG_ACTION_APPEND &&
	     sim_value_id(ch->value, ch->len) != sim_value_id(a.value, a.len)))
		fail(r, "node %u: read at %" PRIu64 " disagrees with what was learned", i, pos);
}

/* Maybe crash node i within a few milliseconds: the windows between a step and its fsync. */
static void snipe(struct run *r, unsigned i)
{
	if (r->p.snipe && r->crash_at[i] == 0 && sim_rng_below(&r->rng, 1000) < r->p.snipe)
		r->crash_at[i] = r->c.now + rnd(r, 0, 3 * MS);
}

static void crash_node(struct run *r, unsigned i);

static void client_act(struct run *r, unsigned i)
{
	struct client *cl = &r->cl[i];
	struct replog_core *core = r->c.nodes[i].core;
	uint64_t to;
	int rv;

	cl->next_at = r->c.now + rnd(r, 1, 2 * r->p.client_gap);
	/* Writers pause now and then: an idle elected writer is how stale writers happen. */
	if (cl->writer && sim_rng_chance(&r->rng, 1, 30))
		cl->next_at = r->c.now + rnd(r, 50, 600) * MS;
	if (core == NULL)
		return;
	if (sim_rng_chance(&r->rng, 1, 8)) {
		client_read(r, i);
		return;
	}
	if (sim_rng_chance(&r->rng, 1, 40) && !cl->catching &&
	    replog_core_status(core) == REPLOG_VOTING) {
		/* Set first: a catch-up can complete within the call. */
		cl->catching = true;
		if (sim_node_catchup(&r->c, i) < 0)
			cl->catching = false;
		return;
	}
	if (!cl->writer)
		return;
	if (!replog_core_writer_elected(core)) {
		if (!cl->starting && replog_core_writer_ballot(core) == 0) {
			rv = sim_node_start(&r->c, i);
			if (rv == 0) {
				cl->starting = true;
				cl->inflight = 0;
				snipe(r, i);
			}
		}
		return;
	}
	if (cl->inflight >= r->p.inflight)
		return;
	if (r->p.truncates && cl->last_pos > 0 && sim_rng_chance(&r->rng, 1, 15)) {
		to = cl->last_pos - 1 - sim_rng_below(&r->rng, KEEL_MIN(cl->last_pos, 5));
		if (sim_node_truncate(&r->c, i, to) == 0)
			cl->inflight++;
		return;
	}
	rv = sim_node_append(&r->c, i, ++r->next_id, (size_t)sim_rng_below(&r->rng, 24));
	if (rv == 0) {
		cl->inflight++;
		snipe(r, i);
	} else if (rv != -ERANGE && rv != -EBUSY)
		fail(r, "node %u: append rejected with %d", i, rv);
}

/* ---- chaos ---- */

/* The status a node would come back with after a crash (an unsynced VOTING does not count). */
static uint8_t durable_status(const struct run *r, unsigned i)
{
	const struct sim_node *nd = &r->c.nodes[i];

	return nd->dur.has_meta ? nd->dur.meta.status : REPLOG_EMPTY;
}

static void chaos_act(struct run *r)
{
	struct sim_cluster *c = &r->c;
	unsigned n = r->p.nodes, i, j, k;
	uint64_t what = sim_rng_below(&r->rng, 100);

	r->chaos_at = c->now + rnd(r, 1, 2 * r->p.chaos_gap);
	if (r->p.partitions && what < 40) {
		sim_heal(c);
		k = (unsigned)sim_rng_below(&r->rng, 4);
		if (k == 0) {
			i = (unsigned)sim_rng_below(&r->rng, n);
			sim_isolate(c, i, true);
			sim_trace(c, "t=%" PRIu64 " isolate n%u", c->now, i);
		} else if (k == 1) {
			uint64_t side = sim_rng_next(&r->rng);
			for (i = 0; i < n; i++)
				for (j = 0; j < n; j++)
					if (((side >> i) & 1) != ((side >> j) & 1))
						c->cut[i][j] = true;
			sim_trace(c, "t=%" PRIu64 " split %" PRIx64, c->now,
				  side & ((1u << n) - 1));
		} else if (k == 2) {
			i = (unsigned)sim_rng_below(&r->rng, n);
			j = (unsigned)sim_rng_below(&r->rng, n);
			if (i != j)
				c->cut[i][j] = true;
			sim_trace(c, "t=%" PRIu64 " cut n%u->n%u", c->now, i, j);
		} else {
			sim_trace(c, "t=%" PRIu64 " heal", c->now);
		}
		return;
	}
	if (r->p.crashes && what < 75)
		crash_node(r, (unsigned)sim_rng_below(&r->rng, n));
}

/* Crashes node i (maybe losing its disk), to restart a little later. */
static void crash_node(struct run *r, unsigned i)
{
	struct sim_cluster *c = &r->c;
	unsigned j;
	bool lose = false;

	r->crash_at[i] = 0;
	if (!sim_node_up(c, i))
		return;
	if (r->p.disk_loss && sim_rng_chance(&r->rng, 1, 2)) {
		/* Only while every replica is VOTING: at most one is ever missing data. */
		lose = true;
		for (j = 0; j < r->p.nodes; j++)
			if (durable_status(r, j) != REPLOG_VOTING)
				lose = false;
	}
	sim_node_crash(c, i, (size_t)sim_rng_below(&r->rng, c->nodes[i].pend_n + 1), lose);
	r->stat_crashes++;
	r->stat_disk_losses += lose;
	r->fsync_at[i] = 0;
	r->restart_at[i] = c->now + rnd(r, 5, 200) * MS;
	r->cl[i].starting = false;
	r->cl[i].inflight = 0;
	r->cl[i].catching = false;
}

/* ---- the liveness phase ---- */

/* Only the final writer writes; it restarts its writer until its appends are done. */
static void final_client(struct run *r)
{
	unsigned i = r->final_writer;
	struct client *cl = &r->cl[i];
	struct replog_core *core = r->c.nodes[i].core;
	int rv;

	if (core == NULL || r->final_done >= r->p.final_appends)
		return;
	if (!replog_core_writer_elected(core)) {
		if (!cl->starting && replog_core_writer_ballot(core) == 0 &&
		    sim_node_start(&r->c, i) == 0) {
			cl->starting = true;
			cl->inflight = 0;
			/* Appends lost with a dead writer are submitted again. */
			r->final_sent = r->final_done;
		}
		return;
	}
	while (r->final_sent < r->p.final_appends && cl->inflight < r->p.inflight) {
		rv = sim_node_append(&r->c, i, ++r->next_id, 4);
		if (rv == -ERANGE) {
			/* The log is full (base near 2^64): nothing more can be appended. */
			r->final_done = r->p.final_appends;
			return;
		}
		if (rv < 0)
			return;
		cl->inflight++;
		r->final_sent++;
	}
}

/* Each replica catches up once (after any catch-up of the chaos phase ends). */
static void final_catchup_client(struct run *r, unsigned i)
{
	struct client *cl = &r->cl[i];

	if (cl->catching || cl->final_cu)
		return;
	cl->catching = true;
	cl->final_cu = true;
	if (sim_node_catchup(&r->c, i) < 0)
		fail(r, "node %u: final catch-up refused", i);
}

/* ---- the event loop ---- */

enum ev_kind { EV_NONE, EV_NET, EV_TICK, EV_FSYNC, EV_RESTART, EV_CLIENT, EV_CHAOS, EV_CRASH };

static void schedule_fsync(struct run *r, unsigned i)
{
	const struct sim_node *nd = &r->c.nodes[i];

	if (r->fsync_at[i] == 0 && nd->core != NULL && (nd->pend_n > 0 || nd->held_n > 0)) {
		r->fsync_at[i] = r->c.now + rnd(r, 1, r->p.fsync_max);
		r->fsync_cover[i] = nd->pend_n;
	}
}

static void do_fsync(struct run *r, unsigned i)
{
	struct sim_node *nd = &r->c.nodes[i];
	size_t cover = r->fsync_cover[i];

	r->fsync_at[i] = 0;
	if (nd->core == NULL)
		return;
	/* Group commit: what was pending when the fsync began becomes durable now. */
	if (cover >= nd->pend_n) {
		sim_node_fsync(&r->c, i);
	} else {
		size_t rest = nd->pend_n - cover, k;
		struct sim_batch *save = malloc(rest * sizeof(*save));
		if (save == NULL)
			abort();
		memcpy(save, &nd->pend[cover], rest * sizeof(*save));
		nd->pend_n = cover;
		sim_node_fsync(&r->c, i);
		for (k = 0; k < rest; k++)
			nd->pend[k] = save[k];
		nd->pend_n = rest;
		free(save);
	}
}

/* Runs until `until` (simulated) or until stop() says so; returns false on a violation. */
static bool run_until(struct run *r, uint64_t until, bool (*stop)(struct run *))
{
	struct sim_cluster *c = &r->c;
	unsigned n = r->p.nodes, i, who = 0;
	uint64_t best;
	enum ev_kind kind;
	long k;

	while (r->fail[0] == '\0' && c->violation[0] == '\0') {
		if (stop != NULL && stop(r))
			return true;
		for (i = 0; i < n; i++)
			schedule_fsync(r, i);
		best = UINT64_MAX;
		kind = EV_NONE;
		k = sim_net_earliest(c);
		if (k >= 0) {
			best = c->net[k].at;
			kind = EV_NET;
		}
		for (i = 0; i < n; i++) {
			if (r->fsync_at[i] && r->fsync_at[i] < best) {
				best = r->fsync_at[i];
				kind = EV_FSYNC;
				who = i;
			}
			if (sim_node_up(c, i) && r->tick_at[i] < best) {
				best = r->tick_at[i];
				kind = EV_TICK;
				who = i;
			}
			if (r->restart_at[i] && r->restart_at[i] < best) {
				best = r->restart_at[i];
				kind = EV_RESTART;
				who = i;
			}
			if (r->crash_at[i] && r->chaos && r->crash_at[i] < best) {
				best = r->crash_at[i];
				kind = EV_CRASH;
				who = i;
			}
			if (r->cl[i].next_at < best) {
				best = r->cl[i].next_at;
				kind = EV_CLIENT;
				who = i;
			}
		}
		if (r->chaos && r->chaos_at < best) {
			best = r->chaos_at;
			kind = EV_CHAOS;
		}
		if (best > until)
			return true;
		if (best > c->now)
			c->now = best;
		switch (kind) {
		case EV_NET:
			sim_net_deliver(c, (size_t)k);
			break;
		case EV_TICK:
			r->tick_at[who] =
			    c->now + r->p.tick + sim_rng_below(&r->rng, r->p.tick / 2);
			sim_node_tick(c, who);
			break;
		case EV_FSYNC:
			do_fsync(r, who);
			break;
		case EV_RESTART:
			r->restart_at[who] = 0;
			if (sim_node_restart(c, who) < 0)
				fail(r, "restart refused: %s", c->errmsg);
			r->tick_at[who] = c->now + sim_rng_below(&r->rng, r->p.tick);
			break;
		case EV_CLIENT:
			if (r->chaos) {
				client_act(r, who);
			} else if (r->final_catchup) {
				r->cl[who].next_at = c->now + r->p.client_gap;
				final_catchup_client(r, who);
			} else {
				r->cl[who].next_at = c->now + r->p.client_gap;
				final_client(r);
			}
			break;
		case EV_CHAOS:
			chaos_act(r);
			break;
		case EV_CRASH:
			crash_node(r, who);
			break;
		default:
			return true;
		}
		if ((c->steps & 255) == 0)
			sim_check_cores(c);
	}
	return false;
}

static bool all_voting(struct run *r)
{
	unsigned i;

	for (i = 0; i < r->p.nodes; i++)
		if (!sim_node_up(&r->c, i) ||
		    replog_core_status(r->c.nodes[i].core) != REPLOG_VOTING)
			return false;
	return true;
}

/* The final appends are acknowledged and no write of any writer is still undecided. */
static bool final_appended(struct run *r)
{
	const struct sim_op *op;
	unsigned i;

	if (r->final_done < r->p.final_appends)
		return false;
	for (i = 0; i < r->p.nodes; i++)
		for (op = r->c.nodes[i].ops; op != NULL; op = op->next)
			if (op->op == REPLOG_OP_APPEND || op->op == REPLOG_OP_TRUNCATE)
				return false;
	return true;
}

static bool all_caught_up(struct run *r)
{
	return r->caught_up >= r->p.nodes;
}

/* Checks durability, uniqueness and order on every replica; 0 or fails the run. */
static void final_checks(struct run *r)
{
	struct sim_cluster *c = &r->c;
	unsigned i;
	size_t k;

	sim_check_cores(c);
	for (i = 0; i < r->p.nodes; i++) {
		struct replog_core *core = c->nodes[i].core;
		uint64_t b = replog_core_begin(core);

		for (k = 0; k < r->acked_n; k++) {
			const struct acked *a = &r->acked[k];
			struct replog_action act;
			int rv;

			if (a->position < c->max_truncate_to)
				continue; /* a learned TRUNCATE removed it */
			if (a->position < b) {
				fail(r,
				     "node %u: acknowledged %" PRIu64 " below begin %" PRIu64
				     " without a truncate",
				     i, a->position, b);
				return;
			}
			rv = replog_core_read(core, a->position, &act);
			if (rv < 0) {
				fail(r,
				     "durability: node %u lacks acknowledged id %" PRIu64
				     " at %" PRIu64 ": %s",
				     i, a->id, a->position, replog_core_errmsg(core));
				return;
			}
			if (act.type != REPLOG_ACTION_APPEND ||
			    sim_value_id(act.value, act.len) != a->id) {
				fail(r,
				     "durability: node %u has another value at %" PRIu64
				     " (acknowledged id %" PRIu64 ")",
				     i, a->position, a->id);
				return;
			}
		}
	}
	/* A value id never appears at two positions (the checker's learned map). */
	{
		uint64_t *ids = malloc((c->chosen_n + 1) * sizeof(*ids));
		size_t n = 0, x, y;

		if (ids == NULL)
			abort();
		for (x = 0; x < c->chosen_n; x++)
			if (c->chosen[x].type == REPLOG_ACTION_APPEND)
				ids[n++] = sim_value_id(c->chosen[x].value, c->chosen[x].len);
		for (x = 1; x < n; x++) {
			uint64_t v = ids[x];
			for (y = x; y > 0 && ids[y - 1] > v; y--)
				ids[y] = ids[y - 1];
			ids[y] = v;
		}
		for (x = 1; x < n; x++)
			if (ids[x] == ids[x - 1])
				fail(r, "uniqueness: value id %" PRIu64 " chosen at two positions",
				     ids[x]);
		free(ids);
	}
}

static int run_seed(uint64_t seed, bool trace, bool verbose, uint64_t *steps)
{
	struct run *r = calloc(1, sizeof(*r));
	struct sim_cluster_config cfg;
	unsigned i;
	uint64_t t0;
	int result = 0;

	if (r == NULL)
		abort();
	r->seed = seed;
	r->verbose = verbose;
	sim_rng_seed(&r->rng, seed);
	pick_params(r);
	memset(&cfg, 0, sizeof(cfg));
	cfg.nodes = r->p.nodes;
	cfg.auto_init = r->p.auto_init;
	cfg.voting = !r->p.auto_init;
	cfg.base = r->p.base;
	cfg.max_inflight = r->p.max_inflight;
	cfg.learn_batch = r->p.learn_batch;
	cfg.trace_lines = trace ? 1 : 300;
	if (sim_cluster_init(&r->c, &cfg) < 0) {
		printf("seed %" PRIu64 ": init failed: %s\n", seed, r->c.errmsg);
		free(r);
		return 1;
	}
	r->c.trace_print = trace;
	r->c.policy = policy;
	r->c.policy_arg = r;
	r->c.on_done = on_done;
	r->c.on_done_arg = r;
	for (i = 0; i < r->p.nodes; i++) {
		r->tick_at[i] = sim_rng_below(&r->rng, r->p.tick);
		r->cl[i].writer = i < r->p.writers;
		r->cl[i].next_at = sim_rng_below(&r->rng, r->p.client_gap);
	}
	r->chaos = true;
	r->chaos_at = r->p.chaos_gap;
	if (verbose)
		printf("seed %" PRIu64 ": %u nodes, %u writers, chaos %" PRIu64
		       " ms, loss %u, dup %u, delay %" PRIu64 "-%" PRIu64 " us, crashes %d, disk "
		       "loss %d, partitions %d, truncates %d, auto_init %d, base %" PRIu64 "\n",
		       seed, r->p.nodes, r->p.writers, r->p.chaos_ms, r->p.loss, r->p.dup,
		       r->p.delay_min, r->p.delay_max, r->p.crashes, r->p.disk_loss,
		       r->p.partitions, r->p.truncates, r->p.auto_init, r->p.base);

	/* chaos */
	if (!run_until(r, r->p.chaos_ms * MS, NULL))
		goto out;

	/* heal: everything connected and up, one writer */
	r->chaos = false;
	sim_heal(&r->c);
	sim_trace(&r->c, "t=%" PRIu64 " HEAL", r->c.now);
	for (i = 0; i < r->p.nodes; i++) {
		r->cl[i].writer = false;
		r->cl[i].next_at = UINT64_MAX;
		if (!sim_node_up(&r->c, i))
			r->restart_at[i] = r->c.now + 1;
	}
	t0 = r->c.now;
	if (!run_until(r, t0 + r->p.bound_ms * MS, all_voting))
		goto out;
	if (!all_voting(r)) {
		fail(r, "liveness: not every replica VOTING %" PRIu64 " ms after healing",
		     r->p.bound_ms);
		goto out;
	}
	r->final_writer = (unsigned)sim_rng_below(&r->rng, r->p.nodes);
	/* The other nodes no longer lead: their writers stop (a master does this on losing
	 * leadership). */
	for (i = 0; i < r->p.nodes; i++) {
		if (i != r->final_writer && replog_core_writer_ballot(r->c.nodes[i].core) != 0 &&
		    sim_node_stop(&r->c, i) < 0)
			fail(r, "node %u: stop refused", i);
	}
	r->cl[r->final_writer].next_at = r->c.now;
	r->cl[r->final_writer].starting = false;
	r->cl[r->final_writer].inflight = 0;
	sim_trace(&r->c, "t=%" PRIu64 " LIVENESS writer n%u", r->c.now, r->final_writer);
	t0 = r->c.now;
	r->final_done = 0;
	r->final_sent = 0;
	r->first_final_id = r->next_id + 1;
	if (!run_until(r, t0 + r->p.bound_ms * MS, final_appended))
		goto out;
	if (!final_appended(r)) {
		fail(r, "liveness: %u of %u appends done %" PRIu64 " ms after the writer started",
		     r->final_done, r->p.final_appends, r->p.bound_ms);
		goto out;
	}
	/* every replica catches up */
	r->caught_up = 0;
	r->final_catchup = true;
	for (i = 0; i < r->p.nodes; i++)
		r->cl[i].next_at = r->c.now;
	t0 = r->c.now;
	if (!run_until(r, t0 + r->p.bound_ms * MS, all_caught_up))
		goto out;
	if (!all_caught_up(r)) {
		fail(r, "liveness: %u of %u replicas caught up %" PRIu64 " ms after asking",
		     r->caught_up, r->p.nodes, r->p.bound_ms);
		goto out;
	}
	final_checks(r);
out:
	if (r->fail[0] == '\0' && r->c.violation[0] != '\0')
		snprintf(r->fail, sizeof(r->fail), "%s", r->c.violation);
	if (r->fail[0] != '\0') {
		printf("FAIL seed %" PRIu64 ": %s\n", seed, r->fail);
		if (!trace) {
			printf("  last events (replay: sim --seed %" PRIu64 " --trace):\n", seed);
			sim_trace_dump(&r->c, 300);
		}
		result = 1;
	} else if (verbose) {
		printf("ok seed %" PRIu64
		       ": %zu acknowledged, %zu positions learned, %u crashes (%u "
		       "disks lost), %" PRIu64 " steps, %" PRIu64 " ms simulated\n",
		       seed, r->acked_n, r->c.chosen_n, r->stat_crashes, r->stat_disk_losses,
		       r->c.steps, r->c.now / MS);
	}
	*steps += r->c.steps;
	sim_cluster_free(&r->c);
	free(r->acked);
	free(r);
	return result;
}

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s --seed N [--trace] [--verbose]\n"
		"       %s --seeds A-B [--verbose]\n"
		"Runs the replog simulator for one seed or a range; a failure prints its seed\n"
		"and the last events; --trace replays a seed printing every event.\n",
		argv0, argv0);
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t from = 1, to = 100, seed, steps = 0;
	bool trace = false, verbose = false;
	unsigned failed = 0, runs = 0;
	struct timespec t0, t1;
	char *end;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			from = to = strtoull(argv[++i], &end, 10);
			if (*end != '\0')
				return usage(argv[0]);
		} else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
			from = strtoull(argv[++i], &end, 10);
			if (*end != '-')
				return usage(argv[0]);
			to = strtoull(end + 1, &end, 10);
			if (*end != '\0' || to < from)
				return usage(argv[0]);
		} else if (strcmp(argv[i], "--trace") == 0) {
			trace = true;
		} else if (strcmp(argv[i], "--verbose") == 0) {
			verbose = true;
		} else {
			return usage(argv[0]);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (seed = from;; seed++) {
		runs++;
		if (run_seed(seed, trace, verbose, &steps) != 0)
			failed++;
		if (seed == to)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("sim: seeds %" PRIu64 "-%" PRIu64 ": %u passed, %u failed, %" PRIu64
	       " core steps, %.1f s\n",
	       from, to, runs - failed, failed, steps,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return failed ? 1 : 0;
}
