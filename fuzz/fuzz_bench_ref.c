/*
 * fuzz_bench_ref.c — libFuzzer target for the reference-results reader of `gptc bench --compare`
 * (src/format/bench_ref.c): arbitrary bytes as the file. Every input ends in entries that satisfy
 * the documented ranges or in one error (GPTC_E_FORMAT, a message) and nothing returned; nothing
 * may crash, leak or overflow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/bench_ref.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gptc_bench_ref *r = NULL;
    int n = -1;
    gptc_err err;
    gptc_err_clear(&err);
    gptc_status st = gptc_bench_ref_parse((const char *)data, size, &r, &n, &err);
    if (st == GPTC_OK) {
        if (!r || n < 1) abort();
        for (int i = 0; i < n; i++) {
            if (r[i].threads < 1 || r[i].depth < 0 || r[i].n_prompt < 0 || r[i].n_gen < 0 ||
                (r[i].prefill_ts <= 0 && r[i].decode_ts <= 0) || !memchr(r[i].model, 0, 256) ||
                !memchr(r[i].type, 0, 128) || !memchr(r[i].source, 0, 128))
                abort();
            (void)gptc_bench_ref_matches(&r[i], "dir/llama-3.2-1b-Q4_K_M.gguf", r[i].threads,
                                         r[i].depth);
        }
    } else if (r || n != 0 || !err.msg[0] || (st != GPTC_E_FORMAT && st != GPTC_E_NOMEM))
        abort();
    free(r);
    return 0;
}
