/* Resource vectors to and from mesos.v1.Resource messages (the only file that sees protobuf). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "master/allocator_int.h"
#include "master/allocator_proto.h"
#include "runtime/alloc.h"

/* The reservation role of m (NULL: unreserved); -EINVAL for a bad one. */
static int proto_role(struct allocator *a, const Mesos__V1__Resource *m, uint32_t *role)
{
	const char *name = NULL;
	struct role *r;
	int rv;

	*role = 0;
	if (m->n_reservations > 0) {
		const Mesos__V1__Resource__ReservationInfo *last =
		    m->reservations[m->n_reservations - 1];

		name = last ? last->role : NULL;
		if (!name || !name[0] || strcmp(name, "*") == 0)
			return keel_errf(a->errmsg, -EINVAL,
					 "resource %s: reservation without a role", m->name);
	} else if (m->role && strcmp(m->role, "*") != 0) {
		name = m->role;
	}
	if (!name)
		return 0;
	rv = alloc_role_get(a, name, strlen(name), true, &r);
	if (rv < 0)
		return keel_errwrap(a->errmsg, rv, "resource %s", m->name);
	*role = r->id;
	return 0;
}

/* One Resource message as a one-entry vector. */
static int proto_one(struct allocator *a, const Mesos__V1__Resource *m, struct allocator_res **out)
{
	uint32_t name, role, cnt = 0;
	uint64_t *w = NULL;
	int64_t scalar = 0;
	int rv;

	if (!m || !m->name || !m->name[0])
		return keel_errf(a->errmsg, -EINVAL, "resource without a name");
	if (m->provider_id || m->revocable || m->shared ||
	    (m->disk && (m->disk->persistence || m->disk->source)))
		return keel_errf(
		    a->errmsg, -ENOTSUP,
		    "resource %s: providers, disk sources, volumes, revocable and shared "
		    "resources are not supported yet",
		    m->name);
	rv = alloc_intern_id(a, &a->names, m->name, strlen(m->name), &name);
	if (rv == 0)
		rv = proto_role(a, m, &role);
	if (rv < 0)
		return rv;
	switch (m->type) {
	case MESOS__V1__VALUE__TYPE__SCALAR: {
		double v = m->scalar ? m->scalar->value : -1;

		if (!isfinite(v) || v < 0 || v > (double)ALLOCATOR_SCALAR_MAX / 1000)
			return keel_errf(a->errmsg, -EINVAL, "resource %s: bad scalar", m->name);
		scalar = llround(v * 1000);
		return alloc_res_single(a, name, role, RES_SCALAR, scalar, NULL, 0, out);
	}
	case MESOS__V1__VALUE__TYPE__RANGES:
		if (!m->ranges)
			return keel_errf(a->errmsg, -EINVAL, "resource %s: no ranges", m->name);
		cnt = (uint32_t)KEEL_MIN(m->ranges->n_range, (size_t)1 << 24);
		if (cnt != m->ranges->n_range)
			return keel_errf(a->errmsg, -EINVAL, "resource %s: too many ranges",
					 m->name);
		w = keel_malloc((size_t)cnt * 2 * sizeof(*w) + 1);
		if (!w)
			return keel_errf(a->errmsg, -ENOMEM, "out of memory");
		for (uint32_t i = 0; i < cnt; i++) {
			if (!m->ranges->range[i]) {
				keel_free(w);
				return keel_errf(a->errmsg, -EINVAL, "resource %s: bad range",
						 m->name);
			}
			w[2 * i] = m->ranges->range[i]->begin;
			w[2 * i + 1] = m->ranges->range[i]->end;
		}
		rv = alloc_res_single(a, name, role, RES_RANGES, 0, w, cnt, out);
		keel_free(w);
		return rv;
	case MESOS__V1__VALUE__TYPE__SET:
		if (!m->set)
			return keel_errf(a->errmsg, -EINVAL, "resource %s: no set", m->name);
		cnt = (uint32_t)KEEL_MIN(m->set->n_item, (size_t)1 << 24);
		if (cnt != m->set->n_item)
			return keel_errf(a->errmsg, -EINVAL, "resource %s: too many items",
					 m->name);
		w = keel_malloc((size_t)cnt * sizeof(*w) + 1);
		if (!w)
			return keel_errf(a->errmsg, -ENOMEM, "out of memory");
		for (uint32_t i = 0; rv == 0 && i < cnt; i++) {
			uint32_t id = 0;
			const char *item = m->set->item[i];

			rv = item ? alloc_intern_id(a, &a->items, item, strlen(item), &id)
				  : keel_errf(a->errmsg, -EINVAL, "resource %s: bad item", m->name);
			w[i] = id;
		}
		if (rv == 0)
			rv = alloc_res_single(a, name, role, RES_SET, 0, w, cnt, out);
		keel_free(w);
		return rv;
	default:
		return keel_errf(a->errmsg, -EINVAL,
				 "resource %s: type must be SCALAR, RANGES or SET", m->name);
	}
}

int allocator_res_from_proto(struct allocator *a, Mesos__V1__Resource *const *rs, size_t n,
			     struct allocator_res **out)
{
	struct allocator_res *sum = allocator_res_ref(a->empty);

	for (size_t i = 0; i < n; i++) {
		struct allocator_res *one, *next;
		int rv = proto_one(a, rs[i], &one);

		if (rv == 0) {
			rv = allocator_res_add(a, sum, one, &next);
			allocator_res_unref(one);
		}
		if (rv < 0) {
			allocator_res_unref(sum);
			return rv;
		}
		allocator_res_unref(sum);
		sum = next;
	}
	*out = sum;
	return 0;
}

void allocator_res_proto_free(Mesos__V1__Resource **rs, size_t n)
{
	for (size_t i = 0; rs && i < n; i++)
		if (rs[i])
			protobuf_c_message_free_unpacked(&rs[i]->base, NULL);
	keel_free(rs);
}

/* Fills m from entry e of r; on failure m holds what was built so far (freeable). */
static int proto_fill(const struct allocator *a, const struct allocator_res *r,
		      const struct res_entry *e, const char *allocation_role, bool refinement,
		      Mesos__V1__Resource *m)
{
	const uint64_t *w = res_payload(r) + (e->type == RES_SCALAR ? 0 : e->off);

	m->name = keel_strdup(a->names.strs[e->name]);
	if (!m->name)
		return -ENOMEM;
	if (e->type == RES_SCALAR) {
		m->type = MESOS__V1__VALUE__TYPE__SCALAR;
		m->scalar = keel_malloc(sizeof(*m->scalar));
		if (!m->scalar)
			return -ENOMEM;
		mesos__v1__value__scalar__init(m->scalar);
		m->scalar->value = (double)e->scalar / 1000.0;
	} else if (e->type == RES_RANGES) {
		m->type = MESOS__V1__VALUE__TYPE__RANGES;
		m->ranges = keel_malloc(sizeof(*m->ranges));
		if (!m->ranges)
			return -ENOMEM;
		mesos__v1__value__ranges__init(m->ranges);
		m->ranges->range = keel_calloc(e->cnt, sizeof(*m->ranges->range));
		if (!m->ranges->range)
			return -ENOMEM;
		for (uint32_t k = 0; k < e->cnt; k++) {
			Mesos__V1__Value__Range *x = keel_malloc(sizeof(*x));

			if (!x)
				return -ENOMEM;
			mesos__v1__value__range__init(x);
			x->begin = w[2 * k];
			x->end = w[2 * k + 1];
			m->ranges->range[m->ranges->n_range++] = x;
		}
	} else {
		m->type = MESOS__V1__VALUE__TYPE__SET;
		m->set = keel_malloc(sizeof(*m->set));
		if (!m->set)
			return -ENOMEM;
		mesos__v1__value__set__init(m->set);
		m->set->item = keel_calloc(e->cnt, sizeof(*m->set->item));
		if (!m->set->item)
			return -ENOMEM;
		for (uint32_t k = 0; k < e->cnt; k++) {
			char *s = keel_strdup(a->items.strs[w[k]]);

			if (!s)
				return -ENOMEM;
			m->set->item[m->set->n_item++] = s;
		}
	}
	if (e->role && refinement) {
		Mesos__V1__Resource__ReservationInfo *ri = keel_malloc(sizeof(*ri));

		m->reservations = keel_calloc(1, sizeof(*m->reservations));
		if (!ri || !m->reservations) {
			keel_free(ri);
			return -ENOMEM;
		}
		mesos__v1__resource__reservation_info__init(ri);
		m->reservations[m->n_reservations++] = ri;
		ri->has_type = 1;
		ri->type = MESOS__V1__RESOURCE__RESERVATION_INFO__TYPE__STATIC;
		ri->role = keel_strdup(a->roles[e->role]->name);
		if (!ri->role)
			return -ENOMEM;
	} else if (e->role) {
		m->role = keel_strdup(a->roles[e->role]->name);
		if (!m->role) {
			m->role = mesos__v1__resource__role__default_value;
			return -ENOMEM;
		}
	}
	if (allocation_role) {
		m->allocation_info = keel_malloc(sizeof(*m->allocation_info));
		if (!m->allocation_info)
			return -ENOMEM;
		mesos__v1__resource__allocation_info__init(m->allocation_info);
		m->allocation_info->role = keel_strdup(allocation_role);
		if (!m->allocation_info->role)
			return -ENOMEM;
	}
	return 0;
}

int allocator_res_to_proto(const struct allocator *a, const struct allocator_res *r,
			   const char *allocation_role, bool refinement, Mesos__V1__Resource ***out,
			   size_t *n)
{
	Mesos__V1__Resource **v = keel_calloc(r->n + 1, sizeof(*v));
	size_t made = 0;

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->n; i++) {
		Mesos__V1__Resource *m = keel_malloc(sizeof(*m));

		if (!m)
			goto oom;
		mesos__v1__resource__init(m);
		v[made++] = m;
		if (proto_fill(a, r, &r->e[i], allocation_role, refinement, m) < 0)
			goto oom;
	}
	*out = v;
	*n = made;
	return 0;
oom:
	allocator_res_proto_free(v, made);
	return -ENOMEM;
}
