/* Protobuf <-> JSON for any protobuf-c message, by its descriptor, following Mesos's JSON rules. */
#ifndef KEEL_RUNTIME_PBJSON_H
#define KEEL_RUNTIME_PBJSON_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "buf.h"

/*
 * The codec walks ProtobufCMessageDescriptor: no per-message code. It speaks
 * the JSON that Apache Mesos speaks on its HTTP APIs (stout's protobuf.hpp);
 * docs/codec.md lists every rule and why. In short:
 *
 * Writing: compact, keys are the .proto field names, in field-number order;
 * enums by name; bytes as padded base64; integers (64-bit too) and doubles as
 * JSON numbers, NaN and infinities as the strings "NaN", "Infinity",
 * "-Infinity"; every non-ASCII character as \uXXXX (surrogate pairs above
 * U+FFFF), so the output is pure ASCII; a byte that is not part of valid
 * UTF-8 becomes \uFFFD. Repeated fields appear only when non-empty, maps as
 * objects; an unset optional field with a non-deprecated default is written
 * with its default; required fields are always written.
 *
 * Reading: unknown keys are ignored, null means "not set", duplicate keys are
 * rejected, enums by name only, numbers or numeric strings for numeric fields
 * (range-checked, no fractions for integers), base64 for bytes, an object or
 * scalar where a repeated field is expected is a one-element list, and every
 * missing required field is reported by path.
 *
 * Memory: messages returned by keel_pbjson_read are allocated the way
 * protobuf_c_message_unpack allocates, through keel_malloc; free them with
 * keel_pbjson_free (or protobuf_c_message_free_unpacked with the allocator
 * from keel_pbjson_allocator_init, or with NULL: keel_malloc is malloc).
 *
 * Threads: no shared state; concurrent calls on different buffers are safe.
 */

/* Most levels of message nesting (the top-level message is level 1) read, written or checked. */
#define KEEL_PBJSON_MAX_DEPTH 64

/*
 * Appends the JSON form of m to out. m must be a valid message (all pointers
 * that its descriptor says are set point to valid data); it is not changed.
 *
 * Errors: -ENOMEM (out could not grow); -EINVAL when m cannot be written as
 * JSON that keel_pbjson_read accepts: a required message or string field is
 * NULL, a required enum field holds a number that is not in its enum, or the
 * nesting is deeper than KEEL_PBJSON_MAX_DEPTH. errmsg (KEEL_ERRMSG_SIZE
 * bytes, may be NULL) says which field. On error out holds exactly what it
 * held before the call.
 *
 * An optional enum holding a number outside its enum is written as if unset
 * (protobuf's proto2 rule for unknown enum values); a repeated enum skips
 * such elements.
 */
int keel_pbjson_write(struct keel_buf *out, const ProtobufCMessage *m, char *errmsg);

/*
 * Parses json[0, len) (UTF-8, need not be NUL-terminated; the caller bounds
 * len) as a message of type d and stores a new message in *out.
 *
 * Errors: -EINVAL for anything the input gets wrong: not JSON, not an
 * object, a value of the wrong type or out of range, bad base64, an unknown
 * enum name in a required field, two members of one oneof, nesting deeper
 * than KEEL_PBJSON_MAX_DEPTH, missing required fields (all of them listed);
 * the message names the field by its path, e.g.
 * "subscribe.framework_info.user: expected a string, got number" or
 * "missing required fields: subscribe.framework_info.name". -ENOMEM when an
 * allocation fails. On error *out is NULL and nothing is left allocated.
 *
 * The caller owns *out; free it with keel_pbjson_free.
 */
int keel_pbjson_read(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
		     ProtobufCMessage **out, char *errmsg);

/*
 * The binary counterpart of keel_pbjson_read, for application/x-protobuf bodies: checks that
 * data[0, len) nests at most KEEL_PBJSON_MAX_DEPTH messages deep, then unpacks it with
 * protobuf_c_message_unpack and the keel_malloc allocator. protobuf-c 1.4 itself has no
 * nesting limit: a 1 MB body of nested ContainerID.parent overflows the stack. Never call
 * protobuf_c_message_unpack on untrusted input directly.
 *
 * Errors: -EINVAL (too deep, malformed, or a required field without a default missing:
 * protobuf-c does not say which), -ENOMEM. On error *out is NULL. Free with keel_pbjson_free.
 */
int keel_pbjson_unpack(const ProtobufCMessageDescriptor *d, const void *data, size_t len,
		       ProtobufCMessage **out, char *errmsg);

/* Frees a message from keel_pbjson_read, keel_pbjson_unpack or keel_pbjson_allocator_init's
 * allocator; NULL is fine. */
void keel_pbjson_free(ProtobufCMessage *m);

/* Fills *a with an allocator on keel_malloc/keel_free (for protobuf-c calls on trusted data). */
void keel_pbjson_allocator_init(ProtobufCAllocator *a);

/*
 * Checks what protobuf-c leaves to the caller: every required message and
 * string field in m (recursively, in present sub-messages and in repeated
 * elements) is set, repeated arrays with a count have storage, and the
 * nesting is at most KEEL_PBJSON_MAX_DEPTH. Returns 0 or -EINVAL listing the
 * missing fields by path in errmsg (KEEL_ERRMSG_SIZE bytes, may be NULL).
 *
 * Why: protobuf_c_message_unpack (1.4) already rejects input that lacks a
 * required field, except a required field that has a default value in the
 * .proto (e.g. MasterInfo.port [default = 5050]): that one is silently
 * taken as its default, and the struct keeps no trace of whether it was
 * sent, so no later check can tell for scalars. Messages built in code, or
 * received unpacked from elsewhere, are what this function is for: run it
 * before keel_pbjson_write or protobuf_c_message_pack on anything not built
 * by keel_pbjson_read or unpack.
 */
int keel_pbjson_check(const ProtobufCMessage *m, char *errmsg);

#endif
