/* stop.h — stop strings over text that grows a piece at a time: `gptc chat`'s replies and the
 * server's completions. Text that could still become a stop string is held back until the next
 * piece shows whether it is one. */
#ifndef GPTC_SAMPLE_STOP_H
#define GPTC_SAMPLE_STOP_H

#include <stddef.h>

/* Scan text[0..len) for the n stop strings s[i] of s_len[i] bytes each (s_len[i] >= 1; a stop
 * string may hold any byte). text[0..old_len) was scanned before and held no stop string.
 * Returns the index of the stop string that begins earliest (the first listed on a tie), with
 * *at its offset (the text ends there); or -1 when none occurs, with *safe the length of the
 * prefix no stop string can claim however the text grows (len minus the longest tail that
 * begins a stop string). With n == 0: -1 and *safe = len. */
int gptc_stop_scan(const char *text, size_t len, size_t old_len, int n, const char *const *s,
                   const size_t *s_len, size_t *at, size_t *safe);

#endif
