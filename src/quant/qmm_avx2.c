/*
 * qmm_avx2.c — quantized matrix products with AVX2 + FMA, for CPUs without AVX-512 VNNI.
 * Compiled with the AVX2 flags of the Makefile; reached only through the avx2 ops table (and the
 * avx512 table on AVX-512 CPUs without VNNI), after dispatch.c has checked the CPU.
 *
 * Activations are the reference's rows of standard Q8_0 / Q8_1 / Q8_K blocks (the avx2 table
 * uses gptc_qmm_act_quant_ref). Each output is one dot product of a weight row and an
 * activation row: 32 codes at a time with vpmaddubsw (unsigned x signed bytes -> 16-bit pair
 * sums; signed weights go through the abs/sign trick) and vpmaddwd, converted to float once per
 * block (per super-block for the K formats, whose sub-block scales are integers).
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

// 8 int32 lanes of sum(w * x) over 32 signed weight codes and 32 signed activation codes
ALWAYS_INLINE __m256i dot_ss(__m256i w, __m256i x)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// the same with unsigned weight codes
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

static float dot_q8_0(int n, const void *vw, const void *vx)
{
    const block_q8_0 *w = vw, *x = vx;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK; i++) {
        __m256i d = dot_ss(_mm256_loadu_si256((const __m256i *)w[i].qs),
                           _mm256_loadu_si256((const __m256i *)x[i].qs));
        float s = h2f(w[i].d) * h2f(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(s), acc);
    }
    return hsum8(acc);
}

// Q4_0 (off = 8) and Q5_0 (off = 16, fifth bits from qh) against Q8_0
ALWAYS_INLINE float dot_q45_0(int n, const void *vw, const void *vx, int five)
{
    const block_q8_0 *x = vx;
    const int bs = five ? 22 : 18;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK; i++) {
        const uint8_t *b = (const uint8_t *)vw + (size_t)i * bs;
        __m256i q = five ? _mm256_or_si256(nibbles(b + 6), bit4(b + 2)) : nibbles(b + 2);
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(five ? 16 : 8));
        __m256i d = dot_ss(q, _mm256_loadu_si256((const __m256i *)x[i].qs));
        uint16_t h;
        memcpy(&h, b, 2);
        float s = h2f(h) * h2f(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(s), acc);
    }
    return hsum8(acc);
}

// Q4_1 and Q5_1 against Q8_1: d_w d_x sum(q x) + m_w s_x
ALWAYS_INLINE float dot_q45_1(int n, const void *vw, const void *vx, int five)
{
    const block_q8_1 *x = vx;
    const int bs = five ? 24 : 20;
    __m256 acc = _mm256_setzero_ps();
    float ms = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        const uint8_t *b = (const uint8_t *)vw + (size_t)i * bs;
        __m256i q = five ? _mm256_or_si256(nibbles(b + 8), bit4(b + 4)) : nibbles(b + 4);
        __m256i d = dot_us(q, _mm256_loadu_si256((const __m256i *)x[i].qs));
        uint16_t dh, mh;
        memcpy(&dh, b, 2);
        memcpy(&mh, b + 2, 2);
        float s = h2f(dh) * h2f(x[i].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(s), acc);
        ms += h2f(mh) * h2f(x[i].s);
    }
    return hsum8(acc) + ms;
}

// Q4_K and Q5_K against Q8_K
ALWAYS_INLINE float dot_q45_K(int n, const void *vw, const void *vx, int five)
{
    const block_q8_K *x = vx;
    const int bs = five ? 176 : 144;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const block_q4_K *b = (const void *)((const uint8_t *)vw + (size_t)i * bs);
        const uint8_t *qs = five ? ((const block_q5_K *)b)->qs : b->qs;
        __m256i H = five ? _mm256_loadu_si256((const __m256i *)((const block_q5_K *)b)->qh)
                         : _mm256_setzero_si256();
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++)
            gptc_k_scale_min(j, b->scales, &sc[j], &m[j]);
        __m256i isum = _mm256_setzero_si256();
        int msum = 0;
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
            __m256i p0 =
                _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * k)));
            __m256i p1 = _mm256_maddubs_epi16(
                hi, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * k + 32)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * k])));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * k + 1])));
        }
        for (int j = 0; j < 8; j++)
            msum += m[j] * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(h2f(b->d) * x[i].d), acc);
        mins += h2f(b->dmin) * x[i].d * (float)msum;
    }
    return hsum8(acc) - mins;
}

static float dot_q6_K(int n, const void *vw, const void *vx)
{
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    __m256 acc = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    for (int i = 0; i < n / QK_K; i++) {
        __m256i isum = _mm256_setzero_si256();
        int corr = 0;
        for (int g = 0; g < 16; g++)
            corr += w[i].scales[g] * x[i].bsums[g];
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
                __m256i p =
                    _mm256_maddubs_epi16(q[c], _mm256_loadu_si256((const __m256i *)(x[i].qs + e)));
                __m256i s =
                    _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(w[i].scales[g])),
                                            _mm_set1_epi16(w[i].scales[g + 1]), 1);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
            }
        }
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(h2f(w[i].d) * x[i].d), acc);
    }
    return hsum8(acc);
}

// 32 grid values (signed) of a qs[16] through a 16-entry table (IQ4_NL, IQ4_XS, MXFP4)
ALWAYS_INLINE __m256i grid_codes(const uint8_t *qs, const int8_t *grid)
{
    __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)grid));
    return _mm256_shuffle_epi8(t, nibbles(qs));
}

// IQ4_NL (f16 scale at 0, qs at 2, 18 bytes) and MXFP4 (E8M0 at 0, qs at 1, 17 bytes) against Q8_0
ALWAYS_INLINE float dot_grid32(int n, const void *vw, const void *vx, int mx)
{
    const block_q8_0 *x = vx;
    const int bs = mx ? 17 : 18;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK; i++) {
        const uint8_t *b = (const uint8_t *)vw + (size_t)i * bs;
        __m256i q = grid_codes(b + (mx ? 1 : 2), mx ? gptc_mxfp4_values : gptc_iq4nl_values);
        __m256i d = dot_ss(q, _mm256_loadu_si256((const __m256i *)x[i].qs));
        float sw;
        if (mx) {
            sw = gptc_e8m0_half(b[0]);
        } else {
            uint16_t h;
            memcpy(&h, b, 2);
            sw = h2f(h);
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(h2f(x[i].d) * sw), acc);
    }
    return hsum8(acc);
}

static float dot_iq4_nl(int n, const void *w, const void *x)
{
    return dot_grid32(n, w, x, 0);
}
static float dot_mxfp4(int n, const void *w, const void *x)
{
    return dot_grid32(n, w, x, 1);
}

static float dot_iq4_xs(int n, const void *vw, const void *vx)
{
    const block_iq4_xs *w = vw;
    const block_q8_K *x = vx;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        __m256i isum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ib++) {
            int ls = (((w[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 15) |
                      ((w[i].scales_h >> 2 * ib) & 3) << 4) -
                     32;
            __m256i q = grid_codes(w[i].qs + 16 * ib, gptc_iq4nl_values);
            __m256i a = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * ib));
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16((short)ls)));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(h2f(w[i].d) * x[i].d), acc);
    }
    return hsum8(acc);
}

// Q2_K (q in 0..3, 4-bit scales and mins) and Q3_K (q + 4 in 0..7, 6-bit signed scales) against
// Q8_K: unsigned codes, the mins / the offset 4 taken out with the group sums
ALWAYS_INLINE float dot_q23_K(int n, const void *vw, const void *vx, int three)
{
    const block_q8_K *x = vx;
    const int bs = three ? 110 : 84;
    __m256 acc = _mm256_setzero_ps();
    float corr_sum = 0.0f;
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
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i Q = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(Q, 2 * j), _mm256_set1_epi8(3));
                if (three) {
                    __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + j)));
                    q = _mm256_or_si256(
                        q, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(H, bit), bit),
                                            _mm256_set1_epi8(4)));
                }
                int e = 128 * h + 32 * j, g = e / 16;
                __m256i p =
                    _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(x[i].qs + e)));
                __m256i sv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[g])),
                                                     _mm_set1_epi16(sc[g + 1]), 1);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sv));
            }
        }
        int corr = 0;
        for (int g = 0; g < 16; g++)
            corr += mw[g] * x[i].bsums[g];
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dw * x[i].d), acc);
        corr_sum += dm * x[i].d * (float)corr;
    }
    return hsum8(acc) + corr_sum;
}

static float dot_q2_K(int n, const void *w, const void *x)
{
    return dot_q23_K(n, w, x, 0);
}
static float dot_q3_K(int n, const void *w, const void *x)
{
    return dot_q23_K(n, w, x, 1);
}

static float dot_q4_0(int n, const void *w, const void *x)
{
    return dot_q45_0(n, w, x, 0);
}
static float dot_q5_0(int n, const void *w, const void *x)
{
    return dot_q45_0(n, w, x, 1);
}
static float dot_q4_1(int n, const void *w, const void *x)
{
    return dot_q45_1(n, w, x, 0);
}
static float dot_q5_1(int n, const void *w, const void *x)
{
    return dot_q45_1(n, w, x, 1);
}
static float dot_q4_K(int n, const void *w, const void *x)
{
    return dot_q45_K(n, w, x, 0);
}
static float dot_q5_K(int n, const void *w, const void *x)
{
    return dot_q45_K(n, w, x, 1);
}

void gptc_qmm_matmul_avx2(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                          int C, int r0, int r1)
{
    gptc_vec_dot_fn dot;
    switch (wtype) {
    case GPTC_TYPE_Q4_0:
        dot = dot_q4_0;
        break;
    case GPTC_TYPE_Q4_1:
        dot = dot_q4_1;
        break;
    case GPTC_TYPE_Q5_0:
        dot = dot_q5_0;
        break;
    case GPTC_TYPE_Q5_1:
        dot = dot_q5_1;
        break;
    case GPTC_TYPE_Q8_0:
        dot = dot_q8_0;
        break;
    case GPTC_TYPE_Q4_K:
        dot = dot_q4_K;
        break;
    case GPTC_TYPE_Q5_K:
        dot = dot_q5_K;
        break;
    case GPTC_TYPE_Q6_K:
        dot = dot_q6_K;
        break;
    case GPTC_TYPE_Q2_K:
        dot = dot_q2_K;
        break;
    case GPTC_TYPE_Q3_K:
        dot = dot_q3_K;
        break;
    case GPTC_TYPE_IQ4_NL:
        dot = dot_iq4_nl;
        break;
    case GPTC_TYPE_IQ4_XS:
        dot = dot_iq4_xs;
        break;
    case GPTC_TYPE_MXFP4:
        dot = dot_mxfp4;
        break;
    default:
        GPTC_ASSERT(!"matmul_q: not a quantized weight type");
        return;
    }
    size_t rb = gptc_row_bytes(wtype, C),
           xb = gptc_row_bytes(gptc_type_info(wtype)->vec_dot_type, C);
    // rows outer: a weight row stays in L1 while every token's activations pass it
    for (int r = r0; r < r1; r++) {
        const char *w = (const char *)W + (size_t)r * rb;
        for (int t = 0; t < T; t++)
            Y[(size_t)t * ldy + r] = dot(C, w, (const char *)Xq + (size_t)t * xb);
    }
}
