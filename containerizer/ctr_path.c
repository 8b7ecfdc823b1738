/* Path checks and small filesystem helpers for specs, checkpoints and sandboxes. */
#include "ctr_path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/err.h"

bool ctr_path_has_dotdot(const char *path)
{
	const char *p = path;

	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

int ctr_path_check(const char *what, const char *path, bool absolute, char *errmsg)
{
	if (path == NULL || path[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "%s: empty path", what);
	if (strlen(path) >= PATH_MAX)
		return keel_errf(errmsg, -EINVAL, "%s: path too long", what);
	if (absolute && path[0] != '/')
		return keel_errf(errmsg, -EINVAL, "%s: '%s' is not an absolute path", what, path);
	if (!absolute && path[0] == '/')
		return keel_errf(errmsg, -EINVAL, "%s: '%s' must be a relative path", what, path);
	if (ctr_path_has_dotdot(path))
		return keel_errf(errmsg, -EINVAL, "%s: '%s' contains '..'", what, path);
	return 0;
}

bool ctr_id_valid(const char *id)
{
	size_t i, n;

	if (id == NULL)
		return false;
	n = strlen(id);
	if (n == 0 || n >= 64 || id[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

int ctr_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = saved;
	}
	return 0;
}

int ctr_path_join(char *out, size_t n, const char *a, const char *b)
{
	size_t la = strlen(a);
	int r;

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	r = snprintf(out, n, "%.*s/%s", (int)la, a, b);
	if (r < 0 || (size_t)r >= n)
		return -ENAMETOOLONG;
	return 0;
}

static int remove_dir_contents(int dfd, dev_t dev)
{
	DIR *d;
	struct dirent *de;
	int rv = 0;

	d = fdopendir(dfd);
	if (d == NULL) {
		rv = -errno;
		close(dfd);
		return rv;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT && rv == 0)
				rv = -errno;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub;

			if (st.st_dev != dev) {
				/* A mount point: never descend into another filesystem. */
				if (rv == 0)
					rv = -EBUSY;
				continue;
			}
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				if (errno != ENOENT && rv == 0)
					rv = -errno;
				continue;
			}
			int r = remove_dir_contents(sub, dev);
			if (r < 0 && rv == 0)
				rv = r;
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT &&
			    rv == 0)
				rv = -errno;
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && rv == 0) {
			rv = -errno;
		}
	}
	closedir(d);
	return rv;
}

int ctr_remove_tree_at(int dirfd, const char *name)
{
	struct stat st;
	int fd, rv;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rv = remove_dir_contents(fd, st.st_dev);
	if (rv < 0)
		return rv;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int ctr_remove_entry_at(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno == EISDIR || errno == EPERM)
		return ctr_remove_tree_at(dirfd, name);
	return -errno;
}
