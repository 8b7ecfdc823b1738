/* libFuzzer target: the scheduler Call decoder (JSON and protobuf) and Mesos's call validation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/sched.h"
#include "proto/mesos/v1/master.pb-c.h"
#include "runtime/pbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte picks the path: bit 0 protobuf (else JSON), bit 1 the operator
 * Call (else the scheduler Call). A decoded scheduler Call is validated as the
 * endpoint does; the reason must be a non-empty string that fits the buffer. Any
 * decoded message must pack (its size is what packing writes).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *msg = NULL;
	char errmsg[KEEL_ERRMSG_SIZE], buf[128];
	bool protobuf;
	int rv;

	if (size < 1)
		return 0;
	protobuf = data[0] & 1;
	d = data[0] & 2 ? &mesos__v1__master__call__descriptor
			: &mesos__v1__scheduler__call__descriptor;
	data++;
	size--;
	rv = protobuf ? keel_pbjson_unpack(d, data, size, &msg, errmsg)
		      : keel_pbjson_read(d, (const char *)data, size, &msg, errmsg);
	if (rv < 0)
		return 0;
	if (d == &mesos__v1__scheduler__call__descriptor) {
		const char *why = master_sched_call_invalid((const Mesos__V1__Scheduler__Call *)msg,
							    buf, sizeof(buf));
		if (why != NULL && (why[0] == '\0' || strlen(why) >= sizeof(buf) + 200)) {
			fprintf(stderr, "fuzz_sched_call: bad validation text\n");
			abort();
		}
	}
	{
		size_t n = protobuf_c_message_get_packed_size(msg);
		uint8_t *out = malloc(n ? n : 1);
		if (out == NULL)
			abort();
		if (protobuf_c_message_pack(msg, out) != n) {
			fprintf(stderr, "fuzz_sched_call: packed size mismatch\n");
			abort();
		}
		free(out);
	}
	keel_pbjson_free(msg);
	return 0;
}
