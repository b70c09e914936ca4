/*
 * cmd_train_tokenizer.c — `gptc train-tokenizer --vocab N CORPUS... OUT.gguf`: learn byte-level
 * BPE merges from text (src/train/bpe_train.h) and write them as a GGUF tokenizer, which
 * `gptc train --tokenizer OUT.gguf` (and `gptc tokenize`) then use.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "format/gguf.h"
#include "train/bpe_train.h"

static const char *k_help =
    "usage: gptc train-tokenizer --vocab N CORPUS... OUT.gguf\n"
    "\n"
    "Learn a byte-level BPE tokenizer (GPT-2's pre-tokenizer regexes, merges learned from the\n"
    "corpus) and write it as a GGUF file holding the tokenizer keys. Use it with\n"
    "gptc train --tokenizer OUT.gguf.\n"
    "\n"
    "  --vocab N       tokens in the vocabulary: 256 bytes + merges + <|endoftext|> (required)\n"
    "  CORPUS          text files, or directories (their files, in name order)\n"
    "  -q, --quiet     no progress output\n";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(gptc_bpe_trainer *t, const char *path, uint64_t *bytes)
{
    size_t n;
    char *text = cli_read_file(path, &n);
    gptc_err err;
    if (gptc_bpe_train_add(t, text, n, &err)) cli_die("train-tokenizer: %s: %s", path, err.msg);
    *bytes += n;
    free(text);
}

static void add_path(gptc_bpe_trainer *t, const char *path, uint64_t *bytes, int *files)
{
    struct stat st;
    if (stat(path, &st) != 0) cli_die("train-tokenizer: cannot read '%s'", path);
    if (!S_ISDIR(st.st_mode)) {
        add_file(t, path, bytes);
        (*files)++;
        return;
    }
    DIR *d = opendir(path);
    if (!d) cli_die("train-tokenizer: cannot read directory '%s'", path);
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, (size_t)(n + 1) * sizeof *names);
        if (!names || !(names[n] = malloc(strlen(path) + strlen(e->d_name) + 2)))
            cli_die("out of memory");
        sprintf(names[n++], "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            add_file(t, names[i], bytes);
            (*files)++;
        }
        free(names[i]);
    }
    free(names);
}

static void on_progress(void *ud, int done, int total)
{
    if (*(int *)ud) fprintf(stderr, "\rmerges %d/%d", done, total);
}

int cmd_train_tokenizer(int argc, char **argv)
{
    long long vocab = 0;
    int quiet = 0, n_pos = 0;
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos) cli_die("out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            free(pos);
            return 0;
        } else if (cli_is(a, "--vocab", NULL))
            vocab = cli_int(a, cli_value(argc, argv, &i), 257, 1 << 24);
        else if (cli_is(a, "-q", "--quiet"))
            quiet = 1;
        else if (a[0] == '-' && a[1])
            cli_die("train-tokenizer: unknown option '%s' (see gptc train-tokenizer --help)", a);
        else
            pos[n_pos++] = a;
    }
    if (!vocab)
        cli_die("train-tokenizer: no --vocab N given (usage: gptc train-tokenizer --vocab N "
                "CORPUS... OUT.gguf)");
    if (n_pos < 2)
        cli_die("train-tokenizer: give the corpus and the output file (CORPUS... OUT.gguf)");
    const char *out = pos[n_pos - 1];
    FILE *probe = fopen(out, "ab");
    if (!probe) cli_die("train-tokenizer: cannot write '%s'", out);
    fclose(probe);

    gptc_err err;
    gptc_bpe_trainer *t;
    if (gptc_bpe_train_init(&t, &err)) cli_die_err(&err);
    double t0 = cli_now_ms();
    uint64_t bytes = 0;
    int files = 0;
    for (int i = 0; i < n_pos - 1; i++)
        add_path(t, pos[i], &bytes, &files);
    if (bytes == 0) cli_die("train-tokenizer: the corpus is empty");
    int tty = isatty(STDERR_FILENO) && !quiet;
    if (!quiet)
        fprintf(stderr, "corpus: %d files, %.1f MB, %llu pieces (%llu distinct) in %.1f s\n", files,
                bytes / 1e6, (unsigned long long)gptc_bpe_train_n_pieces(t),
                (unsigned long long)gptc_bpe_train_n_unique(t), (cli_now_ms() - t0) / 1e3);
    double t1 = cli_now_ms();
    if (gptc_bpe_train_run(t, (int)vocab, on_progress, &tty, &err)) cli_die_err(&err);
    if (tty) fputc('\n', stderr);
    gguf_file *g;
    if (gptc_bpe_train_gguf(t, &g, &err) || gptc_gguf_write(g, out, &err)) cli_die_err(&err);
    int merges = gptc_bpe_train_n_merges(t), n_tok = gptc_bpe_train_n_tokens(t);
    if (!quiet)
        fprintf(stderr, "learned %d merges in %.1f s; wrote %s (%d tokens)%s\n", merges,
                (cli_now_ms() - t1) / 1e3, out, n_tok,
                n_tok < vocab ? " - the corpus had no more pairs occurring twice" : "");
    gptc_gguf_close(g);
    gptc_bpe_train_free(t);
    free(pos);
    return 0;
}
