/* Unit tests for the replog storage records and the LMDB store (overlay, group commit, failures).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "loop_util.h"
#include "replog/crc32c.h"
#include "replog/record.h"
#include "replog/store.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/failpoint.h"

/* --- Fixture: a fresh directory per case. --- */

static char tdir[4096];

static void dir_make(void)
{
	const char *base = getenv("KEEL_TEST_TMP");
	snprintf(tdir, sizeof(tdir), "%s/replog_store.XXXXXX", base ? base : "/tmp");
	ASSERT_NOT_NULL(mkdtemp(tdir));
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void dir_remove(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct replog_store *store_open_at(const char *path, size_t map, size_t map_max)
{
	struct replog_store_config cfg = {.path = path, .map_size = map, .map_max = map_max};
	struct replog_store *s = NULL;
	char errmsg[KEEL_ERRMSG_SIZE] = "";
	int rv = replog_store_open(&cfg, &s, errmsg);
	if (rv < 0)
		th_fail(__FILE__, __LINE__, "open %s: %d %s", path, rv, errmsg);
	return s;
}

static struct replog_write w_action(uint64_t pos, uint64_t ballot, const char *val)
{
	struct replog_write w = {.kind = REPLOG_WRITE_ACTION};
	w.action.position = pos;
	w.action.ballot = ballot;
	w.action.type = REPLOG_ACTION_APPEND;
	w.action.value = val;
	w.action.len = strlen(val);
	return w;
}

static struct replog_write w_meta(uint8_t status, uint64_t promised, uint64_t begin)
{
	struct replog_write w = {.kind = REPLOG_WRITE_META};
	w.meta.status = status;
	w.meta.promised = promised;
	w.meta.begin = begin;
	return w;
}

static struct replog_write w_below(uint64_t below)
{
	struct replog_write w = {.kind = REPLOG_WRITE_DELETE_BELOW, .below = below};
	return w;
}

/* Collects scanned positions. */
struct collect {
	uint64_t pos[64]; /* positions seen */
	size_t n;	  /* how many */
	size_t total;	  /* including those past the array */
};

static int collect_cb(void *arg, const struct replog_action *a)
{
	struct collect *c = arg;
	if (c->n < KEEL_ARRAY_SIZE(c->pos))
		c->pos[c->n++] = a->position;
	c->total++;
	return 0;
}

static void submit_ok(struct replog_store *s, const struct replog_write *w, size_t n)
{
	uint64_t seq;
	ASSERT_OK(replog_store_submit(s, w, n, &seq));
}

/* --- Records. --- */

TEST(crc32c_known_vectors)
{
	ASSERT_UINT_EQ(replog_crc32c(0, "123456789", 9), 0xe3069283u);
	ASSERT_UINT_EQ(replog_crc32c(0, "", 0), 0);
	/* Incremental equals one-shot across the 8-byte fast path. */
	const char *t = "the quick brown fox jumps over the lazy dog";
	uint32_t one = replog_crc32c(0, t, strlen(t));
	ASSERT_UINT_EQ(replog_crc32c(replog_crc32c(0, t, 13), t + 13, strlen(t) - 13), one);
}

TEST(record_action_round_trip_and_every_bit_flip_refused)
{
	struct replog_action a = {.position = 4294967296u,
				  .ballot = 0x1234,
				  .type = REPLOG_ACTION_APPEND,
				  .learned = true,
				  .value = "hello",
				  .len = 5};
	unsigned char buf[64], bad[64];
	struct replog_action out;
	char errmsg[KEEL_ERRMSG_SIZE];
	size_t n = replog_record_action_size(&a);

	ASSERT_UINT_EQ(n, REPLOG_RECORD_ACTION_HEADER + 5 + 4);
	replog_record_action_encode(&a, buf);
	ASSERT_OK(replog_record_action_decode(a.position, buf, n, &out, errmsg));
	ASSERT_UINT_EQ(out.ballot, 0x1234);
	ASSERT_TRUE(out.learned);
	ASSERT_FALSE(out.tombstone);
	ASSERT_UINT_EQ(out.len, 5);
	ASSERT_MEM_EQ(out.value, "hello", 5);
	/* Under another key: refused. */
	ASSERT_INT_EQ(replog_record_action_decode(a.position + 1, buf, n, &out, errmsg), -EBADMSG);
	ASSERT_STR_CONTAINS(errmsg, "checksum");
	for (size_t i = 0; i < n * 8; i++) {
		memcpy(bad, buf, n);
		bad[i / 8] ^= (unsigned char)(1u << (i % 8));
		TH_CONTEXT("bit %zu", i);
		ASSERT_INT_EQ(replog_record_action_decode(a.position, bad, n, &out, NULL),
			      -EBADMSG);
	}
	TH_CONTEXT(NULL);
	ASSERT_INT_EQ(replog_record_action_decode(a.position, buf, n - 1, &out, errmsg), -EBADMSG);
	ASSERT_INT_EQ(replog_record_action_decode(a.position, buf, 3, &out, errmsg), -EBADMSG);
	ASSERT_STR_CONTAINS(errmsg, "short");
}

TEST(record_truncate_nop_and_meta_round_trip)
{
	struct replog_action t = {
	    .position = 7, .ballot = 9, .type = REPLOG_ACTION_TRUNCATE, .to = 5};
	struct replog_action nop = {
	    .position = 8, .type = REPLOG_ACTION_NOP, .tombstone = true, .learned = true};
	struct replog_meta m = {.status = REPLOG_RECOVERING,
				.promised = UINT64_MAX - 3,
				.begin = 1ull << 40},
			   mo;
	unsigned char buf[64];
	struct replog_action out;
	char errmsg[KEEL_ERRMSG_SIZE];

	replog_record_action_encode(&t, buf);
	ASSERT_OK(replog_record_action_decode(7, buf, replog_record_action_size(&t), &out, NULL));
	ASSERT_UINT_EQ(out.type, REPLOG_ACTION_TRUNCATE);
	ASSERT_UINT_EQ(out.to, 5);
	ASSERT_NULL(out.value);
	replog_record_action_encode(&nop, buf);
	ASSERT_OK(replog_record_action_decode(8, buf, replog_record_action_size(&nop), &out, NULL));
	ASSERT_TRUE(out.tombstone);
	ASSERT_TRUE(out.learned);

	replog_record_meta_encode(&m, buf);
	ASSERT_OK(replog_record_meta_decode(buf, REPLOG_RECORD_META_SIZE, &mo, errmsg));
	ASSERT_UINT_EQ(mo.status, REPLOG_RECOVERING);
	ASSERT_UINT_EQ(mo.promised, UINT64_MAX - 3);
	ASSERT_UINT_EQ(mo.begin, 1ull << 40);
	buf[0] = 2;
	ASSERT_INT_EQ(replog_record_meta_decode(buf, REPLOG_RECORD_META_SIZE, &mo, errmsg),
		      -EBADMSG);
	ASSERT_STR_CONTAINS(errmsg, "version");
	ASSERT_INT_EQ(replog_record_meta_decode(buf, 5, &mo, errmsg), -EBADMSG);
}

TEST(record_key_is_big_endian)
{
	unsigned char k[8];
	uint64_t p;

	replog_record_key(0x0102030405060708ull, k);
	ASSERT_UINT_EQ(k[0], 1);
	ASSERT_UINT_EQ(k[7], 8);
	ASSERT_OK(replog_record_key_decode(k, 8, &p));
	ASSERT_UINT_EQ(p, 0x0102030405060708ull);
	ASSERT_INT_EQ(replog_record_key_decode(k, 7, &p), -EBADMSG);
}

/* --- Store. --- */

TEST(store_durable_across_close_and_reopen)
{
	struct replog_store *s;
	struct replog_meta m;
	struct replog_action a;
	struct collect c = {0};

	dir_make();
	s = store_open_at(tdir, 0, 0);
	ASSERT_INT_EQ(replog_store_meta(s, &m), -ENOENT);
	struct replog_write w[] = {w_meta(REPLOG_VOTING, 77, 0), w_action(0, 77, "zero"),
				   w_action(1, 77, "one")};
	submit_ok(s, w, 3);
	ASSERT_OK(replog_store_flush(s));
	ASSERT_UINT_EQ(replog_store_durable_seq(s), 1);
	replog_store_close(s);

	s = store_open_at(tdir, 0, 0);
	ASSERT_OK(replog_store_meta(s, &m));
	ASSERT_UINT_EQ(m.status, REPLOG_VOTING);
	ASSERT_UINT_EQ(m.promised, 77);
	ASSERT_OK(replog_store_read(s, 1, &a));
	ASSERT_UINT_EQ(a.len, 3);
	ASSERT_MEM_EQ(a.value, "one", 3);
	ASSERT_INT_EQ(replog_store_read(s, 2, &a), -ENOENT);
	ASSERT_OK(replog_store_scan(s, 0, collect_cb, &c));
	ASSERT_UINT_EQ(c.total, 2);
	replog_store_release_reads(s);
	replog_store_close(s);
	dir_remove(tdir);
}

/* One process per store: a second open (here, or in another process) is refused, nothing
 * touched; after close (or the holder's death) it opens again. */
TEST(store_second_open_is_refused_while_in_use)
{
	struct replog_store_config cfg = {0};
	struct replog_store *s, *t = NULL;
	char errmsg[KEEL_ERRMSG_SIZE] = "", pid[32];
	int status;
	pid_t child;

	dir_make();
	cfg.path = tdir;
	s = store_open_at(tdir, 0, 0);
	ASSERT_INT_EQ(replog_store_open(&cfg, &t, errmsg), -EBUSY);
	ASSERT_NULL(t);
	snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
	ASSERT_STR_CONTAINS(errmsg, "is in use by another process");
	ASSERT_STR_CONTAINS(errmsg, pid);
	child = fork();
	ASSERT_INT_GE(child, 0);
	if (child == 0) {
		char m[KEEL_ERRMSG_SIZE];
		struct replog_store *u = NULL;
		_exit(replog_store_open(&cfg, &u, m) == -EBUSY && u == NULL ? 0 : 1);
	}
	ASSERT_INT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	replog_store_close(s);
	s = store_open_at(tdir, 0, 0);
	replog_store_close(s);
	dir_remove(tdir);
}

TEST(store_reads_see_queued_writes_in_order)
{
	struct replog_store *s;
	struct replog_action a;

	dir_make();
	s = store_open_at(tdir, 0, 0);
	struct replog_write w1[] = {w_action(5, 1, "a"), w_action(6, 1, "b")};
	struct replog_write w2[] = {w_action(5, 2, "c"), w_below(6), w_action(7, 2, "d")};
	submit_ok(s, w1, 2);
	submit_ok(s, w2, 3);
	/* Whether or not the thread committed yet, reads see the newest queued state. */
	ASSERT_INT_EQ(replog_store_read(s, 5, &a), -ENOENT);
	ASSERT_OK(replog_store_read(s, 6, &a));
	ASSERT_MEM_EQ(a.value, "b", 1);
	ASSERT_OK(replog_store_read(s, 7, &a));
	ASSERT_UINT_EQ(a.ballot, 2);
	ASSERT_OK(replog_store_flush(s));
	ASSERT_INT_EQ(replog_store_read(s, 5, &a), -ENOENT);
	ASSERT_OK(replog_store_read(s, 6, &a));
	ASSERT_MEM_EQ(a.value, "b", 1);
	ASSERT_OK(replog_store_read(s, 7, &a));
	ASSERT_MEM_EQ(a.value, "d", 1);
	replog_store_release_reads(s);
	replog_store_close(s);
	dir_remove(tdir);
}

struct durable_seen {
	uint64_t seq;	/* highest seq reported */
	int status;	/* last status reported */
	unsigned calls; /* reports */
};

static void on_durable(struct replog_store *s, uint64_t seq, int status, void *arg)
{
	struct durable_seen *d = arg;
	(void)s;
	d->calls++;
	d->status = status;
	if (status == 0) {
		ASSERT_UINT_GT(seq, d->seq);
		d->seq = seq;
	}
}

TEST(store_group_commit_reports_through_the_loop)
{
	struct keel_loop *loop;
	struct replog_store *s;
	struct durable_seen d = {0};
	struct replog_store_stats st;
	char errmsg[KEEL_ERRMSG_SIZE];
	enum { N = 2000 };

	ASSERT_OK(keel_loop_new(&loop, NULL, errmsg));
	dir_make();
	struct replog_store_config cfg = {
	    .path = tdir, .loop = loop, .on_durable = on_durable, .arg = &d};
	ASSERT_OK(replog_store_open(&cfg, &s, errmsg));
	for (uint64_t i = 0; i < N; i++) {
		struct replog_write w = w_action(i, 3, "x");
		submit_ok(s, &w, 1);
	}
	ASSERT_TRUE(RUN_UNTIL(loop, d.seq == N, 20000));
	ASSERT_INT_EQ(d.status, 0);
	ASSERT_OK(replog_store_flush(s)); /* commits the open LMDB transaction, if any */
	replog_store_stats(s, &st);
	ASSERT_UINT_EQ(st.writes, N);
	ASSERT_UINT_EQ(st.submits, N);
	/* Submissions queued behind an fsync share the next group (one log record). */
	ASSERT_UINT_LT(st.groups, N);
	ASSERT_UINT_GT(st.batch_max, 1);
	/* One fdatasync per group through the log, two per LMDB commit (a group committed
	 * straight to LMDB is one of those). */
	ASSERT_UINT_GE(st.fsyncs, st.groups);
	ASSERT_UINT_LE(st.fsyncs, st.groups + 2 * st.commits);
	ASSERT_UINT_GT(st.commits, 0);
	replog_store_close(s);
	keel_loop_free(loop);
	dir_remove(tdir);
}

TEST(store_truncate_with_no_entries)
{
	struct replog_store *s;
	struct collect c = {0};

	dir_make();
	s = store_open_at(tdir, 0, 0);
	struct replog_write w[] = {w_below(1000), w_meta(REPLOG_VOTING, 1, 1000)};
	submit_ok(s, w, 2);
	ASSERT_OK(replog_store_flush(s));
	ASSERT_OK(replog_store_scan(s, 0, collect_cb, &c));
	ASSERT_UINT_EQ(c.total, 0);
	replog_store_close(s);
	dir_remove(tdir);
}

TEST(store_truncate_huge_range_with_holes_is_fast)
{
	struct replog_store *s;
	struct collect c = {0};
	struct timespec t0, t1;
	struct replog_action a;

	dir_make();
	s = store_open_at(tdir, 0, 0);
	/* 2,000 entries spread over [0, 1.2e9]: holes everywhere. */
	for (uint64_t i = 0; i < 2000; i++) {
		struct replog_write w = w_action(i * 600000 + 3, 1, "v");
		submit_ok(s, &w, 1);
	}
	ASSERT_OK(replog_store_flush(s));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct replog_write w = w_below(600000000);
	submit_ok(s, &w, 1);
	ASSERT_OK(replog_store_flush(s));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ASSERT_TRUE(secs < 0.5);
	ASSERT_OK(replog_store_scan(s, 0, collect_cb, &c));
	ASSERT_UINT_EQ(c.total, 1000);
	ASSERT_UINT_EQ(c.pos[0], 600000003);
	ASSERT_INT_EQ(replog_store_read(s, 599400003, &a), -ENOENT);
	replog_store_close(s);
	dir_remove(tdir);
}

TEST(store_positions_near_word_boundaries_round_trip_in_order)
{
	static const uint64_t ps[] = {0,
				      1,
				      (1ull << 31) - 1,
				      1ull << 31,
				      (1ull << 31) + 1,
				      (1ull << 32) - 1,
				      1ull << 32,
				      (1ull << 32) + 1,
				      10000000000ull,
				      (1ull << 63) - 1,
				      1ull << 63,
				      UINT64_MAX - 2,
				      REPLOG_POSITION_MAX};
	struct replog_store *s;
	struct collect c = {0};
	char val[32];

	dir_make();
	s = store_open_at(tdir, 0, 0);
	/* Written in reverse: the store orders them. */
	for (size_t i = KEEL_ARRAY_SIZE(ps); i-- > 0;) {
		snprintf(val, sizeof(val), "%" PRIu64, ps[i]);
		struct replog_write w = w_action(ps[i], 1, val);
		submit_ok(s, &w, 1);
	}
	ASSERT_OK(replog_store_flush(s));
	replog_store_close(s);
	s = store_open_at(tdir, 0, 0);
	ASSERT_OK(replog_store_scan(s, 0, collect_cb, &c));
	ASSERT_UINT_EQ(c.n, KEEL_ARRAY_SIZE(ps));
	for (size_t i = 0; i < c.n; i++) {
		struct replog_action a;
		TH_CONTEXT("position %" PRIu64, ps[i]);
		ASSERT_UINT_EQ(c.pos[i], ps[i]);
		ASSERT_OK(replog_store_read(s, ps[i], &a));
		snprintf(val, sizeof(val), "%" PRIu64, ps[i]);
		ASSERT_UINT_EQ(a.len, strlen(val));
		ASSERT_MEM_EQ(a.value, val, a.len);
	}
	TH_CONTEXT(NULL);
	c.n = c.total = 0;
	ASSERT_OK(replog_store_scan(s, 1ull << 32, collect_cb, &c));
	ASSERT_UINT_EQ(c.pos[0], 1ull << 32);
	ASSERT_UINT_EQ(c.total, 7);
	replog_store_release_reads(s);
	replog_store_close(s);
	dir_remove(tdir);
}

/* Overwrites one raw LMDB value of the store, as a bit rot would. */
static void corrupt_raw(const char *path, const char *db, const void *key, size_t klen, size_t byte)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key}, v;
	unsigned char copy[256];

	ASSERT_INT_EQ(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 3);
	ASSERT_INT_EQ(mdb_env_open(env, path, 0, 0600), 0);
	ASSERT_INT_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ASSERT_INT_EQ(mdb_dbi_open(txn, db, 0, &dbi), 0);
	ASSERT_INT_EQ(mdb_get(txn, dbi, &k, &v), 0);
	ASSERT_TRUE(v.mv_size <= sizeof(copy));
	memcpy(copy, v.mv_data, v.mv_size);
	copy[byte] ^= 0x40;
	v.mv_data = copy;
	ASSERT_INT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
	ASSERT_INT_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

TEST(store_corrupted_records_are_refused_with_a_clear_error)
{
	struct replog_store *s;
	struct replog_store_config cfg = {0};
	struct replog_action a;
	struct collect c = {0};
	unsigned char key[8];
	char errmsg[KEEL_ERRMSG_SIZE];

	dir_make();
	s = store_open_at(tdir, 0, 0);
	struct replog_write w[] = {w_meta(REPLOG_VOTING, 1, 0), w_action(1, 1, "good"),
				   w_action(2, 1, "rotten"), w_action(3, 1, "good")};
	submit_ok(s, w, 4);
	ASSERT_OK(replog_store_flush(s));
	replog_store_close(s);

	replog_record_key(2, key);
	corrupt_raw(tdir, "actions", key, 8, REPLOG_RECORD_ACTION_HEADER + 2);
	s = store_open_at(tdir, 0, 0);
	ASSERT_OK(replog_store_read(s, 1, &a));
	ASSERT_INT_EQ(replog_store_read(s, 2, &a), -EBADMSG);
	ASSERT_STR_CONTAINS(replog_store_errmsg(s), "action 2: checksum mismatch");
	/* A scan stops at the damage; it never skips it. */
	ASSERT_INT_EQ(replog_store_scan(s, 0, collect_cb, &c), -EBADMSG);
	ASSERT_UINT_EQ(c.total, 1);
	replog_store_release_reads(s);
	replog_store_close(s);

	corrupt_raw(tdir, "meta", "meta", 4, 5);
	cfg.path = tdir;
	ASSERT_INT_EQ(replog_store_open(&cfg, &s, errmsg), -EBADMSG);
	ASSERT_NULL(s);
	ASSERT_STR_CONTAINS(errmsg, "metadata: checksum mismatch");
	dir_remove(tdir);
}

TEST(store_open_errors)
{
	struct replog_store *s;
	struct replog_store_config cfg = {0};
	char errmsg[KEEL_ERRMSG_SIZE];

	ASSERT_INT_EQ(replog_store_open(&cfg, &s, errmsg), -EINVAL);
	cfg.path = "/proc/no/such/dir";
	ASSERT_INT_LT(replog_store_open(&cfg, &s, errmsg), 0);
	ASSERT_STR_CONTAINS(errmsg, "/proc/no/such/dir");
	replog_store_close(NULL);
}

#ifdef KEEL_FAILPOINTS
TEST(store_submit_out_of_memory_queues_nothing)
{
	struct replog_store *s;
	struct replog_action a;
	uint64_t seq = 99;

	dir_make();
	s = store_open_at(tdir, 0, 0);
	struct replog_write w = w_action(1, 1, "x");
	keel_alloc_fail_after(1, false);
	ASSERT_INT_EQ(replog_store_submit(s, &w, 1, &seq), -ENOMEM);
	keel_alloc_fail_after(0, false);
	ASSERT_UINT_EQ(seq, 99);
	ASSERT_INT_EQ(replog_store_read(s, 1, &a), -ENOENT);
	ASSERT_OK(replog_store_flush(s));
	replog_store_close(s);
	dir_remove(tdir);
}
#endif

/* Submits 4 KiB values at positions from *pos until a flush fails; returns that error. */
static int fill_until_error(struct replog_store *s, uint64_t *pos, uint64_t *acked, int limit)
{
	static char big[4096];
	memset(big, 'b', sizeof(big) - 1);
	for (int i = 0; i < limit; i++) {
		struct replog_write w = w_action(*pos, 1, big);
		uint64_t seq;
		int rv = replog_store_submit(s, &w, 1, &seq);
		if (rv == 0)
			rv = replog_store_flush(s);
		if (rv < 0)
			return rv;
		*acked = *pos;
		(*pos)++;
	}
	return 0;
}

TEST(store_map_full_fails_appends_and_keeps_what_was_committed)
{
	struct replog_store *s;
	struct collect c = {0};
	uint64_t pos = 0, acked = UINT64_MAX;

	dir_make();
	s = store_open_at(tdir, 1u << 20, 0);
	ASSERT_INT_EQ(fill_until_error(s, &pos, &acked, 100000), -ENOSPC);
	ASSERT_STR_CONTAINS(replog_store_errmsg(s), "map full");
	ASSERT_UINT_NE(acked, UINT64_MAX);
	uint64_t seq;
	struct replog_write w = w_action(pos, 1, "small");
	ASSERT_INT_EQ(replog_store_submit(s, &w, 1, &seq), -ENOSPC);
	/* Recoverable: the store takes writes again (this one frees space). */
	ASSERT_OK(replog_store_recover(s));
	struct replog_write tr = w_below(acked / 2);
	submit_ok(s, &tr, 1);
	ASSERT_OK(replog_store_flush(s));
	replog_store_close(s);
	s = store_open_at(tdir, 1u << 20, 0);
	ASSERT_OK(replog_store_scan(s, 0, collect_cb, &c));
	ASSERT_UINT_EQ(c.total, acked + 1 - acked / 2);
	replog_store_close(s);
	dir_remove(tdir);
}

TEST(store_map_grows_up_to_map_max)
{
	struct replog_store *s;
	struct replog_store_stats st;
	uint64_t pos = 0, acked = 0;

	dir_make();
	s = store_open_at(tdir, 1u << 20, 8u << 20);
	ASSERT_OK(fill_until_error(s, &pos, &acked, 600)); /* ~2.4 MiB of values */
	replog_store_stats(s, &st);
	ASSERT_UINT_GT(st.map_grows, 0);
	ASSERT_UINT_GT(st.map_size, 1u << 20);
	ASSERT_INT_EQ(fill_until_error(s, &pos, &acked, 100000), -ENOSPC);
	replog_store_stats(s, &st);
	ASSERT_UINT_EQ(st.map_size, 8u << 20);
	replog_store_close(s);
	dir_remove(tdir);
}

TEST(store_enospc_on_small_tmpfs_then_resumes)
{
	char mnt[4096 + 16], data[4096 + 32], filler[4096 + 32];
	struct replog_store *s;
	struct collect c = {0};
	uint64_t pos = 0, acked = UINT64_MAX;

	dir_make();
	snprintf(mnt, sizeof(mnt), "%s/mnt", tdir);
	ASSERT_OK(mkdir(mnt, 0700));
	/* In a private mount namespace of this process: the tmpfs goes with it, even if a check
	 * below fails before the umount. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("keeltest", mnt, "tmpfs", 0, "size=2m") < 0) {
		TH_CONTEXT("private tmpfs: %s", strerror(errno));
		dir_remove(tdir);
		ASSERT_TRUE(geteuid() != 0); /* as root this must work */
		TH_CONTEXT(NULL);
		TH_SKIP("cannot mount a tmpfs in a private mount namespace (needs root)");
	}
	snprintf(data, sizeof(data), "%s/db", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	/* A file that stands for "space that returns later". */
	{
		int fd = open(filler, O_CREAT | O_WRONLY, 0600);
		static char chunk[65536];
		ASSERT_INT_GE(fd, 0);
		for (int i = 0; i < 8; i++)
			ASSERT_INT_EQ(write(fd, chunk, sizeof(chunk)), (long)sizeof(chunk));
		close(fd);
	}
	s = store_open_at(data, 64u << 20, 0);
	int rv = fill_until_error(s, &pos, &acked, 100000);
	TH_CONTEXT("%s", replog_store_errmsg(s));
	ASSERT_INT_EQ(rv, -ENOSPC);
	ASSERT_STR_CONTAINS(replog_store_errmsg(s), "No space left");
	ASSERT_UINT_NE(acked, UINT64_MAX);
	TH_CONTEXT(NULL);
	/* Space returns; the store resumes after recover. */
	ASSERT_OK(unlink(filler));
	ASSERT_OK(replog_store_recover(s));
	ASSERT_OK(fill_until_error(s, &pos, &acked, 10));
	replog_store_close(s);
	s = store_open_at(data, 64u << 20, 0);
	ASSERT_OK(replog_store_scan(s, 0, collect_cb, &c));
	ASSERT_UINT_EQ(c.total, acked + 1);
	replog_store_close(s);
	ASSERT_OK(umount(mnt));
	dir_remove(tdir);
}

#ifdef KEEL_FAILPOINTS
TEST(store_eio_from_fsync_is_sticky_and_never_durable)
{
	struct keel_loop *loop;
	struct replog_store *s;
	struct durable_seen d = {0};
	char errmsg[KEEL_ERRMSG_SIZE];
	uint64_t seq;

	ASSERT_OK(keel_loop_new(&loop, NULL, errmsg));
	dir_make();
	struct replog_store_config cfg = {
	    .path = tdir, .loop = loop, .on_durable = on_durable, .arg = &d};
	ASSERT_OK(replog_store_open(&cfg, &s, errmsg));
	struct replog_write w = w_action(1, 1, "a");
	submit_ok(s, &w, 1);
	ASSERT_TRUE(RUN_UNTIL(loop, d.seq == 1, 5000));
	keel_failpoint_set("replog_store_before_fsync", 1, -EIO, 0);
	w = w_action(2, 1, "b");
	submit_ok(s, &w, 1);
	ASSERT_TRUE(RUN_UNTIL(loop, d.status != 0, 5000));
	keel_failpoint_clear();
	ASSERT_INT_EQ(d.status, -EIO);
	ASSERT_UINT_EQ(d.seq, 1);
	ASSERT_INT_EQ(replog_store_error(s), -EIO);
	ASSERT_INT_EQ(replog_store_recover(s), -EIO);
	ASSERT_STR_CONTAINS(replog_store_errmsg(s), "fsync failed");
	ASSERT_INT_EQ(replog_store_submit(s, &w, 1, &seq), -EIO);
	keel_loop_run_once(loop, 10);
	ASSERT_UINT_EQ(d.seq, 1);
	replog_store_close(s);
	keel_loop_free(loop);
	dir_remove(tdir);
}

TEST(store_failure_before_commit_is_recoverable_for_enospc)
{
	struct replog_store *s;
	struct replog_action a;

	dir_make();
	s = store_open_at(tdir, 0, 0);
	keel_failpoint_set("replog_store_before_commit", 1, -ENOSPC, 0);
	struct replog_write w = w_action(1, 1, "a");
	submit_ok(s, &w, 1);
	ASSERT_INT_EQ(replog_store_flush(s), -ENOSPC);
	keel_failpoint_clear();
	ASSERT_OK(replog_store_recover(s));
	/* The failed write is gone from the overlay and from the disk. */
	ASSERT_INT_EQ(replog_store_read(s, 1, &a), -ENOENT);
	submit_ok(s, &w, 1);
	ASSERT_OK(replog_store_flush(s));
	ASSERT_OK(replog_store_read(s, 1, &a));
	replog_store_close(s);
	dir_remove(tdir);
}

/*
 * Parent side of a crash test: reads the positions the child acknowledged
 * from pipe end `fd` (at most `cap`) until it closes, then checks the child
 * ended by a failpoint crash. Returns how many were read.
 */
static size_t crash_collect(int fd, pid_t pid, uint64_t *acked, size_t cap)
{
	size_t n = 0;
	int status;

	while (read(fd, &acked[n], sizeof(uint64_t)) == sizeof(uint64_t))
		if (n < cap - 1)
			n++;
	close(fd);
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_INT_EQ(WEXITSTATUS(status), KEEL_FAILPOINT_CRASH_STATUS);
	return n;
}

/* A child appends, acknowledging each durable position on a pipe, until a failpoint crashes it. */
static void crash_and_check(const char *failpoint, long countdown)
{
	int p[2];
	pid_t pid;
	uint64_t acked[4096];
	size_t n_acked = 0;

	dir_make();
	ASSERT_OK(pipe(p));
	pid = fork();
	ASSERT_INT_GE(pid, 0);
	if (pid == 0) {
		close(p[0]);
		struct replog_store *s = store_open_at(tdir, 0, 0);
		keel_failpoint_set(failpoint, countdown, KEEL_FAILPOINT_CRASH, 0);
		for (uint64_t i = 0;; i++) {
			char v[32];
			uint64_t seq;
			snprintf(v, sizeof(v), "value-%" PRIu64, i);
			struct replog_write w = w_action(i, 1, v);
			if (replog_store_submit(s, &w, 1, &seq) < 0 || replog_store_flush(s) < 0)
				_exit(3);
			if (write(p[1], &i, sizeof(i)) != sizeof(i))
				_exit(4);
		}
	}
	close(p[1]);
	n_acked = crash_collect(p[0], pid, acked, KEEL_ARRAY_SIZE(acked));
	ASSERT_UINT_EQ(n_acked, (uint64_t)countdown - 1);

	struct replog_store *s = store_open_at(tdir, 0, 0);
	for (size_t i = 0; i < n_acked; i++) {
		struct replog_action a;
		char v[32];
		snprintf(v, sizeof(v), "value-%" PRIu64, acked[i]);
		TH_CONTEXT("acknowledged position %" PRIu64, acked[i]);
		ASSERT_OK(replog_store_read(s, acked[i], &a));
		ASSERT_UINT_EQ(a.len, strlen(v));
		ASSERT_MEM_EQ(a.value, v, a.len);
	}
	TH_CONTEXT(NULL);
	replog_store_release_reads(s);
	replog_store_close(s);
	dir_remove(tdir);
}

TEST(store_crash_before_fsync_loses_nothing_acknowledged)
{
	crash_and_check("replog_store_before_fsync", 25);
}

TEST(store_crash_before_commit_loses_nothing_acknowledged)
{
	crash_and_check("replog_store_before_commit", 17);
}

TEST(store_crash_after_fsync_loses_nothing_acknowledged)
{
	crash_and_check("replog_store_after_fsync", 9);
}
#endif

TEST(store_lazy_submissions_share_the_next_transaction_or_commit_alone)
{
	struct keel_loop *loop;
	struct replog_store *s;
	struct durable_seen d = {0};
	struct replog_store_stats st;
	struct replog_action a;
	char errmsg[KEEL_ERRMSG_SIZE];
	uint64_t seq;

	ASSERT_OK(keel_loop_new(&loop, NULL, errmsg));
	dir_make();
	struct replog_store_config cfg = {
	    .path = tdir, .loop = loop, .on_durable = on_durable, .arg = &d};
	ASSERT_OK(replog_store_open(&cfg, &s, errmsg));
	/* A lazy write alone is still committed, after a short wait, without a flush. */
	struct replog_write w = w_action(1, 1, "lazy");
	ASSERT_OK(replog_store_submit_lazy(s, &w, 1, &seq));
	ASSERT_OK(replog_store_read(s, 1, &a));
	replog_store_kick(s);
	replog_store_kick(s); /* nothing left to wake it for: no effect */
	ASSERT_TRUE(RUN_UNTIL(loop, d.seq == seq, 5000));
	replog_store_stats(s, &st);
	ASSERT_UINT_EQ(st.groups, 1);
	/* A lazy write followed at once by an urgent one: one transaction for both. */
	w = w_action(2, 1, "lazy2");
	ASSERT_OK(replog_store_submit_lazy(s, &w, 1, &seq));
	w = w_action(3, 1, "urgent");
	submit_ok(s, &w, 1);
	ASSERT_TRUE(RUN_UNTIL(loop, d.seq == seq + 1, 5000));
	replog_store_stats(s, &st);
	ASSERT_UINT_EQ(st.groups, 2);
	ASSERT_UINT_EQ(st.batch_last, 2);
	/* Close commits a lazy write still waiting. */
	w = w_action(4, 1, "at-close");
	ASSERT_OK(replog_store_submit_lazy(s, &w, 1, &seq));
	replog_store_close(s);
	s = store_open_at(tdir, 0, 0);
	ASSERT_OK(replog_store_read(s, 4, &a));
	ASSERT_MEM_EQ(a.value, "at-close", 8);
	replog_store_release_reads(s);
	replog_store_close(s);
	keel_loop_free(loop);
	dir_remove(tdir);
}

/* --- Learned marks. --- */

TEST(record_learned_mark_and_wal_state_round_trip_and_every_bit_flip_refused)
{
	unsigned char buf[REPLOG_RECORD_WAL_STATE_SIZE], bad[REPLOG_RECORD_WAL_STATE_SIZE];
	char errmsg[KEEL_ERRMSG_SIZE];
	uint64_t ballot, epoch, applied;

	replog_record_mark_encode(1ull << 33, 0x505, buf);
	ASSERT_OK(
	    replog_record_mark_decode(1ull << 33, buf, REPLOG_RECORD_MARK_SIZE, &ballot, errmsg));
	ASSERT_UINT_EQ(ballot, 0x505);
	ASSERT_INT_EQ(replog_record_mark_decode(3, buf, REPLOG_RECORD_MARK_SIZE, &ballot, errmsg),
		      -EBADMSG);
	ASSERT_STR_CONTAINS(errmsg, "learned mark 3: checksum");
	ASSERT_INT_EQ(replog_record_mark_decode(1ull << 33, buf, 15, &ballot, errmsg), -EBADMSG);
	for (size_t i = 0; i < REPLOG_RECORD_MARK_SIZE * 8; i++) {
		memcpy(bad, buf, REPLOG_RECORD_MARK_SIZE);
		bad[i / 8] ^= (unsigned char)(1u << (i % 8));
		TH_CONTEXT("mark bit %zu", i);
		ASSERT_INT_EQ(replog_record_mark_decode(1ull << 33, bad, REPLOG_RECORD_MARK_SIZE,
							&ballot, NULL),
			      -EBADMSG);
	}
	replog_record_wal_state_encode(7, 1ull << 40, buf);
	ASSERT_OK(replog_record_wal_state_decode(buf, sizeof(buf), &epoch, &applied, errmsg));
	ASSERT_UINT_EQ(epoch, 7);
	ASSERT_UINT_EQ(applied, 1ull << 40);
	for (size_t i = 0; i < sizeof(buf) * 8; i++) {
		memcpy(bad, buf, sizeof(buf));
		bad[i / 8] ^= (unsigned char)(1u << (i % 8));
		TH_CONTEXT("wal state bit %zu", i);
		ASSERT_INT_EQ(
		    replog_record_wal_state_decode(bad, sizeof(bad), &epoch, &applied, NULL),
		    -EBADMSG);
	}
	TH_CONTEXT(NULL);
	ASSERT_INT_EQ(replog_record_wal_state_decode(buf, 3, &epoch, &applied, errmsg), -EBADMSG);
}

/* Counts the records of one of the store's LMDB databases. */
static size_t raw_count(const char *path, const char *db)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;

	ASSERT_INT_EQ(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 3);
	ASSERT_INT_EQ(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
	ASSERT_INT_EQ(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ASSERT_INT_EQ(mdb_dbi_open(txn, db, 0, &dbi), 0);
	ASSERT_INT_EQ(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return st.ms_entries;
}

/* Collects scanned positions with their learned flags. */
struct learned_seen {
	uint64_t pos[16]; /* positions */
	bool learned[16]; /* their flags */
	size_t n;	  /* how many */
};

static int learned_cb(void *arg, const struct replog_action *a)
{
	struct learned_seen *l = arg;
	if (l->n < KEEL_ARRAY_SIZE(l->pos)) {
		l->pos[l->n] = a->position;
		l->learned[l->n++] = a->learned;
	}
	return 0;
}

TEST(store_learned_write_of_the_same_action_is_stored_as_a_mark)
{
	static char big[4000];
	struct replog_store *s;
	struct replog_action a;
	struct learned_seen l = {0};

	memset(big, 'v', sizeof(big) - 1);
	dir_make();
	s = store_open_at(tdir, 0, 0);
	struct replog_write w[] = {w_action(1, 5, big), w_action(2, 5, "two"),
				   w_action(3, 5, "three")};
	submit_ok(s, w, 3);
	ASSERT_OK(replog_store_flush(s));
	/* 1: learned in a later submission; 3: unlearned then learned in the same one. */
	struct replog_write l1 = w_action(1, 5, big);
	l1.action.learned = true;
	submit_ok(s, &l1, 1);
	struct replog_write w3[] = {w_action(3, 6, "three"), w_action(3, 6, "three")};
	w3[1].action.learned = true;
	submit_ok(s, w3, 2);
	/* 2: learned with another ballot (a value chosen elsewhere): stored whole. */
	struct replog_write l2 = w_action(2, 9, "TWO");
	l2.action.learned = true;
	submit_ok(s, &l2, 1);
	/* Before and after the thread commits, reads see the learned actions whole. */
	ASSERT_OK(replog_store_read(s, 1, &a));
	ASSERT_TRUE(a.learned);
	ASSERT_UINT_EQ(a.len, sizeof(big) - 1);
	ASSERT_MEM_EQ(a.value, big, a.len);
	ASSERT_OK(replog_store_flush(s));
	replog_store_close(s);
	/* Two marks (1 and 3); 2 was rewritten whole. */
	ASSERT_UINT_EQ(raw_count(tdir, "learned"), 2);

	s = store_open_at(tdir, 0, 0);
	ASSERT_OK(replog_store_read(s, 1, &a));
	ASSERT_TRUE(a.learned);
	ASSERT_UINT_EQ(a.ballot, 5);
	ASSERT_MEM_EQ(a.value, big, a.len);
	ASSERT_OK(replog_store_read(s, 2, &a));
	ASSERT_TRUE(a.learned);
	ASSERT_MEM_EQ(a.value, "TWO", 3);
	ASSERT_OK(replog_store_read(s, 3, &a));
	ASSERT_TRUE(a.learned);
	ASSERT_UINT_EQ(a.ballot, 6);
	ASSERT_OK(replog_store_scan(s, 0, learned_cb, &l));
	ASSERT_UINT_EQ(l.n, 3);
	ASSERT_TRUE(l.learned[0] && l.learned[1] && l.learned[2]);
	/* A mark counts only for its ballot: the action replaced (before it was learned)
	 * under another ballot is not learned. */
	struct replog_write r1 = w_action(4, 7, "four"), m4 = w_action(4, 7, "four"),
			    r2 = w_action(4, 8, "FOUR");
	m4.action.learned = true;
	submit_ok(s, &r1, 1);
	submit_ok(s, &m4, 1);
	ASSERT_OK(replog_store_read(s, 4, &a));
	ASSERT_TRUE(a.learned);
	submit_ok(s, &r2, 1);
	ASSERT_OK(replog_store_read(s, 4, &a));
	ASSERT_FALSE(a.learned);
	ASSERT_OK(replog_store_flush(s));
	ASSERT_OK(replog_store_read(s, 4, &a));
	ASSERT_FALSE(a.learned);
	ASSERT_UINT_EQ(a.ballot, 8);
	/* Truncation removes marks with their actions. */
	struct replog_write tr = w_below(4);
	submit_ok(s, &tr, 1);
	ASSERT_OK(replog_store_flush(s));
	replog_store_release_reads(s);
	replog_store_close(s);
	ASSERT_UINT_EQ(raw_count(tdir, "learned"), 1); /* position 4's stale mark */
	ASSERT_UINT_EQ(raw_count(tdir, "actions"), 1);
	dir_remove(tdir);
}

TEST(store_damaged_learned_mark_is_refused_with_a_clear_error)
{
	struct replog_store *s;
	struct replog_action a;
	struct collect c = {0};
	unsigned char key[8];

	dir_make();
	s = store_open_at(tdir, 0, 0);
	struct replog_write w = w_action(2, 3, "x"), m = w_action(2, 3, "x");
	m.action.learned = true;
	submit_ok(s, &w, 1);
	submit_ok(s, &m, 1);
	ASSERT_OK(replog_store_flush(s));
	replog_store_close(s);
	replog_record_key(2, key);
	corrupt_raw(tdir, "learned", key, 8, 6);
	s = store_open_at(tdir, 0, 0);
	ASSERT_INT_EQ(replog_store_read(s, 2, &a), -EBADMSG);
	ASSERT_STR_CONTAINS(replog_store_errmsg(s), "learned mark 2: checksum mismatch");
	ASSERT_INT_EQ(replog_store_scan(s, 0, collect_cb, &c), -EBADMSG);
	replog_store_close(s);
	dir_remove(tdir);
}

/* --- The write-ahead log. --- */

/* Writes a log record of `w` at `off` of DIR/wal; flips byte `flip` of it after (or not, -1),
 * and with `reseal` seals it again so that only the inner damage remains. */
static void wal_put(const char *dir, uint64_t off, uint64_t epoch, uint64_t first, uint64_t last,
		    const struct replog_write *w, size_t n, long flip, bool reseal)
{
	char path[4200];
	size_t len = replog_record_wal_size(w, n);
	unsigned char *buf = calloc(1, len);
	struct replog_wal_head h = {.epoch = epoch, .first = first, .last = last, .n = (uint32_t)n};
	int fd;

	ASSERT_NOT_NULL(buf);
	ASSERT_UINT_EQ(replog_record_wal_put(w, n, buf, REPLOG_RECORD_WAL_HEADER), len - 4);
	h.len = (uint32_t)len;
	replog_record_wal_seal(&h, buf);
	if (flip >= 0)
		buf[flip] ^= 0x10;
	if (reseal)
		replog_record_wal_seal(&h, buf);
	snprintf(path, sizeof(path), "%s/wal", dir);
	fd = open(path, O_WRONLY);
	ASSERT_INT_GE(fd, 0);
	ASSERT_INT_EQ(pwrite(fd, buf, len, (off_t)off), (long)len);
	close(fd);
	free(buf);
}

static void expect_value(struct replog_store *s, uint64_t pos, const char *v)
{
	struct replog_action a;
	TH_CONTEXT("position %" PRIu64, pos);
	if (v == NULL) {
		ASSERT_INT_EQ(replog_store_read(s, pos, &a), -ENOENT);
	} else {
		ASSERT_OK(replog_store_read(s, pos, &a));
		ASSERT_UINT_EQ(a.len, strlen(v));
		ASSERT_MEM_EQ(a.value, v, a.len);
	}
	TH_CONTEXT(NULL);
	replog_store_release_reads(s);
}

TEST(record_wal_round_trip_and_every_bit_flip_refused)
{
	struct replog_write w[] = {w_meta(REPLOG_VOTING, 9, 2), w_action(5, 9, "value"), w_below(3),
				   w_action(6, 9, "v6")};
	struct replog_wal_head h = {.epoch = 4, .first = 10, .last = 12, .n = 4}, g;
	unsigned char buf[512], bad[512];
	char errmsg[KEEL_ERRMSG_SIZE];
	size_t len, off;

	w[3].kind = REPLOG_RECORD_WRITE_MARK;
	len = replog_record_wal_size(w, 4);
	ASSERT_UINT_LT(len, sizeof(buf));
	ASSERT_UINT_EQ(replog_record_wal_put(w, 4, buf, REPLOG_RECORD_WAL_HEADER), len - 4);
	h.len = (uint32_t)len;
	replog_record_wal_seal(&h, buf);
	ASSERT_OK(replog_record_wal_head(buf, len, &g));
	ASSERT_OK(replog_record_wal_check(buf, &g));
	ASSERT_UINT_EQ(g.epoch, 4);
	ASSERT_UINT_EQ(g.first, 10);
	ASSERT_UINT_EQ(g.last, 12);
	off = REPLOG_RECORD_WAL_HEADER;
	struct replog_write out;
	ASSERT_OK(replog_record_wal_next(buf, &g, &off, &out, errmsg));
	ASSERT_UINT_EQ(out.kind, REPLOG_WRITE_META);
	ASSERT_UINT_EQ(out.meta.promised, 9);
	ASSERT_OK(replog_record_wal_next(buf, &g, &off, &out, errmsg));
	ASSERT_UINT_EQ(out.action.position, 5);
	ASSERT_MEM_EQ(out.action.value, "value", 5);
	ASSERT_OK(replog_record_wal_next(buf, &g, &off, &out, errmsg));
	ASSERT_UINT_EQ(out.below, 3);
	ASSERT_OK(replog_record_wal_next(buf, &g, &off, &out, errmsg));
	ASSERT_UINT_EQ(out.kind, REPLOG_RECORD_WRITE_MARK);
	ASSERT_UINT_EQ(out.action.position, 6);
	ASSERT_UINT_EQ(out.action.ballot, 9);
	ASSERT_UINT_EQ(off, len - 4);
	ASSERT_INT_EQ(replog_record_wal_next(buf, &g, &off, &out, errmsg), -EBADMSG);
	ASSERT_STR_CONTAINS(errmsg, "past its end");
	/* Every bit flip is caught by the header checks or the checksum. */
	for (size_t i = 0; i < len * 8; i++) {
		memcpy(bad, buf, len);
		bad[i / 8] ^= (unsigned char)(1u << (i % 8));
		TH_CONTEXT("bit %zu", i);
		ASSERT_TRUE(replog_record_wal_head(bad, len, &g) < 0 ||
			    replog_record_wal_check(bad, &g) < 0 || g.epoch != 4 || g.first != 10 ||
			    g.last != 12);
	}
	TH_CONTEXT(NULL);
	ASSERT_INT_EQ(replog_record_wal_head(buf, len - 1, &g), -EBADMSG); /* longer than avail */
	memset(bad, 0, sizeof(bad));
	ASSERT_INT_EQ(replog_record_wal_head(bad, sizeof(bad), &g), -EBADMSG); /* zeros */
}

TEST(store_wal_replays_its_chain_and_nothing_past_it)
{
	static char big[5000];
	struct replog_store *s;
	struct replog_store_config cfg = {0};
	char errmsg[KEEL_ERRMSG_SIZE];

	memset(big, 'B', sizeof(big) - 1);
	dir_make();
	s = store_open_at(tdir, 0, 0); /* LMDB: epoch 1, nothing applied */
	replog_store_close(s);

	/* Epoch 1: two records (the first spans two pages), then one of an older epoch. */
	struct replog_write a[] = {w_action(1, 1, "a"), w_action(10, 1, big)};
	struct replog_write b = w_action(2, 1, "b"), c = w_action(3, 1, "stale-epoch");
	wal_put(tdir, 0, 1, 1, 1, a, 2, -1, false);
	wal_put(tdir, 8192, 1, 2, 3, &b, 1, -1, false);
	wal_put(tdir, 12288, 0, 4, 4, &c, 1, -1, false);
	s = store_open_at(tdir, 0, 0); /* now epoch 2, applied 3 */
	expect_value(s, 1, "a");
	expect_value(s, 10, big);
	expect_value(s, 2, "b");
	expect_value(s, 3, NULL);
	replog_store_close(s);

	/* Epoch 2: a record, one torn by a crash, a valid one after it: the chain ends at the
	 * torn one. */
	struct replog_write d = w_action(4, 1, "d"), e = w_action(5, 1, "e"),
			    f = w_action(6, 1, "f");
	wal_put(tdir, 0, 2, 4, 4, &d, 1, -1, false);
	wal_put(tdir, 4096, 2, 5, 5, &e, 1, 60, false);
	wal_put(tdir, 8192, 2, 6, 6, &f, 1, -1, false);
	s = store_open_at(tdir, 0, 0); /* epoch 3, applied 4 */
	expect_value(s, 4, "d");
	expect_value(s, 5, NULL);
	expect_value(s, 6, NULL);
	replog_store_close(s);

	/* Epoch 3: a record, then one of an earlier pass over the file (lower numbers). */
	struct replog_write g = w_action(7, 1, "g"), h = w_action(8, 1, "stale-pass");
	wal_put(tdir, 0, 3, 5, 5, &g, 1, -1, false);
	wal_put(tdir, 4096, 3, 3, 3, &h, 1, -1, false);
	s = store_open_at(tdir, 0, 0); /* epoch 4, applied 5 */
	expect_value(s, 7, "g");
	expect_value(s, 8, NULL);
	replog_store_close(s);

	/* A gap between LMDB and the log: refused. */
	cfg.path = tdir;
	struct replog_write i = w_action(9, 1, "i");
	wal_put(tdir, 0, 4, 9, 9, &i, 1, -1, false);
	ASSERT_INT_EQ(replog_store_open(&cfg, &s, errmsg), -EBADMSG);
	ASSERT_STR_CONTAINS(errmsg, "wal: first record holds submissions 9-9");
	/* A gap inside the chain: refused. */
	struct replog_write j = w_action(11, 1, "j");
	wal_put(tdir, 0, 4, 6, 6, &i, 1, -1, false);
	wal_put(tdir, 4096, 4, 8, 8, &j, 1, -1, false);
	ASSERT_INT_EQ(replog_store_open(&cfg, &s, errmsg), -EBADMSG);
	ASSERT_STR_CONTAINS(errmsg, "a gap");
	wal_put(tdir, 4096, 4, 2, 2, &j, 1, -1, false); /* an earlier pass's: the end */
	/* A damaged write inside a record whose checksum is right: refused. */
	wal_put(tdir, 0, 4, 6, 6, &i, 1, REPLOG_RECORD_WAL_HEADER + 1 + 12 + 2, true);
	ASSERT_INT_EQ(replog_store_open(&cfg, &s, errmsg), -EBADMSG);
	ASSERT_STR_CONTAINS(errmsg, "action 9");
	/* Nothing changed meanwhile: the right record is taken. */
	wal_put(tdir, 0, 4, 6, 6, &i, 1, -1, false);
	s = store_open_at(tdir, 0, 0);
	expect_value(s, 9, "i");
	expect_value(s, 7, "g");
	replog_store_close(s);
	dir_remove(tdir);
}

#ifdef KEEL_FAILPOINTS
/*
 * A child appends one value at a time, waiting for each to be durable (no
 * flush: the values stay in the log only), acknowledging each on a pipe.
 * After `flushes` values it flushes every 7 values (the LMDB transaction
 * commits and the log starts again at offset 0), then arms `failpoint` to
 * crash and goes on until the next commit of the open transaction crashes.
 */
/*
 * Power loss just before the log's fdatasync: the record being written never
 * reached the disk whole. Tears the log's newest record (the one with the
 * highest numbers) by zeroing its second half; returns its first number.
 */
static uint64_t wal_tear_newest(const char *dir)
{
	char path[4200];
	unsigned char head[REPLOG_RECORD_WAL_HEADER];
	struct replog_wal_head h, best = {0};
	uint64_t best_off = 0;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/wal", dir);
	fd = open(path, O_RDWR);
	ASSERT_INT_GE(fd, 0);
	ASSERT_OK(fstat(fd, &st));
	for (uint64_t off = 0; off + sizeof(head) <= (uint64_t)st.st_size;
	     off += REPLOG_RECORD_WAL_ALIGN) {
		ASSERT_INT_EQ(pread(fd, head, sizeof(head), (off_t)off), (long)sizeof(head));
		if (replog_record_wal_head(head, (size_t)((uint64_t)st.st_size - off), &h) == 0 &&
		    h.first > best.first) {
			best = h;
			best_off = off;
		}
	}
	ASSERT_UINT_GT(best.len, 0);
	size_t half = best.len / 2, n = best.len - half;
	unsigned char *zeros = calloc(1, n);
	ASSERT_NOT_NULL(zeros);
	ASSERT_INT_EQ(pwrite(fd, zeros, n, (off_t)(best_off + half)), (long)n);
	free(zeros);
	close(fd);
	return best.first;
}

static void crash_in_apply_and_check(const char *failpoint, unsigned flushes, bool power_loss)
{
	int p[2];
	pid_t pid;
	uint64_t acked[8192];
	size_t n_acked = 0;
	struct collect c = {0};

	/*
	 * A loaded machine can delay the child's loop past the open
	 * transaction's age, so that the commit (and crash) comes before any
	 * value only in the log was acknowledged: run again (up to 5 times).
	 */
	for (int attempt = 1;; attempt++) {
		n_acked = 0;
		dir_make();
		ASSERT_OK(pipe(p));
		pid = fork();
		ASSERT_INT_GE(pid, 0);
		if (pid == 0) {
			struct keel_loop *loop;
			struct replog_store *s;
			struct durable_seen d = {0};
			char errmsg[KEEL_ERRMSG_SIZE];
			close(p[0]);
			if (keel_loop_new(&loop, NULL, errmsg) < 0)
				_exit(2);
			struct replog_store_config cfg = {
			    .path = tdir, .loop = loop, .on_durable = on_durable, .arg = &d};
			if (replog_store_open(&cfg, &s, errmsg) < 0)
				_exit(2);
			for (uint64_t i = 0;; i++) {
				char v[32];
				uint64_t seq;
				if (i == flushes)
					keel_failpoint_set(failpoint, 1, KEEL_FAILPOINT_CRASH, 0);
				snprintf(v, sizeof(v), "value-%" PRIu64, i);
				/* Each submission also promises ballot i + 1 (metadata). */
				struct replog_write w[] = {w_action(i, 1, v),
							   w_meta(REPLOG_VOTING, i + 1, 0)};
				if (replog_store_submit(s, w, 2, &seq) < 0)
					_exit(3);
				while (d.seq < seq && d.status == 0)
					keel_loop_run_once(loop, 100);
				if (d.status != 0)
					_exit(4);
				if (write(p[1], &i, sizeof(i)) != sizeof(i))
					_exit(5);
				if (i < flushes && i % 7 == 6 && replog_store_flush(s) < 0)
					_exit(6);
			}
		}
		close(p[1]);
		n_acked = crash_collect(p[0], pid, acked, KEEL_ARRAY_SIZE(acked));
		if (power_loss || n_acked > flushes || attempt == 5)
			break;
		printf("# %s: no value only in the log was acknowledged before the crash "
		       "(attempt %d), again\n",
		       failpoint, attempt);
		dir_remove(tdir);
	}
	if (power_loss) {
		/* The crash came at the fdatasync of value `flushes`: lose its record. */
		ASSERT_UINT_EQ(n_acked, flushes);
		ASSERT_UINT_GT(wal_tear_newest(tdir), 0);
	} else {
		/* Some acknowledged values were in the log only when the crash came. */
		ASSERT_UINT_GT(n_acked, flushes);
	}

	struct replog_store *s = store_open_at(tdir, 0, 0);
	for (size_t i = 0; i < n_acked; i++) {
		char v[32];
		snprintf(v, sizeof(v), "value-%" PRIu64, acked[i]);
		expect_value(s, acked[i], v);
	}
	/* The promise of the last acknowledged submission is durable too. */
	struct replog_meta meta;
	ASSERT_OK(replog_store_meta(s, &meta));
	ASSERT_UINT_GE(meta.promised, n_acked);
	if (power_loss) {
		/* The torn record is not replayed (nothing past it either). */
		ASSERT_UINT_EQ(meta.promised, n_acked);
		expect_value(s, flushes, NULL);
		expect_value(s, flushes + 1, NULL);
	}
	ASSERT_OK(replog_store_scan(s, 0, collect_cb, &c));
	ASSERT_UINT_GE(c.total, n_acked);
	replog_store_close(s);
	/* The store takes writes at the torn record's position again. */
	if (power_loss) {
		s = store_open_at(tdir, 0, 0);
		struct replog_write w = w_action(flushes, 1, "after");
		uint64_t seq;
		ASSERT_OK(replog_store_submit(s, &w, 1, &seq));
		ASSERT_OK(replog_store_flush(s));
		replog_store_close(s);
		s = store_open_at(tdir, 0, 0);
		expect_value(s, flushes, "after");
		char v[32];
		snprintf(v, sizeof(v), "value-%u", flushes - 1);
		expect_value(s, flushes - 1, v);
		replog_store_close(s);
	}
	dir_remove(tdir);
}

TEST(store_crash_before_lmdb_commit_replays_the_log)
{
	crash_in_apply_and_check("replog_store_before_apply", 0, false);
}

TEST(store_crash_before_lmdb_meta_sync_replays_the_log)
{
	crash_in_apply_and_check("replog_store_before_apply_sync", 0, false);
}

TEST(store_crash_after_log_passes_replays_only_the_last_pass)
{
	crash_in_apply_and_check("replog_store_before_apply", 30, false);
}

TEST(store_power_loss_before_the_log_fsync_loses_nothing_acknowledged)
{
	/* Values 14-19 only in the log (flushes at 6 and 13); 20's record is torn. */
	crash_in_apply_and_check("replog_store_before_fsync", 20, true);
}

TEST(store_power_loss_after_log_passes_loses_nothing_acknowledged)
{
	crash_in_apply_and_check("replog_store_before_fsync", 45, true);
}
#endif

#ifdef KEEL_FAILPOINTS
/* Submits "value-i" at position i, one at a time, each waiting until durable (no flush). */
static int submit_durable(struct keel_loop *loop, struct replog_store *s, struct durable_seen *d,
			  uint64_t i)
{
	char v[32];
	uint64_t seq;
	snprintf(v, sizeof(v), "value-%" PRIu64, i);
	struct replog_write w = w_action(i, 1, v);
	int rv = replog_store_submit(s, &w, 1, &seq);
	if (rv < 0)
		return rv;
	while (d->seq < seq && d->status == 0)
		keel_loop_run_once(loop, 100);
	return d->status;
}

/* A new loop and a store in a fresh tdir that reports to *d through it. */
static struct replog_store *store_open_looped(struct keel_loop **loop, struct durable_seen *d)
{
	struct replog_store *s;
	char errmsg[KEEL_ERRMSG_SIZE];

	ASSERT_OK(keel_loop_new(loop, NULL, errmsg));
	dir_make();
	struct replog_store_config cfg = {
	    .path = tdir, .loop = *loop, .on_durable = on_durable, .arg = d};
	ASSERT_OK(replog_store_open(&cfg, &s, errmsg));
	return s;
}

/* Expects "value-i" at every position i < n except `missing` (which must be absent). */
static void expect_values(struct replog_store *s, uint64_t n, uint64_t missing)
{
	char v[32];

	for (uint64_t i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "value-%" PRIu64, i);
		expect_value(s, i, i == missing ? NULL : v);
	}
}

TEST(store_full_map_in_the_open_transaction_keeps_what_the_log_acknowledged)
{
	struct keel_loop *loop;
	struct durable_seen d = {0};
	struct replog_action a;
	struct replog_store *s = store_open_looped(&loop, &d);

	/* Five groups through the log, in the open transaction; the sixth meets a full map. */
	keel_failpoint_set("replog_store_log_map_full", 6, -ENOSPC, 0);
	for (uint64_t i = 0; i < 5; i++)
		ASSERT_OK(submit_durable(loop, s, &d, i));
	ASSERT_INT_EQ(submit_durable(loop, s, &d, 5), -ENOSPC);
	keel_failpoint_clear();
	ASSERT_STR_CONTAINS(replog_store_errmsg(s), "map full");
	ASSERT_UINT_EQ(d.seq, 5);
	/* The five were committed to LMDB without the sixth: recover leaves them. */
	ASSERT_OK(replog_store_recover(s));
	expect_values(s, 5, UINT64_MAX);
	ASSERT_INT_EQ(replog_store_read(s, 5, &a), -ENOENT);
	d.status = 0;
	ASSERT_OK(submit_durable(loop, s, &d, 6));
	replog_store_close(s);
	s = store_open_at(tdir, 0, 0);
	expect_values(s, 7, 5);
	replog_store_close(s);
	keel_loop_free(loop);
	dir_remove(tdir);
}

TEST(store_failed_background_commit_is_sticky_and_the_log_keeps_the_writes)
{
	struct keel_loop *loop;
	struct durable_seen d = {0};
	uint64_t seq;
	struct replog_store *s = store_open_looped(&loop, &d);

	keel_failpoint_set("replog_store_before_apply", 1, -EIO, 0);
	for (uint64_t i = 0; i < 5; i++)
		ASSERT_OK(submit_durable(loop, s, &d, i));
	/* The flush commits the open transaction: that fails, for good. */
	ASSERT_INT_EQ(replog_store_flush(s), -EIO);
	keel_failpoint_clear();
	ASSERT_STR_CONTAINS(replog_store_errmsg(s), "write-ahead log");
	ASSERT_INT_EQ(replog_store_recover(s), -EIO);
	struct replog_write w = w_action(9, 1, "x");
	ASSERT_INT_EQ(replog_store_submit(s, &w, 1, &seq), -EIO);
	replog_store_close(s);
	/* The next open applies what the log acknowledged. */
	s = store_open_at(tdir, 0, 0);
	expect_values(s, 5, UINT64_MAX);
	replog_store_close(s);
	keel_loop_free(loop);
	dir_remove(tdir);
}
#endif

TEST(store_trace_writes_its_events_or_fails_the_open)
{
	struct replog_store *s;
	struct replog_store_config cfg = {0};
	char errmsg[KEEL_ERRMSG_SIZE], prefix[4200], path[4300], line[256];
	bool seen = false;
	FILE *f;

	dir_make();
	snprintf(prefix, sizeof(prefix), "%s/trace", tdir);
	cfg.path = tdir;
	cfg.trace = prefix;
	cfg.trace_node = 7;
	ASSERT_OK(replog_store_open(&cfg, &s, errmsg));
	struct replog_write w = w_action(1, 1, "traced");
	submit_ok(s, &w, 1);
	ASSERT_OK(replog_store_flush(s));
	replog_store_close(s);
	snprintf(path, sizeof(path), "%s.7.store.%ld", prefix, (long)getpid());
	f = fopen(path, "r");
	ASSERT_NOT_NULL(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " st_take 1 1 1"))
			seen = true;
	fclose(f);
	ASSERT_TRUE(seen);
	/* A trace that cannot be written refuses the open, saying why. */
	cfg.trace = "/proc/no/such/dir/trace";
	ASSERT_INT_LT(replog_store_open(&cfg, &s, errmsg), 0);
	ASSERT_STR_CONTAINS(errmsg, "trace /proc/no/such/dir/trace");
	dir_remove(tdir);
}

TEST(record_action_peek_reads_the_header_only)
{
	struct replog_action a = {
	    .position = 3, .ballot = 77, .type = REPLOG_ACTION_APPEND, .value = "v", .len = 1};
	unsigned char buf[64];
	uint64_t ballot;
	uint8_t type;
	bool learned = true;
	size_t n = replog_record_action_size(&a);

	replog_record_action_encode(&a, buf);
	buf[REPLOG_RECORD_ACTION_HEADER] ^= 1; /* a damaged value: peek does not look */
	ASSERT_OK(replog_record_action_peek(buf, n, &ballot, &type, &learned));
	ASSERT_UINT_EQ(ballot, 77);
	ASSERT_UINT_EQ(type, REPLOG_ACTION_APPEND);
	ASSERT_FALSE(learned);
	ASSERT_INT_EQ(replog_record_action_peek(buf, REPLOG_RECORD_ACTION_HEADER + 3, &ballot,
						&type, &learned),
		      -EBADMSG);
	buf[0] = 9;
	ASSERT_INT_EQ(replog_record_action_peek(buf, n, &ballot, &type, &learned), -EBADMSG);
}
