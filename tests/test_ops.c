/*
 * test_ops.c — every ops table this CPU can run against the scalar reference and against
 * double-precision formulas; the split-invariance the threads rely on; the scalar helpers;
 * the fp16/bf16 conversions of fp16.h.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base.h"
#include "core/fp16.h"
#include "core/ops.h"
#include "quant/quant.h"
#include "test.h"

// ---------------------------------------------------------------------------------------------
// Fixed-seed random numbers

/* test.h's test_rnd_u32/test_rnd_f/test_rnd_int, from its default seed */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

// ---------------------------------------------------------------------------------------------
// dot, axpy

static void test_dot_axpy(const gptc_ops *o)
{
    enum { N = 300 };
    float a[N], b[N], y[N], y0[N];
    for (int i = 0; i < N; i++)
        a[i] = test_rnd_f(), b[i] = test_rnd_f();
    int bad_dot = 0, bad_axpy = 0;
    for (int n = 0; n <= N; n++) {
        double d = 0, mag = 0;
        for (int i = 0; i < n; i++)
            d += (double)a[i] * b[i], mag += fabs((double)a[i] * b[i]);
        float v = o->dot_f32(a, b, n);
        if (!(fabs(v - d) <= 1e-5 * mag + 1e-30)) {
            if (bad_dot++ < 3) printf("  %s dot n=%d: %.9g vs %.9g\n", o->name, n, v, d);
        }

        float s = test_rnd_f();
        for (int i = 0; i < N; i++)
            y[i] = y0[i] = test_rnd_f();
        o->axpy_f32(y, s, a, n);
        for (int i = 0; i < N; i++) {
            double want = i < n ? y0[i] + (double)s * a[i] : y0[i];
            double tol = i < n ? 2e-7 * (fabs(y0[i]) + fabs((double)s * a[i])) : 0;
            if (!(fabs(y[i] - want) <= tol)) {
                if (bad_axpy++ < 3)
                    printf("  %s axpy n=%d i=%d: %.9g vs %.9g\n", o->name, n, i, y[i], want);
            }
        }
    }
    CHECK(bad_dot == 0, "%s: dot_f32 on lengths 0..%d (%d bad)", o->name, N, bad_dot);
    CHECK(bad_axpy == 0, "%s: axpy_f32 on lengths 0..%d (%d bad)", o->name, N, bad_axpy);
}

// ---------------------------------------------------------------------------------------------
// matmul

enum { WT_F32, WT_F16, WT_BF16 };
static const char *wt_name[] = {"f32", "f16", "bf16"};

static void run_matmul(const gptc_ops *o, int wt, float *Y, int ldy, const void *W, const float *X,
                       int T, int C, int r0, int r1)
{
    switch (wt) {
    case WT_F32:
        o->matmul_f32(Y, ldy, W, X, T, C, r0, r1);
        break;
    case WT_F16:
        o->matmul_f16(Y, ldy, W, X, T, C, r0, r1);
        break;
    default:
        o->matmul_bf16(Y, ldy, W, X, T, C, r0, r1);
        break;
    }
}

static float weight_f32(int wt, const void *W, size_t i)
{
    if (wt == WT_F32) return ((const float *)W)[i];
    uint16_t h = ((const uint16_t *)W)[i];
    return wt == WT_F16 ? gptc_f16_to_f32(h) : gptc_bf16_to_f32(h);
}

// One (variant, type, T, C) case. R rows, output stride ldy > R; Y is pre-filled with a
// sentinel so writes outside [r0, r1) are caught.
static void test_matmul_case(const gptc_ops *o, int wt, int T, int C, int *bad_val, int *bad_split,
                             int *bad_oob, int *bad_tok)
{
    const int R = 37 + test_rnd_int(8), ldy = R + 5;
    size_t nw = (size_t)R * C;
    void *W = xmalloc(nw * (wt == WT_F32 ? 4 : 2));
    float *X = xmalloc((size_t)T * C * sizeof(float));
    float *Y = xmalloc((size_t)T * ldy * sizeof(float));
    float *Y2 = xmalloc((size_t)T * ldy * sizeof(float));
    float *Y3 = xmalloc((size_t)ldy * sizeof(float));
    const float sentinel = -12345.0f;

    for (size_t i = 0; i < nw; i++) {
        float v = test_rnd_f();
        if (test_rnd_int(50) == 0) v *= 1e-6f; // F16 subnormals
        if (wt == WT_F32)
            ((float *)W)[i] = v;
        else if (wt == WT_F16)
            ((uint16_t *)W)[i] = gptc_f32_to_f16(v);
        else
            ((uint16_t *)W)[i] = gptc_f32_to_bf16(v);
    }
    for (size_t i = 0; i < (size_t)T * C; i++)
        X[i] = test_rnd_f();

    // Values: a random subrange against double precision.
    int r0 = test_rnd_int(R), r1 = r0 + 1 + test_rnd_int(R - r0);
    for (size_t i = 0; i < (size_t)T * ldy; i++)
        Y[i] = sentinel;
    run_matmul(o, wt, Y, ldy, W, X, T, C, r0, r1);
    for (int t = 0; t < T; t++) {
        for (int r = 0; r < ldy; r++) {
            float y = Y[(size_t)t * ldy + r];
            if (r < r0 || r >= r1) {
                if (y != sentinel) (*bad_oob)++;
                continue;
            }
            double d = 0, mag = 0;
            for (int c = 0; c < C; c++) {
                double p = (double)weight_f32(wt, W, (size_t)r * C + c) * X[(size_t)t * C + c];
                d += p, mag += fabs(p);
            }
            if (!(fabs(y - d) <= 1e-5 * mag + 1e-30)) {
                if ((*bad_val)++ < 3)
                    printf("  %s %s T=%d C=%d t=%d r=%d: %.9g vs %.9g\n", o->name, wt_name[wt], T,
                           C, t, r, y, d);
            }
        }
    }

    // Split invariance: the whole range at once vs random pieces, bit for bit.
    for (size_t i = 0; i < (size_t)T * ldy; i++)
        Y[i] = Y2[i] = sentinel;
    run_matmul(o, wt, Y, ldy, W, X, T, C, 0, R);
    for (int a = 0; a < R;) {
        int b = a + 1 + test_rnd_int(9); // (not inside GPTC_MIN: it evaluates twice)
        if (b > R) b = R;
        run_matmul(o, wt, Y2, ldy, W, X, T, C, a, b);
        a = b;
    }
    if (memcmp(Y, Y2, (size_t)T * ldy * sizeof(float)) != 0) (*bad_split)++;

    // Token invariance: each token alone (T = 1, decode) gives the bits of the batch (prefill).
    for (int t = 0; t < T; t++) {
        run_matmul(o, wt, Y3, ldy, W, X + (size_t)t * C, 1, C, 0, R);
        if (memcmp(Y3, Y + (size_t)t * ldy, (size_t)R * sizeof(float)) != 0) (*bad_tok)++;
    }

    free(W), free(X), free(Y), free(Y2), free(Y3);
}

static void test_matmul(const gptc_ops *o)
{
    // T: tiles of 4 (AVX-512) or 2 (AVX2) tokens and every remainder. C: every tail of the
    // 16- and 32-column steps (a partial chunk after an even or odd number of whole ones, whole
    // chunks only, fewer columns than one chunk).
    static const int Ts[] = {1, 2, 3, 4, 5, 6, 8, 17};
    static const int Cs[] = {1, 7, 16, 24, 32, 40, 48, 56, 64, 172, 288, 768, 776};
    for (int wt = 0; wt < 3; wt++) {
        int bad_val = 0, bad_split = 0, bad_oob = 0, bad_tok = 0;
        for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++)
            for (size_t ci = 0; ci < sizeof Cs / sizeof Cs[0]; ci++)
                test_matmul_case(o, wt, Ts[ti], Cs[ci], &bad_val, &bad_split, &bad_oob, &bad_tok);
        CHECK(bad_val == 0, "%s matmul_%s: values vs double (%d bad)", o->name, wt_name[wt],
              bad_val);
        CHECK(bad_oob == 0, "%s matmul_%s: writes outside [r0, r1) (%d)", o->name, wt_name[wt],
              bad_oob);
        CHECK(bad_split == 0, "%s matmul_%s: results depend on the row split (%d cases)", o->name,
              wt_name[wt], bad_split);
        CHECK(bad_tok == 0, "%s matmul_%s: batch differs from one token at a time (%d)", o->name,
              wt_name[wt], bad_tok);
    }
}

// A variant against the reference table on a model-sized shape (different summation order,
// so agreement to rounding).
static void test_matmul_vs_ref(const gptc_ops *o)
{
    const gptc_ops *ref = gptc_ops_ref();
    enum { T = 9, C = 768, R = 64 };
    float *W = xmalloc((size_t)R * C * 4);
    uint16_t *H = xmalloc((size_t)R * C * 2), *B = xmalloc((size_t)R * C * 2);
    float *X = xmalloc((size_t)T * C * 4), *Y = xmalloc((size_t)T * R * 4),
          *Yr = xmalloc((size_t)T * R * 4);
    for (int i = 0; i < R * C; i++) {
        W[i] = test_rnd_f();
        H[i] = gptc_f32_to_f16(W[i]);
        B[i] = gptc_f32_to_bf16(W[i]);
    }
    for (int i = 0; i < T * C; i++)
        X[i] = test_rnd_f();
    for (int wt = 0; wt < 3; wt++) {
        const void *w = wt == WT_F32   ? (const void *)W
                        : wt == WT_F16 ? (const void *)H
                                       : (const void *)B;
        run_matmul(o, wt, Y, R, w, X, T, C, 0, R);
        run_matmul(ref, wt, Yr, R, w, X, T, C, 0, R);
        double maxerr = 0;
        for (int i = 0; i < T * R; i++)
            maxerr = fmax(maxerr, fabs(Y[i] - Yr[i]));
        // |sum| of 768 products of U(-1,1) pairs is ~ 9; float rounding is ~1e-6 of that
        CHECK(maxerr < 1e-4, "%s matmul_%s vs ref: max abs diff %g", o->name, wt_name[wt], maxerr);
    }
    free(W), free(H), free(B), free(X), free(Y), free(Yr);
}

// ---------------------------------------------------------------------------------------------
// Attention kernels (kv_dot, kv_acc) over f32, f16 and q8_0 cache rows

enum { KV_ROWS = 41 };

// A cache of KV_ROWS rows of E elements (E a multiple of 32) of kind kvt, and its values as f32.
static char *kv_cache(int kvt, int E, size_t *stride, float *val)
{
    for (int i = 0; i < KV_ROWS * E; i++)
        val[i] = test_rnd_f() * 2.0f;
    uint32_t type = kvt == GPTC_KV_F32   ? GPTC_TYPE_F32
                    : kvt == GPTC_KV_F16 ? GPTC_TYPE_F16
                                         : GPTC_TYPE_Q8_0;
    *stride = gptc_row_bytes(type, E);
    char *cache = xmalloc(KV_ROWS * *stride);
    const gptc_type_traits *tt = gptc_type_info(type);
    for (int r = 0; r < KV_ROWS; r++) {
        char *row = cache + r * *stride;
        if (kvt == GPTC_KV_F32)
            memcpy(row, val + (size_t)r * E, (size_t)E * 4);
        else
            tt->from_float_ref(val + (size_t)r * E, row, E);
        if (kvt != GPTC_KV_F32) tt->to_float(row, val + (size_t)r * E, E); /* the stored values */
    }
    return cache;
}

static void test_kv_case(const gptc_ops *o, int kvt, int hd, int off, int nq, int n, int *bad,
                         int *bad_group)
{
    int E = (off + hd + 31) / 32 * 32;
    float *val = xmalloc((size_t)KV_ROWS * E * 4), *q = xmalloc((size_t)nq * hd * 4);
    float *p = xmalloc((size_t)nq * n * 4), *s = xmalloc((size_t)nq * n * 4);
    float *s1 = xmalloc((size_t)nq * n * 4), *y = xmalloc((size_t)nq * hd * 4);
    float *y0 = xmalloc((size_t)nq * hd * 4), *y1 = xmalloc((size_t)nq * hd * 4);
    int32_t *idx = xmalloc((size_t)n * 4);
    size_t stride;
    char *cache = kv_cache(kvt, E, &stride, val);
    for (int j = 0; j < n; j++)
        idx[j] = (int32_t)test_rnd_int(KV_ROWS);
    for (int i = 0; i < nq * hd; i++)
        q[i] = test_rnd_f(), y0[i] = test_rnd_f();
    for (int i = 0; i < nq * n; i++)
        p[i] = test_rnd_f() + 1.0f;
    o->kv_dot(kvt, s, (size_t)n, q, nq, cache, stride, off, idx, n, hd);
    memcpy(y, y0, (size_t)nq * hd * 4);
    o->kv_acc(kvt, y, p, (size_t)n, nq, cache, stride, off, idx, n, hd);
    for (int i = 0; i < nq; i++) {
        for (int j = 0; j < n; j++) {
            const float *k = val + (size_t)idx[j] * E + off;
            double want = 0, mag = 0;
            for (int d = 0; d < hd; d++)
                want += (double)q[i * hd + d] * k[d], mag += fabs((double)q[i * hd + d] * k[d]);
            if (!(fabs(s[i * n + j] - want) <= 1e-5 * mag + 1e-30) && (*bad)++ < 3)
                printf("  %s kv_dot kvt=%d hd=%d off=%d nq=%d n=%d (%d,%d): %.9g vs %.9g\n",
                       o->name, kvt, hd, off, nq, n, i, j, s[i * n + j], want);
        }
        for (int d = 0; d < hd; d++) {
            double want = y0[i * hd + d], mag = fabs(want);
            for (int j = 0; j < n; j++) {
                double t = (double)p[i * n + j] * val[(size_t)idx[j] * E + off + d];
                want += t, mag += fabs(t);
            }
            if (!(fabs(y[i * hd + d] - want) <= 1e-5 * mag + 1e-30) && (*bad)++ < 3)
                printf("  %s kv_acc kvt=%d hd=%d off=%d nq=%d n=%d (%d,%d): %.9g vs %.9g\n",
                       o->name, kvt, hd, off, nq, n, i, d, y[i * hd + d], want);
        }
    }
    // the same bits whichever queries and rows share a call: one query at a time, one row at a
    // time (scores), and the rows in two calls (sums)
    int diff = 0;
    for (int i = 0; i < nq; i++) {
        for (int j = 0; j < n; j++)
            o->kv_dot(kvt, s1 + i * n + j, 1, q + i * hd, 1, cache, stride, off, idx + j, 1, hd);
        memcpy(y1 + i * hd, y0 + i * hd, (size_t)hd * 4);
        int h = n / 2;
        o->kv_acc(kvt, y1 + i * hd, p + i * n, (size_t)n, 1, cache, stride, off, idx, h, hd);
        o->kv_acc(kvt, y1 + i * hd, p + i * n + h, (size_t)n, 1, cache, stride, off, idx + h, n - h,
                  hd);
    }
    diff += memcmp(s, s1, (size_t)nq * n * 4) != 0;
    diff += memcmp(y, y1, (size_t)nq * hd * 4) != 0;
    if (diff && (*bad_group)++ < 3)
        printf("  %s kvt=%d hd=%d off=%d nq=%d n=%d: results depend on the grouping\n", o->name,
               kvt, hd, off, nq, n);
    free(val), free(q), free(p), free(s), free(s1), free(y), free(y0), free(y1), free(idx);
    free(cache);
}

static void test_kv(const gptc_ops *o)
{
    static const int hds[] = {1, 5, 8, 16, 24, 40, 64, 72, 128, 136, 256};
    static const int nqs[] = {1, 2, 3, 4, 5, 8};
    static const int ns[] = {1, 2, 3, 4, 5, 7, 13, 40};
    int bad = 0, bad_group = 0, cases = 0;
    for (int kvt = 0; kvt < 3; kvt++)
        for (size_t a = 0; a < sizeof hds / sizeof *hds; a++)
            for (int oi = 0; oi < 3; oi++) {
                int hd = hds[a], off = oi == 0 ? 0 : oi == 1 ? 16 : 2 * hd + 8;
                for (size_t b = 0; b < sizeof nqs / sizeof *nqs; b++)
                    for (size_t c = 0; c < sizeof ns / sizeof *ns; c++, cases++)
                        test_kv_case(o, kvt, hd, off, nqs[b], ns[c], &bad, &bad_group);
            }
    CHECK(bad == 0,
          "%s: kv_dot and kv_acc against float64 on %d cases of f32/f16/q8_0 rows (%d bad)",
          o->name, cases, bad);
    CHECK(bad_group == 0,
          "%s: kv_dot and kv_acc give the same bits however the work is grouped (%d bad)", o->name,
          bad_group);
}

// The attention softmax against float64, over lengths that exercise every tail, with and
// without a sink, on scores wide enough that most weights underflow.
static void test_att_softmax(const gptc_ops *o)
{
    enum { N = 300 };
    float s[N + 40], v[N + 40];
    int bad = 0, cases = 0;
    for (int n = 1; n <= N; n += n < 40 ? 1 : 37)
        for (int k = 0; k < 4; k++, cases++) {
            float spread = k < 2 ? 4.0f : 400.0f, scale = 0.125f * (float)(k + 1);
            float sink = k % 2 ? test_rnd_f() * spread * scale : -INFINITY;
            for (int i = 0; i < n + 40; i++)
                v[i] = s[i] = test_rnd_f() * spread;
            o->att_softmax(s, n, scale, sink);
            double mx = sink, sum = 0;
            for (int i = 0; i < n; i++)
                mx = fmax(mx, (double)(v[i] * scale));
            for (int i = 0; i < n; i++)
                sum += exp((double)(v[i] * scale) - mx);
            if (sink != -INFINITY) sum += exp((double)sink - mx);
            for (int i = 0; i < n + 40; i++) {
                double want = i < n ? exp((double)(v[i] * scale) - mx) / sum : v[i];
                if (!(fabs(s[i] - want) <= 4e-6 * fabs(want) + 1e-37) && bad++ < 3)
                    printf("  %s att_softmax n=%d k=%d i=%d: %.9g vs %.9g\n", o->name, n, k, i,
                           s[i], want);
            }
        }
    CHECK(bad == 0,
          "%s: att_softmax against float64 on %d rows, elements past n untouched (%d bad)", o->name,
          cases, bad);
}

// SwiGLU against float64 on every tail length, in place and not, over inputs from tiny to past
// exp's range (where sigmoid is 0 or 1 in float).
static void test_swiglu(const gptc_ops *o)
{
    enum { N = 200 };
    float g[N + 16], u[N + 16], h[N + 16], gi[N + 16];
    int bad = 0, cases = 0;
    for (int n = 1; n <= N; n += n < 40 ? 1 : 23)
        for (int k = 0; k < 3; k++, cases++) {
            float spread = k == 0 ? 4.0f : k == 1 ? 30.0f : 120.0f;
            for (int i = 0; i < N + 16; i++) {
                g[i] = gi[i] = test_rnd_f() * spread;
                u[i] = test_rnd_f() * 2;
                h[i] = -7.0f;
            }
            o->swiglu(h, g, u, n);
            o->swiglu(gi, gi, u, n); /* in place */
            for (int i = 0; i < N + 16; i++) {
                double want = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
                int ok = i < n ? fabs(h[i] - want) <= 6e-7 * fabs(want) + 1e-30 &&
                                     memcmp(&h[i], &gi[i], sizeof h[i]) == 0
                               : h[i] == -7.0f && gi[i] == g[i];
                if (!ok && bad++ < 3)
                    printf("  %s swiglu n=%d i=%d g=%.9g: %.9g (in place %.9g) vs %.9g\n", o->name,
                           n, i, g[i], h[i], gi[i], i < n ? want : -7.0);
            }
        }
    CHECK(bad == 0,
          "%s: swiglu against float64 on %d rows (5 ulp), in place the same, elements past n "
          "untouched (%d bad)",
          o->name, cases, bad);
}

// f32 -> f16 rows: the bits of gptc_f32_to_f16 for random bit patterns (NaNs, infinities,
// subnormals), values near halves and ties, on every tail length.
static void test_f16_rows(const gptc_ops *o)
{
    enum { N = 4096 };
    static float x[N];
    static uint16_t y[N + 8];
    int bad = 0;
    for (int rep = 0; rep < 64; rep++) {
        for (int i = 0; i < N; i++) {
            uint32_t b = test_rnd_u32();
            if (i % 3 == 1) { /* in the half range (subnormals included), half of them ties */
                uint32_t e = 127 - 26 + (b >> 8) % 43;
                b = (b & 0x80000000u) | e << 23 | (b & 0x7fe000u) |
                    (b & 0x10 ? 0x1000u : b & 0x1fffu);
            }
            x[i] = gptc_f32_from_bits(b);
            if (i % 3 == 2) x[i] = test_rnd_f() * 70000.0f;
        }
        int n = rep < 40 ? rep + 1 : N - rep;
        for (int i = 0; i < N + 8; i++)
            y[i] = 0xBEEF;
        o->f16_from_f32(y, x, n);
        for (int i = 0; i < N + 8; i++) {
            uint16_t want = i < n ? gptc_f32_to_f16(x[i]) : 0xBEEF;
            if (y[i] != want && bad++ < 3)
                printf("  %s f16_from_f32 n=%d i=%d x=%a: 0x%04x vs 0x%04x\n", o->name, n, i,
                       i < n ? x[i] : 0.0f, y[i], want);
        }
    }
    CHECK(bad == 0, "%s: f16_from_f32 = gptc_f32_to_f16 bit for bit, tails untouched (%d bad)",
          o->name, bad);
}

// ---------------------------------------------------------------------------------------------
// Scalar helpers against double-precision formulas

static int close_rel(double got, double want, double rel, double abs_tol)
{
    return fabs(got - want) <= rel * fabs(want) + abs_tol;
}

static void test_helpers(void)
{
    enum { N = 288 };
    float x[N], w[N], o[N], u[N], g[N];
    for (int i = 0; i < N; i++)
        x[i] = test_rnd_f() * 3, w[i] = test_rnd_f(), u[i] = test_rnd_f() * 2;

    // rmsnorm
    double ss = 0;
    for (int i = 0; i < N; i++)
        ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / N + 1e-5);
    gptc_rmsnorm(o, x, w, N, 1e-5f);
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += !close_rel(o[i], w[i] * x[i] * inv, 1e-5, 1e-7);
    CHECK(bad == 0, "rmsnorm (%d bad)", bad);
    gptc_rmsnorm(o, x, w, N, 0.5f); // eps matters
    inv = 1.0 / sqrt(ss / N + 0.5);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += !close_rel(o[i], w[i] * x[i] * inv, 1e-5, 1e-7);
    CHECK(bad == 0, "rmsnorm with large eps (%d bad)", bad);

    // softmax, including large logits that would overflow expf without the max subtraction
    for (int k = 0; k < 2; k++) {
        float s[N];
        double e[N], sum = 0, mx = -INFINITY;
        for (int i = 0; i < N; i++)
            s[i] = x[i] * (k ? 100.0f : 1.0f) + (k ? 500.0f : 0.0f);
        for (int i = 0; i < N; i++)
            mx = fmax(mx, s[i]);
        for (int i = 0; i < N; i++)
            sum += e[i] = exp(s[i] - mx);
        gptc_softmax(s, N);
        bad = 0;
        double tot = 0;
        for (int i = 0; i < N; i++)
            bad += !close_rel(s[i], e[i] / sum, 1e-5, 1e-12), tot += s[i];
        CHECK(bad == 0 && fabs(tot - 1) < 1e-5, "softmax %d (%d bad, sum %.9g)", k, bad, tot);
    }
    float one = 3.0f;
    gptc_softmax(&one, 1);
    CHECK(one == 1.0f, "softmax of one element is 1 (%g)", one);

    // swiglu
    for (int i = 0; i < N; i++)
        g[i] = x[i] * 4;
    gptc_swiglu(g, u, N);
    bad = 0;
    for (int i = 0; i < N; i++) {
        double v = x[i] * 4.0f;
        bad += !close_rel(g[i], v / (1 + exp(-v)) * u[i], 1e-5, 1e-7);
    }
    CHECK(bad == 0, "swiglu (%d bad)", bad);

    // rope: 3 heads of 32 dims, 24 rotated, at a few positions
    enum { NH = 3, HD = 32, NR = 24 };
    static const int poss[] = {0, 1, 7, 300, 4095};
    for (size_t pi = 0; pi < sizeof poss / sizeof poss[0]; pi++) {
        int pos = poss[pi];
        float q[NH * HD], q0[NH * HD];
        for (int i = 0; i < NH * HD; i++)
            q[i] = q0[i] = test_rnd_f();
        gptc_rope(q, NH, HD, NR, pos, 10000.0f);
        bad = 0;
        for (int h = 0; h < NH; h++) {
            for (int d = 0; d < HD; d += 2) {
                double a = q0[h * HD + d], b = q0[h * HD + d + 1], ra = a, rb = b;
                if (d < NR) {
                    double th = pos * pow(10000.0, -(double)d / NR);
                    ra = a * cos(th) - b * sin(th);
                    rb = a * sin(th) + b * cos(th);
                }
                // the float angle pos * freq carries ~pos * 6e-8 rad of rounding
                double tol = 1e-6 + 2e-7 * pos;
                bad += fabs(q[h * HD + d] - ra) > tol || fabs(q[h * HD + d + 1] - rb) > tol;
            }
        }
        CHECK(bad == 0, "rope at pos %d (%d bad)", pos, bad);
    }

    // row_to_f32
    enum { RC = 19 };
    float wf[3 * RC], out[RC];
    uint16_t wh[3 * RC], wb[3 * RC];
    for (int i = 0; i < 3 * RC; i++) {
        wf[i] = test_rnd_f();
        wh[i] = gptc_f32_to_f16(wf[i]);
        wb[i] = gptc_f32_to_bf16(wf[i]);
    }
    int ok = 1;
    gptc_row_to_f32(out, wf, GPTC_TYPE_F32, RC, 2);
    for (int c = 0; c < RC; c++)
        ok &= out[c] == wf[2 * RC + c];
    gptc_row_to_f32(out, wh, GPTC_TYPE_F16, RC, 1);
    for (int c = 0; c < RC; c++)
        ok &= out[c] == gptc_f16_to_f32(wh[RC + c]);
    gptc_row_to_f32(out, wb, GPTC_TYPE_BF16, RC, 2);
    for (int c = 0; c < RC; c++)
        ok &= out[c] == gptc_bf16_to_f32(wb[2 * RC + c]);
    CHECK(ok, "row_to_f32 for f32, f16, bf16");
}

// ---------------------------------------------------------------------------------------------
// fp16.h

// The value of a half, computed independently of fp16.h (for checking it).
static double half_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

// Is h the correctly rounded (nearest, ties to even, overflow to inf) half of f?
static int is_rounded_half(float f, uint16_t h)
{
    if (isnan(f)) return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if ((h & 0x8000) != (signbit(f) ? 0x8000 : 0)) return 0;
    double a = fabs((double)f);
    uint16_t m = h & 0x7fff;
    if (a >= 65520.0) return m == 0x7c00;
    if (m >= 0x7c00) return 0;
    double v = half_value(m);
    double lo = m > 0 ? half_value(m - 1) : -1, hi = half_value(m + 1);
    if (m == 0x7bff) hi = 65536.0; // the "next" value past the largest half, for rounding
    double dv = fabs(a - v), dlo = fabs(a - lo), dhi = fabs(a - hi);
    if (dv > dlo || dv > dhi) return 0;
    if (dv == dlo || dv == dhi) return (m & 1) == 0; // a tie goes to the even mantissa
    return 1;
}

static int is_rounded_bf16(float f, uint16_t b)
{
    if (isnan(f)) return (b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0;
    uint32_t x = gptc_f32_bits(f);
    double a = f, v = gptc_bf16_to_f32(b);
    if (isinf(v)) { // overflow: only values at or past the midpoint to 2^128
        return signbit(v) == signbit(a) && fabs(a) >= ldexp(0x1ff, 119);
    }
    double lo = gptc_f32_from_bits((x & 0xffff0000u)),
           hi = gptc_f32_from_bits((x & 0xffff0000u) + 0x10000u);
    if (v != lo && v != hi) return 0;
    double dv = fabs(a - v), dother = fabs(a - (v == lo ? hi : lo));
    if (dv > dother) return 0;
    if (dv == dother && lo != hi) return (b & 1) == 0;
    return 1;
}

static void test_fp16(void)
{
    // Every half: its value, and f16 -> f32 -> f16 round trip.
    int bad_val = 0, bad_rt = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = gptc_f16_to_f32((uint16_t)h);
        double want = half_value((uint16_t)h);
        if (isnan(want) ? !isnan(f) : ((double)f != want || !!signbit(f) != !!(h & 0x8000)))
            bad_val++;
        uint16_t back = gptc_f32_to_f16(f);
        if (isnan(want) ? (back & 0x7fff) <= 0x7c00 : back != h) bad_rt++;
    }
    CHECK(bad_val == 0, "f16_to_f32 of every half (%d bad)", bad_val);
    CHECK(bad_rt == 0, "f16 -> f32 -> f16 round trip of every half (%d bad)", bad_rt);

    // f32 -> f16 rounding: random bit patterns (every exponent), floats near every half and
    // exact midpoints between neighbouring halves (ties).
    int bad_round = 0;
    for (int i = 0; i < 2000000; i++) {
        float f;
        int kind = i % 3;
        if (kind == 0) {
            f = gptc_f32_from_bits(test_rnd_u32());
        } else {
            uint16_t h = (uint16_t)test_rnd_u32();
            if ((h & 0x7c00) == 0x7c00) h &= 0xfbff;
            double v = half_value(h), n = half_value((uint16_t)(h + 1));
            if ((h & 0x7fff) == 0x7bff) n = h & 0x8000 ? -65536.0 : 65536.0;
            f = kind == 1 ? (float)(v + (n - v) * (test_rnd_u32() / 4294967296.0))
                          : (float)((v + n) / 2);
        }
        uint16_t h = gptc_f32_to_f16(f);
        if (!is_rounded_half(f, h)) {
            if (bad_round++ < 3) printf("  f32_to_f16(%a) = 0x%04x\n", f, h);
        }
    }
    static const float edges[] = {
        65504.0f,         65519.99f,  65520.0f, 1e9f,         0x1p-24f, 0x1p-25f,
        0x1.0000002p-25f, 0x1.8p-24f, 0x1p-14f, 0x1.ff8p-15f, 0.0f,     -0.0f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        for (int s = 0; s < 2; s++) {
            float f = s ? -edges[i] : edges[i];
            uint16_t h = gptc_f32_to_f16(f);
            if (!is_rounded_half(f, h)) {
                if (bad_round++ < 6) printf("  f32_to_f16(%a) = 0x%04x\n", f, h);
            }
        }
    }
    CHECK(bad_round == 0, "f32_to_f16 rounds to nearest even (%d bad)", bad_round);
    CHECK(gptc_f32_to_f16(INFINITY) == 0x7c00 && gptc_f32_to_f16(-INFINITY) == 0xfc00, "f16 inf");
    CHECK((gptc_f32_to_f16(NAN) & 0x7e00) == 0x7e00, "f16 NaN is a quiet NaN");
    // NaNs as F16C converts them (values read off vcvtps2ph / vcvtph2ps on Zen 4)
    static const uint32_t nan32[] = {0x7f800001u, 0x7fa00000u, 0xffc12345u, 0x7fffffffu};
    static const uint16_t nan32_h[] = {0x7e00, 0x7f00, 0xfe09, 0x7fff};
    static const uint16_t nan16[] = {0x7c01, 0xfd55, 0x7e00};
    static const uint32_t nan16_f[] = {0x7fc02000u, 0xffeaa000u, 0x7fc00000u};
    int nan_ok = 1;
    for (int i = 0; i < 4; i++)
        nan_ok &= gptc_f32_to_f16(gptc_f32_from_bits(nan32[i])) == nan32_h[i];
    for (int i = 0; i < 3; i++)
        nan_ok &= gptc_f32_bits(gptc_f16_to_f32(nan16[i])) == nan16_f[i];
    CHECK(nan_ok, "NaN conversions match F16C bit for bit");

    // bf16: every value round-trips; rounding of random floats.
    int bad_b = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = gptc_bf16_to_f32((uint16_t)b);
        if (gptc_f32_bits(f) != b << 16) bad_b++;
        uint16_t back = gptc_f32_to_bf16(f);
        if (isnan(f) ? !isnan(gptc_bf16_to_f32(back)) : back != b) bad_b++;
    }
    CHECK(bad_b == 0, "bf16 round trip of every value (%d bad)", bad_b);
    bad_b = 0;
    for (int i = 0; i < 2000000; i++) {
        uint32_t bits = test_rnd_u32();
        if (i & 1) bits = (bits & 0xffff0000u) | 0x8000u; // exact ties
        float f = gptc_f32_from_bits(bits);
        if (!is_rounded_bf16(f, gptc_f32_to_bf16(f))) {
            if (bad_b++ < 3) printf("  f32_to_bf16(%a) = 0x%04x\n", f, gptc_f32_to_bf16(f));
        }
    }
    CHECK(bad_b == 0, "f32_to_bf16 rounds to nearest even (%d bad)", bad_b);
}

// ---------------------------------------------------------------------------------------------

int main(void)
{
    const gptc_ops *tables[] = {gptc_ops_ref(), gptc_ops_avx2(), gptc_ops_avx512()};
    const gptc_ops *best = gptc_ops_get();
    CHECK(best != NULL && best->name != NULL, "gptc_ops_get returns a table");
    CHECK(tables[0] != NULL && strcmp(tables[0]->name, "ref") == 0, "the reference table exists");
    printf("ops tables: ref %s %s; gptc_ops_get: %s\n", tables[1] ? "avx2" : "(no avx2)",
           tables[2] ? "avx512" : "(no avx512)", best ? best->name : "NULL");

    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        const gptc_ops *o = tables[i];
        if (!o) continue;
        test_dot_axpy(o);
        test_matmul(o);
        if (i > 0) test_matmul_vs_ref(o);
        test_kv(o);
        test_att_softmax(o);
        test_swiglu(o);
        test_f16_rows(o);
    }
    test_helpers();
    test_fp16();
    return test_summary();
}
