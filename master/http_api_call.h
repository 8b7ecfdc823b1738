/* The operator API's pure parts: Call validation and Accept negotiation (no master state). */
#ifndef KEEL_MASTER_HTTP_API_CALL_H
#define KEEL_MASTER_HTTP_API_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/mesos/v1/master.pb-c.h"

/*
 * Mesos's validation::master::call::validate of a decoded operator Call: NULL when valid,
 * else the reason (a static string) that follows "Failed to validate master::Call: " in the
 * 400 answer.
 */
const char *master_api_call_invalid(const Mesos__V1__Master__Call *call);

/*
 * Whether the Accept header value accept[0..len) (NULL: no header, which accepts anything)
 * allows media ("type/subtype"), as Mesos's Request::acceptsMediaType: the first media range
 * naming the exact type decides by its q (absent or malformed: accepted; else q > 0); failing
 * that the first "type/" wildcard range, then the first full wildcard. Whitespace is ignored.
 * media must be shorter than 60 bytes.
 */
bool master_api_accepts(const char *accept, size_t len, const char *media);

#endif
