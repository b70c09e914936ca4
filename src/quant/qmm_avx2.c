/*
 * qmm_avx2.c — quantized matrix products with AVX2 + FMA, for CPUs without AVX-512 VNNI.
 * Compiled with the AVX2 flags of the Makefile; reached only through the avx2 ops table (and the
 * avx512 table on AVX-512 CPUs without VNNI), after dispatch.c has checked the CPU.
 *
 * Activations are the reference's rows of standard Q8_0 / Q8_1 / Q8_K blocks (the avx2 table
 * uses gptc_qmm_act_quant_ref). Each output is one dot product of a weight row and an
 * activation row: 32 codes at a time with vpmaddubsw (unsigned x signed bytes -> 16-bit pair
 * sums; signed weights go through the abs/sign trick) and vpmaddwd, converted to float once per
 * block (per super-block for the K formats, whose sub-block scales are integers). A weight row
 * meets up to 4 tokens at once, so its blocks are unpacked once for all of them (prefill).
 *
 * Shape letters as in ops.h: T tokens, R rows, C columns.
 */
#include <immintrin.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/base.h"
#include "quant/qmm.h"
#include "quant/quant.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// f16 -> f32 with F16C: the same bits as core/fp16.h's scalar code, in one instruction
ALWAYS_INLINE float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

ALWAYS_INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

ALWAYS_INLINE int hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

// The 8 (Q4_K/Q5_K) sub-block scales and mins of a super-block as bytes (gptc_k_scale_min's
// 6-bit fields, 4 at a time).
ALWAYS_INLINE void k4_scales(const uint8_t *s12, uint64_t *sc, uint64_t *mn)
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4;
    uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4;
    *sc = (uint64_t)(u0 & 0x3f3f3f3fu) | (uint64_t)sc_hi << 32;
    *mn = (uint64_t)(u1 & 0x3f3f3f3fu) | (uint64_t)m_hi << 32;
}

// 8 int32 lanes of sum(q * x) over 32 unsigned weight codes and 32 signed activation codes
// (signed weight codes w go through the abs/sign trick: |w| times x with w's sign)
ALWAYS_INLINE __m256i dot_us(__m256i q, __m256i x)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), _mm256_set1_epi16(1));
}

// the 32 nibble codes of qs[16] in element order (low nibbles, then high)
ALWAYS_INLINE __m256i nibbles(const uint8_t *qs)
{
    __m128i a = _mm_loadu_si128((const __m128i *)qs);
    __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_srli_epi16(a, 4), 1);
    return _mm256_and_si256(y, _mm256_set1_epi8(15));
}

// 0x10 in each byte whose bit is set in the 32-bit mask qh (byte j <- bit j)
ALWAYS_INLINE __m256i bit4(const uint8_t *qh4)
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    __m256i v = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)qh),
        _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll));
    __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// Every kernel below computes one weight row against nt <= 4 activation rows (tokens) at once:
// each block's codes and scales are unpacked once and used for every token, and each token's
// own operations are exactly those of nt = 1, so a token's result does not depend on how many
// tokens share the call.
#define NT_MAX 4

// One block of 32 signed weight codes q (scale sw) against block i of each token's Q8_0 row:
// |q| times x with q's sign, then the f32 product of the two scales.
ALWAYS_INLINE void acc_signed32(__m256 *acc, __m256i q, float sw, const void *const *vx, int i,
                                int nt)
{
    __m256i aq = _mm256_sign_epi8(q, q);
    for (int j = 0; j < nt; j++) {
        const block_q8_0 *x = (const block_q8_0 *)vx[j] + i;
        __m256i xv = _mm256_loadu_si256((const __m256i *)x->qs);
        __m256i d = _mm256_madd_epi16(_mm256_maddubs_epi16(aq, _mm256_sign_epi8(xv, q)),
                                      _mm256_set1_epi16(1));
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(sw * h2f(x->d)), acc[j]);
    }
}

ALWAYS_INLINE void dots_q8_0(int n, const void *vw, const void *const *vx, int nt, float *out)
{
    const block_q8_0 *w = vw;
    __m256 acc[NT_MAX];
    for (int j = 0; j < nt; j++)
        acc[j] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK; i++) {
        acc_signed32(acc, _mm256_loadu_si256((const __m256i *)w[i].qs), h2f(w[i].d), vx, i, nt);
    }
    for (int j = 0; j < nt; j++)
        out[j] = hsum8(acc[j]);
}

// Q4_0 (off = 8) and Q5_0 (off = 16, fifth bits from qh) against Q8_0
ALWAYS_INLINE void dots_q45_0(int n, const void *vw, const void *const *vx, int nt, float *out,
                              int five)
{
    const int bs = five ? 22 : 18;
    __m256 acc[NT_MAX];
    for (int j = 0; j < nt; j++)
        acc[j] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK; i++) {
        const uint8_t *b = (const uint8_t *)vw + (size_t)i * bs;
        __m256i q = five ? _mm256_or_si256(nibbles(b + 6), bit4(b + 2)) : nibbles(b + 2);
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(five ? 16 : 8));
        uint16_t h;
        memcpy(&h, b, 2);
        acc_signed32(acc, q, h2f(h), vx, i, nt);
    }
    for (int j = 0; j < nt; j++)
        out[j] = hsum8(acc[j]);
}

// Q4_1 and Q5_1 against Q8_1: d_w d_x sum(q x) + m_w s_x
ALWAYS_INLINE void dots_q45_1(int n, const void *vw, const void *const *vx, int nt, float *out,
                              int five)
{
    const int bs = five ? 24 : 20;
    __m256 acc[NT_MAX];
    float ms[NT_MAX];
    for (int j = 0; j < nt; j++)
        acc[j] = _mm256_setzero_ps(), ms[j] = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        const uint8_t *b = (const uint8_t *)vw + (size_t)i * bs;
        __m256i q = five ? _mm256_or_si256(nibbles(b + 8), bit4(b + 4)) : nibbles(b + 4);
        uint16_t dh, mh;
        memcpy(&dh, b, 2);
        memcpy(&mh, b + 2, 2);
        float dw = h2f(dh), mw = h2f(mh);
        for (int j = 0; j < nt; j++) {
            const block_q8_1 *x = (const block_q8_1 *)vx[j] + i;
            __m256i d = dot_us(q, _mm256_loadu_si256((const __m256i *)x->qs));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(dw * h2f(x->d)), acc[j]);
            ms[j] += mw * h2f(x->s);
        }
    }
    for (int j = 0; j < nt; j++)
        out[j] = hsum8(acc[j]) + ms[j];
}

// Q4_K and Q5_K against Q8_K
ALWAYS_INLINE void dots_q45_K(int n, const void *vw, const void *const *vx, int nt, float *out,
                              int five)
{
    const int bs = five ? 176 : 144;
    __m256 acc[NT_MAX];
    float mins[NT_MAX];
    for (int j = 0; j < nt; j++)
        acc[j] = _mm256_setzero_ps(), mins[j] = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q4_K *b = (const void *)((const uint8_t *)vw + (size_t)i * bs);
        const uint8_t *qs = five ? ((const block_q5_K *)b)->qs : b->qs;
        __m256i H = five ? _mm256_loadu_si256((const __m256i *)((const block_q5_K *)b)->qh)
                         : _mm256_setzero_si256();
        uint64_t sc, mn;
        k4_scales(b->scales, &sc, &mn);
        // mins as words [m0, m0, m1, m1, ...]: one per group sum
        const __m128i dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        __m256i mw = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_cvtsi64_si128((long long)mn), dup));
        __m256i isum[NT_MAX];
        for (int j = 0; j < nt; j++)
            isum[j] = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * k));
            __m256i lo = _mm256_and_si256(v, _mm256_set1_epi8(15));
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15));
            if (five) {
                __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * k))),
                        b1 = _mm256_set1_epi8((char)(1 << (2 * k + 1)));
                lo = _mm256_or_si256(
                    lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(H, b0), b0),
                                         _mm256_set1_epi8(16)));
                hi = _mm256_or_si256(
                    hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(H, b1), b1),
                                         _mm256_set1_epi8(16)));
            }
            __m256i s0 = _mm256_set1_epi16((short)(sc >> 16 * k & 0xff)),
                    s1 = _mm256_set1_epi16((short)(sc >> (16 * k + 8) & 0xff));
            for (int j = 0; j < nt; j++) {
                const int8_t *xq = ((const block_q8_K *)vx[j])[i].qs + 64 * k;
                __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)xq));
                __m256i p1 =
                    _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xq + 32)));
                isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(p0, s0));
                isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(p1, s1));
            }
        }
        float dw = h2f(b->d), dm = h2f(b->dmin);
        for (int j = 0; j < nt; j++) {
            const block_q8_K *x = (const block_q8_K *)vx[j] + i;
            int msum =
                hsum_i32(_mm256_madd_epi16(mw, _mm256_loadu_si256((const __m256i *)x->bsums)));
            acc[j] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_set1_ps(dw * x->d), acc[j]);
            mins[j] += dm * x->d * (float)msum;
        }
    }
    for (int j = 0; j < nt; j++)
        out[j] = hsum8(acc[j]) - mins[j];
}

ALWAYS_INLINE void dots_q6_K(int n, const void *vw, const void *const *vx, int nt, float *out)
{
    const block_q6_K *w = vw;
    __m256 acc[NT_MAX];
    for (int j = 0; j < nt; j++)
        acc[j] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    for (int i = 0; i < n / QK_K; i++) {
        __m256i isum[NT_MAX];
        for (int j = 0; j < nt; j++)
            isum[j] = _mm256_setzero_si256();
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].scales));
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h;
            __m256i L0 = _mm256_loadu_si256((const __m256i *)ql),
                    L1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i H = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(L0, m4),
                                _mm256_slli_epi16(_mm256_and_si256(H, m2), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(L1, m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 2), m2), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(L0, 4), m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 4), m2), 4)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(L1, 4), m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(H, 6), m2), 4)),
            };
            for (int c = 0; c < 4; c++) {
                int e = 128 * h + 32 * c, g = e / 16;
                __m256i s =
                    _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(w[i].scales[g])),
                                            _mm_set1_epi16(w[i].scales[g + 1]), 1);
                for (int j = 0; j < nt; j++) {
                    const int8_t *xq = ((const block_q8_K *)vx[j])[i].qs + e;
                    __m256i p = _mm256_maddubs_epi16(q[c], _mm256_loadu_si256((const __m256i *)xq));
                    isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(p, s));
                }
            }
        }
        float dw = h2f(w[i].d);
        for (int j = 0; j < nt; j++) {
            const block_q8_K *x = (const block_q8_K *)vx[j] + i;
            int corr = hsum_i32(_mm256_madd_epi16(
                sc16, _mm256_loadu_si256((const __m256i *)x->bsums))); // sum_g scale_g bsum_g
            __m256i is =
                _mm256_sub_epi32(isum[j], _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(dw * x->d), acc[j]);
        }
    }
    for (int j = 0; j < nt; j++)
        out[j] = hsum8(acc[j]);
}

// 32 grid values (signed) of a qs[16] through a 16-entry table (IQ4_NL, IQ4_XS, MXFP4)
ALWAYS_INLINE __m256i grid_codes(const uint8_t *qs, const int8_t *grid)
{
    __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)grid));
    return _mm256_shuffle_epi8(t, nibbles(qs));
}

// IQ4_NL (f16 scale at 0, qs at 2, 18 bytes) and MXFP4 (E8M0 at 0, qs at 1, 17 bytes) against Q8_0
ALWAYS_INLINE void dots_grid32(int n, const void *vw, const void *const *vx, int nt, float *out,
                               int mx)
{
    const int bs = mx ? 17 : 18;
    __m256 acc[NT_MAX];
    for (int j = 0; j < nt; j++)
        acc[j] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK; i++) {
        const uint8_t *b = (const uint8_t *)vw + (size_t)i * bs;
        __m256i q = grid_codes(b + (mx ? 1 : 2), mx ? gptc_mxfp4_values : gptc_iq4nl_values);
        float sw;
        if (mx) {
            sw = gptc_e8m0_half(b[0]);
        } else {
            uint16_t h;
            memcpy(&h, b, 2);
            sw = h2f(h);
        }
        acc_signed32(acc, q, sw, vx, i, nt);
    }
    for (int j = 0; j < nt; j++)
        out[j] = hsum8(acc[j]);
}

ALWAYS_INLINE void dots_iq4_xs(int n, const void *vw, const void *const *vx, int nt, float *out)
{
    const block_iq4_xs *w = vw;
    __m256 acc[NT_MAX];
    for (int j = 0; j < nt; j++)
        acc[j] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        __m256i isum[NT_MAX];
        for (int j = 0; j < nt; j++)
            isum[j] = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ib++) {
            int ls = (((w[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 15) |
                      ((w[i].scales_h >> 2 * ib) & 3) << 4) -
                     32;
            __m256i q = grid_codes(w[i].qs + 16 * ib, gptc_iq4nl_values);
            __m256i aq = _mm256_sign_epi8(q, q), s = _mm256_set1_epi16((short)ls);
            for (int j = 0; j < nt; j++) {
                const int8_t *xq = ((const block_q8_K *)vx[j])[i].qs + 32 * ib;
                __m256i a = _mm256_loadu_si256((const __m256i *)xq);
                __m256i p = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(a, q));
                isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(p, s));
            }
        }
        float dw = h2f(w[i].d);
        for (int j = 0; j < nt; j++) {
            const block_q8_K *x = (const block_q8_K *)vx[j] + i;
            acc[j] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_set1_ps(dw * x->d), acc[j]);
        }
    }
    for (int j = 0; j < nt; j++)
        out[j] = hsum8(acc[j]);
}

// Q2_K (q in 0..3, 4-bit scales and mins) and Q3_K (q + 4 in 0..7, 6-bit signed scales) against
// Q8_K: unsigned codes, the mins / the offset 4 taken out with the group sums
ALWAYS_INLINE void dots_q23_K(int n, const void *vw, const void *const *vx, int nt, float *out,
                              int three)
{
    const int bs = three ? 110 : 84;
    __m256 acc[NT_MAX];
    float corr_sum[NT_MAX];
    for (int j = 0; j < nt; j++)
        acc[j] = _mm256_setzero_ps(), corr_sum[j] = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *b = (const uint8_t *)vw + (size_t)i * bs;
        const block_q2_K *b2 = (const void *)b;
        const block_q3_K *b3 = (const void *)b;
        int16_t sc[16], mw[16];
        float dw, dm;
        if (three) {
            for (int g = 0; g < 16; g++) {
                int lo = g < 8 ? b3->scales[g] & 15 : b3->scales[g - 8] >> 4;
                sc[g] = mw[g] =
                    (int16_t)((lo | (b3->scales[8 + g % 4] >> (2 * (g / 4)) & 3) << 4) - 32);
            }
            dw = h2f(b3->d);
            dm = -4.0f * dw;
        } else {
            for (int g = 0; g < 16; g++)
                sc[g] = b2->scales[g] & 15, mw[g] = b2->scales[g] >> 4;
            dw = h2f(b2->d);
            dm = -h2f(b2->dmin);
        }
        const uint8_t *qs = three ? b3->qs : b2->qs;
        __m256i H = three ? _mm256_loadu_si256((const __m256i *)b3->hmask) : _mm256_setzero_si256();
        __m256i isum[NT_MAX];
        for (int j = 0; j < nt; j++)
            isum[j] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i Q = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
            for (int jj = 0; jj < 4; jj++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(Q, 2 * jj), _mm256_set1_epi8(3));
                if (three) {
                    __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + jj)));
                    q = _mm256_or_si256(
                        q, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(H, bit), bit),
                                            _mm256_set1_epi8(4)));
                }
                int e = 128 * h + 32 * jj, g = e / 16;
                __m256i sv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[g])),
                                                     _mm_set1_epi16(sc[g + 1]), 1);
                for (int j = 0; j < nt; j++) {
                    const int8_t *xq = ((const block_q8_K *)vx[j])[i].qs + e;
                    __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)xq));
                    isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(p, sv));
                }
            }
        }
        for (int j = 0; j < nt; j++) {
            const block_q8_K *x = (const block_q8_K *)vx[j] + i;
            int corr = 0;
            for (int g = 0; g < 16; g++)
                corr += mw[g] * x->bsums[g];
            acc[j] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_set1_ps(dw * x->d), acc[j]);
            corr_sum[j] += dm * x->d * (float)corr;
        }
    }
    for (int j = 0; j < nt; j++)
        out[j] = hsum8(acc[j]) + corr_sum[j];
}

enum {
    A_Q4_0,
    A_Q5_0,
    A_Q4_1,
    A_Q5_1,
    A_Q8_0,
    A_Q4_K,
    A_Q5_K,
    A_Q6_K,
    A_Q2_K,
    A_Q3_K,
    A_IQ4_NL,
    A_IQ4_XS,
    A_MXFP4
};

ALWAYS_INLINE void dots(int kind, int n, const void *w, const void *const *x, int nt, float *out)
{
    switch (kind) {
    case A_Q4_0:
        dots_q45_0(n, w, x, nt, out, 0);
        break;
    case A_Q5_0:
        dots_q45_0(n, w, x, nt, out, 1);
        break;
    case A_Q4_1:
        dots_q45_1(n, w, x, nt, out, 0);
        break;
    case A_Q5_1:
        dots_q45_1(n, w, x, nt, out, 1);
        break;
    case A_Q8_0:
        dots_q8_0(n, w, x, nt, out);
        break;
    case A_Q4_K:
        dots_q45_K(n, w, x, nt, out, 0);
        break;
    case A_Q5_K:
        dots_q45_K(n, w, x, nt, out, 1);
        break;
    case A_Q6_K:
        dots_q6_K(n, w, x, nt, out);
        break;
    case A_Q2_K:
        dots_q23_K(n, w, x, nt, out, 0);
        break;
    case A_Q3_K:
        dots_q23_K(n, w, x, nt, out, 1);
        break;
    case A_IQ4_NL:
        dots_grid32(n, w, x, nt, out, 0);
        break;
    case A_IQ4_XS:
        dots_iq4_xs(n, w, x, nt, out);
        break;
    default:
        dots_grid32(n, w, x, nt, out, 1);
        break;
    }
}

// Rows [r0, r1) of one type: rows outer (a weight row stays in L1 while the tokens pass it),
// tokens in groups of NT_MAX, so each block is unpacked once per group.
ALWAYS_INLINE void matmul_kind(int kind, float *Y, int ldy, const void *W, const void *Xq, int T,
                               int C, int r0, int r1, size_t rb, size_t xb)
{
    if (T == 1) { // decode: the same dots, without the group set-up (which cost Q8_0 decode 15%)
        for (int r = r0; r < r1; r++)
            dots(kind, C, (const char *)W + (size_t)r * rb, &Xq, 1, &Y[r]);
        return;
    }
    for (int r = r0; r < r1; r++) {
        const char *w = (const char *)W + (size_t)r * rb;
        int t = 0;
        for (; t < T; t += NT_MAX) {
            const void *x[NT_MAX];
            float out[NT_MAX];
            int nt = GPTC_MIN(NT_MAX, T - t);
            for (int j = 0; j < NT_MAX; j++)
                x[j] = (const char *)Xq + (size_t)(t + (j < nt ? j : 0)) * xb;
            switch (nt) {
            case 4:
                dots(kind, C, w, x, 4, out);
                break;
            case 3:
                dots(kind, C, w, x, 3, out);
                break;
            case 2:
                dots(kind, C, w, x, 2, out);
                break;
            default:
                dots(kind, C, w, x, 1, out);
                break;
            }
            for (int j = 0; j < nt; j++)
                Y[(size_t)(t + j) * ldy + r] = out[j];
        }
    }
}

void gptc_qmm_matmul_avx2(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                          int C, int r0, int r1)
{
    const gptc_type_traits *tt = gptc_type_info(wtype);
    if (!tt) {
        GPTC_ASSERT(!"matmul_q: not a weight type");
        return;
    }
    size_t rb = gptc_row_bytes(wtype, C), xb = gptc_row_bytes(tt->vec_dot_type, C);
    // one instance of matmul_kind per type, the kind a constant in each
    /* clang-format off */
#define KIND(t) case GPTC_TYPE_##t: matmul_kind(A_##t, Y, ldy, W, Xq, T, C, r0, r1, rb, xb); break;
    switch (wtype) {
    KIND(Q4_0) KIND(Q4_1) KIND(Q5_0) KIND(Q5_1) KIND(Q8_0) KIND(IQ4_NL) KIND(MXFP4)
    KIND(Q4_K) KIND(Q5_K) KIND(Q6_K) KIND(Q2_K) KIND(Q3_K) KIND(IQ4_XS)
    default: GPTC_ASSERT(!"matmul_q: not a quantized weight type"); break;
    }
#undef KIND
    /* clang-format on */
}
