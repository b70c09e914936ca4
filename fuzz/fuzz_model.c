/*
 * fuzz_model.c — libFuzzer target for the model loader: each architecture's hyperparameter
 * reader, weight binder and context set-up, past the GGUF parser (fuzz_gguf covers that).
 *
 * Random bytes rarely make a GGUF that reaches an architecture's binder, so the input is a
 * recipe applied to one of the valid random-weight models of ../shared/data/gguf/arch (read once
 * in LLVMFuzzerInitialize; GPTC_DATA overrides the data directory): byte 0 picks the model, then
 * each 8-byte op changes one thing of the copy — drop a key, set a key to an integer, a float, a
 * bool, a string or an array of its own kind, drop a tensor, change a tensor's shape or type.
 * The copy is written to a file and loaded; when it loads, a context of 64 cells decodes two
 * tokens. Every outcome must be GPTC_OK or an error with a message: never a crash, a hang or
 * an out-of-bounds read. Seeds: fuzz/seeds/fuzz_model/ (recipes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "fuzz.h"
#include "gptc.h"

/* clang-format off */
static const char *const k_models[] = {
    "rand-llama3-d256-F32", "rand-qwen2-d128-F32", "rand-qwen3-d128-F32", "rand-gemma2-d128-F32",
    "rand-gemma3-d128-F32", "rand-gemma4-d128-F32", "rand-phi3-d128-F32", "rand-smollm3-d128-F32",
    "rand-bert-d128-F32", "rand-qwen3moe-d128-F32", "rand-gptoss-d128-MXFP4",
    "rand-qwen35-d128-F32", "rand-qwen35moe-d128-F32", "rand-lfm2-d64-F32",
};
/* clang-format on */
#define N_MODELS (sizeof k_models / sizeof *k_models)
#define MAX_OPS 8
#define JUNK_BYTES (8u << 20) /* data of a reshaped or retyped tensor (zeros) */

static gguf_file *g_src[N_MODELS];
static size_t g_n_src;
static gguf_file *g_by_index[N_MODELS];
static uint8_t *g_junk;
static char g_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *d = getenv("GPTC_DATA");
    if (!d || !*d) d = "../shared/data";
    for (size_t i = 0; i < N_MODELS; i++) {
        char path[1024];
        gptc_err err;
        snprintf(path, sizeof path, "%s/gguf/arch/%s.gguf", d, k_models[i]);
        if (gptc_gguf_open(path, &g_by_index[g_n_src], &err) == GPTC_OK) {
            g_src[g_n_src] = g_by_index[g_n_src];
            g_n_src++;
        }
    }
    g_junk = calloc(1, JUNK_BYTES);
    snprintf(g_path, sizeof g_path, "/tmp/gptc-fuzz-model-%d.gguf", (int)getpid());
    return 0;
}

typedef struct op {
    uint8_t kind, a, b, c;
    uint32_t v;
} op;

/* the copy of src with the ops applied, into f */
static void build(const gguf_file *src, const op *ops, int n_ops, gguf_file *f)
{
    gptc_err err;
    for (uint64_t i = 0; i < src->n_kv; i++) {
        const gguf_kv *kv = &src->kv[i];
        const op *o = NULL;
        for (int k = 0; k < n_ops; k++)
            if (ops[k].kind < 6 && ops[k].a % src->n_kv == i) o = &ops[k];
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.n, kv->key.p);
        if (o) {
            switch (o->kind) {
            case 0: /* drop */
                break;
            case 1:
                gptc_gguf_set_uint(f, key, o->b & 1 ? GGUF_VT_U32 : GGUF_VT_U64, o->v, &err);
                break;
            case 2:
                gptc_gguf_set_int(f, key, GGUF_VT_I32, (int32_t)o->v, &err);
                break;
            case 3: {
                float x;
                memcpy(&x, &o->v, sizeof x);
                gptc_gguf_set_f32(f, key, x, &err);
                break;
            }
            case 4:
                gptc_gguf_set_bool(f, key, (int)(o->v & 1), &err);
                break;
            default: { /* a string, or an array of o->b % 4 kinds and o->c values */
                static const int vt[] = {GGUF_VT_U32, GGUF_VT_I32, GGUF_VT_F32, GGUF_VT_BOOL};
                uint8_t buf[256 * 4];
                for (size_t j = 0; j < sizeof buf; j++)
                    buf[j] = (uint8_t)(o->v >> (8 * (j % 4)));
                if (o->b & 4)
                    gptc_gguf_set_str(f, key, (const char *)buf, o->c % 32, &err);
                else
                    gptc_gguf_set_arr(f, key, vt[o->b % 4], buf, o->c, &err);
            }
            }
            continue;
        }
        gptc_gguf_copy_kv(f, kv, &err);
    }
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const gguf_tensor *t = &src->tensors[i];
        const op *o = NULL;
        for (int k = 0; k < n_ops; k++)
            if (ops[k].kind >= 6 && ops[k].a % src->n_tensors == i) o = &ops[k];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
        if (!o) {
            gptc_gguf_add_tensor(f, name, t->type, t->n_dims, t->ne, t->data, &err);
            continue;
        }
        if (o->kind == 6) continue; /* drop */
        uint64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t nd = t->n_dims, type = t->type;
        if (o->kind == 7) { /* shape: dims o->b % 4 + 1, dim o->c % 4 = v */
            nd = (uint32_t)(o->b % 4) + 1;
            for (uint32_t j = t->n_dims; j < 4; j++)
                ne[j] = 1;
            ne[o->c % 4] = o->v % 4096 + 1;
        } else { /* type */
            static const uint32_t types[] = {0, 1, 2, 8, 12, 14, 30, 39, 10, 11, 20, 23};
            type = types[o->b % (sizeof types / sizeof *types)];
        }
        uint64_t n = 1;
        for (uint32_t j = 0; j < nd; j++)
            n *= ne[j];
        if (n * 4 > JUNK_BYTES) continue; /* too big to fill: dropped instead */
        gptc_gguf_add_tensor(f, name, type, nd, ne, g_junk, &err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_n_src || size < 1) return 0;
    const gguf_file *src = g_src[data[0] % g_n_src];
    op ops[MAX_OPS];
    int n_ops = 0;
    for (size_t p = 1; p + 8 <= size && n_ops < MAX_OPS; p += 8) {
        op *o = &ops[n_ops++];
        o->kind = data[p] % 9;
        o->a = data[p + 1];
        o->b = data[p + 2];
        o->c = data[p + 3];
        memcpy(&o->v, data + p + 4, 4);
    }
    gptc_err err;
    gguf_file *f;
    if (gptc_gguf_new(&f, &err)) return 0;
    build(src, ops, n_ops, f);
    int written = gptc_gguf_write(f, g_path, &err) == GPTC_OK;
    gptc_gguf_close(f);
    if (!written) return 0;

    gptc_model_params mp = gptc_model_default_params();
    gptc_model *m = NULL;
    if (gptc_model_load(g_path, &mp, &m, &err) != GPTC_OK) {
        if (!err.msg[0]) abort(); /* an error must say what is wrong */
        unlink(g_path);
        return 0;
    }
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    gptc_ctx *c = NULL;
    if (gptc_ctx_init(m, &cp, &c, &err) == GPTC_OK) {
        int32_t tok[2] = {1, 2}, pos[2] = {0, 1};
        gptc_batch b = {.n_tokens = 2, .token = tok, .pos = pos};
        if (gptc_decode(c, &b, &err) != GPTC_OK && !err.msg[0]) abort();
        gptc_ctx_free(c);
    } else if (!err.msg[0]) {
        abort();
    }
    gptc_model_free(m);
    unlink(g_path);
    return 0;
}
