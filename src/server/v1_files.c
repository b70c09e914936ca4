/*
 * v1_files.c — the Files API: POST /v1/files (multipart/form-data: `purpose` batch or
 * user_data, `file`), GET /v1/files (after, limit, purpose, order), GET /v1/files/{id},
 * GET /v1/files/{id}/content, DELETE /v1/files/{id}; OpenAI's object shapes.
 *
 * An upload streams to a temporary file in the data directory as it arrives (libmicrohttpd's
 * multipart parser), and becomes a file only when whole: fsync, rename, fsync of the directory,
 * then the database row (store.c). Over file_max bytes: 413; a full disk: 507; either leaves
 * nothing behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

struct srv_upload {
    struct MHD_PostProcessor *pp;
    gptc_store_upload up;
    int up_open;
    int n_files; /* `file` parts seen */
    char purpose[40];
    int purpose_set;
    char filename[256];
    int over;        /* more than file_max bytes */
    int write_errno; /* a write failed */
    char bad_field[64];
};

json_t *gptc_srv_file_json(const gptc_store_file *f)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:n, s:n}", "id", f->id, "object", "file",
                     "bytes", (json_int_t)f->bytes, "created_at", (json_int_t)f->created_at,
                     "filename", f->filename, "purpose", f->purpose, "status", "processed",
                     "expires_at", "status_details");
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    srv_req *r = cls;
    struct srv_upload *u = r->upload;
    if (!key) return MHD_YES;
    if (strcmp(key, "purpose") == 0) {
        size_t have = off < sizeof u->purpose ? (size_t)off : sizeof u->purpose;
        size_t room = sizeof u->purpose - 1 - (have < sizeof u->purpose ? have : 0);
        if (off + size >= sizeof u->purpose) {
            u->purpose[0] = '?'; /* too long: not a purpose we know */
            u->purpose[1] = 0;
        } else if (size <= room) {
            memcpy(u->purpose + off, data, size);
            u->purpose[off + size] = 0;
        }
        u->purpose_set = 1;
        return MHD_YES;
    }
    if (strcmp(key, "file") == 0) {
        if (off == 0) {
            u->n_files++;
            if (u->n_files > 1) return MHD_YES;
            snprintf(u->filename, sizeof u->filename, "%s", filename ? filename : "upload");
            gptc_err err;
            if (gptc_store_upload_begin(r->srv->store, &u->up, &err)) {
                u->write_errno = EIO;
                return MHD_YES;
            }
            u->up_open = 1;
        }
        if (u->n_files > 1 || !u->up_open || u->over) return MHD_YES;
        if ((size_t)u->up.bytes + size > r->srv->p.file_max) {
            u->over = 1;
            gptc_store_upload_abort(&u->up);
            u->up_open = 0;
            return MHD_YES;
        }
        if (size && gptc_store_upload_write(&u->up, data, size))
            u->write_errno = u->up.failed_errno;
        return MHD_YES;
    }
    if (!u->bad_field[0]) snprintf(u->bad_field, sizeof u->bad_field, "%s", key);
    return MHD_YES;
}

int gptc_srv_upload_begin(srv_req *r)
{
    struct srv_upload *u = calloc(1, sizeof *u);
    if (!u) return -1;
    r->upload = u;
    u->pp = MHD_create_post_processor(r->mhd, 64 * 1024, on_part, r);
    return 0; /* pp NULL: not multipart/form-data (answered at the end) */
}

int gptc_srv_upload_feed(srv_req *r, const char *data, size_t n)
{
    struct srv_upload *u = r->upload;
    if (!u || !u->pp) return 0;
    if (MHD_post_process(u->pp, data, n) != MHD_YES) {
        MHD_destroy_post_processor(u->pp);
        u->pp = NULL;
        snprintf(u->bad_field, sizeof u->bad_field, "%s", "(malformed multipart body)");
    }
    return 0;
}

void gptc_srv_upload_free(srv_req *r)
{
    struct srv_upload *u = r->upload;
    if (!u) return;
    if (u->pp) MHD_destroy_post_processor(u->pp);
    if (u->up_open) gptc_store_upload_abort(&u->up);
    free(u);
    r->upload = NULL;
}

static enum MHD_Result upload_end(srv_req *r)
{
    gptc_server *s = r->srv;
    struct srv_upload *u = r->upload;
    srv_error e;
    if (!u || (!u->pp && !u->bad_field[0])) {
        gptc_srv_fail(&e, 400, "invalid_request", NULL,
                      "POST /v1/files takes a multipart/form-data body with 'purpose' and 'file'");
        return gptc_srv_reply_error(r, &e);
    }
    if (u->pp) {
        MHD_destroy_post_processor(u->pp);
        u->pp = NULL;
    }
    if (u->over) {
        gptc_srv_fail(&e, 413, "file_too_large", "file",
                      "the file is over %zu bytes (the server's cap)", s->p.file_max);
        return gptc_srv_reply_error(r, &e);
    }
    if (u->bad_field[0]) {
        gptc_srv_fail(&e, 400, "invalid_request", u->bad_field, "unknown field '%s' in the upload",
                      u->bad_field);
        return gptc_srv_reply_error(r, &e);
    }
    if (!u->purpose_set) {
        gptc_srv_fail(&e, 400, "missing_required_parameter", "purpose", "'purpose' is required");
        return gptc_srv_reply_error(r, &e);
    }
    if (strcmp(u->purpose, "batch") && strcmp(u->purpose, "user_data")) {
        gptc_srv_fail(&e, 400, "invalid_value", "purpose",
                      "'purpose' must be 'batch' or 'user_data' (got '%.30s')", u->purpose);
        return gptc_srv_reply_error(r, &e);
    }
    if (u->n_files != 1) {
        gptc_srv_fail(&e, 400, u->n_files ? "invalid_value" : "missing_required_parameter", "file",
                      u->n_files ? "send one 'file' per upload" : "'file' is required");
        return gptc_srv_reply_error(r, &e);
    }
    if (u->write_errno) {
        int en = u->write_errno;
        if (u->up_open) gptc_store_upload_abort(&u->up);
        u->up_open = 0;
        if (en == ENOSPC || en == EDQUOT)
            gptc_srv_fail(&e, 507, "insufficient_storage", NULL, "the server's disk is full");
        else
            gptc_srv_fail(&e, 500, "internal_error", NULL, "cannot store the file: %s",
                          strerror(en));
        return gptc_srv_reply_error(r, &e);
    }
    gptc_store_file f = {0};
    snprintf(f.purpose, sizeof f.purpose, "%.31s", u->purpose);
    snprintf(f.filename, sizeof f.filename, "%s", u->filename);
    gptc_err err;
    u->up_open = 0;
    if (gptc_store_upload_commit(s->store, &u->up, &f, &err)) {
        if (strstr(err.msg, "disk full"))
            gptc_srv_fail(&e, 507, "insufficient_storage", NULL, "the server's disk is full");
        else
            gptc_srv_fail(&e, 500, "internal_error", NULL, "cannot store the file: %s", err.msg);
        return gptc_srv_reply_error(r, &e);
    }
    gptc_srv_log(s, "file %s stored: %lld bytes, purpose %s", f.id, (long long)f.bytes, f.purpose);
    return gptc_srv_reply_json(r, 200, gptc_srv_file_json(&f));
}

/* ?limit= (1..max, default def) and ?after= from the query string; -1 with *e on a bad one. */
int gptc_srv_page_args(srv_req *r, int def, int max, int *limit, const char **after, srv_error *e)
{
    *limit = def;
    *after = MHD_lookup_connection_value(r->mhd, MHD_GET_ARGUMENT_KIND, "after");
    if (*after && !**after) *after = NULL;
    const char *l = MHD_lookup_connection_value(r->mhd, MHD_GET_ARGUMENT_KIND, "limit");
    if (l) {
        char *end;
        long v = strtol(l, &end, 10);
        if (end == l || *end || v < 1 || v > max)
            return gptc_srv_fail(e, 400, "invalid_value", "limit", "'limit' must be 1..%d", max);
        *limit = (int)v;
    }
    return 0;
}

enum MHD_Result gptc_srv_ep_files(srv_req *r, const char *sub)
{
    gptc_server *s = r->srv;
    srv_error e;
    gptc_err err;
    int post = strcmp(r->method, "POST") == 0, del = strcmp(r->method, "DELETE") == 0;
    if (!sub) {
        if (post) return upload_end(r);
        int limit;
        const char *after;
        if (gptc_srv_page_args(r, 10000, 10000, &limit, &after, &e))
            return gptc_srv_reply_error(r, &e);
        const char *purpose = MHD_lookup_connection_value(r->mhd, MHD_GET_ARGUMENT_KIND, "purpose");
        const char *order = MHD_lookup_connection_value(r->mhd, MHD_GET_ARGUMENT_KIND, "order");
        if (order && strcmp(order, "desc") != 0) {
            gptc_srv_fail(&e, 400, "invalid_value", "order",
                          "only order=desc (newest first) is served");
            return gptc_srv_reply_error(r, &e);
        }
        gptc_store_file *fs;
        int n, more;
        if (gptc_store_file_list(s->store, after, limit, purpose && *purpose ? purpose : NULL, &fs,
                                 &n, &more, &err)) {
            gptc_srv_fail(&e, 500, "internal_error", NULL, "%s", err.msg);
            return gptc_srv_reply_error(r, &e);
        }
        json_t *data = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(data, gptc_srv_file_json(&fs[i]));
        json_t *res =
            json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", more);
        json_object_set_new(res, "first_id", n ? json_string(fs[0].id) : json_null());
        json_object_set_new(res, "last_id", n ? json_string(fs[n - 1].id) : json_null());
        free(fs);
        return gptc_srv_reply_json(r, 200, res);
    }
    char id[GPTC_STORE_ID_MAX];
    const char *slash = strchr(sub, '/');
    size_t idn = slash ? (size_t)(slash - sub) : strlen(sub);
    int content = slash && strcmp(slash, "/content") == 0;
    if (idn >= sizeof id || (slash && !content)) {
        gptc_srv_fail(&e, 404, "not_found", NULL, "no route for %s %s", r->method, r->path);
        return gptc_srv_reply_error(r, &e);
    }
    memcpy(id, sub, idn);
    id[idn] = 0;
    if ((content && (post || del)) || (!content && post)) {
        gptc_srv_fail(&e, 405, "method_not_allowed", NULL, "%s is not allowed on %s", r->method,
                      r->path);
        return gptc_srv_reply_error(r, &e);
    }
    gptc_store_file f;
    int found = gptc_store_file_get(s->store, id, &f, &err);
    if (found < 0) {
        gptc_srv_fail(&e, 500, "internal_error", NULL, "%s", err.msg);
        return gptc_srv_reply_error(r, &e);
    }
    if (!found) {
        gptc_srv_fail(&e, 404, "not_found", "file_id", "No such File object: %.80s", id);
        return gptc_srv_reply_error(r, &e);
    }
    if (del) {
        int rc = gptc_store_file_delete(s->store, id, &err);
        if (rc < 0) {
            gptc_srv_fail(&e, 500, "internal_error", NULL, "%s", err.msg);
            return gptc_srv_reply_error(r, &e);
        }
        return gptc_srv_reply_json(
            r, 200, json_pack("{s:s, s:s, s:b}", "id", id, "object", "file", "deleted", 1));
    }
    if (!content) return gptc_srv_reply_json(r, 200, gptc_srv_file_json(&f));
    char path[600];
    gptc_store_file_path(s->store, id, path, sizeof path);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        gptc_srv_fail(&e, 500, "internal_error", NULL, "the bytes of %s are missing", id);
        return gptc_srv_reply_error(r, &e);
    }
    int fd = dup(fileno(fp));
    fclose(fp);
    struct MHD_Response *resp = fd >= 0 ? MHD_create_response_from_fd((uint64_t)f.bytes, fd) : NULL;
    if (!resp) {
        if (fd >= 0) close(fd);
        gptc_srv_fail(&e, 500, "internal_error", NULL, "cannot send %s", id);
        return gptc_srv_reply_error(r, &e);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    r->status = 200;
    enum MHD_Result ret = MHD_queue_response(r->mhd, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
