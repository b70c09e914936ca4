/*
 * ops.h — the numeric kernels of the forward pass, as one function table.
 *
 * ops.c holds the scalar references (the spec); ops_avx2.c and ops_avx512.c hold the same
 * signatures with intrinsics, compiled with per-file ISA flags; dispatch.c picks one table once
 * at start-up from cpuid. Tests compare every variant against the reference.
 *
 * Shape letters: T tokens in a batch, R output rows, C input columns (the reduction length).
 * Weights W are row-major (R, C): row r is contiguous, as GGUF stores a tensor with ne0 = C.
 * Activations X are (T, C) and outputs Y are (T, R), both row-major.
 */
#ifndef GPTC_OPS_H
#define GPTC_OPS_H

#include <stddef.h>
#include <stdint.h>

#define GPTC_ACT_FORMS                                                                             \
    6 /* activation forms any table uses for quantized weights; the last,                          \
       * 5, is packed weights' (quant/pack.h: GPTC_PACK_FORM) in every table */

/* Element types of a KV cache row, as the attention kernels read them. */
enum { GPTC_KV_F32, GPTC_KV_F16, GPTC_KV_Q8_0 };

typedef struct gptc_ops {
    const char *name; /* "ref", "avx2", "avx512" */

    /* sum_i a[i] * b[i] */
    float (*dot_f32)(const float *a, const float *b, int n);
    /* y[i] += s * x[i] */
    void (*axpy_f32)(float *y, float s, const float *x, int n);

    /* Y[t, r] = sum_c W[r, c] * X[t, c] for r in [r0, r1), t in [0, T).
     * W is F32, F16 (IEEE half, as uint16) or BF16 (as uint16). Y rows have stride ldy.
     * Each output element is written, not accumulated. The caller splits [0, R) across
     * threads; kernels must give bit-identical results whatever the split. */
    void (*matmul_f32)(float *Y, int ldy, const float *W, const float *X, int T, int C, int r0,
                       int r1);
    void (*matmul_f16)(float *Y, int ldy, const uint16_t *W, const float *X, int T, int C, int r0,
                       int r1);
    void (*matmul_bf16)(float *Y, int ldy, const uint16_t *W, const float *X, int T, int C, int r0,
                        int r1);

    /* Block-quantized W (quant.h: gptc_type_is_quant), in two steps (src/quant/qmm.h):
     * act_form(wtype) names the activation form this table's matmul_q reads for such weights
     * (0 .. GPTC_ACT_FORMS - 1; weights of different types may share one); act_quant converts
     * one activation row x (C) into that form, act_row_bytes(form, C) bytes: the codes and
     * scales of the weight's vec_dot_type (Q8_0, Q8_1 or Q8_K) in a layout of the table's
     * choosing. matmul_q computes Y[t, r] as above from T such rows (row t at
     * Xq + t * act_row_bytes) for r in [r0, r1). Every table gives the same codes and scales;
     * pair a table's matmul_q only with its own act_quant. Bit-identical results whatever the
     * split of [0, R), as above. */
    int (*act_form)(uint32_t wtype);
    size_t (*act_row_bytes)(int form, int C);
    void (*act_quant)(int form, void *xq, const float *x, int C);
    void (*matmul_q)(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T, int C,
                     int r0, int r1);
    /* Packed weights (quant/pack.h: 16 rows regrouped at load, rows in the vector lanes).
     * pack(wtype): 1 when this table computes packed weights of that type faster than the
     * file's rows (the loader packs only then). matmul_qp: as matmul_q with W packed and X in
     * form GPTC_PACK_FORM; whole 16-row groups are computed, only rows [r0, r1) stored. Every
     * table runs it, with the bits gptc_qmm_matmul_ref gives on the file's rows. */
    int (*pack)(uint32_t wtype);
    void (*matmul_qp)(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                      int C, int r0, int r1);

    /* Attention over a KV cache (model/context.c). A set of n cache rows, row j at
     * base + idx[j] * stride bytes, each of kind kvt (GPTC_KV_*: f32, f16, or q8_0 blocks of
     * 34 bytes); the head's hd values start at element off of the row. nq queries (heads
     * sharing the KV head), query i at q + i * hd; scores and probabilities row i at s + i * lds.
     * kv_dot:  s[i * lds + j] = sum_d q[i][d] * K_j[off + d]           (written)
     * kv_acc:  y[i * hd + d] += sum_j p[i * lds + j] * V_j[off + d]     (accumulated, j in order)
     * Each (i, j) score and each y[i][d] is computed the same way whatever nq, n and the other
     * rows and queries of the call, so grouping work differently never changes a result. */
    void (*kv_dot)(int kvt, float *s, size_t lds, const float *q, int nq, const char *base,
                   size_t stride, int off, const int32_t *idx, int n, int hd);
    void (*kv_acc)(int kvt, float *y, const float *p, size_t lds, int nq, const char *base,
                   size_t stride, int off, const int32_t *idx, int n, int hd);
    /* The softmax of one head's scores in place: v_i = s[i] * scale, m = max(sink, max v_i),
     * e_i = exp(v_i - m) (0 where v_i - m < -87: below FLT_MIN next to the max's 1),
     * s[i] = e_i / (sum e_i + exp(sink - m)). sink = -INFINITY: none. n >= 1. */
    void (*att_softmax)(float *s, int n, float scale, float sink);
    /* SwiGLU: h[i] = g[i] * sigmoid(g[i]) * u[i], (n); h may be g. Within 4 ulp of
     * g / (1 + exp(-g)) * u (the reference, gptc_swiglu). */
    void (*swiglu)(float *h, const float *g, const float *u, int n);
    /* y[i] = the IEEE half of x[i], rounded to nearest even: the bits of gptc_f32_to_f16 for
     * every input (NaNs included); (n). An f16 KV cache's stores. */
    void (*f16_from_f32)(uint16_t *y, const float *x, int n);
} gptc_ops;

/* The best table for this CPU, chosen once (thread-safe). Env GPTC_ISA=ref|avx2|avx512 forces
 * one (if the CPU supports it), for tests and benchmarks. */
const gptc_ops *gptc_ops_get(void);
/* Each table, or NULL when this CPU cannot run it. */
const gptc_ops *gptc_ops_ref(void);
const gptc_ops *gptc_ops_avx2(void);
const gptc_ops *gptc_ops_avx512(void);

/* The reference attention kernels (the kv_dot and kv_acc of the "ref" table): SIMD tables call
 * them for layouts their vector loads do not cover (a q8_0 head not starting on a 16-element
 * boundary). */
void gptc_kv_dot_ref(int kvt, float *s, size_t lds, const float *q, int nq, const char *base,
                     size_t stride, int off, const int32_t *idx, int n, int hd);
void gptc_kv_acc_ref(int kvt, float *y, const float *p, size_t lds, int nq, const char *base,
                     size_t stride, int off, const int32_t *idx, int n, int hd);

/* The SIMD tables' swiglu (the training kernels share them). */
void gptc_swiglu_avx2(float *h, const float *g, const float *u, int n);
void gptc_swiglu_avx512(float *h, const float *g, const float *u, int n);

/* Small scalar helpers of the forward pass (not hot enough to dispatch). */
/* o = x / rms(x) * w, (n) */
void gptc_rmsnorm(float *o, const float *x, const float *w, int n, float eps);
/* in place, (n) */
void gptc_softmax(float *x, int n);
/* SwiGLU: g = silu(g) * u, (n): the reference table's swiglu */
void gptc_swiglu(float *g, const float *u, int n);
/* Rotate adjacent pairs (x[2i], x[2i+1]) of each head of x (n_head, head_dim) by pos*theta_i,
 * theta_i = base^(-2i/n_rot), for the first n_rot dimensions of each head (GPT-J / llama.cpp
 * "normal" rope, the layout of Meta's and llama2.c's checkpoints). */
void gptc_rope(float *x, int n_head, int head_dim, int n_rot, int pos, float base);

/* Row r of a (R, C) weight of any type with a to_float (quant.h: F32, F16, BF16, the quantized
 * types) converted to f32 (token embedding lookup). */
void gptc_row_to_f32(float *out, const void *W, uint32_t type, int C, int r);

#endif
