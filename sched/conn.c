/* libkeel-sched: finding the leader, the SUBSCRIBE stream, events, heartbeats and backoff. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/loop_int.h"
#include "runtime/pbjson.h"
#include "runtime/util.h"
#include "sched/sched_int.h"

#define SCHED_DEFAULT_HB 15.0	    /* seconds, when SUBSCRIBED has no interval */
#define SCHED_MAX_REDIRECTS 8	    /* consecutive 307s before backing off */
#define SCHED_MAX_EVENT (64u << 20) /* longest event record */

static void conn_connect(struct keel_sched *s);

static const char *wire_type(const struct keel_sched *s)
{
	return s->json ? "application/json" : "application/x-protobuf";
}

int sched_encode(const struct keel_sched *s, const ProtobufCMessage *m, struct keel_buf *out,
		 char *errmsg)
{
	size_t n;
	int rv;

	rv = keel_pbjson_check(m, errmsg);
	if (rv < 0)
		return rv;
	if (s->json)
		return keel_pbjson_write(out, m, errmsg);
	n = protobuf_c_message_get_packed_size(m);
	rv = keel_buf_reserve(out, n + 1);
	if (rv < 0)
		return keel_errf(errmsg, rv, "out of memory packing a call");
	keel_buf_commit(out, protobuf_c_message_pack(m, (uint8_t *)keel_buf_wptr(out)));
	return 0;
}

int sched_hostport(const char *hp, char *host, size_t hostlen, uint16_t *port, char *errmsg)
{
	const char *colon, *h = hp;
	size_t hl;
	char *end;
	unsigned long p;

	if (strncmp(h, "http://", 7) == 0)
		h += 7;
	if (h[0] == '[') {
		const char *rb = strchr(h, ']');
		if (rb == NULL || rb[1] != ':')
			return keel_errf(errmsg, -EINVAL, "bad master address \"%s\"", hp);
		h++;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(h, ':');
		if (colon == NULL)
			return keel_errf(errmsg, -EINVAL, "master address \"%s\" has no port", hp);
		hl = (size_t)(colon - h);
	}
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (hl == 0 || hl >= hostlen || errno != 0 || end == colon + 1 ||
	    (*end != '\0' && *end != '/') || p == 0 || p > 65535)
		return keel_errf(errmsg, -EINVAL, "bad master address \"%s\"", hp);
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

/* Frees a connection: its clients first (pending calls fail with -ECANCELED). */
static void conn_free(struct sched_conn *c)
{
	if (c->sub != NULL)
		keel_http_client_free(c->sub);
	if (c->calls != NULL)
		keel_http_client_free(c->calls);
	keel_buf_free(&c->errbody);
	keel_recordio_decoder_free(&c->dec);
	keel_free(c);
}

static void reaper_fire(struct keel_timer *t, void *arg)
{
	struct keel_sched *s = arg;

	while (s->dead != NULL) {
		struct sched_conn *c = s->dead;
		s->dead = c->next;
		conn_free(c);
	}
}

void sched_conn_drop(struct keel_sched *s)
{
	struct sched_conn *c = s->conn;

	s->gen++;
	s->hb_interval = 0;
	if (s->watchdog != NULL)
		keel_timer_stop(s->watchdog);
	keel_free(s->stream_id);
	s->stream_id = NULL;
	if (c == NULL)
		return;
	s->conn = NULL;
	/* Freed on the next turn: we may be inside one of its clients' callbacks. */
	c->next = s->dead;
	s->dead = c;
	if (!s->in_free)
		keel_timer_start(s->reaper, 0, 0);
}

static void report_disconnect(struct keel_sched *s, bool was_up, int err, const char *why)
{
	if (was_up && s->cbs.disconnected != NULL)
		s->cbs.disconnected(s, err, why, s->arg);
}

static unsigned next_backoff(struct keel_sched *s)
{
	unsigned cur, half;

	if (s->backoff_cur == 0)
		s->backoff_cur = s->backoff_min;
	else
		s->backoff_cur = KEEL_MIN(s->backoff_max, s->backoff_cur * 2);
	cur = s->backoff_cur;
	/* xorshift64: jitter in [cur/2, cur] so that many frameworks do not return in step. */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	half = cur / 2;
	return half + (unsigned)(s->rng % (half + 1));
}

void sched_conn_fail(struct keel_sched *s, int err, const char *why)
{
	bool was_up = s->conn != NULL;

	sched_conn_drop(s);
	if (s->state == SST_STOPPED)
		return;
	s->state = SST_WAITING;
	if (s->masters != NULL)
		s->master_idx = (s->master_idx + 1) % s->n_masters;
	keel_timer_start(s->retry, next_backoff(s), 0);
	report_disconnect(s, was_up, err, why);
}

/* --- events --- */

static void watchdog_arm(struct keel_sched *s)
{
	double iv = s->hb_interval > 0 ? s->hb_interval : SCHED_DEFAULT_HB;

	keel_timer_start(s->watchdog, (uint64_t)(iv * 1000.0 * s->misses), 0);
}

static void watchdog_fire(struct keel_timer *t, void *arg)
{
	struct keel_sched *s = arg;
	char why[128];

	snprintf(why, sizeof(why), "no event from %s for %u heartbeat intervals",
		 s->current != NULL ? s->current : "the master", s->misses);
	sched_conn_fail(s, -ETIMEDOUT, why);
}

static int on_subscribed(struct keel_sched *s, const Mesos__V1__Scheduler__Event__Subscribed *ev)
{
	char *id;

	if (ev == NULL || ev->framework_id == NULL || ev->framework_id->value == NULL)
		return -EBADMSG;
	id = keel_strdup(ev->framework_id->value);
	if (id == NULL)
		return -ENOMEM;
	keel_free(s->framework_id);
	s->framework_id = id;
	s->hb_interval = ev->has_heartbeat_interval_seconds && ev->heartbeat_interval_seconds > 0
			     ? ev->heartbeat_interval_seconds
			     : SCHED_DEFAULT_HB;
	s->backoff_cur = 0;
	s->redirects = 0;
	s->subscriptions++;
	watchdog_arm(s);
	if (s->cbs.subscribed != NULL)
		s->cbs.subscribed(s, ev, s->arg);
	return 0;
}

/* Hands one decoded event to the callbacks; returns -EBADMSG when it lacks its body. */
static int dispatch(struct keel_sched *s, const Mesos__V1__Scheduler__Event *ev)
{
	const struct keel_sched_cbs *cb = &s->cbs;
	uint64_t gen = s->gen;
	int rv = 0;

	watchdog_arm(s);
	switch (ev->type) {
	case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED:
		rv = on_subscribed(s, ev->subscribed);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
		if (ev->offers == NULL)
			return -EBADMSG;
		if (cb->offers != NULL)
			cb->offers(s, ev->offers->offers, ev->offers->n_offers, s->arg);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND:
		if (ev->rescind == NULL)
			return -EBADMSG;
		if (cb->rescind != NULL)
			cb->rescind(s, ev->rescind->offer_id, s->arg);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE:
		if (ev->update == NULL)
			return -EBADMSG;
		if (cb->update != NULL)
			cb->update(s, ev->update->status, s->arg);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE:
		if (ev->message == NULL)
			return -EBADMSG;
		if (cb->message != NULL)
			cb->message(s, ev->message, s->arg);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE:
		if (ev->failure == NULL)
			return -EBADMSG;
		if (cb->failure != NULL)
			cb->failure(s, ev->failure, s->arg);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR:
		if (ev->error == NULL)
			return -EBADMSG;
		if (cb->error != NULL)
			cb->error(s, 0, ev->error->message, s->arg);
		break;
	case MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT:
		if (cb->heartbeat != NULL)
			cb->heartbeat(s, s->arg);
		break;
	default:
		break;
	}
	if (rv == 0 && cb->event != NULL && gen == s->gen)
		cb->event(s, ev, s->arg);
	return rv;
}

/* RecordIO callback: decode one event; non-zero stops the feed. */
static int on_record(void *arg, const char *rec, size_t len)
{
	struct sched_conn *c = arg;
	struct keel_sched *s = c->s;
	ProtobufCMessage *m = NULL;
	char msg[KEEL_ERRMSG_SIZE], why[KEEL_ERRMSG_SIZE + 32];
	int rv;

	if (c->gen != s->gen)
		return -ECANCELED;
	if (s->json)
		rv = keel_pbjson_read(&mesos__v1__scheduler__event__descriptor, rec, len, &m, msg);
	else
		rv =
		    keel_pbjson_unpack(&mesos__v1__scheduler__event__descriptor, rec, len, &m, msg);
	if (rv == 0) {
		rv = dispatch(s, (Mesos__V1__Scheduler__Event *)m);
		if (rv == -EBADMSG)
			snprintf(msg, sizeof(msg), "event without its body");
		else if (rv == -ENOMEM)
			snprintf(msg, sizeof(msg), "out of memory");
	}
	keel_pbjson_free(m);
	if (rv < 0 && c->gen == s->gen) {
		snprintf(why, sizeof(why), "bad event from %s: %s", s->current, msg);
		sched_conn_fail(s, rv == -ENOMEM ? -ENOMEM : -EBADMSG, why);
	}
	if (rv < 0)
		return rv;
	return c->gen == s->gen ? 0 : -ECANCELED;
}

static void sub_on_head(const struct keel_http_response *resp, void *arg)
{
	struct sched_conn *c = arg;
	struct keel_sched *s = c->s;
	const char *v;
	size_t vl;

	if (c->gen != s->gen)
		return;
	c->status = resp->status;
	if (resp->status != 200)
		return;
	v = keel_http_header_get(resp->head, "Mesos-Stream-Id", &vl);
	keel_free(s->stream_id);
	s->stream_id = v != NULL ? keel_strndup(v, vl) : NULL;
	if (v != NULL && s->stream_id == NULL) {
		sched_conn_fail(s, -ENOMEM, "out of memory");
		return;
	}
	s->state = SST_STREAMING;
	/* Until SUBSCRIBED, the default interval bounds the wait. */
	watchdog_arm(s);
	if (s->cbs.connected != NULL)
		s->cbs.connected(s, s->current, s->arg);
}

static void sub_on_data(const char *data, size_t len, void *arg)
{
	struct sched_conn *c = arg;
	struct keel_sched *s = c->s;
	char why[128];
	int rv;

	if (c->gen != s->gen)
		return;
	if (c->status != 200) {
		if (keel_buf_size(&c->errbody) < 4096)
			(void)keel_buf_append(&c->errbody, data, KEEL_MIN(len, 4096));
		return;
	}
	rv = keel_recordio_feed(&c->dec, data, len, on_record, c);
	if (rv < 0 && rv != -ECANCELED && c->gen == s->gen) {
		snprintf(why, sizeof(why), "bad RecordIO framing from %s", s->current);
		sched_conn_fail(s, rv, why);
	}
}

/* Takes "//host:port/path" or "http://host:port/path" from a 307 Location. */
static int parse_location(const char *loc, size_t len, char **out)
{
	const char *p = loc, *end = loc + len, *slash;

	if (len >= 7 && strncmp(p, "http://", 7) == 0)
		p += 7;
	else if (len >= 2 && p[0] == '/' && p[1] == '/')
		p += 2;
	else
		return -EBADMSG;
	slash = memchr(p, '/', (size_t)(end - p));
	if (slash == NULL)
		slash = end;
	if (slash == p)
		return -EBADMSG;
	*out = keel_strndup(p, (size_t)(slash - p));
	return *out != NULL ? 0 : -ENOMEM;
}

static void sub_on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct sched_conn *c = arg;
	struct keel_sched *s = c->s;
	char why[KEEL_ERRMSG_SIZE + 64];
	const char *loc;
	size_t ll;

	if (c->gen != s->gen)
		return;
	if (err < 0) {
		snprintf(why, sizeof(why), "SUBSCRIBE to %s failed: %s", s->current,
			 strerror(-err));
		sched_conn_fail(s, err, why);
		return;
	}
	if (resp->status == 200) {
		snprintf(why, sizeof(why), "%s closed the event stream", s->current);
		sched_conn_fail(s, -ECONNRESET, why);
		return;
	}
	if (resp->status == 307) {
		char *target = NULL;
		loc = keel_http_header_get(resp->head, "Location", &ll);
		if (loc == NULL || parse_location(loc, ll, &target) < 0 ||
		    ++s->redirects > SCHED_MAX_REDIRECTS) {
			keel_free(target);
			s->redirects = 0;
			snprintf(why, sizeof(why), "%s redirected badly or too often", s->current);
			sched_conn_fail(s, -ELOOP, why);
			return;
		}
		keel_free(s->redirect);
		s->redirect = target;
		sched_conn_drop(s);
		conn_connect(s);
		return;
	}
	snprintf(why, sizeof(why), "%s answered SUBSCRIBE with %d: %.*s", s->current, resp->status,
		 (int)KEEL_MIN(keel_buf_size(&c->errbody), 200u), keel_buf_rptr(&c->errbody));
	if (resp->status >= 400 && resp->status < 500 && resp->status != 408 &&
	    resp->status != 429) {
		/* The master refuses this framework: retrying cannot help. */
		sched_conn_drop(s);
		s->state = SST_STOPPED;
		if (s->cbs.error != NULL)
			s->cbs.error(s, resp->status, why, s->arg);
		return;
	}
	sched_conn_fail(s, -EAGAIN, why);
}

/* Builds and sends SUBSCRIBE on a new connection to target. */
static int conn_open(struct keel_sched *s, const char *target, char *errmsg)
{
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	struct keel_http_client_config hc = {.connect_timeout = s->req_timeout,
					     .request_timeout = s->req_timeout};
	static const struct keel_http_client_cbs cbs = {
	    .on_head = sub_on_head, .on_data = sub_on_data, .on_done = sub_on_done};
	const char *hdrs[] = {"Accept", wire_type(s), NULL};
	struct keel_buf body = {0};
	struct sched_conn *c;
	char host[256];
	uint16_t port;
	int rv;

	rv = sched_hostport(target, host, sizeof(host), &port, errmsg);
	if (rv < 0)
		return rv;
	c = keel_calloc(1, sizeof(*c));
	if (c == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	c->s = s;
	c->gen = s->gen;
	keel_recordio_decoder_init(&c->dec, SCHED_MAX_EVENT);
	rv = keel_http_client_new(s->loop, host, port, &hc, &c->sub, errmsg);
	if (rv == 0)
		rv = keel_http_client_new(s->loop, host, port, &hc, &c->calls, errmsg);
	if (rv < 0)
		goto fail;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	call.has_type = true;
	call.subscribe = &sub;
	sub.framework_info = s->fw;
	s->fw->id = NULL;
	if (s->framework_id != NULL) {
		fid.value = s->framework_id;
		call.framework_id = &fid;
		s->fw->id = &fid;
	}
	rv = sched_encode(s, &call.base, &body, errmsg);
	s->fw->id = NULL;
	if (rv < 0)
		goto fail;
	rv = keel_http_client_request(c->sub, "POST", s->path, hdrs, wire_type(s),
				      keel_buf_rptr(&body), keel_buf_size(&body), &cbs, c);
	keel_buf_free(&body);
	if (rv < 0) {
		keel_errf(errmsg, rv, "cannot send SUBSCRIBE to %s", target);
		goto fail;
	}
	s->conn = c;
	return 0;
fail:
	conn_free(c);
	return rv;
}

/* Picks the master to try and subscribes, or waits (no leader known). */
static void conn_connect(struct keel_sched *s)
{
	char msg[KEEL_ERRMSG_SIZE];
	const char *target;
	char *cur;
	int rv;

	if (s->state == SST_STOPPED)
		return;
	keel_timer_stop(s->retry);
	if (s->redirect != NULL)
		target = s->redirect;
	else if (s->coord != NULL)
		target = s->leader;
	else
		target = s->masters[s->master_idx];
	if (target == NULL) {
		s->state = SST_WAITING;
		return;
	}
	cur = keel_strdup(target);
	if (cur == NULL) {
		sched_conn_fail(s, -ENOMEM, "out of memory");
		return;
	}
	keel_free(s->current);
	s->current = cur;
	keel_free(s->redirect);
	s->redirect = NULL;
	s->state = SST_CONNECTING;
	rv = conn_open(s, cur, msg);
	if (rv < 0) {
		s->state = SST_WAITING;
		keel_timer_start(s->retry, next_backoff(s), 0);
		if (s->masters != NULL)
			s->master_idx = (s->master_idx + 1) % s->n_masters;
		if (s->cbs.disconnected != NULL)
			s->cbs.disconnected(s, rv, msg, s->arg);
	}
}

static void retry_fire(struct keel_timer *t, void *arg)
{
	conn_connect(arg);
}

void keel_sched_reconnect(struct keel_sched *s)
{
	bool was_up = s->conn != NULL;

	if (s->state == SST_STOPPED || s->state == SST_IDLE)
		return;
	sched_conn_drop(s);
	report_disconnect(s, was_up, -ECONNABORTED, "reconnect requested");
	conn_connect(s);
}

/* --- leader detection --- */

static char *leader_address(const Mesos__V1__MasterInfo *mi)
{
	char buf[300], ip[INET_ADDRSTRLEN];
	const char *host = NULL;
	uint32_t port = mi->port;
	struct in_addr a;

	if (mi->address != NULL) {
		host = mi->address->ip != NULL ? mi->address->ip : mi->address->hostname;
		port = mi->address->port;
	}
	if (host == NULL && mi->hostname != NULL && mi->hostname[0] != '\0')
		host = mi->hostname;
	if (host == NULL) {
		a.s_addr = mi->ip;
		host = inet_ntop(AF_INET, &a, ip, sizeof(ip));
	}
	if (host == NULL || port == 0 || port > 65535)
		return NULL;
	snprintf(buf, sizeof(buf), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
		 (unsigned)port);
	return keel_strdup(buf);
}

static void on_leader(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	struct keel_sched *s = arg;
	char *addr = NULL;
	char why[KEEL_ERRMSG_SIZE];
	bool up = s->conn != NULL;

	if (l->present && l->info != NULL)
		addr = leader_address(l->info);
	if (addr != NULL && s->leader != NULL && strcmp(addr, s->leader) == 0) {
		keel_free(addr);
		return;
	}
	keel_free(s->leader);
	s->leader = addr;
	if (s->state == SST_STOPPED || s->state == SST_IDLE)
		return;
	/* Whatever the old stream says from now on comes from a deposed leader: drop it. */
	sched_conn_drop(s);
	keel_free(s->redirect);
	s->redirect = NULL;
	s->backoff_cur = 0;
	snprintf(why, sizeof(why), "%s",
		 addr != NULL ? "the leading master changed" : "no master is leading");
	report_disconnect(s, up, -EAGAIN, why);
	conn_connect(s);
}

/* --- lifecycle --- */

static int parse_masters(struct keel_sched *s, const char *list, char *errmsg)
{
	char host[256];
	uint16_t port;
	const char *p = list;
	int rv;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		char *one = keel_strndup(p, n), **grown;
		if (one == NULL)
			return keel_errf(errmsg, -ENOMEM, "out of memory");
		rv = sched_hostport(one, host, sizeof(host), &port, errmsg);
		grown =
		    rv == 0 ? keel_realloc(s->masters, (s->n_masters + 1) * sizeof(char *)) : NULL;
		if (grown == NULL) {
			keel_free(one);
			return rv < 0 ? rv : keel_errf(errmsg, -ENOMEM, "out of memory");
		}
		/* Keep only host:port (drop http:// and a path). */
		snprintf(one, n + 1, strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
			 (unsigned)port);
		s->masters = grown;
		s->masters[s->n_masters++] = one;
		p += n;
		if (*p == ',')
			p++;
	}
	if (s->n_masters == 0)
		return keel_errf(errmsg, -EINVAL, "no master in \"%s\"", list);
	return 0;
}

static int copy_framework(struct keel_sched *s, const Mesos__V1__FrameworkInfo *fi, char *errmsg)
{
	ProtobufCMessage *m = NULL;
	uint8_t *buf;
	size_t n;
	int rv;

	if (fi->user == NULL || fi->name == NULL)
		return keel_errf(errmsg, -EINVAL, "FrameworkInfo needs user and name");
	rv = keel_pbjson_check(&fi->base, errmsg);
	if (rv < 0)
		return rv;
	n = protobuf_c_message_get_packed_size(&fi->base);
	buf = keel_malloc(n + 1);
	if (buf == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	protobuf_c_message_pack(&fi->base, buf);
	rv = keel_pbjson_unpack(&mesos__v1__framework_info__descriptor, buf, n, &m, errmsg);
	keel_free(buf);
	if (rv < 0)
		return rv;
	s->fw = (Mesos__V1__FrameworkInfo *)m;
	if (s->fw->id != NULL) {
		s->framework_id = keel_strdup(s->fw->id->value);
		protobuf_c_message_free_unpacked(&s->fw->id->base, NULL);
		s->fw->id = NULL;
		if (s->framework_id == NULL)
			return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	return 0;
}

int keel_sched_new(const struct keel_sched_config *cfg, struct keel_sched **out, char *errmsg)
{
	struct keel_sched *s;
	int rv;

	*out = NULL;
	if (cfg == NULL || cfg->master == NULL || cfg->master[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "no master given");
	if (cfg->framework == NULL)
		return keel_errf(errmsg, -EINVAL, "no FrameworkInfo given");
	s = keel_calloc(1, sizeof(*s));
	if (s == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	if (cfg->cbs != NULL)
		s->cbs = *cfg->cbs;
	s->arg = cfg->arg;
	s->json = cfg->json;
	s->backoff_min = cfg->backoff_min_ms != 0 ? cfg->backoff_min_ms : 250;
	s->backoff_max =
	    KEEL_MAX(s->backoff_min, cfg->backoff_max_ms != 0 ? cfg->backoff_max_ms : 15000);
	s->misses = cfg->heartbeat_misses != 0 ? cfg->heartbeat_misses : 3;
	s->req_timeout = cfg->request_timeout_ms != 0 ? cfg->request_timeout_ms : 10000;
	s->rng = keel_loop_clock_ns() ^ (uint64_t)(uintptr_t)s;
	if (s->rng == 0)
		s->rng = 1;
	s->path = keel_strdup(cfg->path != NULL ? cfg->path : "/api/v1/scheduler");
	if (s->path == NULL) {
		rv = keel_errf(errmsg, -ENOMEM, "out of memory");
		goto fail;
	}
	rv = copy_framework(s, cfg->framework, errmsg);
	if (rv < 0)
		goto fail;
	if (cfg->loop != NULL) {
		s->loop = cfg->loop;
	} else {
		rv = keel_loop_new(&s->loop, NULL, errmsg);
		if (rv < 0)
			goto fail;
		s->own_loop = true;
	}
	if ((rv = keel_timer_new(s->loop, reaper_fire, s, &s->reaper)) < 0 ||
	    (rv = keel_timer_new(s->loop, retry_fire, s, &s->retry)) < 0 ||
	    (rv = keel_timer_new(s->loop, watchdog_fire, s, &s->watchdog)) < 0) {
		keel_errf(errmsg, rv, "out of memory");
		goto fail;
	}
	if (strstr(cfg->master, "://") != NULL && strncmp(cfg->master, "http://", 7) != 0) {
		rv = coord_open(s->loop, cfg->master, NULL, &s->coord, errmsg);
	} else {
		rv = parse_masters(s, cfg->master, errmsg);
	}
	if (rv < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	keel_sched_free(s);
	return rv;
}

int keel_sched_start(struct keel_sched *s, char *errmsg)
{
	int rv;

	if (s->state != SST_IDLE)
		return keel_errf(errmsg, -EALREADY, "already started");
	s->state = SST_WAITING;
	if (s->coord != NULL) {
		rv = coord_detect(s->coord, COORD_DETECT_MASTER_INFO, on_leader, s, &s->detector,
				  errmsg);
		if (rv < 0) {
			s->state = SST_IDLE;
			return rv;
		}
		return 0;
	}
	/* Connect on the first loop turn, so that no callback fires inside this call. */
	keel_timer_start(s->retry, 0, 0);
	return 0;
}

int keel_sched_run(struct keel_sched *s)
{
	if (!s->own_loop)
		return -EINVAL;
	if (s->state == SST_STOPPED)
		return 0;
	return keel_loop_run(s->loop);
}

void keel_sched_stop(struct keel_sched *s)
{
	bool was_up = s->conn != NULL;

	if (s->state != SST_STOPPED) {
		sched_conn_drop(s);
		s->state = SST_STOPPED;
		keel_timer_stop(s->retry);
		report_disconnect(s, was_up, -ECANCELED, "stopped");
	}
	if (s->own_loop)
		keel_loop_stop(s->loop);
}

void keel_sched_free(struct keel_sched *s)
{
	if (s == NULL)
		return;
	s->in_free = true;
	s->state = SST_STOPPED;
	sched_conn_drop(s);
	if (s->reaper != NULL)
		reaper_fire(s->reaper, s);
	coord_detector_close(s->detector);
	if (s->coord != NULL)
		coord_close(s->coord, 0);
	if (s->reaper != NULL)
		keel_timer_free(s->reaper);
	if (s->retry != NULL)
		keel_timer_free(s->retry);
	if (s->watchdog != NULL)
		keel_timer_free(s->watchdog);
	if (s->own_loop)
		keel_loop_free(s->loop);
	for (size_t i = 0; i < s->n_masters; i++)
		keel_free(s->masters[i]);
	keel_free(s->masters);
	keel_pbjson_free(s->fw != NULL ? &s->fw->base : NULL);
	keel_free(s->framework_id);
	keel_free(s->stream_id);
	keel_free(s->leader);
	keel_free(s->redirect);
	keel_free(s->current);
	keel_free(s->path);
	keel_free(s);
}

const char *keel_sched_framework_id(const struct keel_sched *s)
{
	return s->framework_id;
}

bool keel_sched_subscribed(const struct keel_sched *s)
{
	return s->state == SST_STREAMING && s->hb_interval > 0 && s->stream_id != NULL &&
	       s->framework_id != NULL;
}

const char *keel_sched_master(const struct keel_sched *s)
{
	return s->conn != NULL ? s->current : NULL;
}

struct keel_loop *keel_sched_loop(const struct keel_sched *s)
{
	return s->loop;
}

uint64_t keel_sched_subscriptions(const struct keel_sched *s)
{
	return s->subscriptions;
}

int keel_sched_fd(const struct keel_sched *s)
{
	return s->loop->ring.ring_fd;
}

int keel_sched_process(struct keel_sched *s)
{
	return keel_loop_run_once(s->loop, 0);
}
