/* libFuzzer target: the operator Call decoder (JSON and protobuf), its validation and the Accept
 * negotiation of POST /api/v1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/http_api_call.h"
#include "runtime/err.h"
#include "runtime/pbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Dies with a message: a property broke. */
static void fail(const char *what)
{
	fprintf(stderr, "fuzz_operator_call: %s\n", what);
	abort();
}

/*
 * The first byte picks the path: bit 1 set, the rest is an Accept header, whose negotiation
 * must not crash and must give the same answers twice; else bit 0 picks protobuf (or JSON)
 * for a Call. A decoded Call is validated as the endpoint does (a reason is never empty), must
 * pack to its packed size, and must decode again from that packing into a message that packs
 * to the same bytes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *msg = NULL, *again = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];
	bool protobuf;
	int rv;

	if (size < 1)
		return 0;
	protobuf = data[0] & 1;
	if (data[0] & 2) {
		bool json =
		    master_api_accepts((const char *)data + 1, size - 1, "application/json");
		bool pb =
		    master_api_accepts((const char *)data + 1, size - 1, "application/x-protobuf");
		/* Deterministic: the same header gives the same answer. */
		if (json !=
			master_api_accepts((const char *)data + 1, size - 1, "application/json") ||
		    pb != master_api_accepts((const char *)data + 1, size - 1,
					     "application/x-protobuf"))
			fail("Accept negotiation is not deterministic");
		if (!master_api_accepts(NULL, 0, "application/json"))
			fail("no Accept header must accept anything");
		return 0;
	}
	data++;
	size--;
	rv = protobuf ? keel_pbjson_unpack(&mesos__v1__master__call__descriptor, data, size, &msg,
					   errmsg)
		      : keel_pbjson_read(&mesos__v1__master__call__descriptor, (const char *)data,
					 size, &msg, errmsg);
	if (rv < 0)
		return 0;
	{
		const char *why = master_api_call_invalid((const Mesos__V1__Master__Call *)msg);
		if (why != NULL && why[0] == '\0')
			fail("empty validation text");
	}
	{
		size_t n = protobuf_c_message_get_packed_size(msg), m;
		uint8_t *out = malloc(n ? n : 1), *out2;
		if (out == NULL)
			abort();
		if (protobuf_c_message_pack(msg, out) != n)
			fail("packed size mismatch");
		if (keel_pbjson_unpack(&mesos__v1__master__call__descriptor, out, n, &again,
				       errmsg) < 0)
			fail("a packed Call does not decode again");
		m = protobuf_c_message_get_packed_size(again);
		out2 = malloc(m ? m : 1);
		if (out2 == NULL)
			abort();
		if (m != n || protobuf_c_message_pack(again, out2) != n ||
		    memcmp(out, out2, n) != 0)
			fail("a Call packs differently after a round trip");
		free(out);
		free(out2);
		keel_pbjson_free(again);
	}
	keel_pbjson_free(msg);
	return 0;
}
