/*
 * bench_batch.c — the Batch API against interactive serving (issue 12's benchmark), on loopback
 * with the server in this process and a durable data directory in /tmp:
 *
 *   1. idle TTFT: interactive streamed chat requests, one a second, on an idle server;
 *   2. clients: R chat completions sent by C concurrent clients to /v1/chat/completions
 *      (generated tokens / wall time);
 *   3. batch: the same R requests as one JSONL file through POST /v1/files + POST /v1/batches,
 *      polled until completed (generated tokens / wall time from creation to completion), while
 *      an interactive streamed chat request is sent every second (their TTFT, against step 1's).
 *
 * Goals: the batch reaches >= 95% of the clients' throughput; the interactive TTFT p50/p99 during
 * the batch stays <= 1.5x of the idle server's. Requests use a one-line chat template (the
 * content after BOS) so that the prompt is a few tokens on the random-weight model; every
 * request generates a fixed count (ignore_eos), spread over [T/2, 3T/2) so they drift apart.
 *
 *   bench_batch [--model PATH] [--requests R] [--tokens T] [--clients C] [--parallel S]
 *               [--threads N] [--probes P]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_model.h"
#include "bench_util.h"
#include "gptc.h"
#include "server/server.h"

static int g_port, g_tokens = 8;

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

/* One HTTP/1.1 request (Connection: close). Returns the status code (0: no answer); *out gets
 * the whole response (head and body, NUL-terminated, free it). With ttft, the time from sending
 * to the first streamed token (the first chunk carrying logprobs) is stored there. */
static int http(const char *method, const char *path, const char *ctype, const char *body,
                size_t blen, char **out, double *ttft)
{
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                      method, path, ctype ? ctype : "application/json", blen);
    *out = NULL;
    double t0 = bench_now();
    int fd = connect_srv();
    if (fd < 0) return 0;
    if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn) {
        close(fd);
        return 0;
    }
    for (size_t off = 0; off < blen;) {
        ssize_t w = send(fd, body + off, blen - off, MSG_NOSIGNAL);
        if (w <= 0) {
            close(fd);
            return 0;
        }
        off += (size_t)w;
    }
    size_t cap = 1 << 16, len = 0, scan = 0;
    char *buf = malloc(cap);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 600000) <= 0) break;
        if (len + 65536 + 1 > cap) buf = realloc(buf, cap *= 2);
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got <= 0) break;
        len += (size_t)got;
        buf[len] = 0;
        if (ttft && *ttft == 0) {
            if (strstr(buf + scan, "\"logprobs\":{")) *ttft = bench_now() - t0;
            scan = len > 16 ? len - 16 : 0;
        }
    }
    close(fd);
    buf[len] = 0;
    *out = buf;
    return len > 12 && strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : resp;
}

/* Sum of every "completion_tokens": N in s; *count gets how many there were. */
static long sum_completion_tokens(const char *s, int *count)
{
    long t = 0;
    int n = 0;
    for (const char *p = s; (p = strstr(p, "\"completion_tokens\":")); p += 20, n++)
        t += atol(p + 20);
    if (count) *count = n;
    return t;
}

static int tokens_of(int k)
{
    return g_tokens / 2 + (int)((k * 37u) % 64u) * g_tokens / 64;
}

/* The body of request k (the same in both modes). */
static int request_body(int k, int stream, int want, char *out, size_t cap)
{
    char content[8];
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1);
    for (int i = 0; i < 4; i++)
        content[i] = (char)('a' + (int)((bench_frand(&s) + 1) * 0.5f * 25.99f));
    content[4] = 0;
    return snprintf(out, cap,
                    "{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],"
                    "\"max_tokens\":%d,\"ignore_eos\":true,\"temperature\":1.0,\"seed\":%d%s}",
                    content, want, k,
                    stream ? ",\"stream\":true,\"logprobs\":true,"
                             "\"stream_options\":{\"include_usage\":true}"
                           : "");
}

/* ----- interactive probes: one streamed request a second ------------------------------------- */

typedef struct probes {
    atomic_int stop;
    int n, cap, failed;
    double *ttft;
    long tokens;
} probes;

static void probe_once(probes *p, int k)
{
    char body[512];
    int n = request_body(1000000 + k, 1, g_tokens, body, sizeof body);
    char *resp;
    double ttft = 0;
    int st = http("POST", "/v1/chat/completions", NULL, body, (size_t)n, &resp, &ttft);
    if (st == 200 && ttft > 0 && p->n < p->cap) {
        p->ttft[p->n++] = ttft;
        p->tokens += sum_completion_tokens(body_of(resp), NULL);
    } else {
        p->failed++;
    }
    free(resp);
}

static void *probe_main(void *arg)
{
    probes *p = arg;
    double next = bench_now();
    for (int k = 0; !atomic_load(&p->stop); k++) {
        probe_once(p, k);
        next += 1.0;
        while (!atomic_load(&p->stop) && bench_now() < next)
            usleep(10000);
    }
    return NULL;
}

static double pct(double *v, int n, double q)
{
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    int i = (int)(q * (n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ----- concurrent clients -------------------------------------------------------------------- */

typedef struct clients {
    pthread_mutex_t mu;
    int next, total, failed;
    long tokens;
} clients;

static void *client_main(void *arg)
{
    clients *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int k = c->next < c->total ? c->next++ : -1;
        pthread_mutex_unlock(&c->mu);
        if (k < 0) return NULL;
        char body[512];
        int n = request_body(k, 0, tokens_of(k), body, sizeof body);
        char *resp;
        int st = http("POST", "/v1/chat/completions", NULL, body, (size_t)n, &resp, NULL);
        long t = st == 200 ? sum_completion_tokens(body_of(resp), NULL) : 0;
        pthread_mutex_lock(&c->mu);
        c->tokens += t;
        c->failed += st != 200 || t != tokens_of(k);
        pthread_mutex_unlock(&c->mu);
        free(resp);
    }
}

/* The value of "key":"..." in s (first occurrence) into out; 1 if found. */
static int jstr(const char *s, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(s, pat);
    if (!p) return 0;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    if (!q || (size_t)(q - p) >= cap) return 0;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = 0;
    return 1;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL;
    int n_req = 2000, n_clients = 16, parallel = 16, threads = 0, n_probes = 15;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model_path = argv[++i];
        else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
            n_req = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            g_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clients") && i + 1 < argc)
            n_clients = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--parallel") && i + 1 < argc)
            parallel = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--probes") && i + 1 < argc)
            n_probes = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_batch [--model PATH] [--requests R] [--tokens T] "
                            "[--clients C] [--parallel S] [--threads N] [--probes P]\n");
            return 1;
        }
    }
    if (n_req < 1 || n_req > 50000 || g_tokens < 2 || g_tokens > 256 || n_clients < 1 ||
        n_clients > 256 || parallel < 1 || parallel > 64 || n_probes < 1)
        return 1;
    signal(SIGPIPE, SIG_IGN);

    char dir[] = "/tmp/gptc_bench_batch_XXXXXX", made[512] = "", data[600];
    if (!mkdtemp(dir)) return 1;
    snprintf(data, sizeof data, "%s/data", dir);
    if (!model_path) {
        snprintf(made, sizeof made, "%s/stories110M.gguf", dir);
        printf("writing a random-weight stories110M (F32) to %s\n", made);
        if (!bench_make_model(&k_bench_shapes[1], made)) return 1;
        model_path = made;
    }
    gptc_err err;
    gptc_model *m;
    if (gptc_model_load(model_path, NULL, &m, &err)) {
        fprintf(stderr, "bench_batch: %s\n", err.msg);
        return 1;
    }
    static const char tmpl[] = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}"
                               "{% endfor %}";
    gptc_server_params sp = gptc_server_default_params();
    sp.port = 0;
    sp.alias = "bench";
    sp.n_parallel = parallel;
    sp.n_ctx_seq = 32 + 2 * g_tokens;
    sp.n_ctx = sp.n_ctx_seq * parallel;
    sp.n_threads = threads;
    sp.queue_max = 512;
    sp.max_connections = 512;
    sp.chat_template = tmpl;
    sp.chat_template_len = strlen(tmpl);
    sp.data_dir = data;
    gptc_server *srv;
    if (gptc_server_start(m, &sp, &srv, &err)) {
        fprintf(stderr, "bench_batch: %s\n", err.msg);
        return 1;
    }
    g_port = gptc_server_port(srv);
    const gptc_hparams *hp = gptc_model_hparams(m);
    printf("model %s: %d layers, dim %d, %.0f MB of weights; server: %d slots, port %d\n"
           "%d requests of %d..%d generated tokens (mean %d), prompts of a few tokens\n",
           hp->arch, hp->n_layer, hp->n_embd, gptc_model_weight_bytes(m) / 1e6, parallel, g_port,
           n_req, tokens_of(0), g_tokens / 2 + 63 * g_tokens / 64, g_tokens);
    int rc = 0;

    /* 1. idle TTFT */
    probes idle = {.cap = n_probes, .ttft = calloc((size_t)n_probes, sizeof(double))};
    probe_once(&idle, -1); /* warm-up, not counted */
    idle.n = 0, idle.tokens = 0;
    for (int k = 0; k < n_probes; k++) {
        double t = bench_now();
        probe_once(&idle, k);
        while (bench_now() < t + 1.0)
            usleep(10000);
    }
    double idle50 = pct(idle.ttft, idle.n, 0.5), idle99 = pct(idle.ttft, idle.n, 0.99);
    printf("idle server: %d interactive requests, TTFT p50 %.1f ms, p99 %.1f ms\n", idle.n,
           idle50 * 1e3, idle99 * 1e3);
    fflush(stdout);

    /* 2. concurrent clients */
    clients cl = {.total = n_req};
    pthread_mutex_init(&cl.mu, NULL);
    pthread_t *th = calloc((size_t)n_clients, sizeof *th);
    double t0 = bench_now();
    for (int c = 0; c < n_clients; c++)
        pthread_create(&th[c], NULL, client_main, &cl);
    for (int c = 0; c < n_clients; c++)
        pthread_join(th[c], NULL);
    double cl_wall = bench_now() - t0, cl_tps = cl.tokens / cl_wall;
    printf("%d clients: %d requests in %.1f s, %ld tokens generated, %.1f tok/s, %d failed\n",
           n_clients, n_req, cl_wall, cl.tokens, cl_tps, cl.failed);
    fflush(stdout);
    rc |= cl.failed > 0;

    /* 3. the same requests as a batch, with interactive probes */
    size_t cap = (size_t)n_req * 512 + 4096, len = 0;
    char *mp = malloc(cap);
    static const char bound[] = "gptcbenchboundary7d1c";
    len += (size_t)snprintf(mp + len, cap - len,
                            "--%s\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
                            "batch\r\n--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                            "filename=\"bench.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n",
                            bound, bound);
    for (int k = 0; k < n_req; k++) {
        char body[512];
        request_body(k, 0, tokens_of(k), body, sizeof body);
        len += (size_t)snprintf(mp + len, cap - len,
                                "{\"custom_id\":\"r%d\",\"method\":\"POST\",\"url\":"
                                "\"/v1/chat/completions\",\"body\":%s}\n",
                                k, body);
    }
    len += (size_t)snprintf(mp + len, cap - len, "\r\n--%s--\r\n", bound);
    char ctype[128], *resp, fid[128] = "", bid[128] = "", oid[128] = "", st_s[32] = "";
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", bound);
    int st = http("POST", "/v1/files", ctype, mp, len, &resp, NULL);
    free(mp);
    if (st != 200 || !jstr(body_of(resp), "id", fid, sizeof fid)) {
        fprintf(stderr, "bench_batch: upload: %d %s\n", st, resp ? resp : "");
        return 1;
    }
    free(resp);
    char create[512];
    int cn = snprintf(create, sizeof create,
                      "{\"input_file_id\":\"%s\",\"endpoint\":\"/v1/chat/completions\","
                      "\"completion_window\":\"24h\"}",
                      fid);
    probes busy = {.cap = 100000, .ttft = calloc(100000, sizeof(double))};
    pthread_t pth;
    t0 = bench_now();
    st = http("POST", "/v1/batches", NULL, create, (size_t)cn, &resp, NULL);
    if (st != 200 || !jstr(body_of(resp), "id", bid, sizeof bid)) {
        fprintf(stderr, "bench_batch: create: %d %s\n", st, resp ? resp : "");
        return 1;
    }
    free(resp);
    pthread_create(&pth, NULL, probe_main, &busy);
    char path[256];
    snprintf(path, sizeof path, "/v1/batches/%s", bid);
    for (;;) {
        usleep(100000);
        st = http("GET", path, NULL, "", 0, &resp, NULL);
        int over = st == 200 && jstr(body_of(resp), "status", st_s, sizeof st_s) &&
                   (!strcmp(st_s, "completed") || !strcmp(st_s, "failed") ||
                    !strcmp(st_s, "cancelled") || !strcmp(st_s, "expired"));
        if (over) jstr(body_of(resp), "output_file_id", oid, sizeof oid);
        free(resp);
        if (over || st != 200) break;
    }
    double b_wall = bench_now() - t0;
    atomic_store(&busy.stop, 1);
    pthread_join(pth, NULL);
    snprintf(path, sizeof path, "/v1/files/%s/content", oid);
    int lines = 0;
    long b_tokens = 0;
    if (oid[0] && http("GET", path, NULL, "", 0, &resp, NULL) == 200) {
        b_tokens = sum_completion_tokens(body_of(resp), &lines);
        free(resp);
    }
    double b_tps = b_tokens / b_wall, all_tps = (b_tokens + busy.tokens) / b_wall;
    double busy50 = pct(busy.ttft, busy.n, 0.5), busy99 = pct(busy.ttft, busy.n, 0.99);
    printf("batch: %s, %d output lines in %.1f s (creation to completed), %ld tokens generated, "
           "%.1f tok/s\n",
           st_s, lines, b_wall, b_tokens, b_tps);
    printf("interactive during the batch: %d requests (%d failed), %ld tokens, TTFT p50 %.1f ms, "
           "p99 %.1f ms\n",
           busy.n, busy.failed, busy.tokens, busy50 * 1e3, busy99 * 1e3);
    printf("\n%-44s %10s %10s %8s\n", "", "measured", "goal", "met");
    printf("%-44s %9.1f%% %9s%% %8s\n", "batch tok/s / clients tok/s", 100 * b_tps / cl_tps,
           ">= 95", b_tps >= 0.95 * cl_tps ? "yes" : "no");
    printf("%-44s %9.1f%% %9s%% %8s\n", "(batch + interactive) tok/s / clients tok/s",
           100 * all_tps / cl_tps, "", "");
    printf("%-44s %9.2fx %9sx %8s\n", "interactive TTFT p50, batch running / idle", busy50 / idle50,
           "<= 1.5", busy50 <= 1.5 * idle50 ? "yes" : "no");
    printf("%-44s %9.2fx %9sx %8s\n", "interactive TTFT p99, batch running / idle", busy99 / idle99,
           "<= 1.5", busy99 <= 1.5 * idle99 ? "yes" : "no");
    rc |= strcmp(st_s, "completed") != 0 || lines != n_req || busy.failed > 0;

    gptc_server_free(srv);
    gptc_model_free(m);
    free(idle.ttft);
    free(busy.ttft);
    free(th);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_batch: could not remove %s\n", dir);
    return rc;
}
