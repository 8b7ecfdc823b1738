/* Image layers: unpack a layer tar safely into overlayfs form, or flatten layers by copying. */
#ifndef KEEL_CTR_LAYER_H
#define KEEL_CTR_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What one image import may still write, shared by the archive extraction and
 * every layer it unpacks: a decompression bomb fails with -EFBIG instead of
 * filling the disk. Regular files count their recorded size (holes included:
 * the copy fallback would fill them); every tar entry counts one entry.
 */
struct ctr_unpack_budget {
	uint64_t bytes;	      /* file bytes left */
	uint64_t entries;     /* entries left */
	uint64_t max_bytes;   /* the byte limit (for messages and the stream cap) */
	uint64_t max_entries; /* the entry limit */
};

/* A budget holding the given limits. */
void ctr_unpack_budget_init(struct ctr_unpack_budget *b, uint64_t max_bytes, uint64_t max_entries);

/*
 * Unpacks the layer read from `fd` (a tar, plain or compressed with any
 * filter libarchive knows) into the new directory `name` under `parent_fd`
 * (created here, must not exist). OCI whiteouts become overlayfs ones: a
 * ".wh.NAME" entry a 0/0 character device NAME, ".wh..wh..opq" the
 * trusted.overlay.opaque=y xattr on its directory. Refused, failing the whole
 * layer: absolute paths, ".." components, entries written through a symlink,
 * hard links whose target is absolute or climbs out, relative symlinks that
 * climb above the root. Device nodes in the layer are skipped (containers get
 * their /dev from the launcher). Needs root (ownership, whiteout devices,
 * trusted xattrs).
 *
 * Charges `budget` for what it writes, and refuses an uncompressed tar longer
 * than the budget's limits can explain (a header and padding per entry):
 * -EFBIG. Writes "sha256:<hex>" of the bytes read from fd into blob_digest and of
 * the uncompressed tar into diff_id. On error removes `name` and returns a
 * negative errno with a message. Uses the heap; not for the supervisor's
 * no-allocation paths.
 */
int ctr_layer_unpack(int fd, int parent_fd, const char *name, struct ctr_unpack_budget *budget,
		     char blob_digest[72], char diff_id[72], char *errmsg);

/*
 * Extracts an image archive (tar, any compression) into the new directory
 * `name` under parent_fd, with the same refusals as ctr_layer_unpack but no
 * whiteout handling; only files, directories and links are written, all
 * owned by the caller.
 */
int ctr_archive_extract(int fd, int parent_fd, const char *name, struct ctr_unpack_budget *budget,
			char *errmsg);

/*
 * Copies layer directories (bottom first) over `dest_fd`, applying their
 * overlayfs whiteouts and opaque directories: the fallback when overlayfs
 * cannot be mounted. Never follows a symlink of the layers or the
 * destination.
 */
int ctr_layers_copy(const char *const *layers, size_t n, int dest_fd, char *errmsg);

/* True when the entry at dirfd/name is an overlayfs whiteout (0/0 character device). */
bool ctr_layer_is_whiteout(int dirfd, const char *name);

#endif
