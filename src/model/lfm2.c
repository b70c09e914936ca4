/*
 * lfm2.c — the lfm2 architecture (LiquidAI LFM2, as llama.cpp's converter writes
 * Lfm2ForCausalLM): pre-norm RMSNorm layers of two kinds, interleaved, each followed by a
 * SwiGLU feed-forward:
 *   - attention layers (attention.head_count_kv[l] > 0): grouped-query attention with per-head
 *     q/k RMSNorm, NEOX rope over the whole head;
 *   - gated short-convolution layers (head_count_kv[l] = 0):
 *       B, C, x = split(in_proj · h, 3)     (rows [0, D), [D, 2D), [2D, 3D) of in_proj)
 *       y = C ⊙ conv(B ⊙ x)                 (causal depthwise conv of shortconv.l_cache taps)
 *       out = out_proj · y
 *     conv(u)_t[ch] = Σ_k w[ch][k] · u_{t-K+1+k}[ch], k = 0 the oldest tap (shortconv.conv is
 *     [K, D], ggml order); u before the sequence's first token is 0. No activation, no bias.
 * The final norm is token_embd_norm (HF embedding_norm), applied after the last layer; the
 * output is tied to token_embd unless the file has output.weight.
 *
 * Recurrent state: a conv layer keeps, per sequence, the last K - 1 values of B ⊙ x
 * (n_state = (K - 1) · D floats, slot j at j · D, j = 0 the oldest), so decode is one step.
 * A batch's conv is computed chunk-parallel: every (token, channel) output reads its K - 1
 * predecessors straight from the batch (or the state, before the batch's first token of that
 * sequence), split over channels across threads; then each sequence's window moves to its last
 * K - 1 values. conv_scalar (c->scalar_ref) is the per-token loop it must equal bit for bit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "model/decode.h"
#include "quant/quant.h"

#define MAX_TAPS 8

static gptc_status lfm2_hparams(gptc_model *m, gptc_err *err)
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
        (s = gptc_hp_int(f, a, "context_length", 1, 1 << 24, -1, &hp->n_ctx_train, err)) ||
        (s = gptc_hp_float(f, a, "rope.freq_base", 10000.0, &hp->rope_base, err)) ||
        (s = gptc_hp_float(f, a, "attention.layer_norm_rms_epsilon", 1e-5, &hp->norm_eps, err)))
        return s;
    if (hp->n_embd % hp->n_head || (hp->n_embd / hp->n_head) % 2)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: embedding_length %d is not a multiple of head_count %d with an "
                         "even head size",
                         hp->n_embd, hp->n_head);
    hp->head_dim = hp->n_rot = hp->n_embd / hp->n_head;
    m->causal = 1;
    m->act = GPTC_ACT_SILU;
    if ((s = gptc_model_rope(m, &m->rope[0], hp->n_rot, hp->rope_base, 1, NULL, err))) return s;
    m->n_rope = 1;
    return gptc_rope_scaling(m, err);
}

/* shortconv.conv [K, D] as an owned (D, K) f32 copy */
static gptc_status bind_taps(gptc_model *m, const char *name, int D, int *K, float **out,
                             gptc_err *err)
{
    const gguf_tensor *t = gptc_gguf_find_tensor(m->file, name);
    if (!t) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' is missing", name);
    if (t->n_dims != 2 || t->ne[1] != (uint64_t)D || t->ne[0] != (uint64_t)*K)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: tensor '%s' has shape [%llu, %llu%s], expected [%d, %d] "
                         "(shortconv.l_cache, embedding_length)",
                         name, (unsigned long long)t->ne[0],
                         (unsigned long long)(t->n_dims > 1 ? t->ne[1] : 0),
                         t->n_dims > 2 ? ", ..." : "", *K, D);
    const gptc_type_traits *tt = gptc_type_info(t->type);
    if (!tt || !tt->to_float || tt->blck != 1)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: tensor '%s' has type %s; gptc reads the convolution taps as "
                         "f32, f16 or bf16",
                         name, tt ? tt->name : "unknown");
    float *w = malloc((size_t)D * *K * sizeof *w);
    if (!w) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    for (int ch = 0; ch < D; ch++)
        gptc_row_to_f32(w + (size_t)ch * *K, t->data, t->type, *K, ch);
    m->weight_bytes += t->nbytes;
    *out = w;
    return GPTC_OK;
}

static gptc_status lfm2_bind(gptc_model *m, gptc_err *err)
{
    gptc_hparams *hp = &m->hp;
    int L = hp->n_layer, D = hp->n_embd, K;
    gptc_status s;
    int *kv = malloc((size_t)L * sizeof *kv);
    if (!kv) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    if ((s = gptc_hp_int_arr(m->file, hp->arch, "attention.head_count_kv", L, 0, hp->n_head, -1, kv,
                             err)) ||
        (s = gptc_hp_int(m->file, hp->arch, "shortconv.l_cache", 2, MAX_TAPS, -1, &K, err)) ||
        (s = gptc_model_bind_io_norm(m, 0, "token_embd_norm", err)) ||
        (s = gptc_model_alloc_layers(m, err))) {
        free(kv);
        return s;
    }
    hp->n_head_kv = 0;
    for (int l = 0; l < L && !s; l++) {
        gptc_layer *ly = &m->layers[l];
        char nm[96];
        ly->n_head_kv = kv[l];
        hp->n_head_kv = GPTC_MAX(hp->n_head_kv, kv[l]);
        if (kv[l] > 0 && hp->n_head % kv[l]) {
            s = gptc_fail(err, GPTC_E_FORMAT,
                          "model: head_count %d is not a multiple of head_count_kv[%d] = %d",
                          hp->n_head, l, kv[l]);
            break;
        }
        if (kv[l] > 0) { /* attention */
            if ((s = gptc_model_bind_layer(m, l, 0, 1, 0, err))) break;
            snprintf(nm, sizeof nm, "blk.%d.attn_q_norm.weight", l);
            if ((s = gptc_model_bind_vec(m, nm, ly->hd, &ly->q_norm, err))) break;
            snprintf(nm, sizeof nm, "blk.%d.attn_k_norm.weight", l);
            s = gptc_model_bind_vec(m, nm, ly->hd, &ly->k_norm, err);
            continue;
        }
        /* short convolution: no attention, no KV */
        ly->rope = NULL;
        gptc_shortconv *sc = calloc(1, sizeof *sc);
        if (!sc) {
            s = gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
            break;
        }
        ly->sconv = sc;
        sc->k = K;
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
        if ((s = gptc_model_bind_vec(m, NAME("attn_norm.weight"), D, &ly->attn_norm, err)) ||
            (s = gptc_model_bind_wt(m, NAME("shortconv.in_proj.weight"), 3 * D, D, &sc->in_proj,
                                    err)) ||
            (s = bind_taps(m, NAME("shortconv.conv.weight"), D, &K, &sc->w, err)) ||
            (s = gptc_model_bind_wt(m, NAME("shortconv.out_proj.weight"), D, D, &sc->out_proj,
                                    err)) ||
            (s = gptc_model_bind_vec(m, NAME("ffn_norm.weight"), D, &ly->ffn_norm, err)) ||
            (s = gptc_model_bind_wt(m, NAME("ffn_gate.weight"), ly->n_ff, D, &ly->w_gate, err)) ||
            (s = gptc_model_bind_wt(m, NAME("ffn_up.weight"), ly->n_ff, D, &ly->w_up, err)) ||
            (s = gptc_model_bind_wt(m, NAME("ffn_down.weight"), D, ly->n_ff, &ly->w_down, err)))
            break;
#undef NAME
        ly->n_state = (K - 1) * D;
        m->rs_floats = GPTC_MAX(m->rs_floats, 3 * D);
    }
    free(kv);
    return s;
}

/* ----- the short convolution ------------------------------------------------------------------ */

/* Where the input d tokens before batch token t (same sequence) is: a batch index >= 0, or
 * -(j + 1) for slot j of the sequence's state window (K - 1 slots, the newest last). */
static int tap_src(const gptc_batch *b, int t, int d, int K)
{
    int s = b->seq_id ? b->seq_id[t] : 0, i = t, back = 0;
    while (back < d) {
        int p = i - 1;
        while (p >= 0 && (b->seq_id ? b->seq_id[p] : 0) != s)
            p--;
        if (p < 0) break;
        i = p;
        back++;
    }
    return back == d ? i : -(K - 1 - (d - back) + 1);
}

/* rs (T, 3D) holds B | C | x per token, with B already replaced by B ⊙ x; y (T, D) out */
typedef struct conv_job {
    gptc_fwd *f;
    const gptc_shortconv *sc;
    const float *rs;
    float *y;
} conv_job;

static void job_conv(void *arg, int ith, int nth)
{
    conv_job *j = arg;
    gptc_fwd *f = j->f;
    gptc_ctx *c = f->c;
    const gptc_batch *b = f->b;
    int D = c->model->hp.n_embd, K = j->sc->k, c0, c1;
    gptc_split(D, ith, nth, &c0, &c1);
    for (int t = 0; t < f->T; t++) {
        const float *src[MAX_TAPS];
        const float *win = gptc_state(c, f->l, b->seq_id ? b->seq_id[t] : 0);
        for (int k = 0; k < K; k++) { /* tap k reads the input K - 1 - k tokens back */
            int w = tap_src(b, t, K - 1 - k, K);
            src[k] = w >= 0 ? j->rs + (size_t)w * 3 * D : win + (size_t)(-w - 1) * D;
        }
        const float *C = j->rs + (size_t)t * 3 * D + D;
        float *y = j->y + (size_t)t * D;
        for (int ch = c0; ch < c1; ch++) {
            const float *w = j->sc->w + (size_t)ch * K;
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc += w[k] * src[k][ch];
            y[ch] = C[ch] * acc;
        }
    }
}

/* Move each sequence's window past the batch: its last K - 1 inputs (after job_conv read it). */
static void conv_update_state(gptc_fwd *f, const gptc_shortconv *sc, const float *rs)
{
    gptc_ctx *c = f->c;
    const gptc_batch *b = f->b;
    int D = c->model->hp.n_embd, K = sc->k;
    uint64_t done = 0;
    for (int t = f->T - 1; t >= 0; t--) { /* the last token of each sequence */
        int s = b->seq_id ? b->seq_id[t] : 0;
        if (done >> s & 1) continue;
        done |= 1ull << s;
        float *win = gptc_state(c, f->l, s);
        int src[MAX_TAPS];
        for (int d = 0; d < K - 1; d++) /* slot K - 2 - d: the input d tokens before t */
            src[K - 2 - d] = d == 0 ? t : tap_src(b, t, d, K);
        /* slots from the old window only move towards the start: in order, nothing is
         * overwritten before it is read */
        for (int i = 0; i < K - 1; i++) {
            const float *from =
                src[i] >= 0 ? rs + (size_t)src[i] * 3 * D : win + (size_t)(-src[i] - 1) * D;
            if (from != win + (size_t)i * D) memmove(win + (size_t)i * D, from, D * sizeof *win);
        }
    }
}

/* The per-token reference: every token in batch order, its sequence's window shifted by one. */
static void conv_scalar(gptc_fwd *f, const gptc_shortconv *sc, const float *rs, float *yout)
{
    gptc_ctx *c = f->c;
    const gptc_batch *b = f->b;
    int D = c->model->hp.n_embd, K = sc->k;
    for (int t = 0; t < f->T; t++) {
        float *win = gptc_state(c, f->l, b->seq_id ? b->seq_id[t] : 0);
        const float *u = rs + (size_t)t * 3 * D, *C = u + D;
        for (int ch = 0; ch < D; ch++) {
            const float *w = sc->w + (size_t)ch * K;
            float acc = 0.0f;
            for (int k = 0; k < K - 1; k++)
                acc += w[k] * win[(size_t)k * D + ch];
            acc += w[K - 1] * u[ch];
            yout[(size_t)t * D + ch] = C[ch] * acc;
            for (int k = 0; k + 1 < K - 1; k++)
                win[(size_t)k * D + ch] = win[(size_t)(k + 1) * D + ch];
            win[(size_t)(K - 2) * D + ch] = u[ch];
        }
    }
}

/* The short-convolution block on c->xb (T, D, normed): out_proj · y into c->xb2. */
static void blk_shortconv(gptc_fwd *f, const gptc_shortconv *sc)
{
    gptc_ctx *c = f->c;
    int T = f->T, D = c->model->hp.n_embd;
    float *rs = c->rs;
    gptc_blk_matmul(f, rs, &sc->in_proj, c->xb, NULL, T);
    for (int t = 0; t < T; t++) { /* B ⊙ x, over B */
        float *u = rs + (size_t)t * 3 * D;
        for (int ch = 0; ch < D; ch++)
            u[ch] *= u[2 * D + ch];
    }
    float *y = c->xb; /* the normed input is consumed */
    if (c->scalar_ref) {
        conv_scalar(f, sc, rs, y);
    } else {
        conv_job j = {.f = f, .sc = sc, .rs = rs, .y = y};
        if ((uint64_t)T * D * sc->k < (1u << 16) || gptc_pool_size(c->pool) == 1)
            job_conv(&j, 0, 1);
        else
            gptc_pool_run(c->pool, job_conv, &j);
        conv_update_state(f, sc, rs);
    }
    gptc_blk_matmul(f, c->xb2, &sc->out_proj, y, NULL, T);
}

static gptc_status lfm2_forward(gptc_fwd *f, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    gptc_blk_embed(f);
    for (int l = 0; l < m->hp.n_layer; l++) {
        f->l = l;
        f->ly = &m->layers[l];
        gptc_blk_norm(f, c->xb, c->x, f->ly->attn_norm, NULL);
        if (f->ly->sconv)
            blk_shortconv(f, f->ly->sconv);
        else
            gptc_blk_attention(f);
        gptc_blk_residual(f, NULL);
        gptc_blk_norm(f, c->xb, c->x, f->ly->ffn_norm, NULL);
        gptc_blk_ffn(f);
        gptc_blk_residual(f, NULL);
    }
    return GPTC_OK;
}

const gptc_arch_def gptc_arch_lfm2 = {GPTC_ARCH_LFM2, "lfm2", lfm2_hparams, lfm2_bind,
                                      lfm2_forward};
