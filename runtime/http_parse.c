/* HTTP/1.1 request and response head parser: one pass, no allocation, pointers into the input. */
#include "http_parse.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "http_chars.h"
#include "util.h"

/* Internal result: the bytes ran out before the head was complete. */
#define NEED_MORE 1

/* Framing facts gathered from the header lines, judged once the head is complete. */
struct frame {
	bool request;	      /* parsing a request (Host rules apply) */
	bool host_seen;	      /* a Host line was present */
	bool cl_seen;	      /* a Content-Length line was present */
	bool te_seen;	      /* a Transfer-Encoding line was present */
	int te_codings;	      /* non-empty transfer codings listed, over all lines */
	int te_chunked;	      /* how many of them were chunked */
	bool te_last_chunked; /* the last coding listed so far is chunked */
	bool te_other;	      /* some coding other than chunked was listed */
	bool conn_close;      /* Connection lists close */
	bool conn_keep_alive; /* Connection lists keep-alive */
	bool expect_continue; /* Expect: 100-continue */
};

static void head_reset(struct keel_http_head *h)
{
	h->method = KEEL_HTTP_OTHER;
	h->method_str = NULL;
	h->method_len = 0;
	h->target = NULL;
	h->target_len = 0;
	h->path = NULL;
	h->path_len = 0;
	h->query = NULL;
	h->query_len = 0;
	h->status = 0;
	h->reason = NULL;
	h->reason_len = 0;
	h->minor_version = 0;
	h->num_headers = 0;
	h->content_length = -1;
	h->chunked = false;
	h->keep_alive = false;
	h->expect_continue = false;
}

/* Consumes CR LF at *pp. */
static int take_crlf(const char **pp, const char *end)
{
	const char *p = *pp;

	if (p == end)
		return NEED_MORE;
	if (*p != '\r')
		return -EBADMSG;
	if (p + 1 == end)
		return NEED_MORE;
	if (p[1] != '\n')
		return -EBADMSG;
	*pp = p + 2;
	return 0;
}

/* Consumes "HTTP/" DIGIT "." DIGIT at *pp and stores the minor version. */
static int take_version(const char **pp, const char *end, int *minor)
{
	static const char prefix[] = "HTTP/";
	const char *p = *pp;
	char major, mnr;
	size_t i;

	for (i = 0; i < sizeof(prefix) - 1; i++, p++) {
		if (p == end)
			return NEED_MORE;
		if (*p != prefix[i])
			return -EBADMSG;
	}
	if (p == end)
		return NEED_MORE;
	major = *p++;
	if (major < '0' || major > '9')
		return -EBADMSG;
	if (p == end)
		return NEED_MORE;
	if (*p++ != '.')
		return -EBADMSG;
	if (p == end)
		return NEED_MORE;
	mnr = *p++;
	if (mnr < '0' || mnr > '9')
		return -EBADMSG;
	if (major != '1' || mnr > '1')
		return -EPROTONOSUPPORT;
	*minor = mnr - '0';
	*pp = p;
	return 0;
}

static enum keel_http_method method_lookup(const char *m, size_t n)
{
	switch (n) {
	case 3:
		if (memcmp(m, "GET", 3) == 0)
			return KEEL_HTTP_GET;
		if (memcmp(m, "PUT", 3) == 0)
			return KEEL_HTTP_PUT;
		break;
	case 4:
		if (memcmp(m, "POST", 4) == 0)
			return KEEL_HTTP_POST;
		if (memcmp(m, "HEAD", 4) == 0)
			return KEEL_HTTP_HEAD;
		break;
	case 5:
		if (memcmp(m, "PATCH", 5) == 0)
			return KEEL_HTTP_PATCH;
		break;
	case 6:
		if (memcmp(m, "DELETE", 6) == 0)
			return KEEL_HTTP_DELETE;
		break;
	case 7:
		if (memcmp(m, "OPTIONS", 7) == 0)
			return KEEL_HTTP_OPTIONS;
		break;
	default:
		break;
	}
	return KEEL_HTTP_OTHER;
}

/* Splits t[0, n) at the first '?' into path and query. */
static void split_query(struct keel_http_head *h, const char *t, size_t n)
{
	const char *q = memchr(t, '?', n);

	h->path = t;
	h->path_len = q != NULL ? (size_t)(q - t) : n;
	if (q != NULL) {
		h->query = q + 1;
		h->query_len = n - h->path_len - 1;
	}
}

/* Length of the scheme prefix "http://" or "https://" (any case) at t, or 0. */
static size_t scheme_len(const char *t, size_t n)
{
	if (n >= 7 && keel_http_ieq(t, 7, "http://", 7))
		return 7;
	if (n >= 8 && keel_http_ieq(t, 8, "https://", 8))
		return 8;
	return 0;
}

/* Classifies the request-target and fills path and query. */
static int parse_target(struct keel_http_head *h)
{
	const char *t = h->target, *a, *end = t + h->target_len;
	size_t n = h->target_len, s;

	if (memchr(t, '#', n) != NULL)
		return -EBADMSG; /* a fragment is never part of a request-target */
	if (t[0] == '/') {
		split_query(h, t, n);
		return 0;
	}
	if (n == 1 && t[0] == '*') {
		if (h->method != KEEL_HTTP_OPTIONS)
			return -EBADMSG;
		h->path = t;
		h->path_len = 1;
		return 0;
	}
	s = scheme_len(t, n);
	if (s == 0)
		return -EBADMSG;
	for (a = t + s; a < end && *a != '/' && *a != '?'; a++)
		if (*a == '@')
			return -EBADMSG; /* userinfo is not allowed in http(s) targets */
	if (a == t + s)
		return -EBADMSG; /* empty authority */
	if (a < end && *a == '/') {
		split_query(h, a, (size_t)(end - a));
	} else {
		h->path = "/";
		h->path_len = 1;
		if (a < end) {
			h->query = a + 1;
			h->query_len = (size_t)(end - a - 1);
		}
	}
	return 0;
}

/* Content-Length: 1*DIGIT, or a list of the same value repeated. */
static int note_content_length(struct keel_http_head *h, struct frame *fr, const char *v, size_t n)
{
	size_t i = 0;

	for (;;) {
		int64_t x = 0;
		size_t start = i;

		while (i < n && v[i] >= '0' && v[i] <= '9') {
			int d = v[i] - '0';

			if (x > (INT64_MAX - d) / 10)
				return -EBADMSG;
			x = x * 10 + d;
			i++;
		}
		if (i == start)
			return -EBADMSG;
		if (fr->cl_seen && x != h->content_length)
			return -EBADMSG;
		fr->cl_seen = true;
		h->content_length = x;
		while (i < n && keel_http_is_ows(v[i]))
			i++;
		if (i == n)
			return 0;
		if (v[i] != ',')
			return -EBADMSG;
		i++;
		while (i < n && keel_http_is_ows(v[i]))
			i++;
	}
}

/*
 * Calls fn for each non-empty element of a comma-separated list, with OWS
 * around elements removed.
 */
static void list_each(const char *v, size_t n, struct frame *fr,
		      void (*fn)(struct frame *fr, const char *e, size_t len))
{
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (keel_http_is_ows(v[i]) || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && keel_http_is_ows(v[e - 1]))
			e--;
		if (e > s)
			fn(fr, v + s, e - s);
	}
}

static void note_coding(struct frame *fr, const char *e, size_t len)
{
	fr->te_codings++;
	if (keel_http_ieq(e, len, "chunked", 7)) {
		fr->te_chunked++;
		fr->te_last_chunked = true;
	} else {
		fr->te_other = true;
		fr->te_last_chunked = false;
	}
}

static void note_connection(struct frame *fr, const char *e, size_t len)
{
	if (keel_http_ieq(e, len, "close", 5))
		fr->conn_close = true;
	else if (keel_http_ieq(e, len, "keep-alive", 10))
		fr->conn_keep_alive = true;
}

/* Records what a header line means for framing and connection handling. */
static int note_header(struct keel_http_head *h, struct frame *fr, const struct keel_http_header *f)
{
	switch (f->name_len) {
	case 4:
		if (fr->request && keel_http_ieq(f->name, 4, "host", 4)) {
			if (fr->host_seen)
				return -EBADMSG; /* RFC 9112 section 3.2: one Host line at most */
			fr->host_seen = true;
		}
		break;
	case 6:
		if (keel_http_ieq(f->name, 6, "expect", 6) &&
		    keel_http_ieq(f->value, f->value_len, "100-continue", 12))
			fr->expect_continue = true;
		break;
	case 10:
		if (keel_http_ieq(f->name, 10, "connection", 10))
			list_each(f->value, f->value_len, fr, note_connection);
		break;
	case 14:
		if (keel_http_ieq(f->name, 14, "content-length", 14))
			return note_content_length(h, fr, f->value, f->value_len);
		break;
	case 17:
		if (keel_http_ieq(f->name, 17, "transfer-encoding", 17)) {
			fr->te_seen = true;
			list_each(f->value, f->value_len, fr, note_coding);
		}
		break;
	default:
		break;
	}
	return 0;
}

/* Parses header lines and the empty line that ends the head. */
static int parse_headers(const char **pp, const char *end, struct keel_http_head *h,
			 struct frame *fr)
{
	const char *p = *pp, *name, *val, *vend;
	struct keel_http_header *f;
	int rv;

	for (;;) {
		if (p == end)
			return NEED_MORE;
		if (*p == '\r') {
			rv = take_crlf(&p, end);
			if (rv != 0)
				return rv;
			*pp = p;
			return 0;
		}
		/* SP/HTAB here is obs-fold (or space before the first field): rejected. */
		if (!keel_http_is_tok(*p))
			return -EBADMSG;
		if (h->num_headers == KEEL_HTTP_MAX_HEADERS)
			return -E2BIG;
		name = p;
		do
			p++;
		while (p < end && keel_http_is_tok(*p));
		if (p == end)
			return NEED_MORE;
		if (*p != ':')
			return -EBADMSG;
		f = &h->headers[h->num_headers];
		f->name = name;
		f->name_len = (size_t)(p - name);
		p++;
		while (p < end && keel_http_is_ows(*p))
			p++;
		val = p;
		while (p < end && keel_http_is_val(*p))
			p++;
		vend = p;
		rv = take_crlf(&p, end);
		if (rv != 0)
			return rv;
		while (vend > val && keel_http_is_ows(vend[-1]))
			vend--;
		f->value = val;
		f->value_len = (size_t)(vend - val);
		h->num_headers++;
		rv = note_header(h, fr, f);
		if (rv < 0)
			return rv;
	}
}

/* Applies the message-framing rules of RFC 9112 section 6 once every header is known. */
static int finish_head(struct keel_http_head *h, const struct frame *fr, bool request)
{
	if (fr->te_seen) {
		if (h->minor_version == 0 || fr->cl_seen)
			return -EBADMSG;
		if (fr->te_codings == 0 || fr->te_chunked > 1)
			return -EBADMSG;
		if (fr->te_chunked == 1 && !fr->te_last_chunked)
			return -EBADMSG;
		if (fr->te_other)
			return -ENOTSUP;
		h->chunked = true;
	}
	if (h->minor_version == 1)
		h->keep_alive = !fr->conn_close;
	else
		h->keep_alive = fr->conn_keep_alive && !fr->conn_close;
	h->expect_continue = request && h->minor_version == 1 && fr->expect_continue;
	return 0;
}

/* The largest head length an int return can carry, bounded by the caller's max_head. */
static size_t head_limit(size_t max_head)
{
	return KEEL_MIN(max_head, (size_t)INT_MAX);
}

static int parse_request_head(const char *buf, const char *end, struct keel_http_head *h,
			      size_t *head_len)
{
	struct frame fr = {.request = true};
	const char *p = buf, *s;
	int rv;

	/* RFC 9112 section 2.2: ignore empty lines before the request-line. */
	while (p < end && *p == '\r') {
		rv = take_crlf(&p, end);
		if (rv != 0)
			return rv;
	}
	s = p;
	while (p < end && keel_http_is_tok(*p))
		p++;
	if (p == end)
		return NEED_MORE;
	if (*p != ' ' || p == s)
		return -EBADMSG;
	h->method_str = s;
	h->method_len = (size_t)(p - s);
	h->method = method_lookup(s, h->method_len);
	s = ++p;
	while (p < end && keel_http_is_tgt(*p))
		p++;
	if (p == end)
		return NEED_MORE;
	if (*p != ' ' || p == s)
		return -EBADMSG;
	h->target = s;
	h->target_len = (size_t)(p - s);
	p++;
	rv = take_version(&p, end, &h->minor_version);
	if (rv != 0)
		return rv;
	rv = take_crlf(&p, end);
	if (rv != 0)
		return rv;
	rv = parse_target(h);
	if (rv != 0)
		return rv;
	rv = parse_headers(&p, end, h, &fr);
	if (rv != 0)
		return rv;
	rv = finish_head(h, &fr, true);
	if (rv != 0)
		return rv;
	*head_len = (size_t)(p - buf);
	return 0;
}

static int parse_response_head(const char *buf, const char *end, struct keel_http_head *h,
			       size_t *head_len)
{
	struct frame fr = {0};
	const char *p = buf;
	int rv, i;

	rv = take_version(&p, end, &h->minor_version);
	if (rv != 0)
		return rv;
	if (p == end)
		return NEED_MORE;
	if (*p++ != ' ')
		return -EBADMSG;
	for (i = 0; i < 3; i++, p++) {
		if (p == end)
			return NEED_MORE;
		if (*p < '0' || *p > '9')
			return -EBADMSG;
		h->status = h->status * 10 + (*p - '0');
	}
	if (h->status < 100 || h->status > 599)
		return -EBADMSG;
	if (p == end)
		return NEED_MORE;
	if (*p == ' ')
		p++;
	else if (*p != '\r')
		return -EBADMSG;
	h->reason = p;
	while (p < end && keel_http_is_val(*p))
		p++;
	h->reason_len = (size_t)(p - h->reason);
	rv = take_crlf(&p, end);
	if (rv != 0)
		return rv;
	rv = parse_headers(&p, end, h, &fr);
	if (rv != 0)
		return rv;
	rv = finish_head(h, &fr, false);
	if (rv != 0)
		return rv;
	*head_len = (size_t)(p - buf);
	return 0;
}

/* Maps an internal result (error, NEED_MORE, or 0 with the length) to the public contract. */
static int head_result(int rv, size_t head_len, size_t len, size_t max_head)
{
	if (rv == NEED_MORE)
		return len >= head_limit(max_head) ? -E2BIG : 0;
	if (rv < 0)
		return rv;
	return (int)head_len;
}

int keel_http_parse_request(const char *buf, size_t len, size_t max_head, struct keel_http_head *h)
{
	size_t lim = KEEL_MIN(len, head_limit(max_head)), n = 0;
	int rv;

	head_reset(h);
	/* NULL + 0 is undefined: an empty input needs no parsing. */
	rv = lim == 0 ? NEED_MORE : parse_request_head(buf, buf + lim, h, &n);
	return head_result(rv, n, len, max_head);
}

int keel_http_parse_response(const char *buf, size_t len, size_t max_head, struct keel_http_head *h)
{
	size_t lim = KEEL_MIN(len, head_limit(max_head)), n = 0;
	int rv;

	head_reset(h);
	/* NULL + 0 is undefined: an empty input needs no parsing. */
	rv = lim == 0 ? NEED_MORE : parse_response_head(buf, buf + lim, h, &n);
	return head_result(rv, n, len, max_head);
}

const char *keel_http_header_get(const struct keel_http_head *h, const char *name, size_t *len)
{
	size_t i, n = strlen(name), j;

	for (i = 0; i < h->num_headers; i++) {
		const struct keel_http_header *f = &h->headers[i];

		if (f->name_len != n)
			continue;
		for (j = 0; j < n; j++)
			if (keel_http_lower(f->name[j]) != keel_http_lower(name[j]))
				break;
		if (j == n) {
			if (len != NULL)
				*len = f->value_len;
			return f->value;
		}
	}
	return NULL;
}
