/*
 * cmd_batch.c — `gptc batch MODEL IN.jsonl OUT.jsonl [--errors ERR.jsonl]`: a Batch API input
 * file run offline through the server's engine (continuous batching, no HTTP). Each result line
 * is appended and fsynced as its request ends, so an interrupted run (Ctrl-C, kill -9, power
 * loss) is resumed by running the same command again: finished lines are kept, nothing is
 * duplicated. A progress line (done/total, tok/s, ETA) goes to stderr.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat/chat.h"
#include "cli/cli.h"
#include "server/server.h"

static const char *k_help =
    "usage: gptc batch MODEL IN.jsonl OUT.jsonl [options]\n"
    "\n"
    "Run every request of a Batch API input file (one JSON object a line: custom_id, method\n"
    "\"POST\", url, body) through the model, offline. Successful results go to OUT.jsonl and\n"
    "failed ones to the errors file, one line each, in OpenAI's batch output shape. Rerun the\n"
    "same command after an interruption: finished requests are skipped, none is repeated.\n"
    "\n"
    "      --errors FILE     failed requests (default: OUT.jsonl with .errors.jsonl)\n"
    "      --endpoint PATH   /v1/chat/completions (default), /v1/completions, /v1/embeddings\n"
    "  -q, --quiet           no progress line\n" CLI_ENGINE_HELP("8", "0");

static int g_tty;

static void progress(void *user, const gptc_batch_progress *p)
{
    double *last = user;
    if (p->seconds - *last < 0.5 && p->done < p->total) return;
    *last = p->seconds;
    double tps = p->seconds > 0 ? p->tokens / p->seconds : 0;
    int run = p->done - p->resumed;
    double eta = run > 0 ? (p->total - p->done) * (p->seconds / run) : 0;
    int w = 30, fill = p->total ? (int)((long long)w * p->done / p->total) : w;
    char bar[64];
    for (int i = 0; i < w; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    fprintf(stderr, "%s[%s] %d/%d done (%d failed, %d from before) %.0f tok/s ETA %.0fs%s",
            g_tty ? "\r" : "", bar, p->done, p->total, p->failed, p->resumed, tps, eta,
            g_tty ? "   " : "\n");
    fflush(stderr);
}

int cmd_batch(int argc, char **argv)
{
    const char *model_path = NULL, *in = NULL, *out = NULL, *errp = NULL;
    cli_engine eng = {0};
    const char *endpoint = "/v1/chat/completions";
    int quiet = 0;
    gptc_model_params mp = gptc_model_default_params();
    gptc_server_params sp = gptc_server_default_params();
    sp.n_parallel = 8;
    sp.seed = 0;
    sp.no_http = 1;
    sp.queue_max = 1 << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_engine_opt(argc, argv, &i, &eng, &sp, &mp))
            ;
        else if (cli_is(a, "--errors", NULL))
            errp = cli_value(argc, argv, &i);
        else if (cli_is(a, "--endpoint", NULL))
            endpoint = cli_value(argc, argv, &i);
        else if (cli_is(a, "-q", "--quiet"))
            quiet = 1;
        else if (a[0] == '-' && a[1])
            cli_die("batch: unknown option '%s' (see gptc batch --help)", a);
        else if (!model_path)
            model_path = a;
        else if (!in)
            in = a;
        else if (!out)
            out = a;
        else
            cli_die("batch: unexpected argument '%s'", a);
    }
    if (!model_path || !in || !out)
        cli_die("batch: usage: gptc batch MODEL IN.jsonl OUT.jsonl [--errors ERR.jsonl]");
    char errbuf[1024];
    if (!errp) {
        size_t n = strlen(out);
        if (n > 6 && strcmp(out + n - 6, ".jsonl") == 0)
            snprintf(errbuf, sizeof errbuf, "%.*s.errors.jsonl", (int)(n - 6), out);
        else
            snprintf(errbuf, sizeof errbuf, "%s.errors.jsonl", out);
        errp = errbuf;
    }
    if (strcmp(errp, out) == 0 || strcmp(in, out) == 0 || strcmp(in, errp) == 0)
        cli_die("batch: IN, OUT and the errors file must be three different files");
    cli_engine_finish(&eng, &sp);
    g_tty = isatty(2);
    gptc_err err;
    gptc_model *model = cli_load_model(model_path, &mp, &eng.lora);
    sp.alias = model_path;
    sp.any_model = 1; /* the input names the model it was written for: run it on this one */
    gptc_server *srv;
    if (gptc_server_start(model, &sp, &srv, &err)) cli_die_err(&err);
    double last = -1;
    gptc_status st = gptc_server_run_batch_file(srv, endpoint, in, out, errp,
                                                quiet ? NULL : progress, &last, &err);
    if (!quiet && g_tty) fputc('\n', stderr);
    gptc_server_free(srv);
    gptc_model_free(model);
    cli_engine_free(&eng);
    if (st) cli_die_err(&err);
    return 0;
}
