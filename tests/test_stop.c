/* test_stop.c — the stop-string scanner (src/sample/stop.c) that `gptc chat` and the server
 * share, against a brute-force reference over random texts grown in random pieces. */
#include "sample/stop.h"
#include "test.h"

/* The reference, over the whole text each time: the earliest-beginning occurrence of any stop
 * string (first listed on a tie), else the longest tail that is a proper prefix of one. */
static int ref_scan(const char *t, size_t len, int n, char s[][8], const size_t *sl, size_t *at,
                    size_t *safe)
{
    for (size_t p = 0; p < len; p++)
        for (int i = 0; i < n; i++)
            if (p + sl[i] <= len && memcmp(t + p, s[i], sl[i]) == 0) {
                *at = p;
                return i;
            }
    size_t held = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 1; k < sl[i] && k <= len; k++)
            if (memcmp(t + len - k, s[i], k) == 0 && k > held) held = k;
    *safe = len - held;
    return -1;
}

int main(void)
{
    /* fixed cases */
    const char *s1[] = {"</s>", "<|im_end|>"};
    size_t l1[] = {4, 10}, at = 0, safe = 0;
    CHECK(gptc_stop_scan("hello </", 8, 0, 2, s1, l1, &at, &safe) == -1 && safe == 6,
          "a tail '</' is held back (safe %zu)", safe);
    CHECK(gptc_stop_scan("hello </s> more", 15, 8, 2, s1, l1, &at, &safe) == 0 && at == 6,
          "'</s>' completing across pieces is found at 6 (at %zu)", at);
    CHECK(gptc_stop_scan("ab<|im_end|>x</s>", 17, 0, 2, s1, l1, &at, &safe) == 1 && at == 2,
          "the earliest-beginning stop wins, not the first listed");
    CHECK(gptc_stop_scan("abc", 3, 0, 0, s1, l1, &at, &safe) == -1 && safe == 3,
          "no stop strings: everything is safe");
    const char *s2[] = {"a\0b"};
    size_t l2[] = {3};
    CHECK(gptc_stop_scan("xa\0by", 5, 0, 1, s2, l2, &at, &safe) == 0 && at == 1,
          "a stop string holding a NUL byte");

    /* random texts over a 3-letter alphabet, grown in pieces of 1-4 bytes */
    int mism = 0;
    for (int round = 0; round < 3000; round++) {
        char stops[4][8];
        size_t sl[4];
        const char *sp[4];
        int n = test_rnd_int(5);
        for (int i = 0; i < n; i++) {
            sl[i] = 1 + (size_t)test_rnd_int(4);
            for (size_t k = 0; k < sl[i]; k++)
                stops[i][k] = (char)('a' + test_rnd_int(3));
            sp[i] = stops[i];
        }
        char text[64];
        size_t len = 0, old = 0, safe_prev = 0;
        while (len < 48) {
            size_t piece = 1 + (size_t)test_rnd_int(4);
            for (size_t k = 0; k < piece; k++)
                text[len++] = (char)('a' + test_rnd_int(3));
            size_t a1 = 0, f1 = 0, a2 = 0, f2 = 0;
            int r1 = gptc_stop_scan(text, len, old, n, sp, sl, &a1, &f1);
            int r2 = ref_scan(text, len, n, stops, sl, &a2, &f2);
            if (r1 != r2 || (r1 >= 0 && a1 != a2) || (r1 < 0 && f1 != f2)) {
                if (mism++ < 5)
                    printf("round %d len %zu: got %d at %zu safe %zu, want %d at %zu safe %zu\n",
                           round, len, r1, a1, f1, r2, a2, f2);
            }
            if (r1 >= 0) break;
            if (f1 < safe_prev) mism++; /* what was shown can never be taken back */
            safe_prev = f1;
            old = len;
        }
    }
    CHECK(mism == 0, "random texts: %d results differ from the reference", mism);
    return test_summary();
}
