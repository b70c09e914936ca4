/*
 * test.h — the whole test framework: CHECK counts, the summary line prints last.
 *
 *   int main(void) { CHECK(1 + 1 == 2, "arithmetic"); return test_summary(); }
 *
 * The last line a test prints is "N passed, N failed"; the exit code is nonzero on failure.
 */
#ifndef GPTC_TEST_H
#define GPTC_TEST_H

#include <stdio.h>
#include <stdlib.h>

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

static inline int test_summary(void)
{
    fflush(stderr);
    printf("%d passed, %d failed\n", test_passed_, test_failed_);
    return test_failed_ ? 1 : 0;
}

#endif
