/*
 * test_threads.c — the worker pool: every thread index runs exactly once per run, results are
 * visible to the caller when run returns, pools come and go cleanly, sleeping workers wake.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/threads.h"
#include "test.h"

enum { MAX_TH = 8, N_ITEMS = 1000 };

typedef struct job {
    int run;           // the run number, written by the caller between runs
    int calls[MAX_TH]; // plain ints: each slot written by one thread only
    int bad_nth;       // set by any thread that sees a wrong nth
    int expect_nth;
    long long part[MAX_TH]; // per-thread partial sums of items
    int items[N_ITEMS];     // each thread writes its split of items
    _Atomic int concurrent; // how many threads are inside fn at once
} job;

static void job_fn(void *arg, int ith, int nth)
{
    job *j = arg;
    if (nth != j->expect_nth || ith < 0 || ith >= nth) {
        j->bad_nth = 1;
        return;
    }
    atomic_fetch_add(&j->concurrent, 1);
    j->calls[ith]++;
    int r0, r1;
    gptc_split(N_ITEMS, ith, nth, &r0, &r1);
    long long s = 0;
    for (int i = r0; i < r1; i++) {
        j->items[i] = i * 3 + j->run;
        s += j->items[i];
    }
    j->part[ith] = s;
    atomic_fetch_sub(&j->concurrent, 1);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_runs(int nth, int runs)
{
    gptc_pool *pool = NULL;
    gptc_err err;
    CHECK(gptc_pool_init(nth, &pool, &err) == GPTC_OK && pool, "init %d threads: %s", nth, err.msg);
    if (!pool) return;
    CHECK(gptc_pool_size(pool) == nth, "pool size %d", nth);

    static job j;
    memset(&j, 0, sizeof j);
    j.expect_nth = nth;
    int bad_calls = 0, bad_sum = 0, bad_items = 0;
    for (int run = 0; run < runs; run++) {
        j.run = run;
        int before[MAX_TH];
        memcpy(before, j.calls, sizeof before);
        gptc_pool_run(pool, job_fn, &j);
        for (int i = 0; i < nth; i++)
            bad_calls += j.calls[i] != before[i] + 1;
        long long s = 0, want = 0;
        for (int i = 0; i < nth; i++)
            s += j.part[i];
        for (int i = 0; i < N_ITEMS; i++)
            want += i * 3 + run;
        bad_sum += s != want;
        bad_items += j.items[run % N_ITEMS] != (run % N_ITEMS) * 3 + run;
        if (run == runs / 2) sleep_ms(5); // let workers fall asleep once, then wake them
    }
    CHECK(!j.bad_nth, "%d threads: every call sees nth = %d, ith in range", nth, nth);
    CHECK(bad_calls == 0, "%d threads: each ith called exactly once per run (%d bad)", nth,
          bad_calls);
    CHECK(bad_sum == 0, "%d threads: partial sums complete when run returns (%d bad)", nth,
          bad_sum);
    CHECK(bad_items == 0, "%d threads: item writes visible (%d bad)", nth, bad_items);
    CHECK(atomic_load(&j.concurrent) == 0, "%d threads: nobody left inside fn", nth);
    gptc_pool_free(pool);
}

// Runs separated by sleeps long enough that every worker goes to sleep in between.
static void test_sleep_wake(int nth)
{
    gptc_pool *pool = NULL;
    gptc_err err;
    if (gptc_pool_init(nth, &pool, &err) != GPTC_OK) {
        CHECK(0, "init: %s", err.msg);
        return;
    }
    static job j;
    memset(&j, 0, sizeof j);
    j.expect_nth = nth;
    for (int run = 0; run < 5; run++) {
        sleep_ms(3);
        gptc_pool_run(pool, job_fn, &j);
    }
    int ok = 1;
    for (int i = 0; i < nth; i++)
        ok &= j.calls[i] == 5;
    CHECK(ok && !j.bad_nth, "%d threads: sleeping workers wake for each run", nth);
    gptc_pool_free(pool);
}

int main(void)
{
    CHECK(gptc_n_cores() >= 1, "gptc_n_cores >= 1 (%d)", gptc_n_cores());
    for (int nth = 1; nth <= 4; nth++)
        test_runs(nth, 10000);
    for (int nth = 2; nth <= 4; nth++)
        test_sleep_wake(nth);

    // create/free repeatedly, with and without runs (a free right after init must not hang
    // on workers that have not started yet)
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        gptc_pool *pool = NULL;
        gptc_err err;
        int nth = 1 + i % 4;
        if (gptc_pool_init(nth, &pool, &err) != GPTC_OK) {
            ok = 0;
            break;
        }
        if (i % 2) {
            static job j;
            memset(&j, 0, sizeof j);
            j.expect_nth = nth;
            gptc_pool_run(pool, job_fn, &j);
            for (int k = 0; k < nth; k++)
                ok &= j.calls[k] == 1;
        }
        gptc_pool_free(pool);
    }
    CHECK(ok, "200 pools created, run and freed");

    gptc_pool *pool = NULL;
    gptc_err err;
    CHECK(gptc_pool_init(0, &pool, &err) == GPTC_OK && gptc_pool_size(pool) == gptc_n_cores(),
          "n_threads = 0 means one per core");
    gptc_pool_free(pool);
    CHECK(gptc_pool_init(100000, &pool, &err) == GPTC_E_INVALID && pool == NULL,
          "absurd thread count refused: %s", err.msg);
    gptc_pool_free(NULL);
    return test_summary();
}
