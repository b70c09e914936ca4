/* test_sampler.c — the sampler chain: greedy, top-k/top-p/min-p, temperature, penalties, RNG. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "core/base.h"
#include "test.h"

/* plain params: every filter off, temp 1 */
static gptc_sampler_params plain(void)
{
    gptc_sampler_params p = gptc_sampler_default_params();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    return p;
}

static gptc_sampler *mk(const gptc_sampler_params *p, int n_vocab)
{
    gptc_sampler *s = NULL;
    gptc_err err;
    gptc_status st = gptc_sampler_init(p, n_vocab, &s, &err);
    CHECK(st == GPTC_OK && s, "sampler_init: %s", err.msg);
    return s;
}

/* deterministic test data */
static int32_t argmax(const float *x, int n)
{
    int32_t b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* sample n times from a fresh copy of logits each time; count hits per id */
static void histogram(gptc_sampler *s, const float *logits, int V, int n, long *hits)
{
    float buf[64];
    memset(hits, 0, sizeof(long) * (size_t)V);
    for (int t = 0; t < n; t++) {
        memcpy(buf, logits, sizeof(float) * (size_t)V);
        int32_t id = gptc_sampler_sample(s, buf);
        if (id >= 0 && id < V) hits[id]++;
    }
}

static void test_defaults(void)
{
    gptc_sampler_params p = gptc_sampler_default_params();
    CHECK(p.temp == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f,
          "default temp/top_k/top_p/min_p");
    CHECK(p.repeat_penalty == 1.0f && p.repeat_last_n == 64 && p.presence_penalty == 0.0f &&
              p.frequency_penalty == 0.0f && p.seed == 0,
          "default penalties/seed");
}

static void test_greedy(void)
{
    gptc_sampler_params p = plain();
    p.temp = 0.0f;
    gptc_sampler *s = mk(&p, 100);
    float l[100];
    for (int trial = 0; trial < 50; trial++) {
        for (int i = 0; i < 100; i++)
            l[i] = test_rnd_unit() * 10 - 5;
        int32_t want = argmax(l, 100);
        CHECK(gptc_sampler_sample(s, l) == want, "greedy picks argmax (trial %d)", trial);
    }
    for (int i = 0; i < 100; i++)
        l[i] = 1.0f;
    l[17] = 3.0f;
    l[63] = 3.0f;
    CHECK(gptc_sampler_sample(s, l) == 17, "greedy ties go to the lowest id");
    gptc_sampler_free(s);

    p.temp = -1.0f;
    s = mk(&p, 100);
    for (int i = 0; i < 100; i++)
        l[i] = (float)(i % 7);
    CHECK(gptc_sampler_sample(s, l) == 6, "negative temp is greedy");
    gptc_sampler_free(s);

    /* penalties still apply before the argmax */
    p.temp = 0.0f;
    p.repeat_penalty = 4.0f;
    s = mk(&p, 4);
    float m[4] = {1.0f, 3.0f, 2.0f, 0.5f};
    gptc_sampler_accept(s, 1);
    CHECK(gptc_sampler_sample(s, m) == 2, "greedy after repeat penalty picks 2 (3/4 < 2)");
    gptc_sampler_free(s);
}

static void test_top_k1_is_greedy(void)
{
    gptc_sampler_params p = plain();
    p.top_k = 1;
    p.temp = 5.0f;
    gptc_sampler *s = mk(&p, 1000);
    static float l[1000];
    int ok = 1;
    for (int trial = 0; trial < 200; trial++) {
        for (int i = 0; i < 1000; i++)
            l[i] = test_rnd_unit() * 4;
        int32_t want = argmax(l, 1000);
        if (gptc_sampler_sample(s, l) != want) ok = 0;
    }
    CHECK(ok, "top_k=1 at temp 5 equals greedy");
    for (int i = 0; i < 1000; i++)
        l[i] = 0.5f;
    CHECK(gptc_sampler_sample(s, l) == 0, "top_k=1 with all-equal logits picks id 0");
    gptc_sampler_free(s);
}

static void test_seeds(void)
{
    gptc_sampler_params p = gptc_sampler_default_params();
    p.temp = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    enum { V = 64, N = 500 };
    float base[V], l[V];
    for (int i = 0; i < V; i++)
        base[i] = test_rnd_unit() * 2;
    int32_t a[N], b[N], c[N], d[N];

    p.seed = 7;
    gptc_sampler *s1 = mk(&p, V), *s2 = mk(&p, V);
    p.seed = 8;
    gptc_sampler *s3 = mk(&p, V);
    for (int t = 0; t < N; t++) {
        memcpy(l, base, sizeof l);
        a[t] = gptc_sampler_sample(s1, l);
        memcpy(l, base, sizeof l);
        b[t] = gptc_sampler_sample(s2, l);
        memcpy(l, base, sizeof l);
        c[t] = gptc_sampler_sample(s3, l);
    }
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same tokens");
    CHECK(memcmp(a, c, sizeof a) != 0, "different seeds, different tokens");
    gptc_sampler_reset(s1, 7);
    for (int t = 0; t < N; t++) {
        memcpy(l, base, sizeof l);
        d[t] = gptc_sampler_sample(s1, l);
    }
    CHECK(memcmp(a, d, sizeof a) == 0, "reset(seed) replays the stream");
    int inrange = 1;
    for (int t = 0; t < N; t++)
        inrange &= a[t] >= 0 && a[t] < V;
    CHECK(inrange, "sampled ids in range");
    gptc_sampler_free(s1);
    gptc_sampler_free(s2);
    gptc_sampler_free(s3);

    /* seed 0 works and is not degenerate */
    p.seed = 0;
    s1 = mk(&p, V);
    int distinct = 0, seen[V] = {0};
    for (int t = 0; t < N; t++) {
        memcpy(l, base, sizeof l);
        int32_t id = gptc_sampler_sample(s1, l);
        if (!seen[id]++) distinct++;
    }
    CHECK(distinct > V / 2, "seed 0 gives varied samples (%d distinct)", distinct);
    gptc_sampler_free(s1);
}

/* chi-square of hits against probabilities q; bins of expectation < 5 are merged */
static double chi2(const long *hits, const double *q, int V, long n, int *dof)
{
    double x = 0.0, e_acc = 0.0, o_acc = 0.0;
    int bins = 0;
    for (int i = 0; i < V; i++) {
        e_acc += q[i] * (double)n;
        o_acc += (double)hits[i];
        if (e_acc >= 5.0 || i == V - 1) {
            if (e_acc > 0) x += (o_acc - e_acc) * (o_acc - e_acc) / e_acc;
            bins++;
            e_acc = o_acc = 0.0;
        }
    }
    *dof = bins - 1;
    return x;
}

static void softmax_d(const float *l, int V, double temp, double *q)
{
    double m = -INFINITY, sum = 0.0;
    for (int i = 0; i < V; i++)
        m = fmax(m, l[i]);
    for (int i = 0; i < V; i++)
        sum += (q[i] = exp((l[i] - m) / temp));
    for (int i = 0; i < V; i++)
        q[i] /= sum;
}

static void test_distribution(void)
{
    enum { V = 12 };
    const long N = 200000;
    float l[V];
    double q[V];
    long hits[V];
    for (int i = 0; i < V; i++)
        l[i] = (float)i * 0.3f - 1.0f;
    l[5] = 1.7f;

    double temps[2] = {1.0, 0.7};
    for (int ti = 0; ti < 2; ti++) {
        gptc_sampler_params p = plain();
        p.temp = (float)temps[ti];
        p.seed = 20240601;
        gptc_sampler *s = mk(&p, V);
        histogram(s, l, V, (int)N, hits);
        softmax_d(l, V, temps[ti], q);
        int dof;
        double x = chi2(hits, q, V, N, &dof);
        /* dof 11: P(chi2 > 40) ~ 3e-5; with a fixed seed the outcome is fixed anyway */
        CHECK(x < 40.0, "temp %.1f: chi-square %.2f (dof %d) vs softmax", temps[ti], x, dof);
        double maxdev = 0.0;
        for (int i = 0; i < V; i++)
            maxdev = fmax(maxdev, fabs((double)hits[i] / N - q[i]));
        CHECK(maxdev < 0.005, "temp %.1f: max |freq - p| = %.4f", temps[ti], maxdev);
        gptc_sampler_free(s);
    }
}

static void test_top_k_top_p_min_p(void)
{
    enum { V = 6 };
    /* probabilities at temp 1: 0.5, 0.3, 0.15, 0.04, 0.01, 0 (-inf) */
    float l[V] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.04f), logf(0.01f), -INFINITY};
    long hits[V];
    const int N = 40000;

    /* top-k = 2 */
    gptc_sampler_params p = plain();
    p.top_k = 2;
    gptc_sampler *s = mk(&p, V);
    histogram(s, l, V, N, hits);
    CHECK(hits[0] > 0 && hits[1] > 0 && hits[2] + hits[3] + hits[4] + hits[5] == 0,
          "top_k=2 keeps exactly {0,1}");
    CHECK(fabs((double)hits[0] / N - 0.625) < 0.01, "top_k=2 renormalizes (%.4f vs 0.625)",
          (double)hits[0] / N);
    gptc_sampler_free(s);

    /* top-p = 0.75: 0.5 < 0.75 <= 0.8 -> {0,1}; both with top-k off (full sort) and on */
    for (int k = 0; k <= 5; k += 5) {
        p = plain();
        p.top_p = 0.75f;
        p.top_k = k;
        s = mk(&p, V);
        histogram(s, l, V, N, hits);
        CHECK(hits[0] > 0 && hits[1] > 0 && hits[2] + hits[3] + hits[4] + hits[5] == 0,
              "top_p=0.75 (top_k %d) keeps exactly {0,1}", k);
        CHECK(fabs((double)hits[0] / N - 0.625) < 0.01, "top_p renormalizes");
        gptc_sampler_free(s);
    }
    /* top-p = 0.9: 0.8 < 0.9 <= 0.95 -> {0,1,2} */
    p = plain();
    p.top_p = 0.9f;
    s = mk(&p, V);
    histogram(s, l, V, N, hits);
    CHECK(hits[2] > 0 && hits[3] + hits[4] + hits[5] == 0, "top_p=0.9 keeps exactly {0,1,2}");
    gptc_sampler_free(s);
    /* top-p = 0: the single best */
    p.top_p = 0.0f;
    s = mk(&p, V);
    histogram(s, l, V, 1000, hits);
    CHECK(hits[0] == 1000, "top_p=0 keeps only the best");
    gptc_sampler_free(s);

    /* min-p = 0.1: threshold 0.05 -> drops 0.04 and 0.01 */
    p = plain();
    p.min_p = 0.1f;
    s = mk(&p, V);
    histogram(s, l, V, N, hits);
    CHECK(hits[2] > 0 && hits[3] + hits[4] + hits[5] == 0, "min_p=0.1 drops ids 3,4,5");
    CHECK(fabs((double)hits[0] / N - 0.5 / 0.95) < 0.01, "min_p renormalizes");
    gptc_sampler_free(s);
    /* min-p = 0.05: threshold 0.025 -> keeps 0.04, drops 0.01 */
    p.min_p = 0.05f;
    s = mk(&p, V);
    histogram(s, l, V, N, hits);
    CHECK(hits[3] > 0 && hits[4] + hits[5] == 0, "min_p=0.05 keeps 3, drops 4,5");
    gptc_sampler_free(s);
    /* min-p = 1: only the best */
    p.min_p = 1.0f;
    s = mk(&p, V);
    histogram(s, l, V, 1000, hits);
    CHECK(hits[0] == 1000, "min_p=1 keeps only the best");
    gptc_sampler_free(s);

    /* temperature sharpens before top-p: at temp 0.5 probs ~ .69,.25,.06,... -> top_p .9 {0,1} */
    p = plain();
    p.temp = 0.5f;
    p.top_p = 0.9f;
    s = mk(&p, V);
    histogram(s, l, V, N, hits);
    CHECK(hits[1] > 0 && hits[2] + hits[3] + hits[4] + hits[5] == 0,
          "temp 0.5 then top_p 0.9 keeps {0,1}");
    gptc_sampler_free(s);
}

/* top-k selection agrees with a brute-force top-k under (logit desc, id asc) */
static void test_top_k_selection(void)
{
    enum { V = 500, K = 7 };
    gptc_sampler_params p = plain();
    p.top_k = K;
    p.temp = 100.0f; /* nearly uniform over the survivors */
    gptc_sampler *s = mk(&p, V);
    float base[V], l[V];
    int ok = 1;
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < V; i++)
            base[i] = (float)(int)(test_rnd_unit() * 20); /* many ties */
        int allowed[V] = {0};
        for (int k = 0; k < K; k++) {
            int b = -1;
            for (int i = 0; i < V; i++)
                if (!allowed[i] && (b < 0 || base[i] > base[b])) b = i;
            allowed[b] = 1;
        }
        for (int t = 0; t < 200; t++) {
            memcpy(l, base, sizeof l);
            int32_t id = gptc_sampler_sample(s, l);
            if (id < 0 || id >= V || !allowed[id]) ok = 0;
        }
    }
    CHECK(ok, "top-k heap selection matches brute force, ties by lowest id");
    gptc_sampler_free(s);
}

static void test_penalties(void)
{
    enum { V = 8 };
    gptc_sampler_params p = plain();
    p.temp = 0.0f; /* greedy: logits are modified in place by penalties only */
    float l[V];

    /* repeat penalty: positive divided, negative multiplied, others untouched */
    p.repeat_penalty = 2.0f;
    gptc_sampler *s = mk(&p, V);
    gptc_sampler_accept(s, 1);
    gptc_sampler_accept(s, 2);
    gptc_sampler_accept(s, 1); /* repeated: still applied once */
    float r[V] = {1, 4, -3, 2, 0, 0, 0, 0};
    memcpy(l, r, sizeof l);
    gptc_sampler_sample(s, l);
    CHECK(l[1] == 2.0f, "repeat: positive 4 / 2 = 2 (got %g)", l[1]);
    CHECK(l[2] == -6.0f, "repeat: negative -3 * 2 = -6 (got %g)", l[2]);
    CHECK(l[0] == 1.0f && l[3] == 2.0f, "repeat: others untouched");
    gptc_sampler_free(s);

    /* frequency: -= count * f; presence: -= p once */
    p = plain();
    p.temp = 0.0f;
    p.frequency_penalty = 0.5f;
    s = mk(&p, V);
    for (int i = 0; i < 3; i++)
        gptc_sampler_accept(s, 4);
    gptc_sampler_accept(s, 5);
    memset(l, 0, sizeof l);
    gptc_sampler_sample(s, l);
    CHECK(l[4] == -1.5f && l[5] == -0.5f && l[6] == 0.0f,
          "frequency: 3 x 0.5 and 1 x 0.5 (got %g %g %g)", l[4], l[5], l[6]);
    gptc_sampler_free(s);

    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.25f;
    s = mk(&p, V);
    for (int i = 0; i < 3; i++)
        gptc_sampler_accept(s, 4);
    gptc_sampler_accept(s, 5);
    memset(l, 0, sizeof l);
    gptc_sampler_sample(s, l);
    CHECK(l[4] == -0.25f && l[5] == -0.25f && l[6] == 0.0f,
          "presence: once per token (got %g %g %g)", l[4], l[5], l[6]);
    gptc_sampler_free(s);

    /* all three at once: repeat first, then frequency and presence */
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    s = mk(&p, V);
    gptc_sampler_accept(s, 3);
    gptc_sampler_accept(s, 3);
    for (int i = 0; i < V; i++)
        l[i] = 3.0f;
    gptc_sampler_sample(s, l);
    CHECK(l[3] == 3.0f / 2 - 2 * 0.5f - 0.25f, "combined: 3/2 - 1 - 0.25 (got %g)", l[3]);
    gptc_sampler_free(s);

    /* the window: only the last repeat_last_n accepted tokens count */
    p = plain();
    p.temp = 0.0f;
    p.frequency_penalty = 1.0f;
    p.repeat_last_n = 4;
    s = mk(&p, V);
    gptc_sampler_accept(s, 0);
    gptc_sampler_accept(s, 0);
    for (int i = 0; i < 3; i++)
        gptc_sampler_accept(s, 1);
    memset(l, 0, sizeof l);
    gptc_sampler_sample(s, l);
    CHECK(l[0] == -1.0f && l[1] == -3.0f, "window of 4: one 0 and three 1s (got %g %g)", l[0],
          l[1]);
    gptc_sampler_accept(s, 99); /* out of range: ignored */
    gptc_sampler_accept(s, -1);
    memset(l, 0, sizeof l);
    gptc_sampler_sample(s, l);
    CHECK(l[0] == -1.0f && l[1] == -3.0f, "out-of-range accepts are ignored");
    gptc_sampler_reset(s, 1);
    memset(l, 0, sizeof l);
    gptc_sampler_sample(s, l);
    CHECK(l[0] == 0.0f && l[1] == 0.0f, "reset forgets the history");
    gptc_sampler_free(s);

    /* repeat_last_n = 0: no penalties */
    p.repeat_last_n = 0;
    s = mk(&p, V);
    gptc_sampler_accept(s, 2);
    memset(l, 0, sizeof l);
    gptc_sampler_sample(s, l);
    CHECK(l[2] == 0.0f, "repeat_last_n=0 disables penalties");
    gptc_sampler_free(s);

    /* penalty 1 / 0 / 0 leaves logits alone (the default) */
    p = gptc_sampler_default_params();
    p.temp = 0.0f;
    s = mk(&p, V);
    gptc_sampler_accept(s, 2);
    for (int i = 0; i < V; i++)
        l[i] = (float)i;
    gptc_sampler_sample(s, l);
    CHECK(l[2] == 2.0f, "default penalties are off");
    gptc_sampler_free(s);
}

static int has(const char *msg, const char *sub)
{
    return strstr(msg, sub) != NULL;
}

static void test_invalid(void)
{
    struct {
        const char *name;
        gptc_sampler_params p;
        int n_vocab;
    } cases[16];
    int n = 0;
    gptc_sampler_params d = plain();
#define ADD(nm, field, val, nv)                                                                    \
    do {                                                                                           \
        cases[n].name = nm;                                                                        \
        cases[n].p = d;                                                                            \
        cases[n].p.field = val;                                                                    \
        cases[n].n_vocab = nv;                                                                     \
        n++;                                                                                       \
    } while (0)
    ADD("n_vocab", seed, 0, 0);
    ADD("n_vocab", seed, 0, -5);
    ADD("temp", temp, NAN, 10);
    ADD("temp", temp, INFINITY, 10);
    ADD("top_p", top_p, -0.1f, 10);
    ADD("top_p", top_p, NAN, 10);
    ADD("min_p", min_p, NAN, 10);
    ADD("min_p", min_p, 1.5f, 10);
    ADD("repeat_penalty", repeat_penalty, 0.0f, 10);
    ADD("repeat_penalty", repeat_penalty, -1.0f, 10);
    ADD("repeat_penalty", repeat_penalty, NAN, 10);
    ADD("repeat_last_n", repeat_last_n, -1, 10);
    ADD("repeat_last_n", repeat_last_n, 1 << 30, 10);
    ADD("presence_penalty", presence_penalty, NAN, 10);
    ADD("frequency_penalty", frequency_penalty, -INFINITY, 10);
#undef ADD
    for (int i = 0; i < n; i++) {
        gptc_sampler *s = (gptc_sampler *)&n; /* must be reset to NULL */
        gptc_err err;
        gptc_status st = gptc_sampler_init(&cases[i].p, cases[i].n_vocab, &s, &err);
        CHECK(st == GPTC_E_INVALID && err.status == GPTC_E_INVALID && s == NULL,
              "case %d (%s) rejected", i, cases[i].name);
        CHECK(has(err.msg, cases[i].name), "case %d message names %s: '%s'", i, cases[i].name,
              err.msg);
    }
    gptc_sampler *s = NULL;
    gptc_err err;
    CHECK(gptc_sampler_init(NULL, 10, &s, &err) == GPTC_E_INVALID, "NULL params rejected");
    CHECK(gptc_sampler_init(&d, 10, NULL, &err) == GPTC_E_INVALID, "NULL out rejected");
    gptc_sampler_free(NULL);
    /* the off values are valid */
    d.top_k = -3;
    d.top_p = 7.0f;
    d.min_p = -1.0f;
    d.temp = -2.0f;
    CHECK(gptc_sampler_init(&d, 1, &s, &err) == GPTC_OK, "off values accepted: %s", err.msg);
    float one = 3.0f;
    CHECK(gptc_sampler_sample(s, &one) == 0, "n_vocab 1");
    gptc_sampler_free(s);
}

static void test_special_logits(void)
{
    enum { V = 16 };
    float l[V];
    long hits[V];
    gptc_sampler_params modes[3];
    modes[0] = plain();                       /* pure softmax */
    modes[1] = gptc_sampler_default_params(); /* top-k 40 > V, top-p, min-p */
    modes[2] = plain();
    modes[2].top_k = 4;
    modes[2].top_p = 0.5f;

    for (int m = 0; m < 3; m++) {
        gptc_sampler *s = mk(&modes[m], V);

        /* all equal: uniform over what the filters keep */
        for (int i = 0; i < V; i++)
            l[i] = 2.0f;
        histogram(s, l, V, 16000, hits);
        int nz = 0;
        long mn = 1 << 30, mx = 0;
        for (int i = 0; i < V; i++) {
            if (hits[i]) {
                nz++;
                mn = GPTC_MIN(mn, hits[i]);
                mx = GPTC_MAX(mx, hits[i]);
            }
        }
        if (m == 2)
            CHECK(nz == 2 && hits[0] && hits[1], "mode %d: all equal, top_k 4 + top_p .5 -> {0,1}",
                  m);
        else
            CHECK(nz == V && mn > 800 && mx < 1200, "mode %d: all equal -> uniform (%ld..%ld)", m,
                  mn, mx);

        /* -inf logits are never drawn */
        for (int i = 0; i < V; i++)
            l[i] = (i % 3 == 0) ? -INFINITY : (float)i * 0.1f;
        histogram(s, l, V, 4000, hits);
        long bad = 0;
        for (int i = 0; i < V; i += 3)
            bad += hits[i];
        CHECK(bad == 0, "mode %d: -inf never drawn", m);

        /* all -inf: no crash, a valid id */
        for (int i = 0; i < V; i++)
            l[i] = -INFINITY;
        int32_t id = gptc_sampler_sample(s, l);
        CHECK(id >= 0 && id < V, "mode %d: all -inf gives a valid id (%d)", m, id);

        /* NaN counts as -inf */
        for (int i = 0; i < V; i++)
            l[i] = (i % 2) ? NAN : 1.0f;
        histogram(s, l, V, 4000, hits);
        bad = 0;
        for (int i = 1; i < V; i += 2)
            bad += hits[i];
        CHECK(bad == 0, "mode %d: NaN never drawn", m);
        for (int i = 0; i < V; i++)
            l[i] = NAN;
        id = gptc_sampler_sample(s, l);
        CHECK(id >= 0 && id < V, "mode %d: all NaN gives a valid id (%d)", m, id);

        /* +inf wins */
        for (int i = 0; i < V; i++)
            l[i] = 1e30f;
        l[9] = INFINITY;
        histogram(s, l, V, 500, hits);
        CHECK(hits[9] == 500, "mode %d: +inf always drawn", m);
        gptc_sampler_free(s);
    }

    /* greedy with NaN / -inf */
    gptc_sampler_params p = plain();
    p.temp = 0.0f;
    gptc_sampler *s = mk(&p, V);
    for (int i = 0; i < V; i++)
        l[i] = NAN;
    l[5] = -1e9f;
    CHECK(gptc_sampler_sample(s, l) == 5, "greedy skips NaN");
    for (int i = 0; i < V; i++)
        l[i] = -INFINITY;
    CHECK(gptc_sampler_sample(s, l) == 0, "greedy all -inf -> 0");
    gptc_sampler_free(s);

    /* huge penalties on huge logits stay finite or -inf, never NaN */
    p = plain();
    p.repeat_penalty = 1e30f;
    p.frequency_penalty = 1e30f;
    s = mk(&p, V);
    for (int i = 0; i < V; i++)
        gptc_sampler_accept(s, i);
    for (int i = 0; i < V; i++)
        l[i] = (i % 2) ? -3e38f : 3e38f;
    int32_t id = gptc_sampler_sample(s, l);
    CHECK(id >= 0 && id < V, "huge penalties: valid id (%d)", id);
    int nan = 0;
    for (int i = 0; i < V; i++)
        nan |= isnan(l[i]);
    CHECK(!nan, "huge penalties: no NaN logits");
    gptc_sampler_free(s);
}

static void test_big_vocab(void)
{
    enum { V = 150000 };
    static float base[V], l[V];
    for (int i = 0; i < V; i++)
        base[i] = test_rnd_unit() * 20;
    base[123456] = 21.0f; /* a clear winner: random floats may tie */
    int32_t top = argmax(base, V);
    gptc_sampler_params p = gptc_sampler_default_params();
    p.seed = 3;
    p.temp = 0.01f; /* effectively greedy through the whole chain */
    gptc_sampler *s = mk(&p, V);
    int ok = 1;
    for (int t = 0; t < 50; t++) {
        memcpy(l, base, sizeof l);
        if (gptc_sampler_sample(s, l) != top) ok = 0;
    }
    CHECK(ok, "150k vocab, top_k 40, temp 0.01 -> argmax");
    gptc_sampler_free(s);

    /* top-k off, top-p on: full sort of 150k */
    p.top_k = 0;
    p.temp = 1.0f;
    p.top_p = 0.5f;
    s = mk(&p, V);
    ok = 1;
    for (int t = 0; t < 5; t++) {
        memcpy(l, base, sizeof l);
        int32_t id = gptc_sampler_sample(s, l);
        if (id < 0 || id >= V || base[id] < 10.0f) ok = 0;
    }
    CHECK(ok, "150k vocab, top_p 0.5 picks a high logit");
    gptc_sampler_free(s);
}

int main(void)
{
    test_rng_seed(12345);
    test_defaults();
    test_greedy();
    test_top_k1_is_greedy();
    test_seeds();
    test_distribution();
    test_top_k_top_p_min_p();
    test_top_k_selection();
    test_penalties();
    test_invalid();
    test_special_logits();
    test_big_vocab();
    return test_summary();
}
