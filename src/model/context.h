/*
 * context.h — the mutable state for running a model over sequences: the KV cache cells and the
 * scratch buffers of the forward pass, all sized at gptc_ctx_init (nothing is allocated per
 * token).
 *
 * KV cache: n_ctx cells shared by every sequence. A cell holds one token's keys and values for
 * every layer, its position, and the set of sequences that see it (a bitmask, so a shared prompt
 * prefix is stored once and copied by setting bits). A token at (seq s, pos p) attends to every
 * cell that s sees with position <= p.
 *
 * Shape letters: L layers, N cells (n_ctx), B batch capacity (n_batch), D embedding, F
 * feed-forward, V vocabulary, Q = n_head * head_dim, K = n_head_kv * head_dim (the largest over
 * the layers where layers differ; K_l: layer l's).
 */
#ifndef GPTC_CONTEXT_H
#define GPTC_CONTEXT_H

#include "core/ops.h"
#include "core/threads.h"
#include "model/model.h"

struct gptc_ctx {
    const gptc_model *model; /* borrowed: must outlive the context */
    int n_ctx, n_batch, n_seq_max;
    gptc_pool *pool;     /* owned */
    const gptc_ops *ops; /* borrowed: static table */

    /* KV cache */
    char *k_cache;           /* per layer (N, K_l) of type_k, owned; keys stored after RoPE */
    char *v_cache;           /* per layer (N, K_l) of type_v, owned */
    uint32_t type_k, type_v; /* GPTC_TYPE_F32, F16 or Q8_0 */
    size_t *k_off, *v_off;   /* (L) bytes before layer l's cache (its kv_src's) */
    int32_t *att_idx;        /* (threads, N) the cache rows a head attends to */
    /* (threads) what a thread's att_idx lists; reused while att_gen and the key match (the
     * kv heads of one token in one layer see the same rows). att_gen is bumped before every
     * layer's attention and every decode call, so a list never outlives the cells it read. */
    struct gptc_att_list *att_list;
    uint64_t att_gen;
    int32_t *cell_pos;  /* (N) position, -1 when the cell is free */
    uint64_t *cell_seq; /* (N) bit s set: sequence s sees this cell */
    int n_cells_hi;     /* cells at index >= this are all free */
    uint64_t kv_total;  /* bytes of k_cache + v_cache */
    /* Models mixing sliding-window ("local") and global layers, unless swa_full: the local
     * layers' K/V live in per-sequence rings, not in the cells. Sequence s's position p is row
     * s * ring + p % ring of those layers' caches (ring = window + n_batch, so a batch never
     * overwrites what its own queries see). 0: no rings. */
    int ring, ring_w;    /* rows per sequence; the largest window of a ring layer */
    int32_t *ring_pos;   /* (n_seq_max, ring) position a row holds, -1: none */
    int32_t *ring_lost;  /* (n_seq_max) highest position overwritten in the ring, -1: none */
    int32_t *ring_of;    /* (B) batch index -> its ring row */
    uint8_t *layer_ring; /* (L) 1: layer l's K/V (its kv_src's) are in the ring */

    /* scratch for one batch of T <= B tokens */
    float *x;                    /* (B, D) residual stream */
    float *xb;                   /* (B, max(D, Q)) normed input / attention output */
    float *xb2;                  /* (B, D) output of attn_output / ffn_down */
    float *q;                    /* (B, Q) */
    float *rope_cs;              /* (B, n_rot) cos, sin pairs of each token's position */
    const gptc_rotary *rope_cur; /* the rope rope_cs was computed for in this batch */
    int rope_long;   /* 1: model->rope[1] replaces rope[0] (n_ctx > model->rope_long_ctx) */
    float *kb, *vb;  /* (B, K) */
    float *hb, *hb2; /* (B, F) */
    float *ple;      /* gemma4: (B, L * P) per-layer inputs, then (max(B * P, L * P)) scratch */
    void *moe_buf;   /* moe.c's scratch (64-byte aligned), moe_cap bytes, grown on demand */
    size_t moe_cap;
    float *att;            /* (threads, att_per_thread): scores of a thread's query heads */
    size_t att_per_thread; /* GPTC_ATT_TILE * max heads per KV head * N */
    float *att_qy;         /* (threads, 2 * GPTC_ATT_TILE * att_qy_q): a token tile's queries
                            * and outputs, side by side (gptc_attend_tile) */
    size_t att_qy_q;       /* the widest layer's query heads x head dim */
    float *logits;         /* (B, V) rows for the tokens that asked */
    int32_t *logit_row;    /* (B) batch index -> row in logits, or -1 */
    int32_t *cell_of;      /* (B) batch index -> its KV cell */
    int32_t *out_idx;      /* (B) rows of x that need logits, in batch order */

    /* quantized weights: a product's input converted once (gptc_prep_act) to the 8-bit form its
     * weights read (ops->act_form) */
    void *xq[GPTC_ACT_FORMS]; /* (B, ops->act_row_bytes(form, max(D, Q, F))) owned, 64-byte
                               * aligned; NULL when no weight of the model reads that form */

    /* Tests only (0 otherwise): round q, K, V, the attention weights and the inputs of F16
     * weights to f16, as llama.cpp's CPU backend does, so logits can be compared with its
     * closely (8-bit activation codes amplify those roundings; see docs/architecture.md). */
    int ggml_f16;

    /* Recurrent state (hybrid models; every field 0 / NULL when no layer has n_state).
     * A slot is S = n_state floats: layer l's ly->n_state floats of one sequence start at
     * state_off[l] (gptc_state). Sequence s's current state is slot s of `state`; zeros are the
     * state before any token. Its checkpoints are ckpt[s * n_ckpt + j], a slot each, allocated
     * on first save; ckpt_len says after how many tokens it was saved (-1: unused), ckpt_age
     * orders saves (the oldest is replaced first). state_len[s]: tokens the state has absorbed,
     * so the position its next token must have. All owned. */
    size_t n_state;
    size_t *state_off;  /* (L) */
    float *state;       /* (n_seq_max, S) */
    int32_t *state_len; /* (n_seq_max) */
    int n_ckpt;
    float **ckpt;       /* (n_seq_max * n_ckpt) slots, NULL until first used */
    int32_t *ckpt_len;  /* (n_seq_max * n_ckpt) */
    uint64_t *ckpt_age; /* (n_seq_max * n_ckpt) */
    uint64_t ckpt_clock;
    float *rs;      /* (B, model->rs_floats) scratch of the recurrent layers, or NULL */
    int scalar_ref; /* tests only: recurrent layers run their per-token reference loop instead
                     * of the chunk-parallel batch form (the results must be equal) */

    /* embeddings (gptc_ctx_params.embeddings; NULL when off) */
    float *embd_sum;   /* (n_seq_max, D) sum of each sequence's final normalised states */
    int64_t *embd_n;   /* (n_seq_max) tokens summed */
    float *embd_out;   /* (D) the last gptc_get_embeddings result */
    int32_t *embd_pos; /* (n_seq_max) position of the token last pooled (CLS, last pooling) */
};

/* decode.c: weight products any architecture's forward pass can use.
 * gptc_prep_act converts X (T, C) into c->xq for every quantized weight among w0..w2 (NULLs and
 * float weights are skipped; on the pool when T * C is large); with c->ggml_f16 and an F16
 * weight among them it also rounds X to f16 in place. gptc_matmul_rows computes
 * Y (T, w->rows) = X · w^T for rows [r0, r1); for a quantized w it reads the converted X, so
 * gptc_prep_act must have seen X (same T, C) with w since X last changed. */
void gptc_prep_act(gptc_ctx *c, float *X, int T, int C, const gptc_wt *w0, const gptc_wt *w1,
                   const gptc_wt *w2);
/* The activation form a quantized weight reads in table ops: packed weights' own, or the
 * table's for its type. */
int gptc_wt_act_form(const gptc_wt *w, const gptc_ops *ops);
void gptc_matmul_rows(const gptc_ctx *c, float *Y, const gptc_wt *w, const float *X, int T, int r0,
                      int r1);

/* context.c: add the final normalised hidden state of every token of batch b (rows of x after
 * the last layer) to its sequence's embedding sum. Called by gptc_decode when embeddings are on. */
void gptc_ctx_embd_accumulate(gptc_ctx *c, const gptc_batch *b);

/* Layer l's recurrent state of sequence seq: (model->layers[l].n_state) floats, read and
 * written by the layer's forward; it must leave there the state after the batch's tokens. */
static inline float *gptc_state(gptc_ctx *c, int l, int seq)
{
    return c->state + (size_t)seq * c->n_state + c->state_off[l];
}

/* How a head attends: scores q.k * scale, soft-capped to cap * tanh(s / cap) when softcap > 0;
 * causal: only positions <= the token's; n_swa > 0: only positions > pos - n_swa; sinks: one
 * logit per query head of the call, added to the softmax's denominator only (NULL: none). */
typedef struct gptc_attn_opts {
    float scale, softcap;
    const float *sinks;
    int causal, n_swa;
} gptc_attn_opts;

/* One kv head of one layer's cache: cell i's keys are row i (row_k bytes) of k, of type
 * type_k; the head's values start at element off of the row. The same for v. */
typedef struct gptc_kv_view {
    const char *k, *v;
    size_t row_k, row_v;
    uint32_t type_k, type_v;
    int off;
} gptc_kv_view;

/* Attention of nq query heads that share kv's head (query i at q + i * hd, 1 <= nq <= the
 * model's largest n_head / n_head_kv) of the token in cell `own` (at position pos) over every
 * cell that the token's sequences see (as o says): out (nq, hd), head i's row =
 * softmax(q_i . k_c * scale) v_c. ith: the calling thread of c's pool (whose scratch it uses).
 * Each head's result is the same whichever heads share the call. Used by every architecture's
 * forward pass. */
/* Tokens a prompt's attention takes at once (gptc_attend_tile; gptc_att_list's tile arrays). */
#define GPTC_ATT_TILE 4

/* The key of a thread's listed cache rows (gptc_ctx.att_list). */
typedef struct gptc_att_list {
    uint64_t gen;
    const int32_t *cpos;
    const uint64_t *cseq;
    uint64_t bit;
    size_t row0;
    int32_t n, hi, lo, m; /* m: the rows listed */
    /* gptc_attend_tile: the last tile's positions over this list and each token's row count
     * (tile_nt 0: none; -1 in tile_m: not a prefix) */
    int32_t tile_nt, tile_pos[GPTC_ATT_TILE], tile_m[GPTC_ATT_TILE];
} gptc_att_list;

/* Attention of nt <= GPTC_ATT_TILE tokens of one sequence (own[j]: their cells, all with the
 * same sequences; pos[j]: their positions) in a layer without a sliding window or ring, for the
 * nq query heads of one kv head: q[j] and out[j] token j's heads. Every key row is scored for
 * all nt * nq queries at once; each token's probabilities and sums cover its own rows: the
 * bits gptc_attend gives each token alone. */
void gptc_attend_tile(const gptc_ctx *c, int ith, const float *const *q, int nt, int nq,
                      const gptc_kv_view *kv, int hd, const int *own, const int32_t *pos,
                      const gptc_attn_opts *o, float *const *out);
void gptc_attend(const gptc_ctx *c, int ith, const float *q, int nq, const gptc_kv_view *kv, int hd,
                 int own, int32_t pos, const gptc_attn_opts *o, float *out);
/* The same over sequence seq's ring (a ring layer's cache, c->ring rows from seq * c->ring). */
void gptc_attend_ring(const gptc_ctx *c, int ith, const float *q, int nq, const gptc_kv_view *kv,
                      int hd, int seq, int32_t pos, const gptc_attn_opts *o, float *out);
/* 1 when t is a KV cache type (f32, f16, q8_0). */
int gptc_cache_type_ok(int t);

/* Store row (K values) as cell `cell` of layer l's K (which = 0) or V (1) cache. */
void gptc_kv_store(gptc_ctx *c, int l, int which, int cell, const float *row, int K);

#endif
