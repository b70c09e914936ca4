/*
 * q6_k.c — Q6_K: super-blocks of 256 elements in 16 groups of 16, each with an int8 scale under
 * the super-block's f16 d: x = d * sc * (q - 32), q in [0, 63] (4 low bits in ql, 2 high bits
 * in qh; see blocks.h for the interleaving).
 *
 * The quantizer is llama.cpp's reference without an importance matrix: each group's scale is
 * chosen among 19 candidates around max/32 by weighted (x^2) least squares, the 16 scales are
 * quantized to int8 against the largest, and the codes recomputed with the rounded scales.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

#define GROUP_MAX_EPS 1e-15f

static int clamp_code(int l, int nmax)
{
    return l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
}

/* Symmetric fit of n values to codes in [-nmax, nmax - 1] with weights x^2: L receives codes +
 * nmax; returns the scale (signed: the value of largest magnitude maps to -nmax). */
static float fit_symmetric(int n, int nmax, const float *x, uint8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_code(gptc_nearest_int(iscale * x[i]), nmax);
        L[i] = (uint8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_code(gptc_nearest_int(iscale * x[i]), nmax);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (uint8_t)(nmax + clamp_code(gptc_nearest_int(iscale * x[i]), nmax));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

void gptc_q6_K_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q6_K *y = vy;
    uint8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            float scale = fit_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            y[i].d = gptc_f32_to_f16(0.0f);
            continue;
        }
        float iscale = -128.0f / max_scale;
        y[i].d = gptc_f32_to_f16(1.0f / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) {
            int s = gptc_nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(s > 127 ? 127 : s);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            float d = gptc_f16_to_f32(y[i].d) * y[i].scales[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = gptc_nearest_int(x[16 * j + ii] / d);
                l = l < -32 ? -32 : l > 31 ? 31 : l;
                L[16 * j + ii] = (uint8_t)(l + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t *c = L + j + l;
                ql[l] = (uint8_t)((c[0] & 15) | (c[64] & 15) << 4);
                ql[l + 32] = (uint8_t)((c[32] & 15) | (c[96] & 15) << 4);
                qh[l] = (uint8_t)((c[0] >> 4) | (c[32] >> 4) << 2 | (c[64] >> 4) << 4 |
                                  (c[96] >> 4) << 6);
            }
        }
    }
}

/* The 256 codes (0..63) of a Q6_K block, in element order. */
static void codes6(const block_q6_K *b, int *q)
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (ql[l] & 15) | (qh[l] >> 0 & 3) << 4;
            o[l + 32] = (ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4;
            o[l + 64] = (ql[l] >> 4) | (qh[l] >> 4 & 3) << 4;
            o[l + 96] = (ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4;
        }
    }
}

void gptc_q6_K_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q6_K *x = vx;
    int q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = gptc_f16_to_f32(x[i].d);
        codes6(&x[i], q);
        for (int e = 0; e < QK_K; e++)
            *y++ = d * x[i].scales[e / 16] * (q[e] - 32);
    }
}

float gptc_q6_K_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    int q[QK_K];
    float s = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        codes6(&w[i], q);
        int32_t isum = 0;
        for (int g = 0; g < QK_K / 16; g++) {
            int32_t gs = 0;
            for (int e = 16 * g; e < 16 * g + 16; e++)
                gs += (q[e] - 32) * x[i].qs[e];
            isum += w[i].scales[g] * gs;
        }
        s += x[i].d * (gptc_f16_to_f32(w[i].d) * (float)isum);
    }
    return s;
}
