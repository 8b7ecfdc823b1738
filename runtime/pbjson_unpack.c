/* Binary protobuf -> message with a nesting limit (protobuf-c's unpack has none) and keel_malloc.
 */
#include "pbjson.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"
#include "err.h"

/* Reads a varint at p[*i, len); false when it is truncated or longer than 10 bytes. */
static bool up_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
	unsigned shift;

	*v = 0;
	for (shift = 0; shift < 70 && *i < len; shift += 7) {
		uint8_t b = p[(*i)++];

		*v |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/*
 * Walks the wire format of a message of type d and fails once sub-messages nest deeper than
 * KEEL_PBJSON_MAX_DEPTH. Only bounds are checked beyond that; unpack judges everything else.
 */
static int up_scan(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		   unsigned depth, char *errmsg)
{
	size_t i = 0;
	uint64_t key, n;
	int rv;

	if (depth > KEEL_PBJSON_MAX_DEPTH)
		return keel_errf(errmsg, -EINVAL, "invalid %s: nested deeper than %d messages",
				 d->name, KEEL_PBJSON_MAX_DEPTH);
	while (i < len) {
		if (!up_varint(p, len, &i, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
			return keel_errf(errmsg, -EINVAL, "invalid %s: bad field key", d->name);
		switch (key & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			if (!up_varint(p, len, &i, &n))
				return keel_errf(errmsg, -EINVAL, "invalid %s: bad varint",
						 d->name);
			break;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
			if (len - i < 8)
				return keel_errf(errmsg, -EINVAL, "invalid %s: truncated", d->name);
			i += 8;
			break;
		case PROTOBUF_C_WIRE_TYPE_32BIT:
			if (len - i < 4)
				return keel_errf(errmsg, -EINVAL, "invalid %s: truncated", d->name);
			i += 4;
			break;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
			const ProtobufCFieldDescriptor *f;

			if (!up_varint(p, len, &i, &n) || n > len - i)
				return keel_errf(errmsg, -EINVAL, "invalid %s: truncated", d->name);
			f = protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
			if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				rv = up_scan(f->descriptor, p + i, (size_t)n, depth + 1, errmsg);
				if (rv < 0)
					return rv;
			}
			i += (size_t)n;
			break;
		}
		default:
			/* Groups (3, 4) and the rest: protobuf-c does not support them either. */
			return keel_errf(errmsg, -EINVAL, "invalid %s: wire type %u", d->name,
					 (unsigned)(key & 7));
		}
	}
	return 0;
}

/* Allocator that remembers a failure, so that NULL from unpack can say -ENOMEM. */
static void *up_alloc(void *data, size_t size)
{
	void *p = keel_malloc(size ? size : 1);

	if (p == NULL)
		*(bool *)data = true;
	return p;
}

static void up_free(void *data, void *p)
{
	(void)data;
	keel_free(p);
}

int keel_pbjson_unpack(const ProtobufCMessageDescriptor *d, const void *data, size_t len,
		       ProtobufCMessage **out, char *errmsg)
{
	bool oom = false;
	ProtobufCAllocator a = {up_alloc, up_free, &oom};
	int rv;

	*out = NULL;
	rv = up_scan(d, data, len, 1, errmsg);
	if (rv < 0)
		return rv;
	*out = protobuf_c_message_unpack(d, &a, len, data);
	if (*out == NULL) {
		if (oom)
			return keel_errf(errmsg, -ENOMEM, "unpacking %s: out of memory", d->name);
		return keel_errf(errmsg, -EINVAL,
				 "invalid %s: malformed protobuf or missing required field",
				 d->name);
	}
	return 0;
}
