/*
 * tool_grammar.h — a grammar that forces tool calls in a family's format (chat/toolcall.h),
 * with each function's arguments following its `parameters` JSON schema: what
 * tool_choice "required" or a named function compiles to.
 */
#ifndef GPTC_TOOL_GRAMMAR_H
#define GPTC_TOOL_GRAMMAR_H

#include <jansson.h>
#include <stddef.h>

#include "core/base.h"

/* Parallel calls a forcing grammar allows in one reply (a weak model would otherwise go on). */
#define GPTC_TOOL_MAX_CALLS 4

/* tools: OpenAI's array [{"type": "function", "function": {"name", "parameters"}}] (validated
 * by the caller). only: the one function allowed (NULL: any of them). parallel: one call or
 * several. src: the chat template's source (picks between variants of a format; may be NULL).
 * OUT: *prefix (malloc'd): text to append to the prompt, which the reply continues (the
 * family's opener, so that markers the vocabulary has only as control tokens need not be
 * generated); *gbnf (malloc'd) the grammar of the rest, root rule "root".
 * GPTC_E_UNSUPPORTED with a message when the format cannot be forced (and why);
 * an unsupported schema keyword as gptc_schema_gen_add reports it. */
gptc_status gptc_tool_grammar(int format, const char *src, size_t src_len, const json_t *tools,
                              const char *only, int parallel, char **prefix, char **gbnf,
                              size_t *gbnf_len, gptc_err *err);

#endif
