/* etcd backend, recipes on the mirror: keys created in a transaction on the lease, the lowest
 * create_revision under <prefix>/election/ leads, groups under <prefix>/members/<group>/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"

enum {
	E_IDLE = 0, /* no key: create one when the lease allows (recheck: after a keep-alive) */
	E_CREATING, /* create transaction in flight */
	E_HAVE,	    /* key created at revision `id` */
};

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const struct etcd_kv *mirror_find(const struct etcd *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->nkvs; i++)
		if (strcmp(e->kvs[i].key, key) == 0)
			return &e->kvs[i];
	return NULL;
}

/* Sends the create transaction for key with payload; 0 or -ENOMEM. */
static int etcd_create(struct etcd *e, void *owner, bool is_member, const char *key,
		       const char *payload, size_t len)
{
	struct keel_buf b = KEEL_BUF_INIT;
	struct etcd_op *op = NULL;
	size_t klen = strlen(key);
	int rv;

	/* Create only if absent; if present (an earlier attempt whose answer was lost), read it. */
	rv = keel_buf_puts(&b, "{\"compare\":[{\"key\":\"");
	rv = rv ?: etcd_b64(&b, key, klen);
	rv = rv
		 ?: keel_buf_puts(&b, "\",\"target\":\"CREATE\",\"create_revision\":\"0\"}],"
				      "\"success\":[{\"request_put\":{\"key\":\"");
	rv = rv ?: etcd_b64(&b, key, klen);
	rv = rv ?: keel_buf_puts(&b, "\",\"value\":\"");
	rv = rv ?: etcd_b64(&b, payload, len);
	rv = rv ?: keel_buf_printf(&b, "\",\"lease\":\"%lld\"}}],", (long long)e->lease);
	rv = rv ?: keel_buf_puts(&b, "\"failure\":[{\"request_range\":{\"key\":\"");
	rv = rv ?: etcd_b64(&b, key, klen);
	rv = rv ?: keel_buf_puts(&b, "\"}}]}");
	if (rv == 0)
		op = etcd_post(e, ETCD_CREATE, "/v3/kv/txn", &b, etcd_req_timeout(e));
	keel_buf_free(&b);
	if (op == NULL)
		return -ENOMEM;
	op->owner = owner;
	op->is_member = is_member;
	op->key = keel_strdup(key);
	if (op->key == NULL) {
		op->owner = NULL; /* its answer is then ignored; the key goes with the lease */
		return -ENOMEM;
	}
	return 0;
}

/* Names and creates a key for a contender (member when is_member). */
static void create_for(struct etcd *e, void *owner, bool is_member)
{
	struct coord_contender *ct = is_member ? NULL : owner;
	struct coord_member *m = is_member ? owner : NULL;
	char **name = is_member ? &m->name : &ct->name;
	int *state = is_member ? &m->state : &ct->state;
	unsigned *tries = is_member ? &m->tries : &ct->tries;

	if (*name == NULL) {
		char buf[600];
		if (is_member)
			snprintf(buf, sizeof(buf), "%s%s/%016llx-%u", e->members, m->group,
				 (unsigned long long)e->lease, e->counter);
		else
			snprintf(buf, sizeof(buf), "%s%016llx-%u", e->elect,
				 (unsigned long long)e->lease, e->counter);
		*name = keel_strdup(buf);
		if (*name == NULL) {
			(*tries)++;
			etcd_schedule_retry(e);
			return;
		}
		e->counter++;
	}
	if (etcd_create(e, owner, is_member, *name, is_member ? m->payload : ct->payload,
			is_member ? m->len : ct->len) < 0) {
		(*tries)++;
		etcd_schedule_retry(e);
		return;
	}
	*state = E_CREATING;
}

/* Whether an object should create its key now: it has none, and it did not fail or lose one
 * since the last keep-alive (then it waits for the next). Clears its recheck when it goes. */
static bool create_due(bool dead, int state, bool *recheck, unsigned tries, bool after_keepalive)
{
	if (dead || state != E_IDLE || ((*recheck || tries > 0) && !after_keepalive))
		return false;
	*recheck = false;
	return true;
}

void etcd_run(struct etcd *e, bool after_keepalive)
{
	struct coord *c = e->c;
	struct coord_contender *ct;
	struct coord_member *m;

	if (!e->lease_ok || c->closing)
		return;
	for (ct = c->cts; ct != NULL && e->lease_ok && !c->closing; ct = ct->next)
		if (create_due(ct->dead, ct->state, &ct->recheck, ct->tries, after_keepalive))
			create_for(e, ct, false);
	for (m = c->mems; m != NULL && e->lease_ok && !c->closing; m = m->next)
		if (create_due(m->dead, m->state, &m->recheck, m->tries, after_keepalive))
			create_for(e, m, true);
}

void etcd_create_done(struct etcd *e, struct etcd_op *op, int err, long status, json_t *j,
		      const char *why)
{
	struct coord_contender *ct = op->is_member ? NULL : op->owner;
	struct coord_member *m = op->is_member ? op->owner : NULL;
	int *state;
	unsigned *tries;
	char **name;
	int64_t rev = 0, code = 0, lease = 0, id = 0;
	const char *msg;

	if (op->owner == NULL) {
		/* Its object is gone: the key, if it was made, must not outlive it. */
		if (op->gen == e->gen && op->key != NULL)
			etcd_delete_key(e, op->key);
		return;
	}
	if (op->gen != e->gen)
		return; /* an old lease's key; the reset made the object start over */
	state = ct != NULL ? &ct->state : &m->state;
	tries = ct != NULL ? &ct->tries : &m->tries;
	name = ct != NULL ? &ct->name : &m->name;
	*state = E_IDLE;
	if (err < 0 || status >= 500) {
		/* Outcome unknown: the same key is retried; the compare makes that safe. */
		(*tries)++;
		etcd_schedule_retry(e);
		return;
	}
	msg = etcd_error_text(j, &code);
	if (status != 200 || msg != NULL) {
		if (code == 5 || (msg != NULL && strstr(msg, "lease not found") != NULL)) {
			coord_session_fail(e->c, -ECONNRESET, "lease %llx is gone (creating %s)",
					   (unsigned long long)e->lease, op->key);
			return;
		}
		(*tries)++;
		coord_status(e->c, COORD_STATUS_ERROR, -EIO, "create %s: HTTP %ld: %s", op->key,
			     status, msg != NULL ? msg : why);
		etcd_schedule_retry(e);
		return;
	}
	etcd_json_i64(json_object_get(j, "header"), "revision", &rev);
	KEEL_DEBUG("coord", "create %s: status %ld succeeded %d rev %lld", op->key, status,
		   json_is_true(json_object_get(j, "succeeded")), (long long)rev);
	if (json_is_true(json_object_get(j, "succeeded"))) {
		id = rev;
	} else {
		/* The key exists: ours from an attempt whose answer was lost, or someone else's. */
		json_t *resp = json_array_get(json_object_get(j, "responses"), 0);
		json_t *kv = json_array_get(
		    json_object_get(json_object_get(resp, "response_range"), "kvs"), 0);
		if (kv != NULL && etcd_json_i64(kv, "lease", &lease) && lease == e->lease)
			etcd_json_i64(kv, "create_revision", &id);
		if (id == 0) {
			keel_free(*name);
			*name = NULL; /* take another name */
			(*tries)++;
			etcd_schedule_retry(e);
			return;
		}
	}
	if (ct != NULL)
		ct->id = (uint64_t)id;
	else
		m->id = (uint64_t)id;
	*state = E_HAVE;
	*tries = 0;
	etcd_evaluate(e);
}

/* An own key vanished while the lease seemed alive: check the lease before making another. */
static void own_key_gone(struct etcd *e, char **name, int *state, bool *recheck)
{
	keel_free(*name);
	*name = NULL;
	*state = E_IDLE;
	*recheck = true;
	etcd_verify_lease(e);
}

void etcd_evaluate(struct etcd *e)
{
	struct coord *c = e->c;
	const struct etcd_kv *low = NULL;
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_member *m;
	struct coord_watch *w;
	size_t i;

	if (!e->synced || c->closing)
		return;
	for (i = 0; i < e->nkvs && low == NULL; i++)
		if (has_prefix(e->kvs[i].key, e->elect))
			low = &e->kvs[i];
	for (ct = c->cts; ct != NULL && !c->closing; ct = ct->next) {
		if (ct->dead || ct->state != E_HAVE || !e->lease_ok || e->rev < (int64_t)ct->id)
			continue;
		const struct etcd_kv *own = mirror_find(e, ct->name);
		if (own == NULL) {
			char key[300];
			snprintf(key, sizeof(key), "%s", ct->name);
			own_key_gone(e, &ct->name, &ct->state, &ct->recheck);
			coord_contender_lost(ct, -EIDRM, "key %s was deleted", key);
		} else if (own == low) {
			coord_contender_elected(ct, ct->id);
		} else if (ct->leading) {
			coord_contender_lost(ct, -EIDRM, "key %s is no longer the lowest",
					     ct->name);
		}
	}
	for (m = c->mems; m != NULL && !c->closing; m = m->next) {
		if (m->dead || m->state != E_HAVE || !e->lease_ok || e->rev < (int64_t)m->id)
			continue;
		if (mirror_find(e, m->name) == NULL)
			own_key_gone(e, &m->name, &m->state, &m->recheck);
	}
	for (d = c->dets; d != NULL && !c->closing; d = d->next) {
		if (d->dead)
			continue;
		if (low != NULL)
			coord_detector_leader(d, low->key, (uint64_t)low->create_rev, low->value,
					      low->vlen);
		else
			coord_detector_none(d, 0, NULL);
	}
	for (w = c->watches; w != NULL && !c->closing; w = w->next) {
		char gp[300];
		struct coord_member_info *mi;
		size_t n = 0;
		if (w->dead)
			continue;
		snprintf(gp, sizeof(gp), "%s%s/", e->members, w->group);
		mi = e->nkvs > 0 ? keel_calloc(e->nkvs, sizeof(*mi)) : NULL;
		if (mi == NULL && e->nkvs > 0) {
			etcd_schedule_retry(e);
			continue;
		}
		for (i = 0; i < e->nkvs; i++) {
			if (!has_prefix(e->kvs[i].key, gp))
				continue;
			mi[n].name = e->kvs[i].key;
			mi[n].id = (uint64_t)e->kvs[i].create_rev;
			mi[n].payload = e->kvs[i].value;
			mi[n].len = e->kvs[i].vlen;
			n++;
		}
		coord_watch_report(w, mi, n, 0);
		keel_free(mi);
	}
}

void etcd_recipes_reset(struct etcd *e, int reason, const char *msg)
{
	coord_children_reset(e->c);
	coord_children_lost(e->c, reason, msg);
}

static void etcd_orphan(struct etcd *e, const void *owner)
{
	struct etcd_op *op;

	for (op = e->ops.next; op != &e->ops; op = op->next)
		if (op->owner == owner)
			op->owner = NULL;
}

/* An object is going: forget its requests, and delete its key if it has one. */
static void own_gone(struct etcd *e, const void *owner, const char *name, int state)
{
	etcd_orphan(e, owner);
	if (name != NULL && state == E_HAVE)
		etcd_delete_key(e, name);
}

void etcd_contender_gone(struct coord_contender *ct)
{
	own_gone(ct->c->be, ct, ct->name, ct->state);
}

void etcd_member_gone(struct coord_member *m)
{
	own_gone(m->c->be, m, m->name, m->state);
}
