/*
 * train.h — a trainable GPT on the CPU: the configuration of both architectures, the parameter
 * slab, the forward pass that keeps every activation backward needs, the backward pass, AdamW,
 * the learning-rate schedule, gradient clipping, and the random numbers training draws.
 *
 * Architectures:
 *   llama  RMSNorm, RoPE (adjacent pairs, as src/model/llama.c), SwiGLU, grouped-query
 *          attention, no biases, output tied to token_embd or not
 *   gpt2   LayerNorm with bias, learned positions, GELU (tanh), biases everywhere, output tied
 *
 * Parameters live in one f32 slab (gradients in a second of the same layout, AdamW moments in
 * two more), as a table of named tensors with the llama.cpp GGUF names, so export and
 * checkpointing are a walk over the table. llama's q/k/v weights are adjacent in the slab and so
 * are gate/up, so each pair/triple is one matrix product (and still separate GGUF tensors).
 *
 * Shape letters: B sequences, T positions, N = B*T tokens, D embedding, H heads, Hkv kv heads,
 * hd head dim, Q = H*hd, K = Hkv*hd, F feed-forward width, V vocabulary, L layers.
 *
 * Determinism: every reduction is split by output element, never by summand, so a step gives the
 * same bits with any thread count (and a resumed run continues bit for bit).
 */
#ifndef GPTC_TRAIN_H
#define GPTC_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"
#include "core/ops.h"
#include "core/threads.h"
#include "train/gemm.h"
#include "model/arch.h"

/* ----- configuration ------------------------------------------------------------------------- */

/* cfg.arch: GPTC_ARCH_LLAMA or GPTC_ARCH_GPT2 (model/arch.h: one enum for inference and training)
 */

typedef struct gptc_tconfig {
    enum gptc_arch arch;
    int n_vocab;
    int n_ctx; /* longest sequence (gpt2: rows of position_embd) */
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv; /* gpt2: must equal n_head */
    int n_ff;
    int tied;       /* llama: the classifier is token_embd (gpt2: always) */
    float norm_eps; /* RMSNorm / LayerNorm epsilon */
    float rope_base;
} gptc_tconfig;

/* Defaults for an architecture with the given sizes: n_ff (gpt2 4D; llama 2/3 of 4D rounded up
 * to a multiple of 32, as llama2.c), eps 1e-5, rope base 10000, gpt2 tied. */
void gptc_tconfig_defaults(gptc_tconfig *c);
/* Every size positive and consistent (heads divide dim, kv heads divide heads, even head dim
 * for RoPE, gpt2 without GQA, sizes that fit in memory arithmetic). */
gptc_status gptc_tconfig_check(const gptc_tconfig *c, gptc_err *err);

/* ----- random numbers: xoshiro256**, seeded by splitmix64; state saved in checkpoints ------- */

typedef struct gptc_rng {
    uint64_t s[4];
} gptc_rng;

void gptc_rng_seed(gptc_rng *r, uint64_t seed);
uint64_t gptc_rng_u64(gptc_rng *r);
float gptc_rng_uniform(gptc_rng *r); /* [0, 1) */
float gptc_rng_normal(gptc_rng *r);  /* N(0, 1), Box-Muller */

/* ----- the parameter table -------------------------------------------------------------------- */

enum gptc_tparam_kind {
    GPTC_TP_MATRIX = 0, /* a matmul weight: weight decay applies */
    GPTC_TP_EMBED = 1,  /* token/position embedding: decayed only when asked */
    GPTC_TP_NORM = 2,   /* norm gain: never decayed */
    GPTC_TP_BIAS = 3,   /* never decayed */
};

typedef struct gptc_tparam {
    char name[48]; /* the GGUF tensor name, e.g. "blk.0.attn_q.weight" */
    int n_dims;    /* 1 or 2 */
    int ne[2];     /* ne[0] = row length, ne[1] = rows (1 for vectors), as GGUF */
    size_t off;    /* first element in the slab */
    size_t n;      /* elements */
    int kind;      /* enum gptc_tparam_kind */
} gptc_tparam;

/* ----- the model ----------------------------------------------------------------------------- */

typedef struct gptc_tmodel gptc_tmodel;

/* Build the parameter table and allocate parameters, gradients and activations for batches of
 * up to B x T tokens (T <= n_ctx), with a pool of n_threads (0: all cores). Parameters start at
 * zero: call gptc_tmodel_init_weights or fill gptc_tmodel_params. OUT: owned, free with
 * gptc_tmodel_free. */
gptc_status gptc_tmodel_init(const gptc_tconfig *cfg, int B, int T, int n_threads,
                             gptc_tmodel **out, gptc_err *err);
void gptc_tmodel_free(gptc_tmodel *m);

const gptc_tconfig *gptc_tmodel_config(const gptc_tmodel *m);
int gptc_tmodel_n_tensors(const gptc_tmodel *m);
const gptc_tparam *gptc_tmodel_tensor(const gptc_tmodel *m, int i);
const gptc_tparam *gptc_tmodel_find(const gptc_tmodel *m, const char *name);
size_t gptc_tmodel_n_params(const gptc_tmodel *m);
float *gptc_tmodel_params(gptc_tmodel *m); /* (n_params) borrowed */
float *gptc_tmodel_grads(gptc_tmodel *m);  /* (n_params) borrowed */
gptc_pool *gptc_tmodel_pool(gptc_tmodel *m);
const gptc_gemm_kernel *gptc_tmodel_kernel(const gptc_tmodel *m); /* the ISA kernels in use */
/* Bytes of parameters, gradients and activations allocated. */
size_t gptc_tmodel_bytes(const gptc_tmodel *m);
/* FLOPs of one forward + backward over B x T tokens (matmuls and attention), for MFU. */
double gptc_tmodel_flops(const gptc_tmodel *m, int B, int T);

/* GPT-2 initialisation: matrices and embeddings N(0, 0.02), the projections into the residual
 * stream (attn_output, ffn_down) N(0, 0.02 / sqrt(2 L)), norm gains 1, biases 0. */
void gptc_tmodel_init_weights(gptc_tmodel *m, gptc_rng *rng);

/* Forward over tokens (B, T), B <= the B of init, T <= its T. With targets (B, T) (-1: no
 * target), *loss receives the mean cross-entropy over the targeted tokens and the logits become
 * probabilities, ready for backward. Without targets the logits stay (see gptc_tmodel_logits).
 * GPTC_E_RANGE for a token or target outside the vocabulary. */
gptc_status gptc_tmodel_forward(gptc_tmodel *m, const int32_t *tokens, const int32_t *targets,
                                int B, int T, float *loss /* OUT, may be NULL */, gptc_err *err);
/* (B*T, V) of the last forward: logits (no targets) or probabilities (targets). Borrowed. */
const float *gptc_tmodel_logits(const gptc_tmodel *m);
/* Accumulate into the gradients the gradient of scale * (mean loss of the last forward, which
 * must have had targets). */
void gptc_tmodel_backward(gptc_tmodel *m, float scale);
void gptc_tmodel_zero_grad(gptc_tmodel *m);
/* Make g (n_params floats, or NULL for the model's own) the gradient slab backward accumulates
 * into and the optimizer reads; returns the slab in use before. */
float *gptc_tmodel_swap_grads(gptc_tmodel *m, float *g);

/* ----- LoRA: frozen weights, trained low-rank adapters ------------------------------------- */

/* An adapter on one matrix W0 (out x in) of a layer: the model computes with
 * W0 + scale * B A, where A is (rank, in) and B (out, rank), without merging: a product
 * Y = X W0^T becomes Y = X W0^T + (scale X A^T) B^T. */
typedef struct gptc_tlora {
    size_t off; /* the adapted matrix's first element in the slab (its table entry's off) */
    int in, out, rank;
    float scale;        /* alpha / rank */
    const float *a, *b; /* (rank, in), (out, rank): read at every forward */
    float *ga, *gb;     /* their gradients: backward adds to them */
} gptc_tlora;

/* Freeze every parameter and add the n adapters (borrowed until gptc_tmodel_free). From then
 * on the forward adds them, and backward computes no parameter gradient at all (the gradient
 * slab is released) but only the gradients flowing to the activations through W0 and the
 * adapters, and for each adapter, with X its matrix's input, dY its output's gradient and
 * U = scale X A^T (kept from the forward), V = scale dY B:
 *   dB += dY^T U,  dA += V^T X,  dX += dY W0 + V A.
 * Backward stops below the lowest adapted layer. Call once; GPTC_E_INVALID for an adapter that
 * is not on a whole matrix of a layer, or of a rank larger than the matrix. */
gptc_status gptc_tmodel_set_lora(gptc_tmodel *m, const gptc_tlora *ad, int n, gptc_err *err);

/* ----- optimisation --------------------------------------------------------------------------- */

typedef struct gptc_adamw {
    float beta1, beta2, eps;
    float weight_decay; /* decoupled: p -= lr * wd * p, on matrices (and embeddings if asked) */
    int decay_embeddings;
} gptc_adamw;

/* The slab's elements in chunks of GPTC_OPT_CHUNK: the unit of the gradient norm's partial
 * sums and of the parameter shards of data-parallel training (ZeRO-1). */
#define GPTC_OPT_CHUNK 16384
size_t gptc_tmodel_n_chunks(const gptc_tmodel *m);
/* partial[c - c0] = sum of squared gradients of chunk c, for c in [c0, c1). */
void gptc_tmodel_sumsq_chunks(gptc_tmodel *m, size_t c0, size_t c1, double *partial);
/* The factor clipping applies to gradients of global norm `norm` (1 when no clipping). */
float gptc_clip_scale(double norm, float clip);
/* The AdamW step on the parameters of chunks [c0, c1) with the gradients times gscale; the
 * moments of parameter i are m1[i - mo_off], m2[i - mo_off]. */
void gptc_tmodel_adamw_chunks(gptc_tmodel *m, const gptc_adamw *opt, float *m1, float *m2,
                              size_t mo_off, int t, float lr, float gscale, size_t c0, size_t c1);
/* L2 norm of all gradients (summed in double, in fixed chunks: independent of threads). */
double gptc_tmodel_grad_norm(gptc_tmodel *m);
/* One optimizer step: clip the gradients by their global norm as torch.nn.utils.clip_grad_norm_
 * (when norm > clip > 0, scale them by clip / (norm + 1e-6)), then AdamW step t (1-based, for
 * bias correction) with learning rate lr on every parameter; m1, m2 (n_params) the moments.
 * Zeroes the gradients (ready for the next step). Returns the norm before clipping. */
double gptc_tmodel_adamw(gptc_tmodel *m, const gptc_adamw *opt, float *m1, float *m2, int t,
                         float lr, float clip);
/* The AdamW update of n elements, the reference: gradients times gscale, weight decay wd
 * already chosen for the tensor; zeroes g. */
void gptc_adamw_ref(float *p, float *g, float *m1, float *m2, size_t n, float lr, float beta1,
                    float beta2, float eps, float wd, int t, float gscale);
/* Linear warmup over `warmup` steps to max_lr, then cosine decay to min_lr at step `total`
 * (and min_lr after). step is 0-based: lr(step) = max_lr * (step + 1) / (warmup + 1) during
 * warmup (nanoGPT's schedule). */
float gptc_lr_cosine(int step, float max_lr, float min_lr, int warmup, int total);

#endif
