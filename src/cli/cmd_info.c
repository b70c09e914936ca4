/* cmd_info.c — `gptc info MODEL`: metadata (long arrays summarised), tensors and totals; with
 * --mem, what running it costs in memory. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/ops.h"
#include "format/gguf.h"
#include "model/model.h"
#include "quant/quant.h"

static const char *k_help =
    "usage: gptc info MODEL [--tokenizer FILE] [--full] [--mem [--no-repack]]\n"
    "\n"
    "Print a model's metadata (keys, types, values; long arrays and strings summarised),\n"
    "its tensors (name, type, shape, bytes) and totals.\n"
    "\n"
    "      --tokenizer FILE  tokenizer.bin for a llama2.c checkpoint\n"
    "      --full            print strings in full\n"
    "      --mem             print only the memory a run takes: resident bytes (the file, "
    "mapped),\n"
    "                        weight bytes a decode step reads (an MoE: its active experts) and\n"
    "                        KV cache bytes per token of context; packed: the memory the\n"
    "                        weights packed at load take (run, chat, serve, bench; not with\n"
    "                        --no-repack)\n"
    "      --no-repack       with --mem: as a run with --no-repack (nothing packed)\n";

/* Print up to max bytes of s with control bytes, quotes and backslashes escaped. */
static void print_escaped(gptc_str s, size_t max)
{
    putchar('"');
    size_t n = s.n < max ? s.n : max;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == '\n')
            fputs("\\n", stdout);
        else if (ch == '\t')
            fputs("\\t", stdout);
        else if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            printf("\\x%02x", ch);
        else
            putchar(ch);
    }
    putchar('"');
    if (s.n > max) printf("... (%llu bytes)", (unsigned long long)s.n);
}

static void print_scalar(uint32_t type, const gguf_kv *kv)
{
    switch (type) {
    case GGUF_VT_U8:
    case GGUF_VT_U16:
    case GGUF_VT_U32:
    case GGUF_VT_U64:
        printf("%llu", (unsigned long long)kv->v.u);
        break;
    case GGUF_VT_I8:
    case GGUF_VT_I16:
    case GGUF_VT_I32:
    case GGUF_VT_I64:
        printf("%lld", (long long)kv->v.i);
        break;
    case GGUF_VT_F32:
    case GGUF_VT_F64:
        printf("%g", kv->v.f);
        break;
    case GGUF_VT_BOOL:
        fputs(kv->v.u ? "true" : "false", stdout);
        break;
    default:
        break;
    }
}

static void print_array(const gguf_kv *kv, size_t max_str)
{
    uint64_t n = kv->v.arr.n, shown = n < 6 ? n : 5;
    printf("[%s x %llu] [", gptc_gguf_vtype_name(kv->v.arr.type), (unsigned long long)n);
    for (uint64_t i = 0; i < shown; i++) {
        if (i) fputs(", ", stdout);
        uint32_t t = kv->v.arr.type;
        if (t == GGUF_VT_STR)
            print_escaped(gptc_gguf_arr_str(kv, i), max_str);
        else if (t == GGUF_VT_F32 || t == GGUF_VT_F64)
            printf("%g", gptc_gguf_arr_float(kv, i));
        else if (t == GGUF_VT_BOOL)
            fputs(gptc_gguf_arr_int(kv, i) ? "true" : "false", stdout);
        else
            printf("%lld", (long long)gptc_gguf_arr_int(kv, i));
    }
    if (n > shown) printf(", ... %llu more", (unsigned long long)(n - shown));
    putchar(']');
}

/* n bytes as "1.23 GB", "4.5 MB" or "640 B" into buf */
static const char *human(double n, char *buf, size_t cap)
{
    if (n >= 1e9)
        snprintf(buf, cap, "%.2f GB", n / 1e9);
    else if (n >= 1e6)
        snprintf(buf, cap, "%.1f MB", n / 1e6);
    else if (n >= 1e3)
        snprintf(buf, cap, "%.1f kB", n / 1e3);
    else
        snprintf(buf, cap, "%.0f B", n);
    return buf;
}

/* --mem: resident, read-per-token and per-token cache bytes of the model at path. */
static int print_mem(const char *path, const char *tok_path, int no_repack)
{
    gptc_err err;
    /* loaded without packing: the packed bytes are planned, not copied */
    gptc_model_params mp = {.tokenizer_path = tok_path, .no_repack = 1};
    gptc_model *m;
    if (gptc_model_load(path, &mp, &m, &err)) cli_die_err(&err);
    struct stat st;
    double file = stat(path, &st) == 0 ? (double)st.st_size : 0;
    double read = (double)gptc_model_weight_bytes(m);
    double kv16 = (double)gptc_kv_bytes(m, 1, 1, 1), kv32 = (double)gptc_kv_bytes(m, 1, 0, 0);
    const gptc_hparams *h = gptc_model_hparams(m);
    char b[32];
    printf("model: %s (%s)\n", path, h->arch);
    printf("resident:       %14.0f bytes  %10s  (the file, mapped)\n", file,
           human(file, b, sizeof b));
    printf("read per token: %14.0f bytes  %10s  (weights a decode step reads: %.0f%% of the "
           "file)\n",
           read, human(read, b, sizeof b), file > 0 ? 100.0 * read / file : 0.0);
    double packed = no_repack ? 0.0 : (double)gptc_model_repack_bytes(m);
    printf("packed:         %14.0f bytes  %10s  (weights packed at load for the %s kernels; "
           "--no-repack: none)\n",
           packed, human(packed, b, sizeof b), gptc_ops_get()->name);
    printf("KV per token:   %14.0f bytes  %10s  (f16 K and V; f32: %.0f bytes)\n", kv16,
           human(kv16, b, sizeof b), kv32);
    if (gptc_model_recurrent(m)) {
        double st_b = (double)gptc_state_bytes(m);
        printf("state:          %14.0f bytes  %10s  (recurrent state per sequence, any length)\n",
               st_b, human(st_b, b, sizeof b));
    }
    printf("KV at the trained context (%d tokens, f16): %s\n", h->n_ctx_train,
           human(kv16 * h->n_ctx_train, b, sizeof b));
    gptc_model_free(m);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL, *tok_path = NULL;
    int full = 0, mem = 0, no_repack = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "--tokenizer", NULL))
            tok_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--full", NULL))
            full = 1;
        else if (cli_is(a, "--mem", NULL))
            mem = 1;
        else if (cli_is(a, "--no-repack", NULL))
            no_repack = 1;
        else if (a[0] == '-' && a[1])
            cli_die("info: unknown option '%s' (see gptc info --help)", a);
        else if (!path)
            path = a;
        else
            cli_die("info: unexpected argument '%s'", a);
    }
    if (!path) cli_die("info: no model given (usage: gptc info MODEL)");
    if (no_repack && !mem) cli_die("info: --no-repack only applies with --mem");
    if (mem) return print_mem(path, tok_path, no_repack);
    gptc_err err;
    gguf_file *f;
    if (gptc_model_open_file(path, tok_path, &f, &err)) cli_die_err(&err);
    size_t max_str = full ? SIZE_MAX : 120;

    printf("file: %s (%s)\n", path, f->map && f->data_offset ? "GGUF" : "imported");
    printf("gguf version: %u, alignment: %llu\n", f->version, (unsigned long long)f->alignment);
    printf("\nmetadata: %llu keys\n", (unsigned long long)f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        printf("  %-44.*s %-5s ", (int)kv->key.n, kv->key.p,
               kv->type == GGUF_VT_ARR ? "arr" : gptc_gguf_vtype_name(kv->type));
        if (kv->type == GGUF_VT_STR)
            print_escaped(kv->v.str, max_str);
        else if (kv->type == GGUF_VT_ARR)
            print_array(kv, 40);
        else
            print_scalar(kv->type, kv);
        putchar('\n');
    }

    printf("\ntensors: %llu\n", (unsigned long long)f->n_tensors);
    uint64_t total_bytes = 0, total_params = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const gptc_type_traits *tt = gptc_type_info(t->type);
        char shape[128];
        int off = snprintf(shape, sizeof shape, "[");
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            off += snprintf(shape + off, sizeof shape - off, "%s%llu", d ? ", " : "",
                            (unsigned long long)t->ne[d]);
            n *= t->ne[d];
        }
        snprintf(shape + off, sizeof shape - off, "]");
        printf("  %-40.*s %-6s %-22s %12llu bytes\n", (int)t->name.n, t->name.p,
               tt ? tt->name : "?", shape, (unsigned long long)t->nbytes);
        total_bytes += t->nbytes;
        total_params += n;
    }
    printf("\ntotal: %llu tensors, %llu parameters, %.2f MiB of tensor data\n",
           (unsigned long long)f->n_tensors, (unsigned long long)total_params,
           total_bytes / 1048576.0);

    /* hyperparameters as gptc reads them, if the file is a model it can run */
    gptc_gguf_close(f);
    gptc_model_params mp = {.tokenizer_path = tok_path};
    gptc_model *m;
    if (gptc_model_load(path, &mp, &m, &err) == GPTC_OK) {
        const gptc_hparams *h = gptc_model_hparams(m);
        printf("model: %s, %d layers, dim %d, ffn %d, %d heads (%d kv), head dim %d, rope %d dims "
               "base %g, "
               "vocab %d, context %d, %s output\n",
               h->arch, h->n_layer, h->n_embd, h->n_ff, h->n_head, h->n_head_kv, h->head_dim,
               h->n_rot, h->rope_base, h->n_vocab, h->n_ctx_train,
               h->tied_output ? "tied" : "separate");
        char desc[1024];
        printf("architecture: %s\n", gptc_model_describe(m, desc, sizeof desc));
        gptc_model_free(m);
    } else {
        printf("model: not runnable by gptc: %s\n", err.msg);
    }
    return 0;
}
