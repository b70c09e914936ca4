/*
 * v1_common.c — what /v1/chat/completions and /v1/completions share: the generation fields
 * (sampling, length, stop, logit_bias, logprobs, n, seed, stream), running the job, and the two
 * response shapes (one JSON body, or server-sent events ending with `data: [DONE]`).
 */
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/toolcall.h"
#include "core/deadline.h"
#include "grammar/grammar.h"
#include "grammar/schema.h"
#include "grammar/schema_gen.h"
#include "server/srv.h"

/* Request fields: every one a generation endpoint accepts. Anything else is a 400
 * unsupported_parameter naming it, so a client never believes an unimplemented feature works.
 * k_ignored: accepted and ignored (they do not change what is generated); docs/agents.md. */
/* clang-format off */
static const char *const k_common_fields[] = {
    "model", "n", "max_tokens", "temperature", "top_p", "min_p", "top_k", "presence_penalty",
    "frequency_penalty", "repeat_penalty", "seed", "stream", "stream_options", "ignore_eos",
    "logprobs", "stop", "logit_bias", "response_format", "grammar", "json_schema", "speculative",
    "speculative_n", "speculative_ngram", NULL};
static const char *const k_chat_fields[] = {
    "messages", "max_completion_tokens", "top_logprobs", "tools", "tool_choice",
    "parallel_tool_calls", "chat_template_kwargs", "reasoning_effort", NULL};
static const char *const k_completion_fields[] = {"prompt", NULL};
static const char *const k_ignored_fields[] = {
    "user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key", NULL};
/* clang-format on */

static int in_list(const char *k, const char *const *l)
{
    for (int i = 0; l[i]; i++)
        if (!strcmp(k, l[i])) return 1;
    return 0;
}

static int check_fields(const json_t *body, int chat, srv_error *e)
{
    const char *k;
    json_t *v;
    json_object_foreach(GPTC_UNCONST(json_t *, body), k, v)
    {
        if (in_list(k, k_common_fields) || in_list(k, k_ignored_fields) ||
            in_list(k, chat ? k_chat_fields : k_completion_fields))
            continue;
        return gptc_srv_fail(e, 400, "unsupported_parameter", k,
                             "Unsupported parameter: '%.60s' is not supported by this server (see "
                             "docs/agents.md for the fields it implements)",
                             k);
    }
    return 0;
}

/* clang-format off */
static const char k_json_object_gbnf[] =
    "root ::= object\n"
    "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
    "object ::= \"{\" ws (string ws \":\" ws value ws (\",\" ws string ws \":\" ws value ws)*)? \"}\"\n"
    "array ::= \"[\" ws (value ws (\",\" ws value ws)*)? \"]\"\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n"
    "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
    "number ::= \"-\"? ([0-9] | [1-9] [0-9]{1,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?\n"
    "ws ::= | \" \"\n";
/* clang-format on */

/* A JSON schema (object) -> GBNF, owned; -1 with a 400 naming param. */
static int schema_grammar(const json_t *schema, const char *param, char **out, size_t *len,
                          srv_error *e)
{
    if (!json_is_object(schema) && !json_is_boolean(schema))
        return gptc_srv_fail(e, 400, "invalid_type", param, "'%s' must be a JSON schema object",
                             param);
    gptc_err err;
    gptc_schema_gen *g = gptc_schema_gen_new(&err);
    if (!g) return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
    gptc_status st = gptc_schema_gen_add(g, GPTC_UNCONST(json_t *, schema), "root", &err);
    if (st) {
        gptc_schema_gen_free(g);
        return gptc_srv_fail(e, 400,
                             st == GPTC_E_UNSUPPORTED ? "unsupported_parameter" : "invalid_value",
                             param, "'%s': %s", param, err.msg);
    }
    size_t n;
    const char *t = gptc_schema_gen_text(g, &n);
    *out = malloc(n + 1);
    if (!*out) {
        gptc_schema_gen_free(g);
        return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
    }
    memcpy(*out, t, n + 1);
    *len = n;
    gptc_schema_gen_free(g);
    return 0;
}

/* response_format, grammar, json_schema -> the job's GBNF (validated). */
static int parse_grammar(const json_t *body, char **out, size_t *len, srv_error *e)
{
    *out = NULL;
    *len = 0;
    const json_t *rf = json_object_get(body, "response_format");
    const json_t *gr = json_object_get(body, "grammar");
    const json_t *js = json_object_get(body, "json_schema");
    if (rf && json_is_null(rf)) rf = NULL;
    if (gr && json_is_null(gr)) gr = NULL;
    if (js && json_is_null(js)) js = NULL;
    int rc = 0;
    const char *which = NULL;
    if (rf) {
        const json_t *type = json_object_get(rf, "type");
        if (!json_is_object(rf) || !json_is_string(type))
            return gptc_srv_fail(e, 400, "invalid_type", "response_format",
                                 "'response_format' must be an object with a 'type'");
        const char *t = json_string_value(type);
        which = "response_format";
        if (!strcmp(t, "text")) {
            which = NULL;
        } else if (!strcmp(t, "json_object")) {
            *out = strdup(k_json_object_gbnf);
            if (!*out) return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
            *len = strlen(*out);
        } else if (!strcmp(t, "json_schema")) {
            const json_t *jsn = json_object_get(rf, "json_schema");
            if (!json_is_object(jsn))
                return gptc_srv_fail(
                    e, 400, "invalid_type", "response_format.json_schema",
                    "'response_format.json_schema' must be an object {name, schema, "
                    "strict}");
            const char *k;
            json_t *v;
            json_object_foreach(GPTC_UNCONST(json_t *, jsn), k, v)
            {
                if (strcmp(k, "name") && strcmp(k, "schema") && strcmp(k, "strict") &&
                    strcmp(k, "description"))
                    return gptc_srv_fail(e, 400, "unsupported_parameter",
                                         "response_format.json_schema",
                                         "'response_format.json_schema.%.40s' is not supported", k);
            }
            const json_t *sc = json_object_get(jsn, "schema");
            if (!sc) sc = json_true(); /* no schema: any JSON value */
            rc = schema_grammar(sc, "response_format.json_schema.schema", out, len, e);
        } else {
            return gptc_srv_fail(e, 400, "invalid_value", "response_format.type",
                                 "'response_format.type' must be text, json_object or json_schema");
        }
    }
    if (rc) return -1;
    if (gr) {
        if (which)
            return gptc_srv_fail(e, 400, "invalid_value", "grammar",
                                 "give only one of 'response_format', 'grammar' and 'json_schema'");
        if (!json_is_string(gr))
            return gptc_srv_fail(e, 400, "invalid_type", "grammar", "'grammar' must be GBNF text");
        which = "grammar";
        *len = json_string_length(gr);
        *out = malloc(*len + 1);
        if (!*out) return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
        memcpy(*out, json_string_value(gr), *len + 1);
    }
    if (js) {
        if (which) {
            free(*out);
            *out = NULL;
            return gptc_srv_fail(e, 400, "invalid_value", "json_schema",
                                 "give only one of 'response_format', 'grammar' and 'json_schema'");
        }
        which = "json_schema";
        if (schema_grammar(js, "json_schema", out, len, e)) return -1;
    }
    if (!*out) return 0;
    gptc_gbnf *g = NULL;
    gptc_err err;
    if (gptc_gbnf_parse(*out, *len, NULL, &g, &err)) {
        free(*out);
        *out = NULL;
        return gptc_srv_fail(e, 400, "invalid_value", which, "'%s': %s", which, err.msg);
    }
    gptc_gbnf_free(g);
    return 0;
}

int gptc_srv_tokenize(gptc_server *s, const char *text, size_t n, int parse_special,
                      const char *param, int32_t **out, int *n_out, srv_error *e)
{
    const gptc_tokenizer *tok = gptc_model_tokenizer(s->model);
    size_t bl = strlen(s->bos_text);
    int add_bos = gptc_tok_add_bos(tok) &&
                  !(s->has_bos_text && bl && n >= bl && memcmp(text, s->bos_text, bl) == 0);
    gptc_err err;
    size_t cnt = 0;
    if (gptc_tok_encode(tok, text, n, add_bos, parse_special, NULL, 0, &cnt, &err))
        return gptc_srv_fail(e, 400, "invalid_value", param, "cannot tokenize '%s': %s", param,
                             err.msg);
    if (cnt == 0) return gptc_srv_fail(e, 400, "invalid_value", param, "'%s' is empty", param);
    if (cnt > INT_MAX / 2)
        return gptc_srv_fail(e, 400, "context_length_exceeded", param, "'%s' is too long", param);
    int32_t *ids = malloc(cnt * sizeof *ids);
    if (!ids) return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
    size_t got = 0;
    if (gptc_tok_encode(tok, text, n, add_bos, parse_special, ids, cnt, &got, &err) || got != cnt) {
        free(ids);
        return gptc_srv_fail(e, 500, "internal_error", param, "tokenizer: %s", err.msg);
    }
    *out = ids;
    *n_out = (int)cnt;
    return 0;
}

/* stop: a string or an array of at most 4 strings */
static int parse_stop(const json_t *body, srv_job *j, srv_error *e)
{
    const json_t *v = json_object_get(body, "stop");
    if (!v || json_is_null(v)) return 0;
    const json_t *one[1] = {v};
    const json_t *const *items = one;
    size_t n = 1;
    if (json_is_array(v)) {
        n = json_array_size(v);
        if (n > SRV_USER_STOPS)
            return gptc_srv_fail(e, 400, "invalid_value", "stop",
                                 "'stop' holds at most %d strings, got %zu", SRV_USER_STOPS, n);
    } else if (!json_is_string(v)) {
        return gptc_srv_fail(e, 400, "invalid_type", "stop",
                             "'stop' must be a string or an array of strings");
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *it = json_is_array(v) ? json_array_get(v, i) : items[0];
        if (!json_is_string(it))
            return gptc_srv_fail(e, 400, "invalid_type", "stop",
                                 "'stop' must be a string or an array of strings");
        size_t len = json_string_length(it);
        if (len > SRV_STOP_LEN)
            return gptc_srv_fail(e, 400, "invalid_value", "stop", "a stop string is over %d bytes",
                                 SRV_STOP_LEN);
        if (len == 0) continue;
        memcpy(j->stops[j->n_stops], json_string_value(it), len);
        j->stops[j->n_stops][len] = 0;
        j->stop_len[j->n_stops++] = len;
    }
    return 0;
}

/* speculative: "lookup" | "draft" | "none" (docs/speculative.md); speculative_n: 1..64;
 * speculative_ngram: 1..16. */
static int parse_spec(gptc_server *s, const json_t *body, int *spec, long long *n, long long *ngram,
                      srv_error *e)
{
    const char *v;
    size_t len;
    int rc = gptc_srv_jstr(body, "speculative", &v, &len, e);
    if (rc < 0) return -1;
    if (rc) {
        if (len == 6 && !memcmp(v, "lookup", 6))
            *spec = 1;
        else if (len == 5 && !memcmp(v, "draft", 5))
            *spec = 2;
        else if (len == 4 && !memcmp(v, "none", 4))
            *spec = 0;
        else
            return gptc_srv_fail(e, 400, "invalid_value", "speculative",
                                 "'speculative' must be \"lookup\", \"draft\" or \"none\"");
    }
    if (gptc_srv_jint(body, "speculative_n", 1, 64, n, e) < 0) return -1;
    if (gptc_srv_jint(body, "speculative_ngram", 1, 16, ngram, e) < 0) return -1;
    if (*spec == 2 && !s->p.draft)
        return gptc_srv_fail(e, 400, "invalid_value", "speculative",
                             "'speculative': \"draft\" needs a draft model, and this server has "
                             "none (start it with --draft MODEL)");
    if (*spec && s->sched.recurrent)
        return gptc_srv_fail(e, 400, "invalid_value", "speculative",
                             "'speculative' is not supported for this model: its recurrent state "
                             "cannot drop rejected draft tokens");
    return 0;
}

/* logit_bias: {"token id": bias in [-100, 100]} */
static int parse_bias(const json_t *body, int n_vocab, srv_job *j, srv_error *e)
{
    const json_t *v = json_object_get(body, "logit_bias");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v))
        return gptc_srv_fail(e, 400, "invalid_type", "logit_bias",
                             "'logit_bias' must be an object of token ids to numbers");
    size_t n = json_object_size(v);
    if (n > SRV_MAX_BIAS)
        return gptc_srv_fail(e, 400, "invalid_value", "logit_bias",
                             "'logit_bias' holds at most %d entries", SRV_MAX_BIAS);
    if (!n) return 0;
    j->bias_id = malloc(n * sizeof *j->bias_id);
    j->bias = malloc(n * sizeof *j->bias);
    if (!j->bias_id || !j->bias)
        return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(GPTC_UNCONST(json_t *, v), key, val)
    {
        char *end;
        long id = strtol(key, &end, 10);
        if (end == key || *end || id < 0 || id >= n_vocab)
            return gptc_srv_fail(e, 400, "invalid_value", "logit_bias",
                                 "'logit_bias' key '%.40s' is not a token id (0..%d)", key,
                                 n_vocab - 1);
        if (!json_is_number(val) || !isfinite(json_number_value(val)) ||
            fabs(json_number_value(val)) > 100)
            return gptc_srv_fail(e, 400, "invalid_value", "logit_bias",
                                 "'logit_bias' values must be numbers in [-100, 100]");
        j->bias_id[j->n_bias] = (int32_t)id;
        j->bias[j->n_bias++] = (float)json_number_value(val);
    }
    return 0;
}

int gptc_srv_gen_parse(gptc_server *s, const json_t *body, int32_t *prompt, int n_prompt, int chat,
                       srv_job **out, srv_gen_opts *o, srv_error *e)
{
    srv_sched *sc = &s->sched;
    srv_job *j = NULL;
    const char *str;
    memset(o, 0, sizeof *o);
    o->chat = chat;
    *out = NULL;

    long long n = 1, max_tokens = -1, top_k = 0, seed = 0, top_lp = 0, n_lp = -1;
    double temp = 1.0, top_p = 1.0, min_p = 0.0, pres = 0.0, freq = 0.0, rep = 1.0;
    int have_seed = 0, lp_flag = 0, ignore_eos = 0, rc = 0;
    int n_max = s->p.n_max < sc->n_slots ? s->p.n_max : sc->n_slots;
    const char *prompt_param = chat ? "messages" : "prompt";
    char *grammar = NULL;
    size_t grammar_len = 0;
    if (check_fields(body, chat, e)) goto fail;
    if (gptc_srv_check_model(s, body, e) < 0) goto fail;
    if (gptc_srv_jstr(body, "user", &str, NULL, e) < 0) goto fail;
    if (gptc_srv_jint(body, "n", 1, n_max, &n, e) < 0) goto fail;
    const char *mt_param = "max_tokens";
    if (chat &&
        (rc = gptc_srv_jint(body, "max_completion_tokens", 1, INT_MAX / 2, &max_tokens, e)) < 0)
        goto fail;
    if (rc) mt_param = "max_completion_tokens";
    if (!rc && gptc_srv_jint(body, "max_tokens", 1, INT_MAX / 2, &max_tokens, e) < 0) {
        if (!chat) snprintf(e->param, sizeof e->param, "max_tokens");
        goto fail;
    }
    if (gptc_srv_jnum(body, "temperature", 0, 2, &temp, e) < 0) goto fail;
    if (gptc_srv_jnum(body, "top_p", 0, 1, &top_p, e) < 0) goto fail;
    if (gptc_srv_jnum(body, "min_p", 0, 1, &min_p, e) < 0) goto fail;
    if (gptc_srv_jint(body, "top_k", 0, INT_MAX, &top_k, e) < 0) goto fail;
    if (gptc_srv_jnum(body, "presence_penalty", -2, 2, &pres, e) < 0) goto fail;
    if (gptc_srv_jnum(body, "frequency_penalty", -2, 2, &freq, e) < 0) goto fail;
    if (gptc_srv_jnum(body, "repeat_penalty", 0.01, 100, &rep, e) < 0) goto fail;
    if ((have_seed = gptc_srv_jint(body, "seed", LLONG_MIN, LLONG_MAX, &seed, e)) < 0) goto fail;
    if (gptc_srv_jbool(body, "stream", &o->stream, e) < 0) goto fail;
    if (gptc_srv_jbool(body, "ignore_eos", &ignore_eos, e) < 0) goto fail;
    const json_t *so = json_object_get(body, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            gptc_srv_fail(e, 400, "invalid_type", "stream_options",
                          "'stream_options' must be an object");
            goto fail;
        }
        if (gptc_srv_jbool(so, "include_usage", &o->include_usage, e) < 0) {
            snprintf(e->param, sizeof e->param, "stream_options.include_usage");
            goto fail;
        }
    }
    if (chat) {
        if (gptc_srv_jbool(body, "logprobs", &lp_flag, e) < 0) goto fail;
        if ((rc = gptc_srv_jint(body, "top_logprobs", 0, SRV_TOP_MAX, &top_lp, e)) < 0) goto fail;
        if (rc && !lp_flag) {
            gptc_srv_fail(e, 400, "invalid_value", "top_logprobs",
                          "'top_logprobs' needs 'logprobs': true");
            goto fail;
        }
    } else {
        if (gptc_srv_jint(body, "logprobs", 0, 5, &n_lp, e) < 0) goto fail;
        lp_flag = n_lp >= 0;
        top_lp = n_lp > 0 ? n_lp : 0;
    }

    if (parse_grammar(body, &grammar, &grammar_len, e)) goto fail;
    int spec = s->p.spec;
    long long spec_n = s->p.spec_n > 0 ? s->p.spec_n : 8;
    long long spec_ngram = s->p.spec_ngram > 0 ? s->p.spec_ngram : 3;
    if (parse_spec(s, body, &spec, &spec_n, &spec_ngram, e)) goto fail;

    /* length: the prompt plus the reply must fit one sequence, and n replies the whole cache */
    if (n_prompt >= sc->n_ctx_seq) {
        gptc_srv_fail(
            e, 400, "context_length_exceeded", prompt_param,
            "This model's maximum context length is %d tokens. However, your %s resulted in "
            "%d tokens.",
            sc->n_ctx_seq, chat ? "messages" : "prompt", n_prompt);
        goto fail;
    }
    int avail = sc->n_ctx_seq - n_prompt, avail_n = (int)((sc->n_ctx - n_prompt) / n);
    if (max_tokens > 0) {
        if (max_tokens > avail) {
            gptc_srv_fail(
                e, 400, "context_length_exceeded", mt_param,
                "This model's maximum context length is %d tokens. However, you requested "
                "%lld tokens "
                "(%d in the %s, %lld in the completion).",
                sc->n_ctx_seq, n_prompt + max_tokens, n_prompt, chat ? "messages" : "prompt",
                max_tokens);
            goto fail;
        }
        if (max_tokens > avail_n) {
            gptc_srv_fail(
                e, 400, "context_length_exceeded", "n",
                "%lld completions of %lld tokens do not fit the server's context (%d tokens)", n,
                max_tokens, sc->n_ctx);
            goto fail;
        }
    } else {
        max_tokens = avail < avail_n ? avail : avail_n;
        if (max_tokens < 1) {
            gptc_srv_fail(e, 400, "context_length_exceeded", "n",
                          "%lld completions do not fit the server's context", n);
            goto fail;
        }
    }

    j = gptc_srv_job_new(JOB_GENERATE, (int)n);
    if (!j) {
        gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
        goto fail;
    }
    j->prompt = prompt;
    prompt = NULL;
    j->grammar = grammar;
    j->grammar_len = grammar_len;
    grammar = NULL;
    j->n_prompt = n_prompt;
    j->max_tokens = (int)max_tokens;
    j->reserve = n_prompt + (int)n * (int)max_tokens;
    j->sp = gptc_sampler_default_params();
    j->sp.temp = (float)temp;
    j->sp.top_k = (int)top_k;
    j->sp.top_p = (float)top_p;
    j->sp.min_p = (float)min_p;
    j->sp.presence_penalty = (float)pres;
    j->sp.frequency_penalty = (float)freq;
    j->sp.repeat_penalty = (float)rep;
    j->sp.seed = have_seed
                     ? (uint64_t)seed
                     : sc->seed_base + atomic_fetch_add(&s->next_id, 1) * 0x9E3779B97F4A7C15ull;
    j->ignore_eos = ignore_eos;
    j->spec = spec;
    j->spec_n = (int)spec_n;
    j->spec_ngram = (int)spec_ngram;
    j->logprobs = lp_flag;
    j->top_logprobs = (int)top_lp;
    o->logprobs = lp_flag;
    o->top_logprobs = (int)top_lp;
    if (parse_stop(body, j, e) < 0 || parse_bias(body, sc->n_vocab, j, e) < 0) goto fail;
    if (chat && !ignore_eos) { /* ignore_eos: the end-of-turn markers do not stop either */
        for (int i = 0; i < s->chat_stops.n_strs && j->n_stops < SRV_MAX_STOPS; i++) {
            size_t len = strlen(s->chat_stops.strs[i]);
            if (!len || len > SRV_STOP_LEN) continue;
            memcpy(j->stops[j->n_stops], s->chat_stops.strs[i], len + 1);
            j->stop_len[j->n_stops++] = len;
        }
        for (int i = 0; i < s->chat_stops.n_ids && j->n_stop_ids < GPTC_CHAT_MAX_STOPS; i++)
            j->stop_ids[j->n_stop_ids++] = s->chat_stops.ids[i];
    }
    *out = j;
    return 0;
fail:
    free(prompt);
    free(grammar);
    gptc_srv_job_release(j);
    return -1;
}

/* ----- response shapes --------------------------------------------------------------------------
 */

static const char *finish_name(int f)
{
    return f == FINISH_LENGTH ? "length" : "stop";
}

static json_t *token_json_str(gptc_server *s, int32_t id)
{
    char buf[256];
    size_t n = 0;
    gptc_err err;
    if (gptc_tok_decode(gptc_model_tokenizer(s->model), &id, 1, 1, buf, sizeof buf, &n, &err) ||
        n > sizeof buf)
        n = 0;
    return gptc_srv_jstring_lossy(buf, n);
}

static json_t *token_bytes(gptc_server *s, int32_t id)
{
    char buf[256];
    size_t n = 0;
    gptc_err err;
    if (gptc_tok_decode(gptc_model_tokenizer(s->model), &id, 1, 1, buf, sizeof buf, &n, &err) ||
        n > sizeof buf)
        n = 0;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((unsigned char)buf[i]));
    return a;
}

/* Logprobs of tokens [from, to) of a choice, in the chat or the legacy completions shape.
 * text_base: byte offset of token `from` in the text (completions' text_offset). */
static json_t *logprobs_json(gptc_server *s, const srv_choice *c, int from, int to, int chat,
                             size_t *text_off)
{
    if (chat) {
        json_t *content = json_array();
        for (int i = from; i < to; i++) {
            const srv_lp *l = &c->lp[i];
            json_t *top = json_array();
            for (int k = 0; k < l->n_top; k++)
                json_array_append_new(top, json_pack("{s:o, s:f, s:o}", "token",
                                                     token_json_str(s, l->top_id[k]), "logprob",
                                                     (double)l->top_lp[k], "bytes",
                                                     token_bytes(s, l->top_id[k])));
            json_array_append_new(content,
                                  json_pack("{s:o, s:f, s:o, s:o}", "token",
                                            token_json_str(s, l->id), "logprob", (double)l->lp,
                                            "bytes", token_bytes(s, l->id), "top_logprobs", top));
        }
        return json_pack("{s:o, s:n}", "content", content, "refusal");
    }
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (int i = from; i < to; i++) {
        const srv_lp *l = &c->lp[i];
        json_t *t = token_json_str(s, l->id);
        size_t tl = json_string_length(t);
        json_array_append_new(tokens, t);
        json_array_append_new(lps, json_real(l->lp));
        json_t *top = json_object();
        for (int k = 0; k < l->n_top; k++) {
            json_t *ts = token_json_str(s, l->top_id[k]);
            json_object_set_new(top, json_string_value(ts), json_real(l->top_lp[k]));
            json_decref(ts);
        }
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)*text_off));
        *text_off += tl;
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps,
                     "top_logprobs", tops, "text_offset", offs);
}

static json_t *usage_json(const srv_job *j)
{
    int gen = 0;
    for (int i = 0; i < j->n_choices; i++)
        gen += j->choices[i].n_gen;
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", j->n_prompt, "completion_tokens",
                     gen, "total_tokens", j->n_prompt + gen, "prompt_tokens_details",
                     "cached_tokens", j->n_cached);
}

static json_t *envelope(gptc_server *s, const char *id, long created, const char *object)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", id, "object", object, "created",
                     (json_int_t)created, "model", s->alias, "system_fingerprint", "gptc-0.1");
}

static void observe_ttft(gptc_server *s, const srv_job *j)
{
    static const double le[11] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    if (j->t_first <= 0) return;
    double t = j->t_first - j->t_submit;
    pthread_mutex_lock(&s->metrics.mu);
    for (int i = 0; i < 11; i++)
        if (t <= le[i]) s->metrics.ttft_bucket[i]++;
    s->metrics.ttft_count++;
    s->metrics.ttft_sum += t;
    pthread_mutex_unlock(&s->metrics.mu);
}

/* ----- replies parsed into content, reasoning and tool calls ---------------------------------- */

/* A parser for one choice of the job, fed the prompt's tool prefix (text_only: no function
 * may be called, every call stays text). NULL when out of memory. */
static gptc_toolcall_parser *tc_parser(const srv_job *j, int text_only, gptc_toolcall_fn fn,
                                       void *ud)
{
    size_t n = text_only ? 0 : json_array_size(j->tc_names);
    const char **names = calloc(n + 1, sizeof *names);
    if (!names) return NULL;
    for (size_t i = 0; i < n; i++)
        names[i] = json_string_value(json_array_get(j->tc_names, i));
    gptc_toolcall_opts to = {
        .format = j->tc_format, .think = j->tc_think, .names = names, .n_names = (int)n};
    gptc_toolcall_parser *p = NULL;
    gptc_err err;
    gptc_toolcall_new(&to, &p, &err);
    free(names);
    if (p && j->tc_prefix) gptc_toolcall_feed(p, j->tc_prefix, strlen(j->tc_prefix), fn, ud);
    return p;
}

static json_t *tc_call_json(gptc_server *s, int index, const char *name, size_t n, int stream)
{
    char id[48];
    gptc_srv_make_id(s, "call_", id, sizeof id);
    json_t *c = json_pack("{s:s, s:s, s:{s:o, s:s}}", "id", id, "type", "function", "function",
                          "name", gptc_srv_jstring_lossy(name, n), "arguments", "");
    if (stream) json_object_set_new(c, "index", json_integer(index));
    return c;
}

typedef struct tc_acc {
    gptc_server *s;
    srv_buf text[2]; /* content, reasoning */
    json_t *calls;
} tc_acc;

static void tc_on_event(void *ud, int ev, int idx, const char *t, size_t n)
{
    tc_acc *a = ud;
    if (ev == GPTC_TC_EV_CONTENT || ev == GPTC_TC_EV_REASONING) {
        gptc_srv_buf_add(&a->text[ev], t, n);
    } else if (ev == GPTC_TC_EV_NAME) {
        json_array_append_new(a->calls, tc_call_json(a->s, idx, t, n, 0));
    } else {
        json_t *fn = json_object_get(json_array_get(a->calls, (size_t)idx), "function");
        const char *prev = json_string_value(json_object_get(fn, "arguments"));
        if (!fn || !prev) return;
        srv_buf b = {0};
        gptc_srv_buf_add(&b, prev, strlen(prev));
        gptc_srv_buf_add(&b, t, n);
        json_object_set_new(fn, "arguments", gptc_srv_jstring_lossy(b.p ? b.p : "", b.n));
        gptc_srv_buf_free(&b);
    }
}

static int blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", p[i])) return 0;
    return 1;
}

/* Under tool_choice auto (the reply was not generated under the calls' grammar, or only from
 * the opener on): every call's arguments must be JSON satisfying its function's parameters. */
static int tc_calls_valid(const srv_job *j, const json_t *calls)
{
    size_t i;
    const json_t *c;
    json_array_foreach(calls, i, c)
    {
        const json_t *fn = json_object_get(c, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        const json_t *params = NULL;
        size_t k;
        const json_t *t;
        json_array_foreach(j->tc_tools, k, t)
        {
            const json_t *f = json_object_get(t, "function");
            if (name && !strcmp(name, json_string_value(json_object_get(f, "name"))))
                params = json_object_get(f, "parameters");
        }
        json_t *v = args ? json_loads(args, JSON_DECODE_ANY, NULL) : NULL;
        int ok = json_is_object(v) && (!params || gptc_schema_check(params, v));
        json_decref(v);
        if (!ok) return 0;
    }
    return 1;
}

/* The chat message of a choice whose reply is parsed; *n_calls: its tool calls. */
static json_t *tc_message(gptc_server *s, const srv_job *j, const srv_choice *c, int *n_calls)
{
    int text_only = 0;
again:;
    tc_acc a = {.s = s, .calls = json_array()};
    gptc_toolcall_parser *p = tc_parser(j, text_only, tc_on_event, &a);
    if (p) {
        gptc_toolcall_feed(p, c->text ? c->text : "", c->len, tc_on_event, &a);
        gptc_toolcall_finish(p, tc_on_event, &a);
        gptc_toolcall_free(p);
    } else {
        gptc_srv_buf_add(&a.text[0], c->text ? c->text : "", c->len);
    }
    if (!text_only && j->tc_tools && json_array_size(a.calls) && !tc_calls_valid(j, a.calls)) {
        json_decref(a.calls);
        gptc_srv_buf_free(&a.text[0]);
        gptc_srv_buf_free(&a.text[1]);
        text_only = 1;
        goto again;
    }
    *n_calls = (int)json_array_size(a.calls);
    json_t *content = *n_calls && blank(a.text[0].p, a.text[0].n)
                          ? json_null()
                          : gptc_srv_jstring_lossy(a.text[0].p ? a.text[0].p : "", a.text[0].n);
    json_t *m = json_pack("{s:s, s:o, s:n}", "role", "assistant", "content", content, "refusal");
    if (a.text[1].n)
        json_object_set_new(m, "reasoning_content",
                            gptc_srv_jstring_lossy(a.text[1].p, a.text[1].n));
    if (*n_calls)
        json_object_set_new(m, "tool_calls", a.calls);
    else
        json_decref(a.calls);
    gptc_srv_buf_free(&a.text[0]);
    gptc_srv_buf_free(&a.text[1]);
    return m;
}

json_t *gptc_srv_gen_result(gptc_server *s, srv_job *j, const srv_gen_opts *o)
{
    char id[48];
    gptc_srv_make_id(s, o->chat ? "chatcmpl-" : "cmpl-", id, sizeof id);
    json_t *res = envelope(s, id, time(NULL), o->chat ? "chat.completion" : "text_completion");
    json_t *choices = json_array();
    pthread_mutex_lock(&j->mu);
    for (int i = 0; i < j->n_choices; i++) {
        const srv_choice *c = &j->choices[i];
        json_t *text = gptc_srv_jstring_lossy(c->text ? c->text : "", c->len);
        size_t off = 0;
        json_t *lp =
            o->logprobs && c->lp ? logprobs_json(s, c, 0, c->n_lp, o->chat, &off) : json_null();
        json_t *ch;
        if (o->chat && j->tc_on) {
            int n_calls;
            json_decref(text);
            json_t *m = tc_message(s, j, c, &n_calls);
            ch = json_pack(
                "{s:i, s:o, s:o, s:s}", "index", i, "message", m, "logprobs", lp, "finish_reason",
                n_calls && c->finish == FINISH_STOP ? "tool_calls" : finish_name(c->finish));
        } else if (o->chat)
            ch = json_pack("{s:i, s:{s:s, s:o, s:n}, s:o, s:s}", "index", i, "message", "role",
                           "assistant", "content", text, "refusal", "logprobs", lp, "finish_reason",
                           finish_name(c->finish));
        else
            ch = json_pack("{s:o, s:i, s:o, s:s}", "text", text, "index", i, "logprobs", lp,
                           "finish_reason", finish_name(c->finish));
        json_array_append_new(choices, ch);
    }
    json_object_set_new(res, "choices", choices);
    json_object_set_new(res, "usage", usage_json(j));
    pthread_mutex_unlock(&j->mu);
    return res;
}

static enum MHD_Result reply_full(srv_req *r, srv_job *j, const srv_gen_opts *o)
{
    return gptc_srv_reply_json(r, 200, gptc_srv_gen_result(r->srv, j, o));
}

/* ----- streaming --------------------------------------------------------------------------------
 */

typedef struct srv_stream {
    srv_pump p; /* first: the event queue, the job and the client */
    srv_gen_opts o;
    char id[48];
    long created;
    size_t *sent;               /* (n_choices) text bytes sent */
    int *lp_sent;               /* (n_choices) logprob entries sent */
    size_t *text_off;           /* (n_choices) completions' text_offset */
    int *state;                 /* (n_choices) 0: nothing sent, 1: role sent, 2: finish sent */
    gptc_toolcall_parser **tcp; /* (n_choices) when the job parses replies */
    int cur, added;             /* the choice being parsed; events added */
} srv_stream;

static void sse_add(srv_stream *st, json_t *chunk)
{
    char *txt = json_dumps(chunk, JSON_COMPACT);
    json_decref(chunk);
    if (!txt) return;
    gptc_srv_buf_add(&st->p.out, "data: ", 6);
    gptc_srv_buf_add(&st->p.out, txt, strlen(txt));
    gptc_srv_buf_add(&st->p.out, "\n\n", 2);
    free(txt);
}

static json_t *chunk_new(srv_stream *st, json_t *choice)
{
    json_t *c = envelope(st->p.srv, st->id, st->created,
                         st->o.chat ? "chat.completion.chunk" : "text_completion");
    json_t *arr = json_array();
    if (choice) json_array_append_new(arr, choice);
    json_object_set_new(c, "choices", arr);
    return c;
}

static void tc_stream_event(void *ud, int ev, int idx, const char *t, size_t n)
{
    srv_stream *st = ud;
    json_t *delta;
    if (ev == GPTC_TC_EV_CONTENT || ev == GPTC_TC_EV_REASONING) {
        if (!n) return;
        delta = json_pack("{s:o}", ev == GPTC_TC_EV_CONTENT ? "content" : "reasoning_content",
                          gptc_srv_jstring_lossy(t, n));
    } else if (ev == GPTC_TC_EV_NAME) {
        delta = json_pack("{s:[o]}", "tool_calls", tc_call_json(st->p.srv, idx, t, n, 1));
    } else {
        delta = json_pack("{s:[{s:i, s:{s:o}}]}", "tool_calls", "index", idx, "function",
                          "arguments", gptc_srv_jstring_lossy(t, n));
    }
    sse_add(st, chunk_new(st, json_pack("{s:i, s:o, s:n, s:n}", "index", st->cur, "delta", delta,
                                        "logprobs", "finish_reason")));
    st->added++;
}

/* Build the events for what the job produced since the last call (under job->mu). Returns the
 * number of events added. */
static int stream_collect(srv_pump *pump)
{
    srv_stream *st = (srv_stream *)pump;
    srv_job *j = st->p.job;
    gptc_server *s = st->p.srv;
    int added = 0;
    if (j->failed) {
        srv_error e;
        gptc_srv_fail(&e, 500, "internal_error", NULL, "generation failed: %s", j->fail_msg);
        json_t *ev = gptc_srv_error_json(&e);
        sse_add(st, ev);
        for (int i = 0; i < j->n_choices; i++)
            st->state[i] = 2;
        added++;
    }
    for (int i = 0; i < j->n_choices; i++) {
        const srv_choice *c = &j->choices[i];
        if (st->state[i] == 2) continue;
        if (st->o.chat && st->state[i] == 0) {
            sse_add(st, chunk_new(st, json_pack("{s:i, s:{s:s, s:s}, s:n, s:n}", "index", i,
                                                "delta", "role", "assistant", "content", "",
                                                "logprobs", "finish_reason")));
            st->state[i] = 1;
            added++;
        }
        size_t ready = c->n_ready;
        if (!c->finish && ready > st->sent[i]) /* only whole characters */
            ready =
                st->sent[i] + gptc_srv_utf8_valid_len(c->text + st->sent[i], ready - st->sent[i]);
        int lp_to = st->o.logprobs && c->lp ? c->n_lp : 0;
        if (st->tcp && st->tcp[i]) { /* parsed: content, reasoning and tool-call deltas */
            st->cur = i;
            st->added = 0;
            if (ready > st->sent[i])
                gptc_toolcall_feed(st->tcp[i], c->text + st->sent[i], ready - st->sent[i],
                                   tc_stream_event, st);
            st->sent[i] = ready;
            if (lp_to > st->lp_sent[i]) {
                json_t *lp = logprobs_json(s, c, st->lp_sent[i], lp_to, 1, &st->text_off[i]);
                sse_add(st, chunk_new(st, json_pack("{s:i, s:{}, s:o, s:n}", "index", i, "delta",
                                                    "logprobs", lp, "finish_reason")));
                st->lp_sent[i] = lp_to;
                st->added++;
            }
            if (c->finish && st->sent[i] >= c->n_ready) {
                gptc_toolcall_finish(st->tcp[i], tc_stream_event, st);
                int calls = gptc_toolcall_n_calls(st->tcp[i]);
                sse_add(st, chunk_new(st, json_pack("{s:i, s:{}, s:n, s:s}", "index", i, "delta",
                                                    "logprobs", "finish_reason",
                                                    calls && c->finish == FINISH_STOP
                                                        ? "tool_calls"
                                                        : finish_name(c->finish))));
                st->state[i] = 2;
                st->added++;
            }
            added += st->added;
            continue;
        }
        if (ready > st->sent[i] || lp_to > st->lp_sent[i]) {
            json_t *text = gptc_srv_jstring_lossy(c->text + st->sent[i], ready - st->sent[i]);
            json_t *lp = lp_to > st->lp_sent[i] ? logprobs_json(s, c, st->lp_sent[i], lp_to,
                                                                st->o.chat, &st->text_off[i])
                                                : json_null();
            json_t *ch = st->o.chat ? json_pack("{s:i, s:{s:o}, s:o, s:n}", "index", i, "delta",
                                                "content", text, "logprobs", lp, "finish_reason")
                                    : json_pack("{s:o, s:i, s:o, s:n}", "text", text, "index", i,
                                                "logprobs", lp, "finish_reason");
            sse_add(st, chunk_new(st, ch));
            st->sent[i] = ready;
            st->lp_sent[i] = lp_to;
            added++;
        }
        if (c->finish && st->sent[i] >= c->n_ready) {
            json_t *ch = st->o.chat
                             ? json_pack("{s:i, s:{}, s:n, s:s}", "index", i, "delta", "logprobs",
                                         "finish_reason", finish_name(c->finish))
                             : json_pack("{s:s, s:i, s:n, s:s}", "text", "", "index", i, "logprobs",
                                         "finish_reason", finish_name(c->finish));
            sse_add(st, chunk_new(st, ch));
            st->state[i] = 2;
            added++;
        }
    }
    if (j->done && !st->p.ended) {
        int all = 1;
        for (int i = 0; i < j->n_choices; i++)
            all &= st->state[i] == 2;
        if (all) {
            if (st->o.include_usage) {
                json_t *c = chunk_new(st, NULL);
                json_object_set_new(c, "usage", usage_json(j));
                sse_add(st, c);
            }
            gptc_srv_buf_add(&st->p.out, "data: [DONE]\n\n", 14);
            st->p.ended = 1;
            added++;
        }
    }
    return added;
}

static void stream_release(srv_pump *pump, int done)
{
    srv_stream *st = (srv_stream *)pump;
    if (done) observe_ttft(pump->srv, pump->job);
    if (st->tcp)
        for (int i = 0; i < pump->job->n_choices; i++)
            gptc_toolcall_free(st->tcp[i]);
    free(st->tcp);
    free(st->sent);
    free(st->lp_sent);
    free(st->text_off);
    free(st->state);
}

enum MHD_Result gptc_srv_gen_run(srv_req *r, srv_job *j, const srv_gen_opts *o)
{
    gptc_server *s = r->srv;
    srv_error e;
    r->prompt_tokens = j->n_prompt;
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->client_fd = fdi ? fdi->connect_fd : -1;
    if (gptc_srv_sched_submit(&s->sched, j, &e)) {
        gptc_srv_job_release(j);
        return gptc_srv_reply_error(r, &e);
    }
    r->job = j; /* the request's reference: on_completed cancels and releases it */
    if (!o->stream) {
        if (gptc_srv_wait_job(r, j) < 0)
            return MHD_NO; /* the client left: close, the job is cancelled */
        pthread_mutex_lock(&j->mu);
        int failed = j->failed;
        if (failed)
            gptc_srv_fail(&e, 500, "internal_error", NULL, "generation failed: %s", j->fail_msg);
        pthread_mutex_unlock(&j->mu);
        if (failed) return gptc_srv_reply_error(r, &e);
        observe_ttft(s, j);
        return reply_full(r, j, o);
    }

    srv_stream *st = calloc(1, sizeof *st);
    if (!st) {
        gptc_srv_job_cancel(j);
        return MHD_NO;
    }
    st->p.srv = s; /* for the parsers and stream_release, before gptc_srv_pump_run */
    st->p.job = j;
    st->p.collect = stream_collect;
    st->p.release = stream_release;
    st->o = *o;
    st->created = time(NULL);
    gptc_srv_make_id(s, o->chat ? "chatcmpl-" : "cmpl-", st->id, sizeof st->id);
    st->sent = calloc((size_t)j->n_choices, sizeof *st->sent);
    st->lp_sent = calloc((size_t)j->n_choices, sizeof *st->lp_sent);
    st->text_off = calloc((size_t)j->n_choices, sizeof *st->text_off);
    st->state = calloc((size_t)j->n_choices, sizeof *st->state);
    if (o->chat && j->tc_on) {
        st->tcp = calloc((size_t)j->n_choices, sizeof *st->tcp);
        for (int i = 0; st->tcp && i < j->n_choices; i++) {
            st->cur = i;
            st->tcp[i] = tc_parser(j, 0, tc_stream_event, st);
        }
    }
    if (!st->sent || !st->lp_sent || !st->text_off || !st->state) {
        stream_release(&st->p, 0);
        free(st);
        gptc_srv_job_cancel(j);
        return MHD_NO;
    }
    return gptc_srv_pump_run(r, j, &st->p);
}
