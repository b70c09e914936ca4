/*
 * q5_1.c — Q5_1: 32 elements as an f16 scale, an f16 minimum and 5-bit codes, x = d * q + m;
 * the fifth bits as in Q5_0.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

void gptc_q5_1_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float min = x[0], max = x[0];
        for (int j = 1; j < QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        float d = (max - min) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gptc_f32_to_f16(d);
        y[i].m = gptc_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (uint8_t)((x[j] - min) * id + 0.5f),
                q1 = (uint8_t)((x[j + QK / 2] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4 & 1) << j;
            qh |= (uint32_t)(q1 >> 4 & 1) << (j + QK / 2);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

void gptc_q5_1_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q5_1 *x = vx;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++) {
        float d = gptc_f16_to_f32(x[i].d), m = gptc_f16_to_f32(x[i].m);
        gptc_q5_codes(x[i].qh, x[i].qs, q);
        for (int j = 0; j < QK; j++)
            *y++ = (float)q[j] * d + m;
    }
}

float gptc_q5_1_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q5_1 *w = vw;
    const block_q8_1 *x = vx;
    int q[QK];
    float s = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        gptc_q5_codes(w[i].qh, w[i].qs, q);
        int32_t isum = 0;
        for (int j = 0; j < QK; j++)
            isum += q[j] * x[i].qs[j];
        s += (float)isum * (gptc_f16_to_f32(w[i].d) * gptc_f16_to_f32(x[i].d)) +
             gptc_f16_to_f32(w[i].m) * gptc_f16_to_f32(x[i].s);
    }
    return s;
}
