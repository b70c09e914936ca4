/*
 * test_toolcall.c — tool-call formats (src/chat/toolcall.c) against the real templates in
 * ../shared/data/chat-templates/real/: for every template that renders tool calls, an assistant
 * message carrying tool_calls is rendered by the template itself, the reply is what follows the
 * prompt of the conversation without it, and the parser, fed that reply in one piece, byte by
 * byte and in 60 random chunkings, must give back the same calls (names and arguments) and the
 * same content. Plus detection, a table of bad replies (given back as content, no call), and the
 * function-name filter.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/toolcall.h"
#include "grammar/grammar.h"
#include "grammar/tool_grammar.h"
#include "test.h"

typedef struct got {
    char text[2][8192];
    size_t n[2];
    json_t *calls; /* [{"name", "arguments"(text)}] */
} got;

static void on_ev(void *ud, int ev, int idx, const char *t, size_t n)
{
    got *g = ud;
    if (ev == GPTC_TC_EV_CONTENT || ev == GPTC_TC_EV_REASONING) {
        if (g->n[ev] + n < sizeof g->text[ev]) memcpy(g->text[ev] + g->n[ev], t, n);
        g->n[ev] += n;
        return;
    }
    if (ev == GPTC_TC_EV_NAME) {
        CHECK(idx == (int)json_array_size(g->calls), "call index %d", idx);
        json_array_append_new(g->calls, json_pack("{s:s%, s:s}", "name", t, n, "arguments", ""));
        return;
    }
    json_t *c = json_array_get(g->calls, json_array_size(g->calls) - 1);
    CHECK(c && idx == (int)json_array_size(g->calls) - 1, "args for call %d", idx);
    if (!c) return;
    const char *a = json_string_value(json_object_get(c, "arguments"));
    char *s = malloc(strlen(a) + n + 1);
    memcpy(s, a, strlen(a));
    memcpy(s + strlen(a), t, n);
    s[strlen(a) + n] = 0;
    json_object_set_new(c, "arguments", json_string(s));
    free(s);
}

/* Parse text with chunk size policy: 0 whole, 1 bytes, 2 random. */
static void parse(const gptc_toolcall_opts *o, const char *t, size_t n, int how, got *g)
{
    memset(g->n, 0, sizeof g->n);
    g->calls = json_array();
    gptc_toolcall_parser *p;
    gptc_err err;
    if (gptc_toolcall_new(o, &p, &err)) {
        CHECK(0, "new: %s", err.msg);
        return;
    }
    size_t i = 0;
    while (i < n) {
        size_t k = how == 0 ? n - i : how == 1 ? 1 : 1 + test_rnd_u32() % 24;
        if (k > n - i) k = n - i;
        gptc_toolcall_feed(p, t + i, k, on_ev, g);
        i += k;
    }
    gptc_toolcall_finish(p, on_ev, g);
    gptc_toolcall_free(p);
}

static int same(const got *a, const got *b)
{
    for (int k = 0; k < 2; k++)
        if (a->n[k] != b->n[k] || memcmp(a->text[k], b->text[k], a->n[k] < 8192 ? a->n[k] : 8192))
            return 0;
    return json_equal(a->calls, b->calls);
}

/* The calls match the expected ones: names, and arguments equal as JSON. */
static int calls_match(const json_t *got_calls, const json_t *want)
{
    if (json_array_size(got_calls) != json_array_size(want)) return 0;
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *g = json_array_get(got_calls, i), *w = json_array_get(want, i);
        if (strcmp(json_string_value(json_object_get(g, "name")),
                   json_string_value(json_object_get(w, "name"))))
            return 0;
        json_t *ga = json_loads(json_string_value(json_object_get(g, "arguments")), 0, NULL);
        int ok = ga && json_equal(ga, json_object_get(w, "arguments"));
        json_decref(ga);
        if (!ok) return 0;
    }
    return 1;
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

static const char k_tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
    "\"required\":[\"city\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"get_time\","
    "\"description\":\"Time\",\"parameters\":{\"type\":\"object\",\"properties\":{\"tz\":{"
    "\"type\":\"string\"},\"n\":{\"type\":\"integer\"}}}}}]";

/* Render the reply of a template's assistant tool-call turn; 0 if the template writes none. */
static int template_case(const char *name, const char *src, size_t n, int *n_tested)
{
    gptc_chat_template *t;
    gptc_err err;
    if (gptc_chat_template_init(src, n, &t, &err)) {
        CHECK(0, "%s: %s", name, err.msg);
        return 0;
    }
    int fmt = gptc_toolcall_detect(src, n);
    json_t *tools = json_loads(k_tools, 0, NULL);
    json_t *want_all = json_loads("[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris "
                                  "\\\"6e\\\" <b>\"}},{\"name\":\"get_time\",\"arguments\":{\"tz\":"
                                  "\"CET\",\"n\":1}}]",
                                  0, NULL);
    gptc_chat_opts co = gptc_chat_default_opts();
    co.bos_token = "<s>";
    co.eos_token = "</s>";
    co.date = "2024-07-26";
    int done = 0;
    /* content null as OpenAI sends it, then ""; arguments as objects, then as JSON text (the
     * templates that concatenate them); two calls, then one (templates that allow one) */
    for (int variant = 0; variant < 8 && !done; variant++) {
        int null_content = variant < 4, str_args = variant % 4 >= 2, ncalls = variant % 2 ? 1 : 2;
        json_t *want = json_array();
        json_t *tc = json_array();
        for (int i = 0; i < ncalls; i++) {
            json_t *w = json_array_get(want_all, (size_t)i);
            json_array_append(want, w);
            json_t *args = json_object_get(w, "arguments");
            json_t *a = json_incref(args);
            if (str_args) {
                char *s = json_dumps(args, 0);
                json_decref(a);
                a = json_string(s);
                free(s);
            }
            json_array_append_new(tc, json_pack("{s:s, s:s, s:{s:O, s:o}}", "id",
                                                i ? "def123456" : "abc123456", "type", "function",
                                                "function", "name", json_object_get(w, "name"),
                                                "arguments", a));
        }
        json_t *user = json_pack("[{s:s, s:s}]", "role", "user", "content", "Weather in Paris?");
        json_t *full = json_deep_copy(user);
        json_array_append_new(full, json_pack("{s:s, s:o, s:o}", "role", "assistant", "content",
                                              null_content ? json_null() : json_string(""),
                                              "tool_calls", tc));
        char *a = NULL, *b = NULL;
        size_t an = 0, bn = 0;
        co.add_generation_prompt = 1;
        int ok = !gptc_chat_render_json(t, user, tools, &co, &a, &an, &err);
        co.add_generation_prompt = 0;
        ok = ok && !gptc_chat_render_json(t, full, tools, &co, &b, &bn, &err);
        if (ok) {
            size_t i = 0;
            while (i < an && i < bn && a[i] == b[i])
                i++;
            while (i > 0 && i < an && !strchr(">\n]", b[i - 1])) /* inside a tag */
                i--;
            /* the reply: cut at the end-of-turn marker */
            gptc_chat_stops stops;
            gptc_chat_stops_for(NULL, src, n, &stops);
            size_t end = bn;
            for (int s = 0; s <= stops.n_strs; s++) {
                const char *m = s < stops.n_strs ? stops.strs[s] : "</s>";
                if (!strcmp(m, "<|call|>")) continue;
                const char *hit = strstr(b + i, m);
                if (hit && (size_t)(hit - b) < end) end = (size_t)(hit - b);
            }
            char reply[8192];
            size_t rn = 0;
            int think = gptc_toolcall_prompt_opens_think(a, an) ? 2 : 1;
            const char *thought = "I will call the tools.\n";
            if (think == 2 && !strstr(b + i, "</think>"))
                rn = (size_t)snprintf(reply, sizeof reply, "%s</think>\n\n", thought);
            if (end - i + rn < sizeof reply) {
                memcpy(reply + rn, b + i, end - i);
                rn += end - i;
            }
            gptc_toolcall_opts o = {.format = fmt, .think = think};
            got g0, g1, g2;
            parse(&o, reply, rn, 0, &g0);
            int match = calls_match(g0.calls, want);
            /* some templates render only the first call (gpt-oss): try the next variant */
            if (!match && variant < 7 && json_array_size(g0.calls) > 0) {
                json_decref(g0.calls);
                free(a);
                free(b);
                json_decref(user);
                json_decref(full);
                json_decref(want);
                continue;
            }
            char *dump = json_dumps(g0.calls, 0);
            CHECK(match, "%s (format %s, variant %d): calls %s\nreply: %.*s", name,
                  gptc_toolcall_format_name(fmt), variant, dump, (int)rn, reply);
            free(dump);
            const char *op = fmt == GPTC_TC_MISTRAL || fmt == GPTC_TC_MISTRAL_ARGS ? "[TOOL_CALLS]"
                             : fmt == GPTC_TC_HARMONY                              ? "functions."
                                                                                   : "tool_call";
            CHECK(!memmem(g0.text[0], g0.n[0], op, strlen(op)), "%s: content holds the call: %.*s",
                  name, (int)g0.n[0], g0.text[0]);
            parse(&o, reply, rn, 1, &g1);
            CHECK(same(&g0, &g1), "%s: byte by byte differs", name);
            json_decref(g1.calls);
            for (int seed = 0; seed < 60; seed++) {
                parse(&o, reply, rn, 2, &g2);
                int eq = same(&g0, &g2);
                json_decref(g2.calls);
                if (!eq) {
                    CHECK(0, "%s: chunking %d differs", name, seed);
                    break;
                }
            }
            printf("%-45s %-12s variant %d: %zu call(s)\n", name, gptc_toolcall_format_name(fmt),
                   variant, json_array_size(g0.calls));
            json_decref(g0.calls);
            done = 1;
            (*n_tested)++;
        }
        free(a);
        free(b);
        json_decref(user);
        json_decref(full);
        json_decref(want);
    }
    if (!done) CHECK(0, "%s: no variant rendered (%s)", name, err.msg);
    json_decref(tools);
    json_decref(want_all);
    gptc_chat_template_free(t);
    return done;
}

/* clang-format off */
static const struct { int fmt; const char *text; } k_bad[] = {
    {GPTC_TC_HERMES, "<tool_call>{bad json</tool_call>"},
    {GPTC_TC_HERMES, "<tool_call>{\"name\": 3, \"arguments\": {}}</tool_call>"},
    {GPTC_TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>"},
    {GPTC_TC_HERMES, "<tool_call>{\"name\": \"\", \"arguments\": {}}</tool_call>"},
    {GPTC_TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": \"{not json\"}</tool_call>"},
    {GPTC_TC_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": {}"},
    {GPTC_TC_HERMES, "<tool_call>[]</tool_call>"},
    {GPTC_TC_HERMES, "<tool_call></tool_call>"},
    {GPTC_TC_HERMES, "text <tool_call"},
    {GPTC_TC_QWEN3_XML, "<tool_call>\n<function=f>\n<parameter=a>\n1\n</function>\n</tool_call>"},
    {GPTC_TC_QWEN3_XML, "<tool_call>\n<function=f>\n<parameter=a>1</parameter>\nx</function></tool_call>"},
    {GPTC_TC_QWEN3_XML, "<tool_call><function=f></tool_call>"},
    {GPTC_TC_GLM, "<tool_call>f<arg_key>a</arg_key>1</tool_call>"},
    {GPTC_TC_LLAMA3, "{\"name\": \"f\"  oops"},
    {GPTC_TC_LLAMA3, "{\"answer\": 42}"},
    {GPTC_TC_LLAMA3, "<|python_tag|>not json"},
    {GPTC_TC_MISTRAL, "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {}}] trailing"},
    {GPTC_TC_MISTRAL, "[TOOL_CALLS]garbage"},
    {GPTC_TC_MISTRAL_ARGS, "[TOOL_CALLS]f[ARGS]{"},
    {GPTC_TC_MISTRAL_ARGS, "[TOOL_CALLS][ARGS]{}"},
    {GPTC_TC_DEEPSEEK, "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>nothing"},
    {GPTC_TC_DSML, "<\xef\xbd\x9c" "DSML\xef\xbd\x9c" "function_calls>\n<x>"},
    {GPTC_TC_GEMMA4, "<|tool_call>call:f{a:<|\"|>unterminated}<tool_call|>"},
    {GPTC_TC_GEMMA4, "<|tool_call>f{a:1}<tool_call|>"},
    {GPTC_TC_COMMAND_R, "<|START_ACTION|>[{\"tool_name\": 1}]<|END_ACTION|>"},
    {GPTC_TC_FUNCTIONARY, "f\n{oops"},
    {GPTC_TC_HARMONY, "<|channel|>commentary to=functions.f<|constrain|>json<|message|>{x<|call|>"},
};
/* clang-format on */

static void bad_table(void)
{
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        gptc_toolcall_opts o = {.format = k_bad[i].fmt};
        const char *t = k_bad[i].text;
        got g;
        parse(&o, t, strlen(t), 0, &g);
        CHECK(json_array_size(g.calls) == 0, "bad %zu (%s): gave a call %s", i, t,
              json_dumps(g.calls, 0));
        if (k_bad[i].fmt != GPTC_TC_HARMONY)
            CHECK(g.n[0] == strlen(t) && !memcmp(g.text[0], t, g.n[0]),
                  "bad %zu: content '%.*s' is not the text", i, (int)g.n[0], g.text[0]);
        else
            CHECK(g.n[0] > 0, "bad %zu: no content", i);
        got g2;
        parse(&o, t, strlen(t), 1, &g2);
        CHECK(same(&g, &g2), "bad %zu: byte by byte differs", i);
        json_decref(g.calls); /* after the comparison: same() reads both */
        json_decref(g2.calls);
    }
}

static void names_and_misc(void)
{
    const char *names[] = {"get_weather"};
    gptc_toolcall_opts o = {.format = GPTC_TC_HERMES, .names = names, .n_names = 1};
    const char *t = "Hi <tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>";
    got g;
    parse(&o, t, strlen(t), 0, &g);
    CHECK(json_array_size(g.calls) == 0 && g.n[0] == strlen(t), "unknown name is content");
    json_decref(g.calls);
    t = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}</tool_call>";
    parse(&o, t, strlen(t), 1, &g);
    CHECK(json_array_size(g.calls) == 1 && g.n[0] == 0, "known name is a call");
    json_decref(g.calls);
    /* reasoning */
    gptc_toolcall_opts ot = {.format = GPTC_TC_HERMES, .think = 1};
    t = "\n<think>hmm <b></think>The answer.";
    parse(&ot, t, strlen(t), 1, &g);
    CHECK(g.n[1] == 7 && !memcmp(g.text[1], "hmm <b>", 7), "reasoning");
    CHECK(g.n[0] == 11 && !memcmp(g.text[0], "The answer.", 11), "content after reasoning");
    json_decref(g.calls);
    t = "No thinking.";
    parse(&ot, t, strlen(t), 1, &g);
    CHECK(g.n[1] == 0 && g.n[0] == strlen(t), "no think block");
    json_decref(g.calls);
    /* llama3: plain text is content, a JSON reply is a call */
    gptc_toolcall_opts ol = {.format = GPTC_TC_LLAMA3};
    t = "Paris is sunny {\"name\": \"x\", \"parameters\": {}}";
    parse(&ol, t, strlen(t), 1, &g);
    CHECK(json_array_size(g.calls) == 0 && g.n[0] == strlen(t), "llama3 text first");
    json_decref(g.calls);
    t = " {\"name\": \"x\", \"parameters\": {\"a\": [1, {\"b\": null}]}}";
    parse(&ol, t, strlen(t), 1, &g);
    CHECK(json_array_size(g.calls) == 1, "llama3 JSON reply");
    json_decref(g.calls);
    /* detection and names */
    CHECK(gptc_toolcall_detect("{{ messages }}", 14) == GPTC_TC_NONE, "none");
    for (int f = 0; f < GPTC_TC_COUNT; f++)
        CHECK(gptc_toolcall_format_from_name(gptc_toolcall_format_name(f)) == f, "name %d", f);
    CHECK(gptc_toolcall_format_from_name("nope") == -1, "unknown format name");
}

/* Random sentences of each format's forcing grammar (a random walk over the bytes the matcher
 * accepts, leaning towards closing characters), fed to the parser after the prefix: every one
 * must give calls (and only calls) of the given functions, arguments a JSON object. */
static void tool_grammars(void)
{
    json_t *tools = json_loads(k_tools, 0, NULL);
    static const unsigned char k_extra[] = {0xEF, 0xBD, 0x9C, 0xE2, 0x96, 0x81};
    unsigned char cand[128];
    int nc = 0;
    cand[nc++] = '\n';
    for (int c = 0x20; c < 0x7f; c++)
        cand[nc++] = (unsigned char)c;
    for (size_t i = 0; i < sizeof k_extra; i++)
        cand[nc++] = k_extra[i];
    for (int fmt = 0; fmt < GPTC_TC_COUNT; fmt++) {
        for (int mode = 0; mode < 3; mode++) { /* required+parallel, required, named */
            char *prefix, *gbnf;
            size_t glen;
            gptc_err err;
            const char *only = mode == 2 ? "get_time" : NULL;
            gptc_status st = gptc_tool_grammar(fmt, "```json", 7, tools, only, mode == 0, &prefix,
                                               &gbnf, &glen, &err);
            if (fmt == GPTC_TC_GEMMA4 || (fmt == GPTC_TC_HARMONY && !only)) {
                CHECK(st == GPTC_E_UNSUPPORTED, "%s: expected unsupported",
                      gptc_toolcall_format_name(fmt));
                continue;
            }
            CHECK(st == GPTC_OK, "%s: %s", gptc_toolcall_format_name(fmt), err.msg);
            if (st) continue;
            gptc_gbnf *g = NULL;
            gptc_gmatcher *m = NULL;
            st = gptc_gbnf_parse(gbnf, glen, NULL, &g, &err);
            CHECK(st == GPTC_OK, "%s: grammar: %s\n%s", gptc_toolcall_format_name(fmt), err.msg,
                  gbnf);
            if (!st) st = gptc_gmatcher_new(g, NULL, &m, &err);
            int ended = 0;
            for (int sample = 0; !st && sample < 40; sample++) {
                gptc_gmatcher_reset(m);
                char text[8192];
                size_t n = strlen(prefix);
                memcpy(text, prefix, n);
                size_t start = n;
                while (n < sizeof text - 8 && !gptc_gmatcher_must_end(m)) {
                    if (gptc_gmatcher_can_end(m) && test_rnd_u32() % 4 == 0) break;
                    unsigned char ok[128];
                    int nok = 0, nclose = 0;
                    unsigned char close[128];
                    for (int i = 0; i < nc; i++)
                        if (gptc_gmatcher_would_accept(m, &cand[i], 1)) {
                            ok[nok++] = cand[i];
                            if (strchr("\"}]<>\n", cand[i])) close[nclose++] = cand[i];
                        }
                    if (!nok) break;
                    unsigned char c = nclose && test_rnd_u32() % 3
                                          ? close[test_rnd_u32() % (uint32_t)nclose]
                                          : ok[test_rnd_u32() % (uint32_t)nok];
                    gptc_gmatcher_accept_bytes(m, &c, 1, &err);
                    text[n++] = (char)c;
                }
                if (!gptc_gmatcher_can_end(m)) continue;
                ended++;
                gptc_toolcall_opts o = {.format = fmt};
                const char *names[] = {"get_weather", "get_time"};
                o.names = only ? names + 1 : names;
                o.n_names = only ? 1 : 2;
                got gg;
                parse(&o, text, n, 2, &gg);
                size_t ncalls = json_array_size(gg.calls);
                int blank = 1;
                for (size_t i = 0; i < gg.n[0]; i++)
                    if (!strchr(" \n", gg.text[0][i])) blank = 0;
                CHECK(ncalls >= 1 && (mode == 0 || ncalls == 1) && blank,
                      "%s mode %d: %zu calls, content '%.*s' from: %.*s",
                      gptc_toolcall_format_name(fmt), mode, ncalls, (int)gg.n[0], gg.text[0],
                      (int)(n - start), text + start);
                json_decref(gg.calls);
            }
            CHECK(ended >= 10, "%s mode %d: only %d samples ended", gptc_toolcall_format_name(fmt),
                  mode, ended);
            gptc_gmatcher_free(m);
            gptc_gbnf_free(g);
            free(prefix);
            free(gbnf);
        }
    }
    json_decref(tools);
}

/* A format whose next call opens with the marker that ends this one: the marker inside an
 * argument string is part of the string (found by the random grammar walk below). */
static void test_marker_in_string(void)
{
    static const struct {
        int fmt;
        const char *text, *args;
    } k[] = {
        {GPTC_TC_FUNCTIONARY, ">>>f\n{\"a\": \"x>>>y\\\">>>\"}>>>f\n{}",
         "{\"a\":\"x>>>y\\\">>>\"}"},
        {GPTC_TC_MISTRAL_ARGS, "[TOOL_CALLS]f[ARGS]{\"a\": \"[TOOL_CALLS]\"}[TOOL_CALLS]f[ARGS]{}",
         "{\"a\":\"[TOOL_CALLS]\"}"},
    };
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        for (int how = 0; how < 3; how++) {
            gptc_toolcall_opts o = {.format = k[i].fmt};
            got g;
            parse(&o, k[i].text, strlen(k[i].text), how, &g);
            json_t *a0 = json_loads(
                json_string_value(json_object_get(json_array_get(g.calls, 0), "arguments")), 0,
                NULL);
            json_t *want = json_loads(k[i].args, 0, NULL);
            CHECK(json_array_size(g.calls) == 2 && a0 && json_equal(a0, want) && g.n[0] == 0,
                  "%s: marker inside a string: %zu calls, content '%.*s'", k[i].text,
                  json_array_size(g.calls), (int)g.n[0], g.text[0]);
            json_decref(a0);
            json_decref(want);
            json_decref(g.calls);
        }
}

/* tool_choice "auto": the calls' grammar engages lazily at the opener. A small vocabulary with
 * the opener as one token and in pieces; before it the text is free, after it the reply can
 * only be calls whose arguments follow the schema; inside <think> the opener is only text. */
static void lazy_grammar(void)
{
    /* clang-format off */
    static const char *const k_toks[] = {
        "<tool_call>", "<tool", "_call>", "_call>xyz", "Hello", " world", "<think>", "</think>",
        "\n", "{\"", "\"", ": ", ", ", "}", "name", "arguments", "get_weather", "city", "unit",
        "Paris", "celsius", "fahrenheit", " ", "</tool_call>", "ok", "\n<",
    };
    /* clang-format on */
    enum { NK = sizeof k_toks / sizeof *k_toks, NV = NK + 96 + 1 };
    const uint8_t *bytes[NV];
    size_t lens[NV];
    uint8_t eog[NV] = {0};
    uint8_t ascii[96];
    for (int i = 0; i < NK; i++) {
        bytes[i] = (const uint8_t *)k_toks[i];
        lens[i] = strlen(k_toks[i]);
    }
    for (int c = 0; c < 96; c++) { /* every printable character, and a newline as 127 */
        ascii[c] = (uint8_t)(c == 95 ? '\n' : 32 + c);
        bytes[NK + c] = &ascii[c];
        lens[NK + c] = 1;
    }
    bytes[NV - 1] = NULL;
    lens[NV - 1] = 0;
    eog[NV - 1] = 1;
    gptc_err err;
    gptc_gvocab *v = NULL;
    gptc_status st = gptc_gvocab_new(NV, bytes, lens, eog, &v, &err);
    CHECK(st == GPTC_OK, "lazy: vocab: %s", err.msg);
    if (st) return;
    json_t *tools = json_loads(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{"
        "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":8},"
        "\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"city\",\"unit\"],"
        "\"additionalProperties\":false}}}]",
        0, NULL);
    char *prefix = NULL, *gbnf = NULL;
    size_t glen = 0;
    st = gptc_tool_grammar(GPTC_TC_HERMES, NULL, 0, tools, NULL, 1, &prefix, &gbnf, &glen, &err);
    CHECK(st == GPTC_OK && !strcmp(prefix, "<tool_call>"), "lazy: tool grammar: %s",
          st ? err.msg : prefix);
    float lg[NV];
    const char *names[] = {"get_weather"};
    gptc_toolcall_opts o = {.format = GPTC_TC_HERMES, .names = names, .n_names = 1};
    for (int run = 0; run < 30 && !st; run++) {
        gptc_grammar *g = NULL;
        st = gptc_grammar_from_gbnf(v, gbnf, glen, NULL, &g, &err);
        CHECK(st == GPTC_OK, "lazy: grammar: %s", err.msg);
        if (st) break;
        int how = run % 5; /* 0 one token, 1 pieces, 2 inside think first, 3 runs on, 4 id */
        CHECK(gptc_grammar_set_lazy(g, prefix, strlen(prefix), how == 4 ? 0 : -1, how == 2, &err) ==
                  GPTC_OK,
              "lazy: set: %s", err.msg);
        char text[4096];
        size_t n = 0;
        int seq[8], ns = 0;
        seq[ns++] = 4;                              /* Hello */
        seq[ns++] = 5;                              /*  world */
        if (how == 2) seq[ns++] = 0, seq[ns++] = 7; /* <tool_call> inside think, </think> */
        if (how == 1 || how == 3)
            seq[ns++] = 1, seq[ns++] = how == 1 ? 2 : 3;
        else
            seq[ns++] = 0;
        for (int i = 0; i < ns; i++) {
            int engaged_before = gptc_grammar_engaged(g);
            for (int k = 0; k < NV; k++)
                lg[k] = 0;
            CHECK(gptc_grammar_apply(g, lg, &err) == GPTC_OK, "lazy: apply");
            int masked = 0;
            for (int k = 0; k < NV; k++)
                masked += lg[k] != 0;
            CHECK(engaged_before || masked == 0, "lazy %d: free text was masked (%d)", how, masked);
            CHECK(!gptc_grammar_must_end(g) && gptc_grammar_can_end(g), "lazy %d: may end", how);
            CHECK(gptc_grammar_accept(g, seq[i], &err) == GPTC_OK, "lazy %d: accept: %s", how,
                  err.msg);
            memcpy(text + n, bytes[seq[i]], lens[seq[i]]);
            n += lens[seq[i]];
        }
        if (how == 3) { /* "_call>xyz": the opener, then text no call can start with */
            CHECK(!gptc_grammar_engaged(g), "lazy: a run-on opener leaves the text free");
            gptc_grammar_free(g);
            continue;
        }
        CHECK(gptc_grammar_engaged(g), "lazy %d: engaged after the opener", how);
        /* generate under the grammar */
        int steps = 0;
        while (steps++ < 400 && !gptc_grammar_must_end(g)) {
            for (int k = 0; k < NV; k++)
                lg[k] = 0;
            if (gptc_grammar_apply(g, lg, &err)) {
                CHECK(0, "lazy %d: apply: %s", how, err.msg);
                break;
            }
            if (steps == 1) /* after the opener: only a newline (then the call's JSON) */
                CHECK(lg[4] < 0 && lg[0] < 0 && lg[22] < 0 && lg[8] == 0,
                      "lazy %d: free text masked once engaged", how);
            int ok[NV], nok = 0;
            for (int k = 0; k < NV; k++)
                if (lg[k] == 0) ok[nok++] = k;
            if (!nok) break;
            int id = ok[test_rnd_u32() % (uint32_t)nok];
            if (eog[id]) break;
            if (gptc_grammar_accept(g, id, &err)) {
                CHECK(0, "lazy %d: accept: %s", how, err.msg);
                break;
            }
            if (n + lens[id] < sizeof text) {
                memcpy(text + n, bytes[id], lens[id]);
                n += lens[id];
            }
        }
        CHECK(gptc_grammar_can_end(g), "lazy %d: the calls end", how);
        got gt;
        o.think = how == 2 ? 2 : 0;
        parse(&o, text, n, 0, &gt);
        CHECK(json_array_size(gt.calls) >= 1, "lazy %d: no call in '%.*s'", how, (int)n, text);
        for (size_t c = 0; c < json_array_size(gt.calls); c++) {
            json_t *cj = json_array_get(gt.calls, c);
            json_t *args = json_loads(json_string_value(json_object_get(cj, "arguments")), 0, NULL);
            const char *city = json_string_value(json_object_get(args, "city"));
            const char *unit = json_string_value(json_object_get(args, "unit"));
            CHECK(!strcmp(json_string_value(json_object_get(cj, "name")), "get_weather") && city &&
                      strlen(city) <= 8 && unit && json_object_size(args) == 2,
                  "lazy %d: call %zu: '%.*s'", how, c, (int)n, text);
            json_decref(args);
        }
        json_decref(gt.calls);
        gptc_grammar_free(g);
    }
    free(prefix);
    free(gbnf);
    json_decref(tools);
    gptc_gvocab_free(v);
}

int main(void)
{
    test_rng_seed(88172645463325252ull);
    test_marker_in_string();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/chat-templates/real", test_data_dir());
    DIR *d = opendir(dir);
    int n_tested = 0, n_tool_templates = 0;
    if (!d) {
        CHECK(0, "no %s", dir);
    } else {
        struct dirent *e;
        char *names[256];
        int nn = 0;
        while ((e = readdir(d)) && nn < 256) {
            size_t l = strlen(e->d_name);
            if (l > 6 && !strcmp(e->d_name + l - 6, ".jinja")) names[nn++] = strdup(e->d_name);
        }
        closedir(d);
        for (int i = 0; i < nn; i++) {
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            size_t n;
            char *src = read_file(path, &n);
            if (src && strstr(src, "tool_calls") && strstr(src, "tool_call")) {
                int fmt = gptc_toolcall_detect(src, n);
                /* templates that read tool_calls but write none of their own */
                if (fmt != GPTC_TC_NONE) {
                    n_tool_templates++;
                    template_case(names[i], src, n, &n_tested);
                } else {
                    printf("note: %s reads tool_calls but has no known format\n", names[i]);
                }
            }
            free(src);
            free(names[i]);
        }
        printf("%d templates with tool calls, %d tested\n", n_tool_templates, n_tested);
        CHECK(n_tested >= 20, "only %d templates tested", n_tested);
    }
    bad_table();
    tool_grammars();
    names_and_misc();
    lazy_grammar();
    return test_summary();
}
