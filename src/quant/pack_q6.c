/*
 * pack_q6.c — packed Q6_K (pack.h): packing, unpacking and the scalar reference product.
 *
 * A 16-row group's super-block b (columns 256b .. 256b + 255) is 3360 bytes, as in the file,
 * the file's bytes moved in 4-byte units:
 *     0  the 16 rows' d (f16)
 *    32  the 16 scales, in pairs: scale s of row i at 32 + 32 (s / 2) + 2 i + s % 2 (so a 32-byte
 *        load widened to int16 holds scales 2p and 2p + 1 of row i in its int32 lane i)
 *   288  ql in 32 units: unit u (ql[4u .. 4u + 3]) of row i at 288 + 64 u + 4 i
 *  2336  qh in 16 units: unit u (qh[4u .. 4u + 3]) of row i at 2336 + 64 u + 4 i
 * So one 64-byte vector holds a unit of all 16 rows. In half h (elements 128h ..) and for
 * k = 0..7, ql unit 16h + k has elements 4k .. (low nibbles) and 64 + 4k .. (high), ql unit
 * 16h + 8 + k has 32 + 4k .. and 96 + 4k .., and qh unit 8h + k their bits 4-5: crumbs 0, 1,
 * 2, 3 for 4k, 32 + 4k, 64 + 4k, 96 + 4k (blocks.h).
 * Activations are the standard Q8_K blocks. The product is the reference's: per super-block the
 * exact integer sum of scale x (code - 32) x activation, then s += d_x * (d * isum), unfused.
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
    block_q6_K *blk = vblk;
#define MV(packed, file, n) (to_packed ? memcpy(packed, file, n) : memcpy(file, packed, n))
    MV(sb + 2 * i, &blk->d, 2);
    for (int s = 0; s < 16; s++)
        MV(sb + 32 + 32 * (s / 2) + 2 * i + s % 2, &blk->scales[s], 1);
    for (int u = 0; u < 32; u++)
        MV(sb + 288 + 64 * u + 4 * i, blk->ql + 4 * u, 4);
    for (int u = 0; u < 16; u++)
        MV(sb + 2336 + 64 * u + 4 * i, blk->qh + 4 * u, 4);
#undef MV
}

void gptc_pack_q6_groups(void *dst, const void *src, int cols, int g0, int g1)
{
    gptc_pack_sb_groups(move_block, sizeof(block_q6_K), dst, src, cols, g0, g1);
}

void gptc_pack_q6_unpack_row(void *row, const void *packed, int cols, int r)
{
    gptc_pack_sb_unpack_row(move_block, sizeof(block_q6_K), row, packed, cols, r);
}

/* The reference reads each block back in the file's layout and takes the file's reference dot
 * (the packed layout only moves bytes); a one-block dot is the block's term exactly, so the sum
 * is gptc_q6_K_vec_dot_ref's, term for term. */
void gptc_pack_q6_matmul_ref(float *Y, int ldy, const void *W, const void *Xq, int T, int C, int r0,
                             int r1)
{
    gptc_pack_sb_matmul_ref(move_block, sizeof(block_q6_K), gptc_q6_K_vec_dot_ref, Y, ldy, W, Xq, T,
                            C, r0, r1);
}
