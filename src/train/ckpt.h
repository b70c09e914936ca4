/*
 * ckpt.h — what training reads and writes as GGUF: the tokenizer keys, the finished model (the
 * standard llama.cpp keys and tensor names, loadable by gptc and llama.cpp), and checkpoints
 * (the model plus optimizer moments, step, random-number states and options under train.*).
 *
 * Checkpoint = model GGUF + these keys and tensors:
 *   train.version u32 (1)           train.step u64         train.seed u64
 *   train.rng u64[4]                train.data_rng u64[4]  (xoshiro states: init/sampling, data)
 *   train.data_tokens u64           train.data_hash u64    (the token stream it was trained on)
 *   train.tied u8                   train.opts f32[..]     (optimisation options, see trainer.c)
 *   train.iopts u64[..]
 *   tensors train.adam_m, train.adam_v: F32 (n_params), the moments in slab order.
 * Every write is atomic: a temporary file, fsync, rename, fsync of the directory, so a crash or a
 * kill at any moment leaves the previous file whole.
 */
#ifndef GPTC_TRAIN_CKPT_H
#define GPTC_TRAIN_CKPT_H

#include "format/gguf.h"
#include "train/train.h"

/* A builder holding the byte-level SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens
 * <0x00>..<0xFF> (type BYTE) and "▁" (U+2581, the escaped space, so ' ' is one token), model
 * "llama", no space prefix, no BOS/EOS added. The existing SPM encoder then maps any text to
 * one token per byte (spaces to "▁"). OUT: owned, free with gptc_gguf_close. */
gptc_status gptc_tok_byte_gguf(gguf_file **out, gptc_err *err);
#define GPTC_BYTE_VOCAB 260

/* A builder holding a copy of the tokenizer.* keys of src. */
gptc_status gptc_tok_copy_gguf(const gguf_file *src, gguf_file **out, gptc_err *err);

/* FNV-1a 64 over every tokenizer.* key and value of f: two tokenizers hash alike only if their
 * keys are identical. */
uint64_t gptc_tok_keys_hash(const gguf_file *f);

/* A builder describing the model: general.*, the architecture's keys, the tokenizer keys of tok
 * (copied), and every parameter as an F32 tensor borrowed from the slab (valid while m lives and
 * its parameters do not move). name: general.name (may be NULL). OUT: owned, gptc_gguf_close. */
gptc_status gptc_tmodel_to_gguf(gptc_tmodel *m, const gguf_file *tok, const char *name,
                                gguf_file **out, gptc_err *err);

/* Read an architecture configuration back from a model or checkpoint GGUF (llama.* or gpt2.*
 * keys; n_vocab from the tokenizer's token count). */
gptc_status gptc_tconfig_from_gguf(const gguf_file *f, gptc_tconfig *cfg, gptc_err *err);

/* Copy every parameter tensor of f (names and shapes must match m's table, type F32) into the
 * slab. */
gptc_status gptc_tmodel_load_params(gptc_tmodel *m, const gguf_file *f, gptc_err *err);

/* Write a GGUF atomically (gptc_gguf_write's temporary file, fsync and rename, then an fsync of the
 * directory so the rename itself is durable). */
gptc_status gptc_gguf_write_durable(const gguf_file *f, const char *path, gptc_err *err);

#endif
