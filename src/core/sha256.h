/*
 * sha256.h — SHA-256 (FIPS 180-4), to check data files the project ships (the tiktoken rank
 * files) against their published digests.
 */
#ifndef GPTC_SHA256_H
#define GPTC_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct gptc_sha256_ctx {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t buf[64];
    size_t n_buf;
} gptc_sha256_ctx;

void gptc_sha256_init(gptc_sha256_ctx *c);
void gptc_sha256_update(gptc_sha256_ctx *c, const void *data, size_t len);
void gptc_sha256_final(gptc_sha256_ctx *c, uint8_t digest[32]);
/* One call: the digest of len bytes as 64 lowercase hex digits and a NUL. */
void gptc_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
