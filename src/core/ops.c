/*
 * ops.c — the scalar reference kernels (the spec every SIMD table is tested against) and the
 * small scalar helpers of the forward pass.
 *
 * Shape letters as in ops.h: T tokens, R output rows, C input columns.
 * The reference matmuls sum each output in column order 0..C-1 in float; SIMD tables sum in a
 * different (fixed) order, so they agree to rounding, not bit for bit.
 */
#include "core/ops.h"

#include <math.h>
#include <string.h>

#include "core/base.h"
#include "core/fp16.h"
#include "quant/pack.h"
#include "quant/qmm.h"
#include "quant/quant.h"

// ---------------------------------------------------------------------------------------------
// Reference table

static float dot_f32_ref(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void axpy_f32_ref(float *y, float s, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += s * x[i];
}

static void matmul_f32_ref(float *Y, int ldy, const float *W, const float *X, int T, int C, int r0,
                           int r1)
{
    for (int t = 0; t < T; t++) {
        const float *x = X + (size_t)t * C; // (C)
        for (int r = r0; r < r1; r++) {
            const float *w = W + (size_t)r * C; // (C)
            float s = 0.0f;
            for (int c = 0; c < C; c++)
                s += w[c] * x[c];
            Y[(size_t)t * ldy + r] = s;
        }
    }
}

static void matmul_f16_ref(float *Y, int ldy, const uint16_t *W, const float *X, int T, int C,
                           int r0, int r1)
{
    for (int t = 0; t < T; t++) {
        const float *x = X + (size_t)t * C;
        for (int r = r0; r < r1; r++) {
            const uint16_t *w = W + (size_t)r * C;
            float s = 0.0f;
            for (int c = 0; c < C; c++)
                s += gptc_f16_to_f32(w[c]) * x[c];
            Y[(size_t)t * ldy + r] = s;
        }
    }
}

static void matmul_bf16_ref(float *Y, int ldy, const uint16_t *W, const float *X, int T, int C,
                            int r0, int r1)
{
    for (int t = 0; t < T; t++) {
        const float *x = X + (size_t)t * C;
        for (int r = r0; r < r1; r++) {
            const uint16_t *w = W + (size_t)r * C;
            float s = 0.0f;
            for (int c = 0; c < C; c++)
                s += gptc_bf16_to_f32(w[c]) * x[c];
            Y[(size_t)t * ldy + r] = s;
        }
    }
}

// Element e of a KV cache row of kind kvt, as f32 (a q8_0 value is its code times the block's
// scale, one rounding, as the SIMD tables compute it).
static float kv_elem(int kvt, const char *row, int e)
{
    if (kvt == GPTC_KV_F32) return ((const float *)row)[e];
    if (kvt == GPTC_KV_F16) return gptc_f16_to_f32(((const uint16_t *)row)[e]);
    const char *b = row + (size_t)(e / 32) * 34;
    uint16_t d;
    memcpy(&d, b, 2);
    return gptc_f16_to_f32(d) * (float)(int8_t)b[2 + e % 32];
}

void gptc_kv_dot_ref(int kvt, float *s, size_t lds, const float *q, int nq, const char *base,
                     size_t stride, int off, const int32_t *idx, int n, int hd)
{
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < n; j++) {
            const char *row = base + (size_t)idx[j] * stride;
            float acc = 0.0f;
            for (int d = 0; d < hd; d++)
                acc += q[(size_t)i * hd + d] * kv_elem(kvt, row, off + d);
            s[(size_t)i * lds + j] = acc;
        }
}

void gptc_kv_acc_ref(int kvt, float *y, const float *p, size_t lds, int nq, const char *base,
                     size_t stride, int off, const int32_t *idx, int n, int hd)
{
    for (int j = 0; j < n; j++) {
        const char *row = base + (size_t)idx[j] * stride;
        for (int i = 0; i < nq; i++) {
            float pj = p[(size_t)i * lds + j];
            for (int d = 0; d < hd; d++)
                y[(size_t)i * hd + d] += pj * kv_elem(kvt, row, off + d);
        }
    }
}

static void swiglu_ref(float *h, const float *g, const float *u, int n)
{
    if (h != g) memcpy(h, g, (size_t)n * sizeof *h);
    gptc_swiglu(h, u, n);
}

static void f16_from_f32_ref(uint16_t *y, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = gptc_f32_to_f16(x[i]);
}

static void att_softmax_ref(float *s, int n, float scale, float sink)
{
    float mx = sink;
    for (int i = 0; i < n; i++) {
        s[i] *= scale;
        if (s[i] > mx) mx = s[i];
    }
    float sum = sink != -INFINITY ? expf(sink - mx) : 0.0f;
    for (int i = 0; i < n; i++) {
        float d = s[i] - mx;
        s[i] = d >= -87.0f ? expf(d) : 0.0f;
        sum += s[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++)
        s[i] *= inv;
}

static const gptc_ops ops_ref = {
    .name = "ref",
    .dot_f32 = dot_f32_ref,
    .axpy_f32 = axpy_f32_ref,
    .matmul_f32 = matmul_f32_ref,
    .matmul_f16 = matmul_f16_ref,
    .matmul_bf16 = matmul_bf16_ref,
    .act_form = gptc_qmm_act_form_ref,
    .act_row_bytes = gptc_qmm_act_bytes_ref,
    .act_quant = gptc_qmm_act_quant_ref,
    .matmul_q = gptc_qmm_matmul_ref,
    .pack = gptc_qmm_pack_none,
    .matmul_qp = gptc_pack_matmul_ref,
    .kv_dot = gptc_kv_dot_ref,
    .kv_acc = gptc_kv_acc_ref,
    .att_softmax = att_softmax_ref,
    .swiglu = swiglu_ref,
    .f16_from_f32 = f16_from_f32_ref,
};

const gptc_ops *gptc_ops_ref(void)
{
    return &ops_ref;
}

// ---------------------------------------------------------------------------------------------
// Scalar helpers (the same arithmetic as llama2.c's run.c, so logits can be compared closely)

void gptc_rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int i = 0; i < n; i++)
        o[i] = w[i] * (ss * x[i]);
}

void gptc_softmax(float *x, int n)
{
    if (n <= 0) return;
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

void gptc_swiglu(float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void gptc_rope(float *x, int n_head, int head_dim, int n_rot, int pos, float base)
{
    // theta_i = pos * base^(-2i/n_rot), written as llama2.c writes it (1 / base^(2i/n_rot)).
    // The angle is shared by every head, so compute it once per pair index.
    for (int i = 0; i < n_rot / 2; i++) {
        float freq = 1.0f / powf(base, (float)(2 * i) / (float)n_rot);
        float theta = (float)pos * freq;
        float fc = cosf(theta), fs = sinf(theta);
        for (int h = 0; h < n_head; h++) {
            float *v = x + (size_t)h * head_dim + 2 * i;
            float x0 = v[0], x1 = v[1];
            v[0] = x0 * fc - x1 * fs;
            v[1] = x0 * fs + x1 * fc;
        }
    }
}

void gptc_row_to_f32(float *out, const void *W, uint32_t type, int C, int r)
{
    const gptc_type_traits *tt = gptc_type_info(type);
    // The loader only admits types with a to_float; anything else is our bug.
    GPTC_ASSERT(tt && tt->to_float);
    tt->to_float((const char *)W + (size_t)r * gptc_row_bytes(type, C), out, C);
}
