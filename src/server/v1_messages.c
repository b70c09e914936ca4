/*
 * v1_messages.c — Anthropic's Messages API: POST /v1/messages (system, messages with text
 * blocks, max_tokens, stop_sequences, temperature, top_p, top_k, stream with Anthropic's event
 * sequence) and POST /v1/messages/count_tokens; the key may come as x-api-key. Errors have
 * Anthropic's shape {"type": "error", "error": {"type", "message"}}.
 *
 * The messages are rendered by gptc_srv_chat_tokens, the same path as /v1/chat/completions. Tools
 * (tools, tool_choice, tool_use/tool_result blocks), extended thinking and images come with the
 * tool-calling work; until then they are a 400 naming the field, never ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

static enum MHD_Result reply_error(srv_req *r, const srv_error *e)
{
    const char *type = e->status == 401   ? "authentication_error"
                       : e->status == 403 ? "permission_error"
                       : e->status == 404 ? "not_found_error"
                       : e->status == 413 ? "request_too_large"
                       : e->status == 429 ? "rate_limit_error"
                       : e->status == 503 ? "overloaded_error"
                       : e->status >= 500 ? "api_error"
                                          : "invalid_request_error";
    char msg[600];
    if (e->param[0])
        snprintf(msg, sizeof msg, "%s: %s", e->param, e->message);
    else
        snprintf(msg, sizeof msg, "%s", e->message);
    json_t *o = json_pack("{s:s, s:{s:s, s:o}}", "type", "error", "error", "type", type, "message",
                          gptc_srv_jstring_lossy(msg, strlen(msg)));
    return gptc_srv_reply_json(r, e->status, o);
}

/* system + messages -> OpenAI-shape chat messages. */
static json_t *to_chat(const json_t *body, srv_error *e)
{
    json_t *out = json_array();
    const json_t *sys = json_object_get(body, "system");
    srv_buf b = {0};
    if (sys && !json_is_null(sys)) {
        if (json_is_string(sys)) {
            gptc_srv_buf_add(&b, json_string_value(sys), json_string_length(sys));
        } else if (json_is_array(sys)) {
            size_t i;
            const json_t *blk;
            json_array_foreach(sys, i, blk)
            {
                const char *t = json_string_value(json_object_get(blk, "type"));
                const json_t *tx = json_object_get(blk, "text");
                if (!t || strcmp(t, "text") || !json_is_string(tx)) {
                    gptc_srv_fail(e, 400, "invalid_value", "system",
                                  "system[%zu] must be a text block", i);
                    goto fail;
                }
                if (i) gptc_srv_buf_add(&b, "\n", 1);
                gptc_srv_buf_add(&b, json_string_value(tx), json_string_length(tx));
            }
        } else {
            gptc_srv_fail(e, 400, "invalid_type", "system",
                          "system must be a string or an array of text blocks");
            goto fail;
        }
        json_array_append_new(
            out, json_pack("{s:s, s:s%}", "role", "system", "content", b.p ? b.p : "", b.n));
        gptc_srv_buf_free(&b);
    }
    const json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        gptc_srv_fail(e, 400, msgs ? "invalid_value" : "missing_required_parameter", "messages",
                      "messages must be a non-empty array");
        goto fail;
    }
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        char param[64];
        snprintf(param, sizeof param, "messages.%zu", i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant"))) {
            gptc_srv_fail(e, 400, "invalid_value", param, "role must be 'user' or 'assistant'");
            goto fail;
        }
        const json_t *c = json_object_get(m, "content");
        if (json_is_string(c)) {
            gptc_srv_buf_add(&b, json_string_value(c), json_string_length(c));
        } else if (json_is_array(c)) {
            size_t k;
            const json_t *blk;
            json_array_foreach(c, k, blk)
            {
                const char *t = json_string_value(json_object_get(blk, "type"));
                const json_t *tx = json_object_get(blk, "text");
                if (!t || strcmp(t, "text") || !json_is_string(tx)) {
                    gptc_srv_fail(e, 400, t ? "unsupported_parameter" : "invalid_value", param,
                                  "content.%zu: only text blocks are supported%s%s", k,
                                  t ? " (got " : "", t ? t : "");
                    if (t) strncat(e->message, ")", sizeof e->message - strlen(e->message) - 1);
                    goto fail;
                }
                if (k) gptc_srv_buf_add(&b, "\n", 1);
                gptc_srv_buf_add(&b, json_string_value(tx), json_string_length(tx));
            }
        } else {
            gptc_srv_fail(e, 400, "invalid_type", param, "content must be a string or an array");
            goto fail;
        }
        json_array_append_new(
            out, json_pack("{s:s, s:s%}", "role", role, "content", b.p ? b.p : "", b.n));
        gptc_srv_buf_free(&b);
    }
    return out;
fail:
    gptc_srv_buf_free(&b);
    json_decref(out);
    return NULL;
}

static int check_unsupported(const json_t *body, srv_error *e)
{
    static const char *const k_no[] = {"tools",     "tool_choice", "thinking",
                                       "container", "mcp_servers", "service_tier"};
    for (size_t i = 0; i < sizeof k_no / sizeof k_no[0]; i++) {
        const json_t *v = json_object_get(body, k_no[i]);
        if (!v || json_is_null(v) || (json_is_array(v) && !json_array_size(v))) continue;
        return gptc_srv_fail(e, 400, "unsupported_parameter", k_no[i],
                             "not supported yet by this server");
    }
    static const char *const k_known[] = {
        "model",    "messages",  "system",      "max_tokens",  "stop_sequences", "temperature",
        "top_p",    "top_k",     "stream",      "metadata",    "tools",          "tool_choice",
        "thinking", "container", "mcp_servers", "service_tier"};
    const char *key;
    json_t *val;
    json_object_foreach(GPTC_UNCONST(json_t *, body), key, val)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof k_known / sizeof k_known[0]; i++)
            known |= strcmp(key, k_known[i]) == 0;
        if (!known) return gptc_srv_fail(e, 400, "unsupported_parameter", key, "unknown field");
    }
    return 0;
}

typedef struct msg_ctx {
    char id[48];
    int n_user_stops;
    char stops[SRV_USER_STOPS][SRV_STOP_LEN + 1];
    int input_tokens;
} msg_ctx;

static void stop_info(const msg_ctx *c, const srv_job *j, const char **reason, json_t **seq)
{
    const srv_choice *ch = &j->choices[0];
    *seq = json_null();
    if (ch->finish == FINISH_LENGTH) {
        *reason = "max_tokens";
    } else if (ch->stop_hit > 0 && ch->stop_hit <= c->n_user_stops) {
        *reason = "stop_sequence";
        json_decref(*seq);
        *seq = json_string(c->stops[ch->stop_hit - 1]);
    } else {
        *reason = "end_turn";
    }
}

static void ev_begin(srv_evstream *st)
{
    msg_ctx *c = st->user;
    gptc_srv_ev_add(
        st, "message_start",
        json_pack("{s:s, s:{s:s, s:s, s:s, s:[], s:s, s:n, s:n, s:{s:i, s:i, s:i, s:i}}}", "type",
                  "message_start", "message", "id", c->id, "type", "message", "role", "assistant",
                  "content", "model", st->p.srv->alias, "stop_reason", "stop_sequence", "usage",
                  "input_tokens", c->input_tokens, "output_tokens", 1,
                  "cache_creation_input_tokens", 0, "cache_read_input_tokens",
                  st->p.job->n_cached));
    gptc_srv_ev_add(st, "content_block_start",
                    json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_start", "index", 0,
                              "content_block", "type", "text", "text", ""));
    gptc_srv_ev_add(st, "ping", json_pack("{s:s}", "type", "ping"));
}

static void ev_delta(srv_evstream *st, const char *text, size_t n)
{
    gptc_srv_ev_add(st, "content_block_delta",
                    json_pack("{s:s, s:i, s:{s:s, s:o}}", "type", "content_block_delta", "index", 0,
                              "delta", "type", "text_delta", "text",
                              gptc_srv_jstring_lossy(text, n)));
}

static void ev_finish(srv_evstream *st)
{
    msg_ctx *c = st->user;
    srv_job *j = st->p.job;
    if (j->failed) {
        gptc_srv_ev_add(st, "error",
                        json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
                                  "api_error", "message", j->fail_msg));
        return;
    }
    gptc_srv_ev_add(st, "content_block_stop",
                    json_pack("{s:s, s:i}", "type", "content_block_stop", "index", 0));
    const char *reason;
    json_t *seq;
    stop_info(c, j, &reason, &seq);
    gptc_srv_ev_add(st, "message_delta",
                    json_pack("{s:s, s:{s:s, s:o}, s:{s:i}}", "type", "message_delta", "delta",
                              "stop_reason", reason, "stop_sequence", seq, "usage", "output_tokens",
                              j->choices[0].n_gen));
    gptc_srv_ev_add(st, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

enum MHD_Result gptc_srv_ep_messages(srv_req *r, const char *sub, json_t *body)
{
    gptc_server *s = r->srv;
    srv_error e;
    int count = sub && strcmp(sub, "count_tokens") == 0;
    if (sub && !count) {
        gptc_srv_fail(&e, 404, "not_found", NULL, "no route for %s %s", r->method, r->path);
        return reply_error(r, &e);
    }
    if (check_unsupported(body, &e)) return reply_error(r, &e);
    const char *model;
    if (gptc_srv_jstr(body, "model", &model, NULL, &e) <= 0) {
        gptc_srv_fail(&e, 400, "missing_required_parameter", "model", "Field required");
        return reply_error(r, &e);
    }
    json_t *msgs = to_chat(body, &e);
    if (!msgs) return reply_error(r, &e);
    int32_t *ids;
    int n_ids;
    int rc = gptc_srv_chat_tokens(s, msgs, "messages", &ids, &n_ids, &e);
    json_decref(msgs);
    if (rc) return reply_error(r, &e);
    if (count) {
        free(ids);
        return gptc_srv_reply_json(r, 200, json_pack("{s:i}", "input_tokens", n_ids));
    }
    long long max_tokens;
    rc = gptc_srv_jint(body, "max_tokens", 1, 1 << 30, &max_tokens, &e);
    if (rc <= 0) {
        free(ids);
        if (rc == 0)
            gptc_srv_fail(&e, 400, "missing_required_parameter", "max_tokens", "Field required");
        return reply_error(r, &e);
    }
    msg_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        free(ids);
        gptc_srv_fail(&e, 500, "internal_error", NULL, "out of memory");
        return reply_error(r, &e);
    }
    gptc_store_new_id("msg_", c->id, sizeof c->id);
    json_t *gen = json_object();
    static const char *const k_copy[] = {"max_tokens", "temperature", "top_p", "top_k", "stream"};
    for (size_t i = 0; i < sizeof k_copy / sizeof k_copy[0]; i++) {
        const json_t *v = json_object_get(body, k_copy[i]);
        if (v) json_object_set(gen, k_copy[i], GPTC_UNCONST(json_t *, v));
    }
    const json_t *ss = json_object_get(body, "stop_sequences");
    if (ss && !json_is_null(ss)) {
        if (!json_is_array(ss) || json_array_size(ss) > SRV_USER_STOPS) {
            json_decref(gen);
            free(ids);
            free(c);
            gptc_srv_fail(&e, 400, "invalid_value", "stop_sequences",
                          "stop_sequences must be an array of at most %d strings", SRV_USER_STOPS);
            return reply_error(r, &e);
        }
        json_object_set(gen, "stop", GPTC_UNCONST(json_t *, ss));
        size_t i;
        const json_t *v;
        json_array_foreach(ss, i, v) if (json_is_string(v) && json_string_length(v) > 0 &&
                                         json_string_length(v) <= SRV_STOP_LEN)
            snprintf(c->stops[c->n_user_stops++], SRV_STOP_LEN + 1, "%s", json_string_value(v));
    }
    /* temperature in Anthropic's range is 0..1; ours accepts 0..2 */
    double t;
    if (gptc_srv_jnum(body, "temperature", 0, 1, &t, &e) < 0) {
        json_decref(gen);
        free(ids);
        free(c);
        return reply_error(r, &e);
    }
    srv_job *j;
    srv_gen_opts o;
    rc = gptc_srv_gen_parse(s, gen, ids, n_ids, 1, &j, &o, &e);
    json_decref(gen);
    if (rc) {
        if (strcmp(e.param, "stop") == 0) snprintf(e.param, sizeof e.param, "stop_sequences");
        free(c);
        return reply_error(r, &e);
    }
    c->input_tokens = n_ids;
    if (o.stream) return gptc_srv_ev_run(r, j, ev_begin, ev_delta, ev_finish, c, free);
    rc = gptc_srv_run_wait(r, j, &e);
    if (rc == -2) {
        free(c);
        return MHD_NO;
    }
    if (rc) {
        free(c);
        return reply_error(r, &e);
    }
    pthread_mutex_lock(&j->mu);
    const srv_choice *ch = &j->choices[0];
    const char *reason;
    json_t *seq;
    stop_info(c, j, &reason, &seq);
    json_t *res = json_pack(
        "{s:s, s:s, s:s, s:s, s:[{s:s, s:o}], s:s, s:o, s:{s:i, s:i, s:i, s:i}}", "id", c->id,
        "type", "message", "role", "assistant", "model", s->alias, "content", "type", "text",
        "text", gptc_srv_jstring_lossy(ch->text ? ch->text : "", ch->len), "stop_reason", reason,
        "stop_sequence", seq, "usage", "input_tokens", j->n_prompt, "output_tokens", ch->n_gen,
        "cache_creation_input_tokens", 0, "cache_read_input_tokens", j->n_cached);
    pthread_mutex_unlock(&j->mu);
    free(c);
    return gptc_srv_reply_json(r, 200, res);
}
