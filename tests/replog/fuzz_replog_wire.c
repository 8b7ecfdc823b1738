/* libFuzzer target: the replog wire batch decoder and the storage record decoders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replog/record.h"
#include "replog/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* First byte picks the decoder; the rest is its input. A decoded batch must re-encode and
 * decode to the same number of messages; a decoded record must re-encode to the same bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0] % 6;
	data++;
	size--;
	if (sel == 0) {
		struct replog_wire_batch b, b2;
		struct keel_buf buf = {0};
		if (replog_wire_decode(data, size, &b, NULL) < 0)
			return 0;
		if (replog_wire_encode(b.msgs, b.n, &buf, NULL) == 0) {
			const char *p = keel_buf_size(&buf) ? keel_buf_rptr(&buf) : "";
			if (replog_wire_decode(p, keel_buf_size(&buf), &b2, NULL) != 0 ||
			    b2.n != b.n)
				abort();
			replog_wire_batch_free(&b2);
		}
		keel_buf_free(&buf);
		replog_wire_batch_free(&b);
	} else if (sel == 1) {
		struct replog_action a;
		uint64_t pos;
		if (size < 8 || replog_record_key_decode(data, 8, &pos) < 0)
			return 0;
		if (replog_record_action_decode(pos, data + 8, size - 8, &a, NULL) < 0)
			return 0;
		size_t n = replog_record_action_size(&a);
		uint8_t *enc = malloc(n);
		if (enc == NULL)
			return 0;
		replog_record_action_encode(&a, enc);
		if (n != size - 8 || memcmp(enc, data + 8, n) != 0)
			abort();
		free(enc);
	} else if (sel == 2) {
		struct replog_meta m;
		uint8_t enc[REPLOG_RECORD_META_SIZE];
		if (replog_record_meta_decode(data, size, &m, NULL) < 0)
			return 0;
		replog_record_meta_encode(&m, enc);
		if (memcmp(enc, data, sizeof(enc)) != 0)
			abort();
	} else if (sel == 3) {
		uint8_t enc[REPLOG_RECORD_MARK_SIZE];
		uint64_t pos, ballot;
		if (size < 8 || replog_record_key_decode(data, 8, &pos) < 0 ||
		    replog_record_mark_decode(pos, data + 8, size - 8, &ballot, NULL) < 0)
			return 0;
		replog_record_mark_encode(pos, ballot, enc);
		if (memcmp(enc, data + 8, sizeof(enc)) != 0)
			abort();
	} else if (sel == 4) {
		uint8_t enc[REPLOG_RECORD_WAL_STATE_SIZE];
		uint64_t epoch, applied;
		if (replog_record_wal_state_decode(data, size, &epoch, &applied, NULL) < 0)
			return 0;
		replog_record_wal_state_encode(epoch, applied, enc);
		if (memcmp(enc, data, sizeof(enc)) != 0)
			abort();
	} else {
		/* A write-ahead log record: every write decodes, and they encode back to it. */
		struct replog_wal_head h;
		struct replog_write *w;
		size_t off = REPLOG_RECORD_WAL_HEADER;
		if (replog_record_wal_head(data, size, &h) < 0 || h.len != size ||
		    replog_record_wal_check(data, &h) < 0 || h.n > size)
			return 0;
		w = calloc(h.n ? h.n : 1, sizeof(*w));
		if (w == NULL)
			return 0;
		for (uint32_t i = 0; i < h.n; i++)
			if (replog_record_wal_next(data, &h, &off, &w[i], NULL) < 0) {
				free(w);
				return 0;
			}
		if (off == size - 4) {
			uint8_t *enc = malloc(size);
			if (enc == NULL || replog_record_wal_size(w, h.n) != size ||
			    replog_record_wal_put(w, h.n, enc, REPLOG_RECORD_WAL_HEADER) != off)
				abort();
			replog_record_wal_seal(&h, enc);
			if (memcmp(enc, data, size) != 0)
				abort();
			free(enc);
		}
		free(w);
	}
	return 0;
}
