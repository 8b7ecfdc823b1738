/* etcd backend, session side: endpoints, the lease and its keep-alive, the session deadline, and
 * the mirror of the prefix (range, then a streaming watch). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "coord_debug.h"
#include "etcd_int.h"
#include "runtime/alloc.h"
#include "runtime/base64.h"
#include "runtime/log.h"

/* --- helpers --- */

static uint32_t etcd_ttl_ms(const struct etcd *e)
{
	return e->c->session_timeout_ms;
}

long etcd_req_timeout(const struct etcd *e)
{
	long t = (long)etcd_ttl_ms(e) / 3;

	return t < 300 ? 300 : t > 5000 ? 5000 : t;
}

int etcd_b64(struct keel_buf *b, const void *data, size_t len)
{
	size_t n = keel_base64_encoded_len(len);
	int rv = keel_buf_reserve(b, n);

	if (rv < 0)
		return rv;
	keel_base64_encode(keel_buf_wptr(b), data, len);
	keel_buf_commit(b, n);
	return 0;
}

bool etcd_json_i64(json_t *o, const char *key, int64_t *out)
{
	json_t *v = o != NULL ? json_object_get(o, key) : NULL;
	const char *s;
	char *end;
	long long x;

	if (v == NULL)
		return false;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	*out = (int64_t)x;
	return true;
}

int etcd_json_b64(json_t *o, const char *key, char **out, size_t *len)
{
	json_t *v = o != NULL ? json_object_get(o, key) : NULL;
	size_t n = 0;
	char *p;

	*out = NULL;
	*len = 0;
	if (v != NULL && !json_is_string(v))
		return -EINVAL;
	if (v != NULL)
		n = json_string_length(v);
	/* etcd leaves out empty values. */
	p = keel_malloc(keel_base64_decoded_max(n) + 1);
	if (p == NULL)
		return -ENOMEM;
	if (n > 0 && keel_base64_decode(p, len, json_string_value(v), n, NULL) < 0) {
		keel_free(p);
		return -EINVAL;
	}
	p[*len] = '\0';
	*out = p;
	return 0;
}

const char *etcd_error_text(json_t *j, int64_t *code)
{
	json_t *err = j != NULL ? json_object_get(j, "error") : NULL;

	*code = 0;
	if (err == NULL)
		return NULL;
	if (json_is_string(err)) {
		etcd_json_i64(j, "code", code);
		return json_string_value(err);
	}
	etcd_json_i64(err, "grpc_code", code);
	json_t *m = json_object_get(err, "message");
	return json_is_string(m) ? json_string_value(m) : "error";
}

/* --- requests --- */

static void etcd_on_done(struct eh_req *r, int err, long status, const char *body, size_t len,
			 const char *why, void *arg);
static void etcd_on_line(struct eh_req *r, const char *line, size_t len, void *arg);

static void op_unlink(struct etcd_op *op)
{
	op->prev->next = op->next;
	op->next->prev = op->prev;
	op->prev = op->next = op;
}

static void op_free(struct etcd_op *op)
{
	keel_free(op->key);
	keel_free(op);
}

struct etcd_op *etcd_post(struct etcd *e, enum etcd_kind kind, const char *path,
			  const struct keel_buf *body, long timeout_ms)
{
	struct etcd_op *op = keel_calloc(1, sizeof(*op));
	char url[512];
	int rv;

	if (op == NULL)
		return NULL;
	op->e = e;
	op->kind = kind;
	op->gen = e->gen;
	op->issued_ms = coord_now_ms();
	op->ep = e->cur;
	snprintf(url, sizeof(url), "%s%s", e->eps[e->cur], path);
	rv = eh_post(e->http, url, keel_buf_rptr(body), keel_buf_size(body), timeout_ms,
		     etcd_req_timeout(e), kind == ETCD_WATCH ? etcd_on_line : NULL, etcd_on_done,
		     op, &op->req);
	if (rv < 0) {
		keel_free(op);
		return NULL;
	}
	op->next = e->ops.next;
	op->prev = &e->ops;
	e->ops.next->prev = op;
	e->ops.next = op;
	e->c->stats.requests++;
	return op;
}

/* Cancels op (no callback) and frees it. */
static void op_cancel(struct etcd_op *op)
{
	eh_cancel(op->req);
	op_unlink(op);
	op_free(op);
}

/* --- contact, failures, retries --- */

void etcd_contact(struct etcd *e)
{
	e->last_contact_ms = coord_now_ms();
	e->streak = 0;
	e->unreach_told = false;
}

static void etcd_arm_unreach(struct etcd *e)
{
	uint64_t now = coord_now_ms();
	uint64_t at = e->last_contact_ms + e->c->cfg.connect_timeout_ms;

	if (!keel_timer_active(e->unreach))
		keel_timer_start(e->unreach, at > now ? at - now : 0, 0);
}

static void etcd_unreach_fire(struct keel_timer *t, void *arg)
{
	struct etcd *e = arg;
	struct coord *c = e->c;
	uint64_t now = coord_now_ms();

	(void)t;
	if (e->unreach_told)
		return;
	if (now < e->last_contact_ms + c->cfg.connect_timeout_ms) {
		if (e->streak > 0)
			etcd_arm_unreach(e);
		return;
	}
	e->unreach_told = true;
	coord_enter(c);
	coord_status(c, COORD_STATUS_UNREACHABLE, -EHOSTUNREACH,
		     "no etcd member answered within %u ms (last error: %s)",
		     c->cfg.connect_timeout_ms, e->last_err[0] != '\0' ? e->last_err : "none");
	coord_leave(c);
}

static void etcd_watch_start(struct etcd *e);
static void etcd_resync(struct etcd *e);

void etcd_transport_failed(struct etcd *e, size_t ep, const char *why)
{
	snprintf(e->last_err, sizeof(e->last_err), "%s: %s", e->eps[ep], why);
	KEEL_DEBUG("coord", "%s: %s", e->c->url_text, e->last_err);
	e->streak++;
	if (ep == e->cur && e->neps > 1) {
		e->cur = (e->cur + 1) % e->neps;
		/* The watch stream on the failed member may be stalled rather than broken. */
		if (e->watch != NULL && e->watch->ep == ep) {
			op_cancel(e->watch);
			e->watch = NULL;
			if (e->synced)
				etcd_watch_start(e);
		}
	}
	etcd_arm_unreach(e);
}

void etcd_schedule_retry(struct etcd *e)
{
	if (!keel_timer_active(e->retry))
		keel_timer_start(e->retry, coord_backoff_ms(50, e->streak), 0); /* 50 ms .. 1.6 s */
}

/* --- deletes --- */

void etcd_delete_key(struct etcd *e, const char *key)
{
	struct keel_buf b = KEEL_BUF_INIT;
	struct etcd_op *op = NULL;

	if (!e->lease_ok)
		return; /* it goes with the lease */
	if (keel_buf_puts(&b, "{\"key\":\"") == 0 && etcd_b64(&b, key, strlen(key)) == 0 &&
	    keel_buf_puts(&b, "\"}") == 0)
		op = etcd_post(e, ETCD_DELETE, "/v3/kv/deleterange", &b, etcd_req_timeout(e));
	keel_buf_free(&b);
	if (op != NULL && (op->key = keel_strdup(key)) != NULL)
		return;
	if (op != NULL)
		op_cancel(op);
	if (!coord_strlist_add(&e->deletes, key))
		coord_session_fail(e->c, -ENOMEM, "out of memory deleting %s", key);
	etcd_schedule_retry(e);
}

static void delete_again(void *ctx, const char *key)
{
	etcd_delete_key(ctx, key);
}

/*
 * Posts body b, when building it succeeded (built), as a request of kind
 * with the usual timeout, and frees b. Returns the request, or NULL with a
 * retry scheduled.
 */
static struct etcd_op *etcd_send(struct etcd *e, enum etcd_kind kind, const char *path,
				 struct keel_buf *b, bool built)
{
	struct etcd_op *op = built ? etcd_post(e, kind, path, b, etcd_req_timeout(e)) : NULL;

	keel_buf_free(b);
	if (op == NULL)
		etcd_schedule_retry(e);
	return op;
}

/* --- the lease --- */

static void etcd_grant(struct etcd *e)
{
	struct keel_buf b = KEEL_BUF_INIT;
	uint32_t secs = (e->c->cfg.session_timeout_ms + 999) / 1000;

	if (e->granting || e->lease_ok || e->c->closing)
		return;
	e->granting = etcd_send(e, ETCD_GRANT, "/v3/lease/grant", &b,
				keel_buf_printf(&b, "{\"TTL\":\"%u\"}", secs) == 0) != NULL;
}

static void etcd_keepalive(struct etcd *e)
{
	struct keel_buf b = KEEL_BUF_INIT;

	if (!e->lease_ok || e->keeping)
		return;
	e->keeping =
	    etcd_send(e, ETCD_KEEPALIVE, "/v3/lease/keepalive", &b,
		      keel_buf_printf(&b, "{\"ID\":\"%lld\"}", (long long)e->lease) == 0) != NULL;
}

void etcd_verify_lease(struct etcd *e)
{
	e->verify = true;
	etcd_keepalive(e);
}

/* Revokes `lease` without waiting for or caring about the answer. */
static void etcd_revoke_async(struct etcd *e, int64_t lease)
{
	struct keel_buf b = KEEL_BUF_INIT;

	if (keel_buf_printf(&b, "{\"ID\":\"%lld\"}", (long long)lease) == 0)
		(void)etcd_post(e, ETCD_REVOKE, "/v3/lease/revoke", &b, etcd_req_timeout(e));
	keel_buf_free(&b);
}

static void grant_done(struct etcd *e, struct etcd_op *op, int err, long status, json_t *j)
{
	struct coord *c = e->c;
	int64_t id = 0, ttl = 0, code;
	const char *msg;

	e->granting = false;
	if (err < 0) {
		etcd_schedule_retry(e);
		return;
	}
	if (status != 200 || !etcd_json_i64(j, "ID", &id) || !etcd_json_i64(j, "TTL", &ttl) ||
	    ttl <= 0) {
		msg = etcd_error_text(j, &code);
		coord_status(c, COORD_STATUS_ERROR, -EIO, "lease grant: HTTP %ld: %s", status,
			     msg != NULL ? msg : "no lease in the answer");
		e->streak++;
		etcd_schedule_retry(e);
		return;
	}
	if (e->lease_ok) {
		etcd_revoke_async(e, id); /* cannot happen: one grant at a time */
		return;
	}
	e->gen++;
	e->lease = id;
	e->lease_ok = true;
	e->counter = 0;
	c->session_timeout_ms = (uint32_t)(ttl > 100000 ? 100000000 : ttl * 1000);
	coord_session_touch(c, op->issued_ms);
	c->stats.sessions++;
	uint64_t every = etcd_ttl_ms(e) / 4;
	keel_timer_start(e->ka_timer, every, every > 0 ? every : 1);
	coord_status(c, COORD_STATUS_CONNECTED, 0, "lease %llx granted (TTL %lld s) by %s",
		     (unsigned long long)id, (long long)ttl, e->eps[op->ep]);
	if (c->closing)
		return;
	if (!e->synced && !e->syncing)
		etcd_resync(e);
	etcd_run(e, true);
}

static void keepalive_done(struct etcd *e, struct etcd_op *op, int err, long status, json_t *j)
{
	struct coord *c = e->c;
	int64_t ttl = 0, code = 0;
	const char *msg;

	if (op->gen != e->gen || !e->lease_ok)
		return; /* for a lease already given up */
	e->keeping = false;
	if (err < 0) {
		/* Try the next member at once, once per member; then wait for the timer. */
		if (e->streak <= e->neps)
			etcd_keepalive(e);
		return;
	}
	msg = etcd_error_text(j, &code);
	json_t *res = j != NULL ? json_object_get(j, "result") : NULL;
	if (status == 200 && res != NULL && etcd_json_i64(res, "TTL", &ttl) && ttl > 0) {
		coord_session_touch(c, op->issued_ms);
		if (e->verify) {
			e->verify = false;
			etcd_run(e, true);
		}
		return;
	}
	if ((status == 200 && res != NULL) || code == 5) {
		coord_session_fail(e->c, -ECONNRESET, "lease %llx expired or was revoked",
				   (unsigned long long)e->lease);
		return;
	}
	/* An unhealthy member (no raft leader, timeouts): another one may do better. */
	if (status < 500) /* (5xx was counted as a failure already) */
		etcd_transport_failed(e, op->ep, msg != NULL ? msg : "keep-alive refused");
	if (e->streak <= e->neps)
		etcd_keepalive(e);
}

static void etcd_ka_fire(struct keel_timer *t, void *arg)
{
	struct etcd *e = arg;

	(void)t;
	etcd_keepalive(e);
	coord_strlist_drain(&e->deletes, delete_again, e);
}

/* --- the mirror --- */

static void kv_free(struct etcd_kv *kv)
{
	keel_free(kv->key);
	keel_free(kv->value);
}

static void mirror_clear(struct etcd *e)
{
	size_t i;

	for (i = 0; i < e->nkvs; i++)
		kv_free(&e->kvs[i]);
	e->nkvs = 0;
}

/* Parses one kv object into *kv: 1, 0 when malformed (skip it), or -ENOMEM. */
static int kv_parse(json_t *o, struct etcd_kv *kv)
{
	size_t klen;
	int rv;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "key")))
		return 0;
	rv = etcd_json_b64(o, "key", &kv->key, &klen);
	if (rv < 0)
		return rv == -ENOMEM ? rv : 0;
	if (klen == 0 || strlen(kv->key) != klen) {
		keel_free(kv->key);
		kv->key = NULL;
		return 0;
	}
	etcd_json_i64(o, "create_revision", &kv->create_rev);
	etcd_json_i64(o, "mod_revision", &kv->mod_rev);
	etcd_json_i64(o, "lease", &kv->lease);
	rv = etcd_json_b64(o, "value", &kv->value, &kv->vlen);
	if (rv < 0) {
		keel_free(kv->key);
		kv->key = NULL;
		return rv == -ENOMEM ? rv : 0;
	}
	return 1;
}

/* Inserts or replaces kv (taking ownership) keeping create_revision order; false on OOM. */
static bool mirror_put(struct etcd *e, struct etcd_kv *kv)
{
	size_t i;

	for (i = 0; i < e->nkvs; i++) {
		if (strcmp(e->kvs[i].key, kv->key) == 0) {
			if (e->kvs[i].create_rev == kv->create_rev) {
				kv_free(&e->kvs[i]);
				e->kvs[i] = *kv;
				return true;
			}
			kv_free(&e->kvs[i]);
			memmove(&e->kvs[i], &e->kvs[i + 1], (e->nkvs - i - 1) * sizeof(*e->kvs));
			e->nkvs--;
			break;
		}
	}
	if (e->nkvs == e->capkvs) {
		size_t cap = e->capkvs ? e->capkvs * 2 : 16;
		struct etcd_kv *n = keel_realloc(e->kvs, cap * sizeof(*n));
		if (n == NULL)
			return false;
		e->kvs = n;
		e->capkvs = cap;
	}
	i = e->nkvs;
	while (i > 0 && e->kvs[i - 1].create_rev > kv->create_rev)
		i--;
	memmove(&e->kvs[i + 1], &e->kvs[i], (e->nkvs - i) * sizeof(*e->kvs));
	e->kvs[i] = *kv;
	e->nkvs++;
	return true;
}

static void mirror_delete(struct etcd *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->nkvs; i++) {
		if (strcmp(e->kvs[i].key, key) == 0) {
			kv_free(&e->kvs[i]);
			memmove(&e->kvs[i], &e->kvs[i + 1], (e->nkvs - i - 1) * sizeof(*e->kvs));
			e->nkvs--;
			return;
		}
	}
}

/* The mirror cannot be trusted any more: start over with a range. */
static void mirror_lost(struct etcd *e)
{
	if (e->watch != NULL) {
		op_cancel(e->watch);
		e->watch = NULL;
	}
	e->synced = false;
	etcd_resync(e);
}

/* Appends "key":"<prefix>","range_end":"<prefix end>" (base64): everything of ours. */
static int put_prefix_range(struct etcd *e, struct keel_buf *b)
{
	int rv = keel_buf_puts(b, "\"key\":\"");

	rv = rv ?: etcd_b64(b, e->prefix, strlen(e->prefix));
	rv = rv ?: keel_buf_puts(b, "\",\"range_end\":\"");
	rv = rv ?: etcd_b64(b, e->prefix_end, strlen(e->prefix_end));
	return rv ?: keel_buf_puts(b, "\"");
}

static void etcd_resync(struct etcd *e)
{
	struct keel_buf b = KEEL_BUF_INIT;

	if (e->syncing || e->c->closing)
		return;
	e->syncing = etcd_send(e, ETCD_RANGE, "/v3/kv/range", &b,
			       keel_buf_puts(&b, "{") == 0 && put_prefix_range(e, &b) == 0 &&
				   keel_buf_puts(&b, "}") == 0) != NULL;
}

static void etcd_watch_start(struct etcd *e)
{
	struct keel_buf b = KEEL_BUF_INIT;

	if (e->watch != NULL || !e->synced || e->c->closing)
		return;
	if (keel_buf_puts(&b, "{\"create_request\":{") == 0 && put_prefix_range(e, &b) == 0 &&
	    keel_buf_printf(&b, ",\"start_revision\":\"%lld\"}}", (long long)(e->rev + 1)) == 0)
		e->watch = etcd_post(e, ETCD_WATCH, "/v3/watch", &b, 0); /* a stream: no timeout */
	if (e->watch == NULL)
		etcd_schedule_retry(e);
	keel_buf_free(&b);
}

static void range_done(struct etcd *e, struct etcd_op *op, int err, long status, json_t *j)
{
	struct coord *c = e->c;
	int64_t rev = 0, code;
	json_t *kvs, *o;
	size_t i;
	bool oom = false;

	(void)op;
	e->syncing = false;
	if (err < 0) {
		etcd_schedule_retry(e);
		return;
	}
	if (status != 200 || !etcd_json_i64(json_object_get(j, "header"), "revision", &rev)) {
		const char *msg = etcd_error_text(j, &code);
		coord_status(c, COORD_STATUS_ERROR, -EIO, "range %s: HTTP %ld: %s", e->prefix,
			     status, msg != NULL ? msg : "no revision in the answer");
		e->streak++;
		etcd_schedule_retry(e);
		return;
	}
	mirror_clear(e);
	kvs = json_object_get(j, "kvs");
	json_array_foreach(kvs, i, o)
	{
		struct etcd_kv kv;
		int got = kv_parse(o, &kv);
		if (got <= 0) {
			oom = got < 0;
			if (oom)
				break;
			continue;
		}
		if (!mirror_put(e, &kv)) {
			kv_free(&kv);
			oom = true;
			break;
		}
	}
	if (oom) {
		mirror_clear(e);
		etcd_schedule_retry(e);
		return;
	}
	e->rev = rev;
	e->synced = true;
	etcd_watch_start(e);
	etcd_evaluate(e);
}

/* One line of the watch stream. */
static void watch_line(struct etcd *e, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *j, *res, *evs, *ev;
	int64_t rev = 0, code;
	bool oom = false;
	size_t i;

	if (len == 0)
		return;
	j = json_loadb(line, len, 0, &jerr);
	if (j == NULL) {
		coord_status(e->c, COORD_STATUS_ERROR, -EBADMSG, "watch stream: bad JSON: %s",
			     jerr.text);
		mirror_lost(e);
		return;
	}
	res = json_object_get(j, "result");
	if (res == NULL) {
		const char *msg = etcd_error_text(j, &code);
		KEEL_INFO("coord", "%s: watch stream error: %s", e->c->url_text,
			  msg != NULL ? msg : "no result");
		json_decref(j);
		mirror_lost(e);
		return;
	}
	if (json_is_true(json_object_get(res, "canceled"))) {
		json_decref(j);
		mirror_lost(e); /* compacted, or the server gave up on it */
		return;
	}
	evs = json_object_get(res, "events");
	json_array_foreach(evs, i, ev)
	{
		json_t *kvo = json_object_get(ev, "kv");
		json_t *type = json_object_get(ev, "type");
		bool del = json_is_string(type) && strcmp(json_string_value(type), "DELETE") == 0;
		struct etcd_kv kv;
		int got = kv_parse(kvo, &kv);
		if (got <= 0) {
			oom = got < 0;
			if (oom)
				break;
			continue;
		}
		if (kv.mod_rev > rev)
			rev = kv.mod_rev;
		if (del) {
			mirror_delete(e, kv.key);
			kv_free(&kv);
		} else if (!mirror_put(e, &kv)) {
			kv_free(&kv);
			oom = true;
			break;
		}
	}
	/* Not header.revision: the "created" answer carries the store's revision before the
	 * events from start_revision on have been sent. The mirror is exactly as new as the
	 * newest event applied. */
	if (json_array_size(evs) > 0)
		e->c->stats.watch_events++;
	json_decref(j);
	if (oom) {
		mirror_lost(e);
		return;
	}
	if (rev > e->rev)
		e->rev = rev;
	etcd_evaluate(e);
}

static void watch_ended(struct etcd *e, bool current, int err)
{
	if (!current)
		return;
	if (err == 0)
		e->streak++; /* the server ended the stream: do not spin */
	if (e->streak == 0)
		etcd_watch_start(e);
	else
		etcd_schedule_retry(e);
}

static void delete_done(struct etcd *e, struct etcd_op *op, int err, long status)
{
	if (op->gen != e->gen || op->key == NULL)
		return;
	if (err < 0 || status >= 500) {
		if (!coord_strlist_add(&e->deletes, op->key))
			coord_session_fail(e->c, -ENOMEM, "out of memory deleting %s", op->key);
		etcd_schedule_retry(e);
	}
}

/* --- dispatch --- */

static void etcd_on_done(struct eh_req *r, int err, long status, const char *body, size_t len,
			 const char *why, void *arg)
{
	struct etcd_op *op = arg;
	struct etcd *e = op->e;
	struct coord *c = e->c;
	json_t *j = NULL;

	(void)r;
	op_unlink(op);
	bool was_watch = op == e->watch;
	if (was_watch)
		e->watch = NULL; /* so that nothing below cancels it a second time */
	coord_enter(c);
	if (err < 0) {
		etcd_transport_failed(e, op->ep, why);
	} else {
		etcd_contact(e);
		if (len > 0)
			j = json_loadb(body, len, 0, NULL);
		if (status >= 500) {
			int64_t code;
			const char *msg = etcd_error_text(j, &code);
			char text[160];
			snprintf(text, sizeof(text), "HTTP %ld%s%s", status,
				 msg != NULL ? ": " : "", msg != NULL ? msg : "");
			etcd_transport_failed(e, op->ep, text);
		}
	}
	switch (op->kind) {
	case ETCD_GRANT:
		grant_done(e, op, err, status, j);
		break;
	case ETCD_KEEPALIVE:
		keepalive_done(e, op, err, status, j);
		break;
	case ETCD_RANGE:
		range_done(e, op, err, status, j);
		break;
	case ETCD_WATCH:
		watch_ended(e, was_watch, err);
		break;
	case ETCD_CREATE:
		etcd_create_done(e, op, err, status, j, why);
		break;
	case ETCD_DELETE:
		delete_done(e, op, err, status);
		break;
	case ETCD_REVOKE:
		break;
	}
	json_decref(j);
	op_free(op);
	coord_leave(c);
}

static void etcd_on_line(struct eh_req *r, const char *line, size_t len, void *arg)
{
	struct etcd_op *op = arg;
	struct etcd *e = op->e;
	struct coord *c = e->c;

	(void)r;
	if (op != e->watch)
		return;
	coord_enter(c);
	etcd_contact(e);
	watch_line(e, line, len);
	coord_leave(c);
}

/* --- session loss --- */

/* ops->fail: the lease is gone or may be: leaders lose, a new lease is granted. */
static void etcd_fail(struct coord *c, int reason, const char *msg)
{
	struct etcd *e = c->be;
	bool was = e->lease_ok;

	if (e->lease_ok)
		etcd_revoke_async(e, e->lease); /* if it still lives, its keys go now */
	e->lease_ok = false;
	e->lease = 0;
	e->gen++;
	e->keeping = false;
	e->verify = false;
	keel_timer_stop(e->ka_timer);
	coord_session_clear(c);
	coord_strlist_clear(&e->deletes);
	if (was)
		c->stats.sessions_lost++;
	mirror_lost(e);
	etcd_recipes_reset(e, reason, msg);
	coord_status(c, was ? COORD_STATUS_SESSION_LOST : COORD_STATUS_ERROR, reason, "%s", msg);
	etcd_grant(e);
}

/* --- timers --- */

static void etcd_kick(struct coord *c)
{
	struct etcd *e = c->be;

	if (e->verify)
		etcd_keepalive(e);
	etcd_run(e, false);
	if (e->synced)
		etcd_evaluate(e);
}

static void etcd_retry_fire(struct keel_timer *t, void *arg)
{
	struct etcd *e = arg;
	struct coord *c = e->c;

	(void)t;
	coord_enter(c);
	etcd_grant(e);
	if (!e->synced)
		etcd_resync(e);
	else if (e->watch == NULL)
		etcd_watch_start(e);
	if (e->lease_ok && !e->keeping && e->c->deadline_ms != 0)
		etcd_keepalive(e);
	coord_strlist_drain(&e->deletes, delete_again, e);
	etcd_run(e, true);
	coord_leave(c);
}

/*
 * --- the goodbye: revoke the lease off the loop, on a short-lived thread ---
 *
 * A plain blocking HTTP/1.1 POST over a socket, not libcurl: the thread may
 * still be running when the process exits, and libcurl's TLS library tears
 * its global state down at exit under it.
 */

/* What a goodbye thread needs; it owns this. */
struct etcd_bye {
	char host[256];	 /* endpoint host (name or address) */
	char port[8];	 /* endpoint port */
	char body[64];	 /* {"ID":"..."} */
	long timeout_ms; /* request bound */
};

/* Connects to host:port within timeout_ms; a blocking socket with send/receive timeouts, or -1. */
static int bye_connect(const struct etcd_bye *b)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	struct timeval tv = {.tv_sec = b->timeout_ms / 1000,
			     .tv_usec = b->timeout_ms % 1000 * 1000};
	int fd = -1;

	if (getaddrinfo(b->host, b->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		/* SO_SNDTIMEO also bounds connect(2) on Linux. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

static void bye_main(void *arg)
{
	struct etcd_bye *b = arg;
	char req[512], resp[256];
	int fd = bye_connect(b);

	if (fd >= 0) {
		int n = snprintf(req, sizeof(req),
				 "POST /v3/lease/revoke HTTP/1.1\r\nHost: %s:%s\r\n"
				 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
				 "Connection: close\r\n\r\n%s",
				 b->host, b->port, strlen(b->body), b->body);
		if (n > 0 && n < (int)sizeof(req) && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n)
			(void)!recv(fd, resp, sizeof(resp),
				    0); /* the status line: it was handled */
		close(fd);
	}
	free(b);
}

static void etcd_goodbye(struct etcd *e, unsigned wait_ms)
{
	struct etcd_bye *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return;
	snprintf(b->host, sizeof(b->host), "%s", e->c->url.hosts[e->cur].host);
	snprintf(b->port, sizeof(b->port), "%u", e->c->url.hosts[e->cur].port);
	snprintf(b->body, sizeof(b->body), "{\"ID\":\"%lld\"}", (long long)e->lease);
	b->timeout_ms = wait_ms > 0 ? (long)wait_ms : etcd_req_timeout(e);
	if (coord_goodbye_run(bye_main, b, wait_ms) == 0)
		return;
	/* The lease then ends by its TTL. */
	KEEL_WARN("coord", "%s: cannot start a thread to revoke the lease", e->c->url_text);
	free(b);
}

/* --- coord_ops --- */

static void etcd_free(struct etcd *e)
{
	size_t i;

	while (e->ops.next != &e->ops)
		op_cancel(e->ops.next);
	eh_free(e->http);
	keel_timer_free(e->ka_timer);
	keel_timer_free(e->retry);
	keel_timer_free(e->unreach);
	mirror_clear(e);
	keel_free(e->kvs);
	coord_strlist_free(&e->deletes);
	for (i = 0; e->eps != NULL && i < e->neps; i++)
		keel_free(e->eps[i]);
	keel_free(e->eps);
	keel_free(e->prefix);
	keel_free(e->prefix_end);
	keel_free(e->elect);
	keel_free(e->members);
	keel_free(e);
}

static char *str_printf(const char *fmt, ...) KEEL_PRINTF(1, 2);

static char *str_printf(const char *fmt, ...)
{
	char tmp[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return keel_strdup(tmp);
}

static int etcd_open(struct coord *c, char *errmsg)
{
	struct etcd *e;
	const char *path = c->url.path;
	size_t i;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return keel_errf(errmsg, -EIO, "%s: libcurl cannot be initialised", c->url_text);
	e = keel_calloc(1, sizeof(*e));
	if (e == NULL)
		return keel_errf(errmsg, -ENOMEM, "%s: out of memory", c->url_text);
	e->c = c;
	e->ops.next = e->ops.prev = &e->ops;
	e->eps = keel_calloc(c->url.num_hosts, sizeof(char *));
	if (e->eps == NULL)
		goto oom;
	e->neps = c->url.num_hosts;
	for (i = 0; i < e->neps; i++) {
		char hp[300];
		coord_host_format(&c->url.hosts[i], hp, sizeof(hp));
		e->eps[i] = str_printf("http://%s", hp);
		if (e->eps[i] == NULL)
			goto oom;
	}
	e->prefix = str_printf("%s/", path);
	e->prefix_end = str_printf("%s0", path);
	e->elect = str_printf("%s/election/", path);
	e->members = str_printf("%s/members/", path);
	if (e->prefix == NULL || e->prefix_end == NULL || e->elect == NULL || e->members == NULL)
		goto oom;
	if (eh_new(c->loop, &e->http) < 0 ||
	    keel_timer_new(c->loop, etcd_ka_fire, e, &e->ka_timer) < 0 ||
	    keel_timer_new(c->loop, etcd_retry_fire, e, &e->retry) < 0 ||
	    keel_timer_new(c->loop, etcd_unreach_fire, e, &e->unreach) < 0)
		goto oom;
	e->last_contact_ms = coord_now_ms();
	c->be = e;
	etcd_grant(e);
	etcd_resync(e);
	if (!e->granting || !e->syncing) {
		c->be = NULL;
		goto oom;
	}
	keel_timer_start(e->unreach, c->cfg.connect_timeout_ms, 0);
	return 0;
oom:
	etcd_free(e);
	return keel_errf(errmsg, -ENOMEM, "%s: out of memory", c->url_text);
}

static void etcd_close(struct coord *c, unsigned wait_ms)
{
	struct etcd *e = c->be;

	if (e->lease_ok)
		etcd_goodbye(e, wait_ms);
	etcd_free(e);
}

static void etcd_deadline(struct coord *c)
{
	coord_session_fail(c, -ETIMEDOUT,
			   "no keep-alive answered for the lease TTL (%u ms, less a %u ms margin): "
			   "the lease may have expired",
			   c->session_timeout_ms, coord_margin_ms(c->session_timeout_ms));
}

const struct coord_ops coord_etcd_ops = {
    .open = etcd_open,
    .close = etcd_close,
    .kick = etcd_kick,
    .contender_gone = etcd_contender_gone,
    .member_gone = etcd_member_gone,
    .deadline = etcd_deadline,
    .fail = etcd_fail,
};

int coord_debug_etcd_lease(const struct coord *c, int64_t *lease)
{
	const struct etcd *e = c->be;

	if (c->ops != &coord_etcd_ops)
		return -EINVAL;
	if (!e->lease_ok)
		return -ENOTCONN;
	*lease = e->lease;
	return 0;
}

size_t etcd_pending(const struct coord *c)
{
	const struct etcd *e = c->be;
	const struct etcd_op *op;
	size_t n = 0;

	for (op = e->ops.next; op != &e->ops; op = op->next)
		n += op->kind != ETCD_WATCH;
	return n;
}
