/* Image store: import OCI layouts and docker-save archives, refs, config, users in the image. */
#include "ctr_image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ctr_checkpoint.h"
#include "ctr_layer.h"
#include "ctr_path.h"
#include "ctr_sha256.h"
#include "ctr_sys.h"
#include "runtime/alloc.h"
#include "runtime/err.h"

/* Largest JSON document (index, manifest, config) accepted. */
#define MAX_JSON (4 << 20)
#define MAX_LAYERS 128

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define REF_ANNOTATION "org.opencontainers.image.ref.name"

/* True for "sha256:" followed by 64 lower-case hex digits. */
static bool digest_valid(const char *d)
{
	size_t i;

	if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
		return false;
	for (i = 7; i < 71; i++) {
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	}
	return true;
}

static int rand_name(char *out, size_t n, const char *prefix)
{
	unsigned char r[8];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	snprintf(out, n, "%s%02x%02x%02x%02x%02x%02x%02x%02x", prefix, r[0], r[1], r[2], r[3], r[4],
		 r[5], r[6], r[7]);
	return 0;
}

/* Opens `rel` beneath root (no escape through "..", absolute paths or symlinks out). */
static int open_beneath(int rootfd, const char *rel)
{
	return ctr_openat2(rootfd, rel, O_RDONLY | O_CLOEXEC,
			   RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
}

/* Reads a whole small file from fd; *out is heap-owned and NUL-terminated. */
static int read_all(int fd, char **out, size_t *len, char *errmsg, const char *what)
{
	size_t cap = 4096, off = 0;
	char *buf = keel_malloc(cap + 1);

	if (buf == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t n;

		if (off == cap) {
			char *bigger;
			if (cap >= MAX_JSON) {
				keel_free(buf);
				return keel_errf(errmsg, -EFBIG, "%s: larger than %d bytes", what,
						 MAX_JSON);
			}
			cap *= 2;
			bigger = keel_realloc(buf, cap + 1);
			if (bigger == NULL) {
				keel_free(buf);
				return keel_errf(errmsg, -ENOMEM, "out of memory");
			}
			buf = bigger;
		}
		n = read(fd, buf + off, cap - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			keel_free(buf);
			return keel_errno_f(errmsg, -e, "read %s", what);
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	*out = buf;
	*len = off;
	return 0;
}

/* Reads rel under root, verifying its sha256 when `digest` is given. */
static int read_blob(int rootfd, const char *rel, const char *digest, char **out, size_t *len,
		     char *errmsg)
{
	struct ctr_sha256 h;
	char got[72];
	int fd, rv;

	fd = open_beneath(rootfd, rel);
	if (fd < 0)
		return keel_errno_f(errmsg, -errno, "%s", rel);
	rv = read_all(fd, out, len, errmsg, rel);
	close(fd);
	if (rv < 0 || digest == NULL)
		return rv;
	ctr_sha256_init(&h);
	ctr_sha256_update(&h, *out, *len);
	ctr_sha256_final_str(&h, got);
	if (strcmp(got, digest) != 0) {
		keel_free(*out);
		*out = NULL;
		return keel_errf(errmsg, -EINVAL, "%s: digest mismatch (content is %s)", rel, got);
	}
	return 0;
}

static int blob_path(const char *digest, char *out, size_t n)
{
	if (!digest_valid(digest))
		return -EINVAL;
	snprintf(out, n, "blobs/sha256/%s", digest + 7);
	return 0;
}

static json_t *parse_json(const char *buf, size_t len, const char *what, char *errmsg)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

	if (j == NULL)
		keel_errf(errmsg, -EINVAL, "%s: bad JSON at line %d: %s", what, jerr.line,
			  jerr.text);
	else if (!json_is_object(j) && !json_is_array(j)) {
		json_decref(j);
		keel_errf(errmsg, -EINVAL, "%s: not a JSON object", what);
		j = NULL;
	}
	return j;
}

int ctr_image_ref_normalize(const char *ref, char *out, size_t n, char *errmsg)
{
	const char *slash, *colon;
	size_t i, len;

	if (ref == NULL || ref[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "image reference is empty");
	len = strlen(ref);
	if (len > 200)
		return keel_errf(errmsg, -EINVAL, "image reference '%.40s...' is too long", ref);
	for (i = 0; i < len; i++) {
		char c = ref[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@'))
			return keel_errf(errmsg, -EINVAL, "image reference '%s': bad character",
					 ref);
	}
	if (ref[0] == '/' || ref[0] == '.' || ref[0] == ':' || ctr_path_has_dotdot(ref) ||
	    strstr(ref, "//") != NULL)
		return keel_errf(errmsg, -EINVAL, "image reference '%s' is malformed", ref);
	slash = strrchr(ref, '/');
	colon = strrchr(ref, ':');
	if (colon != NULL && colon[1] == '\0')
		return keel_errf(errmsg, -EINVAL, "image reference '%s': empty tag", ref);
	if (colon == NULL || (slash != NULL && colon < slash))
		snprintf(out, n, "%s:latest", ref);
	else
		snprintf(out, n, "%s", ref);
	return 0;
}

/* A reference as a file name under refs/: everything but [A-Za-z0-9._:-] percent-encoded. */
static void ref_file(const char *ref, char *out, size_t n)
{
	size_t off = 0;

	for (; *ref != '\0' && off + 4 < n; ref++) {
		char c = *ref;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-' || c == ':')
			out[off++] = c;
		else
			off += (size_t)snprintf(out + off, n - off, "%%%02X", (unsigned char)c);
	}
	out[off] = '\0';
}

static void ref_unfile(const char *name, char *out, size_t n)
{
	size_t off = 0;

	for (; *name != '\0' && off + 1 < n; name++) {
		unsigned v;
		if (name[0] == '%' && sscanf(name + 1, "%2X", &v) == 1) {
			out[off++] = (char)v;
			name += 2;
		} else {
			out[off++] = *name;
		}
	}
	out[off] = '\0';
}

/* Opens (creating) the store's top directories; returns an fd on image_dir. */
static int store_open(const char *image_dir, char *errmsg)
{
	static const char *const subdirs[] = {"layers", "images", "refs", "tmp"};
	size_t i;
	int fd, rv = ctr_mkdir_p(image_dir, 0700);

	if (rv < 0)
		return keel_errno_f(errmsg, rv, "create %s", image_dir);
	fd = open(image_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return keel_errno_f(errmsg, -errno, "open %s", image_dir);
	for (i = 0; i < KEEL_ARRAY_SIZE(subdirs); i++) {
		if (mkdirat(fd, subdirs[i], 0700) < 0 && errno != EEXIST) {
			int e = errno;
			close(fd);
			return keel_errno_f(errmsg, -e, "create %s/%s", image_dir, subdirs[i]);
		}
	}
	return fd;
}

/* Writes refs/<ref> -> id atomically. */
static int write_ref(int storefd, const char *ref, const char *id, char *errmsg)
{
	char norm[256], name[512], line[80];
	int refs, rv;

	rv = ctr_image_ref_normalize(ref, norm, sizeof(norm), errmsg);
	if (rv < 0)
		return rv;
	ref_file(norm, name, sizeof(name));
	refs = openat(storefd, "refs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (refs < 0)
		return keel_errno_f(errmsg, -errno, "open refs");
	snprintf(line, sizeof(line), "%s\n", id);
	rv = ctr_ckpt_write(refs, name, line, strlen(line), true);
	close(refs);
	return rv < 0 ? keel_errno_f(errmsg, rv, "record reference %s", norm) : 0;
}

/* The layers of one image being imported. */
struct import_layer {
	char path[PATH_MAX]; /* blob path relative to the source root */
	char blob[72];	     /* expected blob digest, or "" (docker: the blob is the tar) */
	char diff[72];	     /* expected diff ID from the config */
};

/* Unpacks (or finds cached) one layer into layers/<diff hex>. */
static int import_layer(int storefd, int srcfd, const struct import_layer *l,
			struct ctr_unpack_budget *budget, char *errmsg)
{
	char tmpname[64], blob[72], diff[72], final[80];
	int fd, tmpfd, layersfd, rv;
	struct stat st;

	snprintf(final, sizeof(final), "layers/%s", l->diff + 7);
	if (fstatat(storefd, final, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		return 0; /* cached: shared with every image that has it */
	fd = open_beneath(srcfd, l->path);
	if (fd < 0)
		return keel_errno_f(errmsg, -errno, "layer %s", l->path);
	rv = rand_name(tmpname, sizeof(tmpname), "layer-");
	tmpfd = openat(storefd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rv < 0 || tmpfd < 0) {
		close(fd);
		if (tmpfd >= 0)
			close(tmpfd);
		return keel_errno_f(errmsg, rv < 0 ? rv : -errno, "store tmp dir");
	}
	rv = ctr_layer_unpack(fd, tmpfd, tmpname, budget, blob, diff, errmsg);
	close(fd);
	if (rv < 0) {
		close(tmpfd);
		return keel_errwrap(errmsg, rv, "layer %s", l->path);
	}
	if (l->blob[0] != '\0' && strcmp(blob, l->blob) != 0)
		rv = keel_errf(errmsg, -EINVAL, "layer %s: digest mismatch (content is %s)",
			       l->path, blob);
	else if (strcmp(diff, l->diff) != 0)
		rv = keel_errf(errmsg, -EINVAL, "layer %s: its tar is %s but the config says %s",
			       l->path, diff, l->diff);
	if (rv == 0) {
		layersfd = openat(storefd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (layersfd < 0 || renameat(tmpfd, tmpname, layersfd, l->diff + 7) < 0) {
			/* Another import may have won the race: then its layer is as good. */
			if (errno != EEXIST && errno != ENOTEMPTY)
				rv = keel_errno_f(errmsg, -errno, "store layer %s", l->diff);
		}
		if (layersfd >= 0)
			close(layersfd);
	}
	ctr_remove_tree_at(tmpfd, tmpname);
	close(tmpfd);
	return rv;
}

/* Records images/<hex>/{config.json,layers}. */
static int write_image(int storefd, const char *id, const char *config, size_t config_len,
		       struct import_layer *layers, size_t n, char *errmsg)
{
	char tmpname[64], final[80], list[MAX_LAYERS * 73 + 1];
	int tmpfd, dfd, imagesfd, rv;
	size_t i, off = 0;

	snprintf(final, sizeof(final), "images/%s", id + 7);
	if (faccessat(storefd, final, F_OK, 0) == 0)
		return 0;
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s\n", layers[i].diff);
	rv = rand_name(tmpname, sizeof(tmpname), "image-");
	tmpfd = openat(storefd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rv < 0 || tmpfd < 0 || mkdirat(tmpfd, tmpname, 0755) < 0) {
		rv = keel_errno_f(errmsg, -errno, "store image %s", id);
		goto out;
	}
	dfd = openat(tmpfd, tmpname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rv = keel_errno_f(errmsg, -errno, "store image %s", id);
		goto out;
	}
	rv = ctr_ckpt_write(dfd, "config.json", config, config_len, true);
	if (rv == 0)
		rv = ctr_ckpt_write(dfd, "layers", list, off, true);
	close(dfd);
	if (rv < 0) {
		keel_errno_f(errmsg, rv, "store image %s", id);
		goto out;
	}
	imagesfd = openat(storefd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (imagesfd < 0 || renameat(tmpfd, tmpname, imagesfd, id + 7) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY)
			rv = keel_errno_f(errmsg, -errno, "store image %s", id);
	}
	if (imagesfd >= 0) {
		fsync(imagesfd);
		close(imagesfd);
	}
out:
	if (tmpfd >= 0) {
		ctr_remove_tree_at(tmpfd, tmpname);
		close(tmpfd);
	}
	return rv;
}

/* Imports one image given its config bytes and layer list; writes id_out. */
static int import_image(int storefd, int srcfd, const char *config, size_t config_len,
			struct import_layer *layers, size_t n, struct ctr_unpack_budget *budget,
			char id_out[72], char *errmsg)
{
	struct ctr_sha256 h;
	json_t *cfg, *diffs, *v;
	size_t i;
	int rv = 0;

	ctr_sha256_init(&h);
	ctr_sha256_update(&h, config, config_len);
	ctr_sha256_final_str(&h, id_out);
	cfg = parse_json(config, config_len, "image config", errmsg);
	if (cfg == NULL)
		return -EINVAL;
	diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	if (!json_is_array(diffs) || json_array_size(diffs) != n) {
		json_decref(cfg);
		return keel_errf(errmsg, -EINVAL,
				 "image config: rootfs.diff_ids does not match the %zu layers", n);
	}
	json_array_foreach(diffs, i, v)
	{
		const char *d = json_string_value(v);
		if (!digest_valid(d)) {
			rv = keel_errf(errmsg, -EINVAL, "image config: bad diff_id");
			break;
		}
		snprintf(layers[i].diff, sizeof(layers[i].diff), "%s", d);
	}
	json_decref(cfg);
	for (i = 0; rv == 0 && i < n; i++)
		rv = import_layer(storefd, srcfd, &layers[i], budget, errmsg);
	if (rv == 0)
		rv = write_image(storefd, id_out, config, config_len, layers, n, errmsg);
	return rv;
}

/* Picks the manifest for this machine from an index's "manifests". */
static json_t *pick_manifest(json_t *manifests)
{
	static const struct {
		const char *uname;
		const char *oci;
	} arches[] = {{"x86_64", "amd64"},    {"aarch64", "arm64"}, {"armv7l", "arm"},
		      {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"}};
	struct utsname u;
	const char *arch = NULL;
	json_t *m, *first = NULL;
	size_t i, k;

	if (uname(&u) == 0) {
		for (k = 0; k < KEEL_ARRAY_SIZE(arches); k++) {
			if (strcmp(u.machine, arches[k].uname) == 0)
				arch = arches[k].oci;
		}
	}
	json_array_foreach(manifests, i, m)
	{
		json_t *plat = json_object_get(m, "platform");
		const char *a = json_string_value(json_object_get(plat, "architecture"));
		const char *os = json_string_value(json_object_get(plat, "os"));

		if (first == NULL)
			first = m;
		if (plat == NULL)
			return m;
		if (arch != NULL && a != NULL && strcmp(a, arch) == 0 &&
		    (os == NULL || strcmp(os, "linux") == 0))
			return m;
	}
	return first;
}

/* OCI image layout at srcfd: every manifest named by index.json. */
static int import_oci(int storefd, int srcfd, const char *ref, struct ctr_unpack_budget *budget,
		      char id_out[72], char *errmsg)
{
	char *buf = NULL, path[128];
	size_t len, i;
	json_t *index, *manifests, *desc;
	int rv, imported = 0;

	rv = read_blob(srcfd, "index.json", NULL, &buf, &len, errmsg);
	if (rv < 0)
		return rv;
	index = parse_json(buf, len, "index.json", errmsg);
	keel_free(buf);
	if (index == NULL)
		return -EINVAL;
	manifests = json_object_get(index, "manifests");
	if (!json_is_array(manifests) || json_array_size(manifests) == 0) {
		json_decref(index);
		return keel_errf(errmsg, -EINVAL, "index.json lists no manifests");
	}
	json_array_foreach(manifests, i, desc)
	{
		const char *digest = json_string_value(json_object_get(desc, "digest"));
		const char *mt = json_string_value(json_object_get(desc, "mediaType"));
		const char *name = json_string_value(
		    json_object_get(json_object_get(desc, "annotations"), REF_ANNOTATION));
		struct import_layer *layers = NULL;
		json_t *manifest = NULL, *jl, *l;
		char *mbuf = NULL, *cbuf = NULL, id[72];
		size_t mlen, clen, k, n;

		if (blob_path(digest, path, sizeof(path)) < 0) {
			rv = keel_errf(errmsg, -EINVAL, "index.json: bad manifest digest");
			break;
		}
		rv = read_blob(srcfd, path, digest, &mbuf, &mlen, errmsg);
		if (rv < 0)
			break;
		manifest = parse_json(mbuf, mlen, "manifest", errmsg);
		keel_free(mbuf);
		mbuf = NULL;
		if (manifest == NULL) {
			rv = -EINVAL;
			break;
		}
		if (mt != NULL &&
		    (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0)) {
			/* A multi-platform index: take this machine's manifest. */
			json_t *sub = pick_manifest(json_object_get(manifest, "manifests"));
			const char *sd = json_string_value(json_object_get(sub, "digest"));

			if (blob_path(sd, path, sizeof(path)) < 0) {
				json_decref(manifest);
				rv = keel_errf(errmsg, -EINVAL, "image index: no usable manifest");
				break;
			}
			rv = read_blob(srcfd, path, sd, &mbuf, &mlen, errmsg);
			json_decref(manifest);
			manifest = NULL;
			if (rv == 0) {
				manifest = parse_json(mbuf, mlen, "manifest", errmsg);
				keel_free(mbuf);
			}
			if (manifest == NULL) {
				rv = rv < 0 ? rv : -EINVAL;
				break;
			}
		}
		const char *cdigest = json_string_value(
		    json_object_get(json_object_get(manifest, "config"), "digest"));
		jl = json_object_get(manifest, "layers");
		n = json_is_array(jl) ? json_array_size(jl) : 0;
		if (blob_path(cdigest, path, sizeof(path)) < 0 || !json_is_array(jl) ||
		    n > MAX_LAYERS) {
			json_decref(manifest);
			rv = keel_errf(errmsg, -EINVAL, "manifest: bad config or layers");
			break;
		}
		rv = read_blob(srcfd, path, cdigest, &cbuf, &clen, errmsg);
		layers = rv == 0 ? keel_calloc(n ? n : 1, sizeof(*layers)) : NULL;
		if (rv == 0 && layers == NULL)
			rv = keel_errf(errmsg, -ENOMEM, "out of memory");
		json_array_foreach(jl, k, l)
		{
			const char *ld = json_string_value(json_object_get(l, "digest"));

			if (rv < 0)
				break;
			if (blob_path(ld, layers[k].path, sizeof(layers[k].path)) < 0) {
				rv = keel_errf(errmsg, -EINVAL, "manifest: bad layer digest");
				break;
			}
			snprintf(layers[k].blob, sizeof(layers[k].blob), "%s", ld);
		}
		json_decref(manifest);
		if (rv == 0)
			rv =
			    import_image(storefd, srcfd, cbuf, clen, layers, n, budget, id, errmsg);
		keel_free(cbuf);
		keel_free(layers);
		if (rv < 0)
			break;
		if (imported == 0)
			memcpy(id_out, id, 72);
		if (name != NULL && (strchr(name, ':') || strchr(name, '/')))
			rv = write_ref(storefd, name, id, errmsg);
		if (rv == 0 && imported == 0 && ref != NULL)
			rv = write_ref(storefd, ref, id, errmsg);
		if (rv < 0)
			break;
		imported++;
	}
	json_decref(index);
	return rv;
}

/* `docker save` archive at srcfd: manifest.json with Config, RepoTags and Layers. */
static int import_docker(int storefd, int srcfd, const char *ref, struct ctr_unpack_budget *budget,
			 char id_out[72], char *errmsg)
{
	char *buf = NULL;
	size_t len, i;
	json_t *list, *img;
	int rv, imported = 0;

	rv = read_blob(srcfd, "manifest.json", NULL, &buf, &len, errmsg);
	if (rv < 0)
		return rv;
	list = parse_json(buf, len, "manifest.json", errmsg);
	keel_free(buf);
	if (list == NULL)
		return -EINVAL;
	if (!json_is_array(list) || json_array_size(list) == 0) {
		json_decref(list);
		return keel_errf(errmsg, -EINVAL, "manifest.json lists no image");
	}
	json_array_foreach(list, i, img)
	{
		const char *config = json_string_value(json_object_get(img, "Config"));
		json_t *jl = json_object_get(img, "Layers"),
		       *tags = json_object_get(img, "RepoTags");
		struct import_layer *layers;
		char *cbuf = NULL, id[72];
		size_t clen, k, n = json_is_array(jl) ? json_array_size(jl) : 0;
		json_t *v;

		if (config == NULL || !json_is_array(jl) || n > MAX_LAYERS) {
			rv = keel_errf(errmsg, -EINVAL, "manifest.json: bad Config or Layers");
			break;
		}
		rv = read_blob(srcfd, config, NULL, &cbuf, &clen, errmsg);
		if (rv < 0)
			break;
		layers = keel_calloc(n ? n : 1, sizeof(*layers));
		if (layers == NULL) {
			keel_free(cbuf);
			rv = keel_errf(errmsg, -ENOMEM, "out of memory");
			break;
		}
		json_array_foreach(jl, k, v)
		{
			const char *p = json_string_value(v);
			if (p == NULL || strlen(p) >= sizeof(layers[k].path)) {
				rv = keel_errf(errmsg, -EINVAL, "manifest.json: bad layer path");
				break;
			}
			snprintf(layers[k].path, sizeof(layers[k].path), "%s", p);
		}
		if (rv == 0)
			rv =
			    import_image(storefd, srcfd, cbuf, clen, layers, n, budget, id, errmsg);
		keel_free(cbuf);
		keel_free(layers);
		if (rv < 0)
			break;
		if (imported == 0)
			memcpy(id_out, id, 72);
		json_array_foreach(tags, k, v)
		{
			if (rv == 0 && json_string_value(v) != NULL)
				rv = write_ref(storefd, json_string_value(v), id, errmsg);
		}
		if (rv == 0 && imported == 0 && ref != NULL)
			rv = write_ref(storefd, ref, id, errmsg);
		if (rv < 0)
			break;
		imported++;
	}
	json_decref(list);
	return rv;
}

int ctr_image_import(const char *image_dir, const char *path, const char *ref,
		     const struct keel_ctr_import_limits *limits, char id_out[72], char *errmsg)
{
	struct ctr_unpack_budget budget;
	char tmpname[64];
	struct stat st;
	int storefd, srcfd = -1, tmpfd = -1, rv;
	bool extracted = false;

	if (ref != NULL) {
		char norm[256];
		rv = ctr_image_ref_normalize(ref, norm, sizeof(norm), errmsg);
		if (rv < 0)
			return rv;
	}
	if (stat(path, &st) < 0)
		return keel_errno_f(errmsg, -errno, "image %s", path);
	ctr_unpack_budget_init(
	    &budget, limits && limits->max_bytes ? limits->max_bytes : KEEL_CTR_IMPORT_MAX_BYTES,
	    limits && limits->max_entries ? limits->max_entries : KEEL_CTR_IMPORT_MAX_ENTRIES);
	storefd = store_open(image_dir, errmsg);
	if (storefd < 0)
		return storefd;
	if (S_ISDIR(st.st_mode)) {
		srcfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (srcfd < 0)
			rv = keel_errno_f(errmsg, -errno, "open %s", path);
	} else {
		/* An archive: unpack it into the store's tmp dir first, with the layer rules. */
		int afd = open(path, O_RDONLY | O_CLOEXEC);

		rv = rand_name(tmpname, sizeof(tmpname), "import-");
		tmpfd = openat(storefd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (afd < 0 || tmpfd < 0 || rv < 0) {
			rv = keel_errno_f(errmsg, afd < 0 || tmpfd < 0 ? -errno : rv, "open %s",
					  path);
		} else {
			rv = ctr_archive_extract(afd, tmpfd, tmpname, &budget, errmsg);
			if (rv == 0) {
				extracted = true;
				srcfd = openat(tmpfd, tmpname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (srcfd < 0)
					rv = keel_errno_f(errmsg, -errno, "open extracted archive");
			} else {
				keel_errwrap(errmsg, rv, "%s", path);
			}
		}
		if (afd >= 0)
			close(afd);
		if (rv < 0)
			srcfd = -1;
	}
	if (srcfd >= 0) {
		if (faccessat(srcfd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
		    faccessat(srcfd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			rv = import_oci(storefd, srcfd, ref, &budget, id_out, errmsg);
		else if (faccessat(srcfd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			rv = import_docker(storefd, srcfd, ref, &budget, id_out, errmsg);
		else
			rv = keel_errf(errmsg, -EINVAL,
				       "%s: neither an OCI image layout nor a docker save archive",
				       path);
		close(srcfd);
	}
	if (extracted)
		ctr_remove_tree_at(tmpfd, tmpname);
	if (tmpfd >= 0)
		close(tmpfd);
	close(storefd);
	return rv;
}

/* Copies a JSON array of strings into a NULL-terminated heap array (NULL for absent/null). */
static int strv_from_json(json_t *a, char ***out)
{
	size_t i, n;
	json_t *v;

	*out = NULL;
	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return -EINVAL;
	n = json_array_size(a);
	*out = keel_calloc(n + 1, sizeof(char *));
	if (*out == NULL)
		return -ENOMEM;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return -EINVAL;
		(*out)[i] = keel_strdup(json_string_value(v));
		if ((*out)[i] == NULL)
			return -ENOMEM;
	}
	return 0;
}

static void strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		keel_free(v[i]);
	keel_free(v);
}

void ctr_image_free(struct ctr_image *img)
{
	if (img == NULL)
		return;
	strv_free(img->layers);
	strv_free(img->entrypoint);
	strv_free(img->cmd);
	strv_free(img->env);
	keel_free(img->workdir);
	keel_free(img->user);
	keel_free(img);
}

static int dup_nonempty(json_t *s, char **out)
{
	const char *v = json_string_value(s);

	*out = NULL;
	if (v == NULL || v[0] == '\0')
		return 0;
	*out = keel_strdup(v);
	return *out == NULL ? -ENOMEM : 0;
}

int ctr_image_resolve(const char *image_dir, const char *ref, struct ctr_image **out, char *errmsg)
{
	char norm[256], name[512], path[PATH_MAX], line[128], *buf = NULL, *p;
	struct ctr_image *img;
	json_t *cfg = NULL, *c;
	size_t len, n = 0;
	int dfd, fd, rv;

	*out = NULL;
	if (digest_valid(ref)) {
		snprintf(line, sizeof(line), "%s", ref);
	} else {
		rv = ctr_image_ref_normalize(ref, norm, sizeof(norm), errmsg);
		if (rv < 0)
			return rv;
		ref_file(norm, name, sizeof(name));
		snprintf(path, sizeof(path), "%s/refs/%s", image_dir, name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return keel_errf(errmsg, -ENOENT, "no image '%s' in %s (import it first)",
					 norm, image_dir);
		ssize_t r = read(fd, line, sizeof(line) - 1);
		close(fd);
		line[r > 0 ? r : 0] = '\0';
		if ((p = strchr(line, '\n')) != NULL)
			*p = '\0';
		if (!digest_valid(line))
			return keel_errf(errmsg, -EINVAL, "image '%s': damaged reference", norm);
	}
	snprintf(path, sizeof(path), "%s/images/%s", image_dir, line + 7);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return keel_errf(errmsg, -ENOENT, "no image %s in %s", line, image_dir);
	img = keel_calloc(1, sizeof(*img));
	if (img == NULL) {
		close(dfd);
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	}
	snprintf(img->id, sizeof(img->id), "%.71s", line);
	/* The layer list: one digest per line, bottom first. */
	rv = read_blob(dfd, "layers", NULL, &buf, &len, errmsg);
	if (rv == 0) {
		img->layers = keel_calloc(MAX_LAYERS + 1, sizeof(char *));
		if (img->layers == NULL)
			rv = keel_errf(errmsg, -ENOMEM, "out of memory");
		for (p = buf; rv == 0 && *p != '\0';) {
			char *nl = strchr(p, '\n');
			struct stat st;

			if (nl != NULL)
				*nl = '\0';
			if (!digest_valid(p) || n == MAX_LAYERS) {
				rv = keel_errf(errmsg, -EINVAL, "image %s: damaged layer list",
					       img->id);
				break;
			}
			snprintf(path, sizeof(path), "%s/layers/%s", image_dir, p + 7);
			if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
				rv = keel_errf(errmsg, -ENOENT, "image %s: layer %s is missing",
					       img->id, p);
				break;
			}
			img->layers[n] = keel_strdup(path);
			if (img->layers[n] == NULL)
				rv = keel_errf(errmsg, -ENOMEM, "out of memory");
			n++;
			if (nl == NULL)
				break;
			p = nl + 1;
		}
		img->n_layers = n;
		keel_free(buf);
		buf = NULL;
	}
	if (rv == 0)
		rv = read_blob(dfd, "config.json", NULL, &buf, &len, errmsg);
	close(dfd);
	if (rv == 0) {
		cfg = parse_json(buf, len, "image config", errmsg);
		if (cfg == NULL)
			rv = -EINVAL;
	}
	keel_free(buf);
	if (rv == 0) {
		c = json_object_get(cfg, "config");
		if (strv_from_json(json_object_get(c, "Entrypoint"), &img->entrypoint) < 0 ||
		    strv_from_json(json_object_get(c, "Cmd"), &img->cmd) < 0 ||
		    strv_from_json(json_object_get(c, "Env"), &img->env) < 0 ||
		    dup_nonempty(json_object_get(c, "WorkingDir"), &img->workdir) < 0 ||
		    dup_nonempty(json_object_get(c, "User"), &img->user) < 0)
			rv = keel_errf(errmsg, -EINVAL, "image %s: bad config", img->id);
	}
	json_decref(cfg);
	if (rv < 0) {
		ctr_image_free(img);
		return rv;
	}
	*out = img;
	return 0;
}

/*
 * Reads `rel` (e.g. "etc/passwd") as the container would see it: from the
 * topmost layer that has it, unless a whiteout or opaque directory above hides
 * the lower ones. Returns a heap buffer, or NULL when absent.
 */
static char *image_read_file(const struct ctr_image *img, const char *rel)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	size_t i, len;

	for (i = img->n_layers; i-- > 0;) {
		char path[PATH_MAX], flag[4], dir[PATH_MAX], *slash, *buf;
		int root = open(img->layers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;

		if (root < 0)
			return NULL;
		snprintf(path, sizeof(path), "%s", rel);
		slash = strrchr(path, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 0, path);
		fd = ctr_openat2(root, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
				 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
		if (fd >= 0) {
			int rv = read_all(fd, &buf, &len, errmsg, rel);
			close(fd);
			close(root);
			return rv < 0 ? NULL : buf;
		}
		/* A whiteout of the file, or an opaque parent, ends the search. */
		if (ctr_layer_is_whiteout(root, rel)) {
			close(root);
			return NULL;
		}
		fd = dir[0] ? ctr_openat2(root, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
					  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
			    : -1;
		if (fd >= 0 && fgetxattr(fd, "trusted.overlay.opaque", flag, sizeof(flag)) == 1 &&
		    flag[0] == 'y') {
			close(fd);
			close(root);
			return NULL;
		}
		if (fd >= 0)
			close(fd);
		close(root);
	}
	return NULL;
}

/* Finds field 0 == key (or field 2 == key when numeric) in a passwd/group file. */
static bool colon_lookup(const char *file, const char *key, bool by_id, char *fields[7], char *line,
			 size_t n)
{
	const char *p = file;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		size_t f = 0;
		char *q;

		if (len < n) {
			memcpy(line, p, len);
			line[len] = '\0';
			fields[f++] = line;
			for (q = line; *q != '\0' && f < 7; q++) {
				if (*q == ':') {
					*q = '\0';
					fields[f++] = q + 1;
				}
			}
			while (f < 7)
				fields[f++] = (char *)"";
			if (strcmp(by_id ? fields[2] : fields[0], key) == 0)
				return true;
		}
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static bool parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || errno != 0 || v >= UINT32_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

int ctr_image_user(const struct ctr_image *img, const char *spec, uid_t *uid, gid_t *gid,
		   gid_t **groups, size_t *ngroups, char *errmsg)
{
	char user[256], *group, *fields[7], line[1024], uname[256];
	char *passwd = image_read_file(img, "etc/passwd");
	char *grp = image_read_file(img, "etc/group");
	const char *name = NULL;
	unsigned num;
	int rv = 0;

	*groups = NULL;
	*ngroups = 0;
	snprintf(user, sizeof(user), "%s", spec);
	group = strchr(user, ':');
	if (group != NULL)
		*group++ = '\0';
	if (parse_uint(user, &num)) {
		*uid = num;
		*gid = 0;
		if (passwd != NULL &&
		    colon_lookup(passwd, user, true, fields, line, sizeof(line)) &&
		    parse_uint(fields[3], &num)) {
			*gid = num;
			snprintf(uname, sizeof(uname), "%s", fields[0]);
			name = uname;
		}
	} else if (passwd != NULL &&
		   colon_lookup(passwd, user, false, fields, line, sizeof(line)) &&
		   parse_uint(fields[2], uid) && parse_uint(fields[3], &num)) {
		*gid = num;
		name = user;
	} else {
		rv = keel_errf(errmsg, -EINVAL, "unknown user '%s' in image %s", user, img->id);
		goto out;
	}
	if (group != NULL) {
		if (parse_uint(group, &num)) {
			*gid = num;
		} else if (grp != NULL &&
			   colon_lookup(grp, group, false, fields, line, sizeof(line)) &&
			   parse_uint(fields[2], &num)) {
			*gid = num;
		} else {
			rv = keel_errf(errmsg, -EINVAL, "unknown group '%s' in image %s", group,
				       img->id);
			goto out;
		}
	}
	if (name != NULL && grp != NULL) {
		/* Supplementary groups: every group that lists the user. */
		const char *p = grp;
		gid_t *g = keel_calloc(64, sizeof(gid_t));
		size_t n = 0;

		if (g == NULL) {
			rv = keel_errf(errmsg, -ENOMEM, "out of memory");
			goto out;
		}
		while (p != NULL && *p != '\0' && n < 64) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			char *members, *tok, *save = NULL, *f[4] = {NULL}, *q;
			size_t k = 0;

			if (len < sizeof(line)) {
				memcpy(line, p, len);
				line[len] = '\0';
				f[k++] = line;
				for (q = line; *q != '\0' && k < 4; q++) {
					if (*q == ':') {
						*q = '\0';
						f[k++] = q + 1;
					}
				}
				members = k == 4 ? f[3] : NULL;
				for (tok = members ? strtok_r(members, ",", &save) : NULL;
				     tok != NULL; tok = strtok_r(NULL, ",", &save)) {
					if (strcmp(tok, name) == 0 && parse_uint(f[2], &num))
						g[n++] = num;
				}
			}
			p = nl ? nl + 1 : NULL;
		}
		*groups = g;
		*ngroups = n;
	}
out:
	keel_free(passwd);
	keel_free(grp);
	return rv;
}

int ctr_image_list(const char *image_dir, void (*fn)(void *, const char *, const char *), void *arg)
{
	char path[PATH_MAX], ref[512], id[128];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/refs", image_dir);
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) != NULL) {
		char *nl;
		int fd;
		ssize_t r;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp") != NULL)
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		r = read(fd, id, sizeof(id) - 1);
		close(fd);
		id[r > 0 ? r : 0] = '\0';
		if ((nl = strchr(id, '\n')) != NULL)
			*nl = '\0';
		ref_unfile(de->d_name, ref, sizeof(ref));
		fn(arg, ref, id);
		n++;
	}
	closedir(d);
	return n;
}
