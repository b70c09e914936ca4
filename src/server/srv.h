/*
 * srv.h — what the server's files share (library-internal): the error object, JSON helpers,
 * jobs and the scheduler, the HTTP request state and the endpoint handlers.
 *
 * Threads: each connection has its own libmicrohttpd thread, which parses and validates the
 * request, submits a job and waits for it (or streams it). One scheduler thread owns the
 * gptc_ctx and every slot. They meet only in a job (its mutex guards its outputs) and in the
 * scheduler's queue (its mutex).
 */
#ifndef GPTC_SRV_H
#define GPTC_SRV_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "chat/chat.h"
#include "core/base.h"
#include "gptc.h"
#include "server/server.h"
#include "store/store.h"

#define SRV_TOP_MAX 20     /* top_logprobs: OpenAI's limit */
#define SRV_MAX_STOPS 16   /* user stop strings (4) + the template's end-of-turn strings */
#define SRV_USER_STOPS 4   /* OpenAI's limit on `stop` */
#define SRV_STOP_LEN 256   /* bytes of one stop string */
#define SRV_MAX_BIAS 1024  /* logit_bias entries */
#define SRV_MAX_INPUTS 256 /* embeddings inputs per request */
#define SRV_HEAD_MAX 8192  /* bytes of a request head (line and headers); more gets 431 */
#define SRV_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ----- errors.c: OpenAI error objects ----------------------------------------------------------
 */

typedef struct srv_error {
    int status;       /* HTTP status */
    const char *type; /* "invalid_request_error", "authentication_error", "server_error" ... */
    const char *code; /* "invalid_type", "context_length_exceeded" ... (static) */
    char param[96];   /* the field at fault ("messages[0].content"); "" -> null */
    char message[400];
    int retry_after; /* seconds for a Retry-After header; 0: none */
} srv_error;

/* Fill *e; returns -1 so validators can `return gptc_srv_fail(...)`. param may be NULL. */
int gptc_srv_fail(srv_error *e, int status, const char *code, const char *param, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
/* {"error": {"message", "type", "param", "code"}}; new reference. */
json_t *gptc_srv_error_json(const srv_error *e);

/* ----- json.c: typed access to request fields ---------------------------------------------------
 * Each returns 1 when the field is present and valid (*out set), 0 when absent or null (*out
 * untouched), -1 with *e filled (400, param = key) when it has the wrong type or range. */
int gptc_srv_jnum(const json_t *o, const char *key, double lo, double hi, double *out,
                  srv_error *e);
int gptc_srv_jint(const json_t *o, const char *key, long long lo, long long hi, long long *out,
                  srv_error *e);
int gptc_srv_jbool(const json_t *o, const char *key, int *out, srv_error *e);
int gptc_srv_jstr(const json_t *o, const char *key, const char **out, size_t *len, srv_error *e);
/* A JSON string from bytes that may not be valid UTF-8 (bad bytes become U+FFFD). */
json_t *gptc_srv_jstring_lossy(const char *s, size_t n);
/* Length of the longest prefix of s[0..n) that is valid UTF-8 and ends at a character end. */
size_t gptc_srv_utf8_valid_len(const char *s, size_t n);
/* A growable byte buffer. */
typedef struct srv_buf {
    char *p;
    size_t n, cap;
} srv_buf;
int gptc_srv_buf_add(srv_buf *b, const void *s, size_t n); /* 0 ok, -1 out of memory */
void gptc_srv_buf_free(srv_buf *b);

/* ----- slots.c: jobs and the scheduler -----------------------------------------------------------
 */

enum { JOB_GENERATE = 0, JOB_EMBED = 1 };
enum { FINISH_NONE = 0, FINISH_STOP, FINISH_LENGTH, FINISH_CANCEL, FINISH_ERROR };

typedef struct srv_lp {
    int32_t id;
    float lp;
    int n_top;
    int32_t top_id[SRV_TOP_MAX];
    float top_lp[SRV_TOP_MAX];
} srv_lp;

/* One output sequence of a job (a choice), or one input of an embeddings job. Fields after
 * `text` are written by the scheduler under job->mu and read by the HTTP thread under it. */
typedef struct srv_choice {
    int32_t *prompt; /* embed: this input's tokens, owned; generate: NULL (job->prompt) */
    int n_prompt;
    char *text; /* (cap) generated text, owned */
    size_t len, cap;
    size_t n_ready; /* bytes of text that are final (no stop string can still cover them) */
    int n_gen;      /* tokens generated */
    int finish;     /* FINISH_* */
    srv_lp *lp;     /* (max_tokens) when job->logprobs; owned */
    int n_lp;
    float *embd;  /* (n_embd) embed result, owned */
    int stop_hit; /* the stop string that ended it: index into job->stops + 1; 0: none */
} srv_choice;

typedef struct srv_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* signalled when outputs grow or the job ends */
    int refs;             /* under mu: the HTTP side and the scheduler */
    atomic_int cancelled; /* the client went away: stop at the next step */
    int client_fd;        /* the client's socket, polled by the scheduler every step; -1: none */
    int done;             /* under mu: every choice ended */
    int failed;           /* under mu: an internal error; fail_msg says which */
    char fail_msg[256];

    /* the request, fixed before submission */
    int kind;        /* JOB_* */
    int32_t *prompt; /* (n_prompt) generate: owned */
    int n_prompt;
    int n_choices;
    srv_choice *choices;    /* (n_choices) owned */
    gptc_sampler_params sp; /* choice i seeds with sp.seed + i */
    int max_tokens;
    int n_stops;
    char stops[SRV_MAX_STOPS][SRV_STOP_LEN + 1];
    size_t stop_len[SRV_MAX_STOPS];
    int n_stop_ids;
    int32_t stop_ids[GPTC_CHAT_MAX_STOPS];
    int ignore_eos;
    int n_bias;
    int32_t *bias_id;           /* (n_bias) owned */
    float *bias;                /* (n_bias) owned */
    int logprobs, top_logprobs; /* logprobs: keep srv_lp for each token */
    char *grammar;              /* GBNF every choice must follow (validated), owned; NULL: none */
    size_t grammar_len;
    char *lazy_trigger; /* owned: the grammar engages only after this text (tool_choice auto) */
    int32_t lazy_id;    /* the trigger as one token, or -1 */
    int lazy_think;     /* the reply starts inside a <think> block */
    int spec, spec_n, spec_ngram; /* speculative decoding: gptc_server_params.spec's values */
    int think_budget; /* gptc_think_budget's budget (-1: unlimited); the reply starts inside
                       * <think> when tc_think == 2 */
    /* chat replies split into content, reasoning and tool calls (chat/toolcall.h) */
    int tc_on;        /* parse the reply */
    int tc_format;    /* GPTC_TC_* */
    int tc_think;     /* gptc_toolcall_opts.think */
    char *tc_prefix;  /* owned: text the prompt ends with that the reply continues, or NULL */
    json_t *tc_names; /* owned: the functions a call may name (array of strings), or NULL */
    json_t *tc_tools; /* owned: tool_choice auto's tools, whose schemas a call must satisfy */

    /* scheduler bookkeeping */
    int n_cached;               /* prompt tokens taken from the prefix cache */
    double t_submit, t_first;   /* monotonic seconds; t_first: first token of choice 0 */
    int reserve;                /* KV cells reserved while admitted */
    int next_choice;            /* embed: inputs handed to slots so far */
    int n_running;              /* choices in slots */
    int n_ended;                /* choices ended */
    struct srv_job *next;       /* queue link */
    int low;                    /* a batch request: admitted only when no interactive one waits */
    pthread_mutex_t *notify_mu; /* borrowed, may be NULL: broadcast notify_cv when the job ends */
    pthread_cond_t *notify_cv;
} srv_job;

/* A new job with n choices (zeroed outputs); refs = 1 (the caller). NULL when out of memory. */
srv_job *gptc_srv_job_new(int kind, int n_choices);
/* Drop a reference; the last one frees the job. */
void gptc_srv_job_release(srv_job *j);
/* Ask the scheduler to stop the job at its next step (idempotent). */
void gptc_srv_job_cancel(srv_job *j);

typedef struct srv_slot srv_slot;

enum {
    EP_CHAT = 0,
    EP_COMPLETIONS,
    EP_EMBEDDINGS,
    EP_MODELS,
    EP_HEALTH,
    EP_METRICS,
    EP_OTHER,
    EP_FILES,
    EP_BATCHES,
    EP_RESPONSES,
    EP_MESSAGES,
    EP_UTIL,
    EP_UI, /* the chat page (ui.c) */
    EP_COUNT
};

typedef struct srv_metrics {
    atomic_ullong prompt_tokens, gen_tokens, cached_tokens, steps, decode_us;
    atomic_ullong cancelled; /* generation requests ended because the client went away */
    atomic_ullong spec_drafted, spec_accepted, spec_steps; /* draft tokens verified / accepted;
                                                            * slot-steps that carried a draft */
    atomic_llong kv_cells;       /* KV positions the slots' sequences hold after the last step */
    atomic_llong slot_tokens;    /* tokens the slots' caches say they hold (the same, or a leak) */
    atomic_uint tok_per_s_x1000; /* recent generation throughput, tokens/s x 1000 */
    pthread_mutex_t mu;          /* guards the histogram and the request counters */
    uint64_t ttft_bucket[12];    /* counts <= k_ttft_le[i] */
    uint64_t ttft_count;
    double ttft_sum;
    uint64_t req[EP_COUNT][6]; /* endpoint x status class (1xx..5xx, other) */
} srv_metrics;

typedef struct srv_sched {
    const gptc_model *model;   /* borrowed */
    const gptc_tokenizer *tok; /* borrowed from the model */
    gptc_ctx *ctx;             /* owned; only the scheduler thread touches it after init */
    int n_ctx, n_ctx_seq, n_batch, n_vocab, n_embd;
    int embed_only; /* an embedding model (bert): /v1/embeddings only, each input whole */
    int recurrent;  /* a hybrid model (recurrent state): prefixes are cut at checkpoints only */
    gptc_drafter *drafter; /* the draft model's context (one sequence per slot), or NULL */
    int n_slots;
    srv_slot *slots;      /* (n_slots) owned */
    srv_metrics *metrics; /* borrowed */
    uint64_t seed_base;
    gptc_server_log_fn log;
    void *log_user;

    pthread_t thread;
    int started;
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t cv;        /* new job, cancellation or stop */
    srv_job *q_head, *q_tail; /* waiting, not yet admitted */
    int q_len, q_max;
    srv_job *lq_head, *lq_tail; /* low priority (batch) jobs waiting; not bounded by q_max */
    int lq_len;
    double t_interactive; /* when the last interactive request came (gptc_srv_now); batch jobs leave
                           * a slot free for 30 s after it */
    int n_active_jobs;    /* admitted, not ended */
    int n_busy_slots;
    int draining; /* refuse new jobs (503) */
    int stop;     /* exit once nothing is queued or running */

    /* scheduler-thread state */
    srv_job **active; /* (n_slots) admitted jobs, in admission order */
    int n_active;
    int reserved;                   /* KV cells reserved by admitted jobs */
    uint64_t clock;                 /* step counter, for LRU */
    int32_t *b_tok, *b_pos, *b_seq; /* (n_batch) the step's batch */
    gptc_gvocab *gvocab;            /* the vocabulary's trie, made at the first grammar job */
    int8_t *b_logits;               /* (n_batch) */
} srv_sched;

typedef struct srv_sched_params {
    int n_parallel, n_ctx, n_ctx_seq, n_batch, n_threads, queue_max;
    int type_k, type_v; /* KV cache types (gptc_ctx_params) */
    int swa_full;       /* gptc_ctx_params.swa_full */
    uint64_t seed_base;
    const gptc_model *draft; /* NULL: no draft model */
} srv_sched_params;

gptc_status gptc_srv_sched_init(srv_sched *s, const gptc_model *model, const srv_sched_params *p,
                                srv_metrics *metrics, gptc_server_log_fn log, void *log_user,
                                gptc_err *err);
/* Queue a job (the scheduler takes its own reference). 429 when the queue is full, 503 while
 * draining; returns 0 or -1 with *e filled. */
int gptc_srv_sched_submit(srv_sched *s, srv_job *j, srv_error *e);
/* Refuse new jobs from now on. */
void gptc_srv_sched_drain(srv_sched *s);
/* Jobs queued or running. */
int gptc_srv_sched_pending(srv_sched *s);
void gptc_srv_sched_counts(srv_sched *s, int *queued, int *busy_slots);
/* Finish what is queued and running, stop the thread, free everything. */
void gptc_srv_sched_free(srv_sched *s);

/* ----- http.c: the server, requests, responses ---------------------------------------------------
 */

struct gptc_server {
    gptc_server_params p;
    const gptc_model *model; /* borrowed */
    char alias[128];
    char file_id[128]; /* p.model_file_id, "" when none: also accepted as the model's id */
    char api_key[256];
    size_t api_key_len;
    gptc_chat_template *tmpl; /* owned */
    const char *tmpl_src;     /* borrowed: the model's metadata, a builtin or p.chat_template */
    size_t tmpl_len;
    char *tmpl_own; /* owned copy of p.chat_template */
    gptc_chat_stops chat_stops;
    char bos_text[64], eos_text[64];
    int has_bos_text, has_eos_text;
    long created;       /* unix time the server started (models' "created") */
    int ui;             /* serve the chat page (not --no-ui) */
    char ui_dir[4096];  /* --ui-dir: serve the page from here; "": the compiled-in copy */
    char train_ui[512]; /* --train-ui: the training dashboard's URL, or "" */
    srv_sched sched;
    srv_metrics metrics;
    struct MHD_Daemon *mhd;
    int port;
    atomic_int draining;
    atomic_int in_flight;  /* requests between their first byte and their completion */
    atomic_ullong next_id; /* for response ids */

    /* connection watchdog (header/body deadlines) */
    pthread_mutex_t conn_mu;
    struct srv_conn *conns; /* list of open connections */
    int n_conns;            /* under conn_mu: length of conns */
    pthread_cond_t conn_cv; /* signalled when the connection being admitted is registered */
    int admitting_fd, admitted;
    int closing[64]; /* under conn_mu: refused sockets, answered, closed by the watchdog */
    double closing_t[64];
    int n_closing;
    /* the listening socket and the thread that accepts on it (libmicrohttpd gets each
     * connection from it, once admitted) */
    int listen_fd;
    int wake[2];    /* a pipe: written to stop the accept thread */
    int reserve_fd; /* kept open to accept-and-refuse one connection when out of fds */
    pthread_t acceptor;
    int acceptor_started;
    pthread_t watchdog;
    int watchdog_started;
    atomic_int stop_watchdog;

    gptc_store *store;           /* owned; NULL without a data directory */
    struct srv_batches *batches; /* the batch manager (batches.c); NULL without a store */
};

/* One HTTP request: the body as it arrives, then the job it became. */
typedef struct srv_req {
    gptc_server *srv;
    struct srv_conn *conn; /* borrowed: the watchdog's record of the connection */
    struct MHD_Connection *mhd;
    int endpoint;    /* EP_* */
    int status;      /* the status sent, for logs and metrics */
    int early;       /* a response was queued before the body */
    int close_after; /* close the connection after the response (bad framing) */
    srv_buf body;
    int body_over; /* body grew past body_max */
    double t0;
    srv_job *job;                  /* reference held while the request lives */
    int prompt_tokens, gen_tokens; /* for the log line */
    char method[8];
    char path[96];
    struct srv_upload *upload; /* POST /v1/files: the multipart upload in progress (v1_files.c) */
} srv_req;

double gptc_srv_now(void); /* monotonic seconds */
/* Parse the chat template (s->p.chat_template, else the model's, else ChatML), its stop markers
 * and the BOS/EOS texts; needs s->model and s->p. */
gptc_status gptc_srv_load_template(gptc_server *s, gptc_err *err);
void gptc_srv_log(gptc_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Every log line goes through this: control characters, C1 controls, invalid UTF-8 and '\\'
 * become \xNN, so no request byte can forge a line or reach the operator's terminal. */
void gptc_srv_log_escape(char *dst, size_t cap, const char *src);

/* Queue responses. Each returns what the access handler should return. */
enum MHD_Result gptc_srv_reply_json(srv_req *r, int status, json_t *body /* stolen */);
enum MHD_Result gptc_srv_reply_error(srv_req *r, const srv_error *e);
enum MHD_Result gptc_srv_reply_text(srv_req *r, int status, const char *type, const char *text,
                                    size_t n);
/* Wait for a job to end, watching the client: returns 0 when the job is done, -1 when the
 * client went away (the job is then cancelled). */
int gptc_srv_wait_job(srv_req *r, srv_job *j);
/* 1 when the peer of the request's connection has closed or reset it. */
int gptc_srv_client_gone(srv_req *r);
/* A new response id with prefix ("chatcmpl-"). */
void gptc_srv_make_id(gptc_server *s, const char *prefix, char *out, size_t cap);

/* ----- endpoints -------------------------------------------------------------------------------
 */

enum MHD_Result gptc_srv_ep_chat(srv_req *r, json_t *body);
enum MHD_Result gptc_srv_ep_completions(srv_req *r, json_t *body);
enum MHD_Result gptc_srv_ep_embeddings(srv_req *r, json_t *body);
enum MHD_Result gptc_srv_ep_models(srv_req *r, const char *id /* NULL: the list */);
/* v1_models.c: 1 when name is this server's model (its alias or its file name). */
int gptc_srv_model_known(const gptc_server *s, const char *name);
/* The request's "model" field: absent or known: 0; else -1 with *e (404 model_not_found, or 400
 * for a wrong type). */
int gptc_srv_check_model(gptc_server *s, const json_t *body, srv_error *e);
enum MHD_Result gptc_srv_ep_health(srv_req *r);
enum MHD_Result gptc_srv_ep_metrics(srv_req *r);
/* ui.c: the chat page's files and /ui/config.json; gptc_srv_ui_public: 1 when url needs no key. */
enum MHD_Result gptc_srv_ep_ui(srv_req *r, const char *url);
int gptc_srv_ui_public(const char *url);

/* v1_common.c: what chat and completions share. */
typedef struct srv_gen_opts {
    int stream, include_usage;
    int chat; /* chat.completion shapes */
    int logprobs, top_logprobs;
} srv_gen_opts;
/* Parse the sampling, length, stop, logit_bias, logprobs, n and stream fields into a job whose
 * prompt is set (n_prompt > 0). Returns 0, or -1 with *e filled. The job's choices are
 * allocated here (n of them). */
int gptc_srv_gen_parse(gptc_server *s, const json_t *body, int32_t *prompt, int n_prompt, int chat,
                       srv_job **out, srv_gen_opts *opts, srv_error *e);
/* Validate a request body and build its job, without HTTP or the scheduler (the endpoints and
 * fuzz/fuzz_request.c call these). Return 0, or -1 with *e filled. */
int gptc_srv_chat_prepare(gptc_server *s, const json_t *body, srv_job **out, srv_gen_opts *o,
                          srv_error *e);
int gptc_srv_completions_prepare(gptc_server *s, const json_t *body, srv_job **out, srv_gen_opts *o,
                                 srv_error *e);
int gptc_srv_embeddings_prepare(gptc_server *s, const json_t *body, srv_job **out, int *b64,
                                int *dims, srv_error *e);
/* Tokenize text into an owned array (add_bos as the model wants unless the text starts with
 * the BOS text). Returns 0 or -1 with *e (param names the field). */
int gptc_srv_tokenize(gptc_server *s, const char *text, size_t n, int parse_special,
                      const char *param, int32_t **out, int *n_out, srv_error *e);
/* Submit the job and answer: a JSON body when not streaming, else an SSE stream. */
enum MHD_Result gptc_srv_gen_run(srv_req *r, srv_job *j, const srv_gen_opts *o);
/* The response body of a finished generation job (chat.completion or text_completion). */
json_t *gptc_srv_gen_result(gptc_server *s, srv_job *j, const srv_gen_opts *o);
/* The response body of a finished embeddings job; NULL when an input failed. */
json_t *gptc_srv_embeddings_result(gptc_server *s, srv_job *j, int b64, int dims);
/* Render chat messages (OpenAI shape: [{"role", "content"}, ...]) through the model's chat
 * template and tokenize the prompt: the one path every endpoint that builds a chat prompt uses.
 * param names the field for errors. Returns 0, or -1 with *e. */
int gptc_srv_chat_tokens(gptc_server *s, const json_t *messages, const char *param, int32_t **ids,
                         int *n_ids, srv_error *e);
/* The rendered prompt text alone (for /apply-template). OUT: *text (owned). */
int gptc_srv_chat_render(gptc_server *s, const json_t *messages, const char *param, char **text,
                         size_t *len, srv_error *e);

/* ----- platform endpoints: files, batches ------------------------------------------------------
 */

/* v1_files.c */
json_t *gptc_srv_file_json(const gptc_store_file *f);
int gptc_srv_upload_begin(srv_req *r);
int gptc_srv_upload_feed(srv_req *r, const char *data, size_t n);
void gptc_srv_upload_free(srv_req *r);
enum MHD_Result gptc_srv_ep_files(srv_req *r, const char *sub /* after /v1/files/, or NULL */);
int gptc_srv_page_args(srv_req *r, int def, int max, int *limit, const char **after, srv_error *e);

/* batch_input.c: one JSONL line of a batch input file. Returns 0 (custom_id and *body_out set,
 * owned), or -1 with *code, msg and *param (static or NULL) saying what is wrong. model NULL:
 * any model. */
int gptc_srv_batch_parse_line(const char *p, size_t n, const char *endpoint, const char *model,
                              char *custom_id, size_t cid_cap, json_t **body_out, const char **code,
                              char *msg, size_t msg_cap, const char **param);
/* A whole input file: each bad line appends {"code", "message", "param", "line"} to errors (a
 * JSON array). With no error, *reqs_out and *n_out hold the requests (free with
 * gptc_store_reqs_free). Returns 0, -1 when out of memory. */
int gptc_srv_batch_validate(const char *data, size_t n, const char *endpoint, const char *model,
                            int max_lines, size_t max_line, gptc_store_req **reqs_out, int *n_out,
                            json_t *errors);

/* evstream.c: an SSE stream of choice 0 of a job with endpoint-specific events. */
/* The server-sent-event pump under every streamed reply (chat/completions chunks, Responses and
 * Messages events): a byte queue libmicrohttpd drains, refilled by collect() under job->mu
 * while the client is there. A stream type embeds it as its FIRST member (the pump is freed as
 * the whole stream). */
typedef struct srv_pump {
    gptc_server *srv;
    srv_job *job; /* a reference of its own */
    int fd;       /* the connection's socket, to notice a client that left */
    srv_buf out;  /* events built, not yet handed to libmicrohttpd */
    size_t out_off;
    int ended; /* the last event is queued */
    /* Append what is new of the job to out (under job->mu); set ended with the last event;
     * returns nonzero when something was added. */
    int (*collect)(struct srv_pump *);
    /* Free what the stream owns beside the pump (the job is still referenced; done: it ran to
     * its end, else it was cancelled); may be NULL. */
    void (*release)(struct srv_pump *, int done);
} srv_pump;
/* Take a reference to j for the pump p (allocated by the caller, the stream's first member, its
 * collect/release set), and answer the request with p's event stream. On failure p is freed. */
enum MHD_Result gptc_srv_pump_run(srv_req *r, srv_job *j, srv_pump *p);

typedef struct srv_evstream {
    srv_pump p; /* first */
    size_t sent;
    int begun;
    void (*begin)(struct srv_evstream *);
    void (*delta)(struct srv_evstream *, const char *text, size_t n);
    void (*finish)(struct srv_evstream *); /* the job is done (under job->mu) */
    void *user;
    void (*user_free)(void *);
} srv_evstream;
/* Append one event ("event: NAME" when event is not NULL, then "data: JSON"); data stolen. */
void gptc_srv_ev_add(srv_evstream *st, const char *event, json_t *data);
/* Submit the job and stream it; user is freed with user_free when the stream ends. */
enum MHD_Result gptc_srv_ev_run(srv_req *r, srv_job *j, void (*begin)(srv_evstream *),
                                void (*delta)(srv_evstream *, const char *, size_t),
                                void (*finish)(srv_evstream *), void *user,
                                void (*user_free)(void *));
/* Submit the job and wait for it: 0 done, -1 *e filled (the job released when not submitted),
 * -2 the client left. */
int gptc_srv_run_wait(srv_req *r, srv_job *j, srv_error *e);

/* v1_responses.c, v1_messages.c, util.c */
enum MHD_Result gptc_srv_ep_responses(srv_req *r, const char *sub, json_t *body);
enum MHD_Result gptc_srv_ep_messages(srv_req *r, const char *sub, json_t *body);
enum MHD_Result gptc_srv_ep_util(srv_req *r, const char *path, json_t *body);

/* batches.c */
gptc_status gptc_srv_batches_start(gptc_server *s, gptc_err *err);
void gptc_srv_batches_stop(gptc_server *s);
void gptc_srv_batches_wake(gptc_server *s);
enum MHD_Result gptc_srv_ep_batches(srv_req *r, const char *sub, json_t *body);

#endif
