/*
 * sft.c — chat JSONL for fine-tuning (see sft.h).
 */
#include "train/sft.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "gptc.h"

/* ----- one conversation ----------------------------------------------------------------------- */

typedef struct render_ctx {
    const gptc_sft_opts *o;
    gptc_chat_template *tmpl;
    gptc_chat_opts copts;
    char bos[256], eos[256];
} render_ctx;

static const char *piece_text(const gptc_tokenizer *tok, int id, char *buf, size_t cap)
{
    if (id < 0) return NULL;
    size_t n;
    const char *p = gptc_tok_piece(tok, id, &n);
    if (!p || n + 1 > cap || memchr(p, 0, n)) return NULL;
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

static gptc_status ctx_init(render_ctx *c, const gptc_sft_opts *o, gptc_err *err)
{
    memset(c, 0, sizeof *c);
    c->o = o;
    gptc_status s = gptc_chat_template_init(o->tmpl, strlen(o->tmpl), &c->tmpl, err);
    if (s) return s;
    c->copts = gptc_chat_default_opts();
    c->copts.bos_token = piece_text(o->tok, gptc_tok_bos(o->tok), c->bos, sizeof c->bos);
    c->copts.eos_token = piece_text(o->tok, gptc_tok_eos(o->tok), c->eos, sizeof c->eos);
    c->copts.date = "2024-01-01"; /* the same text on every run and rank */
    return GPTC_OK;
}

/* Tokens of a conversation, exactly as `gptc chat` and the server make a prompt: through
 * gptc_chat_prompt, so special tokens come only from the template's own text, never from
 * message content, and BOS is added as the tokenizer asks. */
static gptc_status render_ids(const render_ctx *c, json_t *msgs, const json_t *tools, int gen,
                              int32_t **ids, size_t *n, gptc_err *err)
{
    gptc_chat_opts co = c->copts;
    co.add_generation_prompt = gen;
    gptc_status s = gptc_chat_prompt(c->tmpl, msgs, tools, &co, c->o->tok, ids, n, NULL, NULL, err);
    if (s && s != GPTC_E_NOMEM) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return gptc_fail(err, GPTC_E_INVALID, "the chat template failed: %s", msg);
    }
    return s;
}

static size_t lcp(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

static const char *const k_roles[] = {"system", "developer", "user", "assistant",
                                      "tool",   "function",  NULL};

/* Check the conversation's shape; GPTC_E_INVALID with the reason. */
static gptc_status validate(const json_t *msgs, const json_t *tools, gptc_err *err)
{
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return gptc_fail(err, GPTC_E_INVALID, "\"messages\" must be a non-empty array");
    if (tools && !json_is_array(tools))
        return gptc_fail(err, GPTC_E_INVALID, "\"tools\" must be an array");
    int learn = 0;
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        const json_t *m = json_array_get(msgs, i);
        if (!json_is_object(m))
            return gptc_fail(err, GPTC_E_INVALID, "message %zu is not an object", i + 1);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role)
            return gptc_fail(err, GPTC_E_INVALID, "message %zu has no \"role\" string", i + 1);
        int known = 0;
        for (int k = 0; k_roles[k]; k++)
            known |= strcmp(role, k_roles[k]) == 0;
        if (!known)
            return gptc_fail(err, GPTC_E_INVALID,
                             "message %zu has the unknown role '%.40s' (system, developer, user, "
                             "assistant, tool)",
                             i + 1, role);
        const json_t *content = json_object_get(m, "content");
        if (content && !json_is_string(content) && !json_is_array(content) &&
            !json_is_null(content))
            return gptc_fail(err, GPTC_E_INVALID,
                             "message %zu: \"content\" must be a string, an array or null", i + 1);
        const json_t *w = json_object_get(m, "weight");
        int is_asst = strcmp(role, "assistant") == 0;
        if (w) {
            if (!is_asst)
                return gptc_fail(err, GPTC_E_INVALID,
                                 "message %zu: \"weight\" is only for assistant messages", i + 1);
            if (!json_is_integer(w) || (json_integer_value(w) != 0 && json_integer_value(w) != 1))
                return gptc_fail(err, GPTC_E_INVALID, "message %zu: \"weight\" must be 0 or 1",
                                 i + 1);
        }
        if (is_asst && !(w && json_integer_value(w) == 0)) learn = 1;
    }
    if (!learn)
        return gptc_fail(err, GPTC_E_INVALID,
                         "no assistant message to learn from (none, or all with weight 0)");
    return GPTC_OK;
}

static gptc_status render_conv(const render_ctx *c, json_t *msgs, const json_t *tools,
                               int32_t **ids_out, uint8_t **learn_out, size_t *n_out, gptc_err *err)
{
    *ids_out = NULL;
    *learn_out = NULL;
    gptc_status s = validate(msgs, tools, err);
    if (s) return s;
    int32_t *full = NULL, *p = NULL, *f = NULL;
    size_t nfull, np, nf;
    uint8_t *learn = NULL;
    json_t *prefix = json_array();
    if (!prefix) return gptc_fail(err, GPTC_E_NOMEM, "sft: out of memory");
    if ((s = render_ids(c, msgs, tools, 0, &full, &nfull, err))) goto done;
    if (!(learn = calloc(nfull + 1, 1))) {
        s = gptc_fail(err, GPTC_E_NOMEM, "sft: out of memory");
        goto done;
    }
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *w = json_object_get(m, "weight");
        if (strcmp(role, "assistant") == 0 && !(w && json_integer_value(w) == 0)) {
            if ((s = render_ids(c, prefix, tools, 1, &p, &np, err))) goto done;
            json_array_append(prefix, m);
            if ((s = render_ids(c, prefix, tools, 0, &f, &nf, err))) goto done;
            size_t a = lcp(p, np, full, nfull), b = lcp(f, nf, full, nfull);
            for (size_t k = a; k < b; k++)
                learn[k] = 1;
            free(p), free(f);
            p = f = NULL;
        } else {
            json_array_append(prefix, m);
        }
    }
    size_t n_learn = 0;
    for (size_t k = 0; k < nfull; k++)
        n_learn += learn[k];
    if (!n_learn) {
        s = gptc_fail(err, GPTC_E_INVALID, "the chat template leaves no assistant tokens to learn");
        goto done;
    }
    *ids_out = full, *learn_out = learn, *n_out = nfull;
    full = NULL, learn = NULL;
done:
    free(full), free(learn), free(p), free(f);
    json_decref(prefix);
    return s;
}

gptc_status gptc_sft_render(const gptc_sft_opts *o, const char *messages_json,
                            const char *tools_json, int32_t **ids, uint8_t **learn, size_t *n,
                            gptc_err *err)
{
    render_ctx c;
    gptc_status s = ctx_init(&c, o, err);
    if (s) return s;
    json_error_t je;
    json_t *msgs = json_loads(messages_json, 0, &je),
           *tools = tools_json ? json_loads(tools_json, 0, &je) : NULL;
    if (!msgs || (tools_json && !tools))
        s = gptc_fail(err, GPTC_E_FORMAT, "sft: not JSON: %s", je.text);
    else
        s = render_conv(&c, msgs, tools, ids, learn, n, err);
    json_decref(msgs);
    json_decref(tools);
    gptc_chat_template_free(c.tmpl);
    return s;
}

/* ----- files ---------------------------------------------------------------------------------- */

typedef struct builder {
    gptc_sft *s;
    size_t cap_tok, cap_conv;
} builder;

static gptc_status add_conv(builder *b, const int32_t *ids, const uint8_t *learn, size_t n,
                            gptc_err *err)
{
    gptc_sft *s = b->s;
    if (s->n + n > b->cap_tok) {
        size_t cap = GPTC_MAX(b->cap_tok * 2, s->n + n + 1024);
        int32_t *t = realloc(s->tok, cap * sizeof *t);
        if (t) s->tok = t;
        uint8_t *l = realloc(s->learn, cap);
        if (l) s->learn = l;
        if (!t || !l) return gptc_fail(err, GPTC_E_NOMEM, "sft: out of memory");
        b->cap_tok = cap;
    }
    if (s->n_conv + 2 > b->cap_conv) {
        size_t cap = GPTC_MAX(b->cap_conv * 2, 256);
        size_t *st = realloc(s->start, cap * sizeof *st);
        if (!st) return gptc_fail(err, GPTC_E_NOMEM, "sft: out of memory");
        s->start = st;
        b->cap_conv = cap;
    }
    memcpy(s->tok + s->n, ids, n * sizeof *ids);
    memcpy(s->learn + s->n, learn, n);
    s->start[s->n_conv] = s->n;
    s->n += n;
    s->n_conv++;
    s->start[s->n_conv] = s->n;
    for (size_t i = 0; i < n; i++)
        s->n_learn += learn[i];
    return GPTC_OK;
}

/* One line of the file (without its newline): a conversation's tokens and mask, or why not. */
static gptc_status parse_line(const render_ctx *c, const char *line, size_t len, int32_t **ids,
                              uint8_t **learn, size_t *n, gptc_err *err)
{
    *ids = NULL, *learn = NULL, *n = 0;
    json_error_t je;
    json_t *j = json_loadb(line, len, 0, &je);
    gptc_status s = GPTC_OK;
    if (!j)
        s = gptc_fail(err, GPTC_E_FORMAT, "not JSON (%s)", je.text);
    else if (!json_is_object(j))
        s = gptc_fail(err, GPTC_E_FORMAT, "not a JSON object");
    else if (!json_object_get(j, "messages"))
        s = gptc_fail(err, GPTC_E_FORMAT, "no \"messages\"");
    else {
        s = render_conv(c, json_object_get(j, "messages"), json_object_get(j, "tools"), ids, learn,
                        n, err);
        if (!s && *n > (size_t)c->o->T + 1) {
            s = gptc_fail(err, GPTC_E_INVALID,
                          "the conversation is %zu tokens, longer than the context (%d + 1)", *n,
                          c->o->T);
            free(*ids), free(*learn);
            *ids = NULL, *learn = NULL, *n = 0;
        }
    }
    json_decref(j);
    return s;
}

gptc_status gptc_sft_parse_line(const gptc_sft_opts *o, const char *line, size_t len, int32_t **ids,
                                uint8_t **learn, size_t *n, gptc_err *err)
{
    *ids = NULL, *learn = NULL, *n = 0;
    render_ctx c;
    gptc_status s = ctx_init(&c, o, err);
    if (s) return s;
    s = parse_line(&c, line, len, ids, learn, n, err);
    gptc_chat_template_free(c.tmpl);
    return s;
}

static gptc_status load_file(const char *path, const render_ctx *c, builder *b, gptc_err *err)
{
    const gptc_sft_opts *o = c->o;
    FILE *fp = fopen(path, "rb");
    if (!fp) return gptc_fail(err, GPTC_E_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0, before = b->s->n_conv;
    ssize_t len;
    gptc_status s = GPTC_OK;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        size_t k = (size_t)len;
        while (k && (line[k - 1] == '\n' || line[k - 1] == '\r' || line[k - 1] == ' ' ||
                     line[k - 1] == '\t'))
            k--;
        if (!k) continue; /* blank lines are not conversations */
        gptc_err e = {0};
        int32_t *ids = NULL;
        uint8_t *learn = NULL;
        size_t n = 0;
        gptc_status ls = parse_line(c, line, k, &ids, &learn, &n, &e);
        if (ls == GPTC_E_NOMEM) {
            s = gptc_fail(err, ls, "%s", e.msg);
        } else if (ls) {
            b->s->n_bad++;
            if (o->strict)
                s = gptc_fail(err, GPTC_E_INVALID, "%s:%zu: %s", path, lineno, e.msg);
            else if (o->report)
                o->report(o->ud, path, lineno, e.msg);
        } else {
            s = add_conv(b, ids, learn, n, err);
        }
        free(ids), free(learn);
        if (s) break;
    }
    free(line);
    fclose(fp);
    if (!s && b->s->n_conv == before)
        s = gptc_fail(err, GPTC_E_INVALID, "%s: no usable conversation (%zu lines)", path, lineno);
    return s;
}

gptc_status gptc_sft_load(const char *path, const char *val_path, const gptc_sft_opts *o,
                          gptc_sft *out, gptc_err *err)
{
    memset(out, 0, sizeof *out);
    if (o->T < 2) return gptc_fail(err, GPTC_E_INVALID, "sft: the context is too short");
    render_ctx c;
    gptc_status s = ctx_init(&c, o, err);
    if (s) return s;
    builder b = {.s = out};
    if ((s = load_file(path, &c, &b, err))) goto fail;
    if (val_path) {
        out->n_train = out->n_conv;
        if ((s = load_file(val_path, &c, &b, err))) goto fail;
    } else {
        if (out->n_conv < 2) {
            s = gptc_fail(err, GPTC_E_INVALID,
                          "%s: one conversation cannot be split into training and validation "
                          "(add more, or give --val-data)",
                          path);
            goto fail;
        }
        size_t n_val = (size_t)(o->val_frac * (double)out->n_conv);
        if (n_val < 1) n_val = 1;
        if (n_val >= out->n_conv) n_val = out->n_conv - 1;
        out->n_train = out->n_conv - n_val;
    }
    uint64_t h = GPTC_FNV64_INIT;
    for (size_t i = 0; i < out->n; i++) {
        uint32_t v = (uint32_t)out->tok[i] | (uint32_t)out->learn[i] << 31;
        uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
        h = gptc_fnv1a64(h, le, sizeof le);
    }
    out->hash = h ^ out->n_train;
    gptc_chat_template_free(c.tmpl);
    return GPTC_OK;
fail:
    gptc_chat_template_free(c.tmpl);
    gptc_sft_free(out);
    return s;
}

void gptc_sft_free(gptc_sft *s)
{
    free(s->tok);
    free(s->learn);
    free(s->start);
    memset(s, 0, sizeof *s);
}

int gptc_sft_targets(const gptc_sft *s, size_t c)
{
    int n = 0;
    for (size_t i = s->start[c] + 1; i < s->start[c + 1]; i++)
        n += s->learn[i];
    return n;
}

int gptc_sft_window(const gptc_sft *s, size_t c, int T, int32_t *tok, int32_t *tgt)
{
    size_t a = s->start[c], len = s->start[c + 1] - a; /* <= T + 1 */
    int n = 0;
    int32_t pad = s->tok[a];
    for (int i = 0; i < T; i++) {
        size_t k = (size_t)i;
        tok[i] = k < len ? s->tok[a + k] : pad;
        if (k + 1 < len && s->learn[a + k + 1]) {
            tgt[i] = s->tok[a + k + 1];
            n++;
        } else {
            tgt[i] = -1;
        }
    }
    return n;
}
