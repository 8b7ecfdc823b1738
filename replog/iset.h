/* A set of uint64 positions kept as sorted disjoint closed intervals (internal to replog). */
#ifndef KEEL_REPLOG_ISET_H
#define KEEL_REPLOG_ISET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct replog_ival {
	uint64_t lo; /* first member */
	uint64_t hi; /* last member (inclusive), >= lo */
};

/* Zero-initialise to get an empty set. Intervals never touch or overlap. */
struct replog_iset {
	struct replog_ival *v; /* sorted by lo */
	size_t n;	       /* intervals in use */
	size_t cap;	       /* intervals allocated */
};

void replog_iset_free(struct replog_iset *s);
void replog_iset_clear(struct replog_iset *s);

/* Adds [lo, hi] (lo <= hi); 0 or -ENOMEM (the set is unchanged on failure). */
int replog_iset_add(struct replog_iset *s, uint64_t lo, uint64_t hi);

/* Removes [lo, hi] (lo <= hi); 0 or -ENOMEM (splitting an interval may allocate). */
int replog_iset_remove(struct replog_iset *s, uint64_t lo, uint64_t hi);

bool replog_iset_contains(const struct replog_iset *s, uint64_t x);

/* When x is a member, sets *hi to the last member of its run and returns true. */
bool replog_iset_run(const struct replog_iset *s, uint64_t x, uint64_t *hi);

/* Smallest member >= x into *out; false when there is none. */
bool replog_iset_next(const struct replog_iset *s, uint64_t x, uint64_t *out);

/* True when no member lies in [lo, hi]. */
bool replog_iset_none_in(const struct replog_iset *s, uint64_t lo, uint64_t hi);

static inline bool replog_iset_empty(const struct replog_iset *s)
{
	return s->n == 0;
}

#endif
