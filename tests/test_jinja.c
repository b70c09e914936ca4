/*
 * test_jinja.c — the Jinja engine against Python's Jinja2, feature by feature, and its
 * behaviour on bad templates.
 *
 *   1. tests/fixtures/jinja_features.jsonl (made by scripts/gen-chat-fixtures.py with the exact
 *      environment of transformers): each small template renders byte for byte as Jinja2
 *      rendered it, or fails where Jinja2 raised, with the matching kind of error (syntax
 *      errors at parse time, runtime errors as GPTC_E_INVALID, raise_exception's message).
 *   2. A table of hostile or broken templates: unterminated blocks, unknown filters, deep
 *      nesting, huge loops, exponential output, runaway recursion, memory bombs: each gets a
 *      clear error (status and a message naming the position) in bounded time and memory.
 *   3. The chat API on small inputs: bad JSON, options, built-in templates, stop strings.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/jinja.h"
#include "core/base.h"
#include "test.h"

static const jinja_opts *test_opts(void)
{
    static jinja_opts o;
    o.limits = gptc_jinja_default_limits();
    o.year = 2024;
    o.mon = 7;
    o.day = 26;
    return &o;
}

/* Render src with the variables of a JSON object (may be NULL). */
static gptc_status render(const char *src, size_t n, const json_t *vars, const jinja_opts *opts,
                          char **out, size_t *out_len, gptc_err *err)
{
    jinja_template *t = NULL;
    gptc_status st = gptc_jinja_template_parse(src, n, &t, err);
    if (st != GPTC_OK) return st;
    jinja_var v[64];
    size_t nv = 0;
    const char *key;
    json_t *val;
    if (vars) json_object_foreach(GPTC_UNCONST(json_t *, vars), key, val)
        {
            if (nv < 64) v[nv++] = (jinja_var){.name = key, .type = JINJA_VAR_JSON, .json = val};
        }
    st = gptc_jinja_render(t, v, nv, opts ? opts : test_opts(), out, out_len, err);
    gptc_jinja_template_free(t);
    return st;
}

static void features(void)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/jinja_features.jsonl");
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "open %s (run tests from the repository root)", path);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *c = json_loadb(line, (size_t)len, 0, &je);
        CHECK(c != NULL, "fixture line: %s", je.text);
        if (!c) continue;
        n++;
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *tj = json_object_get(c, "template");
        char *out = NULL;
        size_t on = 0;
        gptc_err err;
        gptc_status st = render(json_string_value(tj), json_string_length(tj),
                                json_object_get(c, "vars"), NULL, &out, &on, &err);
        json_t *exp = json_object_get(c, "expected");
        if (exp) {
            size_t wn = json_string_length(exp);
            const char *want = json_string_value(exp);
            int ok = st == GPTC_OK && on == wn && memcmp(out, want, wn) == 0;
            CHECK(ok, "%s: %s", name, st == GPTC_OK ? "render differs" : err.msg);
            if (!ok && st == GPTC_OK) printf("    got:  [%s]\n    want: [%s]\n", out, want);
        } else {
            const char *et = json_string_value(json_object_get(c, "error_type"));
            const char *em = json_string_value(json_object_get(c, "error"));
            CHECK(st != GPTC_OK, "%s: rendered [%s], but Jinja2 raised %s: %s", name,
                  out ? out : "", et, em);
            if (st != GPTC_OK) {
                int syntax = !strcmp(et, "TemplateSyntaxError") ||
                             !strcmp(et, "TemplateAssertionError") || !strcmp(et, "SyntaxError");
                if (syntax)
                    CHECK(st == GPTC_E_FORMAT, "%s: want a syntax error, got %s: %s", name,
                          gptc_status_name(st), err.msg);
                else if (!strcmp(et, "OverflowError"))
                    CHECK(st == GPTC_E_RANGE, "%s: want a range error, got %s", name, err.msg);
                else
                    CHECK(st == GPTC_E_INVALID, "%s: want a runtime error, got %s: %s", name,
                          gptc_status_name(st), err.msg);
                if (!strcmp(et, "TemplateError"))
                    CHECK(strstr(err.msg, em) != NULL, "%s: message [%s] lacks [%s]", name, err.msg,
                          em);
                CHECK(strstr(err.msg, "line ") != NULL, "%s: message names no position: %s", name,
                      err.msg);
            }
        }
        free(out);
        json_decref(c);
    }
    free(line);
    fclose(f);
    CHECK(n >= 200, "only %d feature cases", n);
}

/* ---------------------------------------------------------------------------------------------
 * Bad input: every entry fails with the given status, a message with the given text, within
 * the limits (the render of a hostile template stops by itself).
 */
static void bad_inputs(void)
{
    static const struct {
        const char *src;
        gptc_status st;
        const char *msg;
    } k[] = {
        {"{% if x %}", GPTC_E_FORMAT, "never closed"},
        {"{% for x in y %}{% if x %}{% endfor %}", GPTC_E_FORMAT, "line 1"},
        {"{{ x", GPTC_E_FORMAT, "unexpected end of template"},
        {"{{ x }", GPTC_E_FORMAT, "unexpected"},
        {"{# x", GPTC_E_FORMAT, "comment"},
        {"{% raw %}x", GPTC_E_FORMAT, "endraw"},
        {"{{ 'abc }}", GPTC_E_FORMAT, "unterminated string"},
        {"{{ x|nosuch }}", GPTC_E_FORMAT, "no filter named 'nosuch'"},
        {"{{ x is nosuch }}", GPTC_E_FORMAT, "no test named 'nosuch'"},
        {"{% nosuch %}", GPTC_E_FORMAT, "unknown tag 'nosuch'"},
        {"{% endif %}", GPTC_E_FORMAT, "unexpected 'endif'"},
        {"{% else %}", GPTC_E_FORMAT, "unexpected 'else'"},
        {"{% continue %}", GPTC_E_FORMAT, "outside a loop"},
        {"{{ 1 $ 2 }}", GPTC_E_FORMAT, "unexpected character '$'"},
        {"{{ (1 ]] }}", GPTC_E_FORMAT, "unexpected ']'"},
        {"{{ '\\x4' }}", GPTC_E_FORMAT, "escape"},
        {"{{ 99999999999999999999 }}", GPTC_E_UNSUPPORTED, "64 bits"},
        {"{% include 'x.j2' %}", GPTC_E_UNSUPPORTED, "include"},
        {"{% extends 'x.j2' %}", GPTC_E_UNSUPPORTED, "extends"},
        {"{% for x in y recursive %}{% endfor %}", GPTC_E_UNSUPPORTED, "recursive"},
        {"{{ f(*args) }}", GPTC_E_UNSUPPORTED, "*args"},
        {"{{ 'x'|center(9) }}", GPTC_E_UNSUPPORTED, "center"},
        {"{{ '{}'.format(1) }}", GPTC_E_UNSUPPORTED, "format"},
        {"{{ '%.2f' % 1 }}", GPTC_E_UNSUPPORTED, "printf-style"},
        {"{{ 9223372036854775807 + 1 }}", GPTC_E_UNSUPPORTED, "overflow"},
        {"{{ '\\ud800' }}", GPTC_E_UNSUPPORTED, "surrogate"},
        /* runtime errors name the position */
        {"\n\n  {{ none + 1 }}", GPTC_E_INVALID, "line 3 col"},
        {"{{ raise_exception('no system role') }}", GPTC_E_INVALID, "no system role"},
        {"{{ x.y }}", GPTC_E_INVALID, "'x' is undefined"},
        {"{% set X.a = 2 %}", GPTC_E_INVALID, "non-namespace"},
        /* limits */
        {"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         GPTC_E_RANGE, "loop iterations"},
        {"{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}"
         "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
         GPTC_E_RANGE, "memory"},
        {"{% set ns = namespace(l=[1]) %}{% for i in range(40) %}"
         "{% set ns.l = ns.l + ns.l %}{% endfor %}",
         GPTC_E_RANGE, "memory"},
        {"{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", GPTC_E_RANGE, "too long"},
        {"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", GPTC_E_RANGE,
         "nested too deeply"},
        {"{% set ns = namespace(v=[]) %}{% for i in range(1000) %}{% set ns.v = [ns.v] %}{% endfor "
         "%}",
         GPTC_E_RANGE, "nested too deeply"},
        {"{{ range(1000000) }}", GPTC_E_RANGE, "Range too big"},
        {"{{ 'ab' * 9000000000 }}", GPTC_E_RANGE, "memory"},
        {"{% set ns = namespace(x=0) %}{% set ns.x = ns %}{{ ns }}", GPTC_E_RANGE,
         "nested too deeply"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        char *out = NULL;
        size_t on;
        gptc_err err = {0};
        gptc_status st = render(k[i].src, strlen(k[i].src), NULL, NULL, &out, &on, &err);
        CHECK(st == k[i].st, "bad input %zu [%s]: status %s, want %s (%s)", i, k[i].src,
              gptc_status_name(st), gptc_status_name(k[i].st), err.msg);
        CHECK(st == GPTC_OK || strstr(err.msg, k[i].msg) != NULL,
              "bad input %zu [%s]: message [%s] lacks [%s]", i, k[i].src, err.msg, k[i].msg);
        free(out);
    }

    /* deep nesting of brackets, blocks, filters, unary operators, attribute chains */
    static const char *const units[][3] = {
        {"{{ ", "(", "1"},    {"{{ ", "[", "1"},       {"{{ ", "-", "1"},
        {"{{ ", "not ", "1"}, {"", "{% if 1 %}", "x"},
    };
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t depth = 5000, n = 0;
        char *src = malloc(depth * 16 + 64);
        n += (size_t)sprintf(src + n, "%s", units[u][0]);
        for (size_t d = 0; d < depth; d++)
            n += (size_t)sprintf(src + n, "%s", units[u][1]);
        n += (size_t)sprintf(src + n, "%s", units[u][2]);
        if (units[u][0][0]) n += (size_t)sprintf(src + n, " }}");
        char *out = NULL;
        size_t on;
        gptc_err err;
        gptc_status st = render(src, n, NULL, NULL, &out, &on, &err);
        CHECK(st == GPTC_E_RANGE || st == GPTC_E_FORMAT, "deep '%s': %s", units[u][1], err.msg);
        CHECK(strstr(err.msg, "nested too deeply") != NULL, "deep '%s': %s", units[u][1], err.msg);
        free(out);
        free(src);
    }
    {
        /* long chains parse iteratively; evaluating them is bounded too */
        size_t len = 200000, n = 0;
        char *src = malloc(len * 4 + 64);
        n += (size_t)sprintf(src + n, "{{ x");
        for (size_t d = 0; d < len; d++)
            n += (size_t)sprintf(src + n, ".a");
        n += (size_t)sprintf(src + n, " }}");
        char *out = NULL;
        size_t on;
        gptc_err err;
        gptc_status st = render(src, n, NULL, NULL, &out, &on, &err);
        CHECK(st == GPTC_E_RANGE, "attribute chain: %s", err.msg);
        free(out);
        n = 0;
        n += (size_t)sprintf(src + n, "{{ 1");
        for (size_t d = 0; d < len / 2; d++)
            n += (size_t)sprintf(src + n, "+1");
        n += (size_t)sprintf(src + n, " }}");
        st = render(src, n, NULL, NULL, &out, &on, &err);
        CHECK(st == GPTC_E_RANGE, "operator chain: %s", err.msg);
        free(out);
        n = 0;
        n += (size_t)sprintf(src + n, "{{ 'a'");
        for (size_t d = 0; d < len / 4; d++)
            n += (size_t)sprintf(src + n, "|trim");
        n += (size_t)sprintf(src + n, " }}");
        st = render(src, n, NULL, NULL, &out, &on, &err);
        CHECK(st == GPTC_E_RANGE, "filter chain: %s", err.msg);
        free(out);
        free(src);
    }
    /* invalid UTF-8 and oversize templates are refused before parsing */
    {
        char *out = NULL;
        size_t on;
        gptc_err err;
        CHECK(render("a\xff", 2, NULL, NULL, &out, &on, &err) == GPTC_E_FORMAT, "bad UTF-8: %s",
              err.msg);
        CHECK(render("\xed\xa0\x80", 3, NULL, NULL, &out, &on, &err) == GPTC_E_FORMAT,
              "surrogate: %s", err.msg);
        size_t big = (size_t)5 << 20;
        char *src = malloc(big);
        memset(src, 'a', big);
        CHECK(render(src, big, NULL, NULL, &out, &on, &err) == GPTC_E_RANGE, "oversize: %s",
              err.msg);
        free(src);
    }
    /* a tighter step budget stops a busy template */
    {
        jinja_opts o = *test_opts();
        o.limits.max_steps = 1000;
        char *out = NULL;
        size_t on;
        gptc_err err;
        const char *src = "{% for i in range(10000) %}{{ i }}{% endfor %}";
        CHECK(render(src, strlen(src), NULL, &o, &out, &on, &err) == GPTC_E_RANGE &&
                  strstr(err.msg, "ran too long"),
              "step budget: %s", err.msg);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Chat API
 */
static void chat_api(void)
{
    gptc_chat_template *t = NULL;
    gptc_err err;
    const char *src = gptc_chat_builtin("chatml");
    CHECK(src && gptc_chat_template_init(src, strlen(src), &t, &err) == GPTC_OK, "chatml");
    char *out = NULL;
    size_t on = 0;
    gptc_chat_opts o = gptc_chat_default_opts();
    CHECK(gptc_chat_render(t, "[{\"role\":\"user\",\"content\":\"hi\"}]", NULL, &o, &out, &on,
                           &err) == GPTC_OK &&
              strcmp(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n") == 0,
          "chatml render: %s", out ? out : err.msg);
    free(out);
    o.add_generation_prompt = 0;
    CHECK(gptc_chat_render(t, "[]", NULL, &o, &out, &on, &err) == GPTC_OK && on == 0 && out &&
              !*out,
          "empty conversation");
    free(out);
    CHECK(gptc_chat_render(t, "[{\"role\":", NULL, &o, &out, &on, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "messages: invalid JSON"),
          "bad JSON: %s", err.msg);
    CHECK(gptc_chat_render(t, "{\"role\":\"user\"}", NULL, &o, &out, &on, &err) == GPTC_E_INVALID,
          "messages not an array: %s", err.msg);
    CHECK(gptc_chat_render(t, "[]", "[", &o, &out, &on, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "tools"),
          "bad tools JSON: %s", err.msg);
    o.date = "2024-13-01";
    CHECK(gptc_chat_render(t, "[]", NULL, &o, &out, &on, &err) == GPTC_E_INVALID, "bad date: %s",
          err.msg);
    o.date = NULL;
    o.extra_json = "[1]";
    CHECK(gptc_chat_render(t, "[]", NULL, &o, &out, &on, &err) == GPTC_E_FORMAT, "bad extra: %s",
          err.msg);
    gptc_chat_template_free(t);

    /* extra variables, dates, NUL bytes in content */
    const char *tsrc =
        "{{ strftime_now('%Y-%m-%d') }}|{{ enable_thinking }}|{{ messages[0].content|length }}|"
        "{{ bos_token is defined }}{{ tools is none }}{{ documents is none }}";
    CHECK(gptc_chat_template_init(tsrc, strlen(tsrc), &t, &err) == GPTC_OK, "extra template");
    o = gptc_chat_default_opts();
    o.date = "2025-01-31";
    o.extra_json = "{\"enable_thinking\": false}";
    CHECK(gptc_chat_render(t, "[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]", NULL, &o, &out,
                           &on, &err) == GPTC_OK &&
              strcmp(out, "2025-01-31|False|3|FalseTrueTrue") == 0,
          "extra vars: %s", out ? out : err.msg);
    free(out);
    gptc_chat_template_free(t);

    /* built-ins: all parse and render a small conversation */
    const char *const *names = gptc_chat_builtin_names();
    int nb = 0;
    for (; names[nb]; nb++) {
        const char *b = gptc_chat_builtin(names[nb]);
        CHECK(b != NULL, "builtin %s", names[nb]);
        CHECK(gptc_chat_template_init(b, strlen(b), &t, &err) == GPTC_OK, "builtin %s: %s",
              names[nb], err.msg);
        o = gptc_chat_default_opts();
        o.bos_token = "<s>";
        o.eos_token = "</s>";
        CHECK(gptc_chat_render(
                  t,
                  "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"U\"}]",
                  NULL, &o, &out, &on, &err) == GPTC_OK &&
                  strstr(out, "U"),
              "builtin %s render: %s", names[nb], err.msg);
        free(out);
        gptc_chat_template_free(t);
    }
    CHECK(nb == 7, "7 built-in templates (%d)", nb);
    CHECK(gptc_chat_builtin("nosuch") == NULL, "unknown builtin");

    /* stop strings of a template without a model */
    gptc_chat_stops s;
    src = gptc_chat_builtin("chatml");
    gptc_chat_stops_for(NULL, src, strlen(src), &s);
    CHECK(s.n_strs == 1 && strcmp(s.strs[0], "<|im_end|>") == 0 && s.n_ids == 0, "chatml stops");
    src = gptc_chat_builtin("llama3");
    gptc_chat_stops_for(NULL, src, strlen(src), &s);
    CHECK(s.n_strs == 1 && strcmp(s.strs[0], "<|eot_id|>") == 0, "llama3 stops");
    /* harmony (gpt-oss): <|end|> ends a message, not the turn (the analysis channel comes
     * before the final answer); phi3's <|end|> ends its turn */
    char hp[1024];
    snprintf(hp, sizeof hp, "%.900s/chat-templates/real/gpt-oss-120b.jinja", test_data_dir());
    size_t hn = 0;
    char *hsrc = test_read_file(hp, &hn);
    CHECK(hsrc != NULL, "read %s", hp);
    if (hsrc) {
        gptc_chat_stops_for(NULL, hsrc, hn, &s);
        int end = 0, ret = 0, call = 0;
        for (int i = 0; i < s.n_strs; i++) {
            end |= !strcmp(s.strs[i], "<|end|>");
            ret |= !strcmp(s.strs[i], "<|return|>");
            call |= !strcmp(s.strs[i], "<|call|>");
        }
        CHECK(!end && ret && call, "gpt-oss stops: <|return|> and <|call|>, not <|end|>");
        free(hsrc);
    }
    src = gptc_chat_builtin("phi3");
    gptc_chat_stops_for(NULL, src, strlen(src), &s);
    CHECK(s.n_strs == 1 && strcmp(s.strs[0], "<|end|>") == 0, "phi3 stops");

    /* the model helper: stories260K has no chat template -> ChatML fallback */
    char path[1024];
    snprintf(path, sizeof path, "%.900s/gguf/stories260K.gguf", test_data_dir());
    gptc_model *m = NULL;
    gptc_model_params mp = gptc_model_default_params();
    if (gptc_model_load(path, &mp, &m, &err) == GPTC_OK) {
        size_t n;
        int fb = 0;
        const char *ms = gptc_chat_model_template(m, &n, &fb);
        CHECK(fb == 1 && ms && strcmp(ms, gptc_chat_builtin("chatml")) == 0, "fallback template");
        char bos[64], eos[64];
        CHECK(gptc_chat_bos_text(m, bos, sizeof bos) && strcmp(bos, "<s>") == 0, "bos text");
        CHECK(gptc_chat_eos_text(m, eos, sizeof eos) && strcmp(eos, "</s>") == 0, "eos text");
        CHECK(gptc_chat_bos_text(m, bos, 2) == NULL, "bos text does not fit");
        gptc_chat_stops_for(m, ms, n, &s);
        CHECK(s.n_ids >= 1 && s.ids[0] == gptc_tok_eos(gptc_model_tokenizer(m)),
              "eos is a stop id");
        CHECK(s.n_strs == 1 && strcmp(s.strs[0], "<|im_end|>") == 0, "model stops");
        gptc_model_free(m);
    } else {
        CHECK(0, "load %s: %s", path, err.msg);
    }
}

/* One parsed template rendered by several threads at once (the server does this): same text
 * in every thread, and ASan/LSan stay quiet. */
typedef struct thr {
    const gptc_chat_template *t;
    const char *messages;
    char *out;
    int ok;
} thr;

static void *render_thread(void *arg)
{
    thr *a = arg;
    gptc_chat_opts o = gptc_chat_default_opts();
    o.bos_token = "<s>";
    o.date = "2024-07-26";
    a->ok = 1;
    for (int i = 0; i < 200 && a->ok; i++) {
        char *out = NULL;
        size_t n;
        gptc_err err;
        if (gptc_chat_render(a->t, a->messages, NULL, &o, &out, &n, &err) != GPTC_OK)
            a->ok = 0;
        else if (a->out && strcmp(a->out, out) != 0)
            a->ok = 0;
        if (!a->out)
            a->out = out;
        else
            free(out);
    }
    return NULL;
}

static void threads(void)
{
    const char *src =
        "{%- macro m(x, y='!') %}{{ x|upper ~ y }}{% endmacro %}{{ bos_token }}"
        "{%- set ns = namespace(n=0) %}{%- for msg in messages %}{% set ns.n = ns.n + 1 %}"
        "<{{ msg.role }}>{{ m(msg.content|trim) }}{{ msg|tojson }}{{ loop.index }}/{{ ns.n }}"
        "{%- endfor %}{{ strftime_now('%d %b') }}{{ ['a', 'b']|map('upper')|join }}";
    gptc_chat_template *t = NULL;
    gptc_err err;
    CHECK(gptc_chat_template_init(src, strlen(src), &t, &err) == GPTC_OK, "threads template: %s",
          err.msg);
    if (!t) return;
    thr a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thr){t,
                     "[{\"role\": \"user\", \"content\": \" hi \"}, {\"role\": \"assistant\", "
                     "\"content\": \"yo\"}]",
                     NULL, 0};
        pthread_create(&th[i], NULL, render_thread, &a[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK(a[i].ok && a[i].out && a[0].out && strcmp(a[i].out, a[0].out) == 0,
              "thread %d render", i);
    for (int i = 0; i < 4; i++)
        free(a[i].out);
    gptc_chat_template_free(t);
}

/* Unknown filters and tests as Jinja2 3.x handles them (each row checked with Jinja2 3.1):
 * inside an {% if %} or a conditional expression they raise only when evaluated
 * (TemplateRuntimeError); a for/macro/set body starts a new frame where they are rejected at
 * parse time (TemplateAssertionError), as is anything outside a conditional. */
static void unknown_filters(void)
{
    static const struct {
        const char *src;
        gptc_status st; /* GPTC_OK: renders `out` */
        const char *out;
    } k[] = {
        {"{% if false %}{{ x|nosuch }}{% endif %}ok", GPTC_OK, "ok"},
        {"{% if true %}{{ x|nosuch }}{% endif %}ok", GPTC_E_INVALID,
         "No filter named 'nosuch' found."},
        {"{{ x|nosuch if false else 'b' }}", GPTC_OK, "b"},
        {"{{ 'a' if false else x|nosuch }}", GPTC_E_INVALID, "No filter named 'nosuch' found."},
        {"{{ 'a' if x is nosuch else 'b' }}", GPTC_E_INVALID, "No test named 'nosuch' found."},
        {"{% if false %}{% for i in [1] %}{{ i|nosuch }}{% endfor %}{% endif %}ok", GPTC_E_FORMAT,
         "no filter named 'nosuch'"},
        {"{% if false %}{% for i in [1]|nosuch %}{% endfor %}{% endif %}ok", GPTC_OK, "ok"},
        {"{% if false %}{% set y %}{{ 1|nosuch }}{% endset %}{% endif %}ok", GPTC_E_FORMAT,
         "no filter named 'nosuch'"},
        {"{% if false %}{% macro m() %}{{ 1|nosuch }}{% endmacro %}{% endif %}ok", GPTC_E_FORMAT,
         "no filter named 'nosuch'"},
        {"{% if false %}{% if true %}{{ 1|nosuch }}{% endif %}{% endif %}ok", GPTC_OK, "ok"},
        {"{% for i in [1] %}{% if i > 1 %}{{ 1|nosuch }}{% endif %}{% endfor %}ok", GPTC_OK, "ok"},
        {"{% if false %}{{ 1|nosuch }}{% endif %}{{ 2|nosuch2 }}", GPTC_E_FORMAT,
         "no filter named 'nosuch2'"},
        {"{% if 1|nosuch %}a{% endif %}", GPTC_E_INVALID, "No filter named 'nosuch' found."},
        {"{% if false %}a{% elif false %}{{ 1|nosuch }}{% else %}{{ 2 is nosuch }}{% endif %}ok",
         GPTC_E_INVALID, "No test named 'nosuch' found."},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        char *out = NULL;
        size_t on = 0;
        gptc_err err = {0};
        gptc_status st = render(k[i].src, strlen(k[i].src), NULL, NULL, &out, &on, &err);
        CHECK(st == k[i].st, "%s: status %s (%s)", k[i].src, gptc_status_name(st), err.msg);
        if (st == GPTC_OK && k[i].st == GPTC_OK)
            CHECK(on == strlen(k[i].out) && memcmp(out, k[i].out, on) == 0, "%s: got '%.*s'",
                  k[i].src, (int)on, out);
        if (st != GPTC_OK && k[i].st != GPTC_OK)
            CHECK(strstr(err.msg, k[i].out) != NULL, "%s: message '%s'", k[i].src, err.msg);
        free(out);
    }
}

/* range() near the ends of int64 (issue 10, defect 13): start + i * step overflowed although
 * every value fits; UBSan (make san) reports the old code. */
static void range_ends(void)
{
    static const char src[] =
        "{{ range(-9223372036854775807 - 1, 9223372036854775807, 4611686018427387904)|list }}";
    char *out = NULL;
    size_t on = 0;
    gptc_err err = {0};
    gptc_status st = render(src, sizeof src - 1, NULL, NULL, &out, &on, &err);
    CHECK(st == GPTC_OK && out &&
              strcmp(out, "[-9223372036854775808, -4611686018427387904, 0, 4611686018427387904]") ==
                  0,
          "range at the ends of int64: %s (%s)", out ? out : "", err.msg);
    free(out);
}

/* ---------------------------------------------------------------------------------------------
 * Memory accounting (issue 10, defect 8): the results filters build (in growable buffers before
 * they become strings) and the syntax tree count against the caps.
 */
static void mem_accounting(void)
{
    /* each builds a 3 MB string from a 3 MB one: about 10 MB with the buffer, over an 8 MiB
     * budget; the same renders under the default 512 MiB */
    static const char *const k[] = {
        "{{ ('a' * 3000000)|upper|length }}",
        "{{ ('a' * 3000000)|replace('a', 'b')|length }}",
        "{{ ['a' * 1500000, 'b' * 1500000]|join|length }}",
        "{{ ('a' * 3000000)|tojson|length }}",
        "{{ ('a' * 3000000).upper()|length }}",
        "{{ ('a' * 3000000).replace('a', 'bb')|length }}",
    };
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        jinja_opts o = *test_opts();
        char *out = NULL;
        size_t on;
        gptc_err err;
        gptc_status st = render(k[i], strlen(k[i]), NULL, &o, &out, &on, &err);
        CHECK(st == GPTC_OK, "%s under the default budget: %s", k[i], err.msg);
        free(out);
        out = NULL;
        o.limits.max_alloc = (size_t)8 << 20;
        st = render(k[i], strlen(k[i]), NULL, &o, &out, &on, &err);
        CHECK(st == GPTC_E_RANGE && strstr(err.msg, "too much memory"),
              "%s under 8 MiB: %s, %s (%.40s)", k[i], gptc_status_name(st), err.msg,
              out ? out : "");
        free(out);
    }
    /* the outside tester's case: ten times longer three times over reached 1.07 GB in 14.4 s
     * before "ran too long"; now the third replace is refused before it starts */
    {
        const char *src = "{{ ('a' * 1000000)|replace('a', 'aaaaaaaaaa')|replace('a', "
                          "'aaaaaaaaaa')|replace('a', 'aaaaaaaaaa')|length }}";
        char *out = NULL;
        size_t on;
        gptc_err err;
        gptc_status st = render(src, strlen(src), NULL, NULL, &out, &on, &err);
        CHECK(st == GPTC_E_RANGE && strstr(err.msg, "too much memory") &&
                  strstr(err.msg, "replace"),
              "replace x10 three times: %s, %s", gptc_status_name(st), err.msg);
        free(out);
    }
    /* a 2 MB template of 1+1+...: refused while it is lexed (it took 432 MB to parse) */
    {
        size_t len = (size_t)2 << 20, n = 0;
        char *src = malloc(len + 16);
        n += (size_t)sprintf(src, "{{ 1");
        while (n + 2 < len)
            n += (size_t)sprintf(src + n, "+1");
        n += (size_t)sprintf(src + n, " }}");
        jinja_template *t = NULL;
        gptc_err err;
        gptc_status st = gptc_jinja_template_parse(src, n, &t, &err);
        CHECK(st == GPTC_E_RANGE && strstr(err.msg, "too large to parse"),
              "2 MB of 1+1+...: %s, %s", gptc_status_name(st), err.msg);
        gptc_jinja_template_free(t);
        free(src);
    }
}

int main(void)
{
    range_ends();
    features();
    bad_inputs();
    mem_accounting();
    unknown_filters();
    chat_api();
    threads();
    return test_summary();
}
