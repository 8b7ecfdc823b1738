/* libFuzzer target: request heads and chunked bodies; pointer invariants, split stability. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buf.h"
#include "runtime/http_parse.h"

#define MAX_HEAD 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const char *p, size_t n, const char *base, size_t len)
{
	return p != NULL && p >= base && p + n <= base + len;
}

static bool span_eq(const char *a, size_t an, const char *b, size_t bn)
{
	if (a == NULL || b == NULL)
		return a == b && an == bn;
	return an == bn && memcmp(a, b, an) == 0;
}

/* Checks that every pointer of a successful parse lies inside the head. */
static void check_head(const struct keel_http_head *h, const char *buf, size_t n, bool request)
{
	size_t i;

	if (h->num_headers > KEEL_HTTP_MAX_HEADERS)
		abort();
	for (i = 0; i < h->num_headers; i++) {
		const struct keel_http_header *f = &h->headers[i];

		if (!inside(f->name, f->name_len, buf, n) || f->name_len == 0 ||
		    !inside(f->value, f->value_len, buf, n))
			abort();
	}
	if (h->content_length < -1 || (h->chunked && h->content_length != -1))
		abort();
	if (request) {
		if (!inside(h->method_str, h->method_len, buf, n) ||
		    !inside(h->target, h->target_len, buf, n) || h->path_len == 0)
			abort();
		if (!inside(h->path, h->path_len, buf, n) &&
		    !(h->path_len == 1 && h->path[0] == '/'))
			abort();
		if (h->query != NULL && !inside(h->query, h->query_len, buf, n))
			abort();
	} else if (h->status < 100 || h->status > 599 ||
		   !inside(h->reason, h->reason_len, buf, n)) {
		abort();
	}
}

static bool heads_eq(const struct keel_http_head *a, const struct keel_http_head *b)
{
	size_t i;

	if (a->method != b->method || a->status != b->status ||
	    a->minor_version != b->minor_version || a->num_headers != b->num_headers ||
	    a->content_length != b->content_length || a->chunked != b->chunked ||
	    a->keep_alive != b->keep_alive || a->expect_continue != b->expect_continue ||
	    !span_eq(a->target, a->target_len, b->target, b->target_len) ||
	    !span_eq(a->query, a->query_len, b->query, b->query_len) ||
	    !span_eq(a->path, a->path_len, b->path, b->path_len))
		return false;
	for (i = 0; i < a->num_headers; i++)
		if (!span_eq(a->headers[i].value, a->headers[i].value_len, b->headers[i].value,
			     b->headers[i].value_len))
			return false;
	return true;
}

typedef int (*parse_fn)(const char *, size_t, size_t, struct keel_http_head *);

/* Parses the whole input and a prefix of it (in an exact-size copy) and compares. */
static int parse_checked(parse_fn fn, const char *buf, size_t size, size_t cut, bool request)
{
	static struct keel_http_head full, part;
	int r = fn(buf, size, MAX_HEAD, &full), rp;
	char *copy;

	if (r > 0) {
		if ((size_t)r > size || r > MAX_HEAD)
			abort();
		check_head(&full, buf, (size_t)r, request);
	}
	copy = malloc(cut ? cut : 1);
	memcpy(copy, buf, cut);
	rp = fn(copy, cut, MAX_HEAD, &part);
	/* A prefix gives 0 or exactly the whole input's answer. */
	if (rp != 0 && rp != r)
		abort();
	if (r > 0 && (size_t)r <= cut && rp != r)
		abort();
	if (rp > 0 && !heads_eq(&full, &part))
		abort();
	free(copy);
	return r;
}

/* Decodes a chunked body from in[0, n) split at cut; appends data to out; returns rv and end. */
static int decode(const char *in, size_t n, size_t cut, struct keel_buf *out, size_t *end)
{
	struct keel_http_chunked c;
	size_t pos = 0, piece_end;
	int rv = 0, piece;

	keel_http_chunked_init(&c, 256);
	*end = 0;
	for (piece = 0; piece < 2 && rv == 0; piece++) {
		piece_end = piece == 0 ? cut : n;
		char *p = malloc(piece_end - pos ? piece_end - pos : 1);
		size_t len = piece_end - pos, off = 0;

		memcpy(p, in + pos, len);
		for (;;) {
			size_t consumed = 0, dlen = 0;
			const char *d = NULL;

			rv = keel_http_chunked_decode(&c, p + off, len - off, &consumed, &d, &dlen);
			if (consumed > len - off)
				abort();
			if (dlen > 0) {
				if (!inside(d, dlen, p + off, consumed))
					abort();
				if (keel_buf_append(out, d, dlen) < 0)
					abort();
			}
			off += consumed;
			if (rv == 1)
				*end = pos + off;
			if (rv != 0 || (dlen == 0 && off == len))
				break;
		}
		free(p);
		pos = piece_end;
	}
	return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t cut = size > 0 ? (data[size - 1] * 131u + size / 2) % (size + 1) : 0;
	int r;

	r = parse_checked(keel_http_parse_request, buf, size, cut, true);
	parse_checked(keel_http_parse_response, buf, size, cut, false);
	if (r > 0) {
		struct keel_http_head h;

		keel_http_parse_request(buf, size, MAX_HEAD, &h);
		if (h.chunked) {
			struct keel_buf a = KEEL_BUF_INIT, b = KEEL_BUF_INIT;
			size_t n = size - (size_t)r, ea, eb;
			int ra = decode(buf + r, n, n, &a, &ea);
			int rb = decode(buf + r, n, n ? cut % (n + 1) : 0, &b, &eb);

			if (ra != rb || ea != eb || keel_buf_size(&a) != keel_buf_size(&b) ||
			    (keel_buf_size(&a) > 0 &&
			     memcmp(keel_buf_rptr(&a), keel_buf_rptr(&b), keel_buf_size(&a)) != 0))
				abort();
			if (ea > n)
				abort();
			keel_buf_free(&a);
			keel_buf_free(&b);
		}
	}
	return 0;
}
