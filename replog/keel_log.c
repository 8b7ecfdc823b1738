/* keel-log: initialize, run, read, dump and benchmark replog replicas from the command line. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "replog.h"
#include "store.h"
#include "runtime/buf.h"
#include "runtime/err.h"
#include "runtime/flags.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/loop.h"
#include "runtime/util.h"

/* Every flag of every command (one table; each command reads the ones it needs). */
struct opts {
	char *path;	   /* --path: LMDB directory */
	char *peers;	   /* --peers: host:port,... of every replica, in index order */
	uint64_t self;	   /* --self: this replica's index */
	uint64_t quorum;   /* --quorum: 0 = majority */
	bool auto_init;	   /* --auto_init */
	bool json;	   /* --json */
	uint64_t from;	   /* --from */
	uint64_t to;	   /* --to */
	uint64_t map_size; /* --map_size */
	uint64_t tick_ms;  /* --tick_ms */
	char *targets;	   /* --targets: replicas to append through (bench) */
	uint64_t count;	   /* --count: appends (bench) */
	uint64_t size;	   /* --size: bytes per append (bench) */
	uint64_t inflight; /* --inflight: appends in flight (bench) */
	char *acked;	   /* --acked: file for acknowledged "position value" lines (bench) */
};

static struct opts o;

static const struct keel_flag flag_table[] = {
    {"path", KEEL_FLAG_STRING, &o.path, NULL, "LMDB directory of the replica.", .no_fetch = true},
    {"peers", KEEL_FLAG_STRING, &o.peers, NULL,
     "Every replica as host:port, comma separated, in index order (replica)."},
    {"self", KEEL_FLAG_UINT64, &o.self, "0", "This replica's index in --peers (replica)."},
    {"quorum", KEEL_FLAG_UINT64, &o.quorum, "0", "Votes needed; 0 means a majority."},
    {"auto_init", KEEL_FLAG_BOOL, &o.auto_init, "true",
     "Initialise automatically when every replica is empty (replica)."},
    {"json", KEEL_FLAG_BOOL, &o.json, "false", "Print JSON (dump)."},
    {"from", KEEL_FLAG_UINT64, &o.from, "0", "First position (read, dump)."},
    {"to", KEEL_FLAG_UINT64, &o.to, "18446744073709551614", "Last position (read, dump)."},
    {"map_size", KEEL_FLAG_BYTES, &o.map_size, "1GB", "LMDB map size."},
    {"tick_ms", KEEL_FLAG_UINT64, &o.tick_ms, "100", "Retry interval in ms (replica).", .min = "1"},
    {"targets", KEEL_FLAG_STRING, &o.targets, NULL,
     "Replicas to append through as host:port,..., tried in turn (bench)."},
    {"count", KEEL_FLAG_UINT64, &o.count, "1000", "Appends to make (bench)."},
    {"size", KEEL_FLAG_UINT64, &o.size, "100", "Bytes per append (bench).", .min = "8"},
    {"inflight", KEEL_FLAG_UINT64, &o.inflight, "1", "Appends in flight (bench).", .min = "1"},
    {"acked", KEEL_FLAG_STRING, &o.acked, NULL,
     "Write \"position value\" for every acknowledged append to this file (bench).",
     .no_fetch = true},
};

static const char usage[] =
    "usage: keel-log COMMAND [flags]\n"
    "  initialize --path=DIR        make an empty replica VOTING (a new log)\n"
    "  replica --path=DIR --peers=H:P,H:P,H:P --self=I\n"
    "                               run a replica; also serves POST /log/append and\n"
    "                               GET /log/read?from=A&to=B for clients\n"
    "  read --path=DIR [--from --to] print learned APPEND values, one per line\n"
    "  dump --path=DIR [--json]     print metadata and every stored action\n"
    "  bench --targets=H:P,... --count=N --size=B --inflight=K [--acked=FILE]\n"
    "                               append through running replicas; print appends/s, p50, p99\n";

/* --- host:port lists. --- */

static int parse_hostports(const char *s, struct replog_peer *out, char hosts[][64], size_t max,
			   size_t *n)
{
	*n = 0;
	while (s && *s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		const char *colon = memchr(s, ':', len);
		if (*n == max || colon == NULL || (size_t)(colon - s) >= 64)
			return -EINVAL;
		memcpy(hosts[*n], s, (size_t)(colon - s));
		hosts[*n][colon - s] = '\0';
		long port = strtol(colon + 1, NULL, 10);
		if (port <= 0 || port > 65535)
			return -EINVAL;
		out[*n].host = hosts[*n];
		out[*n].port = (uint16_t)port;
		(*n)++;
		s = comma ? comma + 1 : NULL;
	}
	return 0;
}

/* --- initialize, read, dump: offline on the store. --- */

static struct replog_store *open_store(void)
{
	struct replog_store_config cfg = {.path = o.path, .map_size = o.map_size};
	struct replog_store *s;
	char errmsg[KEEL_ERRMSG_SIZE];

	if (o.path == NULL) {
		fprintf(stderr, "keel-log: --path is required\n");
		exit(2);
	}
	if (replog_store_open(&cfg, &s, errmsg) < 0) {
		fprintf(stderr, "keel-log: %s\n", errmsg);
		exit(1);
	}
	return s;
}

static int cmd_initialize(void)
{
	struct replog_store *s = open_store();
	struct replog_meta m;
	struct replog_write w = {.kind = REPLOG_WRITE_META};
	uint64_t seq;
	int rv = replog_store_meta(s, &m);

	if (rv == 0 && m.status != REPLOG_EMPTY) {
		fprintf(stderr, "keel-log: %s is already initialised (%s)\n", o.path,
			replog_status_name(m.status));
		replog_store_close(s);
		return 1;
	}
	w.meta.status = REPLOG_VOTING;
	rv = replog_store_submit(s, &w, 1, &seq);
	if (rv == 0)
		rv = replog_store_flush(s);
	if (rv < 0)
		fprintf(stderr, "keel-log: %s\n", replog_store_errmsg(s));
	replog_store_close(s);
	return rv < 0 ? 1 : 0;
}

static void print_escaped(const void *p, size_t n, bool json)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '"' || b[i] == '\\')
			printf("\\%c", b[i]);
		else if (b[i] >= 0x20 && b[i] < 0x7f)
			putchar(b[i]);
		else
			printf(json ? "\\u%04x" : "\\x%02x", b[i]);
	}
}

static bool dump_first;

static int read_cb(void *arg, const struct replog_action *a)
{
	(void)arg;
	if (a->position > o.to)
		return 1;
	if (a->learned && a->type == REPLOG_ACTION_APPEND) {
		printf("%" PRIu64 " ", a->position);
		print_escaped(a->value, a->len, false);
		putchar('\n');
	}
	return 0;
}

static int dump_cb(void *arg, const struct replog_action *a)
{
	(void)arg;
	if (a->position > o.to)
		return 1;
	if (o.json) {
		printf("%s\n    {\"position\": %" PRIu64 ", \"ballot\": %" PRIu64
		       ", \"type\": \"%s\", \"learned\": %s, \"tombstone\": %s",
		       dump_first ? "" : ",", a->position, a->ballot,
		       replog_action_type_name(a->type), a->learned ? "true" : "false",
		       a->tombstone ? "true" : "false");
		if (a->type == REPLOG_ACTION_TRUNCATE)
			printf(", \"to\": %" PRIu64, a->to);
		if (a->type == REPLOG_ACTION_APPEND) {
			printf(", \"value\": \"");
			print_escaped(a->value, a->len, true);
			printf("\"");
		}
		printf("}");
	} else {
		printf("%" PRIu64 "\t%s\tballot=%" PRIu64 "%s%s", a->position,
		       replog_action_type_name(a->type), a->ballot,
		       a->learned ? "\tlearned" : "\tunlearned", a->tombstone ? "\ttombstone" : "");
		if (a->type == REPLOG_ACTION_TRUNCATE)
			printf("\tto=%" PRIu64, a->to);
		if (a->type == REPLOG_ACTION_APPEND) {
			printf("\t%zu bytes\t", a->len);
			print_escaped(a->value, a->len, false);
		}
		putchar('\n');
	}
	dump_first = false;
	return 0;
}

static int cmd_read_or_dump(bool dump)
{
	struct replog_store *s = open_store();
	struct replog_meta m;
	int rv = replog_store_meta(s, &m);
	bool has_meta = rv == 0;

	if (rv < 0 && rv != -ENOENT) {
		fprintf(stderr, "keel-log: %s\n", replog_store_errmsg(s));
		replog_store_close(s);
		return 1;
	}
	if (dump && o.json) {
		if (has_meta)
			printf("{\"meta\": {\"status\": \"%s\", \"promised\": %" PRIu64
			       ", \"begin\": %" PRIu64 "},\n \"actions\": [",
			       replog_status_name(m.status), m.promised, m.begin);
		else
			printf("{\"meta\": null,\n \"actions\": [");
	} else if (dump) {
		if (has_meta)
			printf("meta\tstatus=%s\tpromised=%" PRIu64 "\tbegin=%" PRIu64 "\n",
			       replog_status_name(m.status), m.promised, m.begin);
		else
			printf("meta\tnone\n");
	}
	dump_first = true;
	rv = replog_store_scan(s, o.from, dump ? dump_cb : read_cb, NULL);
	if (dump && o.json)
		printf("\n ]}\n");
	if (rv < 0)
		fprintf(stderr, "keel-log: %s\n", replog_store_errmsg(s));
	replog_store_close(s);
	return rv < 0 ? 1 : 0;
}

/* --- replica: a replica with a small client interface. --- */

/* The running replica and its client requests. */
struct rep {
	struct keel_loop *loop;		/* loop */
	struct replog *r;		/* the replica */
	bool electing;			/* a START is pending */
	bool elected;			/* the writer was elected and no append failed since */
	struct keel_http_req **waiting; /* append requests waiting for an election */
	void **waiting_body;		/* their copied bodies */
	size_t *waiting_len;		/* their lengths */
	size_t n_waiting;		/* how many */
};

static struct rep rep;

static void rep_append_done(struct replog *r, int status, uint64_t position, void *arg)
{
	struct keel_http_req *req = arg;
	char text[64];
	(void)r;
	if (status < 0) {
		rep.elected = false; /* the writer may be dead: start it again next time */
		snprintf(text, sizeof(text), "append failed: %s\n", strerror(-status));
		keel_http_respond_text(req, 503, text);
		return;
	}
	snprintf(text, sizeof(text), "%" PRIu64 "\n", position);
	keel_http_respond_text(req, 200, text);
}

static void rep_do_append(struct keel_http_req *req, const void *body, size_t len)
{
	int rv = replog_writer_append(rep.r, body, len, rep_append_done, req);
	if (rv == -ENOTCONN)
		rep.elected = false;
	if (rv < 0) {
		char text[64];
		snprintf(text, sizeof(text), "append refused: %s\n", strerror(-rv));
		keel_http_respond_text(req, 503, text);
	}
}

static void rep_start_done(struct replog *r, int status, uint64_t position, void *arg)
{
	(void)r;
	(void)position;
	(void)arg;
	rep.electing = false;
	rep.elected = status == 0;
	for (size_t i = 0; i < rep.n_waiting; i++) {
		if (status < 0)
			keel_http_respond_text(rep.waiting[i], 503, "election failed\n");
		else
			rep_do_append(rep.waiting[i], rep.waiting_body[i], rep.waiting_len[i]);
		free(rep.waiting_body[i]);
	}
	rep.n_waiting = 0;
}

static void rep_on_append(struct keel_http_req *req, void *arg)
{
	size_t len;
	const char *body = keel_http_req_body(req, &len);
	int rv = 0;
	(void)arg;

	/* Elect on demand (an election already running, or one started now: wait for it). */
	if (!rep.elected && !rep.electing) {
		rv = replog_writer_start(rep.r, rep_start_done, NULL);
		if (rv == -EALREADY)
			rep.elected = true;
	}
	if (rep.electing || (!rep.elected && rv == 0)) {
		/* Not elected yet: wait for the election (started now or earlier). */
		rep.electing = true;
		rep.waiting = realloc(rep.waiting, (rep.n_waiting + 1) * sizeof(*rep.waiting));
		rep.waiting_body =
		    realloc(rep.waiting_body, (rep.n_waiting + 1) * sizeof(*rep.waiting_body));
		rep.waiting_len =
		    realloc(rep.waiting_len, (rep.n_waiting + 1) * sizeof(*rep.waiting_len));
		if (!rep.waiting || !rep.waiting_body || !rep.waiting_len)
			abort();
		rep.waiting[rep.n_waiting] = req;
		rep.waiting_body[rep.n_waiting] = malloc(len ? len : 1);
		if (rep.waiting_body[rep.n_waiting] == NULL)
			abort();
		if (len)
			memcpy(rep.waiting_body[rep.n_waiting], body, len);
		rep.waiting_len[rep.n_waiting] = len;
		rep.n_waiting++;
		return;
	}
	rep_do_append(req, body, len);
}

/* A read request waiting for catch-up. */
struct rep_read {
	struct keel_http_req *req; /* the request */
	uint64_t from, to;	   /* range */
};

static void rep_read_done(struct replog *r, int status, uint64_t position, void *arg)
{
	struct rep_read *rr = arg;
	struct keel_buf out = {0};
	uint64_t to = rr->to < position ? rr->to : position;
	(void)r;

	if (status < 0) {
		keel_http_respond_text(rr->req, 503, "catch-up failed\n");
		free(rr);
		return;
	}
	for (uint64_t p = rr->from; p <= to && p >= rr->from; p++) {
		uint8_t type;
		const void *v;
		size_t len;
		if (replog_reader_read(rep.r, p, &type, &v, &len) < 0 ||
		    type != REPLOG_ACTION_APPEND)
			continue;
		keel_buf_printf(&out, "%" PRIu64 " ", p);
		keel_buf_append(&out, v, len);
		keel_buf_putc(&out, '\n');
	}
	keel_http_respond(rr->req, 200, "text/plain", NULL,
			  keel_buf_size(&out) ? keel_buf_rptr(&out) : "", keel_buf_size(&out));
	keel_buf_free(&out);
	free(rr);
}

static void rep_on_read(struct keel_http_req *req, void *arg)
{
	const struct keel_http_head *h = keel_http_req_head(req);
	struct rep_read *rr = calloc(1, sizeof(*rr));
	char q[128] = "";
	(void)arg;

	if (rr == NULL)
		abort();
	rr->req = req;
	rr->to = REPLOG_POSITION_MAX;
	if (h->query && h->query_len < sizeof(q)) {
		memcpy(q, h->query, h->query_len);
		char *f = strstr(q, "from="), *t = strstr(q, "to=");
		if (f)
			rr->from = strtoull(f + 5, NULL, 10);
		if (t)
			rr->to = strtoull(t + 3, NULL, 10);
	}
	if (replog_reader_catchup(rep.r, rep_read_done, rr) < 0) {
		keel_http_respond_text(req, 503, "not ready\n");
		free(rr);
	}
}

static void on_signal(struct keel_async *a, void *arg)
{
	(void)a;
	keel_loop_stop(arg);
}

static struct keel_async *sig_async;

static void sig_handler(int sig)
{
	(void)sig;
	keel_async_send(sig_async);
}

static int cmd_replica(void)
{
	struct replog_peer peers[REPLOG_NODES_MAX];
	char hosts[REPLOG_NODES_MAX][64];
	size_t n;
	struct keel_http_server *srv;
	char errmsg[KEEL_ERRMSG_SIZE];

	if (o.path == NULL || o.peers == NULL ||
	    parse_hostports(o.peers, peers, hosts, REPLOG_NODES_MAX, &n) < 0 || o.self >= n) {
		fprintf(stderr,
			"keel-log replica: need --path, --peers=H:P,... and --self < peers\n");
		return 2;
	}
	/*
	 * A long-running daemon: keep freed memory instead of giving it back to
	 * the kernel after each burst (glibc's default trims the heap and maps
	 * large buffers afresh, and every page then faults in again: measured,
	 * docs/replog.md).
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	if (keel_loop_new(&rep.loop, NULL, errmsg) < 0 ||
	    keel_http_server_new(rep.loop, peers[o.self].host, peers[o.self].port, NULL, &srv,
				 errmsg) < 0) {
		fprintf(stderr, "keel-log: %s\n", errmsg);
		return 1;
	}
	struct replog_options ro = {.path = o.path,
				    .self = (unsigned)o.self,
				    .nodes = (unsigned)n,
				    .quorum = o.quorum ? (unsigned)o.quorum : (unsigned)n / 2 + 1,
				    .peers = peers,
				    .server = srv,
				    .prefix = "/replog",
				    .auto_init = o.auto_init,
				    .tick_ms = (unsigned)o.tick_ms,
				    .seed = keel_loop_clock_ns() ^ o.self,
				    .map_size = o.map_size};
	if (replog_open(rep.loop, &ro, &rep.r, errmsg) < 0) {
		fprintf(stderr, "keel-log: %s\n", errmsg);
		return 1;
	}
	keel_http_server_route(srv, KEEL_HTTP_POST, "/log/append", rep_on_append, NULL);
	keel_http_server_route(srv, KEEL_HTTP_GET, "/log/read", rep_on_read, NULL);
	if (keel_async_new(rep.loop, on_signal, rep.loop, &sig_async, errmsg) < 0) {
		fprintf(stderr, "keel-log: %s\n", errmsg);
		return 1;
	}
	signal(SIGTERM, sig_handler);
	signal(SIGINT, sig_handler);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "keel-log: replica %" PRIu64 " of %zu on %s:%u\n", o.self, n,
		peers[o.self].host, peers[o.self].port);
	keel_loop_run(rep.loop);
	replog_close(rep.r);
	keel_http_server_free(srv);
	keel_loop_free(rep.loop);
	free(rep.waiting);
	free(rep.waiting_body);
	free(rep.waiting_len);
	return 0;
}

/* --- bench: appends through running replicas. --- */

#define BENCH_CONNS 64

struct bench {
	struct keel_loop *loop; /* loop */
	/* Connections per target: a server answers pipelined requests in order and an append
	 * is answered only once chosen, so `inflight` appends need `inflight` connections. */
	struct keel_http_client *cl[16][BENCH_CONNS];
	uint64_t rr;		 /* round-robin over connections */
	size_t n_targets;	 /* targets */
	size_t cur;		 /* target in use */
	uint64_t sent, done, ok; /* counters */
	uint64_t *lat_ns;	 /* latency of each acknowledged append */
	uint64_t *start_ns;	 /* send time per append index */
	char *value;		 /* payload buffer */
	FILE *acked;		 /* acknowledged appends out */
	uint64_t failures;	 /* failed appends (retried elsewhere) */
	uint64_t cap;		 /* size of lat_ns and start_ns */
};

static struct bench bn;

static void bench_send(uint64_t i);

static void bench_done(int err, const struct keel_http_response *resp, void *arg)
{
	uint64_t i = (uint64_t)(uintptr_t)arg & ((1ull << 48) - 1);
	size_t target = (size_t)((uint64_t)(uintptr_t)arg >> 48);

	if (err == 0 && resp->status == 200) {
		bn.lat_ns[bn.ok++] = keel_loop_clock_ns() - bn.start_ns[i];
		if (bn.acked) {
			char num[32] = "";
			memcpy(num, resp->body, resp->body_len < 31 ? resp->body_len : 31);
			fprintf(bn.acked, "%" PRIu64 " v%08" PRIu64 "\n",
				(uint64_t)strtoull(num, NULL, 10), i);
			fflush(bn.acked);
		}
		bn.done++;
		if (bn.sent < o.count)
			bench_send(bn.sent++);
	} else {
		/* Outcome unknown; try the next replica with a new value index. */
		bn.failures++;
		/* A replica that cannot be reached: move on (once per failure of the current one).
		 * A replica that answered 503 re-elects its writer on the next append: stay. */
		if (err != 0 && target == bn.cur)
			bn.cur = (bn.cur + 1) % bn.n_targets;
		bn.done++;
		if (bn.sent >= bn.cap)
			keel_loop_stop(bn.loop);
		else
			o.count++, bench_send(bn.sent++);
	}
	if (bn.done >= o.count)
		keel_loop_stop(bn.loop);
}

static void bench_send(uint64_t i)
{
	static const struct keel_http_client_cbs cbs = {.on_done = bench_done};
	char tag[16];

	snprintf(tag, sizeof(tag), "v%08" PRIu64, i);
	memcpy(bn.value, tag, 9);
	if (i >= bn.cap)
		return;
	bn.start_ns[i] = keel_loop_clock_ns();
	if (keel_http_client_request(bn.cl[bn.cur][bn.rr++ % KEEL_MIN(o.inflight, BENCH_CONNS)],
				     "POST", "/log/append", NULL, "application/octet-stream",
				     bn.value, o.size, &cbs,
				     (void *)(uintptr_t)(i | (uint64_t)bn.cur << 48)) < 0) {
		fprintf(stderr, "keel-log bench: request failed\n");
		keel_loop_stop(bn.loop);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmd_bench(void)
{
	struct replog_peer peers[16];
	char hosts[16][64];
	char errmsg[KEEL_ERRMSG_SIZE];
	uint64_t t0, t1, cap = o.count * 5 + 200;

	bn.cap = cap;

	if (o.targets == NULL || parse_hostports(o.targets, peers, hosts, 16, &bn.n_targets) < 0 ||
	    bn.n_targets == 0) {
		fprintf(stderr, "keel-log bench: need --targets=H:P,...\n");
		return 2;
	}
	if (keel_loop_new(&bn.loop, NULL, errmsg) < 0) {
		fprintf(stderr, "keel-log: %s\n", errmsg);
		return 1;
	}
	for (size_t i = 0; i < bn.n_targets; i++)
		for (size_t k = 0; k < BENCH_CONNS; k++)
			if (keel_http_client_new(bn.loop, peers[i].host, peers[i].port, NULL,
						 &bn.cl[i][k], errmsg) < 0) {
				fprintf(stderr, "keel-log: %s\n", errmsg);
				return 1;
			}
	bn.lat_ns = calloc(cap, sizeof(uint64_t));
	bn.start_ns = calloc(cap, sizeof(uint64_t));
	bn.value = malloc(o.size);
	if (!bn.lat_ns || !bn.start_ns || !bn.value)
		return 1;
	memset(bn.value, 'x', o.size);
	if (o.acked && (bn.acked = fopen(o.acked, "w")) == NULL) {
		perror(o.acked);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	t0 = keel_loop_clock_ns();
	while (bn.sent < o.inflight && bn.sent < o.count)
		bench_send(bn.sent++);
	keel_loop_run(bn.loop);
	t1 = keel_loop_clock_ns();
	qsort(bn.lat_ns, bn.ok, sizeof(uint64_t), cmp_u64);
	double secs = (double)(t1 - t0) / 1e9;
	printf("appends=%" PRIu64 " failed=%" PRIu64 " size=%" PRIu64 " inflight=%" PRIu64
	       " secs=%.3f appends_per_sec=%.0f p50_us=%.0f p99_us=%.0f\n",
	       bn.ok, bn.failures, o.size, o.inflight, secs, (double)bn.ok / secs,
	       bn.ok ? (double)bn.lat_ns[bn.ok / 2] / 1e3 : 0.0,
	       bn.ok ? (double)bn.lat_ns[(bn.ok * 99) / 100 - (bn.ok >= 100 ? 1 : 0)] / 1e3 : 0.0);
	if (bn.acked)
		fclose(bn.acked);
	for (size_t i = 0; i < bn.n_targets; i++)
		for (size_t k = 0; k < BENCH_CONNS; k++)
			keel_http_client_free(bn.cl[i][k]);
	keel_loop_free(bn.loop);
	free(bn.lat_ns);
	free(bn.start_ns);
	free(bn.value);
	return bn.ok > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct keel_flags f;
	const char *cmd;
	int rv;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	if (keel_flags_init(&f, flag_table, sizeof(flag_table) / sizeof(flag_table[0]),
			    "KEEL_LOG_") < 0) {
		fprintf(stderr, "keel-log: %s\n", f.errmsg);
		return 2;
	}
	rv = keel_flags_parse(&f, argc - 1, argv + 1, stdout);
	if (rv == KEEL_FLAGS_HELP) {
		fputs(usage, stdout);
		keel_flags_free(&f);
		return 0;
	}
	if (rv < 0) {
		fprintf(stderr, "keel-log: %s\n%s", f.errmsg, usage);
		keel_flags_free(&f);
		return 2;
	}
	if (strcmp(cmd, "initialize") == 0)
		rv = cmd_initialize();
	else if (strcmp(cmd, "replica") == 0)
		rv = cmd_replica();
	else if (strcmp(cmd, "read") == 0)
		rv = cmd_read_or_dump(false);
	else if (strcmp(cmd, "dump") == 0)
		rv = cmd_read_or_dump(true);
	else if (strcmp(cmd, "bench") == 0)
		rv = cmd_bench();
	else {
		fprintf(stderr, "keel-log: unknown command %s\n%s", cmd, usage);
		rv = 2;
	}
	keel_flags_free(&f);
	return rv;
}
