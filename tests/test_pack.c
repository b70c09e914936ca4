/*
 * test_pack.c — packed weights (quant/pack.h): the layout round-trips, every table's packed
 * activations are the reference's bytes, and every table's packed product gives exactly the
 * bits the reference product gives on the file's rows — for any split of the rows (partial
 * 16-row groups included), any number of tokens, and a token alone or in a batch. And a model
 * loaded packed (the default) gives the logits of the same model loaded with no_repack, within
 * the rounding of the other table's summation order, and the same greedy tokens.
 *
 * Packed codes and activation codes of every byte value (-128 activations, all-0xFF weights
 * next to all-zero ones) give the packed reference's bits too: the SIMD kernels' 16-bit pair
 * sums (avx2) must not saturate or wrap on any input a file or a batch can hold. The model
 * checks run for the best table of this CPU and again, in a child process, for the avx2 table
 * (the table is chosen once per process), so the loader's packing for both is exercised.
 */
#include <math.h>
#include <stdlib.h>

#include "gptc.h"
#include "quant/blocks.h"
#include "core/base.h"
#include "core/fp16.h"
#include "core/ops.h"
#include "model/model.h"
#include "quant/pack.h"
#include "quant/qmm.h"
#include "quant/quant.h"
#include "test.h"

static uint32_t rng = 12345;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f * 2.0f - 1.0f;
}

/* A (R, C) matrix of random floats quantized to type: the file's rows. */
static uint8_t *make_weights(uint32_t type, int R, int C)
{
    size_t rb = gptc_row_bytes(type, C);
    uint8_t *w = malloc(rb * (size_t)R);
    float *x = malloc((size_t)C * sizeof *x);
    for (int r = 0; r < R; r++) {
        float s = 0.01f + 0.2f * (float)(r % 7);
        for (int c = 0; c < C; c++)
            x[c] = frand() * s;
        gptc_type_info(type)->from_float_ref(x, w + rb * (size_t)r, C);
    }
    free(x);
    return w;
}

static int same_bits(const float *a, const float *b, size_t n, size_t *at)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0) {
            *at = i;
            return 0;
        }
    return 1;
}

static void check_layout(uint32_t type, int R, int C)
{
    size_t rb = gptc_row_bytes(type, C);
    uint8_t *w = make_weights(type, R, C), *p = malloc(rb * (size_t)R), *row = malloc(rb);
    memset(p, 0xAA, rb * (size_t)R);
    gptc_pack_groups(type, p, w, C, 0, R / GPTC_PACK_ROWS);
    int ok = 1;
    for (int r = 0; r < R && ok; r++) {
        gptc_pack_unpack_row(type, row, p, C, r);
        ok = memcmp(row, w + rb * (size_t)r, rb) == 0;
    }
    CHECK(ok, "%s %dx%d: packing then unpacking gives the file's rows", gptc_type_info(type)->name,
          R, C);
    free(w);
    free(p);
    free(row);
}

static void check_products(const gptc_ops *ops, uint32_t type, int R, int C, int T)
{
    const char *tn = gptc_type_info(type)->name;
    size_t rb = gptc_row_bytes(type, C);
    uint8_t *w = make_weights(type, R, C), *p = malloc(rb * (size_t)R);
    gptc_pack_groups(type, p, w, C, 0, R / GPTC_PACK_ROWS);
    float *x = malloc((size_t)T * C * sizeof *x);
    for (int i = 0; i < T * C; i++)
        x[i] = frand() * (i % 5 == 0 ? 3.0f : 1.0f);
    if (T > 1)
        for (int c = 0; c < C; c++)
            x[c] = 0.0f; /* a zero token: scale 0 */

    /* activations: the table's bytes are the reference's */
    uint32_t vdt = gptc_type_info(type)->vec_dot_type;
    int own = gptc_pack_own_form(type), form = own ? GPTC_PACK_FORM : ops->act_form(type);
    size_t xb = ops->act_row_bytes(form, C);
    CHECK(xb == (own ? gptc_pack_act_bytes(C) : gptc_row_bytes(vdt, C)),
          "%s: packed activation row bytes", ops->name);
    uint8_t *xq = malloc(xb * (size_t)T), *xr = malloc(xb * (size_t)T);
    for (int t = 0; t < T; t++) {
        ops->act_quant(form, xq + xb * (size_t)t, x + (size_t)t * C, C);
        if (own)
            gptc_pack_act_quant_ref(xr + xb * (size_t)t, x + (size_t)t * C, C);
        else
            gptc_type_info(vdt)->from_float_ref(x + (size_t)t * C, xr + xb * (size_t)t, C);
    }
    CHECK(memcmp(xq, xr, xb * (size_t)T) == 0,
          "%s %s C=%d T=%d: packed activations as the reference", ops->name, tn, C, T);

    /* the reference product on the file's rows */
    size_t qb = gptc_row_bytes(vdt, C);
    uint8_t *q8 = malloc(qb * (size_t)T);
    for (int t = 0; t < T; t++)
        gptc_type_info(vdt)->from_float_ref(x + (size_t)t * C, q8 + qb * (size_t)t, C);
    float *want = malloc((size_t)T * R * sizeof *want), *got = malloc((size_t)T * R * sizeof *got);
    gptc_qmm_matmul_ref(type, want, R, w, q8, T, C, 0, R);

    size_t at = 0;
    /* whole, then in splits of 5 rows (partial groups at both ends) */
    for (int split = 0; split < 2; split++) {
        for (size_t i = 0; i < (size_t)T * R; i++)
            got[i] = NAN;
        int step = split ? 5 : R;
        for (int r0 = 0; r0 < R; r0 += step)
            ops->matmul_qp(type, got, R, p, xq, T, C, r0, GPTC_MIN(R, r0 + step));
        CHECK(same_bits(got, want, (size_t)T * R, &at),
              "%s %s %dx%d T=%d split %d: packed product = reference bits (first difference at "
              "token %zu row %zu: %g vs %g)",
              ops->name, tn, R, C, T, step, at / (size_t)R, at % (size_t)R, got[at], want[at]);
    }
    /* a token alone: the same bits as in the batch */
    if (T > 1) {
        int t = T - 1;
        float *one = malloc((size_t)R * sizeof *one);
        ops->matmul_qp(type, one, R, p, xq + xb * (size_t)t, 1, C, 0, R);
        CHECK(same_bits(one, got + (size_t)t * R, (size_t)R, &at),
              "%s %s %dx%d: token %d alone = in a batch of %d", ops->name, tn, R, C, t, T);
        free(one);
    }
    /* rows outside [r0, r1) are not written */
    for (size_t i = 0; i < (size_t)T * R; i++)
        got[i] = -7.0f;
    int r0 = GPTC_MIN(3, R - 1), r1 = GPTC_MAX(r0 + 1, R - 2);
    ops->matmul_qp(type, got, R, p, xq, T, C, r0, r1);
    int kept = 1;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++)
            if ((r < r0 || r >= r1) && got[(size_t)t * R + r] != -7.0f) kept = 0;
    CHECK(kept, "%s %s %dx%d T=%d: rows outside [%d, %d) untouched", ops->name, tn, R, C, T, r0,
          r1);
    free(w);
    free(p);
    free(x);
    free(xq);
    free(xr);
    free(q8);
    free(want);
    free(got);
}

/* A code byte: random, or one of the extremes, per block (mode 0..3) */
static uint8_t code_byte(int mode)
{
    static const uint8_t ext[] = {0x00, 0xFF, 0x80};
    return mode ? ext[mode - 1] : (uint8_t)(frand() * 128.0f + 128.0f);
}
static int8_t act_byte(int mode)
{
    static const int8_t ext[] = {-128, 127, -127};
    return mode ? ext[mode - 1] : (int8_t)(uint8_t)(frand() * 128.0f + 128.0f);
}

/* Packed weights and activations of arbitrary bytes (finite scales): every table's packed
 * product = gptc_pack_matmul_ref's bits. */
static void check_bytes(const gptc_ops *ops, uint32_t type, int R, int C, int T)
{
    const char *tn = gptc_type_info(type)->name;
    size_t rb = gptc_row_bytes(type, C);
    uint8_t *p = malloc(rb * (size_t)R);
    int q4k = type == GPTC_TYPE_Q4_K || type == GPTC_TYPE_Q5_K, kq = q4k || type == GPTC_TYPE_Q6_K,
        nb = C / gptc_type_info(type)->blck;
    size_t bb = rb / (size_t)nb * GPTC_PACK_ROWS; /* bytes of a packed block of 16 rows */
    size_t nsc = q4k ? 64 : 32; /* leading f16 scale bytes (Q4_K, Q5_K: d, dmin); Q6_K's int8 scales
                                 * take any byte */
    for (int g = 0; g < R / GPTC_PACK_ROWS; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *blk = p + (size_t)g * GPTC_PACK_ROWS * rb + (size_t)b * bb;
            int mode = (int)((frand() + 1.0f) * 2.0f) & 3;
            for (size_t i = 0; i < bb; i++)
                blk[i] = code_byte(i < (q4k ? 256u : nsc) ? 0 : mode); /* Q4/5_K scales random */
            for (size_t i = 0; i < nsc; i += 2) {
                uint16_t h = gptc_f32_to_f16(frand() * 0.5f);
                memcpy(blk + i, &h, 2);
            }
        }
    size_t xb = kq ? gptc_row_bytes(GPTC_TYPE_Q8_K, C) : gptc_pack_act_bytes(C);
    uint8_t *xq = malloc(xb * (size_t)T);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < nb; b++) {
            int mode = (int)((frand() + 1.0f) * 2.0f) & 3;
            if (kq) {
                block_q8_K *x = (block_q8_K *)(xq + xb * (size_t)t) + b;
                x->d = frand() * 0.01f;
                for (int i = 0; i < QK_K; i++)
                    x->qs[i] = act_byte(mode);
                for (int i = 0; i < QK_K / 16; i++) {
                    int s = 0;
                    for (int e = 0; e < 16; e++)
                        s += x->qs[16 * i + e];
                    x->bsums[i] = (int16_t)s;
                }
            } else {
                gptc_pack_xblk *x = (gptc_pack_xblk *)(xq + xb * (size_t)t) + b;
                int32_t sum = 0;
                for (int i = 0; i < QK; i++)
                    sum += x->qs[i] = act_byte(mode);
                x->d = frand() * 0.01f;
                x->neg8 = -8 * sum;
                x->neg128 = -128 * sum;
            }
        }
    float *want = malloc((size_t)T * R * sizeof *want), *got = malloc((size_t)T * R * sizeof *got);
    gptc_pack_matmul_ref(type, want, R, p, xq, T, C, 0, R);
    ops->matmul_qp(type, got, R, p, xq, T, C, 0, R);
    size_t at = 0;
    CHECK(same_bits(got, want, (size_t)T * R, &at),
          "%s %s %dx%d T=%d, codes of every byte value: packed product = reference bits (first "
          "difference at token %zu row %zu: %g vs %g)",
          ops->name, tn, R, C, T, at / (size_t)R, at % (size_t)R, got[at], want[at]);
    free(p);
    free(xq);
    free(want);
    free(got);
}

/* Logits of 12 teacher-forced steps after a 5-token prompt into out (12 * V) */
static int run_model(gptc_model *m, float *out, int V)
{
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;
    gptc_ctx *c = NULL;
    gptc_err err;
    if (gptc_ctx_init(m, &cp, &c, &err)) return 0;
    int32_t tok[17], pos[17];
    for (int i = 0; i < 17; i++)
        tok[i] = (int32_t)((1 + i * 37) % V), pos[i] = i;
    int ok = 1;
    for (int k = 0; k < 12 && ok; k++) {
        gptc_batch b = {
            .n_tokens = k ? 1 : 6, .token = tok + (k ? 5 + k : 0), .pos = pos + (k ? 5 + k : 0)};
        ok = gptc_decode(c, &b, &err) == GPTC_OK;
        if (ok) memcpy(out + (size_t)k * V, gptc_get_logits(c, b.n_tokens - 1), sizeof *out * V);
    }
    gptc_ctx_free(c);
    return ok;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* file's layer products are of type and type2 (the same, or a second type of the file) */
static void check_model(const char *file, uint32_t type, uint32_t type2)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/gguf/quant/%s", test_data_dir(), file);
    gptc_model *mp = NULL, *mf = NULL;
    gptc_model_params p = gptc_model_default_params(), f = p;
    f.no_repack = 1;
    gptc_err err;
    if (gptc_model_load(path, &p, &mp, &err) || gptc_model_load(path, &f, &mf, &err)) {
        CHECK(0, "load %s: %s", path, err.msg);
        gptc_model_free(mp);
        return;
    }
    int packs = gptc_ops_get()->pack(type) || gptc_ops_get()->pack(type2);
    CHECK(packs ? gptc_model_packed_bytes(mp) > 0 : gptc_model_packed_bytes(mp) == 0,
          "%s: %llu bytes packed by the %s table", file,
          (unsigned long long)gptc_model_packed_bytes(mp), gptc_ops_get()->name);
    CHECK(gptc_model_packed_bytes(mf) == 0, "%s with no_repack: nothing packed", file);
    CHECK(gptc_model_repack_bytes(mf) == gptc_model_packed_bytes(mp) &&
              gptc_model_packed_bytes(mf) == 0,
          "%s: the planned bytes (info --mem) = the bytes packed (%llu), and planning packs "
          "nothing",
          file, (unsigned long long)gptc_model_repack_bytes(mf));
    int V = gptc_model_hparams(mp)->n_vocab;
    float *a = malloc(sizeof *a * 12 * V), *b = malloc(sizeof *b * 12 * V);
    if (run_model(mp, a, V) && run_model(mf, b, V)) {
        float md = 0.0f, lo = a[0], hi = a[0];
        int same = 1;
        for (int k = 0; k < 12; k++) {
            same &= argmax(a + (size_t)k * V, V) == argmax(b + (size_t)k * V, V);
            for (int v = 0; v < V; v++) {
                float x = a[(size_t)k * V + v];
                md = fmaxf(md, fabsf(x - b[(size_t)k * V + v]));
                lo = fminf(lo, x), hi = fmaxf(hi, x);
            }
        }
        CHECK(md <= 1e-2f * (hi - lo), "%s: packed and file-layout logits within %g (max |d| %g)",
              file, 1e-2f * (hi - lo), md);
        CHECK(same, "%s: the same greedy token at every step, packed or not", file);
    } else {
        CHECK(0, "%s: decode", file);
    }
    free(a), free(b);
    gptc_model_free(mp);
    gptc_model_free(mf);
}

static void check_models(void)
{
    check_model("rand-llama-d256-Q4_0.gguf", GPTC_TYPE_Q4_0, GPTC_TYPE_Q4_0);
    check_model("rand-llama-d256-Q8_0.gguf", GPTC_TYPE_Q8_0, GPTC_TYPE_Q8_0);
    check_model("stories260K-Q4_0.gguf", GPTC_TYPE_Q4_0, GPTC_TYPE_Q4_0);
    check_model("rand-llama-d256-Q4_K_M.gguf", GPTC_TYPE_Q4_K, GPTC_TYPE_Q6_K);
    /* Q4_K_S: attn_v of the first 4 layers are Q5_K (128 rows: packed where the table packs
     * Q5_K) */
    check_model("rand-llama-d256-Q4_K_S.gguf", GPTC_TYPE_Q5_K, GPTC_TYPE_Q4_K);
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *isa_env = getenv("GPTC_ISA");
    if (isa_env && strcmp(isa_env, "avx2") == 0) { /* the child: the model checks only */
        CHECK(gptc_ops_get() == gptc_ops_avx2(), "GPTC_ISA=avx2 chooses the avx2 table");
        check_models();
        return test_summary();
    }
    const uint32_t types[] = {GPTC_TYPE_Q4_0, GPTC_TYPE_Q8_0, GPTC_TYPE_IQ4_NL,
                              GPTC_TYPE_Q4_K, GPTC_TYPE_Q5_K, GPTC_TYPE_Q6_K};
    const size_t ntypes = sizeof types / sizeof types[0];
    const int shapes[][2] = {{16, 32},  {32, 64},   {48, 96},   {16, 256},
                             {80, 768}, {64, 2048}, {16, 4096}, {32, 512}};
    const int tokens[] = {1, 2, 3, 5, 7, 8, 9, 13, 17, 33};
    const gptc_ops *tables[] = {gptc_ops_ref(), gptc_ops_avx2(), gptc_ops_avx512()};
    CHECK(gptc_pack_type_ok(GPTC_TYPE_Q4_0) && gptc_pack_type_ok(GPTC_TYPE_Q8_0) &&
              gptc_pack_type_ok(GPTC_TYPE_Q4_K) && gptc_pack_type_ok(GPTC_TYPE_Q5_K) &&
              gptc_pack_type_ok(GPTC_TYPE_Q6_K) && gptc_pack_type_ok(GPTC_TYPE_IQ4_NL) &&
              !gptc_pack_type_ok(GPTC_TYPE_Q3_K) && !gptc_pack_type_ok(GPTC_TYPE_Q5_0) &&
              !gptc_pack_type_ok(GPTC_TYPE_F16),
          "packable types: Q4_0, Q8_0, IQ4_NL, Q4_K, Q5_K and Q6_K");
    for (size_t ti = 0; ti < ntypes; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            if (shapes[si][1] % gptc_type_info(types[ti])->blck == 0)
                check_layout(types[ti], shapes[si][0], shapes[si][1]);
    for (size_t k = 0; k < 3; k++) {
        const gptc_ops *ops = tables[k];
        if (!ops) {
            printf("note: this CPU has no %s table; its checks did not run\n",
                   k == 1 ? "avx2" : "avx512");
            continue;
        }
        for (size_t ti = 0; ti < ntypes; ti++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
                for (size_t n = 0; n < sizeof tokens / sizeof tokens[0]; n++) {
                    if (shapes[si][1] % gptc_type_info(types[ti])->blck) continue;
                    if (k == 0 && shapes[si][1] >= 2048 && tokens[n] > 5) continue; /* slow */
                    check_products(ops, types[ti], shapes[si][0], shapes[si][1], tokens[n]);
                }
        for (size_t ti = 0; ti < ntypes; ti++)
            for (int T = 1; T <= 9; T += 4) {
                check_bytes(ops, types[ti], 48, 512, T);
                check_bytes(ops, types[ti], 32, 2048, T);
            }
    }
    check_models();
    if (gptc_ops_avx2() && gptc_ops_get() != gptc_ops_avx2()) test_run_isa_child(argv[0], "avx2");
    return test_summary();
}
