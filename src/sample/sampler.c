/*
 * sampler.c — turn a row of logits into a token id.
 *
 * The chain, in llama.cpp's order:
 *   sanitize (NaN -> -inf, +inf -> FLT_MAX)
 *   -> penalties over the last repeat_last_n accepted tokens (repeat, frequency, presence)
 *   -> greedy argmax if temp <= 0 (ties: lowest id)
 *   -> top-k (partial selection with a heap, then a sort of the k survivors)
 *   -> softmax with temperature -> top-p -> min-p -> renormalize -> draw with our own RNG.
 *
 * Candidates are ordered by a total order (higher logit first, then lower id), so every step
 * is deterministic: the same seed and settings give the same tokens on every machine that
 * computes the same floats.
 *
 * Everything sample() needs is allocated at init: sample() never allocates. The logits row is
 * modified in place by the sanitize and penalty steps only (tests rely on that).
 *
 * V = n_vocab, K = number of candidates alive at a given step (K <= V).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base.h"

#define SAMPLER_MAX_LAST_N (1 << 20)

struct gptc_sampler {
    gptc_sampler_params p;
    int n_vocab;
    uint64_t rng;   /* splitmix64 state */
    int32_t *cand;  /* (V) candidate ids; [0, K) alive */
    float *prob;    /* (V) probability of cand[i] */
    int32_t *count; /* (V) scratch for the penalties; all zero between calls */
    int32_t *hist;  /* (repeat_last_n) ring of the last accepted ids */
    int hist_len;   /* valid entries, <= repeat_last_n */
    int hist_pos;   /* next slot to write */
};

gptc_sampler_params gptc_sampler_default_params(void)
{
    gptc_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temp = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 0;
    return p;
}

/* ----- RNG: splitmix64 (any 64-bit seed, 0 included, gives a full-period stream) ----- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 53 random bits */
static double rng_uniform(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ----- init / free ----- */

static gptc_status check_params(const gptc_sampler_params *p, int n_vocab, gptc_err *err)
{
    if (n_vocab <= 0)
        return gptc_fail(err, GPTC_E_INVALID, "sampler: n_vocab %d must be > 0", n_vocab);
    if (isnan(p->temp) || isinf(p->temp))
        return gptc_fail(err, GPTC_E_INVALID, "sampler: temp %g is not a finite number", p->temp);
    if (isnan(p->top_p) || p->top_p < 0.0f)
        return gptc_fail(err, GPTC_E_INVALID, "sampler: top_p %g must be >= 0 (>= 1: off)",
                         p->top_p);
    if (isnan(p->min_p) || isinf(p->min_p) || p->min_p > 1.0f)
        return gptc_fail(err, GPTC_E_INVALID, "sampler: min_p %g must be <= 1 (<= 0: off)",
                         p->min_p);
    if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
        return gptc_fail(err, GPTC_E_INVALID,
                         "sampler: repeat_penalty %g must be finite and > 0 (1: off)",
                         p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > SAMPLER_MAX_LAST_N)
        return gptc_fail(err, GPTC_E_INVALID, "sampler: repeat_last_n %d must be in 0..%d",
                         p->repeat_last_n, SAMPLER_MAX_LAST_N);
    if (isnan(p->presence_penalty) || isinf(p->presence_penalty))
        return gptc_fail(err, GPTC_E_INVALID, "sampler: presence_penalty %g is not finite",
                         p->presence_penalty);
    if (isnan(p->frequency_penalty) || isinf(p->frequency_penalty))
        return gptc_fail(err, GPTC_E_INVALID, "sampler: frequency_penalty %g is not finite",
                         p->frequency_penalty);
    return GPTC_OK;
}

gptc_status gptc_sampler_init(const gptc_sampler_params *params, int n_vocab, gptc_sampler **out,
                              gptc_err *err)
{
    gptc_err_clear(err);
    if (!out) return gptc_fail(err, GPTC_E_INVALID, "sampler: out is NULL");
    *out = NULL;
    if (!params) return gptc_fail(err, GPTC_E_INVALID, "sampler: params is NULL");
    gptc_status st = check_params(params, n_vocab, err);
    if (st != GPTC_OK) return st;

    gptc_sampler *s = calloc(1, sizeof *s);
    if (!s) return gptc_fail(err, GPTC_E_NOMEM, "sampler: out of memory");
    s->p = *params;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->hist = malloc((size_t)GPTC_MAX(params->repeat_last_n, 1) * sizeof *s->hist);
    if (!s->cand || !s->prob || !s->count || !s->hist) {
        gptc_sampler_free(s);
        return gptc_fail(err, GPTC_E_NOMEM, "sampler: out of memory for %d candidates", n_vocab);
    }
    gptc_sampler_reset(s, params->seed);
    *out = s;
    return GPTC_OK;
}

void gptc_sampler_free(gptc_sampler *s)
{
    if (!s) return;
    free(s->cand);
    free(s->prob);
    free(s->count);
    free(s->hist);
    free(s);
}

void gptc_sampler_reset(gptc_sampler *s, uint64_t seed)
{
    if (!s) return;
    s->rng = seed;
    s->hist_len = 0;
    s->hist_pos = 0;
}

/* Ids outside the vocabulary cannot be penalized and are ignored. */
void gptc_sampler_accept(gptc_sampler *s, int32_t id)
{
    if (!s || s->p.repeat_last_n == 0 || id < 0 || id >= s->n_vocab) return;
    s->hist[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->hist_len < s->p.repeat_last_n) s->hist_len++;
}

/* ----- the steps ----- */

static void apply_penalties(gptc_sampler *s, float *logits)
{
    const gptc_sampler_params *p = &s->p;
    if (s->hist_len == 0) return;
    if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f)
        return;
    /* the ring's order does not matter: only counts do */
    for (int i = 0; i < s->hist_len; i++)
        s->count[s->hist[i]]++;
    for (int i = 0; i < s->hist_len; i++) {
        int32_t id = s->hist[i];
        int32_t c = s->count[id];
        if (c == 0) continue; /* already done */
        s->count[id] = 0;
        float l = logits[id];
        l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)c * p->frequency_penalty + p->presence_penalty;
        logits[id] = isnan(l) ? -INFINITY : l; /* -inf * 0 style corner cases */
    }
}

/* a is a better candidate than b: higher logit, then lower id */
static inline int better(const float *logits, int32_t a, int32_t b)
{
    float la = logits[a], lb = logits[b];
    return la > lb || (la == lb && a < b);
}

static int cmp_cand(const void *pa, const void *pb, void *ctx)
{
    const float *logits = ctx;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (a == b) return 0;
    return better(logits, a, b) ? -1 : 1;
}

/* Min-heap of ids by "better": the root is the worst of the kept candidates. */
static void heap_sift_down(const float *logits, int32_t *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(logits, h[w], h[l])) w = l;
        if (r < n && better(logits, h[w], h[r])) w = r;
        if (w == i) return;
        int32_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Keep the k best of all V ids in cand[0, k), sorted best first. O(V log k). */
static void select_top_k(gptc_sampler *s, const float *logits, int k)
{
    int32_t *h = s->cand;
    for (int i = 0; i < k; i++)
        h[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--)
        heap_sift_down(logits, h, k, i);
    for (int id = k; id < s->n_vocab; id++) {
        if (better(logits, id, h[0])) {
            h[0] = id;
            heap_sift_down(logits, h, k, 0);
        }
    }
    qsort_r(h, (size_t)k, sizeof *h, cmp_cand, GPTC_UNCONST(void *, logits));
}

/* The chain up to the draw: leaves the K candidates in cand[0, K) with their (not yet
 * renormalised) probabilities in prob[0, K) and returns K. *det = 1 when the result needs no
 * draw (greedy, or nothing has any probability): then K = 1 and cand[0] is the token. */
static int chain(gptc_sampler *s, float *logits, int *det)
{
    const gptc_sampler_params *p = &s->p;
    const int V = s->n_vocab;
    *det = 0;

    for (int i = 0; i < V; i++) {
        if (isnan(logits[i]))
            logits[i] = -INFINITY;
        else if (logits[i] == INFINITY)
            logits[i] = FLT_MAX;
    }
    apply_penalties(s, logits);

    if (p->temp <= 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        s->cand[0] = best;
        s->prob[0] = 1.0f;
        *det = 1;
        return 1;
    }

    /* candidates: sorted best first whenever top-k or top-p needs an order */
    int K = V;
    int sorted = 0;
    if (p->top_k > 0 && p->top_k < V) {
        K = p->top_k;
        select_top_k(s, logits, K);
        sorted = 1;
    } else {
        for (int i = 0; i < V; i++)
            s->cand[i] = i;
        if (p->top_p < 1.0f) {
            qsort_r(s->cand, (size_t)V, sizeof *s->cand, cmp_cand, logits);
            sorted = 1;
        }
    }

    int32_t *cand = s->cand;
    float *prob = s->prob;
    float maxl = logits[cand[0]];
    if (!sorted)
        for (int i = 1; i < K; i++)
            maxl = GPTC_MAX(maxl, logits[cand[i]]);
    if (maxl == -INFINITY) {
        /* nothing has any probability: fall back to the lowest id among the candidates */
        int32_t best = cand[0];
        for (int i = 1; i < K; i++)
            best = GPTC_MIN(best, cand[i]);
        cand[0] = best;
        prob[0] = 1.0f;
        *det = 1;
        return 1;
    }

    /* softmax with temperature; (l - max) first so FLT_MAX logits do not overflow */
    double sum = 0.0;
    for (int i = 0; i < K; i++) {
        float e = expf((logits[cand[i]] - maxl) / p->temp);
        prob[i] = e;
        sum += e;
    }
    float pmax = 0.0f;
    for (int i = 0; i < K; i++) {
        prob[i] = (float)(prob[i] / sum);
        pmax = GPTC_MAX(pmax, prob[i]);
    }

    /* top-p: the shortest sorted prefix whose mass reaches top_p */
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        int keep = K;
        for (int i = 0; i < K; i++) {
            cum += prob[i];
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        K = keep;
    }

    /* min-p: drop what is much less likely than the best (order kept; the best survives) */
    if (p->min_p > 0.0f) {
        float thr = p->min_p * pmax;
        int k = 0;
        for (int i = 0; i < K; i++) {
            if (prob[i] >= thr) {
                cand[k] = cand[i];
                prob[k] = prob[i];
                k++;
            }
        }
        K = k;
    }
    GPTC_ASSERT(K >= 1);
    return K;
}

int32_t gptc_sampler_sample(gptc_sampler *s, float *logits)
{
    int det;
    int K = chain(s, logits, &det);
    if (det) return s->cand[0];
    const int32_t *cand = s->cand;
    const float *prob = s->prob;

    /* renormalize implicitly: draw r in [0, mass) */
    double mass = 0.0;
    for (int i = 0; i < K; i++)
        mass += prob[i];
    double r = rng_uniform(&s->rng) * mass;
    double cdf = 0.0;
    for (int i = 0; i < K; i++) {
        cdf += prob[i];
        if (r < cdf) return cand[i];
    }
    return cand[K - 1]; /* rounding */
}

int gptc_sampler_probs(gptc_sampler *s, float *logits, const int32_t **ids, const float **probs)
{
    int det;
    int K = chain(s, logits, &det);
    double mass = 0.0;
    for (int i = 0; i < K; i++)
        mass += s->prob[i];
    for (int i = 0; i < K; i++)
        s->prob[i] = (float)(s->prob[i] / mass);
    if (ids) *ids = s->cand;
    if (probs) *probs = s->prob;
    return K;
}

/* Speculative sampling against a draft token that was proposed with certainty (a draft
 * distribution q that is a point mass on draft): accept it with probability
 * min(1, p(draft) / q(draft)) = p(draft); otherwise draw from the residual (p - q)+
 * renormalised, which is p without the draft. Either way the token has distribution p. */
int32_t gptc_sampler_sample_draft(gptc_sampler *s, float *logits, int32_t draft, int *accepted)
{
    int det, acc = 0;
    int K = chain(s, logits, &det);
    int32_t id;
    if (det) {
        id = s->cand[0];
        acc = id == draft;
        goto out;
    }
    const int32_t *cand = s->cand;
    const float *prob = s->prob;
    double mass = 0.0, pd = 0.0;
    for (int i = 0; i < K; i++) {
        mass += prob[i];
        if (cand[i] == draft) pd = prob[i];
    }
    if (draft < 0 || pd <= 0.0) { /* nothing to accept: an ordinary draw */
        double r = rng_uniform(&s->rng) * mass, cdf = 0.0;
        id = cand[K - 1];
        for (int i = 0; i < K; i++) {
            cdf += prob[i];
            if (r < cdf) {
                id = cand[i];
                break;
            }
        }
        goto out;
    }
    if (rng_uniform(&s->rng) * mass < pd) {
        id = draft;
        acc = 1;
        goto out;
    }
    double rest = mass - pd;
    id = draft; /* rounding: no residual mass left */
    if (rest > 0.0) {
        double r = rng_uniform(&s->rng) * rest, cdf = 0.0;
        int32_t lastc = -1;
        for (int i = 0; i < K; i++) {
            if (cand[i] == draft) continue;
            lastc = cand[i];
            cdf += prob[i];
            if (r < cdf) break;
        }
        if (lastc >= 0) id = lastc;
    }
    acc = id == draft;
out:
    if (accepted) *accepted = acc;
    return id;
}
