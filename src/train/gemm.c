/*
 * gemm.c — the packed-panel driver of gemm.h, the scalar reference product, the portable
 * micro-kernel, and the choice of kernel by CPU.
 *
 * Loop nest for one thread's block of C, rows [m0, m1) x columns [n0, n1):
 *
 *   for jc in columns, step NC:              B panel (KC x NC) packed once, stays in L2/L3
 *     for pc in 0..K, step KC:
 *       pack B[pc.., jc..]
 *       for ic in rows, step MC:             A block (MC x KC) packed, stays in L2
 *         pack A[ic.., pc..]
 *         for jr in panel, step NR:          B micro-panel (KC x NR) stays in L1
 *           for ir in block, step MR:        micro-kernel: MR x NR accumulators in registers
 *
 * Packed layouts: A block as MR-row micro-panels, each k-major (MR values per k); B panel as
 * NR-column micro-panels, each k-major (NR values per k). Edges are zero-padded, so the kernel
 * always computes a full tile and stores only its valid part: the same arithmetic as a full one.
 */
#include "train/gemm.h"

#include <stdlib.h>
#include <string.h>

/* ----- reference ------------------------------------------------------------------------------ */

void gptc_gemm_ref(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                   int ldb, int acc, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            float *c = C + (size_t)i * ldc + j;
            *c = acc ? *c + s : s;
        }
    }
}

/* ----- portable micro-kernel ------------------------------------------------------------------ */

#define REF_MR 4
#define REF_NR 8

static void ukernel_ref(int k, const float *Ap, const float *Bp, float *C, int ldc, int acc, int mr,
                        int nr)
{
    float c[REF_MR][REF_NR] = {{0}};
    for (int p = 0; p < k; p++) {
        const float *a = Ap + (size_t)p * REF_MR, *b = Bp + (size_t)p * REF_NR;
        for (int r = 0; r < REF_MR; r++)
            for (int j = 0; j < REF_NR; j++)
                c[r][j] += a[r] * b[j];
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) {
            float *y = C + (size_t)r * ldc + j;
            *y = acc ? *y + c[r][j] : c[r][j];
        }
}

static const gptc_gemm_kernel kernel_ref = {
    .name = "ref",
    .mr = REF_MR,
    .nr = REF_NR,
    .mc = 64,
    .kc = 256,
    .nc = 1024,
    .fn = ukernel_ref,
};

/* ----- kernel choice -------------------------------------------------------------------------- */

extern const gptc_gemm_kernel gptc_gemm_kernel_avx2_table;   /* gemm_avx2.c */
extern const gptc_gemm_kernel gptc_gemm_kernel_avx512_table; /* gemm_avx512.c */

const gptc_gemm_kernel *gptc_gemm_kernel_ref(void)
{
    return &kernel_ref;
}

const gptc_gemm_kernel *gptc_gemm_kernel_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               ? &gptc_gemm_kernel_avx2_table
               : NULL;
}

const gptc_gemm_kernel *gptc_gemm_kernel_avx512(void)
{
    __builtin_cpu_init();
    return gptc_gemm_kernel_avx2() && __builtin_cpu_supports("avx512f")
               ? &gptc_gemm_kernel_avx512_table
               : NULL;
}

const gptc_gemm_kernel *gptc_gemm_kernel_get(void)
{
    const char *isa = getenv("GPTC_ISA");
    const gptc_gemm_kernel *k = NULL;
    if (isa && strcmp(isa, "ref") == 0) return &kernel_ref;
    if (isa && strcmp(isa, "avx2") == 0) k = gptc_gemm_kernel_avx2();
    if (!k) k = gptc_gemm_kernel_avx512();
    if (!k) k = gptc_gemm_kernel_avx2();
    return k ? k : &kernel_ref;
}

/* ----- packing -------------------------------------------------------------------------------- */

/* A block rows [i0, i0+mc) x k [p0, p0+kc) into MR-row micro-panels, zero-padded. */
static void pack_a(const gptc_gemm_kernel *kr, int ta, const float *A, int lda, int i0, int mc,
                   int p0, int kc, float *Ap)
{
    const int MR = kr->mr;
    for (int ir = 0; ir < mc; ir += MR) {
        float *dst = Ap + (size_t)ir * kc; /* (kc, MR) */
        int mr = GPTC_MIN(MR, mc - ir);
        if (!ta && kr->pack_at) {
            kr->pack_at(A + (size_t)(i0 + ir) * lda + p0, lda, kc, mr, dst);
        } else if (ta && mr == MR && kr->pack_an) {
            kr->pack_an(A + (size_t)p0 * lda + i0 + ir, lda, kc, dst);
        } else if (ta) { /* A stored (K, M): MR contiguous values per k */
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(p0 + k) * lda + i0 + ir;
                float *d = dst + (size_t)k * MR;
                int r = 0;
                for (; r < mr; r++)
                    d[r] = src[r];
                for (; r < MR; r++)
                    d[r] = 0.0f;
            }
        } else { /* A stored (M, K): each row contiguous along k */
            for (int r = 0; r < MR; r++) {
                if (r < mr) {
                    const float *src = A + (size_t)(i0 + ir + r) * lda + p0;
                    for (int k = 0; k < kc; k++)
                        dst[(size_t)k * MR + r] = src[k];
                } else {
                    for (int k = 0; k < kc; k++)
                        dst[(size_t)k * MR + r] = 0.0f;
                }
            }
        }
    }
}

/* B panel k [p0, p0+kc) x columns [j0, j0+nc) into NR-column micro-panels, zero-padded. */
static void pack_b(const gptc_gemm_kernel *kr, int tb, const float *B, int ldb, int p0, int kc,
                   int j0, int nc, float *Bp)
{
    const int NR = kr->nr;
    for (int jr = 0; jr < nc; jr += NR) {
        float *dst = Bp + (size_t)jr * kc; /* (kc, NR) */
        int nr = GPTC_MIN(NR, nc - jr);
        if (tb && kr->pack_bt) {
            kr->pack_bt(B + (size_t)(j0 + jr) * ldb + p0, ldb, kc, nr, dst);
        } else if (!tb && nr == NR && kr->pack_bn) {
            kr->pack_bn(B + (size_t)p0 * ldb + j0 + jr, ldb, kc, dst);
        } else if (!tb) { /* B stored (K, N): NR contiguous values per k */
            for (int k = 0; k < kc; k++) {
                const float *src = B + (size_t)(p0 + k) * ldb + j0 + jr;
                float *d = dst + (size_t)k * NR;
                int j = 0;
                for (; j < nr; j++)
                    d[j] = src[j];
                for (; j < NR; j++)
                    d[j] = 0.0f;
            }
        } else { /* B stored (N, K): each column of op(B) is a contiguous row of B */
            for (int j = 0; j < NR; j++) {
                if (j < nr) {
                    const float *src = B + (size_t)(j0 + jr + j) * ldb + p0;
                    for (int k = 0; k < kc; k++)
                        dst[(size_t)k * NR + j] = src[k];
                } else {
                    for (int k = 0; k < kc; k++)
                        dst[(size_t)k * NR + j] = 0.0f;
                }
            }
        }
    }
}

/* ----- driver --------------------------------------------------------------------------------- */

/* One product's operands and shape. */
typedef struct gemm_call {
    int ta, tb, M, N, K, lda, ldb, ldc, acc;
    const float *A, *B;
    float *C;
} gemm_call;

struct gptc_gemm {
    const gptc_gemm_kernel *k; /* borrowed: static table */
    int n_threads;
    float **a_buf; /* (n_threads) each (MC rounded up to MR, KC), owned */
    float **b_buf; /* (n_threads) each (KC, NC rounded up to NR), owned */

    gemm_call call; /* the current gptc_gemm_run, read by the pool job */
    int split_n;    /* 1: threads take column ranges; 0: row ranges */
};

static void *alloc_aligned(size_t n_floats)
{
    size_t bytes = (n_floats * sizeof(float) + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

gptc_status gptc_gemm_init(const gptc_gemm_kernel *kernel, int n_threads, gptc_gemm **out,
                           gptc_err *err)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return gptc_fail(err, GPTC_E_INVALID, "gemm: %d threads", n_threads);
    gptc_gemm *g = calloc(1, sizeof *g);
    if (!g) return gptc_fail(err, GPTC_E_NOMEM, "gemm: out of memory");
    g->k = kernel ? kernel : gptc_gemm_kernel_get();
    g->n_threads = n_threads;
    g->a_buf = calloc((size_t)n_threads, sizeof *g->a_buf);
    g->b_buf = calloc((size_t)n_threads, sizeof *g->b_buf);
    int fail = !g->a_buf || !g->b_buf;
    const gptc_gemm_kernel *k = g->k;
    size_t mc = (size_t)(k->mc + k->mr - 1) / k->mr * k->mr;
    size_t nc = (size_t)(k->nc + k->nr - 1) / k->nr * k->nr;
    for (int t = 0; !fail && t < n_threads; t++) {
        g->a_buf[t] = alloc_aligned(mc * k->kc);
        g->b_buf[t] = alloc_aligned(nc * k->kc);
        fail = !g->a_buf[t] || !g->b_buf[t];
    }
    if (fail) {
        gptc_gemm_free(g);
        return gptc_fail(err, GPTC_E_NOMEM, "gemm: out of memory");
    }
    *out = g;
    return GPTC_OK;
}

void gptc_gemm_free(gptc_gemm *g)
{
    if (!g) return;
    for (int t = 0; t < g->n_threads; t++) {
        if (g->a_buf) free(g->a_buf[t]);
        if (g->b_buf) free(g->b_buf[t]);
    }
    free(g->a_buf);
    free(g->b_buf);
    free(g);
}

const gptc_gemm_kernel *gptc_gemm_get_kernel(const gptc_gemm *g)
{
    return g->k;
}

/* One thread's block of C: rows [m0, m1) x columns [n0, n1), with thread slot ith's buffers. */
static void gemm_block(const gptc_gemm *g, int ith, const gemm_call *c, int m0, int m1, int n0,
                       int n1)
{
    const gptc_gemm_kernel *kr = g->k;
    const int MR = kr->mr, NR = kr->nr, K = c->K;
    float *Ap = g->a_buf[ith], *Bp = g->b_buf[ith];
    if (m0 >= m1 || n0 >= n1) return;
    if (K == 0) {
        if (!c->acc)
            for (int i = m0; i < m1; i++)
                memset(c->C + (size_t)i * c->ldc + n0, 0, (size_t)(n1 - n0) * sizeof(float));
        return;
    }
    for (int jc = n0; jc < n1; jc += kr->nc) {
        int nc = GPTC_MIN(kr->nc, n1 - jc);
        for (int pc = 0; pc < K; pc += kr->kc) {
            int kc = GPTC_MIN(kr->kc, K - pc);
            int acc = c->acc || pc > 0;
            pack_b(kr, c->tb, c->B, c->ldb, pc, kc, jc, nc, Bp);
            for (int ic = m0; ic < m1; ic += kr->mc) {
                int mc = GPTC_MIN(kr->mc, m1 - ic);
                pack_a(kr, c->ta, c->A, c->lda, ic, mc, pc, kc, Ap);
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = GPTC_MIN(NR, nc - jr);
                    const float *bp = Bp + (size_t)jr * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = GPTC_MIN(MR, mc - ir);
                        const float *ap = Ap + (size_t)ir * kc;
                        float *cp = c->C + (size_t)(ic + ir) * c->ldc + jc + jr;
                        kr->fn(kc, ap, bp, cp, c->ldc, acc, mr, nr);
                    }
                }
            }
        }
    }
}

static void gemm_job(void *arg, int ith, int nth)
{
    gptc_gemm *g = arg;
    const gemm_call *c = &g->call;
    int unit = g->split_n ? g->k->nr : g->k->mr;
    int n = g->split_n ? c->N : c->M;
    int u0, u1;
    gptc_split((n + unit - 1) / unit, ith, nth, &u0, &u1);
    int a = GPTC_MIN(n, u0 * unit), b = GPTC_MIN(n, u1 * unit);
    if (g->split_n)
        gemm_block(g, ith, c, 0, c->M, a, b);
    else
        gemm_block(g, ith, c, a, b, 0, c->N);
}

void gptc_gemm_local(gptc_gemm *g, int ith, int ta, int tb, int M, int N, int K, const float *A,
                     int lda, const float *B, int ldb, int acc, float *C, int ldc)
{
    GPTC_ASSERT(ith >= 0 && ith < g->n_threads);
    gemm_call c = {.ta = ta,
                   .tb = tb,
                   .M = M,
                   .N = N,
                   .K = K,
                   .lda = lda,
                   .ldb = ldb,
                   .ldc = ldc,
                   .acc = acc,
                   .A = A,
                   .B = B,
                   .C = C};
    if (M > 0 && N > 0) gemm_block(g, ith, &c, 0, M, 0, N);
}

void gptc_gemm_run(gptc_gemm *g, gptc_pool *pool, int ta, int tb, int M, int N, int K,
                   const float *A, int lda, const float *B, int ldb, int acc, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    g->call = (gemm_call){.ta = ta,
                          .tb = tb,
                          .M = M,
                          .N = N,
                          .K = K,
                          .lda = lda,
                          .ldb = ldb,
                          .ldc = ldc,
                          .acc = acc,
                          .A = A,
                          .B = B,
                          .C = C};
    int nth = pool ? gptc_pool_size(pool) : 1;
    GPTC_ASSERT(nth <= g->n_threads);
    /* Columns split best (each thread packs only its part of B); rows when there are too few
     * column tiles to go round. */
    int tiles_n = (N + g->k->nr - 1) / g->k->nr, tiles_m = (M + g->k->mr - 1) / g->k->mr;
    g->split_n = tiles_n >= 4 * nth || tiles_n >= tiles_m;
    if (nth == 1)
        gemm_job(g, 0, 1);
    else
        gptc_pool_run(pool, gemm_job, g);
}
