/*
 * decode.h — the forward skeleton every architecture shares, and the architecture table.
 *
 * gptc_decode (decode.c) checks the batch, gives each token a KV cell, calls the
 * architecture's forward (its embeddings and its layer loop, which leave the final hidden state
 * of every token in c->x), then applies the final norm, the output projection and the final
 * soft-capping to the tokens that asked for logits, and accumulates embeddings.
 *
 * An architecture is one file (llama.c, gpt2.c, qwen.c, gemma.c ...) holding a gptc_arch_def:
 * its hyperparameter reader, its weight binder and its forward, registered in the table of
 * arch.c. The layer loops are made of the shared blocks below.
 */
#ifndef GPTC_DECODE_H
#define GPTC_DECODE_H

#include "model/context.h"

/* The state of one forward pass: the context, the batch's positions, the layer being run. */
typedef struct gptc_fwd {
    gptc_ctx *c;
    const gptc_batch *b;
    const gptc_layer *ly;
    const gptc_rotary *rope; /* the rope of this layer in this context */
    int T, l;
    const int32_t *pos;
    /* the generic product job: Y (T, w->rows) = X · w^T (+ bias) */
    float *Y;
    const gptc_wt *w;
    const float *X, *bias;
} gptc_fwd;

typedef struct gptc_arch_def {
    int id;           /* enum gptc_arch */
    const char *name; /* general.architecture */
    /* read m->hp and the architecture constants of m (file, tokenizer already there) */
    gptc_status (*hparams)(gptc_model *m, gptc_err *err);
    /* bind every tensor, checking shapes */
    gptc_status (*bind)(gptc_model *m, gptc_err *err);
    /* embeddings and layers: c->x (T, D) = final hidden states, before the final norm */
    gptc_status (*forward)(gptc_fwd *f, gptc_err *err);
} gptc_arch_def;

/* arch.c: the row of general.architecture, or NULL; the supported ids, comma-separated. */
const gptc_arch_def *gptc_arch_find(gptc_str name);
const char *gptc_arch_supported(void);

/* The architectures (one file each) */
extern const gptc_arch_def gptc_arch_llama, gptc_arch_gpt2, gptc_arch_qwen2, gptc_arch_qwen3,
    gptc_arch_gemma2, gptc_arch_gemma3, gptc_arch_phi3, gptc_arch_smollm3, gptc_arch_bert,
    gptc_arch_gemma4;
/* The mixture-of-experts architectures (qwen3moe.c, gptoss.c; the block in moe.c) */
extern const gptc_arch_def gptc_arch_qwen3moe, gptc_arch_gptoss;
/* The Qwen3.5 hybrids (qwen35.c: gated delta-net and gated attention layers) */
extern const gptc_arch_def gptc_arch_qwen35, gptc_arch_qwen35moe;
struct gptc_dn_layer;
void gptc_dn_layer_free(struct gptc_dn_layer *d);
/* The hybrid architectures (recurrent state per sequence, context.h) */
extern const gptc_arch_def gptc_arch_lfm2;

/* The layer loop of the families made of gptc_blk_prenorm_layer only (llama.c) */
gptc_status gptc_forward_prenorm(gptc_fwd *f, gptc_err *err);

/* ----- shared blocks (decode.c) ----------------------------------------------------------- */

/* c->x (T, D) = rows of token_embd for the batch's tokens, times m->embd_scale when set. */
void gptc_blk_embed(gptc_fwd *f);
/* GPTC_E_RANGE when a position of the batch is past the model's learned ones (n_ctx_train). */
gptc_status gptc_blk_check_positions(const gptc_fwd *f, gptc_err *err);
/* c->x (T, D) += row of w for each token: its position (row NULL: learned positions), or *row
 * for every token (a token-type embedding). */
void gptc_blk_add_row(gptc_fwd *f, const gptc_wt *w, const int *row);
/* out (T, D) = norm(in) with weight w and, when b is set, LayerNorm with bias b; else RMSNorm. */
void gptc_blk_norm(gptc_fwd *f, float *out, const float *in, const float *w, const float *b);
/* The attention block of layer f->l on c->xb (T, D, already normed): q/k/v (+ biases, q/k/v
 * norms, rope), store K/V in the cache, attention (window, soft-cap), output projection (+ bias)
 * into c->xb2 (T, D). */
void gptc_blk_attention(gptc_fwd *f);
/* The feed-forward block on c->xb (T, D): m->act of gate/up, down (+ biases) into c->xb2. */
void gptc_blk_ffn(gptc_fwd *f);
/* c->x += c->xb2, after the RMSNorm `post` of c->xb2 when set (Gemma's post-norms). */
void gptc_blk_residual(gptc_fwd *f, const float *post);
/* Y (T, w->rows) = X (T, w->cols) · w^T (+ bias), on the pool when large enough; quantized
 * weights: converts X first. */
void gptc_blk_matmul(gptc_fwd *f, float *Y, const gptc_wt *w, float *X, const float *bias, int T);
/* The standard pre-norm layer: x += attn(norm(x)); x += ffn(norm(x)), with the post-norms when
 * the layer has them. */
void gptc_blk_prenorm_layer(gptc_fwd *f);

/* o (n) = the final norm of m (RMSNorm, LayerNorm or a copy when m has none). */
void gptc_final_norm(const gptc_model *m, float *o, const float *x);
/* x[i] = gelu(x[i]) through ggml's f16 table: f16(gelu(f16(x))), 0 below -10, x above 10 */
void gptc_gelu_f16(float *x, int n);

#endif
