/* CRC-32C (Castagnoli), the checksum of every replog storage record. */
#ifndef KEEL_REPLOG_CRC32C_H
#define KEEL_REPLOG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extends `crc` (0 to start) over `len` bytes at `p` and returns the new
 * value. Pure function, no state, safe from any thread. crc32c("123456789")
 * is 0xe3069283.
 */
uint32_t replog_crc32c(uint32_t crc, const void *p, size_t len);

#endif
