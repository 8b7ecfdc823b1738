/* A string-keyed hash map (open addressing, linear probing, backward-shift deletion). */
#ifndef KEEL_RUNTIME_HMAP_H
#define KEEL_RUNTIME_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Maps NUL-terminated string keys to non-NULL void * values. The map does not
 * copy keys: a key must stay valid and unchanged while it is in the map
 * (typically it points into the value, e.g. an agent's ID string). Lookups,
 * insertions and deletions are O(1) on average; the table doubles when 3/4
 * full and never shrinks (keel_hmap_clear keeps the memory). Iteration order
 * is unspecified; deleting the entry an iterator just returned is allowed.
 * A zeroed struct is an empty map.
 */
struct keel_hmap_slot {
	const char *key; /* NULL: empty */
	void *value;	 /* what the key maps to */
	uint64_t hash;	 /* the key's hash */
};

struct keel_hmap {
	struct keel_hmap_slot *slots; /* cap slots, or NULL while empty */
	size_t cap;		      /* a power of two, or 0 */
	size_t count;		      /* entries */
};

/* The hash keel_hmap uses (64-bit FNV-1a finished with a mixer). */
uint64_t keel_hmap_hash(const char *key, size_t len);

/* The value of key, or NULL. */
void *keel_hmap_get(const struct keel_hmap *m, const char *key);

/*
 * Maps key to value (value not NULL). Returns 0 (inserted), 1 (replaced: the
 * old value in *old when old is not NULL, and the stored key pointer becomes
 * `key`), or -ENOMEM (nothing changed).
 */
int keel_hmap_put(struct keel_hmap *m, const char *key, void *value, void **old);

/* Removes key; returns its value or NULL when absent. */
void *keel_hmap_del(struct keel_hmap *m, const char *key);

/*
 * Iterates: start with *pos = 0; returns true with *key and *value set, false at
 * the end. The entry just returned may be removed (keel_hmap_del) and the
 * iteration continued: every other entry is still returned exactly once.
 * Other insertions or removals during an iteration are not allowed.
 */
bool keel_hmap_next(const struct keel_hmap *m, size_t *pos, const char **key, void **value);

/* Removes every entry, keeps the table. */
void keel_hmap_clear(struct keel_hmap *m);

/* Frees the table (not keys or values) and zeroes m. */
void keel_hmap_free(struct keel_hmap *m);

#endif
