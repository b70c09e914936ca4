/*
 * context.c — gptc_ctx: creation with every buffer sized up front, and the KV cache operations
 * on sequences (clear, remove a range, copy a prefix to another sequence).
 */
#include "context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    free(c);
}

int gptc_ctx_n_ctx(const gptc_ctx *c) { return c->n_ctx; }

void gptc_kv_clear(gptc_ctx *c)
{
    for (int i = 0; i < c->n_ctx; i++) {
        c->cell_pos[i] = -1;
        c->cell_seq[i] = 0;
    }
    c->n_cells_hi = 0;
}

static void shrink_hi(gptc_ctx *c)
{
    while (c->n_cells_hi > 0 && c->cell_pos[c->n_cells_hi - 1] < 0) c->n_cells_hi--;
}

void gptc_kv_seq_rm(gptc_ctx *c, int seq, int p0, int p1)
{
    if (seq < 0 || seq >= c->n_seq_max) return;
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
