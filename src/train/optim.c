/*
 * optim.c — AdamW with decoupled weight decay, the warmup + cosine learning rate, and global
 * gradient-norm clipping, over the parameter slab of train.h.
 *
 * AdamW as PyTorch's torch.optim.AdamW (decoupled weight decay, Loshchilov & Hutter):
 *   p -= lr * wd * p
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Weight decay applies to matmul weights only (and to embeddings when asked), never to norm
 * gains or biases.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

void gptc_adamw_ref(float *p, float *g, float *m1, float *m2, size_t n, float lr, float beta1,
                    float beta2, float eps, float wd, int t, float gscale)
{
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    float step = lr / bc1, bc2_sqrt = sqrtf(bc2), decay = 1.0f - lr * wd;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * gscale;
        float m = beta1 * m1[i] + (1.0f - beta1) * gi;
        float v = beta2 * m2[i] + (1.0f - beta2) * gi * gi;
        m1[i] = m;
        m2[i] = v;
        p[i] = p[i] * decay - step * m / (sqrtf(v) / bc2_sqrt + eps);
        g[i] = 0.0f;
    }
}

float gptc_lr_cosine(int step, float max_lr, float min_lr, int warmup, int total)
{
    if (step < warmup) return max_lr * (float)(step + 1) / (float)(warmup + 1);
    if (step >= total || total <= warmup) return min_lr;
    double ratio = (double)(step - warmup) / (double)(total - warmup);
    double coeff = 0.5 * (1.0 + cos(3.14159265358979323846 * ratio));
    return (float)(min_lr + coeff * (max_lr - min_lr));
}

/* ----- parallel passes over the slab ---------------------------------------------------------- */

#define CHUNK GPTC_OPT_CHUNK

typedef struct opt_job {
    gptc_tmodel *m;
    const gptc_adamw *opt;
    float *m1, *m2; /* moment of parameter i at [i - mo_off] */
    size_t mo_off;
    int t;
    float lr, gscale;
    size_t c0, c1;   /* the chunks to visit */
    double *partial; /* (c1 - c0) */
    int what;        /* 0 norm, 1 adamw */
} opt_job;

static void opt_fn(void *arg, int ith, int nth)
{
    opt_job *j = arg;
    gptc_tmodel *m = j->m;
    size_t n = gptc_tmodel_n_params(m);
    int r0, r1;
    gptc_split((int)(j->c1 - j->c0), ith, nth, &r0, &r1);
    size_t c0 = j->c0 + (size_t)r0, c1 = j->c0 + (size_t)r1;
    size_t i0 = GPTC_MIN(n, c0 * CHUNK), i1 = GPTC_MIN(n, c1 * CHUNK);
    float *p = gptc_tmodel_params(m), *g = gptc_tmodel_grads(m);
    const gptc_gemm_kernel *kr = gptc_tmodel_kernel(m);
    if (j->what == 0) {
        for (size_t c = c0; c < c1; c++) {
            size_t a = c * CHUNK, b = GPTC_MIN(n, a + CHUNK);
            double s = 0;
            if (kr->sumsq)
                s = kr->sumsq(g + a, b - a);
            else
                for (size_t i = a; i < b; i++)
                    s += (double)g[i] * g[i];
            j->partial[c - j->c0] = s;
        }
        return;
    }
    /* each tensor overlapping [i0, i1) with its own weight decay */
    for (int k = 0; k < gptc_tmodel_n_tensors(m); k++) {
        const gptc_tparam *tp = gptc_tmodel_tensor(m, k);
        size_t a = GPTC_MAX(i0, tp->off), b = GPTC_MIN(i1, tp->off + tp->n);
        if (a >= b) continue;
        int decay =
            tp->kind == GPTC_TP_MATRIX || (tp->kind == GPTC_TP_EMBED && j->opt->decay_embeddings);
        (kr->adamw ? kr->adamw
                   : gptc_adamw_ref)(p + a, g + a, j->m1 + (a - j->mo_off), j->m2 + (a - j->mo_off),
                                     b - a, j->lr, j->opt->beta1, j->opt->beta2, j->opt->eps,
                                     decay ? j->opt->weight_decay : 0.0f, j->t, j->gscale);
    }
}

size_t gptc_tmodel_n_chunks(const gptc_tmodel *m)
{
    return (gptc_tmodel_n_params(m) + CHUNK - 1) / CHUNK;
}

void gptc_tmodel_sumsq_chunks(gptc_tmodel *m, size_t c0, size_t c1, double *partial)
{
    if (c1 <= c0) return;
    opt_job j = {.m = m, .c0 = c0, .c1 = c1, .partial = partial, .what = 0};
    gptc_pool_run(gptc_tmodel_pool(m), opt_fn, &j);
}

float gptc_clip_scale(double norm, float clip)
{
    return clip > 0 && norm > clip ? (float)(clip / (norm + 1e-6)) : 1.0f;
}

void gptc_tmodel_adamw_chunks(gptc_tmodel *m, const gptc_adamw *opt, float *m1, float *m2,
                              size_t mo_off, int t, float lr, float gscale, size_t c0, size_t c1)
{
    if (c1 <= c0) return;
    opt_job j = {.m = m,
                 .opt = opt,
                 .m1 = m1,
                 .m2 = m2,
                 .mo_off = mo_off,
                 .t = t,
                 .lr = lr,
                 .gscale = gscale,
                 .c0 = c0,
                 .c1 = c1,
                 .what = 1};
    gptc_pool_run(gptc_tmodel_pool(m), opt_fn, &j);
}

double gptc_tmodel_grad_norm(gptc_tmodel *m)
{
    size_t n = gptc_tmodel_n_params(m), n_chunks = gptc_tmodel_n_chunks(m);
    double *partial = calloc(n_chunks ? n_chunks : 1, sizeof *partial);
    if (!partial) { /* no memory for partial sums: one serial pass */
        const float *g = gptc_tmodel_grads(m);
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += (double)g[i] * g[i];
        return sqrt(s);
    }
    gptc_tmodel_sumsq_chunks(m, 0, n_chunks, partial);
    double s = 0;
    for (size_t c = 0; c < n_chunks; c++)
        s += partial[c];
    free(partial);
    return sqrt(s);
}

double gptc_tmodel_adamw(gptc_tmodel *m, const gptc_adamw *opt, float *m1, float *m2, int t,
                         float lr, float clip)
{
    double norm = gptc_tmodel_grad_norm(m);
    gptc_tmodel_adamw_chunks(m, opt, m1, m2, 0, t, lr, gptc_clip_scale(norm, clip), 0,
                             gptc_tmodel_n_chunks(m));
    return norm;
}
