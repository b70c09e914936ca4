/*
 * pack_q5k.c — packed Q5_K (pack.h): packing, unpacking and the scalar reference product.
 *
 * A 16-row group's super-block b (columns 256b .. 256b + 255) is 2816 bytes, as in the file:
 * Q4_K's packed super-block (pack_k.c) followed by the fifth bits.
 *     0  the 16 rows' d (f16)
 *    32  the 16 rows' dmin (f16)
 *    64  the 12 scale bytes, transposed: byte s of row i at 64 + 16 s + i
 *   256  the codes' low 4 bits: for chunk c = 0..3 (elements 64c ..) and k = 0..7, the 16 rows'
 *        qs[32c + 4k .. 32c + 4k + 3] at 256 + 64 (8c + k) + 4 i (low nibbles are elements
 *        64c + 4k .., sub-block 2c; high nibbles 64c + 32 + 4k .., sub-block 2c + 1)
 *  2304  qh in 8 units: unit k (qh[4k .. 4k + 3]) of row i at 2304 + 64 k + 4 i
 * So one 64-byte vector holds a unit of all 16 rows; bit j of qh unit k's bytes is the fifth bit
 * of elements 32j + 4k .. 32j + 4k + 3 (sub-block j), the same elements as the nibbles of code
 * vector (c, k) with j = 2c (low) or 2c + 1 (high).
 * Activations are the standard Q8_K blocks. The product is the reference's: per super-block the
 * exact integer sums isum (codes x scales) and msum (mins x group sums), then s += d_x * (d *
 * isum - dmin * msum), unfused, as gptc_q5_K_vec_dot_ref.
 */
#include <string.h>

#include "quant/blocks.h"
#include "core/base.h"
#include "quant/pack.h"
#include "quant/quant.h"

#define G GPTC_PACK_ROWS

/* Moves one file block (row i of the group) to or from its packed places (to_packed: 1). */
static void move_block(uint8_t *sb, void *vblk, int i, int to_packed)
{
    block_q5_K *blk = vblk;
#define MV(packed, file, n) (to_packed ? memcpy(packed, file, n) : memcpy(file, packed, n))
    MV(sb + 2 * i, &blk->d, 2);
    MV(sb + 32 + 2 * i, &blk->dmin, 2);
    for (int s = 0; s < 12; s++)
        MV(sb + 64 + 16 * s + i, &blk->scales[s], 1);
    for (int u = 0; u < 32; u++)
        MV(sb + 256 + 64 * u + 4 * i, blk->qs + 4 * u, 4);
    for (int u = 0; u < 8; u++)
        MV(sb + 2304 + 64 * u + 4 * i, blk->qh + 4 * u, 4);
#undef MV
}

void gptc_pack_q5k_groups(void *dst, const void *src, int cols, int g0, int g1)
{
    gptc_pack_sb_groups(move_block, sizeof(block_q5_K), dst, src, cols, g0, g1);
}

void gptc_pack_q5k_unpack_row(void *row, const void *packed, int cols, int r)
{
    gptc_pack_sb_unpack_row(move_block, sizeof(block_q5_K), row, packed, cols, r);
}

/* The reference reads each block back in the file's layout and takes the file's reference dot
 * (the packed layout only moves bytes); a one-block dot is the block's term exactly, so the sum
 * is gptc_q5_K_vec_dot_ref's, term for term. */
void gptc_pack_q5k_matmul_ref(float *Y, int ldy, const void *W, const void *Xq, int T, int C,
                              int r0, int r1)
{
    gptc_pack_sb_matmul_ref(move_block, sizeof(block_q5_K), gptc_q5_K_vec_dot_ref, Y, ldy, W, Xq, T,
                            C, r0, r1);
}
