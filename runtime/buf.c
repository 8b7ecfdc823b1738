/* Growable byte buffer. */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

int keel_buf_reserve(struct keel_buf *b, size_t n)
{
	size_t used = b->len - b->off;
	size_t need, cap;
	char *p;

	if (b->cap - b->len >= n)
		return 0;
	if (b->off > 0 && b->cap - used >= n && b->off >= used) {
		/* Compact when that frees enough and the move is no larger than what it frees. */
		memmove(b->data, b->data + b->off, used);
		b->off = 0;
		b->len = used;
		return 0;
	}
	if (n > SIZE_MAX / 2 - used)
		return -ENOMEM;
	need = used + n;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (b->off > 0) {
		p = keel_malloc(cap);
		if (p == NULL)
			return -ENOMEM;
		if (used > 0)
			memcpy(p, b->data + b->off, used);
		keel_free(b->data);
	} else {
		p = keel_realloc(b->data, cap);
		if (p == NULL)
			return -ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	b->off = 0;
	b->len = used;
	return 0;
}

int keel_buf_append(struct keel_buf *b, const void *p, size_t n)
{
	int rv;

	if (n == 0)
		return 0;
	rv = keel_buf_reserve(b, n);
	if (rv < 0)
		return rv;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int keel_buf_puts(struct keel_buf *b, const char *s)
{
	return keel_buf_append(b, s, strlen(s));
}

int keel_buf_putc(struct keel_buf *b, char c)
{
	int rv = keel_buf_reserve(b, 1);

	if (rv < 0)
		return rv;
	b->data[b->len++] = c;
	return 0;
}

int keel_buf_printf(struct keel_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rv;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	rv = keel_buf_reserve(b, (size_t)n + 1);
	if (rv < 0)
		return rv;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void keel_buf_consume(struct keel_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void keel_buf_free(struct keel_buf *b)
{
	keel_free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

char *keel_buf_steal(struct keel_buf *b, size_t *len)
{
	size_t n = keel_buf_size(b);
	char *p;

	if (keel_buf_reserve(b, 1) < 0)
		return NULL;
	b->data[b->len] = '\0';
	if (b->off > 0)
		memmove(b->data, b->data + b->off, n + 1);
	p = b->data;
	b->data = NULL;
	b->off = b->len = b->cap = 0;
	if (len != NULL)
		*len = n;
	return p;
}
