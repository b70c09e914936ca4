/*
 * bench_spec.c — `gptc bench MODEL --spec lookup|draft ...`: decode tokens/s with and without
 * speculative decoding, greedy, on prompts where prompt lookup should help (a text to rewrite
 * with one change) and where it cannot (nothing to look up), or on -f FILE.
 *
 * Each prompt: the same -n greedy tokens decoded -r times plainly and -r times with drafts
 * (after one warm-up of each); the medians, their ratio, the drafts accepted and the tokens per
 * decode pass are printed, and the two texts are compared (greedy: they must be the same).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *k_help_spec =
    "usage: gptc bench MODEL --spec lookup|draft [--draft M] [--spec-n N] [--spec-ngram N]\n"
    "                  [-n 128] [-t N] [-r 3] [-f FILE]\n"
    "\n"
    "Decode tokens/s (greedy) with and without speculative decoding (docs/speculative.md), on\n"
    "two built-in prompts (a text to rewrite with one change; a request with nothing to look\n"
    "up), or on the prompt in FILE. Prints the medians, the speed-up, the drafts accepted and\n"
    "the tokens per decode pass, and checks that both give the same text.\n"
    "\n"
    "  -n N          tokens to generate (default 128)\n"
    "  -t N          threads (default: all cores)\n"
    "  -r N          repetitions of each (default 3)\n"
    "  -f FILE       the prompt (default: the two built-in ones)\n" CLI_SPEC_HELP;

/* clang-format off */
static const char *k_rewrite =
    "Rewrite this code with one change: call the counter total instead of count.\n\n"
    "int count_words(const char *s)\n{\n    int count = 0, in_word = 0;\n"
    "    for (; *s; s++) {\n        if (*s == ' ' || *s == '\\n') {\n            in_word = 0;\n"
    "        } else if (!in_word) {\n            in_word = 1;\n            count++;\n        }\n"
    "    }\n    return count;\n}\n\nThe same code with the change:\n\n"
    "int count_words(const char *s)\n{\n    int total = 0, in_word = 0;\n";
static const char *k_fresh =
    "Write a short story about a dragon who wants to learn how to bake bread.";
/* clang-format on */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Greedy decode of n tokens after prompt with drafts from sp (NULL: none); out gets them.
 * Returns the tokens/s of the decode (the prompt's prefill not timed). */
static double decode_once(gptc_ctx *ctx, gptc_sampler *smp, const gptc_tokenizer *tok, cli_spec *sp,
                          const int32_t *prompt, int np, int n, int32_t *out, int *n_out,
                          int32_t *hist)
{
    gptc_err err;
    gptc_kv_clear(ctx);
    if (sp) cli_spec_reset(sp);
    int32_t pos[4096];
    for (int i = 0; i < np - 1; i += 512) {
        int k = np - 1 - i < 512 ? np - 1 - i : 512;
        for (int j = 0; j < k; j++)
            pos[j] = i + j;
        gptc_batch b = {.n_tokens = k, .token = prompt + i, .pos = pos};
        if (gptc_decode(ctx, &b, &err)) cli_die_err(&err);
    }
    memcpy(hist, prompt, (size_t)np * sizeof *hist);
    int n_hist = np, got = 0;
    int32_t id = prompt[np - 1], btok[CLI_SPEC_MAX + 1];
    int p = np - 1;
    double t0 = cli_now_ms();
    while (got < n) {
        int m = cli_spec_step(sp, ctx, hist, n_hist, n - got - 1, id, p, btok);
        if (sp) sp->passes++;
        int i;
        for (i = 0; i <= m; i++) {
            float *lg = gptc_get_logits(ctx, i);
            int32_t draft = i < m ? btok[i + 1] : -1;
            id =
                sp ? gptc_sampler_sample_draft(smp, lg, draft, NULL) : gptc_sampler_sample(smp, lg);
            out[got++] = id;
            hist[n_hist++] = id;
            if (got == n || gptc_tok_is_eog(tok, id)) break;
            if (i < m && id == draft) continue;
            break;
        }
        if (got == n || gptc_tok_is_eog(tok, id)) break;
        if (sp) {
            sp->accepted += i;
            cli_spec_feedback(sp, m, i);
        }
        if (m > i) gptc_kv_seq_rm(ctx, 0, p + i + 1, -1);
        p += i + 1;
    }
    double ms = cli_now_ms() - t0;
    if (sp) sp->tokens += got;
    *n_out = got;
    return ms > 0 ? got * 1e3 / ms : 0.0;
}

int cli_bench_spec(int argc, char **argv)
{
    const char *path = NULL, *file = NULL;
    int n_g = 128, n_t = 0, reps = 3;
    cli_spec sp;
    cli_spec_init(&sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help_spec, stdout);
            return 0;
        } else if (cli_spec_opt(argc, argv, &i, &sp))
            ;
        else if (cli_is(a, "-n", "--n-gen"))
            n_g = (int)cli_int(a, cli_value(argc, argv, &i), 1, 4096);
        else if (cli_is(a, "-t", "--threads"))
            n_t = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else if (cli_is(a, "-r", "--reps"))
            reps = (int)cli_int(a, cli_value(argc, argv, &i), 1, 100);
        else if (cli_is(a, "-f", "--file"))
            file = cli_value(argc, argv, &i);
        else if (a[0] == '-' && a[1])
            cli_die("bench --spec: unknown option '%s' (see gptc bench --spec lookup --help)", a);
        else if (path)
            cli_die("bench: more than one model given");
        else
            path = a;
    }
    if (!path) cli_die("bench: usage: gptc bench MODEL --spec lookup|draft [-n 128] [-f FILE]");
    gptc_model_params mp = gptc_model_default_params();
    gptc_model *m = cli_load_model(path, &mp, NULL);
    cli_need_generator("bench", path, m);
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_threads = n_t;
    cp.n_ctx = 2048;
    cli_spec_setup(&sp, "bench", m, &cp);
    if (sp.mode == CLI_SPEC_NONE) cli_die("bench: --spec none: nothing to compare");
    gptc_err err;
    gptc_ctx *ctx;
    if (gptc_ctx_init(m, &cp, &ctx, &err)) cli_die_err(&err);
    int n_ctx = gptc_ctx_n_ctx(ctx);
    gptc_sampler_params spp = gptc_sampler_default_params();
    spp.temp = 0.0f;
    gptc_sampler *smp;
    if (gptc_sampler_init(&spp, gptc_model_hparams(m)->n_vocab, &smp, &err)) cli_die_err(&err);
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);

    char *fbuf = NULL;
    size_t flen = 0;
    if (file) fbuf = cli_read_file(file, &flen);
    const char *names[2] = {"rewrite", "fresh"}, *texts[2] = {k_rewrite, k_fresh};
    int n_prompts = 2;
    if (fbuf) {
        names[0] = file;
        texts[0] = fbuf;
        n_prompts = 1;
    }
    printf("model %s, %d threads, %d tokens, %d reps, spec %s (n %d, ngram %d%s%s)\n", path, n_t,
           n_g, reps, sp.mode == CLI_SPEC_LOOKUP ? "lookup" : "draft", sp.n_max, sp.ngram,
           sp.draft_path ? ", draft " : "", sp.draft_path ? sp.draft_path : "");
    printf("%-10s %7s %12s %12s %8s %10s %9s %5s\n", "prompt", "tokens", "plain tok/s",
           "spec tok/s", "speedup", "accepted", "tok/pass", "same");
    for (int k = 0; k < n_prompts; k++) {
        size_t len = strlen(texts[k]), np = 0;
        int32_t *ids = malloc((len + 16) * sizeof *ids);
        if (!ids) cli_die("out of memory");
        if (gptc_tok_encode(tok, texts[k], len, gptc_tok_add_bos(tok), 0, ids, len + 16, &np, &err))
            cli_die_err(&err);
        if (np > len + 16) { /* more tokens than bytes: again with room for them all */
            free(ids);
            ids = malloc(np * sizeof *ids);
            if (!ids ||
                gptc_tok_encode(tok, texts[k], len, gptc_tok_add_bos(tok), 0, ids, np, &np, &err))
                cli_die("bench: cannot tokenize the prompt");
        }
        if ((int)np + n_g + 1 > n_ctx || np < 1)
            cli_die("bench: the prompt (%zu tokens) and -n do not fit the context (%d)", np, n_ctx);
        int32_t *a = malloc((size_t)n_g * sizeof *a), *b = malloc((size_t)n_g * sizeof *b),
                *hist = malloc(((size_t)np + (size_t)n_g + 1) * sizeof *hist);
        double *tp = malloc((size_t)reps * sizeof *tp), *ts = malloc((size_t)reps * sizeof *ts);
        if (!a || !b || !hist || !tp || !ts) cli_die("out of memory");
        int na = 0, nb = 0;
        decode_once(ctx, smp, tok, NULL, ids, (int)np, n_g, a, &na, hist); /* warm-up */
        decode_once(ctx, smp, tok, &sp, ids, (int)np, n_g, b, &nb, hist);
        sp.drafted = sp.accepted = sp.passes = sp.tokens = 0;
        for (int r = 0; r < reps; r++) { /* alternating */
            tp[r] = decode_once(ctx, smp, tok, NULL, ids, (int)np, n_g, a, &na, hist);
            ts[r] = decode_once(ctx, smp, tok, &sp, ids, (int)np, n_g, b, &nb, hist);
        }
        qsort(tp, (size_t)reps, sizeof *tp, cmp_d);
        qsort(ts, (size_t)reps, sizeof *ts, cmp_d);
        double mp_ = tp[reps / 2], ms_ = ts[reps / 2];
        int same = na == nb && !memcmp(a, b, (size_t)na * sizeof *a);
        char acc[32];
        snprintf(acc, sizeof acc, "%.1f%%",
                 sp.drafted ? 100.0 * (double)sp.accepted / (double)sp.drafted : 0.0);
        printf("%-10s %7d %12.1f %12.1f %7.2fx %10s %9.2f %5s\n", names[k], na, mp_, ms_,
               mp_ > 0 ? ms_ / mp_ : 0.0, acc,
               sp.passes ? (double)sp.tokens / (double)sp.passes : 0.0, same ? "yes" : "NO");
        free(ids);
        free(a);
        free(b);
        free(hist);
        free(tp);
        free(ts);
    }
    free(fbuf);
    gptc_sampler_free(smp);
    gptc_ctx_free(ctx);
    cli_spec_free(&sp);
    gptc_model_free(m);
    return 0;
}
