/* libFuzzer target: Call/Event JSON round trips are stable and match protobuf; unpack is safe. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mesos/v1/scheduler.pb-c.h"
#include "runtime/buf.h"
#include "runtime/err.h"
#include "runtime/pbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz_pbjson: %s: %s\n", what, msg);
	abort();
}

/* Writes m into a fresh buffer as a NUL-terminated string; any failure is a bug. */
static void write_or_die(const ProtobufCMessage *m, struct keel_buf *out)
{
	char msg[KEEL_ERRMSG_SIZE] = "";

	if (keel_pbjson_write(out, m, msg) < 0 || keel_buf_putc(out, '\0') < 0)
		die("write", msg);
}

static void check_one(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
	struct keel_buf first = KEEL_BUF_INIT, second = KEEL_BUF_INIT, third = KEEL_BUF_INIT;
	ProtobufCMessage *m = NULL, *m2 = NULL, *u;
	char msg[KEEL_ERRMSG_SIZE] = "";
	uint8_t *packed;
	size_t n;
	int rv;

	rv = keel_pbjson_read(d, (const char *)data, size, &m, msg);
	if (rv < 0) {
		if (rv != -EINVAL || m != NULL || msg[0] == '\0')
			die("read error contract", msg);
		return;
	}
	/* What the reader builds is complete and writable. */
	if (keel_pbjson_check(m, msg) < 0)
		die("check after read", msg);
	write_or_die(m, &first);

	/* Reading our own output gives a message that writes the same text. */
	rv = keel_pbjson_read(d, keel_buf_rptr(&first), keel_buf_size(&first) - 1, &m2, msg);
	if (rv < 0) {
		/* Documented limit: the reader (as jansson) refuses an integer above INT64_MAX
		 * (uint64). */
		if (strstr(msg, "too big integer") == NULL)
			die("re-read", msg);
		goto out;
	}
	write_or_die(m2, &second);
	if (strcmp(keel_buf_rptr(&first), keel_buf_rptr(&second)) != 0)
		die("unstable round trip", keel_buf_rptr(&first));

	/* The binary encoding carries the same message: pack, unpack, write again. */
	n = protobuf_c_message_get_packed_size(m);
	packed = malloc(n ? n : 1);
	if (packed == NULL || protobuf_c_message_pack(m, packed) != n)
		die("pack", "size mismatch");
	rv = keel_pbjson_unpack(d, packed, n, &u, msg);
	free(packed);
	if (rv < 0)
		die("unpack", msg);
	write_or_die(u, &third);
	if (strcmp(keel_buf_rptr(&first), keel_buf_rptr(&third)) != 0)
		die("JSON and protobuf disagree", keel_buf_rptr(&third));
	keel_pbjson_free(u);
out:
	keel_pbjson_free(m2);
	keel_pbjson_free(m);
	keel_buf_free(&first);
	keel_buf_free(&second);
	keel_buf_free(&third);
}

/* The same bytes as a protobuf body: unpack must fail cleanly or give a writable message. */
static void check_binary(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
	struct keel_buf out = KEEL_BUF_INIT;
	char msg[KEEL_ERRMSG_SIZE] = "";
	ProtobufCMessage *m = NULL;
	int rv = keel_pbjson_unpack(d, data, size, &m, msg);

	if (rv < 0) {
		if (rv != -EINVAL || m != NULL)
			die("unpack error contract", msg);
		return;
	}
	/* Unpacked input may hold anything protobuf-c accepts; writing may refuse, never crash. */
	rv = keel_pbjson_write(&out, m, msg);
	if (rv < 0 && rv != -EINVAL)
		die("write unpacked", msg);
	keel_buf_free(&out);
	keel_pbjson_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The master caps request bodies; so does the fuzzer, to keep runs fast. */
	if (size > 64 * 1024)
		return 0;
	check_one(&mesos__v1__scheduler__call__descriptor, data, size);
	check_one(&mesos__v1__scheduler__event__descriptor, data, size);
	check_binary(&mesos__v1__scheduler__call__descriptor, data, size);
	check_binary(&mesos__v1__scheduler__event__descriptor, data, size);
	return 0;
}
