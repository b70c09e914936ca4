/* quant.c — the block traits table of every ggml tensor type. */
#include "quant.h"

static const gptc_type_traits k_traits[GPTC_TYPE_COUNT] = {
    [GPTC_TYPE_F32] = {"f32", 1, 4},
    [GPTC_TYPE_F16] = {"f16", 1, 2},
    [GPTC_TYPE_Q4_0] = {"q4_0", 32, 2 + 16},
    [GPTC_TYPE_Q4_1] = {"q4_1", 32, 2 + 2 + 16},
    [GPTC_TYPE_Q5_0] = {"q5_0", 32, 2 + 4 + 16},
    [GPTC_TYPE_Q5_1] = {"q5_1", 32, 2 + 2 + 4 + 16},
    [GPTC_TYPE_Q8_0] = {"q8_0", 32, 2 + 32},
    [GPTC_TYPE_Q8_1] = {"q8_1", 32, 4 + 32},
    [GPTC_TYPE_Q2_K] = {"q2_K", 256, 256 / 16 + 256 / 4 + 2 + 2},
    [GPTC_TYPE_Q3_K] = {"q3_K", 256, 256 / 8 + 256 / 4 + 12 + 2},
    [GPTC_TYPE_Q4_K] = {"q4_K", 256, 2 + 2 + 12 + 256 / 2},
    [GPTC_TYPE_Q5_K] = {"q5_K", 256, 2 + 2 + 12 + 256 / 8 + 256 / 2},
    [GPTC_TYPE_Q6_K] = {"q6_K", 256, 256 / 2 + 256 / 4 + 256 / 16 + 2},
    [GPTC_TYPE_Q8_K] = {"q8_K", 256, 4 + 256 + 256 / 16 * 2},
    [GPTC_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 2 + 256 / 8 * 2},
    [GPTC_TYPE_IQ2_XS] = {"iq2_xs", 256, 2 + 256 / 8 * 2 + 256 / 32},
    [GPTC_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 2 + 256 / 4 + 256 / 8},
    [GPTC_TYPE_IQ1_S] = {"iq1_s", 256, 2 + 256 / 8 + 256 / 16},
    [GPTC_TYPE_IQ4_NL] = {"iq4_nl", 32, 2 + 16},
    [GPTC_TYPE_IQ3_S] = {"iq3_s", 256, 2 + 256 / 4 + 256 / 8 + 256 / 32 + 4},
    [GPTC_TYPE_IQ2_S] = {"iq2_s", 256, 2 + 256 / 4 + 256 / 16},
    [GPTC_TYPE_IQ4_XS] = {"iq4_xs", 256, 2 + 2 + 256 / 2 + 256 / 64},
    [GPTC_TYPE_I8] = {"i8", 1, 1},
    [GPTC_TYPE_I16] = {"i16", 1, 2},
    [GPTC_TYPE_I32] = {"i32", 1, 4},
    [GPTC_TYPE_I64] = {"i64", 1, 8},
    [GPTC_TYPE_F64] = {"f64", 1, 8},
    [GPTC_TYPE_IQ1_M] = {"iq1_m", 256, 256 / 8 + 256 / 16 + 256 / 32},
    [GPTC_TYPE_BF16] = {"bf16", 1, 2},
    [GPTC_TYPE_TQ1_0] = {"tq1_0", 256, 2 + 4 * 13},
    [GPTC_TYPE_TQ2_0] = {"tq2_0", 256, 2 + 64},
};

const gptc_type_traits *gptc_type_info(uint32_t type)
{
    if (type >= GPTC_TYPE_COUNT || k_traits[type].name == NULL) return NULL;
    return &k_traits[type];
}
