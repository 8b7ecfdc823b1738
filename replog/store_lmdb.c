/* The replog store on LMDB, loop side: open, submissions and their overlay, reads, reports. */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/loop.h"

#define STORE_MAP_DEFAULT (64u << 20)

static void store_lazy_due(struct keel_timer *t, void *arg);

static void store_batch_free(struct store_batch *b)
{
	keel_free(b);
}

/* Drops submissions LMDB holds from the overlay and reports durability to the driver. */
void replog_store_poll(struct replog_store *s)
{
	uint64_t committed, applied;
	int error;

	pthread_mutex_lock(&s->mu);
	committed = s->committed_seq;
	applied = s->applied_seq;
	error = s->error;
	if (error && !s->error_reported)
		memcpy(s->errmsg, s->thread_errmsg, sizeof(s->errmsg));
	pthread_mutex_unlock(&s->mu);

	while (s->ov_old && s->ov_old->seq <= applied) {
		struct store_batch *b = s->ov_old;
		s->ov_old = b->ov_next;
		if (s->ov_old)
			s->ov_old->ov_prev = NULL;
		else
			s->ov_new = NULL;
		store_batch_free(b);
	}
	if (committed > s->durable_seq) {
		s->durable_seq = committed;
		if (s->cfg.on_durable)
			s->cfg.on_durable(s, committed, 0, s->cfg.arg);
	}
	if (error && !s->error_reported) {
		s->error_reported = true;
		if (s->cfg.on_durable)
			s->cfg.on_durable(s, s->durable_seq, error, s->cfg.arg);
	}
}

static void store_async_cb(struct keel_async *a, void *arg)
{
	(void)a;
	replog_store_poll(arg);
}

/*
 * One attempt at the opening transaction: the databases, then everything of
 * the write-ahead log that LMDB does not hold yet, then a new epoch for this
 * session's log records (store_wal.c says why), all in one commit.
 */
static int store_open_txn(struct replog_store *s, bool *map_full, char *errmsg)
{
	MDB_val k = {.mv_size = 3, .mv_data = "wal"}, v;
	uint64_t epoch = 0, applied = 0, last;
	MDB_txn *txn;
	int rc, rv;

	*map_full = false;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "begin: %s", mdb_strerror(rc));
	rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "actions", MDB_CREATE, &s->dbi_actions);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "learned", MDB_CREATE, &s->dbi_learned);
	if (rc) {
		mdb_txn_abort(txn);
		*map_full = rc == MDB_MAP_FULL;
		return keel_errf(errmsg, store_lmdb_err(rc), "open databases in %s: %s",
				 s->cfg.path, mdb_strerror(rc));
	}
	rc = mdb_get(txn, s->dbi_meta, &k, &v);
	if (rc == 0)
		rv = replog_record_wal_state_decode(v.mv_data, v.mv_size, &epoch, &applied, errmsg);
	else if (rc == MDB_NOTFOUND)
		rv = 0;
	else
		rv = keel_errf(errmsg, store_lmdb_err(rc), "read wal state: %s", mdb_strerror(rc));
	if (rv == 0)
		rv = store_wal_replay(s, txn, epoch, applied, &last, map_full, errmsg);
	if (rv == 0) {
		s->wal.epoch = epoch + 1;
		rv = store_put_wal_state(s, txn, last, map_full, errmsg);
	}
	if (rv < 0) {
		mdb_txn_abort(txn);
		return keel_errwrap(errmsg, rv, "%s", s->cfg.path);
	}
	rc = mdb_txn_commit(txn);
	if (rc) {
		*map_full = rc == MDB_MAP_FULL;
		return keel_errf(errmsg, store_lmdb_err(rc), "create databases in %s: %s",
				 s->cfg.path, mdb_strerror(rc));
	}
	rc = mdb_env_sync(s->env, 1);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "sync %s: %s", s->cfg.path,
				 mdb_strerror(rc));
	s->seq_base = last;
	return 0;
}

/*
 * Takes <path>/owner with an exclusive flock, so a second process (a second master or
 * `keel-log` on a live replica) is refused before it touches the data: -EBUSY naming the pid
 * that holds it. The lock goes with the process, however it ends.
 */
static int store_take_owner(struct replog_store *s, char *errmsg)
{
	char name[4096 + 16], text[32];
	int n;

	snprintf(name, sizeof(name), "%s/owner", s->cfg.path);
	s->owner_fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->owner_fd < 0)
		return keel_errno_f(errmsg, -errno, "open %s", name);
	if (flock(s->owner_fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		ssize_t r = pread(s->owner_fd, text, sizeof(text) - 1, 0);
		text[r > 0 ? r : 0] = '\0';
		text[strcspn(text, "\n")] = '\0';
		if (err == EWOULDBLOCK)
			return keel_errf(errmsg, -EBUSY,
					 "replica store %s is in use by another process (pid %s)",
					 s->cfg.path, text[0] ? text : "unknown");
		return keel_errno_f(errmsg, -err, "lock %s", name);
	}
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(s->owner_fd, 0) < 0 || pwrite(s->owner_fd, text, (size_t)n, 0) != n)
		return keel_errno_f(errmsg, -errno, "write %s", name);
	return 0;
}

static int store_open_env(struct replog_store *s, char *errmsg)
{
	MDB_envinfo info;
	MDB_stat mst;
	bool map_full;
	int rc, rv;

	rv = store_take_owner(s, errmsg);
	if (rv < 0)
		return rv;
	rc = mdb_env_create(&s->env);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "mdb_env_create: %s",
				 mdb_strerror(rc));
	mdb_env_set_maxdbs(s->env, 3);
	rc = mdb_env_set_mapsize(s->env, s->cfg.map_size);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "set map size %zu: %s",
				 s->cfg.map_size, mdb_strerror(rc));
	/* NOMETASYNC, never NOSYNC: see docs/replog.md, "Durability". */
	rc = mdb_env_open(s->env, s->cfg.path, MDB_NOMETASYNC | MDB_NOTLS, 0600);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "open LMDB in %s: %s", s->cfg.path,
				 mdb_strerror(rc));
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &mst);
	s->stats.map_size = info.me_mapsize;
	s->psize = mst.ms_psize;
	rv = store_wal_open(&s->wal, s->cfg.path, errmsg);
	if (rv < 0)
		return rv;
	do {
		rv = store_open_txn(s, &map_full, errmsg);
	} while (rv < 0 && map_full && store_grow_map(s));
	if (rv < 0)
		return rv;
	if (mdb_env_get_fd(s->env, &s->data_fd) != 0)
		s->data_fd = -1;
	return 0;
}

/* Starts the loop's read transaction (renewing the idle one). Caller holds map_lock (read). */
static int store_rtxn_begin(struct replog_store *s)
{
	int rc;

	if (s->rtxn)
		rc = mdb_txn_renew(s->rtxn);
	else
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
	if (rc)
		return keel_errf(s->errmsg, store_lmdb_err(rc), "read transaction: %s",
				 mdb_strerror(rc));
	return 0;
}

static void store_rtxn_end(struct replog_store *s)
{
	mdb_txn_reset(s->rtxn);
}

int replog_store_meta(struct replog_store *s, struct replog_meta *out)
{
	MDB_val k = {.mv_size = 4, .mv_data = "meta"}, v;
	int rc, rv;

	pthread_rwlock_rdlock(&s->map_lock);
	rv = store_rtxn_begin(s);
	if (rv == 0) {
		rc = mdb_get(s->rtxn, s->dbi_meta, &k, &v);
		if (rc == MDB_NOTFOUND)
			rv = -ENOENT;
		else if (rc)
			rv = keel_errf(s->errmsg, store_lmdb_err(rc), "read metadata: %s",
				       mdb_strerror(rc));
		else
			rv = replog_record_meta_decode(v.mv_data, v.mv_size, out, s->errmsg);
		store_rtxn_end(s);
	}
	pthread_rwlock_unlock(&s->map_lock);
	return rv;
}

int replog_store_open(const struct replog_store_config *cfg, struct replog_store **out,
		      char *errmsg)
{
	struct replog_store *s;
	struct replog_meta meta;
	int rv;

	*out = NULL;
	if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "store: no path");
	if (mkdir(cfg->path, 0700) < 0 && errno != EEXIST)
		return keel_errno_f(errmsg, -errno, "mkdir %s", cfg->path);
	s = keel_calloc(1, sizeof(*s));
	if (s == NULL)
		return keel_errf(errmsg, -ENOMEM, "store: out of memory");
	s->cfg = *cfg;
	s->data_fd = -1;
	s->owner_fd = -1;
	s->wal.fd = -1;
	if (s->cfg.map_size == 0)
		s->cfg.map_size = STORE_MAP_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	{
		/* The thread's timed waits count CLOCK_MONOTONIC time. */
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->cond_work, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_cond_init(&s->cond_done, NULL);
	pthread_rwlock_init(&s->map_lock, NULL);

	rv = store_open_env(s, errmsg);
	if (rv == 0) {
		rv = replog_store_meta(s, &meta);
		if (rv == -ENOENT)
			rv = 0;
		else if (rv < 0)
			keel_errf(errmsg, rv, "%s: %s", cfg->path, s->errmsg);
	}
	if (rv == 0) {
		rv = replog_trace_open(cfg->trace, cfg->trace_node, "store", &s->trace);
		if (rv < 0)
			keel_errf(errmsg, rv, "trace %s: %s", cfg->trace, strerror(-rv));
	}
	if (rv == 0 && cfg->loop) {
		rv = keel_async_new(cfg->loop, store_async_cb, s, &s->async, errmsg);
		if (rv == 0 && keel_timer_new(cfg->loop, store_lazy_due, s, &s->lazy_timer) < 0)
			rv = keel_errf(errmsg, -ENOMEM, "store: out of memory");
	}
	if (rv == 0) {
		int e = pthread_create(&s->thread, NULL, store_thread_main, s);
		if (e)
			rv = keel_errno_f(errmsg, -e, "start storage thread");
		else
			s->thread_started = true;
	}
	if (rv < 0) {
		replog_store_close(s);
		return rv;
	}
	*out = s;
	return 0;
}

void replog_store_release_reads(struct replog_store *s)
{
	for (size_t i = 0; i < s->n_reads; i++)
		keel_free(s->reads[i]);
	s->n_reads = 0;
}

void replog_store_close(struct replog_store *s)
{
	if (s == NULL)
		return;
	keel_timer_free(s->lazy_timer); /* the thread commits what is queued before it stops */
	if (s->thread_started) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_broadcast(&s->cond_work);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	if (s->async)
		keel_async_close(s->async);
	replog_trace_close(s->trace);
	while (s->ov_old) {
		struct store_batch *b = s->ov_old;
		s->ov_old = b->ov_next;
		store_batch_free(b);
	}
	replog_store_release_reads(s);
	keel_free(s->reads);
	store_wal_close(&s->wal);
	if (s->rtxn)
		mdb_txn_abort(s->rtxn);
	if (s->env)
		mdb_env_close(s->env);
	if (s->owner_fd >= 0)
		close(s->owner_fd); /* releases the lock, after LMDB is closed */
	pthread_rwlock_destroy(&s->map_lock);
	pthread_cond_destroy(&s->cond_done);
	pthread_cond_destroy(&s->cond_work);
	pthread_mutex_destroy(&s->mu);
	keel_free(s);
}

/*
 * Sets a->learned when the action `a` (read from LMDB in txn) has a learned
 * mark with its ballot. 0, or -EBADMSG / an LMDB error with a message.
 */
static int store_mark_merge(struct replog_store *s, MDB_txn *txn, struct replog_action *a)
{
	unsigned char key[REPLOG_RECORD_KEY_SIZE];
	MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
	uint64_t ballot;
	int rc, rv;

	if (a->learned)
		return 0;
	replog_record_key(a->position, key);
	rc = mdb_get(txn, s->dbi_learned, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return keel_errf(s->errmsg, store_lmdb_err(rc), "read learned mark %" PRIu64 ": %s",
				 a->position, mdb_strerror(rc));
	rv = replog_record_mark_decode(a->position, v.mv_data, v.mv_size, &ballot, s->errmsg);
	if (rv < 0)
		return rv;
	/* A mark for another ballot is about an action no longer there: ignore it. */
	if (ballot == a->ballot)
		a->learned = true;
	return 0;
}

struct store_scan_state {
	int (*cb)(void *arg, const struct replog_action *a); /* the caller's callback */
	void *arg;					     /* its argument */
};

int replog_store_scan(struct replog_store *s, uint64_t from,
		      int (*cb)(void *arg, const struct replog_action *a), void *arg)
{
	unsigned char key[REPLOG_RECORD_KEY_SIZE];
	MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
	MDB_cursor *cur = NULL;
	MDB_cursor_op op = MDB_SET_RANGE;
	int rc, rv;

	replog_record_key(from, key);
	pthread_rwlock_rdlock(&s->map_lock);
	rv = store_rtxn_begin(s);
	if (rv < 0)
		goto out_unlock;
	rc = mdb_cursor_open(s->rtxn, s->dbi_actions, &cur);
	if (rc) {
		rv = keel_errf(s->errmsg, store_lmdb_err(rc), "scan: %s", mdb_strerror(rc));
		goto out;
	}
	for (;;) {
		struct replog_action a;
		uint64_t pos;

		rc = mdb_cursor_get(cur, &k, &v, op);
		op = MDB_NEXT;
		if (rc == MDB_NOTFOUND)
			break;
		if (rc) {
			rv = keel_errf(s->errmsg, store_lmdb_err(rc), "scan: %s", mdb_strerror(rc));
			break;
		}
		if (replog_record_key_decode(k.mv_data, k.mv_size, &pos) < 0) {
			rv = keel_errf(s->errmsg, -EBADMSG, "scan: key of %zu bytes", k.mv_size);
			break;
		}
		rv = replog_record_action_decode(pos, v.mv_data, v.mv_size, &a, s->errmsg);
		if (rv == 0)
			rv = store_mark_merge(s, s->rtxn, &a);
		if (rv < 0)
			break;
		rv = cb(arg, &a);
		if (rv != 0)
			break;
	}
	mdb_cursor_close(cur);
out:
	store_rtxn_end(s);
out_unlock:
	pthread_rwlock_unlock(&s->map_lock);
	return rv;
}

static int store_submit(struct replog_store *s, const struct replog_write *w, size_t n, bool lazy,
			uint64_t *seq);
static int store_read(struct replog_store *s, uint64_t position, struct replog_action *out,
		      bool copy);

int replog_store_submit(struct replog_store *s, const struct replog_write *w, size_t n,
			uint64_t *seq)
{
	return store_submit(s, w, n, false, seq);
}

int replog_store_submit_lazy(struct replog_store *s, const struct replog_write *w, size_t n,
			     uint64_t *seq)
{
	return store_submit(s, w, n, true, seq);
}

/* Lazy submissions waited STORE_LAZY_MS and no urgent one took them: commit them now. */
static void store_lazy_due(struct keel_timer *t, void *arg)
{
	struct replog_store *s = arg;
	(void)t;
	pthread_mutex_lock(&s->mu);
	if (s->q_head)
		s->q_urgent = true;
	pthread_mutex_unlock(&s->mu);
	pthread_cond_signal(&s->cond_work);
}

void replog_store_kick(struct replog_store *s)
{
	if (!s->lazy_unkicked)
		return;
	s->lazy_unkicked = false;
	if (s->lazy_timer == NULL) {
		pthread_cond_signal(&s->cond_work); /* no loop: the thread does the waiting */
		return;
	}
	/* The thread sleeps on: the next urgent submission usually comes first and takes them. */
	if (!keel_timer_active(s->lazy_timer) &&
	    keel_timer_start(s->lazy_timer, STORE_LAZY_MS, 0) < 0)
		pthread_cond_signal(&s->cond_work);
}

/*
 * Like store_read without the value: ballot, type and learned flag of the
 * action at `position` (a learned mark in LMDB is not looked at: the caller
 * then writes one more, which is harmless). 0, or < 0 when absent or
 * unreadable.
 */
static int store_peek(struct replog_store *s, uint64_t position, struct replog_action *out)
{
	unsigned char key[REPLOG_RECORD_KEY_SIZE];
	MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
	int rv;

	for (struct store_batch *b = s->ov_new; b; b = b->ov_prev) {
		for (size_t i = b->n; i-- > 0;) {
			const struct replog_write *w = &b->w[i];
			if ((w->kind == REPLOG_WRITE_ACTION || w->kind == STORE_WRITE_MARK) &&
			    w->action.position == position) {
				*out = w->action;
				out->learned = out->learned || w->kind == STORE_WRITE_MARK;
				return 0;
			}
			if (w->kind == REPLOG_WRITE_DELETE_BELOW && position < w->below)
				return -ENOENT;
		}
	}
	memset(out, 0, sizeof(*out));
	replog_record_key(position, key);
	pthread_rwlock_rdlock(&s->map_lock);
	rv = store_rtxn_begin(s);
	if (rv == 0) {
		if (mdb_get(s->rtxn, s->dbi_actions, &k, &v) != 0)
			rv = -ENOENT;
		else
			rv = replog_record_action_peek(v.mv_data, v.mv_size, &out->ballot,
						       &out->type, &out->learned);
		store_rtxn_end(s);
	}
	pthread_rwlock_unlock(&s->map_lock);
	return rv;
}

/*
 * True when write i of batch b (a learned ACTION) can be a learned mark: the
 * action it would replace, as the earlier writes of b and everything
 * submitted before left it, is the same (position, ballot), unlearned. Since
 * (position, ballot) names one value, only the learned flag differs.
 */
static bool store_mark_ok(struct replog_store *s, const struct store_batch *b, size_t i)
{
	const struct replog_action *a = &b->w[i].action;
	struct replog_action cur;

	if (b->w[i].kind != REPLOG_WRITE_ACTION || !a->learned || a->tombstone || a->ballot == 0)
		return false;
	for (size_t j = i; j-- > 0;) {
		const struct replog_write *e = &b->w[j];
		if ((e->kind == REPLOG_WRITE_ACTION || e->kind == STORE_WRITE_MARK) &&
		    e->action.position == a->position)
			return e->kind == REPLOG_WRITE_ACTION && !e->action.learned &&
			       e->action.ballot == a->ballot && e->action.type == a->type;
		if (e->kind == REPLOG_WRITE_DELETE_BELOW && a->position < e->below)
			return false;
	}
	return store_peek(s, a->position, &cur) == 0 && !cur.learned && cur.ballot == a->ballot &&
	       cur.type == a->type;
}

static int store_submit(struct replog_store *s, const struct replog_write *w, size_t n, bool lazy,
			uint64_t *seq)
{
	struct store_batch *b;
	size_t bytes = sizeof(*b) + n * sizeof(*w);
	char *p;
	int error;

	pthread_mutex_lock(&s->mu);
	error = s->error;
	if (error)
		keel_errf(s->errmsg, error, "store failed: %s", s->thread_errmsg);
	pthread_mutex_unlock(&s->mu);
	if (error)
		return error;
	if (n == 0) {
		*seq = s->next_seq;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (w[i].kind == REPLOG_WRITE_ACTION && w[i].action.type == REPLOG_ACTION_APPEND)
			bytes += w[i].action.len;
	b = keel_malloc(bytes);
	if (b == NULL)
		return keel_errf(s->errmsg, -ENOMEM, "store: out of memory");
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->w = (struct replog_write *)(b + 1);
	memcpy(b->w, w, n * sizeof(*w));
	p = (char *)(b->w + n);
	for (size_t i = 0; i < n; i++) {
		struct replog_action *a = &b->w[i].action;
		if (store_mark_ok(s, b, i)) {
			b->w[i].kind = STORE_WRITE_MARK;
			a->value = NULL;
			a->len = 0;
		} else if (b->w[i].kind == REPLOG_WRITE_ACTION && a->type == REPLOG_ACTION_APPEND &&
			   a->len > 0) {
			memcpy(p, a->value, a->len);
			a->value = p;
			p += a->len;
		} else if (b->w[i].kind == REPLOG_WRITE_ACTION) {
			a->value = NULL;
			a->len = 0;
		}
	}
	b->seq = ++s->next_seq;
	b->ov_prev = s->ov_new;
	if (s->ov_new)
		s->ov_new->ov_next = b;
	else
		s->ov_old = b;
	s->ov_new = b;

	pthread_mutex_lock(&s->mu);
	if (s->q_tail)
		s->q_tail->q_next = b;
	else
		s->q_head = b;
	s->q_tail = b;
	s->stats.submits++;
	if (!lazy)
		s->q_urgent = true;
	pthread_mutex_unlock(&s->mu);
	*seq = b->seq;
	if (lazy) {
		/* Woken by replog_store_kick or by the next urgent submission, whichever first. */
		s->lazy_unkicked = true;
		return 0;
	}
	/* After the unlock: woken under it, the thread would block on mu at once (one more
	 * futex round trip, i.e. a second wake-up, before it can take the group). */
	s->lazy_unkicked = false;
	if (s->lazy_timer)
		keel_timer_stop(s->lazy_timer);
	pthread_cond_signal(&s->cond_work);
	return 0;
}

/* Keeps a copy of `len` bytes for the caller until release_reads. */
static int store_keep(struct replog_store *s, const void *p, size_t len, const void **out)
{
	void *c;

	if (s->n_reads == s->cap_reads) {
		size_t cap = s->cap_reads ? s->cap_reads * 2 : 16;
		void **r = keel_realloc(s->reads, cap * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		s->reads = r;
		s->cap_reads = cap;
	}
	c = keel_malloc(len ? len : 1);
	if (c == NULL)
		return -ENOMEM;
	memcpy(c, p, len);
	s->reads[s->n_reads++] = c;
	*out = c;
	return 0;
}

/*
 * Reads the action at `position` as every submitted write left it. With
 * `copy`, a value read from LMDB is copied for the caller (store_keep);
 * without, out->value is left NULL for LMDB reads (only the rest is wanted).
 */
static int store_read(struct replog_store *s, uint64_t position, struct replog_action *out,
		      bool copy)
{
	unsigned char key[REPLOG_RECORD_KEY_SIZE];
	MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
	uint64_t mark_ballot = 0;
	bool marked = false;
	int rc, rv;

	/* The newest queued write that says anything about `position` decides. */
	for (struct store_batch *b = s->ov_new; b; b = b->ov_prev) {
		for (size_t i = b->n; i-- > 0;) {
			const struct replog_write *w = &b->w[i];
			if (w->kind == STORE_WRITE_MARK && w->action.position == position &&
			    !marked) {
				/* Learned, if the action below it (older) has this ballot. */
				marked = true;
				mark_ballot = w->action.ballot;
				continue;
			}
			if (w->kind == REPLOG_WRITE_ACTION && w->action.position == position) {
				*out = w->action;
				if (marked && out->ballot == mark_ballot)
					out->learned = true;
				return 0;
			}
			if (w->kind == REPLOG_WRITE_DELETE_BELOW && position < w->below)
				return -ENOENT;
		}
	}
	replog_record_key(position, key);
	pthread_rwlock_rdlock(&s->map_lock);
	rv = store_rtxn_begin(s);
	if (rv == 0) {
		rc = mdb_get(s->rtxn, s->dbi_actions, &k, &v);
		if (rc == MDB_NOTFOUND)
			rv = -ENOENT;
		else if (rc)
			rv = keel_errf(s->errmsg, store_lmdb_err(rc), "read %" PRIu64 ": %s",
				       position, mdb_strerror(rc));
		else
			rv = replog_record_action_decode(position, v.mv_data, v.mv_size, out,
							 s->errmsg);
		if (rv == 0)
			rv = store_mark_merge(s, s->rtxn, out);
		if (rv == 0 && marked && out->ballot == mark_ballot)
			out->learned = true;
		if (rv == 0 && !copy) {
			out->value = NULL;
		} else if (rv == 0 && out->len > 0) {
			rv = store_keep(s, out->value, out->len, &out->value);
			if (rv < 0)
				keel_errf(s->errmsg, rv, "read %" PRIu64 ": out of memory",
					  position);
		}
		store_rtxn_end(s);
	}
	pthread_rwlock_unlock(&s->map_lock);
	return rv;
}

int replog_store_read(struct replog_store *s, uint64_t position, struct replog_action *out)
{
	return store_read(s, position, out, true);
}

static int store_ops_read(void *ctx, uint64_t position, struct replog_action *out)
{
	return replog_store_read(ctx, position, out);
}

struct replog_store_ops replog_store_ops(struct replog_store *s)
{
	struct replog_store_ops ops = {.read = store_ops_read, .ctx = s};
	return ops;
}

int replog_store_flush(struct replog_store *s)
{
	uint64_t want = s->next_seq;
	int rv;

	pthread_mutex_lock(&s->mu);
	s->q_urgent = true;  /* lazy submissions too: now */
	s->flush_req = true; /* and the open transaction: scans see everything after a flush */
	pthread_cond_signal(&s->cond_work);
	while (s->applied_seq < want && s->error == 0)
		pthread_cond_wait(&s->cond_done, &s->mu);
	rv = s->error;
	if (rv)
		keel_errf(s->errmsg, rv, "%s", s->thread_errmsg);
	pthread_mutex_unlock(&s->mu);
	replog_store_poll(s);
	return rv;
}

uint64_t replog_store_durable_seq(const struct replog_store *s)
{
	return s->durable_seq;
}

int replog_store_error(struct replog_store *s)
{
	int rv;

	pthread_mutex_lock(&s->mu);
	rv = s->error;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

int replog_store_recover(struct replog_store *s)
{
	uint64_t committed = 0;
	bool recovered = false;
	int rv = 0;

	pthread_mutex_lock(&s->mu);
	if (s->error && s->error_sticky) {
		rv = s->error;
		keel_errf(s->errmsg, rv, "store cannot recover: %s", s->thread_errmsg);
	} else if (s->error) {
		/* The thread is idle while error is set: the queue and overlay are ours. */
		s->q_head = s->q_tail = NULL;
		s->error = 0;
		committed = s->committed_seq;
		recovered = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (recovered) {
		/*
		 * Before failing recoverably the thread committed every durable
		 * submission to LMDB; the rest are dropped.
		 */
		while (s->ov_old) {
			struct store_batch *b = s->ov_old;
			s->ov_old = b->ov_next;
			store_batch_free(b);
		}
		s->ov_new = NULL;
		if (committed > s->durable_seq)
			s->durable_seq = committed;
		s->error_reported = false;
	}
	return rv;
}

void replog_store_stats(struct replog_store *s, struct replog_store_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->mu);
}

const char *replog_store_errmsg(const struct replog_store *s)
{
	return s->errmsg;
}
