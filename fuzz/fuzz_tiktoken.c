/*
 * fuzz_tiktoken.c — libFuzzer target for the tiktoken rank-file parser (tiktoken.c).
 *
 * The first byte picks the encoding (its special tokens and regex); the rest is the file. A file
 * the parser accepts must give a usable tokenizer: encode a fixed text and decode it back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "tokenizer/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"r50k_base", "p50k_edit", "cl100k_base", "o200k_base",
                                  "llama3",    "gpt2",      "p50k_base",   "nope"};
    if (size == 0) return 0;
    gptc_tokenizer *t = NULL;
    gptc_err err;
    gptc_status st =
        gptc_tiktoken_parse(names[data[0] & 7], (const char *)data + 1, size - 1, &t, &err);
    if ((st == GPTC_OK) != (t != NULL)) __builtin_trap();
    if (!t) return 0;
    const char *text = "Hello, world! 123 \xc3\xa9\xff<|endoftext|>  \r\n";
    size_t len = strlen(text), n = 0;
    int32_t ids[128];
    if (gptc_tok_encode(t, text, len, 1, 1, ids, 128, &n, &err) != GPTC_OK || n > 128)
        __builtin_trap();
    char out[256];
    size_t dn;
    if (gptc_tok_decode(t, ids, n, 1, out, sizeof out, &dn, &err) != GPTC_OK) __builtin_trap();
    gptc_tokenizer_free(t);
    return 0;
}
