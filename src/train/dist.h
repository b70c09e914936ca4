/*
 * dist.h — the processes of a data-parallel training job (Open MPI), as training needs them:
 * rank, size, and point-to-point exchanges that give up after a timeout naming the rank that
 * did not answer (an MPI collective would wait forever for a dead peer).
 *
 * gptc builds this with MPI only when the Makefile finds mpi.h (GPTC_HAVE_MPI); otherwise
 * gptc_dist_available() is 0 and a job is always one process. Collective steps are built from
 * these exchanges in src/train/trainer.c in a fixed order, so that results never depend on the
 * MPI library's choice of reduction algorithm.
 */
#ifndef GPTC_TRAIN_DIST_H
#define GPTC_TRAIN_DIST_H

#include <stddef.h>

#include "core/base.h"

typedef struct gptc_dist gptc_dist;

/* 1 when gptc was built with MPI. */
int gptc_dist_available(void);
/* 1 when this process was started by mpirun (Open MPI's or PMIx's environment is set). */
int gptc_dist_launched(void);

/* Join the job (MPI_Init). timeout_s: how long an exchange waits for a peer. OUT: owned, end
 * with gptc_dist_finalize (or gptc_dist_abort). GPTC_E_UNSUPPORTED without MPI. */
gptc_status gptc_dist_init(int *argc, char ***argv, double timeout_s, gptc_dist **out,
                           gptc_err *err);
void gptc_dist_finalize(gptc_dist *d);
/* End the whole job now with exit code code (MPI_Abort); for after a failed exchange. */
void gptc_dist_abort(gptc_dist *d, int code) __attribute__((noreturn));

/* For d == NULL (no job): rank 0 of 1, one process on the node. */
int gptc_dist_rank(const gptc_dist *d);
int gptc_dist_size(const gptc_dist *d);
int gptc_dist_local_size(const gptc_dist *d); /* ranks on this machine */

typedef struct gptc_dist_msg {
    int peer;    /* rank to send to / receive from (never this rank) */
    void *buf;   /* bytes to send, or where to receive them */
    size_t size; /* bytes (any size: split into pieces below 1 GiB) */
} gptc_dist_msg;

/* Post every send and receive, then wait for all of them. Every rank must make the same
 * sequence of exchanges; the messages of one pair of ranks arrive in the order sent. On timeout
 * GPTC_E_IO names the ranks that did not answer (the caller then aborts the job). */
gptc_status gptc_dist_exchange(gptc_dist *d, const gptc_dist_msg *sends, int n_sends,
                               const gptc_dist_msg *recvs, int n_recvs, gptc_err *err);
/* Every rank sends size bytes from mine; all (size x n_ranks, in rank order) receives them all,
 * mine's included. */
gptc_status gptc_dist_allgather(gptc_dist *d, const void *mine, size_t size, void *all,
                                gptc_err *err);
/* Wait until every rank got here. */
gptc_status gptc_dist_barrier(gptc_dist *d, gptc_err *err);

#endif
