/*
 * q3_k.c — Q3_K: super-blocks of 256 elements in 16 groups of 16, each with a signed 6-bit scale
 * under the super-block's f16 d: x = d * (sc - 32) * (q - 4), q in [0, 7] (2 low bits in qs, the
 * high bit in hmask; see blocks.h).
 *
 * The quantizer is llama.cpp's reference without an importance matrix: each group is fitted
 * symmetrically (the value of largest magnitude to -4, then up to 5 passes that move single
 * codes while the weighted (x^2) least-squares error drops), the 16 scales are quantized to 6
 * bits against the largest, and the codes recomputed with the rounded scales. Float operations
 * in llama.cpp's order, so the bytes are llama-quantize's.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

#define GROUP_MAX_EPS 1e-15f

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Codes in [-nmax, nmax - 1] for n values, L receiving code + nmax; returns the scale. */
static float fit_q3(int n, int nmax, const float *x, int8_t *L)
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
        int l = clampi(gptc_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = clampi(gptc_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* The 6-bit scale g (0..63, 32 meaning 0) of a Q3_K scales[12] array. */
static inline int scale6(const uint8_t *s, int g)
{
    int lo = g < 8 ? s[g] & 15 : s[g - 8] >> 4;
    return lo | (s[8 + g % 4] >> (2 * (g / 4)) & 3) << 4;
}

void gptc_q3_K_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q3_K *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = fit_q3(16, 4, x + 16 * j, L + 16 * j);
            float a = fabsf(scales[j]);
            if (a > amax) {
                amax = a;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale != 0.0f) {
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int l = clampi((int8_t)gptc_nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 15);
                else
                    y[i].scales[j - 8] |= (uint8_t)((l & 15) << 4);
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = gptc_f32_to_f16(1.0f / iscale);
        } else {
            y[i].d = gptc_f32_to_f16(0.0f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            float d = gptc_f16_to_f32(y[i].d) * (scale6(y[i].scales, j) - 32);
            if (d == 0.0f) continue; /* codes stay as the fit left them, as llama.cpp does */
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(clampi(gptc_nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
        }
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int j = 0; j < QK_K; j++) {
            if (L[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                L[j] = (int8_t)(L[j] - 4);
            }
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 |
                                               L[j + l + 96] << 6);
    }
}

/* The signed code (-4..3) of element e. */
static inline int code3(const block_q3_K *b, int e)
{
    int lo = b->qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32)) & 3;
    return lo + (b->hmask[e % 32] >> (e / 32) & 1) * 4 - 4;
}

void gptc_q3_K_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q3_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = gptc_f16_to_f32(x[i].d);
        for (int g = 0; g < QK_K / 16; g++) {
            float dl = d * (scale6(x[i].scales, g) - 32);
            for (int e = 16 * g; e < 16 * g + 16; e++)
                *y++ = dl * code3(&x[i], e);
        }
    }
}

float gptc_q3_K_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q3_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int32_t isum = 0;
        for (int g = 0; g < QK_K / 16; g++) {
            int32_t gs = 0;
            for (int e = 16 * g; e < 16 * g + 16; e++)
                gs += code3(&w[i], e) * x[i].qs[e];
            isum += (scale6(w[i].scales, g) - 32) * gs;
        }
        s += x[i].d * (gptc_f16_to_f32(w[i].d) * (float)isum);
    }
    return s;
}
