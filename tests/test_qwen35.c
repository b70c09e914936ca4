/*
 * test_qwen35.c — the Qwen3.5 hybrid architectures (qwen35, qwen35moe) and their kernels:
 *   - the gated delta rule (model/deltanet.h): the chunk-parallel form against the per-token
 *     recurrence, and both against a float64 loop written here, over random heads of several
 *     shapes and lengths that cross chunk boundaries; the causal convolution against a direct sum
 *     and split into calls that carry the window;
 *   - the models' recurrent state in the context (on ../shared/data/gguf/arch's qwen35 and
 *     qwen35moe): a prompt decoded in one batch (chunk-parallel), token by token (the per-token
 *     recurrence) and in uneven pieces gives the same logits; two sequences interleaved in one
 *     batch equal each alone; gptc_kv_seq_cp forks a sequence's state; a checkpoint restores it
 *     after gptc_kv_seq_rm, and a cut elsewhere is refused without changing anything; a model
 *     on 1 and 2 threads agrees.
 * llama.cpp's references and the numpy reference (scripts/qwen35_ref.py) are checked in
 * test_moe.c with the other MoE families; bad files in test_arch.c.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gptc.h"
#include "model/context.h"
#include "model/deltanet.h"
#include "quant/quantize.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float nrand(void)
{
    double u = urand() + 1e-12, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* The delta rule in float64, one head: S (dv, dk) */
static void ref_step(double *S, int dk, int dv, const float *q, const float *k, const float *v,
                     float g, float beta, double *o)
{
    double e = exp((double)g);
    for (int i = 0; i < dv * dk; i++)
        S[i] *= e;
    for (int r = 0; r < dv; r++) {
        double sk = 0;
        for (int j = 0; j < dk; j++)
            sk += S[r * dk + j] * k[j];
        double u = beta * (v[r] - sk);
        for (int j = 0; j < dk; j++)
            S[r * dk + j] += u * k[j];
    }
    for (int r = 0; r < dv; r++) {
        double s = 0;
        for (int j = 0; j < dk; j++)
            s += S[r * dk + j] * q[j];
        o[r] = s;
    }
}

/* T tokens of one head with random q, k (L2-normalised, q scaled), v, g, beta and a random
 * start state: step, chunk and the float64 loop agree, outputs and final state. */
static void check_deltanet(int dk, int dv, int T, float gscale)
{
    size_t nq = (size_t)T * dk, nv = (size_t)T * dv, ns = (size_t)dk * dv;
    float *q = malloc(nq * sizeof *q), *k = malloc(nq * sizeof *k), *v = malloc(nv * sizeof *v);
    float *g = malloc((size_t)T * sizeof *g), *beta = malloc((size_t)T * sizeof *beta);
    float *S1 = malloc(ns * sizeof *S1), *S2 = malloc(ns * sizeof *S2);
    float *o1 = malloc(nv * sizeof *o1), *o2 = malloc(nv * sizeof *o2);
    double *S3 = malloc(ns * sizeof *S3), *o3 = malloc(nv * sizeof *o3);
    float *scratch = malloc(gptc_deltanet_scratch(dk, dv) * sizeof *scratch);
    for (size_t i = 0; i < nq; i++) {
        q[i] = nrand();
        k[i] = nrand();
    }
    for (int t = 0; t < T; t++) {
        gptc_l2norm(q + (size_t)t * dk, dk, 1e-6f);
        gptc_l2norm(k + (size_t)t * dk, dk, 1e-6f);
        for (int j = 0; j < dk; j++)
            q[(size_t)t * dk + j] /= sqrtf((float)dk);
        g[t] = -gscale * (float)urand();
        beta[t] = (float)urand();
    }
    for (size_t i = 0; i < nv; i++)
        v[i] = nrand();
    for (size_t i = 0; i < ns; i++)
        S1[i] = S2[i] = (float)(S3[i] = 0.3 * nrand());
    for (int t = 0; t < T; t++) {
        gptc_deltanet_step(S1, dk, dv, q + (size_t)t * dk, k + (size_t)t * dk, v + (size_t)t * dv,
                           g[t], beta[t], o1 + (size_t)t * dv);
        ref_step(S3, dk, dv, q + (size_t)t * dk, k + (size_t)t * dk, v + (size_t)t * dv, g[t],
                 beta[t], o3 + (size_t)t * dv);
    }
    gptc_deltanet_chunk(S2, dk, dv, T, q, k, (size_t)dk, v, (size_t)dv, g, beta, 1, o2, (size_t)dv,
                        scratch);
    double d_step = 0, d_chunk = 0, ds_step = 0, ds_chunk = 0, mag = 0;
    for (size_t i = 0; i < nv; i++) {
        d_step = fmax(d_step, fabs(o1[i] - o3[i]));
        d_chunk = fmax(d_chunk, fabs(o2[i] - o3[i]));
        mag = fmax(mag, fabs(o3[i]));
    }
    for (size_t i = 0; i < ns; i++) {
        ds_step = fmax(ds_step, fabs(S1[i] - S3[i]));
        ds_chunk = fmax(ds_chunk, fabs(S2[i] - S3[i]));
    }
    double tol = 2e-5 * fmax(1.0, mag);
    CHECK(d_step < tol && ds_step < tol,
          "deltanet step dk %d dv %d T %d: |o - f64| %.2e, |S - f64| %.2e", dk, dv, T, d_step,
          ds_step);
    CHECK(d_chunk < tol && ds_chunk < tol,
          "deltanet chunk dk %d dv %d T %d g*%.1f: |o - f64| %.2e, |S - f64| %.2e", dk, dv, T,
          (double)gscale, d_chunk, ds_chunk);
    free(q), free(k), free(v), free(g), free(beta), free(S1), free(S2), free(o1), free(o2);
    free(S3), free(o3), free(scratch);
}

/* The convolution against a direct sum, whole and in pieces that carry the window */
static void check_conv(void)
{
    enum { T = 11, C = 7, K = 4 };
    float x[T * C], w[C * K], st0[(K - 1) * C], st[(K - 1) * C], out[T * C], out2[T * C];
    for (int i = 0; i < T * C; i++)
        x[i] = nrand();
    for (int i = 0; i < C * K; i++)
        w[i] = nrand();
    for (int i = 0; i < (K - 1) * C; i++)
        st0[i] = nrand();
    memcpy(st, st0, sizeof st);
    gptc_ssm_conv(out, C, x, C, st, w, T, C, K, 0, C);
    double d = 0, dst = 0;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int j = 0; j < K; j++) {
                int r = t - (K - 1) + j; /* row of x, or of the start window when < 0 */
                s += (double)w[c * K + j] * (r >= 0 ? x[r * C + c] : st0[(r + K - 1) * C + c]);
            }
            d = fmax(d, fabs(s - out[t * C + c]));
        }
    for (int j = 0; j < K - 1; j++)
        for (int c = 0; c < C; c++)
            dst = fmax(dst, fabs(st[j * C + c] - x[(T - (K - 1) + j) * C + c]));
    CHECK(d < 1e-5 && dst == 0, "conv: |out - direct| %.2e, window %.2e", d, dst);
    /* in pieces of 1, 2, 5, 3 tokens, channels split in two calls */
    memcpy(st, st0, sizeof st);
    int pieces[] = {1, 2, 5, 3}, t0 = 0;
    for (int p = 0; p < 4; p++) {
        gptc_ssm_conv(out2 + t0 * C, C, x + t0 * C, C, st, w, pieces[p], C, K, 0, 3);
        gptc_ssm_conv(out2 + t0 * C, C, x + t0 * C, C, st, w, pieces[p], C, K, 3, C);
        t0 += pieces[p];
    }
    CHECK(memcmp(out, out2, sizeof out) == 0, "conv in pieces equals conv whole");
}

/* ----- the models' recurrent state ------------------------------------------------------- */

#define NP 40
#define V 512

static int32_t stream(int i) /* a fixed token stream */
{
    return (int32_t)((i * 37 + 11) % 500);
}

typedef struct mrun {
    gptc_model *m;
    gptc_ctx *c;
} mrun;

static int mopen(const char *name, int n_seq, int n_threads, mrun *r)
{
    char path[512];
    gptc_err err;
    snprintf(path, sizeof path, "%s/gguf/arch/%s.gguf", test_data_dir(), name);
    memset(r, 0, sizeof *r);
    if (gptc_model_load(path, NULL, &r->m, &err)) {
        CHECK(0, "%s: load: %s", name, err.msg);
        return 0;
    }
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 256;
    cp.n_seq_max = n_seq;
    cp.n_threads = n_threads;
    cp.type_k = cp.type_v = 0;
    if (gptc_ctx_init(r->m, &cp, &r->c, &err)) {
        CHECK(0, "%s: ctx: %s", name, err.msg);
        gptc_model_free(r->m);
        return 0;
    }
    return 1;
}

static void mclose(mrun *r)
{
    gptc_ctx_free(r->c);
    gptc_model_free(r->m);
}

/* Decode stream tokens [p0, p1) (token offset `off` into the stream) into seq in pieces of at
 * most `piece`; the last token's logits into out (V). */
static int feed(mrun *r, int seq, int off, int p0, int p1, int piece, float *out)
{
    int32_t tok[NP], pos[NP], sid[NP];
    gptc_err err;
    for (int p = p0; p < p1; p += piece) {
        int n = piece < p1 - p ? piece : p1 - p;
        for (int i = 0; i < n; i++) {
            tok[i] = stream(off + p + i);
            pos[i] = p + i;
            sid[i] = seq;
        }
        gptc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = sid};
        if (gptc_decode(r->c, &b, &err)) {
            CHECK(0, "decode seq %d at %d: %s", seq, p, err.msg);
            return 0;
        }
        if (p + n == p1 && out) memcpy(out, gptc_get_logits(r->c, n - 1), V * sizeof *out);
    }
    return 1;
}

static double maxdiff(const float *a, const float *b)
{
    double d = 0;
    for (int i = 0; i < V; i++)
        d = fmax(d, fabs(a[i] - b[i]));
    return d;
}

static void check_state(const char *name)
{
    mrun r;
    float ref[V], got[V], got2[V];
    /* one batch (chunk-parallel delta rule) vs one token at a time (per-token recurrence) */
    if (!mopen(name, 2, 2, &r)) return;
    CHECK(gptc_model_recurrent(r.m) && gptc_state_bytes(r.m) > 0, "%s: recurrent", name);
    feed(&r, 0, 0, 0, NP, NP, ref);
    gptc_kv_clear(r.c);
    feed(&r, 0, 0, 0, NP, 1, got);
    CHECK(maxdiff(ref, got) < 1e-4, "%s: one batch vs token by token: %.2e", name,
          maxdiff(ref, got));
    printf("# %-24s one batch (chunked) vs token by token: max |d| %.2e\n", name,
           maxdiff(ref, got));
    /* the same batch with the per-token delta rule (c->scalar_ref): only the rule differs */
    gptc_kv_clear(r.c);
    r.c->scalar_ref = 1;
    feed(&r, 0, 0, 0, NP, NP, got);
    r.c->scalar_ref = 0;
    CHECK(maxdiff(ref, got) < 1e-4 && maxdiff(ref, got) > 0,
          "%s: chunk-parallel vs per-token rule in one batch: %.2e", name, maxdiff(ref, got));
    printf("# %-24s one batch, chunk-parallel vs per-token delta rule: max |d| %.2e\n", name,
           maxdiff(ref, got));
    gptc_kv_clear(r.c);
    int pieces[] = {3, 17, 1, 19}, p = 0;
    for (int i = 0; i < 4; i++, p += pieces[i - 1])
        feed(&r, 0, 0, p, p + pieces[i], pieces[i], got);
    CHECK(maxdiff(ref, got) < 1e-4, "%s: in pieces 3+17+1+19 vs one batch: %.2e", name,
          maxdiff(ref, got));

    /* two sequences interleaved in one batch equal each alone */
    gptc_kv_clear(r.c);
    float solo1[V];
    feed(&r, 1, 100, 0, 24, 24, solo1);
    gptc_kv_clear(r.c);
    {
        int32_t tok[64], pos[64], sid[64];
        int8_t lg[64] = {0};
        int n = 0;
        for (int i = 0; i < NP; i++) { /* seq 0: 40 tokens, seq 1: 24, alternating */
            tok[n] = stream(i), pos[n] = i, sid[n] = 0, n++;
            if (i < 24) tok[n] = stream(100 + i), pos[n] = i, sid[n] = 1, n++;
        }
        int last0 = -1, last1 = -1;
        for (int i = 0; i < n; i++) {
            if (sid[i] == 0)
                last0 = i;
            else
                last1 = i;
        }
        lg[last0] = lg[last1] = 1;
        gptc_batch b = {.n_tokens = n, .token = tok, .pos = pos, .seq_id = sid, .logits = lg};
        gptc_err err;
        CHECK(gptc_decode(r.c, &b, &err) == GPTC_OK, "%s: interleaved batch: %s", name, err.msg);
        const float *l0 = gptc_get_logits(r.c, last0);
        const float *l1 = gptc_get_logits(r.c, last1);
        CHECK(l0 && maxdiff(ref, l0) < 1e-4, "%s: interleaved seq 0 vs alone: %.2e", name,
              l0 ? maxdiff(ref, l0) : -1.0);
        CHECK(l1 && maxdiff(solo1, l1) < 1e-4, "%s: interleaved seq 1 vs alone: %.2e", name,
              l1 ? maxdiff(solo1, l1) : -1.0);
    }

    /* fork: prefix 20 into seq 0, copy to seq 1, both continue differently */
    gptc_kv_clear(r.c);
    feed(&r, 0, 0, 0, 20, 20, NULL);
    CHECK(gptc_kv_seq_cp(r.c, 0, 1, 0, -1) == GPTC_OK, "%s: seq_cp", name);
    feed(&r, 0, 0, 20, NP, 20, got);
    feed(&r, 1, 0, 20, 30, 10, got2); /* seq 1 continues the same stream to 30 */
    CHECK(maxdiff(ref, got) < 1e-4, "%s: seq 0 after the fork: %.2e", name, maxdiff(ref, got));
    float ref30[V];
    {
        mrun r2;
        if (mopen(name, 1, 1, &r2)) {
            feed(&r2, 0, 0, 0, 30, 30, ref30);
            CHECK(maxdiff(ref30, got2) < 1e-4, "%s: forked seq 1 vs cold: %.2e", name,
                  maxdiff(ref30, got2));
            /* 1 thread vs 2 */
            feed(&r2, 0, 0, 30, NP, 10, got);
            CHECK(maxdiff(ref, got) < 1e-4, "%s: 1 thread vs 2: %.2e", name, maxdiff(ref, got));
            mclose(&r2);
        }
    }

    /* checkpoint at 30, go on to 40, cut back to 30 and continue differently: as cold */
    gptc_kv_clear(r.c);
    feed(&r, 0, 0, 0, 30, 30, NULL);
    CHECK(gptc_kv_seq_checkpoint(r.c, 0) == GPTC_OK, "%s: checkpoint", name);
    feed(&r, 0, 0, 30, NP, 10, got);
    CHECK(gptc_kv_seq_cut(r.c, 0, 35) == 30, "%s: cut at 35 -> %d", name,
          gptc_kv_seq_cut(r.c, 0, 35));
    CHECK(gptc_kv_seq_rm(r.c, 0, 35, -1) == GPTC_E_UNSUPPORTED, "%s: cut without checkpoint", name);
    CHECK(gptc_kv_seq_pos_max(r.c, 0) == NP - 1, "%s: a refused cut changes nothing", name);
    CHECK(gptc_kv_seq_rm(r.c, 0, 30, -1) == GPTC_OK, "%s: cut at the checkpoint", name);
    feed(&r, 0, 500, 30, 36, 6, got); /* other tokens from 30 on */
    {
        mrun r2;
        if (mopen(name, 1, 2, &r2)) {
            feed(&r2, 0, 0, 0, 30, 30, NULL);
            feed(&r2, 0, 500, 30, 36, 6, got2);
            CHECK(maxdiff(got, got2) < 1e-4, "%s: restored checkpoint vs cold: %.2e", name,
                  maxdiff(got, got2));
            mclose(&r2);
        }
    }
    mclose(&r);
}

/* Q8_0 copies made by gptc quantize against scripts/qwen35_ref.py run on the same quantized
 * weights with Q8_0 activations (tests/fixtures/qwen35_q8_ref.tsv): the first logits after the
 * prompt within 0.3, and the greedy ids until the first step whose margin is under 0.4. Most
 * prompts agree within 1e-3, but these random models amplify an activation's Q8_0 code flipping
 * between two roundings of nearly the same value: on the dense copy, a prompt decoded in one
 * batch (chunk-parallel delta rule, batched products) and the same prompt token by token differ
 * by 0.3 in gptc itself, and F32 against float64 flips codes the same way. */
static void check_q8(const char *dir)
{
    char *fx = test_read_file("tests/fixtures/qwen35_q8_ref.tsv", NULL);
    CHECK(fx != NULL, "tests/fixtures/qwen35_q8_ref.tsv readable");
    if (!fx) return;
    const char *names[] = {"rand-qwen35-d128-F32", "rand-qwen35moe-d128-F32"};
    for (int k = 0; k < 2; k++) {
        char in[512], out[600];
        gptc_err err;
        snprintf(in, sizeof in, "%s/gguf/arch/%s.gguf", test_data_dir(), names[k]);
        snprintf(out, sizeof out, "%s/%s.q8_0.gguf", dir, names[k]);
        gptc_quantize_params qp = {.n_threads = 1};
        if (gptc_quantize_model(in, NULL, out, "q8_0", &qp, NULL, &err)) {
            CHECK(0, "%s: quantize q8_0: %s", names[k], err.msg);
            continue;
        }
        int lines = 0;
        char *save = NULL, *copy = strdup(fx);
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *f[5], *sp = line;
            int nf = 0;
            while (nf < 5 && sp) {
                f[nf++] = sp;
                sp = strchr(sp, '\t');
                if (sp) *sp++ = 0;
            }
            if (nf != 5 || strncmp(f[0], names[k], strlen(names[k])) != 0 ||
                strcmp(f[0] + strlen(names[k]), ".q8_0.gguf") != 0)
                continue;
            int32_t prompt[64], want[16];
            float lg16[16], gap[16];
            int np = 0, nw = 0;
            char *e;
            for (char *q = f[1]; np < 64; q = e) {
                long v = strtol(q, &e, 10);
                if (e == q) break;
                prompt[np++] = (int32_t)v;
            }
            for (char *q = f[2]; nw < 16; q = e) {
                long v = strtol(q, &e, 10);
                if (e == q) break;
                want[nw++] = (int32_t)v;
            }
            e = f[3];
            for (int i = 0; i < 16; i++)
                lg16[i] = strtof(e, &e);
            e = f[4];
            for (int i = 0; i < nw; i++)
                gap[i] = strtof(e, &e);
            double tol = 0.3;
            mrun r;
            gptc_model *m;
            if (gptc_model_load(out, NULL, &m, &err)) {
                CHECK(0, "%s: load: %s", out, err.msg);
                break;
            }
            gptc_ctx_params cp = gptc_ctx_default_params();
            cp.n_ctx = 128;
            cp.type_k = cp.type_v = 0;
            if (gptc_ctx_init(m, &cp, &r.c, &err)) {
                CHECK(0, "ctx: %s", err.msg);
                gptc_model_free(m);
                break;
            }
            r.m = m;
            int32_t pos[64], tok;
            for (int i = 0; i < np; i++)
                pos[i] = i;
            gptc_batch b = {.n_tokens = np, .token = prompt, .pos = pos};
            CHECK(gptc_decode(r.c, &b, &err) == GPTC_OK, "decode: %s", err.msg);
            const float *lg = gptc_get_logits(r.c, np - 1);
            double d = 0;
            for (int i = 0; i < 16; i++)
                d = fmax(d, fabs(lg[i] - lg16[i]));
            int same = 0, close = 0;
            int32_t p = np;
            for (int st = 0; st < nw; st++) {
                int best = 0;
                for (int i = 1; i < V; i++)
                    if (lg[i] > lg[best]) best = i;
                if (best != want[st]) {
                    close = gap[st] < 0.4f;
                    CHECK(close, "%s, prompt of %d: step %d: id %d, reference %d (margin %.3f)",
                          f[0], np, st, best, want[st], (double)gap[st]);
                    break;
                }
                same++;
                tok = best;
                gptc_batch bs = {.n_tokens = 1, .token = &tok, .pos = &p};
                if (gptc_decode(r.c, &bs, &err)) break;
                p++;
                lg = gptc_get_logits(r.c, 0);
            }
            CHECK(d < tol, "%s, prompt of %d: first logits within %.2f of the reference: %.3f",
                  f[0], np, tol, d);
            printf("# q8_0  %-34s prompt %2d: logits max |d| %.4f, greedy %d/%d%s\n", f[0], np, d,
                   same, nw, close ? " (then a close step)" : "");
            mclose(&r);
            lines++;
        }
        free(copy);
        CHECK(lines == 4, "%s: %d q8_0 fixture prompts", names[k], lines);
        unlink(out);
    }
    free(fx);
}

int main(void)
{
    check_conv();
    static const int shapes[][3] = {{32, 32, 1},   {32, 32, 5},   {32, 32, 64},  {32, 32, 65},
                                    {16, 24, 130}, {64, 32, 200}, {128, 128, 70}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_deltanet(shapes[i][0], shapes[i][1], shapes[i][2], 1.0f);
    check_deltanet(32, 32, 150, 0.05f); /* slow decay: the state grows over the chunk */
    check_deltanet(32, 32, 100, 30.0f); /* fast decay: e^{b_t} underflows within the chunk */
    char probe[512];
    snprintf(probe, sizeof probe, "%s/gguf/arch/rand-qwen35-d128-F32.gguf", test_data_dir());
    if (access(probe, R_OK) != 0) {
        printf("  (model checks skipped: %s not found)\n", probe);
        return test_summary();
    }
    check_state("rand-qwen35-d128-F32");
    check_state("rand-qwen35moe-d128-F32");
    char dir[] = "/tmp/gptc_test_qwen35_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    check_q8(dir);
    rmdir(dir);
    return test_summary();
}
