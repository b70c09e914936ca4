/*
 * qmm.h — matrix products with block-quantized weights, one set per instruction set, reached
 * through the ops table (core/ops.h: act_row_bytes, act_quant, matmul_q).
 *
 * A product Y(T, R) = X(T, C) · W(R, C)^T with W of a quantized type runs in two steps:
 *   1. act_quant converts each activation row once to the 8-bit type the weight pairs with
 *      (quant.h: vec_dot_type, i.e. Q8_0, Q8_1 or Q8_K) — in a layout of the table's choosing,
 *      act_row_bytes(vdt, C) bytes per row;
 *   2. matmul_q computes Y[t, r] for r in [r0, r1) from those rows and the weight blocks.
 * Every table's act_quant produces the same codes and scales as the scalar reference (the
 * layouts differ), so tables differ only in the order floats are summed. A table's matmul_q
 * reads only its own act_quant's layout.
 *
 *   ref     quant.h's vec_dot_ref over rows of standard blocks (block_q8_0/q8_1/q8_K)
 *   avx2    the same standard blocks; 256-bit maddubs dot products
 *   avx512  Q8_0/Q8_1 as 64-element pairs with lane-expanded scales and sums (see
 *           qmm_avx512.c), Q8_K as standard blocks; VNNI dot products, register tiles of up to
 *           4 rows x 4 tokens, rows prefetched ahead
 *
 * Shape letters as in ops.h: T tokens, R rows, C columns (a multiple of the type's block).
 */
#ifndef GPTC_QMM_H
#define GPTC_QMM_H

#include <stddef.h>
#include <stdint.h>

size_t gptc_qmm_act_bytes_ref(uint32_t vdt, int C);
void gptc_qmm_act_quant_ref(uint32_t vdt, void *xq, const float *x, int C);
void gptc_qmm_matmul_ref(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                         int C, int r0, int r1);

void gptc_qmm_matmul_avx2(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                          int C, int r0, int r1);

size_t gptc_qmm_act_bytes_avx512(uint32_t vdt, int C);
void gptc_qmm_act_quant_avx512(uint32_t vdt, void *xq, const float *x, int C);
void gptc_qmm_matmul_avx512(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq,
                            int T, int C, int r0, int r1);

#endif
