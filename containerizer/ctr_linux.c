/* Linux launcher in the task's namespaces: pivot_root, /proc, /dev, /sys, /tmp, binds. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#ifndef FSOPEN_CLOEXEC /* musl: the mount API's flags come from the kernel's header */
#include <linux/mount.h>
#endif
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ctr_plan.h"
#include "ctr_sys.h"
#include "runtime/err.h"

/* Most extra bind mounts a spec may ask for (checked when the plan is built). */
#define CTR_MAX_MOUNTS 64

/* Resolution rules for every path inside the new root: never leave it, never through /proc magic.
 */
#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

/*
 * Opens `path` inside the root `rootfd` as O_PATH, creating missing
 * directories (and, with `file`, the last component as an empty file).
 * Symlinks in the rootfs resolve inside it; with `nofollow` none are allowed.
 */
static int open_in_root(int rootfd, const char *path, bool create, bool file, bool nofollow)
{
	uint64_t resolve = IN_ROOT | (nofollow ? RESOLVE_NO_SYMLINKS : 0);
	char parent[PATH_MAX];
	const char *base;
	int fd, pfd;

	fd = ctr_openat2(rootfd, path, O_PATH | O_CLOEXEC, resolve);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd;
	/* Create the parent chain first, then the last component inside the opened parent. */
	base = strrchr(path, '/');
	if (base == NULL || base == path) {
		parent[0] = '/';
		parent[1] = '\0';
	} else {
		size_t n = (size_t)(base - path);
		if (n >= sizeof(parent)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(parent, path, n);
		parent[n] = '\0';
	}
	base = base ? base + 1 : path;
	if (*base == '\0') {
		errno = EINVAL;
		return -1;
	}
	pfd = open_in_root(rootfd, parent, true, false, nofollow);
	if (pfd < 0)
		return -1;
	/* O_PATH fds cannot create entries; reopen the parent as a real directory. */
	int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	if (dfd < 0)
		return -1;
	if (file) {
		int f =
		    openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (f >= 0)
			close(f);
		else if (errno != EEXIST) {
			close(dfd);
			return -1;
		}
	} else if (mkdirat(dfd, base, 0755) < 0 && errno != EEXIST) {
		close(dfd);
		return -1;
	}
	close(dfd);
	return ctr_openat2(rootfd, path, O_PATH | O_CLOEXEC, resolve);
}

/* Mounts a new instance of `fstype` with "key=value,..." options at targetfd; returns the mount fd.
 */
static int mount_new_fs(const char *fstype, const char *opts, unsigned int attrs, int targetfd)
{
	char buf[256];
	char *tok, *save = NULL;
	int fsfd, mfd;

	fsfd = ctr_fsopen(fstype, FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -1;
	snprintf(buf, sizeof(buf), "%s", opts ? opts : "");
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int r;

		if (eq != NULL) {
			*eq = '\0';
			r = ctr_fsconfig(fsfd, FSCONFIG_SET_STRING, tok, eq + 1, 0);
		} else {
			r = ctr_fsconfig(fsfd, FSCONFIG_SET_FLAG, tok, NULL, 0);
		}
		if (r < 0) {
			close(fsfd);
			return -1;
		}
	}
	if (ctr_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		close(fsfd);
		return -1;
	}
	mfd = ctr_fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	close(fsfd);
	if (mfd < 0)
		return -1;
	if (ctr_move_mount(mfd, "", targetfd, "",
			   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		close(mfd);
		return -1;
	}
	return mfd;
}

/* Mounts fstype at `path` inside the root (created if missing, no symlinks on the way). */
static int mount_at(int rootfd, const char *path, const char *fstype, const char *opts,
		    unsigned int attrs, char *errmsg)
{
	int tfd, mfd;

	tfd = open_in_root(rootfd, path, true, false, true);
	if (tfd < 0)
		return keel_errno_f(errmsg, -errno, "mount point %s", path);
	mfd = mount_new_fs(fstype, opts, attrs, tfd);
	close(tfd);
	if (mfd < 0)
		return keel_errno_f(errmsg, -errno, "mount %s on %s", fstype, path);
	close(mfd);
	return 0;
}

/* Device nodes a container may have: the harmless character devices. */
static const struct {
	const char *name;      /* under /dev */
	unsigned major, minor; /* device number */
} safe_devs[] = {
    {"null", 1, 3},   {"zero", 1, 5},	 {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static int setup_dev(int rootfd, char *errmsg)
{
	static const char *const links[][2] = {
	    {"ptmx", "pts/ptmx"},	   {"fd", "/proc/self/fd"},
	    {"stdin", "/proc/self/fd/0"},  {"stdout", "/proc/self/fd/1"},
	    {"stderr", "/proc/self/fd/2"},
	};
	int tfd, devfd, sub, mfd;
	size_t i;

	tfd = open_in_root(rootfd, "/dev", true, false, true);
	if (tfd < 0)
		return keel_errno_f(errmsg, -errno, "mount point /dev");
	devfd = mount_new_fs("tmpfs", "mode=755,size=65536k", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
			     tfd);
	close(tfd);
	if (devfd < 0)
		return keel_errno_f(errmsg, -errno, "mount tmpfs on /dev");
	/* devfd is the root of the new tmpfs: build it through that fd, never by path. */
	for (i = 0; i < KEEL_ARRAY_SIZE(safe_devs); i++) {
		if (mknodat(devfd, safe_devs[i].name, S_IFCHR | 0666,
			    makedev(safe_devs[i].major, safe_devs[i].minor)) < 0) {
			int e = errno;
			close(devfd);
			return keel_errno_f(errmsg, -e, "mknod /dev/%s", safe_devs[i].name);
		}
	}
	for (i = 0; i < KEEL_ARRAY_SIZE(links); i++) {
		if (symlinkat(links[i][1], devfd, links[i][0]) < 0) {
			int e = errno;
			close(devfd);
			return keel_errno_f(errmsg, -e, "symlink /dev/%s", links[i][0]);
		}
	}
	if (mkdirat(devfd, "pts", 0755) < 0 || mkdirat(devfd, "shm", 01777) < 0) {
		int e = errno;
		close(devfd);
		return keel_errno_f(errmsg, -e, "mkdir in /dev");
	}
	sub = openat(devfd, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	mfd = sub < 0 ? -1
		      : mount_new_fs("devpts", "newinstance,ptmxmode=0666,mode=0620",
				     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, sub);
	if (sub >= 0)
		close(sub);
	if (mfd < 0) {
		int e = errno;
		close(devfd);
		return keel_errno_f(errmsg, -e, "mount devpts on /dev/pts");
	}
	close(mfd);
	sub = openat(devfd, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	mfd = sub < 0 ? -1
		      : mount_new_fs("tmpfs", "mode=1777,size=65536k",
				     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, sub);
	if (sub >= 0)
		close(sub);
	close(devfd);
	if (mfd < 0)
		return keel_errno_f(errmsg, -errno, "mount tmpfs on /dev/shm");
	close(mfd);
	return 0;
}

/* Read-only and masked parts of the fresh /proc: host-wide knobs a root task must not turn. */
static int protect_proc(char *errmsg)
{
	static const char *const readonly[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
					       "/proc/bus"};
	static const char *const masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list"};
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(readonly); i++) {
		const char *p = readonly[i];

		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			return keel_errno_f(errmsg, -errno, "bind %s", p);
		}
		if (mount(NULL, p, NULL,
			  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) < 0)
			return keel_errno_f(errmsg, -errno, "make %s read-only", p);
	}
	for (i = 0; i < KEEL_ARRAY_SIZE(masked); i++) {
		if (mount("/dev/null", masked[i], NULL, MS_BIND, NULL) < 0 && errno != ENOENT)
			return keel_errno_f(errmsg, -errno, "mask %s", masked[i]);
	}
	return 0;
}

/* Attaches a detached mount tree at `target` inside the root. */
static int attach_tree(int rootfd, int treefd, const char *target, bool is_file, char *errmsg)
{
	int tfd = open_in_root(rootfd, target, true, is_file, false);
	int rv = 0;

	if (tfd < 0)
		return keel_errno_f(errmsg, -errno, "mount target %s", target);
	if (ctr_move_mount(treefd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0)
		rv = keel_errno_f(errmsg, -errno, "bind mount on %s", target);
	close(tfd);
	return rv;
}

/* Clones the source of a bind mount before pivot_root, checking it cannot leave the sandbox. */
static int clone_source(int sandbox_fd, const struct ctr_plan_mount *m, bool *is_file, char *errmsg)
{
	struct stat st;
	int sfd, tree;

	if (m->in_sandbox) {
		sfd = ctr_openat2(sandbox_fd, m->source, O_PATH | O_CLOEXEC,
				  RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
		if (sfd < 0) {
			if (errno == EXDEV)
				return keel_errf(errmsg, -EXDEV,
						 "mount source %s: resolves outside the sandbox",
						 m->source);
			return keel_errno_f(errmsg, -errno, "mount source %s", m->source);
		}
	} else {
		sfd = open(m->source, O_PATH | O_CLOEXEC);
		if (sfd < 0)
			return keel_errno_f(errmsg, -errno, "mount source %s", m->source);
	}
	if (fstat(sfd, &st) < 0) {
		close(sfd);
		return keel_errno_f(errmsg, -errno, "mount source %s", m->source);
	}
	*is_file = !S_ISDIR(st.st_mode);
	tree = ctr_open_tree(sfd, "",
			     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	close(sfd);
	if (tree < 0)
		return keel_errno_f(errmsg, -errno, "clone mount source %s", m->source);
	if (m->readonly) {
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};

		if (ctr_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) <
		    0) {
			int e = errno;
			close(tree);
			return keel_errno_f(errmsg, -e, "make %s read-only", m->source);
		}
	}
	return tree;
}

static void loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

int ctr_fs_setup(const struct ctr_plan *p, char *errmsg)
{
	int trees[CTR_MAX_MOUNTS + 1];
	bool is_file[CTR_MAX_MOUNTS + 1];
	int rootfd, sbfd, rv = 0;
	size_t i, ntrees = 0;

	if (p->hostname != NULL && sethostname(p->hostname, strlen(p->hostname)) < 0)
		return keel_errno_f(errmsg, -errno, "sethostname");
	if (p->ns_flags & CLONE_NEWNET)
		loopback_up();
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return keel_errno_f(errmsg, -errno, "make / a slave mount");
	if (p->rootfs == NULL) {
		/* Host filesystem: only a /proc that shows the new pid namespace. */
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return keel_errno_f(errmsg, -errno, "mount /proc");
		return protect_proc(errmsg);
	}
	if (p->n_mounts > CTR_MAX_MOUNTS)
		return keel_errf(errmsg, -EINVAL, "too many mounts");

	/*
	 * Take copies of every bind source while the host is still reachable.
	 * Through fds opened here: mounts can only be cloned from this mount
	 * namespace, not from the caller's (where the plan's sandbox_fd lives).
	 */
	sbfd = open(p->sandbox, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sbfd < 0)
		return keel_errno_f(errmsg, -errno, "open the sandbox %s", p->sandbox);
	trees[ntrees] =
	    ctr_open_tree(sbfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (trees[ntrees] < 0) {
		close(sbfd);
		return keel_errno_f(errmsg, -errno, "clone the sandbox mount");
	}
	is_file[ntrees++] = false;
	for (i = 0; i < p->n_mounts; i++) {
		rv = clone_source(sbfd, &p->mounts[i], &is_file[ntrees], errmsg);
		if (rv < 0) {
			close(sbfd);
			return rv;
		}
		trees[ntrees++] = rv;
	}
	close(sbfd);

	/* An image's layers under a private upper dir; the mount lives and dies with us. */
	if (p->overlay_opts != NULL &&
	    mount("overlay", p->rootfs, "overlay", MS_NODEV, p->overlay_opts) < 0)
		return keel_errno_f(errmsg, -errno, "mount the image's overlayfs");
	/* The rootfs becomes its own mount (nodev: device nodes only come from our /dev). */
	if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return keel_errno_f(errmsg, -errno, "bind the rootfs %s", p->rootfs);
	if (mount(NULL, p->rootfs, NULL, MS_BIND | MS_REMOUNT | MS_NODEV, NULL) < 0)
		return keel_errno_f(errmsg, -errno, "remount the rootfs nodev");
	if (chdir(p->rootfs) < 0)
		return keel_errno_f(errmsg, -errno, "chdir %s", p->rootfs);
	/* pivot_root(".", ".") stacks the old root on the new one; detaching it leaves no path out.
	 */
	if (ctr_pivot_root(".", ".") < 0)
		return keel_errno_f(errmsg, -errno, "pivot_root %s", p->rootfs);
	if (umount2(".", MNT_DETACH) < 0)
		return keel_errno_f(errmsg, -errno, "detach the old root");
	if (chdir("/") < 0)
		return keel_errno_f(errmsg, -errno, "chdir /");
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return keel_errno_f(errmsg, -errno, "open /");

	rv = mount_at(rootfd, "/proc", "proc", NULL,
		      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, errmsg);
	if (rv == 0)
		rv = setup_dev(rootfd, errmsg);
	if (rv == 0)
		rv = protect_proc(errmsg);
	if (rv == 0)
		rv = mount_at(rootfd, "/sys", "sysfs", NULL,
			      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
				  MOUNT_ATTR_NOEXEC,
			      errmsg);
	if (rv == 0)
		rv = mount_at(rootfd, "/tmp", "tmpfs", "mode=1777",
			      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, errmsg);
	if (rv == 0)
		rv = attach_tree(rootfd, trees[0], KEEL_CTR_SANDBOX_PATH, false, errmsg);
	for (i = 0; rv == 0 && i < p->n_mounts; i++)
		rv = attach_tree(rootfd, trees[i + 1], p->mounts[i].target, is_file[i + 1], errmsg);
	close(rootfd);
	for (i = 0; i < ntrees; i++)
		close(trees[i]);
	return rv;
}
