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
    "      --tokenizer FILE    tokenizer.bin for a llama2.c checkpoint\n"
    "      --no-repack         keep the weights in the file's layout (no packed copy at "
    "load)\n" CLI_LORA_HELP CLI_SPEC_HELP "  -t, --threads N         threads (default: all cores)\n"
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
    cli_spec spec;
    cli_spec_init(&spec);

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
        else if (cli_spec_opt(argc, argv, &i, &spec))
            ;
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--no-repack", NULL))
            mp.no_repack = 1;
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
    cli_spec_setup(&spec, "run", model, &cp);
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
    /* with --spec the prompt's last token goes into the first pass, with the first draft */
    size_t n_pre = spec.mode != CLI_SPEC_NONE ? n_prompt - 1 : n_prompt;
    for (size_t i = 0; i < n_pre; i += (size_t)n_batch) {
        int n = n_pre - i < (size_t)n_batch ? (int)(n_pre - i) : n_batch;
        gptc_batch b = {.n_tokens = n, .token = ids + i, .pos = pos + i};
        if (gptc_decode(ctx, &b, &err)) cli_die_err(&err);
        logits = gptc_get_logits(ctx, n - 1);
    }
    double t_prefill = cli_now_ms() - t1;

    /* decode; with --spec each pass also verifies a draft (docs/speculative.md): the batch is
     * the last sampled token and m draft tokens, with logits for all; row i is sampled against
     * draft i and the first token that is not the draft ends the pass */
    double t2 = cli_now_ms();
    int n_gen = 0, n_decode = 0, n_from_decode = 0;
    int32_t p, pbase;
    const char *stop_note = NULL;
    gptc_think_budget tb;
    gptc_think_budget_init(&tb, budget, gptc_toolcall_prompt_opens_think(prompt, prompt_len));
    int32_t forced[16];
    int n_forced = 0, i_forced = 0;
    int32_t *hist = malloc(((size_t)n_ctx + 1) * sizeof *hist);
    if (!hist) cli_die("out of memory");
    memcpy(hist, ids, n_prompt * sizeof *hist);
    int n_hist = (int)n_prompt;
    int32_t btok[CLI_SPEC_MAX + 1];
    int m = 0, done = 0, have_rows = spec.mode == CLI_SPEC_NONE;
    int32_t id = ids[n_prompt - 1];
    p = pbase = (int32_t)n_prompt - 1;
    while (!done) {
        if (!have_rows) { /* a pass: id and a draft to follow it */
            /* no draft while forced tokens (the reasoning closer) are being fed */
            int drafting = spec.mode != CLI_SPEC_NONE && i_forced == n_forced;
            int room = n_ctx - p - 1;
            if (n_predict >= 0 && n_predict - n_gen - 1 < room) room = (int)(n_predict - n_gen - 1);
            m = cli_spec_step(drafting ? &spec : NULL, ctx, hist, n_hist, room, id, p, btok);
            logits = gptc_get_logits(ctx, 0);
            pbase = p;
            n_decode++;
        }
        have_rows = 0;
        int i;
        for (i = 0; i <= m; i++) {
            float *lg = m ? gptc_get_logits(ctx, i) : logits;
            if (i_forced == n_forced && gptc_think_budget_exhausted(&tb)) { /* close the block */
                i_forced = 0;
                n_forced = gptc_think_close_tokens(tok, forced, 16);
                if (!n_forced) cli_die("run: the vocabulary cannot spell the reasoning closer");
            }
            int is_forced = i_forced < n_forced;
            int32_t draft = i < m ? btok[i + 1] : -1;
            if (!is_forced && gr && gptc_grammar_apply(gr, lg, &err)) cli_die_err(&err);
            if (is_forced)
                id = forced[i_forced++];
            else if (spec.mode != CLI_SPEC_NONE)
                id = gptc_sampler_sample_draft(smp, lg, draft, NULL);
            else
                id = gptc_sampler_sample(smp, lg);
            if (n_decode > 0) n_from_decode++; /* not the token of the prefill's logits */
            gptc_sampler_accept(smp, id);
            if (gr && gptc_grammar_accept(gr, id, &err)) cli_die_err(&err);
            if (gptc_tok_is_eog(tok, id)) {
                done = 1;
                break;
            }
            if (budget >= 0) {
                char piece[256];
                size_t np = 0;
                if (!gptc_tok_decode(tok, &id, 1, 1, piece, sizeof piece, &np, &err) &&
                    np <= sizeof piece)
                    gptc_think_budget_push(&tb, piece, np);
            }
            emit(tok, &dt, id);
            n_gen++;
            hist[n_hist++] = id;
            if ((gr && gptc_grammar_must_end(gr)) || (n_predict >= 0 && n_gen >= n_predict)) {
                done = 1;
                break;
            }
            if (i < m && id == draft) {
                spec.accepted++;
                continue;
            }
            break;
        }
        if (done) break;
        cli_spec_feedback(&spec, m, i);
        /* the pass kept its first token and the i drafts accepted; drop the rest */
        p = pbase + i + 1;
        if (m > i && gptc_kv_seq_rm(ctx, 0, p, -1)) cli_die("run: cannot drop rejected drafts");
        if (p >= n_ctx) {
            stop_note = "the context is full";
            break;
        }
    }
    spec.passes = n_decode;
    spec.tokens = n_from_decode;
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
        char line[256], sline[128];
        fprintf(stderr, "%s\n",
                cli_ctx_line(line, sizeof line, model, ctx, 1, cp.type_k, cp.type_v, ctx_asked));
        fprintf(stderr,
                "seed %llu | load %.0f ms | prefill %zu tok in %.1f ms (%.1f tok/s) | "
                "decode %d tok in %.1f ms (%.1f tok/s)%s\n",
                (unsigned long long)sp.seed, t_load, n_pre, t_prefill,
                t_prefill > 0 ? n_pre * 1e3 / t_prefill : 0.0, n_gen, t_decode,
                t_decode > 0 ? n_from_decode * 1e3 / t_decode : 0.0,
                cli_spec_line(&spec, sline, sizeof sline));
    }
    free(hist);
    free(pos);
    free(ids);
    cli_spec_free(&spec);
    free(file_buf);
    gptc_grammar_free(gr);
    gptc_gvocab_free(gv);
    gptc_sampler_free(smp);
    gptc_ctx_free(ctx);
    gptc_model_free(model);
    return 0;
}
