/*
 * ui.c — the web pages' HTTP side: the compiled-in files of web/ (or a directory given with
 * --ui-dir) with Content-Type, ETag / If-None-Match, gzip, and a strict Content-Security-Policy,
 * and the chat page's two routes in `gptc serve` (the files, and /ui/config.json).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/srv.h"
#include "server/ui.h"

const gptc_web_asset *gptc_web_find(const char *name)
{
    for (int i = 0; i < gptc_web_n_assets; i++)
        if (strcmp(gptc_web_assets[i].name, name) == 0) return &gptc_web_assets[i];
    return NULL;
}

const char *gptc_web_type(const char *name)
{
    /* clang-format off */
    static const char *k_types[][2] = {
        {".html", "text/html; charset=utf-8"},       {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},         {".svg", "image/svg+xml"},
        {".json", "application/json"},               {".png", "image/png"},
        {".txt", "text/plain; charset=utf-8"},       {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
    };
    /* clang-format on */
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof k_types / sizeof *k_types; i++)
            if (strcmp(dot, k_types[i][0]) == 0) return k_types[i][1];
    return "application/octet-stream";
}

int gptc_web_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 100 || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static void common_headers(struct MHD_Response *resp, const char *type)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "Content-Security-Policy", GPTC_WEB_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
}

static int send_resp(struct MHD_Connection *c, struct MHD_Response *resp, int st, int *status)
{
    if (!resp) return MHD_NO;
    *status = st;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)st, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int not_found(struct MHD_Connection *c, int *status)
{
    static const char k_body[] =
        "{\"error\":{\"message\":\"no such page\",\"type\":"
        "\"invalid_request_error\",\"param\":null,\"code\":\"not_found\"}}";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof k_body - 1, GPTC_UNCONST(void *, k_body), MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return send_resp(c, resp, 404, status);
}

int gptc_web_etag_in(const char *h, const char *etag)
{
    if (!h) return 0;
    size_t n = strlen(etag);
    for (const char *p = h; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*') return 1;
        if (strncmp(p, "W/", 2) == 0) p += 2;
        if (strncmp(p, etag, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' ')) return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

int gptc_web_gzip_ok(const char *h)
{
    if (!h) return 0;
    for (const char *p = h; (p = strstr(p, "gzip")) != NULL;) {
        p += 4;
        while (*p == ' ')
            p++;
        if (*p == ',' || *p == 0) return 1;
        if (*p != ';') continue; /* "gzipx": another coding */
        const char *q = strstr(p, "q=");
        const char *comma = strchr(p, ',');
        if (!q || (comma && q > comma)) return 1;
        return strtod(q + 2, NULL) > 0;
    }
    return 0;
}

static int etag_matches(struct MHD_Connection *c, const char *etag)
{
    return gptc_web_etag_in(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH), etag);
}

static int accepts_gzip(struct MHD_Connection *c)
{
    return gptc_web_gzip_ok(
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
}

static int not_modified(struct MHD_Connection *c, const char *etag, int *status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    return send_resp(c, resp, 304, status);
}

static int reply_dir(struct MHD_Connection *c, const char *dir, const char *name, int *status)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return not_found(c, status);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return not_found(c, status);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
        close(fd);
        return not_found(c, status);
    }
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
             (unsigned long long)st.st_size);
    if (etag_matches(c, etag)) {
        close(fd);
        return not_modified(c, etag, status);
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return MHD_NO;
    }
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    struct MHD_Response *resp = MHD_create_response_from_buffer(got, buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(buf);
        return MHD_NO;
    }
    common_headers(resp, gptc_web_type(name));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    return send_resp(c, resp, 200, status);
}

int gptc_web_reply(struct MHD_Connection *c, const char *url, const char *dir, const char *index,
                   int *status)
{
    const char *name = strcmp(url, "/") == 0 ? index : url + (url[0] == '/');
    if (!gptc_web_name_ok(name)) return not_found(c, status);
    if (dir) return reply_dir(c, dir, name, status);
    const gptc_web_asset *a = gptc_web_find(name);
    if (!a) return not_found(c, status);
    if (etag_matches(c, a->etag)) return not_modified(c, a->etag, status);
    int gz = accepts_gzip(c);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        gz ? a->gz_len : a->raw_len, GPTC_UNCONST(void *, gz ? a->gz : a->raw),
        MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    common_headers(resp, gptc_web_type(name));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (gz) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    return send_resp(c, resp, 200, status);
}

/* ----- the chat page in `gptc serve` ---------------------------------------------------------- */

int gptc_srv_ui_public(const char *url)
{
    return strcmp(url, "/ui/config.json") != 0;
}

enum MHD_Result gptc_srv_ep_ui(srv_req *r, const char *url)
{
    gptc_server *s = r->srv;
    if (strcmp(url, "/ui/config.json") == 0) {
        json_t *o = json_pack("{s:s, s:i, s:b}", "model", s->alias, "n_ctx", s->sched.n_ctx_seq,
                              "auth", s->api_key_len > 0);
        json_object_set_new(o, "train_ui", s->train_ui[0] ? json_string(s->train_ui) : json_null());
        return gptc_srv_reply_json(r, 200, o);
    }
    int status = 404;
    enum MHD_Result ret = (enum MHD_Result)gptc_web_reply(
        r->mhd, url, s->ui_dir[0] ? s->ui_dir : NULL, "index.html", &status);
    r->status = status;
    return ret;
}
