/* The agent's checkpoint store: one LMDB environment at <work_dir>/meta, batched commits. */
#ifndef KEEL_AGENT_STORE_H
#define KEEL_AGENT_STORE_H

#include <stddef.h>

#include "runtime/buf.h"

/*
 * Keys are strings, values bytes. Writes (put, del) go into one open write
 * transaction that agent_store_commit() makes durable (one fsync for every
 * write since the last commit); reads see the uncommitted writes. Every
 * function returns 0 or a negative errno with a message in errmsg.
 */
struct agent_store;

int agent_store_open(const char *dir, struct agent_store **out, char *errmsg);
/* Commits what is pending, then closes. NULL is fine. */
void agent_store_close(struct agent_store *s);
int agent_store_put(struct agent_store *s, const char *key, const void *val, size_t len,
		    char *errmsg);
/* Deleting a missing key is not an error. */
int agent_store_del(struct agent_store *s, const char *key, char *errmsg);
/* Appends the value to out; -ENOENT when absent. */
int agent_store_get(struct agent_store *s, const char *key, struct keel_buf *out, char *errmsg);
/*
 * Calls fn for every key starting with prefix, in key order. fn returning < 0 stops the scan
 * with that error; > 0 stops it with 0.
 */
int agent_store_scan(struct agent_store *s, const char *prefix,
		     int (*fn)(void *arg, const char *key, const void *val, size_t len), void *arg,
		     char *errmsg);
/* Makes the pending writes durable. 0 when nothing was pending. */
int agent_store_commit(struct agent_store *s, char *errmsg);
/* Commits so far (for tests and metrics). */
unsigned long agent_store_commits(const struct agent_store *s);

#endif
