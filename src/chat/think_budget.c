/*
 * think_budget.c — counting the tokens of a <think> block (think_budget.h).
 */
#include "chat/think_budget.h"

#include <string.h>

void gptc_think_budget_init(gptc_think_budget *b, int budget, int in_think)
{
    memset(b, 0, sizeof *b);
    b->budget = budget;
    b->in_think = in_think != 0;
}

int gptc_think_budget_exhausted(const gptc_think_budget *b)
{
    return b->budget >= 0 && b->in_think && b->n >= b->budget;
}

static int ends_with(const gptc_think_budget *b, const char *s)
{
    size_t k = strlen(s);
    return b->n_tail >= k && !memcmp(b->tail + b->n_tail - k, s, k);
}

void gptc_think_budget_push(gptc_think_budget *b, const char *text, size_t n)
{
    if (b->in_think) b->n++;
    for (size_t i = 0; i < n; i++) {
        if (b->n_tail == sizeof b->tail) {
            memmove(b->tail, b->tail + 8, sizeof b->tail - 8);
            b->n_tail -= 8;
        }
        b->tail[b->n_tail++] = text[i];
        if (ends_with(b, "<think>")) {
            b->in_think = 1;
            b->n = 0;
        } else if (ends_with(b, "</think>")) {
            b->in_think = 0;
        }
    }
}

int gptc_think_close_tokens(const gptc_tokenizer *tok, int32_t *out, int cap)
{
    size_t n = 0;
    gptc_err err;
    if (gptc_tok_encode(tok, GPTC_THINK_CLOSE, strlen(GPTC_THINK_CLOSE), 0, 1, out, (size_t)cap, &n,
                        &err) ||
        n > (size_t)cap)
        return 0;
    char first[8];
    size_t nf = 0;
    if (n > 1 && !gptc_tok_decode(tok, out, 1, 1, first, sizeof first, &nf, &err) && nf == 1 &&
        first[0] == ' ') {
        memmove(out, out + 1, (n - 1) * sizeof *out);
        n--;
    }
    return (int)n;
}
