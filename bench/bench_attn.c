/*
 * bench_attn.c — the attention kernels (ops.h: kv_dot, kv_acc) of every ops table this CPU
 * runs, one thread, over a KV cache of n rows at decode depth (n = 4096 and 16384) for the head
 * shapes of the models people run: (hd 64, 4 query heads per KV head: Llama-3.2-1B),
 * (hd 128, 8 per KV head: Qwen3), (hd 64, 1: a model without grouped queries); f16 (the
 * default cache), q8_0 and f32 rows.
 *
 * One step = the scores of the group's heads against every row, then the weighted sum of the
 * value rows (the softmax between them is not timed). Next to it, "per row" times the way the
 * forward pass worked before these kernels: each row converted to f32 on its own (the type's
 * to_float) and fed to dot_f32 / axpy_f32, one head at a time. Reports the median of 9 steps
 * (thread CPU time, so a busy machine inflates it less than wall time) and the cache bytes read per
 * second: K and V rows once per step. Not a test: run by `make bench`.
 *
 *   bench_attn [isa]     (default: every table)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "core/fp16.h"
#include "core/ops.h"
#include "quant/quant.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static float rnd_f(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)(rng >> 40) / (float)(1 << 24) - 0.5f;
}

static const char *kvt_name[] = {"f32", "f16", "q8_0"};

/* What the forward pass did before: one row at a time converted to f32 (tmp), one head at a
 * time. */
static void per_row(const gptc_ops *o, int kvt, float *s, float *y, const float *q, int nq,
                    const char *k, const char *v, size_t stride, const int32_t *idx, int n, int hd,
                    float *tmp)
{
    uint32_t type = kvt == GPTC_KV_F32   ? GPTC_TYPE_F32
                    : kvt == GPTC_KV_F16 ? GPTC_TYPE_F16
                                         : GPTC_TYPE_Q8_0;
    for (int i = 0; i < nq; i++) {
        for (int j = 0; j < n; j++) {
            const char *row = k + (size_t)idx[j] * stride;
            const float *kr = (const float *)row;
            if (kvt != GPTC_KV_F32) gptc_type_info(type)->to_float(row, tmp, hd), kr = tmp;
            s[(size_t)i * n + j] = o->dot_f32(q + (size_t)i * hd, kr, hd);
        }
        for (int j = 0; j < n; j++) {
            const char *row = v + (size_t)idx[j] * stride;
            const float *vr = (const float *)row;
            if (kvt != GPTC_KV_F32) gptc_type_info(type)->to_float(row, tmp, hd), vr = tmp;
            o->axpy_f32(y + (size_t)i * hd, s[(size_t)i * n + j], vr, hd);
        }
    }
}

static void run(const gptc_ops *o, int kvt, int n, int hd, int nq)
{
    uint32_t type = kvt == GPTC_KV_F32   ? GPTC_TYPE_F32
                    : kvt == GPTC_KV_F16 ? GPTC_TYPE_F16
                                         : GPTC_TYPE_Q8_0;
    size_t stride = gptc_row_bytes(type, hd);
    char *k = malloc((size_t)n * stride), *v = malloc((size_t)n * stride);
    float *row = malloc((size_t)hd * sizeof(float)), *q = malloc((size_t)nq * hd * sizeof(float));
    float *s = malloc((size_t)nq * n * sizeof(float)), *y = malloc((size_t)nq * hd * sizeof(float));
    int32_t *idx = malloc((size_t)n * sizeof(int32_t));
    if (!k || !v || !row || !q || !s || !y || !idx) {
        fprintf(stderr, "bench_attn: out of memory\n");
        exit(1);
    }
    for (int j = 0; j < n; j++) {
        idx[j] = j;
        for (int w = 0; w < 2; w++) {
            for (int d = 0; d < hd; d++)
                row[d] = rnd_f();
            char *dst = (w ? v : k) + (size_t)j * stride;
            if (kvt == GPTC_KV_F32)
                memcpy(dst, row, (size_t)hd * sizeof(float));
            else
                gptc_type_info(type)->from_float_ref(row, dst, hd);
        }
    }
    for (int i = 0; i < nq * hd; i++)
        q[i] = rnd_f();
    double t_new[9], t_old[9];
    for (int r = 0; r < 9; r++) {
        memset(y, 0, (size_t)nq * hd * sizeof(float));
        double t0 = cpu_now();
        o->kv_dot(kvt, s, (size_t)n, q, nq, k, stride, 0, idx, n, hd);
        for (int i = 0; i < nq * n; i++)
            s[i] = 1.0f / (float)n;
        o->kv_acc(kvt, y, s, (size_t)n, nq, v, stride, 0, idx, n, hd);
        t_new[r] = cpu_now() - t0;
        memset(y, 0, (size_t)nq * hd * sizeof(float));
        t0 = cpu_now();
        per_row(o, kvt, s, y, q, nq, k, v, stride, idx, n, hd, row);
        t_old[r] = cpu_now() - t0;
    }
    double tn = bench_median(t_new, 9), to = bench_median(t_old, 9);
    double bytes = 2.0 * (double)n * (double)stride;
    printf("| %-6s | %-4s | %5d | %3d | %2d | %8.1f | %6.2f | %8.1f | %5.1fx |\n", o->name,
           kvt_name[kvt], n, hd, nq, tn * 1e6, bytes / tn / 1e9, to * 1e6, to / tn);
    free(k), free(v), free(row), free(q), free(s), free(y), free(idx);
}

int main(int argc, char **argv)
{
    const gptc_ops *tables[] = {gptc_ops_ref(), gptc_ops_avx2(), gptc_ops_avx512()};
    static const int shapes[][2] = {{64, 4}, {128, 8}, {64, 1}};
    printf("attention kernels, one thread: one decode step of a group of query heads over n "
           "cache rows\n\n");
    printf("| table | kv | n | hd | heads | us/step | cache GB/s | per row us | speed-up |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int ti = 0; ti < 3; ti++) {
        const gptc_ops *o = tables[ti];
        if (!o || (argc > 1 && strcmp(argv[1], o->name) != 0)) continue;
        for (int kvt = 0; kvt < 3; kvt++)
            for (int n = 4096; n <= 16384; n *= 4)
                for (int sh = 0; sh < 3; sh++) {
                    if (ti == 0 && n > 4096) continue; /* the reference is slow */
                    run(o, (int[]){GPTC_KV_F16, GPTC_KV_Q8_0, GPTC_KV_F32}[kvt], n, shapes[sh][0],
                        shapes[sh][1]);
                }
    }
    return 0;
}
