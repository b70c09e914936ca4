/*
 * server.h — `gptc serve`: an OpenAI-compatible HTTP API over one loaded model.
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings,
 * GET /v1/models, GET /v1/models/{id}, GET /health, GET /metrics. Requests and responses have
 * OpenAI's shapes (streaming as server-sent events), so the official SDKs work unchanged.
 *
 * Inside: libmicrohttpd answers HTTP with one thread per connection (http.c); every request
 * that needs the model becomes a job in a bounded queue; one scheduler thread (slots.c) owns
 * the gptc_ctx and advances every active sequence together, one gptc_decode per step
 * (continuous batching over one KV cache shared by all slots, with prompt-prefix reuse).
 *
 * The server logs one line per request and its lifecycle through params.log (never the API
 * key); it never exits or aborts: start returns a gptc_status with a message.
 */
#ifndef GPTC_SERVER_H
#define GPTC_SERVER_H

#include <stddef.h>

#include "gptc.h"

typedef struct gptc_server gptc_server;

/* One log line, without a trailing newline. */
typedef void (*gptc_server_log_fn)(void *user, const char *line);

typedef struct gptc_server_params {
    const char *host;         /* address to bind: "127.0.0.1" (default), "::1", "0.0.0.0" ... */
    int port;                 /* 0: a free port the system picks (gptc_server_port says which) */
    int n_parallel;           /* sequences decoded together (slots), 1..64; default 4 */
    int n_ctx;                /* KV cells shared by all slots; 0: n_ctx_seq x n_parallel */
    int n_ctx_seq;            /* most tokens of one sequence (prompt + reply); 0: the model's
                               * trained context, capped by n_ctx when set, else by the KV
                               * budget for n_parallel sequences (gptc_ctx_auto_n_ctx) */
    int n_batch;              /* most tokens of one decode step; default 512 */
    const char *cache_type_k; /* KV cache types "f32", "f16", "q8_0"; NULL: f16 */
    const char *cache_type_v;
    int swa_full;              /* 1: window layers keep every cell (gptc_ctx_params.swa_full) */
    int n_threads;             /* decode threads; 0: all cores but one (for the HTTP threads) */
    const char *api_key;       /* NULL or "": no authentication */
    const char *alias;         /* the model's id in the API; NULL: "gptc" */
    const char *model_file_id; /* another id requests may name (the file's name); NULL: none.
                                * A request naming any other model gets 404 model_not_found */
    int any_model;             /* 1: accept any "model" (permissive; gptc batch, whose input
                                * names the model it was written for) */
    const char *chat_template; /* Jinja source; NULL: the model's own, or ChatML */
    size_t chat_template_len;
    int queue_max;            /* requests waiting for a slot; one more gets 429; default 64 */
    size_t body_max;          /* request body bytes; more gets 413; default 1 MiB */
    int header_timeout_ms;    /* the request head must arrive within this; else 408; 10 s */
    int body_timeout_ms;      /* the body must arrive within this after the head; else 408; 30 s */
    int idle_timeout_s;       /* a connection that moves no byte this long is closed; 60 s */
    int max_connections;      /* simultaneous connections; default 256. When full, the oldest
                               * idle connection is closed for a new one, else the new one gets
                               * 503 at once */
    int max_conns_per_client; /* connections from one client address; default 64; 0: no limit */
    int write_timeout_ms;     /* a client that takes no byte of its response this long is
                               * dropped and its request cancelled; default 30 s */
    int n_max;                /* largest `n` a request may ask for; default 8 (and <= n_parallel) */
    int seed;                 /* base of the seeds of requests without one; -1: from the clock */
    int no_ui;                /* 1: no chat page at / (the API only) */
    const char *ui_dir;       /* serve the chat page's files from this directory; NULL: built in */
    const char *train_ui;     /* URL of a training dashboard the chat page links to; NULL: none */
    gptc_server_log_fn log;   /* NULL: no logging */
    void *log_user;
    const char *data_dir; /* durable state (files, batches, stored responses); NULL: none, and
                           * those endpoints answer 503 */
    size_t file_max;      /* largest uploaded file; more gets 413; default 200 MiB */
    long batch_window_s;  /* a batch's completion window in seconds (tests); 0: 24 h */
    int no_http;          /* 1: no listening socket (gptc batch runs the engine offline) */
    int reasoning_budget; /* chat: tokens of a <think> block before "</think>" is forced; 0: no
                           * thinking (enable_thinking false for the template, and the block is
                           * closed at once); -1 (default): unlimited */
    int spec;             /* speculative decoding of requests that do not ask (docs/speculative.md):
                           * 0 none (default), 1 prompt lookup, 2 the draft model */
    int spec_n;           /* most draft tokens per step; 0: 8 */
    int spec_ngram;       /* prompt lookup's longest matched suffix; 0: 3 */
    const gptc_model *draft; /* the draft model (same vocabulary), borrowed; NULL: none */
} gptc_server_params;

gptc_server_params gptc_server_default_params(void);

/* Build the scheduler and start listening. model is borrowed and must outlive the server.
 * OUT: *out, owned, free with gptc_server_free. */
gptc_status gptc_server_start(const gptc_model *model, const gptc_server_params *params,
                              gptc_server **out /* OUT */, gptc_err *err);
/* The port the server listens on. */
int gptc_server_port(const gptc_server *s);
/* Graceful stop: stop accepting connections, answer new requests on open ones with 503, let
 * queued and running requests finish and their responses go out (at most timeout_ms), then stop
 * every thread. Safe to call once; gptc_server_free does it with a short timeout otherwise. */
void gptc_server_shutdown(gptc_server *s, int timeout_ms);
void gptc_server_free(gptc_server *s);

/* Offline batch (`gptc batch`): run every request of a Batch API input file (JSONL) through the
 * server's engine (start it with no_http = 1), appending each result line to out_path (success)
 * or err_path (failure) with an fsync per line. Resumable: requests whose custom_id is already
 * in out_path or err_path are skipped (a torn last line is cut first). progress (may be NULL)
 * is called as requests end. */
typedef struct gptc_batch_progress {
    int done, total, failed, resumed;
    long long tokens; /* generated so far in this run */
    double seconds;   /* since this run started */
} gptc_batch_progress;
typedef void (*gptc_batch_progress_fn)(void *user, const gptc_batch_progress *p);
gptc_status gptc_server_run_batch_file(gptc_server *s, const char *endpoint, const char *in_path,
                                       const char *out_path, const char *err_path,
                                       gptc_batch_progress_fn progress, void *user, gptc_err *err);

#endif
