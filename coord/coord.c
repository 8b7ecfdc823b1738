/* coord front door: opening and closing sessions, the child handles, event delivery and the
 * session deadline shared by every backend. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_debug.h"
#include "coord_int.h"
#include "coord_url.h"
#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

#define COORD_DEFAULT_TIMEOUT_MS 10000

uint64_t coord_now_ms(void)
{
	return keel_loop_clock_ns() / 1000000;
}

uint32_t coord_margin_ms(uint32_t timeout_ms)
{
	uint32_t m = timeout_ms / 10;

	return m < 50 ? 50 : m;
}

/* --- list helpers (each child type has prev/next and a head in struct coord) --- */

#define LIST_PUSH(head, x)                                                                         \
	do {                                                                                       \
		(x)->prev = NULL;                                                                  \
		(x)->next = (head);                                                                \
		if ((head) != NULL)                                                                \
			(head)->prev = (x);                                                        \
		(head) = (x);                                                                      \
	} while (0)

#define LIST_UNLINK(head, x)                                                                       \
	do {                                                                                       \
		if ((x)->prev != NULL)                                                             \
			(x)->prev->next = (x)->next;                                               \
		else                                                                               \
			(head) = (x)->next;                                                        \
		if ((x)->next != NULL)                                                             \
			(x)->next->prev = (x)->prev;                                               \
	} while (0)

static void contender_free(struct coord_contender *ct)
{
	keel_free(ct->payload);
	keel_free(ct->name);
	keel_free(ct->pred);
	keel_free(ct);
}

static void detector_free(struct coord_detector *d)
{
	keel_free(d->last_name);
	keel_free(d->fetching);
	keel_free(d);
}

static void member_free(struct coord_member *m)
{
	keel_free(m->group);
	keel_free(m->payload);
	keel_free(m->name);
	keel_free(m);
}

void coord_mcache_clear(struct coord_watch *w)
{
	size_t i;

	for (i = 0; i < w->ncache; i++) {
		keel_free(w->cache[i].name);
		keel_free(w->cache[i].payload);
	}
	w->ncache = 0;
}

static void watch_free(struct coord_watch *w)
{
	coord_mcache_clear(w);
	keel_free(w->cache);
	keel_free(w->group);
	keel_free(w->last_ids);
	keel_free(w);
}

/* Frees children marked dead. Only at depth 0. */
static void coord_reap(struct coord *c)
{
	struct coord_contender *ct, *ctn;
	struct coord_detector *d, *dn;
	struct coord_member *m, *mn;
	struct coord_watch *w, *wn;

	c->reap = false;
	for (ct = c->cts; ct != NULL; ct = ctn) {
		ctn = ct->next;
		if (ct->dead) {
			LIST_UNLINK(c->cts, ct);
			contender_free(ct);
		}
	}
	for (d = c->dets; d != NULL; d = dn) {
		dn = d->next;
		if (d->dead) {
			LIST_UNLINK(c->dets, d);
			detector_free(d);
		}
	}
	for (m = c->mems; m != NULL; m = mn) {
		mn = m->next;
		if (m->dead) {
			LIST_UNLINK(c->mems, m);
			member_free(m);
		}
	}
	for (w = c->watches; w != NULL; w = wn) {
		wn = w->next;
		if (w->dead) {
			LIST_UNLINK(c->watches, w);
			watch_free(w);
		}
	}
}

static void coord_destroy(struct coord *c)
{
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_member *m;
	struct coord_watch *w;

	if (c->be != NULL)
		c->ops->close(c, c->close_wait_ms);
	c->be = NULL;
	keel_timer_free(c->deadline_timer);
	keel_timer_free(c->kick);
	while ((ct = c->cts) != NULL) {
		c->cts = ct->next;
		contender_free(ct);
	}
	while ((d = c->dets) != NULL) {
		c->dets = d->next;
		detector_free(d);
	}
	while ((m = c->mems) != NULL) {
		c->mems = m->next;
		member_free(m);
	}
	while ((w = c->watches) != NULL) {
		c->watches = w->next;
		watch_free(w);
	}
	coord_url_free(&c->url);
	keel_free(c->url_text);
	keel_free(c);
}

void coord_enter(struct coord *c)
{
	c->depth++;
}

bool coord_leave(struct coord *c)
{
	if (--c->depth > 0)
		return false;
	if (c->closing) {
		coord_destroy(c);
		return true;
	}
	if (c->reap)
		coord_reap(c);
	return false;
}

/* Marks a child dead; frees now at depth 0, else at coord_leave. */
static void coord_child_dead(struct coord *c)
{
	if (c->depth == 0)
		coord_reap(c);
	else
		c->reap = true;
}

/* --- session deadline --- */

/* The deadline timer is always armed (far ahead when idle), so re-arming it never allocates. */
#define COORD_IDLE_MS (1000ULL * 3600 * 24 * 365)

static void deadline_fire(struct keel_timer *t, void *arg)
{
	struct coord *c = arg;
	uint64_t now = coord_now_ms();

	(void)t;
	if (c->deadline_ms == 0 || c->deadline_ms == UINT64_MAX) {
		keel_timer_start(c->deadline_timer, COORD_IDLE_MS, 0);
		return;
	}
	if (now < c->deadline_ms) {
		/* The timer counts from the turn's start; re-arm for what is left. */
		keel_timer_start(c->deadline_timer, c->deadline_ms - now, 0);
		return;
	}
	coord_enter(c);
	if (c->ops->deadline != NULL)
		c->ops->deadline(c);
	coord_leave(c);
}

void coord_session_touch(struct coord *c, uint64_t issued_ms)
{
	uint64_t dl = issued_ms + c->session_timeout_ms - coord_margin_ms(c->session_timeout_ms);
	uint64_t now = coord_now_ms();

	if (dl <= c->deadline_ms && c->deadline_ms != 0)
		return;
	c->deadline_ms = dl;
	/* Always armed, so this re-uses its heap slot and cannot fail. */
	keel_timer_start(c->deadline_timer, dl > now ? dl - now : 0, 0);
}

void coord_session_clear(struct coord *c)
{
	c->deadline_ms = 0;
	keel_timer_start(c->deadline_timer, COORD_IDLE_MS, 0);
}

/* --- pending work --- */

static void kick_fire(struct keel_timer *t, void *arg)
{
	struct coord *c = arg;

	(void)t;
	coord_enter(c);
	if (c->fail_pending) {
		c->fail_pending = false;
		c->ops->fail(c, c->fail_reason, c->fail_msg);
	}
	c->ops->kick(c);
	coord_leave(c);
}

int coord_kick(struct coord *c, uint64_t after_ms)
{
	if (keel_timer_active(c->kick))
		return 0;
	return keel_timer_start(c->kick, after_ms, 0);
}

void coord_session_fail(struct coord *c, int reason, const char *fmt, ...)
{
	char msg[KEEL_ERRMSG_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->depth == 0) {
		if (!c->fail_pending) {
			c->fail_pending = true;
			c->fail_reason = reason;
			snprintf(c->fail_msg, sizeof(c->fail_msg), "%s", msg);
		}
		if (coord_kick(c, 0) == 0)
			return;
		c->fail_pending = false;
	}
	c->ops->fail(c, reason, msg);
}

/* --- open / close --- */

int coord_open(struct keel_loop *loop, const char *url, const struct coord_config *cfg,
	       struct coord **out, char *errmsg)
{
	struct coord *c;
	int rv;

	*out = NULL;
	c = keel_calloc(1, sizeof(*c));
	if (c == NULL)
		return keel_errf(errmsg, -ENOMEM, "opening %s: out of memory", "coordination URL");
	rv = coord_url_parse(url, &c->url, errmsg);
	if (rv < 0) {
		keel_free(c);
		return rv;
	}
	c->loop = loop;
	if (cfg != NULL)
		c->cfg = *cfg;
	if (c->cfg.session_timeout_ms == 0)
		c->cfg.session_timeout_ms = COORD_DEFAULT_TIMEOUT_MS;
	if (c->cfg.connect_timeout_ms == 0)
		c->cfg.connect_timeout_ms = c->cfg.session_timeout_ms;
	c->session_timeout_ms = c->cfg.session_timeout_ms;
	switch (c->url.backend) {
	case COORD_BACKEND_ZK:
		c->ops = &coord_zk_ops;
		break;
	case COORD_BACKEND_ETCD:
		c->ops = &coord_etcd_ops;
		break;
	default:
		c->ops = &coord_static_ops;
		c->session_timeout_ms = 0;
		break;
	}
	char shown[512];
	coord_url_redact(url, shown, sizeof(shown));
	c->url_text = keel_strdup(shown);
	if (c->url_text == NULL) {
		rv = keel_errf(errmsg, -ENOMEM, "opening %s: out of memory", shown);
		goto fail;
	}
	rv = keel_timer_new(loop, deadline_fire, c, &c->deadline_timer);
	if (rv == 0)
		rv = keel_timer_start(c->deadline_timer, COORD_IDLE_MS, 0);
	if (rv == 0)
		rv = keel_timer_new(loop, kick_fire, c, &c->kick);
	if (rv < 0) {
		keel_errf(errmsg, rv, "opening %s: out of memory", shown);
		goto fail;
	}
	rv = c->ops->open(c, errmsg);
	if (rv < 0)
		goto fail;
	*out = c;
	return 0;

fail:
	c->be = NULL;
	coord_destroy(c);
	return rv;
}

void coord_close(struct coord *c, unsigned wait_ms)
{
	if (c == NULL || c->closing)
		return;
	c->closing = true;
	c->close_wait_ms = wait_ms;
	if (c->depth == 0)
		coord_destroy(c);
}

size_t coord_debug_pending(const struct coord *c)
{
	switch (c->url.backend) {
	case COORD_BACKEND_ZK:
		return zk_pending(c);
	case COORD_BACKEND_ETCD:
		return etcd_pending(c);
	default:
		return 0;
	}
}

const char *coord_url(const struct coord *c)
{
	return c->url_text;
}

enum coord_backend coord_backend_of(const struct coord *c)
{
	return c->url.backend;
}

uint32_t coord_session_timeout_ms(const struct coord *c)
{
	return c->session_timeout_ms;
}

void coord_get_stats(const struct coord *c, struct coord_stats *out)
{
	*out = c->stats;
}

/* --- delivery --- */

static bool coord_quiet(const struct coord *c)
{
	return c->closing;
}

void coord_status(struct coord *c, enum coord_status_type type, int err, const char *fmt, ...)
{
	char msg[KEEL_ERRMSG_SIZE];
	char full[KEEL_ERRMSG_SIZE + 600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s: %s", c->url_text, msg);
	if (type == COORD_STATUS_CONNECTED)
		KEEL_DEBUG("coord", "%s", full);
	else
		KEEL_INFO("coord", "%s", full);
	if (coord_quiet(c) || c->cfg.on_status == NULL)
		return;
	struct coord_status st = {.type = type, .err = err, .message = full};
	c->cfg.on_status(c, &st, c->cfg.status_arg);
}

void coord_contender_elected(struct coord_contender *ct, uint64_t epoch)
{
	if (ct->dead || (ct->leading && ct->epoch == epoch))
		return;
	ct->leading = true;
	ct->epoch = epoch;
	KEEL_INFO("coord", "%s: elected %s with epoch %llu", ct->c->url_text,
		  ct->name != NULL ? ct->name : "", (unsigned long long)epoch);
	if (coord_quiet(ct->c))
		return;
	struct coord_contender_event ev = {
	    .type = COORD_ELECTED,
	    .epoch = epoch,
	    .name = ct->name != NULL ? ct->name : "",
	    .reason = 0,
	    .message = "",
	};
	ct->cb(ct, &ev, ct->arg);
}

void coord_contender_lost(struct coord_contender *ct, int reason, const char *fmt, ...)
{
	char msg[KEEL_ERRMSG_SIZE];
	va_list ap;

	if (!ct->leading)
		return;
	ct->leading = false;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	KEEL_WARN("coord", "%s: lost leadership (epoch %llu): %s", ct->c->url_text,
		  (unsigned long long)ct->epoch, msg);
	if (ct->dead || coord_quiet(ct->c))
		return;
	struct coord_contender_event ev = {
	    .type = COORD_LOST,
	    .epoch = ct->epoch,
	    .name = ct->name != NULL ? ct->name : "",
	    .reason = reason,
	    .message = msg,
	};
	ct->cb(ct, &ev, ct->arg);
}

/* Records what is delivered; false if it repeats the last delivery. */
static bool detector_changed(struct coord_detector *d, bool present, int err, const char *name,
			     uint64_t epoch)
{
	if (d->reported && d->last_present == present && d->last_err == err &&
	    (!present ||
	     (d->last_epoch == epoch && d->last_name != NULL && strcmp(d->last_name, name) == 0)))
		return false;
	char *copy = NULL;
	if (present) {
		copy = keel_strdup(name);
		if (copy == NULL)
			return true; /* deliver anyway; dedup is an optimisation */
	}
	keel_free(d->last_name);
	d->last_name = copy;
	d->reported = true;
	d->last_present = present;
	d->last_err = err;
	d->last_epoch = epoch;
	return true;
}

void coord_detector_leader(struct coord_detector *d, const char *name, uint64_t epoch,
			   const void *payload, size_t len)
{
	char why[1200] = "";
	Mesos__V1__MasterInfo *info = NULL;
	int err = 0;

	if (d->dead || coord_quiet(d->c))
		return;
	if (d->flags & COORD_DETECT_MASTER_INFO) {
		char pwhy[KEEL_ERRMSG_SIZE];
		err = coord_master_info_parse(payload, len, &info, pwhy);
		if (err == -ENOMEM)
			err = -EBADMSG; /* reported as unusable; the next change retries */
		if (err < 0)
			snprintf(why, sizeof(why), "%s: leader %s holds no valid MasterInfo: %s",
				 d->c->url_text, name, pwhy);
	}
	if (!detector_changed(d, true, err, name, epoch)) {
		if (info != NULL)
			keel_pbjson_free(&info->base);
		return;
	}
	if (err < 0)
		KEEL_WARN("coord", "%s", why);
	struct coord_leader l = {
	    .present = true,
	    .err = err,
	    .message = why,
	    .epoch = epoch,
	    .name = name,
	    .payload = payload,
	    .len = len,
	    .info = info,
	};
	d->cb(d, &l, d->arg);
	if (info != NULL)
		keel_pbjson_free(&info->base);
}

void coord_detector_none(struct coord_detector *d, int err, const char *fmt, ...)
{
	char msg[KEEL_ERRMSG_SIZE] = "";
	char full[KEEL_ERRMSG_SIZE + 600] = "";
	va_list ap;

	if (d->dead || coord_quiet(d->c))
		return;
	if (!detector_changed(d, false, err, NULL, 0))
		return;
	if (fmt != NULL && err != 0) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		snprintf(full, sizeof(full), "%s: %s", d->c->url_text, msg);
	}
	struct coord_leader l = {.present = false, .err = err, .message = full};
	d->cb(d, &l, d->arg);
}

int coord_member_info_cmp(const void *a, const void *b)
{
	const struct coord_member_info *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

void coord_watch_report(struct coord_watch *w, const struct coord_member_info *m, size_t n, int err)
{
	size_t i;

	if (w->dead || coord_quiet(w->c))
		return;
	if (w->reported && w->last_err == err && w->last_n == n) {
		for (i = 0; i < n; i++)
			if (w->last_ids[i] != m[i].id)
				break;
		if (i == n)
			return;
	}
	uint64_t *ids = n > 0 ? keel_malloc(n * sizeof(*ids)) : NULL;
	keel_free(w->last_ids);
	w->last_ids = ids;
	w->last_n = ids != NULL ? n : 0;
	for (i = 0; ids != NULL && i < n; i++)
		ids[i] = m[i].id;
	w->reported = ids != NULL || n == 0;
	w->last_err = err;
	w->cb(w, m, n, err, w->arg);
}

void coord_children_reset(struct coord *c)
{
	struct coord_contender *ct;
	struct coord_member *m;

	for (ct = c->cts; ct != NULL; ct = ct->next) {
		keel_free(ct->name);
		ct->name = NULL;
		keel_free(ct->pred);
		ct->pred = NULL;
		ct->state = 0;
		ct->recheck = false;
		ct->tries = 0;
	}
	for (m = c->mems; m != NULL; m = m->next) {
		keel_free(m->name);
		m->name = NULL;
		m->state = 0;
		m->recheck = false;
		m->tries = 0;
	}
}

void coord_children_lost(struct coord *c, int reason, const char *msg)
{
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_watch *w;

	for (ct = c->cts; ct != NULL && !c->closing; ct = ct->next)
		coord_contender_lost(ct, reason, "%s", msg);
	for (d = c->dets; d != NULL && !c->closing; d = d->next)
		coord_detector_none(d, reason, "%s", msg);
	for (w = c->watches; w != NULL && !c->closing; w = w->next)
		coord_watch_report(w, NULL, 0, reason);
}

/* --- children --- */

int coord_group_check(const char *group, char *errmsg)
{
	size_t n, i;

	if (group == NULL)
		return keel_errf(errmsg, -EINVAL, "group name missing");
	n = strlen(group);
	if (n == 0 || n > COORD_MAX_GROUP)
		return keel_errf(errmsg, -EINVAL, "group name must have 1 to %d bytes",
				 COORD_MAX_GROUP);
	if (strcmp(group, ".") == 0 || strcmp(group, "..") == 0)
		return keel_errf(errmsg, -EINVAL, "group name \"%s\" is not allowed", group);
	for (i = 0; i < n; i++) {
		char ch = group[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return keel_errf(errmsg, -EINVAL,
					 "group name \"%s\": only letters, digits, -_. allowed",
					 group);
	}
	return 0;
}

static char *payload_copy(const void *payload, size_t len)
{
	char *p = keel_malloc(len + 1);

	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, payload, len);
	p[len] = '\0';
	return p;
}

int coord_contend(struct coord *c, const void *payload, size_t len, coord_contender_cb cb,
		  void *arg, struct coord_contender **out, char *errmsg)
{
	struct coord_contender *ct;

	*out = NULL;
	if (cb == NULL)
		return keel_errf(errmsg, -EINVAL, "%s: contend: no callback", c->url_text);
	if (len > COORD_MAX_PAYLOAD || (payload == NULL && len > 0))
		return keel_errf(errmsg, -EINVAL, "%s: contend: payload of %zu bytes (max %d)",
				 c->url_text, len, COORD_MAX_PAYLOAD);
	/* The kick starts it on a later turn (by then it is linked). */
	ct = keel_calloc(1, sizeof(*ct));
	if (ct == NULL || (ct->payload = payload_copy(payload, len)) == NULL ||
	    coord_kick(c, 0) < 0) {
		if (ct != NULL)
			contender_free(ct);
		return keel_errf(errmsg, -ENOMEM, "%s: contend: out of memory", c->url_text);
	}
	ct->c = c;
	ct->len = len;
	ct->cb = cb;
	ct->arg = arg;
	LIST_PUSH(c->cts, ct);
	*out = ct;
	return 0;
}

bool coord_contender_leading(const struct coord_contender *ct, uint64_t *epoch)
{
	if (ct->dead || !ct->leading || ct->c->deadline_ms == 0 ||
	    coord_now_ms() >= ct->c->deadline_ms)
		return false;
	if (epoch != NULL)
		*epoch = ct->epoch;
	return true;
}

void coord_contender_withdraw(struct coord_contender *ct)
{
	if (ct == NULL || ct->dead)
		return;
	ct->dead = true;
	if (ct->c->ops->contender_gone != NULL)
		ct->c->ops->contender_gone(ct);
	coord_child_dead(ct->c);
}

int coord_detect(struct coord *c, unsigned flags, coord_detector_cb cb, void *arg,
		 struct coord_detector **out, char *errmsg)
{
	struct coord_detector *d;

	*out = NULL;
	if (cb == NULL || (flags & ~(unsigned)COORD_DETECT_MASTER_INFO) != 0)
		return keel_errf(errmsg, -EINVAL, "%s: detect: %s", c->url_text,
				 cb == NULL ? "no callback" : "unknown flags");
	d = keel_calloc(1, sizeof(*d));
	if (d == NULL || coord_kick(c, 0) < 0) {
		keel_free(d);
		return keel_errf(errmsg, -ENOMEM, "%s: detect: out of memory", c->url_text);
	}
	d->c = c;
	d->cb = cb;
	d->arg = arg;
	d->flags = flags;
	LIST_PUSH(c->dets, d);
	*out = d;
	return 0;
}

void coord_detector_close(struct coord_detector *d)
{
	if (d == NULL || d->dead)
		return;
	d->dead = true;
	if (d->c->ops->detector_gone != NULL)
		d->c->ops->detector_gone(d);
	coord_child_dead(d->c);
}

int coord_member_join(struct coord *c, const char *group, const void *payload, size_t len,
		      struct coord_member **out, char *errmsg)
{
	struct coord_member *m;
	int rv;

	*out = NULL;
	rv = coord_group_check(group, errmsg);
	if (rv < 0)
		return keel_errwrap(errmsg, rv, "%s: join", c->url_text);
	if (len > COORD_MAX_PAYLOAD || (payload == NULL && len > 0))
		return keel_errf(errmsg, -EINVAL, "%s: join: payload of %zu bytes (max %d)",
				 c->url_text, len, COORD_MAX_PAYLOAD);
	m = keel_calloc(1, sizeof(*m));
	if (m == NULL || (m->group = keel_strdup(group)) == NULL ||
	    (m->payload = payload_copy(payload, len)) == NULL || coord_kick(c, 0) < 0) {
		if (m != NULL)
			member_free(m);
		return keel_errf(errmsg, -ENOMEM, "%s: join: out of memory", c->url_text);
	}
	m->c = c;
	m->len = len;
	LIST_PUSH(c->mems, m);
	*out = m;
	return 0;
}

void coord_member_leave(struct coord_member *m)
{
	if (m == NULL || m->dead)
		return;
	m->dead = true;
	if (m->c->ops->member_gone != NULL)
		m->c->ops->member_gone(m);
	coord_child_dead(m->c);
}

int coord_watch_members(struct coord *c, const char *group, coord_watch_cb cb, void *arg,
			struct coord_watch **out, char *errmsg)
{
	struct coord_watch *w;
	int rv;

	*out = NULL;
	if (cb == NULL)
		return keel_errf(errmsg, -EINVAL, "%s: watch: no callback", c->url_text);
	rv = coord_group_check(group, errmsg);
	if (rv < 0)
		return keel_errwrap(errmsg, rv, "%s: watch", c->url_text);
	w = keel_calloc(1, sizeof(*w));
	if (w == NULL || (w->group = keel_strdup(group)) == NULL || coord_kick(c, 0) < 0) {
		if (w != NULL)
			watch_free(w);
		return keel_errf(errmsg, -ENOMEM, "%s: watch: out of memory", c->url_text);
	}
	w->c = c;
	w->cb = cb;
	w->arg = arg;
	LIST_PUSH(c->watches, w);
	*out = w;
	return 0;
}

void coord_watch_close(struct coord_watch *w)
{
	if (w == NULL || w->dead)
		return;
	w->dead = true;
	if (w->c->ops->watch_gone != NULL)
		w->c->ops->watch_gone(w);
	coord_child_dead(w->c);
}
