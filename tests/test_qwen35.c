/*
 * test_qwen35.c — the Qwen3.5 hybrid architectures (qwen35, qwen35moe) and their kernels:
 *   - the gated delta rule (model/deltanet.h): the chunk-parallel form against the per-token
 *     recurrence, and both against a float64 loop written here, over random heads of several
 *     shapes and lengths that cross chunk boundaries; the causal convolution against a direct sum
 *     and split into calls that carry the window.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/deltanet.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float nrand(void)
{
    double u = urand() + 1e-12, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* The delta rule in float64, one head: S (dv, dk) */
static void ref_step(double *S, int dk, int dv, const float *q, const float *k, const float *v,
                     float g, float beta, double *o)
{
    double e = exp((double)g);
    for (int i = 0; i < dv * dk; i++)
        S[i] *= e;
    for (int r = 0; r < dv; r++) {
        double sk = 0;
        for (int j = 0; j < dk; j++)
            sk += S[r * dk + j] * k[j];
        double u = beta * (v[r] - sk);
        for (int j = 0; j < dk; j++)
            S[r * dk + j] += u * k[j];
    }
    for (int r = 0; r < dv; r++) {
        double s = 0;
        for (int j = 0; j < dk; j++)
            s += S[r * dk + j] * q[j];
        o[r] = s;
    }
}

/* T tokens of one head with random q, k (L2-normalised, q scaled), v, g, beta and a random
 * start state: step, chunk and the float64 loop agree, outputs and final state. */
static void check_deltanet(int dk, int dv, int T, float gscale)
{
    size_t nq = (size_t)T * dk, nv = (size_t)T * dv, ns = (size_t)dk * dv;
    float *q = malloc(nq * sizeof *q), *k = malloc(nq * sizeof *k), *v = malloc(nv * sizeof *v);
    float *g = malloc((size_t)T * sizeof *g), *beta = malloc((size_t)T * sizeof *beta);
    float *S1 = malloc(ns * sizeof *S1), *S2 = malloc(ns * sizeof *S2);
    float *o1 = malloc(nv * sizeof *o1), *o2 = malloc(nv * sizeof *o2);
    double *S3 = malloc(ns * sizeof *S3), *o3 = malloc(nv * sizeof *o3);
    float *scratch = malloc(gptc_deltanet_scratch(dk, dv) * sizeof *scratch);
    for (size_t i = 0; i < nq; i++) {
        q[i] = nrand();
        k[i] = nrand();
    }
    for (int t = 0; t < T; t++) {
        gptc_l2norm(q + (size_t)t * dk, dk, 1e-6f);
        gptc_l2norm(k + (size_t)t * dk, dk, 1e-6f);
        for (int j = 0; j < dk; j++)
            q[(size_t)t * dk + j] /= sqrtf((float)dk);
        g[t] = -gscale * (float)urand();
        beta[t] = (float)urand();
    }
    for (size_t i = 0; i < nv; i++)
        v[i] = nrand();
    for (size_t i = 0; i < ns; i++)
        S1[i] = S2[i] = (float)(S3[i] = 0.3 * nrand());
    for (int t = 0; t < T; t++) {
        gptc_deltanet_step(S1, dk, dv, q + (size_t)t * dk, k + (size_t)t * dk, v + (size_t)t * dv,
                           g[t], beta[t], o1 + (size_t)t * dv);
        ref_step(S3, dk, dv, q + (size_t)t * dk, k + (size_t)t * dk, v + (size_t)t * dv, g[t],
                 beta[t], o3 + (size_t)t * dv);
    }
    gptc_deltanet_chunk(S2, dk, dv, T, q, k, (size_t)dk, v, (size_t)dv, g, beta, 1, o2, (size_t)dv,
                        scratch);
    double d_step = 0, d_chunk = 0, ds_step = 0, ds_chunk = 0, mag = 0;
    for (size_t i = 0; i < nv; i++) {
        d_step = fmax(d_step, fabs(o1[i] - o3[i]));
        d_chunk = fmax(d_chunk, fabs(o2[i] - o3[i]));
        mag = fmax(mag, fabs(o3[i]));
    }
    for (size_t i = 0; i < ns; i++) {
        ds_step = fmax(ds_step, fabs(S1[i] - S3[i]));
        ds_chunk = fmax(ds_chunk, fabs(S2[i] - S3[i]));
    }
    double tol = 2e-5 * fmax(1.0, mag);
    CHECK(d_step < tol && ds_step < tol,
          "deltanet step dk %d dv %d T %d: |o - f64| %.2e, |S - f64| %.2e", dk, dv, T, d_step,
          ds_step);
    CHECK(d_chunk < tol && ds_chunk < tol,
          "deltanet chunk dk %d dv %d T %d g*%.1f: |o - f64| %.2e, |S - f64| %.2e", dk, dv, T,
          (double)gscale, d_chunk, ds_chunk);
    free(q), free(k), free(v), free(g), free(beta), free(S1), free(S2), free(o1), free(o2);
    free(S3), free(o3), free(scratch);
}

/* The convolution against a direct sum, whole and in pieces that carry the window */
static void check_conv(void)
{
    enum { T = 11, C = 7, K = 4 };
    float x[T * C], w[C * K], st0[(K - 1) * C], st[(K - 1) * C], out[T * C], out2[T * C];
    for (int i = 0; i < T * C; i++)
        x[i] = nrand();
    for (int i = 0; i < C * K; i++)
        w[i] = nrand();
    for (int i = 0; i < (K - 1) * C; i++)
        st0[i] = nrand();
    memcpy(st, st0, sizeof st);
    gptc_ssm_conv(out, C, x, C, st, w, T, C, K, 0, C);
    double d = 0, dst = 0;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int j = 0; j < K; j++) {
                int r = t - (K - 1) + j; /* row of x, or of the start window when < 0 */
                s += (double)w[c * K + j] * (r >= 0 ? x[r * C + c] : st0[(r + K - 1) * C + c]);
            }
            d = fmax(d, fabs(s - out[t * C + c]));
        }
    for (int j = 0; j < K - 1; j++)
        for (int c = 0; c < C; c++)
            dst = fmax(dst, fabs(st[j * C + c] - x[(T - (K - 1) + j) * C + c]));
    CHECK(d < 1e-5 && dst == 0, "conv: |out - direct| %.2e, window %.2e", d, dst);
    /* in pieces of 1, 2, 5, 3 tokens, channels split in two calls */
    memcpy(st, st0, sizeof st);
    int pieces[] = {1, 2, 5, 3}, t0 = 0;
    for (int p = 0; p < 4; p++) {
        gptc_ssm_conv(out2 + t0 * C, C, x + t0 * C, C, st, w, pieces[p], C, K, 0, 3);
        gptc_ssm_conv(out2 + t0 * C, C, x + t0 * C, C, st, w, pieces[p], C, K, 3, C);
        t0 += pieces[p];
    }
    CHECK(memcmp(out, out2, sizeof out) == 0, "conv in pieces equals conv whole");
}

int main(void)
{
    check_conv();
    static const int shapes[][3] = {{32, 32, 1},   {32, 32, 5},   {32, 32, 64},  {32, 32, 65},
                                    {16, 24, 130}, {64, 32, 200}, {128, 128, 70}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_deltanet(shapes[i][0], shapes[i][1], shapes[i][2], 1.0f);
    check_deltanet(32, 32, 150, 0.05f); /* slow decay: the state grows over the chunk */
    check_deltanet(32, 32, 100, 30.0f); /* fast decay: e^{b_t} underflows within the chunk */
    return test_summary();
}
