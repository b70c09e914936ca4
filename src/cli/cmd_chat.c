/*
 * cmd_chat.c — `gptc chat MODEL`: talk to a model in the terminal, as `ollama run` does.
 *
 * Each turn renders the whole conversation with the model's chat template (or a built-in one),
 * tokenizes it, and decodes only what the KV cache does not already hold: the cache keeps the
 * tokens of the previous turn, the new prompt usually extends them, and everything after the
 * first differing token is removed (gptc_kv_seq_rm) and recomputed. The reply streams as it is
 * generated and stops at an end-of-turn token or string. When the conversation outgrows the
 * context, the oldest turns after the system prompt are dropped, with a note.
 *
 * On a terminal: libedit line editing with history across sessions (~/.gptc_history, or
 * $GPTC_HISTORY), multi-line input between """, /commands, Ctrl-C stops a reply and keeps the
 * session, Ctrl-D or /bye leaves. Otherwise (a pipe or a file): one user message per line,
 * one reply per message on stdout, command feedback on stderr.
 */
#include <editline/readline.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat/chat.h"
#include "chat/think_budget.h"
#include "chat/toolcall.h"
#include "cli/cli.h"
#include "sample/stop.h"

static const char *k_help =
    "usage: gptc chat MODEL [options]\n"
    "\n"
    "Chat with a model. Replies stream as they are generated. On a terminal: line editing and\n"
    "history, /commands (/? lists them), Ctrl-C stops a reply, Ctrl-D or /bye leaves. With stdin\n"
    "not a terminal, each line is one user message and each reply is printed on stdout.\n"
    "\n"
    "      --chat-template NAME|FILE  chatml, llama2, llama3, mistral, gemma, phi3, zephyr or a\n"
    "                          Jinja file (default: the model's; without one, ChatML)\n"
    "      --system TEXT       system prompt\n" CLI_SAMPLER_HELP
    "  -n, --num-predict N     most tokens per reply (default -1: until the turn ends)\n"
    "      --cache-type-k T, --cache-type-v T   KV cache types: f32, f16 (default), q8_0\n"
    "      --swa-full        sliding-window layers keep every position, not a window-sized\n"
    "                        ring (models mixing window and global layers: Gemma 2/3/4)\n"
    "  -c, --ctx N             context size in tokens (default: the model's trained context,\n"
    "                          capped so the KV cache fits in 1 GiB)\n"
    "  -t, --threads N         threads (default: all cores)\n"
    "      --date YYYY-MM-DD   the date templates see (default: env GPTC_DATE, else today)\n"
    "      --tokenizer FILE    tokenizer.bin for a llama2.c checkpoint\n" CLI_LORA_HELP
    "      --reasoning-budget N  tokens a reply may think (<think>...) before \"</think>\" is\n"
    "                          forced; 0: no thinking (enable_thinking false); -1: unlimited\n"
    "                          (default)\n"
    "  -v, --verbose           after each reply: prompt tokens reused from the cache, tok/s\n"
    "\n"
    "Replies are parsed in the template's format: thinking is shown dimmed (plain when stdout\n"
    "is not a terminal), tool calls as one JSON object per line ({\"tool_call\": {\"name\",\n"
    "\"arguments\"}}).\n";

static const char *k_commands =
    "Available commands:\n"
    "  /set PARAMETER VALUE  temp, top_p, top_k, min_p, seed, num_predict, repeat_penalty\n"
    "  /system TEXT          set the system prompt\n"
    "  /show [info|parameters|system|template]\n"
    "  /clear                forget the conversation (the system prompt stays)\n"
    "  /save FILE            save the conversation as JSON\n"
    "  /load FILE            load a conversation saved with /save (or a JSON array of messages)\n"
    "  /bye                  leave\n"
    "  /?, /help             this help\n"
    "\n"
    "Use \"\"\" to begin and end a multi-line message.\n";

static volatile sig_atomic_t g_interrupt;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupt = 1;
}

typedef struct chat {
    const char *model_path;
    gptc_model *model;
    const gptc_tokenizer *tok;
    gptc_ctx *ctx;
    int n_ctx, n_batch;
    int ctx_asked, type_k, type_v; /* --ctx given; the KV cache types */
    gptc_sampler *smp;
    gptc_sampler_params sp;
    long long num_predict;
    gptc_chat_template *tmpl;
    char *tmpl_src; /* owned copy */
    size_t n_tmpl;
    char tmpl_desc[300];
    gptc_chat_stops stops;
    char bos[256], eos[256];
    const char *bos_p, *eos_p;
    const char *date;
    json_t *messages;
    int32_t *kv; /* tokens held by the KV cache (sequence 0, positions 0..n_kv-1) */
    size_t n_kv;
    int tty;
    int verbose;
    size_t last_cached, last_new; /* prompt tokens reused from the cache / decoded, last turn */
    FILE *info;       /* where command feedback goes: stdout on a terminal, else stderr */
    int budget;       /* --reasoning-budget */
    int color;        /* stdout is a terminal: thinking dimmed */
    int tc_format;    /* the template's tool-call format (GPTC_TC_*) */
    int think_mode;   /* gptc_toolcall_opts.think for this reply */
    int prompt_think; /* the last prompt left <think> open */
    /* the reply's display */
    gptc_toolcall_parser *tcp;
    int dim; /* the dim attribute is on */
    json_t *calls;
} chat;

/* ---------------------------------------------------------------------------------------------
 * Conversation -> tokens
 */
/* The conversation's prompt tokens: special tokens only from the template's own text, never
 * from what the user typed (gptc_chat_prompt). NULL after printing the error. */
static int32_t *render_tokens(chat *c, size_t *n_ids)
{
    gptc_chat_opts o = gptc_chat_default_opts();
    o.add_generation_prompt = 1;
    o.bos_token = c->bos_p;
    o.eos_token = c->eos_p;
    o.date = c->date;
    if (c->budget == 0) o.extra_json = "{\"enable_thinking\": false}";
    gptc_err err;
    int32_t *ids = NULL;
    char *text = NULL;
    size_t text_len = 0;
    if (gptc_chat_prompt(c->tmpl, c->messages, NULL, &o, c->tok, &ids, n_ids, &text, &text_len,
                         &err)) {
        fprintf(stderr, "gptc: template: %s\n", err.msg);
        return NULL;
    }
    c->prompt_think = gptc_toolcall_prompt_opens_think(text, text_len);
    free(text);
    return ids;
}

static const char *role_of(json_t *m)
{
    return json_string_value(json_object_get(m, "role"));
}

static size_t first_turn(chat *c)
{
    size_t i = 0;
    while (i < json_array_size(c->messages) &&
           strcmp(role_of(json_array_get(c->messages, i)) ? role_of(json_array_get(c->messages, i))
                                                          : "",
                  "system") == 0)
        i++;
    return i;
}

/* Drop the oldest turn after the system prompt: a message, and what follows it until the next
 * user message (so the conversation still starts with the user). 0 if only the last message is
 * left. */
static int drop_oldest(chat *c)
{
    size_t i = first_turn(c), n = json_array_size(c->messages);
    if (n - i <= 1) return 0;
    int dropped = 0;
    do {
        json_array_remove(c->messages, i);
        dropped++;
        n--;
    } while (n - i > 1 && strcmp(role_of(json_array_get(c->messages, i))
                                     ? role_of(json_array_get(c->messages, i))
                                     : "",
                                 "user") != 0);
    return dropped;
}

/* The prompt of the conversation, dropping old turns until it leaves room for a reply. */
static int32_t *prompt_tokens(chat *c, size_t *n_ids)
{
    size_t reserve = (size_t)(c->n_ctx / 8 > 0 ? c->n_ctx / 8 : 1);
    int dropped = 0;
    for (;;) {
        int32_t *ids = render_tokens(c, n_ids);
        if (!ids) return NULL;
        if (*n_ids > 0 && *n_ids + reserve <= (size_t)c->n_ctx) {
            if (dropped)
                fprintf(stderr, "gptc: the context is full: dropped the %d oldest message%s\n",
                        dropped, dropped > 1 ? "s" : "");
            return ids;
        }
        free(ids);
        int d = drop_oldest(c);
        if (!d) {
            fprintf(stderr,
                    "gptc: the message does not fit in the context (%zu tokens, context %d; raise "
                    "--ctx)\n",
                    *n_ids, c->n_ctx);
            return NULL;
        }
        dropped += d;
    }
}

/* Decode ids[p..n) after keeping the longest prefix the cache already holds. OUT: logits. */
static float *prefill(chat *c, const int32_t *ids, size_t n)
{
    size_t p = 0;
    while (p < c->n_kv && p < n && c->kv[p] == ids[p])
        p++;
    if (p == n) p = n - 1; /* recompute the last token for its logits */
    /* a hybrid model's recurrent state can only go back to a checkpoint (or to 0) */
    p = (size_t)gptc_kv_seq_cut(c->ctx, 0, (int)p);
    /* a window ring may have overwritten what the token at p sees: then decode it all again */
    if (p < c->n_kv && gptc_kv_seq_reusable(c->ctx, 0, (int)p) < (int)p) p = 0;
    if (p < c->n_kv) {
        if (gptc_kv_seq_rm(c->ctx, 0, (int)p, -1) != GPTC_OK) { /* cannot happen after the cut */
            gptc_kv_seq_rm(c->ctx, 0, 0, -1);
            p = 0;
        }
        c->n_kv = p;
    }
    c->last_cached = p;
    c->last_new = n - p;
    int32_t *pos = malloc((n - p) * sizeof *pos);
    if (!pos) cli_die("out of memory");
    for (size_t i = p; i < n; i++)
        pos[i - p] = (int32_t)i;
    float *logits = NULL;
    gptc_err err;
    int rec = gptc_model_recurrent(c->model);
    for (size_t i = p, m = 0; i < n; i += m) {
        if (g_interrupt) {
            logits = NULL;
            break;
        }
        m = n - i < (size_t)c->n_batch ? n - i : (size_t)c->n_batch;
        /* hybrid models: stop before the last token and checkpoint there, so the next turn
         * (or the same prompt again) can reuse everything up to it */
        if (rec && i + m == n && m > 1) m--;
        gptc_batch b = {.n_tokens = (int)m, .token = ids + i, .pos = pos + (i - p)};
        if (gptc_decode(c->ctx, &b, &err)) {
            fprintf(stderr, "gptc: %s\n", err.msg);
            gptc_kv_clear(c->ctx);
            c->n_kv = 0;
            free(pos);
            return NULL;
        }
        memcpy(c->kv + c->n_kv, ids + i, m * sizeof *ids);
        c->n_kv += m;
        for (size_t k = 0; k < m; k++)
            gptc_sampler_accept(c->smp, ids[i + k]);
        logits = gptc_get_logits(c->ctx, (int)m - 1);
        if (rec && c->n_kv == n - 1) gptc_kv_seq_checkpoint(c->ctx, 0);
    }
    free(pos);
    return logits;
}

/* ---------------------------------------------------------------------------------------------
 * Generation with stop strings: text that could be the start of a stop string is held back
 * until it is known not to be one.
 */
typedef struct reply {
    char *p;
    size_t n, cap, shown;
} reply;

static void reply_add(reply *r, const char *s, size_t n)
{
    if (r->n + n + 1 > r->cap) {
        r->cap = (r->n + n + 1) * 2;
        char *q = realloc(r->p, r->cap);
        if (!q) cli_die("out of memory");
        r->p = q;
    }
    memcpy(r->p + r->n, s, n);
    r->n += n;
    r->p[r->n] = '\0';
}

static void set_dim(chat *c, int on)
{
    if (c->color && c->dim != on) fputs(on ? "\033[2m" : "\033[0m", stdout);
    c->dim = on;
}

/* The parser's events: content as it is, thinking dimmed, calls collected for the end. */
static void on_part(void *ud, int ev, int idx, const char *t, size_t n)
{
    chat *c = ud;
    if (ev == GPTC_TC_EV_CONTENT || ev == GPTC_TC_EV_REASONING) {
        set_dim(c, ev == GPTC_TC_EV_REASONING);
        fwrite(t, 1, n, stdout);
    } else if (ev == GPTC_TC_EV_NAME) {
        json_array_append_new(c->calls, json_pack("{s:s%, s:s}", "name", t, n, "arguments", ""));
    } else {
        json_t *call = json_array_get(c->calls, (size_t)idx);
        const char *a = json_string_value(json_object_get(call, "arguments"));
        if (!a) return;
        size_t la = strlen(a);
        char *b = malloc(la + n + 1);
        if (!b) cli_die("out of memory");
        memcpy(b, a, la);
        memcpy(b + la, t, n);
        b[la + n] = '\0';
        json_object_set_new(call, "arguments", json_string(b));
        free(b);
    }
}

static void show_text(chat *c, const char *p, size_t n)
{
    if (c->tcp)
        gptc_toolcall_feed(c->tcp, p, n, on_part, c);
    else
        fwrite(p, 1, n, stdout);
    fflush(stdout);
}

/* The end of a reply's display: what the parser held back, then the calls as JSON lines. */
static void show_end(chat *c)
{
    if (!c->tcp) return;
    gptc_toolcall_finish(c->tcp, on_part, c);
    set_dim(c, 0);
    size_t i;
    json_t *call;
    json_array_foreach(c->calls, i, call)
    {
        const char *a = json_string_value(json_object_get(call, "arguments"));
        json_t *args = a ? json_loads(a, JSON_DECODE_ANY, NULL) : NULL;
        if (args) json_object_set_new(call, "arguments", args);
        json_t *wrap = json_pack("{s:O}", "tool_call", call);
        char *line = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
        if (line) printf("\n%s", line);
        free(line);
        json_decref(wrap);
    }
    fflush(stdout);
    gptc_toolcall_free(c->tcp);
    c->tcp = NULL;
    json_decref(c->calls);
    c->calls = NULL;
}

static void reply_show(chat *c, reply *r, size_t upto)
{
    if (upto > r->shown) {
        show_text(c, r->p + r->shown, upto - r->shown);
        r->shown = upto;
    }
}

/* 1 when a stop string ended the reply (cut there); shows what no stop string can claim */
static int reply_check(chat *c, reply *r, size_t old_n)
{
    const char *strs[GPTC_CHAT_MAX_STOPS];
    size_t lens[GPTC_CHAT_MAX_STOPS];
    for (int i = 0; i < c->stops.n_strs; i++) {
        strs[i] = c->stops.strs[i];
        lens[i] = strlen(strs[i]);
    }
    size_t at = 0, safe = 0;
    if (gptc_stop_scan(r->p, r->n, old_n, c->stops.n_strs, strs, lens, &at, &safe) >= 0) {
        r->n = at;
        r->p[r->n] = '\0';
        reply_show(c, r, r->n);
        return 1;
    }
    reply_show(c, r, safe);
    return 0;
}

static int is_stop_id(chat *c, int32_t id)
{
    if (gptc_tok_is_eog(c->tok, id)) return 1;
    for (int i = 0; i < c->stops.n_ids; i++)
        if (c->stops.ids[i] == id) return 1;
    return 0;
}

/* Generate the reply to the conversation so far. OUT: the reply text (malloc'd). */
static char *generate(chat *c, float *logits)
{
    reply r = {0};
    reply_add(&r, "", 0);
    gptc_detok d;
    gptc_detok_init(&d);
    gptc_err err;
    long long n_gen = 0;
    const char *note = NULL;
    double t0 = cli_now_ms();
    c->think_mode = c->prompt_think ? 2 : memmem(c->tmpl_src, c->n_tmpl, "<think>", 7) ? 1 : 0;
    if (c->tc_format != GPTC_TC_NONE || c->think_mode) {
        gptc_toolcall_opts to = {.format = c->tc_format, .think = c->think_mode};
        c->calls = json_array();
        if (!c->calls || gptc_toolcall_new(&to, &c->tcp, &err)) cli_die("out of memory");
    }
    gptc_think_budget tb;
    gptc_think_budget_init(&tb, c->budget, c->prompt_think);
    int32_t forced[16];
    int n_forced = 0, i_forced = 0;
    while (logits) {
        if (g_interrupt) {
            note = "interrupted";
            break;
        }
        if (c->num_predict >= 0 && n_gen >= c->num_predict) break;
        if (i_forced == n_forced && gptc_think_budget_exhausted(&tb)) { /* close the block */
            i_forced = 0;
            n_forced = gptc_think_close_tokens(c->tok, forced, 16);
            if (!n_forced) tb.budget = -1;
        }
        int32_t id = i_forced < n_forced ? forced[i_forced++] : gptc_sampler_sample(c->smp, logits);
        gptc_sampler_accept(c->smp, id);
        if (is_stop_id(c, id)) break;
        char buf[256];
        size_t nb;
        if (gptc_detok_push(c->tok, &d, id, buf, sizeof buf, &nb, &err)) {
            fprintf(stderr, "gptc: %s\n", err.msg);
            break;
        }
        gptc_think_budget_push(&tb, buf, nb);
        size_t old_n = r.n;
        reply_add(&r, buf, nb);
        n_gen++;
        if (reply_check(c, &r, old_n)) break;
        if (c->n_kv >= (size_t)c->n_ctx) {
            note = "the context is full";
            break;
        }
        int32_t pos = (int32_t)c->n_kv;
        gptc_batch b = {.n_tokens = 1, .token = &id, .pos = &pos};
        if (gptc_decode(c->ctx, &b, &err)) {
            fprintf(stderr, "gptc: %s\n", err.msg);
            break;
        }
        c->kv[c->n_kv++] = id;
        logits = gptc_get_logits(c->ctx, 0);
    }
    char tail[16];
    size_t nt = gptc_detok_flush(&d, tail, sizeof tail);
    size_t old_n = r.n;
    reply_add(&r, tail, nt);
    if (!reply_check(c, &r, old_n)) reply_show(c, &r, r.n);
    show_end(c);
    fputs(c->tty ? "\n\n" : "\n", stdout);
    fflush(stdout);
    if (note) fprintf(stderr, "gptc: reply stopped: %s\n", note);
    if (c->verbose) {
        double ms = cli_now_ms() - t0;
        fprintf(stderr,
                "gptc: prompt %zu tokens (%zu from the cache, %zu decoded) | reply %lld tokens, "
                "%.1f tok/s\n",
                c->last_cached + c->last_new, c->last_cached, c->last_new, n_gen,
                ms > 0 ? n_gen * 1e3 / ms : 0.0);
    }
    return r.p;
}

static json_t *message(const char *role, const char *content)
{
    json_t *m = json_object();
    if (!m || json_object_set_new(m, "role", json_string(role)) ||
        json_object_set_new(m, "content", json_stringn(content, strlen(content))))
        cli_die("out of memory");
    return m;
}

static void turn(chat *c, const char *text)
{
    json_t *probe = json_stringn(text, strlen(text));
    if (!probe) {
        fprintf(stderr, "gptc: the message is not valid UTF-8\n");
        if (!c->tty) fputs("\n", stdout);
        return;
    }
    json_decref(probe);
    json_array_append_new(c->messages, message("user", text));
    g_interrupt = 0;
    size_t n;
    int32_t *ids = prompt_tokens(c, &n);
    float *logits = ids ? prefill(c, ids, n) : NULL;
    free(ids);
    if (!logits) {
        /* the turn did not happen: forget the message */
        json_array_remove(c->messages, json_array_size(c->messages) - 1);
        if (g_interrupt) fprintf(stderr, "gptc: interrupted\n");
        if (!c->tty) fputs("\n", stdout);
        return;
    }
    char *r = generate(c, logits);
    json_array_append_new(c->messages, message("assistant", r));
    free(r);
    g_interrupt = 0;
}

/* ---------------------------------------------------------------------------------------------
 * /commands
 */
static void set_system(chat *c, const char *text)
{
    if (json_array_size(c->messages) &&
        !strcmp(role_of(json_array_get(c->messages, 0)) ? role_of(json_array_get(c->messages, 0))
                                                        : "",
                "system"))
        json_array_remove(c->messages, 0);
    if (*text) json_array_insert_new(c->messages, 0, message("system", text));
}

static void new_sampler(chat *c)
{
    gptc_err err;
    gptc_sampler *s;
    if (gptc_sampler_init(&c->sp, gptc_model_hparams(c->model)->n_vocab, &s, &err)) {
        fprintf(stderr, "gptc: %s\n", err.msg);
        return;
    }
    gptc_sampler_free(c->smp);
    c->smp = s;
}

static void cmd_set(chat *c, char *args)
{
    char *name = strtok(args, " \t"), *val = strtok(NULL, " \t");
    if (!name || !val) {
        fprintf(c->info, "Usage: /set PARAMETER VALUE (temp, top_p, top_k, min_p, seed, "
                         "num_predict, repeat_penalty)\n");
        return;
    }
    char *end;
    double v = strtod(val, &end);
    if (*end || end == val || v != v) {
        fprintf(stderr, "gptc: /set %s: '%s' is not a number\n", name, val);
        return;
    }
    const char *shown = name;
    if (!strcmp(name, "temp") || !strcmp(name, "temperature")) {
        if (v < 0 || v > 100) goto range;
        c->sp.temp = (float)v;
        shown = "temperature";
    } else if (!strcmp(name, "top_p")) {
        if (v < 0 || v > 1) goto range;
        c->sp.top_p = (float)v;
    } else if (!strcmp(name, "top_k")) {
        if (v < 0 || v > 1e9 || v != (long long)v) goto range;
        c->sp.top_k = (int)v;
    } else if (!strcmp(name, "min_p")) {
        if (v < 0 || v > 1) goto range;
        c->sp.min_p = (float)v;
    } else if (!strcmp(name, "repeat_penalty")) {
        if (v < 0.01 || v > 100) goto range;
        c->sp.repeat_penalty = (float)v;
    } else if (!strcmp(name, "seed")) {
        if (v < 0 || v > 9.2e18 || v != (long long)v) goto range;
        c->sp.seed = (uint64_t)v;
    } else if (!strcmp(name, "num_predict")) {
        if (v < -1 || v > 1e9 || v != (long long)v) goto range;
        c->num_predict = (long long)v;
        fprintf(c->info, "Set parameter 'num_predict' to '%s'\n", val);
        return;
    } else {
        fprintf(stderr,
                "gptc: /set: unknown parameter '%s' (temp, top_p, top_k, min_p, seed, num_predict, "
                "repeat_penalty)\n",
                name);
        return;
    }
    new_sampler(c);
    fprintf(c->info, "Set parameter '%s' to '%s'\n", shown, val);
    return;
range:
    fprintf(stderr, "gptc: /set %s: %s is out of range\n", name, val);
}

static void show(chat *c, const char *what)
{
    FILE *o = c->info;
    const gptc_hparams *hp = gptc_model_hparams(c->model);
    int all = !*what;
    char line[256];
    if (all || !strcmp(what, "info")) {
        fprintf(o,
                "Model\n  %s\n  architecture %s, %d layers, %d dims, %d heads, vocabulary %d\n"
                "  %s, %zu in use\n",
                c->model_path, hp->arch, hp->n_layer, hp->n_embd, hp->n_head, hp->n_vocab,
                cli_ctx_line(line, sizeof line, c->model, c->ctx, 1, c->type_k, c->type_v,
                             c->ctx_asked),
                c->n_kv);
        fprintf(o, "  template %s\n  stops", c->tmpl_desc);
        for (int i = 0; i < c->stops.n_strs; i++)
            fprintf(o, " %s", c->stops.strs[i]);
        fprintf(o, " (%d token%s)\n", c->stops.n_ids, c->stops.n_ids == 1 ? "" : "s");
    }
    if (all || !strcmp(what, "parameters"))
        fprintf(o,
                "Parameters\n  temperature %g\n  top_k %d\n  top_p %g\n  min_p %g\n"
                "  repeat_penalty %g\n  seed %llu\n  num_predict %lld\n",
                c->sp.temp, c->sp.top_k, c->sp.top_p, c->sp.min_p, c->sp.repeat_penalty,
                (unsigned long long)c->sp.seed, c->num_predict);
    if (all || !strcmp(what, "system")) {
        json_t *m = json_array_get(c->messages, 0);
        const char *sys = m && role_of(m) && !strcmp(role_of(m), "system")
                              ? json_string_value(json_object_get(m, "content"))
                              : NULL;
        fprintf(o, "System\n  %s\n", sys ? sys : "(none)");
    }
    if (!strcmp(what, "template")) {
        fwrite(c->tmpl_src, 1, c->n_tmpl, o);
        fputc('\n', o);
    } else if (all) {
        fprintf(o, "(/show template prints the template)\n");
    } else if (strcmp(what, "info") && strcmp(what, "parameters") && strcmp(what, "system")) {
        fprintf(stderr, "gptc: /show %s: unknown (info, parameters, system, template)\n", what);
    }
}

static void save(chat *c, const char *path)
{
    json_t *doc = json_pack("{sO}", "messages", c->messages);
    if (!doc || json_dump_file(doc, path, JSON_INDENT(2)))
        fprintf(stderr, "gptc: /save: cannot write %s\n", path);
    else
        fprintf(c->info, "Saved the conversation (%zu messages) to %s\n",
                json_array_size(c->messages), path);
    json_decref(doc);
}

static void load(chat *c, const char *path)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_ALLOW_NUL, &je);
    if (!doc) {
        fprintf(stderr, "gptc: /load: %s: %s (line %d)\n", path, je.text, je.line);
        return;
    }
    json_t *m = json_is_array(doc) ? doc : json_object_get(doc, "messages");
    int ok = json_is_array(m);
    for (size_t i = 0; ok && i < json_array_size(m); i++) {
        json_t *e = json_array_get(m, i);
        ok = json_is_object(e) && json_is_string(json_object_get(e, "role"));
    }
    if (!ok) {
        fprintf(stderr,
                "gptc: /load: %s is not a conversation (a JSON array of messages with roles)\n",
                path);
    } else {
        json_decref(c->messages);
        c->messages = json_deep_copy(m);
        fprintf(c->info, "Loaded %zu messages from %s\n", json_array_size(c->messages), path);
    }
    json_decref(doc);
}

/* 1: leave */
static int command(chat *c, char *line)
{
    char *cmd = line + 1, *args = cmd;
    while (*args && *args != ' ' && *args != '\t')
        args++;
    if (*args) *args++ = '\0';
    while (*args == ' ' || *args == '\t')
        args++;
    char *e = args + strlen(args);
    while (e > args && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    if (!strcmp(cmd, "bye") || !strcmp(cmd, "exit") || !strcmp(cmd, "quit")) return 1;
    if (!strcmp(cmd, "?") || !strcmp(cmd, "help"))
        fputs(k_commands, c->info);
    else if (!strcmp(cmd, "set"))
        cmd_set(c, args);
    else if (!strcmp(cmd, "show"))
        show(c, args);
    else if (!strcmp(cmd, "system")) {
        set_system(c, args);
        fprintf(c->info, *args ? "Set the system prompt.\n" : "Removed the system prompt.\n");
    } else if (!strcmp(cmd, "clear")) {
        json_t *sys = json_array_get(c->messages, 0);
        json_t *keep =
            sys && role_of(sys) && !strcmp(role_of(sys), "system") ? json_incref(sys) : NULL;
        json_array_clear(c->messages);
        if (keep) json_array_append_new(c->messages, keep);
        gptc_kv_clear(c->ctx);
        c->n_kv = 0;
        fprintf(c->info, "Cleared the conversation.\n");
    } else if (!strcmp(cmd, "save") || !strcmp(cmd, "load")) {
        if (!*args)
            fprintf(stderr, "gptc: /%s FILE\n", cmd);
        else if (cmd[0] == 's')
            save(c, args);
        else
            load(c, args);
    } else {
        fprintf(stderr, "gptc: unknown command '/%s' (/? lists the commands)\n", cmd);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Input
 */
static char *read_line(chat *c, const char *prompt)
{
    if (c->tty) {
        g_interrupt = 0;
        char *s = readline(prompt);
        return s;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static int ends_with_quotes(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && !strcmp(s + n - 3, "\"\"\"");
}

/* A message: one line, or the lines between """ and """. NULL at the end of input. */
static char *read_message(chat *c, int *interrupted)
{
    *interrupted = 0;
    char *line = read_line(c, ">>> ");
    if (!line) {
        if (c->tty && g_interrupt) *interrupted = 1;
        return NULL;
    }
    if (strncmp(line, "\"\"\"", 3) != 0) return line;
    /* multi-line */
    size_t cap = strlen(line) + 64, n = 0;
    char *buf = malloc(cap);
    if (!buf) cli_die("out of memory");
    const char *first = line + 3;
    int done = strlen(first) >= 3 && ends_with_quotes(first);
    n = (size_t)snprintf(buf, cap, "%.*s", (int)(strlen(first) - (done ? 3 : 0)), first);
    free(line);
    while (!done) {
        line = read_line(c, "... ");
        if (!line) break;
        done = ends_with_quotes(line);
        size_t l = strlen(line) - (done ? 3 : 0);
        if (n + l + 2 > cap) {
            cap = (n + l + 2) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) cli_die("out of memory");
            buf = nb;
        }
        if (n) buf[n++] = '\n';
        memcpy(buf + n, line, l);
        n += l;
        buf[n] = '\0';
        free(line);
    }
    return buf;
}

static const char *history_path(char *buf, size_t cap)
{
    const char *h = getenv("GPTC_HISTORY");
    if (h && *h) return h;
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    snprintf(buf, cap, "%s/.gptc_history", home);
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Main
 */
int cmd_chat(int argc, char **argv)
{
    chat c;
    memset(&c, 0, sizeof c);
    c.budget = -1;
    gptc_model_params mp = gptc_model_default_params();
    cli_lora lora = {0};
    gptc_ctx_params cp = gptc_ctx_default_params();
    c.sp = gptc_sampler_default_params();
    c.num_predict = -1;
    const char *tmpl_arg = NULL, *system = NULL;
    int seed_set = 0;
    c.date = getenv("GPTC_DATE");
    if (c.date && !*c.date) c.date = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "--chat-template", "--template"))
            tmpl_arg = cli_value(argc, argv, &i);
        else if (cli_is(a, "--system", NULL))
            system = cli_value(argc, argv, &i);
        else if (cli_sampler_opt(argc, argv, &i, &c.sp, &seed_set))
            ;
        else if (cli_is(a, "-n", "--num-predict"))
            c.num_predict = cli_int(a, cli_value(argc, argv, &i), -1, 1 << 30);
        else if (cli_is(a, "--cache-type-k", NULL))
            cp.type_k = cli_cache_type(a, cli_value(argc, argv, &i));
        else if (cli_is(a, "--cache-type-v", NULL))
            cp.type_v = cli_cache_type(a, cli_value(argc, argv, &i));
        else if (cli_is(a, "--swa-full", NULL))
            cp.swa_full = 1;
        else if (cli_is(a, "-c", "--ctx")) {
            cp.n_ctx = (int)cli_int(a, cli_value(argc, argv, &i), 16, 1 << 24);
            c.ctx_asked = 1;
        } else if (cli_is(a, "-t", "--threads"))
            cp.n_threads = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else if (cli_is(a, "--date", NULL))
            c.date = cli_value(argc, argv, &i);
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--lora", NULL))
            cli_lora_add(&lora, cli_value(argc, argv, &i));
        else if (cli_is(a, "--reasoning-budget", NULL))
            c.budget = (int)cli_int(a, cli_value(argc, argv, &i), -1, 1 << 24);
        else if (cli_is(a, "-v", "--verbose"))
            c.verbose = 1;
        else if (a[0] == '-' && a[1])
            cli_die("chat: unknown option '%s' (see gptc chat --help)", a);
        else if (!c.model_path)
            c.model_path = a;
        else
            cli_die("chat: unexpected argument '%s'", a);
    }
    if (!c.model_path) cli_die("chat: no model given (usage: gptc chat MODEL)");
    if (!seed_set) c.sp.seed = (uint64_t)time(NULL);
    c.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    c.color = isatty(STDOUT_FILENO);
    c.info = c.tty ? stdout : stderr;

    gptc_err err;
    c.model = cli_load_model(c.model_path, &mp, &lora);
    cli_need_generator("chat", c.model_path, c.model);
    c.tok = gptc_model_tokenizer(c.model);
    cp.n_seq_max = 1;
    if (gptc_ctx_init(c.model, &cp, &c.ctx, &err)) cli_die_err(&err);
    c.n_ctx = gptc_ctx_n_ctx(c.ctx);
    c.type_k = cp.type_k;
    c.type_v = cp.type_v;
    {
        char line[256];
        fprintf(
            c.info, "%s\n",
            cli_ctx_line(line, sizeof line, c.model, c.ctx, 1, c.type_k, c.type_v, c.ctx_asked));
    }
    c.n_batch = cp.n_batch > 0 ? cp.n_batch : 512;
    c.kv = malloc((size_t)c.n_ctx * sizeof *c.kv);
    if (!c.kv) cli_die("out of memory");
    if (gptc_sampler_init(&c.sp, gptc_model_hparams(c.model)->n_vocab, &c.smp, &err))
        cli_die_err(&err);

    /* the template */
    const char *src;
    size_t n_src;
    if (tmpl_arg && (src = gptc_chat_builtin(tmpl_arg)) != NULL) {
        n_src = strlen(src);
        snprintf(c.tmpl_desc, sizeof c.tmpl_desc, "%s (built-in)", tmpl_arg);
        c.tmpl_src = strdup(src);
    } else if (tmpl_arg) {
        if (access(tmpl_arg, F_OK) != 0)
            cli_die("chat: --chat-template '%s' is neither a built-in template (chatml, llama2, "
                    "llama3, mistral, gemma, phi3, zephyr) nor a file",
                    tmpl_arg);
        c.tmpl_src = cli_read_file(tmpl_arg, &n_src);
        snprintf(c.tmpl_desc, sizeof c.tmpl_desc, "%.280s", tmpl_arg);
    } else {
        int fallback;
        src = gptc_chat_model_template(c.model, &n_src, &fallback);
        c.tmpl_src = malloc(n_src + 1);
        if (c.tmpl_src) {
            memcpy(c.tmpl_src, src, n_src);
            c.tmpl_src[n_src] = '\0';
        }
        snprintf(c.tmpl_desc, sizeof c.tmpl_desc, "%s",
                 fallback ? "chatml (built-in; the model has none)"
                          : "the model's tokenizer.chat_template");
        if (fallback)
            fprintf(stderr,
                    "gptc: warning: %s has no chat template; using ChatML (--chat-template "
                    "NAME|FILE chooses one)\n",
                    c.model_path);
    }
    if (!c.tmpl_src) cli_die("out of memory");
    c.n_tmpl = n_src;
    if (gptc_chat_template_init(c.tmpl_src, c.n_tmpl, &c.tmpl, &err))
        cli_die("chat: template: %s", err.msg);
    gptc_chat_stops_for(c.model, c.tmpl_src, c.n_tmpl, &c.stops);
    c.tc_format = gptc_toolcall_detect(c.tmpl_src, c.n_tmpl);
    c.bos_p = gptc_chat_bos_text(c.model, c.bos, sizeof c.bos);
    c.eos_p = gptc_chat_eos_text(c.model, c.eos, sizeof c.eos);

    c.messages = json_array();
    if (!c.messages) cli_die("out of memory");
    if (system) set_system(&c, system);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    char hist_buf[1024];
    const char *hist = c.tty ? history_path(hist_buf, sizeof hist_buf) : NULL;
    if (c.tty) {
        stifle_history(1000);
        if (hist) read_history(hist);
    }

    for (;;) {
        int interrupted;
        char *msg = read_message(&c, &interrupted);
        if (!msg) {
            if (interrupted) { /* Ctrl-C at the prompt: a fresh line, the session goes on */
                fputs("\nUse Ctrl + d or /bye to exit.\n", stdout);
                fflush(stdout);
                continue;
            }
            if (c.tty) fputc('\n', stdout);
            break;
        }
        char *s = msg;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s) {
            free(msg);
            continue;
        }
        if (c.tty) {
            add_history(msg);
            if (hist) write_history(hist);
        }
        int leave = 0;
        if (s[0] == '/' && s[1] && s[1] != '/')
            leave = command(&c, s);
        else
            turn(&c, msg);
        free(msg);
        if (leave) break;
    }

    json_decref(c.messages);
    gptc_chat_template_free(c.tmpl);
    free(c.tmpl_src);
    free(c.kv);
    gptc_sampler_free(c.smp);
    gptc_ctx_free(c.ctx);
    gptc_model_free(c.model);
    return 0;
}
