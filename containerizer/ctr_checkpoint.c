/* Checkpoint files: key=value formatting and parsing, atomic durable writes, bounded reads. */
#include "ctr_checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctr_sys.h"
#include "runtime/err.h"
#include "runtime/failpoint.h"

/* Output cursor over a fixed buffer; `over` records that something did not fit. */
struct kv_out {
	char *buf;  /* destination */
	size_t n;   /* its size */
	size_t off; /* bytes written */
	bool over;  /* ran out of room */
};

static void kv_raw(struct kv_out *o, const char *s, size_t len)
{
	if (o->over || o->off + len + 1 > o->n) {
		o->over = true;
		return;
	}
	memcpy(o->buf + o->off, s, len);
	o->off += len;
	o->buf[o->off] = '\0';
}

static void kv_str(struct kv_out *o, const char *key, const char *val)
{
	const char *p;

	kv_raw(o, key, strlen(key));
	kv_raw(o, "=", 1);
	for (p = val ? val : ""; *p != '\0'; p++) {
		if (*p == '\\')
			kv_raw(o, "\\\\", 2);
		else if (*p == '\n')
			kv_raw(o, "\\n", 2);
		else
			kv_raw(o, p, 1);
	}
	kv_raw(o, "\n", 1);
}

static void kv_num(struct kv_out *o, const char *key, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	kv_str(o, key, num);
}

static void kv_unum(struct kv_out *o, const char *key, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	kv_str(o, key, num);
}

int ctr_ckpt_state_format(char *buf, size_t n, const struct ctr_ckpt_state *s)
{
	struct kv_out o = {buf, n, 0, false};
	unsigned i;

	kv_str(&o, "version", "1");
	kv_str(&o, "id", s->id);
	kv_num(&o, "supervisor_pid", s->supervisor_pid);
	kv_num(&o, "task_pid", s->task_pid);
	kv_str(&o, "boot_id", s->boot_id);
	kv_str(&o, "launcher", s->launcher);
	kv_str(&o, "cgroup_mode", s->cgroup_mode);
	for (i = 0; i < s->n_cgroups && i < CTR_CG_NCTRL; i++) {
		char val[32 + 4096];

		/* "<controller mask>:<dir>" */
		snprintf(val, sizeof(val), "%x:%s", s->cgroup_ctrls[i], s->cgroups[i]);
		kv_str(&o, "cgroup", val);
	}
	kv_str(&o, "sandbox", s->sandbox);
	return o.over ? -ENOSPC : (int)o.off;
}

int ctr_ckpt_status_format(char *buf, size_t n, const struct ctr_ckpt_status *s)
{
	struct kv_out o = {buf, n, 0, false};

	kv_str(&o, "version", "1");
	if (s->id != NULL)
		kv_str(&o, "id", s->id);
	kv_str(&o, "reason", ctr_reason_name(s->reason));
	kv_num(&o, "exit_code", s->exit_code);
	kv_num(&o, "signal", s->signal);
	kv_num(&o, "limits_hit", s->limits_hit);
	kv_str(&o, "message", s->message);
	kv_num(&o, "cgroups_left", s->cgroups_left);
	if (s->cgroups_pool != NULL && s->cgroups_pool[0] != '\0')
		kv_str(&o, "cgroups_pool", s->cgroups_pool);
	kv_unum(&o, "cpu_usec", s->usage.cpu_usec);
	kv_unum(&o, "mem_peak_bytes", s->usage.mem_peak_bytes);
	kv_unum(&o, "oom_kills", s->usage.oom_kills);
	kv_unum(&o, "pids_max_events", s->usage.pids_max_events);
	return o.over ? -ENOSPC : (int)o.off;
}

/* Calls fn(key, value) for each line after unescaping the value in place. */
static int kv_parse(char *buf, size_t len, bool torn_tail_ok,
		    int (*fn)(void *, const char *, char *), void *arg, char *errmsg)
{
	char *p = buf, *end = buf + len;
	bool versioned = false;

	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL)
		return keel_errf(errmsg, -EINVAL, "checkpoint contains a NUL byte");
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eq, *r, *w;
		int rv;

		if (nl == NULL && torn_tail_ok)
			break; /* a record being appended: not there yet */
		if (nl == NULL)
			return keel_errf(errmsg, -EINVAL,
					 "checkpoint: last line is not terminated");
		*nl = '\0';
		eq = strchr(p, '=');
		if (eq == NULL || eq == p)
			return keel_errf(errmsg, -EINVAL, "checkpoint: malformed line");
		*eq = '\0';
		for (r = w = eq + 1; *r != '\0'; r++) {
			if (*r != '\\') {
				*w++ = *r;
				continue;
			}
			r++;
			if (*r == 'n')
				*w++ = '\n';
			else if (*r == '\\')
				*w++ = '\\';
			else
				return keel_errf(errmsg, -EINVAL, "checkpoint: bad escape in %s",
						 p);
		}
		*w = '\0';
		if (!versioned) {
			if (strcmp(p, "version") != 0 || strcmp(eq + 1, "1") != 0)
				return keel_errf(errmsg, -EINVAL,
						 "checkpoint: not a version 1 checkpoint");
			versioned = true;
		} else {
			rv = fn(arg, p, eq + 1);
			if (rv < 0)
				return keel_errf(errmsg, rv, "checkpoint: bad value for %s", p);
		}
		p = nl + 1;
	}
	if (!versioned)
		return keel_errf(errmsg, -EINVAL, "checkpoint is empty");
	return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (*s == '\0')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return -EINVAL;
	return 0;
}

/* Parser state for the state file: which required keys were seen. */
struct state_parse {
	struct ctr_ckpt_state *s; /* output */
	unsigned seen;		  /* bit per required key */
};

static int state_kv(void *arg, const char *key, char *val)
{
	struct state_parse *sp = arg;
	struct ctr_ckpt_state *s = sp->s;

	if (strcmp(key, "id") == 0) {
		s->id = val;
		sp->seen |= 1;
	} else if (strcmp(key, "supervisor_pid") == 0) {
		sp->seen |= 2;
		return parse_long(val, 1, INT32_MAX, &s->supervisor_pid);
	} else if (strcmp(key, "task_pid") == 0) {
		return parse_long(val, 0, INT32_MAX, &s->task_pid);
	} else if (strcmp(key, "boot_id") == 0) {
		s->boot_id = val;
	} else if (strcmp(key, "launcher") == 0) {
		s->launcher = val;
	} else if (strcmp(key, "cgroup_mode") == 0) {
		s->cgroup_mode = val;
		sp->seen |= 4;
	} else if (strcmp(key, "cgroup") == 0) {
		char *colon = strchr(val, ':'), *end;
		unsigned long mask;

		if (s->n_cgroups >= CTR_CG_NCTRL || colon == NULL || colon == val ||
		    colon[1] != '/')
			return -EINVAL;
		*colon = '\0';
		errno = 0;
		mask = strtoul(val, &end, 16);
		if (*end != '\0' || errno != 0 || mask >= (1ul << CTR_CG_NCTRL))
			return -EINVAL;
		s->cgroup_ctrls[s->n_cgroups] = (unsigned)mask;
		s->cgroups[s->n_cgroups++] = colon + 1;
	} else if (strcmp(key, "sandbox") == 0) {
		s->sandbox = val;
	}
	return 0;
}

int ctr_ckpt_state_parse(char *buf, size_t len, struct ctr_ckpt_state *s, char *errmsg)
{
	struct state_parse sp = {s, 0};
	int rv;

	memset(s, 0, sizeof(*s));
	rv = kv_parse(buf, len, true, state_kv, &sp, errmsg);
	if (rv < 0)
		return rv;
	if (sp.seen != 7)
		return keel_errf(errmsg, -EINVAL, "checkpoint state lacks a required key");
	if (s->boot_id == NULL)
		s->boot_id = "";
	if (s->launcher == NULL)
		s->launcher = "";
	if (s->sandbox == NULL)
		s->sandbox = "";
	if (strcmp(s->cgroup_mode, "none") != 0 && strcmp(s->cgroup_mode, "v1") != 0 &&
	    strcmp(s->cgroup_mode, "v2") != 0)
		return keel_errf(errmsg, -EINVAL, "checkpoint state: unknown cgroup mode");
	return 0;
}

/* Parser state for the status file. */
struct status_parse {
	struct ctr_ckpt_status *s; /* output */
	bool have_reason;	   /* the required key was seen */
};

static int status_kv(void *arg, const char *key, char *val)
{
	struct status_parse *sp = arg;
	struct ctr_ckpt_status *s = sp->s;
	long v = 0;
	int rv;

	if (strcmp(key, "id") == 0) {
		s->id = val;
		return 0;
	}
	if (strcmp(key, "reason") == 0) {
		rv = ctr_reason_parse(val, &s->reason);
		sp->have_reason = rv == 0;
		return rv;
	}
	if (strcmp(key, "exit_code") == 0) {
		rv = parse_long(val, -1, 255, &v);
		s->exit_code = (int)v;
		return rv;
	}
	if (strcmp(key, "signal") == 0) {
		rv = parse_long(val, 0, 64, &v);
		s->signal = (int)v;
		return rv;
	}
	if (strcmp(key, "limits_hit") == 0) {
		rv = parse_long(val, 0, 0xff, &v);
		s->limits_hit = (unsigned)v;
		return rv;
	}
	if (strcmp(key, "cgroups_left") == 0) {
		rv = parse_long(val, 0, 1, &v);
		s->cgroups_left = v == 1;
		return rv;
	}
	if (strcmp(key, "cgroups_pool") == 0) {
		s->cgroups_pool = val;
		return 0;
	}
	if (strcmp(key, "message") == 0) {
		s->message = val;
		return 0;
	}
	if (strcmp(key, "cpu_usec") == 0)
		return parse_u64(val, &s->usage.cpu_usec);
	if (strcmp(key, "mem_peak_bytes") == 0)
		return parse_u64(val, &s->usage.mem_peak_bytes);
	if (strcmp(key, "oom_kills") == 0)
		return parse_u64(val, &s->usage.oom_kills);
	if (strcmp(key, "pids_max_events") == 0)
		return parse_u64(val, &s->usage.pids_max_events);
	return 0;
}

int ctr_ckpt_status_parse(char *buf, size_t len, struct ctr_ckpt_status *s, char *errmsg)
{
	struct status_parse sp = {s, false};
	int rv;

	memset(s, 0, sizeof(*s));
	s->exit_code = -1;
	s->message = "";
	rv = kv_parse(buf, len, false, status_kv, &sp, errmsg);
	if (rv < 0)
		return rv;
	if (!sp.have_reason)
		return keel_errf(errmsg, -EINVAL, "checkpoint status lacks a reason");
	return 0;
}

int ctr_ckpt_write(int dirfd, const char *name, const char *data, size_t len, bool durable)
{
	char tmp[64];
	size_t off = 0;
	int fd, rv = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rv = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (rv == 0)
		rv = KEEL_FAILPOINT("ctr_ckpt_write");
	if (rv == 0 && durable && fsync(fd) < 0)
		rv = -errno;
	close(fd);
	if (rv == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		rv = -errno;
	if (rv < 0) {
		unlinkat(dirfd, tmp, 0);
		return rv;
	}
	if (durable && fsync(dirfd) < 0)
		return -errno;
	return 0;
}

/* write(2) until done; 0 or -errno. */
static int write_all(int fd, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)w;
	}
	return 0;
}

int ctr_ckpt_create(int dirfd, const char *name, const char *data, size_t len)
{
	int fd, rv;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	rv = KEEL_FAILPOINT("ctr_ckpt_write"); /* as a failed write */
	if (rv == 0)
		rv = write_all(fd, data, len);
	if (rv < 0) {
		close(fd);
		unlinkat(dirfd, name, 0);
		return rv;
	}
	return fd;
}

int ctr_ckpt_append(int fd, const char *data, size_t len)
{
	return write_all(fd, data, len);
}

int ctr_ckpt_recycle(int containers_fd, const char *id, const char *spare)
{
	struct dirent *de;
	int dfd, fd, rv = 0;
	DIR *d;

	dfd = openat(containers_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = dup(dfd);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		rv = -errno;
		if (fd >= 0)
			close(fd);
		close(dfd);
		return rv;
	}
	while (rv == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, CTR_CKPT_STATE) != 0 &&
		    strcmp(de->d_name, CTR_CKPT_STATUS) != 0 &&
		    strcmp(de->d_name, CTR_CKPT_STATUS ".tmp") != 0)
			rv = -ENOTEMPTY;
	}
	closedir(d);
	if (rv == 0) {
		fd = openat(dfd, CTR_CKPT_STATE, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
		else if (errno != ENOENT)
			rv = -errno;
	}
	if (rv == 0 && renameat(dfd, CTR_CKPT_STATUS, dfd, CTR_CKPT_STATUS ".tmp") < 0 &&
	    errno != ENOENT)
		rv = -errno;
	close(dfd);
	if (rv == 0 && ctr_renameat2(containers_fd, id, containers_fd, spare, RENAME_NOREPLACE) < 0)
		rv = -errno;
	return rv;
}

int ctr_ckpt_claim(int containers_fd, const char *spare, const char *id)
{
	return ctr_renameat2(containers_fd, spare, containers_fd, id, RENAME_NOREPLACE) < 0 ? -errno
											    : 0;
}

int ctr_ckpt_read(int dirfd, const char *name, char *buf, size_t n)
{
	size_t off = 0;
	int fd, rv = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, buf + off, n - off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rv = -errno;
			break;
		}
		if (r == 0)
			break;
		off += (size_t)r;
		if (off == n) {
			rv = -EFBIG;
			break;
		}
	}
	close(fd);
	return rv < 0 ? rv : (int)off;
}

static const char *const reason_names[] = {
    [KEEL_CTR_REASON_NONE] = "none",	     [KEEL_CTR_REASON_EXITED] = "exited",
    [KEEL_CTR_REASON_SIGNALED] = "signaled", [KEEL_CTR_REASON_OOM] = "oom",
    [KEEL_CTR_REASON_KILLED] = "killed",     [KEEL_CTR_REASON_LAUNCH_FAILED] = "launch_failed",
    [KEEL_CTR_REASON_LOST] = "lost",
};

const char *ctr_reason_name(enum keel_ctr_reason r)
{
	if ((unsigned)r >= KEEL_ARRAY_SIZE(reason_names))
		return "unknown";
	return reason_names[r];
}

int ctr_reason_parse(const char *s, enum keel_ctr_reason *out)
{
	size_t i;

	for (i = 1; i < KEEL_ARRAY_SIZE(reason_names); i++) {
		if (strcmp(s, reason_names[i]) == 0) {
			*out = (enum keel_ctr_reason)i;
			return 0;
		}
	}
	return -EINVAL;
}

void ctr_boot_id(char out[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	out[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, out, 39);
	close(fd);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
}
