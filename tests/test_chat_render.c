/*
 * test_chat_render.c — generated conversations (empty content, unicode and whitespace edges,
 * long histories, tool calls with object and string arguments, tool results, thinking
 * content) rendered by every real template of ../shared/data/chat-templates/real and every
 * built-in template, compared byte for byte with Python's Jinja2 under transformers' settings.
 * The expected renders are tests/fixtures/chat_generated.jsonl, made by
 * scripts/gen-chat-fixtures.py; where Jinja2 raised, gptc must fail too.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "test.h"

typedef struct cached {
    char name[256];
    gptc_chat_template *t;
} cached;

static gptc_chat_template *get_template(cached *cache, int *n_cache, const char *name)
{
    for (int i = 0; i < *n_cache; i++)
        if (!strcmp(cache[i].name, name)) return cache[i].t;
    gptc_chat_template *t = NULL;
    gptc_err err;
    if (!strncmp(name, "builtin/", 8)) {
        const char *src = gptc_chat_builtin(name + 8);
        CHECK(src != NULL, "no built-in %s", name);
        if (src)
            CHECK(gptc_chat_template_init(src, strlen(src), &t, &err) == GPTC_OK, "%s: %s", name,
                  err.msg);
    } else {
        char path[1024];
        snprintf(path, sizeof path, "%.800s/chat-templates/%.200s.jinja", test_data_dir(), name);
        size_t n;
        char *src = test_read_file(path, &n);
        CHECK(src != NULL, "read %s", path);
        if (src)
            CHECK(gptc_chat_template_init(src, n, &t, &err) == GPTC_OK, "%s: %s", name, err.msg);
        free(src);
    }
    if (*n_cache < 64) {
        snprintf(cache[*n_cache].name, sizeof cache[0].name, "%s", name);
        cache[(*n_cache)++].t = t;
    }
    return t;
}

int main(void)
{
    const char *path = "tests/fixtures/chat_generated.jsonl";
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "open %s (run tests from the repository root)", path);
    if (!f) return test_summary();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    json_t *convs = NULL, *tools = NULL, *header = NULL;
    cached cache[64];
    int n_cache = 0, n = 0, n_err = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *c = json_loadb(line, (size_t)len, 0, &je);
        CHECK(c != NULL, "fixture line: %s", je.text);
        if (!c) continue;
        if (!header) {
            header = c;
            convs = json_object_get(c, "conversations");
            tools = json_object_get(c, "tools");
            continue;
        }
        const char *tname = json_string_value(json_object_get(c, "template"));
        int ci = (int)json_integer_value(json_object_get(c, "conv"));
        gptc_chat_template *t = get_template(cache, &n_cache, tname);
        if (t) {
            gptc_chat_opts o = gptc_chat_default_opts();
            o.add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt"));
            o.bos_token = json_string_value(json_object_get(c, "bos_token"));
            o.eos_token = json_string_value(json_object_get(c, "eos_token"));
            o.date = "2024-07-26";
            char *out = NULL;
            size_t on = 0;
            gptc_err err;
            gptc_status st = gptc_chat_render_json(
                t, json_array_get(convs, (size_t)ci),
                json_is_true(json_object_get(c, "tools")) ? tools : NULL, &o, &out, &on, &err);
            json_t *exp = json_object_get(c, "expected");
            n++;
            if (exp) {
                const char *want = json_string_value(exp);
                size_t wn = json_string_length(exp);
                int ok = st == GPTC_OK && on == wn && memcmp(out, want, wn) == 0;
                CHECK(ok, "%s conv %d agp %d: %s", tname, ci, o.add_generation_prompt,
                      st == GPTC_OK ? "render differs" : err.msg);
                if (!ok && st == GPTC_OK) {
                    size_t i = 0;
                    while (i < on && i < wn && out[i] == want[i])
                        i++;
                    size_t a = i > 30 ? i - 30 : 0;
                    printf("    at byte %zu: got [%.60s] want [%.60s]\n", i,
                           out + (a < on ? a : on), want + (a < wn ? a : wn));
                }
            } else {
                n_err++;
                CHECK(st != GPTC_OK, "%s conv %d: rendered, but Jinja2 raised %s: %s", tname, ci,
                      json_string_value(json_object_get(c, "error_type")),
                      json_string_value(json_object_get(c, "error")));
            }
            free(out);
        }
        json_decref(c);
    }
    free(line);
    fclose(f);
    for (int i = 0; i < n_cache; i++)
        gptc_chat_template_free(cache[i].t);
    json_decref(header);
    CHECK(n >= 500, "only %d generated renders", n);
    printf("%d templates, %d renders (%d raising as in Jinja2)\n", n_cache, n, n_err);
    return test_summary();
}
