/* Path checks and small filesystem helpers: no "..", mkdir -p, safe recursive removal. */
#ifndef KEEL_CTR_PATH_H
#define KEEL_CTR_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* True when some component of `path` is exactly "..". */
bool ctr_path_has_dotdot(const char *path);

/*
 * Checks a path from a spec: non-empty, shorter than PATH_MAX, no "..",
 * absolute when `absolute` (else relative). -EINVAL with "<what>: ..." in errmsg.
 */
int ctr_path_check(const char *what, const char *path, bool absolute, char *errmsg);

/* True for a valid container ID: 1..63 of [A-Za-z0-9_.-], not starting with '.'. */
bool ctr_id_valid(const char *id);

/* mkdir -p with `mode` for each created component; uses no heap. Returns 0 or -errno. */
int ctr_mkdir_p(const char *path, mode_t mode);

/* Joins a and b with one '/' into out (size n); -ENAMETOOLONG if it does not fit. */
int ctr_path_join(char *out, size_t n, const char *a, const char *b);

/*
 * Removes `name` under dirfd and everything below it, never following a
 * symlink and never crossing into another mount. ENOENT counts as done.
 */
int ctr_remove_tree_at(int dirfd, const char *name);

/* Removes whatever is at dirfd/name (a file, or a whole tree as above); ENOENT counts as done. */
int ctr_remove_entry_at(int dirfd, const char *name);

#endif
