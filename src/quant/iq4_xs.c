/*
 * iq4_xs.c — IQ4_XS: super-blocks of 256 elements in 8 sub-blocks of 32 on IQ4_NL's grid, each
 * with a signed 6-bit scale under the super-block's f16 d: x = d * (ls - 32) * values[q].
 *
 * The quantizer is IQ4_NL's per-sub-block search (gptc_iq4_fit, iq4_nl.c); the 8 scales are then
 * quantized to 6 bits against the largest (d = -max / 32) and every element re-indexed with its
 * rounded scale, as llama.cpp does without an importance matrix.
 */
#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

void gptc_iq4_xs_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_iq4_xs *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++)
        gptc_iq4_fit(QK_K / 32, x + QK_K * i, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l);
}

static inline int xs_scale(const block_iq4_xs *b, int ib)
{
    return ((b->scales_l[ib / 2] >> 4 * (ib % 2)) & 15) | ((b->scales_h >> 2 * ib) & 3) << 4;
}

void gptc_iq4_xs_dequantize(const void *vx, float *y, int64_t n)
{
    const block_iq4_xs *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = gptc_f16_to_f32(x[i].d);
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32) {
            float dl = d * (xs_scale(&x[i], ib) - 32);
            const uint8_t *qs = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * gptc_iq4nl_values[qs[j] & 15];
                y[j + 16] = dl * gptc_iq4nl_values[qs[j] >> 4];
            }
        }
    }
}

float gptc_iq4_xs_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_iq4_xs *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int32_t isum = 0;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const uint8_t *qs = w[i].qs + 16 * ib;
            const int8_t *a = x[i].qs + 32 * ib;
            int32_t sub = 0;
            for (int j = 0; j < 16; j++)
                sub += gptc_iq4nl_values[qs[j] & 15] * a[j] +
                       gptc_iq4nl_values[qs[j] >> 4] * a[j + 16];
            isum += (xs_scale(&w[i], ib) - 32) * sub;
        }
        s += x[i].d * (gptc_f16_to_f32(w[i].d) * (float)isum);
    }
    return s;
}
