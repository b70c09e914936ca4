/* test_llama2c.c — the llama2.c importer against llama.cpp's own conversion of the same files,
 * synthetic checkpoints (layout, separate classifier) and a table of bad inputs. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/llama2c.h"
#include "quant/quant.h"
#include "test.h"

static char g_ckpt[512], g_tok[512], g_ref[512];

static int has(const char *msg, const char *sub)
{
    return strstr(msg, sub) != NULL;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, fp) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(fp);
    *n = (size_t)sz;
    return p;
}

static int spit(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    int ok = fwrite(p, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

/* the host is little-endian (x86), like the files */
static void put_i32(uint8_t *p, int32_t v)
{
    memcpy(p, &v, 4);
}

/* ----- against llama.cpp's converter ----- */

static int kv_equal(const gguf_kv *a, const gguf_kv *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case GGUF_VT_STR:
        return a->v.str.n == b->v.str.n && !memcmp(a->v.str.p, b->v.str.p, a->v.str.n);
    case GGUF_VT_F32:
    case GGUF_VT_F64:
        return a->v.f == b->v.f;
    case GGUF_VT_I8:
    case GGUF_VT_I16:
    case GGUF_VT_I32:
    case GGUF_VT_I64:
        return a->v.i == b->v.i;
    case GGUF_VT_ARR:
        if (a->v.arr.type != b->v.arr.type || a->v.arr.n != b->v.arr.n) return 0;
        for (uint64_t i = 0; i < a->v.arr.n; i++) {
            switch (a->v.arr.type) {
            case GGUF_VT_STR: {
                gptc_str x = gptc_gguf_arr_str(a, i), y = gptc_gguf_arr_str(b, i);
                if (x.n != y.n || memcmp(x.p, y.p, x.n)) return 0;
                break;
            }
            case GGUF_VT_F32:
            case GGUF_VT_F64:
                if (gptc_gguf_arr_float(a, i) != gptc_gguf_arr_float(b, i)) return 0;
                break;
            default:
                if (gptc_gguf_arr_int(a, i) != gptc_gguf_arr_int(b, i)) return 0;
            }
        }
        return 1;
    default:
        return a->v.u == b->v.u;
    }
}

static void test_matches_reference(void)
{
    gguf_file *ours = NULL, *ref = NULL;
    gptc_err err;
    gptc_status st = gptc_llama2c_import(g_ckpt, g_tok, &ours, &err);
    CHECK(st == GPTC_OK && ours, "import %s: %s", g_ckpt, err.msg);
    st = gptc_gguf_open(g_ref, &ref, &err);
    CHECK(st == GPTC_OK && ref, "open %s: %s", g_ref, err.msg);
    if (!ours || !ref) {
        gptc_gguf_close(ours);
        gptc_gguf_close(ref);
        return;
    }

    /* tensors: same shape, type and bytes; output.weight only in the reference */
    CHECK(ours->n_tensors + 1 == ref->n_tensors, "%llu tensors (reference %llu incl. output)",
          (unsigned long long)ours->n_tensors, (unsigned long long)ref->n_tensors);
    CHECK(!gptc_gguf_find_tensor(ours, "output.weight"), "shared classifier: no output.weight");
    int bad = 0;
    for (uint64_t i = 0; i < ref->n_tensors; i++) {
        const gguf_tensor *r = &ref->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)r->name.n, r->name.p);
        const char *want = strcmp(name, "output.weight") == 0 ? "token_embd.weight" : name;
        const gguf_tensor *o = gptc_gguf_find_tensor(ours, want);
        if (!o) {
            CHECK(0, "tensor %s missing", want);
            bad++;
            continue;
        }
        int same = o->n_dims == r->n_dims && o->type == r->type && o->nbytes == r->nbytes;
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            same &= o->ne[d] == r->ne[d];
        CHECK(same, "tensor %s (as %s): shape/type differ: ours %u dims %llux%llu type %u", name,
              want, o->n_dims, (unsigned long long)o->ne[0], (unsigned long long)o->ne[1], o->type);
        if (same) {
            int eq = memcmp(o->data, r->data, r->nbytes) == 0;
            CHECK(eq, "tensor %s (as %s): data differ", name, want);
            bad += !eq;
        } else {
            bad++;
        }
    }
    CHECK(bad == 0, "all %llu reference tensors match", (unsigned long long)ref->n_tensors);
    /* tensor data are views into the mapping, starting at byte 28 */
    const gguf_tensor *te = gptc_gguf_find_tensor(ours, "token_embd.weight");
    CHECK(te && ours->map && (const uint8_t *)te->data == ours->map + 28 && ours->owns_map,
          "token_embd is a view at byte 28 of the owned mapping");
    CHECK(ours->map_size == 1056540, "map_size %zu", ours->map_size);

    /* hyperparameters and architecture keys: identical, except the context length */
    static const char *const keys[] = {
        "general.architecture",
        "general.name",
        "llama.embedding_length",
        "llama.feed_forward_length",
        "llama.attention.head_count",
        "llama.attention.head_count_kv",
        "llama.block_count",
        "llama.rope.dimension_count",
        "llama.attention.layer_norm_rms_epsilon",
        "tokenizer.ggml.model",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.scores",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const gguf_kv *a = gptc_gguf_find_kv(ours, keys[i]), *b = gptc_gguf_find_kv(ref, keys[i]);
        CHECK(a && b && kv_equal(a, b), "key %s: %s", keys[i],
              !a   ? "missing in ours"
              : !b ? "missing in reference"
                   : "values differ");
    }
    /* llama.cpp's converter writes its own default (128); the checkpoint says seq_len 512 */
    const gguf_kv *cl = gptc_gguf_find_kv(ours, "llama.context_length");
    CHECK(cl && cl->type == GGUF_VT_U32 && cl->v.u == 512, "context_length = seq_len 512");
    int64_t v;
    CHECK(gptc_gguf_get_int(ours, "llama.block_count", &v, &err) == GPTC_OK && v == 5,
          "block_count via gptc_gguf_get_int");

    /* what gptc convert does: write it out and read it back */
    char out_path[600];
    snprintf(out_path, sizeof out_path, "/tmp/test_llama2c_%d.gguf", (int)getpid());
    st = gptc_gguf_write(ours, out_path, &err);
    CHECK(st == GPTC_OK, "gptc_gguf_write: %s", err.msg);
    gguf_file *back = NULL;
    if (st == GPTC_OK) {
        st = gptc_gguf_open(out_path, &back, &err);
        CHECK(st == GPTC_OK, "reopen written file: %s", err.msg);
    }
    if (back) {
        int ok = back->n_tensors == ours->n_tensors;
        for (uint64_t i = 0; ok && i < ours->n_tensors; i++) {
            const gguf_tensor *a = &ours->tensors[i], *b = &back->tensors[i];
            ok = a->name.n == b->name.n && !memcmp(a->name.p, b->name.p, a->name.n) &&
                 a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes);
        }
        CHECK(ok, "written GGUF holds the same tensors");
        const gguf_kv *a = gptc_gguf_find_kv(back, "llama.rope.dimension_count");
        CHECK(a && a->v.u == 8, "written GGUF keeps the keys");
        gptc_gguf_close(back);
    }
    unlink(out_path);
    gptc_gguf_close(ours);
    gptc_gguf_close(ref);
}

/* ----- synthetic checkpoints: layout ----- */

typedef struct cfg {
    int32_t dim, hidden, layers, heads, kv_heads, vocab, seq;
} cfg;

/* A checkpoint whose float k (0-based, after the header) holds the value k. */
static uint8_t *make_ckpt(cfg c, size_t *n)
{
    int64_t V = c.vocab < 0 ? -(int64_t)c.vocab : c.vocab;
    int64_t S = c.dim / c.heads, KV = S * c.kv_heads, D = c.dim, F = c.hidden, L = c.layers;
    int64_t floats = V * D + L * D + L * D * D + 2 * L * KV * D + L * D * D + L * D +
                     3 * L * F * D + D + c.seq * S + (c.vocab < 0 ? V * D : 0);
    *n = 28 + (size_t)floats * 4;
    uint8_t *p = malloc(*n);
    int32_t h[7] = {c.dim, c.hidden, c.layers, c.heads, c.kv_heads, c.vocab, c.seq};
    for (int i = 0; i < 7; i++)
        put_i32(p + 4 * i, h[i]);
    for (int64_t k = 0; k < floats; k++) {
        float f = (float)k;
        memcpy(p + 28 + 4 * k, &f, 4);
    }
    return p;
}

static float first(const gguf_file *f, const char *name)
{
    const gguf_tensor *t = gptc_gguf_find_tensor(f, name);
    if (!t) return -1.0f;
    float v;
    memcpy(&v, t->data, 4);
    return v;
}

static int shape(const gguf_file *f, const char *name, uint64_t ne0, uint64_t ne1)
{
    const gguf_tensor *t = gptc_gguf_find_tensor(f, name);
    if (!t || t->type != GPTC_TYPE_F32) return 0;
    if (ne1 == 0) return t->n_dims == 1 && t->ne[0] == ne0;
    return t->n_dims == 2 && t->ne[0] == ne0 && t->ne[1] == ne1;
}

static void test_layout(const uint8_t *tok, size_t tok_n)
{
    for (int sep = 0; sep <= 1; sep++) {
        /* V 512 so tok512.bin covers it; D 16, F 24, L 3, H 4, KV 2, S 4, T 6 */
        cfg c = {16, 24, 3, 4, 2, sep ? -512 : 512, 6};
        size_t n;
        uint8_t *p = make_ckpt(c, &n);
        gguf_file *f = NULL;
        gptc_err err;
        gptc_status st = gptc_llama2c_parse(p, n, tok, tok_n, &f, &err);
        CHECK(st == GPTC_OK, "synthetic (sep %d): %s", sep, err.msg);
        if (f) {
            const int64_t V = 512, D = 16, F = 24, L = 3, KV = 8, T = 6, S = 4;
            int64_t o_tok = 0, o_ra = V * D, o_wq = o_ra + L * D, o_wk = o_wq + L * D * D,
                    o_wv = o_wk + L * KV * D, o_wo = o_wv + L * KV * D, o_rf = o_wo + L * D * D,
                    o_w1 = o_rf + L * D, o_w2 = o_w1 + L * F * D, o_w3 = o_w2 + L * D * F,
                    o_fin = o_w3 + L * F * D, o_cls = o_fin + D + T * S;
            CHECK(f->n_tensors == (uint64_t)(2 + sep + 9 * L), "tensor count %llu (sep %d)",
                  (unsigned long long)f->n_tensors, sep);
            CHECK(first(f, "token_embd.weight") == o_tok && shape(f, "token_embd.weight", D, V),
                  "token_embd");
            CHECK(first(f, "output_norm.weight") == o_fin && shape(f, "output_norm.weight", D, 0),
                  "output_norm");
            if (sep)
                CHECK(first(f, "output.weight") == o_cls && shape(f, "output.weight", D, V),
                      "separate classifier after the freq_cis tables (%g vs %lld)",
                      first(f, "output.weight"), (long long)o_cls);
            else
                CHECK(!gptc_gguf_find_tensor(f, "output.weight"), "shared: no output.weight");
            int ok = 1;
            for (int l = 0; l < L; l++) {
                char nm[64];
#define T_(suffix, off, ne0, ne1)                                                                  \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, suffix);                                    \
        int good = first(f, nm) == (float)(off) && shape(f, nm, ne0, ne1);                         \
        CHECK(good, "%s: first %g, expected %lld", nm, first(f, nm), (long long)(off));            \
        ok &= good;                                                                                \
    } while (0)
                T_("attn_norm", o_ra + l * D, D, 0);
                T_("attn_q", o_wq + l * D * D, D, D);
                T_("attn_k", o_wk + l * KV * D, D, KV);
                T_("attn_v", o_wv + l * KV * D, D, KV);
                T_("attn_output", o_wo + l * D * D, D, D);
                T_("ffn_norm", o_rf + l * D, D, 0);
                T_("ffn_gate", o_w1 + l * F * D, D, F);
                T_("ffn_down", o_w2 + l * D * F, F, D);
                T_("ffn_up", o_w3 + l * F * D, D, F);
#undef T_
            }
            CHECK(ok, "all layer tensors at their offsets (sep %d)", sep);
            const gguf_kv *kv = gptc_gguf_find_kv(f, "llama.rope.dimension_count");
            CHECK(kv && kv->v.u == 4, "rope.dimension_count = head size");
            kv = gptc_gguf_find_kv(f, "llama.attention.head_count_kv");
            CHECK(kv && kv->v.u == 2, "head_count_kv");
            kv = gptc_gguf_find_kv(f, "llama.context_length");
            CHECK(kv && kv->v.u == 6, "context_length = seq_len");
            gptc_gguf_close(f);
        }

        /* trailing bytes are tolerated (run.c ignores them); one byte short is not */
        uint8_t *q = malloc(n + 5);
        memcpy(q, p, n);
        memset(q + n, 0xAB, 5);
        f = NULL;
        CHECK(gptc_llama2c_parse(q, n + 5, tok, tok_n, &f, &err) == GPTC_OK,
              "trailing bytes accepted: %s", err.msg);
        gptc_gguf_close(f);
        f = (gguf_file *)q; /* must be reset to NULL */
        st = gptc_llama2c_parse(p, n - 1, tok, tok_n, &f, &err);
        CHECK(st == GPTC_E_FORMAT && f == NULL && has(err.msg, "implies"),
              "one byte short rejected: %s", err.msg);
        free(q);
        free(p);
    }
}

/* ----- bad headers (in memory) ----- */

static void test_bad_headers(const uint8_t *ck, size_t ck_n, const uint8_t *tok, size_t tok_n)
{
    static const struct {
        int field;
        int32_t value;
        int field2; /* -1: none */
        int32_t value2;
        const char *want;
    } cases[] = {
        {0, 0, -1, 0, "dim is 0"},
        {1, 0, -1, 0, "hidden_dim is 0"},
        {2, 0, -1, 0, "n_layers is 0"},
        {3, 0, -1, 0, "n_heads is 0"},
        {4, 0, -1, 0, "n_kv_heads is 0"},
        {5, 0, -1, 0, "vocab_size"},
        {6, 0, -1, 0, "seq_len is 0"},
        {0, -64, -1, 0, "dim is -64"},
        {1, -1, -1, 0, "hidden_dim is -1"},
        {2, -5, -1, 0, "n_layers is -5"},
        {3, -8, -1, 0, "n_heads is -8"},
        {4, INT32_MIN, -1, 0, "n_kv_heads is -2147483648"},
        {6, -512, -1, 0, "seq_len is -512"},
        {5, INT32_MIN, -1, 0, "vocab_size"},
        {3, 7, -1, 0, "n_heads 7 does not divide dim 64"},
        {3, 128, -1, 0, "n_heads 128 does not divide dim 64"},
        {4, 3, -1, 0, "n_kv_heads 3 does not divide n_heads 8"},
        {4, 16, -1, 0, "n_kv_heads 16 does not divide n_heads 8"},
        {3, 64, 4, 64, "head size 1"},     /* dim 64 / 64 heads: odd head size */
        {0, 65535, 1, INT32_MAX, "limit"}, /* overflow-sized */
        {0, INT32_MAX, -1, 0, "dim 2147483647 is larger than the limit"},
        {1, INT32_MAX, -1, 0, "hidden_dim 2147483647 is larger than the limit"},
        {2, 1 << 20, -1, 0, "n_layers 1048576 is larger"},
        {5, 1 << 30, -1, 0, "larger than the limit"},
        {6, INT32_MAX, -1, 0, "seq_len 2147483647 is larger"},
        /* within the limits, but implies terabytes */
        {0, 1 << 16, 1, 1 << 20, "implies"},
        {2, 1024, 1, 1 << 20, "implies"},
        /* a negative vocab asks for a separate classifier the file does not have */
        {5, -512, -1, 0, "implies"},
        {6, 513, -1, 0, "implies"},
    };
    static const char *const names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    uint8_t *p = malloc(ck_n);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(p, ck, ck_n);
        put_i32(p + 4 * cases[i].field, cases[i].value);
        if (cases[i].field2 >= 0) put_i32(p + 4 * cases[i].field2, cases[i].value2);
        gguf_file *f = (gguf_file *)p;
        gptc_err err;
        gptc_status st = gptc_llama2c_parse(p, ck_n, tok, tok_n, &f, &err);
        CHECK(st == GPTC_E_FORMAT && f == NULL && has(err.msg, cases[i].want),
              "case %zu (%s = %d): want '%s', got %s '%s'", i, names[cases[i].field],
              cases[i].value, cases[i].want, gptc_status_name(st), err.msg);
    }

    /* truncations */
    memcpy(p, ck, ck_n);
    static const size_t cuts[] = {0, 1, 27, 28, 29, 1000, 131100, 1056539};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        gguf_file *f = NULL;
        gptc_err err;
        gptc_status st = gptc_llama2c_parse(cuts[i] ? p : NULL, cuts[i], tok, tok_n, &f, &err);
        const char *want = cuts[i] < 28 ? "shorter than its 28-byte header" : "implies 1056540";
        CHECK(st == GPTC_E_FORMAT && !f && has(err.msg, want), "cut at %zu: want '%s', got '%s'",
              cuts[i], want, err.msg);
    }
    {
        gguf_file *f = NULL;
        gptc_err err;
        memcpy(p, ck, ck_n);
        gptc_llama2c_parse(p, 1000, tok, tok_n, &f, &err);
        CHECK(has(err.msg, "llama2.c checkpoint is 1000 bytes, but its header (dim 64, "
                           "hidden_dim 172, 5 layers, 8 heads, 4 kv heads, vocab 512, seq_len 512) "
                           "implies 1056540"),
              "the size message says it all: '%s'", err.msg);
    }

    /* a truncated or missing tokenizer: an error, never a crash */
    static const size_t tcuts[] = {0, 3, 4, 10, 100, 3000};
    for (size_t i = 0; i < sizeof tcuts / sizeof tcuts[0]; i++) {
        if (tcuts[i] >= tok_n) continue;
        gguf_file *f = NULL;
        gptc_err err;
        gptc_status st = gptc_llama2c_parse(ck, ck_n, tcuts[i] ? tok : NULL, tcuts[i], &f, &err);
        CHECK(st != GPTC_OK && !f && err.msg[0], "tokenizer cut at %zu rejected: '%s'", tcuts[i],
              err.msg);
    }

    /* NULL arguments */
    gptc_err err;
    CHECK(gptc_llama2c_parse(ck, ck_n, tok, tok_n, NULL, &err) == GPTC_E_INVALID, "NULL out");
    gguf_file *f = NULL;
    CHECK(gptc_llama2c_parse(NULL, 100, tok, tok_n, &f, &err) == GPTC_E_INVALID,
          "NULL buffer with a size");
    free(p);
}

/* ----- files ----- */

static void test_files(const uint8_t *ck, size_t ck_n)
{
    char dir[] = "/tmp/gptc_l2c_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char path[600], fifo[600];
    gguf_file *f;
    gptc_err err;
    gptc_status st;

    /* truncated copies on disk */
    static const size_t cuts[] = {0, 12, 28, 1000, 500000, 1056539};
    snprintf(path, sizeof path, "%s/cut.bin", dir);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK(spit(path, ck, cuts[i]), "write %s", path);
        f = (gguf_file *)&err;
        st = gptc_llama2c_import(path, g_tok, &f, &err);
        const char *want = cuts[i] < 28 ? "shorter than its 28-byte header" : "implies 1056540";
        CHECK(st == GPTC_E_FORMAT && !f && has(err.msg, want) && has(err.msg, path),
              "file cut at %zu: '%s'", cuts[i], err.msg);
    }
    unlink(path);

    /* a directory, a FIFO, a device: GPTC_E_IO before any read (a FIFO must not block) */
    f = NULL;
    st = gptc_llama2c_import(dir, g_tok, &f, &err);
    CHECK(st == GPTC_E_IO && !f && has(err.msg, "directory"), "directory: '%s'", err.msg);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    st = gptc_llama2c_import(fifo, g_tok, &f, &err);
    CHECK(st == GPTC_E_IO && !f && has(err.msg, "FIFO"), "FIFO: '%s'", err.msg);
    st = gptc_llama2c_import(g_ckpt, fifo, &f, &err);
    CHECK(st == GPTC_E_IO && !f && has(err.msg, "FIFO") && has(err.msg, "tokenizer"),
          "FIFO tokenizer: '%s'", err.msg);
    unlink(fifo);
    st = gptc_llama2c_import("/dev/zero", g_tok, &f, &err);
    CHECK(st == GPTC_E_IO && !f && has(err.msg, "character device"), "/dev/zero: '%s'", err.msg);
    st = gptc_llama2c_import(g_ckpt, dir, &f, &err);
    CHECK(st == GPTC_E_IO && !f && has(err.msg, "directory") && has(err.msg, "tokenizer"),
          "tokenizer is a directory: '%s'", err.msg);

    /* missing files */
    snprintf(path, sizeof path, "%s/missing.bin", dir);
    st = gptc_llama2c_import(path, g_tok, &f, &err);
    CHECK(st == GPTC_E_IO && !f && has(err.msg, "cannot open") && has(err.msg, "missing.bin"),
          "missing checkpoint: '%s'", err.msg);
    st = gptc_llama2c_import(g_ckpt, path, &f, &err);
    CHECK(st == GPTC_E_IO && !f && has(err.msg, "tokenizer") && has(err.msg, "missing.bin"),
          "missing tokenizer: '%s'", err.msg);
    st = gptc_llama2c_import(g_ckpt, NULL, &f, &err);
    CHECK(st == GPTC_E_INVALID && !f && has(err.msg, "tokenizer"), "NULL tokenizer path: '%s'",
          err.msg);
    st = gptc_llama2c_import(NULL, g_tok, &f, &err);
    CHECK(st == GPTC_E_INVALID && !f, "NULL checkpoint path");

    /* a broken tokenizer file: the message names the tokenizer file */
    snprintf(path, sizeof path, "%s/tok_cut.bin", dir);
    size_t tn;
    uint8_t *tb = slurp(g_tok, &tn);
    CHECK(tb && spit(path, tb, tn / 2), "write %s", path);
    st = gptc_llama2c_import(g_ckpt, path, &f, &err);
    CHECK(st != GPTC_OK && !f && has(err.msg, "tok_cut.bin"), "truncated tokenizer: '%s'", err.msg);
    free(tb);
    unlink(path);

    /* two imports of one file are independent mappings */
    gguf_file *a = NULL, *b = NULL;
    CHECK(gptc_llama2c_import(g_ckpt, g_tok, &a, &err) == GPTC_OK, "import a: %s", err.msg);
    CHECK(gptc_llama2c_import(g_ckpt, g_tok, &b, &err) == GPTC_OK, "import b: %s", err.msg);
    gptc_gguf_close(a);
    if (b) {
        const gguf_tensor *t = gptc_gguf_find_tensor(b, "token_embd.weight");
        CHECK(t && !memcmp(t->data, ck + 28, 64 * 512 * 4), "b readable after a is closed");
        /* output_norm (64 floats) sits right before freq_cis_real/imag (512 * 8 / 2 each) */
        const gguf_tensor *on = gptc_gguf_find_tensor(b, "output_norm.weight");
        CHECK(on && !memcmp(on->data, ck + ck_n - 4 * (512 * 8) - 4 * 64, 4 * 64),
              "output_norm right before the freq_cis tables");
    }
    gptc_gguf_close(b);
    gptc_gguf_close(NULL);
    rmdir(dir);
}

int main(void)
{
    const char *d = test_data_dir();
    snprintf(g_ckpt, sizeof g_ckpt, "%s/llama2c/stories260K.bin", d);
    snprintf(g_tok, sizeof g_tok, "%s/llama2c/tok512.bin", d);
    snprintf(g_ref, sizeof g_ref, "%s/gguf/stories260K.gguf", d);
    size_t ck_n = 0, tok_n = 0;
    uint8_t *ck = slurp(g_ckpt, &ck_n), *tok = slurp(g_tok, &tok_n);
    CHECK(ck && ck_n == 1056540, "read %s", g_ckpt);
    CHECK(tok && tok_n == 6227, "read %s", g_tok);
    if (ck && tok) {
        test_matches_reference();
        test_layout(tok, tok_n);
        test_bad_headers(ck, ck_n, tok, tok_n);
        test_files(ck, ck_n);
    }
    free(ck);
    free(tok);
    return test_summary();
}
