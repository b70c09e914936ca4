/*
 * gpt2.c — the gpt2 architecture: weight binding (llama.cpp's tensor names and gpt2.* keys) and
 * its layer loop.
 *
 * Per layer: x += Wo · attn(q, k, v) + bo with (q | k | v) = Wqkv · n + bqkv, n = layernorm(x);
 * then x += Wdown · gelu(Wup · n + bup) + bdown with n = layernorm(x). Positions are learned
 * (position_embd, one row per position up to the trained context); no RoPE. GELU is the tanh
 * approximation GPT-2 was trained with. The classifier is output.weight or, when absent,
 * token_embd (tied, as GPT-2 is).
 */
#include <stdio.h>
#include <stdlib.h>

#include "model/decode.h"
#include "quant/quant.h"

static gptc_status gpt2_hparams(gptc_model *m, gptc_err *err)
{
    gptc_hparams *hp = &m->hp;
    const gguf_file *f = m->file;
    const char *a = hp->arch;
    const int64_t big = 1 << 20;
    gptc_status s;
    if ((s = gptc_hp_int(f, a, "embedding_length", 1, big, -1, &hp->n_embd, err)) ||
        (s = gptc_hp_int(f, a, "feed_forward_length", 1, big, -1, &hp->n_ff, err)) ||
        (s = gptc_hp_int(f, a, "block_count", 1, 4096, -1, &hp->n_layer, err)) ||
        (s = gptc_hp_int(f, a, "attention.head_count", 1, 4096, -1, &hp->n_head, err)) ||
        (s = gptc_hp_int(f, a, "attention.head_count_kv", 1, 4096, hp->n_head, &hp->n_head_kv,
                         err)) ||
        (s = gptc_hp_int(f, a, "context_length", 1, 1 << 24, -1, &hp->n_ctx_train, err)))
        return s;
    if (hp->n_embd % hp->n_head)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: embedding_length %d is not a multiple of head_count %d",
                         hp->n_embd, hp->n_head);
    if (hp->n_head_kv != hp->n_head)
        return gptc_fail(err, GPTC_E_FORMAT, "model: gpt2 with head_count_kv %d != head_count %d",
                         hp->n_head_kv, hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_rot = 0; /* learned positions, LayerNorm: no rope keys */
    hp->rope_base = 10000.0f;
    m->act = GPTC_ACT_GELU;
    m->causal = 1;
    return gptc_hp_float(f, a, "attention.layer_norm_epsilon", 1e-5, &hp->norm_eps, err);
}

static gptc_status gpt2_bind(gptc_model *m, gptc_err *err)
{
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd, C = hp->n_ctx_train;
    gptc_status s;
    if ((s = gptc_model_bind_io(m, 1, err)) ||
        (s = gptc_model_bind_wt(m, "position_embd.weight", C, D, &m->pos_embd, err)))
        return s;
    m->weight_bytes -=
        (uint64_t)gptc_row_bytes(m->pos_embd.type, D) * (C - 1); /* one row per token */
    if ((s = gptc_model_alloc_layers(m, err))) return s;
    for (int l = 0; l < hp->n_layer; l++)
        if ((s = gptc_model_bind_layer(
                 m, l, GPTC_BIAS_QKV | GPTC_BIAS_O | GPTC_BIAS_FFN | GPTC_BIAS_NORM, 0, 0, err)))
            return s;
    return GPTC_OK;
}

static gptc_status gpt2_forward(gptc_fwd *f, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    const gptc_hparams *hp = &m->hp;
    gptc_status s = gptc_blk_check_positions(f, err);
    if (s) return s;
    gptc_blk_embed(f);
    gptc_blk_add_row(f, &m->pos_embd, NULL);
    for (int l = 0; l < hp->n_layer; l++) {
        f->l = l;
        f->ly = &m->layers[l];
        gptc_blk_prenorm_layer(f);
    }
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_gpt2 = {GPTC_ARCH_GPT2, "gpt2", gpt2_hparams, gpt2_bind,
                                      gpt2_forward};
