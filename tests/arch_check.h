/*
 * arch_check.h — one model against llama.cpp's references (arch_ref.h): the logits after the
 * prompt against the all-F32 run, greedy steps against the default run with the margins'
 * allowance (check_llamacpp), and our own prompts against a float64 numpy fixture
 * (check_numpy). Shared by test_moe.c and test_hybrid.c; header-only (static functions).
 */
#ifndef GPTC_TEST_ARCH_CHECK_H
#define GPTC_TEST_ARCH_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test.h"

#include "arch_ref.h"

typedef struct run {
    gptc_model *m;
    gptc_ctx *c;
} run;

static int open_run(const char *path, int n_threads, run *r)
{
    gptc_err err;
    memset(r, 0, sizeof *r);
    if (gptc_model_load(path, NULL, &r->m, &err)) {
        CHECK(0, "%s: load: %s", path, err.msg);
        return 0;
    }
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 128;
    cp.type_k = cp.type_v = 0; /* f32: the all-F32 references */
    cp.n_threads = n_threads;
    if (gptc_ctx_init(r->m, &cp, &r->c, &err)) {
        CHECK(0, "%s: ctx: %s", path, err.msg);
        gptc_model_free(r->m);
        return 0;
    }
    return 1;
}

static void close_run(run *r)
{
    gptc_ctx_free(r->c);
    gptc_model_free(r->m);
}

/* Greedy from prompt ids; gen (n) out; first (V) logits after the prompt copied. 0 on error. */
static int greedy(run *r, const int32_t *prompt, int n_prompt, int n, int *gen, float *first)
{
    gptc_err err;
    int32_t pos[64];
    for (int i = 0; i < n_prompt; i++)
        pos[i] = i;
    gptc_batch b = {.n_tokens = n_prompt, .token = prompt, .pos = pos};
    if (gptc_decode(r->c, &b, &err)) {
        CHECK(0, "decode: %s", err.msg);
        return 0;
    }
    const float *lg = gptc_get_logits(r->c, n_prompt - 1);
    int V = gptc_model_hparams(r->m)->n_vocab;
    if (first) memcpy(first, lg, (size_t)V * sizeof *lg);
    int32_t p = n_prompt, tok;
    for (int s = 0; s < n; s++) {
        gen[s] = tok = argmax(lg, V);
        gptc_batch bs = {.n_tokens = 1, .token = &tok, .pos = &p};
        if (s + 1 < n && gptc_decode(r->c, &bs, &err)) {
            CHECK(0, "decode step %d: %s", s, err.msg);
            return 0;
        }
        p++;
        lg = gptc_get_logits(r->c, 0);
    }
    return 1;
}

/* One model against llama.cpp. tol_top5: how far our top-5 logits may be from llama.cpp's
 * default run; a greedy id may differ only at a step whose margin is below 2 * tol_top5, after
 * which the sequences part and the comparison stops. tol_rel < 0: no logits0-f32 check. */
static void check_llamacpp(const char *name, const char *qpath, const char *label, double tol_rel,
                           double tol_top5, int n_threads, int min_steps)
{
    ref_run *r = calloc(1, sizeof *r);
    if (!read_ref(name, r)) {
        CHECK(0, "%s: reference files not found or unreadable", name);
        free(r);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/arch/%s.gguf", test_data_dir(), name);
    run rr;
    if (!open_run(qpath ? qpath : path, n_threads, &rr)) {
        free(r);
        return;
    }
    gptc_err err;
    int V = gptc_model_hparams(rr.m)->n_vocab;
    int32_t pos[16];
    for (int i = 0; i < r->n_prompt; i++)
        pos[i] = i;
    gptc_batch b = {.n_tokens = r->n_prompt, .token = r->prompt, .pos = pos};
    CHECK(gptc_decode(rr.c, &b, &err) == GPTC_OK, "%s: decode prompt: %s", name, err.msg);
    const float *lg = gptc_get_logits(rr.c, r->n_prompt - 1);
    double maxd = 0, lo = 1e30, hi = -1e30;
    for (int i = 0; lg && i < V; i++) {
        maxd = fmax(maxd, fabs(lg[i] - r->logits0[i]));
        lo = fmin(lo, r->logits0[i]);
        hi = fmax(hi, r->logits0[i]);
    }
    if (tol_rel >= 0)
        CHECK(lg && maxd <= tol_rel * (hi - lo),
              "%s: logits after the prompt: max |d| %.3g vs llama.cpp F32 (range %.1f)", name, maxd,
              hi - lo);
    int steps_same = 0, stopped = 0;
    double max_top5 = 0;
    int32_t tok, p = r->n_prompt;
    for (int s = 0; s < r->n_steps && lg; s++) {
        int id = argmax(lg, V);
        for (int k = 0; k < 5; k++)
            max_top5 = fmax(max_top5, fabs(lg[r->top_id[s][k]] - r->top_logit[s][k]));
        if (id != r->next[s]) {
            CHECK(r->margin[s] < 2 * tol_top5,
                  "%s [%s]: step %d: greedy id %d, llama.cpp %d with margin %.3f", name, label, s,
                  id, r->next[s], r->margin[s]);
            stopped = 1;
            break;
        }
        steps_same++;
        tok = id;
        gptc_batch bs = {.n_tokens = 1, .token = &tok, .pos = &p};
        if (gptc_decode(rr.c, &bs, &err)) {
            CHECK(0, "%s: decode step %d: %s", name, s, err.msg);
            break;
        }
        p++;
        lg = gptc_get_logits(rr.c, 0);
    }
    CHECK(steps_same >= min_steps,
          "%s [%s]: greedy ids equal llama.cpp's for %d steps (at least %d)", name, label,
          steps_same, min_steps);
    if (!stopped)
        CHECK(max_top5 <= tol_top5,
              "%s [%s]: top-5 logits within %.3f of llama.cpp's: max |d| %.4f", name, label,
              tol_top5, max_top5);
    printf("# %-24s %-7s threads %d  logits0-f32 max |d| %.2e (%.2e of range)  greedy %d/%d%s  "
           "top-5 max |d| %.4f\n",
           name, label, n_threads, maxd, maxd / (hi - lo), steps_same, r->n_steps,
           stopped ? " (then a close step)" : "", max_top5);
    close_run(&rr);
    free(r);
}

/* Our own prompts against a float64 numpy pass (scripts/moe_ref.py, lfm2_ref.py): each line of
 * the fixture is model file, prompt ids, greedy ids, the first 16 logits after the prompt. A
 * model file "NAME@MIX" is the copy `gptc quantize` wrote in MIX, found as quant_dir/q.MIX
 * (such lines are skipped when quant_dir is NULL). */
static void check_numpy(const char *fixture, const char *quant_dir)
{
    FILE *fp = fopen(fixture, "r");
    CHECK(fp != NULL, "%s readable", fixture);
    if (!fp) return;
    char line[8192];
    int lines = 0;
    while (fgets(line, sizeof line, fp)) {
        char *f[4], *s = line;
        int nf = 0;
        for (; nf < 4; nf++) {
            f[nf] = s;
            char *tab = strchr(s, '\t');
            if (!tab) {
                nf++;
                break;
            }
            *tab = 0;
            s = tab + 1;
        }
        if (nf != 4) continue;
        int32_t prompt[64];
        int np = 0, want[64], nw = 0;
        float want_lg[16];
        for (char *q = f[1], *e; np < 64; q = e) {
            long v = strtol(q, &e, 10);
            if (e == q) break;
            prompt[np++] = (int32_t)v;
        }
        for (char *q = f[2], *e; nw < 64; q = e) {
            long v = strtol(q, &e, 10);
            if (e == q) break;
            want[nw++] = (int)v;
        }
        for (int i = 0; i < 16; i++)
            want_lg[i] = strtof(i ? f[3] : f[3], &f[3]);
        char path[512];
        const char *at = strchr(f[0], '@');
        if (at && !quant_dir) continue;
        if (at)
            snprintf(path, sizeof path, "%s/q.%s", quant_dir, at + 1);
        else
            snprintf(path, sizeof path, "%s/gguf/arch/%s", test_data_dir(), f[0]);
        run rr;
        if (!open_run(path, 2, &rr)) continue;
        int gen[64];
        float *first = malloc(512 * sizeof *first);
        if (greedy(&rr, prompt, np, nw, gen, first)) {
            double d = 0;
            for (int i = 0; i < 16; i++)
                d = fmax(d, fabs(first[i] - want_lg[i]));
            int same = 0;
            while (same < nw && gen[same] == want[same])
                same++;
            /* a quantized copy: its products round the activations to 8-bit codes, and a value
             * within an ulp of a rounding boundary may round the other way in float32 than in
             * the reference's float64, moving the logits by a few hundredths */
            double tol = at ? 0.1 : 2e-3;
            CHECK(d < tol,
                  "%s, prompt of %d: first logits within %g of the float64 reference (max |d| "
                  "%.2e)",
                  f[0], np, tol, d);
            CHECK(same == nw,
                  "%s, prompt of %d: greedy ids equal the float64 reference's (%d of %d)", f[0], np,
                  same, nw);
            printf("# numpy %-30s prompt %2d tokens: logits max |d| %.2e, greedy %d/%d\n", f[0], np,
                   d, same, nw);
        }
        free(first);
        close_run(&rr);
        lines++;
    }
    fclose(fp);
    CHECK(lines >= 4, "%d fixture prompts run", lines);
}

#endif
