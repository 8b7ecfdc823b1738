/* The master's life: creation, start-up wiring, fail-stop, clean shutdown, registry operations. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "coord/coord.h"
#include "http_api.h"
#include "master_int.h"
#include "operator_stream.h"
#include "registrar.h"
#include "replog/replog.h"
#include "offers.h"
#include "sched.h"
#include "tasks.h"
#include "runtime/alloc.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "0.0.0"
#endif

uint64_t master_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void master_uuid(char out[40])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno != EINTR)
			abort(); /* the kernel always has getrandom since 3.17 */
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static char *dup_or_null(const char *s)
{
	return s ? keel_xstrdup(s) : NULL;
}

static void config_copy(struct master_config *dst, const struct master_config *src)
{
	*dst = *src;
	dst->ip = dup_or_null(src->ip);
	dst->hostname = dup_or_null(src->hostname ? src->hostname : src->ip);
	dst->work_dir = dup_or_null(src->work_dir);
	dst->cluster = dup_or_null(src->cluster);
	dst->coord_url = dup_or_null(src->coord_url);
	dst->flags_json = dup_or_null(src->flags_json);
	dst->weights = dup_or_null(src->weights);
	dst->credentials = dup_or_null(src->credentials);
	dst->acls = dup_or_null(src->acls);
}

int master_new(struct keel_loop *loop, const struct master_config *cfg, struct master **out,
	       char *errmsg)
{
	struct master *m;
	struct in_addr a4;
	int rv;

	*out = NULL;
	if (cfg->ip == NULL || inet_pton(AF_INET, cfg->ip, &a4) != 1)
		return keel_errf(errmsg, -EINVAL, "--ip=%s: not an IPv4 address",
				 cfg->ip ? cfg->ip : "");
	if (!cfg->in_memory && cfg->work_dir == NULL)
		return keel_errf(errmsg, -EINVAL,
				 "--work_dir is required with --registry=replicated_log");
	if (cfg->ping_timeout_ms == 0 || cfg->max_ping_timeouts == 0 ||
	    cfg->session_timeout_ms == 0 || cfg->reregister_timeout_ms == 0)
		return keel_errf(errmsg, -EINVAL, "master: zero timeout in the configuration");
	m = keel_xcalloc(1, sizeof(*m));
	if ((rv = master_auth_start(m, cfg, errmsg)) < 0) {
		keel_free(m);
		return rv;
	}
	m->loop = loop;
	config_copy(&m->cfg, cfg);
	if (m->cfg.quorum == 0)
		m->cfg.quorum = 1;
	m->state = MASTER_INITIALIZING;
	m->start_time_ns = master_wall_ns();
	master_uuid(m->id);
	*out = m;
	return 0;
}

/* Builds this master's MasterInfo once the port is known. */
static void master_info_build(struct master *m)
{
	Mesos__V1__MasterInfo *mi = keel_xcalloc(1, sizeof(*mi));
	Mesos__V1__Address *addr = keel_xcalloc(1, sizeof(*addr));
	struct in_addr a4;
	char pid[128];

	mesos__v1__master_info__init(mi);
	mesos__v1__address__init(addr);
	inet_pton(AF_INET, m->cfg.ip, &a4);
	snprintf(pid, sizeof(pid), "master@%s:%u", m->cfg.ip, m->port);
	mi->id = keel_xstrdup(m->id);
	mi->ip = a4.s_addr; /* network byte order, as Mesos stores it */
	mi->port = m->port;
	mi->pid = keel_xstrdup(pid);
	mi->hostname = keel_xstrdup(m->cfg.hostname);
	mi->version = keel_xstrdup(KEEL_VERSION);
	addr->hostname = keel_xstrdup(m->cfg.hostname);
	addr->ip = keel_xstrdup(m->cfg.ip);
	addr->port = m->port;
	mi->address = addr;
	m->info = mi;
}

static void master_on_coord_status(struct coord *c, const struct coord_status *st, void *arg)
{
	(void)c;
	(void)arg;
	/* The coord logs trouble itself; the master says when a session is up. */
	if (st->type == COORD_STATUS_CONNECTED)
		KEEL_INFO(MASTER_LOG, "coordination session up: %s", st->message);
}

int master_start(struct master *m, char *errmsg)
{
	struct coord_config cc = {.session_timeout_ms = m->cfg.session_timeout_ms,
				  .on_status = master_on_coord_status};
	struct keel_http_server_config hc = {.server_name = "keel-master"};
	char url[128];
	int rv;

	rv = keel_http_server_new(m->loop, m->cfg.ip, m->cfg.port, &hc, &m->server, errmsg);
	if (rv < 0)
		return keel_errwrap(errmsg, rv, "listen on %s:%u", m->cfg.ip, m->cfg.port);
	m->port = keel_http_server_port(m->server);
	snprintf(m->self_addr, sizeof(m->self_addr), "%s:%u", m->cfg.ip, m->port);
	master_info_build(m);
	if ((rv = master_http_routes(m, errmsg)) < 0 ||
	    (rv = master_agents_routes(m, errmsg)) < 0 || (rv = master_api_start(m, errmsg)) < 0 ||
	    (rv = master_sched_start(m, errmsg)) < 0 || (rv = master_offers_new(m, errmsg)) < 0 ||
	    (rv = master_tasks_start(m, errmsg)) < 0)
		return rv;
	if (m->cfg.coord_url == NULL) {
		snprintf(url, sizeof(url), "static://%s", m->self_addr);
		m->cfg.coord_url = keel_xstrdup(url);
		m->cfg.coord_static = true;
	}
	rv = coord_open(m->loop, m->cfg.coord_url, &cc, &m->coord, errmsg);
	if (rv < 0)
		return rv;
	KEEL_INFO(MASTER_LOG,
		  "master %s listening on %s (hostname %s), coordination %s, registry %s, "
		  "quorum %u",
		  m->id, m->self_addr, m->cfg.hostname, m->cfg.coord_url,
		  m->cfg.in_memory ? "in_memory" : "replicated_log", m->cfg.quorum);
	if ((rv = master_detect_start(m, errmsg)) < 0)
		return rv;
	if (m->cfg.in_memory) {
		master_log_ready(m);
		return m->state == MASTER_FAILED ? keel_errf(errmsg, -EIO, "%s", m->fail_reason)
						 : 0;
	}
	return master_replicas_start(m, errmsg);
}

static void master_on_registrar_fatal(struct registrar *r, int err, const char *message, void *arg)
{
	struct master *m = arg;

	(void)r;
	master_fail(m, "the registry cannot be persisted (%s): %s", strerror(-err), message);
}

void master_log_ready(struct master *m)
{
	struct registrar_config rc = {
	    .log = m->log,
	    .fetch_timeout_ms = m->cfg.fetch_timeout_ms,
	    .store_timeout_ms = m->cfg.store_timeout_ms,
	    .max_agent_age_ms = m->cfg.max_agent_age_ms,
	    .max_agent_count = m->cfg.max_agent_count,
	    .on_fatal = master_on_registrar_fatal,
	    .fatal_arg = m,
	};
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv;

	rv = registrar_open(m->loop, &rc, &m->registrar, errmsg);
	if (rv < 0) {
		master_fail(m, "cannot open the registrar: %s", errmsg);
		return;
	}
	m->state = MASTER_STANDBY;
	rv = master_contend_start(m, errmsg);
	if (rv < 0)
		master_fail(m, "cannot join the election: %s", errmsg);
}

void master_fail(struct master *m, const char *fmt, ...)
{
	va_list ap;

	if (m->state == MASTER_FAILED || m->stopping)
		return;
	va_start(ap, fmt);
	vsnprintf(m->fail_reason, sizeof(m->fail_reason), fmt, ap);
	va_end(ap);
	KEEL_ERROR(MASTER_LOG, "fail-stop: %s", m->fail_reason);
	m->state = MASTER_FAILED;
	master_liveness_stop(m);
	master_opstream_close_all(m); /* operator subscribers learn at once */
	if (m->cfg.on_fatal == NULL)
		_exit(1);
	m->cfg.on_fatal(m, m->fail_reason, m->cfg.fatal_arg);
}

ProtobufCMessage *master_pb_copy(const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = keel_xmalloc(n ? n : 1);
	ProtobufCMessage *out = NULL;

	protobuf_c_message_pack(msg, buf);
	if (keel_pbjson_unpack(msg->descriptor, buf, n, &out, NULL) < 0)
		abort(); /* our own valid message, or out of memory: fatal in a daemon */
	keel_free(buf);
	return out;
}

bool master_leading(struct master *m)
{
	uint64_t epoch = 0;

	if (m->state != MASTER_LEADING)
		return false;
	if (m->contender == NULL || !coord_contender_leading(m->contender, &epoch)) {
		master_fail(m,
			    "leadership of epoch %" PRIu64 " ended (coordination session expired "
			    "or lost) before acting as leader",
			    m->epoch);
		return false;
	}
	if (epoch != m->epoch) {
		master_fail(m, "leading with epoch %" PRIu64 " but this term was %" PRIu64, epoch,
			    m->epoch);
		return false;
	}
	return true;
}

struct master_op *master_op_new(struct master *m, master_op_fn fn, struct master_agent *a,
				void *data)
{
	struct master_op *op = keel_xcalloc(1, sizeof(*op));

	op->m = m;
	op->fn = fn;
	op->agent = a;
	op->data = data;
	op->next = m->ops;
	if (m->ops)
		m->ops->prev = op;
	m->ops = op;
	return op;
}

static void master_op_unlink(struct master_op *op)
{
	struct master *m = op->m;

	if (op->prev)
		op->prev->next = op->next;
	else
		m->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
}

void master_op_cancel(struct master_op *op)
{
	master_op_unlink(op);
	keel_free(op);
}

void master_op_done(struct registrar *r, int status, void *arg)
{
	struct master_op *op = arg;
	struct master *m = op->m;

	(void)r;
	master_op_unlink(op);
	if (m->state != MASTER_FAILED && !m->stopping)
		op->fn(m, status, op->agent, op->data);
	keel_free(op);
}

void master_free(struct master *m, unsigned wait_ms)
{
	if (m == NULL)
		return;
	master_liveness_stop(m);
	/* Withdraw first, so that a successor is elected without waiting for a timeout. */
	coord_close(m->coord, wait_ms);
	m->coord = NULL;
	m->contender = NULL;
	m->detector = NULL;
	/* The replica before the registrar: closing it completes the registrar's appends in flight
	 * (-ECANCELED) while the registrar still exists; what the registrar reports then is not
	 * news any more (stopping). The replica's route stays on the server: the server is freed
	 * below, before the loop runs again. */
	m->stopping = true;
	master_replicas_free(m);
	registrar_close(m->registrar);
	m->registrar = NULL;
	while (m->ops) {
		struct master_op *op = m->ops;
		m->ops = op->next;
		keel_free(op);
	}
	master_tasks_free(m);
	master_offers_free(m);
	master_agents_free(m);
	master_sched_free(m);
	master_api_free(m);
	master_auth_free(m->auth);
	keel_http_server_free(m->server);
	master_leader_clear(&m->leader);
	if (m->info)
		keel_pbjson_free(&m->info->base);
	master_config_free(&m->cfg);
	keel_free(m);
}
