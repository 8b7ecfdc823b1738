/* coord internals: URL display helpers (passwords never reach logs or messages). */
#ifndef KEEL_COORD_URL_H
#define KEEL_COORD_URL_H

#include <stddef.h>

/* Copies url into out (size bytes, truncated) with a zk password replaced by "***". */
void coord_url_redact(const char *url, char *out, size_t size);

#endif
