/*
 * gemma.c — gemma2 and gemma3 (text model).
 *
 * Both: the input embedding times sqrt(n_embd); per layer
 *   x += post_attention_norm(attn(attn_norm(x)));  x += post_ffw_norm(geglu(ffn_norm(x)))
 * with RMSNorms whose weights the converter stored as 1 + w; GeGLU through ggml's f16 GELU
 * table (what llama.cpp computes); NEOX rope; local (sliding-window) and global layers. A layer
 * is local when attention.sliding_window_pattern says so: an array of bools, one per layer, or
 * a period n (layers with il % n < n - 1 are local); absent: period 2 (gemma2) or 6 (gemma3),
 * llama.cpp's defaults.
 * gemma2: attention scores and final logits soft-capped (attn_logit_softcapping, default 50;
 * final_logit_softcapping, default 30). gemma3: per-head q/k RMSNorm, a separate rope base for
 * local layers (rope.freq_base_swa, default 10000), final soft-capping only with the key.
 * Attention scale 1/sqrt(head_dim) (1/sqrt(n_embd/n_head) for the 27B sizes, as llama.cpp).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/decode.h"

/* the per-layer local flags from sliding_window_pattern (or the default period) */
static gptc_status swa_pattern(gptc_model *m, int def_period, int *local, gptc_err *err)
{
    const gptc_hparams *hp = &m->hp;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", hp->arch);
    const gguf_kv *kv = gptc_gguf_find_kv(m->file, key);
    int period = def_period;
    if (kv && kv->type == GGUF_VT_ARR) return gptc_hp_layer_bools(kv, key, hp->n_layer, local, err);
    if (kv) {
        gptc_status s = gptc_hp_int(m->file, hp->arch, "attention.sliding_window_pattern", 0, 4096,
                                    0, &period, err);
        if (s) return s;
    }
    for (int l = 0; l < hp->n_layer; l++)
        local[l] = period == 0 || l % period < period - 1;
    return GPTC_OK;
}

static gptc_status gemma_hparams(gptc_model *m, gptc_err *err)
{
    gptc_status s = gptc_hp_common(m, err);
    if (s) return s;
    gptc_hparams *hp = &m->hp;
    const char *a = hp->arch;
    int g2 = m->arch == GPTC_ARCH_GEMMA2;
    float base_swa;
    m->act = GPTC_ACT_GEGLU_F16;
    m->embd_scale = sqrtf((float)hp->n_embd);
    if ((g2 && hp->n_layer == 46) || (!g2 && hp->n_layer == 62)) /* the 27B sizes */
        m->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    if ((s = gptc_hp_float(m->file, a, "final_logit_softcapping", g2 ? 30.0 : 0.0,
                           &m->final_softcap, err)))
        return s;
    if (g2 &&
        (s = gptc_hp_float(m->file, a, "attn_logit_softcapping", 50.0, &m->attn_softcap, err)))
        return s;
    if ((s = gptc_hp_int(m->file, a, "attention.sliding_window", 1, 1 << 24, 0, &m->n_swa, err)))
        return s;
    if (m->n_swa > hp->n_ctx_train)
        return gptc_fail(
            err, GPTC_E_FORMAT,
            "model: %s.attention.sliding_window %d is larger than the context_length %d", a,
            m->n_swa, hp->n_ctx_train);
    if ((s = gptc_hp_float(m->file, a, "rope.freq_base_swa", g2 ? hp->rope_base : 10000.0,
                           &base_swa, err)))
        return s;
    if ((s = gptc_model_rope(m, &m->rope[0], hp->n_rot, hp->rope_base, 1, NULL, err)) ||
        (s = gptc_model_rope(m, &m->rope[1], hp->n_rot, base_swa, 1, NULL, err)))
        return s;
    m->n_rope = 2;
    return gptc_rope_scaling(m, err);
}

static gptc_status gemma_bind(gptc_model *m, gptc_err *err)
{
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd, hd = hp->head_dim, g3 = m->arch == GPTC_ARCH_GEMMA3;
    gptc_status s;
    if ((s = gptc_model_bind_io(m, 0, err)) || (s = gptc_model_alloc_layers(m, err))) return s;
    int *local = calloc((size_t)hp->n_layer, sizeof *local);
    if (!local) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    s = swa_pattern(m, g3 ? 6 : 2, local, err);
    for (int l = 0; l < hp->n_layer && !s; l++) {
        gptc_layer *ly = &m->layers[l];
        char nm[96];
        if (local[l] && m->n_swa > 0) {
            ly->n_swa = m->n_swa;
            ly->rope = &m->rope[1];
        }
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
        if ((s = gptc_model_bind_layer(m, l, 0, 1, 0, err)) ||
            (s = gptc_model_bind_vec(m, NAME("post_attention_norm.weight"), D, &ly->post_attn_norm,
                                     err)) ||
            (s = gptc_model_bind_vec(m, NAME("post_ffw_norm.weight"), D, &ly->post_ffw_norm, err)))
            break;
        if (g3 && ((s = gptc_model_bind_vec(m, NAME("attn_q_norm.weight"), hd, &ly->q_norm, err)) ||
                   (s = gptc_model_bind_vec(m, NAME("attn_k_norm.weight"), hd, &ly->k_norm, err))))
            break;
#undef NAME
    }
    free(local);
    return s;
}

const gptc_arch_def gptc_arch_gemma2 = {GPTC_ARCH_GEMMA2, "gemma2", gemma_hparams, gemma_bind,
                                        gptc_forward_prenorm};
const gptc_arch_def gptc_arch_gemma3 = {GPTC_ARCH_GEMMA3, "gemma3", gemma_hparams, gemma_bind,
                                        gptc_forward_prenorm};
