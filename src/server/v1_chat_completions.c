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

#include "server/srv.h"

/* The messages as the template should see them: [{"role", "content"}, ...]. */
static json_t *normalise(const json_t *msgs, srv_error *e)
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
    json_t *out = json_array();
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
        snprintf(param, sizeof param, "messages[%zu].content", i);
        json_t *text;
        if (json_is_string(content)) {
            text = json_incref((json_t *)content);
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
            text = json_string("");
        } else {
            gptc_srv_fail(e, 400, content ? "invalid_type" : "missing_required_parameter", param,
                          "'%s' must be a string or an array of text parts", param);
            goto fail;
        }
        json_t *nm = json_pack("{s:s, s:o}", "role", r, "content", text);
        /* what tool-aware templates read */
        const json_t *tc = json_object_get(m, "tool_calls"),
                     *tcid = json_object_get(m, "tool_call_id");
        if (assistant && json_is_array(tc)) json_object_set(nm, "tool_calls", (json_t *)tc);
        if (json_is_string(tcid)) json_object_set(nm, "tool_call_id", (json_t *)tcid);
        json_array_append_new(out, nm);
    }
    return out;
fail:
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

int gptc_srv_chat_prepare(gptc_server *s, const json_t *body, srv_job **out, srv_gen_opts *o,
                          srv_error *e)
{
    int32_t *ids;
    int n_ids;
    if (gptc_srv_chat_tokens(s, json_object_get(body, "messages"), "messages", &ids, &n_ids, e))
        return -1;
    return gptc_srv_gen_parse(s, body, ids, n_ids, 1, out, o, e);
}

enum MHD_Result gptc_srv_ep_chat(srv_req *r, json_t *body)
{
    srv_error e;
    srv_job *j;
    srv_gen_opts o;
    if (gptc_srv_chat_prepare(r->srv, body, &j, &o, &e)) return gptc_srv_reply_error(r, &e);
    return gptc_srv_gen_run(r, j, &o);
}
