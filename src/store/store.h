/*
 * store.h — the server's durable state: one SQLite database (WAL mode) plus uploaded file bytes
 * as plain files beside it, under a data directory:
 *
 *   DIR/gptc.db        metadata: files, batches and each batch request, stored responses
 *   DIR/files/ID       the bytes of file ID (written to DIR/tmp/ first, fsynced, renamed,
 *                      the directory fsynced: a file is either whole or absent)
 *   DIR/batches/ID.out, ID.err   a running batch's output and error lines (append + fsync)
 *   DIR/tmp/           uploads in progress (emptied at open)
 *   DIR/lock           flock()ed while a process has the store open
 *
 * The schema is versioned (PRAGMA user_version) and migrated at open; a file that is not an
 * SQLite database, or one from a newer gptc (a schema version we do not know), is refused with
 * a message saying so. Every function is safe to call from any thread (one mutex).
 *
 * Ids are checked before they reach a path: only [A-Za-z0-9_-] after a known prefix, so an id
 * can never name anything outside the data directory (gptc_store_id_ok).
 */
#ifndef GPTC_STORE_H
#define GPTC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "gptc.h"

#define GPTC_STORE_SCHEMA 1 /* the schema version this build writes */
#define GPTC_STORE_ID_MAX 80

typedef struct gptc_store gptc_store;

/* Open (creating with mode 0700 when missing) the data directory, lock it against a second
 * process, open or create the database and migrate it. OUT: *out, free with gptc_store_close. */
gptc_status gptc_store_open(const char *dir, gptc_store **out /* OUT */, gptc_err *err);
void gptc_store_close(gptc_store *st);
const char *gptc_store_dir(const gptc_store *st);
/* "ok" or what PRAGMA integrity_check found (first line); 0 when ok. */
int gptc_store_integrity(gptc_store *st, char *msg, size_t cap);

/* 1 when id is prefix followed by 1..64 characters of [A-Za-z0-9_-]. */
int gptc_store_id_ok(const char *id, const char *prefix);
/* A fresh random id: prefix + 24 characters of [A-Za-z0-9]. */
void gptc_store_new_id(const char *prefix, char *out, size_t cap);

/* ----- files ---------------------------------------------------------------------------------- */

typedef struct gptc_store_file {
    char id[GPTC_STORE_ID_MAX];
    char purpose[32];
    char filename[256];
    int64_t bytes;
    int64_t created_at;
} gptc_store_file;

/* An upload in progress: a temporary file under DIR/tmp. */
typedef struct gptc_store_upload {
    int fd;
    char path[512];
    int64_t bytes;
    int failed_errno; /* set by gptc_store_upload_write on a write error (ENOSPC ...) */
} gptc_store_upload;

gptc_status gptc_store_upload_begin(gptc_store *st, gptc_store_upload *up /* OUT */, gptc_err *err);
/* Append bytes; -1 (and up->failed_errno) on a write error. */
int gptc_store_upload_write(gptc_store_upload *up, const void *p, size_t n);
/* Drop the temporary file. */
void gptc_store_upload_abort(gptc_store_upload *up);
/* fsync, rename into DIR/files/ under a new id (or f->id when set), fsync the directory, then
 * insert the row. f: purpose and filename in; id, bytes, created_at out. On failure the
 * temporary file is removed and nothing is left behind. GPTC_E_IO with ENOSPC says "disk full". */
gptc_status gptc_store_upload_commit(gptc_store *st, gptc_store_upload *up, gptc_store_file *f,
                                     gptc_err *err);
/* Write bytes as a new file in one go (the same steps as an upload). */
gptc_status gptc_store_file_put(gptc_store *st, const void *p, size_t n, gptc_store_file *f,
                                gptc_err *err);
/* 1 found, 0 not found, -1 error. */
int gptc_store_file_get(gptc_store *st, const char *id, gptc_store_file *out, gptc_err *err);
/* The bytes of a file; OUT: *data (owned, free()), *n. 1 found, 0 not found, -1 error. */
int gptc_store_file_read(gptc_store *st, const char *id, char **data, size_t *n, gptc_err *err);
/* Path of a file's bytes (no check that it exists). */
void gptc_store_file_path(const gptc_store *st, const char *id, char *out, size_t cap);
/* Newest first; after: an id (the page starts past it) or NULL; purpose NULL: any.
 * OUT: *out (owned, free()), *n; *has_more. */
gptc_status gptc_store_file_list(gptc_store *st, const char *after, int limit, const char *purpose,
                                 gptc_store_file **out, int *n, int *has_more, gptc_err *err);
/* 1 deleted, 0 not found, -1 error. */
int gptc_store_file_delete(gptc_store *st, const char *id, gptc_err *err);
/* Register a file whose bytes already lie at DIR/files/ID (a batch's output), idempotent. */
gptc_status gptc_store_file_adopt(gptc_store *st, const gptc_store_file *f, gptc_err *err);

/* ----- batches -------------------------------------------------------------------------------- */

typedef struct gptc_store_batch {
    char id[GPTC_STORE_ID_MAX];
    char endpoint[40];
    char input_file_id[GPTC_STORE_ID_MAX];
    char completion_window[16];
    char status[16]; /* validating in_progress finalizing completed failed expired cancelling
                        cancelled */
    char output_file_id[GPTC_STORE_ID_MAX]; /* "" : none */
    char error_file_id[GPTC_STORE_ID_MAX];
    char *errors;   /* owned JSON text or NULL: {"object":"list","data":[...]} */
    char *metadata; /* owned JSON text or NULL */
    int64_t created_at, in_progress_at, expires_at, finalizing_at, completed_at, failed_at,
        expired_at, cancelling_at, cancelled_at; /* 0: null */
    int64_t total, completed, failed;
} gptc_store_batch;

void gptc_store_batch_clear(gptc_store_batch *b); /* frees errors, metadata */

gptc_status gptc_store_batch_create(gptc_store *st, const gptc_store_batch *b, gptc_err *err);
int gptc_store_batch_get(gptc_store *st, const char *id, gptc_store_batch *out, gptc_err *err);
/* Newest first, as gptc_store_file_list. Free each with gptc_store_batch_clear, then free(). */
gptc_status gptc_store_batch_list(gptc_store *st, const char *after, int limit,
                                  gptc_store_batch **out, int *n, int *has_more, gptc_err *err);
/* Ids of batches in any of the given statuses, oldest first. OUT: *ids (owned, free()). */
gptc_status gptc_store_batch_ids(gptc_store *st, const char *const *statuses, int n_statuses,
                                 char (**ids)[GPTC_STORE_ID_MAX], int *n, gptc_err *err);
/* Move to status `to` (setting its timestamp column `to`_at = now) only when the batch is now in
 * one of `from` (NULL-terminated). 1 moved, 0 not (other status / unknown), -1 error. */
int gptc_store_batch_move(gptc_store *st, const char *id, const char *const *from, const char *to,
                          gptc_err *err);
/* Set a column: "errors" (JSON text), "output_file_id", "error_file_id". */
gptc_status gptc_store_batch_set(gptc_store *st, const char *id, const char *column,
                                 const char *value, gptc_err *err);

/* One input line of a batch. */
typedef struct gptc_store_req {
    int64_t line; /* 0-based line number in the input file */
    char custom_id[GPTC_STORE_ID_MAX * 3];
    char *body; /* owned JSON text */
    int state;  /* GPTC_REQ_* */
} gptc_store_req;
enum { GPTC_REQ_PENDING = 0, GPTC_REQ_OK = 1, GPTC_REQ_FAILED = 2 };

/* Insert the requests and move the batch from validating to in_progress (total = n), in one
 * transaction. 1 done, 0 the batch was no longer validating (cancelled meanwhile). */
int gptc_store_batch_start(gptc_store *st, const char *id, const gptc_store_req *reqs, int n,
                           gptc_err *err);
/* Up to max pending requests (lowest line first) whose line is not in skip[0..n_skip).
 * OUT: *out (free each body, then the array). */
gptc_status gptc_store_req_pending(gptc_store *st, const char *batch_id, int max,
                                   const int64_t *skip, int n_skip, gptc_store_req **out, int *n,
                                   gptc_err *err);
/* Mark a request done (ok or failed) and count it in the batch, in one transaction; a request
 * already done is left alone (returns 0). 1 marked, -1 error. */
int gptc_store_req_finish(gptc_store *st, const char *batch_id, const char *custom_id, int state,
                          gptc_err *err);
/* Recount completed/failed from the request rows. */
gptc_status gptc_store_batch_recount(gptc_store *st, const char *batch_id, gptc_err *err);
void gptc_store_reqs_free(gptc_store_req *r, int n);

/* ----- stored responses (/v1/responses) ------------------------------------------------------- */

/* obj: the response object (JSON text); conv: the whole conversation as chat messages up to and
 * including this response's output (JSON text); input: its input items (JSON text). */
gptc_status gptc_store_response_put(gptc_store *st, const char *id, const char *obj,
                                    const char *conv, const char *input, gptc_err *err);
/* 1 found (*obj, *conv, *input owned, each may be asked for or NULL), 0 not, -1 error. */
int gptc_store_response_get(gptc_store *st, const char *id, char **obj, char **conv, char **input,
                            gptc_err *err);
int gptc_store_response_delete(gptc_store *st, const char *id, gptc_err *err);

/* ----- helpers -------------------------------------------------------------------------------- */

/* Write n bytes to fd, retrying short writes; 0 ok, -1 with errno. */
int gptc_store_write_all(int fd, const void *p, size_t n);
/* fsync the directory holding path (or the directory itself when is_dir). */
int gptc_store_fsync_dir(const char *path);

#endif
