/* Error message formatting for the negative-errno convention. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int keel_errf(char *buf, int rv, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL)
		return rv;
	va_start(ap, fmt);
	vsnprintf(buf, KEEL_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
	return rv;
}

int keel_errno_f(char *buf, int rv, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (buf == NULL)
		return rv;
	va_start(ap, fmt);
	vsnprintf(buf, KEEL_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	snprintf(buf + n, KEEL_ERRMSG_SIZE - n, ": %s", strerror(-rv));
	return rv;
}

int keel_errwrap(char *buf, int rv, const char *fmt, ...)
{
	char old[KEEL_ERRMSG_SIZE];
	va_list ap;
	size_t n;

	if (buf == NULL)
		return rv;
	memcpy(old, buf, KEEL_ERRMSG_SIZE);
	old[KEEL_ERRMSG_SIZE - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(buf, KEEL_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	if (old[0] != '\0' && n + 2 < KEEL_ERRMSG_SIZE)
		snprintf(buf + n, KEEL_ERRMSG_SIZE - n, ": %s", old);
	return rv;
}
