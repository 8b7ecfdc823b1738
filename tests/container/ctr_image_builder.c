/* Test image builder: layer tars with libarchive, digests, OCI and docker-save metadata. */
#include "ctr_image_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr_path.h"
#include "ctr_sha256.h"
#include "runtime/buf.h"

/* libarchive write callbacks into a keel_buf. */
static la_ssize_t buf_write_cb(struct archive *a, void *data, const void *p, size_t n)
{
	(void)a;
	return keel_buf_append(data, p, n) == 0 ? (la_ssize_t)n : -1;
}

static int buf_close_cb(struct archive *a, void *data)
{
	(void)a;
	(void)data;
	return ARCHIVE_OK;
}

static int read_host_file(const char *path, struct keel_buf *out)
{
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (keel_buf_append(out, chunk, (size_t)n) < 0) {
			close(fd);
			return -ENOMEM;
		}
	}
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Writes the layer as an uncompressed tar into out. */
static int layer_tar(const struct tib_layer *l, struct keel_buf *out)
{
	struct archive *a = archive_write_new();
	size_t i;
	int rv = 0;

	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open(a, out, NULL, buf_write_cb, buf_close_cb) != ARCHIVE_OK) {
		archive_write_free(a);
		return -EIO;
	}
	for (i = 0; i < l->n && rv == 0; i++) {
		const struct tib_entry *t = &l->entries[i];
		struct archive_entry *e = archive_entry_new();
		struct keel_buf content = KEEL_BUF_INIT;

		archive_entry_set_pathname(e, t->path);
		archive_entry_set_uid(e, t->uid);
		archive_entry_set_gid(e, t->gid);
		archive_entry_set_mtime(e, 1700000000, 0);
		switch (t->type) {
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, t->mode ? t->mode : 0755);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, t->data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, t->mode ? t->mode : 0644);
			archive_entry_set_hardlink(e, t->data);
			break;
		default:
			if (t->type == 'F')
				rv = read_host_file(t->data, &content);
			else
				rv = keel_buf_append(&content, t->data, strlen(t->data));
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, t->mode ? t->mode : 0644);
			archive_entry_set_size(e, (la_int64_t)keel_buf_size(&content));
			break;
		}
		if (rv == 0 && archive_write_header(a, e) != ARCHIVE_OK)
			rv = -EIO;
		if (rv == 0 && keel_buf_size(&content) > 0 &&
		    archive_write_data(a, keel_buf_rptr(&content), keel_buf_size(&content)) < 0)
			rv = -EIO;
		keel_buf_free(&content);
		archive_entry_free(e);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		rv = -EIO;
	archive_write_free(a);
	return rv;
}

/* gzip-compresses in into out (libarchive's raw format with the gzip filter). */
static int gzip_buf(const struct keel_buf *in, struct keel_buf *out)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int rv = 0;

	archive_write_set_format_raw(a);
	archive_write_add_filter_gzip(a);
	archive_write_set_bytes_per_block(a, 0);
	if (archive_write_open(a, out, NULL, buf_write_cb, buf_close_cb) != ARCHIVE_OK)
		rv = -EIO;
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)keel_buf_size(in));
	if (rv == 0 && archive_write_header(a, e) != ARCHIVE_OK)
		rv = -EIO;
	if (rv == 0 && archive_write_data(a, keel_buf_rptr(in), keel_buf_size(in)) < 0)
		rv = -EIO;
	if (archive_write_close(a) != ARCHIVE_OK)
		rv = -EIO;
	archive_entry_free(e);
	archive_write_free(a);
	return rv;
}

static void digest_of(const void *p, size_t n, char out[72])
{
	struct ctr_sha256 s;

	ctr_sha256_init(&s);
	ctr_sha256_update(&s, p, n);
	ctr_sha256_final_str(&s, out);
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX];
	int fd, rv = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, p, n) != (ssize_t)n)
		rv = -EIO;
	close(fd);
	return rv;
}

/* Everything an image turns into: blobs and their digests. */
struct built {
	struct keel_buf tar[8];	 /* uncompressed layer tars */
	struct keel_buf blob[8]; /* layer blobs as stored (gzip or not) */
	char diff[8][72];	 /* diff IDs */
	char blob_digest[8][72]; /* blob digests */
	struct keel_buf config;	 /* config JSON */
	char config_digest[72];	 /* its digest */
};

static void built_free(struct built *b)
{
	size_t i;

	for (i = 0; i < 8; i++) {
		keel_buf_free(&b->tar[i]);
		keel_buf_free(&b->blob[i]);
	}
	keel_buf_free(&b->config);
}

static int build(const struct tib_image *img, bool gzip, struct built *b)
{
	size_t i;
	int rv;

	memset(b, 0, sizeof(*b));
	if (img->n_layers > 8)
		return -E2BIG;
	for (i = 0; i < img->n_layers; i++) {
		rv = layer_tar(&img->layers[i], &b->tar[i]);
		if (rv < 0)
			return rv;
		digest_of(keel_buf_rptr(&b->tar[i]), keel_buf_size(&b->tar[i]), b->diff[i]);
		if (gzip)
			rv = gzip_buf(&b->tar[i], &b->blob[i]);
		else
			rv = keel_buf_append(&b->blob[i], keel_buf_rptr(&b->tar[i]),
					     keel_buf_size(&b->tar[i]));
		if (rv < 0)
			return rv;
		digest_of(keel_buf_rptr(&b->blob[i]), keel_buf_size(&b->blob[i]),
			  b->blob_digest[i]);
	}
	keel_buf_printf(&b->config,
			"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{%s},"
			"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[",
			img->config_json ? img->config_json : "");
	for (i = 0; i < img->n_layers; i++)
		keel_buf_printf(&b->config, "%s\"%s\"", i ? "," : "",
				i == 0 && img->bad_diff_id ? img->bad_diff_id : b->diff[i]);
	rv = keel_buf_puts(&b->config, "]}}");
	if (rv < 0)
		return rv;
	digest_of(keel_buf_rptr(&b->config), keel_buf_size(&b->config), b->config_digest);
	return 0;
}

int tib_write_oci_dir(const char *dir, const struct tib_image *img)
{
	struct keel_buf manifest = KEEL_BUF_INIT, index = KEEL_BUF_INIT;
	char blobs[PATH_MAX], mdigest[72];
	struct built b;
	size_t i;
	int rv;

	rv = build(img, img->gzip, &b);
	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", dir);
	if (rv == 0)
		rv = ctr_mkdir_p(blobs, 0755);
	for (i = 0; rv == 0 && i < img->n_layers; i++)
		rv = write_file(blobs, b.blob_digest[i] + 7, keel_buf_rptr(&b.blob[i]),
				keel_buf_size(&b.blob[i]));
	if (rv == 0)
		rv = write_file(blobs, b.config_digest + 7, keel_buf_rptr(&b.config),
				keel_buf_size(&b.config));
	keel_buf_printf(
	    &manifest,
	    "{\"schemaVersion\":2,\"mediaType\":\"application/"
	    "vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/"
	    "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
	    b.config_digest, keel_buf_size(&b.config));
	for (i = 0; i < img->n_layers; i++)
		keel_buf_printf(&manifest,
				"%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar%s\","
				"\"digest\":\"%s\",\"size\":%zu}",
				i ? "," : "", img->gzip ? "+gzip" : "", b.blob_digest[i],
				keel_buf_size(&b.blob[i]));
	keel_buf_puts(&manifest, "]}");
	digest_of(keel_buf_rptr(&manifest), keel_buf_size(&manifest), mdigest);
	if (rv == 0)
		rv = write_file(blobs, mdigest + 7, keel_buf_rptr(&manifest),
				keel_buf_size(&manifest));
	keel_buf_printf(&index,
			"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
			"vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu",
			mdigest, keel_buf_size(&manifest));
	if (img->ref != NULL)
		keel_buf_printf(&index,
				",\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}",
				img->ref);
	keel_buf_puts(&index, "}]}");
	if (rv == 0)
		rv = write_file(dir, "index.json", keel_buf_rptr(&index), keel_buf_size(&index));
	if (rv == 0)
		rv = write_file(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	keel_buf_free(&manifest);
	keel_buf_free(&index);
	built_free(&b);
	return rv;
}

/* Adds a regular file with the given bytes to an archive being written. */
static int tar_add(struct archive *a, const char *name, const void *p, size_t n)
{
	struct archive_entry *e = archive_entry_new();
	int rv = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_mtime(e, 1700000000, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK || (n > 0 && archive_write_data(a, p, n) < 0))
		rv = -EIO;
	archive_entry_free(e);
	return rv;
}

static struct archive *tar_create(const char *path)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		archive_write_free(a);
		return NULL;
	}
	return a;
}

int tib_write_oci_archive(const char *path, const struct tib_image *img)
{
	char dir[] = "/tmp/keel-oci-XXXXXX", sub[PATH_MAX];
	static const char *const top[] = {"oci-layout", "index.json"};
	struct archive *a;
	int rv;
	size_t i;

	if (mkdtemp(dir) == NULL)
		return -errno;
	rv = tib_write_oci_dir(dir, img);
	a = rv == 0 ? tar_create(path) : NULL;
	if (rv == 0 && a == NULL)
		rv = -EIO;
	for (i = 0; rv == 0 && i < 2; i++) {
		struct keel_buf content = KEEL_BUF_INIT;

		snprintf(sub, sizeof(sub), "%s/%s", dir, top[i]);
		rv = read_host_file(sub, &content);
		if (rv == 0)
			rv = tar_add(a, top[i], keel_buf_rptr(&content), keel_buf_size(&content));
		keel_buf_free(&content);
	}
	if (rv == 0) {
		/* Every blob, by listing the directory. */
		struct keel_buf content = KEEL_BUF_INIT;
		struct dirent *de;
		DIR *d;

		snprintf(sub, sizeof(sub), "%s/blobs/sha256", dir);
		d = opendir(sub);
		while (rv == 0 && d != NULL && (de = readdir(d)) != NULL) {
			char entry[256], file[PATH_MAX];

			if (de->d_name[0] == '.')
				continue;
			if (snprintf(file, sizeof(file), "%s/%s", sub, de->d_name) >=
				(int)sizeof(file) ||
			    snprintf(entry, sizeof(entry), "blobs/sha256/%s", de->d_name) >=
				(int)sizeof(entry)) {
				rv = -ENAMETOOLONG;
				break;
			}
			keel_buf_clear(&content);
			rv = read_host_file(file, &content);
			if (rv == 0)
				rv = tar_add(a, entry, keel_buf_rptr(&content),
					     keel_buf_size(&content));
		}
		if (d != NULL)
			closedir(d);
		keel_buf_free(&content);
	}
	if (a != NULL) {
		archive_write_close(a);
		archive_write_free(a);
	}
	ctr_remove_tree_at(AT_FDCWD, dir);
	return rv;
}

int tib_write_docker_archive(const char *path, const struct tib_image *img)
{
	struct keel_buf manifest = KEEL_BUF_INIT;
	char name[128];
	struct archive *a;
	struct built b;
	size_t i;
	int rv;

	rv = build(img, false, &b);
	a = rv == 0 ? tar_create(path) : NULL;
	if (rv == 0 && a == NULL)
		rv = -EIO;
	snprintf(name, sizeof(name), "%s.json", b.config_digest + 7);
	if (rv == 0)
		rv = tar_add(a, name, keel_buf_rptr(&b.config), keel_buf_size(&b.config));
	keel_buf_printf(&manifest, "[{\"Config\":\"%s\",\"RepoTags\":[", name);
	if (img->ref != NULL)
		keel_buf_printf(&manifest, "\"%s\"", img->ref);
	keel_buf_puts(&manifest, "],\"Layers\":[");
	for (i = 0; rv == 0 && i < img->n_layers; i++) {
		snprintf(name, sizeof(name), "%.12s/layer.tar", b.diff[i] + 7);
		rv = tar_add(a, name, keel_buf_rptr(&b.blob[i]), keel_buf_size(&b.blob[i]));
		keel_buf_printf(&manifest, "%s\"%s\"", i ? "," : "", name);
	}
	keel_buf_puts(&manifest, "]}]");
	if (rv == 0)
		rv =
		    tar_add(a, "manifest.json", keel_buf_rptr(&manifest), keel_buf_size(&manifest));
	if (a != NULL) {
		archive_write_close(a);
		archive_write_free(a);
	}
	keel_buf_free(&manifest);
	built_free(&b);
	return rv;
}

struct tib_layer tib_busybox_layer(void)
{
	static const struct tib_entry entries[] = {
	    {"bin/", 'd', NULL, 0755, 0, 0},
	    {"bin/busybox", 'F', "/bin/busybox", 0755, 0, 0},
	    {"bin/sh", 'l', "busybox", 0, 0, 0},
	    {"bin/id", 'l', "busybox", 0, 0, 0},
	    {"bin/cat", 'l', "busybox", 0, 0, 0},
	    {"bin/head", 'l', "busybox", 0, 0, 0},
	    {"bin/ls", 'l', "/bin/busybox", 0, 0, 0},
	    {"bin/echo", 'l', "busybox", 0, 0, 0},
	    {"bin/touch", 'l', "busybox", 0, 0, 0},
	    {"bin/busybox-hardlink", 'h', "bin/busybox", 0755, 0, 0},
	    {"etc/", 'd', NULL, 0755, 0, 0},
	    {"etc/passwd", 'f', "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/work:/bin/sh\n",
	     0, 0, 0},
	    {"etc/group", 'f', "root:x:0:\napp:x:1000:\nextra:x:2000:app,other\n", 0, 0, 0},
	    {"tmp/", 'd', NULL, 01777, 0, 0},
	    {"removeme", 'f', "gone in layer 2\n", 0, 0, 0},
	    {"opaque/", 'd', NULL, 0755, 0, 0},
	    {"opaque/lower", 'f', "hidden by layer 2\n", 0, 0, 0},
	};
	struct tib_layer l = {entries, sizeof(entries) / sizeof(entries[0])};

	return l;
}
