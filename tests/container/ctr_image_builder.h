/* Test helper: builds images at test time as OCI layouts, OCI archives and docker-save archives. */
#ifndef KEEL_TESTS_CTR_IMAGE_BUILDER_H
#define KEEL_TESTS_CTR_IMAGE_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One entry of a layer tar. */
struct tib_entry {
	const char *path;  /* name in the tar, written as given (may be hostile) */
	char type;	   /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'F' file from host */
	const char *data;  /* file content, link target, or host path for 'F' */
	unsigned mode;	   /* permission bits (0 = 0755 dirs, 0644 files) */
	unsigned uid, gid; /* owner */
};

/* One layer: its entries and whether the blob is gzip-compressed (OCI only). */
struct tib_layer {
	const struct tib_entry *entries; /* entries in tar order */
	size_t n;			 /* how many */
};

/* An image to write: layers (bottom first) and the "config" object's JSON members. */
struct tib_image {
	const struct tib_layer *layers; /* bottom first */
	size_t n_layers;		/* how many */
	const char *config_json;	/* members of "config", e.g. "\"Cmd\":[\"sh\"]" */
	const char *ref;		/* "name:tag" recorded in the archive, or NULL */
	bool gzip;			/* compress OCI layer blobs */
	const char *bad_diff_id;	/* if set, written in place of the first diff_id */
};

/* Writes an OCI image layout directory at dir (created). Returns 0 or -errno. */
int tib_write_oci_dir(const char *dir, const struct tib_image *img);

/* Writes a tar archive of an OCI image layout at path. */
int tib_write_oci_archive(const char *path, const struct tib_image *img);

/* Writes a `docker save` archive at path. */
int tib_write_docker_archive(const char *path, const struct tib_image *img);

/* The busybox base layer (busybox, applet links, /etc/passwd with app:1000, ...). */
struct tib_layer tib_busybox_layer(void);

#endif
