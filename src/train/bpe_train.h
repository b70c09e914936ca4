/*
 * bpe_train.h — learn a byte-level BPE tokenizer from a corpus (`gptc train-tokenizer`) and write
 * it as GGUF tokenizer keys that src/tokenizer (and llama.cpp) load: tokenizer.ggml.model "gpt2",
 * tokens in GPT-2's bytes->unicode alphabet, merges in learning order, pre-tokenizer "gpt-2".
 *
 * The corpus is cut into pieces by GPT-2's regexes (src/tokenizer/pretok.h) and the distinct
 * pieces are counted; merging never crosses a piece. Learning starts from the 256 bytes and
 * repeatedly merges the most frequent adjacent pair (ties: the pair of lowest symbol ids, so the
 * result is deterministic), until the vocabulary reaches the asked size or no pair occurs twice.
 * Pair counts are updated incrementally: each merge rewrites only the pieces that hold its pair
 * (an occurrence list per pair) and a max-heap with lazy entries picks the next pair.
 */
#ifndef GPTC_TRAIN_BPE_TRAIN_H
#define GPTC_TRAIN_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"
#include "format/gguf.h"

typedef struct gptc_bpe_trainer gptc_bpe_trainer;

/* OUT: owned, free with gptc_bpe_train_free. */
gptc_status gptc_bpe_train_init(gptc_bpe_trainer **out, gptc_err *err);
void gptc_bpe_train_free(gptc_bpe_trainer *t);

/* Count the pieces of text[0..n) (any bytes: a byte that is not part of valid UTF-8 is a piece
 * of its own). May be called once per file. */
gptc_status gptc_bpe_train_add(gptc_bpe_trainer *t, const char *text, size_t n, gptc_err *err);

/* Learn merges until the vocabulary (256 bytes, one token per distinct merged text,
 * <|endoftext|>) reaches vocab, or no pair occurs at least twice. progress(ud, tokens added,
 * tokens wanted) may be NULL. */
gptc_status gptc_bpe_train_run(gptc_bpe_trainer *t, int vocab,
                               void (*progress)(void *ud, int done, int total), void *ud,
                               gptc_err *err);
int gptc_bpe_train_n_merges(const gptc_bpe_trainer *t);
int gptc_bpe_train_n_tokens(
    const gptc_bpe_trainer *t); /* the vocabulary learned, <|endoftext|> included */
uint64_t gptc_bpe_train_n_pieces(const gptc_bpe_trainer *t); /* pieces counted */
uint64_t gptc_bpe_train_n_unique(const gptc_bpe_trainer *t); /* distinct pieces */

/* A builder holding the tokenizer keys (no tensors). OUT: owned, gptc_gguf_close. */
gptc_status gptc_bpe_train_gguf(const gptc_bpe_trainer *t, gguf_file **out, gptc_err *err);

#endif
