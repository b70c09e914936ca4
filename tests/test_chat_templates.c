/*
 * test_chat_templates.c — the real chat templates of ../shared/data/chat-templates render
 * every conversation byte for byte as Python's Jinja2 did (real/NAME.cases.jsonl), or fail
 * where Jinja2 raised (with the template's own message for raise_exception); the built-in
 * ChatML template reproduces Ollama's renders (chatml/NAME.txt).
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "test.h"

/* first differing byte, for a readable failure */
static void show_diff(const char *got, size_t gn, const char *want, size_t wn)
{
    size_t i = 0;
    while (i < gn && i < wn && got[i] == want[i])
        i++;
    size_t a = i > 40 ? i - 40 : 0;
    printf("    differ at byte %zu (got %zu bytes, want %zu)\n", i, gn, wn);
    printf("    got:  ...%.*s\n", (int)((gn > a ? (gn - a < 100 ? gn - a : 100) : 0)), got + a);
    printf("    want: ...%.*s\n", (int)((wn > a ? (wn - a < 100 ? wn - a : 100) : 0)), want + a);
}

static int n_cases, n_raising;

static void run_template(const char *dir, const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.jinja", dir, name);
    size_t n;
    char *src = test_read_file(path, &n);
    CHECK(src != NULL, "read %s", path);
    if (!src) return;
    gptc_chat_template *t = NULL;
    gptc_err err;
    gptc_status st = gptc_chat_template_init(src, n, &t, &err);
    CHECK(st == GPTC_OK, "%s: parse: %s", name, err.msg);
    free(src);
    if (st != GPTC_OK) return;

    snprintf(path, sizeof path, "%s/%s.cases.jsonl", dir, name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "open %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (f && (len = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *c = json_loadb(line, (size_t)len, 0, &je);
        CHECK(c != NULL, "%s: bad case line: %s", name, je.text);
        if (!c) continue;
        const char *cid = json_string_value(json_object_get(c, "case"));
        gptc_chat_opts o = gptc_chat_default_opts();
        o.add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt"));
        o.bos_token = json_string_value(json_object_get(c, "bos_token"));
        o.eos_token = json_string_value(json_object_get(c, "eos_token"));
        o.date = "2024-07-26";
        /* chat_template_kwargs: each key is one more template variable, as transformers
         * passes apply_chat_template's extra keyword arguments */
        json_t *kw = json_object_get(c, "chat_template_kwargs");
        char *kw_text = kw && json_is_object(kw) ? json_dumps(kw, JSON_COMPACT) : NULL;
        CHECK(!kw || kw_text, "%s case %s: chat_template_kwargs is not an object", name, cid);
        o.extra_json = kw_text;
        json_t *tools = json_object_get(c, "tools");
        if (json_is_null(tools)) tools = NULL;
        char *out = NULL;
        size_t on = 0;
        st = gptc_chat_render_json(t, json_object_get(c, "messages"), tools, &o, &out, &on, &err);
        json_t *exp = json_object_get(c, "expected");
        n_cases++;
        if (exp) {
            const char *want = json_string_value(exp);
            size_t wn = json_string_length(exp);
            int ok = st == GPTC_OK && on == wn && memcmp(out, want, wn) == 0;
            CHECK(ok, "%s case %s: %s", name, cid, st == GPTC_OK ? "render differs" : err.msg);
            if (!ok && st == GPTC_OK) show_diff(out, on, want, wn);
        } else {
            n_raising++;
            const char *etype = json_string_value(json_object_get(c, "error_type"));
            const char *emsg = json_string_value(json_object_get(c, "error"));
            CHECK(st != GPTC_OK, "%s case %s: rendered, but Jinja2 raised %s", name, cid, etype);
            if (st != GPTC_OK && etype && strcmp(etype, "TemplateError") == 0)
                CHECK(strstr(err.msg, emsg) != NULL, "%s case %s: message '%s' lacks '%s'", name,
                      cid, err.msg, emsg);
            if (st != GPTC_OK)
                CHECK(st == GPTC_E_INVALID, "%s case %s: status %s (%s)", name, cid,
                      gptc_status_name(st), err.msg);
        }
        free(out);
        free(kw_text);
        json_decref(c);
    }
    free(line);
    if (f) fclose(f);
    gptc_chat_template_free(t);
}

static void chatml_cases(const char *dir)
{
    static const struct {
        const char *file, *messages;
    } k[] = {
        {"user.txt", "[{\"role\":\"user\",\"content\":\"Hello, how are you?\"}]"},
        {"user-assistant-user.txt",
         "[{\"role\":\"user\",\"content\":\"Hello, how are you?\"},"
         "{\"role\":\"assistant\",\"content\":\"I'm doing great. How can I help you today?\"},"
         "{\"role\":\"user\",\"content\":\"I'd like to show off how chat templating works!\"}]"},
        {"system-user-assistant-user.txt",
         "[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
         "{\"role\":\"user\",\"content\":\"Hello, how are you?\"},"
         "{\"role\":\"assistant\",\"content\":\"I'm doing great. How can I help you today?\"},"
         "{\"role\":\"user\",\"content\":\"I'd like to show off how chat templating works!\"}]"},
    };
    const char *src = gptc_chat_builtin("chatml");
    gptc_chat_template *t = NULL;
    gptc_err err;
    CHECK(gptc_chat_template_init(src, strlen(src), &t, &err) == GPTC_OK, "chatml parse: %s",
          err.msg);
    for (size_t i = 0; t && i < sizeof k / sizeof k[0]; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, k[i].file);
        size_t wn;
        char *want = test_read_file(path, &wn);
        CHECK(want != NULL, "read %s", path);
        char *out = NULL;
        size_t on = 0;
        gptc_chat_opts o = gptc_chat_default_opts();
        gptc_status st = gptc_chat_render(t, k[i].messages, NULL, &o, &out, &on, &err);
        CHECK(st == GPTC_OK && want && on == wn && memcmp(out, want, wn) == 0, "chatml %s",
              k[i].file);
        free(out);
        free(want);
    }
    gptc_chat_template_free(t);
}

int main(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%.900s/chat-templates/real", test_data_dir());
    DIR *d = opendir(dir);
    CHECK(d != NULL, "open %s", dir);
    char *names[256];
    int nn = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && nn < 256) {
        size_t l = strlen(e->d_name);
        if (l > 6 && strcmp(e->d_name + l - 6, ".jinja") == 0)
            names[nn++] = strndup(e->d_name, l - 6);
    }
    if (d) closedir(d);
    for (int i = 0; i < nn; i++) {
        run_template(dir, names[i]);
        free(names[i]);
    }
    CHECK(nn >= 33, "found %d real templates", nn);
    snprintf(dir, sizeof dir, "%.900s/chat-templates/chatml", test_data_dir());
    chatml_cases(dir);
    printf("%d templates, %d cases (%d raising as in Jinja2)\n", nn, n_cases, n_raising);
    return test_summary();
}
