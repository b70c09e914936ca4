/*
 * fuzz_llama2c_tok.c — libFuzzer target for gptc_llama2c_tokenizer_parse: the first byte is
 * the vocabulary size (as a signed byte, so zero and negatives are tried too), the rest is the
 * tokenizer.bin. A vocabulary that imports is loaded as a tokenizer and used once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "format/llama2c.h"
#include "gptc.h"
#include "tokenizer/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int n_vocab = (int8_t)data[0];
    /* a copy of exactly the given size, so any overread is caught */
    uint8_t *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    gguf_file *f = NULL;
    gptc_err err;
    if (gptc_gguf_new(&f, &err) != GPTC_OK) __builtin_trap();
    gptc_status st = gptc_llama2c_tokenizer_parse(f, buf, size - 1, n_vocab, &err);
    if (st == GPTC_OK) {
        gptc_tokenizer *t = NULL;
        if (gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK) {
            static const char text[] = "Once upon a <s> time\n\xf0\x9f\x98\x8a \xff";
            int32_t ids[256];
            size_t n = 0;
            if (gptc_tok_encode(t, text, sizeof text - 1, 1, 1, ids, 256, &n, &err) == GPTC_OK) {
                gptc_detok d;
                gptc_detok_init(&d);
                char out[80];
                for (size_t i = 0; i < n && i < 256; i++) {
                    size_t k;
                    if (gptc_detok_push(t, &d, ids[i], out, sizeof out, &k, &err) != GPTC_OK &&
                        err.status != GPTC_E_INVALID)
                        __builtin_trap();
                }
                gptc_detok_flush(&d, out, sizeof out);
            }
            gptc_tokenizer_free(t);
        }
    } else if (err.msg[0] == '\0') {
        __builtin_trap(); /* every failure says why */
    }
    gptc_gguf_close(f);
    free(buf);
    return 0;
}
