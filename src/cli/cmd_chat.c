/*
 * cmd_chat.c — `gptc chat MODEL`: talk to a model in the terminal, as `ollama run` does.
 *
 * The conversation itself is a gptc_chat_session (src/chat/session.c, the public API in
 * include/gptc.h): each turn renders the whole conversation with the chat template and decodes
 * only what the KV cache does not already hold; when the conversation outgrows the context, the
 * oldest turns after the system prompt are dropped, with a note. This file is the REPL around
 * it: reading lines, /commands, printing the reply as it streams (thinking dimmed, tool calls as
 * JSON lines).
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
#include "chat/session.h"
#include "cli/cli.h"
#include "core/base.h"

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
    "      --tokenizer FILE    tokenizer.bin for a llama2.c checkpoint\n"
    "      --no-repack         keep the weights in the file's layout (no packed copy at "
    "load)\n" CLI_LORA_HELP CLI_SPEC_HELP
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
    gptc_chat_session *s;
    int ctx_asked, type_k, type_v; /* --ctx given; the KV cache types */
    gptc_sampler_params sp;
    long long num_predict;
    char tmpl_desc[300];
    int tty;
    int verbose;
    FILE *info; /* where command feedback goes: stdout on a terminal, else stderr */
    int color;  /* stdout is a terminal: thinking dimmed */
    int dim;    /* the dim attribute is on */
} chat;

/* ---------------------------------------------------------------------------------------------
 * A turn: the session generates, the callbacks print
 */
static void set_dim(chat *c, int on)
{
    if (c->color && c->dim != on) fputs(on ? "\033[2m" : "\033[0m", stdout);
    c->dim = on;
}

/* content as it is, thinking dimmed, each tool call as a JSON line at the end */
static int on_piece(void *ud, gptc_chat_piece kind, const char *t, size_t n)
{
    chat *c = ud;
    if (kind == GPTC_CHAT_TOOL_CALL) {
        set_dim(c, 0);
        printf("\n{\"tool_call\":%.*s}", (int)n, t);
    } else {
        set_dim(c, kind == GPTC_CHAT_REASONING);
        fwrite(t, 1, n, stdout);
    }
    fflush(stdout);
    return 0;
}

/* " | spec: 40/64 drafts accepted (62.5%), 2.41 tok/pass" when the reply drafted */
static const char *spec_line(const gptc_chat_stats *st)
{
    static char buf[128];
    buf[0] = 0;
    if (st->n_drafted || st->n_accepted)
        snprintf(buf, sizeof buf, " | spec: %zu/%zu drafts accepted (%.1f%%), %.2f tok/pass",
                 st->n_accepted, st->n_drafted,
                 st->n_drafted ? 100.0 * (double)st->n_accepted / (double)st->n_drafted : 0.0,
                 st->n_passes ? (double)st->n_reply / (double)st->n_passes : 0.0);
    return buf;
}

static void on_prompt(void *ud, const gptc_chat_stats *st)
{
    (void)ud;
    if (st->n_dropped)
        fprintf(stderr, "gptc: the context is full: dropped the %d oldest message%s\n",
                st->n_dropped, st->n_dropped > 1 ? "s" : "");
}

static int should_stop(void *ud)
{
    (void)ud;
    return g_interrupt != 0;
}

static void turn(chat *c, const char *text)
{
    gptc_err err;
    if (gptc_chat_session_add(c->s, "user", text, &err)) {
        fprintf(stderr, "gptc: %s\n", err.msg);
        if (!c->tty) fputs("\n", stdout);
        return;
    }
    g_interrupt = 0;
    gptc_chat_callbacks cb = {
        .on_piece = on_piece, .on_prompt = on_prompt, .should_stop = should_stop, .ud = c};
    gptc_chat_stats st;
    gptc_status status = gptc_chat_session_generate(c->s, &cb, &st, &err);
    size_t n = gptc_chat_session_n_messages(c->s);
    const char *role = NULL;
    if (n) gptc_chat_session_message(c->s, n - 1, &role, NULL, NULL);
    if (status && role && !strcmp(role, "user")) {
        /* the turn did not happen: forget the message */
        gptc_chat_session_pop(c->s);
        if (status == GPTC_E_CANCELLED)
            fprintf(stderr, "gptc: interrupted\n");
        else if (status == GPTC_E_KV_FULL)
            fprintf(stderr, "gptc: %s; raise --ctx\n", err.msg);
        else
            fprintf(stderr, "gptc: %s\n", err.msg);
        if (!c->tty) fputs("\n", stdout);
        g_interrupt = 0;
        return;
    }
    set_dim(c, 0);
    fputs(c->tty ? "\n\n" : "\n", stdout);
    fflush(stdout);
    if (status) fprintf(stderr, "gptc: %s\n", err.msg);
    if (st.stop == GPTC_CHAT_STOP_CANCELLED)
        fprintf(stderr, "gptc: reply stopped: interrupted\n");
    else if (st.stop == GPTC_CHAT_STOP_CTX_FULL)
        fprintf(stderr, "gptc: reply stopped: the context is full\n");
    if (c->verbose)
        fprintf(stderr,
                "gptc: prompt %zu tokens (%zu from the cache, %zu decoded) | reply %zu tokens, "
                "%.1f tok/s%s\n",
                st.n_prompt, st.n_cached, st.n_decoded, st.n_reply,
                st.reply_ms > 0 ? st.n_reply * 1e3 / st.reply_ms : 0.0, spec_line(&st));
    g_interrupt = 0;
}

/* ---------------------------------------------------------------------------------------------
 * /commands
 */
static void set_system(chat *c, const char *text)
{
    gptc_err err;
    if (gptc_chat_session_set_system(c->s, text, &err)) fprintf(stderr, "gptc: %s\n", err.msg);
}

static void new_sampler(chat *c)
{
    gptc_err err;
    if (gptc_chat_session_set_sampler(c->s, &c->sp, &err)) fprintf(stderr, "gptc: %s\n", err.msg);
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
        gptc_chat_session_set_n_predict(c->s, (int)v);
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
                cli_ctx_line(line, sizeof line, c->model, gptc_chat_session_ctx(c->s), 1, c->type_k,
                             c->type_v, c->ctx_asked),
                gptc_chat_session_n_cached(c->s));
        const gptc_chat_stops *stops = gptc_chat_session_stops(c->s);
        fprintf(o, "  template %s\n  stops", c->tmpl_desc);
        for (int i = 0; i < stops->n_strs; i++)
            fprintf(o, " %s", stops->strs[i]);
        fprintf(o, " (%d token%s)\n", stops->n_ids, stops->n_ids == 1 ? "" : "s");
    }
    if (all || !strcmp(what, "parameters"))
        fprintf(o,
                "Parameters\n  temperature %g\n  top_k %d\n  top_p %g\n  min_p %g\n"
                "  repeat_penalty %g\n  seed %llu\n  num_predict %lld\n",
                c->sp.temp, c->sp.top_k, c->sp.top_p, c->sp.min_p, c->sp.repeat_penalty,
                (unsigned long long)c->sp.seed, c->num_predict);
    if (all || !strcmp(what, "system")) {
        const char *role = NULL, *sys = NULL;
        if (gptc_chat_session_message(c->s, 0, &role, &sys, NULL) || strcmp(role, "system"))
            sys = NULL;
        fprintf(o, "System\n  %s\n", sys ? sys : "(none)");
    }
    if (!strcmp(what, "template")) {
        size_t n_tmpl;
        const char *tmpl = gptc_chat_session_template(c->s, &n_tmpl, NULL);
        fwrite(tmpl, 1, n_tmpl, o);
        fputc('\n', o);
    } else if (all) {
        fprintf(o, "(/show template prints the template)\n");
    } else if (strcmp(what, "info") && strcmp(what, "parameters") && strcmp(what, "system")) {
        fprintf(stderr, "gptc: /show %s: unknown (info, parameters, system, template)\n", what);
    }
}

static void save(chat *c, const char *path)
{
    json_t *doc =
        json_pack("{sO}", "messages", GPTC_UNCONST(json_t *, gptc_chat_session_messages(c->s)));
    if (!doc || json_dump_file(doc, path, JSON_INDENT(2)))
        fprintf(stderr, "gptc: /save: cannot write %s\n", path);
    else
        fprintf(c->info, "Saved the conversation (%zu messages) to %s\n",
                gptc_chat_session_n_messages(c->s), path);
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
        gptc_err err;
        if (gptc_chat_session_set_messages(c->s, m, &err))
            fprintf(stderr, "gptc: /load: %s\n", err.msg);
        else
            fprintf(c->info, "Loaded %zu messages from %s\n", gptc_chat_session_n_messages(c->s),
                    path);
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
        gptc_chat_session_clear(c->s);
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
    gptc_model_params mp = gptc_model_default_params();
    cli_lora lora = {0};
    gptc_chat_params chp = gptc_chat_session_default_params();
    cli_spec spec;
    cli_spec_init(&spec);
    gptc_ctx_params cp = gptc_ctx_default_params();
    c.sp = gptc_sampler_default_params();
    c.num_predict = -1;
    const char *tmpl_arg = NULL, *system = NULL;
    int seed_set = 0;
    const char *date = getenv("GPTC_DATE");
    if (date && !*date) date = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_spec_opt(argc, argv, &i, &spec))
            ;
        else if (cli_is(a, "--chat-template", "--template"))
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
            date = cli_value(argc, argv, &i);
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--no-repack", NULL))
            mp.no_repack = 1;
        else if (cli_is(a, "--lora", NULL))
            cli_lora_add(&lora, cli_value(argc, argv, &i));
        else if (cli_is(a, "--reasoning-budget", NULL))
            chp.reasoning_budget = (int)cli_int(a, cli_value(argc, argv, &i), -1, 1 << 24);
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

    /* the template: a built-in's name, a file's text, or (NULL) the model's */
    char *tmpl_file = NULL;
    if (tmpl_arg && gptc_chat_builtin(tmpl_arg)) {
        snprintf(c.tmpl_desc, sizeof c.tmpl_desc, "%s (built-in)", tmpl_arg);
        chp.chat_template = tmpl_arg;
    } else if (tmpl_arg) {
        if (access(tmpl_arg, F_OK) != 0)
            cli_die("chat: --chat-template '%s' is neither a built-in template (chatml, llama2, "
                    "llama3, mistral, gemma, phi3, zephyr) nor a file",
                    tmpl_arg);
        size_t n_src;
        tmpl_file = cli_read_file(tmpl_arg, &n_src);
        if (strlen(tmpl_file) != n_src)
            cli_die("chat: --chat-template '%s' holds a NUL byte", tmpl_arg);
        snprintf(c.tmpl_desc, sizeof c.tmpl_desc, "%.280s", tmpl_arg);
        chp.chat_template = tmpl_file;
    }
    chp.system = system;
    chp.date = date;
    chp.sampler = c.sp;
    chp.n_predict = (int)c.num_predict;
    chp.ctx = cp;
    cli_spec_setup(&spec, "chat", c.model, &cp);
    chp.spec = spec.mode;
    chp.spec_n = spec.n_max;
    chp.spec_ngram = spec.ngram;
    chp.drafter = spec.drafter;
    if (gptc_chat_session_create(c.model, &chp, &c.s, &err)) cli_die("chat: %s", err.msg);
    free(tmpl_file);
    c.type_k = cp.type_k;
    c.type_v = cp.type_v;
    {
        char line[256];
        fprintf(c.info, "%s\n",
                cli_ctx_line(line, sizeof line, c.model, gptc_chat_session_ctx(c.s), 1, c.type_k,
                             c.type_v, c.ctx_asked));
    }
    if (!tmpl_arg) {
        int fallback;
        gptc_chat_session_template(c.s, NULL, &fallback);
        snprintf(c.tmpl_desc, sizeof c.tmpl_desc, "%s",
                 fallback ? "chatml (built-in; the model has none)"
                          : "the model's tokenizer.chat_template");
        if (fallback)
            fprintf(stderr,
                    "gptc: warning: %s has no chat template; using ChatML (--chat-template "
                    "NAME|FILE chooses one)\n",
                    c.model_path);
    }

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

    gptc_chat_session_free(c.s);
    cli_spec_free(&spec); /* after the session, which borrows its drafter */
    gptc_model_free(c.model);
    return 0;
}
