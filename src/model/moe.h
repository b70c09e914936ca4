/*
 * moe.h — the mixture-of-experts feed-forward (moe.c), shared by the MoE architectures
 * (qwen3moe.c, gptoss.c).
 *
 * A layer's experts are stored as llama.cpp's converter writes them: 3-D tensors
 * ffn_{gate,up}_exps [D, F, E] and ffn_down_exps [F, D, E] (ggml order), i.e. E matrices one after
 * another; gptc views each as one 2-D weight of E * F (E * D) rows and expert e as its rows
 * [e F, (e + 1) F). The router ffn_gate_inp [D, E] gives E logits per token; the top k experts
 * (k = expert_used_count) are weighted by the family's rule (enum gptc_moe_gating) and their
 * outputs summed in rank order, as llama.cpp does.
 *
 * Only the selected experts' rows are read: the batch's (token, rank) pairs are grouped by expert,
 * so each expert's weights are read once per batch however many tokens chose it; the products
 * are split across threads over (expert, rows).
 */
#ifndef GPTC_MOE_H
#define GPTC_MOE_H

#include "model/decode.h"

enum gptc_moe_gating {
    GPTC_MOE_SOFTMAX_NORM = 0, /* qwen3moe: softmax over all E, top k, renormalised to sum 1 */
    GPTC_MOE_TOPK_SOFTMAX,     /* gpt-oss: top k logits (+ router bias), softmax over those k */
};

enum gptc_moe_act {
    GPTC_MOE_SWIGLU = 0, /* silu(gate) * up */
    GPTC_MOE_SWIGLU_OAI, /* gpt-oss: x = min(gate, limit), y = clamp(up, -limit, limit),
                            x * sigmoid(alpha x) * (y + 1) */
};

typedef struct gptc_moe {
    int n_expert, n_used, n_ff; /* E, k, F (expert_feed_forward_length) */
    int gating, act;
    float alpha, limit;     /* GPTC_MOE_SWIGLU_OAI */
    gptc_wt gate_inp;       /* (E, D) router */
    float *gate_inp_b;      /* (E) owned or NULL */
    gptc_wt gate, up, down; /* (E * F, D), (E * F, D), (E * D, F) */
    float *b_gate, *b_up;   /* (E * F) owned or NULL */
    float *b_down;          /* (E * D) owned or NULL */
} gptc_moe;

/* Bind layer l's router and experts (blk.l.ffn_gate_inp, ffn_{gate,up,down}_exps, and their
 * .bias when biases is set) into an owned *out; E, k, F from the caller. Counts the bytes a token
 * reads (k of the E experts) in m->weight_bytes. */
gptc_status gptc_moe_bind(gptc_model *m, int l, int n_expert, int n_used, int n_ff, int biases,
                          gptc_moe **out, gptc_err *err);
void gptc_moe_free(gptc_moe *e);
/* The attention tensors of an MoE layer l (which has no dense ffn_*): attn_norm, attn_q/k/v,
 * attn_output (+ .bias of each when biases), attn_q_norm/attn_k_norm when qk_norm, attn_sinks
 * when sinks; and the pre-MoE norm `ffn_norm_name` into ly->ffn_norm. */
gptc_status gptc_moe_bind_attention(gptc_model *m, int l, int biases, int qk_norm, int sinks,
                                    const char *ffn_norm_name, gptc_err *err);
/* Activation forms (ops.h) the experts' quantized weights read, as a bit set. */
unsigned gptc_moe_act_forms(const gptc_moe *e, const gptc_ops *ops);

/* expert_count, expert_used_count, expert_feed_forward_length of m's architecture (k <= E). */
gptc_status gptc_moe_hparams(const gptc_model *m, int *E, int *k, int *F, gptc_err *err);
/* The context's MoE scratch (c->moe_buf) grown to at least n bytes, 64-byte aligned; kept
 * between calls, so nothing in it outlives a block. NULL: out of memory. */
void *gptc_moe_scratch(gptc_ctx *c, size_t n);
/* The layer loop of the MoE families (qwen3moe.c): embed; per layer x += attn(attn_norm(x)),
 * x += moe(ffn_norm(x)) (gpt-oss binds its post_attention_norm as ffn_norm). */
gptc_status gptc_forward_moe(gptc_fwd *f, gptc_err *err);

/* The MoE feed-forward of layer f->l on c->xb (T, D, normed): into c->xb2 (T, D). */
gptc_status gptc_blk_moe(gptc_fwd *f, const gptc_moe *e, gptc_err *err);

#endif
