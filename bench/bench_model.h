/*
 * bench_model.h — random-weight llama models in the shapes of llama2.c's stories checkpoints,
 * written as F32 GGUF with a synthetic SentencePiece vocabulary, for the speed benchmarks
 * (bench_decode.c, bench_quant.c). Header-only (static functions) so each benchmark stays one
 * .c file. Values do not matter for speed: one pool of uniform weights in [-0.05, 0.05) is
 * shared by every matrix. Like llama2.c's models there is no output.weight (tied classifier).
 */
#ifndef GPTC_BENCH_MODEL_H
#define GPTC_BENCH_MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "quant/quant.h"

typedef struct bench_shape {
    const char *name;
    int dim, hidden, layers, heads, kv_heads, vocab, ctx;
} bench_shape;

static const bench_shape k_bench_shapes[] = {
    {"stories15M", 288, 768, 6, 6, 6, 32000, 256},
    {"stories110M", 768, 2048, 12, 12, 12, 32000, 1024},
};

static inline float bench_frand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return ((*s >> 40) / (float)(1 << 24)) * 2.0f - 1.0f;
}

/* A synthetic SentencePiece vocabulary of n tokens (<unk> <s> </s>, 256 byte tokens, then
 * "\u2581t<i>") as the tokenizer of f; 0 when out of memory. The builder copies it. */
static inline int bench_set_vocab(gguf_file *f, int n)
{
    gptc_err err;
    gptc_str *toks = malloc(sizeof *toks * n);
    char *text = malloc((size_t)n * 16);
    float *scores = malloc(sizeof *scores * n);
    int32_t *types = malloc(sizeof *types * n);
    int ok = toks && text && scores && types;
    for (int i = 0; ok && i < n; i++) {
        char *t = text + (size_t)i * 16;
        if (i == 0) strcpy(t, "<unk>");
        else if (i == 1) strcpy(t, "<s>");
        else if (i == 2) strcpy(t, "</s>");
        else if (i < 259) snprintf(t, 16, "<0x%02X>", i - 3);
        else snprintf(t, 16, "\xe2\x96\x81t%d", i);
        toks[i] = (gptc_str){t, strlen(t)};
        scores[i] = (float)-i;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    if (ok) {
        gptc_gguf_set_str(f, "tokenizer.ggml.model", "llama", 5, &err);
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", toks, n, &err);
        gptc_gguf_set_arr(f, "tokenizer.ggml.scores", GGUF_VT_F32, scores, n, &err);
        gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, types, n, &err);
        gptc_gguf_set_uint(f, "tokenizer.ggml.bos_token_id", GGUF_VT_U32, 1, &err);
        gptc_gguf_set_uint(f, "tokenizer.ggml.eos_token_id", GGUF_VT_U32, 2, &err);
    }
    free(toks), free(text), free(scores), free(types);
    return ok;
}

/* Write the model of shape s to path; 1 on success (errors go to stderr). */
static inline int bench_make_model(const bench_shape *s, const char *path)
{
    gptc_err err;
    gguf_file *f;
    if (gptc_gguf_new(&f, &err)) return 0;
    gptc_gguf_set_str(f, "general.architecture", "llama", 5, &err);
    gptc_gguf_set_str(f, "general.name", s->name, strlen(s->name), &err);
    gptc_gguf_set_uint(f, "llama.context_length", GGUF_VT_U32, s->ctx, &err);
    gptc_gguf_set_uint(f, "llama.embedding_length", GGUF_VT_U32, s->dim, &err);
    gptc_gguf_set_uint(f, "llama.feed_forward_length", GGUF_VT_U32, s->hidden, &err);
    gptc_gguf_set_uint(f, "llama.block_count", GGUF_VT_U32, s->layers, &err);
    gptc_gguf_set_uint(f, "llama.attention.head_count", GGUF_VT_U32, s->heads, &err);
    gptc_gguf_set_uint(f, "llama.attention.head_count_kv", GGUF_VT_U32, s->kv_heads, &err);
    gptc_gguf_set_uint(f, "llama.rope.dimension_count", GGUF_VT_U32, s->dim / s->heads, &err);
    gptc_gguf_set_f32(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &err);
    size_t pool_n = (size_t)s->vocab * s->dim;
    if ((size_t)s->hidden * s->dim > pool_n) pool_n = (size_t)s->hidden * s->dim;
    float *pool = malloc(pool_n * sizeof *pool);
    float *ones = malloc(sizeof *ones * s->dim);
    if (!pool || !ones || !bench_set_vocab(f, s->vocab)) {
        fprintf(stderr, "bench: out of memory\n");
        return 0;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < pool_n; i++) pool[i] = bench_frand(&rng) * 0.05f;
    for (int i = 0; i < s->dim; i++) ones[i] = 1.0f;
    uint64_t ne[2];
    char nm[64];
#define T2(name, a, b) (ne[0] = (a), ne[1] = (b), gptc_gguf_add_tensor(f, name, GPTC_TYPE_F32, 2, ne, pool, &err))
#define T1(name, a) (ne[0] = (a), gptc_gguf_add_tensor(f, name, GPTC_TYPE_F32, 1, ne, ones, &err))
    T2("token_embd.weight", s->dim, s->vocab);
    T1("output_norm.weight", s->dim);
    int kv = s->dim / s->heads * s->kv_heads;
    for (int l = 0; l < s->layers; l++) {
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l); T1(nm, s->dim);
        snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", l); T2(nm, s->dim, s->dim);
        snprintf(nm, sizeof nm, "blk.%d.attn_k.weight", l); T2(nm, s->dim, kv);
        snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", l); T2(nm, s->dim, kv);
        snprintf(nm, sizeof nm, "blk.%d.attn_output.weight", l); T2(nm, s->dim, s->dim);
        snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l); T1(nm, s->dim);
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate.weight", l); T2(nm, s->dim, s->hidden);
        snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l); T2(nm, s->hidden, s->dim);
        snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", l); T2(nm, s->dim, s->hidden);
    }
#undef T1
#undef T2
    int ok = gptc_gguf_write(f, path, &err) == GPTC_OK;
    if (!ok) fprintf(stderr, "bench: %s\n", err.msg);
    gptc_gguf_close(f);
    free(pool), free(ones);
    return ok;
}

#endif
