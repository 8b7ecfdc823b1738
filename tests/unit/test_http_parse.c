/* Unit tests for the HTTP/1.1 head parser, the chunked decoder and the chunk-size writer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runtime/http_parse.h"
#include "runtime/util.h"

#define MAXH 8192
#define S(lit) lit, sizeof(lit) - 1

static struct keel_http_head H;

static int req(const char *s, size_t n)
{
	return keel_http_parse_request(s, n, MAXH, &H);
}

static int resp(const char *s, size_t n)
{
	return keel_http_parse_response(s, n, MAXH, &H);
}

/* A span equals a C string. */
static bool span_is(const char *p, size_t n, const char *s)
{
	return p != NULL && n == strlen(s) && memcmp(p, s, n) == 0;
}

#define ASSERT_SPAN(p, n, s)                                                                       \
	do {                                                                                       \
		const char *th_p = (p);                                                            \
		size_t th_n = (n);                                                                 \
		if (!span_is(th_p, th_n, (s)))                                                     \
			th_fail(__FILE__, __LINE__, "%s: \"%.*s\" vs \"%s\"", #p, (int)th_n,       \
				th_p ? th_p : "", (s));                                            \
	} while (0)

/* Two heads describe the same message (compared by content, not by address). */
static bool spans_eq(const char *a, size_t an, const char *b, size_t bn)
{
	if (a == NULL || b == NULL)
		return a == b && an == bn;
	return an == bn && memcmp(a, b, an) == 0;
}

static bool heads_eq(const struct keel_http_head *a, const struct keel_http_head *b)
{
	size_t i;

	if (a->method != b->method || a->status != b->status ||
	    a->minor_version != b->minor_version || a->num_headers != b->num_headers ||
	    a->content_length != b->content_length || a->chunked != b->chunked ||
	    a->keep_alive != b->keep_alive || a->expect_continue != b->expect_continue)
		return false;
	if (!spans_eq(a->method_str, a->method_len, b->method_str, b->method_len) ||
	    !spans_eq(a->target, a->target_len, b->target, b->target_len) ||
	    !spans_eq(a->path, a->path_len, b->path, b->path_len) ||
	    !spans_eq(a->query, a->query_len, b->query, b->query_len) ||
	    !spans_eq(a->reason, a->reason_len, b->reason, b->reason_len))
		return false;
	for (i = 0; i < a->num_headers; i++)
		if (!spans_eq(a->headers[i].name, a->headers[i].name_len, b->headers[i].name,
			      b->headers[i].name_len) ||
		    !spans_eq(a->headers[i].value, a->headers[i].value_len, b->headers[i].value,
			      b->headers[i].value_len))
			return false;
	return true;
}

typedef int (*parse_fn)(const char *, size_t, size_t, struct keel_http_head *);

/*
 * Feeds every prefix of s[0, n) in an exactly-sized heap copy (so ASan sees any read past the
 * end) and checks: prefixes shorter than the head give 0, the whole input gives `want`, and a
 * successful parse of a longer prefix equals the full one.
 */
static void check_prefixes(parse_fn fn, const char *s, size_t n, int want)
{
	static struct keel_http_head full, part;
	size_t k;
	int rv;

	char *copy = malloc(n ? n : 1);
	memcpy(copy, s, n);
	rv = fn(copy, n, MAXH, &full);
	ASSERT_INT_EQ(rv, want);
	for (k = 0; k < n; k++) {
		char *p = malloc(k ? k : 1);

		memcpy(p, s, k);
		rv = fn(p, k, MAXH, &part);
		TH_CONTEXT("prefix %zu of %zu", k, n);
		if (want > 0 && k < (size_t)want)
			ASSERT_INT_EQ(rv, 0);
		else if (want > 0 || rv != 0)
			ASSERT_INT_EQ(rv, want);
		if (rv > 0)
			ASSERT_TRUE(heads_eq(&part, &full));
		free(p);
	}
	TH_CONTEXT(NULL);
	free(copy);
}

TEST(request_simple_get)
{
	static const char r[] =
	    "GET /a/b?x=1&y HTTP/1.1\r\nHost: example\r\nAccept:  */* \t\r\n\r\n";

	ASSERT_INT_EQ(req(S(r)), (int)sizeof(r) - 1);
	ASSERT_INT_EQ(H.method, KEEL_HTTP_GET);
	ASSERT_SPAN(H.method_str, H.method_len, "GET");
	ASSERT_SPAN(H.target, H.target_len, "/a/b?x=1&y");
	ASSERT_SPAN(H.path, H.path_len, "/a/b");
	ASSERT_SPAN(H.query, H.query_len, "x=1&y");
	ASSERT_INT_EQ(H.minor_version, 1);
	ASSERT_UINT_EQ(H.num_headers, 2);
	ASSERT_SPAN(H.headers[0].name, H.headers[0].name_len, "Host");
	ASSERT_SPAN(H.headers[0].value, H.headers[0].value_len, "example");
	ASSERT_SPAN(H.headers[1].value, H.headers[1].value_len, "*/*");
	ASSERT_INT_EQ(H.content_length, -1);
	ASSERT_FALSE(H.chunked);
	ASSERT_TRUE(H.keep_alive);
	ASSERT_FALSE(H.expect_continue);
	ASSERT_INT_EQ(H.status, 0);
}

TEST(request_methods)
{
	static const struct {
		const char *m;
		enum keel_http_method want;
	} rows[] = {
	    {"GET", KEEL_HTTP_GET},	   {"HEAD", KEEL_HTTP_HEAD},
	    {"POST", KEEL_HTTP_POST},	   {"PUT", KEEL_HTTP_PUT},
	    {"DELETE", KEEL_HTTP_DELETE},  {"OPTIONS", KEEL_HTTP_OPTIONS},
	    {"PATCH", KEEL_HTTP_PATCH},	   {"get", KEEL_HTTP_OTHER},
	    {"BREW", KEEL_HTTP_OTHER},	   {"GETS", KEEL_HTTP_OTHER},
	    {"M-SEARCH", KEEL_HTTP_OTHER},
	};
	char buf[128];
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		int n = snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\n\r\n", rows[i].m);

		TH_CONTEXT("%s", rows[i].m);
		ASSERT_INT_EQ(req(buf, (size_t)n), n);
		ASSERT_INT_EQ(H.method, rows[i].want);
		ASSERT_SPAN(H.method_str, H.method_len, rows[i].m);
	}
}

TEST(request_targets)
{
	ASSERT_INT_GT(req(S("GET /p? HTTP/1.1\r\n\r\n")), 0);
	ASSERT_SPAN(H.path, H.path_len, "/p");
	ASSERT_NOT_NULL(H.query);
	ASSERT_UINT_EQ(H.query_len, 0);
	ASSERT_INT_GT(req(S("GET /p HTTP/1.1\r\n\r\n")), 0);
	ASSERT_NULL(H.query);
	ASSERT_UINT_EQ(H.query_len, 0);
	ASSERT_INT_GT(req(S("GET /p?a=b?c HTTP/1.1\r\n\r\n")), 0);
	ASSERT_SPAN(H.query, H.query_len, "a=b?c");
	ASSERT_INT_GT(req(S("GET http://h:80/x/y?z HTTP/1.1\r\n\r\n")), 0);
	ASSERT_SPAN(H.target, H.target_len, "http://h:80/x/y?z");
	ASSERT_SPAN(H.path, H.path_len, "/x/y");
	ASSERT_SPAN(H.query, H.query_len, "z");
	ASSERT_INT_GT(req(S("GET HTTPS://host HTTP/1.1\r\n\r\n")), 0);
	ASSERT_SPAN(H.path, H.path_len, "/");
	ASSERT_NULL(H.query);
	ASSERT_INT_GT(req(S("GET http://host?q=1 HTTP/1.1\r\n\r\n")), 0);
	ASSERT_SPAN(H.path, H.path_len, "/");
	ASSERT_SPAN(H.query, H.query_len, "q=1");
	ASSERT_INT_GT(req(S("OPTIONS * HTTP/1.1\r\n\r\n")), 0);
	ASSERT_SPAN(H.path, H.path_len, "*");

	ASSERT_INT_EQ(req(S("GET * HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET http:///x HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET http://u@h/ HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET ftp://h/ HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("CONNECT h:443 HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET a/b HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET /a#f HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET /\x01 HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET /\xc3\xa9 HTTP/1.1\r\n\r\n")), -EBADMSG);
}

TEST(request_line_malformed)
{
	ASSERT_INT_EQ(req(S("GET  / HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1 \r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET\t/ HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S(" / HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("G(T / HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET /\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / http/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.10\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/x.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.x\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\n\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("\nGET / HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("\r\rGET / HTTP/1.1\r\n\r\n")), -EBADMSG);
}

TEST(request_versions)
{
	ASSERT_INT_EQ(req(S("GET / HTTP/2.0\r\n\r\n")), -EPROTONOSUPPORT);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.2\r\n\r\n")), -EPROTONOSUPPORT);
	ASSERT_INT_EQ(req(S("GET / HTTP/0.9\r\n\r\n")), -EPROTONOSUPPORT);
	ASSERT_INT_EQ(req(S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), -EPROTONOSUPPORT);
	ASSERT_INT_GT(req(S("GET / HTTP/1.0\r\n\r\n")), 0);
	ASSERT_INT_EQ(H.minor_version, 0);
	ASSERT_FALSE(H.keep_alive);
}

TEST(request_keep_alive_rules)
{
	ASSERT_INT_GT(req(S("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")), 0);
	ASSERT_TRUE(H.keep_alive);
	ASSERT_INT_GT(req(S("GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n")), 0);
	ASSERT_FALSE(H.keep_alive);
	ASSERT_INT_GT(req(S("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")), 0);
	ASSERT_FALSE(H.keep_alive);
	ASSERT_INT_GT(req(S("GET / HTTP/1.1\r\nConnection: Upgrade ,, CLOSE\r\n\r\n")), 0);
	ASSERT_FALSE(H.keep_alive);
	ASSERT_INT_GT(req(S("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n")), 0);
	ASSERT_TRUE(H.keep_alive);
	ASSERT_INT_GT(req(S("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n")), 0);
	ASSERT_TRUE(H.keep_alive);
}

TEST(request_expect_continue)
{
	ASSERT_INT_GT(
	    req(S("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n")), 0);
	ASSERT_TRUE(H.expect_continue);
	ASSERT_INT_GT(req(S("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")), 0);
	ASSERT_FALSE(H.expect_continue);
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n")), 0);
	ASSERT_FALSE(H.expect_continue);
}

TEST(request_leading_empty_lines_are_skipped)
{
	static const char r[] = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";

	ASSERT_INT_EQ(req(S(r)), (int)sizeof(r) - 1);
	ASSERT_SPAN(H.method_str, H.method_len, "GET");
	check_prefixes(keel_http_parse_request, S(r), (int)sizeof(r) - 1);
}

TEST(headers_values_and_lookup)
{
	static const char r[] = "GET / HTTP/1.1\r\nX-Empty:\r\nX-Sp:   \r\nX-Obs: caf\xc3\xa9\r\n"
				"x-dup: 1\r\nX-DUP: 2\r\nX-In: a  b\tc \r\n\r\n";
	size_t n = 99;
	const char *v;

	ASSERT_INT_EQ(req(S(r)), (int)sizeof(r) - 1);
	ASSERT_UINT_EQ(H.num_headers, 6);
	ASSERT_UINT_EQ(H.headers[0].value_len, 0);
	ASSERT_UINT_EQ(H.headers[1].value_len, 0);
	ASSERT_SPAN(H.headers[2].value, H.headers[2].value_len, "caf\xc3\xa9");
	ASSERT_SPAN(H.headers[5].value, H.headers[5].value_len, "a  b\tc");
	v = keel_http_header_get(&H, "X-Dup", &n);
	ASSERT_SPAN(v, n, "1");
	v = keel_http_header_get(&H, "x-in", NULL);
	ASSERT_NOT_NULL(v);
	ASSERT_NULL(keel_http_header_get(&H, "X-Missing", &n));
	ASSERT_NULL(keel_http_header_get(&H, "X-Du", &n));
}

TEST(headers_malformed)
{
	/* Whitespace before the colon: a classic smuggling vector. */
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n")), -EBADMSG);
	/* obs-fold, and whitespace before the first header. */
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\n Host: x\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\n: x\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nNoColon\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nBad[Name]: x\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nX: a\x00"
			    "b\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nX: a\r\n\n")), -EBADMSG);
	/* One Host at most in a request; none is the server's call. */
	ASSERT_INT_EQ(req(S("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n")), -EBADMSG);
	ASSERT_INT_GT(req(S("GET / HTTP/1.1\r\nHosts: a\r\nHost: a\r\n\r\n")), 0);
	ASSERT_INT_GT(req(S("GET / HTTP/1.1\r\n\r\n")), 0);
	ASSERT_INT_GT(resp(S("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n")), 0);
}

TEST(headers_limits)
{
	char buf[4096];
	size_t n = 0;
	int i;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "GET / HTTP/1.1\r\n");
	for (i = 0; i < KEEL_HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "H%d: %d\r\n", i, i);
	memcpy(buf + n, "\r\n", 2);
	ASSERT_INT_EQ(req(buf, n + 2), (int)n + 2);
	ASSERT_UINT_EQ(H.num_headers, KEEL_HTTP_MAX_HEADERS);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "One: more\r\n\r\n");
	ASSERT_INT_EQ(req(buf, n), -E2BIG);
}

TEST(head_length_limit)
{
	static const char r[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t n = sizeof(r) - 1;

	ASSERT_INT_EQ(keel_http_parse_request(r, n, n, &H), (int)n);
	ASSERT_INT_EQ(keel_http_parse_request(r, n, n - 1, &H), -E2BIG);
	/* Incomplete: 0 while below the limit, -E2BIG once the limit is reached. */
	ASSERT_INT_EQ(keel_http_parse_request(r, 10, 11, &H), 0);
	ASSERT_INT_EQ(keel_http_parse_request(r, 10, 10, &H), -E2BIG);
	ASSERT_INT_EQ(keel_http_parse_request(r, 0, 0, &H), -E2BIG);
	ASSERT_INT_EQ(keel_http_parse_request(r, 0, 100, &H), 0);
	ASSERT_INT_EQ(keel_http_parse_request(NULL, 0, 100, &H), 0);

	/* A huge header value. */
	size_t big = 100000;
	char *b = malloc(big);
	memset(b, 'a', big);
	memcpy(b, "GET / HTTP/1.1\r\nX: ", 19);
	ASSERT_INT_EQ(keel_http_parse_request(b, big, MAXH, &H), -E2BIG);
	ASSERT_INT_EQ(keel_http_parse_request(b, MAXH - 1, MAXH, &H), 0);
	free(b);
}

TEST(content_length_rules)
{
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\nContent-Length: 42\r\n\r\n")), 0);
	ASSERT_INT_EQ(H.content_length, 42);
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")), 0);
	ASSERT_INT_EQ(H.content_length, 0);
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\ncontent-length: 9223372036854775807\r\n\r\n")), 0);
	ASSERT_INT_EQ(H.content_length, INT64_MAX);
	/* The same value repeated is allowed (RFC 9110 section 8.6). */
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")),
		      0);
	ASSERT_INT_EQ(H.content_length, 5);
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\nContent-Length: 5 , 5\r\n\r\n")), 0);
	ASSERT_INT_EQ(H.content_length, 5);

	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 4 2\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n")), -EBADMSG);
}

TEST(transfer_encoding_rules)
{
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")), 0);
	ASSERT_TRUE(H.chunked);
	ASSERT_INT_EQ(H.content_length, -1);
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\ntransfer-encoding:  Chunked \r\n\r\n")), 0);
	ASSERT_TRUE(H.chunked);

	/* Unsupported codings: 501. */
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")), -ENOTSUP);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")),
		      -ENOTSUP);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n")),
		      -ENOTSUP);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n")), -ENOTSUP);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked;x=1\r\n\r\n")),
		      -ENOTSUP);

	/* Framing that a front end could read differently: 400. */
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			    "Transfer-Encoding: gzip\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			    "Content-Length: 5\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(req(S("POST / HTTP/1.1\r\nTransfer-Encoding: , \r\n\r\n")), -EBADMSG);
	/* Look-alikes are not Transfer-Encoding. */
	ASSERT_INT_GT(req(S("POST / HTTP/1.1\r\nTransfer-Encodings: gzip\r\n\r\n")), 0);
	ASSERT_FALSE(H.chunked);
}

TEST(request_split_at_every_byte)
{
	static const char *const rows[] = {
	    "GET /a?b HTTP/1.1\r\nHost: h\r\nX:  v \r\n\r\n",
	    "POST /x HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
	    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	    "GET http://h/p HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	    "OPTIONS * HTTP/1.1\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		const char *r = rows[i];
		const char *end = strstr(r, "\r\n\r\n") + 4;

		check_prefixes(keel_http_parse_request, r, strlen(r), (int)(end - r));
	}
	/* Errors come back the same at every prefix that reaches them. */
	check_prefixes(keel_http_parse_request, S("GET / HTTP/1.1\r\nA b: c\r\n\r\n"), -EBADMSG);
	check_prefixes(keel_http_parse_request, S("GET / HTTP/3.0\r\n\r\n"), -EPROTONOSUPPORT);
	check_prefixes(keel_http_parse_request,
		       S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), -ENOTSUP);
}

TEST(requests_pipelined)
{
	static const char r[] = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
				"GET /b HTTP/1.1\r\n\r\n"
				"DELETE /c HTTP/1.1\r\nConnection: close\r\n\r\n";
	size_t off = 0;
	int rv;

	rv = req(r + off, sizeof(r) - 1 - off);
	ASSERT_INT_GT(rv, 0);
	ASSERT_SPAN(H.path, H.path_len, "/a");
	ASSERT_INT_EQ(H.content_length, 3);
	off += (size_t)rv + 3;
	rv = req(r + off, sizeof(r) - 1 - off);
	ASSERT_INT_GT(rv, 0);
	ASSERT_SPAN(H.path, H.path_len, "/b");
	ASSERT_INT_EQ(H.content_length, -1);
	off += (size_t)rv;
	rv = req(r + off, sizeof(r) - 1 - off);
	ASSERT_INT_EQ(rv, (int)(sizeof(r) - 1 - off));
	ASSERT_INT_EQ(H.method, KEEL_HTTP_DELETE);
	ASSERT_FALSE(H.keep_alive);
}

/* xorshift64* for the property test. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

TEST(request_prefix_property_randomized)
{
	static const char *const seeds[] = {
	    "GET /a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n",
	    "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
	};
	static const char alphabet[] = "\r\n :,\t/?HTTP1.0chunkedGET\x80\x00";
	uint64_t s = th_seed() | 1;
	static struct keel_http_head full, part;
	char buf[256];
	int iter;

	printf("  seed %llu (replay with --seed)\n", (unsigned long long)th_seed());
	for (iter = 0; iter < 3000; iter++) {
		const char *src = seeds[rnd(&s) % KEEL_ARRAY_SIZE(seeds)];
		size_t n = strlen(src), k, m;
		parse_fn fn = src[0] == 'H' ? keel_http_parse_response : keel_http_parse_request;
		int rf, rp;

		memcpy(buf, src, n);
		for (m = rnd(&s) % 4; m > 0; m--)
			buf[rnd(&s) % n] = alphabet[rnd(&s) % (sizeof(alphabet) - 1)];
		rf = fn(buf, n, MAXH, &full);
		for (k = 0; k < n; k++) {
			rp = fn(buf, k, MAXH, &part);
			TH_CONTEXT("iter %d prefix %zu: %.*s", iter, k, (int)n, buf);
			if (rp != 0)
				ASSERT_INT_EQ(rp, rf);
			if (rp > 0)
				ASSERT_TRUE(heads_eq(&part, &full));
		}
	}
}

TEST(response_parse)
{
	static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

	ASSERT_INT_EQ(resp(S(r)), (int)sizeof(r) - 3);
	ASSERT_INT_EQ(H.status, 200);
	ASSERT_SPAN(H.reason, H.reason_len, "OK");
	ASSERT_INT_EQ(H.content_length, 2);
	ASSERT_TRUE(H.keep_alive);
	ASSERT_NULL(H.method_str);
	check_prefixes(keel_http_parse_response, S(r), (int)sizeof(r) - 3);

	ASSERT_INT_GT(resp(S("HTTP/1.1 404 Not  Found \r\n\r\n")), 0);
	ASSERT_SPAN(H.reason, H.reason_len, "Not  Found ");
	ASSERT_INT_GT(resp(S("HTTP/1.1 204 \r\n\r\n")), 0);
	ASSERT_UINT_EQ(H.reason_len, 0);
	ASSERT_INT_GT(resp(S("HTTP/1.1 204\r\n\r\n")), 0);
	ASSERT_INT_EQ(H.status, 204);
	ASSERT_UINT_EQ(H.reason_len, 0);
	ASSERT_INT_GT(resp(S("HTTP/1.0 200 OK\r\n\r\n")), 0);
	ASSERT_FALSE(H.keep_alive);
	ASSERT_INT_GT(resp(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			     "Expect: 100-continue\r\n\r\n")),
		      0);
	ASSERT_TRUE(H.chunked);
	ASSERT_FALSE(H.expect_continue);
	ASSERT_INT_GT(resp(S("HTTP/1.1 100 Continue\r\n\r\n")), 0);
	ASSERT_INT_GT(resp(S("HTTP/1.1 599 x\r\n\r\n")), 0);
}

TEST(response_malformed)
{
	ASSERT_INT_EQ(resp(S("HTTP/1.1 099 Low\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1 600 High\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1 2000 OK\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1 20\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1  200 OK\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1 2x0 OK\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1 200 O\x01K\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/2 200\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/2.0 200 OK\r\n\r\n")), -EPROTONOSUPPORT);
	ASSERT_INT_EQ(resp(S("ICY 200 OK\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n")),
		      -EBADMSG);
	ASSERT_INT_EQ(resp(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\n")), -ENOTSUP);
	ASSERT_INT_EQ(resp(S("HTTP/1.1 200 OK\r\nX : y\r\n\r\n")), -EBADMSG);
	ASSERT_INT_EQ(keel_http_parse_response("HTTP/1.1 200 OK\r\n", 17, 17, &H), -E2BIG);
}

/* Decodes all of s[0, n) with the input split at the given cut points; collects the data. */
struct dec_result {
	int rv;		 /* last return: 1, 0 (incomplete) or an error */
	size_t end;	 /* offset just past the body when rv == 1 */
	char data[4096]; /* concatenated body bytes */
	size_t len;	 /* how many */
};

static void decode_pieces(const char *s, size_t n, const size_t *cuts, size_t ncuts,
			  size_t max_line, struct dec_result *r)
{
	struct keel_http_chunked c;
	size_t piece, pos = 0;

	keel_http_chunked_init(&c, max_line);
	r->rv = 0;
	r->len = 0;
	r->end = 0;
	for (piece = 0; piece <= ncuts && r->rv == 0; piece++) {
		size_t stop = piece < ncuts ? cuts[piece] : n;
		size_t plen = stop - pos;
		char *p = malloc(plen ? plen : 1); /* exact size: ASan catches over-reads */
		size_t off = 0;

		memcpy(p, s + pos, plen);
		while (r->rv == 0) {
			size_t consumed = 0, dlen = 0;
			const char *d = NULL;

			r->rv =
			    keel_http_chunked_decode(&c, p + off, plen - off, &consumed, &d, &dlen);
			ASSERT_UINT_LE(consumed, plen - off);
			if (dlen > 0) {
				ASSERT_TRUE(d >= p + off && d + dlen <= p + off + consumed);
				ASSERT_UINT_LE(r->len + dlen, sizeof(r->data));
				memcpy(r->data + r->len, d, dlen);
				r->len += dlen;
			}
			off += consumed;
			if (r->rv == 1)
				r->end = pos + off;
			if (r->rv == 0 && dlen == 0) {
				ASSERT_UINT_EQ(off, plen);
				break;
			}
		}
		free(p);
		pos = stop;
	}
}

static struct dec_result R1, R2;

TEST(chunked_basic_with_extensions_and_trailers)
{
	static const char b[] = "5;name=val;flag\r\nhello\r\n"
				"A \t; q=\"x y\"\r\n, world!!!\r\n"
				"000\r\nTrailer-One: 1\r\nT2:\r\n\r\nNEXT";
	struct keel_http_chunked c;

	decode_pieces(b, sizeof(b) - 1, NULL, 0, 64, &R1);
	ASSERT_INT_EQ(R1.rv, 1);
	ASSERT_UINT_EQ(R1.len, 15);
	ASSERT_MEM_EQ(R1.data, "hello, world!!", 14);
	ASSERT_UINT_EQ(R1.end, sizeof(b) - 1 - 4);

	/* Done is sticky: 1, nothing consumed. */
	size_t consumed = 7, dlen = 7;
	const char *d = b;
	keel_http_chunked_init(&c, 64);
	ASSERT_FALSE(keel_http_chunked_done(&c));
	ASSERT_INT_EQ(keel_http_chunked_decode(&c, S("0\r\n\r\n"), &consumed, &d, &dlen), 1);
	ASSERT_UINT_EQ(consumed, 5);
	ASSERT_TRUE(keel_http_chunked_done(&c));
	ASSERT_INT_EQ(keel_http_chunked_decode(&c, S("0\r\n\r\n"), &consumed, &d, &dlen), 1);
	ASSERT_UINT_EQ(consumed, 0);
	ASSERT_UINT_EQ(dlen, 0);
	ASSERT_NULL(d);
	ASSERT_UINT_EQ(c.body_len, 0);
}

TEST(chunked_split_at_every_boundary)
{
	static const char b[] = "3;x=y\r\nabc\r\n1\r\nd\r\n10\r\n0123456789abcdef\r\n"
				"0;last\r\nX-Sum: 42\r\n\r\n";
	size_t n = sizeof(b) - 1, i, j, cuts[2];

	decode_pieces(b, n, NULL, 0, 64, &R1);
	ASSERT_INT_EQ(R1.rv, 1);
	ASSERT_UINT_EQ(R1.end, n);
	ASSERT_UINT_EQ(R1.len, 20);
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j++) {
			cuts[0] = i;
			cuts[1] = j;
			TH_CONTEXT("cuts %zu %zu", i, j);
			decode_pieces(b, n, cuts, 2, 64, &R2);
			ASSERT_INT_EQ(R2.rv, 1);
			ASSERT_UINT_EQ(R2.end, n);
			ASSERT_UINT_EQ(R2.len, R1.len);
			ASSERT_MEM_EQ(R2.data, R1.data, R1.len);
		}
	}
	/* Byte by byte. */
	size_t every[sizeof(b)];
	for (i = 0; i < n; i++)
		every[i] = i + 1;
	decode_pieces(b, n, every, n - 1, 64, &R2);
	ASSERT_INT_EQ(R2.rv, 1);
	ASSERT_UINT_EQ(R2.len, R1.len);
}

static int chunked_result(const char *s, size_t n, size_t max_line)
{
	decode_pieces(s, n, NULL, 0, max_line, &R1);
	return R1.rv;
}

TEST(chunked_errors)
{
	ASSERT_INT_EQ(chunked_result(S("\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("x\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S(";x\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("-1\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5\r\nhelloX\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5\r\nhello\rX"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5\nhello\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5\r\nhello\n0\r\n\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5 \r\nhello\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5 x\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5g\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5;a\x00"
				       "b\r\n"),
				     64),
		      -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("5;a\nb\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("0\r\n\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("0\r\n\rX"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("0\r\nNoColon\r\n\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("0\r\nX: a\r\n folded\r\n\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("0\r\nX : a\r\n\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("0\r\nX: a\x01\r\n\r\n"), 64), -EBADMSG);
	ASSERT_INT_EQ(chunked_result(S("0\r\nX: a\rb\r\n\r\n"), 64), -EBADMSG);
	/* Sizes: 63 bits fit, 64 overflow. */
	ASSERT_INT_EQ(chunked_result(S("7fffffffffffffff\r\n"), 64), 0);
	ASSERT_INT_EQ(chunked_result(S("8000000000000000\r\n"), 64), -EOVERFLOW);
	ASSERT_INT_EQ(chunked_result(S("fffffffffffffffff\r\n"), 64), -EOVERFLOW);
	/* Line limits: a size line (with extensions) and the trailer section. */
	ASSERT_INT_EQ(chunked_result(S("5;abcd\r\nhello\r\n0\r\n\r\n"), 6), 1);
	ASSERT_INT_EQ(chunked_result(S("5;abcde\r\nhello\r\n"), 6), -E2BIG);
	ASSERT_INT_EQ(chunked_result(S("0000005\r\n"), 6), -E2BIG);
	ASSERT_INT_EQ(chunked_result(S("0\r\nA: b\r\n\r\n"), 6), 1);
	ASSERT_INT_EQ(chunked_result(S("0\r\nA: bc\r\n\r\n"), 6), -E2BIG);
	ASSERT_INT_EQ(chunked_result(S("0\r\nA:\r\nB:\r\n\r\n"), 6), -E2BIG);
}

TEST(chunked_error_is_sticky)
{
	struct keel_http_chunked c;
	size_t consumed, dlen;
	const char *d;

	keel_http_chunked_init(&c, 64);
	ASSERT_INT_EQ(keel_http_chunked_decode(&c, S("zz"), &consumed, &d, &dlen), -EBADMSG);
	ASSERT_UINT_EQ(consumed, 1);
	ASSERT_INT_EQ(keel_http_chunked_decode(&c, S("0\r\n\r\n"), &consumed, &d, &dlen), -EBADMSG);
	ASSERT_UINT_EQ(consumed, 0);
	/* Empty input needs more. */
	keel_http_chunked_init(&c, 64);
	ASSERT_INT_EQ(keel_http_chunked_decode(&c, "", 0, &consumed, &d, &dlen), 0);
	ASSERT_UINT_EQ(consumed, 0);
	ASSERT_UINT_EQ(dlen, 0);
}

TEST(chunk_header_writer)
{
	char buf[KEEL_HTTP_CHUNK_HEADER_MAX];
	static const struct {
		size_t len;
		const char *want;
	} rows[] = {
	    {0, "0\r\n"},
	    {1, "1\r\n"},
	    {15, "f\r\n"},
	    {16, "10\r\n"},
	    {255, "ff\r\n"},
	    {4096, "1000\r\n"},
	    {SIZE_MAX, "ffffffffffffffff\r\n"},
	};
	size_t i, n;

	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		n = keel_http_chunk_header(buf, rows[i].len);
		TH_CONTEXT("%zu", rows[i].len);
		ASSERT_SPAN(buf, n, rows[i].want);
	}
	/* What the writer produces, the decoder reads back. */
	char body[64];
	n = keel_http_chunk_header(body, 11);
	memcpy(body + n, "hello world\r\n0\r\n\r\n", 18);
	ASSERT_INT_EQ(chunked_result(body, n + 18, 64), 1);
	ASSERT_UINT_EQ(R1.len, 11);
	ASSERT_MEM_EQ(R1.data, "hello world", 11);
}
