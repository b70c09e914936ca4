/*
 * deltanet.c — the gated delta net's kernels (deltanet.h): the causal depthwise convolution,
 * the per-token recurrence and its chunk-parallel form.
 */
#include "model/deltanet.h"

#include <math.h>
#include <string.h>

#include "core/base.h"
#include "core/ops.h"

void gptc_ssm_conv(float *out, size_t ldo, const float *x, size_t ldx, float *state, const float *w,
                   int T, int C, int K, int c0, int c1)
{
    float win[16]; /* K <= 16 (checked at load) */
    for (int c = c0; c < c1; c++) {
        const float *wc = w + (size_t)c * K;
        for (int j = 0; j < K - 1; j++)
            win[j] = state[(size_t)j * C + c];
        for (int t = 0; t < T; t++) {
            float xt = x[(size_t)t * ldx + c], acc = 0.0f;
            for (int j = 0; j < K - 1; j++)
                acc += wc[j] * win[j];
            acc += wc[K - 1] * xt;
            out[(size_t)t * ldo + c] = acc;
            for (int j = 0; j + 1 < K - 1; j++)
                win[j] = win[j + 1];
            if (K > 1) win[K - 2] = xt;
        }
        for (int j = 0; j < K - 1; j++)
            state[(size_t)j * C + c] = win[j];
    }
}

/* The dot products and updates go through the ops table (SIMD where the CPU has it): each
 * kernel fetches it once as `ops`. */
#define dot(a, b, n) ops->dot_f32(a, b, n)
#define axpy(y, a, x, n) ops->axpy_f32(y, a, x, n)

static void scale(float *y, float a, int n)
{
    for (int i = 0; i < n; i++)
        y[i] *= a;
}

void gptc_l2norm(float *x, int n, float eps)
{
    const gptc_ops *ops = gptc_ops_get();
    float s = sqrtf(dot(x, x, n));
    float inv = 1.0f / (s > eps ? s : eps);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void gptc_deltanet_step(float *S, int dk, int dv, const float *q, const float *k, const float *v,
                        float g, float beta, float *o)
{
    const gptc_ops *ops = gptc_ops_get();
    float decay = expf(g);
    /* row r of S only meets v[r] and o[r]: decay, read, write and output in one pass per row */
    for (int r = 0; r < dv; r++) {
        float *s = S + (size_t)r * dk;
        scale(s, decay, dk);
        float u = beta * (v[r] - dot(s, k, dk));
        axpy(s, u, k, dk);
        o[r] = dot(s, q, dk);
    }
}

size_t gptc_deltanet_scratch(int dk, int dv)
{
    int n = GPTC_DN_CHUNK;
    (void)dk;
    /* b (n), KK and KQ (n, n), U (n, dv) */
    return (size_t)n + 2 * (size_t)n * n + (size_t)n * dv;
}

/* One chunk of n <= GPTC_DN_CHUNK tokens (see deltanet.h for the algebra). */
static void chunk(float *S, int dk, int dv, int n, const float *q, const float *k, size_t ld_qk,
                  const float *v, size_t ld_v, const float *g, const float *beta, size_t ld_gb,
                  float *o, size_t ld_o, float *scratch)
{
    const gptc_ops *ops = gptc_ops_get();
    float *b = scratch, *KK = b + GPTC_DN_CHUNK, *KQ = KK + GPTC_DN_CHUNK * GPTC_DN_CHUNK,
          *U = KQ + GPTC_DN_CHUNK * GPTC_DN_CHUNK;
#define KR(t) (k + (size_t)(t)*ld_qk)
#define QR(t) (q + (size_t)(t)*ld_qk)
#define UR(t) (U + (size_t)(t)*dv)
    float acc = 0.0f;
    for (int t = 0; t < n; t++) {
        acc += g[(size_t)t * ld_gb];
        b[t] = acc;
    }
    /* KK[t][i] = e^{b_t - b_i} (k_i . k_t), i < t; KQ[t][i] = e^{b_t - b_i} (k_i . q_t), i <= t */
    for (int t = 0; t < n; t++)
        for (int i = 0; i <= t; i++) {
            float e = expf(b[t] - b[i]);
            if (i < t) KK[t * GPTC_DN_CHUNK + i] = e * dot(KR(i), KR(t), dk);
            KQ[t * GPTC_DN_CHUNK + i] = e * dot(KR(i), QR(t), dk);
        }
    /* U[t] = beta_t (v_t - e^{b_t} S0 k_t - sum_{i<t} KK[t][i] U[i]); o_t = e^{b_t} S0 q_t */
    for (int t = 0; t < n; t++) {
        float eb = expf(b[t]), bt = beta[(size_t)t * ld_gb];
        const float *vt = v + (size_t)t * ld_v;
        float *ot = o + (size_t)t * ld_o, *ut = UR(t);
        for (int r = 0; r < dv; r++) {
            const float *s = S + (size_t)r * dk;
            ut[r] = vt[r] - eb * dot(s, KR(t), dk);
            ot[r] = eb * dot(s, QR(t), dk);
        }
        for (int i = 0; i < t; i++)
            axpy(ut, -KK[t * GPTC_DN_CHUNK + i], UR(i), dv);
        scale(ut, bt, dv);
        for (int i = 0; i <= t; i++)
            axpy(ot, KQ[t * GPTC_DN_CHUNK + i], UR(i), dv);
    }
    /* S = e^{b_n} S0 + sum_i e^{b_n - b_i} U[i] k_i^T, row by row */
    float eB = expf(b[n - 1]);
    float *wi = KK; /* KK is no longer needed: the weights e^{b_n - b_i} */
    for (int i = 0; i < n; i++)
        wi[i] = expf(b[n - 1] - b[i]);
    for (int r = 0; r < dv; r++) {
        float *s = S + (size_t)r * dk;
        scale(s, eB, dk);
        for (int i = 0; i < n; i++)
            axpy(s, wi[i] * UR(i)[r], KR(i), dk);
    }
#undef KR
#undef QR
#undef UR
}

void gptc_deltanet_chunk(float *S, int dk, int dv, int T, const float *q, const float *k,
                         size_t ld_qk, const float *v, size_t ld_v, const float *g,
                         const float *beta, size_t ld_gb, float *o, size_t ld_o, float *scratch)
{
    for (int t0 = 0; t0 < T; t0 += GPTC_DN_CHUNK) {
        int n = GPTC_MIN(GPTC_DN_CHUNK, T - t0);
        chunk(S, dk, dv, n, q + (size_t)t0 * ld_qk, k + (size_t)t0 * ld_qk, ld_qk,
              v + (size_t)t0 * ld_v, ld_v, g + (size_t)t0 * ld_gb, beta + (size_t)t0 * ld_gb, ld_gb,
              o + (size_t)t0 * ld_o, ld_o, scratch);
    }
}
