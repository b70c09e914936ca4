/*
 * test_hybrid.c — models with a recurrent state per sequence (hybrid layers):
 *   - the context's state bookkeeping (context.h, gptc.h): layers that declare n_state get a
 *     slot per sequence; in-order positions are enforced; seq_rm cuts only at saved
 *     checkpoints (GPTC_E_UNSUPPORTED otherwise, nothing changed); seq_cp copies the state at
 *     the cut and the checkpoints below it; a whole-sequence clear resets it; gptc_kv_seq_cut;
 *     the checkpoint ring. Checked on a dense model whose layers are given a fake state (the
 *     bookkeeping does not depend on what the layers compute).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/context.h"
#include "model/model.h"
#include "test.h"

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

int main(void)
{
    test_state_bookkeeping();
    return test_summary();
}
