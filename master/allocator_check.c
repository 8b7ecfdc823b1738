/* allocator_check: every internal invariant of the allocator core, recomputed from scratch. */
#include <errno.h>
#include <string.h>

#include "master/allocator_int.h"
#include "runtime/alloc.h"

#define BAD(...) keel_errf(a->errmsg, -EUCLEAN, __VA_ARGS__)

/* Sums for one pass over the agents. */
struct sums {
	int64_t total[ALLOCATOR_NAMES_MAX]; /* every agent's total */
	int64_t unres[ALLOCATOR_NAMES_MAX]; /* unreserved free on active agents */
	int64_t *resv;			    /* per role: reserved free, n_roles rows */
	int64_t *calloc_;		    /* per client slot: held scalars */
	uint64_t *crecs;		    /* per client slot: filter records */
	uint32_t *cuses;		    /* per client slot: uses */
	uint64_t filters;		    /* every record */
	uint32_t agents;		    /* agents seen */
	uint32_t in_xheap;		    /* agents with records */
};

static int check_vec(struct allocator *a, const struct allocator_res *r, const char *what,
		     const char *agent)
{
	int rv = alloc_res_validate(a, r);

	return rv < 0 ? keel_errwrap(a->errmsg, rv, "agent %s: %s", agent, what) : 0;
}

static int check_filters(struct allocator *a, const struct agent *g, struct sums *s)
{
	int64_t min = INT64_MAX;
	uint32_t *refs;
	struct allocator_res *cover = NULL;
	int rv = 0;

	if (g->n_fres > g->cap_fres || g->n_filters > g->n_fchunks * FREC_CHUNK ||
	    g->n_fchunks > g->cap_fchunks)
		return BAD("agent %s: filter arrays overrun", g->id);
	refs = keel_calloc(g->n_fres + 1, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (uint32_t i = 0; rv == 0 && i < g->n_filters; i++) {
		const struct frec *f = agent_frec(g, i);
		const struct client *c = f->client < a->client_slots ? a->clients[f->client] : NULL;

		if (!c || !c->subscribed || !c->fbits || !bit_get(c->fbits, g->slot))
			rv = BAD("agent %s: filter of a bad client", g->id);
		else if (f->fres >= g->n_fres || !g->fres[f->fres].res)
			rv = BAD("agent %s: filter without resources", g->id);
		else {
			refs[f->fres]++;
			s->crecs[f->client]++;
			if (f->expires < min)
				min = f->expires;
		}
	}
	for (uint32_t k = 0; rv == 0 && k < g->n_fres; k++) {
		if (refs[k] != (g->fres[k].res ? g->fres[k].refs : 0))
			rv = BAD("agent %s: refused vector %u has %u refs, counted %u", g->id, k,
				 g->fres[k].refs, refs[k]);
		else if (g->fres[k].res)
			rv = check_vec(a, g->fres[k].res, "refused", g->id);
	}
	keel_free(refs);
	if (rv < 0)
		return rv;
	s->filters += g->n_filters;
	if (g->n_filters == 0) {
		if (g->cover || g->xn.pos != HEAP_NONE || g->n_fres != 0)
			return BAD("agent %s: filter state without filters", g->id);
		if (bit_get(a->uncovered, g->slot))
			return BAD("agent %s: uncovered without filters", g->id);
		return 0;
	}
	s->in_xheap++;
	if (g->xn.pos == HEAP_NONE || g->xn.pos >= a->xheap.n || a->xheap.v[g->xn.pos] != &g->xn)
		return BAD("agent %s: not in the expiry heap", g->id);
	if (g->min_expiry != min || g->xn.key != (double)min)
		return BAD("agent %s: min expiry %lld, records say %lld", g->id,
			   (long long)g->min_expiry, (long long)min);
	if (g->cover) {
		for (uint32_t k = 0; k < g->n_fres; k++) {
			struct allocator_res *n;

			if (!g->fres[k].res)
				continue;
			if (!cover) {
				cover = allocator_res_ref(g->fres[k].res);
				continue;
			}
			rv = alloc_res_intersect(a, cover, g->fres[k].res, &n);
			allocator_res_unref(cover);
			cover = n;
			if (rv < 0)
				return rv;
		}
		rv = allocator_res_equal(cover, g->cover) ? 0 : BAD("agent %s: stale cover", g->id);
		allocator_res_unref(cover);
		if (rv < 0)
			return rv;
	}
	if (g->all_cover != (g->cover && allocator_res_contains(g->cover, g->free)))
		return BAD("agent %s: all_cover out of date", g->id);
	if (bit_get(a->uncovered, g->slot) == g->all_cover)
		return BAD("agent %s: uncovered bit out of date", g->id);
	return 0;
}

static int check_agent(struct allocator *a, const struct agent *g, struct sums *s)
{
	struct allocator_res *sum = allocator_res_ref(g->free);
	int rv;

	if (keel_hmap_get(&a->agents_map, g->id) != g)
		rv = BAD("agent %s: not in the map", g->id);
	else
		rv = check_vec(a, g->total, "total", g->id);
	if (rv == 0)
		rv = check_vec(a, g->free, "free", g->id);
	if (rv == 0 && g->cover)
		rv = check_vec(a, g->cover, "cover", g->id);
	for (uint32_t i = 0; rv == 0 && i < g->n_uses; i++) {
		const struct use *u = &g->uses[i];
		const struct client *c = u->client < a->client_slots ? a->clients[u->client] : NULL;
		struct allocator_res *n;

		if (!c || !c->hbits || !bit_get(c->hbits, g->slot))
			rv = BAD("agent %s: use of a bad client", g->id);
		else if (u->res->n == 0)
			rv = BAD("agent %s: empty use", g->id);
		else if (alloc_agent_use_find(g, u->client) != u)
			rv = BAD("agent %s: two uses of one client", g->id);
		if (rv == 0)
			rv = check_vec(a, u->res, "use", g->id);
		if (rv == 0)
			rv = allocator_res_add(a, sum, u->res, &n);
		if (rv == 0) {
			allocator_res_unref(sum);
			sum = n;
			alloc_res_scalars_acc(
			    u->res, s->calloc_ + (size_t)u->client * ALLOCATOR_NAMES_MAX, +1);
			s->cuses[u->client]++;
		}
	}
	if (rv == 0 && !allocator_res_equal(sum, g->total))
		rv = BAD("agent %s: free + allocated != total", g->id);
	allocator_res_unref(sum);
	if (rv < 0)
		return rv;
	if (bit_get(a->pool, g->slot) != (g->active && alloc_res_allocatable(a, g->free)))
		return BAD("agent %s: pool bit out of date", g->id);
	if (g->gpu != alloc_res_has_gpus(a, g->total) || bit_get(a->gpu, g->slot) != g->gpu)
		return BAD("agent %s: gpu flag out of date", g->id);
	alloc_res_scalars_acc(g->total, s->total, +1);
	for (uint32_t i = 0; i < g->free->n; i++) {
		const struct res_entry *e = &g->free->e[i];

		if (e->type != RES_SCALAR)
			continue;
		if (e->role)
			s->resv[(size_t)e->role * ALLOCATOR_NAMES_MAX + e->name] += e->scalar;
		else if (g->active)
			s->unres[e->name] += e->scalar;
	}
	return check_filters(a, g, s);
}

static int check_client(struct allocator *a, const struct client *c, const struct sums *s)
{
	const int64_t *sum = s->calloc_ + (size_t)c->slot * ALLOCATOR_NAMES_MAX;
	const struct framework *fw = c->fw;
	uint32_t j;

	if (keel_hmap_get(&a->fw_map, fw->id) != fw)
		return BAD("client %u: framework not in the map", c->slot);
	for (j = 0; j < fw->n_clients && fw->clients[j] != c; j++)
		;
	if (j == fw->n_clients)
		return BAD("client %u: not among its framework's clients", c->slot);
	if (c->member_pos >= c->role->n_members || c->role->members[c->member_pos] != c)
		return BAD("client %u: not among its role's members", c->slot);
	if (memcmp(sum, c->alloc, sizeof(c->alloc)) != 0)
		return BAD("client %u (%s in %s): allocation sums differ", c->slot, fw->id,
			   c->role->name);
	if (s->crecs[c->slot] != c->n_filters || (c->n_filters == 0) != (c->fbits == NULL))
		return BAD("client %u: %llu filters, counted %llu", c->slot,
			   (unsigned long long)c->n_filters, (unsigned long long)s->crecs[c->slot]);
	if (s->cuses[c->slot] != c->n_agents)
		return BAD("client %u: holds on %u agents, counted %u", c->slot, c->n_agents,
			   s->cuses[c->slot]);
	if (c->n_agents > 0 && !c->hbits)
		return BAD("client %u: holds without a bitmap", c->slot);
	for (uint32_t w = 0; c->hbits && w < a->agent_cap / 64; w++) {
		uint64_t bits = c->hbits[w];

		while (bits) {
			uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(bits);
			const struct agent *g = slot < a->agent_slots ? a->agents[slot] : NULL;

			bits &= bits - 1;
			if (!g || !alloc_agent_use_find(g, c->slot))
				return BAD("client %u: holding bit without a use", c->slot);
		}
	}
	if (!c->subscribed && c->n_agents == 0)
		return BAD("client %u: should have been freed", c->slot);
	if (!c->subscribed && c->suppressed)
		return BAD("client %u: suppressed but not subscribed", c->slot);
	if (c->hn.pos != HEAP_NONE)
		return BAD("client %u: left in a heap", c->slot);
	for (uint32_t w = 0; c->fbits && w < a->agent_cap / 64; w++) {
		uint64_t bits = c->fbits[w];

		while (bits) {
			uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(bits);
			const struct agent *g = slot < a->agent_slots ? a->agents[slot] : NULL;
			uint32_t i;

			bits &= bits - 1;
			for (i = 0; g && i < g->n_filters && agent_frec(g, i)->client != c->slot;
			     i++)
				;
			if (!g || i == g->n_filters)
				return BAD("client %u: filter bit without a filter", c->slot);
		}
	}
	if (!a->shares_stale) {
		double sh = c->share;

		alloc_client_share_update(a, (struct client *)(uintptr_t)c);
		if (sh != c->share)
			return BAD("client %u: stale share", c->slot);
	}
	return 0;
}

static int check_rest(struct allocator *a, struct sums *s)
{
	size_t pos = 0;
	const char *key;
	void *val;
	uint32_t nfw = 0;

	for (uint32_t i = 0; i < a->n_roles; i++) {
		struct role *r = a->roles[i];
		int64_t sum[ALLOCATOR_NAMES_MAX] = {0};
		uint32_t q;

		if (r->id != i || keel_hmap_get(&a->roles_map, r->name) != r)
			return BAD("role %u: bad id or map entry", i);
		for (uint32_t j = 0; j < r->n_members; j++) {
			if (r->members[j]->role != r || r->members[j]->member_pos != j)
				return BAD("role %s: bad member %u", r->name, j);
			for (uint32_t k = 0; k < ALLOCATOR_NAMES_MAX; k++)
				sum[k] += r->members[j]->alloc[k];
		}
		if (memcmp(sum, r->alloc, sizeof(sum)) != 0)
			return BAD("role %s: allocation != sum of its clients", r->name);
		if (memcmp(s->resv + (size_t)i * ALLOCATOR_NAMES_MAX, r->resv_free,
			   sizeof(r->resv_free)) != 0)
			return BAD("role %s: reserved free sums differ", r->name);
		for (q = 0; q < a->n_quota_roles && a->quota_roles[q] != i; q++)
			;
		if (r->has_quota != (q < a->n_quota_roles))
			return BAD("role %s: quota list out of date", r->name);
		if (r->hn.pos != HEAP_NONE || r->clients.n != 0)
			return BAD("role %s: left in a heap", r->name);
	}
	if (memcmp(s->total, a->total, sizeof(s->total)) != 0)
		return BAD("cluster totals differ");
	if (memcmp(s->unres, a->unres_free, sizeof(s->unres)) != 0)
		return BAD("unreserved free sums differ");
	if (s->agents != a->n_agents || s->filters != a->st.filters)
		return BAD("agent or filter counts differ");
	if (s->in_xheap != a->xheap.n || alloc_heap_check(&a->xheap) < 0)
		return BAD("expiry heap broken");
	if (a->rheap.n != 0)
		return BAD("role heap not empty");
	while (keel_hmap_next(&a->fw_map, &pos, &key, &val)) {
		const struct framework *fw = val;

		nfw++;
		if (strcmp(key, fw->id) != 0 || (!fw->added && fw->n_clients == 0))
			return BAD("framework %s: bad entry", fw->id);
		for (uint32_t j = 0; j < fw->n_clients; j++)
			if (fw->clients[j]->fw != fw ||
			    a->clients[fw->clients[j]->slot] != fw->clients[j])
				return BAD("framework %s: bad client", fw->id);
	}
	if (nfw != a->n_frameworks)
		return BAD("framework count differs");
	for (uint32_t w = 0; w < a->agent_cap / 64; w++) {
		if (((a->pool_sum[w / 64] >> (w & 63)) & 1) != (a->pool[w] != 0))
			return BAD("pool summary out of date");
		if (a->dirty[w] && !a->work)
			return BAD("dirty agents but no work flagged");
	}
	return 0;
}

int allocator_check(struct allocator *a)
{
	struct sums *s = keel_calloc(1, sizeof(*s));
	int rv = 0;

	if (!s)
		return -ENOMEM;
	s->resv = keel_calloc((size_t)a->n_roles * ALLOCATOR_NAMES_MAX, sizeof(int64_t));
	s->calloc_ =
	    keel_calloc((size_t)a->client_slots * ALLOCATOR_NAMES_MAX + 1, sizeof(int64_t));
	s->crecs = keel_calloc((size_t)a->client_slots + 1, sizeof(uint64_t));
	s->cuses = keel_calloc((size_t)a->client_slots + 1, sizeof(uint32_t));
	if (!s->resv || !s->calloc_ || !s->crecs || !s->cuses)
		rv = -ENOMEM;
	for (uint32_t i = 0; rv == 0 && i < a->agent_slots; i++) {
		const struct agent *g = a->agents[i];

		if (!g) {
			if (bit_get(a->pool, i) || bit_get(a->gpu, i) || bit_get(a->uncovered, i))
				rv = BAD("free agent slot %u has bits set", i);
			continue;
		}
		if (g->slot != i)
			rv = BAD("agent %s: slot %u in %u", g->id, g->slot, i);
		else
			rv = check_agent(a, g, s);
		s->agents++;
	}
	for (uint32_t i = 0; rv == 0 && i < a->client_slots; i++) {
		if (a->clients[i] && a->clients[i]->slot != i)
			rv = BAD("client slot %u holds %u", i, a->clients[i]->slot);
		else if (a->clients[i])
			rv = check_client(a, a->clients[i], s);
	}
	if (rv == 0)
		rv = check_rest(a, s);
	keel_free(s->resv);
	keel_free(s->calloc_);
	keel_free(s->crecs);
	keel_free(s->cuses);
	keel_free(s);
	return rv;
}
