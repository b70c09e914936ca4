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
 * feed-forward, V vocabulary, Q = n_head * head_dim, K = n_head_kv * head_dim.
 */
#ifndef GPTC_CONTEXT_H
#define GPTC_CONTEXT_H

#include "../core/ops.h"
#include "../core/threads.h"
#include "model.h"

struct gptc_ctx {
    const gptc_model *model; /* borrowed: must outlive the context */
    int n_ctx, n_batch, n_seq_max;
    gptc_pool *pool;         /* owned */
    const gptc_ops *ops;     /* borrowed: static table */

    /* KV cache */
    float *k_cache;          /* (L, N, K) owned; keys stored after RoPE */
    float *v_cache;          /* (L, N, K) owned */
    int32_t *cell_pos;       /* (N) position, -1 when the cell is free */
    uint64_t *cell_seq;      /* (N) bit s set: sequence s sees this cell */
    int n_cells_hi;          /* cells at index >= this are all free */

    /* scratch for one batch of T <= B tokens */
    float *x;                /* (B, D) residual stream */
    float *xb;               /* (B, max(D, Q)) normed input / attention output */
    float *xb2;              /* (B, D) output of attn_output / ffn_down */
    float *q;                /* (B, Q) */
    float *rope_cs;          /* (B, n_rot) cos, sin pairs of each token's position */
    float *inv_freq;         /* (n_rot / 2) base^(-2i / n_rot) */
    float *kb, *vb;          /* (B, K) */
    float *hb, *hb2;         /* (B, F) */
    float *att;              /* (threads, N) attention scores, one row per thread */
    float *logits;           /* (B, V) rows for the tokens that asked */
    int32_t *logit_row;      /* (B) batch index -> row in logits, or -1 */
    int32_t *cell_of;        /* (B) batch index -> its KV cell */
    int32_t *out_idx;        /* (B) rows of x that need logits, in batch order */
};

#endif
