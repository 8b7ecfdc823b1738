/* A binary min-heap of nodes embedded in the allocator's structs, ordered by (share, tie). */
#include <errno.h>

#include "master/allocator_int.h"
#include "runtime/alloc.h"

static bool less(const struct hnode *x, const struct hnode *y)
{
	if (x->key != y->key)
		return x->key < y->key;
	return x->tie < y->tie;
}

static void place(struct heap *h, uint32_t i, struct hnode *x)
{
	h->v[i] = x;
	x->pos = i;
}

static void sift_up(struct heap *h, uint32_t i)
{
	struct hnode *x = h->v[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (!less(x, h->v[p]))
			break;
		place(h, i, h->v[p]);
		i = p;
	}
	place(h, i, x);
}

static void sift_down(struct heap *h, uint32_t i)
{
	struct hnode *x = h->v[i];

	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		struct hnode *best = x;

		if (l < h->n && less(h->v[l], best)) {
			m = l;
			best = h->v[l];
		}
		if (l + 1 < h->n && less(h->v[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		place(h, i, h->v[m]);
		i = m;
	}
	place(h, i, x);
}

int alloc_heap_reserve(struct heap *h, uint32_t n)
{
	uint32_t cap = h->cap ? h->cap : 16;
	struct hnode **v;

	if (n <= h->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	v = keel_realloc(h->v, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

int alloc_heap_push(struct heap *h, struct hnode *x)
{
	if (alloc_heap_reserve(h, h->n + 1) < 0)
		return -ENOMEM;
	place(h, h->n++, x);
	sift_up(h, x->pos);
	return 0;
}

void alloc_heap_remove(struct heap *h, struct hnode *x)
{
	uint32_t i = x->pos;
	struct hnode *last;

	x->pos = HEAP_NONE;
	last = h->v[--h->n];
	if (i == h->n)
		return;
	place(h, i, last);
	alloc_heap_update(h, last);
}

void alloc_heap_update(struct heap *h, struct hnode *x)
{
	uint32_t i = x->pos;

	if (i > 0 && less(x, h->v[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

void alloc_heap_free(struct heap *h)
{
	keel_free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

int alloc_heap_check(const struct heap *h)
{
	for (uint32_t i = 0; i < h->n; i++) {
		if (h->v[i]->pos != i)
			return -EUCLEAN;
		if (i > 0 && less(h->v[i], h->v[(i - 1) / 2]))
			return -EUCLEAN;
	}
	return 0;
}
