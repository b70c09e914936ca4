/*
 * membw.c — memory read bandwidth the way decode reads (membw.h).
 */
#include "core/membw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MEMBW_X86 1
#endif

#include "core/ops.h"
#include "core/threads.h"
#include "quant/quant.h"

enum { COLS = 4096, PF_AHEAD = 2048 /* bytes ahead a prefetching stream asks for */ };

static const char *const k_names[GPTC_MEMBW_N] = {"stream", "f32 matvec", "q8_0 matvec",
                                                  "q4_K matvec"};

const char *gptc_membw_reader_name(int reader)
{
    return reader >= 0 && reader < GPTC_MEMBW_N ? k_names[reader] : "?";
}

typedef struct membw_job {
    const uint8_t *buf;
    size_t bytes;
    int isa; /* 2: AVX-512, 1: AVX2, 0: scalar */
    /* matvec readers */
    const gptc_ops *ops;
    uint32_t wtype;
    int rows;
    const void *xq; /* the activation row: f32 for the f32 reader, else matmul_q's form */
    float *y;
    uint64_t sink[1024]; /* one per thread, so the loads cannot be optimised away */
} membw_job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ----- stream reader ------------------------------------------------------------------------ */

#ifdef MEMBW_X86
__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint8_t *p, size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0;
    size_t i = 0;
    for (; i + 512 <= n; i += 512) {
        _mm_prefetch((const char *)(p + i + PF_AHEAD), _MM_HINT_T1);
        _mm_prefetch((const char *)(p + i + PF_AHEAD + 256), _MM_HINT_T1);
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(p + i + 64)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(p + i + 128)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(p + i + 192)));
        a4 = _mm512_add_epi64(a4, _mm512_load_si512((const void *)(p + i + 256)));
        a5 = _mm512_add_epi64(a5, _mm512_load_si512((const void *)(p + i + 320)));
        a6 = _mm512_add_epi64(a6, _mm512_load_si512((const void *)(p + i + 384)));
        a7 = _mm512_add_epi64(a7, _mm512_load_si512((const void *)(p + i + 448)));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)),
                          _mm512_add_epi64(_mm512_add_epi64(a4, a5), _mm512_add_epi64(a6, a7)));
    uint64_t s = (uint64_t)_mm512_reduce_add_epi64(a0);
    for (; i < n; i += 8)
        s += *(const uint64_t *)(const void *)(p + i);
    return s;
}

__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0;
    size_t i = 0;
    for (; i + 256 <= n; i += 256) {
        _mm_prefetch((const char *)(p + i + PF_AHEAD), _MM_HINT_T1);
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(const void *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(const void *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(const void *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(const void *)(p + i + 96)));
        a4 = _mm256_add_epi64(a4, _mm256_load_si256((const __m256i *)(const void *)(p + i + 128)));
        a5 = _mm256_add_epi64(a5, _mm256_load_si256((const __m256i *)(const void *)(p + i + 160)));
        a6 = _mm256_add_epi64(a6, _mm256_load_si256((const __m256i *)(const void *)(p + i + 192)));
        a7 = _mm256_add_epi64(a7, _mm256_load_si256((const __m256i *)(const void *)(p + i + 224)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)),
                          _mm256_add_epi64(_mm256_add_epi64(a4, a5), _mm256_add_epi64(a6, a7)));
    uint64_t lane[4];
    _mm256_storeu_si256((__m256i *)(void *)lane, a0);
    uint64_t s = lane[0] + lane[1] + lane[2] + lane[3];
    for (; i < n; i += 8)
        s += *(const uint64_t *)(const void *)(p + i);
    return s;
}
#endif

static uint64_t read_scalar(const uint8_t *p, size_t n)
{
    const uint64_t *q = (const uint64_t *)(const void *)p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t m = n / 8, i = 0;
    for (; i + 4 <= m; i += 4)
        s0 += q[i], s1 += q[i + 1], s2 += q[i + 2], s3 += q[i + 3];
    for (; i < m; i++)
        s0 += q[i];
    return s0 + s1 + s2 + s3;
}

static void task_stream(void *arg, int ith, int nth)
{
    membw_job *j = arg;
    size_t pages = j->bytes / 4096, per = (pages + (size_t)nth - 1) / (size_t)nth;
    size_t a = GPTC_MIN(pages, per * (size_t)ith) * 4096,
           b = GPTC_MIN(pages, per * (size_t)(ith + 1)) * 4096;
    uint64_t s;
#ifdef MEMBW_X86
    if (j->isa == 2)
        s = read_avx512(j->buf + a, b - a);
    else if (j->isa == 1)
        s = read_avx2(j->buf + a, b - a);
    else
#endif
        s = read_scalar(j->buf + a, b - a);
    j->sink[ith & 1023] = s;
}

/* ----- matvec readers --------------------------------------------------------------------- */

static void task_matvec(void *arg, int ith, int nth)
{
    membw_job *j = arg;
    int chunks = (j->rows + 15) / 16, c0, c1; /* decode's split: chunks of 16 rows */
    gptc_split(chunks, ith, nth, &c0, &c1);
    int r0 = GPTC_MIN(j->rows, c0 * 16), r1 = GPTC_MIN(j->rows, c1 * 16);
    if (r0 >= r1) return;
    if (j->wtype == GPTC_TYPE_F32)
        j->ops->matmul_f32(j->y, j->rows, (const float *)(const void *)j->buf, (const float *)j->xq,
                           1, COLS, r0, r1);
    else
        j->ops->matmul_q(j->wtype, j->y, j->rows, j->buf, j->xq, 1, COLS, r0, r1);
}

/* Fill buf with copies of one valid row of wtype (COLS random values); rows out. */
static int fill_rows(uint8_t *buf, size_t bytes, uint32_t wtype, float *x)
{
    size_t rb = gptc_row_bytes(wtype, COLS);
    uint8_t row[COLS * 4]; /* the longest row: f32 */
    uint64_t r = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < COLS; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        x[i] = (float)((double)(r >> 11) / 9007199254740992.0 - 0.5);
    }
    if (wtype == GPTC_TYPE_F32)
        memcpy(row, x, sizeof *x * COLS);
    else
        gptc_type_info(wtype)->from_float_ref(x, row, COLS);
    size_t rows = bytes / rb;
    for (size_t i = 0; i < rows; i++)
        memcpy(buf + i * rb, row, rb);
    return (int)GPTC_MIN(rows, (size_t)1 << 30);
}

/* ----- the measurement ---------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

gptc_status gptc_membw_measure(int n_threads, int passes, size_t bytes, gptc_membw *out,
                               gptc_err *err)
{
    memset(out, 0, sizeof *out);
    if (passes < 1 || passes > 1000)
        return gptc_fail(err, GPTC_E_INVALID, "membw: passes %d not in 1..1000", passes);
    if (bytes == 0) bytes = (size_t)1 << 30;
    if (bytes < ((size_t)64 << 20))
        return gptc_fail(err, GPTC_E_INVALID, "membw: a buffer of %zu bytes fits in a cache",
                         bytes);
    bytes &= ~(size_t)4095;
    gptc_pool *pool;
    gptc_status st = gptc_pool_init(n_threads, &pool, err);
    if (st) return st;
    /* PF_AHEAD past the end stays mapped: prefetches there cannot fault (they would not anyway) */
    size_t map_bytes = bytes + 2 * PF_AHEAD;
    void *map = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    membw_job *j = calloc(1, sizeof *j);
    float *x = malloc(sizeof *x * COLS), *y = NULL;
    void *xq = NULL;
    double *t = malloc(sizeof *t * (size_t)passes);
    if (map == MAP_FAILED || !j || !x || !t) {
        st = gptc_fail(err, GPTC_E_NOMEM, "membw: no memory for a %zu MB buffer", bytes >> 20);
        goto done;
    }
#ifdef MADV_NOHUGEPAGE
    madvise(map, map_bytes, MADV_NOHUGEPAGE); /* 4 KiB pages, as a mapped weight file has */
#endif
    const gptc_ops *ops = gptc_ops_get();
    j->buf = map;
    j->bytes = bytes;
    j->ops = ops;
    j->isa = !strcmp(ops->name, "avx512") ? 2 : !strcmp(ops->name, "avx2") ? 1 : 0;
    out->n_threads = gptc_pool_size(pool);
    out->passes = passes;
    out->bytes = bytes;
    double best_med = 0;
    for (int rd = 0; rd < GPTC_MEMBW_N; rd++) {
        gptc_task_fn fn = task_stream;
        size_t read = bytes;
        if (rd == GPTC_MEMBW_STREAM) {
            memset(map, 1, map_bytes); /* fault every page in */
        } else {
            j->wtype = rd == GPTC_MEMBW_F32    ? GPTC_TYPE_F32
                       : rd == GPTC_MEMBW_Q8_0 ? GPTC_TYPE_Q8_0
                                               : GPTC_TYPE_Q4_K;
            j->rows = fill_rows(map, bytes, j->wtype, x);
            read = (size_t)j->rows * gptc_row_bytes(j->wtype, COLS);
            int form = j->wtype == GPTC_TYPE_F32 ? -1 : ops->act_form(j->wtype);
            free(xq), free(y);
            xq = malloc(form < 0 ? sizeof *x * COLS : ops->act_row_bytes(form, COLS));
            y = malloc(sizeof *y * (size_t)j->rows);
            if (!xq || !y) {
                st = gptc_fail(err, GPTC_E_NOMEM, "membw: no memory for the matvec reader");
                goto done;
            }
            if (form < 0)
                memcpy(xq, x, sizeof *x * COLS);
            else
                ops->act_quant(form, xq, x, COLS);
            j->xq = xq;
            j->y = y;
            fn = task_matvec;
        }
        gptc_pool_run(pool, fn, j); /* warm-up: wakes the threads, fills the TLB's page walks */
        for (int p = 0; p < passes; p++) {
            double t0 = now_s();
            gptc_pool_run(pool, fn, j);
            double dt = now_s() - t0;
            t[p] = dt > 0 ? (double)read / dt : 0;
        }
        qsort(t, (size_t)passes, sizeof *t, cmp_double);
        double med = passes % 2 ? t[passes / 2] : 0.5 * (t[passes / 2 - 1] + t[passes / 2]);
        out->reader_best[rd] = t[passes - 1];
        if (t[passes - 1] > out->best || (t[passes - 1] == out->best && med > best_med)) {
            out->best = t[passes - 1];
            out->min = t[0];
            out->median = best_med = med;
            out->reader = rd;
        }
    }
done:
    if (map != MAP_FAILED) munmap(map, map_bytes);
    free(j), free(x), free(y), free(xq), free(t);
    gptc_pool_free(pool);
    return st;
}
