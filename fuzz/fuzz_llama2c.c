/*
 * fuzz_llama2c.c — libFuzzer target for gptc_llama2c_parse (checkpoint + tokenizer.bin).
 *
 * Input: u32 little-endian split point s, then the checkpoint bytes (min(s, rest)), then the
 * tokenizer bytes (what is left). Each part is copied into its own exact-size allocation so
 * ASan sees a read past either end. On success every tensor view and every kv is touched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/llama2c.h"
#include "fuzz.h"

static volatile uint8_t sink;

static void touch(const void *p, uint64_t n)
{
    if (!n) return;
    const uint8_t *b = p;
    sink ^= b[0];
    sink ^= b[n - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    uint32_t split = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                     (uint32_t)data[3] << 24;
    data += 4;
    size -= 4;
    size_t ck_n = split < size ? split : size, tok_n = size - ck_n;
    uint8_t *ck = malloc(ck_n ? ck_n : 1), *tok = malloc(tok_n ? tok_n : 1);
    if (!ck || !tok) {
        free(ck);
        free(tok);
        return 0;
    }
    memcpy(ck, data, ck_n);
    memcpy(tok, data + ck_n, tok_n);

    gguf_file *f = NULL;
    gptc_err err;
    if (gptc_llama2c_parse(ck, ck_n, tok, tok_n, &f, &err) == GPTC_OK) {
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            touch(f->tensors[i].name.p, f->tensors[i].name.n);
            touch(f->tensors[i].data, f->tensors[i].nbytes);
        }
        for (uint64_t i = 0; i < f->n_kv; i++) {
            const gguf_kv *kv = &f->kv[i];
            touch(kv->key.p, kv->key.n);
            if (kv->type == GGUF_VT_STR) touch(kv->v.str.p, kv->v.str.n);
            if (kv->type == GGUF_VT_ARR && kv->v.arr.n) {
                if (kv->v.arr.type == GGUF_VT_STR) {
                    gptc_str s = gptc_gguf_arr_str(kv, kv->v.arr.n - 1);
                    touch(s.p, s.n);
                } else {
                    touch(kv->v.arr.data, kv->v.arr.n * gptc_gguf_vtype_size(kv->v.arr.type));
                }
            }
        }
        gptc_gguf_close(f);
    } else if (f != NULL || err.msg[0] == '\0') {
        __builtin_trap(); /* an error must leave *out NULL and say why */
    }
    free(ck);
    free(tok);
    return 0;
}
