/*
 * model.c — load a model: pick the file format, read and validate the hyperparameters, bind the
 * weight tensors by their llama.cpp names and check every shape before anything runs.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/ops.h"
#include "../format/llama2c.h"
#include "../quant/quant.h"
#include "../tokenizer/tokenizer.h"

gptc_model_params gptc_model_default_params(void)
{
    gptc_model_params p = {0};
    return p;
}

/* ----- hyperparameters ------------------------------------------------------------------------ */

/* Read an integer hparam "<arch>.<name>" into *out, within [lo, hi]. def < lo: required. */
static gptc_status hp_int(const gguf_file *f, const char *arch, const char *name, int64_t lo,
                          int64_t hi, int64_t def, int *out, gptc_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int64_t v;
    if (!gguf_find_kv(f, key)) {
        if (def < lo) return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' is missing", key);
        *out = (int)def;
        return GPTC_OK;
    }
    gptc_status s = gguf_get_int(f, key, &v, err);
    if (s) return s;
    if (v < lo || v > hi)
        return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' = %lld is out of range [%lld, %lld]",
                         key, (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return GPTC_OK;
}

static gptc_status hp_float(const gguf_file *f, const char *arch, const char *name, double def,
                            float *out, gptc_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (!gguf_find_kv(f, key)) {
        *out = (float)def;
        return GPTC_OK;
    }
    double v;
    gptc_status s = gguf_get_float(f, key, &v, err);
    if (s) return s;
    if (!(v > 0 && v < 1e30))
        return gptc_fail(err, GPTC_E_FORMAT, "model: hyperparameter '%s' = %g is out of range", key, v);
    *out = (float)v;
    return GPTC_OK;
}

static gptc_status read_hparams(const gguf_file *f, gptc_hparams *hp, gptc_err *err)
{
    gptc_str arch;
    gptc_status s = gguf_get_str(f, "general.architecture", &arch, err);
    if (s) return s;
    int gpt2 = gptc_str_eq(arch, "gpt2");
    if (!gptc_str_eq(arch, "llama") && !gpt2)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "model: architecture '%.*s' is not supported (gptc runs 'llama' and 'gpt2')",
                         (int)GPTC_MIN(arch.n, 64), arch.p);
    snprintf(hp->arch, sizeof hp->arch, gpt2 ? "gpt2" : "llama");
    const char *a = hp->arch;
    const int64_t big = 1 << 20;
    if ((s = hp_int(f, a, "embedding_length", 1, big, -1, &hp->n_embd, err)) ||
        (s = hp_int(f, a, "feed_forward_length", 1, big, -1, &hp->n_ff, err)) ||
        (s = hp_int(f, a, "block_count", 1, 4096, -1, &hp->n_layer, err)) ||
        (s = hp_int(f, a, "attention.head_count", 1, 4096, -1, &hp->n_head, err)) ||
        (s = hp_int(f, a, "attention.head_count_kv", 1, 4096, hp->n_head, &hp->n_head_kv, err)) ||
        (s = hp_int(f, a, "context_length", 1, 1 << 24, -1, &hp->n_ctx_train, err)))
        return s;
    if (hp->n_embd % hp->n_head)
        return gptc_fail(err, GPTC_E_FORMAT, "model: embedding_length %d is not a multiple of head_count %d",
                         hp->n_embd, hp->n_head);
    if (hp->n_head % hp->n_head_kv)
        return gptc_fail(err, GPTC_E_FORMAT, "model: head_count %d is not a multiple of head_count_kv %d",
                         hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if (gpt2) { /* learned positions, LayerNorm: no rope keys */
        hp->n_rot = 0;
        hp->rope_base = 10000.0f;
        return hp_float(f, a, "attention.layer_norm_epsilon", 1e-5, &hp->norm_eps, err);
    }
    if ((s = hp_int(f, a, "rope.dimension_count", 2, hp->head_dim, hp->head_dim, &hp->n_rot, err)))
        return s;
    if (hp->n_rot % 2)
        return gptc_fail(err, GPTC_E_FORMAT, "model: rope.dimension_count %d is odd", hp->n_rot);
    if ((s = hp_float(f, a, "rope.freq_base", 10000.0, &hp->rope_base, err)) ||
        (s = hp_float(f, a, "attention.layer_norm_rms_epsilon", 1e-5, &hp->norm_eps, err)))
        return s;
    return GPTC_OK;
}

/* ----- tensors -------------------------------------------------------------------------------- */

static gptc_status bind_wt(gptc_model *m, const char *name, int rows, int cols, gptc_wt *w, gptc_err *err);
static gptc_status bind_vec(gptc_model *m, const char *name, int n, float **out, gptc_err *err);

gptc_status gptc_model_bind_wt(gptc_model *m, const char *name, int rows, int cols, gptc_wt *w,
                               gptc_err *err)
{
    return bind_wt(m, name, rows, cols, w, err);
}

gptc_status gptc_model_bind_vec(gptc_model *m, const char *name, int n, float **out, gptc_err *err)
{
    return bind_vec(m, name, n, out, err);
}

/* Weight types the forward pass multiplies with: the float types and the quantized types with
 * kernels (quant.h). A 1-D vector may be anything that converts to f32. */
static int computable(uint32_t t)
{
    return t == GPTC_TYPE_F32 || t == GPTC_TYPE_F16 || t == GPTC_TYPE_BF16 || gptc_type_is_quant(t);
}

static int convertible(uint32_t t)
{
    const gptc_type_traits *tt = gptc_type_info(t);
    return tt && tt->to_float;
}

static const char *type_name(uint32_t t)
{
    const gptc_type_traits *tt = gptc_type_info(t);
    return tt ? tt->name : "unknown";
}

/* Bind a 2-D weight named `name` that must be (rows, cols). */
static gptc_status bind_wt(gptc_model *m, const char *name, int rows, int cols, gptc_wt *w, gptc_err *err)
{
    const gguf_tensor *t = gguf_find_tensor(m->file, name);
    if (!t) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' is missing", name);
    if (t->n_dims > 2 || t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows)
        return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' has shape [%llu, %llu%s], expected [%d, %d]",
                         name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                         t->n_dims > 2 ? ", ..." : "", cols, rows);
    if (!computable(t->type))
        return gptc_fail(err, GPTC_E_UNSUPPORTED, "model: tensor '%s' has type %s, which gptc cannot compute yet",
                         name, type_name(t->type));
    if (m->arch == GPTC_ARCH_GPT2 && gptc_type_is_quant(t->type)) /* gpt2.c multiplies floats only */
        return gptc_fail(err, GPTC_E_UNSUPPORTED, "model: tensor '%s' has type %s; gptc runs gpt2 with float weights only",
                         name, type_name(t->type));
    w->type = t->type;
    w->data = t->data;
    w->rows = rows;
    w->cols = cols;
    m->weight_bytes += t->nbytes;
    return GPTC_OK;
}

/* Bind a 1-D norm vector of n elements, copied to an owned f32 array. */
static gptc_status bind_vec(gptc_model *m, const char *name, int n, float **out, gptc_err *err)
{
    const gguf_tensor *t = gguf_find_tensor(m->file, name);
    if (!t) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' is missing", name);
    if (t->n_dims != 1 || t->ne[0] != (uint64_t)n)
        return gptc_fail(err, GPTC_E_FORMAT, "model: tensor '%s' has %u dimensions and %llu elements, expected [%d]",
                         name, t->n_dims, (unsigned long long)t->ne[0], n);
    if (!convertible(t->type))
        return gptc_fail(err, GPTC_E_UNSUPPORTED, "model: tensor '%s' has type %s, which gptc cannot compute yet",
                         name, type_name(t->type));
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    gptc_row_to_f32(v, t->data, t->type, n, 0);
    *out = v;
    m->weight_bytes += t->nbytes;
    return GPTC_OK;
}

static gptc_status bind_weights(gptc_model *m, gptc_err *err)
{
    const gptc_hparams *hp = &m->hp;
    int D = hp->n_embd, F = hp->n_ff, V = hp->n_vocab, hd = hp->head_dim;
    int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    gptc_status s;

    const gguf_tensor *te = gguf_find_tensor(m->file, "token_embd.weight");
    if (!te) return gptc_fail(err, GPTC_E_FORMAT, "model: tensor 'token_embd.weight' is missing");
    if (te->n_dims == 2 && te->ne[0] == (uint64_t)D && te->ne[1] != (uint64_t)V)
        return gptc_fail(err, GPTC_E_FORMAT, "model: the vocabulary has %d tokens but token_embd.weight has %llu rows",
                         V, (unsigned long long)te->ne[1]);
    if ((s = bind_wt(m, "token_embd.weight", V, D, &m->tok_embd, err))) return s;
    m->weight_bytes -= (uint64_t)gptc_row_bytes(m->tok_embd.type, D) * (V - 1); /* reads one row */
    if ((s = bind_vec(m, "output_norm.weight", D, &m->out_norm, err))) return s;
    if (gguf_find_tensor(m->file, "output.weight")) {
        if ((s = bind_wt(m, "output.weight", V, D, &m->output, err))) return s;
        m->hp.tied_output = 0;
    } else {
        m->output = m->tok_embd;
        m->weight_bytes += (uint64_t)gptc_row_bytes(m->tok_embd.type, D) * V;
        m->hp.tied_output = 1;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        char nm[96];
#define NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d." suffix ".weight", l), nm)
        if ((s = bind_vec(m, NAME("attn_norm"), D, &ly->attn_norm, err)) ||
            (s = bind_wt(m, NAME("attn_q"), q_dim, D, &ly->wq, err)) ||
            (s = bind_wt(m, NAME("attn_k"), kv_dim, D, &ly->wk, err)) ||
            (s = bind_wt(m, NAME("attn_v"), kv_dim, D, &ly->wv, err)) ||
            (s = bind_wt(m, NAME("attn_output"), D, q_dim, &ly->wo, err)) ||
            (s = bind_vec(m, NAME("ffn_norm"), D, &ly->ffn_norm, err)) ||
            (s = bind_wt(m, NAME("ffn_gate"), F, D, &ly->w_gate, err)) ||
            (s = bind_wt(m, NAME("ffn_up"), F, D, &ly->w_up, err)) ||
            (s = bind_wt(m, NAME("ffn_down"), D, F, &ly->w_down, err)))
            return s;
#undef NAME
    }
    return GPTC_OK;
}

gptc_status gptc_model_from_gguf(gguf_file *f, gptc_model **out, gptc_err *err)
{
    *out = NULL;
    gptc_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(f);
        return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    }
    m->file = f;
    gptc_status s = read_hparams(f, &m->hp, err);
    if (!s) s = gptc_tokenizer_from_gguf(f, &m->tok, err);
    if (!s) {
        m->hp.n_vocab = gptc_tok_n_vocab(m->tok);
        m->arch = strcmp(m->hp.arch, "gpt2") == 0 ? GPTC_ARCH_GPT2 : GPTC_ARCH_LLAMA;
        s = m->arch == GPTC_ARCH_GPT2 ? gptc_gpt2_bind(m, err) : bind_weights(m, err);
    }
    if (s) {
        gptc_model_free(m);
        return s;
    }
    *out = m;
    return GPTC_OK;
}

/* The path must name a regular file: a directory, FIFO or device is refused before opening
 * (opening a FIFO would block; /dev/zero never ends). */
static gptc_status check_regular(const char *path, const char *what, gptc_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return gptc_fail(err, GPTC_E_IO, "%s '%s': %s", what, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return gptc_fail(err, GPTC_E_IO, "%s '%s' is a directory", what, path);
    if (!S_ISREG(st.st_mode)) return gptc_fail(err, GPTC_E_IO, "%s '%s' is not a regular file", what, path);
    return GPTC_OK;
}

static int is_gguf(const char *path)
{
    char magic[4] = {0};
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return 0;
    ssize_t n = read(fd, magic, 4);
    close(fd);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

gptc_status gptc_model_open_file(const char *path, const char *tokenizer_path, gguf_file **out,
                                 gptc_err *err)
{
    gptc_err_clear(err);
    *out = NULL;
    if (!path) return gptc_fail(err, GPTC_E_INVALID, "model: no path given");
    gptc_status s = check_regular(path, "model", err);
    if (s) return s;
    if (is_gguf(path)) {
        s = gguf_open(path, out, err);
        if (s && err) { /* name the file: the parser's messages say where, not which */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            gptc_fail(err, s, "%s: %s", path, msg);
        }
        return s;
    }
    /* Not GGUF: a llama2.c checkpoint, whose tokenizer is a separate file. */
    char tok_path[4096];
    const char *tp = tokenizer_path;
    if (!tp) {
        const char *slash = strrchr(path, '/');
        int dir_len = slash ? (int)(slash - path + 1) : 0;
        snprintf(tok_path, sizeof tok_path, "%.*stokenizer.bin", dir_len, path);
        if (access(tok_path, R_OK) != 0)
            return gptc_fail(err, GPTC_E_INVALID,
                             "model '%s' is not GGUF, so it is read as a llama2.c checkpoint, which needs "
                             "a tokenizer: pass --tokenizer FILE (no tokenizer.bin beside it)", path);
        tp = tok_path;
    }
    if ((s = check_regular(tp, "tokenizer", err))) return s;
    return gptc_llama2c_import(path, tp, out, err);
}

gptc_status gptc_model_load(const char *path, const gptc_model_params *params, gptc_model **out,
                            gptc_err *err)
{
    gguf_file *f = NULL;
    *out = NULL;
    gptc_status s = gptc_model_open_file(path, params ? params->tokenizer_path : NULL, &f, err);
    if (s) return s;
    return gptc_model_from_gguf(f, out, err);
}

void gptc_model_free(gptc_model *m)
{
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->hp.n_layer; l++) {
            gptc_layer *ly = &m->layers[l];
            free(ly->attn_norm);
            free(ly->ffn_norm);
            free(ly->attn_norm_b); /* gpt2 vectors; NULL for llama */
            free(ly->bqkv);
            free(ly->bo);
            free(ly->ffn_norm_b);
            free(ly->b_up);
            free(ly->b_down);
        }
        free(m->layers);
    }
    free(m->out_norm);
    free(m->out_norm_b);
    gptc_tokenizer_free(m->tok);
    gguf_close(m->file);
    free(m);
}

const gptc_hparams *gptc_model_hparams(const gptc_model *m) { return &m->hp; }
uint64_t gptc_model_weight_bytes(const gptc_model *m) { return m->weight_bytes; }
const gptc_tokenizer *gptc_model_tokenizer(const gptc_model *m) { return m->tok; }

const char *gptc_model_meta_str(const gptc_model *m, const char *key, size_t *len)
{
    const gguf_kv *kv = gguf_find_kv(m->file, key);
    if (!kv || kv->type != GGUF_VT_STR) return NULL;
    if (len) *len = kv->v.str.n;
    return kv->v.str.p;
}
