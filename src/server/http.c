/*
 * http.c — the server around libmicrohttpd: start/stop, routing, authentication, limits, the
 * connection watchdog, response helpers and request logging.
 *
 * Threading: libmicrohttpd runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION), so
 * a handler may block while its job runs and a stream's content callback may wait for tokens.
 *
 * Limits against hostile or broken clients:
 *   - body: a Content-Length over body_max is refused (413) before the body is read; a chunked
 *     body that grows past it is dropped and answered 413 at its end;
 *   - time: libmicrohttpd closes connections idle for idle_timeout_s; the watchdog below also
 *     bounds the *whole* request head (header_timeout_ms) and body (body_timeout_ms), which a
 *     client sending one byte at a time would otherwise stretch forever: it writes a 408 and
 *     closes the connection;
 *   - connections: our own accept thread (admission.c) admits at most max_connections at once, and
 * at most max_conns_per_client from one address; when full it closes the oldest idle connection
 *     (between keep-alive requests, or silent since it connected) for the new one, else it
 *     answers 503 at once rather than leaving the client in the backlog; out of fds, it backs
 *     off and logs once per 10 s;
 *   - writes: a client that takes no byte of its response for write_timeout_ms (its socket's
 *     send queue stays full) is dropped, which cancels its request;
 *   - JSON: jansson rejects invalid UTF-8 and NUL in strings and bounds nesting depth.
 * The API key is compared in constant time and never logged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/deadline.h"
#include "server/conn.h"
#include "server/srv.h"

double gptc_srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Copy src into dst (cap bytes, NUL-terminated) with every byte that could act on a terminal or
 * forge a log line written as \xNN: C0 controls, DEL, C1 controls (U+0080..U+009F), bytes that
 * are not valid UTF-8, and the backslash itself (so an escape in the input cannot pass for one
 * of ours). Request paths and model output are logged: an attacker chooses those bytes. */
void gptc_srv_log_escape(char *dst, size_t cap, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, n = strlen(src);
    if (!cap) return;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)src[i];
        size_t len = c < 0x80 ? 1 : gptc_srv_utf8_valid_len(src + i, n - i > 4 ? 4 : n - i);
        int bad = c < 0x20 || c == 0x7f || c == '\\';
        if (c >= 0x80) {
            /* the length of the first character only: a valid lead byte says how long */
            size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
            bad = !want || len < want || (c == 0xc2 && (unsigned char)src[i + 1] < 0xa0);
            len = bad ? 1 : want;
        }
        if (bad) {
            if (o + 4 >= cap) break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
            i++;
            continue;
        }
        if (o + len >= cap) break;
        memcpy(dst + o, src + i, len);
        o += len;
        i += len;
    }
    dst[o] = 0;
}

void gptc_srv_log(gptc_server *s, const char *fmt, ...)
{
    if (!s->p.log) return;
    char line[768], safe[768 * 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    gptc_srv_log_escape(safe, sizeof safe, line);
    s->p.log(s->p.log_user, safe);
}

gptc_server_params gptc_server_default_params(void)
{
    gptc_server_params p = {
        .host = "127.0.0.1",
        .port = 8080,
        .n_parallel = 4,
        .n_batch = 512,
        .queue_max = 64,
        .body_max = 1 << 20,
        .header_timeout_ms = 10000,
        .body_timeout_ms = 30000,
        .idle_timeout_s = 60,
        .max_connections = 256,
        .max_conns_per_client = 64,
        .write_timeout_ms = 30000,
        .n_max = 8,
        .reasoning_budget = -1,
        .seed = -1,
    };
    return p;
}

void gptc_srv_make_id(gptc_server *s, const char *prefix, char *out, size_t cap)
{
    uint64_t x = atomic_fetch_add(&s->next_id, 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)s->created;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    snprintf(out, cap, "%s%016llx", prefix, (unsigned long long)x);
}

/* ----- responses -------------------------------------------------------------------------------
 */

static enum MHD_Result queue(srv_req *r, int status, struct MHD_Response *resp, const char *type)
{
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(r->mhd, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result gptc_srv_reply_text(srv_req *r, int status, const char *type, const char *text,
                                    size_t n)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(n, GPTC_UNCONST(void *, text), MHD_RESPMEM_MUST_COPY);
    return queue(r, status, resp, type);
}

enum MHD_Result gptc_srv_reply_json(srv_req *r, int status, json_t *body)
{
    char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!txt) {
        static const char k_oom[] =
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
            "\"param\":null,\"code\":\"internal_error\"}}";
        return gptc_srv_reply_text(r, 500, "application/json", k_oom, sizeof k_oom - 1);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(txt);
    return queue(r, status, resp, "application/json");
}

enum MHD_Result gptc_srv_reply_error(srv_req *r, const srv_error *e)
{
    json_t *body = gptc_srv_error_json(e);
    char *txt = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!txt) return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(txt);
        return MHD_NO;
    }
    if (e->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", e->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (e->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (e->status == 405)
        MHD_add_response_header(resp, "Allow", r->endpoint <= EP_EMBEDDINGS ? "POST" : "GET");
    /* the SDKs retry some 4xx (409, and others by their own rules) unless told not to; a
     * client error stays one when sent again, except a timeout, a conflict or a rate limit */
    if (e->status >= 400 && e->status < 500 && e->status != 408 && e->status != 409 &&
        e->status != 429)
        MHD_add_response_header(resp, "x-should-retry", "false");
    if (e->status == 408 || e->status == 413 || e->status == 431 || r->close_after)
        MHD_add_response_header(resp, "Connection", "close");
    return queue(r, e->status, resp, "application/json");
}

/* ----- the client's side of the connection -----------------------------------------------------
 */

int gptc_srv_client_gone(srv_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 1;
    struct pollfd pfd = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0) return 0;
    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

int gptc_srv_wait_job(srv_req *r, srv_job *j)
{
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        gptc_cond_wait_ms(&j->cv, &j->mu, 50);
        if (j->done) break;
        pthread_mutex_unlock(&j->mu);
        if (gptc_srv_client_gone(r)) {
            gptc_srv_job_cancel(j);
            return -1;
        }
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* ----- the watchdog: whole-head and whole-body deadlines ---------------------------------------
 */

/* Answer the connection's current request ourselves, on the socket, and close it: for a
 * request whose body is still arriving (libmicrohttpd can queue a response only once the body
 * is in) or that never arrives. Nothing may have been written for the request yet. The
 * watchdog shuts the socket down if the client does not close within 2 s. Call without
 * conn_mu held. */
static void conn_abort_locked(struct srv_conn *c, int status)
{
    static const char k_408[] = "{\"error\":{\"message\":\"the request took too long to "
                                "arrive\",\"type\":\"timeout_error\","
                                "\"param\":null,\"code\":\"request_timeout\"}}";
    static const char k_413[] = "{\"error\":{\"message\":\"the request body is too large\","
                                "\"type\":\"invalid_request_error\","
                                "\"param\":null,\"code\":\"payload_too_large\"}}";
    static const char k_400[] = "{\"error\":{\"message\":\"the Content-Length header is not a "
                                "number of bytes\",\"type\":\"invalid_request_error\","
                                "\"param\":null,\"code\":\"invalid_content_length\"}}";
    const char *body = status == 408 ? k_408 : status == 400 ? k_400 : k_413;
    char buf[640];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%s"
                     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     status == 408   ? "408 Request Timeout"
                     : status == 400 ? "400 Bad Request"
                                     : "413 Content Too Large",
                     status == 408 ? "" : "x-should-retry: false\r\n", strlen(body), body);
    ssize_t w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    shutdown(c->fd, SHUT_WR);
    c->killed = 1;
    c->t_killed = gptc_srv_now();
}

static void conn_abort(gptc_server *s, struct srv_conn *c, int status)
{
    if (!c) return;
    pthread_mutex_lock(&s->conn_mu);
    if (!c->killed) conn_abort_locked(c, status);
    pthread_mutex_unlock(&s->conn_mu);
}

static void *watchdog_main(void *arg)
{
    gptc_server *s = arg;
    while (!atomic_load(&s->stop_watchdog)) {
        usleep(50 * 1000);
        double now = gptc_srv_now();
        pthread_mutex_lock(&s->conn_mu);
        for (int i = 0; i < s->n_closing; i++) { /* refused: drain what they sent, then close */
            char junk[1024];
            ssize_t n = recv(s->closing[i], junk, sizeof junk, MSG_DONTWAIT);
            if ((n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || n == 0 ||
                now - s->closing_t[i] > 2.0) {
                close(s->closing[i]);
                s->closing[i] = s->closing[--s->n_closing];
                s->closing_t[i] = s->closing_t[s->n_closing];
                i--;
            }
        }
        for (struct srv_conn *c = s->conns; c; c = c->next) {
            if (!c->killed) {
                /* a response the client does not take: its socket's send queue stays full
                 * (while we answer, or after the whole answer went to the kernel) */
                int q = 0;
                if (ioctl(c->fd, TIOCOUTQ, &q) != 0) q = 0;
                if (q == 0 || q != c->outq) {
                    c->outq = q;
                    c->t_outq = now;
                } else if (now - c->t_outq > s->p.write_timeout_ms * 1e-3) {
                    /* reset, not FIN: what is queued is dropped, the request fails and its job
                     * is cancelled */
                    struct linger lg = {.l_onoff = 1, .l_linger = 0};
                    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                    shutdown(c->fd, SHUT_RDWR);
                    c->killed = 2;
                    gptc_srv_log(s, "a client took no byte of its response for %d ms: dropped",
                                 s->p.write_timeout_ms);
                    continue;
                }
            }
            if (c->killed == 1 && now - c->t_killed > 2.0) {
                shutdown(c->fd, SHUT_RDWR); /* the client did not close after the 408 */
                c->killed = 2;
            }
            if (c->killed) continue;
            double limit = c->phase == PH_HEAD   ? s->p.header_timeout_ms * 1e-3
                           : c->phase == PH_BODY ? s->p.body_timeout_ms * 1e-3
                           : c->phase == PH_IDLE ? (double)s->p.idle_timeout_s
                                                 : -1;
            if (limit < 0 || now - c->t <= limit) continue;
            if (c->phase == PH_IDLE) {
                shutdown(c->fd, SHUT_RDWR);
                c->killed = 2;
                continue;
            }
            /* nothing has been written on this connection for the current request yet */
            conn_abort_locked(c, 408);
            gptc_srv_log(s, "connection timed out waiting for the request %s: 408",
                         c->phase == PH_HEAD ? "head" : "body");
        }
        pthread_mutex_unlock(&s->conn_mu);
    }
    return NULL;
}

/* 1 when a Content-Length header of the complete head h[0..n) is not a plain decimal number
 * below 10^18 ("abc", "-1", "1x", 2^64 + 1, empty). Duplicates are on_request's business. */
int gptc_srv_head_cl_bad(const char *h, size_t n)
{
    const char *end = h + n, *p = memchr(h, '\n', n);
    while (p && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) break;
        size_t len = (size_t)(eol - p);
        if (len && p[len - 1] == '\r') len--;
        if (len == 0) break; /* the blank line: end of the head */
        if (len > 15 && strncasecmp(p, "content-length", 14) == 0 &&
            (p[14] == ':' || p[14] == ' ' || p[14] == '\t')) {
            const char *v = p + 14, *ve = p + len;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            if (v >= ve || *v != ':') return 1; /* a space before the colon: not a header */
            v++;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (ve == v || ve - v > 18) return 1;
            for (const char *q = v; q < ve; q++)
                if (*q < '0' || *q > '9') return 1;
        }
        p = eol;
    }
    return 0;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    gptc_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct srv_conn *c = calloc(1, sizeof *c);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c || !ci) {
            free(c);
            *socket_context = NULL;
            return;
        }
        c->fd = ci->connect_fd;
        c->phase = PH_HEAD;
        c->t = gptc_srv_now();
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ai && ai->client_addr)
            memcpy(&c->addr, ai->client_addr,
                   ai->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in));
        pthread_mutex_lock(&s->conn_mu);
        s->n_conns++;
        if (c->fd == s->admitting_fd) {
            s->admitted = 1;
            pthread_cond_broadcast(&s->conn_cv);
        }
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conn_mu);
        *socket_context = c;
    } else {
        struct srv_conn *c = *socket_context;
        if (!c) return;
        pthread_mutex_lock(&s->conn_mu);
        s->n_conns--;
        if (c->killed) pthread_cond_broadcast(&s->conn_cv); /* admit() may wait for it */
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        pthread_mutex_unlock(&s->conn_mu);
        free(c);
        *socket_context = NULL;
    }
}

/* Move the connection to a phase; 0 when the watchdog already gave up on it. */
static int conn_phase(gptc_server *s, struct srv_conn *c, int phase)
{
    if (!c) return 1;
    pthread_mutex_lock(&s->conn_mu);
    int ok = !c->killed;
    if (ok) {
        c->phase = phase;
        c->t = gptc_srv_now();
    }
    pthread_mutex_unlock(&s->conn_mu);
    return ok;
}

/* Called with the raw request target before libmicrohttpd decodes it: a %00 would cut the
 * decoded path short (/v1/models/ID%00junk reads as /v1/models/ID), so note it here and refuse
 * the request in on_request. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct srv_conn *c = ci ? ci->socket_context : NULL;
    if (c) {
        size_t n = strlen(uri);
        c->path_nul = 0;
        c->got_uri = 1;
        for (size_t i = 0; i + 2 < n; i++)
            if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0') c->path_nul = 1;
    }
    return NULL;
}

/* Sizes of the request head, for the 8 KiB cap. */
static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    size_t *n = cls;
    *n += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Count Content-Length and Transfer-Encoding headers: a request with two Content-Lengths, or
 * with both, is framed differently by different parsers (request smuggling behind a proxy). */
typedef struct framing {
    int n_cl, n_te;
    const char *cl[2];
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    framing *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (f->n_cl < 2) f->cl[f->n_cl] = value;
        f->n_cl++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->n_te++;
    }
    return MHD_YES;
}

/* ----- routing ---------------------------------------------------------------------------------
 */

/* Constant-time comparison of the presented key against ours: the time depends only on our
 * key's length, never on where the first difference is. */
static int key_ok(const gptc_server *s, const char *given)
{
    size_t n = strlen(given);
    volatile unsigned char acc = (unsigned char)(n != s->api_key_len);
    for (size_t i = 0; i < s->api_key_len; i++)
        acc |= (unsigned char)(s->api_key[i] ^ (i < n ? given[i] : 0));
    return acc == 0;
}

static int authorized(gptc_server *s, struct MHD_Connection *mc)
{
    if (!s->api_key_len) return 1;
    /* Anthropic's clients send the key as x-api-key */
    const char *x = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "x-api-key");
    if (x) return key_ok(s, x);
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ')
        h++;
    return key_ok(s, h);
}

/* The endpoint of a path; *sub: what follows a collection's path ("/v1/files/ID/content" ->
 * "ID/content"), else NULL. Returns 0, 404 (no such path) or 405 (wrong method). */
static int route(const char *url, const char *method, int ui, int *endpoint, const char **sub)
{
    int post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0; /* HEAD: no body */
    *sub = NULL;
    /* clang-format off */
    static const struct { const char *path; int ep, methods; } k_routes[] = {
        /* methods: 1 GET, 2 POST, 4 DELETE; a path ending in '/' takes a suffix */
        {"/v1/chat/completions", EP_CHAT, 2},
        {"/v1/completions", EP_COMPLETIONS, 2},
        {"/v1/embeddings", EP_EMBEDDINGS, 2},
        {"/v1/models", EP_MODELS, 1},
        {"/v1/models/", EP_MODELS, 1},
        {"/health", EP_HEALTH, 1},
        {"/metrics", EP_METRICS, 1},
        {"/v1/files", EP_FILES, 1 | 2},
        {"/v1/files/", EP_FILES, 1 | 4},
        {"/v1/batches", EP_BATCHES, 1 | 2},
        {"/v1/batches/", EP_BATCHES, 1 | 2},
        {"/v1/responses", EP_RESPONSES, 2},
        {"/v1/responses/", EP_RESPONSES, 1 | 4},
        {"/v1/messages", EP_MESSAGES, 2},
        {"/v1/messages/", EP_MESSAGES, 2},
        {"/tokenize", EP_UTIL, 2},
        {"/detokenize", EP_UTIL, 2},
        {"/apply-template", EP_UTIL, 2},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof k_routes / sizeof k_routes[0]; i++) {
        const char *p = k_routes[i].path;
        size_t n = strlen(p);
        int prefix = p[n - 1] == '/';
        if (prefix ? strncmp(url, p, n) != 0 || !url[n] : strcmp(url, p) != 0) continue;
        *endpoint = k_routes[i].ep;
        if (prefix) *sub = url + n;
        int m = k_routes[i].methods;
        if (!((get && (m & 1)) || (post && (m & 2)) || (del && (m & 4)))) return 405;
        return 0;
    }
    if (ui && url[0] == '/' && strncmp(url, "/v1/", 4) != 0) {
        *endpoint = EP_UI; /* the chat page: ui.c answers (404 for what it does not have) */
        return get || strcmp(method, "HEAD") == 0 ? 0 : 405;
    }
    *endpoint = EP_OTHER;
    return 404;
}

static int needs_store(int ep)
{
    return ep == EP_FILES || ep == EP_BATCHES;
}

static enum MHD_Result dispatch(srv_req *r, const char *url)
{
    srv_error e;
    int ep;
    const char *sub;
    route(url, r->method, r->srv->ui, &ep, &sub);
    if (needs_store(ep) && !r->srv->store) {
        gptc_srv_fail(&e, 503, "no_data_dir", NULL,
                      "this server keeps no state (start it with --data-dir) for %s", url);
        return gptc_srv_reply_error(r, &e);
    }
    switch (ep) {
    case EP_UI:
        return gptc_srv_ep_ui(r, url);
    case EP_MODELS:
        return gptc_srv_ep_models(r, sub);
    case EP_HEALTH:
        return gptc_srv_ep_health(r);
    case EP_METRICS:
        return gptc_srv_ep_metrics(r);
    case EP_FILES:
        return gptc_srv_ep_files(r, sub);
    case EP_BATCHES:
        if (sub || strcmp(r->method, "GET") == 0) return gptc_srv_ep_batches(r, sub, NULL);
        break;
    case EP_RESPONSES:
        if (sub) return gptc_srv_ep_responses(r, sub, NULL);
        break;
    default:
        break;
    }
    if (r->body_over) {
        gptc_srv_fail(&e, 413, "payload_too_large", NULL, "the request body is over %zu bytes",
                      r->srv->p.body_max);
        return gptc_srv_reply_error(r, &e);
    }
    /* jansson needs a few times the body while it parses, and it does not survive running out
     * of memory half way: make sure that much is there first. Out of memory is the server's
     * trouble (503, retry), not a bad request. */
    size_t need;
    void *probe = __builtin_mul_overflow(r->body.n, (size_t)8, &need) ? NULL : malloc(need + 65536);
    if (!probe) {
        gptc_srv_fail(&e, 503, "out_of_memory", NULL, "the server is out of memory");
        e.retry_after = 1;
        return gptc_srv_reply_error(r, &e);
    }
    free(probe);
    json_error_t jerr;
    json_t *body = json_loadb(r->body.p ? r->body.p : "", r->body.n, 0, &jerr);
    if (!body && json_error_code(&jerr) == json_error_out_of_memory) {
        gptc_srv_fail(&e, 503, "out_of_memory", NULL, "the server is out of memory");
        e.retry_after = 1;
        return gptc_srv_reply_error(r, &e);
    }
    if (!body) {
        gptc_srv_fail(&e, 400, "invalid_json", NULL,
                      "the body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                      jerr.column);
        return gptc_srv_reply_error(r, &e);
    }
    if (!json_is_object(body)) {
        json_decref(body);
        gptc_srv_fail(&e, 400, "invalid_type", NULL, "the body must be a JSON object");
        return gptc_srv_reply_error(r, &e);
    }
    enum MHD_Result ret;
    switch (ep) {
    case EP_CHAT:
        ret = gptc_srv_ep_chat(r, body);
        break;
    case EP_COMPLETIONS:
        ret = gptc_srv_ep_completions(r, body);
        break;
    case EP_BATCHES:
        ret = gptc_srv_ep_batches(r, NULL, body);
        break;
    case EP_RESPONSES:
        ret = gptc_srv_ep_responses(r, NULL, body);
        break;
    case EP_MESSAGES:
        ret = gptc_srv_ep_messages(r, sub, body);
        break;
    case EP_UTIL:
        ret = gptc_srv_ep_util(r, url, body);
        break;
    default:
        ret = gptc_srv_ep_embeddings(r, body);
        break;
    }
    json_decref(body);
    return ret;
}

static size_t head_size(struct MHD_Connection *mc, const char *url)
{
    size_t n = strlen(url) + 16;
    MHD_get_connection_values(mc, MHD_HEADER_KIND, add_header_size, &n);
    return n;
}

/* 1 with *e filled (400) when the body's framing is ambiguous. */
static int framing_bad(struct MHD_Connection *mc, srv_error *e)
{
    framing f = {0};
    MHD_get_connection_values(mc, MHD_HEADER_KIND, count_framing, &f);
    if (f.n_cl > 1 && (f.n_cl > 2 || strcmp(f.cl[0], f.cl[1]) != 0)) {
        gptc_srv_fail(e, 400, "invalid_content_length", NULL,
                      "the request has several Content-Length headers that disagree");
        return 1;
    }
    if (f.n_cl > 1) {
        gptc_srv_fail(e, 400, "invalid_content_length", NULL,
                      "the request has several Content-Length headers");
        return 1;
    }
    if (f.n_cl && f.n_te) {
        gptc_srv_fail(e, 400, "invalid_content_length", NULL,
                      "the request has both Content-Length and Transfer-Encoding");
        return 1;
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    gptc_server *s = cls;
    srv_req *r = *req_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *req_cls = r;
        atomic_fetch_add(&s->in_flight, 1);
        r->srv = s;
        r->mhd = mc;
        r->t0 = gptc_srv_now();
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->conn = ci ? ci->socket_context : NULL;
        if (!conn_phase(s, r->conn, PH_BODY)) return MHD_NO;

        srv_error e;
        const char *sub;
        int rc = route(url, method, s->ui, &r->endpoint, &sub);
        int upload = rc == 0 && r->endpoint == EP_FILES && !sub && strcmp(method, "POST") == 0;
        size_t cap = upload ? s->p.file_max : s->p.body_max;
        int err = 1;
        if (atomic_load(&s->draining) && r->endpoint != EP_HEALTH) {
            gptc_srv_fail(&e, 503, "server_shutting_down", NULL, "the server is shutting down");
            e.retry_after = 5;
        } else if (r->conn && r->conn->path_nul) {
            gptc_srv_fail(&e, 400, "invalid_path", NULL,
                          "the request target contains a NUL byte (%%00)");
        } else if (head_size(mc, url) > SRV_HEAD_MAX) {
            gptc_srv_fail(&e, 431, "headers_too_large", NULL, "the request head is over %d bytes",
                          SRV_HEAD_MAX);
        } else if (framing_bad(mc, &e)) {
            r->close_after = 1;
        } else if (rc == 404) {
            gptc_srv_fail(&e, 404, "not_found", NULL, "no route for %s %s", method, url);
        } else if (rc == 405) {
            gptc_srv_fail(&e, 405, "method_not_allowed", NULL, "%s is not allowed on %s", method,
                          url);
        } else if (r->endpoint != EP_HEALTH && !(r->endpoint == EP_UI && gptc_srv_ui_public(url)) &&
                   !authorized(s, mc)) {
            gptc_srv_fail(&e, 401, "invalid_api_key", NULL,
                          "missing or incorrect API key (send Authorization: Bearer KEY)");
        } else {
            err = 0;
            const char *cl =
                MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl) {
                char *end;
                errno = 0;
                unsigned long long n = strtoull(cl, &end, 10);
                if (errno || end == cl || n > cap) {
                    gptc_srv_fail(&e, 413, upload ? "file_too_large" : "payload_too_large", NULL,
                                  "the request body is over %zu bytes", cap);
                    err = 1;
                }
            }
            if (!err && upload && s->store && gptc_srv_upload_begin(r)) return MHD_NO;
        }
        if (err) {
            r->early = 1;
            return gptc_srv_reply_error(r, &e);
        }
        return MHD_YES;
    }
    if (r->early) { /* answered already: drop the rest of the body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size && r->upload) {
        gptc_srv_upload_feed(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->body_over) {
            if (r->body.n + *upload_data_size > s->p.body_max) {
                /* answer now (and close), rather than after the last chunk */
                r->body_over = 1;
                gptc_srv_buf_free(&r->body);
                *upload_data_size = 0;
                r->early = 1;
                r->status = 413;
                conn_abort(s, r->conn, 413);
                return MHD_YES;
            } else if (gptc_srv_buf_add(&r->body, upload_data, *upload_data_size)) {
                return MHD_NO;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!conn_phase(s, r->conn, PH_BUSY)) return MHD_NO;
    return dispatch(r, url);
}

static int status_class(int status)
{
    return status >= 100 && status < 600 ? status / 100 - 1 : 5;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    gptc_server *s = cls;
    srv_req *r = *req_cls;
    if (!r) return;
    *req_cls = NULL;
    if (r->job) {
        pthread_mutex_lock(&r->job->mu);
        int done = r->job->done;
        pthread_mutex_unlock(&r->job->mu);
        if (!done) gptc_srv_job_cancel(r->job);
    }
    pthread_mutex_lock(&s->metrics.mu);
    s->metrics.req[r->endpoint][status_class(r->status)]++;
    pthread_mutex_unlock(&s->metrics.mu);
    const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK      ? ""
                      : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " (timed out)"
                      : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? " (server stopped)"
                                                                      : " (client gone)";
    if (r->job && r->job->kind == JOB_GENERATE) {
        int gen = 0;
        pthread_mutex_lock(&r->job->mu);
        for (int i = 0; i < r->job->n_choices; i++)
            gen += r->job->choices[i].n_gen;
        pthread_mutex_unlock(&r->job->mu);
        r->gen_tokens = gen;
    }
    if (r->prompt_tokens || r->gen_tokens)
        gptc_srv_log(s, "%s %s %d %.1f ms prompt %d gen %d%s", r->method, r->path, r->status,
                     (gptc_srv_now() - r->t0) * 1e3, r->prompt_tokens, r->gen_tokens, how);
    else
        gptc_srv_log(s, "%s %s %d %.1f ms%s", r->method, r->path, r->status,
                     (gptc_srv_now() - r->t0) * 1e3, how);
    gptc_srv_job_release(r->job);
    gptc_srv_upload_free(r);
    conn_phase(s, r->conn, PH_IDLE); /* keep-alive: the next request may come */
    gptc_srv_buf_free(&r->body);
    free(r);
    atomic_fetch_sub(&s->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    gptc_server *s = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    gptc_srv_log(s, "http: %s", line);
}

/* ----- start / stop ----------------------------------------------------------------------------
 */

static gptc_status fail(gptc_err *err, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gptc_status fail(gptc_err *err, gptc_status st, const char *fmt, ...)
{
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return st;
}

gptc_status gptc_srv_load_template(gptc_server *s, gptc_err *err)
{
    int fallback = 0;
    if (s->p.chat_template) {
        s->tmpl_own = malloc(s->p.chat_template_len + 1);
        if (!s->tmpl_own) return fail(err, GPTC_E_NOMEM, "server: out of memory");
        memcpy(s->tmpl_own, s->p.chat_template, s->p.chat_template_len);
        s->tmpl_own[s->p.chat_template_len] = 0;
        s->tmpl_src = s->tmpl_own;
        s->tmpl_len = s->p.chat_template_len;
    } else {
        s->tmpl_src = gptc_chat_model_template(s->model, &s->tmpl_len, &fallback);
    }
    gptc_status st = gptc_chat_template_init(s->tmpl_src, s->tmpl_len, &s->tmpl, err);
    if (st && !s->p.chat_template && !fallback) {
        /* the model's own template uses something we cannot run: serve with ChatML */
        gptc_srv_log(s, "warning: the model's chat template cannot be used (%s); using chatml",
                     err->msg);
        s->tmpl_src = gptc_chat_builtin("chatml");
        s->tmpl_len = strlen(s->tmpl_src);
        fallback = 1;
        st = gptc_chat_template_init(s->tmpl_src, s->tmpl_len, &s->tmpl, err);
    }
    if (st) return st;
    if (fallback) gptc_srv_log(s, "the model has no chat template: using chatml");
    gptc_chat_stops_for(s->model, s->tmpl_src, s->tmpl_len, &s->chat_stops);
    s->has_bos_text = gptc_chat_bos_text(s->model, s->bos_text, sizeof s->bos_text) != NULL;
    s->has_eos_text = gptc_chat_eos_text(s->model, s->eos_text, sizeof s->eos_text) != NULL;
    return GPTC_OK;
}

static int is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

gptc_status gptc_server_start(const gptc_model *model, const gptc_server_params *params,
                              gptc_server **out, gptc_err *err)
{
    *out = NULL;
    err->status = GPTC_OK;
    err->msg[0] = 0;
    gptc_server_params p = params ? *params : gptc_server_default_params();
    if (!p.host) p.host = "127.0.0.1";
    if (p.n_parallel < 1 || p.n_parallel > 64)
        return fail(err, GPTC_E_INVALID, "server: --parallel must be 1..64");
    if (p.port < 0 || p.port > 65535)
        return fail(err, GPTC_E_INVALID, "server: --port must be 0..65535");
    if (p.queue_max < 0) p.queue_max = 0;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.body_max == 0) p.body_max = 1 << 20;
    if (p.header_timeout_ms <= 0) p.header_timeout_ms = 10000;
    if (p.body_timeout_ms <= 0) p.body_timeout_ms = 30000;
    if (p.idle_timeout_s <= 0) p.idle_timeout_s = 60;
    if (p.max_connections <= 0) p.max_connections = 256;
    if (p.max_conns_per_client < 0) p.max_conns_per_client = 0;
    if (p.write_timeout_ms <= 0) p.write_timeout_ms = 30000;
    if (p.n_max <= 0) p.n_max = 8;
    if (p.file_max == 0) p.file_max = (size_t)200 << 20;

    const gptc_hparams *hp = gptc_model_hparams(model);
    if (p.n_ctx_seq <= 0 && p.n_ctx > 0) /* one sequence may use all the cells */
        p.n_ctx_seq = p.n_ctx < hp->n_ctx_train ? p.n_ctx : hp->n_ctx_train;
    if (p.n_ctx_seq <= 0) { /* the trained context, capped by the KV budget for all slots */
        int tk0 = p.cache_type_k ? gptc_cache_type(p.cache_type_k) : 1,
            tv0 = p.cache_type_v ? gptc_cache_type(p.cache_type_v) : 1;
        p.n_ctx_seq =
            gptc_ctx_auto_n_ctx(model, 0, tk0 < 0 ? 1 : tk0, tv0 < 0 ? 1 : tv0, p.n_parallel);
    }
    if (p.n_ctx <= 0) {
        long long n = (long long)p.n_ctx_seq * p.n_parallel;
        p.n_ctx = n > (1 << 20) ? (1 << 20) : (int)n;
    }
    if (p.n_ctx_seq > p.n_ctx) p.n_ctx_seq = p.n_ctx;
    if (strcmp(hp->arch, "gpt2") == 0 && p.n_ctx_seq > hp->n_ctx_train)
        p.n_ctx_seq = hp->n_ctx_train; /* learned positions: none beyond the trained context */
    if (p.n_batch < p.n_parallel) p.n_batch = p.n_parallel; /* a step carries one token per slot */
    if (p.n_threads <= 0) {
        /* leave one core to the HTTP threads: they wake at every step to stream tokens, and a
         * decode pool that has to share every core with them waits at each of its barriers
         * (measured with bench_serve on 2 cores: 1 decode thread beats 2 at 1 and 16 clients) */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = cores > 1 ? (int)(cores - 1) : 1;
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int v6 = 0;
    const char *host = strcmp(p.host, "localhost") == 0 ? "127.0.0.1" : p.host;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p.port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p.port);
        v6 = 1;
    } else {
        return fail(err, GPTC_E_INVALID, "server: --host '%s' is not an IPv4 or IPv6 address",
                    p.host);
    }

    gptc_server *s = calloc(1, sizeof *s);
    if (!s) return fail(err, GPTC_E_NOMEM, "server: out of memory");
    s->p = p;
    s->p.api_key = NULL; /* our copy below; the caller's string may go away */
    s->model = model;
    s->created = (long)time(NULL);
    snprintf(s->alias, sizeof s->alias, "%s", p.alias && *p.alias ? p.alias : "gptc");
    snprintf(s->file_id, sizeof s->file_id, "%s", p.model_file_id ? p.model_file_id : "");
    s->p.model_file_id = NULL;
    if (p.n_ctx_seq > hp->n_ctx_train)
        gptc_srv_log(
            s,
            "warning: --ctx-seq %d is beyond the model's trained context (%d): output past "
            "%d tokens may degrade",
            p.n_ctx_seq, hp->n_ctx_train, hp->n_ctx_train);
    if (p.api_key && *p.api_key) {
        if (strlen(p.api_key) >= sizeof s->api_key) {
            free(s);
            return fail(err, GPTC_E_INVALID, "server: the API key is longer than %zu bytes",
                        sizeof s->api_key - 1);
        }
        snprintf(s->api_key, sizeof s->api_key, "%s", p.api_key);
        s->api_key_len = strlen(s->api_key);
    }
    s->ui = !p.no_ui;
    s->p.ui_dir = s->p.train_ui = NULL; /* our copies below */
    if (s->ui && p.ui_dir && *p.ui_dir) {
        struct stat st;
        if (strlen(p.ui_dir) >= sizeof s->ui_dir || stat(p.ui_dir, &st) != 0 ||
            !S_ISDIR(st.st_mode)) {
            free(s);
            return fail(err, GPTC_E_INVALID, "server: --ui-dir '%s' is not a directory", p.ui_dir);
        }
        snprintf(s->ui_dir, sizeof s->ui_dir, "%s", p.ui_dir);
    }
    if (p.train_ui && *p.train_ui) {
        if (strlen(p.train_ui) >= sizeof s->train_ui ||
            (strncmp(p.train_ui, "http://", 7) != 0 && strncmp(p.train_ui, "https://", 8) != 0)) {
            free(s);
            return fail(err, GPTC_E_INVALID,
                        "server: --train-ui must be an http:// or https:// URL (at most %zu bytes)",
                        sizeof s->train_ui - 1);
        }
        snprintf(s->train_ui, sizeof s->train_ui, "%s", p.train_ui);
    }
    atomic_init(&s->draining, 0);
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->next_id, (unsigned long long)time(NULL));
    atomic_init(&s->stop_watchdog, 0);
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_cond_init(&s->conn_cv, NULL);
    pthread_mutex_init(&s->metrics.mu, NULL);
    s->admitting_fd = -1;
    s->listen_fd = s->reserve_fd = s->wake[0] = s->wake[1] = -1;

    gptc_status st = gptc_srv_load_template(s, err);
    if (st) {
        gptc_server_free(s);
        return st;
    }
    int tk = p.cache_type_k ? gptc_cache_type(p.cache_type_k) : 1,
        tv = p.cache_type_v ? gptc_cache_type(p.cache_type_v) : 1;
    if (tk < 0 || tv < 0) {
        gptc_server_free(s);
        return fail(err, GPTC_E_INVALID, "server: cache type '%s' is not f32, f16 or q8_0",
                    tk < 0 ? p.cache_type_k : p.cache_type_v);
    }
    srv_sched_params sp = {
        .type_k = tk,
        .type_v = tv,
        .swa_full = p.swa_full,
        .n_parallel = p.n_parallel,
        .n_ctx = p.n_ctx,
        .n_ctx_seq = p.n_ctx_seq,
        .n_batch = p.n_batch,
        .n_threads = p.n_threads,
        .queue_max = p.queue_max,
        .seed_base = p.seed >= 0 ? (uint64_t)p.seed : (uint64_t)time(NULL) * 2654435761ull,
        .draft = p.draft,
    };
    if (p.spec < 0 || p.spec > 2 || p.spec_n < 0 || p.spec_n > 64 || p.spec_ngram < 0 ||
        p.spec_ngram > 16) {
        gptc_server_free(s);
        return fail(err, GPTC_E_INVALID, "server: spec %d, spec_n %d or spec_ngram %d out of range",
                    p.spec, p.spec_n, p.spec_ngram);
    }
    if (p.spec == 2 && !p.draft) {
        gptc_server_free(s);
        return fail(err, GPTC_E_INVALID,
                    "server: speculative decoding with a draft model needs "
                    "one (--draft MODEL)");
    }
    if ((p.spec || p.draft) && gptc_model_recurrent(model)) {
        gptc_server_free(s);
        return fail(err, GPTC_E_UNSUPPORTED,
                    "server: speculative decoding is not supported for %s models (recurrent "
                    "state cannot drop rejected draft tokens); serve without --spec/--draft",
                    gptc_model_hparams(model)->arch);
    }
    st = gptc_srv_sched_init(&s->sched, model, &sp, &s->metrics, p.log, p.log_user, err);
    if (st) {
        gptc_server_free(s);
        return st;
    }
    {
        const char *names[9] = {[0] = "f32", [1] = "f16", [8] = "q8_0"};
        gptc_srv_log(s,
                     "context %d tokens per request (trained %d), %d cells for %d slots: KV "
                     "cache %.1f MiB (%s K, %s V)",
                     s->sched.n_ctx_seq, hp->n_ctx_train, s->sched.n_ctx, p.n_parallel,
                     (double)gptc_ctx_kv_bytes(s->sched.ctx) / (1024.0 * 1024.0), names[tk],
                     names[tv]);
    }
    if (p.data_dir) {
        st = gptc_store_open(p.data_dir, &s->store, err);
        if (!st) st = gptc_srv_batches_start(s, err);
        if (st) {
            gptc_server_free(s);
            return st;
        }
    }
    if (p.no_http) {
        *out = s;
        return GPTC_OK;
    }
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0) s->watchdog_started = 1;

    /* Our own listening socket: SO_REUSEADDR, so a restarted server binds its port while
     * connections of the previous one are in TIME_WAIT; connections reach libmicrohttpd
     * through gptc_srv_accept_main, which enforces the limits. */
    int lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&ss, v6 ? sizeof *a6 : sizeof *a4) != 0 ||
        listen(lfd, 128) != 0) {
        int e = errno;
        if (lfd >= 0) close(lfd);
        gptc_server_free(s);
        return fail(err, GPTC_E_IO, "server: cannot listen on %s port %d: %s", p.host, p.port,
                    strerror(e));
    }
    s->listen_fd = lfd;
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(lfd, (struct sockaddr *)&bound, &bl) == 0)
        s->port = ntohs(v6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                           : ((struct sockaddr_in *)&bound)->sin_port);
    else
        s->port = p.port;

    /* libmicrohttpd's own limit is out of the way: ours is enforced in admit(), and
     * libmicrohttpd 0.9.75 leaves a mutex locked when MHD_add_connection meets its limit
     * (every connection thread then hangs) */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET |
                     (v6 ? MHD_USE_IPv6 : 0);
    s->mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                         s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)p.idle_timeout_s,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)1 << 20,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
                         on_connection, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_END);
    if (!s->mhd) {
        int e = errno;
        gptc_server_free(s);
        return fail(err, GPTC_E_IO, "server: cannot start the HTTP server: %s",
                    e ? strerror(e) : "libmicrohttpd refused to start");
    }
    s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (pipe2(s->wake, O_CLOEXEC) != 0 ||
        pthread_create(&s->acceptor, NULL, gptc_srv_accept_main, s) != 0) {
        gptc_server_free(s);
        return fail(err, GPTC_E_IO, "server: cannot start the accept thread");
    }
    s->acceptor_started = 1;
    if (!s->api_key_len && !is_loopback(p.host))
        gptc_srv_log(
            s,
            "warning: listening on %s without an API key: anyone who can reach this address "
            "can use the model (set --api-key or GPTC_API_KEY)",
            p.host);
    *out = s;
    return GPTC_OK;
}

int gptc_server_port(const gptc_server *s)
{
    return s->port;
}

static void stop_accepting(gptc_server *s)
{
    if (s->acceptor_started) {
        char b = 1;
        ssize_t w = write(s->wake[1], &b, 1);
        (void)w;
        pthread_join(s->acceptor, NULL);
        s->acceptor_started = 0;
    }
    if (s->listen_fd >= 0) close(s->listen_fd);
    s->listen_fd = -1;
}

static void drop_idle(gptc_server *s)
{
    pthread_mutex_lock(&s->conn_mu);
    for (struct srv_conn *c = s->conns; c; c = c->next)
        if (!c->killed && c->phase != PH_BUSY) {
            shutdown(c->fd, SHUT_RDWR);
            c->killed = 2;
        }
    pthread_mutex_unlock(&s->conn_mu);
}

void gptc_server_shutdown(gptc_server *s, int timeout_ms)
{
    if (!s) return;
    gptc_srv_batches_stop(s); /* batch requests running now stay pending for the next start */
    if (!s->mhd) return;
    atomic_store(&s->draining, 1);
    gptc_srv_sched_drain(&s->sched);
    /* no new connections (close the listening socket, or new clients would wait in its
     * backlog); open ones go on */
    stop_accepting(s);
    double t_end = gptc_srv_now() + timeout_ms * 1e-3;
    /* queued and running jobs finish, then their responses go out; connections with no request
     * in flight (idle, or a head or body still arriving) are dropped at once and as soon as
     * they become idle, so a half-sent body cannot hold the stop up to its deadline */
    for (;;) {
        drop_idle(s);
        if (gptc_srv_now() >= t_end ||
            (gptc_srv_sched_pending(&s->sched) <= 0 && atomic_load(&s->in_flight) <= 0))
            break;
        usleep(20 * 1000);
    }
    MHD_stop_daemon(s->mhd); /* closes idle keep-alive connections, joins their threads */
    s->mhd = NULL;
}

void gptc_server_free(gptc_server *s)
{
    if (!s) return;
    gptc_server_shutdown(s, 2000);
    stop_accepting(s);
    if (s->watchdog_started) {
        atomic_store(&s->stop_watchdog, 1);
        pthread_join(s->watchdog, NULL);
    }
    for (int i = 0; i < s->n_closing; i++)
        close(s->closing[i]);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0) close(s->wake[i]);
    if (s->reserve_fd >= 0) close(s->reserve_fd);
    if (s->sched.model) gptc_srv_sched_free(&s->sched);
    gptc_store_close(s->store);
    gptc_chat_template_free(s->tmpl);
    free(s->tmpl_own);
    pthread_mutex_destroy(&s->conn_mu);
    pthread_cond_destroy(&s->conn_cv);
    pthread_mutex_destroy(&s->metrics.mu);
    memset(s->api_key, 0, sizeof s->api_key);
    free(s);
}
