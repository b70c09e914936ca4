/*
 * bench_quant.c — the benchmark of issue 4: prefill and decode tok/s of random-weight llama
 * models in the stories15M and stories110M shapes, F32 and quantized with `gptc quantize`
 * (q8_0, q4_0, q4_k_m), on 1 and 2 threads, each measured by `gptc bench --json` (prefill: a
 * 128-token prompt; decode: 64 tokens from an empty cache; median of 5), next to the memory
 * bandwidth bound and llama.cpp's numbers measured on this machine kind (from the issue).
 * Not a test. Prints the README's table (markdown) last.
 *
 *   bench_quant [--gptc build/gptc] [--shapes 15M,110M] [--types f32,q8_0,q4_0,q4_k_m]
 *               [--threads 1,2] [--reps 5] [-p 128] [-n 64]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_model.h"

typedef struct ref_row {
    const char *shape, *type;
    double decode, prefill; /* llama.cpp, 2 threads; 0: not given */
} ref_row;

/* llama.cpp (CPU build, 2 threads) on this machine kind, from the issue; llama2.c run.c does
 * 88 tok/s decode on the 110M F32 shape. */
static const ref_row k_llamacpp[] = {
    {"stories110M", "f32", 59, 781},    {"stories110M", "q8_0", 163, 930},
    {"stories110M", "q4_0", 325, 1176}, {"stories15M", "f32", 547, 0},
    {"stories15M", "q8_0", 1568, 0},    {"stories15M", "q4_0", 1838, 0},
};

static const ref_row *find_ref(const char *shape, const char *type)
{
    for (size_t i = 0; i < sizeof k_llamacpp / sizeof k_llamacpp[0]; i++)
        if (!strcmp(k_llamacpp[i].shape, shape) && !strcmp(k_llamacpp[i].type, type))
            return &k_llamacpp[i];
    return NULL;
}

/* The number after "key": in a flat JSON object, or -1. */
static double json_num(const char *js, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(js, k);
    return p ? atof(p + strlen(k)) : -1;
}

typedef struct result {
    const char *shape, *type;
    int threads;
    double prefill, decode, bound, pct, mb, bw;
} result;

static int split_list(char *s, char **out, int max)
{
    int n = 0;
    for (char *t = strtok(s, ","); t && n < max; t = strtok(NULL, ","))
        out[n++] = t;
    return n;
}

int main(int argc, char **argv)
{
    const char *gptc = "build/gptc";
    char shapes_s[256] = "15M,110M", types_s[256] = "f32,q8_0,q4_0,q4_k_m", threads_s[64] = "1,2";
    int reps = 5, n_p = 128, n_g = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gptc") && i + 1 < argc)
            gptc = argv[++i];
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc)
            snprintf(shapes_s, sizeof shapes_s, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--types") && i + 1 < argc)
            snprintf(types_s, sizeof types_s, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            snprintf(threads_s, sizeof threads_s, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            n_p = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n_g = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_quant [--gptc PATH] [--shapes 15M,110M] [--types "
                            "f32,q8_0,q4_0,q4_k_m] "
                            "[--threads 1,2] [--reps N] [-p N] [-n N]\n");
            return 1;
        }
    }
    if (access(gptc, X_OK) != 0) {
        fprintf(stderr, "bench_quant: %s not found (run from the repository root after make)\n",
                gptc);
        return 1;
    }
    char *shapes[4], *types[8], *thr[8];
    int n_shapes = split_list(shapes_s, shapes, 4), n_types = split_list(types_s, types, 8),
        n_thr = split_list(threads_s, thr, 8);
    char dir[] = "/tmp/gptc_bench_quant_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    result res[128];
    int n_res = 0;
    double bw_of[8] = {0}; // measured once per thread count, then passed to later runs

    printf("bench_quant: gptc bench -p %d -n %d -r %d (median); bound = bandwidth / weight bytes "
           "per token\n",
           n_p, n_g, reps);
    printf("%-12s %-7s %3s %9s %10s %10s %10s %7s\n", "shape", "type", "thr", "MB/token", "prefill",
           "decode", "bound", "% bound");
    for (size_t si = 0; si < sizeof k_bench_shapes / sizeof k_bench_shapes[0]; si++) {
        const bench_shape *s = &k_bench_shapes[si];
        int want = 0;
        for (int k = 0; k < n_shapes; k++) // "15M" selects stories15M
            want |= strlen(shapes[k]) <= strlen(s->name) &&
                    !strcmp(s->name + strlen(s->name) - strlen(shapes[k]), shapes[k]);
        if (!want) continue;
        char f32[512], cmd[2048];
        snprintf(f32, sizeof f32, "%s/%s-f32.gguf", dir, s->name);
        if (!bench_make_model(s, f32)) return 1;
        for (int ti = 0; ti < n_types; ti++) {
            char path[512];
            if (!strcmp(types[ti], "f32")) {
                snprintf(path, sizeof path, "%s", f32);
            } else {
                snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, s->name, types[ti]);
                snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' %s -q", gptc, f32, path,
                         types[ti]);
                if (system(cmd) != 0) {
                    fprintf(stderr, "bench_quant: %s failed\n", cmd);
                    return 1;
                }
            }
            for (int hi = 0; hi < n_thr; hi++) {
                int t = atoi(thr[hi]);
                char bw_arg[64] = "";
                if (bw_of[hi] > 0) snprintf(bw_arg, sizeof bw_arg, "--bw %.3f", bw_of[hi]);
                snprintf(cmd, sizeof cmd, "'%s' bench '%s' -p %d -n %d -r %d -t %d --json %s", gptc,
                         path, n_p, n_g, reps, t, bw_arg);
                FILE *fp = popen(cmd, "r");
                char js[4096] = "";
                size_t got = fp ? fread(js, 1, sizeof js - 1, fp) : 0;
                js[got] = 0;
                if (!fp || pclose(fp) != 0 || json_num(js, "decode_tok_s") < 0) {
                    fprintf(stderr, "bench_quant: %s failed: %s\n", cmd, js);
                    return 1;
                }
                result *r = &res[n_res++];
                r->shape = s->name, r->type = types[ti], r->threads = t;
                r->prefill = json_num(js, "prefill_tok_s");
                r->decode = json_num(js, "decode_tok_s");
                r->bound = json_num(js, "decode_bound_tok_s");
                r->pct = json_num(js, "decode_pct_of_bound");
                r->mb = json_num(js, "weight_bytes") / 1e6;
                r->bw = json_num(js, "bandwidth_gb_s");
                if (bw_of[hi] <= 0) bw_of[hi] = r->bw;
                printf("%-12s %-7s %3d %9.1f %10.1f %10.1f %10.1f %6.1f%%\n", r->shape, r->type, t,
                       r->mb, r->prefill, r->decode, r->bound, r->pct);
                fflush(stdout);
            }
            if (strcmp(types[ti], "f32") != 0) unlink(path);
        }
        unlink(f32);
    }
    rmdir(dir);

    printf("\nmemory read bandwidth:");
    for (int hi = 0; hi < n_thr; hi++)
        printf(" %s thread(s) %.1f GB/s%s", thr[hi], bw_of[hi], hi + 1 < n_thr ? "," : "\n");
    printf("\n| shape | type | threads | MB/token | prefill tok/s | decode tok/s | decode bound | "
           "%% of bound | "
           "llama.cpp prefill / decode (2 thr) | gptc / llama.cpp |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_res; i++) {
        const result *r = &res[i];
        const ref_row *ref = find_ref(r->shape, r->type);
        char lc[64] = "", ratio[64] = "";
        if (ref && r->threads == 2) {
            if (ref->prefill > 0) {
                snprintf(lc, sizeof lc, "%.0f / %.0f", ref->prefill, ref->decode);
                snprintf(ratio, sizeof ratio, "%.2fx / %.2fx", r->prefill / ref->prefill,
                         r->decode / ref->decode);
            } else {
                snprintf(lc, sizeof lc, "- / %.0f", ref->decode);
                snprintf(ratio, sizeof ratio, "- / %.2fx", r->decode / ref->decode);
            }
        }
        printf("| %s | %s | %d | %.1f | %.0f | %.0f | %.0f | %.0f%% | %s | %s |\n", r->shape + 7,
               r->type, r->threads, r->mb, r->prefill, r->decode, r->bound, r->pct, lc, ratio);
    }
    return 0;
}
