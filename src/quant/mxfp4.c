/*
 * mxfp4.c — MXFP4 (OCP Microscaling FP4, GGUF type 39, gpt-oss's expert weights): blocks of 32
 * E2M1 values (1 sign, 2 exponent, 1 mantissa bit: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives)
 * sharing one E8M0 scale byte e (2^(e - 127)). ggml keeps the values doubled as integers
 * (gptc_mxfp4_values) and the scale halved (gptc_e8m0_half), which is the same product.
 *
 * The quantizer is ggml's reference: e = floor(log2(max |x|)) - 2 + 127, so the largest
 * magnitude lands in [4, 8) times the scale, near the grid's top value 6; each element takes the
 * grid value nearest to it (the first of equals). Dots pair with Q8_0 activations, as in
 * llama.cpp.
 */
#include <math.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

static int nearest_code(float x, float d)
{
    int best = 0;
    float best_err = fabsf(gptc_mxfp4_values[0] * d - x);
    for (int i = 1; i < 16; i++) {
        float err = fabsf(gptc_mxfp4_values[i] * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

void gptc_mxfp4_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_mxfp4 *y = vy;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
        /* below 2^-125 (where ggml's cast is undefined) the scale stays at its smallest; an
         * infinite element takes the largest finite scale */
        int ei = !(amax > 0.0f) ? 0 : isinf(amax) ? 254 : (int)floorf(log2f(amax)) - 2 + 127;
        uint8_t e = (uint8_t)(ei < 0 ? 0 : ei > 254 ? 254 : ei);
        float d = gptc_e8m0_half(e);
        y[i].e = e;
        for (int j = 0; j < QK / 2; j++)
            y[i].qs[j] = (uint8_t)(nearest_code(x[j], d) | nearest_code(x[j + QK / 2], d) << 4);
    }
}

void gptc_mxfp4_dequantize(const void *vx, float *y, int64_t n)
{
    const block_mxfp4 *x = vx;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = gptc_e8m0_half(x[i].e);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = gptc_mxfp4_values[x[i].qs[j] & 15] * d;
            y[j + QK / 2] = gptc_mxfp4_values[x[i].qs[j] >> 4] * d;
        }
    }
}

float gptc_mxfp4_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_mxfp4 *w = vw;
    const block_q8_0 *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        int32_t isum = 0;
        for (int j = 0; j < QK / 2; j++)
            isum += gptc_mxfp4_values[w[i].qs[j] & 15] * x[i].qs[j] +
                    gptc_mxfp4_values[w[i].qs[j] >> 4] * x[i].qs[j + QK / 2];
        s += (float)isum * (gptc_f16_to_f32(x[i].d) * gptc_e8m0_half(w[i].e));
    }
    return s;
}
