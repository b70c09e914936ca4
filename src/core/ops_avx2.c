/*
 * ops_avx2.c — the ops table with AVX2 + FMA + F16C intrinsics. Compiled with the AVX2 flags
 * of the Makefile; only called after dispatch.c has checked the CPU.
 *
 * Shape letters as in ops.h: T tokens, R output rows, C input columns.
 *
 * The scheme of ops_avx512.c at 8 lanes: with 16 ymm registers the tile is 4 rows x 2 tokens
 * (8 accumulators, 4 weight vectors, 1 activation vector). Each (t, r) has its own accumulator
 * fed in column order 8 at a time; the last C % 8 columns are copied into zero-padded vectors
 * (AVX2 has no masked 16-bit loads) and fed to the same accumulator; one fixed tree (reduce4)
 * sums the lanes. So results do not depend on how rows or tokens are grouped.
 */
#include <immintrin.h>
#include <string.h>

#include "core/base.h"
#include "core/ops.h"
#include "quant/qmm.h"

enum { WT_F32, WT_F16, WT_BF16 };

// Rows to prefetch ahead into L2 during decode: see ops_avx512.c.
#define PF_ROWS 8

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// ---------------------------------------------------------------------------------------------
// Loads: 8 weights of row w at column c, widened to f32

ALWAYS_INLINE __m256 load_w(const void *w, int c, int wt)
{
    if (wt == WT_F32) return _mm256_loadu_ps((const float *)w + c);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + c));
    if (wt == WT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// The first n < 8 weights from column c, the other lanes 0.
ALWAYS_INLINE __m256 load_w_tail(const void *w, int c, int n, int wt)
{
    size_t esz = wt == WT_F32 ? 4 : 2;
    _Alignas(32) unsigned char buf[32] = {0};
    memcpy(buf, (const char *)w + (size_t)c * esz, (size_t)n * esz);
    return load_w(buf, 0, wt);
}

ALWAYS_INLINE __m256 load_x_tail(const float *x, int n)
{
    _Alignas(32) float buf[8] = {0};
    memcpy(buf, x, (size_t)n * sizeof(float));
    return _mm256_load_ps(buf);
}

// ---------------------------------------------------------------------------------------------
// Reduction: (sum a, sum b, sum c, sum d). Every vector is summed by the same tree, halves
// first (lo + hi), then (e0+e1) + (e2+e3), so a vector reduced alongside copies of itself gives
// the same bits as one reduced alongside other rows.

ALWAYS_INLINE __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 ab =
        _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    __m256 cd =
        _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
    // lane 0: (a01, a23, c01, c23), lane 1: (b01, b23, d01, d23)
    __m256 h = _mm256_hadd_ps(ab, cd);
    // lane 0: (a, c, a, c), lane 1: (b, d, b, d)
    h = _mm256_hadd_ps(h, h);
    return _mm_unpacklo_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// ---------------------------------------------------------------------------------------------
// dot, axpy

static float dot_f32_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    float s = _mm_cvtss_f32(reduce4(s0, s0, s0, s0));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void axpy_f32_avx2(float *y, float s, const float *x, int n)
{
    __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(vs, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += s * x[i];
}

// ---------------------------------------------------------------------------------------------
// Matmul

// The register tile: rows [r, r+nr) x tokens [t, t+nt), nr in 1..4, nt in 1..2. prefetch:
// fetch the rows PF_ROWS ahead (first token tile of a row group only).
ALWAYS_INLINE void tile(float *Y, int ldy, const void *W, const float *X, int C, int r, int nr,
                        int t, int nt, int prefetch, int wt)
{
    size_t esz = wt == WT_F32 ? 4 : 2;
    const char *w[4];  // (nr, C) weight rows
    const float *x[2]; // (nt, C) activation rows
    __m256 acc[2][4];  // (nt, nr)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        w[i] = (const char *)W + (size_t)(r + (i < nr ? i : 0)) * C * esz;
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++)
        x[j] = X + (size_t)(t + (j < nt ? j : 0)) * C;
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            acc[j][i] = _mm256_setzero_ps();

    uintptr_t pf = (uintptr_t)w[0] + (size_t)PF_ROWS * C * esz; // may lie past W: no pointer
    int c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256 wv[4];
        if (prefetch && ((size_t)c * esz) % 64 == 0) { // once per cache line
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                _mm_prefetch((const char *)(pf + ((size_t)i * C + (size_t)c) * esz), _MM_HINT_T1);
        }
#pragma GCC unroll 4
        for (int i = 0; i < nr; i++) {
            wv[i] = load_w(w[i], c, wt);
            // Pin the weights in registers: short of registers, GCC otherwise folds the F32
            // loads into every FMA as memory operands, and 10 loads per 8 FMAs make the tile
            // load-bound (48 vs 77 GFLOP/s measured for F32 vs F16 prefill before this).
            __asm__("" : "+x"(wv[i]));
        }
#pragma GCC unroll 2
        for (int j = 0; j < nt; j++) {
            __m256 xv = _mm256_loadu_ps(x[j] + c);
#pragma GCC unroll 4
            for (int i = 0; i < nr; i++)
                acc[j][i] = _mm256_fmadd_ps(wv[i], xv, acc[j][i]);
        }
    }
    if (c < C) {
        __m256 wv[4];
#pragma GCC unroll 4
        for (int i = 0; i < nr; i++)
            wv[i] = load_w_tail(w[i], c, C - c, wt);
#pragma GCC unroll 2
        for (int j = 0; j < nt; j++) {
            __m256 xv = load_x_tail(x[j] + c, C - c);
#pragma GCC unroll 4
            for (int i = 0; i < nr; i++)
                acc[j][i] = _mm256_fmadd_ps(wv[i], xv, acc[j][i]);
        }
    }

#pragma GCC unroll 2
    for (int j = 0; j < nt; j++) {
        float *y = Y + (size_t)(t + j) * ldy + r;
        if (nr == 4) {
            _mm_storeu_ps(y, reduce4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]));
        } else {
            // fewer rows: reduce duplicates of row 0 alongside (same tree, same bits)
            float s[4];
            _mm_storeu_ps(s, reduce4(acc[j][0], nr > 1 ? acc[j][1] : acc[j][0],
                                     nr > 2 ? acc[j][2] : acc[j][0], acc[j][0]));
            for (int i = 0; i < nr; i++)
                y[i] = s[i];
        }
    }
}

ALWAYS_INLINE void tile_tokens(float *Y, int ldy, const void *W, const float *X, int C, int r,
                               int nr, int t0, int t1, int wt)
{
    int t = t0, pf = nr == 4;
    for (; t + 2 <= t1; t += 2, pf = 0)
        tile(Y, ldy, W, X, C, r, nr, t, 2, pf, wt);
    if (t < t1) tile(Y, ldy, W, X, C, r, nr, t, 1, pf, wt);
}

ALWAYS_INLINE void matmul(float *Y, int ldy, const void *W, const float *X, int T, int C, int r0,
                          int r1, int wt)
{
    // Token blocks whose activations stay in L2 (see ops_avx512.c).
    int TB = C > 0 ? (48 * 1024) / C : T;
    TB = GPTC_MAX(2, TB & ~1);
    for (int tb = 0; tb < T; tb += TB) {
        int te = GPTC_MIN(T, tb + TB);
        int r = r0;
        for (; r + 4 <= r1; r += 4)
            tile_tokens(Y, ldy, W, X, C, r, 4, tb, te, wt);
        for (; r < r1; r++)
            tile_tokens(Y, ldy, W, X, C, r, 1, tb, te, wt);
    }
}

static void matmul_f32_avx2(float *Y, int ldy, const float *W, const float *X, int T, int C, int r0,
                            int r1)
{
    matmul(Y, ldy, W, X, T, C, r0, r1, WT_F32);
}

static void matmul_f16_avx2(float *Y, int ldy, const uint16_t *W, const float *X, int T, int C,
                            int r0, int r1)
{
    matmul(Y, ldy, W, X, T, C, r0, r1, WT_F16);
}

static void matmul_bf16_avx2(float *Y, int ldy, const uint16_t *W, const float *X, int T, int C,
                             int r0, int r1)
{
    matmul(Y, ldy, W, X, T, C, r0, r1, WT_BF16);
}

// The table; dispatch.c hands it out only after checking the CPU.
const gptc_ops gptc_ops_avx2_table = {
    .name = "avx2",
    .dot_f32 = dot_f32_avx2,
    .axpy_f32 = axpy_f32_avx2,
    .matmul_f32 = matmul_f32_avx2,
    .matmul_f16 = matmul_f16_avx2,
    .matmul_bf16 = matmul_bf16_avx2,
    // quantized weights: the reference's activation rows, AVX2 dot products (qmm_avx2.c)
    .act_form = gptc_qmm_act_form_ref,
    .act_row_bytes = gptc_qmm_act_bytes_ref,
    .act_quant = gptc_qmm_act_quant_ref,
    .matmul_q = gptc_qmm_matmul_avx2,
};
