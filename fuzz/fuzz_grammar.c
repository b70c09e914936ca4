/*
 * fuzz_grammar.c — libFuzzer target for the GBNF parser and the matcher.
 *
 * Input: grammar text, then optionally a NUL byte and text to feed the matcher. Parsing may
 * fail, but only with a status. A grammar that parses gets a matcher over a small fixed
 * vocabulary (ASCII letters, punctuation, multi-byte and split UTF-8 pieces, an end token); the
 * text is fed byte by byte (a rejected byte is skipped) and after each byte the mask is computed
 * and checked against token-by-token checks for a few tokens, and whole against the plain walk
 * of a second matcher without caches (cut 0) fed the same bytes. No crash, no leak, no hang.
 * Seeds: fuzz/seeds/fuzz_grammar/ (the grammars of tests/test_grammar.c with sample texts).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "fuzz.h"

/* clang-format off */
static const char *k_vocab[] = {
    "", "a", "b", "x", "0", "1", "9", " ", "\n", "\"", "{", "}", "[", "]", ",", ":", "-", "+",
    "(", ")", "=", "ab", "abc", "true", "null", "\":", "\",", "{\"", "\xc3\xa9", "\xc3", "\xa9",
    "\xe2\x82\xac", "\xe2\x82", "\xac", "\xf0\x9f\x98\x80", "\xf0\x9f", "\\", "\\u", "12",
};
/* clang-format on */
#define NV ((int)(sizeof k_vocab / sizeof *k_vocab))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    size_t glen = 0;
    while (glen < size && data[glen] != 0)
        glen++;
    const uint8_t *text = glen < size ? data + glen + 1 : NULL;
    size_t tlen = text ? size - glen - 1 : 0;

    gptc_gbnf *g = NULL;
    gptc_err err;
    if (gptc_gbnf_parse((const char *)data, glen, NULL, &g, &err) != GPTC_OK) {
        if (g) __builtin_trap();
        return 0;
    }
    const uint8_t *bytes[NV];
    size_t lens[NV];
    uint8_t eog[NV] = {0};
    for (int i = 0; i < NV; i++) {
        bytes[i] = (const uint8_t *)k_vocab[i];
        lens[i] = strlen(k_vocab[i]);
    }
    eog[0] = 1;
    gptc_gvocab *v = NULL;
    gptc_gmatcher *m = NULL, *slow = NULL;
    if (gptc_gvocab_new(NV, bytes, lens, eog, &v, &err) || gptc_gmatcher_new(g, v, &m, &err) ||
        gptc_gmatcher_new(g, v, &slow, &err)) {
        gptc_gmatcher_free(m);
        gptc_gvocab_free(v);
        gptc_gbnf_free(g);
        return 0;
    }
    gptc_gmatcher_set_cut(slow, 0);
    if (tlen && (text[0] & 1)) gptc_gmatcher_set_cut(m, 1 + text[0] % 8);
    uint32_t mask[(NV + 31) / 32], smask[(NV + 31) / 32];
    for (size_t i = 0; i <= tlen && i < 256; i++) {
        if (gptc_gmatcher_mask(m, mask, &err) != GPTC_OK) break;
        if (gptc_gmatcher_mask(slow, smask, &err) != GPTC_OK) break;
        if (memcmp(mask, smask, sizeof mask)) __builtin_trap();
        for (int id = 1; id < NV; id += 7) {
            int bit = (int)(mask[id >> 5] >> (id & 31) & 1);
            if (bit != gptc_gmatcher_would_accept(m, bytes[id], lens[id])) __builtin_trap();
        }
        if ((int)(mask[0] & 1) != gptc_gmatcher_can_end(m)) __builtin_trap();
        if (i == tlen) break;
        gptc_status st = gptc_gmatcher_accept_bytes(m, text + i, 1, &err);
        if (st == GPTC_E_RANGE) break;
        if (gptc_gmatcher_accept_bytes(slow, text + i, 1, &err) != st) __builtin_trap();
    }
    gptc_gmatcher_free(m);
    gptc_gmatcher_free(slow);
    gptc_gvocab_free(v);
    gptc_gbnf_free(g);
    return 0;
}
