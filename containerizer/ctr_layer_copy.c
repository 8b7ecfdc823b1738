/* The copy fallback for image roots without overlayfs: layers copied in order, whiteouts applied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ctr_layer.h"
#include "ctr_path.h"
#include "runtime/err.h"

#define OPAQUE_XATTR "trusted.overlay.opaque"

/* Copies one layer directory's content over dst, recursively. */
static int copy_tree(int srcfd, int dstfd, char *errmsg);

static int copy_meta(int dstfd, const char *name, const struct stat *st, bool is_link)
{
	struct timespec ts[2] = {st->st_atim, st->st_mtim};

	if (fchownat(dstfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!is_link && fchmodat(dstfd, name, st->st_mode & 07777, 0) < 0)
		return -errno;
	utimensat(dstfd, name, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

static int copy_file(int srcfd, int dstfd, const char *name, const struct stat *st)
{
	int in, out, rv = 0;

	in = openat(srcfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = openat(dstfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		rv = -errno;
		close(in);
		return rv;
	}
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rv = -errno;
			break;
		}
		if (n == 0)
			break;
	}
	close(in);
	close(out);
	return rv < 0 ? rv : copy_meta(dstfd, name, st, false);
}

static int copy_entry(int srcfd, int dstfd, const char *name, char *errmsg)
{
	struct stat st, dst;
	int rv = 0;

	if (fstatat(srcfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return keel_errno_f(errmsg, -errno, "stat %s", name);
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		rv =
		    ctr_remove_entry_at(dstfd, name); /* a whiteout deletes what lower layers had */
		return rv < 0 ? keel_errno_f(errmsg, rv, "apply whiteout %s", name) : 0;
	}
	if (S_ISDIR(st.st_mode)) {
		char flag[4];
		int sub_src, sub_dst;

		if (fstatat(dstfd, name, &dst, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(dst.st_mode))
			ctr_remove_entry_at(dstfd, name);
		if (mkdirat(dstfd, name, 0755) < 0 && errno != EEXIST)
			return keel_errno_f(errmsg, -errno, "mkdir %s", name);
		sub_src = openat(srcfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		sub_dst = openat(dstfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub_src < 0 || sub_dst < 0) {
			rv = keel_errno_f(errmsg, -errno, "open %s", name);
		} else {
			/* Opaque: nothing of the lower layers shows through this directory. */
			if (fgetxattr(sub_src, OPAQUE_XATTR, flag, sizeof(flag)) == 1 &&
			    flag[0] == 'y') {
				close(sub_dst);
				ctr_remove_tree_at(dstfd, name);
				mkdirat(dstfd, name, 0755);
				sub_dst = openat(dstfd, name,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			}
			rv = sub_dst < 0 ? keel_errno_f(errmsg, -errno, "open %s", name)
					 : copy_tree(sub_src, sub_dst, errmsg);
		}
		if (sub_src >= 0)
			close(sub_src);
		if (sub_dst >= 0)
			close(sub_dst);
		if (rv == 0)
			rv = copy_meta(dstfd, name, &st, false);
		return rv < 0 ? keel_errwrap(errmsg, rv, "%s", name) : 0;
	}
	rv = ctr_remove_entry_at(dstfd, name);
	if (rv < 0)
		return keel_errno_f(errmsg, rv, "replace %s", name);
	if (S_ISREG(st.st_mode)) {
		rv = copy_file(srcfd, dstfd, name, &st);
	} else if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(srcfd, name, target, sizeof(target) - 1);

		if (n < 0)
			return keel_errno_f(errmsg, -errno, "readlink %s", name);
		target[n] = '\0';
		rv =
		    symlinkat(target, dstfd, name) < 0 ? -errno : copy_meta(dstfd, name, &st, true);
	} else if (S_ISFIFO(st.st_mode)) {
		rv = mknodat(dstfd, name, S_IFIFO | (st.st_mode & 0777), 0) < 0
			 ? -errno
			 : copy_meta(dstfd, name, &st, false);
	}
	return rv < 0 ? keel_errno_f(errmsg, rv, "copy %s", name) : 0;
}

static int copy_tree(int srcfd, int dstfd, char *errmsg)
{
	struct dirent *de;
	DIR *d;
	int fd, rv = 0;

	fd = openat(srcfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return keel_errno_f(errmsg, -errno, "open layer directory");
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return keel_errno_f(errmsg, -errno, "opendir");
	}
	while (rv == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rv = copy_entry(dirfd(d), dstfd, de->d_name, errmsg);
	}
	closedir(d);
	return rv;
}

int ctr_layers_copy(const char *const *layers, size_t n, int dest_fd, char *errmsg)
{
	size_t i;
	int rv;

	for (i = 0; i < n; i++) {
		int fd = open(layers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			return keel_errno_f(errmsg, -errno, "open layer %s", layers[i]);
		rv = copy_tree(fd, dest_fd, errmsg);
		close(fd);
		if (rv < 0)
			return keel_errwrap(errmsg, rv, "layer %s", layers[i]);
	}
	return 0;
}
