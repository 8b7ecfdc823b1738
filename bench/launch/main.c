/* keel-launch-bench: task launches per second end to end, scheduler API to TASK_RUNNING. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/mesos/v1/scheduler.pb-c.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/http_client.h"
#include "runtime/http_parse.h"
#include "runtime/loop.h"
#include "runtime/pbjson.h"
#include "runtime/recordio.h"

/*
 * Usage: keel-launch-bench MASTER_BIN EMU_BIN AGENTS FRAMEWORKS TASKS ENCODING TASK_MS
 *
 * Three processes: keel-master (MASTER_BIN, its own process, in-memory
 * registry, --allocation_interval=100ms), keel-emu-agents (EMU_BIN, AGENTS
 * agents of cpus:4;mem:8192, one process), and this one, which plays
 * FRAMEWORKS schedulers, each with its own SUBSCRIBE event stream and its own
 * pipelined connection for calls. ENCODING is json, protobuf or mixed (odd
 * frameworks protobuf). Every framework ACCEPTs each offer with as many tasks
 * of cpus:0.1;mem:64 as fit (40 per agent) until TASKS are launched, declines
 * the rest for an hour, and ACKNOWLEDGEs every update with a uuid. TASK_MS 0:
 * tasks stay RUNNING (the RSS with TASKS live); else they finish TASK_MS after
 * RUNNING and the bench also waits for every TASK_FINISHED. The emulator resends
 * an unacknowledged update after 60 s (--status_retry), not 10 s.
 *
 * Prints tasks/s from the first ACCEPT sent to the last TASK_RUNNING received
 * (and to the last TASK_FINISHED), accept-to-running p50/p99, the master's
 * CPU time per task (utime+stime of its process over the same span, from
 * /proc) and its resident set per agent and per live task.
 */

#define TASK_CPUS 0.1
#define TASK_MEM 64.0
#define ANCHOR "Nomad C1M: 3,750 containers/s (issue 6 anchor, not measured here)"

struct bench;

/* One framework. */
struct fw {
	struct bench *b;		  /* owner */
	unsigned idx;			  /* its index */
	bool protobuf;			  /* protobuf both ways, else JSON */
	struct keel_http_client *stream;  /* the SUBSCRIBE connection */
	struct keel_http_client *calls;	  /* calls, pipelined */
	struct keel_recordio_decoder dec; /* event records */
	int status;			  /* SUBSCRIBE's status, 0 before */
	char stream_id[64];		  /* Mesos-Stream-Id */
	char id[128];			  /* framework ID once SUBSCRIBED */
};

/* The whole run. */
struct bench {
	struct keel_loop *loop;	   /* one loop */
	uint16_t port;		   /* the master's */
	struct fw *fws;		   /* frameworks */
	unsigned n_fws;		   /* how many */
	unsigned tasks;		   /* tasks to launch */
	unsigned launched;	   /* tasks put into ACCEPTs */
	unsigned running;	   /* tasks seen RUNNING */
	unsigned finished;	   /* tasks seen FINISHED */
	unsigned bad_updates;	   /* updates in another terminal state */
	uint64_t *accept_ns;	   /* per task: ACCEPT sent */
	uint64_t *running_ns;	   /* per task: RUNNING received, 0 before */
	uint64_t *finished_ns;	   /* per task: FINISHED received, 0 before */
	uint64_t first_accept_ns;  /* first ACCEPT sent, 0 before */
	uint64_t last_running_ns;  /* last RUNNING received */
	uint64_t last_finished_ns; /* last FINISHED received */
	uint64_t calls, acks;	   /* calls sent, of which ACKNOWLEDGE */
	uint64_t call_errors;	   /* calls not answered 202 */
	char first_error[256];	   /* the first such answer */
	int decode_errors;	   /* event records that did not decode */
	bool closing;		   /* the streams are being closed by us */
};

static uint64_t now_ns(void)
{
	return keel_loop_clock_ns();
}

/* --- The child processes --- */

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static uint16_t free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* VmRSS of a process in kB, 0 if unknown. */
static uint64_t rss_kb(pid_t pid)
{
	char path[64], line[256];
	uint64_t kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %" SCNu64, &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* utime + stime of a process in seconds (the getrusage figures, read from /proc). */
static double cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;
	char *p;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static bool file_has(const char *path, const char *needle)
{
	char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* --- Calls --- */

static void call_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct bench *b = arg;

	if (err == 0 && resp->status == 202)
		return;
	if (b->call_errors++ == 0)
		snprintf(b->first_error, sizeof(b->first_error), "%s %d %.*s",
			 err ? strerror(-err) : "status", err ? 0 : resp->status,
			 err ? 0 : (int)(resp->body_len > 160 ? 160 : resp->body_len),
			 err ? "" : resp->body);
}

/* Appends call to body in protobuf or JSON. */
static void encode_call(bool protobuf, const Mesos__V1__Scheduler__Call *call,
			struct keel_buf *body)
{
	char errmsg[KEEL_ERRMSG_SIZE];

	if (protobuf) {
		size_t n = protobuf_c_message_get_packed_size(&call->base);
		if (keel_buf_reserve(body, n + 1) < 0)
			abort();
		protobuf_c_message_pack(&call->base, (uint8_t *)keel_buf_wptr(body));
		keel_buf_commit(body, n);
	} else if (keel_pbjson_write(body, &call->base, errmsg) < 0) {
		fprintf(stderr, "keel-launch-bench: %s\n", errmsg);
		abort();
	}
}

/* Sends a Call in the framework's encoding on its call connection. */
static void send_call(struct fw *f, Mesos__V1__Scheduler__Call *call)
{
	static const struct keel_http_client_cbs cbs = {.on_done = call_done};
	const char *headers[] = {"Mesos-Stream-Id", f->stream_id, NULL};
	struct keel_buf body = KEEL_BUF_INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;

	fid.value = f->id;
	call->framework_id = &fid;
	encode_call(f->protobuf, call, &body);
	if (keel_http_client_request(f->calls, "POST", "/api/v1/scheduler", headers,
				     f->protobuf ? "application/x-protobuf" : "application/json",
				     keel_buf_rptr(&body), keel_buf_size(&body), &cbs, f->b) < 0)
		abort();
	f->b->calls++;
	keel_buf_free(&body);
}

static double scalar_of(const Mesos__V1__Offer *o, const char *name)
{
	double v = 0;

	for (size_t i = 0; i < o->n_resources; i++)
		if (strcmp(o->resources[i]->name, name) == 0 && o->resources[i]->scalar != NULL)
			v += o->resources[i]->scalar->value;
	return v;
}

static void decline(struct fw *f, const Mesos__V1__Offer *o)
{
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Decline d = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
	Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
	Mesos__V1__OfferID *oid = o->id;

	filters.has_refuse_seconds = true;
	filters.refuse_seconds = 3600;
	d.n_offer_ids = 1;
	d.offer_ids = &oid;
	d.filters = &filters;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE;
	call.decline = &d;
	send_call(f, &call);
}

/* ACCEPTs one offer with as many tasks as fit (and are still wanted). */
static void accept_offer(struct fw *f, const Mesos__V1__Offer *o)
{
	struct bench *b = f->b;
	double cpus = scalar_of(o, "cpus"), mem = scalar_of(o, "mem");
	unsigned fit_cpu = (unsigned)floor(cpus / TASK_CPUS + 1e-6);
	unsigned fit_mem = (unsigned)floor(mem / TASK_MEM + 1e-6);
	unsigned n = fit_cpu < fit_mem ? fit_cpu : fit_mem;
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT, *opp = &op;
	Mesos__V1__Offer__Operation__Launch launch = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
	Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
	Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
	Mesos__V1__Value__Scalar sc[2] = {MESOS__V1__VALUE__SCALAR__INIT,
					  MESOS__V1__VALUE__SCALAR__INIT};
	Mesos__V1__Resource r[2] = {MESOS__V1__RESOURCE__INIT, MESOS__V1__RESOURCE__INIT};
	Mesos__V1__Resource *rp[2] = {&r[0], &r[1]};
	Mesos__V1__OfferID *oid = o->id;
	Mesos__V1__TaskInfo *tis, **tip;
	Mesos__V1__TaskID *tids;
	char(*names)[24];

	if (n > b->tasks - b->launched)
		n = b->tasks - b->launched;
	if (n == 0) {
		decline(f, o);
		return;
	}
	tis = keel_xcalloc(n, sizeof(*tis));
	tip = keel_xcalloc(n, sizeof(*tip));
	tids = keel_xcalloc(n, sizeof(*tids));
	names = keel_xcalloc(n, sizeof(*names));
	sc[0].value = TASK_CPUS;
	sc[1].value = TASK_MEM;
	r[0].name = "cpus";
	r[1].name = "mem";
	for (int k = 0; k < 2; k++) {
		r[k].type = MESOS__V1__VALUE__TYPE__SCALAR;
		r[k].scalar = &sc[k];
	}
	cmd.value = "true";
	for (unsigned i = 0; i < n; i++) {
		unsigned t = b->launched++;
		snprintf(names[i], sizeof(names[i]), "t%u", t);
		mesos__v1__task_id__init(&tids[i]);
		tids[i].value = names[i];
		mesos__v1__task_info__init(&tis[i]);
		tis[i].name = names[i];
		tis[i].task_id = &tids[i];
		tis[i].agent_id = o->agent_id;
		tis[i].n_resources = 2;
		tis[i].resources = rp;
		tis[i].command = &cmd;
		tip[i] = &tis[i];
	}
	launch.n_task_infos = n;
	launch.task_infos = tip;
	op.has_type = true;
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
	op.launch = &launch;
	filters.has_refuse_seconds = true;
	filters.refuse_seconds = 3600;
	acc.n_offer_ids = 1;
	acc.offer_ids = &oid;
	acc.n_operations = 1;
	acc.operations = &opp;
	acc.filters = &filters;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	call.accept = &acc;
	{
		uint64_t t = now_ns();
		if (b->first_accept_ns == 0)
			b->first_accept_ns = t;
		for (unsigned i = 0; i < n; i++)
			b->accept_ns[b->launched - n + i] = t;
	}
	send_call(f, &call);
	keel_free(tis);
	keel_free(tip);
	keel_free(tids);
	keel_free(names);
}

static void acknowledge(struct fw *f, const Mesos__V1__TaskStatus *st)
{
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;

	ack.agent_id = st->agent_id;
	ack.task_id = st->task_id;
	ack.uuid = st->uuid;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
	call.acknowledge = &ack;
	send_call(f, &call);
	f->b->acks++;
}

static void on_update(struct fw *f, const Mesos__V1__TaskStatus *st)
{
	struct bench *b = f->b;
	unsigned long idx = strtoul(st->task_id->value + 1, NULL, 10);
	uint64_t t = now_ns();

	if (idx < b->tasks) {
		if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING && b->running_ns[idx] == 0) {
			b->running_ns[idx] = t;
			b->running++;
			b->last_running_ns = t;
		} else if (st->state == MESOS__V1__TASK_STATE__TASK_FINISHED &&
			   b->finished_ns[idx] == 0) {
			b->finished_ns[idx] = t;
			b->finished++;
			b->last_finished_ns = t;
		} else if (st->state != MESOS__V1__TASK_STATE__TASK_STARTING &&
			   st->state != MESOS__V1__TASK_STATE__TASK_RUNNING &&
			   st->state != MESOS__V1__TASK_STATE__TASK_FINISHED) {
			b->bad_updates++;
		}
	}
	if (st->has_uuid)
		acknowledge(f, st);
}

static int on_record(void *arg, const char *rec, size_t len)
{
	struct fw *f = arg;
	Mesos__V1__Scheduler__Event *ev = NULL;
	int rv;

	if (f->protobuf)
		rv = keel_pbjson_unpack(&mesos__v1__scheduler__event__descriptor, rec, len,
					(ProtobufCMessage **)&ev, NULL);
	else
		rv = keel_pbjson_read(&mesos__v1__scheduler__event__descriptor, rec, len,
				      (ProtobufCMessage **)&ev, NULL);
	if (rv < 0) {
		f->b->decode_errors++;
		return 0;
	}
	switch (ev->type) {
	case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED:
		snprintf(f->id, sizeof(f->id), "%s", ev->subscribed->framework_id->value);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
		for (size_t i = 0; ev->offers != NULL && i < ev->offers->n_offers; i++)
			accept_offer(f, ev->offers->offers[i]);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE:
		on_update(f, ev->update->status);
		break;
	default:
		break;
	}
	keel_pbjson_free(&ev->base);
	return 0;
}

static void on_head(const struct keel_http_response *resp, void *arg)
{
	struct fw *f = arg;
	size_t len;
	const char *v = keel_http_header_get(resp->head, "Mesos-Stream-Id", &len);

	f->status = resp->status;
	snprintf(f->stream_id, sizeof(f->stream_id), "%.*s", v ? (int)len : 0, v ? v : "");
}

static void on_data(const char *data, size_t len, void *arg)
{
	struct fw *f = arg;

	if (f->status == 200 && keel_recordio_feed(&f->dec, data, len, on_record, f) < 0)
		f->b->decode_errors++;
}

static void on_stream_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct fw *f = arg;

	if (f->status == 0)
		f->status = err < 0 ? err : resp->status;
	if (f->id[0] != '\0' && !f->b->closing)
		fprintf(stderr, "keel-launch-bench: framework %u: stream ended (%d)\n", f->idx,
			err);
}

static void subscribe(struct bench *b, struct fw *f)
{
	static const struct keel_http_client_cbs cbs = {
	    .on_head = on_head, .on_data = on_data, .on_done = on_stream_done};
	struct keel_http_client_config cc = {.request_timeout = 3600000};
	const char *ctype = f->protobuf ? "application/x-protobuf" : "application/json";
	const char *headers[] = {"Accept", ctype, NULL};
	char errmsg[KEEL_ERRMSG_SIZE], name[32];
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkInfo info = MESOS__V1__FRAMEWORK_INFO__INIT;
	struct keel_buf body = KEEL_BUF_INIT;

	snprintf(name, sizeof(name), "launch-bench-%u", f->idx);
	info.user = "bench";
	info.name = name;
	info.has_failover_timeout = true;
	info.failover_timeout = 3600;
	sub.framework_info = &info;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	call.subscribe = &sub;
	encode_call(f->protobuf, &call, &body);
	keel_recordio_decoder_init(&f->dec, 64u << 20);
	if (keel_http_client_new(b->loop, "127.0.0.1", b->port, &cc, &f->stream, errmsg) < 0 ||
	    keel_http_client_new(b->loop, "127.0.0.1", b->port, &cc, &f->calls, errmsg) < 0 ||
	    keel_http_client_request(f->stream, "POST", "/api/v1/scheduler", headers, ctype,
				     keel_buf_rptr(&body), keel_buf_size(&body), &cbs, f) < 0) {
		fprintf(stderr, "keel-launch-bench: %s\n", errmsg);
		exit(1);
	}
	keel_buf_free(&body);
}

/* --- Waiting --- */

static void health_done(int err, const struct keel_http_response *resp, void *arg)
{
	*(int *)arg = err < 0 ? err : resp->status;
}

/* Polls GET /health until 200; false after ms. */
static bool master_up(struct bench *b, uint64_t ms)
{
	static const struct keel_http_client_cbs cbs = {.on_done = health_done};
	uint64_t end = now_ns() + ms * 1000000u;

	while (now_ns() < end) {
		struct keel_http_client *c;
		char errmsg[KEEL_ERRMSG_SIZE];
		int st = 0;
		if (keel_http_client_new(b->loop, "127.0.0.1", b->port, NULL, &c, errmsg) == 0 &&
		    keel_http_client_request(c, "GET", "/health", NULL, NULL, NULL, 0, &cbs, &st) ==
			0) {
			while (st == 0)
				keel_loop_run_once(b->loop, 100);
			keel_http_client_free(c);
			if (st == 200)
				return true;
		}
		usleep(100000);
	}
	return false;
}

static int cmp_u64(const void *a, const void *c)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)c;
	return x < y ? -1 : x > y;
}

static void stop(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

int main(int argc, char **argv)
{
	struct bench b = {0};
	char errmsg[KEEL_ERRMSG_SIZE], portflag[32], coord[64], agentsflag[32], taskms[48],
	    master_log[] = "/tmp/keel-launch-bench-master.XXXXXX",
	    emu_log[] = "/tmp/keel-launch-bench-emu.XXXXXX";
	unsigned agents, task_ms;
	const char *enc;
	pid_t master, emu;
	int fd;

	if (argc != 8) {
		fprintf(stderr, "usage: keel-launch-bench MASTER_BIN EMU_BIN AGENTS FRAMEWORKS "
				"TASKS json|protobuf|mixed TASK_MS\n");
		return 2;
	}
	agents = (unsigned)strtoul(argv[3], NULL, 10);
	b.n_fws = (unsigned)strtoul(argv[4], NULL, 10);
	b.tasks = (unsigned)strtoul(argv[5], NULL, 10);
	enc = argv[6];
	task_ms = (unsigned)strtoul(argv[7], NULL, 10);
	if (agents == 0 || b.n_fws == 0 || b.tasks == 0 ||
	    (strcmp(enc, "json") != 0 && strcmp(enc, "protobuf") != 0 && strcmp(enc, "mixed") != 0))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if ((fd = mkstemp(master_log)) >= 0)
		close(fd);
	if ((fd = mkstemp(emu_log)) >= 0)
		close(fd);
	if (keel_loop_new(&b.loop, NULL, errmsg) < 0)
		return 1;
	b.port = free_port();
	snprintf(portflag, sizeof(portflag), "--port=%u", b.port);
	{
		char *margv[] = {argv[1],
				 "--ip=127.0.0.1",
				 portflag,
				 "--registry=in_memory",
				 "--allocation_interval=100ms",
				 "--registry_max_agent_count=1000000",
				 NULL};
		master = spawn(margv, master_log);
	}
	if (!master_up(&b, 20000)) {
		fprintf(stderr, "keel-launch-bench: the master did not come up (log %s)\n",
			master_log);
		stop(master);
		return 1;
	}
	uint64_t rss_start = rss_kb(master);
	snprintf(coord, sizeof(coord), "--master=static://127.0.0.1:%u", b.port);
	snprintf(agentsflag, sizeof(agentsflag), "--agents=%u", agents);
	if (task_ms == 0)
		snprintf(taskms, sizeof(taskms), "--task_end=never");
	else
		snprintf(taskms, sizeof(taskms), "--task_ms=%ums", task_ms);
	{
		/* Updates resent after 60 s, not Mesos's 10 s: a burst of 100,000 tasks on a
		 * loaded machine can keep an update unacknowledged for over 10 s, and the
		 * duplicates would then be measured instead of the launches. */
		char *eargv[] = {argv[2], coord, agentsflag, taskms, "--status_retry=60secs", NULL};
		emu = spawn(eargv, emu_log);
	}
	{
		uint64_t end = now_ns() + 300000000000ull;
		while (!file_has(emu_log, "emu: wave") && now_ns() < end)
			usleep(100000);
		if (!file_has(emu_log, "emu: wave")) {
			fprintf(stderr, "keel-launch-bench: agents did not register (log %s)\n",
				emu_log);
			stop(emu);
			stop(master);
			return 1;
		}
	}
	uint64_t rss_agents = rss_kb(master);

	b.accept_ns = keel_xcalloc(b.tasks, sizeof(uint64_t));
	b.running_ns = keel_xcalloc(b.tasks, sizeof(uint64_t));
	b.finished_ns = keel_xcalloc(b.tasks, sizeof(uint64_t));
	b.fws = keel_xcalloc(b.n_fws, sizeof(*b.fws));
	for (unsigned i = 0; i < b.n_fws; i++) {
		b.fws[i].b = &b;
		b.fws[i].idx = i;
		b.fws[i].protobuf =
		    strcmp(enc, "protobuf") == 0 || (strcmp(enc, "mixed") == 0 && (i & 1) == 1);
		subscribe(&b, &b.fws[i]);
	}
	/* Subscribed, no ACCEPT yet: the baseline for CPU and RSS. */
	double cpu0 = 0, self0 = 0, emu0 = 0;
	uint64_t rss_before = 0;
	{
		uint64_t end = now_ns() + 60000000000ull;
		unsigned subscribed = 0;
		while (subscribed < b.n_fws && now_ns() < end) {
			keel_loop_run_once(b.loop, 10);
			subscribed = 0;
			for (unsigned i = 0; i < b.n_fws; i++)
				subscribed += b.fws[i].id[0] != '\0';
		}
		if (subscribed < b.n_fws) {
			fprintf(stderr, "keel-launch-bench: %u of %u frameworks subscribed\n",
				subscribed, b.n_fws);
			stop(emu);
			stop(master);
			return 1;
		}
	}
	/* The first cycle may already be here; the span starts at the first ACCEPT anyway. */
	rss_before = rss_kb(master);
	cpu0 = cpu_s(master);
	emu0 = cpu_s(emu);
	self0 = self_cpu_s();
	uint64_t rss_running = 0;
	double cpu_running = 0, emu_running = 0, self_running = 0;
	uint64_t deadline = now_ns() + 600000000000ull;
	while (now_ns() < deadline) {
		keel_loop_run_once(b.loop, 50);
		if (b.running == b.tasks && rss_running == 0) {
			rss_running = rss_kb(master);
			cpu_running = cpu_s(master);
			emu_running = cpu_s(emu);
			self_running = self_cpu_s();
		}
		if (b.running == b.tasks && (task_ms == 0 || b.finished == b.tasks))
			break;
	}
	double cpu_end = cpu_s(master), emu_end = cpu_s(emu), self_end = self_cpu_s();
	uint64_t rss_end = rss_kb(master);
	bool ok = b.running == b.tasks && (task_ms == 0 || b.finished == b.tasks);

	/* Figures. */
	uint64_t *lat = keel_xcalloc(b.tasks, sizeof(uint64_t));
	size_t nl = 0;
	for (unsigned i = 0; i < b.tasks; i++)
		if (b.running_ns[i] != 0)
			lat[nl++] = b.running_ns[i] - b.accept_ns[i];
	qsort(lat, nl, sizeof(*lat), cmp_u64);
	double span_run = b.running ? (double)(b.last_running_ns - b.first_accept_ns) / 1e9 : 0;
	double rate_run = span_run > 0 ? b.running / span_run : 0;
	printf("launch-bench agents=%u frameworks=%u tasks=%u encoding=%s task_ms=%u "
	       "master=own-process emu=own-process\n",
	       agents, b.n_fws, b.tasks, enc, task_ms);
	printf("  to RUNNING: %u tasks in %.3f s = %.0f tasks/s; accept-to-running p50=%.1f ms "
	       "p99=%.1f ms max=%.1f ms\n",
	       b.running, span_run, rate_run, nl ? (double)lat[nl / 2] / 1e6 : 0,
	       nl ? (double)lat[(nl * 99) / 100] / 1e6 : 0, nl ? (double)lat[nl - 1] / 1e6 : 0);
	if (rss_running != 0)
		printf("  CPU to RUNNING: master %.1f us/task (%.2f s), emulator %.2f s, "
		       "frameworks %.2f s\n",
		       (cpu_running - cpu0) * 1e6 / b.tasks, cpu_running - cpu0, emu_running - emu0,
		       self_running - self0);
	if (task_ms != 0) {
		double span_fin =
		    b.finished ? (double)(b.last_finished_ns - b.first_accept_ns) / 1e9 : 0;
		printf("  to FINISHED (task_ms=%u): %u tasks in %.3f s = %.0f tasks/s; CPU master "
		       "%.1f us/task (%.2f s), emulator %.2f s, frameworks %.2f s\n",
		       task_ms, b.finished, span_fin, span_fin > 0 ? b.finished / span_fin : 0,
		       (cpu_end - cpu0) * 1e6 / b.tasks, cpu_end - cpu0, emu_end - emu0,
		       self_end - self0);
	}
	printf("  master RSS: %.0f bytes/agent (%" PRIu64 " kB at start, %" PRIu64
	       " kB with agents); ",
	       (double)(rss_agents - rss_start) * 1024.0 / agents, rss_start, rss_agents);
	if (rss_running != 0 && task_ms == 0)
		printf("%.0f bytes/task live (%" PRIu64 " kB before the first ACCEPT, %" PRIu64
		       " kB with %u tasks RUNNING)\n",
		       ((double)rss_running - (double)rss_before) * 1024.0 / b.tasks, rss_before,
		       rss_running, b.tasks);
	else
		printf("%" PRIu64 " kB before the first ACCEPT, %" PRIu64 " kB at the end\n",
		       rss_before, rss_end);
	printf("  calls=%" PRIu64 " acks=%" PRIu64 " call_errors=%" PRIu64
	       " decode_errors=%d other_states=%u%s%s\n",
	       b.calls, b.acks, b.call_errors, b.decode_errors, b.bad_updates,
	       b.call_errors ? " first_error=" : "", b.first_error);
	printf("  verdict: %.0f tasks/s to RUNNING %s 10,000/s; anchor: %s\n", rate_run,
	       rate_run > 10000 ? ">" : "<=", ANCHOR);
	if (!ok)
		printf("  INCOMPLETE: %u running, %u finished of %u (logs %s %s)\n", b.running,
		       b.finished, b.tasks, master_log, emu_log);
	fflush(stdout);

	b.closing = true;
	for (unsigned i = 0; i < b.n_fws; i++) {
		keel_http_client_free(b.fws[i].calls);
		keel_http_client_free(b.fws[i].stream);
		keel_recordio_decoder_free(&b.fws[i].dec);
	}
	stop(emu);
	stop(master);
	if (ok) {
		unlink(master_log);
		unlink(emu_log);
	}
	keel_free(lat);
	keel_free(b.fws);
	keel_free(b.accept_ns);
	keel_free(b.running_ns);
	keel_free(b.finished_ns);
	keel_loop_free(b.loop);
	return ok ? 0 : 1;
}
