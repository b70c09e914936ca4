/*
 * qwen3moe.c — the qwen3moe architecture (Qwen3-30B-A3B, Qwen3-235B-A22B): Qwen3's attention
 * (per-head q/k RMSNorm, NEOX rope, grouped-query) with a mixture-of-experts feed-forward in
 * every layer: softmax over the expert_count router logits, the expert_used_count largest
 * renormalised to sum 1 (llama.cpp always normalises for this family), SwiGLU experts of
 * expert_feed_forward_length (moe.c). feed_forward_length is written by the converter but unused.
 */
#include "model/moe.h"

gptc_status gptc_moe_hparams(const gptc_model *m, int *E, int *k, int *F, gptc_err *err)
{
    const char *a = m->hp.arch;
    gptc_status s;
    if ((s = gptc_hp_int(m->file, a, "expert_count", 1, 4096, -1, E, err)) ||
        (s = gptc_hp_int(m->file, a, "expert_used_count", 1, 4096, -1, k, err)) ||
        (s = gptc_hp_int(m->file, a, "expert_feed_forward_length", 1, 1 << 20, -1, F, err)))
        return s;
    if (*k > *E)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: %s.expert_used_count %d is more than expert_count %d", a, *k, *E);
    return GPTC_OK;
}

static gptc_status qwen3moe_bind(gptc_model *m, gptc_err *err)
{
    int E, k, F;
    gptc_status s;
    if ((s = gptc_moe_hparams(m, &E, &k, &F, err)) || (s = gptc_model_bind_io(m, 0, err)) ||
        (s = gptc_model_alloc_layers(m, err)))
        return s;
    for (int l = 0; l < m->hp.n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        ly->n_ff = F;
        if ((s = gptc_moe_bind_attention(m, l, 0, 1, 0, "ffn_norm.weight", err)) ||
            (s = gptc_moe_bind(m, l, E, k, F, 0, &ly->moe, err)))
            return s;
        ly->moe->gating = GPTC_MOE_SOFTMAX_NORM;
        ly->moe->act = GPTC_MOE_SWIGLU;
    }
    return GPTC_OK;
}

gptc_status gptc_forward_moe(gptc_fwd *f, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    gptc_status s;
    gptc_blk_embed(f);
    for (int l = 0; l < m->hp.n_layer; l++) {
        f->l = l;
        f->ly = &m->layers[l];
        gptc_blk_norm(f, c->xb, c->x, f->ly->attn_norm, NULL);
        gptc_blk_attention(f);
        gptc_blk_residual(f, NULL);
        gptc_blk_norm(f, c->xb, c->x, f->ly->ffn_norm, NULL);
        if ((s = gptc_blk_moe(f, f->ly->moe, err))) return s;
        gptc_blk_residual(f, NULL);
    }
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_qwen3moe = {GPTC_ARCH_QWEN3MOE, "qwen3moe", gptc_hp_qwen,
                                          qwen3moe_bind, gptc_forward_moe};
