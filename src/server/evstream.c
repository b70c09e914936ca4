/*
 * evstream.c — the server-sent-event pump under every streamed reply (srv_pump), and on it an
 * event stream of one generation (choice 0 of a job) for endpoints
 * whose events are not chat.completion chunks: the Responses API (`event: response.*`) and
 * Anthropic Messages (`event: message_start` ...). The endpoint supplies three callbacks that
 * append events: begin (once), delta (new final text) and finish (once, after the job ended).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/deadline.h"
#include "server/srv.h"

void gptc_srv_ev_add(srv_evstream *st, const char *event, json_t *data)
{
    char *txt = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!txt) return;
    if (event) {
        gptc_srv_buf_add(&st->p.out, "event: ", 7);
        gptc_srv_buf_add(&st->p.out, event, strlen(event));
        gptc_srv_buf_add(&st->p.out, "\n", 1);
    }
    gptc_srv_buf_add(&st->p.out, "data: ", 6);
    gptc_srv_buf_add(&st->p.out, txt, strlen(txt));
    gptc_srv_buf_add(&st->p.out, "\n\n", 2);
    free(txt);
}

static int fd_gone(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0) return 0;
    return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static ssize_t pump_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    srv_pump *p = cls;
    srv_job *j = p->job;
    for (;;) {
        if (p->out_off < p->out.n) {
            size_t n = p->out.n - p->out_off;
            if (n > max) n = max;
            memcpy(buf, p->out.p + p->out_off, n);
            p->out_off += n;
            return (ssize_t)n;
        }
        p->out.n = p->out_off = 0;
        if (p->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&j->mu);
        int added = p->collect(p);
        if (!added) gptc_cond_wait_ms(&j->cv, &j->mu, 50);
        pthread_mutex_unlock(&j->mu);
        if (!added && fd_gone(p->fd)) {
            gptc_srv_job_cancel(j);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void pump_free(void *cls)
{
    srv_pump *p = cls;
    pthread_mutex_lock(&p->job->mu);
    int done = p->job->done;
    pthread_mutex_unlock(&p->job->mu);
    if (!done) gptc_srv_job_cancel(p->job);
    if (p->release) p->release(p, done);
    gptc_srv_job_release(p->job);
    gptc_srv_buf_free(&p->out);
    free(p); /* the whole stream: the pump is its first member */
}

enum MHD_Result gptc_srv_pump_run(srv_req *r, srv_job *j, srv_pump *p)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    p->srv = r->srv;
    p->job = j;
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
    p->fd = ci ? ci->connect_fd : -1;
    struct MHD_Response *resp =
        ci ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, pump_read, p, pump_free)
           : NULL;
    if (!resp) {
        pump_free(p);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    r->status = 200;
    enum MHD_Result ret = MHD_queue_response(r->mhd, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* New events from the job (under job->mu); returns whether any. */
static int ev_collect(srv_pump *p)
{
    srv_evstream *st = (srv_evstream *)p;
    srv_job *j = p->job;
    const srv_choice *c = &j->choices[0];
    size_t n0 = p->out.n;
    if (!st->begun) {
        st->begin(st);
        st->begun = 1;
    }
    size_t ready = c->n_ready;
    if (!c->finish && ready > st->sent)
        ready = st->sent + gptc_srv_utf8_valid_len(c->text + st->sent, ready - st->sent);
    if (ready > st->sent) {
        st->delta(st, c->text + st->sent, ready - st->sent);
        st->sent = ready;
    }
    if (j->done && !p->ended && st->sent >= c->n_ready) {
        st->finish(st);
        p->ended = 1;
    }
    return p->out.n > n0;
}

static void ev_release(srv_pump *p, int done)
{
    srv_evstream *st = (srv_evstream *)p;
    (void)done;
    if (st->user_free) st->user_free(st->user);
}

enum MHD_Result gptc_srv_ev_run(srv_req *r, srv_job *j, void (*begin)(srv_evstream *),
                                void (*delta)(srv_evstream *, const char *, size_t),
                                void (*finish)(srv_evstream *), void *user,
                                void (*user_free)(void *))
{
    gptc_server *s = r->srv;
    srv_error e;
    r->prompt_tokens = j->n_prompt;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->client_fd = ci ? ci->connect_fd : -1;
    if (gptc_srv_sched_submit(&s->sched, j, &e)) {
        gptc_srv_job_release(j);
        if (user_free) user_free(user);
        return gptc_srv_reply_error(r, &e);
    }
    r->job = j;
    srv_evstream *st = calloc(1, sizeof *st);
    if (!st) {
        gptc_srv_job_cancel(j);
        if (user_free) user_free(user);
        return MHD_NO;
    }
    st->p.collect = ev_collect;
    st->p.release = ev_release;
    st->begin = begin;
    st->delta = delta;
    st->finish = finish;
    st->user = user;
    st->user_free = user_free;
    return gptc_srv_pump_run(r, j, &st->p);
}

int gptc_srv_run_wait(srv_req *r, srv_job *j, srv_error *e)
{
    gptc_server *s = r->srv;
    r->prompt_tokens = j->n_prompt;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->client_fd = ci ? ci->connect_fd : -1;
    if (gptc_srv_sched_submit(&s->sched, j, e)) {
        gptc_srv_job_release(j);
        return -1;
    }
    r->job = j;
    if (gptc_srv_wait_job(r, j) < 0) return -2;
    pthread_mutex_lock(&j->mu);
    int failed = j->failed;
    if (failed) gptc_srv_fail(e, 500, "internal_error", NULL, "generation failed: %s", j->fail_msg);
    pthread_mutex_unlock(&j->mu);
    return failed ? -1 : 0;
}
