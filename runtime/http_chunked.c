/* Chunked transfer coding (RFC 9112 section 7.1): zero-copy decoder and the chunk-size writer. */
#include "http_parse.h"

#include <errno.h>

#include "http_chars.h"
#include "util.h"

/* Where in the chunked-body grammar the next byte falls. */
enum {
	P_SIZE,	     /* chunk-size hex digits */
	P_BWS,	     /* whitespace after the size: only ';' may follow */
	P_EXT,	     /* inside chunk extensions, skipped up to CR */
	P_SIZE_LF,   /* the LF ending a size line */
	P_DATA,	     /* chunk data, c->left bytes to go */
	P_DATA_CR,   /* the CR after chunk data */
	P_DATA_LF,   /* the LF after chunk data */
	P_TR_START,  /* the start of a trailer line or of the final empty line */
	P_TR_NAME,   /* a trailer field name */
	P_TR_VALUE,  /* a trailer field value, up to CR */
	P_TR_LF,     /* the LF ending a trailer field line */
	P_TR_END_LF, /* the LF of the empty line that ends the body */
	P_DONE,	     /* the whole body has been decoded */
};

void keel_http_chunked_init(struct keel_http_chunked *c, size_t max_line)
{
	c->phase = P_SIZE;
	c->err = 0;
	c->left = 0;
	c->line_len = 0;
	c->max_line = max_line;
	c->saw_digit = false;
	c->body_len = 0;
}

bool keel_http_chunked_done(const struct keel_http_chunked *c)
{
	return c->phase == P_DONE;
}

/* Counts one more byte of a size line or of the trailer section against max_line. */
static int count_line_byte(struct keel_http_chunked *c)
{
	if (++c->line_len > c->max_line)
		return -E2BIG;
	return 0;
}

/* Handles one byte of every phase but P_DATA; returns 1 when the body is complete. */
static int step(struct keel_http_chunked *c, char ch)
{
	int d, rv;

	switch (c->phase) {
	case P_SIZE:
		if (ch == '\r') {
			if (!c->saw_digit)
				return -EBADMSG;
			c->phase = P_SIZE_LF;
			return 0;
		}
		rv = count_line_byte(c);
		if (rv < 0)
			return rv;
		d = keel_hex_value(ch);
		if (d >= 0) {
			if (c->left > ((uint64_t)INT64_MAX - (uint64_t)d) / 16)
				return -EOVERFLOW;
			c->left = c->left * 16 + (uint64_t)d;
			c->saw_digit = true;
			return 0;
		}
		if (!c->saw_digit)
			return -EBADMSG;
		if (ch == ';')
			c->phase = P_EXT;
		else if (keel_http_is_ows(ch))
			c->phase = P_BWS;
		else
			return -EBADMSG;
		return 0;
	case P_BWS:
		rv = count_line_byte(c);
		if (rv < 0)
			return rv;
		if (ch == ';')
			c->phase = P_EXT;
		else if (!keel_http_is_ows(ch))
			return -EBADMSG;
		return 0;
	case P_EXT:
		if (ch == '\r') {
			c->phase = P_SIZE_LF;
			return 0;
		}
		rv = count_line_byte(c);
		if (rv < 0)
			return rv;
		if (!keel_http_is_val(ch))
			return -EBADMSG;
		return 0;
	case P_SIZE_LF:
		if (ch != '\n')
			return -EBADMSG;
		c->line_len = 0;
		c->saw_digit = false;
		c->phase = c->left == 0 ? P_TR_START : P_DATA;
		return 0;
	case P_DATA_CR:
		if (ch != '\r')
			return -EBADMSG;
		c->phase = P_DATA_LF;
		return 0;
	case P_DATA_LF:
		if (ch != '\n')
			return -EBADMSG;
		c->phase = P_SIZE;
		return 0;
	case P_TR_START:
		if (ch == '\r') {
			c->phase = P_TR_END_LF;
			return 0;
		}
		if (!keel_http_is_tok(ch))
			return -EBADMSG; /* also obs-fold and a bare LF */
		c->phase = P_TR_NAME;
		return count_line_byte(c);
	case P_TR_NAME:
		rv = count_line_byte(c);
		if (rv < 0)
			return rv;
		if (ch == ':')
			c->phase = P_TR_VALUE;
		else if (!keel_http_is_tok(ch))
			return -EBADMSG;
		return 0;
	case P_TR_VALUE:
		rv = count_line_byte(c);
		if (rv < 0)
			return rv;
		if (ch == '\r')
			c->phase = P_TR_LF;
		else if (!keel_http_is_val(ch))
			return -EBADMSG;
		return 0;
	case P_TR_LF:
		rv = count_line_byte(c);
		if (rv < 0)
			return rv;
		if (ch != '\n')
			return -EBADMSG;
		c->phase = P_TR_START;
		return 0;
	case P_TR_END_LF:
		if (ch != '\n')
			return -EBADMSG;
		c->phase = P_DONE;
		return 1;
	default:
		return -EBADMSG; /* not reached: P_DATA and P_DONE are handled by the caller */
	}
}

int keel_http_chunked_decode(struct keel_http_chunked *c, const char *in, size_t len,
			     size_t *consumed, const char **data, size_t *data_len)
{
	size_t i = 0, n;
	int rv;

	*data = NULL;
	*data_len = 0;
	*consumed = 0;
	if (c->err != 0)
		return c->err;
	if (c->phase == P_DONE)
		return 1;
	while (i < len) {
		if (c->phase == P_DATA) {
			n = (size_t)KEEL_MIN((uint64_t)(len - i), c->left);
			*data = in + i;
			*data_len = n;
			c->left -= n;
			c->body_len += n;
			if (c->left == 0)
				c->phase = P_DATA_CR;
			*consumed = i + n;
			return 0;
		}
		rv = step(c, in[i++]);
		if (rv != 0) {
			*consumed = i;
			if (rv < 0)
				c->err = rv;
			return rv;
		}
	}
	*consumed = i;
	return 0;
}

size_t keel_http_chunk_header(char buf[KEEL_HTTP_CHUNK_HEADER_MAX], size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, i;

	do {
		tmp[n++] = hex[len & 15];
		len >>= 4;
	} while (len != 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\r';
	buf[n + 1] = '\n';
	return n + 2;
}
