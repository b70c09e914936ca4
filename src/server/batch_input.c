/*
 * batch_input.c — validation of a Batch API input file (JSONL), as OpenAI does it at batch
 * creation: each line a JSON object {"custom_id": string, "method": "POST", "url": the batch's
 * endpoint, "body": object}; custom_ids unique; every body names the same model (ours); at most
 * max_lines lines of at most max_line bytes. Every bad line is reported with its 1-based number
 * in OpenAI's error shape {"code", "message", "param", "line"}; a file with any bad line is
 * refused as a whole (the batch fails), as OpenAI does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "server/srv.h"

#define MAX_ERRORS 100

static void add_error(json_t *errors, const char *code, const char *param, long line,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_error(json_t *errors, const char *code, const char *param, long line,
                      const char *fmt, ...)
{
    if (json_array_size(errors) >= MAX_ERRORS) return;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(code));
    json_object_set_new(e, "message", gptc_srv_jstring_lossy(msg, strlen(msg)));
    json_object_set_new(e, "param", param ? json_string(param) : json_null());
    json_object_set_new(e, "line", line > 0 ? json_integer(line) : json_null());
    json_array_append_new(errors, e);
}

int gptc_srv_batch_parse_line(const char *p, size_t n, const char *endpoint, const char *model,
                              char *custom_id, size_t cid_cap, json_t **body_out, const char **code,
                              char *msg, size_t msg_cap, const char **param)
{
    *body_out = NULL;
    *param = NULL;
    json_error_t jerr;
    json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        *code = "invalid_json_line";
        snprintf(msg, msg_cap, "this line is not valid JSON: %s", jerr.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(o)) {
        *code = "invalid_json_line";
        snprintf(msg, msg_cap, "this line is not a JSON object");
        goto out;
    }
    const json_t *cid = json_object_get(o, "custom_id"), *method = json_object_get(o, "method"),
                 *url = json_object_get(o, "url"), *body = json_object_get(o, "body");
    if (!json_is_string(cid) || json_string_length(cid) == 0) {
        *code = cid ? "invalid_value" : "missing_required_parameter";
        *param = "custom_id";
        snprintf(msg, msg_cap, "'custom_id' must be a non-empty string");
        goto out;
    }
    if (json_string_length(cid) >= cid_cap || memchr(json_string_value(cid), 0, 1)) {
        *code = "invalid_value";
        *param = "custom_id";
        snprintf(msg, msg_cap, "'custom_id' is longer than %zu bytes", cid_cap - 1);
        goto out;
    }
    if (!json_is_string(method) || strcmp(json_string_value(method), "POST") != 0) {
        *code = "invalid_method";
        *param = "method";
        snprintf(msg, msg_cap, "'method' must be \"POST\"");
        goto out;
    }
    if (!json_is_string(url) || strcmp(json_string_value(url), endpoint) != 0) {
        *code = "invalid_url";
        *param = "url";
        snprintf(msg, msg_cap, "'url' must be the batch's endpoint \"%s\"", endpoint);
        goto out;
    }
    if (!json_is_object(body)) {
        *code = body ? "invalid_value" : "missing_required_parameter";
        *param = "body";
        snprintf(msg, msg_cap, "'body' must be an object (the request to %s)", endpoint);
        goto out;
    }
    const json_t *m = json_object_get(body, "model");
    if (!json_is_string(m)) {
        *code = "missing_required_parameter";
        *param = "body.model";
        snprintf(msg, msg_cap, "'body.model' must name the model");
        goto out;
    }
    if (model && strcmp(json_string_value(m), model) != 0) {
        *code = "model_not_found";
        *param = "body.model";
        snprintf(msg, msg_cap, "the model '%.60s' is not served here (this server serves '%.60s')",
                 json_string_value(m), model);
        goto out;
    }
    const json_t *stream = json_object_get(body, "stream");
    if (json_is_true(stream)) {
        *code = "invalid_value";
        *param = "body.stream";
        snprintf(msg, msg_cap, "batch requests cannot stream");
        goto out;
    }
    snprintf(custom_id, cid_cap, "%s", json_string_value(cid));
    *body_out = json_incref(GPTC_UNCONST(json_t *, body));
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* Custom ids seen so far: an open-addressing hash set of string copies. */
typedef struct cid_set {
    char **slot;
    size_t cap, n;
} cid_set;

static uint64_t hash_str(const char *s)
{
    return gptc_fnv1a64(GPTC_FNV64_INIT, s, strlen(s));
}

/* 1 added, 0 already there, -1 out of memory. */
static int cid_add(cid_set *set, const char *s)
{
    if ((set->n + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 256;
        char **slot = calloc(cap, sizeof *slot);
        if (!slot) return -1;
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->slot[i]) continue;
            size_t k = hash_str(set->slot[i]) & (cap - 1);
            while (slot[k])
                k = (k + 1) & (cap - 1);
            slot[k] = set->slot[i];
        }
        free(set->slot);
        set->slot = slot;
        set->cap = cap;
    }
    size_t k = hash_str(s) & (set->cap - 1);
    while (set->slot[k]) {
        if (strcmp(set->slot[k], s) == 0) return 0;
        k = (k + 1) & (set->cap - 1);
    }
    set->slot[k] = strdup(s);
    if (!set->slot[k]) return -1;
    set->n++;
    return 1;
}

static void cid_free(cid_set *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->slot[i]);
    free(set->slot);
}

int gptc_srv_batch_validate(const char *data, size_t n, const char *endpoint, const char *model,
                            int max_lines, size_t max_line, gptc_store_req **reqs_out, int *n_out,
                            json_t *errors)
{
    *reqs_out = NULL;
    *n_out = 0;
    gptc_store_req *reqs = NULL;
    int n_reqs = 0, cap = 0;
    cid_set seen = {0};
    long line = 0;
    int oom = 0;
    char first_model[256] = "";
    const char *p = data, *end = data + n;
    while (p < end && !oom) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        size_t len = (size_t)(le - p);
        const char *lp = p;
        p = nl ? nl + 1 : end;
        if (len && lp[len - 1] == '\r') len--;
        int blank = 1;
        for (size_t i = 0; i < len && blank; i++)
            blank = lp[i] == ' ' || lp[i] == '\t';
        if (blank) continue; /* empty lines (the final newline's) are no requests */
        if (n_reqs >= max_lines) {
            add_error(errors, "too_many_requests", NULL, line,
                      "the file has more than %d requests (the limit of one batch)", max_lines);
            break;
        }
        if (len > max_line) {
            add_error(errors, "line_too_long", NULL, line,
                      "this line is %zu bytes; the limit is %zu", len, max_line);
            continue;
        }
        char cid[GPTC_STORE_ID_MAX * 3], msg[256];
        const char *code, *param;
        json_t *body;
        if (gptc_srv_batch_parse_line(lp, len, endpoint, model, cid, sizeof cid, &body, &code, msg,
                                      sizeof msg, &param)) {
            add_error(errors, code, param, line, "%s", msg);
            continue;
        }
        const char *bm = json_string_value(json_object_get(body, "model"));
        if (!first_model[0]) {
            snprintf(first_model, sizeof first_model, "%s", bm);
        } else if (strcmp(first_model, bm) != 0) {
            add_error(errors, "mismatched_model", "body.model", line,
                      "every request of a batch must use the same model ('%.60s', not '%.60s')",
                      first_model, bm);
            json_decref(body); /* bm points into it */
            continue;
        }
        int added = cid_add(&seen, cid);
        if (added <= 0) {
            json_decref(body);
            if (added < 0) {
                oom = 1;
                break;
            }
            add_error(errors, "duplicate_custom_id", "custom_id", line,
                      "the custom_id '%.80s' is used by an earlier line", cid);
            continue;
        }
        char *txt = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!txt) {
            oom = 1;
            break;
        }
        if (n_reqs == cap) {
            cap = cap ? cap * 2 : 64;
            gptc_store_req *nr = realloc(reqs, (size_t)cap * sizeof *nr);
            if (!nr) {
                free(txt);
                oom = 1;
                break;
            }
            reqs = nr;
        }
        gptc_store_req *r = &reqs[n_reqs++];
        memset(r, 0, sizeof *r);
        r->line = line - 1;
        snprintf(r->custom_id, sizeof r->custom_id, "%s", cid);
        r->body = txt;
    }
    cid_free(&seen);
    if (oom) {
        gptc_store_reqs_free(reqs, n_reqs);
        return -1;
    }
    if (n_reqs == 0 && json_array_size(errors) == 0)
        add_error(errors, "empty_file", NULL, 0, "the input file holds no requests");
    if (json_array_size(errors) > 0) {
        gptc_store_reqs_free(reqs, n_reqs);
        return 0;
    }
    *reqs_out = reqs;
    *n_out = n_reqs;
    return 0;
}
