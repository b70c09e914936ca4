/*
 * fuzz_gguf.c — libFuzzer target for the GGUF parser.
 *
 * Parses the input, then walks everything a consumer could touch: every kv through the typed
 * getters and the gguf_arr_* accessors, every tensor's first and last data byte, and a copy of
 * the whole file into a builder (gptc_gguf_copy_kvs + gptc_gguf_add_tensor), which must accept
 * anything the parser accepted. Seeds: fuzz/seeds/fuzz_gguf/ (small valid files written by
 * gptc_gguf_write).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "format/gguf.h"
#include "fuzz.h"

static volatile uint64_t sink;

static void walk_kv(const gguf_file *f, const gguf_kv *kv)
{
    char key[128];
    gptc_err err;
    int64_t i;
    double d;
    gptc_str s;
    int b;
    const gguf_kv *arr;

    /* keys may hold NULs or be long; the getters take C strings, so look up a bounded copy */
    size_t n = kv->key.n < sizeof key - 1 ? (size_t)kv->key.n : sizeof key - 1;
    memcpy(key, kv->key.p, n);
    key[n] = '\0';
    sink += gptc_gguf_find_kv(f, key) != NULL;
    if (gptc_gguf_get_int(f, key, &i, &err) == GPTC_OK) sink += (uint64_t)i;
    if (gptc_gguf_get_float(f, key, &d, &err) == GPTC_OK) sink += (uint64_t)(d == d);
    if (gptc_gguf_get_str(f, key, &s, &err) == GPTC_OK && s.n) sink += (uint8_t)s.p[s.n - 1];
    if (gptc_gguf_get_bool(f, key, &b, &err) == GPTC_OK) sink += (uint64_t)b;
    (void)gptc_gguf_get_arr(f, key, GGUF_VT_COUNT, &arr, &err);
    sink += gptc_gguf_vtype_size(kv->type) + strlen(gptc_gguf_vtype_name(kv->type));

    if (kv->type != GGUF_VT_ARR) return;
    for (uint64_t j = 0; j < kv->v.arr.n; j++) {
        switch (kv->v.arr.type) {
        case GGUF_VT_STR: {
            gptc_str e = gptc_gguf_arr_str(kv, j);
            if (e.n) sink += (uint8_t)e.p[0] + (uint8_t)e.p[e.n - 1];
            break;
        }
        case GGUF_VT_F32:
        case GGUF_VT_F64:
            sink += (uint64_t)(gptc_gguf_arr_float(kv, j) == 0.0);
            break;
        default:
            sink += (uint64_t)gptc_gguf_arr_int(kv, j);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file *f = NULL, *copy = NULL;
    gptc_err err;
    if (gptc_gguf_parse(data, size, &f, &err) != GPTC_OK) return 0;

    for (uint64_t i = 0; i < f->n_kv; i++)
        walk_kv(f, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const uint8_t *p = t->data;
        sink += p[0] + p[t->nbytes - 1];
    }

    if (gptc_gguf_new(&copy, &err) == GPTC_OK) {
        if (gptc_gguf_copy_kvs(copy, f, &err) != GPTC_OK) __builtin_trap();
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            char name[256];
            if (t->name.n == 0 || t->name.n >= sizeof name || memchr(t->name.p, 0, t->name.n))
                continue; /* names a C string cannot carry */
            memcpy(name, t->name.p, t->name.n);
            name[t->name.n] = '\0';
            gptc_status st =
                gptc_gguf_add_tensor(copy, name, t->type, t->n_dims, t->ne, t->data, &err);
            /* the builder checks what the parser checked, except that it may reject offsets
             * that do not fit once re-laid out; shape and type errors would be a parser bug */
            if (st != GPTC_OK && st != GPTC_E_RANGE) __builtin_trap();
        }
        gptc_gguf_close(copy);
    }
    gptc_gguf_close(f);
    return 0;
}
