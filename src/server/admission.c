/*
 * admission.c — the server's own accept thread: at most max_connections open connections and
 * max_conns_per_client from one address; when full, the oldest idle connection is closed for
 * the new one, else the client gets a 503 at once; a request head whose Content-Length is
 * malformed is answered 400 before libmicrohttpd sees it; out of fds it backs off and logs once
 * per 10 s. Admitted sockets are handed to libmicrohttpd (http.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/deadline.h"
#include "server/conn.h"
#include "server/srv.h"

/* ----- admission: our accept thread ------------------------------------------------------------
 */

static int same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return 0;
}

/* The oldest connection that owes us nothing we wait for: between keep-alive requests, or
 * silent since it connected. NULL when every connection is in use. Under conn_mu. */
static struct srv_conn *oldest_idle(gptc_server *s, const struct sockaddr_storage *from)
{
    struct srv_conn *best = NULL;
    for (struct srv_conn *c = s->conns; c; c = c->next) {
        if (c->killed || !(c->phase == PH_IDLE || (c->phase == PH_HEAD && !c->got_uri))) continue;
        if (from && !same_client(&c->addr, from)) continue;
        if (!best || c->t < best->t) best = c;
    }
    return best;
}

/* Send the n bytes of a whole answer on a socket libmicrohttpd never saw, end our side, and let
 * the watchdog close it once the client has read it (closing at once, with its request unread,
 * would reset the connection first); closed now if the watchdog's list is full. */
static void answer_and_close(gptc_server *s, int fd, const char *buf, int n)
{
    ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    shutdown(fd, SHUT_WR);
    pthread_mutex_lock(&s->conn_mu);
    if (s->n_closing < (int)(sizeof s->closing / sizeof *s->closing)) {
        s->closing[s->n_closing] = fd;
        s->closing_t[s->n_closing++] = gptc_srv_now();
        fd = -1;
    }
    pthread_mutex_unlock(&s->conn_mu);
    if (fd >= 0) close(fd);
}

/* Answer 503 on a socket we will not serve (answer_and_close). */
static void refuse(gptc_server *s, int fd, const char *why)
{
    char body[256], buf[512];
    int nb = snprintf(body, sizeof body,
                      "{\"error\":{\"message\":\"%s\",\"type\":\"server_error\","
                      "\"param\":null,\"code\":\"too_many_connections\"}}",
                      why);
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     "Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
                     nb, body);
    answer_and_close(s, fd, buf, n);
}

/* The gate: each new connection waits here (in the accept thread, without blocking it) until
 * the head of its first request has arrived, which is looked at with MSG_PEEK before
 * libmicrohttpd reads it. A malformed Content-Length gets one 400 from us: libmicrohttpd 0.9.75
 * answers it itself with its status line and headers written twice. A head still incomplete
 * after GATE_S, over 8 KiB, or a full gate goes to libmicrohttpd as it is (its own timeouts and
 * the 431 apply). */
#define GATE_S 1.0
#define GATE_MAX 32
typedef struct gated {
    int fd;
    double t0, nap_until;
    ssize_t last; /* bytes peeked at the last look */
    struct sockaddr_storage a;
    socklen_t al;
} gated;

/* Answer 400 invalid_content_length on a socket libmicrohttpd never saw (answer_and_close). */
static void refuse_cl(gptc_server *s, int fd)
{
    static const char k[] = "{\"error\":{\"message\":\"the Content-Length header is not a "
                            "number of bytes\",\"type\":\"invalid_request_error\",\"param\":"
                            "null,\"code\":\"invalid_content_length\"}}";
    char buf[512], junk[4096];
    while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0) { /* what it sent so far */
    }
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                     "x-should-retry: false\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof k - 1, k);
    gptc_srv_log(s, "a request with a malformed Content-Length: 400");
    answer_and_close(s, fd, buf, n);
}

/* Take the new connection, after closing an idle one to make room if needed, or refuse it. */
static void admit(gptc_server *s, int fd, struct sockaddr_storage *a, socklen_t al)
{
    const char *why = NULL;
    pthread_mutex_lock(&s->conn_mu);
    /* connections closed to make room end in their own threads: on a busy machine that can lag
     * behind a burst of connects. Wait for them a little (at most 1 s) rather than refuse. */
    struct timespec dl = gptc_deadline_ms(1000);
    while (s->n_conns >= 2 * s->p.max_connections) {
        int closing = 0;
        for (struct srv_conn *c = s->conns; c && !closing; c = c->next)
            closing = c->killed != 0;
        if (!closing || pthread_cond_timedwait(&s->conn_cv, &s->conn_mu, &dl) != 0) break;
    }
    int same = 0;
    for (struct srv_conn *c = s->conns; c; c = c->next)
        same += !c->killed && same_client(&c->addr, a);
    int live = 0;
    for (struct srv_conn *c = s->conns; c; c = c->next)
        live += !c->killed;
    struct srv_conn *victim = NULL;
    if (s->n_conns >= 2 * s->p.max_connections) /* closed ones whose threads are still ending */
        why = "the server has too many connections";
    else if (s->p.max_conns_per_client > 0 && same >= s->p.max_conns_per_client) {
        if (!(victim = oldest_idle(s, a))) why = "too many connections from your address";
    } else if (live >= s->p.max_connections) {
        if (!(victim = oldest_idle(s, NULL))) why = "the server has too many connections";
    }
    if (victim) { /* it owes us nothing: close it, and its thread ends */
        shutdown(victim->fd, SHUT_RDWR);
        victim->killed = 2;
    }
    pthread_mutex_unlock(&s->conn_mu);
    if (why) {
        refuse(s, fd, why);
        return;
    }
    /* libmicrohttpd closes the socket itself when it cannot take it. It registers the
     * connection (on_connection) in its own thread: wait for that, so the next admission counts
     * this one (a burst of connects would otherwise all pass the limit) */
    pthread_mutex_lock(&s->conn_mu);
    s->admitting_fd = fd;
    s->admitted = 0;
    pthread_mutex_unlock(&s->conn_mu);
    if (MHD_add_connection(s->mhd, fd, (struct sockaddr *)a, al) != MHD_YES) return;
    struct timespec ts = gptc_deadline_ms(1000);
    pthread_mutex_lock(&s->conn_mu);
    while (!s->admitted)
        if (pthread_cond_timedwait(&s->conn_cv, &s->conn_mu, &ts) != 0) break;
    s->admitting_fd = -1;
    pthread_mutex_unlock(&s->conn_mu);
}

/* Look at gated connection i: 1 when it left the gate (handed on, answered or closed). */
static int gate_look(gptc_server *s, gated *g, double now)
{
    char buf[8 * 1024 + 1];
    ssize_t n = recv(g->fd, buf, sizeof buf - 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    if (n <= 0) { /* gone before it asked anything */
        close(g->fd);
        return 1;
    }
    const char *e = memmem(buf, (size_t)n, "\r\n\r\n", 4);
    if (!e) e = memmem(buf, (size_t)n, "\n\n", 2);
    if (e && gptc_srv_head_cl_bad(buf, (size_t)(e - buf) + 2)) {
        refuse_cl(s, g->fd);
        return 1;
    }
    if (e || (size_t)n >= sizeof buf - 1) {
        admit(s, g->fd, &g->a, g->al);
        return 1;
    }
    /* part of a head: poll would say readable at once again; look again a little later */
    if (n == g->last) g->nap_until = now + 0.02;
    g->last = n;
    return 0;
}

void *gptc_srv_accept_main(void *arg)
{
    gptc_server *s = arg;
    double t_msg = -1e9;
    unsigned long n_failed = 0;
    int backoff_ms = 0;
    gated gate[GATE_MAX];
    double accept_after = 0; /* out of fds: no accept before then */
    int n_gate = 0, gate_max = s->p.max_connections / 2;
    if (gate_max > GATE_MAX) gate_max = GATE_MAX;
    if (gate_max < 1) gate_max = 1;
    for (;;) {
        double now = gptc_srv_now(), next = now + 3600;
        int backing_off = now < accept_after;
        struct pollfd p[2 + GATE_MAX] = {{.fd = backing_off ? -1 : s->listen_fd, .events = POLLIN},
                                         {.fd = s->wake[0], .events = POLLIN}};
        if (backing_off) next = accept_after;
        for (int i = 0; i < n_gate; i++) {
            int napping = gate[i].nap_until > now;
            p[2 + i] = (struct pollfd){.fd = napping ? -1 : gate[i].fd, .events = POLLIN};
            double wake = gate[i].t0 + GATE_S;
            if (napping && gate[i].nap_until < wake) wake = gate[i].nap_until;
            if (wake < next) next = wake;
        }
        int wait_ms = n_gate || backing_off ? (int)((next - now) * 1000) + 1 : -1;
        int pr = poll(p, (nfds_t)(2 + n_gate), wait_ms);
        if (p[1].revents) break;
        now = gptc_srv_now();
        for (int i = 0; i < n_gate; i++) {
            int left = 0;
            if (p[2 + i].fd >= 0 && p[2 + i].revents)
                left = gate_look(s, &gate[i], now);
            else if (now - gate[i].t0 >= GATE_S) { /* slow: libmicrohttpd's timeouts take it */
                admit(s, gate[i].fd, &gate[i].a, gate[i].al);
                left = 1;
            }
            if (left) {
                gate[i] = gate[--n_gate];
                p[2 + i] = p[2 + n_gate];
                i--;
            }
        }
        if (pr <= 0 || p[0].fd < 0 || !(p[0].revents & POLLIN)) continue;
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&a, &al, SOCK_CLOEXEC);
        if (fd >= 0) {
            backoff_ms = 0;
            if (n_gate == gate_max) { /* the gate is full: its oldest goes on */
                int o = 0;
                for (int i = 1; i < n_gate; i++)
                    if (gate[i].t0 < gate[o].t0) o = i;
                admit(s, gate[o].fd, &gate[o].a, gate[o].al);
                gate[o] = gate[--n_gate];
            }
            gate[n_gate++] = (gated){.fd = fd, .t0 = gptc_srv_now(), .last = -1, .a = a, .al = al};
            continue;
        }
        int e = errno;
        if (e == EINTR || e == EAGAIN || e == EWOULDBLOCK || e == ECONNABORTED || e == EPROTO)
            continue;
        /* out of fds or memory: the pending connection stays in the backlog and poll says so at
         * once; without a pause this loop would spin. Refuse one with the spare fd so that
         * client hears why, then wait (50 ms doubling to 1 s) and say so once per 10 s. */
        n_failed++;
        if ((e == EMFILE || e == ENFILE) && s->reserve_fd >= 0) {
            close(s->reserve_fd);
            int f = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (f >= 0) {
                static const char k_503[] =
                    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: "
                    "close\r\nContent-Length: 0\r\n\r\n";
                ssize_t w = send(f, k_503, sizeof k_503 - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                (void)w;
                close(f);
            }
            s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        now = gptc_srv_now();
        if (now - t_msg >= 10.0) {
            gptc_srv_log(s,
                         "cannot accept connections: %s (%lu times since the last message); "
                         "backing off",
                         strerror(e), n_failed);
            t_msg = now;
            n_failed = 0;
        }
        backoff_ms = backoff_ms ? (backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2) : 50;
        accept_after = gptc_srv_now() + backoff_ms * 1e-3;
    }
    for (int i = 0; i < n_gate; i++) /* stopping: nobody will answer them */
        close(gate[i].fd);
    return NULL;
}
