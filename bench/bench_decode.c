/*
 * bench_decode.c — decode speed (tok/s) of gptc on llama models, next to the memory-bandwidth
 * bound (weight bytes read per token / measured bandwidth). Not a test.
 *
 * Models: the real stories260K (from ../shared/data when present) and random-weight F32 llama
 * models in the shapes of llama2.c's stories15M and stories110M (vocab 32000), generated here
 * with the GGUF builder into a temporary directory.
 *
 * usage: bench_decode [--reps R] [--tokens N] [--threads LIST] [--shapes LIST]
 * Reference numbers for this machine kind (from the issue): llama2.c run.c -Ofast -fopenmp
 * 326 / 51 tok/s on 1 thread and 500 / 88 on 2 threads for 15M / 110M; llama.cpp 547 / 59 on 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_model.h"
#include "bench_util.h"
#include "format/gguf.h"
#include "gptc.h"
#include "quant/quant.h"

static double bench_mem_bandwidth_gbs(int n_threads)
{
    gptc_pool *pool;
    gptc_err err;
    if (gptc_pool_init(n_threads, &pool, &err)) return 0;
    double bw = gptc_bench_mem_bandwidth(pool) / 1e9;
    gptc_pool_free(pool);
    return bw;
}

/* Decode n_tok tokens greedily after a 1-token prompt; returns tok/s of the decode steps. */
static double decode_rate(const gptc_model *m, int n_threads, int n_tok)
{
    gptc_err err;
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_threads = n_threads;
    cp.n_ctx = n_tok + 8;
    gptc_ctx *c;
    if (gptc_ctx_init(m, &cp, &c, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
    int V = gptc_model_hparams(m)->n_vocab;
    int32_t tok = 1, pos = 0;
    gptc_batch b = {.n_tokens = 1, .token = &tok, .pos = &pos};
    gptc_decode(c, &b, &err);
    double t0 = bench_now();
    for (int i = 1; i <= n_tok; i++) {
        const float *lg = gptc_get_logits(c, 0);
        int best = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > lg[best]) best = v;
        tok = best;
        pos = i;
        if (gptc_decode(c, &b, &err)) {
            fprintf(stderr, "bench: %s\n", err.msg);
            exit(1);
        }
    }
    double dt = bench_now() - t0;
    gptc_ctx_free(c);
    return n_tok / dt;
}

static void bench_model(const char *name, const char *path, const char *tok_path, int reps,
                        int n_tok, const int *threads, int n_threads_list, double bw_gbs[])
{
    gptc_err err;
    gptc_model_params mp = gptc_model_default_params();
    mp.tokenizer_path = tok_path;
    gptc_model *m;
    if (gptc_model_load(path, &mp, &m, &err)) {
        fprintf(stderr, "bench: %s: %s\n", name, err.msg);
        return;
    }
    double bytes = (double)gptc_model_weight_bytes(m);
    for (int ti = 0; ti < n_threads_list; ti++) {
        int nt = threads[ti];
        double r[64];
        decode_rate(m, nt, n_tok < 16 ? n_tok : 16); /* warm up: page in the weights */
        for (int k = 0; k < reps; k++)
            r[k] = decode_rate(m, nt, n_tok);
        double med = bench_median(r, reps); /* sorts r */
        double bound = bw_gbs[ti] * 1e9 / bytes;
        printf("%-12s %8.1f MB  %d thr  decode %8.1f tok/s (min %.1f, max %.1f)  bound %8.1f tok/s "
               " %5.1f%%\n",
               name, bytes / 1e6, nt, med, r[0], r[reps - 1], bound, 100.0 * med / bound);
        fflush(stdout);
    }
    gptc_model_free(m);
}

int main(int argc, char **argv)
{
    int reps = 5, n_tok = 128;
    int threads[8] = {1, 2}, n_thr = 2;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            n_tok = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_thr = 0;
            for (char *s = argv[++i]; *s && n_thr < 8;) {
                threads[n_thr++] = (int)strtol(s, &s, 10);
                if (*s == ',') s++;
            }
        } else {
            fprintf(stderr,
                    "usage: bench_decode [--reps R] [--tokens N] [--threads 1,2] [--shapes a,b]\n");
            return 1;
        }
    }
    if (reps < 1) reps = 1;
    if (reps > 64) reps = 64;

    double bw[8];
    for (int ti = 0; ti < n_thr; ti++) {
        bw[ti] = bench_mem_bandwidth_gbs(threads[ti]);
        printf("memory read bandwidth, %d thread(s): %.1f GB/s\n", threads[ti], bw[ti]);
    }
    printf("decode: median of %d runs of %d tokens after a 1-token prompt; bound = bandwidth / "
           "weight bytes per token\n",
           reps, n_tok);

    char dir[] = "/tmp/gptc_bench_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    const char *data = getenv("GPTC_DATA") ? getenv("GPTC_DATA") : "../shared/data";
    char p[512], t[512];
    snprintf(p, sizeof p, "%s/gguf/stories260K.gguf", data);
    snprintf(t, sizeof t, "%s/llama2c/tok512.bin", data);
    if ((!only || strstr(only, "260K")) && access(p, R_OK) == 0)
        bench_model("stories260K", p, NULL, reps, n_tok, threads, n_thr, bw);
    for (size_t i = 0; i < sizeof k_bench_shapes / sizeof k_bench_shapes[0]; i++) {
        const bench_shape *s = &k_bench_shapes[i];
        if (only && !strstr(only, s->name + 7)) continue;
        snprintf(p, sizeof p, "%s/%s.gguf", dir, s->name);
        if (!bench_make_model(s, p)) return 1;
        bench_model(s->name, p, NULL, reps, n_tok, threads, n_thr, bw);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}
