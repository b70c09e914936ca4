/*
 * test_quant.c — the quantized formats and their kernels:
 *   - block layouts (sizes agree with the traits table);
 *   - quantize_ref -> dequantize round trips within a bound per type, on random data and on
 *     extreme blocks (zeros, constants, one outlier, +-max ties, tiny and huge magnitudes);
 *   - every ops table's quantized matmul against the reference on random blocks (random code
 *     bytes, so every code appears, extreme codes included) and random activations with extreme
 *     values, over shapes that exercise every tile remainder; split invariance across threads;
 *   - quantize_ref byte for byte against llama.cpp's files in ../shared/data/gguf/quant (the
 *     rand-llama F32 source is the exact dequantization of its Q8_0 file);
 *   - bad files: a quantized tensor whose row length is not a multiple of the block size, or
 *     whose data runs past the end of the file.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fp16.h"
#include "core/ops.h"
#include "format/gguf.h"
#include "quant/quantize.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "test.h"

static const uint32_t k_types[] = {
    GPTC_TYPE_Q4_0,   GPTC_TYPE_Q4_1,   GPTC_TYPE_Q5_0, GPTC_TYPE_Q5_1, GPTC_TYPE_Q8_0,
    GPTC_TYPE_Q4_K,   GPTC_TYPE_Q5_K,   GPTC_TYPE_Q6_K, GPTC_TYPE_Q2_K, GPTC_TYPE_Q3_K,
    GPTC_TYPE_IQ4_NL, GPTC_TYPE_IQ4_XS, GPTC_TYPE_MXFP4};
#define N_TYPES (int)(sizeof k_types / sizeof k_types[0])

// ---------------------------------------------------------------------------------------------
// Fixed-seed random numbers

/* test.h's test_rnd_* (seeded in main with 0x2545f4914f6cdd1d) */
static float rnd_normal(void)
{
    float u = ((float)test_rnd_u32() + 1.0f) / 4294967296.0f,
          v = (float)test_rnd_u32() / 4294967296.0f;
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

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
// Layouts

static void test_layouts(void)
{
    struct {
        uint32_t t;
        size_t size;
        int blck;
    } k[] = {
        {GPTC_TYPE_Q4_0, sizeof(block_q4_0), QK},
        {GPTC_TYPE_Q4_1, sizeof(block_q4_1), QK},
        {GPTC_TYPE_Q5_0, sizeof(block_q5_0), QK},
        {GPTC_TYPE_Q5_1, sizeof(block_q5_1), QK},
        {GPTC_TYPE_Q8_0, sizeof(block_q8_0), QK},
        {GPTC_TYPE_Q8_1, sizeof(block_q8_1), QK},
        {GPTC_TYPE_Q4_K, sizeof(block_q4_K), QK_K},
        {GPTC_TYPE_Q5_K, sizeof(block_q5_K), QK_K},
        {GPTC_TYPE_Q6_K, sizeof(block_q6_K), QK_K},
        {GPTC_TYPE_Q8_K, sizeof(block_q8_K), QK_K},
        {GPTC_TYPE_Q2_K, sizeof(block_q2_K), QK_K},
        {GPTC_TYPE_Q3_K, sizeof(block_q3_K), QK_K},
        {GPTC_TYPE_IQ4_NL, sizeof(block_iq4_nl), QK},
        {GPTC_TYPE_IQ4_XS, sizeof(block_iq4_xs), QK_K},
        {GPTC_TYPE_MXFP4, sizeof(block_mxfp4), QK},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const gptc_type_traits *tt = gptc_type_info(k[i].t);
        CHECK(tt && tt->type_size == k[i].size && tt->blck == k[i].blck,
              "traits of %s match its block struct", tt ? tt->name : "?");
        CHECK(tt && tt->to_float && tt->from_float_ref, "%s has dequantize and quantize",
              tt ? tt->name : "?");
    }
    for (int i = 0; i < N_TYPES; i++) {
        CHECK(gptc_type_is_quant(k_types[i]), "%s is a quantized weight type",
              gptc_type_info(k_types[i])->name);
        uint32_t v = gptc_type_info(k_types[i])->vec_dot_type;
        CHECK(v == GPTC_TYPE_Q8_0 || v == GPTC_TYPE_Q8_1 || v == GPTC_TYPE_Q8_K,
              "vec_dot_type of %s", gptc_type_info(k_types[i])->name);
    }
    CHECK(!gptc_type_is_quant(GPTC_TYPE_F32) && !gptc_type_is_quant(GPTC_TYPE_Q8_K) &&
              !gptc_type_is_quant(GPTC_TYPE_IQ2_XXS) && !gptc_type_is_quant(999),
          "F32, Q8_K (activations only), IQ2_XXS (no kernels) and unknown types are not computable "
          "quant types");
    CHECK(gptc_row_bytes(GPTC_TYPE_Q4_K, 512) == 288 && gptc_row_bytes(GPTC_TYPE_Q8_0, 64) == 68,
          "row bytes");
}

// ---------------------------------------------------------------------------------------------
// Round trips

// Fill n values with one of several block patterns (kind), scaled by mag.
static void fill(float *x, int n, int kind, float mag)
{
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case 0:
            x[i] = rnd_normal() * mag;
            break; // gaussian
        case 1:
            x[i] = test_rnd_f() * mag;
            break; // uniform
        case 2:
            x[i] = 0.0f;
            break; // zeros
        case 3:
            x[i] = mag;
            break; // constant
        case 4:
            x[i] = i % 37 == 5 ? 100.0f * mag : rnd_normal() * mag;
            break; // outliers
        case 5:
            x[i] = (i & 1) ? mag : -mag;
            break; // +-max ties
        case 6:
            x[i] = rnd_normal() * mag + 3.0f * mag;
            break; // all positive, offset
        default:
            x[i] = rnd_normal() * 1e-6f * mag;
            break; // tiny
        }
    }
}

/* The error of storing v as an f16: half an ulp, at least half the smallest subnormal. */
static double f16_err(double v)
{
    return fmax(fabs(v) / 2048, 1.0 / (1 << 25));
}

/* Max error allowed for one element of a block, from the block's values: the format's rounding
 * step (a full step where the code range clamps, half a step otherwise), plus the largest code
 * times the f16 rounding of the scale (and the rounding of the min). */
static double elem_bound(uint32_t t, const float *blk, int n)
{
    double amax = 0, mn = blk[0], mx = blk[0];
    for (int i = 0; i < n; i++) {
        amax = fmax(amax, fabs(blk[i]));
        mn = fmin(mn, blk[i]);
        mx = fmax(mx, blk[i]);
    }
    double d, step, qmax, m_err = 0;
    switch (t) {
    case GPTC_TYPE_Q8_0:
        d = amax / 127, step = 0.5, qmax = 127;
        break;
    case GPTC_TYPE_Q4_0:
        d = amax / 8, step = 1.0, qmax = 8;
        break;
    case GPTC_TYPE_Q5_0:
        d = amax / 16, step = 1.0, qmax = 16;
        break;
    case GPTC_TYPE_Q4_1:
        d = (mx - mn) / 15, step = 0.5, qmax = 15, m_err = f16_err(mn);
        break;
    case GPTC_TYPE_Q5_1:
        d = (mx - mn) / 31, step = 0.5, qmax = 31, m_err = f16_err(mn);
        break;
    default:
        return INFINITY; // K formats: RMS bound only (their per-group scales are searched)
    }
    return (step * d + qmax * f16_err(d) + m_err) * (1 + 1e-6) + 1e-30;
}

static void test_round_trip(void)
{
    // RMS error / RMS value on gaussian data, measured with this file's seed and rounded up:
    // a regression guard on the K formats' scale search as much as a sanity check.
    struct {
        uint32_t t;
        double rel_rms;
    } rms_bound[] = {
        {GPTC_TYPE_Q4_0, 0.12},  {GPTC_TYPE_Q4_1, 0.10},   {GPTC_TYPE_Q5_0, 0.06},
        {GPTC_TYPE_Q5_1, 0.05},  {GPTC_TYPE_Q8_0, 0.006},  {GPTC_TYPE_Q4_K, 0.10},
        {GPTC_TYPE_Q5_K, 0.05},  {GPTC_TYPE_Q6_K, 0.025},  {GPTC_TYPE_Q2_K, 0.40},
        {GPTC_TYPE_Q3_K, 0.20},  {GPTC_TYPE_IQ4_NL, 0.12}, {GPTC_TYPE_IQ4_XS, 0.12},
        {GPTC_TYPE_MXFP4, 0.20},
    };
    enum { N = 4096 };
    float *x = xmalloc(N * sizeof *x), *y = xmalloc(N * sizeof *y);
    void *q = xmalloc(N * 2);
    for (int ti = 0; ti < N_TYPES; ti++) {
        uint32_t t = k_types[ti];
        const gptc_type_traits *tt = gptc_type_info(t);
        int bad = 0;
        double worst_rel = 0;
        for (int kind = 0; kind < 8; kind++) {
            static const float mags[] = {1.0f, 0.02f, 1e-3f, 300.0f};
            for (int mi = 0; mi < 4; mi++) {
                fill(x, N, kind, mags[mi]);
                memset(q, 0xA5, N * 2);
                tt->from_float_ref(x, q, N);
                tt->to_float(q, y, N);
                double se = 0, sx = 0;
                for (int b = 0; b < N; b += tt->blck) {
                    double bound = elem_bound(t, x + b, tt->blck);
                    for (int i = b; i < b + tt->blck; i++) {
                        double e = fabs((double)y[i] - x[i]);
                        se += e * e;
                        sx += (double)x[i] * x[i];
                        if (!(e <= bound)) {
                            if (bad++ < 3)
                                printf("  %s kind %d mag %g: x[%d] = %.9g -> %.9g (bound %.3g)\n",
                                       tt->name, kind, mags[mi], i, x[i], y[i], bound);
                        }
                    }
                }
                // zeros and constants must come back exactly (constants within f16 of the scale)
                if (kind == 2) {
                    for (int i = 0; i < N; i++)
                        if (y[i] != 0.0f && bad++ < 3)
                            printf("  %s: zero block gave %g\n", tt->name, y[i]);
                }
                if (kind == 0 || kind == 1) worst_rel = fmax(worst_rel, sqrt(se / sx));
                if (kind == 0 && mi == 0) {
                    double want = 0;
                    for (size_t k = 0; k < sizeof rms_bound / sizeof rms_bound[0]; k++)
                        if (rms_bound[k].t == t) want = rms_bound[k].rel_rms;
                    CHECK(sqrt(se / sx) <= want,
                          "%s: gaussian round-trip relative RMS error %.4f <= %.4f", tt->name,
                          sqrt(se / sx), want);
                }
                double loose = t == GPTC_TYPE_Q2_K                           ? 0.5
                               : t == GPTC_TYPE_Q3_K || t == GPTC_TYPE_MXFP4 ? 0.3
                                                                             : 0.2;
                if (!(sqrt(se / (sx + 1e-300)) < loose) && kind != 2 && kind != 7) {
                    if (bad++ < 3)
                        printf("  %s kind %d mag %g: relative RMS %.3g\n", tt->name, kind, mags[mi],
                               sqrt(se / sx));
                }
            }
        }
        CHECK(bad == 0, "%s: round trip within its per-element bound on every pattern (%d bad)",
              tt->name, bad);
        (void)worst_rel;
    }
    free(x), free(y), free(q);
}

// ---------------------------------------------------------------------------------------------
// Kernels against the reference

/* A random row of blocks of type t, n elements: random code bytes (every code appears) with
 * sane random f16 scales, or (every third row) the quantization of random floats. */
static void random_row(uint32_t t, void *row, int n, int r)
{
    const gptc_type_traits *tt = gptc_type_info(t);
    if (r % 3 == 2) {
        float *x = xmalloc((size_t)n * sizeof *x);
        fill(x, n, r % 2 ? 0 : 4, 0.05f);
        tt->from_float_ref(x, row, n);
        free(x);
        return;
    }
    uint8_t *p = row;
    size_t bytes = gptc_row_bytes(t, n);
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)test_rnd_u32();
    if (r % 7 == 1) { // extreme codes: every byte 0x00 or 0xFF (Q8_0: 0 and -1; nibbles 0 and 15)
        for (size_t i = 0; i < bytes; i++)
            p[i] = (test_rnd_u32() & 1) ? 0xFF : 0x00;
    }
    if (r % 7 == 3 && t == GPTC_TYPE_Q8_0) { // Q8_0's extremes: -128 and 127
        for (size_t i = 0; i < bytes; i++)
            p[i] = (test_rnd_u32() & 1) ? 0x80 : 0x7F;
    }
    // the scales: finite, sign and magnitude random
    for (int b = 0; b < n / tt->blck; b++) {
        uint8_t *blk = p + (size_t)b * tt->type_size;
        uint16_t d = gptc_f32_to_f16(test_rnd_f() * 0.01f),
                 m = gptc_f32_to_f16(test_rnd_f() * 0.01f);
        switch (t) {
        case GPTC_TYPE_Q4_1:
        case GPTC_TYPE_Q5_1:
        case GPTC_TYPE_Q4_K:
        case GPTC_TYPE_Q5_K:
            memcpy(blk + 2, &m, 2);
            /* fall through */
        case GPTC_TYPE_Q4_0:
        case GPTC_TYPE_Q5_0:
        case GPTC_TYPE_Q8_0:
            memcpy(blk, &d, 2);
            break;
        case GPTC_TYPE_Q6_K:
            memcpy(blk + 208, &d, 2);
            break;
        case GPTC_TYPE_Q2_K:
            memcpy(blk + 80, &d, 2), memcpy(blk + 82, &m, 2);
            break;
        case GPTC_TYPE_Q3_K:
            memcpy(blk + 108, &d, 2);
            break;
        case GPTC_TYPE_IQ4_NL:
        case GPTC_TYPE_IQ4_XS:
            memcpy(blk, &d, 2);
            break;
        case GPTC_TYPE_MXFP4:
            blk[0] = (uint8_t)(118 + test_rnd_int(12));
            break; /* 2^-10 .. 2^1 */
        default:
            break;
        }
    }
}

/* Activations with extremes: the max-magnitude element sometimes negative, zeros, runs of
 * equal magnitudes, a row of zeros. */
static void random_acts(float *x, int n, int t)
{
    for (int i = 0; i < n; i++)
        x[i] = rnd_normal();
    if (t % 4 == 1)
        for (int i = 0; i < n; i += 7)
            x[i] = (i & 8) ? 9.0f : -9.0f;
    if (t % 4 == 2)
        for (int i = 0; i < n; i++)
            x[i] = i % 32 < 16 ? 0.0f : x[i];
    if (t % 5 == 4) memset(x, 0, (size_t)n * sizeof *x);
    if (t % 4 == 3)
        for (int i = 0; i < n; i++)
            x[i] = (float)(test_rnd_int(255) - 127) * 0.25f; // exact ties x.5
}

typedef struct kernel_case {
    const gptc_ops *o;
    uint32_t t;
    int R, C, T;
} kernel_case;

/* Y of table o (its own act_form + act_quant + matmul_q; split > 0: rows in calls of split) */
static void run_table(const gptc_ops *o, uint32_t t, float *Y, const void *W, const float *X, int T,
                      int C, int R, int split)
{
    int form = o->act_form(t);
    size_t xb = o->act_row_bytes(form, C);
    char *Xq = xmalloc(xb * (size_t)T);
    memset(Xq, 0x5A, xb * (size_t)T);
    for (int i = 0; i < T; i++)
        o->act_quant(form, Xq + i * xb, X + (size_t)i * C, C);
    if (split <= 0) {
        o->matmul_q(t, Y, R, W, Xq, T, C, 0, R);
    } else {
        for (int r = 0; r < R; r += split)
            o->matmul_q(t, Y, R, W, Xq, T, C, r, GPTC_MIN(R, r + split));
    }
    free(Xq);
}

static void test_kernels(const gptc_ops *o)
{
    static const int Cs32[] = {32, 64, 96, 160, 256, 768}, CsK[] = {256, 512, 768};
    static const int Rs[] = {1, 3, 4, 7, 17}, Ts[] = {1, 2, 3, 4, 5, 9};
    for (int ti = 0; ti < N_TYPES; ti++) {
        uint32_t t = k_types[ti];
        const gptc_type_traits *tt = gptc_type_info(t);
        int bad = 0, bad_split = 0, bad_alone = 0, cases = 0;
        int nC = tt->blck == QK ? 6 : 3;
        for (int ci = 0; ci < nC; ci++) {
            int C = tt->blck == QK ? Cs32[ci] : CsK[ci];
            for (int ri = 0; ri < 5; ri++) {
                int R = Rs[ri], T = Ts[(ci + ri) % 6];
                size_t rb = gptc_row_bytes(t, C);
                uint8_t *W = xmalloc(rb * R);
                for (int r = 0; r < R; r++)
                    random_row(t, W + r * rb, C, r + ci);
                float *X = xmalloc((size_t)T * C * sizeof *X),
                      *Y = xmalloc((size_t)T * R * sizeof *Y);
                float *Y0 = xmalloc((size_t)T * R * sizeof *Y),
                      *Y2 = xmalloc((size_t)T * R * sizeof *Y);
                for (int i = 0; i < T; i++)
                    random_acts(X + (size_t)i * C, C, i + ri);
                run_table(gptc_ops_ref(), t, Y0, W, X, T, C, R, 0);
                run_table(o, t, Y, W, X, T, C, R, 0);
                run_table(o, t, Y2, W, X, T, C, R, 5); // rows split 5 at a time (mid-tile)
                // each token alone (T = 1) gives the bits it gets inside the batch
                float *Y1 = xmalloc((size_t)R * sizeof *Y1);
                for (int i = 0; i < T; i++) {
                    run_table(o, t, Y1, W, X + (size_t)i * C, 1, C, R, 0);
                    if (memcmp(Y1, Y + (size_t)i * R, (size_t)R * sizeof *Y1) != 0) bad_alone++;
                }
                free(Y1);
                // tolerance: float summation order only; scale by sum |w||x| of the dequantized
                float *wf = xmalloc((size_t)C * sizeof *wf), *xf = xmalloc((size_t)C * sizeof *xf);
                void *xq = xmalloc(gptc_row_bytes(tt->vec_dot_type, C));
                for (int i = 0; i < T; i++) {
                    gptc_type_info(tt->vec_dot_type)->from_float_ref(X + (size_t)i * C, xq, C);
                    gptc_type_info(tt->vec_dot_type)->to_float(xq, xf, C);
                    for (int r = 0; r < R; r++) {
                        tt->to_float(W + r * rb, wf, C);
                        double mag = 0;
                        for (int c = 0; c < C; c++)
                            mag += fabs((double)wf[c] * xf[c]);
                        float a = Y[(size_t)i * R + r], b = Y0[(size_t)i * R + r];
                        if (!(fabs(a - b) <= 2e-6 * mag + 1e-30)) {
                            if (bad++ < 4)
                                printf("  %s %s C=%d R=%d T=%d (t %d, r %d): %.9g vs ref %.9g (mag "
                                       "%.3g)\n",
                                       o->name, tt->name, C, R, T, i, r, a, b, mag);
                        }
                        if (memcmp(&Y[(size_t)i * R + r], &Y2[(size_t)i * R + r], sizeof(float)) !=
                            0)
                            bad_split++;
                    }
                }
                cases++;
                free(W), free(X), free(Y), free(Y0), free(Y2), free(wf), free(xf), free(xq);
            }
        }
        CHECK(bad == 0, "%s: %s matmul_q agrees with the reference on %d shapes (%d bad)", o->name,
              tt->name, cases, bad);
        CHECK(bad_split == 0, "%s: %s matmul_q is bit-identical whatever the row split (%d differ)",
              o->name, tt->name, bad_split);
        CHECK(bad_alone == 0,
              "%s: %s matmul_q gives a token the same bits alone as in a batch (%d differ)",
              o->name, tt->name, bad_alone);
    }
}

/* The reference dot itself against a double-precision sum of dequantized values. */
static void test_ref_dots(void)
{
    enum { C = 512 };
    for (int ti = 0; ti < N_TYPES; ti++) {
        uint32_t t = k_types[ti];
        const gptc_type_traits *tt = gptc_type_info(t), *vt = gptc_type_info(tt->vec_dot_type);
        int bad = 0;
        for (int rep = 0; rep < 20; rep++) {
            uint8_t w[C * 2];
            float x[C], wf[C], xf[C];
            uint8_t xq[C * 2];
            random_row(t, w, C, rep);
            random_acts(x, C, rep);
            vt->from_float_ref(x, xq, C);
            tt->to_float(w, wf, C);
            vt->to_float(xq, xf, C);
            double want = 0, mag = 0;
            for (int c = 0; c < C; c++)
                want += (double)wf[c] * xf[c], mag += fabs((double)wf[c] * xf[c]);
            if (tt->vec_dot_type ==
                GPTC_TYPE_Q8_1) { // the min term uses s = f16(d * sum), not sum(x)
                mag *= 1.01;
                mag += 1e-3 * fabs(want);
            }
            float got = tt->vec_dot_ref(C, w, xq);
            double tol = (tt->vec_dot_type == GPTC_TYPE_Q8_1 ? 2e-3 : 1e-5) * mag + 1e-30;
            if (!(fabs(got - want) <= tol)) {
                if (bad++ < 3) printf("  %s ref dot: %.9g vs %.9g\n", tt->name, got, want);
            }
        }
        CHECK(bad == 0, "%s: vec_dot_ref equals the dot of the dequantized rows (%d bad)", tt->name,
              bad);
    }
}

/* Activation quantization of Q8_0/Q8_K on the ties and signs that decide codes */
static void test_act_codes(void)
{
    float x[256];
    block_q8_0 b;
    x[31] = 127.0f * 0.5f; // amax 63.5 -> d = 0.5
    for (int i = 0; i < 31; i++)
        x[i] = (float)(i - 15) * 0.25f; // x / d = (i - 15) / 2: exact halves
    gptc_q8_0_quantize_ref(x, &b, 32);
    CHECK(b.qs[0] == -8 && b.qs[1] == -7 && b.qs[30] == 8 && b.qs[31] == 127 && b.qs[16] == 1,
          "Q8_0 rounds halves away from zero (roundf), as llama.cpp");
    block_q8_K k;
    for (int i = 0; i < 256; i++)
        x[i] = 0.5f;
    x[3] = -2.0f, x[4] = 2.0f; // first max-magnitude element is negative -> d > 0
    gptc_q8_K_quantize_ref(x, &k, 256);
    CHECK(k.qs[3] == -127 && k.qs[4] == 127 && k.d > 0 && k.bsums[0] == 14 * 32 + 0,
          "Q8_K maps the first max-magnitude element to -127 (d %g, q %d %d, bsum %d)", k.d,
          k.qs[3], k.qs[4], k.bsums[0]);
}

// ---------------------------------------------------------------------------------------------
// Byte for byte against llama.cpp's files

static gguf_file *open_data(const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", test_data_dir(), rel);
    gguf_file *f = NULL;
    gptc_err err;
    if (gptc_gguf_open(p, &f, &err) != GPTC_OK) return NULL;
    return f;
}

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), for tensors.tsv's digests of llama.cpp's files that are not stored

static const uint32_t k_sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n)
{
    return x >> n | x << (32 - n);
}

static void sha_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ w[i - 15] >> 3;
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ w[i - 2] >> 10;
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25),
                 ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + S1 + ch + k_sha_k[i] + w[i];
        uint32_t S0 = ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22),
                 mj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        memmove(v + 1, v, 7 * sizeof *v);
        v[4] += t1;
        v[0] = t1 + S0 + mj;
    }
    for (int i = 0; i < 8; i++)
        h[i] += v[i];
}

/* hex digest (65 bytes) of n bytes */
static void sha256_hex(const void *data, size_t n, char *hex)
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        sha_block(h, p + i);
    uint8_t tail[128] = {0};
    size_t r = n - i, tn = r < 56 ? 64 : 128;
    memcpy(tail, p + i, r);
    tail[r] = 0x80;
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++)
        tail[tn - 1 - k] = (uint8_t)(bits >> (8 * k));
    sha_block(h, tail);
    if (tn == 128) sha_block(h, tail + 64);
    for (int k = 0; k < 8; k++)
        sprintf(hex + 8 * k, "%08x", h[k]);
}

static uint32_t type_by_name(const char *name)
{
    for (uint32_t t = 0; t < GPTC_TYPE_COUNT; t++) {
        const gptc_type_traits *tt = gptc_type_info(t);
        if (tt && strcasecmp(tt->name, name) == 0) return t;
    }
    return GPTC_TYPE_COUNT;
}

/* llama.cpp's Q2_K and Q3_K_M files of rand-llama-d256 are not stored, but tensors.tsv holds
 * each tensor's sha256: our quantization of the same source and our mix must give them. */
static void test_llamacpp_digests(int *seen)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/gguf/quant/tensors.tsv", test_data_dir());
    FILE *f = fopen(p, "r");
    gguf_file *r8 = open_data("gguf/quant/rand-llama-d256-Q8_0.gguf");
    if (!f || !r8) {
        printf("  (skipped: %s not found)\n", p);
        if (f) fclose(f);
        gptc_gguf_close(r8);
        return;
    }
    static const char *files[] = {"rand-llama-d256-Q2_K.gguf", "rand-llama-d256-Q3_K_M.gguf"};
    static const char *mixes[] = {"q2_k", "q3_k_m"};
    int same[2] = {0}, differ[2] = {0}, mix_bad[2] = {0};
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char file[128], name[128], type[32], ne[64], digest[80];
        unsigned long long bytes;
        if (sscanf(line, "%127s %127s %31s %63s %llu %79s", file, name, type, ne, &bytes, digest) !=
            6)
            continue;
        int fi = strcmp(file, files[0]) == 0 ? 0 : strcmp(file, files[1]) == 0 ? 1 : -1;
        if (fi < 0) continue;
        const gguf_tensor *s = gptc_gguf_find_tensor(r8, name);
        uint32_t t = type_by_name(type);
        if (!s || t == GPTC_TYPE_COUNT || !gptc_type_info(t)->from_float_ref) {
            differ[fi]++;
            printf("  %s: %s (%s) not reproducible here\n", file, name, type);
            continue;
        }
        int64_t ne0 = (int64_t)s->ne[0], n = (int64_t)(s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3]);
        uint32_t want = gptc_quantize_type_for(mixes[fi], name,
                                               s->type == GPTC_TYPE_Q8_0 ? GPTC_TYPE_F32 : s->type,
                                               (int)s->n_dims, ne0, 4, 4, 4, 1, NULL);
        if (want != t && !(t == GPTC_TYPE_F32 && want == GPTC_TYPE_F32)) {
            mix_bad[fi]++;
            printf("  %s: %s: mix %s gives %s, llama-quantize wrote %s\n", file, name, mixes[fi],
                   want < GPTC_TYPE_COUNT ? gptc_type_info(want)->name : "?", type);
        }
        if (t == GPTC_TYPE_F32) continue;
        float *x = xmalloc((size_t)n * sizeof *x);
        gptc_type_info(s->type)->to_float(s->data, x, n);
        size_t rb = gptc_row_bytes(t, ne0), nb = rb * (size_t)(n / ne0);
        uint8_t *y = xmalloc(nb);
        for (int64_t r = 0; r < n / ne0; r++)
            gptc_type_info(t)->from_float_ref(x + r * ne0, y + r * rb, ne0);
        char hex[65];
        sha256_hex(y, nb, hex);
        if (nb == bytes && strcmp(hex, digest) == 0) {
            same[fi]++;
            seen[t]++;
        } else {
            differ[fi]++;
            printf("  %s: %s (%s) differs from llama.cpp's bytes\n", file, name, type);
        }
        free(x), free(y);
    }
    for (int fi = 0; fi < 2; fi++) {
        CHECK(same[fi] > 0 && differ[fi] == 0,
              "%s: all %d quantized tensors have llama.cpp's sha256 (%d differ)", files[fi],
              same[fi], differ[fi]);
        CHECK(mix_bad[fi] == 0,
              "%s: the %s mix picks llama-quantize's type for every tensor (%d differ)", files[fi],
              mixes[fi], mix_bad[fi]);
    }
    fclose(f);
    gptc_gguf_close(r8);
}

static void test_llamacpp_files(void)
{
    gguf_file *s32 = open_data("gguf/stories260K.gguf");
    gguf_file *r8 = open_data("gguf/quant/rand-llama-d256-Q8_0.gguf");
    if (!s32 || !r8) {
        printf("  (skipped: %s/gguf not found)\n", test_data_dir());
        gptc_gguf_close(s32);
        gptc_gguf_close(r8);
        return;
    }
    static const char *files[] = {
        "stories260K-Q8_0",     "stories260K-Q4_0",       "stories260K-Q4_1",
        "stories260K-Q5_0",     "stories260K-Q5_1",       "rand-llama-d256-Q8_0",
        "rand-llama-d256-Q4_0", "rand-llama-d256-Q4_K_S", "rand-llama-d256-Q4_K_M"};
    int seen[GPTC_TYPE_COUNT] = {0};
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        char rel[256];
        snprintf(rel, sizeof rel, "gguf/quant/%s.gguf", files[fi]);
        gguf_file *q = open_data(rel);
        CHECK(q != NULL, "open %s", rel);
        if (!q) continue;
        gguf_file *src = fi < 5 ? s32 : r8;
        int same = 0, differ = 0;
        for (uint64_t i = 0; i < q->n_tensors; i++) {
            const gguf_tensor *t = &q->tensors[i];
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
            const gguf_tensor *s = gptc_gguf_find_tensor(src, name);
            if (!s) {
                differ++;
                continue;
            }
            int64_t n = (int64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]),
                    ne0 = (int64_t)t->ne[0];
            float *x = xmalloc((size_t)n * sizeof *x);
            gptc_type_info(s->type)->to_float(s->data, x,
                                              n); // the F32 source (rand: exact from Q8_0)
            uint8_t *y = xmalloc(t->nbytes);
            size_t rb = gptc_row_bytes(t->type, ne0);
            for (int64_t r = 0; r < n / ne0; r++)
                gptc_type_info(t->type)->from_float_ref(x + r * ne0, y + r * rb, ne0);
            if (memcmp(y, t->data, t->nbytes) == 0) {
                same++;
                seen[t->type]++;
            } else {
                differ++;
                printf("  %s: %s (%s) differs from llama.cpp's bytes\n", files[fi], name,
                       gptc_type_info(t->type)->name);
            }
            free(x), free(y);
        }
        CHECK(differ == 0, "%s: all %d tensors quantize to llama.cpp's exact bytes (%d differ)",
              files[fi], same, differ);
        gptc_gguf_close(q);
    }
    test_llamacpp_digests(seen);
    for (int i = 0; i < N_TYPES; i++) {
        uint32_t t = k_types[i];
        if (t == GPTC_TYPE_IQ4_NL || t == GPTC_TYPE_IQ4_XS || t == GPTC_TYPE_MXFP4)
            continue; /* numpy fixtures */
        CHECK(seen[t] > 0, "%s covered by the byte-for-byte comparison", gptc_type_info(t)->name);
    }
    gptc_gguf_close(s32);
    gptc_gguf_close(r8);
}

// ---------------------------------------------------------------------------------------------
// IQ4_NL, IQ4_XS, MXFP4 against the float64 numpy reference (scripts/gen-quant-fixtures.py)

static float *read_f32(const char *name, size_t *n)
{
    char p[512];
    snprintf(p, sizeof p, "tests/fixtures/quant/%s.f32", name);
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *v = xmalloc((size_t)sz);
    *n = fread(v, 4, (size_t)sz / 4, f);
    fclose(f);
    return v;
}

static void test_numpy_reference(void)
{
    size_t n = 0, m = 0;
    float *x = read_f32("input", &n);
    CHECK(x && n % 256 == 0 && n > 0, "tests/fixtures/quant/input.f32 readable (%zu floats)", n);
    if (!x) return;
    static const struct {
        uint32_t t;
        const char *file;
    } k[] = {
        {GPTC_TYPE_IQ4_NL, "iq4_nl"}, {GPTC_TYPE_IQ4_XS, "iq4_xs"}, {GPTC_TYPE_MXFP4, "mxfp4"}};
    for (int ki = 0; ki < 3; ki++) {
        const gptc_type_traits *tt = gptc_type_info(k[ki].t);
        float *want = read_f32(k[ki].file, &m);
        CHECK(want && m == n, "fixture %s.f32 matches the input's size", k[ki].file);
        if (!want || m != n) {
            free(want);
            continue;
        }
        uint8_t *q = xmalloc(gptc_row_bytes(k[ki].t, 256));
        float y[256];
        int blocks = 0, same = 0, worse = 0;
        for (size_t r = 0; r < n / 256; r++) {
            const float *xr = x + 256 * r, *wr = want + 256 * r;
            tt->from_float_ref(xr, q, 256);
            tt->to_float(q, y, 256);
            for (int b = 0; b < 256; b += 32) {
                blocks++;
                if (memcmp(y + b, wr + b, 32 * sizeof(float)) == 0) {
                    same++;
                    continue;
                }
                /* another candidate within rounding: ours must fit no worse (weights x^2 for
                 * the IQ4 searches, plain squares for MXFP4's nearest values) */
                double eg = 0, ew = 0;
                for (int i = b; i < b + 32; i++) {
                    double w = k[ki].t == GPTC_TYPE_MXFP4 ? 1.0 : (double)xr[i] * xr[i];
                    eg += w * ((double)y[i] - xr[i]) * ((double)y[i] - xr[i]);
                    ew += w * ((double)wr[i] - xr[i]) * ((double)wr[i] - xr[i]);
                }
                if (!(eg <= ew * 1.02 + 1e-30)) {
                    if (worse++ < 3)
                        printf("  %s row %zu block %d: error %.6g vs reference %.6g\n", tt->name, r,
                               b / 32, eg, ew);
                }
            }
        }
        printf("  %s: %d of %d blocks equal to the float64 reference\n", tt->name, same, blocks);
        CHECK(same * 100 >= blocks * 97,
              "%s: quantize -> dequantize equals the float64 numpy reference on %d of %d blocks",
              tt->name, same, blocks);
        CHECK(worse == 0, "%s: where it differs, gptc's choice fits no worse (%d worse)", tt->name,
              worse);
        free(q), free(want);
    }
    free(x);
}

/* NaN / inf scales are found, per type, in the block that has them. */
static void test_bad_blocks(void)
{
    for (int ti = 0; ti < N_TYPES; ti++) {
        uint32_t t = k_types[ti];
        const gptc_type_traits *tt = gptc_type_info(t);
        int n = 4 * tt->blck;
        float x[4 * 256];
        fill(x, n, 0, 1.0f);
        uint8_t row[4 * 300];
        tt->from_float_ref(x, row, n);
        CHECK(gptc_quant_bad_block(t, row, n) == -1, "%s: a good row has no bad block", tt->name);
        uint8_t *b2 = row + 2 * tt->type_size;
        if (t == GPTC_TYPE_MXFP4) {
            b2[0] = 0xFF;
        } else {
            uint16_t nan = 0x7e00;
            size_t off = t == GPTC_TYPE_Q6_K   ? 208
                         : t == GPTC_TYPE_Q3_K ? 108
                         : t == GPTC_TYPE_Q2_K ? 80
                                               : 0;
            memcpy(b2 + off, &nan, 2);
        }
        CHECK(gptc_quant_bad_block(t, row, n) == 2, "%s: a NaN scale in block 2 is found",
              tt->name);
    }
}

// ---------------------------------------------------------------------------------------------
// Bad files

/* A small valid GGUF with one tensor of type t (256 x 2), serialized to memory. */
static uint8_t *small_gguf(uint32_t t, size_t *n, size_t *ne0_off, size_t *off_off)
{
    size_t data = 2 * gptc_row_bytes(t, 256);
    uint8_t *b = xmalloc(256 + data);
    size_t p = 0;
#define PUT(v, k) (memcpy(b + p, &(v), k), p += k)
    uint32_t u32;
    uint64_t u64;
    memcpy(b, "GGUF", 4), p = 4;
    u32 = 3, PUT(u32, 4);
    u64 = 1, PUT(u64, 8); // tensors
    u64 = 0, PUT(u64, 8); // kvs
    u64 = 6, PUT(u64, 8), memcpy(b + p, "w.test", 6), p += 6;
    u32 = 2, PUT(u32, 4);
    *ne0_off = p;
    u64 = 256, PUT(u64, 8);
    u64 = 2, PUT(u64, 8);
    u32 = t, PUT(u32, 4);
    *off_off = p;
    u64 = 0, PUT(u64, 8);
    while (p % 32)
        b[p++] = 0;
    memset(b + p, 0, data), p += data;
#undef PUT
    *n = p;
    return b;
}

static void test_bad_files(void)
{
    static const uint32_t types[] = {GPTC_TYPE_Q8_0,   GPTC_TYPE_Q2_K,   GPTC_TYPE_Q3_K,
                                     GPTC_TYPE_IQ4_NL, GPTC_TYPE_IQ4_XS, GPTC_TYPE_MXFP4};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const char *tn = gptc_type_info(types[ti])->name;
        size_t n, ne0_off, off_off;
        uint8_t *b = small_gguf(types[ti], &n, &ne0_off, &off_off);
        gguf_file *f = NULL;
        gptc_err err;
        CHECK(gptc_gguf_parse(b, n, &f, &err) == GPTC_OK, "the small %s file parses (%s)", tn,
              err.msg);
        gptc_gguf_close(f);

        uint64_t v = 48; // not a multiple of 32 or 256
        memcpy(b + ne0_off, &v, 8);
        f = NULL;
        gptc_status s = gptc_gguf_parse(b, n, &f, &err);
        CHECK(s == GPTC_E_FORMAT && strstr(err.msg, "not a multiple of the block size") &&
                  strstr(err.msg, tn),
              "row length 48 of a %s tensor is a clear error (%s)", tn, err.msg);
        gptc_gguf_close(f);
        v = 256;
        memcpy(b + ne0_off, &v, 8);

        f = NULL; // data runs past the end: drop the last byte
        s = gptc_gguf_parse(b, n - 1, &f, &err);
        CHECK(s == GPTC_E_FORMAT && strstr(err.msg, "w.test"),
              "truncated %s data is a clear error (%s)", tn, err.msg);
        gptc_gguf_close(f);

        v = 32; // offset moved so the data runs past the end
        memcpy(b + off_off, &v, 8);
        f = NULL;
        s = gptc_gguf_parse(b, n, &f, &err);
        CHECK(s == GPTC_E_FORMAT, "%s data at an offset past the end is a clear error (%s)", tn,
              err.msg);
        gptc_gguf_close(f);
        free(b);
    }
}

int main(void)
{
    test_rng_seed(0x2545f4914f6cdd1dull);
    test_layouts();
    test_round_trip();
    test_ref_dots();
    test_act_codes();
    const gptc_ops *tables[] = {gptc_ops_ref(), gptc_ops_avx2(), gptc_ops_avx512()};
    for (int i = 0; i < 3; i++) {
        if (!tables[i]) {
            printf("  (%s: this CPU cannot run it)\n", i == 1 ? "avx2" : "avx512");
            continue;
        }
        test_kernels(tables[i]);
    }
    test_llamacpp_files();
    test_numpy_reference();
    test_bad_blocks();
    test_bad_files();
    return test_summary();
}
