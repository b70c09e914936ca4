/*
 * layers.c — forward/backward pairs of every op (see layers.h). Scalar C on purpose: these are
 * the reference, and apart from the GEMMs they are a small part of a step.
 *
 * Shape letters as in layers.h.
 */
#include "train/layers.h"

#include "train/gemm.h"

#include <math.h>
#include <string.h>

/* ----- RMSNorm -------------------------------------------------------------------------------- */

void gptc_tl_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w, int n, int D,
                         float eps)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * D;
        float *yr = y + (size_t)r * D;
        float ss = 0.0f;
        for (int c = 0; c < D; c++)
            ss += xr[c] * xr[c];
        float s = 1.0f / sqrtf(ss / (float)D + eps);
        for (int c = 0; c < D; c++)
            yr[c] = xr[c] * s * w[c];
        rstd[r] = s;
    }
}

void gptc_tl_rmsnorm_bwd_dx(float *dx, const float *dy, const float *x, const float *w,
                            const float *rstd, int n, int D)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * D, *dyr = dy + (size_t)r * D;
        float *dxr = dx + (size_t)r * D;
        float s = rstd[r], dot = 0.0f; /* sum (dy * w) * x */
        for (int c = 0; c < D; c++)
            dot += dyr[c] * w[c] * xr[c];
        float k = s * s * s * dot / (float)D;
        for (int c = 0; c < D; c++)
            dxr[c] += s * dyr[c] * w[c] - k * xr[c];
    }
}

void gptc_tl_rmsnorm_bwd_dw(float *dw, const float *dy, const float *x, const float *rstd, int N,
                            int D, int c0, int c1)
{
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D, *dyr = dy + (size_t)r * D;
        float s = rstd[r];
        for (int c = c0; c < c1; c++)
            dw[c] += dyr[c] * xr[c] * s;
    }
}

/* ----- LayerNorm ------------------------------------------------------------------------------ */

void gptc_tl_layernorm_fwd(float *y, float *mean, float *rstd, const float *x, const float *w,
                           const float *b, int n, int D, float eps)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * D;
        float *yr = y + (size_t)r * D;
        float m = 0.0f;
        for (int c = 0; c < D; c++)
            m += xr[c];
        m /= (float)D;
        float v = 0.0f;
        for (int c = 0; c < D; c++)
            v += (xr[c] - m) * (xr[c] - m);
        float s = 1.0f / sqrtf(v / (float)D + eps);
        for (int c = 0; c < D; c++)
            yr[c] = (xr[c] - m) * s * w[c] + b[c];
        mean[r] = m;
        rstd[r] = s;
    }
}

void gptc_tl_layernorm_bwd_dx(float *dx, const float *dy, const float *x, const float *w,
                              const float *mean, const float *rstd, int n, int D)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * D, *dyr = dy + (size_t)r * D;
        float *dxr = dx + (size_t)r * D;
        float m = mean[r], s = rstd[r];
        float sum_g = 0.0f, sum_gx = 0.0f; /* g = dy * w; sums of g and g * xhat */
        for (int c = 0; c < D; c++) {
            float g = dyr[c] * w[c];
            sum_g += g;
            sum_gx += g * (xr[c] - m) * s;
        }
        sum_g /= (float)D;
        sum_gx /= (float)D;
        for (int c = 0; c < D; c++) {
            float xhat = (xr[c] - m) * s;
            dxr[c] += s * (dyr[c] * w[c] - sum_g - xhat * sum_gx);
        }
    }
}

void gptc_tl_layernorm_bwd_dwb(float *dw, float *db, const float *dy, const float *x,
                               const float *mean, const float *rstd, int N, int D, int c0, int c1)
{
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D, *dyr = dy + (size_t)r * D;
        float m = mean[r], s = rstd[r];
        for (int c = c0; c < c1; c++) {
            dw[c] += dyr[c] * (xr[c] - m) * s;
            db[c] += dyr[c];
        }
    }
}

/* ----- bias ----------------------------------------------------------------------------------- */

void gptc_tl_bias_fwd(float *y, int ldy, const float *b, int n, int C)
{
    for (int r = 0; r < n; r++)
        for (int c = 0; c < C; c++)
            y[(size_t)r * ldy + c] += b[c];
}

void gptc_tl_bias_bwd(float *db, const float *dy, int ldy, int N, int c0, int c1)
{
    for (int r = 0; r < N; r++)
        for (int c = c0; c < c1; c++)
            db[c] += dy[(size_t)r * ldy + c];
}

/* ----- GELU (tanh) ---------------------------------------------------------------------------- */

#define GELU_S 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f

void gptc_tl_gelu_fwd(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(GELU_S * (v + GELU_A * v * v * v)));
    }
}

void gptc_tl_gelu_bwd(float *dx, const float *x, const float *dy, int n)
{
    for (int i = 0; i < n; i++) {
        float v = x[i];
        float th = tanhf(GELU_S * (v + GELU_A * v * v * v));
        float d = 0.5f * (1.0f + th) +
                  0.5f * v * (1.0f - th * th) * GELU_S * (1.0f + 3.0f * GELU_A * v * v);
        dx[i] = dy[i] * d;
    }
}

/* ----- SwiGLU --------------------------------------------------------------------------------- */

void gptc_tl_swiglu_fwd(float *h, const float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++)
        h[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void gptc_tl_swiglu_bwd(float *dg, float *du, const float *dh, const float *g, const float *u,
                        int n)
{
    for (int i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        float silu = g[i] * s;
        dg[i] = dh[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] = dh[i] * silu;
    }
}

/* ----- RoPE ----------------------------------------------------------------------------------- */

void gptc_tl_rope_table(float *cs, int pos, const float *inv_freq, int n_rot)
{
    for (int i = 0; i < n_rot / 2; i++) {
        float theta = (float)pos * inv_freq[i];
        cs[2 * i] = cosf(theta);
        cs[2 * i + 1] = sinf(theta);
    }
}

void gptc_tl_rope(float *x, const float *cs, int n_head, int hd, int n_rot, int inverse)
{
    for (int h = 0; h < n_head; h++) {
        float *xh = x + (size_t)h * hd;
        for (int d = 0; d < n_rot; d += 2) {
            float c = cs[d], s = inverse ? -cs[d + 1] : cs[d + 1];
            float x0 = xh[d], x1 = xh[d + 1];
            xh[d] = x0 * c - x1 * s;
            xh[d + 1] = x0 * s + x1 * c;
        }
    }
}

/* ----- attention ------------------------------------------------------------------------------ */

void gptc_tl_attention_fwd(const gptc_ops *ops, float *out, int ldo, float *p, const float *q,
                           int ldq, const float *k, const float *v, int ldk, int T, int hd,
                           float scale)
{
    for (int t = 0; t < T; t++) {
        const float *qt = q + (size_t)t * ldq;
        float *pt = p + (size_t)t * T; /* (T) */
        float mx = -INFINITY;
        for (int s = 0; s <= t; s++) {
            float a = ops->dot_f32(qt, k + (size_t)s * ldk, hd) * scale;
            pt[s] = a;
            if (a > mx) mx = a;
        }
        float sum = 0.0f;
        for (int s = 0; s <= t; s++) {
            float e = expf(pt[s] - mx);
            pt[s] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int s = 0; s <= t; s++)
            pt[s] *= inv;
        for (int s = t + 1; s < T; s++)
            pt[s] = 0.0f;
        float *ot = out + (size_t)t * ldo;
        memset(ot, 0, (size_t)hd * sizeof *ot);
        for (int s = 0; s <= t; s++)
            ops->axpy_f32(ot, pt[s], v + (size_t)s * ldk, hd);
    }
}

void gptc_tl_attention_bwd(const gptc_ops *ops, float *dq, float *dk, float *dv, float *dp,
                           const float *dout, int ldo, const float *p, const float *q, int ldq,
                           const float *k, const float *v, int ldk, int T, int hd, float scale)
{
    for (int t = 0; t < T; t++) {
        const float *pt = p + (size_t)t * T, *dot = dout + (size_t)t * ldo;
        const float *qt = q + (size_t)t * ldq;
        float *dqt = dq + (size_t)t * ldq;
        /* dp[s] = dout_t . v_s; dv_s += p[t, s] dout_t */
        float sum = 0.0f; /* sum_s p dp */
        for (int s = 0; s <= t; s++) {
            dp[s] = ops->dot_f32(dot, v + (size_t)s * ldk, hd);
            sum += pt[s] * dp[s];
            ops->axpy_f32(dv + (size_t)s * ldk, pt[s], dot, hd);
        }
        /* softmax backward: ds = p (dp - sum); scores = q.k * scale */
        memset(dqt, 0, (size_t)hd * sizeof *dqt);
        for (int s = 0; s <= t; s++) {
            float ds = pt[s] * (dp[s] - sum) * scale;
            ops->axpy_f32(dqt, ds, k + (size_t)s * ldk, hd);
            ops->axpy_f32(dk + (size_t)s * ldk, ds, qt, hd);
        }
    }
}

void gptc_tl_attention_fwd_mm(struct gptc_gemm *g, int ith,
                              float (*expsum)(float *x, int n, float mx), float *out, int ldo,
                              float *p, const float *q, int ldq, const float *k, const float *v,
                              int ldk, int T, int hd, float scale)
{
    gptc_gemm_local(g, ith, 0, 1, T, T, hd, q, ldq, k, ldk, 0, p, T); /* S = q k^T */
    for (int t = 0; t < T; t++) {
        float *pt = p + (size_t)t * T, mx = -INFINITY, sum = 0.0f;
        for (int s = 0; s <= t; s++) {
            pt[s] *= scale;
            if (pt[s] > mx) mx = pt[s];
        }
        if (expsum) {
            sum = expsum(pt, t + 1, mx);
        } else {
            for (int s = 0; s <= t; s++) {
                pt[s] = expf(pt[s] - mx);
                sum += pt[s];
            }
        }
        float inv = 1.0f / sum;
        for (int s = 0; s <= t; s++)
            pt[s] *= inv;
        for (int s = t + 1; s < T; s++)
            pt[s] = 0.0f;
    }
    gptc_gemm_local(g, ith, 0, 0, T, hd, T, p, T, v, ldk, 0, out, ldo); /* out = P v */
}

void gptc_tl_attention_bwd_mm(struct gptc_gemm *g, int ith, float *dq, float *dk, float *dv,
                              float *scratch, const float *dout, int ldo, const float *p,
                              const float *q, int ldq, const float *k, const float *v, int ldk,
                              int T, int hd, float scale)
{
    float *ds = scratch; /* (T, T): dP, then dS in place */
    gptc_gemm_local(g, ith, 0, 1, T, T, hd, dout, ldo, v, ldk, 0, ds, T); /* dP = dout v^T */
    gptc_gemm_local(g, ith, 1, 0, T, hd, T, p, T, dout, ldo, 1, dv, ldk); /* dv += P^T dout */
    for (int t = 0; t < T; t++) {
        const float *pt = p + (size_t)t * T;
        float *dt = ds + (size_t)t * T, sum = 0.0f;
        for (int s = 0; s <= t; s++)
            sum += pt[s] * dt[s];
        for (int s = 0; s <= t; s++)
            dt[s] = pt[s] * (dt[s] - sum) * scale;
        for (int s = t + 1; s < T; s++)
            dt[s] = 0.0f;
    }
    gptc_gemm_local(g, ith, 0, 0, T, hd, T, ds, T, k, ldk, 0, dq, ldq); /* dq = dS k */
    gptc_gemm_local(g, ith, 1, 0, T, hd, T, ds, T, q, ldq, 1, dk, ldk); /* dk += dS^T q */
}

/* ----- softmax + cross-entropy ---------------------------------------------------------------- */

void gptc_tl_softmax_xent_fwd(float *logits, float *loss, const int32_t *target, int n, int V,
                              float (*expsum)(float *x, int n, float mx))
{
    for (int r = 0; r < n; r++) {
        float *x = logits + (size_t)r * V;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++)
            if (x[i] > mx) mx = x[i];
        int tg = target ? target[r] : -1;
        float x_tg = tg >= 0 ? x[tg] : 0.0f;
        float sum = 0.0f;
        if (expsum) {
            sum = expsum(x, V, mx);
        } else {
            for (int i = 0; i < V; i++) {
                x[i] = expf(x[i] - mx);
                sum += x[i];
            }
        }
        float inv = 1.0f / sum;
        /* -log p[target] = log(sum) - (x[target] - mx) */
        loss[r] = tg >= 0 ? logf(sum) - (x_tg - mx) : 0.0f;
        for (int i = 0; i < V; i++)
            x[i] *= inv;
    }
}

void gptc_tl_softmax_xent_bwd(float *probs, const int32_t *target, int n, int V, float scale)
{
    for (int r = 0; r < n; r++) {
        float *x = probs + (size_t)r * V;
        int tg = target ? target[r] : -1;
        if (tg < 0) {
            memset(x, 0, (size_t)V * sizeof *x);
            continue;
        }
        for (int i = 0; i < V; i++)
            x[i] *= scale;
        x[tg] -= scale;
    }
}

/* ----- embeddings ----------------------------------------------------------------------------- */

void gptc_tl_embed_fwd(float *x, const float *wte, const float *wpe, const int32_t *tok, int r0,
                       int r1, int T, int D)
{
    for (int r = r0; r < r1; r++) {
        float *xr = x + (size_t)r * D;
        memcpy(xr, wte + (size_t)tok[r] * D, (size_t)D * sizeof *xr);
        if (wpe) {
            const float *pr = wpe + (size_t)(r % T) * D;
            for (int c = 0; c < D; c++)
                xr[c] += pr[c];
        }
    }
}

void gptc_tl_embed_bwd(float *dwte, float *dwpe, const float *dx, const int32_t *tok, int N, int T,
                       int D, int c0, int c1)
{
    for (int r = 0; r < N; r++) {
        const float *g = dx + (size_t)r * D;
        float *e = dwte + (size_t)tok[r] * D;
        for (int c = c0; c < c1; c++)
            e[c] += g[c];
        if (dwpe) {
            float *pe = dwpe + (size_t)(r % T) * D;
            for (int c = c0; c < c1; c++)
                pe[c] += g[c];
        }
    }
}
