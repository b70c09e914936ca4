/*
 * store.c — SQLite state and file bytes of the data directory (see store.h).
 *
 * Durability: the database runs in WAL mode with synchronous=FULL, so a committed transaction
 * survives kill -9 and power loss. File bytes reach their final name only after fsync of the
 * data and a rename, followed by an fsync of the directory; a crash leaves either the whole file
 * or a temporary in DIR/tmp (removed at the next open). Rows that point to bytes are inserted
 * after the bytes are in place; bytes without a row are swept by the owner (the server sweeps
 * after it has recovered its batches).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base.h"
#include "store/store.h"

struct gptc_store {
    char dir[400];
    sqlite3 *db;
    int lock_fd;
    pthread_mutex_t mu;
};

/* ----- helpers -------------------------------------------------------------------------------- */

int gptc_store_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int gptc_store_fsync_dir(const char *path)
{
    char d[600];
    snprintf(d, sizeof d, "%s", path);
    struct stat sb;
    if (stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        char *slash = strrchr(d, '/');
        if (slash == d)
            d[1] = 0;
        else if (slash)
            *slash = 0;
        else
            snprintf(d, sizeof d, ".");
    }
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int gptc_store_id_ok(const char *id, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (!id || strncmp(id, prefix, pl) != 0) return 0;
    size_t n = 0;
    for (const char *p = id + pl; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

void gptc_store_new_id(const char *prefix, char *out, size_t cap)
{
    static const char k_al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[24];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
        for (size_t i = 0; i < sizeof r; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r[i] = (unsigned char)x;
        }
    }
    char s[25];
    for (size_t i = 0; i < 24; i++)
        s[i] = k_al[r[i] % 62];
    s[24] = 0;
    snprintf(out, cap, "%s%s", prefix, s);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static gptc_status dberr(gptc_store *st, gptc_err *err, const char *what)
{
    return gptc_fail(err, GPTC_E_IO, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int exec(gptc_store *st, const char *sql, gptc_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        gptc_fail(err, GPTC_E_IO, "store: %s", msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *prep(gptc_store *st, const char *sql, gptc_err *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        dberr(st, err, "prepare");
        return NULL;
    }
    return s;
}

static void text_col(sqlite3_stmt *s, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static char *dup_col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

/* One statement whose only parameter is id, under the lock. row: called on the result row of a
 * SELECT; NULL for a DELETE. Returns 1 (the row was found, or rows were deleted), 0 (none),
 * -1 with err set on a database error (what names the operation in the message). */
static int by_id(gptc_store *st, const char *sql, const char *id,
                 void (*row)(sqlite3_stmt *, void *), void *arg, const char *what, gptc_err *err)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, sql, err);
    int res = -1;
    if (s) {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        if (row && rc == SQLITE_ROW) {
            row(s, arg);
            res = 1;
        } else if (rc == SQLITE_DONE) {
            res = row ? 0 : sqlite3_changes(st->db) > 0;
        } else {
            dberr(st, err, what);
        }
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    return res;
}

/* ----- open: directory, lock, database, migrations ------------------------------------------ */

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* Schema migrations: k_migrations[v] brings version v to v + 1. */
static const char *const k_migrations[GPTC_STORE_SCHEMA] = {
    "CREATE TABLE files(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,"
    " purpose TEXT NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE batches(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,"
    " endpoint TEXT NOT NULL, input_file_id TEXT NOT NULL, completion_window TEXT NOT NULL,"
    " status TEXT NOT NULL, output_file_id TEXT, error_file_id TEXT, errors TEXT, metadata TEXT,"
    " created_at INTEGER NOT NULL, in_progress_at INTEGER, expires_at INTEGER,"
    " finalizing_at INTEGER, completed_at INTEGER, failed_at INTEGER, expired_at INTEGER,"
    " cancelling_at INTEGER, cancelled_at INTEGER,"
    " total INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0,"
    " failed INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE batch_requests(batch_id TEXT NOT NULL, line INTEGER NOT NULL,"
    " custom_id TEXT NOT NULL, body TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(batch_id, line));"
    "CREATE UNIQUE INDEX batch_requests_cid ON batch_requests(batch_id, custom_id);"
    "CREATE TABLE responses(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,"
    " obj TEXT NOT NULL, conv TEXT NOT NULL, input TEXT NOT NULL);",
};

static gptc_status migrate(gptc_store *st, const char *dbpath, gptc_err *err)
{
    sqlite3_stmt *s = NULL;
    /* the first read of the file: SQLITE_NOTADB for anything that is not a database */
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int code = sqlite3_errcode(st->db);
        sqlite3_finalize(s);
        if (code == SQLITE_NOTADB)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "store: %s is not an SQLite database (move it away or choose another "
                             "--data-dir)",
                             dbpath);
        return gptc_fail(err, GPTC_E_IO, "store: cannot read %s: %s", dbpath,
                         sqlite3_errmsg(st->db));
    }
    int v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (v > GPTC_STORE_SCHEMA)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "store: %s has schema version %d, newer than this gptc knows (%d): it "
                         "was written by a newer gptc; upgrade gptc or choose another --data-dir",
                         dbpath, v, GPTC_STORE_SCHEMA);
    if (v < 0)
        return gptc_fail(err, GPTC_E_FORMAT, "store: %s has a bad schema version %d", dbpath, v);
    if (exec(st, "PRAGMA journal_mode=WAL", err)) return err->status;
    if (exec(st, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", err)) return err->status;
    while (v < GPTC_STORE_SCHEMA) {
        char sql[64];
        if (exec(st, "BEGIN IMMEDIATE", err)) return err->status;
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
        if (exec(st, k_migrations[v], err) || exec(st, sql, err)) {
            gptc_err e2;
            exec(st, "ROLLBACK", &e2);
            return gptc_fail(err, GPTC_E_IO, "store: migrating %s to schema %d: %s", dbpath, v + 1,
                             err->msg);
        }
        if (exec(st, "COMMIT", err)) return err->status;
        v++;
    }
    return GPTC_OK;
}

static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

gptc_status gptc_store_open(const char *dir, gptc_store **out, gptc_err *err)
{
    *out = NULL;
    if (!dir || !*dir) return gptc_fail(err, GPTC_E_INVALID, "store: no data directory given");
    if (strlen(dir) > 300)
        return gptc_fail(err, GPTC_E_INVALID, "store: data directory path too long");
    if (mkdir_p(dir, 0700) != 0)
        return gptc_fail(err, GPTC_E_IO, "store: cannot create %s: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return gptc_fail(err, GPTC_E_IO, "store: %s is not a directory", dir);
    gptc_store *st = calloc(1, sizeof *st);
    if (!st) return gptc_fail(err, GPTC_E_NOMEM, "store: out of memory");
    snprintf(st->dir, sizeof st->dir, "%s", dir);
    pthread_mutex_init(&st->mu, NULL);
    st->lock_fd = -1;
    char p[600];
    gptc_status rc = GPTC_OK;
    static const char *const k_sub[] = {"files", "batches", "tmp"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, k_sub[i]);
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = gptc_fail(err, GPTC_E_IO, "store: cannot create %s: %s", p, strerror(errno));
            goto fail;
        }
    }
    snprintf(p, sizeof p, "%s/lock", dir);
    st->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->lock_fd < 0) {
        rc = gptc_fail(err, GPTC_E_IO, "store: cannot open %s: %s", p, strerror(errno));
        goto fail;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = gptc_fail(err, GPTC_E_IO,
                       "store: %s is in use by another gptc process (give each server its own "
                       "--data-dir)",
                       dir);
        goto fail;
    }
    snprintf(p, sizeof p, "%s/tmp", dir);
    clear_dir(p);
    snprintf(p, sizeof p, "%s/gptc.db", dir);
    if (sqlite3_open_v2(p, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = gptc_fail(err, GPTC_E_IO, "store: cannot open %s: %s", p,
                       st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if ((rc = migrate(st, p, err))) goto fail;
    *out = st;
    return GPTC_OK;
fail:
    gptc_store_close(st);
    return rc;
}

void gptc_store_close(gptc_store *st)
{
    if (!st) return;
    if (st->db) sqlite3_close_v2(st->db);
    if (st->lock_fd >= 0) close(st->lock_fd);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

const char *gptc_store_dir(const gptc_store *st)
{
    return st->dir;
}

int gptc_store_integrity(gptc_store *st, char *msg, size_t cap)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = NULL;
    int bad = 1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        text_col(s, 0, msg, cap);
        bad = strcmp(msg, "ok") != 0;
    } else {
        snprintf(msg, cap, "%s", sqlite3_errmsg(st->db));
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->mu);
    return bad;
}

/* ----- files ---------------------------------------------------------------------------------- */

void gptc_store_file_path(const gptc_store *st, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/files/%s", st->dir, id);
}

gptc_status gptc_store_upload_begin(gptc_store *st, gptc_store_upload *up, gptc_err *err)
{
    memset(up, 0, sizeof *up);
    char id[64];
    gptc_store_new_id("up-", id, sizeof id);
    snprintf(up->path, sizeof up->path, "%s/tmp/%s", st->dir, id);
    up->fd = open(up->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (up->fd < 0)
        return gptc_fail(err, GPTC_E_IO, "store: cannot create %s: %s", up->path, strerror(errno));
    return GPTC_OK;
}

int gptc_store_upload_write(gptc_store_upload *up, const void *p, size_t n)
{
    if (up->failed_errno) return -1;
    if (gptc_store_write_all(up->fd, p, n) != 0) {
        up->failed_errno = errno ? errno : EIO;
        return -1;
    }
    up->bytes += (int64_t)n;
    return 0;
}

void gptc_store_upload_abort(gptc_store_upload *up)
{
    if (up->fd >= 0) close(up->fd);
    up->fd = -1;
    if (up->path[0]) unlink(up->path);
    up->path[0] = 0;
}

static gptc_status io_fail(gptc_err *err, int e, const char *what)
{
    if (e == ENOSPC || e == EDQUOT)
        return gptc_fail(err, GPTC_E_IO, "store: disk full: %s: %s", what, strerror(e));
    return gptc_fail(err, GPTC_E_IO, "store: %s: %s", what, strerror(e));
}

static int insert_file(gptc_store *st, const gptc_store_file *f, int or_ignore, gptc_err *err)
{
    sqlite3_stmt *s = prep(st,
                           or_ignore ? "INSERT OR IGNORE INTO files(id, purpose, filename, bytes, "
                                       "created_at) VALUES(?,?,?,?,?)"
                                     : "INSERT INTO files(id, purpose, filename, bytes, "
                                       "created_at) VALUES(?,?,?,?,?)",
                           err);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, f->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, f->purpose, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, f->filename, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, f->bytes);
    sqlite3_bind_int64(s, 5, f->created_at);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        dberr(st, err, "insert file");
        return -1;
    }
    return 0;
}

gptc_status gptc_store_upload_commit(gptc_store *st, gptc_store_upload *up, gptc_store_file *f,
                                     gptc_err *err)
{
    if (up->failed_errno) {
        int e = up->failed_errno;
        gptc_store_upload_abort(up);
        return io_fail(err, e, "writing the upload");
    }
    if (fsync(up->fd) != 0) {
        int e = errno;
        gptc_store_upload_abort(up);
        return io_fail(err, e, "fsync of the upload");
    }
    close(up->fd);
    up->fd = -1;
    if (!f->id[0]) gptc_store_new_id("file-", f->id, sizeof f->id);
    f->bytes = up->bytes;
    f->created_at = now_s();
    char dst[600];
    gptc_store_file_path(st, f->id, dst, sizeof dst);
    if (rename(up->path, dst) != 0) {
        int e = errno;
        gptc_store_upload_abort(up);
        return io_fail(err, e, "rename of the upload");
    }
    up->path[0] = 0;
    if (gptc_store_fsync_dir(dst) != 0) {
        int e = errno;
        unlink(dst);
        return io_fail(err, e, "fsync of the files directory");
    }
    pthread_mutex_lock(&st->mu);
    int rc = insert_file(st, f, 0, err);
    pthread_mutex_unlock(&st->mu);
    if (rc) {
        unlink(dst);
        return err->status;
    }
    return GPTC_OK;
}

gptc_status gptc_store_file_put(gptc_store *st, const void *p, size_t n, gptc_store_file *f,
                                gptc_err *err)
{
    gptc_store_upload up;
    gptc_status rc = gptc_store_upload_begin(st, &up, err);
    if (rc) return rc;
    gptc_store_upload_write(&up, p, n);
    return gptc_store_upload_commit(st, &up, f, err);
}

gptc_status gptc_store_file_adopt(gptc_store *st, const gptc_store_file *f, gptc_err *err)
{
    pthread_mutex_lock(&st->mu);
    int rc = insert_file(st, f, 1, err);
    pthread_mutex_unlock(&st->mu);
    return rc ? err->status : GPTC_OK;
}

/* a row's columns into a gptc_store_file (the callback of by_id) */
static void file_row(sqlite3_stmt *s, void *arg)
{
    gptc_store_file *f = arg;
    text_col(s, 0, f->id, sizeof f->id);
    text_col(s, 1, f->purpose, sizeof f->purpose);
    text_col(s, 2, f->filename, sizeof f->filename);
    f->bytes = sqlite3_column_int64(s, 3);
    f->created_at = sqlite3_column_int64(s, 4);
}

int gptc_store_file_get(gptc_store *st, const char *id, gptc_store_file *out, gptc_err *err)
{
    if (!gptc_store_id_ok(id, "file-")) return 0;
    return by_id(st, "SELECT id, purpose, filename, bytes, created_at FROM files WHERE id=?", id,
                 file_row, out, "get file", err);
}

int gptc_store_file_read(gptc_store *st, const char *id, char **data, size_t *n, gptc_err *err)
{
    gptc_store_file f;
    int found = gptc_store_file_get(st, id, &f, err);
    if (found <= 0) return found;
    char p[600];
    gptc_store_file_path(st, id, p, sizeof p);
    FILE *fp = fopen(p, "rb");
    if (!fp) {
        gptc_fail(err, GPTC_E_IO, "store: cannot open %s: %s", p, strerror(errno));
        return -1;
    }
    char *buf = malloc((size_t)f.bytes + 1);
    size_t got = buf ? fread(buf, 1, (size_t)f.bytes, fp) : 0;
    fclose(fp);
    if (!buf || got != (size_t)f.bytes) {
        free(buf);
        gptc_fail(err, GPTC_E_IO, "store: cannot read %s", p);
        return -1;
    }
    buf[got] = 0;
    *data = buf;
    *n = got;
    return 1;
}

gptc_status gptc_store_file_list(gptc_store *st, const char *after, int limit, const char *purpose,
                                 gptc_store_file **out, int *n, int *has_more, gptc_err *err)
{
    *out = NULL;
    *n = 0;
    *has_more = 0;
    if (limit < 1) limit = 1;
    gptc_store_file *arr = calloc((size_t)limit + 1, sizeof *arr);
    if (!arr) return gptc_fail(err, GPTC_E_NOMEM, "store: out of memory");
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st,
                           "SELECT id, purpose, filename, bytes, created_at FROM files WHERE "
                           "(?1 IS NULL OR seq < (SELECT seq FROM files WHERE id=?1)) AND "
                           "(?2 IS NULL OR purpose=?2) ORDER BY seq DESC LIMIT ?3",
                           err);
    gptc_status rc = GPTC_OK;
    if (!s) {
        rc = err->status;
    } else {
        sqlite3_bind_text(s, 1, after, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, purpose, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, limit + 1);
        int k = 0, r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW)
            file_row(s, &arr[k++]);
        if (r != SQLITE_DONE) rc = dberr(st, err, "list files");
        *has_more = k > limit;
        *n = k > limit ? limit : k;
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    if (rc) {
        free(arr);
        *n = 0;
        return rc;
    }
    *out = arr;
    return GPTC_OK;
}

int gptc_store_file_delete(gptc_store *st, const char *id, gptc_err *err)
{
    if (!gptc_store_id_ok(id, "file-")) return 0;
    int res = by_id(st, "DELETE FROM files WHERE id=?", id, NULL, NULL, "delete file", err);
    if (res == 1) {
        char p[600];
        gptc_store_file_path(st, id, p, sizeof p);
        unlink(p);
        gptc_store_fsync_dir(p);
    }
    return res;
}

/* ----- batches -------------------------------------------------------------------------------- */

void gptc_store_batch_clear(gptc_store_batch *b)
{
    free(b->errors);
    free(b->metadata);
    b->errors = b->metadata = NULL;
}

static void bind_opt(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

gptc_status gptc_store_batch_create(gptc_store *st, const gptc_store_batch *b, gptc_err *err)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st,
                           "INSERT INTO batches(id, endpoint, input_file_id, completion_window, "
                           "status, metadata, created_at, expires_at) VALUES(?,?,?,?,?,?,?,?)",
                           err);
    gptc_status rc = GPTC_OK;
    if (!s) {
        rc = err->status;
    } else {
        sqlite3_bind_text(s, 1, b->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, b->endpoint, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, b->input_file_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, b->completion_window, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, b->status, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, b->metadata, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 7, b->created_at);
        bind_opt(s, 8, b->expires_at);
        if (sqlite3_step(s) != SQLITE_DONE) rc = dberr(st, err, "insert batch");
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

#define BATCH_COLS                                                                                 \
    "id, endpoint, input_file_id, completion_window, status, output_file_id, error_file_id, "      \
    "errors, metadata, created_at, in_progress_at, expires_at, finalizing_at, completed_at, "      \
    "failed_at, expired_at, cancelling_at, cancelled_at, total, completed, failed"

/* a row's columns into a gptc_store_batch (the callback of by_id) */
static void batch_row(sqlite3_stmt *s, void *arg)
{
    gptc_store_batch *b = arg;
    memset(b, 0, sizeof *b);
    text_col(s, 0, b->id, sizeof b->id);
    text_col(s, 1, b->endpoint, sizeof b->endpoint);
    text_col(s, 2, b->input_file_id, sizeof b->input_file_id);
    text_col(s, 3, b->completion_window, sizeof b->completion_window);
    text_col(s, 4, b->status, sizeof b->status);
    text_col(s, 5, b->output_file_id, sizeof b->output_file_id);
    text_col(s, 6, b->error_file_id, sizeof b->error_file_id);
    b->errors = dup_col(s, 7);
    b->metadata = dup_col(s, 8);
    int64_t *t[] = {&b->created_at,   &b->in_progress_at, &b->expires_at, &b->finalizing_at,
                    &b->completed_at, &b->failed_at,      &b->expired_at, &b->cancelling_at,
                    &b->cancelled_at, &b->total,          &b->completed,  &b->failed};
    for (int i = 0; i < 12; i++)
        *t[i] = sqlite3_column_int64(s, 9 + i);
}

int gptc_store_batch_get(gptc_store *st, const char *id, gptc_store_batch *out, gptc_err *err)
{
    if (!gptc_store_id_ok(id, "batch_")) return 0;
    return by_id(st, "SELECT " BATCH_COLS " FROM batches WHERE id=?", id, batch_row, out,
                 "get batch", err);
}

gptc_status gptc_store_batch_list(gptc_store *st, const char *after, int limit,
                                  gptc_store_batch **out, int *n, int *has_more, gptc_err *err)
{
    *out = NULL;
    *n = 0;
    *has_more = 0;
    if (limit < 1) limit = 1;
    gptc_store_batch *arr = calloc((size_t)limit + 1, sizeof *arr);
    if (!arr) return gptc_fail(err, GPTC_E_NOMEM, "store: out of memory");
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st,
                           "SELECT " BATCH_COLS " FROM batches WHERE (?1 IS NULL OR seq < "
                           "(SELECT seq FROM batches WHERE id=?1)) ORDER BY seq DESC LIMIT ?2",
                           err);
    gptc_status rc = GPTC_OK;
    int k = 0;
    if (!s) {
        rc = err->status;
    } else {
        sqlite3_bind_text(s, 1, after, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, limit + 1);
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW)
            batch_row(s, &arr[k++]);
        if (r != SQLITE_DONE) rc = dberr(st, err, "list batches");
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    if (k > limit) {
        gptc_store_batch_clear(&arr[limit]);
        *has_more = 1;
        k = limit;
    }
    if (rc) {
        for (int i = 0; i < k; i++)
            gptc_store_batch_clear(&arr[i]);
        free(arr);
        return rc;
    }
    *out = arr;
    *n = k;
    return GPTC_OK;
}

gptc_status gptc_store_batch_ids(gptc_store *st, const char *const *statuses, int n_statuses,
                                 char (**ids)[GPTC_STORE_ID_MAX], int *n, gptc_err *err)
{
    *ids = NULL;
    *n = 0;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, "SELECT id, status FROM batches ORDER BY seq", err);
    gptc_status rc = GPTC_OK;
    int cap = 0;
    if (!s) {
        rc = err->status;
    } else {
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            const char *status = (const char *)sqlite3_column_text(s, 1);
            int want = 0;
            for (int i = 0; i < n_statuses; i++)
                want |= status && strcmp(status, statuses[i]) == 0;
            if (!want) continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 8;
                void *p = realloc(*ids, (size_t)cap * sizeof **ids);
                if (!p) {
                    rc = gptc_fail(err, GPTC_E_NOMEM, "store: out of memory");
                    break;
                }
                *ids = p;
            }
            text_col(s, 0, (*ids)[*n], GPTC_STORE_ID_MAX);
            (*n)++;
        }
        if (!rc && r != SQLITE_DONE) rc = dberr(st, err, "list batch ids");
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

static int is_status(const char *s)
{
    static const char *const k[] = {"validating", "in_progress", "finalizing", "completed",
                                    "failed",     "expired",     "cancelling", "cancelled"};
    for (int i = 0; i < 8; i++)
        if (strcmp(s, k[i]) == 0) return 1;
    return 0;
}

int gptc_store_batch_move(gptc_store *st, const char *id, const char *const *from, const char *to,
                          gptc_err *err)
{
    if (!is_status(to)) {
        gptc_fail(err, GPTC_E_INVALID, "store: unknown batch status '%s'", to);
        return -1;
    }
    char sql[512];
    int n =
        snprintf(sql, sizeof sql, "UPDATE batches SET status=?1, %s_at=?2 WHERE id=?3 AND (0", to);
    for (int i = 0; from[i] && n < 400; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, " OR status=?%d", 4 + i);
    snprintf(sql + n, sizeof sql - (size_t)n, ")");
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, sql, err);
    int res = -1;
    if (s) {
        sqlite3_bind_text(s, 1, to, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now_s());
        sqlite3_bind_text(s, 3, id, -1, SQLITE_STATIC);
        for (int i = 0; from[i]; i++)
            sqlite3_bind_text(s, 4 + i, from[i], -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_DONE)
            res = sqlite3_changes(st->db) > 0;
        else
            dberr(st, err, "update batch");
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    return res;
}

gptc_status gptc_store_batch_set(gptc_store *st, const char *id, const char *column,
                                 const char *value, gptc_err *err)
{
    if (strcmp(column, "errors") && strcmp(column, "output_file_id") &&
        strcmp(column, "error_file_id"))
        return gptc_fail(err, GPTC_E_INVALID, "store: cannot set batch column '%s'", column);
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE batches SET %s=? WHERE id=?", column);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st, sql, err);
    gptc_status rc = GPTC_OK;
    if (!s) {
        rc = err->status;
    } else {
        sqlite3_bind_text(s, 1, value, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) rc = dberr(st, err, "update batch");
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int gptc_store_batch_start(gptc_store *st, const char *id, const gptc_store_req *reqs, int n,
                           gptc_err *err)
{
    pthread_mutex_lock(&st->mu);
    int res = -1;
    sqlite3_stmt *s = NULL, *u = NULL;
    if (exec(st, "BEGIN IMMEDIATE", err)) goto out;
    u = prep(st,
             "UPDATE batches SET status='in_progress', in_progress_at=?, total=?, completed=0, "
             "failed=0 WHERE id=? AND status='validating'",
             err);
    if (!u) goto rollback;
    sqlite3_bind_int64(u, 1, now_s());
    sqlite3_bind_int64(u, 2, n);
    sqlite3_bind_text(u, 3, id, -1, SQLITE_STATIC);
    if (sqlite3_step(u) != SQLITE_DONE) {
        dberr(st, err, "start batch");
        goto rollback;
    }
    if (sqlite3_changes(st->db) == 0) {
        res = 0;
        goto rollback;
    }
    s = prep(st, "INSERT INTO batch_requests(batch_id, line, custom_id, body) VALUES(?,?,?,?)",
             err);
    if (!s) goto rollback;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, reqs[i].line);
        sqlite3_bind_text(s, 3, reqs[i].custom_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, reqs[i].body, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            dberr(st, err, "insert batch request");
            goto rollback;
        }
    }
    if (exec(st, "COMMIT", err)) goto rollback;
    res = 1;
    goto out;
rollback:;
    gptc_err e2;
    exec(st, "ROLLBACK", &e2);
out:
    sqlite3_finalize(s);
    sqlite3_finalize(u);
    pthread_mutex_unlock(&st->mu);
    return res;
}

gptc_status gptc_store_req_pending(gptc_store *st, const char *batch_id, int max,
                                   const int64_t *skip, int n_skip, gptc_store_req **out, int *n,
                                   gptc_err *err)
{
    *out = NULL;
    *n = 0;
    if (max < 1) return GPTC_OK;
    gptc_store_req *arr = calloc((size_t)max, sizeof *arr);
    if (!arr) return gptc_fail(err, GPTC_E_NOMEM, "store: out of memory");
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st,
                           "SELECT line, custom_id, body FROM batch_requests WHERE batch_id=? AND "
                           "state=0 ORDER BY line LIMIT ?",
                           err);
    gptc_status rc = GPTC_OK;
    int k = 0;
    if (!s) {
        rc = err->status;
    } else {
        sqlite3_bind_text(s, 1, batch_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, max + n_skip);
        int r;
        while (k < max && (r = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t line = sqlite3_column_int64(s, 0);
            int skipped = 0;
            for (int i = 0; i < n_skip; i++)
                skipped |= skip[i] == line;
            if (skipped) continue;
            arr[k].line = line;
            text_col(s, 1, arr[k].custom_id, sizeof arr[k].custom_id);
            arr[k].body = dup_col(s, 2);
            k++;
        }
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    if (rc) {
        gptc_store_reqs_free(arr, k);
        return rc;
    }
    *out = arr;
    *n = k;
    return GPTC_OK;
}

int gptc_store_req_finish(gptc_store *st, const char *batch_id, const char *custom_id, int state,
                          gptc_err *err)
{
    pthread_mutex_lock(&st->mu);
    int res = -1;
    sqlite3_stmt *s = NULL, *u = NULL;
    if (exec(st, "BEGIN IMMEDIATE", err)) goto out;
    s = prep(st, "UPDATE batch_requests SET state=? WHERE batch_id=? AND custom_id=? AND state=0",
             err);
    if (!s) goto rollback;
    sqlite3_bind_int(s, 1, state);
    sqlite3_bind_text(s, 2, batch_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, custom_id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) {
        dberr(st, err, "finish request");
        goto rollback;
    }
    if (sqlite3_changes(st->db) == 0) {
        res = 0;
        goto rollback;
    }
    u = prep(st,
             state == GPTC_REQ_OK ? "UPDATE batches SET completed=completed+1 WHERE id=?"
                                  : "UPDATE batches SET failed=failed+1 WHERE id=?",
             err);
    if (!u) goto rollback;
    sqlite3_bind_text(u, 1, batch_id, -1, SQLITE_STATIC);
    if (sqlite3_step(u) != SQLITE_DONE) {
        dberr(st, err, "count request");
        goto rollback;
    }
    if (exec(st, "COMMIT", err)) goto rollback;
    res = 1;
    goto out;
rollback:;
    gptc_err e2;
    exec(st, "ROLLBACK", &e2);
out:
    sqlite3_finalize(s);
    sqlite3_finalize(u);
    pthread_mutex_unlock(&st->mu);
    return res;
}

gptc_status gptc_store_batch_recount(gptc_store *st, const char *batch_id, gptc_err *err)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = prep(st,
                           "UPDATE batches SET completed=(SELECT count(*) FROM batch_requests "
                           "WHERE batch_id=?1 AND state=1), failed=(SELECT count(*) FROM "
                           "batch_requests WHERE batch_id=?1 AND state=2) WHERE id=?1",
                           err);
    gptc_status rc = GPTC_OK;
    if (!s) {
        rc = err->status;
    } else {
        sqlite3_bind_text(s, 1, batch_id, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) rc = dberr(st, err, "recount batch");
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void gptc_store_reqs_free(gptc_store_req *r, int n)
{
    if (!r) return;
    for (int i = 0; i < n; i++)
        free(r[i].body);
    free(r);
}

/* ----- responses ------------------------------------------------------------------------------ */

gptc_status gptc_store_response_put(gptc_store *st, const char *id, const char *obj,
                                    const char *conv, const char *input, gptc_err *err)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s =
        prep(st, "INSERT OR REPLACE INTO responses(id, obj, conv, input) VALUES(?,?,?,?)", err);
    gptc_status rc = GPTC_OK;
    if (!s) {
        rc = err->status;
    } else {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, obj, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, conv, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, input, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) rc = dberr(st, err, "insert response");
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

typedef struct response_cols {
    char **obj, **conv, **input;
} response_cols;

static void response_row(sqlite3_stmt *s, void *arg)
{
    response_cols *c = arg;
    if (c->obj) *c->obj = dup_col(s, 0);
    if (c->conv) *c->conv = dup_col(s, 1);
    if (c->input) *c->input = dup_col(s, 2);
}

int gptc_store_response_get(gptc_store *st, const char *id, char **obj, char **conv, char **input,
                            gptc_err *err)
{
    if (!gptc_store_id_ok(id, "resp_")) return 0;
    response_cols c = {obj, conv, input};
    return by_id(st, "SELECT obj, conv, input FROM responses WHERE id=?", id, response_row, &c,
                 "get response", err);
}

int gptc_store_response_delete(gptc_store *st, const char *id, gptc_err *err)
{
    if (!gptc_store_id_ok(id, "resp_")) return 0;
    return by_id(st, "DELETE FROM responses WHERE id=?", id, NULL, NULL, "delete response", err);
}
