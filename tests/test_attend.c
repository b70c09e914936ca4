/*
 * test_attend.c — gptc_attend_tile (a prompt's tokens scored against each key row at once)
 * gives each token the bits gptc_attend gives it alone: on a cache whose cells hold a sequence
 * out of position order (after gptc_kv_seq_rm and a refill), where a tile's rows are a prefix
 * of the union for some tiles and not for others, with f16 and q8_0 caches.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "model/context.h"
#include "model/model.h"
#include "quant/quant.h"
#include "test.h"

static void check_layout(gptc_model *m, int kv_type)
{
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 16;
    cp.n_seq_max = 2;
    cp.n_threads = 1;
    cp.type_k = cp.type_v = kv_type;
    gptc_ctx *c = NULL;
    gptc_err err;
    if (gptc_ctx_init(m, &cp, &c, &err)) {
        CHECK(0, "ctx: %s", err.msg);
        return;
    }
    /* seq 0 at cells 0-3, seq 1 at cells 4-7; free seq 0 and seq 1's positions 2..; refill
     * seq 1's 2..7: cells 0, 1, 2, 3, 6, 7 (positions 2 3 4 5 6 7), so in cell order seq 1 reads
     * positions 2 3 4 5 0 1 6 7 */
    int32_t tok[8], pos[8], seq[8];
    for (int i = 0; i < 8; i++)
        tok[i] = 3 + 5 * i, pos[i] = i % 4, seq[i] = i / 4;
    gptc_batch b = {.n_tokens = 8, .token = tok, .pos = pos, .seq_id = seq};
    int ok = gptc_decode(c, &b, &err) == GPTC_OK && gptc_kv_seq_rm(c, 0, 0, -1) == GPTC_OK &&
             gptc_kv_seq_rm(c, 1, 2, -1) == GPTC_OK;
    for (int i = 0; i < 6; i++)
        pos[i] = 2 + i, seq[i] = 1;
    b.n_tokens = 6;
    ok = ok && gptc_decode(c, &b, &err) == GPTC_OK;
    CHECK(ok, "the layout: %s", ok ? "" : err.msg);
    int cells[6] = {0, 1, 2, 3, 6, 7};
    for (int i = 0; i < 6 && ok; i++)
        ok = c->cell_pos[cells[i]] == 2 + i;
    CHECK(ok, "seq 1's positions 2..7 are in cells 0 1 2 3 6 7");
    if (!ok) {
        gptc_ctx_free(c);
        return;
    }

    const gptc_layer *ly = &m->layers[0];
    int hd = ly->hd, K = ly->n_head_kv * hd, nq = ly->n_head / ly->n_head_kv;
    gptc_kv_view kv = {.k = c->k_cache + c->k_off[0],
                       .v = c->v_cache + c->v_off[0],
                       .row_k = gptc_row_bytes(c->type_k, K),
                       .row_v = gptc_row_bytes(c->type_v, K),
                       .type_k = c->type_k,
                       .type_v = c->type_v};
    gptc_attn_opts o = {.scale = 1.0f / sqrtf((float)hd), .causal = 1};
    size_t qn = (size_t)nq * hd;
    float *q = malloc(4 * qn * sizeof *q), *y1 = malloc(4 * qn * sizeof *y1),
          *y2 = malloc(4 * qn * sizeof *y2);
    uint32_t r = 7;
    for (size_t i = 0; i < 4 * qn; i++) {
        r = r * 1664525u + 1013904223u;
        q[i] = (float)(r >> 8) / 16777216.0f * 4.0f - 2.0f;
    }
    /* tiles (as cells): 0-3 (positions 2-5: not prefixes, cell 4 holds position 0), 6-7
     * (positions 6, 7: prefixes), 1-3 and 3, 6 */
    const int tiles[][5] = {{4, 0, 1, 2, 3}, {2, 6, 7}, {3, 1, 2, 3}, {2, 3, 6}, {1, 7}};
    for (size_t k = 0; k < sizeof tiles / sizeof tiles[0]; k++) {
        int nt = tiles[k][0], own[4];
        int32_t tp[4];
        const float *qs[4];
        float *outs[4];
        for (int j = 0; j < nt; j++) {
            own[j] = tiles[k][1 + j], tp[j] = c->cell_pos[own[j]];
            qs[j] = q + (size_t)j * qn, outs[j] = y2 + (size_t)j * qn;
            c->att_gen++;
            gptc_attend(c, 0, qs[j], nq, &kv, hd, own[j], tp[j], &o, y1 + (size_t)j * qn);
        }
        for (size_t i = 0; i < (size_t)nt * qn; i++)
            y2[i] = NAN;
        c->att_gen++;
        gptc_attend_tile(c, 0, qs, nt, nq, &kv, hd, own, tp, &o, outs);
        CHECK(memcmp(y1, y2, (size_t)nt * qn * sizeof *y1) == 0,
              "kv type %d, tile %zu (%d tokens from cell %d): the bits of each token alone",
              kv_type, k, nt, own[0]);
    }
    free(q), free(y1), free(y2);
    gptc_ctx_free(c);
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/gguf/quant/stories260K-Q8_0.gguf", test_data_dir());
    gptc_model *m = NULL;
    gptc_err err;
    if (gptc_model_load(path, NULL, &m, &err)) {
        CHECK(0, "load %s: %s", path, err.msg);
        return test_summary();
    }
    check_layout(m, 1); /* f16 */
    check_layout(m, 8); /* q8_0 */
    check_layout(m, 0); /* f32 */
    gptc_model_free(m);
    return test_summary();
}
