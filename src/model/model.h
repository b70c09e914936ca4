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
} gptc_layer;

struct gptc_model {
    gguf_file *file;       /* owned: the weights' mapping and the metadata */
    gptc_hparams hp;
    gptc_wt tok_embd;      /* (V, D) */
    float *out_norm;       /* (D) owned */
    gptc_wt output;        /* (V, D); same view as tok_embd when tied */
    gptc_layer *layers;    /* (L) owned */
    gptc_tokenizer *tok;   /* owned */
    uint64_t weight_bytes; /* bytes the forward pass reads per token */
};

/* Open a model file as a gguf_file without building a model: GGUF is mapped and parsed; any
 * other regular file is imported as a llama2.c checkpoint with the tokenizer at tokenizer_path
 * (NULL: tokenizer.bin beside it). Directories, FIFOs and devices are refused.
 * OUT: owned, free with gguf_close. */
gptc_status gptc_model_open_file(const char *path, const char *tokenizer_path, gguf_file **out,
                                 gptc_err *err);

/* Build a model from a parsed or imported GGUF; takes ownership of f in every case. */
gptc_status gptc_model_from_gguf(gguf_file *f, gptc_model **out, gptc_err *err);

#endif
