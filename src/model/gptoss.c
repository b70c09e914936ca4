/*
 * gptoss.c — OpenAI's gpt-oss (gpt-oss-20b, gpt-oss-120b): attention with q/k/v/o biases and a
 * learned sink logit per head (added to the softmax's denominator), alternating sliding-window
 * (even layers, attention.sliding_window) and full attention, NEOX rope with YaRN scaling; a
 * mixture-of-experts feed-forward after post_attention_norm: the expert_used_count largest
 * router logits (+ bias), softmax over those, experts with biases and the clamped SwiGLU
 * x = min(gate, 7), y = clamp(up, -7, 7), x * sigmoid(1.702 x) * (y + 1) (moe.c). The experts
 * ship in MXFP4.
 *
 * YaRN as llama.cpp applies it: freq_scale = 1 / rope.scaling.factor; pair i's angle mixes the
 * interpolated (freq_scale * theta) and the original theta by a ramp between the correction
 * dimensions of yarn_beta_fast and yarn_beta_slow at rope.scaling.original_context_length; cos
 * and sin are multiplied by 1 + 0.1 ln(1 / freq_scale). Since the mix is per pair, it is folded
 * into each pair's inverse frequency.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/moe.h"

static float corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base)
{
    return (float)n_dims * logf((float)n_ctx_orig / (n_rot * 2.0f * (float)M_PI)) /
           (2.0f * logf(base));
}

static gptc_status yarn(gptc_model *m, gptc_err *err)
{
    const char *a = m->hp.arch;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (!gptc_gguf_find_kv(m->file, key)) return GPTC_OK;
    gptc_str type;
    gptc_status s = gptc_gguf_get_str(m->file, key, &type, err);
    if (s) return s;
    if (gptc_str_eq(type, "none")) return GPTC_OK;
    if (!gptc_str_eq(type, "yarn"))
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: %s '%.*s' is not supported for gpt-oss (yarn is)", key,
                         (int)type.n, type.p);
    float factor, beta_fast, beta_slow;
    int n_orig;
    if ((s = gptc_hp_float(m->file, a, "rope.scaling.factor", 1.0, &factor, err)) ||
        (s = gptc_hp_int(m->file, a, "rope.scaling.original_context_length", 1, 1 << 24,
                         m->hp.n_ctx_train, &n_orig, err)) ||
        (s = gptc_hp_float(m->file, a, "rope.scaling.yarn_beta_fast", 32.0, &beta_fast, err)) ||
        (s = gptc_hp_float(m->file, a, "rope.scaling.yarn_beta_slow", 1.0, &beta_slow, err)))
        return s;
    if (factor <= 1.0f) return GPTC_OK;
    gptc_rotary *r = &m->rope[0];
    float fs = 1.0f / factor, n = (float)r->n_rot;
    float lo = fmaxf(0.0f, floorf(corr_dim(r->n_rot, n_orig, beta_fast, r->base)));
    float hi = fminf(n - 1, ceilf(corr_dim(r->n_rot, n_orig, beta_slow, r->base)));
    for (int i = 0; i < r->n_rot / 2; i++) {
        float y = ((float)i - lo) / fmaxf(0.001f, hi - lo);
        float mix = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
        r->inv_freq[i] *= fs * (1.0f - mix) + mix;
    }
    r->attn_factor = 1.0f + 0.1f * logf(1.0f / fs);
    return GPTC_OK;
}

static gptc_status gptoss_hparams(gptc_model *m, gptc_err *err)
{
    gptc_status s = gptc_hp_common(m, err);
    if (s) return s;
    m->act = GPTC_ACT_SILU;
    if ((s = gptc_model_rope(m, &m->rope[0], m->hp.n_rot, m->hp.rope_base, 1, NULL, err))) return s;
    m->n_rope = 1;
    if ((s = gptc_hp_int(m->file, m->hp.arch, "attention.sliding_window", 0, 1 << 24, 0, &m->n_swa,
                         err)))
        return s;
    return yarn(m, err);
}

static gptc_status gptoss_bind(gptc_model *m, gptc_err *err)
{
    int E, k, F;
    gptc_status s;
    if ((s = gptc_moe_hparams(m, &E, &k, &F, err)) || (s = gptc_model_bind_io(m, 0, err)) ||
        (s = gptc_model_alloc_layers(m, err)))
        return s;
    for (int l = 0; l < m->hp.n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        ly->n_ff = F;
        ly->n_swa = l % 2 == 0 ? m->n_swa : 0; /* llama.cpp's pattern: even layers local */
        if ((s = gptc_moe_bind_attention(m, l, 1, 0, 1, "post_attention_norm.weight", err)) ||
            (s = gptc_moe_bind(m, l, E, k, F, 1, &ly->moe, err)))
            return s;
        ly->moe->gating = GPTC_MOE_TOPK_SOFTMAX;
        ly->moe->act = GPTC_MOE_SWIGLU_OAI;
        ly->moe->alpha = 1.702f;
        ly->moe->limit = 7.0f;
    }
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_gptoss = {GPTC_ARCH_GPTOSS, "gpt-oss", gptoss_hparams, gptoss_bind,
                                        gptc_forward_moe};
