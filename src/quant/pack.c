/*
 * pack.c — the packed weight layout (pack.h): packing, unpacking, and the scalar reference of
 * the activations and the product, which the SIMD kernels (qmm_avx512_pack.c, qmm_avx2_pack.c)
 * match bit for bit.
 */
#include "quant/pack.h"

#include <string.h>

#include "quant/blocks.h"
#include "core/base.h"
#include "core/fp16.h"
#include "quant/quant.h"

#define G GPTC_PACK_ROWS

int gptc_pack_type_ok(uint32_t type)
{
    return type == GPTC_TYPE_Q4_0 || type == GPTC_TYPE_Q8_0 || type == GPTC_TYPE_IQ4_NL ||
           type == GPTC_TYPE_Q4_K || type == GPTC_TYPE_Q5_K || type == GPTC_TYPE_Q6_K;
}

/* Bytes of one packed block (16 rows x 32 columns): 16 scales, then the codes. */
static size_t pblk_bytes(uint32_t type)
{
    return (size_t)G * (type == GPTC_TYPE_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q4_0));
}
/* 4-byte code groups per row and block: Q4_0 and IQ4_NL 4 (two nibbles a byte), Q8_0 8 */
static int code_groups(uint32_t type)
{
    return type == GPTC_TYPE_Q8_0 ? 8 : 4;
}

/* Byte offsets in a group of (row i of the group, block b)'s scale, and of its code group k. */
static size_t pscale(uint32_t type, int b, int i)
{
    return (size_t)b * pblk_bytes(type) + 2 * (size_t)i;
}
static size_t pcodes(uint32_t type, int b, int i, int k)
{
    return (size_t)b * pblk_bytes(type) + 2 * G + (size_t)(k * G + i) * 4;
}

/* A file block's scale and its code group k (Q8_0's made unsigned). */
static void file_block(uint32_t type, const uint8_t *blk, uint8_t d[2], uint8_t q[4], int k)
{
    memcpy(d, blk, 2);
    memcpy(q, blk + 2 + 4 * k, 4);
    if (type == GPTC_TYPE_Q8_0)
        for (int e = 0; e < 4; e++)
            q[e] ^= 0x80;
}

void gptc_pack_groups(uint32_t type, void *dst, const void *src, int cols, int g0, int g1)
{
    if (type == GPTC_TYPE_Q4_K) {
        gptc_pack_k_groups(dst, src, cols, g0, g1);
        return;
    }
    if (type == GPTC_TYPE_Q5_K) {
        gptc_pack_q5k_groups(dst, src, cols, g0, g1);
        return;
    }
    if (type == GPTC_TYPE_Q6_K) {
        gptc_pack_q6_groups(dst, src, cols, g0, g1);
        return;
    }
    size_t rb = gptc_row_bytes(type, cols), bs = rb / (size_t)(cols / QK);
    int nb = cols / QK, nk = code_groups(type);
    for (int g = g0; g < g1; g++) {
        uint8_t *grp = (uint8_t *)dst + (size_t)g * G * rb;
        for (int i = 0; i < G; i++) {
            const uint8_t *row = (const uint8_t *)src + ((size_t)g * G + i) * rb;
            for (int b = 0; b < nb; b++)
                for (int k = 0; k < nk; k++) {
                    uint8_t d[2], q[4];
                    file_block(type, row + (size_t)b * bs, d, q, k);
                    if (k == 0) memcpy(grp + pscale(type, b, i), d, 2);
                    memcpy(grp + pcodes(type, b, i, k), q, 4);
                }
        }
    }
}

void gptc_pack_unpack_row(uint32_t type, void *row, const void *packed, int cols, int r)
{
    if (type == GPTC_TYPE_Q4_K) {
        gptc_pack_k_unpack_row(row, packed, cols, r);
        return;
    }
    if (type == GPTC_TYPE_Q5_K) {
        gptc_pack_q5k_unpack_row(row, packed, cols, r);
        return;
    }
    if (type == GPTC_TYPE_Q6_K) {
        gptc_pack_q6_unpack_row(row, packed, cols, r);
        return;
    }
    size_t rb = gptc_row_bytes(type, cols), bs = rb / (size_t)(cols / QK);
    const uint8_t *grp = (const uint8_t *)packed + (size_t)(r / G) * G * rb;
    int i = r % G, nk = code_groups(type);
    for (int b = 0; b < cols / QK; b++) {
        uint8_t *blk = (uint8_t *)row + (size_t)b * bs;
        memcpy(blk, grp + pscale(type, b, i), 2);
        for (int k = 0; k < nk; k++) {
            uint8_t *q = blk + 2 + 4 * k;
            memcpy(q, grp + pcodes(type, b, i, k), 4);
            if (type == GPTC_TYPE_Q8_0)
                for (int e = 0; e < 4; e++)
                    q[e] ^= 0x80;
        }
    }
}

void gptc_pack_sb_groups(gptc_pack_move_fn mv, size_t blk_bytes, void *dst, const void *src,
                         int cols, int g0, int g1)
{
    int nsb = cols / QK_K;
    size_t rb = (size_t)nsb * blk_bytes, sbb = G * blk_bytes;
    GPTC_ASSERT(blk_bytes <= 256);
    for (int g = g0; g < g1; g++) {
        uint8_t *grp = (uint8_t *)dst + (size_t)g * G * rb;
        for (int i = 0; i < G; i++) {
            const uint8_t *row = (const uint8_t *)src + ((size_t)g * G + i) * rb;
            for (int b = 0; b < nsb; b++) {
                _Alignas(16) uint8_t blk[256];
                memcpy(blk, row + (size_t)b * blk_bytes, blk_bytes);
                mv(grp + (size_t)b * sbb, blk, i, 1);
            }
        }
    }
}

void gptc_pack_sb_unpack_row(gptc_pack_move_fn mv, size_t blk_bytes, void *row, const void *packed,
                             int cols, int r)
{
    int nsb = cols / QK_K;
    size_t rb = (size_t)nsb * blk_bytes, sbb = G * blk_bytes;
    uint8_t *grp = GPTC_UNCONST(uint8_t *, packed) + (size_t)(r / G) * G * rb; /* only read */
    for (int b = 0; b < nsb; b++)
        mv(grp + (size_t)b * sbb, (uint8_t *)row + (size_t)b * blk_bytes, r % G, 0);
}

void gptc_pack_sb_matmul_ref(gptc_pack_move_fn mv, size_t blk_bytes,
                             float (*vec_dot)(int n, const void *w, const void *x), float *Y,
                             int ldy, const void *W, const void *Xq, int T, int C, int r0, int r1)
{
    int nsb = C / QK_K;
    size_t rb = (size_t)nsb * blk_bytes, sbb = G * blk_bytes;
    for (int r = r0; r < r1; r++) {
        uint8_t *grp = GPTC_UNCONST(uint8_t *, W) + (size_t)(r / G) * G * rb; /* only read */
        for (int t = 0; t < T; t++) {
            const block_q8_K *x = (const block_q8_K *)Xq + (size_t)t * (size_t)nsb;
            float s = 0.0f;
            for (int b = 0; b < nsb; b++) {
                _Alignas(16) uint8_t blk[256];
                mv(grp + (size_t)b * sbb, blk, r % G, 0);
                s += vec_dot(QK_K, blk, &x[b]);
            }
            Y[(size_t)t * ldy + r] = s;
        }
    }
}

size_t gptc_pack_act_bytes(int C)
{
    return (size_t)(C / QK) * sizeof(gptc_pack_xblk);
}

void gptc_pack_act_quant_ref(void *xq, const float *x, int C)
{
    gptc_pack_xblk *o = xq;
    for (int b = 0; b < C / QK; b++) {
        block_q8_0 q;
        gptc_q8_0_quantize_ref(x + (size_t)b * QK, &q, QK);
        int32_t sum = 0;
        for (int j = 0; j < QK; j++)
            sum += q.qs[j];
        memcpy(o[b].qs, q.qs, QK);
        o[b].d = gptc_f16_to_f32(q.d);
        o[b].neg8 = -8 * sum;
        o[b].neg128 = -128 * sum;
    }
}

/* Row i of a group, block b: the exact integer dot with activation block x. */
static int32_t block_dot(uint32_t type, const uint8_t *grp, int b, int i, const gptc_pack_xblk *x)
{
    int32_t isum = type == GPTC_TYPE_Q4_0 ? x->neg8 : type == GPTC_TYPE_Q8_0 ? x->neg128 : 0;
    for (int k = 0; k < code_groups(type); k++) {
        const uint8_t *q = grp + pcodes(type, b, i, k);
        for (int e = 0; e < 4; e++) {
            if (type == GPTC_TYPE_IQ4_NL) {
                isum += gptc_iq4nl_values[q[e] & 15] * x->qs[4 * k + e];
                isum += gptc_iq4nl_values[q[e] >> 4] * x->qs[16 + 4 * k + e];
            } else if (type == GPTC_TYPE_Q4_0) {
                isum += (q[e] & 15) * x->qs[4 * k + e];
                isum += (q[e] >> 4) * x->qs[16 + 4 * k + e];
            } else {
                isum += q[e] * x->qs[4 * k + e];
            }
        }
    }
    return isum;
}

void gptc_pack_matmul_ref(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                          int C, int r0, int r1)
{
    GPTC_ASSERT(gptc_pack_type_ok(wtype));
    if (wtype == GPTC_TYPE_Q4_K) {
        gptc_pack_k_matmul_ref(Y, ldy, W, Xq, T, C, r0, r1);
        return;
    }
    if (wtype == GPTC_TYPE_Q5_K) {
        gptc_pack_q5k_matmul_ref(Y, ldy, W, Xq, T, C, r0, r1);
        return;
    }
    if (wtype == GPTC_TYPE_Q6_K) {
        gptc_pack_q6_matmul_ref(Y, ldy, W, Xq, T, C, r0, r1);
        return;
    }
    size_t rb = gptc_row_bytes(wtype, C);
    int nb = C / QK;
    for (int t = 0; t < T; t++) {
        const gptc_pack_xblk *x = (const gptc_pack_xblk *)Xq + (size_t)t * nb;
        for (int r = r0; r < r1; r++) {
            const uint8_t *grp = (const uint8_t *)W + (size_t)(r / G) * G * rb;
            float s = 0.0f;
            for (int b = 0; b < nb; b++) {
                uint16_t dw;
                memcpy(&dw, grp + pscale(wtype, b, r % G), 2);
                float isum = (float)block_dot(wtype, grp, b, r % G, &x[b]);
                s += isum * (gptc_f16_to_f32(dw) * x[b].d);
            }
            Y[(size_t)t * ldy + r] = s;
        }
    }
}
