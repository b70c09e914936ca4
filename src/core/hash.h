/*
 * hash.h — FNV-1a, the project's one non-cryptographic hash (hash tables, cache keys, checksums
 * of files gptc writes for itself). Streaming: start from GPTC_FNV64_INIT (or GPTC_FNV32_INIT)
 * and pass the result of one call as h to the next.
 */
#ifndef GPTC_HASH_H
#define GPTC_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GPTC_FNV64_INIT 14695981039346656037ull
#define GPTC_FNV32_INIT 2166136261u

static inline uint64_t gptc_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static inline uint32_t gptc_fnv1a32(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

#endif
