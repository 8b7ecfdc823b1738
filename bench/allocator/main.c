/* bench/allocator: the allocator core alone in Mesos's DeclineOffers scenario (cycle time, RSS). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "master/allocator.h"

/*
 * Mesos's HierarchicalAllocator_BENCHMARK_Test.DeclineOffers, with the allocator core alone
 * (no master, no network): F frameworks in role "*"; A agents of cpus:24;mem:4096;disk:4096;
 * ports:[31000-32000], each already running tasks of framework i % F that use cpus:16;
 * mem:2014;disk:1024 and 16 single ports. Every round, each framework declines every offer
 * of the previous round with refuse_seconds = INT_MAX (capped at 365 days, as Mesos does),
 * then one allocation cycle runs with the clock one second later.
 *
 * A "cycle" here is all of that: the A recover() calls of the declines and the
 * allocate() that follows, timed together (the declines are also reported alone). While
 * agents remain that some framework has not refused, a round offers each agent once (A
 * offers); after F such rounds everyone has refused everything, and the remaining rounds
 * have nothing to offer and, here, nothing to look at. Both phases are reported separately.
 */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int cmp_double(const void *x, const void *y)
{
	double p = *(const double *)x, q = *(const double *)y;

	return p < q ? -1 : p > q;
}

/* The q-th quantile (0..1) of v[0..n) (sorted in place); 0 when n is 0. */
static double quantile(double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static struct allocator_res *parse(struct allocator *a, const char *text)
{
	struct allocator_res *r;

	if (allocator_res_parse(a, text, &r) < 0) {
		fprintf(stderr, "parse %s: %s\n", text, allocator_errmsg(a));
		exit(1);
	}
	return r;
}

/* A copy of one offer (the allocator's offer array is replaced by the next cycle). */
struct held {
	char agent[24];		   /* agent ID */
	char fw[24];		   /* framework ID */
	struct allocator_res *res; /* our reference */
};

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--agents N] [--frameworks N] [--quiet-rounds N] [--max-rounds N] "
		"[--warmup N] [--verbose]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned agents = 10000, frameworks = 1000, quiet = 20, warmup = 2, max_rounds = 0;
	bool verbose = false;
	struct allocator *a;
	struct allocator_res *total, *used;
	struct allocator_stats st;
	struct held *held;
	size_t n_held = 0, n_busy = 0, n_quiet = 0, cap_rounds;
	double *busy, *busy_cpu, *busy_decl, *busy_alloc, *quiet_t, t0, setup_ms;
	long rss0, rss_setup, rss_end;
	uint64_t words_busy = 0, words_quiet = 0, offers_total = 0;
	char err[KEEL_ERRMSG_SIZE], id[32], ports[512];
	size_t plen;
	int64_t clock_ms = 0;
	unsigned quiet_seen = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--agents") == 0 && i + 1 < argc)
			agents = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--frameworks") == 0 && i + 1 < argc)
			frameworks = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--quiet-rounds") == 0 && i + 1 < argc)
			quiet = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--max-rounds") == 0 && i + 1 < argc)
			max_rounds = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
			warmup = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--verbose") == 0)
			verbose = true;
		else
			usage(argv[0]);
	}
	if (agents == 0 || frameworks == 0)
		usage(argv[0]);
	cap_rounds = (size_t)frameworks + quiet + 8;
	if (max_rounds && max_rounds < cap_rounds)
		cap_rounds = max_rounds;
	busy = calloc(cap_rounds, sizeof(double));
	busy_cpu = calloc(cap_rounds, sizeof(double));
	busy_decl = calloc(cap_rounds, sizeof(double));
	busy_alloc = calloc(cap_rounds, sizeof(double));
	quiet_t = calloc(cap_rounds, sizeof(double));
	held = calloc(agents, sizeof(*held));
	if (!busy || !busy_cpu || !busy_decl || !busy_alloc || !quiet_t || !held)
		return 1;

	rss0 = rss_kb();
	t0 = now_ms();
	if (allocator_new(NULL, &a, err) < 0) {
		fprintf(stderr, "allocator_new: %s\n", err);
		return 1;
	}
	for (unsigned f = 0; f < frameworks; f++) {
		const char *roles[] = {"*"};
		struct allocator_framework info = {.id = id, .roles = roles, .n_roles = 1};

		snprintf(id, sizeof(id), "framework-%u", f);
		if (allocator_framework_add(a, &info) < 0) {
			fprintf(stderr, "framework_add: %s\n", allocator_errmsg(a));
			return 1;
		}
	}
	total = parse(a, "cpus:24;mem:4096;disk:4096;ports:[31000-32000]");
	/* 16 tasks, one port each, spread over the range (Mesos fragments it the same way). */
	plen = (size_t)snprintf(ports, sizeof(ports), "cpus:16;mem:2014;disk:1024;ports:[");
	for (int k = 0; k < 16; k++)
		plen += (size_t)snprintf(ports + plen, sizeof(ports) - plen, "%s%d-%d",
					 k ? "," : "", 31000 + 62 * k, 31000 + 62 * k);
	snprintf(ports + plen, sizeof(ports) - plen, "]");
	used = parse(a, ports);
	for (unsigned i = 0; i < agents; i++) {
		char fid[32];
		struct allocator_use use = {.framework_id = fid, .role = "*", .res = used};

		snprintf(id, sizeof(id), "agent-%u", i);
		snprintf(fid, sizeof(fid), "framework-%u", i % frameworks);
		if (allocator_agent_add(a, id, total, &use, 1) < 0) {
			fprintf(stderr, "agent_add: %s\n", allocator_errmsg(a));
			return 1;
		}
	}
	setup_ms = now_ms() - t0;
	rss_setup = rss_kb();

	for (unsigned round = 0; !max_rounds || round < max_rounds; round++) {
		const struct allocator_offer *offers;
		size_t n;
		double t1, t2, t3, c1;

		/* Decline everything offered last round, permanently. */
		c1 = cpu_ms();
		t1 = now_ms();
		for (size_t h = 0; h < n_held; h++) {
			if (allocator_recover(a, held[h].agent, held[h].fw, "*", held[h].res,
					      2147483647.0, clock_ms) < 0) {
				fprintf(stderr, "recover: %s\n", allocator_errmsg(a));
				return 1;
			}
			allocator_res_unref(held[h].res);
		}
		t2 = now_ms();
		clock_ms += 1000;
		if (allocator_allocate(a, clock_ms, &offers, &n) < 0) {
			fprintf(stderr, "allocate: %s\n", allocator_errmsg(a));
			return 1;
		}
		t3 = now_ms();
		allocator_stats(a, &st);
		if (verbose)
			printf(
			    "round %u: declined %zu in %.2f ms, allocate %.2f ms made %zu offers "
			    "(words %" PRIu64 ", clients %u)\n",
			    round, n_held, t2 - t1, t3 - t2, n, st.last_words, st.last_clients);
		offers_total += n;
		if (n > 0 || n_held > 0) {
			if (round >= warmup && n_busy < cap_rounds) {
				busy[n_busy] = t3 - t1;
				busy_cpu[n_busy] = cpu_ms() - c1;
				busy_decl[n_busy] = t2 - t1;
				busy_alloc[n_busy++] = t3 - t2;
				words_busy += st.last_words;
			}
		} else if (n_quiet < cap_rounds) {
			quiet_t[n_quiet++] = t3 - t1;
			words_quiet += st.last_words;
		}
		for (size_t o = 0; o < n; o++) {
			snprintf(held[o].agent, sizeof(held[o].agent), "%s", offers[o].agent_id);
			snprintf(held[o].fw, sizeof(held[o].fw), "%s", offers[o].framework_id);
			held[o].res = allocator_res_ref(offers[o].resources);
		}
		n_held = n;
		if (n == 0 && ++quiet_seen > quiet)
			break;
	}
	rss_end = rss_kb();
	allocator_stats(a, &st);
	for (size_t h = 0; h < n_held; h++)
		allocator_res_unref(held[h].res);
	{
		size_t nb = n_busy;
		double b50 = quantile(busy, nb, 0.5), b99 = quantile(busy, nb, 0.99);
		double c50 = quantile(busy_cpu, nb, 0.5), c99 = quantile(busy_cpu, nb, 0.99);
		double d50 = quantile(busy_decl, nb, 0.5), a50 = quantile(busy_alloc, nb, 0.5);
		double q50 = quantile(quiet_t, n_quiet, 0.5),
		       q99 = quantile(quiet_t, n_quiet, 0.99);

		printf("agents=%u frameworks=%u setup_ms=%.0f busy_rounds=%zu busy_p50_ms=%.2f "
		       "busy_p99_ms=%.2f busy_cpu_p50_ms=%.2f busy_cpu_p99_ms=%.2f "
		       "busy_decline_p50_ms=%.2f busy_allocate_p50_ms=%.2f "
		       "quiet_rounds=%zu quiet_p50_ms=%.4f quiet_p99_ms=%.4f "
		       "words_per_busy_round=%.0f words_per_quiet_round=%.1f offers=%" PRIu64
		       " filters=%" PRIu64 " rss_setup_kb=%ld rss_end_kb=%ld "
		       "rss_per_agent_bytes=%.0f rss_per_agent_end_bytes=%.0f "
		       "bytes_per_filter=%.1f\n",
		       agents, frameworks, setup_ms, nb, b50, b99, c50, c99, d50, a50, n_quiet, q50,
		       q99, nb ? (double)words_busy / (double)nb : 0,
		       n_quiet ? (double)words_quiet / (double)n_quiet : 0, offers_total,
		       st.filters, rss_setup, rss_end, (double)(rss_setup - rss0) * 1024 / agents,
		       (double)(rss_end - rss0) * 1024 / agents,
		       st.filters ? (double)(rss_end - rss_setup) * 1024 / (double)st.filters : 0);
	}
	allocator_res_unref(total);
	allocator_res_unref(used);
	allocator_free(a);
	free(busy);
	free(busy_cpu);
	free(busy_decl);
	free(busy_alloc);
	free(quiet_t);
	free(held);
	return 0;
}
