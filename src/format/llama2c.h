/*
 * llama2c.h — import Karpathy's llama2.c files as an in-memory GGUF (gguf_file).
 *
 * Checkpoint ("version 0", run.c's format): 7 little-endian int32
 *   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 * (vocab_size < 0: a separate classifier follows, |vocab_size| is the vocabulary), then f32
 * tensors: token_embedding (vocab, dim), rms_att (L, dim), wq (L, dim, dim),
 * wk (L, kv_dim, dim), wv (L, kv_dim, dim), wo (L, dim, dim), rms_ffn (L, dim),
 * w1 (L, hidden, dim), w2 (L, dim, hidden), w3 (L, hidden, dim), rms_final (dim),
 * freq_cis_real and freq_cis_imag (seq_len * head_size / 2 each, unused), then wcls (vocab, dim)
 * if not shared.
 *
 * tokenizer.bin: int32 max_token_length, then per token: f32 score, int32 len, len bytes.
 * The vocabulary size is not in the file; it comes from the checkpoint.
 *
 * The result uses llama.cpp's names (token_embd.weight, blk.N.attn_q.weight, ...), the
 * llama.* hyperparameter keys and the tokenizer.ggml.* keys, so `gptc convert` only has to
 * gptc_gguf_write it.
 */
#ifndef GPTC_LLAMA2C_H
#define GPTC_LLAMA2C_H

#include "format/gguf.h"

/* Map ckpt_path and import it with the tokenizer at tok_path (required). The returned file owns
 * the mapping (tensor data are views into it). OUT: owned, free with gptc_gguf_close. */
gptc_status gptc_llama2c_import(const char *ckpt_path, const char *tok_path, gguf_file **out,
                                gptc_err *err);

/* The same from buffers in memory (borrowed; they must outlive the result). For fuzzing. */
gptc_status gptc_llama2c_parse(const void *ckpt, size_t ckpt_n, const void *tok, size_t tok_n,
                               gguf_file **out, gptc_err *err);

/* Add the tokenizer.ggml.* keys of a llama2.c tokenizer.bin buffer holding n_vocab tokens to
 * f, the way llama.cpp's converter does: ids 0/1/2 are <unk>/<s>/</s> (UNKNOWN, CONTROL,
 * CONTROL), "<0xNN>" pieces are BYTE, empty pieces CONTROL, the rest NORMAL; spaces in pieces
 * become U+2581; model "llama", bos 1, eos 2, unk 0. */
gptc_status gptc_llama2c_tokenizer_parse(gguf_file *f, const void *buf, size_t n, int n_vocab,
                                         gptc_err *err);

#endif
