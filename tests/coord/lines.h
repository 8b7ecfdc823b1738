/* Test helpers for coord: complete lines read from a non-blocking fd (coord-helper's stdin, the
 * helpers' stdout in the integration tests). */
#ifndef KEEL_TESTS_COORD_LINES_H
#define KEEL_TESTS_COORD_LINES_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/*
 * Reads what fd has into buf (cap bytes; the first *len hold a partial
 * line) and calls fn(arg, line) for every complete line, NUL-terminated,
 * without its '\n'. A line that fills the whole buffer is dropped. Returns
 * false at end of file or on a read error other than EAGAIN and EINTR.
 */
static inline bool lines_read(int fd, char *buf, size_t *len, size_t cap,
			      void (*fn)(void *arg, char *line), void *arg)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);

	if (n <= 0)
		return n < 0 && (errno == EAGAIN || errno == EINTR);
	*len += (size_t)n;
	for (;;) {
		char *nl = memchr(buf, '\n', *len);
		if (nl == NULL)
			break;
		*nl = '\0';
		fn(arg, buf);
		size_t used = (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len - used);
		*len -= used;
	}
	if (*len == cap - 1)
		*len = 0; /* an absurd line: drop it */
	return true;
}

#endif
