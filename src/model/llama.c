/*
 * llama.c — the forward pass of the llama architecture over a batch of tokens from any number
 * of sequences: gptc_decode, the one entry point every caller (run, chat, server, perplexity)
 * goes through.
 *
 * Per layer: x += Wo · attn(rope(Wq·n), rope(Wk·n), Wv·n) with n = rmsnorm(x), then
 * x += Wdown · (silu(Wgate·n) * Wup·n) with n = rmsnorm(x). The batch is processed as
 * matrix-matrix products (prefill) or matrix-vector (decode) by the same code; every product is
 * split by output rows across the thread pool.
 *
 * Shape letters as in context.h: T tokens in this batch, D, F, V, Q, K, hd = head_dim.
 */
#include <math.h>
#include <string.h>

#include "context.h"
#include "../core/fp16.h"
#include "../quant/quant.h"

/* ----- matrix products split across threads --------------------------------------------------- */

/* Rows [r0, r1) of R for thread ith: chunks of 16 rows so SIMD tiles never straddle threads,
 * and even, so a RoPE pair (2i, 2i+1) stays in one thread. */
static void split_rows(int R, int ith, int nth, int *r0, int *r1)
{
    int chunks = (R + 15) / 16, c0, c1;
    gptc_split(chunks, ith, nth, &c0, &c1);
    *r0 = GPTC_MIN(R, c0 * 16);
    *r1 = GPTC_MIN(R, c1 * 16);
}

/* Y (T, w->rows) = X (T, w->cols) · w^T, rows [r0, r1) only. A quantized w reads X in the form
 * gptc_prep_act left in c->xq (X itself is not read then). */
void gptc_matmul_rows(const gptc_ctx *c, float *Y, const gptc_wt *w, const float *X, int T, int r0,
                      int r1)
{
    const gptc_ops *ops = c->ops;
    if (r0 >= r1) return;
    switch (w->type) {
    case GPTC_TYPE_F32: ops->matmul_f32(Y, w->rows, w->data, X, T, w->cols, r0, r1); break;
    case GPTC_TYPE_F16: ops->matmul_f16(Y, w->rows, w->data, X, T, w->cols, r0, r1); break;
    case GPTC_TYPE_BF16: ops->matmul_bf16(Y, w->rows, w->data, X, T, w->cols, r0, r1); break;
    default: {
        GPTC_ASSERT(gptc_type_is_quant(w->type)); /* checked at load */
        const void *xq = c->xq[ops->act_form(w->type)];
        GPTC_ASSERT(xq); /* allocated at gptc_ctx_init for every form the model reads */
        ops->matmul_q(w->type, Y, w->rows, w->data, xq, T, w->cols, r0, r1);
    }
    }
}

/* ----- activations of quantized weights ------------------------------------------------------- */

typedef struct act_job {
    gptc_ctx *c;
    const float *X; /* (T, C) */
    int T, C;
    unsigned forms; /* bit f: convert into c->xq[f] */
} act_job;

static void job_act(void *arg, int ith, int nth)
{
    act_job *a = arg;
    const gptc_ops *ops = a->c->ops;
    int t0, t1;
    gptc_split(a->T, ith, nth, &t0, &t1);
    for (int f = 0; f < GPTC_ACT_FORMS; f++) {
        if (!(a->forms & 1u << f)) continue;
        size_t rb = ops->act_row_bytes(f, a->C);
        for (int t = t0; t < t1; t++)
            ops->act_quant(f, (char *)a->c->xq[f] + (size_t)t * rb, a->X + (size_t)t * a->C, a->C);
    }
}

/* x[i] = f16(x[i]) (ggml_f16 only) */
static void round_f16(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = gptc_f16_to_f32(gptc_f32_to_f16(x[i]));
}

void gptc_prep_act(gptc_ctx *c, float *X, int T, int C, const gptc_wt *w0, const gptc_wt *w1,
                   const gptc_wt *w2)
{
    const gptc_wt *ws[3] = {w0, w1, w2};
    act_job a = {.c = c, .X = X, .T = T, .C = C};
    int f16 = 0;
    for (int i = 0; i < 3; i++) {
        if (ws[i] && gptc_type_is_quant(ws[i]->type))
            a.forms |= 1u << c->ops->act_form(ws[i]->type);
        f16 |= ws[i] && ws[i]->type == GPTC_TYPE_F16;
    }
    if (a.forms) {
        /* a decode step's row is a microsecond of work: not worth waking the workers */
        if (T < 2 || (uint64_t)T * C < (1u << 15) || gptc_pool_size(c->pool) == 1) job_act(&a, 0, 1);
        else gptc_pool_run(c->pool, job_act, &a);
    }
    if (f16 && c->ggml_f16) round_f16(X, (size_t)T * C);
}

typedef struct fwd {
    gptc_ctx *c;
    const gptc_layer *ly;
    int T, l;
    const int32_t *pos;
    /* for the generic single-matrix job */
    float *Y;
    const gptc_wt *w;
    const float *X;
} fwd;

static void job_matmul(void *arg, int ith, int nth)
{
    fwd *f = arg;
    int r0, r1;
    split_rows(f->w->rows, ith, nth, &r0, &r1);
    gptc_matmul_rows(f->c, f->Y, f->w, f->X, f->T, r0, r1);
}

/* Rotate rows [r0, r1) (even r0) of the (T, n_heads*hd) matrix Y in place. */
static void rope_rows(const gptc_ctx *c, float *Y, int ld, int T, int r0, int r1)
{
    const gptc_hparams *hp = &c->model->hp;
    int hd = hp->head_dim, n_rot = hp->n_rot;
    for (int t = 0; t < T; t++) {
        float *y = Y + (size_t)t * ld;
        const float *cs = c->rope_cs + (size_t)t * n_rot;
        for (int r = r0; r < r1; r += 2) {
            int d = r % hd;
            if (d >= n_rot) continue;
            float cos_ = cs[d], sin_ = cs[d + 1];
            float x0 = y[r], x1 = y[r + 1];
            y[r] = x0 * cos_ - x1 * sin_;
            y[r + 1] = x0 * sin_ + x1 * cos_;
        }
    }
}

/* q, k, v for every token; RoPE on q and k; k and v stored in each token's cache cell. */
static void job_qkv(void *arg, int ith, int nth)
{
    fwd *f = arg;
    gptc_ctx *c = f->c;
    const gptc_hparams *hp = &c->model->hp;
    int T = f->T, Q = hp->n_head * hp->head_dim, K = hp->n_head_kv * hp->head_dim, r0, r1;

    split_rows(Q, ith, nth, &r0, &r1);
    gptc_matmul_rows(c, c->q, &f->ly->wq, c->xb, T, r0, r1);
    rope_rows(c, c->q, Q, T, r0, r1);
    if (c->ggml_f16)
        for (int t = 0; t < T; t++) round_f16(c->q + (size_t)t * Q + r0, (size_t)(r1 - r0));

    split_rows(K, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    gptc_matmul_rows(c, c->kb, &f->ly->wk, c->xb, T, r0, r1);
    gptc_matmul_rows(c, c->vb, &f->ly->wv, c->xb, T, r0, r1);
    rope_rows(c, c->kb, K, T, r0, r1);
    if (c->ggml_f16) { /* llama.cpp's KV cache is f16 */
        for (int t = 0; t < T; t++) {
            round_f16(c->kb + (size_t)t * K + r0, (size_t)(r1 - r0));
            round_f16(c->vb + (size_t)t * K + r0, (size_t)(r1 - r0));
        }
    }
    size_t layer_off = (size_t)f->l * c->n_ctx * K;
    for (int t = 0; t < T; t++) {
        size_t cell_off = layer_off + (size_t)c->cell_of[t] * K;
        memcpy(c->k_cache + cell_off + r0, c->kb + (size_t)t * K + r0, (size_t)(r1 - r0) * sizeof(float));
        memcpy(c->v_cache + cell_off + r0, c->vb + (size_t)t * K + r0, (size_t)(r1 - r0) * sizeof(float));
    }
}

/* Attention of every (token, head) pair over the cells its sequence sees at positions <= its
 * own. Output: xb (T, Q). */
static void job_attention(void *arg, int ith, int nth)
{
    fwd *f = arg;
    gptc_ctx *c = f->c;
    const gptc_hparams *hp = &c->model->hp;
    int H = hp->n_head, hd = hp->head_dim, group = H / hp->n_head_kv;
    int Q = H * hd, K = hp->n_head_kv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    const float *kc = c->k_cache + (size_t)f->l * c->n_ctx * K;
    const float *vc = c->v_cache + (size_t)f->l * c->n_ctx * K;
    float *att = c->att + (size_t)ith * c->n_ctx;
    /* (token, head) pairs dealt out in turn: a causal prompt's later tokens see more cells, so
     * contiguous halves would give the last thread most of the work */
    for (int p = ith; p < f->T * H; p += nth) {
        int t = p / H, h = p % H, kvh = h / group;
        gptc_attend_head(c, c->q + (size_t)t * Q + (size_t)h * hd, kc + (size_t)kvh * hd,
                         vc + (size_t)kvh * hd, (size_t)K, hd, c->cell_of[t], f->pos[t], scale, att,
                         c->xb + (size_t)t * Q + (size_t)h * hd);
    }
}

/* hb = silu(Wgate · xb) * (Wup · xb), rows split across threads */
static void job_gate_up(void *arg, int ith, int nth)
{
    fwd *f = arg;
    gptc_ctx *c = f->c;
    int F = c->model->hp.n_ff, r0, r1;
    split_rows(F, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    gptc_matmul_rows(c, c->hb, &f->ly->w_gate, c->xb, f->T, r0, r1);
    gptc_matmul_rows(c, c->hb2, &f->ly->w_up, c->xb, f->T, r0, r1);
    for (int t = 0; t < f->T; t++)
        gptc_swiglu(c->hb + (size_t)t * F + r0, c->hb2 + (size_t)t * F + r0, r1 - r0);
}

/* Run a job on the pool, or on the calling thread alone when it is too small to repay waking
 * the workers (a tiny model's whole step is a few microseconds; with another process on the
 * other core, a handoff can cost far more than the work). work: multiply-adds. */
#define PAR_MIN_WORK (1 << 16)
static void run_job(gptc_ctx *c, gptc_task_fn fn, fwd *f, uint64_t work)
{
    if (work < PAR_MIN_WORK || gptc_pool_size(c->pool) == 1) fn(f, 0, 1);
    else gptc_pool_run(c->pool, fn, f);
}

static void run_matmul(fwd *f, float *Y, const gptc_wt *w, const float *X, int T)
{
    f->Y = Y;
    f->w = w;
    f->X = X;
    int saved = f->T;
    f->T = T;
    run_job(f->c, job_matmul, f, (uint64_t)w->rows * w->cols * T);
    f->T = saved;
}

/* ----- the batch ------------------------------------------------------------------------------ */

static gptc_status check_batch(const gptc_ctx *c, const gptc_batch *b, gptc_err *err)
{
    if (!b || b->n_tokens <= 0 || !b->token || !b->pos)
        return gptc_fail(err, GPTC_E_INVALID, "decode: empty batch");
    if (b->n_tokens > c->n_batch)
        return gptc_fail(err, GPTC_E_INVALID, "decode: batch of %d tokens is over the context's n_batch %d",
                         b->n_tokens, c->n_batch);
    int V = c->model->hp.n_vocab, n_free = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        if (b->token[i] < 0 || b->token[i] >= V)
            return gptc_fail(err, GPTC_E_RANGE, "decode: token id %d is outside the vocabulary (0..%d)",
                             b->token[i], V - 1);
        if (b->pos[i] < 0) return gptc_fail(err, GPTC_E_RANGE, "decode: negative position %d", b->pos[i]);
        int s = b->seq_id ? b->seq_id[i] : 0;
        if (s < 0 || s >= c->n_seq_max)
            return gptc_fail(err, GPTC_E_RANGE, "decode: sequence id %d is outside 0..%d", s, c->n_seq_max - 1);
    }
    for (int i = 0; i < c->n_ctx && n_free < b->n_tokens; i++) n_free += c->cell_pos[i] < 0;
    if (n_free < b->n_tokens)
        return gptc_fail(err, GPTC_E_RANGE, "decode: the context is full (%d cells)", c->n_ctx);
    return GPTC_OK;
}

gptc_status gptc_decode(gptc_ctx *c, const gptc_batch *b, gptc_err *err)
{
    gptc_err_clear(err);
    gptc_status s = check_batch(c, b, err);
    if (s) return s;
    if (c->model->arch == GPTC_ARCH_GPT2) {
        s = gptc_gpt2_decode(c, b, err);
        if (!s && c->embd_sum) gptc_ctx_embd_accumulate(c, b);
        return s;
    }
    const gptc_model *m = c->model;
    const gptc_hparams *hp = &m->hp;
    int T = b->n_tokens, D = hp->n_embd, F = hp->n_ff, n_rot = hp->n_rot;

    /* cells first, so tokens of one sequence in this batch see each other causally */
    for (int t = 0, i = 0; t < T; t++) {
        while (c->cell_pos[i] >= 0) i++;
        c->cell_of[t] = i;
        c->cell_pos[i] = b->pos[t];
        c->cell_seq[i] = 1ull << (b->seq_id ? b->seq_id[t] : 0);
        if (i + 1 > c->n_cells_hi) c->n_cells_hi = i + 1;
    }
    for (int t = 0; t < T; t++) {
        gptc_row_to_f32(c->x + (size_t)t * D, m->tok_embd.data, m->tok_embd.type, D, b->token[t]);
        float *cs = c->rope_cs + (size_t)t * n_rot;
        for (int i = 0; i < n_rot / 2; i++) {
            float theta = (float)b->pos[t] * c->inv_freq[i];
            cs[2 * i] = cosf(theta);
            cs[2 * i + 1] = sinf(theta);
        }
    }

    fwd f = {.c = c, .T = T, .pos = b->pos};
    for (int l = 0; l < hp->n_layer; l++) {
        const gptc_layer *ly = &m->layers[l];
        f.ly = ly;
        f.l = l;
        for (int t = 0; t < T; t++)
            gptc_rmsnorm(c->xb + (size_t)t * D, c->x + (size_t)t * D, ly->attn_norm, D, hp->norm_eps);
        gptc_prep_act(c, c->xb, T, D, &ly->wq, &ly->wk, &ly->wv);
        run_job(c, job_qkv, &f, (uint64_t)T * D * (hp->n_head + 2 * hp->n_head_kv) * hp->head_dim);
        run_job(c, job_attention, &f, (uint64_t)T * hp->n_head * c->n_cells_hi * hp->head_dim * 2);
        gptc_prep_act(c, c->xb, T, hp->n_head * hp->head_dim, &ly->wo, NULL, NULL);
        run_matmul(&f, c->xb2, &ly->wo, c->xb, T);
        for (size_t i = 0; i < (size_t)T * D; i++) c->x[i] += c->xb2[i];

        for (int t = 0; t < T; t++)
            gptc_rmsnorm(c->xb + (size_t)t * D, c->x + (size_t)t * D, ly->ffn_norm, D, hp->norm_eps);
        gptc_prep_act(c, c->xb, T, D, &ly->w_gate, &ly->w_up, NULL);
        run_job(c, job_gate_up, &f, (uint64_t)T * D * F * 2);
        gptc_prep_act(c, c->hb, T, F, &ly->w_down, NULL, NULL);
        run_matmul(&f, c->xb2, &ly->w_down, c->hb, T);
        for (size_t i = 0; i < (size_t)T * D; i++) c->x[i] += c->xb2[i];
    }

    /* logits only for the tokens that asked (default: the last one) */
    int n_out = 0;
    for (int t = 0; t < T; t++) {
        int want = b->logits ? b->logits[t] != 0 : t == T - 1;
        c->logit_row[t] = want ? n_out : -1;
        if (want) {
            gptc_rmsnorm(c->xb + (size_t)n_out * D, c->x + (size_t)t * D, m->out_norm, D, hp->norm_eps);
            n_out++;
        }
    }
    for (int t = T; t < c->n_batch; t++) c->logit_row[t] = -1;
    if (n_out) {
        gptc_prep_act(c, c->xb, n_out, D, &m->output, NULL, NULL);
        run_matmul(&f, c->logits, &m->output, c->xb, n_out);
    }
    if (c->embd_sum) gptc_ctx_embd_accumulate(c, b);
    return GPTC_OK;
}
