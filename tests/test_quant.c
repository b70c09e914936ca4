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

#include "core/fp16.h"
#include "core/ops.h"
#include "format/gguf.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "test.h"

static const uint32_t k_types[] = {GPTC_TYPE_Q4_0, GPTC_TYPE_Q4_1, GPTC_TYPE_Q5_0, GPTC_TYPE_Q5_1,
                                   GPTC_TYPE_Q8_0, GPTC_TYPE_Q4_K, GPTC_TYPE_Q5_K, GPTC_TYPE_Q6_K};
#define N_TYPES (int)(sizeof k_types / sizeof k_types[0])

// ---------------------------------------------------------------------------------------------
// Fixed-seed random numbers

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rnd_u32(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return (uint32_t)(x >> 32);
}

static float rnd_f(void) { return (float)rnd_u32() / 4294967296.0f * 2.0f - 1.0f; } // [-1, 1)
static int rnd_int(int n) { return (int)(rnd_u32() % (uint32_t)n); }

static float rnd_normal(void)
{
    float u = ((float)rnd_u32() + 1.0f) / 4294967296.0f, v = (float)rnd_u32() / 4294967296.0f;
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
    struct { uint32_t t; size_t size; int blck; } k[] = {
        {GPTC_TYPE_Q4_0, sizeof(block_q4_0), QK},   {GPTC_TYPE_Q4_1, sizeof(block_q4_1), QK},
        {GPTC_TYPE_Q5_0, sizeof(block_q5_0), QK},   {GPTC_TYPE_Q5_1, sizeof(block_q5_1), QK},
        {GPTC_TYPE_Q8_0, sizeof(block_q8_0), QK},   {GPTC_TYPE_Q8_1, sizeof(block_q8_1), QK},
        {GPTC_TYPE_Q4_K, sizeof(block_q4_K), QK_K}, {GPTC_TYPE_Q5_K, sizeof(block_q5_K), QK_K},
        {GPTC_TYPE_Q6_K, sizeof(block_q6_K), QK_K}, {GPTC_TYPE_Q8_K, sizeof(block_q8_K), QK_K},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const gptc_type_traits *tt = gptc_type_info(k[i].t);
        CHECK(tt && tt->type_size == k[i].size && tt->blck == k[i].blck, "traits of %s match its block struct",
              tt ? tt->name : "?");
        CHECK(tt && tt->to_float && tt->from_float_ref, "%s has dequantize and quantize", tt ? tt->name : "?");
    }
    for (int i = 0; i < N_TYPES; i++) {
        CHECK(gptc_type_is_quant(k_types[i]), "%s is a quantized weight type", gptc_type_info(k_types[i])->name);
        uint32_t v = gptc_type_info(k_types[i])->vec_dot_type;
        CHECK(v == GPTC_TYPE_Q8_0 || v == GPTC_TYPE_Q8_1 || v == GPTC_TYPE_Q8_K, "vec_dot_type of %s",
              gptc_type_info(k_types[i])->name);
    }
    CHECK(!gptc_type_is_quant(GPTC_TYPE_F32) && !gptc_type_is_quant(GPTC_TYPE_Q8_K) &&
              !gptc_type_is_quant(GPTC_TYPE_Q2_K) && !gptc_type_is_quant(999),
          "F32, Q8_K (activations only), Q2_K (no kernels) and unknown types are not computable quant types");
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
        case 0: x[i] = rnd_normal() * mag; break;                         // gaussian
        case 1: x[i] = rnd_f() * mag; break;                              // uniform
        case 2: x[i] = 0.0f; break;                                       // zeros
        case 3: x[i] = mag; break;                                        // constant
        case 4: x[i] = i % 37 == 5 ? 100.0f * mag : rnd_normal() * mag; break; // outliers
        case 5: x[i] = (i & 1) ? mag : -mag; break;                       // +-max ties
        case 6: x[i] = rnd_normal() * mag + 3.0f * mag; break;            // all positive, offset
        default: x[i] = rnd_normal() * 1e-6f * mag; break;                // tiny
        }
    }
}

/* The error of storing v as an f16: half an ulp, at least half the smallest subnormal. */
static double f16_err(double v) { return fmax(fabs(v) / 2048, 1.0 / (1 << 25)); }

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
    case GPTC_TYPE_Q8_0: d = amax / 127, step = 0.5, qmax = 127; break;
    case GPTC_TYPE_Q4_0: d = amax / 8, step = 1.0, qmax = 8; break;
    case GPTC_TYPE_Q5_0: d = amax / 16, step = 1.0, qmax = 16; break;
    case GPTC_TYPE_Q4_1: d = (mx - mn) / 15, step = 0.5, qmax = 15, m_err = f16_err(mn); break;
    case GPTC_TYPE_Q5_1: d = (mx - mn) / 31, step = 0.5, qmax = 31, m_err = f16_err(mn); break;
    default: return INFINITY; // K formats: RMS bound only (their per-group scales are searched)
    }
    return (step * d + qmax * f16_err(d) + m_err) * (1 + 1e-6) + 1e-30;
}

static void test_round_trip(void)
{
    // RMS error / RMS value on gaussian data, measured with this file's seed and rounded up:
    // a regression guard on the K formats' scale search as much as a sanity check.
    struct { uint32_t t; double rel_rms; } rms_bound[] = {
        {GPTC_TYPE_Q4_0, 0.12}, {GPTC_TYPE_Q4_1, 0.10}, {GPTC_TYPE_Q5_0, 0.06}, {GPTC_TYPE_Q5_1, 0.05},
        {GPTC_TYPE_Q8_0, 0.006}, {GPTC_TYPE_Q4_K, 0.10}, {GPTC_TYPE_Q5_K, 0.05}, {GPTC_TYPE_Q6_K, 0.025},
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
                                printf("  %s kind %d mag %g: x[%d] = %.9g -> %.9g (bound %.3g)\n", tt->name,
                                       kind, mags[mi], i, x[i], y[i], bound);
                        }
                    }
                }
                // zeros and constants must come back exactly (constants within f16 of the scale)
                if (kind == 2) {
                    for (int i = 0; i < N; i++)
                        if (y[i] != 0.0f && bad++ < 3) printf("  %s: zero block gave %g\n", tt->name, y[i]);
                }
                if (kind == 0 || kind == 1) worst_rel = fmax(worst_rel, sqrt(se / sx));
                if (kind == 0 && mi == 0) {
                    double want = 0;
                    for (size_t k = 0; k < sizeof rms_bound / sizeof rms_bound[0]; k++)
                        if (rms_bound[k].t == t) want = rms_bound[k].rel_rms;
                    CHECK(sqrt(se / sx) <= want, "%s: gaussian round-trip relative RMS error %.4f <= %.4f",
                          tt->name, sqrt(se / sx), want);
                }
                if (!(sqrt(se / (sx + 1e-300)) < 0.2) && kind != 2 && kind != 7) {
                    if (bad++ < 3) printf("  %s kind %d mag %g: relative RMS %.3g\n", tt->name, kind, mags[mi],
                                          sqrt(se / sx));
                }
            }
        }
        CHECK(bad == 0, "%s: round trip within its per-element bound on every pattern (%d bad)", tt->name, bad);
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
    for (size_t i = 0; i < bytes; i++) p[i] = (uint8_t)rnd_u32();
    if (r % 7 == 1) { // extreme codes: every byte 0x00 or 0xFF (Q8_0: 0 and -1; nibbles 0 and 15)
        for (size_t i = 0; i < bytes; i++) p[i] = (rnd_u32() & 1) ? 0xFF : 0x00;
    }
    if (r % 7 == 3 && t == GPTC_TYPE_Q8_0) { // Q8_0's extremes: -128 and 127
        for (size_t i = 0; i < bytes; i++) p[i] = (rnd_u32() & 1) ? 0x80 : 0x7F;
    }
    // the scales: finite, sign and magnitude random
    for (int b = 0; b < n / tt->blck; b++) {
        uint8_t *blk = p + (size_t)b * tt->type_size;
        uint16_t d = gptc_f32_to_f16(rnd_f() * 0.01f), m = gptc_f32_to_f16(rnd_f() * 0.01f);
        switch (t) {
        case GPTC_TYPE_Q4_1:
        case GPTC_TYPE_Q5_1:
        case GPTC_TYPE_Q4_K:
        case GPTC_TYPE_Q5_K:
            memcpy(blk + 2, &m, 2);
            /* fall through */
        case GPTC_TYPE_Q4_0:
        case GPTC_TYPE_Q5_0:
        case GPTC_TYPE_Q8_0: memcpy(blk, &d, 2); break;
        case GPTC_TYPE_Q6_K: memcpy(blk + 208, &d, 2); break;
        default: break;
        }
    }
}

/* Activations with extremes: the max-magnitude element sometimes negative, zeros, runs of
 * equal magnitudes, a row of zeros. */
static void random_acts(float *x, int n, int t)
{
    for (int i = 0; i < n; i++) x[i] = rnd_normal();
    if (t % 4 == 1)
        for (int i = 0; i < n; i += 7) x[i] = (i & 8) ? 9.0f : -9.0f;
    if (t % 4 == 2)
        for (int i = 0; i < n; i++) x[i] = i % 32 < 16 ? 0.0f : x[i];
    if (t % 5 == 4) memset(x, 0, (size_t)n * sizeof *x);
    if (t % 4 == 3)
        for (int i = 0; i < n; i++) x[i] = (float)(rnd_int(255) - 127) * 0.25f; // exact ties x.5
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
    for (int i = 0; i < T; i++) o->act_quant(form, Xq + i * xb, X + (size_t)i * C, C);
    if (split <= 0) {
        o->matmul_q(t, Y, R, W, Xq, T, C, 0, R);
    } else {
        for (int r = 0; r < R; r += split) o->matmul_q(t, Y, R, W, Xq, T, C, r, GPTC_MIN(R, r + split));
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
        int bad = 0, bad_split = 0, cases = 0;
        int nC = tt->blck == QK ? 6 : 3;
        for (int ci = 0; ci < nC; ci++) {
            int C = tt->blck == QK ? Cs32[ci] : CsK[ci];
            for (int ri = 0; ri < 5; ri++) {
                int R = Rs[ri], T = Ts[(ci + ri) % 6];
                size_t rb = gptc_row_bytes(t, C);
                uint8_t *W = xmalloc(rb * R);
                for (int r = 0; r < R; r++) random_row(t, W + r * rb, C, r + ci);
                float *X = xmalloc((size_t)T * C * sizeof *X), *Y = xmalloc((size_t)T * R * sizeof *Y);
                float *Y0 = xmalloc((size_t)T * R * sizeof *Y), *Y2 = xmalloc((size_t)T * R * sizeof *Y);
                for (int i = 0; i < T; i++) random_acts(X + (size_t)i * C, C, i + ri);
                run_table(gptc_ops_ref(), t, Y0, W, X, T, C, R, 0);
                run_table(o, t, Y, W, X, T, C, R, 0);
                run_table(o, t, Y2, W, X, T, C, R, 5); // rows split 5 at a time (mid-tile)
                // tolerance: float summation order only; scale by sum |w||x| of the dequantized
                float *wf = xmalloc((size_t)C * sizeof *wf), *xf = xmalloc((size_t)C * sizeof *xf);
                void *xq = xmalloc(gptc_row_bytes(tt->vec_dot_type, C));
                for (int i = 0; i < T; i++) {
                    gptc_type_info(tt->vec_dot_type)->from_float_ref(X + (size_t)i * C, xq, C);
                    gptc_type_info(tt->vec_dot_type)->to_float(xq, xf, C);
                    for (int r = 0; r < R; r++) {
                        tt->to_float(W + r * rb, wf, C);
                        double mag = 0;
                        for (int c = 0; c < C; c++) mag += fabs((double)wf[c] * xf[c]);
                        float a = Y[(size_t)i * R + r], b = Y0[(size_t)i * R + r];
                        if (!(fabs(a - b) <= 2e-6 * mag + 1e-30)) {
                            if (bad++ < 4)
                                printf("  %s %s C=%d R=%d T=%d (t %d, r %d): %.9g vs ref %.9g (mag %.3g)\n",
                                       o->name, tt->name, C, R, T, i, r, a, b, mag);
                        }
                        if (memcmp(&Y[(size_t)i * R + r], &Y2[(size_t)i * R + r], sizeof(float)) != 0)
                            bad_split++;
                    }
                }
                cases++;
                free(W), free(X), free(Y), free(Y0), free(Y2), free(wf), free(xf), free(xq);
            }
        }
        CHECK(bad == 0, "%s: %s matmul_q agrees with the reference on %d shapes (%d bad)", o->name, tt->name,
              cases, bad);
        CHECK(bad_split == 0, "%s: %s matmul_q is bit-identical whatever the row split (%d differ)", o->name,
              tt->name, bad_split);
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
            for (int c = 0; c < C; c++) want += (double)wf[c] * xf[c], mag += fabs((double)wf[c] * xf[c]);
            if (tt->vec_dot_type == GPTC_TYPE_Q8_1) { // the min term uses s = f16(d * sum), not sum(x)
                mag *= 1.01;
                mag += 1e-3 * fabs(want);
            }
            float got = tt->vec_dot_ref(C, w, xq);
            double tol = (tt->vec_dot_type == GPTC_TYPE_Q8_1 ? 2e-3 : 1e-5) * mag + 1e-30;
            if (!(fabs(got - want) <= tol)) {
                if (bad++ < 3) printf("  %s ref dot: %.9g vs %.9g\n", tt->name, got, want);
            }
        }
        CHECK(bad == 0, "%s: vec_dot_ref equals the dot of the dequantized rows (%d bad)", tt->name, bad);
    }
}

/* Activation quantization of Q8_0/Q8_K on the ties and signs that decide codes */
static void test_act_codes(void)
{
    float x[256];
    block_q8_0 b;
    x[31] = 127.0f * 0.5f;                                       // amax 63.5 -> d = 0.5
    for (int i = 0; i < 31; i++) x[i] = (float)(i - 15) * 0.25f; // x / d = (i - 15) / 2: exact halves
    gptc_q8_0_quantize_ref(x, &b, 32);
    CHECK(b.qs[0] == -8 && b.qs[1] == -7 && b.qs[30] == 8 && b.qs[31] == 127 && b.qs[16] == 1,
          "Q8_0 rounds halves away from zero (roundf), as llama.cpp");
    block_q8_K k;
    for (int i = 0; i < 256; i++) x[i] = 0.5f;
    x[3] = -2.0f, x[4] = 2.0f; // first max-magnitude element is negative -> d > 0
    gptc_q8_K_quantize_ref(x, &k, 256);
    CHECK(k.qs[3] == -127 && k.qs[4] == 127 && k.d > 0 && k.bsums[0] == 14 * 32 + 0,
          "Q8_K maps the first max-magnitude element to -127 (d %g, q %d %d, bsum %d)", k.d, k.qs[3], k.qs[4],
          k.bsums[0]);
}

// ---------------------------------------------------------------------------------------------
// Byte for byte against llama.cpp's files

static gguf_file *open_data(const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", test_data_dir(), rel);
    gguf_file *f = NULL;
    gptc_err err;
    if (gguf_open(p, &f, &err) != GPTC_OK) return NULL;
    return f;
}

static void test_llamacpp_files(void)
{
    gguf_file *s32 = open_data("gguf/stories260K.gguf");
    gguf_file *r8 = open_data("gguf/quant/rand-llama-d256-Q8_0.gguf");
    if (!s32 || !r8) {
        printf("  (skipped: %s/gguf not found)\n", test_data_dir());
        gguf_close(s32);
        gguf_close(r8);
        return;
    }
    static const char *files[] = {"stories260K-Q8_0", "stories260K-Q4_0", "stories260K-Q4_1",
                                  "stories260K-Q5_0", "stories260K-Q5_1", "rand-llama-d256-Q8_0",
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
            const gguf_tensor *s = gguf_find_tensor(src, name);
            if (!s) {
                differ++;
                continue;
            }
            int64_t n = (int64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]), ne0 = (int64_t)t->ne[0];
            float *x = xmalloc((size_t)n * sizeof *x);
            gptc_type_info(s->type)->to_float(s->data, x, n); // the F32 source (rand: exact from Q8_0)
            uint8_t *y = xmalloc(t->nbytes);
            size_t rb = gptc_row_bytes(t->type, ne0);
            for (int64_t r = 0; r < n / ne0; r++) gptc_type_info(t->type)->from_float_ref(x + r * ne0, y + r * rb, ne0);
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
        CHECK(differ == 0, "%s: all %d tensors quantize to llama.cpp's exact bytes (%d differ)", files[fi], same,
              differ);
        gguf_close(q);
    }
    for (int i = 0; i < N_TYPES; i++)
        CHECK(seen[k_types[i]] > 0, "%s covered by the byte-for-byte comparison",
              gptc_type_info(k_types[i])->name);
    gguf_close(s32);
    gguf_close(r8);
}

// ---------------------------------------------------------------------------------------------
// Bad files

/* A small valid GGUF with one Q8_0 tensor (64 x 2), serialized to memory. */
static uint8_t *small_gguf(size_t *n, size_t *ne0_off, size_t *off_off)
{
    uint8_t *b = xmalloc(4096);
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
    u64 = 64, PUT(u64, 8);
    u64 = 2, PUT(u64, 8);
    u32 = GPTC_TYPE_Q8_0, PUT(u32, 4);
    *off_off = p;
    u64 = 0, PUT(u64, 8);
    while (p % 32) b[p++] = 0;
    memset(b + p, 0, 2 * 68), p += 2 * 68;
#undef PUT
    *n = p;
    return b;
}

static void test_bad_files(void)
{
    size_t n, ne0_off, off_off;
    uint8_t *b = small_gguf(&n, &ne0_off, &off_off);
    gguf_file *f = NULL;
    gptc_err err;
    CHECK(gguf_parse(b, n, &f, &err) == GPTC_OK, "the small Q8_0 file parses (%s)", err.msg);
    gguf_close(f);

    uint64_t v = 48; // not a multiple of 32
    memcpy(b + ne0_off, &v, 8);
    f = NULL;
    gptc_status s = gguf_parse(b, n, &f, &err);
    CHECK(s == GPTC_E_FORMAT && strstr(err.msg, "not a multiple of the block size") && strstr(err.msg, "q8_0"),
          "row length 48 of a Q8_0 tensor is a clear error (%s)", err.msg);
    gguf_close(f);
    v = 64;
    memcpy(b + ne0_off, &v, 8);

    f = NULL; // data runs past the end: drop the last byte
    s = gguf_parse(b, n - 1, &f, &err);
    CHECK(s == GPTC_E_FORMAT && strstr(err.msg, "w.test"), "Q8_0 data past the end of the file is a clear error (%s)",
          err.msg);
    gguf_close(f);

    v = 32; // offset moved so the data runs past the end
    memcpy(b + off_off, &v, 8);
    f = NULL;
    s = gguf_parse(b, n, &f, &err);
    CHECK(s == GPTC_E_FORMAT, "Q8_0 data at an offset past the end is a clear error (%s)", err.msg);
    gguf_close(f);
    free(b);
}

int main(void)
{
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
    test_bad_files();
    return test_summary();
}
