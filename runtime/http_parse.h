/* HTTP/1.1 message heads (RFC 9112) and chunked bodies: zero-copy parsers of the caller's bytes. */
#ifndef KEEL_RUNTIME_HTTP_PARSE_H
#define KEEL_RUNTIME_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * These parsers never allocate and never copy: every pointer they hand out
 * points into the caller's buffer and lives as long as those bytes do. They
 * keep no state between calls except what a struct keel_http_chunked holds.
 *
 * Strictness (what a request smuggler would try, and what comes back):
 *  - lines end in CR LF; a bare LF or a bare CR is -EBADMSG;
 *  - method and header names are RFC 9110 tokens; whitespace between a
 *    header name and its colon is -EBADMSG; a line that starts with SP or
 *    HTAB (obs-fold, or whitespace before the first header) is -EBADMSG;
 *  - header values may hold VCHAR, SP, HTAB and obs-text (0x80-0xFF); any
 *    other control byte (NUL, DEL, ...) is -EBADMSG; OWS around a value is
 *    trimmed;
 *  - Content-Length must be 1*DIGIT and fit in int64_t; repeated
 *    Content-Length lines (or a comma list) are accepted only when every
 *    value is the same (RFC 9110 section 8.6), else -EBADMSG;
 *  - Transfer-Encoding: the only coding understood is chunked. chunked given
 *    twice, chunked not the last coding, Transfer-Encoding together with
 *    Content-Length, or Transfer-Encoding in an HTTP/1.0 message is -EBADMSG
 *    (RFC 9112 section 6.1 and 6.3); any other coding ("gzip", "gzip,
 *    chunked") is -ENOTSUP, which a server answers with 501;
 *  - a request with more than one Host line is -EBADMSG (RFC 9112 section
 *    3.2). A missing Host is NOT rejected here: the server decides (RFC 9112
 *    wants 400 for an HTTP/1.1 request without one).
 *
 * Empty lines (CR LF) before a request-line are skipped (RFC 9112 section
 * 2.2) and counted in the returned head length.
 */

#define KEEL_HTTP_MAX_HEADERS 64

/* Buffer size keel_http_chunk_header needs: 16 hex digits, CR LF, and room to spare. */
#define KEEL_HTTP_CHUNK_HEADER_MAX 20

enum keel_http_method {
	KEEL_HTTP_OTHER = 0, /* a valid token that is none of the below; see method_str */
	KEEL_HTTP_GET,
	KEEL_HTTP_HEAD,
	KEEL_HTTP_POST,
	KEEL_HTTP_PUT,
	KEEL_HTTP_DELETE,
	KEEL_HTTP_OPTIONS,
	KEEL_HTTP_PATCH,
};

/* One header line; name and value point into the parsed buffer and are not NUL-terminated. */
struct keel_http_header {
	const char *name;  /* field name as sent (case preserved) */
	size_t name_len;   /* its length, > 0 */
	const char *value; /* field value without surrounding OWS */
	size_t value_len;  /* its length, may be 0 */
};

/* A parsed request or response head; every pointer points into the parsed buffer. */
struct keel_http_head {
	enum keel_http_method method; /* requests: the method, KEEL_HTTP_OTHER if not listed */
	const char *method_str;	      /* requests: the method as sent */
	size_t method_len;	      /* its length */
	const char *target;	      /* requests: the request-target as sent */
	size_t target_len;	      /* its length */
	const char *path;   /* requests: origin-form path without the query; for absolute-form
			       the path after the authority ("/" from static storage when absent);
			       "*" for OPTIONS * */
	size_t path_len;    /* its length, > 0 */
	const char *query;  /* requests: the bytes after the first '?', or NULL when there is no
			       '?' (a '?' with nothing after it gives a non-NULL empty query) */
	size_t query_len;   /* its length */
	int status;	    /* responses: the status code, 100..599 */
	const char *reason; /* responses: the reason phrase, may be empty */
	size_t reason_len;  /* its length */
	int minor_version;  /* HTTP/1.0 -> 0, HTTP/1.1 -> 1 */
	struct keel_http_header headers[KEEL_HTTP_MAX_HEADERS]; /* in the order sent */
	size_t num_headers;					/* headers[] entries used */
	int64_t content_length; /* Content-Length, or -1 when absent */
	bool chunked;		/* Transfer-Encoding: chunked (always the last coding) */
	bool keep_alive;	/* HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
				   "Connection: keep-alive" (close wins when both are listed) */
	bool expect_continue;	/* HTTP/1.1 request with "Expect: 100-continue" */
};

/*
 * Parses a complete request head from buf[0, len). Only the first
 * min(len, max_head) bytes are looked at.
 *
 * Returns the head's length in bytes (> 0, <= max_head, the final CR LF
 * included; the body starts there) on success; 0 when the head is not
 * complete yet and len < max_head (call again with more bytes: the parse
 * starts over, so hand in the same buffer start); negative on error:
 *   -EBADMSG          malformed (400), including the smuggling cases above
 *   -E2BIG            the head is longer than max_head, or has more than
 *                     KEEL_HTTP_MAX_HEADERS headers (431)
 *   -EPROTONOSUPPORT  a well-formed version other than HTTP/1.0 or 1.1 (505)
 *   -ENOTSUP          a transfer coding other than chunked (501)
 * Errors are found in byte order, so a prefix of the input either returns 0
 * or the same result as the whole input. On error *h holds partial results.
 *
 * Request-targets: origin-form ("/p?q"), absolute-form ("http://h/p?q" or
 * https, scheme case-insensitive; path and query are taken from it) and
 * asterisk-form ("*", OPTIONS only). Any other target (authority-form, a
 * relative path) is -EBADMSG. Target bytes must be visible ASCII.
 */
int keel_http_parse_request(const char *buf, size_t len, size_t max_head, struct keel_http_head *h);

/*
 * Parses a complete response head (status-line and headers), with the same
 * returns and rules as keel_http_parse_request. The status must be three
 * digits in 100..599 (else -EBADMSG); the SP before an empty reason phrase
 * may be missing. Whether a body follows (HEAD, 1xx, 204, 304) is for the
 * caller to decide.
 */
int keel_http_parse_response(const char *buf, size_t len, size_t max_head,
			     struct keel_http_head *h);

/*
 * Case-insensitive lookup of the first header called `name` (NUL-terminated).
 * Returns its value (not NUL-terminated, *len set when len is not NULL), or
 * NULL when absent.
 */
const char *keel_http_header_get(const struct keel_http_head *h, const char *name, size_t *len);

/* Incremental chunked body decoder state; set up with keel_http_chunked_init. */
struct keel_http_chunked {
	int phase;	   /* where in the chunk grammar the next byte falls (private) */
	int err;	   /* sticky error once one was returned, else 0 */
	uint64_t left;	   /* chunk-size being read, then data bytes left in the chunk */
	size_t line_len;   /* bytes of the current size line, or of the trailer section */
	size_t max_line;   /* limit for one size line and for the whole trailer section */
	bool saw_digit;	   /* the size line has at least one hex digit */
	uint64_t body_len; /* total data bytes decoded so far */
};

/*
 * Prepares c to decode one chunked body. max_line bounds each chunk-size line
 * (extensions included, CR LF not) and the whole trailer section.
 */
void keel_http_chunked_init(struct keel_http_chunked *c, size_t max_line);

/*
 * Consumes bytes from in[0, len) and sets *consumed to how many it used.
 * Returns
 *   0 with *data_len > 0: body bytes *data[0, *data_len) (pointing into in,
 *     part of what was consumed); call again with in + *consumed;
 *   0 with *data_len == 0: everything was consumed (*consumed == len) and more
 *     input is needed;
 *   1: the last chunk and the trailers are complete; the next message starts
 *     at in + *consumed;
 *   -EBADMSG  bad syntax (a chunk not followed by CR LF, a bare LF, a bad
 *             extension or trailer line, ...);
 *   -E2BIG    a size line or the trailer section is longer than max_line;
 *   -EOVERFLOW a chunk size that does not fit in 63 bits.
 * Chunk extensions are skipped; trailer fields are checked for syntax and
 * ignored. After 1 every call returns 1 consuming nothing; after an error
 * every call returns the same error.
 */
int keel_http_chunked_decode(struct keel_http_chunked *c, const char *in, size_t len,
			     size_t *consumed, const char **data, size_t *data_len);

/* True once keel_http_chunked_decode has returned 1. */
bool keel_http_chunked_done(const struct keel_http_chunked *c);

/*
 * Writes the chunk-size line for a chunk of len bytes (lower-case hex, no
 * leading zeros, then CR LF) into buf and returns its length (3..18). len 0
 * gives "0\r\n", the start of the last chunk; the caller adds the final CR LF.
 */
size_t keel_http_chunk_header(char buf[KEEL_HTTP_CHUNK_HEADER_MAX], size_t len);

#endif
