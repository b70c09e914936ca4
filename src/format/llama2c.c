/*
 * llama2c.c — a llama2.c checkpoint (+ tokenizer.bin) as an in-memory GGUF.
 *
 * The checkpoint is mapped, never copied: every tensor of the result is a view into the
 * mapping, which the returned gguf_file owns (owns_map). The float data start at byte 28, so
 * the views are only 4-byte aligned (or not aligned at all for buffers handed to
 * gptc_llama2c_parse); code that needs more alignment must copy.
 *
 * Shape letters (llama2.c names): D = dim, F = hidden_dim, L = n_layers, H = n_heads,
 * KV = n_kv_heads, S = head_size = D / H, V = |vocab_size|, T = seq_len.
 * GGUF lists ne[0] (the row length) first, so llama2.c's (V, D) token table is ne = {D, V}.
 */
#include "format/llama2c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/quant.h"

#define L2C_HEADER_BYTES 28
/* Far above any llama2.c model, low enough that no product below can overflow 64 bits
 * (the arithmetic is checked anyway). */
#define L2C_MAX_DIM (1 << 16)
#define L2C_MAX_HIDDEN (1 << 20)
#define L2C_MAX_LAYERS 1024
#define L2C_MAX_VOCAB (1 << 24)
#define L2C_MAX_SEQ (1 << 24)

typedef struct l2c_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared;        /* vocab_size > 0: the classifier is the token embedding */
    int64_t n_vocab;   /* |vocab_size| */
    int64_t head_size; /* D / H */
    int64_t kv_dim;    /* S * KV */
} l2c_config;

static int32_t rd_i32le(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, sizeof r);
    return r;
}

static gptc_status check_field(const char *name, int64_t v, int64_t max, gptc_err *err)
{
    if (v <= 0)
        return gptc_fail(err, GPTC_E_FORMAT, "llama2.c checkpoint: %s is %" PRId64 " (must be > 0)",
                         name, v);
    if (v > max)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "llama2.c checkpoint: %s %" PRId64 " is larger than the limit %" PRId64,
                         name, v, max);
    return GPTC_OK;
}

static gptc_status read_config(const uint8_t *p, size_t n, l2c_config *c, gptc_err *err)
{
    if (n < L2C_HEADER_BYTES)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "llama2.c checkpoint is %zu bytes, shorter than its %d-byte header", n,
                         L2C_HEADER_BYTES);
    memset(c, 0, sizeof *c);
    c->dim = rd_i32le(p + 0);
    c->hidden_dim = rd_i32le(p + 4);
    c->n_layers = rd_i32le(p + 8);
    c->n_heads = rd_i32le(p + 12);
    c->n_kv_heads = rd_i32le(p + 16);
    c->vocab_size = rd_i32le(p + 20);
    c->seq_len = rd_i32le(p + 24);
    c->shared = c->vocab_size > 0;
    c->n_vocab = c->vocab_size < 0 ? -(int64_t)c->vocab_size : c->vocab_size;

    gptc_status st;
    if ((st = check_field("dim", c->dim, L2C_MAX_DIM, err)) ||
        (st = check_field("hidden_dim", c->hidden_dim, L2C_MAX_HIDDEN, err)) ||
        (st = check_field("n_layers", c->n_layers, L2C_MAX_LAYERS, err)) ||
        (st = check_field("n_heads", c->n_heads, L2C_MAX_DIM, err)) ||
        (st = check_field("n_kv_heads", c->n_kv_heads, L2C_MAX_DIM, err)) ||
        (st = check_field("vocab_size (absolute value)", c->n_vocab, L2C_MAX_VOCAB, err)) ||
        (st = check_field("seq_len", c->seq_len, L2C_MAX_SEQ, err)))
        return st;
    if (c->dim % c->n_heads != 0)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "llama2.c checkpoint: n_heads %d does not divide dim %d", c->n_heads,
                         c->dim);
    if (c->n_heads % c->n_kv_heads != 0)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "llama2.c checkpoint: n_kv_heads %d does not divide n_heads %d",
                         c->n_kv_heads, c->n_heads);
    c->head_size = c->dim / c->n_heads;
    if (c->head_size % 2 != 0)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "llama2.c checkpoint: head size %" PRId64
                         " (dim %d / n_heads %d) is odd; rotary embeddings need pairs",
                         c->head_size, c->dim, c->n_heads);
    c->kv_dim = c->head_size * c->n_kv_heads;
    return GPTC_OK;
}

/* The checkpoint's sections, in file order. */
// clang-format off
enum {
    SEC_TOK, SEC_RMS_ATT, SEC_WQ, SEC_WK, SEC_WV, SEC_WO, SEC_RMS_FFN, SEC_W1, SEC_W2, SEC_W3,
    SEC_RMS_FINAL, SEC_FREQ_REAL, SEC_FREQ_IMAG, SEC_WCLS, SEC_COUNT
};
// clang-format on

/* OUT off: byte offset of each section. Checks, with 64-bit overflow checks, that n bytes hold
 * them all; the per-layer views taken later stay inside these bounds. */
static gptc_status layout(const l2c_config *c, size_t n, uint64_t off[SEC_COUNT] /* OUT */,
                          gptc_err *err)
{
    uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers,
             V = (uint64_t)c->n_vocab, T = (uint64_t)c->seq_len, S = (uint64_t)c->head_size,
             KV = (uint64_t)c->kv_dim;
    /* floats per section as a product of three factors */
    // clang-format off
    const uint64_t sz[SEC_COUNT][3] = {
        [SEC_TOK] = {V, D, 1},        [SEC_RMS_ATT] = {L, D, 1},   [SEC_WQ] = {L, D, D},
        [SEC_WK] = {L, KV, D},        [SEC_WV] = {L, KV, D},       [SEC_WO] = {L, D, D},
        [SEC_RMS_FFN] = {L, D, 1},    [SEC_W1] = {L, F, D},        [SEC_W2] = {L, D, F},
        [SEC_W3] = {L, F, D},         [SEC_RMS_FINAL] = {D, 1, 1}, [SEC_FREQ_REAL] = {T, S / 2, 1},
        [SEC_FREQ_IMAG] = {T, S / 2, 1}, [SEC_WCLS] = {c->shared ? 0 : V, D, 1},
    };
    // clang-format on
    uint64_t floats = 0, need = 0;
    int ovf = 0;
    for (int i = 0; i < SEC_COUNT; i++) {
        uint64_t bytes;
        ovf |= gptc_mul_ovf(floats, 4, &bytes) || gptc_add_ovf(bytes, L2C_HEADER_BYTES, &off[i]);
        uint64_t f;
        ovf |= gptc_mul_ovf(sz[i][0], sz[i][1], &f) || gptc_mul_ovf(f, sz[i][2], &f) ||
               gptc_add_ovf(floats, f, &floats);
    }
    ovf |= gptc_mul_ovf(floats, 4, &need) || gptc_add_ovf(need, L2C_HEADER_BYTES, &need);
    if (ovf || need > n) {
        char sizebuf[32];
        if (ovf)
            snprintf(sizebuf, sizeof sizebuf, "more than 2^64");
        else
            snprintf(sizebuf, sizeof sizebuf, "%" PRIu64, need);
        return gptc_fail(err, GPTC_E_FORMAT,
                         "llama2.c checkpoint is %zu bytes, but its header (dim %d, hidden_dim %d, "
                         "%d layers, %d heads, %d kv heads, vocab %d, seq_len %d) implies %s",
                         n, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                         c->vocab_size, c->seq_len, sizebuf);
    }
    return GPTC_OK;
}

static gptc_status add_f32(gguf_file *f, const char *name, const uint8_t *data, uint64_t ne0,
                           uint64_t ne1, gptc_err *err)
{
    uint64_t ne[2] = {ne0, ne1};
    return gptc_gguf_add_tensor(f, name, GPTC_TYPE_F32, ne1 ? 2 : 1, ne, data, err);
}

static gptc_status set_u32(gguf_file *f, const char *key, int64_t v, gptc_err *err)
{
    return gptc_gguf_set_uint(f, key, GGUF_VT_U32, (uint64_t)v, err);
}

static gptc_status build(gguf_file *f, const l2c_config *c, const uint8_t *base,
                         const uint64_t off[SEC_COUNT], const void *tok, size_t tok_n,
                         int *tok_failed, gptc_err *err)
{
    gptc_status st;
    /* keys in the order llama.cpp's converter writes them (tokenizer first) */
    if ((st = gptc_llama2c_tokenizer_parse(f, tok, tok_n, (int)c->n_vocab, err))) {
        *tok_failed = 1;
        return st;
    }
    if ((st = gptc_gguf_set_str(f, "general.architecture", "llama", 5, err)) ||
        (st = gptc_gguf_set_str(f, "general.name", "llama", 5, err)) ||
        (st = set_u32(f, "llama.context_length", c->seq_len, err)) ||
        (st = set_u32(f, "llama.embedding_length", c->dim, err)) ||
        (st = set_u32(f, "llama.feed_forward_length", c->hidden_dim, err)) ||
        (st = set_u32(f, "llama.attention.head_count", c->n_heads, err)) ||
        (st = set_u32(f, "llama.attention.head_count_kv", c->n_kv_heads, err)) ||
        (st = set_u32(f, "llama.block_count", c->n_layers, err)) ||
        (st = set_u32(f, "llama.rope.dimension_count", c->head_size, err)) ||
        (st = gptc_gguf_set_f32(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err)))
        return st;

    const uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->hidden_dim, V = (uint64_t)c->n_vocab,
                   KV = (uint64_t)c->kv_dim;
    if ((st = add_f32(f, "token_embd.weight", base + off[SEC_TOK], D, V, err)) ||
        (st = add_f32(f, "output_norm.weight", base + off[SEC_RMS_FINAL], D, 0, err)))
        return st;
    if (!c->shared && (st = add_f32(f, "output.weight", base + off[SEC_WCLS], D, V, err)))
        return st;

    for (uint64_t l = 0; l < (uint64_t)c->n_layers; l++) {
        /* per-layer views: section start + l * (floats per layer) * 4 */
        struct {
            const char *name;
            int sec;
            uint64_t ne0, ne1; /* ne1 0: a vector */
        } t[] = {
            {"attn_q", SEC_WQ, D, D},         {"attn_k", SEC_WK, D, KV},
            {"attn_v", SEC_WV, D, KV},        {"attn_output", SEC_WO, D, D},
            {"attn_norm", SEC_RMS_ATT, D, 0}, {"ffn_gate", SEC_W1, D, F},
            {"ffn_down", SEC_W2, F, D},       {"ffn_up", SEC_W3, D, F},
            {"ffn_norm", SEC_RMS_FFN, D, 0},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%" PRIu64 ".%s.weight", l, t[i].name);
            /* the sizes were bounded by layout(), so these products cannot overflow */
            uint64_t per = t[i].ne0 * (t[i].ne1 ? t[i].ne1 : 1) * 4;
            if ((st = add_f32(f, name, base + off[t[i].sec] + l * per, t[i].ne0, t[i].ne1, err)))
                return st;
        }
    }
    return GPTC_OK;
}

/* *tok_failed: set to 1 when the error is the tokenizer's */
static gptc_status parse(const void *ckpt, size_t ckpt_n, const void *tok, size_t tok_n,
                         gguf_file **out, int *tok_failed, gptc_err *err)
{
    gptc_err_clear(err);
    *tok_failed = 0;
    if (!out) return gptc_fail(err, GPTC_E_INVALID, "llama2.c: out is NULL");
    *out = NULL;
    if ((!ckpt && ckpt_n) || (!tok && tok_n))
        return gptc_fail(err, GPTC_E_INVALID, "llama2.c: NULL buffer with a nonzero size");
    static const uint8_t empty[1];
    if (!tok) tok = empty; /* an empty file maps to NULL; NULL + 0 is undefined in C */

    l2c_config c;
    uint64_t off[SEC_COUNT];
    gptc_status st = read_config(ckpt, ckpt_n, &c, err);
    if (st || (st = layout(&c, ckpt_n, off, err))) return st;

    gguf_file *f = NULL;
    if ((st = gptc_gguf_new(&f, err))) return st;
    if ((st = build(f, &c, ckpt, off, tok, tok_n, tok_failed, err))) {
        gptc_gguf_close(f);
        return st;
    }
    *out = f;
    return GPTC_OK;
}

gptc_status gptc_llama2c_parse(const void *ckpt, size_t ckpt_n, const void *tok, size_t tok_n,
                               gguf_file **out, gptc_err *err)
{
    int tok_failed;
    return parse(ckpt, ckpt_n, tok, tok_n, out, &tok_failed, err);
}

/* ----- files ----- */

/* Map a whole regular file read-only. *p is NULL for an empty file. */
static gptc_status map_file(const char *path, const char *what, void **p, size_t *n, gptc_err *err)
{
    *p = NULL;
    *n = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat rejects it next */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return gptc_fail(err, GPTC_E_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return gptc_fail(err, GPTC_E_IO, "cannot stat %s '%s': %s", what, path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        const char *kind = S_ISDIR(sb.st_mode)    ? "a directory"
                           : S_ISFIFO(sb.st_mode) ? "a FIFO"
                           : S_ISCHR(sb.st_mode)  ? "a character device"
                           : S_ISBLK(sb.st_mode)  ? "a block device"
                           : S_ISSOCK(sb.st_mode) ? "a socket"
                                                  : "a special file";
        close(fd);
        return gptc_fail(err, GPTC_E_IO, "%s '%s' is %s, not a regular file", what, path, kind);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return gptc_fail(err, GPTC_E_IO, "%s '%s' is too large to map", what, path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return GPTC_OK;
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return gptc_fail(err, GPTC_E_IO, "cannot map %s '%s': %s", what, path, strerror(e));
    *p = m;
    *n = (size_t)sb.st_size;
    return GPTC_OK;
}

gptc_status gptc_llama2c_import(const char *ckpt_path, const char *tok_path, gguf_file **out,
                                gptc_err *err)
{
    gptc_err_clear(err);
    if (!out) return gptc_fail(err, GPTC_E_INVALID, "llama2.c: out is NULL");
    *out = NULL;
    if (!ckpt_path) return gptc_fail(err, GPTC_E_INVALID, "llama2.c: no checkpoint path");
    if (!tok_path)
        return gptc_fail(err, GPTC_E_INVALID,
                         "llama2.c checkpoint '%s' needs a tokenizer path (tokenizer.bin)",
                         ckpt_path);

    void *ck = NULL, *tk = NULL;
    size_t ck_n = 0, tk_n = 0;
    gptc_status st = map_file(ckpt_path, "llama2.c checkpoint", &ck, &ck_n, err);
    if (st) return st;
    if ((st = map_file(tok_path, "llama2.c tokenizer", &tk, &tk_n, err))) {
        if (ck) munmap(ck, ck_n);
        return st;
    }

    gguf_file *f = NULL;
    int tok_failed = 0;
    st = parse(ck, ck_n, tk, tk_n, &f, &tok_failed, err);
    if (tk) munmap(tk, tk_n); /* the tokenizer importer copied what it needs */
    if (st) {
        if (ck) munmap(ck, ck_n);
        if (err) {
            /* say which file: "path: message" */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            gptc_fail(err, st, "%s: %s", tok_failed ? tok_path : ckpt_path, msg);
        }
        return st;
    }
    f->map = ck;
    f->map_size = ck_n;
    f->owns_map = 1;
    *out = f;
    return GPTC_OK;
}
