/*
 * test_server_embd.c — gptc_get_embeddings (the library addition the server's /v1/embeddings
 * uses): the final normalised hidden state, mean-pooled per sequence, L2-normalised.
 *
 * Checks: off by default; unit norm; for one token it is the direction of the hidden state
 * the logits come from (logits = W_out · h, so logits[v] / (W_out[v] · e) is one constant |h|);
 * the same tokens give the same vector whether decoded in one batch, in chunks, or interleaved
 * with other sequences; gptc_kv_seq_rm of the whole sequence and gptc_kv_clear start it over.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gptc.h"
#include "model/context.h"
#include "test.h"

static float max_diff(const float *a, const float *b, int n)
{
    float m = 0;
    for (int i = 0; i < n; i++)
        m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

int main(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/stories260K.gguf", test_data_dir());
    gptc_err err;
    gptc_model *m;
    if (gptc_model_load(path, NULL, &m, &err)) {
        printf("load: %s\n", err.msg);
        CHECK(0, "model");
        return test_summary();
    }
    const gptc_hparams *hp = gptc_model_hparams(m);
    int D = hp->n_embd, V = hp->n_vocab;

    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_seq_max = 4;
    cp.n_threads = 1;
    gptc_ctx *off;
    CHECK(gptc_ctx_init(m, &cp, &off, &err) == GPTC_OK, "ctx");
    int32_t t1 = 1, p0 = 0;
    gptc_batch b1 = {.n_tokens = 1, .token = &t1, .pos = &p0};
    CHECK(gptc_decode(off, &b1, &err) == GPTC_OK, "decode");
    CHECK(gptc_get_embeddings(off, 0) == NULL, "no embeddings unless asked");
    gptc_ctx_free(off);

    cp.embeddings = 1;
    gptc_ctx *c;
    CHECK(gptc_ctx_init(m, &cp, &c, &err) == GPTC_OK, "ctx with embeddings");
    CHECK(gptc_get_embeddings(c, 0) == NULL, "nothing decoded yet");
    CHECK(gptc_get_embeddings(c, -1) == NULL && gptc_get_embeddings(c, 4) == NULL,
          "seq out of range");

    /* one token: e is the direction of the hidden state behind the logits */
    int32_t tok = 403;
    gptc_batch b = {.n_tokens = 1, .token = &tok, .pos = &p0};
    CHECK(gptc_decode(c, &b, &err) == GPTC_OK, "decode one");
    float e1[4096], logits[4096];
    memcpy(logits, gptc_get_logits(c, 0), (size_t)V * sizeof(float));
    const float *e = gptc_get_embeddings(c, 0);
    CHECK(e != NULL, "embedding of seq 0");
    memcpy(e1, e, (size_t)D * sizeof(float));
    double norm = 0;
    for (int i = 0; i < D; i++)
        norm += (double)e1[i] * e1[i];
    CHECK(fabs(norm - 1) < 1e-5, "unit norm (%g)", norm);
    const gptc_model *mm = m;
    CHECK(mm->output.type == 0 /* F32 */, "stories260K's classifier is f32");
    const float *W = mm->output.data; /* (V, D) */
    double k_sum = 0, k_n = 0, worst = 0;
    for (int v = 0; v < V; v++) {
        double s = 0;
        for (int i = 0; i < D; i++)
            s += (double)W[(size_t)v * D + i] * e1[i];
        if (fabs(s) > 0.5) {
            k_sum += logits[v] / s;
            k_n++;
        }
    }
    double k = k_sum / k_n; /* |h| */
    for (int v = 0; v < V; v++) {
        double s = 0;
        for (int i = 0; i < D; i++)
            s += (double)W[(size_t)v * D + i] * e1[i];
        worst = fmax(worst, fabs(logits[v] - k * s));
    }
    CHECK(k > 0 && worst < 1e-3 * fabs(k), "logits = |h| W e (worst %g, |h| %g)", worst, k);

    /* a prompt in one batch (seq 1) == in chunks interleaved with another sequence (seq 2, 3) */
    int32_t prompt[6] = {1, 403, 407, 261, 378, 300}, pos[6] = {0, 1, 2, 3, 4, 5};
    int32_t seq1[6] = {1, 1, 1, 1, 1, 1};
    gptc_batch whole = {.n_tokens = 6, .token = prompt, .pos = pos, .seq_id = seq1};
    CHECK(gptc_decode(c, &whole, &err) == GPTC_OK, "decode whole");
    float ew[4096];
    memcpy(ew, gptc_get_embeddings(c, 1), (size_t)D * sizeof(float));
    for (int start = 0; start < 6; start += 2) {
        int32_t tk[4] = {prompt[start], prompt[start + 1], 77, 78},
                ps[4] = {start, start + 1, start, start + 1};
        int32_t sq[4] = {2, 2, 3, 3};
        gptc_batch chunk = {.n_tokens = 4, .token = tk, .pos = ps, .seq_id = sq};
        CHECK(gptc_decode(c, &chunk, &err) == GPTC_OK, "decode chunk");
    }
    const float *ec = gptc_get_embeddings(c, 2);
    CHECK(ec && max_diff(ec, ew, D) < 1e-5, "chunked + interleaved == one batch (%g)",
          ec ? max_diff(ec, ew, D) : -1);
    CHECK(max_diff(gptc_get_embeddings(c, 3), ew, D) > 1e-3, "another sequence, another vector");
    /* seq 0 is untouched by the others */
    CHECK(max_diff(gptc_get_embeddings(c, 0), e1, D) == 0, "seq 0 unchanged");

    /* removing part of a sequence keeps the sum; removing all of it starts over */
    gptc_kv_seq_rm(c, 2, 4, -1);
    CHECK(gptc_get_embeddings(c, 2) != NULL, "partial rm keeps the pooled state");
    gptc_kv_seq_rm(c, 2, 0, -1);
    CHECK(gptc_get_embeddings(c, 2) == NULL, "whole rm starts over");
    gptc_kv_seq_rm(c, 1, -1, -1);
    CHECK(gptc_get_embeddings(c, 1) == NULL, "p0 < 0 means from the start");
    gptc_kv_clear(c);
    CHECK(gptc_get_embeddings(c, 0) == NULL && gptc_get_embeddings(c, 3) == NULL,
          "clear starts over");
    CHECK(gptc_decode(c, &whole, &err) == GPTC_OK, "decode again");
    CHECK(max_diff(gptc_get_embeddings(c, 1), ew, D) < 1e-5,
          "same tokens, same vector after clear");

    gptc_ctx_free(c);
    gptc_model_free(m);
    return test_summary();
}
