/*
 * gemm_avx2.c — the AVX2 + FMA micro-kernel of gemm.h. Compiled with the AVX2 flags of the
 * Makefile; gemm.c hands it out only after checking the CPU.
 *
 * Tile MR x NR = 6 x 16: 12 ymm accumulators, 2 ymm of B per k, one broadcast register; 15 of
 * the 16 ymm registers. Each accumulator sums its element in k order, one FMA per k.
 */
#include <immintrin.h>

#include "gemm.h"

#define MR 6
#define NV 2 /* ymm vectors per row of the tile */
#define NR (8 * NV)

static void ukernel_avx2(int k, const float *Ap, const float *Bp, float *C, int ldc, int acc)
{
    __m256 c[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) c[r][v] = _mm256_setzero_ps();

    for (int p = 0; p < k; p++) {
        const float *a = Ap + (size_t)p * MR; /* (MR) */
        const float *b = Bp + (size_t)p * NR; /* (NR) */
        __m256 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) c[r][v] = _mm256_fmadd_ps(av, bv[v], c[r][v]);
        }
    }

#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        float *y = C + (size_t)r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __m256 s = c[r][v];
            if (acc) s = _mm256_add_ps(_mm256_loadu_ps(y + 8 * v), s);
            _mm256_storeu_ps(y + 8 * v, s);
        }
    }
}

const gptc_gemm_kernel gptc_gemm_kernel_avx2_table = {
    .name = "avx2", .mr = MR, .nr = NR, .mc = 120, .kc = 256, .nc = 1536, .fn = ukernel_avx2,
};
