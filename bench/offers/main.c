/* keel-offers-bench: the master's allocation cycle (allocator + offers + OFFERS events) at scale.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/master_int.h"
#include "master/offers.h"
#include "master/sched.h"
#include "runtime/alloc.h"
#include "runtime/http_client.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/pbjson.h"

/*
 * Usage: keel-offers-bench AGENTS FRAMEWORKS CYCLES
 *
 * One keel-master in process (in-memory registry), AGENTS agents put into its
 * table directly (cpus:4;mem:8192 each; nobody pings them), FRAMEWORKS
 * schedulers subscribed over real HTTP event streams on the same loop. Then
 * CYCLES times: wait for the next batched cycle, and have every framework
 * decline every offer it holds with a long filter (Mesos's DeclineOffers
 * benchmark: each cycle offers everything again, to frameworks that have not
 * declined it yet). Prints the master's cycle time (allocator, offer
 * records, Offer messages, JSON events written to the streams) p50/p99/max,
 * and the resident set per agent: after the agents were added (the table and
 * the allocator), and after the cycles (with outstanding offers, filters and
 * the per-agent encoded offer pieces).
 */

struct fw_client {
	struct keel_http_client *c; /* the stream's connection */
	uint64_t bytes;		    /* event bytes received */
	int err;		    /* on_done's error, 0 while streaming */
	bool done;		    /* the stream ended */
};

static void on_data(const char *data, size_t len, void *arg)
{
	struct fw_client *fc = arg;

	(void)data;
	fc->bytes += len;
}

static void on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct fw_client *fc = arg;

	(void)resp;
	fc->done = true;
	fc->err = err;
}

/* The process's resident set in kB (VmRSS), 0 if unknown. */
static uint64_t rss_kb(void)
{
	char line[256];
	uint64_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %" SCNu64, &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool run_until(struct keel_loop *loop, bool (*cond)(void *), void *arg, uint64_t ms)
{
	uint64_t end = keel_loop_clock_ns() / 1000000u + ms;

	while (!cond(arg)) {
		if (keel_loop_clock_ns() / 1000000u > end)
			return false;
		keel_loop_run_once(loop, 10);
	}
	return true;
}

struct wait {
	struct master *m;  /* the master */
	uint64_t target;   /* what to wait for */
	size_t frameworks; /* frameworks expected */
};

static bool leading(void *arg)
{
	return ((struct wait *)arg)->m->state == MASTER_LEADING;
}

static bool all_connected(void *arg)
{
	struct wait *w = arg;
	return master_frameworks_connected(w->m) == w->frameworks;
}

static bool cycled(void *arg)
{
	struct wait *w = arg;
	struct master_offer_stats st;

	master_offers_stats(w->m, &st);
	return st.offer_cycles >= w->target;
}

/* Puts agent i into the table as ACTIVE with its resources (no HTTP, no registry). */
static void add_agent(struct master *m, unsigned i)
{
	char id[64], host[32];
	Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
	Mesos__V1__Resource r[2] = {MESOS__V1__RESOURCE__INIT, MESOS__V1__RESOURCE__INIT};
	Mesos__V1__Resource *rp[2] = {&r[0], &r[1]};
	Mesos__V1__Value__Scalar sc[2] = {MESOS__V1__VALUE__SCALAR__INIT,
					  MESOS__V1__VALUE__SCALAR__INIT};
	struct master_agent *a;

	snprintf(id, sizeof(id), "bench-S%u", i);
	snprintf(host, sizeof(host), "agent-%u", i);
	sc[0].value = 4;
	sc[1].value = 8192;
	r[0].name = "cpus";
	r[1].name = "mem";
	for (int k = 0; k < 2; k++) {
		r[k].type = MESOS__V1__VALUE__TYPE__SCALAR;
		r[k].scalar = &sc[k];
	}
	info.hostname = host;
	info.n_resources = 2;
	info.resources = rp;
	a = master_agent_add(m, id, NULL, MASTER_AGENT_ADMITTING);
	master_agent_set_info(a, (Mesos__V1__AgentInfo *)master_pb_copy(&info.base));
	master_agent_set_state(m, a, MASTER_AGENT_ACTIVE);
}

/* Every framework declines everything it holds, with a long filter. */
static size_t decline_all(struct master *m)
{
	Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
	struct master_framework *fw;
	size_t pos = 0, n = 0;

	filters.has_refuse_seconds = true;
	filters.refuse_seconds = 3600;
	while (master_frameworks_next(m, &pos, &fw)) {
		while (fw->offers != NULL) {
			Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT, *op = &oid;
			oid.value = fw->offers->id;
			master_offers_decline(m, fw, &op, 1, &filters);
			n++;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	struct keel_loop *loop;
	struct master_config c;
	struct master *m;
	struct fw_client *fcs;
	uint64_t *times;
	char errmsg[KEEL_ERRMSG_SIZE];
	unsigned agents, frameworks, cycles;
	struct wait w = {0};
	static const struct keel_http_client_cbs cbs = {.on_data = on_data, .on_done = on_done};

	if (argc != 4) {
		fprintf(stderr, "usage: keel-offers-bench AGENTS FRAMEWORKS CYCLES\n");
		return 2;
	}
	agents = (unsigned)strtoul(argv[1], NULL, 10);
	frameworks = (unsigned)strtoul(argv[2], NULL, 10);
	cycles = (unsigned)strtoul(argv[3], NULL, 10);
	if (agents == 0 || frameworks == 0 || cycles == 0)
		return 2;
	keel_log_set_level(KEEL_LOG_WARN);
	if (keel_loop_new(&loop, NULL, errmsg) < 0)
		return 1;
	memset(&c, 0, sizeof(c));
	c.ip = "127.0.0.1";
	c.in_memory = true;
	c.quorum = 1;
	c.coord_static = true;
	c.session_timeout_ms = 10000;
	c.fetch_timeout_ms = 60000;
	c.store_timeout_ms = 60000;
	c.ping_timeout_ms = 3600000;
	c.max_ping_timeouts = 5;
	c.reregister_timeout_ms = 3600000;
	c.max_agent_age_ms = 3600000;
	c.max_agent_count = 1000000;
	c.heartbeat_interval_ms = 3600000;
	c.allocation_interval_ms = 1;
	if (master_new(loop, &c, &m, errmsg) < 0 || master_start(m, errmsg) < 0) {
		fprintf(stderr, "keel-offers-bench: %s\n", errmsg);
		return 1;
	}
	w.m = m;
	if (!run_until(loop, leading, &w, 20000))
		return 1;
	uint64_t rss0 = rss_kb();
	for (unsigned i = 0; i < agents; i++)
		add_agent(m, i);
	uint64_t rss_agents = rss_kb();
	fcs = keel_xcalloc(frameworks, sizeof(*fcs));
	for (unsigned i = 0; i < frameworks; i++) {
		char body[256];
		const char *headers[] = {"Accept", "application/json", NULL};
		struct keel_http_client_config cc = {.request_timeout = 600000};
		int n =
		    snprintf(body, sizeof(body),
			     "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":"
			     "\"b\",\"name\":\"fw%u\",\"failover_timeout\":3600}}}",
			     i);
		if (keel_http_client_new(loop, "127.0.0.1", m->port, &cc, &fcs[i].c, errmsg) < 0 ||
		    keel_http_client_request(fcs[i].c, "POST", "/api/v1/scheduler", headers,
					     "application/json", body, (size_t)n, &cbs,
					     &fcs[i]) < 0)
			return 1;
	}
	w.frameworks = frameworks;
	if (!run_until(loop, all_connected, &w, 60000)) {
		fprintf(stderr, "keel-offers-bench: frameworks did not subscribe\n");
		return 1;
	}
	times = keel_xcalloc(cycles, sizeof(*times));
	{
		/* Offers made while the frameworks subscribed: declined, the measure starts after.
		 */
		struct master_offer_stats st;
		decline_all(m);
		master_offers_stats(m, &st);
		w.target = st.offer_cycles + 1;
	}
	size_t offered = 0;
	for (unsigned k = 0; k < cycles; k++) {
		struct master_offer_stats st;
		if (!run_until(loop, cycled, &w, 60000)) {
			fprintf(stderr, "keel-offers-bench: no cycle\n");
			return 1;
		}
		master_offers_stats(m, &st);
		times[k] = st.offer_cycle_us;
		offered += st.offer_cycle_offers;
		decline_all(m);
		w.target = st.offer_cycles + 1;
	}
	qsort(times, cycles, sizeof(*times), cmp_u64);
	uint64_t rss_end = rss_kb();
	printf("offers-bench agents=%u frameworks=%u cycles=%u offers=%zu "
	       "cycle_ms p50=%.2f p99=%.2f max=%.2f rss_per_agent_bytes=%.0f "
	       "rss_per_agent_after_cycles_bytes=%.0f\n",
	       agents, frameworks, cycles, offered, (double)times[cycles / 2] / 1000.0,
	       (double)times[(cycles * 99) / 100] / 1000.0, (double)times[cycles - 1] / 1000.0,
	       (double)(rss_agents - rss0) * 1024.0 / agents,
	       (double)(rss_end - rss0) * 1024.0 / agents);
	for (unsigned i = 0; i < frameworks; i++)
		keel_http_client_free(fcs[i].c);
	keel_free(fcs);
	keel_free(times);
	master_free(m, 0);
	keel_loop_free(loop);
	return 0;
}
