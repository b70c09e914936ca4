/*
 * gpt2.c — the gpt2 architecture: weight binding (llama.cpp's tensor names and gpt2.* keys) and
 * its forward pass, which gptc_decode (llama.c) hands over to after checking the batch.
 *
 * Per layer: x += Wo · attn(q, k, v) + bo with (q | k | v) = Wqkv · n + bqkv, n = layernorm(x);
 * then x += Wdown · gelu(Wup · n + bup) + bdown with n = layernorm(x). Positions are learned
 * (position_embd, one row per position up to the trained context); no RoPE. GELU is the tanh
 * approximation GPT-2 was trained with. The classifier is output.weight or, when absent,
 * token_embd (tied, as GPT-2 is).
 *
 * The KV cache, cells and sequences work exactly as for llama (context.h). Shape letters as in
 * context.h: T tokens in the batch, D, F, V, hd = head_dim; Q = K = D (no grouped-query).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "../quant/quant.h"

/* ----- binding -------------------------------------------------------------------------------- */

/* Rows [r0, r0 + rows) of w as a weight of its own (a view; no copy). */
static gptc_wt rows_of(const gptc_wt *w, int r0, int rows)
{
    gptc_wt v = *w;
    size_t row_bytes = (size_t)w->cols * gptc_type_info(w->type)->type_size;
    v.data = (const char *)w->data + (size_t)r0 * row_bytes;
    v.rows = rows;
    return v;
}

gptc_status gptc_gpt2_bind(gptc_model *m, gptc_err *err)
{
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd, F = hp->n_ff, V = hp->n_vocab, C = hp->n_ctx_train;
    gptc_status s;
    if (hp->n_head_kv != hp->n_head)
        return gptc_fail(err, GPTC_E_FORMAT, "model: gpt2 with head_count_kv %d != head_count %d",
                         hp->n_head_kv, hp->n_head);
    const gguf_tensor *te = gguf_find_tensor(m->file, "token_embd.weight");
    if (te && te->n_dims == 2 && te->ne[0] == (uint64_t)D && te->ne[1] != (uint64_t)V)
        return gptc_fail(err, GPTC_E_FORMAT, "model: the vocabulary has %d tokens but token_embd.weight has %llu rows",
                         V, (unsigned long long)te->ne[1]);
    if ((s = gptc_model_bind_wt(m, "token_embd.weight", V, D, &m->tok_embd, err)) ||
        (s = gptc_model_bind_wt(m, "position_embd.weight", C, D, &m->pos_embd, err)) ||
        (s = gptc_model_bind_vec(m, "output_norm.weight", D, &m->out_norm, err)) ||
        (s = gptc_model_bind_vec(m, "output_norm.bias", D, &m->out_norm_b, err)))
        return s;
    /* embeddings read one row per token */
    m->weight_bytes -= (uint64_t)gptc_type_info(m->tok_embd.type)->type_size * D * (V - 1);
    m->weight_bytes -= (uint64_t)gptc_type_info(m->pos_embd.type)->type_size * D * (C - 1);
    const gptc_wt *es[] = {&m->tok_embd, &m->pos_embd};
    for (int i = 0; i < 2; i++)
        if (es[i]->type != GPTC_TYPE_F32 && es[i]->type != GPTC_TYPE_F16 && es[i]->type != GPTC_TYPE_BF16)
            return gptc_fail(err, GPTC_E_UNSUPPORTED, "model: gpt2 with %s weights is not supported yet",
                             gptc_type_info(es[i]->type)->name);
    if (gguf_find_tensor(m->file, "output.weight")) {
        if ((s = gptc_model_bind_wt(m, "output.weight", V, D, &m->output, err))) return s;
        m->hp.tied_output = 0;
    } else {
        m->output = m->tok_embd;
        m->weight_bytes += (uint64_t)gptc_type_info(m->tok_embd.type)->type_size * D * V;
        m->hp.tied_output = 1;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        char nm[96];
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), nm)
        if ((s = gptc_model_bind_vec(m, NAME("attn_norm.weight"), D, &ly->attn_norm, err)) ||
            (s = gptc_model_bind_vec(m, NAME("attn_norm.bias"), D, &ly->attn_norm_b, err)) ||
            (s = gptc_model_bind_wt(m, NAME("attn_qkv.weight"), 3 * D, D, &ly->wqkv, err)) ||
            (s = gptc_model_bind_vec(m, NAME("attn_qkv.bias"), 3 * D, &ly->bqkv, err)) ||
            (s = gptc_model_bind_wt(m, NAME("attn_output.weight"), D, D, &ly->wo, err)) ||
            (s = gptc_model_bind_vec(m, NAME("attn_output.bias"), D, &ly->bo, err)) ||
            (s = gptc_model_bind_vec(m, NAME("ffn_norm.weight"), D, &ly->ffn_norm, err)) ||
            (s = gptc_model_bind_vec(m, NAME("ffn_norm.bias"), D, &ly->ffn_norm_b, err)) ||
            (s = gptc_model_bind_wt(m, NAME("ffn_up.weight"), F, D, &ly->w_up, err)) ||
            (s = gptc_model_bind_vec(m, NAME("ffn_up.bias"), F, &ly->b_up, err)) ||
            (s = gptc_model_bind_wt(m, NAME("ffn_down.weight"), D, F, &ly->w_down, err)) ||
            (s = gptc_model_bind_vec(m, NAME("ffn_down.bias"), D, &ly->b_down, err)))
            return s;
#undef NAME
        const gptc_wt *ws[] = {&ly->wqkv, &ly->wo, &ly->w_up, &ly->w_down};
        for (int i = 0; i < 4; i++)
            if (ws[i]->type != GPTC_TYPE_F32 && ws[i]->type != GPTC_TYPE_F16 && ws[i]->type != GPTC_TYPE_BF16)
                return gptc_fail(err, GPTC_E_UNSUPPORTED, "model: gpt2 with %s weights is not supported yet",
                                 gptc_type_info(ws[i]->type)->name);
        ly->wq = rows_of(&ly->wqkv, 0, D);
        ly->wk = rows_of(&ly->wqkv, D, D);
        ly->wv = rows_of(&ly->wqkv, 2 * D, D);
    }
    return GPTC_OK;
}

/* ----- small ops ------------------------------------------------------------------------------ */

/* o = (x - mean) / sqrt(var + eps) * w + b, (n) */
static void layernorm(float *o, const float *x, const float *w, const float *b, int n, float eps)
{
    float m = 0.0f, v = 0.0f;
    for (int i = 0; i < n; i++) m += x[i];
    m /= (float)n;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    float s = 1.0f / sqrtf(v / (float)n + eps);
    for (int i = 0; i < n; i++) o[i] = (x[i] - m) * s * w[i] + b[i];
}

static void add_bias(float *y, const float *b, int n)
{
    for (int i = 0; i < n; i++) y[i] += b[i];
}

/* GELU, tanh approximation (GPT-2) */
static void gelu(float *x, int n)
{
    for (int i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

/* ----- parallel steps ------------------------------------------------------------------------- */

static void split_rows(int R, int ith, int nth, int *r0, int *r1)
{
    int chunks = (R + 15) / 16, c0, c1;
    gptc_split(chunks, ith, nth, &c0, &c1);
    *r0 = GPTC_MIN(R, c0 * 16);
    *r1 = GPTC_MIN(R, c1 * 16);
}

static void matmul_rows(const gptc_ops *ops, float *Y, int ldy, const gptc_wt *w, const float *X,
                        int T, int r0, int r1)
{
    if (r0 >= r1) return;
    switch (w->type) {
    case GPTC_TYPE_F32: ops->matmul_f32(Y, ldy, w->data, X, T, w->cols, r0, r1); break;
    case GPTC_TYPE_F16: ops->matmul_f16(Y, ldy, w->data, X, T, w->cols, r0, r1); break;
    case GPTC_TYPE_BF16: ops->matmul_bf16(Y, ldy, w->data, X, T, w->cols, r0, r1); break;
    default: GPTC_ASSERT(!"weight type checked at load");
    }
}

typedef struct fwd {
    gptc_ctx *c;
    const gptc_layer *ly;
    int T, l;
    const int32_t *pos;
    /* the generic job: Y (T, w->rows) = X · w^T (+ bias) (gelu) */
    float *Y;
    const gptc_wt *w;
    const float *X, *bias;
    int act;
} fwd;

static void job_matmul(void *arg, int ith, int nth)
{
    fwd *f = arg;
    int r0, r1, R = f->w->rows;
    split_rows(R, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    matmul_rows(f->c->ops, f->Y, R, f->w, f->X, f->T, r0, r1);
    for (int t = 0; t < f->T; t++) {
        float *y = f->Y + (size_t)t * R + r0;
        if (f->bias) add_bias(y, f->bias + r0, r1 - r0);
        if (f->act) gelu(y, r1 - r0);
    }
}

static void run_matmul(fwd *f, float *Y, const gptc_wt *w, const float *X, const float *bias, int act, int T)
{
    f->Y = Y;
    f->w = w;
    f->X = X;
    f->bias = bias;
    f->act = act;
    int saved = f->T;
    f->T = T;
    gptc_pool_run(f->c->pool, job_matmul, f);
    f->T = saved;
}

/* q, k, v (+ biases) for every token; k and v stored in each token's cache cell. */
static void job_qkv(void *arg, int ith, int nth)
{
    fwd *f = arg;
    gptc_ctx *c = f->c;
    int T = f->T, D = c->model->hp.n_embd, r0, r1;
    const float *bq = f->ly->bqkv, *bk = bq + D, *bv = bq + 2 * D;
    split_rows(D, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    matmul_rows(c->ops, c->q, D, &f->ly->wq, c->xb, T, r0, r1);
    matmul_rows(c->ops, c->kb, D, &f->ly->wk, c->xb, T, r0, r1);
    matmul_rows(c->ops, c->vb, D, &f->ly->wv, c->xb, T, r0, r1);
    size_t layer_off = (size_t)f->l * c->n_ctx * D;
    for (int t = 0; t < T; t++) {
        float *q = c->q + (size_t)t * D, *k = c->kb + (size_t)t * D, *v = c->vb + (size_t)t * D;
        add_bias(q + r0, bq + r0, r1 - r0);
        add_bias(k + r0, bk + r0, r1 - r0);
        add_bias(v + r0, bv + r0, r1 - r0);
        size_t cell_off = layer_off + (size_t)c->cell_of[t] * D;
        memcpy(c->k_cache + cell_off + r0, k + r0, (size_t)(r1 - r0) * sizeof(float));
        memcpy(c->v_cache + cell_off + r0, v + r0, (size_t)(r1 - r0) * sizeof(float));
    }
}

/* Attention of every (token, head) pair over the cells its sequence sees at positions <= its
 * own (as llama.c). Output: xb (T, D). */
static void job_attention(void *arg, int ith, int nth)
{
    fwd *f = arg;
    gptc_ctx *c = f->c;
    const gptc_hparams *hp = &c->model->hp;
    int H = hp->n_head, hd = hp->head_dim, D = hp->n_embd;
    float scale = 1.0f / sqrtf((float)hd);
    const float *kc = c->k_cache + (size_t)f->l * c->n_ctx * D;
    const float *vc = c->v_cache + (size_t)f->l * c->n_ctx * D;
    float *att = c->att + (size_t)ith * c->n_ctx;
    int p0, p1;
    gptc_split(f->T * H, ith, nth, &p0, &p1);
    for (int p = p0; p < p1; p++) {
        int t = p / H, h = p % H;
        gptc_attend_head(c, c->q + (size_t)t * D + (size_t)h * hd, kc + (size_t)h * hd,
                         vc + (size_t)h * hd, (size_t)D, hd, c->cell_of[t], f->pos[t], scale, att,
                         c->xb + (size_t)t * D + (size_t)h * hd);
    }
}

/* ----- the batch ------------------------------------------------------------------------------ */

gptc_status gptc_gpt2_decode(gptc_ctx *c, const gptc_batch *b, gptc_err *err)
{
    const gptc_model *m = c->model;
    const gptc_hparams *hp = &m->hp;
    int T = b->n_tokens, D = hp->n_embd;
    for (int t = 0; t < T; t++)
        if (b->pos[t] >= hp->n_ctx_train)
            return gptc_fail(err, GPTC_E_RANGE, "decode: position %d is beyond the %d positions gpt2 learned",
                             b->pos[t], hp->n_ctx_train);

    /* cells first, so tokens of one sequence in this batch see each other causally */
    for (int t = 0, i = 0; t < T; t++) {
        while (c->cell_pos[i] >= 0) i++;
        c->cell_of[t] = i;
        c->cell_pos[i] = b->pos[t];
        c->cell_seq[i] = 1ull << (b->seq_id ? b->seq_id[t] : 0);
        if (i + 1 > c->n_cells_hi) c->n_cells_hi = i + 1;
    }
    float *row = c->xb2; /* (D) scratch for the position row */
    for (int t = 0; t < T; t++) {
        float *x = c->x + (size_t)t * D;
        gptc_row_to_f32(x, m->tok_embd.data, m->tok_embd.type, D, b->token[t]);
        gptc_row_to_f32(row, m->pos_embd.data, m->pos_embd.type, D, b->pos[t]);
        for (int i = 0; i < D; i++) x[i] += row[i];
    }

    fwd f = {.c = c, .T = T, .pos = b->pos};
    for (int l = 0; l < hp->n_layer; l++) {
        const gptc_layer *ly = &m->layers[l];
        f.ly = ly;
        f.l = l;
        for (int t = 0; t < T; t++)
            layernorm(c->xb + (size_t)t * D, c->x + (size_t)t * D, ly->attn_norm, ly->attn_norm_b, D, hp->norm_eps);
        gptc_pool_run(c->pool, job_qkv, &f);
        gptc_pool_run(c->pool, job_attention, &f);
        run_matmul(&f, c->xb2, &ly->wo, c->xb, ly->bo, 0, T);
        for (size_t i = 0; i < (size_t)T * D; i++) c->x[i] += c->xb2[i];

        for (int t = 0; t < T; t++)
            layernorm(c->xb + (size_t)t * D, c->x + (size_t)t * D, ly->ffn_norm, ly->ffn_norm_b, D, hp->norm_eps);
        run_matmul(&f, c->hb, &ly->w_up, c->xb, ly->b_up, 1, T);
        run_matmul(&f, c->xb2, &ly->w_down, c->hb, ly->b_down, 0, T);
        for (size_t i = 0; i < (size_t)T * D; i++) c->x[i] += c->xb2[i];
    }

    /* logits only for the tokens that asked (default: the last one) */
    int n_out = 0;
    for (int t = 0; t < T; t++) {
        int want = b->logits ? b->logits[t] != 0 : t == T - 1;
        c->logit_row[t] = want ? n_out : -1;
        if (want) {
            layernorm(c->xb + (size_t)n_out * D, c->x + (size_t)t * D, m->out_norm, m->out_norm_b, D, hp->norm_eps);
            n_out++;
        }
    }
    for (int t = T; t < c->n_batch; t++) c->logit_row[t] = -1;
    if (n_out) run_matmul(&f, c->logits, &m->output, c->xb, NULL, 0, n_out);
    return GPTC_OK;
}
