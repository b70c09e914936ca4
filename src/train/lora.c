/*
 * lora.c — LoRA adapter files and merging (see lora.h).
 */
#include "train/lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

static const char *const k_targets[] = {"attn_q",   "attn_k", "attn_v",   "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down", "attn_qkv"};
#define N_TARGETS (int)(sizeof k_targets / sizeof *k_targets)

gptc_status gptc_lora_parse_targets(const char *list, unsigned *mask, gptc_err *err)
{
    *mask = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < N_TARGETS; i++)
            if (strlen(k_targets[i]) == n && strncmp(p, k_targets[i], n) == 0) found = i;
        if (found < 0)
            return gptc_fail(err, GPTC_E_INVALID, "lora: unknown target '%.*s' (%s)",
                             (int)GPTC_MIN(n, 64), p, GPTC_LORA_TARGETS);
        *mask |= 1u << found;
        p += n;
        if (*p == ',') p++;
    }
    if (!*mask) return gptc_fail(err, GPTC_E_INVALID, "lora: no targets");
    return GPTC_OK;
}

int gptc_lora_is_target(const char *name, unsigned mask)
{
    if (strncmp(name, "blk.", 4) != 0) return 0;
    const char *p = strchr(name + 4, '.');
    if (!p) return 0;
    p++;
    for (int i = 0; i < N_TARGETS; i++) {
        size_t n = strlen(k_targets[i]);
        if ((mask >> i & 1) && strncmp(p, k_targets[i], n) == 0 && strcmp(p + n, ".weight") == 0)
            return 1;
    }
    return 0;
}

/* The floats of a tensor: its own data for F32, else a dequantized copy (*tmp, malloc'd). */
static const float *as_f32(const gguf_tensor *t, float **tmp, gptc_err *err)
{
    *tmp = NULL;
    uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (t->type == GPTC_TYPE_F32) return t->data;
    const gptc_type_traits *tr = gptc_type_info(t->type);
    if (!tr || !tr->to_float) {
        gptc_fail(err, GPTC_E_UNSUPPORTED, "lora: tensor '%.*s' has a type gptc cannot dequantize",
                  (int)GPTC_MIN(t->name.n, 80), t->name.p);
        return NULL;
    }
    if (!(*tmp = malloc((size_t)n * sizeof(float)))) {
        gptc_fail(err, GPTC_E_NOMEM, "lora: out of memory");
        return NULL;
    }
    tr->to_float(t->data, *tmp, (int64_t)n);
    return *tmp;
}

static int str_is(gptc_str s, const char *c)
{
    return gptc_str_eq(s, c);
}

static gptc_status check_adapter(const gguf_file *base, const gguf_file *a, int idx, float *alpha,
                                 gptc_err *err)
{
    gptc_str v, arch_b, arch_a;
    gptc_err e;
    if (gptc_gguf_get_str(a, "general.type", &v, &e) || !str_is(v, "adapter") ||
        gptc_gguf_get_str(a, "adapter.type", &v, &e) || !str_is(v, "lora"))
        return gptc_fail(err, GPTC_E_FORMAT,
                         "lora: adapter %d is not a LoRA adapter (general.type = adapter, "
                         "adapter.type = lora)",
                         idx + 1);
    if (gptc_gguf_get_str(base, "general.architecture", &arch_b, &e) ||
        gptc_gguf_get_str(a, "general.architecture", &arch_a, &e) || arch_a.n != arch_b.n ||
        memcmp(arch_a.p, arch_b.p, arch_a.n) != 0)
        return gptc_fail(err, GPTC_E_INVALID,
                         "lora: adapter %d is for another architecture than the model", idx + 1);
    double al = 0;
    if (gptc_gguf_find_kv(a, "adapter.lora.alpha") &&
        gptc_gguf_get_float(a, "adapter.lora.alpha", &al, &e))
        return gptc_fail(err, GPTC_E_FORMAT, "lora: adapter %d: adapter.lora.alpha is not a number",
                         idx + 1);
    *alpha = (float)al;
    /* every pair fits a base tensor */
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const gguf_tensor *ta = &a->tensors[i];
        size_t n = ta->name.n;
        if (n < 7 || memcmp(ta->name.p + n - 7, ".lora_a", 7) != 0) {
            if (n >= 7 && memcmp(ta->name.p + n - 7, ".lora_b", 7) == 0) continue;
            return gptc_fail(err, GPTC_E_FORMAT,
                             "lora: adapter %d: tensor '%.*s' is not a .lora_a/.lora_b", idx + 1,
                             (int)GPTC_MIN(n, 80), ta->name.p);
        }
        char name[256];
        if (n - 7 + 8 >= sizeof name)
            return gptc_fail(err, GPTC_E_FORMAT, "lora: tensor name too long");
        memcpy(name, ta->name.p, n - 7);
        name[n - 7] = 0;
        const gguf_tensor *w = gptc_gguf_find_tensor(base, name);
        char bname[272];
        snprintf(bname, sizeof bname, "%s.lora_b", name);
        const gguf_tensor *tb = gptc_gguf_find_tensor(a, bname);
        if (!w)
            return gptc_fail(err, GPTC_E_INVALID,
                             "lora: adapter %d adapts '%s', which the model lacks", idx + 1, name);
        if (!tb)
            return gptc_fail(err, GPTC_E_FORMAT, "lora: adapter %d has no '%s'", idx + 1, bname);
        if (w->n_dims != 2 || ta->ne[0] != w->ne[0] || tb->ne[1] != w->ne[1] ||
            ta->ne[1] != tb->ne[0] || ta->ne[2] * ta->ne[3] * tb->ne[2] * tb->ne[3] != 1 ||
            ta->ne[1] == 0)
            return gptc_fail(err, GPTC_E_INVALID,
                             "lora: adapter %d: '%s' has lora_a [%llu, %llu] and lora_b [%llu, "
                             "%llu], which do not "
                             "fit the model's [%llu, %llu]",
                             idx + 1, name, (unsigned long long)ta->ne[0],
                             (unsigned long long)ta->ne[1], (unsigned long long)tb->ne[0],
                             (unsigned long long)tb->ne[1], (unsigned long long)w->ne[0],
                             (unsigned long long)w->ne[1]);
    }
    return GPTC_OK;
}

gptc_status gptc_lora_merge(gguf_file *base, gguf_file *const *adapters, const float *scales, int n,
                            gguf_file **out, gptc_err *err)
{
    *out = NULL;
    gptc_status s;
    float *alpha = calloc((size_t)n + 1, sizeof *alpha);
    if (!alpha) {
        gptc_gguf_close(base);
        return gptc_fail(err, GPTC_E_NOMEM, "lora: out of memory");
    }
    gguf_file *g = NULL;
    for (int i = 0; i < n; i++)
        if ((s = check_adapter(base, adapters[i], i, &alpha[i], err))) goto fail;
    if ((s = gptc_gguf_new(&g, err)) || (s = gptc_gguf_copy_kvs(g, base, err))) goto fail;
    g->alignment = base->alignment;
    for (uint64_t ti = 0; ti < base->n_tensors; ti++) {
        const gguf_tensor *w = &base->tensors[ti];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)GPTC_MIN(w->name.n, 255), w->name.p);
        char an[300], bn[300];
        snprintf(an, sizeof an, "%s.lora_a", name);
        snprintf(bn, sizeof bn, "%s.lora_b", name);
        int adapted = 0;
        for (int i = 0; i < n; i++)
            adapted |= gptc_gguf_find_tensor(adapters[i], an) != NULL;
        if (!adapted) {
            if ((s = gptc_gguf_add_tensor(g, name, w->type, w->n_dims, w->ne, w->data, err)))
                goto fail;
            continue;
        }
        uint64_t in = w->ne[0], outn = w->ne[1];
        float *m = gptc_gguf_alloc(g, in * outn * sizeof(float)), *tmp;
        if (!m) {
            s = gptc_fail(err, GPTC_E_NOMEM, "lora: out of memory");
            goto fail;
        }
        const float *src = as_f32(w, &tmp, err);
        if (!src) {
            s = err ? err->status : GPTC_E_UNSUPPORTED;
            goto fail;
        }
        memcpy(m, src, in * outn * sizeof(float));
        free(tmp);
        for (int i = 0; i < n; i++) {
            const gguf_tensor *ta = gptc_gguf_find_tensor(adapters[i], an),
                              *tb = gptc_gguf_find_tensor(adapters[i], bn);
            if (!ta) continue;
            float *ta_tmp, *tb_tmp;
            const float *A = as_f32(ta, &ta_tmp, err), *B = A ? as_f32(tb, &tb_tmp, err) : NULL;
            if (!A || !B) {
                free(ta_tmp);
                s = err ? err->status : GPTC_E_UNSUPPORTED;
                goto fail;
            }
            uint64_t r = ta->ne[1];
            float sc = alpha[i] != 0 ? scales[i] * alpha[i] / (float)r : scales[i];
            /* W[o][j] += sc * sum_k B[o][k] A[k][j] */
            for (uint64_t o = 0; o < outn; o++) {
                float *row = m + o * in;
                for (uint64_t k = 0; k < r; k++) {
                    float b = sc * B[o * r + k];
                    const float *arow = A + k * in;
                    for (uint64_t j = 0; j < in; j++)
                        row[j] += b * arow[j];
                }
            }
            free(ta_tmp), free(tb_tmp);
        }
        if ((s = gptc_gguf_add_tensor(g, name, GPTC_TYPE_F32, 2, w->ne, m, err))) goto fail;
    }
    /* the borrowed tensors live in base's mapping: it moves into g */
    g->map = base->map;
    g->map_size = base->map_size;
    g->owns_map = base->owns_map;
    base->owns_map = 0;
    gptc_gguf_close(base);
    free(alpha);
    *out = g;
    return GPTC_OK;
fail:
    gptc_gguf_close(g);
    gptc_gguf_close(base);
    free(alpha);
    return s;
}
