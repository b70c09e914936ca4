/*
 * v1_completions.c — POST /v1/completions: raw text continuation (no template).
 *
 * prompt: a string, an array of token ids, or a one-element array of either (several prompts in
 * one request are refused with a 400: send one request each).
 */
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

/* Token ids from a JSON array; -1 with *e on a bad element. */
static int token_array(gptc_server *s, const json_t *a, int32_t **out, int *n_out, srv_error *e)
{
    size_t n = json_array_size(a);
    int V = s->sched.n_vocab;
    if (n == 0) return gptc_srv_fail(e, 400, "invalid_value", "prompt", "'prompt' is empty");
    if (n > (size_t)s->sched.n_ctx_seq)
        return gptc_srv_fail(
            e, 400, "context_length_exceeded", "prompt",
            "This model's maximum context length is %d tokens. However, your prompt "
            "resulted in %zu tokens.",
            s->sched.n_ctx_seq, n);
    int32_t *ids = malloc(n * sizeof *ids);
    if (!ids) return gptc_srv_fail(e, 500, "internal_error", NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(a, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= V) {
            free(ids);
            return gptc_srv_fail(e, 400, "invalid_value", "prompt",
                                 "'prompt' token %zu is not a token id (0..%d)", i, V - 1);
        }
        ids[i] = (int32_t)json_integer_value(t);
    }
    *out = ids;
    *n_out = (int)n;
    return 0;
}

int gptc_srv_completions_prepare(gptc_server *s, const json_t *body, srv_job **out, srv_gen_opts *o,
                                 srv_error *e)
{
    const json_t *p = json_object_get(body, "prompt");
    int32_t *ids = NULL;
    int n_ids = 0, rc;
    if (json_is_array(p) && json_array_size(p) == 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0); /* ["text"] or [[ids]] */
    if (!p || json_is_null(p)) {
        rc = gptc_srv_fail(e, 400, "missing_required_parameter", "prompt", "'prompt' is required");
    } else if (json_is_string(p)) {
        rc = gptc_srv_tokenize(s, json_string_value(p), json_string_length(p), 0, "prompt", &ids,
                               &n_ids, e);
    } else if (json_is_array(p) && json_array_size(p) > 0 &&
               (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0)))) {
        rc = gptc_srv_fail(e, 400, "invalid_value", "prompt",
                           "one prompt per request: send several requests instead");
    } else if (json_is_array(p)) {
        rc = token_array(s, p, &ids, &n_ids, e);
    } else {
        rc = gptc_srv_fail(e, 400, "invalid_type", "prompt",
                           "'prompt' must be a string or an array of token ids");
    }
    if (rc) return -1;
    return gptc_srv_gen_parse(s, body, ids, n_ids, 0, out, o, e);
}

enum MHD_Result gptc_srv_ep_completions(srv_req *r, json_t *body)
{
    srv_error e;
    srv_job *j;
    srv_gen_opts o;
    if (gptc_srv_completions_prepare(r->srv, body, &j, &o, &e)) return gptc_srv_reply_error(r, &e);
    return gptc_srv_gen_run(r, j, &o);
}
