/*
 * q5_k.c — Q5_K: Q4_K with a fifth bit per code (q in [0, 31]); the bits of sub-block j are bit
 * j of qh[0..31]. Quantized as Q4_K with 31 levels and a narrower scale search.
 */
#include <string.h>

#include "quant/blocks.h"
#include "core/fp16.h"
#include "quant/quant.h"

void gptc_q5_K_quantize_ref(const float *x, void *vy, int64_t n)
{
    block_q5_K *y = vy;
    uint8_t L[QK_K], Laux[32];
    float w[32], mins[QK_K / 32], scales[QK_K / 32];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        for (int j = 0; j < QK_K / 32; j++) {
            gptc_kq_weights(x + 32 * j, w);
            scales[j] = gptc_kq_fit_scale_min(32, 31, x + 32 * j, w, L + 32 * j, &mins[j], Laux,
                                              -0.5f, 0.1f, 15, 0);
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        gptc_kq_pack_scales(scales, mins, y[i].scales, &y[i].d, &y[i].dmin);
        gptc_kq_codes(x, y[i].scales, y[i].d, y[i].dmin, 31, L);
        memset(y[i].qh, 0, sizeof y[i].qh);
        uint8_t m1 = 1, m2 = 2;
        for (int j = 0; j < QK_K; j += 64, m1 <<= 2, m2 <<= 2) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    y[i].qh[l] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    y[i].qh[l] |= m2;
                }
                y[i].qs[j / 2 + l] = (uint8_t)(l1 | l2 << 4);
            }
        }
    }
}

void gptc_q5_K_dequantize(const void *vx, float *y, int64_t n)
{
    const block_q5_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = gptc_f16_to_f32(x[i].d), dmin = gptc_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs, *qh = x[i].qh;
        for (int j = 0; j < QK_K / 32; j += 2, q += 32) {
            uint8_t sc0, m0, sc1, m1;
            gptc_k_scale_min(j, x[i].scales, &sc0, &m0);
            gptc_k_scale_min(j + 1, x[i].scales, &sc1, &m1);
            float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
            for (int l = 0; l < 32; l++)
                *y++ = d0 * ((q[l] & 15) + (qh[l] >> j & 1) * 16) - mm0;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * ((q[l] >> 4) + (qh[l] >> (j + 1) & 1) * 16) - mm1;
        }
    }
}

float gptc_q5_K_vec_dot_ref(int n, const void *vw, const void *vx)
{
    const block_q5_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        int32_t isum = 0, msum = 0;
        const uint8_t *q = w[i].qs, *qh = w[i].qh;
        const int8_t *a = x[i].qs;
        for (int j = 0; j < QK_K / 32; j += 2, q += 32, a += 64) {
            uint8_t sc0, m0, sc1, m1;
            gptc_k_scale_min(j, w[i].scales, &sc0, &m0);
            gptc_k_scale_min(j + 1, w[i].scales, &sc1, &m1);
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += ((q[l] & 15) + (qh[l] >> j & 1) * 16) * a[l];
                s1 += ((q[l] >> 4) + (qh[l] >> (j + 1) & 1) * 16) * a[l + 32];
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
