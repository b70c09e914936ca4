/*
 * gemm_avx512.c — training's AVX-512 kernel table (gemm.h): the GEMM micro-kernel, the packing
 * copies (with in-register transposes), and the vectorised elementwise loops (exp-based GELU,
 * SwiGLU and softmax, AdamW, the gradient norm). Compiled with the AVX-512 flags of the
 * Makefile; gemm.c hands the table out only after checking the CPU. tests/test_train.c checks
 * every entry against its scalar reference.
 *
 * Tile MR x NR = 8 x 32: 16 zmm accumulators, 2 zmm of B per k, A values broadcast from memory
 * (folded into the FMA as {1to16}). Per k step: 2 vector loads, 8 broadcasts and 16 FMAs, so
 * the FMA pipes, not the load ports, set the pace (Zen 4: one 512-bit FMA and two loads per
 * cycle). 32 columns divide the widths training meets (heads of 32 or 64, dims of 128 ... 3072)
 * better than 48, which measured no faster on the large products. Each accumulator sums its
 * element in k order, one FMA per k, which is what makes the result independent of tiling and
 * threads.
 */
#include <immintrin.h>
#include <math.h>

#include "core/simd_exp.h"
#include "core/ops.h"
#include "train/gemm.h"

#define MR 8
#define NV 2 /* zmm vectors per row of the tile */
#define NR (16 * NV)

static void ukernel_avx512(int k, const float *Ap, const float *Bp, float *C, int ldc, int acc,
                           int mr, int nr)
{
    __m512 c[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            c[r][v] = _mm512_setzero_ps();

    for (int p = 0; p < k; p++) {
        const float *a = Ap + (size_t)p * MR; /* (MR) */
        const float *b = Bp + (size_t)p * NR; /* (NR) */
        __m512 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                c[r][v] = _mm512_fmadd_ps(av, bv[v], c[r][v]);
        }
    }

    if (mr == MR && nr == NR) {
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            float *y = C + (size_t)r * ldc;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                __m512 s = c[r][v];
                if (acc) s = _mm512_add_ps(_mm512_loadu_ps(y + 16 * v), s);
                _mm512_storeu_ps(y + 16 * v, s);
            }
        }
        return;
    }
    // an edge tile: masked columns, rows up to mr (the same sums, so the same bits)
    __mmask16 cm[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        int left = nr - 16 * v;
        cm[v] = left >= 16  ? (__mmask16)0xffff
                : left <= 0 ? (__mmask16)0
                            : (__mmask16)((1u << left) - 1);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        float *y = C + (size_t)r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __m512 s = c[r][v];
            if (acc) s = _mm512_add_ps(_mm512_maskz_loadu_ps(cm[v], y + 16 * v), s);
            _mm512_mask_storeu_ps(y + 16 * v, cm[v], s);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transposing pack of B (N, K) into an NR-column micro-panel: 16 x 16 blocks transposed in
// registers (unpack, shuffle within 128-bit lanes, then lane shuffles), so each row of W is read
// once, contiguously, and each packed row written whole.

static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     // a0 b0 a1 b1 per 128-bit lane
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); // a2 b2 a3 b3
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);         // a0 b0 c0 d0
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);     // a1 b1 c1 d1
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44); // a2 b2 c2 d2
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE); // a3 b3 c3 d3
    }
    // u[4g + j] holds column 4L + j of rows 4g..4g+3 in lane L; gather the four row groups
    for (int j = 0; j < 4; j++) {
        __m512 a = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88); // lanes (u_j L0, L2, u_4+j L0, L2)
        __m512 b = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD); // (L1, L3, L1, L3)
        __m512 c = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        __m512 d = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        r[j] = _mm512_shuffle_f32x4(a, c, 0x88);      // column j
        r[8 + j] = _mm512_shuffle_f32x4(a, c, 0xDD);  // column 8 + j
        r[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);  // column 4 + j
        r[12 + j] = _mm512_shuffle_f32x4(b, d, 0xDD); // column 12 + j
    }
}

static void pack_bt_avx512(const float *B, int ldb, int kc, int nr, float *dst)
{
    for (int k0 = 0; k0 < kc; k0 += 16) {
        int kn = kc - k0 < 16 ? kc - k0 : 16;
        __mmask16 km = (__mmask16)((1u << kn) - 1);
        for (int v = 0; v < NV; v++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int j = 16 * v + i;
                r[i] = j < nr ? _mm512_maskz_loadu_ps(km, B + (size_t)j * ldb + k0)
                              : _mm512_setzero_ps();
            }
            transpose16(r);
            for (int i = 0; i < kn; i++)
                _mm512_store_ps(dst + (size_t)(k0 + i) * NR + 16 * v, r[i]);
        }
    }
}

// Transposing pack of A (M, K) into an MR = 8 row micro-panel: 8 x 8 blocks transposed in ymm
// registers.
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
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);     // column j
        r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31); // column 4 + j
    }
}

static void pack_at_avx512(const float *A, int lda, int kc, int mr, float *dst)
{
    for (int k0 = 0; k0 < kc; k0 += 8) {
        int kn = kc - k0 < 8 ? kc - k0 : 8;
        __mmask8 km = (__mmask8)((1u << kn) - 1);
        __m256 r[8];
        for (int i = 0; i < 8; i++)
            r[i] =
                i < mr ? _mm256_maskz_loadu_ps(km, A + (size_t)i * lda + k0) : _mm256_setzero_ps();
        transpose8(r);
        for (int i = 0; i < kn; i++)
            _mm256_store_ps(dst + (size_t)(k0 + i) * MR, r[i]);
    }
}

// Plain copies of full panels (NR = 48 and MR = 8 floats per k).
static void pack_bn_avx512(const float *B, int ldb, int kc, float *dst)
{
    for (int k = 0; k < kc; k++) {
        const float *s = B + (size_t)k * ldb;
        float *d = dst + (size_t)k * NR;
        for (int v = 0; v < NV; v++)
            _mm512_store_ps(d + 16 * v, _mm512_loadu_ps(s + 16 * v));
    }
}

static void pack_an_avx512(const float *A, int lda, int kc, float *dst)
{
    for (int k = 0; k < kc; k++)
        _mm256_store_ps(dst + (size_t)k * MR, _mm256_loadu_ps(A + (size_t)k * lda));
}

// ---------------------------------------------------------------------------------------------
// exp and the elementwise ops. exp(x) = 2^n e^r with n = round(x / ln 2), |r| <= ln2 / 2, e^r by
// its Taylor series to degree 7 (relative error below 1e-8 before rounding), 2^n by vscalefps.

static inline __m512 sigmoid512(__m512 x)
{
    __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one,
                         _mm512_add_ps(one, gptc_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline __mmask16 tail_mask(int n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

// GELU(x) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): the same function as
// 0.5 x (1 + tanh u), without the cancellation of 1 + tanh for negative u.
#define GELU_S 0.7978845608028654f
#define GELU_A 0.044715f

static void gelu_fwd_avx512(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 v2 = _mm512_mul_ps(v, v);
        __m512 u2 = _mm512_mul_ps(_mm512_set1_ps(2 * GELU_S),
                                  _mm512_fmadd_ps(_mm512_set1_ps(GELU_A), _mm512_mul_ps(v2, v), v));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, sigmoid512(u2)));
    }
}

static void gelu_bwd_avx512(float *dx, const float *x, const float *dy, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 v2 = _mm512_mul_ps(v, v);
        __m512 u2 = _mm512_mul_ps(_mm512_set1_ps(2 * GELU_S),
                                  _mm512_fmadd_ps(_mm512_set1_ps(GELU_A), _mm512_mul_ps(v2, v), v));
        __m512 s = sigmoid512(u2);
        // d = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 a x^2)
        __m512 du =
            _mm512_mul_ps(_mm512_set1_ps(2 * GELU_S),
                          _mm512_fmadd_ps(_mm512_set1_ps(3 * GELU_A), v2, _mm512_set1_ps(1.0f)));
        __m512 d = _mm512_fmadd_ps(
            _mm512_mul_ps(_mm512_mul_ps(v, s), _mm512_sub_ps(_mm512_set1_ps(1.0f), s)), du, s);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), d));
    }
}

static void swiglu_bwd_avx512(float *dg, float *du, const float *dh, const float *g, const float *u,
                              int n)
{
    __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 gv = _mm512_maskz_loadu_ps(m, g + i), uv = _mm512_maskz_loadu_ps(m, u + i);
        __m512 dhv = _mm512_maskz_loadu_ps(m, dh + i), s = sigmoid512(gv);
        // dg = dh u s (1 + g (1 - s)); du = dh g s
        __m512 t = _mm512_fmadd_ps(gv, _mm512_sub_ps(one, s), one);
        _mm512_mask_storeu_ps(dg + i, m,
                              _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dhv, uv), s), t));
        _mm512_mask_storeu_ps(du + i, m, _mm512_mul_ps(dhv, _mm512_mul_ps(gv, s)));
    }
}

// ---------------------------------------------------------------------------------------------
// AdamW (optim.c's reference, 16 lanes at a time; the same operations in the same order)

static void adamw_avx512(float *p, float *g, float *m1, float *m2, size_t n, float lr, float beta1,
                         float beta2, float eps, float wd, int t, float gscale)
{
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    __m512 step = _mm512_set1_ps(lr / bc1), bc2s = _mm512_set1_ps(sqrtf(bc2)),
           decay = _mm512_set1_ps(1.0f - lr * wd);
    __m512 b1 = _mm512_set1_ps(beta1), b2 = _mm512_set1_ps(beta2),
           c1 = _mm512_set1_ps(1.0f - beta1);
    __m512 c2 = _mm512_set1_ps(1.0f - beta2), ve = _mm512_set1_ps(eps), gs = _mm512_set1_ps(gscale);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 gi = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, g + i), gs);
        __m512 mv = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(m, m1 + i)),
                                  _mm512_mul_ps(c1, gi));
        __m512 vv = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_maskz_loadu_ps(m, m2 + i)),
                                  _mm512_mul_ps(_mm512_mul_ps(c2, gi), gi));
        __m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vv), bc2s), ve);
        __m512 pv = _mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + i), decay),
                                  _mm512_div_ps(_mm512_mul_ps(step, mv), den));
        _mm512_mask_storeu_ps(m1 + i, m, mv);
        _mm512_mask_storeu_ps(m2 + i, m, vv);
        _mm512_mask_storeu_ps(p + i, m, pv);
        _mm512_mask_storeu_ps(g + i, m, _mm512_setzero_ps());
    }
}

static float expsum_avx512(float *x, int n, float mx)
{
    __m512 s = _mm512_setzero_ps(), vm = _mm512_set1_ps(mx);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = gptc_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm));
        _mm512_mask_storeu_ps(x + i, m, e);
        s = _mm512_mask_add_ps(s, m, s, e);
    }
    return _mm512_reduce_add_ps(s);
}

static double sumsq_avx512(const float *x, size_t n)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d hi =
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        s0 = _mm512_fmadd_pd(lo, lo, s0);
        s1 = _mm512_fmadd_pd(hi, hi, s1);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

const gptc_gemm_kernel gptc_gemm_kernel_avx512_table = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    .mc = 128,
    .kc = 256,
    .nc = 1536,
    .fn = ukernel_avx512,
    .pack_bt = pack_bt_avx512,
    .pack_at = pack_at_avx512,
    .pack_bn = pack_bn_avx512,
    .pack_an = pack_an_avx512,
    .sumsq = sumsq_avx512,
    .expsum = expsum_avx512,
    .adamw = adamw_avx512,
    .gelu_fwd = gelu_fwd_avx512,
    .gelu_bwd = gelu_bwd_avx512,
    .swiglu_fwd = gptc_swiglu_avx512, /* core/ops_avx512.c */
    .swiglu_bwd = swiglu_bwd_avx512,
};
