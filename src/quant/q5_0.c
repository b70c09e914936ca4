/*
 * q5_0.c — Q5_0: 32 elements as an f16 scale and 5-bit codes, x = d * (q - 16); the fifth bits
 * sit together in a 32-bit mask.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

void gptc_q5_0_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        float d = max / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gptc_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int8_t)(x[j] * id + 16.5f), q1 = (int8_t)(x[j + QK / 2] * id + 16.5f);
            if (q0 > 31) q0 = 31;
            if (q1 > 31) q1 = 31;
            y[i].qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4 & 1) << j;
            qh |= (uint32_t)(q1 >> 4 & 1) << (j + QK / 2);
        }
        memcpy(y[i].qh, &qh, 4); /* little-endian, as the file stores it */
    }
}

void gptc_q5_0_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q5_0 *x = vx;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        float d = gptc_f16_to_f32(x[i].d);
        gptc_q5_codes(x[i].qh, x[i].qs, q);
        for (int j = 0; j < QK; j++)
            *y++ = (float)(q[j] - 16) * d;
    }
}

float gptc_q5_0_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q5_0 *w = vw;
    const block_q8_0 *x = vx;
    int q[QK];
    float s = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        gptc_q5_codes(w[i].qh, w[i].qs, q);
        int32_t isum = 0;
        for (int j = 0; j < QK; j++)
            isum += (q[j] - 16) * x[i].qs[j];
        s += (float)isum * (gptc_f16_to_f32(w[i].d) * gptc_f16_to_f32(x[i].d));
    }
    return s;
}
