/*
 * train_ui.c — the training dashboard's HTTP server: the page's files (ui.c) and /events, a
 * server-sent-event stream of the run's records. libmicrohttpd runs one thread per connection;
 * each /events stream waits on a condition variable for the next record (with a comment line
 * every 15 s so a dead client is noticed), and ends once the run is over and it has sent them all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/base.h"
#include "core/deadline.h"
#include "server/train_ui.h"
#include "server/ui.h"

struct gptc_train_ui {
    struct MHD_Daemon *mhd;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a new record, or the end */
    char **rec;        /* (n) records, owned */
    size_t n, cap;
    int stop;
    int active; /* /events streams not yet freed */
};

typedef struct stream {
    gptc_train_ui *u;
    size_t next; /* index of the next record to send */
    char *pend;  /* bytes formatted, not yet handed to libmicrohttpd */
    size_t pn, pos;
} stream;

static gptc_status fail(gptc_err *err, gptc_status st, const char *msg, int e)
{
    err->status = st;
    snprintf(err->msg, sizeof err->msg, "train ui: %s%s%s", msg, e ? ": " : "",
             e ? strerror(e) : "");
    return st;
}

int gptc_train_ui_push(gptc_train_ui *u, const char *json, size_t n)
{
    if (!u) return 0;
    char *copy = malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, json, n);
    copy[n] = 0;
    for (size_t i = 0; i < n; i++) /* one record = one data: line */
        if (copy[i] == '\n' || copy[i] == '\r') copy[i] = ' ';
    pthread_mutex_lock(&u->mu);
    int keep = u->n < GPTC_TRAIN_UI_MAX_RECORDS || !strstr(copy, "\"loss\":");
    if (keep && u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 1024;
        char **r = realloc(u->rec, cap * sizeof *r);
        if (!r)
            keep = 0;
        else {
            u->rec = r;
            u->cap = cap;
        }
    }
    if (keep) u->rec[u->n++] = copy;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    if (!keep) free(copy);
    return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *st = cls;
    gptc_train_ui *u = st->u;
    if (st->pos == st->pn) {
        pthread_mutex_lock(&u->mu);
        while (st->next >= u->n && !u->stop)
            if (gptc_cond_wait_ms(&u->cv, &u->mu, 15000) == ETIMEDOUT) break;
        if (st->next < u->n) {
            const char *r = u->rec[st->next++];
            size_t k = strlen(r);
            char *p = realloc(st->pend, k + 9);
            if (p) {
                st->pend = p;
                memcpy(p, "data: ", 6);
                memcpy(p + 6, r, k);
                memcpy(p + 6 + k, "\n\n", 2);
                st->pn = k + 8;
                st->pos = 0;
            }
        } else if (u->stop) {
            pthread_mutex_unlock(&u->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        } else { /* keep-alive: a comment line */
            char *p = realloc(st->pend, 3);
            if (p) {
                st->pend = p;
                memcpy(p, ":\n\n", 3);
                st->pn = 3;
                st->pos = 0;
            }
        }
        pthread_mutex_unlock(&u->mu);
        if (st->pos == st->pn) return MHD_CONTENT_READER_END_WITH_ERROR; /* out of memory */
    }
    size_t k = st->pn - st->pos < max ? st->pn - st->pos : max;
    memcpy(buf, st->pend + st->pos, k);
    st->pos += k;
    return (ssize_t)k;
}

static void stream_free(void *cls)
{
    stream *st = cls;
    gptc_train_ui *u = st->u;
    free(st->pend);
    free(st);
    pthread_mutex_lock(&u->mu);
    u->active--;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    (void)upload;
    gptc_train_ui *u = cls;
    if (!*req_cls) { /* the head: wait for the (empty) body */
        *req_cls = u;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    int status;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char k_405[] = "only GET\n";
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof k_405 - 1, GPTC_UNCONST(void *, k_405), MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Allow", "GET");
        enum MHD_Result ret = MHD_queue_response(c, 405, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/events") == 0) {
        stream *st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        st->u = u;
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
        if (!r) {
            free(st);
            return MHD_NO;
        }
        pthread_mutex_lock(&u->mu);
        u->active++;
        pthread_mutex_unlock(&u->mu);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    return (enum MHD_Result)gptc_web_reply(c, url, NULL, "train.html", &status);
}

gptc_status gptc_train_ui_start(const char *host, int port, gptc_train_ui **out, gptc_err *err)
{
    *out = NULL;
    if (!host) host = "127.0.0.1";
    if (port < 0 || port > 65535) return fail(err, GPTC_E_INVALID, "the port must be 0..65535", 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int v6 = 0;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &a4->sin_addr) ==
        1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        v6 = 1;
    } else {
        return fail(err, GPTC_E_INVALID, "the host is not an IPv4 or IPv6 address", 0);
    }
    gptc_train_ui *u = calloc(1, sizeof *u);
    if (!u) return fail(err, GPTC_E_NOMEM, "out of memory", 0);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
    u->mhd =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, u, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
    if (!u->mhd) {
        int e = errno;
        gptc_train_ui_free(u);
        return fail(err, GPTC_E_IO, "cannot listen", e);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(u->mhd, MHD_DAEMON_INFO_BIND_PORT);
    u->port = di ? di->port : port;
    *out = u;
    return GPTC_OK;
}

int gptc_train_ui_port(const gptc_train_ui *u)
{
    return u->port;
}

void gptc_train_ui_free(gptc_train_ui *u)
{
    if (!u) return;
    /* let every stream send the records it has not sent yet (the run's last ones: "done")
     * and end cleanly, for at most 3 s, before the daemon drops the connections */
    pthread_mutex_lock(&u->mu);
    u->stop = 1;
    pthread_cond_broadcast(&u->cv);
    struct timespec ts = gptc_deadline_ms(3000);
    while (u->active > 0)
        if (pthread_cond_timedwait(&u->cv, &u->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&u->mu);
    if (u->mhd) MHD_stop_daemon(u->mhd);
    for (size_t i = 0; i < u->n; i++)
        free(u->rec[i]);
    free(u->rec);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u);
}
