/*
 * qmm_avx512_pack.c — the AVX-512 VNNI kernels of packed weights (quant/pack.h: 16 rows
 * regrouped at load, rows in the int32 lanes): Q4_0, Q8_0, IQ4_NL, Q4_K, Q5_K and Q6_K, one
 * driver for all (matmul_packed). Compiled with the AVX-512 flags of the Makefile; reached only
 * through the avx512 ops table (.pack, .matmul_qp). The file-layout kernels are in qmm_avx512.c.
 *
 * Every output has the bits of the scalar reference (gptc_pack_matmul_ref): exact integer sums
 * per block, then the reference's float expression, unfused, whatever the tile, batch or thread
 * split (tests/test_pack.c).
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

ALWAYS_INLINE uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

// Packed Q4_0 and Q8_0 (pack.h): rows in the 16 int32 lanes
//
// A packed block of 16 rows is 16 f16 scales then 64-byte vectors of 4 codes per row: Q4_0's
// vector gives two vpdpbusd operands (low nibbles: elements 4k .. 4k + 3, high: 16 + 4k ..),
// Q8_0's one. Activations are 4 codes broadcast to every lane, so each lane accumulates its
// row's exact integer dot of the block from -8 (or -128) x the block's code sum; then, per row
// and token, s += isum * (d_w * d_x) unfused, as the reference sums. Tiles: one group of 16
// rows x NT tokens; decode takes 1 token, prefill up to 8. Every
// output has the same operations in any tile, so results do not depend on tiling or batch.

// A tile's nt output rows (tokens t ..) of group g, only rows [r0, r1) written
ALWAYS_INLINE void ptile_store(float *Y, int ldy, int g, int t, int nt, int r0, int r1,
                               const __m512 *acc)
{
    int rg = g * GPTC_PACK_ROWS, a0 = GPTC_MAX(r0 - rg, 0), e = GPTC_MIN(r1 - rg, 16);
    __mmask16 m = (__mmask16)(((1u << e) - 1) & ~((1u << a0) - 1));
#pragma GCC unroll 8
    for (int j = 0; j < nt; j++)
        _mm512_mask_storeu_ps(Y + (size_t)(t + j) * ldy + rg, m, acc[j]);
}

ALWAYS_INLINE size_t pk_blk_bytes(int q8)
{
    return q8 ? 544 : 288;
}

// IQ4_NL (nl = 1) is packed as Q4_0 (the same block bytes); its nibbles index the 16 values,
// looked up with vpshufb as value + 128 (unsigned), so the block starts at -128 x the code sum.
ALWAYS_INLINE void ptile(float *Y, int ldy, const uint8_t *W, size_t gb, const gptc_pack_xblk *X,
                         int nb, int g, int t, int nt, int r0, int r1, int prefetch, int q8, int nl)
{
    const size_t pbs = pk_blk_bytes(q8);
    const uint8_t *w = W + (size_t)g * gb;
    const gptc_pack_xblk *x[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < nt; j++) {
        x[j] = X + (size_t)(t + j) * nb;
        acc[j] = _mm512_setzero_ps();
    }
    const __m512i lo = _mm512_set1_epi8(15),
                  tbl = _mm512_broadcast_i32x4(_mm_setr_epi8(
                      1, 24, 45, 63, 79, 93, 106, 118, (char)129, (char)141, (char)153, (char)166,
                      (char)181, (char)197, (char)217, (char)241)); // IQ4_NL's values + 128
    // decode: two dependency chains (Q4_0's high nibbles, Q8_0's odd code groups), added at
    // the end: integers, so the sum is the same as one chain's
    const int split = nt == 1;
    for (int b = 0; b < nb; b++) {
        const uint8_t *p = w + (size_t)b * pbs;
        if (prefetch) // the next group's block, in step
            for (size_t o = 0; o < pbs; o += 64)
                _mm_prefetch((const char *)(p + gb + o), _MM_HINT_T1);
        __m512i isum[8], isum2 = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int j = 0; j < nt; j++)
            isum[j] = _mm512_set1_epi32(q8 || nl ? x[j][b].neg128 : x[j][b].neg8);
        for (int k = 0; k < (q8 ? 8 : 4); k++) {
            __m512i v = _mm512_loadu_si512(p + 32 + 64 * k);
            __m512i a = q8 ? v : _mm512_and_si512(v, lo);
            if (nl) a = _mm512_shuffle_epi8(tbl, a);
            if (split && q8 && (k & 1)) {
                isum2 = _mm512_dpbusd_epi32(
                    isum2, a, _mm512_set1_epi32((int)ld32((const uint8_t *)x[0][b].qs + 4 * k)));
                continue;
            }
#pragma GCC unroll 8
            for (int j = 0; j < nt; j++)
                isum[j] = _mm512_dpbusd_epi32(
                    isum[j], a, _mm512_set1_epi32((int)ld32((const uint8_t *)x[j][b].qs + 4 * k)));
            if (q8) continue;
            __m512i h = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo);
            if (nl) h = _mm512_shuffle_epi8(tbl, h);
            if (split) {
                isum2 = _mm512_dpbusd_epi32(
                    isum2, h,
                    _mm512_set1_epi32((int)ld32((const uint8_t *)x[0][b].qs + 16 + 4 * k)));
                continue;
            }
#pragma GCC unroll 8
            for (int j = 0; j < nt; j++)
                isum[j] = _mm512_dpbusd_epi32(
                    isum[j], h,
                    _mm512_set1_epi32((int)ld32((const uint8_t *)x[j][b].qs + 16 + 4 * k)));
        }
        if (split) isum[0] = _mm512_add_epi32(isum[0], isum2);
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#pragma GCC unroll 8
        for (int j = 0; j < nt; j++) {
            __m512 pr = _mm512_mul_ps(dw, _mm512_set1_ps(x[j][b].d));
            acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(_mm512_cvtepi32_ps(isum[j]), pr));
        }
    }
    ptile_store(Y, ldy, g, t, nt, r0, r1, acc);
}

// Packed Q4_K (pack_k.c): per super-block, each 64-byte vector of chunk c gives the low-nibble
// operand (sub-block 2c) and the high one (2c + 1); a sub-block's raw vpdpbusd sums, at most
// 32 x 15 x 127, are multiplied by the 16 rows' 6-bit scales (vpmulld, exact) into the
// integer sum; the mins times the activations' group sums are one vpdpwssd per sub-block. Then
// s += d_x * (d * isum - dmin * msum), unfused, as gptc_q4_K_vec_dot_ref.
//
// Packed Q5_K (pack_q5k.c) is the same with a fifth bit: qh unit k (64 bytes, 2304 + 64k) holds
// the fifth bits of code vector (c, k)'s elements in bit j = 2c + h of each byte; rotated so
// bit j lands at bit 4 (one vprolvd, the count hoisted per sub-block) and ORed into the nibbles
// with one vpternlogd. Codes 0..31: a sub-block's raw sums are at most 32 x 31 x 128.

// Scale byte s of the group's 16 rows, zero-extended into the int32 lanes
ALWAYS_INLINE __m512i k_byte(const uint8_t *sb, int s)
{
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(sb + 64 + 16 * s)));
}
// 6-bit scale (m = 0) or min (m = 1) of sub-block j, as gptc_k_scale_min
ALWAYS_INLINE __m512i k_scale_min(const uint8_t *sb, int j, int m)
{
    if (j < 4) return _mm512_and_si512(k_byte(sb, j + 4 * m), _mm512_set1_epi32(63));
    __m512i lo = m ? _mm512_srli_epi32(k_byte(sb, j + 4), 4)
                   : _mm512_and_si512(k_byte(sb, j + 4), _mm512_set1_epi32(15));
    return _mm512_or_si512(lo, _mm512_slli_epi32(_mm512_srli_epi32(k_byte(sb, j - 4 * !m), 6), 4));
}

ALWAYS_INLINE void ptileK(float *Y, int ldy, const uint8_t *W, size_t gb, const block_q8_K *X,
                          int nsb, int g, int t, int nt, int r0, int r1, int prefetch, int q5)
{
    const int bb = q5 ? 2816 : 2304;
    const uint8_t *w = W + (size_t)g * gb;
    const block_q8_K *x[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < nt; j++) {
        x[j] = X + (size_t)(t + j) * nsb;
        acc[j] = _mm512_setzero_ps();
    }
    const __m512i lo = _mm512_set1_epi8(15), hb = _mm512_set1_epi8(16);
    for (int b = 0; b < nsb; b++) {
        const uint8_t *p = w + (size_t)b * bb;
        if (prefetch) // the next group's super-block, in step
            for (int o = 0; o < bb; o += 64)
                _mm_prefetch((const char *)(p + gb + o), _MM_HINT_T1);
        __m512i isum[8], msum[8];
#pragma GCC unroll 8
        for (int j = 0; j < nt; j++)
            isum[j] = msum[j] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m512i s[8];
#pragma GCC unroll 8
                for (int j = 0; j < nt; j++)
                    s[j] = _mm512_setzero_si512();
                // Q5_K: rotating left by 4 - j (mod 32) brings bit j of every byte to bit 4
                const __m512i rot = _mm512_set1_epi32((4 - (2 * c + h)) & 31);
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++) {
                    __m512i v = _mm512_loadu_si512(p + 256 + (size_t)(c * 8 + k) * 64);
                    __m512i a = _mm512_and_si512(h ? _mm512_srli_epi16(v, 4) : v, lo);
                    if (q5) {
                        __m512i u = _mm512_rolv_epi32(_mm512_loadu_si512(p + 2304 + 64 * k), rot);
                        a = _mm512_ternarylogic_epi32(a, u, hb, 0xF8); // a | (u & hb)
                    }
#pragma GCC unroll 8
                    for (int j = 0; j < nt; j++)
                        s[j] = _mm512_dpbusd_epi32(
                            s[j], a,
                            _mm512_set1_epi32(
                                (int)ld32((const uint8_t *)x[j][b].qs + 64 * c + 32 * h + 4 * k)));
                }
                __m512i sc = k_scale_min(p, 2 * c + h, 0);
#pragma GCC unroll 8
                for (int j = 0; j < nt; j++)
                    isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(s[j], sc));
            }
        }
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            __m512i m = k_scale_min(p, q, 1);
            m = _mm512_or_si512(m, _mm512_slli_epi32(m, 16)); // (m, m) word pairs
#pragma GCC unroll 8
            for (int j = 0; j < nt; j++)
                msum[j] = _mm512_dpwssd_epi32(
                    msum[j], m,
                    _mm512_set1_epi32((int)ld32((const uint8_t *)(x[j][b].bsums + 2 * q))));
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
        __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
#pragma GCC unroll 8
        for (int j = 0; j < nt; j++) {
            __m512 v = _mm512_sub_ps(_mm512_mul_ps(dw, _mm512_cvtepi32_ps(isum[j])),
                                     _mm512_mul_ps(dm, _mm512_cvtepi32_ps(msum[j])));
            acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(_mm512_set1_ps(x[j][b].d), v));
        }
    }
    ptile_store(Y, ldy, g, t, nt, r0, r1, acc);
}

// Packed Q6_K (pack_q6.c): for half h, quarter q (elements 128h + 32q + 4k ..) and k = 0..7,
// the code vector is ql unit 16h + 8(q & 1) + k's nibble (low for q < 2) with crumb q of qh
// unit 8h + k as bits 4-5; k = 0..3 and 4..7 are scale groups 8h + 2q and 8h + 2q + 1. A
// group's raw vpdpbusd sums (codes 0..63) are multiplied by the 16 rows' int8 scales (vpmulld,
// exact) into the integer sum; the codes' offset, 32 x the scales times the activations' group
// sums, is one vpdpwssd per pair of groups. Then s += d_x * (d * isum), unfused, as
// gptc_q6_K_vec_dot_ref.

// Scales 2p and 2p + 1 of the 16 rows as int16 pairs in the int32 lanes
ALWAYS_INLINE __m512i q6_scale_pair(const uint8_t *sb, int p)
{
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(sb + 32 + 32 * p)));
}

ALWAYS_INLINE void ptile6(float *Y, int ldy, const uint8_t *W, size_t gb, const block_q8_K *X,
                          int nsb, int g, int t, int nt, int r0, int r1, int prefetch)
{
    const uint8_t *w = W + (size_t)g * gb;
    const block_q8_K *x[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (int j = 0; j < nt; j++) {
        x[j] = X + (size_t)(t + j) * nsb;
        acc[j] = _mm512_setzero_ps();
    }
    const __m512i lo = _mm512_set1_epi8(15), hb = _mm512_set1_epi8(0x30);
    for (int b = 0; b < nsb; b++) {
        const uint8_t *p = w + (size_t)b * 3360;
        if (prefetch) // the next group's super-block, in step
            for (int o = 0; o < 3360; o += 64)
                _mm_prefetch((const char *)(p + gb + o), _MM_HINT_T1);
        __m512i isum[8], msum[8];
#pragma GCC unroll 8
        for (int j = 0; j < nt; j++)
            isum[j] = msum[j] = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
#pragma GCC unroll 2
                for (int k4 = 0; k4 < 8; k4 += 4) {
                    const int grp = 8 * h + 2 * q + k4 / 4;
                    __m512i s[8];
#pragma GCC unroll 8
                    for (int j = 0; j < nt; j++)
                        s[j] = _mm512_setzero_si512();
#pragma GCC unroll 4
                    for (int k = k4; k < k4 + 4; k++) {
                        __m512i l = _mm512_loadu_si512(p + 288 + 64 * (16 * h + 8 * (q & 1) + k));
                        __m512i c = _mm512_loadu_si512(p + 2336 + 64 * (8 * h + k));
                        l = q < 2 ? _mm512_and_si512(l, lo)
                                  : _mm512_and_si512(_mm512_srli_epi16(l, 4), lo);
                        c = q == 0   ? _mm512_slli_epi16(c, 4)
                            : q == 1 ? _mm512_slli_epi16(c, 2)
                            : q == 3 ? _mm512_srli_epi16(c, 2)
                                     : c;
                        __m512i v = _mm512_ternarylogic_epi32(l, c, hb, 0xF8); // l | (c & hb)
#pragma GCC unroll 8
                        for (int j = 0; j < nt; j++)
                            s[j] = _mm512_dpbusd_epi32(
                                s[j], v,
                                _mm512_set1_epi32((int)ld32((const uint8_t *)x[j][b].qs + 128 * h +
                                                            32 * q + 4 * k)));
                    }
                    __m512i sp = q6_scale_pair(p, grp / 2),
                            sc = grp & 1 ? _mm512_srai_epi32(sp, 16)
                                         : _mm512_srai_epi32(_mm512_slli_epi32(sp, 16), 16);
#pragma GCC unroll 8
                    for (int j = 0; j < nt; j++)
                        isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(s[j], sc));
                }
            }
        }
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            __m512i sp = q6_scale_pair(p, q);
#pragma GCC unroll 8
            for (int j = 0; j < nt; j++)
                msum[j] = _mm512_dpwssd_epi32(
                    msum[j], sp,
                    _mm512_set1_epi32((int)ld32((const uint8_t *)(x[j][b].bsums + 2 * q))));
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#pragma GCC unroll 8
        for (int j = 0; j < nt; j++) {
            isum[j] = _mm512_sub_epi32(isum[j], _mm512_slli_epi32(msum[j], 5));
            __m512 v = _mm512_mul_ps(dw, _mm512_cvtepi32_ps(isum[j]));
            acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(_mm512_set1_ps(x[j][b].d), v));
        }
    }
    ptile_store(Y, ldy, g, t, nt, r0, r1, acc);
}

// Every packed type's product: decode streams the groups one at a time, the next one prefetched
// in step (1 group per tile decoded Llama-3.2-1B 5-28% faster than 2 or 4, quiet machine);
// prefill takes token blocks whose activations stay in L2 while the groups stream past, each
// group's weights reused from L1 / L2 by token tiles of 8, 4, 2 and 1.
enum { PK_Q4_0, PK_Q8_0, PK_IQ4_NL, PK_Q4_K, PK_Q5_K, PK_Q6_K };

ALWAYS_INLINE void ptile_kind(int kind, float *Y, int ldy, const uint8_t *W, size_t gb,
                              const void *X, int nb, int g, int t, int nt, int r0, int r1,
                              int prefetch)
{
    if (kind == PK_Q4_K || kind == PK_Q5_K)
        ptileK(Y, ldy, W, gb, X, nb, g, t, nt, r0, r1, prefetch, kind == PK_Q5_K);
    else if (kind == PK_Q6_K)
        ptile6(Y, ldy, W, gb, X, nb, g, t, nt, r0, r1, prefetch);
    else
        ptile(Y, ldy, W, gb, X, nb, g, t, nt, r0, r1, prefetch, kind == PK_Q8_0, kind == PK_IQ4_NL);
}

ALWAYS_INLINE void matmul_packed(int kind, float *Y, int ldy, const void *W, const void *Xq, int T,
                                 int C, int r0, int r1)
{
    const int kq = kind == PK_Q4_K || kind == PK_Q5_K || kind == PK_Q6_K;
    const int nb = C / (kq ? QK_K : QK);
    const size_t bb = kind == PK_Q4_K   ? 2304
                      : kind == PK_Q5_K ? 2816
                      : kind == PK_Q6_K ? 3360
                                        : pk_blk_bytes(kind == PK_Q8_0),
                 xs = kq ? sizeof(block_q8_K) : sizeof(gptc_pack_xblk), gb = (size_t)nb * bb;
    int g0 = r0 / GPTC_PACK_ROWS, g1 = (r1 + GPTC_PACK_ROWS - 1) / GPTC_PACK_ROWS;
    if (T == 1) {
        for (int g = g0; g < g1; g++)
            ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, 0, 1, r0, r1, g + 1 < g1);
        return;
    }
    int TB = (int)GPTC_MIN((size_t)T, (256 * 1024) / ((size_t)nb * xs));
    TB = GPTC_MAX(8, TB & ~7);
    for (int tb = 0; tb < T; tb += TB) {
        int te = GPTC_MIN(T, tb + TB);
        for (int g = g0; g < g1; g++) {
            int t = tb;
            for (; t + 8 <= te; t += 8)
                ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, t, 8, r0, r1, 0);
            if (t + 4 <= te) {
                ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, t, 4, r0, r1, 0);
                t += 4;
            }
            if (t + 2 <= te) {
                ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, t, 2, r0, r1, 0);
                t += 2;
            }
            if (t < te) ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, t, 1, r0, r1, 0);
        }
    }
}

int gptc_qmm_pack_avx512(uint32_t wtype)
{
    return gptc_pack_type_ok(wtype);
}

void gptc_qmm_matmul_packed_avx512(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq,
                                   int T, int C, int r0, int r1)
{
    switch (wtype) {
    case GPTC_TYPE_Q4_0:
        matmul_packed(PK_Q4_0, Y, ldy, W, Xq, T, C, r0, r1);
        break;
    case GPTC_TYPE_Q8_0:
        matmul_packed(PK_Q8_0, Y, ldy, W, Xq, T, C, r0, r1);
        break;
    case GPTC_TYPE_IQ4_NL:
        matmul_packed(PK_IQ4_NL, Y, ldy, W, Xq, T, C, r0, r1);
        break;
    case GPTC_TYPE_Q4_K:
        matmul_packed(PK_Q4_K, Y, ldy, W, Xq, T, C, r0, r1);
        break;
    case GPTC_TYPE_Q5_K:
        matmul_packed(PK_Q5_K, Y, ldy, W, Xq, T, C, r0, r1);
        break;
    case GPTC_TYPE_Q6_K:
        matmul_packed(PK_Q6_K, Y, ldy, W, Xq, T, C, r0, r1);
        break;
    default:
        GPTC_ASSERT(!"matmul_packed: not a packed type");
    }
}
