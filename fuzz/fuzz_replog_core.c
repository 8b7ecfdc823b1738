/* libFuzzer target: replog cores run by a byte-chosen schedule, checked after every step. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/sim/cluster.h"

/*
 * The input is a schedule. The first bytes choose the cluster (replicas,
 * auto-initialisation or a base position, window sizes); every following
 * pair of bytes is one action: deliver, drop or duplicate a message in
 * flight, tick a node, fsync it, crash it (keeping a chosen prefix of its
 * unsynced writes, maybe losing its disk while every other replica is
 * VOTING), restart it, cut or heal a link, start a writer, append, truncate,
 * catch up, read. The fixture checks agreement on every learned write and
 * justified truncation; after each action every core's invariants are
 * checked too. Any violation aborts, which libFuzzer reports with the input.
 */

#define MAX_ACTIONS 3000

struct input {
	const uint8_t *p; /* next byte */
	size_t n;	  /* bytes left */
};

static unsigned take(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static void fail(struct sim_cluster *c, const char *what)
{
	fprintf(stderr, "replog fuzz: %s: %s\n", what, c->violation);
	sim_trace_dump(c, 80);
	abort();
}

static bool all_voting(const struct sim_cluster *c)
{
	unsigned j;

	/* Durable status: what each would come back with (an unsynced VOTING does not count). */
	for (j = 0; j < c->n; j++) {
		const struct sim_node *nd = &c->nodes[j];

		if (!nd->dur.has_meta || nd->dur.meta.status != REPLOG_VOTING)
			return false;
	}
	return true;
}

static void act(struct sim_cluster *c, unsigned op, unsigned arg, uint64_t *next_id)
{
	unsigned i = arg % c->n;
	struct replog_action a;

	switch (op % 16) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
		if (c->net_n > 0)
			sim_net_deliver(c, arg % c->net_n);
		break;
	case 5:
		if (c->net_n > 0)
			sim_net_drop(c, arg % c->net_n);
		break;
	case 6:
		if (c->net_n > 0 && c->net_n < 4096)
			sim_net_duplicate(c, arg % c->net_n);
		break;
	case 7:
		if (sim_node_up(c, i))
			sim_node_tick(c, i);
		break;
	case 8:
		sim_node_fsync(c, i);
		break;
	case 9:
		if (sim_node_up(c, i)) {
			bool lose = (arg & 0x80) && all_voting(c);
			sim_node_crash(c, i, (arg >> 3) % (c->nodes[i].pend_n + 1), lose);
		} else if (sim_node_restart(c, i) < 0) {
			fail(c, "restart refused");
		}
		break;
	case 10:
		c->cut[i][(arg >> 4) % c->n] = !c->cut[i][(arg >> 4) % c->n];
		break;
	case 11:
		if (sim_node_up(c, i) && (arg & 0x80))
			sim_node_stop(c, i);
		else if (sim_node_up(c, i))
			sim_node_start(c, i);
		break;
	case 12:
	case 13:
		if (sim_node_up(c, i))
			sim_node_append(c, i, ++*next_id, arg >> 5);
		break;
	case 14:
		if (sim_node_up(c, i) && replog_core_writer_elected(c->nodes[i].core)) {
			uint64_t end = replog_core_end(c->nodes[i].core);
			sim_node_truncate(c, i, end - (arg >> 4) % 4);
		}
		break;
	default:
		if (!sim_node_up(c, i))
			break;
		if (arg & 1) {
			sim_node_catchup(c, i);
		} else {
			/* A read of a learned position must match what the checker saw learned. */
			uint64_t pos = replog_core_begin(c->nodes[i].core) + (arg >> 1);
			if (replog_core_read(c->nodes[i].core, pos, &a) == 0) {
				const struct sim_chosen *ch = sim_chosen_at(c, pos);
				if (ch == NULL || ch->type != a.type)
					sim_violation(c, "read at %llu disagrees",
						      (unsigned long long)pos);
			}
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t bases[] = {0, 1, (1ull << 32) - 2, UINT64_MAX - 6};
	struct input in = {data, size};
	struct sim_cluster_config cfg = {0};
	struct sim_cluster c;
	uint64_t next_id = 0;
	unsigned shape, steps = 0;

	if (size < 4)
		return 0;
	shape = take(&in);
	cfg.nodes = 1 + shape % 5;
	cfg.auto_init = (shape >> 3) & 1;
	cfg.voting = !cfg.auto_init;
	cfg.base = cfg.voting ? bases[(shape >> 4) % 4] : 0;
	cfg.max_inflight = 1 + take(&in) % 8;
	cfg.learn_batch = 1 + take(&in) % 4;
	cfg.catchup_patience = 1 + take(&in) % 3;
	cfg.trace_lines = 100;
	if (sim_cluster_init(&c, &cfg) < 0)
		abort();
	while (in.n >= 2 && steps++ < MAX_ACTIONS && c.violation[0] == '\0') {
		unsigned op = take(&in);
		unsigned arg = take(&in);

		act(&c, op, arg, &next_id);
		sim_check_cores(&c);
	}
	if (c.violation[0] != '\0')
		fail(&c, "safety violation");
	sim_cluster_free(&c);
	return 0;
}
