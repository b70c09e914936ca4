/*
 * model.c — load a model: pick the file format, read and validate the hyperparameters, bind the
 * weight tensors by their llama.cpp names and check every shape before anything runs.
 */
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <math.h>

#include "core/ops.h"
#include "format/llama2c.h"
#include "model/decode.h"
#include "model/moe.h"
#include "quant/pack.h"
#include "quant/quant.h"
#include "tokenizer/tokenizer.h"

gptc_model_params gptc_model_default_params(void)
{
    gptc_model_params p = {0};
    return p;
}

/* ----- hyperparameters ------------------------------------------------------------------------ */

gptc_status gptc_hp_int(const gguf_file *f, const char *arch, const char *name, int64_t lo,
                        int64_t hi, int64_t def, int *out, gptc_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int64_t v;
    const gguf_kv *kv = gptc_gguf_find_kv(f, key);
    if (!kv) {
        if (def < lo)
            return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' is missing", key);
        *out = (int)def;
        return GPTC_OK;
    }
    if (kv->type == GGUF_VT_ARR)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: hyperparameter '%s' is an array; gptc expects one integer", key);
    gptc_status s = gptc_gguf_get_int(f, key, &v, err);
    if (s) return s;
    if (v < lo || v > hi)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: hyperparameter '%s' = %lld is out of range [%lld, %lld]", key,
                         (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return GPTC_OK;
}

gptc_status gptc_hp_float(const gguf_file *f, const char *arch, const char *name, double def,
                          float *out, gptc_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (!gptc_gguf_find_kv(f, key)) {
        *out = (float)def;
        return GPTC_OK;
    }
    double v;
    gptc_status s = gptc_gguf_get_float(f, key, &v, err);
    if (s) return s;
    if (!(v > 0 && v < 1e30))
        return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' = %g is out of range", key,
                         v);
    *out = (float)v;
    return GPTC_OK;
}

gptc_status gptc_hp_int_arr(const gguf_file *f, const char *arch, const char *name, int n_layer,
                            int64_t lo, int64_t hi, int64_t def, int *out, gptc_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    const gguf_kv *kv = gptc_gguf_find_kv(f, key);
    if (kv && kv->type == GGUF_VT_ARR) {
        if (kv->v.arr.n != (uint64_t)n_layer)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "model: hyperparameter '%s' has %llu values for %d layers", key,
                             (unsigned long long)kv->v.arr.n, n_layer);
        uint32_t t = kv->v.arr.type;
        if (t == GGUF_VT_F32 || t == GGUF_VT_F64 || t == GGUF_VT_STR)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "model: hyperparameter '%s' is not an integer array", key);
        for (int l = 0; l < n_layer; l++) {
            int64_t v = gptc_gguf_arr_int(kv, (uint64_t)l);
            if (v < lo || v > hi)
                return gptc_fail(
                    err, GPTC_E_FORMAT,
                    "model: hyperparameter '%s'[%d] = %lld is out of range [%lld, %lld]", key, l,
                    (long long)v, (long long)lo, (long long)hi);
            out[l] = (int)v;
        }
        return GPTC_OK;
    }
    int v;
    gptc_status s = gptc_hp_int(f, arch, name, lo, hi, def, &v, err);
    if (s) return s;
    for (int l = 0; l < n_layer; l++)
        out[l] = v;
    return GPTC_OK;
}

gptc_status gptc_hp_layer_bools(const gguf_kv *kv, const char *key, int n_layer, int *out,
                                gptc_err *err)
{
    if (kv->type != GGUF_VT_ARR || kv->v.arr.type != GGUF_VT_BOOL)
        return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' is not an array of bools",
                         key);
    if (kv->v.arr.n != (uint64_t)n_layer)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: hyperparameter '%s' has %llu values for %d layers", key,
                         (unsigned long long)kv->v.arr.n, n_layer);
    for (int l = 0; l < n_layer; l++)
        out[l] = gptc_gguf_arr_int(kv, (uint64_t)l) != 0;
    return GPTC_OK;
}

gptc_status gptc_hp_common(gptc_model *m, gptc_err *err)
{
    gptc_hparams *hp = &m->hp;
    const gguf_file *f = m->file;
    const char *a = hp->arch;
    const int64_t big = 1 << 20;
    gptc_status s;
    if ((s = gptc_hp_int(f, a, "embedding_length", 1, big, -1, &hp->n_embd, err)) ||
        (s = gptc_hp_int(f, a, "feed_forward_length", 1, big, hp->n_ff > 0 ? hp->n_ff : -1,
                         &hp->n_ff, err)) ||
        (s = gptc_hp_int(f, a, "block_count", 1, 4096, -1, &hp->n_layer, err)) ||
        (s = gptc_hp_int(f, a, "attention.head_count", 1, 4096, -1, &hp->n_head, err)) ||
        (s = gptc_hp_int(f, a, "attention.head_count_kv", 1, 4096, hp->n_head, &hp->n_head_kv,
                         err)) ||
        (s = gptc_hp_int(f, a, "context_length", 1, 1 << 24, -1, &hp->n_ctx_train, err)))
        return s;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.key_length", a);
    if (!gptc_gguf_find_kv(f, key) && hp->n_embd % hp->n_head)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: embedding_length %d is not a multiple of head_count %d",
                         hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: head_count %d is not a multiple of head_count_kv %d", hp->n_head,
                         hp->n_head_kv);
    int vlen;
    if ((s = gptc_hp_int(f, a, "attention.key_length", 1, 4096, hp->n_embd / hp->n_head,
                         &hp->head_dim, err)) ||
        (s = gptc_hp_int(f, a, "attention.value_length", 1, 4096, hp->head_dim, &vlen, err)))
        return s;
    if (vlen != hp->head_dim)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: %s.attention.value_length %d differs from key_length %d", a, vlen,
                         hp->head_dim);
    if ((s = gptc_hp_int(f, a, "rope.dimension_count", 2, hp->head_dim, hp->head_dim, &hp->n_rot,
                         err)))
        return s;
    if (hp->n_rot % 2)
        return gptc_fail(err, GPTC_E_FORMAT, "model: rope.dimension_count %d is odd", hp->n_rot);
    if ((s = gptc_hp_float(f, a, "rope.freq_base", 10000.0, &hp->rope_base, err)) ||
        (s = gptc_hp_float(f, a, "attention.layer_norm_rms_epsilon", 1e-5, &hp->norm_eps, err)))
        return s;
    m->causal = 1;
    return GPTC_OK;
}

/* ----- tensors -------------------------------------------------------------------------------- */

/* Weight types the forward pass multiplies with: the float types and the quantized types with
 * kernels (quant.h). A 1-D vector may be anything that converts to f32. */
static int computable(uint32_t t)
{
    return t == GPTC_TYPE_F32 || t == GPTC_TYPE_F16 || t == GPTC_TYPE_BF16 || gptc_type_is_quant(t);
}

static int convertible(uint32_t t)
{
    const gptc_type_traits *tt = gptc_type_info(t);
    return tt && tt->to_float;
}

static const char *type_name(uint32_t t)
{
    const gptc_type_traits *tt = gptc_type_info(t);
    return tt ? tt->name : "unknown";
}

gptc_status gptc_model_bind_wt(gptc_model *m, const char *name, int rows, int cols, gptc_wt *w,
                               gptc_err *err)
{
    const gguf_tensor *t = gptc_gguf_find_tensor(m->file, name);
    if (!t) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' is missing", name);
    if (t->n_dims > 2 || t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: tensor '%s' has shape [%llu, %llu%s], expected [%d, %d]", name,
                         (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                         t->n_dims > 2 ? ", ..." : "", cols, rows);
    if (!computable(t->type))
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: tensor '%s' has type %s, which gptc cannot compute yet", name,
                         type_name(t->type));
    *w = (gptc_wt){.type = t->type, .data = t->data, .rows = rows, .cols = cols};
    m->weight_bytes += t->nbytes;
    return GPTC_OK;
}

gptc_status gptc_model_bind_vec(gptc_model *m, const char *name, int n, float **out, gptc_err *err)
{
    const gguf_tensor *t = gptc_gguf_find_tensor(m->file, name);
    if (!t) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' is missing", name);
    uint64_t ne = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        ne *= t->ne[d];
    /* 1-D, or [n, 1] as converters write some scalars and gates */
    if (ne != (uint64_t)n || t->ne[0] != (uint64_t)n)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: tensor '%s' has %u dimensions and %llu elements, expected [%d]",
                         name, t->n_dims, (unsigned long long)t->ne[0], n);
    if (!convertible(t->type))
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: tensor '%s' has type %s, which gptc cannot compute yet", name,
                         type_name(t->type));
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    gptc_row_to_f32(v, t->data, t->type, n, 0);
    *out = v;
    m->weight_bytes += t->nbytes;
    return GPTC_OK;
}

gptc_status gptc_model_bind_vec_opt(gptc_model *m, const char *name, int n, float **out,
                                    gptc_err *err)
{
    if (!gptc_gguf_find_tensor(m->file, name)) return GPTC_OK;
    return gptc_model_bind_vec(m, name, n, out, err);
}

gptc_wt gptc_wt_rows(const gptc_wt *w, int r0, int rows)
{
    GPTC_ASSERT(!w->packed || r0 % GPTC_PACK_ROWS == 0); /* a packed view starts a group */
    gptc_wt v = *w;
    v.data = (const char *)w->data + (size_t)r0 * gptc_row_bytes(w->type, w->cols);
    v.rows = rows;
    return v;
}

gptc_status gptc_model_bind_io(gptc_model *m, int ln, gptc_err *err)
{
    return gptc_model_bind_io_norm(m, ln, "output_norm", err);
}

gptc_status gptc_model_bind_io_norm(gptc_model *m, int ln, const char *norm, gptc_err *err)
{
    char nw[64], nb[64];
    snprintf(nw, sizeof nw, "%s.weight", norm);
    snprintf(nb, sizeof nb, "%s.bias", norm);
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd, V = hp->n_vocab;
    gptc_status s;
    const gguf_tensor *te = gptc_gguf_find_tensor(m->file, "token_embd.weight");
    if (!te) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor 'token_embd.weight' is missing");
    if (te->n_dims == 2 && te->ne[0] == (uint64_t)D && te->ne[1] != (uint64_t)V)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: the vocabulary has %d tokens but token_embd.weight has %llu rows",
                         V, (unsigned long long)te->ne[1]);
    if ((s = gptc_model_bind_wt(m, "token_embd.weight", V, D, &m->tok_embd, err))) return s;
    m->weight_bytes -= (uint64_t)gptc_row_bytes(m->tok_embd.type, D) * (V - 1); /* reads one row */
    if ((s = gptc_model_bind_vec(m, nw, D, &m->out_norm, err))) return s;
    if (ln && (s = gptc_model_bind_vec(m, nb, D, &m->out_norm_b, err))) return s;
    if (gptc_gguf_find_tensor(m->file, "output.weight")) {
        if ((s = gptc_model_bind_wt(m, "output.weight", V, D, &m->output, err))) return s;
        m->hp.tied_output = 0;
    } else {
        m->output = m->tok_embd;
        m->weight_bytes += (uint64_t)gptc_row_bytes(m->tok_embd.type, D) * V;
        m->hp.tied_output = 1;
    }
    return GPTC_OK;
}

gptc_status gptc_model_alloc_layers(gptc_model *m, gptc_err *err)
{
    const gptc_hparams *hp = &m->hp;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        ly->n_head = hp->n_head;
        ly->n_head_kv = hp->n_head_kv;
        ly->hd = hp->head_dim;
        ly->n_ff = hp->n_ff;
        ly->kv_src = l;
        ly->rope = m->n_rope > 0 ? &m->rope[0] : NULL;
    }
    return GPTC_OK;
}

gptc_status gptc_model_bind_layer(gptc_model *m, int l, int biases, int gated, int fused_up,
                                  gptc_err *err)
{
    gptc_layer *ly = &m->layers[l];
    int D = m->hp.n_embd, F = ly->n_ff, Q = ly->n_head * ly->hd, K = ly->n_head_kv * ly->hd;
    char nm[96];
    gptc_status s;
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
    if ((s = gptc_model_bind_vec(m, NAME("attn_norm.weight"), D, &ly->attn_norm, err))) return s;
    if ((biases & GPTC_BIAS_NORM) &&
        (s = gptc_model_bind_vec(m, NAME("attn_norm.bias"), D, &ly->attn_norm_b, err)))
        return s;
    if (gptc_gguf_find_tensor(m->file, NAME("attn_qkv.weight"))) {
        if ((s = gptc_model_bind_wt(m, nm, Q + 2 * K, D, &ly->wqkv, err))) return s;
        ly->wq = gptc_wt_rows(&ly->wqkv, 0, Q);
        ly->wk = gptc_wt_rows(&ly->wqkv, Q, K);
        ly->wv = gptc_wt_rows(&ly->wqkv, Q + K, K);
        if (biases & GPTC_BIAS_QKV) {
            float *b;
            if ((s = gptc_model_bind_vec(m, NAME("attn_qkv.bias"), Q + 2 * K, &b, err))) return s;
            ly->bqkv = ly->bq = b;
            ly->bk = b + Q;
            ly->bv = b + Q + K;
        }
    } else {
        if ((s = gptc_model_bind_wt(m, NAME("attn_q.weight"), Q, D, &ly->wq, err)) ||
            (s = gptc_model_bind_wt(m, NAME("attn_k.weight"), K, D, &ly->wk, err)) ||
            (s = gptc_model_bind_wt(m, NAME("attn_v.weight"), K, D, &ly->wv, err)))
            return s;
        if ((biases & GPTC_BIAS_QKV) &&
            ((s = gptc_model_bind_vec(m, NAME("attn_q.bias"), Q, &ly->bq, err)) ||
             (s = gptc_model_bind_vec(m, NAME("attn_k.bias"), K, &ly->bk, err)) ||
             (s = gptc_model_bind_vec(m, NAME("attn_v.bias"), K, &ly->bv, err))))
            return s;
    }
    if ((s = gptc_model_bind_wt(m, NAME("attn_output.weight"), D, Q, &ly->wo, err))) return s;
    if ((biases & GPTC_BIAS_O) &&
        (s = gptc_model_bind_vec(m, NAME("attn_output.bias"), D, &ly->bo, err)))
        return s;
    if ((s = gptc_model_bind_vec(m, NAME("ffn_norm.weight"), D, &ly->ffn_norm, err))) return s;
    if ((biases & GPTC_BIAS_NORM) &&
        (s = gptc_model_bind_vec(m, NAME("ffn_norm.bias"), D, &ly->ffn_norm_b, err)))
        return s;
    if (gated && fused_up) {
        gptc_wt gu;
        if ((s = gptc_model_bind_wt(m, NAME("ffn_up.weight"), 2 * F, D, &gu, err))) return s;
        ly->w_gate = gptc_wt_rows(&gu, 0, F);
        ly->w_up = gptc_wt_rows(&gu, F, F);
    } else {
        if (gated && (s = gptc_model_bind_wt(m, NAME("ffn_gate.weight"), F, D, &ly->w_gate, err)))
            return s;
        if ((s = gptc_model_bind_wt(m, NAME("ffn_up.weight"), F, D, &ly->w_up, err))) return s;
    }
    if ((s = gptc_model_bind_wt(m, NAME("ffn_down.weight"), D, F, &ly->w_down, err))) return s;
    if ((biases & GPTC_BIAS_FFN) &&
        ((s = gptc_model_bind_vec(m, NAME("ffn_up.bias"), F, &ly->b_up, err)) ||
         (s = gptc_model_bind_vec(m, NAME("ffn_down.bias"), D, &ly->b_down, err))))
        return s;
#undef NAME
    return GPTC_OK;
}

gptc_status gptc_model_rope(gptc_model *m, gptc_rotary *r, int n_rot, float base, int neox,
                            const float *factors, gptc_err *err)
{
    r->n_rot = n_rot;
    r->neox = neox;
    r->base = base;
    r->attn_factor = 1.0f;
    r->has_factors = factors != NULL;
    free(r->inv_freq);
    r->inv_freq = malloc((size_t)(n_rot / 2 + 1) * sizeof(float));
    if (!r->inv_freq) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    for (int i = 0; i < n_rot / 2; i++) {
        r->inv_freq[i] = powf(base, -2.0f * (float)i / (float)n_rot);
        if (factors) r->inv_freq[i] /= factors[i];
    }
    (void)m;
    return GPTC_OK;
}

gptc_status gptc_rope_scaling(gptc_model *m, gptc_err *err)
{
    const char *a = m->hp.arch;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    const gguf_kv *kv = gptc_gguf_find_kv(m->file, key);
    gptc_str type = {0};
    if (kv) {
        gptc_status s = gptc_gguf_get_str(m->file, key, &type, err);
        if (s) return s;
    }
    float factor;
    gptc_status s = gptc_hp_float(m->file, a, "rope.scaling.factor", 1.0, &factor, err);
    if (s) return s;
    if (!kv || gptc_str_eq(type, "none") || gptc_str_eq(type, "llama3")) return GPTC_OK;
    if (gptc_str_eq(type, "linear")) {
        if (factor != 1.0f &&
            m->rope[0].inv_freq) /* the global rope only (Gemma 3's local layers keep theirs) */
            for (int j = 0; j < m->rope[0].n_rot / 2; j++)
                m->rope[0].inv_freq[j] /= factor;
        return GPTC_OK;
    }
    return gptc_fail(err, GPTC_E_UNSUPPORTED,
                     "model: %s = '%.*s' is not supported for %s (gptc reads none, linear, llama3)",
                     key, (int)GPTC_MIN(type.n, 32), type.p, a);
}

gptc_status gptc_model_from_gguf(gguf_file *f, gptc_model **out, gptc_err *err)
{
    *out = NULL;
    gptc_model *m = calloc(1, sizeof *m);
    if (!m) {
        gptc_gguf_close(f);
        return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    }
    m->file = f;
    gptc_str arch;
    gptc_status s = gptc_gguf_get_str(f, "general.architecture", &arch, err);
    if (!s) {
        m->def = gptc_arch_find(arch);
        if (!m->def)
            s = gptc_fail(err, GPTC_E_UNSUPPORTED,
                          "model: architecture '%.*s' is not supported (gptc runs: %s)",
                          (int)GPTC_MIN(arch.n, 64), arch.p, gptc_arch_supported());
    }
    if (!s) {
        m->arch = m->def->id;
        snprintf(m->hp.arch, sizeof m->hp.arch, "%s", m->def->name);
        s = m->def->hparams(m, err);
    }
    if (!s) s = gptc_tokenizer_from_gguf(f, &m->tok, err);
    if (!s) {
        m->hp.n_vocab = gptc_tok_n_vocab(m->tok);
        s = m->def->bind(m, err);
    }
    if (s) {
        gptc_model_free(m);
        return s;
    }
    for (int l = 0; l < m->hp.n_layer; l++) { /* sliding-window-only models reuse cells */
        const gptc_layer *ly = &m->layers[l];
        if (ly->kv_src != l) continue;
        if (ly->n_swa <= 0) {
            m->swa_min = 0;
            break;
        }
        m->swa_min = m->swa_min ? GPTC_MIN(m->swa_min, ly->n_swa) : ly->n_swa;
    }
    *out = m;
    return GPTC_OK;
}

/* The path must name a regular file: a directory, FIFO or device is refused before opening
 * (opening a FIFO would block; /dev/zero never ends). */
static gptc_status check_regular(const char *path, const char *what, gptc_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return gptc_fail(err, GPTC_E_IO, "%s '%s': %s", what, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return gptc_fail(err, GPTC_E_IO, "%s '%s' is a directory", what, path);
    if (!S_ISREG(st.st_mode))
        return gptc_fail(err, GPTC_E_IO, "%s '%s' is not a regular file", what, path);
    return GPTC_OK;
}

/* 1: GGUF, 0: another format; an error (open or read failed: permission, I/O) is reported as
 * itself, before any guess about the format could blame the file's contents. */
static gptc_status is_gguf(const char *path, int *yes, gptc_err *err)
{
    char magic[4] = {0};
    *yes = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return gptc_fail(err, GPTC_E_IO, "cannot open model '%s': %s", path, strerror(errno));
    ssize_t n = read(fd, magic, 4);
    int e = errno;
    close(fd);
    if (n < 0) return gptc_fail(err, GPTC_E_IO, "cannot read model '%s': %s", path, strerror(e));
    *yes = n == 4 && memcmp(magic, "GGUF", 4) == 0;
    return GPTC_OK;
}

gptc_status gptc_model_open_file(const char *path, const char *tokenizer_path, gguf_file **out,
                                 gptc_err *err)
{
    gptc_err_clear(err);
    *out = NULL;
    if (!path) return gptc_fail(err, GPTC_E_INVALID, "model: no path given");
    gptc_status s = check_regular(path, "model", err);
    if (s) return s;
    int gguf;
    if ((s = is_gguf(path, &gguf, err))) return s;
    if (gguf) {
        s = gptc_gguf_open(path, out, err);
        if (s && err) { /* name the file: the parser's messages say where, not which */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            gptc_fail(err, s, "%s: %s", path, msg);
        }
        return s;
    }
    /* Not GGUF: a llama2.c checkpoint, whose tokenizer is a separate file. */
    char tok_path[4096];
    const char *tp = tokenizer_path;
    if (!tp) {
        const char *slash = strrchr(path, '/');
        int dir_len = slash ? (int)(slash - path + 1) : 0;
        snprintf(tok_path, sizeof tok_path, "%.*stokenizer.bin", dir_len, path);
        if (access(tok_path, R_OK) != 0)
            return gptc_fail(
                err, GPTC_E_INVALID,
                "model '%s' is not GGUF, so it is read as a llama2.c checkpoint, which needs "
                "a tokenizer: pass --tokenizer FILE (no tokenizer.bin beside it)",
                path);
        tp = tok_path;
    }
    if ((s = check_regular(tp, "tokenizer", err))) return s;
    return gptc_llama2c_import(path, tp, out, err);
}

gptc_status gptc_model_load(const char *path, const gptc_model_params *params, gptc_model **out,
                            gptc_err *err)
{
    gguf_file *f = NULL;
    *out = NULL;
    gptc_status s = gptc_model_open_file(path, params ? params->tokenizer_path : NULL, &f, err);
    if (s) return s;
    s = gptc_model_from_gguf(f, out, err);
    if (!s && !(params && params->no_repack) && (s = gptc_model_repack(*out, err))) {
        gptc_model_free(*out);
        *out = NULL;
    }
    if (s && err) { /* name the file */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg + (strncmp(err->msg, "model: ", 7) == 0 ? 7 : 0));
        gptc_fail(err, s, "model '%s': %s", path, msg);
    }
    return s;
}

void gptc_model_free(gptc_model *m)
{
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->hp.n_layer; l++) {
            gptc_layer *ly = &m->layers[l];
            float *owned[] = {
                ly->attn_norm,  ly->attn_norm_b, ly->bqkv,           ly->bo,
                ly->q_norm,     ly->k_norm,      ly->post_attn_norm, ly->ffn_norm,
                ly->ffn_norm_b, ly->b_up,        ly->b_down,         ly->post_ffw_norm};
            for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
                free(owned[i]);
            free(ly->attn_sinks);
            free(ly->ple_post_norm);
            gptc_moe_free(ly->moe);
            gptc_dn_layer_free(ly->dn);
            if (ly->sconv) free(ly->sconv->w);
            free(ly->sconv);
            if (!ly->bqkv) { /* separate biases; else views into bqkv */
                free(ly->bq);
                free(ly->bk);
                free(ly->bv);
            }
        }
        free(m->layers);
    }
    for (int i = 0; i < 2; i++)
        free(m->rope[i].inv_freq);
    free(m->out_norm);
    free(m->out_norm_b);
    free(m->embd_norm);
    free(m->embd_norm_b);
    free(m->ple_proj_norm);
    gptc_tokenizer_free(m->tok);
    free(m->pack_buf);
    gptc_gguf_close(m->file);
    free(m);
}

const gptc_hparams *gptc_model_hparams(const gptc_model *m)
{
    return &m->hp;
}
uint64_t gptc_model_weight_bytes(const gptc_model *m)
{
    return m->weight_bytes;
}
uint64_t gptc_model_packed_bytes(const gptc_model *m)
{
    return m->pack_bytes;
}
const gptc_tokenizer *gptc_model_tokenizer(const gptc_model *m)
{
    return m->tok;
}

const char *gptc_model_meta_str(const gptc_model *m, const char *key, size_t *len)
{
    const gguf_kv *kv = gptc_gguf_find_kv(m->file, key);
    if (!kv || kv->type != GGUF_VT_STR) return NULL;
    if (len) *len = kv->v.str.n;
    return kv->v.str.p;
}

char *gptc_model_describe(const gptc_model *m, char *buf, size_t n)
{
    static const char *const acts[] = {"SwiGLU", "GELU", "GeGLU (f16 GELU table)",
                                       "GELU (f16 table)"};
    size_t off = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (off < n) off += (size_t)snprintf(buf + off, n - off, __VA_ARGS__);                     \
    } while (0)
    if (n) buf[0] = 0;
    const gptc_layer *ly = m->layers;
    int L = m->hp.n_layer;
    ADD("%s: ffn %s", m->hp.arch, m->act >= 0 && m->act < 4 ? acts[m->act] : "?");
    ADD(", %s", !m->out_norm ? "post-norm" : m->out_norm_b ? "LayerNorm" : "RMSNorm");
    for (int i = 0; i < m->n_rope || (i == 1 && m->rope_long_ctx && i < 2); i++) {
        const gptc_rotary *r = &m->rope[i];
        ADD(", rope%s %s %d dims base %g",
            i == 0             ? ""
            : m->rope_long_ctx ? " (long)"
                               : " (local)",
            r->neox ? "NEOX" : "NORM", r->n_rot, r->base);
        if (r->has_factors) ADD(" with frequency factors");
        if (r->attn_factor != 1.0f) ADD(" attn_factor %g", r->attn_factor);
    }
    if (m->rope_long_ctx) ADD(", long rope factors above %d tokens of context", m->rope_long_ctx);
    int no_rope = 0, local = 0, qk = 0, bias = 0, post = 0, rec = 0, shared = 0;
    for (int l = 0; l < L; l++) {
        rec += ly[l].n_state > 0;
        shared += ly[l].kv_src != l;
        no_rope += m->n_rope > 0 && !ly[l].rope && ly[l].n_state == 0;
        local += ly[l].n_swa > 0;
        qk += ly[l].q_norm != NULL;
        bias += ly[l].bq != NULL;
        post += ly[l].post_attn_norm != NULL;
    }
    if (rec) {
        ADD(", recurrent layers");
        for (int l = 0, k = 0; l < L && k < 64; l++)
            if (ly[l].n_state) ADD("%s%d", k++ ? "," : " ", l);
        ADD(" (%.1f KiB of state per sequence)", (double)gptc_state_bytes(m) / 1024.0);
    }
    if (no_rope) ADD(", %d layers without rope", no_rope);
    if (local) {
        ADD(", sliding window %d on layers", m->n_swa);
        for (int l = 0, k = 0; l < L && k < 16; l++)
            if (ly[l].n_swa) ADD("%s%d", k++ ? "," : " ", l);
    }
    for (int l = 0, k = 0; l < L; l++)
        if (ly[l].sconv) {
            if (!k) ADD(", gated short convolution (%d taps) on layers", ly[l].sconv->k);
            if (k++ < 16) ADD("%s%d", k > 1 ? "," : " ", l);
        }
    if (qk) ADD(", q/k norm%s", ly[0].v_norm ? ", v norm" : "");
    if (shared) ADD(", the last %d layers reuse earlier layers' K/V", shared);
    if (m->n_ple) ADD(", per-layer inputs of %d per layer", m->n_ple);
    if (bias) ADD(", q/k/v biases");
    if (post) ADD(", post-norms");
    if (m->embd_scale > 0) ADD(", embedding scale %g", m->embd_scale);
    if (m->attn_scale > 0) ADD(", attention scale %g", m->attn_scale);
    if (m->attn_softcap > 0) ADD(", attention soft-cap %g", m->attn_softcap);
    if (m->final_softcap > 0) ADD(", final soft-cap %g", m->final_softcap);
    if (!m->causal) ADD(", bidirectional attention");
    if (m->pooling)
        ADD(", %s pooling, no classifier (an embedding model)", m->pooling == 1   ? "mean"
                                                                : m->pooling == 2 ? "CLS"
                                                                                  : "last-token");
    ADD(", norm eps %g", m->hp.norm_eps);
#undef ADD
    return buf;
}
