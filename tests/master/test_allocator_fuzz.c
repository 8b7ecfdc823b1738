/* libFuzzer target: arbitrary allocator event sequences, checked by the reference model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_allocator_model.h"

/*
 * Every 6 input bytes are one event: an op byte, an argument byte and four bytes that pick
 * resources, roles, capabilities, refusals and time (see test_allocator_model.c). After each
 * event the model checks the allocator's books and its promises about offers; a violation
 * prints the message with the recent events and aborts.
 */

#define MAX_EVENTS 1500

static void on_violation(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "allocator fuzz: %s\n", msg);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m = model_new(on_violation, NULL);

	if (!m)
		return 0;
	for (size_t i = 0; i + 6 <= size && i / 6 < MAX_EVENTS; i += 6) {
		uint32_t r3 = (uint32_t)data[i + 2] | (uint32_t)data[i + 3] << 8 |
			      (uint32_t)data[i + 4] << 16 | (uint32_t)data[i + 5] << 24;

		model_step(m, data[i], (uint32_t)data[i + 1] * 0x01010101u, r3);
	}
	model_free(m);
	return 0;
}
