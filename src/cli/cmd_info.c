/* cmd_info.c — `gptc info MODEL`: metadata (long arrays summarised), tensors and totals. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "format/gguf.h"
#include "model/model.h"
#include "quant/quant.h"

static const char *k_help =
    "usage: gptc info MODEL [--tokenizer FILE] [--full]\n"
    "\n"
    "Print a model's metadata (keys, types, values; long arrays and strings summarised),\n"
    "its tensors (name, type, shape, bytes) and totals.\n"
    "\n"
    "      --tokenizer FILE  tokenizer.bin for a llama2.c checkpoint\n"
    "      --full            print strings in full\n";

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

int cmd_info(int argc, char **argv)
{
    const char *path = NULL, *tok_path = NULL;
    int full = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is(a, "-h", "--help")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_is(a, "--tokenizer", NULL))
            tok_path = cli_value(argc, argv, &i);
        else if (cli_is(a, "--full", NULL))
            full = 1;
        else if (a[0] == '-' && a[1])
            cli_die("info: unknown option '%s' (see gptc info --help)", a);
        else if (!path)
            path = a;
        else
            cli_die("info: unexpected argument '%s'", a);
    }
    if (!path) cli_die("info: no model given (usage: gptc info MODEL)");
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
