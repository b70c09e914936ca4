/*
 * membw.h — memory read bandwidth measured the way decode reads its weights, for the bound
 * `gptc bench` and bench/ put on decode (tok/s <= bandwidth / bytes a token reads).
 *
 * Decode streams every weight once per token: all threads, each over its own contiguous rows,
 * from 4 KiB pages of a mapped file, far more bytes than the L3 holds. The probe does the same
 * over a buffer of `bytes` (default 1 GiB) of anonymous 4 KiB pages (MADV_NOHUGEPAGE: the page
 * size the mapped weights have), faulted in before timing, with three readers, each run for
 * `passes` passes over the whole buffer (four readers):
 *   stream  a read-only load loop at the widest vector width the CPU has (AVX-512: 8
 *           independent 64-byte loads per iteration into 8 accumulators, with software prefetch
 *           ahead into L2 as the quantized kernels do; AVX2 and scalar otherwise);
 *   f32     the dispatched matmul_f32 kernel itself (core/ops.h) over the buffer as one F32
 *           weight matrix (4096 columns), one token, rows split across threads like decode's;
 *   q8_0, q4_K   the same through matmul_q, the buffer as a Q8_0 / Q4_K matrix.
 * The bound is the best pass of the best reader (a reader that is slower than memory, e.g. a
 * compute-bound kernel on one core, can only lower its own figure); the spread (min, median,
 * max over its passes) is that reader's. On a shared machine the spread is wide: compare runs
 * only at similar load.
 */
#ifndef GPTC_CORE_MEMBW_H
#define GPTC_CORE_MEMBW_H

#include <stddef.h>

#include "core/base.h"

enum { GPTC_MEMBW_STREAM, GPTC_MEMBW_F32, GPTC_MEMBW_Q8_0, GPTC_MEMBW_Q4_K, GPTC_MEMBW_N };

typedef struct gptc_membw {
    double best, min, median; /* bytes/s: best pass, slowest and median pass of the best reader */
    int reader;               /* GPTC_MEMBW_*: the reader best came from */
    double reader_best[GPTC_MEMBW_N]; /* bytes/s, best pass of each reader (0: not run) */
    int n_threads, passes;
    size_t bytes; /* buffer read per pass */
} gptc_membw;

/* "stream", "f32 matvec", "q8_0 matvec", "q4_K matvec". */
const char *gptc_membw_reader_name(int reader);

/* Measure with n_threads (<= 0: all cores), `passes` passes per reader (1..1000), over a buffer
 * of `bytes` (0: 1 GiB; at least 64 MiB). GPTC_E_NOMEM when the buffer cannot be had. */
gptc_status gptc_membw_measure(int n_threads, int passes, size_t bytes, gptc_membw *out,
                               gptc_err *err);

#endif
