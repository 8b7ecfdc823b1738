/* Resources in Mesos's text form ("cpus:4;mem(role):512;ports:[1-5]"): parsing and formatting. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/allocator_int.h"
#include "runtime/alloc.h"

/* A slice of the input text. */
struct span {
	const char *p; /* first byte */
	size_t n;      /* length */
};

static struct span trim(const char *p, size_t n)
{
	while (n && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	return (struct span){p, n};
}

/* Splits s at the first `sep` (outside brackets and braces): head in *h, rest in *t. */
static bool split(struct span s, char sep, struct span *h, struct span *t)
{
	int depth = 0;

	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (c == '[' || c == '{')
			depth++;
		else if ((c == ']' || c == '}') && depth > 0)
			depth--;
		else if (c == sep && depth == 0) {
			*h = (struct span){s.p, i};
			*t = (struct span){s.p + i + 1, s.n - i - 1};
			return true;
		}
	}
	*h = s;
	*t = (struct span){s.p + s.n, 0};
	return false;
}

/* Parses an unsigned decimal integer filling the whole span. */
static bool parse_u64(struct span s, uint64_t *out)
{
	char buf[32], *end;

	s = trim(s.p, s.n);
	if (s.n == 0 || s.n >= sizeof(buf) || !isdigit((unsigned char)s.p[0]))
		return false;
	memcpy(buf, s.p, s.n);
	buf[s.n] = 0;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno == 0 && *end == 0;
}

/* Parses a non-negative decimal number into thousandths (rounded). */
static int parse_scalar(struct allocator *a, struct span s, int64_t *out)
{
	char buf[64], *end;
	double v;

	if (s.n == 0 || s.n >= sizeof(buf))
		return keel_errf(a->errmsg, -EINVAL, "bad scalar '%.*s'", (int)s.n, s.p);
	memcpy(buf, s.p, s.n);
	buf[s.n] = 0;
	errno = 0;
	v = strtod(buf, &end);
	if (errno != 0 || *end != 0 || !isfinite(v) || v < 0 ||
	    v > (double)ALLOCATOR_SCALAR_MAX / 1000)
		return keel_errf(a->errmsg, -EINVAL, "bad scalar '%s'", buf);
	*out = llround(v * 1000);
	return 0;
}

/* Grows a word array used while parsing. */
static int words_push(struct allocator *a, uint64_t **w, uint32_t *n, uint32_t *cap, uint64_t x)
{
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 16;
		uint64_t *v;

		if (c > (1u << 26))
			return keel_errf(a->errmsg, -ENOSPC, "too many ranges or items");
		v = keel_realloc(*w, (size_t)c * sizeof(*v));
		if (!v)
			return keel_errf(a->errmsg, -ENOMEM, "out of memory parsing resources");
		*w = v;
		*cap = c;
	}
	(*w)[(*n)++] = x;
	return 0;
}

/* Parses one "name(role):value" into a one-resource vector. */
static int parse_item(struct allocator *a, struct span s, struct allocator_res **out)
{
	struct span head, val, name, role = {NULL, 0};
	uint64_t *w = NULL;
	uint32_t nw = 0, capw = 0, name_id, role_id = 0, type;
	int64_t scalar = 0;
	int rv;

	if (!split(s, ':', &head, &val) || (head = trim(head.p, head.n)).n == 0)
		return keel_errf(a->errmsg, -EINVAL, "expected name:value in '%.*s'", (int)s.n,
				 s.p);
	val = trim(val.p, val.n);
	name = head;
	for (size_t i = 0; i < head.n; i++) {
		if (head.p[i] != '(')
			continue;
		if (head.p[head.n - 1] != ')')
			return keel_errf(a->errmsg, -EINVAL, "bad role in '%.*s'", (int)head.n,
					 head.p);
		name = trim(head.p, i);
		role = trim(head.p + i + 1, head.n - i - 2);
		break;
	}
	if (name.n == 0)
		return keel_errf(a->errmsg, -EINVAL, "empty resource name");
	rv = alloc_intern_id(a, &a->names, name.p, name.n, &name_id);
	if (rv < 0)
		return rv;
	if (role.p && !(role.n == 1 && role.p[0] == '*')) {
		struct role *r;

		rv = alloc_role_get(a, role.p, role.n, true, &r);
		if (rv < 0)
			return rv;
		role_id = r->id;
	}
	if (val.n && (val.p[0] == '[' || val.p[0] == '{')) {
		char close = val.p[0] == '[' ? ']' : '}';
		struct span body, item, rest;

		type = val.p[0] == '[' ? RES_RANGES : RES_SET;
		if (val.p[val.n - 1] != close)
			return keel_errf(a->errmsg, -EINVAL, "unterminated '%.*s'", (int)val.n,
					 val.p);
		body = trim(val.p + 1, val.n - 2);
		while (body.n > 0) {
			bool more = split(body, ',', &item, &rest);

			item = trim(item.p, item.n);
			if (more && trim(rest.p, rest.n).n == 0) {
				rv = keel_errf(a->errmsg, -EINVAL, "empty item in '%.*s'",
					       (int)val.n, val.p);
				goto out;
			}
			if (type == RES_RANGES) {
				struct span lo, hi;
				uint64_t b, e;

				if (!split(item, '-', &lo, &hi) || !parse_u64(lo, &b) ||
				    !parse_u64(hi, &e)) {
					rv = keel_errf(a->errmsg, -EINVAL, "bad range '%.*s'",
						       (int)item.n, item.p);
					goto out;
				}
				rv = words_push(a, &w, &nw, &capw, b);
				if (rv == 0)
					rv = words_push(a, &w, &nw, &capw, e);
			} else {
				uint32_t id;

				if (item.n == 0) {
					rv = keel_errf(a->errmsg, -EINVAL, "empty set item");
					goto out;
				}
				rv = alloc_intern_id(a, &a->items, item.p, item.n, &id);
				if (rv == 0)
					rv = words_push(a, &w, &nw, &capw, id);
			}
			if (rv < 0)
				goto out;
			body = rest;
		}
	} else {
		type = RES_SCALAR;
		rv = parse_scalar(a, val, &scalar);
		if (rv < 0)
			return rv;
	}
	rv = alloc_res_single(a, name_id, role_id, type, scalar, w,
			      type == RES_RANGES ? nw / 2 : nw, out);
out:
	keel_free(w);
	return rv;
}

int allocator_res_parse(struct allocator *a, const char *text, struct allocator_res **out)
{
	struct span s = trim(text, strlen(text)), item, rest;
	struct allocator_res *sum = allocator_res_ref(a->empty);
	int rv = 0;

	while (s.n > 0) {
		struct allocator_res *one, *next;

		split(s, ';', &item, &rest);
		item = trim(item.p, item.n);
		s = trim(rest.p, rest.n);
		if (item.n == 0)
			continue;
		rv = parse_item(a, item, &one);
		if (rv < 0)
			break;
		rv = allocator_res_add(a, sum, one, &next);
		allocator_res_unref(one);
		if (rv < 0)
			break;
		allocator_res_unref(sum);
		sum = next;
	}
	if (rv < 0) {
		allocator_res_unref(sum);
		return rv;
	}
	*out = sum;
	return 0;
}

/* snprintf into buf at *len, tracking the length the whole text needs. */
static void emit(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void emit(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

size_t allocator_res_format(const struct allocator *a, const struct allocator_res *r, char *buf,
			    size_t size)
{
	const uint64_t *pay = res_payload(r);
	size_t len = 0;

	if (size)
		buf[0] = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		const struct res_entry *e = &r->e[i];
		const uint64_t *w = pay + (e->type == RES_SCALAR ? 0 : e->off);

		emit(buf, size, &len, "%s%s", i ? ";" : "", a->names.strs[e->name]);
		if (e->role)
			emit(buf, size, &len, "(%s)", a->roles[e->role]->name);
		if (e->type == RES_SCALAR) {
			int64_t whole = e->scalar / 1000, frac = e->scalar % 1000;

			if (frac == 0)
				emit(buf, size, &len, ":%" PRId64, whole);
			else if (frac % 100 == 0)
				emit(buf, size, &len, ":%" PRId64 ".%" PRId64, whole, frac / 100);
			else if (frac % 10 == 0)
				emit(buf, size, &len, ":%" PRId64 ".%02" PRId64, whole, frac / 10);
			else
				emit(buf, size, &len, ":%" PRId64 ".%03" PRId64, whole, frac);
			continue;
		}
		emit(buf, size, &len, ":%c", e->type == RES_RANGES ? '[' : '{');
		for (uint32_t k = 0; k < e->cnt; k++) {
			if (e->type == RES_RANGES)
				emit(buf, size, &len, "%s%" PRIu64 "-%" PRIu64, k ? "," : "",
				     w[2 * k], w[2 * k + 1]);
			else
				emit(buf, size, &len, "%s%s", k ? "," : "", a->items.strs[w[k]]);
		}
		emit(buf, size, &len, "%c", e->type == RES_RANGES ? ']' : '}');
	}
	return len;
}
