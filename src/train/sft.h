/*
 * sft.h — chat data for supervised fine-tuning: OpenAI's fine-tuning JSONL
 * ({"messages": [...], "tools": [...]} per line, "weight": 0 on an assistant message to leave
 * it out), rendered with the model's chat template, tokenized as `gptc chat` tokenizes a prompt,
 * with a mask that makes only the assistant's tokens count in the loss.
 *
 * Each assistant turn i is located by rendering: P = the messages before it with the generation
 * prompt (what `gptc chat` sends the model), F = the messages up to and including it. Its target
 * tokens are those of the whole conversation's tokens after the common prefix with tokens(P) and
 * up to the common prefix with tokens(F): the reply and the template's end-of-turn text, so the
 * model learns to stop. Everything else (system, user, tool messages, the template's framing)
 * is context only.
 *
 * One conversation per training window, padded (no packing, so nothing from another
 * conversation is in view); a conversation longer than the window is a bad line: reported by
 * line number and skipped, or the load fails with strict.
 */
#ifndef GPTC_TRAIN_SFT_H
#define GPTC_TRAIN_SFT_H

#include <stddef.h>
#include <stdint.h>

#include "chat/chat.h"
#include "core/base.h"

typedef struct gptc_sft {
    int32_t *tok;   /* (n) every conversation's tokens, one after another */
    uint8_t *learn; /* (n) 1: the token is a target (an assistant token) */
    size_t n;
    size_t *start; /* (n_conv + 1) first token of each conversation */
    size_t n_conv;
    size_t n_train; /* conversations [0, n_train) train, [n_train, n_conv) validate */
    size_t n_bad;   /* lines skipped */
    size_t n_learn; /* target tokens in all */
    uint64_t hash;  /* FNV-1a of tokens and mask: names the data in checkpoints */
} gptc_sft;

/* A bad line: file, 1-based line number, why. */
typedef void (*gptc_sft_report)(void *ud, const char *path, size_t line, const char *msg);

typedef struct gptc_sft_opts {
    const gptc_tokenizer *tok;
    const char *tmpl; /* the chat template's Jinja source */
    int T;            /* window: a conversation may have at most T + 1 tokens */
    int strict;       /* a bad line fails the load */
    double val_frac;  /* without a validation file: the last conversations held out */
    gptc_sft_report report;
    void *ud;
} gptc_sft_opts;

/* Load path (and val_path, or NULL: hold out val_frac of path's conversations, at least one). */
gptc_status gptc_sft_load(const char *path, const char *val_path, const gptc_sft_opts *o,
                          gptc_sft *out, gptc_err *err);
void gptc_sft_free(gptc_sft *s);

/* Window for conversation c: tok (T) its tokens then padding, tgt (T) the next token where it
 * is a target, -1 elsewhere. Returns the number of targets. */
int gptc_sft_window(const gptc_sft *s, size_t c, int T, int32_t *tok, int32_t *tgt);
/* The number of targets of conversation c. */
int gptc_sft_targets(const gptc_sft *s, size_t c);

/* One line of a JSONL file (len bytes, no newline), as gptc_sft_load reads it: the
 * conversation's tokens and mask, or GPTC_E_FORMAT / GPTC_E_INVALID saying why the line is bad
 * (not JSON, not an object, no "messages", a bad message, longer than T + 1 tokens).
 * OUT: *ids, *learn (malloc'd), *n. */
gptc_status gptc_sft_parse_line(const gptc_sft_opts *o, const char *line, size_t len, int32_t **ids,
                                uint8_t **learn, size_t *n, gptc_err *err);
/* The mask of one conversation, for tests: render and tokenize messages_json (a JSON array)
 * with tools_json (or NULL). OUT: *ids, *learn (malloc'd), *n. */
gptc_status gptc_sft_render(const gptc_sft_opts *o, const char *messages_json,
                            const char *tools_json, int32_t **ids, uint8_t **learn, size_t *n,
                            gptc_err *err);

#endif
