/* Protobuf -> JSON: writes any protobuf-c message straight into a keel_buf, Mesos style. */
#include "pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "err.h"
#include "pbjson_priv.h"

/* Writer state for one keel_pbjson_write call. */
struct wr {
	struct keel_buf *b; /* output */
	char *errmsg;	    /* caller's message buffer, may be NULL */
};

#define WR_TRY(expr)                                                                               \
	do {                                                                                       \
		int wr_rv_ = (expr);                                                               \
		if (wr_rv_ < 0)                                                                    \
			return wr_rv_;                                                             \
	} while (0)

static int wr_lit(struct keel_buf *b, const char *s)
{
	return keel_buf_append(b, s, strlen(s));
}

static int wr_u64(struct keel_buf *b, uint64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return keel_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int wr_i64(struct keel_buf *b, int64_t v)
{
	if (v < 0) {
		WR_TRY(keel_buf_putc(b, '-'));
		/* Negate in unsigned arithmetic: INT64_MIN has no positive int64_t. */
		return wr_u64(b, (uint64_t)0 - (uint64_t)v);
	}
	return wr_u64(b, (uint64_t)v);
}

/* Shortest "%.Ng" (N in [lo, hi]) that reads back as v; ".0" added to integral values (Mesos). */
static int wr_real(struct keel_buf *b, double v, bool is_float)
{
	char tmp[40];
	int prec = is_float ? 6 : 15, last = is_float ? 9 : 17, n = 0;

	if (isnan(v))
		return wr_lit(b, "\"NaN\"");
	if (isinf(v))
		return wr_lit(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	/* Integral values below 1e15 (1e6 for floats; most resource scalars): the first
	 * "%.Ng" tried prints their digits, no exponent, and reads back. */
	if (fabs(v) < (is_float ? 1e6 : 1e15) && v == (double)(int64_t)v &&
	    !(v == 0 && signbit(v))) {
		int rv = wr_i64(b, (int64_t)v);

		return rv < 0 ? rv : wr_lit(b, ".0");
	}
	for (; prec <= last; prec++) {
		n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (is_float ? (float)strtod(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
			break;
	}
	if (strpbrk(tmp, ".en") == NULL) {
		tmp[n++] = '.';
		tmp[n++] = '0';
	}
	return keel_buf_append(b, tmp, (size_t)n);
}

static const char wr_hex[] = "0123456789ABCDEF";

/* Appends "\uXXXX" for a code unit. */
static void wr_u16(char *p, unsigned u)
{
	p[0] = '\\';
	p[1] = 'u';
	p[2] = wr_hex[(u >> 12) & 15];
	p[3] = wr_hex[(u >> 8) & 15];
	p[4] = wr_hex[(u >> 4) & 15];
	p[5] = wr_hex[u & 15];
}

/*
 * Decodes one UTF-8 sequence at *pp (a byte >= 0x80) and advances past it; returns the code
 * point, or U+FFFD after advancing one byte when the bytes there are not a valid, shortest,
 * non-surrogate sequence of at most U+10FFFF.
 */
static unsigned wr_utf8(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	unsigned c = p[0], cp, need, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0; /* no overlongs */
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90; /* no overlongs */
		else if (c == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		*pp = p + 1;
		return 0xfffd;
	}
	if ((size_t)(end - p) <= need || p[1] < lo || p[1] > hi) {
		*pp = p + 1;
		return 0xfffd;
	}
	for (i = 1; i <= need; i++) {
		if (i > 1 && (p[i] < 0x80 || p[i] > 0xbf)) {
			*pp = p + 1;
			return 0xfffd;
		}
		cp = cp << 6 | (p[i] & 0x3f);
	}
	*pp = p + need + 1;
	return cp;
}

/* A JSON string: ASCII only, escapes as needed, invalid UTF-8 bytes as \uFFFD. */
static int wr_string(struct keel_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run;
	char esc[12];
	size_t k;
	unsigned c;

	WR_TRY(keel_buf_reserve(b, n + 2));
	keel_buf_putc(b, '"');
	while (p < end) {
		run = p;
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		WR_TRY(keel_buf_append(b, run, (size_t)(p - run)));
		if (p == end)
			break;
		c = *p;
		k = 2;
		esc[0] = '\\';
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
		} else if (c == '\n') {
			esc[1] = 'n';
		} else if (c == '\r') {
			esc[1] = 'r';
		} else if (c == '\t') {
			esc[1] = 't';
		} else if (c == '\b') {
			esc[1] = 'b';
		} else if (c == '\f') {
			esc[1] = 'f';
		} else if (c < 0x20) {
			wr_u16(esc, c);
			k = 6;
		} else {
			c = wr_utf8(&p, end);
			if (c >= 0x10000) {
				c -= 0x10000;
				wr_u16(esc, 0xd800 + (c >> 10));
				wr_u16(esc + 6, 0xdc00 + (c & 0x3ff));
				k = 12;
			} else {
				wr_u16(esc, c);
				k = 6;
			}
			WR_TRY(keel_buf_append(b, esc, k));
			continue;
		}
		p++;
		WR_TRY(keel_buf_append(b, esc, k));
	}
	return keel_buf_putc(b, '"');
}

static int wr_bytes(struct keel_buf *b, const ProtobufCBinaryData *bd)
{
	size_t n = keel_base64_encoded_len(bd->len);

	if (n > SIZE_MAX - 2)
		return -ENOMEM;
	WR_TRY(keel_buf_reserve(b, n + 2));
	keel_buf_putc(b, '"');
	if (bd->len > 0)
		keel_buf_commit(b, keel_base64_encode(keel_buf_wptr(b), bd->data, bd->len));
	return keel_buf_putc(b, '"');
}

/* The enum value's name, or NULL for a number outside the enum. */
static const char *wr_enum_name(const ProtobufCFieldDescriptor *f, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);

	return ev != NULL ? ev->name : NULL;
}

static int wr_message(struct wr *w, const ProtobufCMessage *m, unsigned depth);

/* One value of field f stored at p (the member, an array element, or a default). */
static int wr_value(struct wr *w, const ProtobufCFieldDescriptor *f, const void *p, unsigned depth)
{
	struct keel_buf *b = w->b;
	const char *s;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return wr_i64(b, *(const int32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return wr_i64(b, *(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return wr_u64(b, *(const uint32_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return wr_u64(b, *(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return wr_real(b, *(const float *)p, true);
	case PROTOBUF_C_TYPE_DOUBLE:
		return wr_real(b, *(const double *)p, false);
	case PROTOBUF_C_TYPE_BOOL:
		return wr_lit(b, *(const protobuf_c_boolean *)p ? "true" : "false");
	case PROTOBUF_C_TYPE_ENUM:
		s = wr_enum_name(f, *(const int *)p);
		if (s == NULL)
			return keel_errf(w->errmsg, -EINVAL, "field %s: %d is not a value of %s",
					 f->name, *(const int *)p,
					 ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
		WR_TRY(keel_buf_putc(b, '"'));
		WR_TRY(wr_lit(b, s));
		return keel_buf_putc(b, '"');
	case PROTOBUF_C_TYPE_STRING:
		s = *(char *const *)p;
		if (s == NULL)
			return keel_errf(w->errmsg, -EINVAL, "field %s: string is NULL", f->name);
		return wr_string(b, s, strlen(s));
	case PROTOBUF_C_TYPE_BYTES:
		return wr_bytes(b, p);
	case PROTOBUF_C_TYPE_MESSAGE:
		if (*(ProtobufCMessage *const *)p == NULL)
			return keel_errf(w->errmsg, -EINVAL, "field %s: message is NULL", f->name);
		return wr_message(w, *(ProtobufCMessage *const *)p, depth + 1);
	}
	return keel_errf(w->errmsg, -EINVAL, "field %s: unknown type %d", f->name, (int)f->type);
}

/* A map key as a JSON string: strings as they are, integers and bools spelled out. */
static int wr_map_key(struct wr *w, const ProtobufCFieldDescriptor *kf, const void *p)
{
	const char *s;

	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING:
		s = *(char *const *)p;
		return wr_string(w->b, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
	case PROTOBUF_C_TYPE_BOOL:
		return wr_lit(w->b, *(const protobuf_c_boolean *)p ? "\"true\"" : "\"false\"");
	default:
		WR_TRY(keel_buf_putc(w->b, '"'));
		WR_TRY(wr_value(w, kf, p, 0));
		return keel_buf_putc(w->b, '"');
	}
}

/* True when a map entry or repeated element can be written (enums must be known values). */
static bool wr_elem_known(const ProtobufCFieldDescriptor *f, const void *p, bool map)
{
	const ProtobufCMessage *e;
	const ProtobufCFieldDescriptor *vf;

	if (!map)
		return f->type != PROTOBUF_C_TYPE_ENUM || wr_enum_name(f, *(const int *)p) != NULL;
	e = *(const ProtobufCMessage *const *)p;
	if (e == NULL)
		return true; /* reported as an error when written */
	vf = &e->descriptor->fields[1];
	return vf->type != PROTOBUF_C_TYPE_ENUM ||
	       wr_enum_name(vf, *(const int *)PBJ_CMEMBER(e, vf->offset)) != NULL;
}

/* A repeated field with n > 0 elements: a JSON array, or an object for a map. */
static int wr_repeated(struct wr *w, const ProtobufCFieldDescriptor *f, const char *arr, size_t n,
		       unsigned depth, bool *first)
{
	size_t i, esz = pbjson_elt_size(f->type), written = 0;
	bool map = pbjson_field_is_map(f);

	for (i = 0; i < n; i++)
		if (wr_elem_known(f, arr + i * esz, map))
			break;
	if (i == n)
		return 0; /* nothing to write: as if empty */
	if (!*first)
		WR_TRY(keel_buf_putc(w->b, ','));
	*first = false;
	WR_TRY(keel_buf_putc(w->b, '"'));
	WR_TRY(wr_lit(w->b, f->name));
	WR_TRY(wr_lit(w->b, map ? "\":{" : "\":["));
	for (i = 0; i < n; i++) {
		const void *p = arr + i * esz;

		if (!wr_elem_known(f, p, map))
			continue;
		if (written++ > 0)
			WR_TRY(keel_buf_putc(w->b, ','));
		if (map) {
			const ProtobufCMessage *e = *(const ProtobufCMessage *const *)p;
			const ProtobufCFieldDescriptor *kf, *vf;

			if (e == NULL)
				return keel_errf(w->errmsg, -EINVAL, "field %s: map entry is NULL",
						 f->name);
			kf = &e->descriptor->fields[0];
			vf = &e->descriptor->fields[1];
			WR_TRY(wr_map_key(w, kf, PBJ_CMEMBER(e, kf->offset)));
			WR_TRY(keel_buf_putc(w->b, ':'));
			if (vf->type == PROTOBUF_C_TYPE_MESSAGE &&
			    *(ProtobufCMessage *const *)PBJ_CMEMBER(e, vf->offset) == NULL) {
				/* An entry without a value stands for the empty message. */
				WR_TRY(wr_lit(w->b, "{}"));
				continue;
			}
			WR_TRY(wr_value(w, vf, PBJ_CMEMBER(e, vf->offset), depth));
		} else {
			WR_TRY(wr_value(w, f, p, depth));
		}
	}
	return keel_buf_putc(w->b, map ? '}' : ']');
}

/* True when a non-repeated field holds a value worth writing under proto3 (no presence) rules. */
static bool wr_nonzero(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return s != NULL && s[0] != '\0';
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p != NULL;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len > 0;
	default: {
		static const char zero[8];
		return memcmp(p, zero, pbjson_elt_size(f->type)) != 0;
	}
	}
}

static int wr_field(struct wr *w, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		    unsigned depth, bool *first)
{
	const void *p = PBJ_CMEMBER(m, f->offset);
	const void *dflt = f->default_value;
	bool present;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)PBJ_CMEMBER(m, f->quantifier_offset);
		const char *arr = *(char *const *)p;

		if (n == 0)
			return 0;
		if (arr == NULL)
			return keel_errf(w->errmsg, -EINVAL, "%s.%s: %zu elements but no array",
					 m->descriptor->name, f->name, n);
		return wr_repeated(w, f, arr, n, depth, first);
	}

	if (pbjson_field_in_oneof(f)) {
		present = pbjson_oneof_selected(m, f);
		dflt = NULL;
	} else if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
		present = true;
		if ((f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) &&
		    *(void *const *)p == NULL)
			return keel_errf(w->errmsg, -EINVAL, "%s.%s: required field is not set",
					 m->descriptor->name, f->name);
		if (f->type == PROTOBUF_C_TYPE_ENUM && wr_enum_name(f, *(const int *)p) == NULL)
			return keel_errf(w->errmsg, -EINVAL,
					 "%s.%s: required enum holds %d, not a value of %s",
					 m->descriptor->name, f->name, *(const int *)p,
					 ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
	} else if (f->label == PROTOBUF_C_LABEL_NONE) {
		present = wr_nonzero(f, p);
	} else if (f->type == PROTOBUF_C_TYPE_STRING) {
		/* protobuf-c points an unset optional string at its default. */
		present = *(char *const *)p != NULL && *(char *const *)p != (const char *)dflt;
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		present = *(ProtobufCMessage *const *)p != NULL;
	} else {
		present = *(const protobuf_c_boolean *)PBJ_CMEMBER(m, f->quantifier_offset) != 0;
	}
	/* An enum number outside its enum reads as unset (proto2's rule for unknown values). */
	if (present && f->type == PROTOBUF_C_TYPE_ENUM && f->label != PROTOBUF_C_LABEL_REQUIRED &&
	    wr_enum_name(f, *(const int *)p) == NULL)
		present = false;
	if (!present) {
		/* Mesos writes unset optional fields that have a non-deprecated default. */
		if (dflt == NULL || (f->flags & PROTOBUF_C_FIELD_FLAG_DEPRECATED) ||
		    f->label != PROTOBUF_C_LABEL_OPTIONAL)
			return 0;
		/* Strings keep the char pointer itself as default_value. */
		p = f->type == PROTOBUF_C_TYPE_STRING ? (const void *)&f->default_value : dflt;
	}
	if (!*first)
		WR_TRY(keel_buf_putc(w->b, ','));
	*first = false;
	WR_TRY(keel_buf_putc(w->b, '"'));
	WR_TRY(wr_lit(w->b, f->name));
	WR_TRY(wr_lit(w->b, "\":"));
	return wr_value(w, f, p, depth);
}

static int wr_message(struct wr *w, const ProtobufCMessage *m, unsigned depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	bool first = true;
	unsigned i;

	if (depth > KEEL_PBJSON_MAX_DEPTH)
		return keel_errf(w->errmsg, -EINVAL, "%s: nested deeper than %d messages", d->name,
				 KEEL_PBJSON_MAX_DEPTH);
	WR_TRY(keel_buf_putc(w->b, '{'));
	for (i = 0; i < d->n_fields; i++)
		WR_TRY(wr_field(w, m, &d->fields[i], depth, &first));
	return keel_buf_putc(w->b, '}');
}

int keel_pbjson_write(struct keel_buf *out, const ProtobufCMessage *m, char *errmsg)
{
	struct wr w = {out, errmsg};
	size_t before = keel_buf_size(out);
	int rv;

	rv = wr_message(&w, m, 1);
	if (rv < 0) {
		/* Growing may have moved the unread bytes to the front; keep exactly those. */
		out->len = out->off + before;
		if (rv == -ENOMEM)
			keel_errf(errmsg, rv, "writing %s as JSON: out of memory",
				  m->descriptor->name);
	}
	return rv;
}
