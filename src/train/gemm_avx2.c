/*
 * gemm_avx2.c — training's AVX2 + FMA kernel table (gemm.h): the GEMM micro-kernel, the packing
 * copies of B, and the vectorised elementwise loops (GELU, SwiGLU, softmax's exp, AdamW, the
 * gradient norm); A's transposing pack (MR = 6 rows) stays scalar. Compiled with the AVX2 flags
 * of the Makefile; gemm.c hands the table out only after checking the CPU. tests/test_train.c
 * checks every entry against its scalar reference.
 *
 * Tile MR x NR = 6 x 16: 12 ymm accumulators, 2 ymm of B per k, one broadcast register; 15 of
 * the 16 ymm registers. Each accumulator sums its element in k order, one FMA per k.
 */
#include <immintrin.h>
#include <math.h>

#include "core/simd_exp.h"
#include "core/ops.h"
#include "train/gemm.h"

#define MR 6
#define NV 2 /* ymm vectors per row of the tile */
#define NR (8 * NV)

static void ukernel_avx2(int k, const float *Ap, const float *Bp, float *C, int ldc, int acc,
                         int mr, int nr)
{
    __m256 c[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            c[r][v] = _mm256_setzero_ps();

    for (int p = 0; p < k; p++) {
        const float *a = Ap + (size_t)p * MR; /* (MR) */
        const float *b = Bp + (size_t)p * NR; /* (NR) */
        __m256 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                c[r][v] = _mm256_fmadd_ps(av, bv[v], c[r][v]);
        }
    }

    if (mr == MR && nr == NR) {
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            float *y = C + (size_t)r * ldc;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                __m256 s = c[r][v];
                if (acc) s = _mm256_add_ps(_mm256_loadu_ps(y + 8 * v), s);
                _mm256_storeu_ps(y + 8 * v, s);
            }
        }
        return;
    }
    // an edge tile: through a scratch tile, the valid part copied (the same sums, the same bits)
    float tile[MR][NR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            _mm256_storeu_ps(&tile[r][8 * v], c[r][v]);
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) {
            float *y = C + (size_t)r * ldc + j;
            *y = acc ? *y + tile[r][j] : tile[r][j];
        }
}

// ---------------------------------------------------------------------------------------------
// Packing: B (N, K) transposed into 16-column micro-panels with 8 x 8 in-register transposes;
// full panels of B (K, N) copied two ymm per k.

static inline void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

static inline __m256i lane_mask(int n) /* the first n of 8 lanes */
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static void pack_bt_avx2(const float *B, int ldb, int kc, int nr, float *dst)
{
    for (int k0 = 0; k0 < kc; k0 += 8) {
        int kn = kc - k0 < 8 ? kc - k0 : 8;
        __m256i km = lane_mask(kn);
        for (int v = 0; v < NV; v++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                int j = 8 * v + i;
                r[i] =
                    j < nr ? _mm256_maskload_ps(B + (size_t)j * ldb + k0, km) : _mm256_setzero_ps();
            }
            transpose8(r);
            for (int i = 0; i < kn; i++)
                _mm256_store_ps(dst + (size_t)(k0 + i) * NR + 8 * v, r[i]);
        }
    }
}

static void pack_bn_avx2(const float *B, int ldb, int kc, float *dst)
{
    for (int k = 0; k < kc; k++)
        for (int v = 0; v < NV; v++)
            _mm256_store_ps(dst + (size_t)k * NR + 8 * v,
                            _mm256_loadu_ps(B + (size_t)k * ldb + 8 * v));
}

// ---------------------------------------------------------------------------------------------
// exp (as gemm_avx512.c: 2^n e^r, Taylor to degree 7; 2^n built in the exponent bits) and the
// elementwise loops; tails go through a small buffer.

static inline __m256 sigmoid256(__m256 x)
{
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one,
                         _mm256_add_ps(one, gptc_exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

#define GELU_S 0.7978845608028654f
#define GELU_A 0.044715f

static inline __m256 gelu8(__m256 v)
{
    __m256 u2 = _mm256_mul_ps(
        _mm256_set1_ps(2 * GELU_S),
        _mm256_fmadd_ps(_mm256_set1_ps(GELU_A), _mm256_mul_ps(_mm256_mul_ps(v, v), v), v));
    return _mm256_mul_ps(v, sigmoid256(u2));
}

static inline __m256 gelu_grad8(__m256 v)
{
    __m256 v2 = _mm256_mul_ps(v, v), one = _mm256_set1_ps(1.0f);
    __m256 u2 = _mm256_mul_ps(_mm256_set1_ps(2 * GELU_S),
                              _mm256_fmadd_ps(_mm256_set1_ps(GELU_A), _mm256_mul_ps(v2, v), v));
    __m256 s = sigmoid256(u2);
    __m256 du = _mm256_mul_ps(_mm256_set1_ps(2 * GELU_S),
                              _mm256_fmadd_ps(_mm256_set1_ps(3 * GELU_A), v2, one));
    return _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(v, s), _mm256_sub_ps(one, s)), du, s);
}

// Load / store the first m < 8 floats (the rest read as 0).
static inline __m256 load_n(const float *p, int m)
{
    return _mm256_maskload_ps(p, lane_mask(m));
}
static inline void store_n(float *p, int m, __m256 v)
{
    _mm256_maskstore_ps(p, lane_mask(m), v);
}

static void gelu_fwd_avx2(float *y, const float *x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) store_n(y + i, n - i, gelu8(load_n(x + i, n - i)));
}

static void gelu_bwd_avx2(float *dx, const float *x, const float *dy, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(
            dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), gelu_grad8(_mm256_loadu_ps(x + i))));
    if (i < n)
        store_n(dx + i, n - i,
                _mm256_mul_ps(load_n(dy + i, n - i), gelu_grad8(load_n(x + i, n - i))));
}

static void swiglu_bwd_avx2(float *dg, float *du, const float *dh, const float *g, const float *u,
                            int n)
{
    __m256 one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < n; i += 8) {
        int m = n - i < 8 ? n - i : 8;
        __m256 gv = load_n(g + i, m), uv = load_n(u + i, m), dhv = load_n(dh + i, m),
               s = sigmoid256(gv);
        __m256 t = _mm256_fmadd_ps(gv, _mm256_sub_ps(one, s), one);
        store_n(dg + i, m, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dhv, uv), s), t));
        store_n(du + i, m, _mm256_mul_ps(dhv, _mm256_mul_ps(gv, s)));
    }
}

static float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float expsum_avx2(float *x, int n, float mx)
{
    __m256 s = _mm256_setzero_ps(), vm = _mm256_set1_ps(mx);
    for (int i = 0; i < n; i += 8) {
        int m = n - i < 8 ? n - i : 8;
        __m256 e = gptc_exp256(_mm256_sub_ps(load_n(x + i, m), vm));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(lane_mask(m)));
        store_n(x + i, m, e);
        s = _mm256_add_ps(s, e);
    }
    return hsum8(s);
}

static double sumsq_avx2(const float *x, size_t n)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (size_t i = 0; i < n; i += 8) {
        int m = n - i < 8 ? (int)(n - i) : 8;
        __m256 v = load_n(x + i, m);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        s0 = _mm256_fmadd_pd(lo, lo, s0);
        s1 = _mm256_fmadd_pd(hi, hi, s1);
    }
    __m256d s = _mm256_add_pd(s0, s1);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

static void adamw_avx2(float *p, float *g, float *m1, float *m2, size_t n, float lr, float beta1,
                       float beta2, float eps, float wd, int t, float gscale)
{
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    __m256 step = _mm256_set1_ps(lr / bc1), bc2s = _mm256_set1_ps(sqrtf(bc2)),
           decay = _mm256_set1_ps(1.0f - lr * wd);
    __m256 b1 = _mm256_set1_ps(beta1), b2 = _mm256_set1_ps(beta2),
           c1 = _mm256_set1_ps(1.0f - beta1);
    __m256 c2 = _mm256_set1_ps(1.0f - beta2), ve = _mm256_set1_ps(eps), gs = _mm256_set1_ps(gscale);
    for (size_t i = 0; i < n; i += 8) {
        int m = n - i < 8 ? (int)(n - i) : 8;
        __m256 gi = _mm256_mul_ps(load_n(g + i, m), gs);
        __m256 mv = _mm256_add_ps(_mm256_mul_ps(b1, load_n(m1 + i, m)), _mm256_mul_ps(c1, gi));
        __m256 vv = _mm256_add_ps(_mm256_mul_ps(b2, load_n(m2 + i, m)),
                                  _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
        __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vv), bc2s), ve);
        __m256 pv = _mm256_sub_ps(_mm256_mul_ps(load_n(p + i, m), decay),
                                  _mm256_div_ps(_mm256_mul_ps(step, mv), den));
        store_n(m1 + i, m, mv);
        store_n(m2 + i, m, vv);
        store_n(p + i, m, pv);
        store_n(g + i, m, _mm256_setzero_ps());
    }
}

const gptc_gemm_kernel gptc_gemm_kernel_avx2_table = {
    .name = "avx2",
    .mr = MR,
    .nr = NR,
    .mc = 120,
    .kc = 256,
    .nc = 1536,
    .fn = ukernel_avx2,
    .pack_bt = pack_bt_avx2,
    .pack_bn = pack_bn_avx2,
    .sumsq = sumsq_avx2,
    .expsum = expsum_avx2,
    .adamw = adamw_avx2,
    .gelu_fwd = gelu_fwd_avx2,
    .gelu_bwd = gelu_bwd_avx2,
    .swiglu_fwd = gptc_swiglu_avx2, /* core/ops_avx2.c */
    .swiglu_bwd = swiglu_bwd_avx2,
};
