/* Internal state of the allocator core, shared by master/allocator*.c only. */
#ifndef KEEL_MASTER_ALLOCATOR_INT_H
#define KEEL_MASTER_ALLOCATOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/allocator.h"
#include "runtime/err.h"
#include "runtime/hmap.h"

/* ---- Resource vectors ---------------------------------------------------------------------- */

enum { RES_SCALAR = 0, RES_RANGES = 1, RES_SET = 2 };

/* One resource: a name, a reservation role and a value. */
struct res_entry {
	uint32_t name; /* interned name id */
	uint32_t role; /* role id it is reserved to; 0 = "*" (unreserved) */
	uint32_t type; /* RES_SCALAR, RES_RANGES, RES_SET */
	uint32_t cnt;  /* RANGES: ranges; SET: items; SCALAR: 0 */
	union {
		int64_t scalar; /* SCALAR: thousandths, > 0 */
		uint64_t
		    off; /* RANGES (2 words per range) / SET (1 word per item): payload index */
	};
};

/*
 * An immutable resource vector: entries sorted by (name, role, type), unique, never empty
 * (no zero scalar, no empty range list or set), ranges sorted, disjoint and not adjacent, set
 * items sorted and distinct, payload words in entry order. So equal vectors are equal bytes.
 */
struct allocator_res {
	uint32_t refs;	      /* references; freed when it drops to 0 */
	uint32_t n;	      /* entries */
	uint32_t words;	      /* payload words after the entries */
	uint32_t reserved;    /* entries reserved to some role */
	struct res_entry e[]; /* n entries, then `words` uint64_t of payload */
};

static inline const uint64_t *res_payload(const struct allocator_res *r)
{
	return (const uint64_t *)(const void *)(r->e + r->n);
}

/* A growable vector under construction (scratch owned by the allocator, reused). */
struct res_builder {
	struct res_entry *e; /* entries so far */
	uint32_t n;	     /* entries */
	uint32_t cap;	     /* capacity of e */
	uint64_t *w;	     /* payload so far */
	uint32_t nw;	     /* payload words */
	uint32_t capw;	     /* capacity of w */
};

/* ---- Interning ----------------------------------------------------------------------------- */

/* Strings mapped to dense ids (resource names, set items). */
struct intern {
	struct keel_hmap map; /* string -> id + 1 */
	char **strs;	      /* id -> owned string */
	uint32_t n;	      /* ids handed out */
	uint32_t cap;	      /* capacity of strs */
};

/* ---- Heaps ---------------------------------------------------------------------------------- */

/* A node in a binary min-heap ordered by (key, tie). */
struct hnode {
	double key;   /* share */
	uint32_t tie; /* slot or id: breaks equal keys, deterministically */
	uint32_t pos; /* index in the heap, or HEAP_NONE */
};

/* A binary min-heap of nodes embedded in other structs. */
struct heap {
	struct hnode **v; /* the nodes */
	uint32_t n;	  /* nodes in the heap */
	uint32_t cap;	  /* capacity of v */
};

#define HEAP_NONE UINT32_MAX

/* ---- Model ---------------------------------------------------------------------------------- */

struct framework;
struct client;

/* A role: weight, quota guarantee and what its clients hold. */
struct role {
	char *name;				/* owned; the key in roles_map */
	uint32_t id;				/* index in allocator.roles; 0 is "*" */
	double weight;				/* > 0 */
	bool has_quota;				/* guarantee[] is set */
	bool in_stage;				/* cycle scratch: in the stage's role heap */
	int64_t guarantee[ALLOCATOR_NAMES_MAX]; /* quota guarantee per name (scalars) */
	uint64_t limited;			/* bit k: scalar name k has a quota limit */
	int64_t limit[ALLOCATOR_NAMES_MAX];	/* that limit (reserved and unreserved) */
	int64_t alloc[ALLOCATOR_NAMES_MAX];	/* allocated to its clients, per scalar name */
	int64_t resv_free[ALLOCATOR_NAMES_MAX]; /* free scalars reserved to it, all agents */
	int64_t unsat[ALLOCATOR_NAMES_MAX];	/* guarantee not yet met (refreshed per cycle) */
	double share;				/* dominant share / weight */
	struct hnode hn;			/* its node in the cycle's role heap */
	struct heap clients;			/* cycle scratch: its wanting clients */
	struct client **members;		/* clients in this role */
	uint32_t n_members;			/* entries in members */
	uint32_t cap_members;			/* capacity of members */
};

/* A framework in one role: the unit DRF orders, filters apply to and offers go to. */
struct client {
	struct framework *fw; /* owner */
	struct role *role;    /* the role */
	uint32_t slot;	      /* index in allocator.clients */
	uint32_t member_pos;  /* index in role->members */
	bool subscribed;      /* the framework subscribes to the role */
	bool suppressed;      /* SUPPRESSed */
	bool fresh;	      /* must look at every agent next cycle */
	bool scan_full;	      /* cycle scratch: scanning every agent (else the dirty) */
	uint32_t cursor;      /* cycle scratch: scan position */
	int64_t alloc[ALLOCATOR_NAMES_MAX]; /* allocated scalars per name */
	double share;			    /* dominant share */
	struct hnode hn;		    /* its node in role->clients */
	uint64_t *fbits;		    /* agent slots where it has filters (NULL: none) */
	uint64_t n_filters;		    /* its filter records */
	uint64_t *hbits;		    /* agent slots where it holds resources (NULL: never) */
	uint32_t n_agents;		    /* bits set in hbits */
};

/* A framework: its clients, one per role it subscribes to or holds resources in. */
struct framework {
	char *id;		 /* owned; the key in fw_map */
	bool added;		 /* added by allocator_framework_add (else only holds resources) */
	bool active;		 /* wants offers at all */
	uint32_t caps;		 /* enum allocator_capability bits */
	struct client **clients; /* its clients */
	uint32_t n_clients;	 /* entries in clients */
	uint32_t cap_clients;	 /* capacity of clients */
};

/* What one client holds on one agent. */
struct use {
	uint32_t client;	   /* client slot */
	struct allocator_res *res; /* owned reference */
};

/* One filter: a client refused `fres` on this agent until `expires`. */
struct frec {
	uint32_t client; /* client slot */
	uint32_t fres;	 /* index in agent->fres */
	int64_t expires; /* ms */
};

/* A distinct refused resource vector on one agent, shared by its filter records. */
struct fres {
	struct allocator_res *res; /* owned reference, NULL when the slot is unused */
	uint32_t refs;		   /* records pointing here */
};

struct agent {
	char *id;		     /* the key in agents_map; points at the end of the struct */
	uint32_t slot;		     /* index in allocator.agents and bit in the bitmaps */
	bool active;		     /* offered at all */
	bool gpu;		     /* total holds gpus: only GPU_RESOURCES frameworks get it */
	bool all_cover;		     /* every filter record here covers all of free */
	struct allocator_res *total; /* owned reference */
	struct allocator_res *free;  /* total minus every use (owned reference) */
	struct use *uses;	     /* per client holdings */
	uint32_t n_uses;	     /* entries in uses */
	uint32_t cap_uses;	     /* capacity of uses */
	struct frec **fchunks;	     /* filter records, FREC_CHUNK per chunk (never moved) */
	uint32_t n_fchunks;	     /* chunks allocated */
	uint32_t cap_fchunks;	     /* capacity of fchunks */
	uint32_t n_filters;	     /* filter records */
	struct fres *fres;	     /* distinct refused vectors */
	uint32_t n_fres;	     /* slots used in fres (some may be free) */
	uint32_t cap_fres;	     /* capacity of fres */
	struct allocator_res *cover; /* intersection of every fres (owned), NULL if unknown/none */
	int64_t min_expiry;	     /* earliest filter expiry */
	struct hnode xn;	     /* node in the expiry heap (key: min_expiry) */
	uint64_t stamp;		     /* cycle number of first_offer */
	uint32_t first_offer;	     /* index of this cycle's first offer here */
};

/* Filter records come in chunks so that adding one never copies the others. */
#define FREC_CHUNK 64

static inline struct frec *agent_frec(const struct agent *g, uint32_t i)
{
	return &g->fchunks[i / FREC_CHUNK][i % FREC_CHUNK];
}

/* Bookkeeping beside each output offer. */
struct out_meta {
	uint32_t client;	   /* client slot */
	uint32_t next;		   /* next offer on the same agent this cycle, or UINT32_MAX */
	struct allocator_res *res; /* owned reference (the offer's resources) */
};

/* One alternative of --min_allocatable_resources. */
struct minalloc {
	uint32_t n;			    /* quantities */
	uint32_t name[ALLOCATOR_NAMES_MAX]; /* their names */
	int64_t qty[ALLOCATOR_NAMES_MAX];   /* and amounts */
};

struct allocator {
	char errmsg[KEEL_ERRMSG_SIZE]; /* the last failure */
	int64_t default_refuse_ms;     /* filter length for "default" */
	struct minalloc *min;	       /* min allocatable alternatives */
	uint32_t name_gpus;	       /* interned id of "gpus" */
	uint32_t n_min;		       /* entries in min (0: anything non-empty) */

	struct intern names; /* resource names */
	struct intern items; /* set items */

	struct keel_hmap roles_map; /* name -> struct role */
	struct role **roles;	    /* by id */
	uint32_t n_roles;	    /* roles */
	uint32_t cap_roles;	    /* capacity of roles */
	uint32_t *quota_roles;	    /* ids of roles with a guarantee */
	uint32_t n_quota_roles;	    /* entries in quota_roles */
	uint32_t cap_quota_roles;   /* capacity of quota_roles */

	struct keel_hmap agents_map; /* id -> struct agent */
	struct agent **agents;	     /* by slot (NULL: free slot) */
	uint32_t agent_slots;	     /* slots ever used (high-water mark) */
	uint32_t agent_cap;	     /* slots the bitmaps and agents[] hold (a multiple of 64) */
	uint32_t *free_agent_slots;  /* reusable slots (stack) */
	uint32_t n_free_agent_slots; /* entries in free_agent_slots */
	uint32_t n_agents;	     /* agents */

	struct keel_hmap fw_map; /* id -> struct framework */
	uint32_t n_frameworks;	 /* frameworks */

	struct client **clients;      /* by slot (NULL: free) */
	uint32_t client_slots;	      /* high-water mark */
	uint32_t cap_clients;	      /* capacity of clients */
	uint32_t *free_client_slots;  /* reusable slots (stack) */
	uint32_t n_free_client_slots; /* entries */

	int64_t total[ALLOCATOR_NAMES_MAX];	 /* scalars over every agent */
	int64_t unres_free[ALLOCATOR_NAMES_MAX]; /* unreserved free scalars on active agents */
	int64_t required[ALLOCATOR_NAMES_MAX];	 /* cycle: sum of unmet guarantees */
	bool quota_owed;			 /* cycle: some required[] > 0 */

	/* Bitmaps over agent slots, agent_cap / 64 words each. */
	uint64_t *pool;	     /* active and enough free to offer */
	uint64_t *pool_sum;  /* bit w: pool word w is not zero */
	uint64_t *dirty;     /* changed since the last cycle */
	uint64_t *gpu;	     /* total has gpus */
	uint64_t *uncovered; /* has filters and !all_cover */
	uint32_t *dwords;    /* dirty words, in the order they became dirty */
	uint32_t n_dwords;   /* entries in dwords */
	uint32_t cap_dwords; /* capacity of dwords */

	struct heap xheap; /* agents with filters, by min_expiry */
	struct heap rheap; /* cycle scratch: roles */

	bool work;		     /* something changed since the last cycle */
	bool fresh_all;		     /* every client must look at every agent next cycle */
	bool shares_stale;	     /* totals or weights changed: recompute every share */
	bool headroom_limited;	     /* this cycle cut an offer for quota headroom */
	struct allocator_res *empty; /* the empty vector (one reference held) */
	struct res_builder b1;	     /* scratch */
	struct res_builder b2;	     /* scratch */

	struct allocator_offer *out; /* last cycle's offers */
	struct out_meta *out_meta;   /* beside them */
	uint32_t n_out;		     /* offers */
	uint32_t cap_out;	     /* capacity */
	uint64_t cycle;		     /* cycle number */

	struct allocator_stats st; /* counters */
};

/* ---- allocator_res.c ------------------------------------------------------------------------ */

struct allocator_res *alloc_res_new_empty(struct allocator *a);
int alloc_res_build(struct allocator *a, const struct res_builder *b, struct allocator_res **out);
void alloc_res_builder_reset(struct res_builder *b);
void alloc_res_builder_free(struct res_builder *b);
/* Appends an entry (ranges/items follow with alloc_res_builder_words); -ENOMEM. */
int alloc_res_builder_push(struct allocator *a, struct res_builder *b, const struct res_entry *e);
int alloc_res_builder_words(struct allocator *a, struct res_builder *b, const uint64_t *w,
			    uint32_t n);
/*
 * A vector of one resource, canonicalised: w (cnt ranges as begin/end pairs, or cnt set
 * items) is sorted in place, ranges merged, items deduplicated. -EINVAL for a negative or
 * too large scalar or a range with begin > end; -ENOMEM.
 */
int alloc_res_single(struct allocator *a, uint32_t name, uint32_t role, uint32_t type,
		     int64_t scalar, uint64_t *w, uint32_t cnt, struct allocator_res **out);
/* x ∩ y (per name and role: min of scalars, common ranges and items). */
int alloc_res_intersect(struct allocator *a, const struct allocator_res *x,
			const struct allocator_res *y, struct allocator_res **out);
/* Adds sign * every scalar of r to arr[name]. */
void alloc_res_scalars_acc(const struct allocator_res *r, int64_t *arr, int sign);
/* True when some entry is the scalar "gpus" > 0. */
bool alloc_res_has_gpus(const struct allocator *a, const struct allocator_res *r);
/* Enough to offer (min allocatable). */
bool alloc_res_allocatable(const struct allocator *a, const struct allocator_res *r);
/* Validates canonical form (for allocator_check). */
int alloc_res_validate(struct allocator *a, const struct allocator_res *r);

/* Interning (allocator.c). */
int alloc_intern_id(struct allocator *a, struct intern *in, const char *s, size_t len,
		    uint32_t *id);
/* A role by name, created when `create` (validating the name); -ENOENT, -EINVAL, -ENOMEM. */
int alloc_role_get(struct allocator *a, const char *name, size_t len, bool create,
		   struct role **out);

/* ---- allocator_heap.c ------------------------------------------------------------------------ */

int alloc_heap_push(struct heap *h, struct hnode *x);
/* Makes room for n nodes in all, so that pushes up to that cannot fail. */
int alloc_heap_reserve(struct heap *h, uint32_t n);
void alloc_heap_remove(struct heap *h, struct hnode *x);
void alloc_heap_update(struct heap *h, struct hnode *x);
static inline struct hnode *alloc_heap_top(const struct heap *h)
{
	return h->n ? h->v[0] : NULL;
}
void alloc_heap_free(struct heap *h);
int alloc_heap_check(const struct heap *h);

/* ---- allocator_filter.c ---------------------------------------------------------------------- */

/* Adds a filter record for c on g refusing r until expires; -ENOMEM (nothing changed). */
int alloc_filter_add(struct allocator *a, struct agent *g, struct client *c,
		     const struct allocator_res *r, int64_t expires);
/* Removes every filter record of c (on every agent). */
void alloc_filter_clear_client(struct allocator *a, struct client *c);
/* Removes every filter record on g. */
void alloc_filter_clear_agent(struct allocator *a, struct agent *g);
/* Removes records that expired by now; returns how many. */
uint32_t alloc_filter_expire(struct allocator *a, int64_t now);
/* Re-derives g->all_cover (and its uncovered bit) after g->free changed. */
void alloc_filter_cover_update(struct allocator *a, struct agent *g);
/* True when a filter record of c on g refuses the offer x. */
bool alloc_filter_refuses(const struct allocator *a, const struct agent *g, const struct client *c,
			  const struct allocator_res *x);

/* ---- allocator_cycle.c ----------------------------------------------------------------------- */

void alloc_shares_refresh_all(struct allocator *a);
void alloc_client_share_update(struct allocator *a, struct client *c);
void alloc_role_share_update(struct allocator *a, struct role *r);

/* ---- Bitmaps and agent bookkeeping (allocator.c) ----------------------------------------------
 */

static inline bool bit_get(const uint64_t *m, uint32_t i)
{
	return (m[i >> 6] >> (i & 63)) & 1;
}

static inline void bit_set(uint64_t *m, uint32_t i)
{
	m[i >> 6] |= 1ULL << (i & 63);
}

static inline void bit_clear(uint64_t *m, uint32_t i)
{
	m[i >> 6] &= ~(1ULL << (i & 63));
}

/* Grows *v (of `size`-byte elements, capacity *cap) to hold need; -ENOMEM. */
int alloc_grow(struct allocator *a, void **v, uint32_t *cap, uint32_t need, size_t size);
#define GROW(a, arr, cap, need) alloc_grow((a), (void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* Marks g changed since the last cycle. Never fails (dwords has room for every word). */
void alloc_agent_mark_dirty(struct allocator *a, struct agent *g);
/* Re-derives g's pool bit from active and free. */
void alloc_agent_pool_update(struct allocator *a, struct agent *g);
/* Adds sign * g's free scalars to the per-role reserved and the unreserved free sums. */
void alloc_agent_free_account(struct allocator *a, const struct agent *g,
			      const struct allocator_res *fr, int sign);
/* Finds c's use on g, or NULL. */
struct use *alloc_agent_use_find(const struct agent *g, uint32_t client);
/* Makes sure c->hbits exists; -ENOMEM. */
int alloc_client_hbits_ensure(struct allocator *a, struct client *c);
/* Frees a client that neither subscribes nor holds nor filters anything (and its framework
 * when that was its last client and it is not added). */
void alloc_client_gc(struct allocator *a, struct client *c);

#endif
