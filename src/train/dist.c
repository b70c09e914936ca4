/*
 * dist.c — point-to-point exchanges over Open MPI with a timeout (see dist.h).
 *
 * Every wait polls MPI_Testall and sleeps a little between polls, so a peer that died or hangs
 * costs at most the timeout: the caller gets an error naming the ranks it still waits for.
 */
#include "train/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GPTC_HAVE_MPI
#include <mpi.h>
#endif

int gptc_dist_available(void)
{
#ifdef GPTC_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int gptc_dist_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

#ifndef GPTC_HAVE_MPI

struct gptc_dist {
    int unused;
};

gptc_status gptc_dist_init(int *argc, char ***argv, double timeout_s, gptc_dist **out,
                           gptc_err *err)
{
    (void)argc, (void)argv, (void)timeout_s;
    *out = NULL;
    return gptc_fail(err, GPTC_E_UNSUPPORTED,
                     "this gptc was built without MPI (install libopenmpi-dev and rebuild)");
}
void gptc_dist_finalize(gptc_dist *d)
{
    (void)d;
}
void gptc_dist_abort(gptc_dist *d, int code)
{
    (void)d;
    exit(code);
}
int gptc_dist_rank(const gptc_dist *d)
{
    return (void)d, 0;
}
int gptc_dist_size(const gptc_dist *d)
{
    return (void)d, 1;
}
int gptc_dist_local_size(const gptc_dist *d)
{
    return (void)d, 1;
}
gptc_status gptc_dist_exchange(gptc_dist *d, const gptc_dist_msg *sends, int n_sends,
                               const gptc_dist_msg *recvs, int n_recvs, gptc_err *err)
{
    (void)d, (void)sends, (void)recvs;
    if (n_sends || n_recvs) return gptc_fail(err, GPTC_E_UNSUPPORTED, "dist: no MPI");
    return GPTC_OK;
}

#else

struct gptc_dist {
    int rank, size, local_size;
    double timeout_s;
};

#define PIECE ((size_t)1 << 30)

gptc_status gptc_dist_init(int *argc, char ***argv, double timeout_s, gptc_dist **out,
                           gptc_err *err)
{
    *out = NULL;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(argc, argv) != MPI_SUCCESS)
        return gptc_fail(err, GPTC_E_IO, "dist: MPI_Init failed");
    gptc_dist *d = calloc(1, sizeof *d);
    if (!d) return gptc_fail(err, GPTC_E_NOMEM, "dist: out of memory");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm local;
    d->local_size = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &d->local_size);
        MPI_Comm_free(&local);
    }
    d->timeout_s = timeout_s > 0 ? timeout_s : 120;
    *out = d;
    return GPTC_OK;
}

void gptc_dist_finalize(gptc_dist *d)
{
    if (!d) return;
    MPI_Finalize();
    free(d);
}

void gptc_dist_abort(gptc_dist *d, int code)
{
    (void)d;
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int gptc_dist_rank(const gptc_dist *d)
{
    return d ? d->rank : 0;
}
int gptc_dist_size(const gptc_dist *d)
{
    return d ? d->size : 1;
}
int gptc_dist_local_size(const gptc_dist *d)
{
    return d ? d->local_size : 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int n_pieces(size_t size)
{
    return size ? (int)((size + PIECE - 1) / PIECE) : 1;
}

gptc_status gptc_dist_exchange(gptc_dist *d, const gptc_dist_msg *sends, int n_sends,
                               const gptc_dist_msg *recvs, int n_recvs, gptc_err *err)
{
    if (!d) {
        if (n_sends || n_recvs)
            return gptc_fail(err, GPTC_E_INVALID, "dist: exchange without a job");
        return GPTC_OK;
    }
    int n = 0;
    for (int i = 0; i < n_sends; i++)
        n += n_pieces(sends[i].size);
    for (int i = 0; i < n_recvs; i++)
        n += n_pieces(recvs[i].size);
    MPI_Request *req = calloc((size_t)n + 1, sizeof *req);
    int *peer = calloc((size_t)n + 1, sizeof *peer);
    if (!req || !peer) {
        free(req);
        free(peer);
        return gptc_fail(err, GPTC_E_NOMEM, "dist: out of memory");
    }
    int k = 0, bad = 0;
    /* receives first, so that eager sends find them posted */
    for (int pass = 0; pass < 2; pass++) {
        const gptc_dist_msg *ms = pass ? sends : recvs;
        int nm = pass ? n_sends : n_recvs;
        for (int i = 0; i < nm; i++) {
            const gptc_dist_msg *m = &ms[i];
            GPTC_ASSERT(m->peer >= 0 && m->peer < d->size && m->peer != d->rank);
            int np = n_pieces(m->size);
            for (int p = 0; p < np; p++) {
                size_t off = (size_t)p * PIECE, len = GPTC_MIN(PIECE, m->size - off);
                char *b = (char *)m->buf + off;
                int rc =
                    pass ? MPI_Isend(b, (int)len, MPI_BYTE, m->peer, 7, MPI_COMM_WORLD, &req[k])
                         : MPI_Irecv(b, (int)len, MPI_BYTE, m->peer, 7, MPI_COMM_WORLD, &req[k]);
                if (rc != MPI_SUCCESS) bad = 1;
                peer[k++] = m->peer;
            }
        }
    }
    gptc_status s = GPTC_OK;
    if (bad) {
        s = gptc_fail(err, GPTC_E_IO, "dist: rank %d: posting a message failed", d->rank);
        goto done;
    }
    double t0 = now_s();
    for (;;) {
        int flag = 0;
        if (MPI_Testall(k, req, &flag, MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
            s = gptc_fail(err, GPTC_E_IO,
                          "dist: rank %d: a message to or from another rank failed (a rank died?)",
                          d->rank);
            goto done;
        }
        if (flag) break;
        if (now_s() - t0 > d->timeout_s) {
            char who[256] = "";
            size_t o = 0;
            for (int i = 0; i < k && o + 16 < sizeof who; i++) {
                int done_i = 0;
                if (req[i] != MPI_REQUEST_NULL)
                    MPI_Test(&req[i], &done_i, MPI_STATUS_IGNORE);
                else
                    done_i = 1;
                if (done_i) continue;
                int dup = 0;
                for (int j = 0; j < i; j++)
                    if (peer[j] == peer[i] && req[j] != MPI_REQUEST_NULL) dup = 1;
                if (!dup)
                    o += (size_t)snprintf(who + o, sizeof who - o, "%s%d", o ? ", " : "", peer[i]);
            }
            s = gptc_fail(
                err, GPTC_E_IO,
                "dist: rank %d waited %.0f s for rank %s, which did not answer (dead or stuck)",
                d->rank, d->timeout_s, who[0] ? who : "?");
            goto done;
        }
        struct timespec ts = {0, 20000}; /* 20 us: cheap on idle cores, quick to notice */
        nanosleep(&ts, NULL);
    }
done:
    free(req);
    free(peer);
    return s;
}

#endif

gptc_status gptc_dist_allgather(gptc_dist *d, const void *mine, size_t size, void *all,
                                gptc_err *err)
{
    int me = gptc_dist_rank(d), n = gptc_dist_size(d);
    memmove((char *)all + (size_t)me * size, mine, size);
    if (n == 1) return GPTC_OK;
    gptc_dist_msg *s = calloc((size_t)n, sizeof *s), *r = calloc((size_t)n, sizeof *r);
    if (!s || !r) {
        free(s);
        free(r);
        return gptc_fail(err, GPTC_E_NOMEM, "dist: out of memory");
    }
    int k = 0;
    for (int q = 0; q < n; q++) {
        if (q == me) continue;
        s[k] = (gptc_dist_msg){q, (char *)all + (size_t)me * size, size};
        r[k] = (gptc_dist_msg){q, (char *)all + (size_t)q * size, size};
        k++;
    }
    gptc_status st = gptc_dist_exchange(d, s, k, r, k, err);
    free(s);
    free(r);
    return st;
}

gptc_status gptc_dist_barrier(gptc_dist *d, gptc_err *err)
{
    int n = gptc_dist_size(d);
    if (n == 1) return GPTC_OK;
    char *buf = calloc((size_t)n, 1);
    if (!buf) return gptc_fail(err, GPTC_E_NOMEM, "dist: out of memory");
    char one = 1;
    gptc_status s = gptc_dist_allgather(d, &one, 1, buf, err);
    free(buf);
    return s;
}
