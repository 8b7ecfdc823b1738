/* Private byte classes for the HTTP parsers (RFC 9110 tchar, field-vchar, request-target bytes). */
#ifndef KEEL_RUNTIME_HTTP_CHARS_H
#define KEEL_RUNTIME_HTTP_CHARS_H

#include <stdbool.h>
#include <stdint.h>

#define KEEL_HC_TOK 1 /* tchar: may appear in a method, field name or transfer coding */
#define KEEL_HC_VAL 2 /* field-vchar, SP, HTAB or obs-text: may appear in a field value */
#define KEEL_HC_TGT 4 /* visible ASCII: may appear in a request-target */
#define KEEL_HC_T (KEEL_HC_TOK | KEEL_HC_VAL | KEEL_HC_TGT)
#define KEEL_HC_D (KEEL_HC_VAL | KEEL_HC_TGT)

static const uint8_t keel_http_ctab[256] = {
    ['\t'] = KEEL_HC_VAL,      [' '] = KEEL_HC_VAL,
    ['!'] = KEEL_HC_T,	       ['"'] = KEEL_HC_D,
    ['#'] = KEEL_HC_T,	       ['$'] = KEEL_HC_T,
    ['%'] = KEEL_HC_T,	       ['&'] = KEEL_HC_T,
    ['\''] = KEEL_HC_T,	       ['('] = KEEL_HC_D,
    [')'] = KEEL_HC_D,	       ['*'] = KEEL_HC_T,
    ['+'] = KEEL_HC_T,	       [','] = KEEL_HC_D,
    ['-'] = KEEL_HC_T,	       ['.'] = KEEL_HC_T,
    ['/'] = KEEL_HC_D,	       ['0' ... '9'] = KEEL_HC_T,
    [':'] = KEEL_HC_D,	       [';'] = KEEL_HC_D,
    ['<'] = KEEL_HC_D,	       ['='] = KEEL_HC_D,
    ['>'] = KEEL_HC_D,	       ['?'] = KEEL_HC_D,
    ['@'] = KEEL_HC_D,	       ['A' ... 'Z'] = KEEL_HC_T,
    ['['] = KEEL_HC_D,	       ['\\'] = KEEL_HC_D,
    [']'] = KEEL_HC_D,	       ['^'] = KEEL_HC_T,
    ['_'] = KEEL_HC_T,	       ['`'] = KEEL_HC_T,
    ['a' ... 'z'] = KEEL_HC_T, ['{'] = KEEL_HC_D,
    ['|'] = KEEL_HC_T,	       ['}'] = KEEL_HC_D,
    ['~'] = KEEL_HC_T,	       [0x80 ... 0xff] = KEEL_HC_VAL,
};

static inline bool keel_http_is_tok(char c)
{
	return keel_http_ctab[(unsigned char)c] & KEEL_HC_TOK;
}

static inline bool keel_http_is_val(char c)
{
	return keel_http_ctab[(unsigned char)c] & KEEL_HC_VAL;
}

static inline bool keel_http_is_tgt(char c)
{
	return keel_http_ctab[(unsigned char)c] & KEEL_HC_TGT;
}

static inline bool keel_http_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* ASCII lower-casing, independent of the locale. */
static inline char keel_http_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive comparison of s[0, n) with the lower-case literal lc of the same length. */
static inline bool keel_http_ieq(const char *s, size_t n, const char *lc, size_t lc_len)
{
	size_t i;

	if (n != lc_len)
		return false;
	for (i = 0; i < n; i++)
		if (keel_http_lower(s[i]) != lc[i])
			return false;
	return true;
}

#endif
