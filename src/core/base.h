/*
 * base.h — what every module of libgptc shares: status helpers, checked size arithmetic,
 * and the assertion for our own bugs.
 */
#ifndef GPTC_BASE_H
#define GPTC_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

/* Fill err (may be NULL) with status s and a printf-style message; returns s. */
gptc_status gptc_fail(gptc_err *err, gptc_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reset err to GPTC_OK with an empty message. */
void gptc_err_clear(gptc_err *err);

/* Checked arithmetic: return 1 on overflow (and leave *r unspecified), 0 otherwise. */
static inline int gptc_mul_ovf(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}
static inline int gptc_add_ovf(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_add_overflow(a, b, r);
}

/* A (pointer, length) string that need not be NUL-terminated (GGUF strings are not). */
typedef struct gptc_str {
    const char *p;
    uint64_t n;
} gptc_str;

int gptc_str_eq(gptc_str s, const char *cstr);

/* For our own bugs only, never for bad input: those return a gptc_status. */
#define GPTC_ASSERT(x)                                                                             \
    do {                                                                                           \
        if (!(x)) gptc_assert_fail(__FILE__, __LINE__, #x);                                        \
    } while (0)
void gptc_assert_fail(const char *file, int line, const char *expr) __attribute__((noreturn));

#define GPTC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GPTC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* p (a pointer to const) as the pointer type T, for a C API that takes a non-const pointer it does
 * not write through: jansson's iterators and json_incref, MHD's response buffers, free() and
 * munmap() of memory we own behind a const view, strtol's end pointer. The one place const is
 * cast away, so -Wcast-qual checks every other cast. */
#define GPTC_UNCONST(T, p) ((T)(uintptr_t)(p))

/* n bytes 2 MiB-aligned (rounded up to whole 2 MiB) and advised into transparent huge pages
 * (advice only), for big buffers read in long streams (the KV cache, packed weights); NULL when
 * out of memory or n is 0. Free with free(). */
void *gptc_alloc_huge(size_t n);

#endif
