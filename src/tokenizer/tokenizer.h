/*
 * tokenizer.h — the vocabulary and text <-> token ids, built from a model's GGUF metadata.
 *
 * Keys read (as llama.cpp writes them): tokenizer.ggml.model ("llama" = SentencePiece-style,
 * "gpt2" = byte-level BPE with tokenizer.ggml.merges and tokenizer.ggml.pre; others are an
 * UNSUPPORTED error naming the model),
 * tokenizer.ggml.tokens (string array), .scores (f32 array, optional), .token_type (i32 array,
 * optional), .bos_token_id, .eos_token_id, .unknown_token_id, .eot_token_id,
 * .add_bos_token, .add_eos_token, .add_space_prefix (all optional).
 * The llama2.c importer turns tokenizer.bin into the same keys, so there is one code path.
 */
#ifndef GPTC_TOKENIZER_H
#define GPTC_TOKENIZER_H

#include "core/base.h"
#include "format/gguf.h"

/* tokenizer.ggml.token_type values (sentencepiece's piece types) */
enum gptc_tok_type {
    GPTC_TT_UNDEFINED = 0,
    GPTC_TT_NORMAL = 1,
    GPTC_TT_UNKNOWN = 2,
    GPTC_TT_CONTROL = 3,
    GPTC_TT_USER_DEFINED = 4,
    GPTC_TT_UNUSED = 5,
    GPTC_TT_BYTE = 6,
};

/* Build from the tokenizer.* keys of f. Copies everything it keeps (f may be closed after).
 * OUT: owned, free with gptc_tokenizer_free. */
gptc_status gptc_tokenizer_from_gguf(const gguf_file *f, gptc_tokenizer **out, gptc_err *err);
void gptc_tokenizer_free(gptc_tokenizer *t);

/* 1 for a byte-level BPE vocabulary (GGUF "gpt2", tiktoken), 0 for SentencePiece */
int gptc_tokenizer_is_byte_level(const gptc_tokenizer *t);

/* A tiktoken encoding from the bytes of its rank file (tiktoken.c; gptc_tok_load_tiktoken
 * reads the file). buf is not kept. OUT: owned, free with gptc_tokenizer_free. */
gptc_status gptc_tiktoken_parse(const char *name, const char *buf, size_t n, gptc_tokenizer **out,
                                gptc_err *err);

#endif
