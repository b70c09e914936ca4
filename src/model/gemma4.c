/*
 * gemma4.c — gemma4, the Gemma 4 text model as llama.cpp's converter writes the small
 * E2B/E4B-style files.
 *
 * Input: the token embedding times sqrt(n_embd). Per-layer inputs (PLE), computed once per
 * token from the token and its scaled embedding e, one P-wide slice per layer:
 *   ple_l = (rmsnorm_l(per_layer_model_proj . e / sqrt(D)) + per_layer_token_embd[tok]_l *
 *            sqrt(P)) / sqrt(2)
 * with the RMSNorm (weight per_layer_proj_norm) over each layer's slice.
 *
 * Every layer (Gemma's sandwich of norms, GeGLU through ggml's f16 GELU table):
 *   x += post_attention_norm(attn(attn_norm(x)))
 *   x += post_ffw_norm(geglu(ffn_norm(x)))
 *   x += post_norm(proj(gelu(inp_gate . x) * ple_l))
 *   x *= layer_output_scale
 * Attention: per-head RMSNorm of q and k (with weight) and of v (without), attention scale 1,
 * no soft-capping of scores. Local layers (attention.sliding_window_pattern, one bool per
 * layer) use the window, head size key_length_swa and a NEOX rope over rope.dimension_count_swa
 * dims with base rope.freq_base_swa; global layers use key_length, rope.dimension_count and
 * rope.freq_base with the frequency factors of rope_freqs.weight ("proportional" rope: a factor
 * of 1e30 leaves a pair unrotated). Head counts and feed_forward_length may differ per layer.
 *
 * KV sharing: the last shared_kv_layers layers compute no K/V; each reads the cache of the last
 * layer of the same kind (local or global) before them (llama.cpp: n_layer_kv_from_start - 2 and
 * - 1 for the E2B pattern). A layer without attn_v uses its K projection as V (before the k
 * norm), as llama.cpp does.
 *
 * Output: final RMSNorm, tied or separate classifier, logits soft-capped at
 * final_logit_softcapping (default 30).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "model/decode.h"
#include "quant/quant.h"

static gptc_status g4_hparams(gptc_model *m, gptc_err *err)
{
    gptc_hparams *hp = &m->hp;
    const gguf_file *f = m->file;
    const char *a = hp->arch;
    const int64_t big = 1 << 20;
    int head0 = 1, vlen, hd_swa, vlen_swa, n_rot_swa, n_shared;
    float base_swa;
    char key[128];
    gptc_status s;
    if ((s = gptc_hp_int(f, a, "embedding_length", 1, big, -1, &hp->n_embd, err)) ||
        (s = gptc_hp_int(f, a, "block_count", 1, 4096, -1, &hp->n_layer, err)) ||
        (s = gptc_hp_int(f, a, "context_length", 1, 1 << 24, -1, &hp->n_ctx_train, err)))
        return s;
    /* head_count may be per layer: the default head size uses the first layer's */
    snprintf(key, sizeof key, "%s.attention.head_count", a);
    const gguf_kv *kv = gptc_gguf_find_kv(f, key);
    if (!kv) return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' is missing", key);
    if (kv->type == GGUF_VT_ARR && kv->v.arr.n > 0)
        head0 = (int)GPTC_MAX(1, GPTC_MIN(4096, gptc_gguf_arr_int(kv, 0)));
    else if (kv->type != GGUF_VT_ARR &&
             (s = gptc_hp_int(f, a, "attention.head_count", 1, 4096, -1, &head0, err)))
        return s;
    if ((s = gptc_hp_int(f, a, "attention.key_length", 1, 4096, GPTC_MAX(1, hp->n_embd / head0),
                         &hp->head_dim, err)) ||
        (s = gptc_hp_int(f, a, "attention.value_length", 1, 4096, hp->head_dim, &vlen, err)) ||
        (s = gptc_hp_int(f, a, "attention.key_length_swa", 1, 4096, hp->head_dim, &hd_swa, err)) ||
        (s = gptc_hp_int(f, a, "attention.value_length_swa", 1, 4096, hd_swa, &vlen_swa, err)))
        return s;
    if (vlen != hp->head_dim || vlen_swa != hd_swa)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: %s.attention.value_length%s %d differs from key_length%s %d", a,
                         vlen != hp->head_dim ? "" : "_swa", vlen != hp->head_dim ? vlen : vlen_swa,
                         vlen != hp->head_dim ? "" : "_swa",
                         vlen != hp->head_dim ? hp->head_dim : hd_swa);
    if ((s = gptc_hp_int(f, a, "rope.dimension_count", 2, hp->head_dim, hp->head_dim, &hp->n_rot,
                         err)) ||
        (s = gptc_hp_int(f, a, "rope.dimension_count_swa", 2, hd_swa, hd_swa, &n_rot_swa, err)))
        return s;
    if (hp->n_rot % 2 || n_rot_swa % 2)
        return gptc_fail(err, GPTC_E_FORMAT, "model: %s.rope.dimension_count%s %d is odd", a,
                         hp->n_rot % 2 ? "" : "_swa", hp->n_rot % 2 ? hp->n_rot : n_rot_swa);
    if ((s = gptc_hp_float(f, a, "rope.freq_base", 10000.0, &hp->rope_base, err)) ||
        (s = gptc_hp_float(f, a, "rope.freq_base_swa", hp->rope_base, &base_swa, err)) ||
        (s = gptc_hp_float(f, a, "attention.layer_norm_rms_epsilon", 1e-6, &hp->norm_eps, err)) ||
        (s = gptc_hp_float(f, a, "final_logit_softcapping", 30.0, &m->final_softcap, err)) ||
        (s = gptc_hp_int(f, a, "attention.sliding_window", 1, 1 << 24, -1, &m->n_swa, err)) ||
        (s = gptc_hp_int(f, a, "attention.shared_kv_layers", 0, hp->n_layer - 1, 0, &n_shared,
                         err)) ||
        (s = gptc_hp_int(f, a, "embedding_length_per_layer_input", 0, 1 << 16, 0, &m->n_ple, err)))
        return s;
    if (m->n_swa > hp->n_ctx_train)
        return gptc_fail(
            err, GPTC_E_FORMAT,
            "model: %s.attention.sliding_window %d is larger than the context_length %d", a,
            m->n_swa, hp->n_ctx_train);
    m->act = GPTC_ACT_GEGLU_F16;
    m->embd_scale = sqrtf((float)hp->n_embd);
    m->attn_scale = 1.0f;
    m->causal = 1;

    /* global rope with rope_freqs (the proportional rope), local rope without */
    float *ff = NULL;
    const char *fname = "rope_freqs.weight";
    if ((s = gptc_model_bind_vec_opt(m, fname, hp->n_rot / 2, &ff, err))) return s;
    for (int i = 0; ff && i < hp->n_rot / 2; i++)
        if (!(ff[i] > 0 && isfinite(ff[i]))) {
            s = gptc_fail(err, GPTC_E_FORMAT,
                          "model: tensor '%s' holds %g at %d; rope factors must be positive", fname,
                          (double)ff[i], i);
            free(ff);
            return s;
        }
    s = gptc_model_rope(m, &m->rope[0], hp->n_rot, hp->rope_base, 1, ff, err);
    free(ff);
    if (s || (s = gptc_model_rope(m, &m->rope[1], n_rot_swa, base_swa, 1, NULL, err))) return s;
    m->n_rope = 2;
    return gptc_rope_scaling(m, err);
}

/* one bool per layer (1: local); a single bool applies to every layer */
static gptc_status g4_pattern(gptc_model *m, int *local, gptc_err *err)
{
    const gptc_hparams *hp = &m->hp;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", hp->arch);
    const gguf_kv *kv = gptc_gguf_find_kv(m->file, key);
    if (!kv) return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' is missing", key);
    if (kv->type == GGUF_VT_BOOL) {
        for (int l = 0; l < hp->n_layer; l++)
            local[l] = kv->v.u != 0;
        return GPTC_OK;
    }
    return gptc_hp_layer_bools(kv, key, hp->n_layer, local, err);
}

/* a weight the forward pass never reads (a shared layer's k/v): its shape is checked when the
 * file has it, as llama.cpp does, and it counts for nothing */
static gptc_status check_unused(gptc_model *m, const char *name, int rows, int cols, gptc_err *err)
{
    if (!gptc_gguf_find_tensor(m->file, name)) return GPTC_OK;
    uint64_t before = m->weight_bytes;
    gptc_wt w;
    gptc_status s = gptc_model_bind_wt(m, name, rows, cols, &w, err);
    m->weight_bytes = before;
    return s;
}

static gptc_status g4_layer(gptc_model *m, int l, gptc_err *err)
{
    gptc_layer *ly = &m->layers[l];
    int D = m->hp.n_embd, F = ly->n_ff, hd = ly->hd, P = m->n_ple;
    int Q = ly->n_head * hd, K = ly->n_head_kv * hd, own = ly->kv_src == l;
    char nm[96];
    gptc_status s;
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
    if ((s = gptc_model_bind_vec(m, NAME("attn_norm.weight"), D, &ly->attn_norm, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_q.weight"), Q, D, &ly->wq, err)) ||
        (s = gptc_model_bind_vec(m, NAME("attn_q_norm.weight"), hd, &ly->q_norm, err)))
        return s;
    if (own) {
        if ((s = gptc_model_bind_wt(m, NAME("attn_k.weight"), K, D, &ly->wk, err)) ||
            (s = gptc_model_bind_vec(m, NAME("attn_k_norm.weight"), hd, &ly->k_norm, err)))
            return s;
        if (gptc_gguf_find_tensor(m->file, NAME("attn_v.weight"))) {
            if ((s = gptc_model_bind_wt(m, nm, K, D, &ly->wv, err))) return s;
        } else {
            ly->wv = ly->wk; /* V is the K projection (before the k norm) */
        }
        ly->v_norm = 1;
    } else {
        float *unused = NULL;
        if ((s = check_unused(m, NAME("attn_k.weight"), K, D, err)) ||
            (s = check_unused(m, NAME("attn_v.weight"), K, D, err)) ||
            (s = gptc_model_bind_vec_opt(m, NAME("attn_k_norm.weight"), hd, &unused, err)))
            return s;
        free(unused);
        ly->v_norm = 1;
    }
    if ((s = gptc_model_bind_wt(m, NAME("attn_output.weight"), D, Q, &ly->wo, err)) ||
        (s = gptc_model_bind_vec(m, NAME("post_attention_norm.weight"), D, &ly->post_attn_norm,
                                 err)) ||
        (s = gptc_model_bind_vec(m, NAME("ffn_norm.weight"), D, &ly->ffn_norm, err)) ||
        (s = gptc_model_bind_wt(m, NAME("ffn_gate.weight"), F, D, &ly->w_gate, err)) ||
        (s = gptc_model_bind_wt(m, NAME("ffn_up.weight"), F, D, &ly->w_up, err)) ||
        (s = gptc_model_bind_wt(m, NAME("ffn_down.weight"), D, F, &ly->w_down, err)) ||
        (s = gptc_model_bind_vec(m, NAME("post_ffw_norm.weight"), D, &ly->post_ffw_norm, err)))
        return s;
    if (P && ((s = gptc_model_bind_wt(m, NAME("inp_gate.weight"), P, D, &ly->ple_gate, err)) ||
              (s = gptc_model_bind_wt(m, NAME("proj.weight"), D, P, &ly->ple_proj, err)) ||
              (s = gptc_model_bind_vec(m, NAME("post_norm.weight"), D, &ly->ple_post_norm, err))))
        return s;
    float *scale = NULL;
    if ((s = gptc_model_bind_vec_opt(m, NAME("layer_output_scale.weight"), 1, &scale, err)))
        return s;
    ly->out_scale = scale ? scale[0] : 1.0f;
    free(scale);
    if (!isfinite(ly->out_scale))
        return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' is not finite", nm);
#undef NAME
    return GPTC_OK;
}

static gptc_status g4_bind(gptc_model *m, gptc_err *err)
{
    gptc_hparams *hp = &m->hp;
    const char *a = hp->arch;
    int L = hp->n_layer, D = hp->n_embd, P = m->n_ple, n_shared, hd_swa;
    gptc_status s;
    if ((s = gptc_model_bind_io(m, 0, err)) || (s = gptc_model_alloc_layers(m, err))) return s;
    if ((s = gptc_hp_int(m->file, a, "attention.shared_kv_layers", 0, L - 1, 0, &n_shared, err)) ||
        (s = gptc_hp_int(m->file, a, "attention.key_length_swa", 1, 4096, hp->head_dim, &hd_swa,
                         err)))
        return s;
    int *arr = calloc((size_t)L * 4, sizeof *arr);
    if (!arr) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    int *n_head = arr, *n_head_kv = arr + L, *n_ff = arr + 2 * L, *local = arr + 3 * L;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.head_count_kv", a);
    if ((s = gptc_hp_int_arr(m->file, a, "attention.head_count", L, 1, 4096, -1, n_head, err)) ||
        (s = gptc_hp_int_arr(m->file, a, "feed_forward_length", L, 1, 1 << 20, -1, n_ff, err)) ||
        (s = g4_pattern(m, local, err)))
        goto done;
    if (gptc_gguf_find_kv(m->file, key)) {
        if ((s = gptc_hp_int_arr(m->file, a, "attention.head_count_kv", L, 1, 4096, -1, n_head_kv,
                                 err)))
            goto done;
    } else {
        memcpy(n_head_kv, n_head, (size_t)L * sizeof *n_head);
    }
    hp->n_head = hp->n_head_kv = hp->n_ff = 0;
    for (int l = 0; l < L && !s; l++) {
        gptc_layer *ly = &m->layers[l];
        if (n_head[l] % n_head_kv[l]) {
            s = gptc_fail(err, GPTC_E_FORMAT,
                          "model: layer %d: head_count %d is not a multiple of head_count_kv %d", l,
                          n_head[l], n_head_kv[l]);
            break;
        }
        ly->n_head = n_head[l];
        ly->n_head_kv = n_head_kv[l];
        ly->n_ff = n_ff[l];
        ly->hd = local[l] ? hd_swa : hp->head_dim;
        ly->n_swa = local[l] ? m->n_swa : 0;
        ly->rope = &m->rope[local[l] ? 1 : 0];
        hp->n_head = GPTC_MAX(hp->n_head, n_head[l]);
        hp->n_head_kv = GPTC_MAX(hp->n_head_kv, n_head_kv[l]);
        hp->n_ff = GPTC_MAX(hp->n_ff, n_ff[l]);
        ly->kv_src = l;
        if (l >= L - n_shared) { /* the last earlier layer of its kind that has its own K/V */
            int src = -1;
            for (int j = L - n_shared - 1; j >= 0 && src < 0; j--)
                if (local[j] == local[l]) src = j;
            if (src < 0) {
                s = gptc_fail(err, GPTC_E_FORMAT,
                              "model: %s.attention.shared_kv_layers %d: layer %d has no earlier "
                              "%s layer to share K/V with",
                              a, n_shared, l, local[l] ? "local" : "global");
                break;
            }
            if (m->layers[src].n_head_kv != ly->n_head_kv) {
                s = gptc_fail(err, GPTC_E_FORMAT,
                              "model: layer %d shares the K/V of layer %d but has %d KV heads, "
                              "not %d",
                              l, src, ly->n_head_kv, m->layers[src].n_head_kv);
                break;
            }
            ly->kv_src = src;
        }
    }
    if (s) goto done;
    if (P) {
        if ((s = gptc_model_bind_wt(m, "per_layer_token_embd.weight", hp->n_vocab, L * P,
                                    &m->ple_embd, err)) ||
            (s = gptc_model_bind_wt(m, "per_layer_model_proj.weight", L * P, D, &m->ple_model_proj,
                                    err)) ||
            (s = gptc_model_bind_vec(m, "per_layer_proj_norm.weight", P, &m->ple_proj_norm, err)))
            goto done;
        /* one row of the per-layer token table is read per token */
        m->weight_bytes -=
            (uint64_t)gptc_row_bytes(m->ple_embd.type, L * P) * (uint64_t)(hp->n_vocab - 1);
    }
    for (int l = 0; l < L && !s; l++)
        s = g4_layer(m, l, err);
done:
    free(arr);
    return s;
}

/* c->ple (T, L * P): every layer's per-layer input of every token of the batch */
static void g4_per_layer_inputs(gptc_fwd *f)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    int T = f->T, D = m->hp.n_embd, L = m->hp.n_layer, P = m->n_ple, LP = L * P;
    float eps = m->hp.norm_eps, ps = 1.0f / sqrtf((float)D), es = sqrtf((float)P),
          is = 1.0f / sqrtf(2.0f);
    float *row = c->ple + (size_t)c->n_batch * LP;
    memcpy(c->xb, c->x, (size_t)T * D * sizeof(float)); /* the product may round its input */
    gptc_blk_matmul(f, c->ple, &m->ple_model_proj, c->xb, NULL, T);
    for (int t = 0; t < T; t++) {
        gptc_row_to_f32(row, m->ple_embd.data, m->ple_embd.type, LP, f->b->token[t]);
        for (int l = 0; l < L; l++) {
            float *y = c->ple + (size_t)t * LP + (size_t)l * P;
            for (int i = 0; i < P; i++)
                y[i] *= ps;
            gptc_rmsnorm(y, y, m->ple_proj_norm, P, eps);
            for (int i = 0; i < P; i++)
                y[i] = (y[i] + row[l * P + i] * es) * is;
        }
    }
}

static gptc_status g4_forward(gptc_fwd *f, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    int T = f->T, D = m->hp.n_embd, L = m->hp.n_layer, P = m->n_ple;
    float *g = c->ple ? c->ple + (size_t)c->n_batch * L * P : NULL; /* (T, P) */
    (void)err;
    gptc_blk_embed(f);
    if (P) g4_per_layer_inputs(f);
    for (int l = 0; l < L; l++) {
        const gptc_layer *ly = &m->layers[l];
        f->l = l;
        f->ly = ly;
        gptc_blk_prenorm_layer(f);
        if (P) {
            memcpy(c->xb, c->x, (size_t)T * D * sizeof(float));
            gptc_blk_matmul(f, g, &ly->ple_gate, c->xb, NULL, T);
            for (int t = 0; t < T; t++) {
                float *gt = g + (size_t)t * P;
                const float *pl = c->ple + (size_t)t * L * P + (size_t)l * P;
                gptc_gelu_f16(gt, P);
                for (int i = 0; i < P; i++)
                    gt[i] *= pl[i];
            }
            gptc_blk_matmul(f, c->xb2, &ly->ple_proj, g, NULL, T);
            gptc_blk_residual(f, ly->ple_post_norm);
        }
        if (ly->out_scale != 1.0f)
            for (size_t i = 0; i < (size_t)T * D; i++)
                c->x[i] *= ly->out_scale;
    }
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_gemma4 = {GPTC_ARCH_GEMMA4, "gemma4", g4_hparams, g4_bind,
                                        g4_forward};
