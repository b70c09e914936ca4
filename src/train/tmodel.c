/*
 * tmodel.c — the trainable model of train.h: configuration, parameter table, activations, and
 * the forward and backward passes of both architectures.
 *
 * Per layer (x the residual stream, (N, D)):
 *   a   = norm1(x)                               RMSNorm | LayerNorm
 *   qkv = a · Wqkv^T (+ b)                        (N, Q + 2K); llama: RoPE on q and k
 *   y   = causal softmax(q k^T / sqrt(hd)) v     per sequence and head, k/v shared by groups
 *   x'  = x + y · Wo^T (+ b)
 *   a'  = norm2(x')
 *   f   = a' · Wup^T (+ b)                        llama: (N, 2F) gate | up; gpt2: (N, F)
 *   h   = swiglu(gate, up) | gelu(f)              (N, F)
 *   x'' = x' + h · Wdown^T (+ b)
 * and at the top: logits = normf(x) · Wout^T, softmax, cross-entropy.
 *
 * Backward runs the same steps in reverse with a running residual gradient dx (N, D). Weight
 * gradients are GEMMs summing over tokens; norm and bias gradients are summed per column by one
 * thread each (layers.h), so nothing depends on the thread count.
 *
 * Shape letters as in train.h.
 */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/layers.h"

/* ----- configuration -------------------------------------------------------------------------- */

void gptc_tconfig_defaults(gptc_tconfig *c)
{
    if (c->n_head_kv <= 0) c->n_head_kv = c->n_head;
    if (c->n_ff <= 0) {
        if (c->arch == GPTC_ARCH_GPT2) {
            c->n_ff = 4 * c->n_embd;
        } else {
            int h = 2 * (4 * c->n_embd) / 3;
            c->n_ff = (h + 31) / 32 * 32;
        }
    }
    if (c->norm_eps <= 0) c->norm_eps = 1e-5f;
    if (c->rope_base <= 0) c->rope_base = 10000.0f;
    if (c->arch == GPTC_ARCH_GPT2) c->tied = 1;
}

gptc_status gptc_tconfig_check(const gptc_tconfig *c, gptc_err *err)
{
    if (c->arch != GPTC_ARCH_LLAMA && c->arch != GPTC_ARCH_GPT2)
        return gptc_fail(err, GPTC_E_INVALID, "train: unknown architecture");
    const int big = 1 << 20;
    if (c->n_vocab < 1 || c->n_vocab > (1 << 24) || c->n_ctx < 1 || c->n_ctx > big ||
        c->n_embd < 1 || c->n_embd > 65536 || c->n_layer < 1 || c->n_layer > 1024 ||
        c->n_head < 1 || c->n_head_kv < 1 || c->n_ff < 1 || c->n_ff > big)
        return gptc_fail(
            err, GPTC_E_INVALID,
            "train: sizes out of range (vocab %d, ctx %d, dim %d, layers %d, heads %d, "
            "kv heads %d, ff %d)",
            c->n_vocab, c->n_ctx, c->n_embd, c->n_layer, c->n_head, c->n_head_kv, c->n_ff);
    if (c->n_embd % c->n_head)
        return gptc_fail(err, GPTC_E_INVALID, "train: dim %d is not divisible by heads %d",
                         c->n_embd, c->n_head);
    if (c->n_head % c->n_head_kv)
        return gptc_fail(err, GPTC_E_INVALID, "train: heads %d is not divisible by kv heads %d",
                         c->n_head, c->n_head_kv);
    if (c->arch == GPTC_ARCH_GPT2 && c->n_head_kv != c->n_head)
        return gptc_fail(err, GPTC_E_INVALID,
                         "train: gpt2 has no grouped-query attention (kv heads "
                         "%d must equal heads %d)",
                         c->n_head_kv, c->n_head);
    if (c->arch == GPTC_ARCH_LLAMA && (c->n_embd / c->n_head) % 2)
        return gptc_fail(err, GPTC_E_INVALID,
                         "train: RoPE needs an even head dimension (dim %d / "
                         "heads %d = %d)",
                         c->n_embd, c->n_head, c->n_embd / c->n_head);
    if (!(c->norm_eps > 0 && c->norm_eps < 1) || !(c->rope_base > 1 && c->rope_base < 1e12f))
        return gptc_fail(err, GPTC_E_INVALID, "train: norm epsilon or rope base out of range");
    return GPTC_OK;
}

/* ----- random numbers ------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void gptc_rng_seed(gptc_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t gptc_rng_u64(gptc_rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float gptc_rng_uniform(gptc_rng *r)
{
    return (float)(gptc_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

float gptc_rng_normal(gptc_rng *r)
{
    /* one normal per call (the pair's second value is dropped: simple to checkpoint) */
    double u1 = ((double)(gptc_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
    double u2 = (double)(gptc_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ----- the model ------------------------------------------------------------------------------ */

/* Offsets into the slab of one layer's tensors (SIZE_MAX: absent in this architecture). */
typedef struct layer_off {
    size_t norm1, norm1_b, qkv, qkv_b, wo, wo_b, norm2, norm2_b, up, up_b, down, down_b;
} layer_off;

/* Saved activations of one layer; pointers into the activation slab, sized for N = B*T. */
typedef struct layer_act {
    float *x;             /* (N, D) input of the layer (residual stream) */
    float *n1;            /* (N, D) norm1 output */
    float *mean1, *rstd1; /* (N) */
    float *qkv;           /* (N, Q + 2K) after RoPE */
    float *att;           /* (B, H, T, T) probabilities */
    float *y;             /* (N, Q) attention output */
    float *xm;            /* (N, D) residual after attention */
    float *n2;            /* (N, D) */
    float *mean2, *rstd2;
    float *f; /* (N, FF) up projection (llama: gate | up), pre-activation */
    float *h; /* (N, F) activation */
} layer_act;

struct gptc_tmodel {
    gptc_tconfig cfg;
    int Bmax, Tmax;
    int hd, Q, K, QKV, FF; /* FF = 2F (llama) or F (gpt2) */

    gptc_tparam *tp; /* (n_tp) owned */
    int n_tp;
    size_t n_params;
    float *params, *grads; /* (n_params) owned; grads may be swapped for another slab */
    float *own_grads;
    size_t wte, wpe, normf, normf_b, wout; /* offsets; wout == wte when tied */
    layer_off *lo;                         /* (L) owned */

    float *act_slab; /* owned: every activation and gradient buffer below */
    size_t act_n;
    layer_act *la;             /* (L) owned */
    float *xf;                 /* (N, D) final residual */
    float *nf, *meanf, *rstdf; /* final norm */
    float *logits;             /* (N, V) */
    float *losses;             /* (N) */
    float *inv_freq;           /* (hd / 2) */
    float *rope_cs;            /* (T, hd) cos/sin per position */
    int32_t *tokens, *targets; /* (N) copies of the last forward's */
    /* backward scratch */
    float *dx;   /* (N, D) residual gradient */
    float *dn;   /* (N, D) gradient at a norm output */
    float *dqkv; /* (N, Q + 2K) */
    float *dy;   /* (N, Q) */
    float *df;   /* (N, FF) */
    float *dh;   /* (N, F) */
    float *dp;   /* (threads, T, T) attention backward scratch */

    int B, T, n_targets; /* of the last forward */
    int have_loss;

    /* LoRA (gptc_tmodel_set_lora): every parameter frozen, adapters trained */
    const gptc_tlora *ad; /* (n_ad) borrowed */
    int n_ad, frozen;
    float *lu;        /* (n_ad + 1) slices of lu_stride: dY B scratch, then each adapter's X A^T */
    size_t lu_stride; /* Bmax * Tmax * the largest rank */

    gptc_pool *pool; /* owned */
    gptc_gemm *gemm; /* owned */
    const gptc_ops *ops;
};

#define NONE SIZE_MAX

static gptc_status add_param(gptc_tmodel *m, int *cap, const char *name, int ne0, int ne1, int kind,
                             size_t *off, gptc_err *err)
{
    if (m->n_tp == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        gptc_tparam *t = realloc(m->tp, (size_t)nc * sizeof *t);
        if (!t) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
        m->tp = t;
        *cap = nc;
    }
    gptc_tparam *p = &m->tp[m->n_tp++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->n_dims = ne1 > 0 ? 2 : 1;
    p->ne[0] = ne0;
    p->ne[1] = ne1 > 0 ? ne1 : 1;
    p->n = (size_t)ne0 * (size_t)p->ne[1];
    p->off = m->n_params;
    p->kind = kind;
    m->n_params += p->n;
    if (off) *off = p->off;
    return GPTC_OK;
}

static gptc_status build_table(gptc_tmodel *m, gptc_err *err)
{
    const gptc_tconfig *c = &m->cfg;
    int D = c->n_embd, F = c->n_ff, V = c->n_vocab, gpt2 = c->arch == GPTC_ARCH_GPT2, cap = 0;
    char nm[48];
    gptc_status s;
    m->lo = malloc((size_t)c->n_layer * sizeof *m->lo);
    if (!m->lo) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
    m->wpe = m->normf_b = NONE;
    if ((s = add_param(m, &cap, "token_embd.weight", D, V, GPTC_TP_EMBED, &m->wte, err))) return s;
    if (gpt2 &&
        (s = add_param(m, &cap, "position_embd.weight", D, c->n_ctx, GPTC_TP_EMBED, &m->wpe, err)))
        return s;
    for (int l = 0; l < c->n_layer; l++) {
        layer_off *o = &m->lo[l];
        for (size_t *p = &o->norm1; p <= &o->down_b; p++)
            *p = NONE;
#define P(suffix, ne0, ne1, kind, dst)                                                             \
    (snprintf(nm, sizeof nm, "blk.%d." suffix, l), add_param(m, &cap, nm, ne0, ne1, kind, dst, err))
        if (gpt2) {
            if ((s = P("attn_norm.weight", D, 0, GPTC_TP_NORM, &o->norm1)) ||
                (s = P("attn_norm.bias", D, 0, GPTC_TP_BIAS, &o->norm1_b)) ||
                (s = P("attn_qkv.weight", D, 3 * D, GPTC_TP_MATRIX, &o->qkv)) ||
                (s = P("attn_qkv.bias", 3 * D, 0, GPTC_TP_BIAS, &o->qkv_b)) ||
                (s = P("attn_output.weight", D, D, GPTC_TP_MATRIX, &o->wo)) ||
                (s = P("attn_output.bias", D, 0, GPTC_TP_BIAS, &o->wo_b)) ||
                (s = P("ffn_norm.weight", D, 0, GPTC_TP_NORM, &o->norm2)) ||
                (s = P("ffn_norm.bias", D, 0, GPTC_TP_BIAS, &o->norm2_b)) ||
                (s = P("ffn_up.weight", D, F, GPTC_TP_MATRIX, &o->up)) ||
                (s = P("ffn_up.bias", F, 0, GPTC_TP_BIAS, &o->up_b)) ||
                (s = P("ffn_down.weight", F, D, GPTC_TP_MATRIX, &o->down)) ||
                (s = P("ffn_down.bias", D, 0, GPTC_TP_BIAS, &o->down_b)))
                return s;
        } else {
            /* q, k, v adjacent: one (Q + 2K, D) matrix; gate, up adjacent: one (2F, D) */
            if ((s = P("attn_norm.weight", D, 0, GPTC_TP_NORM, &o->norm1)) ||
                (s = P("attn_q.weight", D, m->Q, GPTC_TP_MATRIX, &o->qkv)) ||
                (s = P("attn_k.weight", D, m->K, GPTC_TP_MATRIX, NULL)) ||
                (s = P("attn_v.weight", D, m->K, GPTC_TP_MATRIX, NULL)) ||
                (s = P("attn_output.weight", m->Q, D, GPTC_TP_MATRIX, &o->wo)) ||
                (s = P("ffn_norm.weight", D, 0, GPTC_TP_NORM, &o->norm2)) ||
                (s = P("ffn_gate.weight", D, F, GPTC_TP_MATRIX, &o->up)) ||
                (s = P("ffn_up.weight", D, F, GPTC_TP_MATRIX, NULL)) ||
                (s = P("ffn_down.weight", F, D, GPTC_TP_MATRIX, &o->down)))
                return s;
        }
#undef P
    }
    if ((s = add_param(m, &cap, "output_norm.weight", D, 0, GPTC_TP_NORM, &m->normf, err)))
        return s;
    if (gpt2 && (s = add_param(m, &cap, "output_norm.bias", D, 0, GPTC_TP_BIAS, &m->normf_b, err)))
        return s;
    m->wout = m->wte;
    if (!c->tied && (s = add_param(m, &cap, "output.weight", D, V, GPTC_TP_MATRIX, &m->wout, err)))
        return s;
    return GPTC_OK;
}

/* Carve n floats from the activation slab (a first pass with base NULL only counts). */
static float *carve(gptc_tmodel *m, float *base, size_t n)
{
    size_t at = m->act_n;
    m->act_n += (n + 15) & ~(size_t)15; /* 64-byte aligned pieces */
    return base ? base + at : NULL;
}

static void layout_acts(gptc_tmodel *m, float *base)
{
    const gptc_tconfig *c = &m->cfg;
    size_t N = (size_t)m->Bmax * m->Tmax, D = c->n_embd, F = c->n_ff;
    size_t att = (size_t)m->Bmax * c->n_head * m->Tmax * m->Tmax;
    int gpt2 = c->arch == GPTC_ARCH_GPT2;
    int nth = gptc_pool_size(m->pool);
    m->act_n = 0;
    for (int l = 0; l < c->n_layer; l++) {
        layer_act *a = &m->la[l];
        a->x = carve(m, base, N * D);
        a->n1 = carve(m, base, N * D);
        a->mean1 = gpt2 ? carve(m, base, N) : NULL;
        a->rstd1 = carve(m, base, N);
        a->qkv = carve(m, base, N * m->QKV);
        a->att = carve(m, base, att);
        a->y = carve(m, base, N * m->Q);
        a->xm = carve(m, base, N * D);
        a->n2 = carve(m, base, N * D);
        a->mean2 = gpt2 ? carve(m, base, N) : NULL;
        a->rstd2 = carve(m, base, N);
        a->f = carve(m, base, N * m->FF);
        a->h = carve(m, base, N * F);
    }
    m->xf = carve(m, base, N * D);
    m->nf = carve(m, base, N * D);
    m->meanf = gpt2 ? carve(m, base, N) : NULL;
    m->rstdf = carve(m, base, N);
    m->logits = carve(m, base, N * c->n_vocab);
    m->losses = carve(m, base, N);
    m->inv_freq = carve(m, base, m->hd / 2 + 1);
    m->rope_cs = carve(m, base, (size_t)m->Tmax * m->hd);
    m->tokens = (int32_t *)carve(m, base, N);
    m->targets = (int32_t *)carve(m, base, N);
    m->dx = carve(m, base, N * D);
    m->dn = carve(m, base, N * D);
    m->dqkv = carve(m, base, N * m->QKV);
    m->dy = carve(m, base, N * m->Q);
    m->df = carve(m, base, N * m->FF);
    m->dh = carve(m, base, N * F);
    m->dp = carve(m, base, (size_t)nth * m->Tmax * m->Tmax);
}

/* An upper bound of the activation floats in double, to refuse sizes before size_t overflows. */
static double act_floats_bound(const gptc_tconfig *c, int B, int T, int QKV, int FF)
{
    double N = (double)B * T, D = c->n_embd, L = c->n_layer;
    return L * (N * (5 * D + QKV + c->n_embd + FF + c->n_ff + 4) + (double)B * c->n_head * T * T) +
           N * (2 * D + c->n_vocab + 2 * D + QKV + D + FF + c->n_ff + 8) + 1e6;
}

gptc_status gptc_tmodel_init(const gptc_tconfig *cfg, int B, int T, int n_threads,
                             gptc_tmodel **out, gptc_err *err)
{
    *out = NULL;
    gptc_status s = gptc_tconfig_check(cfg, err);
    if (s) return s;
    if (B < 1 || T < 1 || T > cfg->n_ctx || B > (1 << 20))
        return gptc_fail(err, GPTC_E_INVALID, "train: batch %d x %d does not fit (context %d)", B,
                         T, cfg->n_ctx);
    gptc_tmodel *m = calloc(1, sizeof *m);
    if (!m) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
    m->cfg = *cfg;
    m->Bmax = B;
    m->Tmax = T;
    m->hd = cfg->n_embd / cfg->n_head;
    m->Q = cfg->n_head * m->hd;
    m->K = cfg->n_head_kv * m->hd;
    m->QKV = m->Q + 2 * m->K;
    m->FF = cfg->arch == GPTC_ARCH_LLAMA ? 2 * cfg->n_ff : cfg->n_ff;
    m->ops = gptc_ops_get();

    double params_bound =
        (double)cfg->n_layer * (4.0 * cfg->n_embd * cfg->n_embd + 3.0 * cfg->n_embd * cfg->n_ff) +
        2.0 * cfg->n_vocab * cfg->n_embd + (double)cfg->n_ctx * cfg->n_embd;
    double acts = act_floats_bound(cfg, B, T, m->QKV, m->FF);
    if (params_bound * 16 + acts * 4 > (double)SIZE_MAX / 2 ||
        params_bound * 16 + acts * 4 > 1e15) {
        free(m);
        return gptc_fail(err, GPTC_E_NOMEM, "train: the model and batch need %.3g GB, too much",
                         (params_bound * 16 + acts * 4) / 1e9);
    }
    if ((s = gptc_pool_init(n_threads, &m->pool, err))) {
        free(m);
        return s;
    }
    if ((s = gptc_gemm_init(NULL, gptc_pool_size(m->pool), &m->gemm, err)) ||
        (s = build_table(m, err))) {
        gptc_tmodel_free(m);
        return s;
    }
    m->la = calloc((size_t)cfg->n_layer, sizeof *m->la);
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = m->own_grads = calloc(m->n_params, sizeof(float));
    if (m->la) {
        layout_acts(m, NULL);
        m->act_slab = aligned_alloc(64, m->act_n * sizeof(float));
    }
    if (!m->la || !m->params || !m->grads || !m->act_slab) {
        double gb = (m->n_params * 8.0 + m->act_n * 4.0) / 1e9;
        gptc_tmodel_free(m);
        return gptc_fail(err, GPTC_E_NOMEM,
                         "train: out of memory (the model and batch need %.2f GB)", gb);
    }
    memset(m->act_slab, 0, m->act_n * sizeof(float));
    layout_acts(m, m->act_slab);
    for (int i = 0; i < m->hd / 2; i++)
        m->inv_freq[i] = powf(cfg->rope_base, -2.0f * (float)i / (float)m->hd);
    for (int t = 0; t < T; t++)
        gptc_tl_rope_table(m->rope_cs + (size_t)t * m->hd, t, m->inv_freq, m->hd);
    *out = m;
    return GPTC_OK;
}

void gptc_tmodel_free(gptc_tmodel *m)
{
    if (!m) return;
    gptc_gemm_free(m->gemm);
    gptc_pool_free(m->pool);
    free(m->tp);
    free(m->lo);
    free(m->la);
    free(m->params);
    free(m->own_grads);
    free(m->act_slab);
    free(m->lu);
    free(m);
}

const gptc_tconfig *gptc_tmodel_config(const gptc_tmodel *m)
{
    return &m->cfg;
}
int gptc_tmodel_n_tensors(const gptc_tmodel *m)
{
    return m->n_tp;
}
const gptc_tparam *gptc_tmodel_tensor(const gptc_tmodel *m, int i)
{
    return &m->tp[i];
}
size_t gptc_tmodel_n_params(const gptc_tmodel *m)
{
    return m->n_params;
}
float *gptc_tmodel_params(gptc_tmodel *m)
{
    return m->params;
}
float *gptc_tmodel_grads(gptc_tmodel *m)
{
    return m->grads;
}
gptc_pool *gptc_tmodel_pool(gptc_tmodel *m)
{
    return m->pool;
}
const gptc_gemm_kernel *gptc_tmodel_kernel(const gptc_tmodel *m)
{
    return gptc_gemm_get_kernel(m->gemm);
}
const float *gptc_tmodel_logits(const gptc_tmodel *m)
{
    return m->logits;
}

size_t gptc_tmodel_bytes(const gptc_tmodel *m)
{
    return (2 * m->n_params + m->act_n) * sizeof(float);
}

const gptc_tparam *gptc_tmodel_find(const gptc_tmodel *m, const char *name)
{
    for (int i = 0; i < m->n_tp; i++)
        if (strcmp(m->tp[i].name, name) == 0) return &m->tp[i];
    return NULL;
}

double gptc_tmodel_flops(const gptc_tmodel *m, int B, int T)
{
    const gptc_tconfig *c = &m->cfg;
    double N = (double)B * T, D = c->n_embd;
    double per_tok =
        c->n_layer * (D * m->QKV + m->Q * D + D * m->FF + (double)c->n_ff * D) + D * c->n_vocab;
    double attn =
        c->n_layer * (double)B * c->n_head * ((double)T * (T + 1) / 2) * m->hd * 2; /* qk + pv */
    return 6.0 * N * per_tok + 6.0 * attn; /* matmul: 2 forward + 4 backward flops per MAC */
}

void gptc_tmodel_init_weights(gptc_tmodel *m, gptc_rng *rng)
{
    float resid_std = 0.02f / sqrtf(2.0f * (float)m->cfg.n_layer);
    for (int i = 0; i < m->n_tp; i++) {
        const gptc_tparam *t = &m->tp[i];
        float *p = m->params + t->off;
        if (t->kind == GPTC_TP_NORM) {
            for (size_t j = 0; j < t->n; j++)
                p[j] = 1.0f;
        } else if (t->kind == GPTC_TP_BIAS) {
            memset(p, 0, t->n * sizeof *p);
        } else {
            int resid = strstr(t->name, "attn_output") || strstr(t->name, "ffn_down");
            float sd = resid ? resid_std : 0.02f;
            for (size_t j = 0; j < t->n; j++)
                p[j] = sd * gptc_rng_normal(rng);
        }
    }
}

/* ----- parallel helpers ----------------------------------------------------------------------- */

/* One job description for the row- and column-parallel steps; `op` picks the step. */
enum job_op {
    J_EMBED,
    J_NORM1,
    J_NORM2,
    J_NORMF,
    J_ROPE,
    J_ATT_FWD,
    J_ACT_FWD,
    J_XENT_FWD,
    J_XENT_BWD,
    J_ACT_BWD,
    J_ATT_BWD,
    J_ROPE_BWD,
    J_NORM_DX,
    J_NORM_DW,
    J_BIAS_DB,
    J_EMBED_BWD,
    J_BIAS_FWD,
};

typedef struct job {
    gptc_tmodel *m;
    enum job_op op;
    int l;
    /* J_NORM_DX / J_NORM_DW: which norm's input, weights and saved stats */
    const float *x, *w, *mean, *rstd;
    float *dw, *db;
    /* J_BIAS_DB / J_BIAS_FWD */
    float *y;
    const float *b;
    int C;
    float scale;
} job;

static void split16(int n, int ith, int nth, int *a, int *b)
{
    int c0, c1;
    gptc_split((n + 15) / 16, ith, nth, &c0, &c1);
    *a = GPTC_MIN(n, c0 * 16);
    *b = GPTC_MIN(n, c1 * 16);
}

static void norm_fwd_rows(gptc_tmodel *m, float *y, float *mean, float *rstd, const float *x,
                          size_t w_off, size_t b_off, int r0, int r1)
{
    int D = m->cfg.n_embd;
    size_t o = (size_t)r0 * D;
    if (m->cfg.arch == GPTC_ARCH_GPT2)
        gptc_tl_layernorm_fwd(y + o, mean + r0, rstd + r0, x + o, m->params + w_off,
                              m->params + b_off, r1 - r0, D, m->cfg.norm_eps);
    else
        gptc_tl_rmsnorm_fwd(y + o, rstd + r0, x + o, m->params + w_off, r1 - r0, D,
                            m->cfg.norm_eps);
}

static void job_fn(void *arg, int ith, int nth)
{
    job *j = arg;
    gptc_tmodel *m = j->m;
    const gptc_tconfig *c = &m->cfg;
    int N = m->B * m->T, D = c->n_embd, F = c->n_ff, V = c->n_vocab, H = c->n_head;
    int Hkv = c->n_head_kv, hd = m->hd, T = m->T, gpt2 = c->arch == GPTC_ARCH_GPT2;
    layer_act *a = j->l >= 0 && j->l < c->n_layer ? &m->la[j->l] : NULL;
    const layer_off *lo = a ? &m->lo[j->l] : NULL;
    float scale = 1.0f / sqrtf((float)hd);
    const gptc_gemm_kernel *kr = gptc_gemm_get_kernel(m->gemm);
    int r0, r1;
    gptc_split(N, ith, nth, &r0, &r1);

    switch (j->op) {
    case J_EMBED:
        gptc_tl_embed_fwd(m->la[0].x, m->params + m->wte, gpt2 ? m->params + m->wpe : NULL,
                          m->tokens, r0, r1, T, D);
        break;
    case J_NORM1:
        norm_fwd_rows(m, a->n1, a->mean1, a->rstd1, a->x, lo->norm1, lo->norm1_b, r0, r1);
        break;
    case J_NORM2:
        norm_fwd_rows(m, a->n2, a->mean2, a->rstd2, a->xm, lo->norm2, lo->norm2_b, r0, r1);
        break;
    case J_NORMF:
        norm_fwd_rows(m, m->nf, m->meanf, m->rstdf, m->xf, m->normf, m->normf_b, r0, r1);
        break;
    case J_ROPE:
    case J_ROPE_BWD: {
        float *base = j->op == J_ROPE ? a->qkv : m->dqkv;
        int inv = j->op == J_ROPE_BWD;
        for (int r = r0; r < r1; r++) {
            const float *cs = m->rope_cs + (size_t)(r % T) * hd;
            float *row = base + (size_t)r * m->QKV;
            gptc_tl_rope(row, cs, H, hd, hd, inv);
            gptc_tl_rope(row + m->Q, cs, Hkv, hd, hd, inv);
        }
        break;
    }
    case J_ATT_FWD: {
        int p0, p1;
        gptc_split(m->B * H, ith, nth, &p0, &p1);
        for (int p = p0; p < p1; p++) {
            int b = p / H, h = p % H, kvh = h / (H / Hkv);
            const float *base = a->qkv + (size_t)b * T * m->QKV;
            gptc_tl_attention_fwd_mm(m->gemm, ith, kr->expsum,
                                     a->y + (size_t)b * T * m->Q + (size_t)h * hd, m->Q,
                                     a->att + (size_t)p * T * T, base + (size_t)h * hd, m->QKV,
                                     base + m->Q + (size_t)kvh * hd,
                                     base + m->Q + m->K + (size_t)kvh * hd, m->QKV, T, hd, scale);
        }
        break;
    }
    case J_ATT_BWD: {
        int p0, p1, group = H / Hkv;
        gptc_split(m->B * Hkv, ith, nth, &p0, &p1);
        float *dp = m->dp + (size_t)ith * m->Tmax * m->Tmax;
        for (int p = p0; p < p1; p++) {
            int b = p / Hkv, kvh = p % Hkv;
            size_t row0 = (size_t)b * T;
            const float *base = a->qkv + row0 * m->QKV;
            float *dbase = m->dqkv + row0 * m->QKV;
            float *dk = dbase + m->Q + (size_t)kvh * hd, *dv = dk + m->K;
            for (int t = 0; t < T; t++) {
                memset(dk + (size_t)t * m->QKV, 0, (size_t)hd * sizeof(float));
                memset(dv + (size_t)t * m->QKV, 0, (size_t)hd * sizeof(float));
            }
            for (int h = kvh * group; h < (kvh + 1) * group; h++)
                gptc_tl_attention_bwd_mm(
                    m->gemm, ith, dbase + (size_t)h * hd, dk, dv, dp,
                    m->dy + row0 * m->Q + (size_t)h * hd, m->Q,
                    a->att + ((size_t)b * H + h) * T * T, base + (size_t)h * hd, m->QKV,
                    base + m->Q + (size_t)kvh * hd, base + m->Q + m->K + (size_t)kvh * hd, m->QKV,
                    T, hd, scale);
        }
        break;
    }
    case J_ACT_FWD:
        for (int r = r0; r < r1; r++) {
            const float *f = a->f + (size_t)r * m->FF;
            float *h = a->h + (size_t)r * F;
            if (gpt2)
                (kr->gelu_fwd ? kr->gelu_fwd : gptc_tl_gelu_fwd)(h, f, F);
            else
                (kr->swiglu_fwd ? kr->swiglu_fwd : gptc_tl_swiglu_fwd)(h, f, f + F, F);
        }
        break;
    case J_ACT_BWD:
        for (int r = r0; r < r1; r++) {
            const float *f = a->f + (size_t)r * m->FF, *dh = m->dh + (size_t)r * F;
            float *df = m->df + (size_t)r * m->FF;
            if (gpt2)
                (kr->gelu_bwd ? kr->gelu_bwd : gptc_tl_gelu_bwd)(df, f, dh, F);
            else
                (kr->swiglu_bwd ? kr->swiglu_bwd : gptc_tl_swiglu_bwd)(df, df + F, dh, f, f + F, F);
        }
        break;
    case J_XENT_FWD:
        gptc_tl_softmax_xent_fwd(m->logits + (size_t)r0 * V, m->losses + r0, m->targets + r0,
                                 r1 - r0, V, kr->expsum);
        break;
    case J_XENT_BWD:
        gptc_tl_softmax_xent_bwd(m->logits + (size_t)r0 * V, m->targets + r0, r1 - r0, V, j->scale);
        break;
    case J_NORM_DX:
        if (gpt2)
            gptc_tl_layernorm_bwd_dx(m->dx + (size_t)r0 * D, m->dn + (size_t)r0 * D,
                                     j->x + (size_t)r0 * D, j->w, j->mean + r0, j->rstd + r0,
                                     r1 - r0, D);
        else
            gptc_tl_rmsnorm_bwd_dx(m->dx + (size_t)r0 * D, m->dn + (size_t)r0 * D,
                                   j->x + (size_t)r0 * D, j->w, j->rstd + r0, r1 - r0, D);
        break;
    case J_NORM_DW: {
        int c0, c1;
        split16(D, ith, nth, &c0, &c1);
        if (gpt2)
            gptc_tl_layernorm_bwd_dwb(j->dw, j->db, m->dn, j->x, j->mean, j->rstd, N, D, c0, c1);
        else
            gptc_tl_rmsnorm_bwd_dw(j->dw, m->dn, j->x, j->rstd, N, D, c0, c1);
        break;
    }
    case J_BIAS_DB: {
        int c0, c1;
        split16(j->C, ith, nth, &c0, &c1);
        gptc_tl_bias_bwd(j->db, j->y, j->C, N, c0, c1);
        break;
    }
    case J_BIAS_FWD:
        gptc_tl_bias_fwd(j->y + (size_t)r0 * j->C, j->C, j->b, r1 - r0, j->C);
        break;
    case J_EMBED_BWD: {
        int c0, c1;
        split16(D, ith, nth, &c0, &c1);
        gptc_tl_embed_bwd(m->grads + m->wte, gpt2 ? m->grads + m->wpe : NULL, m->dx, m->tokens, N,
                          T, D, c0, c1);
        break;
    }
    }
}

static void run(gptc_tmodel *m, enum job_op op, int l)
{
    job j = {.m = m, .op = op, .l = l};
    gptc_pool_run(m->pool, job_fn, &j);
}

/* C (M, N) (+)= op(A) op(B) on the pool */
static void mm(gptc_tmodel *m, int ta, int tb, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, int acc, float *C, int ldc)
{
    gptc_gemm_run(m->gemm, m->pool, ta, tb, M, N, K, A, lda, B, ldb, acc, C, ldc);
}

static void bias_fwd(gptc_tmodel *m, float *y, size_t b_off, int C)
{
    job j = {.m = m, .op = J_BIAS_FWD, .l = -1, .y = y, .b = m->params + b_off, .C = C};
    gptc_pool_run(m->pool, job_fn, &j);
}

static void bias_bwd(gptc_tmodel *m, const float *dy, size_t b_off, int C)
{
    job j = {.m = m,
             .op = J_BIAS_DB,
             .l = -1,
             .y = GPTC_UNCONST(float *, dy),
             .db = m->grads + b_off,
             .C = C};
    gptc_pool_run(m->pool, job_fn, &j);
}

/* dx += norm backward of dn, and the norm's weight (and bias) gradients */
static void norm_bwd(gptc_tmodel *m, const float *x, size_t w_off, size_t b_off, const float *mean,
                     const float *rstd)
{
    job j = {.m = m,
             .op = J_NORM_DX,
             .l = -1,
             .x = x,
             .w = m->params + w_off,
             .mean = mean,
             .rstd = rstd,
             .dw = m->frozen ? NULL : m->grads + w_off,
             .db = !m->frozen && b_off != NONE ? m->grads + b_off : NULL};
    gptc_pool_run(m->pool, job_fn, &j);
    if (m->frozen) return;
    j.op = J_NORM_DW;
    gptc_pool_run(m->pool, job_fn, &j);
}

static void lora_fwd(gptc_tmodel *m, size_t w_off, int rows, int in, const float *X, int ldx,
                     float *Y, int ldy);
static void lora_bwd(gptc_tmodel *m, size_t w_off, int rows, int in, const float *X, int ldx,
                     const float *dY, int ldy, float *dX, int lddx);

/* ----- forward -------------------------------------------------------------------------------- */

gptc_status gptc_tmodel_forward(gptc_tmodel *m, const int32_t *tokens, const int32_t *targets,
                                int B, int T, float *loss, gptc_err *err)
{
    const gptc_tconfig *c = &m->cfg;
    if (B < 1 || T < 1 || B > m->Bmax || T > m->Tmax)
        return gptc_fail(err, GPTC_E_INVALID, "train: batch %d x %d is over the model's %d x %d", B,
                         T, m->Bmax, m->Tmax);
    int N = B * T, D = c->n_embd, V = c->n_vocab, gpt2 = c->arch == GPTC_ARCH_GPT2;
    m->n_targets = 0;
    for (int i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= V)
            return gptc_fail(err, GPTC_E_RANGE, "train: token %d is outside the vocabulary (%d)",
                             tokens[i], V);
        if (targets && (targets[i] < -1 || targets[i] >= V))
            return gptc_fail(err, GPTC_E_RANGE, "train: target %d is outside the vocabulary (%d)",
                             targets[i], V);
        m->n_targets += targets && targets[i] >= 0;
    }
    m->B = B;
    m->T = T;
    m->have_loss = targets != NULL;
    memcpy(m->tokens, tokens, (size_t)N * sizeof *tokens);
    if (targets) memcpy(m->targets, targets, (size_t)N * sizeof *targets);

    run(m, J_EMBED, -1);
    for (int l = 0; l < c->n_layer; l++) {
        layer_act *a = &m->la[l];
        const layer_off *o = &m->lo[l];
        float *x_next = l + 1 < c->n_layer ? m->la[l + 1].x : m->xf;
        run(m, J_NORM1, l);
        mm(m, 0, 1, N, m->QKV, D, a->n1, D, m->params + o->qkv, D, 0, a->qkv, m->QKV);
        lora_fwd(m, o->qkv, m->QKV, D, a->n1, D, a->qkv, m->QKV);
        if (gpt2)
            bias_fwd(m, a->qkv, o->qkv_b, m->QKV);
        else
            run(m, J_ROPE, l);
        run(m, J_ATT_FWD, l);
        memcpy(a->xm, a->x, (size_t)N * D * sizeof(float));
        mm(m, 0, 1, N, D, m->Q, a->y, m->Q, m->params + o->wo, m->Q, 1, a->xm, D);
        lora_fwd(m, o->wo, D, m->Q, a->y, m->Q, a->xm, D);
        if (gpt2) bias_fwd(m, a->xm, o->wo_b, D);
        run(m, J_NORM2, l);
        mm(m, 0, 1, N, m->FF, D, a->n2, D, m->params + o->up, D, 0, a->f, m->FF);
        lora_fwd(m, o->up, m->FF, D, a->n2, D, a->f, m->FF);
        if (gpt2) bias_fwd(m, a->f, o->up_b, m->FF);
        run(m, J_ACT_FWD, l);
        memcpy(x_next, a->xm, (size_t)N * D * sizeof(float));
        mm(m, 0, 1, N, D, c->n_ff, a->h, c->n_ff, m->params + o->down, c->n_ff, 1, x_next, D);
        lora_fwd(m, o->down, D, c->n_ff, a->h, c->n_ff, x_next, D);
        if (gpt2) bias_fwd(m, x_next, o->down_b, D);
    }
    run(m, J_NORMF, -1);
    mm(m, 0, 1, N, V, D, m->nf, D, m->params + m->wout, D, 0, m->logits, V);
    if (targets) {
        run(m, J_XENT_FWD, -1);
        double sum = 0;
        for (int i = 0; i < N; i++)
            sum += m->losses[i];
        if (loss) *loss = m->n_targets ? (float)(sum / m->n_targets) : 0.0f;
    } else if (loss) {
        *loss = 0.0f;
    }
    return GPTC_OK;
}

/* ----- LoRA ----------------------------------------------------------------------------------- */

gptc_status gptc_tmodel_set_lora(gptc_tmodel *m, const gptc_tlora *ad, int n, gptc_err *err)
{
    if (m->frozen) return gptc_fail(err, GPTC_E_INVALID, "train: the adapters are already set");
    int rmax = 1;
    for (int i = 0; i < n; i++) {
        const gptc_tlora *l = &ad[i];
        int ok = 0;
        for (int k = 0; k < m->n_tp && !ok; k++)
            ok = m->tp[k].off == l->off && m->tp[k].n_dims == 2 && m->tp[k].ne[0] == l->in &&
                 m->tp[k].ne[1] == l->out && m->tp[k].kind == GPTC_TP_MATRIX && l->off != m->wout;
        if (!ok || l->rank < 1 || l->rank > l->in || l->rank > l->out)
            return gptc_fail(err, GPTC_E_INVALID,
                             "train: adapter %d (%d x %d, rank %d) fits no layer matrix of the "
                             "model",
                             i, l->out, l->in, l->rank);
        rmax = GPTC_MAX(rmax, l->rank);
    }
    size_t nr = (size_t)m->Bmax * m->Tmax * rmax;
    float *lu = malloc(((size_t)n + 1) * nr * sizeof(float));
    if (!lu) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory for the adapters");
    m->lu = lu;
    m->lu_stride = nr;
    m->ad = ad;
    m->n_ad = n;
    m->frozen = 1;
    /* nothing computes parameter gradients any more */
    free(m->own_grads);
    m->own_grads = m->grads = NULL;
    return GPTC_OK;
}

/* The adapters on the (fused) matrix at w_off with `rows` rows of `in`: an adapter on its part
 * from row r0 on sees the columns from r0 of the product's output Y (N, rows). */
#define FOR_ADAPTERS(m, w_off, rows, in)                                                           \
    for (int i_ = 0; i_ < (m)->n_ad; i_++)                                                         \
        if ((m)->ad[i_].off >= (w_off) && (m)->ad[i_].off < (w_off) + (size_t)(rows) * (in))

/* Forward, after Y (+)= X W0^T: Y += U B^T with U = scale X A^T (N, r), kept for backward. */
static void lora_fwd(gptc_tmodel *m, size_t w_off, int rows, int in, const float *X, int ldx,
                     float *Y, int ldy)
{
    int N = m->B * m->T;
    FOR_ADAPTERS(m, w_off, rows, in)
    {
        const gptc_tlora *l = &m->ad[i_];
        float *U = m->lu + (size_t)(i_ + 1) * m->lu_stride;
        size_t nr = (size_t)N * l->rank;
        mm(m, 0, 1, N, l->rank, in, X, ldx, l->a, in, 0, U, l->rank);
        for (size_t k = 0; k < nr; k++)
            U[k] *= l->scale;
        mm(m, 0, 1, N, l->out, l->rank, U, l->rank, l->b, l->rank, 1,
           Y + (l->off - w_off) / (size_t)in, ldy);
    }
}

/* Backward, after dX = dY W0: dB += dY^T U; with V = scale dY B (N, r): dA += V^T X and
 * dX += V A. */
static void lora_bwd(gptc_tmodel *m, size_t w_off, int rows, int in, const float *X, int ldx,
                     const float *dY, int ldy, float *dX, int lddx)
{
    int N = m->B * m->T;
    FOR_ADAPTERS(m, w_off, rows, in)
    {
        const gptc_tlora *l = &m->ad[i_];
        const float *dy = dY + (l->off - w_off) / (size_t)in;
        const float *U = m->lu + (size_t)(i_ + 1) * m->lu_stride;
        float *V = m->lu;
        int r = l->rank;
        size_t nr = (size_t)N * r;
        mm(m, 1, 0, l->out, r, N, dy, ldy, U, r, 1, l->gb, r);
        mm(m, 0, 0, N, r, l->out, dy, ldy, l->b, r, 0, V, r);
        for (size_t k = 0; k < nr; k++)
            V[k] *= l->scale;
        mm(m, 1, 0, r, in, N, V, r, X, ldx, 1, l->ga, in);
        if (dX) mm(m, 0, 0, N, in, r, V, r, l->a, in, 1, dX, lddx);
    }
}

/* ----- backward ------------------------------------------------------------------------------- */

void gptc_tmodel_zero_grad(gptc_tmodel *m)
{
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

float *gptc_tmodel_swap_grads(gptc_tmodel *m, float *g)
{
    float *old = m->grads;
    m->grads = g ? g : m->own_grads;
    return old;
}

void gptc_tmodel_backward(gptc_tmodel *m, float scale)
{
    const gptc_tconfig *c = &m->cfg;
    GPTC_ASSERT(m->have_loss);
    int N = m->B * m->T, D = c->n_embd, V = c->n_vocab, F = c->n_ff,
        gpt2 = c->arch == GPTC_ARCH_GPT2, fz = m->frozen;
    float *g = m->grads;

    /* top: cross-entropy, classifier, final norm */
    job jx = {.m = m,
              .op = J_XENT_BWD,
              .l = -1,
              .scale = m->n_targets ? scale / (float)m->n_targets : 0.0f};
    gptc_pool_run(m->pool, job_fn, &jx);
    if (!fz) mm(m, 1, 0, V, D, N, m->logits, V, m->nf, D, 1, g + m->wout, D);
    mm(m, 0, 0, N, D, V, m->logits, V, m->params + m->wout, D, 0, m->dn, D);
    memset(m->dx, 0, (size_t)N * D * sizeof(float));
    norm_bwd(m, m->xf, m->normf, m->normf_b, m->meanf, m->rstdf);

    /* frozen: no weight's gradient, only the adapters' (lora_bwd); the layers below the lowest
     * adapter need no gradient at all */
    int l_low = 0;
    if (fz) {
        l_low = c->n_layer;
        for (int i = 0; i < m->n_ad; i++)
            for (int l = 0; l < l_low; l++) {
                const layer_off *o = &m->lo[l];
                if (m->ad[i].off >= o->qkv && m->ad[i].off <= o->down) l_low = l;
            }
    }
    for (int l = c->n_layer - 1; l >= l_low; l--) {
        layer_act *a = &m->la[l];
        const layer_off *o = &m->lo[l];
        /* feed-forward: dx is the gradient at this layer's output */
        if (!fz) {
            if (gpt2) bias_bwd(m, m->dx, o->down_b, D);
            mm(m, 1, 0, D, F, N, m->dx, D, a->h, F, 1, g + o->down, F);
        }
        mm(m, 0, 0, N, F, D, m->dx, D, m->params + o->down, F, 0, m->dh, F);
        lora_bwd(m, o->down, D, F, a->h, F, m->dx, D, m->dh, F);
        run(m, J_ACT_BWD, l);
        if (!fz) {
            if (gpt2) bias_bwd(m, m->df, o->up_b, m->FF);
            mm(m, 1, 0, m->FF, D, N, m->df, m->FF, a->n2, D, 1, g + o->up, D);
        }
        mm(m, 0, 0, N, D, m->FF, m->df, m->FF, m->params + o->up, D, 0, m->dn, D);
        lora_bwd(m, o->up, m->FF, D, a->n2, D, m->df, m->FF, m->dn, D);
        norm_bwd(m, a->xm, o->norm2, o->norm2_b, a->mean2, a->rstd2);
        /* attention: dx is now the gradient at xm */
        if (!fz) {
            if (gpt2) bias_bwd(m, m->dx, o->wo_b, D);
            mm(m, 1, 0, D, m->Q, N, m->dx, D, a->y, m->Q, 1, g + o->wo, m->Q);
        }
        mm(m, 0, 0, N, m->Q, D, m->dx, D, m->params + o->wo, m->Q, 0, m->dy, m->Q);
        lora_bwd(m, o->wo, D, m->Q, a->y, m->Q, m->dx, D, m->dy, m->Q);
        run(m, J_ATT_BWD, l);
        if (!gpt2)
            run(m, J_ROPE_BWD, l);
        else if (!fz)
            bias_bwd(m, m->dqkv, o->qkv_b, m->QKV);
        if (fz && l == l_low) { /* nothing below needs the gradient: only the adapters' */
            lora_bwd(m, o->qkv, m->QKV, D, a->n1, D, m->dqkv, m->QKV, NULL, 0);
            break;
        }
        if (!fz) mm(m, 1, 0, m->QKV, D, N, m->dqkv, m->QKV, a->n1, D, 1, g + o->qkv, D);
        mm(m, 0, 0, N, D, m->QKV, m->dqkv, m->QKV, m->params + o->qkv, D, 0, m->dn, D);
        lora_bwd(m, o->qkv, m->QKV, D, a->n1, D, m->dqkv, m->QKV, m->dn, D);
        norm_bwd(m, a->x, o->norm1, o->norm1_b, a->mean1, a->rstd1);
    }
    if (!fz) run(m, J_EMBED_BWD, -1);
    m->have_loss = 0; /* the probabilities are now gradients */
}
