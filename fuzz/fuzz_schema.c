/*
 * fuzz_schema.c — libFuzzer target for JSON schema -> GBNF.
 *
 * Input: a JSON schema. Compiling may fail, but only with a status. A schema that compiles must
 * give GBNF that parses (a failure there is a bug in the generator, except a grammar that is too
 * large) and a matcher that starts. Any JSON input is also checked as a value against itself as
 * a schema (gptc_schema_check, which must end fast even on $ref cycles). No crash, no leak, no
 * hang.
 * Seeds: fuzz/seeds/fuzz_schema/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/schema.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (doc) {
        gptc_schema_check(doc, doc);
        json_decref(doc);
    }
    char *g = NULL;
    size_t n = 0;
    gptc_err err;
    if (gptc_schema_to_gbnf((const char *)data, size, &g, &n, &err) != GPTC_OK) {
        if (g) __builtin_trap();
        return 0;
    }
    gptc_gbnf *gb = NULL;
    gptc_status st = gptc_gbnf_parse(g, n, NULL, &gb, &err);
    if (st != GPTC_OK && st != GPTC_E_RANGE) __builtin_trap();
    if (st == GPTC_OK) {
        gptc_gmatcher *m = NULL;
        if (gptc_gmatcher_new(gb, NULL, &m, &err) == GPTC_OK) {
            gptc_gmatcher_accept_bytes(m, (const uint8_t *)"{\"a\": [1, \"x\"]}", 15, &err);
            gptc_gmatcher_free(m);
        }
        gptc_gbnf_free(gb);
    }
    free(g);
    return 0;
}
