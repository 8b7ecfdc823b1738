/* coord internals for tests and diagnostics: the backend's session identity (not part of the API).
 */
#ifndef KEEL_COORD_DEBUG_H
#define KEEL_COORD_DEBUG_H

#include <stdint.h>

#include "coord.h"

/*
 * ZooKeeper: the current session's id and 16-byte password (what a second
 * handle needs to take the session over and close it, the classic way to
 * force an expiry in tests). -EINVAL for another backend, -ENOTCONN when no
 * session is established.
 */
int coord_debug_zk_session(const struct coord *c, int64_t *id, char passwd[16]);

/* Requests sent to the backend and not answered yet (0 for static). */
size_t coord_debug_pending(const struct coord *c);

/* etcd: the current lease id. -EINVAL for another backend, -ENOTCONN when none is granted. */
int coord_debug_etcd_lease(const struct coord *c, int64_t *lease);

#endif
