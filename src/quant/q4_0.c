/*
 * q4_0.c — Q4_0: 32 elements as an f16 scale and 4-bit codes, x = d * (q - 8).
 *
 * The scale maps the element of largest magnitude (sign included) to code 0, i.e. -8 * d, so
 * the format spends its asymmetric extra level on the extreme value.
 */
#include <math.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

void gptc_q4_0_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0.0f, max = 0.0f; /* max: the signed value of largest magnitude, first wins */
        for (int j = 0; j < QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gptc_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            /* +8.5 then truncation: round half up into [0, 16], clamped to 15 */
            int q0 = (int8_t)(x[j] * id + 8.5f), q1 = (int8_t)(x[j + QK / 2] * id + 8.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void gptc_q4_0_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = gptc_f16_to_f32(x[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 15) - 8) * d;
            y[j + QK / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

float gptc_q4_0_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q4_0 *w = vw;
    const block_q8_0 *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        int32_t isum = 0;
        for (int j = 0; j < QK / 2; j++) {
            isum += ((w[i].qs[j] & 15) - 8) * x[i].qs[j];
            isum += ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + QK / 2];
        }
        s += (float)isum * (gptc_f16_to_f32(w[i].d) * gptc_f16_to_f32(x[i].d));
    }
    return s;
}
