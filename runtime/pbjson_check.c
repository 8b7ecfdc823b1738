/* Required-field check for protobuf-c messages built in code or unpacked: names what is missing. */
#include "pbjson.h"

#include <errno.h>

#include "err.h"
#include "pbjson_priv.h"

/* Checker state for one keel_pbjson_check call. */
struct ck {
	char *errmsg;		    /* caller's message buffer, may be NULL */
	struct pbjson_path path;    /* where the checker is */
	struct pbjson_list missing; /* required fields found unset */
};

static int ck_message(struct ck *c, const ProtobufCMessage *m, unsigned depth);

/* A sub-message at path[i] or path.name: checked if present; NULL is an error for elements. */
static int ck_sub(struct ck *c, const ProtobufCMessage *sub, unsigned depth)
{
	if (sub == NULL)
		return keel_errf(c->errmsg, -EINVAL, "%s: NULL message in a repeated field",
				 c->path.buf);
	return ck_message(c, sub, depth + 1);
}

static int ck_repeated(struct ck *c, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		       unsigned depth)
{
	size_t n = *(const size_t *)PBJ_CMEMBER(m, f->quantifier_offset), i, mark;
	const void *arr = *(void *const *)PBJ_CMEMBER(m, f->offset);
	int rv = 0;

	if (n == 0)
		return 0;
	if (arr == NULL)
		return keel_errf(c->errmsg, -EINVAL, "%s: %zu elements but no array", c->path.buf,
				 n);
	for (i = 0; i < n && rv == 0; i++) {
		mark = pbjson_path_push_index(&c->path, i);
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			rv = ck_sub(c, ((ProtobufCMessage *const *)arr)[i], depth);
		else if (f->type == PROTOBUF_C_TYPE_STRING && ((char *const *)arr)[i] == NULL)
			rv = keel_errf(c->errmsg, -EINVAL, "%s: NULL string in a repeated field",
				       c->path.buf);
		pbjson_path_pop(&c->path, mark);
	}
	return rv;
}

static int ck_message(struct ck *c, const ProtobufCMessage *m, unsigned depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned i;
	int rv = 0;

	if (depth > KEEL_PBJSON_MAX_DEPTH)
		return keel_errf(c->errmsg, -EINVAL, "%s: nested deeper than %d messages",
				 c->path.len ? c->path.buf : d->name, KEEL_PBJSON_MAX_DEPTH);
	for (i = 0; i < d->n_fields && rv == 0; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = PBJ_CMEMBER(m, f->offset);
		size_t mark;

		if (!pbjson_oneof_selected(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			mark = pbjson_path_push(&c->path, f->name);
			rv = ck_repeated(c, m, f, depth);
			pbjson_path_pop(&c->path, mark);
			continue;
		}
		if (f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
			continue;
		if (*(void *const *)p == NULL) {
			if (f->label == PROTOBUF_C_LABEL_REQUIRED)
				pbjson_list_add(&c->missing, &c->path, f->name);
			continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			mark = pbjson_path_push(&c->path, f->name);
			rv = ck_message(c, *(ProtobufCMessage *const *)p, depth + 1);
			pbjson_path_pop(&c->path, mark);
		}
	}
	return rv;
}

int keel_pbjson_check(const ProtobufCMessage *m, char *errmsg)
{
	struct ck c = {.errmsg = errmsg};
	int rv;

	rv = ck_message(&c, m, 1);
	if (rv == 0 && c.missing.count > 0)
		rv = keel_errf(errmsg, -EINVAL, "missing required field%s: %s",
			       c.missing.count > 1 ? "s" : "", c.missing.buf);
	return rv;
}
