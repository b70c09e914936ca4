/* main.c — `gptc CMD ...`: dispatch to a subcommand. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char *k_usage =
    "gptc — an open GPT stack in C\n"
    "\n"
    "usage: gptc COMMAND [ARGS]   (gptc COMMAND --help for its options)\n"
    "\n"
    "commands:\n"
    "  run       MODEL -p PROMPT [-n N] [--temp T ...]   generate text\n"
    "  info      MODEL                                  metadata, tensors, sizes\n"
    "  tokenize  MODEL|--encoding NAME [TEXT] [--ids]   token ids and pieces (stdin without TEXT)\n"
    "  convert   IN.bin TOKENIZER.bin OUT.gguf          llama2.c checkpoint -> GGUF\n"
    "  chat      MODEL [--chat-template NAME|FILE]      interactive chat, streaming replies\n"
    "  template  MODEL|--template NAME|FILE --messages FILE.json   render a chat template\n"
    "  train     --data FILE|DIR --out MODEL.gguf       train a GPT on text (CPU); --ui: live\n"
    "  train-tokenizer --vocab N CORPUS OUT.gguf       learn a byte-level BPE tokenizer\n"
    "  merge-lora BASE.gguf LORA.gguf[:SCALE] OUT.gguf  merge LoRA adapters into a model\n"
    "  serve     MODEL [--port 8080 --parallel 4 ...]   OpenAI-compatible HTTP server\n"
    "  batch     MODEL IN.jsonl OUT.jsonl [--errors ERR.jsonl]   Batch API file offline, "
    "resumable\n"
    "  quantize  IN.gguf OUT.gguf TYPE                  q8_0 q4_0 q4_k_m ... (llama.cpp's mixes)\n"
    "  bench     MODEL [-p 128] [-n 64] [-t N] [--json] prefill/decode tok/s vs the memory bound\n"
    "  perplexity MODEL TEXT.txt [--kl-base BASE]       quality of a model or a quantization\n"
    "  embed     MODEL [TEXT ...|-f FILE] [--normalize]  embedding vectors (JSON or TSV)\n"
    "  plot      LOG.jsonl [-o loss.svg]                loss curves of a training log as SVG\n"
    "\n"
    "MODEL is a GGUF file or a llama2.c checkpoint (with --tokenizer FILE).\n";

/* Models are mapped, not read: a read error on the file (a bad disk, a network file system
 * gone, the file truncated while in use) arrives as SIGBUS when a page is touched, at any moment.
 * Say so in one line and exit 1 instead of dumping core (nothing can be retried safely). */
static void on_sigbus(int sig)
{
    static const char k[] = "gptc: a mapped file could not be read (an I/O error, or the model "
                            "file was truncated or replaced while in use); stopping\n";
    ssize_t w = write(STDERR_FILENO, k, sizeof k - 1);
    (void)w;
    (void)sig;
    _exit(1);
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigaction(SIGBUS, &sa, NULL);
    if (argc < 2 || cli_is(argv[1], "--help", "-h") || strcmp(argv[1], "help") == 0) {
        fputs(k_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (cli_is(argv[1], "--version", "-V")) {
        printf("gptc %s\n", gptc_version());
        return 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "convert") == 0) return cmd_convert(argc - 1, argv + 1);
    if (strcmp(cmd, "chat") == 0) return cmd_chat(argc - 1, argv + 1);
    if (strcmp(cmd, "template") == 0) return cmd_template(argc - 1, argv + 1);
    if (strcmp(cmd, "train") == 0) return cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "train-tokenizer") == 0) return cmd_train_tokenizer(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "batch") == 0) return cmd_batch(argc - 1, argv + 1);
    if (strcmp(cmd, "quantize") == 0) return cmd_quantize(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "perplexity") == 0) return cmd_perplexity(argc - 1, argv + 1);
    if (strcmp(cmd, "embed") == 0) return cmd_embed(argc - 1, argv + 1);
    if (strcmp(cmd, "plot") == 0) return cmd_plot(argc - 1, argv + 1);
    if (strcmp(cmd, "merge-lora") == 0) return cmd_merge_lora(argc - 1, argv + 1);
    cli_die("unknown command '%s' (see gptc --help)", cmd);
}
