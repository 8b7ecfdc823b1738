/* Unit tests for RecordIO: encoding, decoding across every split, limits, errors, callbacks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runtime/alloc.h"
#include "runtime/recordio.h"
#include "runtime/util.h"

#define S(lit) lit, sizeof(lit) - 1

/* What a callback saw: the records, NUL-separated, and where each pointed. */
struct seen {
	char data[8192]; /* record bytes, each followed by '|' */
	size_t len;	 /* bytes used in data */
	int count;	 /* records seen */
	int zero_copy;	 /* records that pointed into the fed bytes */
	const char *lo;	 /* the fed buffer, to tell zero-copy from buffered */
	const char *hi;	 /* its end */
	int stop_after;	 /* return stop_rv after this many records (0 = never) */
	int stop_rv;	 /* what to return then */
};

static int collect(void *arg, const char *rec, size_t len)
{
	struct seen *s = arg;

	ASSERT_UINT_LE(s->len + len + 1, sizeof(s->data));
	memcpy(s->data + s->len, rec, len);
	s->len += len;
	s->data[s->len++] = '|';
	s->count++;
	if (rec >= s->lo && rec + len <= s->hi)
		s->zero_copy++;
	if (s->stop_after > 0 && s->count == s->stop_after)
		return s->stop_rv;
	return 0;
}

/* Feeds p[0, n) as the pieces between cuts, each in an exactly-sized heap copy. */
static int feed_pieces(struct keel_recordio_decoder *d, const char *p, size_t n, const size_t *cuts,
		       size_t ncuts, struct seen *s)
{
	size_t piece, pos = 0;
	int rv = 0;

	for (piece = 0; piece <= ncuts && rv == 0; piece++) {
		size_t stop = piece < ncuts ? cuts[piece] : n;
		char *copy = malloc(stop - pos ? stop - pos : 1);

		memcpy(copy, p + pos, stop - pos);
		s->lo = copy;
		s->hi = copy + (stop - pos);
		rv = keel_recordio_feed(d, copy, stop - pos, collect, s);
		free(copy);
		pos = stop;
	}
	return rv;
}

TEST(recordio_encode)
{
	struct keel_buf b = KEEL_BUF_INIT;

	ASSERT_OK(keel_recordio_encode(&b, "hello", 5));
	ASSERT_OK(keel_recordio_encode(&b, "", 0));
	ASSERT_OK(keel_recordio_encode(&b, NULL, 0));
	ASSERT_OK(keel_recordio_encode(&b, "{\"type\":\"HEARTBEAT\"}", 20));
	ASSERT_UINT_EQ(keel_buf_size(&b), 2 + 5 + 2 + 2 + 3 + 20);
	ASSERT_MEM_EQ(keel_buf_rptr(&b), "5\nhello0\n0\n20\n{\"type\":\"HEARTBEAT\"}", 34);
	/* Sizes that cannot be framed fail before the record is read. */
	ASSERT_INT_EQ(keel_recordio_encode(&b, NULL, SIZE_MAX), -ENOMEM);
	ASSERT_INT_EQ(keel_recordio_encode(&b, NULL, SIZE_MAX - 64), -ENOMEM);
	ASSERT_UINT_EQ(keel_buf_size(&b), 34);
	keel_buf_free(&b);
}

#ifdef KEEL_FAILPOINTS
TEST(recordio_encode_enomem_leaves_buffer_unchanged)
{
	struct keel_buf b = KEEL_BUF_INIT;
	char big[1000];

	memset(big, 'x', sizeof(big));
	ASSERT_OK(keel_recordio_encode(&b, "ab", 2));
	keel_alloc_fail_after(1, false);
	ASSERT_INT_EQ(keel_recordio_encode(&b, big, sizeof(big)), -ENOMEM);
	keel_alloc_fail_after(0, false);
	ASSERT_UINT_EQ(keel_buf_size(&b), 4);
	ASSERT_MEM_EQ(keel_buf_rptr(&b), "2\nab", 4);
	keel_buf_free(&b);
}

TEST(recordio_decode_enomem_is_sticky)
{
	struct keel_recordio_decoder d;
	struct seen s = {0};

	keel_recordio_decoder_init(&d, 100);
	keel_alloc_fail_after(1, false);
	ASSERT_INT_EQ(keel_recordio_feed(&d, S("5\nhel"), collect, &s), -ENOMEM);
	keel_alloc_fail_after(0, false);
	ASSERT_INT_EQ(keel_recordio_feed(&d, S("lo"), collect, &s), -ENOMEM);
	ASSERT_INT_EQ(s.count, 0);
	keel_recordio_decoder_free(&d);
}
#endif

TEST(recordio_many_records_in_one_feed_are_zero_copy)
{
	struct keel_recordio_decoder d;
	struct seen s = {0};
	static const char in[] = "5\nhello0\n3\nabc012\nwith\nnewline";

	keel_recordio_decoder_init(&d, 1024);
	ASSERT_OK(feed_pieces(&d, S(in), NULL, 0, &s));
	ASSERT_INT_EQ(s.count, 4);
	ASSERT_INT_EQ(s.zero_copy, 4);
	ASSERT_UINT_EQ(d.consumed, sizeof(in) - 1);
	ASSERT_MEM_EQ(s.data, "hello||abc|with\nnewline|", s.len);
	ASSERT_UINT_EQ(s.len, 24);
	keel_recordio_decoder_free(&d);
}

TEST(recordio_split_at_every_boundary)
{
	struct keel_buf enc = KEEL_BUF_INIT;
	static const char *const recs[] = {"a", "", "hello world", "{\"x\":[1,2,3]}", "\n\n", "z"};
	struct keel_recordio_decoder d;
	static struct seen whole, part;
	size_t i, j, n, cuts[2];

	for (i = 0; i < KEEL_ARRAY_SIZE(recs); i++)
		ASSERT_OK(keel_recordio_encode(&enc, recs[i], strlen(recs[i])));
	n = keel_buf_size(&enc);
	keel_recordio_decoder_init(&d, 64);
	ASSERT_OK(feed_pieces(&d, keel_buf_rptr(&enc), n, NULL, 0, &whole));
	keel_recordio_decoder_free(&d);
	ASSERT_INT_EQ(whole.count, (int)KEEL_ARRAY_SIZE(recs));
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j++) {
			memset(&part, 0, sizeof(part));
			cuts[0] = i;
			cuts[1] = j;
			TH_CONTEXT("cuts %zu %zu", i, j);
			keel_recordio_decoder_init(&d, 64);
			ASSERT_OK(feed_pieces(&d, keel_buf_rptr(&enc), n, cuts, 2, &part));
			keel_recordio_decoder_free(&d);
			ASSERT_INT_EQ(part.count, whole.count);
			ASSERT_UINT_EQ(part.len, whole.len);
			ASSERT_MEM_EQ(part.data, whole.data, whole.len);
		}
	}
	/* One byte at a time: every non-empty record is buffered, none lost. */
	size_t every[256];
	ASSERT_UINT_LT(n, KEEL_ARRAY_SIZE(every));
	for (i = 0; i < n; i++)
		every[i] = i + 1;
	memset(&part, 0, sizeof(part));
	keel_recordio_decoder_init(&d, 64);
	ASSERT_OK(feed_pieces(&d, keel_buf_rptr(&enc), n, every, n - 1, &part));
	keel_recordio_decoder_free(&d);
	ASSERT_MEM_EQ(part.data, whole.data, whole.len);
	keel_buf_free(&enc);
}

TEST(recordio_max_record)
{
	struct keel_recordio_decoder d;
	struct seen s = {0};

	keel_recordio_decoder_init(&d, 5);
	ASSERT_OK(keel_recordio_feed(&d, S("5\nhello"), collect, &s));
	ASSERT_INT_EQ(s.count, 1);
	/* Refused from the length line alone, before any record byte arrives. */
	ASSERT_INT_EQ(keel_recordio_feed(&d, S("6"), collect, &s), -EMSGSIZE);
	ASSERT_UINT_EQ(d.consumed, 1);
	ASSERT_NULL(d.buf.data);
	/* Sticky. */
	ASSERT_INT_EQ(keel_recordio_feed(&d, S("\nabcdef1\nx"), collect, &s), -EMSGSIZE);
	ASSERT_INT_EQ(s.count, 1);
	keel_recordio_decoder_free(&d);

	keel_recordio_decoder_init(&d, 0);
	ASSERT_OK(keel_recordio_feed(&d, S("0\n00\n"), collect, &s));
	ASSERT_INT_EQ(s.count, 3);
	ASSERT_INT_EQ(keel_recordio_feed(&d, S("1\n"), collect, &s), -EMSGSIZE);
	keel_recordio_decoder_free(&d);

	/* A length that would need more than 64 bits is refused as too big first. */
	keel_recordio_decoder_init(&d, 1000);
	ASSERT_INT_EQ(keel_recordio_feed(&d, S("99999999999999999999999\n"), collect, &s),
		      -EMSGSIZE);
	keel_recordio_decoder_free(&d);
}

static int bad_line(const char *in, size_t n)
{
	struct keel_recordio_decoder d;
	struct seen s = {0};
	int rv;

	keel_recordio_decoder_init(&d, SIZE_MAX);
	rv = keel_recordio_feed(&d, in, n, collect, &s);
	ASSERT_INT_EQ(s.count, 0);
	/* The failure is sticky, even for good input. */
	if (rv < 0)
		ASSERT_INT_EQ(keel_recordio_feed(&d, S("1\nx"), collect, &s), rv);
	keel_recordio_decoder_free(&d);
	return rv;
}

TEST(recordio_bad_length_lines)
{
	ASSERT_INT_EQ(bad_line(S("\n")), -EBADMSG);
	ASSERT_INT_EQ(bad_line(S("x\n")), -EBADMSG);
	ASSERT_INT_EQ(bad_line(S("-1\n")), -EBADMSG);
	ASSERT_INT_EQ(bad_line(S("+1\n")), -EBADMSG);
	ASSERT_INT_EQ(bad_line(S(" 1\n")), -EBADMSG);
	ASSERT_INT_EQ(bad_line(S("1 \n")), -EBADMSG);
	ASSERT_INT_EQ(bad_line(S("1\r\nx")), -EBADMSG);
	ASSERT_INT_EQ(bad_line(S("0x1\n")), -EBADMSG);
	/* Overflow of 64 bits, and a line longer than 20 digits. */
	ASSERT_INT_EQ(bad_line(S("18446744073709551616\n")), -EBADMSG);
	ASSERT_INT_EQ(bad_line(S("000000000000000000001\n")), -EBADMSG);
	/* Leading zeros are accepted, as Mesos does; 20 digits are the limit. */
	ASSERT_INT_EQ(bad_line(S("00000000000000000001\n")), 0);
	ASSERT_INT_EQ(bad_line(S("18446744073709551615\n")), 0);
}

TEST(recordio_leading_zeros)
{
	struct keel_recordio_decoder d;
	struct seen s = {0};

	keel_recordio_decoder_init(&d, 100);
	ASSERT_OK(keel_recordio_feed(&d, S("003\nabc"), collect, &s));
	ASSERT_INT_EQ(s.count, 1);
	ASSERT_MEM_EQ(s.data, "abc|", 4);
	keel_recordio_decoder_free(&d);
}

TEST(recordio_callback_stop_and_resume)
{
	struct keel_recordio_decoder d;
	struct seen s = {0};
	static const char in[] = "1\na1\nb1\nc";

	s.stop_after = 2;
	s.stop_rv = 42;
	keel_recordio_decoder_init(&d, 100);
	ASSERT_INT_EQ(keel_recordio_feed(&d, S(in), collect, &s), 42);
	ASSERT_INT_EQ(s.count, 2);
	ASSERT_UINT_EQ(d.consumed, 6);
	/* The decoder is intact: the rest can be fed. */
	s.stop_after = 0;
	ASSERT_OK(
	    keel_recordio_feed(&d, in + d.consumed, sizeof(in) - 1 - d.consumed, collect, &s));
	ASSERT_INT_EQ(s.count, 3);
	ASSERT_MEM_EQ(s.data, "a|b|c|", 6);

	/* Stopping on a buffered record works the same way. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	s.stop_rv = -ECANCELED;
	ASSERT_OK(keel_recordio_feed(&d, S("3\nab"), collect, &s));
	ASSERT_INT_EQ(keel_recordio_feed(&d, S("c2\nde"), collect, &s), -ECANCELED);
	ASSERT_UINT_EQ(d.consumed, 1);
	s.stop_after = 0;
	ASSERT_OK(keel_recordio_feed(&d, S("2\nde"), collect, &s));
	ASSERT_MEM_EQ(s.data, "abc|de|", 7);
	keel_recordio_decoder_free(&d);
}

TEST(recordio_randomized_roundtrip)
{
	uint64_t x = th_seed() * 2654435761u + 1;
	struct keel_buf enc = KEEL_BUF_INIT, want = KEEL_BUF_INIT;
	struct keel_recordio_decoder d;
	static struct seen s;
	char rec[300];
	size_t i, n, pos;
	int round;

	printf("  seed %llu (replay with --seed)\n", (unsigned long long)th_seed());
	for (round = 0; round < 200; round++) {
		keel_buf_clear(&enc);
		keel_buf_clear(&want);
		for (i = 0; i < 10; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			n = (size_t)(x >> 33) % sizeof(rec);
			memset(rec, (int)('a' + i), n);
			ASSERT_OK(keel_recordio_encode(&enc, rec, n));
			ASSERT_OK(keel_buf_append(&want, rec, n));
			ASSERT_OK(keel_buf_putc(&want, '|'));
		}
		memset(&s, 0, sizeof(s));
		keel_recordio_decoder_init(&d, sizeof(rec));
		for (pos = 0; pos < keel_buf_size(&enc);) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			n = KEEL_MIN((size_t)(x >> 33) % 700 + 1, keel_buf_size(&enc) - pos);
			s.lo = keel_buf_rptr(&enc) + pos;
			s.hi = s.lo + n;
			TH_CONTEXT("round %d pos %zu", round, pos);
			ASSERT_OK(
			    keel_recordio_feed(&d, keel_buf_rptr(&enc) + pos, n, collect, &s));
			pos += n;
		}
		keel_recordio_decoder_free(&d);
		ASSERT_UINT_EQ(s.len, keel_buf_size(&want));
		ASSERT_MEM_EQ(s.data, keel_buf_rptr(&want), s.len);
	}
	keel_buf_free(&enc);
	keel_buf_free(&want);
}
