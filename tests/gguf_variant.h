/*
 * gguf_variant.h — bad model files for the loaders' tests: a copy of a GGUF file with one
 * change (a key dropped or set, a tensor left out or given a wrong shape), written to a path.
 * Shared by test_model.c, test_arch.c and test_hybrid.c; header-only.
 */
#ifndef GPTC_TEST_GGUF_VARIANT_H
#define GPTC_TEST_GGUF_VARIANT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "format/gguf.h"

typedef struct bad_case {
    const char *desc;
    const char *drop_key;    /* remove this key */
    const char *set_key;     /* set this key: a u32 of set_val unless one of the set_* below */
    int64_t set_val;         /* ... to this value */
    const char *drop_tensor; /* leave this tensor out */
    const char *bad_shape;   /* give this tensor a wrong shape (ne[1] + 1, or [ne0, 2]) */
    const char *expect;      /* substring of the error */
    const char *model;       /* the file the case starts from, where a test has several */
    const char *set_str;     /* set_key as this string */
    int set_float;           /* set_key as an f32 of set_val */
    int set_bools;           /* set_key as an array of that many true bools */
    int set_i32s;            /* set_key as an array of that many i32 of set_val */
} bad_case;

/* A copy of src with the change bc names, written to path; 0 on error. */
static int write_variant(const gguf_file *src, const bad_case *bc, const char *path)
{
    static float junk[1 << 18];
    gptc_err err;
    gguf_file *f;
    if (gptc_gguf_new(&f, &err)) return 0;
    for (uint64_t i = 0; i < src->n_kv; i++) {
        const gguf_kv *kv = &src->kv[i];
        if (bc->drop_key && gptc_str_eq(kv->key, bc->drop_key)) continue;
        if (bc->set_key && gptc_str_eq(kv->key, bc->set_key)) continue;
        gptc_gguf_copy_kv(f, kv, &err);
    }
    if (bc->set_key) {
        uint8_t yes[64];
        int32_t v[64];
        memset(yes, 1, sizeof yes);
        for (int i = 0; i < 64; i++)
            v[i] = (int32_t)bc->set_val;
        if (bc->set_bools)
            gptc_gguf_set_arr(f, bc->set_key, GGUF_VT_BOOL, yes, (uint64_t)bc->set_bools, &err);
        else if (bc->set_i32s)
            gptc_gguf_set_arr(f, bc->set_key, GGUF_VT_I32, v, (uint64_t)bc->set_i32s, &err);
        else if (bc->set_str)
            gptc_gguf_set_str(f, bc->set_key, bc->set_str, strlen(bc->set_str), &err);
        else if (bc->set_float)
            gptc_gguf_set_f32(f, bc->set_key, (float)bc->set_val, &err);
        else
            gptc_gguf_set_uint(f, bc->set_key, GGUF_VT_U32, (uint64_t)bc->set_val, &err);
    }
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const gguf_tensor *t = &src->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
        if (bc->drop_tensor && strcmp(name, bc->drop_tensor) == 0) continue;
        if (bc->bad_shape && strcmp(name, bc->bad_shape) == 0) {
            uint64_t ne[2] = {t->ne[0], t->n_dims > 1 ? t->ne[1] + 1 : 2};
            gptc_gguf_add_tensor(f, name, t->type, 2, ne, junk, &err);
            continue;
        }
        gptc_gguf_add_tensor(f, name, t->type, t->n_dims, t->ne, t->data, &err);
    }
    int ok = gptc_gguf_write(f, path, &err) == GPTC_OK;
    gptc_gguf_close(f);
    return ok;
}

#endif
