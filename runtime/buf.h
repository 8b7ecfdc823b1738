/* A growable byte buffer with a read offset: append at the end, consume from the front. */
#ifndef KEEL_RUNTIME_BUF_H
#define KEEL_RUNTIME_BUF_H

#include <stddef.h>

#include "util.h"

/* Bytes data[off, len) are readable; data[len, cap) is free space. Zero-initialise to use. */
struct keel_buf {
	char *data; /* heap storage, NULL until the first append */
	size_t off; /* start of unread bytes */
	size_t len; /* end of written bytes */
	size_t cap; /* allocated size */
};

#define KEEL_BUF_INIT                                                                              \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

static inline const char *keel_buf_rptr(const struct keel_buf *b)
{
	return b->data + b->off;
}

static inline size_t keel_buf_size(const struct keel_buf *b)
{
	return b->len - b->off;
}

/* Makes room for n more bytes at the end (compacting or growing); -ENOMEM. */
int keel_buf_reserve(struct keel_buf *b, size_t n);

/* Pointer to the free space after keel_buf_reserve; commit what was written with keel_buf_commit.
 */
static inline char *keel_buf_wptr(struct keel_buf *b)
{
	return b->data + b->len;
}

static inline void keel_buf_commit(struct keel_buf *b, size_t n)
{
	b->len += n;
}

int keel_buf_append(struct keel_buf *b, const void *p, size_t n);
int keel_buf_puts(struct keel_buf *b, const char *s);
int keel_buf_putc(struct keel_buf *b, char c);
int keel_buf_printf(struct keel_buf *b, const char *fmt, ...) KEEL_PRINTF(2, 3);

/* Drops n bytes from the front (n <= size). */
void keel_buf_consume(struct keel_buf *b, size_t n);

/* Empties the buffer, keeping its storage. */
static inline void keel_buf_clear(struct keel_buf *b)
{
	b->off = b->len = 0;
}

/* Frees the storage; the buffer is empty and reusable afterwards. */
void keel_buf_free(struct keel_buf *b);

/* Hands the readable bytes to the caller as a NUL-terminated heap string (buffer left empty). */
char *keel_buf_steal(struct keel_buf *b, size_t *len);

#endif
