/* cmd_embed.c — `gptc embed MODEL [TEXT ...] [-f FILE]`: one embedding vector per input, as
 * JSON (OpenAI's embeddings list) or TSV. An embedding model (bert) pools as its file says;
 * a decoder gives the mean of its final normalised hidden states. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *k_help =
    "usage: gptc embed MODEL [TEXT ...] [options]\n"
    "\n"
    "Print the embedding of each TEXT; with -f FILE each non-empty line of FILE is an input; with\n"
    "neither, each non-empty line of stdin. Embedding models (bert: all-MiniLM, bge, e5 ...) pool\n"
    "as their file says (mean, CLS or last token); a text generator gives the mean of its final\n"
    "hidden states. Special tokens are added as the model's vocabulary says ([CLS] ... [SEP]).\n"
    "\n"
    "  -f, --file FILE       inputs, one per line\n"
    "      --normalize       scale each vector to unit length (L2), as the OpenAI API returns\n"
    "      --format F        json (default: OpenAI's list object) or tsv (one vector per line)\n"
    "  -t, --threads N       threads (default: all cores)\n"
    "      --cache-type-k T, --cache-type-v T   KV cache types: f32, f16 (default), q8_0\n"
    "      --tokenizer FILE  tokenizer.bin for a llama2.c checkpoint\n"
    "      --no-repack       keep the weights in the file's layout (no packed copy at load)\n";

typedef struct inputs {
    char **v;
    size_t n, cap;
} inputs;

static void add_input(inputs *in, const char *s, size_t n)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 16;
        in->v = realloc(in->v, in->cap * sizeof *in->v);
        if (!in->v) cli_die("out of memory");
    }
    char *c = malloc(n + 1);
    if (!c) cli_die("out of memory");
    memcpy(c, s, n);
    c[n] = 0;
    in->v[in->n++] = c;
}

static void add_lines(inputs *in, const char *buf, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && buf[e] != '\n')
            e++;
        size_t l = e;
        if (l > i && buf[l - 1] == '\r') l--;
        if (l > i) add_input(in, buf + i, l - i);
        i = e + 1;
    }
}

int cmd_embed(int argc, char **argv)
{
    const char *path = NULL, *file = NULL, *format = "json";
    int normalize = 0;
    gptc_model_params mp = gptc_model_default_params();
    gptc_ctx_params cp = gptc_ctx_default_params();
    inputs in = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "-f", "--file"))
            file = cli_value(argc, argv, &i);
        else if (cli_is(a, "--normalize", NULL))
            normalize = 1;
        else if (cli_is(a, "--format", NULL))
            format = cli_value(argc, argv, &i);
        else if (cli_is(a, "-t", "--threads"))
            cp.n_threads = (int)cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else if (cli_is(a, "--cache-type-k", NULL))
            cp.type_k = cli_cache_type(a, cli_value(argc, argv, &i));
        else if (cli_is(a, "--cache-type-v", NULL))
            cp.type_v = cli_cache_type(a, cli_value(argc, argv, &i));
        else if (cli_is(a, "--tokenizer", NULL))
            mp.tokenizer_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--no-repack", NULL))
            mp.no_repack = 1;
        else if (a[0] == '-' && a[1])
            cli_die("embed: unknown option '%s' (see gptc embed --help)", a);
        else if (!path)
            path = a;
        else
            add_input(&in, a, strlen(a));
    }
    if (!path) cli_die("embed: no model given (usage: gptc embed MODEL [TEXT ...])");
    if (strcmp(format, "json") != 0 && strcmp(format, "tsv") != 0)
        cli_die("embed: --format must be json or tsv, not '%s'", format);
    if (file && in.n) cli_die("embed: give the inputs as TEXT arguments or with -f, not both");
    if (file || !in.n) {
        size_t n;
        char *buf = cli_read_file(file ? file : "-", &n);
        add_lines(&in, buf, n);
        free(buf);
        if (!in.n) cli_die("embed: no input (every line of %s is empty)", file ? file : "stdin");
    }

    gptc_err err;
    gptc_model *m;
    if (gptc_model_load(path, &mp, &m, &err)) cli_die_err(&err);
    const gptc_hparams *hp = gptc_model_hparams(m);
    const gptc_tokenizer *tok = gptc_model_tokenizer(m);
    int whole = gptc_model_pooling(m) != 0; /* bidirectional: one batch per input */
    int limit = hp->n_ctx_train < 8192 ? hp->n_ctx_train : 8192;
    cp.n_ctx = limit;
    cp.n_batch = whole ? limit : 512;
    cp.embeddings = 1;
    gptc_ctx *c;
    if (gptc_ctx_init(m, &cp, &c, &err)) cli_die_err(&err);
    int D = hp->n_embd;
    long long total = 0;
    int32_t *pos = malloc((size_t)limit * sizeof *pos);
    if (!pos) cli_die("out of memory");
    for (int i = 0; i < limit; i++)
        pos[i] = i;
    int json = strcmp(format, "json") == 0;
    if (json) printf("{\"object\": \"list\", \"data\": [");
    for (size_t k = 0; k < in.n; k++) {
        size_t len = strlen(in.v[k]), n = 0;
        int add = gptc_tok_add_bos(tok);
        if (gptc_tok_encode(tok, in.v[k], len, add, 0, NULL, 0, &n, &err)) cli_die_err(&err);
        if (n == 0) cli_die("embed: input %zu has no tokens", k + 1);
        if (n > (size_t)limit)
            cli_die("embed: input %zu is %zu tokens; %s takes at most %d", k + 1, n, path, limit);
        int32_t *ids = malloc(n * sizeof *ids);
        if (!ids) cli_die("out of memory");
        if (gptc_tok_encode(tok, in.v[k], len, add, 0, ids, n, &n, &err)) cli_die_err(&err);
        gptc_kv_clear(c);
        for (size_t off = 0; off < n;) {
            size_t b = n - off < (size_t)cp.n_batch ? n - off : (size_t)cp.n_batch;
            gptc_batch batch = {.n_tokens = (int)b, .token = ids + off, .pos = pos + off};
            if (gptc_decode(c, &batch, &err)) cli_die("embed: input %zu: %s", k + 1, err.msg);
            off += b;
        }
        free(ids);
        total += (long long)n;
        const float *e = normalize ? gptc_get_embeddings(c, 0) : gptc_get_embeddings_raw(c, 0);
        if (!e) cli_die("embed: input %zu: no embedding", k + 1);
        if (json) {
            printf("%s\n  {\"object\": \"embedding\", \"index\": %zu, \"embedding\": [",
                   k ? "," : "", k);
            for (int i = 0; i < D; i++)
                printf("%s%.7g", i ? ", " : "", e[i]);
            printf("]}");
        } else {
            for (int i = 0; i < D; i++)
                printf("%s%.7g", i ? "\t" : "", e[i]);
            printf("\n");
        }
    }
    if (json) {
        const char *name = gptc_model_meta_str(m, "general.name", NULL);
        printf("\n], \"model\": \"");
        for (const char *p = name ? name : hp->arch; *p; p++) /* JSON string escaping */
            if (*p == '"' || *p == '\\')
                printf("\\%c", *p);
            else if ((unsigned char)*p < 0x20)
                printf("\\u%04x", *p);
            else
                putchar(*p);
        printf("\", \"usage\": {\"prompt_tokens\": %lld, \"total_tokens\": %lld}}\n", total, total);
    }
    for (size_t k = 0; k < in.n; k++)
        free(in.v[k]);
    free(in.v);
    free(pos);
    gptc_ctx_free(c);
    gptc_model_free(m);
    return 0;
}
