/*
 * bench_train_gemm.c — GFLOP/s of the training GEMM (src/train/gemm.h) in its three forms, on
 * the shapes of a GPT-2 124M step at B=4, T=64, against the machine's FMA peak.
 *
 *   build/bench/bench_train_gemm [threads]     (default 2)
 *
 * The peak is measured here: every thread runs independent FMA chains on registers.
 * Results are validated against the scalar reference before timing.
 */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "train/gemm.h"

typedef struct peak_job {
    double flops[1024];
} peak_job;

__attribute__((target("avx512f,fma"))) static double fma_loop_512(long n)
{
    __m512 a[12], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_fmadd_ps(a[i], b, c);
    float s = 0;
    for (int i = 0; i < 12; i++)
        s += _mm512_reduce_add_ps(a[i]);
    return s;
}

static void peak_task(void *arg, int ith, int nth)
{
    peak_job *j = arg;
    long n = 20000000;
    volatile double sink = fma_loop_512(n);
    (void)sink;
    j->flops[ith] = (double)n * 12 * 32;
}

/* FP32 FMA peak of the pool's threads in GFLOP/s (AVX-512; 0 if the CPU lacks it). */
static double measure_peak(gptc_pool *pool)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        peak_job j;
        memset(&j, 0, sizeof j);
        double t0 = bench_now();
        gptc_pool_run(pool, peak_task, &j);
        double t = bench_now() - t0, f = 0;
        for (int i = 0; i < gptc_pool_size(pool); i++)
            f += j.flops[i];
        if (f / t / 1e9 > best) best = f / t / 1e9;
    }
    return best;
}

static float *rand_buf(size_t n, uint64_t *s)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        p[i] = (float)(*s >> 40) / (float)(1 << 24) - 0.5f;
    }
    return p;
}

typedef struct shape {
    const char *what;
    int ta, tb, M, N, K;
} shape;

int main(int argc, char **argv)
{
    int nth = argc > 1 ? atoi(argv[1]) : 2;
    gptc_err err;
    gptc_pool *pool;
    gptc_gemm *g;
    if (gptc_pool_init(nth, &pool, &err) || gptc_gemm_init(NULL, nth, &g, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    uint64_t seed = 88172645463325252ull;

    /* validation on odd sizes, every form */
    int bad = 0;
    for (int f = 0; f < 4; f++) {
        int ta = f & 1, tb = f >> 1, M = 37, N = 101, K = 300;
        float *A = rand_buf((size_t)M * K, &seed), *B = rand_buf((size_t)K * N, &seed);
        float *C = calloc((size_t)M * N, 4), *R = calloc((size_t)M * N, 4);
        gptc_gemm_run(g, pool, ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0, C, N);
        gptc_gemm_ref(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0, R, N);
        for (int i = 0; i < M * N; i++)
            bad += fabsf(C[i] - R[i]) > 1e-3f;
        free(A), free(B), free(C), free(R);
    }
    if (bad) {
        fprintf(stderr, "validation failed: %d elements differ\n", bad);
        return 1;
    }

    double peak = measure_peak(pool);
    const gptc_gemm_kernel *k = gptc_gemm_get_kernel(g);
    printf("kernel %s (%dx%d), %d threads, FMA peak %.1f GFLOP/s\n", k->name, k->mr, k->nr, nth,
           peak);
    const shape shapes[] = {
        {"fwd qkv      ", 0, 1, 256, 2304, 768}, {"fwd fc       ", 0, 1, 256, 3072, 768},
        {"fwd proj     ", 0, 1, 256, 768, 3072}, {"fwd lm_head  ", 0, 1, 256, 50257, 768},
        {"dX qkv       ", 0, 0, 256, 768, 2304}, {"dX lm_head   ", 0, 0, 256, 768, 50257},
        {"dW qkv       ", 1, 0, 2304, 768, 256}, {"dW lm_head   ", 1, 0, 50257, 768, 256},
    };
    double total_flop = 0, total_t = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const shape *sh = &shapes[s];
        size_t na = (size_t)sh->M * sh->K, nb = (size_t)sh->K * sh->N;
        float *A = rand_buf(na, &seed), *B = rand_buf(nb, &seed),
              *C = calloc((size_t)sh->M * sh->N, 4);
        int lda = sh->ta ? sh->M : sh->K, ldb = sh->tb ? sh->K : sh->N;
        double ts[7];
        for (int r = 0; r < 7; r++) {
            double t0 = bench_now();
            gptc_gemm_run(g, pool, sh->ta, sh->tb, sh->M, sh->N, sh->K, A, lda, B, ldb, sh->ta, C,
                          sh->N);
            ts[r] = bench_now() - t0;
        }
        double t = bench_median(ts, 7), flop = 2.0 * sh->M * sh->N * sh->K;
        total_flop += flop, total_t += t;
        printf("%s M=%5d N=%5d K=%5d  %7.2f ms  %6.1f GFLOP/s  %4.0f%% of peak\n", sh->what, sh->M,
               sh->N, sh->K, t * 1e3, flop / t / 1e9, peak > 0 ? 100 * flop / t / 1e9 / peak : 0);
        free(A), free(B), free(C);
    }
    printf("all shapes: %.1f GFLOP/s\n", total_flop / total_t / 1e9);
    gptc_gemm_free(g);
    gptc_pool_free(pool);
    return 0;
}
