/*
 * qwen35.c — Qwen3.5 (qwen35, and qwen35moe with its mixture-of-experts feed-forward): a hybrid
 * of gated delta-net linear-attention layers and gated full-attention layers, 3 : 1 (layer l is
 * full attention when (l + 1) % full_attention_interval == 0).
 *
 * Linear layer, on h = attn_norm(x) (per token; dk = ssm.state_size, G = ssm.group_count key
 * heads, Hv = ssm.time_step_rank value heads of dv = ssm.inner_size / Hv):
 *     qkv = attn_qkv h (q: G x dk, k: G x dk, v: Hv x dv), z = attn_gate h,
 *     beta = sigmoid(ssm_beta h), g = softplus(ssm_alpha h + ssm_dt.bias) * ssm_a;
 *     qkv -> causal depthwise conv (ssm_conv1d, kernel ssm.conv_kernel) -> SiLU;
 *     q, k L2-normalised per head, q scaled by 1/sqrt(dk);
 *     value head j (key head j mod G) runs the gated delta rule (deltanet.h) on its state;
 *     o = RMSNorm(o_j; ssm_norm) * silu(z_j) per head; out = ssm_out o.
 * The recurrent state of a sequence, per linear layer (ly->n_state floats, context.h's
 * gptc_state): the conv window ((kernel - 1) rows of the qkv channels), then the Hv states
 * (dv, dk).
 *
 * Full-attention layer: attn_q gives per head hd query rows then hd gate rows; q/k RMSNorm with
 * weight; rope on the first rope.dimension_count dims (llama.cpp's interleaved M-RoPE: with the
 * text positions every section has the same position, so it is NEOX rope); softmax attention;
 * the output times sigmoid(gate), then attn_output.
 *
 * Blocks are pre-norm: x += mixer(attn_norm(x)); x += ffn(post_attention_norm(x)). qwen35: a
 * SwiGLU ffn. qwen35moe: softmax over the router logits, top k renormalised, SwiGLU experts
 * (moe.c), plus a shared expert scaled by sigmoid(ffn_gate_inp_shexp h).
 *
 * block_count counts the nextn_predict_layers multi-token-prediction blocks at the end (blk.N..);
 * plain decoding does not run them, as llama.cpp does not.
 *
 * Prefill runs each sequence's tokens through the delta rule chunk-parallel
 * (gptc_deltanet_chunk), decode one step (gptc_deltanet_step; also every token when the tests
 * set c->scalar_ref); threads split over (sequence, value head) pairs and over conv channels.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/deltanet.h"
#include "model/moe.h"
#include "quant/quant.h"

/* The delta-net vectors of a linear layer. Its products are in gptc_layer: wqkv = attn_qkv,
 * wq = attn_gate, wo = ssm_out, aux[0] = ssm_alpha, aux[1] = ssm_beta; n_head = Hv, hd = dv,
 * n_head_kv = 0 (no KV cache). qwen35moe: aux[2] = ffn_gate_inp_shexp (1, D) in every layer,
 * w_gate/w_up/w_down the shared expert. */
struct gptc_dn_layer {
    int G, dk, K, C; /* key heads, key dim, conv kernel, conv channels (2 G dk + Hv dv) */
    float *conv;     /* (C, K) owned */
    float *a, *dt;   /* (Hv) owned: ssm_a (< 0), ssm_dt.bias */
    float *norm;     /* (dv) owned: ssm_norm */
};

void gptc_dn_layer_free(struct gptc_dn_layer *d)
{
    if (!d) return;
    free(d->conv);
    free(d->a);
    free(d->dt);
    free(d->norm);
    free(d);
}

/* ----- hyperparameters and weights ------------------------------------------------------------ */

typedef struct qwen35_hp {
    int interval, K, dk, G, Hv, inner;
} qwen35_hp;

static gptc_status read_ssm(const gptc_model *m, qwen35_hp *q, gptc_err *err)
{
    const char *a = m->hp.arch;
    gptc_status s;
    if ((s = gptc_hp_int(m->file, a, "full_attention_interval", 1, 4096, 4, &q->interval, err)) ||
        (s = gptc_hp_int(m->file, a, "ssm.conv_kernel", 1, 16, -1, &q->K, err)) ||
        (s = gptc_hp_int(m->file, a, "ssm.state_size", 1, 4096, -1, &q->dk, err)) ||
        (s = gptc_hp_int(m->file, a, "ssm.group_count", 1, 4096, -1, &q->G, err)) ||
        (s = gptc_hp_int(m->file, a, "ssm.time_step_rank", 1, 4096, -1, &q->Hv, err)) ||
        (s = gptc_hp_int(m->file, a, "ssm.inner_size", 1, 1 << 20, -1, &q->inner, err)))
        return s;
    if (q->Hv % q->G || q->inner % q->Hv)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: %s.ssm.time_step_rank %d must be a multiple of ssm.group_count %d "
                         "and divide ssm.inner_size %d",
                         a, q->Hv, q->G, q->inner);
    return GPTC_OK;
}

static gptc_status qwen35_hparams(gptc_model *m, gptc_err *err)
{
    gptc_hparams *hp = &m->hp;
    const char *a = hp->arch;
    gptc_status s;
    int nextn, F = 0;
    /* qwen35moe has no feed_forward_length: the shared expert's width stands in */
    if (m->arch == GPTC_ARCH_QWEN35MOE &&
        (s = gptc_hp_int(m->file, a, "expert_shared_feed_forward_length", 1, 1 << 20, -1, &F, err)))
        return s;
    hp->n_ff = F;
    if ((s = gptc_hp_common(m, err)) ||
        (s = gptc_hp_int(m->file, a, "nextn_predict_layers", 0, 4096, 0, &nextn, err)))
        return s;
    if (nextn >= hp->n_layer)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: %s.nextn_predict_layers %d leaves no layer of block_count %d", a,
                         nextn, hp->n_layer);
    hp->n_layer -= nextn; /* the MTP blocks are not part of the decoder */
    qwen35_hp q;
    if ((s = read_ssm(m, &q, err))) return s;
    m->act = GPTC_ACT_SILU;
    if ((s = gptc_model_rope(m, &m->rope[0], hp->n_rot, hp->rope_base, 1, NULL, err))) return s;
    m->n_rope = 1;
    return GPTC_OK;
}

/* A (rows, cols) tensor of any convertible type as an owned f32 copy. */
static gptc_status bind_f32(gptc_model *m, const char *name, int rows, int cols, float **out,
                            gptc_err *err)
{
    gptc_wt w;
    gptc_status s = gptc_model_bind_wt(m, name, rows, cols, &w, err);
    if (s) return s;
    float *v = malloc((size_t)rows * cols * sizeof *v);
    if (!v) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    for (int r = 0; r < rows; r++)
        gptc_row_to_f32(v + (size_t)r * cols, w.data, w.type, cols, r);
    *out = v;
    return GPTC_OK;
}

static gptc_status bind_linear(gptc_model *m, int l, const qwen35_hp *q, gptc_err *err)
{
    gptc_layer *ly = &m->layers[l];
    int D = m->hp.n_embd, Hv = q->Hv, dv = q->inner / q->Hv;
    char nm[96];
    gptc_status s;
    struct gptc_dn_layer *d = calloc(1, sizeof *d);
    if (!d) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    ly->dn = d;
    d->G = q->G;
    d->dk = q->dk;
    d->K = q->K;
    d->C = 2 * q->G * q->dk + q->inner;
    ly->n_head = Hv;
    ly->hd = dv;
    ly->n_head_kv = 0; /* no KV cache */
    ly->rope = NULL;
    ly->n_state = (q->K - 1) * d->C + Hv * dv * q->dk;
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
    if ((s = gptc_model_bind_wt(m, NAME("attn_qkv.weight"), d->C, D, &ly->wqkv, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_gate.weight"), q->inner, D, &ly->wq, err)) ||
        (s = gptc_model_bind_wt(m, NAME("ssm_out.weight"), D, q->inner, &ly->wo, err)) ||
        (s = gptc_model_bind_wt(m, NAME("ssm_alpha.weight"), Hv, D, &ly->aux[0], err)) ||
        (s = gptc_model_bind_wt(m, NAME("ssm_beta.weight"), Hv, D, &ly->aux[1], err)) ||
        (s = bind_f32(m, NAME("ssm_conv1d.weight"), d->C, q->K, &d->conv, err)) ||
        (s = gptc_model_bind_vec(m, NAME("ssm_a"), Hv, &d->a, err)) ||
        (s = gptc_model_bind_vec(m, NAME("ssm_dt.bias"), Hv, &d->dt, err)) ||
        (s = gptc_model_bind_vec(m, NAME("ssm_norm.weight"), dv, &d->norm, err)))
        return s;
    for (int j = 0; j < Hv; j++)
        if (!isfinite(d->a[j]) || !isfinite(d->dt[j]))
            return gptc_fail(err, GPTC_E_FORMAT,
                             "model: blk.%d.ssm_a or ssm_dt.bias holds a non-finite value", l);
#undef NAME
    return GPTC_OK;
}

static gptc_status bind_attention(gptc_model *m, int l, gptc_err *err)
{
    gptc_layer *ly = &m->layers[l];
    int D = m->hp.n_embd, Q = ly->n_head * ly->hd, K = ly->n_head_kv * ly->hd;
    char nm[96];
    gptc_status s;
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
    if ((s = gptc_model_bind_wt(m, NAME("attn_q.weight"), 2 * Q, D, &ly->wq, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_k.weight"), K, D, &ly->wk, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_v.weight"), K, D, &ly->wv, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_output.weight"), D, Q, &ly->wo, err)) ||
        (s = gptc_model_bind_vec(m, NAME("attn_q_norm.weight"), ly->hd, &ly->q_norm, err)) ||
        (s = gptc_model_bind_vec(m, NAME("attn_k_norm.weight"), ly->hd, &ly->k_norm, err)))
        return s;
#undef NAME
    return GPTC_OK;
}

static gptc_status qwen35_bind(gptc_model *m, gptc_err *err)
{
    int D = m->hp.n_embd, moe = m->arch == GPTC_ARCH_QWEN35MOE, E = 0, k = 0, F = 0;
    char nm[96];
    qwen35_hp q;
    gptc_status s;
    if ((s = read_ssm(m, &q, err)) || (moe && (s = gptc_moe_hparams(m, &E, &k, &F, err))) ||
        (s = gptc_model_bind_io(m, 0, err)) || (s = gptc_model_alloc_layers(m, err)))
        return s;
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
    for (int l = 0; l < m->hp.n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        if ((s = gptc_model_bind_vec(m, NAME("attn_norm.weight"), D, &ly->attn_norm, err)) ||
            (s = gptc_model_bind_vec(m, NAME("post_attention_norm.weight"), D, &ly->ffn_norm, err)))
            return s;
        if ((l + 1) % q.interval != 0)
            s = bind_linear(m, l, &q, err);
        else
            s = bind_attention(m, l, err);
        if (s) return s;
        /* the dense ffn, or the shared expert of the MoE (same tensors, _shexp) */
        int Fd = ly->n_ff;
        if ((s = gptc_model_bind_wt(m, NAME(moe ? "ffn_gate_shexp.weight" : "ffn_gate.weight"), Fd,
                                    D, &ly->w_gate, err)) ||
            (s = gptc_model_bind_wt(m, NAME(moe ? "ffn_up_shexp.weight" : "ffn_up.weight"), Fd, D,
                                    &ly->w_up, err)) ||
            (s = gptc_model_bind_wt(m, NAME(moe ? "ffn_down_shexp.weight" : "ffn_down.weight"), D,
                                    Fd, &ly->w_down, err)))
            return s;
        if (!moe) continue;
        if ((s = gptc_moe_bind(m, l, E, k, F, 0, &ly->moe, err))) return s;
        ly->moe->gating = GPTC_MOE_SOFTMAX_NORM;
        ly->moe->act = GPTC_MOE_SWIGLU;
        if ((s = gptc_model_bind_wt(m, NAME("ffn_gate_inp_shexp.weight"), 1, D, &ly->aux[2], err)))
            return s;
    }
#undef NAME
    return GPTC_OK;
}

/* ----- the forward pass ----------------------------------------------------------------------- */

static size_t up16(size_t n) /* floats, so 64-byte aligned pieces */
{
    return (n + 15) & ~(size_t)15;
}

/* The context's MoE scratch as this layer's, in floats (nothing in it outlives the block).
 * NULL: out of memory. */
static float *scratch(gptc_ctx *c, size_t floats)
{
    return gptc_moe_scratch(c, floats * sizeof(float));
}

static float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static float siluf(float x)
{
    return x / (1.0f + expf(-x));
}

static float softplusf(float x)
{
    return x > 20.0f ? x : log1pf(expf(x));
}

/* Run fn on the pool when the work (multiply-adds) repays waking the workers. */
static void run(gptc_ctx *c, gptc_task_fn fn, void *arg, uint64_t work)
{
    if (work < (1u << 16) || gptc_pool_size(c->pool) == 1)
        fn(arg, 0, 1);
    else
        gptc_pool_run(c->pool, fn, arg);
}

/* A batch's tokens grouped by sequence, each sequence's in batch order: grouped row i is batch
 * row perm[i]; sequence n_seq's rows are [seg[n], seg[n + 1]) with id seq[n]. */
typedef struct groups {
    int n_seq, ident;
    int *perm, *seg, *seq;
} groups;

typedef struct dn_job {
    gptc_ctx *c;
    const gptc_layer *ly;
    const groups *g;
    int l, Hv, dv, nth;
    float *qkv, *cv, *z, *o, *ga, *be, *dn_scratch;
} dn_job;

/* conv + SiLU over each sequence's rows, channels split across threads */
static void job_conv(void *arg, int ith, int nth)
{
    dn_job *j = arg;
    const struct gptc_dn_layer *d = j->ly->dn;
    int c0, c1;
    gptc_split(d->C, ith, nth, &c0, &c1);
    if (c0 >= c1) return;
    for (int n = 0; n < j->g->n_seq; n++) {
        int r0 = j->g->seg[n], T = j->g->seg[n + 1] - r0;
        float *st = gptc_state(j->c, j->l, j->g->seq[n]);
        gptc_ssm_conv(j->cv + (size_t)r0 * d->C, (size_t)d->C, j->qkv + (size_t)r0 * d->C,
                      (size_t)d->C, st, d->conv, T, d->C, d->K, c0, c1);
        for (int t = r0; t < r0 + T; t++) {
            float *y = j->cv + (size_t)t * d->C;
            for (int ch = c0; ch < c1; ch++)
                y[ch] = siluf(y[ch]);
        }
    }
}

/* the delta rule for every (sequence, value head) pair, dealt out across threads */
static void job_rule(void *arg, int ith, int nth)
{
    dn_job *j = arg;
    const struct gptc_dn_layer *d = j->ly->dn;
    int Hv = j->Hv, dv = j->dv, dk = d->dk, C = d->C, Vd = Hv * dv;
    float *scr = j->dn_scratch + (size_t)ith * up16(gptc_deltanet_scratch(dk, dv));
    for (int p = ith; p < j->g->n_seq * Hv; p += nth) {
        int n = p / Hv, h = p % Hv, kh = h % d->G;
        int r0 = j->g->seg[n], T = j->g->seg[n + 1] - r0;
        float *S =
            gptc_state(j->c, j->l, j->g->seq[n]) + (size_t)(d->K - 1) * C + (size_t)h * dv * dk;
        const float *q = j->cv + (size_t)r0 * C + (size_t)kh * dk;
        const float *k = q + (size_t)d->G * dk;
        const float *v = j->cv + (size_t)r0 * C + 2 * (size_t)d->G * dk + (size_t)h * dv;
        float *o = j->o + (size_t)r0 * Vd + (size_t)h * dv;
        if (T == 1 || j->c->scalar_ref) /* decode; tests: the per-token reference */
            for (int t = 0; t < T; t++)
                gptc_deltanet_step(S, dk, dv, q + (size_t)t * C, k + (size_t)t * C,
                                   v + (size_t)t * C, j->ga[(size_t)(r0 + t) * Hv + h],
                                   j->be[(size_t)(r0 + t) * Hv + h], o + (size_t)t * Vd);
        else
            gptc_deltanet_chunk(S, dk, dv, T, q, k, (size_t)C, v, (size_t)C,
                                j->ga + (size_t)r0 * Hv + h, j->be + (size_t)r0 * Hv + h,
                                (size_t)Hv, o, (size_t)Vd, scr);
    }
}

static gptc_status linear_layer(gptc_fwd *f, const groups *g, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    const gptc_layer *ly = f->ly;
    const struct gptc_dn_layer *d = ly->dn;
    int T = f->T, D = m->hp.n_embd, Hv = ly->n_head, dv = ly->hd, dk = d->dk, C = d->C;
    int Vd = Hv * dv, nth = gptc_pool_size(c->pool);
    float eps = m->hp.norm_eps;
    size_t per = up16((size_t)T * D), pc = up16((size_t)T * C), pv = up16((size_t)T * Vd),
           ph = up16((size_t)T * Hv), psc = up16(gptc_deltanet_scratch(dk, dv));
    float *buf = scratch(c, 2 * per + 2 * pc + 2 * pv + 2 * ph + (size_t)nth * psc);
    if (!buf) return gptc_fail(err, GPTC_E_NOMEM, "decode: out of memory for the delta net");
    float *xg = buf, *og = xg + per, *qkv = og + per, *cv = qkv + pc, *z = cv + pc, *o = z + pv,
          *ga = o + pv, *be = ga + ph, *dns = be + ph;
    if (g->ident) { /* one sequence (or already grouped): no gather, no scatter */
        xg = c->xb;
        og = c->xb2;
    } else {
        for (int i = 0; i < T; i++)
            memcpy(xg + (size_t)i * D, c->xb + (size_t)g->perm[i] * D, (size_t)D * sizeof *xg);
    }
    gptc_blk_matmul(f, qkv, &ly->wqkv, xg, NULL, T);
    gptc_blk_matmul(f, z, &ly->wq, xg, NULL, T);
    gptc_blk_matmul(f, ga, &ly->aux[0], xg, NULL, T);
    gptc_blk_matmul(f, be, &ly->aux[1], xg, NULL, T);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < Hv; h++) {
            float *a = ga + (size_t)t * Hv + h, *b = be + (size_t)t * Hv + h;
            *a = softplusf(*a + d->dt[h]) * d->a[h];
            *b = sigmoidf(*b);
        }
    dn_job j = {.c = c,
                .ly = ly,
                .g = g,
                .l = f->l,
                .Hv = Hv,
                .dv = dv,
                .nth = nth,
                .qkv = qkv,
                .cv = cv,
                .z = z,
                .o = o,
                .ga = ga,
                .be = be,
                .dn_scratch = dns};
    run(c, job_conv, &j, (uint64_t)T * C * d->K * 4);
    float qs = 1.0f / sqrtf((float)dk);
    for (int t = 0; t < T; t++) {
        float *row = cv + (size_t)t * C;
        for (int h = 0; h < 2 * d->G; h++)
            gptc_l2norm(row + (size_t)h * dk, dk, eps);
        for (int i = 0; i < d->G * dk; i++)
            row[i] *= qs;
    }
    run(c, job_rule, &j, (uint64_t)T * Hv * dv * dk * 4);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < Hv; h++) {
            float *oh = o + (size_t)t * Vd + (size_t)h * dv;
            const float *zh = z + (size_t)t * Vd + (size_t)h * dv;
            gptc_rmsnorm(oh, oh, d->norm, dv, eps);
            for (int i = 0; i < dv; i++)
                oh[i] *= siluf(zh[i]);
        }
    gptc_blk_matmul(f, og, &ly->wo, o, NULL, T);
    for (int i = 0; i < T && !g->ident; i++)
        memcpy(c->xb2 + (size_t)g->perm[i] * D, og + (size_t)i * D, (size_t)D * sizeof *og);
    return GPTC_OK;
}

typedef struct att_job {
    gptc_ctx *c;
    const gptc_fwd *f;
    const float *qg; /* (T, 2Q): per head hd query rows, hd gate rows */
} att_job;

/* rope on the first n_rot dims of one head, NEOX pairs (i, i + n_rot / 2) */
static void rope_neox(const gptc_rotary *r, int32_t pos, float *x)
{
    int half = r->n_rot / 2;
    for (int i = 0; i < half; i++) {
        float th = (float)pos * r->inv_freq[i], cs = cosf(th), sn = sinf(th);
        float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * cs - x1 * sn;
        x[i + half] = x0 * sn + x1 * cs;
    }
}

/* per token: q out of qg, q/k norms, rope, K/V into the cache */
static void job_heads(void *arg, int ith, int nth)
{
    att_job *a = arg;
    gptc_ctx *c = a->c;
    const gptc_fwd *f = a->f;
    const gptc_layer *ly = f->ly;
    int hd = ly->hd, H = ly->n_head, Q = H * hd, K = ly->n_head_kv * hd, t0, t1;
    float eps = c->model->hp.norm_eps;
    gptc_split(f->T, ith, nth, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        for (int h = 0; h < H; h++) {
            float *q = c->q + (size_t)t * Q + (size_t)h * hd;
            gptc_rmsnorm(q, a->qg + (size_t)t * 2 * Q + (size_t)h * 2 * hd, ly->q_norm, hd, eps);
            rope_neox(ly->rope, f->pos[t], q);
        }
        for (int h = 0; h < ly->n_head_kv; h++) {
            float *k = c->kb + (size_t)t * K + (size_t)h * hd;
            gptc_rmsnorm(k, k, ly->k_norm, hd, eps);
            rope_neox(ly->rope, f->pos[t], k);
        }
        gptc_kv_store(c, f->l, 0, c->cell_of[t], c->kb + (size_t)t * K, K);
        gptc_kv_store(c, f->l, 1, c->cell_of[t], c->vb + (size_t)t * K, K);
    }
}

/* every (token, head): attention over the cells its sequence sees, times sigmoid(gate) */
static void job_attend(void *arg, int ith, int nth)
{
    att_job *a = arg;
    gptc_ctx *c = a->c;
    const gptc_fwd *f = a->f;
    const gptc_layer *ly = f->ly;
    int H = ly->n_head, hd = ly->hd, group = H / ly->n_head_kv, Q = H * hd;
    int K = ly->n_head_kv * hd;
    gptc_attn_opts o = {.scale = 1.0f / sqrtf((float)hd), .causal = 1};
    gptc_kv_view kv = {.k = c->k_cache + c->k_off[f->l],
                       .v = c->v_cache + c->v_off[f->l],
                       .row_k = gptc_row_bytes(c->type_k, K),
                       .row_v = gptc_row_bytes(c->type_v, K),
                       .type_k = c->type_k,
                       .type_v = c->type_v};
    /* (token, kv head) pairs dealt out in turn; the group's heads go together */
    for (int p = ith; p < f->T * ly->n_head_kv; p += nth) {
        int t = p / ly->n_head_kv, kvh = p % ly->n_head_kv, h = kvh * group;
        float *out = c->xb + (size_t)t * Q + (size_t)h * hd;
        kv.off = kvh * hd;
        gptc_attend(c, ith, c->q + (size_t)t * Q + (size_t)h * hd, group, &kv, hd, c->cell_of[t],
                    f->pos[t], &o, out);
        const float *gate = a->qg + (size_t)t * 2 * Q + (size_t)h * 2 * hd + hd;
        for (int g = 0; g < group; g++, out += hd, gate += 2 * hd)
            for (int i = 0; i < hd; i++)
                out[i] *= sigmoidf(gate[i]);
    }
}

static gptc_status attention_layer(gptc_fwd *f, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_layer *ly = f->ly;
    int T = f->T, Q = ly->n_head * ly->hd;
    float *qg = scratch(c, (size_t)T * 2 * Q);
    if (!qg) return gptc_fail(err, GPTC_E_NOMEM, "decode: out of memory for attention");
    gptc_blk_matmul(f, qg, &ly->wq, c->xb, NULL, T);
    gptc_blk_matmul(f, c->kb, &ly->wk, c->xb, NULL, T);
    gptc_blk_matmul(f, c->vb, &ly->wv, c->xb, NULL, T);
    att_job a = {.c = c, .f = f, .qg = qg};
    run(c, job_heads, &a, (uint64_t)T * (Q + 2 * ly->n_head_kv * ly->hd) * 8);
    c->att_gen++; /* the threads' row lists are this layer's */
    run(c, job_attend, &a, (uint64_t)T * ly->n_head * c->n_cells_hi * ly->hd * 2);
    gptc_blk_matmul(f, c->xb2, &ly->wo, c->xb, NULL, T);
    return GPTC_OK;
}

static gptc_status qwen35_forward(gptc_fwd *f, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_model *m = c->model;
    int T = f->T, D = m->hp.n_embd;
    gptc_status s = GPTC_OK;
    /* the batch grouped by sequence (in batch order within each) */
    groups g = {0};
    g.perm = malloc((size_t)T * sizeof *g.perm);
    g.seg = malloc((size_t)(c->n_seq_max + 1) * sizeof *g.seg);
    g.seq = malloc((size_t)c->n_seq_max * sizeof *g.seq);
    if (!g.perm || !g.seg || !g.seq) {
        s = gptc_fail(err, GPTC_E_NOMEM, "decode: out of memory");
        goto done;
    }
    g.ident = 1;
    for (int sq = 0, i = 0; sq < c->n_seq_max; sq++) {
        int r0 = i;
        for (int t = 0; t < T; t++)
            if ((f->b->seq_id ? f->b->seq_id[t] : 0) == sq) {
                g.ident &= t == i;
                g.perm[i++] = t;
            }
        if (i > r0) {
            g.seg[g.n_seq] = r0;
            g.seq[g.n_seq++] = sq;
            g.seg[g.n_seq] = i;
        }
    }
    gptc_blk_embed(f);
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gptc_layer *ly = f->ly = &m->layers[l];
        f->l = l;
        gptc_blk_norm(f, c->xb, c->x, ly->attn_norm, NULL);
        s = ly->n_head_kv ? attention_layer(f, err) : linear_layer(f, &g, err);
        if (s) goto done;
        gptc_blk_residual(f, NULL);
        gptc_blk_norm(f, c->xb, c->x, ly->ffn_norm, NULL);
        if (ly->moe) {
            /* the shared expert, scaled by its gate, straight into the residual stream */
            float *gate = scratch(c, (size_t)T);
            if (!gate) {
                s = gptc_fail(err, GPTC_E_NOMEM, "decode: out of memory");
                goto done;
            }
            gptc_blk_matmul(f, gate, &ly->aux[2], c->xb, NULL, T);
            gptc_blk_ffn(f);
            for (int t = 0; t < T; t++) {
                float w = sigmoidf(gate[t]), *y = c->xb2 + (size_t)t * D;
                for (int i = 0; i < D; i++)
                    y[i] *= w;
            }
            gptc_blk_residual(f, NULL);
            if ((s = gptc_blk_moe(f, ly->moe, err))) goto done;
        } else {
            gptc_blk_ffn(f);
        }
        gptc_blk_residual(f, NULL);
    }
done:
    free(g.perm);
    free(g.seg);
    free(g.seq);
    return s;
}

const gptc_arch_def gptc_arch_qwen35 = {GPTC_ARCH_QWEN35, "qwen35", qwen35_hparams, qwen35_bind,
                                        qwen35_forward};
const gptc_arch_def gptc_arch_qwen35moe = {GPTC_ARCH_QWEN35MOE, "qwen35moe", qwen35_hparams,
                                           qwen35_bind, qwen35_forward};
