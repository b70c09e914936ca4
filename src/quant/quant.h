/*
 * quant.h — tensor element types as numbered in GGUF/ggml, their block traits, and the scalar
 * reference of every format gptc computes with.
 *
 * A row of ne0 elements of type t takes (ne0 / blck) * type_size bytes; ne0 must be a multiple
 * of blck. Block layouts are in blocks.h, bit for bit as GGUF files store them.
 *
 * Each quantized format has one file (q8_0.c, q4_0.c, q4_1.c, q5_0.c, q5_1.c, q2_k.c, q3_k.c,
 * q4_k.c, q5_k.c, q6_k.c, q8_k.c, iq4_nl.c (IQ4_NL and IQ4_XS), mxfp4.c) with three functions that
 * are the spec:
 *   - quantize_ref: floats -> blocks, byte for byte what llama.cpp's reference quantizer writes
 *     (no importance matrix);
 *   - dequantize: blocks -> floats (exact: every code times its scales);
 *   - vec_dot_ref: a row of weight blocks . a row of activations quantized to the format's
 *     vec_dot_type (Q8_0, Q8_1 or Q8_K, as llama.cpp pairs them), summed block by block.
 * The SIMD kernels (src/quant/qmm_avx2.c, qmm_avx512.c, behind the ops table) are tested
 * against these.
 *
 * Sizes n are element counts, multiples of the type's blck.
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
    /* 36..38 (the IQ4_NL_4_4 ... repacked types) were removed from ggml */
    GPTC_TYPE_MXFP4 = 39, /* OCP MX FP4: per 32 elements, an E8M0 scale byte, 16 bytes of E2M1 */
    GPTC_TYPE_COUNT = 40,
};

typedef void (*gptc_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*gptc_from_float_fn)(const float *x, void *y, int64_t n);
/* w: n elements of weight blocks; xq: n elements of the type's vec_dot_type */
typedef float (*gptc_vec_dot_fn)(int n, const void *w, const void *xq);

typedef struct gptc_type_traits {
    const char *name; /* "f32", "q4_K" ... as ggml names them */
    int blck;         /* elements per block */
    size_t type_size; /* bytes per block */
    /* What gptc can do with the type; NULL where it cannot. */
    gptc_to_float_fn to_float;         /* dequantize (weights, embeddings, gptc quantize input) */
    gptc_from_float_fn from_float_ref; /* quantize: gptc quantize, activations in the reference */
    gptc_vec_dot_fn vec_dot_ref;       /* quantized weights only */
    uint32_t vec_dot_type;             /* the activations' type for vec_dot_ref */
} gptc_type_traits;

/* NULL for a type number gptc does not know (including the removed 4, 5, 31..33). */
const gptc_type_traits *gptc_type_info(uint32_t type);
/* 1 for the block-quantized weight types gptc computes with (Q4_0 ... Q6_K, not Q8_1/Q8_K). */
int gptc_type_is_quant(uint32_t type);
/* Bytes of a row of n elements (n a multiple of blck). */
size_t gptc_row_bytes(uint32_t type, int64_t n);

/* ---- per format (one file each) ------------------------------------------------------------ */
void gptc_q8_0_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q8_0_dequantize(const void *x, float *y, int64_t n);
float gptc_q8_0_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_0 */

void gptc_q8_1_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q8_1_dequantize(const void *x, float *y, int64_t n);

void gptc_q4_0_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q4_0_dequantize(const void *x, float *y, int64_t n);
float gptc_q4_0_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_0 */

void gptc_q4_1_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q4_1_dequantize(const void *x, float *y, int64_t n);
float gptc_q4_1_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_1 */

void gptc_q5_0_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q5_0_dequantize(const void *x, float *y, int64_t n);
float gptc_q5_0_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_0 */

void gptc_q5_1_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q5_1_dequantize(const void *x, float *y, int64_t n);
float gptc_q5_1_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_1 */

void gptc_q8_K_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q8_K_dequantize(const void *x, float *y, int64_t n);

void gptc_q4_K_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q4_K_dequantize(const void *x, float *y, int64_t n);
float gptc_q4_K_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_K */

void gptc_q5_K_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q5_K_dequantize(const void *x, float *y, int64_t n);
float gptc_q5_K_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_K */

void gptc_q6_K_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q6_K_dequantize(const void *x, float *y, int64_t n);
float gptc_q6_K_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_K */

void gptc_q2_K_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q2_K_dequantize(const void *x, float *y, int64_t n);
float gptc_q2_K_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_K */

void gptc_q3_K_quantize_ref(const float *x, void *y, int64_t n);
void gptc_q3_K_dequantize(const void *x, float *y, int64_t n);
float gptc_q3_K_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_K */

void gptc_iq4_nl_quantize_ref(const float *x, void *y, int64_t n);
void gptc_iq4_nl_dequantize(const void *x, float *y, int64_t n);
float gptc_iq4_nl_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_0 */

void gptc_iq4_xs_quantize_ref(const float *x, void *y, int64_t n);
void gptc_iq4_xs_dequantize(const void *x, float *y, int64_t n);
float gptc_iq4_xs_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_K */

void gptc_mxfp4_quantize_ref(const float *x, void *y, int64_t n);
void gptc_mxfp4_dequantize(const void *x, float *y, int64_t n);
float gptc_mxfp4_vec_dot_ref(int n, const void *w, const void *xq); /* xq: Q8_0 */

/* IQ4_NL's search (iq4_nl.c): nsub = 1 for an IQ4_NL block (32 elements; scales_h, scales_l
 * unused), 8 for an IQ4_XS super-block. */
void gptc_iq4_fit(int nsub, const float *x, uint16_t *dh, uint8_t *qs, uint16_t *scales_h,
                  uint8_t *scales_l);

/* The first block of a row of n elements of type t whose scale is not finite (an f16 inf/NaN,
 * or MXFP4's E8M0 NaN 0xFF), or -1 when every scale is finite (and for unquantized types). */
int64_t gptc_quant_bad_block(uint32_t type, const void *row, int64_t n);

/* Shared by the Q4_K and Q5_K quantizers (defined in q4_k.c). */
/* 6-bit scale j and min j of a Q4_K/Q5_K scales[12] array. */
void gptc_k_scale_min(int j, const uint8_t *scales, uint8_t *sc, uint8_t *m);
/* ... and Q2_K's, whose error is weighted |diff| (mad = 1) instead of diff^2 */
float gptc_kq_fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                            float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                            int mad);
void gptc_kq_pack_scales(const float *scales, const float *mins, uint8_t *scales12, uint16_t *d,
                         uint16_t *dmin);
void gptc_kq_weights(const float *x, float *w);
void gptc_kq_codes(const float *x, const uint8_t *scales12, uint16_t d16, uint16_t dmin16, int nmax,
                   uint8_t *L);

/* Round to nearest, ties to even, as the K quantizers do (|x| < 2^22). */
static inline int gptc_nearest_int(float x)
{
    /* adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits */
    union {
        float f;
        int32_t i;
    } u = {x + 12582912.0f};
    return (u.i & 0x007fffff) - 0x00400000;
}

#endif
