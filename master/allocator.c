/* The allocator core's state changes: agents, frameworks, roles, recovery, inspection. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "master/allocator_int.h"
#include "runtime/alloc.h"

/* Longest ID, role, resource name or set item accepted. */
#define NAME_MAX_LEN 1024

static void *hval(uint32_t id)
{
	return (void *)(uintptr_t)(id + 1);
}

/* ---- Interning and roles -------------------------------------------------------------------- */

int alloc_intern_id(struct allocator *a, struct intern *in, const char *s, size_t len, uint32_t *id)
{
	char key[NAME_MAX_LEN + 1], *dup;
	void *v;
	int rv;

	if (len == 0 || len > NAME_MAX_LEN || memchr(s, 0, len))
		return keel_errf(a->errmsg, -EINVAL, "bad name '%.*s'", (int)KEEL_MIN(len, 64), s);
	memcpy(key, s, len);
	key[len] = 0;
	v = keel_hmap_get(&in->map, key);
	if (v) {
		*id = (uint32_t)((uintptr_t)v - 1);
		return 0;
	}
	if (in == &a->names && in->n >= ALLOCATOR_NAMES_MAX)
		return keel_errf(a->errmsg, -ENOSPC, "more than %d resource names",
				 ALLOCATOR_NAMES_MAX);
	if (in->n == UINT32_MAX - 1)
		return keel_errf(a->errmsg, -ENOSPC, "too many set items");
	if (in->n == in->cap) {
		uint32_t cap = in->cap ? in->cap * 2 : 16;
		char **v2 = keel_realloc(in->strs, (size_t)cap * sizeof(*v2));

		if (!v2)
			return keel_errf(a->errmsg, -ENOMEM, "out of memory");
		in->strs = v2;
		in->cap = cap;
	}
	dup = keel_strdup(key);
	if (!dup)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	rv = keel_hmap_put(&in->map, dup, hval(in->n), NULL);
	if (rv < 0) {
		keel_free(dup);
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	}
	in->strs[in->n] = dup;
	*id = in->n++;
	return 0;
}

static void intern_free(struct intern *in)
{
	for (uint32_t i = 0; i < in->n; i++)
		keel_free(in->strs[i]);
	keel_free(in->strs);
	keel_hmap_free(&in->map);
}

/* Mesos's role name rules, flattened: no empty, ".", "..", leading '-', spaces or controls. */
static bool role_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > 255 || s[0] == '-' || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= ' ' || ch == 0x7f || ch == '/' || ch == '\\')
			return false;
	}
	return true;
}

int alloc_role_get(struct allocator *a, const char *name, size_t len, bool create,
		   struct role **out)
{
	char key[NAME_MAX_LEN + 1];
	struct role *r;

	if (len > NAME_MAX_LEN)
		return keel_errf(a->errmsg, -EINVAL, "role name too long");
	memcpy(key, name, len);
	key[len] = 0;
	r = keel_hmap_get(&a->roles_map, key);
	if (r) {
		*out = r;
		return 0;
	}
	if (!create)
		return keel_errf(a->errmsg, -ENOENT, "unknown role '%s'", key);
	if (!role_name_ok(name, len) || memchr(name, 0, len))
		return keel_errf(a->errmsg, -EINVAL, "invalid role name '%.*s'",
				 (int)KEEL_MIN(len, 64), name);
	if (a->n_roles == a->cap_roles) {
		uint32_t cap = a->cap_roles ? a->cap_roles * 2 : 8;
		struct role **v = keel_realloc(a->roles, (size_t)cap * sizeof(*v));

		if (!v)
			return keel_errf(a->errmsg, -ENOMEM, "out of memory");
		a->roles = v;
		a->cap_roles = cap;
	}
	r = keel_calloc(1, sizeof(*r));
	if (!r)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	r->name = keel_strdup(key);
	if (!r->name || keel_hmap_put(&a->roles_map, r->name, r, NULL) < 0) {
		keel_free(r->name);
		keel_free(r);
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	}
	r->id = a->n_roles;
	r->weight = 1.0;
	r->hn.tie = r->id;
	r->hn.pos = HEAP_NONE;
	a->roles[a->n_roles++] = r;
	*out = r;
	return 0;
}

static int role_lookup(struct allocator *a, const char *name, bool create, struct role **out)
{
	*out = keel_hmap_get(&a->roles_map, name);
	if (*out)
		return 0;
	return alloc_role_get(a, name, strlen(name), create, out);
}

/* ---- Agents: slots, bitmaps, accounting ------------------------------------------------------ */

static uint32_t words_of(uint32_t slots)
{
	return slots >> 6;
}

/* Grows every per-agent-slot array to hold twice as many slots. */
static int agent_slots_grow(struct allocator *a)
{
	uint32_t cap = a->agent_cap ? a->agent_cap * 2 : 64;
	uint32_t ow = words_of(a->agent_cap), nw = words_of(cap);
	uint32_t osw = (ow + 63) / 64, nsw = (nw + 63) / 64;
	uint64_t **maps[] = {&a->pool, &a->dirty, &a->gpu, &a->uncovered};
	void *p;

	if (cap > ALLOCATOR_AGENTS_MAX)
		cap = ALLOCATOR_AGENTS_MAX;
	if (cap <= a->agent_cap)
		return keel_errf(a->errmsg, -ENOSPC, "more than %u agents", ALLOCATOR_AGENTS_MAX);
	nw = words_of(cap);
	nsw = (nw + 63) / 64;
	/* Phase 1: make everything big enough (a failure leaves some arrays larger: harmless). */
	p = keel_realloc(a->agents, (size_t)cap * sizeof(*a->agents));
	if (!p)
		goto oom;
	a->agents = p;
	p = keel_realloc(a->free_agent_slots, (size_t)cap * sizeof(uint32_t));
	if (!p)
		goto oom;
	a->free_agent_slots = p;
	p = keel_realloc(a->dwords, (size_t)nw * sizeof(uint32_t));
	if (!p)
		goto oom;
	a->dwords = p;
	a->cap_dwords = nw;
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(maps); i++) {
		p = keel_realloc(*maps[i], (size_t)nw * sizeof(uint64_t));
		if (!p)
			goto oom;
		*maps[i] = p;
	}
	p = keel_realloc(a->pool_sum, (size_t)nsw * sizeof(uint64_t));
	if (!p)
		goto oom;
	a->pool_sum = p;
	for (uint32_t i = 0; i < a->client_slots; i++) {
		struct client *c = a->clients[i];

		if (c && c->fbits) {
			p = keel_realloc(c->fbits, (size_t)nw * sizeof(uint64_t));
			if (!p)
				goto oom;
			c->fbits = p;
		}
		if (c && c->hbits) {
			p = keel_realloc(c->hbits, (size_t)nw * sizeof(uint64_t));
			if (!p)
				goto oom;
			c->hbits = p;
		}
	}
	/* Phase 2: zero the new parts. */
	for (uint32_t i = a->agent_cap; i < cap; i++)
		a->agents[i] = NULL;
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(maps); i++)
		memset(*maps[i] + ow, 0, (size_t)(nw - ow) * sizeof(uint64_t));
	memset(a->pool_sum + osw, 0, (size_t)(nsw - osw) * sizeof(uint64_t));
	for (uint32_t i = 0; i < a->client_slots; i++) {
		struct client *c = a->clients[i];

		if (c && c->fbits)
			memset(c->fbits + ow, 0, (size_t)(nw - ow) * sizeof(uint64_t));
		if (c && c->hbits)
			memset(c->hbits + ow, 0, (size_t)(nw - ow) * sizeof(uint64_t));
	}
	a->agent_cap = cap;
	return 0;
oom:
	return keel_errf(a->errmsg, -ENOMEM, "out of memory growing agent tables");
}

void alloc_agent_mark_dirty(struct allocator *a, struct agent *g)
{
	uint32_t w = g->slot >> 6;

	if (!a->dirty[w])
		a->dwords[a->n_dwords++] = w;
	bit_set(a->dirty, g->slot);
	a->work = true;
}

void alloc_agent_pool_update(struct allocator *a, struct agent *g)
{
	uint32_t w = g->slot >> 6;

	if (g->active && alloc_res_allocatable(a, g->free))
		bit_set(a->pool, g->slot);
	else
		bit_clear(a->pool, g->slot);
	if (a->pool[w])
		bit_set(a->pool_sum, w);
	else
		bit_clear(a->pool_sum, w);
}

void alloc_agent_free_account(struct allocator *a, const struct agent *g,
			      const struct allocator_res *fr, int sign)
{
	for (uint32_t i = 0; i < fr->n; i++) {
		const struct res_entry *e = &fr->e[i];

		if (e->type != RES_SCALAR)
			continue;
		if (e->role)
			a->roles[e->role]->resv_free[e->name] += sign * e->scalar;
		else if (g->active)
			a->unres_free[e->name] += sign * e->scalar;
	}
}

/* Adds sign * the unreserved scalars of g's free to unres_free (activation changes). */
static void agent_unres_account(struct allocator *a, const struct agent *g, int sign)
{
	for (uint32_t i = 0; i < g->free->n; i++) {
		const struct res_entry *e = &g->free->e[i];

		if (e->type == RES_SCALAR && e->role == 0)
			a->unres_free[e->name] += sign * e->scalar;
	}
}

/* Replaces g->free (taking the reference fr) and everything derived from it. */
static void agent_set_free(struct allocator *a, struct agent *g, struct allocator_res *fr)
{
	alloc_agent_free_account(a, g, g->free, -1);
	alloc_agent_free_account(a, g, fr, +1);
	allocator_res_unref(g->free);
	g->free = fr;
	alloc_agent_pool_update(a, g);
	alloc_filter_cover_update(a, g);
}

struct use *alloc_agent_use_find(const struct agent *g, uint32_t client)
{
	for (uint32_t i = 0; i < g->n_uses; i++)
		if (g->uses[i].client == client)
			return &g->uses[i];
	return NULL;
}

static struct agent *agent_lookup(struct allocator *a, const char *id)
{
	struct agent *g = keel_hmap_get(&a->agents_map, id);

	if (!g)
		keel_errf(a->errmsg, -ENOENT, "unknown agent '%s'", id);
	return g;
}

/* ---- Clients and frameworks -------------------------------------------------------------------
 */

int alloc_grow(struct allocator *a, void **v, uint32_t *cap, uint32_t need, size_t size)
{
	void *p;
	uint32_t c;

	if (need <= *cap)
		return 0;
	c = *cap ? *cap : 4;
	while (c < need)
		c *= 2;
	p = keel_realloc(*v, (size_t)c * size);
	if (!p)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	*v = p;
	*cap = c;
	return 0;
}

static struct client *client_find(const struct framework *fw, const struct role *r)
{
	for (uint32_t i = 0; i < fw->n_clients; i++)
		if (fw->clients[i]->role == r)
			return fw->clients[i];
	return NULL;
}

static int client_new(struct allocator *a, struct framework *fw, struct role *r,
		      struct client **out)
{
	struct client *c;
	uint32_t slot;

	if (GROW(a, fw->clients, fw->cap_clients, fw->n_clients + 1) < 0 ||
	    GROW(a, r->members, r->cap_members, r->n_members + 1) < 0)
		return -ENOMEM;
	if (a->n_free_client_slots == 0 && a->client_slots == a->cap_clients) {
		uint32_t cap = a->cap_clients;

		if (GROW(a, a->clients, cap, a->client_slots + 1) < 0)
			return -ENOMEM;
		if (GROW(a, a->free_client_slots, a->cap_clients, cap) < 0)
			return -ENOMEM;
		a->cap_clients = cap;
	}
	c = keel_calloc(1, sizeof(*c));
	if (!c)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	slot = a->n_free_client_slots ? a->free_client_slots[--a->n_free_client_slots]
				      : a->client_slots++;
	c->fw = fw;
	c->role = r;
	c->slot = slot;
	c->hn.tie = slot;
	c->hn.pos = HEAP_NONE;
	c->member_pos = r->n_members;
	a->clients[slot] = c;
	fw->clients[fw->n_clients++] = c;
	r->members[r->n_members++] = c;
	*out = c;
	return 0;
}

static void framework_gc(struct allocator *a, struct framework *fw)
{
	if (fw->added || fw->n_clients > 0)
		return;
	keel_hmap_del(&a->fw_map, fw->id);
	a->n_frameworks--;
	keel_free(fw->clients);
	keel_free(fw->id);
	keel_free(fw);
}

void alloc_client_gc(struct allocator *a, struct client *c)
{
	struct framework *fw = c->fw;
	struct role *r = c->role;
	uint32_t i;

	if (c->subscribed || c->n_agents > 0 || c->n_filters > 0)
		return;
	r->members[c->member_pos] = r->members[--r->n_members];
	r->members[c->member_pos]->member_pos = c->member_pos;
	for (i = 0; i < fw->n_clients && fw->clients[i] != c; i++)
		;
	fw->clients[i] = fw->clients[--fw->n_clients];
	a->clients[c->slot] = NULL;
	a->free_client_slots[a->n_free_client_slots++] = c->slot;
	keel_free(c->fbits);
	keel_free(c->hbits);
	keel_free(c);
}

int alloc_client_hbits_ensure(struct allocator *a, struct client *c)
{
	if (c->hbits)
		return 0;
	c->hbits = keel_calloc(a->agent_cap / 64, sizeof(uint64_t));
	return c->hbits ? 0 : keel_errf(a->errmsg, -ENOMEM, "out of memory");
}

/* alloc_client_gc, then frees the framework too if that left it empty and not added. */
static void client_gc_fw(struct allocator *a, struct client *c)
{
	struct framework *fw = c->fw;

	alloc_client_gc(a, c);
	framework_gc(a, fw);
}

/* The framework with this ID, created (not added) when `create`. */
static int framework_get(struct allocator *a, const char *id, bool create, struct framework **out)
{
	struct framework *fw = keel_hmap_get(&a->fw_map, id);
	size_t len = strlen(id);

	if (fw || !create) {
		*out = fw;
		return fw ? 0 : keel_errf(a->errmsg, -ENOENT, "unknown framework '%s'", id);
	}
	if (len == 0 || len > NAME_MAX_LEN)
		return keel_errf(a->errmsg, -EINVAL, "bad framework ID");
	fw = keel_calloc(1, sizeof(*fw));
	if (!fw)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	fw->id = keel_strdup(id);
	if (!fw->id || keel_hmap_put(&a->fw_map, fw->id, fw, NULL) < 0) {
		keel_free(fw->id);
		keel_free(fw);
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	}
	a->n_frameworks++;
	*out = fw;
	return 0;
}

/* The client for (framework ID, role), creating both as needed (for resources in use). */
static int client_get(struct allocator *a, const char *fw_id, const char *role, struct client **out)
{
	struct framework *fw;
	struct role *r;
	int rv;

	rv = role_lookup(a, role, true, &r);
	if (rv == 0)
		rv = framework_get(a, fw_id, true, &fw);
	if (rv < 0)
		return rv;
	*out = client_find(fw, r);
	if (*out)
		return 0;
	rv = client_new(a, fw, r, out);
	if (rv < 0)
		framework_gc(a, fw);
	return rv;
}

static bool client_wants_any(const struct client *c)
{
	return c->fw->added && c->fw->active && c->subscribed && !c->suppressed;
}

static void client_mark_fresh(struct allocator *a, struct client *c)
{
	c->fresh = true;
	if (client_wants_any(c))
		a->work = true;
}

/* ---- Uses (what a client holds on an agent) ---------------------------------------------------
 */

/* Adds x to what c holds on g (not touching g->free). Room must be reserved (use_reserve). */
static int use_attach(struct allocator *a, struct agent *g, struct client *c,
		      const struct allocator_res *x)
{
	struct use *u = alloc_agent_use_find(g, c->slot);

	if (u) {
		struct allocator_res *n;
		int rv = allocator_res_add(a, u->res, x, &n);

		if (rv < 0)
			return rv;
		allocator_res_unref(u->res);
		u->res = n;
	} else {
		if (GROW(a, g->uses, g->cap_uses, g->n_uses + 1) < 0 ||
		    alloc_client_hbits_ensure(a, c) < 0)
			return -ENOMEM;
		u = &g->uses[g->n_uses++];
		u->client = c->slot;
		u->res = allocator_res_ref(x);
		bit_set(c->hbits, g->slot);
		c->n_agents++;
	}
	alloc_res_scalars_acc(x, c->alloc, +1);
	alloc_res_scalars_acc(x, c->role->alloc, +1);
	alloc_client_share_update(a, c);
	alloc_role_share_update(a, c->role);
	return 0;
}

/* Removes use u (of client c on g) entirely, after its scalars were accounted away. */
static void use_drop(struct allocator *a, struct agent *g, struct client *c, struct use *u)
{
	(void)a;
	allocator_res_unref(u->res);
	*u = g->uses[--g->n_uses];
	bit_clear(c->hbits, g->slot);
	c->n_agents--;
}

/* Takes x out of what c holds on g: u->res becomes n (= u->res - x, consumed); an empty n drops
 * the use. Not touching free. */
static void use_detach(struct allocator *a, struct agent *g, struct client *c, struct use *u,
		       const struct allocator_res *x, struct allocator_res *n)
{
	alloc_res_scalars_acc(x, c->alloc, -1);
	alloc_res_scalars_acc(x, c->role->alloc, -1);
	if (n->n == 0) {
		allocator_res_unref(n);
		use_drop(a, g, c, u);
	} else {
		allocator_res_unref(u->res);
		u->res = n;
	}
	alloc_client_share_update(a, c);
	alloc_role_share_update(a, c->role);
}

/* ---- Lifecycle ----------------------------------------------------------------------------- */

static int min_parse(struct allocator *a, const char *text)
{
	const char *p = text;

	if (!*text)
		return 0;
	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		char buf[512];
		struct allocator_res *r;
		struct minalloc *m;
		int rv;

		if (len == 0 || len >= sizeof(buf))
			return keel_errf(a->errmsg, -EINVAL, "bad min_allocatable '%s'", text);
		memcpy(buf, p, len);
		buf[len] = 0;
		rv = allocator_res_parse(a, buf, &r);
		if (rv < 0)
			return keel_errwrap(a->errmsg, rv, "min_allocatable");
		m = keel_realloc(a->min, (size_t)(a->n_min + 1) * sizeof(*m));
		if (!m) {
			allocator_res_unref(r);
			return keel_errf(a->errmsg, -ENOMEM, "out of memory");
		}
		a->min = m;
		m = &a->min[a->n_min];
		m->n = 0;
		for (uint32_t i = 0; i < r->n; i++) {
			if (r->e[i].type != RES_SCALAR || r->e[i].role != 0) {
				allocator_res_unref(r);
				return keel_errf(a->errmsg, -EINVAL,
						 "min_allocatable: unreserved scalars only");
			}
			m->name[m->n] = r->e[i].name;
			m->qty[m->n++] = r->e[i].scalar;
		}
		allocator_res_unref(r);
		if (m->n == 0)
			return keel_errf(a->errmsg, -EINVAL, "min_allocatable: empty alternative");
		a->n_min++;
		if (!bar)
			return 0;
		p = bar + 1;
	}
}

int allocator_new(const struct allocator_config *cfg, struct allocator **out, char *errmsg)
{
	struct allocator *a = keel_calloc(1, sizeof(*a));
	struct role *star;
	int rv;

	if (!a)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	a->default_refuse_ms = cfg && cfg->default_refuse_ms > 0 ? cfg->default_refuse_ms : 5000;
	if (a->default_refuse_ms > ALLOCATOR_REFUSE_MAX_MS)
		a->default_refuse_ms = ALLOCATOR_REFUSE_MAX_MS;
	a->empty = alloc_res_new_empty(a);
	if (!a->empty) {
		rv = keel_errf(a->errmsg, -ENOMEM, "out of memory");
		goto fail;
	}
	/* Role 0 is "*", created directly (role names cannot be "*"). */
	rv = GROW(a, a->roles, a->cap_roles, 1);
	if (rv < 0)
		goto fail;
	star = keel_calloc(1, sizeof(*star));
	if (!star) {
		rv = keel_errf(a->errmsg, -ENOMEM, "out of memory");
		goto fail;
	}
	star->name = keel_strdup("*");
	if (!star->name || keel_hmap_put(&a->roles_map, star->name, star, NULL) < 0) {
		keel_free(star->name);
		keel_free(star);
		rv = keel_errf(a->errmsg, -ENOMEM, "out of memory");
		goto fail;
	}
	star->weight = 1.0;
	star->hn.pos = HEAP_NONE;
	a->roles[a->n_roles++] = star;
	rv = alloc_intern_id(a, &a->names, "gpus", 4, &a->name_gpus);
	if (rv < 0)
		goto fail;
	rv = min_parse(a, cfg && cfg->min_allocatable ? cfg->min_allocatable : "cpus:0.01|mem:32");
	if (rv < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	if (errmsg)
		keel_errf(errmsg, rv, "%s", a->errmsg);
	allocator_free(a);
	return rv;
}

static void agent_free_mem(struct agent *g)
{
	for (uint32_t i = 0; i < g->n_uses; i++)
		allocator_res_unref(g->uses[i].res);
	for (uint32_t i = 0; i < g->n_fres; i++)
		allocator_res_unref(g->fres[i].res);
	allocator_res_unref(g->cover);
	allocator_res_unref(g->total);
	allocator_res_unref(g->free);
	keel_free(g->uses);
	for (uint32_t i = 0; i < g->n_fchunks; i++)
		keel_free(g->fchunks[i]);
	keel_free(g->fchunks);
	keel_free(g->fres);
	keel_free(g);
}

static void out_reset(struct allocator *a)
{
	for (uint32_t i = 0; i < a->n_out; i++)
		allocator_res_unref(a->out_meta[i].res);
	a->n_out = 0;
}

void allocator_free(struct allocator *a)
{
	size_t pos = 0;
	const char *key;
	void *val;

	if (!a)
		return;
	out_reset(a);
	for (uint32_t i = 0; i < a->agent_slots; i++)
		if (a->agents[i])
			agent_free_mem(a->agents[i]);
	for (uint32_t i = 0; i < a->client_slots; i++) {
		struct client *c = a->clients[i];

		if (!c)
			continue;
		keel_free(c->fbits);
		keel_free(c->hbits);
		keel_free(c);
	}
	while (keel_hmap_next(&a->fw_map, &pos, &key, &val)) {
		struct framework *fw = val;

		keel_free(fw->clients);
		keel_free(fw->id);
		keel_free(fw);
	}
	for (uint32_t i = 0; i < a->n_roles; i++) {
		keel_free(a->roles[i]->members);
		alloc_heap_free(&a->roles[i]->clients);
		keel_free(a->roles[i]->name);
		keel_free(a->roles[i]);
	}
	keel_free(a->roles);
	keel_free(a->quota_roles);
	keel_hmap_free(&a->roles_map);
	keel_hmap_free(&a->agents_map);
	keel_hmap_free(&a->fw_map);
	keel_free(a->agents);
	keel_free(a->free_agent_slots);
	keel_free(a->clients);
	keel_free(a->free_client_slots);
	keel_free(a->pool);
	keel_free(a->pool_sum);
	keel_free(a->dirty);
	keel_free(a->gpu);
	keel_free(a->uncovered);
	keel_free(a->dwords);
	alloc_heap_free(&a->xheap);
	alloc_heap_free(&a->rheap);
	intern_free(&a->names);
	intern_free(&a->items);
	alloc_res_builder_free(&a->b1);
	alloc_res_builder_free(&a->b2);
	keel_free(a->out);
	keel_free(a->out_meta);
	keel_free(a->min);
	allocator_res_unref(a->empty);
	keel_free(a);
}

const char *allocator_errmsg(const struct allocator *a)
{
	return a->errmsg;
}

/* ---- Agents --------------------------------------------------------------------------------- */

/* Removes g with everything on it. */
static void agent_destroy(struct allocator *a, struct agent *g)
{
	while (g->n_uses > 0) {
		struct use *u = &g->uses[g->n_uses - 1];
		struct client *c = a->clients[u->client];

		alloc_res_scalars_acc(u->res, c->alloc, -1);
		alloc_res_scalars_acc(u->res, c->role->alloc, -1);
		alloc_client_share_update(a, c);
		alloc_role_share_update(a, c->role);
		use_drop(a, g, c, u);
		client_gc_fw(a, c);
	}
	alloc_filter_clear_agent(a, g);
	alloc_res_scalars_acc(g->total, a->total, -1);
	alloc_agent_free_account(a, g, g->free, -1);
	g->active = false;
	alloc_agent_pool_update(a, g);
	bit_clear(a->gpu, g->slot);
	bit_clear(a->uncovered, g->slot);
	keel_hmap_del(&a->agents_map, g->id);
	a->agents[g->slot] = NULL;
	a->free_agent_slots[a->n_free_agent_slots++] = g->slot;
	a->n_agents--;
	a->shares_stale = true;
	agent_free_mem(g);
}

int allocator_agent_add(struct allocator *a, const char *agent_id,
			const struct allocator_res *total, const struct allocator_use *used,
			size_t n_used)
{
	struct allocator_res *sum = allocator_res_ref(a->empty), *fr = NULL;
	struct agent *g = NULL;
	size_t len = strlen(agent_id);
	int rv = 0;

	if (len == 0 || len > NAME_MAX_LEN)
		rv = keel_errf(a->errmsg, -EINVAL, "bad agent ID");
	else if (keel_hmap_get(&a->agents_map, agent_id))
		rv = keel_errf(a->errmsg, -EEXIST, "agent '%s' added twice", agent_id);
	else if (a->n_agents >= ALLOCATOR_AGENTS_MAX)
		rv = keel_errf(a->errmsg, -ENOSPC, "more than %u agents", ALLOCATOR_AGENTS_MAX);
	for (size_t i = 0; rv == 0 && i < n_used; i++) {
		struct allocator_res *n;
		struct role *r;

		if (!used[i].framework_id || !used[i].framework_id[0] || !used[i].role) {
			rv = keel_errf(a->errmsg, -EINVAL,
				       "used resources without framework or role");
			break;
		}
		rv = role_lookup(a, used[i].role, true, &r);
		if (rv == 0)
			rv = allocator_res_add(a, sum, used[i].res, &n);
		if (rv == 0) {
			allocator_res_unref(sum);
			sum = n;
		}
	}
	if (rv == 0 && !allocator_res_contains(total, sum))
		rv = keel_errf(a->errmsg, -EINVAL, "agent '%s': used resources exceed its total",
			       agent_id);
	if (rv == 0)
		rv = allocator_res_subtract(a, total, sum, &fr);
	allocator_res_unref(sum);
	if (rv == 0 && a->n_free_agent_slots == 0 && a->agent_slots == a->agent_cap)
		rv = agent_slots_grow(a);
	if (rv == 0) {
		/* The ID lives right after the struct: one allocation, one cache line less. */
		g = keel_calloc(1, sizeof(*g) + len + 1);
		if (g) {
			g->id = (char *)(g + 1);
			memcpy(g->id, agent_id, len + 1);
		}
		if (!g || keel_hmap_put(&a->agents_map, g->id, g, NULL) < 0) {
			keel_free(g);
			rv = keel_errf(a->errmsg, -ENOMEM, "out of memory");
		}
	}
	if (rv < 0) {
		allocator_res_unref(fr);
		return rv;
	}
	g->slot =
	    a->n_free_agent_slots ? a->free_agent_slots[--a->n_free_agent_slots] : a->agent_slots++;
	g->active = true;
	g->total = allocator_res_ref(total);
	g->free = fr;
	g->xn.pos = HEAP_NONE;
	g->xn.tie = g->slot;
	g->first_offer = UINT32_MAX;
	g->gpu = alloc_res_has_gpus(a, total);
	a->agents[g->slot] = g;
	a->n_agents++;
	alloc_res_scalars_acc(total, a->total, +1);
	alloc_agent_free_account(a, g, fr, +1);
	if (g->gpu)
		bit_set(a->gpu, g->slot);
	for (size_t i = 0; i < n_used; i++) {
		struct client *c = NULL;

		if (used[i].res->n == 0)
			continue;
		rv = client_get(a, used[i].framework_id, used[i].role, &c);
		if (rv == 0)
			rv = use_attach(a, g, c, used[i].res);
		if (rv < 0) {
			if (c)
				client_gc_fw(a, c);
			agent_destroy(a, g);
			return rv;
		}
	}
	alloc_agent_pool_update(a, g);
	alloc_agent_mark_dirty(a, g);
	a->shares_stale = true;
	return 0;
}

int allocator_agent_remove(struct allocator *a, const char *agent_id)
{
	struct agent *g = agent_lookup(a, agent_id);

	if (!g)
		return -ENOENT;
	agent_destroy(a, g);
	return 0;
}

int allocator_agent_update_total(struct allocator *a, const char *agent_id,
				 const struct allocator_res *total)
{
	struct agent *g = agent_lookup(a, agent_id);
	struct allocator_res *used, *fr;
	int rv;

	if (!g)
		return -ENOENT;
	rv = allocator_res_subtract(a, g->total, g->free, &used);
	if (rv < 0)
		return rv;
	if (!allocator_res_contains(total, used)) {
		allocator_res_unref(used);
		return keel_errf(a->errmsg, -EINVAL,
				 "agent '%s': new total does not hold what is allocated", agent_id);
	}
	rv = allocator_res_subtract(a, total, used, &fr);
	allocator_res_unref(used);
	if (rv < 0)
		return rv;
	alloc_res_scalars_acc(g->total, a->total, -1);
	alloc_res_scalars_acc(total, a->total, +1);
	allocator_res_unref(g->total);
	g->total = allocator_res_ref(total);
	g->gpu = alloc_res_has_gpus(a, total);
	if (g->gpu)
		bit_set(a->gpu, g->slot);
	else
		bit_clear(a->gpu, g->slot);
	agent_set_free(a, g, fr);
	alloc_agent_mark_dirty(a, g);
	a->shares_stale = true;
	return 0;
}

int allocator_agent_add_used(struct allocator *a, const char *agent_id, const char *framework_id,
			     const char *role, const struct allocator_res *res)
{
	struct agent *g = agent_lookup(a, agent_id);
	struct allocator_res *fr;
	struct client *c;
	int rv;

	if (!g)
		return -ENOENT;
	if (!allocator_res_contains(g->free, res))
		return keel_errf(a->errmsg, -EINVAL, "agent '%s': used resources are not free",
				 agent_id);
	if (res->n == 0)
		return 0;
	rv = client_get(a, framework_id, role, &c);
	if (rv < 0)
		return rv;
	rv = allocator_res_subtract(a, g->free, res, &fr);
	if (rv == 0) {
		rv = use_attach(a, g, c, res);
		if (rv < 0)
			allocator_res_unref(fr);
	}
	if (rv < 0) {
		client_gc_fw(a, c);
		return rv;
	}
	agent_set_free(a, g, fr);
	return 0;
}

int allocator_agent_activate(struct allocator *a, const char *agent_id)
{
	struct agent *g = agent_lookup(a, agent_id);

	if (!g)
		return -ENOENT;
	if (g->active)
		return 0;
	g->active = true;
	agent_unres_account(a, g, +1);
	alloc_agent_pool_update(a, g);
	alloc_agent_mark_dirty(a, g);
	return 0;
}

int allocator_agent_deactivate(struct allocator *a, const char *agent_id)
{
	struct agent *g = agent_lookup(a, agent_id);

	if (!g)
		return -ENOENT;
	if (!g->active)
		return 0;
	agent_unres_account(a, g, -1);
	g->active = false;
	alloc_agent_pool_update(a, g);
	return 0;
}

/* ---- Frameworks ----------------------------------------------------------------------------- */

static bool in_list(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Validates roles and suppressed roles; creates the roles. */
static int framework_validate(struct allocator *a, const struct allocator_framework *info)
{
	if (!info->id || !info->id[0] || strlen(info->id) > NAME_MAX_LEN)
		return keel_errf(a->errmsg, -EINVAL, "bad framework ID");
	if (!(info->capabilities & ALLOCATOR_CAP_MULTI_ROLE) && info->n_roles != 1)
		return keel_errf(a->errmsg, -EINVAL,
				 "framework '%s': exactly one role without MULTI_ROLE", info->id);
	for (size_t i = 0; i < info->n_roles; i++) {
		struct role *r;
		int rv = role_lookup(a, info->roles[i], true, &r);

		if (rv < 0)
			return rv;
		if (in_list(info->roles, i, info->roles[i]))
			return keel_errf(a->errmsg, -EINVAL, "framework '%s': role '%s' twice",
					 info->id, info->roles[i]);
	}
	for (size_t i = 0; i < info->n_suppressed; i++)
		if (!in_list(info->roles, info->n_roles, info->suppressed[i]))
			return keel_errf(
			    a->errmsg, -EINVAL,
			    "framework '%s': suppressed role '%s' is not one of its roles",
			    info->id, info->suppressed[i]);
	return 0;
}

/* Makes sure fw has a client for each role; on failure drops the ones made here. */
static int framework_clients(struct allocator *a, struct framework *fw,
			     const struct allocator_framework *info)
{
	uint32_t n0 = fw->n_clients;

	for (size_t i = 0; i < info->n_roles; i++) {
		struct role *r;
		struct client *c;
		int rv;

		role_lookup(a, info->roles[i], false, &r);
		if (client_find(fw, r))
			continue;
		rv = client_new(a, fw, r, &c);
		if (rv < 0) {
			for (uint32_t j = fw->n_clients; j-- > n0;)
				alloc_client_gc(a, fw->clients[j]);
			return rv;
		}
	}
	return 0;
}

/* Applies info's roles, suppressions and capabilities to fw's clients. */
static void framework_apply(struct allocator *a, struct framework *fw,
			    const struct allocator_framework *info)
{
	bool caps_changed = fw->caps != info->capabilities;

	fw->caps = info->capabilities;
	for (uint32_t j = fw->n_clients; j-- > 0;) {
		struct client *c = fw->clients[j];
		bool want = in_list(info->roles, info->n_roles, c->role->name);
		bool sup = want && in_list(info->suppressed, info->n_suppressed, c->role->name);

		if (!want) {
			if (c->subscribed) {
				c->subscribed = false;
				c->suppressed = false;
				alloc_filter_clear_client(a, c);
				alloc_client_gc(a, c);
			}
			continue;
		}
		bool fresh = !c->subscribed || (c->suppressed && !sup) || caps_changed;

		c->subscribed = true;
		c->suppressed = sup;
		if (fresh)
			client_mark_fresh(a, c);
	}
}

int allocator_framework_add(struct allocator *a, const struct allocator_framework *info)
{
	struct framework *fw;
	int rv = framework_validate(a, info);

	if (rv < 0)
		return rv;
	fw = keel_hmap_get(&a->fw_map, info->id);
	if (fw && fw->added)
		return keel_errf(a->errmsg, -EEXIST, "framework '%s' added twice", info->id);
	if (!fw) {
		rv = framework_get(a, info->id, true, &fw);
		if (rv < 0)
			return rv;
	}
	rv = framework_clients(a, fw, info);
	if (rv < 0) {
		framework_gc(a, fw);
		return rv;
	}
	fw->added = true;
	fw->active = true;
	fw->caps = info->capabilities;
	for (uint32_t j = 0; j < fw->n_clients; j++)
		fw->clients[j]->fresh = true;
	framework_apply(a, fw, info);
	a->work = true;
	return 0;
}

static struct framework *framework_added(struct allocator *a, const char *id)
{
	struct framework *fw = keel_hmap_get(&a->fw_map, id);

	if (!fw || !fw->added) {
		keel_errf(a->errmsg, -ENOENT, "unknown framework '%s'", id);
		return NULL;
	}
	return fw;
}

int allocator_framework_update(struct allocator *a, const struct allocator_framework *info)
{
	struct framework *fw;
	int rv = framework_validate(a, info);

	if (rv < 0)
		return rv;
	fw = framework_added(a, info->id);
	if (!fw)
		return -ENOENT;
	rv = framework_clients(a, fw, info);
	if (rv < 0)
		return rv;
	framework_apply(a, fw, info);
	return 0;
}

int allocator_framework_remove(struct allocator *a, const char *framework_id)
{
	struct framework *fw = keel_hmap_get(&a->fw_map, framework_id);

	if (!fw)
		return keel_errf(a->errmsg, -ENOENT, "unknown framework '%s'", framework_id);
	/* Give back everything, one use at a time (each step is complete on its own). */
	for (uint32_t j = 0; j < fw->n_clients; j++) {
		struct client *c = fw->clients[j];

		for (uint32_t w = 0; c->n_agents > 0 && w < a->agent_cap / 64;) {
			struct agent *g;
			struct use *u;
			struct allocator_res *fr;
			int rv;

			if (!c->hbits[w]) {
				w++;
				continue;
			}
			g = a->agents[w * 64 + (uint32_t)__builtin_ctzll(c->hbits[w])];
			u = alloc_agent_use_find(g, c->slot);
			rv = allocator_res_add(a, g->free, u->res, &fr);

			if (rv < 0) {
				for (uint32_t k = fw->n_clients; k-- > 0;)
					alloc_client_gc(a, fw->clients[k]);
				framework_gc(a, fw);
				return keel_errwrap(a->errmsg, rv,
						    "removing framework (partly done)");
			}
			alloc_res_scalars_acc(u->res, c->alloc, -1);
			alloc_res_scalars_acc(u->res, c->role->alloc, -1);
			alloc_client_share_update(a, c);
			alloc_role_share_update(a, c->role);
			use_drop(a, g, c, u);
			agent_set_free(a, g, fr);
			alloc_agent_mark_dirty(a, g);
		}
	}
	fw->added = false;
	for (uint32_t j = fw->n_clients; j-- > 0;) {
		struct client *c = fw->clients[j];

		c->subscribed = false;
		alloc_filter_clear_client(a, c);
	}
	fw->active = false;
	for (uint32_t j = fw->n_clients; j-- > 0;)
		alloc_client_gc(a, fw->clients[j]);
	framework_gc(a, fw);
	return 0;
}

int allocator_framework_activate(struct allocator *a, const char *framework_id)
{
	struct framework *fw = framework_added(a, framework_id);

	if (!fw)
		return -ENOENT;
	if (!fw->active) {
		fw->active = true;
		for (uint32_t j = 0; j < fw->n_clients; j++)
			client_mark_fresh(a, fw->clients[j]);
	}
	return 0;
}

int allocator_framework_deactivate(struct allocator *a, const char *framework_id)
{
	struct framework *fw = framework_added(a, framework_id);

	if (!fw)
		return -ENOENT;
	fw->active = false;
	return 0;
}

/* The clients SUPPRESS/REVIVE name (n_roles 0: every subscribed one), into sel[]. */
static int framework_select(struct allocator *a, struct framework *fw, const char *const *roles,
			    size_t n_roles, bool *sel)
{
	for (uint32_t j = 0; j < fw->n_clients; j++)
		sel[j] = fw->clients[j]->subscribed && n_roles == 0;
	for (size_t i = 0; i < n_roles; i++) {
		uint32_t j;

		for (j = 0; j < fw->n_clients; j++)
			if (fw->clients[j]->subscribed &&
			    strcmp(fw->clients[j]->role->name, roles[i]) == 0)
				break;
		if (j == fw->n_clients)
			return keel_errf(a->errmsg, -EINVAL, "framework '%s' is not in role '%s'",
					 fw->id, roles[i]);
		sel[j] = true;
	}
	return 0;
}

static int framework_suppress_revive(struct allocator *a, const char *framework_id,
				     const char *const *roles, size_t n_roles, bool revive)
{
	struct framework *fw = framework_added(a, framework_id);
	bool *sel;
	int rv;

	if (!fw)
		return -ENOENT;
	sel = keel_calloc(fw->n_clients + 1, sizeof(*sel));
	if (!sel)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	rv = framework_select(a, fw, roles, n_roles, sel);
	for (uint32_t j = 0; rv == 0 && j < fw->n_clients; j++) {
		struct client *c = fw->clients[j];

		if (!sel[j])
			continue;
		c->suppressed = !revive;
		if (revive) {
			alloc_filter_clear_client(a, c);
			client_mark_fresh(a, c);
		}
	}
	keel_free(sel);
	return rv;
}

int allocator_framework_suppress(struct allocator *a, const char *framework_id,
				 const char *const *roles, size_t n_roles)
{
	return framework_suppress_revive(a, framework_id, roles, n_roles, false);
}

int allocator_framework_revive(struct allocator *a, const char *framework_id,
			       const char *const *roles, size_t n_roles)
{
	return framework_suppress_revive(a, framework_id, roles, n_roles, true);
}

/* ---- Roles ---------------------------------------------------------------------------------- */

int allocator_role_set_weight(struct allocator *a, const char *role, double weight)
{
	struct role *r;
	int rv;

	if (!isfinite(weight) || weight <= 0 || weight > 1e9)
		return keel_errf(a->errmsg, -EINVAL, "weight must be > 0 and finite");
	rv = role_lookup(a, role, true, &r);
	if (rv < 0)
		return rv;
	r->weight = weight;
	alloc_role_share_update(a, r);
	return 0;
}

int allocator_role_set_quota(struct allocator *a, const char *role,
			     const struct allocator_res *guarantee)
{
	struct role *r;
	bool set = guarantee && guarantee->n > 0;
	int rv;

	if (strcmp(role, "*") == 0)
		return keel_errf(a->errmsg, -EINVAL, "no quota for role '*'");
	for (uint32_t i = 0; set && i < guarantee->n; i++)
		if (guarantee->e[i].type != RES_SCALAR || guarantee->e[i].role != 0)
			return keel_errf(a->errmsg, -EINVAL, "quota: unreserved scalars only");
	rv = role_lookup(a, role, true, &r);
	if (rv < 0)
		return rv;
	if (set && !r->has_quota) {
		rv = GROW(a, a->quota_roles, a->cap_quota_roles, a->n_quota_roles + 1);
		if (rv < 0)
			return rv;
		a->quota_roles[a->n_quota_roles++] = r->id;
	} else if (!set && r->has_quota) {
		uint32_t i;

		for (i = 0; a->quota_roles[i] != r->id; i++)
			;
		memmove(&a->quota_roles[i], &a->quota_roles[i + 1],
			(a->n_quota_roles - i - 1) * sizeof(uint32_t));
		a->n_quota_roles--;
	}
	memset(r->guarantee, 0, sizeof(r->guarantee));
	memset(r->unsat, 0, sizeof(r->unsat));
	if (set)
		alloc_res_scalars_acc(guarantee, r->guarantee, +1);
	r->has_quota = set;
	a->fresh_all = true;
	a->work = true;
	return 0;
}

int allocator_role_set_limits(struct allocator *a, const char *role,
			      const struct allocator_limit *limits, size_t n)
{
	uint32_t ids[ALLOCATOR_NAMES_MAX];
	struct role *r;
	int rv;

	if (strcmp(role, "*") == 0)
		return keel_errf(a->errmsg, -EINVAL, "no quota for role '*'");
	if (n > ALLOCATOR_NAMES_MAX)
		return keel_errf(a->errmsg, -ENOSPC, "too many quota limits");
	for (size_t i = 0; i < n; i++) {
		double v = limits[i].value;
		if (limits[i].name == NULL || limits[i].name[0] == '\0' || !(v >= 0) ||
		    v > (double)(ALLOCATOR_SCALAR_MAX / 1000))
			return keel_errf(a->errmsg, -EINVAL, "quota limit %zu: bad name or value",
					 i);
	}
	rv = role_lookup(a, role, true, &r);
	for (size_t i = 0; rv == 0 && i < n; i++)
		rv = alloc_intern_id(a, &a->names, limits[i].name, strlen(limits[i].name), &ids[i]);
	if (rv < 0)
		return rv;
	r->limited = 0;
	memset(r->limit, 0, sizeof(r->limit));
	for (size_t i = 0; i < n; i++) {
		r->limited |= 1ull << ids[i];
		r->limit[ids[i]] = llround(limits[i].value * 1000);
	}
	a->fresh_all = true;
	a->work = true;
	return 0;
}

/* ---- Recovery ------------------------------------------------------------------------------- */

/* Filter length in ms for refuse_seconds (0: no filter). */
static int64_t refuse_ms(const struct allocator *a, double s)
{
	double ms;

	if (isnan(s) || s < 0)
		return a->default_refuse_ms;
	if (s == 0)
		return 0;
	ms = ceil(s * 1000);
	if (ms > (double)ALLOCATOR_REFUSE_MAX_MS)
		return ALLOCATOR_REFUSE_MAX_MS;
	return ms < 1 ? 1 : (int64_t)ms;
}

int allocator_recover(struct allocator *a, const char *agent_id, const char *framework_id,
		      const char *role, const struct allocator_res *res, double refuse_seconds,
		      int64_t now_ms)
{
	struct agent *g = agent_lookup(a, agent_id);
	struct framework *fw;
	struct client *c = NULL;
	struct allocator_res *fr = NULL, *nu;
	struct role *r;
	struct use *u;
	int64_t ms;
	int rv;

	if (!g)
		return -ENOENT;
	rv = framework_get(a, framework_id, false, &fw);
	if (rv == 0)
		rv = role_lookup(a, role, false, &r);
	if (rv < 0)
		return rv;
	c = client_find(fw, r);
	u = c ? alloc_agent_use_find(g, c->slot) : NULL;
	if (!u || !allocator_res_contains(u->res, res))
		return keel_errf(
		    a->errmsg, -EINVAL,
		    "framework '%s' does not hold those resources in role '%s' on '%s'",
		    framework_id, role, agent_id);
	if (now_ms < 0 || now_ms > (1LL << 53))
		return keel_errf(a->errmsg, -EINVAL, "time out of range");
	if (res->n == 0)
		return 0;
	ms = refuse_ms(a, refuse_seconds);
	rv = allocator_res_subtract(a, u->res, res, &nu);
	if (rv < 0)
		return rv;
	rv = allocator_res_add(a, g->free, res, &fr);
	if (rv == 0 && ms > 0 && c->subscribed)
		rv = alloc_filter_add(a, g, c, res, now_ms + ms);
	if (rv < 0) {
		allocator_res_unref(nu);
		allocator_res_unref(fr);
		return rv;
	}
	use_detach(a, g, c, u, res, nu);
	agent_set_free(a, g, fr);
	alloc_agent_mark_dirty(a, g);
	if (r->limited != 0) {
		/* Below its limit again: agents passed over for it may be offered now. */
		a->fresh_all = true;
		a->work = true;
	}
	client_gc_fw(a, c);
	return 0;
}

/* ---- Inspection ----------------------------------------------------------------------------- */

const struct allocator_res *allocator_agent_free(const struct allocator *a, const char *agent_id)
{
	const struct agent *g = keel_hmap_get(&a->agents_map, agent_id);

	return g ? g->free : NULL;
}

const struct allocator_res *allocator_allocation(const struct allocator *a, const char *agent_id,
						 const char *framework_id, const char *role)
{
	const struct agent *g = keel_hmap_get(&a->agents_map, agent_id);
	const struct framework *fw = keel_hmap_get(&a->fw_map, framework_id);
	const struct role *r = keel_hmap_get(&a->roles_map, role);
	const struct client *c;
	const struct use *u;

	if (!g || !fw || !r || !(c = client_find(fw, r)))
		return NULL;
	u = alloc_agent_use_find(g, c->slot);
	return u ? u->res : NULL;
}

double allocator_role_share(struct allocator *a, const char *role)
{
	const struct role *r = keel_hmap_get(&a->roles_map, role);

	if (a->shares_stale)
		alloc_shares_refresh_all(a);
	return r ? r->share : 0;
}

double allocator_framework_share(struct allocator *a, const char *framework_id, const char *role)
{
	const struct framework *fw = keel_hmap_get(&a->fw_map, framework_id);
	const struct role *r = keel_hmap_get(&a->roles_map, role);
	const struct client *c = fw && r ? client_find(fw, r) : NULL;

	if (a->shares_stale)
		alloc_shares_refresh_all(a);
	return c ? c->share : 0;
}

void allocator_stats(const struct allocator *a, struct allocator_stats *out)
{
	*out = a->st;
	out->agents = a->n_agents;
	out->frameworks = a->n_frameworks;
	out->roles = a->n_roles;
}
