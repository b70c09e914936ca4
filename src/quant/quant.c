/* quant.c — the traits table of every ggml tensor type, and the float formats' conversions. */
#include "quant/quant.h"

#include <string.h>

#include "core/fp16.h"

static void f32_to_float(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof *y);
}
static void f32_from_float(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof *x);
}

static void f16_to_float(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = gptc_f16_to_f32(x[i]);
}

static void f16_from_float(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = gptc_f32_to_f16(x[i]);
}

static void bf16_to_float(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = gptc_bf16_to_f32(x[i]);
}

static void bf16_from_float(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = gptc_f32_to_bf16(x[i]);
}

#define Q(name, blck, size, fmt, vdt)                                                              \
    {                                                                                              \
        name, blck, size, gptc_##fmt##_dequantize, gptc_##fmt##_quantize_ref,                      \
            gptc_##fmt##_vec_dot_ref, vdt                                                          \
    }

static const gptc_type_traits k_traits[GPTC_TYPE_COUNT] = {
    [GPTC_TYPE_F32] = {"f32", 1, 4, f32_to_float, f32_from_float, NULL, 0},
    [GPTC_TYPE_F16] = {"f16", 1, 2, f16_to_float, f16_from_float, NULL, 0},
    [GPTC_TYPE_Q4_0] = Q("q4_0", 32, 2 + 16, q4_0, GPTC_TYPE_Q8_0),
    [GPTC_TYPE_Q4_1] = Q("q4_1", 32, 2 + 2 + 16, q4_1, GPTC_TYPE_Q8_1),
    [GPTC_TYPE_Q5_0] = Q("q5_0", 32, 2 + 4 + 16, q5_0, GPTC_TYPE_Q8_0),
    [GPTC_TYPE_Q5_1] = Q("q5_1", 32, 2 + 2 + 4 + 16, q5_1, GPTC_TYPE_Q8_1),
    [GPTC_TYPE_Q8_0] = Q("q8_0", 32, 2 + 32, q8_0, GPTC_TYPE_Q8_0),
    [GPTC_TYPE_Q8_1] = {"q8_1", 32, 4 + 32, gptc_q8_1_dequantize, gptc_q8_1_quantize_ref, NULL, 0},
    [GPTC_TYPE_Q2_K] = Q("q2_K", 256, 256 / 16 + 256 / 4 + 2 + 2, q2_K, GPTC_TYPE_Q8_K),
    [GPTC_TYPE_Q3_K] = Q("q3_K", 256, 256 / 8 + 256 / 4 + 12 + 2, q3_K, GPTC_TYPE_Q8_K),
    [GPTC_TYPE_Q4_K] = Q("q4_K", 256, 2 + 2 + 12 + 256 / 2, q4_K, GPTC_TYPE_Q8_K),
    [GPTC_TYPE_Q5_K] = Q("q5_K", 256, 2 + 2 + 12 + 256 / 8 + 256 / 2, q5_K, GPTC_TYPE_Q8_K),
    [GPTC_TYPE_Q6_K] = Q("q6_K", 256, 256 / 2 + 256 / 4 + 256 / 16 + 2, q6_K, GPTC_TYPE_Q8_K),
    [GPTC_TYPE_Q8_K] = {"q8_K", 256, 4 + 256 + 256 / 16 * 2, gptc_q8_K_dequantize,
                        gptc_q8_K_quantize_ref, NULL, 0},
    [GPTC_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 2 + 256 / 8 * 2, NULL, NULL, NULL, 0},
    [GPTC_TYPE_IQ2_XS] = {"iq2_xs", 256, 2 + 256 / 8 * 2 + 256 / 32, NULL, NULL, NULL, 0},
    [GPTC_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 2 + 256 / 4 + 256 / 8, NULL, NULL, NULL, 0},
    [GPTC_TYPE_IQ1_S] = {"iq1_s", 256, 2 + 256 / 8 + 256 / 16, NULL, NULL, NULL, 0},
    [GPTC_TYPE_IQ4_NL] = Q("iq4_nl", 32, 2 + 16, iq4_nl, GPTC_TYPE_Q8_0),
    [GPTC_TYPE_IQ3_S] = {"iq3_s", 256, 2 + 256 / 4 + 256 / 8 + 256 / 32 + 4, NULL, NULL, NULL, 0},
    [GPTC_TYPE_IQ2_S] = {"iq2_s", 256, 2 + 256 / 4 + 256 / 16, NULL, NULL, NULL, 0},
    [GPTC_TYPE_IQ4_XS] = Q("iq4_xs", 256, 2 + 2 + 256 / 2 + 256 / 64, iq4_xs, GPTC_TYPE_Q8_K),
    [GPTC_TYPE_I8] = {"i8", 1, 1, NULL, NULL, NULL, 0},
    [GPTC_TYPE_I16] = {"i16", 1, 2, NULL, NULL, NULL, 0},
    [GPTC_TYPE_I32] = {"i32", 1, 4, NULL, NULL, NULL, 0},
    [GPTC_TYPE_I64] = {"i64", 1, 8, NULL, NULL, NULL, 0},
    [GPTC_TYPE_F64] = {"f64", 1, 8, NULL, NULL, NULL, 0},
    [GPTC_TYPE_IQ1_M] = {"iq1_m", 256, 256 / 8 + 256 / 16 + 256 / 32, NULL, NULL, NULL, 0},
    [GPTC_TYPE_BF16] = {"bf16", 1, 2, bf16_to_float, bf16_from_float, NULL, 0},
    [GPTC_TYPE_TQ1_0] = {"tq1_0", 256, 2 + 4 * 13, NULL, NULL, NULL, 0},
    [GPTC_TYPE_TQ2_0] = {"tq2_0", 256, 2 + 64, NULL, NULL, NULL, 0},
    [GPTC_TYPE_MXFP4] = Q("mxfp4", 32, 1 + 32 / 2, mxfp4, GPTC_TYPE_Q8_0),
};

const gptc_type_traits *gptc_type_info(uint32_t type)
{
    if (type >= GPTC_TYPE_COUNT || k_traits[type].name == NULL) return NULL;
    return &k_traits[type];
}

int gptc_type_is_quant(uint32_t type)
{
    return type < GPTC_TYPE_COUNT && k_traits[type].vec_dot_ref != NULL;
}

size_t gptc_row_bytes(uint32_t type, int64_t n)
{
    const gptc_type_traits *t = &k_traits[type];
    return (size_t)(n / t->blck) * t->type_size;
}

/* Byte offsets of a block's f16 scales (d, and the min's where there is one); -1: none. */
static void scale_offsets(uint32_t t, int off[2])
{
    off[0] = off[1] = -1;
    switch (t) {
    case GPTC_TYPE_Q4_1:
    case GPTC_TYPE_Q5_1:
    case GPTC_TYPE_Q4_K:
    case GPTC_TYPE_Q5_K:
        off[1] = 2; /* fall through */
    case GPTC_TYPE_Q4_0:
    case GPTC_TYPE_Q5_0:
    case GPTC_TYPE_Q8_0:
    case GPTC_TYPE_IQ4_NL:
    case GPTC_TYPE_IQ4_XS:
        off[0] = 0;
        break;
    case GPTC_TYPE_Q2_K:
        off[0] = 80, off[1] = 82;
        break;
    case GPTC_TYPE_Q3_K:
        off[0] = 108;
        break;
    case GPTC_TYPE_Q6_K:
        off[0] = 208;
        break;
    default:
        break;
    }
}

int64_t gptc_quant_bad_block(uint32_t type, const void *row, int64_t n)
{
    if (!gptc_type_is_quant(type)) return -1;
    const gptc_type_traits *t = &k_traits[type];
    const uint8_t *p = row;
    int off[2];
    scale_offsets(type, off);
    for (int64_t b = 0; b < n / t->blck; b++, p += t->type_size) {
        if (type == GPTC_TYPE_MXFP4) {
            if (p[0] == 0xFF) return b; /* E8M0 NaN */
            continue;
        }
        for (int k = 0; k < 2; k++) {
            if (off[k] < 0) continue;
            uint16_t h;
            memcpy(&h, p + off[k], 2);
            if ((h & 0x7c00) == 0x7c00) return b; /* f16 inf or NaN */
        }
    }
    return -1;
}
