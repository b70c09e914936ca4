/*
 * test_batch_input.c — the Batch API input file validator (src/server/batch_input.c): a table of
 * bad lines, each reported with its code, param and 1-based line number; good files (CRLF,
 * blank lines, a missing final newline); duplicate custom_ids; one model per batch; the line
 * count and line length limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"
#include "test.h"

#define EP "/v1/chat/completions"
#define OK_LINE(id)                                                                                \
    "{\"custom_id\":\"" id "\",\"method\":\"POST\",\"url\":\"" EP "\",\"body\":{\"model\":\"m\","  \
    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}"

/* Validate text; return the errors array (owned) and the request count. */
static json_t *run(const char *text, const char *model, int max_lines, size_t max_line, int *n)
{
    json_t *errors = json_array();
    gptc_store_req *reqs = NULL;
    *n = -1;
    int rc = gptc_srv_batch_validate(text, strlen(text), EP, model, max_lines, max_line, &reqs, n,
                                     errors);
    CHECK(rc == 0, "validate returns 0");
    CHECK((json_array_size(errors) == 0) == (reqs != NULL), "requests only without errors");
    gptc_store_reqs_free(reqs, *n);
    return errors;
}

static void test_bad_lines(void)
{
    static const struct {
        const char *line, *code, *param;
    } cases[] = {
        {"not json", "invalid_json_line", NULL},
        {"[1,2]", "invalid_json_line", NULL},
        {"{\"custom_id\":\"a\",\"custom_id\":\"b\",\"method\":\"POST\"}", "invalid_json_line",
         NULL},
        {"{\"method\":\"POST\",\"url\":\"" EP "\",\"body\":{\"model\":\"m\"}}",
         "missing_required_parameter", "custom_id"},
        {"{\"custom_id\":\"\",\"method\":\"POST\",\"url\":\"" EP "\",\"body\":{\"model\":\"m\"}}",
         "invalid_value", "custom_id"},
        {"{\"custom_id\":5,\"method\":\"POST\",\"url\":\"" EP "\",\"body\":{\"model\":\"m\"}}",
         "invalid_value", "custom_id"},
        {"{\"custom_id\":\"a\",\"method\":\"GET\",\"url\":\"" EP "\",\"body\":{\"model\":\"m\"}}",
         "invalid_method", "method"},
        {"{\"custom_id\":\"a\",\"url\":\"" EP "\",\"body\":{\"model\":\"m\"}}", "invalid_method",
         "method"},
        {"{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":"
         "\"m\"}}",
         "invalid_url", "url"},
        {"{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"" EP "\"}",
         "missing_required_parameter", "body"},
        {"{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"" EP "\",\"body\":\"x\"}",
         "invalid_value", "body"},
        {"{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"" EP "\",\"body\":{}}",
         "missing_required_parameter", "body.model"},
        {"{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"" EP "\",\"body\":{\"model\":\"z\"}}",
         "model_not_found", "body.model"},
        {"{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"" EP "\",\"body\":{\"model\":\"m\","
         "\"stream\":true}}",
         "invalid_value", "body.stream"},
        {"{\"custom_id\":\"a\xff\",\"method\":\"POST\"}", "invalid_json_line", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s\n%s\n", OK_LINE("first"), cases[i].line);
        int n;
        json_t *errors = run(text, "m", 100, 4096, &n);
        json_t *e = json_array_get(errors, 0);
        const char *code = json_string_value(json_object_get(e, "code"));
        const json_t *param = json_object_get(e, "param");
        CHECK(json_array_size(errors) == 1, "case %zu: one error (%zu)", i,
              json_array_size(errors));
        CHECK(code && strcmp(code, cases[i].code) == 0, "case %zu: code %s, want %s", i,
              code ? code : "-", cases[i].code);
        CHECK(cases[i].param
                  ? json_is_string(param) && strcmp(json_string_value(param), cases[i].param) == 0
                  : json_is_null(param),
              "case %zu: param", i);
        CHECK(json_integer_value(json_object_get(e, "line")) == 2, "case %zu: line 2", i);
        CHECK(json_is_string(json_object_get(e, "message")), "case %zu: a message", i);
        json_decref(errors);
    }
}

static void test_files(void)
{
    int n;
    /* good: CRLF, blank lines, no final newline */
    json_t *errors = run(OK_LINE("a") "\r\n\r\n  \n" OK_LINE("b"), "m", 100, 4096, &n);
    CHECK(json_array_size(errors) == 0 && n == 2, "two requests (%d)", n);
    json_decref(errors);
    /* duplicate custom_ids: the later line is reported */
    errors = run(OK_LINE("a") "\n" OK_LINE("b") "\n" OK_LINE("a") "\n", "m", 100, 4096, &n);
    json_t *e = json_array_get(errors, 0);
    CHECK(json_array_size(errors) == 1 &&
              strcmp(json_string_value(json_object_get(e, "code")), "duplicate_custom_id") == 0 &&
              json_integer_value(json_object_get(e, "line")) == 3,
          "duplicate custom_id on line 3");
    json_decref(errors);
    /* one model per batch when the server does not fix it (offline) */
    errors = run(OK_LINE("a") "\n{\"custom_id\":\"b\",\"method\":\"POST\",\"url\":\"" EP
                              "\",\"body\":{\"model\":\"other\"}}\n",
                 NULL, 100, 4096, &n);
    e = json_array_get(errors, 0);
    CHECK(json_array_size(errors) == 1 &&
              strcmp(json_string_value(json_object_get(e, "code")), "mismatched_model") == 0,
          "mismatched model");
    json_decref(errors);
    /* empty */
    errors = run("\n\n", "m", 100, 4096, &n);
    e = json_array_get(errors, 0);
    CHECK(json_array_size(errors) == 1 &&
              strcmp(json_string_value(json_object_get(e, "code")), "empty_file") == 0,
          "empty file");
    json_decref(errors);
    /* too many lines */
    errors = run(OK_LINE("a") "\n" OK_LINE("b") "\n" OK_LINE("c") "\n", "m", 2, 4096, &n);
    e = json_array_get(errors, 0);
    CHECK(json_array_size(errors) == 1 &&
              strcmp(json_string_value(json_object_get(e, "code")), "too_many_requests") == 0 &&
              json_integer_value(json_object_get(e, "line")) == 3,
          "too many requests");
    json_decref(errors);
    /* a line too long */
    errors = run(OK_LINE("a") "\n" OK_LINE("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb") "\n",
                 "m", 100, 140, &n);
    e = json_array_get(errors, 0);
    CHECK(json_array_size(errors) == 1 &&
              strcmp(json_string_value(json_object_get(e, "code")), "line_too_long") == 0 &&
              json_integer_value(json_object_get(e, "line")) == 2,
          "line too long");
    json_decref(errors);
    /* many bad lines: every one reported (up to the cap), the good ones not */
    char big[20000];
    size_t off = 0;
    for (int i = 0; i < 50; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "%s\n", i % 2 ? "x" : OK_LINE("z"));
    errors = run(big, "m", 1000, 4096, &n);
    CHECK(json_array_size(errors) == 49, "49 errors: 25 bad lines, 24 duplicates (%zu)",
          json_array_size(errors));
    json_decref(errors);
    /* NUL bytes inside a line */
    const char nul[] = "{\"custom_id\":\"a\0b\"}\n";
    json_t *errs = json_array();
    gptc_store_req *reqs;
    int rc = gptc_srv_batch_validate(nul, sizeof nul - 1, EP, "m", 10, 4096, &reqs, &n, errs);
    CHECK(rc == 0 && json_array_size(errs) == 1, "a NUL byte is an invalid line");
    json_decref(errs);
}

int main(void)
{
    test_bad_lines();
    test_files();
    return test_summary();
}
