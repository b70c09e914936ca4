/* cli.c — argument parsing helpers and error exits shared by the subcommands. */
#include "cli/cli.h"
#include "chat/chat.h"

#include "format/gguf.h"
#include "model/model.h"
#include "train/lora.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void cli_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gptc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void cli_die_err(const gptc_err *err)
{
    cli_die("%s", err->msg[0] ? err->msg : gptc_status_name(err->status));
}

const char *cli_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) cli_die("option %s needs a value", argv[*i]);
    return argv[++*i];
}

long long cli_int(const char *opt, const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) cli_die("option %s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi) cli_die("option %s: %lld is out of range [%lld, %lld]", opt, v, lo, hi);
    return v;
}

int cli_cache_type(const char *opt, const char *s)
{
    int t = gptc_cache_type(s);
    if (t < 0) cli_die("option %s: '%s' is not a KV cache type (f32, f16, q8_0)", opt, s);
    return t;
}

static const char *cache_name(int t)
{
    return t == 0 ? "f32" : t == 1 ? "f16" : t == 8 ? "q8_0" : "?";
}

const char *cli_ctx_line(char *buf, size_t n, const gptc_model *m, const gptc_ctx *ctx, int n_seq,
                         int tk, int tv, int asked)
{
    const gptc_hparams *hp = gptc_model_hparams(m);
    int n_ctx = gptc_ctx_n_ctx(ctx);
    int per_seq = n_seq > 1 ? n_ctx / n_seq : n_ctx;
    double mib = (double)gptc_ctx_kv_bytes(ctx) / (1024.0 * 1024.0);
    int off = snprintf(buf, n, "context %d tokens", per_seq);
    if (n_seq > 1 && off >= 0 && (size_t)off < n)
        off += snprintf(buf + off, n - (size_t)off, " x %d sequences", n_seq);
    if (off >= 0 && (size_t)off < n) {
        if (asked)
            off += snprintf(buf + off, n - (size_t)off, " (--ctx; trained %d)", hp->n_ctx_train);
        else if (per_seq < hp->n_ctx_train)
            off += snprintf(buf + off, n - (size_t)off,
                            " (trained %d, capped by the %.0f MiB KV budget; --ctx to change)",
                            hp->n_ctx_train, (double)gptc_kv_budget_default() / (1024.0 * 1024.0));
        else
            off += snprintf(buf + off, n - (size_t)off, " (the trained context)");
    }
    if (off >= 0 && (size_t)off < n)
        snprintf(buf + off, n - (size_t)off, ", KV cache %.1f MiB (%s K, %s V)", mib,
                 cache_name(tk), cache_name(tv));
    return buf;
}

double cli_float(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v != v) cli_die("option %s: '%s' is not a number", opt, s);
    if (v < lo || v > hi) cli_die("option %s: %g is out of range [%g, %g]", opt, v, lo, hi);
    return v;
}

int cli_is(const char *arg, const char *a, const char *b)
{
    return strcmp(arg, a) == 0 || (b && strcmp(arg, b) == 0);
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

char *cli_read_file(const char *path, size_t *n)
{
    if (strcmp(path, "-") == 0) { /* standard input: no size known, grow */
        size_t cap = 1 << 16, len = 0, got;
        char *buf = malloc(cap);
        if (!buf) cli_die("out of memory");
        while ((got = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
            len += got;
            if (len + 1 == cap) {
                char *nb = realloc(buf, cap *= 2);
                if (!nb) cli_die("out of memory reading standard input");
                buf = nb;
            }
        }
        if (ferror(stdin)) cli_die("standard input: read error");
        buf[len] = '\0';
        *n = len;
        return buf;
    }
    struct stat st;
    if (stat(path, &st) != 0) cli_die("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) cli_die("%s is not a regular file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) cli_die("%s: %s", path, strerror(errno));
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) cli_die("out of memory reading %s", path);
    size_t got;
    while ((got = fread(buf + len, 1, cap - 1 - len, fp)) > 0) {
        len += got;
        if (len == cap - 1) break;
    }
    if (ferror(fp)) cli_die("%s: read error", path);
    fclose(fp);
    buf[len] = '\0';
    *n = len;
    return buf;
}

void cli_lora_add(cli_lora *l, const char *v)
{
    if (l->n >= CLI_MAX_LORA) cli_die("at most %d --lora adapters", CLI_MAX_LORA);
    const char *colon = strrchr(v, ':');
    char *end = NULL;
    float scale = 1.0f;
    size_t n = strlen(v);
    if (colon && colon[1]) {
        double d = strtod(colon + 1, &end);
        if (end && !*end) { /* FILE:SCALE */
            if (!(d >= -1e6 && d <= 1e6)) cli_die("--lora %s: the scale is out of range", v);
            scale = (float)d;
            n = (size_t)(colon - v);
        }
    }
    /* the paths live as long as the process: no allocation to free (or to leak) */
    static char paths[CLI_MAX_LORA][4096];
    static int used;
    if (used >= CLI_MAX_LORA) cli_die("at most %d --lora adapters", CLI_MAX_LORA);
    if (n >= sizeof paths[0]) cli_die("--lora %.64s...: the path is too long", v);
    memcpy(paths[used], v, n);
    paths[used][n] = 0;
    l->path[l->n] = paths[used++];
    l->scale[l->n] = scale;
    l->n++;
}

gguf_file *cli_lora_merge(const char *model_path, const cli_lora *l)
{
    gptc_err err;
    gguf_file *base, *ad[CLI_MAX_LORA] = {0};
    if (gptc_gguf_open(model_path, &base, &err))
        cli_die("%s: %s (--lora needs a GGUF model)", model_path, err.msg);
    for (int i = 0; i < l->n; i++)
        if (gptc_gguf_open(l->path[i], &ad[i], &err)) cli_die("--lora %s: %s", l->path[i], err.msg);
    gguf_file *g;
    if (gptc_lora_merge(base, ad, l->scale, l->n, &g, &err)) cli_die("--lora: %s", err.msg);
    for (int i = 0; i < l->n; i++)
        gptc_gguf_close(ad[i]);
    return g;
}

gptc_model *cli_load_model(const char *path, const gptc_model_params *mp, const cli_lora *l)
{
    gptc_err err;
    gptc_model *m;
    if (!l || !l->n) {
        if (gptc_model_load(path, mp, &m, &err)) cli_die_err(&err);
        return m;
    }
    gguf_file *g = cli_lora_merge(path, l);
    if (gptc_model_from_gguf(g, &m, &err)) cli_die("%s with --lora: %s", path, err.msg);
    if (!(mp && mp->no_repack) && gptc_model_repack(m, &err)) cli_die("%s: %s", path, err.msg);
    return m;
}

void cli_need_generator(const char *cmd, const char *path, const gptc_model *m)
{
    if (gptc_model_pooling(m))
        cli_die("%s: '%s' is an embedding model (%s): it has no text output; use gptc embed", cmd,
                path, gptc_model_hparams(m)->arch);
}

int cli_sampler_opt(int argc, char **argv, int *i, gptc_sampler_params *sp, int *seed_set)
{
    const char *a = argv[*i];
    if (cli_is(a, "--temp", NULL))
        sp->temp = (float)cli_float(a, cli_value(argc, argv, i), 0, 100);
    else if (cli_is(a, "--top-k", NULL))
        sp->top_k = (int)cli_int(a, cli_value(argc, argv, i), 0, 1 << 30);
    else if (cli_is(a, "--top-p", NULL))
        sp->top_p = (float)cli_float(a, cli_value(argc, argv, i), 0, 1);
    else if (cli_is(a, "--min-p", NULL))
        sp->min_p = (float)cli_float(a, cli_value(argc, argv, i), 0, 1);
    else if (cli_is(a, "--repeat-penalty", NULL))
        sp->repeat_penalty = (float)cli_float(a, cli_value(argc, argv, i), 0.01, 100);
    else if (cli_is(a, "--repeat-last-n", NULL))
        sp->repeat_last_n = (int)cli_int(a, cli_value(argc, argv, i), 0, 1 << 20);
    else if (cli_is(a, "--presence-penalty", NULL))
        sp->presence_penalty = (float)cli_float(a, cli_value(argc, argv, i), -2, 2);
    else if (cli_is(a, "--frequency-penalty", NULL))
        sp->frequency_penalty = (float)cli_float(a, cli_value(argc, argv, i), -2, 2);
    else if (cli_is(a, "-s", "--seed")) {
        sp->seed = (uint64_t)cli_int(a, cli_value(argc, argv, i), 0, INT64_MAX);
        *seed_set = 1;
    } else
        return 0;
    return 1;
}

int cli_engine_opt(int argc, char **argv, int *i, cli_engine *e, gptc_server_params *sp,
                   gptc_model_params *mp)
{
    const char *a = argv[*i];
    if (cli_is(a, "--parallel", "-np"))
        sp->n_parallel = (int)cli_int(a, cli_value(argc, argv, i), 1, 64);
    else if (cli_is(a, "-c", "--ctx"))
        sp->n_ctx = (int)cli_int(a, cli_value(argc, argv, i), 1, 1 << 24);
    else if (cli_is(a, "--cache-type-k", NULL)) {
        sp->cache_type_k = cli_value(argc, argv, i);
        cli_cache_type(a, sp->cache_type_k);
    } else if (cli_is(a, "--cache-type-v", NULL)) {
        sp->cache_type_v = cli_value(argc, argv, i);
        cli_cache_type(a, sp->cache_type_v);
    } else if (cli_is(a, "--swa-full", NULL)) {
        sp->swa_full = 1;
    } else if (cli_is(a, "--ctx-seq", NULL))
        sp->n_ctx_seq = (int)cli_int(a, cli_value(argc, argv, i), 1, 1 << 24);
    else if (cli_is(a, "-b", "--batch"))
        sp->n_batch = (int)cli_int(a, cli_value(argc, argv, i), 1, 1 << 16);
    else if (cli_is(a, "-t", "--threads"))
        sp->n_threads = (int)cli_int(a, cli_value(argc, argv, i), 1, 1024);
    else if (cli_is(a, "--chat-template", NULL))
        e->tmpl_arg = cli_value(argc, argv, i);
    else if (cli_is(a, "--seed", NULL))
        sp->seed = (int)cli_int(a, cli_value(argc, argv, i), 0, 2147483647);
    else if (cli_is(a, "--tokenizer", NULL))
        mp->tokenizer_path = cli_value(argc, argv, i);
    else if (cli_is(a, "--no-repack", NULL))
        mp->no_repack = 1;
    else if (cli_is(a, "--lora", NULL))
        cli_lora_add(&e->lora, cli_value(argc, argv, i));
    else
        return 0;
    return 1;
}

void cli_engine_finish(cli_engine *e, gptc_server_params *sp)
{
    if (!e->tmpl_arg) return;
    const char *builtin = gptc_chat_builtin(e->tmpl_arg);
    if (builtin) {
        sp->chat_template = builtin;
        sp->chat_template_len = strlen(builtin);
    } else {
        size_t n;
        e->tmpl_file = cli_read_file(e->tmpl_arg, &n);
        sp->chat_template = e->tmpl_file;
        sp->chat_template_len = n;
    }
}

void cli_engine_free(cli_engine *e)
{
    free(e->tmpl_file);
    e->tmpl_file = NULL;
}
