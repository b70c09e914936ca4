/*
 * q2_k.c — Q2_K: super-blocks of 256 elements in 16 groups of 16, each with a 4-bit scale and a
 * 4-bit min under the super-block's f16 d and dmin: x = d * sc * q - dmin * m, q in [0, 3].
 *
 * The quantizer is llama.cpp's reference algorithm without an importance matrix: weights |x|;
 * each group's affine fit is searched over 16 candidate scales (Q4_K's search with the absolute
 * error instead of the squared one), the 16 scales and mins are quantized to 4 bits against the
 * largest, and the codes recomputed with the rounded scales. Float operations in llama.cpp's
 * order, so the bytes are llama-quantize's.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

void gptc_q2_K_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q2_K *y = vy;
    uint8_t L[QK_K], Laux[16];
    float w[16], mins[QK_K / 16], scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++)
                w[l] = fabsf(x[16 * j + l]);
            scales[j] = gptc_kq_fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux,
                                              -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = 15.0f / max_scale;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] = (uint8_t)gptc_nearest_int(iscale * scales[j]);
            y[i].d = gptc_f32_to_f16(max_scale / 15.0f);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = gptc_f32_to_f16(0.0f);
        }
        if (max_min > 0) {
            float iscale = 15.0f / max_min;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] |= (uint8_t)(gptc_nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = gptc_f32_to_f16(max_min / 15.0f);
        } else {
            y[i].dmin = gptc_f32_to_f16(0.0f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            float d = gptc_f16_to_f32(y[i].d) * (y[i].scales[j] & 15);
            if (d == 0.0f) continue; /* codes stay as the fit left them, as llama.cpp does */
            float dm = gptc_f16_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                int l = gptc_nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)(l < 0 ? 0 : l > 3 ? 3 : l);
            }
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 |
                                               L[j + l + 96] << 6);
    }
}

/* The code of element e of a Q2_K/Q3_K qs array (2 bits). */
static inline int code2(const uint8_t *qs, int e)
{
    return qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32)) & 3;
}

void gptc_q2_K_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q2_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = gptc_f16_to_f32(x[i].d), dmin = gptc_f16_to_f32(x[i].dmin);
        for (int g = 0; g < QK_K / 16; g++) {
            float dl = d * (x[i].scales[g] & 15), ml = dmin * (x[i].scales[g] >> 4);
            for (int e = 16 * g; e < 16 * g + 16; e++)
                *y++ = dl * code2(x[i].qs, e) - ml;
        }
    }
}

/* sum over super-blocks of d_x * (d * sum_g sc_g * (q_g . x_g) - dmin * sum_g m_g * bsum_g) */
float gptc_q2_K_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q2_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int32_t isum = 0, msum = 0;
        for (int g = 0; g < QK_K / 16; g++) {
            int32_t gs = 0;
            for (int e = 16 * g; e < 16 * g + 16; e++)
                gs += code2(w[i].qs, e) * x[i].qs[e];
            isum += (w[i].scales[g] & 15) * gs;
            msum += (w[i].scales[g] >> 4) * x[i].bsums[g];
        }
        s += x[i].d *
             (gptc_f16_to_f32(w[i].d) * (float)isum - gptc_f16_to_f32(w[i].dmin) * (float)msum);
    }
    return s;
}
