/* stop.c — the stop-string scanner (see stop.h). */
#include "sample/stop.h"

#include <stdint.h>
#include <string.h>

int gptc_stop_scan(const char *text, size_t len, size_t old_len, int n, const char *const *s,
                   const size_t *s_len, size_t *at, size_t *safe)
{
    size_t max_len = 0;
    for (int i = 0; i < n; i++)
        if (s_len[i] > max_len) max_len = s_len[i];
    /* a match not found before ends past old_len, so it begins at old_len - max_len + 1 or later */
    size_t from = old_len >= max_len ? old_len - max_len + 1 : 0;
    if (from > len) from = len;
    size_t hit = SIZE_MAX;
    int which = -1;
    for (int i = 0; i < n; i++) {
        if (!s_len[i] || s_len[i] > len - from) continue;
        const char *p = memmem(text + from, len - from, s[i], s_len[i]);
        if (p && (size_t)(p - text) < hit) {
            hit = (size_t)(p - text);
            which = i;
        }
    }
    if (which >= 0) {
        *at = hit;
        return which;
    }
    size_t held = 0; /* the longest tail of the text that is a proper prefix of a stop string */
    for (int i = 0; i < n; i++) {
        size_t k = s_len[i] ? s_len[i] - 1 : 0;
        if (k > len) k = len;
        for (; k > held; k--)
            if (memcmp(text + len - k, s[i], k) == 0) {
                held = k;
                break;
            }
    }
    *safe = len - held;
    return -1;
}
