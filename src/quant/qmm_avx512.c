/*
 * qmm_avx512.c — quantized matrix products with AVX-512 (F, BW, VL, DQ) and VNNI. Compiled with
 * the AVX-512 flags of the Makefile; reached only through the avx512 ops table, which
 * dispatch.c hands out after checking the CPU (VNNI included).
 *
 * Shape letters as in ops.h: T tokens, R rows, C columns. "Pair": two 32-element blocks.
 *
 * Activations of the 32-element formats (Q8_0 for Q4_0/Q5_0/Q8_0 weights, Q8_1 for Q4_1/Q5_1)
 * are laid out per pair as one 64-byte vector of codes plus two 64-byte vectors the kernel would
 * otherwise build per token: the f16-rounded scales spread over the 16 int32 lanes (block 0 in
 * lanes 0-7, block 1 in 8-15), and either minus each lane's sum of 4 codes (Q8_0) or s/8 per
 * lane (Q8_1; s = d * sum of the block's codes). An odd last block pairs with zeros.
 *
 * The dot products use vpdpbusd (unsigned x signed bytes, 4 per int32 lane). Weight codes are
 * made unsigned: Q4_0/Q5_0 codes are stored with an offset (q + 8, q + 16) and Q8_0's get one by
 * flipping the sign bit (q + 128). The offset times the activations' sum is taken out by
 * starting the accumulation at (-lane sum) << log2(offset), so every lane holds the exact
 * integer dot of its 4 elements. Each pair then costs, per row and token: vpdpbusd, a
 * conversion, the product of the two scales and one FMA.
 *
 * K formats (Q4_K, Q5_K, Q6_K) use the standard Q8_K blocks. Codes are unsigned (Q6_K's offset
 * 32 and the mins of Q4_K/Q5_K are applied with the group sums bsums), multiplied with
 * vpmaddubsw into 16-bit pair sums and scaled by the 6/8-bit sub-block scales with vpdpwssd, so
 * a whole super-block accumulates in integers before one conversion. Q4_K and Q5_K instead take
 * raw vpdpbusd sums, packed to words and scaled with vpdpwssd, and decode the scales and mins
 * of a tile's 4 rows together (tileK4: 1.1-1.6x the prefill rate, about 1.1x in decode). Q6_K
 * takes the same path with its offset folded into the integers (prefill 1.2x, decode unchanged).
 *
 * Tiles: 4 rows x 4 tokens (32-element formats, Q4_K, Q5_K, Q6_K), 4 x 2 (other K formats) for
 * prefill, so each row's codes are unpacked once for several tokens; 4 rows x 1 token for
 * decode.
 *
 * Everything here was chosen by measurement on Zen 4 (bench/bench_quant_kernels; compute rate
 * by thread CPU time on L2-resident rows, so a busy machine does not blur it).
 *
 * Memory: decode reads each weight once; rows about PF_BYTES ahead are prefetched into L2 (the
 * range of the 4 rows there is swept in step with the tile), as core/ops_avx512.c does 8 F32
 * rows ahead. Quantized rows are short (432 bytes for Q4_0 at C = 768), so the distance is in
 * bytes, not rows: enough to cover the memory latency at full bandwidth.
 *
 * Determinism: each (t, r) has its own accumulators fed in block order and reduced by one fixed
 * tree, so results do not depend on how rows or tokens are tiled or split across threads.
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/base.h"
#include "quant/pack.h"
#include "quant/qmm.h"
#include "quant/quant.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// f16 <-> f32 with F16C: the same bits as core/fp16.h's scalar code (which checks itself against
// F16C), in one instruction
ALWAYS_INLINE float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}
ALWAYS_INLINE uint16_t f2h(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

#ifndef PF_BYTES
#define PF_BYTES 16384
#endif

// Bytes from a tile's first row to the first row prefetched: whole 4-row tiles, >= PF_BYTES.
ALWAYS_INLINE size_t pf_ahead(size_t rb)
{
    return ((PF_BYTES / 4 + rb - 1) / rb + 1) * 4 * rb;
}

ALWAYS_INLINE uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

typedef struct xq_pair {
    int8_t qs[64];
    float d[16]; // lane scales
    union {
        int32_t neg_sum[16]; // Q8_0: minus the sum of the lane's 4 codes
        float s8[16];        // Q8_1: s / 8 in each lane of its block
    } aux;
} xq_pair;
static_assert(sizeof(xq_pair) == 192, "xq_pair layout");

// Activation forms (ops.h act_form): Q8_0 and Q8_1 pairs in element order, Q8_K blocks, and
// Q8_0/Q8_1 pairs in the nibble order of Q4_0/Q4_1 weights (see act_q8_32).
enum { F_Q8_0, F_Q8_1, F_Q8_K, F_Q8_0_NIB, F_Q8_1_NIB };

int gptc_qmm_act_form_avx512(uint32_t wtype)
{
    switch (wtype) {
    case GPTC_TYPE_Q4_0:
        return F_Q8_0_NIB;
    case GPTC_TYPE_Q4_1:
        return F_Q8_1_NIB;
    case GPTC_TYPE_Q5_1:
        return F_Q8_1;
    case GPTC_TYPE_Q5_0:
    case GPTC_TYPE_Q8_0:
    case GPTC_TYPE_IQ4_NL:
    case GPTC_TYPE_MXFP4:
        return F_Q8_0;
    default:
        return F_Q8_K;
    }
}

size_t gptc_qmm_act_bytes_avx512(int form, int C)
{
    if (form == GPTC_PACK_FORM) return gptc_pack_act_bytes(C);
    if (form == F_Q8_K) return (size_t)(C / QK_K) * sizeof(block_q8_K);
    return (size_t)((C / QK + 1) / 2) * sizeof(xq_pair);
}

// ---------------------------------------------------------------------------------------------
// Activations

// roundf (half away from zero) for |v| < 2^23: trunc, then step away when the fraction is >= 1/2
ALWAYS_INLINE __m512 round_away(__m512 v)
{
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_abs_ps(_mm512_sub_ps(v, t)); // exact: the fraction has fewer bits than v
    __mmask16 m = _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_or_ps(_mm512_and_ps(v, _mm512_set1_ps(-0.0f)), _mm512_set1_ps(1.0f));
    return _mm512_mask_add_ps(t, m, t, one);
}

// The 32 Q8_0 codes of x (as int32, elements 0-15 and 16-31) and their exact scale d, as
// gptc_q8_0_quantize_ref computes them; the codes are also stored as bytes at qs.
ALWAYS_INLINE float quant_block32(const float *x, int8_t *qs, __m512i *q0, __m512i *q1)
{
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    *q0 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v0, vid)));
    *q1 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v1, vid)));
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(*q0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtepi32_epi8(*q1));
    return d;
}

// One 32-element block into half h of pair o, as gptc_q8_0/q8_1_quantize_ref would.
ALWAYS_INLINE void act_block32(xq_pair *o, int h, const float *x, int q8_1)
{
    __m512i q0, q1;
    float d = quant_block32(x, o->qs + 32 * h, &q0, &q1);
    _mm256_storeu_ps(o->d + 8 * h, _mm256_set1_ps(h2f(f2h(d))));
    if (q8_1) {
        int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        float s = h2f(f2h((float)sum * d)) * 0.125f;
        _mm256_storeu_ps(o->aux.s8 + 8 * h, _mm256_set1_ps(s));
    }
}

// Pairs of Q8_0 (q8_1 = 0) or Q8_1 blocks. nib: the nibble order of Q4_0/Q4_1 weights, whose
// byte j holds element j (low nibble) and j + 16 (high nibble, i.e. 16 x code): the 16-byte
// quarters of a pair are [block 0 elements 0-15, block 1 0-15, block 0 16-31, block 1 16-31],
// the lane scales of the last two quarters are divided by 16 (exact) to undo the weights' x16,
// and the Q8_0 sums are pre-shifted for Q4_0's offset (x8 for low nibbles, x8 x16 for high).
static void act_q8_32(void *dst, const float *x, int C, int q8_1, int nib)
{
    int nb = C / QK;
    xq_pair *p = dst;
    for (int b = 0; b < nb; b += 2) {
        xq_pair *o = &p[b / 2];
        act_block32(o, 0, x + (size_t)b * QK, q8_1);
        if (b + 1 < nb) {
            act_block32(o, 1, x + (size_t)(b + 1) * QK, q8_1);
        } else {
            memset(o->qs + 32, 0, 32);
            memset(o->d + 8, 0, 32);
            memset(o->aux.neg_sum + 8, 0, 32);
        }
        if (nib) { // element order -> nibble order: quarters (0, 1, 2, 3) -> (0, 2, 1, 3)
            __m512i q = _mm512_loadu_si512(o->qs);
            _mm512_storeu_si512(o->qs, _mm512_shuffle_i64x2(q, q, _MM_SHUFFLE(3, 1, 2, 0)));
            __m512 d = _mm512_loadu_ps(o->d);
            const __m512 sixteenth =
                _mm512_setr_ps(1, 1, 1, 1, 1, 1, 1, 1, 0.0625f, 0.0625f, 0.0625f, 0.0625f, 0.0625f,
                               0.0625f, 0.0625f, 0.0625f);
            _mm512_storeu_ps(
                o->d,
                _mm512_mul_ps(_mm512_shuffle_f32x4(d, d, _MM_SHUFFLE(3, 1, 2, 0)), sixteenth));
            if (q8_1) {
                __m512 s8 = _mm512_loadu_ps(o->aux.s8);
                _mm512_storeu_ps(o->aux.s8, _mm512_shuffle_f32x4(s8, s8, _MM_SHUFFLE(3, 1, 2, 0)));
            }
        }
        if (!q8_1) {
            __m512i q = _mm512_loadu_si512(o->qs);
            __m512i ls = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), q);
            __m512i neg = _mm512_sub_epi32(_mm512_setzero_si512(), ls);
            if (nib) { // Q4_0's offset 8, times 16 in the high-nibble lanes
                const __m512i sh =
                    _mm512_setr_epi32(3, 3, 3, 3, 3, 3, 3, 3, 7, 7, 7, 7, 7, 7, 7, 7);
                neg = _mm512_sllv_epi32(neg, sh);
            }
            _mm512_storeu_si512(o->aux.neg_sum, neg);
        }
    }
}

// Q8_K: as gptc_q8_K_quantize_ref (round half to even is the conversion's default mode).
static void act_q8_K(void *dst, const float *x, int C)
{
    block_q8_K *y = dst;
    for (int i = 0; i < C / QK_K; i++, x += QK_K) {
        __m512 am = _mm512_setzero_ps();
        for (int k = 0; k < 16; k++)
            am = _mm512_max_ps(am, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * k)));
        float amax = _mm512_reduce_max_ps(am);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0.0f; // the first element of largest magnitude, sign kept
        __m512 va = _mm512_set1_ps(amax);
        for (int k = 0; k < 16; k++) {
            __mmask16 m =
                _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * k)), va, _CMP_EQ_OQ);
            if (m) {
                max = x[16 * k + __builtin_ctz(m)];
                break;
            }
        }
        float iscale = -127.0f / max;
        __m512 vs = _mm512_set1_ps(iscale);
        for (int k = 0; k < 16; k++) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * k), vs));
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * k), _mm512_cvtepi32_epi8(q));
            y[i].bsums[k] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[i].d = 1.0f / iscale;
    }
}

// Packed weights' activations (pack.h), as gptc_pack_act_quant_ref.
static void act_packed(void *dst, const float *x, int C)
{
    gptc_pack_xblk *o = dst;
    for (int b = 0; b < C / QK; b++, x += QK) {
        __m512i q0, q1;
        float d = quant_block32(x, o[b].qs, &q0, &q1);
        int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        o[b].d = h2f(f2h(d));
        o[b].neg8 = -8 * sum;
        o[b].neg128 = -128 * sum;
    }
}

void gptc_qmm_act_quant_avx512(int form, void *xq, const float *x, int C)
{
    if (form == GPTC_PACK_FORM)
        act_packed(xq, x, C);
    else if (form == F_Q8_K)
        act_q8_K(xq, x, C);
    else
        act_q8_32(xq, x, C, form == F_Q8_1 || form == F_Q8_1_NIB, form >= F_Q8_0_NIB);
}

// ---------------------------------------------------------------------------------------------
// Reduction (as core/ops_avx512.c): horizontal sums of 4 vectors by one fixed tree, so a row's
// sum does not depend on which rows share its tile.

ALWAYS_INLINE __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(2, 3, 0, 1)));
    __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, s));
}

// Y[r .. r + nr) of one output row y from 4 accumulators (duplicates of acc[0] fill the tree).
ALWAYS_INLINE void store_rows(float *y, const __m512 *acc, int nr)
{
    if (nr == 4) {
        _mm_storeu_ps(y, reduce4(acc[0], acc[1], acc[2], acc[3]));
    } else {
        __m128 s = reduce4(acc[0], nr > 1 ? acc[1] : acc[0], nr > 2 ? acc[2] : acc[0], acc[0]);
        _mm_mask_storeu_ps(y, (__mmask8)((1u << nr) - 1), s);
    }
}

// The 4 weight rows of a tile from row r: rows past nr repeat the first (computed, not stored).
ALWAYS_INLINE void tile_rows(const uint8_t **w, const uint8_t *W, size_t rb, int r, int nr)
{
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        w[i] = W + (size_t)(r + (i < nr ? i : 0)) * rb;
}

// Prefetch into L2 the part of the range ahead that matches step `step` of the tile: the 4 rows
// of a tile are contiguous, so the 4 rows ahead are one range of 4 * rb bytes.
ALWAYS_INLINE void prefetch_ahead(const uint8_t *w0, size_t ahead, size_t step_bytes, int step)
{
    uintptr_t a = (uintptr_t)w0 + ahead + (size_t)step * 4 * step_bytes;
    for (size_t o = 0; o < 4 * step_bytes; o += 64)
        _mm_prefetch((const char *)(a + o), _MM_HINT_T1);
}

// ---------------------------------------------------------------------------------------------
// 32-element formats
//
// (A variant that read 4 blocks at a time and gathered codes and scales with AVX-512 VBMI byte
// permutes had fewer instructions but ran 10-30% slower on Zen 4, in decode and prefill: its
// vpermb/vpermt2b cost more than the loads and shifts they replace.)

// IQ4_NL and MXFP4 look their codes up in a 16-entry grid (vpshufb) and store them, like Q8_0's,
// with the offset 128; MXFP4's scale is an E8M0 byte instead of an f16.
enum { W_Q4_0, W_Q4_1, W_Q5_0, W_Q5_1, W_Q8_0, W_IQ4_NL, W_MXFP4 };

ALWAYS_INLINE int blk_bytes(int wt)
{
    return wt == W_Q4_0 || wt == W_IQ4_NL ? 18
           : wt == W_Q4_1                 ? 20
           : wt == W_Q5_0                 ? 22
           : wt == W_Q5_1                 ? 24
           : wt == W_MXFP4                ? 17
                                          : 34;
}
ALWAYS_INLINE int has_min(int wt)
{
    return wt == W_Q4_1 || wt == W_Q5_1;
}
// Q4_0 and Q4_1 read activations in nibble order (act_q8_32): their codes need no shift
ALWAYS_INLINE int nib_order(int wt)
{
    return wt == W_Q4_0 || wt == W_Q4_1;
}
// log2 of the offset the unsigned codes carry, applied to the activations' sums when they are
// read (Q4_0's sums come pre-shifted); 0: none
ALWAYS_INLINE int bias_shift(int wt)
{
    return wt == W_Q5_0 ? 4 : wt >= W_Q8_0 ? 7 : 0;
}
ALWAYS_INLINE int has_bias(int wt)
{
    return wt == W_Q4_0 || bias_shift(wt);
}

// Lane index of each block of a pair: element order [0 x 8, 1 x 8]; nibble order, where the
// quarters are (block 0, block 1, block 0, block 1): [0 x 4, 1 x 4, 0 x 4, 1 x 4].
ALWAYS_INLINE __m512i pair_lanes(int wt)
{
    return nib_order(wt) ? _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1)
                         : _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
}

ALWAYS_INLINE uint16_t ld16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

// The 64 nibble codes of two blocks' qs[16] in element order: [lo0, hi0, lo1, hi1] by 16.
ALWAYS_INLINE __m512i nibbles_pair(const uint8_t *qs0, const uint8_t *qs1, int single)
{
    __m128i a = _mm_loadu_si128((const __m128i *)qs0);
    __m256i y = single ? _mm256_zextsi128_si256(a)
                       : _mm256_inserti128_si256(_mm256_castsi128_si256(a),
                                                 _mm_loadu_si128((const __m128i *)qs1), 1);
    __m512i z = _mm512_castsi256_si512(y);
    z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0)); // [qs0, qs0, qs1, qs1]
    const __m512i sh = _mm512_setr_epi64(0, 0, 0x0004000400040004ll, 0x0004000400040004ll, 0, 0,
                                         0x0004000400040004ll, 0x0004000400040004ll);
    return _mm512_and_si512(_mm512_srlv_epi16(z, sh), _mm512_set1_epi8(15));
}

// The nibble codes of two blocks' qs[16] in nibble order: [lo0, lo1, 16 hi0, 16 hi1] by 16
// bytes, one AND (the high nibbles stay in place, x16; the activations' scales undo it).
ALWAYS_INLINE __m512i nibbles_pair_nib(const uint8_t *qs0, const uint8_t *qs1, int single)
{
    __m128i a = _mm_loadu_si128((const __m128i *)qs0);
    __m256i y = single ? _mm256_zextsi128_si256(a)
                       : _mm256_inserti128_si256(_mm256_castsi128_si256(a),
                                                 _mm_loadu_si128((const __m128i *)qs1), 1);
    __m512i z = _mm512_castsi256_si512(y);
    z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 0, 1, 0)); // [qs0, qs1, qs0, qs1]
    const __m512i m = _mm512_setr_epi64(
        0x0f0f0f0f0f0f0f0fll, 0x0f0f0f0f0f0f0f0fll, 0x0f0f0f0f0f0f0f0fll, 0x0f0f0f0f0f0f0f0fll,
        (long long)0xf0f0f0f0f0f0f0f0ull, (long long)0xf0f0f0f0f0f0f0f0ull,
        (long long)0xf0f0f0f0f0f0f0f0ull, (long long)0xf0f0f0f0f0f0f0f0ull);
    return _mm512_and_si512(z, m);
}

// A grid's 16 values plus 128 (unsigned), in each 128-bit lane, for vpshufb.
ALWAYS_INLINE __m512i grid128(int wt)
{
    const int8_t *v = wt == W_IQ4_NL ? gptc_iq4nl_values : gptc_mxfp4_values;
    __m128i t = _mm_xor_si128(_mm_loadu_si128((const __m128i *)v), _mm_set1_epi8((char)0x80));
    return _mm512_broadcast_i32x4(t);
}

// The unsigned (value + 128) codes of two IQ4_NL / MXFP4 blocks, element order.
ALWAYS_INLINE __m512i grid_pair(int wt, const uint8_t *b0, const uint8_t *b1, int single)
{
    int o = wt == W_IQ4_NL ? 2 : 1;
    return _mm512_shuffle_epi8(grid128(wt), nibbles_pair(b0 + o, b1 + o, single));
}

ALWAYS_INLINE float e8m0_half(uint8_t e)
{
    return gptc_e8m0_half(e);
}

// Scales (and mins) of two blocks, spread over the lanes of their blocks (pair_lanes).
ALWAYS_INLINE void scales_pair(uint16_t d0, uint16_t d1, uint16_t m0, uint16_t m1, __m512 *dl,
                               __m512 *ml, int wt)
{
    uint64_t h = (uint64_t)d0 | (uint64_t)d1 << 16 | (uint64_t)m0 << 32 | (uint64_t)m1 << 48;
    __m512 f = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)h)));
    const __m512i i01 = pair_lanes(wt);
    *dl = _mm512_permutexvar_ps(i01, f);
    if (has_min(wt)) *ml = _mm512_permutexvar_ps(_mm512_add_epi32(i01, _mm512_set1_epi32(2)), f);
}

// Pair p of a weight row: unsigned codes, lane scales and (Q4_1/Q5_1) lane mins. single: the
// pair is the row's odd last block alone (nothing of a second block is read).
ALWAYS_INLINE void weight_pair(int wt, const uint8_t *row, int p, int single, __m512i *q,
                               __m512 *dl, __m512 *ml)
{
    const int bs = blk_bytes(wt);
    const uint8_t *b0 = row + (size_t)(2 * p) * bs, *b1 = b0 + bs;
    if (wt == W_MXFP4) {
        *q = grid_pair(wt, b0, b1, single);
        *dl = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(e8m0_half(b0[0])),
                                   _mm512_set1_ps(single ? 0.0f : e8m0_half(b1[0])));
        return;
    }
    uint16_t d1 = single ? 0 : ld16(b1), m0 = 0, m1 = 0;
    switch (wt) {
    case W_IQ4_NL:
        *q = grid_pair(wt, b0, b1, single);
        break;
    case W_Q8_0: {
        __m256i lo = _mm256_loadu_si256((const __m256i *)(b0 + 2));
        __m512i z = single ? _mm512_zextsi256_si512(lo)
                           : _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                                                _mm256_loadu_si256((const __m256i *)(b1 + 2)), 1);
        *q = _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80));
        break;
    }
    case W_Q4_0:
        *q = nibbles_pair_nib(b0 + 2, b1 + 2, single);
        break;
    case W_Q4_1:
        *q = nibbles_pair_nib(b0 + 4, b1 + 4, single);
        break;
    case W_Q5_0:
    case W_Q5_1: {
        int o = wt == W_Q5_0 ? 2 : 4; // qh offset; qs follow it
        __m512i n = nibbles_pair(b0 + o + 4, b1 + o + 4, single);
        uint64_t hm = (uint64_t)ld32(b0 + o) | (single ? 0 : (uint64_t)ld32(b1 + o) << 32);
        *q = _mm512_mask_add_epi8(n, (__mmask64)hm, n, _mm512_set1_epi8(16));
        break;
    }
    }
    if (has_min(wt)) {
        m0 = ld16(b0 + 2);
        m1 = single ? 0 : ld16(b1 + 2);
    }
    scales_pair(ld16(b0), d1, m0, m1, dl, ml, wt);
}

// The codes alone (full pairs of formats without mins)
ALWAYS_INLINE void weight_codes(int wt, const uint8_t *row, int p, __m512i *q)
{
    const int bs = blk_bytes(wt);
    const uint8_t *b0 = row + (size_t)(2 * p) * bs, *b1 = b0 + bs;
    if (wt == W_IQ4_NL) {
        *q = grid_pair(wt, b0, b1, 0);
    } else if (wt == W_Q8_0) {
        __m256i lo = _mm256_loadu_si256((const __m256i *)(b0 + 2));
        __m256i hi = _mm256_loadu_si256((const __m256i *)(b1 + 2));
        *q = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1),
                              _mm512_set1_epi8((char)0x80));
    } else if (wt == W_Q4_0) {
        *q = nibbles_pair_nib(b0 + 2, b1 + 2, 0);
    } else {
        __m512i n = nibbles_pair(b0 + 6, b1 + 6, 0);
        uint64_t hm = (uint64_t)ld32(b0 + 2) | (uint64_t)ld32(b1 + 2) << 32;
        *q = _mm512_mask_add_epi8(n, (__mmask64)hm, n, _mm512_set1_epi8(16));
    }
}

// One pair for rows w[0..nr) and tokens x[0..nt): acc[j][i] += row i . token j over the pair.
ALWAYS_INLINE void pair_step(__m512 acc[4][4], const uint8_t *const *w, const xq_pair *const *x,
                             int p, int nr, int nt, int single, int wt)
{
    __m512i q[4];
    __m512 dl[4], ml[4];
    if (nr == 4 && nt == 1 && !has_min(wt) && !single && wt != W_MXFP4) {
        // decode: two rows' four f16 scales in one conversion (+6% on Q4_0 measured)
        const int bs = blk_bytes(wt);
#pragma GCC unroll 2
        for (int k = 0; k < 4; k += 2) {
            const uint8_t *a = w[k] + (size_t)(2 * p) * bs, *b = w[k + 1] + (size_t)(2 * p) * bs;
            uint64_t h = (uint64_t)ld16(a) | (uint64_t)ld16(a + bs) << 16 |
                         (uint64_t)ld16(b) << 32 | (uint64_t)ld16(b + bs) << 48;
            __m512 f = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)h)));
            const __m512i i01 = pair_lanes(wt);
            dl[k] = _mm512_permutexvar_ps(i01, f);
            dl[k + 1] = _mm512_permutexvar_ps(_mm512_add_epi32(i01, _mm512_set1_epi32(2)), f);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            weight_codes(wt, w[i], p, &q[i]);
    } else {
#pragma GCC unroll 4
        for (int i = 0; i < nr; i++)
            weight_pair(wt, w[i], p, single, &q[i], &dl[i], &ml[i]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < nt; j++) {
        const xq_pair *a = &x[j][p];
        __m512i xv = _mm512_loadu_si512(a->qs);
        __m512 xd = _mm512_loadu_ps(a->d);
        __m512i init = _mm512_setzero_si512();
        __m512 xs = _mm512_setzero_ps();
        if (has_bias(wt)) init = _mm512_loadu_si512(a->aux.neg_sum);
        if (bias_shift(wt)) init = _mm512_slli_epi32(init, bias_shift(wt));
        if (has_min(wt)) xs = _mm512_loadu_ps(a->aux.s8);
#pragma GCC unroll 4
        for (int i = 0; i < nr; i++) {
            __m512i dot = _mm512_dpbusd_epi32(init, q[i], xv);
            acc[j][i] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dl[i], xd), acc[j][i]);
            if (has_min(wt)) acc[j][i] = _mm512_fmadd_ps(ml[i], xs, acc[j][i]);
        }
    }
}

// Rows [r, r + nr) x tokens [t, t + nt), nr, nt in 1..4.
ALWAYS_INLINE void tile32(float *Y, int ldy, const uint8_t *W, size_t rb, const xq_pair *X,
                          size_t xs, int nb, int r, int nr, int t, int nt, int prefetch, int wt)
{
    const uint8_t *w[4];
    const xq_pair *x[4];
    __m512 acc[4][4];
    tile_rows(w, W, rb, r, nr);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        x[j] = X + (size_t)(t + (j < nt ? j : 0)) * xs;
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            acc[j][i] = _mm512_setzero_ps();
    int p = 0;
    for (; p < nb / 2; p++) {
        if (prefetch) prefetch_ahead(w[0], pf_ahead(rb), 2 * (size_t)blk_bytes(wt), p);
        pair_step(acc, w, x, p, nr, nt, 0, wt);
    }
    if (nb & 1) pair_step(acc, w, x, p, nr, nt, 1, wt);
#pragma GCC unroll 4
    for (int j = 0; j < nt; j++)
        store_rows(Y + (size_t)(t + j) * ldy + r, acc[j], nr);
}

ALWAYS_INLINE void tile32_tokens(float *Y, int ldy, const uint8_t *W, size_t rb, const xq_pair *X,
                                 size_t xs, int nb, int r, int nr, int t0, int t1, int wt)
{
    int t = t0, pf = nr == 4;
    for (; t + 4 <= t1; t += 4, pf = 0)
        tile32(Y, ldy, W, rb, X, xs, nb, r, nr, t, 4, pf, wt);
    switch (t1 - t) {
    case 3:
        tile32(Y, ldy, W, rb, X, xs, nb, r, nr, t, 3, pf, wt);
        break;
    case 2:
        tile32(Y, ldy, W, rb, X, xs, nb, r, nr, t, 2, pf, wt);
        break;
    case 1:
        tile32(Y, ldy, W, rb, X, xs, nb, r, nr, t, 1, pf, wt);
        break;
    default:
        break;
    }
}

ALWAYS_INLINE void matmul32(float *Y, int ldy, const void *W, const void *Xq, int T, int C, int r0,
                            int r1, int wt)
{
    int nb = C / QK;
    size_t rb = (size_t)nb * blk_bytes(wt), xs = (size_t)(nb + 1) / 2;
    const xq_pair *X = Xq;
    // Token blocks whose activations stay in L2 while the thread's rows stream past; each
    // 4-row group is reused from L1 by every token tile.
    int TB = (int)GPTC_MIN((size_t)T, (256 * 1024) / (xs * sizeof(xq_pair)));
    TB = GPTC_MAX(4, TB & ~3);
    for (int tb = 0; tb < T; tb += TB) {
        int te = GPTC_MIN(T, tb + TB), r = r0;
        for (; r + 4 <= r1; r += 4)
            tile32_tokens(Y, ldy, W, rb, X, xs, nb, r, 4, tb, te, wt);
        for (; r < r1; r++)
            tile32_tokens(Y, ldy, W, rb, X, xs, nb, r, 1, tb, te, wt);
    }
}

// ---------------------------------------------------------------------------------------------
// K formats, super-block by super-block: Q4_K, Q5_K and Q6_K in tileK4 (below), the others in
// tileK.
//
// Q2_K and Q3_K have 16 groups of 16 and a correction through bsums (Q2_K's mins, Q3_K's offset
// 4); IQ4_XS has Q4_K's 8 sub-blocks of 32 with signed grid values, multiplied by the
// activations with the abs/sign trick (vpmaddubsw takes unsigned weights), and no correction.
enum { K_Q4, K_Q5, K_Q6, K_Q2, K_Q3, K_IQ4XS };

ALWAYS_INLINE int kblk_bytes(int kt)
{
    return kt == K_Q4   ? 144
           : kt == K_Q5 ? 176
           : kt == K_Q6 ? 210
           : kt == K_Q2 ? 84
           : kt == K_Q3 ? 110
                        : 136;
}
// 16 groups of 16 with one scale word each
ALWAYS_INLINE int k16(int kt)
{
    return kt == K_Q6 || kt == K_Q2 || kt == K_Q3;
}

// 64 codes of chunk k (elements 64k .. 64k + 63) of a super-block, unsigned.
ALWAYS_INLINE __m512i kcodes(int kt, const uint8_t *b, int k)
{
    const __m512i lo_hi = _mm512_setr_epi64(0, 0, 0, 0, 0x0004000400040004ll, 0x0004000400040004ll,
                                            0x0004000400040004ll, 0x0004000400040004ll);
    if (kt == K_Q2 || kt == K_Q3) {
        // elements 64k + 32c + l (c = 0, 1) are bits 2j..2j+1 of qs[32h + l], h = k / 2,
        // j = 2 (k % 2) + c; Q3_K adds bit 4h + j of hmask[l] as 4
        const uint8_t *qs = kt == K_Q2 ? ((const block_q2_K *)b)->qs : ((const block_q3_K *)b)->qs;
        int h = k >> 1, j0 = 2 * (k & 1);
        __m512i z = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * h)));
        __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * j0)),
                                        _mm256_set1_epi16((short)(2 * j0 + 2)), 1);
        __m512i n = _mm512_and_si512(_mm512_srlv_epi16(z, sh), _mm512_set1_epi8(3));
        if (kt == K_Q3) {
            const block_q3_K *x = (const block_q3_K *)b;
            __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x->hmask));
            __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (4 * h + j0))),
                                             _mm256_set1_epi8((char)(1 << (4 * h + j0 + 1))), 1);
            n = _mm512_mask_add_epi8(n, _mm512_test_epi8_mask(H, bit), n, _mm512_set1_epi8(4));
        }
        return n;
    }
    if (kt == K_IQ4XS) { // signed grid values of sub-blocks 2k, 2k + 1
        const uint8_t *qs = ((const block_iq4_xs *)b)->qs + 32 * k;
        __m256i y = _mm256_loadu_si256((const __m256i *)qs); // [sub 2k: 16 bytes, sub 2k + 1: 16]
        __m512i z = _mm512_castsi256_si512(y);
        z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0));
        const __m512i sh = _mm512_setr_epi64(0, 0, 0x0004000400040004ll, 0x0004000400040004ll, 0, 0,
                                             0x0004000400040004ll, 0x0004000400040004ll);
        __m512i n = _mm512_and_si512(_mm512_srlv_epi16(z, sh), _mm512_set1_epi8(15));
        return _mm512_shuffle_epi8(
            _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)gptc_iq4nl_values)), n);
    }
    if (kt == K_Q6) {
        const block_q6_K *x = (const block_q6_K *)b;
        int h = k >> 1, hi = k & 1;
        __m512i l = _mm512_loadu_si512(x->ql + 64 * h);
        __m512i n = _mm512_and_si512(hi ? _mm512_srli_epi16(l, 4) : l, _mm512_set1_epi8(15));
        __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * h)));
        // bits 4-5 of each code: chunk 0 takes qh bits 0-1 / 2-3 (shift left 4 / 2), chunk 1
        // bits 4-5 / 6-7 (shift right 0 / 2); bits crossing bytes are masked away
        const __m512i s02 = _mm512_setr_epi64(
            0x0004000400040004ll, 0x0004000400040004ll, 0x0004000400040004ll, 0x0004000400040004ll,
            0x0002000200020002ll, 0x0002000200020002ll, 0x0002000200020002ll, 0x0002000200020002ll);
        const __m512i s13 =
            _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002ll, 0x0002000200020002ll,
                              0x0002000200020002ll, 0x0002000200020002ll);
        __m512i hb = hi ? _mm512_srlv_epi16(H, s13) : _mm512_sllv_epi16(H, s02);
        return _mm512_or_si512(n, _mm512_and_si512(hb, _mm512_set1_epi8(0x30)));
    }
    const uint8_t *qs = kt == K_Q4 ? ((const block_q4_K *)b)->qs : ((const block_q5_K *)b)->qs;
    __m512i z = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * k)));
    __m512i n = _mm512_and_si512(_mm512_srlv_epi16(z, lo_hi), _mm512_set1_epi8(15));
    if (kt == K_Q5) {
        const block_q5_K *x = (const block_q5_K *)b;
        __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x->qh));
        __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * k))),
                                         _mm256_set1_epi8((char)(1 << (2 * k + 1))), 1);
        n = _mm512_mask_add_epi8(n, _mm512_test_epi8_mask(H, bit), n, _mm512_set1_epi8(16));
    }
    return n;
}

// Q2_K, Q3_K, IQ4_XS: rows [r, r + nr) x tokens [t, t + nt), nr in 1..4, nt in 1..2: each row's
// codes and scales are decoded once per super-block for both tokens (more tokens would not fit the
// 32 registers).
ALWAYS_INLINE void tileK(float *Y, int ldy, const uint8_t *W, size_t rb, const block_q8_K *X,
                         int nsb, int r, int nr, int t, int nt, int prefetch, int kt)
{
    const int bs = kblk_bytes(kt);
    const uint8_t *w[4];
    const block_q8_K *x[2];
    __m512 acc[2][4]; // (nt, nr)
    tile_rows(w, W, rb, r, nr);
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++) {
        x[j] = X + (size_t)(t + (j < nt ? j : 0)) * nsb;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            acc[j][i] = _mm512_setzero_ps();
    }
    for (int sb = 0; sb < nsb; sb++) {
        if (prefetch) prefetch_ahead(w[0], pf_ahead(rb), bs, sb);
        __m512i scw[4], isum[2][4];
        __m256i mw[4];      // words the group sums are weighted by: mins (Q2_K), scales (Q3_K)
        float dw[4], dm[4]; // the super-block's scale, and the correction's (-dmin, -4 d)
#pragma GCC unroll 4
        for (int i = 0; i < nr; i++) {
            const uint8_t *b = w[i] + (size_t)sb * bs;
            if (kt == K_Q2) {
                const block_q2_K *q2 = (const block_q2_K *)b;
                __m256i sc = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)q2->scales));
                scw[i] = _mm512_castsi256_si512(_mm256_and_si256(sc, _mm256_set1_epi16(15)));
                mw[i] = _mm256_srli_epi16(sc, 4);
                dw[i] = h2f(q2->d);
                dm[i] = -h2f(q2->dmin);
            } else if (kt == K_Q3) {
                const block_q3_K *q3 = (const block_q3_K *)b;
                // 16 6-bit scales: low nibbles from bytes 0-7, high 2 bits from bytes 8-11
                uint64_t lo8 = (uint64_t)ld32(q3->scales) | (uint64_t)ld32(q3->scales + 4) << 32;
                uint32_t hi = ld32(q3->scales + 8);
                __m128i l = _mm_cvtsi64_si128((long long)lo8);
                __m128i nib =
                    _mm_unpacklo_epi64(_mm_and_si128(l, _mm_set1_epi8(15)),
                                       _mm_and_si128(_mm_srli_epi16(l, 4), _mm_set1_epi8(15)));
                // group g takes bits 2(g / 4) of byte 8 + g % 4: hi >> 2(g / 4) per 4 groups
                __m128i hv = _mm_set_epi32((int)(hi >> 6), (int)(hi >> 4), (int)(hi >> 2), (int)hi);
                __m128i h2 = _mm_slli_epi16(_mm_and_si128(hv, _mm_set1_epi8(3)), 4);
                __m128i sc = _mm_sub_epi8(_mm_or_si128(nib, h2), _mm_set1_epi8(32));
                mw[i] = _mm256_cvtepi8_epi16(sc);
                scw[i] = _mm512_castsi256_si512(mw[i]);
                dw[i] = h2f(q3->d);
                dm[i] = -4.0f * dw[i];
            } else { // IQ4_XS
                const block_iq4_xs *q4 = (const block_iq4_xs *)b;
                int8_t ls[8];
                for (int ib = 0; ib < 8; ib++)
                    ls[ib] = (int8_t)((((q4->scales_l[ib / 2] >> 4 * (ib % 2)) & 15) |
                                       ((q4->scales_h >> 2 * ib) & 3) << 4) -
                                      32);
                uint64_t l8;
                memcpy(&l8, ls, 8);
                scw[i] =
                    _mm512_castsi128_si512(_mm_cvtepi8_epi16(_mm_cvtsi64_si128((long long)l8)));
                mw[i] = _mm256_setzero_si256();
                dw[i] = h2f(q4->d);
                dm[i] = 0.0f;
            }
#pragma GCC unroll 2
            for (int j = 0; j < nt; j++)
                isum[j][i] = _mm512_setzero_si512();
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m512i xv[2];
#pragma GCC unroll 2
            for (int j = 0; j < nt; j++)
                xv[j] = _mm512_loadu_si512(x[j][sb].qs + 64 * k);
            // scale word of each 16-bit pair: Q2_K/Q3_K group 4k + w / 8, IQ4_XS sub-block
            // 2k / 2k + 1 by halves
            __m512i idx =
                k16(kt) ? _mm512_add_epi16(
                              _mm512_set1_epi16((short)(4 * k)),
                              _mm512_srli_epi16(
                                  _mm512_setr_epi64(0x0003000200010000ll, 0x0007000600050004ll,
                                                    0x000b000a00090008ll, 0x000f000e000d000cll,
                                                    0x0013001200110010ll, 0x0017001600150014ll,
                                                    0x001b001a00190018ll, 0x001f001e001d001cll),
                                  3))
                        : _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * k)),
                                             _mm256_set1_epi16((short)(2 * k + 1)), 1);
#pragma GCC unroll 4
            for (int i = 0; i < nr; i++) {
                __m512i q = kcodes(kt, w[i] + (size_t)sb * bs, k);
                __m512i sw = _mm512_permutexvar_epi16(idx, scw[i]);
                if (kt == K_IQ4XS) { // |w| times x with w's sign (grid values are never 0)
                    __mmask64 neg = _mm512_movepi8_mask(q);
                    __m512i aq = _mm512_abs_epi8(q);
#pragma GCC unroll 2
                    for (int j = 0; j < nt; j++) {
                        __m512i sx =
                            _mm512_mask_sub_epi8(xv[j], neg, _mm512_setzero_si512(), xv[j]);
                        isum[j][i] =
                            _mm512_dpwssd_epi32(isum[j][i], _mm512_maddubs_epi16(aq, sx), sw);
                    }
                    continue;
                }
#pragma GCC unroll 2
                for (int j = 0; j < nt; j++)
                    isum[j][i] =
                        _mm512_dpwssd_epi32(isum[j][i], _mm512_maddubs_epi16(q, xv[j]), sw);
            }
        }
#pragma GCC unroll 2
        for (int j = 0; j < nt; j++) {
            __m256i bsums = _mm256_loadu_si256((const __m256i *)x[j][sb].bsums);
            float dx = x[j][sb].d;
#pragma GCC unroll 4
            for (int i = 0; i < nr; i++) {
                // sum_g weight_g * bsum_g in 8 lanes, zero-extended to 16
                __m512 corr = _mm512_insertf32x8(
                    _mm512_setzero_ps(), _mm256_cvtepi32_ps(_mm256_madd_epi16(mw[i], bsums)), 0);
                __m512 v = _mm512_cvtepi32_ps(isum[j][i]);
                acc[j][i] = _mm512_fmadd_ps(v, _mm512_set1_ps(dw[i] * dx), acc[j][i]);
                if (kt != K_IQ4XS)
                    acc[j][i] = _mm512_fmadd_ps(corr, _mm512_set1_ps(dm[i] * dx), acc[j][i]);
            }
        }
    }
#pragma GCC unroll 2
    for (int j = 0; j < nt; j++)
        store_rows(Y + (size_t)(t + j) * ldy + r, acc[j], nr);
}

// ---------------------------------------------------------------------------------------------
// Q4_K and Q5_K: four rows' scales decoded together, raw sums first
//
// The 6-bit scales and mins of the 4 rows of a tile are unpacked at once from one transposed
// load of their 16-byte heads (d, dmin, scales[12]), not row by row. Each 64-code chunk k gives
// raw sums with vpdpbusd (lanes 0-7: sub-block 2k, 8-15: 2k + 1; 4 elements a lane, at most
// 4 x 31 x 127 in magnitude); chunks 0, 1 and 2, 3 are packed to words (vpackssdw, exact) and
// weighted by their sub-block scales with vpdpwssd. The mins' correction of all 4 rows is one
// vpmaddwd per token and super-block, accumulated apart and added to each row's sum at the end.
// Per (token, row) every operation is the same wherever the row sits in its tile and however
// many tokens share it, so results stay independent of tiling and batch.

// Word w of packs(R_a, R_b) holds lane 4 (w / 8) + w % 4 of R_a (w % 8 < 4) or R_b: the index of
// its sub-block's scale among a row's 8, for chunks (0, 1); chunks (2, 3) add 4.
/* clang-format off */
static const uint16_t k4_sub_of_word[32] = {
    0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 2,
    1, 1, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3,
};
/* clang-format on */
ALWAYS_INLINE __m512i k4_scale_idx(int row, int k2)
{
    return _mm512_add_epi16(_mm512_loadu_si512(k4_sub_of_word),
                            _mm512_set1_epi16((short)(8 * row + 4 * k2)));
}

// Min words for the correction: word w pairs with bsum-pair B[j(w)] of the token (see
// k4_bsum_words) and takes row r(w)'s min of sub-block j(w); lane m of the vpmaddwd then holds
// row 2 (m / 8) + (m % 4) / 2.
// (word w: j = w % 4 + 4 ((w % 16) / 8), r = 2 (w / 16) + (w % 8) / 4, entry 8 r + j)
/* clang-format off */
static const uint16_t k4_min_of_word[32] = {
    0,  1,  2,  3,  8,  9,  10, 11, 4,  5,  6,  7,  12, 13, 14, 15,
    16, 17, 18, 19, 24, 25, 26, 27, 20, 21, 22, 23, 28, 29, 30, 31,
};
/* clang-format on */
ALWAYS_INLINE __m512i k4_min_idx(void)
{
    return _mm512_loadu_si512(k4_min_of_word);
}

// The token's 8 sums of 32 codes as words [B0-3, B0-3, B4-7, B4-7] twice.
ALWAYS_INLINE __m512i k4_bsum_words(const block_q8_K *x)
{
    __m256i b =
        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x->bsums), _mm256_set1_epi16(1));
    return _mm512_broadcast_i64x4(_mm256_packs_epi32(b, b));
}

typedef struct k4_heads {
    __m512i sw; // scale words: row i's 8 at words 8i .. 8i + 7
    __m512i mw; // min words in k4_min_idx's order
    __m512 dv;  // lanes 2i, 2i + 1: d and dmin of row i
    __m512 dmv; // lane m: dmin of the row lane m of the correction holds
} k4_heads;

ALWAYS_INLINE k4_heads k4_decode_heads(const uint8_t *const *w, size_t off)
{
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(w[0] + off)));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(w[1] + off)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(w[2] + off)), 2);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(w[3] + off)), 3);
    // transposed: [d|dmin of rows 0-3, u0 of rows 0-3, u1, u2] (u: scales bytes 0-3, 4-7, 8-11)
    z = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), z);
    __m128i dd = _mm512_castsi512_si128(z), u0 = _mm512_extracti32x4_epi32(z, 1),
            u1 = _mm512_extracti32x4_epi32(z, 2), u2 = _mm512_extracti32x4_epi32(z, 3);
    const __m128i m3f = _mm_set1_epi8(0x3f), m0f = _mm_set1_epi8(0x0f), m30 = _mm_set1_epi8(0x30);
    __m128i sc_lo = _mm_and_si128(u0, m3f), mn_lo = _mm_and_si128(u1, m3f);
    __m128i sc_hi = _mm_or_si128(_mm_and_si128(u2, m0f), _mm_and_si128(_mm_srli_epi32(u0, 2), m30));
    __m128i mn_hi = _mm_or_si128(_mm_and_si128(_mm_srli_epi32(u2, 4), m0f),
                                 _mm_and_si128(_mm_srli_epi32(u1, 2), m30));
    __m256i sc =
        _mm256_setr_m128i(_mm_unpacklo_epi32(sc_lo, sc_hi), _mm_unpackhi_epi32(sc_lo, sc_hi));
    __m256i mn =
        _mm256_setr_m128i(_mm_unpacklo_epi32(mn_lo, mn_hi), _mm_unpackhi_epi32(mn_lo, mn_hi));
    k4_heads h;
    h.sw = _mm512_cvtepu8_epi16(sc);
    h.mw = _mm512_permutexvar_epi16(k4_min_idx(), _mm512_cvtepu8_epi16(mn));
    h.dv = _mm512_zextps256_ps512(_mm256_cvtph_ps(dd));
    // lane m -> row 2 (m / 8) + (m % 4) / 2 -> its dmin at 2 row + 1
    h.dmv = _mm512_permutexvar_ps(_mm512_setr_epi32(1, 1, 3, 3, 1, 1, 3, 3, 5, 5, 7, 7, 5, 5, 7, 7),
                                  h.dv);
    return h;
}

// Q6_K's group (of 16) of word w of packs(R_a, R_b), chunks (0, 1): R_a's lanes 4 (w / 8) ..
// + 3 are group w / 8 of chunk a; chunks (2, 3) add 8.
/* clang-format off */
static const uint16_t k6_group_of_word[32] = {
    0, 0, 0, 0, 4, 4, 4, 4, 1, 1, 1, 1, 5, 5, 5, 5,
    2, 2, 2, 2, 6, 6, 6, 6, 3, 3, 3, 3, 7, 7, 7, 7,
};
/* clang-format on */

// The d of 4 Q6_K rows' super-block in lanes 0, 2, 4, 6 (as k4_heads.dv)
ALWAYS_INLINE __m512 k6_d(const uint8_t *const *w, size_t off)
{
    size_t o = off + offsetof(block_q6_K, d);
    __m128i h = _mm_setr_epi32(ld16(w[0] + o), ld16(w[1] + o), ld16(w[2] + o), ld16(w[3] + o));
    return _mm512_zextps256_ps512(_mm256_cvtph_ps(h));
}

// Rows [r, r + nr) x tokens [t, t + nt), nr in 1..4 (missing rows repeat the first), nt in 1..4.
// Q6_K (no mins) folds its offset 32 into the integers: each (row, token) starts its sum at
// -32 sum_g scale_g bsum_g, exact and under the same scale d.
ALWAYS_INLINE void tileK4(float *Y, int ldy, const uint8_t *W, size_t rb, const block_q8_K *X,
                          int nsb, int r, int nr, int t, int nt, int prefetch, int kt)
{
    const int bs = kblk_bytes(kt);
    const uint8_t *w[4];
    const block_q8_K *x[4];
    __m512 acc[4][4], corr[4]; // (nt, nr), (nt)
    tile_rows(w, W, rb, r, nr);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        x[j] = X + (size_t)(t + (j < nt ? j : 0)) * nsb;
        corr[j] = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            acc[j][i] = _mm512_setzero_ps();
    }
    for (int sb = 0; sb < nsb; sb++) {
        if (prefetch) prefetch_ahead(w[0], pf_ahead(rb), bs, sb);
        k4_heads h;
        if (kt == K_Q6) {
            h.dv = k6_d(w, (size_t)sb * bs);
        } else {
            h = k4_decode_heads(w, (size_t)sb * bs);
        }
        __m512 dx[4];
#pragma GCC unroll 4
        for (int j = 0; j < nt; j++) {
            __m512 vx = _mm512_set1_ps(x[j][sb].d);
            dx[j] = _mm512_mul_ps(h.dv, vx);
            if (kt == K_Q6) continue;
            __m512i m = _mm512_madd_epi16(h.mw, k4_bsum_words(&x[j][sb]));
            corr[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), _mm512_mul_ps(h.dmv, vx), corr[j]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            if (i >= nr) break;
            const uint8_t *b = w[i] + (size_t)sb * bs;
            __m512i q[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                q[k] = kcodes(kt, b, k);
            __m512i s01, s23;
            __m256i neg32 = _mm256_setzero_si256(); // Q6_K: -32 x its 16 scales
            if (kt == K_Q6) {
                __m256i sc = _mm256_cvtepi8_epi16(
                    _mm_loadu_si128((const __m128i *)((const block_q6_K *)b)->scales));
                __m512i g = _mm512_loadu_si512(k6_group_of_word);
                s01 = _mm512_permutexvar_epi16(g, _mm512_castsi256_si512(sc));
                s23 = _mm512_permutexvar_epi16(_mm512_add_epi16(g, _mm512_set1_epi16(8)),
                                               _mm512_castsi256_si512(sc));
                neg32 = _mm256_mullo_epi16(sc, _mm256_set1_epi16(-32));
            } else {
                s01 = _mm512_permutexvar_epi16(k4_scale_idx(i, 0), h.sw);
                s23 = _mm512_permutexvar_epi16(k4_scale_idx(i, 1), h.sw);
            }
#pragma GCC unroll 4
            for (int j = 0; j < nt; j++) {
                const int8_t *xq = x[j][sb].qs;
                __m512i R[4];
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++)
                    R[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[k],
                                               _mm512_loadu_si512(xq + 64 * k));
                __m512i is0 = _mm512_setzero_si512();
                if (kt == K_Q6)
                    is0 = _mm512_zextsi256_si512(_mm256_madd_epi16(
                        neg32, _mm256_loadu_si256((const __m256i *)x[j][sb].bsums)));
                __m512i is = _mm512_dpwssd_epi32(is0, _mm512_packs_epi32(R[0], R[1]), s01);
                is = _mm512_dpwssd_epi32(is, _mm512_packs_epi32(R[2], R[3]), s23);
                __m512 di = _mm512_permutexvar_ps(_mm512_set1_epi32(2 * i), dx[j]);
                acc[j][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), di, acc[j][i]);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < nt; j++) {
        // the correction of row i: lanes {0, 1, 4, 5} + 2 (i % 2) + 8 (i / 2), by a fixed tree
        __m512 c = _mm512_add_ps(corr[j], _mm512_permute_ps(corr[j], _MM_SHUFFLE(2, 3, 0, 1)));
        c = _mm512_add_ps(
            c, _mm512_permutexvar_ps(
                   _mm512_setr_epi32(4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11), c));
        // lanes 0, 2, 8, 10 now hold rows 0-3 (minus signs: dmin enters negated)
        __m128 ci = _mm512_castps512_ps128(_mm512_permutexvar_ps(
            _mm512_setr_epi32(0, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), c));
        float *y = Y + (size_t)(t + j) * ldy + r;
        __m128 s = reduce4(acc[j][0], nr > 1 ? acc[j][1] : acc[j][0],
                           nr > 2 ? acc[j][2] : acc[j][0], nr > 3 ? acc[j][3] : acc[j][0]);
        if (kt != K_Q6) s = _mm_sub_ps(s, ci);
        _mm_mask_storeu_ps(y, (__mmask8)((1u << nr) - 1), s);
    }
}

ALWAYS_INLINE void tileK4_tokens(float *Y, int ldy, const uint8_t *W, size_t rb,
                                 const block_q8_K *X, int nsb, int r, int nr, int T, int kt)
{
    int t = 0, pf = nr == 4;
    for (; t + 4 <= T; t += 4, pf = 0)
        tileK4(Y, ldy, W, rb, X, nsb, r, nr, t, 4, pf, kt);
    switch (T - t) {
    case 3:
        tileK4(Y, ldy, W, rb, X, nsb, r, nr, t, 3, pf, kt);
        break;
    case 2:
        tileK4(Y, ldy, W, rb, X, nsb, r, nr, t, 2, pf, kt);
        break;
    case 1:
        tileK4(Y, ldy, W, rb, X, nsb, r, nr, t, 1, pf, kt);
        break;
    default:
        break;
    }
}

ALWAYS_INLINE void tileK_tokens(float *Y, int ldy, const uint8_t *W, size_t rb, const block_q8_K *X,
                                int nsb, int r, int nr, int T, int kt)
{
    int t = 0, pf = nr == 4;
    for (; t + 2 <= T; t += 2, pf = 0)
        tileK(Y, ldy, W, rb, X, nsb, r, nr, t, 2, pf, kt);
    if (t < T) tileK(Y, ldy, W, rb, X, nsb, r, nr, t, 1, pf, kt);
}

ALWAYS_INLINE void matmulK(float *Y, int ldy, const void *W, const void *Xq, int T, int C, int r0,
                           int r1, int kt)
{
    int nsb = C / QK_K;
    size_t rb = (size_t)nsb * kblk_bytes(kt);
    const block_q8_K *X = Xq;
    int r = r0;
    if (kt == K_Q4 || kt == K_Q5 || kt == K_Q6) {
        for (; r + 4 <= r1; r += 4)
            tileK4_tokens(Y, ldy, W, rb, X, nsb, r, 4, T, kt);
        if (r < r1) tileK4_tokens(Y, ldy, W, rb, X, nsb, r, r1 - r, T, kt);
        return;
    }
    for (; r + 4 <= r1; r += 4)
        tileK_tokens(Y, ldy, W, rb, X, nsb, r, 4, T, kt);
    for (; r < r1; r++)
        tileK_tokens(Y, ldy, W, rb, X, nsb, r, 1, T, kt);
}

void gptc_qmm_matmul_avx512(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                            int C, int r0, int r1)
{
    switch (wtype) {
    case GPTC_TYPE_Q4_0:
        matmul32(Y, ldy, W, Xq, T, C, r0, r1, W_Q4_0);
        break;
    case GPTC_TYPE_Q4_1:
        matmul32(Y, ldy, W, Xq, T, C, r0, r1, W_Q4_1);
        break;
    case GPTC_TYPE_Q5_0:
        matmul32(Y, ldy, W, Xq, T, C, r0, r1, W_Q5_0);
        break;
    case GPTC_TYPE_Q5_1:
        matmul32(Y, ldy, W, Xq, T, C, r0, r1, W_Q5_1);
        break;
    case GPTC_TYPE_Q8_0:
        matmul32(Y, ldy, W, Xq, T, C, r0, r1, W_Q8_0);
        break;
    case GPTC_TYPE_IQ4_NL:
        matmul32(Y, ldy, W, Xq, T, C, r0, r1, W_IQ4_NL);
        break;
    case GPTC_TYPE_MXFP4:
        matmul32(Y, ldy, W, Xq, T, C, r0, r1, W_MXFP4);
        break;
    case GPTC_TYPE_Q4_K:
        matmulK(Y, ldy, W, Xq, T, C, r0, r1, K_Q4);
        break;
    case GPTC_TYPE_Q5_K:
        matmulK(Y, ldy, W, Xq, T, C, r0, r1, K_Q5);
        break;
    case GPTC_TYPE_Q6_K:
        matmulK(Y, ldy, W, Xq, T, C, r0, r1, K_Q6);
        break;
    case GPTC_TYPE_Q2_K:
        matmulK(Y, ldy, W, Xq, T, C, r0, r1, K_Q2);
        break;
    case GPTC_TYPE_Q3_K:
        matmulK(Y, ldy, W, Xq, T, C, r0, r1, K_Q3);
        break;
    case GPTC_TYPE_IQ4_XS:
        matmulK(Y, ldy, W, Xq, T, C, r0, r1, K_IQ4XS);
        break;
    default:
        GPTC_ASSERT(!"matmul_q: not a quantized weight type");
    }
}
