/*
 * fuzz_tokenizer.c — libFuzzer target for encoding and the streaming detokenizer.
 *
 * The vocabulary is the Llama 2 one from $GPTC_DATA/gguf/ggml-vocab-llama-spm.gguf
 * (GPTC_DATA defaults to ../shared/data); without it, a small built-in vocabulary made with the
 * gguf builder. Per input: encode with and without parse_special, decode the ids one at a time
 * (every chunk must be valid UTF-8; text that is valid UTF-8 without U+2581 must come back as
 * " " + text), then decode the input read as raw int32 ids (out of range must be GPTC_E_RANGE).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "gptc.h"
#include "tokenizer/tokenizer.h"
#include "fuzz.h"

static gptc_tokenizer *builtin_vocab(void)
{
    gptc_str toks[256 + 16];
    float scores[256 + 16];
    int32_t types[256 + 16];
    char bytes[256][7];
    static const char *words[] = {"<unk>",
                                  "<s>",
                                  "</s>",
                                  "\xe2\x96\x81",
                                  "\xe2\x96\x81t",
                                  "he",
                                  "\xe2\x96\x81the",
                                  "in",
                                  "er",
                                  ("\xe2\x96\x81"
                                   "a"),
                                  "an",
                                  "<|x|>"};
    int n = 0;
    for (int i = 0; i < 12; i++, n++) {
        toks[n] = (gptc_str){words[i], strlen(words[i])};
        scores[n] = -(float)i;
        types[n] = i == 0 ? 2 : i < 3 ? 3 : i == 11 ? 4 : 1;
    }
    for (int b = 0; b < 256; b++, n++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        toks[n] = (gptc_str){bytes[b], 6};
        scores[n] = 0;
        types[n] = 6;
    }
    gguf_file *f = NULL;
    gptc_tokenizer *t = NULL;
    gptc_err err;
    if (gptc_gguf_new(&f, &err) == GPTC_OK &&
        gptc_gguf_set_str(f, "tokenizer.ggml.model", "llama", 5, &err) == GPTC_OK &&
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", toks, (uint64_t)n, &err) == GPTC_OK &&
        gptc_gguf_set_arr(f, "tokenizer.ggml.scores", GGUF_VT_F32, scores, (uint64_t)n, &err) ==
            GPTC_OK &&
        gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, types, (uint64_t)n, &err) ==
            GPTC_OK)
        gptc_tokenizer_from_gguf(f, &t, &err);
    gptc_gguf_close(f);
    return t;
}

static const gptc_tokenizer *vocab(void)
{
    static gptc_tokenizer *t;
    if (t) return t;
    const char *dir = getenv("GPTC_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/gguf/ggml-vocab-llama-spm.gguf",
             dir && *dir ? dir : "../shared/data");
    gguf_file *f = NULL;
    gptc_err err;
    if (gptc_gguf_open(path, &f, &err) == GPTC_OK) {
        gptc_tokenizer_from_gguf(f, &t, &err);
        gptc_gguf_close(f);
    }
    if (!t) t = builtin_vocab();
    if (!t) __builtin_trap();
    return t;
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

/* decode ids one at a time into out (cap >= n * 80 + 8); returns the byte count */
static size_t decode(const gptc_tokenizer *t, const int32_t *ids, size_t n, char *out)
{
    gptc_detok d;
    gptc_detok_init(&d);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        gptc_err err;
        gptc_status st = gptc_detok_push(t, &d, ids[i], out + o, 80, &k, &err);
        int in_range = ids[i] >= 0 && ids[i] < gptc_tok_n_vocab(t);
        if (in_range ? st != GPTC_OK : st != GPTC_E_RANGE || k != 0) __builtin_trap();
        if (!valid_utf8((const uint8_t *)out + o, k)) __builtin_trap();
        o += k;
    }
    size_t k = gptc_detok_flush(&d, out + o, 8);
    if (!valid_utf8((const uint8_t *)out + o, k)) __builtin_trap();
    return o + k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const gptc_tokenizer *t = vocab();
    const char *text = (const char *)data;
    /* a USER_DEFINED piece (the built-in "<|x|>") is split out even without parse_special, and
     * the text after it gets its own space prefix, so the round trip gains a space there */
    int plain = valid_utf8(data, size) && !memmem(data, size, "\xe2\x96\x81", 3) &&
                !memmem(data, size, "<|x|>", 5);
    for (int special = 0; special < 2; special++) {
        size_t need = 0;
        gptc_err err;
        if (gptc_tok_encode(t, text, size, 1, special, NULL, 0, &need, &err) != GPTC_OK) continue;
        int32_t *ids = malloc((need + 1) * sizeof *ids);
        size_t got = 0;
        if (gptc_tok_encode(t, text, size, 1, special, ids, need, &got, &err) != GPTC_OK ||
            got != need)
            __builtin_trap();
        char *out = malloc(need * 80 + 8);
        size_t n = decode(t, ids, need, out);
        if (!special && plain && size > 0 &&
            (n != size + 1 || out[0] != ' ' || memcmp(out + 1, text, size) != 0))
            __builtin_trap();
        free(out);
        free(ids);
    }
    /* the bytes as raw ids */
    size_t n_ids = size / 4;
    int32_t *ids = malloc((n_ids + 1) * sizeof *ids);
    if (n_ids) memcpy(ids, data, n_ids * 4);
    char *out = malloc(n_ids * 80 + 8);
    decode(t, ids, n_ids, out);
    free(out);
    free(ids);
    return 0;
}
