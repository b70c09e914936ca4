/*
 * cmd_merge_lora.c — `gptc merge-lora BASE.gguf LORA.gguf[:SCALE]... OUT.gguf`: a model with
 * LoRA adapters merged into its weights (the adapted matrices as F32, the others as they were).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "format/gguf.h"
#include "train/ckpt.h"
#include "train/lora.h"

static const char *k_help =
    "usage: gptc merge-lora BASE.gguf LORA.gguf[:SCALE] [LORA.gguf[:SCALE]...] OUT.gguf\n"
    "\n"
    "Write BASE with the LoRA adapters merged in: each adapted matrix W becomes\n"
    "W + SCALE * alpha / rank * B A (stored as F32; quantized matrices are dequantized first),\n"
    "every other tensor is copied as it is. SCALE defaults to 1. The adapters are llama.cpp's\n"
    "GGUF layout (gptc train --lora-rank writes them). gptc run/chat/serve --lora FILE[:SCALE]\n"
    "apply adapters the same way without writing a file.\n";

int cmd_merge_lora(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (cli_is(argv[i], "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        }
    if (argc < 4)
        cli_die(
            "merge-lora: give BASE.gguf, at least one LORA.gguf[:SCALE] and OUT.gguf (see --help)");
    cli_lora l = {0};
    for (int i = 2; i < argc - 1; i++)
        cli_lora_add(&l, argv[i]);
    gptc_err err;
    gguf_file *g = cli_lora_merge(argv[1], &l);
    if (gptc_gguf_write_durable(g, argv[argc - 1], &err))
        cli_die("merge-lora: %s: %s", argv[argc - 1], err.msg);
    gptc_gguf_close(g);
    fprintf(stderr, "merge-lora: %s + %d adapter%s -> %s\n", argv[1], l.n, l.n == 1 ? "" : "s",
            argv[argc - 1]);
    return 0;
}
