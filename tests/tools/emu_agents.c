/* keel-emu-agents: one process that speaks the agent protocol for N emulated agents. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord/coord.h"
#include "proto/keel/internal/agent.pb-c.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/flags.h"
#include "runtime/hmap.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/loop.h"
#include "runtime/pbjson.h"
#include "runtime/util.h"
#include "emu_tasks.h"

/*
 * The emulator finds the leader through a coord detector, registers every
 * agent with it (a window of requests in flight over --connections
 * pipelined connections), and when a new leader (a new epoch) appears re-registers every
 * agent that has an ID. It answers the master's pings for all its agents on
 * one port, dropping (409) any message whose epoch is not the current
 * leader's. Tests drive and observe it over HTTP:
 *   GET  /emu/status                     JSON counters (see emu_status)
 *   GET  /emu/ids                        "index id epoch\n" per registered agent
 *   POST /emu/partition?first=F&count=C  agents F..F+C-1 answer pings 503 (missed pongs)
 *   POST /emu/heal                       every agent answers pings again
 * and each time every agent is registered with the current leader it prints
 * one line: "emu: wave epoch=E agents=N ms=T rate=R/s end_unix_ms=W" (T from
 * the leader's detection to the last acceptance, W the wall clock at the end).
 */

#define EMU_RETRY_MS                                                                               \
	25 /* after a 503 or a failed connection: a recovering leader is soon ready                \
	    */

/* One emulated agent. */
struct emu_agent {
	unsigned idx;	  /* index in emu.agents */
	char key[96];	  /* "emu(idx)@ip:port": unique per agent instance */
	char *id;	  /* agent ID once registered (owned), else NULL */
	uint64_t epoch;	  /* epoch of the leader that last accepted it, 0 none */
	bool queued;	  /* in the send queue or the retry list */
	bool partitioned; /* answers pings 503 */
	bool gone;	  /* told to shut down (410 or ShutdownAgent): no longer registers */
};

/* One request in flight; ignored when its generation is not the current one. */
struct emu_req {
	struct emu *emu; /* owner */
	unsigned idx;	 /* the agent */
	uint64_t gen;	 /* leader generation it was sent under */
	bool reregister; /* ReregisterAgent (else RegisterAgent) */
};

/* The emulator. */
struct emu {
	struct keel_loop *loop;		 /* the one loop */
	struct keel_http_server *server; /* pings and /emu control */
	struct coord *coord;		 /* session for detection */
	struct coord_detector *detector; /* who leads */
	struct keel_http_client *
	    *clients;			/* n_clients connections to the current leader, or NULLs */
	unsigned n_clients;		/* --connections */
	unsigned next_client;		/* round robin */
	struct keel_timer *retry_timer; /* moves the retry list to the queue */
	struct keel_async *sig;		/* SIGTERM/SIGINT */
	uint64_t gen;			/* bumped at each leader change */
	uint64_t leader_epoch;		/* 0: no leader known */
	char leader[300];		/* "host:port" of the leader */
	struct emu_agent *agents;	/* n agents */
	unsigned n;			/* how many */
	struct keel_hmap by_id;		/* agent ID -> struct emu_agent */
	unsigned *queue;		/* ring of agent indexes to send */
	unsigned q_head, q_len;		/* ring position and length (capacity n) */
	unsigned *retry;		/* agents waiting for the retry timer */
	unsigned retry_len;		/* how many */
	unsigned inflight;		/* requests of this generation in flight */
	unsigned window;		/* most requests in flight */
	unsigned current;		/* agents accepted by the current leader */
	unsigned n_gone;		/* agents told to shut down */
	uint64_t wave_start_ns;		/* when this generation started */
	bool wave_reported;		/* the wave line was printed */
	char ip[64];			/* our listening address */
	uint16_t port;			/* and port */
	double cpus, mem;		/* resources of each agent */
	struct emu_tasks *tasks;	/* the tasks the agents run (emu_tasks.h) */
	/* counters for /emu/status */
	uint64_t registered, reregistered, pings, pings_stale, pings_unknown, shutdowns,
	    gone_answers, retries, id_changes, bad_answers;
};

static void emu_pump(struct emu *e);

static void emu_enqueue(struct emu *e, unsigned idx)
{
	struct emu_agent *a = &e->agents[idx];

	if (a->queued || a->gone)
		return;
	a->queued = true;
	e->queue[(e->q_head + e->q_len) % e->n] = idx;
	e->q_len++;
}

static void emu_retry_later(struct emu *e, unsigned idx)
{
	e->agents[idx].queued = true;
	e->retry[e->retry_len++] = idx;
	e->retries++;
	if (!keel_timer_active(e->retry_timer))
		keel_timer_start(e->retry_timer, EMU_RETRY_MS, 0);
}

static void emu_on_retry(struct keel_timer *t, void *arg)
{
	struct emu *e = arg;
	unsigned n = e->retry_len;

	e->retry_len = 0;
	for (unsigned i = 0; i < n; i++) {
		e->agents[e->retry[i]].queued = false;
		emu_enqueue(e, e->retry[i]);
	}
	emu_pump(e);
}

/* Prints the wave line once every agent not gone is accepted by the current leader. */
static void emu_check_wave(struct emu *e)
{
	struct timespec now;
	double ms;

	if (e->wave_reported || e->leader_epoch == 0 || e->current + e->n_gone < e->n)
		return;
	ms = (double)(keel_loop_clock_ns() - e->wave_start_ns) / 1e6;
	clock_gettime(CLOCK_REALTIME, &now);
	printf("emu: wave epoch=%" PRIu64 " agents=%u ms=%.1f rate=%.0f/s end_unix_ms=%" PRIu64
	       "\n",
	       e->leader_epoch, e->current, ms, ms > 0 ? e->current / (ms / 1e3) : 0.0,
	       (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
	fflush(stdout);
	e->wave_reported = true;
}

static void emu_set_gone(struct emu *e, struct emu_agent *a)
{
	if (!a->gone)
		e->n_gone++;
	a->gone = true;
}

static void emu_on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct emu_req *rq = arg;
	struct emu *e = rq->emu;
	struct emu_agent *a = &e->agents[rq->idx];
	Keel__Agent__AgentRegistered *ok = NULL;

	if (rq->gen != e->gen) {
		keel_free(rq);
		return;
	}
	e->inflight--;
	a->queued = false;
	if (err == 0 && resp->status == 200 &&
	    keel_pbjson_unpack(&keel__agent__agent_registered__descriptor, resp->body,
			       resp->body_len, (ProtobufCMessage **)&ok, NULL) == 0) {
		const char *id = ok->agent_id->value;

		if (ok->epoch != e->leader_epoch) {
			e->bad_answers++;
			emu_retry_later(e, rq->idx);
		} else {
			if (a->id && strcmp(a->id, id) != 0) {
				e->id_changes++;
				keel_hmap_del(&e->by_id, a->id);
				keel_free(a->id);
				a->id = NULL;
			}
			if (!a->id) {
				a->id = keel_xstrdup(id);
				if (keel_hmap_put(&e->by_id, a->id, a, NULL) < 0)
					abort();
			}
			if (a->epoch != e->leader_epoch)
				e->current++;
			a->epoch = e->leader_epoch;
			if (rq->reregister)
				e->reregistered++;
			else
				e->registered++;
		}
		keel_pbjson_free(&ok->base);
	} else if (err == 0 && resp->status == 410) {
		e->gone_answers++;
		emu_set_gone(e, a);
	} else {
		if (err == 0 && resp->status != 503 && resp->status != 307)
			e->bad_answers++;
		emu_retry_later(e, rq->idx);
	}
	keel_free(rq);
	emu_check_wave(e);
	emu_pump(e);
}

/* Packs the (re)registration of agent a into out. */
static int emu_pack(struct emu *e, struct emu_agent *a, struct keel_buf *out)
{
	Mesos__V1__Value__Scalar sc[2] = {MESOS__V1__VALUE__SCALAR__INIT,
					  MESOS__V1__VALUE__SCALAR__INIT};
	Mesos__V1__Resource res[2] = {MESOS__V1__RESOURCE__INIT, MESOS__V1__RESOURCE__INIT};
	Mesos__V1__Resource *resp[2] = {&res[0], &res[1]};
	Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	char hostname[32];
	size_t len;
	int rv;

	sc[0].value = e->cpus;
	sc[1].value = e->mem;
	res[0].name = "cpus";
	res[1].name = "mem";
	for (int i = 0; i < 2; i++) {
		res[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
		res[i].scalar = &sc[i];
	}
	snprintf(hostname, sizeof(hostname), "emu-%u", a->idx);
	info.hostname = hostname;
	info.has_port = true;
	info.port = e->port;
	info.n_resources = 2;
	info.resources = resp;
	addr.hostname = hostname;
	addr.ip = e->ip;
	addr.port = e->port;
	if (a->id) {
		Keel__Agent__ReregisterAgent m = KEEL__AGENT__REREGISTER_AGENT__INIT;

		aid.value = a->id;
		info.id = &aid;
		m.info = &info;
		m.address = &addr;
		m.key = a->key;
		m.version = "emu";
		/* The tasks it runs: a new leader learns them from here. */
		m.n_tasks = emu_tasks_of_agent(e->tasks, a->id, &m.tasks);
		len = keel__agent__reregister_agent__get_packed_size(&m);
		if ((rv = keel_buf_reserve(out, len)) < 0) {
			keel_free(m.tasks);
			return rv;
		}
		keel__agent__reregister_agent__pack(&m, (uint8_t *)keel_buf_wptr(out));
		keel_free(m.tasks);
	} else {
		Keel__Agent__RegisterAgent m = KEEL__AGENT__REGISTER_AGENT__INIT;

		m.info = &info;
		m.address = &addr;
		m.key = a->key;
		m.version = "emu";
		len = keel__agent__register_agent__get_packed_size(&m);
		if ((rv = keel_buf_reserve(out, len)) < 0)
			return rv;
		keel__agent__register_agent__pack(&m, (uint8_t *)keel_buf_wptr(out));
	}
	keel_buf_commit(out, len);
	return 0;
}

static void emu_pump(struct emu *e)
{
	static const struct keel_http_client_cbs cbs = {.on_done = emu_on_done};
	struct keel_buf body = KEEL_BUF_INIT;

	while (e->clients[0] && e->inflight < e->window && e->q_len > 0) {
		unsigned idx = e->queue[e->q_head];
		struct emu_agent *a = &e->agents[idx];
		struct emu_req *rq;

		e->q_head = (e->q_head + 1) % e->n;
		e->q_len--;
		a->queued = false;
		if (a->gone || a->epoch == e->leader_epoch)
			continue;
		rq = keel_malloc(sizeof(*rq));
		keel_buf_clear(&body);
		if (!rq || emu_pack(e, a, &body) < 0)
			abort();
		*rq = (struct emu_req){
		    .emu = e, .idx = idx, .gen = e->gen, .reregister = a->id != NULL};
		struct keel_http_client *c = e->clients[e->next_client++ % e->n_clients];

		if (keel_http_client_request(c, "POST",
					     rq->reregister ? "/internal/agent/reregister"
							    : "/internal/agent/register",
					     NULL, "application/x-protobuf", keel_buf_rptr(&body),
					     keel_buf_size(&body), &cbs, rq) < 0)
			abort();
		a->queued = true;
		e->inflight++;
	}
	keel_buf_free(&body);
}

static void emu_clients_free(struct emu *e)
{
	for (unsigned i = 0; i < e->n_clients; i++) {
		struct keel_http_client *c = e->clients[i];

		e->clients[i] = NULL;
		keel_http_client_free(c);
	}
}

/* A new leader (or none): drop the old connection, start a wave to the new one. */
static void emu_on_leader(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	struct emu *e = arg;
	char errmsg[KEEL_ERRMSG_SIZE];
	const Mesos__V1__MasterInfo *mi = l->info;
	const char *host;
	uint16_t port;

	if (l->present && mi && l->epoch == e->leader_epoch)
		return;
	e->gen++;
	e->inflight = 0;
	emu_clients_free(e); /* callbacks see a stale generation */
	e->leader_epoch = 0;
	e->current = 0;
	/* Requests of the old generation are void: forget the queues, start over. */
	e->q_len = 0;
	e->retry_len = 0;
	keel_timer_stop(e->retry_timer);
	for (unsigned i = 0; i < e->n; i++)
		e->agents[i].queued = false;
	emu_tasks_set_leader(e->tasks, NULL, 0, 0);
	if (!l->present || !mi) {
		printf("emu: no leader (%s)\n", l->message && *l->message ? l->message : "none");
		fflush(stdout);
		return;
	}
	host = mi->address && mi->address->ip ? mi->address->ip : mi->hostname;
	port = (uint16_t)(mi->address ? mi->address->port : (int32_t)mi->port);
	for (unsigned i = 0; host && i < e->n_clients; i++) {
		if (keel_http_client_new(e->loop, host, port, NULL, &e->clients[i], errmsg) < 0) {
			fprintf(stderr, "emu: cannot reach leader: %s\n", errmsg);
			emu_clients_free(e);
			return;
		}
	}
	if (!host) {
		fprintf(stderr, "emu: the leader's MasterInfo has no address\n");
		return;
	}
	snprintf(e->leader, sizeof(e->leader), "%s:%u", host, port);
	e->leader_epoch = l->epoch;
	emu_tasks_set_leader(e->tasks, host, port, l->epoch);
	e->wave_start_ns = keel_loop_clock_ns();
	e->wave_reported = false;
	printf("emu: leader %s epoch=%" PRIu64 "\n", e->leader, e->leader_epoch);
	fflush(stdout);
	for (unsigned i = 0; i < e->n; i++)
		emu_enqueue(e, i);
	emu_pump(e);
}

/* Master -> agent messages: the epoch must be the current leader's. */
static void emu_on_ping(struct keel_http_req *req, void *arg)
{
	struct emu *e = arg;
	Keel__Agent__Ping *p = NULL;
	struct emu_agent *a;
	size_t len;
	const char *body = keel_http_req_body(req, &len);
	char errmsg[KEEL_ERRMSG_SIZE];

	if (keel_pbjson_unpack(&keel__agent__ping__descriptor, body, len, (ProtobufCMessage **)&p,
			       errmsg) < 0) {
		keel_http_respond_text(req, 400, errmsg);
		return;
	}
	a = keel_hmap_get(&e->by_id, p->agent_id->value);
	if (p->epoch != e->leader_epoch || e->leader_epoch == 0) {
		e->pings_stale++;
		keel_http_respond_text(req, 409, "epoch is not the current leader's");
	} else if (!a) {
		e->pings_unknown++;
		keel_http_respond_text(req, 404, "no such agent here");
	} else if (a->partitioned) {
		keel_http_respond_text(req, 503, "partitioned");
	} else {
		Keel__Agent__Pong pong = KEEL__AGENT__PONG__INIT;
		uint8_t buf[256];
		size_t n;

		e->pings++;
		pong.agent_id = p->agent_id;
		n = keel__agent__pong__get_packed_size(&pong);
		if (n <= sizeof(buf)) {
			keel__agent__pong__pack(&pong, buf);
			keel_http_respond(req, 200, "application/x-protobuf", NULL, buf, n);
		} else {
			keel_http_respond_text(req, 500, "agent ID too long");
		}
	}
	keel_pbjson_free(&p->base);
}

static void emu_on_shutdown(struct keel_http_req *req, void *arg)
{
	struct emu *e = arg;
	Keel__Agent__ShutdownAgent *m = NULL;
	struct emu_agent *a;
	size_t len;
	const char *body = keel_http_req_body(req, &len);
	char errmsg[KEEL_ERRMSG_SIZE];

	if (keel_pbjson_unpack(&keel__agent__shutdown_agent__descriptor, body, len,
			       (ProtobufCMessage **)&m, errmsg) < 0) {
		keel_http_respond_text(req, 400, errmsg);
		return;
	}
	if (m->epoch != e->leader_epoch || e->leader_epoch == 0) {
		e->pings_stale++;
		keel_http_respond_text(req, 409, "epoch is not the current leader's");
	} else if ((a = keel_hmap_get(&e->by_id, m->agent_id->value)) != NULL) {
		emu_set_gone(e, a);
		e->shutdowns++;
		keel_http_respond(req, 204, NULL, NULL, NULL, 0);
	} else {
		keel_http_respond_text(req, 404, "no such agent here");
	}
	keel_pbjson_free(&m->base);
}

static void emu_on_status(struct keel_http_req *req, void *arg)
{
	struct emu *e = arg;
	struct keel_buf b = KEEL_BUF_INIT;
	unsigned with_id = 0;

	for (unsigned i = 0; i < e->n; i++)
		with_id += e->agents[i].id != NULL;
	keel_buf_printf(
	    &b,
	    "{\"agents\":%u,\"with_id\":%u,\"current\":%u,\"leader_epoch\":%" PRIu64
	    ",\"leader\":\"%s\",\"registered\":%" PRIu64 ",\"reregistered\":%" PRIu64
	    ",\"pings\":%" PRIu64 ",\"pings_stale\":%" PRIu64 ",\"pings_unknown\":%" PRIu64
	    ",\"shutdowns\":%" PRIu64 ",\"gone_answers\":%" PRIu64 ",\"retries\":%" PRIu64
	    ",\"id_changes\":%" PRIu64 ",\"bad_answers\":%" PRIu64
	    ",\"inflight\":%u,\"wave_done\":%s",
	    e->n, with_id, e->current, e->leader_epoch, e->leader_epoch ? e->leader : "",
	    e->registered, e->reregistered, e->pings, e->pings_stale, e->pings_unknown,
	    e->shutdowns, e->gone_answers, e->retries, e->id_changes, e->bad_answers, e->inflight,
	    e->wave_reported ? "true" : "false");
	emu_tasks_status(e->tasks, &b);
	keel_buf_puts(&b, "}\n");
	keel_http_respond(req, 200, "application/json", NULL, keel_buf_rptr(&b), keel_buf_size(&b));
	keel_buf_free(&b);
}

static void emu_on_ids(struct keel_http_req *req, void *arg)
{
	struct emu *e = arg;
	struct keel_buf b = KEEL_BUF_INIT;

	for (unsigned i = 0; i < e->n; i++)
		if (e->agents[i].id)
			keel_buf_printf(&b, "%u %s %" PRIu64 "\n", i, e->agents[i].id,
					e->agents[i].epoch);
	keel_http_respond(req, 200, "text/plain", NULL, keel_buf_rptr(&b), keel_buf_size(&b));
	keel_buf_free(&b);
}

/* Reads an unsigned query parameter `name` (0 when absent). */
static unsigned long emu_query(const struct keel_http_req *req, const char *name)
{
	const struct keel_http_head *h = keel_http_req_head(req);
	size_t nlen = strlen(name);

	for (const char *q = h->query; q && q < h->query + h->query_len;) {
		const char *end = memchr(q, '&', (size_t)(h->query + h->query_len - q));

		if (!end)
			end = h->query + h->query_len;
		if ((size_t)(end - q) > nlen && memcmp(q, name, nlen) == 0 && q[nlen] == '=')
			return strtoul(q + nlen + 1, NULL, 10);
		q = end + 1;
	}
	return 0;
}

static void emu_on_partition(struct keel_http_req *req, void *arg)
{
	struct emu *e = arg;
	unsigned long first = emu_query(req, "first"), count = emu_query(req, "count");

	for (unsigned long i = first; i < first + count && i < e->n; i++)
		e->agents[i].partitioned = true;
	keel_http_respond(req, 204, NULL, NULL, NULL, 0);
}

static void emu_on_heal(struct keel_http_req *req, void *arg)
{
	struct emu *e = arg;

	for (unsigned i = 0; i < e->n; i++)
		e->agents[i].partitioned = false;
	keel_http_respond(req, 204, NULL, NULL, NULL, 0);
}

static struct keel_async *sig_async;

static void emu_sig_handler(int signo)
{
	(void)signo;
	keel_async_send(sig_async);
}

static void emu_on_signal(struct keel_async *a, void *arg)
{
	keel_loop_stop(arg);
}

static struct {
	char *master;	      /* coord URL */
	uint64_t agents;      /* how many */
	char *ip;	      /* listen address */
	uint64_t port;	      /* listen port, 0 = any */
	uint64_t inflight;    /* request window */
	uint64_t conns;	      /* connections to the leader */
	double cpus, mem;     /* resources per agent */
	int64_t task_ms;      /* RUNNING to the end, ns */
	int task_end;	      /* index into task_end_choices */
	int64_t status_retry; /* update resend interval, ns */
} opt;

static const char *const task_end_choices[] = {"finished", "failed", "never", NULL};

static const struct keel_flag flag_table[] = {
    {"master", KEEL_FLAG_STRING, &opt.master, NULL,
     "Coordination URL to find the leading master: zk://..., etcd://... or static://host:port.",
     .required = true},
    {"agents", KEEL_FLAG_UINT64, &opt.agents, "1000", "Number of emulated agents.", .min = "1",
     .max = "1000000"},
    {"ip", KEEL_FLAG_STRING, &opt.ip, "127.0.0.1", "Address to serve pings and /emu on."},
    {"port", KEEL_FLAG_UINT64, &opt.port, "0", "Port to serve on (0: any free port).",
     .max = "65535"},
    {"inflight", KEEL_FLAG_UINT64, &opt.inflight, "512", "Registrations in flight at most.",
     .min = "1"},
    {"connections", KEEL_FLAG_UINT64, &opt.conns, "16",
     "Connections to the leader: a master answers one request per connection at a time, so "
     "registrations (each waits for the registry) spread over these.",
     .min = "1", .max = "1024"},
    {"cpus", KEEL_FLAG_DOUBLE, &opt.cpus, "4", "cpus of each agent."},
    {"mem", KEEL_FLAG_DOUBLE, &opt.mem, "8192", "mem (MB) of each agent."},
    {"task_ms", KEEL_FLAG_DURATION, &opt.task_ms, "1secs",
     "How long a task stays RUNNING before it ends."},
    {"task_end", KEEL_FLAG_ENUM, &opt.task_end, "finished",
     "How tasks end: finished, failed, or never (RUNNING until killed).",
     .choices = task_end_choices},
    {"status_retry", KEEL_FLAG_DURATION, &opt.status_retry, "10secs",
     "Resend an unacknowledged status update after this long (Mesos: 10 s)."},
};

static int emu_run(struct emu *e)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	static const struct {
		enum keel_http_method method;
		const char *path;
		keel_http_handler fn;
	} routes[] = {
	    {KEEL_HTTP_POST, "/internal/master/ping", emu_on_ping},
	    {KEEL_HTTP_POST, "/internal/master/shutdown", emu_on_shutdown},
	    {KEEL_HTTP_GET, "/emu/status", emu_on_status},
	    {KEEL_HTTP_GET, "/emu/ids", emu_on_ids},
	    {KEEL_HTTP_POST, "/emu/partition", emu_on_partition},
	    {KEEL_HTTP_POST, "/emu/heal", emu_on_heal},
	};

	if (keel_loop_new(&e->loop, NULL, errmsg) < 0 ||
	    keel_http_server_new(e->loop, opt.ip, (uint16_t)opt.port, NULL, &e->server, errmsg) <
		0) {
		fprintf(stderr, "keel-emu-agents: %s\n", errmsg);
		return 1;
	}
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(routes); i++)
		if (keel_http_server_route(e->server, routes[i].method, routes[i].path,
					   routes[i].fn, e) < 0)
			abort();
	{
		struct emu_tasks_config tc = {
		    .task_ms = (uint64_t)opt.task_ms / 1000000u,
		    .end = (enum emu_task_end)opt.task_end,
		    .retry_ms = (uint64_t)opt.status_retry / 1000000u,
		};
		e->tasks = emu_tasks_new(e->loop, e->server, &tc);
	}
	e->port = keel_http_server_port(e->server);
	snprintf(e->ip, sizeof(e->ip), "%s", opt.ip);
	for (unsigned i = 0; i < e->n; i++)
		snprintf(e->agents[i].key, sizeof(e->agents[i].key), "emu(%u)@%s:%u", i, e->ip,
			 e->port);
	if (keel_timer_new(e->loop, emu_on_retry, e, &e->retry_timer) < 0 ||
	    keel_async_new(e->loop, emu_on_signal, e->loop, &sig_async, errmsg) < 0)
		abort();
	signal(SIGTERM, emu_sig_handler);
	signal(SIGINT, emu_sig_handler);
	signal(SIGPIPE, SIG_IGN);
	if (coord_open(e->loop, opt.master, NULL, &e->coord, errmsg) < 0 ||
	    coord_detect(e->coord, COORD_DETECT_MASTER_INFO, emu_on_leader, e, &e->detector,
			 errmsg) < 0) {
		fprintf(stderr, "keel-emu-agents: --master: %s\n", errmsg);
		return 1;
	}
	printf("emu: listening on %s:%u agents=%u\n", e->ip, e->port, e->n);
	fflush(stdout);
	return keel_loop_run(e->loop) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct keel_flags f;
	struct emu e = {0};
	int rv;

	if (keel_flags_init(&f, flag_table, KEEL_ARRAY_SIZE(flag_table), "KEEL_EMU_") < 0) {
		fprintf(stderr, "keel-emu-agents: %s\n", f.errmsg);
		return 2;
	}
	rv = keel_flags_parse(&f, argc, argv, stdout);
	if (rv != 0) {
		if (rv < 0)
			fprintf(stderr, "keel-emu-agents: %s\n", f.errmsg);
		keel_flags_free(&f);
		return rv < 0 ? 2 : 0;
	}
	e.n = (unsigned)opt.agents;
	e.window = (unsigned)opt.inflight;
	e.cpus = opt.cpus;
	e.mem = opt.mem;
	e.n_clients = (unsigned)opt.conns;
	e.clients = keel_calloc(e.n_clients, sizeof(*e.clients));
	e.agents = keel_calloc(e.n, sizeof(*e.agents));
	e.queue = keel_calloc(e.n, sizeof(*e.queue));
	e.retry = keel_calloc(e.n, sizeof(*e.retry));
	if (!e.clients || !e.agents || !e.queue || !e.retry)
		abort();
	for (unsigned i = 0; i < e.n; i++)
		e.agents[i].idx = i;
	rv = emu_run(&e);
	coord_close(e.coord, 2000);
	if (e.clients)
		emu_clients_free(&e);
	keel_free(e.clients);
	keel_timer_free(e.retry_timer);
	emu_tasks_free(e.tasks);
	if (sig_async)
		keel_async_close(sig_async);
	keel_http_server_free(e.server);
	if (e.loop)
		keel_loop_free(e.loop);
	for (unsigned i = 0; i < e.n; i++)
		keel_free(e.agents[i].id);
	keel_hmap_free(&e.by_id);
	keel_free(e.agents);
	keel_free(e.queue);
	keel_free(e.retry);
	keel_flags_free(&f);
	return rv;
}
