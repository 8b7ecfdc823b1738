/* libFuzzer target: arbitrary registry log entries replayed into a registry must never crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "master/registrar_int.h"
#include "runtime/pbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: a sequence of entries, each a 2-byte little-endian length, one byte
 * that moves the position forward (by itself; 255 jumps by 1000), then that
 * many bytes (cut at the end of the input). Every entry goes to registry_replay_entry at its
 * position, errors included; then the registry is packed, loaded into a
 * second registry and packed again: both packs must agree, and each
 * registry's size estimate must equal its packed size.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry g, h;
	struct registry_replay rp;
	struct keel_buf a = KEEL_BUF_INIT, b = KEEL_BUF_INIT;
	Keel__Registry__Registry *msg = NULL;
	uint64_t pos = 0;
	size_t i = 0;

	registry_init(&g);
	registry_init(&h);
	registry_replay_init(&rp, &g);
	while (i + 3 <= size) {
		size_t len = (size_t)data[i] | (size_t)data[i + 1] << 8;
		uint8_t step = data[i + 2];

		i += 3;
		if (len > size - i)
			len = size - i;
		pos += step == 255 ? 1000 : step;
		(void)registry_replay_entry(&rp, pos, data + i, len, NULL);
		i += len;
	}
	registry_replay_free(&rp);

	if (registry_pack(&g, false, &a, NULL) == 0) {
		if (g.size != keel_buf_size(&a))
			abort();
		if (keel_pbjson_unpack(&keel__registry__registry__descriptor, keel_buf_rptr(&a),
				       keel_buf_size(&a), (ProtobufCMessage **)&msg, NULL) == 0) {
			/* What we packed must load (IDs are unique in a registry). */
			if (registry_load(&h, msg, NULL) != 0)
				abort();
			keel_pbjson_free(&msg->base);
			keel_buf_clear(&a);
			if (registry_pack(&g, true, &a, NULL) != 0 ||
			    registry_pack(&h, true, &b, NULL) != 0)
				abort();
			if (keel_buf_size(&a) != keel_buf_size(&b) ||
			    memcmp(keel_buf_rptr(&a), keel_buf_rptr(&b), keel_buf_size(&a)) != 0)
				abort();
			if (h.size != g.size)
				abort();
		}
	}
	keel_buf_free(&a);
	keel_buf_free(&b);
	registry_free(&g);
	registry_free(&h);
	return 0;
}
