/* One allocation cycle: quota stage, then fair share (DRF by weighted role share, then client). */
#include <errno.h>
#include <string.h>

#include "master/allocator_int.h"
#include "runtime/alloc.h"

/*
 * A cycle is driven by clients, not agents: the role with the lowest weighted share, and in
 * it the client with the lowest share, takes the next agent it can use; its share grows and
 * it goes back into the heaps. A client that finds nothing more leaves the cycle. Each client
 * scans agent slots with a cursor that only moves forward within a stage: nothing that a
 * client could not use at one point of a stage becomes usable later in it (free resources only
 * shrink, headroom only tightens, filters and time stand still). Which agents a client scans:
 *   - every agent in the pool, if it is fresh (new, revived, unsuppressed, capabilities
 *     changed) or headroom or quota changed (fresh_all), or in the quota stage;
 *   - otherwise only agents marked dirty since the last cycle: at the end of the previous
 *     cycle every other pooled agent was of no use to it, and nothing changed for them since.
 * In the scans, bitmaps remove agents that are not in the pool, that the client filters
 * (unless the agent is "uncovered"), or that have GPUs for a client without GPU_RESOURCES.
 */

enum { STAGE_QUOTA = 1, STAGE_FAIR = 2 };

#define SLOT_NONE UINT32_MAX

/* ---- Shares --------------------------------------------------------------------------------- */

static double dominant(const struct allocator *a, const int64_t *alloc)
{
	double s = 0;

	for (uint32_t k = 0; k < a->names.n; k++) {
		if (a->total[k] > 0 && alloc[k] > 0) {
			double v = (double)alloc[k] / (double)a->total[k];

			if (v > s)
				s = v;
		}
	}
	return s;
}

void alloc_client_share_update(struct allocator *a, struct client *c)
{
	c->share = dominant(a, c->alloc);
	c->hn.key = c->share;
}

void alloc_role_share_update(struct allocator *a, struct role *r)
{
	r->share = dominant(a, r->alloc) / r->weight;
	r->hn.key = r->share;
}

void alloc_shares_refresh_all(struct allocator *a)
{
	for (uint32_t i = 0; i < a->client_slots; i++)
		if (a->clients[i])
			alloc_client_share_update(a, a->clients[i]);
	for (uint32_t i = 0; i < a->n_roles; i++)
		alloc_role_share_update(a, a->roles[i]);
	a->shares_stale = false;
}

/* ---- Quota ---------------------------------------------------------------------------------- */

static void role_unsat_update(const struct allocator *a, struct role *r)
{
	for (uint32_t k = 0; k < a->names.n; k++) {
		int64_t owed = r->guarantee[k] - r->alloc[k] - r->resv_free[k];

		r->unsat[k] = r->has_quota && owed > 0 ? owed : 0;
	}
}

static bool role_owed(const struct allocator *a, const struct role *r)
{
	for (uint32_t k = 0; r->has_quota && k < a->names.n; k++)
		if (r->unsat[k] > 0)
			return true;
	return false;
}

/* Recomputes every quota role's unmet guarantee and their sum (the headroom to keep). */
static void quota_refresh(struct allocator *a)
{
	memset(a->required, 0, sizeof(a->required));
	a->quota_owed = false;
	for (uint32_t i = 0; i < a->n_quota_roles; i++) {
		struct role *r = a->roles[a->quota_roles[i]];

		role_unsat_update(a, r);
		for (uint32_t k = 0; k < a->names.n; k++) {
			a->required[k] += r->unsat[k];
			a->quota_owed |= r->unsat[k] > 0;
		}
	}
}

/* The most of unreserved scalar `k` an offer to role r may hold now. */
static int64_t limit(const struct allocator *a, const struct role *r, uint32_t k, int stage)
{
	int64_t surplus;

	if (stage == STAGE_QUOTA && r->guarantee[k] > 0)
		return r->unsat[k];
	if (a->required[k] == 0)
		return INT64_MAX;
	surplus = a->unres_free[k] - (a->required[k] - r->unsat[k]);
	return surplus > 0 ? surplus : 0;
}

/* ---- Offers for one client on one agent ------------------------------------------------------ */

/*
 * What client c would be offered on g in this stage: a new reference in *x, or NULL when
 * nothing worth offering (not allocatable, or nothing that helps a quota in the quota stage).
 */
static int offer_for(struct allocator *a, const struct client *c, const struct agent *g, int stage,
		     struct allocator_res **x)
{
	const struct allocator_res *fr = g->free;
	const struct role *r = c->role;
	struct res_builder *b = &a->b2;
	bool helps = false, cut = false;
	int64_t taken[ALLOCATOR_NAMES_MAX]; /* per limited name: what this offer holds so far */
	int rv = 0;

	*x = NULL;
	if (fr->reserved == 0 && !a->quota_owed && r->limited == 0) {
		/* Everything is unreserved and no quota is owed: the whole of it (pooled, so
		 * allocatable). */
		*x = allocator_res_ref(fr);
		return 0;
	}
	alloc_res_builder_reset(b);
	if (r->limited != 0)
		memset(taken, 0, sizeof(taken));
	for (uint32_t i = 0; rv == 0 && i < fr->n; i++) {
		struct res_entry e = fr->e[i];

		if (e.role != 0 && e.role != r->id)
			continue;
		if (e.type == RES_SCALAR && (r->limited >> e.name & 1) != 0) {
			int64_t room = r->limit[e.name] - r->alloc[e.name] - taken[e.name];

			if (room < e.scalar)
				e.scalar = room > 0 ? room : 0;
			if (e.scalar == 0)
				continue;
			taken[e.name] += e.scalar;
		}
		if (e.role == 0 && e.type == RES_SCALAR) {
			int64_t lim = limit(a, r, e.name, stage);

			if (lim < e.scalar) {
				if (!(stage == STAGE_QUOTA && r->guarantee[e.name] > 0))
					cut = true;
				e.scalar = lim;
			}
			if (e.scalar == 0)
				continue;
			if (stage == STAGE_QUOTA && r->guarantee[e.name] > 0)
				helps = true;
			rv = alloc_res_builder_push(a, b, &e);
			continue;
		}
		rv = alloc_res_builder_push(a, b, &e);
		if (rv == 0 && e.type != RES_SCALAR) {
			rv = alloc_res_builder_words(a, b, res_payload(fr) + e.off,
						     e.type == RES_RANGES ? 2 * e.cnt : e.cnt);
			b->e[b->n - 1].cnt = e.cnt;
		}
	}
	if (cut)
		a->headroom_limited = true;
	if (rv < 0 || (stage == STAGE_QUOTA && !helps))
		return rv;
	rv = alloc_res_build(a, b, x);
	if (rv < 0)
		return rv;
	if (!alloc_res_allocatable(a, *x)) {
		allocator_res_unref(*x);
		*x = NULL;
	}
	return 0;
}

/* ---- Scanning ------------------------------------------------------------------------------- */

/* The first pool word >= w that is not zero, or the number of words. */
static uint32_t pool_next_word(const struct allocator *a, uint32_t w)
{
	uint32_t words = a->agent_cap / 64, sw = w / 64, sws = (words + 63) / 64;
	uint64_t m = ~0ULL << (w & 63);

	while (sw < sws) {
		uint64_t bits = a->pool_sum[sw] & m;

		if (bits)
			return sw * 64 + (uint32_t)__builtin_ctzll(bits);
		sw++;
		m = ~0ULL;
	}
	return words;
}

/* Removes the agents c must not look at from bits of word w. */
static uint64_t client_mask(const struct allocator *a, const struct client *c, uint32_t w,
			    uint64_t bits)
{
	if (c->fbits)
		bits &= ~c->fbits[w] | a->uncovered[w];
	if (!(c->fw->caps & ALLOCATOR_CAP_GPU_RESOURCES))
		bits &= ~a->gpu[w];
	return bits;
}

/* The next agent slot c should examine, advancing its cursor; SLOT_NONE when done. */
static uint32_t scan_next(struct allocator *a, struct client *c)
{
	uint32_t words = a->agent_cap / 64;

	if (c->scan_full) {
		uint32_t w = c->cursor / 64;
		uint64_t m = ~0ULL << (c->cursor & 63);

		while (w < words) {
			uint64_t bits = a->pool[w] & m;

			a->st.last_words++;
			bits = bits ? client_mask(a, c, w, bits) : 0;
			if (bits) {
				uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(bits);

				c->cursor = slot + 1;
				return slot;
			}
			w = pool_next_word(a, w + 1);
			m = ~0ULL;
		}
		c->cursor = a->agent_cap;
		return SLOT_NONE;
	}
	for (uint32_t i = c->cursor / 64; i < a->n_dwords; i++) {
		uint32_t w = a->dwords[i];
		uint64_t m = i == c->cursor / 64 ? ~0ULL << (c->cursor & 63) : ~0ULL;
		uint64_t bits = client_mask(a, c, w, a->pool[w] & a->dirty[w] & m);

		a->st.last_words++;
		if (bits) {
			uint32_t b = (uint32_t)__builtin_ctzll(bits);

			c->cursor = i * 64 + b + 1;
			return w * 64 + b;
		}
	}
	c->cursor = a->n_dwords * 64;
	return SLOT_NONE;
}

/* The next agent c takes in this stage, with what it gets (*x, a new reference). */
static int next_agent(struct allocator *a, struct client *c, int stage, struct agent **out,
		      struct allocator_res **x)
{
	for (;;) {
		uint32_t slot = scan_next(a, c);
		struct agent *g;
		int rv;

		*out = NULL;
		if (slot == SLOT_NONE)
			return 0;
		a->st.last_checks++;
		g = a->agents[slot];
		rv = offer_for(a, c, g, stage, x);
		if (rv < 0)
			return rv;
		if (!*x)
			continue;
		if (c->fbits && bit_get(c->fbits, slot) && alloc_filter_refuses(a, g, c, *x)) {
			allocator_res_unref(*x);
			continue;
		}
		*out = g;
		return 0;
	}
}

/* ---- Granting ------------------------------------------------------------------------------- */

static int out_room(struct allocator *a)
{
	uint32_t cap = a->cap_out ? a->cap_out * 2 : 64;
	void *p;

	if (a->n_out < a->cap_out)
		return 0;
	p = keel_realloc(a->out, (size_t)cap * sizeof(*a->out));
	if (!p)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	a->out = p;
	p = keel_realloc(a->out_meta, (size_t)cap * sizeof(*a->out_meta));
	if (!p)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	a->out_meta = p;
	a->cap_out = cap;
	return 0;
}

/* Moves x (within g's free) to client c and records the offer. Consumes nothing on failure. */
static int grant(struct allocator *a, struct client *c, struct agent *g, struct allocator_res *x)
{
	struct use *u = alloc_agent_use_find(g, c->slot);
	struct allocator_res *fr = NULL, *nu = NULL, *merged = NULL;
	uint32_t prev = UINT32_MAX;
	int rv;

	if (g->stamp == a->cycle)
		for (prev = g->first_offer;
		     prev != UINT32_MAX && a->out_meta[prev].client != c->slot;
		     prev = a->out_meta[prev].next)
			;
	rv = allocator_res_subtract(a, g->free, x, &fr);
	if (rv == 0 && u)
		rv = allocator_res_add(a, u->res, x, &nu);
	if (rv == 0 && !u)
		rv = GROW(a, g->uses, g->cap_uses, g->n_uses + 1);
	if (rv == 0 && !u)
		rv = alloc_client_hbits_ensure(a, c);
	if (rv == 0)
		rv = prev != UINT32_MAX ? allocator_res_add(a, a->out_meta[prev].res, x, &merged)
					: out_room(a);
	if (rv < 0) {
		allocator_res_unref(fr);
		allocator_res_unref(nu);
		return rv;
	}
	/* Commit: nothing below fails. */
	alloc_agent_free_account(a, g, g->free, -1);
	alloc_agent_free_account(a, g, fr, +1);
	allocator_res_unref(g->free);
	g->free = fr;
	alloc_agent_pool_update(a, g);
	if (g->n_filters > 0)
		alloc_filter_cover_update(a, g);
	if (u) {
		allocator_res_unref(u->res);
		u->res = nu;
	} else {
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
	if (c->role->has_quota)
		quota_refresh(a);
	if (prev != UINT32_MAX) {
		allocator_res_unref(a->out_meta[prev].res);
		a->out_meta[prev].res = merged;
		a->out[prev].resources = merged;
		return 0;
	}
	a->out_meta[a->n_out] = (struct out_meta){
	    .client = c->slot,
	    .next = g->stamp == a->cycle ? g->first_offer : UINT32_MAX,
	    .res = allocator_res_ref(x),
	};
	a->out[a->n_out] = (struct allocator_offer){
	    .framework_id = c->fw->id,
	    .role = c->role->name,
	    .agent_id = g->id,
	    .resources = x,
	};
	g->stamp = a->cycle;
	g->first_offer = a->n_out++;
	a->st.offers++;
	a->st.last_offers++;
	return 0;
}

/* ---- Stages --------------------------------------------------------------------------------- */

static bool client_wants(const struct client *c)
{
	return c->fw->added && c->fw->active && c->subscribed && !c->suppressed;
}

/* Empties every heap of the cycle (after an error). */
static void stage_clear(struct allocator *a)
{
	for (uint32_t i = 0; i < a->n_roles; i++) {
		struct heap *h = &a->roles[i]->clients;

		for (uint32_t j = 0; j < h->n; j++)
			h->v[j]->pos = HEAP_NONE;
		h->n = 0;
	}
	for (uint32_t j = 0; j < a->rheap.n; j++)
		a->rheap.v[j]->pos = HEAP_NONE;
	a->rheap.n = 0;
}

static int stage_setup(struct allocator *a, int stage)
{
	for (uint32_t i = 0; i < a->n_roles; i++) {
		struct role *r = a->roles[i];

		if (stage == STAGE_QUOTA && !role_owed(a, r))
			continue;
		for (uint32_t j = 0; j < r->n_members; j++) {
			struct client *c = r->members[j];
			bool full = stage == STAGE_QUOTA || c->fresh || a->fresh_all;

			if (!client_wants(c) || (!full && a->n_dwords == 0))
				continue;
			c->scan_full = full;
			c->cursor = 0;
			if (alloc_heap_push(&r->clients, &c->hn) < 0)
				return keel_errf(a->errmsg, -ENOMEM, "out of memory");
			a->st.last_clients++;
		}
		if (r->clients.n && alloc_heap_push(&a->rheap, &r->hn) < 0)
			return keel_errf(a->errmsg, -ENOMEM, "out of memory");
	}
	return 0;
}

static int stage_run(struct allocator *a, int stage)
{
	struct hnode *rn;
	int rv = stage_setup(a, stage);

	while (rv == 0 && (rn = alloc_heap_top(&a->rheap))) {
		struct role *r = keel_container_of(rn, struct role, hn);
		struct client *c =
		    keel_container_of(alloc_heap_top(&r->clients), struct client, hn);
		struct agent *g;
		struct allocator_res *x;

		rv = next_agent(a, c, stage, &g, &x);
		if (rv < 0)
			break;
		if (!g) {
			if (stage == STAGE_FAIR)
				c->fresh = false;
			alloc_heap_remove(&r->clients, &c->hn);
			if (r->clients.n == 0)
				alloc_heap_remove(&a->rheap, rn);
			continue;
		}
		rv = grant(a, c, g, x);
		allocator_res_unref(x);
		if (rv < 0)
			break;
		alloc_heap_update(&r->clients, &c->hn);
		if (stage == STAGE_QUOTA && !role_owed(a, r)) {
			while (r->clients.n)
				alloc_heap_remove(&r->clients, alloc_heap_top(&r->clients));
			alloc_heap_remove(&a->rheap, rn);
		} else {
			alloc_heap_update(&a->rheap, rn);
		}
	}
	if (rv < 0)
		stage_clear(a);
	return rv;
}

int allocator_allocate(struct allocator *a, int64_t now_ms, const struct allocator_offer **offers,
		       size_t *n)
{
	int rv = 0;

	for (uint32_t i = 0; i < a->n_out; i++)
		allocator_res_unref(a->out_meta[i].res);
	a->n_out = 0;
	*offers = a->out;
	*n = 0;
	if (now_ms < 0 || now_ms > (1LL << 53))
		return keel_errf(a->errmsg, -EINVAL, "time out of range");
	a->cycle++;
	a->st.cycles++;
	a->st.last_offers = 0;
	a->st.last_clients = 0;
	a->st.last_words = 0;
	a->st.last_checks = 0;
	a->st.last_skipped = false;
	a->st.last_expired = alloc_filter_expire(a, now_ms);
	if (a->shares_stale)
		alloc_shares_refresh_all(a);
	quota_refresh(a);
	if (!a->work && !a->quota_owed) {
		a->st.last_skipped = true;
		return 0;
	}
	a->headroom_limited = false;
	if (a->quota_owed)
		rv = stage_run(a, STAGE_QUOTA);
	if (rv == 0 && a->work)
		rv = stage_run(a, STAGE_FAIR);
	for (uint32_t i = 0; i < a->n_dwords; i++)
		a->dirty[a->dwords[i]] = 0;
	a->n_dwords = 0;
	if (rv < 0) {
		/* Forget nothing: the next cycle looks at everything. */
		a->work = true;
		a->fresh_all = true;
	} else {
		a->work = a->headroom_limited;
		a->fresh_all = a->headroom_limited;
	}
	*offers = a->out;
	*n = a->n_out;
	return rv;
}
