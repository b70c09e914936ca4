/*
 * cmd_serve.c — `gptc serve MODEL`: the OpenAI-compatible HTTP server (src/server/).
 *
 * Signals: SIGTERM and SIGINT start a graceful stop (no new connections, new requests get 503,
 * running ones finish and are answered), then the process exits 0. A second signal stops at once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/cli.h"
#include "server/server.h"
#include "chat/chat.h"

static const char *k_help =
    "usage: gptc serve MODEL [options]\n"
    "\n"
    "Serve the model over the OpenAI HTTP API: POST /v1/chat/completions, /v1/completions,\n"
    "/v1/embeddings; GET /v1/models, /v1/models/ID, /health, /metrics. The official OpenAI\n"
    "SDKs work unchanged (base URL http://HOST:PORT/v1). A chat page for the browser is at /.\n"
    "\n"
    "  --host ADDR           address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)\n"
    "  --port N              port (default 8080; 0: any free port, printed on stderr)\n"
    "      --api-key KEY     require 'Authorization: Bearer KEY' (default: env GPTC_API_KEY)\n"
    "      --alias NAME      the model's id in the API (default: the file name)\n"
    "      --queue N         requests that may wait for a slot; more get 429 (default 64)\n"
    "      --max-body BYTES  largest request body; larger gets 413 (default 1048576)\n"
    "      --timeout S       close connections idle this long (default 60)\n"
    "      --header-timeout MS, --body-timeout MS   deadlines for the whole request head and\n"
    "                        body; late gets 408 (default 10000, 30000)\n"
    "      --max-conns N     open connections at most; when full the oldest idle one is\n"
    "                        closed for a new one, else the new one gets 503 (default 256)\n"
    "      --max-conns-per-client N   connections from one address (default 64; 0: no limit;\n"
    "                        raise it behind a reverse proxy)\n"
    "      --write-timeout MS  drop a client that takes no byte of its response this long,\n"
    "                        cancelling its request (default 30000)\n"
    "      --max-n N         largest n per request (default 8, at most --parallel)\n"
    "      --reasoning-budget N  tokens a reply may think (<think>...) before \"</think>\" is\n"
    "                        forced; 0: no thinking (enable_thinking false); -1: unlimited\n"
    "                        (default)\n"
    "      --data-dir DIR    durable state: uploaded files, batches, stored responses (default\n"
    "                        $XDG_DATA_HOME/gptc or ~/.local/share/gptc; created with mode 0700)\n"
    "      --max-file-size BYTES   largest file upload; larger gets 413 (default 209715200)\n"
    "      --no-ui           no chat page at / (the API only)\n"
    "      --ui-dir DIR      serve the chat page's files from DIR instead of the built-in copy\n"
    "      --train-ui URL    link the chat page to a training dashboard (gptc train "
    "--ui)\n"
    "  -q, --quiet           no request log on stderr\n" CLI_ENGINE_HELP("4", "from the clock")
        CLI_SPEC_HELP "                          (serve: the default of requests, which may set\n"
                      "                          \"speculative\", \"speculative_n\" and\n"
                      "                          \"speculative_ngram\"; docs/speculative.md)\n";

static int g_quiet;

static void log_line(void *user, const char *line)
{
    (void)user;
    if (g_quiet && strncmp(line, "warning", 7) != 0) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld gptc serve: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, line);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int cmd_serve(int argc, char **argv)
{
    const char *model_path = NULL, *alias = NULL;
    gptc_model_params mp = gptc_model_default_params();
    cli_engine eng = {0};
    gptc_server_params sp = gptc_server_default_params();
    cli_spec spec;
    cli_spec_init(&spec);
    sp.api_key = getenv("GPTC_API_KEY");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_engine_opt(argc, argv, &i, &eng, &sp, &mp))
            ;
        else if (cli_is(a, "--host", NULL))
            sp.host = cli_value(argc, argv, &i);
        else if (cli_is(a, "--port", NULL))
            sp.port = (int)cli_int(a, cli_value(argc, argv, &i), 0, 65535);
        else if (cli_is(a, "--api-key", NULL))
            sp.api_key = cli_value(argc, argv, &i);
        else if (cli_is(a, "--alias", NULL))
            alias = cli_value(argc, argv, &i);
        else if (cli_is(a, "--queue", NULL))
            sp.queue_max = (int)cli_int(a, cli_value(argc, argv, &i), 0, 1 << 20);
        else if (cli_is(a, "--max-body", NULL))
            sp.body_max = (size_t)cli_int(a, cli_value(argc, argv, &i), 1024, 1LL << 32);
        else if (cli_is(a, "--timeout", NULL))
            sp.idle_timeout_s = (int)cli_int(a, cli_value(argc, argv, &i), 1, 86400);
        else if (cli_is(a, "--header-timeout", NULL))
            sp.header_timeout_ms = (int)cli_int(a, cli_value(argc, argv, &i), 1, 86400000);
        else if (cli_is(a, "--body-timeout", NULL))
            sp.body_timeout_ms = (int)cli_int(a, cli_value(argc, argv, &i), 1, 86400000);
        else if (cli_is(a, "--max-conns", NULL))
            sp.max_connections = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1 << 16);
        else if (cli_is(a, "--max-conns-per-client", NULL))
            sp.max_conns_per_client = (int)cli_int(a, cli_value(argc, argv, &i), 0, 1 << 16);
        else if (cli_is(a, "--write-timeout", NULL))
            sp.write_timeout_ms = (int)cli_int(a, cli_value(argc, argv, &i), 1, 86400000);
        else if (cli_is(a, "--max-n", NULL))
            sp.n_max = (int)cli_int(a, cli_value(argc, argv, &i), 1, 64);
        else if (cli_is(a, "--reasoning-budget", NULL))
            sp.reasoning_budget = (int)cli_int(a, cli_value(argc, argv, &i), -1, 1 << 24);
        else if (cli_is(a, "--data-dir", NULL))
            sp.data_dir = cli_value(argc, argv, &i);
        else if (cli_is(a, "--max-file-size", NULL))
            sp.file_max = (size_t)cli_int(a, cli_value(argc, argv, &i), 1, 1LL << 40);
        else if (cli_is(a, "--batch-window", NULL)) /* for tests: seconds instead of 24h */
            sp.batch_window_s = (long)cli_int(a, cli_value(argc, argv, &i), 1, 86400);
        else if (cli_is(a, "--no-ui", NULL))
            sp.no_ui = 1;
        else if (cli_is(a, "--ui-dir", NULL))
            sp.ui_dir = cli_value(argc, argv, &i);
        else if (cli_is(a, "--train-ui", NULL))
            sp.train_ui = cli_value(argc, argv, &i);
        else if (cli_spec_opt(argc, argv, &i, &spec))
            ;
        else if (cli_is(a, "-q", "--quiet"))
            g_quiet = 1;
        else if (a[0] == '-' && a[1])
            cli_die("serve: unknown option '%s' (see gptc serve --help)", a);
        else if (!model_path)
            model_path = a;
        else
            cli_die("serve: unexpected argument '%s'", a);
    }
    if (!model_path) cli_die("serve: no model given (usage: gptc serve MODEL)");
    sp.alias = alias ? alias : base_name(model_path);
    char data_dir[1024];
    if (!sp.data_dir) {
        const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(data_dir, sizeof data_dir, "%s/gptc", xdg);
        else if (home && *home)
            snprintf(data_dir, sizeof data_dir, "%s/.local/share/gptc", home);
        else
            cli_die("serve: no HOME to put the data directory in: give --data-dir DIR");
        sp.data_dir = data_dir;
    }
    sp.model_file_id = base_name(model_path);
    sp.log = log_line;

    cli_engine_finish(&eng, &sp);

    /* Every connection holds a socket: use all the fds the hard limit allows (the soft limit
     * is often 1024, which a few hundred clients and the model's files can exhaust). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* Signals are taken by sigwait in this thread only: block them before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    gptc_err err;
    double t0 = cli_now_ms();
    gptc_model *model;
    model = cli_load_model(model_path, &mp, &eng.lora);
    gptc_model *draft = NULL;
    if (spec.mode == 0 && spec.draft_path) spec.mode = CLI_SPEC_DRAFT;
    if (spec.mode < 0 && spec.draft_path)
        cli_die("serve: --draft with --spec none: give --spec draft (or lookup, which requests "
                "may change)");
    if (spec.mode == CLI_SPEC_DRAFT && !spec.draft_path)
        cli_die("serve: --spec draft needs a draft model (--draft MODEL)");
    if (spec.draft_path) {
        gptc_model_params dmp = gptc_model_default_params();
        draft = cli_load_model(spec.draft_path, &dmp, NULL);
        if (gptc_spec_check_vocab(model, draft, &err))
            cli_die("serve: --draft %s: %s", spec.draft_path, err.msg);
    }
    sp.spec = spec.mode > 0 ? spec.mode : 0;
    sp.spec_n = spec.n_max;
    sp.spec_ngram = spec.ngram;
    sp.draft = draft;
    gptc_server *srv;
    if (gptc_server_start(model, &sp, &srv, &err)) cli_die_err(&err);
    cli_engine_free(&eng);
    const gptc_hparams *hp = gptc_model_hparams(model);
    fprintf(stderr, "gptc serve: %s (%s, %d layers, dim %d) as '%s' loaded in %.0f ms\n",
            model_path, hp->arch, hp->n_layer, hp->n_embd, sp.alias, cli_now_ms() - t0);
    fprintf(stderr, "gptc serve: listening on http://%s%s%s:%d (%d slots%s)\n",
            strchr(sp.host, ':') ? "[" : "", sp.host, strchr(sp.host, ':') ? "]" : "",
            gptc_server_port(srv), sp.n_parallel,
            sp.api_key && *sp.api_key ? ", API key required" : "");
    if (!sp.no_ui)
        fprintf(stderr, "gptc serve: chat page at http://%s%s%s:%d/%s\n",
                strchr(sp.host, ':') ? "[" : "", sp.host, strchr(sp.host, ':') ? "]" : "",
                gptc_server_port(srv), sp.ui_dir ? " (from --ui-dir)" : "");
    fflush(stderr);

    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "gptc serve: %s: finishing the requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    /* a second signal: stop now */
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    gptc_server_shutdown(srv, 60000);
    gptc_server_free(srv);
    gptc_model_free(model);
    gptc_model_free(draft);
    fprintf(stderr, "gptc serve: stopped\n");
    return 0;
}
