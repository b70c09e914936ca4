/*
 * fuzz_jinja.c — libFuzzer target for the chat-template engine: parse arbitrary bytes as a
 * Jinja template and render it over a fixed small conversation (with tool calls, a tools list,
 * BOS/EOS, an extra variable). The first input byte picks variations (generation prompt on or
 * off, tools or none), the rest is the template.
 *
 * Anything may fail, but only with a status: no crash, no sanitizer report, no leak, no hang.
 * The limits are the default ones scaled down (steps, iterations, memory, output) so each
 * input runs in milliseconds; the bounding code is the same. Checks on success: the output
 * length is within the limit and NUL-terminated.
 * Seeds: fuzz/seeds/fuzz_jinja/ (the feature cases of tests/fixtures/jinja_features.jsonl and
 * the built-in templates).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja.h"
#include "fuzz.h"

static const char k_messages[] =
    "[{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Weather in Paris? caf\\u00e9 \\ud83d\\ude42\"},"
    " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"call00001\","
    "   \"type\": \"function\", \"function\": {\"name\": \"get_weather\","
    "   \"arguments\": {\"location\": \"Paris\"}}}]},"
    " {\"role\": \"tool\", \"tool_call_id\": \"call00001\", \"content\": \"{\\\"temp\\\": 21}\"},"
    " {\"role\": \"assistant\", \"content\": \"  <think>\\nok\\n</think>\\n21 degrees.\\t\"},"
    " {\"role\": \"user\", \"content\": \"\"}]";

static const char k_tools[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": "
    "\"Weather\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\","
    " \"enum\": [\"Paris\", 1, 2.5, true, null]}}, \"required\": [\"location\"]}}}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    const char *src = (const char *)data + 1;
    size_t n = size - 1;

    jinja_template *t = NULL;
    gptc_err err;
    if (gptc_jinja_template_parse(src, n, &t, &err) != GPTC_OK) {
        if (err.status == GPTC_OK || !err.msg[0]) __builtin_trap(); /* a failure says why */
        return 0;
    }

    json_t *messages = json_loads(k_messages, 0, NULL);
    json_t *tools = json_loads(k_tools, 0, NULL);
    json_t *extra =
        json_pack("{s:b, s:[i, f, s]}", "enable_thinking", flags & 4, "nums", 1, 0.5, "x");
    if (!messages || !tools || !extra) __builtin_trap();

    jinja_var vars[8];
    size_t nv = 0;
    vars[nv++] = (jinja_var){.name = "messages", .type = JINJA_VAR_JSON, .json = messages};
    vars[nv++] = (flags & 2) ? (jinja_var){.name = "tools", .type = JINJA_VAR_JSON, .json = tools}
                             : (jinja_var){.name = "tools", .type = JINJA_VAR_NONE};
    vars[nv++] = (jinja_var){.name = "documents", .type = JINJA_VAR_NONE};
    vars[nv++] =
        (jinja_var){.name = "add_generation_prompt", .type = JINJA_VAR_BOOL, .b = flags & 1};
    vars[nv++] = (jinja_var){.name = "bos_token", .type = JINJA_VAR_STR, .s = "<s>", .n = 3};
    vars[nv++] = (jinja_var){.name = "eos_token", .type = JINJA_VAR_STR, .s = "</s>", .n = 4};
    vars[nv++] = (jinja_var){.name = "extra", .type = JINJA_VAR_JSON, .json = extra};

    jinja_opts o;
    memset(&o, 0, sizeof o);
    o.limits = gptc_jinja_default_limits();
    o.limits.max_steps = 200000;
    o.limits.max_iters = 50000;
    o.limits.max_alloc = (size_t)64 << 20;
    o.limits.max_output = (size_t)1 << 20;
    o.year = 2024;
    o.mon = 7;
    o.day = 26;
    char *out = NULL;
    size_t out_len = 0;
    gptc_status st = gptc_jinja_render(t, vars, nv, &o, &out, &out_len, &err);
    if (st == GPTC_OK) {
        if (!out || out_len > o.limits.max_output || out[out_len] != '\0') __builtin_trap();
    } else if (!err.msg[0] || out) {
        __builtin_trap();
    }
    free(out);
    gptc_jinja_template_free(t);
    json_decref(messages);
    json_decref(tools);
    json_decref(extra);
    return 0;
}
