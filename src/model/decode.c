/*
 * decode.c — the forward skeleton every architecture shares: gptc_decode (batch checks, KV
 * cell assignment, the architecture's forward, logits and embeddings selection) and the shared
 * blocks the architectures' layer loops are made of (norms, attention with rope / q-k norms /
 * window / soft-cap, gated and plain feed-forwards, residuals), with their thread jobs.
 *
 * Every weight product is split by output rows across the thread pool, in chunks of 16 rows so
 * SIMD tiles never straddle threads and results do not depend on the thread count; a job too
 * small to repay waking the workers runs on the calling thread.
 *
 * Shape letters as in context.h: T tokens in this batch, D, F, V, Q, K, hd = head_dim.
 */
#include "model/decode.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "core/fp16.h"
#include "quant/pack.h"
#include "quant/quant.h"

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
    case GPTC_TYPE_F32:
        ops->matmul_f32(Y, w->rows, w->data, X, T, w->cols, r0, r1);
        break;
    case GPTC_TYPE_F16:
        ops->matmul_f16(Y, w->rows, w->data, X, T, w->cols, r0, r1);
        break;
    case GPTC_TYPE_BF16:
        ops->matmul_bf16(Y, w->rows, w->data, X, T, w->cols, r0, r1);
        break;
    default: {
        GPTC_ASSERT(gptc_type_is_quant(w->type)); /* checked at load */
        const void *xq = c->xq[gptc_wt_act_form(w, ops)];
        GPTC_ASSERT(xq); /* allocated at gptc_ctx_init for every form the model reads */
        if (w->packed)
            ops->matmul_qp(w->type, Y, w->rows, w->data, xq, T, w->cols, r0, r1);
        else
            ops->matmul_q(w->type, Y, w->rows, w->data, xq, T, w->cols, r0, r1);
    }
    }
}

/* ----- activations of quantized weights ------------------------------------------------------- */

static_assert(GPTC_PACK_FORM < GPTC_ACT_FORMS, "packed weights have an activation form slot");

int gptc_wt_act_form(const gptc_wt *w, const gptc_ops *ops)
{
    return w->packed && gptc_pack_own_form(w->type) ? GPTC_PACK_FORM : ops->act_form(w->type);
}

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
    for (size_t i = 0; i < n; i++)
        x[i] = gptc_f16_to_f32(gptc_f32_to_f16(x[i]));
}

void gptc_prep_act(gptc_ctx *c, float *X, int T, int C, const gptc_wt *w0, const gptc_wt *w1,
                   const gptc_wt *w2)
{
    const gptc_wt *ws[3] = {w0, w1, w2};
    act_job a = {.c = c, .X = X, .T = T, .C = C};
    int f16 = 0;
    for (int i = 0; i < 3; i++) {
        if (ws[i] && ws[i]->data && gptc_type_is_quant(ws[i]->type))
            a.forms |= 1u << gptc_wt_act_form(ws[i], c->ops);
        f16 |= ws[i] && ws[i]->data && ws[i]->type == GPTC_TYPE_F16;
    }
    if (a.forms) {
        /* a decode step's row is a microsecond of work: not worth waking the workers */
        if (T < 2 || (uint64_t)T * C < (1u << 15) || gptc_pool_size(c->pool) == 1)
            job_act(&a, 0, 1);
        else
            gptc_pool_run(c->pool, job_act, &a);
    }
    if (f16 && c->ggml_f16) round_f16(X, (size_t)T * C);
}

/* Run a job on the pool, or on the calling thread alone when it is too small to repay waking
 * the workers (a tiny model's whole step is a few microseconds; with another process on the
 * other core, a handoff can cost far more than the work). work: multiply-adds. */
#define PAR_MIN_WORK (1 << 16)
static void run_job(gptc_ctx *c, gptc_task_fn fn, gptc_fwd *f, uint64_t work)
{
    if (work < PAR_MIN_WORK || gptc_pool_size(c->pool) == 1)
        fn(f, 0, 1);
    else
        gptc_pool_run(c->pool, fn, f);
}

/* ----- small ops ------------------------------------------------------------------------------ */

static void add_bias(float *y, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += b[i];
}

/* GELU, tanh approximation, in f32 (gpt2) */
static void gelu(float *x, int n)
{
    for (int i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

void gptc_gelu_f16(float *x, int n)
{
    for (int i = 0; i < n; i++) {
        float v = x[i];
        if (v <= -10.0f) {
            x[i] = 0.0f;
        } else if (v >= 10.0f) {
            x[i] = v;
        } else {
            float h = gptc_f16_to_f32(gptc_f32_to_f16(v));
            float g =
                0.5f * h * (1.0f + tanhf(0.7978845608028654f * h * (1.0f + 0.044715f * h * h)));
            x[i] = gptc_f16_to_f32(gptc_f32_to_f16(g));
        }
    }
}

/* o = (x - mean) / sqrt(var + eps) * w + b, (n) */
static void layernorm(float *o, const float *x, const float *w, const float *b, int n, float eps)
{
    float m = 0.0f, v = 0.0f;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= (float)n;
    for (int i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    float s = 1.0f / sqrtf(v / (float)n + eps);
    for (int i = 0; i < n; i++)
        o[i] = (x[i] - m) * s * w[i] + b[i];
}

/* RMSNorm without weight, in place */
static void rmsnorm_plain(float *x, int n, float eps)
{
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    ss = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        x[i] *= ss;
}

void gptc_final_norm(const gptc_model *m, float *o, const float *x)
{
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd;
    if (!m->out_norm)
        memcpy(o, x, (size_t)D * sizeof *o);
    else if (m->out_norm_b)
        layernorm(o, x, m->out_norm, m->out_norm_b, D, hp->norm_eps);
    else
        gptc_rmsnorm(o, x, m->out_norm, D, hp->norm_eps);
}

/* ----- rope ----------------------------------------------------------------------------------- */

/* c->rope_cs (T, n_rot): cos, sin of each token's angles for rope r (once per batch and rope) */
static void rope_table(gptc_fwd *f, const gptc_rotary *r)
{
    gptc_ctx *c = f->c;
    if (c->rope_cur == r) return;
    c->rope_cur = r;
    for (int t = 0; t < f->T; t++) {
        float *cs = c->rope_cs + (size_t)t * r->n_rot;
        for (int i = 0; i < r->n_rot / 2; i++) {
            float theta = (float)f->pos[t] * r->inv_freq[i];
            cs[2 * i] = cosf(theta);
            cs[2 * i + 1] = sinf(theta);
            if (r->attn_factor != 1.0f) {
                cs[2 * i] *= r->attn_factor;
                cs[2 * i + 1] *= r->attn_factor;
            }
        }
    }
}

/* Rotate rows [r0, r1) (even r0) of the (T, n_heads*hd) matrix Y in place: NORM rope only. */
static void rope_rows(const gptc_ctx *c, const gptc_rotary *rp, int hd, float *Y, int ld, int T,
                      int r0, int r1)
{
    int n_rot = rp->n_rot;
    for (int t = 0; t < T; t++) {
        float *y = Y + (size_t)t * ld;
        const float *cs = c->rope_cs + (size_t)t * n_rot;
        /* head by head: d, the row's place in its head, without a division per pair */
        for (int r = r0, d = r0 % hd; r < r1; r += hd - d, d = 0) {
            int e = GPTC_MIN(n_rot, d + (r1 - r));
            for (int k = d; k < e; k += 2) {
                float *v = y + r + (k - d);
                float cos_ = cs[k], sin_ = cs[k + 1];
                float x0 = v[0], x1 = v[1];
                v[0] = x0 * cos_ - x1 * sin_;
                v[1] = x0 * sin_ + x1 * cos_;
            }
        }
    }
}

/* Rotate one head x (hd) with the token's table cs. */
static void rope_head(const gptc_rotary *rp, const float *cs, float *x)
{
    int half = rp->n_rot / 2;
    for (int i = 0; i < half; i++) {
        int i0 = rp->neox ? i : 2 * i, i1 = rp->neox ? i + half : 2 * i + 1;
        float cos_ = cs[2 * i], sin_ = cs[2 * i + 1];
        float x0 = x[i0], x1 = x[i1];
        x[i0] = x0 * cos_ - x1 * sin_;
        x[i1] = x0 * sin_ + x1 * cos_;
    }
}

/* ----- attention ------------------------------------------------------------------------------ */

/* Whether layer ly's q/k/v need a per-head pass after the products (norms, NEOX rope) rather
 * than the row-wise rope fused into job_qkv. */
static int needs_heads(const gptc_fwd *f)
{
    const gptc_layer *ly = f->ly;
    return ly->q_norm || ly->k_norm || ly->v_norm || (f->rope && f->rope->neox);
}

/* The cache row of token t in layer f->l's K/V: its ring row when the layer's cache is a ring,
 * else its cell. */
static int kv_row(const gptc_fwd *f, int t)
{
    const gptc_ctx *c = f->c;
    return c->ring && c->layer_ring[f->l] ? c->ring_of[t] : c->cell_of[t];
}

/* rows [r0, r1) of every token's k and v into an f32 cache (other types: job_store) */
static void store_kv(gptc_fwd *f, int K, int r0, int r1)
{
    gptc_ctx *c = f->c;
    if (c->type_k != GPTC_TYPE_F32 || c->type_v != GPTC_TYPE_F32) return;
    for (int t = 0; t < f->T; t++) {
        size_t cell_off = (size_t)kv_row(f, t) * K * sizeof(float);
        float *kd = (float *)(c->k_cache + c->k_off[f->l] + cell_off);
        float *vd = (float *)(c->v_cache + c->v_off[f->l] + cell_off);
        memcpy(kd + r0, c->kb + (size_t)t * K + r0, (size_t)(r1 - r0) * sizeof(float));
        memcpy(vd + r0, c->vb + (size_t)t * K + r0, (size_t)(r1 - r0) * sizeof(float));
    }
}

/* whole k and v rows of tokens into the cache, converted to its types */
static void job_store(void *arg, int ith, int nth)
{
    gptc_fwd *f = arg;
    gptc_ctx *c = f->c;
    int K = f->ly->n_head_kv * f->ly->hd, t0, t1;
    gptc_split(f->T, ith, nth, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        gptc_kv_store(c, f->l, 0, kv_row(f, t), c->kb + (size_t)t * K, K);
        gptc_kv_store(c, f->l, 1, kv_row(f, t), c->vb + (size_t)t * K, K);
    }
}

/* q, k, v for every token (+ biases); when the layer needs no per-head pass, RoPE on q and k
 * and k and v stored in each token's cache cell. */
static void job_qkv(void *arg, int ith, int nth)
{
    gptc_fwd *f = arg;
    gptc_ctx *c = f->c;
    const gptc_layer *ly = f->ly;
    int T = f->T, Q = ly->n_head * ly->hd, K = ly->n_head_kv * ly->hd, r0, r1;
    int fused = !needs_heads(f), own_kv = ly->kv_src == f->l;

    split_rows(Q, ith, nth, &r0, &r1);
    gptc_matmul_rows(c, c->q, &ly->wq, c->xb, T, r0, r1);
    if (ly->bq && r0 < r1)
        for (int t = 0; t < T; t++)
            add_bias(c->q + (size_t)t * Q + r0, ly->bq + r0, r1 - r0);
    if (fused) {
        if (f->rope) rope_rows(c, f->rope, ly->hd, c->q, Q, T, r0, r1);
        if (c->ggml_f16)
            for (int t = 0; t < T; t++)
                round_f16(c->q + (size_t)t * Q + r0, (size_t)(r1 - r0));
    }
    if (!own_kv) return;

    split_rows(K, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    gptc_matmul_rows(c, c->kb, &ly->wk, c->xb, T, r0, r1);
    gptc_matmul_rows(c, c->vb, &ly->wv, c->xb, T, r0, r1);
    for (int t = 0; t < T; t++) {
        if (ly->bk) add_bias(c->kb + (size_t)t * K + r0, ly->bk + r0, r1 - r0);
        if (ly->bv) add_bias(c->vb + (size_t)t * K + r0, ly->bv + r0, r1 - r0);
    }
    if (!fused) return;
    if (f->rope) rope_rows(c, f->rope, ly->hd, c->kb, K, T, r0, r1);
    if (c->ggml_f16) { /* llama.cpp's KV cache is f16 */
        for (int t = 0; t < T; t++) {
            round_f16(c->kb + (size_t)t * K + r0, (size_t)(r1 - r0));
            round_f16(c->vb + (size_t)t * K + r0, (size_t)(r1 - r0));
        }
    }
    store_kv(f, K, r0, r1);
}

/* The per-head pass over tokens [t0, t1): q/k norms, v norm, rope, f16 rounding, cache store. */
static void job_heads(void *arg, int ith, int nth)
{
    gptc_fwd *f = arg;
    gptc_ctx *c = f->c;
    const gptc_layer *ly = f->ly;
    const gptc_rotary *rp = f->rope;
    float eps = c->model->hp.norm_eps;
    int hd = ly->hd, Q = ly->n_head * hd, K = ly->n_head_kv * hd, own_kv = ly->kv_src == f->l, t0,
        t1;
    gptc_split(f->T, ith, nth, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        const float *cs = rp ? c->rope_cs + (size_t)t * rp->n_rot : NULL;
        for (int h = 0; h < ly->n_head; h++) {
            float *x = c->q + (size_t)t * Q + (size_t)h * hd;
            if (ly->q_norm) gptc_rmsnorm(x, x, ly->q_norm, hd, eps);
            if (rp) rope_head(rp, cs, x);
        }
        if (c->ggml_f16) round_f16(c->q + (size_t)t * Q, (size_t)Q);
        if (!own_kv) continue;
        for (int h = 0; h < ly->n_head_kv; h++) {
            float *k = c->kb + (size_t)t * K + (size_t)h * hd,
                  *v = c->vb + (size_t)t * K + (size_t)h * hd;
            if (ly->k_norm) gptc_rmsnorm(k, k, ly->k_norm, hd, eps);
            if (rp) rope_head(rp, cs, k);
            if (ly->v_norm) rmsnorm_plain(v, hd, eps);
        }
        if (c->ggml_f16) {
            round_f16(c->kb + (size_t)t * K, (size_t)K);
            round_f16(c->vb + (size_t)t * K, (size_t)K);
        }
        if (c->type_k == GPTC_TYPE_F32 && c->type_v == GPTC_TYPE_F32) { /* else job_store */
            gptc_kv_store(c, f->l, 0, kv_row(f, t), c->kb + (size_t)t * K, K);
            gptc_kv_store(c, f->l, 1, kv_row(f, t), c->vb + (size_t)t * K, K);
        }
    }
}

/* Attention of every (token, head) pair over the cells its sequence sees. Output: xb (T, Q). */
static void job_attention(void *arg, int ith, int nth)
{
    gptc_fwd *f = arg;
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    const gptc_layer *ly = f->ly;
    int H = ly->n_head, hd = ly->hd, group = H / ly->n_head_kv;
    int Q = H * hd, K = ly->n_head_kv * hd;
    gptc_attn_opts o = {.scale = m->attn_scale > 0 ? m->attn_scale : 1.0f / sqrtf((float)hd),
                        .softcap = m->attn_softcap,
                        .causal = m->causal,
                        .n_swa = ly->n_swa};
    gptc_kv_view kv = {.k = c->k_cache + c->k_off[f->l],
                       .v = c->v_cache + c->v_off[f->l],
                       .row_k = gptc_row_bytes(c->type_k, K),
                       .row_v = gptc_row_bytes(c->type_v, K),
                       .type_k = c->type_k,
                       .type_v = c->type_v};
    int ring = c->ring && c->layer_ring[f->l];
    /* Work items: (tile of tokens, kv head, part of the kv head's query heads). The heads of a
     * group go together so each cache row is read once for all of them; in a prompt, tiles of
     * GPTC_ATT_TILE consecutive tokens of one sequence go together too (gptc_attend_tile: each
     * key row scored for all their queries at once, the same bits as one token at a time). A
     * group is split in parts only when there are too few (tile, kv head) pairs to keep every
     * thread busy (decode of a model with few kv heads). Items are dealt out in turn, tile by
     * tile: a causal prompt's later tokens see more cells, so contiguous halves would give the
     * last thread most of the work; and a thread's next item is mostly the same tile's next kv
     * head, which sees the same cache rows (attend reuses the thread's list of them). */
    int tile = f->T > 1 && !ring && o.n_swa <= 0 ? GPTC_ATT_TILE : 1;
    int ntile = (f->T + tile - 1) / tile;
    int nkv = ly->n_head_kv, pairs = ntile * nkv, parts = 1;
    if (pairs < nth) parts = GPTC_MIN(group, (nth + pairs - 1) / pairs);
    int gs = (group + parts - 1) / parts;
    parts = (group + gs - 1) / gs;
    for (int p = ith; p < pairs * parts; p += nth) {
        int tt = p / (nkv * parts), kvh = p / parts % nkv, h = kvh * group + p % parts * gs;
        int nq = GPTC_MIN(gs, (kvh + 1) * group - h), t0 = tt * tile,
            nt = GPTC_MIN(tile, f->T - t0);
        o.sinks = ly->attn_sinks ? ly->attn_sinks + h : NULL;
        kv.off = kvh * hd;
        const float *qs[GPTC_ATT_TILE];
        float *outs[GPTC_ATT_TILE];
        int same = 1; /* the tile's tokens see the same sequences */
        for (int j = 0; j < nt; j++) {
            qs[j] = c->q + (size_t)(t0 + j) * Q + (size_t)h * hd;
            outs[j] = c->xb + (size_t)(t0 + j) * Q + (size_t)h * hd;
            same &= c->cell_seq[c->cell_of[t0 + j]] == c->cell_seq[c->cell_of[t0]];
        }
        if (nt > 1 && same) {
            gptc_attend_tile(c, ith, qs, nt, nq, &kv, hd, c->cell_of + t0, f->pos + t0, &o, outs);
            continue;
        }
        for (int j = 0; j < nt; j++) {
            int t = t0 + j;
            if (ring)
                gptc_attend_ring(c, ith, qs[j], nq, &kv, hd, f->b->seq_id ? f->b->seq_id[t] : 0,
                                 f->pos[t], &o, outs[j]);
            else
                gptc_attend(c, ith, qs[j], nq, &kv, hd, c->cell_of[t], f->pos[t], &o, outs[j]);
        }
    }
}

void gptc_blk_attention(gptc_fwd *f)
{
    gptc_ctx *c = f->c;
    const gptc_layer *ly = f->ly;
    int T = f->T, D = c->model->hp.n_embd, hd = ly->hd, own_kv = ly->kv_src == f->l;
    int Q = ly->n_head * hd, K = ly->n_head_kv * hd;
    f->rope = ly->rope;
    if (f->rope == &c->model->rope[0] && c->rope_long) f->rope = &c->model->rope[1];
    if (f->rope) rope_table(f, f->rope);
    gptc_prep_act(c, c->xb, T, D, &ly->wq, own_kv ? &ly->wk : NULL, own_kv ? &ly->wv : NULL);
    run_job(c, job_qkv, f, (uint64_t)T * D * (Q + (own_kv ? 2 * K : 0)));
    if (needs_heads(f)) run_job(c, job_heads, f, (uint64_t)T * (Q + 2 * K) * 8);
    if (own_kv && (c->type_k != GPTC_TYPE_F32 || c->type_v != GPTC_TYPE_F32))
        run_job(c, job_store, f, (uint64_t)T * K * 16);
    c->att_gen++; /* the threads' row lists are this layer's */
    run_job(c, job_attention, f, (uint64_t)T * ly->n_head * c->n_cells_hi * hd * 2);
    gptc_blk_matmul(f, c->xb2, &ly->wo, c->xb, ly->bo, T);
}

/* ----- feed-forward --------------------------------------------------------------------------- */

/* hb = act(Wgate · xb) * (Wup · xb), rows split across threads */
static void job_gate_up(void *arg, int ith, int nth)
{
    gptc_fwd *f = arg;
    gptc_ctx *c = f->c;
    int F = f->ly->n_ff, r0, r1;
    split_rows(F, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    gptc_matmul_rows(c, c->hb, &f->ly->w_gate, c->xb, f->T, r0, r1);
    gptc_matmul_rows(c, c->hb2, &f->ly->w_up, c->xb, f->T, r0, r1);
    for (int t = 0; t < f->T; t++) {
        float *g = c->hb + (size_t)t * F + r0, *u = c->hb2 + (size_t)t * F + r0;
        if (c->model->act == GPTC_ACT_GEGLU_F16) {
            gptc_gelu_f16(g, r1 - r0);
            for (int i = 0; i < r1 - r0; i++)
                g[i] *= u[i];
        } else {
            c->ops->swiglu(g, g, u, r1 - r0);
        }
    }
}

/* the generic product: Y = X · w^T (+ bias) */
static void job_matmul(void *arg, int ith, int nth)
{
    gptc_fwd *f = arg;
    int r0, r1, R = f->w->rows;
    split_rows(R, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    gptc_matmul_rows(f->c, f->Y, f->w, f->X, f->T, r0, r1);
    if (!f->bias) return;
    for (int t = 0; t < f->T; t++)
        add_bias(f->Y + (size_t)t * R + r0, f->bias + r0, r1 - r0);
}

/* the same, then GELU on the thread's rows (ungated feed-forwards) */
static void job_matmul_gelu(void *arg, int ith, int nth)
{
    gptc_fwd *f = arg;
    int r0, r1, R = f->w->rows;
    job_matmul(arg, ith, nth);
    split_rows(R, ith, nth, &r0, &r1);
    if (r0 >= r1) return;
    for (int t = 0; t < f->T; t++) {
        float *y = f->Y + (size_t)t * R + r0;
        if (f->c->model->act == GPTC_ACT_GELU_F16)
            gptc_gelu_f16(y, r1 - r0);
        else
            gelu(y, r1 - r0);
    }
}

static void run_matmul(gptc_fwd *f, gptc_task_fn fn, float *Y, const gptc_wt *w, const float *X,
                       const float *bias, int T)
{
    f->Y = Y;
    f->w = w;
    f->X = X;
    f->bias = bias;
    int saved = f->T;
    f->T = T;
    run_job(f->c, fn, f, (uint64_t)w->rows * w->cols * T);
    f->T = saved;
}

void gptc_blk_matmul(gptc_fwd *f, float *Y, const gptc_wt *w, float *X, const float *bias, int T)
{
    gptc_prep_act(f->c, X, T, w->cols, w, NULL, NULL);
    run_matmul(f, job_matmul, Y, w, X, bias, T);
}

void gptc_blk_ffn(gptc_fwd *f)
{
    gptc_ctx *c = f->c;
    const gptc_layer *ly = f->ly;
    int T = f->T, D = c->model->hp.n_embd, F = ly->n_ff;
    if (ly->w_gate.data) {
        gptc_prep_act(c, c->xb, T, D, &ly->w_gate, &ly->w_up, NULL);
        run_job(c, job_gate_up, f, (uint64_t)T * D * F * 2);
    } else {
        gptc_prep_act(c, c->xb, T, D, &ly->w_up, NULL, NULL);
        run_matmul(f, job_matmul_gelu, c->hb, &ly->w_up, c->xb, ly->b_up, T);
    }
    gptc_blk_matmul(f, c->xb2, &ly->w_down, c->hb, ly->b_down, T);
}

/* ----- the other blocks ----------------------------------------------------------------------- */

void gptc_blk_embed(gptc_fwd *f)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    int D = m->hp.n_embd;
    for (int t = 0; t < f->T; t++) {
        float *x = c->x + (size_t)t * D;
        gptc_row_to_f32(x, m->tok_embd.data, m->tok_embd.type, D, f->b->token[t]);
        if (m->embd_scale > 0)
            for (int i = 0; i < D; i++)
                x[i] *= m->embd_scale;
    }
}

gptc_status gptc_blk_check_positions(const gptc_fwd *f, gptc_err *err)
{
    const gptc_hparams *hp = &f->c->model->hp;
    for (int t = 0; t < f->T; t++)
        if (f->pos[t] >= hp->n_ctx_train)
            return gptc_fail(err, GPTC_E_RANGE,
                             "decode: position %d is beyond the %d positions %s learned", f->pos[t],
                             hp->n_ctx_train, hp->arch);
    return GPTC_OK;
}

void gptc_blk_add_row(gptc_fwd *f, const gptc_wt *w, const int *row)
{
    gptc_ctx *c = f->c;
    int D = c->model->hp.n_embd;
    float *r = c->xb2; /* (D) scratch */
    for (int t = 0; t < f->T; t++) {
        if (!row || t == 0) gptc_row_to_f32(r, w->data, w->type, D, row ? *row : f->pos[t]);
        float *x = c->x + (size_t)t * D;
        for (int i = 0; i < D; i++)
            x[i] += r[i];
    }
}

void gptc_blk_norm(gptc_fwd *f, float *out, const float *in, const float *w, const float *b)
{
    const gptc_hparams *hp = &f->c->model->hp;
    int D = hp->n_embd;
    for (int t = 0; t < f->T; t++) {
        if (b)
            layernorm(out + (size_t)t * D, in + (size_t)t * D, w, b, D, hp->norm_eps);
        else
            gptc_rmsnorm(out + (size_t)t * D, in + (size_t)t * D, w, D, hp->norm_eps);
    }
}

void gptc_blk_residual(gptc_fwd *f, const float *post)
{
    gptc_ctx *c = f->c;
    int D = c->model->hp.n_embd;
    if (post) gptc_blk_norm(f, c->xb2, c->xb2, post, NULL);
    for (size_t i = 0; i < (size_t)f->T * D; i++)
        c->x[i] += c->xb2[i];
}

void gptc_blk_prenorm_layer(gptc_fwd *f)
{
    gptc_ctx *c = f->c;
    const gptc_layer *ly = f->ly;
    gptc_blk_norm(f, c->xb, c->x, ly->attn_norm, ly->attn_norm_b);
    gptc_blk_attention(f);
    gptc_blk_residual(f, ly->post_attn_norm);
    gptc_blk_norm(f, c->xb, c->x, ly->ffn_norm, ly->ffn_norm_b);
    gptc_blk_ffn(f);
    gptc_blk_residual(f, ly->post_ffw_norm);
}

/* ----- the batch ------------------------------------------------------------------------------ */

static gptc_status check_batch(const gptc_ctx *c, const gptc_batch *b, gptc_err *err)
{
    if (!b || b->n_tokens <= 0 || !b->token || !b->pos)
        return gptc_fail(err, GPTC_E_INVALID, "decode: empty batch");
    if (b->n_tokens > c->n_batch)
        return gptc_fail(err, GPTC_E_INVALID,
                         "decode: batch of %d tokens is over the context's n_batch %d", b->n_tokens,
                         c->n_batch);
    int V = c->model->hp.n_vocab, n_free = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        if (b->token[i] < 0 || b->token[i] >= V)
            return gptc_fail(err, GPTC_E_RANGE,
                             "decode: token id %d is outside the vocabulary (0..%d)", b->token[i],
                             V - 1);
        if (b->pos[i] < 0)
            return gptc_fail(err, GPTC_E_RANGE, "decode: negative position %d", b->pos[i]);
        int s = b->seq_id ? b->seq_id[i] : 0;
        if (s < 0 || s >= c->n_seq_max)
            return gptc_fail(err, GPTC_E_RANGE, "decode: sequence id %d is outside 0..%d", s,
                             c->n_seq_max - 1);
        /* bidirectional attention: a sequence is decoded whole, in one batch, into nothing */
        if (!c->model->causal && gptc_kv_seq_pos_max(c, s) >= 0)
            return gptc_fail(err, GPTC_E_INVALID,
                             "decode: %s attends both ways, so sequence %d must be decoded in one "
                             "batch into an empty sequence (it already holds tokens)",
                             c->model->hp.arch, s);
    }
    if (c->n_state) { /* a recurrent state takes a sequence's tokens in order, one by one */
        int32_t next[64];
        for (int s = 0; s < c->n_seq_max; s++)
            next[s] = c->state_len[s];
        for (int i = 0; i < b->n_tokens; i++) {
            int s = b->seq_id ? b->seq_id[i] : 0;
            if (b->pos[i] != next[s])
                return gptc_fail(err, GPTC_E_INVALID,
                                 "decode: %s keeps a recurrent state, so sequence %d's next token "
                                 "must be at position %d, not %d (cut a sequence only where "
                                 "gptc_kv_seq_cut allows)",
                                 c->model->hp.arch, s, next[s], b->pos[i]);
            next[s]++;
        }
    }
    if (c->ring) { /* a batch must not overwrite ring rows its own queries see */
        int32_t lo[64], hi[64];
        for (int s = 0; s < c->n_seq_max; s++)
            lo[s] = INT32_MAX, hi[s] = -1;
        for (int i = 0; i < b->n_tokens; i++) {
            int s = b->seq_id ? b->seq_id[i] : 0;
            lo[s] = GPTC_MIN(lo[s], b->pos[i]);
            hi[s] = GPTC_MAX(hi[s], b->pos[i]);
        }
        for (int s = 0; s < c->n_seq_max; s++)
            if (hi[s] >= 0 && (int64_t)hi[s] - lo[s] >= c->ring - c->ring_w)
                return gptc_fail(err, GPTC_E_INVALID,
                                 "decode: sequence %d's positions in this batch span %d..%d, "
                                 "more than the %d its window cache holds",
                                 s, lo[s], hi[s], c->ring - c->ring_w);
    }
    for (int i = 0; i < c->n_ctx && n_free < b->n_tokens; i++)
        n_free += c->cell_pos[i] < 0;
    if (n_free < b->n_tokens)
        return gptc_fail(err, GPTC_E_KV_FULL, "decode: the context is full (%d cells)", c->n_ctx);
    return GPTC_OK;
}

/* Sliding-window models whose every KV layer is local: when the batch does not fit, give back
 * the cells that left the window of every future query. A sequence's future queries are at
 * positions >= its lowest position in this batch (or past its last cell when it has no token
 * here), so a cell at p is dead for it when p <= q_min - window. Only when the cache is full:
 * until then nothing changes (and a sequence may still be rewound with gptc_kv_seq_rm). */
static void swa_reclaim(gptc_ctx *c, const gptc_batch *b)
{
    int W = c->model->swa_min;
    if (W <= 0 || !b || !b->pos || b->n_tokens <= 0) return;
    int n_free = 0;
    for (int i = 0; i < c->n_ctx; i++)
        n_free += c->cell_pos[i] < 0;
    if (n_free >= b->n_tokens) return;
    int32_t q_min[64];
    for (int s = 0; s < c->n_seq_max; s++)
        q_min[s] = gptc_kv_seq_pos_max(c, s) + 1;
    for (int t = 0; t < b->n_tokens; t++) {
        int s = b->seq_id ? b->seq_id[t] : 0;
        if (s >= 0 && s < c->n_seq_max && b->pos[t] >= 0 && b->pos[t] < q_min[s])
            q_min[s] = b->pos[t];
    }
    for (int i = 0; i < c->n_cells_hi; i++) {
        if (c->cell_pos[i] < 0) continue;
        for (int s = 0; s < c->n_seq_max; s++)
            if ((c->cell_seq[i] >> s & 1) && (int64_t)c->cell_pos[i] <= (int64_t)q_min[s] - W)
                c->cell_seq[i] &= ~(1ull << s);
        if (!c->cell_seq[i]) c->cell_pos[i] = -1;
    }
    while (c->n_cells_hi > 0 && c->cell_pos[c->n_cells_hi - 1] < 0)
        c->n_cells_hi--;
}

gptc_status gptc_decode(gptc_ctx *c, const gptc_batch *b, gptc_err *err)
{
    gptc_err_clear(err);
    swa_reclaim(c, b);
    gptc_status s = check_batch(c, b, err);
    if (s) return s;
    const gptc_model *m = c->model;
    const gptc_hparams *hp = &m->hp;
    int T = b->n_tokens, D = hp->n_embd;

    /* cells first, so tokens of one sequence in this batch see each other causally */
    for (int t = 0, i = 0; t < T; t++) {
        while (c->cell_pos[i] >= 0)
            i++;
        c->cell_of[t] = i;
        c->cell_pos[i] = b->pos[t];
        c->cell_seq[i] = 1ull << (b->seq_id ? b->seq_id[t] : 0);
        if (i + 1 > c->n_cells_hi) c->n_cells_hi = i + 1;
    }
    for (int t = 0; t < T && c->ring; t++) { /* ring rows: position p at p mod ring */
        int sq = b->seq_id ? b->seq_id[t] : 0;
        int row = sq * c->ring + b->pos[t] % c->ring;
        int32_t old = c->ring_pos[row];
        if (old >= 0 && old != b->pos[t] && old > c->ring_lost[sq]) c->ring_lost[sq] = old;
        c->ring_pos[row] = b->pos[t];
        c->ring_of[t] = row;
    }
    c->rope_cur = NULL;
    c->att_gen++; /* no row list of an earlier call is reused */
    gptc_fwd f = {.c = c, .b = b, .T = T, .pos = b->pos};
    s = m->def->forward(&f, err);
    if (s) { /* give the cells back: the batch did not happen */
        for (int t = 0; t < T; t++) {
            c->cell_pos[c->cell_of[t]] = -1;
            c->cell_seq[c->cell_of[t]] = 0;
            if (c->ring) c->ring_pos[c->ring_of[t]] = -1;
        }
        while (c->n_cells_hi > 0 && c->cell_pos[c->n_cells_hi - 1] < 0)
            c->n_cells_hi--;
        /* a recurrent state may be half-updated: those sequences start over */
        for (int t = 0; t < T && c->n_state; t++)
            gptc_kv_seq_rm(c, b->seq_id ? b->seq_id[t] : 0, 0, -1);
        return s;
    }
    for (int t = 0; t < T && c->n_state; t++)
        c->state_len[b->seq_id ? b->seq_id[t] : 0]++;

    /* logits only for the tokens that asked (default: the last one); none without a
     * classifier (embedding models) */
    int n_out = 0;
    for (int t = 0; t < T; t++) {
        int want = m->output.data && (b->logits ? b->logits[t] != 0 : t == T - 1);
        c->logit_row[t] = want ? n_out : -1;
        if (want) {
            gptc_final_norm(m, c->xb + (size_t)n_out * D, c->x + (size_t)t * D);
            n_out++;
        }
    }
    for (int t = T; t < c->n_batch; t++)
        c->logit_row[t] = -1;
    if (n_out) {
        gptc_blk_matmul(&f, c->logits, &m->output, c->xb, NULL, n_out);
        if (m->final_softcap > 0) {
            float cap = m->final_softcap;
            for (size_t i = 0; i < (size_t)n_out * hp->n_vocab; i++)
                c->logits[i] = cap * tanhf(c->logits[i] / cap);
        }
    }
    if (c->embd_sum) gptc_ctx_embd_accumulate(c, b);
    return GPTC_OK;
}
