/* Offer filters: per-agent records, per-client bitmaps, covers, and expiry by a heap of agents. */
#include <errno.h>
#include <string.h>

#include "master/allocator_int.h"
#include "runtime/alloc.h"

/*
 * Each record says "client c refused fres[k] on this agent until t". Three indexes keep
 * the allocation cycle from looking at records one by one:
 *   - c->fbits has the agent's bit while c has any record there;
 *   - the agent's cover is the intersection of every refused vector there, and all_cover
 *     says its free resources fit in the cover: then every record refuses every possible
 *     offer of the agent, and a set bit alone means "refused";
 *   - agents with records sit in a heap by their earliest expiry.
 * Only on an agent whose free resources outgrew its cover (the `uncovered` bitmap) does the
 * cycle check a client's records one by one.
 */

void alloc_filter_cover_update(struct allocator *a, struct agent *g)
{
	g->all_cover = g->n_filters > 0 && g->cover && allocator_res_contains(g->cover, g->free);
	if (g->n_filters > 0 && !g->all_cover)
		bit_set(a->uncovered, g->slot);
	else
		bit_clear(a->uncovered, g->slot);
}

bool alloc_filter_refuses(const struct allocator *a, const struct agent *g, const struct client *c,
			  const struct allocator_res *x)
{
	(void)a;
	for (uint32_t i = 0; i < g->n_filters; i++) {
		const struct frec *f = agent_frec(g, i);

		if (f->client == c->slot && allocator_res_contains(g->fres[f->fres].res, x))
			return true;
	}
	return false;
}

int alloc_filter_add(struct allocator *a, struct agent *g, struct client *c,
		     const struct allocator_res *r, int64_t expires)
{
	uint32_t k, spare = UINT32_MAX;
	bool new_fres = true, new_bits = false;
	struct frec *chunk = NULL;
	struct allocator_res *cover = NULL;
	int rv = 0;

	for (k = 0; k < g->n_fres; k++) {
		if (!g->fres[k].res) {
			if (spare == UINT32_MAX)
				spare = k;
		} else if (allocator_res_equal(g->fres[k].res, r)) {
			new_fres = false;
			break;
		}
	}
	if (new_fres) {
		k = spare != UINT32_MAX ? spare : g->n_fres;
		rv = GROW(a, g->fres, g->cap_fres, k + 1);
	}
	/*
	 * The next chunk is allocated a little before it is needed, at a fill level that depends
	 * on the agent's slot: when every agent gains a filter in the same cycle (everybody
	 * declining everything), the agents still take new chunks (fresh memory, page faults)
	 * over half a chunk's worth of cycles instead of all in one.
	 */
	if (rv == 0 && g->n_filters + 1 + g->slot % (FREC_CHUNK / 2) >= g->n_fchunks * FREC_CHUNK) {
		rv = GROW(a, g->fchunks, g->cap_fchunks, g->n_fchunks + 1);
		if (rv == 0) {
			chunk = keel_malloc(FREC_CHUNK * sizeof(*chunk));
			if (!chunk)
				rv = keel_errf(a->errmsg, -ENOMEM, "out of memory");
		}
	}
	if (rv == 0 && g->xn.pos == HEAP_NONE && alloc_heap_reserve(&a->xheap, a->xheap.n + 1) < 0)
		rv = keel_errf(a->errmsg, -ENOMEM, "out of memory");
	if (rv == 0 && !c->fbits) {
		c->fbits = keel_calloc(a->agent_cap / 64, sizeof(uint64_t));
		if (!c->fbits)
			rv = keel_errf(a->errmsg, -ENOMEM, "out of memory");
		new_bits = true;
	}
	if (rv == 0) {
		if (g->n_filters == 0)
			cover = allocator_res_ref(r);
		else if (g->cover)
			rv = alloc_res_intersect(a, g->cover, r, &cover);
	}
	if (rv < 0) {
		if (new_bits) {
			keel_free(c->fbits);
			c->fbits = NULL;
		}
		keel_free(chunk);
		return rv;
	}
	if (chunk)
		g->fchunks[g->n_fchunks++] = chunk;
	if (new_fres) {
		g->fres[k].res = allocator_res_ref(r);
		g->fres[k].refs = 1;
		if (k == g->n_fres)
			g->n_fres++;
	} else {
		g->fres[k].refs++;
	}
	*agent_frec(g, g->n_filters++) =
	    (struct frec){.client = c->slot, .fres = k, .expires = expires};
	bit_set(c->fbits, g->slot);
	c->n_filters++;
	a->st.filters++;
	allocator_res_unref(g->cover);
	g->cover = cover;
	if (g->xn.pos == HEAP_NONE || expires < g->min_expiry) {
		g->min_expiry = expires;
		g->xn.key = (double)expires;
		if (g->xn.pos == HEAP_NONE)
			alloc_heap_push(&a->xheap, &g->xn);
		else
			alloc_heap_update(&a->xheap, &g->xn);
	}
	alloc_filter_cover_update(a, g);
	return 0;
}

/* Recomputes g's cover from its refused vectors (NULL, i.e. unknown, if out of memory). */
static void cover_recompute(struct allocator *a, struct agent *g)
{
	struct allocator_res *cur = NULL;

	for (uint32_t k = 0; k < g->n_fres; k++) {
		struct allocator_res *n;

		if (!g->fres[k].res)
			continue;
		if (!cur) {
			cur = allocator_res_ref(g->fres[k].res);
			continue;
		}
		if (alloc_res_intersect(a, cur, g->fres[k].res, &n) < 0) {
			allocator_res_unref(cur);
			cur = NULL;
			break;
		}
		allocator_res_unref(cur);
		cur = n;
	}
	allocator_res_unref(g->cover);
	g->cover = cur;
}

enum { RM_EXPIRED, RM_CLIENT, RM_ALL };

/* Removes g's records that match; keeps every index consistent. Returns how many went. */
static uint32_t records_remove(struct allocator *a, struct agent *g, int mode, uint32_t client,
			       int64_t now)
{
	uint32_t removed = 0;
	int64_t min = INT64_MAX;

	for (uint32_t i = g->n_filters; i-- > 0;) {
		struct frec *f = agent_frec(g, i);
		struct client *c;
		struct fres *fr;

		if (mode == RM_CLIENT ? f->client != client
				      : mode == RM_EXPIRED && f->expires > now)
			continue;
		c = a->clients[f->client];
		fr = &g->fres[f->fres];
		if (--fr->refs == 0) {
			allocator_res_unref(fr->res);
			fr->res = NULL;
		}
		bit_clear(c->fbits, g->slot);
		c->n_filters--;
		a->st.filters--;
		if (c->n_filters == 0) {
			keel_free(c->fbits);
			c->fbits = NULL;
		}
		*f = *agent_frec(g, --g->n_filters);
		removed++;
	}
	if (removed == 0)
		return 0;
	for (uint32_t i = 0; i < g->n_filters; i++) {
		const struct frec *f = agent_frec(g, i);

		bit_set(a->clients[f->client]->fbits, g->slot);
		if (f->expires < min)
			min = f->expires;
	}
	/* Keep one spare chunk at most (none when no record is left). */
	while (g->n_fchunks > 0 &&
	       (g->n_filters == 0 || (g->n_fchunks - 1) * FREC_CHUNK >= g->n_filters + FREC_CHUNK))
		keel_free(g->fchunks[--g->n_fchunks]);
	while (g->n_fres > 0 && !g->fres[g->n_fres - 1].res)
		g->n_fres--;
	cover_recompute(a, g);
	if (g->n_filters == 0) {
		if (g->xn.pos != HEAP_NONE)
			alloc_heap_remove(&a->xheap, &g->xn);
	} else if (min != g->min_expiry) {
		g->min_expiry = min;
		g->xn.key = (double)min;
		alloc_heap_update(&a->xheap, &g->xn);
	}
	alloc_filter_cover_update(a, g);
	return removed;
}

uint32_t alloc_filter_expire(struct allocator *a, int64_t now)
{
	uint32_t n = 0;
	struct hnode *top;

	while ((top = alloc_heap_top(&a->xheap))) {
		struct agent *g = keel_container_of(top, struct agent, xn);

		if (g->min_expiry > now)
			break;
		n += records_remove(a, g, RM_EXPIRED, 0, now);
		alloc_agent_mark_dirty(a, g);
	}
	return n;
}

void alloc_filter_clear_client(struct allocator *a, struct client *c)
{
	uint32_t words = a->agent_cap / 64;

	for (uint32_t w = 0; c->fbits && w < words; w++) {
		uint64_t bits = c->fbits[w];

		while (bits) {
			uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(bits);

			bits &= bits - 1;
			records_remove(a, a->agents[slot], RM_CLIENT, c->slot, 0);
			if (!c->fbits)
				return;
		}
	}
}

void alloc_filter_clear_agent(struct allocator *a, struct agent *g)
{
	records_remove(a, g, RM_ALL, 0, 0);
}
