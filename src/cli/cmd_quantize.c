/* cmd_quantize.c — `gptc quantize IN OUT TYPE`: a model file to a quantized GGUF. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "quant/quant.h"
#include "quant/quantize.h"

static const char *k_help =
    "usage: gptc quantize IN.gguf OUT.gguf TYPE [--threads N] [--tokenizer FILE] [-q]\n"
    "\n"
    "Quantize a model (GGUF or llama2.c checkpoint) with llama.cpp's per-tensor mixes:\n"
    "  q8_0 q4_0 q4_1 q5_0 q5_1   one type for every matrix; the classifier Q6_K (Q8_0 when its\n"
    "                             rows are not a multiple of 256)\n"
    "  q4_k_s q4_k_m q5_k_m q6_k  K-quant mixes: _M keeps some attn_v and ffn_down layers in\n"
    "                             Q6_K, q4_k_s the first attn_v layers in Q5_K\n"
    "  q2_k q2_k_s q3_k_s q3_k_m q3_k_l\n"
    "                             low-bit K mixes (attn_v, attn_output, ffn_down get more bits)\n"
    "  iq4_nl iq4_xs              4-bit non-linear grid (ffn_down of the first 1/8 layers Q5_K)\n"
    "Rows that do not fit the type's block fall back (Q2_K/Q3_K/IQ4_XS->IQ4_NL, Q4_K->Q5_0,\n"
    "Q5_K->Q5_1, Q6_K->Q8_0, else F16). The tensors are byte for byte what llama-quantize\n"
    "writes (no importance matrix). See docs/quantization-types.md. The output is written\n"
    "atomically and loaded once to check it.\n"
    "\n"
    "  -t, --threads N    threads (default: all cores)\n"
    "      --tokenizer F  tokenizer.bin of a llama2.c checkpoint\n"
    "  -q, --quiet        no progress or summary\n";

typedef struct progress {
    int tty, quiet;
} progress;

static void on_tensor(void *ud, int i, int n, const char *name, uint32_t from, uint32_t to)
{
    progress *p = ud;
    if (p->quiet || !p->tty) return;
    fprintf(stderr, "\r\033[K[%3d/%3d] %-32s %5s -> %-5s", i + 1, n, name,
            gptc_type_info(from)->name, gptc_type_info(to)->name);
    fflush(stderr);
}

int cmd_quantize(int argc, char **argv)
{
    const char *args[3], *tok = NULL;
    int n = 0;
    gptc_quantize_params qp = {0};
    progress pr = {.tty = isatty(2)};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "-t", "--threads"))
            qp.n_threads = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else if (cli_is(a, "--tokenizer", NULL))
            tok = cli_value(argc, argv, &i);
        else if (cli_is(a, "-q", "--quiet"))
            pr.quiet = 1;
        else if (a[0] == '-' && a[1])
            cli_die("quantize: unknown option '%s' (see gptc quantize --help)", a);
        else if (n == 3)
            cli_die("quantize: too many arguments (see gptc quantize --help)");
        else
            args[n++] = a;
    }
    if (n < 3)
        cli_die("quantize: usage: gptc quantize IN.gguf OUT.gguf TYPE (see gptc quantize --help)");
    if (gptc_quantize_ftype(args[2]) < 0)
        cli_die("quantize: unknown type '%s' (q8_0 q4_0 q4_1 q5_0 q5_1 q4_k_s q4_k_m q5_k_m q6_k)",
                args[2]);
    qp.progress = on_tensor;
    qp.ud = &pr;
    gptc_err err;
    gptc_quantize_stats st;
    double t0 = cli_now_ms();
    gptc_status s = gptc_quantize_model(args[0], tok, args[1], args[2], &qp, &st, &err);
    if (pr.tty && !pr.quiet) fputs("\r\033[K", stderr);
    if (s) cli_die_err(&err);
    if (!pr.quiet)
        fprintf(stderr,
                "gptc: wrote %s (%s): %d tensors, %d quantized%s, %.1f MB -> %.1f MB in %.0f ms\n",
                args[1], args[2], st.n_tensors, st.n_quantized,
                st.n_fallback ? " (some rows fell back, see --help)" : "", st.bytes_in / 1e6,
                st.bytes_out / 1e6, cli_now_ms() - t0);
    return 0;
}
