/*
 * bench_util.h — helpers shared by the benchmarks: a clock, a median, and the machine's
 * memory read bandwidth (the limit a decode step's matrix-vector products run against).
 * Header-only (static functions) so each benchmark stays one .c file.
 */
#ifndef GPTC_BENCH_UTIL_H
#define GPTC_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ops.h"
#include "core/threads.h"

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts v in place). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct bench_bw_job {
    const float *buf; // (n), borrowed
    size_t n;
    const gptc_ops *ops;
    float part[1024]; // one partial sum per thread, so the reads cannot be optimised away
} bench_bw_job;

static inline void bench_bw_task(void *arg, int ith, int nth)
{
    bench_bw_job *j = arg;
    size_t per = (j->n + (size_t)nth - 1) / (size_t)nth;
    size_t a = per * (size_t)ith, b = a + per < j->n ? a + per : j->n;
    float s = 0;
    // dot(x, x) of chunks that fit int: each element comes from memory once (the second
    // operand hits L1); it is the fastest read loop the dispatched ISA has.
    for (size_t i = a; i < b; i += (size_t)1 << 20) {
        size_t m = b - i < ((size_t)1 << 20) ? b - i : ((size_t)1 << 20);
        s += j->ops->dot_f32(j->buf + i, j->buf + i, (int)m);
    }
    j->part[ith] = s;
}

/* Memory read bandwidth in bytes/s: all threads of pool summing a 1 GiB buffer, the best of
 * 5 passes. 0 if the buffer cannot be allocated. */
static inline double gptc_bench_mem_bandwidth(gptc_pool *pool)
{
    const size_t bytes = (size_t)1 << 30;
    static bench_bw_job job; // too big for some stacks; benchmarks are single-threaded callers
    job.n = bytes / sizeof(float);
    float *buf = malloc(bytes);
    if (!buf) return 0;
    for (size_t i = 0; i < job.n; i++) buf[i] = (float)(i & 7) * 0.125f; // fault every page in
    job.buf = buf;
    job.ops = gptc_ops_get();
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = bench_now();
        gptc_pool_run(pool, bench_bw_task, &job);
        double dt = bench_now() - t0;
        if (dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
    }
    free(buf);
    return best;
}

#endif
