/*
 * v1_chat_completions.c — POST /v1/chat/completions: messages through the chat template, then
 * a generation job (v1_common.c).
 *
 * Messages: role system, developer (given to templates as system, which most of them know),
 * user, assistant or tool; content a string, an array of text parts (joined with newlines), or
 * null for an assistant turn. Other part types (images, audio) are a 400 naming the part.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/toolcall.h"
#include "grammar/grammar.h"
#include "grammar/tool_grammar.h"
#include "server/srv.h"

/* An assistant message's tool_calls as the template should see them: {"id", "type",
 * "function": {"name", "arguments"}} with the arguments parsed into an object (what most
 * templates expect), or, when str_args, left as the JSON text (templates that concatenate it). */
static json_t *norm_tool_calls(const json_t *tc, size_t i, int str_args, json_t *id_names,
                               srv_error *e)
{
    char param[96];
    snprintf(param, sizeof param, "messages[%zu].tool_calls", i);
    if (!json_is_array(tc)) {
        gptc_srv_fail(e, 400, "invalid_type", param, "'%s' must be an array", param);
        return NULL;
    }
    json_t *out = json_array();
    size_t k;
    const json_t *c;
    json_array_foreach(tc, k, c)
    {
        snprintf(param, sizeof param, "messages[%zu].tool_calls[%zu]", i, k);
        const json_t *fn = json_object_get(c, "function"), *id = json_object_get(c, "id"),
                     *type = json_object_get(c, "type");
        const json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        if (!json_is_object(c) || !json_is_object(fn) || !json_is_string(name) ||
            (args && !json_is_string(args) && !json_is_object(args)) ||
            (type && (!json_is_string(type) || strcmp(json_string_value(type), "function"))) ||
            (id && !json_is_string(id))) {
            gptc_srv_fail(e, 400, "invalid_value", param,
                          "'%s' must be {\"id\": \"...\", \"type\": \"function\", "
                          "\"function\": {\"name\": \"...\", \"arguments\": \"{...}\"}}",
                          param);
            json_decref(out);
            return NULL;
        }
        json_t *a;
        if (!args) {
            a = str_args ? json_string("{}") : json_object();
        } else if (json_is_object(args)) {
            if (str_args) {
                char *t = json_dumps(args, JSON_COMPACT);
                a = json_string(t ? t : "{}");
                free(t);
            } else {
                a = json_incref(GPTC_UNCONST(json_t *, args));
            }
        } else if (str_args) {
            a = json_incref(GPTC_UNCONST(json_t *, args));
        } else {
            a = json_loads(json_string_value(args), JSON_DECODE_ANY, NULL);
            if (!json_is_object(a)) { /* not an object: the template gets the text */
                json_decref(a);
                a = json_incref(GPTC_UNCONST(json_t *, args));
            }
        }
        json_t *o = json_pack("{s:s, s:s, s:{s:O, s:o}}", "id", id ? json_string_value(id) : "",
                              "type", "function", "function", "name", name, "arguments", a);
        json_array_append_new(out, o);
        if (id && id_names)
            json_object_set(id_names, json_string_value(id), GPTC_UNCONST(json_t *, name));
    }
    return out;
}

/* The messages as the template should see them: [{"role", "content"}, ...]. variant: bit 0,
 * tool-call arguments as JSON text rather than objects; bit 1, an assistant message with
 * tool_calls and no content gets "" rather than null. */
static json_t *normalise_v(const json_t *msgs, int variant, srv_error *e);
static json_t *normalise(const json_t *msgs, srv_error *e)
{
    return normalise_v(msgs, 2, e);
}

static json_t *normalise_v(const json_t *msgs, int variant, srv_error *e)
{
    char param[96];
    if (!msgs || json_is_null(msgs)) {
        gptc_srv_fail(e, 400, "missing_required_parameter", "messages", "'messages' is required");
        return NULL;
    }
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        gptc_srv_fail(e, 400, json_is_array(msgs) ? "invalid_value" : "invalid_type", "messages",
                      "'messages' must be a non-empty array of messages");
        return NULL;
    }
    json_t *out = json_array(), *id_names = json_object();
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (!json_is_object(m)) {
            snprintf(param, sizeof param, "messages[%zu]", i);
            gptc_srv_fail(e, 400, "invalid_type", param, "'%s' must be an object", param);
            goto fail;
        }
        const json_t *role = json_object_get(m, "role");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!json_is_string(role)) {
            gptc_srv_fail(e, 400, role ? "invalid_type" : "missing_required_parameter", param,
                          "'%s' must be a string", param);
            goto fail;
        }
        const char *r = json_string_value(role);
        int assistant = strcmp(r, "assistant") == 0;
        if (strcmp(r, "developer") == 0) r = "system";
        if (strcmp(r, "system") && strcmp(r, "user") && !assistant && strcmp(r, "tool")) {
            gptc_srv_fail(e, 400, "invalid_value", param,
                          "'%s' must be one of system, developer, user, assistant, tool", param);
            goto fail;
        }
        const json_t *content = json_object_get(m, "content");
        const json_t *tc = json_object_get(m, "tool_calls");
        if (tc && json_is_null(tc)) tc = NULL;
        snprintf(param, sizeof param, "messages[%zu].content", i);
        json_t *text;
        if (json_is_string(content)) {
            text = json_incref(GPTC_UNCONST(json_t *, content));
        } else if (json_is_array(content)) {
            srv_buf b = {0};
            size_t k;
            const json_t *part;
            json_array_foreach(content, k, part)
            {
                const json_t *type = json_object_get(part, "type"),
                             *t = json_object_get(part, "text");
                if (!json_is_object(part) || !json_is_string(type) ||
                    strcmp(json_string_value(type), "text") != 0 || !json_is_string(t)) {
                    snprintf(param, sizeof param, "messages[%zu].content[%zu]", i, k);
                    gptc_srv_buf_free(&b);
                    gptc_srv_fail(
                        e, 400, "invalid_value", param,
                        "'%s' must be a text part {\"type\": \"text\", \"text\": \"...\"} "
                        "(only text is supported)",
                        param);
                    goto fail;
                }
                if (k) gptc_srv_buf_add(&b, "\n", 1);
                gptc_srv_buf_add(&b, json_string_value(t), json_string_length(t));
            }
            text = json_stringn(b.p ? b.p : "", b.n);
            gptc_srv_buf_free(&b);
        } else if ((!content || json_is_null(content)) && assistant) {
            text = tc && !(variant & 2) ? json_null() : json_string("");
        } else {
            gptc_srv_fail(e, 400, content ? "invalid_type" : "missing_required_parameter", param,
                          "'%s' must be a string or an array of text parts", param);
            goto fail;
        }
        json_t *nm = json_pack("{s:s, s:o}", "role", r, "content", text);
        /* what tool-aware templates read */
        const json_t *tcid = json_object_get(m, "tool_call_id");
        if (tc && !assistant) {
            snprintf(param, sizeof param, "messages[%zu].tool_calls", i);
            gptc_srv_fail(e, 400, "invalid_value", param,
                          "'%s': only assistant messages carry tool_calls", param);
            json_decref(nm);
            goto fail;
        }
        if (tc) {
            json_t *ntc = norm_tool_calls(tc, i, variant & 1, id_names, e);
            if (!ntc) {
                json_decref(nm);
                goto fail;
            }
            json_object_set_new(nm, "tool_calls", ntc);
        }
        if (!strcmp(r, "tool")) {
            snprintf(param, sizeof param, "messages[%zu].tool_call_id", i);
            if (!json_is_string(tcid)) {
                gptc_srv_fail(e, 400, tcid ? "invalid_type" : "missing_required_parameter", param,
                              "'%s' must be the id of the call this message answers", param);
                json_decref(nm);
                goto fail;
            }
            json_object_set(nm, "tool_call_id", GPTC_UNCONST(json_t *, tcid));
            /* the function's name, for templates that print it */
            const json_t *fname = json_object_get(m, "name");
            if (!json_is_string(fname)) fname = json_object_get(id_names, json_string_value(tcid));
            if (json_is_string(fname)) json_object_set(nm, "name", GPTC_UNCONST(json_t *, fname));
        }
        json_array_append_new(out, nm);
    }
    json_decref(id_names);
    return out;
fail:
    json_decref(id_names);
    json_decref(out);
    return NULL;
}

static json_t *normalise_as(const json_t *messages, const char *param, srv_error *e)
{
    json_t *msgs = normalise(messages, e);
    if (!msgs && strcmp(param, "messages") != 0 && strncmp(e->param, "messages", 8) == 0) {
        char p2[96];
        snprintf(p2, sizeof p2, "%s%s", param, e->param + 8);
        snprintf(e->param, sizeof e->param, "%s", p2);
    }
    return msgs;
}

static gptc_chat_opts chat_opts(const gptc_server *s)
{
    gptc_chat_opts co = gptc_chat_default_opts();
    co.add_generation_prompt = 1;
    co.bos_token = s->has_bos_text ? s->bos_text : NULL;
    co.eos_token = s->has_eos_text ? s->eos_text : NULL;
    return co;
}

int gptc_srv_chat_tokens(gptc_server *s, const json_t *messages, const char *param,
                         int32_t **ids_out, int *n_out, srv_error *e)
{
    json_t *msgs = normalise_as(messages, param, e);
    if (!msgs) return -1;
    gptc_chat_opts co = chat_opts(s);
    /* special tokens only from the template's text, never from message content */
    int32_t *ids = NULL;
    size_t n_ids = 0;
    gptc_err err;
    gptc_status st = gptc_chat_prompt(s->tmpl, msgs, NULL, &co, gptc_model_tokenizer(s->model),
                                      &ids, &n_ids, NULL, NULL, &err);
    json_decref(msgs);
    if (st) {
        if (st == GPTC_E_NOMEM)
            return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
        return gptc_srv_fail(e, 400, "invalid_value", param,
                             "the chat template refused the messages: %s", err.msg);
    }
    if (n_ids == 0 || n_ids > INT_MAX / 2) {
        free(ids);
        return gptc_srv_fail(e, 400, n_ids ? "context_length_exceeded" : "invalid_value", param,
                             "'%s' is %s", param, n_ids ? "too long" : "empty");
    }
    *ids_out = ids;
    *n_out = (int)n_ids;
    return 0;
}

int gptc_srv_chat_render(gptc_server *s, const json_t *messages, const char *param, char **text_out,
                         size_t *len_out, srv_error *e)
{
    json_t *msgs = normalise_as(messages, param, e);
    if (!msgs) return -1;
    gptc_chat_opts co = chat_opts(s);
    gptc_err err;
    gptc_status st = gptc_chat_render_json(s->tmpl, msgs, NULL, &co, text_out, len_out, &err);
    json_decref(msgs);
    if (st) {
        if (st == GPTC_E_NOMEM)
            return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
        return gptc_srv_fail(e, 400, "invalid_value", param,
                             "the chat template refused the messages: %s", err.msg);
    }
    return 0;
}

/* ----- tools ---------------------------------------------------------------------------------- */

enum { TC_NONE = 0, TC_AUTO, TC_REQUIRED, TC_NAMED };

static int name_ok(const char *n, size_t len)
{
    if (len == 0 || len > 64) return 0;
    for (size_t i = 0; i < len; i++)
        if (!(n[i] == '_' || n[i] == '-' || (n[i] >= 'a' && n[i] <= 'z') ||
              (n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9')))
            return 0;
    return 1;
}

/* tools, tool_choice, parallel_tool_calls (validated). */
static int parse_tools(const json_t *body, const json_t **tools_out, int *choice,
                       const char **named, int *parallel, srv_error *e)
{
    char param[96];
    const json_t *tools = json_object_get(body, "tools");
    if (tools && json_is_null(tools)) tools = NULL;
    *tools_out = tools;
    *named = NULL;
    if (tools) {
        if (!json_is_array(tools))
            return gptc_srv_fail(e, 400, "invalid_type", "tools",
                                 "'tools' must be an array of function tools");
        if (json_array_size(tools) == 0 || json_array_size(tools) > 128)
            return gptc_srv_fail(e, 400, "invalid_value", "tools",
                                 "'tools' must hold 1 to 128 function tools");
        size_t i;
        const json_t *t;
        json_array_foreach(tools, i, t)
        {
            snprintf(param, sizeof param, "tools[%zu]", i);
            if (!json_is_object(t))
                return gptc_srv_fail(e, 400, "invalid_type", param, "'%s' must be an object",
                                     param);
            const char *k;
            json_t *v;
            json_object_foreach(GPTC_UNCONST(json_t *, t), k, v)
            {
                if (strcmp(k, "type") && strcmp(k, "function")) {
                    snprintf(param, sizeof param, "tools[%zu].%.40s", i, k);
                    return gptc_srv_fail(e, 400, "unsupported_parameter", param,
                                         "'%s' is not supported", param);
                }
            }
            const json_t *type = json_object_get(t, "type"), *fn = json_object_get(t, "function");
            if (!json_is_string(type) || strcmp(json_string_value(type), "function")) {
                snprintf(param, sizeof param, "tools[%zu].type", i);
                return gptc_srv_fail(e, 400, "invalid_value", param,
                                     "'%s' must be \"function\" (only function tools are "
                                     "supported)",
                                     param);
            }
            snprintf(param, sizeof param, "tools[%zu].function", i);
            if (!json_is_object(fn))
                return gptc_srv_fail(
                    e, 400, fn ? "invalid_type" : "missing_required_parameter", param,
                    "'%s' must be an object {name, description, parameters}", param);
            json_object_foreach(GPTC_UNCONST(json_t *, fn), k, v)
            {
                snprintf(param, sizeof param, "tools[%zu].function.%.40s", i, k);
                if (!strcmp(k, "name")) {
                    if (!json_is_string(v) || !name_ok(json_string_value(v), json_string_length(v)))
                        return gptc_srv_fail(e, 400, "invalid_value", param,
                                             "'%s' must be 1 to 64 characters of a-z, A-Z, 0-9, "
                                             "_ and -",
                                             param);
                    for (size_t j = 0; j < i; j++)
                        if (json_equal(v, json_object_get(
                                              json_object_get(json_array_get(tools, j), "function"),
                                              "name")))
                            return gptc_srv_fail(e, 400, "invalid_value", param,
                                                 "'%s': two tools have the name '%s'", param,
                                                 json_string_value(v));
                } else if (!strcmp(k, "description")) {
                    if (!json_is_string(v) && !json_is_null(v))
                        return gptc_srv_fail(e, 400, "invalid_type", param, "'%s' must be a string",
                                             param);
                } else if (!strcmp(k, "parameters")) {
                    if (!json_is_object(v))
                        return gptc_srv_fail(e, 400, "invalid_type", param,
                                             "'%s' must be a JSON schema object", param);
                } else if (!strcmp(k, "strict")) {
                    if (!json_is_boolean(v) && !json_is_null(v))
                        return gptc_srv_fail(e, 400, "invalid_type", param,
                                             "'%s' must be a boolean", param);
                } else {
                    return gptc_srv_fail(e, 400, "unsupported_parameter", param,
                                         "'%s' is not supported", param);
                }
            }
            if (!json_object_get(fn, "name")) {
                snprintf(param, sizeof param, "tools[%zu].function.name", i);
                return gptc_srv_fail(e, 400, "missing_required_parameter", param,
                                     "'%s' is required", param);
            }
        }
    }
    const json_t *tc = json_object_get(body, "tool_choice");
    if (tc && json_is_null(tc)) tc = NULL;
    *choice = tools ? TC_AUTO : TC_NONE;
    if (tc) {
        const char *v = json_string_value(tc);
        if (v && !strcmp(v, "none"))
            *choice = TC_NONE;
        else if (v && !strcmp(v, "auto"))
            *choice = TC_AUTO;
        else if (v && !strcmp(v, "required"))
            *choice = TC_REQUIRED;
        else if (json_is_object(tc) && json_is_string(json_object_get(tc, "type")) &&
                 !strcmp(json_string_value(json_object_get(tc, "type")), "function") &&
                 json_is_string(json_object_get(json_object_get(tc, "function"), "name"))) {
            *choice = TC_NAMED;
            *named = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
        } else {
            return gptc_srv_fail(e, 400, "invalid_value", "tool_choice",
                                 "'tool_choice' must be \"none\", \"auto\", \"required\" or "
                                 "{\"type\": \"function\", \"function\": {\"name\": "
                                 "\"...\"}}");
        }
        if (!tools && *choice != TC_NONE)
            return gptc_srv_fail(e, 400, "invalid_value", "tool_choice",
                                 "'tool_choice' is only allowed when 'tools' are specified");
        if (*choice == TC_NAMED) {
            int found = 0;
            for (size_t i = 0; i < json_array_size(tools); i++)
                if (!strcmp(*named,
                            json_string_value(json_object_get(
                                json_object_get(json_array_get(tools, i), "function"), "name"))))
                    found = 1;
            if (!found)
                return gptc_srv_fail(e, 400, "invalid_value", "tool_choice",
                                     "'tool_choice' names '%.64s', which is not in 'tools'",
                                     *named);
        }
    }
    *parallel = 1;
    if (gptc_srv_jbool(body, "parallel_tool_calls", parallel, e) < 0) return -1;
    return 0;
}

/* A grammar field is present (response_format other than text, grammar, json_schema). */
static const char *grammar_field(const json_t *body)
{
    const json_t *rf = json_object_get(body, "response_format");
    const json_t *t = json_object_get(rf, "type");
    if (rf && !json_is_null(rf) && !(json_is_string(t) && !strcmp(json_string_value(t), "text")))
        return "response_format";
    if (json_object_get(body, "grammar") && !json_is_null(json_object_get(body, "grammar")))
        return "grammar";
    if (json_object_get(body, "json_schema") && !json_is_null(json_object_get(body, "json_schema")))
        return "json_schema";
    return NULL;
}

static int has_tool_calls(const json_t *msgs)
{
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const json_t *tc = json_object_get(m, "tool_calls");
        if (tc && !json_is_null(tc)) return 1;
    }
    return 0;
}

/* Render (with tools) and tokenize; tool-call messages are tried in the shapes templates
 * expect (arguments as objects, then as text; content null, then ""). The prompt ends with
 * prefix (our text: special tokens allowed). OUT: *think (gptc_toolcall_opts.think). */
static int chat_tokens_tools(gptc_server *s, const json_t *messages, const json_t *tools,
                             const char *extra_json, char **prefixp, int32_t **ids_out, int *n_out,
                             int *think, srv_error *e)
{
    static const int k_variants[4] = {0, 2, 1, 3};
    int nv = json_is_array(messages) && has_tool_calls(messages) ? 4 : 1;
    gptc_chat_opts co = chat_opts(s);
    co.extra_json = extra_json;
    const gptc_tokenizer *tok = gptc_model_tokenizer(s->model);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char *text = NULL;
    size_t text_len = 0;
    gptc_err err, err0;
    gptc_status st = GPTC_OK, st0 = GPTC_OK;
    for (int v = 0; v < nv; v++) {
        json_t *msgs = normalise_v(messages, nv == 1 ? 2 : k_variants[v], e);
        if (!msgs) return -1;
        st = gptc_chat_prompt(s->tmpl, msgs, tools, &co, tok, &ids, &n_ids, &text, &text_len, &err);
        json_decref(msgs);
        if (!st) break;
        if (v == 0) st0 = st, err0 = err;
        if (st == GPTC_E_NOMEM) break;
    }
    if (st) {
        if (st == GPTC_E_NOMEM)
            return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
        return gptc_srv_fail(e, 400, "invalid_value", "messages",
                             "the chat template refused the messages: %s", (st0 ? err0 : err).msg);
    }
    *think = gptc_toolcall_prompt_opens_think(text, text_len) ? 2
             : memmem(s->tmpl_src, s->tmpl_len, "<think>", 7) ? 1
                                                              : 0;
    free(text);
    if (*prefixp && *think == 2) { /* a forced call after the prompt opened <think>: close it */
        size_t pl = strlen(*prefixp);
        char *p2 = malloc(pl + 12);
        if (!p2) {
            free(ids);
            return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
        }
        memcpy(p2, "</think>\n\n", 10);
        memcpy(p2 + 10, *prefixp, pl + 1);
        free(*prefixp);
        *prefixp = p2;
    }
    const char *prefix = *prefixp;
    size_t np = prefix ? strlen(prefix) : 0;
    if (np) { /* the opener the grammar continues */
        size_t cnt = 0;
        if (gptc_tok_encode(tok, prefix, np, 0, 1, NULL, 0, &cnt, &err) || cnt > 4096) {
            free(ids);
            return gptc_srv_fail(e, 500, "internal_error", NULL, "cannot tokenize the tool prefix");
        }
        int32_t *b = realloc(ids, (n_ids + cnt) * sizeof *ids);
        size_t got = 0;
        if (!b || gptc_tok_encode(tok, prefix, np, 0, 1, b + n_ids, cnt, &got, &err)) {
            free(b ? b : ids);
            return gptc_srv_fail(e, 500, "internal_error", NULL, "cannot tokenize the tool prefix");
        }
        ids = b;
        n_ids += got;
    }
    if (n_ids == 0 || n_ids > INT_MAX / 2) {
        free(ids);
        return gptc_srv_fail(e, 400, n_ids ? "context_length_exceeded" : "invalid_value",
                             "messages", "'messages' is %s", n_ids ? "too long" : "empty");
    }
    *ids_out = ids;
    *n_out = (int)n_ids;
    return 0;
}

/* chat_template_kwargs and reasoning_effort: further template variables, as JSON text (NULL:
 * none). enable_thinking and reasoning_effort are what Qwen3/SmolLM3 and gpt-oss templates read. */
static int template_vars(const json_t *body, int no_thinking, char **out, srv_error *e)
{
    static const char *const k_reserved[] = {"messages",  "tools",     "add_generation_prompt",
                                             "bos_token", "eos_token", NULL};
    const json_t *kw = json_object_get(body, "chat_template_kwargs");
    const json_t *re = json_object_get(body, "reasoning_effort");
    *out = NULL;
    if (kw && json_is_null(kw)) kw = NULL;
    if (re && json_is_null(re)) re = NULL;
    if (!kw && !re && !no_thinking) return 0;
    if (kw && !json_is_object(kw))
        return gptc_srv_fail(e, 400, "invalid_type", "chat_template_kwargs",
                             "'chat_template_kwargs' must be an object of template variables");
    if (re) {
        const char *v = json_string_value(re);
        if (!v ||
            (strcmp(v, "minimal") && strcmp(v, "low") && strcmp(v, "medium") && strcmp(v, "high")))
            return gptc_srv_fail(e, 400, "invalid_value", "reasoning_effort",
                                 "'reasoning_effort' must be minimal, low, medium or high");
    }
    json_t *vars = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(GPTC_UNCONST(json_t *, kw), k, v)
    {
        for (int i = 0; k_reserved[i]; i++)
            if (!strcmp(k, k_reserved[i])) {
                char param[96];
                snprintf(param, sizeof param, "chat_template_kwargs.%.60s", k);
                json_decref(vars);
                return gptc_srv_fail(e, 400, "invalid_value", param,
                                     "'%s': the server sets this template variable", param);
            }
        json_object_set(vars, k, v);
    }
    if (re) json_object_set(vars, "reasoning_effort", GPTC_UNCONST(json_t *, re));
    /* --reasoning-budget 0: no thinking where the template allows, unless the request says */
    if (no_thinking && !json_object_get(vars, "enable_thinking"))
        json_object_set_new(vars, "enable_thinking", json_false());
    *out = json_dumps(vars, JSON_COMPACT);
    json_decref(vars);
    if (!*out) return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
    return 0;
}

int gptc_srv_chat_prepare(gptc_server *s, const json_t *body, srv_job **out, srv_gen_opts *o,
                          srv_error *e)
{
    const json_t *tools = NULL;
    int choice = TC_NONE, parallel = 1, think = 0;
    const char *named = NULL;
    if (parse_tools(body, &tools, &choice, &named, &parallel, e)) return -1;
    int fmt = gptc_toolcall_detect(s->tmpl_src, s->tmpl_len);
    char *prefix = NULL, *gbnf = NULL;
    size_t glen = 0;
    const char *gf = grammar_field(body);
    if (choice != TC_NONE && gf)
        return gptc_srv_fail(e, 400, "invalid_value", gf,
                             "'%s' together with tools is not supported (the grammar would rule "
                             "out tool calls): send tool_choice \"none\", or leave '%s' out",
                             gf, gf);
    char *lazy = NULL; /* tool_choice auto: the opener after which the calls' grammar engages */
    if (choice == TC_AUTO && fmt != GPTC_TC_HARMONY && fmt != GPTC_TC_LLAMA3 &&
        fmt != GPTC_TC_FUNCTIONARY && fmt != GPTC_TC_GEMMA4) {
        gptc_err err;
        /* a schema the compiler cannot honour leaves auto unconstrained, as before (the calls
         * are still parsed and checked afterwards) */
        if (gptc_tool_grammar(fmt, s->tmpl_src, s->tmpl_len, tools, NULL, parallel, &lazy, &gbnf,
                              &glen, &err) == GPTC_E_NOMEM)
            return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
        gptc_gbnf *g = NULL;
        if (gbnf &&
            (!lazy || !*lazy || strlen(lazy) > 32 || gptc_gbnf_parse(gbnf, glen, NULL, &g, &err))) {
            free(lazy);
            free(gbnf);
            lazy = gbnf = NULL;
        }
        gptc_gbnf_free(g);
    }
    if (choice == TC_REQUIRED || choice == TC_NAMED) {
        gptc_err err;
        gptc_status st = gptc_tool_grammar(fmt, s->tmpl_src, s->tmpl_len, tools, named, parallel,
                                           &prefix, &gbnf, &glen, &err);
        if (st == GPTC_E_NOMEM)
            return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
        if (st && strstr(err.msg, "json schema"))
            return gptc_srv_fail(
                e, 400, st == GPTC_E_UNSUPPORTED ? "unsupported_parameter" : "invalid_value",
                "tools", "'tools' parameters: %s", err.msg);
        if (st)
            return gptc_srv_fail(e, 400, "unsupported_parameter", "tool_choice",
                                 "'tool_choice': %s", err.msg);
        /* the grammar must compile: validated here, compiled per slot */
        gptc_gbnf *g = NULL;
        st = gptc_gbnf_parse(gbnf, glen, NULL, &g, &err);
        gptc_gbnf_free(g);
        if (st) {
            free(prefix);
            free(gbnf);
            return gptc_srv_fail(e, 400, "invalid_value", "tools", "'tools': %s", err.msg);
        }
    }
    /* the tools as templates read them: description and parameters always there */
    json_t *ttools = NULL;
    if (tools) {
        ttools = json_array();
        size_t i;
        const json_t *t;
        json_array_foreach(tools, i, t)
        {
            const json_t *fn = json_object_get(t, "function");
            const json_t *d = json_object_get(fn, "description"),
                         *pa = json_object_get(fn, "parameters");
            json_t *nfn = json_deep_copy(fn);
            if (!json_is_string(d)) json_object_set_new(nfn, "description", json_string(""));
            if (!pa)
                json_object_set_new(nfn, "parameters",
                                    json_pack("{s:s, s:{}}", "type", "object", "properties"));
            json_array_append_new(ttools,
                                  json_pack("{s:s, s:o}", "type", "function", "function", nfn));
        }
    }
    int32_t *ids = NULL;
    int n_ids = 0;
    char *extra = NULL;
    int rc = template_vars(body, s->p.reasoning_budget == 0, &extra, e);
    if (!rc)
        rc = chat_tokens_tools(s, json_object_get(body, "messages"), ttools, extra, &prefix, &ids,
                               &n_ids, &think, e);
    free(extra);
    json_decref(ttools);
    if (rc) {
        free(prefix);
        free(gbnf);
        free(lazy);
        return -1;
    }
    if (fmt == GPTC_TC_HARMONY) think = 0; /* the harmony parser has its own channels */
    if (gptc_srv_gen_parse(s, body, ids, n_ids, 1, out, o, e)) {
        free(prefix);
        free(gbnf);
        free(lazy);
        return -1;
    }
    srv_job *j = *out;
    if (gbnf) {
        free(j->grammar);
        j->grammar = gbnf;
        j->grammar_len = glen;
    }
    if (choice == TC_AUTO) j->tc_tools = json_deep_copy(tools);
    j->think_budget = s->p.reasoning_budget;
    j->lazy_trigger = lazy;
    j->lazy_id = -1;
    j->lazy_think = think == 2;
    if (lazy) { /* the opener as one token (often a special token of its own) */
        const gptc_tokenizer *tok = gptc_model_tokenizer(s->model);
        int32_t tid[2];
        size_t nt = 0;
        gptc_err err;
        if (!gptc_tok_encode(tok, lazy, strlen(lazy), 0, 1, tid, 2, &nt, &err) && nt == 1)
            j->lazy_id = tid[0];
    }
    j->tc_on = tools || think || fmt == GPTC_TC_HARMONY; /* harmony: channels always */
    j->tc_format = fmt;
    j->tc_think = think;
    j->tc_prefix = prefix;
    j->tc_names = json_array();
    for (size_t i = 0; tools && choice != TC_NONE && i < json_array_size(tools); i++) {
        json_t *nm = json_object_get(json_object_get(json_array_get(tools, i), "function"), "name");
        if (!named || !strcmp(named, json_string_value(nm))) json_array_append(j->tc_names, nm);
    }
    return 0;
}

enum MHD_Result gptc_srv_ep_chat(srv_req *r, json_t *body)
{
    srv_error e;
    srv_job *j;
    srv_gen_opts o;
    if (gptc_srv_chat_prepare(r->srv, body, &j, &o, &e)) return gptc_srv_reply_error(r, &e);
    return gptc_srv_gen_run(r, j, &o);
}
