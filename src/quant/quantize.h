/*
 * quantize.h — quantize a whole model file (`gptc quantize`): the per-tensor type choices of
 * llama.cpp's mixes (Q4_K_M and friends), the quantization itself (quant.h's reference
 * quantizers, rows split across threads), and the GGUF written atomically and checked to load.
 *
 * Mixes (llama.cpp's names and general.file_type numbers):
 *   q8_0 (7)  q4_0 (2)  q4_1 (3)  q5_0 (8)  q5_1 (9)  q4_k_s (14)  q4_k_m (15)  q5_k_m (17)
 *   q6_k (18)  q2_k (10)  q2_k_s (21)  q3_k_s (11)  q3_k_m (12)  q3_k_l (13)  iq4_nl (25)
 *   iq4_xs (30); q4_k, q5_k and q3_k are aliases of q4_k_m, q5_k_m and q3_k_m, as in
 *   llama-quantize. The low-bit and IQ4 rules are listed in docs/quantization-types.md.
 * Rules, as llama.cpp applies them without an importance matrix:
 *   - 2-D tensors whose name ends in "weight", except norms, are quantized; others are copied;
 *   - output.weight (token_embd.weight when the classifier is tied): Q6_K, or Q8_0 when its rows
 *     are not a multiple of 256 (and in the q8_0 mix);
 *   - attn_v: Q5_K in the first 4 layers (q4_k_s); Q6_K where use_more_bits (q4_k_m, q5_k_m);
 *     80-layer models: Q5_K instead of Q3_K/Q4_K;
 *   - ffn_down: Q6_K where use_more_bits (q4_k_m, q5_k_m); Q5_K in the first n_layer / 8 layers
 *     (q4_k_s); attn_qkv: Q5_K (q4_k_m) / Q6_K (q5_k_m);
 *     use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2;
 *   - a row length that is not a multiple of the chosen block: Q4_K -> Q5_0, Q5_K -> Q5_1,
 *     Q6_K -> Q8_0, and F16 when that does not fit either (llama.cpp throws for the simple types
 *     instead; gptc takes the F16 fallback its k-quant path already has).
 * The resulting tensors are byte for byte what llama-quantize writes (tests/test_quant.c).
 */
#ifndef GPTC_QUANTIZE_H
#define GPTC_QUANTIZE_H

#include <stdint.h>

#include "core/base.h"

typedef struct gptc_quantize_params {
    int n_threads; /* 0: all cores */
    /* Called before each tensor (i of n) with its source and chosen types; NULL: silent. */
    void (*progress)(void *ud, int i, int n, const char *name, uint32_t from, uint32_t to);
    void *ud;
} gptc_quantize_params;

typedef struct gptc_quantize_stats {
    int n_tensors, n_quantized, n_fallback; /* fallback: rows did not fit the chosen type */
    uint64_t bytes_in, bytes_out;           /* tensor data */
} gptc_quantize_stats;

/* The general.file_type of a mix name (case-insensitive), or -1 if gptc does not know it. */
int gptc_quantize_ftype(const char *mix);

/* The type mix gives a tensor (NULL name or an unknown mix: GPTC_TYPE_COUNT): its own type
 * `type` when it is not quantized. n_layer: the model's block count; n_attn_v / n_ffn_down: how
 * many attn_v / ffn_down tensors it has; has_output: output.weight present. *fallback (may be
 * NULL) is set when the rows did not fit the type the rules chose. Pure; for tests and tools. */
uint32_t gptc_quantize_type_for(const char *mix, const char *name, uint32_t type, int n_dims,
                                int64_t ne0, int n_layer, int n_attn_v, int n_ffn_down,
                                int has_output, int *fallback);

/* Quantize the model at in_path (GGUF, or a llama2.c checkpoint with tokenizer_path / a
 * tokenizer.bin beside it) to out_path with mix. The output is written atomically and then
 * loaded as a model; if that fails it is removed and the error returned. OUT: *stats (may be
 * NULL). */
gptc_status gptc_quantize_model(const char *in_path, const char *tokenizer_path,
                                const char *out_path, const char *mix,
                                const gptc_quantize_params *params, gptc_quantize_stats *stats,
                                gptc_err *err);

#endif
