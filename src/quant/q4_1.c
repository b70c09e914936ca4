/*
 * q4_1.c — Q4_1: 32 elements as an f16 scale, an f16 minimum and 4-bit codes, x = d * q + m.
 */
#include <float.h>
#include <math.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

void gptc_q4_1_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        float d = (max - min) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gptc_f32_to_f16(d);
        y[i].m = gptc_f32_to_f16(min);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int8_t)((x[j] - min) * id + 0.5f),
                q1 = (int8_t)((x[j + QK / 2] - min) * id + 0.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void gptc_q4_1_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = gptc_f16_to_f32(x[i].d), m = gptc_f16_to_f32(x[i].m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 15) * d + m;
            y[j + QK / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* sum d_w d_x sum(q_w q_x) + m_w * s_x, with s_x = d_x * sum(q_x) from the Q8_1 block */
float gptc_q4_1_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q4_1 *w = vw;
    const block_q8_1 *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        int32_t isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += (w[i].qs[j] & 15) * x[i].qs[j];
            isum += (w[i].qs[j] >> 4) * x[i].qs[j + QK / 2];
        }
        s += (float)isum * (gptc_f16_to_f32(w[i].d) * gptc_f16_to_f32(x[i].d)) +
             gptc_f16_to_f32(w[i].m) * gptc_f16_to_f32(x[i].s);
    }
    return s;
}
