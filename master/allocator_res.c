/* Resource vectors: immutable, reference-counted, canonical; add, subtract, contain, intersect. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "master/allocator_int.h"
#include "runtime/alloc.h"

/* ---- Builder -------------------------------------------------------------------------------- */

void alloc_res_builder_reset(struct res_builder *b)
{
	b->n = 0;
	b->nw = 0;
}

void alloc_res_builder_free(struct res_builder *b)
{
	keel_free(b->e);
	keel_free(b->w);
	memset(b, 0, sizeof(*b));
}

int alloc_res_builder_push(struct allocator *a, struct res_builder *b, const struct res_entry *e)
{
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 16;
		struct res_entry *v = keel_realloc(b->e, (size_t)cap * sizeof(*v));

		if (!v)
			return keel_errf(a->errmsg, -ENOMEM, "out of memory building resources");
		b->e = v;
		b->cap = cap;
	}
	b->e[b->n] = *e;
	if (e->type != RES_SCALAR) {
		b->e[b->n].off = b->nw;
		b->e[b->n].cnt = 0;
	}
	b->n++;
	return 0;
}

static int builder_room(struct allocator *a, struct res_builder *b, uint32_t more)
{
	if ((uint64_t)b->nw + more > UINT32_MAX / 2)
		return keel_errf(a->errmsg, -ENOSPC, "resource vector too large");
	if (b->nw + more > b->capw) {
		uint32_t cap = b->capw ? b->capw : 32;
		uint64_t *v;

		while (cap < b->nw + more)
			cap *= 2;
		v = keel_realloc(b->w, (size_t)cap * sizeof(*v));
		if (!v)
			return keel_errf(a->errmsg, -ENOMEM, "out of memory building resources");
		b->w = v;
		b->capw = cap;
	}
	return 0;
}

int alloc_res_builder_words(struct allocator *a, struct res_builder *b, const uint64_t *w,
			    uint32_t n)
{
	int rv = builder_room(a, b, n);

	if (rv < 0)
		return rv;
	memcpy(b->w + b->nw, w, (size_t)n * sizeof(*w));
	b->nw += n;
	return 0;
}

/* Appends [lo, hi] to the last entry (RANGES), merging with its last range when they touch. */
static int push_range(struct allocator *a, struct res_builder *b, uint64_t lo, uint64_t hi)
{
	struct res_entry *e = &b->e[b->n - 1];
	int rv;

	if (e->cnt > 0) {
		uint64_t *last_hi = &b->w[b->nw - 1];

		if (lo <= *last_hi || (*last_hi != UINT64_MAX && lo == *last_hi + 1)) {
			if (hi > *last_hi)
				*last_hi = hi;
			return 0;
		}
	}
	rv = builder_room(a, b, 2);
	if (rv < 0)
		return rv;
	b->w[b->nw++] = lo;
	b->w[b->nw++] = hi;
	e->cnt++;
	return 0;
}

/* Appends one set item to the last entry (SET); items come in increasing order. */
static int push_item(struct allocator *a, struct res_builder *b, uint64_t item)
{
	int rv = builder_room(a, b, 1);

	if (rv < 0)
		return rv;
	b->w[b->nw++] = item;
	b->e[b->n - 1].cnt++;
	return 0;
}

/* Drops the last entry if it ended up empty (its payload, if any, is empty too). */
static void pop_if_empty(struct res_builder *b)
{
	const struct res_entry *e = &b->e[b->n - 1];

	if (e->type == RES_SCALAR ? e->scalar == 0 : e->cnt == 0)
		b->n--;
}

static struct allocator_res *res_ref_mut(const struct allocator_res *r)
{
	struct allocator_res *m = (struct allocator_res *)(uintptr_t)r;

	m->refs++;
	return m;
}

int alloc_res_build(struct allocator *a, const struct res_builder *b, struct allocator_res **out)
{
	struct allocator_res *r;
	size_t sz;

	if (b->n == 0) {
		*out = res_ref_mut(a->empty);
		return 0;
	}
	sz =
	    sizeof(*r) + (size_t)b->n * sizeof(struct res_entry) + (size_t)b->nw * sizeof(uint64_t);
	r = keel_malloc(sz);
	if (!r)
		return keel_errf(a->errmsg, -ENOMEM, "out of memory building resources");
	r->refs = 1;
	r->n = b->n;
	r->words = b->nw;
	r->reserved = 0;
	memcpy(r->e, b->e, (size_t)b->n * sizeof(struct res_entry));
	if (b->nw)
		memcpy((uint64_t *)(void *)(r->e + r->n), b->w, (size_t)b->nw * sizeof(uint64_t));
	for (uint32_t i = 0; i < r->n; i++)
		r->reserved += r->e[i].role != 0;
	*out = r;
	return 0;
}

struct allocator_res *alloc_res_new_empty(struct allocator *a)
{
	struct allocator_res *r = keel_calloc(1, sizeof(*r));

	(void)a;
	if (r)
		r->refs = 1;
	return r;
}

/* ---- Entry helpers -------------------------------------------------------------------------- */

static int key_cmp(const struct res_entry *x, const struct res_entry *y)
{
	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	if (x->role != y->role)
		return x->role < y->role ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return 0;
}

static const uint64_t *entry_words(const struct allocator_res *r, const struct res_entry *e)
{
	return res_payload(r) + e->off;
}

/* Copies entry e of r (with its payload) into b. */
static int copy_entry(struct allocator *a, struct res_builder *b, const struct allocator_res *r,
		      const struct res_entry *e)
{
	int rv = alloc_res_builder_push(a, b, e);

	if (rv < 0 || e->type == RES_SCALAR)
		return rv;
	rv = alloc_res_builder_words(a, b, entry_words(r, e),
				     e->type == RES_RANGES ? 2 * e->cnt : e->cnt);
	if (rv < 0)
		return rv;
	b->e[b->n - 1].cnt = e->cnt;
	return 0;
}

static int64_t sat_add(int64_t x, int64_t y)
{
	int64_t s;

	return __builtin_add_overflow(x, y, &s) ? INT64_MAX : s;
}

enum { OP_ADD, OP_SUB, OP_AND };

/* Combines two entries with the same key into b (which may end up without an entry). */
static int combine(struct allocator *a, struct res_builder *b, int op,
		   const struct allocator_res *x, const struct res_entry *ex,
		   const struct allocator_res *y, const struct res_entry *ey)
{
	struct res_entry e = *ex;
	const uint64_t *p = entry_words(x, ex), *q = entry_words(y, ey);
	uint32_t np = ex->cnt, nq = ey->cnt, i = 0, j = 0;
	int rv = 0;

	if (ex->type == RES_SCALAR) {
		if (op == OP_ADD)
			e.scalar = sat_add(ex->scalar, ey->scalar);
		else if (op == OP_SUB)
			e.scalar = ex->scalar > ey->scalar ? ex->scalar - ey->scalar : 0;
		else
			e.scalar = ex->scalar < ey->scalar ? ex->scalar : ey->scalar;
		if (e.scalar != 0)
			rv = alloc_res_builder_push(a, b, &e);
		return rv;
	}
	rv = alloc_res_builder_push(a, b, &e);
	if (rv < 0)
		return rv;
	if (ex->type == RES_SET) {
		while (rv == 0 && (i < np || j < nq)) {
			if (j == nq || (i < np && p[i] < q[j])) {
				if (op != OP_AND)
					rv = push_item(a, b, p[i]);
				i++;
			} else if (i == np || q[j] < p[i]) {
				if (op == OP_ADD)
					rv = push_item(a, b, q[j]);
				j++;
			} else {
				if (op != OP_SUB)
					rv = push_item(a, b, p[i]);
				i++;
				j++;
			}
		}
	} else if (op == OP_ADD) {
		while (rv == 0 && (i < np || j < nq)) {
			if (j == nq || (i < np && p[2 * i] <= q[2 * j])) {
				rv = push_range(a, b, p[2 * i], p[2 * i + 1]);
				i++;
			} else {
				rv = push_range(a, b, q[2 * j], q[2 * j + 1]);
				j++;
			}
		}
	} else if (op == OP_AND) {
		while (rv == 0 && i < np && j < nq) {
			uint64_t lo = p[2 * i] > q[2 * j] ? p[2 * i] : q[2 * j];
			uint64_t hi = p[2 * i + 1] < q[2 * j + 1] ? p[2 * i + 1] : q[2 * j + 1];

			if (lo <= hi)
				rv = push_range(a, b, lo, hi);
			if (p[2 * i + 1] < q[2 * j + 1])
				i++;
			else
				j++;
		}
	} else {
		for (i = 0; rv == 0 && i < np; i++) {
			uint64_t cur = p[2 * i], end = p[2 * i + 1];
			bool done = false;
			uint32_t k;

			while (j < nq && q[2 * j + 1] < cur)
				j++;
			for (k = j; rv == 0 && k < nq && q[2 * k] <= end; k++) {
				if (q[2 * k] > cur)
					rv = push_range(a, b, cur, q[2 * k] - 1);
				if (q[2 * k + 1] >= end) {
					done = true;
					break;
				}
				cur = q[2 * k + 1] + 1;
			}
			if (rv == 0 && !done && cur <= end)
				rv = push_range(a, b, cur, end);
		}
	}
	if (rv == 0)
		pop_if_empty(b);
	return rv;
}

/* x op y into b (reset first). */
static int merge(struct allocator *a, struct res_builder *b, int op, const struct allocator_res *x,
		 const struct allocator_res *y)
{
	uint32_t i = 0, j = 0;
	int rv = 0;

	alloc_res_builder_reset(b);
	while (rv == 0 && (i < x->n || j < y->n)) {
		int c = i == x->n ? 1 : j == y->n ? -1 : key_cmp(&x->e[i], &y->e[j]);

		if (c < 0) {
			if (op != OP_AND)
				rv = copy_entry(a, b, x, &x->e[i]);
			i++;
		} else if (c > 0) {
			if (op == OP_ADD)
				rv = copy_entry(a, b, y, &y->e[j]);
			j++;
		} else {
			rv = combine(a, b, op, x, &x->e[i], y, &y->e[j]);
			i++;
			j++;
		}
	}
	return rv;
}

/* ---- Containment ---------------------------------------------------------------------------- */

static bool entry_contains(const struct allocator_res *x, const struct res_entry *ex,
			   const struct allocator_res *y, const struct res_entry *ey)
{
	const uint64_t *p = entry_words(x, ex), *q = entry_words(y, ey);
	uint32_t i = 0, j;

	if (ex->type == RES_SCALAR)
		return ex->scalar >= ey->scalar;
	if (ex->type == RES_SET) {
		for (j = 0; j < ey->cnt; j++) {
			while (i < ex->cnt && p[i] < q[j])
				i++;
			if (i == ex->cnt || p[i] != q[j])
				return false;
		}
		return true;
	}
	for (j = 0; j < ey->cnt; j++) {
		while (i < ex->cnt && p[2 * i + 1] < q[2 * j])
			i++;
		if (i == ex->cnt || p[2 * i] > q[2 * j] || p[2 * i + 1] < q[2 * j + 1])
			return false;
	}
	return true;
}

bool allocator_res_contains(const struct allocator_res *x, const struct allocator_res *y)
{
	uint32_t i = 0, j;

	if (x == y || y->n == 0)
		return true;
	for (j = 0; j < y->n; j++) {
		int c = 1;

		while (i < x->n && (c = key_cmp(&x->e[i], &y->e[j])) < 0)
			i++;
		if (i == x->n || c != 0 || !entry_contains(x, &x->e[i], y, &y->e[j]))
			return false;
		i++;
	}
	return true;
}

bool allocator_res_equal(const struct allocator_res *x, const struct allocator_res *y)
{
	if (x == y)
		return true;
	if (x->n != y->n || x->words != y->words)
		return false;
	return memcmp(x->e, y->e,
		      (size_t)x->n * sizeof(struct res_entry) +
			  (size_t)x->words * sizeof(uint64_t)) == 0;
}

bool allocator_res_empty(const struct allocator_res *r)
{
	return r->n == 0;
}

/* ---- Arithmetic ----------------------------------------------------------------------------- */

int allocator_res_add(struct allocator *a, const struct allocator_res *x,
		      const struct allocator_res *y, struct allocator_res **out)
{
	int rv;

	if (y->n == 0) {
		*out = res_ref_mut(x);
		return 0;
	}
	if (x->n == 0) {
		*out = res_ref_mut(y);
		return 0;
	}
	rv = merge(a, &a->b1, OP_ADD, x, y);
	return rv < 0 ? rv : alloc_res_build(a, &a->b1, out);
}

int allocator_res_subtract(struct allocator *a, const struct allocator_res *x,
			   const struct allocator_res *y, struct allocator_res **out)
{
	int rv;

	if (!allocator_res_contains(x, y))
		return keel_errf(a->errmsg, -EINVAL, "subtracting resources that are not there");
	if (y->n == 0) {
		*out = res_ref_mut(x);
		return 0;
	}
	if (allocator_res_equal(x, y)) {
		*out = res_ref_mut(a->empty);
		return 0;
	}
	rv = merge(a, &a->b1, OP_SUB, x, y);
	return rv < 0 ? rv : alloc_res_build(a, &a->b1, out);
}

int alloc_res_intersect(struct allocator *a, const struct allocator_res *x,
			const struct allocator_res *y, struct allocator_res **out)
{
	int rv;

	if (allocator_res_contains(y, x)) {
		*out = res_ref_mut(x);
		return 0;
	}
	if (allocator_res_contains(x, y)) {
		*out = res_ref_mut(y);
		return 0;
	}
	rv = merge(a, &a->b1, OP_AND, x, y);
	return rv < 0 ? rv : alloc_res_build(a, &a->b1, out);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;

	return p < q ? -1 : p > q;
}

static int cmp_pair(const void *x, const void *y)
{
	const uint64_t *p = x, *q = y;

	if (p[0] != q[0])
		return p[0] < q[0] ? -1 : 1;
	return p[1] < q[1] ? -1 : p[1] > q[1];
}

int alloc_res_single(struct allocator *a, uint32_t name, uint32_t role, uint32_t type,
		     int64_t scalar, uint64_t *w, uint32_t cnt, struct allocator_res **out)
{
	struct res_builder *b = &a->b2;
	struct res_entry e = {.name = name, .role = role, .type = type};
	int rv;

	alloc_res_builder_reset(b);
	if (type == RES_SCALAR) {
		if (scalar < 0 || scalar > ALLOCATOR_SCALAR_MAX)
			return keel_errf(a->errmsg, -EINVAL, "scalar %s out of range",
					 a->names.strs[name]);
		e.scalar = scalar;
		if (scalar > 0) {
			rv = alloc_res_builder_push(a, b, &e);
			if (rv < 0)
				return rv;
		}
		return alloc_res_build(a, b, out);
	}
	rv = alloc_res_builder_push(a, b, &e);
	if (rv < 0)
		return rv;
	if (type == RES_RANGES) {
		for (uint32_t i = 0; i < cnt; i++)
			if (w[2 * i] > w[2 * i + 1])
				return keel_errf(a->errmsg, -EINVAL, "range %s: begin > end",
						 a->names.strs[name]);
		qsort(w, cnt, 2 * sizeof(uint64_t), cmp_pair);
		for (uint32_t i = 0; i < cnt; i++) {
			rv = push_range(a, b, w[2 * i], w[2 * i + 1]);
			if (rv < 0)
				return rv;
		}
	} else {
		qsort(w, cnt, sizeof(uint64_t), cmp_u64);
		for (uint32_t i = 0; i < cnt; i++) {
			if (i > 0 && w[i] == w[i - 1])
				continue;
			rv = push_item(a, b, w[i]);
			if (rv < 0)
				return rv;
		}
	}
	pop_if_empty(b);
	return alloc_res_build(a, b, out);
}

/* ---- Queries -------------------------------------------------------------------------------- */

struct allocator_res *allocator_res_ref(const struct allocator_res *r)
{
	return res_ref_mut(r);
}

void allocator_res_unref(struct allocator_res *r)
{
	if (r && --r->refs == 0)
		keel_free(r);
}

void alloc_res_scalars_acc(const struct allocator_res *r, int64_t *arr, int sign)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->e[i].type == RES_SCALAR)
			arr[r->e[i].name] += sign * r->e[i].scalar;
}

bool alloc_res_has_gpus(const struct allocator *a, const struct allocator_res *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->e[i].name == a->name_gpus && r->e[i].type == RES_SCALAR)
			return true;
	return false;
}

static int64_t scalar_sum(const struct allocator_res *r, uint32_t name)
{
	int64_t s = 0;

	for (uint32_t i = 0; i < r->n && r->e[i].name <= name; i++)
		if (r->e[i].name == name && r->e[i].type == RES_SCALAR)
			s += r->e[i].scalar;
	return s;
}

bool alloc_res_allocatable(const struct allocator *a, const struct allocator_res *r)
{
	if (r->n == 0)
		return false;
	if (a->n_min == 0)
		return true;
	for (uint32_t k = 0; k < a->n_min; k++) {
		const struct minalloc *m = &a->min[k];
		uint32_t j;

		for (j = 0; j < m->n; j++)
			if (scalar_sum(r, m->name[j]) < m->qty[j])
				break;
		if (j == m->n)
			return true;
	}
	return false;
}

int64_t allocator_res_scalar(const struct allocator *a, const struct allocator_res *r,
			     const char *name, const char *role)
{
	const struct role *ro = NULL;
	void *v = keel_hmap_get(&a->names.map, name);
	uint32_t id;
	int64_t s = 0;

	if (!v)
		return 0;
	id = (uint32_t)((uintptr_t)v - 1);
	if (role) {
		ro = keel_hmap_get(&a->roles_map, role);
		if (!ro)
			return 0;
	}
	for (uint32_t i = 0; i < r->n; i++)
		if (r->e[i].name == id && r->e[i].type == RES_SCALAR &&
		    (!ro || r->e[i].role == ro->id))
			s += r->e[i].scalar;
	return s;
}

int alloc_res_validate(struct allocator *a, const struct allocator_res *r)
{
	uint32_t reserved = 0;
	uint64_t words = 0;

	for (uint32_t i = 0; i < r->n; i++) {
		const struct res_entry *e = &r->e[i];
		const uint64_t *w = entry_words(r, e);

		if (i > 0 && key_cmp(&r->e[i - 1], e) >= 0)
			return keel_errf(a->errmsg, -EUCLEAN, "resources: entries out of order");
		if (e->name >= a->names.n || e->role >= a->n_roles || e->type > RES_SET)
			return keel_errf(a->errmsg, -EUCLEAN, "resources: bad entry key");
		reserved += e->role != 0;
		if (e->type == RES_SCALAR) {
			if (e->scalar <= 0 || e->cnt != 0)
				return keel_errf(a->errmsg, -EUCLEAN, "resources: bad scalar");
			continue;
		}
		if (e->cnt == 0 || e->off != words)
			return keel_errf(a->errmsg, -EUCLEAN, "resources: bad payload");
		words += e->type == RES_RANGES ? 2 * (uint64_t)e->cnt : e->cnt;
		if (words > r->words)
			return keel_errf(a->errmsg, -EUCLEAN, "resources: payload overrun");
		for (uint32_t k = 0; k < e->cnt; k++) {
			if (e->type == RES_SET) {
				if ((k > 0 && w[k] <= w[k - 1]) || w[k] >= a->items.n)
					return keel_errf(a->errmsg, -EUCLEAN, "resources: bad set");
				continue;
			}
			if (w[2 * k] > w[2 * k + 1])
				return keel_errf(a->errmsg, -EUCLEAN, "resources: bad range");
			if (k > 0 && (w[2 * k - 1] == UINT64_MAX || w[2 * k] <= w[2 * k - 1] + 1))
				return keel_errf(a->errmsg, -EUCLEAN, "resources: ranges touch");
		}
	}
	if (words != r->words || reserved != r->reserved || r->refs == 0)
		return keel_errf(a->errmsg, -EUCLEAN, "resources: bad header");
	return 0;
}
