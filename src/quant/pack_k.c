/*
 * pack_k.c — packed Q4_K (pack.h): packing, unpacking and the scalar reference product.
 *
 * A 16-row group's super-block b (columns 256b .. 256b + 255) is 2304 bytes, as in the file:
 *     0  the 16 rows' d (f16)
 *    32  the 16 rows' dmin (f16)
 *    64  the 12 scale bytes, transposed: byte s of row i at 64 + 16 s + i
 *   256  the codes: for chunk c = 0..3 (elements 64c ..) and k = 0..7, the 16 rows' qs[32c + 4k
 *        .. 32c + 4k + 3] (4 bytes a row; low nibbles are elements 64c + 4k .., sub-block 2c,
 *        high nibbles 64c + 32 + 4k .., sub-block 2c + 1)
 * Activations are the standard Q8_K blocks. The product sums each super-block's exact integer
 * sums isum (codes x scales) and msum (mins x group sums), then s += d_x * (d * isum - dmin *
 * msum), unfused, as gptc_q4_K_vec_dot_ref.
 */
#include <string.h>

#include "quant/blocks.h"
#include "core/base.h"
#include "core/fp16.h"
#include "quant/pack.h"
#include "quant/quant.h"

#define G GPTC_PACK_ROWS
#define SB_BYTES (G * sizeof(block_q4_K)) /* 2304 */

static size_t off_d(int i)
{
    return 2 * (size_t)i;
}
static size_t off_dmin(int i)
{
    return 32 + 2 * (size_t)i;
}
static size_t off_scale(int s, int i)
{
    return 64 + 16 * (size_t)s + (size_t)i;
}
static size_t off_codes(int c, int k, int i)
{
    return 256 + (size_t)(c * 8 + k) * 64 + 4 * (size_t)i;
}

/* Moves one file block (row i of the group) to or from its packed places (to_packed: 1). */
static void move_block(uint8_t *sb, void *vblk, int i, int to_packed)
{
    block_q4_K *blk = vblk;
#define MV(packed, file, n) (to_packed ? memcpy(packed, file, n) : memcpy(file, packed, n))
    MV(sb + off_d(i), &blk->d, 2);
    MV(sb + off_dmin(i), &blk->dmin, 2);
    for (int s = 0; s < 12; s++)
        MV(sb + off_scale(s, i), &blk->scales[s], 1);
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 8; k++)
            MV(sb + off_codes(c, k, i), blk->qs + 32 * c + 4 * k, 4);
#undef MV
}

void gptc_pack_k_groups(void *dst, const void *src, int cols, int g0, int g1)
{
    gptc_pack_sb_groups(move_block, sizeof(block_q4_K), dst, src, cols, g0, g1);
}

void gptc_pack_k_unpack_row(void *row, const void *packed, int cols, int r)
{
    gptc_pack_sb_unpack_row(move_block, sizeof(block_q4_K), row, packed, cols, r);
}

void gptc_pack_k_matmul_ref(float *Y, int ldy, const void *W, const void *Xq, int T, int C, int r0,
                            int r1)
{
    int nsb = C / QK_K;
    size_t rb = (size_t)nsb * sizeof(block_q4_K);
    for (int t = 0; t < T; t++) {
        const block_q8_K *x = (const block_q8_K *)Xq + (size_t)t * nsb;
        for (int r = r0; r < r1; r++) {
            const uint8_t *grp = (const uint8_t *)W + (size_t)(r / G) * G * rb;
            int i = r % G;
            float s = 0.0f;
            for (int b = 0; b < nsb; b++) {
                const uint8_t *sb = grp + (size_t)b * SB_BYTES;
                uint8_t scales[12];
                for (int k = 0; k < 12; k++)
                    scales[k] = sb[off_scale(k, i)];
                int32_t isum = 0, msum = 0;
                for (int c = 0; c < 4; c++) {
                    uint8_t sc0, m0, sc1, m1;
                    gptc_k_scale_min(2 * c, scales, &sc0, &m0);
                    gptc_k_scale_min(2 * c + 1, scales, &sc1, &m1);
                    int32_t s0 = 0, s1 = 0;
                    for (int k = 0; k < 8; k++)
                        for (int e = 0; e < 4; e++) {
                            uint8_t q = sb[off_codes(c, k, i) + (size_t)e];
                            s0 += (q & 15) * x[b].qs[64 * c + 4 * k + e];
                            s1 += (q >> 4) * x[b].qs[64 * c + 32 + 4 * k + e];
                        }
                    isum += sc0 * s0 + sc1 * s1;
                    msum += m0 * (x[b].bsums[4 * c] + x[b].bsums[4 * c + 1]) +
                            m1 * (x[b].bsums[4 * c + 2] + x[b].bsums[4 * c + 3]);
                }
                uint16_t d, dmin;
                memcpy(&d, sb + off_d(i), 2);
                memcpy(&dmin, sb + off_dmin(i), 2);
                s += x[b].d *
                     (gptc_f16_to_f32(d) * (float)isum - gptc_f16_to_f32(dmin) * (float)msum);
            }
            Y[(size_t)t * ldy + r] = s;
        }
    }
}
