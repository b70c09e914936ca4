/*
 * think_budget.h — --reasoning-budget N: after N tokens inside a <think> block, the closing
 * marker is forced and the answer follows. The caller feeds each generated token's text; when
 * gptc_think_budget_push says so, it generates GPTC_THINK_CLOSE's tokens instead of sampling.
 */
#ifndef GPTC_THINK_BUDGET_H
#define GPTC_THINK_BUDGET_H

#include <stddef.h>

#include "gptc.h"

/* What is forced: the closer as Qwen3 / DeepSeek-R1 / SmolLM3 write it, and the blank line. */
#define GPTC_THINK_CLOSE "\n</think>\n\n"

typedef struct gptc_think_budget {
    int budget;   /* tokens allowed inside the block; < 0: unlimited */
    int in_think; /* inside a <think> block now */
    int n;        /* tokens counted in the current block */
    char tail[16];
    size_t n_tail;
} gptc_think_budget;

/* in_think: the prompt left a <think> block open (gptc_toolcall_prompt_opens_think). */
void gptc_think_budget_init(gptc_think_budget *b, int budget, int in_think);
/* Before sampling: must the closer be forced now? (the block is open and its budget spent) */
int gptc_think_budget_exhausted(const gptc_think_budget *b);
/* A generated token's text (one call per token; forced tokens included). */
void gptc_think_budget_push(gptc_think_budget *b, const char *text, size_t n);

/* GPTC_THINK_CLOSE as tokens (special-token text read as such; a SentencePiece dummy-prefix
 * space dropped). Their count (0: the vocabulary cannot spell it in cap tokens). */
int gptc_think_close_tokens(const gptc_tokenizer *tok, int32_t *out, int cap);

#endif
