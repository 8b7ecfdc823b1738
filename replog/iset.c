/* Interval set of uint64 positions: sorted disjoint closed intervals, binary search. */
#include "iset.h"

#include <errno.h>
#include <string.h>

#include "runtime/alloc.h"

void replog_iset_free(struct replog_iset *s)
{
	keel_free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

void replog_iset_clear(struct replog_iset *s)
{
	s->n = 0;
}

/* Index of the first interval with hi >= x (n when none). */
static size_t iset_lower(const struct replog_iset *s, uint64_t x)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].hi < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int iset_reserve(struct replog_iset *s, size_t need)
{
	struct replog_ival *v;
	size_t cap;

	if (need <= s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	v = keel_realloc(s->v, cap * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

int replog_iset_add(struct replog_iset *s, uint64_t lo, uint64_t hi)
{
	size_t i, j;
	int rv;

	/* First interval that touches or follows [lo, hi]: hi' >= lo - 1. */
	i = iset_lower(s, lo == 0 ? 0 : lo - 1);
	/* Intervals i..j-1 touch [lo, hi] (lo' <= hi + 1). */
	j = i;
	while (j < s->n && (hi == UINT64_MAX || s->v[j].lo <= hi + 1))
		j++;
	if (i == j) {
		rv = iset_reserve(s, s->n + 1);
		if (rv < 0)
			return rv;
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
		s->v[i].lo = lo;
		s->v[i].hi = hi;
		s->n++;
		return 0;
	}
	if (s->v[i].lo < lo)
		lo = s->v[i].lo;
	if (s->v[j - 1].hi > hi)
		hi = s->v[j - 1].hi;
	s->v[i].lo = lo;
	s->v[i].hi = hi;
	memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(s->v[0]));
	s->n -= j - i - 1;
	return 0;
}

int replog_iset_remove(struct replog_iset *s, uint64_t lo, uint64_t hi)
{
	size_t i = iset_lower(s, lo), j;
	int rv;

	if (i == s->n || s->v[i].lo > hi)
		return 0;
	/* Removing from the middle of one interval splits it. */
	if (s->v[i].lo < lo && s->v[i].hi > hi) {
		rv = iset_reserve(s, s->n + 1);
		if (rv < 0)
			return rv;
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
		s->n++;
		s->v[i].hi = lo - 1;
		s->v[i + 1].lo = hi + 1;
		return 0;
	}
	if (s->v[i].lo < lo) {
		s->v[i].hi = lo - 1;
		i++;
	}
	j = i;
	while (j < s->n && s->v[j].hi <= hi)
		j++;
	if (j < s->n && s->v[j].lo <= hi)
		s->v[j].lo = hi + 1;
	memmove(&s->v[i], &s->v[j], (s->n - j) * sizeof(s->v[0]));
	s->n -= j - i;
	return 0;
}

bool replog_iset_contains(const struct replog_iset *s, uint64_t x)
{
	size_t i = iset_lower(s, x);

	return i < s->n && s->v[i].lo <= x;
}

bool replog_iset_run(const struct replog_iset *s, uint64_t x, uint64_t *hi)
{
	size_t i = iset_lower(s, x);

	if (i == s->n || s->v[i].lo > x)
		return false;
	*hi = s->v[i].hi;
	return true;
}

bool replog_iset_next(const struct replog_iset *s, uint64_t x, uint64_t *out)
{
	size_t i = iset_lower(s, x);

	if (i == s->n)
		return false;
	*out = s->v[i].lo > x ? s->v[i].lo : x;
	return true;
}

bool replog_iset_none_in(const struct replog_iset *s, uint64_t lo, uint64_t hi)
{
	uint64_t x;

	return !replog_iset_next(s, lo, &x) || x > hi;
}
