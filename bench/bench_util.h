/*
 * bench_util.h — helpers shared by the benchmarks: a clock, a median, and the machine's
 * memory read bandwidth (core/membw.h) (the limit a decode step's matrix-vector products run
 * against). Header-only (static functions) so each benchmark stays one .c file.
 */
#ifndef GPTC_BENCH_UTIL_H
#define GPTC_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/membw.h"
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

/* Memory read bandwidth in bytes/s with the pool's thread count: core/membw.h's probe (the way
 * decode reads: 1 GiB of 4 KiB pages, a load loop and the f32 / q8_0 / q4_K matvec kernels, best
 * pass of the best reader of 5 passes each), the probe `gptc bench` uses. 0 if it cannot run. */
static inline double gptc_bench_mem_bandwidth(gptc_pool *pool)
{
    gptc_membw m;
    gptc_err err;
    return gptc_membw_measure(gptc_pool_size(pool), 5, 0, &m, &err) ? 0 : m.best;
}

#endif
