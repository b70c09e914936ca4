/*
 * bench_quant_kernels.c — the quantized matmul kernels (ops->act_quant + ops->matmul_q) of every
 * ops table this CPU runs, next to F32: decode (T = 1) on a matrix far bigger than the caches
 * (131072 x 768: 400 MB as F32), where GB/s of weights against the measured memory bandwidth is
 * the figure of merit, and prefill (T = 64) on stories110M's 2048 x 768, where it is the integer
 * multiply-add rate (GOP/s, 2 per weight and token). 1 and 2 threads of the pool, rows split in
 * 16-row chunks as llama.c splits them. Each configuration is validated against the reference
 * table first. The types a table packs (ops->pack) also run packed (quant/pack.h: 16-row groups;
 * isas "avx2p" and "avx512p", the avx2 and avx512 tables' matmul_qp). Not a test.
 *
 *   bench_quant_kernels [max_threads [isa[,isa...] [type[,type...]]]]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/ops.h"
#include "core/threads.h"
#include "quant/pack.h"
#include "quant/quant.h"

typedef struct job {
    const gptc_ops *ops;
    uint32_t type;  /* GPTC_TYPE_F32 or a quantized type */
    float *Y;       // (T, R)
    const void *W;  // (R, C)
    const float *X; // (T, C)
    char *Xq;       // (T, act bytes)
    int T, C, R;
    int packed; /* W is packed (pack.h); validated against the file's rows Wf */
    const void *Wf;
} job;

static void task(void *arg, int ith, int nth)
{
    job *j = arg;
    int chunks = (j->R + 15) / 16, c0, c1;
    gptc_split(chunks, ith, nth, &c0, &c1);
    int r0 = GPTC_MIN(j->R, c0 * 16), r1 = GPTC_MIN(j->R, c1 * 16);
    if (r0 >= r1) return;
    if (j->type == GPTC_TYPE_F32)
        j->ops->matmul_f32(j->Y, j->R, j->W, j->X, j->T, j->C, r0, r1);
    else if (j->packed)
        j->ops->matmul_qp(j->type, j->Y, j->R, j->W, j->Xq, j->T, j->C, r0, r1);
    else
        j->ops->matmul_q(j->type, j->Y, j->R, j->W, j->Xq, j->T, j->C, r0, r1);
}

/* What one product costs in the forward pass: converting the activations (once, on the calling
 * thread, as llama.c does for decode) and the pool run. */
static void run(gptc_pool *pool, job *j)
{
    if (j->type != GPTC_TYPE_F32) {
        int form =
            j->packed && gptc_pack_own_form(j->type) ? GPTC_PACK_FORM : j->ops->act_form(j->type);
        size_t xb = j->ops->act_row_bytes(form, j->C);
        for (int t = 0; t < j->T; t++)
            j->ops->act_quant(form, j->Xq + (size_t)t * xb, j->X + (size_t)t * j->C, j->C);
    }
    gptc_pool_run(pool, task, j);
}

/* 1 when name is one of the comma-separated list (no list: every name) */
static int in_list(const char *list, const char *name)
{
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        p += len + (e != NULL);
    }
    return 0;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static float rnd_f(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)(rng >> 40) / 16777216.0f * 2.0f - 1.0f;
}

/* A few rows of every token against the reference table: 1 if they agree. */
static int validate(const job *j)
{
    job r = *j;
    r.ops = gptc_ops_ref();
    float *y = malloc((size_t)j->T * j->R * sizeof(float));
    int form = r.ops->act_form(j->type);
    size_t xb = r.ops->act_row_bytes(form, j->C);
    char *xq = malloc(xb * (size_t)j->T);
    for (int t = 0; t < j->T; t++)
        r.ops->act_quant(form, xq + (size_t)t * xb, j->X + (size_t)t * j->C, j->C);
    int ok = 1;
    const int rows[] = {0, 1, j->R / 2 + 1, j->R - 1};
    for (int k = 0; k < 4; k++) {
        r.ops->matmul_q(j->type, y, j->R, j->packed ? j->Wf : j->W, xq, j->T, j->C, rows[k],
                        rows[k] + 1);
        for (int t = 0; t < j->T; t++) {
            float a = j->Y[(size_t)t * j->R + rows[k]], b = y[(size_t)t * j->R + rows[k]];
            if (!(fabsf(a - b) <= 1e-3f * (1.0f + fabsf(b)))) ok = 0;
        }
    }
    free(y), free(xq);
    return ok;
}

int main(int argc, char **argv)
{
    int max_th = argc > 1 ? atoi(argv[1]) : 2;
    const char *only = argc > 2 ? argv[2] : NULL;
    const char *only_type = argc > 3 ? argv[3] : NULL;
    if (max_th < 1 || max_th > 8) max_th = 2;
    enum { RBIG = 131072, C = 768, RPRE = 2048, TPRE = 64 };
    static const uint32_t types[] = {
        GPTC_TYPE_F32,  GPTC_TYPE_Q8_0,   GPTC_TYPE_Q4_0, GPTC_TYPE_Q4_1, GPTC_TYPE_Q5_0,
        GPTC_TYPE_Q5_1, GPTC_TYPE_IQ4_NL, GPTC_TYPE_Q4_K, GPTC_TYPE_Q5_K, GPTC_TYPE_Q6_K};
    gptc_pool *pools[8] = {0};
    gptc_err err;
    for (int n = 1; n <= max_th; n++)
        if (gptc_pool_init(n, &pools[n - 1], &err)) return 1;
    double bw[8];
    for (int n = 1; n <= max_th; n++) {
        bw[n - 1] = gptc_bench_mem_bandwidth(pools[n - 1]);
        printf("memory read bandwidth, %d thread(s): %.1f GB/s\n", n, bw[n - 1] * 1e-9);
    }
    float *src = malloc((size_t)RBIG * C * sizeof(float));
    float *X = malloc((size_t)TPRE * C * sizeof(float)),
          *Y = malloc((size_t)TPRE * RBIG * sizeof(float));
    char *W = malloc((size_t)RBIG * C * sizeof(float)), *Wp = malloc((size_t)RBIG * C * 2);
    char *Xq = malloc((size_t)TPRE * C * 4);
    if (!src || !X || !Y || !W || !Wp || !Xq) return 1;
    for (size_t i = 0; i < (size_t)RBIG * C; i++)
        src[i] = rnd_f() * 0.05f;
    for (size_t i = 0; i < (size_t)TPRE * C; i++)
        X[i] = rnd_f();

    // the avx2 and avx512 tables, each on the file's rows and packed
    const gptc_ops *tables[] = {gptc_ops_avx2(), gptc_ops_avx2(), gptc_ops_avx512(),
                                gptc_ops_avx512()};
    static const char *names[] = {"avx2", "avx2p", "avx512", "avx512p"};
    printf("\n%-7s %-5s %-13s %-3s %11s %9s %9s %s\n", "isa", "type", "R x C, T", "th", "median",
           "W GB/s", "GOP/s", "% of mem bw (decode)");
    int failures = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t ty = types[ti];
        if (!in_list(only_type, gptc_type_info(ty)->name)) continue;
        size_t rb = gptc_row_bytes(ty, C);
        for (size_t r = 0; r < RBIG; r++) { // quantize (F32: copy) the weight rows
            if (ty == GPTC_TYPE_F32)
                memcpy(W + r * rb, src + r * C, rb);
            else
                gptc_type_info(ty)->from_float_ref(src + r * C, W + r * rb, C);
        }
        if (gptc_pack_type_ok(ty)) gptc_pack_groups(ty, Wp, W, C, 0, RBIG / GPTC_PACK_ROWS);
        for (size_t k = 0; k < 4; k++) {
            const gptc_ops *o = tables[k];
            int packed = k & 1;
            const char *name = names[k];
            if (!o || !in_list(only, name) || (packed && !o->pack(ty))) continue;
            for (int shape = 0; shape < 3; shape++) {
                // 0: decode from memory; 1: prefill; 2: decode of an L2-resident matrix, timed by
                // the thread's CPU time (the kernel's compute rate, whatever else the machine runs)
                int R = shape == 1 ? RPRE : shape == 2 ? 512 : RBIG, T = shape == 1 ? TPRE : 1;
                for (int th = 1; th <= (shape == 2 ? 1 : max_th); th++) {
                    job j = {o, ty, Y, packed ? Wp : W, X, Xq, T, C, R, packed, W};
                    run(pools[th - 1], &j); // warm up, then validate
                    if (ty != GPTC_TYPE_F32 && !validate(&j)) {
                        printf("%-7s %-5s VALIDATION FAILED\n", name, gptc_type_info(ty)->name);
                        failures++;
                        continue;
                    }
                    double times[101];
                    int n = 0;
                    double start = bench_now();
                    while (n < 101 && (n < 5 || bench_now() - start < 0.3)) {
                        // one thread: its CPU time (robust on a busy machine); more: wall time
                        int cpu = th == 1 && shape > 0;
                        double t0 = cpu ? cpu_now() : bench_now();
                        for (int rep = 0; rep < (shape == 2 ? 20 : 1); rep++)
                            run(pools[th - 1], &j);
                        times[n++] = ((cpu ? cpu_now() : bench_now()) - t0) / (shape == 2 ? 20 : 1);
                    }
                    double med = bench_median(times, n), wbytes = (double)R * rb;
                    printf("%-7s %-5s %6dx%-3d %2d %-3d %9.1f us %9.1f %9.1f", name,
                           gptc_type_info(ty)->name, R, C, T, th, med * 1e6, wbytes / med * 1e-9,
                           2.0 * R * C * T / med * 1e-9);
                    if (shape == 0) printf("   %5.1f%%", 100.0 * wbytes / med / bw[th - 1]);
                    if (shape == 2) printf("   (L2-resident, CPU time)");
                    printf("\n");
                    fflush(stdout);
                }
            }
        }
    }
    free(src), free(X), free(Y), free(W), free(Wp), free(Xq);
    for (int n = 0; n < 8; n++)
        gptc_pool_free(pools[n]);
    if (failures) printf("%d configurations failed validation\n", failures);
    return failures ? 1 : 0;
}
