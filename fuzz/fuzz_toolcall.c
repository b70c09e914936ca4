/*
 * fuzz_toolcall.c — libFuzzer target for the tool-call reply parser (src/chat/toolcall.c).
 * Input: byte 0 picks the format, byte 1 the chunk size (1..32) and the reasoning mode, the rest
 * is the generated text. Oracles: no read or write outside buffers (ASan); the content,
 * reasoning and calls are the same fed whole or in chunks; every call's arguments are a JSON
 * object; calls are numbered from 0 in order.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/toolcall.h"
#include "fuzz.h"

typedef struct acc {
    char *buf[2];
    size_t n[2], cap;
    char *calls; /* names and arguments, NUL-separated */
    size_t cn, ccap;
    int n_calls, want_args;
} acc;

static void add(acc *a, const char *t, size_t n)
{
    if (a->cn + n + 1 > a->ccap) {
        a->ccap = (a->cn + n + 1) * 2;
        a->calls = realloc(a->calls, a->ccap);
        if (!a->calls) abort();
    }
    memcpy(a->calls + a->cn, t, n);
    a->calls[a->cn + n] = 0;
    a->cn += n + 1;
}

static void on_ev(void *ud, int ev, int idx, const char *t, size_t n)
{
    acc *a = ud;
    if (ev == GPTC_TC_EV_CONTENT || ev == GPTC_TC_EV_REASONING) {
        if (idx != -1 || a->n[ev] + n > a->cap) abort();
        memcpy(a->buf[ev] + a->n[ev], t, n);
        a->n[ev] += n;
        return;
    }
    if (ev == GPTC_TC_EV_NAME) {
        if (idx != a->n_calls++ || a->want_args) abort();
        a->want_args = 1;
    } else if (ev == GPTC_TC_EV_ARGS) {
        if (idx != a->n_calls - 1 || !a->want_args) abort();
        a->want_args = 0;
        json_t *j = json_loadb(t, n, JSON_ALLOW_NUL, NULL);
        if (!json_is_object(j)) abort();
        json_decref(j);
    } else {
        abort();
    }
    add(a, t, n);
}

static void run(const uint8_t *d, size_t n, size_t chunk, const gptc_toolcall_opts *o, acc *a)
{
    gptc_toolcall_parser *p;
    gptc_err err;
    if (gptc_toolcall_new(o, &p, &err)) abort();
    for (size_t i = 0; i < n; i += chunk)
        gptc_toolcall_feed(p, (const char *)d + i, n - i < chunk ? n - i : chunk, on_ev, a);
    gptc_toolcall_finish(p, on_ev, a);
    gptc_toolcall_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    gptc_toolcall_opts o = {.format = data[0] % GPTC_TC_COUNT, .think = (data[1] >> 5) % 3};
    size_t chunk = 1 + data[1] % 32;
    data += 2, size -= 2;
    acc a = {.cap = size}, b = {.cap = size};
    for (int k = 0; k < 2; k++) {
        a.buf[k] = malloc(size + 1);
        b.buf[k] = malloc(size + 1);
    }
    run(data, size, size ? size : 1, &o, &a);
    run(data, size, chunk, &o, &b);
    for (int k = 0; k < 2; k++) {
        if (a.n[k] != b.n[k] || memcmp(a.buf[k], b.buf[k], a.n[k]) != 0) abort();
        free(a.buf[k]);
        free(b.buf[k]);
    }
    if (a.n_calls != b.n_calls || a.cn != b.cn || (a.cn && memcmp(a.calls, b.calls, a.cn))) abort();
    if (a.want_args || b.want_args) abort();
    free(a.calls);
    free(b.calls);
    return 0;
}
