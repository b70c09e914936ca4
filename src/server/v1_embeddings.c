/*
 * v1_embeddings.c — POST /v1/embeddings: the model's final normalised hidden state, mean-pooled
 * over each input's tokens and L2-normalised (gptc_get_embeddings), as float arrays or as
 * base64 little-endian float32 (encoding_format "base64", the official SDKs' default).
 *
 * input: a string, an array of strings, an array of token ids, or an array of such arrays;
 * at most SRV_MAX_INPUTS inputs, each within one sequence's context.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

static json_t *base64_floats(const float *v, int n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t nb = (size_t)n * 4, no = (nb + 2) / 3 * 4;
    unsigned char *b = malloc(nb);
    char *o = malloc(no + 1);
    if (!b || !o) {
        free(b);
        free(o);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++)
            b[4 * i + k] = (unsigned char)(u >> (8 * k)); /* little-endian */
    }
    size_t j = 0;
    for (size_t i = 0; i < nb; i += 3) {
        uint32_t x = (uint32_t)b[i] << 16 | (i + 1 < nb ? (uint32_t)b[i + 1] << 8 : 0) |
                     (i + 2 < nb ? b[i + 2] : 0);
        o[j++] = tab[x >> 18 & 63];
        o[j++] = tab[x >> 12 & 63];
        o[j++] = i + 1 < nb ? tab[x >> 6 & 63] : '=';
        o[j++] = i + 2 < nb ? tab[x & 63] : '=';
    }
    json_t *s = json_stringn(o, j);
    free(b);
    free(o);
    return s;
}

static int one_input(gptc_server *s, const json_t *in, srv_choice *c, srv_error *e)
{
    if (json_is_string(in))
        return gptc_srv_tokenize(s, json_string_value(in), json_string_length(in), 0, "input",
                                 &c->prompt, &c->n_prompt, e);
    if (!json_is_array(in) || json_array_size(in) == 0)
        return gptc_srv_fail(e, 400, "invalid_type", "input",
                             "'input' must be a string, an array of strings, or token ids");
    size_t n = json_array_size(in);
    if (n > (size_t)s->sched.n_ctx_seq)
        return gptc_srv_fail(e, 400, "context_length_exceeded", "input",
                             "an input is over %d tokens", s->sched.n_ctx_seq);
    c->prompt = malloc(n * sizeof *c->prompt);
    if (!c->prompt) return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(in, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 ||
            json_integer_value(t) >= s->sched.n_vocab)
            return gptc_srv_fail(e, 400, "invalid_value", "input",
                                 "input token %zu is not a token id", i);
        c->prompt[i] = (int32_t)json_integer_value(t);
    }
    c->n_prompt = (int)n;
    return 0;
}

int gptc_srv_embeddings_prepare(gptc_server *s, const json_t *body, srv_job **out, int *b64,
                                int *dims, srv_error *e)
{
    const char *fmt = "float", *str;
    long long d = 0;
    if (gptc_srv_check_model(s, body, e) < 0 || gptc_srv_jstr(body, "user", &str, NULL, e) < 0 ||
        gptc_srv_jstr(body, "encoding_format", &fmt, NULL, e) < 0 ||
        gptc_srv_jint(body, "dimensions", 1, s->sched.n_embd, &d, e) < 0)
        return -1;
    *dims = d > 0 ? (int)d : s->sched.n_embd;
    *b64 = strcmp(fmt, "base64") == 0;
    if (!*b64 && strcmp(fmt, "float") != 0)
        return gptc_srv_fail(e, 400, "invalid_value", "encoding_format",
                             "'encoding_format' must be \"float\" or \"base64\"");
    const json_t *in = json_object_get(body, "input");
    if (!in || json_is_null(in))
        return gptc_srv_fail(e, 400, "missing_required_parameter", "input", "'input' is required");
    /* a list of inputs, or one input (a string or one array of token ids) */
    int many = json_is_array(in) && json_array_size(in) > 0 &&
               (json_is_string(json_array_get(in, 0)) || json_is_array(json_array_get(in, 0)));
    size_t n = many ? json_array_size(in) : 1;
    if (n > SRV_MAX_INPUTS)
        return gptc_srv_fail(e, 400, "invalid_value", "input", "at most %d inputs per request",
                             SRV_MAX_INPUTS);
    srv_job *j = gptc_srv_job_new(JOB_EMBED, (int)n);
    if (!j) return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
    int total = 0;
    for (size_t i = 0; i < n; i++) {
        srv_choice *c = &j->choices[i];
        if (one_input(s, many ? json_array_get(in, i) : in, c, e)) {
            gptc_srv_job_release(j);
            return -1;
        }
        if (c->n_prompt > s->sched.n_ctx_seq) {
            gptc_srv_fail(e, 400, "context_length_exceeded", "input",
                          "input %zu is %d tokens; the limit is %d", i, c->n_prompt,
                          s->sched.n_ctx_seq);
            gptc_srv_job_release(j);
            return -1;
        }
        total += c->n_prompt;
    }
    j->n_prompt = total;
    *out = j;
    return 0;
}

enum MHD_Result gptc_srv_ep_embeddings(srv_req *r, json_t *body)
{
    gptc_server *s = r->srv;
    srv_error e;
    srv_job *j;
    int b64, D;
    if (gptc_srv_embeddings_prepare(s, body, &j, &b64, &D, &e)) return gptc_srv_reply_error(r, &e);
    int total = j->n_prompt;
    r->prompt_tokens = total;
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    j->client_fd = fdi ? fdi->connect_fd : -1;
    if (gptc_srv_sched_submit(&s->sched, j, &e)) {
        gptc_srv_job_release(j);
        return gptc_srv_reply_error(r, &e);
    }
    r->job = j;
    if (gptc_srv_wait_job(r, j) < 0) return MHD_NO;
    json_t *res = gptc_srv_embeddings_result(s, j, b64, D);
    if (!res) {
        gptc_srv_fail(&e, 500, "internal_error", NULL, "embedding failed");
        return gptc_srv_reply_error(r, &e);
    }
    return gptc_srv_reply_json(r, 200, res);
}

json_t *gptc_srv_embeddings_result(gptc_server *s, srv_job *j, int b64, int D)
{
    int total = j->n_prompt;
    size_t n = (size_t)j->n_choices;
    json_t *data = json_array();
    int failed = 0;
    pthread_mutex_lock(&j->mu);
    for (size_t i = 0; i < n && !failed; i++) {
        const float *v = j->choices[i].embd;
        if (!v) {
            failed = 1;
            break;
        }
        float *tmp = NULL;
        if (D < s->sched.n_embd) { /* shortened: renormalise, as OpenAI does for `dimensions` */
            tmp = malloc((size_t)D * sizeof *tmp);
            if (!tmp) {
                failed = 1;
                break;
            }
            double nn = 0;
            for (int k = 0; k < D; k++)
                nn += (double)v[k] * v[k];
            float inv = nn > 0 ? (float)(1.0 / sqrt(nn)) : 1.0f;
            for (int k = 0; k < D; k++)
                tmp[k] = v[k] * inv;
            v = tmp;
        }
        json_t *emb;
        if (b64) {
            emb = base64_floats(v, D);
        } else {
            emb = json_array();
            for (int k = 0; k < D; k++)
                json_array_append_new(emb, json_real(v[k]));
        }
        free(tmp);
        if (!emb) {
            failed = 1;
            break;
        }
        json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index",
                                              (int)i, "embedding", emb));
    }
    pthread_mutex_unlock(&j->mu);
    if (failed) {
        json_decref(data);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data, "model",
                     s->alias, "usage", "prompt_tokens", total, "total_tokens", total);
}
