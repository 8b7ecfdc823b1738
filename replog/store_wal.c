/* The replog store's write-ahead log file: create, zero-fill ahead, append records, replay. */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/alloc.h"

/* The log grows by at least this much at a time (zeros written and synced). */
#define WAL_GROW (1u << 20)

static uint64_t wal_align(uint64_t n)
{
	return (n + REPLOG_RECORD_WAL_ALIGN - 1) & ~(uint64_t)(REPLOG_RECORD_WAL_ALIGN - 1);
}

int store_wal_open(struct store_wal *w, const char *dir, char *errmsg)
{
	char path[4096];
	struct stat st;
	int dfd;

	w->fd = -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/wal", dir) >= sizeof(path))
		return keel_errf(errmsg, -ENAMETOOLONG, "%s/wal: path too long", dir);
	w->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return keel_errno_f(errmsg, -errno, "open %s", path);
	if (fstat(w->fd, &st) < 0)
		return keel_errno_f(errmsg, -errno, "stat %s", path);
	if (st.st_size == 0) {
		/* A new log: its name must be durable before a record in it counts. */
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0) {
			int e = -errno;
			if (dfd >= 0)
				close(dfd);
			return keel_errno_f(errmsg, e, "sync directory %s", dir);
		}
		close(dfd);
	}
	/* What an earlier session zero-filled and synced (the tail may be partial). */
	w->size = (uint64_t)st.st_size & ~(uint64_t)(REPLOG_RECORD_WAL_ALIGN - 1);
	w->off = 0;
	return 0;
}

void store_wal_close(struct store_wal *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	keel_free(w->buf);
	w->buf = NULL;
	w->cap = 0;
}

int store_wal_buf(struct store_wal *w, size_t len)
{
	unsigned char *b;
	size_t cap;

	if (len <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 65536;
	while (cap < len)
		cap *= 2;
	b = keel_realloc(w->buf, cap);
	if (b == NULL)
		return -ENOMEM;
	w->buf = b;
	w->cap = cap;
	return 0;
}

/* Reads exactly n bytes at off; 0, or -EBADMSG when the file ends first, or -errno. */
static int wal_pread(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EBADMSG;
		done += (size_t)r;
	}
	return 0;
}

/*
 * The valid chain: records from offset 0, each at the next 4096-byte
 * boundary after the one before, with the right magic, length and checksum,
 * the epoch of the session that wrote this file's current records, and
 * submission numbers that follow on (first = previous last + 1). The chain
 * ends at the first record that is not so: a record torn by a crash (never
 * acknowledged: acknowledgement waits for the fdatasync that covers it and
 * everything before it), zeros, or a stale record of an earlier epoch or of
 * an earlier pass over the file (lower numbers, all already in LMDB). An
 * intact record of this epoch with higher numbers than the next ones, or a
 * first record beyond what LMDB holds, means lost records: refused. A new pass starts at
 * offset 0 only once LMDB durably holds everything before it, and each open
 * starts a new epoch after replaying, so what lies past the end of the
 * chain is never needed and never mistaken for part of it.
 */
int store_wal_replay(struct replog_store *s, MDB_txn *txn, uint64_t epoch, uint64_t applied,
		     uint64_t *last, bool *map_full, char *errmsg)
{
	struct store_wal *w = &s->wal;
	unsigned char head[REPLOG_RECORD_WAL_HEADER + 4];
	struct stat st;
	uint64_t off = 0, prev = 0, fsize;
	bool first = true;
	int rv;

	*last = applied;
	*map_full = false;
	if (fstat(w->fd, &st) < 0)
		return keel_errno_f(errmsg, -errno, "stat wal");
	fsize = (uint64_t)st.st_size;
	while (off + sizeof(head) <= fsize) {
		struct replog_wal_head h;

		rv = wal_pread(w->fd, head, sizeof(head), off);
		if (rv == -EBADMSG)
			break;
		if (rv < 0)
			return keel_errf(errmsg, rv, "read wal at %" PRIu64 ": %s", off,
					 strerror(-rv));
		if (replog_record_wal_head(head, (size_t)KEEL_MIN(fsize - off, UINT32_MAX), &h) <
			0 ||
		    h.epoch != epoch || (!first && h.first <= prev))
			break; /* not a record, another epoch's, or an earlier pass's */
		rv = store_wal_buf(w, h.len);
		if (rv < 0)
			return keel_errf(errmsg, rv, "wal replay: out of memory");
		rv = wal_pread(w->fd, w->buf, h.len, off);
		if (rv == -EBADMSG)
			break;
		if (rv < 0)
			return keel_errf(errmsg, rv, "read wal at %" PRIu64 ": %s", off,
					 strerror(-rv));
		if (replog_record_wal_check(w->buf, &h) < 0)
			break; /* torn by a crash: the end of the chain */
		if (!first && h.first != prev + 1)
			return keel_errf(errmsg, -EBADMSG,
					 "wal: record of submissions %" PRIu64 "-%" PRIu64
					 " follows one that ends at %" PRIu64
					 " (a gap: the log is damaged)",
					 h.first, h.last, prev);
		if (first && h.first > applied + 1)
			return keel_errf(errmsg, -EBADMSG,
					 "wal: first record holds submissions %" PRIu64 "-%" PRIu64
					 " but LMDB holds only up to %" PRIu64
					 " (the log or the database was damaged or replaced)",
					 h.first, h.last, applied);
		first = false;
		prev = h.last;
		if (h.last > applied) {
			/* Replaying writes LMDB may hold already is harmless: each one
			 * sets or deletes whole records, so the last one wins. */
			size_t o = REPLOG_RECORD_WAL_HEADER;
			for (uint32_t i = 0; i < h.n; i++) {
				struct replog_write wr;
				rv = replog_record_wal_next(w->buf, &h, &o, &wr, errmsg);
				if (rv == 0)
					rv = store_apply(s, txn, &wr, map_full, errmsg);
				if (rv < 0)
					return rv;
			}
			if (o != h.len - 4)
				return keel_errf(errmsg, -EBADMSG,
						 "wal record %" PRIu64 ": %u writes do not fill it",
						 h.first, h.n);
			*last = h.last;
		}
		off = wal_align(off + h.len);
	}
	return 0;
}

int store_wal_reserve(struct store_wal *w, size_t len, char *errmsg)
{
	static const char zeros[65536];
	uint64_t want = wal_align(w->off + len), to, off;

	if (want <= w->size)
		return 0;
	to = wal_align(want + WAL_GROW);
	for (off = w->size; off < to;) {
		size_t n = (size_t)KEEL_MIN(to - off, sizeof(zeros));
		ssize_t r = pwrite(w->fd, zeros, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return keel_errno_f(errmsg, r < 0 ? -errno : -EIO,
					    "grow the wal to %" PRIu64, to);
		off += (uint64_t)r;
	}
	/* Blocks and size durable now, so a record's fdatasync only flushes data. */
	if (fdatasync(w->fd) < 0)
		return keel_errno_f(errmsg, -errno, "sync the grown wal");
	w->size = to;
	return 0;
}

int store_wal_write(struct store_wal *w, size_t len, char *errmsg)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(w->fd, w->buf + done, len - done, (off_t)(w->off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return keel_errno_f(errmsg, r < 0 ? -errno : -EIO,
					    "write the wal at %" PRIu64, w->off);
		done += (size_t)r;
	}
	w->off = wal_align(w->off + len);
	return 0;
}

int store_wal_sync(struct store_wal *w, char *errmsg)
{
	if (fdatasync(w->fd) < 0) {
		int e = errno;
		return keel_errf(errmsg, -e,
				 "fsync failed (%s): what reached the disk is unknown, the store "
				 "takes no more writes until reopened",
				 strerror(e));
	}
	return 0;
}
