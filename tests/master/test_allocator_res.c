/* Unit tests of the allocator's resource vectors: text form, arithmetic, the protobuf edge. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "master/allocator.h"
#include "master/allocator_proto.h"
#include "runtime/alloc.h"

static struct allocator *mk(void)
{
	struct allocator *a = NULL;
	char err[KEEL_ERRMSG_SIZE];

	if (allocator_new(NULL, &a, err) < 0)
		th_fail(__FILE__, __LINE__, "allocator_new: %s", err);
	return a;
}

static struct allocator_res *P(struct allocator *a, const char *text)
{
	struct allocator_res *r = NULL;
	int rv = allocator_res_parse(a, text, &r);

	if (rv < 0)
		th_fail(__FILE__, __LINE__, "parse '%s': %s", text, allocator_errmsg(a));
	return r;
}

/* Formats r into a static buffer (tests only). */
static const char *F(struct allocator *a, const struct allocator_res *r)
{
	static char buf[1024];

	allocator_res_format(a, r, buf, sizeof(buf));
	return buf;
}

TEST(res_parse_format_canonical)
{
	struct allocator *a = mk();
	struct allocator_res *r;

	r = P(a, " mem:1024 ; cpus:4;ports:[31005-31010, 31000-31004,40000-40000];cpus:0.5;"
		 "disk(web):10;zones:{b,a,b}");
	/* Sorted by name id (gpus, cpus, mem were interned first), ranges merged, items unique
	 * (in the order they were first seen). */
	ASSERT_STR_EQ(F(a, r), "cpus:4.5;mem:1024;ports:[31000-31010,40000-40000];disk(web):10;"
			       "zones:{b,a}");
	ASSERT_INT_EQ(allocator_res_scalar(a, r, "cpus", NULL), 4500);
	ASSERT_INT_EQ(allocator_res_scalar(a, r, "disk", "web"), 10000);
	ASSERT_INT_EQ(allocator_res_scalar(a, r, "disk", "*"), 0);
	ASSERT_INT_EQ(allocator_res_scalar(a, r, "nope", NULL), 0);
	allocator_res_unref(r);
	/* Three decimal digits, rounded; zero disappears; "*" means unreserved. */
	r = P(a, "cpus(*):0.0004;mem:0.0005;disk:1.25;gpus:0");
	ASSERT_STR_EQ(F(a, r), "mem:0.001;disk:1.25");
	allocator_res_unref(r);
	r = P(a, "");
	ASSERT_TRUE(allocator_res_empty(r));
	ASSERT_UINT_EQ(allocator_res_format(a, r, NULL, 0), 0);
	allocator_res_unref(r);
	allocator_free(a);
}

TEST(res_parse_rejects_bad_text)
{
	struct allocator *a = mk();
	const char *bad[] = {
	    "cpus",	    "cpus:-1",	    "cpus:abc",	   "cpus:1e300", ":4",
	    "ports:[5-4]",  "ports:[1]",    "ports:[1-2",  "zones:{a,}", "cpus(:1",
	    "cpus():1",	    "cpus(.):1",    "cpus(a b):1", "cpus:nan",	 "ports:[a-b]",
	    "ports:[1-2,]", "ports:[,1-2]",
	};
	struct allocator_res *r = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TH_CONTEXT("%s", bad[i]);
		ASSERT_INT_EQ(allocator_res_parse(a, bad[i], &r), -EINVAL);
		ASSERT_TRUE(allocator_errmsg(a)[0] != 0);
	}
	TH_CONTEXT(NULL);
	allocator_free(a);
}

TEST(res_names_limit)
{
	struct allocator *a = mk();
	struct allocator_res *r;
	char text[32];
	int rv = 0, i;

	for (i = 0; i < 100 && rv == 0; i++) {
		snprintf(text, sizeof(text), "n%d:1", i);
		rv = allocator_res_parse(a, text, &r);
		if (rv == 0)
			allocator_res_unref(r);
	}
	ASSERT_INT_EQ(rv, -ENOSPC);
	/* gpus, cpus, mem come with the allocator. */
	ASSERT_INT_EQ(i - 1, ALLOCATOR_NAMES_MAX - 3);
	allocator_free(a);
}

TEST(res_arithmetic)
{
	struct allocator *a = mk();
	struct allocator_res *x = P(a, "cpus:4;mem:100;ports:[10-20,30-40];zones:{a,b,c}");
	struct allocator_res *y = P(a, "cpus:1.5;ports:[15-18,30-30];zones:{b}");
	struct allocator_res *z = P(a, "cpus:1;ports:[21-29]");
	struct allocator_res *d, *s, *back, *e, *z2, *rest;

	ASSERT_TRUE(allocator_res_contains(x, y));
	ASSERT_FALSE(allocator_res_contains(y, x));
	ASSERT_FALSE(allocator_res_contains(x, z));
	ASSERT_OK(allocator_res_subtract(a, x, y, &d));
	ASSERT_STR_EQ(F(a, d), "cpus:2.5;mem:100;ports:[10-14,19-20,31-40];zones:{a,c}");
	ASSERT_OK(allocator_res_add(a, d, y, &back));
	ASSERT_TRUE(allocator_res_equal(back, x));
	/* Adjacent ranges merge. */
	ASSERT_OK(allocator_res_add(a, x, z, &s));
	ASSERT_STR_EQ(F(a, s), "cpus:5;mem:100;ports:[10-40];zones:{a,b,c}");
	ASSERT_INT_EQ(allocator_res_subtract(a, y, x, &e), -EINVAL);
	ASSERT_OK(allocator_res_subtract(a, x, x, &e));
	ASSERT_TRUE(allocator_res_empty(e));
	allocator_res_unref(e);
	/* Reserved and unreserved are different resources. */
	e = P(a, "cpus(r):1");
	ASSERT_FALSE(allocator_res_contains(x, e));
	allocator_res_unref(e);
	/* Ranges at the ends of uint64. */
	e = P(a, "ports:[0-0,18446744073709551614-18446744073709551615]");
	ASSERT_STR_EQ(F(a, e), "ports:[0-0,18446744073709551614-18446744073709551615]");
	z2 = P(a, "ports:[18446744073709551615-18446744073709551615]");
	ASSERT_OK(allocator_res_subtract(a, e, z2, &rest));
	ASSERT_STR_EQ(F(a, rest), "ports:[0-0,18446744073709551614-18446744073709551614]");
	allocator_res_unref(rest);
	ASSERT_OK(allocator_res_add(a, z2, e, &rest));
	ASSERT_TRUE(allocator_res_equal(rest, e));
	allocator_res_unref(rest);
	allocator_res_unref(z2);
	allocator_res_unref(e);
	allocator_res_unref(s);
	allocator_res_unref(back);
	allocator_res_unref(z);
	allocator_res_unref(d);
	allocator_res_unref(x);
	allocator_res_unref(y);
	allocator_free(a);
}

/* Brute-force check of range arithmetic against bitsets over 0..63. */
TEST(res_ranges_match_bitsets)
{
	struct allocator *a = mk();
	uint64_t s = th_seed() | 1;

	for (int iter = 0; iter < 3000; iter++) {
		uint64_t bx = 0, by = 0;
		char tx[512], ty[512];
		struct allocator_res *x, *y, *r;
		int64_t got;
		size_t lx = 0, ly = 0;

		for (int i = 0; i < 6; i++) {
			uint64_t v;
			unsigned lo, hi;

			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			v = s;
			lo = v % 64;
			hi = lo + (unsigned)((v >> 8) % 8);
			hi = hi > 63 ? 63 : hi;
			if (i % 2 == 0) {
				lx += (size_t)snprintf(tx + lx, sizeof(tx) - lx, "%s%u-%u",
						       lx ? "," : "", lo, hi);
				for (unsigned b = lo; b <= hi; b++)
					bx |= 1ULL << b;
			} else {
				ly += (size_t)snprintf(ty + ly, sizeof(ty) - ly, "%s%u-%u",
						       ly ? "," : "", lo, hi);
				for (unsigned b = lo; b <= hi; b++)
					by |= 1ULL << b;
			}
		}
		{
			char t1[600], t2[600];

			snprintf(t1, sizeof(t1), "p:[%s]", tx);
			snprintf(t2, sizeof(t2), "p:[%s]", ty);
			x = P(a, t1);
			y = P(a, t2);
		}
		TH_CONTEXT("x=%s y=%s", tx, ty);
		ASSERT_INT_EQ(allocator_res_contains(x, y), (bx & by) == by);
		ASSERT_OK(allocator_res_add(a, x, y, &r));
		got = 0;
		{
			char out[1024], *p;

			allocator_res_format(a, r, out, sizeof(out));
			p = strchr(out, '[');
			while (p && *p && *p != ']') {
				unsigned long lo = strtoul(p + 1, &p, 10),
					      hi = strtoul(p + 1, &p, 10);

				for (unsigned long b = lo; b <= hi; b++)
					got |= (int64_t)(1ULL << b);
			}
		}
		ASSERT_UINT_EQ((uint64_t)got, bx | by);
		allocator_res_unref(r);
		if ((bx & by) == by) {
			struct allocator_res *d, *b2;

			ASSERT_OK(allocator_res_subtract(a, x, y, &d));
			ASSERT_OK(allocator_res_add(a, d, y, &b2));
			ASSERT_TRUE(allocator_res_equal(b2, x));
			ASSERT_FALSE(allocator_res_contains(d, y) && by != 0);
			allocator_res_unref(b2);
			allocator_res_unref(d);
		} else {
			ASSERT_INT_EQ(allocator_res_subtract(a, x, y, &r), -EINVAL);
		}
		allocator_res_unref(x);
		allocator_res_unref(y);
	}
	TH_CONTEXT(NULL);
	allocator_free(a);
}

/* A Resource message with a scalar, ranges or set value. */
static Mesos__V1__Resource *msg_new(const char *name, int type)
{
	Mesos__V1__Resource *m = calloc(1, sizeof(*m));

	mesos__v1__resource__init(m);
	m->name = strdup(name);
	m->type = type;
	return m;
}

static void msg_scalar(Mesos__V1__Resource *m, double v)
{
	m->scalar = calloc(1, sizeof(*m->scalar));
	mesos__v1__value__scalar__init(m->scalar);
	m->scalar->value = v;
}

static void msg_range(Mesos__V1__Resource *m, uint64_t lo, uint64_t hi)
{
	Mesos__V1__Value__Range *r = calloc(1, sizeof(*r));

	if (!m->ranges) {
		m->ranges = calloc(1, sizeof(*m->ranges));
		mesos__v1__value__ranges__init(m->ranges);
	}
	mesos__v1__value__range__init(r);
	r->begin = lo;
	r->end = hi;
	m->ranges->range = realloc(m->ranges->range, (m->ranges->n_range + 1) * sizeof(r));
	m->ranges->range[m->ranges->n_range++] = r;
}

static void msg_reserve(Mesos__V1__Resource *m, const char *role)
{
	Mesos__V1__Resource__ReservationInfo *ri = calloc(1, sizeof(*ri));

	mesos__v1__resource__reservation_info__init(ri);
	ri->role = strdup(role);
	m->reservations = realloc(m->reservations, (m->n_reservations + 1) * sizeof(ri));
	m->reservations[m->n_reservations++] = ri;
}

TEST(res_proto_round_trip)
{
	struct allocator *a = mk();
	Mesos__V1__Resource *in[5], **out;
	struct allocator_res *r, *back;
	size_t n;

	in[0] = msg_new("cpus", MESOS__V1__VALUE__TYPE__SCALAR);
	msg_scalar(in[0], 1.5);
	in[1] = msg_new("ports", MESOS__V1__VALUE__TYPE__RANGES);
	msg_range(in[1], 31010, 31020);
	msg_range(in[1], 31000, 31009);
	in[2] = msg_new("mem", MESOS__V1__VALUE__TYPE__SCALAR);
	msg_scalar(in[2], 512.0004);
	msg_reserve(in[2], "outer");
	msg_reserve(in[2], "web");
	in[3] = msg_new("disk", MESOS__V1__VALUE__TYPE__SCALAR);
	msg_scalar(in[3], 100);
	in[3]->role = strdup("db");
	in[4] = msg_new("zones", MESOS__V1__VALUE__TYPE__SET);
	in[4]->set = calloc(1, sizeof(*in[4]->set));
	mesos__v1__value__set__init(in[4]->set);
	in[4]->set->item = calloc(2, sizeof(char *));
	in[4]->set->item[0] = strdup("b");
	in[4]->set->item[1] = strdup("a");
	in[4]->set->n_item = 2;
	ASSERT_OK(allocator_res_from_proto(a, in, 5, &r));
	ASSERT_STR_EQ(F(a, r),
		      "cpus:1.5;mem(web):512;ports:[31000-31020];disk(db):100;zones:{b,a}");

	ASSERT_OK(allocator_res_to_proto(a, r, "web", true, &out, &n));
	ASSERT_UINT_EQ(n, 5);
	ASSERT_STR_EQ(out[0]->name, "cpus");
	ASSERT_TRUE(out[0]->scalar && out[0]->scalar->value == 1.5);
	ASSERT_STR_EQ(out[0]->allocation_info->role, "web");
	ASSERT_UINT_EQ(out[0]->n_reservations, 0);
	ASSERT_STR_EQ(out[1]->name, "mem");
	ASSERT_UINT_EQ(out[1]->n_reservations, 1);
	ASSERT_STR_EQ(out[1]->reservations[0]->role, "web");
	ASSERT_INT_EQ(out[1]->reservations[0]->type,
		      MESOS__V1__RESOURCE__RESERVATION_INFO__TYPE__STATIC);
	ASSERT_UINT_EQ(out[2]->ranges->n_range, 1);
	ASSERT_UINT_EQ(out[2]->ranges->range[0]->end, 31020);
	ASSERT_UINT_EQ(out[4]->set->n_item, 2);
	ASSERT_OK(allocator_res_from_proto(a, out, n, &back));
	ASSERT_TRUE(allocator_res_equal(back, r));
	allocator_res_unref(back);
	allocator_res_proto_free(out, n);

	/* The old form: `role`, no allocation_info. */
	ASSERT_OK(allocator_res_to_proto(a, r, NULL, false, &out, &n));
	ASSERT_STR_EQ(out[1]->role, "web");
	ASSERT_STR_EQ(out[0]->role, "*");
	ASSERT_NULL(out[0]->allocation_info);
	ASSERT_OK(allocator_res_from_proto(a, out, n, &back));
	ASSERT_TRUE(allocator_res_equal(back, r));
	allocator_res_unref(back);
	allocator_res_proto_free(out, n);

	/* Out of memory at every allocation: -ENOMEM, nothing leaks (ASan checks). */
	for (long k = 1;; k++) {
		int rv;

		keel_alloc_fail_after(k, false);
		rv = allocator_res_to_proto(a, r, "web", true, &out, &n);
		keel_alloc_fail_after(0, false);
		if (rv == 0) {
			allocator_res_proto_free(out, n);
			break;
		}
		ASSERT_INT_EQ(rv, -ENOMEM);
	}
	for (long k = 1;; k++) {
		int rv;

		keel_alloc_fail_after(k, false);
		rv = allocator_res_from_proto(a, in, 5, &back);
		keel_alloc_fail_after(0, false);
		if (rv == 0) {
			ASSERT_TRUE(allocator_res_equal(back, r));
			allocator_res_unref(back);
			break;
		}
		ASSERT_INT_EQ(rv, -ENOMEM);
	}
	allocator_res_unref(r);
	for (int i = 0; i < 5; i++)
		protobuf_c_message_free_unpacked(&in[i]->base, NULL);
	allocator_free(a);
}

TEST(res_proto_rejects)
{
	struct allocator *a = mk();
	Mesos__V1__Resource *m;
	struct allocator_res *r;

	m = msg_new("cpus", MESOS__V1__VALUE__TYPE__SCALAR);
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL); /* no scalar */
	msg_scalar(m, NAN);
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL);
	m->scalar->value = -1;
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL);
	m->scalar->value = 1;
	m->type = MESOS__V1__VALUE__TYPE__TEXT;
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL);
	m->type = MESOS__V1__VALUE__TYPE__RANGES;
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL); /* no ranges */
	msg_range(m, 9, 3);
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL);
	m->type = MESOS__V1__VALUE__TYPE__SET;
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL); /* no set */
	m->type = MESOS__V1__VALUE__TYPE__SCALAR;
	msg_reserve(m, "*");
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL);
	ASSERT_STR_CONTAINS(allocator_errmsg(a), "reservation without a role");
	m->n_reservations = 0;
	free(m->reservations[0]->role);
	free(m->reservations[0]);
	free(m->reservations);
	m->reservations = NULL;
	m->revocable = calloc(1, sizeof(*m->revocable));
	mesos__v1__resource__revocable_info__init(m->revocable);
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -ENOTSUP);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	m = msg_new("", MESOS__V1__VALUE__TYPE__SCALAR);
	msg_scalar(m, 1);
	ASSERT_INT_EQ(allocator_res_from_proto(a, &m, 1, &r), -EINVAL);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	allocator_free(a);
}
