/* keel_ctr_launch: check the whole spec, build the plan, create the container's dirs, spawn. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctr_caps.h"
#include "ctr_image.h"
#include "ctr_internal.h"
#include "ctr_path.h"
#include "ctr_plan.h"
#include "ctr_spawn.h"
#include "ctr_sys.h"
#include "runtime/alloc.h"
#include "runtime/failpoint.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_GRACE_MS 3000
#define MIN_MEM_BYTES (4 << 20)
#define MAX_MOUNTS 64

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

static int parse_id_number(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || errno != 0 || v >= (unsigned long)UINT32_MAX)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/*
 * Resolves "user[:group]" (names or numbers) on the host: uid, gid and the
 * supplementary groups of a named user. A numeric uid without a passwd entry
 * and without a group gets gid = uid and no supplementary groups.
 */
static int resolve_user(struct ctr_plan *p, const char *spec, char *errmsg)
{
	char userpart[256], *grouppart;
	char buf[16384];
	struct passwd pwd, *pw = NULL;
	struct group grp, *gr = NULL;
	bool have_gid = false;
	unsigned num;
	int rv;

	if (snprintf(userpart, sizeof(userpart), "%s", spec) >= (int)sizeof(userpart))
		return keel_errf(errmsg, -EINVAL, "user '%s': too long", spec);
	grouppart = strchr(userpart, ':');
	if (grouppart != NULL)
		*grouppart++ = '\0';
	if (userpart[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "user '%s': empty user name", spec);
	if (all_digits(userpart)) {
		if (parse_id_number(userpart, &num) < 0)
			return keel_errf(errmsg, -EINVAL, "user '%s': bad uid", spec);
		p->uid = num;
		rv = getpwuid_r(num, &pwd, buf, sizeof(buf), &pw);
	} else {
		rv = getpwnam_r(userpart, &pwd, buf, sizeof(buf), &pw);
		if (pw == NULL)
			return keel_errf(errmsg, rv ? -rv : -EINVAL, "unknown user '%s'", userpart);
		p->uid = pw->pw_uid;
	}
	if (grouppart != NULL) {
		char gbuf[16384];

		if (all_digits(grouppart)) {
			if (parse_id_number(grouppart, &num) < 0)
				return keel_errf(errmsg, -EINVAL, "user '%s': bad gid", spec);
			p->gid = num;
		} else {
			rv = getgrnam_r(grouppart, &grp, gbuf, sizeof(gbuf), &gr);
			if (gr == NULL)
				return keel_errf(errmsg, rv ? -rv : -EINVAL, "unknown group '%s'",
						 grouppart);
			p->gid = gr->gr_gid;
		}
		have_gid = true;
	}
	if (!have_gid)
		p->gid = pw != NULL ? pw->pw_gid : p->uid;
	if (pw != NULL) {
		int n = 64;

		for (;;) {
			gid_t *groups = keel_calloc((size_t)n, sizeof(gid_t));
			int got = n;

			if (groups == NULL)
				return keel_errf(errmsg, -ENOMEM, "out of memory");
			if (getgrouplist(pw->pw_name, p->gid, groups, &got) >= 0) {
				p->groups = groups;
				p->ngroups = (size_t)got;
				break;
			}
			keel_free(groups);
			if (got <= n || got > 65536)
				return keel_errf(errmsg, -EINVAL, "user '%s': cannot list groups",
						 spec);
			n = got;
		}
	}
	p->set_user = true;
	return 0;
}

static char **strv_dup(const char *const *v, size_t extra, size_t *count)
{
	size_t n = 0, i;
	char **out;

	while (v != NULL && v[n] != NULL)
		n++;
	out = keel_calloc(n + extra + 1, sizeof(char *));
	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		out[i] = keel_strdup(v[i]);
		if (out[i] == NULL) {
			while (i > 0)
				keel_free(out[--i]);
			keel_free(out);
			return NULL;
		}
	}
	*count = n;
	return out;
}

static const char *env_lookup(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env != NULL && *env != NULL; env++) {
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	}
	return NULL;
}

static int copy_str(char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	*dst = keel_strdup(src);
	return *dst == NULL ? -ENOMEM : 0;
}

/* Checks what needs no allocation: numbers, launcher, paths, files that must exist. */
static int spec_check(struct keel_ctr *ctx, const struct keel_ctr_spec *spec,
		      enum keel_ctr_launcher *launcher)
{
	char *e = ctx->errmsg;
	struct stat st;
	size_t i;
	int rv;

	if (spec == NULL)
		return keel_errf(e, -EINVAL, "spec is required");
	if (spec->image == NULL &&
	    (spec->argv == NULL || spec->argv[0] == NULL || spec->argv[0][0] == '\0'))
		return keel_errf(e, -EINVAL, "argv: a program to run is required");
	if (spec->argv != NULL && spec->argv[0] != NULL && spec->argv[0][0] == '\0')
		return keel_errf(e, -EINVAL, "argv: the program name is empty");
	if (spec->id != NULL && !ctr_id_valid(spec->id))
		return keel_errf(e, -EINVAL,
				 "id '%s': use 1-63 characters of [A-Za-z0-9_.-], not starting "
				 "with '.'",
				 spec->id);
	*launcher = spec->launcher;
	if (*launcher == KEEL_CTR_LAUNCHER_DEFAULT)
		*launcher = ctx->is_root ? KEEL_CTR_LAUNCHER_LINUX : KEEL_CTR_LAUNCHER_POSIX;
	if (*launcher != KEEL_CTR_LAUNCHER_LINUX && *launcher != KEEL_CTR_LAUNCHER_POSIX)
		return keel_errf(e, -EINVAL, "launcher: unknown value %d", (int)spec->launcher);
	if (*launcher == KEEL_CTR_LAUNCHER_LINUX && !ctx->is_root)
		return keel_errf(e, -EPERM,
				 "the linux launcher needs root; use the posix launcher");
	if (!isfinite(spec->cpus) || spec->cpus < 0)
		return keel_errf(e, -EINVAL, "cpus: %g is not a non-negative number", spec->cpus);
	if (spec->cpus > 4096)
		return keel_errf(e, -EINVAL, "cpus: %g is more than 4096", spec->cpus);
	if (spec->mem_bytes < 0)
		return keel_errf(e, -EINVAL, "memory limit: %lld is negative",
				 (long long)spec->mem_bytes);
	if (spec->mem_bytes > 0 && spec->mem_bytes < MIN_MEM_BYTES)
		return keel_errf(e, -EINVAL, "memory limit: %lld bytes is below the 4 MiB minimum",
				 (long long)spec->mem_bytes);
	if (spec->pids_max < 0)
		return keel_errf(e, -EINVAL, "pids limit: %lld is negative",
				 (long long)spec->pids_max);
	struct ctr_cg_limits lim = {spec->cpus, spec->mem_bytes, spec->pids_max};
	rv = ctr_cg_check_limits(&ctx->cg, &lim, e);
	if (rv < 0)
		return rv;
	if (spec->rootfs != NULL) {
		if (*launcher != KEEL_CTR_LAUNCHER_LINUX)
			return keel_errf(e, -EINVAL, "rootfs: the posix launcher cannot use one");
		rv = ctr_path_check("rootfs", spec->rootfs, true, e);
		if (rv < 0)
			return rv;
		if (stat(spec->rootfs, &st) < 0)
			return keel_errno_f(e, -errno, "rootfs %s", spec->rootfs);
		if (!S_ISDIR(st.st_mode))
			return keel_errf(e, -ENOTDIR, "rootfs %s: not a directory", spec->rootfs);
	}
	if (spec->image != NULL) {
		if (spec->rootfs != NULL)
			return keel_errf(e, -EINVAL, "image and rootfs: give one or the other");
		if (*launcher != KEEL_CTR_LAUNCHER_LINUX)
			return keel_errf(e, -EINVAL, "image: needs the linux launcher");
	}
	if (spec->sandbox != NULL && (rv = ctr_path_check("sandbox", spec->sandbox, true, e)) < 0)
		return rv;
	if (spec->cwd != NULL && (rv = ctr_path_check("cwd", spec->cwd, true, e)) < 0)
		return rv;
	if (spec->n_mounts > 0) {
		if ((spec->rootfs == NULL && spec->image == NULL) || spec->mounts == NULL)
			return keel_errf(
			    e, -EINVAL, "mounts: only containers with a rootfs or image have them");
		if (spec->n_mounts > MAX_MOUNTS)
			return keel_errf(e, -EINVAL, "mounts: at most %d", MAX_MOUNTS);
	}
	for (i = 0; i < spec->n_mounts; i++) {
		const struct keel_ctr_mount *m = &spec->mounts[i];
		bool abs_src = m->source != NULL && m->source[0] == '/';

		rv = ctr_path_check("mount source", m->source, abs_src, e);
		if (rv == 0)
			rv = ctr_path_check("mount target", m->target, true, e);
		if (rv < 0)
			return rv;
		if (strcmp(m->target, "/") == 0)
			return keel_errf(e, -EINVAL, "mount target: cannot be /");
		if (abs_src && stat(m->source, &st) < 0)
			return keel_errno_f(e, -errno, "mount source %s", m->source);
	}
	for (i = 0; spec->env != NULL && spec->env[i] != NULL; i++) {
		const char *eq = strchr(spec->env[i], '=');
		if (eq == NULL || eq == spec->env[i])
			return keel_errf(e, -EINVAL, "env: '%s' is not NAME=value", spec->env[i]);
	}
	if (spec->hostname != NULL) {
		size_t n = strlen(spec->hostname);
		if (n == 0 || n > 63)
			return keel_errf(e, -EINVAL, "hostname: 1 to 63 characters");
		if (*launcher != KEEL_CTR_LAUNCHER_LINUX)
			return keel_errf(e, -EINVAL, "hostname: needs the linux launcher");
	}
	if (spec->network_ns && *launcher != KEEL_CTR_LAUNCHER_LINUX)
		return keel_errf(e, -EINVAL, "network namespace: needs the linux launcher");
	if (spec->caps_set && (rv = ctr_caps_check(&spec->caps, ctx->cap_last, e)) < 0)
		return rv;
	if (spec->seccomp != KEEL_CTR_SECCOMP_DEFAULT &&
	    spec->seccomp != KEEL_CTR_SECCOMP_UNCONFINED)
		return keel_errf(e, -EINVAL, "seccomp: unknown profile %d", (int)spec->seccomp);
	return 0;
}

static int gen_id(char id[KEEL_CTR_ID_SIZE])
{
	unsigned char r[8];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -errno;
	for (i = 0; i < sizeof(r); i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* Concatenates two NULL-terminated lists (either may be NULL) into a heap copy. */
static char **strv_concat(const char *const *a, const char *const *b)
{
	size_t na = 0, nb = 0, i;
	char **out;

	while (a != NULL && a[na] != NULL)
		na++;
	while (b != NULL && b[nb] != NULL)
		nb++;
	out = keel_calloc(na + nb + 1, sizeof(char *));
	if (out == NULL)
		return NULL;
	for (i = 0; i < na + nb; i++) {
		out[i] = keel_strdup(i < na ? a[i] : b[i - na]);
		if (out[i] == NULL) {
			while (i > 0)
				keel_free(out[--i]);
			keel_free(out);
			return NULL;
		}
	}
	return out;
}

/*
 * The environment: `base` (the image's), then `over` (the spec's) replacing
 * variables of the same name or adding new ones; room for `extra` more.
 */
static char **env_merge(const char *const *base, const char *const *over, size_t extra,
			size_t *count)
{
	char **out = strv_dup(base, 0, count);
	size_t n_over = 0, i, k;

	if (out == NULL)
		return NULL;
	while (over != NULL && over[n_over] != NULL)
		n_over++;
	char **grown = keel_realloc(out, (*count + n_over + extra + 1) * sizeof(char *));
	if (grown == NULL) {
		for (i = 0; i < *count; i++)
			keel_free(out[i]);
		keel_free(out);
		return NULL;
	}
	out = grown;
	memset(out + *count, 0, (n_over + extra + 1) * sizeof(char *));
	for (i = 0; i < n_over; i++) {
		size_t name_len = (size_t)(strchr(over[i], '=') - over[i]) + 1;
		char *copy = keel_strdup(over[i]);

		if (copy == NULL) {
			for (k = 0; out[k] != NULL; k++)
				keel_free(out[k]);
			keel_free(out);
			return NULL;
		}
		for (k = 0; k < *count; k++) {
			if (strncmp(out[k], over[i], name_len) == 0)
				break;
		}
		if (k < *count) {
			keel_free(out[k]);
			out[k] = copy;
		} else {
			out[(*count)++] = copy;
		}
	}
	return out;
}

/*
 * An image container's rootfs: <rootfs_dir>/<id>/merged, an overlayfs of the
 * layers (top first in lowerdir) or, without overlayfs, a copy of them.
 */
static int plan_image_root(struct keel_ctr *ctx, struct ctr_plan *p, const struct ctr_image *img)
{
	char root[PATH_MAX], merged[PATH_MAX + 8];
	size_t i, len = 0;

	if (ctr_path_join(root, sizeof(root), ctx->rootfs_dir, p->id) < 0)
		return -ENAMETOOLONG;
	snprintf(merged, sizeof(merged), "%s/merged", root);
	keel_free(p->rootfs);
	p->rootfs = keel_strdup(merged);
	p->image_root = keel_strdup(root);
	if (p->rootfs == NULL || p->image_root == NULL)
		return -ENOMEM;
	for (i = 0; i < img->n_layers; i++)
		len += strlen(img->layers[i]) + 1;
	len += 2 * strlen(root) + 64;
	/* Mount data is one page; a very deep image falls back to copying. */
	if (ctx->overlay_ok && !ctx->image_copy && img->n_layers > 0 && len < 4000) {
		size_t off;

		p->overlay_opts = keel_malloc(len);
		if (p->overlay_opts == NULL)
			return -ENOMEM;
		off = (size_t)snprintf(p->overlay_opts, len, "lowerdir=");
		for (i = img->n_layers; i-- > 0;)
			off += (size_t)snprintf(p->overlay_opts + off, len - off, "%s%s",
						img->layers[i], i > 0 ? ":" : "");
		snprintf(p->overlay_opts + off, len - off, ",upperdir=%s/upper,workdir=%s/work",
			 root, root);
		return 0;
	}
	p->copy_layers = strv_concat((const char *const *)img->layers, NULL);
	return p->copy_layers == NULL ? -ENOMEM : 0;
}

/* Validates the spec and copies it into a plan. Creates nothing. */
static int plan_build(struct keel_ctr *ctx, const struct keel_ctr_spec *spec, struct ctr_plan **out)
{
	char *e = ctx->errmsg;
	enum keel_ctr_launcher launcher = KEEL_CTR_LAUNCHER_DEFAULT;
	struct ctr_plan *p;
	size_t n_env = 0, n_argv, i;
	char sandbox[PATH_MAX];
	const char *sandbox_in, *user;
	struct ctr_image *img = NULL;
	int rv;

	*out = NULL;
	rv = spec_check(ctx, spec, &launcher);
	if (rv < 0)
		return rv;
	p = keel_calloc(1, sizeof(*p));
	if (p == NULL)
		return keel_errf(e, -ENOMEM, "out of memory");
	p->meta_fd = p->lock_fd = p->notify_fd = p->sandbox_fd = -1;
	p->launcher = launcher;
	p->privileged = ctx->is_root;
	p->cap_last = ctx->cap_last;
	p->grace_ms = spec->kill_grace_ms ? spec->kill_grace_ms : DEFAULT_GRACE_MS;
	p->limits.cpus = spec->cpus;
	p->limits.mem_bytes = spec->mem_bytes;
	p->limits.pids_max = spec->pids_max;
	if (spec->id != NULL) {
		snprintf(p->id, sizeof(p->id), "%s", spec->id);
		if (ctr_find(ctx, p->id) != NULL) {
			rv = keel_errf(e, -EEXIST, "container %s already exists", p->id);
			goto fail;
		}
	} else if ((rv = gen_id(p->id)) < 0) {
		keel_errno_f(e, rv, "getrandom");
		goto fail;
	}
	if (spec->image != NULL) {
		rv = ctr_image_resolve(ctx->image_dir, spec->image, &img, e);
		if (rv < 0)
			goto fail;
	}
	if (launcher == KEEL_CTR_LAUNCHER_LINUX)
		p->ns_flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
			      (spec->network_ns ? CLONE_NEWNET : 0);
	user = spec->user ? spec->user : (img ? img->user : NULL);
	if (user != NULL) {
		if (img != NULL) {
			/* As Docker: the image's own /etc/passwd and /etc/group. */
			rv =
			    ctr_image_user(img, user, &p->uid, &p->gid, &p->groups, &p->ngroups, e);
			p->set_user = rv == 0;
		} else {
			rv = resolve_user(p, user, e);
		}
		if (rv < 0)
			goto fail;
		if (!ctx->is_root && p->uid != geteuid()) {
			rv = keel_errf(e, -EPERM, "user '%s': switching users needs root", user);
			goto fail;
		}
	}
	/* Capabilities: the spec's, else Docker's defaults for root and nothing for others. */
	if (spec->caps_set) {
		p->caps = spec->caps;
	} else {
		bool root_task = p->set_user ? p->uid == 0 : geteuid() == 0;
		uint64_t d = root_task ? keel_ctr_caps_root_default() : 0;

		p->caps.bounding = p->caps.effective = p->caps.permitted = d;
	}
	if (!p->privileged) {
		/* Unprivileged callers cannot give what they lack; their bounding set stays. */
		p->caps.effective = p->caps.permitted = p->caps.inheritable = p->caps.ambient = 0;
	}
	if (spec->seccomp == KEEL_CTR_SECCOMP_DEFAULT) {
		const struct sock_fprog *prog;

		rv = ctr_seccomp_get(ctx, p->caps.bounding | p->caps.permitted | p->caps.ambient,
				     &prog);
		if (rv < 0)
			goto fail;
		p->seccomp = *prog;
	}

	if (spec->sandbox != NULL) {
		sandbox_in = spec->sandbox;
	} else {
		if (ctr_path_join(sandbox, sizeof(sandbox), ctx->sandboxes_dir, p->id) < 0) {
			rv = keel_errf(e, -ENAMETOOLONG, "sandbox path too long");
			goto fail;
		}
		sandbox_in = sandbox;
	}
	rv = copy_str(&p->sandbox, sandbox_in);
	if (rv == 0)
		rv = copy_str(&p->rootfs, spec->rootfs);
	if (rv == 0 && img != NULL)
		rv = plan_image_root(ctx, p, img);
	if (rv == -ENAMETOOLONG) {
		rv = keel_errf(e, rv, "rootfs path too long");
		goto fail;
	}
	if (rv == 0)
		rv = copy_str(&p->cwd, spec->cwd);
	if (rv == 0 && p->cwd == NULL && img != NULL && img->workdir != NULL) {
		/* Docker reads a relative WorkingDir from the root. */
		char wd[PATH_MAX];

		snprintf(wd, sizeof(wd), "%s%s", img->workdir[0] == '/' ? "" : "/", img->workdir);
		if (ctr_path_has_dotdot(wd)) {
			rv = keel_errf(e, -EINVAL, "image %s: WorkingDir '%s' contains '..'",
				       img->id, img->workdir);
			goto fail;
		}
		rv = copy_str(&p->cwd, wd);
	}
	if (rv == 0 && launcher == KEEL_CTR_LAUNCHER_LINUX) {
		char host[64];

		snprintf(host, sizeof(host), "%s", spec->hostname ? spec->hostname : p->id);
		rv = copy_str(&p->hostname, host);
	}
	if (rv < 0)
		goto oom;
	if (img != NULL) {
		/* Entrypoint, then the spec's arguments or else the image's Cmd. */
		const char *const *args =
		    spec->argv && spec->argv[0] ? spec->argv : (const char *const *)img->cmd;
		p->argv = strv_concat((const char *const *)img->entrypoint, args);
		if (p->argv == NULL)
			goto oom;
		if (p->argv[0] == NULL) {
			rv =
			    keel_errf(e, -EINVAL,
				      "image %s has no Entrypoint or Cmd: give a command", img->id);
			goto fail;
		}
	} else {
		p->argv = strv_dup(spec->argv, 0, &n_argv);
		if (p->argv == NULL)
			goto oom;
	}
	{
		static const char *const default_env[] = {"PATH=" DEFAULT_PATH, NULL};
		const char *const *base = img && img->env ? (const char *const *)img->env : NULL;
		const char *const *env = spec->env ? spec->env : (base ? NULL : default_env);
		char kv[PATH_MAX + 32];

		p->envp = env_merge(base, env, 2, &n_env);
		if (p->envp == NULL)
			goto oom;
		if (env_lookup(p->envp, "MESOS_SANDBOX") == NULL) {
			snprintf(kv, sizeof(kv), "MESOS_SANDBOX=%s",
				 p->rootfs ? KEEL_CTR_SANDBOX_PATH : p->sandbox);
			p->envp[n_env] = keel_strdup(kv);
			if (p->envp[n_env++] == NULL)
				goto oom;
		}
		const char *path = env_lookup(p->envp, "PATH");
		if (path == NULL) {
			/* As Docker: a default PATH when neither image nor spec sets one. */
			p->envp[n_env] = keel_strdup("PATH=" DEFAULT_PATH);
			if (p->envp[n_env++] == NULL)
				goto oom;
		}
		if (copy_str(&p->path_env, path ? path : DEFAULT_PATH) < 0)
			goto oom;
	}
	if (spec->n_mounts > 0) {
		p->mounts = keel_calloc(spec->n_mounts, sizeof(*p->mounts));
		if (p->mounts == NULL)
			goto oom;
		for (i = 0; i < spec->n_mounts; i++) {
			const struct keel_ctr_mount *m = &spec->mounts[i];

			p->n_mounts++;
			p->mounts[i].in_sandbox = m->source[0] != '/';
			p->mounts[i].readonly = m->readonly;
			if (copy_str(&p->mounts[i].source, m->source) < 0 ||
			    copy_str(&p->mounts[i].target, m->target) < 0)
				goto oom;
		}
	}
	rv = ctr_cg_set_init(&p->cg, &ctx->cg, p->id);
	if (rv == 0)
		rv = ctr_cg_pool_plan(&ctx->cg_pool, &ctx->cg, &p->cg, &p->limits, p->id);
	if (rv < 0) {
		keel_errno_f(e, rv, "cgroup paths");
		goto fail;
	}
	p->cg_mode_name = ctx->cg.mode == KEEL_CTR_CGROUP_V1   ? "v1"
			  : ctx->cg.mode == KEEL_CTR_CGROUP_V2 ? "v2"
							       : "none";
	ctr_image_free(img);
	*out = p;
	return 0;
oom:
	rv = keel_errf(e, -ENOMEM, "out of memory");
fail:
	ctr_image_free(img);
	ctr_plan_free(p);
	return rv;
}

/* The supervisor program's memfd and the stack to start it from, made at the first launch. */
static int spawn_prepare(struct keel_ctr *ctx)
{
	if (ctx->spawn_stack == NULL) {
		ctx->spawn_stack = keel_malloc(CTR_SPAWN_STACK_SIZE);
		if (ctx->spawn_stack == NULL)
			return keel_errf(ctx->errmsg, -ENOMEM, "out of memory");
	}
	if (ctx->sup_prog_fd < 0) {
		int fd = ctr_spawn_program_fd(ctx->errmsg);

		if (fd < 0)
			return fd;
		ctx->sup_prog_fd = fd;
	}
	return 0;
}

/* The plan in its wire form, in a memfd the supervisor reads at its start. */
static int write_plan(const struct ctr_plan *p, int *fd_out, char *e)
{
	void *buf;
	size_t len, off = 0;
	int fd, rv;

	rv = ctr_plan_encode(p, &buf, &len);
	if (rv < 0)
		return keel_errf(e, rv, "out of memory");
	rv = KEEL_FAILPOINT("ctr_launch_plan");
	fd = rv < 0 ? (errno = -rv, -1) : memfd_create("keel-plan", MFD_CLOEXEC);
	if (fd < 0) {
		keel_free(buf);
		return keel_errno_f(e, -errno, "memfd for the plan");
	}
	while (off < len) {
		ssize_t w = write(fd, (const char *)buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rv = keel_errno_f(e, w < 0 ? -errno : -EIO, "write the plan");
			keel_free(buf);
			close(fd);
			return rv;
		}
		off += (size_t)w;
	}
	keel_free(buf);
	*fd_out = fd;
	return 0;
}

/* Undoes the directories a failed launch created. */
static void launch_undo(struct keel_ctr *ctx, const struct ctr_plan *p, bool made_sandbox)
{
	ctr_remove_tree_at(ctx->containers_fd, p->id);
	/* No supervisor took the spare set: back to the pool. */
	if (p->cg.spare != NULL)
		ctr_cg_pool_put(&ctx->cg_pool, &ctx->cg, p->cg.spare);
	if (made_sandbox)
		rmdir(p->sandbox);
	if (p->image_root != NULL)
		ctr_remove_tree_at(AT_FDCWD, p->image_root);
}

int keel_ctr_launch(struct keel_ctr *ctx, const struct keel_ctr_spec *spec,
		    char id_out[KEEL_CTR_ID_SIZE])
{
	char *e = ctx->errmsg;
	struct ctr_plan *p = NULL;
	struct ctr_container *c = NULL;
	bool made_sandbox = false;
	int notify[2] = {-1, -1}, plan_fd = -1;
	pid_t pid;
	int rv;

	e[0] = '\0';
	rv = plan_build(ctx, spec, &p);
	if (rv < 0)
		return rv;
	rv = spawn_prepare(ctx);
	if (rv < 0)
		goto out;
	rv = ctr_container_new(ctx, p->id, &c);
	if (rv == 0)
		rv = copy_str(&c->sandbox, p->sandbox);
	if (rv < 0) {
		keel_errf(e, rv, "out of memory");
		goto out;
	}
	rv = ctr_cg_prepare_parents(&ctx->cg, e);
	if (rv < 0)
		goto out;

	/* From here on things exist: every failure below undoes them. */
	if (ctr_ckpt_spare_take(ctx, p->id) < 0 && mkdirat(ctx->containers_fd, p->id, 0700) < 0) {
		rv = errno == EEXIST ? keel_errf(e, -EEXIST, "container %s already exists", p->id)
				     : keel_errno_f(e, -errno, "mkdir %s", c->meta_dir);
		goto out;
	}
	if (mkdir(p->sandbox, 0755) == 0)
		made_sandbox = true;
	else if (errno != EEXIST) {
		rv = keel_errno_f(e, -errno, "mkdir %s", p->sandbox);
		goto undo;
	}
	p->meta_fd = openat(ctx->containers_fd, p->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->meta_fd < 0) {
		rv = keel_errno_f(e, -errno, "open %s", c->meta_dir);
		goto undo;
	}
	/*
	 * The supervisor holds a lock on its checkpoint directory for its whole
	 * life: recovery tests it. (On the directory itself: a lock file would
	 * cost an inode per launch.)
	 */
	p->lock_fd = openat(p->meta_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->lock_fd < 0 || flock(p->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rv = keel_errno_f(e, -errno, "lock %s", c->meta_dir);
		goto undo;
	}
	p->sandbox_fd = open(p->sandbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->sandbox_fd < 0) {
		rv = keel_errno_f(e, -errno, "open %s", p->sandbox);
		goto undo;
	}
	if (p->set_user && fchown(p->sandbox_fd, p->uid, p->gid) < 0) {
		rv = keel_errno_f(e, -errno, "chown %s", p->sandbox);
		goto undo;
	}
	if (pipe2(notify, O_CLOEXEC) < 0) {
		rv = keel_errno_f(e, -errno, "pipe");
		goto undo;
	}
	fcntl(notify[0], F_SETFL, O_NONBLOCK);
	p->notify_fd = notify[1];
	rv = write_plan(p, &plan_fd, e);
	if (rv < 0)
		goto undo;
	rv = KEEL_FAILPOINT("ctr_launch_spawn");
	if (rv < 0) {
		keel_errno_f(e, rv, "failpoint ctr_launch_spawn");
		goto undo;
	}
	const int inherit[] = {p->meta_fd, p->lock_fd, p->notify_fd, p->sandbox_fd};
	rv = ctr_spawn_supervisor(ctx->sup_prog_fd, ctx->spawn_stack, CTR_SPAWN_STACK_SIZE, plan_fd,
				  inherit, KEEL_ARRAY_SIZE(inherit), &pid, &c->pidfd, e);
	if (rv < 0)
		goto undo;
	c->our_child = true;
	c->notify_fd = notify[0];
	notify[0] = -1;
	c->cg = p->cg;
	memset(&p->cg, 0, sizeof(p->cg));
	c->status.state = KEEL_CTR_STARTING;
	c->status.supervisor_pid = pid;
	rv = KEEL_FAILPOINT("ctr_launch_watch"); /* as a failed epoll_ctl */
	if (rv == 0)
		rv = ctr_container_attach(ctx, c);
	if (rv < 0) {
		/*
		 * Cannot watch it: stop it rather than leave an orphan nobody hears
		 * about. The pidfd came with the clone, so this kill cannot miss;
		 * the task (if the supervisor got that far) dies with its supervisor
		 * (parent-death signal), and its cgroups are emptied and removed.
		 */
		siginfo_t si;

		keel_errno_f(e, rv, "epoll_ctl");
		ctr_pidfd_sigqueue(c->pidfd, SIGKILL, 0);
		waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &si, WEXITED);
		ctr_cg_kill(&c->cg, 1000);
		ctr_cg_remove(&c->cg);
		goto undo;
	}
	memcpy(id_out, c->id, KEEL_CTR_ID_SIZE);
	c = NULL;
	rv = 0;
	goto out;
undo:
	launch_undo(ctx, p, made_sandbox);
out:
	if (notify[0] >= 0)
		close(notify[0]);
	if (notify[1] >= 0)
		close(notify[1]);
	if (plan_fd >= 0)
		close(plan_fd);
	if (p != NULL) {
		if (p->meta_fd >= 0)
			close(p->meta_fd);
		if (p->lock_fd >= 0)
			close(p->lock_fd);
		if (p->sandbox_fd >= 0)
			close(p->sandbox_fd);
	}
	if (c != NULL)
		ctr_container_free(c);
	ctr_plan_free(p);
	return rv;
}
