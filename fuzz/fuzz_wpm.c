/*
 * fuzz_wpm.c — libFuzzer target for WordPiece (BERT) encoding.
 *
 * The vocabulary is bge's from $GPTC_DATA/gguf/vocab/ggml-vocab-bert-bge.gguf (GPTC_DATA
 * defaults to ../shared/data); without it, a small built-in WordPiece vocabulary. Per input:
 * encode with and without special parsing and special tokens; the size query must agree with
 * the full encode, every id must be in range, a short buffer must get a prefix of the ids, and
 * decoding the ids must give valid UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "fuzz.h"
#include "gptc.h"
#include "tokenizer/tokenizer.h"

static gptc_tokenizer *builtin_vocab(void)
{
    static const char *words[] = {"[PAD]",
                                  "[UNK]",
                                  "[CLS]",
                                  "[SEP]",
                                  "\xe2\x96\x81the",
                                  ("\xe2\x96\x81"
                                   "a"),
                                  "\xe2\x96\x81.",
                                  "ing",
                                  "s",
                                  "\xe2\x96\x81"
                                  "caf",
                                  "e",
                                  "\xe2\x96\x81\xe4\xb8\xad"};
    enum { N = sizeof words / sizeof words[0] };
    gptc_str toks[N];
    int32_t types[N];
    for (int i = 0; i < N; i++) {
        toks[i] = (gptc_str){words[i], strlen(words[i])};
        types[i] = i < 4 ? 3 : 1;
    }
    gguf_file *f = NULL;
    gptc_tokenizer *t = NULL;
    gptc_err err;
    if (gptc_gguf_new(&f, &err) == GPTC_OK &&
        gptc_gguf_set_str(f, "tokenizer.ggml.model", "bert", 4, &err) == GPTC_OK &&
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", toks, N, &err) == GPTC_OK &&
        gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, types, N, &err) == GPTC_OK &&
        gptc_gguf_set_uint(f, "tokenizer.ggml.unknown_token_id", GGUF_VT_U32, 1, &err) == GPTC_OK &&
        gptc_gguf_set_uint(f, "tokenizer.ggml.cls_token_id", GGUF_VT_U32, 2, &err) == GPTC_OK &&
        gptc_gguf_set_uint(f, "tokenizer.ggml.seperator_token_id", GGUF_VT_U32, 3, &err) == GPTC_OK)
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
    snprintf(path, sizeof path, "%s/gguf/vocab/ggml-vocab-bert-bge.gguf",
             dir && *dir ? dir : "../shared/data");
    gptc_err err;
    if (gptc_tok_load_gguf(path, &t, &err) != GPTC_OK) t = builtin_vocab();
    if (!t) __builtin_trap();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const gptc_tokenizer *t = vocab();
    if (size > 1 << 16) return 0;
    const char *s = (const char *)data;
    int n_vocab = gptc_tok_n_vocab(t);
    for (int mode = 0; mode < 4; mode++) {
        int add = mode & 1, special = mode >> 1;
        gptc_err err;
        size_t need = 0, got = 0;
        if (gptc_tok_encode(t, s, size, add, special, NULL, 0, &need, &err) != GPTC_OK)
            __builtin_trap();
        int32_t *ids = malloc((need + 1) * sizeof *ids), small[4];
        if (!ids) return 0;
        if (gptc_tok_encode(t, s, size, add, special, ids, need, &got, &err) != GPTC_OK ||
            got != need)
            __builtin_trap();
        for (size_t i = 0; i < got; i++)
            if (ids[i] < 0 || ids[i] >= n_vocab) __builtin_trap();
        size_t k = 0;
        if (gptc_tok_encode(t, s, size, add, special, small, 4, &k, &err) != GPTC_OK || k != need ||
            memcmp(small, ids, GPTC_MIN(need, 4) * sizeof *ids) != 0)
            __builtin_trap();
        gptc_detok d;
        gptc_detok_init(&d);
        char out[96];
        for (size_t i = 0; i < got; i++) {
            size_t w = 0;
            if (gptc_detok_push(t, &d, ids[i], out, 80, &w, &err) != GPTC_OK) __builtin_trap();
        }
        gptc_detok_flush(&d, out, 8);
        free(ids);
    }
    return 0;
}
