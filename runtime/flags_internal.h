/* Private to the flags module: per-flag state and typed value parsing shared by its files. */
#ifndef KEEL_RUNTIME_FLAGS_INTERNAL_H
#define KEEL_RUNTIME_FLAGS_INTERNAL_H

#include "flags.h"

/* A parsed flag value of any type. */
union keel_flag_val {
	bool b;	       /* KEEL_FLAG_BOOL */
	int64_t i;     /* KEEL_FLAG_INT64, KEEL_FLAG_DURATION */
	uint64_t u;    /* KEEL_FLAG_UINT64, KEEL_FLAG_BYTES */
	double d;      /* KEEL_FLAG_DOUBLE */
	int e;	       /* KEEL_FLAG_ENUM: index into choices */
	const char *s; /* KEEL_FLAG_STRING: the text itself (not copied) */
};

/* Bookkeeping for one table row. */
struct keel_flag_state {
	enum keel_flag_source source; /* where the current value came from */
	bool has_min;		      /* min below is set */
	bool has_max;		      /* max below is set */
	union keel_flag_val min;      /* parsed keel_flag.min */
	union keel_flag_val max;      /* parsed keel_flag.max */
	char *owned;		      /* heap copy behind a string flag's storage, or NULL */
};

/* Parses text s as fl's type into *v (no range check); -EINVAL with a reason in why. */
int keel_flag_value_parse(const struct keel_flag *fl, const char *s, union keel_flag_val *v,
			  char *why);

/* Checks *v against the flag's min and max; -EINVAL with "must be >= X" or "<= X" in why. */
int keel_flag_value_check(const struct keel_flag *fl, const struct keel_flag_state *st,
			  const union keel_flag_val *v, char *why);

/* Compares two values of fl's numeric type: <0, 0, >0. */
int keel_flag_value_cmp(const struct keel_flag *fl, const union keel_flag_val *a,
			const union keel_flag_val *b);

/* Writes *v into fl's storage (strings: the pointer only; the caller owns the memory). */
void keel_flag_value_store(const struct keel_flag *fl, const union keel_flag_val *v);

/*
 * Formats the flag's current storage as flag-value text. Returns buf, or for
 * strings the stored string itself (NULL when unset).
 */
const char *keel_flag_value_format(const struct keel_flag *fl, char *buf, size_t size);

#endif
