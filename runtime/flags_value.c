/* Flag value syntax: parsing and formatting of bools, numbers, durations, byte sizes and enums. */
#include "flags_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

/* A unit suffix and its size in the base unit. */
struct unit {
	const char *name; /* suffix as written */
	uint64_t mult;	  /* nanoseconds or bytes per unit */
};

/* stout's Duration units, largest last. */
static const struct unit duration_units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"ms", 1000000ULL},
    {"secs", 1000000000ULL},
    {"mins", 60ULL * 1000000000ULL},
    {"hrs", 3600ULL * 1000000000ULL},
    {"days", 86400ULL * 1000000000ULL},
    {"weeks", 604800ULL * 1000000000ULL},
};

/* stout's Bytes units (1024 based, matched case-insensitively), largest last. */
static const struct unit bytes_units[] = {
    {"B", 1ULL}, {"KB", 1ULL << 10}, {"MB", 1ULL << 20}, {"GB", 1ULL << 30}, {"TB", 1ULL << 40},
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Parses 1*DIGIT at s[*i] into *out, moving *i past every digit; -ERANGE on
 * overflow, -EINVAL when there is no digit.
 */
static int parse_digits(const char *s, size_t *i, uint64_t *out)
{
	uint64_t x = 0;
	size_t start = *i;
	bool overflow = false;

	for (; is_digit(s[*i]); (*i)++) {
		unsigned d = (unsigned)(s[*i] - '0');

		if (x > (UINT64_MAX - d) / 10)
			overflow = true;
		x = x * 10 + d;
	}
	if (*i == start)
		return -EINVAL;
	*out = x;
	return overflow ? -ERANGE : 0;
}

static int parse_bool(const char *s, bool *out, char *why)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return keel_errf(why, -EINVAL, "expected true, false, 1 or 0");
	return 0;
}

static int parse_int64(const char *s, int64_t *out, char *why)
{
	bool neg = s[0] == '-';
	size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
	uint64_t x;
	int rv = parse_digits(s, &i, &x);

	if (rv == -EINVAL || s[i] != '\0')
		return keel_errf(why, -EINVAL, "expected an integer");
	if (rv == -ERANGE || x > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
		return keel_errf(why, -EINVAL, "out of range");
	*out = neg ? (int64_t)(0 - x) : (int64_t)x;
	return 0;
}

static int parse_uint64(const char *s, uint64_t *out, char *why)
{
	size_t i = 0;
	int rv = parse_digits(s, &i, out);

	if (rv == -EINVAL || s[i] != '\0')
		return keel_errf(why, -EINVAL, "expected a non-negative integer");
	if (rv == -ERANGE)
		return keel_errf(why, -EINVAL, "out of range");
	return 0;
}

static int parse_double(const char *s, double *out, char *why)
{
	char *end;
	double d;

	if (s[0] == '\0' || strspn(s, "0123456789.eE+-") != strlen(s))
		return keel_errf(why, -EINVAL, "expected a number");
	errno = 0;
	d = strtod(s, &end);
	if (*end != '\0' || end == s)
		return keel_errf(why, -EINVAL, "expected a number");
	if (errno == ERANGE || !isfinite(d))
		return keel_errf(why, -EINVAL, "out of range");
	*out = d;
	return 0;
}

int keel_parse_duration(const char *s, int64_t *ns, char *why)
{
	size_t i = 0, j, k = 0;
	uint64_t whole = 0, frac = 0, mult = 0;
	unsigned __int128 total;
	int rv;

	if (is_digit(s[0])) {
		rv = parse_digits(s, &i, &whole);
		if (rv < 0)
			return keel_errf(why, -EINVAL, "out of range");
	}
	if (s[i] == '.') {
		i++;
		/* Up to 18 fraction digits count; later ones are below a nanosecond. */
		while (is_digit(s[i])) {
			if (k < 18) {
				frac = frac * 10 + (uint64_t)(s[i] - '0');
				k++;
			}
			i++;
		}
		if (k == 0 && i == 1)
			return keel_errf(why, -EINVAL,
					 "expected a number and a unit, as in 10secs");
	} else if (i == 0) {
		return keel_errf(why, -EINVAL, "expected a number and a unit, as in 10secs");
	}
	for (j = 0; j < KEEL_ARRAY_SIZE(duration_units); j++)
		if (strcmp(s + i, duration_units[j].name) == 0)
			mult = duration_units[j].mult;
	if (mult == 0)
		return keel_errf(
		    why, -EINVAL,
		    "unknown duration unit '%.16s'; use ns, us, ms, secs, mins, hrs, days "
		    "or weeks",
		    s + i);
	total = (unsigned __int128)whole * mult;
	if (k > 0) {
		unsigned __int128 p10 = 1;

		for (j = 0; j < k; j++)
			p10 *= 10;
		total += (unsigned __int128)frac * mult / p10;
	}
	if (total > (unsigned __int128)INT64_MAX)
		return keel_errf(why, -EINVAL, "out of range");
	*ns = (int64_t)total;
	return 0;
}

int keel_parse_bytes(const char *s, uint64_t *bytes, char *why)
{
	size_t i = 0, j;
	uint64_t n, mult = 0;
	int rv = parse_digits(s, &i, &n);

	if (rv == -ERANGE)
		return keel_errf(why, -EINVAL, "out of range");
	if (s[i] == '.')
		return keel_errf(why, -EINVAL, "fractional bytes are not allowed");
	if (rv == -EINVAL)
		return keel_errf(why, -EINVAL, "expected a number and a unit, as in 512MB");
	for (j = 0; j < KEEL_ARRAY_SIZE(bytes_units); j++)
		if (strcasecmp(s + i, bytes_units[j].name) == 0)
			mult = bytes_units[j].mult;
	if (mult == 0)
		return keel_errf(why, -EINVAL,
				 "unknown bytes unit '%.16s'; use B, KB, MB, GB or TB", s + i);
	if (n > UINT64_MAX / mult)
		return keel_errf(why, -EINVAL, "out of range");
	*bytes = n * mult;
	return 0;
}

static int parse_enum(const struct keel_flag *fl, const char *s, int *out, char *why)
{
	char list[KEEL_ERRMSG_SIZE];
	size_t used = 0;
	int i;

	for (i = 0; fl->choices != NULL && fl->choices[i] != NULL; i++) {
		if (strcmp(s, fl->choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; fl->choices != NULL && fl->choices[i] != NULL && used < sizeof(list); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "",
				 fl->choices[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	return keel_errf(why, -EINVAL, "must be one of: %s", list);
}

int keel_flag_value_parse(const struct keel_flag *fl, const char *s, union keel_flag_val *v,
			  char *why)
{
	switch (fl->type) {
	case KEEL_FLAG_BOOL:
		return parse_bool(s, &v->b, why);
	case KEEL_FLAG_INT64:
		return parse_int64(s, &v->i, why);
	case KEEL_FLAG_UINT64:
		return parse_uint64(s, &v->u, why);
	case KEEL_FLAG_DOUBLE:
		return parse_double(s, &v->d, why);
	case KEEL_FLAG_STRING:
		v->s = s;
		return 0;
	case KEEL_FLAG_DURATION:
		return keel_parse_duration(s, &v->i, why);
	case KEEL_FLAG_BYTES:
		return keel_parse_bytes(s, &v->u, why);
	case KEEL_FLAG_ENUM:
		return parse_enum(fl, s, &v->e, why);
	}
	return keel_errf(why, -EINVAL, "unknown flag type %d", (int)fl->type);
}

int keel_flag_value_cmp(const struct keel_flag *fl, const union keel_flag_val *a,
			const union keel_flag_val *b)
{
	switch (fl->type) {
	case KEEL_FLAG_INT64:
	case KEEL_FLAG_DURATION:
		return (a->i > b->i) - (a->i < b->i);
	case KEEL_FLAG_UINT64:
	case KEEL_FLAG_BYTES:
		return (a->u > b->u) - (a->u < b->u);
	case KEEL_FLAG_DOUBLE:
		return (a->d > b->d) - (a->d < b->d);
	default:
		return 0;
	}
}

int keel_flag_value_check(const struct keel_flag *fl, const struct keel_flag_state *st,
			  const union keel_flag_val *v, char *why)
{
	if (st->has_min && keel_flag_value_cmp(fl, v, &st->min) < 0)
		return keel_errf(why, -EINVAL, "must be >= %s", fl->min);
	if (st->has_max && keel_flag_value_cmp(fl, v, &st->max) > 0)
		return keel_errf(why, -EINVAL, "must be <= %s", fl->max);
	return 0;
}

void keel_flag_value_store(const struct keel_flag *fl, const union keel_flag_val *v)
{
	switch (fl->type) {
	case KEEL_FLAG_BOOL:
		*(bool *)fl->value = v->b;
		break;
	case KEEL_FLAG_INT64:
	case KEEL_FLAG_DURATION:
		*(int64_t *)fl->value = v->i;
		break;
	case KEEL_FLAG_UINT64:
	case KEEL_FLAG_BYTES:
		*(uint64_t *)fl->value = v->u;
		break;
	case KEEL_FLAG_DOUBLE:
		*(double *)fl->value = v->d;
		break;
	case KEEL_FLAG_STRING:
		*(const char **)fl->value = v->s;
		break;
	case KEEL_FLAG_ENUM:
		*(int *)fl->value = v->e;
		break;
	}
}

/* Formats n in the largest unit of units[] that divides it exactly. */
static char *format_units(uint64_t n, const char *sign, const struct unit *units, size_t nunits,
			  char *buf, size_t size)
{
	size_t j = nunits;

	while (j > 1 && (n == 0 || n % units[j - 1].mult != 0))
		j--;
	snprintf(buf, size, "%s%llu%s", sign, (unsigned long long)(n / units[j - 1].mult),
		 units[j - 1].name);
	return buf;
}

char *keel_format_duration(int64_t ns, char *buf, size_t size)
{
	uint64_t mag = ns < 0 ? 0 - (uint64_t)ns : (uint64_t)ns;

	return format_units(mag, ns < 0 ? "-" : "", duration_units, KEEL_ARRAY_SIZE(duration_units),
			    buf, size);
}

char *keel_format_bytes(uint64_t bytes, char *buf, size_t size)
{
	return format_units(bytes, "", bytes_units, KEEL_ARRAY_SIZE(bytes_units), buf, size);
}

/* The shortest %g form that reads back as the same double. */
static char *format_double(double d, char *buf, size_t size)
{
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return buf;
}

const char *keel_flag_value_format(const struct keel_flag *fl, char *buf, size_t size)
{
	int e;

	switch (fl->type) {
	case KEEL_FLAG_BOOL:
		return *(const bool *)fl->value ? "true" : "false";
	case KEEL_FLAG_INT64:
		snprintf(buf, size, "%lld", (long long)*(const int64_t *)fl->value);
		return buf;
	case KEEL_FLAG_UINT64:
		snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)fl->value);
		return buf;
	case KEEL_FLAG_DOUBLE:
		return format_double(*(const double *)fl->value, buf, size);
	case KEEL_FLAG_STRING:
		return *(char *const *)fl->value;
	case KEEL_FLAG_DURATION:
		return keel_format_duration(*(const int64_t *)fl->value, buf, size);
	case KEEL_FLAG_BYTES:
		return keel_format_bytes(*(const uint64_t *)fl->value, buf, size);
	case KEEL_FLAG_ENUM:
		e = *(const int *)fl->value;
		for (int i = 0; fl->choices != NULL && fl->choices[i] != NULL; i++)
			if (i == e)
				return fl->choices[i];
		snprintf(buf, size, "%d", e);
		return buf;
	}
	return NULL;
}
