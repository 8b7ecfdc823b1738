/* The one error convention: int return, 0 ok, negative errno; details in a caller-owned buffer. */
#ifndef KEEL_RUNTIME_ERR_H
#define KEEL_RUNTIME_ERR_H

#include <stddef.h>

#include "util.h"

/*
 * Every context object that can fail owns a `char errmsg[KEEL_ERRMSG_SIZE]`.
 * A failing function writes one line there and returns a negative errno:
 *
 *	return keel_errf(ctx->errmsg, -EINVAL, "port %ld out of range", v);
 *
 * A caller that passes the failure up adds its own context in front:
 *
 *	return keel_errwrap(ctx->errmsg, rv, "open %s", path);  -> "open x: <old message>"
 *
 * A NULL buffer is allowed everywhere and means "no message wanted".
 */
#define KEEL_ERRMSG_SIZE 256

/* Formats the message into buf (if not NULL) and returns rv. */
int keel_errf(char *buf, int rv, const char *fmt, ...) KEEL_PRINTF(3, 4);

/* Like keel_errf, then appends ": strerror(-rv)". */
int keel_errno_f(char *buf, int rv, const char *fmt, ...) KEEL_PRINTF(3, 4);

/* Prefixes "<fmt>: " to the message already in buf and returns rv. */
int keel_errwrap(char *buf, int rv, const char *fmt, ...) KEEL_PRINTF(3, 4);

#endif
