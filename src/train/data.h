/*
 * data.h — the training corpus as one stream of token ids: read a text file (or every file of a
 * directory, in name order), tokenize it once, cache the ids, split off a validation
 * tail, and cut B x T batches (random windows for training, fixed ones for evaluation).
 *
 * Token cache: CACHE_DIR/<hex SHA-256 of (format version, vocabulary size, tokenizer hash,
 * SHA-256 of the inputs' contents)>.tokens, mode 0600 in a directory made 0700, written
 * atomically (a new temporary file, fsync, rename); never beside the input:
 *   "GPTCTOKS" | u32 version (2) | u32 n_vocab | u64 tokenizer hash | u64 content signature
 *   (the first 8 bytes of the contents' SHA-256) | u64 n_tokens | u64 token hash |
 *   u32 ids[n_tokens]
 * It is used only when every header field matches the current inputs and tokenizer and the
 * ids hash to the recorded value; otherwise the corpus is tokenized again.
 */
#ifndef GPTC_TRAIN_DATA_H
#define GPTC_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"
#include "train/train.h"

typedef struct gptc_data {
    int32_t *tok; /* (n) owned */
    size_t n;
    size_t n_train;        /* [0, n_train) trains, [n_train, n) validates */
    uint64_t hash;         /* FNV-1a of the ids: names the stream in checkpoints */
    uint64_t bytes;        /* size of the text */
    int cached;            /* 1: read from the cache; 0: tokenized now */
    char cache_path[4096]; /* the token cache used or written ("": none) */
    char note[512];        /* why the cache was not written, if it was not ("" otherwise) */
} gptc_data;

/* Progress of tokenizing: done of total bytes. */
typedef void (*gptc_data_progress)(void *ud, uint64_t done, uint64_t total);

/* Read and tokenize path (a file or a directory) with tok, whose tokenizer.* keys hash to
 * tok_hash (for the cache). Refuses an empty corpus and one that is not text (NUL bytes, or
 * more than 1% invalid UTF-8). cache_dir: where the token cache is kept (made 0700 if missing;
 * NULL: no cache); a cache that cannot be used or written is a note, not an error. progress may
 * be NULL. */
gptc_status gptc_data_load(const char *path, const gptc_tokenizer *tok, uint64_t tok_hash,
                           const char *cache_dir, gptc_data_progress progress, void *ud,
                           gptc_data *d, gptc_err *err);
void gptc_data_free(gptc_data *d);

/* Hold out the last val_frac of the stream (at least T + 1 tokens) for validation. Refuses a
 * corpus smaller than one batch (B x T + 1 tokens) or too small to leave a training window. */
gptc_status gptc_data_split(gptc_data *d, double val_frac, int B, int T, gptc_err *err);

/* A training batch: B windows of T + 1 tokens at random offsets of the training part;
 * tok (B, T) inputs, tgt (B, T) next tokens. */
void gptc_data_batch(const gptc_data *d, gptc_rng *rng, int B, int T, int32_t *tok, int32_t *tgt);
/* Validation batch i of n_batches: windows evenly spaced over the validation part (the same
 * windows every time, so evaluations compare). */
void gptc_data_val_batch(const gptc_data *d, int i, int n_batches, int B, int T, int32_t *tok,
                         int32_t *tgt);

#endif
