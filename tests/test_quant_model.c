/*
 * test_quant_model.c — every quantized GGUF in ../shared/data/gguf/quant (made by llama.cpp)
 * loads and runs like llama.cpp runs it:
 *   - the 512 logits after the prompt "Once upon a time" (ids 1 403 407 261 378) match
 *     llama.cpp's (reference/<name>.logits0.tsv) within a tolerance per model;
 *   - 32 greedy steps, teacher-forced with llama.cpp's generated ids (reference/<name>.top5.tsv):
 *     at every step our top-5 logits match llama.cpp's within the tolerance, and our argmax is
 *     llama.cpp's wherever llama.cpp's top-1/top-2 gap exceeds twice the tolerance (steps with a
 *     smaller gap are too close to call for any implementation that sums in another order);
 *   - on every kernel table this CPU runs (ref, avx2, avx512) and with 1 and 2 threads.
 *
 * Tolerances. gptc quantizes activations exactly as llama.cpp does (Q8_0/Q8_1/Q8_K per block)
 * but by default keeps q, K, V, the attention weights and the inputs of F16 weights in f32
 * (llama.cpp rounds them to f16). An 8-bit activation code flips when its input moves across a
 * rounding boundary, so those tiny differences are amplified to whole code steps: max |logit
 * difference| up to ~0.31 on stories260K (logit range ~28) and ~0.018 on the random d256 model
 * (range ~2), the size of llama.cpp's own change between f32 and 8-bit activations. Tolerance:
 * 0.35 and 0.025 for every logit compared.
 * With ctx->ggml_f16 (those f16 roundings mimicked) the prompt's 512 logits match llama.cpp's to
 * 1e-5 on the stories260K files and rand-Q8_0 with the SIMD tables — all but one per table must
 * (a different summation order can still flip one code: a few files' worth of chaos). Later
 * steps drift by the same amplification of float summation order (except on the avx2 table,
 * whose order is ggml's: exact for 32 steps on Q8_0/Q4_0/Q5_1). rand-Q4_0 and the K files keep
 * ~0.015 (Q6_K/Q4_K/Q5_K dots and llama.cpp's repacked Q4_0 kernels): tolerance 0.025.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ops.h"
#include "gptc.h"
#include "model/context.h"
#include "quant/quantize.h"
#include "test.h"

typedef struct ref_step {
    int next_id;
    int top_id[5];
    float top_logit[5];
} ref_step;

typedef struct ref_run {
    float logits0[512];
    int n_steps;
    ref_step step[64];
} ref_run;

static int read_ref(const char *name, ref_run *r)
{
    char p[1024], line[4096];
    snprintf(p, sizeof p, "%s/gguf/quant/reference/%s.logits0.tsv", test_data_dir(), name);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        int id;
        float v;
        if (line[0] == '#' || sscanf(line, "%d\t%f", &id, &v) != 2 || id < 0 || id >= 512) continue;
        r->logits0[id] = v;
        n++;
    }
    fclose(f);
    snprintf(p, sizeof p, "%s/gguf/quant/reference/%s.top5.tsv", test_data_dir(), name);
    f = fopen(p, "r");
    if (!f) return 0;
    r->n_steps = 0;
    while (fgets(line, sizeof line, f) && r->n_steps < 64) {
        if (line[0] == '#') continue;
        ref_step *s = &r->step[r->n_steps];
        int step, pos, off = 0;
        if (sscanf(line, "%d\t%d\t%d%n", &step, &pos, &s->next_id, &off) != 3) continue;
        char *q = line + off;
        int k = 0;
        for (; k < 5; k++) {
            int used = 0;
            if (sscanf(q, " %d:%f%n", &s->top_id[k], &s->top_logit[k], &used) != 2) break;
            q += used;
        }
        if (k == 5) r->n_steps++;
    }
    fclose(f);
    return n == 512 && r->n_steps > 0;
}

typedef struct result {
    double max_diff0;  // logits after the prompt
    double max_diff5;  // top-5 logits over the steps
    int steps_checked; // argmax compared (robust gap)
    int steps_agree;
} result;

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* llama.cpp's Q2_K and Q3_K_M files are not stored: gptc quantize makes them from the Q8_0 file
 * (byte for byte llama-quantize's tensors, tests/test_quant.c) into a temporary directory. */
static char g_tmpdir[64];

static int local_mix(const char *name)
{
    return strcmp(name, "rand-llama-d256-Q2_K") == 0 || strcmp(name, "rand-llama-d256-Q3_K_M") == 0;
}

static void make_local_files(void)
{
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/gptc_tqm_XXXXXX");
    if (!mkdtemp(g_tmpdir)) {
        g_tmpdir[0] = 0;
        return;
    }
    char src[1024], dst[1024];
    snprintf(src, sizeof src, "%s/gguf/quant/rand-llama-d256-Q8_0.gguf", test_data_dir());
    static const char *mix[][2] = {{"rand-llama-d256-Q2_K", "q2_k"},
                                   {"rand-llama-d256-Q3_K_M", "q3_k_m"}};
    for (int i = 0; i < 2; i++) {
        snprintf(dst, sizeof dst, "%s/%s.gguf", g_tmpdir, mix[i][0]);
        gptc_err err;
        gptc_quantize_params qp = {.n_threads = 1};
        CHECK(gptc_quantize_model(src, NULL, dst, mix[i][1], &qp, NULL, &err) == GPTC_OK,
              "quantize %s: %s", mix[i][0], err.msg);
    }
}

static void remove_local_files(void)
{
    if (!g_tmpdir[0]) return;
    char p[1024];
    snprintf(p, sizeof p, "%s/rand-llama-d256-Q2_K.gguf", g_tmpdir);
    remove(p);
    snprintf(p, sizeof p, "%s/rand-llama-d256-Q3_K_M.gguf", g_tmpdir);
    remove(p);
    rmdir(g_tmpdir);
}

static int run_model(const char *name, const ref_run *ref, int n_threads, int ggml_f16, double tol,
                     result *res)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/gguf/quant/%s.gguf", test_data_dir(), name);
    if (strcmp(name, "stories260K") == 0)
        snprintf(p, sizeof p, "%s/gguf/stories260K.gguf", test_data_dir());
    if (local_mix(name)) snprintf(p, sizeof p, "%s/%s.gguf", g_tmpdir, name);
    gptc_err err;
    gptc_model *m;
    if (gptc_model_load(p, NULL, &m, &err)) {
        printf("  %s: %s\n", name, err.msg);
        return 0;
    }
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_threads = n_threads;
    cp.n_ctx = 64;
    gptc_ctx *c;
    if (gptc_ctx_init(m, &cp, &c, &err)) {
        printf("  %s: %s\n", name, err.msg);
        gptc_model_free(m);
        return 0;
    }
    c->ggml_f16 = ggml_f16;
    memset(res, 0, sizeof *res);
    int32_t prompt[5] = {1, 403, 407, 261, 378}, pos[5] = {0, 1, 2, 3, 4};
    gptc_batch b = {.n_tokens = 5, .token = prompt, .pos = pos};
    int ok = gptc_decode(c, &b, &err) == GPTC_OK;
    for (int s = 0; ok && s < ref->n_steps; s++) {
        const float *lg = gptc_get_logits(c, b.n_tokens - 1);
        if (s == 0)
            for (int i = 0; i < 512; i++)
                res->max_diff0 = fmax(res->max_diff0, fabs(lg[i] - ref->logits0[i]));
        const ref_step *rs = &ref->step[s];
        double sd = 0;
        for (int k = 0; k < 5; k++)
            sd = fmax(sd, fabs(lg[rs->top_id[k]] - rs->top_logit[k]));
        res->max_diff5 = fmax(res->max_diff5, sd);
        if (getenv("GPTC_TEST_STEPS")) printf("    step %d: %.6f\n", s, sd);
        if (rs->top_logit[0] - rs->top_logit[1] > 2 * tol) {
            res->steps_checked++;
            res->steps_agree += argmax(lg, 512) == rs->next_id;
        }
        int32_t tok = rs->next_id, ps = 5 + s; // teacher forcing: llama.cpp's token
        gptc_batch one = {.n_tokens = 1, .token = &tok, .pos = &ps};
        if (s + 1 < ref->n_steps) ok = gptc_decode(c, &one, &err) == GPTC_OK;
        b = one;
    }
    if (!ok) printf("  %s: decode: %s\n", name, err.msg);
    gptc_ctx_free(c);
    gptc_model_free(m);
    return ok;
}

int main(int argc, char **argv)
{
    (void)argc;
    static const char *names[] = {"stories260K",
                                  "stories260K-Q8_0",
                                  "stories260K-Q4_0",
                                  "stories260K-Q4_1",
                                  "stories260K-Q5_0",
                                  "stories260K-Q5_1",
                                  "rand-llama-d256-Q8_0",
                                  "rand-llama-d256-Q4_0",
                                  "rand-llama-d256-Q4_K_S",
                                  "rand-llama-d256-Q4_K_M",
                                  "rand-llama-d256-Q2_K",
                                  "rand-llama-d256-Q3_K_M"};
    static const char *isas[] = {"ref", "avx2", "avx512"};
    ref_run *ref = malloc(sizeof *ref);
    char p[1024];
    snprintf(p, sizeof p, "%s/gguf/quant", test_data_dir());
    FILE *probe = fopen(p, "r");
    if (!probe) {
        printf("  (skipped: %s not found)\n", p);
        return test_summary();
    }
    fclose(probe);
    const char *isa_env = getenv("GPTC_ISA");
    make_local_files();
    if (!isa_env) { // this process: the best table; children: the others this CPU runs
        if (gptc_ops_avx2()) test_run_isa_child(argv[0], "avx2");
        test_run_isa_child(argv[0], "ref");
    }
    int exact = 0, exact_of = 0; // ggml_f16 prompts within 1e-5 of llama.cpp's, of those expected
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK(read_ref(names[i], ref), "read llama.cpp's reference for %s", names[i]);
        int rand = strncmp(names[i], "rand", 4) == 0;
        // default numerics: f32 KV cache and attention (see the header comment)
        // ggml_f16: llama.cpp's f16 roundings mimicked; the K formats (and rand-Q4_0, whose
        // output is Q6_K and whose Q4_0 matrices llama.cpp repacks) keep a small difference
        int kquant = rand && strcmp(names[i], "rand-llama-d256-Q8_0") != 0;
        double tol = rand ? 0.025 : 0.35; // every logit, every step, either mode
        for (int is = 0; is < 3; is++) {
            // the ops table is chosen once per process: run the other tables in child processes
            if (strcmp(isa_env ? isa_env : gptc_ops_get()->name, isas[is]) != 0) continue;
            // runs kept few for the sanitizer build: 1 and 2 threads on the best table only; the
            // f16-mimicking mode on the SIMD tables only (the reference's order is not ggml's)
            int best = !isa_env;
            for (int mode = 0; mode < (is > 0 ? 2 : 1); mode++) {
                for (int th = best && mode == 0 ? 1 : 2; th <= 2; th++) {
                    result r;
                    const char *mn = mode ? "ggml-f16" : "default";
                    int ok = run_model(names[i], ref, th, mode, tol, &r);
                    CHECK(ok, "%s runs", names[i]);
                    if (!ok) continue;
                    CHECK(r.max_diff0 <= tol,
                          "%s [%s, %s, %d thr]: logits after the prompt within %.3g of llama.cpp's "
                          "(max diff %.6f)",
                          names[i], isas[is], mn, th, tol, r.max_diff0);
                    if (mode && !kquant) exact_of++, exact += r.max_diff0 <= 1e-4;
                    CHECK(
                        r.max_diff5 <= tol,
                        "%s [%s, %s, %d thr]: top-5 logits of %d steps within %.3g (max diff %.6f)",
                        names[i], isas[is], mn, th, ref->n_steps, tol, r.max_diff5);
                    CHECK(
                        r.steps_agree == r.steps_checked && r.steps_checked >= 8,
                        "%s [%s, %s, %d thr]: greedy token = llama.cpp's at %d of %d robust steps",
                        names[i], isas[is], mn, th, r.steps_agree, r.steps_checked);
                    if (getenv("GPTC_TEST_VERBOSE"))
                        printf("  %-24s %-6s %-8s %d thr: max diff %.6f (prompt) %.6f (top5), "
                               "%d/%d steps\n",
                               names[i], isas[is], mn, th, r.max_diff0, r.max_diff5, r.steps_agree,
                               r.steps_checked);
                }
            }
        }
    }
    // With llama.cpp's f16 roundings mimicked, the prompt's logits are llama.cpp's to 1e-5 —
    // unless a different float summation order flips one 8-bit activation code somewhere
    // (chaotic; about one file in ten on these tables): all but one must be exact.
    if (exact_of)
        CHECK(exact >= exact_of - 1,
              "ggml_f16: %d of %d prompts' logits within 1e-4 of llama.cpp's (%s)", exact, exact_of,
              isa_env ? isa_env : gptc_ops_get()->name);
    free(ref);
    remove_local_files();
    return test_summary();
}
