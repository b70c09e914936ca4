/*
 * context.c — gptc_ctx: creation with every buffer sized up front, and the KV cache operations
 * on sequences (clear, remove a range, copy a prefix to another sequence).
 */
#include "model/context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fp16.h"
#include "model/decode.h"
#include "model/moe.h"
#include "quant/quant.h"

gptc_ctx_params gptc_ctx_default_params(void)
{
    gptc_ctx_params p = {.n_ctx = 0, .n_batch = 512, .n_threads = 0, .n_seq_max = 1};
    p.type_k = p.type_v = GPTC_TYPE_F16;
    return p;
}

/* calloc of a*b*c floats (or c-byte elements) with overflow checks */
static void *alloc3(uint64_t a, uint64_t b, uint64_t c, size_t elem, int *fail)
{
    uint64_t n;
    if (gptc_mul_ovf(a, b, &n) || gptc_mul_ovf(n, c, &n) || gptc_mul_ovf(n, elem, &n) ||
        n > SIZE_MAX) {
        *fail = 1;
        return NULL;
    }
    void *p = malloc(n ? (size_t)n : 1);
    if (!p) *fail = 1;
    return p;
}

/* The KV cache: 2 MiB-aligned and, where the kernel allows it, in transparent huge pages. A head's
 * rows are one cell row apart (all KV heads of a layer), so a long-context pass over one head
 * touches a new 4 KiB page every few rows: with 4 KiB pages the TLB misses on nearly every row. */
static void *alloc_kv(uint64_t n, int *fail)
{
    if (n < ((uint64_t)2 << 20)) return alloc3(1, 1, n, 1, fail);
    void *p = n <= SIZE_MAX ? gptc_alloc_huge((size_t)n) : NULL;
    if (!p) *fail = 1;
    return p;
}

/* Bit f set: some quantized weight of m reads activation form f of table ops (ops.h). */
static unsigned act_forms_used(const gptc_model *m, const gptc_ops *ops)
{
    unsigned used = 0;
    if (gptc_type_is_quant(m->output.type)) used |= 1u << gptc_wt_act_form(&m->output, ops);
    if (gptc_type_is_quant(m->ple_model_proj.type))
        used |= 1u << ops->act_form(m->ple_model_proj.type);
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gptc_layer *ly = &m->layers[l];
        const gptc_wt *lw[] = {&ly->wq,   &ly->wk,     &ly->wv,   &ly->wo,       &ly->w_gate,
                               &ly->w_up, &ly->w_down, &ly->wqkv, &ly->ple_gate, &ly->ple_proj};
        for (int i = 0; i < 10; i++)
            if (gptc_type_is_quant(lw[i]->type)) used |= 1u << gptc_wt_act_form(lw[i], ops);
        for (int i = 0; i < 3; i++)
            if (ly->aux[i].data && gptc_type_is_quant(ly->aux[i].type))
                used |= 1u << ops->act_form(ly->aux[i].type);
        used |= gptc_moe_act_forms(ly->moe, ops);
        if (ly->sconv)
            for (int i = 0; i < 2; i++) {
                const gptc_wt *w = i ? &ly->sconv->out_proj : &ly->sconv->in_proj;
                if (gptc_type_is_quant(w->type)) used |= 1u << ops->act_form(w->type);
            }
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
    if (p.n_ctx == 0) {
        int ok = gptc_cache_type_ok(p.type_k) && gptc_cache_type_ok(p.type_v);
        p.n_ctx = gptc_ctx_auto_n_ctx(model, 0, ok ? p.type_k : GPTC_TYPE_F16,
                                      ok ? p.type_v : GPTC_TYPE_F16, 1);
    }
    if (p.n_ctx > (1 << 24))
        return gptc_fail(err, GPTC_E_INVALID, "context: n_ctx %d is too large", p.n_ctx);
    if (p.n_batch == 0) p.n_batch = 512;
    p.n_batch = GPTC_MIN(p.n_batch, p.n_ctx);
    if (p.n_seq_max <= 0) p.n_seq_max = 1;
    if (p.n_seq_max > 64)
        return gptc_fail(err, GPTC_E_INVALID, "context: n_seq_max %d is over 64", p.n_seq_max);
    if (p.n_ckpt < 0 || p.n_ckpt > 1024)
        return gptc_fail(err, GPTC_E_INVALID, "context: n_ckpt %d is outside 0..1024", p.n_ckpt);
    if (p.n_ckpt == 0) p.n_ckpt = 4;

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
    int L = hp->n_layer, N = c->n_ctx, B = c->n_batch, D = hp->n_embd, V = hp->n_vocab;
    int Q = 0, K = 0, F = 0, R = 2, G = 1;
    uint64_t k_total = 0, v_total = 0;
    int fail = 0;
    c->type_k = (uint32_t)p.type_k;
    c->type_v = (uint32_t)p.type_v;
    for (int w = 0; w < 2; w++) {
        int t = w ? p.type_v : p.type_k;
        if (t != GPTC_TYPE_F32 && t != GPTC_TYPE_F16 && t != GPTC_TYPE_Q8_0) {
            gptc_ctx_free(c);
            return gptc_fail(err, GPTC_E_INVALID,
                             "context: KV cache type %d is not f32, f16 or q8_0", t);
        }
    }
    c->k_off = alloc3(1, 1, L, sizeof(size_t), &fail);
    c->v_off = alloc3(1, 1, L, sizeof(size_t), &fail);
    /* rings for the local layers of a model that mixes local and global ones, when smaller */
    if (!p.swa_full && !model->swa_min && !fail) {
        int w = 0;
        for (int l = 0; l < L; l++)
            if (model->layers[l].kv_src == l && model->layers[l].n_swa > 0)
                w = GPTC_MAX(w, model->layers[l].n_swa);
        if (w > 0 && (int64_t)(w + B) * p.n_seq_max < N) {
            c->ring = w + B;
            c->ring_w = w;
            c->layer_ring = alloc3(1, 1, L, 1, &fail);
            c->ring_pos = alloc3(1, p.n_seq_max, c->ring, sizeof(int32_t), &fail);
            c->ring_lost = alloc3(1, 1, p.n_seq_max, sizeof(int32_t), &fail);
            c->ring_of = alloc3(1, 1, B, sizeof(int32_t), &fail);
            for (int l = 0; l < L && c->layer_ring; l++)
                c->layer_ring[l] = model->layers[model->layers[l].kv_src].n_swa > 0;
        }
    }
    for (int l = 0; l < L && !fail; l++) {
        const gptc_layer *ly = &model->layers[l];
        int kl = ly->n_head_kv * ly->hd;
        Q = GPTC_MAX(Q, ly->n_head * ly->hd);
        K = GPTC_MAX(K, kl);
        F = GPTC_MAX(F, ly->n_ff);
        if (ly->n_head_kv > 0) G = GPTC_MAX(G, ly->n_head / ly->n_head_kv);
        if (ly->rope) R = GPTC_MAX(R, ly->rope->n_rot);
        if ((c->type_k == GPTC_TYPE_Q8_0 || c->type_v == GPTC_TYPE_Q8_0) && kl % 32) {
            gptc_ctx_free(c);
            return gptc_fail(
                err, GPTC_E_INVALID,
                "context: a q8_0 KV cache needs rows of a multiple of 32 values; layer %d has %d",
                l, kl);
        }
        if (ly->kv_src == l) {
            uint64_t rows = c->layer_ring && c->layer_ring[l]
                                ? (uint64_t)c->ring * (uint64_t)p.n_seq_max
                                : (uint64_t)N;
            c->k_off[l] = (size_t)k_total;
            c->v_off[l] = (size_t)v_total;
            k_total += rows * gptc_row_bytes(c->type_k, kl);
            v_total += rows * gptc_row_bytes(c->type_v, kl);
        } else { /* kv_src < l: checked at bind */
            c->k_off[l] = c->k_off[ly->kv_src];
            c->v_off[l] = c->v_off[ly->kv_src];
        }
    }
    uint64_t S = 0; /* recurrent state: offsets of the layers' parts of a slot */
    c->state_off = alloc3(1, 1, L, sizeof(size_t), &fail);
    for (int l = 0; l < L && !fail; l++) {
        c->state_off[l] = (size_t)S;
        S += (uint64_t)GPTC_MAX(model->layers[l].n_state, 0);
    }
    if (S > 0 && !fail) {
        c->n_state = (size_t)S;
        c->n_ckpt = p.n_ckpt;
        c->state = alloc3(p.n_seq_max, S, 1, sizeof(float), &fail);
        c->state_len = alloc3(1, 1, p.n_seq_max, sizeof(int32_t), &fail);
        c->ckpt = alloc3(p.n_seq_max, p.n_ckpt, 1, sizeof(float *), &fail);
        c->ckpt_len = alloc3(p.n_seq_max, p.n_ckpt, 1, sizeof(int32_t), &fail);
        c->ckpt_age = alloc3(p.n_seq_max, p.n_ckpt, 1, sizeof(uint64_t), &fail);
        if (c->ckpt) memset(c->ckpt, 0, (size_t)p.n_seq_max * p.n_ckpt * sizeof(float *));
    }
    if (model->rs_floats > 0) c->rs = alloc3(1, B, model->rs_floats, sizeof(float), &fail);
    c->k_cache = alloc_kv(k_total, &fail);
    c->v_cache = alloc_kv(v_total, &fail);
    c->kv_total = k_total + v_total;
    c->att_idx = alloc3(1, nth, N, sizeof(int32_t), &fail);
    c->att_list = alloc3(1, nth, 1, sizeof(gptc_att_list), &fail);
    if (c->att_list) memset(c->att_list, 0, (size_t)nth * sizeof(gptc_att_list));
    c->att_gen = 1;
    c->cell_pos = alloc3(1, 1, N, sizeof(int32_t), &fail);
    c->cell_seq = alloc3(1, 1, N, sizeof(uint64_t), &fail);
    c->x = alloc3(1, B, D, sizeof(float), &fail);
    c->xb = alloc3(1, B, GPTC_MAX(D, Q), sizeof(float), &fail);
    c->q = alloc3(1, B, Q, sizeof(float), &fail);
    c->xb2 = alloc3(1, B, D, sizeof(float), &fail);
    c->rope_cs = alloc3(1, B, R, sizeof(float), &fail);
    c->kb = alloc3(1, B, K, sizeof(float), &fail);
    c->vb = alloc3(1, B, K, sizeof(float), &fail);
    c->hb = alloc3(1, B, F, sizeof(float), &fail);
    c->hb2 = alloc3(1, B, F, sizeof(float), &fail);
    c->att_per_thread = (size_t)GPTC_ATT_TILE * G * N;
    c->att_qy_q = (size_t)Q;
    c->att_qy = alloc3(1, nth, 2 * GPTC_ATT_TILE * (size_t)Q, sizeof(float), &fail);
    c->att = alloc3(1, nth, c->att_per_thread, sizeof(float), &fail);
    if (model->n_ple) {
        uint64_t lp = (uint64_t)L * model->n_ple;
        c->ple =
            alloc3(1, 1, lp * B + GPTC_MAX(lp, (uint64_t)B * model->n_ple), sizeof(float), &fail);
    }
    c->logits = alloc3(1, B, model->output.data ? V : 1, sizeof(float), &fail);
    c->logit_row = alloc3(1, 1, B, sizeof(int32_t), &fail);
    c->cell_of = alloc3(1, 1, B, sizeof(int32_t), &fail);
    c->out_idx = alloc3(1, 1, B, sizeof(int32_t), &fail);
    unsigned forms = act_forms_used(model, c->ops);
    for (int fm = 0; fm < GPTC_ACT_FORMS; fm++) {
        if (!(forms & 1u << fm)) continue;
        uint64_t bytes; /* aligned_alloc wants a multiple of the alignment */
        if (gptc_mul_ovf(
                B, c->ops->act_row_bytes(fm, GPTC_MAX(GPTC_MAX(D, Q), GPTC_MAX(F, model->n_ple))),
                &bytes) ||
            bytes > SIZE_MAX - 64 ||
            !(c->xq[fm] = aligned_alloc(64, (size_t)((bytes + 64) & ~(uint64_t)63))))
            fail = 1;
    }
    if (p.embeddings || model->pooling) { /* an embedding model always pools */
        c->embd_sum = alloc3(1, p.n_seq_max, D, sizeof(float), &fail);
        c->embd_n = alloc3(1, 1, p.n_seq_max, sizeof(int64_t), &fail);
        c->embd_out = alloc3(1, 1, D, sizeof(float), &fail);
        c->embd_pos = alloc3(1, 1, p.n_seq_max, sizeof(int32_t), &fail);
    }
    if (fail) {
        gptc_ctx_free(c);
        return gptc_fail(err, GPTC_E_NOMEM,
                         "context: out of memory for n_ctx %d (try a smaller --ctx)", N);
    }
    for (int i = 0; i < B; i++)
        c->logit_row[i] = -1;
    c->rope_long = model->rope_long_ctx > 0 && N > model->rope_long_ctx;
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
    free(c->moe_buf);
    free(c->rope_cs);
    free(c->k_off);
    free(c->v_off);
    free(c->att_idx);
    free(c->att_list);
    free(c->kb);
    free(c->vb);
    free(c->hb);
    free(c->hb2);
    free(c->ple);
    free(c->layer_ring);
    free(c->ring_pos);
    free(c->ring_lost);
    free(c->ring_of);
    free(c->att);
    free(c->att_qy);
    free(c->logits);
    free(c->logit_row);
    free(c->cell_of);
    free(c->out_idx);
    for (int fm = 0; fm < GPTC_ACT_FORMS; fm++)
        free(c->xq[fm]);
    free(c->embd_sum);
    free(c->embd_n);
    free(c->embd_out);
    free(c->embd_pos);
    if (c->ckpt)
        for (int i = 0; i < c->n_seq_max * c->n_ckpt; i++)
            free(c->ckpt[i]);
    free(c->ckpt);
    free(c->ckpt_len);
    free(c->ckpt_age);
    free(c->state);
    free(c->state_len);
    free(c->state_off);
    free(c->rs);
    free(c);
}

int gptc_ctx_n_ctx(const gptc_ctx *c)
{
    return c->n_ctx;
}

/* Forget the pooled embedding of sequence s. */
static void embd_reset(gptc_ctx *c, int s)
{
    if (!c->embd_sum) return;
    int D = c->model->hp.n_embd;
    memset(c->embd_sum + (size_t)s * D, 0, (size_t)D * sizeof(float));
    c->embd_n[s] = 0;
}

/* ----- recurrent state ------------------------------------------------------------------------ */

/* Sequence s's state back to zeros (before any token), its checkpoints dropped. */
static void state_reset(gptc_ctx *c, int s)
{
    if (!c->n_state) return;
    memset(c->state + (size_t)s * c->n_state, 0, c->n_state * sizeof(float));
    c->state_len[s] = 0;
    for (int j = 0; j < c->n_ckpt; j++)
        c->ckpt_len[s * c->n_ckpt + j] = -1;
}

/* Checkpoint index (s * n_ckpt + j) of sequence s saved after exactly n tokens, or -1. */
static int ckpt_find(const gptc_ctx *c, int s, int n)
{
    for (int j = 0; j < c->n_ckpt; j++)
        if (c->ckpt_len[s * c->n_ckpt + j] == n) return s * c->n_ckpt + j;
    return -1;
}

/* Where sequence s's state is at p tokens: 1 and *src (NULL: zeros) when that state is known
 * (p = 0, p at or past its length: the current state, or a checkpoint at p); 0 otherwise. */
static int state_at(const gptc_ctx *c, int s, int p, const float **src)
{
    if (p >= c->state_len[s]) {
        *src = c->state + (size_t)s * c->n_state;
        return 1;
    }
    if (p <= 0) {
        *src = NULL;
        return 1;
    }
    int k = ckpt_find(c, s, p);
    *src = k >= 0 ? c->ckpt[k] : NULL;
    return k >= 0;
}

int gptc_kv_seq_cut(const gptc_ctx *c, int seq, int p)
{
    if (p < 0) p = 0;
    if (!c->n_state || seq < 0 || seq >= c->n_seq_max || p >= c->state_len[seq]) return p;
    int best = 0;
    for (int j = 0; j < c->n_ckpt; j++) {
        int n = c->ckpt_len[seq * c->n_ckpt + j];
        if (n <= p && n > best) best = n;
    }
    return best;
}

gptc_status gptc_kv_seq_checkpoint(gptc_ctx *c, int seq)
{
    if (seq < 0 || seq >= c->n_seq_max) return GPTC_E_RANGE;
    if (!c->n_state) return GPTC_OK;
    int n = c->state_len[seq], k = ckpt_find(c, seq, n);
    for (int j = 0; j < c->n_ckpt && k < 0; j++) /* a free slot */
        if (c->ckpt_len[seq * c->n_ckpt + j] < 0) k = seq * c->n_ckpt + j;
    if (k < 0) { /* the least recently saved */
        k = seq * c->n_ckpt;
        for (int j = 1; j < c->n_ckpt; j++)
            if (c->ckpt_age[seq * c->n_ckpt + j] < c->ckpt_age[k]) k = seq * c->n_ckpt + j;
    }
    if (!c->ckpt[k] && !(c->ckpt[k] = malloc(c->n_state * sizeof(float)))) return GPTC_E_NOMEM;
    memcpy(c->ckpt[k], c->state + (size_t)seq * c->n_state, c->n_state * sizeof(float));
    c->ckpt_len[k] = n;
    c->ckpt_age[k] = ++c->ckpt_clock;
    return GPTC_OK;
}

int gptc_model_recurrent(const gptc_model *m)
{
    return gptc_state_bytes(m) > 0;
}

uint64_t gptc_state_bytes(const gptc_model *m)
{
    uint64_t n = 0;
    for (int l = 0; m && l < m->hp.n_layer; l++)
        n += (uint64_t)GPTC_MAX(m->layers[l].n_state, 0) * sizeof(float);
    return n;
}

/* ----- sequences --------------------------------------------------------------------------------
 */

void gptc_kv_clear(gptc_ctx *c)
{
    for (int i = 0; i < c->n_ctx; i++) {
        c->cell_pos[i] = -1;
        c->cell_seq[i] = 0;
    }
    c->n_cells_hi = 0;
    for (int s = 0; s < c->n_seq_max; s++) {
        embd_reset(c, s);
        state_reset(c, s);
    }
    if (c->ring) {
        for (size_t i = 0; i < (size_t)c->ring * (size_t)c->n_seq_max; i++)
            c->ring_pos[i] = -1;
        for (int s = 0; s < c->n_seq_max; s++)
            c->ring_lost[s] = -1;
    }
}

static void shrink_hi(gptc_ctx *c)
{
    while (c->n_cells_hi > 0 && c->cell_pos[c->n_cells_hi - 1] < 0)
        c->n_cells_hi--;
}

gptc_status gptc_kv_seq_rm(gptc_ctx *c, int seq, int p0, int p1)
{
    if (seq < 0 || seq >= c->n_seq_max) return GPTC_E_RANGE;
    int whole = p0 <= 0 && p1 < 0;
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    if (c->n_state && !whole && p0 < p1 && p0 < c->state_len[seq]) {
        /* the state holds tokens [0, len): only a suffix from a known state can go */
        const float *from;
        if (p1 < c->state_len[seq] || !state_at(c, seq, p0, &from)) return GPTC_E_UNSUPPORTED;
        float *dst = c->state + (size_t)seq * c->n_state;
        if (from)
            memcpy(dst, from, c->n_state * sizeof(float));
        else
            memset(dst, 0, c->n_state * sizeof(float));
        c->state_len[seq] = p0;
        for (int j = 0; j < c->n_ckpt; j++) /* checkpoints past the cut are of another future */
            if (c->ckpt_len[seq * c->n_ckpt + j] > p0) c->ckpt_len[seq * c->n_ckpt + j] = -1;
    }
    if (whole) { /* the whole sequence goes */
        embd_reset(c, seq);
        state_reset(c, seq);
    }
    uint64_t bit = 1ull << seq;
    for (int i = 0; i < c->n_cells_hi; i++) {
        if ((c->cell_seq[i] & bit) && c->cell_pos[i] >= p0 && c->cell_pos[i] < p1) {
            c->cell_seq[i] &= ~bit;
            if (!c->cell_seq[i]) c->cell_pos[i] = -1;
        }
    }
    shrink_hi(c);
    if (c->ring) {
        int32_t *rp = c->ring_pos + (size_t)seq * (size_t)c->ring;
        for (int j = 0; j < c->ring; j++)
            if (rp[j] >= p0 && rp[j] < p1) rp[j] = -1;
        if (p0 == 0 && p1 == INT32_MAX) c->ring_lost[seq] = -1;
    }
    return GPTC_OK;
}

/* ring rows of the local layers: row src to row dst */
static void ring_copy_row(gptc_ctx *c, size_t src, size_t dst)
{
    const gptc_model *m = c->model;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gptc_layer *ly = &m->layers[l];
        if (ly->kv_src != l || !c->layer_ring[l]) continue;
        int kl = ly->n_head_kv * ly->hd;
        size_t rk = gptc_row_bytes(c->type_k, kl), rv = gptc_row_bytes(c->type_v, kl);
        memcpy(c->k_cache + c->k_off[l] + dst * rk, c->k_cache + c->k_off[l] + src * rk, rk);
        memcpy(c->v_cache + c->v_off[l] + dst * rv, c->v_cache + c->v_off[l] + src * rv, rv);
    }
}

int gptc_kv_seq_reusable(const gptc_ctx *c, int seq, int n_keep)
{
    if (!c->ring || n_keep <= 0 || seq < 0 || seq >= c->n_seq_max) return n_keep;
    /* the token at n_keep sees positions n_keep - ring_w + 1 .. n_keep - 1 */
    return c->ring_lost[seq] < n_keep - c->ring_w + 1 ? n_keep : 0;
}

uint64_t gptc_ctx_kv_bytes(const gptc_ctx *c)
{
    return c->kv_total;
}

gptc_status gptc_kv_seq_cp(gptc_ctx *c, int src, int dst, int p0, int p1)
{
    if (src < 0 || src >= c->n_seq_max || dst < 0 || dst >= c->n_seq_max) return GPTC_E_RANGE;
    if (src == dst) return GPTC_OK;
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    if (c->n_state) { /* dst gets the state src had at p1, and the checkpoints up to there */
        const float *from;
        int n = GPTC_MIN(p1, c->state_len[src]);
        if ((p0 > 0 && p0 < n) || !state_at(c, src, n, &from)) return GPTC_E_UNSUPPORTED;
        for (int j = 0; j < c->n_ckpt; j++) { /* first: a checkpoint may be the source */
            int ks = src * c->n_ckpt + j, kd = dst * c->n_ckpt + j;
            c->ckpt_len[kd] = -1;
            if (c->ckpt_len[ks] < 0 || c->ckpt_len[ks] > n) continue;
            if (!c->ckpt[kd] && !(c->ckpt[kd] = malloc(c->n_state * sizeof(float))))
                continue; /* out of memory: dst just has fewer checkpoints */
            memcpy(c->ckpt[kd], c->ckpt[ks], c->n_state * sizeof(float));
            c->ckpt_len[kd] = c->ckpt_len[ks];
            c->ckpt_age[kd] = c->ckpt_age[ks];
        }
        float *d = c->state + (size_t)dst * c->n_state;
        if (from)
            memcpy(d, from, c->n_state * sizeof(float));
        else
            memset(d, 0, c->n_state * sizeof(float));
        c->state_len[dst] = n;
    }
    uint64_t sb = 1ull << src, db = 1ull << dst;
    for (int i = 0; i < c->n_cells_hi; i++)
        if ((c->cell_seq[i] & sb) && c->cell_pos[i] >= p0 && c->cell_pos[i] < p1)
            c->cell_seq[i] |= db;
    if (c->ring) { /* rings are per sequence: copy the rows (same position, same row) */
        size_t R = (size_t)c->ring;
        const int32_t *sp = c->ring_pos + (size_t)src * R;
        int32_t *dp = c->ring_pos + (size_t)dst * R;
        for (size_t j = 0; j < R; j++) {
            if (sp[j] < p0 || sp[j] >= p1) continue;
            if (dp[j] >= 0 && dp[j] != sp[j] && dp[j] > c->ring_lost[dst])
                c->ring_lost[dst] = dp[j];
            ring_copy_row(c, (size_t)src * R + j, (size_t)dst * R + j);
            dp[j] = sp[j];
        }
        /* what src lost of the copied range, dst lacks too */
        int32_t lost = c->ring_lost[src] < p1 ? c->ring_lost[src] : p1 - 1;
        if (c->ring_lost[src] >= p0 && lost > c->ring_lost[dst]) c->ring_lost[dst] = lost;
    }
    return GPTC_OK;
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

void gptc_ctx_embd_accumulate(gptc_ctx *c, const gptc_batch *b)
{
    if (!c->embd_sum) return;
    int D = c->model->hp.n_embd, pool = c->model->pooling;
    float *row = c->embd_out; /* scratch: overwritten by the next gptc_get_embeddings anyway */
    for (int t = 0; t < b->n_tokens; t++) {
        int s = b->seq_id ? b->seq_id[t] : 0;
        float *sum = c->embd_sum + (size_t)s * D;
        if (pool == 2 && b->pos[t] != 0) continue; /* CLS: the first token only */
        if (pool == 3) {                           /* last: the highest position so far */
            if (c->embd_n[s] && b->pos[t] < c->embd_pos[s]) continue;
            c->embd_n[s] = 0;
            memset(sum, 0, (size_t)D * sizeof *sum);
        }
        if (pool == 2) {
            c->embd_n[s] = 0;
            memset(sum, 0, (size_t)D * sizeof *sum);
        }
        c->embd_pos[s] = b->pos[t];
        gptc_final_norm(c->model, row, c->x + (size_t)t * D);
        for (int i = 0; i < D; i++)
            sum[i] += row[i];
        c->embd_n[s]++;
    }
}

static const float *embeddings(gptc_ctx *c, int seq, int normalize)
{
    if (!c->embd_sum || seq < 0 || seq >= c->n_seq_max || c->embd_n[seq] == 0) return NULL;
    int D = c->model->hp.n_embd;
    const float *sum = c->embd_sum + (size_t)seq * D;
    double inv_n = 1.0 / (double)c->embd_n[seq], norm = 0.0;
    for (int i = 0; i < D; i++) {
        c->embd_out[i] = (float)(sum[i] * inv_n);
        norm += (double)c->embd_out[i] * c->embd_out[i];
    }
    if (normalize && norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (int i = 0; i < D; i++)
            c->embd_out[i] *= inv;
    }
    return c->embd_out;
}

const float *gptc_get_embeddings(gptc_ctx *c, int seq)
{
    return embeddings(c, seq, 1);
}

const float *gptc_get_embeddings_raw(gptc_ctx *c, int seq)
{
    return embeddings(c, seq, 0);
}

int gptc_model_pooling(const gptc_model *m)
{
    return m ? m->pooling : 0;
}

int gptc_cache_type(const char *name)
{
    if (strcmp(name, "f32") == 0) return GPTC_TYPE_F32;
    if (strcmp(name, "f16") == 0) return GPTC_TYPE_F16;
    if (strcmp(name, "q8_0") == 0) return GPTC_TYPE_Q8_0;
    return -1;
}

int gptc_cache_type_ok(int t)
{
    return t == GPTC_TYPE_F32 || t == GPTC_TYPE_F16 || t == GPTC_TYPE_Q8_0;
}

uint64_t gptc_kv_budget_default(void)
{
    uint64_t budget = (uint64_t)GPTC_KV_BUDGET_MIB << 20;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0) budget = GPTC_MIN(budget, (uint64_t)pages * (uint64_t)psz / 4);
    return budget;
}

/* Bytes per sequence of a context of n cells per sequence: the window layers of a model that
 * mixes local and global ones keep a ring of window + n_batch rows instead of n (as
 * gptc_ctx_init makes them with the default n_batch and swa_full 0) once n is larger. */
static uint64_t kv_cost(uint64_t n, uint64_t cell, uint64_t local, uint64_t ring)
{
    return local && n > ring ? n * (cell - local) + ring * local : n * cell;
}

int gptc_ctx_auto_n_ctx(const gptc_model *m, uint64_t budget, int type_k, int type_v, int n_seq)
{
    uint64_t n = (uint64_t)m->hp.n_ctx_train;
    if (!budget) budget = gptc_kv_budget_default();
    if (n_seq < 1) n_seq = 1;
    budget /= (uint64_t)n_seq;
    uint64_t cell = gptc_kv_bytes(m, 1, type_k, type_v), local = 0, ring = 0;
    for (int l = 0; l < m->hp.n_layer && !m->swa_min; l++) {
        const gptc_layer *ly = &m->layers[l];
        if (ly->kv_src != l || ly->n_swa <= 0) continue;
        int kl = ly->n_head_kv * ly->hd;
        local += gptc_row_bytes((uint32_t)type_k, kl) + gptc_row_bytes((uint32_t)type_v, kl);
        ring = GPTC_MAX(ring, (uint64_t)ly->n_swa + 512);
    }
    if (local == cell) local = 0; /* every layer local: no rings (cells are reused instead) */
    if (cell > 0 && kv_cost(n, cell, local, ring) > budget) {
        uint64_t fit = budget / cell; /* every layer in every cell */
        if (local && ring * local < budget) {
            uint64_t fit2 = (budget - ring * local) / (cell - local);
            if (fit2 > ring) fit = GPTC_MAX(fit, fit2);
        }
        fit = fit / 256 * 256; /* a multiple of 256 cells, at least 256 */
        n = GPTC_MIN(n, GPTC_MAX(fit, 256));
    }
    return (int)GPTC_MIN(n, (uint64_t)1 << 24);
}

uint64_t gptc_kv_bytes(const gptc_model *m, int n_ctx, int type_k, int type_v)
{
    uint64_t total = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gptc_layer *ly = &m->layers[l];
        if (ly->kv_src != l) continue;
        int kl = ly->n_head_kv * ly->hd;
        total += (uint64_t)n_ctx *
                 (gptc_row_bytes((uint32_t)type_k, kl) + gptc_row_bytes((uint32_t)type_v, kl));
    }
    return total;
}

uint64_t gptc_kv_read_bytes(const gptc_model *m, int pos, int type_k, int type_v)
{
    uint64_t total = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gptc_layer *ly = &m->layers[l];
        if (ly->kv_src != l) continue;
        int kl = ly->n_head_kv * ly->hd;
        uint64_t rows = (uint64_t)pos + 1;
        if (ly->n_swa > 0 && rows > (uint64_t)ly->n_swa) rows = (uint64_t)ly->n_swa;
        total +=
            rows * (gptc_row_bytes((uint32_t)type_k, kl) + gptc_row_bytes((uint32_t)type_v, kl));
    }
    return total;
}

void gptc_kv_store(gptc_ctx *c, int l, int which, int cell, const float *row, int K)
{
    uint32_t type = which ? c->type_v : c->type_k;
    char *dst = (which ? c->v_cache + c->v_off[l] : c->k_cache + c->k_off[l]) +
                (size_t)cell * gptc_row_bytes(type, K);
    if (type == GPTC_TYPE_F32)
        memcpy(dst, row, (size_t)K * sizeof(float));
    else if (type == GPTC_TYPE_F16)
        c->ops->f16_from_f32((uint16_t *)dst, row, K);
    else
        gptc_type_info(type)->from_float_ref(row, dst, K);
}

static int kv_kind(uint32_t t)
{
    return t == GPTC_TYPE_F32 ? GPTC_KV_F32 : t == GPTC_TYPE_F16 ? GPTC_KV_F16 : GPTC_KV_Q8_0;
}

/* The rows of the cache from row0 (n of them) a token sees into the thread's att_idx: row i
 * holds position cpos[i] (-1: none), seen by the sequences of bitmask cseq[i] (NULL: all of
 * them are the token's); visible when lo < cpos[i] <= hi and cseq[i] & bit. Returns how many,
 * in row order. */
static int list_rows(const gptc_ctx *c, int ith, const int32_t *cpos, const uint64_t *cseq,
                     uint64_t bit, int n, size_t row0, int32_t hi, int32_t lo)
{
    int32_t *idx = c->att_idx + (size_t)ith * c->n_ctx;
    gptc_att_list *L = &c->att_list[ith], key = {.gen = c->att_gen,
                                                 .cpos = cpos,
                                                 .cseq = cseq,
                                                 .bit = bit,
                                                 .row0 = row0,
                                                 .n = n,
                                                 .hi = hi,
                                                 .lo = lo};
    if (L->gen == key.gen && L->cpos == cpos && L->cseq == cseq && L->bit == bit &&
        L->row0 == row0 && L->n == n && L->hi == hi && L->lo == lo)
        return L->m; /* this thread's last list: the same rows */
    key.tile_nt = 0; /* a new list: no tile measured against it */
    int m = 0;
    /* branch-free: every row is written, the count moves only past the visible ones (a
     * prompt's tokens see a varying prefix, which a branch per cell mispredicts) */
    int32_t lo1 = GPTC_MAX(lo, -1) + 1; /* visible: lo1 <= cp <= hi */
    if (cseq)
        for (int i = 0; i < n; i++) {
            int32_t cp = cpos[i];
            idx[m] = (int32_t)(row0 + (size_t)i);
            m += (cp >= lo1) & (cp <= hi) & ((cseq[i] & bit) != 0);
        }
    else
        for (int i = 0; i < n; i++) {
            int32_t cp = cpos[i];
            idx[m] = (int32_t)(row0 + (size_t)i);
            m += (cp >= lo1) & (cp <= hi);
        }
    key.m = m;
    *L = key;
    return m;
}

/* Scores s (nq rows of stride lds, m of them used) into probabilities in place. */
static void probs(const gptc_ctx *c, float *att, size_t lds, int nq, int m, const gptc_attn_opts *o)
{
    float scale = o->scale, cap = o->softcap;
    for (int h = 0; h < nq; h++) {
        float *s = att + (size_t)h * lds;
        if (cap > 0) { /* soft-capped: cap * tanh(score * scale / cap), then scale 1 */
            for (int i = 0; i < m; i++)
                s[i] = cap * tanhf(s[i] * scale / cap);
        }
        c->ops->att_softmax(s, m, cap > 0 ? 1.0f : scale, o->sinks ? o->sinks[h] : -INFINITY);
        if (c->ggml_f16) /* test-only: as ggml */
            for (int i = 0; i < m; i++)
                s[i] = gptc_f16_to_f32(gptc_f32_to_f16(s[i]));
    }
}

/* Attention of nq query heads over the rows list_rows finds: scored and summed by the ops
 * table's kernels, which read f16 and q8_0 rows directly. */
static void attend(const gptc_ctx *c, int ith, const float *q, int nq, const gptc_kv_view *kv,
                   int hd, const int32_t *cpos, const uint64_t *cseq, uint64_t bit, int n,
                   size_t row0, int32_t pos, const gptc_attn_opts *o, float *out)
{
    const gptc_ops *ops = c->ops;
    int32_t hi = o->causal ? pos : INT32_MAX, lo = o->n_swa > 0 ? pos - o->n_swa : -1;
    const int32_t *idx = c->att_idx + (size_t)ith * c->n_ctx;
    int m = list_rows(c, ith, cpos, cseq, bit, n, row0, hi, lo);
    memset(out, 0, (size_t)nq * hd * sizeof *out);
    if (m == 0) return; /* no cell visible (cannot happen: the token sees its own cell) */
    float *att = c->att + (size_t)ith * c->att_per_thread;
    ops->kv_dot(kv_kind(kv->type_k), att, (size_t)m, q, nq, kv->k, kv->row_k, kv->off, idx, m, hd);
    probs(c, att, (size_t)m, nq, m, o);
    ops->kv_acc(kv_kind(kv->type_v), out, att, (size_t)m, nq, kv->v, kv->row_v, kv->off, idx, m,
                hd);
}

void gptc_attend_tile(const gptc_ctx *c, int ith, const float *const *q, int nt, int nq,
                      const gptc_kv_view *kv, int hd, const int *own, const int32_t *pos,
                      const gptc_attn_opts *o, float *const *out)
{
    const gptc_ops *ops = c->ops;
    uint64_t bit = c->cell_seq[own[0]];
    int32_t hi = INT32_MIN;
    for (int j = 0; j < nt; j++)
        hi = GPTC_MAX(hi, o->causal ? pos[j] : INT32_MAX);
    /* the rows of the token that sees most: every token's rows, the others see a part */
    const int32_t *idx = c->att_idx + (size_t)ith * c->n_ctx;
    int mu = list_rows(c, ith, c->cell_pos, c->cell_seq, bit, c->n_cells_hi, 0, hi, -1);
    /* token j's rows: a prefix of them (else one token at a time), measured once per tile and
     * list (the tile's kv heads come in turn) */
    gptc_att_list *L = &c->att_list[ith];
    int same = L->tile_nt == nt;
    for (int j = 0; j < nt && same; j++)
        same = L->tile_pos[j] == (o->causal ? pos[j] : INT32_MAX);
    if (!same) {
        L->tile_nt = nt;
        for (int j = 0; j < nt; j++) {
            int32_t hj = o->causal ? pos[j] : INT32_MAX;
            int k = 0;
            while (k < mu && c->cell_pos[idx[k]] <= hj)
                k++;
            for (int r = k; r < mu && k >= 0; r++)
                if (c->cell_pos[idx[r]] <= hj) k = -1;
            L->tile_pos[j] = hj;
            L->tile_m[j] = k;
        }
    }
    int mj[GPTC_ATT_TILE], m_min = mu;
    for (int j = 0; j < nt; j++) {
        if (L->tile_m[j] < 0) {
            for (int i = 0; i < nt; i++)
                gptc_attend(c, ith, q[i], nq, kv, hd, own[i], pos[i], o, out[i]);
            return;
        }
        mj[j] = L->tile_m[j];
        m_min = GPTC_MIN(m_min, mj[j]);
    }
    if (mu == 0 || m_min == 0) { /* cannot happen: each token sees its own cell */
        for (int i = 0; i < nt; i++)
            gptc_attend(c, ith, q[i], nq, kv, hd, own[i], pos[i], o, out[i]);
        return;
    }
    /* the tile's queries side by side: token j's head i is query j * nq + i */
    size_t qn = (size_t)nq * hd;
    float *qs = c->att_qy + (size_t)ith * 2 * GPTC_ATT_TILE * c->att_qy_q,
          *ys = qs + (size_t)nt * qn;
    for (int j = 0; j < nt; j++)
        memcpy(qs + (size_t)j * qn, q[j], qn * sizeof *qs);
    memset(ys, 0, (size_t)nt * qn * sizeof *ys);
    float *att = c->att + (size_t)ith * c->att_per_thread;
    ops->kv_dot(kv_kind(kv->type_k), att, (size_t)mu, qs, nt * nq, kv->k, kv->row_k, kv->off, idx,
                mu, hd);
    for (int j = 0; j < nt; j++)
        probs(c, att + (size_t)j * nq * mu, (size_t)mu, nq, mj[j], o);
    /* rows every token sees, all queries at once; then each token's own further rows, in order
     * (kv_acc adds each row in turn, so this is each token's sum over its rows) */
    ops->kv_acc(kv_kind(kv->type_v), ys, att, (size_t)mu, nt * nq, kv->v, kv->row_v, kv->off, idx,
                m_min, hd);
    for (int j = 0; j < nt; j++) {
        if (mj[j] > m_min)
            ops->kv_acc(kv_kind(kv->type_v), ys + (size_t)j * qn, att + (size_t)j * nq * mu + m_min,
                        (size_t)mu, nq, kv->v, kv->row_v, kv->off, idx + m_min, mj[j] - m_min, hd);
        memcpy(out[j], ys + (size_t)j * qn, qn * sizeof *ys);
    }
}

void gptc_attend(const gptc_ctx *c, int ith, const float *q, int nq, const gptc_kv_view *kv, int hd,
                 int own, int32_t pos, const gptc_attn_opts *o, float *out)
{
    /* the token's own cell: exactly its sequences */
    attend(c, ith, q, nq, kv, hd, c->cell_pos, c->cell_seq, c->cell_seq[own], c->n_cells_hi, 0, pos,
           o, out);
}

void gptc_attend_ring(const gptc_ctx *c, int ith, const float *q, int nq, const gptc_kv_view *kv,
                      int hd, int seq, int32_t pos, const gptc_attn_opts *o, float *out)
{
    size_t row0 = (size_t)seq * (size_t)c->ring;
    attend(c, ith, q, nq, kv, hd, c->ring_pos + row0, NULL, 0, c->ring, row0, pos, o, out);
}
