/*
 * cmd_bench.c — `gptc bench MODEL`: prefill and decode speed of a model on this machine, next
 * to the limit memory bandwidth puts on decode.
 *
 * Method (as llama-bench's pp/tg tests): prefill = one batch of -p tokens into an empty cache;
 * decode = -n tokens one at a time into an empty cache (no sampling: the model alone). Each is
 * repeated -r times after one warm-up run; the median is reported with min and max. Token ids
 * are fixed pseudo-random ids of the vocabulary. With --depth N (llama-bench's -d) both run at
 * context position N: N tokens are prefilled once (not timed), and after each run the cache is
 * cut back to them (a model whose state cannot be cut back is prefilled again, untimed).
 *
 * Bound: decoding a token reads every weight once (the embedding: one row; an MoE layer: the
 * router and the k experts the token is sent to), so tok/s cannot exceed read bandwidth / the
 * bytes a token reads (gptc_model_weight_bytes; KV reads at depth are not counted). Bandwidth is
 * measured here: all -t threads summing a 1 GiB buffer with the dispatched dot kernel, best of 5
 * (the probe bench/ uses).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/ops.h"
#include "core/threads.h"

static const char *k_help =
    "usage: gptc bench MODEL [-p 128] [-n 64] [-d 0] [-t N] [-r 5] [--json] [--bw GB/s]\n"
    "\n"
    "Prefill and decode tokens/s (median of -r runs, min and max), the memory read bandwidth,\n"
    "and decode as a percentage of the bandwidth bound (bandwidth / weight bytes per token).\n"
    "\n"
    "  -p N          prompt tokens for the prefill test (0: skip; default 128)\n"
    "  -n N          tokens for the decode test (0: skip; default 64)\n"
    "  -d, --depth N both tests at context position N: N tokens already in the cache (default 0)\n"
    "  -t N          threads (default: all cores)\n"
    "  -r N          repetitions (default 5)\n"
    "      --json    print one JSON object instead of text\n"
    "      --bw X    use X GB/s as the bandwidth instead of measuring it\n"
    "      --cache-type-k T, --cache-type-v T   KV cache types: f32, f16 (default), q8_0\n"
    "      --tokenizer FILE   tokenizer.bin of a llama2.c checkpoint\n";

static double median(double *v, int n, double *mn, double *mx)
{
    for (int i = 1; i < n; i++) // insertion sort: n is small
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *mn = v[0];
    *mx = v[n - 1];
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct bw_job {
    const float *buf;
    size_t n;
    const gptc_ops *ops;
    float part[1024];
} bw_job;

static void bw_task(void *arg, int ith, int nth)
{
    bw_job *j = arg;
    size_t per = (j->n + (size_t)nth - 1) / (size_t)nth, a = per * (size_t)ith,
           b = a + per < j->n ? a + per : j->n;
    float s = 0;
    for (size_t i = a; i < b; i += (size_t)1 << 20) {
        size_t m = b - i < ((size_t)1 << 20) ? b - i : ((size_t)1 << 20);
        s += j->ops->dot_f32(j->buf + i, j->buf + i, (int)m);
    }
    j->part[ith] = s;
}

/* bytes/s read by n_threads, or 0 when the buffer cannot be had */
static double mem_bandwidth(int n_threads)
{
    gptc_pool *pool;
    gptc_err err;
    if (gptc_pool_init(n_threads, &pool, &err)) return 0;
    static bw_job job;
    const size_t bytes = (size_t)1 << 30;
    job.n = bytes / sizeof(float);
    job.ops = gptc_ops_get();
    float *buf = malloc(bytes);
    double best = 0;
    if (buf) {
        for (size_t i = 0; i < job.n; i++)
            buf[i] = (float)(i & 7) * 0.125f;
        job.buf = buf;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = cli_now_ms();
            gptc_pool_run(pool, bw_task, &job);
            double dt = (cli_now_ms() - t0) / 1e3;
            if (dt > 0 && bytes / dt > best) best = bytes / dt;
        }
    }
    free(buf);
    gptc_pool_free(pool);
    return best;
}

/* Leave exactly the first depth tokens in the cache: cut it back, or (nothing there yet, or a
 * recurrent state that cannot be cut there) clear it and prefill toks[0..depth) in batches of
 * n_batch, saving a checkpoint of a hybrid model's state at depth so the next cut restores it. */
static void reset_to_depth(gptc_ctx *c, const int32_t *toks, int32_t *pos, int depth, int n_batch)
{
    gptc_err err;
    if (depth == 0) {
        gptc_kv_clear(c);
        return;
    }
    if (gptc_kv_seq_pos_max(c, 0) >= depth - 1 && gptc_kv_seq_rm(c, 0, depth, -1) == GPTC_OK &&
        gptc_kv_seq_pos_max(c, 0) == depth - 1)
        return;
    gptc_kv_clear(c);
    for (int i0 = 0; i0 < depth; i0 += n_batch) {
        int n = GPTC_MIN(n_batch, depth - i0);
        for (int i = 0; i < n; i++)
            pos[i] = i0 + i;
        gptc_batch b = {.n_tokens = n, .token = toks + i0, .pos = pos};
        if (gptc_decode(c, &b, &err)) cli_die_err(&err);
    }
    if (gptc_kv_seq_checkpoint(c, 0)) cli_die("bench: no memory for a checkpoint of the state");
}

/* Milliseconds for one prefill of n_p tokens at position depth. */
static double run_prefill(gptc_ctx *c, const int32_t *toks, int32_t *pos, int n_p, int depth,
                          int n_batch)
{
    gptc_err err;
    reset_to_depth(c, toks, pos, depth, n_batch);
    for (int i = 0; i < n_p; i++)
        pos[i] = depth + i;
    gptc_batch b = {.n_tokens = n_p, .token = toks + depth, .pos = pos};
    double t0 = cli_now_ms();
    if (gptc_decode(c, &b, &err)) cli_die_err(&err);
    return cli_now_ms() - t0;
}

/* Milliseconds for n_g single-token steps from position depth. */
static double run_decode(gptc_ctx *c, const int32_t *toks, int32_t *pos_buf, int n_g, int depth,
                         int n_batch)
{
    gptc_err err;
    reset_to_depth(c, toks, pos_buf, depth, n_batch);
    double t0 = cli_now_ms();
    for (int i = 0; i < n_g; i++) {
        int32_t pos = depth + i;
        gptc_batch b = {.n_tokens = 1, .token = &toks[depth + i], .pos = &pos};
        if (gptc_decode(c, &b, &err)) cli_die_err(&err);
    }
    return cli_now_ms() - t0;
}

int cmd_bench(int argc, char **argv)
{
    const char *path = NULL;
    gptc_model_params mp = gptc_model_default_params();
    int n_p = 128, n_g = 64, depth = 0, n_t = 0, reps = 5, json = 0, type_k = 1,
        type_v = 1; /* f16 */
    double bw_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "-p", "--prompt"))
            n_p = (int)cli_int(a, cli_value(argc, argv, &i), 0, 1 << 16);
        else if (cli_is(a, "-n", "--n-gen"))
            n_g = (int)cli_int(a, cli_value(argc, argv, &i), 0, 1 << 16);
        else if (cli_is(a, "-d", "--depth"))
            depth = (int)cli_int(a, cli_value(argc, argv, &i), 0, 1 << 20);
        else if (cli_is(a, "-t", "--threads"))
            n_t = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else if (cli_is(a, "-r", "--reps"))
            reps = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1000);
        else if (cli_is(a, "--json", NULL))
            json = 1;
        else if (cli_is(a, "--cache-type-k", NULL))
            type_k = cli_cache_type(a, cli_value(argc, argv, &i));
        else if (cli_is(a, "--cache-type-v", NULL))
            type_v = cli_cache_type(a, cli_value(argc, argv, &i));
        else if (cli_is(a, "--bw", NULL))
            bw_given = cli_float(a, cli_value(argc, argv, &i), 0.001, 1e6);
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (a[0] == '-' && a[1])
            cli_die("bench: unknown option '%s' (see gptc bench --help)", a);
        else if (path)
            cli_die("bench: more than one model given");
        else
            path = a;
    }
    if (!path) cli_die("bench: usage: gptc bench MODEL [-p 128] [-n 64] [-t N] [-r 5] [--json]");
    if (n_p == 0 && n_g == 0) cli_die("bench: -p and -n are both 0: nothing to measure");

    gptc_err err;
    gptc_model *m;
    if (gptc_model_load(path, &mp, &m, &err)) cli_die_err(&err);
    cli_need_generator("bench", path, m);
    const gptc_hparams *hp = gptc_model_hparams(m);
    int n_ctx = depth + GPTC_MAX(GPTC_MAX(n_p, n_g), 1);
    if (n_ctx > hp->n_ctx_train && !json)
        fprintf(stderr, "gptc: note: %d tokens is past the model's trained context %d\n", n_ctx,
                hp->n_ctx_train);
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_threads = n_t;
    cp.n_ctx = n_ctx;
    cp.type_k = type_k;
    cp.type_v = type_v;
    int n_batch = GPTC_MAX(n_p, GPTC_MIN(depth, 512));
    cp.n_batch = GPTC_MAX(n_batch, 1);
    gptc_ctx *c;
    if (gptc_ctx_init(m, &cp, &c, &err)) cli_die_err(&err);
    if (n_t == 0) n_t = gptc_n_cores();

    int32_t *toks = malloc(sizeof *toks * (size_t)n_ctx),
            *pos = malloc(sizeof *pos * (size_t)n_ctx);
    double *tp = malloc(sizeof *tp * (size_t)reps), *tg = malloc(sizeof *tg * (size_t)reps);
    if (!toks || !pos || !tp || !tg) cli_die("bench: out of memory");
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n_ctx; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        toks[i] = (int32_t)(x % (uint64_t)hp->n_vocab);
    }

    // warm-up: fault the weights in, wake the threads
    if (n_p) run_prefill(c, toks, pos, n_p, depth, cp.n_batch);
    if (n_g) run_decode(c, toks, pos, GPTC_MIN(n_g, 8), depth, cp.n_batch);
    for (int r = 0; r < reps; r++) {
        if (n_p) tp[r] = n_p / (run_prefill(c, toks, pos, n_p, depth, cp.n_batch) / 1e3);
        if (n_g) tg[r] = n_g / (run_decode(c, toks, pos, n_g, depth, cp.n_batch) / 1e3);
    }
    double p_min = 0, p_max = 0, g_min = 0, g_max = 0;
    double p_med = n_p ? median(tp, reps, &p_min, &p_max) : 0;
    double g_med = n_g ? median(tg, reps, &g_min, &g_max) : 0;
    double bw = bw_given > 0 ? bw_given * 1e9 : mem_bandwidth(n_t);
    double wbytes = (double)gptc_model_weight_bytes(m);
    double bound = bw > 0 && wbytes > 0 ? bw / wbytes : 0;
    const char *isa = gptc_ops_get()->name;

    if (json) {
        printf("{\"model\": \"");
        for (const char *s = path; *s; s++) {
            if (*s == '"' || *s == '\\') putchar('\\');
            if ((unsigned char)*s >= 0x20) putchar(*s);
        }
        printf("\", \"arch\": \"%s\", \"isa\": \"%s\", \"n_threads\": %d, "
               "\"n_prompt\": %d, \"n_gen\": %d, \"depth\": %d, \"reps\": %d, "
               "\"prefill_tok_s\": %.2f, \"prefill_tok_s_min\": %.2f, \"prefill_tok_s_max\": %.2f, "
               "\"decode_tok_s\": %.2f, \"decode_tok_s_min\": %.2f, \"decode_tok_s_max\": %.2f, "
               "\"weight_bytes\": %.0f, \"bandwidth_gb_s\": %.2f, \"decode_bound_tok_s\": %.2f, "
               "\"decode_pct_of_bound\": %.1f}\n",
               hp->arch, isa, n_t, n_p, n_g, depth, reps, p_med, p_min, p_max, g_med, g_min, g_max,
               wbytes, bw / 1e9, bound, bound > 0 ? 100.0 * g_med / bound : 0.0);
    } else {
        printf("model       %s (%s, %.1f MB of weights read per token)\n", path, hp->arch,
               wbytes / 1e6);
        printf("threads     %d (%s kernels), %d runs each\n", n_t, isa, reps);
        char at[48] = "";
        if (depth) snprintf(at, sizeof at, " at depth %d", depth);
        if (n_p)
            printf("prefill     %8.1f tok/s  (min %.1f, max %.1f)  %d-token prompt%s\n", p_med,
                   p_min, p_max, n_p, at);
        if (n_g)
            printf("decode      %8.1f tok/s  (min %.1f, max %.1f)  %d tokens%s\n", g_med, g_min,
                   g_max, n_g, at);
        printf("memory      %8.1f GB/s read%s\n", bw / 1e9, bw_given > 0 ? " (given)" : "");
        if (n_g && bound > 0)
            printf("bound       %8.1f tok/s decode at that bandwidth: %.1f%% reached\n", bound,
                   100.0 * g_med / bound);
    }
    free(toks), free(pos), free(tp), free(tg);
    gptc_ctx_free(c);
    gptc_model_free(m);
    return 0;
}
