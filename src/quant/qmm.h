/*
 * qmm.h — matrix products with block-quantized weights, one set per instruction set, reached
 * through the ops table (core/ops.h: act_form, act_row_bytes, act_quant, matmul_q).
 *
 * A product Y(T, R) = X(T, C) · W(R, C)^T with W of a quantized type runs in two steps:
 *   1. act_quant converts each activation row once to the 8-bit type the weight pairs with
 *      (quant.h: vec_dot_type, i.e. Q8_0, Q8_1 or Q8_K) — in a layout of the table's choosing,
 *      the "form" act_form(wtype) names, act_row_bytes(form, C) bytes per row;
 *   2. matmul_q computes Y[t, r] for r in [r0, r1) from those rows and the weight blocks.
 * Every table's act_quant produces the same codes and scales as the scalar reference (the
 * layouts differ), so tables differ only in the order floats are summed. A table's matmul_q
 * reads only its own act_quant's layout.
 *
 *   ref     forms 0-2: rows of standard blocks (block_q8_0, q8_1, q8_K); vec_dot_ref per output
 *   avx2    the reference's forms; 256-bit maddubs dot products; packed Q4_0/Q8_0/Q4_K in
 *           qmm_avx2_pack.c
 *   avx512  Q8_0/Q8_1 as 64-element pairs with lane-expanded scales and sums, in element order
 *           (forms 0, 1) or in Q4_0/Q4_1's nibble order (forms 3, 4); Q8_K as standard blocks
 *           (form 2); VNNI dot products, register tiles, rows prefetched ahead (qmm_avx512.c)
 *
 * Shape letters as in ops.h: T tokens, R rows, C columns (a multiple of the type's block).
 */
#ifndef GPTC_QMM_H
#define GPTC_QMM_H

#include <stddef.h>
#include <stdint.h>

int gptc_qmm_act_form_ref(uint32_t wtype);
/* pack for tables that keep the file's rows (0 for every type); their matmul_qp is
 * gptc_pack_matmul_ref (pack.h) */
int gptc_qmm_pack_none(uint32_t wtype);
size_t gptc_qmm_act_bytes_ref(int form, int C);
void gptc_qmm_act_quant_ref(int form, void *xq, const float *x, int C);
void gptc_qmm_matmul_ref(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                         int C, int r0, int r1);

void gptc_qmm_matmul_avx2(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                          int C, int r0, int r1);
/* qmm_avx2_pack.c: packed Q4_0, Q8_0 and Q4_K (quant/pack.h) with AVX2 only */
int gptc_qmm_pack_avx2(uint32_t wtype);
void gptc_qmm_matmul_packed_avx2(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq,
                                 int T, int C, int r0, int r1);

int gptc_qmm_act_form_avx512(uint32_t wtype);
size_t gptc_qmm_act_bytes_avx512(int form, int C);
void gptc_qmm_act_quant_avx512(int form, void *xq, const float *x, int C);
void gptc_qmm_matmul_avx512(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                            int C, int r0, int r1);
int gptc_qmm_pack_avx512(uint32_t wtype);
void gptc_qmm_matmul_packed_avx512(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq,
                                   int T, int C, int r0, int r1);

#endif
