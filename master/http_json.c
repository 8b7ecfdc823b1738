/* A small streaming JSON writer for the master's hand-rendered endpoints (/state, /metrics). */
#include "http_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"

/* Out of memory in a daemon: fatal (runtime/alloc.h). */
static void json_oom(void)
{
	KEEL_ERROR("master", "out of memory while writing JSON");
	abort();
}

/* Room for n more bytes at the end of the output; write there, then commit. */
static inline char *room(struct master_json *w, size_t n)
{
	struct keel_buf *b = w->out;

	if (b->cap - b->len < n && keel_buf_reserve(b, n) < 0)
		json_oom();
	return keel_buf_wptr(b);
}

static inline void put(struct master_json *w, const char *p, size_t n)
{
	memcpy(room(w, n), p, n);
	keel_buf_commit(w->out, n);
}

static inline void putc1(struct master_json *w, char c)
{
	*room(w, 1) = c;
	keel_buf_commit(w->out, 1);
}

/* Decimal digits of v at the end of buf[0, 20); returns where they start. */
static char *u64_digits(uint64_t v, char *end)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

/* Writes v in decimal (with a '-' when neg) followed by suffix. */
static void put_integer(struct master_json *w, bool neg, uint64_t v, const char *suffix,
			size_t suffix_len)
{
	char buf[24], *end = buf + sizeof(buf), *start = u64_digits(v, end);
	size_t n = (size_t)(end - start);
	char *p = room(w, n + 1 + suffix_len);

	if (neg)
		*p++ = '-';
	memcpy(p, start, n);
	memcpy(p + n, suffix, suffix_len);
	keel_buf_commit(w->out, n + neg + suffix_len);
}

void master_json_init(struct master_json *w, struct keel_buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

/* Before any value: a comma when the enclosing array has a member already. */
static void value_prefix(struct master_json *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		uint32_t bit = 1u << (w->depth - 1);
		if (w->nonempty & bit)
			putc1(w, ',');
		w->nonempty |= bit;
	}
}

static void open_container(struct master_json *w, char c)
{
	value_prefix(w);
	if (w->depth >= MASTER_JSON_MAX_DEPTH)
		abort(); /* a programming error: the renderers nest a few levels at most */
	putc1(w, c);
	w->depth++;
	w->nonempty &= ~(1u << (w->depth - 1));
}

static void close_container(struct master_json *w, char c)
{
	if (w->depth == 0)
		abort();
	w->depth--;
	putc1(w, c);
}

void master_json_object_begin(struct master_json *w)
{
	open_container(w, '{');
}

void master_json_object_end(struct master_json *w)
{
	close_container(w, '}');
}

void master_json_array_begin(struct master_json *w)
{
	open_container(w, '[');
}

void master_json_array_end(struct master_json *w)
{
	close_container(w, ']');
}

/* Length of the valid UTF-8 sequence at p[0, n) and its code point; 0 when invalid. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0];
	size_t len;
	uint32_t min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static void put_u16(struct master_json *w, uint32_t u)
{
	char esc[8];

	snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)u);
	put(w, esc, 6);
}

static inline bool plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static void put_escaped(struct master_json *w, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	char *out;

	/* Most strings need no escape: one copy between the quotes. */
	while (i < len && plain(p[i]))
		i++;
	if (i == len) {
		out = room(w, len + 2);
		out[0] = '"';
		memcpy(out + 1, s, len);
		out[len + 1] = '"';
		keel_buf_commit(w->out, len + 2);
		return;
	}
	i = 0;
	putc1(w, '"');
	while (i < len) {
		size_t run = i;
		while (run < len && plain(p[run]))
			run++;
		if (run > i) {
			put(w, s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = p[i];
		uint32_t cp;
		size_t n;
		switch (c) {
		case '"':
			put(w, "\\\"", 2);
			i++;
			continue;
		case '\\':
			put(w, "\\\\", 2);
			i++;
			continue;
		case '\n':
			put(w, "\\n", 2);
			i++;
			continue;
		case '\r':
			put(w, "\\r", 2);
			i++;
			continue;
		case '\t':
			put(w, "\\t", 2);
			i++;
			continue;
		case '\b':
			put(w, "\\b", 2);
			i++;
			continue;
		case '\f':
			put(w, "\\f", 2);
			i++;
			continue;
		default:
			break;
		}
		n = utf8_decode(p + i, len - i, &cp);
		if (n == 0) {
			put_u16(w, 0xfffd);
			i++;
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			put_u16(w, 0xd800 + (cp >> 10));
			put_u16(w, 0xdc00 + (cp & 0x3ff));
			i += n;
		} else {
			put_u16(w, cp); /* control characters and the rest of the BMP */
			i += n;
		}
	}
	putc1(w, '"');
}

void master_json_key(struct master_json *w, const char *key)
{
	value_prefix(w);
	put_escaped(w, key, strlen(key));
	putc1(w, ':');
	w->after_key = true;
}

void master_json_stringn(struct master_json *w, const char *s, size_t len)
{
	value_prefix(w);
	put_escaped(w, s, len);
}

void master_json_string(struct master_json *w, const char *s)
{
	master_json_stringn(w, s ? s : "", s ? strlen(s) : 0);
}

/* True when v is an integer below 2^53 in magnitude (printed exactly as one). */
static inline bool small_integral(double v)
{
	return v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v;
}

void master_json_format_double(double v, char *out, size_t size)
{
	/* Integral values print as integers with ".0", as rapidjson writes them. */
	if (small_integral(v)) {
		snprintf(out, size, "%" PRId64 ".0", (int64_t)v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, size, "%.*g", prec, v);
		if (prec == 17 || strtod(out, NULL) == v)
			break;
	}
}

void master_json_double(struct master_json *w, double v)
{
	char num[40];

	if (isnan(v)) {
		master_json_string(w, "NaN");
		return;
	}
	if (isinf(v)) {
		master_json_string(w, v > 0 ? "Infinity" : "-Infinity");
		return;
	}
	value_prefix(w);
	if (small_integral(v)) {
		int64_t i = (int64_t)v;
		put_integer(w, i < 0, i < 0 ? (uint64_t)-i : (uint64_t)i, ".0", 2);
		return;
	}
	master_json_format_double(v, num, sizeof(num));
	put(w, num, strlen(num));
}

void master_json_int(struct master_json *w, int64_t v)
{
	value_prefix(w);
	put_integer(w, v < 0, v < 0 ? -(uint64_t)v : (uint64_t)v, "", 0);
}

void master_json_uint(struct master_json *w, uint64_t v)
{
	value_prefix(w);
	put_integer(w, false, v, "", 0);
}

void master_json_bool(struct master_json *w, bool v)
{
	value_prefix(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void master_json_seconds(struct master_json *w, uint64_t ns)
{
	char frac[10];
	uint64_t sub = ns % 1000000000u;
	size_t n = 9;

	value_prefix(w);
	if (sub == 0) {
		put_integer(w, false, ns / 1000000000u, ".0", 2);
		return;
	}
	frac[0] = '.';
	for (size_t i = 9; i >= 1; i--) {
		frac[i] = (char)('0' + sub % 10);
		sub /= 10;
	}
	while (frac[n] == '0')
		n--;
	put_integer(w, false, ns / 1000000000u, frac, n + 1);
}

void master_json_raw(struct master_json *w, const char *json, size_t len)
{
	value_prefix(w);
	put(w, json, len);
}

void master_json_kv_string(struct master_json *w, const char *key, const char *s)
{
	master_json_key(w, key);
	master_json_string(w, s);
}

void master_json_kv_double(struct master_json *w, const char *key, double v)
{
	master_json_key(w, key);
	master_json_double(w, v);
}

void master_json_kv_int(struct master_json *w, const char *key, int64_t v)
{
	master_json_key(w, key);
	master_json_int(w, v);
}

void master_json_kv_bool(struct master_json *w, const char *key, bool v)
{
	master_json_key(w, key);
	master_json_bool(w, v);
}

void master_json_kv_seconds(struct master_json *w, const char *key, uint64_t ns)
{
	master_json_key(w, key);
	master_json_seconds(w, ns);
}
