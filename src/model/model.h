/*
 * model.h — a loaded model: hyperparameters and weight views over a gguf_file.
 *
 * The model owns its gguf_file (the mapping the weights live in), its tokenizer and a few
 * small f32 copies (norm vectors). Everything else is a borrowed view into the mapping.
 * Immutable after gptc_model_load; shared read-only by all threads.
 */
#ifndef GPTC_MODEL_H
#define GPTC_MODEL_H

#include "../core/base.h"
#include "../format/gguf.h"

/* A 2-D weight of type F32/F16/BF16: (rows, cols) row-major, row r at data + r * row_bytes. */
typedef struct gptc_wt {
    uint32_t type;
    const void *data; /* borrowed: mmap view */
    int rows, cols;
} gptc_wt;

typedef struct gptc_layer {
    float *attn_norm; /* (D) owned */
    gptc_wt wq;       /* (H * hd, D) */
    gptc_wt wk;       /* (Hkv * hd, D) */
    gptc_wt wv;       /* (Hkv * hd, D) */
    gptc_wt wo;       /* (D, H * hd) */
    float *ffn_norm;  /* (D) owned */
    gptc_wt w_gate;   /* (F, D) */
    gptc_wt w_up;     /* (F, D) */
    gptc_wt w_down;   /* (D, F) */
    /* gpt2 only (NULL / unbound for llama): fused q|k|v rows, LayerNorm biases, linear biases */
    gptc_wt wqkv;       /* (3D, D) */
    float *attn_norm_b; /* (D) owned */
    float *bqkv;        /* (3D) owned */
    float *bo;          /* (D) owned */
    float *ffn_norm_b;  /* (D) owned */
    float *b_up;        /* (F) owned */
    float *b_down;      /* (D) owned */
} gptc_layer;

/* Architectures gptc runs (general.architecture). */
enum gptc_arch { GPTC_ARCH_LLAMA = 0, GPTC_ARCH_GPT2 = 1 };

struct gptc_model {
    gguf_file *file;       /* owned: the weights' mapping and the metadata */
    gptc_hparams hp;
    gptc_wt tok_embd;      /* (V, D) */
    float *out_norm;       /* (D) owned */
    gptc_wt output;        /* (V, D); same view as tok_embd when tied */
    gptc_layer *layers;    /* (L) owned */
    gptc_tokenizer *tok;   /* owned */
    uint64_t weight_bytes; /* bytes the forward pass reads per token */
    int arch;              /* enum gptc_arch */
    gptc_wt pos_embd;      /* gpt2: (n_ctx_train, D) learned positions */
    float *out_norm_b;     /* gpt2: (D) owned */
};

/* Open a model file as a gguf_file without building a model: GGUF is mapped and parsed; any
 * other regular file is imported as a llama2.c checkpoint with the tokenizer at tokenizer_path
 * (NULL: tokenizer.bin beside it). Directories, FIFOs and devices are refused.
 * OUT: owned, free with gguf_close. */
gptc_status gptc_model_open_file(const char *path, const char *tokenizer_path, gguf_file **out,
                                 gptc_err *err);

/* Build a model from a parsed or imported GGUF; takes ownership of f in every case. */
gptc_status gptc_model_from_gguf(gguf_file *f, gptc_model **out, gptc_err *err);

/* Weight binding for the architecture files (model.c for llama, gpt2.c): a 2-D weight that must
 * be (rows, cols), and a 1-D vector of n elements copied to an owned f32 array. */
gptc_status gptc_model_bind_wt(gptc_model *m, const char *name, int rows, int cols, gptc_wt *w,
                               gptc_err *err);
gptc_status gptc_model_bind_vec(gptc_model *m, const char *name, int n, float **out, gptc_err *err);

/* gpt2.c: bind the gpt2 tensors (hparams and tokenizer already read), and its forward pass
 * (called by gptc_decode after the batch is checked). */
gptc_status gptc_gpt2_bind(gptc_model *m, gptc_err *err);
struct gptc_ctx;
gptc_status gptc_gpt2_decode(struct gptc_ctx *c, const gptc_batch *b, gptc_err *err);

#endif
