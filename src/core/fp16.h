/* fp16.h — IEEE half and bfloat16 <-> f32, scalar (the reference for the SIMD conversions). */
#ifndef GPTC_FP16_H
#define GPTC_FP16_H

#include <stdint.h>
#include <string.h>

static inline float gptc_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t gptc_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float gptc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return gptc_f32_from_bits(sign);
        /* subnormal: man * 2^-24 */
        float f = (float)man * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    if (exp == 31) /* inf; NaN is quieted and keeps its payload, as F16C's vcvtph2ps does */
        return gptc_f32_from_bits(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0));
    return gptc_f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

/* round to nearest even, overflow to inf, NaN stays NaN (quieted, top payload bits kept): bit
 * for bit what F16C's vcvtps2ph does in round-to-nearest mode, checked over all 2^32 floats */
static inline uint16_t gptc_f32_to_f16(float f)
{
    uint32_t x = gptc_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        float a = gptc_f32_from_bits(ax);
        /* a * 2^24, rounded to nearest even by the FPU's default mode */
        float m = a * 16777216.0f;
        uint32_t mi = (uint32_t)m;
        float frac = m - (float)mi;
        if (frac > 0.5f || (frac == 0.5f && (mi & 1))) mi++;
        return (uint16_t)(sign | mi);
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1); /* round to nearest even at bit 13 */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static inline float gptc_bf16_to_f32(uint16_t b)
{
    return gptc_f32_from_bits((uint32_t)b << 16);
}

static inline uint16_t gptc_f32_to_bf16(float f)
{
    uint32_t x = gptc_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

#endif
