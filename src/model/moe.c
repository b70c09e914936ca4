/*
 * moe.c — the mixture-of-experts feed-forward (moe.h): router, top-k selection with the
 * family's normalisation, the selected experts' SwiGLU (plain or gpt-oss's clamped variant, with
 * biases), the weighted sum in rank order.
 *
 * One batch of T tokens: the T * k (token, rank) pairs are listed grouped by expert (expert 0's
 * first), their input rows gathered and, for quantized experts, converted once to the
 * activation form; gate/up then down run as jobs whose work units are (expert, 16 rows), so a
 * decode step reads k experts' rows split across the threads and a prefill reads each chosen
 * expert's rows once for all its tokens. Results do not depend on the thread count: every output
 * element is one kernel call's, and the final sum runs in rank order per token.
 */
#include "model/moe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

/* ----- binding ------------------------------------------------------------------------------- */

static int computable(uint32_t t)
{
    return t == GPTC_TYPE_F32 || t == GPTC_TYPE_F16 || t == GPTC_TYPE_BF16 || gptc_type_is_quant(t);
}

/* A 3-D expert tensor [cols, rows, E] as one (E * rows, cols) weight. */
static gptc_status bind_exps(gptc_model *m, const char *name, int rows, int cols, int E, gptc_wt *w,
                             gptc_err *err)
{
    const gguf_tensor *t = gptc_gguf_find_tensor(m->file, name);
    if (!t) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' is missing", name);
    if (t->n_dims != 3 || t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows ||
        t->ne[2] != (uint64_t)E)
        return gptc_fail(
            err, GPTC_E_FORMAT,
            "model: tensor '%s' has shape [%llu, %llu, %llu] (%u dims), expected [%d, %d, %d]",
            name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
            (unsigned long long)(t->n_dims > 2 ? t->ne[2] : 1), t->n_dims, cols, rows, E);
    if (!computable(t->type)) {
        const gptc_type_traits *tt = gptc_type_info(t->type);
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: tensor '%s' has type %s, which gptc cannot compute yet", name,
                         tt ? tt->name : "unknown");
    }
    *w = (gptc_wt){.type = t->type, .data = t->data, .rows = rows * E, .cols = cols};
    return GPTC_OK;
}

/* An (E, n) bias [n, E] (or a 1-D [n] when E is 1) into an owned f32 array. */
static gptc_status bind_bias(gptc_model *m, const char *name, int n, int E, float **out,
                             gptc_err *err)
{
    const gguf_tensor *t = gptc_gguf_find_tensor(m->file, name);
    if (!t) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' is missing", name);
    const gptc_type_traits *tt = gptc_type_info(t->type);
    if (t->ne[0] != (uint64_t)n || (t->n_dims == 2 ? t->ne[1] : 1) != (uint64_t)E || t->n_dims > 2)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "model: tensor '%s' has shape [%llu, %llu], expected [%d, %d]", name,
                         (unsigned long long)t->ne[0],
                         (unsigned long long)(t->n_dims == 2 ? t->ne[1] : 1), n, E);
    if (!tt || !tt->to_float || n % tt->blck)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: tensor '%s' has type %s, which gptc cannot read", name,
                         tt ? tt->name : "unknown");
    float *v = malloc((size_t)n * E * sizeof *v);
    if (!v) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    for (int e = 0; e < E; e++)
        gptc_row_to_f32(v + (size_t)e * n, t->data, t->type, n, e);
    *out = v;
    return GPTC_OK;
}

gptc_status gptc_moe_bind(gptc_model *m, int l, int n_expert, int n_used, int n_ff, int biases,
                          gptc_moe **out, gptc_err *err)
{
    int D = m->hp.n_embd, E = n_expert, F = n_ff;
    gptc_moe *e = calloc(1, sizeof *e);
    if (!e) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    *out = e;
    e->n_expert = E;
    e->n_used = n_used;
    e->n_ff = F;
    char nm[96];
    gptc_status s;
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
    if ((s = gptc_model_bind_wt(m, NAME("ffn_gate_inp.weight"), E, D, &e->gate_inp, err)) ||
        (s = bind_exps(m, NAME("ffn_gate_exps.weight"), F, D, E, &e->gate, err)) ||
        (s = bind_exps(m, NAME("ffn_up_exps.weight"), F, D, E, &e->up, err)) ||
        (s = bind_exps(m, NAME("ffn_down_exps.weight"), D, F, E, &e->down, err)))
        return s;
    if (biases && ((s = bind_bias(m, NAME("ffn_gate_inp.bias"), E, 1, &e->gate_inp_b, err)) ||
                   (s = bind_bias(m, NAME("ffn_gate_exps.bias"), F, E, &e->b_gate, err)) ||
                   (s = bind_bias(m, NAME("ffn_up_exps.bias"), F, E, &e->b_up, err)) ||
                   (s = bind_bias(m, NAME("ffn_down_exps.bias"), D, E, &e->b_down, err))))
        return s;
#undef NAME
    /* a token reads k of the E experts (the router, bound by gptc_model_bind_wt, is counted) */
    uint64_t per_expert =
        (uint64_t)F * (gptc_row_bytes(e->gate.type, D) + gptc_row_bytes(e->up.type, D)) +
        (uint64_t)D * gptc_row_bytes(e->down.type, F);
    m->weight_bytes += (uint64_t)n_used * per_expert;
    return GPTC_OK;
}

gptc_status gptc_moe_bind_attention(gptc_model *m, int l, int biases, int qk_norm, int sinks,
                                    const char *ffn_norm_name, gptc_err *err)
{
    gptc_layer *ly = &m->layers[l];
    int D = m->hp.n_embd, Q = ly->n_head * ly->hd, K = ly->n_head_kv * ly->hd;
    char nm[96];
    gptc_status s;
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
    if ((s = gptc_model_bind_vec(m, NAME("attn_norm.weight"), D, &ly->attn_norm, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_q.weight"), Q, D, &ly->wq, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_k.weight"), K, D, &ly->wk, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_v.weight"), K, D, &ly->wv, err)) ||
        (s = gptc_model_bind_wt(m, NAME("attn_output.weight"), D, Q, &ly->wo, err)) ||
        (s = gptc_model_bind_vec(m, NAME(ffn_norm_name), D, &ly->ffn_norm, err)))
        return s;
    if (biases && ((s = gptc_model_bind_vec(m, NAME("attn_q.bias"), Q, &ly->bq, err)) ||
                   (s = gptc_model_bind_vec(m, NAME("attn_k.bias"), K, &ly->bk, err)) ||
                   (s = gptc_model_bind_vec(m, NAME("attn_v.bias"), K, &ly->bv, err)) ||
                   (s = gptc_model_bind_vec(m, NAME("attn_output.bias"), D, &ly->bo, err))))
        return s;
    if (qk_norm &&
        ((s = gptc_model_bind_vec(m, NAME("attn_q_norm.weight"), ly->hd, &ly->q_norm, err)) ||
         (s = gptc_model_bind_vec(m, NAME("attn_k_norm.weight"), ly->hd, &ly->k_norm, err))))
        return s;
    if (sinks &&
        (s = gptc_model_bind_vec(m, NAME("attn_sinks.weight"), ly->n_head, &ly->attn_sinks, err)))
        return s;
#undef NAME
    return GPTC_OK;
}

void gptc_moe_free(gptc_moe *e)
{
    if (!e) return;
    free(e->gate_inp_b);
    free(e->b_gate);
    free(e->b_up);
    free(e->b_down);
    free(e);
}

unsigned gptc_moe_act_forms(const gptc_moe *e, const gptc_ops *ops)
{
    unsigned used = 0;
    if (!e) return 0;
    const gptc_wt *w[] = {&e->gate_inp, &e->gate, &e->up, &e->down};
    for (int i = 0; i < 4; i++)
        if (gptc_type_is_quant(w[i]->type)) used |= 1u << ops->act_form(w[i]->type);
    return used;
}

/* ----- the forward pass ---------------------------------------------------------------------- */

typedef struct moe_job {
    gptc_ctx *c;
    const gptc_moe *e;
    int T, k, D, F, N; /* N = T * k pairs */
    const int *off;    /* (E + 1) first pair of each expert in the grouped order */
    const int *units;  /* (U, 2): expert, first row of 16 */
    int U;
    float *Xg;         /* (N, D) gathered inputs */
    void *Ag, *Au;     /* (N) inputs in gate's / up's activation form (quantized weights) */
    float *G, *H;      /* (N, F) gate results, activations (up results first) */
    void *Ah;          /* (N) H in down's activation form */
    float *Y;          /* (N, D) expert outputs */
    int q_forms[3];    /* activation form of gate, up, down (-1: float weight) */
    size_t q_bytes[3]; /* bytes per row of those forms */
    /* job_quant */
    const float *qx;
    void *qa;
    int qform, qC;
} moe_job;

/* Y (n, ldy) rows [r0, r1) of expert view w for n inputs: float rows X or activation rows A. */
static void mm(const gptc_ctx *c, float *Y, int ldy, const gptc_wt *w, const float *X,
               const void *A, int n, int r0, int r1)
{
    const gptc_ops *o = c->ops;
    switch (w->type) {
    case GPTC_TYPE_F32:
        o->matmul_f32(Y, ldy, w->data, X, n, w->cols, r0, r1);
        break;
    case GPTC_TYPE_F16:
        o->matmul_f16(Y, ldy, w->data, X, n, w->cols, r0, r1);
        break;
    case GPTC_TYPE_BF16:
        o->matmul_bf16(Y, ldy, w->data, X, n, w->cols, r0, r1);
        break;
    default:
        o->matmul_q(w->type, Y, ldy, w->data, A, n, w->cols, r0, r1);
    }
}

static void job_quant(void *arg, int ith, int nth)
{
    moe_job *j = arg;
    int r0, r1;
    gptc_split(j->N, ith, nth, &r0, &r1);
    size_t rb = j->c->ops->act_row_bytes(j->qform, j->qC);
    for (int r = r0; r < r1; r++)
        j->c->ops->act_quant(j->qform, (char *)j->qa + (size_t)r * rb, j->qx + (size_t)r * j->qC,
                             j->qC);
}

static void act_oai(float *g, const float *u, int n, float alpha, float limit)
{
    for (int i = 0; i < n; i++) {
        float x = g[i] < limit ? g[i] : limit;
        float y = u[i] < -limit ? -limit : u[i] > limit ? limit : u[i];
        g[i] = x / (1.0f + expf(alpha * -x)) * (y + 1.0f);
    }
}

static void job_gate_up(void *arg, int ith, int nth)
{
    moe_job *j = arg;
    const gptc_moe *e = j->e;
    int F = j->F, D = j->D, u0, u1;
    gptc_split(j->U, ith, nth, &u0, &u1);
    for (int u = u0; u < u1; u++) {
        int x = j->units[2 * u], r0 = j->units[2 * u + 1], r1 = GPTC_MIN(F, r0 + 16);
        int p0 = j->off[x], n = j->off[x + 1] - p0;
        gptc_wt wg = gptc_wt_rows(&e->gate, x * F, F), wu = gptc_wt_rows(&e->up, x * F, F);
        float *G = j->G + (size_t)p0 * F, *H = j->H + (size_t)p0 * F;
        const float *X = j->Xg + (size_t)p0 * D;
        mm(j->c, G, F, &wg, X, (const char *)j->Ag + (size_t)p0 * j->q_bytes[0], n, r0, r1);
        mm(j->c, H, F, &wu, X, (const char *)j->Au + (size_t)p0 * j->q_bytes[1], n, r0, r1);
        for (int t = 0; t < n; t++) {
            float *g = G + (size_t)t * F + r0, *h = H + (size_t)t * F + r0;
            if (e->b_gate)
                for (int i = 0; i < r1 - r0; i++)
                    g[i] += e->b_gate[(size_t)x * F + r0 + i];
            if (e->b_up)
                for (int i = 0; i < r1 - r0; i++)
                    h[i] += e->b_up[(size_t)x * F + r0 + i];
            if (e->act == GPTC_MOE_SWIGLU_OAI)
                act_oai(g, h, r1 - r0, e->alpha, e->limit);
            else
                j->c->ops->swiglu(g, g, h, r1 - r0);
            memcpy(h, g, (size_t)(r1 - r0) * sizeof *h); /* H holds the activations */
        }
    }
}

static void job_down(void *arg, int ith, int nth)
{
    moe_job *j = arg;
    const gptc_moe *e = j->e;
    int F = j->F, D = j->D, u0, u1;
    gptc_split(j->U, ith, nth, &u0, &u1);
    for (int u = u0; u < u1; u++) {
        int x = j->units[2 * u], r0 = j->units[2 * u + 1], r1 = GPTC_MIN(D, r0 + 16);
        int p0 = j->off[x], n = j->off[x + 1] - p0;
        gptc_wt wd = gptc_wt_rows(&e->down, x * D, D);
        float *Y = j->Y + (size_t)p0 * D;
        mm(j->c, Y, D, &wd, j->H + (size_t)p0 * F, (const char *)j->Ah + (size_t)p0 * j->q_bytes[2],
           n, r0, r1);
        if (e->b_down)
            for (int t = 0; t < n; t++)
                for (int i = r0; i < r1; i++)
                    Y[(size_t)t * D + i] += e->b_down[(size_t)x * D + i];
    }
}

static void run(gptc_ctx *c, gptc_task_fn fn, moe_job *j, uint64_t work)
{
    if (work < (1u << 16) || gptc_pool_size(c->pool) == 1)
        fn(j, 0, 1);
    else
        gptc_pool_run(c->pool, fn, j);
}

/* Convert the N rows of X (C) into A in form fm (nothing for float weights: fm < 0). */
static void quant_rows(moe_job *j, int fm, const float *X, void *A, int C)
{
    if (fm < 0) return;
    j->qform = fm;
    j->qx = X;
    j->qa = A;
    j->qC = C;
    run(j->c, job_quant, j, (uint64_t)j->N * C * 4);
}

void *gptc_moe_scratch(gptc_ctx *c, size_t n)
{
    if (c->moe_cap >= n) return c->moe_buf;
    free(c->moe_buf);
    c->moe_cap = 0;
    c->moe_buf = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (c->moe_buf) c->moe_cap = n;
    return c->moe_buf;
}

static size_t up64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* Top k of v (E) by value, highest first (the lower index on a tie); idx (k). */
static void topk(const float *v, int E, int k, int *idx)
{
    for (int s = 0; s < k; s++) {
        int best = -1;
        for (int i = 0; i < E; i++) {
            int taken = 0;
            for (int q = 0; q < s; q++)
                taken |= idx[q] == i;
            if (!taken && (best < 0 || v[i] > v[best])) best = i;
        }
        idx[s] = best;
    }
}

gptc_status gptc_blk_moe(gptc_fwd *f, const gptc_moe *e, gptc_err *err)
{
    gptc_ctx *c = f->c;
    const gptc_ops *ops = c->ops;
    int T = f->T, D = c->model->hp.n_embd, E = e->n_expert, k = e->n_used, F = e->n_ff, N = T * k;
    moe_job j = {.c = c, .e = e, .T = T, .k = k, .D = D, .F = F, .N = N};
    const gptc_wt *ws[3] = {&e->gate, &e->up, &e->down};
    int cols[3] = {D, D, F};
    for (int i = 0; i < 3; i++) {
        j.q_forms[i] = gptc_type_is_quant(ws[i]->type) ? ops->act_form(ws[i]->type) : -1;
        j.q_bytes[i] = j.q_forms[i] >= 0 ? ops->act_row_bytes(j.q_forms[i], cols[i]) : 0;
    }
    int units_max = E * ((GPTC_MAX(D, F) + 15) / 16);
    /* layout: logits (T, E) | sel (N) | w (N) | off (E + 1) | pair (N) | units | Xg | G | H | Y |
     * Ag | Au | Ah */
    size_t sz[13] = {up64((size_t)T * E * 4),
                     up64((size_t)N * 4),
                     up64((size_t)N * 4),
                     up64((size_t)(E + 1) * 4),
                     up64((size_t)N * 4),
                     up64((size_t)units_max * 8),
                     up64((size_t)N * D * 4),
                     up64((size_t)N * F * 4),
                     up64((size_t)N * F * 4),
                     up64((size_t)N * D * 4),
                     up64((size_t)N * j.q_bytes[0]),
                     up64((size_t)N * j.q_bytes[1]),
                     up64((size_t)N * j.q_bytes[2])};
    size_t total = 0;
    for (int i = 0; i < 13; i++)
        total += sz[i];
    char *buf = gptc_moe_scratch(c, total);
    if (!buf)
        return gptc_fail(err, GPTC_E_NOMEM, "decode: out of memory for the experts of %d tokens",
                         T);
    char *p[13];
    for (size_t i = 0, o = 0; i < 13; o += sz[i], i++)
        p[i] = buf + o;
    float *logits = (float *)p[0], *wts = (float *)p[2];
    int *sel = (int *)p[1], *off = (int *)p[3], *pair = (int *)p[4], *units = (int *)p[5];
    j.Xg = (float *)p[6], j.G = (float *)p[7], j.H = (float *)p[8], j.Y = (float *)p[9];
    j.Ag = p[10], j.Au = p[11], j.Ah = p[12];

    /* router and selection */
    gptc_blk_matmul(f, logits, &e->gate_inp, c->xb, e->gate_inp_b, T);
    for (int t = 0; t < T; t++) {
        float *lg = logits + (size_t)t * E, *w = wts + (size_t)t * k;
        int *s = sel + (size_t)t * k;
        if (e->gating == GPTC_MOE_TOPK_SOFTMAX) {
            topk(lg, E, k, s);
            for (int r = 0; r < k; r++)
                w[r] = lg[s[r]];
            gptc_softmax(w, k);
        } else {
            gptc_softmax(lg, E);
            topk(lg, E, k, s);
            float sum = 0.0f;
            for (int r = 0; r < k; r++)
                sum += lg[s[r]];
            for (int r = 0; r < k; r++)
                w[r] = lg[s[r]] / sum;
        }
    }
    /* group the (token, rank) pairs by expert */
    memset(off, 0, (size_t)(E + 1) * sizeof *off);
    for (int i = 0; i < N; i++)
        off[sel[i] + 1]++;
    for (int x = 0; x < E; x++)
        off[x + 1] += off[x];
    int *fill = units; /* borrowed as the per-expert fill counters */
    memset(fill, 0, (size_t)E * sizeof *fill);
    for (int i = 0; i < N; i++) {
        int x = sel[i], q = off[x] + fill[x]++;
        pair[i] = q;
        memcpy(j.Xg + (size_t)q * D, c->xb + (size_t)(i / k) * D, (size_t)D * sizeof(float));
    }
    j.off = off;
    j.units = units;

    /* gate, up and activation over (expert, 16 rows of F) */
    j.U = 0;
    for (int x = 0; x < E; x++)
        if (off[x + 1] > off[x])
            for (int r = 0; r < F; r += 16)
                units[2 * j.U] = x, units[2 * j.U + 1] = r, j.U++;
    quant_rows(&j, j.q_forms[0], j.Xg, j.Ag, D);
    if (j.q_forms[1] != j.q_forms[0])
        quant_rows(&j, j.q_forms[1], j.Xg, j.Au, D);
    else
        j.Au = j.Ag, j.q_bytes[1] = j.q_bytes[0];
    run(c, job_gate_up, &j, (uint64_t)N * D * F * 2);

    /* down over (expert, 16 rows of D) */
    j.U = 0;
    for (int x = 0; x < E; x++)
        if (off[x + 1] > off[x])
            for (int r = 0; r < D; r += 16)
                units[2 * j.U] = x, units[2 * j.U + 1] = r, j.U++;
    quant_rows(&j, j.q_forms[2], j.H, j.Ah, F);
    run(c, job_down, &j, (uint64_t)N * D * F);

    /* weighted sum in rank order */
    for (int t = 0; t < T; t++) {
        float *o = c->xb2 + (size_t)t * D;
        for (int r = 0; r < k; r++) {
            const float *y = j.Y + (size_t)pair[t * k + r] * D;
            float w = wts[t * k + r];
            if (r == 0)
                for (int i = 0; i < D; i++)
                    o[i] = y[i] * w;
            else
                for (int i = 0; i < D; i++)
                    o[i] += y[i] * w;
        }
    }
    return GPTC_OK;
}
