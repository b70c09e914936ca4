/*
 * trainer.h — one training run: model, optimizer state, schedule, data, evaluation, samples and
 * checkpoints, step by step. `gptc train` (src/cli/cmd_train.c) drives it and does all printing.
 *
 * A step = `accum` micro-batches of B x T tokens (random windows of the training split), each
 * forward + backward with loss scaled by 1/accum, then global-norm clipping, the learning rate of
 * the warmup + cosine schedule, and AdamW. Everything that decides the next step (parameters,
 * moments, step number, the data sampler's random state) is in a checkpoint, so a resumed run
 * continues bit for bit as if it had never stopped (with the same thread count or any other: the
 * math does not depend on it).
 */
#ifndef GPTC_TRAIN_TRAINER_H
#define GPTC_TRAIN_TRAINER_H

#include "format/gguf.h"
#include "train/data.h"
#include "train/dist.h"
#include "train/sft.h"
#include "train/train.h"

typedef struct gptc_train_opts {
    gptc_tconfig cfg;   /* architecture and sizes; cfg.n_vocab 0: the tokenizer's size */
    int batch;          /* B sequences per micro-batch; T = cfg.n_ctx */
    int accum;          /* micro-batches per step */
    int steps;          /* optimizer steps in the run */
    int warmup;         /* steps of linear warmup */
    float lr, min_lr;   /* peak and final learning rate (cosine decay) */
    float weight_decay; /* AdamW, decoupled */
    int decay_embeddings;
    float beta1, beta2, eps;
    float clip;       /* global gradient-norm clip; 0: off */
    float val_frac;   /* tail of the corpus held out for validation */
    int eval_batches; /* B x T batches per evaluation */
    uint64_t seed;
    int n_threads; /* 0: all cores */
    int windowed;  /* 1: the data-parallel algorithm (below); saved in checkpoints */
    int seq;       /* training window length T (<= cfg.n_ctx); 0: cfg.n_ctx */
    /* The caller's schedule (gptc train's --eval-every, --ckpt-every, --sample-every,
     * --sample-len): the trainer does not use it, it only saves it in checkpoints so that a
     * resumed run keeps it. -1: unknown (a checkpoint written before it was saved). */
    int eval_every, ckpt_every, sample_every, sample_len;
} gptc_train_opts;

/* nanoGPT-like defaults: lr 1e-3 -> 1e-4, warmup 100, betas 0.9/0.99, wd 0.1, clip 1, 10%
 * validation, 20 evaluation batches, seed 1337. Sizes are left to the caller. */
void gptc_train_opts_default(gptc_train_opts *o);

typedef struct gptc_trainer gptc_trainer;

/* A new run with freshly initialised weights. tok: a GGUF whose tokenizer.* keys the model will
 * carry (copied). OUT: owned, free with gptc_trainer_free. */
gptc_status gptc_trainer_new(const gptc_train_opts *o, const gguf_file *tok, gptc_trainer **out,
                             gptc_err *err);
/* A run that starts from the weights of a model file (any GGUF in an architecture training
 * supports, dequantized to f32), with its tokenizer (and chat template). o->cfg must be
 * gptc_tconfig_from_gguf(model). */
gptc_status gptc_trainer_init_from(const gptc_train_opts *o, const gguf_file *model,
                                   gptc_trainer **out, gptc_err *err);
/* The tokenizer.* keys the model carries (tokenizer.chat_template among them, if any). */
const gguf_file *gptc_trainer_tok_gguf(const gptc_trainer *t);

/* The options a checkpoint was written with (its model configuration included). */
gptc_status gptc_trainer_ckpt_opts(const char *path, gptc_train_opts *o, gptc_err *err);
/* Continue the run saved in checkpoint path. o->cfg must be the checkpoint's model; the other
 * options come from o (gptc_trainer_ckpt_opts gives the saved ones). */
gptc_status gptc_trainer_resume(const char *path, const gptc_train_opts *o, gptc_trainer **out,
                                gptc_err *err);
void gptc_trainer_free(gptc_trainer *t);

const gptc_train_opts *gptc_trainer_opts(const gptc_trainer *t);
gptc_tmodel *gptc_trainer_model(gptc_trainer *t);
const gptc_tokenizer *gptc_trainer_tokenizer(const gptc_trainer *t);
uint64_t gptc_trainer_tok_hash(const gptc_trainer *t);
int gptc_trainer_step_no(const gptc_trainer *t); /* steps done so far */

/* Train LoRA adapters instead of the weights: every matrix named by targets (a mask of
 * gptc_lora_parse_targets) becomes W0 + alpha / rank * B A with W0 frozen, A (rank x in) drawn
 * uniform in +-1/sqrt(in), B (out x rank) zero; only A and B are trained (gptc_tmodel_set_lora:
 * no gradient or optimizer state for the frozen weights). Call once, after the weights are in
 * place. GPTC_E_INVALID for a rank larger than a matrix, or no matrix targeted;
 * GPTC_E_UNSUPPORTED in a data-parallel (windowed) run. */
gptc_status gptc_trainer_set_lora(gptc_trainer *t, int rank, float alpha, unsigned targets,
                                  gptc_err *err);
/* The trainable parameters (the adapters' when LoRA is on, else the model's). */
size_t gptc_trainer_n_trainable(const gptc_trainer *t);
/* Write the adapters as a llama.cpp LoRA GGUF (see lora.h), atomically. */
gptc_status gptc_trainer_save_lora(gptc_trainer *t, const char *path, gptc_err *err);
/* The gradients of the adapters after the last step's backward (for tests): A then B of each
 * adapted matrix in table order. */
const float *gptc_trainer_lora_grad(const gptc_trainer *t, int i, int which, int *n);
/* Adapter i's A (which 0) or B (which 1), writable (the next forward uses them), *n elements;
 * NULL past the last. */
float *gptc_trainer_lora_param(gptc_trainer *t, int i, int which, int *n);
/* Forward and backward of one batch (targets -1: masked) and the adapters' gradients from it
 * (gptc_trainer_lora_grad), without an update: for gradient checks. */
gptc_status gptc_trainer_lora_grads(gptc_trainer *t, const int32_t *tok, const int32_t *tgt, int B,
                                    int T, float *loss, gptc_err *err);

/* Join a data-parallel job d (borrowed; NULL: none) with ZeRO stage zero (0 or 1). Every rank
 * calls the trainer's functions in the same order; steps exchange gradients with the others. */
gptc_status gptc_trainer_set_dist(gptc_trainer *t, gptc_dist *d, int zero, gptc_err *err);
/* Check that every rank runs the same options, model, tokenizer, data and step (and extra, any
 * other setting that must agree): GPTC_E_INVALID naming the first rank that differs. */
gptc_status gptc_trainer_check_ranks(gptc_trainer *t, uint64_t extra, gptc_err *err);

/* Train on d (borrowed; already split). A resumed run refuses data other than its own. */
gptc_status gptc_trainer_set_data(gptc_trainer *t, const gptc_data *d, gptc_err *err);
/* Or on chat conversations (borrowed): one conversation per window, the loss on the assistant's
 * tokens only; windows of step s are conversations drawn from (seed, s, window index). */
gptc_status gptc_trainer_set_sft(gptc_trainer *t, const gptc_sft *s, gptc_err *err);

typedef struct gptc_step_info {
    int step;   /* 1-based number of the step just taken */
    float loss; /* mean training loss of its micro-batches */
    float lr;
    double grad_norm; /* before clipping */
    double comm_s;    /* data-parallel: seconds this rank spent in exchanges with the others
                         (sending, receiving and waiting for them); 0 in one process */
} gptc_step_info;

/* One optimizer step. GPTC_E_RANGE when the loss is not finite (training diverged). */
gptc_status gptc_trainer_step(gptc_trainer *t, gptc_step_info *info, gptc_err *err);
/* Mean loss over the validation batches. */
gptc_status gptc_trainer_eval(gptc_trainer *t, float *val_loss, gptc_err *err);
/* Generate up to n tokens after prompt with the current weights through the inference engine
 * (gptc_decode), sampling at temperature temp with seed. OUT: *text, malloc'd, NUL-terminated. */
gptc_status gptc_trainer_sample(gptc_trainer *t, const char *prompt, int n, float temp,
                                uint64_t seed, char **text, gptc_err *err);
/* Write the model as GGUF (atomically); checkpoint != 0 adds the optimizer state and everything
 * resume needs. chat_template: tokenizer.chat_template, or NULL. In a data-parallel job every
 * rank calls it (ZeRO-1 gathers the moments) and rank 0 writes. */
gptc_status gptc_trainer_save(gptc_trainer *t, const char *path, int checkpoint,
                              const char *chat_template, gptc_err *err);

#endif
