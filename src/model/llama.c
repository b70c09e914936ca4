/*
 * llama.c — the llama architecture (Llama 1-3.x, Mistral, TinyLlama, llama2.c checkpoints):
 * pre-norm RMSNorm layers, grouped-query attention with NORM rope (llama.cpp's converter
 * permutes q/k into adjacent pairs), SwiGLU; tied or separate output.
 *
 * Llama 3.1/3.2 rope scaling: the converter writes the per-pair frequency factors as the tensor
 * rope_freqs.weight (n_rot/2 values) and llama.cpp divides each angle by its factor in every
 * layer. A file may also carry the rope.scaling.* keys; only type "llama3" (or none/"linear" with
 * factor 1) is read, and anything else is refused naming the key.
 *
 * smollm3 is this architecture with every 4th layer (il + 1) % 4 == 0 without rope.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/decode.h"

/* rope_freqs.weight (n_rot/2) when present: NULL otherwise; *out owned */
static gptc_status read_freq_factors(gptc_model *m, const char *name, int n, float **out,
                                     gptc_err *err)
{
    *out = NULL;
    gptc_status s = gptc_model_bind_vec_opt(m, name, n, out, err);
    if (s || !*out) return s;
    for (int i = 0; i < n; i++) {
        float v = (*out)[i];
        if (!(v > 0 && isfinite(v))) {
            free(*out);
            *out = NULL;
            return gptc_fail(err, GPTC_E_FORMAT,
                             "model: tensor '%s' holds %g at %d; rope factors must be positive",
                             name, (double)v, i);
        }
    }
    return GPTC_OK;
}

static gptc_status llama_hparams(gptc_model *m, gptc_err *err)
{
    gptc_status s = gptc_hp_common(m, err);
    if (s) return s;
    const gptc_hparams *hp = &m->hp;
    m->act = GPTC_ACT_SILU;
    float *ff = NULL;
    /* rope_freqs is a tensor, but it shapes the rope: read it with the hparams */
    if ((s = read_freq_factors(m, "rope_freqs.weight", hp->n_rot / 2, &ff, err))) return s;
    s = gptc_model_rope(m, &m->rope[0], hp->n_rot, hp->rope_base, 0, ff, err);
    free(ff);
    if (s) return s;
    m->n_rope = 1;
    return gptc_rope_scaling(m, err);
}

static gptc_status llama_bind(gptc_model *m, gptc_err *err)
{
    gptc_status s;
    if ((s = gptc_model_bind_io(m, 0, err)) || (s = gptc_model_alloc_layers(m, err))) return s;
    for (int l = 0; l < m->hp.n_layer; l++) {
        if ((s = gptc_model_bind_layer(m, l, 0, 1, 0, err))) return s;
        if (m->arch == GPTC_ARCH_SMOLLM3 && (l + 1) % 4 == 0) m->layers[l].rope = NULL;
    }
    return GPTC_OK;
}

gptc_status gptc_forward_prenorm(gptc_fwd *f, gptc_err *err)
{
    const gptc_model *m = f->c->model;
    gptc_blk_embed(f);
    for (int l = 0; l < m->hp.n_layer; l++) {
        f->l = l;
        f->ly = &m->layers[l];
        gptc_blk_prenorm_layer(f);
    }
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_llama = {GPTC_ARCH_LLAMA, "llama", llama_hparams, llama_bind,
                                       gptc_forward_prenorm};
const gptc_arch_def gptc_arch_smollm3 = {GPTC_ARCH_SMOLLM3, "smollm3", llama_hparams, llama_bind,
                                         gptc_forward_prenorm};
