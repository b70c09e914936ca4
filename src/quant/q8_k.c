/*
 * q8_k.c — Q8_K, the activation format of the K dots: 256 int8 codes with a float scale and
 * the sums of each group of 16 codes.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "quant/quant.h"

/* The element of largest magnitude (first wins, sign kept) maps to -127: iscale = -127 / max,
 * q = min(127, round-half-even(iscale * x)), d = 1 / iscale (so d < 0 when max > 0). */
void gptc_q8_K_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = gptc_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += y[i].qs[16 * g + j];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

void gptc_q8_K_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++)
            *y++ = x[i].d * x[i].qs[j];
}
