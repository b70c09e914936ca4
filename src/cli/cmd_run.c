/*
 * cmd_run.c — `gptc run MODEL -p PROMPT`: prompt in one batched pass, then token-by-token
 * decode, text streamed to stdout as it is generated, timings to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/think_budget.h"
#include "chat/toolcall.h"
#include "cli/cli.h"

static const char *k_help =
    "usage: gptc run MODEL [-p PROMPT | -f FILE] [options]\n"
    "\n"
    "Generate text. The prompt is echoed, then the continuation is streamed to stdout;\n"
    "timings go to stderr.\n"
    "\n"
    "  -p, --prompt TEXT       prompt text (default: empty, generation starts from BOS)\n"
    "  -f, --file FILE         read the prompt from FILE\n"
    "  -n, --n-predict N       new tokens to generate (default 128; -1: until end of text or\n"
    "                          the context is full)\n" CLI_SAMPLER_HELP
    "      --tokenizer FILE    tokenizer.bin for a llama2.c checkpoint\n" CLI_LORA_HELP
    "  -t, --threads N         threads (default: all cores)\n"
    "  -c, --ctx N             context size in tokens (default: the model's trained context,\n"
    "                          capped so the KV cache fits in 1 GiB)\n"
    "      --cache-type-k T, --cache-type-v T   KV cache types: f32, f16 (default), q8_0\n"
    "      --swa-full        sliding-window layers keep every position, not a window-sized\n"
    "                        ring (models mixing window and global layers: Gemma 2/3/4)\n"
    "  -b, --batch N           prompt tokens per forward pass (default 512)\n"
    "      --no-bos            do not add BOS before the prompt\n"
    "      --special           parse special-token text such as <s> in the prompt\n"
    "      --no-echo           do not print the prompt\n"
    "      --grammar FILE      constrain the output to a GBNF grammar (docs/agents.md)\n"
    "      --json-schema FILE  constrain the output to JSON valid under a JSON schema\n"
    "      --reasoning-budget N  tokens the text may think inside <think>...</think> (also\n"
    "                          when the prompt opened the block) before \"</think>\" is forced;\n"
    "                          0: the block is closed at once; -1: unlimited (default)\n"
    "  -q, --quiet             no timings on stderr\n";

/* Print the text of one token, streaming valid UTF-8. */
static void emit(const gptc_tokenizer *tok, gptc_detok *d, int32_t id)
{
    char buf[256];
    size_t n;
    gptc_err err;
    if (gptc_detok_push(tok, d, id, buf, sizeof buf, &n, &err)) cli_die_err(&err);
    fwrite(buf, 1, n, stdout);
    fflush(stdout);
}

int cmd_run(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = "", *prompt_file = NULL;
    gptc_model_params mp = gptc_model_default_params();
    cli_lora lora = {0};
    gptc_ctx_params cp = gptc_ctx_default_params();
    gptc_sampler_params sp = gptc_sampler_default_params();
    long long n_predict = 128;
    int seed_set = 0, no_bos = 0, special = 0, echo = 1, quiet = 0, ctx_asked = 0;
    const char *grammar_file = NULL, *schema_file = NULL;
    int budget = -1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "-p", "--prompt"))
            prompt = cli_value(argc, argv, &i);
        else if (cli_is(a, "-f", "--file"))
            prompt_file = cli_value(argc, argv, &i);
        else if (cli_is(a, "-n", "--n-predict"))
            n_predict = cli_int(a, cli_value(argc, argv, &i), -1, 1 << 30);
        else if (cli_sampler_opt(argc, argv, &i, &sp, &seed_set))
            ;
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--lora", NULL))
            cli_lora_add(&lora, cli_value(argc, argv, &i));
        else if (cli_is(a, "-t", "--threads"))
            cp.n_threads = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else if (cli_is(a, "--cache-type-k", NULL))
            cp.type_k = cli_cache_type(a, cli_value(argc, argv, &i));
        else if (cli_is(a, "--cache-type-v", NULL))
            cp.type_v = cli_cache_type(a, cli_value(argc, argv, &i));
        else if (cli_is(a, "--swa-full", NULL))
            cp.swa_full = 1;
        else if (cli_is(a, "-c", "--ctx")) {
            cp.n_ctx = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1 << 24);
            ctx_asked = 1;
        } else if (cli_is(a, "-b", "--batch"))
            cp.n_batch = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1 << 16);
        else if (cli_is(a, "--no-bos", NULL))
            no_bos = 1;
        else if (cli_is(a, "--special", NULL))
            special = 1;
        else if (cli_is(a, "--no-echo", NULL))
            echo = 0;
        else if (cli_is(a, "-q", "--quiet"))
            quiet = 1;
        else if (cli_is(a, "--grammar", NULL))
            grammar_file = cli_value(argc, argv, &i);
        else if (cli_is(a, "--reasoning-budget", NULL))
            budget = (int)cli_int(a, cli_value(argc, argv, &i), -1, 1 << 24);
        else if (cli_is(a, "--json-schema", NULL))
            schema_file = cli_value(argc, argv, &i);
        else if (a[0] == '-' && a[1])
            cli_die("run: unknown option '%s' (see gptc run --help)", a);
        else if (!model_path)
            model_path = a;
        else
            cli_die("run: unexpected argument '%s' (quote the prompt and pass it with -p)", a);
    }
    if (!model_path) cli_die("run: no model given (usage: gptc run MODEL -p PROMPT)");
    if (!seed_set) sp.seed = (uint64_t)time(NULL);
    if (grammar_file && schema_file) cli_die("run: give --grammar or --json-schema, not both");

    size_t prompt_len = strlen(prompt);
    char *file_buf = NULL;
    if (prompt_file) {
        file_buf = cli_read_file(prompt_file, &prompt_len);
        prompt = file_buf;
    }

    gptc_err err;
    double t0 = cli_now_ms();
    gptc_model *model;
    model = cli_load_model(model_path, &mp, &lora);
    cli_need_generator("run", model_path, model);
    gptc_ctx *ctx;
    if (gptc_ctx_init(model, &cp, &ctx, &err)) cli_die_err(&err);
    const gptc_hparams *hp = gptc_model_hparams(model);
    const gptc_tokenizer *tok = gptc_model_tokenizer(model);
    gptc_sampler *smp;
    if (gptc_sampler_init(&sp, hp->n_vocab, &smp, &err)) cli_die_err(&err);
    gptc_gvocab *gv = NULL;
    gptc_grammar *gr = NULL;
    if (grammar_file || schema_file) {
        size_t glen;
        char *gtext = cli_read_file(grammar_file ? grammar_file : schema_file, &glen);
        if (gptc_gvocab_from_tokenizer(tok, &gv, &err)) cli_die_err(&err);
        gptc_status gs = grammar_file ? gptc_grammar_from_gbnf(gv, gtext, glen, NULL, &gr, &err)
                                      : gptc_grammar_from_json_schema(gv, gtext, glen, &gr, &err);
        free(gtext);
        if (gs) cli_die("%s: %s", grammar_file ? grammar_file : schema_file, err.msg);
    }
    double t_load = cli_now_ms() - t0;

    /* tokenize the prompt */
    int add_bos = !no_bos && gptc_tok_add_bos(tok);
    size_t n_prompt = 0, cap = prompt_len + 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) cli_die("out of memory");
    if (gptc_tok_encode(tok, prompt, prompt_len, add_bos, special, ids, cap, &n_prompt, &err))
        cli_die_err(&err);
    if (n_prompt > cap) cli_die("internal: prompt needs %zu tokens", n_prompt);
    if (n_prompt == 0)
        cli_die("run: the prompt is empty and the model adds no BOS token; give a prompt with -p");
    int n_ctx = gptc_ctx_n_ctx(ctx);
    if (n_prompt >= (size_t)n_ctx)
        cli_die("run: the prompt is %zu tokens, but the context holds %d (raise --ctx)", n_prompt,
                n_ctx);

    gptc_detok dt;
    gptc_detok_init(&dt);
    if (echo)
        for (size_t i = 0; i < n_prompt; i++)
            emit(tok, &dt, ids[i]);
    for (size_t i = 0; i < n_prompt; i++)
        gptc_sampler_accept(smp, ids[i]);

    /* prefill in batches of n_batch */
    double t1 = cli_now_ms();
    int32_t *pos = malloc(n_prompt * sizeof *pos);
    if (!pos) cli_die("out of memory");
    for (size_t i = 0; i < n_prompt; i++)
        pos[i] = (int32_t)i;
    int n_batch = cp.n_batch > 0 ? cp.n_batch : 512;
    float *logits = NULL;
    for (size_t i = 0; i < n_prompt; i += (size_t)n_batch) {
        int n = n_prompt - i < (size_t)n_batch ? (int)(n_prompt - i) : n_batch;
        gptc_batch b = {.n_tokens = n, .token = ids + i, .pos = pos + i};
        if (gptc_decode(ctx, &b, &err)) cli_die_err(&err);
        logits = gptc_get_logits(ctx, n - 1);
    }
    double t_prefill = cli_now_ms() - t1;

    /* decode */
    double t2 = cli_now_ms();
    int n_gen = 0, n_decode = 0;
    int32_t p = (int32_t)n_prompt;
    const char *stop_note = NULL;
    gptc_think_budget tb;
    gptc_think_budget_init(&tb, budget, gptc_toolcall_prompt_opens_think(prompt, prompt_len));
    int32_t forced[16];
    int n_forced = 0, i_forced = 0;
    while (n_predict < 0 || n_gen < n_predict) {
        if (i_forced == n_forced && gptc_think_budget_exhausted(&tb)) { /* close the block */
            i_forced = 0;
            n_forced = gptc_think_close_tokens(tok, forced, 16);
            if (!n_forced) cli_die("run: the vocabulary cannot spell the reasoning closer");
        }
        int is_forced = i_forced < n_forced;
        if (!is_forced && gr && gptc_grammar_apply(gr, logits, &err)) cli_die_err(&err);
        int32_t id = is_forced ? forced[i_forced++] : gptc_sampler_sample(smp, logits);
        gptc_sampler_accept(smp, id);
        if (gr && gptc_grammar_accept(gr, id, &err)) cli_die_err(&err);
        if (gptc_tok_is_eog(tok, id)) break;
        if (budget >= 0) {
            char piece[256];
            size_t np = 0;
            if (!gptc_tok_decode(tok, &id, 1, 1, piece, sizeof piece, &np, &err) &&
                np <= sizeof piece)
                gptc_think_budget_push(&tb, piece, np);
        }
        emit(tok, &dt, id);
        n_gen++;
        if (gr && gptc_grammar_must_end(gr)) break;
        if (n_predict >= 0 && n_gen >= n_predict) break;
        if (p >= n_ctx) {
            stop_note = "the context is full";
            break;
        }
        gptc_batch b = {.n_tokens = 1, .token = &id, .pos = &p};
        if (gptc_decode(ctx, &b, &err)) cli_die_err(&err);
        logits = gptc_get_logits(ctx, 0);
        n_decode++;
        p++;
    }
    double t_decode = cli_now_ms() - t2;
    char tail[16];
    size_t nt = gptc_detok_flush(&dt, tail, sizeof tail);
    fwrite(tail, 1, nt, stdout);
    /* like llama-cli: a blank line after the text */
    fputs("\n\n", stdout);
    fflush(stdout);

    if (gr && !gptc_grammar_can_end(gr))
        fprintf(stderr, "gptc: stopped before the grammar was complete (raise -n)\n");
    if (stop_note) fprintf(stderr, "gptc: stopped: %s (%d tokens)\n", stop_note, n_ctx);
    if (!quiet) {
        char line[256];
        fprintf(stderr, "%s\n",
                cli_ctx_line(line, sizeof line, model, ctx, 1, cp.type_k, cp.type_v, ctx_asked));
        fprintf(stderr,
                "seed %llu | load %.0f ms | prefill %zu tok in %.1f ms (%.1f tok/s) | "
                "decode %d tok in %.1f ms (%.1f tok/s)\n",
                (unsigned long long)sp.seed, t_load, n_prompt, t_prefill,
                t_prefill > 0 ? n_prompt * 1e3 / t_prefill : 0.0, n_gen, t_decode,
                t_decode > 0 ? n_decode * 1e3 / t_decode : 0.0);
    }
    free(pos);
    free(ids);
    free(file_buf);
    gptc_grammar_free(gr);
    gptc_gvocab_free(gv);
    gptc_sampler_free(smp);
    gptc_ctx_free(ctx);
    gptc_model_free(model);
    return 0;
}
