/*
 * bench_tokenizer.c — encoding throughput of gptc's byte-level BPE next to OpenAI's tiktoken
 * (the npm package: its Rust core built to WASM), in the same run, 1 thread each, on
 * War and Peace (3.2 MB) with cl100k_base and o200k_base.
 *
 * For each encoding: tiktoken encodes the file (bench/tiktoken/bench.cjs: best of 5 runs, ids
 * written out), gptc encodes it, the two id sequences are compared in full — a mismatch ends
 * the benchmark with no speed reported — then gptc is timed (best of 5).
 *
 *   build/bench/bench_tokenizer [TEXT_FILE]
 * Needs the rank files ($GPTC_TIKTOKEN_DIR, default ../shared/data/tokenizers/tiktoken), and
 * for the tiktoken column node + `make bench-deps` (npm install in bench/tiktoken); without
 * them it reports gptc alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gptc.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    if (buf && fread(buf, 1, (size_t)sz, fp) != (size_t)sz) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *n = (size_t)sz;
    return buf;
}

/* Run the tiktoken side; returns its MB/s (0 if unavailable) and its ids in *ref. */
static double run_tiktoken(const char *enc, const char *file, int32_t **ref, size_t *n_ref)
{
    if (access("bench/tiktoken/node_modules/tiktoken", R_OK) != 0) {
        fprintf(stderr, "bench_tokenizer: tiktoken is not installed (make bench-deps)\n");
        return 0;
    }
    char out[] = "/tmp/gptc-bench-ids-XXXXXX";
    int fd = mkstemp(out);
    if (fd < 0) return 0;
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "node bench/tiktoken/bench.cjs %s '%s' %s 5", enc, file, out);
    FILE *p = popen(cmd, "r");
    double mbps = 0;
    char line[256];
    while (p && fgets(line, sizeof line, p))
        if (strncmp(line, "MBPS ", 5) == 0) mbps = atof(line + 5);
    if (!p || pclose(p) != 0) mbps = 0;
    size_t nb = 0;
    char *ids = mbps > 0 ? read_file(out, &nb) : NULL;
    unlink(out);
    if (!ids) return 0;
    *ref = (int32_t *)ids; /* uint32 little-endian; ids < 2^31 */
    *n_ref = nb / 4;
    return mbps;
}

int main(int argc, char **argv)
{
    const char *data = getenv("GPTC_DATA");
    if (!data || !*data) data = "../shared/data";
    char file[1024], ttdir[1024];
    if (argc > 1)
        snprintf(file, sizeof file, "%s", argv[1]);
    else
        snprintf(file, sizeof file, "%s/corpora/war-and-peace/war-and-peace.txt", data);
    snprintf(ttdir, sizeof ttdir, "%s/tokenizers/tiktoken", data);
    setenv("GPTC_TIKTOKEN_DIR", ttdir, 0);

    size_t n;
    char *text = read_file(file, &n);
    if (!text) {
        fprintf(stderr, "bench_tokenizer: cannot read %s\n", file);
        return 1;
    }
    printf("encoding %s (%.2f MB), 1 thread, best of 5\n\n", file, n / 1e6);
    printf("| encoding | tokens | gptc MB/s | tiktoken (npm, WASM) MB/s | gptc / tiktoken |\n");
    printf("| --- | ---: | ---: | ---: | ---: |\n");
    const char *encs[] = {"cl100k_base", "o200k_base"};
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    int rc = 0;
    for (int e = 0; e < 2; e++) {
        gptc_tokenizer *tok;
        gptc_err err;
        if (gptc_tok_load_tiktoken(encs[e], NULL, &tok, &err)) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            return 1;
        }
        size_t k = 0;
        if (gptc_tok_encode(tok, text, n, 0, 0, ids, n + 1, &k, &err)) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            return 1;
        }
        int32_t *ref = NULL;
        size_t n_ref = 0;
        double tt = run_tiktoken(encs[e], file, &ref, &n_ref);
        if (tt > 0) {
            /* identical ids first: a fast wrong answer is no answer */
            size_t i = 0;
            while (i < k && i < n_ref && ids[i] == ref[i])
                i++;
            if (i != k || k != n_ref) {
                fprintf(stderr,
                        "bench_tokenizer: %s: ids differ from tiktoken at %zu (gptc %zu ids, "
                        "tiktoken %zu)\n",
                        encs[e], i, k, n_ref);
                rc = 1;
                free(ref);
                gptc_tok_free(tok);
                continue;
            }
        }
        free(ref);
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            gptc_tok_encode(tok, text, n, 0, 0, ids, n + 1, &k, &err);
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        double mb = n / 1e6 / best;
        if (tt > 0)
            printf("| %s | %zu | %.1f | %.2f | %.1fx |\n", encs[e], k, mb, tt, mb / tt);
        else
            printf("| %s | %zu | %.1f | (not run) | |\n", encs[e], k, mb);
        fflush(stdout);
        gptc_tok_free(tok);
    }
    printf("\n%s\n", rc ? "ids DIFFER: no speed for that encoding"
                        : "ids identical to tiktoken's (where tiktoken ran)");
    free(ids);
    free(text);
    return rc;
}
