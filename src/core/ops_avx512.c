/*
 * ops_avx512.c — the ops table with AVX-512 (F, BW, VL, DQ) intrinsics. Compiled with the
 * AVX-512 flags of the Makefile; only called after dispatch.c has checked the CPU.
 *
 * Shape letters as in ops.h: T tokens, R output rows, C input columns.
 *
 * Matmul. Both W rows and X rows are contiguous along C, so every output Y[t, r] is a dot
 * product of two rows. A register tile of up to 4 rows x 4 tokens holds 16 accumulators: each
 * 16-wide weight vector loaded (and converted from F16/BF16) is used for 4 tokens and each
 * activation vector for 4 rows, so prefill is bound by FMA throughput rather than memory.
 * Decode (T = 1) uses the same tile with one token: 4 independent rows stream from memory.
 *
 * Determinism: every (t, r) has its own accumulator, fed in column order 16 at a time with a
 * masked tail, and reduced by one fixed tree (reduce4). Which rows or tokens share a tile
 * therefore never changes a result: any split of [0, R) across threads, and any T, gives the
 * same bits for the same (t, r).
 *
 * BF16 weights are widened by a 16-bit shift and multiplied in f32 (vdpbf16ps would round the
 * activations to bf16).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "core/simd_exp.h"
#include "core/base.h"
#include "core/ops.h"
#include "quant/qmm.h"

enum { WT_F32, WT_F16, WT_BF16 };

// Decode streams W from memory in 4-row tiles: 4 short streams (one row, 1.5-3 KB, each) that
// hop every tile, which the hardware prefetchers follow poorly (measured on Zen 4: 14 GB/s for
// F32 and 10 GB/s for F16 against 22 GB/s for a plain sequential read). Prefetching the rows
// PF_ROWS ahead into L2 brings both to 18-20 GB/s; 8-32 rows measured alike, 64 rows or a
// prefetch into L1 (T0) or NTA were as slow as none.
#define PF_ROWS 8

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// ---------------------------------------------------------------------------------------------
// Loads: 16 weights of row w at column c, widened to f32

ALWAYS_INLINE __m512 load_w(const void *w, int c, int wt)
{
    if (wt == WT_F32) return _mm512_loadu_ps((const float *)w + c);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + c));
    if (wt == WT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// The same for the first n < 16 weights (masked lanes read nothing and are 0).
ALWAYS_INLINE __m512 load_w_mask(const void *w, int c, __mmask16 m, int wt)
{
    if (wt == WT_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + c);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + c);
    if (wt == WT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// ---------------------------------------------------------------------------------------------
// Reduction: the horizontal sums of 4 vectors, as (sum a, sum b, sum c, sum d).
// Each vector is summed by the same tree: 128-bit quarters Q0..Q3 as (Q0+Q2) + (Q1+Q3), then
// within the quarter (e0+e2) + (e1+e3). Passing one vector 4 times gives the same bits as
// passing it with 3 others, which is what makes row tiling invisible in the results.

ALWAYS_INLINE __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    // s8: (A0+A2, A1+A3 | B0+B2, B1+B3), per 128-bit quarter
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
    // s4: one quarter per vector (a | b | c | d)
    __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(2, 3, 0, 1)));
    __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, s));
}

// ---------------------------------------------------------------------------------------------
// dot, axpy

static float dot_f32_avx512(const float *a, const float *b, int n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void axpy_f32_avx512(float *y, float s, const float *x, int n)
{
    __m512 vs = _mm512_set1_ps(s);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(vs, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 v =
            _mm512_fmadd_ps(vs, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

// ---------------------------------------------------------------------------------------------
// Matmul

// The register tile: rows [r, r+nr) x tokens [t, t+nt), nr, nt in 1..4 (compile-time constants
// after inlining, so the arrays live in registers). prefetch: fetch the rows ahead (the first
// token tile of a row group; later ones find this group's rows in cache).
ALWAYS_INLINE void tile(float *Y, int ldy, const void *W, const float *X, int C, int r, int nr,
                        int t, int nt, int prefetch, int wt)
{
    size_t esz = wt == WT_F32 ? 4 : 2;
    const char *w[4];  // (nr, C) weight rows
    const float *x[4]; // (nt, C) activation rows
    __m512 acc[4][4];  // (nt, nr)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        w[i] = (const char *)W + (size_t)(r + (i < nr ? i : 0)) * C * esz;
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        x[j] = X + (size_t)(t + (j < nt ? j : 0)) * C;
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            acc[j][i] = _mm512_setzero_ps();

    // Rows are contiguous, so PF_ROWS rows ahead is one address; uintptr_t arithmetic because
    // it may lie past the end of W (prefetches do not fault).
    uintptr_t pf = (uintptr_t)w[0] + (size_t)PF_ROWS * C * esz;
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        __m512 wv[4];
        if (prefetch && ((size_t)c * esz) % 64 == 0) { // once per cache line
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                _mm_prefetch((const char *)(pf + ((size_t)i * C + (size_t)c) * esz), _MM_HINT_T1);
        }
#pragma GCC unroll 4
        for (int i = 0; i < nr; i++) {
            wv[i] = load_w(w[i], c, wt);
            // Pin F32 weights in registers: GCC otherwise folds their loads into every FMA as
            // memory operands, 20 loads per 16 FMAs, and the tile becomes load-bound (measured
            // on Zen 4: 7-token F32 tiles 70 -> 85 GFLOP/s; 64 tokens alike). F16/BF16 weights
            // need a conversion in a register anyway.
            if (wt == WT_F32) __asm__("" : "+v"(wv[i]));
        }
#pragma GCC unroll 4
        for (int j = 0; j < nt; j++) {
            __m512 xv = _mm512_loadu_ps(x[j] + c);
#pragma GCC unroll 4
            for (int i = 0; i < nr; i++)
                acc[j][i] = _mm512_fmadd_ps(wv[i], xv, acc[j][i]);
        }
    }
    if (c < C) {
        __mmask16 m = (__mmask16)((1u << (C - c)) - 1);
        __m512 wv[4];
#pragma GCC unroll 4
        for (int i = 0; i < nr; i++)
            wv[i] = load_w_mask(w[i], c, m, wt);
#pragma GCC unroll 4
        for (int j = 0; j < nt; j++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x[j] + c);
#pragma GCC unroll 4
            for (int i = 0; i < nr; i++)
                acc[j][i] = _mm512_fmadd_ps(wv[i], xv, acc[j][i]);
        }
    }

#pragma GCC unroll 4
    for (int j = 0; j < nt; j++) {
        float *y = Y + (size_t)(t + j) * ldy + r;
        if (nr == 4) {
            _mm_storeu_ps(y, reduce4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]));
        } else {
            // fewer rows: reduce duplicates of row 0 alongside (same tree, same bits)
            __m128 s = reduce4(acc[j][0], nr > 1 ? acc[j][1] : acc[j][0],
                               nr > 2 ? acc[j][2] : acc[j][0], acc[j][0]);
            _mm_mask_storeu_ps(y, (__mmask8)((1u << nr) - 1), s);
        }
    }
}

// All tokens of [t0, t1) for rows [r, r+nr): tiles of 4 tokens, then the remainder.
ALWAYS_INLINE void tile_tokens(float *Y, int ldy, const void *W, const float *X, int C, int r,
                               int nr, int t0, int t1, int wt)
{
    int t = t0, pf = nr == 4;
    for (; t + 4 <= t1; t += 4, pf = 0)
        tile(Y, ldy, W, X, C, r, nr, t, 4, pf, wt);
    switch (t1 - t) {
    case 3:
        tile(Y, ldy, W, X, C, r, nr, t, 3, pf, wt);
        break;
    case 2:
        tile(Y, ldy, W, X, C, r, nr, t, 2, pf, wt);
        break;
    case 1:
        tile(Y, ldy, W, X, C, r, nr, t, 1, pf, wt);
        break;
    default:
        break;
    }
}

ALWAYS_INLINE void matmul(float *Y, int ldy, const void *W, const float *X, int T, int C, int r0,
                          int r1, int wt)
{
    // Tokens in blocks whose activations (TB, C) stay in L2 while the weight rows of the
    // thread's range stream past; each 4-row group is then reused from L1 by every token tile.
    int TB = C > 0 ? (48 * 1024) / C : T;
    TB = GPTC_MAX(4, TB & ~3);
    for (int tb = 0; tb < T; tb += TB) {
        int te = GPTC_MIN(T, tb + TB);
        int r = r0;
        for (; r + 4 <= r1; r += 4)
            tile_tokens(Y, ldy, W, X, C, r, 4, tb, te, wt);
        for (; r < r1; r++)
            tile_tokens(Y, ldy, W, X, C, r, 1, tb, te, wt);
    }
}

static void matmul_f32_avx512(float *Y, int ldy, const float *W, const float *X, int T, int C,
                              int r0, int r1)
{
    matmul(Y, ldy, W, X, T, C, r0, r1, WT_F32);
}

static void matmul_f16_avx512(float *Y, int ldy, const uint16_t *W, const float *X, int T, int C,
                              int r0, int r1)
{
    matmul(Y, ldy, W, X, T, C, r0, r1, WT_F16);
}

static void matmul_bf16_avx512(float *Y, int ldy, const uint16_t *W, const float *X, int T, int C,
                               int r0, int r1)
{
    matmul(Y, ldy, W, X, T, C, r0, r1, WT_BF16);
}

// ---------------------------------------------------------------------------------------------
// Attention over the KV cache (ops.h: kv_dot, kv_acc)

// Elements [e, e + 16) of a cache row (lanes outside m: 0). q8_0 needs e % 16 == 0, so the 16
// values lie in one block of 32; the value is code * scale, one rounding, as the reference.
ALWAYS_INLINE __m512 kv_load(int kvt, const char *row, int e, __mmask16 m, int full)
{
    if (kvt == GPTC_KV_F32)
        return full ? _mm512_loadu_ps((const float *)row + e)
                    : _mm512_maskz_loadu_ps(m, (const float *)row + e);
    if (kvt == GPTC_KV_F16)
        return _mm512_cvtph_ps(
            full ? _mm256_loadu_si256((const __m256i *)((const uint16_t *)row + e))
                 : _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + e));
    const char *b = row + (size_t)(e / 32) * 34;
    __m128i qs = full ? _mm_loadu_si128((const __m128i *)(b + 2 + e % 32))
                      : _mm_maskz_loadu_epi8(m, b + 2 + e % 32);
    uint16_t dh;
    memcpy(&dh, b, 2);
    __m512 d = _mm512_set1_ps(_cvtsh_ss(dh)); /* exact, as gptc_f16_to_f32 */
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(qs)), d);
}

// Prefetch into L1 the bytes of one head (elements [off, off + hd)) of the cache row at row:
// a head's rows are a whole cell row (every KV head of the layer) apart, so the hardware
// prefetchers see a strided stream that crosses a page every few rows.
#ifndef KV_PF_ROWS
#define KV_PF_ROWS 16
#endif
ALWAYS_INLINE void kv_prefetch(int kvt, const char *row, int off, int hd, int l2)
{
    size_t a = kvt == GPTC_KV_F32   ? (size_t)off * 4
               : kvt == GPTC_KV_F16 ? (size_t)off * 2
                                    : (size_t)(off / 32) * 34,
           e = kvt == GPTC_KV_F32   ? (size_t)(off + hd) * 4
               : kvt == GPTC_KV_F16 ? (size_t)(off + hd) * 2
                                    : (size_t)((off + hd + 31) / 32) * 34;
    uintptr_t p = ((uintptr_t)row + a) & ~(uintptr_t)63;
    for (; p < (uintptr_t)row + e; p += 64)
        if (l2)
            _mm_prefetch((const char *)p, _MM_HINT_T1);
        else
            _mm_prefetch((const char *)p, _MM_HINT_T0);
}

ALWAYS_INLINE __m512 q_load(const float *q, __mmask16 m, int full)
{
    return full ? _mm512_loadu_ps(q) : _mm512_maskz_loadu_ps(m, q);
}

// One 16-column step of the score tile: acc[a][b] += q_a . K_b over columns [c, c + 16).
ALWAYS_INLINE void kv_dot_step(int kvt, __m512 acc[4][4], const float *q, int hd, int NI,
                               const char *const *r, int e, int c, __mmask16 m, int full)
{
    __m512 k0 = kv_load(kvt, r[0], e, m, full), k1 = kv_load(kvt, r[1], e, m, full);
    __m512 k2 = kv_load(kvt, r[2], e, m, full), k3 = kv_load(kvt, r[3], e, m, full);
#pragma GCC unroll 4
    for (int a = 0; a < NI; a++) {
        __m512 qv = q_load(q + (size_t)a * hd + c, m, full);
        acc[a][0] = _mm512_fmadd_ps(qv, k0, acc[a][0]);
        acc[a][1] = _mm512_fmadd_ps(qv, k1, acc[a][1]);
        acc[a][2] = _mm512_fmadd_ps(qv, k2, acc[a][2]);
        acc[a][3] = _mm512_fmadd_ps(qv, k3, acc[a][3]);
    }
}

// Scores of NI queries (from q) against rows r[0..3] (rows past nr repeat the last one): one
// accumulator per (query, row) fed 16 columns at a time in column order, reduced by reduce4.
ALWAYS_INLINE void kv_dot_tile(int kvt, float *s, size_t lds, const float *q, int NI,
                               const char *const *r, int nr, int off, int hd)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int a = 0; a < NI; a++)
        acc[a][0] = acc[a][1] = acc[a][2] = acc[a][3] = _mm512_setzero_ps();
    int c = 0;
    for (; c + 16 <= hd; c += 16)
        kv_dot_step(kvt, acc, q, hd, NI, r, off + c, c, 0xFFFF, 1);
    if (c < hd)
        kv_dot_step(kvt, acc, q, hd, NI, r, off + c, c, (__mmask16)((1u << (hd - c)) - 1), 0);
#pragma GCC unroll 4
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
        for (int b = j + KV_PF_ROWS; b < GPTC_MIN(n, j + KV_PF_ROWS + 4); b++)
            kv_prefetch(kvt, base + (size_t)idx[b] * stride, off, hd, 0);
        const char *r[4];
        for (int b = 0; b < 4; b++)
            r[b] = base + (size_t)idx[j + GPTC_MIN(b, nr - 1)] * stride;
        int i = 0;
        for (; i + 4 <= nq; i += 4)
            kv_dot_tile(kvt, s + (size_t)i * lds + j, lds, q + (size_t)i * hd, 4, r, nr, off, hd);
        switch (nq - i) {
        case 3:
            kv_dot_tile(kvt, s + (size_t)i * lds + j, lds, q + (size_t)i * hd, 3, r, nr, off, hd);
            break;
        case 2:
            kv_dot_tile(kvt, s + (size_t)i * lds + j, lds, q + (size_t)i * hd, 2, r, nr, off, hd);
            break;
        case 1:
            kv_dot_tile(kvt, s + (size_t)i * lds + j, lds, q + (size_t)i * hd, 1, r, nr, off, hd);
            break;
        default:
            break;
        }
    }
}

static void kv_dot_avx512(int kvt, float *s, size_t lds, const float *q, int nq, const char *base,
                          size_t stride, int off, const int32_t *idx, int n, int hd)
{
    if (kvt == GPTC_KV_F32)
        kv_dot_t(GPTC_KV_F32, s, lds, q, nq, base, stride, off, idx, n, hd);
    else if (kvt == GPTC_KV_F16)
        kv_dot_t(GPTC_KV_F16, s, lds, q, nq, base, stride, off, idx, n, hd);
    else if (off % 16 == 0)
        kv_dot_t(GPTC_KV_Q8_0, s, lds, q, nq, base, stride, off, idx, n, hd);
    else
        gptc_kv_dot_ref(kvt, s, lds, q, nq, base, stride, off, idx, n, hd);
}

// y of NI queries over columns [c, c + 16 * NC) in registers while every row streams past:
// y[a][.] = fma(p[a][j], V_j, y[a][.]) in row order. Only the last column group may be partial
// (mask mt).
ALWAYS_INLINE void kv_acc_tile(int kvt, float *y, const float *p, size_t lds, int NI, int c, int NC,
                               __mmask16 mt, const char *base, size_t stride, int off,
                               const int32_t *idx, int n, int hd)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int a = 0; a < NI; a++)
#pragma GCC unroll 4
        for (int b = 0; b < NC; b++)
            acc[a][b] =
                _mm512_maskz_loadu_ps(b == NC - 1 ? mt : 0xFFFF, y + (size_t)a * hd + c + 16 * b);
    for (int j = 0; j < n; j++) {
        const char *row = base + (size_t)idx[j] * stride;
        __m512 v[4];
#pragma GCC unroll 4
        for (int b = 0; b < NC; b++)
            v[b] = b == NC - 1 ? kv_load(kvt, row, off + c + 16 * b, mt, 0)
                               : kv_load(kvt, row, off + c + 16 * b, 0xFFFF, 1);
#pragma GCC unroll 4
        for (int a = 0; a < NI; a++) {
            __m512 pj = _mm512_set1_ps(p[(size_t)a * lds + j]);
#pragma GCC unroll 4
            for (int b = 0; b < NC; b++)
                acc[a][b] = _mm512_fmadd_ps(pj, v[b], acc[a][b]);
        }
    }
#pragma GCC unroll 4
    for (int a = 0; a < NI; a++)
#pragma GCC unroll 4
        for (int b = 0; b < NC; b++)
            _mm512_mask_storeu_ps(y + (size_t)a * hd + c + 16 * b, b == NC - 1 ? mt : 0xFFFF,
                                  acc[a][b]);
}

#define KV_ACC_NC(NI_)                                                                             \
    switch (nc) {                                                                                  \
    case 4:                                                                                        \
        kv_acc_tile(kvt, yi, pi, lds, NI_, c, 4, mt, base, stride, off, ib, nb, hd);               \
        break;                                                                                     \
    case 3:                                                                                        \
        kv_acc_tile(kvt, yi, pi, lds, NI_, c, 3, mt, base, stride, off, ib, nb, hd);               \
        break;                                                                                     \
    case 2:                                                                                        \
        kv_acc_tile(kvt, yi, pi, lds, NI_, c, 2, mt, base, stride, off, ib, nb, hd);               \
        break;                                                                                     \
    default:                                                                                       \
        kv_acc_tile(kvt, yi, pi, lds, NI_, c, 1, mt, base, stride, off, ib, nb, hd);               \
        break;                                                                                     \
    }

ALWAYS_INLINE void kv_acc_t(int kvt, float *y, const float *p, size_t lds, int nq, const char *base,
                            size_t stride, int off, const int32_t *idx, int n, int hd)
{
    // Rows in blocks of 128 (at most 32 KB of f16 values for hd 128) that stay in L1 while
    // every column group and query group passes over them; within a block, 64 columns (one or
    // two cache lines of a row) at a time for up to 4 queries: 16 registers. Each y[i][d] still
    // sums its rows in order.
    for (int j0 = 0; j0 < n; j0 += 128) {
        int nb = GPTC_MIN(128, n - j0);
        const int32_t *ib = idx + j0;
        // the next block's rows into L2 while this block's passes run
        for (int b = j0 + 128; b < GPTC_MIN(n, j0 + 256); b++)
            kv_prefetch(kvt, base + (size_t)idx[b] * stride, off, hd, 1);
        for (int c = 0; c < hd; c += 64) {
            int w = GPTC_MIN(64, hd - c), nc = (w + 15) / 16;
            __mmask16 mt = w % 16 ? (__mmask16)((1u << (w % 16)) - 1) : (__mmask16)0xFFFF;
            for (int i = 0; i < nq; i += 4) {
                float *yi = y + (size_t)i * hd;
                const float *pi = p + (size_t)i * lds + j0;
                switch (GPTC_MIN(4, nq - i)) {
                case 4:
                    KV_ACC_NC(4)
                    break;
                case 3:
                    KV_ACC_NC(3)
                    break;
                case 2:
                    KV_ACC_NC(2)
                    break;
                default:
                    KV_ACC_NC(1)
                    break;
                }
            }
        }
    }
}

static void kv_acc_avx512(int kvt, float *y, const float *p, size_t lds, int nq, const char *base,
                          size_t stride, int off, const int32_t *idx, int n, int hd)
{
    if (kvt == GPTC_KV_F32)
        kv_acc_t(GPTC_KV_F32, y, p, lds, nq, base, stride, off, idx, n, hd);
    else if (kvt == GPTC_KV_F16)
        kv_acc_t(GPTC_KV_F16, y, p, lds, nq, base, stride, off, idx, n, hd);
    else if (off % 16 == 0)
        kv_acc_t(GPTC_KV_Q8_0, y, p, lds, nq, base, stride, off, idx, n, hd);
    else
        gptc_kv_acc_ref(kvt, y, p, lds, nq, base, stride, off, idx, n, hd);
}

static void att_softmax_avx512(float *s, int n, float scale, float sink)
{
    __m512 vs = _mm512_set1_ps(scale), vmx = _mm512_set1_ps(sink);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + i), vs);
        _mm512_mask_storeu_ps(s + i, m, v);
        vmx = _mm512_mask_max_ps(vmx, m, vmx, v);
    }
    float mx = _mm512_reduce_max_ps(vmx);
    __m512 vm = _mm512_set1_ps(mx), lo = _mm512_set1_ps(-87.0f), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), vm);
        __mmask16 keep = _mm512_mask_cmp_ps_mask(m, d, lo, _CMP_GE_OQ);
        __m512 e = _mm512_maskz_mov_ps(keep, gptc_exp512(d));
        _mm512_mask_storeu_ps(s + i, m, e);
        sum = _mm512_add_ps(sum, e);
    }
    float total = _mm512_reduce_add_ps(sum) + (sink != -INFINITY ? expf(sink - mx) : 0.0f);
    __m512 inv = _mm512_set1_ps(1.0f / total);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(s + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + i), inv));
    }
}

void gptc_swiglu_avx512(float *h, const float *g, const float *u, int n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
        __m512 s = _mm512_div_ps(
            one, _mm512_add_ps(one, gptc_exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
        _mm512_mask_storeu_ps(h + i, m,
                              _mm512_mul_ps(_mm512_mul_ps(gv, s), _mm512_maskz_loadu_ps(m, u + i)));
    }
}

static void f16_from_f32_avx512(uint16_t *y, const float *x, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(y + i, m, h);
    }
}

// The table; dispatch.c hands it out only after checking the CPU.
const gptc_ops gptc_ops_avx512_table = {
    .name = "avx512",
    .dot_f32 = dot_f32_avx512,
    .axpy_f32 = axpy_f32_avx512,
    .matmul_f32 = matmul_f32_avx512,
    .matmul_f16 = matmul_f16_avx512,
    .matmul_bf16 = matmul_bf16_avx512,
    // quantized weights (qmm_avx512.c; needs VNNI, which dispatch.c checks)
    .act_form = gptc_qmm_act_form_avx512,
    .act_row_bytes = gptc_qmm_act_bytes_avx512,
    .act_quant = gptc_qmm_act_quant_avx512,
    .matmul_q = gptc_qmm_matmul_avx512,
    .pack = gptc_qmm_pack_avx512,
    .matmul_qp = gptc_qmm_matmul_packed_avx512,
    .kv_dot = kv_dot_avx512,
    .kv_acc = kv_acc_avx512,
    .att_softmax = att_softmax_avx512,
    .swiglu = gptc_swiglu_avx512,
    .f16_from_f32 = f16_from_f32_avx512,
};
