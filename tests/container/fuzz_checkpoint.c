/* libFuzzer target: the checkpoint parsers must reject or accept any bytes without crashing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "containerizer/ctr_checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[256];
	struct ctr_ckpt_state st;
	struct ctr_ckpt_status ss;
	char *buf;

	if (size > CTR_CKPT_MAX)
		return 0;
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (ctr_ckpt_state_parse(buf, size, &st, msg) == 0) {
		/* Whatever parsed must format again. */
		char out[CTR_CKPT_MAX * 2];
		if (ctr_ckpt_state_format(out, sizeof(out), &st) < 0)
			abort();
	}
	memcpy(buf, data, size);
	if (ctr_ckpt_status_parse(buf, size, &ss, msg) == 0) {
		char out[CTR_CKPT_MAX * 2];
		if (ctr_ckpt_status_format(out, sizeof(out), &ss) < 0)
			abort();
	}
	free(buf);
	return 0;
}
