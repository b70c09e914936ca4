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
 * router and the k experts the token is sent to) and the K and V rows it attends to, so tok/s
 * cannot exceed read bandwidth / the bytes a token reads (gptc_model_weight_bytes plus
 * gptc_kv_read_bytes averaged over the decode test's positions). Bandwidth is
 * measured here the way decode reads (core/membw.h: all -t threads streaming over 1 GiB of 4 KiB
 * pages with a load loop and with the f32 / q8_0 / q4_K matvec kernels, best pass of the best
 * reader; the spread of that reader's passes is printed). bench/ uses the same probe.
 *
 * --compare FILE prints each measured row next to the reference rows of FILE that match it
 * (format/bench_ref.h: gptc's own entries or llama-bench's -o json output) and the ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/membw.h"
#include "core/ops.h"
#include "core/threads.h"
#include "format/bench_ref.h"

static const char *k_help =
    "usage: gptc bench MODEL [-p 128] [-n 64] [-d 0] [-t N] [-r 5] [--json] [--bw GB/s]\n"
    "                        [--compare FILE.json]\n"
    "\n"
    "Prefill and decode tokens/s (median of -r runs, min and max), the memory read bandwidth,\n"
    "and decode as a percentage of the bandwidth bound (bandwidth / bytes a token reads: the\n"
    "weights, and the KV cache rows it attends to at the decode test's positions).\n"
    "\n"
    "  -p N          prompt tokens for the prefill test (0: skip; default 128)\n"
    "  -n N          tokens for the decode test (0: skip; default 64)\n"
    "  -d, --depth, --ctx-pos N   both tests at context position N: N tokens already in the\n"
    "                cache (default 0; llama-bench's -d)\n"
    "  -t N          threads (default: all cores)\n"
    "  -r N          repetitions (default 5)\n"
    "      --json    print one JSON object instead of text\n"
    "      --bw X    use X GB/s as the bandwidth instead of measuring it\n"
    "      --bw-passes N   passes of each bandwidth reader (default 5)\n"
    "      --compare FILE  print each row next to the matching rows of FILE, reference results\n"
    "                as JSON: a list of {\"model\", \"type\", \"threads\", \"depth\", "
    "\"prefill_tok_s\",\n"
    "                \"decode_tok_s\", \"source\"}, or llama-bench's -o json / jsonl output\n"
    "                (docs/benchmarks.md)\n"
    "      --cache-type-k T, --cache-type-v T   KV cache types: f32, f16 (default), q8_0\n"
    "      --tokenizer FILE   tokenizer.bin of a llama2.c checkpoint\n"
    "      --no-repack        keep the weights in the file's layout (no packed copy at load)\n"
    "      --spec lookup|draft ...   decode with and without speculative decoding instead\n"
    "                (gptc bench MODEL --spec lookup --help)\n"
    "\n"
    "Bandwidth: all threads read 1 GiB of 4 KiB pages, as decode reads its weights, with a\n"
    "vector load loop and with the f32, q8_0 and q4_K matrix-vector kernels; the bound uses the\n"
    "best pass of the best reader; that reader's min and median pass are printed too.\n";

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

/* One measured row and the reference rows that match it, for --compare. */
typedef struct cmp_row {
    const char *test; /* "prefill" or "decode" */
    int n;            /* -p or -n */
    double tok_s;
} cmp_row;

static int ref_fits(const gptc_bench_ref *r, const cmp_row *row)
{
    int prefill = row->test[0] == 'p';
    double ts = prefill ? r->prefill_ts : r->decode_ts;
    int n = prefill ? r->n_prompt : r->n_gen;
    return ts > 0 && (n == 0 || n == row->n);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        if ((unsigned char)*s >= 0x20) putchar(*s);
    }
    putchar('"');
}

static void print_compare(const char *path, const char *file, const gptc_bench_ref *refs,
                          int n_refs, const cmp_row *rows, int n_rows, int n_t, int depth, int json)
{
    int shown = 0;
    if (json)
        printf(", \"compare_file\": "), json_str(file), printf(", \"compare\": [");
    else
        printf("\ncompare     %s: gptc / reference (rows for %d thread(s), depth %d)\n", file, n_t,
               depth);
    for (int k = 0; k < n_rows; k++) {
        int found = 0;
        for (int i = 0; i < n_refs; i++) {
            const gptc_bench_ref *r = &refs[i];
            if (!gptc_bench_ref_matches(r, path, n_t, depth) || !ref_fits(r, &rows[k])) continue;
            double ref = rows[k].test[0] == 'p' ? r->prefill_ts : r->decode_ts;
            char what[400];
            snprintf(what, sizeof what, "%s%s%s%s%s", r->source[0] ? r->source : "(no source)",
                     r->model[0] ? ", " : "", r->model, r->type[0] ? ", " : "", r->type);
            if (json) {
                printf("%s{\"test\": \"%s\", \"tok_s\": %.2f, \"ref_tok_s\": %.2f, "
                       "\"ratio\": %.3f, \"source\": ",
                       shown ? ", " : "", rows[k].test, rows[k].tok_s, ref, rows[k].tok_s / ref);
                json_str(r->source);
                printf(", \"model\": ");
                json_str(r->model);
                printf(", \"type\": ");
                json_str(r->type);
                printf(", \"entry\": %d}", i + 1);
            } else
                printf("  %-8s %8.1f tok/s  vs %8.1f  = %5.2fx  %s (entry %d)\n", rows[k].test,
                       rows[k].tok_s, ref, rows[k].tok_s / ref, what, i + 1);
            found = 1, shown++;
        }
        if (!found && !json)
            printf("  %-8s %8.1f tok/s  (no reference row for this model, %d thread(s), depth %d, "
                   "%s %d)\n",
                   rows[k].test, rows[k].tok_s, n_t, depth, rows[k].test[0] == 'p' ? "-p" : "-n",
                   rows[k].n);
    }
    if (json) printf("]");
}

int cmd_bench(int argc, char **argv)
{
    const char *path = NULL, *compare = NULL;
    gptc_model_params mp = gptc_model_default_params();
    int n_p = 128, n_g = 64, depth = 0, n_t = 0, reps = 5, json = 0, type_k = 1,
        type_v = 1 /* f16 */, bw_passes = 5;
    double bw_given = 0;
    for (int i = 1; i < argc; i++) /* --spec ...: the speculative decoding bench */
        if (cli_is(argv[i], "--spec", NULL) || cli_is(argv[i], "--draft", NULL))
            return cli_bench_spec(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "-p", "--prompt"))
            n_p = (int)cli_int(a, cli_value(argc, argv, &i), 0, 1 << 16);
        else if (cli_is(a, "-n", "--n-gen"))
            n_g = (int)cli_int(a, cli_value(argc, argv, &i), 0, 1 << 16);
        else if (cli_is(a, "-d", "--depth") || cli_is(a, "--ctx-pos", NULL))
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
        else if (cli_is(a, "--bw-passes", NULL))
            bw_passes = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1000);
        else if (cli_is(a, "--compare", NULL))
            compare = cli_value(argc, argv, &i);
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--no-repack", NULL))
            mp.no_repack = 1;
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
    gptc_bench_ref *refs = NULL;
    int n_refs = 0;
    if (compare) { // read before the model loads and the runs start: a bad file fails at once
        size_t len;
        char *text = cli_read_file(compare, &len);
        if (gptc_bench_ref_parse(text, len, &refs, &n_refs, &err))
            cli_die("bench: --compare %s: %s", compare, err.msg);
        free(text);
    }
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
    gptc_membw mb = {0};
    if (bw_given > 0)
        mb.best = mb.min = mb.median = bw_given * 1e9;
    else if (gptc_membw_measure(n_t, bw_passes, 0, &mb, &err))
        fprintf(stderr, "gptc: note: bandwidth not measured: %s\n", err.msg);
    double bw = mb.best;
    double wbytes = (double)gptc_model_weight_bytes(m), kvbytes = 0;
    for (int i = 0; i < n_g; i++) /* the decode test's tokens: positions depth .. */
        kvbytes += (double)gptc_kv_read_bytes(m, depth + i, type_k, type_v) / n_g;
    double bound = bw > 0 && wbytes > 0 ? bw / (wbytes + kvbytes) : 0;
    const char *isa = gptc_ops_get()->name;
    cmp_row rows[2];
    int n_rows = 0;
    if (n_p) rows[n_rows++] = (cmp_row){"prefill", n_p, p_med};
    if (n_g) rows[n_rows++] = (cmp_row){"decode", n_g, g_med};

    if (json) {
        printf("{\"model\": ");
        json_str(path);
        printf(", \"arch\": \"%s\", \"isa\": \"%s\", \"n_threads\": %d, "
               "\"n_prompt\": %d, \"n_gen\": %d, \"depth\": %d, \"reps\": %d, "
               "\"prefill_tok_s\": %.2f, \"prefill_tok_s_min\": %.2f, \"prefill_tok_s_max\": %.2f, "
               "\"decode_tok_s\": %.2f, \"decode_tok_s_min\": %.2f, \"decode_tok_s_max\": %.2f, "
               "\"weight_bytes\": %.0f, \"kv_read_bytes\": %.0f, \"packed_bytes\": %.0f, "
               "\"bandwidth_gb_s\": %.2f, "
               "\"bandwidth_gb_s_min\": %.2f, "
               "\"bandwidth_gb_s_median\": %.2f, \"bandwidth_reader\": \"%s\", "
               "\"bandwidth_passes\": %d, \"bandwidth_readers_gb_s\": {",
               hp->arch, isa, n_t, n_p, n_g, depth, reps, p_med, p_min, p_max, g_med, g_min, g_max,
               wbytes, kvbytes, (double)gptc_model_packed_bytes(m), bw / 1e9, mb.min / 1e9,
               mb.median / 1e9, bw_given > 0 ? "given" : gptc_membw_reader_name(mb.reader),
               mb.passes);
        for (int r = 0; r < GPTC_MEMBW_N; r++)
            printf("%s\"%s\": %.2f", r ? ", " : "", gptc_membw_reader_name(r),
                   mb.reader_best[r] / 1e9);
        printf("}, \"decode_bound_tok_s\": %.2f, \"decode_pct_of_bound\": %.1f", bound,
               bound > 0 ? 100.0 * g_med / bound : 0.0);
        if (refs) print_compare(path, compare, refs, n_refs, rows, n_rows, n_t, depth, 1);
        printf("}\n");
    } else {
        printf("model       %s (%s, %.1f MB of weights read per token)\n", path, hp->arch,
               wbytes / 1e6);
        printf("threads     %d (%s kernels), %d runs each\n", n_t, isa, reps);
        if (gptc_model_packed_bytes(m))
            printf("packed      %.1f MB of weights packed at load (--no-repack: none)\n",
                   (double)gptc_model_packed_bytes(m) / 1e6);
        char at[48] = "";
        if (depth) snprintf(at, sizeof at, " at depth %d", depth);
        if (n_p)
            printf("prefill     %8.1f tok/s  (min %.1f, max %.1f)  %d-token prompt%s\n", p_med,
                   p_min, p_max, n_p, at);
        if (n_g)
            printf("decode      %8.1f tok/s  (min %.1f, max %.1f)  %d tokens%s\n", g_med, g_min,
                   g_max, n_g, at);
        if (bw_given > 0)
            printf("memory      %8.1f GB/s read (given)\n", bw / 1e9);
        else if (bw > 0) {
            printf("memory      %8.1f GB/s read (best of %d passes over %zu MiB, %s reader; its "
                   "passes min %.1f, median %.1f",
                   bw / 1e9, mb.passes, mb.bytes >> 20, gptc_membw_reader_name(mb.reader),
                   mb.min / 1e9, mb.median / 1e9);
            for (int r = 0; r < GPTC_MEMBW_N; r++)
                if (r != mb.reader)
                    printf("; %s best %.1f", gptc_membw_reader_name(r), mb.reader_best[r] / 1e9);
            printf(")\n");
        }
        if (n_g && bound > 0)
            printf("bound       %8.1f tok/s decode at that bandwidth (%.1f MB of weights + %.1f MB "
                   "of KV cache a token): %.1f%% reached\n",
                   bound, wbytes / 1e6, kvbytes / 1e6, 100.0 * g_med / bound);
        if (refs) print_compare(path, compare, refs, n_refs, rows, n_rows, n_t, depth, 0);
    }
    free(refs);
    free(toks), free(pos), free(tp), free(tg);
    gptc_ctx_free(c);
    gptc_model_free(m);
    return 0;
}
