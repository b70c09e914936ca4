/*
 * bert.c — the bert architecture: BERT-family embedding models (all-MiniLM, bge, e5 ...) as
 * llama.cpp's converter writes them (tensor names and bert.* keys).
 *
 * x = LayerNorm(token_embd[tok] + token_types[0] + position_embd[pos]) (token_embd_norm); per
 * layer, post-norm: x = LN(x + Wo · attn(q, k, v) + bo) (attn_output_norm), then
 * x = LN(x + Wdown · gelu(Wup · x + bup) + bdown) (layer_output_norm). Attention is
 * bidirectional (attention.causal false), without rope: positions are learned. GELU through
 * ggml's f16 table, as llama.cpp computes it. No classifier: the output is the pooled final
 * hidden state (pooling_type: 1 mean, 2 CLS, 3 last), read with gptc_get_embeddings.
 *
 * Bidirectional attention needs the whole sequence at once: gptc_decode refuses a batch for a
 * sequence that already holds tokens (decode.c, check_batch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/decode.h"
#include "quant/quant.h"

static gptc_status bert_hparams(gptc_model *m, gptc_err *err)
{
    gptc_hparams *hp = &m->hp;
    const gguf_file *f = m->file;
    const char *a = hp->arch;
    const int64_t big = 1 << 20;
    gptc_status s;
    int pooling = 0;
    if ((s = gptc_hp_int(f, a, "embedding_length", 1, big, -1, &hp->n_embd, err)) ||
        (s = gptc_hp_int(f, a, "feed_forward_length", 1, big, -1, &hp->n_ff, err)) ||
        (s = gptc_hp_int(f, a, "block_count", 1, 4096, -1, &hp->n_layer, err)) ||
        (s = gptc_hp_int(f, a, "attention.head_count", 1, 4096, -1, &hp->n_head, err)) ||
        (s = gptc_hp_int(f, a, "attention.head_count_kv", 1, 4096, hp->n_head, &hp->n_head_kv,
                         err)) ||
        (s = gptc_hp_int(f, a, "context_length", 1, 1 << 24, -1, &hp->n_ctx_train, err)) ||
        (s = gptc_hp_int(f, a, "pooling_type", 0, 4, 1, &pooling, err)) ||
        (s = gptc_hp_float(f, a, "attention.layer_norm_epsilon", 1e-12, &hp->norm_eps, err)))
        return s;
    if (hp->n_embd % hp->n_head)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: embedding_length %d is not a multiple of head_count %d",
                         hp->n_embd, hp->n_head);
    if (hp->n_head_kv != hp->n_head)
        return gptc_fail(err, GPTC_E_FORMAT, "model: bert with head_count_kv %d != head_count %d",
                         hp->n_head_kv, hp->n_head);
    char key[96];
    snprintf(key, sizeof key, "%s.attention.causal", a);
    const gguf_kv *kv = gptc_gguf_find_kv(f, key);
    if (kv && kv->type != GGUF_VT_BOOL)
        return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' is not a bool", key);
    if (kv && kv->v.u)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: a causal bert ('%s' true) is not supported", key);
    if (pooling == 0 || pooling == 4)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: bert pooling_type %d (%s) is not supported: gptc pools mean (1), "
                         "CLS (2) or last (3)",
                         pooling, pooling ? "rank, a reranker" : "none, per-token output");
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_rot = 0;
    hp->rope_base = 10000.0f;
    m->act = GPTC_ACT_GELU_F16;
    m->causal = 0;
    m->pooling = pooling;
    return GPTC_OK;
}

/* a weight and its bias */
static gptc_status wt_b(gptc_model *m, int l, const char *name, int rows, int cols, gptc_wt *w,
                        float **b, gptc_err *err)
{
    char n[96];
    snprintf(n, sizeof n, "blk.%d.%s.weight", l, name);
    gptc_status s = gptc_model_bind_wt(m, n, rows, cols, w, err);
    if (s) return s;
    snprintf(n, sizeof n, "blk.%d.%s.bias", l, name);
    return gptc_model_bind_vec(m, n, rows, b, err);
}

/* a LayerNorm's weight and bias */
static gptc_status ln(gptc_model *m, int l, const char *name, int D, float **w, float **b,
                      gptc_err *err)
{
    char n[96];
    if (l >= 0)
        snprintf(n, sizeof n, "blk.%d.%s.weight", l, name);
    else
        snprintf(n, sizeof n, "%s.weight", name);
    gptc_status s = gptc_model_bind_vec(m, n, D, w, err);
    if (s) return s;
    if (l >= 0)
        snprintf(n, sizeof n, "blk.%d.%s.bias", l, name);
    else
        snprintf(n, sizeof n, "%s.bias", name);
    return gptc_model_bind_vec(m, n, D, b, err);
}

static gptc_status bert_bind(gptc_model *m, gptc_err *err)
{
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd, C = hp->n_ctx_train, V = hp->n_vocab, F = hp->n_ff;
    gptc_status s;
    const gguf_tensor *tt = gptc_gguf_find_tensor(m->file, "token_types.weight");
    int n_types = tt && tt->n_dims == 2 && tt->ne[1] >= 1 && tt->ne[1] <= 64 ? (int)tt->ne[1] : 2;
    if ((s = gptc_model_bind_wt(m, "token_embd.weight", V, D, &m->tok_embd, err)) ||
        (s = gptc_model_bind_wt(m, "position_embd.weight", C, D, &m->pos_embd, err)) ||
        (s = gptc_model_bind_wt(m, "token_types.weight", n_types, D, &m->type_embd, err)) ||
        (s = ln(m, -1, "token_embd_norm", D, &m->embd_norm, &m->embd_norm_b, err)))
        return s;
    /* one row of each embedding per token */
    m->weight_bytes -= (uint64_t)gptc_row_bytes(m->tok_embd.type, D) * (V - 1);
    m->weight_bytes -= (uint64_t)gptc_row_bytes(m->pos_embd.type, D) * (C - 1);
    m->weight_bytes -= (uint64_t)gptc_row_bytes(m->type_embd.type, D) * (n_types - 1);
    if ((s = gptc_model_alloc_layers(m, err))) return s;
    for (int l = 0; l < hp->n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        if ((s = wt_b(m, l, "attn_q", D, D, &ly->wq, &ly->bq, err)) ||
            (s = wt_b(m, l, "attn_k", D, D, &ly->wk, &ly->bk, err)) ||
            (s = wt_b(m, l, "attn_v", D, D, &ly->wv, &ly->bv, err)) ||
            (s = wt_b(m, l, "attn_output", D, D, &ly->wo, &ly->bo, err)) ||
            (s = ln(m, l, "attn_output_norm", D, &ly->attn_norm, &ly->attn_norm_b, err)) ||
            (s = wt_b(m, l, "ffn_up", F, D, &ly->w_up, &ly->b_up, err)) ||
            (s = wt_b(m, l, "ffn_down", D, F, &ly->w_down, &ly->b_down, err)) ||
            (s = ln(m, l, "layer_output_norm", D, &ly->ffn_norm, &ly->ffn_norm_b, err)))
            return s;
    }
    return GPTC_OK;
}

static gptc_status bert_forward(gptc_fwd *f, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd;
    gptc_status s = gptc_blk_check_positions(f, err);
    if (s) return s;
    gptc_blk_embed(f);
    gptc_blk_add_row(f, &m->pos_embd, NULL);
    int type0 = 0; /* every token is of type 0 (one segment) */
    gptc_blk_add_row(f, &m->type_embd, &type0);
    gptc_blk_norm(f, c->x, c->x, m->embd_norm, m->embd_norm_b);
    for (int l = 0; l < hp->n_layer; l++) {
        f->l = l;
        f->ly = &m->layers[l];
        const gptc_layer *ly = f->ly;
        memcpy(c->xb, c->x, (size_t)f->T * D * sizeof(float));
        gptc_blk_attention(f);
        gptc_blk_residual(f, NULL);
        gptc_blk_norm(f, c->x, c->x, ly->attn_norm, ly->attn_norm_b);
        memcpy(c->xb, c->x, (size_t)f->T * D * sizeof(float));
        gptc_blk_ffn(f);
        gptc_blk_residual(f, NULL);
        gptc_blk_norm(f, c->x, c->x, ly->ffn_norm, ly->ffn_norm_b);
    }
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_bert = {GPTC_ARCH_BERT, "bert", bert_hparams, bert_bind,
                                      bert_forward};
