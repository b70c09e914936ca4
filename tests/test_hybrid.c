/*
 * test_hybrid.c — models with a recurrent state per sequence (hybrid layers; the server's prefix
 * reuse also on qwen35 and qwen35moe, whose own checks are in test_qwen35.c):
 *   - the context's state bookkeeping (context.h, gptc.h): layers that declare n_state get a
 *     slot per sequence; in-order positions are enforced; seq_rm cuts only at saved
 *     checkpoints (GPTC_E_UNSUPPORTED otherwise, nothing changed); seq_cp copies the state at
 *     the cut and the checkpoints below it; a whole-sequence clear resets it; gptc_kv_seq_cut;
 *     the checkpoint ring. Checked on a dense model whose layers are given a fake state (the
 *     bookkeeping does not depend on what the layers compute);
 *   - lfm2 (gated short convolutions + attention) against llama.cpp (../shared/data/gguf/arch,
 *     README there): logits after the prompt within 1e-3 of the range of the all-F32 run, greedy
 *     steps and top-5 logits against the default run, 1 and 2 threads; against
 *     scripts/lfm2_ref.py's float64 pass on prompts of our own (tests/fixtures/lfm2_ref.tsv);
 *     quantized copies (gptc quantize) against llama.cpp's greedy ids;
 *   - the chunk-parallel conv equals the per-token scalar loop bit for bit (logits and states),
 *     token-by-token decoding and interleaved sequences agree with one batch;
 *   - a checkpointed / seq_cp'd state gives the same tokens as a cold start; a cut without a
 *     checkpoint is refused;
 *   - bad lfm2 files (missing tensor, wrong shapes, bad keys) are clear errors;
 *   - the server's prefix reuse on lfm2 (checkpoints at prompt boundaries, copies from a running
 *     slot) gives the same greedy text as a cold start, and reuses what it can.
 */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "model/context.h"
#include "model/model.h"
#include "quant/quantize.h"
#include "server/server.h"
#include "test.h"

#include "http_client.h"

#include "arch_check.h"
#include "gguf_variant.h"

#define LFM2 "rand-lfm2-d64-F32"

/* Decode tokens [p0, p1) of a fixed stream into seq at their positions. */
static gptc_status feed(gptc_ctx *c, int seq, int p0, int p1, gptc_err *err)
{
    int32_t tok[64], pos[64], sid[64];
    int n = 0;
    for (int p = p0; p < p1 && n < 64; p++, n++) {
        tok[n] = (p * 7 + 3) % 500;
        pos[n] = p;
        sid[n] = seq;
    }
    gptc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = sid};
    return gptc_decode(c, &b, err);
}

static void set_state(gptc_ctx *c, int seq, float v)
{
    for (size_t i = 0; i < c->n_state; i++)
        c->state[(size_t)seq * c->n_state + i] = v + (float)i;
}

static int state_is(const gptc_ctx *c, int seq, float v)
{
    for (size_t i = 0; i < c->n_state; i++)
        if (c->state[(size_t)seq * c->n_state + i] != v + (float)i) return 0;
    return 1;
}

static int state_zero(const gptc_ctx *c, int seq)
{
    for (size_t i = 0; i < c->n_state; i++)
        if (c->state[(size_t)seq * c->n_state + i] != 0.0f) return 0;
    return 1;
}

static void test_state_bookkeeping(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/arch/rand-qwen3-d128-F32.gguf", test_data_dir());
    gptc_model *m;
    gptc_err err;
    if (gptc_model_load(path, NULL, &m, &err)) {
        CHECK(0, "load %s: %s", path, err.msg);
        return;
    }
    CHECK(!gptc_model_recurrent(m), "a dense model has no recurrent state");
    gptc_ctx *c;
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_seq_max = 3;
    cp.n_threads = 1;
    /* without state: every cut is possible */
    if (gptc_ctx_init(m, &cp, &c, &err) == GPTC_OK) {
        CHECK(feed(c, 0, 0, 6, &err) == GPTC_OK, "dense feed: %s", err.msg);
        CHECK(gptc_kv_seq_cut(c, 0, 3) == 3, "dense: cut anywhere");
        CHECK(gptc_kv_seq_rm(c, 0, 3, -1) == GPTC_OK, "dense: seq_rm of a suffix");
        CHECK(gptc_kv_seq_cp(c, 0, 1, 0, 2) == GPTC_OK, "dense: seq_cp of a prefix");
        CHECK(gptc_kv_seq_rm(c, 5, 0, -1) == GPTC_E_RANGE, "seq_rm: sequence out of range");
        CHECK(gptc_kv_seq_cp(c, 0, 9, 0, -1) == GPTC_E_RANGE, "seq_cp: sequence out of range");
        CHECK(gptc_kv_seq_checkpoint(c, 0) == GPTC_OK, "dense: checkpoint is a no-op");
        CHECK(c->n_state == 0 && !c->state, "dense: no state allocated");
        gptc_ctx_free(c);
    }

    m->layers[0].n_state = 5; /* a fake recurrent state: only the bookkeeping is checked */
    m->layers[1].n_state = 3;
    CHECK(gptc_model_recurrent(m) && gptc_state_bytes(m) == 32, "state bytes %llu",
          (unsigned long long)gptc_state_bytes(m));
    cp.n_ckpt = 2;
    if (gptc_ctx_init(m, &cp, &c, &err)) {
        CHECK(0, "ctx: %s", err.msg);
        gptc_model_free(m);
        return;
    }
    CHECK(c->n_state == 8 && c->state_off[1] == 5, "slot layout: %zu", c->n_state);
    CHECK(gptc_state(c, 1, 2) == c->state + 2 * 8 + 5, "gptc_state addresses layer 1 of seq 2");
    CHECK(state_zero(c, 0) && state_zero(c, 2), "states start at zero");

    CHECK(feed(c, 0, 0, 4, &err) == GPTC_OK, "feed: %s", err.msg);
    set_state(c, 0, 100.0f);
    CHECK(gptc_kv_seq_checkpoint(c, 0) == GPTC_OK, "checkpoint at 4");
    CHECK(feed(c, 0, 4, 6, &err) == GPTC_OK, "feed: %s", err.msg);
    set_state(c, 0, 200.0f);

    /* positions must continue the state */
    CHECK(feed(c, 0, 7, 8, &err) == GPTC_E_INVALID && strstr(err.msg, "position 6"),
          "a gap is refused: %s", err.msg);
    CHECK(feed(c, 0, 3, 4, &err) == GPTC_E_INVALID, "a rewrite without a cut is refused");
    CHECK(gptc_kv_seq_pos_max(c, 0) == 5 && state_is(c, 0, 200.0f), "refused batch: no change");

    CHECK(gptc_kv_seq_cut(c, 0, 5) == 4, "cut at 5 -> the checkpoint at 4");
    CHECK(gptc_kv_seq_cut(c, 0, 3) == 0, "cut at 3 -> 0");
    CHECK(gptc_kv_seq_cut(c, 0, 6) == 6 && gptc_kv_seq_cut(c, 0, 60) == 60, "cut at the end");

    CHECK(gptc_kv_seq_rm(c, 0, 5, -1) == GPTC_E_UNSUPPORTED, "no checkpoint at 5");
    CHECK(gptc_kv_seq_rm(c, 0, 1, 3) == GPTC_E_UNSUPPORTED, "a range in the middle");
    CHECK(gptc_kv_seq_pos_max(c, 0) == 5 && state_is(c, 0, 200.0f), "refused cut: no change");
    CHECK(gptc_kv_seq_rm(c, 0, 6, -1) == GPTC_OK && gptc_kv_seq_rm(c, 0, 9, 12) == GPTC_OK,
          "removing nothing past the end is fine");
    CHECK(gptc_kv_seq_rm(c, 0, 2, 2) == GPTC_OK, "an empty range is fine");

    /* copies: the whole sequence, then a prefix at the checkpoint */
    CHECK(gptc_kv_seq_cp(c, 0, 1, 0, -1) == GPTC_OK, "seq_cp whole");
    CHECK(state_is(c, 1, 200.0f) && gptc_kv_seq_pos_max(c, 1) == 5, "seq 1 = seq 0");
    CHECK(gptc_kv_seq_cut(c, 1, 5) == 4, "the checkpoint came along");
    CHECK(feed(c, 1, 6, 7, &err) == GPTC_OK, "seq 1 goes on at 6: %s", err.msg);
    CHECK(gptc_kv_seq_cp(c, 0, 2, 0, 5) == GPTC_E_UNSUPPORTED && state_zero(c, 2),
          "a prefix without a checkpoint is refused");
    CHECK(gptc_kv_seq_cp(c, 0, 2, 2, -1) == GPTC_E_UNSUPPORTED, "a copy from the middle");
    CHECK(gptc_kv_seq_pos_max(c, 2) == -1, "refused copy: no cells");
    CHECK(gptc_kv_seq_cp(c, 0, 2, 0, 4) == GPTC_OK, "seq_cp of the prefix at the checkpoint");
    CHECK(state_is(c, 2, 100.0f) && gptc_kv_seq_pos_max(c, 2) == 3, "seq 2 = seq 0 at 4");
    CHECK(feed(c, 2, 4, 5, &err) == GPTC_OK, "seq 2 goes on at 4: %s", err.msg);
    CHECK(gptc_kv_seq_cp(c, 0, 2, 0, 0) == GPTC_OK && state_zero(c, 2),
          "seq_cp of an empty prefix gives the zero state");
    gptc_kv_seq_rm(c, 2, 0, -1);

    /* cut back to the checkpoint */
    CHECK(gptc_kv_seq_rm(c, 0, 4, -1) == GPTC_OK, "seq_rm at the checkpoint");
    CHECK(state_is(c, 0, 100.0f) && gptc_kv_seq_pos_max(c, 0) == 3, "state restored");
    CHECK(gptc_kv_seq_cut(c, 0, 4) == 4, "the checkpoint stays");
    CHECK(state_is(c, 1, 200.0f), "seq 1 untouched");
    CHECK(feed(c, 0, 4, 5, &err) == GPTC_OK, "seq 0 goes on at 4: %s", err.msg);
    /* a cut to 0 with tokens left would leave cells: whole clear resets */
    CHECK(gptc_kv_seq_rm(c, 0, 0, -1) == GPTC_OK && state_zero(c, 0) &&
              gptc_kv_seq_pos_max(c, 0) == -1 && gptc_kv_seq_cut(c, 0, 4) == 4,
          "whole clear resets the state");
    CHECK(feed(c, 0, 0, 3, &err) == GPTC_OK, "feed after clear: %s", err.msg);
    CHECK(gptc_kv_seq_cut(c, 0, 2) == 0, "old checkpoints are gone");

    /* the ring: 2 checkpoints, the least recently saved goes */
    gptc_kv_seq_rm(c, 0, 0, -1);
    for (int p = 1; p <= 3; p++) {
        feed(c, 0, p - 1, p, &err);
        set_state(c, 0, 10.0f * p);
        gptc_kv_seq_checkpoint(c, 0);
    }
    feed(c, 0, 3, 5, &err);
    CHECK(gptc_kv_seq_cut(c, 0, 4) == 3 && gptc_kv_seq_cut(c, 0, 2) == 2 &&
              gptc_kv_seq_cut(c, 0, 1) == 0,
          "ring keeps the last two");
    CHECK(gptc_kv_seq_rm(c, 0, 2, -1) == GPTC_OK && state_is(c, 0, 20.0f), "restore at 2");
    feed(c, 0, 2, 4, &err);
    CHECK(gptc_kv_seq_cut(c, 0, 3) == 2, "the checkpoint at 3 went with the cut");
    gptc_kv_seq_rm(c, 0, 2, -1);
    gptc_kv_seq_checkpoint(c, 0); /* the same length again: replaced, not added */
    set_state(c, 0, 21.0f);
    gptc_kv_seq_checkpoint(c, 0);
    CHECK(gptc_kv_seq_rm(c, 0, 2, -1) == GPTC_OK && state_is(c, 0, 21.0f),
          "a checkpoint at the same length is replaced");

    gptc_kv_clear(c);
    CHECK(state_zero(c, 0) && state_zero(c, 1) && gptc_kv_seq_pos_max(c, 1) == -1,
          "kv_clear resets every state");
    CHECK(feed(c, 1, 0, 2, &err) == GPTC_OK, "seq 1 starts at 0 after kv_clear");
    gptc_ctx_free(c);
    gptc_model_free(m);
}

/* ----- lfm2 --------------------------------------------------------------------------------- */

static const char *lfm2_path(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/gguf/arch/" LFM2 ".gguf", test_data_dir());
    return path;
}

/* Decode ids (n) into seq from position p0 in one batch; logits of the last token copied to lg. */
static int decode_into(gptc_ctx *c, int seq, int p0, const int32_t *ids, int n, float *lg, int V)
{
    int32_t pos[128], sid[128];
    gptc_err err;
    for (int i = 0; i < n; i++) {
        pos[i] = p0 + i;
        sid[i] = seq;
    }
    gptc_batch b = {.n_tokens = n, .token = ids, .pos = pos, .seq_id = sid};
    if (gptc_decode(c, &b, &err)) {
        CHECK(0, "decode seq %d at %d: %s", seq, p0, err.msg);
        return 0;
    }
    if (lg) memcpy(lg, gptc_get_logits(c, n - 1), (size_t)V * sizeof *lg);
    return 1;
}

/* n greedy ids of seq from its current end (the logits lg of its last token given). */
static int greedy_from(gptc_ctx *c, int seq, float *lg, int V, int n, int *out)
{
    for (int s = 0; s < n; s++) {
        int32_t tok = out[s] = argmax(lg, V);
        if (!decode_into(c, seq, gptc_kv_seq_pos_max(c, seq) + 1, &tok, 1, lg, V)) return 0;
    }
    return 1;
}

static const int32_t g_prompt[] = {1, 403, 407, 261, 378, 17, 300, 45, 45, 9, 200, 511, 0, 2, 88};
#define N_PROMPT ((int)(sizeof g_prompt / sizeof g_prompt[0]))

/* Batch conv (1 and 2 threads) == the scalar loop, bit for bit; token by token ~= one batch;
 * two sequences interleaved in one batch == each alone. */
static void check_conv_forms(gptc_model *m)
{
    int V = gptc_model_hparams(m)->n_vocab;
    float *lg[4];
    for (int i = 0; i < 4; i++)
        lg[i] = malloc((size_t)V * sizeof(float));
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 128;
    cp.n_seq_max = 2;
    cp.type_k = cp.type_v = 0;
    gptc_err err;
    gptc_ctx *c[3] = {0};
    for (int i = 0; i < 3; i++) {
        cp.n_threads = i == 1 ? 2 : 1;
        if (gptc_ctx_init(m, &cp, &c[i], &err)) CHECK(0, "ctx: %s", err.msg);
    }
    if (!c[0] || !c[1] || !c[2]) goto out;
    c[2]->scalar_ref = 1;
    for (int i = 0; i < 3; i++)
        decode_into(c[i], 0, 0, g_prompt, N_PROMPT, lg[i], V);
    CHECK(memcmp(lg[0], lg[2], (size_t)V * sizeof(float)) == 0,
          "batch conv == scalar loop: logits bit for bit");
    CHECK(memcmp(lg[0], lg[1], (size_t)V * sizeof(float)) == 0, "1 and 2 threads: same logits");
    CHECK(memcmp(c[0]->state, c[2]->state, c[0]->n_state * sizeof(float)) == 0 &&
              memcmp(c[1]->state, c[2]->state, c[0]->n_state * sizeof(float)) == 0,
          "batch conv == scalar loop: states bit for bit");
    /* token by token, scalar: the same logits up to the products' summation order */
    gptc_kv_clear(c[2]);
    for (int i = 0; i < N_PROMPT; i++)
        decode_into(c[2], 0, i, g_prompt + i, 1, lg[3], V);
    double d = 0;
    for (int i = 0; i < V; i++)
        d = fmax(d, fabs(lg[3][i] - lg[0][i]));
    CHECK(d < 1e-4, "token by token vs one batch: max |d| %.2e", d);
    /* two sequences interleaved in one batch (uneven lengths), batch form */
    gptc_kv_clear(c[1]);
    static const int32_t other[] = {250, 250, 30, 31, 32, 33, 34};
    int32_t tok[64], pos[64], sid[64];
    int8_t want[64] = {0};
    int n = 0, i0 = 0, i1 = 0, last0 = 0, last1 = 0;
    while (i0 < N_PROMPT || i1 < 7) {
        if (i0 < N_PROMPT) {
            tok[n] = g_prompt[i0], pos[n] = i0++, sid[n] = 0, last0 = n++;
            if (i0 < N_PROMPT) tok[n] = g_prompt[i0], pos[n] = i0++, sid[n] = 0, last0 = n++;
        }
        if (i1 < 7) tok[n] = other[i1], pos[n] = i1++, sid[n] = 1, last1 = n++;
    }
    want[last0] = want[last1] = 1;
    gptc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = sid, .logits = want};
    CHECK(gptc_decode(c[1], &b, &err) == GPTC_OK, "interleaved batch: %s", err.msg);
    const float *l0 = gptc_get_logits(c[1], last0), *l1 = gptc_get_logits(c[1], last1);
    gptc_kv_clear(c[0]);
    decode_into(c[0], 1, 0, other, 7, lg[3], V);
    double d0 = 0, d1 = 0;
    for (int i = 0; l0 && l1 && i < V; i++) {
        d0 = fmax(d0, fabs(l0[i] - lg[0][i]));
        d1 = fmax(d1, fabs(l1[i] - lg[3][i]));
    }
    CHECK(l0 && l1 && d0 < 1e-4 && d1 < 1e-4, "interleaved sequences == each alone: %.2e %.2e", d0,
          d1);
    printf("# lfm2 conv forms: scalar == batch (bits), token by token %.2e, interleaved %.2e "
           "%.2e\n",
           d, d0, d1);
    /* a batch large enough for the conv to run on the pool (T * D * K >= 2^16): two sequences
     * in uneven runs, 2 threads vs the scalar loop on 1 */
    {
        enum { NB = 400 };
        gptc_ctx *cb[2] = {0};
        cp.n_ctx = 512;
        cp.n_batch = 512;
        for (int i = 0; i < 2; i++) {
            cp.n_threads = i ? 1 : 2;
            if (gptc_ctx_init(m, &cp, &cb[i], &err)) CHECK(0, "ctx: %s", err.msg);
        }
        if (cb[0] && cb[1]) {
            cb[1]->scalar_ref = 1;
            int32_t *bt = malloc(NB * 3 * sizeof *bt), *bp = bt + NB, *bs = bt + 2 * NB;
            int8_t *bl = calloc(NB, 1);
            int np[2] = {0, 0}, lastk[2] = {0, 0};
            for (int i = 0; i < NB; i++) {
                int sq = i % 4 == 3;
                bt[i] = (i * 37 + 11) % 512;
                bs[i] = sq;
                bp[i] = np[sq]++;
                lastk[sq] = i;
            }
            bl[lastk[0]] = bl[lastk[1]] = 1;
            gptc_batch bb = {.n_tokens = NB, .token = bt, .pos = bp, .seq_id = bs, .logits = bl};
            int ok = 1;
            for (int i = 0; i < 2; i++)
                ok &= gptc_decode(cb[i], &bb, &err) == GPTC_OK;
            CHECK(ok, "large batch: %s", err.msg);
            for (int k = 0; ok && k < 2; k++) {
                const float *a = gptc_get_logits(cb[0], lastk[k]),
                            *b2 = gptc_get_logits(cb[1], lastk[k]);
                CHECK(a && b2 && memcmp(a, b2, (size_t)V * sizeof *a) == 0,
                      "large batch, seq %d: threaded conv == scalar loop (logits, bits)", k);
            }
            CHECK(ok && memcmp(cb[0]->state, cb[1]->state, 2 * cb[0]->n_state * sizeof(float)) == 0,
                  "large batch: threaded conv == scalar loop (both states, bits)");
            free(bt);
            free(bl);
        }
        for (int i = 0; i < 2; i++)
            gptc_ctx_free(cb[i]);
    }
out:
    for (int i = 0; i < 3; i++)
        gptc_ctx_free(c[i]);
    for (int i = 0; i < 4; i++)
        free(lg[i]);
}

/* A checkpointed, cut back or copied state continues exactly as a cold start does. */
static void check_state_reuse(gptc_model *m)
{
    enum { N_GEN = 10 };
    int V = gptc_model_hparams(m)->n_vocab;
    float *lg = malloc((size_t)V * sizeof *lg), *lg0 = malloc((size_t)V * sizeof *lg0);
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 128;
    cp.n_seq_max = 3;
    cp.n_threads = 2;
    gptc_err err;
    gptc_ctx *c;
    if (gptc_ctx_init(m, &cp, &c, &err)) {
        CHECK(0, "ctx: %s", err.msg);
        free(lg);
        free(lg0);
        return;
    }
    int cold[N_GEN], again[N_GEN], copy[N_GEN], mid[N_GEN];
    /* cold start: the prompt, then N_GEN greedy ids */
    decode_into(c, 0, 0, g_prompt, N_PROMPT, lg0, V);
    memcpy(lg, lg0, (size_t)V * sizeof *lg);
    CHECK(gptc_kv_seq_checkpoint(c, 0) == GPTC_OK, "checkpoint after the prompt");
    greedy_from(c, 0, lg, V, N_GEN, cold);
    CHECK(gptc_kv_seq_rm(c, 0, N_PROMPT + 3, -1) == GPTC_E_UNSUPPORTED,
          "a cut without a checkpoint is refused");
    CHECK(gptc_kv_seq_cut(c, 0, N_PROMPT + 3) == N_PROMPT, "seq_cut finds the checkpoint");
    /* back to the checkpoint, generate again */
    CHECK(gptc_kv_seq_rm(c, 0, N_PROMPT, -1) == GPTC_OK, "cut at the checkpoint");
    memcpy(lg, lg0, (size_t)V * sizeof *lg);
    greedy_from(c, 0, lg, V, N_GEN, again);
    CHECK(memcmp(cold, again, sizeof cold) == 0, "cut back to the checkpoint == cold start");
    /* a copy of the prefix at the checkpoint into another sequence */
    CHECK(gptc_kv_seq_cp(c, 0, 1, 0, N_PROMPT) == GPTC_OK, "seq_cp of the checkpointed prefix");
    memcpy(lg, lg0, (size_t)V * sizeof *lg);
    greedy_from(c, 1, lg, V, N_GEN, copy);
    CHECK(memcmp(cold, copy, sizeof cold) == 0, "seq_cp'd state == cold start");
    /* a checkpoint in the middle of the prompt: the rest decoded again */
    gptc_kv_seq_rm(c, 1, 0, -1);
    decode_into(c, 1, 0, g_prompt, 6, NULL, V);
    gptc_kv_seq_checkpoint(c, 1);
    decode_into(c, 1, 6, g_prompt + 6, 4, NULL, V);
    int cut = gptc_kv_seq_cut(c, 1, 8);
    CHECK(cut == 6 && gptc_kv_seq_rm(c, 1, cut, -1) == GPTC_OK, "cut to 6");
    decode_into(c, 1, cut, g_prompt + cut, N_PROMPT - cut, lg, V);
    greedy_from(c, 1, lg, V, N_GEN, mid);
    CHECK(memcmp(cold, mid, sizeof cold) == 0, "re-prefill from a mid-prompt checkpoint");
    /* the whole copy of a running sequence */
    gptc_kv_seq_rm(c, 2, 0, -1);
    CHECK(gptc_kv_seq_cp(c, 1, 2, 0, -1) == GPTC_OK, "seq_cp whole");
    int a[4], b2[4];
    float *lg2 = malloc((size_t)V * sizeof *lg2);
    memcpy(lg2, lg, (size_t)V * sizeof *lg);
    greedy_from(c, 1, lg, V, 4, a);
    greedy_from(c, 2, lg2, V, 4, b2);
    CHECK(memcmp(a, b2, sizeof a) == 0, "a whole copy continues as the original");
    free(lg2);
    gptc_ctx_free(c);
    free(lg);
    free(lg0);
}

static void check_bad_files(void)
{
    /* clang-format off */
    static const bad_case cases[] = {
        {"missing conv taps", .drop_tensor = "blk.3.shortconv.conv.weight", .expect = "blk.3.shortconv.conv.weight' is missing"},
        {"missing in_proj", .drop_tensor = "blk.0.shortconv.in_proj.weight", .expect = "blk.0.shortconv.in_proj.weight' is missing"},
        {"missing final norm", .drop_tensor = "token_embd_norm.weight", .expect = "token_embd_norm.weight' is missing"},
        {"missing k norm", .drop_tensor = "blk.4.attn_k_norm.weight", .expect = "blk.4.attn_k_norm.weight' is missing"},
        {"conv taps shape", .bad_shape = "blk.1.shortconv.conv.weight", .expect = "blk.1.shortconv.conv.weight' has shape [3, 65], expected [3, 64]"},
        {"in_proj shape", .bad_shape = "blk.5.shortconv.in_proj.weight", .expect = "blk.5.shortconv.in_proj.weight' has shape"},
        {"out_proj shape", .bad_shape = "blk.0.shortconv.out_proj.weight", .expect = "blk.0.shortconv.out_proj.weight' has shape"},
        {"taps vs l_cache", .set_key = "lfm2.shortconv.l_cache", .set_val = 4, .expect = "expected [4, 64]"},
        {"l_cache out of range", .set_key = "lfm2.shortconv.l_cache", .set_val = 1, .expect = "lfm2.shortconv.l_cache"},
        {"kv heads per layer, wrong count", .set_key = "lfm2.attention.head_count_kv", .set_val = 2, .set_i32s = 5, .expect = "has 5 values for 6 layers"},
        {"kv heads not dividing", .set_key = "lfm2.attention.head_count_kv", .set_val = 3, .set_i32s = 6, .expect = "not a multiple of head_count_kv[0] = 3"},
        {"attention where the file has conv", .set_key = "lfm2.attention.head_count_kv", .set_val = 2, .set_i32s = 6, .expect = "blk.0.attn_q.weight' is missing"},
        {"conv where the file has attention", .set_key = "lfm2.attention.head_count_kv", .set_val = 0, .set_i32s = 6, .expect = "blk.2.shortconv.in_proj.weight' is missing"},
    };
    /* clang-format on */
    char dir[] = "/tmp/gptc_test_hybrid_bad_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[600];
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    gguf_file *src;
    gptc_err err;
    if (gptc_gguf_open(lfm2_path(), &src, &err)) {
        CHECK(0, "open: %s", err.msg);
        return;
    }
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const bad_case *bc = &cases[k];
        CHECK(write_variant(src, bc, path), "%s: write", bc->desc);
        gptc_model *m = NULL;
        gptc_status s = gptc_model_load(path, NULL, &m, &err);
        CHECK(s != GPTC_OK && m == NULL, "%s: loaded a bad model", bc->desc);
        CHECK(s == GPTC_OK || strstr(err.msg, bc->expect) != NULL, "%s: message '%s' lacks '%s'",
              bc->desc, err.msg, bc->expect);
        gptc_model_free(m);
    }
    gptc_gguf_close(src);
    unlink(path);
    rmdir(dir);
}

static void check_lfm2(void)
{
    for (int th = 1; th <= 2; th++)
        check_llamacpp(LFM2, NULL, "as is", 1e-3, 0.02, th, 32);
    gptc_model *m;
    gptc_err err;
    if (gptc_model_load(lfm2_path(), NULL, &m, &err)) {
        CHECK(0, "load: %s", err.msg);
        return;
    }
    CHECK(gptc_model_recurrent(m) && gptc_state_bytes(m) == 4 * 2 * 64 * sizeof(float),
          "lfm2: 4 conv layers x 2 x 64 floats of state per sequence");
    char desc[512];
    gptc_model_describe(m, desc, sizeof desc);
    CHECK(strstr(desc, "short convolution (3 taps) on layers 0,1,3,5") != NULL, "describe: %s",
          desc);
    check_conv_forms(m);
    check_state_reuse(m);
    gptc_model_free(m);
    check_bad_files();
    /* Quantized copies (rows of 64: the K mixes fall back as in llama-quantize). Against
     * llama.cpp's F32 run they follow its greedy ids until a step whose margin is within what
     * the quantization moves the logits (random weights: q8_0 moves them by ~0.5, 4 bits by
     * whole units); against the float64 pass of the same quantized file (dequantized weights,
     * Q8_0-rounded activations: what llama.cpp's CPU backend computes) they match closely. */
    char dir[] = "/tmp/gptc_test_hybrid_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    static const struct {
        const char *mix;
        double tol;
        int min_steps;
    } mixes[] = {{"q8_0", 0.35, 6}, {"q4_0", 1e9, 0}, {"q4_k_m", 1e9, 0}};
    char out[3][600];
    for (size_t k = 0; k < sizeof mixes / sizeof mixes[0]; k++) {
        snprintf(out[k], sizeof out[k], "%s/q.%s", dir, mixes[k].mix);
        gptc_quantize_params qp = {.n_threads = 1};
        if (gptc_quantize_model(lfm2_path(), NULL, out[k], mixes[k].mix, &qp, NULL, &err)) {
            CHECK(0, "lfm2: quantize %s: %s", mixes[k].mix, err.msg);
            continue;
        }
        check_llamacpp(LFM2, out[k], mixes[k].mix, -1, mixes[k].tol, 2, mixes[k].min_steps);
    }
    check_numpy("tests/fixtures/lfm2_ref.tsv", dir); /* its @q8_0 and @q4_0 lines */
    for (size_t k = 0; k < sizeof mixes / sizeof mixes[0]; k++)
        unlink(out[k]);
    rmdir(dir);
}

/* ----- the server's prefix reuse -------------------------------------------------------------- */

typedef struct srv_req {
    int port;
    char body[1024];
    char text[4096];
    int prompt_tokens, cached;
    pthread_t th;
} srv_req;

static void srv_quiet(void *user, const char *line)
{
    (void)user;
    if (getenv("GPTC_TEST_VERBOSE")) fprintf(stderr, "server: %s\n", line);
}

/* POST /v1/completions; the choice's text and the usage into r. */
static void *srv_post(void *arg)
{
    srv_req *r = arg;
    r->text[0] = 0;
    r->prompt_tokens = r->cached = -1;
    int fd = connect_port(r->port);
    if (fd < 0) return NULL;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     strlen(r->body));
    send_all(fd, head, (size_t)n);
    send_all(fd, r->body, strlen(r->body));
    char *resp = read_all(fd, 60, NULL);
    close(fd);
    const char *b = resp ? strstr(resp, "\r\n\r\n") : NULL;
    json_t *j = b ? json_loads(b + 4, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, NULL) : NULL;
    json_t *t = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text");
    if (json_is_string(t)) { /* a random model may emit U+0000: kept visible as '?' */
        size_t len =
            json_string_length(t) < sizeof r->text - 1 ? json_string_length(t) : sizeof r->text - 1;
        memcpy(r->text, json_string_value(t), len);
        for (size_t i = 0; i < len; i++)
            if (!r->text[i]) r->text[i] = '?';
        r->text[len] = 0;
    }
    json_t *u = json_object_get(j, "usage");
    r->prompt_tokens = (int)json_integer_value(json_object_get(u, "prompt_tokens"));
    r->cached = (int)json_integer_value(
        json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"));
    json_decref(j);
    free(resp);
    return NULL;
}

static gptc_server *srv_open(const gptc_model *m, int *port)
{
    gptc_server_params p = gptc_server_default_params();
    p.port = 0;
    p.n_parallel = 2;
    p.n_ctx_seq = 1024;
    p.n_ctx = 2048;
    p.n_threads = 1;
    p.log = srv_quiet;
    gptc_server *srv = NULL;
    gptc_err err;
    if (gptc_server_start(m, &p, &srv, &err)) {
        CHECK(0, "server start: %s", err.msg);
        return NULL;
    }
    *port = gptc_server_port(srv);
    return srv;
}

static void srv_body(srv_req *r, const char *prompt, int max_tokens)
{
    snprintf(r->body, sizeof r->body,
             "{\"prompt\": \"%s\", \"max_tokens\": %d, \"temperature\": 0, \"ignore_eos\": true}",
             prompt, max_tokens);
}

/* The greedy text of prompt on a server that has seen nothing else. */
static void cold_text(const gptc_model *m, const char *prompt, int max_tokens, char *out, size_t n)
{
    srv_req r = {0};
    gptc_server *srv = srv_open(m, &r.port);
    out[0] = 0;
    if (!srv) return;
    srv_body(&r, prompt, max_tokens);
    srv_post(&r);
    snprintf(out, n, "%s", r.text);
    gptc_server_free(srv);
}

static void check_server_reuse(const gptc_model *m)
{
    static const struct {
        const char *prompt;
        int max_tokens;
        int want_cached; /* 1: some of the prompt must come from the cache */
    } seq[] = {
        {"Once upon a time there was a little cat", 12, 0},
        {"Once upon a time there was a little cat", 12, 1},                /* the same: n - 1 */
        {"Once upon a time there was a little cat who liked fish", 12, 1}, /* extended */
        {"Once upon a time there", 12, 0},                                 /* a shorter prefix */
        {"Once upon a time there was a little cat", 12, 1},                /* back again */
    };
    int port;
    gptc_server *srv = srv_open(m, &port);
    if (!srv) return;
    char cold[4096];
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        srv_req r = {.port = port};
        srv_body(&r, seq[i].prompt, seq[i].max_tokens);
        srv_post(&r);
        cold_text(m, seq[i].prompt, seq[i].max_tokens, cold, sizeof cold);
        CHECK(r.text[0] && strcmp(r.text, cold) == 0,
              "server reuse, request %zu: '%s' vs cold start '%s'", i, r.text, cold);
        CHECK(!seq[i].want_cached || (r.cached > 0 && r.cached < r.prompt_tokens),
              "request %zu: %d of %d prompt tokens cached", i, r.cached, r.prompt_tokens);
        if (i == 1)
            CHECK(r.cached == r.prompt_tokens - 1, "the same prompt again: %d of %d cached",
                  r.cached, r.prompt_tokens);
        printf("# server reuse %zu: %d of %d prompt tokens cached, text equal to a cold start\n", i,
               r.cached, r.prompt_tokens);
    }
    /* a prompt extending one still generating in the other slot: copied from it (or from its
     * idle slot when it has finished) at the checkpoint */
    srv_req a = {.port = port}, b = {.port = port};
    srv_body(&a, "The dog ran to the park and", 600);
    srv_body(&b, "The dog ran to the park and saw a bird", 12);
    pthread_create(&a.th, NULL, srv_post, &a);
    for (int k = 0; k < 200; k++) { /* until the first one is running (bounded) */
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        char *r = NULL;
        int fd = connect_port(port);
        if (fd >= 0) {
            const char *q = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            send_all(fd, q, strlen(q));
            r = read_all(fd, 10, NULL);
            close(fd);
        }
        int busy = r && strstr(r, "gptc_slots_busy 1") != NULL;
        free(r);
        if (busy) break;
    }
    srv_post(&b);
    pthread_join(a.th, NULL);
    char cold_a[4096];
    cold_text(m, "The dog ran to the park and saw a bird", 12, cold, sizeof cold);
    cold_text(m, "The dog ran to the park and", 600, cold_a, sizeof cold_a);
    CHECK(b.text[0] && strcmp(b.text, cold) == 0, "copied prefix: '%s' vs cold start '%s'", b.text,
          cold);
    CHECK(a.text[0] && strcmp(a.text, cold_a) == 0,
          "the source slot is not disturbed: %zu bytes '%.40s' vs cold %zu '%.40s'", strlen(a.text),
          a.text, strlen(cold_a), cold_a);
    CHECK(b.cached > 0, "copied prefix: %d of %d prompt tokens cached", b.cached, b.prompt_tokens);
    printf("# server reuse from a running slot: %d of %d prompt tokens cached, text equal to a "
           "cold start\n",
           b.cached, b.prompt_tokens);
    gptc_server_free(srv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (access(lfm2_path(), R_OK) != 0) {
        printf("  (skipped: %s not found)\n", lfm2_path());
        return test_summary();
    }
    test_state_bookkeeping();
    check_lfm2();
    gptc_model *m;
    gptc_err err;
    if (gptc_model_load(lfm2_path(), NULL, &m, &err) == GPTC_OK) {
        check_server_reuse(m);
        gptc_model_free(m);
    }
    /* the same on the Qwen3.5 hybrids (delta-net state; qwen35.c) */
    static const char *const others[] = {"rand-qwen35-d128-F32", "rand-qwen35moe-d128-F32"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/gguf/arch/%s.gguf", test_data_dir(), others[i]);
        if (gptc_model_load(path, NULL, &m, &err) != GPTC_OK) {
            CHECK(0, "load %s: %s", path, err.msg);
            continue;
        }
        printf("# %s\n", others[i]);
        check_server_reuse(m);
        gptc_model_free(m);
    }
    return test_summary();
}
