/*
 * v1_responses.c — the Responses API: POST /v1/responses, GET/DELETE /v1/responses/{id},
 * GET /v1/responses/{id}/input_items.
 *
 * A request becomes chat messages (instructions as the system message, then the stored
 * conversation of previous_response_id, then the input items) rendered and tokenized by
 * gptc_srv_chat_tokens, the same path as /v1/chat/completions; a continuation therefore shares its
 * prompt prefix with the stored turn and reuses it from the KV cache when it is still there.
 * With store (default true) the response object, its input items and the whole conversation
 * are kept in the data directory, so previous_response_id works after a restart.
 *
 * Tools (tools, tool_choice, function_call items), structured outputs (text.format other than
 * text) and reasoning come with the tool-calling work; until then they are a 400
 * unsupported_parameter, never ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/srv.h"

/* One request's state, kept for the reply (and the stream). */
typedef struct resp_ctx {
    char id[48], msg_id[48];
    long created;
    json_t *req;   /* the fields echoed in the response object */
    json_t *conv;  /* conversation before the reply (without instructions) */
    json_t *items; /* input items, with ids */
    int store;
    int seq; /* stream: sequence_number */
} resp_ctx;

static void ctx_free(void *p)
{
    resp_ctx *c = p;
    if (!c) return;
    json_decref(c->req);
    json_decref(c->conv);
    json_decref(c->items);
    free(c);
}

/* The text of a content value (a string, or an array of input_text/output_text parts). */
static int content_text(const json_t *content, const char *param, srv_buf *b, srv_error *e)
{
    if (json_is_string(content))
        return gptc_srv_buf_add(b, json_string_value(content), json_string_length(content));
    if (!json_is_array(content))
        return gptc_srv_fail(e, 400, "invalid_type", param,
                             "'%s' must be a string or an array of text parts", param);
    size_t i;
    const json_t *part;
    json_array_foreach(content, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        const json_t *t = json_object_get(part, "text");
        if (!type ||
            (strcmp(type, "input_text") && strcmp(type, "output_text") && strcmp(type, "text")) ||
            !json_is_string(t)) {
            char p2[160];
            snprintf(p2, sizeof p2, "%s[%zu]", param, i);
            return gptc_srv_fail(e, 400, type ? "unsupported_parameter" : "invalid_value", p2,
                                 "'%s' must be an input_text part (only text is supported%s%s)", p2,
                                 type ? "; got " : "", type ? type : "");
        }
        if (i) gptc_srv_buf_add(b, "\n", 1);
        gptc_srv_buf_add(b, json_string_value(t), json_string_length(t));
    }
    return 0;
}

/* input (string or items) -> chat messages appended to conv, and items (with ids). */
static int parse_input(gptc_server *s, const json_t *input, json_t *conv, json_t *items,
                       srv_error *e)
{
    char id[48];
    if (json_is_string(input)) {
        gptc_store_new_id("msg_", id, sizeof id);
        json_array_append_new(conv, json_pack("{s:s, s:O}", "role", "user", "content", input));
        json_array_append_new(items,
                              json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:O}]}", "type", "message",
                                        "id", id, "status", "completed", "role", "user", "content",
                                        "type", "input_text", "text", input));
        return 0;
    }
    if (!json_is_array(input) || json_array_size(input) == 0)
        return gptc_srv_fail(e, 400, input ? "invalid_type" : "missing_required_parameter", "input",
                             "'input' must be a string or a non-empty array of input items");
    size_t i;
    const json_t *it;
    json_array_foreach(input, i, it)
    {
        char param[96];
        snprintf(param, sizeof param, "input[%zu]", i);
        if (!json_is_object(it))
            return gptc_srv_fail(e, 400, "invalid_type", param, "'%s' must be an object", param);
        const char *type = json_string_value(json_object_get(it, "type"));
        if (type && strcmp(type, "message") != 0)
            return gptc_srv_fail(
                e, 400, "unsupported_parameter", param,
                "'%s' has type '%.40s': only message items are supported (function "
                "calls come with tool support)",
                param, type);
        const char *role = json_string_value(json_object_get(it, "role"));
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system") &&
                      strcmp(role, "developer"))) {
            char p2[110];
            snprintf(p2, sizeof p2, "%s.role", param);
            return gptc_srv_fail(e, 400, "invalid_value", p2,
                                 "'%s' must be user, assistant, system or developer", p2);
        }
        char p3[110];
        snprintf(p3, sizeof p3, "%s.content", param);
        srv_buf b = {0};
        if (content_text(json_object_get(it, "content"), p3, &b, e)) {
            gptc_srv_buf_free(&b);
            return -1;
        }
        json_t *text = json_stringn(b.p ? b.p : "", b.n);
        gptc_srv_buf_free(&b);
        if (!text) return gptc_srv_fail(e, 400, "invalid_value", p3, "'%s' is not valid UTF-8", p3);
        json_array_append_new(conv, json_pack("{s:s, s:O}", "role",
                                              strcmp(role, "developer") ? role : "system",
                                              "content", text));
        gptc_store_new_id("msg_", id, sizeof id);
        json_array_append_new(
            items,
            json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:o}]}", "type", "message", "id", id, "status",
                      "completed", "role", role, "content", "type",
                      strcmp(role, "assistant") ? "input_text" : "output_text", "text", text));
    }
    (void)s;
    return 0;
}

static json_t *usage_json(const srv_job *j)
{
    int gen = j->choices[0].n_gen;
    return json_pack("{s:i, s:{s:i}, s:i, s:{s:i}, s:i}", "input_tokens", j->n_prompt,
                     "input_tokens_details", "cached_tokens", j->n_cached, "output_tokens", gen,
                     "output_tokens_details", "reasoning_tokens", 0, "total_tokens",
                     j->n_prompt + gen);
}

static json_t *message_item(resp_ctx *c, const char *text, size_t n, const char *status)
{
    json_t *content = json_array();
    if (text)
        json_array_append_new(content, json_pack("{s:s, s:o, s:[]}", "type", "output_text", "text",
                                                 gptc_srv_jstring_lossy(text, n), "annotations"));
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "message", "id", c->msg_id, "status",
                     status, "role", "assistant", "content", content);
}

/* The response object; j NULL: in progress (no output yet). Under j->mu when j. */
static json_t *response_json(gptc_server *s, resp_ctx *c, const srv_job *j)
{
    json_t *o = json_deep_copy(c->req);
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "object", json_string("response"));
    json_object_set_new(o, "created_at", json_integer(c->created));
    json_object_set_new(o, "model", json_string(s->alias));
    json_object_set_new(o, "error", json_null());
    json_object_set_new(o, "store", json_boolean(c->store));
    if (!j) {
        json_object_set_new(o, "status", json_string("in_progress"));
        json_object_set_new(o, "incomplete_details", json_null());
        json_object_set_new(o, "output", json_array());
        json_object_set_new(o, "usage", json_null());
        return o;
    }
    const srv_choice *ch = &j->choices[0];
    int incomplete = ch->finish == FINISH_LENGTH;
    json_object_set_new(o, "status", json_string(incomplete ? "incomplete" : "completed"));
    json_object_set_new(o, "incomplete_details",
                        incomplete ? json_pack("{s:s}", "reason", "max_output_tokens")
                                   : json_null());
    json_t *out = json_array();
    json_array_append_new(out, message_item(c, ch->text ? ch->text : "", ch->len,
                                            incomplete ? "incomplete" : "completed"));
    json_object_set_new(o, "output", out);
    json_object_set_new(o, "usage", usage_json(j));
    return o;
}

/* Keep the response (store): the object, the input items, the conversation with the reply. */
static void store_response(gptc_server *s, resp_ctx *c, json_t *obj, const srv_job *j)
{
    if (!c->store || !s->store) return;
    json_t *conv = json_deep_copy(c->conv);
    const srv_choice *ch = &j->choices[0];
    json_array_append_new(conv,
                          json_pack("{s:s, s:o}", "role", "assistant", "content",
                                    gptc_srv_jstring_lossy(ch->text ? ch->text : "", ch->len)));
    char *o = json_dumps(obj, JSON_COMPACT), *cv = json_dumps(conv, JSON_COMPACT),
         *in = json_dumps(c->items, JSON_COMPACT);
    gptc_err err;
    if (o && cv && in && gptc_store_response_put(s->store, c->id, o, cv, in, &err))
        gptc_srv_log(s, "response %s not stored: %s", c->id, err.msg);
    free(o);
    free(cv);
    free(in);
    json_decref(conv);
}

/* ----- streaming -------------------------------------------------------------------------------
 */

static void ev(srv_evstream *st, const char *type, json_t *data)
{
    resp_ctx *c = st->user;
    json_object_set_new(data, "type", json_string(type));
    json_object_set_new(data, "sequence_number", json_integer(c->seq++));
    gptc_srv_ev_add(st, type, data);
}

static void ev_begin(srv_evstream *st)
{
    resp_ctx *c = st->user;
    ev(st, "response.created", json_pack("{s:o}", "response", response_json(st->p.srv, c, NULL)));
    ev(st, "response.in_progress",
       json_pack("{s:o}", "response", response_json(st->p.srv, c, NULL)));
    ev(st, "response.output_item.added",
       json_pack("{s:i, s:o}", "output_index", 0, "item", message_item(c, NULL, 0, "in_progress")));
    ev(st, "response.content_part.added",
       json_pack("{s:s, s:i, s:i, s:{s:s, s:s, s:[]}}", "item_id", c->msg_id, "output_index", 0,
                 "content_index", 0, "part", "type", "output_text", "text", "", "annotations"));
}

static void ev_delta(srv_evstream *st, const char *text, size_t n)
{
    resp_ctx *c = st->user;
    ev(st, "response.output_text.delta",
       json_pack("{s:s, s:i, s:i, s:o, s:[]}", "item_id", c->msg_id, "output_index", 0,
                 "content_index", 0, "delta", gptc_srv_jstring_lossy(text, n), "logprobs"));
}

static void ev_finish(srv_evstream *st)
{
    resp_ctx *c = st->user;
    srv_job *j = st->p.job;
    if (j->failed) {
        ev(st, "error",
           json_pack("{s:s, s:s, s:n}", "code", "server_error", "message", j->fail_msg, "param"));
        return;
    }
    const srv_choice *ch = &j->choices[0];
    json_t *text = gptc_srv_jstring_lossy(ch->text ? ch->text : "", ch->len);
    ev(st, "response.output_text.done",
       json_pack("{s:s, s:i, s:i, s:O, s:[]}", "item_id", c->msg_id, "output_index", 0,
                 "content_index", 0, "text", text, "logprobs"));
    ev(st, "response.content_part.done",
       json_pack("{s:s, s:i, s:i, s:{s:s, s:O, s:[]}}", "item_id", c->msg_id, "output_index", 0,
                 "content_index", 0, "part", "type", "output_text", "text", text, "annotations"));
    json_decref(text);
    json_t *obj = response_json(st->p.srv, c, j);
    json_t *item = json_array_get(json_object_get(obj, "output"), 0);
    ev(st, "response.output_item.done", json_pack("{s:i, s:O}", "output_index", 0, "item", item));
    store_response(st->p.srv, c, obj, j);
    const char *status = json_string_value(json_object_get(obj, "status"));
    ev(st, strcmp(status, "incomplete") == 0 ? "response.incomplete" : "response.completed",
       json_pack("{s:o}", "response", obj));
}

/* ----- POST /v1/responses ----------------------------------------------------------------------
 */

static enum MHD_Result create(srv_req *r, json_t *body)
{
    gptc_server *s = r->srv;
    srv_error e;
    static const char *const k_unsupported[] = {
        "tools",        "tool_choice",  "reasoning",        "include",
        "background",   "prompt",       "conversation",     "max_tool_calls",
        "top_logprobs", "service_tier", "prompt_cache_key", "safety_identifier"};
    for (size_t i = 0; i < sizeof k_unsupported / sizeof k_unsupported[0]; i++) {
        const json_t *v = json_object_get(body, k_unsupported[i]);
        if (!v || json_is_null(v)) continue;
        if (strcmp(k_unsupported[i], "tools") == 0 && json_is_array(v) && !json_array_size(v))
            continue;
        if (strcmp(k_unsupported[i], "include") == 0 && json_is_array(v) && !json_array_size(v))
            continue;
        if (strcmp(k_unsupported[i], "background") == 0 && json_is_false(v)) continue;
        gptc_srv_fail(&e, 400, "unsupported_parameter", k_unsupported[i],
                      "'%s' is not supported yet by this server", k_unsupported[i]);
        return gptc_srv_reply_error(r, &e);
    }
    static const char *const k_known[] = {"model",
                                          "input",
                                          "instructions",
                                          "previous_response_id",
                                          "max_output_tokens",
                                          "temperature",
                                          "top_p",
                                          "stream",
                                          "store",
                                          "metadata",
                                          "user",
                                          "text",
                                          "truncation",
                                          "parallel_tool_calls",
                                          "tools",
                                          "tool_choice",
                                          "reasoning",
                                          "include",
                                          "background",
                                          "stream_options"};
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof k_known / sizeof k_known[0]; i++)
            known |= strcmp(key, k_known[i]) == 0;
        if (!known) {
            gptc_srv_fail(&e, 400, "unsupported_parameter", key, "'%.60s' is not supported", key);
            return gptc_srv_reply_error(r, &e);
        }
    }
    const json_t *text = json_object_get(body, "text");
    if (text && !json_is_null(text)) {
        const json_t *fmt = json_object_get(text, "format");
        const char *ft = json_string_value(json_object_get(fmt, "type"));
        if (!json_is_object(text) || (fmt && (!ft || strcmp(ft, "text") != 0))) {
            gptc_srv_fail(
                &e, 400, "unsupported_parameter", "text.format",
                "'text.format' other than {\"type\": \"text\"} (structured outputs) is not "
                "supported yet by this server");
            return gptc_srv_reply_error(r, &e);
        }
    }
    const char *trunc;
    if (gptc_srv_jstr(body, "truncation", &trunc, NULL, &e) < 0) return gptc_srv_reply_error(r, &e);
    if (json_is_string(json_object_get(body, "truncation")) && strcmp(trunc, "disabled") != 0) {
        gptc_srv_fail(&e, 400, "unsupported_parameter", "truncation",
                      "only 'truncation': 'disabled' is supported");
        return gptc_srv_reply_error(r, &e);
    }
    const char *instr = NULL, *prev = NULL, *str;
    int store = 1, stream = 0;
    if (gptc_srv_jstr(body, "instructions", &instr, NULL, &e) < 0 ||
        gptc_srv_jstr(body, "previous_response_id", &prev, NULL, &e) < 0 ||
        gptc_srv_jstr(body, "model", &str, NULL, &e) < 0 ||
        gptc_srv_jstr(body, "user", &str, NULL, &e) < 0 ||
        gptc_srv_jbool(body, "store", &store, &e) < 0 ||
        gptc_srv_jbool(body, "stream", &stream, &e) < 0)
        return gptc_srv_reply_error(r, &e);
    const json_t *md = json_object_get(body, "metadata");
    if (md && !json_is_null(md) && !json_is_object(md)) {
        gptc_srv_fail(&e, 400, "invalid_type", "metadata", "'metadata' must be an object");
        return gptc_srv_reply_error(r, &e);
    }
    if (store && !s->store) store = 0;

    resp_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        gptc_srv_fail(&e, 500, "internal_error", NULL, "out of memory");
        return gptc_srv_reply_error(r, &e);
    }
    gptc_store_new_id("resp_", c->id, sizeof c->id);
    gptc_store_new_id("msg_", c->msg_id, sizeof c->msg_id);
    c->created = (long)time(NULL);
    c->store = store;
    c->conv = json_array();
    c->items = json_array();
    if (prev) {
        char *conv = NULL;
        gptc_err err;
        int found = s->store ? gptc_store_response_get(s->store, prev, NULL, &conv, NULL, &err) : 0;
        json_t *pc = found == 1 ? json_loads(conv, 0, NULL) : NULL;
        free(conv);
        if (!json_is_array(pc)) {
            json_decref(pc);
            ctx_free(c);
            gptc_srv_fail(&e, found < 0 ? 500 : 404, found < 0 ? "internal_error" : "not_found",
                          "previous_response_id", "Previous response with id '%.80s' not found.",
                          prev);
            return gptc_srv_reply_error(r, &e);
        }
        json_array_extend(c->conv, pc);
        json_decref(pc);
    }
    if (parse_input(s, json_object_get(body, "input"), c->conv, c->items, &e)) {
        ctx_free(c);
        return gptc_srv_reply_error(r, &e);
    }
    json_t *msgs = json_array();
    if (instr)
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", instr));
    json_array_extend(msgs, c->conv);
    int32_t *ids;
    int n_ids;
    int rc = gptc_srv_chat_tokens(s, msgs, "input", &ids, &n_ids, &e);
    json_decref(msgs);
    if (rc) {
        ctx_free(c);
        return gptc_srv_reply_error(r, &e);
    }
    /* the generation fields, in chat/completions' names */
    json_t *gen = json_object();
    const json_t *v;
    if ((v = json_object_get(body, "max_output_tokens")))
        json_object_set(gen, "max_tokens", GPTC_UNCONST(json_t *, v));
    if ((v = json_object_get(body, "temperature")))
        json_object_set(gen, "temperature", GPTC_UNCONST(json_t *, v));
    if ((v = json_object_get(body, "top_p")))
        json_object_set(gen, "top_p", GPTC_UNCONST(json_t *, v));
    srv_job *j;
    srv_gen_opts o;
    rc = gptc_srv_gen_parse(s, gen, ids, n_ids, 1, &j, &o, &e);
    json_decref(gen);
    if (rc) {
        if (strcmp(e.param, "max_tokens") == 0)
            snprintf(e.param, sizeof e.param, "max_output_tokens");
        ctx_free(c);
        return gptc_srv_reply_error(r, &e);
    }
    c->req = json_pack(
        "{s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:{s:{s:s}}, s:s, s:[], s:o, s:s, "
        "s:{s:n, s:n}, s:o}",
        "instructions", instr ? json_string(instr) : json_null(), "max_output_tokens",
        json_is_integer(json_object_get(body, "max_output_tokens"))
            ? json_incref(json_object_get(body, "max_output_tokens"))
            : json_null(),
        "previous_response_id", prev ? json_string(prev) : json_null(), "metadata",
        json_is_object(md) ? json_incref(GPTC_UNCONST(json_t *, md)) : json_object(),
        "parallel_tool_calls", 1, "temperature", json_real(j->sp.temp), "top_p",
        json_real(j->sp.top_p), "text", "format", "type", "text", "tool_choice", "auto", "tools",
        "user",
        json_is_string(json_object_get(body, "user")) ? json_incref(json_object_get(body, "user"))
                                                      : json_null(),
        "truncation", "disabled", "reasoning", "effort", "summary", "background", json_false());
    if (stream) return gptc_srv_ev_run(r, j, ev_begin, ev_delta, ev_finish, c, ctx_free);
    rc = gptc_srv_run_wait(r, j, &e);
    if (rc == -2) {
        ctx_free(c);
        return MHD_NO;
    }
    if (rc) {
        ctx_free(c);
        return gptc_srv_reply_error(r, &e);
    }
    pthread_mutex_lock(&j->mu);
    json_t *obj = response_json(s, c, j);
    store_response(s, c, obj, j);
    pthread_mutex_unlock(&j->mu);
    ctx_free(c);
    return gptc_srv_reply_json(r, 200, obj);
}

enum MHD_Result gptc_srv_ep_responses(srv_req *r, const char *sub, json_t *body)
{
    gptc_server *s = r->srv;
    srv_error e;
    gptc_err err;
    if (!sub) return create(r, body);
    char id[GPTC_STORE_ID_MAX];
    const char *slash = strchr(sub, '/');
    size_t idn = slash ? (size_t)(slash - sub) : strlen(sub);
    int items = slash && strcmp(slash, "/input_items") == 0;
    int del = strcmp(r->method, "DELETE") == 0;
    if (idn >= sizeof id || (slash && !items) || (items && del)) {
        gptc_srv_fail(&e, 404, "not_found", NULL, "no route for %s %s", r->method, r->path);
        return gptc_srv_reply_error(r, &e);
    }
    memcpy(id, sub, idn);
    id[idn] = 0;
    if (!s->store) {
        gptc_srv_fail(&e, 404, "not_found", "response_id",
                      "Response with id '%.80s' not found (this server keeps no state)", id);
        return gptc_srv_reply_error(r, &e);
    }
    if (del) {
        int rc = gptc_store_response_delete(s->store, id, &err);
        if (rc <= 0) {
            gptc_srv_fail(&e, rc < 0 ? 500 : 404, rc < 0 ? "internal_error" : "not_found",
                          "response_id", "Response with id '%.80s' not found.", id);
            return gptc_srv_reply_error(r, &e);
        }
        return gptc_srv_reply_json(
            r, 200, json_pack("{s:s, s:s, s:b}", "id", id, "object", "response", "deleted", 1));
    }
    char *obj = NULL, *in = NULL;
    int found = gptc_store_response_get(s->store, id, &obj, NULL, &in, &err);
    if (found <= 0) {
        gptc_srv_fail(&e, found < 0 ? 500 : 404, found < 0 ? "internal_error" : "not_found",
                      "response_id", "Response with id '%.80s' not found.", id);
        return gptc_srv_reply_error(r, &e);
    }
    json_t *res;
    if (!items) {
        res = json_loads(obj, 0, NULL);
    } else {
        json_t *arr = json_loads(in, 0, NULL);
        int limit;
        const char *after;
        if (gptc_srv_page_args(r, 20, 100, &limit, &after, &e)) {
            json_decref(arr);
            free(obj);
            free(in);
            return gptc_srv_reply_error(r, &e);
        }
        const char *order = MHD_lookup_connection_value(r->mhd, MHD_GET_ARGUMENT_KIND, "order");
        int asc = order && strcmp(order, "asc") == 0;
        size_t n = json_array_size(arr), start = 0;
        json_t *data = json_array();
        json_t *ordered = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append(ordered, json_array_get(arr, asc ? k : n - 1 - k));
        if (after)
            for (size_t k = 0; k < n; k++)
                if (strcmp(json_string_value(json_object_get(json_array_get(ordered, k), "id")),
                           after) == 0)
                    start = k + 1;
        for (size_t k = start; k < n && json_array_size(data) < (size_t)limit; k++)
            json_array_append(data, json_array_get(ordered, k));
        size_t got = json_array_size(data);
        res = json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more",
                        start + got < n);
        json_object_set_new(res, "first_id",
                            got ? json_incref(json_object_get(json_array_get(data, 0), "id"))
                                : json_null());
        json_object_set_new(res, "last_id",
                            got ? json_incref(json_object_get(json_array_get(data, got - 1), "id"))
                                : json_null());
        json_decref(ordered);
        json_decref(arr);
    }
    free(obj);
    free(in);
    if (!res) {
        gptc_srv_fail(&e, 500, "internal_error", NULL, "the stored response is unreadable");
        return gptc_srv_reply_error(r, &e);
    }
    return gptc_srv_reply_json(r, 200, res);
}
