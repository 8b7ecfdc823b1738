/* SHA-256 (FIPS 180-4) for content-addressed image blobs and layers. */
#ifndef KEEL_CTR_SHA256_H
#define KEEL_CTR_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Incremental hashing state; zero-initialise with ctr_sha256_init. */
struct ctr_sha256 {
	uint32_t h[8];	 /* chaining value */
	uint64_t len;	 /* bytes hashed so far */
	uint8_t buf[64]; /* partial block */
	size_t used;	 /* bytes in buf */
};

void ctr_sha256_init(struct ctr_sha256 *s);
void ctr_sha256_update(struct ctr_sha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest. */
void ctr_sha256_final(struct ctr_sha256 *s, uint8_t out[32]);
/* Writes "sha256:" and 64 lower-case hex digits plus NUL (72 bytes). */
void ctr_sha256_final_str(struct ctr_sha256 *s, char out[72]);

#endif
