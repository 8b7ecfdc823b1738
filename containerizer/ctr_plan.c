/* The launch plan's life: freeing it, and its wire form from the caller to the supervisor. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ctr_plan.h"
#include "runtime/alloc.h"

/*
 * Wire form: a header (magic, version, total length), then each field of
 * the plan in a fixed order. Integers are native-endian fixed-width (both
 * ends are the same build on the same machine); a string is a u32 length
 * (0xffffffff = NULL) and its bytes; a string list is a u32 count
 * (0xffffffff = NULL) and its strings.
 */
#define WIRE_MAGIC 0x6b63706cu /* "lpck" */
#define WIRE_VERSION 1u
#define WIRE_NULL 0xffffffffu
#define WIRE_MAX_LIST 65536u

void ctr_plan_free(struct ctr_plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; p->argv != NULL && p->argv[i] != NULL; i++)
		keel_free(p->argv[i]);
	keel_free(p->argv);
	for (i = 0; p->envp != NULL && p->envp[i] != NULL; i++)
		keel_free(p->envp[i]);
	keel_free(p->envp);
	keel_free(p->path_env);
	keel_free(p->cwd);
	keel_free(p->rootfs);
	keel_free(p->sandbox);
	keel_free(p->hostname);
	keel_free(p->image_root);
	keel_free(p->overlay_opts);
	for (i = 0; p->copy_layers != NULL && p->copy_layers[i] != NULL; i++)
		keel_free(p->copy_layers[i]);
	keel_free(p->copy_layers);
	keel_free(p->groups);
	for (i = 0; i < p->n_mounts; i++) {
		keel_free(p->mounts[i].source);
		keel_free(p->mounts[i].target);
	}
	keel_free(p->mounts);
	ctr_cg_set_free(&p->cg);
	if (p->seccomp_owned)
		keel_free(p->seccomp.filter);
	keel_free(p);
}

/* Output cursor: counts only while buf is NULL (the sizing pass). */
struct wire_out {
	unsigned char *buf; /* destination, or NULL to measure */
	size_t off;	    /* bytes produced */
};

static void put(struct wire_out *w, const void *p, size_t n)
{
	if (w->buf != NULL && n > 0)
		memcpy(w->buf + w->off, p, n);
	w->off += n;
}

static void put_u32(struct wire_out *w, uint32_t v)
{
	put(w, &v, sizeof(v));
}

static void put_u64(struct wire_out *w, uint64_t v)
{
	put(w, &v, sizeof(v));
}

static void put_i32(struct wire_out *w, int32_t v)
{
	put(w, &v, sizeof(v));
}

static void put_str(struct wire_out *w, const char *s)
{
	if (s == NULL) {
		put_u32(w, WIRE_NULL);
		return;
	}
	put_u32(w, (uint32_t)strlen(s));
	put(w, s, strlen(s));
}

static void put_strv(struct wire_out *w, char *const *v)
{
	uint32_t n = 0;

	if (v == NULL) {
		put_u32(w, WIRE_NULL);
		return;
	}
	while (v[n] != NULL)
		n++;
	put_u32(w, n);
	for (uint32_t i = 0; i < n; i++)
		put_str(w, v[i]);
}

static void plan_put(struct wire_out *w, const struct ctr_plan *p)
{
	size_t i;

	put_u32(w, WIRE_MAGIC);
	put_u32(w, WIRE_VERSION);
	put_u64(w, 0); /* total length, patched by the caller */
	put_str(w, p->id);
	put_i32(w, (int32_t)p->launcher);
	put_u64(w, (uint64_t)p->ns_flags);
	put_u32(w, p->privileged);
	put_strv(w, p->argv);
	put_strv(w, p->envp);
	put_str(w, p->path_env);
	put_str(w, p->cwd);
	put_str(w, p->rootfs);
	put_str(w, p->sandbox);
	put_str(w, p->hostname);
	put_str(w, p->image_root);
	put_str(w, p->overlay_opts);
	put_strv(w, p->copy_layers);
	put_u32(w, p->set_user);
	put_u32(w, (uint32_t)p->uid);
	put_u32(w, (uint32_t)p->gid);
	put_u32(w, (uint32_t)p->ngroups);
	for (i = 0; i < p->ngroups; i++)
		put_u32(w, (uint32_t)p->groups[i]);
	put_u64(w, p->caps.bounding);
	put_u64(w, p->caps.effective);
	put_u64(w, p->caps.permitted);
	put_u64(w, p->caps.inheritable);
	put_u64(w, p->caps.ambient);
	put_u32(w, p->cap_last);
	put_u32(w, p->seccomp.len);
	put(w, p->seccomp.filter, (size_t)p->seccomp.len * sizeof(struct sock_filter));
	put_u32(w, (uint32_t)p->n_mounts);
	for (i = 0; i < p->n_mounts; i++) {
		put_str(w, p->mounts[i].source);
		put_u32(w, p->mounts[i].in_sandbox);
		put_str(w, p->mounts[i].target);
		put_u32(w, p->mounts[i].readonly);
	}
	put_i32(w, (int32_t)p->cg.mode);
	put_u32(w, p->cg.n);
	for (i = 0; i < p->cg.n; i++) {
		put_str(w, p->cg.dir[i]);
		put_u32(w, p->cg.ctrls[i]);
	}
	put_str(w, p->cg.spare);
	put_str(w, p->cg.pool_as);
	put(w, &p->limits.cpus, sizeof(p->limits.cpus));
	put_u64(w, (uint64_t)p->limits.mem_bytes);
	put_u64(w, (uint64_t)p->limits.pids_max);
	put_str(w, p->cg_mode_name);
	put_u32(w, p->grace_ms);
	put_i32(w, p->meta_fd);
	put_i32(w, p->lock_fd);
	put_i32(w, p->notify_fd);
	put_i32(w, p->sandbox_fd);
}

int ctr_plan_encode(const struct ctr_plan *p, void **out, size_t *len)
{
	struct wire_out w = {NULL, 0};
	uint64_t total;

	plan_put(&w, p);
	total = w.off;
	w.buf = keel_malloc(w.off);
	if (w.buf == NULL)
		return -ENOMEM;
	w.off = 0;
	plan_put(&w, p);
	memcpy(w.buf + 8, &total, sizeof(total));
	*out = w.buf;
	*len = w.off;
	return 0;
}

/* Input cursor; `bad` records a short or malformed input, and every later read yields zeros. */
struct wire_in {
	const unsigned char *buf; /* input */
	size_t len;		  /* its length */
	size_t off;		  /* bytes consumed */
	int err;		  /* first error (negative errno) */
};

static void get(struct wire_in *r, void *p, size_t n)
{
	if (r->err == 0 && n > r->len - r->off)
		r->err = -EINVAL;
	if (r->err != 0) {
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->buf + r->off, n);
	r->off += n;
}

static uint32_t get_u32(struct wire_in *r)
{
	uint32_t v;

	get(r, &v, sizeof(v));
	return v;
}

static uint64_t get_u64(struct wire_in *r)
{
	uint64_t v;

	get(r, &v, sizeof(v));
	return v;
}

static int32_t get_i32(struct wire_in *r)
{
	int32_t v;

	get(r, &v, sizeof(v));
	return v;
}

static bool get_bool(struct wire_in *r)
{
	uint32_t v = get_u32(r);

	if (v > 1 && r->err == 0)
		r->err = -EINVAL;
	return v == 1;
}

/* A heap copy of the next string, or NULL (also on error: check r->err). */
static char *get_str(struct wire_in *r)
{
	uint32_t n = get_u32(r);
	char *s;

	if (r->err != 0 || n == WIRE_NULL)
		return NULL;
	if (n > r->len - r->off || memchr(r->buf + r->off, '\0', n) != NULL) {
		r->err = -EINVAL;
		return NULL;
	}
	s = keel_strndup((const char *)r->buf + r->off, n);
	if (s == NULL) {
		r->err = -ENOMEM;
		return NULL;
	}
	r->off += n;
	return s;
}

/* A non-NULL string (NULL is malformed here). */
static char *get_str_req(struct wire_in *r)
{
	char *s = get_str(r);

	if (s == NULL && r->err == 0)
		r->err = -EINVAL;
	return s;
}

static char **get_strv(struct wire_in *r)
{
	uint32_t n = get_u32(r), i;
	char **v;

	if (r->err != 0 || n == WIRE_NULL)
		return NULL;
	if (n > WIRE_MAX_LIST) {
		r->err = -EINVAL;
		return NULL;
	}
	v = keel_calloc((size_t)n + 1, sizeof(char *));
	if (v == NULL) {
		r->err = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < n && r->err == 0; i++)
		v[i] = get_str_req(r);
	return v;
}

int ctr_plan_decode(const void *buf, size_t len, struct ctr_plan **out)
{
	struct wire_in r = {buf, len, 0, 0};
	struct ctr_plan *p;
	char *id, *mode_name;
	uint32_t n, i;

	*out = NULL;
	if (get_u32(&r) != WIRE_MAGIC || get_u32(&r) != WIRE_VERSION || get_u64(&r) != len)
		return -EINVAL;
	p = keel_calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	id = get_str_req(&r);
	if (id != NULL && strlen(id) < sizeof(p->id))
		memcpy(p->id, id, strlen(id) + 1);
	else if (r.err == 0)
		r.err = -EINVAL;
	keel_free(id);
	p->launcher = (enum keel_ctr_launcher)get_i32(&r);
	p->ns_flags = (unsigned long)get_u64(&r);
	p->privileged = get_bool(&r);
	p->argv = get_strv(&r);
	p->envp = get_strv(&r);
	p->path_env = get_str(&r);
	p->cwd = get_str(&r);
	p->rootfs = get_str(&r);
	p->sandbox = get_str_req(&r);
	p->hostname = get_str(&r);
	p->image_root = get_str(&r);
	p->overlay_opts = get_str(&r);
	p->copy_layers = get_strv(&r);
	p->set_user = get_bool(&r);
	p->uid = (uid_t)get_u32(&r);
	p->gid = (gid_t)get_u32(&r);
	n = get_u32(&r);
	if (r.err == 0 && n > WIRE_MAX_LIST)
		r.err = -EINVAL;
	if (r.err == 0 && n > 0) {
		p->groups = keel_calloc(n, sizeof(gid_t));
		if (p->groups == NULL)
			r.err = -ENOMEM;
		for (i = 0; i < n && r.err == 0; i++)
			p->groups[i] = (gid_t)get_u32(&r);
		p->ngroups = n;
	}
	p->caps.bounding = get_u64(&r);
	p->caps.effective = get_u64(&r);
	p->caps.permitted = get_u64(&r);
	p->caps.inheritable = get_u64(&r);
	p->caps.ambient = get_u64(&r);
	p->cap_last = get_u32(&r);
	n = get_u32(&r);
	if (r.err == 0 && n > 0xffff) /* BPF_MAXINSNS is far below */
		r.err = -EINVAL;
	if (r.err == 0 && n > 0) {
		p->seccomp.filter = keel_calloc(n, sizeof(struct sock_filter));
		if (p->seccomp.filter == NULL)
			r.err = -ENOMEM;
		else {
			p->seccomp_owned = true;
			p->seccomp.len = (unsigned short)n;
			get(&r, p->seccomp.filter, (size_t)n * sizeof(struct sock_filter));
		}
	}
	n = get_u32(&r);
	if (r.err == 0 && n > WIRE_MAX_LIST)
		r.err = -EINVAL;
	if (r.err == 0 && n > 0) {
		p->mounts = keel_calloc(n, sizeof(*p->mounts));
		if (p->mounts == NULL)
			r.err = -ENOMEM;
		for (i = 0; i < n && r.err == 0; i++) {
			p->n_mounts++;
			p->mounts[i].source = get_str_req(&r);
			p->mounts[i].in_sandbox = get_bool(&r);
			p->mounts[i].target = get_str_req(&r);
			p->mounts[i].readonly = get_bool(&r);
		}
	}
	p->cg.mode = (enum keel_ctr_cgroup_mode)get_i32(&r);
	n = get_u32(&r);
	if (r.err == 0 && n > CTR_CG_NCTRL)
		r.err = -EINVAL;
	for (i = 0; i < n && r.err == 0; i++) {
		p->cg.dir[i] = get_str_req(&r);
		p->cg.ctrls[i] = get_u32(&r);
		p->cg.n = i + 1;
	}
	p->cg.spare = get_str(&r);
	p->cg.pool_as = get_str(&r);
	get(&r, &p->limits.cpus, sizeof(p->limits.cpus));
	p->limits.mem_bytes = (int64_t)get_u64(&r);
	p->limits.pids_max = (int64_t)get_u64(&r);
	mode_name = get_str_req(&r);
	/* The plan points at a static name, as the caller's does. */
	p->cg_mode_name = mode_name == NULL		 ? NULL
			  : strcmp(mode_name, "v1") == 0 ? "v1"
			  : strcmp(mode_name, "v2") == 0 ? "v2"
							 : "none";
	keel_free(mode_name);
	p->grace_ms = get_u32(&r);
	p->meta_fd = get_i32(&r);
	p->lock_fd = get_i32(&r);
	p->notify_fd = get_i32(&r);
	p->sandbox_fd = get_i32(&r);
	if (r.err == 0 &&
	    (r.off != len || p->argv == NULL || p->argv[0] == NULL || p->envp == NULL ||
	     (p->launcher != KEEL_CTR_LAUNCHER_LINUX && p->launcher != KEEL_CTR_LAUNCHER_POSIX)))
		r.err = -EINVAL;
	if (r.err != 0) {
		ctr_plan_free(p);
		return r.err;
	}
	*out = p;
	return 0;
}
