/* ZooKeeper backend, recipes: election (lowest json.info_ sequence leads, each contender watches
 * its predecessor), leader detection, group membership and group watches. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zk_int.h"
#include "runtime/alloc.h"
#include "runtime/failpoint.h"
#include "runtime/log.h"

#define ZK_LEADER_PREFIX "json.info_"
#define ZK_MEMBER_PREFIX "member_"

enum ct_state {
	CT_IDLE = 0, /* no node: create one when connected */
	CT_CREATING, /* create in flight */
	CT_LISTING,  /* children listing in flight */
	CT_EXISTS,   /* exists (predecessor, or itself when leading) in flight */
	CT_WAITING,  /* watch armed on the predecessor (recheck: list when possible) */
	CT_LEADING,  /* leading, watch armed on itself (recheck: list when possible) */
};

enum det_state {
	D_IDLE = 0, /* list when connected */
	D_LISTING,  /* listing with a children watch in flight */
	D_GETTING,  /* reading the lowest node */
	D_READY,    /* children watch armed */
	D_ROOTWAIT, /* exists on the path in flight */
	D_NOROOT,   /* watch armed for the path to appear */
};

enum mem_state {
	M_IDLE = 0, /* no node: create one when connected */
	M_CREATING, /* create in flight */
	M_EXISTS,   /* exists on itself in flight */
	M_JOINED,   /* watch armed on itself */
	M_CHECK,    /* has a node, the watch must be armed again */
};

enum w_state {
	W_IDLE = 0,  /* list when connected */
	W_LISTING,   /* listing with a children watch in flight */
	W_FETCHING,  /* reading new members */
	W_READY,     /* children watch armed */
	W_GROUPWAIT, /* exists on the group in flight */
	W_NOGROUP,   /* watch armed for the group to appear */
};

/* root + "/" + a + ("/" + b); NULL when out of memory. */
static char *zk_join(const char *root, const char *a, const char *b)
{
	size_t n = strlen(root) + strlen(a) + (b != NULL ? strlen(b) + 1 : 0) + 2;
	char *p = keel_malloc(n);

	if (p == NULL)
		return NULL;
	if (b != NULL)
		snprintf(p, n, "%s/%s/%s", root, a, b);
	else
		snprintf(p, n, "%s/%s", root, a);
	return p;
}

/* True when name is prefix + exactly 10 digits (ZooKeeper's sequence suffix); the number in *seq.
 */
static bool zk_seq_name(const char *name, const char *prefix, uint64_t *seq)
{
	size_t pl = strlen(prefix);
	uint64_t v = 0;
	int i;

	if (strncmp(name, prefix, pl) != 0 || strlen(name) != pl + 10)
		return false;
	for (i = 0; i < 10; i++) {
		char ch = name[pl + (size_t)i];
		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (uint64_t)(ch - '0');
	}
	*seq = v;
	return true;
}

static const char *zk_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

/* An error that is neither a normal outcome nor a lost connection: report it and retry later. */
static void zk_recipe_error(struct zk *z, int rc, const char *what, const char *path)
{
	coord_status(z->c, COORD_STATUS_ERROR, zk_errno(rc), "%s %s: %s", what, path, zerror(rc));
	zk_schedule_retry(z);
}

/* A create whose answer never came may or may not have happened: only a new session is sure. */
static void zk_create_unknown(struct zk *z, const char *path)
{
	coord_session_fail(
	    z->c, -ECONNRESET,
	    "connection lost while creating %s (outcome unknown): starting a new session", path);
}

/*
 * Sends a recipe request of `kind` about path for owner: a sequential
 * ephemeral create with payload, a children listing (with a watch, except a
 * contender's), a read, or an exists watch. A NULL path means building it ran
 * out of memory. Returns true when sent; otherwise a retry is scheduled.
 */
static bool zk_send(struct zk *z, enum zk_kind kind, void *owner, const char *path,
		    const char *payload, size_t len)
{
	int rv = -ENOMEM;

	if (path != NULL) {
		switch (kind) {
		case ZK_CT_CREATE:
		case ZK_MEM_CREATE:
			rv = zk_create(z, kind, owner, path, payload, len,
				       ZOO_EPHEMERAL | ZOO_SEQUENCE);
			break;
		case ZK_CT_LIST:
		case ZK_DET_LIST:
		case ZK_W_LIST:
			rv = zk_list(z, kind, owner, path, kind != ZK_CT_LIST);
			break;
		case ZK_DET_GET:
		case ZK_W_GET:
			rv = zk_get(z, kind, owner, path);
			break;
		default: /* the exists watches */
			rv = zk_exists(z, kind, owner, path, true);
			break;
		}
	}
	if (rv == 0)
		return true;
	zk_schedule_retry(z);
	return false;
}

/*
 * A sequential create failed. Returns true when the caller should create
 * again at once: the parent was missing and is being created first (FIFO:
 * before the retried create). Otherwise a retry or a new session follows.
 */
static bool create_failed(struct zk *z, struct zk_req *r, unsigned *tries)
{
	if (r->rc == ZNONODE && *tries == 0) {
		*tries = 1;
		zk_mkparents(z, r->path);
		return true;
	}
	if (r->rc == ZCONNECTIONLOSS || r->rc == ZOPERATIONTIMEOUT) {
		zk_create_unknown(z, r->path);
		return false;
	}
	if (zk_rc_is_connection(r->rc))
		return false; /* the session is going; the next one starts over */
	(*tries)++;
	zk_recipe_error(z, r->rc, "create", r->path);
	return false;
}

/*
 * The name of the node a sequential create made (a copy), with its sequence
 * number in *seq. NULL when it is not `prefix` + a sequence number or carries
 * no stat (not what a create2 returns: reported) or out of memory; the node
 * is then given back and a retry scheduled.
 */
static char *created_name(struct zk *z, struct zk_req *r, const char *prefix, uint64_t *seq)
{
	const char *name = zk_basename(r->value);
	char *copy = NULL;

	if (!zk_seq_name(name, prefix, seq) || !r->has_stat)
		coord_status(z->c, COORD_STATUS_ERROR, -EPROTO,
			     "create returned unexpected node %s", r->value);
	else
		copy = keel_strdup(name);
	if (copy == NULL) {
		zk_delete_path(z, r->value);
		zk_schedule_retry(z);
	}
	return copy;
}

/*
 * An exists watch on a missing path (a detector's root, a watch's group)
 * answered. Returns true when the caller should list now (the path is there,
 * or it changed meanwhile: `again`); else *state becomes `absent` (the watch
 * is armed) or `idle` (retried later).
 */
static bool path_appeared(struct zk *z, struct zk_req *r, int *state, int absent, int idle,
			  bool again)
{
	if (r->rc == ZOK)
		return true;
	if (r->rc == ZNONODE) {
		*state = absent;
		return again;
	}
	*state = idle;
	if (!zk_rc_is_connection(r->rc))
		zk_schedule_retry(z);
	return false;
}

/* Deletes the node of an object going away; a NULL path (out of memory building it) ends the
 * session instead, which removes every own node. */
static void delete_own(struct zk *z, char *path, const char *what)
{
	if (path != NULL)
		zk_delete_path(z, path);
	else
		coord_session_fail(z->c, -ENOMEM, "out of memory %s", what);
	keel_free(path);
}

/* --- contenders --- */

static void ct_create(struct zk *z, struct coord_contender *ct)
{
	char *path = zk_join(z->c->url.path, ZK_LEADER_PREFIX, NULL);

	if (zk_send(z, ZK_CT_CREATE, ct, path, ct->payload, ct->len))
		ct->state = CT_CREATING;
	else
		ct->tries++;
	keel_free(path);
}

/*
 * Lists the election's children to find its place. Nothing of ct is in flight
 * when this is called. If the listing cannot be sent (out of memory) ct waits
 * in a state the retry timer lists again from, so it is never left stuck.
 */
static void ct_list(struct zk *z, struct coord_contender *ct)
{
	ct->recheck = false;
	if (KEEL_FAILPOINT("coord_zk_ct_list") == 0 &&
	    zk_send(z, ZK_CT_LIST, ct, z->c->url.path, NULL, 0)) {
		ct->state = CT_LISTING;
		return;
	}
	ct->state = ct->leading ? CT_LEADING : CT_WAITING;
	ct->recheck = true;
	zk_schedule_retry(z);
}

/* Arms an exists watch on name (the predecessor, or itself when leading). */
static void ct_watch(struct zk *z, struct coord_contender *ct, const char *name)
{
	char *path = zk_join(z->c->url.path, name, NULL);

	if (zk_send(z, ZK_CT_EXISTS, ct, path, NULL, 0)) {
		ct->state = CT_EXISTS;
	} else {
		ct->state = ct->leading ? CT_LEADING : CT_WAITING;
		ct->recheck = true;
	}
	keel_free(path);
}

/* Its node is gone while the session lives (deleted by someone): lose, then join again. */
static void ct_node_gone(struct zk *z, struct coord_contender *ct)
{
	char name[64];

	snprintf(name, sizeof(name), "%s", ct->name != NULL ? ct->name : "?");
	keel_free(ct->name);
	ct->name = NULL;
	keel_free(ct->pred);
	ct->pred = NULL;
	ct->state = CT_IDLE;
	ct->recheck = false;
	coord_contender_lost(ct, -EIDRM, "znode %s/%s was deleted", z->c->url.path, name);
	if (!ct->dead && !z->c->closing && z->connected)
		ct_create(z, ct);
}

static void ct_created(struct zk *z, struct coord_contender *ct, struct zk_req *r)
{
	uint64_t seq;

	if (r->rc != ZOK) {
		ct->state = CT_IDLE;
		if (create_failed(z, r, &ct->tries))
			ct_create(z, ct);
		return;
	}
	ct->name = created_name(z, r, ZK_LEADER_PREFIX, &seq);
	if (ct->name == NULL) {
		ct->state = CT_IDLE;
		ct->tries++;
		return;
	}
	ct->seq = seq;
	ct->id = (uint64_t)r->stat.czxid;
	ct->tries = 0;
	ct_list(z, ct);
}

static void ct_listed(struct zk *z, struct coord_contender *ct, struct zk_req *r)
{
	const char *pred = NULL;
	uint64_t pred_seq = 0, seq;
	bool own = false;
	int i;

	if (ct->recheck && r->rc == ZOK) {
		ct_list(z, ct); /* something changed while listing */
		return;
	}
	if (r->rc == ZNONODE) {
		ct_node_gone(z, ct);
		return;
	}
	if (r->rc != ZOK) {
		ct->state = ct->leading ? CT_LEADING : CT_WAITING;
		ct->recheck = true;
		if (!zk_rc_is_connection(r->rc))
			zk_recipe_error(z, r->rc, "list", r->path);
		return;
	}
	for (i = 0; i < r->strc; i++) {
		const char *name = r->strv[i];
		if (!zk_seq_name(name, ZK_LEADER_PREFIX, &seq))
			continue; /* log_replicas, legacy info_ nodes, anything else */
		if (strcmp(name, ct->name) == 0)
			own = true;
		else if (seq < ct->seq && (pred == NULL || seq > pred_seq)) {
			pred = name;
			pred_seq = seq;
		}
	}
	if (!own) {
		ct_node_gone(z, ct);
		return;
	}
	if (pred == NULL) {
		/* Lowest: leads from now until its node goes. Watch itself to notice a delete. */
		keel_free(ct->pred);
		ct->pred = NULL;
		ct_watch(z, ct, ct->name);
		coord_contender_elected(ct, ct->id);
		return;
	}
	char *copy = keel_strdup(pred);
	if (copy == NULL) {
		ct->state = CT_WAITING;
		ct->recheck = true;
		zk_schedule_retry(z);
		return;
	}
	keel_free(ct->pred);
	ct->pred = copy;
	if (ct->leading) /* cannot happen: nothing lower appears once it led */
		coord_contender_lost(ct, -EIDRM, "a lower znode %s appeared", pred);
	ct_watch(z, ct, ct->pred);
}

static void ct_exists_done(struct zk *z, struct coord_contender *ct, struct zk_req *r)
{
	bool self = ct->name != NULL && strcmp(zk_basename(r->path), ct->name) == 0;

	if (r->rc == ZNONODE) {
		if (self)
			ct_node_gone(z, ct);
		else
			ct_list(z, ct); /* the predecessor went already */
		return;
	}
	ct->state = self ? CT_LEADING : CT_WAITING;
	if (r->rc != ZOK) {
		ct->recheck = true;
		if (!zk_rc_is_connection(r->rc))
			zk_recipe_error(z, r->rc, "exists", r->path);
		return;
	}
	if (ct->recheck)
		ct_list(z, ct);
}

/* --- detectors --- */

static void det_list(struct zk *z, struct coord_detector *d)
{
	d->again = false;
	d->state = zk_send(z, ZK_DET_LIST, d, z->c->url.path, NULL, 0) ? D_LISTING : D_IDLE;
}

static void det_listed(struct zk *z, struct coord_detector *d, struct zk_req *r)
{
	const char *low = NULL;
	uint64_t low_seq = 0, seq;
	int i;

	if (r->rc == ZOK && d->again) {
		det_list(z, d);
		return;
	}
	if (r->rc == ZNONODE) {
		coord_detector_none(d, -ENOENT, "%s does not exist (no leader)", z->c->url.path);
		if (!d->dead && z->zh != NULL)
			d->state = zk_send(z, ZK_DET_EXISTS, d, z->c->url.path, NULL, 0)
				       ? D_ROOTWAIT
				       : D_IDLE;
		return;
	}
	if (r->rc != ZOK) {
		d->state = D_IDLE;
		if (!zk_rc_is_connection(r->rc)) {
			coord_detector_none(d, zk_errno(r->rc), "list %s: %s", r->path,
					    zerror(r->rc));
			zk_schedule_retry(z);
		}
		return;
	}
	for (i = 0; i < r->strc; i++) {
		if (zk_seq_name(r->strv[i], ZK_LEADER_PREFIX, &seq) &&
		    (low == NULL || seq < low_seq)) {
			low = r->strv[i];
			low_seq = seq;
		}
	}
	d->state = D_READY;
	if (low == NULL) {
		coord_detector_none(d, 0, NULL);
		return;
	}
	if (d->reported && d->last_present && d->last_name != NULL &&
	    strcmp(d->last_name, low) == 0)
		return; /* same node, same leader */
	char *path = zk_join(z->c->url.path, low, NULL);
	char *copy = keel_strdup(low);
	bool sent = zk_send(z, ZK_DET_GET, d, copy != NULL ? path : NULL, NULL, 0);
	keel_free(path);
	if (!sent) {
		keel_free(copy);
		d->state = D_IDLE;
		return;
	}
	keel_free(d->fetching);
	d->fetching = copy;
	d->state = D_GETTING;
}

static void det_got(struct zk *z, struct coord_detector *d, struct zk_req *r)
{
	if (r->rc == ZOK && !d->again && d->fetching != NULL) {
		d->state = D_READY;
		coord_detector_leader(d, d->fetching, (uint64_t)r->stat.czxid, r->value,
				      (size_t)r->value_len);
		return;
	}
	if (r->rc == ZOK || r->rc == ZNONODE) {
		det_list(z, d); /* changed meanwhile, or the leader went: look again */
		return;
	}
	d->state = D_IDLE;
	if (!zk_rc_is_connection(r->rc)) {
		coord_detector_none(d, zk_errno(r->rc), "read %s: %s", r->path, zerror(r->rc));
		zk_schedule_retry(z);
	}
}

static void det_exists_done(struct zk *z, struct coord_detector *d, struct zk_req *r)
{
	if (path_appeared(z, r, &d->state, D_NOROOT, D_IDLE, d->again))
		det_list(z, d);
}

/* --- memberships --- */

static void mem_create(struct zk *z, struct coord_member *m)
{
	char *path = zk_join(z->c->url.path, m->group, ZK_MEMBER_PREFIX);

	if (zk_send(z, ZK_MEM_CREATE, m, path, m->payload, m->len))
		m->state = M_CREATING;
	else
		m->tries++;
	keel_free(path);
}

static void mem_watch(struct zk *z, struct coord_member *m)
{
	char *path = zk_join(z->c->url.path, m->group, m->name);

	m->state = zk_send(z, ZK_MEM_EXISTS, m, path, NULL, 0) ? M_EXISTS : M_CHECK;
	keel_free(path);
}

static void mem_created(struct zk *z, struct coord_member *m, struct zk_req *r)
{
	uint64_t seq;

	if (r->rc != ZOK) {
		m->state = M_IDLE;
		if (create_failed(z, r, &m->tries))
			mem_create(z, m);
		return;
	}
	m->name = created_name(z, r, ZK_MEMBER_PREFIX, &seq);
	if (m->name == NULL) {
		m->state = M_IDLE;
		m->tries++;
		return;
	}
	m->id = (uint64_t)r->stat.czxid;
	m->tries = 0;
	mem_watch(z, m);
}

static void mem_exists_done(struct zk *z, struct coord_member *m, struct zk_req *r)
{
	if (r->rc == ZOK && m->recheck) {
		m->recheck = false;
		mem_watch(z, m);
	} else if (r->rc == ZOK) {
		m->state = M_JOINED;
	} else if (r->rc == ZNONODE) {
		keel_free(m->name);
		m->name = NULL;
		m->state = M_IDLE;
		mem_create(z, m);
	} else {
		m->state = M_CHECK;
		if (!zk_rc_is_connection(r->rc))
			zk_recipe_error(z, r->rc, "exists", r->path);
	}
}

/* --- group watches --- */

static void w_list(struct zk *z, struct coord_watch *w)
{
	char *path = zk_join(z->c->url.path, w->group, NULL);

	w->again = false;
	w->state = zk_send(z, ZK_W_LIST, w, path, NULL, 0) ? W_LISTING : W_IDLE;
	keel_free(path);
}

static void w_report(struct coord_watch *w)
{
	struct coord_member_info *mi = NULL;
	size_t i, n = 0;

	if (w->ncache > 0) {
		mi = keel_calloc(w->ncache, sizeof(*mi));
		if (mi == NULL) {
			w->state = W_IDLE; /* report later */
			return;
		}
	}
	for (i = 0; i < w->ncache; i++) {
		if (!w->cache[i].fetched)
			continue;
		mi[n].name = w->cache[i].name;
		mi[n].id = w->cache[i].id;
		mi[n].payload = w->cache[i].payload;
		mi[n].len = w->cache[i].len;
		n++;
	}
	if (n > 1)
		qsort(mi, n, sizeof(*mi), coord_member_info_cmp);
	w->state = W_READY;
	coord_watch_report(w, mi, n, 0);
	keel_free(mi);
}

static struct coord_mcache *w_find(struct coord_watch *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->ncache; i++)
		if (strcmp(w->cache[i].name, name) == 0)
			return &w->cache[i];
	return NULL;
}

static void w_remove(struct coord_watch *w, struct coord_mcache *e)
{
	keel_free(e->name);
	keel_free(e->payload);
	*e = w->cache[--w->ncache];
}

static bool w_add(struct coord_watch *w, const char *name, uint64_t seq)
{
	if (w->ncache == w->capcache) {
		size_t cap = w->capcache ? w->capcache * 2 : 8;
		struct coord_mcache *nc = keel_realloc(w->cache, cap * sizeof(*nc));
		if (nc == NULL)
			return false;
		w->cache = nc;
		w->capcache = cap;
	}
	struct coord_mcache *e = &w->cache[w->ncache];
	memset(e, 0, sizeof(*e));
	e->name = keel_strdup(name);
	if (e->name == NULL)
		return false;
	e->id = seq;
	e->seen = true;
	w->ncache++;
	return true;
}

static void w_listed(struct zk *z, struct coord_watch *w, struct zk_req *r)
{
	uint64_t seq;
	size_t i;
	int k;

	if (r->rc == ZOK && w->again) {
		w_list(z, w);
		return;
	}
	if (r->rc == ZNONODE) {
		coord_mcache_clear(w);
		coord_watch_report(w, NULL, 0, 0);
		if (!w->dead && z->zh != NULL)
			w->state =
			    zk_send(z, ZK_W_EXISTS, w, r->path, NULL, 0) ? W_GROUPWAIT : W_IDLE;
		return;
	}
	if (r->rc != ZOK) {
		w->state = W_IDLE;
		if (!zk_rc_is_connection(r->rc))
			zk_recipe_error(z, r->rc, "list", r->path);
		return;
	}
	for (i = 0; i < w->ncache; i++)
		w->cache[i].seen = false;
	for (k = 0; k < r->strc; k++) {
		struct coord_mcache *e;
		if (!zk_seq_name(r->strv[k], ZK_MEMBER_PREFIX, &seq))
			continue;
		e = w_find(w, r->strv[k]);
		if (e != NULL) {
			e->seen = true;
		} else if (!w_add(w, r->strv[k], seq)) {
			w->state = W_IDLE;
			zk_schedule_retry(z);
			return;
		}
	}
	for (i = 0; i < w->ncache;) {
		if (!w->cache[i].seen && !w->cache[i].pending)
			w_remove(w, &w->cache[i]);
		else
			i++;
	}
	w->state = W_FETCHING;
	for (i = 0; i < w->ncache; i++) {
		struct coord_mcache *e = &w->cache[i];
		if (e->fetched || e->pending)
			continue;
		char *path = zk_join(z->c->url.path, w->group, e->name);
		bool sent = zk_send(z, ZK_W_GET, w, path, NULL, 0);
		keel_free(path);
		if (!sent) {
			w->state = W_IDLE;
			return;
		}
		e->pending = true;
		w->fetches++;
	}
	if (w->fetches == 0)
		w_report(w);
}

static void w_got(struct zk *z, struct coord_watch *w, struct zk_req *r)
{
	struct coord_mcache *e = w_find(w, zk_basename(r->path));

	if (w->fetches > 0)
		w->fetches--;
	if (e != NULL) {
		e->pending = false;
		if (r->rc == ZOK) {
			keel_free(e->payload);
			e->payload = keel_malloc((size_t)r->value_len + 1);
			if (e->payload != NULL) {
				memcpy(e->payload, r->value, (size_t)r->value_len + 1);
				e->len = (size_t)r->value_len;
				e->id = (uint64_t)r->stat.czxid;
				e->fetched = true;
			}
		} else if (r->rc == ZNONODE || !e->seen) {
			w_remove(w, e);
		}
	}
	if (r->rc != ZOK && r->rc != ZNONODE) {
		w->state = W_IDLE;
		if (!zk_rc_is_connection(r->rc))
			zk_recipe_error(z, r->rc, "read", r->path);
	}
	if (w->fetches > 0 || w->state != W_FETCHING)
		return;
	if (w->again)
		w_list(z, w);
	else
		w_report(w);
}

static void w_exists_done(struct zk *z, struct coord_watch *w, struct zk_req *r)
{
	if (path_appeared(z, r, &w->state, W_NOGROUP, W_IDLE, w->again))
		w_list(z, w);
}

/* --- routing --- */

void zk_recipe_done(struct zk *z, struct zk_req *r)
{
	if (r->owner == NULL) {
		/* Its object is gone; a node created for it must not outlive it. */
		if ((r->kind == ZK_CT_CREATE || r->kind == ZK_MEM_CREATE) && r->rc == ZOK)
			zk_delete_path(z, r->value);
		return;
	}
	switch (r->kind) {
	case ZK_CT_CREATE:
		ct_created(z, r->owner, r);
		break;
	case ZK_CT_LIST:
		ct_listed(z, r->owner, r);
		break;
	case ZK_CT_EXISTS:
		ct_exists_done(z, r->owner, r);
		break;
	case ZK_DET_LIST:
		det_listed(z, r->owner, r);
		break;
	case ZK_DET_GET:
		det_got(z, r->owner, r);
		break;
	case ZK_DET_EXISTS:
		det_exists_done(z, r->owner, r);
		break;
	case ZK_MEM_CREATE:
		mem_created(z, r->owner, r);
		break;
	case ZK_MEM_EXISTS:
		mem_exists_done(z, r->owner, r);
		break;
	case ZK_W_LIST:
		w_listed(z, r->owner, r);
		break;
	case ZK_W_GET:
		w_got(z, r->owner, r);
		break;
	case ZK_W_EXISTS:
		w_exists_done(z, r->owner, r);
		break;
	default:
		break;
	}
}

/* Is path == root + "/" + a (+ "/" + b)? */
static bool path_is(const char *path, const char *root, const char *a, const char *b)
{
	size_t rl = strlen(root), al = strlen(a);

	if (strncmp(path, root, rl) != 0 || path[rl] != '/' || strncmp(path + rl + 1, a, al) != 0)
		return false;
	path += rl + 1 + al;
	if (b == NULL)
		return *path == '\0';
	return *path == '/' && strcmp(path + 1, b) == 0;
}

void zk_node_event(struct zk *z, int type, const char *path)
{
	struct coord *c = z->c;
	const char *root = c->url.path;
	bool all = type == ZOO_NOTWATCHING_EVENT;
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_member *m;
	struct coord_watch *w;

	for (ct = c->cts; ct != NULL && !c->closing; ct = ct->next) {
		if (ct->dead || ct->name == NULL)
			continue;
		bool pred = ct->pred != NULL && path_is(path, root, ct->pred, NULL);
		bool self = path_is(path, root, ct->name, NULL);
		if (self && type == ZOO_DELETED_EVENT &&
		    (ct->state == CT_WAITING || ct->state == CT_LEADING)) {
			ct_node_gone(z, ct);
			continue;
		}
		/* With a request in flight, recheck: its answer or the next listing shows it. */
		if (!(all || pred || self))
			continue;
		if (ct->state == CT_WAITING || ct->state == CT_LEADING)
			ct_list(z, ct);
		else
			ct->recheck = true;
	}
	for (d = c->dets; d != NULL && !c->closing; d = d->next) {
		if (d->dead || !(all || strcmp(path, root) == 0))
			continue;
		if (d->state == D_READY || d->state == D_NOROOT)
			det_list(z, d);
		else
			d->again = true;
	}
	for (m = c->mems; m != NULL && !c->closing; m = m->next) {
		if (m->dead || m->name == NULL || !path_is(path, root, m->group, m->name))
			continue;
		if (m->state == M_EXISTS) {
			m->recheck = true; /* look again when the exists in flight answers */
		} else if (type == ZOO_DELETED_EVENT) {
			keel_free(m->name);
			m->name = NULL;
			m->state = M_IDLE;
			mem_create(z, m);
		} else {
			mem_watch(z, m);
		}
	}
	for (w = c->watches; w != NULL && !c->closing; w = w->next) {
		if (w->dead || !(all || path_is(path, root, w->group, NULL)))
			continue;
		if (w->state == W_READY || w->state == W_NOGROUP)
			w_list(z, w);
		else
			w->again = true;
	}
}

void zk_run(struct zk *z, bool retrying)
{
	struct coord *c = z->c;
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_member *m;
	struct coord_watch *w;

	if (!z->connected || c->closing)
		return;
	for (ct = c->cts; ct != NULL && z->connected && !c->closing; ct = ct->next) {
		if (ct->dead || (ct->tries > 0 && !retrying))
			continue;
		if (ct->state == CT_IDLE)
			ct_create(z, ct);
		else if (ct->recheck && (ct->state == CT_WAITING || ct->state == CT_LEADING))
			ct_list(z, ct);
	}
	for (m = c->mems; m != NULL && z->connected && !c->closing; m = m->next) {
		if (m->dead || (m->tries > 0 && !retrying))
			continue;
		if (m->state == M_IDLE)
			mem_create(z, m);
		else if (m->state == M_CHECK)
			mem_watch(z, m);
	}
	for (d = c->dets; d != NULL && z->connected && !c->closing; d = d->next) {
		if (!d->dead && d->state == D_IDLE)
			det_list(z, d);
	}
	for (w = c->watches; w != NULL && z->connected && !c->closing; w = w->next) {
		if (!w->dead && w->state == W_IDLE && w->fetches == 0)
			w_list(z, w);
	}
}

void zk_recipes_reset(struct zk *z, int reason, const char *msg)
{
	struct coord *c = z->c;
	struct coord_detector *d;
	struct coord_watch *w;

	coord_children_reset(c);
	for (d = c->dets; d != NULL; d = d->next) {
		d->state = D_IDLE;
		d->again = false;
	}
	for (w = c->watches; w != NULL; w = w->next) {
		coord_mcache_clear(w);
		w->state = W_IDLE;
		w->again = false;
		w->fetches = 0;
	}
	z->retry_round = 0;
	coord_children_lost(c, reason, msg);
}

void zk_contender_gone(struct coord_contender *ct)
{
	struct zk *z = ct->c->be;

	zk_orphan(z, ct);
	if (ct->name != NULL)
		delete_own(z, zk_join(ct->c->url.path, ct->name, NULL), "withdrawing a contender");
}

void zk_detector_gone(struct coord_detector *d)
{
	zk_orphan(d->c->be, d);
}

void zk_member_gone(struct coord_member *m)
{
	struct zk *z = m->c->be;

	zk_orphan(z, m);
	if (m->name != NULL)
		delete_own(z, zk_join(m->c->url.path, m->group, m->name), "leaving a group");
}

void zk_watch_gone(struct coord_watch *w)
{
	zk_orphan(w->c->be, w);
}
