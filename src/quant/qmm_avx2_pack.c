/*
 * qmm_avx2_pack.c — packed Q4_0, Q8_0, Q4_K and Q6_K products (quant/pack.h) with AVX2 + FMA + F16C
 * only (no AVX-512, no VNNI of either width), for the avx2 ops table. Compiled with the AVX2
 * flags of the Makefile; reached only through that table (and the avx512 table on AVX-512 CPUs
 * without VNNI), after dispatch.c has checked the CPU.
 *
 * A packed 64-byte code vector holds 4 codes of each of 16 rows; a ymm register takes half of
 * it (h = 0: rows 0-7, h = 1: rows 8-15), one row per int32 lane. 4 activation codes are
 * broadcast to every lane; vpmaddubsw (unsigned 4-bit codes x signed activation bytes) gives
 * 16-bit pair sums of at most 2 x 15 x 128 = 3840 in magnitude, so 8 of them add up exactly in
 * 16 bits (30720 < 32767), and one vpmaddwd turns the sum into each row's int32. Q8_0's codes
 * (stored plus 128, 0..255) are split into their two nibbles, each summed that way: code x =
 * 16 * high x + low x, exact for every byte of weights and activations (no sign trick, whose
 * -128 cases would need a proof). Q4_K's sub-block sums are multiplied by their 6-bit scales in
 * the same vpmaddwd (scale pairs instead of ones); its mins meet the activations' 16-element
 * sums in one vpmaddwd per sub-block. Q6_K's 6-bit codes (nibble | crumb, 0..63) give pair sums
 * of at most 16128, so only 2 add in 16 bits before the vpmaddwd with the rows' int8 scales.
 *
 * Then per row and token, in block order and unfused (separate multiply and add intrinsics):
 * s += isum * (d_w * d_x) (Q4_0, Q8_0; the activations' neg8 / neg128 carry the codes'
 * offsets), s += d_x * (d * isum - dmin * msum) (Q4_K) or s += d_x * (d * isum) (Q6_K): the
 * bits of gptc_pack_matmul_ref.
 * Every output has the same operations in any tile, so results do not depend on the tiling,
 * the batch or the thread split.
 *
 * Tiles: decode (one token) computes both halves of a 16-row group per pass, the next group
 * prefetched in step; prefill computes one half (8 rows) x 4 tokens at a time (then 2, 1):
 * 4 float accumulators, 4 (Q8_0: 8) 16-bit sums and the Q4_K integer sums fit 16 registers.
 */
#include <immintrin.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/base.h"
#include "quant/pack.h"
#include "quant/qmm.h"
#include "quant/quant.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define G GPTC_PACK_ROWS

// Keeps a running sum a chain in a register: without it GCC reassociates the 16-bit sums into
// trees whose temporaries do not fit 16 registers (and spills them)
#define PIN(v) __asm__("" : "+x"(v))

// 4 bytes broadcast to every int32 lane
ALWAYS_INLINE __m256i bcast4(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Stores acc as rows [rh, rh + 8) of row y, only those in [r0, r1)
ALWAYS_INLINE void store_half(float *y, int rh, int r0, int r1, __m256 acc)
{
    int a0 = GPTC_MAX(r0 - rh, 0), e = GPTC_MIN(r1 - rh, 8);
    if (a0 == 0 && e == 8) {
        _mm256_storeu_ps(y + rh, acc);
        return;
    }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(e), iota),
                                 _mm256_cmpgt_epi32(iota, _mm256_set1_epi32(a0 - 1)));
    _mm256_maskstore_ps(y + rh, m, acc);
}

// The halves of group g that hold rows of [r0, r1): [*h0, *h0 + return value)
// A tile's outputs: nt tokens (from t) x nh halves (from h0) of group g, rows [r0, r1) only
ALWAYS_INLINE void tile_store(float *Y, int ldy, int g, int h0, int nh, int t, int nt, int r0,
                              int r1, __m256 acc[2][4])
{
#pragma GCC unroll 4
    for (int j = 0; j < nt; j++)
#pragma GCC unroll 2
        for (int hh = 0; hh < nh; hh++)
            store_half(Y + (size_t)(t + j) * ldy, g * G + 8 * (h0 + hh), r0, r1, acc[hh][j]);
}

ALWAYS_INLINE int halves(int g, int r0, int r1, int *h0)
{
    int rg = g * G, a = GPTC_MAX(r0 - rg, 0), e = GPTC_MIN(r1 - rg, G);
    *h0 = a / 8;
    return (e + 7) / 8 - a / 8;
}

// ---------------------------------------------------------------------------------------------
// Packed Q4_0 and Q8_0: a block of 16 rows is 16 f16 scales, then 64-byte code vectors (Q4_0:
// 4, low nibbles elements 4k .., high 16 + 4k ..; Q8_0: 8, codes 4k .. plus 128).

ALWAYS_INLINE size_t pk_blk_bytes(int q8)
{
    return q8 ? 544 : 288;
}

// Halves [h0, h0 + nh) of group g x tokens [t, t + nt)
ALWAYS_INLINE void ptile(float *Y, int ldy, const uint8_t *W, size_t gb, const gptc_pack_xblk *X,
                         int nb, int g, int h0, int nh, int t, int nt, int r0, int r1, int prefetch,
                         int q8)
{
    const size_t pbs = pk_blk_bytes(q8);
    const uint8_t *w = W + (size_t)g * gb;
    const gptc_pack_xblk *x[4];
    __m256 acc[2][4];
#pragma GCC unroll 4
    for (int j = 0; j < nt; j++) {
        x[j] = X + (size_t)(t + j) * nb;
#pragma GCC unroll 2
        for (int hh = 0; hh < nh; hh++)
            acc[hh][j] = _mm256_setzero_ps();
    }
    const __m256i lo = _mm256_set1_epi8(15);
    for (int b = 0; b < nb; b++) {
        const uint8_t *p = w + (size_t)b * pbs;
        if (prefetch) // the next group's block, in step
            for (size_t o = 0; o < pbs; o += 64)
                _mm_prefetch((const char *)(p + gb + o), _MM_HINT_T1);
#pragma GCC unroll 2
        for (int hh = 0; hh < nh; hh++) {
            const int h = h0 + hh;
            // 16-bit pair sums of 8 products each: Q4_0 both nibbles in s; Q8_0 the codes' low
            // nibbles in s, high ones in s2
            __m256i s[4], s2[4];
#pragma GCC unroll 4
            for (int j = 0; j < nt; j++)
                s[j] = s2[j] = _mm256_setzero_si256();
            for (int k = 0; k < (q8 ? 8 : 4); k++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(p + 32 + 64 * k + 32 * h));
                __m256i a = _mm256_and_si256(v, lo);
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo);
#pragma GCC unroll 4
                for (int j = 0; j < nt; j++) {
                    if (q8) {
                        __m256i xv = bcast4(x[j][b].qs + 4 * k);
                        s[j] = _mm256_add_epi16(s[j], _mm256_maddubs_epi16(a, xv));
                        s2[j] = _mm256_add_epi16(s2[j], _mm256_maddubs_epi16(c, xv));
                        PIN(s[j]);
                        PIN(s2[j]);
                    } else {
                        s[j] = _mm256_add_epi16(
                            s[j], _mm256_maddubs_epi16(a, bcast4(x[j][b].qs + 4 * k)));
                        PIN(s[j]);
                        s[j] = _mm256_add_epi16(
                            s[j], _mm256_maddubs_epi16(c, bcast4(x[j][b].qs + 16 + 4 * k)));
                        PIN(s[j]);
                    }
                }
            }
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * h)));
#pragma GCC unroll 4
            for (int j = 0; j < nt; j++) {
                __m256i is = _mm256_madd_epi16(s[j], _mm256_set1_epi16(1));
                if (q8) is = _mm256_add_epi32(is, _mm256_madd_epi16(s2[j], _mm256_set1_epi16(16)));
                is = _mm256_add_epi32(is, _mm256_set1_epi32(q8 ? x[j][b].neg128 : x[j][b].neg8));
                __m256 pr = _mm256_mul_ps(dw, _mm256_set1_ps(x[j][b].d));
                acc[hh][j] = _mm256_add_ps(acc[hh][j], _mm256_mul_ps(_mm256_cvtepi32_ps(is), pr));
            }
        }
    }
    tile_store(Y, ldy, g, h0, nh, t, nt, r0, r1, acc);
}

// ---------------------------------------------------------------------------------------------
// Packed Q4_K (pack_k.c): a super-block of 16 rows is 2304 bytes: d, dmin, the 12 scale bytes
// transposed (byte s of row i at 64 + 16 s + i), then for chunk c and k = 0..7 the code vector
// of elements 64c + 4k .. (low nibbles, sub-block 2c) and 64c + 32 + 4k .. (high, 2c + 1).

// Scale byte s of the 8 rows of half h, zero-extended into the int32 lanes
ALWAYS_INLINE __m256i k_byte(const uint8_t *sb, int s, int h)
{
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(sb + 64 + 16 * s + 8 * h)));
}
// 6-bit scale (m = 0) or min (m = 1) of sub-block j, as gptc_k_scale_min, in both 16-bit halves
// of each lane (the vpmaddwd operand)
ALWAYS_INLINE __m256i k_scale_min2(const uint8_t *sb, int j, int m, int h)
{
    __m256i v;
    if (j < 4) {
        v = _mm256_and_si256(k_byte(sb, j + 4 * m, h), _mm256_set1_epi32(63));
    } else {
        __m256i l = m ? _mm256_srli_epi32(k_byte(sb, j + 4, h), 4)
                      : _mm256_and_si256(k_byte(sb, j + 4, h), _mm256_set1_epi32(15));
        v = _mm256_or_si256(l,
                            _mm256_slli_epi32(_mm256_srli_epi32(k_byte(sb, j - 4 * !m, h), 6), 4));
    }
    return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}

ALWAYS_INLINE void ptileK(float *Y, int ldy, const uint8_t *W, size_t gb, const block_q8_K *X,
                          int nsb, int g, int h0, int nh, int t, int nt, int r0, int r1,
                          int prefetch)
{
    const uint8_t *w = W + (size_t)g * gb;
    const block_q8_K *x[4];
    __m256 acc[2][4];
#pragma GCC unroll 4
    for (int j = 0; j < nt; j++) {
        x[j] = X + (size_t)(t + j) * nsb;
#pragma GCC unroll 2
        for (int hh = 0; hh < nh; hh++)
            acc[hh][j] = _mm256_setzero_ps();
    }
    const __m256i lo = _mm256_set1_epi8(15);
    for (int b = 0; b < nsb; b++) {
        const uint8_t *p = w + (size_t)b * 2304;
        if (prefetch) // the next group's super-block, in step
            for (int o = 0; o < 2304; o += 64)
                _mm_prefetch((const char *)(p + gb + o), _MM_HINT_T1);
#pragma GCC unroll 2
        for (int hh = 0; hh < nh; hh++) {
            const int h = h0 + hh;
            __m256i isum[4], msum[4];
#pragma GCC unroll 4
            for (int j = 0; j < nt; j++)
                isum[j] = msum[j] = _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
#pragma GCC unroll 2
                for (int hb = 0; hb < 2; hb++) {
                    __m256i s[4]; // 16-bit pair sums of sub-block 2c + hb, 8 products each
                    // the codes read again for the high nibbles, not kept from the low ones'
                    // pass in 8 more registers
                    const uint8_t *pc = p + 256 + (size_t)c * 8 * 64 + 32 * h;
                    __asm__("" : "+r"(pc));
#pragma GCC unroll 4
                    for (int j = 0; j < nt; j++)
                        s[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
                    for (int k = 0; k < 8; k++) {
                        __m256i v = _mm256_loadu_si256((const __m256i *)(pc + 64 * k));
                        __m256i a = _mm256_and_si256(hb ? _mm256_srli_epi16(v, 4) : v, lo);
#pragma GCC unroll 4
                        for (int j = 0; j < nt; j++) {
                            s[j] = _mm256_add_epi16(
                                s[j], _mm256_maddubs_epi16(
                                          a, bcast4(x[j][b].qs + 64 * c + 32 * hb + 4 * k)));
                            PIN(s[j]);
                        }
                    }
                    __m256i sc = k_scale_min2(p, 2 * c + hb, 0, h);
#pragma GCC unroll 4
                    for (int j = 0; j < nt; j++)
                        isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(s[j], sc));
                }
            }
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) {
                __m256i m = k_scale_min2(p, q, 1, h);
#pragma GCC unroll 4
                for (int j = 0; j < nt; j++)
                    msum[j] = _mm256_add_epi32(msum[j],
                                               _mm256_madd_epi16(m, bcast4(x[j][b].bsums + 2 * q)));
            }
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * h)));
            __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 32 + 16 * h)));
#pragma GCC unroll 4
            for (int j = 0; j < nt; j++) {
                __m256 v = _mm256_sub_ps(_mm256_mul_ps(dw, _mm256_cvtepi32_ps(isum[j])),
                                         _mm256_mul_ps(dm, _mm256_cvtepi32_ps(msum[j])));
                acc[hh][j] = _mm256_add_ps(acc[hh][j], _mm256_mul_ps(_mm256_set1_ps(x[j][b].d), v));
            }
        }
    }
    tile_store(Y, ldy, g, h0, nh, t, nt, r0, r1, acc);
}

// ---------------------------------------------------------------------------------------------
// Packed Q6_K (pack_q6.c): a super-block of 16 rows is 3360 bytes: d, the 16 scales in pairs
// (scales 2p, 2p + 1 of row i at 32 + 32p + 2i), ql units (288 + 64u) and qh units (2336 +
// 64u), a unit of all 16 rows per 64-byte vector. For half H (elements 128H ..), quarter q
// (128H + 32q + 4k ..) and k = 0..7 the code vector is ql unit 16H + 8(q & 1) + k's nibble (low
// for q < 2) ORed with crumb q of qh unit 8H + k as bits 4-5: codes 0..63, so a vpmaddubsw pair
// sum is at most 2 x 63 x 128 = 16128 and two of them add exactly in 16 bits (32256 < 32767).
// A 16-element group (4 code vectors) is two such 16-bit sums, each multiplied by the rows' int8
// scale in a vpmaddwd (the scale in both 16-bit halves). The codes' offset, 32 x the scales
// times the activations' group sums (one vpmaddwd per pair of groups with the stored scale
// pairs), starts the integer sum; then s += d_x * (d * isum), unfused, as gptc_q6_K_vec_dot_ref.

// Scales 2p and 2p + 1 of the 8 rows of half h, as int16 pairs in the int32 lanes
ALWAYS_INLINE __m256i q6_pair(const uint8_t *sb, int p, int h)
{
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(sb + 32 + 32 * p + 16 * h)));
}

ALWAYS_INLINE void ptile6(float *Y, int ldy, const uint8_t *W, size_t gb, const block_q8_K *X,
                          int nsb, int g, int h0, int nh, int t, int nt, int r0, int r1,
                          int prefetch)
{
    const uint8_t *w = W + (size_t)g * gb;
    const block_q8_K *x[4];
    __m256 acc[2][4];
#pragma GCC unroll 4
    for (int j = 0; j < nt; j++) {
        x[j] = X + (size_t)(t + j) * nsb;
#pragma GCC unroll 2
        for (int hh = 0; hh < nh; hh++)
            acc[hh][j] = _mm256_setzero_ps();
    }
    const __m256i lo = _mm256_set1_epi8(15), hb = _mm256_set1_epi8(0x30);
    // the even (odd) scale of each lane's pair, in both 16-bit halves
    const __m256i dup_even = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0,
                                              1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    const __m256i dup_odd = _mm256_add_epi8(dup_even, _mm256_set1_epi8(2));
    for (int b = 0; b < nsb; b++) {
        const uint8_t *p = w + (size_t)b * 3360;
        if (prefetch) // the next group's super-block, in step
            for (int o = 0; o < 3360; o += 64)
                _mm_prefetch((const char *)(p + gb + o), _MM_HINT_T1);
#pragma GCC unroll 2
        for (int hh = 0; hh < nh; hh++) {
            const int rh = h0 + hh;
            __m256i isum[4];
            // the offset first: -32 x sum over groups of scale x group sum
#pragma GCC unroll 4
            for (int j = 0; j < nt; j++)
                isum[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) {
                __m256i sp = q6_pair(p, q, rh);
#pragma GCC unroll 4
                for (int j = 0; j < nt; j++)
                    isum[j] = _mm256_add_epi32(
                        isum[j], _mm256_madd_epi16(sp, bcast4(x[j][b].bsums + 2 * q)));
            }
#pragma GCC unroll 4
            for (int j = 0; j < nt; j++)
                isum[j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(isum[j], 5));
            for (int H = 0; H < 2; H++) {
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
#pragma GCC unroll 2
                    for (int k4 = 0; k4 < 8; k4 += 4) {
                        const int grp = 8 * H + 2 * q + k4 / 4;
                        __m256i sp = q6_pair(p, grp / 2, rh);
                        __m256i sc = _mm256_shuffle_epi8(sp, grp & 1 ? dup_odd : dup_even);
                        __m256i s[4]; // 16-bit sums of two code vectors
#pragma GCC unroll 4
                        for (int k = k4; k < k4 + 4; k++) {
                            __m256i l = _mm256_loadu_si256(
                                (const __m256i *)(p + 288 + 64 * (16 * H + 8 * (q & 1) + k) +
                                                  32 * rh));
                            __m256i c = _mm256_loadu_si256(
                                (const __m256i *)(p + 2336 + 64 * (8 * H + k) + 32 * rh));
                            l = q < 2 ? _mm256_and_si256(l, lo)
                                      : _mm256_and_si256(_mm256_srli_epi16(l, 4), lo);
                            c = q == 0   ? _mm256_slli_epi16(c, 4)
                                : q == 1 ? _mm256_slli_epi16(c, 2)
                                : q == 3 ? _mm256_srli_epi16(c, 2)
                                         : c;
                            __m256i v = _mm256_or_si256(l, _mm256_and_si256(c, hb));
#pragma GCC unroll 4
                            for (int j = 0; j < nt; j++) {
                                __m256i m = _mm256_maddubs_epi16(
                                    v, bcast4(x[j][b].qs + 128 * H + 32 * q + 4 * k));
                                if (k & 1) {
                                    s[j] = _mm256_add_epi16(s[j], m);
                                    isum[j] =
                                        _mm256_add_epi32(isum[j], _mm256_madd_epi16(s[j], sc));
                                } else {
                                    s[j] = m;
                                }
                                PIN(s[j]);
                            }
                        }
                    }
                }
            }
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * rh)));
#pragma GCC unroll 4
            for (int j = 0; j < nt; j++) {
                __m256 v = _mm256_mul_ps(dw, _mm256_cvtepi32_ps(isum[j]));
                acc[hh][j] = _mm256_add_ps(acc[hh][j], _mm256_mul_ps(_mm256_set1_ps(x[j][b].d), v));
            }
        }
    }
    tile_store(Y, ldy, g, h0, nh, t, nt, r0, r1, acc);
}

// Every packed type's product: decode runs a group's both halves for the one token, the next
// group prefetched in step; prefill takes token blocks whose activations stay in L2 while the
// groups stream past, each half reused from L1 / L2 by token tiles of 4, 2 and 1.
enum { PK_Q4_0, PK_Q8_0, PK_Q4_K, PK_Q6_K };

ALWAYS_INLINE void ptile_kind(int kind, float *Y, int ldy, const uint8_t *W, size_t gb,
                              const void *X, int nb, int g, int h0, int nh, int t, int nt, int r0,
                              int r1, int prefetch)
{
    if (kind == PK_Q6_K)
        ptile6(Y, ldy, W, gb, X, nb, g, h0, nh, t, nt, r0, r1, prefetch);
    else if (kind == PK_Q4_K)
        ptileK(Y, ldy, W, gb, X, nb, g, h0, nh, t, nt, r0, r1, prefetch);
    else
        ptile(Y, ldy, W, gb, X, nb, g, h0, nh, t, nt, r0, r1, prefetch, kind == PK_Q8_0);
}

ALWAYS_INLINE void matmul_packed(int kind, float *Y, int ldy, const void *W, const void *Xq, int T,
                                 int C, int r0, int r1)
{
    const int kq = kind == PK_Q4_K || kind == PK_Q6_K;
    const int nb = C / (kq ? QK_K : QK), g0 = r0 / G, g1 = (r1 + G - 1) / G;
    const size_t bb = kind == PK_Q4_K   ? 2304
                      : kind == PK_Q6_K ? 3360
                                        : pk_blk_bytes(kind == PK_Q8_0),
                 xs = kq ? sizeof(block_q8_K) : sizeof(gptc_pack_xblk), gb = (size_t)nb * bb;
    if (T == 1) {
        for (int g = g0; g < g1; g++) {
            int h0, nh = halves(g, r0, r1, &h0);
            if (nh == 2)
                ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, 0, 2, 0, 1, r0, r1, g + 1 < g1);
            else
                ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, h0, 1, 0, 1, r0, r1, g + 1 < g1);
        }
        return;
    }
    int TB = (int)GPTC_MIN((size_t)T, (256 * 1024) / ((size_t)nb * xs));
    TB = GPTC_MAX(4, TB & ~3);
    for (int tb = 0; tb < T; tb += TB) {
        int te = GPTC_MIN(T, tb + TB);
        for (int g = g0; g < g1; g++) {
            int h0, nh = halves(g, r0, r1, &h0);
            for (int h = h0; h < h0 + nh; h++) {
                int t = tb;
                for (; t + 4 <= te; t += 4)
                    ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, h, 1, t, 4, r0, r1, 0);
                if (t + 2 <= te) {
                    ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, h, 1, t, 2, r0, r1, 0);
                    t += 2;
                }
                if (t < te) ptile_kind(kind, Y, ldy, W, gb, Xq, nb, g, h, 1, t, 1, r0, r1, 0);
            }
        }
    }
}

int gptc_qmm_pack_avx2(uint32_t wtype)
{
    return wtype == GPTC_TYPE_Q4_0 || wtype == GPTC_TYPE_Q8_0 || wtype == GPTC_TYPE_Q4_K ||
           wtype == GPTC_TYPE_Q6_K;
}

void gptc_qmm_matmul_packed_avx2(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq,
                                 int T, int C, int r0, int r1)
{
    GPTC_ASSERT(gptc_pack_type_ok(wtype));
    if (!gptc_qmm_pack_avx2(wtype)) /* packed by another table (Q5_K): the reference */
        gptc_pack_matmul_ref(wtype, Y, ldy, W, Xq, T, C, r0, r1);
    else
        matmul_packed(wtype == GPTC_TYPE_Q4_K   ? PK_Q4_K
                      : wtype == GPTC_TYPE_Q6_K ? PK_Q6_K
                      : wtype == GPTC_TYPE_Q8_0 ? PK_Q8_0
                                                : PK_Q4_0,
                      Y, ldy, W, Xq, T, C, r0, r1);
}
