/*
 * dispatch.c — picks the ops table for this CPU, once.
 *
 * Every table but "ref" lives in a file compiled with ISA flags (ops_avx2.c, ops_avx512.c);
 * nothing from those files may run before the checks here pass. __builtin_cpu_supports also
 * checks that the OS saves the wider registers (XGETBV), so a feature bit alone is not trusted.
 *
 * The avx512 table's quantized kernels (src/quant/qmm_avx512.c) also need AVX512_VNNI; on an
 * AVX-512 CPU without it (Skylake-X), the avx512 table is a copy whose quantized entries are
 * the avx2 ones.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"

extern const gptc_ops gptc_ops_avx2_table;   // ops_avx2.c
extern const gptc_ops gptc_ops_avx512_table; // ops_avx512.c

static int cpu_has_avx2(void)
{
    __builtin_cpu_init();
    // F16C is not among the names older compilers know; every CPU with AVX2 + FMA has it
    // (Haswell, Zen and later), and AVX2 implies the OS saves ymm state.
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int cpu_has_avx512(void)
{
    __builtin_cpu_init();
    // The kernels use F, BW (masked 16-bit loads), VL and DQ; BF16 is widened by shifting, so
    // AVX512_BF16 is not required.
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}

const gptc_ops *gptc_ops_avx2(void)
{
    return cpu_has_avx2() ? &gptc_ops_avx2_table : NULL;
}

static pthread_once_t novnni_once = PTHREAD_ONCE_INIT;
static gptc_ops avx512_novnni; // written once under novnni_once, read-only after

static void build_novnni(void)
{
    avx512_novnni = gptc_ops_avx512_table;
    avx512_novnni.act_form = gptc_ops_avx2_table.act_form;
    avx512_novnni.act_row_bytes = gptc_ops_avx2_table.act_row_bytes;
    avx512_novnni.act_quant = gptc_ops_avx2_table.act_quant;
    avx512_novnni.matmul_q = gptc_ops_avx2_table.matmul_q;
    avx512_novnni.pack = gptc_ops_avx2_table.pack;
    avx512_novnni.matmul_qp = gptc_ops_avx2_table.matmul_qp;
}

const gptc_ops *gptc_ops_avx512(void)
{
    if (!cpu_has_avx512()) return NULL;
    if (__builtin_cpu_supports("avx512vnni")) return &gptc_ops_avx512_table;
    pthread_once(&novnni_once, build_novnni);
    return &avx512_novnni;
}

static const gptc_ops *best_table(void)
{
    const gptc_ops *o = gptc_ops_avx512();
    if (!o) o = gptc_ops_avx2();
    if (!o) o = gptc_ops_ref();
    return o;
}

static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;
static const gptc_ops *chosen; // written once under chosen_once, read-only after

static void choose(void)
{
    const char *isa = getenv("GPTC_ISA");
    const gptc_ops *o = NULL;
    if (isa && strcmp(isa, "ref") == 0)
        o = gptc_ops_ref();
    else if (isa && strcmp(isa, "avx2") == 0)
        o = gptc_ops_avx2();
    else if (isa && strcmp(isa, "avx512") == 0)
        o = gptc_ops_avx512();
    chosen = o ? o : best_table(); // unknown name or unsupported ISA: the best this CPU has
}

const gptc_ops *gptc_ops_get(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}
