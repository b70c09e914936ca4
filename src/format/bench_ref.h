/*
 * bench_ref.h — reference benchmark results for `gptc bench --compare FILE` (docs/benchmarks.md).
 *
 * The file is JSON: an array of entries, or JSON Lines (one entry per line). Each entry is
 * either
 *   gptc's own form, every key optional but threads and one of the speeds:
 *     {"model": "Llama-3.2-1B", "type": "Q4_K_M", "threads": 2, "depth": 0,
 *      "n_prompt": 128, "n_gen": 64, "prefill_tok_s": 124, "decode_tok_s": 37.1,
 *      "source": "llama.cpp 82bb485"}
 *   (unknown keys are an error, so a misspelt one is not silently ignored), or
 *   a row of llama-bench's `-o json` / `-o jsonl` output (recognised by its "avg_ts"): read are
 *     model_filename (its base name becomes model), n_threads, n_prompt,
 *     n_gen, n_depth (0 when absent: older llama-bench), avg_ts and build_commit (source
 *     "llama-bench <commit>"); the rest of its keys are ignored. A pp test (n_gen 0) is a prefill
 *     entry, a tg test (n_prompt 0) a decode entry; a pp+tg test (-pg) has no gptc counterpart
 *     and is an error.
 */
#ifndef GPTC_FORMAT_BENCH_REF_H
#define GPTC_FORMAT_BENCH_REF_H

#include <stddef.h>

#include "core/base.h"

typedef struct gptc_bench_ref {
    char model[256]; /* "" when not given */
    char type[128];  /* "" when not given */
    char source[128];
    int threads;       /* >= 1 */
    int depth;         /* >= 0 */
    int n_prompt;      /* 0: not given */
    int n_gen;         /* 0: not given */
    double prefill_ts; /* tok/s, 0: not given */
    double decode_ts;  /* tok/s, 0: not given */
} gptc_bench_ref;

/* Parse the n bytes at text. OUT: *refs (malloc'd array, free with free()), *n_refs >= 1. An
 * error (GPTC_E_FORMAT) names the entry (1-based) and what is wrong with it. */
gptc_status gptc_bench_ref_parse(const char *text, size_t n, gptc_bench_ref **refs, int *n_refs,
                                 gptc_err *err);

/* 1 when ref applies to a run of the model file at path (its base name), n_threads and depth:
 * threads and depth equal; model and type, when given, each occur in the file's base name
 * (ASCII case-insensitive, '-', '_' and '.' all alike). */
int gptc_bench_ref_matches(const gptc_bench_ref *ref, const char *path, int n_threads, int depth);

#endif
