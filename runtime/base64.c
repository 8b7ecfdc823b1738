/* Standard base64 with padding: encoder and strict decoder. */
#include "base64.h"

#include <errno.h>
#include <stdint.h>

#include "err.h"

static const char b64_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character, or -1 for anything outside the alphabet (including '='). */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t keel_base64_encoded_len(size_t n)
{
	size_t groups = n / 3 + (n % 3 != 0);

	if (groups > SIZE_MAX / 4)
		return SIZE_MAX;
	return groups * 4;
}

size_t keel_base64_encode(char *dst, const void *src, size_t n)
{
	const unsigned char *s = src;
	char *d = dst;
	uint32_t v = 0;

	for (; n >= 3; n -= 3, s += 3) {
		v = (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];
		*d++ = b64_alphabet[v >> 18];
		*d++ = b64_alphabet[(v >> 12) & 63];
		*d++ = b64_alphabet[(v >> 6) & 63];
		*d++ = b64_alphabet[v & 63];
	}
	if (n > 0) {
		v = (uint32_t)s[0] << 16 | (n == 2 ? (uint32_t)s[1] << 8 : 0);
		*d++ = b64_alphabet[v >> 18];
		*d++ = b64_alphabet[(v >> 12) & 63];
		*d++ = n == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
		*d++ = '=';
	}
	return (size_t)(d - dst);
}

int keel_base64_decode(void *dst, size_t *dst_len, const char *src, size_t n, char *errmsg)
{
	const unsigned char *s = (const unsigned char *)src;
	unsigned char *d = dst;
	size_t i, k, pad = 0;
	uint32_t v = 0;
	int c;

	if (n % 4 != 0)
		return keel_errf(errmsg, -EINVAL,
				 "invalid base64: length %zu is not a multiple of 4", n);
	if (n > 0 && s[n - 1] == '=')
		pad = (s[n - 2] == '=') ? 2 : 1;
	for (i = 0; i < n; i += 4) {
		v = 0;
		for (k = 0; k < 4; k++) {
			if (i + k >= n - pad) {
				v <<= 6;
				continue;
			}
			c = b64_value(s[i + k]);
			if (c < 0)
				return keel_errf(errmsg, -EINVAL,
						 "invalid base64: bad character at offset %zu",
						 i + k);
			v = v << 6 | (uint32_t)c;
		}
		*d++ = (unsigned char)(v >> 16);
		if (i + 4 < n || pad < 2)
			*d++ = (unsigned char)(v >> 8);
		if (i + 4 < n || pad < 1)
			*d++ = (unsigned char)v;
	}
	/* The bits the padding leaves unused must be zero, so every byte string has one encoding.
	 */
	if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
		return keel_errf(errmsg, -EINVAL, "invalid base64: non-zero bits before padding");
	*dst_len = (size_t)(d - (unsigned char *)dst);
	return 0;
}
