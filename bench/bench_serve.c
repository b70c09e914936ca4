/*
 * bench_serve.c — load generator for `gptc serve` (src/server) on loopback: C concurrent
 * streaming clients (1, 4, 16 by default) each send completions one after another; reported are
 * the aggregate generated tokens/s and p50/p99 time to first token, and whether any request
 * failed. Bounded: R requests per client and a time limit per level.
 *
 * The server runs in this process (port 0, loopback only) on a 110M-parameter random-weight
 * llama (bench_model.h's stories110M, F32: decoding one sequence is memory-bound, so batching
 * should pay off), or on --model PATH. Before timing, a greedy completion through the server is
 * checked against the same continuation decoded directly with the library.
 *
 *   bench_serve [--model PATH] [--clients 1,4,16] [--requests R] [--tokens N] [--prompt P]
 *               [--parallel S] [--threads T] [--time SECONDS]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_model.h"
#include "bench_util.h"
#include "gptc.h"
#include "server/server.h"

static int g_port, g_tokens = 64, g_prompt = 16, g_vocab;

typedef struct result {
    double ttft, total;
    int tokens, want, ok, first; /* first: a client's first request (the opening burst) */
} result;

typedef struct level {
    int clients, total;
    double deadline;
    pthread_mutex_t mu;
    int next;    /* requests handed out */
    result *res; /* (total) */
} level;

static int connect_srv(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* One streamed completion of request number k; fills *r. */
/* Tokens asked of request k: g_tokens x [0.5, 1.5), spread so that clients drift apart as
 * real ones do (with equal lengths every client would finish and return at the same step, and
 * each wave would be a burst of simultaneous prompts). */
static int tokens_of(int k)
{
    return g_tokens / 2 + (int)((k * 37u) % 64u) * g_tokens / 64;
}

static void one_request(int k, result *r, int stream)
{
    int want = stream ? tokens_of(k) : g_tokens;
    char body[4096];
    int n = snprintf(body, sizeof body, "{\"prompt\": [1");
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1);
    for (int i = 1; i < g_prompt; i++)
        n += snprintf(body + n, sizeof body - (size_t)n, ",%d",
                      3 + (int)((bench_frand(&s) + 1) * 0.5f * (g_vocab - 4)));
    n += snprintf(body + n, sizeof body - (size_t)n,
                  "], \"max_tokens\": %d, \"ignore_eos\": true, \"temperature\": %s, \"seed\": %d, "
                  "\"stream\": %s, "
                  "\"stream_options\": {\"include_usage\": true}}",
                  want, stream ? "1.0" : "0", k, stream ? "true" : "false");
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n",
                      n);
    memset(r, 0, sizeof *r);
    double t0 = bench_now();
    int fd = connect_srv();
    if (fd < 0) return;
    if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
        send(fd, body, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 120000) <= 0) break;
        if (len + 8192 + 1 > cap) buf = realloc(buf, cap *= 2);
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got <= 0) break;
        len += (size_t)got;
        buf[len] = 0;
        if (r->ttft == 0 && strstr(buf, "data: {")) r->ttft = bench_now() - t0;
    }
    r->total = bench_now() - t0;
    close(fd);
    buf[len] = 0;
    const char *u = strstr(buf, "\"completion_tokens\":");
    if (u) r->tokens = atoi(u + 20);
    r->want = want;
    r->ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 && r->tokens == want &&
            (!stream || strstr(buf, "data: [DONE]"));
    if (!stream) { /* keep the text for the check */
        const char *t = strstr(buf, "\"text\":\"");
        r->ok = r->ok && t;
    }
    free(buf);
}

static void *client_main(void *arg)
{
    level *lv = arg;
    for (int first = 1;; first = 0) {
        pthread_mutex_lock(&lv->mu);
        int k = lv->next < lv->total && bench_now() < lv->deadline ? lv->next++ : -1;
        pthread_mutex_unlock(&lv->mu);
        if (k < 0) return NULL;
        one_request(k, &lv->res[k], 1);
        lv->res[k].first = first;
    }
}

static double pct(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    int i = (int)(q * (n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Greedy continuation of a prompt, decoded directly (the reference for the check). */
static char *direct_greedy(const gptc_model *m, const char *prompt, int n_tok)
{
    gptc_err err;
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 256;
    gptc_ctx *c;
    if (gptc_ctx_init(m, &cp, &c, &err)) return NULL;
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);
    int32_t ids[256];
    size_t n = 0;
    gptc_tok_encode(tok, prompt, strlen(prompt), gptc_tok_add_bos(tok), 0, ids, 200, &n, &err);
    int32_t pos[256];
    for (int i = 0; i < 256; i++)
        pos[i] = i;
    gptc_batch b = {.n_tokens = (int)n, .token = ids, .pos = pos};
    char *out = calloc(1, 65536);
    size_t len = 0;
    gptc_detok d;
    gptc_detok_init(&d);
    for (int g = 0; g < n_tok; g++) {
        if (gptc_decode(c, &b, &err)) break;
        const float *lg = gptc_get_logits(c, b.n_tokens - 1);
        int32_t best = 0;
        for (int v = 1; v < g_vocab; v++)
            if (lg[v] > lg[best]) best = v;
        size_t k;
        gptc_detok_push(tok, &d, best, out + len, 65536 - len, &k, &err);
        len += k;
        ids[n] = best;
        b = (gptc_batch){.n_tokens = 1, .token = &ids[n], .pos = &pos[n]};
        n++;
    }
    len += gptc_detok_flush(&d, out + len, 65536 - len);
    gptc_ctx_free(c);
    return out;
}

static int check_greedy(const gptc_model *m)
{
    const char *prompt = "Once upon a time";
    char *want = direct_greedy(m, prompt, 8);
    char body[256];
    int n = snprintf(
        body, sizeof body,
        "{\"prompt\": \"%s\", \"max_tokens\": 8, \"temperature\": 0, \"ignore_eos\": true}",
        prompt);
    char req[512];
    int rn = snprintf(req, sizeof req,
                      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      n, body);
    int fd = connect_srv();
    send(fd, req, (size_t)rn, MSG_NOSIGNAL);
    char *buf = calloc(1, 1 << 20);
    size_t len = 0;
    ssize_t got;
    while (len < (1 << 20) - 1 && (got = recv(fd, buf + len, (1 << 20) - 1 - len, 0)) > 0)
        len += (size_t)got;
    close(fd);
    /* the JSON text of want, as the server would write it (plain ASCII in practice) */
    int ok = 0;
    if (want) {
        const char *t = strstr(buf, "\"text\":\"");
        ok = t && strncmp(t + 8, want, strlen(want)) == 0 && t[8 + strlen(want)] == '"';
        if (!ok && !strpbrk(want, "\"\\\n\t"))
            printf("check: server %.80s\n       direct %s\n", t ? t + 8 : buf, want);
        else if (!ok)
            ok = t != NULL; /* text that JSON escapes: compared by the tests, not here */
    }
    free(want);
    free(buf);
    return ok;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL;
    int clients[8] = {1, 4, 16}, n_levels = 3, per_client = 3, parallel = 16, threads = 0;
    double time_limit = 120;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model_path = argv[++i];
        else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
            per_client = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            g_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc)
            g_prompt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--parallel") && i + 1 < argc)
            parallel = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--time") && i + 1 < argc)
            time_limit = atof(argv[++i]);
        else if (!strcmp(argv[i], "--clients") && i + 1 < argc) {
            n_levels = 0;
            for (char *s = argv[++i]; *s && n_levels < 8;) {
                clients[n_levels++] = (int)strtol(s, &s, 10);
                if (*s == ',') s++;
            }
        } else {
            fprintf(
                stderr,
                "usage: bench_serve [--model PATH] [--clients 1,4,16] [--requests R] [--tokens N] "
                "[--prompt P] [--parallel S] [--threads T] [--time S]\n");
            return 1;
        }
    }
    if (per_client < 1 || g_tokens < 1 || g_prompt < 1 || g_prompt > 400 || parallel < 1 ||
        parallel > 64)
        return 1;
    signal(SIGPIPE, SIG_IGN);

    char dir[] = "/tmp/gptc_bench_serve_XXXXXX", made[512] = "";
    if (!model_path) {
        if (!mkdtemp(dir)) return 1;
        snprintf(made, sizeof made, "%s/stories110M.gguf", dir);
        printf("writing a random-weight stories110M (F32) to %s\n", made);
        if (!bench_make_model(&k_bench_shapes[1], made)) return 1;
        model_path = made;
    }
    gptc_err err;
    gptc_model *m;
    if (gptc_model_load(model_path, NULL, &m, &err)) {
        fprintf(stderr, "bench_serve: %s\n", err.msg);
        return 1;
    }
    const gptc_hparams *hp = gptc_model_hparams(m);
    g_vocab = hp->n_vocab;
    gptc_server_params sp = gptc_server_default_params();
    sp.port = 0;
    sp.n_parallel = parallel;
    sp.n_ctx_seq = g_prompt + g_tokens + 32;
    sp.n_ctx = sp.n_ctx_seq * parallel;
    sp.n_threads = threads;
    sp.queue_max = 256;
    sp.max_connections = 512;
    gptc_server *srv;
    if (gptc_server_start(m, &sp, &srv, &err)) {
        fprintf(stderr, "bench_serve: %s\n", err.msg);
        return 1;
    }
    g_port = gptc_server_port(srv);
    printf("model %s: %d layers, dim %d, vocab %d, %.0f MB of weights; server: %d slots, port %d\n",
           hp->arch, hp->n_layer, hp->n_embd, hp->n_vocab, gptc_model_weight_bytes(m) / 1e6,
           parallel, g_port);
    int checked = check_greedy(m);
    printf("check: greedy completion through the server == direct decode: %s\n",
           checked ? "yes" : "NO");
    if (!checked) return 1;

    printf("\n%8s %9s %7s %10s %8s %11s %11s %11s %11s\n", "clients", "requests", "failed",
           "gen tok/s", "x 1-cl", "TTFT p50", "TTFT p99", "later p50", "later p99");
    double base = 0;
    int any_failed = 0;
    for (int li = 0; li < n_levels; li++) {
        level lv = {.clients = clients[li], .total = clients[li] * per_client};
        pthread_mutex_init(&lv.mu, NULL);
        lv.res = calloc((size_t)lv.total, sizeof *lv.res);
        pthread_t *th = calloc((size_t)lv.clients, sizeof *th);
        double t0 = bench_now();
        lv.deadline = t0 + time_limit;
        for (int c = 0; c < lv.clients; c++)
            pthread_create(&th[c], NULL, client_main, &lv);
        for (int c = 0; c < lv.clients; c++)
            pthread_join(th[c], NULL);
        double wall = bench_now() - t0;
        int done = lv.next, failed = 0;
        long tokens = 0;
        double *ttft = calloc((size_t)done + 1, sizeof *ttft),
               *later = calloc((size_t)done + 1, sizeof *later);
        int nt = 0, nl = 0;
        for (int k = 0; k < done; k++) {
            if (!lv.res[k].ok) failed++;
            tokens += lv.res[k].tokens;
            if (lv.res[k].ttft > 0) ttft[nt++] = lv.res[k].ttft;
            if (lv.res[k].ttft > 0 && !lv.res[k].first) later[nl++] = lv.res[k].ttft;
        }
        double tps = tokens / wall;
        if (li == 0) base = tps;
        printf("%8d %9d %7d %10.1f %7.2fx %8.1f ms %8.1f ms %8.1f ms %8.1f ms\n", lv.clients, done,
               failed, tps, base > 0 ? tps / base : 0, nt ? pct(ttft, nt, 0.5) * 1e3 : 0,
               nt ? pct(ttft, nt, 0.99) * 1e3 : 0, nl ? pct(later, nl, 0.5) * 1e3 : 0,
               nl ? pct(later, nl, 0.99) * 1e3 : 0);
        free(later);
        fflush(stdout);
        any_failed |= failed > 0;
        free(ttft);
        free(th);
        free(lv.res);
        pthread_mutex_destroy(&lv.mu);
    }
    printf(
        "\n(prompt %d tokens; %d..%d generated per request, mean %d; streamed. TTFT: from sending\n"
        "a request to its first token's event. 'later': each client's requests after its first,\n"
        "i.e. without the opening burst of simultaneous prompts)\n",
        g_prompt, tokens_of(0), g_tokens / 2 + 63 * g_tokens / 64, g_tokens);
    gptc_server_free(srv);
    gptc_model_free(m);
    if (made[0]) {
        unlink(made);
        rmdir(dir);
    }
    return any_failed;
}
