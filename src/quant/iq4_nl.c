/*
 * iq4_nl.c — IQ4_NL: blocks of 32 elements, an f16 scale and 4-bit indices into a fixed
 * non-linear grid of 16 int8 values (gptc_iq4nl_values): x = d * values[q]. Also the search
 * IQ4_XS shares (gptc_iq4_fit).
 *
 * The quantizer is llama.cpp's without an importance matrix: weights x^2; per 32 elements the
 * scale starts at max / values[0] (the largest magnitude onto the grid's end, -127) and is
 * refined by weighted least squares over 15 candidate scales around it; each element takes the
 * grid value nearest to x / d. Float operations in llama.cpp's order.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

#define GROUP_MAX_EPS 1e-15f
#define NTRY 7

/* Index of the grid value nearest x (the lower one on a tie, as ggml's best_index_int8). */
static int nearest_index(float x)
{
    const int8_t *v = gptc_iq4nl_values;
    if (x <= v[0]) return 0;
    if (x >= v[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (x < v[mid])
            hi = mid;
        else
            lo = mid;
    }
    return x - v[hi - 1] < v[hi] - x ? hi - 1 : hi;
}

/* Pack 32 * nsub indices L into nibbles, 16 bytes per 32 (element j low, j + 16 high). */
static void pack_nibbles(const uint8_t *L, uint8_t *qs, int nsub)
{
    for (int i = 0; i < nsub; i++)
        for (int j = 0; j < 16; j++)
            qs[16 * i + j] = (uint8_t)(L[32 * i + j] | L[32 * i + 16 + j] << 4);
}

void gptc_iq4_fit(int nsub, const float *x, uint16_t *dh, uint8_t *qs, uint16_t *scales_h,
                  uint8_t *scales_l)
{
    const int8_t *values = gptc_iq4nl_values;
    uint8_t L[QK_K];
    float scales[QK_K / 32], weight[32];
    *dh = gptc_f32_to_f16(0.0f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nsub; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++)
            weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            continue;
        }
        float d = -max / values[0], id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            int l = nearest_index(id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = values[l], w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumqx / sumq2;
        float best = d * sumqx;
        for (int itry = -NTRY; itry <= NTRY; itry++) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                float q = values[nearest_index(id * xb[j])], w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) {
            amax_scale = fabsf(d);
            max_scale = d;
        }
    }
    if (nsub > 1) { /* IQ4_XS: 6-bit sub-block scales under one f16 */
        *scales_h = 0;
        float d = -max_scale / 32;
        *dh = gptc_f32_to_f16(d);
        float id = d != 0.0f ? 1 / d : 0.0f;
        for (int ib = 0; ib < nsub; ib++) {
            int l = gptc_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            float dl = d * l, idl = dl != 0.0f ? 1 / dl : 0.0f;
            for (int j = 0; j < 32; j++)
                L[32 * ib + j] = (uint8_t)nearest_index(idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0)
                scales_l[ib / 2] = (uint8_t)(l & 15);
            else
                scales_l[ib / 2] |= (uint8_t)((l & 15) << 4);
            *scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
    } else {
        *dh = gptc_f32_to_f16(scales[0]);
        float id = scales[0] != 0.0f ? 1 / scales[0] : 0.0f;
        for (int j = 0; j < 32; j++)
            L[j] = (uint8_t)nearest_index(id * x[j]);
    }
    pack_nibbles(L, qs, nsub);
}

void gptc_iq4_nl_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_iq4_nl *y = vy;
    for (int64_t i = 0; i < n / QK; i++)
        gptc_iq4_fit(1, x + QK * i, &y[i].d, y[i].qs, NULL, NULL);
}

void gptc_iq4_nl_dequantize(const void *vx, float *y, int64_t n)
{
    const block_iq4_nl *x = vx;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = gptc_f16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * gptc_iq4nl_values[x[i].qs[j] & 15];
            y[j + 16] = d * gptc_iq4nl_values[x[i].qs[j] >> 4];
        }
    }
}

float gptc_iq4_nl_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_iq4_nl *w = vw;
    const block_q8_0 *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK; i++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++)
            isum += gptc_iq4nl_values[w[i].qs[j] & 15] * x[i].qs[j] +
                    gptc_iq4nl_values[w[i].qs[j] >> 4] * x[i].qs[j + 16];
        s += (float)isum * (gptc_f16_to_f32(w[i].d) * gptc_f16_to_f32(x[i].d));
    }
    return s;
}
