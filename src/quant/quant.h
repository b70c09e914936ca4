/*
 * quant.h — tensor element types as numbered in GGUF/ggml, and their block traits.
 *
 * A row of ne0 elements of type t takes (ne0 / blck) * type_size bytes; ne0 must be a multiple
 * of blck. Types gptc can compute with have kernels in src/core/ops*.c (F32, F16, BF16 today);
 * the others are known here so files holding them parse and report clearly.
 */
#ifndef GPTC_QUANT_H
#define GPTC_QUANT_H

#include <stddef.h>
#include <stdint.h>

enum gptc_type {
    GPTC_TYPE_F32 = 0,
    GPTC_TYPE_F16 = 1,
    GPTC_TYPE_Q4_0 = 2,
    GPTC_TYPE_Q4_1 = 3,
    /* 4 and 5 (Q4_2, Q4_3) were removed from ggml */
    GPTC_TYPE_Q5_0 = 6,
    GPTC_TYPE_Q5_1 = 7,
    GPTC_TYPE_Q8_0 = 8,
    GPTC_TYPE_Q8_1 = 9,
    GPTC_TYPE_Q2_K = 10,
    GPTC_TYPE_Q3_K = 11,
    GPTC_TYPE_Q4_K = 12,
    GPTC_TYPE_Q5_K = 13,
    GPTC_TYPE_Q6_K = 14,
    GPTC_TYPE_Q8_K = 15,
    GPTC_TYPE_IQ2_XXS = 16,
    GPTC_TYPE_IQ2_XS = 17,
    GPTC_TYPE_IQ3_XXS = 18,
    GPTC_TYPE_IQ1_S = 19,
    GPTC_TYPE_IQ4_NL = 20,
    GPTC_TYPE_IQ3_S = 21,
    GPTC_TYPE_IQ2_S = 22,
    GPTC_TYPE_IQ4_XS = 23,
    GPTC_TYPE_I8 = 24,
    GPTC_TYPE_I16 = 25,
    GPTC_TYPE_I32 = 26,
    GPTC_TYPE_I64 = 27,
    GPTC_TYPE_F64 = 28,
    GPTC_TYPE_IQ1_M = 29,
    GPTC_TYPE_BF16 = 30,
    GPTC_TYPE_TQ1_0 = 34,
    GPTC_TYPE_TQ2_0 = 35,
    GPTC_TYPE_COUNT = 36,
};

typedef struct gptc_type_traits {
    const char *name; /* "f32", "q4_K" ... as ggml names them */
    int blck;         /* elements per block */
    size_t type_size; /* bytes per block */
} gptc_type_traits;

/* NULL for a type number gptc does not know (including the removed 4, 5, 31..33). */
const gptc_type_traits *gptc_type_info(uint32_t type);

#endif
