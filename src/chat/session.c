/*
 * session.c — a conversation with a model (the public gptc_chat_session_* API): what `gptc chat`
 * does between reading a line and printing the reply.
 *
 * Each reply renders the whole conversation with the chat template, tokenizes it, and decodes
 * only what the KV cache does not already hold: the cache keeps the tokens of the previous turn
 * (kv[0..n_kv)), the new prompt usually extends them, and everything after the first differing
 * token is removed (gptc_kv_seq_rm) and recomputed. A hybrid model's recurrent state can only go
 * back to a checkpoint, so the prompt is decoded up to its last token, checkpointed there, and
 * the last token decoded alone: the next turn (or the same prompt again) cuts back to the
 * checkpoint. When the conversation outgrows the context, the oldest turns after the system
 * prompt are dropped. The reply streams through a callback, held back while it could still be
 * the start of an end-of-turn string, and split into content, reasoning and tool calls by the
 * template's tool-call parser (chat/toolcall.h).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/chat.h"
#include "chat/session.h"
#include "chat/think_budget.h"
#include "chat/toolcall.h"
#include "core/base.h"
#include "sample/stop.h"

struct gptc_chat_session {
    const gptc_model *model;
    const gptc_tokenizer *tok;
    gptc_ctx *ctx;
    int n_ctx, n_batch;
    gptc_sampler *smp;
    gptc_sampler_params sp;
    int n_predict;
    int budget; /* reasoning_budget */
    gptc_chat_template *tmpl;
    char *tmpl_src; /* owned copy, NUL-terminated */
    size_t n_tmpl;
    int tmpl_fallback;
    gptc_chat_stops stops;
    char bos[256], eos[256];
    const char *bos_p, *eos_p;
    char *date;
    json_t *messages;
    int32_t *kv; /* tokens held by the KV cache (sequence 0, positions 0..n_kv-1) */
    size_t n_kv;
    int tc_format;                          /* the template's tool-call format (GPTC_TC_*) */
    int prompt_think;                       /* the last prompt left <think> open */
    int spec, spec_n, spec_ngram, spec_cur; /* gptc_chat_params; spec_cur: the draft length now */
    gptc_drafter *drafter;                  /* borrowed */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *role_of(const json_t *m)
{
    const char *r = json_string_value(json_object_get(m, "role"));
    return r ? r : "";
}

static json_t *message(const char *role, const char *content)
{
    json_t *m = json_object();
    if (!m || json_object_set_new(m, "role", json_string(role)) ||
        json_object_set_new(m, "content", json_stringn(content, strlen(content)))) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* ---------------------------------------------------------------------------------------------
 * Conversation -> tokens
 */
/* The conversation's prompt tokens: special tokens only from the template's own text, never
 * from the messages (gptc_chat_prompt). */
static gptc_status render_tokens(gptc_chat_session *s, int32_t **ids, size_t *n_ids, gptc_err *err)
{
    gptc_chat_opts o = gptc_chat_default_opts();
    o.add_generation_prompt = 1;
    o.bos_token = s->bos_p;
    o.eos_token = s->eos_p;
    o.date = s->date;
    if (s->budget == 0) o.extra_json = "{\"enable_thinking\": false}";
    gptc_err e;
    char *text = NULL;
    size_t text_len = 0;
    *ids = NULL;
    gptc_status st =
        gptc_chat_prompt(s->tmpl, s->messages, NULL, &o, s->tok, ids, n_ids, &text, &text_len, &e);
    if (st) return gptc_fail(err, st, "template: %s", e.msg);
    s->prompt_think = gptc_toolcall_prompt_opens_think(text, text_len);
    free(text);
    return GPTC_OK;
}

static size_t first_turn(const gptc_chat_session *s)
{
    size_t i = 0;
    while (i < json_array_size(s->messages) &&
           strcmp(role_of(json_array_get(s->messages, i)), "system") == 0)
        i++;
    return i;
}

/* Drop the oldest turn after the system prompt: a message, and what follows it until the next
 * user message (so the conversation still starts with the user). 0 if only the last message is
 * left. */
static int drop_oldest(gptc_chat_session *s)
{
    size_t i = first_turn(s), n = json_array_size(s->messages);
    if (n - i <= 1) return 0;
    int dropped = 0;
    do {
        json_array_remove(s->messages, i);
        dropped++;
        n--;
    } while (n - i > 1 && strcmp(role_of(json_array_get(s->messages, i)), "user") != 0);
    return dropped;
}

/* The prompt of the conversation, dropping old turns until it leaves room for a reply. */
static gptc_status prompt_tokens(gptc_chat_session *s, int32_t **ids, size_t *n_ids, int *n_dropped,
                                 gptc_err *err)
{
    size_t reserve = (size_t)(s->n_ctx / 8 > 0 ? s->n_ctx / 8 : 1);
    *n_dropped = 0;
    for (;;) {
        gptc_status st = render_tokens(s, ids, n_ids, err);
        if (st) return st;
        if (*n_ids > 0 && *n_ids + reserve <= (size_t)s->n_ctx) return GPTC_OK;
        free(*ids);
        *ids = NULL;
        int d = drop_oldest(s);
        if (!d)
            return gptc_fail(err, GPTC_E_KV_FULL,
                             "the message does not fit in the context (%zu tokens, context %d)",
                             *n_ids, s->n_ctx);
        *n_dropped += d;
    }
}

/* How much of ids[0..n) the cache can keep: the longest prefix it holds, cut where the model
 * can be cut, and at least one token short of n (the last is decoded again for its logits). */
static size_t reuse_point(const gptc_chat_session *s, const int32_t *ids, size_t n)
{
    size_t p = 0;
    while (p < s->n_kv && p < n && s->kv[p] == ids[p])
        p++;
    if (p == n) p = n - 1; /* recompute the last token for its logits */
    /* a hybrid model's recurrent state can only go back to a checkpoint (or to 0) */
    p = (size_t)gptc_kv_seq_cut(s->ctx, 0, (int)p);
    /* a window ring may have overwritten what the token at p sees: then decode it all again */
    if (p < s->n_kv && gptc_kv_seq_reusable(s->ctx, 0, (int)p) < (int)p) p = 0;
    return p;
}

/* Decode ids[p..n) after keeping the first p tokens the cache holds. OUT: *logits. */
static gptc_status prefill(gptc_chat_session *s, const int32_t *ids, size_t n, size_t p,
                           const gptc_chat_callbacks *cb, float **logits, gptc_err *err)
{
    *logits = NULL;
    if (p < s->n_kv) {
        if (gptc_kv_seq_rm(s->ctx, 0, (int)p, -1) != GPTC_OK) { /* cannot happen after the cut */
            gptc_kv_seq_rm(s->ctx, 0, 0, -1);
            p = 0;
        }
        s->n_kv = p;
    }
    int32_t *pos = malloc((n - p) * sizeof *pos);
    if (!pos) return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    for (size_t i = p; i < n; i++)
        pos[i - p] = (int32_t)i;
    gptc_status st = GPTC_OK;
    int rec = gptc_model_recurrent(s->model);
    for (size_t i = p, m = 0; i < n; i += m) {
        if (cb && cb->should_stop && cb->should_stop(cb->ud)) {
            *logits = NULL;
            st = gptc_fail(err, GPTC_E_CANCELLED, "interrupted");
            break;
        }
        m = n - i < (size_t)s->n_batch ? n - i : (size_t)s->n_batch;
        /* hybrid models: stop before the last token and checkpoint there, so the next turn
         * (or the same prompt again) can reuse everything up to it */
        if (rec && i + m == n && m > 1) m--;
        gptc_batch b = {.n_tokens = (int)m, .token = ids + i, .pos = pos + (i - p)};
        st = gptc_decode(s->ctx, &b, err);
        if (st) {
            gptc_kv_clear(s->ctx);
            s->n_kv = 0;
            *logits = NULL;
            break;
        }
        memcpy(s->kv + s->n_kv, ids + i, m * sizeof *ids);
        s->n_kv += m;
        for (size_t k = 0; k < m; k++)
            gptc_sampler_accept(s->smp, ids[i + k]);
        *logits = gptc_get_logits(s->ctx, (int)m - 1);
        if (rec && s->n_kv == n - 1) gptc_kv_seq_checkpoint(s->ctx, 0);
    }
    free(pos);
    if (!st && !*logits) st = gptc_fail(err, GPTC_E_INVALID, "the model gave no logits");
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Generation with stop strings: text that could be the start of a stop string is held back
 * until it is known not to be one; what is shown goes through the tool-call parser (when the
 * template has a tool-call format or thinks) and the callbacks.
 */
typedef struct gen {
    const gptc_chat_callbacks *cb;
    char *p; /* the reply's text */
    size_t n, cap, shown;
    gptc_toolcall_parser *tcp;
    json_t *calls;
    int stop; /* on_piece asked to stop: nothing more is reported */
    int nomem;
} gen;

static int reply_add(gen *g, const char *t, size_t n)
{
    if (g->n + n + 1 > g->cap) {
        size_t cap = (g->n + n + 1) * 2;
        char *q = realloc(g->p, cap);
        if (!q) return -1;
        g->p = q;
        g->cap = cap;
    }
    memcpy(g->p + g->n, t, n);
    g->n += n;
    g->p[g->n] = '\0';
    return 0;
}

static void emit(gen *g, gptc_chat_piece kind, const char *t, size_t n)
{
    if (g->stop || !g->cb || !g->cb->on_piece) return;
    if (g->cb->on_piece(g->cb->ud, kind, t, n)) g->stop = 1;
}

/* The parser's events: content and reasoning as they come, calls collected for the end. */
static void on_part(void *ud, int ev, int idx, const char *t, size_t n)
{
    gen *g = ud;
    if (ev == GPTC_TC_EV_CONTENT || ev == GPTC_TC_EV_REASONING) {
        emit(g, ev == GPTC_TC_EV_REASONING ? GPTC_CHAT_REASONING : GPTC_CHAT_CONTENT, t, n);
    } else if (ev == GPTC_TC_EV_NAME) {
        if (json_array_append_new(g->calls,
                                  json_pack("{s:s%, s:s}", "name", t, n, "arguments", "")))
            g->nomem = 1;
    } else {
        json_t *call = json_array_get(g->calls, (size_t)idx);
        const char *a = json_string_value(json_object_get(call, "arguments"));
        if (!a) return;
        size_t la = strlen(a);
        char *b = malloc(la + n + 1);
        if (!b) {
            g->nomem = 1;
            return;
        }
        memcpy(b, a, la);
        memcpy(b + la, t, n);
        b[la + n] = '\0';
        if (json_object_set_new(call, "arguments", json_string(b))) g->nomem = 1;
        free(b);
    }
}

static void show_text(gen *g, const char *p, size_t n)
{
    if (g->tcp)
        gptc_toolcall_feed(g->tcp, p, n, on_part, g);
    else
        emit(g, GPTC_CHAT_CONTENT, p, n);
}

/* The end of a reply: what the parser held back, then the calls, each as one piece. */
static void show_end(gen *g)
{
    if (!g->tcp) return;
    gptc_toolcall_finish(g->tcp, on_part, g);
    size_t i;
    json_t *call;
    json_array_foreach(g->calls, i, call)
    {
        const char *a = json_string_value(json_object_get(call, "arguments"));
        json_t *args = a ? json_loads(a, JSON_DECODE_ANY, NULL) : NULL;
        if (args) json_object_set_new(call, "arguments", args);
        char *text = json_dumps(call, JSON_COMPACT);
        if (text)
            emit(g, GPTC_CHAT_TOOL_CALL, text, strlen(text));
        else
            g->nomem = 1;
        free(text);
    }
}

static void reply_show(gen *g, size_t upto)
{
    if (upto > g->shown) {
        show_text(g, g->p + g->shown, upto - g->shown);
        g->shown = upto;
    }
}

/* 1 when a stop string ended the reply (cut there); shows what no stop string can claim */
static int reply_check(const gptc_chat_session *s, gen *g, size_t old_n)
{
    const char *strs[GPTC_CHAT_MAX_STOPS];
    size_t lens[GPTC_CHAT_MAX_STOPS];
    for (int i = 0; i < s->stops.n_strs; i++) {
        strs[i] = s->stops.strs[i];
        lens[i] = strlen(strs[i]);
    }
    size_t at = 0, safe = 0;
    if (gptc_stop_scan(g->p, g->n, old_n, s->stops.n_strs, strs, lens, &at, &safe) >= 0) {
        g->n = at;
        g->p[g->n] = '\0';
        reply_show(g, g->n);
        return 1;
    }
    reply_show(g, safe);
    return 0;
}

static int is_stop_id(const gptc_chat_session *s, int32_t id)
{
    if (gptc_tok_is_eog(s->tok, id)) return 1;
    for (int i = 0; i < s->stops.n_ids; i++)
        if (s->stops.ids[i] == id) return 1;
    return 0;
}

/* Generate the reply from the prompt's logits into g->p. Returns the status of an error that
 * cut the reply short (the reply so far stays in g->p), else GPTC_OK. */
static gptc_status generate(gptc_chat_session *s, float *logits, gen *g, gptc_chat_stats *st,
                            gptc_err *err)
{
    gptc_status status = GPTC_OK;
    gptc_detok d;
    gptc_detok_init(&d);
    double t0 = now_ms();
    st->stop = GPTC_CHAT_STOP_EOG;
    int think_mode = s->prompt_think ? 2 : memmem(s->tmpl_src, s->n_tmpl, "<think>", 7) ? 1 : 0;
    if (s->tc_format != GPTC_TC_NONE || think_mode) {
        gptc_toolcall_opts to = {.format = s->tc_format, .think = think_mode};
        g->calls = json_array();
        if (!g->calls) return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
        status = gptc_toolcall_new(&to, &g->tcp, err);
        if (status) return status;
    }
    gptc_think_budget tb;
    gptc_think_budget_init(&tb, s->budget, s->prompt_think);
    int32_t forced[16];
    int n_forced = 0, i_forced = 0;
    const gptc_chat_callbacks *cb = g->cb;
    /* speculative decoding: each decode carries the sampled token and a draft; row k of its
     * logits is sampled against draft k until a token is not the draft; the cells of the
     * drafts not taken are removed at once (docs/speculative.md) */
    int32_t btok[65], bpos[65];
    int8_t blog[65];
    int m = 0, row = 0;
    while (logits) {
        if (g->stop || (cb && cb->should_stop && cb->should_stop(cb->ud))) {
            st->stop = GPTC_CHAT_STOP_CANCELLED;
            break;
        }
        if (s->n_predict >= 0 && st->n_reply >= (size_t)s->n_predict) {
            st->stop = GPTC_CHAT_STOP_LENGTH;
            break;
        }
        if (i_forced == n_forced && gptc_think_budget_exhausted(&tb)) { /* close the block */
            i_forced = 0;
            n_forced = gptc_think_close_tokens(s->tok, forced, 16);
            if (!n_forced) tb.budget = -1;
        }
        float *lg = m ? gptc_get_logits(s->ctx, row) : logits;
        int32_t draft = row < m ? btok[row + 1] : -1;
        int32_t id = i_forced < n_forced ? forced[i_forced++]
                     : s->spec           ? gptc_sampler_sample_draft(s->smp, lg, draft, NULL)
                                         : gptc_sampler_sample(s->smp, lg);
        gptc_sampler_accept(s->smp, id);
        if (is_stop_id(s, id)) break;
        char buf[256];
        size_t nb;
        status = gptc_detok_push(s->tok, &d, id, buf, sizeof buf, &nb, err);
        if (status) break;
        gptc_think_budget_push(&tb, buf, nb);
        size_t old_n = g->n;
        if (reply_add(g, buf, nb)) {
            status = gptc_fail(err, GPTC_E_NOMEM, "out of memory");
            break;
        }
        st->n_reply++;
        if (reply_check(s, g, old_n)) break;
        if (row < m && id == draft) { /* its cell is in the cache already */
            s->kv[s->n_kv++] = id;
            st->n_accepted++;
            row++;
            continue;
        }
        if (row < m) gptc_kv_seq_rm(s->ctx, 0, (int)s->n_kv, -1); /* the drafts not taken */
        if (m > 0 && row == 0) s->spec_cur = s->spec_cur > 1 ? s->spec_cur / 2 : 1;
        if (m > 0 && row == m) s->spec_cur = GPTC_MIN(s->spec_cur * 2, s->spec_n);
        m = row = 0;
        if (s->n_kv >= (size_t)s->n_ctx) {
            st->stop = GPTC_CHAT_STOP_CTX_FULL;
            break;
        }
        int32_t pos = (int32_t)s->n_kv;
        if (s->spec && i_forced == n_forced) {
            long long room = s->n_ctx - (long long)s->n_kv - 1;
            if (s->n_predict >= 0 && s->n_predict - (long long)st->n_reply - 1 < room)
                room = s->n_predict - (long long)st->n_reply - 1;
            room = GPTC_MIN(room, s->spec_cur);
            s->kv[s->n_kv] = id; /* the history the drafters read (n_kv < n_ctx) */
            if (room > 0 && s->spec == 1)
                m = gptc_spec_lookup(s->kv, (int)s->n_kv + 1, GPTC_MIN(s->spec_ngram, 2),
                                     s->spec_ngram, btok + 1, (int)room);
            else if (room > 0 && gptc_drafter_draft(s->drafter, 0, s->kv, (int)s->n_kv + 1,
                                                    btok + 1, (int)room, &m, err))
                m = 0;
            st->n_drafted += (size_t)m;
        }
        btok[0] = id;
        for (int k = 0; k <= m; k++) {
            bpos[k] = pos + k;
            blog[k] = 1;
        }
        gptc_batch b = {.n_tokens = m + 1, .token = btok, .pos = bpos, .logits = blog};
        status = gptc_decode(s->ctx, &b, err);
        if (status) {
            m = 0;
            break;
        }
        st->n_passes++;
        s->kv[s->n_kv++] = id;
        logits = gptc_get_logits(s->ctx, 0);
    }
    /* a reply that ended inside a draft leaves cells past the tokens it kept */
    if (m > 0) gptc_kv_seq_rm(s->ctx, 0, (int)s->n_kv, -1);
    char tail[16];
    size_t nt = gptc_detok_flush(&d, tail, sizeof tail);
    size_t old_n = g->n;
    if (reply_add(g, tail, nt) == 0) {
        if (!reply_check(s, g, old_n)) reply_show(g, g->n);
    } else if (!status) {
        status = gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    }
    show_end(g);
    if (!status && g->nomem) status = gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    if (g->stop && st->stop == GPTC_CHAT_STOP_EOG) st->stop = GPTC_CHAT_STOP_CANCELLED;
    if (status) st->stop = GPTC_CHAT_STOP_ERROR;
    st->reply_ms = now_ms() - t0;
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * The API
 */
gptc_chat_params gptc_chat_session_default_params(void)
{
    gptc_chat_params p;
    memset(&p, 0, sizeof p);
    p.sampler = gptc_sampler_default_params();
    p.n_predict = -1;
    p.reasoning_budget = -1;
    p.ctx = gptc_ctx_default_params();
    return p;
}

static char *dup_str(const char *t, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, t, n);
        d[n] = '\0';
    }
    return d;
}

gptc_status gptc_chat_session_create(const gptc_model *model, const gptc_chat_params *params,
                                     gptc_chat_session **out, gptc_err *err)
{
    if (out) *out = NULL;
    if (!model || !out) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL model or out");
    if (gptc_model_pooling(model))
        return gptc_fail(err, GPTC_E_INVALID,
                         "chat session: the model is an embedding model (%s): it has no text "
                         "output",
                         gptc_model_hparams(model)->arch);
    gptc_chat_params p = params ? *params : gptc_chat_session_default_params();
    if (p.n_predict < -1)
        return gptc_fail(err, GPTC_E_INVALID, "chat session: n_predict %d (-1: no limit)",
                         p.n_predict);
    if (p.reasoning_budget < -1)
        return gptc_fail(err, GPTC_E_INVALID,
                         "chat session: reasoning_budget %d (-1: unlimited, 0: no thinking)",
                         p.reasoning_budget);
    if (p.spec < 0 || p.spec > 2 || p.spec_n < 0 || p.spec_n > 64 || p.spec_ngram < 0 ||
        p.spec_ngram > 16)
        return gptc_fail(err, GPTC_E_INVALID,
                         "chat session: spec %d, spec_n %d or spec_ngram %d out of range", p.spec,
                         p.spec_n, p.spec_ngram);
    if (p.spec == 2 && !p.drafter)
        return gptc_fail(err, GPTC_E_INVALID, "chat session: spec 2 needs a drafter");
    if (p.spec && gptc_model_recurrent(model))
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "chat session: speculative decoding is not supported for %s models "
                         "(recurrent state cannot drop rejected draft tokens)",
                         gptc_model_hparams(model)->arch);
    gptc_chat_session *s = calloc(1, sizeof *s);
    if (!s) return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    gptc_status st = GPTC_OK;
    s->spec = p.spec;
    s->spec_n = p.spec_n > 0 ? p.spec_n : 8;
    s->spec_ngram = p.spec_ngram > 0 ? p.spec_ngram : 3;
    s->spec_cur = s->spec_n < 2 ? s->spec_n : 2;
    s->drafter = p.drafter;
    s->model = model;
    s->tok = gptc_model_tokenizer(model);
    s->sp = p.sampler;
    s->n_predict = p.n_predict;
    s->budget = p.reasoning_budget;
    gptc_ctx_params cp = p.ctx;
    cp.n_seq_max = 1;
    if ((st = gptc_ctx_init(model, &cp, &s->ctx, err))) goto fail;
    s->n_ctx = gptc_ctx_n_ctx(s->ctx);
    s->n_batch = cp.n_batch > 0 ? cp.n_batch : 512;
    s->kv = malloc((size_t)s->n_ctx * sizeof *s->kv);
    if (!s->kv) goto nomem;
    if ((st = gptc_sampler_init(&s->sp, gptc_model_hparams(model)->n_vocab, &s->smp, err)))
        goto fail;

    /* the template */
    const char *src;
    size_t n_src;
    if (!p.chat_template) {
        src = gptc_chat_model_template(model, &n_src, &s->tmpl_fallback);
    } else {
        src = gptc_chat_builtin(p.chat_template);
        if (!src) src = p.chat_template;
        n_src = strlen(src);
    }
    if (!(s->tmpl_src = dup_str(src, n_src))) goto nomem;
    s->n_tmpl = n_src;
    gptc_err e;
    if ((st = gptc_chat_template_init(s->tmpl_src, s->n_tmpl, &s->tmpl, &e))) {
        gptc_fail(err, st, "template: %s", e.msg);
        goto fail;
    }
    gptc_chat_stops_for(model, s->tmpl_src, s->n_tmpl, &s->stops);
    s->tc_format = gptc_toolcall_detect(s->tmpl_src, s->n_tmpl);
    s->bos_p = gptc_chat_bos_text(model, s->bos, sizeof s->bos);
    s->eos_p = gptc_chat_eos_text(model, s->eos, sizeof s->eos);
    if (p.date && !(s->date = dup_str(p.date, strlen(p.date)))) goto nomem;

    if (!(s->messages = json_array())) goto nomem;
    if (p.system && (st = gptc_chat_session_set_system(s, p.system, err))) goto fail;
    *out = s;
    return GPTC_OK;
nomem:
    st = gptc_fail(err, GPTC_E_NOMEM, "out of memory");
fail:
    gptc_chat_session_free(s);
    return st;
}

void gptc_chat_session_free(gptc_chat_session *s)
{
    if (!s) return;
    json_decref(s->messages);
    gptc_chat_template_free(s->tmpl);
    free(s->tmpl_src);
    free(s->date);
    free(s->kv);
    gptc_sampler_free(s->smp);
    gptc_ctx_free(s->ctx);
    free(s);
}

static gptc_status check_text(const char *what, const char *text, json_t **out, gptc_err *err)
{
    *out = json_stringn(text, strlen(text));
    if (!*out) return gptc_fail(err, GPTC_E_INVALID, "%s is not valid UTF-8", what);
    return GPTC_OK;
}

gptc_status gptc_chat_session_add(gptc_chat_session *s, const char *role, const char *content,
                                  gptc_err *err)
{
    if (!s) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL session");
    if (!role) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL role");
    if (!strcmp(role, "system"))
        return gptc_fail(err, GPTC_E_INVALID,
                         "chat session: the system prompt is set with "
                         "gptc_chat_session_set_system, not added as a message");
    if (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool"))
        return gptc_fail(err, GPTC_E_INVALID,
                         "chat session: unknown role '%.40s' (user, assistant or tool)", role);
    if (!content) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL content");
    if (!*content && !strcmp(role, "user"))
        return gptc_fail(err, GPTC_E_INVALID, "chat session: empty user message");
    json_t *c;
    gptc_status st = check_text("the message", content, &c, err);
    if (st) return st;
    json_t *m = json_object();
    if (!m || json_object_set_new(m, "role", json_string(role)) ||
        json_object_set_new(m, "content", c)) {
        if (!m) json_decref(c);
        json_decref(m);
        return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    }
    if (json_array_append_new(s->messages, m)) /* m is freed */
        return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    return GPTC_OK;
}

gptc_status gptc_chat_session_generate(gptc_chat_session *s, const gptc_chat_callbacks *cb,
                                       gptc_chat_stats *stats, gptc_err *err)
{
    gptc_chat_stats local;
    gptc_chat_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!s) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL session");
    size_t n_msg = json_array_size(s->messages);
    const char *last = n_msg ? role_of(json_array_get(s->messages, n_msg - 1)) : "";
    if (n_msg <= first_turn(s))
        return gptc_fail(err, GPTC_E_INVALID, "chat session: no message to reply to");
    if (strcmp(last, "user") && strcmp(last, "tool"))
        return gptc_fail(err, GPTC_E_INVALID,
                         "chat session: the conversation ends with a '%.40s' message, not a user "
                         "or tool message: nothing to reply to",
                         last);
    int32_t *ids = NULL;
    size_t n = 0;
    gptc_status status = prompt_tokens(s, &ids, &n, &st->n_dropped, err);
    if (status) return status;
    size_t p = reuse_point(s, ids, n);
    st->n_prompt = n;
    st->n_cached = p;
    st->n_decoded = n - p;
    if (cb && cb->on_prompt) cb->on_prompt(cb->ud, st);
    float *logits = NULL;
    status = prefill(s, ids, n, p, cb, &logits, err);
    free(ids);
    if (status) return status;

    gen g = {.cb = cb};
    if (reply_add(&g, "", 0)) return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    status = generate(s, logits, &g, st, err);
    gptc_toolcall_free(g.tcp);
    json_decref(g.calls);
    json_t *m = message("assistant", g.p);
    free(g.p);
    if (!m || json_array_append_new(s->messages, m)) {
        if (!status) status = gptc_fail(err, GPTC_E_NOMEM, "out of memory");
        st->stop = GPTC_CHAT_STOP_ERROR;
    }
    return status;
}

int gptc_chat_session_pop(gptc_chat_session *s)
{
    if (!s) return 0;
    size_t n = json_array_size(s->messages);
    if (n <= first_turn(s)) return 0;
    json_array_remove(s->messages, n - 1);
    return 1;
}

void gptc_chat_session_clear(gptc_chat_session *s)
{
    if (!s) return;
    json_t *sys = json_array_get(s->messages, 0);
    json_t *keep = sys && !strcmp(role_of(sys), "system") ? json_incref(sys) : NULL;
    json_array_clear(s->messages);
    if (keep) json_array_append_new(s->messages, keep);
    gptc_kv_clear(s->ctx);
    s->n_kv = 0;
}

gptc_status gptc_chat_session_set_system(gptc_chat_session *s, const char *text, gptc_err *err)
{
    if (!s) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL session");
    json_t *m = NULL;
    if (text && *text) {
        json_t *c;
        gptc_status st = check_text("the system prompt", text, &c, err);
        if (st) return st;
        m = json_object();
        if (!m || json_object_set_new(m, "role", json_string("system")) ||
            json_object_set_new(m, "content", c)) {
            if (!m) json_decref(c);
            json_decref(m);
            return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
        }
    }
    if (json_array_size(s->messages) && !strcmp(role_of(json_array_get(s->messages, 0)), "system"))
        json_array_remove(s->messages, 0);
    if (m && json_array_insert_new(s->messages, 0, m))
        return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    return GPTC_OK;
}

gptc_status gptc_chat_session_set_sampler(gptc_chat_session *s, const gptc_sampler_params *p,
                                          gptc_err *err)
{
    if (!s || !p) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL session or params");
    gptc_sampler *smp;
    gptc_status st = gptc_sampler_init(p, gptc_model_hparams(s->model)->n_vocab, &smp, err);
    if (st) return st;
    gptc_sampler_free(s->smp);
    s->smp = smp;
    s->sp = *p;
    return GPTC_OK;
}

void gptc_chat_session_set_n_predict(gptc_chat_session *s, int n_predict)
{
    if (s) s->n_predict = n_predict < -1 ? -1 : n_predict;
}

size_t gptc_chat_session_n_messages(const gptc_chat_session *s)
{
    return s ? json_array_size(s->messages) : 0;
}

gptc_status gptc_chat_session_message(const gptc_chat_session *s, size_t i, const char **role,
                                      const char **content, gptc_err *err)
{
    if (role) *role = NULL;
    if (content) *content = NULL;
    if (!s) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL session");
    if (i >= json_array_size(s->messages))
        return gptc_fail(err, GPTC_E_RANGE, "chat session: message %zu of %zu", i,
                         json_array_size(s->messages));
    const json_t *m = json_array_get(s->messages, i);
    if (role) *role = role_of(m);
    if (content) {
        const char *c = json_string_value(json_object_get(m, "content"));
        *content = c ? c : "";
    }
    return GPTC_OK;
}

gptc_status gptc_chat_session_save_json(const gptc_chat_session *s, char **json, gptc_err *err)
{
    if (json) *json = NULL;
    if (!s || !json) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL session or out");
    *json = json_dumps(s->messages, JSON_COMPACT);
    if (!*json) return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    return GPTC_OK;
}

gptc_status gptc_chat_session_set_messages(gptc_chat_session *s, const json_t *messages,
                                           gptc_err *err)
{
    json_t *copy = json_deep_copy(messages);
    if (!copy) return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
    json_decref(s->messages);
    s->messages = copy;
    return GPTC_OK;
}

gptc_status gptc_chat_session_load_json(gptc_chat_session *s, const char *json, size_t len,
                                        gptc_err *err)
{
    if (!s || !json) return gptc_fail(err, GPTC_E_INVALID, "chat session: NULL session or json");
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_ALLOW_NUL, &je);
    if (!doc)
        return gptc_fail(err, GPTC_E_FORMAT, "chat session: invalid JSON: %s (line %d)", je.text,
                         je.line);
    json_t *m = json_is_array(doc) ? doc : json_object_get(doc, "messages");
    int ok = json_is_array(m);
    for (size_t i = 0; ok && i < json_array_size(m); i++) {
        json_t *e = json_array_get(m, i);
        ok = json_is_object(e) && json_is_string(json_object_get(e, "role"));
    }
    gptc_status st = ok ? gptc_chat_session_set_messages(s, m, err)
                        : gptc_fail(err, GPTC_E_FORMAT,
                                    "chat session: not a conversation (a JSON array of messages "
                                    "with roles)");
    json_decref(doc);
    return st;
}

int gptc_chat_session_n_ctx(const gptc_chat_session *s)
{
    return s ? s->n_ctx : 0;
}

size_t gptc_chat_session_n_cached(const gptc_chat_session *s)
{
    return s ? s->n_kv : 0;
}

const char *gptc_chat_session_template(const gptc_chat_session *s, size_t *len, int *is_fallback)
{
    if (len) *len = s ? s->n_tmpl : 0;
    if (is_fallback) *is_fallback = s ? s->tmpl_fallback : 0;
    return s ? s->tmpl_src : NULL;
}

const gptc_ctx *gptc_chat_session_ctx(const gptc_chat_session *s)
{
    return s->ctx;
}

const gptc_chat_stops *gptc_chat_session_stops(const gptc_chat_session *s)
{
    return &s->stops;
}

const json_t *gptc_chat_session_messages(const gptc_chat_session *s)
{
    return s->messages;
}
