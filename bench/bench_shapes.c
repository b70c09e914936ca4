/*
 * bench_shapes.c — random-weight GGUF files in the shapes of real models, for the real-shape
 * speed benchmark (bench/bench_shapes.sh).
 *
 *   bench_shapes [--dir DIR] all | NAME[:MIX]...      (DIR default /tmp/gptc-shapes)
 *   bench_shapes --list
 *   --layers N   only the first N blocks (quick checks of a shape's keys and tensors)
 *
 * Each file has the keys, tensor names and shapes llama.cpp's converter writes for the model's
 * architecture (the small files in ../shared/data/gguf/arch/ are the pattern) and the per-tensor
 * types llama-quantize's mix gives them: the choice is gptc_quantize_type_for, the same function
 * `gptc quantize` uses. gpt-oss is written as ggml-org's MXFP4 file is: experts MXFP4, the other
 * matrices Q8_0, norms, biases, sinks and the router F32.
 *
 * No F32 intermediate: each tensor's bytes are written directly in its type. One pool of random
 * blocks per type (random quants, small finite scales) is shared by every tensor of that type,
 * so memory stays at the largest tensor per type and a 18 GB file writes at disk speed. The
 * values are meaningless; only the bytes read per token matter for speed. The vocabulary is a
 * synthetic SentencePiece one of the real size (<unk> <s> </s>, 256 byte tokens, then "▁tN").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fp16.h"
#include "format/gguf.h"
#include "quant/quant.h"
#include "quant/quantize.h"

typedef struct shape {
    const char *name, *arch, *mixes; /* mixes: comma-separated */
    int dim, ffn, layers, heads, kv_heads, head_dim, vocab, ctx;
    float rope_base, eps;
    int tied;
    int swa;             /* sliding window (gemma3, gpt-oss), 0: none */
    float rope_base_swa; /* gemma3 */
    int n_expert, n_used, expert_ffn;
    /* qwen35 (gated delta net : full attention hybrid) */
    int attn_interval, ssm_k_heads, ssm_v_heads, ssm_head_dim, conv_kernel, rope_dims, mtp;
} shape;

/* Hyperparameters from each model's config.json on Hugging Face. */
/* clang-format off */
static const shape k_shapes[] = {
    /* name            arch        mixes          dim   ffn  layers heads kv  hd   vocab   ctx */
    {"stories-110m",   "llama",    "q8_0,q4_0,q4_k_m", 768, 2048, 12, 12, 12, 64, 32000, 8192, 10000.f, 1e-5f, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"qwen2.5-0.5b",   "qwen2",    "q8_0,q4_0,q4_k_m",  896, 4864, 24, 14, 2,  64, 151936,  32768, 1e6f,    1e-6f, 1, 0,   0,      0,   0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"llama-3.2-1b",   "llama",    "q8_0,q4_0,q4_k_m", 2048, 8192, 16, 32, 8,  64, 128256, 131072, 500000.f, 1e-5f, 1, 0,   0,      0,   0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"gemma-3-1b",     "gemma3",   "q8_0,q4_k_m", 1152, 6912, 26,  4, 1, 256, 262144,  32768, 1e6f,    1e-6f, 1, 512, 10000.f, 0,   0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"qwen3-1.7b",     "qwen3",    "q8_0,q4_k_m", 2048, 6144, 28, 16, 8, 128, 151936,  40960, 1e6f,    1e-6f, 1, 0,   0,      0,   0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"qwen3-30b-a3b",  "qwen3moe", "q4_k_m",      2048, 6144, 48, 32, 4, 128, 151936,  40960, 1e6f,    1e-6f, 0, 0,   0,    128,   8, 768, 0, 0, 0, 0, 0, 0, 0},
    {"gpt-oss-20b",    "gpt-oss",  "mxfp4",       2880, 2880, 24, 64, 8,  64, 201088, 131072, 150000.f, 1e-5f, 0, 128, 0,     32,   4, 2880, 0, 0, 0, 0, 0, 0, 0},
    /* Qwen3.5-4B's text model: 32 layers (3 gated delta net : 1 gated attention) + 1 MTP block */
    {"qwen3.5-4b",     "qwen35",   "q4_k_m",      2560, 9216, 32, 16, 4, 256, 248320, 262144, 1e7f,    1e-6f, 1, 0,   0,      0,   0, 0,
     4, 16, 32, 128, 4, 64, 1},
};
/* clang-format on */

/* ----- the tensor list ------------------------------------------------------------------------ */

typedef struct tdesc {
    char name[64];
    int n_dims;
    uint64_t ne[3];
    uint32_t type;
} tdesc;

typedef struct tlist {
    tdesc *t;
    int n, cap;
} tlist;

static void add(tlist *l, const char *name, int n_dims, uint64_t a, uint64_t b, uint64_t c)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->t = realloc(l->t, sizeof *l->t * (size_t)l->cap);
        if (!l->t) {
            fprintf(stderr, "bench_shapes: out of memory\n");
            exit(1);
        }
    }
    tdesc *t = &l->t[l->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = a, t->ne[1] = b, t->ne[2] = c;
    t->type = GPTC_TYPE_F32;
}

/* qwen35: per layer attn_norm, post_attention_norm and the FFN; every attn_interval-th layer
 * gated attention (q and its gate in one attn_q, q/k norms), the others a gated delta net
 * (attn_qkv, attn_gate, ssm_*); then mtp blocks (a full-attention layer plus nextn.*). */
static void list_qwen35(const shape *s, tlist *l)
{
    uint64_t D = (uint64_t)s->dim, hd = (uint64_t)s->head_dim, F = (uint64_t)s->ffn,
             Q = (uint64_t)s->heads * hd, K = (uint64_t)s->kv_heads * hd,
             kd = (uint64_t)s->ssm_k_heads * (uint64_t)s->ssm_head_dim,
             vd = (uint64_t)s->ssm_v_heads * (uint64_t)s->ssm_head_dim,
             nv = (uint64_t)s->ssm_v_heads;
    char nm[64];
    add(l, "token_embd.weight", 2, D, (uint64_t)s->vocab, 0);
    if (!s->tied) add(l, "output.weight", 2, D, (uint64_t)s->vocab, 0);
#define L(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", i, suffix), nm)
    for (int i = 0; i < s->layers + s->mtp; i++) {
        int full = i >= s->layers || (i + 1) % s->attn_interval == 0;
        add(l, L("attn_norm.weight"), 1, D, 0, 0);
        if (full) {
            add(l, L("attn_q.weight"), 2, D, 2 * Q, 0);
            add(l, L("attn_k.weight"), 2, D, K, 0);
            add(l, L("attn_v.weight"), 2, D, K, 0);
            add(l, L("attn_output.weight"), 2, Q, D, 0);
            add(l, L("attn_q_norm.weight"), 1, hd, 0, 0);
            add(l, L("attn_k_norm.weight"), 1, hd, 0, 0);
        } else {
            add(l, L("ssm_a"), 1, nv, 0, 0);
            add(l, L("ssm_conv1d.weight"), 2, (uint64_t)s->conv_kernel, 2 * kd + vd, 0);
            add(l, L("ssm_dt.bias"), 1, nv, 0, 0);
            add(l, L("ssm_alpha.weight"), 2, D, nv, 0);
            add(l, L("ssm_beta.weight"), 2, D, nv, 0);
            add(l, L("attn_qkv.weight"), 2, D, 2 * kd + vd, 0);
            add(l, L("attn_gate.weight"), 2, D, vd, 0);
            add(l, L("ssm_norm.weight"), 1, (uint64_t)s->ssm_head_dim, 0, 0);
            add(l, L("ssm_out.weight"), 2, vd, D, 0);
        }
        add(l, L("post_attention_norm.weight"), 1, D, 0, 0);
        add(l, L("ffn_gate.weight"), 2, D, F, 0);
        add(l, L("ffn_up.weight"), 2, D, F, 0);
        add(l, L("ffn_down.weight"), 2, F, D, 0);
        if (i >= s->layers) {
            add(l, L("nextn.eh_proj.weight"), 2, 2 * D, D, 0);
            add(l, L("nextn.enorm.weight"), 1, D, 0, 0);
            add(l, L("nextn.hnorm.weight"), 1, D, 0, 0);
            add(l, L("nextn.shared_head_norm.weight"), 1, D, 0, 0);
        }
    }
#undef L
    add(l, "output_norm.weight", 1, D, 0, 0);
}

/* The tensors llama.cpp's converter writes for s (names and ggml shapes, ne0 first). */
static void list_tensors(const shape *s, tlist *l)
{
    const char *a = s->arch;
    int gemma = !strcmp(a, "gemma3"), oss = !strcmp(a, "gpt-oss"), moe = s->n_expert > 0;
    int qk_norm = gemma || !strcmp(a, "qwen3") || !strcmp(a, "qwen3moe");
    int bias = oss || !strcmp(a, "qwen2");
    uint64_t D = (uint64_t)s->dim, Q = (uint64_t)s->heads * (uint64_t)s->head_dim,
             K = (uint64_t)s->kv_heads * (uint64_t)s->head_dim, F = (uint64_t)s->ffn,
             E = (uint64_t)s->n_expert, EF = (uint64_t)s->expert_ffn;
    char nm[64];
    if (!strcmp(a, "qwen35")) {
        list_qwen35(s, l);
        return;
    }
    if (!strcmp(a, "llama")) add(l, "rope_freqs.weight", 1, (uint64_t)s->head_dim / 2, 0, 0);
    add(l, "token_embd.weight", 2, D, (uint64_t)s->vocab, 0);
    if (!s->tied) add(l, "output.weight", 2, D, (uint64_t)s->vocab, 0);
#define L(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", i, suffix), nm)
    for (int i = 0; i < s->layers; i++) {
        add(l, L("attn_norm.weight"), 1, D, 0, 0);
        add(l, L("attn_q.weight"), 2, D, Q, 0);
        add(l, L("attn_k.weight"), 2, D, K, 0);
        add(l, L("attn_v.weight"), 2, D, K, 0);
        add(l, L("attn_output.weight"), 2, Q, D, 0);
        if (bias) {
            add(l, L("attn_q.bias"), 1, Q, 0, 0);
            add(l, L("attn_k.bias"), 1, K, 0, 0);
            add(l, L("attn_v.bias"), 1, K, 0, 0);
        }
        if (oss) {
            add(l, L("attn_output.bias"), 1, D, 0, 0);
            add(l, L("attn_sinks.weight"), 1, (uint64_t)s->heads, 0, 0);
        }
        if (qk_norm) {
            add(l, L("attn_q_norm.weight"), 1, (uint64_t)s->head_dim, 0, 0);
            add(l, L("attn_k_norm.weight"), 1, (uint64_t)s->head_dim, 0, 0);
        }
        if (gemma || oss) add(l, L("post_attention_norm.weight"), 1, D, 0, 0);
        if (gemma) add(l, L("post_ffw_norm.weight"), 1, D, 0, 0);
        if (!oss) add(l, L("ffn_norm.weight"), 1, D, 0, 0);
        if (moe) {
            add(l, L("ffn_gate_inp.weight"), 2, D, E, 0);
            add(l, L("ffn_gate_exps.weight"), 3, D, EF, E);
            add(l, L("ffn_up_exps.weight"), 3, D, EF, E);
            add(l, L("ffn_down_exps.weight"), 3, EF, D, E);
            if (oss) {
                add(l, L("ffn_gate_inp.bias"), 1, E, 0, 0);
                add(l, L("ffn_gate_exps.bias"), 2, EF, E, 0);
                add(l, L("ffn_up_exps.bias"), 2, EF, E, 0);
                add(l, L("ffn_down_exps.bias"), 2, D, E, 0);
            }
        } else {
            add(l, L("ffn_gate.weight"), 2, D, F, 0);
            add(l, L("ffn_up.weight"), 2, D, F, 0);
            add(l, L("ffn_down.weight"), 2, F, D, 0);
        }
    }
#undef L
    add(l, "output_norm.weight", 1, D, 0, 0);
}

/* Each tensor's type under mix (llama-quantize's choice; gpt-oss: ggml-org's MXFP4 file). */
static void choose_types(const shape *s, const char *mix, tlist *l)
{
    int n_attn_v = 0, has_output = !s->tied, n_blocks = s->layers + s->mtp;
    for (int i = 0; i < l->n; i++)
        n_attn_v += strstr(l->t[i].name, "attn_v.weight") != NULL;
    for (int i = 0; i < l->n; i++) {
        tdesc *t = &l->t[i];
        if (!strcmp(mix, "mxfp4")) {
            int mat =
                t->n_dims >= 2 && strstr(t->name, ".weight") && !strstr(t->name, "ffn_gate_inp");
            t->type = !mat                        ? GPTC_TYPE_F32
                      : strstr(t->name, "_exps.") ? GPTC_TYPE_MXFP4
                                                  : GPTC_TYPE_Q8_0;
        } else {
            /* llama.cpp counts layers for ffn_down (MoE included), as gptc quantize does */
            t->type =
                gptc_quantize_type_for(mix, t->name, GPTC_TYPE_F32, t->n_dims, (int64_t)t->ne[0],
                                       n_blocks, n_attn_v, n_blocks, has_output, NULL);
        }
    }
}

static uint64_t tensor_bytes(const tdesc *t)
{
    uint64_t rows = 1;
    for (int d = 1; d < t->n_dims; d++)
        rows *= t->ne[d];
    return rows * gptc_row_bytes(t->type, (int64_t)t->ne[0]);
}

/* ----- random blocks ----------------------------------------------------------------------------
 */

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void put_f16(uint8_t *p, float v)
{
    uint16_t h = gptc_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* Fill n bytes (whole blocks) of type with random valid blocks: random quants, small finite
 * scales (weights of order 0.01-0.1). ones: 1-D F32 tensors (norm weights, biases) are 1.
 * 0 for a type this writer does not know. */
static int fill(uint32_t type, int ones, uint8_t *p, uint64_t n, uint64_t *rng)
{
    if (type == GPTC_TYPE_F32) {
        float *f = (float *)p;
        for (uint64_t i = 0; i < n / 4; i++)
            f[i] = ones ? 1.0f : ((float)(next(rng) >> 40) / 16777216.0f - 0.5f) * 0.1f;
        return 1;
    }
    if (type == GPTC_TYPE_F16) {
        for (uint64_t i = 0; i < n / 2; i++)
            put_f16(p + 2 * i, ((float)(next(rng) >> 40) / 16777216.0f - 0.5f) * 0.1f);
        return 1;
    }
    for (uint64_t i = 0; i + 8 <= n; i += 8) {
        uint64_t r = next(rng);
        memcpy(p + i, &r, 8);
    }
    const gptc_type_traits *tt = gptc_type_info(type);
    size_t bs = tt->type_size;
    int d_off = -1, m_off = -1; /* f16 scale and min offsets in a block */
    switch (type) {
    case GPTC_TYPE_Q4_0:
    case GPTC_TYPE_Q5_0:
    case GPTC_TYPE_Q8_0:
    case GPTC_TYPE_IQ4_NL:
    case GPTC_TYPE_IQ4_XS:
        d_off = 0;
        break;
    case GPTC_TYPE_Q4_1:
    case GPTC_TYPE_Q5_1:
    case GPTC_TYPE_Q4_K:
    case GPTC_TYPE_Q5_K:
        d_off = 0, m_off = 2;
        break;
    case GPTC_TYPE_Q2_K:
        d_off = 80, m_off = 82;
        break;
    case GPTC_TYPE_Q3_K:
        d_off = 108;
        break;
    case GPTC_TYPE_Q6_K:
        d_off = 208;
        break;
    case GPTC_TYPE_MXFP4:
        for (uint64_t b = 0; b + bs <= n; b += bs)
            p[b] = 120; /* E8M0 2^-7: |w| <= 6/128 */
        return 1;
    default:
        return 0;
    }
    /* the k-quants' 6-bit sub-scales multiply d: keep d smaller there */
    float d = tt->blck == 256 ? 0.0005f : 0.001f;
    for (uint64_t b = 0; b + bs <= n; b += bs) {
        put_f16(p + b + d_off, d);
        if (m_off >= 0) put_f16(p + b + m_off, d);
    }
    return 1;
}

/* ----- the file ---------------------------------------------------------------------------------
 */

static void set_u32(gguf_file *f, const char *arch, const char *key, uint64_t v, gptc_err *err)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gptc_gguf_set_uint(f, k, GGUF_VT_U32, v, err);
}

static void set_f32(gguf_file *f, const char *arch, const char *key, float v, gptc_err *err)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    gptc_gguf_set_f32(f, k, v, err);
}

static void set_keys(gguf_file *f, const shape *s, const char *mix, uint64_t params, gptc_err *err)
{
    const char *a = s->arch;
    char label[32];
    if (params >= 1000000000ull)
        snprintf(label, sizeof label, "%.1fB", params / 1e9);
    else
        snprintf(label, sizeof label, "%.0fM", params / 1e6);
    gptc_gguf_set_str(f, "general.architecture", a, strlen(a), err);
    gptc_gguf_set_str(f, "general.type", "model", 5, err);
    gptc_gguf_set_str(f, "general.name", s->name, strlen(s->name), err);
    gptc_gguf_set_str(f, "general.size_label", label, strlen(label), err);
    set_u32(f, a, "block_count", (uint64_t)(s->layers + s->mtp), err);
    set_u32(f, a, "context_length", (uint64_t)s->ctx, err);
    set_u32(f, a, "embedding_length", (uint64_t)s->dim, err);
    set_u32(f, a, "feed_forward_length", (uint64_t)s->ffn, err);
    set_u32(f, a, "attention.head_count", (uint64_t)s->heads, err);
    set_u32(f, a, "attention.head_count_kv", (uint64_t)s->kv_heads, err);
    if (s->attn_interval) { /* qwen35: M-RoPE sections of the rotated quarter */
        char k[128];
        int32_t sec[4] = {s->rope_dims / 6 + 1, s->rope_dims / 6 + 1, 0, 0};
        sec[2] = s->rope_dims / 2 - sec[0] - sec[1];
        snprintf(k, sizeof k, "%s.rope.dimension_sections", a);
        gptc_gguf_set_arr(f, k, GGUF_VT_I32, sec, 4, err);
    }
    if (!strcmp(a, "gpt-oss")) {
        char k[128];
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        gptc_gguf_set_str(f, k, "yarn", 4, err);
        set_f32(f, a, "rope.scaling.factor", 32.0f, err);
        set_u32(f, a, "rope.scaling.original_context_length", 4096, err);
        set_f32(f, a, "rope.scaling.yarn_beta_fast", 32.0f, err);
        set_f32(f, a, "rope.scaling.yarn_beta_slow", 1.0f, err);
    }
    set_f32(f, a, "rope.freq_base", s->rope_base, err);
    if (s->rope_base_swa > 0) set_f32(f, a, "rope.freq_base_swa", s->rope_base_swa, err);
    set_f32(f, a, "attention.layer_norm_rms_epsilon", s->eps, err);
    if (s->n_expert) {
        set_u32(f, a, "expert_count", (uint64_t)s->n_expert, err);
        set_u32(f, a, "expert_used_count", (uint64_t)s->n_used, err);
    }
    if (strcmp(a, "qwen2") != 0) { /* the qwen2 converter writes no key/value_length */
        set_u32(f, a, "attention.key_length", (uint64_t)s->head_dim, err);
        set_u32(f, a, "attention.value_length", (uint64_t)s->head_dim, err);
    }
    int ft = !strcmp(mix, "mxfp4") ? 38 : gptc_quantize_ftype(mix);
    gptc_gguf_set_uint(f, "general.file_type", GGUF_VT_U32, (uint64_t)ft, err);
    if (s->swa) set_u32(f, a, "attention.sliding_window", (uint64_t)s->swa, err);
    if (s->n_expert) set_u32(f, a, "expert_feed_forward_length", (uint64_t)s->expert_ffn, err);
    if (!strcmp(a, "llama")) {
        set_u32(f, a, "vocab_size", (uint64_t)s->vocab, err);
        set_u32(f, a, "rope.dimension_count", (uint64_t)s->head_dim, err);
    }
    if (s->attn_interval) {
        set_u32(f, a, "nextn_predict_layers", (uint64_t)s->mtp, err);
        set_u32(f, a, "ssm.conv_kernel", (uint64_t)s->conv_kernel, err);
        set_u32(f, a, "ssm.state_size", (uint64_t)s->ssm_head_dim, err);
        set_u32(f, a, "ssm.group_count", (uint64_t)s->ssm_k_heads, err);
        set_u32(f, a, "ssm.time_step_rank", (uint64_t)s->ssm_v_heads, err);
        set_u32(f, a, "ssm.inner_size", (uint64_t)(s->ssm_v_heads * s->ssm_head_dim), err);
        set_u32(f, a, "full_attention_interval", (uint64_t)s->attn_interval, err);
        set_u32(f, a, "rope.dimension_count", (uint64_t)s->rope_dims, err);
    }
    gptc_gguf_set_uint(f, "general.quantization_version", GGUF_VT_U32, 2, err);
}

/* The synthetic SentencePiece vocabulary; 0 when out of memory. */
static int set_vocab(gguf_file *f, const shape *s, int add_bos, gptc_err *err)
{
    int V = s->vocab;
    gptc_str *toks = malloc(sizeof *toks * (size_t)V);
    char *text = malloc((size_t)V * 16);
    float *scores = malloc(sizeof *scores * (size_t)V);
    int32_t *types = malloc(sizeof *types * (size_t)V);
    int ok = toks && text && scores && types;
    for (int i = 0; ok && i < V; i++) {
        char *t = text + (size_t)i * 16;
        if (i == 0)
            strcpy(t, "<unk>");
        else if (i == 1)
            strcpy(t, "<s>");
        else if (i == 2)
            strcpy(t, "</s>");
        else if (i < 259)
            snprintf(t, 16, "<0x%02X>", i - 3);
        else
            snprintf(t, 16, "\xe2\x96\x81t%d", i);
        toks[i] = (gptc_str){t, strlen(t)};
        scores[i] = (float)-i;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    if (ok) {
        gptc_gguf_set_str(f, "tokenizer.ggml.model", "llama", 5, err);
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", toks, (uint64_t)V, err);
        gptc_gguf_set_arr(f, "tokenizer.ggml.scores", GGUF_VT_F32, scores, (uint64_t)V, err);
        gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, types, (uint64_t)V, err);
        gptc_gguf_set_uint(f, "tokenizer.ggml.bos_token_id", GGUF_VT_U32, 1, err);
        gptc_gguf_set_uint(f, "tokenizer.ggml.eos_token_id", GGUF_VT_U32, 2, err);
        gptc_gguf_set_uint(f, "tokenizer.ggml.unknown_token_id", GGUF_VT_U32, 0, err);
        gptc_gguf_set_uint(f, "tokenizer.ggml.seperator_token_id", GGUF_VT_U32, 0xFFFFFFFFu, err);
        gptc_gguf_set_uint(f, "tokenizer.ggml.padding_token_id", GGUF_VT_U32, 0xFFFFFFFFu, err);
        gptc_gguf_set_bool(f, "tokenizer.ggml.add_bos_token", add_bos, err);
    }
    free(toks), free(text), free(scores), free(types);
    return ok;
}

/* Write shape s in mix to dir; 1 on success (errors on stderr). */
static int write_model(const shape *s, const char *mix, const char *dir)
{
    tlist l = {0};
    list_tensors(s, &l);
    choose_types(s, mix, &l);
    /* one pool per (type, 1-D F32 or not), as large as the largest tensor using it */
    enum { NP = 2 * GPTC_TYPE_COUNT };
    uint64_t need[NP] = {0}, params = 0;
    uint8_t *pool[NP] = {0};
    for (int i = 0; i < l.n; i++) {
        tdesc *t = &l.t[i];
        if (!gptc_type_info(t->type)) {
            fprintf(stderr, "bench_shapes: %s: no type for %s\n", s->name, t->name);
            return 0;
        }
        int k = (int)t->type * 2 + (t->n_dims == 1);
        uint64_t b = tensor_bytes(t), n = t->ne[0];
        for (int d = 1; d < t->n_dims; d++)
            n *= t->ne[d];
        params += n;
        if (b > need[k]) need[k] = b;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int ok = 1;
    for (int k = 0; ok && k < NP; k++) {
        if (!need[k]) continue;
        pool[k] = malloc(need[k] + 8);
        if (!pool[k]) {
            fprintf(stderr, "bench_shapes: out of memory (%llu bytes)\n",
                    (unsigned long long)need[k]);
            ok = 0;
        } else if (!fill((uint32_t)(k / 2), k % 2, pool[k], need[k], &rng)) {
            fprintf(stderr, "bench_shapes: cannot fill type %s\n",
                    gptc_type_info((uint32_t)(k / 2))->name);
            ok = 0;
        }
    }
    gptc_err err = {0};
    gguf_file *f = NULL;
    if (ok && gptc_gguf_new(&f, &err)) ok = 0;
    if (ok) {
        set_keys(f, s, mix, params, &err);
        ok = set_vocab(f, s, !strcmp(s->arch, "llama") || !strcmp(s->arch, "gemma3"), &err);
    }
    uint64_t total = 0;
    for (int i = 0; ok && i < l.n; i++) {
        tdesc *t = &l.t[i];
        total += tensor_bytes(t);
        if (gptc_gguf_add_tensor(f, t->name, t->type, (uint32_t)t->n_dims, t->ne,
                                 pool[(int)t->type * 2 + (t->n_dims == 1)], &err))
            ok = 0;
    }
    char path[1024], up[32];
    snprintf(up, sizeof up, "%s", mix);
    for (char *c = up; *c; c++)
        if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 'a' + 'A');
    snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, s->name, up);
    if (ok && err.msg[0]) ok = 0; /* a setter failed */
    if (ok && gptc_gguf_write(f, path, &err)) ok = 0;
    if (ok)
        printf("%s\t%s\t%.2f GB tensor data\t%.3fB params\n", path, s->arch, total / 1e9,
               params / 1e9);
    else
        fprintf(stderr, "bench_shapes: %s %s: %s\n", s->name, mix, err.msg[0] ? err.msg : "failed");
    if (f) gptc_gguf_close(f);
    for (int k = 0; k < NP; k++)
        free(pool[k]);
    free(l.t);
    return ok;
}

static int has_mix(const shape *s, const char *mix)
{
    size_t n = strlen(mix);
    for (const char *p = s->mixes; *p;) {
        const char *e = strchr(p, ',');
        size_t m = e ? (size_t)(e - p) : strlen(p);
        if (m == n && !strncmp(p, mix, n)) return 1;
        p += m + (e != NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp/gptc-shapes";
    int n_sel = 0, n_layers = 0, n_shapes = (int)(sizeof k_shapes / sizeof k_shapes[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--layers") && i + 1 < argc) {
            n_layers = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--list")) {
            for (int k = 0; k < n_shapes; k++)
                printf("%s\t%s\t%s\n", k_shapes[k].name, k_shapes[k].arch, k_shapes[k].mixes);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "bench_shapes: unknown option '%s'\n", argv[i]);
            return 1;
        } else {
            n_sel++;
        }
    }
    if (!n_sel) {
        fprintf(stderr, "usage: bench_shapes [--dir DIR] all | NAME[:MIX]... | --list\n");
        return 1;
    }
    mkdir(dir, 0755);
    int fails = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") || !strcmp(argv[i], "--layers")) {
            i++;
            continue;
        }
        char name[64], *mix = NULL;
        snprintf(name, sizeof name, "%s", argv[i]);
        if ((mix = strchr(name, ':'))) *mix++ = 0;
        int found = 0;
        for (int k = 0; k < n_shapes; k++) {
            shape sh = k_shapes[k];
            const shape *s = &sh;
            if (strcmp(name, "all") != 0 && strcmp(name, s->name) != 0) continue;
            if (n_layers > 0 && n_layers < sh.layers) sh.layers = n_layers;
            found = 1;
            char mixes[64];
            snprintf(mixes, sizeof mixes, "%s", s->mixes);
            for (char *m = strtok(mixes, ","); m; m = strtok(NULL, ","))
                if (!mix || !strcmp(mix, m)) fails += !write_model(s, m, dir);
            if (mix && !has_mix(s, mix)) {
                fprintf(stderr, "bench_shapes: %s has no mix '%s' (it has %s)\n", s->name, mix,
                        s->mixes);
                fails++;
            }
        }
        if (!found) {
            fprintf(stderr, "bench_shapes: unknown shape '%s' (see --list)\n", name);
            fails++;
        }
    }
    return fails ? 1 : 0;
}
