/* The replog store's storage thread: group commit through the write-ahead log, lazy LMDB commits.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/failpoint.h"
#include "runtime/loop.h"

#define STORE_LAZY_NS (STORE_LAZY_MS * 1000000ull)
/* Commit the open LMDB transaction at the latest this long after its first group. */
#define STORE_TXN_AGE_NS 50000000
/* ... or once the log holds this much (the log starts again after a commit). */
#define STORE_WAL_COMMIT_BYTES (8u << 20)
/*
 * A group whose log record would be larger goes straight to LMDB: writing
 * it twice (log now, LMDB later) costs more disk bandwidth than the second
 * flush of a direct commit saves (measured, docs/replog.md).
 */
#define STORE_WAL_RECORD_MAX (64u << 10)
/* ... and for this long after a large group went direct, smaller ones follow it. */
#define STORE_DIRECT_STAY_NS 20000000
/* Estimated pages a write adds to a transaction besides its value's own (tree pages). */
#define STORE_PAGES_PER_WRITE 4
/* ... and a transaction as a whole (free list, main database). */
#define STORE_PAGES_PER_TXN 64
/* Keep this much of the data file written (zeros) ahead of LMDB's last page ... */
#define STORE_ZERO_LOW (8u << 20)
/* ... adding this much at a time. */
#define STORE_ZERO_CHUNK (4u << 20)

static uint64_t store_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int store_lmdb_err(int rc)
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

/*
 * Deletes every key below `below` in dbi, with a cursor from the first key:
 * cost proportional to the entries present below, never to the range. 0, an
 * LMDB error code (> 0), or -EBADMSG for a damaged key (message in errmsg).
 */
static int store_delete_below(MDB_txn *txn, MDB_dbi dbi, uint64_t below, char *errmsg)
{
	MDB_val k, v;
	MDB_cursor *cur;
	uint64_t pos;
	int rc;

	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc)
		return rc;
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
			return keel_errf(errmsg, -EBADMSG, "truncate: key of %zu bytes", k.mv_size);
		}
		if (pos >= below)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc;
}

int store_apply(struct replog_store *s, MDB_txn *txn, const struct replog_write *w, bool *map_full,
		char *errmsg)
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
	case STORE_WRITE_MARK: {
		unsigned char rec[REPLOG_RECORD_MARK_SIZE];
		replog_record_key(w->action.position, key);
		replog_record_mark_encode(w->action.position, w->action.ballot, rec);
		v.mv_size = sizeof(rec);
		v.mv_data = rec;
		rc = mdb_put(txn, s->dbi_learned, &k, &v, 0);
		*map_full = rc == MDB_MAP_FULL;
		if (rc)
			return keel_errf(errmsg, store_lmdb_err(rc),
					 "write learned mark %" PRIu64 ": %s", w->action.position,
					 mdb_strerror(rc));
		return 0;
	}
	case REPLOG_WRITE_DELETE_BELOW:
		rc = store_delete_below(txn, s->dbi_actions, w->below, errmsg);
		if (rc == 0)
			rc = store_delete_below(txn, s->dbi_learned, w->below, errmsg);
		*map_full = rc == MDB_MAP_FULL;
		if (rc > 0)
			return keel_errf(errmsg, store_lmdb_err(rc),
					 "truncate below %" PRIu64 ": %s", w->below,
					 mdb_strerror(rc));
		return rc;
	default:
		return keel_errf(errmsg, -EINVAL, "unknown write kind %u", w->kind);
	}
}

/* Grows the map (doubling, capped at map_max); false when it cannot. */
bool store_grow_map(struct replog_store *s)
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

int store_put_wal_state(struct replog_store *s, MDB_txn *txn, uint64_t applied, bool *map_full,
			char *errmsg)
{
	unsigned char rec[REPLOG_RECORD_WAL_STATE_SIZE];
	MDB_val k = {.mv_size = 3, .mv_data = "wal"}, v = {.mv_size = sizeof(rec), .mv_data = rec};
	int rc;

	replog_record_wal_state_encode(s->wal.epoch, applied, rec);
	rc = mdb_put(txn, s->dbi_meta, &k, &v, 0);
	*map_full = rc == MDB_MAP_FULL;
	if (rc)
		return keel_errf(errmsg, store_lmdb_err(rc), "write wal state: %s",
				 mdb_strerror(rc));
	return 0;
}

/* Applies the writes of batches first..last (q_next links) to txn. */
static int store_apply_batches(struct replog_store *s, MDB_txn *txn, struct store_batch *first,
			       const struct store_batch *last, bool *map_full, char *errmsg)
{
	*map_full = false;
	for (struct store_batch *b = first; b; b = b->q_next) {
		for (size_t i = 0; i < b->n; i++) {
			int rv = store_apply(s, txn, &b->w[i], map_full, errmsg);
			if (rv < 0)
				return rv;
		}
		if (b == last)
			break;
	}
	return 0;
}

static int store_fsync_error(char *errmsg, int rv)
{
	return keel_errf(errmsg, rv,
			 "fsync failed (%s): what reached the disk is unknown, the store takes no "
			 "more writes until reopened",
			 strerror(-rv));
}

/* Publishes "committed to LMDB up to seq": the loop may drop those from its overlay. */
static void store_set_applied(struct replog_store *s, uint64_t seq)
{
	s->t_applied = seq;
	pthread_mutex_lock(&s->mu);
	s->applied_seq = seq;
	pthread_mutex_unlock(&s->mu);
}

/*
 * Writes zeros to the data file from s->reserved_end up to `to`, and starts
 * writing them back. 0 or -errno; what was written before a failure counts.
 */
static int store_zero_fill(struct replog_store *s, uint64_t to)
{
	static const char zeros[256u << 10];
	uint64_t from = s->reserved_end;

	while (s->reserved_end < to) {
		size_t n = (size_t)KEEL_MIN(to - s->reserved_end, sizeof(zeros));
		ssize_t w = pwrite(s->data_fd, zeros, n, (off_t)s->reserved_end);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -ENOSPC;
		s->reserved_end += (uint64_t)w;
	}
	/* Start the write-back now, so the next commit's fdatasync finds less to do. */
	sync_file_range(s->data_fd, (off_t)from, (off_t)(s->reserved_end - from),
			SYNC_FILE_RANGE_WRITE);
	return 0;
}

/* LMDB's end of data (bytes); reserved_end caught up with the file size. */
static uint64_t store_data_used(struct replog_store *s, uint64_t *map)
{
	MDB_envinfo info;
	struct stat st;

	mdb_env_info(s->env, &info);
	*map = (uint64_t)info.me_mapsize;
	if (s->reserved_end == 0 && fstat(s->data_fd, &st) == 0)
		s->reserved_end = (uint64_t)st.st_size;
	return ((uint64_t)info.me_last_pgno + 1) * s->psize;
}

/*
 * Says whether `pages` more pages fit in the part of the data file already
 * written (with zeros, ahead of LMDB's last page), writing more zeros when
 * needed: 1 yes, 0 no because the map ends first (LMDB may still manage
 * with pages it freed earlier, or grow the map), -ENOSPC when the file
 * system has no room. A transaction that stays inside written blocks cannot
 * fail for want of space when it commits (file systems that overwrite in
 * place: ext4, xfs, tmpfs), and its data fdatasync only flushes data: no
 * journal commit for new blocks or a new size, about half the cost of an
 * appending fdatasync here (docs/replog.md). LMDB never reads past its last
 * page, so the zeros are never looked at; only this thread writes the file,
 * between transactions, always past LMDB's last page.
 */
static int store_room(struct replog_store *s, uint64_t pages)
{
	uint64_t map, used, need;

	if (s->data_fd < 0)
		return 0;
	used = store_data_used(s, &map);
	need = (pages + STORE_PAGES_PER_TXN) * s->psize;
	if (used + need > map)
		return 0;
	if (used + need <= s->reserved_end)
		return 1;
	if (s->reserved_end < used)
		s->reserved_end = used;
	return store_zero_fill(s, KEEL_MIN(used + need + STORE_ZERO_CHUNK, map)) == 0 ||
		       used + need <= s->reserved_end
		   ? 1
		   : -ENOSPC;
}

/* After a group: keeps STORE_ZERO_LOW bytes written ahead, off the path of the group. */
static void store_zero_ahead(struct replog_store *s)
{
	uint64_t map, used;

	if (s->data_fd < 0)
		return;
	if (s->reserve_pause) {
		s->reserve_pause--;
		return;
	}
	used = store_data_used(s, &map);
	if (s->reserved_end >= KEEL_MIN(used + STORE_ZERO_LOW, map))
		return;
	if (s->reserved_end < used)
		s->reserved_end = used;
	if (store_zero_fill(s, KEEL_MIN(used + STORE_ZERO_LOW + STORE_ZERO_CHUNK, map)) < 0)
		s->reserve_pause = 256; /* a full disk: try again 256 groups later */
}

/* Pages a group may add to a transaction; *direct when it must be committed straight. */
static uint64_t store_group_pages(const struct replog_store *s, struct store_batch *first,
				  size_t *wal_bytes, bool *direct)
{
	uint64_t pages = 0;

	*wal_bytes = REPLOG_RECORD_WAL_HEADER + 4;
	for (struct store_batch *b = first; b; b = b->q_next) {
		*wal_bytes += replog_record_wal_size(b->w, b->n) - REPLOG_RECORD_WAL_HEADER - 4;
		for (size_t i = 0; i < b->n; i++) {
			const struct replog_write *w = &b->w[i];
			if (w->kind == REPLOG_WRITE_DELETE_BELOW)
				*direct = true;
			if (w->kind == REPLOG_WRITE_ACTION) {
				uint64_t rec = replog_record_action_size(&w->action) + 16;
				if (rec > s->psize / 2)
					pages += (rec + s->psize - 1) / s->psize;
			}
			pages += STORE_PAGES_PER_WRITE;
		}
	}
	if (*wal_bytes > STORE_WAL_RECORD_MAX)
		*direct = true;
	return pages;
}

/* Begins s->txn and puts every batch of the open transaction into it again. */
static int store_txn_redo(struct replog_store *s, bool *map_full, char *errmsg)
{
	int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn), rv;

	*map_full = false;
	if (rc) {
		s->txn = NULL;
		return keel_errf(errmsg, store_lmdb_err(rc), "begin transaction: %s",
				 mdb_strerror(rc));
	}
	if (s->txn_first == NULL)
		return 0;
	rv = store_apply_batches(s, s->txn, s->txn_first, s->txn_last, map_full, errmsg);
	if (rv < 0) {
		mdb_txn_abort(s->txn);
		s->txn = NULL;
	}
	return rv;
}

/*
 * Commits the open transaction, whose groups the log already made durable
 * and which were acknowledged. Any failure is sticky: the writes are safe
 * in the log, and the next open replays them (with more room if the map
 * was full).
 */
static int store_txn_commit(struct replog_store *s, char *errmsg)
{
	uint64_t last = s->txn_last->seq;
	bool map_full;
	int rv, rc;

	for (;;) {
		rv = store_put_wal_state(s, s->txn, s->seq_base + last, &map_full, errmsg);
		if (rv == 0) {
			rv = KEEL_FAILPOINT("replog_store_before_apply");
			if (rv < 0)
				keel_errf(errmsg, rv, "failpoint before apply: %s", strerror(-rv));
		}
		if (rv < 0) {
			mdb_txn_abort(s->txn);
		} else {
			REPLOG_TRACE(s->trace, "st_apply", s->txn_first->seq, last, 0);
			rc = mdb_txn_commit(s->txn);
			REPLOG_TRACE(s->trace, "st_applied", (uint64_t)rc, 0, 0);
			map_full = rc == MDB_MAP_FULL;
			if (rc)
				rv = keel_errf(errmsg, store_lmdb_err(rc), "commit: %s",
					       mdb_strerror(rc));
		}
		s->txn = NULL;
		if (rv < 0 && map_full && store_grow_map(s) &&
		    store_txn_redo(s, &map_full, errmsg) == 0)
			continue;
		break;
	}
	if (rv == 0) {
		rv = KEEL_FAILPOINT("replog_store_before_apply_sync");
		if (rv == 0)
			rv = store_lmdb_err(mdb_env_sync(s->env, 1));
		if (rv < 0)
			return store_fsync_error(errmsg, rv);
	} else {
		return keel_errwrap(
		    errmsg, rv,
		    "committing acknowledged writes to LMDB failed; they are in the "
		    "write-ahead log and the next open applies them");
	}
	pthread_mutex_lock(&s->mu);
	s->stats.commits++;
	s->stats.fsyncs += 2; /* the data pages inside the commit, then the meta page */
	pthread_mutex_unlock(&s->mu);
	s->txn_first = s->txn_last = NULL;
	s->txn_pages = 0;
	store_set_applied(s, last);
	s->wal.off = 0; /* LMDB holds everything in the log: start it again */
	return 0;
}

/*
 * Makes a direct commit whose meta page was left unsynced durable: the
 * fdatasync it skipped. Any failure is sticky.
 */
static int store_meta_sync(struct replog_store *s, char *errmsg)
{
	int rv;

	if (s->meta_pending == 0)
		return 0;
	rv = KEEL_FAILPOINT("replog_store_before_fsync");
	if (rv == 0)
		rv = store_lmdb_err(mdb_env_sync(s->env, 1));
	if (rv < 0)
		return store_fsync_error(errmsg, rv);
	rv = KEEL_FAILPOINT("replog_store_after_fsync");
	if (rv < 0)
		return keel_errf(errmsg, rv, "failpoint after fsync: %s", strerror(-rv));
	pthread_mutex_lock(&s->mu);
	s->stats.fsyncs++;
	pthread_mutex_unlock(&s->mu);
	s->t_durable = s->meta_pending;
	s->meta_pending = 0;
	return 0;
}

/*
 * A group straight into LMDB: its own transaction, commit (data fdatasync)
 * and meta fdatasync.
 *
 * The meta fdatasync is skipped while another group is already queued: the
 * next direct commit's own data fdatasync flushes this meta page too (it is
 * a page of the same file, written before), so the group is reported
 * durable once that commit's data fdatasync returned (MDB_NOMETASYNC still
 * orders each commit's data pages before its meta page). Under a steady load
 * of large groups that is one flush per group instead of two. When no
 * direct commit follows, store_meta_sync does the skipped fdatasync. -ENOSPC leaves nothing
 * committed (recoverable); other failures set *sticky.
 */
static int store_group_direct(struct replog_store *s, struct store_batch *first,
			      struct store_batch *last, bool *sticky, char *errmsg)
{
	MDB_txn *txn;
	bool map_full, defer;
	int rc, rv;

	for (;;) {
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc) {
			*sticky = true;
			return keel_errf(errmsg, store_lmdb_err(rc), "begin transaction: %s",
					 mdb_strerror(rc));
		}
		rv = store_apply_batches(s, txn, first, last, &map_full, errmsg);
		if (rv == 0)
			rv =
			    store_put_wal_state(s, txn, s->seq_base + last->seq, &map_full, errmsg);
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
		if (rc == 0 && s->meta_pending) {
			/* Its data fdatasync also flushed the earlier commit's meta page. */
			s->t_durable = s->meta_pending;
			s->meta_pending = 0;
		}
		if (rc && s->meta_pending) {
			char why[KEEL_ERRMSG_SIZE];
			rv = store_meta_sync(s, why);
			if (rv < 0) {
				*sticky = true;
				memcpy(errmsg, why, KEEL_ERRMSG_SIZE);
				return rv;
			}
		}
		if (rc == MDB_MAP_FULL && store_grow_map(s))
			continue;
		if (rc == MDB_MAP_FULL)
			return keel_errf(errmsg, -ENOSPC,
					 "LMDB map full at %" PRIu64
					 " bytes and map_max reached: raise the map size",
					 s->stats.map_size);
		if (rc) {
			/* The commit wrote nothing the meta page points at: safe unless it was I/O.
			 */
			rv = store_lmdb_err(rc);
			*sticky = rv != -ENOSPC;
			return keel_errf(errmsg, rv, "commit: %s", mdb_strerror(rc));
		}
		break;
	}
	pthread_mutex_lock(&s->mu);
	s->stats.commits++;
	s->stats.fsyncs++; /* the data pages, inside the commit */
	defer = s->q_head != NULL && !s->flush_req && !s->stop;
	pthread_mutex_unlock(&s->mu);
	store_set_applied(s, last->seq);
	s->wal.off = 0;
	s->meta_pending = last->seq;
	if (defer)
		return 0;
	rv = store_meta_sync(s, errmsg);
	*sticky = rv < 0;
	return rv;
}

/*
 * A group through the log: its writes into the open transaction, its
 * record into the log, one fdatasync. A group that cannot go into the
 * transaction (map full) first lets the transaction commit without it, then
 * fails like a direct commit would.
 */
static int store_group_wal(struct replog_store *s, struct store_batch *first,
			   struct store_batch *last, uint64_t pages, size_t wal_bytes, bool *sticky,
			   char *errmsg)
{
	struct replog_wal_head h;
	bool map_full = false;
	size_t off;
	int rv, rc;

	for (;;) {
		if (s->txn == NULL) {
			rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
			if (rc) {
				s->txn = NULL;
				*sticky = true;
				return keel_errf(errmsg, store_lmdb_err(rc),
						 "begin transaction: %s", mdb_strerror(rc));
			}
		}
		rv = KEEL_FAILPOINT("replog_store_log_map_full"); /* tests: a full map here */
		if (rv < 0)
			map_full = true;
		else
			rv = store_apply_batches(s, s->txn, first, last, &map_full, errmsg);
		if (rv == 0)
			break;
		/* A failed put leaves the transaction unusable. */
		mdb_txn_abort(s->txn);
		s->txn = NULL;
		if (map_full && store_grow_map(s)) {
			rv = store_txn_redo(s, &map_full, errmsg);
			if (rv == 0)
				continue;
		}
		if (s->txn_first) {
			char why[KEEL_ERRMSG_SIZE];
			bool redo_full;
			int rv2 = store_txn_redo(s, &redo_full, why);
			if (rv2 == 0)
				rv2 = store_txn_commit(s, why);
			if (rv2 < 0) {
				*sticky = true;
				memcpy(errmsg, why, KEEL_ERRMSG_SIZE);
				return rv2;
			}
		}
		if (map_full)
			rv = keel_errf(errmsg, -ENOSPC,
				       "LMDB map full at %" PRIu64
				       " bytes and map_max reached: raise the map size",
				       s->stats.map_size);
		*sticky = rv != -ENOSPC;
		return rv;
	}
	rv = store_wal_buf(&s->wal, wal_bytes);
	if (rv < 0) {
		*sticky = true; /* the group's writes are in the transaction */
		return keel_errf(errmsg, rv, "wal: out of memory");
	}
	off = REPLOG_RECORD_WAL_HEADER;
	for (struct store_batch *b = first; b; b = b->q_next) {
		off = replog_record_wal_put(b->w, b->n, s->wal.buf, off);
		if (b == last)
			break;
	}
	h.epoch = s->wal.epoch;
	h.first = s->seq_base + first->seq;
	h.last = s->seq_base + last->seq;
	h.n = 0;
	for (struct store_batch *b = first; b; b = b->q_next) {
		h.n += (uint32_t)b->n;
		if (b == last)
			break;
	}
	h.len = (uint32_t)(off + 4);
	replog_record_wal_seal(&h, s->wal.buf);
	*sticky = true; /* from here on every failure is */
	rv = store_wal_write(&s->wal, h.len, errmsg);
	if (rv < 0)
		return rv;
	REPLOG_TRACE(s->trace, "st_logged", h.len, 0, 0);
	rv = KEEL_FAILPOINT("replog_store_before_fsync");
	if (rv < 0)
		return store_fsync_error(errmsg, rv);
	rv = store_wal_sync(&s->wal, errmsg);
	if (rv < 0)
		return rv;
	rv = KEEL_FAILPOINT("replog_store_after_fsync");
	if (rv < 0)
		return keel_errf(errmsg, rv, "failpoint after fsync: %s", strerror(-rv));
	*sticky = false;
	s->t_durable = last->seq;
	if (s->txn_last) {
		s->txn_last->q_next = first;
	} else {
		s->txn_first = first;
		/* The age counts from when the first group is durable (and reported). */
		s->txn_deadline = store_now_ns() + STORE_TXN_AGE_NS;
	}
	s->txn_last = last;
	last->q_next = NULL;
	s->txn_pages += pages;
	pthread_mutex_lock(&s->mu);
	s->stats.fsyncs++;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Makes one group durable, through the log or straight into LMDB. */
static int store_do_group(struct replog_store *s, struct store_batch *first,
			  struct store_batch *last, bool *sticky, char *errmsg)
{
	bool direct = false;
	size_t wal_bytes;
	uint64_t pages;
	int rv;

	*sticky = false;
	rv = KEEL_FAILPOINT("replog_store_before_commit");
	if (rv < 0) {
		keel_errf(errmsg, rv, "failpoint before commit: %s", strerror(-rv));
		/* A recoverable failure must leave every acknowledged write in LMDB. */
		if ((s->txn_first && store_txn_commit(s, errmsg) < 0) ||
		    store_meta_sync(s, errmsg) < 0)
			*sticky = true;
		return rv;
	}
	pages = store_group_pages(s, first, &wal_bytes, &direct);
	/* Under a sustained load of large groups, small ones in between go direct too:
	 * switching costs a commit of the open transaction each time. */
	if (!direct && s->txn_first == NULL &&
	    store_now_ns() - s->last_direct < STORE_DIRECT_STAY_NS)
		direct = true;
	if (!direct && store_room(s, s->txn_pages + pages) <= 0) {
		/* Commit what is open, then look again for this group alone. */
		if (s->txn_first) {
			rv = store_txn_commit(s, errmsg);
			if (rv < 0) {
				*sticky = true;
				return rv;
			}
		}
		direct = store_room(s, pages) <= 0;
	}
	if (!direct && s->wal.off + wal_bytes > s->wal.size) {
		/* Growing the log: first let LMDB take what it holds, so it starts again. */
		if (s->txn_first) {
			rv = store_txn_commit(s, errmsg);
			if (rv < 0) {
				*sticky = true;
				return rv;
			}
		}
		if (store_wal_reserve(&s->wal, wal_bytes, errmsg) < 0)
			direct = true; /* no room for the log (a full disk): the old way */
	}
	if (direct) {
		if (s->txn && s->txn_first == NULL) {
			mdb_txn_abort(s->txn); /* empty; LMDB has one writer at a time */
			s->txn = NULL;
		}
		if (s->txn_first) {
			rv = store_txn_commit(s, errmsg);
			if (rv < 0) {
				*sticky = true;
				return rv;
			}
		}
		if (store_room(s, pages) < 0)
			/* Refused before LMDB writes a page: a full disk is recoverable. */
			return keel_errf(errmsg, -ENOSPC, "reserving room for LMDB in %s: %s",
					 s->cfg.path, strerror(ENOSPC));
		rv = store_group_direct(s, first, last, sticky, errmsg);
		if (rv == 0 && wal_bytes > STORE_WAL_RECORD_MAX)
			s->last_direct = store_now_ns();
		return rv;
	}
	rv = store_meta_sync(s, errmsg); /* the log file's fdatasync would not cover it */
	if (rv < 0) {
		*sticky = true;
		return rv;
	}
	return store_group_wal(s, first, last, pages, wal_bytes, sticky, errmsg);
}

/*
 * Publishes the outcome of a step and wakes a waiting flush. Called with mu
 * held; the caller wakes the loop (store_wake_loop) after releasing mu.
 */
static void store_publish(struct replog_store *s, int rv, bool sticky, const char *errmsg)
{
	if (s->t_durable > s->committed_seq)
		s->committed_seq = s->t_durable;
	if (rv < 0) {
		s->error = rv;
		s->error_sticky = sticky;
		memcpy(s->thread_errmsg, errmsg, KEEL_ERRMSG_SIZE);
	}
	if (s->t_applied > s->applied_seq)
		s->applied_seq = s->t_applied;
	pthread_cond_broadcast(&s->cond_done);
}

/*
 * Wakes the loop to collect what store_publish published. Called without mu:
 * the loop's first act is to take mu (replog_store_poll), and woken while
 * this thread still held it, it would sleep again until the unlock woke it a
 * second time (seen with strace: two futex round trips per group).
 */
static void store_wake_loop(struct replog_store *s)
{
	if (s->async)
		keel_async_send(s->async);
}

/* True when the open transaction should be committed now (mu held). */
static bool store_txn_due(struct replog_store *s, uint64_t now)
{
	return s->txn_first && (s->stop || s->flush_req || now >= s->txn_deadline ||
				s->wal.off >= STORE_WAL_COMMIT_BYTES);
}

void *store_thread_main(void *arg)
{
	struct replog_store *s = arg;
	char errmsg[KEEL_ERRMSG_SIZE];

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct store_batch *group, *last;
		uint64_t n_batches = 0, n_writes = 0;
		bool sticky = false;
		int rv;

		/* Wait for work, a commit that is due, or stop. */
		for (;;) {
			if (s->error) {
				if (s->stop)
					goto out;
				pthread_cond_wait(&s->cond_work, &s->mu);
				continue;
			}
			if (s->q_head || store_txn_due(s, store_now_ns()) || s->meta_pending)
				break;
			if (s->txn_first == NULL)
				s->flush_req = false; /* nothing left for a flush to wait for */
			if (s->stop)
				goto out;
			if (s->txn_first) {
				struct timespec until = {
				    .tv_sec = (time_t)(s->txn_deadline / 1000000000u),
				    .tv_nsec = (long)(s->txn_deadline % 1000000000u)};
				pthread_cond_timedwait(&s->cond_work, &s->mu, &until);
			} else {
				pthread_cond_wait(&s->cond_work, &s->mu);
			}
		}
		if (s->q_head == NULL) {
			/* A skipped meta sync nobody will cover, or the open transaction is due. */
			bool commit = store_txn_due(s, store_now_ns());
			if (commit)
				s->flush_req = false;
			pthread_mutex_unlock(&s->mu);
			errmsg[0] = '\0';
			rv = store_meta_sync(s, errmsg);
			if (rv == 0 && commit)
				rv = store_txn_commit(s, errmsg);
			pthread_mutex_lock(&s->mu);
			store_publish(s, rv, true, errmsg);
			pthread_mutex_unlock(&s->mu);
			store_wake_loop(s);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if (!s->q_urgent && !s->stop && !s->flush_req && !s->meta_pending) {
			/* Only lazy writes: give an urgent one STORE_LAZY_NS to join them. */
			uint64_t until_ns = store_now_ns() + STORE_LAZY_NS;
			struct timespec until = {.tv_sec = (time_t)(until_ns / 1000000000u),
						 .tv_nsec = (long)(until_ns % 1000000000u)};
			REPLOG_TRACE(s->trace, "st_lazy", s->q_head->seq, 0, 0);
			while (!s->q_urgent && !s->stop && !s->error && !s->flush_req &&
			       pthread_cond_timedwait(&s->cond_work, &s->mu, &until) == 0)
				;
			if (s->error || s->q_head == NULL)
				continue;
		}
		s->q_urgent = false;
		group = s->q_head;
		last = s->q_tail;
		s->q_head = s->q_tail = NULL;
		pthread_mutex_unlock(&s->mu);

		for (struct store_batch *b = group; b; b = b->q_next) {
			n_batches++;
			n_writes += b->n;
		}
		errmsg[0] = '\0';
		REPLOG_TRACE(s->trace, "st_take", group->seq, last->seq, n_writes);
		rv = store_do_group(s, group, last, &sticky, errmsg);
		if (rv < 0 && !sticky && s->meta_pending) {
			/*
			 * A recoverable failure: the driver rebuilds its core from
			 * LMDB, which must then hold nothing that is not durable (a
			 * direct commit whose meta page is not synced yet).
			 */
			char why[KEEL_ERRMSG_SIZE];
			int rv2 = store_meta_sync(s, why);
			if (rv2 < 0) {
				rv = rv2;
				sticky = true;
				memcpy(errmsg, why, KEEL_ERRMSG_SIZE);
			}
		}
		REPLOG_TRACE(s->trace, "st_done", (uint64_t)-rv, 0, 0);

		pthread_mutex_lock(&s->mu);
		if (rv == 0) {
			s->stats.groups++;
			s->stats.writes += n_writes;
			s->stats.batch_last = n_batches;
			if (n_batches > s->stats.batch_max)
				s->stats.batch_max = n_batches;
		}
		/* A failed group belongs to the loop again (its overlay): never touch it. */
		store_publish(s, rv, sticky, errmsg);
		pthread_mutex_unlock(&s->mu);
		store_wake_loop(s);
		if (rv == 0)
			store_zero_ahead(s);
		pthread_mutex_lock(&s->mu);
	}
out:
	if (s->txn)
		mdb_txn_abort(s->txn);
	s->txn = NULL;
	s->txn_first = s->txn_last = NULL;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}
