/*
 * spec.c — drafts for speculative decoding (docs/speculative.md).
 *
 * A draft is a guess at the next few tokens, made cheaply; the target model then checks every
 * guess in one multi-token gptc_decode and keeps the longest prefix its own sampler agrees with
 * (gptc_sampler_sample_draft). Both drafters here propose tokens with certainty (a point-mass
 * draft distribution), which keeps the acceptance rule exact and simple:
 *   - prompt lookup: find the latest earlier occurrence of the sequence's last n tokens and
 *     propose the tokens that followed it (no second model);
 *   - a draft model sharing the target's vocabulary, decoded greedily in a context of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "core/base.h"

int gptc_spec_lookup(const int32_t *hist, int n_hist, int ngram_min, int ngram_max, int32_t *out,
                     int n_max)
{
    if (!hist || !out || n_max <= 0 || ngram_min < 1) return 0;
    for (int n = GPTC_MIN(ngram_max, n_hist - 1); n >= ngram_min; n--) {
        const int32_t *pat = hist + n_hist - n;
        /* the latest start j < n_hist - n whose n tokens equal the suffix */
        for (int j = n_hist - n - 1; j >= 0; j--) {
            if (hist[j] != pat[0] || memcmp(hist + j, pat, (size_t)n * sizeof *pat) != 0) continue;
            int k = GPTC_MIN(n_max, n_hist - (j + n));
            memcpy(out, hist + j + n, (size_t)k * sizeof *out);
            return k;
        }
    }
    return 0;
}

/* ----- draft model ----- */

struct gptc_drafter {
    const gptc_model *model; /* borrowed */
    gptc_ctx *ctx;
    int n_seq, n_ctx, n_batch;
    int32_t **toks; /* (n_seq)(n_ctx) tokens of each sequence in ctx, by position */
    int *n_toks;
    int32_t *pos;
};

gptc_status gptc_spec_check_vocab(const gptc_model *target, const gptc_model *draft, gptc_err *err)
{
    const gptc_tokenizer *a = gptc_model_tokenizer(target), *b = gptc_model_tokenizer(draft);
    int na = gptc_tok_n_vocab(a), nb = gptc_tok_n_vocab(b);
    if (na != nb)
        return gptc_fail(err, GPTC_E_INVALID,
                         "draft model: its vocabulary has %d tokens, the model's %d (a draft "
                         "model must share the model's vocabulary)",
                         nb, na);
    if (gptc_model_hparams(draft)->n_vocab < nb || gptc_model_hparams(target)->n_vocab < na)
        return gptc_fail(err, GPTC_E_INVALID, "draft model: fewer output rows than tokens");
    for (int32_t i = 0; i < na; i++) {
        size_t la = 0, lb = 0;
        const char *pa = gptc_tok_piece(a, i, &la), *pb = gptc_tok_piece(b, i, &lb);
        if (!pa || !pb || la != lb || memcmp(pa, pb, la) != 0)
            return gptc_fail(err, GPTC_E_INVALID,
                             "draft model: token %d differs from the model's (a draft model "
                             "must share the model's vocabulary)",
                             (int)i);
    }
    if (gptc_tok_bos(a) != gptc_tok_bos(b) || gptc_tok_eos(a) != gptc_tok_eos(b))
        return gptc_fail(err, GPTC_E_INVALID,
                         "draft model: its BOS/EOS tokens differ from the model's");
    return GPTC_OK;
}

void gptc_drafter_free(gptc_drafter *d)
{
    if (!d) return;
    for (int i = 0; d->toks && i < d->n_seq; i++)
        free(d->toks[i]);
    free(d->toks);
    free(d->n_toks);
    free(d->pos);
    gptc_ctx_free(d->ctx);
    free(d);
}

gptc_status gptc_drafter_init(const gptc_model *target, const gptc_model *draft,
                              const gptc_ctx_params *params, gptc_drafter **out, gptc_err *err)
{
    gptc_err_clear(err);
    if (!out || !target || !draft || !params)
        return gptc_fail(err, GPTC_E_INVALID, "draft model: NULL argument");
    *out = NULL;
    gptc_status st = gptc_spec_check_vocab(target, draft, err);
    if (st) return st;
    if (gptc_model_recurrent(draft))
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "draft model: a model with recurrent state (%s) cannot be a draft model",
                         gptc_model_hparams(draft)->arch);
    if (gptc_model_pooling(draft))
        return gptc_fail(err, GPTC_E_INVALID, "draft model: an embedding model cannot draft");
    gptc_drafter *d = calloc(1, sizeof *d);
    if (!d) return gptc_fail(err, GPTC_E_NOMEM, "draft model: out of memory");
    d->model = draft;
    gptc_ctx_params cp = *params;
    cp.embeddings = 0;
    st = gptc_ctx_init(draft, &cp, &d->ctx, err);
    if (st) {
        gptc_drafter_free(d);
        return st;
    }
    d->n_seq = cp.n_seq_max > 0 ? cp.n_seq_max : 1;
    d->n_ctx = gptc_ctx_n_ctx(d->ctx);
    d->n_batch = cp.n_batch > 0 && cp.n_batch < 512 ? cp.n_batch : 512;
    d->toks = calloc((size_t)d->n_seq, sizeof *d->toks);
    d->n_toks = calloc((size_t)d->n_seq, sizeof *d->n_toks);
    d->pos = malloc((size_t)d->n_ctx * sizeof *d->pos);
    int fail = !d->toks || !d->n_toks || !d->pos;
    for (int i = 0; !fail && i < d->n_seq; i++)
        fail = !(d->toks[i] = malloc((size_t)d->n_ctx * sizeof **d->toks));
    if (fail) {
        gptc_drafter_free(d);
        return gptc_fail(err, GPTC_E_NOMEM, "draft model: out of memory");
    }
    *out = d;
    return GPTC_OK;
}

void gptc_drafter_forget(gptc_drafter *d, int seq)
{
    if (!d || seq < 0 || seq >= d->n_seq) return;
    gptc_kv_seq_rm(d->ctx, seq, 0, -1);
    d->n_toks[seq] = 0;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

gptc_status gptc_drafter_draft(gptc_drafter *d, int seq, const int32_t *hist, int n_hist,
                               int32_t *out, int n_max, int *n_out, gptc_err *err)
{
    gptc_err_clear(err);
    *n_out = 0;
    if (seq < 0 || seq >= d->n_seq)
        return gptc_fail(err, GPTC_E_RANGE, "draft model: sequence %d out of range", seq);
    if (n_hist <= 0 || n_max <= 0) return GPTC_OK;
    n_max = GPTC_MIN(n_max, d->n_ctx - n_hist);
    if (n_max <= 0) return GPTC_OK;
    /* keep what the draft context shares with hist; decode the rest */
    int32_t *t = d->toks[seq];
    int keep = 0, nt = d->n_toks[seq];
    while (keep < nt && keep < n_hist && t[keep] == hist[keep])
        keep++;
    if (keep == n_hist) keep--; /* the last token is decoded again for its logits */
    gptc_status st = gptc_kv_seq_rm(d->ctx, seq, keep, -1);
    if (st) {
        gptc_kv_seq_rm(d->ctx, seq, 0, -1);
        keep = 0;
    }
    d->n_toks[seq] = keep;
    int n_vocab = gptc_model_hparams(d->model)->n_vocab;
    int n_batch_max = d->n_batch;
    int32_t seqs[512];
    for (int i = 0; i < n_batch_max; i++)
        seqs[i] = seq;
    int n = 0;
    while (d->n_toks[seq] < n_hist) {
        int at = d->n_toks[seq];
        n = GPTC_MIN(n_hist - at, n_batch_max);
        for (int i = 0; i < n; i++)
            d->pos[i] = at + i;
        gptc_batch b = {.n_tokens = n, .token = hist + at, .pos = d->pos, .seq_id = seqs};
        st = gptc_decode(d->ctx, &b, err);
        if (st) {
            gptc_kv_seq_rm(d->ctx, seq, 0, -1);
            d->n_toks[seq] = 0;
            return st;
        }
        memcpy(t + at, hist + at, (size_t)n * sizeof *t);
        d->n_toks[seq] = at + n;
    }
    /* the last batch asked only for its last token's logits */
    const float *lg = gptc_get_logits(d->ctx, n - 1);
    const gptc_tokenizer *tok = gptc_model_tokenizer(d->model);
    for (int k = 0; k < n_max; k++) {
        if (!lg) break;
        int32_t id = argmax(lg, n_vocab);
        out[(*n_out)++] = id;
        if (k + 1 == n_max || gptc_tok_is_eog(tok, id)) break;
        int32_t p = d->n_toks[seq];
        gptc_batch b = {.n_tokens = 1, .token = &id, .pos = &p, .seq_id = seqs};
        st = gptc_decode(d->ctx, &b, err);
        if (st) return st;
        t[p] = id;
        d->n_toks[seq] = p + 1;
        lg = gptc_get_logits(d->ctx, 0);
    }
    return GPTC_OK;
}
