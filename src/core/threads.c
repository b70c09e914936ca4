/*
 * threads.c — the persistent worker pool of threads.h.
 *
 * A run is published by bumping a generation counter. Workers spin on it for SPIN_NS after
 * their last job (a decode step issues dozens of short jobs back to back, and waking a sleeping
 * thread costs tens of microseconds), then sleep on a condition variable. The caller runs its
 * own share as thread 0 and then waits for the count of unfinished workers to reach zero.
 *
 * Memory order:
 *   - job.fn / job.arg / pending are written by the caller before the release-increment of gen;
 *     a worker reads them after an acquire load of gen that returns the new value.
 *   - a worker's writes (the job's results) happen before its acq_rel decrement of pending; the
 *     caller's acquire load that sees pending == 0 therefore sees all of them, and also knows no
 *     worker will read job.fn / job.arg again before the next generation.
 *   - sleeping: a worker increments n_sleeping and re-checks gen under the mutex; the caller
 *     increments gen and then reads n_sleeping. Both pairs are seq_cst (a Dekker handshake),
 *     so either the worker sees the new gen or the caller sees the sleeper and broadcasts.
 */
#include "core/threads.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX_THREADS 1024
#define SPIN_NS 100000     // how long an idle worker spins before it sleeps (100 us)
#define WAIT_SPIN_NS 50000 // how long the caller spins for workers before it yields

typedef struct worker {
    struct gptc_pool *pool;
    pthread_t thread;
    int ith;
} worker;

struct gptc_pool {
    int nth;
    int spin;        // 0 when there are more threads than cores: spinning would steal the
                     // core of the thread being waited for
    worker *workers; // (nth - 1), owned; thread 0 is the caller

    gptc_task_fn fn; // the current job, valid while pending > 0
    void *arg;

    _Atomic unsigned gen; // bumped once per run (and once by free, with stop set)
    _Atomic int pending;  // workers that have not finished the current run
    _Atomic int stop;     // set by gptc_pool_free before its final gen bump
    _Atomic int n_sleeping;

    pthread_mutex_t mu; // guards the sleep/wake handshake only
    pthread_cond_t cv;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Wait until gen differs from seen; returns the new gen.
static unsigned wait_new_gen(gptc_pool *p, unsigned seen)
{
    unsigned g;
    uint64_t t0 = 0;
    for (unsigned i = 0; p->spin || i < 64; i++) {
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
        if ((i & 63) == 63 && p->spin) { // read the clock rarely; vDSO, but not free
            uint64_t t = now_ns();
            if (t0 == 0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                break;
        }
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->n_sleeping, 1); // seq_cst: see the header comment
    while ((g = atomic_load(&p->gen)) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *varg)
{
    worker *w = varg;
    gptc_pool *p = w->pool;
    unsigned seen = 0; // gen starts at 0 and the pool is published to us by pthread_create
    for (;;) {
        seen = wait_new_gen(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
        p->fn(p->arg, w->ith, p->nth);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

// Bump gen and wake sleepers (used by run and free).
static void publish(gptc_pool *p)
{
    atomic_fetch_add(&p->gen, 1); // seq_cst, and a release of fn/arg/pending/stop
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

int gptc_n_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)GPTC_MIN(n, POOL_MAX_THREADS) : 1;
}

static void stop_workers(gptc_pool *p, int n_started)
{
    atomic_store_explicit(&p->stop, 1, memory_order_relaxed);
    publish(p);
    for (int i = 0; i < n_started; i++)
        pthread_join(p->workers[i].thread, NULL);
}

gptc_status gptc_pool_init(int n_threads, gptc_pool **out, gptc_err *err)
{
    gptc_err_clear(err);
    if (!out) return gptc_fail(err, GPTC_E_INVALID, "gptc_pool_init: out is NULL");
    *out = NULL;
    if (n_threads <= 0) n_threads = gptc_n_cores();
    if (n_threads > POOL_MAX_THREADS)
        return gptc_fail(err, GPTC_E_INVALID, "gptc_pool_init: %d threads (at most %d)", n_threads,
                         POOL_MAX_THREADS);

    gptc_pool *p = calloc(1, sizeof *p);
    if (!p) return gptc_fail(err, GPTC_E_NOMEM, "gptc_pool_init: out of memory");
    p->nth = n_threads;
    p->spin = n_threads <= gptc_n_cores();
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->n_sleeping, 0);
    if (n_threads == 1) { // no workers, no synchronisation objects needed
        *out = p;
        return GPTC_OK;
    }
    p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return gptc_fail(err, GPTC_E_NOMEM, "gptc_pool_init: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < n_threads - 1; i++) {
        p->workers[i].pool = p;
        p->workers[i].ith = i + 1;
        int rc = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
        if (rc != 0) {
            stop_workers(p, i);
            pthread_cond_destroy(&p->cv);
            pthread_mutex_destroy(&p->mu);
            free(p->workers);
            free(p);
            return gptc_fail(err, GPTC_E_NOMEM, "gptc_pool_init: pthread_create: %s", strerror(rc));
        }
    }
    *out = p;
    return GPTC_OK;
}

void gptc_pool_free(gptc_pool *pool)
{
    if (!pool) return;
    if (pool->nth > 1) {
        stop_workers(pool, pool->nth - 1);
        pthread_cond_destroy(&pool->cv);
        pthread_mutex_destroy(&pool->mu);
    }
    free(pool->workers);
    free(pool);
}

int gptc_pool_size(const gptc_pool *pool)
{
    return pool->nth;
}

void gptc_pool_run(gptc_pool *pool, gptc_task_fn fn, void *arg)
{
    if (pool->nth == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->nth - 1, memory_order_relaxed);
    publish(pool);

    fn(arg, 0, pool->nth);

    // Workers are usually done or about to be. After WAIT_SPIN_NS assume one was descheduled
    // (more threads than cores, or a busy machine) and yield, so we do not starve it.
    uint64_t t0 = 0;
    for (unsigned i = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) > 0; i++) {
        if (!pool->spin || t0 == UINT64_MAX) {
            sched_yield();
            continue;
        }
        cpu_relax();
        if ((i & 63) == 63) {
            uint64_t t = now_ns();
            if (t0 == 0)
                t0 = t;
            else if (t - t0 > WAIT_SPIN_NS)
                t0 = UINT64_MAX;
        }
    }
}
