/* cmd_tokenize.c — `gptc tokenize MODEL TEXT`: ids and pieces, or only ids with --ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

static const char *k_help =
    "usage: gptc tokenize MODEL [TEXT] [options]\n"
    "\n"
    "Print the token ids and pieces of TEXT (read from stdin when no TEXT is given).\n"
    "MODEL may be a vocabulary-only GGUF.\n"
    "\n"
    "      --ids             only the ids, space-separated on one line\n"
    "      --count           only the number of tokens\n"
    "      --no-bos          do not add BOS\n"
    "      --special         parse special-token text such as <s>\n"
    "  -f, --file FILE       read the text from FILE\n"
    "      --tokenizer FILE  tokenizer.bin for a llama2.c checkpoint\n";

static char *read_stdin(size_t *n)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) cli_die("out of memory");
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) cli_die("out of memory");
            buf = nb;
        }
    }
    *n = len;
    return buf;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL, *file = NULL, *tok_path = NULL;
    int ids_only = 0, count_only = 0, no_bos = 0, special = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) { fputs(k_help, stdout); return 0; }
        else if (cli_is(a, "--ids", NULL)) ids_only = 1;
        else if (cli_is(a, "--count", NULL)) count_only = 1;
        else if (cli_is(a, "--no-bos", NULL)) no_bos = 1;
        else if (cli_is(a, "--special", NULL)) special = 1;
        else if (cli_is(a, "-f", "--file")) file = cli_value(argc, argv, &i);
        else if (cli_is(a, "--tokenizer", NULL)) tok_path = cli_value(argc, argv, &i);
        else if (a[0] == '-' && a[1]) cli_die("tokenize: unknown option '%s' (see gptc tokenize --help)", a);
        else if (!path) path = a;
        else if (!text) text = a;
        else cli_die("tokenize: unexpected argument '%s' (quote the text)", a);
    }
    if (!path) cli_die("tokenize: no model given (usage: gptc tokenize MODEL TEXT)");
    size_t len;
    char *buf = NULL;
    if (file) text = buf = cli_read_file(file, &len);
    else if (text) len = strlen(text);
    else text = buf = read_stdin(&len);

    gptc_err err;
    gguf_file *f;
    if (gptc_model_open_file(path, tok_path, &f, &err)) cli_die_err(&err);
    gptc_tokenizer *tok;
    if (gptc_tokenizer_from_gguf(f, &tok, &err)) cli_die_err(&err);
    gguf_close(f);

    size_t cap = len + 16, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) cli_die("out of memory");
    int add_bos = !no_bos && gptc_tok_add_bos(tok);
    if (gptc_tok_encode(tok, text, len, add_bos, special, ids, cap, &n, &err)) cli_die_err(&err);
    if (n > cap) cli_die("internal: text needs %zu tokens", n);
    if (count_only) {
        printf("%zu\n", n);
    } else if (ids_only) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t pl;
            const char *piece = gptc_tok_piece(tok, ids[i], &pl);
            printf("%6d  '%.*s'\n", ids[i], (int)pl, piece ? piece : "");
        }
    }
    free(ids);
    free(buf);
    gptc_tokenizer_free(tok);
    return 0;
}
