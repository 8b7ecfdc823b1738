/* The local image store: import OCI layouts and docker-save archives, resolve references. */
#ifndef KEEL_CTR_IMAGE_H
#define KEEL_CTR_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "containerizer.h"

/*
 * Layout under the image dir:
 *
 *	layers/<hex>/	one unpacked layer per diff ID (sha256 of its tar), overlayfs whiteouts
 *	images/<hex>/	one image per config digest: config.json, layers (diff IDs, bottom first)
 *	refs/<ref>	"name:tag" (percent-encoded) -> "sha256:<config hex>"
 *	tmp/		work in progress; every entry above appears by rename, complete
 *
 * Readers (launch) only see complete entries; concurrent imports of the same
 * layer race harmlessly (one rename wins).
 */

/* An image resolved for a launch. Heap-owned; free with ctr_image_free. */
struct ctr_image {
	char id[72];	   /* "sha256:<config hex>" */
	char **layers;	   /* absolute layer dirs, bottom first, NULL-terminated */
	size_t n_layers;   /* entries in layers */
	char **entrypoint; /* config Entrypoint, NULL-terminated, or NULL */
	char **cmd;	   /* config Cmd, or NULL */
	char **env;	   /* config Env ("K=V"), or NULL */
	char *workdir;	   /* config WorkingDir, or NULL */
	char *user;	   /* config User, or NULL */
};

/*
 * Finds `ref` ("name[:tag]", tag "latest" by default, or "sha256:<hex>" of
 * the image config) and loads its config. -ENOENT "no image ..." when absent,
 * -EINVAL for a malformed reference or a damaged store entry.
 */
int ctr_image_resolve(const char *image_dir, const char *ref, struct ctr_image **out, char *errmsg);
void ctr_image_free(struct ctr_image *img);

/*
 * Imports an OCI image layout (directory or tar archive) or a `docker save`
 * archive: verifies every digest, unpacks new layers (ctr_layer_unpack),
 * records the image and its references (those the archive names, plus `ref`
 * if not NULL, applied to the first image). Writes the first image's ID.
 * Blocks for as long as unpacking takes; needs root.
 */
int ctr_image_import(const char *image_dir, const char *path, const char *ref,
		     const struct keel_ctr_import_limits *limits, char id_out[72], char *errmsg);

/* Normalizes a reference: adds ":latest" when untagged; -EINVAL for bad ones. */
int ctr_image_ref_normalize(const char *ref, char *out, size_t n, char *errmsg);

/*
 * Resolves a user spec ("name", "uid", "name:group", "uid:gid") against the
 * image's /etc/passwd and /etc/group (topmost layer that has them, honouring
 * whiteouts), as Docker does: a uid without an entry gets gid 0. Supplementary
 * groups are those listing the user by name. *groups is heap-owned.
 */
int ctr_image_user(const struct ctr_image *img, const char *spec, uid_t *uid, gid_t *gid,
		   gid_t **groups, size_t *ngroups, char *errmsg);

/* Calls fn for each reference in the store (ref, image ID). Returns how many, or -errno. */
int ctr_image_list(const char *image_dir, void (*fn)(void *, const char *, const char *),
		   void *arg);

#endif
