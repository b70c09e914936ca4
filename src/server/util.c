/*
 * util.c — utility endpoints (llama.cpp's names and shapes):
 *   POST /tokenize        {"content": TEXT, "add_special": false, "parse_special": false,
 *                          "with_pieces": false} -> {"tokens": [ids] or [{"id", "piece"}]}
 *   POST /detokenize      {"tokens": [ids]} -> {"content": TEXT}
 *   POST /apply-template  {"messages": [...]} -> {"prompt": TEXT}: the exact prompt that
 *                         /v1/chat/completions would run for these messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

static enum MHD_Result tokenize(srv_req *r, json_t *body)
{
    gptc_server *s = r->srv;
    srv_error e;
    const char *text;
    size_t n;
    int add_special = 0, parse_special = 0, pieces = 0, rc;
    if ((rc = gptc_srv_jstr(body, "content", &text, &n, &e)) <= 0) {
        if (!rc)
            gptc_srv_fail(&e, 400, "missing_required_parameter", "content",
                          "'content' is required");
        return gptc_srv_reply_error(r, &e);
    }
    if (gptc_srv_jbool(body, "add_special", &add_special, &e) < 0 ||
        gptc_srv_jbool(body, "parse_special", &parse_special, &e) < 0 ||
        gptc_srv_jbool(body, "with_pieces", &pieces, &e) < 0)
        return gptc_srv_reply_error(r, &e);
    const gptc_tokenizer *tok = gptc_model_tokenizer(s->model);
    gptc_err err;
    size_t cnt = 0;
    int bos = add_special && gptc_tok_add_bos(tok);
    if (gptc_tok_encode(tok, text, n, bos, parse_special, NULL, 0, &cnt, &err)) {
        gptc_srv_fail(&e, 400, "invalid_value", "content", "cannot tokenize: %s", err.msg);
        return gptc_srv_reply_error(r, &e);
    }
    int32_t *ids = malloc((cnt ? cnt : 1) * sizeof *ids);
    size_t got = 0;
    if (!ids || gptc_tok_encode(tok, text, n, bos, parse_special, ids, cnt, &got, &err)) {
        free(ids);
        gptc_srv_fail(&e, 500, "internal_error", NULL, "tokenizer failed");
        return gptc_srv_reply_error(r, &e);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < got; i++) {
        if (!pieces) {
            json_array_append_new(arr, json_integer(ids[i]));
            continue;
        }
        char piece[256];
        size_t pn = 0;
        if (gptc_tok_decode(tok, &ids[i], 1, 1, piece, sizeof piece, &pn, &err)) pn = 0;
        json_array_append_new(
            arr, json_pack("{s:i, s:o}", "id", ids[i], "piece", gptc_srv_jstring_lossy(piece, pn)));
    }
    free(ids);
    return gptc_srv_reply_json(r, 200, json_pack("{s:o}", "tokens", arr));
}

static enum MHD_Result detokenize(srv_req *r, json_t *body)
{
    gptc_server *s = r->srv;
    srv_error e;
    const json_t *t = json_object_get(body, "tokens");
    if (!json_is_array(t)) {
        gptc_srv_fail(&e, 400, t ? "invalid_type" : "missing_required_parameter", "tokens",
                      "'tokens' must be an array of token ids");
        return gptc_srv_reply_error(r, &e);
    }
    const gptc_tokenizer *tok = gptc_model_tokenizer(s->model);
    int V = s->sched.n_vocab;
    srv_buf b = {0};
    gptc_detok dt;
    gptc_detok_init(&dt);
    size_t i;
    const json_t *v;
    json_array_foreach(t, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= V) {
            gptc_srv_buf_free(&b);
            gptc_srv_fail(&e, 400, "invalid_value", "tokens",
                          "tokens[%zu] is not a token id (0..%d)", i, V - 1);
            return gptc_srv_reply_error(r, &e);
        }
        char piece[512];
        size_t pn = 0;
        gptc_err err;
        if (gptc_detok_push(tok, &dt, (int32_t)json_integer_value(v), piece, sizeof piece, &pn,
                            &err) == GPTC_OK)
            gptc_srv_buf_add(&b, piece, pn);
    }
    char tail[16];
    size_t tn = gptc_detok_flush(&dt, tail, sizeof tail);
    gptc_srv_buf_add(&b, tail, tn);
    json_t *res = json_pack("{s:o}", "content", gptc_srv_jstring_lossy(b.p ? b.p : "", b.n));
    gptc_srv_buf_free(&b);
    return gptc_srv_reply_json(r, 200, res);
}

static enum MHD_Result apply_template(srv_req *r, json_t *body)
{
    srv_error e;
    char *text;
    size_t len;
    if (gptc_srv_chat_render(r->srv, json_object_get(body, "messages"), "messages", &text, &len,
                             &e))
        return gptc_srv_reply_error(r, &e);
    json_t *res = json_pack("{s:o}", "prompt", gptc_srv_jstring_lossy(text, len));
    free(text);
    return gptc_srv_reply_json(r, 200, res);
}

enum MHD_Result gptc_srv_ep_util(srv_req *r, const char *path, json_t *body)
{
    if (strcmp(path, "/tokenize") == 0) return tokenize(r, body);
    if (strcmp(path, "/detokenize") == 0) return detokenize(r, body);
    return apply_template(r, body);
}
