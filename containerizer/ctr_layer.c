/* Layer unpacking with libarchive: whiteouts, escape checks, digests. */
#include "ctr_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ctr_path.h"
#include "ctr_sha256.h"
#include "runtime/alloc.h"
#include "runtime/err.h"

#define OPAQUE_XATTR "trusted.overlay.opaque"
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* The two-stage read: raw bytes from fd (hashed), decompressed by `raw`, tar bytes (hashed). */
struct layer_src {
	int fd;			/* the blob */
	struct archive *raw;	/* decompressing reader: one raw entry */
	struct ctr_sha256 blob; /* hash of the blob as stored */
	struct ctr_sha256 diff; /* hash of the uncompressed tar */
	uint64_t stream;	/* uncompressed tar bytes so far */
	uint64_t stream_max;	/* more than this is not a tar the budget allows */
	char in[65536];		/* bytes read from fd */
	char out[65536];	/* decompressed bytes handed to the tar reader */
};

static la_ssize_t raw_read_cb(struct archive *a, void *data, const void **buf)
{
	struct layer_src *src = data;
	ssize_t n;

	do
		n = read(src->fd, src->in, sizeof(src->in));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	ctr_sha256_update(&src->blob, src->in, (size_t)n);
	*buf = src->in;
	return n;
}

static la_ssize_t tar_read_cb(struct archive *a, void *data, const void **buf)
{
	struct layer_src *src = data;
	la_ssize_t n = archive_read_data(src->raw, src->out, sizeof(src->out));

	if (n < 0) {
		archive_set_error(a, archive_errno(src->raw), "%s", archive_error_string(src->raw));
		return -1;
	}
	src->stream += (uint64_t)n;
	if (src->stream > src->stream_max) {
		archive_set_error(a, EFBIG, "the uncompressed layer is longer than %llu bytes",
				  (unsigned long long)src->stream_max);
		return -1;
	}
	ctr_sha256_update(&src->diff, src->out, (size_t)n);
	*buf = src->out;
	return n;
}

void ctr_unpack_budget_init(struct ctr_unpack_budget *b, uint64_t max_bytes, uint64_t max_entries)
{
	b->bytes = b->max_bytes = max_bytes;
	b->entries = b->max_entries = max_entries;
}

/* Charges one entry and, for a regular file, its size; -EFBIG past a limit. */
static int budget_charge(struct ctr_unpack_budget *b, struct archive_entry *e, const char *name,
			 char *errmsg)
{
	la_int64_t size = archive_entry_filetype(e) == AE_IFREG && archive_entry_hardlink(e) == NULL
			      ? archive_entry_size(e)
			      : 0;

	if (name == NULL)
		name = "?";
	if (b->entries == 0)
		return keel_errf(errmsg, -EFBIG,
				 "'%s': the image has more than %llu entries (the import limit)",
				 name, (unsigned long long)b->max_entries);
	if (size < 0 || (uint64_t)size > b->bytes)
		return keel_errf(errmsg, -EFBIG,
				 "'%s': the image unpacks to more than %llu bytes (the import "
				 "limit)",
				 name, (unsigned long long)b->max_bytes);
	b->entries--;
	b->bytes -= (uint64_t)size;
	return 0;
}

/*
 * Normalizes an archive path: drops "./", empty and "." components; refuses
 * absolute paths and "..". `out` may become "" (the layer root).
 */
static int norm_path(const char *in, char *out, size_t n, char *errmsg)
{
	const char *p = in;
	size_t off = 0;

	if (in[0] == '/')
		return keel_errf(errmsg, -EINVAL, "entry '%s': absolute path", in);
	out[0] = '\0';
	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return keel_errf(errmsg, -EINVAL, "entry '%s': '..' in path", in);
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (off + len + 2 > n)
				return keel_errf(errmsg, -ENAMETOOLONG, "entry '%s': path too long",
						 in);
			if (off > 0)
				out[off++] = '/';
			memcpy(out + off, p, len);
			off += len;
			out[off] = '\0';
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/* Opens directory `rel` under root component by component, never through a symlink. */
static int open_dir(int rootfd, const char *rel, bool create, char *errmsg)
{
	char comp[NAME_MAX + 1];
	const char *p = rel;
	int cur = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (cur < 0)
		return keel_errno_f(errmsg, -errno, "open layer root");
	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int next;

		if (len > NAME_MAX) {
			close(cur);
			return keel_errf(errmsg, -ENAMETOOLONG, "'%s': name too long", rel);
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(cur);
				return keel_errno_f(errmsg, -e, "mkdir '%s'", rel);
			}
			next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;
			close(cur);
			if (e == ELOOP || e == ENOTDIR)
				return keel_errf(
				    errmsg, -EINVAL,
				    "'%s': passes through a symlink or a non-directory", rel);
			return keel_errno_f(errmsg, -e, "open '%s'", rel);
		}
		close(cur);
		cur = next;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return cur;
}

/* Splits "a/b/c" into dir "a/b" and base "c" (dir "" at the root). */
static void split(char *path, const char **dir, const char **base)
{
	char *slash = strrchr(path, '/');

	if (slash == NULL) {
		*dir = "";
		*base = path;
	} else {
		*slash = '\0';
		*dir = path;
		*base = slash + 1;
	}
}

/* True when a relative symlink at dir/<link> resolves above the root, lexically. */
static bool symlink_escapes(const char *dir, const char *target)
{
	const char *p;
	long depth = 0;

	if (target[0] == '/')
		return false; /* absolute: resolved inside the container's root at run time */
	for (p = dir; *p != '\0'; p++) {
		if (p == dir || p[-1] == '/')
			depth++;
	}
	p = target;
	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

bool ctr_layer_is_whiteout(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(0, 0);
}

static int make_whiteout(int dirfd, const char *name)
{
	int rv = ctr_remove_entry_at(dirfd, name);

	if (rv < 0)
		return rv;
	return mknodat(dirfd, name, S_IFCHR, makedev(0, 0)) < 0 ? -errno : 0;
}

static void set_times(int dirfd, const char *name, struct archive_entry *e)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int write_file(struct archive *ar, int dirfd, const char *name, struct archive_entry *e,
		      char *errmsg)
{
	const void *block;
	size_t size;
	la_int64_t offset;
	int fd, r, rv = 0;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return keel_errno_f(errmsg, -errno, "create '%s'", name);
	while ((r = archive_read_data_block(ar, &block, &size, &offset)) == ARCHIVE_OK) {
		const char *b = block;
		while (size > 0) {
			ssize_t w = pwrite(fd, b, size, offset);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				rv = keel_errno_f(errmsg, -errno, "write '%s'", name);
				goto out;
			}
			b += w;
			size -= (size_t)w;
			offset += w;
		}
	}
	if (r != ARCHIVE_EOF) {
		rv = keel_errf(errmsg, -EIO, "read '%s': %s", name, archive_error_string(ar));
		goto out;
	}
	/* A sparse file may end in a hole. */
	if (ftruncate(fd, archive_entry_size(e)) < 0) {
		rv = keel_errno_f(errmsg, -errno, "truncate '%s'", name);
		goto out;
	}
	if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
	    fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		rv = keel_errno_f(errmsg, -errno, "set owner and mode of '%s'", name);
out:
	close(fd);
	return rv;
}

/*
 * Writes one tar entry under rootfd. A `layer` entry keeps its owner and
 * turns OCI whiteouts into overlayfs ones; otherwise (an image archive being
 * opened) names are taken literally and everything belongs to us.
 */
static int unpack_entry(struct archive *ar, struct archive_entry *e, int rootfd, bool layer,
			char *errmsg)
{
	char path[PATH_MAX], tpath[PATH_MAX];
	const char *pathname = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	const char *dir, *base;
	mode_t type = archive_entry_filetype(e);
	int dfd, rv = 0;

	if (pathname == NULL)
		return keel_errf(errmsg, -EINVAL, "entry without a name");
	rv = norm_path(pathname, path, sizeof(path), errmsg);
	if (rv < 0)
		return rv;
	if (path[0] == '\0')
		return 0; /* the layer root itself */
	split(path, &dir, &base);
	dfd = open_dir(rootfd, dir, true, errmsg);
	if (dfd < 0)
		return dfd;

	if (!layer && type != AE_IFDIR && type != AE_IFREG && type != AE_IFLNK && hardlink == NULL)
		goto out; /* an image archive holds files, directories and links only */
	if (!layer) {
		archive_entry_set_uid(e, geteuid());
		archive_entry_set_gid(e, getegid());
	}
	if (layer && strcmp(base, WH_OPAQUE) == 0) {
		if (fsetxattr(dfd, OPAQUE_XATTR, "y", 1, 0) < 0)
			rv = keel_errno_f(errmsg, -errno, "mark '%s' opaque", dir);
		goto out;
	}
	if (layer && strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
		rv = make_whiteout(dfd, base + strlen(WH_PREFIX));
		if (rv < 0)
			keel_errno_f(errmsg, rv, "whiteout '%s'", pathname);
		goto out;
	}
	if (hardlink != NULL) {
		const char *tdir, *tbase;
		int tfd;

		rv = norm_path(hardlink, tpath, sizeof(tpath), errmsg);
		if (rv < 0) {
			keel_errwrap(errmsg, rv, "hard link '%s'", pathname);
			goto out;
		}
		if (tpath[0] == '\0') {
			rv = keel_errf(errmsg, -EINVAL, "hard link '%s' to the root", pathname);
			goto out;
		}
		split(tpath, &tdir, &tbase);
		tfd = open_dir(rootfd, tdir, false, errmsg);
		if (tfd < 0) {
			rv = keel_errwrap(errmsg, tfd, "hard link '%s'", pathname);
			goto out;
		}
		rv = ctr_remove_entry_at(dfd, base);
		if (rv == 0 && linkat(tfd, tbase, dfd, base, 0) < 0)
			rv = -errno;
		close(tfd);
		if (rv < 0)
			keel_errno_f(errmsg, rv, "hard link '%s' -> '%s'", pathname, hardlink);
		goto out;
	}
	switch (type) {
	case AE_IFDIR: {
		struct stat st;
		int sub;

		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
			ctr_remove_entry_at(dfd, base);
		if (mkdirat(dfd, base, 0755) < 0 && errno != EEXIST) {
			rv = keel_errno_f(errmsg, -errno, "mkdir '%s'", pathname);
			break;
		}
		sub = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 ||
		    fchown(sub, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
		    fchmod(sub, archive_entry_perm(e) & 07777) < 0)
			rv = keel_errno_f(errmsg, -errno, "set up directory '%s'", pathname);
		if (sub >= 0)
			close(sub);
		break;
	}
	case AE_IFREG:
		rv = ctr_remove_entry_at(dfd, base);
		if (rv < 0) {
			keel_errno_f(errmsg, rv, "replace '%s'", pathname);
			break;
		}
		rv = write_file(ar, dfd, base, e, errmsg);
		break;
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);

		if (target == NULL || target[0] == '\0') {
			rv = keel_errf(errmsg, -EINVAL, "symlink '%s' without a target", pathname);
			break;
		}
		if (symlink_escapes(dir, target)) {
			rv = keel_errf(errmsg, -EINVAL,
				       "symlink '%s' -> '%s' points outside the rootfs", pathname,
				       target);
			break;
		}
		rv = ctr_remove_entry_at(dfd, base);
		if (rv == 0 && symlinkat(target, dfd, base) < 0)
			rv = -errno;
		if (rv == 0 && fchownat(dfd, base, (uid_t)archive_entry_uid(e),
					(gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
			rv = -errno;
		if (rv < 0)
			keel_errno_f(errmsg, rv, "symlink '%s'", pathname);
		break;
	}
	case AE_IFIFO:
		rv = ctr_remove_entry_at(dfd, base);
		if (rv == 0 && mknodat(dfd, base, S_IFIFO | (archive_entry_perm(e) & 0777), 0) < 0)
			rv = -errno;
		if (rv < 0)
			keel_errno_f(errmsg, rv, "fifo '%s'", pathname);
		break;
	case AE_IFCHR:
		/* A 0/0 character device is already an overlayfs whiteout. */
		if (archive_entry_rdevmajor(e) == 0 && archive_entry_rdevminor(e) == 0) {
			rv = make_whiteout(dfd, base);
			if (rv < 0)
				keel_errno_f(errmsg, rv, "whiteout '%s'", pathname);
		}
		goto out; /* other device nodes are never created from an image */
	default:
		goto out; /* block devices, sockets */
	}
	if (rv == 0)
		set_times(dfd, base, e);
out:
	close(dfd);
	return rv;
}

int ctr_layer_unpack(int fd, int parent_fd, const char *name, struct ctr_unpack_budget *budget,
		     char blob_digest[72], char diff_id[72], char *errmsg)
{
	struct layer_src *src = NULL;
	struct archive *tar = NULL;
	struct archive_entry *e;
	int rootfd = -1, r, rv = 0;

	if (mkdirat(parent_fd, name, 0755) < 0)
		return keel_errno_f(errmsg, -errno, "mkdir %s", name);
	rootfd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	src = keel_calloc(1, sizeof(*src));
	if (rootfd < 0 || src == NULL) {
		rv = src == NULL ? keel_errf(errmsg, -ENOMEM, "out of memory")
				 : keel_errno_f(errmsg, -errno, "open %s", name);
		goto out;
	}
	src->fd = fd;
	/* Tar framing: a 512-byte header and up to 511 bytes of padding per entry, the end blocks.
	 */
	src->stream_max = budget->max_bytes + 1024 * budget->max_entries + (1 << 20);
	ctr_sha256_init(&src->blob);
	ctr_sha256_init(&src->diff);
	src->raw = archive_read_new();
	tar = archive_read_new();
	if (src->raw == NULL || tar == NULL) {
		rv = keel_errf(errmsg, -ENOMEM, "out of memory");
		goto out;
	}
	archive_read_support_filter_all(src->raw);
	archive_read_support_format_raw(src->raw);
	if (archive_read_open(src->raw, src, NULL, raw_read_cb, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(src->raw, &e) != ARCHIVE_OK) {
		rv = keel_errf(errmsg, -EINVAL, "not a layer: %s", archive_error_string(src->raw));
		goto out;
	}
	archive_read_support_format_tar(tar);
	if (archive_read_open(tar, src, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
		rv = keel_errf(errmsg, -EINVAL, "not a tar layer: %s", archive_error_string(tar));
		goto out;
	}
	while ((r = archive_read_next_header(tar, &e)) == ARCHIVE_OK) {
		rv = budget_charge(budget, e, archive_entry_pathname(e), errmsg);
		if (rv == 0)
			rv = unpack_entry(tar, e, rootfd, true, errmsg);
		if (rv < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		rv = archive_errno(tar) == EFBIG
			 ? keel_errf(errmsg, -EFBIG, "layer: %s", archive_error_string(tar))
			 : keel_errf(errmsg, -EINVAL, "corrupt layer: %s",
				     archive_error_string(tar));
		goto out;
	}
	/* Hash what the tar reader left (end-of-archive padding), then the rest of the blob. */
	for (;;) {
		la_ssize_t n = archive_read_data(src->raw, src->out, sizeof(src->out));
		if (n < 0) {
			rv = keel_errf(errmsg, -EINVAL, "corrupt layer: %s",
				       archive_error_string(src->raw));
			goto out;
		}
		if (n == 0)
			break;
		src->stream += (uint64_t)n;
		if (src->stream > src->stream_max) {
			rv = keel_errf(errmsg, -EFBIG,
				       "layer: the uncompressed layer is longer than %llu bytes",
				       (unsigned long long)src->stream_max);
			goto out;
		}
		ctr_sha256_update(&src->diff, src->out, (size_t)n);
	}
	for (;;) {
		ssize_t n = read(fd, src->in, sizeof(src->in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = keel_errno_f(errmsg, -errno, "read layer");
			goto out;
		}
		if (n == 0)
			break;
		ctr_sha256_update(&src->blob, src->in, (size_t)n);
	}
	ctr_sha256_final_str(&src->blob, blob_digest);
	ctr_sha256_final_str(&src->diff, diff_id);
out:
	if (tar != NULL)
		archive_read_free(tar);
	if (src != NULL && src->raw != NULL)
		archive_read_free(src->raw);
	keel_free(src);
	if (rootfd >= 0)
		close(rootfd);
	if (rv < 0)
		ctr_remove_tree_at(parent_fd, name);
	return rv;
}

int ctr_archive_extract(int fd, int parent_fd, const char *name, struct ctr_unpack_budget *budget,
			char *errmsg)
{
	struct archive *ar;
	struct archive_entry *e;
	int rootfd, r, rv = 0;

	if (mkdirat(parent_fd, name, 0700) < 0)
		return keel_errno_f(errmsg, -errno, "mkdir %s", name);
	rootfd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ar = archive_read_new();
	if (rootfd < 0 || ar == NULL) {
		rv = ar == NULL ? keel_errf(errmsg, -ENOMEM, "out of memory")
				: keel_errno_f(errmsg, -errno, "open %s", name);
		goto out;
	}
	archive_read_support_filter_all(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_fd(ar, fd, 65536) != ARCHIVE_OK) {
		rv = keel_errf(errmsg, -EINVAL, "not a tar archive: %s", archive_error_string(ar));
		goto out;
	}
	while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
		rv = budget_charge(budget, e, archive_entry_pathname(e), errmsg);
		if (rv == 0)
			rv = unpack_entry(ar, e, rootfd, false, errmsg);
		if (rv < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF)
		rv = keel_errf(errmsg, -EINVAL, "corrupt archive: %s", archive_error_string(ar));
out:
	if (ar != NULL)
		archive_read_free(ar);
	if (rootfd >= 0)
		close(rootfd);
	if (rv < 0)
		ctr_remove_tree_at(parent_fd, name);
	return rv;
}
