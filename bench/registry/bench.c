/* bench/registry: the cost of admitting agent 1, 10,000 and 50,000, and recovery at 50,000. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/registrar.h"
#include "replog/msg.h"
#include "replog/replog.h"
#include "runtime/http_server.h"
#include "runtime/loop.h"

/*
 * Usage: keel-registry-bench DIR [REPLICAS [AGENTS]]
 *
 * Opens REPLICAS (1 or 3) log replicas in this process (own LMDB directory
 * under DIR each, loopback HTTP between them, fsync before acknowledging),
 * the registrar on replica 0 with its default settings, and then at
 * registry sizes 0, 10,000 and AGENTS (50,000):
 *   - latency: 200 admissions one at a time (each waits for the previous);
 *   - throughput: 5,000 admissions queued in one turn, time until all done.
 * Between the levels it fills the registry with admissions queued 5,000 at a
 * time. For scale it times 200 raw appends of one admission's size on a
 * second log of the same shape (the floor: what the log alone costs). Then it
 * restarts every replica from disk and times the recovery of the registry.
 * Figures go to stdout as key=value lines.
 */

#define MAXN 3
#define LAT_SAMPLES 200
#define TPUT_OPS 5000

/* The bench's state. */
struct bench {
	struct keel_loop *loop;		    /* the loop */
	unsigned n;			    /* replicas */
	struct keel_http_server *srv[MAXN]; /* their servers */
	struct replog *log[MAXN];	    /* the replicas */
	struct replog_peer peers[MAXN];	    /* their addresses */
	char dir[MAXN][512];		    /* their LMDB dirs */
	struct registrar *r;		    /* the registrar on replica 0 */
	unsigned next;			    /* next agent number */
	unsigned done;			    /* completions counted */
	int failed;			    /* a completion failed or on_fatal ran */
};

/* One agent message with its parts: a typical agent (4 resources, 2 attributes). */
struct agent_msg {
	Mesos__V1__AgentInfo info;	    /* the message */
	Mesos__V1__AgentID id;		    /* its ID */
	Mesos__V1__Resource res[4];	    /* cpus, mem, disk, ports */
	Mesos__V1__Resource *res_ptrs[4];   /* pointers */
	Mesos__V1__Value__Scalar sc[3];	    /* scalar values */
	Mesos__V1__Value__Ranges ranges;    /* ports */
	Mesos__V1__Value__Range range;	    /* one port range */
	Mesos__V1__Value__Range *range_ptr; /* pointer */
	Mesos__V1__Attribute attr[2];	    /* rack, zone */
	Mesos__V1__Attribute *attr_ptrs[2]; /* pointers */
	Mesos__V1__Value__Text text[2];	    /* their values */
	char idbuf[96];			    /* the ID string */
	char host[64];			    /* the hostname */
	char rack[32];			    /* rack attribute */
	char zone[32];			    /* zone attribute */
};

static void agent_msg_init(struct agent_msg *m, unsigned k)
{
	static const char *names[3] = {"cpus", "mem", "disk"};
	static const double vals[3] = {32, 131072, 1048576};

	memset(m, 0, sizeof(*m));
	mesos__v1__agent_info__init(&m->info);
	mesos__v1__agent_id__init(&m->id);
	snprintf(m->idbuf, sizeof(m->idbuf), "2f9b2d6e-5c1a-4a8e-9d3c-6b1f0e7a%04x-S%u", k & 0xffff,
		 k);
	snprintf(m->host, sizeof(m->host), "node-%u.cluster.example.com", k);
	m->id.value = m->idbuf;
	m->info.id = &m->id;
	m->info.hostname = m->host;
	m->info.has_port = true;
	m->info.port = 5051;
	for (int i = 0; i < 3; i++) {
		mesos__v1__resource__init(&m->res[i]);
		mesos__v1__value__scalar__init(&m->sc[i]);
		m->sc[i].value = vals[i];
		m->res[i].name = (char *)names[i];
		m->res[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
		m->res[i].scalar = &m->sc[i];
		m->res_ptrs[i] = &m->res[i];
	}
	mesos__v1__resource__init(&m->res[3]);
	mesos__v1__value__ranges__init(&m->ranges);
	mesos__v1__value__range__init(&m->range);
	m->range.begin = 31000;
	m->range.end = 32000;
	m->range_ptr = &m->range;
	m->ranges.n_range = 1;
	m->ranges.range = &m->range_ptr;
	m->res[3].name = "ports";
	m->res[3].type = MESOS__V1__VALUE__TYPE__RANGES;
	m->res[3].ranges = &m->ranges;
	m->res_ptrs[3] = &m->res[3];
	m->info.n_resources = 4;
	m->info.resources = m->res_ptrs;
	snprintf(m->rack, sizeof(m->rack), "rack-%u", k / 40);
	snprintf(m->zone, sizeof(m->zone), "zone-%u", k % 3);
	for (int i = 0; i < 2; i++) {
		mesos__v1__attribute__init(&m->attr[i]);
		mesos__v1__value__text__init(&m->text[i]);
		m->text[i].value = i ? m->zone : m->rack;
		m->attr[i].name = i ? "zone" : "rack";
		m->attr[i].type = MESOS__V1__VALUE__TYPE__TEXT;
		m->attr[i].text = &m->text[i];
		m->attr_ptrs[i] = &m->attr[i];
	}
	m->info.n_attributes = 2;
	m->info.attributes = m->attr_ptrs;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "keel-registry-bench: %s: %s\n", what, msg);
	exit(1);
}

static void on_fatal(struct registrar *r, int err, const char *message, void *arg)
{
	(void)r;
	(void)err;
	(void)arg;
	die("registrar failed", message);
}

static void on_done(struct registrar *r, int status, void *arg)
{
	struct bench *b = arg;

	(void)r;
	if (status < 0)
		b->failed = status;
	b->done++;
}

/* Runs the loop until `target` completions were counted. */
static void wait_done(struct bench *b, unsigned target)
{
	while (b->done < target && !b->failed)
		if (keel_loop_run_once(b->loop, 100) < 0)
			die("loop", "failed");
	if (b->failed)
		die("operation", strerror(-b->failed));
}

static void admit_next(struct bench *b)
{
	struct agent_msg m;
	int rv;

	agent_msg_init(&m, b->next++);
	rv = registrar_admit_agent(b->r, &m.info, on_done, b);
	if (rv < 0)
		die("admit", strerror(-rv));
}

static uint64_t now_ns(void)
{
	return keel_loop_clock_ns();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Median and p99 of one-at-a-time admissions, then throughput of a queued burst. */
static void measure(struct bench *b, const char *label, double *p50_out)
{
	uint64_t lat[LAT_SAMPLES], t0;
	unsigned start = b->next;
	double secs;

	for (int i = 0; i < LAT_SAMPLES; i++) {
		unsigned target = b->done + 1;
		t0 = now_ns();
		admit_next(b);
		wait_done(b, target);
		lat[i] = now_ns() - t0;
	}
	qsort(lat, LAT_SAMPLES, sizeof(lat[0]), cmp_u64);
	t0 = now_ns();
	for (int i = 0; i < TPUT_OPS; i++)
		admit_next(b);
	wait_done(b, b->done + TPUT_OPS);
	secs = (double)(now_ns() - t0) / 1e9;
	*p50_out = (double)lat[LAT_SAMPLES / 2] / 1000.0;
	printf("level=%s agent_number=%u admit_p50_us=%.0f admit_p99_us=%.0f "
	       "queued_admits_per_sec=%.0f\n",
	       label, start + 1, *p50_out, (double)lat[LAT_SAMPLES * 99 / 100] / 1000.0,
	       TPUT_OPS / secs);
	fflush(stdout);
}

/* Admits until the registry holds `count` agents, 5,000 per turn. */
static void fill_to(struct bench *b, unsigned count)
{
	while (b->next < count) {
		unsigned n = count - b->next < 5000 ? count - b->next : 5000;
		unsigned target = b->done + n;
		for (unsigned i = 0; i < n; i++)
			admit_next(b);
		wait_done(b, target);
	}
}

/* The HTTP server of replica i on port (0: any); a port just given up frees up within turns. */
static void server_open(struct bench *b, unsigned i, uint16_t port)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv;

	for (int tries = 0;; tries++) {
		rv = keel_http_server_new(b->loop, "127.0.0.1", port, NULL, &b->srv[i], errmsg);
		if (rv != -EADDRINUSE || tries == 500)
			break;
		keel_loop_run_once(b->loop, 10);
	}
	if (rv < 0)
		die("server", errmsg);
	b->peers[i].host = "127.0.0.1";
	b->peers[i].port = keel_http_server_port(b->srv[i]);
}

static void replica_open(struct bench *b, unsigned i)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	struct replog_options o = {.path = b->dir[i],
				   .self = i,
				   .nodes = b->n,
				   .quorum = b->n / 2 + 1,
				   .peers = b->peers,
				   .server = NULL,
				   .prefix = "/replog",
				   .auto_init = true,
				   .tick_ms = 20,
				   .seed = i + 1,
				   .map_size = (size_t)256 << 20,
				   .map_max = (size_t)4 << 30};

	if (b->srv[i] == NULL)
		server_open(b, i, b->peers[i].port);
	o.server = b->srv[i];
	if (replog_open(b->loop, &o, &b->log[i], errmsg) < 0)
		die("replica", errmsg);
}

static void replica_close(struct bench *b, unsigned i)
{
	replog_close(b->log[i]);
	keel_http_server_free(b->srv[i]);
	b->log[i] = NULL;
	b->srv[i] = NULL;
}

/* Opens the registrar on replica 0 and recovers; returns the wall time it took (ms). */
static double recover(struct bench *b)
{
	struct registrar_config cfg = {.log = b->log[0], .on_fatal = on_fatal};
	Mesos__V1__MasterInfo mi = MESOS__V1__MASTER_INFO__INIT;
	char errmsg[KEEL_ERRMSG_SIZE];
	uint64_t t0;
	int rv;

	mi.id = "bench-master";
	mi.ip = 0x0100007f;
	mi.port = 5050;
	if (registrar_open(b->loop, &cfg, &b->r, errmsg) < 0)
		die("registrar", errmsg);
	t0 = now_ns();
	rv = registrar_recover(b->r, &mi, on_done, b);
	if (rv < 0)
		die("recover", strerror(-rv));
	wait_done(b, b->done + 1);
	return (double)(now_ns() - t0) / 1e6;
}

/* Bytes of the newest log entry (the last append). */
static size_t last_append_size(struct bench *b)
{
	const void *v;
	uint8_t type;
	size_t len = 0;

	if (replog_reader_read(b->log[0], replog_reader_ending(b->log[0]), &type, &v, &len) < 0)
		return 0;
	return len;
}

/* Opens b's servers and replicas (directories DIR/<prefix><i>) on loop. */
static void bench_open(struct bench *b, struct keel_loop *loop, unsigned n, const char *dir,
		       const char *prefix)
{
	memset(b, 0, sizeof(*b));
	b->loop = loop;
	b->n = n;
	for (unsigned i = 0; i < n; i++)
		snprintf(b->dir[i], sizeof(b->dir[i]), "%s/%s%u", dir, prefix, i);
	/* Servers first (ports), then replicas: each needs every peer's address. */
	for (unsigned i = 0; i < n; i++)
		server_open(b, i, 0);
	for (unsigned i = 0; i < n; i++)
		replica_open(b, i);
}

/* Completion of a raw log call. */
static void on_raw(struct replog *log, int status, uint64_t position, void *arg)
{
	int *done = arg;

	(void)log;
	(void)position;
	*done = status < 0 ? status : 1;
}

/*
 * The floor under an admission: the median of 200 appends of `size` bytes,
 * one at a time, straight to a log of the same shape (its own directories).
 */
static double raw_append_p50(struct keel_loop *loop, unsigned n, const char *dir, size_t size)
{
	struct bench raw;
	uint64_t lat[LAT_SAMPLES];
	char *value = calloc(1, size);
	int done = 0;

	bench_open(&raw, loop, n, dir, "raw");
	while (replog_status(raw.log[0]) != REPLOG_VOTING ||
	       replog_writer_start(raw.log[0], on_raw, &done) < 0)
		keel_loop_run_once(loop, 10);
	while (done == 0)
		keel_loop_run_once(loop, 10);
	if (done < 0 || value == NULL)
		die("raw log", "cannot start its writer");
	for (int i = 0; i < LAT_SAMPLES; i++) {
		uint64_t t0 = now_ns();
		done = 0;
		if (replog_writer_append(raw.log[0], value, size, on_raw, &done) < 0)
			die("raw log", "append refused");
		while (done == 0)
			keel_loop_run_once(loop, 100);
		if (done < 0)
			die("raw log", "append failed");
		lat[i] = now_ns() - t0;
	}
	for (unsigned i = 0; i < n; i++)
		replica_close(&raw, i);
	free(value);
	qsort(lat, LAT_SAMPLES, sizeof(lat[0]), cmp_u64);
	return (double)lat[LAT_SAMPLES / 2] / 1000.0;
}

int main(int argc, char **argv)
{
	struct bench b;
	struct keel_loop *loop;
	struct registrar_stats st;
	const char *dir;
	unsigned n;
	unsigned agents = 50000;
	double p1, p10k, p50k, rec_ms, startup_ms;
	size_t one_append, snap_size;

	if (argc < 2) {
		fprintf(stderr, "usage: keel-registry-bench DIR [REPLICAS [AGENTS]]\n");
		return 2;
	}
	dir = argv[1];
	n = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
	if (argc > 3)
		agents = (unsigned)atoi(argv[3]);
	if ((n != 1 && n != 3) || agents < 20000)
		die("arguments", "REPLICAS is 1 or 3, AGENTS at least 20000");
	if (keel_loop_new(&loop, NULL, NULL) < 0)
		die("loop", "cannot create");
	bench_open(&b, loop, n, dir, "r");
	startup_ms = recover(&b);
	printf("replicas=%u agents=%u first_recovery_ms=%.1f\n", b.n, agents, startup_ms);

	measure(&b, "1", &p1);
	one_append = 0;
	{
		unsigned target = b.done + 1;
		admit_next(&b);
		wait_done(&b, target);
		one_append = last_append_size(&b);
	}
	fill_to(&b, 10000);
	measure(&b, "10000", &p10k);
	fill_to(&b, agents);
	{
		char label[16];
		snprintf(label, sizeof(label), "%u", agents);
		measure(&b, label, &p50k);
	}
	registrar_get_stats(b.r, &st);
	snap_size = st.registry_size;
	printf("registry_agents=%zu registry_bytes=%zu append_bytes_per_admission=%zu "
	       "snapshots_written=%" PRIu64 " appends=%" PRIu64 "\n",
	       registrar_count_agents(b.r, REGISTRAR_AGENT_ADMITTED), snap_size, one_append,
	       st.snapshots, st.appends);
	printf("raw_log_append_p50_us=%.0f (the same log shape, %zu-byte values, no registrar)\n",
	       raw_append_p50(loop, b.n, dir, one_append), one_append);
	printf("goal_admit_%u_within_1.5x_of_1: p50 ratio %.2f (%s)\n", agents, p50k / p1,
	       p50k <= 1.5 * p1 ? "met" : "not met");
	fflush(stdout);

	/* Recovery: every replica restarts from its disk. */
	registrar_close(b.r);
	b.r = NULL;
	for (unsigned i = 0; i < b.n; i++)
		replica_close(&b, i);
	for (unsigned i = 0; i < b.n; i++)
		replica_open(&b, i);
	rec_ms = recover(&b);
	registrar_get_stats(b.r, &st);
	printf("recovery_agents=%zu recovery_ms=%.1f state_fetch_ms=%.1f recovered_entries=%" PRIu64
	       "\n",
	       registrar_count_agents(b.r, REGISTRAR_AGENT_ADMITTED), rec_ms, st.state_fetch_ms,
	       st.recovered_entries);
	registrar_close(b.r);
	for (unsigned i = 0; i < b.n; i++)
		replica_close(&b, i);
	keel_loop_free(b.loop);
	return 0;
}
