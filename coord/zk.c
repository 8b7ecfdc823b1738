/* ZooKeeper backend, session side: the libzookeeper_mt handle, the thread-to-loop bridge, probes,
 * the session deadline, reconnection and the goodbye thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord_debug.h"
#include "zk_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"

/* --- the bridge (both sides) --- */

static struct zk_bridge *bridge_new(struct keel_async *async)
{
	struct zk_bridge *br = keel_calloc(1, sizeof(*br));

	if (br == NULL)
		return NULL;
	if (pthread_mutex_init(&br->mu, NULL) != 0) {
		keel_free(br);
		return NULL;
	}
	br->tail = &br->head;
	br->async = async;
	br->refs = 1;
	return br;
}

static void req_free(struct zk_req *r)
{
	free(r->value);
	free(r->strv);
	keel_free(r->path);
	keel_free(r);
}

static void qnode_free(struct zk_qnode *n)
{
	if (n->is_watch)
		free(n);
	else
		req_free((struct zk_req *)n);
}

static void bridge_unref(struct zk_bridge *br)
{
	int left;

	pthread_mutex_lock(&br->mu);
	left = --br->refs;
	pthread_mutex_unlock(&br->mu);
	if (left > 0)
		return;
	pthread_mutex_destroy(&br->mu);
	keel_free(br);
}

/* Library thread: queues n (or frees it when the loop gave up) and wakes the loop. */
static void bridge_push(struct zk_bridge *br, struct zk_qnode *n)
{
	pthread_mutex_lock(&br->mu);
	if (br->dead) {
		pthread_mutex_unlock(&br->mu);
		if (n != NULL)
			qnode_free(n);
		return;
	}
	if (n == NULL) {
		br->overflow = true;
	} else {
		n->qnext = NULL;
		*br->tail = n;
		br->tail = &n->qnext;
	}
	keel_async_send(br->async);
	pthread_mutex_unlock(&br->mu);
}

/* Loop: the bridge is dead from now on; frees what is queued and drops the loop's reference. */
static void bridge_kill(struct zk_bridge *br)
{
	struct zk_qnode *n;

	pthread_mutex_lock(&br->mu);
	br->dead = true;
	br->async = NULL;
	n = br->head;
	br->head = NULL;
	br->tail = &br->head;
	pthread_mutex_unlock(&br->mu);
	while (n != NULL) {
		struct zk_qnode *next = n->qnext;
		qnode_free(n);
		n = next;
	}
	bridge_unref(br);
}

/* --- library-thread callbacks --- */

static void zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct zk_bridge *br = ctx;
	size_t n = path != NULL ? strlen(path) : 0;
	struct zk_wev *w = malloc(sizeof(*w) + n + 1);

	(void)zh;
	if (w != NULL) {
		w->q.is_watch = true;
		w->type = type;
		w->state = state;
		if (n > 0)
			memcpy(w->path, path, n);
		w->path[n] = '\0';
	}
	bridge_push(br, w != NULL ? &w->q : NULL);
}

static void done_void(int rc, const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	r->rc = rc;
	bridge_push(r->br, &r->q);
}

static void done_stat(int rc, const struct Stat *stat, const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	r->rc = rc;
	if (rc == ZOK && stat != NULL) {
		r->stat = *stat;
		r->has_stat = true;
	}
	bridge_push(r->br, &r->q);
}

/* Completion thread: keeps stat and a NUL-terminated copy of value[0, len) in r. */
static void req_keep(struct zk_req *r, const char *value, int len, const struct Stat *stat)
{
	if (stat != NULL) {
		r->stat = *stat;
		r->has_stat = true;
	}
	r->value_len = value != NULL && len > 0 ? len : 0;
	r->value = malloc((size_t)r->value_len + 1);
	if (r->value == NULL) {
		r->oom = true;
		return;
	}
	if (r->value_len > 0)
		memcpy(r->value, value, (size_t)r->value_len);
	r->value[r->value_len] = '\0';
}

static void done_data(int rc, const char *value, int value_len, const struct Stat *stat,
		      const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	r->rc = rc;
	if (rc == ZOK)
		req_keep(r, value, value_len, stat);
	bridge_push(r->br, &r->q);
}

static void done_strings(int rc, const struct String_vector *sv, const void *data)
{
	struct zk_req *r = (struct zk_req *)data;
	size_t bytes = 0;
	int i;

	r->rc = rc;
	if (rc == ZOK && sv != NULL) {
		for (i = 0; i < sv->count; i++)
			bytes += strlen(sv->data[i]) + 1;
		r->strv = malloc((size_t)sv->count * sizeof(char *) + bytes + 1);
		if (r->strv == NULL) {
			r->oom = true;
		} else {
			char *p = (char *)(r->strv + sv->count);
			for (i = 0; i < sv->count; i++) {
				size_t n = strlen(sv->data[i]) + 1;
				memcpy(p, sv->data[i], n);
				r->strv[i] = p;
				p += n;
			}
			r->strc = sv->count;
		}
	}
	bridge_push(r->br, &r->q);
}

static void done_string_stat(int rc, const char *value, const struct Stat *stat, const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	r->rc = rc;
	if (rc == ZOK)
		req_keep(r, value, value != NULL ? (int)strlen(value) : 0, stat);
	bridge_push(r->br, &r->q);
}

/* The library's own log lines (any thread): debug level, no trailing newline. */
static void zk_log_line(const char *message)
{
	size_t n = strlen(message);

	while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r'))
		n--;
	KEEL_DEBUG("zookeeper", "%.*s", (int)n, message);
}

/* --- the goodbye: zookeeper_close blocks (close request, thread joins) --- */

/* What a goodbye thread closes; it owns this. */
struct zk_bye {
	zhandle_t *zh;	      /* the handle to close */
	struct zk_bridge *br; /* its bridge: the library's reference is dropped after close */
};

static void zk_bye_main(void *arg)
{
	struct zk_bye *b = arg;

	zookeeper_close(b->zh);
	bridge_unref(b->br);
	free(b);
}

/* Closes zh (and drops the library's bridge reference) off the loop; waits up to wait_ms. */
static void zk_goodbye(zhandle_t *zh, struct zk_bridge *br, unsigned wait_ms)
{
	struct zk_bye *b = malloc(sizeof(*b));

	if (b != NULL) {
		b->zh = zh;
		b->br = br;
		if (coord_goodbye_run(zk_bye_main, b, wait_ms) == 0)
			return;
		free(b);
	}
	/* No thread: close here (blocks the loop up to a few seconds). */
	KEEL_WARN("coord", "cannot start a thread to close a ZooKeeper session; closing inline");
	zookeeper_close(zh);
	bridge_unref(br);
}

/* --- requests (loop side) --- */

int zk_errno(int rc)
{
	if (rc == ZOK)
		return 0;
	if (rc == ZNONODE)
		return -ENOENT;
	if (rc == ZNODEEXISTS)
		return -EEXIST;
	if (rc == ZNOAUTH || rc == ZAUTHFAILED)
		return -EACCES;
	if (rc == ZBADARGUMENTS)
		return -EINVAL;
	if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT)
		return -ECONNRESET;
	if (rc == ZSESSIONEXPIRED || rc == ZSESSIONMOVED)
		return -ECONNRESET;
	if (rc == ZMARSHALLINGERROR)
		return -ENOMEM;
	return -EIO;
}

bool zk_rc_is_connection(int rc)
{
	return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
	       rc == ZSESSIONMOVED || rc == ZCLOSING || rc == ZINVALIDSTATE || rc == ZSYSTEMERROR ||
	       rc == ZMARSHALLINGERROR;
}

static struct zk_req *req_new(struct zk *z, enum zk_kind kind, void *owner, const char *path)
{
	struct zk_req *r;

	if (z->zh == NULL)
		return NULL;
	r = keel_calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (path != NULL && (r->path = keel_strdup(path)) == NULL) {
		keel_free(r);
		return NULL;
	}
	r->br = z->br;
	r->kind = kind;
	r->owner = owner;
	r->issued_ms = coord_now_ms();
	r->value_len = -1;
	r->next = z->reqs.next;
	r->prev = &z->reqs;
	z->reqs.next->prev = r;
	z->reqs.next = r;
	return r;
}

static void req_unlink(struct zk_req *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
	r->prev = r->next = r;
}

/* After a zoo_a* call: 0 if submitted, else frees r and returns a negative errno. */
static int req_submitted(struct zk *z, struct zk_req *r, int rc)
{
	if (rc == ZOK) {
		z->c->stats.requests++;
		return 0;
	}
	req_unlink(r);
	req_free(r);
	return zk_errno(rc);
}

int zk_create(struct zk *z, enum zk_kind kind, void *owner, const char *path, const char *data,
	      size_t len, int flags)
{
	struct zk_req *r = req_new(z, kind, owner, path);

	if (r == NULL)
		return z->zh == NULL ? -ENOTCONN : -ENOMEM;
	return req_submitted(z, r,
			     zoo_acreate2(z->zh, path, data, data != NULL ? (int)len : -1, &z->acl,
					  flags, done_string_stat, r));
}

int zk_list(struct zk *z, enum zk_kind kind, void *owner, const char *path, bool watch)
{
	struct zk_req *r = req_new(z, kind, owner, path);

	if (r == NULL)
		return z->zh == NULL ? -ENOTCONN : -ENOMEM;
	return req_submitted(z, r, zoo_aget_children(z->zh, path, watch, done_strings, r));
}

int zk_exists(struct zk *z, enum zk_kind kind, void *owner, const char *path, bool watch)
{
	struct zk_req *r = req_new(z, kind, owner, path);

	if (r == NULL)
		return z->zh == NULL ? -ENOTCONN : -ENOMEM;
	return req_submitted(z, r, zoo_aexists(z->zh, path, watch, done_stat, r));
}

int zk_get(struct zk *z, enum zk_kind kind, void *owner, const char *path)
{
	struct zk_req *r = req_new(z, kind, owner, path);

	if (r == NULL)
		return z->zh == NULL ? -ENOTCONN : -ENOMEM;
	return req_submitted(z, r, zoo_aget(z->zh, path, 0, done_data, r));
}

void zk_orphan(struct zk *z, const void *owner)
{
	struct zk_req *r;

	for (r = z->reqs.next; r != &z->reqs; r = r->next)
		if (r->owner == owner)
			r->owner = NULL;
}

void zk_delete_path(struct zk *z, const char *path)
{
	struct zk_req *r;
	int rv = -ENOTCONN;

	if (z->zh == NULL)
		return; /* no session: the node is gone or goes with the old one */
	if (z->connected) {
		r = req_new(z, ZK_DELETE, NULL, path);
		rv = r == NULL ? -ENOMEM
			       : req_submitted(z, r, zoo_adelete(z->zh, path, -1, done_void, r));
	}
	if (rv == 0)
		return;
	if (!coord_strlist_add(&z->deletes, path))
		/* Cannot even remember it: end the session, which removes every own node. */
		coord_session_fail(z->c, -ENOMEM, "out of memory deleting %s", path);
}

static void delete_again(void *ctx, const char *path)
{
	zk_delete_path(ctx, path);
}

void zk_mkparents(struct zk *z, const char *path)
{
	char *p = keel_strdup(path);
	char *s;

	if (p == NULL)
		return; /* the create that needs them fails again and is retried */
	for (s = strchr(p + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		(void)zk_create(z, ZK_MKDIR, NULL, p, NULL, 0, 0);
		*s = '/';
	}
	keel_free(p);
}

/* --- session lifecycle --- */

static void zk_unreach_fire(struct keel_timer *t, void *arg);

static uint32_t zk_timeout(const struct zk *z)
{
	return z->c->session_timeout_ms;
}

/* Discards the outstanding list (the requests belong to the library until their completion). */
static void reqs_forget(struct zk *z)
{
	z->reqs.next = z->reqs.prev = &z->reqs;
}

/* Ends the current session (if any) without callbacks; the goodbye runs off the loop. */
static void zk_session_end(struct zk *z, unsigned wait_ms)
{
	if (z->zh == NULL)
		return;
	bridge_kill(z->br);
	reqs_forget(z);
	zk_goodbye(z->zh, z->br, wait_ms);
	z->zh = NULL;
	z->br = NULL;
	z->connected = false;
	z->established = false;
	z->probing = false;
	keel_timer_stop(z->probe);
	keel_timer_stop(z->unreach);
	coord_strlist_clear(&z->deletes);
}

/* Starts a new session; 0 or a negative errno with a message. */
static int zk_session_start(struct zk *z, char *errmsg)
{
	struct coord *c = z->c;
	struct zk_bridge *br = bridge_new(z->async);
	zhandle_t *zh;
	int rv;

	if (br == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	br->refs = 2; /* the loop, and the library until zookeeper_close returns */
	errno = 0;
	zh = zookeeper_init2(z->hosts, zk_watcher, (int)c->cfg.session_timeout_ms, NULL, br, 0,
			     zk_log_line);
	if (zh == NULL) {
		rv = errno > 0 ? -errno : -EINVAL;
		bridge_kill(br);
		bridge_unref(br);
		return keel_errno_f(errmsg, rv, "cannot set up the ZooKeeper client for %s",
				    z->hosts);
	}
	z->zh = zh;
	z->br = br;
	z->connected = false;
	z->established = false;
	z->unreach_told = false;
	c->session_timeout_ms = c->cfg.session_timeout_ms;
	keel_timer_start(z->unreach, c->cfg.connect_timeout_ms, 0);
	if (z->auth != NULL) {
		struct zk_req *r = req_new(z, ZK_AUTH, NULL, NULL);
		rv = r == NULL ? -ENOMEM
			       : req_submitted(z, r,
					       zoo_add_auth(zh, "digest", z->auth,
							    (int)strlen(z->auth), done_void, r));
		if (rv < 0) {
			zk_session_end(z, 0);
			return keel_errno_f(errmsg, rv, "digest auth");
		}
	}
	return 0;
}

static void zk_schedule_restart(struct zk *z)
{
	/* At once after a loss; 120 ms .. 1.9 s after sessions that never got established. */
	keel_timer_start(z->restart, z->failures > 0 ? coord_backoff_ms(60, z->failures) : 0, 0);
}

/* ops->fail: the session is gone or may be: leaders lose, a new session starts. */
static void zk_fail(struct coord *c, int reason, const char *msg)
{
	struct zk *z = c->be;
	bool was = z->established;

	if (!was)
		z->failures++;
	else
		z->failures = 0;
	coord_session_clear(c);
	zk_session_end(z, 0);
	if (!c->closing)
		zk_schedule_restart(z);
	if (was)
		c->stats.sessions_lost++;
	zk_recipes_reset(z, reason, msg);
	if (was)
		coord_status(c, COORD_STATUS_SESSION_LOST, reason, "%s", msg);
	else
		coord_status(c, COORD_STATUS_ERROR, reason, "%s", msg);
}

static void zk_restart_fire(struct keel_timer *t, void *arg)
{
	struct zk *z = arg;
	struct coord *c = z->c;
	char errmsg[KEEL_ERRMSG_SIZE];

	(void)t;
	if (z->zh != NULL)
		return;
	coord_enter(c);
	if (zk_session_start(z, errmsg) < 0) {
		z->failures++;
		zk_schedule_restart(z);
		coord_status(c, COORD_STATUS_ERROR, -EAGAIN, "%s", errmsg);
	}
	coord_leave(c);
}

/* Sends a probe unless one is in flight; its answer moves the deadline. */
static void zk_probe_send(struct zk *z)
{
	if (!z->connected || z->probing)
		return;
	if (zk_exists(z, ZK_PROBE, NULL, "/", false) == 0)
		z->probing = true;
}

static void zk_probe_fire(struct keel_timer *t, void *arg)
{
	struct zk *z = arg;

	(void)t;
	zk_probe_send(z);
}

static void zk_unreach_fire(struct keel_timer *t, void *arg)
{
	struct zk *z = arg;
	struct coord *c = z->c;

	(void)t;
	if (z->connected || z->unreach_told)
		return;
	z->unreach_told = true;
	coord_enter(c);
	coord_status(c, COORD_STATUS_UNREACHABLE, -EHOSTUNREACH,
		     "no ZooKeeper server answered within %u ms (servers %s)",
		     c->cfg.connect_timeout_ms, z->hosts);
	coord_leave(c);
}

static void zk_on_session_event(struct zk *z, int state)
{
	struct coord *c = z->c;

	if (state == ZOO_CONNECTED_STATE) {
		int t = zoo_recv_timeout(z->zh);
		bool first = !z->established;
		z->connected = true;
		z->established = true;
		z->failures = 0;
		z->unreach_told = false;
		keel_timer_stop(z->unreach);
		if (t > 0)
			c->session_timeout_ms = (uint32_t)t;
		/* The probe goes first: its answer sets the deadline before any election result. */
		zk_probe_send(z);
		uint64_t every = zk_timeout(z) / 4;
		keel_timer_start(z->probe, every, every > 0 ? every : 1);
		if (first)
			c->stats.sessions++;
		coord_status(c, COORD_STATUS_CONNECTED, 0, "%s (session 0x%llx, timeout %u ms)",
			     first ? "session established" : "reconnected",
			     (unsigned long long)zoo_client_id(z->zh)->client_id,
			     c->session_timeout_ms);
		if (c->closing || z->zh == NULL)
			return;
		coord_strlist_drain(&z->deletes, delete_again, z);
		zk_run(z, false);
	} else if (state == ZOO_EXPIRED_SESSION_STATE) {
		coord_session_fail(z->c, -ECONNRESET, "ZooKeeper session expired");
	} else if (state == ZOO_AUTH_FAILED_STATE) {
		coord_session_fail(z->c, -EACCES, "ZooKeeper digest authentication failed");
	} else if (state == ZOO_CONNECTING_STATE || state == ZOO_READONLY_STATE) {
		if (!z->connected)
			return;
		z->connected = false;
		keel_timer_stop(z->probe);
		keel_timer_start(z->unreach, c->cfg.connect_timeout_ms, 0);
		coord_status(
		    c, COORD_STATUS_DISCONNECTED, 0,
		    "disconnected from ZooKeeper; the session lives until %llu ms from now "
		    "at the latest",
		    (unsigned long long)(c->deadline_ms > coord_now_ms()
					     ? c->deadline_ms - coord_now_ms()
					     : 0));
	}
}

/* A completed request of the session side, or routed to the recipes. */
static void zk_on_done(struct zk *z, struct zk_req *r)
{
	struct coord *c = z->c;

	if (!zk_rc_is_connection(r->rc) && z->established)
		coord_session_touch(c, r->issued_ms); /* the server answered it */
	if (r->oom) {
		coord_session_fail(z->c, -ENOMEM, "out of memory reading a ZooKeeper reply");
		return;
	}
	switch (r->kind) {
	case ZK_PROBE:
		z->probing = false;
		return;
	case ZK_AUTH:
		if (r->rc != ZOK)
			coord_status(c, COORD_STATUS_ERROR, zk_errno(r->rc), "digest auth: %s",
				     zerror(r->rc));
		return;
	case ZK_MKDIR:
		return;
	case ZK_DELETE:
		if (zk_rc_is_connection(r->rc) && r->rc != ZSESSIONEXPIRED && r->rc != ZCLOSING &&
		    !coord_strlist_add(&z->deletes, r->path))
			coord_session_fail(z->c, -ENOMEM, "out of memory deleting %s", r->path);
		else if (r->rc != ZOK && r->rc != ZNONODE && !zk_rc_is_connection(r->rc))
			coord_status(c, COORD_STATUS_ERROR, zk_errno(r->rc), "delete %s: %s",
				     r->path, zerror(r->rc));
		return;
	default:
		zk_recipe_done(z, r);
		return;
	}
}

/* Loop: runs everything the library's threads queued. */
static void zk_drain(struct zk *z)
{
	struct coord *c = z->c;
	struct zk_bridge *br = z->br;
	struct zk_qnode *n;
	bool overflow;

	if (br == NULL)
		return;
	pthread_mutex_lock(&br->mu);
	n = br->head;
	br->head = NULL;
	br->tail = &br->head;
	overflow = br->overflow;
	br->overflow = false;
	pthread_mutex_unlock(&br->mu);
	while (n != NULL) {
		struct zk_qnode *next = n->qnext;
		if (z->br == br && !c->closing) {
			if (n->is_watch) {
				struct zk_wev *w = (struct zk_wev *)n;
				if (w->type == ZOO_SESSION_EVENT) {
					zk_on_session_event(z, w->state);
				} else {
					c->stats.watch_events++;
					zk_node_event(z, w->type, w->path);
				}
			} else {
				struct zk_req *r = (struct zk_req *)n;
				req_unlink(r);
				zk_on_done(z, r);
			}
		}
		qnode_free(n);
		n = next;
	}
	if (overflow && z->br == br && !c->closing)
		coord_session_fail(z->c, -ENOMEM, "out of memory queueing ZooKeeper events");
}

static void zk_on_async(struct keel_async *a, void *arg)
{
	struct zk *z = arg;
	struct coord *c = z->c;

	(void)a;
	coord_enter(c);
	/* A session whose deadline passed while the loop was busy is lost before anything else. */
	if (c->deadline_ms != 0 && coord_now_ms() >= c->deadline_ms)
		c->ops->deadline(c);
	zk_drain(z);
	coord_leave(c);
}

void zk_schedule_retry(struct zk *z)
{
	if (!keel_timer_active(z->retry))
		keel_timer_start(z->retry, coord_backoff_ms(100, z->retry_round++),
				 0); /* .. 3.2 s */
}

static void zk_retry_fire(struct keel_timer *t, void *arg)
{
	struct zk *z = arg;
	struct coord *c = z->c;

	(void)t;
	coord_enter(c);
	zk_run(z, true);
	coord_leave(c);
}

/* --- coord_ops --- */

static void zk_free(struct zk *z)
{
	keel_timer_free(z->probe);
	keel_timer_free(z->restart);
	keel_timer_free(z->unreach);
	keel_timer_free(z->retry);
	if (z->async != NULL)
		keel_async_close(z->async);
	coord_strlist_free(&z->deletes);
	keel_free(z->hosts);
	keel_free(z->auth);
	keel_free(z);
}

static int zk_open(struct coord *c, char *errmsg)
{
	struct zk *z = keel_calloc(1, sizeof(*z));
	struct keel_buf hosts = KEEL_BUF_INIT;
	size_t i;
	int rv = -ENOMEM;

	if (z == NULL)
		return keel_errf(errmsg, -ENOMEM, "%s: out of memory", c->url_text);
	z->c = c;
	z->reqs.next = z->reqs.prev = &z->reqs;
	for (i = 0; i < c->url.num_hosts; i++) {
		char hp[300];
		coord_host_format(&c->url.hosts[i], hp, sizeof(hp));
		if (keel_buf_printf(&hosts, "%s%s", i > 0 ? "," : "", hp) < 0)
			goto fail;
	}
	z->hosts = keel_buf_steal(&hosts, NULL);
	if (z->hosts == NULL)
		goto fail;
	if (c->url.user != NULL) {
		size_t n = strlen(c->url.user) + strlen(c->url.password) + 2;
		z->auth = keel_malloc(n);
		if (z->auth == NULL)
			goto fail;
		snprintf(z->auth, n, "%s:%s", c->url.user, c->url.password);
		/* The creator (any id authenticated on the session) gets everything; all read. */
		z->acl_entries[0].perms = ZOO_PERM_ALL;
		z->acl_entries[0].id.scheme = "auth";
		z->acl_entries[0].id.id = "";
		z->acl_entries[1].perms = ZOO_PERM_READ;
		z->acl_entries[1].id.scheme = "world";
		z->acl_entries[1].id.id = "anyone";
		z->acl.count = 2;
	} else {
		z->acl_entries[0].perms = ZOO_PERM_ALL;
		z->acl_entries[0].id.scheme = "world";
		z->acl_entries[0].id.id = "anyone";
		z->acl.count = 1;
	}
	z->acl.data = z->acl_entries;
	if (keel_timer_new(c->loop, zk_probe_fire, z, &z->probe) < 0 ||
	    keel_timer_new(c->loop, zk_restart_fire, z, &z->restart) < 0 ||
	    keel_timer_new(c->loop, zk_unreach_fire, z, &z->unreach) < 0 ||
	    keel_timer_new(c->loop, zk_retry_fire, z, &z->retry) < 0)
		goto fail;
	rv = keel_async_new(c->loop, zk_on_async, z, &z->async, errmsg);
	if (rv < 0) {
		keel_errwrap(errmsg, rv, "%s", c->url_text);
		goto fail_msg;
	}
	c->be = z;
	rv = zk_session_start(z, errmsg);
	if (rv < 0) {
		c->be = NULL;
		keel_errwrap(errmsg, rv, "%s", c->url_text);
		goto fail_msg;
	}
	return 0;

fail:
	keel_errf(errmsg, rv, "%s: out of memory", c->url_text);
fail_msg:
	keel_buf_free(&hosts);
	zk_free(z);
	return rv;
}

static void zk_close(struct coord *c, unsigned wait_ms)
{
	struct zk *z = c->be;

	zk_session_end(z, wait_ms);
	zk_free(z);
}

static void zk_kick(struct coord *c)
{
	zk_run(c->be, false);
}

static void zk_deadline(struct coord *c)
{
	struct zk *z = c->be;

	coord_session_fail(z->c, -ETIMEDOUT,
			   "no answer from ZooKeeper for the session timeout (%u ms, less a %u ms "
			   "margin): the session may have expired",
			   c->session_timeout_ms, coord_margin_ms(c->session_timeout_ms));
}

const struct coord_ops coord_zk_ops = {
    .open = zk_open,
    .close = zk_close,
    .kick = zk_kick,
    .contender_gone = zk_contender_gone,
    .detector_gone = zk_detector_gone,
    .member_gone = zk_member_gone,
    .watch_gone = zk_watch_gone,
    .deadline = zk_deadline,
    .fail = zk_fail,
};

int coord_debug_zk_session(const struct coord *c, int64_t *id, char passwd[16])
{
	const struct zk *z = c->be;
	const clientid_t *cid;

	if (c->ops != &coord_zk_ops)
		return -EINVAL;
	if (z->zh == NULL || !z->established)
		return -ENOTCONN;
	cid = zoo_client_id(z->zh);
	*id = cid->client_id;
	memcpy(passwd, cid->passwd, 16);
	return 0;
}

size_t zk_pending(const struct coord *c)
{
	const struct zk *z = c->be;
	const struct zk_req *r;
	size_t n = 0;

	for (r = z->reqs.next; r != &z->reqs; r = r->next)
		n++;
	return n;
}
