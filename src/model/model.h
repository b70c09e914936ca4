/*
 * model.h — a loaded model: hyperparameters and weight views over a gguf_file.
 *
 * The model owns its gguf_file (the mapping the weights live in), its tokenizer and a few
 * small f32 copies (norm vectors, biases). Everything else is a borrowed view into the mapping.
 * Immutable after gptc_model_load; shared read-only by all threads.
 *
 * One struct serves every architecture: a field an architecture does not use stays NULL / 0,
 * and the shared blocks (decode.c) skip it. See docs/architecture.md, "Architectures".
 */
#ifndef GPTC_MODEL_H
#define GPTC_MODEL_H

#include "core/base.h"
#include "format/gguf.h"
#include "model/arch.h"

/* A 2-D weight: (rows, cols) row-major, row r at data + r * gptc_row_bytes(type, cols). */
typedef struct gptc_wt {
    uint32_t type;
    const void *data; /* borrowed: mmap view */
    int rows, cols;
    int packed; /* 1: data is in the packed layout of quant/pack.h (repack.c), not the file's rows
                 */
} gptc_wt;

/* A rotary embedding: token at position p rotates pair i by p * inv_freq[i], and cos and sin
 * are multiplied by attn_factor. */
typedef struct gptc_rotary {
    int n_rot;  /* rotated dimensions of each head (even) */
    int neox;   /* 1: pairs (i, i + n_rot/2) (NEOX); 0: adjacent pairs (2i, 2i+1) (NORM) */
    float base; /* freq_base */
    float attn_factor;
    int has_factors; /* per-pair frequency factors were applied (rope_freqs, LongRoPE) */
    float *inv_freq; /* (n_rot / 2) owned: base^(-2i/n_rot) / freq_factor_i */
} gptc_rotary;

/* Feed-forward activations */
enum gptc_act {
    GPTC_ACT_SILU = 0,  /* SwiGLU: silu(gate) * up */
    GPTC_ACT_GELU,      /* GELU (tanh approximation, f32) of up, no gate (gpt2) */
    GPTC_ACT_GEGLU_F16, /* gelu(gate) * up with ggml's f16 GELU table (Gemma) */
    GPTC_ACT_GELU_F16,  /* gelu(up) with ggml's f16 table, no gate (BERT) */
};

/* lfm2's gated short convolution (lfm2.c): B, C, x = split(in_proj · h, 3),
 * y = C ⊙ conv(B ⊙ x) over the last k tokens, out_proj · y. */
typedef struct gptc_shortconv {
    gptc_wt in_proj;  /* (3D, D): B rows, then C, then x */
    gptc_wt out_proj; /* (D, D) */
    int k;            /* taps (shortconv.l_cache) */
    float *w;         /* (D, k) owned: channel ch's taps, the oldest first */
} gptc_shortconv;

typedef struct gptc_layer {
    /* attention shape of this layer */
    int n_head, n_head_kv, hd;
    int n_swa;               /* 0: full attention; else a query at p sees keys at p' > p - n_swa */
    int kv_src;              /* the layer whose KV cache it reads (itself unless shared) */
    const gptc_rotary *rope; /* NULL: no rotary embedding in this layer */
    int n_ff;                /* this layer's feed-forward width */

    float *attn_norm;         /* (D) owned */
    float *attn_norm_b;       /* (D) owned; LayerNorm bias or NULL (RMSNorm) */
    gptc_wt wq;               /* (H * hd, D) */
    gptc_wt wk;               /* (Hkv * hd, D) */
    gptc_wt wv;               /* (Hkv * hd, D) */
    gptc_wt wo;               /* (D, H * hd) */
    float *bq, *bk, *bv, *bo; /* biases or NULL */
    float *bqkv;              /* owned fused q|k|v bias (bq, bk, bv are views) or NULL */
    float *q_norm, *k_norm;   /* (hd) per-head RMSNorm weights or NULL */
    int v_norm;               /* 1: per-head RMSNorm of V without weight (gemma4) */
    float *post_attn_norm;    /* (D) RMSNorm of the attention output before the residual */
    float *ffn_norm;          /* (D) owned */
    float *ffn_norm_b;        /* (D) owned or NULL */
    gptc_wt w_gate;           /* (F, D); unbound (data NULL) without a gate */
    gptc_wt w_up;             /* (F, D) */
    gptc_wt w_down;           /* (D, F) */
    float *b_up, *b_down;     /* biases or NULL */
    float *post_ffw_norm;     /* (D) RMSNorm of the ffn output before the residual */
    gptc_wt wqkv;             /* fused q|k|v rows when the file has them (wq, wk, wv are views) */
    float *attn_sinks;        /* (n_head) owned: gpt-oss's per-head sink logits, or NULL */
    struct gptc_moe *moe;     /* owned: the mixture-of-experts feed-forward (moe.h), or NULL */
    struct gptc_dn_layer *dn; /* owned: qwen35's delta-net vectors, or NULL */
    gptc_wt aux[3];           /* the architecture's other products (unbound: data NULL); qwen35:
                               * ssm_alpha, ssm_beta, ffn_gate_inp_shexp */
    /* Recurrent state (hybrid models: short convolutions, delta-net): floats this layer keeps
     * per sequence between batches, laid out as the architecture says (e.g. lfm2: the last
     * kernel-1 inputs of the convolution). 0: none. The context owns the memory (context.h). */
    int n_state;
    gptc_shortconv *sconv; /* owned: lfm2's short convolution replacing attention, or NULL */
    /* gemma4's per-layer input: x += ple_post_norm(ple_proj(gelu(ple_gate . x) * ple_l)) */
    gptc_wt ple_gate;     /* (P, D); unbound without per-layer inputs */
    gptc_wt ple_proj;     /* (D, P) */
    float *ple_post_norm; /* (D) owned */
    float out_scale;      /* the layer's output is multiplied by it (0: 1) */
} gptc_layer;

struct gptc_arch_def;

struct gptc_model {
    gguf_file *file; /* owned: the weights' mapping and the metadata */
    gptc_hparams hp;
    const struct gptc_arch_def *def; /* the architecture's row of the table (arch.c) */
    int arch;                        /* enum gptc_arch */
    gptc_wt tok_embd;                /* (V, D) */
    float *out_norm;                 /* (D) owned; NULL: no final norm */
    float *out_norm_b;               /* (D) owned; LayerNorm bias or NULL (RMSNorm) */
    gptc_wt output;                  /* (V, D); same view as tok_embd when tied */
    gptc_layer *layers;              /* (L) owned */
    gptc_tokenizer *tok;             /* owned */
    uint64_t weight_bytes;           /* bytes the forward pass reads per token */
    void *pack_buf;                  /* owned: the packed weights (repack.c), or NULL */
    uint64_t pack_bytes;             /* its size */
    gptc_wt pos_embd;                /* gpt2, bert: (n_ctx_train, D) learned positions */
    gptc_wt type_embd;               /* bert: (n_types, D) token-type embeddings */
    float *embd_norm, *embd_norm_b;  /* bert: (D) owned; LayerNorm of the input embeddings */
    int n_ple;                       /* gemma4: per-layer input width P (0: none) */
    gptc_wt ple_embd;                /* gemma4: (V, L * P) per_layer_token_embd */
    gptc_wt ple_model_proj;          /* gemma4: (L * P, D) per_layer_model_proj */
    float *ple_proj_norm;            /* gemma4: (P) owned; RMSNorm of each layer's projection */

    /* architecture constants, read by the shared blocks */
    gptc_rotary rope[2]; /* [0] global layers, [1] local (sliding-window) layers */
    int n_rope;          /* how many of rope[] are set */
    int act;             /* enum gptc_act of the feed-forward */
    float embd_scale;    /* the input embedding is multiplied by it (0: 1) */
    float attn_scale;    /* attention score scale (0: 1/sqrt(hd)) */
    float attn_softcap;  /* scores s -> cap * tanh(s / cap) (0: none) */
    float final_softcap; /* logits, the same (0: none) */
    int causal;          /* 1: a token sees positions <= its own (all but bert) */
    int pooling;         /* bert: 1 mean, 2 CLS (llama.cpp's pooling_type); 0: none */
    int n_swa;           /* the sliding window of the local layers (0: none) */
    int swa_min;         /* > 0: every layer with its own KV is sliding, the smallest window */
    int rope_long_ctx;   /* phi3: contexts over this use rope[1] (long factors) for rope[0] */
    int rs_floats;       /* floats of scratch per batch token the recurrent layers use (c->rs) */
};

/* Open a model file as a gguf_file without building a model: GGUF is mapped and parsed; any
 * other regular file is imported as a llama2.c checkpoint with the tokenizer at tokenizer_path
 * (NULL: tokenizer.bin beside it). Directories, FIFOs and devices are refused.
 * OUT: owned, free with gptc_gguf_close. */
gptc_status gptc_model_open_file(const char *path, const char *tokenizer_path, gguf_file **out,
                                 gptc_err *err);

/* Build a model from a parsed or imported GGUF; takes ownership of f in every case. */
gptc_status gptc_model_from_gguf(gguf_file *f, gptc_model **out, gptc_err *err);

/* ----- for the architecture files (model.c) ----------------------------------------------- */

/* A 2-D weight that must be (rows, cols); a 1-D vector of n elements copied to an owned f32
 * array. The _opt forms leave *w / *out unset (zero) when the tensor is absent. */
gptc_status gptc_model_bind_wt(gptc_model *m, const char *name, int rows, int cols, gptc_wt *w,
                               gptc_err *err);
gptc_status gptc_model_bind_vec(gptc_model *m, const char *name, int n, float **out, gptc_err *err);
gptc_status gptc_model_bind_vec_opt(gptc_model *m, const char *name, int n, float **out,
                                    gptc_err *err);
/* Rows [r0, r0 + rows) of w as a weight of its own (a view: fused qkv, fused gate/up). */
/* repack.c: pack the model's layer products and classifier for the ops table's faster kernels,
 * where it has them (quant/pack.h); views that cannot be packed stay on the file. Right after
 * loading; a second call does nothing. */
gptc_status gptc_model_repack(gptc_model *m, gptc_err *err);
/* Bytes gptc_model_repack would pack, without packing (`gptc info --mem`); m->pack_bytes once
 * packed. */
uint64_t gptc_model_repack_bytes(gptc_model *m);
gptc_wt gptc_wt_rows(const gptc_wt *w, int r0, int rows);
/* token_embd (checked against the vocabulary), output_norm(.bias when ln), output or tied. */
gptc_status gptc_model_bind_io(gptc_model *m, int ln, gptc_err *err);
/* The same with the final norm's tensors named NORM.weight (and NORM.bias with ln) instead of
 * output_norm (lfm2: token_embd_norm). */
gptc_status gptc_model_bind_io_norm(gptc_model *m, int ln, const char *norm, gptc_err *err);
/* Allocate m->layers and give every layer the model's attention shape (n_head, n_head_kv,
 * head_dim), n_ff, kv_src = itself and the global rope (or none when hp.n_rot is 0). */
gptc_status gptc_model_alloc_layers(gptc_model *m, gptc_err *err);
/* Bind the usual per-layer tensors of a pre-norm decoder layer l: attn_norm, attn_q/k/v (or
 * attn_qkv when the file has it), attn_output, ffn_norm, ffn_gate (when gated), ffn_up (or the
 * fused gate|up ffn_up when fused_up), ffn_down; with biases where `biases` says (bit 0: q/k/v,
 * bit 1: output, bit 2: ffn, bit 3: norms are LayerNorms with bias). */
#define GPTC_BIAS_QKV 1
#define GPTC_BIAS_O 2
#define GPTC_BIAS_FFN 4
#define GPTC_BIAS_NORM 8
gptc_status gptc_model_bind_layer(gptc_model *m, int l, int biases, int gated, int fused_up,
                                  gptc_err *err);
/* Build a rope: n_rot dims, base, NORM or NEOX; factors (n_rot/2 values or NULL) divide the
 * angles. */
gptc_status gptc_model_rope(gptc_model *m, gptc_rotary *r, int n_rot, float base, int neox,
                            const float *factors, gptc_err *err);

/* Apply rope.scaling.type / rope.scaling.factor to the global rope m->rope[0]: none, linear
 * (angles divided by the factor), llama3 (as the rope_freqs tensor already holds); anything else
 * is an error naming the key. */
gptc_status gptc_rope_scaling(gptc_model *m, gptc_err *err);

/* Read "<arch>.<name>": an integer in [lo, hi] (def < lo: required), a float in (0, 1e30)
 * (missing: def), a bool (missing: def). Errors name the key. */
gptc_status gptc_hp_int(const gguf_file *f, const char *arch, const char *name, int64_t lo,
                        int64_t hi, int64_t def, int *out, gptc_err *err);
gptc_status gptc_hp_float(const gguf_file *f, const char *arch, const char *name, double def,
                          float *out, gptc_err *err);
/* A per-layer integer key that is either one integer or an array of n_layer integers; out
 * (n_layer). def < lo: required. */
gptc_status gptc_hp_int_arr(const gguf_file *f, const char *arch, const char *name, int n_layer,
                            int64_t lo, int64_t hi, int64_t def, int *out, gptc_err *err);
/* kv (named key in messages) as an array of n_layer bools: out (n_layer) gets 0 / 1. */
gptc_status gptc_hp_layer_bools(const gguf_kv *kv, const char *key, int n_layer, int *out,
                                gptc_err *err);

/* The hparams common to the decoder families (embedding_length, feed_forward_length,
 * block_count, head counts, key_length, context_length, rope dims/base, rms epsilon) with
 * head_count_kv dividing head_count. feed_forward_length is required unless hp.n_ff is already
 * set (> 0), which then is its default. */
gptc_status gptc_hp_common(gptc_model *m, gptc_err *err);
/* The Qwen families' hparams (qwen2, qwen3, qwen3moe): gptc_hp_common, SiLU, one NEOX rope over
 * n_rot dims with rope.scaling applied. */
gptc_status gptc_hp_qwen(gptc_model *m, gptc_err *err);

#endif
