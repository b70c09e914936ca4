/*
 * layers.h — every op of the two architectures as a forward/backward pair, in plain scalar C.
 *
 * These are the reference implementations and also the ones training runs (the GEMMs, where
 * the time goes, are in gemm.h). Each function works on a range of rows (tokens) or of columns
 * so the model can split it across threads; functions that reduce over tokens (weight and bias
 * gradients of norms, biases, embeddings) take a column range instead, so every output element
 * is summed by one thread in token order and results never depend on the thread count.
 *
 * Shape letters: n rows (tokens) in the range, D channels, F feed-forward width, V vocabulary,
 * T sequence length, hd head dimension. Gradient outputs named d* are accumulated (+=) when the
 * comment says so, written otherwise.
 */
#ifndef GPTC_TRAIN_LAYERS_H
#define GPTC_TRAIN_LAYERS_H

#include <stdint.h>

#include "core/ops.h"

/* ----- RMSNorm: y = x / sqrt(mean(x^2) + eps) * w ----- */
/* x, y (n, D); rstd (n) OUT: saved for backward */
void gptc_tl_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w, int n, int D,
                         float eps);
/* dx (n, D) += d/dx */
void gptc_tl_rmsnorm_bwd_dx(float *dx, const float *dy, const float *x, const float *w,
                            const float *rstd, int n, int D);
/* dw[c] += sum over all N rows, for columns [c0, c1) */
void gptc_tl_rmsnorm_bwd_dw(float *dw, const float *dy, const float *x, const float *rstd, int N,
                            int D, int c0, int c1);

/* ----- LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b ----- */
void gptc_tl_layernorm_fwd(float *y, float *mean, float *rstd, const float *x, const float *w,
                           const float *b, int n, int D, float eps);
/* dx (n, D) += d/dx */
void gptc_tl_layernorm_bwd_dx(float *dx, const float *dy, const float *x, const float *w,
                              const float *mean, const float *rstd, int n, int D);
/* dw[c], db[c] += sums over all N rows, for columns [c0, c1) */
void gptc_tl_layernorm_bwd_dwb(float *dw, float *db, const float *dy, const float *x,
                               const float *mean, const float *rstd, int N, int D, int c0, int c1);

/* ----- bias: y[r, c] += b[c]; db[c] += sum_r dy[r, c] for columns [c0, c1) ----- */
void gptc_tl_bias_fwd(float *y, int ldy, const float *b, int n, int C);
void gptc_tl_bias_bwd(float *db, const float *dy, int ldy, int N, int c0, int c1);

/* ----- GELU, tanh approximation (GPT-2): y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) -- */
void gptc_tl_gelu_fwd(float *y, const float *x, int n);
void gptc_tl_gelu_bwd(float *dx, const float *x, const float *dy, int n); /* dx written */

/* ----- SwiGLU: h = silu(g) * u, silu(g) = g / (1 + e^-g) ----- */
void gptc_tl_swiglu_fwd(float *h, const float *g, const float *u, int n);
void gptc_tl_swiglu_bwd(float *dg, float *du, const float *dh, const float *g, const float *u,
                        int n);

/* ----- RoPE, adjacent pairs (x[2i], x[2i+1]) of each head, as src/model/llama.c ----- */
/* cs (n_rot) cos, sin of pos * inv_freq[i] for one position, as llama.c computes them */
void gptc_tl_rope_table(float *cs, int pos, const float *inv_freq, int n_rot);
/* Rotate one token's heads in place: x (n_head, hd), by +theta (forward) or -theta (backward:
 * the gradient of a rotation is the inverse rotation). */
void gptc_tl_rope(float *x, const float *cs, int n_head, int hd, int n_rot, int inverse);

/* ----- causal self-attention of one sequence and one head ----- */
/* q (T, hd) rows with stride ldq, k and v (T, hd) with stride ldk; out (T, hd) stride ldo;
 * p (T, T) OUT: the softmax probabilities (row t holds p[t, 0..t], zeros after) saved for
 * backward. scale = 1/sqrt(hd). ops: the dot/axpy kernels (gptc_ops_ref() for the reference). */
void gptc_tl_attention_fwd(const gptc_ops *ops, float *out, int ldo, float *p, const float *q,
                           int ldq, const float *k, const float *v, int ldk, int T, int hd,
                           float scale);
/* Given dout, writes dq and accumulates dk, dv (+=: grouped-query heads share k, v); dq, dk, dv
 * rows have stride ldq, ldk, ldk. dp (T) scratch. */
void gptc_tl_attention_bwd(const gptc_ops *ops, float *dq, float *dk, float *dv, float *dp,
                           const float *dout, int ldo, const float *p, const float *q, int ldq,
                           const float *k, const float *v, int ldk, int T, int hd, float scale);

/* The same two with matrix products on one thread (gptc_gemm_local with slot ith) — what the
 * model runs: S = q k^T, P = causal softmax(S scale), out = P v; backward dP = dout v^T,
 * dv += P^T dout, dS = P (dP - rowsum(P dP)) scale, dq = dS k, dk += dS^T q.
 * scratch: (T, T) floats. expsum as for gptc_tl_softmax_xent_fwd (may be NULL). */
struct gptc_gemm;
void gptc_tl_attention_fwd_mm(struct gptc_gemm *g, int ith,
                              float (*expsum)(float *x, int n, float mx), float *out, int ldo,
                              float *p, const float *q, int ldq, const float *k, const float *v,
                              int ldk, int T, int hd, float scale);
void gptc_tl_attention_bwd_mm(struct gptc_gemm *g, int ith, float *dq, float *dk, float *dv,
                              float *scratch, const float *dout, int ldo, const float *p,
                              const float *q, int ldq, const float *k, const float *v, int ldk,
                              int T, int hd, float scale);

/* ----- softmax + cross-entropy over the vocabulary ----- */
/* logits (n, V) become probabilities in place; loss[r] = -log p[r, target[r]]
 * (target < 0: no loss, loss[r] = 0). expsum: a vector kernel for x = exp(x - mx) and its sum
 * (gemm.h's table), or NULL for the scalar loop. */
void gptc_tl_softmax_xent_fwd(float *logits, float *loss, const int32_t *target, int n, int V,
                              float (*expsum)(float *x, int n, float mx));
/* probs (n, V) become dlogits in place: (p - onehot(target)) * scale; rows without a target
 * become 0 */
void gptc_tl_softmax_xent_bwd(float *probs, const int32_t *target, int n, int V, float scale);

/* ----- embeddings ----- */
/* x[r] = wte[tok[r]] (+ wpe[r % T] when wpe) for rows [r0, r1) */
void gptc_tl_embed_fwd(float *x, const float *wte, const float *wpe, const int32_t *tok, int r0,
                       int r1, int T, int D);
/* dwte[tok[r], c] += dx[r, c] and dwpe[r % T, c] += dx[r, c] (when dwpe) over all N rows, for
 * columns [c0, c1) */
void gptc_tl_embed_bwd(float *dwte, float *dwpe, const float *dx, const int32_t *tok, int N, int T,
                       int D, int c0, int c1);

#endif
