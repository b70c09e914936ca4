/*
 * test_repro.c — the reproducibility the server promises (issue 15): one request's logits do
 * not depend on what else is decoded with it nor on the thread count. For each model, the same
 * request (a 13-token prompt, then 6 teacher-forced steps) is decoded
 *   - alone with 1 thread: the prompt as one batch, then one token per gptc_decode (reference);
 *   - alone with 2 threads;
 *   - among 15 other sequences (prompt lengths 1..29, their own tokens) in shared gptc_decode
 *     batches, every sequence's stream cut into chunks of varying length and interleaved (so
 *     the request's prompt is split over several batches, its tokens sit at different cache cells
 *     and batch rows), with 1 and with 2 threads, the request under sequence id 5;
 * and every logit after the prompt and after each step must equal the reference bit for bit,
 * with an f16 and with a q8_0 KV cache.
 * Models: stories260K (llama, F32), Q4_K_M and Q4_0 copies of the random llama3 and a Q8_0 copy
 * of the random qwen3 (written to /tmp with gptc_quantize_model; Q4_0 and Q8_0 run packed where
 * the table packs them), gpt-oss as stored (MXFP4 experts,
 * sliding window, sinks), gemma3 (sliding window) and lfm2 (recurrent state per sequence).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gptc.h"
#include "quant/quantize.h"
#include "test.h"

enum { N_SEQ = 16, TARGET = 5, P0 = 13, G = 6, MAX_LEN = 29 + G, N_BATCH = 48 };

/* Token i of sequence s's stream (prompt then steps); the request's stream is the same
 * whatever sequence id it runs under (tag 0), the others' depend on their id. */
static int32_t stream_tok(int tag, int i, int n_vocab)
{
    return (int32_t)((1 + (unsigned)i * 37u + (unsigned)tag * 101u) % (unsigned)n_vocab);
}

/* Prompt length of sequence s in the mixed run. */
static int prompt_len(int s)
{
    return s == TARGET ? P0 : 1 + (s * 7) % 29;
}

static int g_kv_type = 1; /* the KV cache's type: 1 f16, 8 q8_0 */

static gptc_ctx *new_ctx(gptc_model *m, int n_threads, gptc_err *err)
{
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = N_BATCH;
    cp.n_seq_max = N_SEQ;
    cp.n_threads = n_threads;
    cp.type_k = cp.type_v = g_kv_type;
    gptc_ctx *c = NULL;
    return gptc_ctx_init(m, &cp, &c, err) == GPTC_OK ? c : NULL;
}

/* The request alone: logits after the prompt and after each step into out ((G + 1) * V). */
static int run_alone(gptc_model *m, int n_threads, int V, float *out)
{
    gptc_err err;
    gptc_ctx *c = new_ctx(m, n_threads, &err);
    if (!c) {
        CHECK(0, "ctx: %s", err.msg);
        return 0;
    }
    int32_t tok[P0 + G], pos[P0 + G];
    for (int i = 0; i < P0 + G; i++)
        tok[i] = stream_tok(0, i, V), pos[i] = i;
    int ok = 1;
    gptc_batch b = {.n_tokens = P0, .token = tok, .pos = pos};
    for (int k = 0; k <= G && ok; k++) {
        if (k) b = (gptc_batch){.n_tokens = 1, .token = tok + P0 - 1 + k, .pos = pos + P0 - 1 + k};
        if (gptc_decode(c, &b, &err)) {
            CHECK(0, "alone: decode: %s", err.msg);
            ok = 0;
        } else {
            const float *l = gptc_get_logits(c, b.n_tokens - 1);
            if (l)
                memcpy(out + (size_t)k * V, l, sizeof *out * (size_t)V);
            else
                ok = 0;
        }
    }
    gptc_ctx_free(c);
    return ok;
}

/* The request as sequence TARGET among N_SEQ, streams cut into chunks and interleaved. */
static int run_mixed(gptc_model *m, int n_threads, int V, float *out)
{
    gptc_err err;
    gptc_ctx *c = new_ctx(m, n_threads, &err);
    if (!c) {
        CHECK(0, "ctx: %s", err.msg);
        return 0;
    }
    int done[N_SEQ] = {0}, len[N_SEQ];
    for (int s = 0; s < N_SEQ; s++)
        len[s] = prompt_len(s) + G;
    int32_t tok[N_BATCH], pos[N_BATCH], sid[N_BATCH];
    int8_t want[N_BATCH];
    int ok = 1, got = 0;
    for (int round = 0; ok; round++) {
        int n = 0;
        for (int k = 0; k < N_SEQ && n < N_BATCH; k++) {
            int s = (k * 5 + round * 3) % N_SEQ; /* a different order every round */
            int chunk = 1 + (s + round) % 6;
            for (int j = 0; j < chunk && done[s] < len[s] && n < N_BATCH; j++, n++) {
                int i = done[s]++;
                tok[n] = stream_tok(s == TARGET ? 0 : s + 1, i, V);
                pos[n] = i;
                sid[n] = s;
                want[n] = (int8_t)(s == TARGET ? i >= P0 - 1 : (i + s) % 4 == 0);
            }
        }
        if (n == 0) break;
        gptc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = sid, .logits = want};
        if (gptc_decode(c, &b, &err)) {
            CHECK(0, "mixed: decode: %s", err.msg);
            ok = 0;
            break;
        }
        for (int t = 0; t < n; t++) {
            if (sid[t] != TARGET || pos[t] < P0 - 1) continue;
            const float *l = gptc_get_logits(c, t);
            if (!l) {
                ok = 0;
                break;
            }
            memcpy(out + (size_t)(pos[t] - (P0 - 1)) * V, l, sizeof *out * (size_t)V);
            got++;
        }
    }
    gptc_ctx_free(c);
    CHECK(!ok || got == G + 1, "mixed: %d of %d logit rows of the request", got, G + 1);
    return ok && got == G + 1;
}

/* Index of the first row (step) whose bits differ, -1 if none; *nd: differing values. */
static int first_diff(const float *a, const float *b, int V, int *nd)
{
    int first = -1;
    *nd = 0;
    for (int k = 0; k <= G; k++)
        for (int v = 0; v < V; v++)
            if (memcmp(&a[(size_t)k * V + v], &b[(size_t)k * V + v], sizeof *a)) {
                if (first < 0) first = k;
                ++*nd;
            }
    return first;
}

static void check_model(const char *name, const char *path)
{
    gptc_err err;
    gptc_model *m;
    if (gptc_model_load(path, NULL, &m, &err)) {
        CHECK(0, "%s: load %s: %s", name, path, err.msg);
        return;
    }
    int V = gptc_model_hparams(m)->n_vocab;
    size_t nf = (size_t)(G + 1) * (size_t)V;
    float *ref = malloc(sizeof *ref * nf), *x = malloc(sizeof *x * nf);
    for (int kv = 0; kv < 2; kv++) {
        g_kv_type = kv ? 8 : 1;
        if (ref && x && run_alone(m, 1, V, ref)) {
            struct {
                const char *what;
                int mixed, threads;
            } runs[] = {{"alone, 2 threads", 0, 2},
                        {"among 15 others, 1 thread", 1, 1},
                        {"among 15 others, 2 threads", 1, 2}};
            for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
                memset(x, 0, sizeof *x * nf);
                int ok = runs[r].mixed ? run_mixed(m, runs[r].threads, V, x)
                                       : run_alone(m, runs[r].threads, V, x);
                int nd = 0, k = ok ? first_diff(ref, x, V, &nd) : -2;
                CHECK(
                    ok && k < 0,
                    "%s, %s cache: %s gives the logits of the request alone with 1 thread bit for "
                    "bit (first differing step %d, %d of %d values differ)",
                    name, kv ? "q8_0" : "f16", runs[r].what, k, nd, (G + 1) * V);
            }
        } else
            CHECK(0, "%s: reference run", name);
    }
    free(ref), free(x);
    gptc_model_free(m);
}

int main(void)
{
    char path[1024];
    const char *dir = test_data_dir();
    snprintf(path, sizeof path, "%s/gguf/stories260K.gguf", dir);
    check_model("stories260K", path);
    static const char *as_stored[] = {"rand-gptoss-d128-MXFP4", "rand-gemma3-d128-F32",
                                      "rand-lfm2-d64-F32"};
    for (size_t i = 0; i < sizeof as_stored / sizeof as_stored[0]; i++) {
        snprintf(path, sizeof path, "%s/gguf/arch/%s.gguf", dir, as_stored[i]);
        check_model(as_stored[i], path);
    }
    static const struct {
        const char *file, *mix;
    } quantized[] = {{"rand-llama3-d256-F32", "q4_k_m"},
                     {"rand-qwen3-d128-F32", "q8_0"},
                     {"rand-llama3-d256-F32", "q4_0"}};
    for (size_t i = 0; i < sizeof quantized / sizeof quantized[0]; i++) {
        char out[256], name[128];
        snprintf(path, sizeof path, "%s/gguf/arch/%s.gguf", dir, quantized[i].file);
        snprintf(out, sizeof out, "/tmp/gptc_test_repro_%d_%s.gguf", (int)getpid(),
                 quantized[i].mix);
        snprintf(name, sizeof name, "%s as %s", quantized[i].file, quantized[i].mix);
        gptc_quantize_params qp = {.n_threads = 1};
        gptc_err err;
        if (gptc_quantize_model(path, NULL, out, quantized[i].mix, &qp, NULL, &err)) {
            CHECK(0, "%s: quantize: %s", name, err.msg);
            continue;
        }
        check_model(name, out);
        unlink(out);
    }
    return test_summary();
}
