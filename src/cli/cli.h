/*
 * cli.h — what the subcommands share: argument parsing helpers, error exit, timing.
 * Only src/cli/ talks to the user: one-line errors on stderr and exit code 1.
 */
#ifndef GPTC_CLI_H
#define GPTC_CLI_H

#include <stdint.h>

#include "gptc.h"
#include "server/server.h"

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_train_tokenizer(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cli_bench_spec(int argc, char **argv); /* gptc bench --spec (bench_spec.c) */
int cmd_perplexity(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_merge_lora(int argc, char **argv);

/* Print "gptc: <message>" to stderr and exit 1. */
void cli_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Die with the library's message. */
void cli_die_err(const gptc_err *err) __attribute__((noreturn));

/* The value after option argv[*i] (advancing *i), or die naming the option. */
const char *cli_value(int argc, char **argv, int *i);
long long cli_int(const char *opt, const char *s, long long lo, long long hi);
/* --cache-type-k/-v value: f32, f16 or q8_0 (the gptc_ctx_params type number); dies otherwise */
int cli_cache_type(const char *opt, const char *s);
double cli_float(const char *opt, const char *s, double lo, double hi);
/* "context N tokens (trained T, capped by the B MiB KV budget ...), KV cache X MiB (f16 K, f16
 * V)" for ctx over n_seq sequences; asked: the size came from --ctx. */
const char *cli_ctx_line(char *buf, size_t n, const gptc_model *m, const gptc_ctx *ctx, int n_seq,
                         int tk, int tv, int asked);
int cli_is(const char *arg, const char *a, const char *b); /* arg equals a or b (b may be NULL) */

double cli_now_ms(void);
/* Read a whole file (for -f; "-" is standard input); dies on error. OUT: malloc'd, NUL-terminated;
 * *n its length. */
char *cli_read_file(const char *path, size_t *n);

/* The sampling options run and chat share (--temp, --top-k, --top-p, --min-p, --repeat-penalty,
 * --repeat-last-n, --presence-penalty, --frequency-penalty, -s/--seed): when argv[*i] is one,
 * store its value in *sp (advancing *i past it; *seed_set = 1 for the seed) and return 1; else
 * return 0. Bad values die naming the option. CLI_SAMPLER_HELP is their --help text. */
int cli_sampler_opt(int argc, char **argv, int *i, gptc_sampler_params *sp, int *seed_set);
#define CLI_SAMPLER_HELP                                                                           \
    "      --temp T            temperature, 0 = greedy (default 0.8)\n"                            \
    "      --top-k K           keep the K most likely tokens, 0 = off (default 40)\n"              \
    "      --top-p P           nucleus sampling, 1 = off (default 0.95)\n"                         \
    "      --min-p P           drop tokens below P x the top probability, 0 = off (default "       \
    "0.05)\n"                                                                                      \
    "      --repeat-penalty R  penalise recent tokens, 1 = off (default 1)\n"                      \
    "      --repeat-last-n N   tokens the penalties look back over (default 64)\n"                 \
    "      --presence-penalty P, --frequency-penalty F   OpenAI-style penalties (default 0)\n"     \
    "  -s, --seed S            random seed (default: from the clock; run prints it, chat /show "   \
    "parameters)\n"

/* --lora FILE[:SCALE] of run, chat and serve (docs/finetune.md). */
#define CLI_MAX_LORA 8
typedef struct cli_lora {
    int n;
    const char *path[CLI_MAX_LORA];
    float scale[CLI_MAX_LORA];
} cli_lora;
#define CLI_LORA_HELP                                                                              \
    "      --lora FILE[:SCALE] apply a LoRA adapter (llama.cpp's GGUF layout; repeatable)\n"
void cli_lora_add(cli_lora *l, const char *value);
/* The model at path with the adapters merged (a GGUF builder); dies on error. */
struct gguf_file *cli_lora_merge(const char *model_path, const cli_lora *l);
/* gptc_model_load, with the adapters of l merged in when there are any; dies on error. */
gptc_model *cli_load_model(const char *path, const gptc_model_params *mp, const cli_lora *l);
/* The engine options gptc serve and gptc batch share: --parallel, -c/--ctx, --ctx-seq,
 * --cache-type-k/-v, -b/--batch, -t/--threads, --chat-template, --seed, --tokenizer, --no-repack,
 * --lora.
 * cli_engine_opt stores the value of argv[*i] when it is one of them (advancing *i) and
 * returns 1, else 0; cli_engine_finish then loads the --chat-template choice into *sp and
 * cli_load_model(path, mp, &e->lora) loads the model. CLI_ENGINE_HELP(PARALLEL, SEED) is their
 * help, with the command's defaults for --parallel and --seed. */
typedef struct cli_engine {
    const char *tmpl_arg; /* --chat-template NAME|FILE, or NULL */
    char *tmpl_file;      /* the file's text once loaded (owned; freed by cli_engine_free) */
    cli_lora lora;
} cli_engine;
int cli_engine_opt(int argc, char **argv, int *i, cli_engine *e, gptc_server_params *sp,
                   gptc_model_params *mp);
void cli_engine_finish(cli_engine *e, gptc_server_params *sp);
void cli_engine_free(cli_engine *e);
#define CLI_ENGINE_HELP(PARALLEL, SEED)                                                            \
    "      --parallel N      requests decoded together, 1..64 (default " PARALLEL ")\n"            \
    "  -c, --ctx N           KV cells shared by all requests (default: --ctx-seq x --parallel)\n"  \
    "      --cache-type-k T, --cache-type-v T   KV cache types: f32, f16 (default), q8_0\n"        \
    "      --swa-full        sliding-window layers keep every position, not a window-sized\n"      \
    "                        ring (models mixing window and global layers: Gemma 2/3/4)\n"         \
    "      --ctx-seq N       most tokens of one request, prompt + reply (default: the model's\n"   \
    "                        trained context, capped so the KV cache of all requests fits in\n"    \
    "                        1 GiB; with --ctx: at most --ctx)\n"                                  \
    "  -b, --batch N         most tokens one decode step carries (default 512)\n"                  \
    "  -t, --threads N       decode threads (default: all cores but one)\n"                        \
    "      --chat-template NAME|FILE   a built-in template (chatml, llama2, llama3, mistral,\n"    \
    "                        gemma, phi3, zephyr) or a Jinja file (default: the model's own)\n"    \
    "      --seed S          base seed of requests that give none (default " SEED ")\n"            \
    "      --tokenizer FILE  tokenizer.bin for a llama2.c checkpoint\n"                            \
    "      --no-repack       keep the weights in the file's layout (no packed copy at "            \
    "load)\n" CLI_LORA_HELP

/* Exit with a clear error when m is an embedding model (no classifier): cmd cannot run it. */
void cli_need_generator(const char *cmd, const char *path, const gptc_model *m);
int cmd_embed(int argc, char **argv);

/* Speculative decoding options of run, chat and bench (docs/speculative.md): --spec
 * lookup|draft|none, --spec-n N, --spec-ngram N, --draft MODEL. cli_spec_opt stores argv[*i]
 * when it is one of them (advancing *i) and returns 1, else 0; cli_spec_setup checks them
 * against the model (dies with a one-line error: a model with recurrent state, a draft model
 * with another vocabulary) and loads the draft model; cli_spec_draft proposes up to n_max
 * tokens to follow hist. */
enum { CLI_SPEC_NONE = 0, CLI_SPEC_LOOKUP, CLI_SPEC_DRAFT };
typedef struct cli_spec {
    int mode;  /* CLI_SPEC_* */
    int n_max; /* --spec-n: most draft tokens per step */
    int ngram; /* --spec-ngram: the longest suffix prompt lookup matches */
    int n_set; /* --spec-n or --spec-ngram given */
    int cur;   /* the draft length now (starts at 2): halved after a pass that accepted nothing,
                * doubled   after one that accepted all (up to n_max), so a context with nothing to
                * look   up costs little */
    /* the cost check: ms per token of passes with and without a draft (moving averages; a
     * pass without one is forced at the 2nd and 3rd pass and every 16th). When drafting is slower
     * per token than not drafting, the draft length is halved, down to off; while off, one pass in
     * 32 tries a one-token draft and turns drafting back on when that was faster. */
    double t_mark, t_plain, t_spec;
    int n_plain, n_spec, pass, off, probing;
    const char *draft_path;
    gptc_model *dmodel;
    gptc_drafter *drafter;
    long long drafted, accepted, passes, tokens; /* statistics of the decode */
} cli_spec;
#define CLI_SPEC_HELP                                                                              \
    "      --spec MODE         speculative decoding: lookup (drafts copied from the context),\n"   \
    "                          draft (a draft model, --draft) or none (default; --draft alone\n"   \
    "                          means draft)\n"                                                     \
    "      --spec-n N          most draft tokens verified per step, 1..64 (default 8)\n"           \
    "      --spec-ngram N      lookup: the longest context suffix matched, 1..16 (default 3)\n"    \
    "      --draft MODEL       the draft model (same vocabulary as MODEL)\n"
void cli_spec_init(cli_spec *sp);
int cli_spec_opt(int argc, char **argv, int *i, cli_spec *sp);
void cli_spec_setup(cli_spec *sp, const char *cmd, const gptc_model *model,
                    const gptc_ctx_params *cp);
int cli_spec_draft(cli_spec *sp, const int32_t *hist, int n_hist, int32_t *out, int n_max);
/* After a pass (cli_spec_draft was called before it): m tokens drafted, a accepted (adapts
 * the draft length). */
void cli_spec_feedback(cli_spec *sp, int m, int a);
/* One decode pass (run and bench share it): with sp, drafts up to room tokens to follow hist
 * (cli_spec_draft; counted in sp->drafted); then decodes id at position p followed by the m
 * drafts, with logits for every row (row i is sampled against draft i). Without sp (no --spec,
 * or no draft this pass) the pass is id alone. OUT: btok[0] = id, btok[1..m] the draft
 * (CLI_SPEC_MAX + 1 entries). Returns m; dies on a decode error. */
#define CLI_SPEC_MAX 64 /* most draft tokens of one pass (--spec-n's limit) */
int cli_spec_step(cli_spec *sp, gptc_ctx *ctx, const int32_t *hist, int n_hist, int room,
                  int32_t id, int32_t p, int32_t *btok);
/* The drafter lost track of the sequence (it was cut or cleared): start over. */
void cli_spec_reset(cli_spec *sp);
/* " | spec lookup: 40/64 drafts accepted (62.5%), 2.41 tok/pass" or "" when off. */
const char *cli_spec_line(const cli_spec *sp, char *buf, size_t n);
void cli_spec_free(cli_spec *sp);

#endif
