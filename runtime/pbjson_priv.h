/* Private helpers shared by the pbjson reader, writer and checker: field access, maps, paths. */
#ifndef KEEL_RUNTIME_PBJSON_PRIV_H
#define KEEL_RUNTIME_PBJSON_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "err.h"

/* The struct member at a descriptor offset. */
#define PBJ_MEMBER(m, off) ((void *)((char *)(m) + (off)))
#define PBJ_CMEMBER(m, off) ((const void *)((const char *)(m) + (off)))

static inline bool pbjson_field_in_oneof(const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

/* True when the oneof member f is the selected one in m (always true outside oneofs). */
static inline bool pbjson_oneof_selected(const ProtobufCMessage *m,
					 const ProtobufCFieldDescriptor *f)
{
	if (!pbjson_field_in_oneof(f))
		return true;
	return *(const uint32_t *)PBJ_CMEMBER(m, f->quantifier_offset) == f->id;
}

/* True for an optional field that protobuf-c gives a has_ flag (scalars, enums and bytes). */
static inline bool pbjson_field_has_flag(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_OPTIONAL && !pbjson_field_in_oneof(f) &&
	       f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* Bytes one element of a repeated field of this type takes (as protobuf-c lays them out). */
static inline size_t pbjson_elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	}
	return 0;
}

/*
 * A `map<K, V> name = N;` field: protoc turns it into `repeated NameEntry name = N;` with
 * NameEntry { optional K key = 1; optional V value = 2; }, the entry named by camel-casing
 * the field name, K an integer, bool or string type. protobuf-c keeps no map flag, so this
 * recognises that shape.
 */
static inline bool pbjson_field_is_map(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *e;
	const char *n, *s;
	bool up = true;

	if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return false;
	e = f->descriptor;
	if (e->n_fields != 2 || e->fields[0].id != 1 || e->fields[1].id != 2 ||
	    strcmp(e->fields[0].name, "key") != 0 || strcmp(e->fields[1].name, "value") != 0 ||
	    e->fields[0].label == PROTOBUF_C_LABEL_REPEATED ||
	    e->fields[1].label == PROTOBUF_C_LABEL_REPEATED)
		return false;
	switch (e->fields[0].type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_MESSAGE:
		return false; /* not a valid map key type: an ordinary message after all */
	default:
		break;
	}
	s = e->short_name;
	for (n = f->name; *n != '\0'; n++) {
		if (*n == '_') {
			up = true;
			continue;
		}
		char want = (up && *n >= 'a' && *n <= 'z') ? (char)(*n - 'a' + 'A') : *n;
		up = false;
		if (*s++ != want)
			return false;
	}
	return strcmp(s, "Entry") == 0;
}

/* A dotted field path for error messages ("subscribe.framework_info.roles[2]"), truncated. */
struct pbjson_path {
	char buf[192]; /* NUL-terminated path */
	size_t len;    /* strlen(buf) */
};

/* Appends text (non-printable bytes shown as '?'); returns the old length for pbjson_path_pop. */
static inline size_t pbjson_path_put(struct pbjson_path *p, const char *sep, const char *text,
				     const char *end)
{
	size_t old = p->len;
	const char *parts[3] = {sep, text, end};
	size_t i;

	for (i = 0; i < 3; i++) {
		const char *s;

		for (s = parts[i]; s != NULL && *s != '\0' && p->len + 1 < sizeof(p->buf); s++)
			p->buf[p->len++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	}
	p->buf[p->len] = '\0';
	return old;
}

/* Appends ".name" (or "name" at the start). */
static inline size_t pbjson_path_push(struct pbjson_path *p, const char *name)
{
	return pbjson_path_put(p, p->len > 0 ? "." : NULL, name, NULL);
}

/* Appends "[i]". */
static inline size_t pbjson_path_push_index(struct pbjson_path *p, size_t i)
{
	char num[24];

	snprintf(num, sizeof(num), "%zu", i);
	return pbjson_path_put(p, "[", num, "]");
}

/* Appends "[key]" (map keys). */
static inline size_t pbjson_path_push_key(struct pbjson_path *p, const char *key)
{
	return pbjson_path_put(p, "[", key, "]");
}

static inline void pbjson_path_pop(struct pbjson_path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

/* A comma-separated list of paths (missing required fields), "..." once it is full. */
struct pbjson_list {
	char buf[KEEL_ERRMSG_SIZE - 32]; /* NUL-terminated list */
	size_t len;			 /* strlen(buf) */
	unsigned count;			 /* entries added, listed or not */
	bool full;			 /* "..." written: later entries are only counted */
};

/* Adds "<path>.<name>" (or "<name>" at the top level). */
static inline void pbjson_list_add(struct pbjson_list *l, const struct pbjson_path *p,
				   const char *name)
{
	size_t room = sizeof(l->buf) - l->len;
	int n;

	l->count++;
	if (l->full)
		return;
	n = snprintf(l->buf + l->len, room, "%s%s%s%s", l->len ? ", " : "", p->buf,
		     p->len ? "." : "", name);
	/* Keep room for a closing ", ..." (6 bytes with the NUL) after every listed entry. */
	if (n < 0 || (size_t)n + 6 > room) {
		snprintf(l->buf + l->len, room, "%s...", l->len ? ", " : "");
		l->full = true;
		return;
	}
	l->len += (size_t)n;
}

/* One array or object of a JSON text, as pbjson_scan records them in document order. */
struct pbjson_box {
	size_t end;   /* offset just past its closing bracket */
	size_t count; /* its elements or members */
	size_t next;  /* index of the first box after it: skips the boxes inside it */
};

/* What pbjson_scan learnt about a valid text: its boxes, in document order. */
struct pbjson_scan {
	struct pbjson_box *boxes; /* owned, keel_malloc'd */
	size_t n, cap;		  /* used and allocated entries */
};

/*
 * Checks that json[0, len) is one JSON object or array and nothing else, with the rules (and
 * error texts) of jansson's json_loadb with JSON_REJECT_DUPLICATES: valid UTF-8, no \u0000,
 * no control characters in strings, integers within int64, reals that do not overflow, no
 * duplicate keys, at most 2048 levels. Fills *out (free with pbjson_scan_free; on error it is
 * left empty). Errors: -EINVAL "invalid JSON at line L column C: ...", -ENOMEM.
 */
int pbjson_scan(const char *json, size_t len, struct pbjson_scan *out, char *errmsg);

void pbjson_scan_free(struct pbjson_scan *s);

/*
 * Decodes the body of a string that pbjson_scan accepted (raw[0, rawlen), between the quotes)
 * into dst, which has room for rawlen bytes (decoding never grows it). No NUL is added.
 * Returns the decoded length.
 */
size_t pbjson_str_decode(const char *raw, size_t rawlen, char *dst);

/* strtod over s[0, n) (a JSON number token, not NUL-terminated). */
double pbjson_strtod(const char *s, size_t n);

#endif
