/* A reference model that drives the allocator with random events and checks its promises. */
#include "test_allocator_model.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/allocator.h"
#include "master/allocator_int.h"

#define NA 12	 /* agent IDs */
#define NF 6	 /* framework IDs */
#define NR 4	 /* roles: "*", r1, r2, r3 */
#define TRACE 60 /* events kept for failure reports */

static const char *const role_names[NR] = {"*", "r1", "r2", "r3"};

static const char *const totals[] = {
    "cpus:4;mem:4096;disk:1000;ports:[31000-31009]",
    "cpus:2;mem:1024",
    "cpus:8;mem:8192;gpus:1",
    "cpus(r1):2;mem(r1):512;cpus:2;mem:512;ports:[31000-31004]",
    "cpus:1;mem:256;zones:{a,b,c}",
    "cpus:0.5;mem:16",
    "mem:16;disk:100",
    "cpus(r2):4;mem(r2):1024;disk:10",
};

/* Small pieces that partial recoveries and used resources take out. */
static const char *const units[] = {
    "cpus:1",	 "mem:128",    "cpus:0.5;mem:64", "ports:[31000-31000]",
    "zones:{b}", "cpus(r1):1", "disk:10",	  "cpus:0.001",
};

static const char *const quotas[] = {"cpus:2;mem:512", "cpus:6", "mem:2000"};

/* Filter lengths a decline may ask for (seconds). */
static const double refusals[] = {0, ALLOCATOR_REFUSE_DEFAULT, 1.5, 3600, 1e9, NAN, 0.0001};

struct m_filter {
	int agent, fw, role;	 /* whose filter, where */
	struct allocator_res *r; /* refused resources (owned) */
	int64_t expires;	 /* ms */
};

struct m_agent {
	bool present;			    /* added */
	bool active;			    /* activated */
	struct allocator_res *total;	    /* owned */
	struct allocator_res *held[NF][NR]; /* what each framework holds per role (owned) */
};

struct m_fw {
	bool added;	/* framework_add succeeded */
	bool active;	/* activated */
	uint32_t roles; /* bit per role */
	uint32_t sup;	/* suppressed roles (subset of roles) */
	uint32_t caps;	/* ALLOCATOR_CAP_* */
};

struct model {
	struct allocator *a;		/* under test */
	model_fail_fn fail;		/* on violation */
	void *ctx;			/* its argument */
	struct allocator_res *tot[8];	/* parsed totals */
	struct allocator_res *unit[8];	/* parsed units */
	struct allocator_res *quota[3]; /* parsed quotas */
	struct m_agent ag[NA];		/* agents */
	struct m_fw fw[NF];		/* frameworks */
	struct m_filter *filters;	/* filters asked for */
	size_t n_filters;		/* entries */
	size_t cap_filters;		/* capacity */
	bool quota_set[NR];		/* roles with a quota */
	int64_t now;			/* ms */
	uint64_t rng;			/* responses to offers */
	uint64_t offers;		/* offers seen */
	char trace[TRACE][96];		/* recent events */
	unsigned n_trace;		/* events so far */
};

static void fail(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct model *m, const char *fmt, ...)
{
	char msg[16384];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	len = (size_t)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = KEEL_MIN(len, sizeof(msg) - 1);
	len += (size_t)snprintf(msg + len, sizeof(msg) - len,
				"\n  allocator: %s\n  recent:", allocator_errmsg(m->a));
	for (unsigned i = m->n_trace > TRACE ? m->n_trace - TRACE : 0; i < m->n_trace; i++) {
		len = KEEL_MIN(len, sizeof(msg) - 1);
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "\n    %u %s", i,
					m->trace[i % TRACE]);
	}
	m->fail(m->ctx, msg);
	abort();
}

static void trace(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(struct model *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->trace[m->n_trace % TRACE], sizeof(m->trace[0]), fmt, ap);
	va_end(ap);
	m->n_trace++;
}

static uint64_t rnd(struct model *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng;
}

static void ids(char *buf, size_t n, char kind, int i)
{
	snprintf(buf, n, "%c%d", kind, i);
}

/* --- resource helpers --- */

static struct allocator_res *add(struct model *m, const struct allocator_res *x,
				 const struct allocator_res *y)
{
	struct allocator_res *r;

	if (allocator_res_add(m->a, x, y, &r) < 0)
		fail(m, "model: add failed");
	return r;
}

static struct allocator_res *sub(struct model *m, const struct allocator_res *x,
				 const struct allocator_res *y)
{
	struct allocator_res *r;

	if (allocator_res_subtract(m->a, x, y, &r) < 0)
		fail(m, "model: subtract failed");
	return r;
}

static void set(struct allocator_res **slot, struct allocator_res *r)
{
	allocator_res_unref(*slot);
	*slot = r;
}

/* total - everything held on agent i. */
static struct allocator_res *model_free_of(struct model *m, int i)
{
	struct allocator_res *f = allocator_res_ref(m->ag[i].total);

	for (int j = 0; j < NF; j++)
		for (int k = 0; k < NR; k++)
			if (m->ag[i].held[j][k])
				set(&f, sub(m, f, m->ag[i].held[j][k]));
	return f;
}

/* The part of x that role k may be offered (unreserved or reserved to k). */
static struct allocator_res *for_role(struct model *m, const struct allocator_res *x, int k)
{
	struct allocator_res *r = allocator_res_ref(x);
	uint32_t rid = 0;

	if (k > 0) {
		const struct role *ro = keel_hmap_get(&m->a->roles_map, role_names[k]);

		rid = ro ? ro->id : UINT32_MAX;
	}
	for (uint32_t i = 0; i < x->n; i++) {
		struct allocator_res *one;

		if (x->e[i].role == 0 || x->e[i].role == rid)
			continue;
		/* Take the entry out: rebuild it as a one-entry vector. */
		if (alloc_res_single(m->a, x->e[i].name, x->e[i].role, x->e[i].type, x->e[i].scalar,
				     NULL, 0, &one) < 0)
			fail(m, "model: alloc_res_single");
		if (x->e[i].type != RES_SCALAR) {
			allocator_res_unref(one);
			fail(m, "model: reserved non-scalar not expected");
		}
		set(&r, sub(m, r, one));
		allocator_res_unref(one);
	}
	return r;
}

static bool allocatable(struct model *m, const struct allocator_res *x)
{
	return allocator_res_scalar(m->a, x, "cpus", NULL) >= 10 ||
	       allocator_res_scalar(m->a, x, "mem", NULL) >= 32000;
}

static bool filtered(struct model *m, int i, int j, int k, const struct allocator_res *x)
{
	for (size_t f = 0; f < m->n_filters; f++) {
		const struct m_filter *mf = &m->filters[f];

		if (mf->agent == i && mf->fw == j && mf->role == k && mf->expires > m->now &&
		    allocator_res_contains(mf->r, x))
			return true;
	}
	return false;
}

static void drop_filters(struct model *m, int agent, int fw, uint32_t roles)
{
	size_t o = 0;

	for (size_t f = 0; f < m->n_filters; f++) {
		struct m_filter *mf = &m->filters[f];
		bool drop = (agent < 0 || mf->agent == agent) && (fw < 0 || mf->fw == fw) &&
			    ((roles >> mf->role) & 1);

		if (drop || mf->expires <= m->now)
			allocator_res_unref(mf->r);
		else
			m->filters[o++] = *mf;
	}
	m->n_filters = o;
}

static bool wants(const struct m_fw *f, int k)
{
	return f->added && f->active && ((f->roles >> k) & 1) && !((f->sup >> k) & 1);
}

static bool any_quota(const struct model *m)
{
	for (int k = 0; k < NR; k++)
		if (m->quota_set[k])
			return true;
	return false;
}

/* --- consistency --- */

static void check_books(struct model *m)
{
	int rv = allocator_check(m->a);

	if (rv < 0)
		fail(m, "allocator_check: %d", rv);
	for (int i = 0; i < NA; i++) {
		char aid[8], fid[8];
		const struct allocator_res *af;
		struct allocator_res *mf;

		ids(aid, sizeof(aid), 'a', i);
		af = allocator_agent_free(m->a, aid);
		if (!m->ag[i].present) {
			if (af)
				fail(m, "agent %s present in the allocator only", aid);
			continue;
		}
		mf = model_free_of(m, i);
		if (!af || !allocator_res_equal(af, mf)) {
			allocator_res_unref(mf);
			fail(m, "agent %s: free differs from the model", aid);
		}
		allocator_res_unref(mf);
		for (int j = 0; j < NF; j++) {
			ids(fid, sizeof(fid), 'f', j);
			for (int k = 0; k < NR; k++) {
				const struct allocator_res *h =
				    allocator_allocation(m->a, aid, fid, role_names[k]);
				const struct allocator_res *w = m->ag[i].held[j][k];

				if ((h && !h->n) || (w && !w->n))
					fail(m, "empty holding kept");
				if ((h == NULL) != (w == NULL) || (h && !allocator_res_equal(h, w)))
					fail(m, "%s holds something else in %s on %s", fid,
					     role_names[k], aid);
			}
		}
	}
}

/* After a cycle without quotas: nothing usable left for anyone who wants offers. */
static void check_liveness(struct model *m)
{
	if (any_quota(m))
		return;
	for (int i = 0; i < NA; i++) {
		struct allocator_res *fr;
		struct m_agent *g = &m->ag[i];

		if (!g->present || !g->active)
			continue;
		fr = model_free_of(m, i);
		for (int j = 0; j < NF; j++) {
			for (int k = 0; k < NR; k++) {
				struct allocator_res *x;
				bool left;

				if (!wants(&m->fw[j], k))
					continue;
				if (allocator_res_scalar(m->a, g->total, "gpus", NULL) > 0 &&
				    !(m->fw[j].caps & ALLOCATOR_CAP_GPU_RESOURCES))
					continue;
				x = for_role(m, fr, k);
				left = allocatable(m, x) && !filtered(m, i, j, k, x);
				allocator_res_unref(x);
				if (left) {
					allocator_res_unref(fr);
					fail(m, "cycle left a%d usable for f%d in %s", i, j,
					     role_names[k]);
				}
			}
		}
		allocator_res_unref(fr);
	}
}

/* --- events --- */

static int role_index(const char *name)
{
	for (int k = 0; k < NR; k++)
		if (strcmp(name, role_names[k]) == 0)
			return k;
	return -1;
}

static void recover(struct model *m, int i, int j, int k, const struct allocator_res *x,
		    double refuse)
{
	char aid[8], fid[8];
	struct allocator_res **h = &m->ag[i].held[j][k];
	int rv, want;

	ids(aid, sizeof(aid), 'a', i);
	ids(fid, sizeof(fid), 'f', j);
	want = *h && allocator_res_contains(*h, x) ? 0 : -1;
	rv = allocator_recover(m->a, aid, fid, role_names[k], x, refuse, m->now);
	trace(m, "recover %s %s %s refuse=%g -> %d", aid, fid, role_names[k], refuse, rv);
	if ((want == 0) != (rv == 0))
		fail(m, "recover returned %d, model expected %s", rv, want ? "an error" : "0");
	if (rv < 0)
		return;
	if (x->n == 0)
		return;
	set(h, sub(m, *h, x));
	if ((*h)->n == 0)
		set(h, NULL);
	/* The allocator sets a filter only for a role the framework subscribes to. */
	if (refuse != 0 && m->fw[j].added && ((m->fw[j].roles >> k) & 1)) {
		double s = isnan(refuse) || refuse < 0 ? 5 : refuse;
		int64_t ms = s * 1000 > (double)ALLOCATOR_REFUSE_MAX_MS ? ALLOCATOR_REFUSE_MAX_MS
									: (int64_t)ceil(s * 1000);

		if (ms < 1)
			ms = 1;
		if (m->n_filters == m->cap_filters) {
			m->cap_filters = m->cap_filters ? m->cap_filters * 2 : 64;
			m->filters = realloc(m->filters, m->cap_filters * sizeof(*m->filters));
			if (!m->filters)
				abort();
		}
		m->filters[m->n_filters++] = (struct m_filter){.agent = i,
							       .fw = j,
							       .role = k,
							       .r = allocator_res_ref(x),
							       .expires = m->now + ms};
	}
}

static void allocate(struct model *m, uint32_t dt)
{
	const struct allocator_offer *offers;
	size_t n;
	int rv;
	struct allocator_res *fr[NA] = {0};
	bool seen[NA][NF][NR];

	m->now += dt % 7000;
	for (int i = 0; i < NA; i++)
		if (m->ag[i].present)
			fr[i] = model_free_of(m, i);
	memset(seen, 0, sizeof(seen));
	rv = allocator_allocate(m->a, m->now, &offers, &n);
	trace(m, "allocate now=%lld -> %d, %zu offers", (long long)m->now, rv, n);
	if (rv < 0)
		fail(m, "allocate: %d", rv);
	m->offers += n;
	for (size_t o = 0; o < n; o++) {
		int i = offers[o].agent_id[0] == 'a' ? atoi(offers[o].agent_id + 1) : -1;
		int j = offers[o].framework_id[0] == 'f' ? atoi(offers[o].framework_id + 1) : -1;
		int k = role_index(offers[o].role);
		const struct allocator_res *x = offers[o].resources;
		struct allocator_res *ok;

		if (i < 0 || i >= NA || j < 0 || j >= NF || k < 0 || !m->ag[i].present)
			fail(m, "offer to an unknown party");
		if (seen[i][j][k])
			fail(m, "two offers for f%d in %s on a%d in one cycle", j, role_names[k],
			     i);
		seen[i][j][k] = true;
		if (!wants(&m->fw[j], k) || !m->ag[i].active)
			fail(m, "offer to f%d in %s, which does not want it (or a%d inactive)", j,
			     role_names[k], i);
		if (!allocator_res_contains(fr[i], x))
			fail(m, "offer on a%d exceeds its free resources", i);
		ok = for_role(m, x, k);
		if (!allocator_res_equal(ok, x)) {
			allocator_res_unref(ok);
			fail(m, "offer to %s holds another role's reservation", role_names[k]);
		}
		allocator_res_unref(ok);
		if (allocator_res_scalar(m->a, m->ag[i].total, "gpus", NULL) > 0 &&
		    !(m->fw[j].caps & ALLOCATOR_CAP_GPU_RESOURCES))
			fail(m, "GPU agent a%d offered to f%d", i, j);
		if (filtered(m, i, j, k, x))
			fail(m, "a%d offered to f%d in %s despite a live filter", i, j,
			     role_names[k]);
		if (!allocatable(m, x))
			fail(m, "offer below the minimum");
		set(&fr[i], sub(m, fr[i], x));
		set(&m->ag[i].held[j][k],
		    m->ag[i].held[j][k] ? add(m, m->ag[i].held[j][k], x) : allocator_res_ref(x));
	}
	for (int i = 0; i < NA; i++)
		allocator_res_unref(fr[i]);
	check_liveness(m);
	/* Respond: accept (keep), decline all or part, or keep for a later recovery. */
	{
		struct {
			int i, j, k;
			struct allocator_res *x;
		} resp[64];
		size_t nr = 0;

		for (size_t o = 0; o < n && nr < 64; o++) {
			resp[nr].i = atoi(offers[o].agent_id + 1);
			resp[nr].j = atoi(offers[o].framework_id + 1);
			resp[nr].k = role_index(offers[o].role);
			resp[nr].x = allocator_res_ref(offers[o].resources);
			nr++;
		}
		for (size_t o = 0; o < nr; o++) {
			uint64_t c = rnd(m);
			double refuse = refusals[(c >> 8) % KEEL_ARRAY_SIZE(refusals)];

			if (c % 8 >= 3 && c % 8 <= 4) {
				recover(m, resp[o].i, resp[o].j, resp[o].k, resp[o].x, refuse);
			} else if (c % 8 == 5) {
				const struct allocator_res *u =
				    m->unit[(c >> 16) % KEEL_ARRAY_SIZE(units)];

				if (allocator_res_contains(resp[o].x, u))
					recover(m, resp[o].i, resp[o].j, resp[o].k, u, refuse);
			}
			allocator_res_unref(resp[o].x);
		}
	}
}

static void add_agent(struct model *m, int i, uint32_t r)
{
	char aid[8], fid[8];
	struct m_agent *g = &m->ag[i];
	struct allocator_res *t = m->tot[r % KEEL_ARRAY_SIZE(totals)];
	const struct allocator_res *u = m->unit[(r >> 8) % KEEL_ARRAY_SIZE(units)];
	struct allocator_use use;
	int j = (int)((r >> 12) % NF), k = (int)((r >> 16) % NR);
	bool with_use = (r >> 20) % 3 == 0;
	int rv, want;
	struct allocator_res *cu = NULL;

	ids(aid, sizeof(aid), 'a', i);
	ids(fid, sizeof(fid), 'f', j);
	use = (struct allocator_use){.framework_id = fid, .role = role_names[k], .res = u};
	want = g->present ? -EEXIST : 0;
	/* A used resource must fit; reserved to another role than its own is still fine. */
	if (with_use && !allocator_res_contains(t, u))
		want = want ? want : -EINVAL;
	rv = allocator_agent_add(m->a, aid, t, &use, with_use ? 1 : 0);
	trace(m, "agent_add %s t%u use=%d(%s %s) -> %d", aid, r % 8, with_use, fid, role_names[k],
	      rv);
	if (rv != want)
		fail(m, "agent_add returned %d, model expected %d", rv, want);
	if (rv < 0)
		return;
	g->present = true;
	g->active = true;
	g->total = allocator_res_ref(t);
	if (with_use) {
		cu = allocator_res_ref(u);
		g->held[j][k] = cu;
	}
}

static void clear_agent(struct model *m, int i)
{
	struct m_agent *g = &m->ag[i];

	for (int j = 0; j < NF; j++)
		for (int k = 0; k < NR; k++)
			set(&g->held[j][k], NULL);
	set(&g->total, NULL);
	g->present = false;
	drop_filters(m, i, -1, ~0u);
}

static bool fw_holds(const struct model *m, int j)
{
	for (int i = 0; i < NA; i++)
		for (int k = 0; k < NR; k++)
			if (m->ag[i].held[j][k])
				return true;
	return false;
}

static void fw_info(struct allocator_framework *info, const char **roles, const char **sup,
		    const char *fid, uint32_t rmask, uint32_t smask, uint32_t caps)
{
	info->id = fid;
	info->roles = roles;
	info->suppressed = sup;
	info->n_roles = info->n_suppressed = 0;
	info->capabilities = caps;
	for (int k = 0; k < NR; k++) {
		if ((rmask >> k) & 1)
			roles[info->n_roles++] = role_names[k];
		if ((smask >> k) & 1)
			sup[info->n_suppressed++] = role_names[k];
	}
}

static void fw_add_update(struct model *m, int j, uint32_t r, bool update)
{
	char fid[8];
	const char *roles[NR], *sup[NR];
	struct allocator_framework info;
	struct m_fw *f = &m->fw[j];
	uint32_t caps = r & 3, rmask = (r >> 2) & 15, smask = (r >> 6) & 15 & rmask;
	int rv, want = 0;

	if (!(caps & ALLOCATOR_CAP_MULTI_ROLE) && (r >> 10) % 4 != 0)
		rmask = 1u << ((r >> 12) % NR), smask &= rmask;
	ids(fid, sizeof(fid), 'f', j);
	fw_info(&info, roles, sup, fid, rmask, smask, caps);
	if (!(caps & ALLOCATOR_CAP_MULTI_ROLE) && info.n_roles != 1)
		want = -EINVAL;
	else if (!update && f->added)
		want = -EEXIST;
	else if (update && !f->added)
		want = -ENOENT;
	rv =
	    update ? allocator_framework_update(m->a, &info) : allocator_framework_add(m->a, &info);
	trace(m, "framework_%s %s caps=%u roles=%x sup=%x -> %d", update ? "update" : "add", fid,
	      caps, rmask, smask, rv);
	if (rv != want)
		fail(m, "framework add/update returned %d, model expected %d", rv, want);
	if (rv < 0)
		return;
	drop_filters(m, -1, j, f->roles & ~rmask);
	if (!update)
		f->active = true;
	f->added = true;
	f->roles = rmask;
	f->sup = smask;
	f->caps = caps;
}

static void fw_remove(struct model *m, int j)
{
	char fid[8];
	int rv, want = m->fw[j].added || fw_holds(m, j) ? 0 : -ENOENT;

	ids(fid, sizeof(fid), 'f', j);
	rv = allocator_framework_remove(m->a, fid);
	trace(m, "framework_remove %s -> %d", fid, rv);
	if (rv != want)
		fail(m, "framework_remove returned %d, model expected %d", rv, want);
	if (rv < 0)
		return;
	for (int i = 0; i < NA; i++)
		for (int k = 0; k < NR; k++)
			set(&m->ag[i].held[j][k], NULL);
	drop_filters(m, -1, j, ~0u);
	memset(&m->fw[j], 0, sizeof(m->fw[j]));
}

static void fw_suppress_revive(struct model *m, int j, uint32_t r)
{
	char fid[8];
	const char *roles[NR];
	size_t n = 0;
	uint32_t mask = (r >> 1) & 15, sel;
	bool revive = r & 1;
	struct m_fw *f = &m->fw[j];
	int rv, want = 0;

	ids(fid, sizeof(fid), 'f', j);
	for (int k = 0; k < NR; k++)
		if ((mask >> k) & 1)
			roles[n++] = role_names[k];
	sel = n ? mask : f->roles;
	if (!f->added)
		want = -ENOENT;
	else if (mask & ~f->roles)
		want = -EINVAL;
	rv = revive ? allocator_framework_revive(m->a, fid, roles, n)
		    : allocator_framework_suppress(m->a, fid, roles, n);
	trace(m, "%s %s roles=%x -> %d", revive ? "revive" : "suppress", fid, mask, rv);
	if (rv != want)
		fail(m, "suppress/revive returned %d, model expected %d", rv, want);
	if (rv < 0)
		return;
	if (revive) {
		f->sup &= ~sel;
		drop_filters(m, -1, j, sel);
	} else {
		f->sup |= sel;
	}
}

void model_step(struct model *m, uint32_t r1, uint32_t r2, uint32_t r3)
{
	int i = (int)(r2 % NA), j = (int)(r2 % NF), k = (int)((r2 >> 8) % NR);
	char aid[8], fid[8];
	int rv, want;

	ids(aid, sizeof(aid), 'a', i);
	ids(fid, sizeof(fid), 'f', j);
	m->rng ^= (uint64_t)r3 << 17 | 1;
	switch (r1 % 16) {
	case 0:
	case 1:
		add_agent(m, i, r3);
		break;
	case 2:
		rv = allocator_agent_remove(m->a, aid);
		trace(m, "agent_remove %s -> %d", aid, rv);
		if (rv != (m->ag[i].present ? 0 : -ENOENT))
			fail(m, "agent_remove returned %d", rv);
		if (rv == 0)
			clear_agent(m, i);
		break;
	case 3: {
		struct allocator_res *t = m->tot[r3 % KEEL_ARRAY_SIZE(totals)], *fr;

		rv = allocator_agent_update_total(m->a, aid, t);
		trace(m, "agent_update_total %s t%u -> %d", aid, r3 % 8, rv);
		if (!m->ag[i].present) {
			want = -ENOENT;
		} else {
			struct allocator_res *used;

			fr = model_free_of(m, i);
			used = sub(m, m->ag[i].total, fr);
			want = allocator_res_contains(t, used) ? 0 : -EINVAL;
			allocator_res_unref(used);
			allocator_res_unref(fr);
		}
		if (rv != want)
			fail(m, "agent_update_total returned %d, model expected %d", rv, want);
		if (rv == 0)
			set(&m->ag[i].total, allocator_res_ref(t));
		break;
	}
	case 4:
		rv = r3 & 1 ? allocator_agent_activate(m->a, aid)
			    : allocator_agent_deactivate(m->a, aid);
		trace(m, "agent_%sactivate %s -> %d", r3 & 1 ? "" : "de", aid, rv);
		if (rv != (m->ag[i].present ? 0 : -ENOENT))
			fail(m, "agent (de)activate returned %d", rv);
		if (rv == 0)
			m->ag[i].active = r3 & 1;
		break;
	case 5:
		fw_add_update(m, j, r3, false);
		break;
	case 6:
		if (r3 % 4 == 0)
			fw_remove(m, j);
		else
			fw_add_update(m, j, r3, true);
		break;
	case 7:
		fw_suppress_revive(m, j, r3);
		break;
	case 8:
		rv = r3 & 1 ? allocator_framework_activate(m->a, fid)
			    : allocator_framework_deactivate(m->a, fid);
		trace(m, "framework_%sactivate %s -> %d", r3 & 1 ? "" : "de", fid, rv);
		if (rv != (m->fw[j].added ? 0 : -ENOENT))
			fail(m, "framework (de)activate returned %d", rv);
		if (rv == 0)
			m->fw[j].active = r3 & 1;
		break;
	case 9:
		if (r3 % 8 == 0) {
			rv = allocator_role_set_quota(m->a, role_names[k],
						      r3 & 8 ? m->quota[(r3 >> 4) % 3] : NULL);
			trace(m, "quota %s %s -> %d", role_names[k], r3 & 8 ? "set" : "clear", rv);
			if (rv != (k == 0 ? -EINVAL : 0))
				fail(m, "set_quota returned %d", rv);
			if (rv == 0)
				m->quota_set[k] = r3 & 8;
		} else {
			rv = allocator_role_set_weight(m->a, role_names[k], 0.5 + (r3 % 7));
			trace(m, "weight %s -> %d", role_names[k], rv);
			if (rv != 0)
				fail(m, "set_weight returned %d", rv);
		}
		break;
	case 10: {
		/* Recover all or part of something held: a task ends, an offer is rescinded. */
		int jj = (int)((r3 >> 4) % NF), kk = (int)((r3 >> 8) % NR);
		struct allocator_res *h = m->ag[i].held[jj][kk];
		double refuse = refusals[(r3 >> 16) % KEEL_ARRAY_SIZE(refusals)];

		if (h && (r3 & 1)) {
			struct allocator_res *all = allocator_res_ref(h);

			recover(m, i, jj, kk, all, refuse);
			allocator_res_unref(all);
		} else {
			recover(m, i, jj, kk, m->unit[(r3 >> 12) % KEEL_ARRAY_SIZE(units)], refuse);
		}
		break;
	}
	case 11: {
		/* A task the master did not know about. */
		const struct allocator_res *u = m->unit[r3 % KEEL_ARRAY_SIZE(units)];
		struct allocator_res *fr = m->ag[i].present ? model_free_of(m, i) : NULL;
		int jj = (int)((r3 >> 4) % NF), kk = (int)((r3 >> 8) % NR);
		char fj[8];

		ids(fj, sizeof(fj), 'f', jj);
		want = !fr ? -ENOENT : allocator_res_contains(fr, u) ? 0 : -EINVAL;
		allocator_res_unref(fr);
		rv = allocator_agent_add_used(m->a, aid, fj, role_names[kk], u);
		trace(m, "add_used %s %s %s -> %d", aid, fj, role_names[kk], rv);
		if (rv != want)
			fail(m, "add_used returned %d, model expected %d", rv, want);
		if (rv == 0) {
			struct allocator_res **h = &m->ag[i].held[jj][kk];

			set(h, *h ? add(m, *h, u) : allocator_res_ref(u));
		}
		break;
	}
	default:
		allocate(m, r3);
		break;
	}
	drop_filters(m, -1, -1, 0);
	check_books(m);
}

static void parse_all(struct model *m, const char *const *text, size_t n,
		      struct allocator_res **out)
{
	for (size_t i = 0; i < n; i++)
		if (allocator_res_parse(m->a, text[i], &out[i]) < 0)
			fail(m, "parse %s", text[i]);
}

struct model *model_new(model_fail_fn fn, void *ctx)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->fail = fn;
	m->ctx = ctx;
	m->rng = 0x9e3779b97f4a7c15ULL;
	if (allocator_new(NULL, &m->a, NULL) < 0) {
		free(m);
		return NULL;
	}
	parse_all(m, totals, KEEL_ARRAY_SIZE(totals), m->tot);
	parse_all(m, units, KEEL_ARRAY_SIZE(units), m->unit);
	parse_all(m, quotas, KEEL_ARRAY_SIZE(quotas), m->quota);
	return m;
}

uint64_t model_offers(const struct model *m)
{
	return m->offers;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (int i = 0; i < NA; i++) {
		for (int j = 0; j < NF; j++)
			for (int k = 0; k < NR; k++)
				allocator_res_unref(m->ag[i].held[j][k]);
		allocator_res_unref(m->ag[i].total);
	}
	for (size_t f = 0; f < m->n_filters; f++)
		allocator_res_unref(m->filters[f].r);
	free(m->filters);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(m->tot); i++)
		allocator_res_unref(m->tot[i]);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(m->unit); i++)
		allocator_res_unref(m->unit[i]);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(m->quota); i++)
		allocator_res_unref(m->quota[i]);
	allocator_free(m->a);
	free(m);
}
