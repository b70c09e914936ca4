/*
 * blocks.h — the byte layout of every quantized block gptc computes with, exactly as GGUF files
 * store them (ggml's block_* structs, little-endian, no padding). static_assert pins each size,
 * so a layout mistake fails the build instead of misreading files.
 *
 * The layouts live in one header rather than in each format's .c because the SIMD kernels
 * (qmm_avx2.c, qmm_avx512.c) read the same structs; each format's .c (q4_0.c ...) holds the
 * scalar reference that defines what the bytes mean.
 *
 * Notation: d (and m, dmin) are IEEE half scales stored as uint16; an element is
 * x = d * q (+ m) with q the integer code. QK = 32 elements per block for the simple formats,
 * QK_K = 256 per super-block for the K formats.
 */
#ifndef GPTC_QUANT_BLOCKS_H
#define GPTC_QUANT_BLOCKS_H

#include <assert.h>
#include <stdint.h>
#include <string.h>

#define QK 32
#define QK_K 256

/* Q8_0: x = d * q, q in [-127, 127]. Also the activation format of Q4_0, Q5_0, Q8_0 dots. */
typedef struct {
    uint16_t d;
    int8_t qs[QK];
} block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");

/* Q8_1: Q8_0 plus s = d * sum(q) (an f16), the activation format of Q4_1 and Q5_1 dots. */
typedef struct {
    uint16_t d;
    uint16_t s;
    int8_t qs[QK];
} block_q8_1;
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 layout");

/* Q4_0: x = d * (q - 8), q in [0, 15]; qs[j] holds element j (low nibble) and j + 16 (high). */
typedef struct {
    uint16_t d;
    uint8_t qs[QK / 2];
} block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");

/* Q4_1: x = d * q + m, q in [0, 15], nibbles as Q4_0. */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[QK / 2];
} block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");

/* Q5_0: x = d * (q - 16), q in [0, 31]: low 4 bits as Q4_0's nibbles, bit 4 of element j is
 * bit j of the little-endian uint32 qh. */
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[QK / 2];
} block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");

/* The 32 five-bit codes of a Q5_0/Q5_1 block from its qh and qs. */
static inline void gptc_q5_codes(const uint8_t qh4[4], const uint8_t qs[QK / 2], int q[QK])
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    for (int j = 0; j < QK / 2; j++) {
        q[j] = (qs[j] & 15) | (int)(qh >> j & 1) << 4;
        q[j + QK / 2] = (qs[j] >> 4) | (int)(qh >> (j + QK / 2) & 1) << 4;
    }
}

/* Q5_1: x = d * q + m, q in [0, 31], bits as Q5_0. */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[QK / 2];
} block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");

/* Q4_K: 8 sub-blocks of 32; x = d * sc[j] * q - dmin * m[j], q in [0, 15], sc and m 6-bit.
 * scales (12 bytes): for j < 4, sc[j] = scales[j] & 63 and m[j] = scales[j + 4] & 63; for
 * j >= 4, sc[j] = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4 and
 * m[j] = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4.
 * qs: for each 64 elements, 32 bytes: low nibbles = sub-block 2i, high nibbles = 2i + 1. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[QK_K / 2];
} block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");

/* Q5_K: Q4_K plus a fifth bit: bit 4 of element l of sub-block j is bit j of qh[l]. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");

/* Q6_K: 16 groups of 16; x = d * scales[e / 16] * (q - 32), q in [0, 63].
 * For each half h (128 elements, ql + 64h, qh + 32h) and l < 32: element l takes the low
 * nibble of ql[l], l + 32 the low nibble of ql[l + 32], l + 64 the high nibble of ql[l],
 * l + 96 the high nibble of ql[l + 32]; their bits 4-5 are bits 0-1, 2-3, 4-5, 6-7 of qh[l]. */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");

/* Q8_K: the activation format of the K dots: x = d * q (d a float), with bsums[g] the sum of
 * the 16 codes of group g (Q4_K and Q5_K need the mins' corrections, Q6_K the offset 32). */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

/* Q2_K: 16 groups of 16; x = d * (sc & 15) * q - dmin * (sc >> 4), q in [0, 3], sc = scales[g].
 * qs: for each half h (128 elements, qs + 32h) and l < 32: element 128h + 32j + l is bits
 * 2j..2j+1 of qs[32h + l] (j < 4). */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");

/* Q3_K: 16 groups of 16; x = d * (sc[g] - 32) * (q - 4), q in [0, 7], sc 6-bit.
 * The low 2 bits of q as Q2_K's qs; bit 2 of element e is bit e / 32 of hmask[e % 32].
 * scales (12 bytes): the low nibble of sc[g] is scales[g] & 15 (g < 8) or scales[g - 8] >> 4,
 * its high 2 bits are bits 2(g / 4)..2(g / 4)+1 of scales[8 + g % 4]. */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");

/* The non-linear 4-bit grid of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl). */
static const int8_t gptc_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                             1,    13,   25,  38,  53,  69,  89,  113};

/* IQ4_NL: x = d * values[q], nibbles as Q4_0 (byte j: element j low, j + 16 high). */
typedef struct {
    uint16_t d;
    uint8_t qs[QK / 2];
} block_iq4_nl;
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl layout");

/* IQ4_XS: 8 sub-blocks of 32; x = d * (ls - 32) * values[q], ls 6-bit: low nibble
 * (scales_l[ib / 2] >> 4 (ib % 2)) & 15, high 2 bits (scales_h >> 2 ib) & 3; each sub-block's
 * 16 qs bytes hold its nibbles as IQ4_NL's. */
typedef struct {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs layout");

/* The E2M1 values of MXFP4 codes, doubled to integers (ggml's kvalues_mxfp4): code c means
 * values[c] / 2. */
static const int8_t gptc_mxfp4_values[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                             0, -1, -2, -3, -4, -6, -8, -12};

/* MXFP4 (OCP microscaling FP4, GGUF type 39): x = 2^(e - 127) * E2M1(q) = gptc_e8m0_half(e) *
 * values[q]; nibbles as Q4_0's. */
typedef struct {
    uint8_t e;
    uint8_t qs[QK / 2];
} block_mxfp4;
static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4 layout");

/* 2^(e - 128), i.e. half the E8M0 scale e (exact; e < 2 gives the subnormals 2^-128, 2^-127).
 * e = 255, NaN in the OCP spec, reads as 2^127, as ggml reads it; files are checked for it
 * (gptc_quant_check). */
static inline float gptc_e8m0_half(uint8_t e)
{
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#endif
