/*
 * unicode.c — lookups in the generated tables of unicode_data.c (binary searches) and the
 * algorithmic Hangul decomposition (Unicode 3.12), which the tables leave out.
 */
#include "tokenizer/unicode.h"

#include <stddef.h>

/* index of the last entry of a (sorted, n > 0) that is <= cp, or -1 */
static int last_le(const uint32_t *a, int n, uint32_t cp)
{
    int lo = 0, hi = n - 1, r = -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (a[mid] <= cp) {
            r = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return r;
}

unsigned gptc_ucd_flags(uint32_t cp)
{
    if (cp > 0x10FFFF) return 0;
    int i = last_le(gptc_ucd_run_start, gptc_ucd_n_runs, cp);
    return i < 0 ? 0 : gptc_ucd_run_flags[i];
}

uint32_t gptc_ucd_lower(uint32_t cp)
{
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    int i = last_le(gptc_ucd_lower_from, gptc_ucd_n_lower, cp);
    return i >= 0 && gptc_ucd_lower_from[i] == cp ? gptc_ucd_lower_to[i] : cp;
}

int gptc_ucd_nfd(uint32_t cp, uint32_t out[4])
{
    enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, TCOUNT = 28 };
    enum { NCOUNT = 21 * TCOUNT, SCOUNT = 19 * NCOUNT };
    if (cp >= SBASE && cp < SBASE + SCOUNT) {
        uint32_t s = cp - SBASE, t = s % TCOUNT;
        out[0] = LBASE + s / NCOUNT;
        out[1] = VBASE + s % NCOUNT / TCOUNT;
        if (!t) return 2;
        out[2] = TBASE + t;
        return 3;
    }
    if (cp >= 0xC0) {
        int i = last_le(gptc_ucd_nfd_from, gptc_ucd_n_nfd, cp);
        if (i >= 0 && gptc_ucd_nfd_from[i] == cp) {
            int at = gptc_ucd_nfd_at[i] >> 3, n = gptc_ucd_nfd_at[i] & 7;
            if (n > 4) n = 4; /* no canonical decomposition is longer (checked by the test) */
            for (int k = 0; k < n; k++)
                out[k] = gptc_ucd_nfd_pool[at + k];
            return n;
        }
    }
    out[0] = cp;
    return 1;
}

int gptc_ucd_is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}
