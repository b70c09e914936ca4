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
#include <math.h>
#include <string.h>

#include "core/simd_exp.h"
#include "core/base.h"
#include "core/fp16.h"
#include "core/ops.h"
#include "quant/pack.h"
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

// ---------------------------------------------------------------------------------------------
// Attention over the KV cache (ops.h: kv_dot, kv_acc)

// Elements [e, e + nv) of a cache row, nv <= 8, the other lanes 0. q8_0 needs e % 8 == 0, so
// the values lie in one block of 32; the value is code * scale, one rounding, as the reference.
ALWAYS_INLINE __m256 kv_load(int kvt, const char *row, int e, int nv)
{
    if (kvt == GPTC_KV_Q8_0) {
        const char *b = row + (size_t)(e / 32) * 34;
        uint16_t dh;
        memcpy(&dh, b, 2);
        int64_t codes = 0;
        memcpy(&codes, b + 2 + e % 32, (size_t)nv);
        __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(codes)));
        return _mm256_mul_ps(v, _mm256_set1_ps(_cvtsh_ss(dh))); /* exact, as gptc_f16_to_f32 */
    }
    int wt = kvt == GPTC_KV_F32 ? WT_F32 : WT_F16;
    return nv == 8 ? load_w(row, e, wt) : load_w_tail(row, e, nv, wt);
}

ALWAYS_INLINE __m256 q_load(const float *q, int nv)
{
    return nv == 8 ? _mm256_loadu_ps(q) : load_x_tail(q, nv);
}

// One 8-column step of the score tile: acc[a][b] += q_a . K_b over columns [c, c + nv).
ALWAYS_INLINE void kv_dot_step(int kvt, __m256 acc[2][4], const float *q, int hd, int NI,
                               const char *const *r, int e, int c, int nv)
{
    __m256 k0 = kv_load(kvt, r[0], e, nv), k1 = kv_load(kvt, r[1], e, nv);
    __m256 k2 = kv_load(kvt, r[2], e, nv), k3 = kv_load(kvt, r[3], e, nv);
#pragma GCC unroll 2
    for (int a = 0; a < NI; a++) {
        __m256 qv = q_load(q + (size_t)a * hd + c, nv);
        acc[a][0] = _mm256_fmadd_ps(qv, k0, acc[a][0]);
        acc[a][1] = _mm256_fmadd_ps(qv, k1, acc[a][1]);
        acc[a][2] = _mm256_fmadd_ps(qv, k2, acc[a][2]);
        acc[a][3] = _mm256_fmadd_ps(qv, k3, acc[a][3]);
    }
}

// Scores of NI queries (from q) against rows r[0..3] (rows past nr repeat the last one): one
// accumulator per (query, row) fed 8 columns at a time in column order, reduced by reduce4.
ALWAYS_INLINE void kv_dot_tile(int kvt, float *s, size_t lds, const float *q, int NI,
                               const char *const *r, int nr, int off, int hd)
{
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int a = 0; a < NI; a++)
        acc[a][0] = acc[a][1] = acc[a][2] = acc[a][3] = _mm256_setzero_ps();
    int c = 0;
    for (; c + 8 <= hd; c += 8)
        kv_dot_step(kvt, acc, q, hd, NI, r, off + c, c, 8);
    if (c < hd) kv_dot_step(kvt, acc, q, hd, NI, r, off + c, c, hd - c);
#pragma GCC unroll 2
    for (int a = 0; a < NI; a++) {
        _Alignas(16) float out[4];
        _mm_store_ps(out, reduce4(acc[a][0], acc[a][1], acc[a][2], acc[a][3]));
        for (int b = 0; b < nr; b++)
            s[(size_t)a * lds + b] = out[b];
    }
}

ALWAYS_INLINE void kv_dot_t(int kvt, float *s, size_t lds, const float *q, int nq, const char *base,
                            size_t stride, int off, const int32_t *idx, int n, int hd)
{
    for (int j = 0; j < n; j += 4) {
        int nr = GPTC_MIN(4, n - j);
        const char *r[4];
        for (int b = 0; b < 4; b++)
            r[b] = base + (size_t)idx[j + GPTC_MIN(b, nr - 1)] * stride;
        int i = 0;
        for (; i + 2 <= nq; i += 2)
            kv_dot_tile(kvt, s + (size_t)i * lds + j, lds, q + (size_t)i * hd, 2, r, nr, off, hd);
        if (i < nq)
            kv_dot_tile(kvt, s + (size_t)i * lds + j, lds, q + (size_t)i * hd, 1, r, nr, off, hd);
    }
}

static void kv_dot_avx2(int kvt, float *s, size_t lds, const float *q, int nq, const char *base,
                        size_t stride, int off, const int32_t *idx, int n, int hd)
{
    if (kvt == GPTC_KV_F32)
        kv_dot_t(GPTC_KV_F32, s, lds, q, nq, base, stride, off, idx, n, hd);
    else if (kvt == GPTC_KV_F16)
        kv_dot_t(GPTC_KV_F16, s, lds, q, nq, base, stride, off, idx, n, hd);
    else if (off % 8 == 0)
        kv_dot_t(GPTC_KV_Q8_0, s, lds, q, nq, base, stride, off, idx, n, hd);
    else
        gptc_kv_dot_ref(kvt, s, lds, q, nq, base, stride, off, idx, n, hd);
}

// y of NI queries over columns [c, c + 8 * NC) in registers while every row streams past:
// y[a][.] = fma(p[a][j], V_j, y[a][.]) in row order. Only the last column group may be partial
// (nt columns).
ALWAYS_INLINE void kv_acc_tile(int kvt, float *y, const float *p, size_t lds, int NI, int c, int NC,
                               int nt, const char *base, size_t stride, int off, const int32_t *idx,
                               int n, int hd)
{
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int a = 0; a < NI; a++)
#pragma GCC unroll 4
        for (int b = 0; b < NC; b++)
            acc[a][b] = q_load(y + (size_t)a * hd + c + 8 * b, b == NC - 1 ? nt : 8);
    for (int j = 0; j < n; j++) {
        const char *row = base + (size_t)idx[j] * stride;
        __m256 v[4];
#pragma GCC unroll 4
        for (int b = 0; b < NC; b++)
            v[b] = kv_load(kvt, row, off + c + 8 * b, b == NC - 1 ? nt : 8);
#pragma GCC unroll 2
        for (int a = 0; a < NI; a++) {
            __m256 pj = _mm256_set1_ps(p[(size_t)a * lds + j]);
#pragma GCC unroll 4
            for (int b = 0; b < NC; b++)
                acc[a][b] = _mm256_fmadd_ps(pj, v[b], acc[a][b]);
        }
    }
#pragma GCC unroll 2
    for (int a = 0; a < NI; a++)
#pragma GCC unroll 4
        for (int b = 0; b < NC; b++) {
            float *dst = y + (size_t)a * hd + c + 8 * b;
            int nv = b == NC - 1 ? nt : 8;
            if (nv == 8) {
                _mm256_storeu_ps(dst, acc[a][b]);
            } else {
                _Alignas(32) float buf[8];
                _mm256_store_ps(buf, acc[a][b]);
                memcpy(dst, buf, (size_t)nv * sizeof(float));
            }
        }
}

#define KV_ACC_NC(NI_)                                                                             \
    switch (nc) {                                                                                  \
    case 4:                                                                                        \
        kv_acc_tile(kvt, yi, pi, lds, NI_, c, 4, nt, base, stride, off, ib, nb, hd);               \
        break;                                                                                     \
    case 3:                                                                                        \
        kv_acc_tile(kvt, yi, pi, lds, NI_, c, 3, nt, base, stride, off, ib, nb, hd);               \
        break;                                                                                     \
    case 2:                                                                                        \
        kv_acc_tile(kvt, yi, pi, lds, NI_, c, 2, nt, base, stride, off, ib, nb, hd);               \
        break;                                                                                     \
    default:                                                                                       \
        kv_acc_tile(kvt, yi, pi, lds, NI_, c, 1, nt, base, stride, off, ib, nb, hd);               \
        break;                                                                                     \
    }

ALWAYS_INLINE void kv_acc_t(int kvt, float *y, const float *p, size_t lds, int nq, const char *base,
                            size_t stride, int off, const int32_t *idx, int n, int hd)
{
    // Rows in blocks of 128 that stay in L1 while every column group and query group passes
    // over them; within a block, 32 columns at a time for up to 2 queries: 8 of the 16
    // registers. Each y[i][d] still sums its rows in order.
    for (int j0 = 0; j0 < n; j0 += 128) {
        int nb = GPTC_MIN(128, n - j0);
        const int32_t *ib = idx + j0;
        for (int c = 0; c < hd; c += 32) {
            int w = GPTC_MIN(32, hd - c), nc = (w + 7) / 8, nt = w - 8 * (nc - 1);
            for (int i = 0; i < nq; i += 2) {
                float *yi = y + (size_t)i * hd;
                const float *pi = p + (size_t)i * lds + j0;
                if (nq - i >= 2) {
                    KV_ACC_NC(2)
                } else {
                    KV_ACC_NC(1)
                }
            }
        }
    }
}

static void kv_acc_avx2(int kvt, float *y, const float *p, size_t lds, int nq, const char *base,
                        size_t stride, int off, const int32_t *idx, int n, int hd)
{
    if (kvt == GPTC_KV_F32)
        kv_acc_t(GPTC_KV_F32, y, p, lds, nq, base, stride, off, idx, n, hd);
    else if (kvt == GPTC_KV_F16)
        kv_acc_t(GPTC_KV_F16, y, p, lds, nq, base, stride, off, idx, n, hd);
    else if (off % 8 == 0)
        kv_acc_t(GPTC_KV_Q8_0, y, p, lds, nq, base, stride, off, idx, n, hd);
    else
        gptc_kv_acc_ref(kvt, y, p, lds, nq, base, stride, off, idx, n, hd);
}

// lanes [0, k) of 8 set
ALWAYS_INLINE __m256i lanes(int k)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static void att_softmax_avx2(float *s, int n, float scale, float sink)
{
    __m256 vs = _mm256_set1_ps(scale), vmx = _mm256_set1_ps(sink);
    for (int i = 0; i < n; i += 8) {
        __m256i m = lanes(n - i);
        __m256 v = _mm256_mul_ps(_mm256_maskload_ps(s + i, m), vs);
        _mm256_maskstore_ps(s + i, m, v);
        vmx = _mm256_blendv_ps(vmx, _mm256_max_ps(vmx, v), _mm256_castsi256_ps(m));
    }
    _Alignas(32) float t[8];
    _mm256_store_ps(t, vmx);
    float mx = t[0];
    for (int k = 1; k < 8; k++)
        mx = t[k] > mx ? t[k] : mx;
    __m256 vm = _mm256_set1_ps(mx), lo = _mm256_set1_ps(-87.0f), sum = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i m = lanes(n - i);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(s + i, m), vm);
        __m256 keep = _mm256_and_ps(_mm256_cmp_ps(d, lo, _CMP_GE_OQ), _mm256_castsi256_ps(m));
        __m256 e = _mm256_and_ps(gptc_exp256(d), keep);
        _mm256_maskstore_ps(s + i, m, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float total = _mm_cvtss_f32(h) + (sink != -INFINITY ? expf(sink - mx) : 0.0f);
    __m256 inv = _mm256_set1_ps(1.0f / total);
    for (int i = 0; i < n; i += 8) {
        __m256i m = lanes(n - i);
        _mm256_maskstore_ps(s + i, m, _mm256_mul_ps(_mm256_maskload_ps(s + i, m), inv));
    }
}

void gptc_swiglu_avx2(float *h, const float *g, const float *u, int n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < n; i += 8) {
        __m256i m = lanes(n - i);
        __m256 gv = _mm256_maskload_ps(g + i, m);
        __m256 s = _mm256_div_ps(
            one, _mm256_add_ps(one, gptc_exp256(_mm256_sub_ps(_mm256_setzero_ps(), gv))));
        _mm256_maskstore_ps(h + i, m,
                            _mm256_mul_ps(_mm256_mul_ps(gv, s), _mm256_maskload_ps(u + i, m)));
    }
}

static void f16_from_f32_avx2(uint16_t *y, const float *x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(
            (__m128i *)(y + i),
            _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        y[i] = gptc_f32_to_f16(x[i]);
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
    .pack = gptc_qmm_pack_avx2,
    .matmul_qp = gptc_qmm_matmul_packed_avx2,
    .kv_dot = kv_dot_avx2,
    .kv_acc = kv_acc_avx2,
    .att_softmax = att_softmax_avx2,
    .swiglu = gptc_swiglu_avx2,
    .f16_from_f32 = f16_from_f32_avx2,
};
