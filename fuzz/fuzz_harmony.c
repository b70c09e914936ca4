/*
 * fuzz_harmony.c — libFuzzer target for the gpt-oss reply parser (src/chat/harmony.c).
 * The first input byte picks a chunk size (1..16); the rest is the generated text. Oracles: the
 * parser never reads or writes outside its buffers; the pieces it reports, per kind, are the
 * same whether the text is fed whole or in chunks; their total size never exceeds the input's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/harmony.h"
#include "fuzz.h"

typedef struct acc {
    char *buf[3];
    size_t n[3], cap;
} acc;

static void on_piece(void *ud, int kind, const char *recipient, int call_index, const char *t,
                     size_t n)
{
    acc *a = ud;
    (void)recipient, (void)call_index;
    if (kind < 0 || kind > 2 || a->n[kind] + n > a->cap) abort();
    memcpy(a->buf[kind] + a->n[kind], t, n);
    a->n[kind] += n;
}

static void run(const uint8_t *d, size_t n, size_t chunk, acc *a)
{
    gptc_harmony h;
    gptc_harmony_init(&h);
    for (size_t i = 0; i < n; i += chunk)
        gptc_harmony_feed(&h, (const char *)d + i, n - i < chunk ? n - i : chunk, on_piece, a);
    gptc_harmony_finish(&h, on_piece, a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t chunk = 1 + data[0] % 16;
    data++, size--;
    acc a = {.cap = size}, b = {.cap = size};
    for (int k = 0; k < 3; k++) {
        a.buf[k] = malloc(size + 1);
        b.buf[k] = malloc(size + 1);
    }
    run(data, size, size ? size : 1, &a);
    run(data, size, chunk, &b);
    for (int k = 0; k < 3; k++) {
        if (a.n[k] != b.n[k] || memcmp(a.buf[k], b.buf[k], a.n[k]) != 0) abort();
        free(a.buf[k]);
        free(b.buf[k]);
    }
    if (a.n[0] + a.n[1] + a.n[2] > size) abort();
    return 0;
}
