/* JSON -> protobuf: checks the text (pbjson_scan), then fills any protobuf-c message through its
 * descriptor in one pass over it, with no tree in between. */
#include "pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base64.h"
#include "err.h"
#include "pbjson_priv.h"

/* Most fields a message may declare for the reader's required-field bitmap. */
#define RD_MAX_FIELDS 1024

/* Reader state for one keel_pbjson_read call. */
struct rd {
	ProtobufCAllocator alloc;	/* keel_malloc-backed, as unpack would use */
	char *errmsg;			/* caller's message buffer, may be NULL */
	struct pbjson_path path;	/* where the reader is, for messages */
	struct pbjson_list missing;	/* required fields not found so far */
	unsigned depth;			/* messages open, the top-level one is 1 */
	const char *s;			/* the text, valid (pbjson_scan said so) */
	size_t i;			/* the next byte to read */
	const struct pbjson_box *boxes; /* its arrays and objects in document order */
	size_t box;			/* the box of the next '{' or '[' to come */
	char *scratch;			/* decoded strings that are not stored (keel_malloc'd) */
	size_t scratch_cap;		/* its size */
};

static void *rd_pb_alloc(void *data, size_t size)
{
	(void)data;
	return keel_malloc(size ? size : 1);
}

static void rd_pb_free(void *data, void *p)
{
	(void)data;
	keel_free(p);
}

void keel_pbjson_allocator_init(ProtobufCAllocator *a)
{
	a->alloc = rd_pb_alloc;
	a->free = rd_pb_free;
	a->allocator_data = NULL;
}

void keel_pbjson_free(ProtobufCMessage *m)
{
	ProtobufCAllocator a;

	keel_pbjson_allocator_init(&a);
	protobuf_c_message_free_unpacked(m, &a);
}

/* Fails with "<path>: <message>" (just the message at the top level). */
static int rd_err(struct rd *r, int rv, const char *fmt, ...) KEEL_PRINTF(3, 4);
static int rd_err(struct rd *r, int rv, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (r->errmsg == NULL)
		return rv;
	if (r->path.len > 0)
		n = snprintf(r->errmsg, KEEL_ERRMSG_SIZE, "%s: ", r->path.buf);
	if (n < 0 || n >= KEEL_ERRMSG_SIZE)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(r->errmsg + n, KEEL_ERRMSG_SIZE - (size_t)n, fmt, ap);
	va_end(ap);
	return rv;
}

static const char *rd_type_name(ProtobufCType t)
{
	static const char *const names[] = {
	    [PROTOBUF_C_TYPE_INT32] = "int32",	     [PROTOBUF_C_TYPE_SINT32] = "sint32",
	    [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
	    [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
	    [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
	    [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
	    [PROTOBUF_C_TYPE_FLOAT] = "float",	     [PROTOBUF_C_TYPE_DOUBLE] = "double",
	    [PROTOBUF_C_TYPE_BOOL] = "bool",	     [PROTOBUF_C_TYPE_ENUM] = "enum",
	    [PROTOBUF_C_TYPE_STRING] = "string",     [PROTOBUF_C_TYPE_BYTES] = "bytes",
	    [PROTOBUF_C_TYPE_MESSAGE] = "message",
	};

	return (unsigned)t < KEEL_ARRAY_SIZE(names) && names[t] ? names[t] : "?";
}

/* Up to 40 bytes of untrusted text for an error message, anything but printable ASCII as '?'. */
struct rd_snippet {
	char s[44]; /* NUL-terminated, "..." when cut */
};

static struct rd_snippet rd_snip(const char *text)
{
	struct rd_snippet out;
	size_t i;

	for (i = 0; i < 40 && text[i] != '\0'; i++)
		out.s[i] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
	if (text[i] != '\0') {
		memcpy(out.s + i, "...", 3);
		i += 3;
	}
	out.s[i] = '\0';
	return out;
}

/*
 * JSON number syntax (RFC 8259) over s[0, n), for numeric strings: integers only when
 * `integer` (no fraction, no exponent).
 */
static bool rd_is_number(const char *s, size_t n, bool integer)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return false;
	}
	if (integer)
		return i == n;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return false;
	}
	return i == n;
}

/* Stores the integer (neg, mag) = (neg ? -mag : mag) into an integer field, range-checked. */
static int rd_store_int(struct rd *r, const ProtobufCFieldDescriptor *f, bool neg, uint64_t mag,
			void *dst)
{
	uint64_t max_pos, max_neg;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		max_pos = INT32_MAX;
		max_neg = (uint64_t)INT32_MAX + 1;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		max_pos = INT64_MAX;
		max_neg = (uint64_t)INT64_MAX + 1;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		max_pos = UINT32_MAX;
		max_neg = 0;
		break;
	default:
		max_pos = UINT64_MAX;
		max_neg = 0;
		break;
	}
	if (neg ? mag > max_neg : mag > max_pos)
		return rd_err(r, -EINVAL, "%s%" PRIu64 " is out of range for %s", neg ? "-" : "",
			      mag, rd_type_name(f->type));
	if (neg)
		mag = (uint64_t)0 - mag; /* two's complement of the magnitude */
	if (pbjson_elt_size(f->type) == 4)
		*(uint32_t *)dst = (uint32_t)mag;
	else
		*(uint64_t *)dst = mag;
	return 0;
}

/* An integer from a decimal string (JSON integer syntax, no sign but '-', no spaces). */
static int rd_int_string(struct rd *r, const ProtobufCFieldDescriptor *f, const char *s, size_t n,
			 void *dst)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t mag = 0;
	size_t i;

	if (!rd_is_number(s, n, true))
		return rd_err(r, -EINVAL, "'%s' is not an integer (%s)", rd_snip(s).s,
			      rd_type_name(f->type));
	for (i = neg; i < n; i++) {
		unsigned digit = (unsigned)(s[i] - '0');

		if (mag > (UINT64_MAX - digit) / 10)
			return rd_err(r, -EINVAL, "%s is out of range for %s", rd_snip(s).s,
				      rd_type_name(f->type));
		mag = mag * 10 + digit;
	}
	return rd_store_int(r, f, neg, mag, dst);
}

/* A copy of s[0, n) with a NUL, from the message allocator. */
static char *rd_strdup(struct rd *r, const char *s, size_t n)
{
	char *p = r->alloc.alloc(NULL, n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* A map key (always a JSON string) into the entry's key field. */
static int rd_map_key(struct rd *r, const ProtobufCFieldDescriptor *kf, const char *key,
		      size_t keylen, void *dst)
{
	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING:
		*(char **)dst = rd_strdup(r, key, keylen);
		return *(char **)dst != NULL ? 0 : -ENOMEM;
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(key, "true") == 0 || strcmp(key, "false") == 0) {
			*(protobuf_c_boolean *)dst = key[0] == 't';
			return 0;
		}
		return rd_err(r, -EINVAL, "map key is not a boolean");
	default: /* integers: pbjson_field_is_map admits no other key type */
		return rd_int_string(r, kf, key, keylen, dst);
	}
}

/* Sets the has_ flag of an optional scalar after a value was stored. */
static void rd_mark_has(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (pbjson_field_has_flag(f))
		*(protobuf_c_boolean *)PBJ_MEMBER(m, f->quantifier_offset) = 1;
}

/* The JSON type of the value starting with byte c, for messages. */
static const char *rd_json_type(char c)
{
	switch (c) {
	case '{':
		return "object";
	case '[':
		return "array";
	case '"':
		return "string";
	case 't':
	case 'f':
		return "boolean";
	case 'n':
		return "null";
	default:
		return "number";
	}
}

/* The first byte of the value at r->i. */
static char rd_peek(const struct rd *r)
{
	return r->s[r->i];
}

static bool rd_is_number_start(char c)
{
	return c == '-' || (c >= '0' && c <= '9');
}

static int rd_type_err(struct rd *r, const char *want)
{
	return rd_err(r, -EINVAL, "expected %s, got %s", want, rd_json_type(rd_peek(r)));
}

static void rd_ws(struct rd *r)
{
	for (;;) {
		char c = r->s[r->i];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		r->i++;
	}
}

/* The body of the string at r->i (raw, escapes undecoded); leaves r->i after it. */
static const char *rd_raw_string(struct rd *r, size_t *rawlen, bool *escaped)
{
	const char *start = r->s + r->i + 1, *p = start;

	*escaped = false;
	for (;;) {
		p += strcspn(p, "\"\\");
		if (*p == '"')
			break;
		*escaped = true;
		p += 2; /* a backslash and the byte after it: \" does not end the string */
	}
	*rawlen = (size_t)(p - start);
	r->i = (size_t)(p + 1 - r->s);
	return start;
}

/* The decoded string at r->i in r->scratch, NUL-terminated (valid until the next string). */
static int rd_string(struct rd *r, const char **out, size_t *len)
{
	size_t rawlen;
	bool escaped;
	const char *raw = rd_raw_string(r, &rawlen, &escaped);

	if (rawlen + 1 > r->scratch_cap) {
		size_t cap = rawlen + 1 > 64 ? rawlen + 1 : 64;
		char *p = keel_realloc(r->scratch, cap);

		if (p == NULL)
			return -ENOMEM;
		r->scratch = p;
		r->scratch_cap = cap;
	}
	*len = escaped ? pbjson_str_decode(raw, rawlen, r->scratch) : rawlen;
	if (!escaped)
		memcpy(r->scratch, raw, rawlen);
	r->scratch[*len] = '\0';
	*out = r->scratch;
	return 0;
}

/* The number token at r->i: its text and whether it is an integer; leaves r->i after it. */
static const char *rd_number(struct rd *r, size_t *n, bool *integer)
{
	const char *start = r->s + r->i, *p = start;

	*integer = true;
	for (;; p++) {
		if (*p == '.' || *p == 'e' || *p == 'E' || *p == '+')
			*integer = false;
		else if (*p != '-' && (*p < '0' || *p > '9'))
			break;
	}
	*n = (size_t)(p - start);
	r->i += *n;
	return start;
}

/* Skips the value at r->i (and the boxes inside it). */
static void rd_skip(struct rd *r)
{
	size_t n;
	bool flag;

	switch (rd_peek(r)) {
	case '{':
	case '[':
		r->i = r->boxes[r->box].end;
		r->box = r->boxes[r->box].next;
		return;
	case '"':
		rd_raw_string(r, &n, &flag);
		return;
	case 't':
	case 'n':
		r->i += 4;
		return;
	case 'f':
		r->i += 5;
		return;
	default:
		rd_number(r, &n, &flag);
		return;
	}
}

/* Integer fields: JSON integers or numeric strings; fractions and exponents are errors. */
static int rd_int(struct rd *r, const ProtobufCFieldDescriptor *f, void *dst)
{
	const char *tok;
	size_t n, i;
	bool integer, neg;
	uint64_t mag = 0;
	int rv;

	if (rd_peek(r) == '"') {
		rv = rd_string(r, &tok, &n);
		return rv < 0 ? rv : rd_int_string(r, f, tok, n, dst);
	}
	if (!rd_is_number_start(rd_peek(r)))
		return rd_type_err(r, "a number");
	tok = rd_number(r, &n, &integer);
	if (!integer)
		return rd_err(r, -EINVAL, "expected an integer (%s), got %.17g",
			      rd_type_name(f->type), pbjson_strtod(tok, n));
	neg = tok[0] == '-';
	/* pbjson_scan checked the syntax and that the value fits int64. */
	for (i = neg; i < n; i++)
		mag = mag * 10 + (unsigned)(tok[i] - '0');
	return rd_store_int(r, f, neg && mag != 0, mag, dst);
}

/* float and double fields: numbers, numeric strings, "Infinity", "-Infinity", "NaN". */
static int rd_real(struct rd *r, const ProtobufCFieldDescriptor *f, void *dst)
{
	const char *s;
	size_t n;
	bool integer;
	double d;
	int rv;

	if (rd_is_number_start(rd_peek(r))) {
		s = rd_number(r, &n, &integer);
		if (integer) {
			/* As an int64 first, as jansson stores it, then converted. */
			bool neg = s[0] == '-';
			uint64_t mag = 0;
			size_t i;

			for (i = neg; i < n; i++)
				mag = mag * 10 + (unsigned)(s[i] - '0');
			d = neg ? (double)(int64_t)((uint64_t)0 - mag) : (double)(int64_t)mag;
		} else {
			d = pbjson_strtod(s, n);
		}
	} else if (rd_peek(r) == '"') {
		rv = rd_string(r, &s, &n);
		if (rv < 0)
			return rv;
		if (strcmp(s, "Infinity") == 0) {
			d = INFINITY;
		} else if (strcmp(s, "-Infinity") == 0) {
			d = -INFINITY;
		} else if (strcmp(s, "NaN") == 0) {
			d = NAN;
		} else {
			if (!rd_is_number(s, n, false))
				return rd_err(r, -EINVAL, "'%s' is not a number", rd_snip(s).s);
			d = strtod(s, NULL);
			if (isinf(d))
				return rd_err(r, -EINVAL, "%s is out of range for double",
					      rd_snip(s).s);
		}
	} else {
		return rd_type_err(r, "a number");
	}
	if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
		*(double *)dst = d;
		return 0;
	}
	/* Anything below FLT_MAX plus half an ulp rounds to a finite float. */
	if (isfinite(d) && fabs(d) >= 0x1.ffffffp127)
		return rd_err(r, -EINVAL, "%g is out of range for float", d);
	*(float *)dst = (float)d;
	return 0;
}

/* The value of enum descriptor ed named s[0, n) (not NUL-terminated), or NULL. */
static const ProtobufCEnumValue *rd_enum_by_name(const ProtobufCEnumDescriptor *ed, const char *s,
						 size_t n)
{
	unsigned lo = 0, hi = ed->n_value_names;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const ProtobufCEnumValueIndex *v = &ed->values_by_name[mid];
		int c = strncmp(v->name, s, n);

		if (c == 0)
			c = v->name[n] != '\0' ? 1 : 0;
		if (c == 0)
			return &ed->values[v->index];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The field of d named s[0, n) (not NUL-terminated, no NUL inside), or NULL. */
static const ProtobufCFieldDescriptor *rd_field_by_name(const ProtobufCMessageDescriptor *d,
							const char *s, size_t n)
{
	unsigned lo = 0, hi = d->n_fields;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const ProtobufCFieldDescriptor *f = &d->fields[d->fields_sorted_by_name[mid]];
		int c = strncmp(f->name, s, n);

		if (c == 0)
			c = f->name[n] != '\0' ? 1 : 0;
		if (c == 0)
			return f;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int rd_message(struct rd *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m);

/*
 * Reads one value of field f (at r->i) into dst (the member or an array slot). Sets *stored
 * when it stored something; an unknown enum name in a non-required field stores nothing and is
 * not an error. A message is stored (and *count bumped, if given) before it is filled, so that
 * on error its owner frees it with whatever it holds.
 */
static int rd_value(struct rd *r, const ProtobufCFieldDescriptor *f, void *dst, size_t *count,
		    bool *stored)
{
	const char *s;
	size_t n;
	int rv;

	*stored = false;
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *d = f->descriptor;
		ProtobufCMessage *sub;

		if (rd_peek(r) != '{')
			return rd_type_err(r, "an object");
		sub = r->alloc.alloc(NULL, d->sizeof_message);
		if (sub == NULL)
			return -ENOMEM;
		d->message_init(sub);
		*(ProtobufCMessage **)dst = sub;
		*stored = true;
		if (count != NULL)
			(*count)++;
		return rd_message(r, d, sub);
	}
	case PROTOBUF_C_TYPE_STRING: {
		size_t rawlen;
		bool escaped;
		const char *raw;
		char *p;

		if (rd_peek(r) != '"')
			return rd_type_err(r, "a string");
		raw = rd_raw_string(r, &rawlen, &escaped);
		p = r->alloc.alloc(NULL, rawlen + 1);
		if (p == NULL)
			return -ENOMEM;
		if (escaped) {
			n = pbjson_str_decode(raw, rawlen, p);
		} else {
			memcpy(p, raw, rawlen);
			n = rawlen;
		}
		p[n] = '\0';
		*(char **)dst = p;
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData bd = {0, NULL};
		size_t max;

		if (rd_peek(r) != '"')
			return rd_type_err(r, "a base64 string");
		rv = rd_string(r, &s, &n);
		if (rv < 0)
			return rv;
		max = keel_base64_decoded_max(n);
		if (max > 0) {
			bd.data = r->alloc.alloc(NULL, max);
			if (bd.data == NULL)
				return -ENOMEM;
		}
		rv = keel_base64_decode(bd.data, &bd.len, s, n, r->errmsg);
		if (rv < 0) {
			r->alloc.free(NULL, bd.data);
			return r->path.len > 0 ? keel_errwrap(r->errmsg, rv, "%s", r->path.buf)
					       : rv;
		}
		if (bd.len == 0) {
			r->alloc.free(NULL, bd.data);
			bd.data = NULL;
		}
		*(ProtobufCBinaryData *)dst = bd;
		break;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev;
		size_t rawlen;
		bool escaped;
		const char *raw;

		if (rd_peek(r) != '"')
			return rd_type_err(r, "an enum name (string)");
		/* Enum names need no escapes: decode only when there are some. */
		raw = rd_raw_string(r, &rawlen, &escaped);
		if (escaped) {
			r->i = (size_t)(raw - 1 - r->s);
			rv = rd_string(r, &s, &n);
			if (rv < 0)
				return rv;
			ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, s);
		} else {
			ev = rd_enum_by_name(f->descriptor, raw, rawlen);
		}
		if (ev == NULL) {
			/* Mesos (proto2): dropped, unless the field is required. */
			if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
				r->i = (size_t)(raw - 1 - r->s);
				rv = rd_string(r, &s, &n);
				if (rv < 0)
					return rv;
				return rd_err(
				    r, -EINVAL, "'%s' is not a value of %s", rd_snip(s).s,
				    ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
			}
			return 0;
		}
		*(int *)dst = ev->value;
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		/* Mesos also takes the strings "true" and "false". */
		if (rd_peek(r) == 't' || rd_peek(r) == 'f') {
			*(protobuf_c_boolean *)dst = rd_peek(r) == 't';
			rd_skip(r);
		} else if (rd_peek(r) == '"') {
			rv = rd_string(r, &s, &n);
			if (rv < 0)
				return rv;
			if (strcmp(s, "true") == 0)
				*(protobuf_c_boolean *)dst = 1;
			else if (strcmp(s, "false") == 0)
				*(protobuf_c_boolean *)dst = 0;
			else
				return rd_err(r, -EINVAL, "expected a boolean, got string");
		} else {
			return rd_type_err(r, "a boolean");
		}
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		rv = rd_real(r, f, dst);
		if (rv < 0)
			return rv;
		break;
	default:
		rv = rd_int(r, f, dst);
		if (rv < 0)
			return rv;
		break;
	}
	*stored = true;
	if (count != NULL)
		(*count)++;
	return 0;
}

/* After a member or element: skips the ',' (and whitespace); true at the closing bracket. */
static bool rd_next(struct rd *r)
{
	rd_ws(r);
	if (r->s[r->i] == ',') {
		r->i++;
		rd_ws(r);
		return false;
	}
	r->i++; /* '}' or ']' */
	return true;
}

/* A map field: a JSON object whose keys become entry keys. */
static int rd_map(struct rd *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	size_t *np = PBJ_MEMBER(m, f->quantifier_offset);
	ProtobufCMessage ***ap = PBJ_MEMBER(m, f->offset);
	size_t n, keylen, mark;
	const char *key;
	int rv;

	if (rd_peek(r) != '{')
		return rd_type_err(r, "an object (map)");
	n = r->boxes[r->box++].count;
	r->i++;
	rd_ws(r);
	if (n == 0) {
		r->i++;
		return 0;
	}
	*ap = r->alloc.alloc(NULL, n * sizeof(ProtobufCMessage *));
	if (*ap == NULL)
		return -ENOMEM;
	*np = 0;
	do {
		ProtobufCMessage *e;
		bool stored;

		rv = rd_string(r, &key, &keylen);
		if (rv < 0)
			return rv;
		rd_ws(r);
		r->i++; /* ':' */
		rd_ws(r);
		if (rd_peek(r) == 'n') {
			r->i += 4;
			continue;
		}
		e = r->alloc.alloc(NULL, ed->sizeof_message);
		if (e == NULL)
			return -ENOMEM;
		ed->message_init(e);
		(*ap)[(*np)++] = e;
		mark = pbjson_path_push_key(&r->path, key);
		rv = rd_map_key(r, kf, key, keylen, PBJ_MEMBER(e, kf->offset));
		if (rv == 0)
			rv = rd_value(r, vf, PBJ_MEMBER(e, vf->offset), NULL, &stored);
		pbjson_path_pop(&r->path, mark);
		if (rv < 0)
			return rv;
		if (!stored) {
			/* Unknown enum value: the entry goes, as a repeated element would. */
			protobuf_c_message_free_unpacked(e, &r->alloc);
			(*np)--;
			continue;
		}
		rd_mark_has(e, kf);
		rd_mark_has(e, vf);
	} while (!rd_next(r));
	if (*np == 0) {
		r->alloc.free(NULL, *ap);
		*ap = NULL;
	}
	return 0;
}

/* A repeated field: an array (nulls skipped), or one bare value as a one-element list. */
static int rd_repeated(struct rd *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	size_t *np = PBJ_MEMBER(m, f->quantifier_offset);
	char **ap = PBJ_MEMBER(m, f->offset);
	size_t esz = pbjson_elt_size(f->type);
	bool array = rd_peek(r) == '[', stored;
	size_t n = array ? r->boxes[r->box].count : 1, i, mark;
	int rv;

	if (n == 0) {
		rd_skip(r);
		return 0;
	}
	if (n > SIZE_MAX / esz)
		return -ENOMEM;
	*ap = r->alloc.alloc(NULL, n * esz);
	if (*ap == NULL)
		return -ENOMEM;
	*np = 0;
	if (array) {
		r->box++;
		r->i++;
		rd_ws(r);
	}
	for (i = 0; i < n; i++) {
		if (rd_peek(r) == 'n') {
			r->i += 4;
		} else {
			mark = array ? pbjson_path_push_index(&r->path, i) : r->path.len;
			if (rd_peek(r) == '[')
				rv = rd_err(r, -EINVAL, "nested arrays are not supported");
			else
				rv = rd_value(r, f, *ap + *np * esz, np, &stored);
			pbjson_path_pop(&r->path, mark);
			if (rv < 0)
				return rv;
		}
		if (array)
			rd_next(r);
	}
	if (*np == 0) {
		r->alloc.free(NULL, *ap);
		*ap = NULL;
	}
	return 0;
}

/* One key of an object: a known field with a non-null value. Sets *set when it got a value. */
static int rd_field(struct rd *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, bool *set)
{
	uint32_t *oneof_case = NULL;
	int rv;

	*set = false;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		*set = true;
		return pbjson_field_is_map(f) ? rd_map(r, m, f) : rd_repeated(r, m, f);
	}
	if (rd_peek(r) == '[')
		return rd_err(r, -EINVAL, "expected a single %s, got array", rd_type_name(f->type));
	if (pbjson_field_in_oneof(f)) {
		oneof_case = PBJ_MEMBER(m, f->quantifier_offset);
		if (*oneof_case != 0) {
			const ProtobufCFieldDescriptor *other =
			    protobuf_c_message_descriptor_get_field(m->descriptor, *oneof_case);
			return rd_err(r, -EINVAL, "conflicts with '%s' (same oneof)",
				      other != NULL ? other->name : "?");
		}
		/* Selected before filling, so an error part-way frees what was stored. */
		*oneof_case = f->id;
	}
	rv = rd_value(r, f, PBJ_MEMBER(m, f->offset), NULL, set);
	if (!*set && oneof_case != NULL)
		*oneof_case = 0;
	if (rv < 0)
		return rv;
	if (*set)
		rd_mark_has(m, f);
	return 0;
}

/* The object at r->i into m, of type d. */
static int rd_message(struct rd *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *m)
{
	uint64_t seen[RD_MAX_FIELDS / 64] = {0};
	unsigned i;
	int rv = 0;

	if (rd_peek(r) != '{')
		return rd_type_err(r, "an object");
	if (d->n_fields > RD_MAX_FIELDS)
		return rd_err(r, -EINVAL, "%s has more than %d fields", d->name, RD_MAX_FIELDS);
	if (r->depth >= KEEL_PBJSON_MAX_DEPTH)
		return rd_err(r, -EINVAL, "nested deeper than %d objects", KEEL_PBJSON_MAX_DEPTH);
	r->depth++;
	r->box++;
	r->i++;
	rd_ws(r);
	if (r->s[r->i] == '}') {
		r->i++;
	} else {
		do {
			const ProtobufCFieldDescriptor *f;
			const char *key;
			size_t keylen, mark;
			bool escaped, set;

			key = rd_raw_string(r, &keylen, &escaped);
			if (escaped) {
				r->i = (size_t)(key - 1 - r->s);
				rv = rd_string(r, &key, &keylen);
				if (rv < 0)
					break;
			}
			f = rd_field_by_name(d, key, keylen);
			rd_ws(r);
			r->i++; /* ':' */
			rd_ws(r);
			/* Unknown keys are ignored and null means "not set", as in Mesos. */
			if (f == NULL || rd_peek(r) == 'n') {
				rd_skip(r);
				continue;
			}
			mark = pbjson_path_push(&r->path, f->name);
			rv = rd_field(r, m, f, &set);
			pbjson_path_pop(&r->path, mark);
			if (rv < 0)
				break;
			if (set) {
				i = (unsigned)(f - d->fields);
				seen[i / 64] |= (uint64_t)1 << (i % 64);
			}
		} while (!rd_next(r));
	}
	r->depth--;
	if (rv < 0)
		return rv;
	for (i = 0; i < d->n_fields; i++)
		if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED &&
		    !(seen[i / 64] & ((uint64_t)1 << (i % 64))))
			pbjson_list_add(&r->missing, &r->path, d->fields[i].name);
	return 0;
}

int keel_pbjson_read(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
		     ProtobufCMessage **out, char *errmsg)
{
	struct pbjson_scan scan;
	struct rd r;
	ProtobufCMessage *m;
	int rv;

	*out = NULL;
	/* Checked whole first (syntax, UTF-8, duplicate keys): bad JSON fails as such, and the
	 * second pass below can read the text without checking it. */
	rv = pbjson_scan(json, len, &scan, errmsg);
	if (rv < 0)
		return rv;
	memset(&r, 0, sizeof(r));
	r.errmsg = errmsg;
	r.s = json;
	r.boxes = scan.boxes;
	keel_pbjson_allocator_init(&r.alloc);
	m = r.alloc.alloc(NULL, d->sizeof_message);
	if (m == NULL) {
		pbjson_scan_free(&scan);
		return keel_errf(errmsg, -ENOMEM, "reading %s: out of memory", d->name);
	}
	d->message_init(m);
	rd_ws(&r);
	rv = rd_message(&r, d, m);
	pbjson_scan_free(&scan);
	keel_free(r.scratch);
	if (rv == 0 && r.missing.count > 0)
		rv = keel_errf(errmsg, -EINVAL, "missing required field%s: %s",
			       r.missing.count > 1 ? "s" : "", r.missing.buf);
	if (rv == -ENOMEM)
		keel_errf(errmsg, rv, "reading %s: out of memory", d->name);
	if (rv < 0) {
		protobuf_c_message_free_unpacked(m, &r.alloc);
		return rv;
	}
	*out = m;
	return 0;
}
