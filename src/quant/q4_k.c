/*
 * q4_k.c — Q4_K: super-blocks of 256 elements in 8 sub-blocks of 32, each with a 6-bit scale
 * and a 6-bit min under the super-block's f16 d and dmin: x = d * sc * q - dmin * m,
 * q in [0, 15]. Also the search for a sub-block's (scale, min) that Q5_K shares.
 *
 * The quantizer is llama.cpp's reference algorithm without an importance matrix: weights
 * |x| + rms(sub-block) favour large elements; each sub-block's affine fit is searched over 21
 * candidate scales and refined by least squares; the 8 scales and mins are then quantized to 6
 * bits against the largest, and the codes recomputed with the rounded scales. Every float
 * operation is in llama.cpp's order (and without fused multiply-adds), so the output is the same
 * bytes as llama-quantize's.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

void gptc_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 15) | (q[j - 4] >> 6) << 4);
        *m = (uint8_t)((q[j + 4] >> 4) | (q[j] >> 6) << 4);
    }
}

/* Fit x[i] ~ scale * L[i] + min (min <= 0) with L in [0, nmax], minimising the weighted squared
 * error: first from the range, then for nstep + 1 candidate scales (nmax + rmin + rdelta * is)
 * / range, each refined by weighted least squares for fixed L. Returns the scale; *the_min
 * receives -min (>= 0). Laux: n scratch codes. */
float gptc_kq_fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                            float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                            int mad)
{
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_err = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = gptc_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        float diff = scale * L[i] + min - x[i];
        best_err += w[i] * (mad ? fabsf(diff) : diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = gptc_nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Laux[i] = (uint8_t)l;
            float wl = w[i] * l;
            sum_l += wl;
            sum_l2 += wl * l;
            sum_xl += wl * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                err += w[i] * (mad ? fabsf(diff) : diff * diff);
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Quantize the 8 sub-block scales and mins to 6 bits against their maxima and pack them;
 * shared by Q4_K and Q5_K. OUT: scales12, *d, *dmin (f16). */
void gptc_kq_pack_scales(const float *scales, const float *mins, uint8_t *scales12, uint16_t *d,
                         uint16_t *dmin)
{
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < QK_K / 32; j++) {
        int ls = gptc_nearest_int(inv_scale * scales[j]), lm = gptc_nearest_int(inv_min * mins[j]);
        if (ls > 63) ls = 63;
        if (lm > 63) lm = 63;
        if (j < 4) {
            scales12[j] = (uint8_t)ls;
            scales12[j + 4] = (uint8_t)lm;
        } else {
            scales12[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            scales12[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales12[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d = gptc_f32_to_f16(max_scale / 63.0f);
    *dmin = gptc_f32_to_f16(max_min / 63.0f);
}

/* The sub-block weights of the fit: rms of the sub-block plus |x|. */
void gptc_kq_weights(const float *x, float *w)
{
    float sum_x2 = 0;
    for (int l = 0; l < 32; l++)
        sum_x2 += x[l] * x[l];
    float av_x = sqrtf(sum_x2 / 32);
    for (int l = 0; l < 32; l++)
        w[l] = av_x + fabsf(x[l]);
}

/* Codes of one super-block for the rounded scales; L receives 256 codes in [0, nmax]. */
void gptc_kq_codes(const float *x, const uint8_t *scales12, uint16_t d16, uint16_t dmin16, int nmax,
                   uint8_t *L)
{
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        gptc_k_scale_min(j, scales12, &sc, &m);
        float d = gptc_f16_to_f32(d16) * sc;
        if (d == 0.0f) continue; /* codes stay as the fit left them, as llama.cpp does */
        float dm = gptc_f16_to_f32(dmin16) * m;
        for (int ii = 0; ii < 32; ii++) {
            int l = gptc_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        }
    }
}

void gptc_q4_K_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q4_K *y = vy;
    uint8_t L[QK_K], Laux[32];
    float w[32], mins[QK_K / 32], scales[QK_K / 32];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        for (int j = 0; j < QK_K / 32; j++) {
            gptc_kq_weights(x + 32 * j, w);
            scales[j] = gptc_kq_fit_scale_min(32, 15, x + 32 * j, w, L + 32 * j, &mins[j], Laux,
                                              -1.0f, 0.1f, 20, 0);
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        gptc_kq_pack_scales(scales, mins, y[i].scales, &y[i].d, &y[i].dmin);
        gptc_kq_codes(x, y[i].scales, y[i].d, y[i].dmin, 15, L);
        for (int j = 0; j < QK_K; j += 64)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
    }
}

void gptc_q4_K_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q4_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = gptc_f16_to_f32(x[i].d), dmin = gptc_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int j = 0; j < QK_K / 32; j += 2, q += 32) {
            uint8_t sc0, m0, sc1, m1;
            gptc_k_scale_min(j, x[i].scales, &sc0, &m0);
            gptc_k_scale_min(j + 1, x[i].scales, &sc1, &m1);
            float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
            for (int l = 0; l < 32; l++)
                *y++ = d0 * (q[l] & 15) - mm0;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (q[l] >> 4) - mm1;
        }
    }
}

/* sum over super-blocks of d_x * (d * sum_j sc_j * (q_j . x_j) - dmin * sum_j m_j * sum(x_j)),
 * the integer parts exact */
float gptc_q4_K_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q4_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int32_t isum = 0, msum = 0;
        const uint8_t *q = w[i].qs;
        const int8_t *a = x[i].qs;
        for (int j = 0; j < QK_K / 32; j += 2, q += 32, a += 64) {
            uint8_t sc0, m0, sc1, m1;
            gptc_k_scale_min(j, w[i].scales, &sc0, &m0);
            gptc_k_scale_min(j + 1, w[i].scales, &sc1, &m1);
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 15) * a[l];
                s1 += (q[l] >> 4) * a[l + 32];
            }
            isum += sc0 * s0 + sc1 * s1;
            msum += m0 * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]) +
                    m1 * (x[i].bsums[2 * j + 2] + x[i].bsums[2 * j + 3]);
        }
        s += x[i].d *
             (gptc_f16_to_f32(w[i].d) * (float)isum - gptc_f16_to_f32(w[i].dmin) * (float)msum);
    }
    return s;
}
