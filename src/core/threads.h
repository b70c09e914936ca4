/*
 * threads.h — a persistent pool of worker threads for the forward pass.
 *
 * gptc_pool_run(pool, fn, arg) calls fn(arg, ith, nth) once on each of nth threads (the caller
 * is thread 0) and returns when all have returned. Workers spin briefly between jobs and then
 * sleep, so a decode step costs little to start and idle threads cost no CPU.
 */
#ifndef GPTC_THREADS_H
#define GPTC_THREADS_H

#include "core/base.h"

typedef struct gptc_pool gptc_pool;
typedef void (*gptc_task_fn)(void *arg, int ith, int nth);

/* n_threads <= 0: the number of online cores. OUT: owned, free with gptc_pool_free. */
gptc_status gptc_pool_init(int n_threads, gptc_pool **out, gptc_err *err);
void gptc_pool_free(gptc_pool *pool);
int gptc_pool_size(const gptc_pool *pool);
/* Not reentrant: one run at a time per pool, from one thread. */
void gptc_pool_run(gptc_pool *pool, gptc_task_fn fn, void *arg);

/* [*r0, *r1) of n items for thread ith of nth, in contiguous chunks. */
static inline void gptc_split(int n, int ith, int nth, int *r0, int *r1)
{
    int per = (n + nth - 1) / nth;
    *r0 = GPTC_MIN(n, per * ith);
    *r1 = GPTC_MIN(n, *r0 + per);
}

int gptc_n_cores(void);

#endif
