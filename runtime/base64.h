/* Standard base64 (RFC 4648 section 4): padded output, strict input. */
#ifndef KEEL_RUNTIME_BASE64_H
#define KEEL_RUNTIME_BASE64_H

#include <stddef.h>

/*
 * Encoding always pads to a multiple of 4 characters with '='. Decoding is
 * strict: the input must be exactly what the encoder would write for some
 * bytes — length a multiple of 4, only A-Z a-z 0-9 + / and at most two '='
 * at the very end, no whitespace, and zero bits in the unused low bits of
 * the last character. Anything else is -EINVAL. (Mesos's stout decoder is
 * more lenient; see docs/codec.md.)
 */

/* Characters keel_base64_encode writes for n bytes: 4 * ceil(n / 3). SIZE_MAX if that overflows. */
size_t keel_base64_encoded_len(size_t n);

/*
 * Writes the encoding of src[0, n) to dst, which must have room for
 * keel_base64_encoded_len(n) characters. No NUL terminator is written.
 * Returns the number of characters written.
 */
size_t keel_base64_encode(char *dst, const void *src, size_t n);

/* Upper bound of the bytes that n characters decode to: n / 4 * 3. */
static inline size_t keel_base64_decoded_max(size_t n)
{
	return n / 4 * 3;
}

/*
 * Decodes src[0, n) into dst, which must have room for
 * keel_base64_decoded_max(n) bytes, and stores the decoded length in
 * *dst_len. Returns 0, or -EINVAL with a message naming the first bad
 * offset in errmsg (KEEL_ERRMSG_SIZE bytes, may be NULL); on error the
 * contents of dst are unspecified.
 */
int keel_base64_decode(void *dst, size_t *dst_len, const char *src, size_t n, char *errmsg);

#endif
