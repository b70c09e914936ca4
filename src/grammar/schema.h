/*
 * schema.h — JSON schema -> GBNF (see docs/agents.md for the supported keywords).
 */
#ifndef GPTC_SCHEMA_H
#define GPTC_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "core/base.h"

/* schema: JSON text. OUT: *gbnf (malloc'd, NUL-terminated, free with free()), *len. An
 * unsupported keyword is GPTC_E_UNSUPPORTED with a message naming it and where it is. */
gptc_status gptc_schema_to_gbnf(const char *schema, size_t len, char **gbnf, size_t *gbnf_len,
                                gptc_err *err);

/* Does value satisfy schema (the keywords above; others do not constrain)? 1 yes, 0 no. */
int gptc_schema_check(const json_t *schema, const json_t *value);

#endif
