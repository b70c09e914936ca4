/*
 * cmd_perplexity.c — `gptc perplexity MODEL TEXT [--kl-base BASE]`: how well a model predicts a
 * text, and how far a quantized model's predictions are from its base model's.
 *
 * Method (llama.cpp's perplexity tool): the text is tokenized once (BOS first), cut into chunks
 * of -c tokens whose first token is replaced by BOS; each chunk is one batch from an empty
 * cache, and only its second half is scored (each scored token has at least c/2 tokens of
 * context). Perplexity = exp(mean negative log-likelihood of the scored tokens); the ± is one
 * standard error. With --kl-base, the base model runs on the same chunks and the report adds
 * the mean KL(base || model) of the next-token distributions and how often both put the same
 * token on top.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char *k_help =
    "usage: gptc perplexity MODEL TEXT.txt [-c 128] [--chunks N] [-t N] [--kl-base BASE.gguf]\n"
    "\n"
    "Perplexity of MODEL on a text (llama.cpp's method: chunks of -c tokens from BOS, the second\n"
    "half of each scored). With --kl-base, also the mean KL divergence of MODEL's next-token\n"
    "distributions from BASE's (e.g. a quantization from its F32 original) and the share of\n"
    "tokens where both rank the same token first.\n"
    "\n"
    "  -c, --ctx N       tokens per chunk (default 128, at most the model's context)\n"
    "      --chunks N    score at most N chunks (default: all)\n"
    "  -t, --threads N   threads (default: all cores)\n"
    "      --kl-base F   base model for the KL divergence (same vocabulary)\n"
    "      --tokenizer F tokenizer.bin of a llama2.c checkpoint (for MODEL and BASE)\n"
    "      --no-repack   keep the weights in the file's layout (no packed copy at load)\n";

typedef struct runner {
    gptc_model *m;
    gptc_ctx *c;
    int n_vocab;
} runner;

static void runner_init(runner *r, const char *path, const gptc_model_params *mp, int n_ctx,
                        int n_threads)
{
    gptc_err err;
    if (gptc_model_load(path, mp, &r->m, &err)) cli_die_err(&err);
    cli_need_generator("perplexity", path, r->m);
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_ctx;
    cp.n_threads = n_threads;
    if (gptc_ctx_init(r->m, &cp, &r->c, &err)) cli_die_err(&err);
    r->n_vocab = gptc_model_hparams(r->m)->n_vocab;
}

static void runner_free(runner *r)
{
    gptc_ctx_free(r->c);
    gptc_model_free(r->m);
}

/* Run one chunk with logits for every token. */
static void run_chunk(runner *r, const int32_t *toks, int32_t *pos, int8_t *want, int n)
{
    gptc_err err;
    gptc_kv_clear(r->c);
    for (int i = 0; i < n; i++)
        pos[i] = i, want[i] = 1;
    gptc_batch b = {.n_tokens = n, .token = toks, .pos = pos, .logits = want};
    if (gptc_decode(r->c, &b, &err)) cli_die_err(&err);
}

/* log-softmax of logits (n) into out; returns nothing */
static void log_softmax(const float *x, double *out, int n)
{
    double mx = x[0], sum = 0;
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++)
        sum += exp(x[i] - mx);
    double lse = mx + log(sum);
    for (int i = 0; i < n; i++)
        out[i] = x[i] - lse;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int cmd_perplexity(int argc, char **argv)
{
    const char *args[2], *base_path = NULL;
    int n = 0, n_ctx = 128, max_chunks = 0, n_threads = 0;
    gptc_model_params mp = gptc_model_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "-c", "--ctx"))
            n_ctx = (int)cli_int(a, cli_value(argc, argv, &i), 8, 1 << 16);
        else if (cli_is(a, "--chunks", NULL))
            max_chunks = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1 << 30);
        else if (cli_is(a, "-t", "--threads"))
            n_threads = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else if (cli_is(a, "--kl-base", NULL))
            base_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--no-repack", NULL))
            mp.no_repack = 1;
        else if (a[0] == '-' && a[1])
            cli_die("perplexity: unknown option '%s' (see gptc perplexity --help)", a);
        else if (n == 2)
            cli_die("perplexity: too many arguments (see gptc perplexity --help)");
        else
            args[n++] = a;
    }
    if (n < 2) cli_die("perplexity: usage: gptc perplexity MODEL TEXT.txt [--kl-base BASE.gguf]");

    runner mod = {0}, base = {0};
    runner_init(&mod, args[0], &mp, n_ctx, n_threads);
    int ctx_train = gptc_model_hparams(mod.m)->n_ctx_train;
    if (n_ctx > ctx_train)
        cli_die("perplexity: -c %d is over the model's context %d", n_ctx, ctx_train);
    if (base_path) {
        runner_init(&base, base_path, &mp, n_ctx, n_threads);
        if (base.n_vocab != mod.n_vocab)
            cli_die("perplexity: the base model has %d tokens in its vocabulary, the model %d",
                    base.n_vocab, mod.n_vocab);
    }

    size_t len;
    char *text = cli_read_file(args[1], &len);
    const gptc_tokenizer *tok = gptc_model_tokenizer(mod.m);
    gptc_err err;
    size_t n_tok = 0;
    if (gptc_tok_encode(tok, text, len, 1, 0, NULL, 0, &n_tok, &err)) cli_die_err(&err);
    int32_t *toks = malloc(sizeof *toks * (n_tok ? n_tok : 1));
    if (!toks) cli_die("perplexity: out of memory");
    if (gptc_tok_encode(tok, text, len, 1, 0, toks, n_tok, &n_tok, &err)) cli_die_err(&err);
    free(text);
    int n_chunks = (int)(n_tok / (size_t)n_ctx);
    if (max_chunks && n_chunks > max_chunks) n_chunks = max_chunks;
    if (n_chunks < 1)
        cli_die(
            "perplexity: the text has %zu tokens, fewer than one chunk of %d (use a smaller -c)",
            n_tok, n_ctx);

    int V = mod.n_vocab, bos = gptc_tok_bos(tok);
    int32_t *chunk = malloc(sizeof *chunk * (size_t)n_ctx),
            *pos = malloc(sizeof *pos * (size_t)n_ctx);
    int8_t *want = malloc((size_t)n_ctx);
    double *lp = malloc(sizeof *lp * (size_t)V), *lq = malloc(sizeof *lq * (size_t)V);
    if (!chunk || !pos || !want || !lp || !lq) cli_die("perplexity: out of memory");
    double nll = 0, nll2 = 0, bnll = 0, bnll2 = 0, kl = 0, kl_max = 0;
    long scored = 0, same_top = 0;
    int tty = isatty(2);
    double t0 = cli_now_ms();
    for (int ch = 0; ch < n_chunks; ch++) {
        memcpy(chunk, toks + (size_t)ch * n_ctx, sizeof *chunk * (size_t)n_ctx);
        if (bos >= 0) chunk[0] = bos;
        run_chunk(&mod, chunk, pos, want, n_ctx);
        if (base_path) run_chunk(&base, chunk, pos, want, n_ctx);
        for (int i = n_ctx / 2; i < n_ctx - 1; i++) {
            int target = toks[(size_t)ch * n_ctx + i + 1];
            const float *lg = gptc_get_logits(mod.c, i);
            log_softmax(lg, lq, V);
            nll -= lq[target];
            nll2 += lq[target] * lq[target];
            if (base_path) {
                const float *bl = gptc_get_logits(base.c, i);
                log_softmax(bl, lp, V);
                bnll -= lp[target];
                bnll2 += lp[target] * lp[target];
                double k = 0;
                for (int v = 0; v < V; v++)
                    k += exp(lp[v]) * (lp[v] - lq[v]);
                kl += k;
                if (k > kl_max) kl_max = k;
                same_top += argmax(lg, V) == argmax(bl, V);
            }
            scored++;
        }
        if (tty) {
            fprintf(stderr, "\r\033[Kchunk %d/%d: perplexity %.4f", ch + 1, n_chunks,
                    exp(nll / scored));
            fflush(stderr);
        }
    }
    if (tty) fputs("\r\033[K", stderr);
    // standard error of the mean NLL, carried to the perplexity (first order)
    double mean = nll / scored, var = nll2 / scored - mean * mean;
    double ppl = exp(mean), ppl_err = ppl * sqrt((var > 0 ? var : 0) / scored);
    printf("perplexity  %.4f ± %.4f  %s\n", ppl, ppl_err, args[0]);
    if (base_path) {
        double bmean = bnll / scored, bvar = bnll2 / scored - bmean * bmean;
        double bppl = exp(bmean);
        printf("base        %.4f ± %.4f  %s  (model / base: %+.2f%%)\n", bppl,
               bppl * sqrt((bvar > 0 ? bvar : 0) / scored), base_path, 100.0 * (ppl / bppl - 1.0));
        printf("KL          %.6f mean, %.6f max  KL(base || model) per token\n", kl / scored,
               kl_max);
        printf("same top    %.2f%% of tokens\n", 100.0 * same_top / scored);
    }
    printf("scored      %ld tokens (%d chunks of %d, second halves) of %zu in %s, %.1f s\n", scored,
           n_chunks, n_ctx, n_tok, args[1], (cli_now_ms() - t0) / 1e3);
    free(toks), free(chunk), free(pos), free(want), free(lp), free(lq);
    if (base_path) runner_free(&base);
    runner_free(&mod);
    return 0;
}
