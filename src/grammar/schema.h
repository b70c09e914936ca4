/*
 * schema.h — JSON schema -> GBNF (see docs/agents.md for the supported keywords).
 */
#ifndef GPTC_SCHEMA_H
#define GPTC_SCHEMA_H

#include <stddef.h>

#include "core/base.h"

/* schema: JSON text. OUT: *gbnf (malloc'd, NUL-terminated, free with free()), *len. An
 * unsupported keyword is GPTC_E_UNSUPPORTED with a message naming it and where it is. */
gptc_status gptc_schema_to_gbnf(const char *schema, size_t len, char **gbnf, size_t *gbnf_len,
                                gptc_err *err);

#endif
