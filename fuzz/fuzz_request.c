/*
 * fuzz_request.c — libFuzzer target for the server's request parsing and validation: the bytes
 * of an HTTP body through jansson, then every endpoint's validation (chat messages through the
 * chat template and the tokenizer, completions prompts, embeddings inputs, and every sampling,
 * length, stop, logit_bias, logprobs and stream field) exactly as src/server runs them, without
 * sockets or the scheduler. Each input must end in a job or an OpenAI error object with a 4xx/5xx
 * status; nothing may crash, leak or overflow.
 *
 * Model: $GPTC_DATA/gguf/stories260K.gguf (GPTC_DATA defaults to ../shared/data).
 * Also checks the UTF-8 helpers: gptc_srv_jstring_lossy always gives a string, and the valid prefix
 * that gptc_srv_utf8_valid_len reports is accepted by jansson.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"
#include "fuzz.h"

static gptc_server *g_srv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *d = getenv("GPTC_DATA");
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/stories260K.gguf", d && *d ? d : "../shared/data");
    gptc_err err;
    gptc_model *m;
    if (gptc_model_load(path, NULL, &m, &err)) {
        fprintf(stderr, "fuzz_request: %s\n", err.msg);
        abort();
    }
    g_srv = calloc(1, sizeof *g_srv);
    g_srv->model = m;
    g_srv->p = gptc_server_default_params();
    snprintf(g_srv->alias, sizeof g_srv->alias, "fuzz");
    atomic_init(&g_srv->next_id, 1);
    if (gptc_srv_load_template(g_srv, &err)) {
        fprintf(stderr, "fuzz_request: %s\n", err.msg);
        abort();
    }
    const gptc_hparams *hp = gptc_model_hparams(m);
    srv_sched *sc = &g_srv->sched;
    sc->model = m;
    sc->tok = gptc_model_tokenizer(m);
    sc->n_ctx_seq = 512;
    sc->n_ctx = 2048;
    sc->n_slots = 4;
    sc->n_batch = 512;
    sc->n_vocab = hp->n_vocab;
    sc->n_embd = hp->n_embd;
    return 0;
}

static void check_error(const srv_error *e)
{
    if (e->status < 400 || e->status > 599) abort();
    json_t *j = gptc_srv_error_json(e);
    char *txt = json_dumps(j, JSON_COMPACT);
    if (!txt) abort(); /* the error object must always serialise (valid UTF-8) */
    free(txt);
    json_decref(j);
}

static void check_job(srv_job *j)
{
    if (j->kind == JOB_GENERATE) {
        if (j->n_prompt <= 0 || j->n_prompt >= g_srv->sched.n_ctx_seq) abort();
        if (j->max_tokens < 1 || j->n_prompt + j->max_tokens > g_srv->sched.n_ctx_seq) abort();
        if (j->reserve > g_srv->sched.n_ctx || j->n_choices < 1 ||
            j->n_choices > g_srv->sched.n_slots)
            abort();
        for (int i = 0; i < j->n_prompt; i++)
            if (j->prompt[i] < 0 || j->prompt[i] >= g_srv->sched.n_vocab) abort();
        for (int i = 0; i < j->n_bias; i++)
            if (j->bias_id[i] < 0 || j->bias_id[i] >= g_srv->sched.n_vocab) abort();
    } else {
        for (int c = 0; c < j->n_choices; c++)
            if (j->choices[c].n_prompt <= 0 || j->choices[c].n_prompt > g_srv->sched.n_ctx_seq)
                abort();
    }
    gptc_srv_job_release(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the UTF-8 helpers on the raw bytes */
    json_t *s = gptc_srv_jstring_lossy((const char *)data, size);
    if (!s || !json_is_string(s)) abort();
    json_decref(s);
    size_t v = gptc_srv_utf8_valid_len((const char *)data, size);
    if (v > size) abort();
    if (memchr(data, 0, v) == NULL) {
        json_t *t = json_stringn((const char *)data, v);
        if (!t) abort();
        json_decref(t);
    }

    json_error_t je;
    json_t *body = json_loadb((const char *)data, size, 0, &je);
    if (!body) return 0;
    if (json_is_object(body)) {
        srv_job *j;
        srv_gen_opts o;
        srv_error e;
        int b64, dims;
        if (gptc_srv_chat_prepare(g_srv, body, &j, &o, &e) == 0)
            check_job(j);
        else
            check_error(&e);
        if (gptc_srv_completions_prepare(g_srv, body, &j, &o, &e) == 0)
            check_job(j);
        else
            check_error(&e);
        if (gptc_srv_embeddings_prepare(g_srv, body, &j, &b64, &dims, &e) == 0)
            check_job(j);
        else
            check_error(&e);
    }
    json_decref(body);
    return 0;
}
