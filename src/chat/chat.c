/*
 * chat.c — the chat API over the Jinja engine: JSON conversations in, prompt text out, with
 * the variables transformers' apply_chat_template passes (messages, tools, documents=None,
 * add_generation_prompt, bos_token, eos_token, and any extra keyword arguments), plus the
 * model-side helpers: which template a model uses and where a reply ends.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/chat.h"
#include "chat/jinja.h"
#include "core/base.h"

struct gptc_chat_template {
    jinja_template *t;
};

gptc_chat_opts gptc_chat_default_opts(void)
{
    gptc_chat_opts o;
    memset(&o, 0, sizeof o);
    o.add_generation_prompt = 1;
    return o;
}

gptc_status gptc_chat_template_init(const char *src, size_t n, gptc_chat_template **out,
                                    gptc_err *err)
{
    if (!out || (!src && n))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_chat_template_init: NULL argument");
    *out = NULL;
    gptc_chat_template *t = calloc(1, sizeof *t);
    if (!t) return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    gptc_status st = gptc_jinja_template_parse(src ? src : "", n, &t->t, err);
    if (st != GPTC_OK) {
        free(t);
        return st;
    }
    *out = t;
    return GPTC_OK;
}

const char *gptc_chat_template_source(const gptc_chat_template *t, size_t *n)
{
    return gptc_jinja_template_source(t->t, n);
}

void gptc_chat_template_free(gptc_chat_template *t)
{
    if (!t) return;
    gptc_jinja_template_free(t->t);
    free(t);
}

static gptc_status parse_date(const char *s, jinja_opts *o, gptc_err *err)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || strlen(s) != 10 || m < 1 || m > 12 ||
        d < 1 || d > 31 || y < 1)
        return gptc_fail(err, GPTC_E_INVALID, "date '%s' is not YYYY-MM-DD", s);
    o->year = y;
    o->mon = m;
    o->day = d;
    o->hour = o->min = o->sec = 0;
    return GPTC_OK;
}

gptc_status gptc_chat_render_json(const gptc_chat_template *t, const json_t *messages,
                                  const json_t *tools, const gptc_chat_opts *opts, char **out,
                                  size_t *out_len, gptc_err *err)
{
    if (!t || !messages || !out)
        return gptc_fail(err, GPTC_E_INVALID, "gptc_chat_render: NULL argument");
    *out = NULL;
    if (out_len) *out_len = 0;
    gptc_chat_opts dflt = gptc_chat_default_opts();
    if (!opts) opts = &dflt;
    if (!json_is_array(messages))
        return gptc_fail(err, GPTC_E_INVALID, "messages must be a JSON array");

    jinja_opts jo;
    memset(&jo, 0, sizeof jo);
    jo.limits = gptc_jinja_default_limits();
    if (opts->date) {
        gptc_status st = parse_date(opts->date, &jo, err);
        if (st != GPTC_OK) return st;
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        jo.year = tm.tm_year + 1900;
        jo.mon = tm.tm_mon + 1;
        jo.day = tm.tm_mday;
        jo.hour = tm.tm_hour;
        jo.min = tm.tm_min;
        jo.sec = tm.tm_sec;
    }

    json_t *extra = NULL;
    if (opts->extra_json) {
        json_error_t je;
        extra = json_loads(opts->extra_json, JSON_ALLOW_NUL, &je);
        if (!extra || !json_is_object(extra)) {
            json_decref(extra);
            return gptc_fail(err, GPTC_E_FORMAT, "extra template variables: not a JSON object%s%s",
                             extra ? "" : ": ", extra ? "" : je.text);
        }
    }
    size_t n_extra = extra ? json_object_size(extra) : 0;
    jinja_var *vars = calloc(n_extra + 8, sizeof *vars);
    if (!vars) {
        json_decref(extra);
        return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    }
    size_t nv = 0;
    if (opts->bos_token)
        vars[nv++] = (jinja_var){.name = "bos_token",
                                 .type = JINJA_VAR_STR,
                                 .s = opts->bos_token,
                                 .n = strlen(opts->bos_token)};
    if (opts->eos_token)
        vars[nv++] = (jinja_var){.name = "eos_token",
                                 .type = JINJA_VAR_STR,
                                 .s = opts->eos_token,
                                 .n = strlen(opts->eos_token)};
    if (extra) {
        const char *key;
        json_t *val;
        json_object_foreach(extra, key, val)
        {
            vars[nv++] = (jinja_var){.name = key, .type = JINJA_VAR_JSON, .json = val};
        }
    }
    vars[nv++] = (jinja_var){.name = "messages", .type = JINJA_VAR_JSON, .json = messages};
    vars[nv++] = tools ? (jinja_var){.name = "tools", .type = JINJA_VAR_JSON, .json = tools}
                       : (jinja_var){.name = "tools", .type = JINJA_VAR_NONE};
    vars[nv++] = (jinja_var){.name = "documents", .type = JINJA_VAR_NONE};
    vars[nv++] = (jinja_var){.name = "add_generation_prompt",
                             .type = JINJA_VAR_BOOL,
                             .b = opts->add_generation_prompt != 0};
    gptc_status st = gptc_jinja_render(t->t, vars, nv, &jo, out, out_len, err);
    free(vars);
    json_decref(extra);
    return st;
}

static gptc_status load_json(const char *what, const char *text, json_t **out, gptc_err *err)
{
    json_error_t je;
    *out = json_loads(text, JSON_ALLOW_NUL, &je);
    if (!*out)
        return gptc_fail(err, GPTC_E_FORMAT, "%s: invalid JSON at line %d col %d: %s", what,
                         je.line, je.column, je.text);
    return GPTC_OK;
}

gptc_status gptc_chat_render(const gptc_chat_template *t, const char *messages_json,
                             const char *tools_json, const gptc_chat_opts *opts, char **out,
                             size_t *out_len, gptc_err *err)
{
    if (!t || !messages_json || !out)
        return gptc_fail(err, GPTC_E_INVALID, "gptc_chat_render: NULL argument");
    json_t *m = NULL, *tools = NULL;
    gptc_status st = load_json("messages", messages_json, &m, err);
    if (st == GPTC_OK && tools_json) st = load_json("tools", tools_json, &tools, err);
    if (st == GPTC_OK) st = gptc_chat_render_json(t, m, tools, opts, out, out_len, err);
    json_decref(m);
    json_decref(tools);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Model helpers
 */
const char *gptc_chat_model_template(const gptc_model *model, size_t *len, int *is_fallback)
{
    size_t n = 0;
    const char *s = model ? gptc_model_meta_str(model, "tokenizer.chat_template", &n) : NULL;
    if (s && n) {
        if (len) *len = n;
        if (is_fallback) *is_fallback = 0;
        return s;
    }
    s = gptc_chat_builtin("chatml");
    if (len) *len = strlen(s);
    if (is_fallback) *is_fallback = 1;
    return s;
}

static const char *token_text(const gptc_model *model, int id, char *buf, size_t cap)
{
    if (!model || id < 0 || !buf || cap == 0) return NULL;
    size_t n;
    const char *p = gptc_tok_piece(gptc_model_tokenizer(model), id, &n);
    if (!p || n + 1 > cap || memchr(p, 0, n)) return NULL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

const char *gptc_chat_bos_text(const gptc_model *model, char *buf, size_t cap)
{
    return model ? token_text(model, gptc_tok_bos(gptc_model_tokenizer(model)), buf, cap) : NULL;
}

const char *gptc_chat_eos_text(const gptc_model *model, char *buf, size_t cap)
{
    return model ? token_text(model, gptc_tok_eos(gptc_model_tokenizer(model)), buf, cap) : NULL;
}

/* End-of-turn markers of the template families gptc knows */
static const char *const k_end_markers[] = {
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|END_OF_TURN_TOKEN|>",
    "<|end_of_text|>",
    "<\xef\xbd\x9c"
    "end\xe2\x96\x81"
    "of\xe2\x96\x81"
    "sentence\xef\xbd\x9c>",
    "<|endoftext|>",
    "<|return|>",
    "<|call|>",
};

static int has(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    return k <= n && memmem(hay, n, needle, k) != NULL;
}

static void add_id(gptc_chat_stops *s, int32_t id)
{
    if (id < 0) return;
    for (int i = 0; i < s->n_ids; i++)
        if (s->ids[i] == id) return;
    if (s->n_ids < GPTC_CHAT_MAX_STOPS) s->ids[s->n_ids++] = id;
}

static void add_str(gptc_chat_stops *s, const char *str)
{
    if (!str || !*str || strlen(str) >= sizeof s->strs[0]) return;
    for (int i = 0; i < s->n_strs; i++)
        if (strcmp(s->strs[i], str) == 0) return;
    if (s->n_strs < GPTC_CHAT_MAX_STOPS)
        snprintf(s->strs[s->n_strs++], sizeof s->strs[0], "%s", str);
}

void gptc_chat_stops_for(const gptc_model *model, const char *src, size_t n, gptc_chat_stops *out)
{
    memset(out, 0, sizeof *out);
    const gptc_tokenizer *tok = model ? gptc_model_tokenizer(model) : NULL;
    if (tok) add_id(out, gptc_tok_eos(tok));
    /* harmony (gpt-oss): <|end|> closes one message of the turn (the analysis before the
     * final answer); the turn ends at <|return|> or <|call|> */
    int harmony =
        src && has(src, n, "<|channel|>") && (has(src, n, "<|return|>") || has(src, n, "<|call|>"));
    for (size_t i = 0; i < sizeof k_end_markers / sizeof k_end_markers[0]; i++) {
        const char *m = k_end_markers[i];
        if (!src || !has(src, n, m)) continue;
        if (harmony && !strcmp(m, "<|end|>")) continue;
        add_str(out, m);
        if (tok) { /* the marker as one token of the vocabulary */
            int32_t ids[4];
            size_t nid = 0;
            gptc_err e;
            if (gptc_tok_encode(tok, m, strlen(m), 0, 1, ids, 4, &nid, &e) == GPTC_OK && nid == 1)
                add_id(out, ids[0]);
        }
    }
    /* templates that end turns with eos_token: its text, for vocabularies that spell it */
    char eos[64];
    if (src && has(src, n, "eos_token") && gptc_chat_eos_text(model, eos, sizeof eos))
        add_str(out, eos);
}
