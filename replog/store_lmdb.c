/* The replog store on LMDB: overlay of queued writes, storage thread with group commit + fsync. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "record.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/failpoint.h"
#include "runtime/loop.h"

#define STORE_MAP_DEFAULT (64u << 20)
/* How long lazy submissions wait for an urgent one to share its transaction. */
#define STORE_LAZY_NS 5000000

/* One submission: its writes, copied, with values in the same allocation. */
struct store_batch {
	uint64_t seq;		     /* submission number */
	size_t n;		     /* number of writes */
	struct replog_write *w;	     /* the writes (values point into this allocation) */
	struct store_batch *q_next;  /* storage queue link (under mu) */
	struct store_batch *ov_prev; /* overlay list, older (loop thread) */
	struct store_batch *ov_next; /* overlay list, newer (loop thread) */
};

struct replog_store {
	struct replog_store_config cfg; /* copy of the config (path not owned after open) */
	MDB_env *env;			/* the environment */
	MDB_dbi dbi_meta;		/* "meta" database */
	MDB_dbi dbi_actions;		/* "actions" database */
	MDB_txn *rtxn;		   /* loop thread's reusable read transaction (reset when idle) */
	pthread_rwlock_t map_lock; /* readers vs. the storage thread resizing the map */
	struct keel_async *async;  /* wakes the loop on a durability report */

	/* Loop thread only. */
	struct store_batch *ov_old;    /* overlay: oldest uncommitted submission */
	struct store_batch *ov_new;    /* overlay: newest */
	uint64_t next_seq;	       /* last seq handed out */
	uint64_t durable_seq;	       /* highest seq reported durable to the loop */
	bool error_reported;	       /* on_durable already told of the current failure */
	void **reads;		       /* copies handed out by replog_store_read */
	size_t n_reads;		       /* number of copies */
	size_t cap_reads;	       /* capacity of reads */
	char errmsg[KEEL_ERRMSG_SIZE]; /* last loop-side error */

	/* Shared with the storage thread, under mu. */
	pthread_mutex_t mu;		      /* guards the fields below */
	pthread_cond_t cond_work;	      /* the thread waits for work or stop */
	pthread_cond_t cond_done;	      /* flush waits for progress */
	struct store_batch *q_head;	      /* queued, not yet taken by the thread */
	struct store_batch *q_tail;	      /* last queued */
	bool q_urgent;			      /* the queue holds a non-lazy submission */
	uint64_t committed_seq;		      /* highest seq durable on disk */
	uint64_t taken_seq;		      /* highest seq the thread has taken */
	int error;			      /* 0 or the failure that stops writes */
	bool error_sticky;		      /* the failure cannot be recovered (fsync) */
	bool stop;			      /* close asked the thread to finish */
	struct replog_store_stats stats;      /* counters */
	char thread_errmsg[KEEL_ERRMSG_SIZE]; /* the thread's failure message */
	pthread_t thread;		      /* the storage thread */
	bool thread_started;		      /* thread is joinable */
};

static int store_lmdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EBADMSG;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* --- Storage thread. --- */

static int store_apply(struct replog_store *s, MDB_txn *txn, const struct replog_write *w,
		       bool *map_full, char *errmsg)
{
	unsigned char key[REPLOG_RECORD_KEY_SIZE];
	MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
	int rc;

	switch (w->kind) {
	case REPLOG_WRITE_META: {
		unsigned char rec[REPLOG_RECORD_META_SIZE];
		replog_record_meta_encode(&w->meta, rec);
		k.mv_size = 4;
		k.mv_data = "meta";
		v.mv_size = sizeof(rec);
		v.mv_data = rec;
		rc = mdb_put(txn, s->dbi_meta, &k, &v, 0);
		*map_full = rc == MDB_MAP_FULL;
		if (rc)
			return keel_errf(errmsg, store_lmdb_err(rc), "write metadata: %s",
					 mdb_strerror(rc));
		return 0;
	}
	case REPLOG_WRITE_ACTION:
		replog_record_key(w->action.position, key);
		v.mv_size = replog_record_action_size(&w->action);
		v.mv_data = NULL;
		rc = mdb_put(txn, s->dbi_actions, &k, &v, MDB_RESERVE);
		*map_full = rc == MDB_MAP_FULL;
		if (rc)
			return keel_errf(errmsg, store_lmdb_err(rc), "write action %" PRIu64 ": %s",
					 w->action.position, mdb_strerror(rc));
		replog_record_action_encode(&w->action, v.mv_data);
		return 0;
	case REPLOG_WRITE_DELETE_BELOW: {
		/* Cost proportional to the entries present below, never to the range. */
		MDB_cursor *cur;
		uint64_t pos;
		rc = mdb_cursor_open(txn, s->dbi_actions, &cur);
		if (rc)
			return keel_errf(errmsg, store_lmdb_err(rc), "truncate: %s",
					 mdb_strerror(rc));
		for (;;) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
			if (rc == MDB_NOTFOUND) {
				rc = 0;
				break;
			}
			if (rc)
				break;
			if (replog_record_key_decode(k.mv_data, k.mv_size, &pos) < 0) {
				mdb_cursor_close(cur);
				return keel_errf(errmsg, -EBADMSG, "truncate: key of %zu bytes",
						 k.mv_size);
			}
			if (pos >= w->below)
				break;
			rc = mdb_cursor_del(cur, 0);
			if (rc)
				break;
		}
		mdb_cursor_close(cur);
		*map_full = rc == MDB_MAP_FULL;
		if (rc)
			return keel_errf(errmsg, store_lmdb_err(rc),
					 "truncate below %" PRIu64 ": %s", w->below,
					 mdb_strerror(rc));
		return 0;
	}
	default:
		return keel_errf(errmsg, -EINVAL, "unknown write kind %u", w->kind);
	}
}

/* Grows the map (doubling, capped at map_max); false when it cannot. */
static bool store_grow_map(struct replog_store *s)
{
	size_t cur, next;
	int rc;

	pthread_mutex_lock(&s->mu);
	cur = (size_t)s->stats.map_size;
	pthread_mutex_unlock(&s->mu);
	if (s->cfg.map_max <= cur)
		return false;
	next = cur > s->cfg.map_max / 2 ? s->cfg.map_max : cur * 2;
	pthread_rwlock_wrlock(&s->map_lock);
	rc = mdb_env_set_mapsize(s->env, next);
	pthread_rwlock_unlock(&s->map_lock);
	if (rc)
		return false;
	pthread_mutex_lock(&s->mu);
	s->stats.map_size = next;
	s->stats.map_grows++;
	pthread_mutex_unlock(&s->mu);
	return true;
}

/*
 * Commits one group: all its writes in one transaction, then the fsync that
 * makes the meta page durable (MDB_NOMETASYNC: the commit synced the data
 * pages before writing the meta page, so the meta page never points at
 * pages that are not on disk). Sets *sticky for failures after which the
 * disk state is unknown.
 */
static int store_commit_group(struct replog_store *s, struct store_batch *group, bool *sticky,
			      char *errmsg)
{
	MDB_txn *txn;
	bool map_full;
	int rc, rv;

	*sticky = false;
	for (;;) {
		map_full = false;
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc) {
			*sticky = true;
			return keel_errf(errmsg, store_lmdb_err(rc), "begin transaction: %s",
					 mdb_strerror(rc));
		}
		rv = 0;
		for (struct store_batch *b = group; b && rv == 0; b = b->q_next)
			for (size_t i = 0; i < b->n && rv == 0; i++)
				rv = store_apply(s, txn, &b->w[i], &map_full, errmsg);
		if (rv == 0) {
			rv = KEEL_FAILPOINT("replog_store_before_commit");
			if (rv < 0)
				keel_errf(errmsg, rv, "failpoint before commit: %s", strerror(-rv));
		}
		if (rv < 0) {
			mdb_txn_abort(txn);
			if (map_full && store_grow_map(s))
				continue;
			if (map_full)
				keel_errf(errmsg, -ENOSPC,
					  "LMDB map full at %" PRIu64
					  " bytes and map_max reached: raise the map size",
					  s->stats.map_size);
			*sticky = rv != -ENOSPC;
			return rv;
		}
		rc = mdb_txn_commit(txn);
		if (rc == MDB_MAP_FULL && store_grow_map(s))
			continue;
		if (rc) {
			/* The commit wrote nothing the meta page points at: safe unless it was I/O.
			 */
			rv = store_lmdb_err(rc);
			*sticky = rv != -ENOSPC;
			return keel_errf(errmsg, rv, "commit: %s", mdb_strerror(rc));
		}
		break;
	}
	rv = KEEL_FAILPOINT("replog_store_before_fsync");
	if (rv == 0) {
		rc = mdb_env_sync(s->env, 1);
		rv = store_lmdb_err(rc);
	}
	if (rv < 0) {
		*sticky = true;
		return keel_errf(errmsg, rv,
				 "fsync failed (%s): what reached the disk is unknown, the store "
				 "takes no more writes until reopened",
				 strerror(-rv));
	}
	rv = KEEL_FAILPOINT("replog_store_after_fsync");
	if (rv < 0) {
		*sticky = true;
		return keel_errf(errmsg, rv, "failpoint after fsync: %s", strerror(-rv));
	}
	return 0;
}

static void *store_thread_main(void *arg)
{
	struct replog_store *s = arg;
	char errmsg[KEEL_ERRMSG_SIZE];

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct store_batch *group, *last;
		uint64_t n_batches = 0, n_writes = 0;
		bool sticky;
		int rv;

		while (!s->stop && (s->q_head == NULL || s->error))
			pthread_cond_wait(&s->cond_work, &s->mu);
		if (s->q_head == NULL || s->error)
			break; /* stopping, nothing (more) to commit */
		if (!s->q_urgent && !s->stop) {
			/* Only lazy writes: give an urgent one STORE_LAZY_NS to join them. */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += STORE_LAZY_NS;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			while (!s->q_urgent && !s->stop && !s->error &&
			       pthread_cond_timedwait(&s->cond_work, &s->mu, &until) == 0)
				;
			if (s->error || s->q_head == NULL)
				continue;
		}
		s->q_urgent = false;
		group = s->q_head;
		last = s->q_tail;
		s->q_head = s->q_tail = NULL;
		s->taken_seq = last->seq;
		pthread_mutex_unlock(&s->mu);

		for (struct store_batch *b = group; b; b = b->q_next) {
			n_batches++;
			n_writes += b->n;
		}
		errmsg[0] = '\0';
		rv = store_commit_group(s, group, &sticky, errmsg);

		pthread_mutex_lock(&s->mu);
		if (rv == 0) {
			s->committed_seq = last->seq;
			s->stats.commits++;
			s->stats.fsyncs++;
			s->stats.writes += n_writes;
			s->stats.batch_last = n_batches;
			if (n_batches > s->stats.batch_max)
				s->stats.batch_max = n_batches;
		} else {
			s->error = rv;
			s->error_sticky = sticky;
			memcpy(s->thread_errmsg, errmsg, sizeof(errmsg));
		}
		/* `group` belongs to the loop from here on; never touch it again. */
		pthread_cond_broadcast(&s->cond_done);
		if (s->async)
			keel_async_send(s->async);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* --- Loop side. --- */

static void store_batch_free(struct store_batch *b)
{
	keel_free(b);
}

/* Drops committed submissions from the overlay and tells the driver. */
void replog_store_poll(struct replog_store *s)
{
	uint64_t committed;
	int error;

	pthread_mutex_lock(&s->mu);
	committed = s->committed_seq;
	error = s->error;
	if (error && !s->error_reported)
		memcpy(s->errmsg, s->thread_errmsg, sizeof(s->errmsg));
	pthread_mutex_unlock(&s->mu);

	while (s->ov_old && s->ov_old->seq <= committed) {
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

static int store_open_env(struct replog_store *s, char *errmsg)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_env_create(&s->env);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "mdb_env_create: %s",
				 mdb_strerror(rc));
	mdb_env_set_maxdbs(s->env, 2);
	rc = mdb_env_set_mapsize(s->env, s->cfg.map_size);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "set map size %zu: %s",
				 s->cfg.map_size, mdb_strerror(rc));
	/* NOMETASYNC, never NOSYNC: see docs/replog.md, "Durability". */
	rc = mdb_env_open(s->env, s->cfg.path, MDB_NOMETASYNC | MDB_NOTLS, 0600);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "open LMDB in %s: %s", s->cfg.path,
				 mdb_strerror(rc));
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "begin: %s", mdb_strerror(rc));
	rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "actions", MDB_CREATE, &s->dbi_actions);
	if (rc) {
		mdb_txn_abort(txn);
		return keel_errf(errmsg, store_lmdb_err(rc), "open databases in %s: %s",
				 s->cfg.path, mdb_strerror(rc));
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "create databases in %s: %s",
				 s->cfg.path, mdb_strerror(rc));
	rc = mdb_env_sync(s->env, 1);
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "sync %s: %s", s->cfg.path,
				 mdb_strerror(rc));
	{
		MDB_envinfo info;
		mdb_env_info(s->env, &info);
		s->stats.map_size = info.me_mapsize;
	}
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
	if (s->cfg.map_size == 0)
		s->cfg.map_size = STORE_MAP_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond_work, NULL);
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
	if (rv == 0 && cfg->loop) {
		rv = keel_async_new(cfg->loop, store_async_cb, s, &s->async, errmsg);
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
	if (s->thread_started) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_broadcast(&s->cond_work);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	if (s->async)
		keel_async_close(s->async);
	while (s->ov_old) {
		struct store_batch *b = s->ov_old;
		s->ov_old = b->ov_next;
		store_batch_free(b);
	}
	replog_store_release_reads(s);
	keel_free(s->reads);
	if (s->rtxn)
		mdb_txn_abort(s->rtxn);
	if (s->env)
		mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->map_lock);
	pthread_cond_destroy(&s->cond_done);
	pthread_cond_destroy(&s->cond_work);
	pthread_mutex_destroy(&s->mu);
	keel_free(s);
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
		if (b->w[i].kind == REPLOG_WRITE_ACTION && a->type == REPLOG_ACTION_APPEND &&
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
	pthread_cond_signal(&s->cond_work);
	pthread_mutex_unlock(&s->mu);
	*seq = b->seq;
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

int replog_store_read(struct replog_store *s, uint64_t position, struct replog_action *out)
{
	unsigned char key[REPLOG_RECORD_KEY_SIZE];
	MDB_val k = {.mv_size = sizeof(key), .mv_data = key}, v;
	int rc, rv;

	/* The newest queued write that says anything about `position` decides. */
	for (struct store_batch *b = s->ov_new; b; b = b->ov_prev) {
		for (size_t i = b->n; i-- > 0;) {
			const struct replog_write *w = &b->w[i];
			if (w->kind == REPLOG_WRITE_ACTION && w->action.position == position) {
				*out = w->action;
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
		if (rv == 0 && out->len > 0) {
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
	s->q_urgent = true; /* lazy submissions too: commit now */
	pthread_cond_signal(&s->cond_work);
	while (s->committed_seq < want && s->error == 0)
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
		/* Committed submissions are on disk; the rest are dropped. */
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
