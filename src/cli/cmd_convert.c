/* cmd_convert.c — `gptc convert IN [TOKENIZER] OUT.gguf`: llama2.c checkpoint -> GGUF. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "format/gguf.h"
#include "model/model.h"

static const char *k_help =
    "usage: gptc convert MODEL.bin [TOKENIZER.bin] OUT.gguf\n"
    "\n"
    "Convert a llama2.c checkpoint and its tokenizer.bin to a standard GGUF file (llama.*\n"
    "hyperparameters, tokenizer.ggml.* vocabulary, llama.cpp tensor names) that gptc and\n"
    "llama.cpp both run. Without TOKENIZER, tokenizer.bin beside the model is used.\n"
    "A GGUF input is rewritten as-is. The output is written atomically.\n";

int cmd_convert(int argc, char **argv)
{
    const char *args[3];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        }
        if (a[0] == '-' && a[1])
            cli_die("convert: unknown option '%s' (see gptc convert --help)", a);
        if (n == 3) cli_die("convert: too many arguments (see gptc convert --help)");
        args[n++] = a;
    }
    if (n < 2) cli_die("convert: usage: gptc convert MODEL.bin [TOKENIZER.bin] OUT.gguf");
    const char *in = args[0], *tok = n == 3 ? args[1] : NULL, *out = args[n - 1];
    gptc_err err;
    gguf_file *f;
    double t0 = cli_now_ms();
    if (gptc_model_open_file(in, tok, &f, &err)) cli_die_err(&err);
    /* check that it is a model gptc can run before writing it */
    gptc_model *m;
    gguf_file *f2;
    if (gptc_model_open_file(in, tok, &f2, &err)) cli_die_err(&err);
    if (gptc_model_from_gguf(f2, &m, &err)) cli_die_err(&err);
    gptc_model_free(m);
    if (gptc_gguf_write(f, out, &err)) cli_die_err(&err);
    fprintf(stderr, "gptc: wrote %s (%llu tensors, %llu keys) in %.0f ms\n", out,
            (unsigned long long)f->n_tensors, (unsigned long long)f->n_kv, cli_now_ms() - t0);
    gptc_gguf_close(f);
    return 0;
}
