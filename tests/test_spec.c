/*
 * test_spec.c — speculative decoding: prompt lookup, the draft model, and the sampler's
 * speculative rule (gptc_sampler_sample_draft), which must leave the output distribution
 * exactly the target's:
 *   - greedy: the text with drafts (lookup or a draft model) is the text without, on 20 prompts;
 *   - temperature 1: a two-sample chi-square over 10,000 samples of the first and of the third
 *     generated token of stories260K cannot tell the speculative sampler from the plain one
 *     (p = 0.001), and the same test does tell a deliberately wrong sampler (one that always
 *     accepts the draft) from the plain one;
 *   - on synthetic logits through the whole chain (top-k, top-p, min-p, penalties) the tokens
 *     sample_draft gives follow gptc_sampler_probs, whatever the draft.
 */
#include <math.h>

#include "gptc.h"
#include "test.h"

static char g_path[4096];
static const char *data(const char *rel)
{
    snprintf(g_path, sizeof g_path, "%s/%s", test_data_dir(), rel);
    return g_path;
}

/* chi-square quantile at upper tail 0.001 (Wilson-Hilferty; z = 3.0902) */
static double chi2_crit(int dof)
{
    double k = dof > 0 ? dof : 1, z = 3.0902;
    double t = 1.0 - 2.0 / (9.0 * k) + z * sqrt(2.0 / (9.0 * k));
    return k * t * t * t;
}

/* Two-sample chi-square for equal sample sizes; bins whose pooled count is < 10 are merged. */
static double chi2_two(const long *a, const long *b, int V, int *dof)
{
    double x = 0.0;
    long pa = 0, pb = 0;
    int bins = 0;
    for (int i = 0; i < V; i++) {
        pa += a[i];
        pb += b[i];
        if (pa + pb >= 10 || (i == V - 1 && pa + pb > 0)) {
            x += (double)(pa - pb) * (double)(pa - pb) / (double)(pa + pb);
            bins++;
            pa = pb = 0;
        }
    }
    *dof = bins - 1;
    return x;
}

/* One-sample chi-square of hits against probabilities q (bins of expectation < 5 merged). */
static double chi2_one(const long *hits, const double *q, int V, long n, int *dof)
{
    double x = 0.0, e = 0.0, o = 0.0;
    int bins = 0;
    for (int i = 0; i < V; i++) {
        e += q[i] * (double)n;
        o += (double)hits[i];
        if (e >= 5.0 || i == V - 1) {
            if (e > 0)
                x += (o - e) * (o - e) / e;
            else if (o > 0)
                x += 1e9; /* a hit where nothing was expected */
            bins++;
            e = o = 0.0;
        }
    }
    *dof = bins - 1;
    return x;
}

/* ----- prompt lookup ----- */

static void test_lookup(void)
{
    /* clang-format off */
    static const struct {
        int32_t hist[16]; int n; int lo, hi, n_max; int n_want; int32_t want[8];
    } cases[] = {
        {{1, 2, 3, 4, 5, 1, 2}, 7, 1, 3, 8, 5, {3, 4, 5, 1, 2}}, /* "1 2" seen: what followed */
        {{1, 2, 3, 4, 5, 1, 2}, 7, 1, 3, 2, 2, {3, 4}},          /* capped by n_max */
        {{1, 2, 9, 7, 1, 2, 3, 8, 2}, 9, 1, 3, 8, 3, {3, 8, 2}}, /* 1-gram "2": latest is at 5 */
        {{1, 2, 9, 7, 1, 2, 3, 8, 2}, 9, 2, 3, 8, 0, {0}},       /* "8 2" never seen before */
        {{5, 6, 7, 5, 6, 7, 5, 6}, 8, 2, 3, 4, 3, {7, 5, 6}},    /* "7 5 6" at 2 */
        {{4, 4, 4, 4}, 4, 1, 3, 8, 1, {4}},                      /* overlapping run */
        {{1}, 1, 1, 3, 8, 0, {0}},                               /* nothing before */
        {{1, 2, 3}, 3, 1, 3, 0, 0, {0}},                         /* n_max 0 */
    };
    /* clang-format on */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t out[16] = {0};
        int n = gptc_spec_lookup(cases[c].hist, cases[c].n, cases[c].lo, cases[c].hi, out,
                                 cases[c].n_max);
        int want_n = cases[c].n_want;
        CHECK(n == want_n, "lookup case %zu: %d tokens, want %d", c, n, want_n);
        for (int i = 0; i < n && i < want_n; i++)
            CHECK(out[i] == cases[c].want[i], "lookup case %zu: token %d is %d, want %d", c, i,
                  out[i], cases[c].want[i]);
    }
}

/* ----- sample_draft against sampler_probs on synthetic logits ----- */

static void test_draft_rule_synthetic(void)
{
    enum { V = 24 };
    const long N = 100000;
    float base[V];
    for (int i = 0; i < V; i++)
        base[i] = (float)((i * 7919) % 23) * 0.25f - 2.0f;
    gptc_sampler_params p = gptc_sampler_default_params();
    p.temp = 0.9f;
    p.top_k = 12;
    p.top_p = 0.97f;
    p.min_p = 0.02f;
    p.repeat_penalty = 1.3f;
    p.seed = 77;
    const int32_t hist[3] = {3, 5, 5};
    /* the exact distribution, from the chain itself */
    gptc_sampler *ref;
    gptc_err err;
    CHECK(gptc_sampler_init(&p, V, &ref, &err) == GPTC_OK, "init: %s", err.msg);
    for (int i = 0; i < 3; i++)
        gptc_sampler_accept(ref, hist[i]);
    float l[V];
    memcpy(l, base, sizeof l);
    const int32_t *ids;
    const float *pr;
    int K = gptc_sampler_probs(ref, l, &ids, &pr);
    double q[V] = {0}, sum = 0;
    int32_t best = ids[0], worst = ids[K - 1], outside = -1;
    for (int i = 0; i < K; i++) {
        q[ids[i]] = pr[i];
        sum += pr[i];
    }
    for (int i = 0; i < V; i++)
        if (q[i] == 0.0) outside = i;
    CHECK(K > 3 && K < V && fabs(sum - 1.0) < 1e-5, "probs: %d candidates summing to %g", K, sum);
    CHECK(outside >= 0, "some token is outside the candidates");
    int32_t drafts[4] = {best, worst, outside, -1};
    for (int d = 0; d < 4; d++) {
        gptc_sampler *s;
        p.seed = 1000 + (uint64_t)d;
        gptc_sampler_init(&p, V, &s, &err);
        long hits[V] = {0}, acc = 0;
        for (long n = 0; n < N; n++) {
            gptc_sampler_reset(s, p.seed + (uint64_t)n * 0x1000193u);
            for (int i = 0; i < 3; i++)
                gptc_sampler_accept(s, hist[i]);
            memcpy(l, base, sizeof l);
            int a = 0;
            int32_t id = gptc_sampler_sample_draft(s, l, drafts[d], &a);
            hits[id]++;
            acc += a;
            if (a && id != drafts[d]) CHECK(0, "accepted a token that is not the draft");
        }
        int dof;
        double x = chi2_one(hits, q, V, N, &dof);
        CHECK(x < chi2_crit(dof), "draft %d: chi-square %.1f (dof %d, limit %.1f)", drafts[d], x,
              dof, chi2_crit(dof));
        if (drafts[d] >= 0 && q[drafts[d]] > 0)
            CHECK(fabs((double)acc / N - q[drafts[d]]) < 0.01,
                  "draft %d accepted %.4f of the time, p = %.4f", drafts[d], (double)acc / N,
                  q[drafts[d]]);
        else
            CHECK(acc == 0, "draft %d (no probability) accepted %ld times", drafts[d], acc);
        gptc_sampler_free(s);
    }
    /* greedy: the argmax, accepted exactly when it is the draft */
    p.temp = 0.0f;
    gptc_sampler *g;
    gptc_sampler_init(&p, V, &g, &err);
    memcpy(l, base, sizeof l);
    int32_t am = gptc_sampler_sample(g, l);
    int a = -1;
    memcpy(l, base, sizeof l);
    CHECK(gptc_sampler_sample_draft(g, l, am, &a) == am && a == 1, "greedy: draft = argmax");
    memcpy(l, base, sizeof l);
    CHECK(gptc_sampler_sample_draft(g, l, (am + 1) % V, &a) == am && a == 0,
          "greedy: another draft is rejected");
    memcpy(l, base, sizeof l);
    CHECK(gptc_sampler_probs(g, l, &ids, &pr) == 1 && ids[0] == am && pr[0] == 1.0f,
          "greedy probs: the argmax with probability 1");
    gptc_sampler_free(g);
    gptc_sampler_free(ref);
}

/* ----- stories260K ----- */

enum { MODE_PLAIN = 0, MODE_LOOKUP, MODE_DRAFT, MODE_WRONG };

typedef struct gen_state {
    gptc_ctx *ctx;
    gptc_drafter *dr;
    gptc_sampler *smp;
    const gptc_tokenizer *tok;
    long drafted, accepted;
} gen_state;

/* Generate up to n tokens after prompt (whose first np - 1 tokens are in the cache already, or
 * not: from = how many are); out receives them; returns how many. */
static int generate(gen_state *g, const int32_t *prompt, int np, int from, int n, int mode,
                    int32_t *out)
{
    gptc_err err;
    int32_t hist[512], btok[9], bpos[9];
    int8_t blog[9];
    memcpy(hist, prompt, (size_t)np * sizeof *hist);
    int n_hist = np, n_out = 0;
    gptc_kv_seq_rm(g->ctx, 0, from, -1);
    int32_t pos[512];
    for (int i = 0; i < np; i++)
        pos[i] = i;
    if (np - 1 > from) { /* the prompt but its last token, which goes with the first draft */
        gptc_batch b0 = {.n_tokens = np - 1 - from, .token = prompt + from, .pos = pos + from};
        if (gptc_decode(g->ctx, &b0, &err)) {
            CHECK(0, "decode: %s", err.msg);
            return 0;
        }
    }
    int32_t id = prompt[np - 1];
    int p = np - 1;
    for (;;) {
        int m = 0;
        int room = n - n_out - 1 < 8 ? n - n_out - 1 : 8;
        if (mode == MODE_LOOKUP)
            m = gptc_spec_lookup(hist, n_hist, 1, 3, btok + 1, room);
        else if (mode == MODE_DRAFT || mode == MODE_WRONG) {
            if (gptc_drafter_draft(g->dr, 0, hist, n_hist, btok + 1, room, &m, &err))
                CHECK(0, "draft: %s", err.msg);
        }
        g->drafted += m;
        btok[0] = id;
        for (int k = 0; k <= m; k++) {
            bpos[k] = p + k;
            blog[k] = 1;
        }
        gptc_batch b = {.n_tokens = m + 1, .token = btok, .pos = bpos, .logits = blog};
        if (gptc_decode(g->ctx, &b, &err)) {
            CHECK(0, "decode: %s", err.msg);
            return n_out;
        }
        int i;
        for (i = 0; i <= m; i++) {
            float *lg = gptc_get_logits(g->ctx, i);
            int32_t draft = i < m ? btok[i + 1] : -1;
            if (mode == MODE_PLAIN)
                id = gptc_sampler_sample(g->smp, lg);
            else if (mode == MODE_WRONG && draft >= 0)
                id = draft; /* the wrong rule: every draft accepted */
            else
                id = gptc_sampler_sample_draft(g->smp, lg, draft, NULL);
            gptc_sampler_accept(g->smp, id);
            out[n_out++] = id;
            hist[n_hist++] = id;
            if (gptc_tok_is_eog(g->tok, id) || n_out == n) return n_out;
            if (i < m && id == draft) {
                g->accepted++;
                continue;
            }
            break;
        }
        /* kept: the pass's first token and the i drafts accepted */
        if (m > i) gptc_kv_seq_rm(g->ctx, 0, p + i + 1, -1);
        p += i + 1;
    }
}

static const char *k_prompts[20] = {
    "Once upon a time",
    "Lily and Ben went to the park. Lily and Ben",
    "The cat sat on the mat. The dog sat on the",
    "Tom had a red ball. He liked the red ball. One day the red",
    "She said, \"I am happy.\" He said, \"I am",
    "There was a big tree in the garden",
    "The little bird could not fly",
    "Mom made a cake for Sue. Sue ate the cake. Mom made a",
    "One day, a boy named Tim found a box",
    "The sun was hot and the sky was blue",
    "Anna liked to draw. She drew a cat, a dog and a",
    "Max was a good dog. Max was",
    "The fish swam in the water. The fish",
    "Sara and her mom went to the store to buy",
    "It was a rainy day",
    "Bob the bear was hungry. He looked for honey. Bob the bear",
    "Once there was a girl who loved flowers",
    "The toy car was fast. The toy car",
    "Ben was sad because his toy was broken",
    "A B C A B C A B",
};

static void test_greedy_identity(gptc_model *m, gen_state *g)
{
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);
    gptc_sampler_params sp = gptc_sampler_default_params();
    sp.temp = 0.0f;
    int32_t prompt[256], a[200], b[200];
    gptc_err err;
    int n_ok = 0;
    for (int k = 0; k < 20; k++) {
        size_t np = 0;
        gptc_tok_encode(tok, k_prompts[k], strlen(k_prompts[k]), 1, 0, prompt, 256, &np, &err);
        int na = 0;
        for (int mode = MODE_PLAIN; mode <= MODE_DRAFT; mode++) {
            gptc_sampler_reset(g->smp, 1);
            gptc_sampler_free(g->smp);
            gptc_sampler_init(&sp, gptc_model_hparams(m)->n_vocab, &g->smp, &err);
            gptc_drafter_forget(g->dr, 0);
            int n = generate(g, prompt, (int)np, 0, 150, mode, mode == MODE_PLAIN ? a : b);
            if (mode == MODE_PLAIN) {
                na = n;
                continue;
            }
            int same = n == na && !memcmp(a, b, (size_t)n * sizeof *a);
            CHECK(same, "prompt %d (%s): greedy text with %s drafts differs", k, k_prompts[k],
                  mode == MODE_LOOKUP ? "lookup" : "draft-model");
            n_ok += same;
        }
    }
    CHECK(n_ok == 40, "greedy identity: %d of 40", n_ok);
    CHECK(g->accepted > 100, "drafts were accepted (%ld of %ld)", g->accepted, g->drafted);
}

/* Histograms of the first and third generated token over n samples. */
static void histos(gen_state *g, const int32_t *prompt, int np, int mode, long n, int V, long *h1,
                   long *h3)
{
    memset(h1, 0, (size_t)V * sizeof *h1);
    memset(h3, 0, (size_t)V * sizeof *h3);
    gptc_drafter_forget(g->dr, 0);
    gptc_kv_seq_rm(g->ctx, 0, 0, -1);
    int from = 0;
    for (long k = 0; k < n; k++) {
        gptc_sampler_reset(g->smp, 4242 + (uint64_t)mode * 1000003u + (uint64_t)k * 7919u);
        int32_t out[3];
        int got = generate(g, prompt, np, from, 3, mode, out);
        from = np - 1; /* the prompt but its last token stays */
        h1[out[0]]++;
        if (got == 3) h3[out[2]]++;
    }
}

static void test_distribution(gptc_model *m, gen_state *g)
{
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);
    int V = gptc_model_hparams(m)->n_vocab;
    gptc_sampler_params sp = gptc_sampler_default_params();
    sp.temp = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    gptc_err err;
    gptc_sampler_free(g->smp);
    gptc_sampler_init(&sp, V, &g->smp, &err);
    /* a prompt the draft model continues well: its greedy drafts are often right */
    const char *text = "Lily and Ben went to the park. Lily and Ben";
    int32_t prompt[64];
    size_t np = 0;
    gptc_tok_encode(tok, text, strlen(text), 1, 0, prompt, 64, &np, &err);
    const long N = 10000;
    long *h[4][2];
    for (int mode = 0; mode < 4; mode++)
        for (int t = 0; t < 2; t++)
            h[mode][t] = calloc((size_t)V, sizeof(long));
    for (int mode = 0; mode < 4; mode++) {
        long n = mode == MODE_WRONG ? N / 5 : N;
        g->drafted = g->accepted = 0;
        histos(g, prompt, (int)np, mode, n, V, h[mode][0], h[mode][1]);
        if (mode == MODE_DRAFT)
            CHECK(g->accepted > N / 10, "temp 1: draft-model drafts accepted %ld of %ld",
                  g->accepted, g->drafted);
    }
    const char *names[2] = {"first", "third"};
    for (int t = 0; t < 2; t++) {
        for (int mode = MODE_LOOKUP; mode <= MODE_DRAFT; mode++) {
            int dof;
            double x = chi2_two(h[MODE_PLAIN][t], h[mode][t], V, &dof);
            printf("%s token, plain vs %s drafts: chi-square %.1f, dof %d, limit %.1f\n", names[t],
                   mode == MODE_LOOKUP ? "lookup" : "draft-model", x, dof, chi2_crit(dof));
            CHECK(dof > 3 && x < chi2_crit(dof),
                  "%s token, %s drafts: chi-square %.1f (dof %d, limit at p=0.001 %.1f)", names[t],
                  mode == MODE_LOOKUP ? "lookup" : "draft-model", x, dof, chi2_crit(dof));
        }
        /* the negative check: a sampler that always accepts the draft is told apart (the plain
         * histogram scaled to the wrong sampler's sample size) */
        long *sc = calloc((size_t)V, sizeof(long));
        long tot_w = 0, tot_p = 0;
        for (int i = 0; i < V; i++) {
            tot_w += h[MODE_WRONG][t][i];
            tot_p += h[MODE_PLAIN][t][i];
        }
        double q[1024] = {0};
        for (int i = 0; i < V && i < 1024; i++)
            q[i] = (double)h[MODE_PLAIN][t][i] / (double)tot_p;
        int dof;
        double x = chi2_one(h[MODE_WRONG][t], q, V, tot_w, &dof);
        printf("%s token, plain vs always-accept (wrong): chi-square %.1f, dof %d, limit %.1f\n",
               names[t], x, dof, chi2_crit(dof));
        CHECK(x > chi2_crit(dof), "%s token: the always-accept sampler is detected (%.1f > %.1f)",
              names[t], x, chi2_crit(dof));
        free(sc);
    }
    for (int mode = 0; mode < 4; mode++)
        for (int t = 0; t < 2; t++)
            free(h[mode][t]);
}

int main(void)
{
    test_lookup();
    test_draft_rule_synthetic();

    gptc_err err;
    gptc_model *m = NULL;
    if (gptc_model_load(data("gguf/stories260K.gguf"), NULL, &m, &err)) {
        CHECK(0, "load stories260K.gguf: %s", err.msg);
        return test_summary();
    }
    gen_state g = {0};
    g.tok = gptc_model_tokenizer(m);
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 1;
    CHECK(gptc_ctx_init(m, &cp, &g.ctx, &err) == GPTC_OK, "ctx: %s", err.msg);
    CHECK(gptc_drafter_init(m, m, &cp, &g.dr, &err) == GPTC_OK, "drafter: %s", err.msg);
    gptc_sampler_params sp = gptc_sampler_default_params();
    gptc_sampler_init(&sp, gptc_model_hparams(m)->n_vocab, &g.smp, &err);

    test_greedy_identity(m, &g);
    test_distribution(m, &g);

    /* a draft model of another vocabulary is refused with a clear message */
    gptc_model *other = NULL;
    if (gptc_model_load(data("gguf/llama-2-tiny-random.gguf"), NULL, &other, &err) == GPTC_OK) {
        gptc_drafter *d = NULL;
        gptc_status st = gptc_drafter_init(m, other, &cp, &d, &err);
        CHECK(st == GPTC_E_INVALID && d == NULL && strstr(err.msg, "vocabulary"),
              "another vocabulary: %s", err.msg);
        gptc_model_free(other);
    } else {
        CHECK(0, "load llama-2-tiny-random: %s", err.msg);
    }
    gptc_model *rec = NULL;
    if (gptc_model_load(data("gguf/arch/rand-lfm2-d64-F32.gguf"), NULL, &rec, &err) == GPTC_OK) {
        gptc_drafter *d = NULL;
        gptc_status st = gptc_drafter_init(rec, rec, &cp, &d, &err);
        CHECK(st == GPTC_E_UNSUPPORTED && d == NULL && strstr(err.msg, "recurrent"),
              "recurrent draft model: %s", err.msg);
        gptc_model_free(rec);
    }

    gptc_sampler_free(g.smp);
    gptc_drafter_free(g.dr);
    gptc_ctx_free(g.ctx);
    gptc_model_free(m);
    return test_summary();
}
