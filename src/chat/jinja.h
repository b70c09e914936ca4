/*
 * jinja.h — a Jinja subset interpreter for chat templates (library-internal API).
 *
 * Renders the templates that real models ship in tokenizer.chat_template byte for byte as
 * Python's Jinja2 renders them in Hugging Face transformers: an ImmutableSandboxedEnvironment
 * with trim_blocks, lstrip_blocks and the loopcontrols extension, the lenient default
 * Undefined, and the globals raise_exception(msg) and strftime_now(fmt) plus a tojson filter
 * that is json.dumps(ensure_ascii=False). Values behave as Python's do (truthiness, `+` on
 * strings and lists, comparisons, `in`, str and dict methods, repr of lists and floats).
 *
 * Safe by construction: templates can reach nothing outside the values they are given; parse
 * depth, macro recursion, loop steps, memory and output size are bounded (jinja_limits), and
 * every failure is a gptc_status with "line L col C" in the message.
 *
 * Files: gptc_jinja_lex.c (bytes -> tokens with Jinja's whitespace rules), jinja_parse.c (tokens ->
 * tree), jinja_value.c (values, Python semantics, repr, json.dumps), jinja_eval.c (the tree
 * walker), jinja_builtins.c (filters, tests, methods, global functions).
 */
#ifndef GPTC_JINJA_H
#define GPTC_JINJA_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

struct json_t;

typedef struct jinja_template jinja_template;

/* Parse n bytes of template source. OUT: *out, owned, free with gptc_jinja_template_free.
 * GPTC_E_FORMAT: syntax error or invalid UTF-8; GPTC_E_UNSUPPORTED: a construct not
 * implemented; GPTC_E_RANGE: too large or too deeply nested. */
gptc_status gptc_jinja_template_parse(const char *src, size_t n, jinja_template **out /* OUT */,
                                      gptc_err *err);
void gptc_jinja_template_free(jinja_template *t);
/* The template's source as parsed (newlines normalised); borrowed. */
const char *gptc_jinja_template_source(const jinja_template *t, size_t *n /* OUT */);

/* A variable given to a render. */
typedef enum jinja_var_type {
    JINJA_VAR_JSON, /* json: any JSON value, converted (objects keep their key order) */
    JINJA_VAR_STR,  /* s, n */
    JINJA_VAR_BOOL, /* b */
    JINJA_VAR_NONE,
} jinja_var_type;

typedef struct jinja_var {
    const char *name;
    jinja_var_type type;
    const struct json_t *json;
    const char *s;
    size_t n;
    int b;
} jinja_var;

typedef struct jinja_limits {
    size_t max_output;  /* bytes of rendered text; 16 MiB */
    size_t max_alloc;   /* bytes of values allocated over the whole render; 512 MiB */
    uint64_t max_steps; /* expression/statement evaluations and element visits; 50 M */
    uint64_t max_iters; /* loop iterations; 10 M */
    int max_calls;      /* macro call depth; 64 */
} jinja_limits;

typedef struct jinja_opts {
    jinja_limits limits;
    /* what strftime_now() sees: broken-down local time (year e.g. 2024, mon 1..12) */
    int year, mon, day, hour, min, sec;
} jinja_opts;

jinja_limits gptc_jinja_default_limits(void);

/* Render with the given variables (later entries override earlier ones of the same name).
 * OUT: *out, malloc'd and NUL-terminated (free with free()), *out_len its length. */
gptc_status gptc_jinja_render(const jinja_template *t, const jinja_var *vars, size_t n_vars,
                              const jinja_opts *opts, char **out /* OUT */,
                              size_t *out_len /* OUT */, gptc_err *err);

#endif
