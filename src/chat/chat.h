/*
 * chat.h — conversations to prompts with a model's chat template.
 *
 * A chat model answers well only when the conversation is laid out exactly as it was trained:
 * the Jinja `tokenizer.chat_template` that a GGUF carries. This module parses such a template
 * once (gptc_chat_template_init) and renders it for any number of conversations
 * (gptc_chat_render), byte for byte as Python's Jinja2 does with Hugging Face transformers'
 * settings (trim_blocks, lstrip_blocks, loop controls, raise_exception, tojson, strftime_now).
 * Built-in templates (chatml, llama2, llama3, mistral, gemma, phi3, zephyr) cover models whose
 * metadata has none.
 *
 * Used by `gptc template`, `gptc chat` and the server. A parsed template is immutable: several
 * threads may render it at once. Rendering is safe on hostile templates: no file or system
 * access, bounded recursion, output size, memory and steps; every failure is a gptc_status
 * with a message that names the template position ("line 3 col 14").
 *
 * Errors:
 *   GPTC_E_FORMAT       syntax error in the template, or messages/tools that are not JSON
 *   GPTC_E_UNSUPPORTED  a valid Jinja construct this engine does not implement (named)
 *   GPTC_E_INVALID      the template refused the input: raise_exception("..."), or a runtime
 *                       error such as concatenating a string and null (Python's TypeError)
 *   GPTC_E_RANGE        a limit was hit: output size, memory, steps, recursion depth
 *   GPTC_E_NOMEM        an allocation failed
 */
#ifndef GPTC_CHAT_H
#define GPTC_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

struct json_t; /* jansson's json_t, for callers that already hold parsed JSON */

typedef struct gptc_chat_template gptc_chat_template;

typedef struct gptc_chat_opts {
    int add_generation_prompt; /* end the prompt with the opening of an assistant turn */
    const char *bos_token;     /* text of the BOS token; NULL: the variable is undefined */
    const char *eos_token;     /* text of the EOS token; NULL: undefined */
    const char *date;          /* "YYYY-MM-DD" that strftime_now() sees (time 00:00:00);
                                * NULL: the current local date and time */
    const char *extra_json;    /* a JSON object of further template variables
                                * ({"enable_thinking": false, ...}), or NULL */
} gptc_chat_opts;

/* Default options: add_generation_prompt = 1, everything else NULL. */
gptc_chat_opts gptc_chat_default_opts(void);

/* Parse a template (n bytes of UTF-8 Jinja source). OUT: *out, owned, free with
 * gptc_chat_template_free. */
gptc_status gptc_chat_template_init(const char *src, size_t n, gptc_chat_template **out /* OUT */,
                                    gptc_err *err);
void gptc_chat_template_free(gptc_chat_template *t);

/* Render a conversation. messages_json: a JSON array of message objects
 * ({"role": "user", "content": "Hi"}, with any further fields such as tool_calls);
 * tools_json: a JSON array of tools, or NULL (the template then sees tools = none).
 * OUT: *out, malloc'd, NUL-terminated, free with free(); *out_len its length (the text may
 * hold NULs). */
gptc_status gptc_chat_render(const gptc_chat_template *t, const char *messages_json,
                             const char *tools_json, const gptc_chat_opts *opts,
                             char **out /* OUT */, size_t *out_len /* OUT */, gptc_err *err);
/* The same with parsed JSON (borrowed); tools may be NULL. */
gptc_status gptc_chat_render_json(const gptc_chat_template *t, const struct json_t *messages,
                                  const struct json_t *tools, const gptc_chat_opts *opts,
                                  char **out /* OUT */, size_t *out_len /* OUT */, gptc_err *err);

/* The template's source (newlines normalised); borrowed from t. */
const char *gptc_chat_template_source(const gptc_chat_template *t, size_t *n /* OUT */);

/* Render for tokenizing, so that special tokens come only from the template's own text (and
 * the bos/eos texts of opts), never from the data: every string and key of messages, tools and
 * opts->extra_json is text from a user. OUT: *out as gptc_chat_render_json renders it (the
 * same bytes), and *literal (malloc'd, *out_len bytes, free with free()) nonzero over each
 * occurrence of one of tok's control-token texts that came from the data; tokenize with
 * gptc_tok_encode_lit(tok, *out, *out_len, ..., *literal, ...). See prompt.c for how. */
gptc_status gptc_chat_render_lit(const gptc_chat_template *t, const struct json_t *messages,
                                 const struct json_t *tools, const gptc_chat_opts *opts,
                                 const gptc_tokenizer *tok, char **out /* OUT */,
                                 size_t *out_len /* OUT */, uint8_t **literal /* OUT */,
                                 gptc_err *err);
/* Render and tokenize a conversation (the one path every chat endpoint uses): BOS as the
 * tokenizer asks unless the template already wrote opts->bos_token. OUT: *ids (malloc'd, free
 * with free()), *n_ids; *text (optional, malloc'd) the rendered prompt. */
gptc_status gptc_chat_prompt(const gptc_chat_template *t, const struct json_t *messages,
                             const struct json_t *tools, const gptc_chat_opts *opts,
                             const gptc_tokenizer *tok, int32_t **ids /* OUT */,
                             size_t *n_ids /* OUT */, char **text /* OUT, may be NULL */,
                             size_t *text_len /* OUT, may be NULL */, gptc_err *err);

/* Built-in templates by name: "chatml", "llama2", "llama3", "mistral", "gemma", "phi3",
 * "zephyr". Returns the Jinja source (static), or NULL for an unknown name. */
const char *gptc_chat_builtin(const char *name);
/* The names of the built-in templates, NULL-terminated (static). */
const char *const *gptc_chat_builtin_names(void);

/* The template a model should use: its tokenizer.chat_template (borrowed from the model),
 * or, when the metadata has none, the ChatML built-in with *is_fallback = 1. */
const char *gptc_chat_model_template(const gptc_model *model, size_t *len /* OUT */,
                                     int *is_fallback /* OUT */);

/* Copy the text of the model's BOS / EOS token into buf (NUL-terminated), for gptc_chat_opts.
 * Returns buf, or NULL when the vocabulary has no such token or its text does not fit in cap. */
const char *gptc_chat_bos_text(const gptc_model *model, char *buf, size_t cap);
const char *gptc_chat_eos_text(const gptc_model *model, char *buf, size_t cap);

/* Where a reply ends: token ids that end the assistant's turn (the model's end-of-generation
 * tokens plus the template's end-of-turn marker when it is one token of the vocabulary), and
 * the end-of-turn strings to stop at when they appear in the generated text (for models whose
 * vocabulary spells the marker as plain text). */
#define GPTC_CHAT_MAX_STOPS 8
typedef struct gptc_chat_stops {
    int n_ids;
    int32_t ids[GPTC_CHAT_MAX_STOPS];
    int n_strs;
    char strs[GPTC_CHAT_MAX_STOPS][48]; /* NUL-terminated */
} gptc_chat_stops;

/* Fill *out for a model (may be NULL: strings only) and a template source. */
void gptc_chat_stops_for(const gptc_model *model, const char *src, size_t n,
                         gptc_chat_stops *out /* OUT */);

#endif
