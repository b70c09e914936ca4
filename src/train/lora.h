/*
 * lora.h — LoRA adapters in llama.cpp's GGUF layout, and merging them into a model.
 *
 * An adapter file: general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (f32),
 * general.architecture = the base model's; for each adapted matrix W (GGUF ne = [in, out]) two
 * tensors "<W's name>.lora_a" with ne = [in, r] (A, r rows of in) and "<W's name>.lora_b" with
 * ne = [r, out] (B, out rows of r). The adapted matrix is W + scale * alpha / r * B A (scale
 * chosen when applying, 1 by default; alpha 0 means scale alone), as llama.cpp applies it.
 */
#ifndef GPTC_TRAIN_LORA_H
#define GPTC_TRAIN_LORA_H

#include "core/base.h"
#include "format/gguf.h"

/* The matrices LoRA can target, by the GGUF name between "blk.N." and ".weight". */
#define GPTC_LORA_TARGETS "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down,attn_qkv"

/* Parse a comma-separated list of targets into a bit mask (bit i = the i-th name of
 * GPTC_LORA_TARGETS). GPTC_E_INVALID naming an unknown one. */
gptc_status gptc_lora_parse_targets(const char *list, unsigned *mask, gptc_err *err);
/* 1 when the tensor name (e.g. "blk.3.attn_q.weight") is one the mask targets. */
int gptc_lora_is_target(const char *name, unsigned mask);

/* A model with adapters applied: a builder holding base's keys and tensors, every adapted
 * tensor replaced by its merged F32 matrix (quantized bases are dequantized first), the others
 * borrowed. Takes base (its mapping moves into the result); the adapters stay the caller's.
 * Errors name the adapter: not an adapter file, another architecture, a tensor the base lacks,
 * shapes that do not fit. OUT: owned, gptc_gguf_close. */
gptc_status gptc_lora_merge(gguf_file *base, gguf_file *const *adapters, const float *scales, int n,
                            gguf_file **out, gptc_err *err);

#endif
