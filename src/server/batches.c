/*
 * batches.c — the Batch API: POST /v1/batches, GET /v1/batches[/{id}], POST .../cancel, the
 * batch manager thread that runs them, and the same engine offline (gptc_server_run_batch_file).
 *
 * Lifecycle (the status column in the store): validating -> in_progress -> finalizing ->
 * completed, or failed (input invalid), expired (past completion_window), cancelling ->
 * cancelled. HTTP threads only create batches and move them to cancelling; the manager thread
 * does everything else.
 *
 * Requests run as low-priority jobs in the same scheduler as interactive requests
 * (srv_job.low): they take slots only when no interactive request waits, and leave one slot free.
 *
 * Durability: when a request ends, its line is appended to DIR/batches/ID.out (or .err) and
 * fsynced, and only then is the request marked done in the database. After a crash, recovery
 * cuts a torn last line and marks every request found in the files as done, so each custom_id
 * appears exactly once. At finalizing, the files are renamed into DIR/files/ under ids derived
 * from the batch id (idempotent if finalizing is interrupted) and registered as files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base.h"
#include "core/deadline.h"
#include "server/srv.h"

#define BATCH_MAX_LINES 50000

/* ----- one request: prepare, submit, result ------------------------------------------------- */

typedef struct srv_bjob {
    srv_job *job;
    int ep; /* EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS */
    srv_gen_opts o;
    int b64, dims;
    char batch_id[GPTC_STORE_ID_MAX];
    gptc_store_req req; /* body owned */
} srv_bjob;

static int endpoint_ep(const char *endpoint)
{
    if (strcmp(endpoint, "/v1/chat/completions") == 0) return EP_CHAT;
    if (strcmp(endpoint, "/v1/completions") == 0) return EP_COMPLETIONS;
    if (strcmp(endpoint, "/v1/embeddings") == 0) return EP_EMBEDDINGS;
    return -1;
}

/* Prepare and submit one request. 0 submitted; 1 the request itself is bad (*e: its error,
 * write it as the request's result); -1 not now (queue refused: try again later). */
static int bjob_submit(gptc_server *s, srv_bjob *b, const char *endpoint, int low,
                       pthread_mutex_t *nmu, pthread_cond_t *ncv, srv_error *e)
{
    b->ep = endpoint_ep(endpoint);
    json_error_t jerr;
    json_t *body = json_loads(b->req.body ? b->req.body : "", 0, &jerr);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        gptc_srv_fail(e, 400, "invalid_json", NULL, "the body is not a JSON object");
        return 1;
    }
    int rc;
    switch (b->ep) {
    case EP_CHAT:
        rc = gptc_srv_chat_prepare(s, body, &b->job, &b->o, e);
        break;
    case EP_COMPLETIONS:
        rc = gptc_srv_completions_prepare(s, body, &b->job, &b->o, e);
        break;
    case EP_EMBEDDINGS:
        rc = gptc_srv_embeddings_prepare(s, body, &b->job, &b->b64, &b->dims, e);
        break;
    default:
        rc = gptc_srv_fail(e, 400, "invalid_url", "url", "the endpoint %s is not served in batches",
                           endpoint);
    }
    json_decref(body);
    if (rc) return 1;
    if (b->ep != EP_EMBEDDINGS && b->o.stream) {
        gptc_srv_job_release(b->job);
        b->job = NULL;
        gptc_srv_fail(e, 400, "invalid_value", "stream", "batch requests cannot stream");
        return 1;
    }
    b->job->low = low;
    b->job->notify_mu = nmu;
    b->job->notify_cv = ncv;
    if (gptc_srv_sched_submit(&s->sched, b->job, e)) {
        gptc_srv_job_release(b->job);
        b->job = NULL;
        return -1;
    }
    return 0;
}

static int bjob_done(srv_bjob *b)
{
    pthread_mutex_lock(&b->job->mu);
    int d = b->job->done;
    pthread_mutex_unlock(&b->job->mu);
    return d;
}

/* The output line of a request (OpenAI's batch output shape), newline-terminated; *ok says
 * whether it goes to the output (1) or the error file (0). NULL when the job was cancelled. */
static char *result_line(gptc_server *s, srv_bjob *b, const srv_error *pre, int *ok)
{
    json_t *body = NULL;
    int status = 200;
    srv_error e;
    if (pre) {
        e = *pre;
    } else {
        srv_job *j = b->job;
        pthread_mutex_lock(&j->mu);
        int failed = j->failed, cancelled = 0;
        for (int i = 0; i < j->n_choices; i++)
            cancelled |= j->choices[i].finish == FINISH_CANCEL;
        if (failed)
            gptc_srv_fail(&e, 500, "internal_error", NULL, "generation failed: %s", j->fail_msg);
        pthread_mutex_unlock(&j->mu);
        if (cancelled && !failed) return NULL;
        if (!failed) {
            body = b->ep == EP_EMBEDDINGS ? gptc_srv_embeddings_result(s, j, b->b64, b->dims)
                                          : gptc_srv_gen_result(s, j, &b->o);
            if (!body) gptc_srv_fail(&e, 500, "internal_error", NULL, "cannot build the response");
        }
    }
    if (!body) {
        status = e.status;
        body = gptc_srv_error_json(&e);
    }
    char rid[48], bid[48];
    gptc_store_new_id("req_", rid, sizeof rid);
    gptc_store_new_id("batch_req_", bid, sizeof bid);
    json_t *line =
        json_pack("{s:s, s:s, s:{s:i, s:s, s:o}, s:n}", "id", bid, "custom_id", b->req.custom_id,
                  "response", "status_code", status, "request_id", rid, "body", body, "error");
    char *txt = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!txt) return NULL;
    size_t n = strlen(txt);
    char *out = realloc(txt, n + 2);
    if (!out) {
        free(txt);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = 0;
    *ok = status == 200;
    return out;
}

/* Append one line and fsync. 0 ok, -1 with errno. A line that cannot be written whole (a full
 * disk) is cut off again, so that the next line does not follow a torn one. */
static int append_line_at(const char *path, const char *line, off_t *at)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    struct stat sb;
    int have = fstat(fd, &sb) == 0;
    if (at) *at = have ? sb.st_size : -1;
    int rc = have ? gptc_store_write_all(fd, line, strlen(line)) : -1;
    if (rc == 0) rc = fsync(fd);
    int e = errno;
    if (rc != 0 && have && ftruncate(fd, sb.st_size) == 0) fsync(fd);
    close(fd);
    errno = e;
    return rc;
}

static int append_line(const char *path, const char *line)
{
    return append_line_at(path, line, NULL);
}

/* Take back a line appended at offset at (its state could not be committed). */
static void unappend(const char *path, off_t at)
{
    int fd = at >= 0 ? open(path, O_WRONLY | O_CLOEXEC) : -1;
    if (fd < 0) return;
    if (ftruncate(fd, at) == 0) fsync(fd);
    close(fd);
}

/* Cut a torn last line (no newline) off a results file, then call fn for each custom_id in it. */
static int scan_results(const char *path, void (*fn)(void *, const char *), void *user)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return -1;
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    n = got;
    size_t keep = n;
    while (keep > 0 && buf[keep - 1] != '\n')
        keep--;
    if (keep < n) {
        if (ftruncate(fd, (off_t)keep) != 0 || fsync(fd) != 0) {
            free(buf);
            close(fd);
            return -1;
        }
    }
    close(fd);
    size_t p = 0;
    while (p < keep) {
        char *nl = memchr(buf + p, '\n', keep - p);
        size_t len = (size_t)(nl - (buf + p));
        json_t *o = json_loadb(buf + p, len, 0, NULL);
        const json_t *cid = json_object_get(o, "custom_id");
        if (json_is_string(cid)) fn(user, json_string_value(cid));
        json_decref(o);
        p += len + 1;
    }
    free(buf);
    return 0;
}

/* ----- the manager (server) ------------------------------------------------------------------ */

struct srv_batches {
    gptc_server *srv;
    pthread_t th;
    int started;
    pthread_mutex_t mu; /* guards stop; the notify mutex of batch jobs */
    pthread_cond_t cv;
    int stop;
    srv_bjob *fl; /* (max_fl) in flight */
    int n_fl, max_fl;
    long window_s; /* completion window in seconds (24h; tests may shorten it) */
};

static void batch_paths(gptc_server *s, const char *id, char *out, char *err, size_t cap)
{
    snprintf(out, cap, "%s/batches/%s.out", gptc_store_dir(s->store), id);
    snprintf(err, cap, "%s/batches/%s.err", gptc_store_dir(s->store), id);
}

/* ids of a batch's output and error files: derived from the batch id, so finalizing can be
 * repeated after a crash without making new ones */
static void result_ids(const char *batch_id, char *out_id, char *err_id, size_t cap)
{
    const char *suffix = batch_id + strlen("batch_");
    snprintf(out_id, cap, "file-%s-output", suffix);
    snprintf(err_id, cap, "file-%s-errors", suffix);
}

typedef struct mark_ctx {
    gptc_server *s;
    const char *batch_id;
    int state;
} mark_ctx;

static void mark_done(void *user, const char *cid)
{
    mark_ctx *m = user;
    gptc_err err;
    gptc_store_req_finish(m->s->store, m->batch_id, cid, m->state, &err);
}

/* After a restart: requests whose lines reached the files count as done. */
static void reconcile(gptc_server *s, const char *id)
{
    char out[600], errp[600];
    batch_paths(s, id, out, errp, sizeof out);
    mark_ctx m = {s, id, GPTC_REQ_OK};
    scan_results(out, mark_done, &m);
    m.state = GPTC_REQ_FAILED;
    scan_results(errp, mark_done, &m);
    gptc_err err;
    gptc_store_batch_recount(s->store, id, &err);
}

/* Move a results file into the files area (or find it there) and register it. Sets *id_set. */
static int publish(gptc_server *s, const char *batch_id, const char *path, const char *file_id,
                   const char *filename, const char *column)
{
    char dst[600];
    gptc_store_file_path(s->store, file_id, dst, sizeof dst);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (sb.st_size == 0) {
            unlink(path);
            return 0;
        }
        if (rename(path, dst) != 0 || gptc_store_fsync_dir(dst) != 0) return -1;
    }
    if (stat(dst, &sb) != 0) return 0; /* no lines of this kind */
    gptc_store_file f = {0};
    snprintf(f.id, sizeof f.id, "%s", file_id);
    snprintf(f.purpose, sizeof f.purpose, "batch_output");
    snprintf(f.filename, sizeof f.filename, "%s", filename);
    f.bytes = (int64_t)sb.st_size;
    f.created_at = (int64_t)time(NULL);
    gptc_err err;
    if (gptc_store_file_adopt(s->store, &f, &err)) return -1;
    if (gptc_store_batch_set(s->store, batch_id, column, file_id, &err)) return -1;
    return 0;
}

static void finalize(gptc_server *s, const char *id, const char *final_status)
{
    char out[600], errp[600], oid[GPTC_STORE_ID_MAX], eid[GPTC_STORE_ID_MAX], name[160];
    batch_paths(s, id, out, errp, sizeof out);
    result_ids(id, oid, eid, sizeof oid);
    snprintf(name, sizeof name, "%s_output.jsonl", id);
    int bad = publish(s, id, out, oid, name, "output_file_id");
    snprintf(name, sizeof name, "%s_error.jsonl", id);
    bad |= publish(s, id, errp, eid, name, "error_file_id");
    if (bad) {
        gptc_srv_log(s, "batch %s: cannot publish its results (%s); will retry", id,
                     strerror(errno));
        return;
    }
    static const char *const from[] = {"finalizing", "cancelling", "in_progress", NULL};
    gptc_err err;
    gptc_store_batch_move(s->store, id, from, final_status, &err);
    gptc_srv_log(s, "batch %s: %s", id, final_status);
}

static int in_flight_for(struct srv_batches *bm, const char *id)
{
    int n = 0;
    for (int i = 0; i < bm->n_fl; i++)
        n += strcmp(bm->fl[i].batch_id, id) == 0;
    return n;
}

static void cancel_for(struct srv_batches *bm, const char *id)
{
    for (int i = 0; i < bm->n_fl; i++)
        if (strcmp(bm->fl[i].batch_id, id) == 0) gptc_srv_job_cancel(bm->fl[i].job);
}

/* Write a request's result and commit it (or drop it when cancelled). */
static void record(gptc_server *s, srv_bjob *b, const srv_error *pre)
{
    int ok = 0;
    char *line = result_line(s, b, pre, &ok);
    if (!line) return; /* cancelled: stays pending */
    char out[600], errp[600];
    batch_paths(s, b->batch_id, out, errp, sizeof out);
    off_t at;
    if (append_line_at(ok ? out : errp, line, &at) != 0) {
        gptc_srv_log(s, "batch %s: cannot write a result (%s): the request stays pending",
                     b->batch_id, strerror(errno));
        free(line);
        return;
    }
    free(line);
    gptc_err err;
    int fr = gptc_store_req_finish(s->store, b->batch_id, b->req.custom_id,
                                   ok ? GPTC_REQ_OK : GPTC_REQ_FAILED, &err);
    if (fr != 1) {
        /* the line must not stay unless this commit made the request done: a pending request
         * runs again, and its custom_id would appear twice */
        unappend(ok ? out : errp, at);
        if (fr < 0)
            gptc_srv_log(s, "batch %s: cannot commit a result (%s): the request stays pending",
                         b->batch_id, err.msg);
    }
}

static void validate(struct srv_batches *bm, const char *id)
{
    gptc_server *s = bm->srv;
    gptc_store_batch b;
    gptc_err err;
    if (gptc_store_batch_get(s->store, id, &b, &err) != 1) return;
    char *data = NULL;
    size_t n = 0;
    json_t *errors = json_array();
    int found = gptc_store_file_read(s->store, b.input_file_id, &data, &n, &err);
    gptc_store_req *reqs = NULL;
    int n_reqs = 0;
    if (found != 1) {
        json_array_append_new(errors, json_pack("{s:s, s:s, s:s, s:n}", "code", "invalid_file",
                                                "message", "the input file is gone or unreadable",
                                                "param", "input_file_id", "line"));
    } else if (gptc_srv_batch_validate(data, n, b.endpoint, s->alias, BATCH_MAX_LINES,
                                       s->p.body_max, &reqs, &n_reqs, errors) != 0) {
        json_array_append_new(errors, json_pack("{s:s, s:s, s:n, s:n}", "code", "internal_error",
                                                "message", "out of memory", "param", "line"));
    }
    free(data);
    if (json_array_size(errors) > 0) {
        json_t *eo = json_pack("{s:s, s:o}", "object", "list", "data", errors);
        char *txt = json_dumps(eo, JSON_COMPACT);
        json_decref(eo);
        gptc_store_batch_set(s->store, id, "errors", txt, &err);
        free(txt);
        static const char *const from[] = {"validating", NULL};
        gptc_store_batch_move(s->store, id, from, "failed", &err);
        gptc_srv_log(s, "batch %s: failed validation", id);
    } else {
        json_decref(errors);
        if (gptc_store_batch_start(s->store, id, reqs, n_reqs, &err) == 1)
            gptc_srv_log(s, "batch %s: in progress, %d requests", id, n_reqs);
    }
    gptc_store_reqs_free(reqs, n_reqs);
    gptc_store_batch_clear(&b);
}

/* Every request still pending when the window closed goes to the error file as expired. */
static void expire(struct srv_batches *bm, const char *id)
{
    gptc_server *s = bm->srv;
    gptc_err err;
    char out[600], errp[600];
    batch_paths(s, id, out, errp, sizeof out);
    int stuck = 0; /* a line not written or not committed (a full disk): retried later */
    while (!stuck) {
        gptc_store_req *reqs;
        int n;
        if (gptc_store_req_pending(s->store, id, 256, NULL, 0, &reqs, &n, &err)) return;
        if (n == 0) break;
        for (int i = 0; i < n && !stuck; i++) {
            char bid[48];
            gptc_store_new_id("batch_req_", bid, sizeof bid);
            json_t *line = json_pack("{s:s, s:s, s:n, s:{s:s, s:s}}", "id", bid, "custom_id",
                                     reqs[i].custom_id, "response", "error", "code",
                                     "batch_expired", "message",
                                     "This request could not be executed before the completion "
                                     "window expired.");
            char *txt = json_dumps(line, JSON_COMPACT);
            json_decref(line);
            size_t tl = txt ? strlen(txt) : 0;
            char *full = txt ? realloc(txt, tl + 2) : NULL;
            off_t at;
            if (full) {
                full[tl] = '\n';
                full[tl + 1] = 0;
                if (append_line_at(errp, full, &at) != 0)
                    stuck = 1;
                else if (gptc_store_req_finish(s->store, id, reqs[i].custom_id, GPTC_REQ_FAILED,
                                               &err) != 1)
                    unappend(errp, at), stuck = 1;
            } else {
                free(txt);
                stuck = 1;
            }
            free(full);
        }
        gptc_store_reqs_free(reqs, n);
    }
    if (stuck) {
        gptc_srv_log(s, "batch %s: cannot record its expired requests yet (%s)", id,
                     strerror(errno));
        return;
    }
    finalize(s, id, "expired");
}

/* Hand pending requests of batch id to the scheduler while there is room. */
static void feed(struct srv_batches *bm, const char *id, const char *endpoint)
{
    gptc_server *s = bm->srv;
    if (bm->n_fl >= bm->max_fl) return;
    int64_t skip[128]; /* every request in flight: max_fl is 2 x n_slots, n_slots <= 64 */
    int n_skip = 0;
    for (int i = 0; i < bm->n_fl && n_skip < 128; i++)
        if (strcmp(bm->fl[i].batch_id, id) == 0) skip[n_skip++] = bm->fl[i].req.line;
    gptc_store_req *reqs;
    int n;
    gptc_err err;
    if (gptc_store_req_pending(s->store, id, bm->max_fl - bm->n_fl, skip, n_skip, &reqs, &n, &err))
        return;
    for (int i = 0; i < n; i++) {
        srv_bjob *b = &bm->fl[bm->n_fl];
        memset(b, 0, sizeof *b);
        snprintf(b->batch_id, sizeof b->batch_id, "%s", id);
        b->req = reqs[i];
        reqs[i].body = NULL;
        srv_error e;
        int rc = bjob_submit(s, b, endpoint, 1, &bm->mu, &bm->cv, &e);
        if (rc == 0) {
            bm->n_fl++;
            continue;
        }
        if (rc == 1) record(s, b, &e);
        free(b->req.body);
        if (rc < 0) break; /* refused (shutting down): the rest stay pending */
    }
    gptc_store_reqs_free(reqs, n);
}

static void collect(struct srv_batches *bm)
{
    for (int i = 0; i < bm->n_fl; i++) {
        srv_bjob *b = &bm->fl[i];
        if (!bjob_done(b)) continue;
        record(bm->srv, b, NULL);
        gptc_srv_job_release(b->job);
        free(b->req.body);
        bm->fl[i] = bm->fl[--bm->n_fl];
        i--;
    }
}

static void *manager_main(void *arg)
{
    struct srv_batches *bm = arg;
    gptc_server *s = bm->srv;
    gptc_err err;
    for (;;) {
        pthread_mutex_lock(&bm->mu);
        int stop = bm->stop;
        pthread_mutex_unlock(&bm->mu);
        if (stop) break;
        collect(bm);
        static const char *const live[] = {"validating", "in_progress", "cancelling", "finalizing"};
        char(*ids)[GPTC_STORE_ID_MAX] = NULL;
        int n = 0;
        gptc_store_batch_ids(s->store, live, 4, &ids, &n, &err);
        for (int i = 0; i < n; i++) {
            gptc_store_batch b;
            if (gptc_store_batch_get(s->store, ids[i], &b, &err) != 1) continue;
            int now = (int)time(NULL);
            if (strcmp(b.status, "validating") == 0) {
                validate(bm, b.id);
            } else if (strcmp(b.status, "cancelling") == 0) {
                cancel_for(bm, b.id);
                if (!in_flight_for(bm, b.id)) finalize(s, b.id, "cancelled");
            } else if (strcmp(b.status, "finalizing") == 0) {
                finalize(s, b.id, "completed");
            } else if (b.expires_at && now >= b.expires_at) {
                cancel_for(bm, b.id);
                if (!in_flight_for(bm, b.id)) expire(bm, b.id);
            } else {
                feed(bm, b.id, b.endpoint);
                if (!in_flight_for(bm, b.id)) {
                    gptc_store_req *r;
                    int np = 0;
                    if (gptc_store_req_pending(s->store, b.id, 1, NULL, 0, &r, &np, &err) == 0) {
                        gptc_store_reqs_free(r, np);
                        static const char *const from[] = {"in_progress", NULL};
                        if (np == 0 &&
                            gptc_store_batch_move(s->store, b.id, from, "finalizing", &err) == 1)
                            finalize(s, b.id, "completed");
                    }
                }
            }
            gptc_store_batch_clear(&b);
        }
        free(ids);
        /* sleep until a job ends, a batch arrives or is cancelled, or 200 ms pass */
        pthread_mutex_lock(&bm->mu);
        int any_done = 0;
        for (int i = 0; i < bm->n_fl && !any_done; i++)
            any_done = bjob_done(&bm->fl[i]);
        if (!bm->stop && !any_done) {
            gptc_cond_wait_ms(&bm->cv, &bm->mu, 200);
        }
        pthread_mutex_unlock(&bm->mu);
    }
    /* stopping: cancel what runs; it stays pending for the next start */
    for (int i = 0; i < bm->n_fl; i++)
        gptc_srv_job_cancel(bm->fl[i].job);
    for (int i = 0; i < bm->n_fl; i++) {
        srv_bjob *b = &bm->fl[i];
        for (int k = 0; k < 2000 && !bjob_done(b); k++)
            usleep(5000);
        if (bjob_done(b)) record(s, b, NULL); /* a request that finished anyway is kept */
        gptc_srv_job_release(b->job);
        free(b->req.body);
    }
    bm->n_fl = 0;
    return NULL;
}

void gptc_srv_batches_wake(gptc_server *s)
{
    struct srv_batches *bm = s->batches;
    if (!bm) return;
    pthread_mutex_lock(&bm->mu);
    pthread_cond_broadcast(&bm->cv);
    pthread_mutex_unlock(&bm->mu);
}

/* Remove bytes that no row points to (an upload or a publish interrupted by a crash) and
 * results files of batches that are over. */
static void sweep(gptc_server *s)
{
    char dir[600], p[1200];
    gptc_err err;
    snprintf(dir, sizeof dir, "%s/files", gptc_store_dir(s->store));
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        gptc_store_file f;
        if (gptc_store_file_get(s->store, e->d_name, &f, &err) == 0) {
            /* a finalizing batch's renamed results are adopted by finalize, not swept */
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            int keep = 0;
            const char *dash = strrchr(e->d_name, '-');
            if (dash && (strcmp(dash, "-output") == 0 || strcmp(dash, "-errors") == 0)) {
                char bid[GPTC_STORE_ID_MAX];
                snprintf(bid, sizeof bid, "batch_%.*s", (int)(dash - e->d_name - 5), e->d_name + 5);
                gptc_store_batch b;
                if (gptc_store_batch_get(s->store, bid, &b, &err) == 1) {
                    keep = strcmp(b.status, "finalizing") == 0 ||
                           strcmp(b.status, "cancelling") == 0 ||
                           strcmp(b.status, "in_progress") == 0;
                    gptc_store_batch_clear(&b);
                }
            }
            if (!keep) {
                unlink(p);
                gptc_srv_log(s, "store: removed %s (no record: an interrupted write)", e->d_name);
            }
        }
    }
    if (d) closedir(d);
    snprintf(dir, sizeof dir, "%s/batches", gptc_store_dir(s->store));
    d = opendir(dir);
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char bid[GPTC_STORE_ID_MAX];
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (size_t)(dot - e->d_name) >= sizeof bid) continue;
        snprintf(bid, sizeof bid, "%.*s", (int)(dot - e->d_name), e->d_name);
        gptc_store_batch b;
        int found = gptc_store_batch_get(s->store, bid, &b, &err);
        int keep = found == 1 &&
                   (strcmp(b.status, "in_progress") == 0 || strcmp(b.status, "cancelling") == 0 ||
                    strcmp(b.status, "finalizing") == 0);
        if (found == 1) gptc_store_batch_clear(&b);
        if (!keep) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    if (d) closedir(d);
}

gptc_status gptc_srv_batches_start(gptc_server *s, gptc_err *err)
{
    struct srv_batches *bm = calloc(1, sizeof *bm);
    if (!bm) return gptc_fail(err, GPTC_E_NOMEM, "server: out of memory");
    bm->srv = s;
    /* twice the slots: a request is always queued behind the running ones, so a slot that
     * frees is refilled at the next step, not after the manager has recorded a result */
    bm->max_fl = s->sched.n_slots * 2;
    bm->fl = calloc((size_t)bm->max_fl, sizeof *bm->fl);
    if (!bm->fl) {
        free(bm);
        return gptc_fail(err, GPTC_E_NOMEM, "server: out of memory");
    }
    pthread_mutex_init(&bm->mu, NULL);
    pthread_cond_init(&bm->cv, NULL);
    /* recovery: results that reached the files before a crash count as done */
    static const char *const live[] = {"in_progress", "cancelling", "finalizing"};
    char(*ids)[GPTC_STORE_ID_MAX] = NULL;
    int n = 0;
    if (gptc_store_batch_ids(s->store, live, 3, &ids, &n, err) == GPTC_OK) {
        for (int i = 0; i < n; i++)
            reconcile(s, ids[i]);
        if (n) gptc_srv_log(s, "batches: resuming %d", n);
    }
    free(ids);
    sweep(s);
    s->batches = bm;
    if (pthread_create(&bm->th, NULL, manager_main, bm) != 0) {
        s->batches = NULL;
        free(bm->fl);
        free(bm);
        return gptc_fail(err, GPTC_E_NOMEM, "server: cannot start the batch thread");
    }
    bm->started = 1;
    return GPTC_OK;
}

void gptc_srv_batches_stop(gptc_server *s)
{
    struct srv_batches *bm = s->batches;
    if (!bm) return;
    pthread_mutex_lock(&bm->mu);
    bm->stop = 1;
    pthread_cond_broadcast(&bm->cv);
    pthread_mutex_unlock(&bm->mu);
    if (bm->started) pthread_join(bm->th, NULL);
    pthread_mutex_destroy(&bm->mu);
    pthread_cond_destroy(&bm->cv);
    free(bm->fl);
    free(bm);
    s->batches = NULL;
}

/* ----- HTTP ------------------------------------------------------------------------------------
 */

static json_t *ts_json(int64_t t)
{
    return t ? json_integer((json_int_t)t) : json_null();
}

static json_t *batch_json(const gptc_store_batch *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(b->id));
    json_object_set_new(o, "object", json_string("batch"));
    json_object_set_new(o, "endpoint", json_string(b->endpoint));
    json_t *errors = b->errors ? json_loads(b->errors, 0, NULL) : NULL;
    json_object_set_new(o, "errors", errors ? errors : json_null());
    json_object_set_new(o, "input_file_id", json_string(b->input_file_id));
    json_object_set_new(o, "completion_window", json_string(b->completion_window));
    json_object_set_new(o, "status", json_string(b->status));
    json_object_set_new(o, "output_file_id",
                        b->output_file_id[0] ? json_string(b->output_file_id) : json_null());
    json_object_set_new(o, "error_file_id",
                        b->error_file_id[0] ? json_string(b->error_file_id) : json_null());
    json_object_set_new(o, "created_at", json_integer((json_int_t)b->created_at));
    json_object_set_new(o, "in_progress_at", ts_json(b->in_progress_at));
    json_object_set_new(o, "expires_at", ts_json(b->expires_at));
    json_object_set_new(o, "finalizing_at", ts_json(b->finalizing_at));
    json_object_set_new(o, "completed_at", ts_json(b->completed_at));
    json_object_set_new(o, "failed_at", ts_json(b->failed_at));
    json_object_set_new(o, "expired_at", ts_json(b->expired_at));
    json_object_set_new(o, "cancelling_at", ts_json(b->cancelling_at));
    json_object_set_new(o, "cancelled_at", ts_json(b->cancelled_at));
    json_object_set_new(o, "request_counts",
                        json_pack("{s:I, s:I, s:I}", "total", (json_int_t)b->total, "completed",
                                  (json_int_t)b->completed, "failed", (json_int_t)b->failed));
    json_t *md = b->metadata ? json_loads(b->metadata, 0, NULL) : NULL;
    json_object_set_new(o, "metadata", md ? md : json_null());
    return o;
}

static enum MHD_Result create(srv_req *r, json_t *body)
{
    gptc_server *s = r->srv;
    srv_error e;
    gptc_err err;
    const char *input, *endpoint, *window;
    int rc;
    if ((rc = gptc_srv_jstr(body, "input_file_id", &input, NULL, &e)) <= 0) {
        if (!rc)
            gptc_srv_fail(&e, 400, "missing_required_parameter", "input_file_id",
                          "'input_file_id' is required");
        return gptc_srv_reply_error(r, &e);
    }
    if ((rc = gptc_srv_jstr(body, "endpoint", &endpoint, NULL, &e)) <= 0) {
        if (!rc)
            gptc_srv_fail(&e, 400, "missing_required_parameter", "endpoint",
                          "'endpoint' is required");
        return gptc_srv_reply_error(r, &e);
    }
    if (endpoint_ep(endpoint) < 0) {
        gptc_srv_fail(&e, 400, "invalid_value", "endpoint",
                      "'endpoint' must be /v1/chat/completions, /v1/completions or /v1/embeddings");
        return gptc_srv_reply_error(r, &e);
    }
    if ((rc = gptc_srv_jstr(body, "completion_window", &window, NULL, &e)) <= 0) {
        if (!rc)
            gptc_srv_fail(&e, 400, "missing_required_parameter", "completion_window",
                          "'completion_window' is required");
        return gptc_srv_reply_error(r, &e);
    }
    if (strcmp(window, "24h") != 0) {
        gptc_srv_fail(&e, 400, "invalid_value", "completion_window",
                      "'completion_window' must be \"24h\"");
        return gptc_srv_reply_error(r, &e);
    }
    const json_t *md = json_object_get(body, "metadata");
    if (md && !json_is_null(md)) {
        if (!json_is_object(md) || json_object_size(md) > 16) {
            gptc_srv_fail(&e, 400, "invalid_value", "metadata",
                          "'metadata' must be an object of at most 16 string values");
            return gptc_srv_reply_error(r, &e);
        }
        const char *k;
        json_t *v;
        json_object_foreach(GPTC_UNCONST(json_t *, md), k, v)
        {
            if (!json_is_string(v) || strlen(k) > 64 || json_string_length(v) > 512) {
                gptc_srv_fail(&e, 400, "invalid_value", "metadata",
                              "'metadata' values must be strings (keys up to 64 characters, values "
                              "up to 512)");
                return gptc_srv_reply_error(r, &e);
            }
        }
    }
    static const char *const known[] = {"input_file_id", "endpoint", "completion_window",
                                        "metadata", "output_expires_after"};
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok || strcmp(k, "output_expires_after") == 0) {
            gptc_srv_fail(&e, 400, "unsupported_parameter", k, "'%.60s' is not supported here", k);
            return gptc_srv_reply_error(r, &e);
        }
    }
    gptc_store_file f;
    int found = gptc_store_file_get(s->store, input, &f, &err);
    if (found <= 0) {
        gptc_srv_fail(&e, found < 0 ? 500 : 404, found < 0 ? "internal_error" : "not_found",
                      "input_file_id", "No such File object: %.80s", input);
        return gptc_srv_reply_error(r, &e);
    }
    if (strcmp(f.purpose, "batch") != 0) {
        gptc_srv_fail(&e, 400, "invalid_value", "input_file_id",
                      "the input file must have purpose 'batch' (it has '%s')", f.purpose);
        return gptc_srv_reply_error(r, &e);
    }
    gptc_store_batch b = {0};
    gptc_store_new_id("batch_", b.id, sizeof b.id);
    snprintf(b.endpoint, sizeof b.endpoint, "%s", endpoint);
    snprintf(b.input_file_id, sizeof b.input_file_id, "%s", input);
    snprintf(b.completion_window, sizeof b.completion_window, "24h");
    snprintf(b.status, sizeof b.status, "validating");
    b.created_at = (int64_t)time(NULL);
    b.expires_at = b.created_at + (s->p.batch_window_s > 0 ? s->p.batch_window_s : 86400);
    char *mdtxt = md && json_is_object(md) ? json_dumps(md, JSON_COMPACT) : NULL;
    b.metadata = mdtxt;
    gptc_status st = gptc_store_batch_create(s->store, &b, &err);
    free(mdtxt);
    b.metadata = NULL;
    if (st) {
        gptc_srv_fail(&e, 500, "internal_error", NULL, "%s", err.msg);
        return gptc_srv_reply_error(r, &e);
    }
    gptc_srv_batches_wake(s);
    gptc_store_batch got;
    if (gptc_store_batch_get(s->store, b.id, &got, &err) != 1) {
        gptc_srv_fail(&e, 500, "internal_error", NULL, "the batch vanished");
        return gptc_srv_reply_error(r, &e);
    }
    json_t *o = batch_json(&got);
    gptc_store_batch_clear(&got);
    gptc_srv_log(s, "batch %s created from %s", b.id, input);
    return gptc_srv_reply_json(r, 200, o);
}

enum MHD_Result gptc_srv_ep_batches(srv_req *r, const char *sub, json_t *body)
{
    gptc_server *s = r->srv;
    srv_error e;
    gptc_err err;
    int post = strcmp(r->method, "POST") == 0;
    if (!sub) {
        if (post) return create(r, body);
        int limit;
        const char *after;
        if (gptc_srv_page_args(r, 20, 100, &limit, &after, &e)) return gptc_srv_reply_error(r, &e);
        gptc_store_batch *bs;
        int n, more;
        if (gptc_store_batch_list(s->store, after, limit, &bs, &n, &more, &err)) {
            gptc_srv_fail(&e, 500, "internal_error", NULL, "%s", err.msg);
            return gptc_srv_reply_error(r, &e);
        }
        json_t *data = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(data, batch_json(&bs[i]));
        json_t *res =
            json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", more);
        json_object_set_new(res, "first_id", n ? json_string(bs[0].id) : json_null());
        json_object_set_new(res, "last_id", n ? json_string(bs[n - 1].id) : json_null());
        for (int i = 0; i < n; i++)
            gptc_store_batch_clear(&bs[i]);
        free(bs);
        return gptc_srv_reply_json(r, 200, res);
    }
    char id[GPTC_STORE_ID_MAX];
    const char *slash = strchr(sub, '/');
    size_t idn = slash ? (size_t)(slash - sub) : strlen(sub);
    int cancel = slash && strcmp(slash, "/cancel") == 0;
    if (idn >= sizeof id || (slash && !cancel)) {
        gptc_srv_fail(&e, 404, "not_found", NULL, "no route for %s %s", r->method, r->path);
        return gptc_srv_reply_error(r, &e);
    }
    memcpy(id, sub, idn);
    id[idn] = 0;
    if (cancel != post) {
        gptc_srv_fail(&e, 405, "method_not_allowed", NULL, "%s is not allowed on %s", r->method,
                      r->path);
        return gptc_srv_reply_error(r, &e);
    }
    gptc_store_batch b;
    int found = gptc_store_batch_get(s->store, id, &b, &err);
    if (found <= 0) {
        gptc_srv_fail(&e, found < 0 ? 500 : 404, found < 0 ? "internal_error" : "not_found",
                      "batch_id", "No such Batch object: %.80s", id);
        return gptc_srv_reply_error(r, &e);
    }
    if (cancel) {
        static const char *const from[] = {"validating", "in_progress", NULL};
        int moved = gptc_store_batch_move(s->store, id, from, "cancelling", &err);
        if (moved == 0 && strcmp(b.status, "cancelling") && strcmp(b.status, "cancelled")) {
            gptc_srv_fail(&e, 409, "invalid_state", "batch_id",
                          "Cannot cancel a batch with status '%s'", b.status);
            gptc_store_batch_clear(&b);
            return gptc_srv_reply_error(r, &e);
        }
        gptc_store_batch_clear(&b);
        gptc_srv_batches_wake(s);
        gptc_store_batch_get(s->store, id, &b, &err);
        gptc_srv_log(s, "batch %s: cancelling", id);
    }
    json_t *o = batch_json(&b);
    gptc_store_batch_clear(&b);
    return gptc_srv_reply_json(r, 200, o);
}

/* ----- offline: `gptc batch` ---------------------------------------------------------------- */

typedef struct cid_list {
    char **v;
    size_t n, cap;
} cid_list;

static void cid_collect(void *user, const char *cid)
{
    cid_list *l = user;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(cid);
    if (l->v[l->n]) l->n++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

gptc_status gptc_server_run_batch_file(gptc_server *s, const char *endpoint, const char *in_path,
                                       const char *out_path, const char *err_path,
                                       gptc_batch_progress_fn progress, void *user, gptc_err *err)
{
    if (endpoint_ep(endpoint) < 0)
        return gptc_fail(err, GPTC_E_INVALID, "batch: the endpoint %s is not served in batches",
                         endpoint);
    FILE *fp = fopen(in_path, "rb");
    if (!fp)
        return gptc_fail(err, GPTC_E_IO, "batch: cannot open %s: %s", in_path, strerror(errno));
    srv_buf data = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if (gptc_srv_buf_add(&data, chunk, got)) {
            fclose(fp);
            gptc_srv_buf_free(&data);
            return gptc_fail(err, GPTC_E_NOMEM, "batch: out of memory");
        }
    fclose(fp);
    json_t *errors = json_array();
    gptc_store_req *reqs = NULL;
    int n_reqs = 0;
    gptc_srv_batch_validate(data.p ? data.p : "", data.n, endpoint, NULL, 1 << 30, s->p.body_max,
                            &reqs, &n_reqs, errors);
    gptc_srv_buf_free(&data);
    if (json_array_size(errors) > 0) {
        json_t *e0 = json_array_get(errors, 0);
        gptc_status st =
            gptc_fail(err, GPTC_E_FORMAT, "batch: %s line %lld: %s (%zu bad lines)", in_path,
                      (long long)json_integer_value(json_object_get(e0, "line")),
                      json_string_value(json_object_get(e0, "message")), json_array_size(errors));
        json_decref(errors);
        return st;
    }
    json_decref(errors);
    /* resume: requests whose lines are already in the outputs are done */
    cid_list done = {0};
    if (scan_results(out_path, cid_collect, &done) || scan_results(err_path, cid_collect, &done)) {
        gptc_store_reqs_free(reqs, n_reqs);
        return gptc_fail(err, GPTC_E_IO, "batch: cannot read the earlier results in %s or %s",
                         out_path, err_path);
    }
    if (done.n) qsort(done.v, done.n, sizeof *done.v, cmp_str);
    int total = n_reqs, n_done = 0, n_failed = 0;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int max_fl = s->sched.n_slots * 2;
    srv_bjob *fl = calloc((size_t)max_fl, sizeof *fl);
    int n_fl = 0, next = 0;
    gptc_status st = fl ? GPTC_OK : gptc_fail(err, GPTC_E_NOMEM, "batch: out of memory");
    double t0 = gptc_srv_now();
    unsigned long long tok0 = atomic_load(&s->metrics.gen_tokens);
    int resumed = 0;
    while (!st && (next < n_reqs || n_fl > 0)) {
        while (next < n_reqs && n_fl < max_fl) {
            gptc_store_req *q = &reqs[next++];
            const char *key = q->custom_id;
            if (done.n && bsearch(&key, done.v, done.n, sizeof *done.v, cmp_str)) {
                n_done++;
                resumed++;
                continue;
            }
            srv_bjob *b = &fl[n_fl];
            memset(b, 0, sizeof *b);
            b->req = *q;
            q->body = NULL;
            srv_error e;
            int rc = bjob_submit(s, b, endpoint, 0, &mu, &cv, &e);
            if (rc == 0) {
                n_fl++;
                continue;
            }
            int ok = 0;
            char *line = rc == 1 ? result_line(s, b, &e, &ok) : NULL;
            free(b->req.body);
            if (rc < 0) {
                st =
                    gptc_fail(err, GPTC_E_IO, "batch: the engine refused a request: %s", e.message);
                break;
            }
            if (!line || append_line(err_path, line)) {
                free(line);
                st = gptc_fail(err, GPTC_E_IO, "batch: cannot write %s: %s", err_path,
                               strerror(errno));
                break;
            }
            free(line);
            n_done++;
            n_failed++;
        }
        if (st) break;
        pthread_mutex_lock(&mu);
        int any = 0;
        for (int i = 0; i < n_fl && !any; i++)
            any = bjob_done(&fl[i]);
        if (!any && n_fl) {
            gptc_cond_wait_ms(&cv, &mu, 100);
        }
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < n_fl; i++) {
            srv_bjob *b = &fl[i];
            if (!bjob_done(b)) continue;
            int ok = 0;
            char *line = result_line(s, b, NULL, &ok);
            int wrc = line ? append_line(ok ? out_path : err_path, line) : -1;
            free(line);
            gptc_srv_job_release(b->job);
            free(b->req.body);
            fl[i] = fl[--n_fl];
            i--;
            if (wrc) {
                st = gptc_fail(err, GPTC_E_IO, "batch: cannot write the results: %s",
                               strerror(errno));
                break;
            }
            n_done++;
            n_failed += !ok;
        }
        if (progress) {
            gptc_batch_progress pr = {
                .done = n_done,
                .total = total,
                .failed = n_failed,
                .resumed = resumed,
                .tokens = (long long)(atomic_load(&s->metrics.gen_tokens) - tok0),
                .seconds = gptc_srv_now() - t0,
            };
            progress(user, &pr);
        }
    }
    for (int i = 0; i < n_fl; i++) { /* after an error: stop what runs */
        gptc_srv_job_cancel(fl[i].job);
        while (!bjob_done(&fl[i]))
            usleep(5000);
        gptc_srv_job_release(fl[i].job);
        free(fl[i].req.body);
    }
    free(fl);
    for (size_t i = 0; i < done.n; i++)
        free(done.v[i]);
    free(done.v);
    gptc_store_reqs_free(reqs, n_reqs);
    return st;
}
