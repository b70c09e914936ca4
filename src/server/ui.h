/*
 * ui.h — the web pages (library-internal): the files of web/ compiled in (a generated C file,
 * scripts/embed-web.sh), and how a libmicrohttpd handler answers a GET for one of them, from the
 * compiled-in copy or from a directory (--ui-dir). Used by the chat page of `gptc serve`
 * (http.c) and the training dashboard (train_ui.c).
 */
#ifndef GPTC_SERVER_UI_H
#define GPTC_SERVER_UI_H

#include <stddef.h>

typedef struct gptc_web_asset {
    const char *name;        /* file name in web/ ("index.html") */
    const unsigned char *gz; /* gzip -9n of the file */
    size_t gz_len;
    const unsigned char *raw; /* the file itself */
    size_t raw_len;
    const char *etag; /* "\"crc-len\"", quotes included */
} gptc_web_asset;

extern const gptc_web_asset gptc_web_assets[];
extern const int gptc_web_n_assets;

/* The pages load only their own scripts and styles, talk only to their own origin, and may not
 * be framed; no inline script or style, no other origin. */
#define GPTC_WEB_CSP                                                                               \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The compiled-in file called name, or NULL. */
const gptc_web_asset *gptc_web_find(const char *name);
/* Content-Type for a file name (by extension). */
const char *gptc_web_type(const char *name);
/* 1 when name is a plain file name a page may ask for: letters, digits, '.', '-', '_', not
 * starting with '.', at most 100 bytes (so no '/', no "..", nothing hidden). */
int gptc_web_name_ok(const char *name);

/* 1 when an If-None-Match header value h lists etag (or "*"); h may be NULL. */
int gptc_web_etag_in(const char *h, const char *etag);
/* 1 when an Accept-Encoding header value h allows gzip (not "gzip;q=0"); h may be NULL. */
int gptc_web_gzip_ok(const char *h);

struct MHD_Connection;
/* Answer a GET or HEAD of url: "/" is index; "/NAME" a file. From dir when dir is not NULL
 * (read at each request, not compressed), else the compiled-in copy (gzip when the client
 * accepts it, 304 when If-None-Match has its ETag). *status gets the HTTP status sent (404 for
 * anything else). Returns what libmicrohttpd's handler returns. */
int gptc_web_reply(struct MHD_Connection *c, const char *url, const char *dir, const char *index,
                   int *status);

#endif
