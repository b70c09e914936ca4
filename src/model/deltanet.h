/*
 * deltanet.h — the kernels of the gated delta net (Qwen3-Next / Qwen3.5 linear-attention layers)
 * as pure functions: the causal depthwise convolution in front of it and the gated delta rule.
 *
 * The gated delta rule, one head, state S (dv, dk) row-major, per token t with key k_t (dk),
 * query q_t (dk), value v_t (dv), log-decay g_t (<= 0 in a trained model) and write strength
 * beta_t in (0, 1):
 *     S <- exp(g_t) S
 *     S <- S + beta_t (v_t - S k_t) k_t^T
 *     o_t = S q_t
 * gptc_deltanet_step is that loop (the reference; decode runs it). gptc_deltanet_chunk computes
 * the same over a run of tokens chunk-parallel (prefill): within a chunk of n tokens, with
 * b_t = g_1 + ... + g_t and the chunk's start state S0, the values written are
 *     u_t = beta_t (v_t - e^{b_t} S0 k_t - sum_{i<t} e^{b_t - b_i} (k_i . k_t) u_i)
 * (a unit lower-triangular system solved by substitution), and then
 *     o_t = e^{b_t} S0 q_t + sum_{i<=t} e^{b_t - b_i} (k_i . q_t) u_i
 *     S   = e^{b_n} S0 + sum_i e^{b_n - b_i} u_i k_i^T
 * so the state is read and written once per chunk instead of once per token.
 * tests/test_qwen35.c checks the two against each other and scripts/qwen35_ref.py.
 */
#ifndef GPTC_DELTANET_H
#define GPTC_DELTANET_H

#include <stddef.h>

/* Tokens per chunk of gptc_deltanet_chunk */
#define GPTC_DN_CHUNK 64

/* Causal depthwise convolution of channels [c0, c1) of x (T rows, stride ldx) with kernel K:
 * out[t][c] = sum_j w[c * K + j] * x'[t + j][c], where x' is the K - 1 rows of `state` (stride
 * C) followed by x: the last tap multiplies the current row. state is then replaced by the last
 * K - 1 rows of x' (channels [c0, c1) only). out (stride ldo) may not alias x. */
void gptc_ssm_conv(float *out, size_t ldo, const float *x, size_t ldx, float *state, const float *w,
                   int T, int C, int K, int c0, int c1);

/* One token of the gated delta rule for one head: S (dv, dk) updated in place, o (dv). */
void gptc_deltanet_step(float *S, int dk, int dv, const float *q, const float *k, const float *v,
                        float g, float beta, float *o);

/* T tokens of one head, chunk-parallel, equal to T calls of gptc_deltanet_step up to rounding.
 * Token t's q, k, v, o are at q + t * ld_qk, k + t * ld_qk, v + t * ld_v, o + t * ld_o; its g
 * and beta at g[t * ld_gb], beta[t * ld_gb]. scratch: gptc_deltanet_scratch(dk, dv) floats. */
void gptc_deltanet_chunk(float *S, int dk, int dv, int T, const float *q, const float *k,
                         size_t ld_qk, const float *v, size_t ld_v, const float *g,
                         const float *beta, size_t ld_gb, float *o, size_t ld_o, float *scratch);
size_t gptc_deltanet_scratch(int dk, int dv);

/* x / max(|x|, eps) in place, (n) */
void gptc_l2norm(float *x, int n, float eps);

#endif
