/*
 * fuzz_bpe.c — libFuzzer target for byte-level BPE: encode arbitrary bytes, decode arbitrary ids.
 *
 * Vocabularies: cl100k_base from its rank file (tiktoken ranks, o200k-style whole-piece lookups)
 * and GPT-2 from ggml-vocab-gpt-2.gguf (GGUF merge pairs), both from $GPTC_DATA (default
 * ../shared/data); without them, a small built-in byte-level vocabulary. The first input byte
 * picks the vocabulary, parse_special, and the scan/heap merge switch; the rest is the text.
 * Oracles: encode succeeds and counts what it writes; decode(encode(x)) == x exactly (every byte
 * has a token in these vocabularies, invalid UTF-8 included; with parse_special, control tokens
 * decode to their text); the streaming detokenizer hands out only valid UTF-8; the input read as
 * int32 ids decodes, or is GPTC_E_RANGE exactly when an id is out of range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "gptc.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "fuzz.h"

static size_t put_cp(char *o, uint32_t cp)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
}

static gptc_tokenizer *builtin_vocab(void)
{
    static char text[260][8];
    gptc_str toks[260];
    int32_t types[260];
    for (int b = 0; b < 256; b++) {
        toks[b] = (gptc_str){text[b], put_cp(text[b], gptc_bpe_byte_to_cp((uint8_t)b))};
        types[b] = 1;
    }
    toks[256] = (gptc_str){"ab", 2};
    toks[257] = (gptc_str){"abab", 4};
    toks[258] = (gptc_str){"\xc4\xa0\x61", 3}; /* " a" */
    toks[259] = (gptc_str){"<|x|>", 5};
    types[256] = types[257] = types[258] = 1;
    types[259] = 3;
    gptc_str merges[] = {{"a b", 3}, {"ab ab", 5}, {"\xc4\xa0 a", 4}};
    gguf_file *f = NULL;
    gptc_tokenizer *t = NULL;
    gptc_err err;
    if (gptc_gguf_new(&f, &err) == GPTC_OK &&
        gptc_gguf_set_str(f, "tokenizer.ggml.model", "gpt2", 4, &err) == GPTC_OK &&
        gptc_gguf_set_str(f, "tokenizer.ggml.pre", "llama-bpe", 9, &err) == GPTC_OK &&
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", toks, 260, &err) == GPTC_OK &&
        gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, types, 260, &err) ==
            GPTC_OK &&
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.merges", merges, 3, &err) == GPTC_OK)
        gptc_tokenizer_from_gguf(f, &t, &err);
    gptc_gguf_close(f);
    return t;
}

static gptc_tokenizer *g_tok[2];

static void init(void)
{
    if (g_tok[0] || g_tok[1]) return;
    const char *dir = getenv("GPTC_DATA");
    if (!dir || !*dir) dir = "../shared/data";
    char path[1024];
    gptc_err err;
    snprintf(path, sizeof path, "%s/tokenizers/tiktoken/cl100k_base.tiktoken", dir);
    if (gptc_tok_load_tiktoken("cl100k_base", path, &g_tok[0], &err) != GPTC_OK) g_tok[0] = NULL;
    snprintf(path, sizeof path, "%s/gguf/ggml-vocab-gpt-2.gguf", dir);
    if (gptc_tok_load_gguf(path, &g_tok[1], &err) != GPTC_OK) g_tok[1] = NULL;
    for (int i = 0; i < 2; i++)
        if (!g_tok[i]) g_tok[i] = builtin_vocab();
    if (!g_tok[0] || !g_tok[1]) __builtin_trap();
}

static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t len = b < 0x80                 ? 1
                     : b >= 0xC2 && b <= 0xDF ? 2
                     : b >= 0xE0 && b <= 0xEF ? 3
                     : b >= 0xF0 && b <= 0xF4 ? 4
                                              : 0;
        if (!len || i + len > n) return 0;
        uint8_t lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
        if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi)) return 0;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

/* stream ids; every chunk valid UTF-8 */
static void stream(const gptc_tokenizer *t, const int32_t *ids, size_t n, int special)
{
    gptc_detok d;
    gptc_detok_init(&d);
    d.special = special;
    char buf[512];
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        gptc_err err;
        gptc_status st = gptc_detok_push(t, &d, ids[i], buf, sizeof buf, &k, &err);
        int in_range = ids[i] >= 0 && ids[i] < gptc_tok_n_vocab(t);
        if (in_range ? st != GPTC_OK : st != GPTC_E_RANGE || k != 0) __builtin_trap();
        if (!valid_utf8((const uint8_t *)buf, k)) __builtin_trap();
    }
    size_t k = gptc_detok_flush(&d, buf, sizeof buf);
    if (!valid_utf8((const uint8_t *)buf, k)) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    if (size == 0) return 0;
    uint8_t ctl = data[0];
    gptc_tokenizer *t = g_tok[ctl & 1];
    int special = (ctl >> 1) & 1;
    int keep = t->bpe_short_max;
    if (ctl & 4) t->bpe_short_max = 0; /* every piece through the heap merge */
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    size_t need = 0;
    gptc_err err;
    if (gptc_tok_encode(t, text, len, 0, special, NULL, 0, &need, &err) != GPTC_OK)
        __builtin_trap();
    int32_t *ids = malloc((need + 1) * sizeof *ids);
    size_t got = 0;
    if (gptc_tok_encode(t, text, len, 0, special, ids, need, &got, &err) != GPTC_OK || got != need)
        __builtin_trap();
    t->bpe_short_max = keep;
    size_t dn = 0;
    char *out = malloc(len + 1);
    if (gptc_tok_decode(t, ids, need, special, out, len, &dn, &err) != GPTC_OK || dn != len ||
        (len && memcmp(out, text, len) != 0))
        __builtin_trap();
    stream(t, ids, need, special);
    free(out);
    free(ids);

    /* the bytes as raw ids */
    size_t n_ids = len / 4;
    int32_t *raw = malloc((n_ids + 1) * sizeof *raw);
    if (n_ids) memcpy(raw, text, n_ids * 4);
    int any_bad = 0;
    for (size_t i = 0; i < n_ids; i++)
        any_bad |= raw[i] < 0 || raw[i] >= gptc_tok_n_vocab(t);
    gptc_status st = gptc_tok_decode(t, raw, n_ids, special, NULL, 0, &dn, &err);
    if (any_bad ? st != GPTC_E_RANGE : st != GPTC_OK) __builtin_trap();
    stream(t, raw, n_ids, special);
    free(raw);
    return 0;
}
