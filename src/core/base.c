/* base.c — status messages and the assertion handler. */
#include "core/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *gptc_status_name(gptc_status s)
{
    switch (s) {
    case GPTC_OK:
        return "ok";
    case GPTC_E_IO:
        return "i/o error";
    case GPTC_E_FORMAT:
        return "bad format";
    case GPTC_E_NOMEM:
        return "out of memory";
    case GPTC_E_INVALID:
        return "invalid argument";
    case GPTC_E_UNSUPPORTED:
        return "unsupported";
    case GPTC_E_RANGE:
        return "out of range";
    case GPTC_E_KV_FULL:
        return "KV cache full";
    case GPTC_E_CANCELLED:
        return "cancelled";
    }
    return "unknown status";
}

const char *gptc_version(void)
{
    return GPTC_VERSION_STRING;
}

gptc_status gptc_fail(gptc_err *err, gptc_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = s;
    }
    return s;
}

void gptc_err_clear(gptc_err *err)
{
    if (err) {
        err->status = GPTC_OK;
        err->msg[0] = '\0';
    }
}

int gptc_str_eq(gptc_str s, const char *cstr)
{
    size_t n = strlen(cstr);
    return s.n == n && memcmp(s.p, cstr, n) == 0;
}

/* The one place the library may abort: an internal invariant is broken (a bug in gptc). */
void gptc_assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "gptc: internal error: %s:%d: assertion '%s' failed\n", file, line, expr);
    abort();
}

void *gptc_alloc_huge(size_t n)
{
    const size_t huge = (size_t)2 << 20;
    if (n == 0 || n > SIZE_MAX - huge) return NULL;
    size_t bytes = (n + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes) != 0) return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice only: 4 KiB pages still work */
    return p;
}
