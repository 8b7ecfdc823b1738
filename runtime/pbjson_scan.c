/* The pbjson reader's first pass: validates JSON text as jansson would and maps its containers. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "pbjson_priv.h"
#include "util.h"

/* Most nested arrays and objects, as jansson's JSON_PARSER_MAX_DEPTH. */
#define SC_MAX_DEPTH 2048

/* Members of an object checked pairwise for duplicates as they come; more are sorted at '}'. */
#define SC_PAIRWISE_KEYS 16

/* One object key seen so far (the keys of the objects being scanned, innermost last). */
struct sc_key {
	size_t pos;    /* offset of the opening quote */
	size_t rawlen; /* bytes between the quotes, escapes undecoded */
	uint64_t hash; /* FNV-1a of the decoded bytes */
	bool escaped;  /* the key holds a backslash escape */
};

/* Scanner state for one pbjson_scan call. */
struct sc {
	const char *s;		 /* the text */
	size_t len;		 /* its length */
	size_t i;		 /* the next byte to read */
	unsigned depth;		 /* containers open */
	struct pbjson_scan *out; /* boxes being recorded */
	struct sc_key *keys;	 /* keys of the open objects */
	size_t n_keys, cap_keys; /* used and allocated entries of keys */
	const char *err;	 /* what is wrong, NULL while all is well */
	size_t err_pos;		 /* where */
	char err_buf[48];	 /* room for a formatted err */
};

static bool sc_fail(struct sc *c, size_t pos, const char *what)
{
	if (c->err == NULL) {
		c->err = what;
		c->err_pos = pos;
	}
	return false;
}

static void sc_ws(struct sc *c)
{
	while (c->i < c->len) {
		char ch = c->s[c->i];

		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
			return;
		c->i++;
	}
}

/* The four hex digits at s[0, 4) (the caller checked there are four bytes), or -1. */
static long sc_hex4(const char *s)
{
	long v = 0;
	int k;

	for (k = 0; k < 4; k++) {
		int h = keel_hex_value(s[k]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static uint64_t sc_hash_byte(uint64_t h, uint8_t b)
{
	return (h ^ b) * 0x100000001b3ull;
}

/* Length of the valid UTF-8 sequence at p[0, n) (n >= 1, p[0] >= 0x80), or 0. */
static size_t sc_utf8_len(const uint8_t *p, size_t n)
{
	size_t want, k;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		want = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		want = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		want = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < want)
		return 0;
	for (k = 1; k < want; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points above U+10FFFF. */
	if ((want == 3 && cp < 0x800) || (want == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return want;
}

/* Appends the UTF-8 form of cp (<= U+10FFFF, not a surrogate) to dst; returns its length. */
static size_t sc_put_utf8(char *dst, uint32_t cp)
{
	if (cp < 0x80) {
		dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (char)(0xc0 | (cp >> 6));
		dst[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (char)(0xe0 | (cp >> 12));
		dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		dst[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	dst[0] = (char)(0xf0 | (cp >> 18));
	dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	dst[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

size_t pbjson_str_decode(const char *raw, size_t rawlen, char *dst)
{
	size_t i = 0, n = 0;

	while (i < rawlen) {
		const char *bs = memchr(raw + i, '\\', rawlen - i);
		size_t plain = bs != NULL ? (size_t)(bs - (raw + i)) : rawlen - i;
		uint32_t cp;

		memmove(dst + n, raw + i, plain);
		n += plain;
		i += plain;
		if (i >= rawlen)
			break;
		if (raw[i + 1] == 'u') {
			cp = (uint32_t)sc_hex4(raw + i + 2);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     ((uint32_t)sc_hex4(raw + i + 8) - 0xdc00);
				i += 6;
			}
			n += sc_put_utf8(dst + n, cp);
			i += 4;
		} else {
			/* \", \\ and \/ stand for themselves; \b and the rest map. */
			const char *from = "bfnrt", *to = "\b\f\n\r\t",
				   *k = strchr(from, raw[i + 1]);

			dst[n++] = k != NULL ? to[k - from] : raw[i + 1];
		}
		i += 2;
	}
	return n;
}

/*
 * A string at c->i (the opening quote): checks escapes, UTF-8 and control characters, leaves
 * c->i after the closing quote. When key is set, fills it (hash of the decoded bytes).
 */
static bool sc_string(struct sc *c, struct sc_key *key)
{
	const uint8_t *s = (const uint8_t *)c->s;
	size_t start = c->i++;
	uint64_t h = 0xcbf29ce484222325ull;
	bool escaped = false;

	for (;;) {
		uint8_t ch;

		if (c->i >= c->len)
			return sc_fail(c, c->i, "premature end of input");
		ch = s[c->i];
		if (ch == '"')
			break;
		if (ch < 0x20) {
			snprintf(c->err_buf, sizeof(c->err_buf), "control character 0x%x", ch);
			return sc_fail(c, c->i, c->err_buf);
		}
		if (ch >= 0x80) {
			size_t k, n = sc_utf8_len(s + c->i, c->len - c->i);

			if (n == 0) {
				snprintf(c->err_buf, sizeof(c->err_buf),
					 "unable to decode byte 0x%x", ch);
				return sc_fail(c, c->i, c->err_buf);
			}
			for (k = 0; k < n; k++)
				h = sc_hash_byte(h, s[c->i + k]);
			c->i += n;
			continue;
		}
		if (ch != '\\') {
			h = sc_hash_byte(h, ch);
			c->i++;
			continue;
		}
		escaped = true;
		if (c->i + 1 >= c->len)
			return sc_fail(c, c->i, "premature end of input");
		switch (s[c->i + 1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't': {
			char one;

			pbjson_str_decode(c->s + c->i, 2, &one);
			h = sc_hash_byte(h, (uint8_t)one);
			c->i += 2;
			break;
		}
		case 'u': {
			long cp, lo;
			char utf8[4];
			size_t k, n;

			if (c->len - c->i < 6 || (cp = sc_hex4(c->s + c->i + 2)) < 0)
				return sc_fail(c, c->i, "invalid \\uXXXX escape");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (c->len - c->i < 12 || s[c->i + 6] != '\\' ||
				    s[c->i + 7] != 'u' ||
				    (lo = sc_hex4(c->s + c->i + 8)) < 0xdc00 || lo > 0xdfff)
					return sc_fail(c, c->i, "invalid Unicode (lone surrogate)");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				c->i += 6;
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return sc_fail(c, c->i, "invalid Unicode (lone surrogate)");
			} else if (cp == 0) {
				return sc_fail(c, c->i, "\\u0000 is not allowed");
			}
			n = sc_put_utf8(utf8, (uint32_t)cp);
			for (k = 0; k < n; k++)
				h = sc_hash_byte(h, (uint8_t)utf8[k]);
			c->i += 6;
			break;
		}
		default:
			return sc_fail(c, c->i, "invalid escape");
		}
	}
	c->i++;
	if (key != NULL) {
		key->pos = start;
		key->rawlen = c->i - start - 2;
		key->hash = h;
		key->escaped = escaped;
	}
	return true;
}

/* A number at c->i: JSON syntax; integers must fit int64 and reals must not overflow. */
static bool sc_number(struct sc *c)
{
	const char *s = c->s;
	size_t start = c->i, int_digits = 0;
	bool neg = false, real = false, exp = false;
	uint64_t mag = 0;
	bool too_big = false;

	if (s[c->i] == '-') {
		neg = true;
		c->i++;
	}
	if (c->i < c->len && s[c->i] == '0') {
		c->i++;
		int_digits = 1;
		if (c->i < c->len && s[c->i] >= '0' && s[c->i] <= '9')
			return sc_fail(c, start, "invalid token");
	} else if (c->i < c->len && s[c->i] >= '1' && s[c->i] <= '9') {
		while (c->i < c->len && s[c->i] >= '0' && s[c->i] <= '9') {
			unsigned digit = (unsigned)(s[c->i] - '0');

			if (mag > (UINT64_MAX - digit) / 10)
				too_big = true;
			else
				mag = mag * 10 + digit;
			int_digits++;
			c->i++;
		}
	} else {
		return sc_fail(c, start, "invalid token");
	}
	if (c->i < c->len && s[c->i] == '.') {
		size_t d = ++c->i;

		real = true;
		while (c->i < c->len && s[c->i] >= '0' && s[c->i] <= '9')
			c->i++;
		if (c->i == d)
			return sc_fail(c, start, "invalid token");
	}
	if (c->i < c->len && (s[c->i] == 'e' || s[c->i] == 'E')) {
		size_t d;

		real = exp = true;
		c->i++;
		if (c->i < c->len && (s[c->i] == '+' || s[c->i] == '-'))
			c->i++;
		for (d = c->i; c->i < c->len && s[c->i] >= '0' && s[c->i] <= '9'; c->i++)
			;
		if (c->i == d)
			return sc_fail(c, start, "invalid token");
	}
	if (!real) {
		if (too_big || mag > (uint64_t)INT64_MAX + (neg ? 1 : 0))
			return sc_fail(c, start,
				       neg ? "too big negative integer" : "too big integer");
		return true;
	}
	/* Only an exponent or a long integer part can reach DBL_MAX (1.8e308). */
	if (exp || int_digits > 300) {
		double d = pbjson_strtod(s + start, c->i - start);

		if (d == HUGE_VAL || d == -HUGE_VAL)
			return sc_fail(c, start, "real number overflow");
	}
	return true;
}

/* Decodes the code point at raw[*i] (a plain byte, a UTF-8 sequence or an escape) of a string
 * pbjson_scan accepted into out; returns its length and moves *i past it. */
static size_t sc_unit(const char *raw, size_t *i, char out[4])
{
	uint8_t c = (uint8_t)raw[*i];
	size_t n;

	if (c != '\\') {
		n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		memcpy(out, raw + *i, n);
		*i += n;
		return n;
	}
	n = 2;
	if (raw[*i + 1] == 'u') {
		long cp = sc_hex4(raw + *i + 2);

		n = cp >= 0xd800 && cp <= 0xdbff ? 12 : 6;
	}
	*i += n;
	return pbjson_str_decode(raw + *i - n, n, out);
}

/* Compares two object keys by their decoded bytes, one code point at a time. */
static bool sc_key_same(const struct sc *c, const struct sc_key *a, const struct sc_key *b)
{
	const char *ra = c->s + a->pos + 1, *rb = c->s + b->pos + 1;
	size_t ia = 0, ib = 0;

	if (a->hash != b->hash)
		return false;
	if (!a->escaped && !b->escaped)
		return a->rawlen == b->rawlen && memcmp(ra, rb, a->rawlen) == 0;
	while (ia < a->rawlen && ib < b->rawlen) {
		char ua[4], ub[4];
		size_t na = sc_unit(ra, &ia, ua), nb = sc_unit(rb, &ib, ub);

		if (na != nb || memcmp(ua, ub, na) != 0)
			return false;
	}
	return ia == a->rawlen && ib == b->rawlen;
}

static int sc_key_cmp(const void *x, const void *y, void *arg)
{
	const struct sc_key *a = x, *b = y;

	(void)arg;
	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* The members of a large object (keys[from, c->n_keys)): any two with the same name? */
static bool sc_keys_unique(struct sc *c, size_t from)
{
	struct sc_key *k = c->keys + from;
	size_t n = c->n_keys - from, i, j;

	qsort_r(k, n, sizeof(*k), sc_key_cmp, NULL);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n && k[j].hash == k[i].hash; j++)
			if (sc_key_same(c, &k[i], &k[j]))
				return sc_fail(c, k[j].pos, "duplicate object key");
	return true;
}

static bool sc_value(struct sc *c);

/*
 * Records a new box for the container whose opening bracket is at c->i, in *box, and moves
 * past the bracket and any whitespace; true when the closing bracket `close` follows at once
 * (then moved past too: the container is empty). False with c->err set when out of memory.
 */
static bool sc_box_open(struct sc *c, char close, size_t *box, bool *empty)
{
	struct pbjson_scan *o = c->out;

	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct pbjson_box *b = keel_realloc(o->boxes, cap * sizeof(*b));

		if (b == NULL)
			return sc_fail(c, c->i, "out of memory");
		o->boxes = b;
		o->cap = cap;
	}
	*box = o->n++;
	c->i++;
	sc_ws(c);
	*empty = c->i < c->len && c->s[c->i] == close;
	if (*empty)
		c->i++;
	return true;
}

/* Completes the box of a container just read (c->i is past its closing bracket). */
static void sc_box_close(struct sc *c, size_t box, size_t count)
{
	c->out->boxes[box].end = c->i;
	c->out->boxes[box].count = count;
	c->out->boxes[box].next = c->out->n;
}

static bool sc_object(struct sc *c)
{
	size_t box, from = c->n_keys, count = 0, k;
	bool empty;

	if (!sc_box_open(c, '}', &box, &empty))
		return false;
	if (empty)
		goto done;
	for (;;) {
		struct sc_key *key;

		if (c->i >= c->len)
			return sc_fail(c, c->i, "premature end of input");
		if (c->s[c->i] != '"')
			return sc_fail(c, c->i, "string or '}' expected");
		if (c->n_keys == c->cap_keys) {
			size_t cap = c->cap_keys ? c->cap_keys * 2 : 32;
			struct sc_key *nk = keel_realloc(c->keys, cap * sizeof(*nk));

			if (nk == NULL)
				return sc_fail(c, c->i, "out of memory");
			c->keys = nk;
			c->cap_keys = cap;
		}
		key = &c->keys[c->n_keys];
		if (!sc_string(c, key))
			return false;
		if (count < SC_PAIRWISE_KEYS)
			for (k = from; k < c->n_keys; k++)
				if (sc_key_same(c, &c->keys[k], key))
					return sc_fail(c, key->pos, "duplicate object key");
		c->n_keys++;
		sc_ws(c);
		if (c->i >= c->len || c->s[c->i] != ':')
			return sc_fail(c, c->i, "':' expected");
		c->i++;
		if (!sc_value(c))
			return false;
		count++;
		sc_ws(c);
		if (c->i < c->len && c->s[c->i] == ',') {
			c->i++;
			sc_ws(c);
			continue;
		}
		if (c->i < c->len && c->s[c->i] == '}') {
			c->i++;
			break;
		}
		return sc_fail(c, c->i, "'}' expected");
	}
	if (count > SC_PAIRWISE_KEYS && !sc_keys_unique(c, from))
		return false;
done:
	c->n_keys = from;
	sc_box_close(c, box, count);
	return true;
}

static bool sc_array(struct sc *c)
{
	size_t box, count = 0;
	bool empty;

	if (!sc_box_open(c, ']', &box, &empty))
		return false;
	if (!empty) {
		for (;;) {
			if (!sc_value(c))
				return false;
			count++;
			sc_ws(c);
			if (c->i < c->len && c->s[c->i] == ',') {
				c->i++;
				continue;
			}
			if (c->i < c->len && c->s[c->i] == ']') {
				c->i++;
				break;
			}
			return sc_fail(c, c->i, "']' expected");
		}
	}
	sc_box_close(c, box, count);
	return true;
}

static bool sc_literal(struct sc *c, const char *word)
{
	size_t n = strlen(word);

	if (c->len - c->i < n || memcmp(c->s + c->i, word, n) != 0)
		return sc_fail(c, c->i, "invalid token");
	c->i += n;
	return true;
}

/* Any value at c->i (after optional whitespace). */
static bool sc_value(struct sc *c)
{
	bool ok;

	sc_ws(c);
	if (c->i >= c->len)
		return sc_fail(c, c->i, "premature end of input");
	switch (c->s[c->i]) {
	case '{':
	case '[':
		if (c->depth >= SC_MAX_DEPTH)
			return sc_fail(c, c->i, "maximum parsing depth reached");
		c->depth++;
		ok = c->s[c->i] == '{' ? sc_object(c) : sc_array(c);
		c->depth--;
		return ok;
	case '"':
		return sc_string(c, NULL);
	case 't':
		return sc_literal(c, "true");
	case 'f':
		return sc_literal(c, "false");
	case 'n':
		return sc_literal(c, "null");
	default:
		if (c->s[c->i] == '-' || (c->s[c->i] >= '0' && c->s[c->i] <= '9'))
			return sc_number(c);
		return sc_fail(c, c->i, "invalid token");
	}
}

double pbjson_strtod(const char *s, size_t n)
{
	char small[64], *copy = small;
	double d;

	if (n >= sizeof(small)) {
		copy = keel_malloc(n + 1);
		if (copy == NULL)
			return 0; /* only the overflow check asks for long tokens: not an error */
	}
	memcpy(copy, s, n);
	copy[n] = '\0';
	d = strtod(copy, NULL);
	if (copy != small)
		keel_free(copy);
	return d;
}

int pbjson_scan(const char *json, size_t len, struct pbjson_scan *out, char *errmsg)
{
	struct sc c = {.s = json, .len = len, .out = out};
	unsigned line = 1, col = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	sc_ws(&c);
	if (c.i >= len || (json[c.i] != '{' && json[c.i] != '[')) {
		sc_fail(&c, c.i, "'[' or '{' expected");
	} else if (sc_value(&c)) {
		sc_ws(&c);
		if (c.i != len)
			sc_fail(&c, c.i, "end of file expected");
	}
	keel_free(c.keys);
	if (c.err == NULL)
		return 0;
	pbjson_scan_free(out);
	if (strcmp(c.err, "out of memory") == 0)
		return keel_errf(errmsg, -ENOMEM, "parsing JSON: out of memory");
	for (i = 0; i < c.err_pos && i < len; i++) {
		if (json[i] == '\n') {
			line++;
			col = 0;
		} else {
			col++;
		}
	}
	return keel_errf(errmsg, -EINVAL, "invalid JSON at line %u column %u: %s", line, col + 1,
			 c.err);
}

void pbjson_scan_free(struct pbjson_scan *s)
{
	keel_free(s->boxes);
	memset(s, 0, sizeof(*s));
}
