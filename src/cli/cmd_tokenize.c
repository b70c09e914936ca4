/* cmd_tokenize.c — `gptc tokenize MODEL|--encoding NAME [TEXT]`: ids and pieces, only the ids
 * (--ids) or only the count (--count). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

static const char *k_help =
    "usage: gptc tokenize MODEL [TEXT] [options]\n"
    "       gptc tokenize --encoding NAME [--vocab-file FILE] [TEXT] [options]\n"
    "\n"
    "Print the token ids and pieces of TEXT (read from stdin when no TEXT is given).\n"
    "MODEL may be a vocabulary-only GGUF. Byte-level vocabularies (GPT-2, Llama 3, Qwen2,\n"
    "tiktoken) print each token's bytes, with \\n, \\t, \\r, \\\\ and \\xNN escapes.\n"
    "\n"
    "      --encoding NAME   a tiktoken encoding instead of a model: r50k_base, p50k_base,\n"
    "                        p50k_edit, cl100k_base, o200k_base, gpt2, llama3\n"
    "      --vocab-file FILE its rank file; default NAME.tiktoken in $GPTC_TIKTOKEN_DIR,\n"
    "                        ~/.cache/gptc/tiktoken, share/gptc/tiktoken beside gptc's\n"
    "                        directory (shipped with gptc: all but llama3),\n"
    "                        /usr/local/share/gptc/tiktoken or /usr/share/gptc/tiktoken\n"
    "                        (gptc never downloads it)\n"
    "      --ids             only the ids, space-separated on one line\n"
    "      --count           only the number of tokens\n"
    "      --no-bos          do not add BOS\n"
    "      --special         parse special-token text such as <s> or <|endoftext|>\n"
    "  -f, --file FILE       read the text from FILE\n"
    "      --tokenizer FILE  tokenizer.bin for a llama2.c checkpoint\n";

/* bytes as a quoted piece: valid UTF-8 characters as they are, the rest escaped */
static void print_bytes(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    putchar('\'');
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c == '\n')
            fputs("\\n", stdout), i++;
        else if (c == '\t')
            fputs("\\t", stdout), i++;
        else if (c == '\r')
            fputs("\\r", stdout), i++;
        else if (c == '\\')
            fputs("\\\\", stdout), i++;
        else if (c >= 0x20 && c < 0x7F)
            putchar(c), i++;
        else {
            /* a complete, valid multi-byte character prints as itself */
            size_t k = c >= 0xC2 && c <= 0xDF   ? 2
                       : c >= 0xE0 && c <= 0xEF ? 3
                       : c >= 0xF0 && c <= 0xF4 ? 4
                                                : 0;
            int ok = k && i + k <= n;
            for (size_t j = 1; ok && j < k; j++)
                ok = (u[i + j] & 0xC0) == 0x80;
            if (ok && k == 3)
                ok = !(c == 0xE0 && u[i + 1] < 0xA0) && !(c == 0xED && u[i + 1] > 0x9F);
            if (ok && k == 4)
                ok = !(c == 0xF0 && u[i + 1] < 0x90) && !(c == 0xF4 && u[i + 1] > 0x8F);
            if (ok) {
                fwrite(u + i, 1, k, stdout);
                i += k;
            } else {
                printf("\\x%02X", c);
                i++;
            }
        }
    }
    putchar('\'');
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL, *file = NULL, *tok_path = NULL, *encoding = NULL,
               *vocab_file = NULL;
    int ids_only = 0, count_only = 0, no_bos = 0, special = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "--ids", NULL))
            ids_only = 1;
        else if (cli_is(a, "--count", NULL))
            count_only = 1;
        else if (cli_is(a, "--no-bos", NULL))
            no_bos = 1;
        else if (cli_is(a, "--special", NULL))
            special = 1;
        else if (cli_is(a, "-f", "--file"))
            file = cli_value(argc, argv, &i);
        else if (cli_is(a, "--tokenizer", NULL))
            tok_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--encoding", NULL))
            encoding = cli_value(argc, argv, &i);
        else if (cli_is(a, "--vocab-file", NULL))
            vocab_file = cli_value(argc, argv, &i);
        else if (a[0] == '-' && a[1])
            cli_die("tokenize: unknown option '%s' (see gptc tokenize --help)", a);
        else if (!path && !encoding)
            path = a;
        else if (!text)
            text = a;
        else
            cli_die("tokenize: unexpected argument '%s' (quote the text)", a);
    }
    if (encoding && path && !text) {
        text = path;
        path = NULL;
    } /* --encoding after the text */
    if (encoding && path) cli_die("tokenize: give a MODEL or --encoding NAME, not both");
    if (!path && !encoding)
        cli_die("tokenize: no model given (usage: gptc tokenize MODEL TEXT, or --encoding NAME)");
    if (vocab_file && !encoding) cli_die("tokenize: --vocab-file goes with --encoding NAME");
    if (file && text) cli_die("tokenize: give the text or --file, not both");

    gptc_err err;
    gptc_tokenizer *tok;
    if (encoding) {
        if (gptc_tok_load_tiktoken(encoding, vocab_file, &tok, &err)) cli_die_err(&err);
    } else {
        gguf_file *f;
        if (gptc_model_open_file(path, tok_path, &f, &err)) cli_die_err(&err);
        if (gptc_tokenizer_from_gguf(f, &tok, &err)) cli_die_err(&err);
        gptc_gguf_close(f);
    }
    size_t len;
    char *buf = NULL;
    if (file)
        text = buf = cli_read_file(file, &len);
    else if (text)
        len = strlen(text);
    else
        text = buf = cli_read_file("-", &len);

    size_t cap = len + 16, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) cli_die("out of memory");
    int add_bos = !no_bos && gptc_tok_add_bos(tok);
    if (gptc_tok_encode(tok, text, len, add_bos, special, ids, cap, &n, &err)) cli_die_err(&err);
    if (n > cap) cli_die("internal: text needs %zu tokens", n);
    if (count_only) {
        printf("%zu\n", n);
    } else if (ids_only) {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    } else {
        int byte_level = gptc_tokenizer_is_byte_level(tok);
        for (size_t i = 0; i < n; i++) {
            printf("%6d  ", ids[i]);
            if (byte_level) {
                char piece[1024];
                size_t pl = 0;
                if (gptc_tok_decode(tok, &ids[i], 1, 1, piece, sizeof piece, &pl, &err))
                    cli_die_err(&err);
                print_bytes(piece, pl < sizeof piece ? pl : sizeof piece);
                putchar('\n');
            } else {
                size_t pl;
                const char *piece = gptc_tok_piece(tok, ids[i], &pl);
                printf("'%.*s'\n", (int)pl, piece ? piece : "");
            }
        }
    }
    free(ids);
    free(buf);
    gptc_tokenizer_free(tok);
    return 0;
}
