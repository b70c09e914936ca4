/* main.c — `gptc CMD ...`: dispatch to a subcommand. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* The subcommands: name, entry point, arguments and what it does (the usage text is built from
 * this table, so a command cannot be dispatched without being listed or listed without being
 * dispatched). */
typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *args, *what;
} command;

/* clang-format off */
static const command k_commands[] = {
    {"run",        cmd_run,        "MODEL -p PROMPT [-n N] [--temp T ...]", "generate text"},
    {"info",       cmd_info,       "MODEL", "metadata, tensors, sizes"},
    {"tokenize",   cmd_tokenize,   "MODEL|--encoding NAME [TEXT] [--ids]", "token ids and pieces (stdin without TEXT)"},
    {"convert",    cmd_convert,    "IN.bin TOKENIZER.bin OUT.gguf", "llama2.c checkpoint -> GGUF"},
    {"chat",       cmd_chat,       "MODEL [--chat-template NAME|FILE]", "interactive chat, streaming replies"},
    {"template",   cmd_template,   "MODEL|--template NAME|FILE --messages FILE.json", "render a chat template"},
    {"train",      cmd_train,      "--data FILE|DIR --out MODEL.gguf", "train a GPT on text (CPU); --ui: live"},
    {"train-tokenizer", cmd_train_tokenizer, "--vocab N CORPUS OUT.gguf", "learn a byte-level BPE tokenizer"},
    {"merge-lora", cmd_merge_lora, "BASE.gguf LORA.gguf[:SCALE] OUT.gguf", "merge LoRA adapters into a model"},
    {"serve",      cmd_serve,      "MODEL [--port 8080 --parallel 4 ...]", "OpenAI-compatible HTTP server"},
    {"batch",      cmd_batch,      "MODEL IN.jsonl OUT.jsonl [--errors ERR.jsonl]", "Batch API file offline, resumable"},
    {"quantize",   cmd_quantize,   "IN.gguf OUT.gguf TYPE", "q8_0 q4_0 q4_k_m ... (llama.cpp's mixes)"},
    {"bench",      cmd_bench,      "MODEL [-p 128] [-n 64] [-t N] [--json]", "prefill/decode tok/s vs the memory bound"},
    {"perplexity", cmd_perplexity, "MODEL TEXT.txt [--kl-base BASE]", "quality of a model or a quantization"},
    {"embed",      cmd_embed,      "MODEL [TEXT ...|-f FILE] [--normalize]", "embedding vectors (JSON or TSV)"},
    {"plot",       cmd_plot,       "LOG.jsonl [-o loss.svg]", "loss curves of a training log as SVG"},
};
/* clang-format on */
#define N_COMMANDS (sizeof k_commands / sizeof *k_commands)

static void usage(FILE *f)
{
    fputs("gptc — an open GPT stack in C\n\n"
          "usage: gptc COMMAND [ARGS]   (gptc COMMAND --help for its options)\n\ncommands:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const command *c = &k_commands[i];
        int w = fprintf(f, "  %-10s %s", c->name, c->args);
        fprintf(f, "%*s %s\n", w < 50 ? 50 - w : 1, "", c->what);
    }
    fputs("\nMODEL is a GGUF file or a llama2.c checkpoint (with --tokenizer FILE).\n", f);
}

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
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (cli_is(argv[1], "--version", "-V")) {
        printf("gptc %s\n", gptc_version());
        return 0;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, k_commands[i].name) == 0) return k_commands[i].run(argc - 1, argv + 1);
    cli_die("unknown command '%s' (see gptc --help)", cmd);
}
