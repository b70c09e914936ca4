/*
 * test.h — the whole test framework: CHECK counts, the summary line prints last.
 *
 *   int main(void) { CHECK(1 + 1 == 2, "arithmetic"); return test_summary(); }
 *
 * The last line a test prints is "N passed, N failed"; the exit code is nonzero on failure.
 */
#ifndef GPTC_TEST_H
#define GPTC_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed_, test_failed_;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_passed_++;                                                                        \
        } else {                                                                                   \
            test_failed_++;                                                                        \
            fprintf(stdout, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stdout, __VA_ARGS__);                                                          \
            fputc('\n', stdout);                                                                   \
        }                                                                                          \
    } while (0)

/* Directory of the shared reference data: env GPTC_DATA or ../shared/data. */
static inline const char *test_data_dir(void)
{
    const char *d = getenv("GPTC_DATA");
    return d && *d ? d : "../shared/data";
}

/* The whole file at path, NUL-terminated (malloc'd; *n its length, may be NULL), or NULL. */
static inline char *test_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    if (n) *n = buf ? len : 0;
    return buf;
}

/* The same for a file of the shared reference data (test_data_dir()/name). */
static inline char *test_read_data(const char *name, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_data_dir(), name);
    return test_read_file(path, n);
}

/* Run this test program (self: argv[0]) again with GPTC_ISA=isa (the ops table is chosen once
 * per process) and add the counts of its "N passed, N failed" line to ours; its other output is
 * passed through. */
static inline void test_run_isa_child(const char *self, const char *isa)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "GPTC_ISA=%s '%s' 2>&1", isa, self);
    FILE *f = popen(cmd, "r");
    if (!f) {
        CHECK(0, "run %s with GPTC_ISA=%s", self, isa);
        return;
    }
    char line[1024];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        int np, nf;
        if (sscanf(line, "%d passed, %d failed", &np, &nf) == 2) {
            test_passed_ += np, test_failed_ += nf, got = 1;
            continue;
        }
        fputs(line, stdout);
    }
    int rc = pclose(f);
    /* a child that failed checks exits 1: those failures are counted already */
    CHECK(got && (rc == 0 || test_failed_), "the GPTC_ISA=%s run finished (rc %d)", isa, rc);
}

static inline int test_summary(void)
{
    fflush(stderr);
    printf("%d passed, %d failed\n", test_passed_, test_failed_);
    return test_failed_ ? 1 : 0;
}

/* The tests' random numbers: a fixed-seed xorshift64, so every run sees the same cases (a failure
 * reproduces). test_rng_seed starts a sequence over (seed != 0). */
static uint64_t test_rng_state_ = 0x9e3779b97f4a7c15ull;
static inline void test_rng_seed(uint64_t seed)
{
    test_rng_state_ = seed ? seed : 0x9e3779b97f4a7c15ull;
}
static inline uint32_t test_rnd_u32(void)
{
    uint64_t x = test_rng_state_;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    test_rng_state_ = x;
    return (uint32_t)(x >> 32);
}
/* uniform in [0, n); 0 when n <= 0 */
static inline int test_rnd_int(int n)
{
    return n > 0 ? (int)(test_rnd_u32() % (uint32_t)n) : 0;
}
/* uniform in [0, 1) */
static inline float test_rnd_unit(void)
{
    return (float)(test_rnd_u32() >> 8) / 16777216.0f;
}
/* uniform in [-1, 1) */
static inline float test_rnd_f(void)
{
    return (float)test_rnd_u32() / 4294967296.0f * 2.0f - 1.0f;
}

#endif
