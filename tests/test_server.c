/*
 * test_server.c — the server in-process (src/server) on a loopback port, driven by raw sockets:
 * bad input of every kind (malformed, truncated, deeply nested JSON, wrong types, invalid UTF-8,
 * huge bodies, slow heads and bodies, clients that stop reading or leave mid-generation, more
 * requests than the queue holds), each answered with the right status and the server still
 * serving; batching, prefix reuse, cancellation and graceful shutdown.
 *
 * Uses ../shared/data/gguf/stories260K.gguf. No timing assertions: every wait is bounded and
 * only decides how long to look, never whether a test passes.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"
#include "http_client.h"
#include "test.h"

static int g_port;

static void quiet_log(void *user, const char *line)
{
    (void)user;
    if (getenv("GPTC_TEST_VERBOSE")) fprintf(stderr, "server: %s\n", line);
}

static int connect_srv(void)
{
    return connect_port(g_port);
}

/* One request with Connection: close; the whole response. */
static char *http(const char *method, const char *path, const char *headers, const char *body,
                  size_t body_len)
{
    int fd = connect_srv();
    if (fd < 0) return strdup("");
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, headers ? headers : "", body ? body_len : 0);
    send_all(fd, head, (size_t)n);
    if (body) send_all(fd, body, body_len);
    char *r = read_all(fd, 60, NULL);
    close(fd);
    return r;
}

#define AUTH "Authorization: Bearer sk-unit\r\nContent-Type: application/json\r\n"

static char *post(const char *path, const char *json)
{
    return http("POST", path, AUTH, json, strlen(json));
}

static int status_of(const char *resp)
{
    int st = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &st) != 1) return 0;
    return st;
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* The parsed JSON body (Content-Length bodies only); NULL if not JSON. */
static json_t *json_of(const char *resp)
{
    return json_loads(body_of(resp), JSON_DISABLE_EOF_CHECK, NULL);
}

static const char *err_param(json_t *j)
{
    json_t *p = json_object_get(json_object_get(j, "error"), "param");
    return json_is_string(p) ? json_string_value(p) : "";
}

static const char *err_code(json_t *j)
{
    json_t *p = json_object_get(json_object_get(j, "error"), "code");
    return json_is_string(p) ? json_string_value(p) : "";
}

/* Expect status and, for errors, a well-formed OpenAI error object with param (may be NULL). */
static void expect_error(const char *what, const char *resp, int status, const char *param)
{
    int st = status_of(resp);
    CHECK(st == status, "%s: status %d, want %d (%.200s)", what, st, status, resp);
    json_t *j = json_of(resp);
    json_t *e = json_object_get(j, "error");
    CHECK(json_is_string(json_object_get(e, "message")) &&
              json_is_string(json_object_get(e, "type")) &&
              json_is_string(json_object_get(e, "code")) && json_object_get(e, "param"),
          "%s: an OpenAI error object (%.200s)", what, body_of(resp));
    if (param)
        CHECK(strcmp(err_param(j), param) == 0, "%s: param '%s', want '%s'", what, err_param(j),
              param);
    json_decref(j);
}

static double metric(const char *name)
{
    char *r = http("GET", "/metrics", AUTH, NULL, 0);
    const char *p = strstr(r, name);
    double v = -1;
    while (p) { /* the sample line, not the # HELP line */
        if (p[strlen(name)] == ' ' && (p == r || p[-1] == '\n')) {
            v = atof(p + strlen(name) + 1);
            break;
        }
        p = strstr(p + 1, name);
    }
    free(r);
    return v;
}

/* Wait (bounded) until no slot is busy and nothing is queued. */
static int wait_idle(double timeout_s)
{
    double end = now_s() + timeout_s;
    while (now_s() < end) {
        if (metric("gptc_slots_busy") == 0 && metric("gptc_queue_depth") == 0) return 1;
        usleep(20 * 1000);
    }
    return 0;
}

/* ----- tests ------------------------------------------------------------------------------------
 */

/* Start a server for model with p's settings plus the ones every server here shares (a free
 * port, the key sk-unit, one thread, a quiet log; written into *p) and point g_port at it.
 * NULL after a failed check naming what when it cannot start. */
static gptc_server *start_server(const gptc_model *model, gptc_server_params *p, const char *what)
{
    p->port = 0;
    p->api_key = "sk-unit";
    p->n_threads = 1;
    p->log = quiet_log;
    gptc_server *srv;
    gptc_err err;
    if (gptc_server_start(model, p, &srv, &err)) {
        CHECK(0, "start %s: %s", what, err.msg);
        return NULL;
    }
    g_port = gptc_server_port(srv);
    return srv;
}

static void test_basics(void)
{
    char *r = http("GET", "/health", NULL, NULL, 0);
    CHECK(status_of(r) == 200, "health without a key");
    free(r);
    r = http("GET", "/v1/models", NULL, NULL, 0);
    expect_error("no key", r, 401, NULL);
    CHECK(strstr(r, "WWW-Authenticate: Bearer") != NULL, "401 says Bearer");
    free(r);
    r = http("GET", "/v1/models", "Authorization: Bearer sk-unix\r\n", NULL, 0);
    expect_error("wrong key", r, 401, NULL);
    free(r);
    r = http("GET", "/v1/models", "Authorization: Bearer sk-unit-and-more\r\n", NULL, 0);
    expect_error("longer key", r, 401, NULL);
    free(r);
    r = http("GET", "/v1/models", AUTH, NULL, 0);
    CHECK(status_of(r) == 200 && strstr(r, "\"id\":\"unit\""), "models list");
    free(r);
    r = http("GET", "/v1/models/other", AUTH, NULL, 0);
    expect_error("unknown model", r, 404, "model");
    free(r);
    r = http("GET", "/v1/nothing", AUTH, NULL, 0);
    expect_error("unknown path", r, 404, NULL);
    free(r);
    r = http("GET", "/v1/chat/completions", AUTH, NULL, 0);
    expect_error("GET on a POST endpoint", r, 405, NULL);
    CHECK(strstr(r, "Allow: POST") != NULL, "405 says Allow: POST");
    free(r);
    r = http("DELETE", "/v1/models", AUTH, NULL, 0);
    expect_error("DELETE", r, 405, NULL);
    free(r);
}

typedef struct bad_case {
    const char *path, *body;
    int status;
    const char *param;
} bad_case;

static void test_bad_json(void)
{
    static const bad_case cases[] = {
        {"/v1/chat/completions", "", 400, NULL},
        {"/v1/chat/completions", "{", 400, NULL},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}", 400,
         NULL},
        {"/v1/chat/completions", "[1, 2]", 400, NULL},
        {"/v1/chat/completions", "\"text\"", 400, NULL},
        {"/v1/chat/completions",
         "{\"messages\": [{\"role\": \"user\", \"content\": \"a\\u0000b\"}]}", 400, NULL},
        {"/v1/chat/completions", "{}", 400, "messages"},
        {"/v1/chat/completions", "{\"messages\": []}", 400, "messages"},
        {"/v1/chat/completions", "{\"messages\": \"hi\"}", 400, "messages"},
        {"/v1/chat/completions", "{\"messages\": [1]}", 400, "messages[0]"},
        {"/v1/chat/completions", "{\"messages\": [{\"content\": \"hi\"}]}", 400,
         "messages[0].role"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\"}]}", 400,
         "messages[0].content"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400,
         "messages[0].content"},
        {"/v1/chat/completions",
         "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", 400,
         "messages[0].content[0]"},
#define M "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]"
        {"/v1/chat/completions", "{" M ", \"temperature\": \"hot\"}", 400, "temperature"},
        {"/v1/chat/completions", "{" M ", \"temperature\": 3}", 400, "temperature"},
        {"/v1/chat/completions", "{" M ", \"top_p\": -0.1}", 400, "top_p"},
        {"/v1/chat/completions", "{" M ", \"max_tokens\": 1.5}", 400, "max_tokens"},
        {"/v1/chat/completions", "{" M ", \"max_tokens\": 0}", 400, "max_tokens"},
        {"/v1/chat/completions", "{" M ", \"max_completion_tokens\": \"9\"}", 400,
         "max_completion_tokens"},
        {"/v1/chat/completions", "{" M ", \"max_tokens\": 100000}", 400, "max_tokens"},
        {"/v1/chat/completions", "{" M ", \"n\": 0}", 400, "n"},
        {"/v1/chat/completions", "{" M ", \"n\": 1000}", 400, "n"},
        {"/v1/chat/completions", "{" M ", \"stop\": 5}", 400, "stop"},
        {"/v1/chat/completions", "{" M ", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", 400,
         "stop"},
        {"/v1/chat/completions", "{" M ", \"stop\": [\"a\", 1]}", 400, "stop"},
        {"/v1/chat/completions", "{" M ", \"seed\": \"x\"}", 400, "seed"},
        {"/v1/chat/completions", "{" M ", \"presence_penalty\": 9}", 400, "presence_penalty"},
        {"/v1/chat/completions", "{" M ", \"frequency_penalty\": [1]}", 400, "frequency_penalty"},
        {"/v1/chat/completions", "{" M ", \"logit_bias\": {\"x\": 1}}", 400, "logit_bias"},
        {"/v1/chat/completions", "{" M ", \"logit_bias\": {\"99999\": 1}}", 400, "logit_bias"},
        {"/v1/chat/completions", "{" M ", \"logit_bias\": {\"5\": 101}}", 400, "logit_bias"},
        {"/v1/chat/completions", "{" M ", \"logit_bias\": [1]}", 400, "logit_bias"},
        {"/v1/chat/completions", "{" M ", \"logprobs\": 1}", 400, "logprobs"},
        {"/v1/chat/completions", "{" M ", \"top_logprobs\": 3}", 400, "top_logprobs"},
        {"/v1/chat/completions", "{" M ", \"logprobs\": true, \"top_logprobs\": 21}", 400,
         "top_logprobs"},
        {"/v1/chat/completions", "{" M ", \"stream\": \"yes\"}", 400, "stream"},
        {"/v1/chat/completions", "{" M ", \"stream_options\": 1}", 400, "stream_options"},
        {"/v1/chat/completions", "{" M ", \"stream_options\": {\"include_usage\": 1}}", 400,
         "stream_options.include_usage"},
        {"/v1/chat/completions", "{" M ", \"model\": 7}", 400, "model"},
        {"/v1/chat/completions", "{" M ", \"top_k\": -1}", 400, "top_k"},
        {"/v1/chat/completions", "{" M ", \"min_p\": 2}", 400, "min_p"},
        {"/v1/chat/completions", "{" M ", \"repeat_penalty\": 0}", 400, "repeat_penalty"},
        {"/v1/completions", "{}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": 5}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": []}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": [1, -2]}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": [1, 100000]}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": [1, \"a\"]}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": [\"a\", \"b\"]}", 400, "prompt"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"logprobs\": 6}", 400, "logprobs"},
        {"/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": -1}", 400, "max_tokens"},
        {"/v1/embeddings", "{}", 400, "input"},
        {"/v1/embeddings", "{\"input\": 5}", 400, "input"},
        {"/v1/embeddings", "{\"input\": [[1, 2], \"x\", 3]}", 400, "input"},
        {"/v1/embeddings", "{\"input\": \"hi\", \"encoding_format\": \"hex\"}", 400,
         "encoding_format"},
        {"/v1/embeddings", "{\"input\": \"hi\", \"dimensions\": 100000}", 400, "dimensions"},
    };
#undef M
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "case %zu %s %.60s", i, cases[i].path, cases[i].body);
        char *r = post(cases[i].path, cases[i].body);
        expect_error(what, r, cases[i].status, cases[i].param);
        free(r);
    }

    /* invalid UTF-8 inside a string, and as a bare byte */
    const char bad_utf8[] =
        "{\"messages\": [{\"role\": \"user\", \"content\": \"a\xC3\x28 \xFF\"}]}";
    char *r = post("/v1/chat/completions", bad_utf8);
    expect_error("invalid UTF-8", r, 400, NULL);
    json_t *ju = json_of(r);
    CHECK(strcmp(err_code(ju), "invalid_json") == 0, "invalid UTF-8 is invalid JSON");
    json_decref(ju);
    free(r);
    /* an embeddings string longer than a sequence's context (found by fuzz_request: the error
     * path read the input after freeing it) */
    {
        size_t len = 0;
        char *big = malloc(40000);
        len += (size_t)sprintf(big, "{\"input\": [\"hi\", \"");
        for (int i = 0; i < 6000; i++)
            len += (size_t)sprintf(big + len, " %c", 'a' + i % 26);
        len += (size_t)sprintf(big + len, "\"]}");
        r = http("POST", "/v1/embeddings", AUTH, big, len);
        expect_error("embeddings input over the context", r, 400, "input");
        json_t *jc = json_of(r);
        CHECK(strcmp(err_code(jc), "context_length_exceeded") == 0, "context_length_exceeded");
        json_decref(jc);
        free(r);
        free(big);
    }
    /* deeply nested JSON: jansson's depth limit, no stack overflow */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 64);
    size_t n = (size_t)sprintf(deep, "{\"messages\": ");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = 0;
    r = http("POST", "/v1/chat/completions", AUTH, deep, n);
    expect_error("deeply nested JSON", r, 400, NULL);
    free(r);
    free(deep);
    /* truncated body: Content-Length promises more than arrives, then the client half-closes */
    int fd = connect_srv();
    const char *t = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n" AUTH
                    "Content-Length: 100\r\n\r\n{\"prompt\": \"Once";
    send_all(fd, t, strlen(t));
    shutdown(fd, SHUT_WR);
    r = read_all(fd, 10, NULL);
    CHECK(status_of(r) == 0 || status_of(r) >= 400, "truncated body gets no success (%.80s)", r);
    free(r);
    close(fd);
}

static void test_limits(void)
{
    /* a Content-Length over the cap: 413 before the body is sent */
    int fd = connect_srv();
    const char *h =
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\n" AUTH "Content-Length: 50000000\r\n\r\n";
    send_all(fd, h, strlen(h));
    char *r = read_all(fd, 10, NULL);
    expect_error("huge Content-Length", r, 413, NULL);
    free(r);
    close(fd);
    /* a chunked body that grows past the cap */
    fd = connect_srv();
    h = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" AUTH
        "Transfer-Encoding: chunked\r\n\r\n";
    send_all(fd, h, strlen(h));
    char chunk[8192 + 16];
    memset(chunk, ' ', sizeof chunk);
    int hl = sprintf(chunk, "2000\r\n");
    chunk[hl] = ' ';
    memcpy(chunk + hl + 8192, "\r\n", 2);
    for (int i = 0; i < 40; i++)
        send_all(fd, chunk, (size_t)hl + 8192 + 2); /* 320 KiB > 256 KiB */
    send_all(fd, "0\r\n\r\n", 5);
    r = read_all(fd, 10, NULL);
    expect_error("chunked body over the cap", r, 413, NULL);
    free(r);
    close(fd);

    /* a head sent one byte at a time, slower than the head deadline: 408 */
    fd = connect_srv();
    const char *slow = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    double end = now_s() + 10;
    int got = 0;
    for (size_t i = 0; slow[i] && now_s() < end; i++) {
        send(fd, slow + i, 1, MSG_NOSIGNAL);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            got = 1;
            break;
        }
    }
    r = read_all(fd, 5, NULL);
    CHECK(got && status_of(r) == 408, "slow head gets 408 (%.80s)", r);
    free(r);
    close(fd);
    /* a body that stalls: 408 */
    fd = connect_srv();
    h = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n" AUTH
        "Content-Length: 40\r\n\r\n{\"prompt\":";
    send_all(fd, h, strlen(h));
    r = read_all(fd, 10, NULL);
    CHECK(status_of(r) == 408, "stalled body gets 408 (%.80s)", r);
    free(r);
    close(fd);
    /* the server still answers */
    r = post("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4}");
    CHECK(status_of(r) == 200, "serving after slow clients");
    free(r);
}

/* ----- concurrency ---------------------------------------------------------------------------- */

typedef struct req_thread {
    pthread_t th;
    const char *path;
    char body[512];
    char *resp;
} req_thread;

static void *req_main(void *arg)
{
    req_thread *t = arg;
    t->resp = post(t->path, t->body);
    return NULL;
}

static char *greedy(const char *prompt, int n)
{
    char body[256];
    snprintf(body, sizeof body, "{\"prompt\": \"%s\", \"max_tokens\": %d, \"temperature\": 0}",
             prompt, n);
    char *r = post("/v1/completions", body);
    json_t *j = json_of(r);
    json_t *text = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text");
    char *out = strdup(json_is_string(text) ? json_string_value(text) : "?");
    json_decref(j);
    free(r);
    return out;
}

static void test_batching(void)
{
    /* greedy results alone, then the same requests all at once: the batched steps give the same
     * text (each sequence sees only its own cells) and carry several tokens per step */
    static const char *prompts[4] = {"Once upon a time", "The little dog", "Lily and Ben",
                                     "One day"};
    char *alone[4];
    for (int i = 0; i < 4; i++)
        alone[i] = greedy(prompts[i], 48);
    double steps0 = metric("gptc_decode_steps_total"), tok0 = metric("gptc_generated_tokens_total");
    req_thread t[4];
    for (int i = 0; i < 4; i++) {
        t[i].path = "/v1/completions";
        snprintf(t[i].body, sizeof t[i].body,
                 "{\"prompt\": \"%s\", \"max_tokens\": 48, \"temperature\": 0}", prompts[i]);
        pthread_create(&t[i].th, NULL, req_main, &t[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i].th, NULL);
        json_t *j = json_of(t[i].resp);
        json_t *text = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text");
        CHECK(json_is_string(text) && strcmp(json_string_value(text), alone[i]) == 0,
              "batched greedy == alone for '%s': %s vs %s", prompts[i],
              json_is_string(text) ? json_string_value(text) : "?", alone[i]);
        json_decref(j);
        free(t[i].resp);
        free(alone[i]);
    }
    double steps = metric("gptc_decode_steps_total") - steps0,
           toks = metric("gptc_generated_tokens_total") - tok0;
    CHECK(toks == 4 * 48, "tokens generated %g", toks);
    CHECK(steps < toks, "steps carried several sequences: %g steps for %g tokens", steps, toks);

    /* prefix reuse: the same chat twice, the second takes its prompt from the cache */
    const char *chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a story about "
                       "a cat.\"}], \"max_tokens\": 4}";
    char *r1 = post("/v1/chat/completions", chat), *r2 = post("/v1/chat/completions", chat);
    json_t *j2 = json_of(r2);
    json_t *u = json_object_get(j2, "usage");
    int pt = (int)json_integer_value(json_object_get(u, "prompt_tokens"));
    int cached = (int)json_integer_value(
        json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"));
    CHECK(pt > 10 && cached == pt - 1, "prefix reuse: %d of %d prompt tokens cached", cached, pt);
    json_decref(j2);
    free(r1);
    free(r2);
}

/* Read a stream until the first data event, then leave; the request is cancelled. */
static void test_disconnect(void)
{
    CHECK(wait_idle(30), "idle before the disconnect tests");
    for (int stream = 1; stream >= 0; stream--) {
        double tok0 = metric("gptc_generated_tokens_total");
        int fd = connect_srv();
        char req[512], body[256];
        int bl = snprintf(
            body, sizeof body,
            "{\"prompt\": \"Once\", \"max_tokens\": 4000, \"ignore_eos\": true, \"stream\": %s}",
            stream ? "true" : "false");
        int n = snprintf(req, sizeof req,
                         "POST /v1/completions HTTP/1.1\r\nHost: x\r\n" AUTH
                         "Content-Length: %d\r\n\r\n%s",
                         bl, body);
        send_all(fd, req, (size_t)n);
        if (stream) {
            char buf[256];
            struct pollfd p = {.fd = fd, .events = POLLIN};
            CHECK(poll(&p, 1, 10000) > 0 && recv(fd, buf, sizeof buf, 0) > 0, "the stream starts");
        } else {
            usleep(20 * 1000);
        }
        close(fd);
        CHECK(wait_idle(30), "the slot is freed after the client left (stream %d)", stream);
        double gen = metric("gptc_generated_tokens_total") - tok0;
        CHECK(gen < 4000, "cancelled before the end: %g of 4000 tokens (stream %d)", gen, stream);
    }

    /* a client that stops reading a stream does not hold up others */
    int fd = connect_srv();
    int small = 2048;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const char *b = "{\"prompt\": \"Once\", \"max_tokens\": 3000, \"ignore_eos\": true, "
                    "\"stream\": true, \"logprobs\": 5}";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\n" AUTH
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(b), b);
    send_all(fd, req, (size_t)n);
    char *r = post("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 8}");
    CHECK(status_of(r) == 200, "served while another client stopped reading");
    free(r);
    close(fd);
    CHECK(wait_idle(60), "the stalled stream ends");
}

static void test_queue_full(void)
{
    /* server: 4 slots, queue of 4. 16 long requests at once: each is answered 200 or 429 (with
     * Retry-After), at least one 429 */
    enum { N = 16 };
    int fds[N];
    const char *b = "{\"prompt\": \"Once\", \"max_tokens\": 800, \"ignore_eos\": true}";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" AUTH
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(b), b);
    for (int i = 0; i < N; i++) {
        fds[i] = connect_srv();
        send_all(fds[i], req, (size_t)n);
    }
    int ok = 0, busy = 0, other = 0, retry = 1;
    for (int i = 0; i < N; i++) {
        char *r = read_all(fds[i], 120, NULL);
        int st = status_of(r);
        if (st == 200)
            ok++;
        else if (st == 429) {
            busy++;
            retry &= strstr(r, "Retry-After: ") != NULL;
            expect_error("queue full", r, 429, NULL);
        } else
            other++;
        free(r);
        close(fds[i]);
    }
    CHECK(other == 0 && ok >= 1 && busy >= 1, "16 at once: %d ok, %d 429, %d other", ok, busy,
          other);
    CHECK(retry, "429 carries Retry-After");
    char *r = post("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4}");
    CHECK(status_of(r) == 200, "serving after the flood");
    free(r);
}

static void test_stream_utf8(void)
{
    /* every event of a stream is a JSON object (valid UTF-8: jansson refuses anything else) */
    char *r = post(
        "/v1/chat/completions",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"h\xC3\xA9llo \xE2\x82\xAC\"}], "
        "\"max_tokens\": 64, \"stream\": true, \"logprobs\": true, \"top_logprobs\": 2, \"n\": 2}");
    CHECK(status_of(r) == 200, "stream status");
    const char *p = body_of(r);
    int events = 0, bad = 0, done = 0;
    while ((p = strstr(p, "data: "))) {
        p += 6;
        if (strncmp(p, "[DONE]", 6) == 0) {
            done = 1;
            break;
        }
        json_error_t je;
        json_t *j = json_loads(p, JSON_DISABLE_EOF_CHECK, &je);
        events++;
        if (!j || !json_is_array(json_object_get(j, "choices"))) bad++;
        json_decref(j);
    }
    CHECK(events > 3 && bad == 0 && done, "%d events, %d bad, done %d", events, bad, done);
    free(r);
}

static void test_logprobs_no_top(void)
{
    /* logprobs without top_logprobs (0: no top list), plain and streamed: each token has its
     * logprob and an empty top_logprobs (an index of -1 once overwrote n_top: a crash) */
    for (int stream = 0; stream < 2; stream++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
                 "\"max_tokens\": 12, \"ignore_eos\": true, \"logprobs\": true%s}",
                 stream ? ", \"stream\": true" : "");
        char *r = post("/v1/chat/completions", body);
        CHECK(status_of(r) == 200, "logprobs without top_logprobs (stream %d): %d", stream,
              status_of(r));
        const char *b = body_of(r);
        CHECK(b && strstr(b, "\"top_logprobs\":[]") && !strstr(b, "\"top_logprobs\":[{"),
              "empty top_logprobs lists (stream %d)", stream);
        if (!stream) {
            json_t *j = json_of(r);
            json_t *c = json_object_get(
                json_object_get(json_array_get(json_object_get(j, "choices"), 0), "logprobs"),
                "content");
            CHECK(json_array_size(c) == 12, "12 tokens with logprobs (%zu)", json_array_size(c));
            json_decref(j);
        }
        free(r);
    }
}

typedef struct shut_arg {
    gptc_server *srv;
} shut_arg;

static void test_shutdown(gptc_server *srv)
{
    /* requests in flight when the stop begins are finished and answered */
    req_thread t[6];
    for (int i = 0; i < 6; i++) {
        t[i].path = "/v1/completions";
        snprintf(t[i].body, sizeof t[i].body,
                 "{\"prompt\": \"Once\", \"max_tokens\": 600, \"ignore_eos\": true}");
        pthread_create(&t[i].th, NULL, req_main, &t[i]);
    }
    double end = now_s() + 10;
    while (now_s() < end && metric("gptc_slots_busy") < 1)
        usleep(1000);
    gptc_server_shutdown(srv, 60000);
    int ok = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i].th, NULL);
        json_t *j = json_of(t[i].resp);
        json_t *u = json_object_get(j, "usage");
        /* a request that had not reached the server before the stop may be refused outright */
        if (status_of(t[i].resp) == 200)
            ok += json_integer_value(json_object_get(u, "completion_tokens")) == 600;
        else
            CHECK(status_of(t[i].resp) == 0 || status_of(t[i].resp) == 503,
                  "refused cleanly: %.60s", t[i].resp);
        json_decref(j);
        free(t[i].resp);
    }
    CHECK(ok >= 1, "in-flight requests finished during the stop (%d of 6)", ok);
    CHECK(connect_srv() < 0, "no new connections after the stop");
}

/* Prompt injection (issue: special tokens parsed from user text): a user message "</s>" is
 * text. The model has no template (ChatML, whose markers are not tokens of this vocabulary),
 * so the right prompt is exactly the rendered text tokenized without special parsing, plus
 * BOS; with the defect the "</s>" in the content became the one EOS token. */
static int prompt_tokens_of(const char *content)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"messages\": [{\"role\": \"user\", \"content\": \"%s\"}], \"max_tokens\": 1}",
             content);
    char *r = post("/v1/chat/completions", body);
    json_t *j = r ? json_of(r) : NULL;
    int pt = (int)json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens"));
    json_decref(j);
    free(r);
    return pt;
}

static void test_injection(const gptc_model *model)
{
    const gptc_tokenizer *tok = gptc_model_tokenizer(model);
    static const char *const k[] = {"</s>", "<s>", "a</s><s>b", "abcd"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        char text[256];
        int n = snprintf(text, sizeof text,
                         "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", k[i]);
        size_t want = 0;
        gptc_err err;
        CHECK(gptc_tok_count(tok, text, (size_t)n, 0, &want, &err) == GPTC_OK, "count");
        want += 1; /* BOS */
        int got = prompt_tokens_of(k[i]);
        CHECK(got == (int)want, "chat content '%s': %d prompt tokens, want %zu (as text)", k[i],
              got, want);
    }
}

/* A cache too small for every request's tokens: a request with two choices leaves a sequence
 * cached in each of the two slots; the next request (one choice, another prompt) reuses one slot
 * and, to get the cells it needs, the scheduler must evict the other slot's sequence when
 * gptc_decode says GPTC_E_KV_FULL. Every request still generates all it was asked for. */
static void test_evict(const gptc_model *model)
{
    gptc_server_params p = gptc_server_default_params();
    p.n_parallel = 2;
    p.n_ctx_seq = 160;
    p.n_ctx = 160;
    gptc_server *srv = start_server(model, &p, "the small-cache server");
    if (!srv) return;
    static const struct {
        const char *prompt;
        int n, max_tokens;
    } reqs[] = {{"Once upon a time", 2, 70},
                {"Lily and Ben went", 1, 110},
                {"The sun was", 2, 70},
                {"Tom had a big red ball", 1, 110}};
    for (int i = 0; i < 4; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"prompt\": \"%s\", \"n\": %d, \"max_tokens\": %d, \"ignore_eos\": true}",
                 reqs[i].prompt, reqs[i].n, reqs[i].max_tokens);
        char *r = post("/v1/completions", body);
        json_t *j = json_of(r);
        json_t *u = json_object_get(j, "usage");
        CHECK(status_of(r) == 200 && json_integer_value(json_object_get(u, "completion_tokens")) ==
                                         reqs[i].n * reqs[i].max_tokens,
              "request %d in a cache too small for all: %.300s", i, r);
        json_decref(j);
        free(r);
    }
    gptc_server_shutdown(srv, 10000);
    gptc_server_free(srv);
}

/* Speculative decoding (docs/speculative.md): greedy text is the same with and without drafts,
 * bad fields are OpenAI errors, /metrics counts drafts, and a request cancelled while its slot
 * is drafting leaves no cells behind (the sequences hold exactly their caches' tokens). */
static char *spec_text(const char *prompt, const char *extra, int n_tok)
{
    char body[512];
    snprintf(body, sizeof body, "{\"prompt\": \"%s\", \"max_tokens\": %d, \"temperature\": 0%s}",
             prompt, n_tok, extra);
    char *r = post("/v1/completions", body);
    json_t *j = json_of(r);
    json_t *text = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text");
    char *out = strdup(json_is_string(text) ? json_string_value(text) : "?");
    if (status_of(r) != 200) CHECK(0, "spec request %s: %.300s", extra, r);
    json_decref(j);
    free(r);
    return out;
}

static void test_spec(const gptc_model *model)
{
    gptc_server_params p = gptc_server_default_params();
    p.n_parallel = 2;
    p.n_ctx_seq = 4096;
    p.n_ctx = 8192;
    /* no draft model: "draft" is refused, lookup works */
    gptc_server *srv = start_server(model, &p, "the spec server");
    if (!srv) return;
    char *r = post("/v1/completions", "{\"prompt\": \"x\", \"speculative\": \"draft\"}");
    expect_error("speculative draft without a draft model", r, 400, "speculative");
    free(r);
    gptc_server_shutdown(srv, 10000);
    gptc_server_free(srv);

    p.draft = model; /* stories260K drafts for itself */
    srv = start_server(model, &p, "the draft-model server");
    if (!srv) return;
    static const char *prompts[] = {"Once upon a time", "Lily and Ben went to the park. Lily and",
                                    "The cat sat on the mat. The cat", "Tom had a red ball",
                                    "A B C A B C A B"};
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
        char *a = spec_text(prompts[i], "", 80);
        char *b = spec_text(prompts[i], ", \"speculative\": \"lookup\"", 80);
        char *c = spec_text(prompts[i], ", \"speculative\": \"draft\", \"speculative_n\": 5", 80);
        char *d = spec_text(prompts[i],
                            ", \"speculative\": \"lookup\", \"speculative_ngram\": 1, "
                            "\"speculative_n\": 2",
                            80);
        CHECK(!strcmp(a, b) && !strcmp(a, c) && !strcmp(a, d),
              "prompt %zu: greedy text with drafts differs:\n%s\n%s\n%s\n%s", i, a, b, c, d);
        free(a);
        free(b);
        free(c);
        free(d);
    }
    CHECK(metric("gptc_spec_draft_tokens_total") > 0 &&
              metric("gptc_spec_accepted_tokens_total") > 0,
          "metrics count drafts: %g accepted of %g", metric("gptc_spec_accepted_tokens_total"),
          metric("gptc_spec_draft_tokens_total"));
    CHECK(metric("gptc_spec_tokens_per_step") > 1.0, "tokens per drafting step %g",
          metric("gptc_spec_tokens_per_step"));
    /* n = 2 at temperature 1: both choices run their drafts and finish */
    r = post("/v1/completions", "{\"prompt\": \"Once\", \"n\": 2, \"max_tokens\": 50, "
                                "\"ignore_eos\": true, \"seed\": 5, \"speculative\": \"draft\"}");
    json_t *j = json_of(r);
    CHECK(status_of(r) == 200 && json_integer_value(json_object_get(json_object_get(j, "usage"),
                                                                    "completion_tokens")) == 100,
          "n = 2 with drafts: %.300s", r);
    json_decref(j);
    free(r);

    /* bad fields */
    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{\"prompt\": \"x\", \"speculative\": \"bogus\"}", "speculative"},
        {"{\"prompt\": \"x\", \"speculative\": 1}", "speculative"},
        {"{\"prompt\": \"x\", \"speculative_n\": 0}", "speculative_n"},
        {"{\"prompt\": \"x\", \"speculative_n\": 65}", "speculative_n"},
        {"{\"prompt\": \"x\", \"speculative_ngram\": 17}", "speculative_ngram"},
        {"{\"prompt\": \"x\", \"speculative_ngram\": \"3\"}", "speculative_ngram"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/v1/completions", bad[i].body);
        expect_error(bad[i].body, r, 400, bad[i].param);
        free(r);
    }

    /* cancel while drafting: every cell the slot keeps is a token of its cache */
    CHECK(wait_idle(30), "idle before the cancel test");
    double d0 = metric("gptc_spec_draft_tokens_total");
    int fd = connect_srv();
    const char *body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4000, \"ignore_eos\": "
                       "true, \"stream\": true, \"speculative\": \"draft\"}";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\n" AUTH
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    send_all(fd, req, (size_t)n);
    char buf[4096];
    size_t got = 0;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    while (got < 3000 && poll(&pf, 1, 10000) > 0) { /* a few events in: drafting is under way */
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    CHECK(wait_idle(30), "the slot is freed after the client left mid-draft");
    double held = metric("gptc_kv_cells_held"), cached = metric("gptc_slot_tokens_cached");
    CHECK(metric("gptc_spec_draft_tokens_total") > d0, "the cancelled request drafted");
    CHECK(held > 0 && held == cached, "after the cancel the sequences hold %g cells for %g tokens",
          held, cached);
    gptc_server_shutdown(srv, 10000);
    gptc_server_free(srv);

    /* a model with recurrent state cannot serve drafts: refused at start */
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/arch/rand-lfm2-d64-F32.gguf", test_data_dir());
    gptc_model *rec;
    gptc_err err;
    if (gptc_model_load(path, NULL, &rec, &err) == GPTC_OK) {
        gptc_server_params q = p;
        q.draft = NULL;
        q.spec = 1;
        gptc_server *s2 = NULL;
        CHECK(gptc_server_start(rec, &q, &s2, &err) == GPTC_E_UNSUPPORTED &&
                  strstr(err.msg, "recurrent"),
              "recurrent model with --spec: %s", err.msg);
        gptc_server_free(s2);
        gptc_model_free(rec);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/stories260K.gguf", test_data_dir());
    gptc_err err;
    gptc_model *model;
    if (gptc_model_load(path, NULL, &model, &err)) {
        printf("cannot load %s: %s\n", path, err.msg);
        CHECK(0, "model");
        return test_summary();
    }
    gptc_server_params p = gptc_server_default_params();
    p.n_parallel = 4;
    p.n_ctx_seq = 4096;
    p.n_ctx = 4096 * 2;
    p.alias = "unit";
    p.queue_max = 4;
    p.body_max = 256 * 1024;
    p.header_timeout_ms = 600;
    p.body_timeout_ms = 600;
    p.idle_timeout_s = 5;
    gptc_server *srv = start_server(model, &p, "the server");
    if (!srv) return test_summary();
    CHECK(g_port > 0, "port");

    test_basics();
    test_injection(model);
    test_bad_json();
    test_limits();
    test_batching();
    test_stream_utf8();
    test_logprobs_no_top();
    test_disconnect();
    test_queue_full();
    test_shutdown(srv);
    gptc_server_free(srv);
    test_evict(model);
    test_spec(model);
    gptc_model_free(model);
    return test_summary();
}
