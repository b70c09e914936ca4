/*
 * spec.c — the speculative decoding options run, chat and bench share (docs/speculative.md).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

void cli_spec_init(cli_spec *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->n_max = 8;
    sp->ngram = 3;
}

int cli_spec_opt(int argc, char **argv, int *i, cli_spec *sp)
{
    const char *a = argv[*i];
    if (cli_is(a, "--spec", NULL)) {
        const char *v = cli_value(argc, argv, i);
        if (!strcmp(v, "lookup"))
            sp->mode = CLI_SPEC_LOOKUP;
        else if (!strcmp(v, "draft"))
            sp->mode = CLI_SPEC_DRAFT;
        else if (!strcmp(v, "none"))
            sp->mode = -1; /* explicitly off, even with --draft */
        else
            cli_die("--spec: '%s' is not one of lookup, draft, none", v);
    } else if (cli_is(a, "--spec-n", NULL)) {
        sp->n_max = (int)cli_int(a, cli_value(argc, argv, i), 1, CLI_SPEC_MAX);
        sp->n_set = 1;
    } else if (cli_is(a, "--spec-ngram", NULL)) {
        sp->ngram = (int)cli_int(a, cli_value(argc, argv, i), 1, 16);
        sp->n_set = 1;
    } else if (cli_is(a, "--draft", NULL)) {
        sp->draft_path = cli_value(argc, argv, i);
    } else {
        return 0;
    }
    return 1;
}

void cli_spec_setup(cli_spec *sp, const char *cmd, const gptc_model *model,
                    const gptc_ctx_params *cp)
{
    if (sp->mode == 0 && sp->draft_path) sp->mode = CLI_SPEC_DRAFT;
    if (sp->mode < 0) {
        if (sp->draft_path) cli_die("%s: --draft needs --spec draft, not --spec none", cmd);
        sp->mode = CLI_SPEC_NONE;
    }
    if (sp->mode == CLI_SPEC_NONE) return;
    if (sp->mode == CLI_SPEC_DRAFT && !sp->draft_path)
        cli_die("%s: --spec draft needs a draft model (--draft MODEL)", cmd);
    if (sp->mode == CLI_SPEC_LOOKUP && sp->draft_path)
        cli_die("%s: --draft is for --spec draft, not --spec lookup", cmd);
    if (gptc_model_recurrent(model))
        cli_die("%s: --spec is not supported for %s models (recurrent state cannot drop "
                "rejected draft tokens); run without --spec",
                cmd, gptc_model_hparams(model)->arch);
    if (sp->mode == CLI_SPEC_DRAFT) {
        gptc_model_params mp = gptc_model_default_params();
        sp->dmodel = cli_load_model(sp->draft_path, &mp, NULL);
        gptc_ctx_params dcp = *cp;
        dcp.n_seq_max = 1;
        dcp.embeddings = 0;
        gptc_err err;
        if (gptc_drafter_init(model, sp->dmodel, &dcp, &sp->drafter, &err))
            cli_die("%s: --draft %s: %s", cmd, sp->draft_path, err.msg);
    }
}

int cli_spec_draft(cli_spec *sp, const int32_t *hist, int n_hist, int32_t *out, int n_max)
{
    sp->t_mark = cli_now_ms();
    sp->pass++;
    sp->probing = 0;
    if (sp->cur <= 0) sp->cur = sp->n_max < 2 ? sp->n_max : 2; /* grows when drafts are right */
    if (sp->off) { /* drafting was slower: try a one-token draft now and then */
        if (sp->pass % 32 != 0) return 0;
        sp->cur = 1;
        sp->probing = 1;
    } else if (sp->pass % 16 == 2 || sp->pass == 3) {
        return 0; /* a pass without a draft keeps the comparison current */
    }
    n_max = n_max < sp->cur ? n_max : sp->cur;
    if (sp->mode == CLI_SPEC_NONE || n_max <= 0) return 0;
    if (sp->mode == CLI_SPEC_LOOKUP) {
        int lo = sp->ngram < 2 ? sp->ngram : 2;
        return gptc_spec_lookup(hist, n_hist, lo, sp->ngram, out, n_max);
    }
    int n = 0;
    gptc_err err;
    if (gptc_drafter_draft(sp->drafter, 0, hist, n_hist, out, n_max, &n, &err))
        cli_die("draft model: %s", err.msg);
    return n;
}

int cli_spec_step(cli_spec *sp, gptc_ctx *ctx, const int32_t *hist, int n_hist, int room,
                  int32_t id, int32_t p, int32_t *btok)
{
    int m = 0;
    if (sp) {
        m = cli_spec_draft(sp, hist, n_hist, btok + 1, room < CLI_SPEC_MAX ? room : CLI_SPEC_MAX);
        sp->drafted += m;
    }
    int32_t bpos[CLI_SPEC_MAX + 1];
    int8_t blog[CLI_SPEC_MAX + 1];
    btok[0] = id;
    for (int k = 0; k <= m; k++) {
        bpos[k] = p + k;
        blog[k] = 1;
    }
    gptc_batch b = {.n_tokens = m + 1, .token = btok, .pos = bpos, .logits = blog};
    gptc_err err;
    if (gptc_decode(ctx, &b, &err)) cli_die_err(&err);
    return m;
}

void cli_spec_feedback(cli_spec *sp, int m, int a)
{
    if (sp->t_mark <= 0.0) return; /* no cli_spec_draft before this pass */
    double per = (cli_now_ms() - sp->t_mark) / (double)(a + 1); /* ms per token of the pass */
    sp->t_mark = 0.0;
    if (m <= 0) {
        sp->t_plain = sp->n_plain++ ? 0.8 * sp->t_plain + 0.2 * per : per;
        return;
    }
    sp->t_spec = sp->n_spec++ ? 0.8 * sp->t_spec + 0.2 * per : per;
    if (sp->probing) {
        if (per < sp->t_plain) { /* drafting pays again */
            sp->off = 0;
            sp->t_spec = per;
        }
        return;
    }
    if (a == 0)
        sp->cur = sp->cur > 1 ? sp->cur / 2 : 1;
    else if (a == m)
        sp->cur = sp->cur * 2 < sp->n_max ? sp->cur * 2 : sp->n_max;
    if (sp->n_plain >= 2 && sp->n_spec >= 4 && sp->t_spec > sp->t_plain) {
        if (sp->cur > 1)
            sp->cur /= 2;
        else
            sp->off = 1;
        sp->n_spec = 0; /* judge the new length on its own passes */
    }
}

void cli_spec_reset(cli_spec *sp)
{
    sp->cur = 0;
    sp->off = sp->probing = sp->pass = sp->n_plain = sp->n_spec = 0;
    sp->t_plain = sp->t_spec = 0.0;
    if (sp->drafter) gptc_drafter_forget(sp->drafter, 0);
}

const char *cli_spec_line(const cli_spec *sp, char *buf, size_t n)
{
    if (sp->mode == CLI_SPEC_NONE) {
        snprintf(buf, n, "%s", "");
        return buf;
    }
    snprintf(buf, n, " | spec %s: %lld/%lld drafts accepted (%.1f%%), %.2f tok/pass",
             sp->mode == CLI_SPEC_LOOKUP ? "lookup" : "draft", sp->accepted, sp->drafted,
             sp->drafted ? 100.0 * (double)sp->accepted / (double)sp->drafted : 0.0,
             sp->passes ? (double)sp->tokens / (double)sp->passes : 0.0);
    return buf;
}

void cli_spec_free(cli_spec *sp)
{
    gptc_drafter_free(sp->drafter);
    gptc_model_free(sp->dmodel);
    sp->drafter = NULL;
    sp->dmodel = NULL;
}
