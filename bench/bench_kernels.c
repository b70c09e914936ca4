/*
 * bench_kernels.c — matmul kernels of every ops table this CPU runs, F32/F16/BF16 weights, at
 * the shapes of a small llama (stories110M: dim 768, ffn 2048, vocab 32000), as decode
 * (T = 1, matrix-vector: bound by memory) and prefill (T = 64: bound by FMA throughput), on 1
 * and 2 threads of the pool. Each configuration is validated against the reference first.
 *
 * A fourth, decode-only shape (131072 x 768: 400 MB of F32, the size of stories110M's weights)
 * is far bigger than any cache, so its GB/s is the honest one to hold against the memory read
 * bandwidth; the smaller shapes are served partly or wholly from L3 (32 MB on the Zen 4 this was
 * tuned on) and can exceed it.
 *
 * Reports the median time, GFLOP/s, weight GB/s, and for decode the ratio to the measured
 * memory read bandwidth. Not a test: run by `make bench`.
 *
 *   bench_kernels [max_threads [isa]]     (default: 2 threads, every table)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/fp16.h"
#include "core/ops.h"
#include "core/threads.h"

enum { WT_F32, WT_F16, WT_BF16 };
static const char *wt_name[] = {"f32", "f16", "bf16"};

typedef struct mm_job {
    const gptc_ops *ops;
    int wt;
    float *Y;       // (T, R)
    const void *W;  // (R, C)
    const float *X; // (T, C)
    int T, C, R;
} mm_job;

static void mm_task(void *arg, int ith, int nth)
{
    mm_job *j = arg;
    // split rows in multiples of 4 so every thread runs whole register tiles
    int r0, r1;
    gptc_split((j->R + 3) / 4, ith, nth, &r0, &r1);
    r0 *= 4;
    r1 = GPTC_MIN(j->R, r1 * 4);
    if (r0 >= r1) return;
    switch (j->wt) {
    case WT_F32:
        j->ops->matmul_f32(j->Y, j->R, j->W, j->X, j->T, j->C, r0, r1);
        break;
    case WT_F16:
        j->ops->matmul_f16(j->Y, j->R, j->W, j->X, j->T, j->C, r0, r1);
        break;
    default:
        j->ops->matmul_bf16(j->Y, j->R, j->W, j->X, j->T, j->C, r0, r1);
        break;
    }
}

static uint64_t rng = 88172645463325252ull;
static float rnd_f(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)(rng >> 40) / 16777216.0f * 2.0f - 1.0f;
}

// Validate a few rows of every token against the reference; returns 1 if all agree.
static int validate(const mm_job *j)
{
    const gptc_ops *ref = gptc_ops_ref();
    float *y = malloc((size_t)j->T * j->R * sizeof(float));
    if (!y) return 0;
    int ok = 1;
    const int rows[] = {0, 1, j->R / 2 + 1, j->R - 1};
    for (int k = 0; k < 4; k++) {
        int r = rows[k];
        switch (j->wt) {
        case WT_F32:
            ref->matmul_f32(y, j->R, j->W, j->X, j->T, j->C, r, r + 1);
            break;
        case WT_F16:
            ref->matmul_f16(y, j->R, j->W, j->X, j->T, j->C, r, r + 1);
            break;
        default:
            ref->matmul_bf16(y, j->R, j->W, j->X, j->T, j->C, r, r + 1);
            break;
        }
        for (int t = 0; t < j->T; t++) {
            float a = j->Y[(size_t)t * j->R + r], b = y[(size_t)t * j->R + r];
            if (!(fabsf(a - b) <= 1e-4f * (1.0f + fabsf(b)))) ok = 0;
        }
    }
    free(y);
    return ok;
}

int main(int argc, char **argv)
{
    int max_th = argc > 1 ? atoi(argv[1]) : 2;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (max_th < 1) max_th = 1;
    enum { RMAX = 131072, C = 768, TMAX = 64 };
    static const int Rs[] = {768, 2048, 32000, RMAX};
    static const int Ts[] = {1, 64};

    gptc_pool *pools[8] = {0};
    gptc_err err;
    for (int n = 1; n <= max_th && n <= 8; n++) {
        if (gptc_pool_init(n, &pools[n - 1], &err) != GPTC_OK) {
            fprintf(stderr, "pool: %s\n", err.msg);
            return 1;
        }
    }
    double bw = gptc_bench_mem_bandwidth(pools[GPTC_MIN(max_th, 8) - 1]);
    printf("memory read bandwidth (%d threads, core/membw.h probe): %.1f GB/s\n", max_th,
           bw * 1e-9);
    double bw1 = gptc_bench_mem_bandwidth(pools[0]);
    printf("memory read bandwidth (1 thread): %.1f GB/s\n\n", bw1 * 1e-9);

    float *W32 = malloc((size_t)RMAX * C * sizeof(float));
    uint16_t *W16 = malloc((size_t)RMAX * C * sizeof(uint16_t));
    uint16_t *WB = malloc((size_t)RMAX * C * sizeof(uint16_t));
    float *X = malloc((size_t)TMAX * C * sizeof(float));
    float *Y = malloc((size_t)TMAX * RMAX * sizeof(float));
    if (!W32 || !W16 || !WB || !X || !Y) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)RMAX * C; i++) {
        W32[i] = rnd_f() * 0.1f;
        W16[i] = gptc_f32_to_f16(W32[i]);
        WB[i] = gptc_f32_to_bf16(W32[i]);
    }
    for (size_t i = 0; i < (size_t)TMAX * C; i++)
        X[i] = rnd_f();

    const gptc_ops *tables[] = {gptc_ops_ref(), gptc_ops_avx2(), gptc_ops_avx512()};
    printf("%-7s %-5s %-11s %-5s %-3s %11s %9s %9s %s\n", "isa", "type", "R x C", "T", "th",
           "median", "GFLOP/s", "W GB/s", "% of mem bw");
    int failures = 0;
    for (size_t ti = 0; ti < 3; ti++) {
        const gptc_ops *o = tables[ti];
        if (!o || (only && strcmp(only, o->name) != 0)) continue;
        for (int wt = 0; wt < 3; wt++) {
            const void *W = wt == WT_F32   ? (const void *)W32
                            : wt == WT_F16 ? (const void *)W16
                                           : (const void *)WB;
            size_t esz = wt == WT_F32 ? 4 : 2;
            for (size_t ri = 0; ri < sizeof Rs / sizeof Rs[0]; ri++) {
                for (size_t tk = 0; tk < sizeof Ts / sizeof Ts[0]; tk++) {
                    int R = Rs[ri], T = Ts[tk];
                    // the scalar reference at prefill size only on the smallest shape: seconds each
                    if (ti == 0 && T > 1 && R > 768) continue;
                    if (R == RMAX && T > 1) continue; // prefill is compute-bound: shown above
                    for (int th = 1; th <= max_th && th <= 8; th++) {
                        mm_job j = {o, wt, Y, W, X, T, C, R};
                        gptc_pool *pool = pools[th - 1];
                        gptc_pool_run(pool, mm_task, &j); // warm up, then validate
                        if (!validate(&j)) {
                            printf("%-7s %-5s %5dx%-5d T=%-3d %d  VALIDATION FAILED\n", o->name,
                                   wt_name[wt], R, C, T, th);
                            failures++;
                            continue;
                        }
                        double times[101];
                        int n = 0;
                        double start = bench_now();
                        while (n < 101 && (n < 5 || bench_now() - start < 0.3)) {
                            double t0 = bench_now();
                            gptc_pool_run(pool, mm_task, &j);
                            times[n++] = bench_now() - t0;
                        }
                        double med = bench_median(times, n);
                        double flops = 2.0 * R * C * T, wbytes = (double)R * C * esz;
                        printf("%-7s %-5s %5dx%-5d %-5d %-3d %9.1f us %9.1f %9.1f", o->name,
                               wt_name[wt], R, C, T, th, med * 1e6, flops / med * 1e-9,
                               wbytes / med * 1e-9);
                        if (T == 1 && bw > 0)
                            printf("   %5.1f%%%s", 100.0 * wbytes / med / (th == 1 ? bw1 : bw),
                                   wbytes > 64e6 ? "" : " (L3-resident in part)");
                        printf("\n");
                        fflush(stdout);
                    }
                }
            }
        }
    }
    free(W32), free(W16), free(WB), free(X), free(Y);
    for (int n = 0; n < 8; n++)
        gptc_pool_free(pools[n]);
    if (failures) printf("%d configurations failed validation\n", failures);
    return failures ? 1 : 0;
}
