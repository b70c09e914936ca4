/* test_core.c — small helpers of src/core: FNV-1a (hash.h) against the published test values,
 * whole and streamed; bounded condition-variable waits (deadline.h). */
#include <errno.h>
#include <string.h>

#include "core/deadline.h"
#include "core/hash.h"
#include "test.h"

static void test_fnv(void)
{
    /* FNV-1a test values from the FNV reference (draft-eastlake-fnv) */
    static const struct {
        const char *s;
        uint32_t h32;
        uint64_t h64;
    } v[] = {{"", 0x811c9dc5u, 0xcbf29ce484222325ull},
             {"a", 0xe40c292cu, 0xaf63dc4c8601ec8cull},
             {"foobar", 0xbf9cf968u, 0x85944171f73967e8ull}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].s);
        CHECK(gptc_fnv1a32(GPTC_FNV32_INIT, v[i].s, n) == v[i].h32, "fnv1a32('%s')", v[i].s);
        CHECK(gptc_fnv1a64(GPTC_FNV64_INIT, v[i].s, n) == v[i].h64, "fnv1a64('%s')", v[i].s);
    }
    /* streaming: "foo" then "bar" is "foobar" */
    CHECK(gptc_fnv1a64(gptc_fnv1a64(GPTC_FNV64_INIT, "foo", 3), "bar", 3) == 0x85944171f73967e8ull,
          "fnv1a64 streamed");
    CHECK(gptc_fnv1a32(gptc_fnv1a32(GPTC_FNV32_INIT, "foo", 3), "bar", 3) == 0xbf9cf968u,
          "fnv1a32 streamed");
}

static int ts_le(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
}

static void test_deadline(void)
{
    static const long ms[] = {0, 1, 20, 999, 1000, 1500, 86400000L};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        struct timespec before;
        clock_gettime(CLOCK_REALTIME, &before);
        struct timespec d = gptc_deadline_ms(ms[i]);
        /* before + ms, computed here the long way */
        long long want_ns = (long long)before.tv_nsec + (long long)ms[i] * 1000000LL;
        struct timespec want = {before.tv_sec + (time_t)(want_ns / 1000000000LL),
                                (long)(want_ns % 1000000000LL)};
        CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L, "deadline %ld ms: tv_nsec %ld", ms[i],
              (long)d.tv_nsec);
        CHECK(ts_le(want, d), "deadline %ld ms is not before now + %ld ms", ms[i], ms[i]);
    }
    /* nobody signals: the wait ends with ETIMEDOUT (a spurious wakeup returns 0: wait again) */
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&mu);
    int rc = 0;
    for (int tries = 0; tries < 100 && rc == 0; tries++)
        rc = gptc_cond_wait_ms(&cv, &mu, 1);
    pthread_mutex_unlock(&mu);
    CHECK(rc == ETIMEDOUT, "an unsignalled wait times out: %d", rc);
}

int main(void)
{
    test_fnv();
    test_deadline();
    return test_summary();
}
