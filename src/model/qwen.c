/*
 * qwen.c — qwen2 (Qwen2 / Qwen2.5: q/k/v biases) and qwen3 (Qwen3 dense: per-head RMSNorm of q
 * and k before rope, head_dim from key_length). Both: pre-norm RMSNorm layers, grouped-query
 * attention with NEOX rope (the HF layout, which llama.cpp's converter keeps), SwiGLU.
 */
#include <stdio.h>

#include "model/decode.h"

gptc_status gptc_hp_qwen(gptc_model *m, gptc_err *err)
{
    gptc_status s = gptc_hp_common(m, err);
    if (s) return s;
    m->act = GPTC_ACT_SILU;
    if ((s = gptc_model_rope(m, &m->rope[0], m->hp.n_rot, m->hp.rope_base, 1, NULL, err))) return s;
    m->n_rope = 1;
    return gptc_rope_scaling(m, err);
}

static gptc_status qwen_bind(gptc_model *m, gptc_err *err)
{
    gptc_status s;
    int qwen2 = m->arch == GPTC_ARCH_QWEN2, hd = m->hp.head_dim;
    if ((s = gptc_model_bind_io(m, 0, err)) || (s = gptc_model_alloc_layers(m, err))) return s;
    for (int l = 0; l < m->hp.n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        char nm[96];
        if ((s = gptc_model_bind_layer(m, l, qwen2 ? GPTC_BIAS_QKV : 0, 1, 0, err))) return s;
        if (qwen2) continue;
        snprintf(nm, sizeof nm, "blk.%d.attn_q_norm.weight", l);
        if ((s = gptc_model_bind_vec(m, nm, hd, &ly->q_norm, err))) return s;
        snprintf(nm, sizeof nm, "blk.%d.attn_k_norm.weight", l);
        if ((s = gptc_model_bind_vec(m, nm, hd, &ly->k_norm, err))) return s;
    }
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_qwen2 = {GPTC_ARCH_QWEN2, "qwen2", gptc_hp_qwen, qwen_bind,
                                       gptc_forward_prenorm};
const gptc_arch_def gptc_arch_qwen3 = {GPTC_ARCH_QWEN3, "qwen3", gptc_hp_qwen, qwen_bind,
                                       gptc_forward_prenorm};
