/* The containerizer context: events from supervisors, status, kill, destroy, usage, list. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containerizer.h"
#include "ctr_caps.h"
#include "ctr_checkpoint.h"
#include "ctr_image.h"
#include "ctr_internal.h"
#include "ctr_notify.h"
#include "ctr_path.h"
#include "ctr_seccomp.h"
#include "ctr_sys.h"
#include "runtime/alloc.h"

_Static_assert(sizeof(((struct keel_ctr_status *)0)->message) == KEEL_ERRMSG_SIZE,
	       "status message and error buffers have the same size");

const char *keel_ctr_state_name(enum keel_ctr_state s)
{
	switch (s) {
	case KEEL_CTR_STARTING:
		return "starting";
	case KEEL_CTR_RUNNING:
		return "running";
	case KEEL_CTR_EXITED:
		return "exited";
	}
	return "unknown";
}

const char *keel_ctr_reason_name(enum keel_ctr_reason r)
{
	return ctr_reason_name(r);
}

static char *join_dup(const char *a, const char *b)
{
	char path[PATH_MAX];

	if (ctr_path_join(path, sizeof(path), a, b) < 0)
		return NULL;
	return keel_strdup(path);
}

/* True when /proc/filesystems lists overlay. */
static bool overlay_available(void)
{
	char buf[4096];
	ssize_t n;
	int fd = open("/proc/filesystems", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, "\toverlay\n") != NULL;
}

int keel_ctr_open(const struct keel_ctr_config *cfg, struct keel_ctr **out, char errmsg[256])
{
	struct keel_ctr *ctx;
	struct epoll_event ev;
	int rv;

	*out = NULL;
	if (cfg == NULL || cfg->work_dir == NULL)
		return keel_errf(errmsg, -EINVAL, "work_dir is required");
	rv = ctr_path_check("work_dir", cfg->work_dir, true, errmsg);
	if (rv == 0 && cfg->image_dir != NULL)
		rv = ctr_path_check("image_dir", cfg->image_dir, true, errmsg);
	if (rv < 0)
		return rv;
	/* Both end up in overlayfs mount options, where ',' and ':' are separators. */
	if (strpbrk(cfg->work_dir, ",:") != NULL ||
	    (cfg->image_dir != NULL && strpbrk(cfg->image_dir, ",:") != NULL))
		return keel_errf(errmsg, -EINVAL,
				 "work_dir and image_dir may not contain ',' or ':'");
	ctx = keel_calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	ctx->containers_fd = ctx->epfd = ctx->evfd = ctx->infd = ctx->sup_prog_fd = -1;
	ctx->w_inotify.kind = CTR_WATCH_INOTIFY;
	ctx->on_event = cfg->on_event;
	ctx->event_data = cfg->event_data;
	ctx->is_root = geteuid() == 0;
	ctx->cap_last = ctr_cap_last();
	ctx->work_dir = keel_strdup(cfg->work_dir);
	ctx->containers_dir = join_dup(cfg->work_dir, "containers");
	ctx->sandboxes_dir = join_dup(cfg->work_dir, "sandboxes");
	ctx->rootfs_dir = join_dup(cfg->work_dir, "rootfs");
	ctx->image_dir =
	    cfg->image_dir ? keel_strdup(cfg->image_dir) : join_dup(cfg->work_dir, "images");
	ctx->image_copy = cfg->image_copy;
	ctx->overlay_ok = overlay_available();
	if (ctx->work_dir == NULL || ctx->containers_dir == NULL || ctx->sandboxes_dir == NULL ||
	    ctx->rootfs_dir == NULL || ctx->image_dir == NULL) {
		rv = keel_errf(errmsg, -ENOMEM, "out of memory");
		goto fail;
	}
	/* Tasks of other users must reach their sandboxes: only the checkpoints are private. */
	rv = ctr_mkdir_p(ctx->work_dir, 0755);
	if (rv == 0 && mkdir(ctx->containers_dir, 0700) < 0 && errno != EEXIST)
		rv = -errno;
	if (rv == 0 && mkdir(ctx->sandboxes_dir, 0755) < 0 && errno != EEXIST)
		rv = -errno;
	if (rv == 0 && mkdir(ctx->rootfs_dir, 0700) < 0 && errno != EEXIST)
		rv = -errno;
	if (rv < 0) {
		keel_errno_f(errmsg, rv, "create the work dir %s", cfg->work_dir);
		goto fail;
	}
	ctx->containers_fd = open(ctx->containers_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->containers_fd < 0) {
		rv = keel_errno_f(errmsg, -errno, "open %s", ctx->containers_dir);
		goto fail;
	}
	rv =
	    ctr_cg_detect(&ctx->cg, cfg->cgroup_mode, cfg->cgroup_root, cfg->cgroup_parent, errmsg);
	if (rv < 0)
		goto fail;
	ctr_cg_pool_init(&ctx->cg_pool, ctx->work_dir, cfg->cgroup_pool);
	ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
	ctx->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctx->epfd < 0 || ctx->evfd < 0) {
		rv = keel_errno_f(errmsg, -errno, "epoll/eventfd");
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL; /* the eventfd */
	if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, ctx->evfd, &ev) < 0) {
		rv = keel_errno_f(errmsg, -errno, "epoll_ctl");
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	keel_ctr_close(ctx);
	return rv;
}

static void free_list(struct ctr_container *c)
{
	while (c != NULL) {
		struct ctr_container *next = c->next;
		ctr_container_free(c);
		c = next;
	}
}

void keel_ctr_close(struct keel_ctr *ctx)
{
	size_t i;

	if (ctx == NULL)
		return;
	free_list(ctx->head);
	free_list(ctx->graveyard);
	for (i = 0; i < ctx->n_seccomp; i++)
		ctr_seccomp_free(&ctx->seccomp[i].prog);
	ctr_cg_pool_close(&ctx->cg_pool, &ctx->cg);
	for (i = 0; ctx->containers_fd >= 0 && i < ctx->n_ckpt_spare; i++)
		ctr_remove_tree_at(ctx->containers_fd, ctx->ckpt_spare[i]);
	ctr_cg_sys_free(&ctx->cg);
	if (ctx->containers_fd >= 0)
		close(ctx->containers_fd);
	if (ctx->epfd >= 0)
		close(ctx->epfd);
	if (ctx->evfd >= 0)
		close(ctx->evfd);
	if (ctx->infd >= 0)
		close(ctx->infd);
	if (ctx->sup_prog_fd >= 0)
		close(ctx->sup_prog_fd);
	keel_free(ctx->spawn_stack);
	keel_free(ctx->work_dir);
	keel_free(ctx->containers_dir);
	keel_free(ctx->sandboxes_dir);
	keel_free(ctx->rootfs_dir);
	keel_free(ctx->image_dir);
	keel_free(ctx);
}

const char *keel_ctr_errmsg(const struct keel_ctr *ctx)
{
	return ctx->errmsg;
}

const char *keel_ctr_image_dir(const struct keel_ctr *ctx)
{
	return ctx->image_dir;
}

int keel_ctr_image_import(const char *image_dir, const char *path, const char *ref,
			  const struct keel_ctr_import_limits *limits,
			  char id_out[KEEL_CTR_IMAGE_ID_SIZE], char errmsg[256])
{
	int rv;

	if (image_dir == NULL || path == NULL)
		return keel_errf(errmsg, -EINVAL, "image_dir and path are required");
	rv = ctr_path_check("image_dir", image_dir, true, errmsg);
	if (rv < 0)
		return rv;
	return ctr_image_import(image_dir, path, ref, limits, id_out, errmsg);
}

int keel_ctr_image_list(const char *image_dir,
			void (*fn)(void *arg, const char *ref, const char *id), void *arg)
{
	return ctr_image_list(image_dir, fn, arg);
}

enum keel_ctr_cgroup_mode keel_ctr_cgroup_mode(const struct keel_ctr *ctx)
{
	return ctx->cg.mode;
}

int keel_ctr_fd(const struct keel_ctr *ctx)
{
	return ctx->epfd;
}

struct ctr_container *ctr_find(const struct keel_ctr *ctx, const char *id)
{
	struct ctr_container *c;

	if (id == NULL)
		return NULL;
	for (c = ctx->head; c != NULL; c = c->next) {
		if (strcmp(c->id, id) == 0)
			return c;
	}
	return NULL;
}

int ctr_container_new(const struct keel_ctr *ctx, const char *id, struct ctr_container **out)
{
	struct ctr_container *c = keel_calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->pidfd = c->notify_fd = c->state_wd = -1;
	c->w_pid.c = c->w_notify.c = c;
	c->w_pid.kind = CTR_WATCH_PIDFD;
	c->w_notify.kind = CTR_WATCH_NOTIFY;
	c->status.exit_code = -1;
	c->meta_dir = join_dup(ctx->containers_dir, id);
	if (c->meta_dir == NULL) {
		keel_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void ctr_container_free(struct ctr_container *c)
{
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->notify_fd >= 0)
		close(c->notify_fd);
	ctr_cg_set_free(&c->cg);
	keel_free(c->meta_dir);
	keel_free(c->sandbox);
	keel_free(c);
}

int ctr_container_attach(struct keel_ctr *ctx, struct ctr_container *c)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	if (c->pidfd >= 0) {
		ev.data.ptr = &c->w_pid;
		if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, c->pidfd, &ev) < 0)
			return -errno;
	}
	if (c->notify_fd >= 0) {
		ev.data.ptr = &c->w_notify;
		if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, c->notify_fd, &ev) < 0) {
			int e = errno;
			if (c->pidfd >= 0)
				epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
			return -e;
		}
	}
	c->next = NULL;
	if (ctx->tail != NULL)
		ctx->tail->next = c;
	else
		ctx->head = c;
	ctx->tail = c;
	ctx->count++;
	return 0;
}

static void unwatch_state(struct keel_ctr *ctx, struct ctr_container *c)
{
	if (c->state_wd >= 0) {
		inotify_rm_watch(ctx->infd, c->state_wd);
		c->state_wd = -1;
	}
}

/* Re-reads the state checkpoint of a STARTING container; RUNNING once it names the task. */
static void refresh_state(struct keel_ctr *ctx, struct ctr_container *c)
{
	char buf[CTR_CKPT_MAX + 1], msg[KEEL_ERRMSG_SIZE];
	struct ctr_ckpt_state st;
	int dfd, n;

	if (c->status.state != KEEL_CTR_STARTING)
		return;
	dfd = open(c->meta_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	n = ctr_ckpt_read(dfd, CTR_CKPT_STATE, buf, sizeof(buf) - 1);
	close(dfd);
	if (n < 0 || ctr_ckpt_state_parse(buf, (size_t)n, &st, msg) < 0 || st.task_pid <= 0)
		return;
	c->status.state = KEEL_CTR_RUNNING;
	c->status.task_pid = (pid_t)st.task_pid;
	c->running_pid = (pid_t)st.task_pid;
	unwatch_state(ctx, c);
}

int ctr_container_watch_state(struct keel_ctr *ctx, struct ctr_container *c)
{
	struct epoll_event ev;

	if (ctx->infd < 0) {
		ctx->infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (ctx->infd < 0)
			return -errno;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = &ctx->w_inotify;
		if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, ctx->infd, &ev) < 0) {
			int e = errno;
			close(ctx->infd);
			ctx->infd = -1;
			return -e;
		}
	}
	/* The state log is appended to (IN_MODIFY) when the task runs. */
	c->state_wd =
	    inotify_add_watch(ctx->infd, c->meta_dir, IN_MODIFY | IN_MOVED_TO | IN_ONLYDIR);
	if (c->state_wd < 0)
		return -errno;
	/* It may have been rewritten before the watch existed. */
	refresh_state(ctx, c);
	return 0;
}

static void drain_inotify(struct keel_ctr *ctx)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(ctx->infd, buf, sizeof(buf))) > 0) {
		const char *p = buf;

		while (p < buf + n) {
			const struct inotify_event *ie =
			    (const struct inotify_event *)(const void *)p;
			struct ctr_container *c;

			for (c = ctx->head; c != NULL; c = c->next) {
				if (c->state_wd == ie->wd)
					refresh_state(ctx, c);
			}
			p += sizeof(*ie) + ie->len;
		}
	}
}

static void unlink_container(struct keel_ctr *ctx, struct ctr_container *c)
{
	struct ctr_container **pp, *prev = NULL;

	for (pp = &ctx->head; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			if (ctx->tail == c)
				ctx->tail = prev;
			ctx->count--;
			break;
		}
	}
	if (c->pidfd >= 0) {
		epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
		close(c->pidfd);
		c->pidfd = -1;
	}
	if (c->notify_fd >= 0) {
		epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, c->notify_fd, NULL);
		close(c->notify_fd);
		c->notify_fd = -1;
	}
	unwatch_state(ctx, c);
	if (ctx->in_process > 0) {
		/* An epoll batch may still point at it: free after the batch. */
		c->dead = true;
		c->next = ctx->graveyard;
		ctx->graveyard = c;
	} else {
		ctr_container_free(c);
	}
}

void ctr_wake(struct keel_ctr *ctx)
{
	uint64_t one = 1;

	/* Inside keel_ctr_process() the delivery loop picks events up; outside, wake the caller. */
	if (ctx->in_process == 0 && write(ctx->evfd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice; the event still goes out on the
		 * next keel_ctr_process() call. */
	}
}

void ctr_container_queue_exit(struct keel_ctr *ctx, struct ctr_container *c)
{
	c->status.state = KEEL_CTR_EXITED;
	c->exit_queued = true;
	ctr_wake(ctx);
}

int ctr_container_read_status(struct keel_ctr *ctx, struct ctr_container *c, char *errmsg)
{
	char buf[CTR_CKPT_MAX + 1];
	struct ctr_ckpt_status st;
	int dfd, n, rv;

	dfd = open(c->meta_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	n = ctr_ckpt_read(dfd, CTR_CKPT_STATUS, buf, sizeof(buf) - 1);
	close(dfd);
	if (n < 0)
		return n;
	rv = ctr_ckpt_status_parse(buf, (size_t)n, &st, errmsg);
	if (rv < 0)
		return rv;
	if (st.id != NULL && strcmp(st.id, c->id) != 0)
		return -ENOENT; /* an earlier container's, in a reused dir a host crash rolled back
				 */
	c->status.state = KEEL_CTR_EXITED;
	c->status.reason = st.reason;
	c->status.exit_code = st.exit_code;
	c->status.signal = st.signal;
	c->status.limits_hit = st.limits_hit;
	c->status.supervisor_pid = 0;
	c->status.task_pid = 0;
	snprintf(c->status.message, sizeof(c->status.message), "%s", st.message);
	c->final_usage = st.usage;
	/* Its supervisor removed its cgroups (or pooled them), or never owned them. */
	c->cg_settled = !st.cgroups_left;
	if (st.cgroups_pool != NULL)
		ctr_cg_pool_put(&ctx->cg_pool, &ctx->cg, st.cgroups_pool);
	return 0;
}

int ctr_seccomp_get(struct keel_ctr *ctx, uint64_t caps, const struct sock_fprog **out)
{
	uint64_t key = caps & ctr_seccomp_relevant_caps();
	size_t i;
	int rv;

	for (i = 0; i < ctx->n_seccomp; i++) {
		if (ctx->seccomp[i].key == key) {
			*out = &ctx->seccomp[i].prog;
			return 0;
		}
	}
	if (ctx->n_seccomp == CTR_SECCOMP_SLOTS) {
		/* Rare profiles: recycle the last slot. */
		ctr_seccomp_free(&ctx->seccomp[--ctx->n_seccomp].prog);
	}
	struct ctr_seccomp_slot *s = &ctx->seccomp[ctx->n_seccomp];
	rv = ctr_seccomp_build(key, &s->prog, ctx->errmsg);
	if (rv < 0)
		return rv;
	s->key = key;
	ctx->n_seccomp++;
	*out = &s->prog;
	return 0;
}

bool ctr_ckpt_spare_keep(struct keel_ctr *ctx, const char *name)
{
	size_t i;

	for (i = 0; i < ctx->n_ckpt_spare; i++) {
		if (strcmp(ctx->ckpt_spare[i], name) == 0)
			return true;
	}
	if (ctx->n_ckpt_spare == CTR_CKPT_SPARES || strlen(name) >= sizeof(ctx->ckpt_spare[0])) {
		ctr_remove_tree_at(ctx->containers_fd, name);
		return false;
	}
	snprintf(ctx->ckpt_spare[ctx->n_ckpt_spare++], sizeof(ctx->ckpt_spare[0]), "%s", name);
	return true;
}

int ctr_ckpt_spare_take(struct keel_ctr *ctx, const char *id)
{
	int rv;

	if (ctx->n_ckpt_spare == 0)
		return -ENOENT;
	rv = ctr_ckpt_claim(ctx->containers_fd, ctx->ckpt_spare[ctx->n_ckpt_spare - 1], id);
	if (rv == 0 || rv == -ENOENT)
		ctx->n_ckpt_spare--; /* taken, or gone */
	return rv;
}

/* A finished container's checkpoint dir becomes a spare (no inode freed), or is removed. */
static int ckpt_retire(struct keel_ctr *ctx, const char *id)
{
	char spare[sizeof(ctx->ckpt_spare[0])];

	if (ctx->n_ckpt_spare < CTR_CKPT_SPARES &&
	    snprintf(spare, sizeof(spare), CTR_CKPT_SPARE_PREFIX "%s", id) < (int)sizeof(spare) &&
	    ctr_ckpt_recycle(ctx->containers_fd, id, spare) == 0 && ctr_ckpt_spare_keep(ctx, spare))
		return 0;
	return ctr_remove_tree_at(ctx->containers_fd, id);
}

/* Removes what an exited container leaves: cgroups, checkpoint. The record stays on error. */
static int destroy_now(struct keel_ctr *ctx, struct ctr_container *c)
{
	char name[KEEL_CTR_ID_SIZE], root[PATH_MAX];
	int rv;

	if (c->cg.n > 0 && !c->cg_settled) {
		/* Normally the supervisor removed them; after a lost supervisor they may remain. */
		ctr_cg_kill(&c->cg, 5000);
		rv = ctr_cg_remove(&c->cg);
		if (rv < 0)
			return keel_errno_f(ctx->errmsg, rv, "remove the cgroups of %s", c->id);
	}
	snprintf(name, sizeof(name), "%s", c->id);
	/* An image container's rootfs (upper dir or copy); its overlay mount died with it. */
	if (ctr_path_join(root, sizeof(root), ctx->rootfs_dir, name) == 0) {
		rv = ctr_remove_tree_at(AT_FDCWD, root);
		if (rv < 0)
			return keel_errno_f(ctx->errmsg, rv, "remove the rootfs of %s", c->id);
	}
	rv = ckpt_retire(ctx, name);
	if (rv < 0)
		return keel_errno_f(ctx->errmsg, rv, "remove the checkpoint of %s", c->id);
	unlink_container(ctx, c);
	return 0;
}

/* Events known for c and not yet delivered (0, 1 or 2). */
static int pending_events(const struct ctr_container *c)
{
	int n = 0;

	if (c->running_pid > 0 && !c->running_sent && !c->exit_sent)
		n++;
	if (c->exit_queued && !c->exit_sent)
		n++;
	return n;
}

static void deliver(struct keel_ctr *ctx, struct ctr_container *c)
{
	struct keel_ctr_status st;
	char id[KEEL_CTR_ID_SIZE];

	if (c->dead)
		return;
	if (c->running_pid > 0 && !c->running_sent && !c->exit_sent) {
		/* RUNNING goes out before EXITED, also when both are learnt at once. */
		c->running_sent = true;
		st = c->status;
		st.state = KEEL_CTR_RUNNING;
		st.reason = KEEL_CTR_REASON_NONE;
		st.exit_code = -1;
		st.signal = 0;
		st.task_pid = c->running_pid;
		memcpy(id, c->id, sizeof(id));
		if (ctx->on_event != NULL)
			ctx->on_event(ctx->event_data, id, &st);
		if (c->dead)
			return;
	}
	if (c->exit_queued && !c->exit_sent) {
		c->exit_queued = false;
		c->exit_sent = true;
		st = c->status;
		memcpy(id, c->id, sizeof(id));
		if (ctx->wait_id != NULL && strcmp(ctx->wait_id, id) == 0) {
			ctx->wait_done = true;
			ctx->wait_status = st;
		}
		if (ctx->on_event != NULL)
			ctx->on_event(ctx->event_data, id, &st);
		if (!c->dead && c->destroy_pending)
			destroy_now(ctx, c);
	}
}

static void drain_notify(struct keel_ctr *ctx, struct ctr_container *c)
{
	struct ctr_notify_msg m;
	ssize_t n;

	if (c->notify_fd < 0)
		return;
	while ((n = read(c->notify_fd, &m, sizeof(m))) == (ssize_t)sizeof(m)) {
		if (m.kind == CTR_NOTIFY_RUNNING && c->status.state == KEEL_CTR_STARTING) {
			c->status.state = KEEL_CTR_RUNNING;
			c->status.task_pid = m.pid;
			c->running_pid = m.pid;
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, c->notify_fd, NULL);
		close(c->notify_fd);
		c->notify_fd = -1;
	}
}

/* The supervisor exited: reap it, read what it recorded, queue the EXITED event. */
static void handle_exit(struct keel_ctr *ctx, struct ctr_container *c)
{
	char msg[KEEL_ERRMSG_SIZE] = "";
	siginfo_t si;
	int rv;

	drain_notify(ctx, c);
	refresh_state(ctx, c);
	unwatch_state(ctx, c);
	if (c->our_child) {
		memset(&si, 0, sizeof(si));
		waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &si, WEXITED | WNOHANG);
	}
	epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
	close(c->pidfd);
	c->pidfd = -1;
	rv = ctr_container_read_status(ctx, c, msg);
	if (rv < 0) {
		/* No status: the supervisor was killed (or crashed). Nothing may outlive it. */
		if (c->cg.n > 0)
			ctr_cg_kill(&c->cg, 5000);
		c->status.state = KEEL_CTR_EXITED;
		c->status.reason = KEEL_CTR_REASON_LOST;
		c->status.exit_code = -1;
		c->status.signal = 0;
		if (rv == -ENOENT)
			snprintf(c->status.message, sizeof(c->status.message),
				 "the supervisor exited without recording a status");
		else
			snprintf(c->status.message, sizeof(c->status.message),
				 "unreadable status checkpoint: %s", msg);
	}
	c->status.supervisor_pid = 0;
	ctr_container_queue_exit(ctx, c);
}

static void flush_graveyard(struct keel_ctr *ctx)
{
	if (ctx->in_process > 0)
		return;
	free_list(ctx->graveyard);
	ctx->graveyard = NULL;
}

int keel_ctr_process(struct keel_ctr *ctx)
{
	struct epoll_event evs[32];
	struct ctr_container *c;
	int n, i, delivered = 0;

	n = epoll_wait(ctx->epfd, evs, (int)KEEL_ARRAY_SIZE(evs), 0);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return keel_errno_f(ctx->errmsg, -errno, "epoll_wait");
	}
	ctx->in_process++;
	for (i = 0; i < n; i++) {
		struct ctr_watch *w = evs[i].data.ptr;

		if (w == NULL) {
			uint64_t v;
			if (read(ctx->evfd, &v, sizeof(v)) < 0) {
				/* EAGAIN: already drained. */
			}
			continue;
		}
		if (w->kind == CTR_WATCH_INOTIFY) {
			drain_inotify(ctx);
			continue;
		}
		c = w->c;
		if (c->dead)
			continue;
		if (w->kind == CTR_WATCH_NOTIFY)
			drain_notify(ctx, c);
		else if (c->pidfd >= 0)
			handle_exit(ctx, c);
	}
	/*
	 * Deliver in list order, RUNNING before EXITED per container. A callback
	 * may launch or destroy containers, so rescan from the head after each
	 * delivery; the sent flags make every event go out once.
	 */
	for (;;) {
		for (c = ctx->head; c != NULL; c = c->next) {
			if (pending_events(c) > 0)
				break;
		}
		if (c == NULL)
			break;
		delivered += pending_events(c);
		deliver(ctx, c);
	}
	ctx->in_process--;
	flush_graveyard(ctx);
	return delivered;
}

int keel_ctr_wait(struct keel_ctr *ctx, const char *id, int timeout_ms, struct keel_ctr_status *out)
{
	struct ctr_container *c = ctr_find(ctx, id);
	char wid[KEEL_CTR_ID_SIZE];
	struct timespec start, now;
	int rv = 0;

	if (c == NULL)
		return keel_errf(ctx->errmsg, -ENOENT, "no container %s", id ? id : "(null)");
	if (c->exit_sent) {
		*out = c->status;
		return 0;
	}
	memcpy(wid, c->id, sizeof(wid));
	ctx->wait_id = wid;
	ctx->wait_done = false;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!ctx->wait_done) {
		struct pollfd pfd = {ctx->epfd, POLLIN, 0};
		int left = -1;

		if (timeout_ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long spent = (now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000;
			if (spent >= timeout_ms) {
				rv = keel_errf(ctx->errmsg, -ETIMEDOUT,
					       "container %s still running after %d ms", id,
					       timeout_ms);
				break;
			}
			left = (int)(timeout_ms - spent);
		}
		if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
			rv = keel_errno_f(ctx->errmsg, -errno, "poll");
			break;
		}
		rv = keel_ctr_process(ctx);
		if (rv < 0)
			break;
		rv = 0;
	}
	if (rv == 0)
		*out = ctx->wait_status;
	ctx->wait_id = NULL;
	return rv;
}

int keel_ctr_status(const struct keel_ctr *ctx, const char *id, struct keel_ctr_status *out)
{
	const struct ctr_container *c = ctr_find(ctx, id);

	if (c == NULL)
		return -ENOENT;
	*out = c->status;
	return 0;
}

int keel_ctr_kill(struct keel_ctr *ctx, const char *id, uint32_t grace_ms)
{
	struct ctr_container *c = ctr_find(ctx, id);

	if (c == NULL)
		return keel_errf(ctx->errmsg, -ENOENT, "no container %s", id ? id : "(null)");
	if (c->pidfd < 0)
		return 0; /* exited already */
	if (grace_ms > INT32_MAX)
		grace_ms = INT32_MAX;
	if (ctr_pidfd_sigqueue(c->pidfd, SIGTERM, (int)grace_ms) < 0 && errno != ESRCH)
		return keel_errno_f(ctx->errmsg, -errno, "signal the supervisor of %s", id);
	return 0;
}

int keel_ctr_destroy(struct keel_ctr *ctx, const char *id)
{
	struct ctr_container *c = ctr_find(ctx, id);
	int rv;

	if (c == NULL)
		return keel_errf(ctx->errmsg, -ENOENT, "no container %s", id ? id : "(null)");
	if (c->exit_sent)
		return destroy_now(ctx, c);
	c->destroy_pending = true;
	rv = keel_ctr_kill(ctx, id, 0);
	return rv;
}

int keel_ctr_usage(struct keel_ctr *ctx, const char *id, struct keel_ctr_usage *out)
{
	struct ctr_container *c = ctr_find(ctx, id);

	if (c == NULL)
		return keel_errf(ctx->errmsg, -ENOENT, "no container %s", id ? id : "(null)");
	if (c->status.state == KEEL_CTR_EXITED) {
		*out = c->final_usage;
		return 0;
	}
	if (c->cg.n == 0)
		return keel_errf(ctx->errmsg, -ENOTSUP, "container %s has no cgroups", id);
	return ctr_cg_usage(&c->cg, out, NULL);
}

size_t keel_ctr_list(const struct keel_ctr *ctx, char (*ids)[KEEL_CTR_ID_SIZE], size_t cap)
{
	const struct ctr_container *c;
	size_t i = 0;

	for (c = ctx->head; c != NULL; c = c->next, i++) {
		if (i < cap)
			memcpy(ids[i], c->id, KEEL_CTR_ID_SIZE);
	}
	return i;
}

const char *keel_ctr_sandbox(const struct keel_ctr *ctx, const char *id)
{
	const struct ctr_container *c = ctr_find(ctx, id);

	return c ? c->sandbox : NULL;
}
