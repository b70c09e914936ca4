/*
 * phi3.c — phi3 (Phi-3, Phi-3.5, Phi-4-mini): pre-norm RMSNorm layers, one fused attn_qkv
 * product (q rows, then k, then v), one fused ffn_up product (gate rows, then up) with SwiGLU,
 * NEOX rope over rope.dimension_count dims (partial rotary).
 *
 * LongRoPE: rope_factors_short.weight and rope_factors_long.weight (n_rot/2 each) divide the
 * angles; like llama.cpp, a context larger than rope.scaling.original_context_length uses the
 * long factors, others the short. rope.scaling.attn_factor multiplies cos and sin. llama.cpp
 * ignores phi3's attention.sliding_window ("Phi SWA is currently disabled"); so does gptc.
 */
#include <stdio.h>
#include <stdlib.h>

#include "model/decode.h"

static gptc_status phi3_hparams(gptc_model *m, gptc_err *err)
{
    gptc_status s = gptc_hp_common(m, err);
    if (s) return s;
    const gptc_hparams *hp = &m->hp;
    int n_orig;
    float attn_factor;
    m->act = GPTC_ACT_SILU;
    if ((s = gptc_hp_int(m->file, hp->arch, "rope.scaling.original_context_length", 1, 1 << 24,
                         hp->n_ctx_train, &n_orig, err)) ||
        (s = gptc_hp_float(m->file, hp->arch, "rope.scaling.attn_factor", 1.0, &attn_factor, err)))
        return s;
    float *fs = NULL, *fl = NULL;
    int n = hp->n_rot / 2;
    s = gptc_model_bind_vec_opt(m, "rope_factors_short.weight", n, &fs, err);
    if (!s) s = gptc_model_bind_vec_opt(m, "rope_factors_long.weight", n, &fl, err);
    for (int i = 0; i < n && !s; i++)
        if ((fs && !(fs[i] > 0)) || (fl && !(fl[i] > 0)))
            s = gptc_fail(err, GPTC_E_FORMAT,
                          "model: rope_factors_%s.weight holds a factor that is not positive",
                          fs && !(fs[i] > 0) ? "short" : "long");
    if (!s) s = gptc_model_rope(m, &m->rope[0], hp->n_rot, hp->rope_base, 1, fs, err);
    if (!s) s = gptc_model_rope(m, &m->rope[1], hp->n_rot, hp->rope_base, 1, fl ? fl : fs, err);
    free(fs);
    free(fl);
    if (s) return s;
    m->rope[0].attn_factor = m->rope[1].attn_factor = attn_factor;
    m->n_rope = 1;
    m->rope_long_ctx = n_orig;
    return GPTC_OK;
}

static gptc_status phi3_bind(gptc_model *m, gptc_err *err)
{
    gptc_status s;
    if ((s = gptc_model_bind_io(m, 0, err)) || (s = gptc_model_alloc_layers(m, err))) return s;
    for (int l = 0; l < m->hp.n_layer; l++)
        if ((s = gptc_model_bind_layer(m, l, 0, 1, 1, err))) return s;
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_phi3 = {GPTC_ARCH_PHI3, "phi3", phi3_hparams, phi3_bind,
                                      gptc_forward_prenorm};
