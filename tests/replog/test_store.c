/* Unit tests for the replog storage records and the LMDB store (overlay, group commit, failures).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
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
	replog_store_stats(s, &st);
	ASSERT_UINT_EQ(st.writes, N);
	ASSERT_UINT_EQ(st.submits, N);
	/* Submissions queued behind an fsync share the next transaction. */
	ASSERT_UINT_LT(st.commits, N);
	ASSERT_UINT_GT(st.batch_max, 1);
	ASSERT_UINT_EQ(st.fsyncs, st.commits);
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
	mdb_env_set_maxdbs(env, 2);
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
	if (mount("keeltest", mnt, "tmpfs", 0, "size=2m") < 0) {
		dir_remove(tdir);
		TH_SKIP("cannot mount a tmpfs (needs root)");
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

/* A child appends, acknowledging each durable position on a pipe, until a failpoint crashes it. */
static void crash_and_check(const char *failpoint, long countdown)
{
	int p[2];
	pid_t pid;
	int status;
	uint64_t acked[4096];
	size_t n_acked = 0;
	ssize_t r;

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
	while ((r = read(p[0], &acked[n_acked], sizeof(uint64_t))) == sizeof(uint64_t))
		if (n_acked < KEEL_ARRAY_SIZE(acked) - 1)
			n_acked++;
	close(p[0]);
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_INT_EQ(WEXITSTATUS(status), KEEL_FAILPOINT_CRASH_STATUS);
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
	ASSERT_TRUE(RUN_UNTIL(loop, d.seq == seq, 5000));
	replog_store_stats(s, &st);
	ASSERT_UINT_EQ(st.commits, 1);
	/* A lazy write followed at once by an urgent one: one transaction for both. */
	w = w_action(2, 1, "lazy2");
	ASSERT_OK(replog_store_submit_lazy(s, &w, 1, &seq));
	w = w_action(3, 1, "urgent");
	submit_ok(s, &w, 1);
	ASSERT_TRUE(RUN_UNTIL(loop, d.seq == seq + 1, 5000));
	replog_store_stats(s, &st);
	ASSERT_UINT_EQ(st.commits, 2);
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
