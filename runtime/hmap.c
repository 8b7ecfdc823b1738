/* A string-keyed hash map (open addressing, linear probing, backward-shift deletion). */
#include "hmap.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"

uint64_t keel_hmap_hash(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	/* FNV's low bits are weak for short keys that differ at the end: mix. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t hmap_find(const struct keel_hmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)h & mask;

	while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
		i = (i + 1) & mask;
	return i;
}

void *keel_hmap_get(const struct keel_hmap *m, const char *key)
{
	size_t i;

	if (m->count == 0)
		return NULL;
	i = hmap_find(m, key, keel_hmap_hash(key, strlen(key)));
	return m->slots[i].key ? m->slots[i].value : NULL;
}

static int hmap_grow(struct keel_hmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct keel_hmap_slot *old = m->slots;
	size_t old_cap = m->cap;
	struct keel_hmap_slot *slots = keel_calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	m->slots = slots;
	m->cap = cap;
	for (size_t j = 0; j < old_cap; j++) {
		size_t i;

		if (!old[j].key)
			continue;
		i = (size_t)old[j].hash & (cap - 1);
		while (slots[i].key)
			i = (i + 1) & (cap - 1);
		slots[i] = old[j];
	}
	keel_free(old);
	return 0;
}

int keel_hmap_put(struct keel_hmap *m, const char *key, void *value, void **old)
{
	uint64_t h = keel_hmap_hash(key, strlen(key));
	size_t i;

	if ((m->count + 1) * 4 > m->cap * 3) {
		if (m->count > 0) {
			i = hmap_find(m, key, h);
			if (m->slots[i].key)
				goto replace;
		}
		if (hmap_grow(m) < 0)
			return -ENOMEM;
	}
	i = hmap_find(m, key, h);
	if (m->slots[i].key)
		goto replace;
	m->slots[i] = (struct keel_hmap_slot){.key = key, .value = value, .hash = h};
	m->count++;
	return 0;
replace:
	if (old)
		*old = m->slots[i].value;
	m->slots[i].key = key;
	m->slots[i].value = value;
	return 1;
}

void *keel_hmap_del(struct keel_hmap *m, const char *key)
{
	size_t mask, i, j;
	void *value;

	if (m->count == 0)
		return NULL;
	mask = m->cap - 1;
	i = hmap_find(m, key, keel_hmap_hash(key, strlen(key)));
	if (!m->slots[i].key)
		return NULL;
	value = m->slots[i].value;
	/* Backward shift: pull later members of the run into the hole when their home allows. */
	j = i;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->slots[j].key)
			break;
		home = (size_t)m->slots[j].hash & mask;
		/* Leave j where it is when its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		m->slots[i] = m->slots[j];
		i = j;
	}
	m->slots[i] = (struct keel_hmap_slot){0};
	m->count--;
	return value;
}

/*
 * *pos packs the iteration's start (an empty slot e, plus one) in the high 32
 * bits and the slots visited in the low 32. The walk goes from e-1 downwards
 * (against the probe direction): a run of occupied slots never contains e, and
 * deleting the entry just returned only moves entries of the same run that
 * lie above it, which were visited already, into slots also visited.
 */
bool keel_hmap_next(const struct keel_hmap *m, size_t *pos, const char **key, void **value)
{
	size_t mask, e, k;

	if (m->cap == 0)
		return false;
	mask = m->cap - 1;
	if (*pos == 0) {
		if (m->count == 0)
			return false;
		for (e = 0; m->slots[e].key; e++)
			;
		*pos = (size_t)(e + 1) << 32;
	}
	e = (size_t)(*pos >> 32) - 1;
	k = *pos & 0xffffffffu;
	while (++k < m->cap) {
		const struct keel_hmap_slot *sl = &m->slots[(e - k) & mask];

		if (sl->key) {
			*key = sl->key;
			*value = sl->value;
			*pos = ((size_t)(e + 1) << 32) | k;
			return true;
		}
	}
	*pos = ((size_t)(e + 1) << 32) | (m->cap - 1);
	return false;
}

void keel_hmap_clear(struct keel_hmap *m)
{
	if (m->slots)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->count = 0;
}

void keel_hmap_free(struct keel_hmap *m)
{
	keel_free(m->slots);
	*m = (struct keel_hmap){0};
}
