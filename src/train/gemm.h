/*
 * gemm.h — the f32 matrix products of training: C = op(A) · op(B) (+ C), in the three forms the
 * forward and backward passes need, on the thread pool.
 *
 *   forward    Y  (M=tokens, N=out) = X (tokens, in) · W^T          ta=0, tb=1
 *   input grad dX (M=tokens, N=in)  = dY (tokens, out) · W (out, in)  ta=0, tb=0
 *   weight grad dW (M=out, N=in)   += dY^T · X                         ta=1, tb=0
 *
 * Shape letters: M rows of C, N columns of C, K the reduction length. Every matrix is row-major
 * with a leading dimension (row stride): op(A) is (M, K), stored (M, K) when ta == 0 and (K, M)
 * when ta == 1; op(B) is (K, N), stored (K, N) when tb == 0 and (N, K) when tb == 1.
 *
 * The driver is the usual packed-panel design (Goto; BLIS): blocks of B (KC x NC) and of A
 * (MC x KC) are copied into contiguous panels whose layout is independent of the transposes, and
 * one register micro-kernel (MR x NR outputs per call) does all the arithmetic. The micro-kernel
 * is chosen once by CPU (gemm_avx512.c, gemm_avx2.c, or the scalar one in gemm.c).
 *
 * Determinism: each element of C is summed in the same order (KC-blocks in turn, k in order
 * within a block, one accumulator per element) whatever the thread count and whichever tile the
 * element falls in, so results are identical for any number of threads. The scalar reference
 * gptc_gemm_ref sums in plain k order; SIMD kernels agree with it to rounding.
 */
#ifndef GPTC_TRAIN_GEMM_H
#define GPTC_TRAIN_GEMM_H

#include "core/base.h"
#include "core/threads.h"

/* A micro-kernel: C (MR x NR, row stride ldc) = (acc ? C : 0) + Ap · Bp over k steps, where Ap
 * holds MR values per step and Bp NR values per step (the packed panels). Only the first mr rows
 * and nr columns of C are read or written (an edge tile; the panels are zero-padded). */
typedef void (*gptc_gemm_ukernel)(int k, const float *Ap, const float *Bp, float *C, int ldc,
                                  int acc, int mr, int nr);

/* The per-ISA kernels of training, one table per instruction set (gemm.c, gemm_avx2.c,
 * gemm_avx512.c). Besides the GEMM micro-kernel it holds the few elementwise loops that are
 * worth vectorising by hand; a NULL entry means "use the scalar reference" (layers.h, optim.c),
 * which every entry is tested against. */
typedef struct gptc_gemm_kernel {
    const char *name; /* "ref", "avx2", "avx512" */
    int mr, nr;       /* register tile */
    int mc, kc, nc;   /* cache blocks: A block MC x KC (L2), B panel KC x NC (L3) */
    gptc_gemm_ukernel fn;
    /* Pack one NR-column micro-panel of op(B) from B stored (N, K) (a transposing copy):
     * dst[k * NR + j] = B[j * ldb + k] for k < kc, j < nr, zero for nr <= j < NR. */
    void (*pack_bt)(const float *B, int ldb, int kc, int nr, float *dst);
    /* Pack one MR-row micro-panel of A stored (M, K) (a transposing copy):
     * dst[k * MR + i] = A[i * lda + k] for k < kc, i < mr, zero for mr <= i < MR. */
    void (*pack_at)(const float *A, int lda, int kc, int mr, float *dst);
    /* Plain copies of full panels: B stored (K, N) (NR values per k) and A stored (K, M) (MR
     * values per k): dst[k * W + j] = src[k * ld + j]. */
    void (*pack_bn)(const float *B, int ldb, int kc, float *dst);
    void (*pack_an)(const float *A, int lda, int kc, float *dst);
    /* sum of x[i]^2 over n elements, in double (the gradient norm) */
    double (*sumsq)(const float *x, size_t n);
    /* x[i] = exp(x[i] - mx) for n elements; returns their sum (softmax) */
    float (*expsum)(float *x, int n, float mx);
    /* AdamW on n elements, gradients multiplied by gscale first, then zeroed (optim.c). */
    void (*adamw)(float *p, float *g, float *m1, float *m2, size_t n, float lr, float beta1,
                  float beta2, float eps, float wd, int t, float gscale);
    /* layers.h's elementwise ops */
    void (*gelu_fwd)(float *y, const float *x, int n);
    void (*gelu_bwd)(float *dx, const float *x, const float *dy, int n);
    void (*swiglu_fwd)(float *h, const float *g, const float *u, int n);
    void (*swiglu_bwd)(float *dg, float *du, const float *dh, const float *g, const float *u,
                       int n);
} gptc_gemm_kernel;

/* The kernel for this CPU (env GPTC_ISA=ref|avx2|avx512 forces one, as for ops). */
const gptc_gemm_kernel *gptc_gemm_kernel_get(void);
const gptc_gemm_kernel *gptc_gemm_kernel_ref(void);
const gptc_gemm_kernel *gptc_gemm_kernel_avx2(void);   /* NULL when the CPU lacks AVX2+FMA */
const gptc_gemm_kernel *gptc_gemm_kernel_avx512(void); /* NULL when the CPU lacks AVX-512 */

/* Packing buffers for every thread of a pool; sized once. */
typedef struct gptc_gemm gptc_gemm;

/* kernel NULL: gptc_gemm_kernel_get(). OUT: owned, free with gptc_gemm_free. */
gptc_status gptc_gemm_init(const gptc_gemm_kernel *kernel, int n_threads, gptc_gemm **out,
                           gptc_err *err);
void gptc_gemm_free(gptc_gemm *g);
const gptc_gemm_kernel *gptc_gemm_get_kernel(const gptc_gemm *g);

/* C (M, N) = op(A) · op(B), or C += op(A) · op(B) when acc != 0, split across the pool's threads
 * (pool may be NULL: one thread). The pool must have at most the n_threads given at init.
 * Not reentrant: one call at a time per gptc_gemm. */
void gptc_gemm_run(gptc_gemm *g, gptc_pool *pool, int ta, int tb, int M, int N, int K,
                   const float *A, int lda, const float *B, int ldb, int acc, float *C, int ldc);

/* The same product on the calling thread alone, with thread slot ith's buffers (0 <= ith <
 * n_threads of init): for small products inside a pool job (attention). Any number of threads
 * may call it at once with different ith. */
void gptc_gemm_local(gptc_gemm *g, int ith, int ta, int tb, int M, int N, int K, const float *A,
                     int lda, const float *B, int ldb, int acc, float *C, int ldc);

/* The scalar reference: each element summed in k order, in float. */
void gptc_gemm_ref(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                   int ldb, int acc, float *C, int ldc);

#endif
