/*
 * bench_train.c — one training step of GPT-2 124M at B=4, T=64 (llm.c's CPU default): median
 * step time after warm-up, the split into forward / backward / optimizer, achieved GFLOP/s, and
 * model-FLOPs utilisation against the machine's FP32 peaks measured here: the FMA peak of the
 * threads, and the training GEMM's rate on a 1536^3 product.
 *
 * Each is given by the wall clock and by CPU time (per thread): on a machine others share, the
 * CPU time is what an idle machine's wall clock would be (the load average is printed too).
 *
 *   build/bench/bench_train [threads] [steps]     (default 2 threads, 6 timed steps)
 *   GPTC_BENCH_CFG=small build/bench/bench_train  (a 4-layer, 256-wide model: a quick check)
 *   GPTC_BENCH_CFG=baby build/bench/bench_train   (nanoGPT's shakespeare-char model, B=12)
 *
 * Validated first: the loss at initialisation is ln(V) within 0.3, and two steps on one batch
 * lower it. bench/torch_train_step.py times the same model in PyTorch.
 */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "train/gemm.h"
#include "train/train.h"

typedef struct peak_job {
    double flops[1024];
    double cpu[1024]; /* seconds of CPU time each thread used */
} peak_job;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double process_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((target("avx512f,fma"))) static float fma_loop_512(long n)
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
    double c0 = thread_cpu();
    volatile float sink = fma_loop_512(n);
    (void)sink;
    j->cpu[ith] = thread_cpu() - c0;
    j->flops[ith] = (double)n * 12 * 32;
}

/* FMA peak of the pool's threads: by the wall clock, and per CPU-second of one thread times the
 * thread count (what an idle machine gives when others share this one). */
static void fma_peak(gptc_pool *pool, double *wall, double *cpu)
{
    *wall = *cpu = 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return;
    for (int rep = 0; rep < 3; rep++) {
        peak_job j;
        memset(&j, 0, sizeof j);
        double t0 = bench_now();
        gptc_pool_run(pool, peak_task, &j);
        double t = bench_now() - t0, f = 0, c = 0;
        for (int i = 0; i < gptc_pool_size(pool); i++)
            f += j.flops[i], c += j.cpu[i];
        if (f / t / 1e9 > *wall) *wall = f / t / 1e9;
        double per_cpu = f / c / 1e9 * gptc_pool_size(pool);
        if (per_cpu > *cpu) *cpu = per_cpu;
    }
}

/* The training GEMM on a 1536^3 product (C = A B^T, the forward form): best of 3, by the wall
 * clock (*wall) and per CPU-second times the threads (*cpu). */
static void gemm_peak(gptc_pool *pool, double *wall, double *cpu)
{
    int n = 1536;
    gptc_err err;
    gptc_gemm *g;
    *wall = *cpu = 0;
    if (gptc_gemm_init(NULL, gptc_pool_size(pool), &g, &err)) return;
    float *A = malloc((size_t)n * n * 4), *B = malloc((size_t)n * n * 4),
          *C = malloc((size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++)
        A[i] = (float)(i % 7) * 0.1f, B[i] = (float)(i % 5) * 0.1f;
    for (int r = 0; r < 3; r++) {
        double c0 = process_cpu(), t0 = bench_now();
        gptc_gemm_run(g, pool, 0, 1, n, n, n, A, n, B, n, 0, C, n);
        double t = bench_now() - t0, c = process_cpu() - c0, flop = 2.0 * n * n * n;
        if (flop / t / 1e9 > *wall) *wall = flop / t / 1e9;
        if (flop / c / 1e9 * gptc_pool_size(pool) > *cpu)
            *cpu = flop / c / 1e9 * gptc_pool_size(pool);
    }
    free(A), free(B), free(C);
    gptc_gemm_free(g);
}

int main(int argc, char **argv)
{
    int nth = argc > 1 ? atoi(argv[1]) : 2, steps = argc > 2 ? atoi(argv[2]) : 6;
    const char *which = getenv("GPTC_BENCH_CFG");
    int small = which && strcmp(which, "small") == 0, baby = which && strcmp(which, "baby") == 0;
    gptc_tconfig cfg = {.arch = GPTC_ARCH_GPT2,
                        .n_vocab = 50257,
                        .n_ctx = 1024,
                        .n_embd = 768,
                        .n_layer = 12,
                        .n_head = 12};
    if (small) cfg.n_embd = 256, cfg.n_layer = 4, cfg.n_head = 4;
    if (baby) cfg.n_vocab = 260, cfg.n_ctx = 64, cfg.n_embd = 128, cfg.n_layer = 4, cfg.n_head = 4;
    gptc_tconfig_defaults(&cfg);
    const int B = baby ? 12 : 4, T = 64;
    gptc_err err;
    gptc_tmodel *m;
    if (gptc_tmodel_init(&cfg, B, T, nth, &m, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    gptc_rng rng;
    gptc_rng_seed(&rng, 42);
    gptc_tmodel_init_weights(m, &rng);
    size_t np = gptc_tmodel_n_params(m);
    float *m1 = calloc(np, 4), *m2 = calloc(np, 4);
    int32_t *tok = malloc((size_t)B * T * 4), *tgt = malloc((size_t)B * T * 4);
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)(gptc_rng_u64(&rng) % (uint64_t)cfg.n_vocab),
        tgt[i] = (int32_t)(gptc_rng_u64(&rng) % (uint64_t)cfg.n_vocab);
    gptc_adamw opt = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};

    /* validation */
    float loss0, loss;
    gptc_tmodel_zero_grad(m);
    gptc_tmodel_forward(m, tok, tgt, B, T, &loss0, &err);
    if (!(fabsf(loss0 - logf((float)cfg.n_vocab)) < 0.3f)) {
        fprintf(stderr, "bench_train: initial loss %.4f, expected ln(V) = %.4f\n", loss0,
                logf((float)cfg.n_vocab));
        return 1;
    }
    gptc_pool *pool = gptc_tmodel_pool(m);
    double t_fwd[64], t_bwd[64], t_opt[64], t_step[64], t_cpu[64];
    if (steps > 60) steps = 60;
    for (int s = 0; s < steps + 2; s++) {
        double c0 = process_cpu(), t0 = bench_now();
        gptc_tmodel_forward(m, tok, tgt, B, T, &loss, &err);
        double t1 = bench_now();
        gptc_tmodel_backward(m, 1.0f);
        double t2 = bench_now();
        gptc_tmodel_adamw(m, &opt, m1, m2, s + 1, 3e-4f, 1.0f);
        double t3 = bench_now(), c3 = process_cpu();
        if (s == 2 && !(loss < loss0)) {
            fprintf(stderr, "bench_train: loss did not fall on a repeated batch (%.4f -> %.4f)\n",
                    loss0, loss);
            return 1;
        }
        if (s >= 2)
            t_fwd[s - 2] = t1 - t0, t_bwd[s - 2] = t2 - t1, t_opt[s - 2] = t3 - t2,
                      t_step[s - 2] = t3 - t0, t_cpu[s - 2] = (c3 - c0) / nth;
    }
    double flops = gptc_tmodel_flops(m, B, T);
    double st = bench_median(t_step, steps), fw = bench_median(t_fwd, steps),
           bw = bench_median(t_bwd, steps), op = bench_median(t_opt, steps);
    double cpu = bench_median(t_cpu, steps), fpeak, fpeak_cpu, gpeak, gpeak_cpu;
    fma_peak(pool, &fpeak, &fpeak_cpu);
    gemm_peak(pool, &gpeak, &gpeak_cpu);
    double load = 0;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load) != 1) load = 0;
        fclose(la);
    }
    printf("GPT-2 %s (%.1fM params) at B=%d, T=%d, %d threads, %s kernel; %.1f GFLOP per step; "
           "load average "
           "%.1f on %d cores\n",
           small  ? "small"
           : baby ? "baby"
                  : "124M",
           np / 1e6, B, T, gptc_pool_size(pool), gptc_gemm_kernel_get()->name, flops / 1e9, load,
           gptc_n_cores());
    printf("wall clock: step %.3f s, median of %d (forward %.3f, backward %.3f, clip+AdamW %.3f); "
           "%.1f GFLOP/s = "
           "%.0f%% of the GEMM peak (%.1f), %.0f%% of the FMA peak (%.1f)\n",
           st, steps, fw, bw, op, flops / st / 1e9, gpeak > 0 ? 100 * flops / st / 1e9 / gpeak : 0,
           gpeak, fpeak > 0 ? 100 * flops / st / 1e9 / fpeak : 0, fpeak);
    printf("CPU time:   step %.3f s per thread (the wall time of an idle machine); %.1f GFLOP/s = "
           "%.0f%% of the "
           "GEMM peak (%.1f), %.0f%% of the FMA peak (%.1f)\n",
           cpu, flops / cpu / 1e9, gpeak_cpu > 0 ? 100 * flops / cpu / 1e9 / gpeak_cpu : 0,
           gpeak_cpu, fpeak_cpu > 0 ? 100 * flops / cpu / 1e9 / fpeak_cpu : 0, fpeak_cpu);
    printf("loss %.4f -> %.4f; references on this machine kind (issue 7): llm.c train_gpt2 ~4.6 "
           "s/step, "
           "PyTorch 1.13 ~3.0 s/step; goal <= 1.5 s\n",
           loss0, loss);
    free(m1), free(m2), free(tok), free(tgt);
    gptc_tmodel_free(m);
    return 0;
}
