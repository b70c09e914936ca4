/*
 * pretok.h — regex pre-tokenizers for byte-level BPE: split text into the pieces that byte-pair
 * merging then works on, one regex set per tokenizer family (GPT-2, Llama 3, Qwen2, StarCoder,
 * DeepSeek, the tiktoken encodings ...). PCRE2 with JIT is the engine.
 *
 * A set is a list of regexes applied in turn, as llama.cpp applies them: the first regex cuts
 * the text into its matches and the gaps between them; each later regex cuts every piece the
 * same way, seeing only that piece (so "$" and look-aheads stop at the piece's end). A
 * one-regex set whose regex matches every character (the tiktoken patterns) therefore splits
 * exactly like tiktoken's find_iter.
 *
 * Every "\s" of the published patterns is written as Unicode's White_Space set (what Rust's
 * regex, tiktoken and llama.cpp mean by it; PCRE2's own \s leaves out U+0085).
 * The subject must be valid UTF-8 (bpe.c replaces invalid bytes before splitting).
 */
#ifndef GPTC_PRETOK_H
#define GPTC_PRETOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"

typedef struct gptc_pretok gptc_pretok;

#define GPTC_PRETOK_MAX_RE 8

/* Build the named regex set ("gpt2", "llama3", "qwen2", "starcoder", "deepseek-llm",
 * "deepseek-coder", "default", "bloom", "viking", "cl100k", "o200k", "llama3-tiktoken").
 * GPTC_E_INVALID for an unknown name. OUT: owned, free with gptc_pretok_free. Immutable after
 * init: one pre-tokenizer may serve many threads, each with its own iterator. */
gptc_status gptc_pretok_init(const char *set, gptc_pretok **out, gptc_err *err);
void gptc_pretok_free(gptc_pretok *p);
const char *gptc_pretok_name(const gptc_pretok *p);

typedef struct gptc_pretok_level {
    size_t start, end, pos; /* the segment this level splits, and how far it got */
    size_t qa, qb;          /* a match queued behind the gap before it */
} gptc_pretok_level;

/* One pass over one subject; holds PCRE2 match data (free with gptc_pretok_iter_free). */
typedef struct gptc_pretok_iter {
    const gptc_pretok *p;
    const char *s; /* borrowed subject */
    int depth;     /* current level, -1 when done */
    gptc_pretok_level lv[GPTC_PRETOK_MAX_RE];
    void *md; /* pcre2_match_data */
    int rc;   /* the PCRE2 error after a failed step */
} gptc_pretok_iter;

gptc_status gptc_pretok_iter_init(gptc_pretok_iter *it, const gptc_pretok *p, const char *s,
                                  size_t n, gptc_err *err);
/* The next piece as [*a, *b) offsets into the subject: 1, or 0 at the end, or -1 on a regex
 * engine error (it->rc; gptc_pretok_iter_error describes it). */
int gptc_pretok_next(gptc_pretok_iter *it, size_t *a, size_t *b);
gptc_status gptc_pretok_iter_error(const gptc_pretok_iter *it, gptc_err *err);
void gptc_pretok_iter_free(gptc_pretok_iter *it);

#endif
