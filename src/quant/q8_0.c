/*
 * q8_0.c — Q8_0 (32 elements: an f16 scale and 32 int8 codes) and its activation twin Q8_1.
 *
 * Q8_0 is both a weight format and the form activations take before a dot with Q4_0, Q5_0 or
 * Q8_0 weights; Q8_1 (Q8_0 plus the block's scaled sum) pairs with Q4_1 and Q5_1 weights.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

/* d = max|x| / 127 and q = round(x / d), half away from zero (roundf), as llama.cpp does; the
 * codes come from the exact d, the stored d is its f16 rounding. */
void gptc_q8_0_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gptc_f32_to_f16(d);
        for (int j = 0; j < QK; j++)
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void gptc_q8_0_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK; i++) {
        float d = gptc_f16_to_f32(x[i].d);
        for (int j = 0; j < QK; j++)
            *y++ = (float)x[i].qs[j] * d;
    }
}

float gptc_q8_0_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q8_0 *w = vw, *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        int32_t isum = 0;
        for (int j = 0; j < QK; j++)
            isum += (int32_t)w[i].qs[j] * x[i].qs[j];
        s += (float)isum * (gptc_f16_to_f32(w[i].d) * gptc_f16_to_f32(x[i].d));
    }
    return s;
}

/* Q8_1: as Q8_0, plus s = f16(d * sum(q)) with the exact d. */
void gptc_q8_1_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = gptc_f32_to_f16(d);
        y[i].s = gptc_f32_to_f16((float)sum * d);
    }
}

void gptc_q8_1_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK; i++) {
        float d = gptc_f16_to_f32(x[i].d);
        for (int j = 0; j < QK; j++)
            *y++ = (float)x[i].qs[j] * d;
    }
}
