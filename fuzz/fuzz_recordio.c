/* libFuzzer target: RecordIO gives the same records and error however the input is split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buf.h"
#include "runtime/recordio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Appends each record as its length (8 bytes) and bytes, so concatenations are unambiguous. */
static int collect(void *arg, const char *rec, size_t len)
{
	struct keel_buf *out = arg;
	uint64_t n = len;

	if (keel_buf_append(out, &n, sizeof(n)) < 0 || keel_buf_append(out, rec, len) < 0)
		abort();
	return 0;
}

/* Feeds in[0, n) in pieces whose lengths come from a PRNG seeded with seed (0 = one piece). */
static int decode(const char *in, size_t n, size_t max_record, uint32_t seed, struct keel_buf *out)
{
	struct keel_recordio_decoder d;
	size_t pos = 0, len;
	int rv = 0;

	keel_recordio_decoder_init(&d, max_record);
	while (pos < n && rv == 0) {
		if (seed == 0) {
			len = n - pos;
		} else {
			seed = seed * 1103515245u + 12345u;
			len = (seed >> 16) % 17 + 1;
			if (len > n - pos)
				len = n - pos;
		}
		char *p = malloc(len); /* exact size: ASan sees over-reads */
		memcpy(p, in + pos, len);
		rv = keel_recordio_feed(&d, p, len, collect, out);
		if (rv == 0 && d.consumed != len)
			abort();
		free(p);
		pos += len;
	}
	/* A failed decoder stays failed. */
	if (rv < 0 && keel_recordio_feed(&d, "1\nx", 3, collect, out) != rv)
		abort();
	keel_recordio_decoder_free(&d);
	return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keel_buf a = KEEL_BUF_INIT, b = KEEL_BUF_INIT;
	size_t max_record;
	uint32_t seed;
	int ra, rb;

	if (size < 2)
		return 0;
	max_record = (size_t)data[0] * 4;
	seed = (uint32_t)data[1] * 2654435761u | 1u;
	ra = decode((const char *)data + 2, size - 2, max_record, 0, &a);
	rb = decode((const char *)data + 2, size - 2, max_record, seed, &b);
	if (ra != rb || keel_buf_size(&a) != keel_buf_size(&b) ||
	    (keel_buf_size(&a) > 0 &&
	     memcmp(keel_buf_rptr(&a), keel_buf_rptr(&b), keel_buf_size(&a)) != 0))
		abort();
	keel_buf_free(&a);
	keel_buf_free(&b);
	return 0;
}
