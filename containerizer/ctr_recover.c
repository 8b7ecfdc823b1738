/* keel_ctr_recover: reattach to containers found in the work dir, or report their end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ctr_checkpoint.h"
#include "ctr_internal.h"
#include "ctr_path.h"
#include "ctr_sys.h"
#include "runtime/alloc.h"

/* How long recovery waits for a supervisor caught between its start and its first checkpoint. */
#define RECOVER_STATE_WAIT_MS 1000

/* True while some process (the supervisor) holds the lock on the checkpoint directory. */
static bool lock_held(int lock_fd)
{
	if (flock(lock_fd, LOCK_EX | LOCK_NB) == 0) {
		flock(lock_fd, LOCK_UN);
		return false;
	}
	return errno == EWOULDBLOCK;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};

	nanosleep(&ts, NULL);
}

/* Fills c->sandbox and c->cg from a parsed state. */
static int adopt_state(struct ctr_container *c, const struct ctr_ckpt_state *st)
{
	unsigned i;

	if (c->sandbox == NULL && st->sandbox[0] != '\0') {
		c->sandbox = keel_strdup(st->sandbox);
		if (c->sandbox == NULL)
			return -ENOMEM;
	}
	if (c->cg.n > 0)
		return 0;
	c->cg.mode = strcmp(st->cgroup_mode, "v1") == 0	  ? KEEL_CTR_CGROUP_V1
		     : strcmp(st->cgroup_mode, "v2") == 0 ? KEEL_CTR_CGROUP_V2
							  : KEEL_CTR_CGROUP_NONE;
	for (i = 0; i < st->n_cgroups; i++) {
		c->cg.dir[i] = keel_strdup(st->cgroups[i]);
		if (c->cg.dir[i] == NULL)
			return -ENOMEM;
		c->cg.ctrls[i] = st->cgroup_ctrls[i];
		c->cg.n = i + 1;
	}
	return 0;
}

/* Reads and parses the state file into st (strings in buf). */
static int read_state(int meta_fd, const char *id, char *buf, size_t n, struct ctr_ckpt_state *st,
		      char *errmsg)
{
	int len = ctr_ckpt_read(meta_fd, CTR_CKPT_STATE, buf, n - 1);
	int rv;

	if (len < 0)
		return len;
	rv = ctr_ckpt_state_parse(buf, (size_t)len, st, errmsg);
	if (rv == 0 && strcmp(st->id, id) != 0)
		return -ESTALE; /* an earlier container's, in a reused dir a host crash rolled back
				 */
	return rv;
}

/* The supervisor is gone without a status: clean up and record the container as lost. */
static void recover_lost(struct keel_ctr *ctx, struct ctr_container *c, int meta_fd,
			 const struct ctr_ckpt_state *st)
{
	char boot[40], buf[CTR_CKPT_MAX];
	struct ctr_ckpt_status out;
	int n;

	ctr_boot_id(boot);
	if (c->cg.n > 0) {
		ctr_cg_kill(&c->cg, 5000);
		ctr_cg_remove(&c->cg);
	}
	c->status.state = KEEL_CTR_EXITED;
	c->status.reason = KEEL_CTR_REASON_LOST;
	c->status.exit_code = -1;
	if (st != NULL && st->boot_id[0] != '\0' && strcmp(st->boot_id, boot) != 0)
		snprintf(c->status.message, sizeof(c->status.message),
			 "the host rebooted while the container ran");
	else if (st == NULL)
		snprintf(c->status.message, sizeof(c->status.message),
			 "the supervisor died before it recorded anything");
	else
		snprintf(c->status.message, sizeof(c->status.message),
			 "the supervisor died without recording a status");
	/* Record it, so that another recovery tells the same story. */
	memset(&out, 0, sizeof(out));
	out.id = c->id;
	out.reason = KEEL_CTR_REASON_LOST;
	out.exit_code = -1;
	out.message = c->status.message;
	n = ctr_ckpt_status_format(buf, sizeof(buf), &out);
	if (n > 0)
		ctr_ckpt_write(meta_fd, CTR_CKPT_STATUS, buf, (size_t)n, true);
	ctr_container_queue_exit(ctx, c);
}

/* Recovers one container directory; *attached tells whether it joined the context. */
static int recover_one(struct keel_ctr *ctx, const char *id, bool *attached)
{
	char buf[CTR_CKPT_MAX + 1], msg[KEEL_ERRMSG_SIZE] = "";
	struct ctr_ckpt_state st;
	struct ctr_container *c = NULL;
	bool have_state = false;
	int meta_fd, lock_fd = -1, rv, waited = 0;

	*attached = false;
	meta_fd = openat(ctx->containers_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (meta_fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	/* The lock is on the directory (a separate open: flock belongs to the open file). */
	lock_fd = openat(meta_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock_fd < 0) {
		rv = -errno;
		close(meta_fd);
		return keel_errno_f(ctx->errmsg, rv, "open %s to test its lock", id);
	}
	rv = ctr_container_new(ctx, id, &c);
	if (rv < 0)
		goto out;
	for (;;) {
		rv = ctr_container_read_status(ctx, c, msg);
		if (rv == 0) {
			/* It ended while nobody watched: deliver what the supervisor recorded. */
			if (read_state(meta_fd, id, buf, sizeof(buf), &st, msg) == 0)
				adopt_state(c, &st);
			ctr_container_queue_exit(ctx, c);
			break;
		}
		if (rv != -ENOENT) {
			/* A status that does not parse: report it, never guess an outcome. */
			c->status.state = KEEL_CTR_EXITED;
			c->status.reason = KEEL_CTR_REASON_LOST;
			snprintf(c->status.message, sizeof(c->status.message),
				 "unreadable status checkpoint: %s", msg);
			ctr_container_queue_exit(ctx, c);
			break;
		}
		have_state = read_state(meta_fd, id, buf, sizeof(buf), &st, msg) == 0;
		if (!lock_held(lock_fd)) {
			/* Re-read: the supervisor may have written its status and exited just now.
			 */
			if (ctr_container_read_status(ctx, c, msg) == 0) {
				ctr_container_queue_exit(ctx, c);
				if (have_state)
					adopt_state(c, &st);
				break;
			}
			if (have_state && (rv = adopt_state(c, &st)) < 0)
				goto out;
			recover_lost(ctx, c, meta_fd, have_state ? &st : NULL);
			break;
		}
		if (!have_state) {
			/* Forked a moment ago; its first checkpoint is on the way. */
			if (waited >= RECOVER_STATE_WAIT_MS) {
				rv = keel_errf(ctx->errmsg, -ETIMEDOUT,
					       "container %s: supervisor alive but no state "
					       "checkpoint",
					       id);
				goto out;
			}
			sleep_ms(1);
			waited++;
			continue;
		}
		c->pidfd = ctr_pidfd_open((pid_t)st.supervisor_pid);
		if (c->pidfd < 0 && errno != ESRCH) {
			rv = keel_errno_f(ctx->errmsg, -errno, "pidfd_open %ld", st.supervisor_pid);
			goto out;
		}
		/*
		 * The lock still held after pidfd_open means the supervisor lived
		 * through it, so the pidfd names the supervisor and not a process that
		 * reused its pid.
		 */
		if (c->pidfd < 0 || !lock_held(lock_fd)) {
			if (c->pidfd >= 0)
				close(c->pidfd);
			c->pidfd = -1;
			if (waited >= RECOVER_STATE_WAIT_MS) {
				rv = keel_errf(ctx->errmsg, -ETIMEDOUT,
					       "container %s: its lock is held but supervisor %ld "
					       "is gone",
					       id, st.supervisor_pid);
				goto out;
			}
			sleep_ms(1);
			waited++;
			continue;
		}
		rv = adopt_state(c, &st);
		if (rv < 0)
			goto out;
		c->status.supervisor_pid = (pid_t)st.supervisor_pid;
		c->status.task_pid = (pid_t)st.task_pid;
		c->status.state = st.task_pid > 0 ? KEEL_CTR_RUNNING : KEEL_CTR_STARTING;
		c->running_pid = (pid_t)st.task_pid;
		break;
	}
	rv = ctr_container_attach(ctx, c);
	if (rv < 0) {
		keel_errno_f(ctx->errmsg, rv, "watch container %s", id);
		goto out;
	}
	if (c->status.state == KEEL_CTR_STARTING && ctr_container_watch_state(ctx, c) < 0) {
		/* Without the watch RUNNING may go unreported; the exit is still reported. */
	}
	if (c->running_pid > 0)
		ctr_wake(ctx); /* its RUNNING event */
	c = NULL;
	*attached = true;
out:
	if (c != NULL)
		ctr_container_free(c);
	if (lock_fd >= 0)
		close(lock_fd);
	close(meta_fd);
	return rv;
}

int keel_ctr_recover(struct keel_ctr *ctx, size_t *n_recovered)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int fd, rv = 0;

	ctx->errmsg[0] = '\0';
	if (n_recovered != NULL)
		*n_recovered = 0;
	fd = openat(ctx->containers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return keel_errno_f(ctx->errmsg, -errno, "open %s", ctx->containers_dir);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return keel_errno_f(ctx->errmsg, -errno, "opendir %s", ctx->containers_dir);
	}
	while ((de = readdir(d)) != NULL) {
		bool attached;
		int r;

		if (strncmp(de->d_name, CTR_CKPT_SPARE_PREFIX, strlen(CTR_CKPT_SPARE_PREFIX)) ==
		    0) {
			/* A spare dir an earlier context left: reuse it (or remove it). */
			ctr_ckpt_spare_keep(ctx, de->d_name);
			continue;
		}
		if (!ctr_id_valid(de->d_name) || ctr_find(ctx, de->d_name) != NULL)
			continue;
		r = recover_one(ctx, de->d_name, &attached);
		if (r < 0 && rv == 0)
			rv = r; /* keep going: one bad directory must not hide the others */
		if (attached)
			n++;
	}
	closedir(d);
	if (n_recovered != NULL)
		*n_recovered = n;
	return rv;
}
