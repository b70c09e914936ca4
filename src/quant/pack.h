/*
 * pack.h — weights regrouped at load ("packed"), 16 rows at a time, so that one 64-byte vector
 * holds 4 codes of each of 16 rows: a product then keeps rows in the int32 lanes and broadcasts
 * 4 activation codes at a time, instead of summing 16 lanes per row and token at the end.
 *
 * Types: Q4_0, Q8_0, IQ4_NL, Q4_K, Q5_K and Q6_K (gptc_pack_type_ok; Q4_K's layout is in pack_k.c,
 * Q5_K's in pack_q5k.c, Q6_K's in pack_q6.c). A packed matrix has
 * rows a multiple of GPTC_PACK_ROWS and takes exactly the bytes of the file's rows: group g (rows
 * 16g .. 16g + 15) starts at byte g * 16 * row_bytes, so a view of rows [r0, ...) with r0 % 16 == 0
 * is the same byte offset as in the file. Within a group, block b (columns 32b .. 32b + 31) is Q4_0
 * (288 bytes): the 16 rows' f16 scales d, then for k = 0..3 the 16 rows' qs[4k .. 4k + 3] (4 bytes
 * a row: low nibbles are elements 4k .. 4k + 3, high nibbles 16 + 4k ..); Q8_0 (544 bytes): the 16
 * rows' f16 scales d, then for k = 0..7 the 16 rows' codes 4k .. 4k + 3, each plus 128 (stored
 * unsigned); IQ4_NL as Q4_0 (the same block bytes; its nibbles index gptc_iq4nl_values).
 *
 * Activations of packed Q4_0/Q8_0/IQ4_NL weights (form GPTC_PACK_FORM in every ops table) are per
 * 32-element block: the Q8_0 codes and scale of gptc_q8_0_quantize_ref, the scale as a float, and
 * minus the codes' sum times 8 and times 128 (the weights' code offsets).
 *
 * The products give, for every output, the bits gptc_qmm_matmul_ref gives on the file's rows:
 * per block the exact integer dot, then s += isum * (d_w * d_x) in block order, unfused.
 */
#ifndef GPTC_PACK_H
#define GPTC_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "quant/quant.h"

#define GPTC_PACK_ROWS 16
#define GPTC_PACK_FORM 5 /* the activation form index of packed weights (core/ops.h) */

/* One activation block of packed weights (40 bytes; any alignment). */
typedef struct gptc_pack_xblk {
    int8_t qs[32];
    float d;        /* the Q8_0 block's f16 scale, as a float */
    int32_t neg8;   /* -8 * sum(qs): Q4_0's offset */
    int32_t neg128; /* -128 * sum(qs): Q8_0's offset */
} gptc_pack_xblk;

/* 1 when gptc can pack weights of this type. */
int gptc_pack_type_ok(uint32_t type);
/* 1 when packed weights of this type read activations in form GPTC_PACK_FORM (Q4_0, Q8_0,
 * IQ4_NL); 0:
 * in the table's own form for the type (Q4_K, Q5_K, Q6_K: standard Q8_K blocks in every table). */
static inline int gptc_pack_own_form(uint32_t type)
{
    return type == GPTC_TYPE_Q4_0 || type == GPTC_TYPE_Q8_0 || type == GPTC_TYPE_IQ4_NL;
}
/* Pack rows [g0 * 16, g1 * 16) of a (rows, cols) matrix of type from src (the file's rows) into
 * dst (the same offsets). cols a multiple of 32. */
void gptc_pack_groups(uint32_t type, void *dst, const void *src, int cols, int g0, int g1);
/* Row r of a packed matrix back in the file's layout (tests). */
void gptc_pack_unpack_row(uint32_t type, void *row, const void *packed, int cols, int r);

/* Activations: bytes of a row of C columns, and the reference conversion. */
size_t gptc_pack_act_bytes(int C);
void gptc_pack_act_quant_ref(void *xq, const float *x, int C);

/* The reference product Y[t, r] for r in [r0, r1), t in [0, T): W packed, Xq rows of
 * gptc_pack_act_bytes(C). */
void gptc_pack_matmul_ref(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                          int C, int r0, int r1);

/* The super-block types' packing and unpacking (pack.c), given how one row's file block moves
 * to (to_packed 1) or from its places in a group's packed super-block sb (row i of 16); blk_bytes:
 * the file block's size (at most 256). */
typedef void (*gptc_pack_move_fn)(uint8_t *sb, void *blk, int i, int to_packed);
void gptc_pack_sb_groups(gptc_pack_move_fn mv, size_t blk_bytes, void *dst, const void *src,
                         int cols, int g0, int g1);
void gptc_pack_sb_unpack_row(gptc_pack_move_fn mv, size_t blk_bytes, void *row, const void *packed,
                             int cols, int r);
/* A reference product that reads each block back in the file's layout and takes the file
 * type's reference dot (vec_dot: its gptc_*_vec_dot_ref) of that one block, summed in block
 * order: a one-block dot is the block's term exactly, so the sum is vec_dot's term for term. */
void gptc_pack_sb_matmul_ref(gptc_pack_move_fn mv, size_t blk_bytes,
                             float (*vec_dot)(int n, const void *w, const void *x), float *Y,
                             int ldy, const void *W, const void *Xq, int T, int C, int r0, int r1);

/* pack_k.c: Q4_K's packing, unpacking and reference product (Xq: block_q8_K rows) */
void gptc_pack_k_groups(void *dst, const void *src, int cols, int g0, int g1);
void gptc_pack_k_unpack_row(void *row, const void *packed, int cols, int r);
void gptc_pack_k_matmul_ref(float *Y, int ldy, const void *W, const void *Xq, int T, int C, int r0,
                            int r1);
/* pack_q5k.c: Q5_K's, the same (Xq: block_q8_K rows) */
void gptc_pack_q5k_groups(void *dst, const void *src, int cols, int g0, int g1);
void gptc_pack_q5k_unpack_row(void *row, const void *packed, int cols, int r);
void gptc_pack_q5k_matmul_ref(float *Y, int ldy, const void *W, const void *Xq, int T, int C,
                              int r0, int r1);
/* pack_q6.c: Q6_K's, the same (Xq: block_q8_K rows) */
void gptc_pack_q6_groups(void *dst, const void *src, int cols, int g0, int g1);
void gptc_pack_q6_unpack_row(void *row, const void *packed, int cols, int r);
void gptc_pack_q6_matmul_ref(float *Y, int ldy, const void *W, const void *Xq, int T, int C, int r0,
                             int r1);

#endif
