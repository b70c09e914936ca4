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

#include "arch_check.h"

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
    check_numpy("tests/fixtures/moe_ref.tsv", NULL);
    check_numpy("tests/fixtures/qwen35_ref.tsv", NULL);
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
