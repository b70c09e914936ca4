/*
 * cmd_train.c — `gptc train`: train a GPT from text on the CPU and write a GGUF model.
 *
 * The library (src/train/trainer.h) does the work; this file parses options, shows progress (a
 * live line on a terminal, plain lines otherwise), writes the --log JSONL, evaluates, samples and
 * checkpoints on schedule, and turns Ctrl-C into "save a checkpoint and stop".
 */
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "format/gguf.h"
#include "server/srv.h"
#include "server/train_ui.h"
#include "train/ckpt.h"
#include "chat/chat.h"
#include "train/dist.h"
#include "train/lora.h"
#include "train/sft.h"
#include "train/trainer.h"

static const char *k_help =
    "usage: gptc train --data FILE|DIR --out MODEL.gguf [options]\n"
    "\n"
    "Train a GPT on text, on the CPU, and write it as a GGUF model that gptc run/chat/serve (and\n"
    "llama.cpp) load. The corpus is tokenized once and cached in $XDG_CACHE_HOME/gptc\n"
    "(default ~/.cache/gptc), keyed by its contents, readable by this user only.\n"
    "\n"
    "data and output:\n"
    "  --data FILE|DIR         the corpus: a text file, or every file of a directory; or chat\n"
    "                          data FILE.jsonl for fine-tuning (docs/finetune.md): OpenAI's "
    "format,\n"
    "                          one {\"messages\": [...]} per line, loss on assistant tokens only\n"
    "  --init MODEL.gguf       start from this model's weights (dequantized), tokenizer and chat\n"
    "                          template instead of random weights (llama-family and gpt2 models);\n"
    "                          --ctx T then sets the training window (default: the model's "
    "context)\n"
    "  --val-data FILE.jsonl   validation conversations (default: the last --val-frac of --data)\n"
    "  --strict                a bad line of the chat data stops the run (default: reported, "
    "skipped)\n"
    "  --lora-rank R           with --init: train LoRA adapters of rank R instead of the weights;\n"
    "                          --out is then a LoRA GGUF (llama.cpp's layout) for gptc "
    "run/chat/serve\n"
    "                          --lora FILE[:SCALE] and gptc merge-lora (no checkpoints yet)\n"
    "  --lora-alpha A          scale alpha / R of the adapters (default: R, so 1)\n"
    "  --lora-targets LIST     matrices to adapt (default: all of " GPTC_LORA_TARGETS ")\n"
    "  --out FILE              the finished model (GGUF); checkpoints go to --ckpt\n"
    "  --tokenizer byte|FILE   'byte' (default): one token per byte, 260 tokens; or a GGUF file\n"
    "                          whose tokenizer the model will use (a model, or one made by\n"
    "                          gptc train-tokenizer)\n"
    "  --val-frac F            tail of the corpus held out for validation (default 0.1)\n"
    "  --chat-template FILE    store FILE as tokenizer.chat_template\n"
    "\n"
    "model (a preset, then any size option overrides it):\n"
    "  --preset NAME           tiny (default: llama, dim 128, 4 layers, 4 heads, ctx 128),\n"
    "                          baby (nanoGPT's shakespeare-char CPU model: gpt2, dim 128, 4 "
    "layers,\n"
    "                          4 heads, ctx 64), stories260k, stories15m, gpt2-124m\n"
    "  --arch llama|gpt2       llama: RMSNorm, RoPE, SwiGLU, grouped-query attention;\n"
    "                          gpt2: LayerNorm, learned positions, GELU, biases, tied embeddings\n"
    "  --dim D --layers L --heads H --kv-heads K --ctx T --ff F\n"
    "                          embedding width, blocks, attention heads, key/value heads (llama),\n"
    "                          context length (= training sequence length), feed-forward width\n"
    "                          (default 4D for gpt2, about 8D/3 for llama)\n"
    "  --vocab V               must equal the tokenizer's size (checked)\n"
    "  --untied                llama: a separate output matrix (default: tied to token_embd)\n"
    "\n"
    "optimization:\n"
    "  --batch B               sequences per micro-batch (default 12)\n"
    "  --accum N               micro-batches per step: global batch = B x N x T tokens (default "
    "1)\n"
    "  --steps N               optimizer steps (default 2000)\n"
    "  --lr LR --min-lr LR     peak and final learning rate, cosine decay (default 1e-3, 1e-4)\n"
    "  --warmup N              linear warmup steps (default 100)\n"
    "  --wd W                  AdamW weight decay on matrices (default 0.1); --wd-embeddings\n"
    "                          decays the embeddings too\n"
    "  --beta1 B --beta2 B     AdamW betas (default 0.9, 0.99)\n"
    "  --clip C                clip the global gradient norm at C, 0 = off (default 1)\n"
    "  --seed S                initialisation and data order (default 1337)\n"
    "  --threads N             threads (default: all cores)\n"
    "\n"
    "progress and checkpoints:\n"
    "  --eval-every N          validation loss every N steps (default 250; 0 = only at the end)\n"
    "  --eval-batches N        batches per validation (default 20)\n"
    "  --sample-every N        print a generated sample every N steps (default 0 = off)\n"
    "  --sample-len N          tokens per sample (default 200); --sample-prompt TEXT\n"
    "  --ckpt-every N          checkpoint every N steps (default: as --eval-every)\n"
    "  --ckpt FILE             checkpoint path (default: MODEL.ckpt.gguf beside --out)\n"
    "  --resume CKPT           continue a run exactly where its checkpoint left it\n"
    "  --log FILE.jsonl        append the run's records: {\"config\"} first, then\n"
    "                          {\"step\",\"loss\",\"lr\",\"tok_s\",\"grad_norm\",\"eta_s\"} per "
    "step,\n"
    "                          {\"step\",\"val_loss\"} per evaluation, {\"step\",\"sample\"} per\n"
    "                          sample, {\"done\"} at the end (gptc plot draws them)\n"
    "  --ui                    serve a live dashboard of the run (loss curves, lr, tok/s, "
    "samples)\n"
    "  --ui-port N             its port on 127.0.0.1 (default 8090; 0: any free port)\n"
    "  --log-every N           plain progress lines every N steps when not on a terminal\n"
    "                          (default 10)\n"
    "  -q, --quiet             no progress output\n"
    "\n"
    "Ctrl-C saves a checkpoint and stops; --resume continues bit for bit.\n"
    "\n"
    "data parallel (docs/train-distributed.md): mpirun -np N gptc train ...\n"
    "  every rank computes its share of each step's windows; gradients are summed in a fixed\n"
    "  order, so any N (1 included) gives the same weights, bit for bit. Rank 0 logs and writes.\n"
    "  --zero 0|1              1: shard the optimizer state over the ranks (ZeRO-1; default 0)\n"
    "  --dist-timeout S        a rank that does not answer for S seconds ends the job (default "
    "300)\n"
    "  --windowed              one process computing steps as a data-parallel job does (what\n"
    "                          mpirun -np 1 does): window by window, the same bits as N ranks\n"
    "  threads per rank default to the cores / ranks on the machine\n";

typedef struct preset {
    const char *name;
    enum gptc_arch arch;
    int dim, layers, heads, kv_heads, ctx;
} preset;

static const preset k_presets[] = {
    {"tiny", GPTC_ARCH_LLAMA, 128, 4, 4, 4, 128},
    {"baby", GPTC_ARCH_GPT2, 128, 4, 4, 4, 64},
    {"stories260k", GPTC_ARCH_LLAMA, 64, 5, 8, 4, 512},
    {"stories15m", GPTC_ARCH_LLAMA, 288, 6, 6, 6, 256},
    {"gpt2-124m", GPTC_ARCH_GPT2, 768, 12, 12, 12, 1024},
};

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct opts_cli {
    const char *data, *out, *tokenizer, *resume, *ckpt, *log, *chat_template, *sample_prompt;
    const char *init, *val_data, *lora_targets;
    int lora_rank;
    float lora_alpha;
    int eval_every, sample_every, sample_len, ckpt_every, log_every, quiet, ui, ui_port;
    int zero, windowed, strict;
    double dist_timeout;
} opts_cli;

/* Where the run's records go: the --log file and the --ui dashboard, the same JSON either way. */
static FILE *g_log;
static gptc_train_ui *g_ui;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof line) return;
    if (g_log) {
        fprintf(g_log, "%s\n", line);
        fflush(g_log);
    }
    gptc_train_ui_push(g_ui, line, (size_t)n);
}

/* A record made with jansson (strings from the user or the model), stolen. */
static void emit_json(json_t *o)
{
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt) return;
    if (g_log) {
        fprintf(g_log, "%s\n", txt);
        fflush(g_log);
    }
    gptc_train_ui_push(g_ui, txt, strlen(txt));
    free(txt);
}

/* The data-parallel job (NULL: one process) and this process's rank in it. */
static gptc_dist *g_dist;
static int g_rank;

/* A failure during the job: say which rank saw it and end every rank (no peer waits forever). */
static void die_job(const gptc_err *err)
{
    if (!g_dist) cli_die_err(err);
    fprintf(stderr, "gptc: rank %d: %s\n", g_rank, err->msg);
    fflush(stderr);
    gptc_dist_abort(g_dist, 1);
}

/* GPTC_TRAIN_TEST_KILL=RANK:STEP[:stop]: that rank kills itself with SIGKILL (or stops with
 * SIGSTOP, a hung rank) after that step: for the tests of a dead rank. */
static void test_kill_hook(int step)
{
    const char *e = getenv("GPTC_TRAIN_TEST_KILL");
    int r, k;
    if (e && sscanf(e, "%d:%d", &r, &k) == 2 && r == g_rank && k == step)
        raise(strstr(e, ":stop") ? SIGSTOP : SIGKILL);
}

/* Chat data: a .jsonl file whose first non-blank line has "messages" (other files, and
 * JSONL of other shapes such as logs, are text to train on). */
static int is_chat_data(const char *path)
{
    size_t n = strlen(path);
    if (n <= 6 || strcmp(path + n - 6, ".jsonl") != 0) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 1; /* let the loader name the error */
    char buf[4096];
    int chat = 0, seen = 0;
    while (!seen && fgets(buf, sizeof buf, f)) {
        char *p = buf;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (!*p) continue;
        seen = 1;
        chat = *p == '{' && strstr(p, "\"messages\"") != NULL;
    }
    fclose(f);
    if (seen && !chat)
        fprintf(stderr,
                "gptc: note: %s has no \"messages\" on its first line: training on it as text\n",
                path);
    return chat;
}

static void sft_report(void *ud, const char *path, size_t line, const char *msg)
{
    if (*(int *)ud == 0) /* rank 0 (every rank reads the same lines) */
        fprintf(stderr, "gptc: note: %s:%zu: %s (line skipped; --strict stops instead)\n", path,
                line, msg);
}

static void tok_progress(void *ud, uint64_t done, uint64_t total)
{
    int tty = *(int *)ud;
    if (tty) fprintf(stderr, "\rtokenizing %3.0f%%", total ? 100.0 * done / total : 100.0);
}

static void fmt_eta(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%.0fs", s);
}

/* The token cache's directory: $XDG_CACHE_HOME/gptc, else ~/.cache/gptc (XDG Base Directory:
 * a relative XDG_CACHE_HOME is ignored). NULL: no home to put it in (no cache). */
static const char *token_cache_dir(char *buf, size_t n)
{
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && x[0] == '/') {
        snprintf(buf, n, "%s/gptc", x);
        return buf;
    }
    const char *h = getenv("HOME");
    if (!h || h[0] != '/') {
        struct passwd *pw = getpwuid(geteuid());
        h = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
    }
    if (!h) return NULL;
    snprintf(buf, n, "%s/.cache/gptc", h);
    return buf;
}

/* Fail before training, not after it, when a file cannot be written. */
static void check_writable(const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        cli_die("train: cannot write %s '%s': it exists and is not a regular file", what, path);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) cli_die("train: cannot write %s '%s': %s", what, path, strerror(errno));
    fclose(f);
    remove(tmp);
}

int cmd_train(int argc, char **argv)
{
    gptc_train_opts o;
    gptc_train_opts_default(&o);
    opts_cli c = {.tokenizer = "byte",
                  .eval_every = 250,
                  .sample_len = 200,
                  .ckpt_every = -1,
                  .log_every = 10,
                  .ui_port = 8090,
                  .dist_timeout = 300};
    const preset *pr = &k_presets[0];
    int dim = 0, layers = 0, heads = 0, kv_heads = 0, ctx = 0, ff = 0, vocab = 0, arch = -1,
        untied = 0;
    /* options given explicitly (they override a checkpoint's on --resume) */
    int set_lr = 0, set_min_lr = 0, set_wd = 0, set_clip = 0, set_steps = 0, set_warmup = 0,
        set_b1 = 0, set_b2 = 0;
    int set_batch = 0, set_accum = 0, set_eval_b = 0, set_val = 0, set_sizes = 0, set_seed = 0;
    int set_eval_every = 0, set_ckpt_every = 0, set_sample_every = 0, set_sample_len = 0;
    gptc_train_opts given = o;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define VAL() cli_value(argc, argv, &i)
#define INT(lo, hi) (int)cli_int(a, VAL(), lo, hi)
#define FLT(lo, hi) (float)cli_float(a, VAL(), lo, hi)
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            puts(gptc_dist_available() ? "  (this gptc was built with Open MPI)"
                                       : "  (this gptc was built WITHOUT MPI: install "
                                         "libopenmpi-dev and rebuild for mpirun)");
            return 0;
        } else if (cli_is(a, "--zero", NULL))
            c.zero = INT(0, 1);
        else if (cli_is(a, "--dist-timeout", NULL))
            c.dist_timeout = cli_float(a, VAL(), 1, 1e6);
        else if (cli_is(a, "--windowed", NULL))
            c.windowed = 1;
        else if (cli_is(a, "--init", NULL))
            c.init = VAL();
        else if (cli_is(a, "--val-data", NULL))
            c.val_data = VAL();
        else if (cli_is(a, "--strict", NULL))
            c.strict = 1;
        else if (cli_is(a, "--lora-rank", NULL))
            c.lora_rank = INT(1, 1 << 16);
        else if (cli_is(a, "--lora-alpha", NULL))
            c.lora_alpha = FLT(0, 1e6);
        else if (cli_is(a, "--lora-targets", NULL))
            c.lora_targets = VAL();
        else if (cli_is(a, "--data", NULL))
            c.data = VAL();
        else if (cli_is(a, "--out", "-o"))
            c.out = VAL();
        else if (cli_is(a, "--tokenizer", NULL))
            c.tokenizer = VAL();
        else if (cli_is(a, "--val-frac", NULL))
            given.val_frac = FLT(0, 0.9), set_val = 1;
        else if (cli_is(a, "--chat-template", NULL))
            c.chat_template = VAL();
        else if (cli_is(a, "--preset", NULL)) {
            const char *name = VAL();
            pr = NULL;
            for (size_t k = 0; k < sizeof k_presets / sizeof *k_presets; k++)
                if (strcmp(name, k_presets[k].name) == 0) pr = &k_presets[k];
            if (!pr)
                cli_die(
                    "train: unknown preset '%s' (tiny, baby, stories260k, stories15m, gpt2-124m)",
                    name);
            set_sizes = 1;
        } else if (cli_is(a, "--arch", NULL)) {
            const char *v = VAL();
            if (strcmp(v, "llama") == 0)
                arch = GPTC_ARCH_LLAMA;
            else if (strcmp(v, "gpt2") == 0)
                arch = GPTC_ARCH_GPT2;
            else
                cli_die("train: --arch must be llama or gpt2, not '%s'", v);
            set_sizes = 1;
        } else if (cli_is(a, "--dim", NULL))
            dim = INT(1, 65536), set_sizes = 1;
        else if (cli_is(a, "--layers", NULL))
            layers = INT(1, 1024), set_sizes = 1;
        else if (cli_is(a, "--heads", NULL))
            heads = INT(1, 4096), set_sizes = 1;
        else if (cli_is(a, "--kv-heads", NULL))
            kv_heads = INT(1, 4096), set_sizes = 1;
        else if (cli_is(a, "--ctx", NULL))
            ctx = INT(1, 1 << 20), set_sizes = 1;
        else if (cli_is(a, "--ff", NULL))
            ff = INT(1, 1 << 20), set_sizes = 1;
        else if (cli_is(a, "--vocab", NULL))
            vocab = INT(1, 1 << 24);
        else if (cli_is(a, "--untied", NULL))
            untied = 1, set_sizes = 1;
        else if (cli_is(a, "--batch", "-b"))
            given.batch = INT(1, 1 << 16), set_batch = 1;
        else if (cli_is(a, "--accum", NULL))
            given.accum = INT(1, 1 << 16), set_accum = 1;
        else if (cli_is(a, "--steps", NULL))
            given.steps = INT(0, 1 << 30), set_steps = 1;
        else if (cli_is(a, "--lr", NULL))
            given.lr = FLT(1e-12, 9.99), set_lr = 1;
        else if (cli_is(a, "--min-lr", NULL))
            given.min_lr = FLT(0, 9.99), set_min_lr = 1;
        else if (cli_is(a, "--warmup", NULL))
            given.warmup = INT(0, 1 << 30), set_warmup = 1;
        else if (cli_is(a, "--wd", NULL))
            given.weight_decay = FLT(0, 10), set_wd = 1;
        else if (cli_is(a, "--wd-embeddings", NULL))
            given.decay_embeddings = 1;
        else if (cli_is(a, "--beta1", NULL))
            given.beta1 = FLT(0, 0.999999), set_b1 = 1;
        else if (cli_is(a, "--beta2", NULL))
            given.beta2 = FLT(0, 0.999999), set_b2 = 1;
        else if (cli_is(a, "--clip", NULL))
            given.clip = FLT(0, 1e6), set_clip = 1;
        else if (cli_is(a, "--seed", NULL))
            given.seed = (uint64_t)cli_int(a, VAL(), 0, INT64_MAX), set_seed = 1;
        else if (cli_is(a, "--threads", "-t"))
            given.n_threads = INT(1, 1024);
        else if (cli_is(a, "--eval-every", NULL))
            c.eval_every = INT(0, 1 << 30), set_eval_every = 1;
        else if (cli_is(a, "--eval-batches", NULL))
            given.eval_batches = INT(1, 1 << 16), set_eval_b = 1;
        else if (cli_is(a, "--sample-every", NULL))
            c.sample_every = INT(0, 1 << 30), set_sample_every = 1;
        else if (cli_is(a, "--sample-len", NULL))
            c.sample_len = INT(1, 1 << 20), set_sample_len = 1;
        else if (cli_is(a, "--sample-prompt", NULL))
            c.sample_prompt = VAL();
        else if (cli_is(a, "--ckpt-every", NULL))
            c.ckpt_every = INT(0, 1 << 30), set_ckpt_every = 1;
        else if (cli_is(a, "--ckpt", NULL))
            c.ckpt = VAL();
        else if (cli_is(a, "--resume", NULL))
            c.resume = VAL();
        else if (cli_is(a, "--log", NULL))
            c.log = VAL();
        else if (cli_is(a, "--log-every", NULL))
            c.log_every = INT(1, 1 << 30);
        else if (cli_is(a, "--ui", NULL))
            c.ui = 1;
        else if (cli_is(a, "--ui-port", NULL))
            c.ui_port = INT(0, 65535), c.ui = 1;
        else if (cli_is(a, "-q", "--quiet"))
            c.quiet = 1;
        else
            cli_die("train: unknown option '%s' (see gptc train --help)", a);
#undef VAL
#undef INT
#undef FLT
    }
    if (!c.data) cli_die("train: no --data given (a text file or a directory of them)");
    int sft = is_chat_data(c.data);
    if (c.val_data && !sft) cli_die("train: --val-data is for chat data (--data FILE.jsonl)");
    if (c.init && (dim || layers || heads || kv_heads || ff || arch >= 0 || untied || vocab ||
                   pr != &k_presets[0]))
        cli_die("train: the model's sizes come from --init %s (give only --ctx)", c.init);
    if (c.init && strcmp(c.tokenizer, "byte") != 0)
        cli_die("train: the tokenizer comes from --init %s", c.init);
    unsigned lora_mask = ~0u;
    if ((c.lora_targets || c.lora_alpha) && !c.lora_rank)
        cli_die("train: --lora-alpha and --lora-targets need --lora-rank");
    if (c.lora_rank) {
        gptc_err e;
        if (!c.init) cli_die("train: --lora-rank adapts a model: give it with --init MODEL.gguf");
        if (c.resume)
            cli_die("train: --resume of a LoRA run is not supported yet (LoRA runs write no "
                    "checkpoints)");
        if (c.lora_targets && gptc_lora_parse_targets(c.lora_targets, &lora_mask, &e))
            cli_die("train: %s", e.msg);
        if (!c.lora_alpha) c.lora_alpha = (float)c.lora_rank;
    }
    if (!c.out) cli_die("train: no --out given (where to write the model, e.g. model.gguf)");
    if (c.ckpt_every < 0 && !c.resume) c.ckpt_every = c.eval_every;
    given.eval_every = c.eval_every, given.ckpt_every = c.ckpt_every;
    given.sample_every = c.sample_every, given.sample_len = c.sample_len;

    gptc_err err;
    if (gptc_dist_launched()) {
        if (!gptc_dist_available())
            cli_die("train: started by mpirun, but this gptc was built without MPI (install "
                    "libopenmpi-dev and "
                    "rebuild); every rank would train alone");
        if (c.lora_rank) cli_die("train: LoRA in data-parallel runs is not supported yet");
        if (gptc_dist_init(NULL, NULL, c.dist_timeout, &g_dist, &err)) cli_die_err(&err);
        g_rank = gptc_dist_rank(g_dist);
        if (g_rank != 0) c.quiet = 1, c.log = NULL, c.sample_every = 0, c.ui = 0;
        if (!given.n_threads) /* the cores shared by the ranks on this machine */
            given.n_threads = GPTC_MAX(1, gptc_n_cores() / gptc_dist_local_size(g_dist));
    }

    /* checkpoint path: MODEL.ckpt.gguf beside the model */
    char ckpt_buf[4200];
    if (!c.ckpt) {
        size_t n = strlen(c.out);
        if (n > 5 && strcmp(c.out + n - 5, ".gguf") == 0)
            snprintf(ckpt_buf, sizeof ckpt_buf, "%.*s.ckpt.gguf", (int)(n - 5), c.out);
        else
            snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt.gguf", c.out);
        c.ckpt = ckpt_buf;
    }
    if (g_rank == 0) {
        check_writable(c.out, "the model to");
        check_writable(c.ckpt, "checkpoints to");
    }
    FILE *log = NULL;
    if (c.log && !(log = fopen(c.log, "a")))
        cli_die("train: cannot open --log '%s': %s", c.log, strerror(errno));
    g_log = log;

    gptc_trainer *tr = NULL;
    int tty = isatty(STDERR_FILENO) && !c.quiet;
    if (c.resume) {
        /* the checkpoint's options, except those given now; its model, always */
        if (gptc_trainer_ckpt_opts(c.resume, &o, &err)) cli_die_err(&err);
        if (set_sizes && (dim || layers || heads || kv_heads || ctx || ff || arch >= 0 || untied))
            fprintf(stderr, "gptc: note: resuming: the model's sizes come from the checkpoint\n");
        if (strcmp(c.tokenizer, "byte") != 0)
            fprintf(stderr, "gptc: note: resuming: the tokenizer comes from the checkpoint\n");
        if (set_lr) o.lr = given.lr;
        if (set_min_lr) o.min_lr = given.min_lr;
        if (set_wd) o.weight_decay = given.weight_decay;
        if (set_clip) o.clip = given.clip;
        if (set_steps) o.steps = given.steps;
        if (set_warmup) o.warmup = given.warmup;
        if (set_b1) o.beta1 = given.beta1;
        if (set_b2) o.beta2 = given.beta2;
        if (set_batch) o.batch = given.batch;
        if (set_accum) o.accum = given.accum;
        if (set_eval_b) o.eval_batches = given.eval_batches;
        if (set_val) o.val_frac = given.val_frac;
        if (given.decay_embeddings) o.decay_embeddings = 1;
        if (set_seed && given.seed != o.seed)
            fprintf(stderr,
                    "gptc: note: resuming: --seed is ignored (the random state comes "
                    "from the checkpoint, seed %llu)\n",
                    (unsigned long long)o.seed);
        o.n_threads = given.n_threads;
        /* the schedule: the checkpoint's (when it has one), except what is given now */
        if (!set_eval_every && o.eval_every >= 0) c.eval_every = o.eval_every;
        if (!set_ckpt_every && o.ckpt_every >= 0) c.ckpt_every = o.ckpt_every;
        if (!set_sample_every && o.sample_every >= 0) c.sample_every = o.sample_every;
        if (!set_sample_len && o.sample_len > 0) c.sample_len = o.sample_len;
        if (c.ckpt_every < 0) c.ckpt_every = c.eval_every;
        o.eval_every = c.eval_every, o.ckpt_every = c.ckpt_every;
        o.sample_every = c.sample_every, o.sample_len = c.sample_len;
        if (c.init) { /* the checkpoint must be of the model given */
            gguf_file *f;
            gptc_tconfig ic;
            if (gptc_gguf_open(c.init, &f, &err)) cli_die("train: --init %s: %s", c.init, err.msg);
            if (gptc_tconfig_from_gguf(f, &ic, &err))
                cli_die("train: --init %s: %s", c.init, err.msg);
            gptc_gguf_close(f);
            gptc_tconfig_defaults(&ic);
            if (memcmp(&ic, &o.cfg, sizeof ic) != 0)
                cli_die("train: checkpoint %s was made for another model than %s", c.resume,
                        c.init);
        }
        if (gptc_trainer_resume(c.resume, &o, &tr, &err)) cli_die_err(&err);
    } else if (c.init) {
        gguf_file *f;
        o = given;
        if (gptc_gguf_open(c.init, &f, &err)) cli_die("train: --init %s: %s", c.init, err.msg);
        if (gptc_tconfig_from_gguf(f, &o.cfg, &err))
            cli_die("train: --init %s: %s", c.init, err.msg);
        if (ctx > o.cfg.n_ctx)
            cli_die("train: --ctx %d is longer than the model's context (%d)", ctx, o.cfg.n_ctx);
        o.seq = ctx;
        if (gptc_trainer_init_from(&o, f, &tr, &err))
            cli_die("train: --init %s: %s", c.init, err.msg);
        gptc_gguf_close(f);
        if (c.lora_rank) {
            if (c.windowed) cli_die("train: LoRA with --windowed is not supported yet");
            if (gptc_trainer_set_lora(tr, c.lora_rank, c.lora_alpha, lora_mask, &err))
                cli_die_err(&err);
            c.ckpt_every = 0;
        }
    } else {
        o = given;
        o.cfg.arch = arch >= 0 ? (enum gptc_arch)arch : pr->arch;
        o.cfg.n_embd = dim ? dim : pr->dim;
        o.cfg.n_layer = layers ? layers : pr->layers;
        o.cfg.n_head = heads ? heads : pr->heads;
        o.cfg.n_head_kv = kv_heads ? kv_heads : (heads ? heads : pr->kv_heads);
        o.cfg.n_ctx = ctx ? ctx : pr->ctx;
        o.cfg.n_ff = ff;
        o.cfg.n_vocab = vocab;
        o.cfg.tied = !untied;
        if (untied && o.cfg.arch == GPTC_ARCH_GPT2)
            cli_die("train: gpt2 always ties its output to token_embd");
        if (o.cfg.arch == GPTC_ARCH_GPT2 && kv_heads && kv_heads != o.cfg.n_head)
            cli_die("train: gpt2 has no grouped-query attention: --kv-heads must equal --heads");
        if (o.cfg.arch == GPTC_ARCH_GPT2) o.cfg.n_head_kv = o.cfg.n_head;
        if (o.cfg.n_embd % o.cfg.n_head)
            cli_die("train: --dim %d is not divisible by --heads %d", o.cfg.n_embd, o.cfg.n_head);
        if (o.cfg.n_head % o.cfg.n_head_kv)
            cli_die("train: --heads %d is not divisible by --kv-heads %d", o.cfg.n_head,
                    o.cfg.n_head_kv);
        gguf_file *tok = NULL;
        if (strcmp(c.tokenizer, "byte") == 0) {
            if (gptc_tok_byte_gguf(&tok, &err)) cli_die_err(&err);
        } else {
            size_t n = strlen(c.tokenizer);
            if (n < 5 || strcmp(c.tokenizer + n - 5, ".gguf") != 0)
                cli_die("train: --tokenizer takes 'byte' or a GGUF file, not '%s'", c.tokenizer);
            gguf_file *src;
            if (gptc_gguf_open(c.tokenizer, &src, &err)) cli_die_err(&err);
            if (gptc_tok_copy_gguf(src, &tok, &err))
                cli_die("train: --tokenizer %s: %s", c.tokenizer, err.msg);
            gptc_gguf_close(src);
        }
        if (gptc_trainer_new(&o, tok, &tr, &err)) cli_die_err(&err);
        gptc_gguf_close(tok);
    }
    o = *gptc_trainer_opts(tr);
    const gptc_tconfig *cfg = &o.cfg;
    int B = o.batch, T = o.seq;

    /* data: rank 0 first (it writes the token cache), then the others (they read it) */
    gptc_data data;
    memset(&data, 0, sizeof data);
    gptc_sft chat;
    memset(&chat, 0, sizeof chat);
    char *tmpl = NULL;
    if (c.chat_template) {
        size_t n;
        tmpl = cli_read_file(c.chat_template, &n);
    }
    if (sft) {
        /* the template: --chat-template, the model's, or ChatML as gptc chat falls back to */
        const char *src = tmpl;
        char *own = NULL;
        if (!src) {
            gptc_str ts;
            const gguf_file *tk = gptc_trainer_tok_gguf(tr);
            if (gptc_gguf_find_kv(tk, "tokenizer.chat_template") &&
                !gptc_gguf_get_str(tk, "tokenizer.chat_template", &ts, &err)) {
                own = strndup(ts.p, ts.n);
                src = own;
            } else {
                src = gptc_chat_builtin("chatml");
                if (!c.quiet)
                    fprintf(stderr, "data: note: the model has no chat template: using ChatML, as "
                                    "gptc chat does\n");
            }
        }
        gptc_sft_opts so = {.tok = gptc_trainer_tokenizer(tr),
                            .tmpl = src,
                            .T = T,
                            .strict = c.strict,
                            .val_frac = o.val_frac,
                            .report = sft_report,
                            .ud = &g_rank};
        if (gptc_sft_load(c.data, c.val_data, &so, &chat, &err)) cli_die_err(&err);
        free(own);
        if (gptc_trainer_set_sft(tr, &chat, &err)) cli_die_err(&err);
        if (!c.sample_prompt) c.sample_every = 0;
    } else {
        if (g_rank != 0 && gptc_dist_barrier(g_dist, &err)) die_job(&err);
        char cache_buf[4096];
        if (gptc_data_load(c.data, gptc_trainer_tokenizer(tr), gptc_trainer_tok_hash(tr),
                           token_cache_dir(cache_buf, sizeof cache_buf), tok_progress, &tty, &data,
                           &err))
            cli_die_err(&err);
        if (g_dist && g_rank == 0 && gptc_dist_barrier(g_dist, &err)) die_job(&err);
        if (tty && !data.cached) fputs("\r", stderr);
        if (gptc_data_split(&data, o.val_frac, B, T, &err) ||
            gptc_trainer_set_data(tr, &data, &err))
            cli_die_err(&err);
    }
    if (g_dist || c.windowed || o.windowed) {
        if (gptc_trainer_set_dist(tr, g_dist, c.zero, &err)) cli_die_err(&err);
        uint64_t extra = (uint64_t)c.eval_every * 1000003u ^ (uint64_t)c.ckpt_every * 7919u;
        if (gptc_trainer_check_ranks(tr, extra, &err)) {
            if (g_rank == 0) fprintf(stderr, "gptc: %s\n", err.msg);
            gptc_dist_finalize(g_dist);
            return 1;
        }
        o = *gptc_trainer_opts(tr);
    }
    gptc_tmodel *m = gptc_trainer_model(tr);
    if (!c.quiet && sft) {
        fprintf(stderr,
                "data: %s: %zu conversations (%zu skipped), %zu tokens, %zu of them assistant "
                "tokens to learn, "
                "%zu train / %zu validation conversations\n",
                c.data, chat.n_conv, chat.n_bad, chat.n, chat.n_learn, chat.n_train,
                chat.n_conv - chat.n_train);
    }
    if (!c.quiet) {
        if (!sft)
            fprintf(stderr, "data: %s: %.1f MB, %zu tokens (%s), %zu train / %zu validation\n",
                    c.data, data.bytes / 1e6, data.n, data.cached ? "cached" : "tokenized",
                    data.n_train, data.n - data.n_train);
        if (data.note[0]) fprintf(stderr, "data: note: %s\n", data.note);
        if (c.init) fprintf(stderr, "init: %s\n", c.init);
        if (c.lora_rank)
            fprintf(stderr,
                    "lora: rank %d, alpha %g: %zu trainable parameters (%.2f%% of %zu); --out is "
                    "the adapter\n",
                    c.lora_rank, c.lora_alpha, gptc_trainer_n_trainable(tr),
                    100.0 * gptc_trainer_n_trainable(tr) / gptc_tmodel_n_params(m),
                    gptc_tmodel_n_params(m));
        fprintf(stderr,
                "model: %s, %.2fM parameters (dim %d, %d layers, %d heads, %d kv heads, ff %d, ctx "
                "%d, vocab %d%s), "
                "%.0f MB\n",
                gptc_arch_name(cfg->arch), gptc_tmodel_n_params(m) / 1e6, cfg->n_embd, cfg->n_layer,
                cfg->n_head, cfg->n_head_kv, cfg->n_ff, cfg->n_ctx, cfg->n_vocab,
                cfg->tied ? ", tied" : "",
                (gptc_tmodel_bytes(m) + 2.0 * gptc_tmodel_n_params(m) * 4) / 1e6);
        fprintf(stderr,
                "train: %d steps of %d x %d x %d tokens, lr %g -> %g (warmup %d), wd %g, clip %g, "
                "%d threads\n",
                o.steps, B, o.accum, T, o.lr, o.min_lr, o.warmup, o.weight_decay, o.clip,
                gptc_pool_size(gptc_tmodel_pool(m)));
        if (c.resume)
            fprintf(stderr, "resume: %s at step %d\n", c.resume, gptc_trainer_step_no(tr));
        if (o.windowed)
            fprintf(stderr, "data parallel: %d rank%s x %d threads, ZeRO-%d, %d windows per step\n",
                    gptc_dist_size(g_dist), gptc_dist_size(g_dist) == 1 ? "" : "s",
                    gptc_pool_size(gptc_tmodel_pool(m)), c.zero, B * o.accum);
    }
    if (c.ui) {
        if (gptc_train_ui_start("127.0.0.1", c.ui_port, &g_ui, &err))
            cli_die("train: --ui: %s", err.msg);
        fprintf(stderr, "train: dashboard at http://127.0.0.1:%d/\n", gptc_train_ui_port(g_ui));
        fflush(stderr);
    }
    if (log || g_ui) {
        json_t *cf = json_pack(
            "{s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:i, s:i, s:i, s:i, s:f, s:f, s:i, "
            "s:f, s:f, s:I, s:i, s:I, s:I, s:i}",
            "arch", gptc_arch_name(cfg->arch), "params", (json_int_t)gptc_tmodel_n_params(m), "dim",
            cfg->n_embd, "layers", cfg->n_layer, "heads", cfg->n_head, "kv_heads", cfg->n_head_kv,
            "ff", cfg->n_ff, "ctx", cfg->n_ctx, "vocab", cfg->n_vocab, "tied", cfg->tied, "steps",
            o.steps, "batch", B, "accum", o.accum, "warmup", o.warmup, "lr", (double)o.lr, "min_lr",
            (double)o.min_lr, "eval_every", c.eval_every, "weight_decay", (double)o.weight_decay,
            "clip", (double)o.clip, "seed", (json_int_t)o.seed, "threads",
            gptc_pool_size(gptc_tmodel_pool(m)), "train_tokens", (json_int_t)data.n_train,
            "val_tokens", (json_int_t)(data.n - data.n_train), "start_step",
            gptc_trainer_step_no(tr));
        if (cf) {
            json_object_set_new(cf, "data", gptc_srv_jstring_lossy(c.data, strlen(c.data)));
            json_object_set_new(cf, "out", gptc_srv_jstring_lossy(c.out, strlen(c.out)));
            json_object_set_new(cf, "ckpt_every", json_integer(c.ckpt_every));
            json_object_set_new(cf, "sample_every", json_integer(c.sample_every));
        }
        emit_json(cf ? json_pack("{s:o}", "config", cf) : NULL);
    }

    /* default sample prompt: the first tokens of the corpus, as text */
    char prompt_buf[256];
    if (!c.sample_prompt) {
        gptc_detok d;
        gptc_detok_init(&d);
        size_t o2 = 0;
        char piece[128];
        for (size_t i = 0; i < data.n && i < 8 && (int)i < T / 2; i++) {
            size_t k;
            if (gptc_detok_push(gptc_trainer_tokenizer(tr), &d, data.tok[i], piece, sizeof piece,
                                &k, &err))
                break;
            if (o2 + k >= sizeof prompt_buf - 16) break;
            memcpy(prompt_buf + o2, piece, k);
            o2 += k;
        }
        o2 += gptc_detok_flush(&d, prompt_buf + o2, sizeof prompt_buf - o2 - 1);
        prompt_buf[o2] = 0;
        c.sample_prompt = prompt_buf;
    }

    if (!g_dist) { /* in a job, mpirun ends every rank on Ctrl-C: the last checkpoint stays */
        signal(SIGINT, on_sigint);
        signal(SIGTERM, on_sigint);
        signal(SIGHUP, on_sigint); /* the terminal went away: checkpoint and stop, like SIGINT */
    }
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit: let the write fail with EFBIG and say so */

    double tokens_per_step = (double)B * T * o.accum, t_start = cli_now_ms(), ema = 0;
    int first = gptc_trainer_step_no(tr), last_ckpt = first;
    float last_val = NAN;
    while (gptc_trainer_step_no(tr) < o.steps && !g_stop) {
        double t0 = cli_now_ms();
        gptc_step_info info;
        if (gptc_trainer_step(tr, &info, &err)) {
            if (tty) fputc('\n', stderr);
            die_job(&err);
        }
        test_kill_hook(info.step);
        double dt = cli_now_ms() - t0, tok_s = tokens_per_step / (dt / 1e3);
        ema = ema == 0 ? dt : 0.9 * ema + 0.1 * dt;
        double eta_s = (o.steps - info.step) * ema / 1e3;
        char comm[48] = ""; /* a job's exchange time per step (bench/train_scaling.sh) */
        if (g_dist) snprintf(comm, sizeof comm, ",\"comm_ms\":%.1f", info.comm_s * 1e3);
        emit("{\"step\":%d,\"loss\":%.9g,\"lr\":%.9g,\"tok_s\":%.1f,\"grad_norm\":%.6g,\"eta_s\":%."
             "1f%s}",
             info.step, info.loss, info.lr, tok_s, isfinite(info.grad_norm) ? info.grad_norm : -1.0,
             eta_s, comm);
        int at_end = info.step == o.steps;
        if (!c.quiet) {
            char eta[32];
            fmt_eta(eta, sizeof eta, (o.steps - info.step) * ema / 1e3);
            if (tty)
                fprintf(stderr,
                        "\rstep %d/%d | loss %.4f | %.0f tok/s | lr %.2e | norm %.2f | ETA %s   ",
                        info.step, o.steps, info.loss, tok_s, info.lr, info.grad_norm, eta);
            else if (info.step % c.log_every == 0 || info.step == first + 1 || at_end)
                fprintf(stderr, "step %d/%d loss %.4f tok/s %.0f lr %.2e norm %.2f eta %s\n",
                        info.step, o.steps, info.loss, tok_s, info.lr, info.grad_norm, eta);
        }
        if ((c.eval_every && info.step % c.eval_every == 0) || at_end) {
            if (gptc_trainer_eval(tr, &last_val, &err)) die_job(&err);
            emit("{\"step\":%d,\"val_loss\":%.9g}", info.step, last_val);
            if (!c.quiet)
                fprintf(stderr, "%sstep %d: val loss %.4f\n", tty ? "\n" : "", info.step, last_val);
        }
        if (c.sample_every && info.step % c.sample_every == 0 && (!c.quiet || log || g_ui)) {
            char *text;
            if (gptc_trainer_sample(tr, c.sample_prompt, c.sample_len, 0.8f,
                                    o.seed + (uint64_t)info.step, &text, &err) == GPTC_OK) {
                if (!c.quiet)
                    fprintf(stderr, "%s--- sample at step %d ---\n%s\n---\n", tty ? "\n" : "",
                            info.step, text);
                if (log || g_ui)
                    emit_json(json_pack("{s:i, s:o}", "step", info.step, "sample",
                                        gptc_srv_jstring_lossy(text, strlen(text))));
                free(text);
            } else {
                fprintf(stderr, "%sgptc: sample: %s\n", tty ? "\n" : "", err.msg);
            }
        }
        if (c.ckpt_every && info.step % c.ckpt_every == 0 && !at_end) {
            if (gptc_trainer_save(tr, c.ckpt, 1, tmpl, &err)) {
                if (tty) fputc('\n', stderr);
                fprintf(stderr,
                        "gptc: train: checkpoint at step %d not written: %s (the previous "
                        "checkpoint is "
                        "intact)\n",
                        info.step, err.msg);
                if (g_dist) gptc_dist_abort(g_dist, 1);
                exit(1);
            }
            last_ckpt = info.step;
            emit_json(json_pack("{s:i, s:o}", "step", info.step, "checkpoint",
                                gptc_srv_jstring_lossy(c.ckpt, strlen(c.ckpt))));
        }
    }
    if (tty) fputc('\n', stderr);
    int done = gptc_trainer_step_no(tr);
    (void)last_ckpt;
    if (c.lora_rank) { /* the adapter is the result; no checkpoints */
        if (gptc_trainer_save_lora(tr, c.out, &err))
            cli_die("train: adapter not written: %s", err.msg);
        if (!c.quiet)
            fprintf(stderr, "done: %d steps%s; adapter %s\n", done - first,
                    g_stop ? " (stopped)" : "", c.out);
        free(tmpl);
        if (log) fclose(log);
        gptc_data_free(&data);
        gptc_sft_free(&chat);
        gptc_trainer_free(tr);
        return g_stop ? 130 : 0;
    }
    if (gptc_trainer_save(tr, c.ckpt, 1, tmpl, &err)) {
        fprintf(stderr,
                "gptc: train: checkpoint not written: %s (the previous checkpoint is intact)\n",
                err.msg);
        if (g_dist) gptc_dist_abort(g_dist, 1);
        exit(1);
    }
    emit_json(json_pack("{s:i, s:o}", "step", done, "checkpoint",
                        gptc_srv_jstring_lossy(c.ckpt, strlen(c.ckpt))));
    if (g_stop) {
        fprintf(stderr, "gptc: stopped at step %d; checkpoint %s (continue with --resume %s)\n",
                done, c.ckpt, c.ckpt);
    } else {
        if (gptc_trainer_save(tr, c.out, 0, tmpl, &err)) {
            fprintf(stderr, "gptc: train: model not written: %s\n", err.msg);
            if (g_dist) gptc_dist_abort(g_dist, 1);
            exit(1);
        }
        double secs = (cli_now_ms() - t_start) / 1e3;
        char val[64] = "";
        if (!isnan(last_val)) snprintf(val, sizeof val, ", val loss %.4f", last_val);
        if (!c.quiet)
            fprintf(stderr, "done: %d steps in %.1f s (%.0f tok/s)%s; model %s, checkpoint %s\n",
                    done - first, secs, secs > 0 ? (done - first) * tokens_per_step / secs : 0.0,
                    val, c.out, c.ckpt);
    }
    emit("{\"done\":true,\"step\":%d,\"stopped\":%s}", done, g_stop ? "true" : "false");
    gptc_train_ui_free(g_ui);
    g_ui = NULL;
    free(tmpl);
    if (log) fclose(log);
    gptc_data_free(&data);
    gptc_sft_free(&chat);
    gptc_trainer_free(tr);
    gptc_dist_finalize(g_dist);
    return g_stop ? 130 : 0;
}
