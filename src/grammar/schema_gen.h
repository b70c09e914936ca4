/*
 * schema_gen.h — building one GBNF grammar from several JSON schemas (the server's tools: one
 * rule per function's parameters), plus hand-written rules around them.
 */
#ifndef GPTC_SCHEMA_GEN_H
#define GPTC_SCHEMA_GEN_H

#include <jansson.h>

#include "core/base.h"

typedef struct gptc_schema_gen gptc_schema_gen;

gptc_schema_gen *gptc_schema_gen_new(gptc_err *err);
void gptc_schema_gen_free(gptc_schema_gen *s);
/* Compile schema (its $refs resolve inside it) into rules, ending with `rule ::= ...`. Rule
 * names the generator uses: r<N>, ws, char, string, number, integer, boolean, null, value,
 * object, array, date, time, uuid; pick others for `rule` and appended text. */
gptc_status gptc_schema_gen_add(gptc_schema_gen *s, json_t *schema, const char *rule,
                                gptc_err *err);
/* Append raw GBNF text (whole rules). */
void gptc_schema_gen_append(gptc_schema_gen *s, const char *text);
/* The grammar so far (borrowed, NUL-terminated). */
const char *gptc_schema_gen_text(gptc_schema_gen *s, size_t *len);

#endif
