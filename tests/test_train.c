/*
 * test_train.c — the training core: every GEMM kernel against the scalar reference in all three
 * forms, thread-count invariance (bit for bit), finite-difference gradients of a whole tiny model
 * (tied llama with T < n_ctx, the paths the PyTorch fixtures do not cover), the learning-rate
 * schedule, configuration errors, and a tiny model whose loss falls in a few steps.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "train/gemm.h"
#include "train/layers.h"
#include "train/train.h"

static float *rnd_buf(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = test_rnd_f();
    return p;
}

/* ----- GEMM ----------------------------------------------------------------------------------- */

static void test_gemm_kernel(const gptc_gemm_kernel *k)
{
    gptc_err err;
    gptc_pool *pool3;
    gptc_gemm *g;
    CHECK(gptc_pool_init(3, &pool3, &err) == GPTC_OK, "pool");
    CHECK(gptc_gemm_init(k, 3, &g, &err) == GPTC_OK, "gemm init");
    const int sizes[][3] = {{1, 1, 1},      {7, 5, 3},   {k->mr, k->nr, 17}, {37, 101, 300},
                            {130, 70, 520}, {3, 200, 9}, {64, 64, 0}};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int M = sizes[si][0], N = sizes[si][1], K = sizes[si][2];
        for (int form = 0; form < 8; form++) {
            int ta = form & 1, tb = (form >> 1) & 1, acc = form >> 2;
            int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 5;
            float *A = rnd_buf((size_t)(ta ? K : M) * lda + 1),
                  *B = rnd_buf((size_t)(tb ? N : K) * ldb + 1);
            float *C0 = rnd_buf((size_t)M * ldc), *C1 = malloc((size_t)M * ldc * 4),
                  *C2 = malloc((size_t)M * ldc * 4);
            memcpy(C1, C0, (size_t)M * ldc * 4);
            memcpy(C2, C0, (size_t)M * ldc * 4);
            gptc_gemm_ref(ta, tb, M, N, K, A, lda, B, ldb, acc, C0, ldc);
            gptc_gemm_run(g, NULL, ta, tb, M, N, K, A, lda, B, ldb, acc, C1, ldc);
            gptc_gemm_run(g, pool3, ta, tb, M, N, K, A, lda, B, ldb, acc, C2, ldc);
            float err_max = 0;
            int same = 1;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < ldc; j++) {
                    size_t x = (size_t)i * ldc + j;
                    if (j < N)
                        err_max = fmaxf(err_max, fabsf(C1[x] - C0[x]) / (1e-5f * (float)(K + 1)));
                    else
                        same &= C1[x] == C0[x]; /* padding untouched */
                    same &= memcmp(&C1[x], &C2[x], 4) == 0;
                }
            CHECK(err_max <= 1, "%s gemm ta=%d tb=%d acc=%d %dx%dx%d: error %.2f x tolerance",
                  k->name, ta, tb, acc, M, N, K, err_max);
            CHECK(same, "%s gemm ta=%d tb=%d %dx%dx%d: 1 and 3 threads differ, or padding written",
                  k->name, ta, tb, M, N, K);
            free(A), free(B), free(C0), free(C1), free(C2);
        }
    }
    gptc_gemm_free(g);
    gptc_pool_free(pool3);
}

/* The table's elementwise kernels against the scalar references (layers.h, optim.c). */
static void test_kernel_elementwise(const gptc_gemm_kernel *k)
{
    enum { N = 203 }; /* not a multiple of any vector width */
    float x[N], u[N], dy[N], a[N], b[N], a2[N], b2[N];
    for (int i = 0; i < N; i++)
        x[i] = test_rnd_f() * 12, u[i] = test_rnd_f(), dy[i] = test_rnd_f();
    x[0] = 0, x[1] = -30, x[2] = 30, x[3] = 1e-6f, x[4] = -1e-6f, x[5] = -90, x[6] = 90;
    float worst = 0;
#define CMP(p, q)                                                                                  \
    for (int i = 0; i < N; i++)                                                                    \
    worst = fmaxf(worst, fabsf((p)[i] - (q)[i]) / (1e-6f + 2e-6f * fabsf((q)[i])))
    if (k->gelu_fwd) {
        k->gelu_fwd(a, x, N), gptc_tl_gelu_fwd(b, x, N);
        CMP(a, b);
        k->gelu_bwd(a, x, dy, N), gptc_tl_gelu_bwd(b, x, dy, N);
        CMP(a, b);
    }
    if (k->swiglu_fwd) {
        k->swiglu_fwd(a, x, u, N), gptc_tl_swiglu_fwd(b, x, u, N);
        CMP(a, b);
        k->swiglu_bwd(a, a2, dy, x, u, N), gptc_tl_swiglu_bwd(b, b2, dy, x, u, N);
        CMP(a, b);
        CMP(a2, b2);
    }
    if (k->expsum) { /* softmax's exp and sum */
        float mx = 3.0f, sa, sb = 0;
        memcpy(a, x, sizeof a);
        sa = k->expsum(a, N, mx);
        for (int i = 0; i < N; i++)
            b[i] = expf(x[i] - mx), sb += b[i];
        CMP(a, b);
        worst = fmaxf(worst, fabsf(sa - sb) / (1e-5f * sb));
    }
    if (k->sumsq) {
        double s1 = k->sumsq(x, N), s2 = 0;
        for (int i = 0; i < N; i++)
            s2 += (double)x[i] * x[i];
        worst = fmaxf(worst, (float)(fabs(s1 - s2) / (1e-12 * s2)));
    }
    CHECK(worst <= 1, "%s gelu/swiglu/expsum/sumsq vs reference: %.2f x tolerance", k->name, worst);
    if (k->adamw) {
        float p1[N], p2[N], g1[N], g2[N], m1[N], m2[N], v1[N], v2[N];
        for (int i = 0; i < N; i++) {
            p1[i] = p2[i] = test_rnd_f(), g1[i] = g2[i] = test_rnd_f() * 1e-2f;
            m1[i] = m2[i] = test_rnd_f() * 1e-3f, v1[i] = v2[i] = fabsf(test_rnd_f()) * 1e-5f;
        }
        k->adamw(p1, g1, m1, v1, N, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 7, 0.5f);
        gptc_adamw_ref(p2, g2, m2, v2, N, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 7, 0.5f);
        worst = 0;
        CMP(p1, p2);
        CMP(m1, m2);
        CMP(v1, v2);
        int zero = 1;
        for (int i = 0; i < N; i++)
            zero &= g1[i] == 0;
        CHECK(worst <= 1 && zero, "%s adamw vs reference: %.2f x tolerance, gradients zeroed %d",
              k->name, worst, zero);
    }
#undef CMP
}

/* ----- layer ops: finite differences of a scalar function of each op ------------------------- */

/* Check d(sum w*y)/dx of an op by central differences in double-checked float. */
static void test_ops_fd(void)
{
    const int n = 3, D = 8;
    float x[24], w[8], b[8], y[24], mean[3], rstd[3], dy[24], dx[24], dw[8], db[8];
    for (int i = 0; i < n * D; i++)
        x[i] = test_rnd_f() * 2, dy[i] = test_rnd_f();
    for (int i = 0; i < D; i++)
        w[i] = 1 + 0.3f * test_rnd_f(), b[i] = 0.2f * test_rnd_f();
    for (int which = 0; which < 2; which++) { /* 0 rmsnorm, 1 layernorm */
        memset(dx, 0, sizeof dx);
        memset(dw, 0, sizeof dw);
        memset(db, 0, sizeof db);
        if (which) {
            gptc_tl_layernorm_fwd(y, mean, rstd, x, w, b, n, D, 1e-5f);
            gptc_tl_layernorm_bwd_dx(dx, dy, x, w, mean, rstd, n, D);
            gptc_tl_layernorm_bwd_dwb(dw, db, dy, x, mean, rstd, n, D, 0, D);
        } else {
            gptc_tl_rmsnorm_fwd(y, rstd, x, w, n, D, 1e-5f);
            gptc_tl_rmsnorm_bwd_dx(dx, dy, x, w, rstd, n, D);
            gptc_tl_rmsnorm_bwd_dw(dw, dy, x, rstd, n, D, 0, D);
        }
        float worst = 0;
        for (int i = 0; i < n * D + D; i++) {
            float *v = i < n * D ? &x[i] : &w[i - n * D], keep = *v, h = 1e-2f;
            double f[2];
            for (int s = 0; s < 2; s++) {
                *v = keep + (s ? h : -h);
                if (which)
                    gptc_tl_layernorm_fwd(y, mean, rstd, x, w, b, n, D, 1e-5f);
                else
                    gptc_tl_rmsnorm_fwd(y, rstd, x, w, n, D, 1e-5f);
                f[s] = 0;
                for (int k = 0; k < n * D; k++)
                    f[s] += (double)dy[k] * y[k];
            }
            *v = keep;
            double fd = (f[1] - f[0]) / (2 * h), an = i < n * D ? dx[i] : dw[i - n * D];
            worst = fmaxf(worst, (float)(fabs(fd - an) / (1e-3 + 1e-2 * fabs(fd))));
        }
        CHECK(worst <= 1, "%s backward vs finite differences: %.2f x tolerance",
              which ? "layernorm" : "rmsnorm", worst);
    }
    /* gelu and swiglu, elementwise */
    float g[16], u[16], h2[16], dg[16], du[16], dh[16];
    for (int i = 0; i < 16; i++)
        g[i] = test_rnd_f() * 4, u[i] = test_rnd_f(), dh[i] = 1;
    gptc_tl_gelu_bwd(dg, g, dh, 16);
    gptc_tl_swiglu_bwd(dh, du, (float[16]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, g, u,
                       16);
    float worst = 0;
    for (int i = 0; i < 16; i++) {
        float a, c, e = 1e-3f;
        float gp = g[i] + e, gm = g[i] - e;
        gptc_tl_gelu_fwd(&a, &gp, 1);
        gptc_tl_gelu_fwd(&c, &gm, 1);
        worst = fmaxf(worst, fabsf((a - c) / (2 * e) - dg[i]) / 2e-3f);
        gptc_tl_swiglu_fwd(&a, &gp, &u[i], 1);
        gptc_tl_swiglu_fwd(&c, &gm, &u[i], 1);
        worst = fmaxf(worst, fabsf((a - c) / (2 * e) - dh[i]) / 2e-3f);
        float silu = g[i] / (1 + expf(-g[i]));
        worst = fmaxf(worst, fabsf(du[i] - silu) / 1e-6f);
    }
    CHECK(worst <= 1, "gelu/swiglu backward vs finite differences: %.2f x tolerance", worst);
    (void)h2;
    /* rope: the inverse rotation undoes the forward one */
    float inv_freq[4] = {1, 0.1f, 0.01f, 0.001f}, cs[8], v[16], v0[16];
    for (int i = 0; i < 16; i++)
        v[i] = v0[i] = test_rnd_f();
    gptc_tl_rope_table(cs, 7, inv_freq, 8);
    gptc_tl_rope(v, cs, 2, 8, 8, 0);
    gptc_tl_rope(v, cs, 2, 8, 8, 1);
    worst = 0;
    for (int i = 0; i < 16; i++)
        worst = fmaxf(worst, fabsf(v[i] - v0[i]));
    CHECK(worst < 1e-6f, "rope inverse: %g", worst);
}

/* ----- the whole model ------------------------------------------------------------------------ */

static gptc_tmodel *tiny(enum gptc_arch arch, int tied, int B, int T, int threads, uint64_t seed)
{
    gptc_tconfig c = {.arch = arch,
                      .n_vocab = 20,
                      .n_ctx = 12,
                      .n_embd = 16,
                      .n_layer = 2,
                      .n_head = 4,
                      .n_head_kv = arch == GPTC_ARCH_LLAMA ? 2 : 4,
                      .tied = tied};
    gptc_tconfig_defaults(&c);
    gptc_tmodel *m = NULL;
    gptc_err err;
    CHECK(gptc_tmodel_init(&c, B, T, threads, &m, &err) == GPTC_OK, "init: %s", err.msg);
    gptc_rng r;
    gptc_rng_seed(&r, seed);
    gptc_tmodel_init_weights(m, &r);
    /* larger weights than training's init, and non-trivial norms, so every path carries signal */
    float *p = gptc_tmodel_params(m);
    for (size_t i = 0; i < gptc_tmodel_n_params(m); i++)
        p[i] = p[i] * 5 + 0.05f * gptc_rng_normal(&r);
    return m;
}

static void test_model_fd(enum gptc_arch arch, int tied)
{
    const int B = 2, T = 5;
    gptc_tmodel *m = tiny(arch, tied, B, 8, 2, 7);
    int32_t tok[10], tgt[10];
    for (int i = 0; i < B * T; i++)
        tok[i] = (i * 7 + 3) % 20, tgt[i] = (i * 5 + 1) % 20;
    tgt[3] = -1; /* a position without a target */
    gptc_err err;
    float loss;
    gptc_tmodel_zero_grad(m);
    CHECK(gptc_tmodel_forward(m, tok, tgt, B, T, &loss, &err) == GPTC_OK, "forward");
    gptc_tmodel_backward(m, 1.0f);
    float *p = gptc_tmodel_params(m), *g = gptc_tmodel_grads(m);
    size_t n = gptc_tmodel_n_params(m);
    float worst = 0;
    int checked = 0;
    for (size_t i = 0; i < n; i += 1 + n / 300) {
        float keep = p[i], h = 2e-3f, f[2];
        for (int s = 0; s < 2; s++) {
            p[i] = keep + (s ? h : -h);
            gptc_tmodel_forward(m, tok, tgt, B, T, &f[s], &err);
        }
        p[i] = keep;
        float fd = (f[1] - f[0]) / (2 * h);
        worst = fmaxf(worst, fabsf(fd - g[i]) / (2e-3f + 2e-2f * fabsf(fd)));
        checked++;
    }
    CHECK(worst <= 1 && checked > 100,
          "%s%s: gradients vs finite differences: %.2f x tolerance (%d checked)",
          gptc_arch_name(arch), tied ? " tied" : "", worst, checked);
    gptc_tmodel_free(m);
}

/* Same gradients, bit for bit, with 1 and 3 threads. */
static void test_threads(enum gptc_arch arch)
{
    float *g[2] = {0};
    size_t n = 0;
    int32_t tok[16], tgt[16];
    for (int i = 0; i < 16; i++)
        tok[i] = (i * 3) % 20, tgt[i] = (i * 11 + 2) % 20;
    for (int k = 0; k < 2; k++) {
        gptc_tmodel *m = tiny(arch, 0, 2, 8, k ? 3 : 1, 3);
        gptc_err err;
        float loss;
        gptc_tmodel_zero_grad(m);
        gptc_tmodel_forward(m, tok, tgt, 2, 8, &loss, &err);
        gptc_tmodel_backward(m, 1.0f);
        n = gptc_tmodel_n_params(m);
        g[k] = malloc(n * 4);
        memcpy(g[k], gptc_tmodel_grads(m), n * 4);
        gptc_tmodel_free(m);
    }
    CHECK(memcmp(g[0], g[1], n * 4) == 0, "%s: gradients with 1 and 3 threads differ",
          gptc_arch_name(arch));
    free(g[0]);
    free(g[1]);
}

/* Gradient accumulation: two micro-batches of one sequence, each backward scaled by 1/2, give
 * the gradient of the mean loss over both sequences at once. */
static void test_accum(enum gptc_arch arch)
{
    gptc_tmodel *m = tiny(arch, 0, 2, 8, 2, 11);
    int32_t tok[16], tgt[16];
    for (int i = 0; i < 16; i++)
        tok[i] = (i * 7 + 1) % 20, tgt[i] = (i * 3 + 5) % 20;
    gptc_err err;
    float loss;
    size_t n = gptc_tmodel_n_params(m);
    float *g2 = malloc(n * 4);
    gptc_tmodel_zero_grad(m);
    gptc_tmodel_forward(m, tok, tgt, 2, 8, &loss, &err);
    gptc_tmodel_backward(m, 1.0f);
    memcpy(g2, gptc_tmodel_grads(m), n * 4);
    gptc_tmodel_zero_grad(m);
    for (int b = 0; b < 2; b++) {
        gptc_tmodel_forward(m, tok + 8 * b, tgt + 8 * b, 1, 8, &loss, &err);
        gptc_tmodel_backward(m, 0.5f);
    }
    const float *g = gptc_tmodel_grads(m);
    float worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmaxf(scale, fabsf(g2[i]));
    for (size_t i = 0; i < n; i++)
        worst = fmaxf(worst, fabsf(g[i] - g2[i]) / (1e-5f * scale));
    CHECK(worst <= 1, "%s: accumulated gradients vs one batch: %.2f x tolerance",
          gptc_arch_name(arch), worst);
    free(g2);
    gptc_tmodel_free(m);
}

/* A tiny model learns a repeating sequence: the loss falls by more than half in 40 steps. */
static void test_learns(enum gptc_arch arch)
{
    gptc_tconfig c = {
        .arch = arch, .n_vocab = 20, .n_ctx = 16, .n_embd = 32, .n_layer = 2, .n_head = 4};
    gptc_tconfig_defaults(&c);
    gptc_tmodel *m = NULL;
    gptc_err err;
    CHECK(gptc_tmodel_init(&c, 4, 16, 2, &m, &err) == GPTC_OK, "init");
    gptc_rng r;
    gptc_rng_seed(&r, 1);
    gptc_tmodel_init_weights(m, &r);
    size_t n = gptc_tmodel_n_params(m);
    float *m1 = calloc(n, 4), *m2 = calloc(n, 4);
    gptc_adamw opt = {.beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.1f};
    int32_t tok[64], tgt[64];
    const char *text = "the cat sat on the mat. ";
    int len = (int)strlen(text);
    float first = 0, last = 0;
    gptc_tmodel_zero_grad(m);
    for (int step = 0; step < 40; step++) {
        for (int b = 0; b < 4; b++) {
            int off = (int)(gptc_rng_u64(&r) % (uint64_t)len);
            for (int t = 0; t < 16; t++) {
                tok[b * 16 + t] = (text[(off + t) % len] - ' ') % 20;
                tgt[b * 16 + t] = (text[(off + t + 1) % len] - ' ') % 20;
            }
        }
        float loss;
        gptc_tmodel_forward(m, tok, tgt, 4, 16, &loss, &err);
        gptc_tmodel_backward(m, 1.0f);
        gptc_tmodel_adamw(m, &opt, m1, m2, step + 1, gptc_lr_cosine(step, 1e-2f, 1e-3f, 5, 40),
                          1.0f);
        if (step == 0) first = loss;
        last = loss;
    }
    CHECK(last < 0.5f * first, "%s: loss %.3f -> %.3f in 40 steps", gptc_arch_name(arch), first,
          last);
    free(m1);
    free(m2);
    gptc_tmodel_free(m);
}

static void test_schedule_and_config(void)
{
    CHECK(fabsf(gptc_lr_cosine(0, 1e-3f, 1e-4f, 100, 2000) - 1e-3f / 101) < 1e-9f, "warmup start");
    CHECK(fabsf(gptc_lr_cosine(100, 1e-3f, 1e-4f, 100, 2000) - 1e-3f) < 1e-9f, "peak after warmup");
    CHECK(fabsf(gptc_lr_cosine(1050, 1e-3f, 1e-4f, 100, 2000) - 5.5e-4f) < 1e-8f,
          "cosine midpoint");
    CHECK(gptc_lr_cosine(2000, 1e-3f, 1e-4f, 100, 2000) == 1e-4f, "min after the end");

    gptc_err err;
    gptc_tconfig c = {.arch = GPTC_ARCH_LLAMA,
                      .n_vocab = 10,
                      .n_ctx = 8,
                      .n_embd = 30,
                      .n_layer = 1,
                      .n_head = 4};
    gptc_tconfig_defaults(&c);
    CHECK(gptc_tconfig_check(&c, &err) == GPTC_E_INVALID && strstr(err.msg, "divisible"),
          "dim %% heads: %s", err.msg);
    c.n_embd = 32, c.n_head_kv = 3;
    CHECK(gptc_tconfig_check(&c, &err) == GPTC_E_INVALID && strstr(err.msg, "kv heads"),
          "heads %% kv: %s", err.msg);
    c.n_head_kv = 2;
    CHECK(gptc_tconfig_check(&c, &err) == GPTC_OK, "valid config: %s", err.msg);
    c.arch = GPTC_ARCH_GPT2;
    CHECK(gptc_tconfig_check(&c, &err) == GPTC_E_INVALID, "gpt2 with GQA refused");
    gptc_tmodel *m;
    c.n_head_kv = 4;
    CHECK(gptc_tmodel_init(&c, 1, 9, 1, &m, &err) == GPTC_E_INVALID, "T over n_ctx refused");
    CHECK(gptc_tmodel_init(&c, 1, 8, 1, &m, &err) == GPTC_OK, "init");
    int32_t tok[8] = {0, 1, 2, 3, 4, 5, 6, 10};
    CHECK(gptc_tmodel_forward(m, tok, NULL, 1, 8, NULL, &err) == GPTC_E_RANGE,
          "token out of vocab refused");
    gptc_tmodel_free(m);
}

int main(void)
{
    test_gemm_kernel(gptc_gemm_kernel_ref());
    if (gptc_gemm_kernel_avx2())
        test_gemm_kernel(gptc_gemm_kernel_avx2()), test_kernel_elementwise(gptc_gemm_kernel_avx2());
    if (gptc_gemm_kernel_avx512())
        test_gemm_kernel(gptc_gemm_kernel_avx512()),
            test_kernel_elementwise(gptc_gemm_kernel_avx512());
    test_ops_fd();
    test_model_fd(GPTC_ARCH_LLAMA, 1);
    test_model_fd(GPTC_ARCH_GPT2, 1);
    test_threads(GPTC_ARCH_LLAMA);
    test_threads(GPTC_ARCH_GPT2);
    test_accum(GPTC_ARCH_LLAMA);
    test_accum(GPTC_ARCH_GPT2);
    test_learns(GPTC_ARCH_LLAMA);
    test_learns(GPTC_ARCH_GPT2);
    test_schedule_and_config();
    return test_summary();
}
