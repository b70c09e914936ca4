/*
 * context.c — gptc_ctx: creation with every buffer sized up front, and the KV cache operations
 * on sequences (clear, remove a range, copy a prefix to another sequence).
 */
#include "context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fp16.h"
#include "../quant/quant.h"

gptc_ctx_params gptc_ctx_default_params(void)
{
    gptc_ctx_params p = {.n_ctx = 0, .n_batch = 512, .n_threads = 0, .n_seq_max = 1};
    return p;
}

/* calloc of a*b*c floats (or c-byte elements) with overflow checks */
static void *alloc3(uint64_t a, uint64_t b, uint64_t c, size_t elem, int *fail)
{
    uint64_t n;
    if (gptc_mul_ovf(a, b, &n) || gptc_mul_ovf(n, c, &n) || gptc_mul_ovf(n, elem, &n) || n > SIZE_MAX) {
        *fail = 1;
        return NULL;
    }
    void *p = malloc(n ? (size_t)n : 1);
    if (!p) *fail = 1;
    return p;
}

/* Bit f set: some quantized weight of m reads activation form f of table ops (ops.h). */
static unsigned act_forms_used(const gptc_model *m, const gptc_ops *ops)
{
    unsigned used = 0;
    if (gptc_type_is_quant(m->output.type)) used |= 1u << ops->act_form(m->output.type);
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gptc_layer *ly = &m->layers[l];
        const gptc_wt *lw[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down, &ly->wqkv};
        for (int i = 0; i < 8; i++)
            if (gptc_type_is_quant(lw[i]->type)) used |= 1u << ops->act_form(lw[i]->type);
    }
    return used;
}

gptc_status gptc_ctx_init(const gptc_model *model, const gptc_ctx_params *params, gptc_ctx **out,
                          gptc_err *err)
{
    gptc_err_clear(err);
    *out = NULL;
    gptc_ctx_params p = params ? *params : gptc_ctx_default_params();
    const gptc_hparams *hp = &model->hp;
    if (p.n_ctx < 0 || p.n_batch < 0 || p.n_threads < 0 || p.n_threads > 1024)
        return gptc_fail(err, GPTC_E_INVALID, "context: negative n_ctx, n_batch or n_threads");
    if (p.n_ctx == 0) p.n_ctx = GPTC_MIN(hp->n_ctx_train, 4096);
    if (p.n_ctx > (1 << 24)) return gptc_fail(err, GPTC_E_INVALID, "context: n_ctx %d is too large", p.n_ctx);
    if (p.n_batch == 0) p.n_batch = 512;
    p.n_batch = GPTC_MIN(p.n_batch, p.n_ctx);
    if (p.n_seq_max <= 0) p.n_seq_max = 1;
    if (p.n_seq_max > 64) return gptc_fail(err, GPTC_E_INVALID, "context: n_seq_max %d is over 64", p.n_seq_max);

    gptc_ctx *c = calloc(1, sizeof *c);
    if (!c) return gptc_fail(err, GPTC_E_NOMEM, "context: out of memory");
    c->model = model;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->n_seq_max = p.n_seq_max;
    c->ops = gptc_ops_get();
    gptc_status s = gptc_pool_init(p.n_threads, &c->pool, err);
    if (s) {
        free(c);
        return s;
    }
    int nth = gptc_pool_size(c->pool);
    int L = hp->n_layer, N = c->n_ctx, B = c->n_batch, D = hp->n_embd, F = hp->n_ff, V = hp->n_vocab;
    int Q = hp->n_head * hp->head_dim, K = hp->n_head_kv * hp->head_dim;
    int fail = 0;
    c->k_cache = alloc3(L, N, K, sizeof(float), &fail);
    c->v_cache = alloc3(L, N, K, sizeof(float), &fail);
    c->cell_pos = alloc3(1, 1, N, sizeof(int32_t), &fail);
    c->cell_seq = alloc3(1, 1, N, sizeof(uint64_t), &fail);
    c->x = alloc3(1, B, D, sizeof(float), &fail);
    c->xb = alloc3(1, B, GPTC_MAX(D, Q), sizeof(float), &fail);
    c->q = alloc3(1, B, Q, sizeof(float), &fail);
    c->xb2 = alloc3(1, B, D, sizeof(float), &fail);
    c->rope_cs = alloc3(1, B, hp->n_rot, sizeof(float), &fail);
    c->inv_freq = alloc3(1, 1, hp->n_rot / 2, sizeof(float), &fail);
    c->kb = alloc3(1, B, K, sizeof(float), &fail);
    c->vb = alloc3(1, B, K, sizeof(float), &fail);
    c->hb = alloc3(1, B, F, sizeof(float), &fail);
    c->hb2 = alloc3(1, B, F, sizeof(float), &fail);
    c->att = alloc3(1, nth, N, sizeof(float), &fail);
    c->logits = alloc3(1, B, V, sizeof(float), &fail);
    c->logit_row = alloc3(1, 1, B, sizeof(int32_t), &fail);
    c->cell_of = alloc3(1, 1, B, sizeof(int32_t), &fail);
    c->out_idx = alloc3(1, 1, B, sizeof(int32_t), &fail);
    unsigned forms = act_forms_used(model, c->ops);
    for (int fm = 0; fm < GPTC_ACT_FORMS; fm++) {
        if (!(forms & 1u << fm)) continue;
        uint64_t bytes; /* aligned_alloc wants a multiple of the alignment */
        if (gptc_mul_ovf(B, c->ops->act_row_bytes(fm, GPTC_MAX(GPTC_MAX(D, Q), F)), &bytes) ||
            bytes > SIZE_MAX - 64 || !(c->xq[fm] = aligned_alloc(64, (size_t)((bytes + 64) & ~(uint64_t)63))))
            fail = 1;
    }
    if (p.embeddings) {
        c->embd_sum = alloc3(1, p.n_seq_max, D, sizeof(float), &fail);
        c->embd_n = alloc3(1, 1, p.n_seq_max, sizeof(int64_t), &fail);
        c->embd_out = alloc3(1, 1, D, sizeof(float), &fail);
    }
    if (fail) {
        gptc_ctx_free(c);
        return gptc_fail(err, GPTC_E_NOMEM, "context: out of memory for n_ctx %d (try a smaller --ctx)", N);
    }
    for (int i = 0; i < B; i++) c->logit_row[i] = -1;
    for (int i = 0; i < hp->n_rot / 2; i++)
        c->inv_freq[i] = powf(hp->rope_base, -2.0f * (float)i / (float)hp->n_rot);
    gptc_kv_clear(c);
    *out = c;
    return GPTC_OK;
}

void gptc_ctx_free(gptc_ctx *c)
{
    if (!c) return;
    gptc_pool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c->cell_pos);
    free(c->cell_seq);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->xb2);
    free(c->rope_cs);
    free(c->inv_freq);
    free(c->kb);
    free(c->vb);
    free(c->hb);
    free(c->hb2);
    free(c->att);
    free(c->logits);
    free(c->logit_row);
    free(c->cell_of);
    free(c->out_idx);
    for (int fm = 0; fm < GPTC_ACT_FORMS; fm++) free(c->xq[fm]);
    free(c->embd_sum);
    free(c->embd_n);
    free(c->embd_out);
    free(c);
}

int gptc_ctx_n_ctx(const gptc_ctx *c) { return c->n_ctx; }

/* Forget the pooled embedding of sequence s. */
static void embd_reset(gptc_ctx *c, int s)
{
    if (!c->embd_sum) return;
    int D = c->model->hp.n_embd;
    memset(c->embd_sum + (size_t)s * D, 0, (size_t)D * sizeof(float));
    c->embd_n[s] = 0;
}

void gptc_kv_clear(gptc_ctx *c)
{
    for (int i = 0; i < c->n_ctx; i++) {
        c->cell_pos[i] = -1;
        c->cell_seq[i] = 0;
    }
    c->n_cells_hi = 0;
    for (int s = 0; s < c->n_seq_max; s++) embd_reset(c, s);
}

static void shrink_hi(gptc_ctx *c)
{
    while (c->n_cells_hi > 0 && c->cell_pos[c->n_cells_hi - 1] < 0) c->n_cells_hi--;
}

void gptc_kv_seq_rm(gptc_ctx *c, int seq, int p0, int p1)
{
    if (seq < 0 || seq >= c->n_seq_max) return;
    if (p0 <= 0 && p1 < 0) embd_reset(c, seq); /* the whole sequence goes */
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    uint64_t bit = 1ull << seq;
    for (int i = 0; i < c->n_cells_hi; i++) {
        if ((c->cell_seq[i] & bit) && c->cell_pos[i] >= p0 && c->cell_pos[i] < p1) {
            c->cell_seq[i] &= ~bit;
            if (!c->cell_seq[i]) c->cell_pos[i] = -1;
        }
    }
    shrink_hi(c);
}

void gptc_kv_seq_cp(gptc_ctx *c, int src, int dst, int p0, int p1)
{
    if (src < 0 || src >= c->n_seq_max || dst < 0 || dst >= c->n_seq_max || src == dst) return;
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    uint64_t sb = 1ull << src, db = 1ull << dst;
    for (int i = 0; i < c->n_cells_hi; i++)
        if ((c->cell_seq[i] & sb) && c->cell_pos[i] >= p0 && c->cell_pos[i] < p1) c->cell_seq[i] |= db;
}

int gptc_kv_seq_pos_max(const gptc_ctx *c, int seq)
{
    if (seq < 0 || seq >= c->n_seq_max) return -1;
    uint64_t bit = 1ull << seq;
    int m = -1;
    for (int i = 0; i < c->n_cells_hi; i++)
        if ((c->cell_seq[i] & bit) && c->cell_pos[i] > m) m = c->cell_pos[i];
    return m;
}

float *gptc_get_logits(gptc_ctx *c, int i)
{
    if (i < 0 || i >= c->n_batch || c->logit_row[i] < 0) return NULL;
    return c->logits + (size_t)c->logit_row[i] * c->model->hp.n_vocab;
}

/* The final norm of each architecture, as its forward pass applies it before the output
 * projection: RMSNorm (llama) or LayerNorm with bias (gpt2). */
static void final_norm(const gptc_model *m, float *o, const float *x)
{
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd;
    if (m->arch != GPTC_ARCH_GPT2) {
        gptc_rmsnorm(o, x, m->out_norm, D, hp->norm_eps);
        return;
    }
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < D; i++) mean += x[i];
    mean /= (float)D;
    for (int i = 0; i < D; i++) var += (x[i] - mean) * (x[i] - mean);
    float s = 1.0f / sqrtf(var / (float)D + hp->norm_eps);
    for (int i = 0; i < D; i++) o[i] = (x[i] - mean) * s * m->out_norm[i] + m->out_norm_b[i];
}

void gptc_ctx_embd_accumulate(gptc_ctx *c, const gptc_batch *b)
{
    if (!c->embd_sum) return;
    int D = c->model->hp.n_embd;
    float *row = c->embd_out; /* scratch: overwritten by the next gptc_get_embeddings anyway */
    for (int t = 0; t < b->n_tokens; t++) {
        int s = b->seq_id ? b->seq_id[t] : 0;
        final_norm(c->model, row, c->x + (size_t)t * D);
        float *sum = c->embd_sum + (size_t)s * D;
        for (int i = 0; i < D; i++) sum[i] += row[i];
        c->embd_n[s]++;
    }
}

const float *gptc_get_embeddings(gptc_ctx *c, int seq)
{
    if (!c->embd_sum || seq < 0 || seq >= c->n_seq_max || c->embd_n[seq] == 0) return NULL;
    int D = c->model->hp.n_embd;
    const float *sum = c->embd_sum + (size_t)seq * D;
    double inv_n = 1.0 / (double)c->embd_n[seq], norm = 0.0;
    for (int i = 0; i < D; i++) {
        c->embd_out[i] = (float)(sum[i] * inv_n);
        norm += (double)c->embd_out[i] * c->embd_out[i];
    }
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (int i = 0; i < D; i++) c->embd_out[i] *= inv;
    }
    return c->embd_out;
}

void gptc_attend_head(const gptc_ctx *c, const float *q, const float *k, const float *v,
                      size_t stride, int hd, int own, int32_t pos, float scale, float *att,
                      float *out)
{
    const gptc_ops *ops = c->ops;
    uint64_t bit = c->cell_seq[own]; /* the token's own cell: exactly its sequences */
    int n_cells = c->n_cells_hi;
    float mx = -INFINITY;
    for (int i = 0; i < n_cells; i++) {
        if (!(c->cell_seq[i] & bit) || c->cell_pos[i] > pos || c->cell_pos[i] < 0) {
            att[i] = -INFINITY;
            continue;
        }
        float s = ops->dot_f32(q, k + (size_t)i * stride, hd) * scale;
        att[i] = s;
        if (s > mx) mx = s;
    }
    float sum = 0;
    for (int i = 0; i < n_cells; i++) {
        float e = att[i] == -INFINITY ? 0.0f : expf(att[i] - mx);
        att[i] = e;
        sum += e;
    }
    memset(out, 0, (size_t)hd * sizeof *out);
    float inv = 1.0f / sum; /* sum >= 1: the token sees its own cell */
    for (int i = 0; i < n_cells; i++) {
        if (att[i] == 0.0f) continue;
        float p = att[i] * inv;
        if (c->ggml_f16) p = gptc_f16_to_f32(gptc_f32_to_f16(p)); /* test-only: as ggml */
        ops->axpy_f32(out, p, v + (size_t)i * stride, hd);
    }
}
