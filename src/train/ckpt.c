/*
 * ckpt.c — tokenizer keys, model export and parameter import as GGUF (see ckpt.h).
 */
#include "train/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "quant/quant.h"

/* ----- tokenizer keys ------------------------------------------------------------------------- */

gptc_status gptc_tok_byte_gguf(gguf_file **out, gptc_err *err)
{
    static const char hex[] = "0123456789ABCDEF";
    enum { N = GPTC_BYTE_VOCAB };
    char bytes[256][7];
    gptc_str tok[N];
    float score[N];
    int32_t type[N];
    tok[0] = (gptc_str){"<unk>", 5};
    tok[1] = (gptc_str){"<s>", 3};
    tok[2] = (gptc_str){"</s>", 4};
    type[0] = 2;           /* UNKNOWN */
    type[1] = type[2] = 3; /* CONTROL */
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%c%c>", hex[b >> 4], hex[b & 15]);
        tok[3 + b] = (gptc_str){bytes[b], 6};
        type[3 + b] = 6; /* BYTE */
    }
    tok[N - 1] = (gptc_str){"\xe2\x96\x81", 3}; /* U+2581: SentencePiece's escaped space */
    type[N - 1] = 1;                            /* NORMAL */
    for (int i = 0; i < N; i++)
        score[i] = 0.0f;

    gguf_file *f;
    gptc_status s = gptc_gguf_new(&f, err);
    if (s) return s;
    if ((s = gptc_gguf_set_str(f, "tokenizer.ggml.model", "llama", 5, err)) ||
        (s = gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", tok, N, err)) ||
        (s = gptc_gguf_set_arr(f, "tokenizer.ggml.scores", GGUF_VT_F32, score, N, err)) ||
        (s = gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, type, N, err)) ||
        (s = gptc_gguf_set_uint(f, "tokenizer.ggml.bos_token_id", GGUF_VT_U32, 1, err)) ||
        (s = gptc_gguf_set_uint(f, "tokenizer.ggml.eos_token_id", GGUF_VT_U32, 2, err)) ||
        (s = gptc_gguf_set_uint(f, "tokenizer.ggml.unknown_token_id", GGUF_VT_U32, 0, err)) ||
        (s = gptc_gguf_set_bool(f, "tokenizer.ggml.add_bos_token", 0, err)) ||
        (s = gptc_gguf_set_bool(f, "tokenizer.ggml.add_eos_token", 0, err)) ||
        (s = gptc_gguf_set_bool(f, "tokenizer.ggml.add_space_prefix", 0, err))) {
        gptc_gguf_close(f);
        return s;
    }
    *out = f;
    return GPTC_OK;
}

static int is_tok_key(gptc_str k)
{
    return k.n > 10 && memcmp(k.p, "tokenizer.", 10) == 0;
}

gptc_status gptc_tok_copy_gguf(const gguf_file *src, gguf_file **out, gptc_err *err)
{
    *out = NULL;
    /* a view of src holding only its tokenizer.* keys (gptc_gguf_copy_kvs reads n_kv and kv) */
    gguf_kv *kvs = malloc((src->n_kv ? src->n_kv : 1) * sizeof *kvs);
    if (!kvs) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
    gguf_file view = {0};
    view.kv = kvs;
    for (uint64_t i = 0; i < src->n_kv; i++)
        if (is_tok_key(src->kv[i].key)) kvs[view.n_kv++] = src->kv[i];
    gguf_file *f = NULL;
    gptc_status s = GPTC_OK;
    if (!gptc_gguf_find_kv(src, "tokenizer.ggml.tokens"))
        s = gptc_fail(err, GPTC_E_FORMAT, "the file has no tokenizer (no tokenizer.ggml.tokens)");
    if (!s) s = gptc_gguf_new(&f, err);
    if (!s) s = gptc_gguf_copy_kvs(f, &view, err);
    free(kvs);
    if (s) {
        gptc_gguf_close(f);
        return s;
    }
    *out = f;
    return GPTC_OK;
}

uint64_t gptc_tok_keys_hash(const gguf_file *f)
{
    uint64_t h = GPTC_FNV64_INIT;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (!is_tok_key(kv->key)) continue;
        h = gptc_fnv1a64(h, kv->key.p, kv->key.n);
        h = gptc_fnv1a64(h, &kv->type, sizeof kv->type);
        switch (kv->type) {
        case GGUF_VT_STR:
            h = gptc_fnv1a64(h, kv->v.str.p, kv->v.str.n);
            break;
        case GGUF_VT_F32:
        case GGUF_VT_F64:
            h = gptc_fnv1a64(h, &kv->v.f, sizeof kv->v.f);
            break;
        case GGUF_VT_ARR:
            h = gptc_fnv1a64(h, &kv->v.arr.type, sizeof kv->v.arr.type);
            h = gptc_fnv1a64(h, &kv->v.arr.n, sizeof kv->v.arr.n);
            if (kv->v.arr.type == GGUF_VT_STR) {
                for (uint64_t k = 0; k < kv->v.arr.n; k++) {
                    gptc_str s = gptc_gguf_arr_str(kv, k);
                    h = gptc_fnv1a64(h, &s.n, sizeof s.n);
                    h = gptc_fnv1a64(h, s.p, s.n);
                }
            } else {
                h = gptc_fnv1a64(h, kv->v.arr.data,
                                 kv->v.arr.n * gptc_gguf_vtype_size(kv->v.arr.type));
            }
            break;
        default:
            h = gptc_fnv1a64(h, &kv->v.u, sizeof kv->v.u);
            break;
        }
    }
    return h;
}

/* ----- model export --------------------------------------------------------------------------- */

gptc_status gptc_tmodel_to_gguf(gptc_tmodel *m, const gguf_file *tok, const char *name,
                                gguf_file **out, gptc_err *err)
{
    *out = NULL;
    const gptc_tconfig *c = gptc_tmodel_config(m);
    const char *a = gptc_arch_name(c->arch);
    gguf_file *f;
    gptc_status s = gptc_gguf_new(&f, err);
    if (s) return s;
    char key[96];
#define U32(k, v)                                                                                  \
    (snprintf(key, sizeof key, "%s." k, a),                                                        \
     gptc_gguf_set_uint(f, key, GGUF_VT_U32, (uint64_t)(v), err))
#define F32(k, v) (snprintf(key, sizeof key, "%s." k, a), gptc_gguf_set_f32(f, key, (v), err))
    if ((s = gptc_gguf_set_str(f, "general.architecture", a, strlen(a), err)) ||
        (name && (s = gptc_gguf_set_str(f, "general.name", name, strlen(name), err))) ||
        (s = gptc_gguf_set_uint(f, "general.file_type", GGUF_VT_U32, 0, err)) || /* all F32 */
        (s = U32("context_length", c->n_ctx)) || (s = U32("embedding_length", c->n_embd)) ||
        (s = U32("feed_forward_length", c->n_ff)) || (s = U32("block_count", c->n_layer)) ||
        (s = U32("attention.head_count", c->n_head)) ||
        (s = U32("attention.head_count_kv", c->n_head_kv)))
        goto fail;
    if (c->arch == GPTC_ARCH_GPT2) {
        if ((s = F32("attention.layer_norm_epsilon", c->norm_eps))) goto fail;
    } else {
        if ((s = U32("rope.dimension_count", c->n_embd / c->n_head)) ||
            (s = F32("rope.freq_base", c->rope_base)) ||
            (s = F32("attention.layer_norm_rms_epsilon", c->norm_eps)) ||
            (s = U32("vocab_size", c->n_vocab)))
            goto fail;
    }
#undef U32
#undef F32
    if ((s = gptc_gguf_copy_kvs(f, tok, err))) goto fail;
    float *p = gptc_tmodel_params(m);
    for (int i = 0; i < gptc_tmodel_n_tensors(m); i++) {
        const gptc_tparam *t = gptc_tmodel_tensor(m, i);
        uint64_t ne[2] = {(uint64_t)t->ne[0], (uint64_t)t->ne[1]};
        if ((s = gptc_gguf_add_tensor(f, t->name, GPTC_TYPE_F32, (uint32_t)t->n_dims, ne,
                                      p + t->off, err)))
            goto fail;
    }
    *out = f;
    return GPTC_OK;
fail:
    gptc_gguf_close(f);
    return s;
}

/* ----- import --------------------------------------------------------------------------------- */

static gptc_status get_i(const gguf_file *f, const char *arch, const char *name, int def, int *out,
                         gptc_err *err)
{
    char key[96];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (!gptc_gguf_find_kv(f, key)) {
        if (def < 0) return gptc_fail(err, GPTC_E_FORMAT, "train: key '%s' is missing", key);
        *out = def;
        return GPTC_OK;
    }
    int64_t v;
    gptc_status s = gptc_gguf_get_int(f, key, &v, err);
    if (s) return s;
    if (v < 0 || v > (1 << 30))
        return gptc_fail(err, GPTC_E_FORMAT, "train: key '%s' = %lld is out of range", key,
                         (long long)v);
    *out = (int)v;
    return GPTC_OK;
}

static gptc_status get_f(const gguf_file *f, const char *arch, const char *name, float def,
                         float *out, gptc_err *err)
{
    char key[96];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    *out = def;
    if (!gptc_gguf_find_kv(f, key)) return GPTC_OK;
    double v;
    gptc_status s = gptc_gguf_get_float(f, key, &v, err);
    if (!s) *out = (float)v;
    return s;
}

gptc_status gptc_tconfig_from_gguf(const gguf_file *f, gptc_tconfig *cfg, gptc_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    gptc_str arch;
    gptc_status s = gptc_gguf_get_str(f, "general.architecture", &arch, err);
    if (s) return s;
    if (gptc_str_eq(arch, "gpt2"))
        cfg->arch = GPTC_ARCH_GPT2;
    else if (gptc_str_eq(arch, "llama"))
        cfg->arch = GPTC_ARCH_LLAMA;
    else
        return gptc_fail(err, GPTC_E_UNSUPPORTED, "train: architecture '%.*s' cannot be trained",
                         (int)GPTC_MIN(arch.n, 64), arch.p);
    const char *a = gptc_arch_name(cfg->arch);
    const gguf_kv *toks;
    if ((s = get_i(f, a, "context_length", -1, &cfg->n_ctx, err)) ||
        (s = get_i(f, a, "embedding_length", -1, &cfg->n_embd, err)) ||
        (s = get_i(f, a, "feed_forward_length", -1, &cfg->n_ff, err)) ||
        (s = get_i(f, a, "block_count", -1, &cfg->n_layer, err)) ||
        (s = get_i(f, a, "attention.head_count", -1, &cfg->n_head, err)) ||
        (s = get_i(f, a, "attention.head_count_kv", cfg->n_head, &cfg->n_head_kv, err)) ||
        (s = get_f(f, a,
                   cfg->arch == GPTC_ARCH_GPT2 ? "attention.layer_norm_epsilon"
                                               : "attention.layer_norm_rms_epsilon",
                   1e-5f, &cfg->norm_eps, err)) ||
        (s = get_f(f, a, "rope.freq_base", 10000.0f, &cfg->rope_base, err)) ||
        (s = gptc_gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STR, &toks, err)))
        return s;
    if (toks->v.arr.n > (1u << 24))
        return gptc_fail(err, GPTC_E_FORMAT, "train: vocabulary too large");
    cfg->n_vocab = (int)toks->v.arr.n;
    cfg->tied = cfg->arch == GPTC_ARCH_GPT2 || !gptc_gguf_find_tensor(f, "output.weight");
    return gptc_tconfig_check(cfg, err);
}

gptc_status gptc_tmodel_load_params(gptc_tmodel *m, const gguf_file *f, gptc_err *err)
{
    float *p = gptc_tmodel_params(m);
    for (int i = 0; i < gptc_tmodel_n_tensors(m); i++) {
        const gptc_tparam *t = gptc_tmodel_tensor(m, i);
        const gguf_tensor *g = gptc_gguf_find_tensor(f, t->name);
        if (!g) return gptc_fail(err, GPTC_E_FORMAT, "train: tensor '%s' is missing", t->name);
        if (g->ne[0] != (uint64_t)t->ne[0] || g->ne[1] != (uint64_t)t->ne[1] || g->ne[2] != 1 ||
            g->ne[3] != 1)
            return gptc_fail(err, GPTC_E_FORMAT, "train: tensor '%s' is not [%d, %d]", t->name,
                             t->ne[0], t->ne[1]);
        if (g->type == GPTC_TYPE_F32) {
            memcpy(p + t->off, g->data, t->n * sizeof(float));
            continue;
        }
        /* a quantized or half-precision model: dequantize to the training precision */
        const gptc_type_traits *tr = gptc_type_info(g->type);
        if (!tr || !tr->to_float || t->ne[0] % tr->blck)
            return gptc_fail(err, GPTC_E_UNSUPPORTED,
                             "train: tensor '%s' has type %s, which gptc cannot dequantize",
                             t->name, tr ? tr->name : "?");
        tr->to_float(g->data, p + t->off, (int64_t)t->n);
    }
    return GPTC_OK;
}

/* ----- durable writes ------------------------------------------------------------------------- */

gptc_status gptc_gguf_write_durable(const gguf_file *f, const char *path, gptc_err *err)
{
    gptc_status s = gptc_gguf_write(f, path, err);
    if (s) return s;
    /* the rename is in the directory: sync it too (errors ignored: some file systems refuse
     * fsync on a directory, and the data itself is already synced) */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    return GPTC_OK;
}
