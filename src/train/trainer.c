/*
 * trainer.c — a training run (see trainer.h): steps, evaluation, samples, model and checkpoint
 * files.
 */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/ckpt.h"
#include "train/lora.h"

#define CKPT_VERSION 1
enum { FO_LR, FO_MIN_LR, FO_WD, FO_B1, FO_B2, FO_EPS, FO_CLIP, FO_VAL, FO_N };
enum { IO_BATCH, IO_ACCUM, IO_STEPS, IO_WARMUP, IO_DECAY_EMB, IO_EVAL, IO_SEED, IO_N };

struct gptc_trainer {
    gptc_train_opts o;
    gptc_tmodel *m;      /* owned */
    float *m1, *m2;      /* (n_params) AdamW moments, owned */
    int step;            /* steps done */
    gptc_rng rng;        /* weight init (and nothing else yet) */
    gptc_rng data_rng;   /* training windows */
    gguf_file *tok_kvs;  /* owned: the tokenizer.* keys the model carries */
    gptc_tokenizer *tok; /* owned, built from tok_kvs */
    uint64_t tok_hash;
    const gptc_data *data;                /* borrowed */
    const gptc_sft *sft;                  /* borrowed: chat data instead of data */
    uint64_t want_data_hash, want_data_n; /* resumed runs: the stream the checkpoint trained on */
    int32_t *btok, *btgt;                 /* (B, T) batch buffers, owned */
    /* windowed steps and data parallelism (see trainer.h) */
    gptc_dist *dist; /* borrowed; NULL: one process */
    int zero, rank, nrank, G;
    size_t mo_off; /* m1, m2 hold the moments of parameters [mo_off, mo_off + mo_n) */
    size_t mo_n;
    size_t *shard;       /* (nrank + 1) parameter bounds of the shards */
    size_t *cshard;      /* (nrank + 1) chunk bounds of the shards */
    int *wb;             /* (nrank + 1) window bounds of the ranks */
    struct wnode *nodes; /* every rank's tree nodes, in window order */
    int n_nodes;
    float **nodebuf;     /* (n_nodes) this rank's nodes' gradients (full slabs), others NULL */
    float **tmp, **stmp; /* (height) full-slab and shard-sized temporaries */
    int height;
    float *rbuf;           /* other ranks' nodes' slices of this rank's shard */
    float *wloss, *wscale; /* (G) per-window loss and gradient scale */
    struct lora_t *lora;   /* (n_lora) LoRA adapters, when training them */
    int n_lora, lora_rank;
    float lora_alpha;
};

typedef struct wnode {
    int lo, hi, rank;
} wnode;

typedef struct lora_t {
    int tp; /* the adapted matrix: index in the model's table */
    int in, out;
    float *a, *b, *ga, *gb;   /* (r, in), (out, r) and their gradients (one allocation at a) */
    float *ma, *va, *mb, *vb; /* AdamW moments */
} lora_t;

/* t->lora's adapters as the model sees them (gptc_tmodel_set_lora) follow t->lora in one
 * allocation: (gptc_tlora *)(t->lora + t->n_lora). */

void gptc_train_opts_default(gptc_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 12;
    o->accum = 1;
    o->steps = 2000;
    o->warmup = 100;
    o->lr = 1e-3f;
    o->min_lr = 1e-4f;
    o->weight_decay = 0.1f;
    o->beta1 = 0.9f;
    o->beta2 = 0.99f;
    o->eps = 1e-8f;
    o->clip = 1.0f;
    o->val_frac = 0.1f;
    o->eval_batches = 20;
    o->seed = 1337;
    o->eval_every = o->ckpt_every = o->sample_every = o->sample_len = -1;
}

static gptc_status check_opts(const gptc_train_opts *o, gptc_err *err)
{
    if (o->batch < 1 || o->accum < 1 || o->steps < 0 || o->warmup < 0 || o->eval_batches < 1)
        return gptc_fail(err, GPTC_E_INVALID,
                         "train: batch, accum and eval batches must be positive");
    if (!(o->lr > 0 && o->lr < 10) || !(o->min_lr >= 0 && o->min_lr <= o->lr))
        return gptc_fail(err, GPTC_E_INVALID,
                         "train: learning rates must satisfy 0 <= min-lr <= lr < 10");
    if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps > 0 &&
          o->weight_decay >= 0 && o->clip >= 0 && o->val_frac >= 0 && o->val_frac < 1))
        return gptc_fail(
            err, GPTC_E_INVALID,
            "train: betas, eps, weight decay, clip or validation fraction out of range");
    return GPTC_OK;
}

/* Everything but the weights and optimizer state. */
static gptc_status trainer_alloc(const gptc_train_opts *o, const gguf_file *tok, gptc_trainer **out,
                                 gptc_err *err)
{
    *out = NULL;
    gptc_status s = check_opts(o, err);
    if (s) return s;
    gptc_trainer *t = calloc(1, sizeof *t);
    if (!t) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
    t->o = *o;
    if ((s = gptc_tok_copy_gguf(tok, &t->tok_kvs, err)) ||
        (s = gptc_tokenizer_from_gguf(t->tok_kvs, &t->tok, err)))
        goto fail;
    t->tok_hash = gptc_tok_keys_hash(t->tok_kvs);
    int V = gptc_tok_n_vocab(t->tok);
    if (t->o.cfg.n_vocab == 0) t->o.cfg.n_vocab = V;
    if (t->o.cfg.n_vocab != V) {
        s = gptc_fail(err, GPTC_E_INVALID,
                      "train: --vocab %d does not match the tokenizer's %d tokens",
                      t->o.cfg.n_vocab, V);
        goto fail;
    }
    gptc_tconfig_defaults(&t->o.cfg);
    if (t->o.seq < 0 || t->o.seq > t->o.cfg.n_ctx) {
        s = gptc_fail(err, GPTC_E_INVALID,
                      "train: the window of %d tokens is longer than the model's context (%d)",
                      t->o.seq, t->o.cfg.n_ctx);
        goto fail;
    }
    if (!t->o.seq) t->o.seq = t->o.cfg.n_ctx;
    if ((s = gptc_tmodel_init(&t->o.cfg, o->batch, t->o.seq, o->n_threads, &t->m, err))) goto fail;
    size_t n = gptc_tmodel_n_params(t->m), bt = (size_t)o->batch * t->o.seq;
    t->m1 = calloc(n, sizeof(float));
    t->m2 = calloc(n, sizeof(float));
    t->btok = malloc(bt * sizeof(int32_t));
    t->btgt = malloc(bt * sizeof(int32_t));
    t->mo_n = n;
    t->nrank = 1;
    if (!t->m1 || !t->m2 || !t->btok || !t->btgt) {
        s = gptc_fail(err, GPTC_E_NOMEM, "train: out of memory for the optimizer state");
        goto fail;
    }
    *out = t;
    return GPTC_OK;
fail:
    gptc_trainer_free(t);
    return s;
}

gptc_status gptc_trainer_new(const gptc_train_opts *o, const gguf_file *tok, gptc_trainer **out,
                             gptc_err *err)
{
    gptc_err_clear(err);
    gptc_status s = trainer_alloc(o, tok, out, err);
    if (s) return s;
    gptc_trainer *t = *out;
    gptc_rng_seed(&t->rng, o->seed);
    gptc_rng_seed(&t->data_rng, o->seed ^ 0xda7a5eedda7a5eedull);
    gptc_tmodel_init_weights(t->m, &t->rng);
    return GPTC_OK;
}

static void free_windowed(gptc_trainer *t)
{
    if (t->nodebuf)
        for (int i = 0; i < t->n_nodes; i++)
            free(t->nodebuf[i]);
    for (int i = 0; t->tmp && i < t->height; i++)
        free(t->tmp[i]);
    for (int i = 0; t->stmp && i < t->height; i++)
        free(t->stmp[i]);
    free(t->nodebuf), free(t->tmp), free(t->stmp), free(t->rbuf), free(t->wloss), free(t->wscale);
    free(t->shard), free(t->cshard), free(t->wb), free(t->nodes);
    t->nodebuf = t->tmp = t->stmp = NULL;
    t->rbuf = t->wloss = t->wscale = NULL;
    t->shard = t->cshard = NULL;
    t->wb = NULL;
    t->nodes = NULL;
}

void gptc_trainer_free(gptc_trainer *t)
{
    if (!t) return;
    free_windowed(t);
    for (int i = 0; i < t->n_lora; i++)
        free(t->lora[i].a);
    free(t->lora);
    gptc_tmodel_free(t->m);
    free(t->m1);
    free(t->m2);
    free(t->btok);
    free(t->btgt);
    gptc_tokenizer_free(t->tok);
    gptc_gguf_close(t->tok_kvs);
    free(t);
}

const gptc_train_opts *gptc_trainer_opts(const gptc_trainer *t)
{
    return &t->o;
}
const gguf_file *gptc_trainer_tok_gguf(const gptc_trainer *t)
{
    return t->tok_kvs;
}

gptc_status gptc_trainer_init_from(const gptc_train_opts *o, const gguf_file *model,
                                   gptc_trainer **out, gptc_err *err)
{
    gptc_err_clear(err);
    gptc_status s = trainer_alloc(o, model, out, err);
    if (s) return s;
    gptc_trainer *t = *out;
    gptc_rng_seed(&t->rng, o->seed);
    gptc_rng_seed(&t->data_rng, o->seed ^ 0xda7a5eedda7a5eedull);
    if ((s = gptc_tmodel_load_params(t->m, model, err))) {
        gptc_trainer_free(t);
        *out = NULL;
    }
    return s;
}

gptc_status gptc_trainer_set_sft(gptc_trainer *t, const gptc_sft *d, gptc_err *err)
{
    if (t->want_data_n && (d->n != t->want_data_n || d->hash != t->want_data_hash))
        return gptc_fail(
            err, GPTC_E_INVALID,
            "train: the chat data differs from the checkpoint's; resume with the same --data");
    if (!d->n_train || d->n_train >= d->n_conv)
        return gptc_fail(err, GPTC_E_INVALID,
                         "train: the chat data has no training or no validation conversations");
    for (size_t c = 0; c < d->n_conv; c++)
        if (d->start[c + 1] - d->start[c] > (size_t)t->o.seq + 1)
            return gptc_fail(err, GPTC_E_INVALID,
                             "train: a conversation is longer than the window");
    t->sft = d;
    t->data = NULL;
    return GPTC_OK;
}
gptc_tmodel *gptc_trainer_model(gptc_trainer *t)
{
    return t->m;
}
const gptc_tokenizer *gptc_trainer_tokenizer(const gptc_trainer *t)
{
    return t->tok;
}
uint64_t gptc_trainer_tok_hash(const gptc_trainer *t)
{
    return t->tok_hash;
}
int gptc_trainer_step_no(const gptc_trainer *t)
{
    return t->step;
}

gptc_status gptc_trainer_set_data(gptc_trainer *t, const gptc_data *d, gptc_err *err)
{
    if (t->want_data_n && (d->n != t->want_data_n || d->hash != t->want_data_hash))
        return gptc_fail(
            err, GPTC_E_INVALID,
            "train: the data differs from the checkpoint's (%zu tokens, expected %llu); resume "
            "with the same --data",
            d->n, (unsigned long long)t->want_data_n);
    if (!d->n_train) return gptc_fail(err, GPTC_E_INVALID, "train: the data is not split");
    t->data = d;
    return GPTC_OK;
}

/* ----- steps ---------------------------------------------------------------------------------- */

static gptc_status step_windowed(gptc_trainer *t, gptc_step_info *info, gptc_err *err);
static double lora_update(gptc_trainer *t, int step, float lr);
static int window_at(const gptc_trainer *t, int step, int w, int32_t *tok, int32_t *tgt);

gptc_status gptc_trainer_step(gptc_trainer *t, gptc_step_info *info, gptc_err *err)
{
    const gptc_train_opts *o = &t->o;
    if (o->windowed) return step_windowed(t, info, err);
    int B = o->batch, T = o->seq;
    if (!t->data && !t->sft) return gptc_fail(err, GPTC_E_INVALID, "train: no data");
    double sum = 0;
    for (int k = 0; k < o->accum; k++) {
        float loss;
        if (t->sft)
            for (int b = 0; b < B; b++)
                window_at(t, t->step, k * B + b, t->btok + (size_t)b * T, t->btgt + (size_t)b * T);
        else
            gptc_data_batch(t->data, &t->data_rng, B, T, t->btok, t->btgt);
        gptc_status s = gptc_tmodel_forward(t->m, t->btok, t->btgt, B, T, &loss, err);
        if (s) return s;
        gptc_tmodel_backward(t->m, 1.0f / (float)o->accum);
        sum += loss;
    }
    float loss = (float)(sum / o->accum);
    if (!isfinite(loss))
        return gptc_fail(err, GPTC_E_RANGE,
                         "train: the loss is %g at step %d: training diverged (try a lower --lr)",
                         loss, t->step + 1);
    float lr = gptc_lr_cosine(t->step, o->lr, o->min_lr, o->warmup, o->steps);
    gptc_adamw opt = {.beta1 = o->beta1,
                      .beta2 = o->beta2,
                      .eps = o->eps,
                      .weight_decay = o->weight_decay,
                      .decay_embeddings = o->decay_embeddings};
    double norm = t->n_lora ? lora_update(t, t->step + 1, lr)
                            : gptc_tmodel_adamw(t->m, &opt, t->m1, t->m2, t->step + 1, lr, o->clip);
    t->step++;
    info->step = t->step;
    info->loss = loss;
    info->lr = lr;
    info->grad_norm = norm;
    info->comm_s = 0;
    return GPTC_OK;
}

gptc_status gptc_trainer_eval(gptc_trainer *t, float *val_loss, gptc_err *err)
{
    int B = t->o.batch, T = t->o.seq, n = t->o.eval_batches;
    if (!t->data && !t->sft) return gptc_fail(err, GPTC_E_INVALID, "train: no data");
    double sum = 0;
    for (int i = 0; i < n; i++) {
        float loss;
        if (t->sft) {
            size_t n_val = t->sft->n_conv - t->sft->n_train;
            for (int b = 0; b < B; b++)
                gptc_sft_window(t->sft, t->sft->n_train + ((size_t)i * B + b) % n_val, T,
                                t->btok + (size_t)b * T, t->btgt + (size_t)b * T);
        } else {
            gptc_data_val_batch(t->data, i, n, B, T, t->btok, t->btgt);
        }
        gptc_status s = gptc_tmodel_forward(t->m, t->btok, t->btgt, B, T, &loss, err);
        if (s) return s;
        sum += loss;
    }
    *val_loss = (float)(sum / n);
    return GPTC_OK;
}

/* ----- LoRA ------------------------------------------------------------------------------------
 */

static float lora_scale(const gptc_trainer *t)
{
    return t->lora_alpha != 0 ? t->lora_alpha / (float)t->lora_rank : 1.0f;
}

/* The adapters' global gradient norm (backward computed the gradients themselves). */
static double lora_norm(gptc_trainer *t)
{
    int r = t->lora_rank;
    double ss = 0;
    for (int i = 0; i < t->n_lora; i++) {
        const lora_t *l = &t->lora[i];
        for (size_t k = 0; k < (size_t)r * l->in; k++)
            ss += (double)l->ga[k] * l->ga[k];
        for (size_t k = 0; k < (size_t)r * l->out; k++)
            ss += (double)l->gb[k] * l->gb[k];
    }
    return sqrt(ss);
}

/* Clipping by the adapters' global norm and AdamW on A and B (which zeroes their gradients). */
static double lora_update(gptc_trainer *t, int step, float lr)
{
    const gptc_train_opts *o = &t->o;
    int r = t->lora_rank;
    double norm = lora_norm(t);
    float gscale = gptc_clip_scale(norm, o->clip);
    for (int i = 0; i < t->n_lora; i++) {
        lora_t *l = &t->lora[i];
        gptc_adamw_ref(l->a, l->ga, l->ma, l->va, (size_t)r * l->in, lr, o->beta1, o->beta2, o->eps,
                       o->weight_decay, step, gscale);
        gptc_adamw_ref(l->b, l->gb, l->mb, l->vb, (size_t)r * l->out, lr, o->beta1, o->beta2,
                       o->eps, o->weight_decay, step, gscale);
    }
    return norm;
}

float *gptc_trainer_lora_param(gptc_trainer *t, int i, int which, int *n)
{
    if (i < 0 || i >= t->n_lora) return NULL;
    lora_t *l = &t->lora[i];
    *n = t->lora_rank * (which ? l->out : l->in);
    return which ? l->b : l->a;
}

gptc_status gptc_trainer_lora_grads(gptc_trainer *t, const int32_t *tok, const int32_t *tgt, int B,
                                    int T, float *loss, gptc_err *err)
{
    if (!t->n_lora) return gptc_fail(err, GPTC_E_INVALID, "train: LoRA is off");
    for (int i = 0; i < t->n_lora; i++) {
        lora_t *l = &t->lora[i];
        memset(l->ga, 0, (size_t)t->lora_rank * l->in * sizeof(float));
        memset(l->gb, 0, (size_t)t->lora_rank * l->out * sizeof(float));
    }
    gptc_status s = gptc_tmodel_forward(t->m, tok, tgt, B, T, loss, err);
    if (s) return s;
    gptc_tmodel_backward(t->m, 1.0f);
    return GPTC_OK;
}

gptc_status gptc_trainer_set_lora(gptc_trainer *t, int rank, float alpha, unsigned targets,
                                  gptc_err *err)
{
    if (t->n_lora) return gptc_fail(err, GPTC_E_INVALID, "train: LoRA is already on");
    if (t->o.windowed)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "train: LoRA in data-parallel (windowed) runs is not supported yet");
    if (rank < 1) return gptc_fail(err, GPTC_E_INVALID, "train: --lora-rank must be at least 1");
    int n = 0, nt = gptc_tmodel_n_tensors(t->m);
    for (int i = 0; i < nt; i++) {
        const gptc_tparam *tp = gptc_tmodel_tensor(t->m, i);
        if (!gptc_lora_is_target(tp->name, targets)) continue;
        if (rank > tp->ne[0] || rank > tp->ne[1])
            return gptc_fail(err, GPTC_E_INVALID,
                             "train: --lora-rank %d is larger than %s (%d x %d)", rank, tp->name,
                             tp->ne[1], tp->ne[0]);
        n++;
    }
    if (!n)
        return gptc_fail(err, GPTC_E_INVALID,
                         "train: the LoRA targets name no matrix of this model");
    if (!(t->lora = calloc((size_t)n, sizeof *t->lora + sizeof(gptc_tlora))))
        return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
    gptc_tlora *tl = (gptc_tlora *)(t->lora + n);
    t->lora_rank = rank;
    t->lora_alpha = alpha;
    gptc_rng rng;
    gptc_rng_seed(&rng, t->o.seed ^ 0x10a410a410a4ull);
    for (int i = 0; i < nt; i++) {
        const gptc_tparam *tp = gptc_tmodel_tensor(t->m, i);
        if (!gptc_lora_is_target(tp->name, targets)) continue;
        lora_t *l = &t->lora[t->n_lora];
        l->tp = i, l->in = tp->ne[0], l->out = tp->ne[1];
        size_t na = (size_t)rank * l->in, nb = (size_t)l->out * rank;
        /* one allocation: a, ga, ma, va, b, gb, mb, vb */
        float *m = calloc(4 * na + 4 * nb, sizeof(float));
        if (!m) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory for LoRA");
        t->n_lora++;
        l->a = m, l->ga = l->a + na, l->ma = l->ga + na, l->va = l->ma + na;
        l->b = l->va + na, l->gb = l->b + nb, l->mb = l->gb + nb, l->vb = l->mb + nb;
        float bound = 1.0f / sqrtf((float)l->in);
        for (size_t k = 0; k < na; k++)
            l->a[k] = (2.0f * gptc_rng_uniform(&rng) - 1.0f) * bound;
        tl[t->n_lora - 1] = (gptc_tlora){.off = tp->off,
                                         .in = l->in,
                                         .out = l->out,
                                         .rank = rank,
                                         .scale = lora_scale(t),
                                         .a = l->a,
                                         .b = l->b,
                                         .ga = l->ga,
                                         .gb = l->gb};
    }
    gptc_status s = gptc_tmodel_set_lora(t->m, tl, t->n_lora, err);
    if (s) return s;
    /* the optimizer state of the frozen weights is not needed */
    free(t->m1), free(t->m2);
    t->m1 = t->m2 = NULL;
    return GPTC_OK;
}

size_t gptc_trainer_n_trainable(const gptc_trainer *t)
{
    if (!t->n_lora) return gptc_tmodel_n_params(t->m);
    size_t n = 0;
    for (int i = 0; i < t->n_lora; i++)
        n += (size_t)t->lora_rank * (t->lora[i].in + t->lora[i].out);
    return n;
}

const float *gptc_trainer_lora_grad(const gptc_trainer *t, int i, int which, int *n)
{
    if (i < 0 || i >= t->n_lora) return NULL;
    const lora_t *l = &t->lora[i];
    *n = t->lora_rank * (which ? l->out : l->in);
    return which ? l->gb : l->ga;
}

/* The adapters as a llama.cpp LoRA GGUF (see lora.h), borrowing A and B. */
static gptc_status lora_gguf(gptc_trainer *t, const char *name, gguf_file **out, gptc_err *err)
{
    *out = NULL;
    if (!t->n_lora) return gptc_fail(err, GPTC_E_INVALID, "train: no LoRA adapters to save");
    gguf_file *g;
    gptc_status s = gptc_gguf_new(&g, err);
    if (s) return s;
    const char *arch = gptc_arch_name(t->o.cfg.arch);
    if ((s = gptc_gguf_set_str(g, "general.architecture", arch, strlen(arch), err)) ||
        (s = gptc_gguf_set_str(g, "general.type", "adapter", 7, err)) ||
        (s = gptc_gguf_set_str(g, "general.name", name, strlen(name), err)) ||
        (s = gptc_gguf_set_str(g, "adapter.type", "lora", 4, err)) ||
        (s = gptc_gguf_set_f32(g, "adapter.lora.alpha", t->lora_alpha, err)))
        goto fail;
    for (int i = 0; i < t->n_lora && !s; i++) {
        const lora_t *l = &t->lora[i];
        const char *wn = gptc_tmodel_tensor(t->m, l->tp)->name;
        char an[96], bn[96];
        snprintf(an, sizeof an, "%s.lora_a", wn);
        snprintf(bn, sizeof bn, "%s.lora_b", wn);
        uint64_t nea[2] = {(uint64_t)l->in, (uint64_t)t->lora_rank},
                 neb[2] = {(uint64_t)t->lora_rank, (uint64_t)l->out};
        if (!(s = gptc_gguf_add_tensor(g, an, 0 /* F32 */, 2, nea, l->a, err)))
            s = gptc_gguf_add_tensor(g, bn, 0, 2, neb, l->b, err);
    }
    if (s) goto fail;
    *out = g;
    return GPTC_OK;
fail:
    gptc_gguf_close(g);
    return s;
}

gptc_status gptc_trainer_save_lora(gptc_trainer *t, const char *path, gptc_err *err)
{
    const char *base = strrchr(path, '/');
    gguf_file *g;
    gptc_status s = lora_gguf(t, base ? base + 1 : path, &g, err);
    if (s) return s;
    s = gptc_gguf_write_durable(g, path, err);
    gptc_gguf_close(g);
    return s;
}

/* ----- windowed steps and data parallelism --------------------------------------------------- */

/* [*a, *b) of n items for part i of k, balanced (sizes differ by at most one). */
static void bal_split(size_t n, int i, int k, size_t *a, size_t *b)
{
    *a = n * (size_t)i / (size_t)k;
    *b = n * (size_t)(i + 1) / (size_t)k;
}

/* The largest nodes of the tree over [lo, hi) inside [a, b), in window order. */
static int decompose(int lo, int hi, int a, int b, int rank, wnode *out, int n)
{
    if (b <= lo || hi <= a || a >= b) return n;
    if (a <= lo && hi <= b) {
        out[n++] = (wnode){lo, hi, rank};
        return n;
    }
    int mid = lo + (hi - lo) / 2;
    n = decompose(lo, mid, a, b, rank, out, n);
    return decompose(mid, hi, a, b, rank, out, n);
}

static int tree_height(int n)
{
    int h = 0;
    while ((1 << h) < n)
        h++;
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Window w of step `step` (0-based): tokens and targets, a function of (seed, step, w) only.
 * Returns the number of targeted tokens. */
static uint64_t window_draw(const gptc_trainer *t, int step, int w)
{
    gptc_rng r;
    gptc_rng_seed(&r, mix64(t->o.seed ^ mix64(((uint64_t)(uint32_t)step << 32) | (uint32_t)w)));
    return gptc_rng_u64(&r);
}

static int window_at(const gptc_trainer *t, int step, int w, int32_t *tok, int32_t *tgt)
{
    int T = t->o.seq;
    if (t->sft)
        return gptc_sft_window(t->sft, (size_t)(window_draw(t, step, w) % t->sft->n_train), T, tok,
                               tgt);
    const gptc_data *d = t->data;
    gptc_rng r;
    gptc_rng_seed(&r, mix64(t->o.seed ^ mix64(((uint64_t)(uint32_t)step << 32) | (uint32_t)w)));
    uint64_t span = d->n_train - (size_t)T;
    size_t off = (size_t)(gptc_rng_u64(&r) % span);
    memcpy(tok, d->tok + off, (size_t)T * sizeof *tok);
    memcpy(tgt, d->tok + off + 1, (size_t)T * sizeof *tgt);
    return T;
}

static int window_count(const gptc_trainer *t, int step, int w)
{
    if (t->sft)
        return gptc_sft_targets(t->sft, (size_t)(window_draw(t, step, w) % t->sft->n_train));
    return t->o.seq;
}

typedef struct add_job {
    float *y;
    const float *x;
    size_t n;
} add_job;

static void add_fn(void *arg, int ith, int nth)
{
    add_job *j = arg;
    size_t a, b;
    bal_split(j->n, ith, nth, &a, &b);
    for (size_t i = a; i < b; i++)
        j->y[i] += j->x[i];
}

static void vec_add(gptc_trainer *t, float *y, const float *x, size_t n)
{
    add_job j = {y, x, n};
    if (n < 65536)
        add_fn(&j, 0, 1);
    else
        gptc_pool_run(gptc_tmodel_pool(t->m), add_fn, &j);
}

gptc_status gptc_trainer_set_dist(gptc_trainer *t, gptc_dist *d, int zero, gptc_err *err)
{
    if (zero < 0 || zero > 1) return gptc_fail(err, GPTC_E_INVALID, "train: --zero must be 0 or 1");
    free_windowed(t);
    t->dist = d;
    t->zero = zero;
    t->rank = gptc_dist_rank(d);
    t->nrank = gptc_dist_size(d);
    t->o.windowed = 1;
    int N = t->nrank, G = t->o.batch * t->o.accum;
    t->G = G;
    if (G < N)
        return gptc_fail(err, GPTC_E_INVALID,
                         "train: %d ranks but only %d windows per step (--batch x --accum): give "
                         "every rank at least "
                         "one",
                         N, G);
    size_t n = gptc_tmodel_n_params(t->m), nc = gptc_tmodel_n_chunks(t->m);
    t->shard = calloc((size_t)N + 1, sizeof *t->shard);
    t->cshard = calloc((size_t)N + 1, sizeof *t->cshard);
    t->wb = calloc((size_t)N + 1, sizeof *t->wb);
    t->nodes = calloc((size_t)G + 1, sizeof *t->nodes);
    t->wloss = calloc((size_t)G, sizeof *t->wloss);
    t->wscale = calloc((size_t)G, sizeof *t->wscale);
    t->height = tree_height(G) + 1;
    t->tmp = calloc((size_t)t->height, sizeof *t->tmp);
    t->stmp = calloc((size_t)t->height, sizeof *t->stmp);
    if (!t->shard || !t->cshard || !t->wb || !t->nodes || !t->wloss || !t->wscale || !t->tmp ||
        !t->stmp)
        goto nomem;
    for (int q = 0; q <= N; q++) {
        size_t a, b;
        bal_split(nc, q < N ? q : N - 1, N, &a, &b);
        t->cshard[q] = q < N ? a : b;
        t->shard[q] = GPTC_MIN(n, t->cshard[q] * GPTC_OPT_CHUNK);
        bal_split((size_t)G, q < N ? q : N - 1, N, &a, &b);
        t->wb[q] = (int)(q < N ? a : b);
    }
    t->n_nodes = 0;
    for (int q = 0; q < N; q++)
        t->n_nodes = decompose(0, G, t->wb[q], t->wb[q + 1], q, t->nodes, t->n_nodes);
    t->nodebuf = calloc((size_t)t->n_nodes, sizeof *t->nodebuf);
    if (!t->nodebuf) goto nomem;
    size_t mine = t->shard[t->rank + 1] - t->shard[t->rank], n_other = 0;
    for (int i = 0; i < t->n_nodes; i++) {
        if (t->nodes[i].rank != t->rank) {
            n_other++;
            continue;
        }
        /* one process: the only node (the whole tree) is computed in the model's own slab */
        if (N == 1) continue;
        if (!(t->nodebuf[i] = malloc(n * sizeof(float)))) goto nomem;
    }
    for (int h = 0; h < t->height; h++)
        if (!(t->tmp[h] = malloc(n * sizeof(float))) ||
            (N > 1 && !(t->stmp[h] = malloc((mine + 1) * sizeof(float)))))
            goto nomem;
    if (N > 1 && !(t->rbuf = malloc((n_other * mine + 1) * sizeof(float)))) goto nomem;
    if (zero && N > 1) { /* keep only this shard's moments */
        size_t a = t->shard[t->rank], b = t->shard[t->rank + 1];
        float *m1 = malloc((b - a + 1) * sizeof(float)), *m2 = malloc((b - a + 1) * sizeof(float));
        if (!m1 || !m2) {
            free(m1), free(m2);
            goto nomem;
        }
        memcpy(m1, t->m1 + (a - t->mo_off), (b - a) * sizeof(float));
        memcpy(m2, t->m2 + (a - t->mo_off), (b - a) * sizeof(float));
        free(t->m1), free(t->m2);
        t->m1 = m1, t->m2 = m2, t->mo_off = a, t->mo_n = b - a;
    }
    return GPTC_OK;
nomem:
    return gptc_fail(
        err, GPTC_E_NOMEM,
        "train: out of memory for the gradients of the windowed steps (%d slabs of %.0f MB)",
        t->height + t->n_nodes, n * 4 / 1e6);
}

/* Gradient of the tree node [lo, hi) into out (a full slab), temporaries from level depth. */
static gptc_status compute_node(gptc_trainer *t, int step, int lo, int hi, float *out, int depth,
                                gptc_err *err)
{
    if (hi - lo == 1) {
        int T = t->o.seq;
        window_at(t, step, lo, t->btok, t->btgt);
        float *old = gptc_tmodel_swap_grads(t->m, out);
        gptc_tmodel_zero_grad(t->m);
        float loss = 0;
        gptc_status s = gptc_tmodel_forward(t->m, t->btok, t->btgt, 1, T, &loss, err);
        if (!s) gptc_tmodel_backward(t->m, t->wscale[lo]);
        gptc_tmodel_swap_grads(t->m, old);
        t->wloss[lo] = loss;
        return s;
    }
    int mid = lo + (hi - lo) / 2;
    gptc_status s = compute_node(t, step, lo, mid, out, depth, err);
    if (!s) s = compute_node(t, step, mid, hi, t->tmp[depth], depth + 1, err);
    if (!s) vec_add(t, out, t->tmp[depth], gptc_tmodel_n_params(t->m));
    return s;
}

/* The tree node [lo, hi) on this rank's shard into out, from the nodes the ranks computed. */
static void eval_node(gptc_trainer *t, int lo, int hi, float *out, int depth)
{
    size_t a = t->shard[t->rank], len = t->shard[t->rank + 1] - a, slot = 0;
    for (int i = 0; i < t->n_nodes; i++) {
        const wnode *nd = &t->nodes[i];
        if (nd->lo == lo && nd->hi == hi) {
            const float *src = nd->rank == t->rank ? t->nodebuf[i] + a : t->rbuf + slot * len;
            memcpy(out, src, len * sizeof(float));
            return;
        }
        if (nd->rank != t->rank) slot++;
    }
    int mid = lo + (hi - lo) / 2;
    eval_node(t, lo, mid, out, depth);
    eval_node(t, mid, hi, t->stmp[depth], depth + 1);
    vec_add(t, out, t->stmp[depth], len);
}

/* Every rank sends its range [bounds[r], bounds[r + 1]) of base (elements of esize bytes) to
 * every other rank: afterwards each has all of base. */
static gptc_status allgather_ranges(gptc_trainer *t, void *base, size_t esize, const size_t *bounds,
                                    gptc_err *err)
{
    int N = t->nrank, me = t->rank, k = 0, ks = 0;
    if (N == 1) return GPTC_OK;
    gptc_dist_msg *sends = calloc((size_t)N, sizeof *sends),
                  *recvs = calloc((size_t)N, sizeof *recvs);
    if (!sends || !recvs) {
        free(sends), free(recvs);
        return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
    }
    char *b = base;
    for (int q = 0; q < N; q++) {
        if (q == me) continue;
        if (bounds[me + 1] > bounds[me])
            sends[ks++] =
                (gptc_dist_msg){q, b + bounds[me] * esize, (bounds[me + 1] - bounds[me]) * esize};
        if (bounds[q + 1] > bounds[q])
            recvs[k++] =
                (gptc_dist_msg){q, b + bounds[q] * esize, (bounds[q + 1] - bounds[q]) * esize};
    }
    gptc_status s = gptc_dist_exchange(t->dist, sends, ks, recvs, k, err);
    free(sends), free(recvs);
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static gptc_status step_windowed(gptc_trainer *t, gptc_step_info *info, gptc_err *err)
{
    const gptc_train_opts *o = &t->o;
    if (!t->data && !t->sft) return gptc_fail(err, GPTC_E_INVALID, "train: no data");
    gptc_status s;
    if (!t->wb && (s = gptc_trainer_set_dist(t, NULL, 0, err))) return s;
    int G = t->G, N = t->nrank, me = t->rank, step = t->step;
    size_t n = gptc_tmodel_n_params(t->m);
    float *grads = gptc_tmodel_grads(t->m);

    /* every window's share of the mean loss: its targeted tokens over the step's */
    double total = 0;
    for (int w = 0; w < G; w++)
        total += window_count(t, step, w);
    for (int w = 0; w < G; w++)
        t->wscale[w] = total > 0 ? (float)(window_count(t, step, w) / total) : 0.0f;

    /* this rank's nodes */
    for (int i = 0; i < t->n_nodes; i++) {
        const wnode *nd = &t->nodes[i];
        if (nd->rank != me) continue;
        if ((s = compute_node(t, step, nd->lo, nd->hi, N == 1 ? grads : t->nodebuf[i], 0, err)))
            return s;
    }
    size_t *wbs = malloc(((size_t)N + 1) * sizeof *wbs);
    if (!wbs) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
    for (int q = 0; q <= N; q++)
        wbs[q] = (size_t)t->wb[q];
    double c0 = now_s();
    s = allgather_ranges(t, t->wloss, sizeof(float), wbs, err);
    double comm = now_s() - c0;
    free(wbs);
    if (s) return s;

    /* reduce-scatter: my nodes' slices to each shard's owner; the tree on my shard */
    if (N > 1) {
        size_t a = t->shard[me], len = t->shard[me + 1] - a;
        gptc_dist_msg *sends = calloc((size_t)t->n_nodes * N + 1, sizeof *sends);
        gptc_dist_msg *recvs = calloc((size_t)t->n_nodes + 1, sizeof *recvs);
        if (!sends || !recvs) {
            free(sends), free(recvs);
            return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
        }
        int ks = 0, kr = 0;
        size_t slot = 0;
        for (int q = 0; q < N; q++) {
            size_t qa = t->shard[q], qlen = t->shard[q + 1] - qa;
            if (q == me || !qlen) continue;
            for (int i = 0; i < t->n_nodes; i++)
                if (t->nodes[i].rank == me)
                    sends[ks++] = (gptc_dist_msg){q, t->nodebuf[i] + qa, qlen * sizeof(float)};
        }
        for (int i = 0; i < t->n_nodes; i++) {
            if (t->nodes[i].rank == me) continue;
            if (len)
                recvs[kr++] =
                    (gptc_dist_msg){t->nodes[i].rank, t->rbuf + slot * len, len * sizeof(float)};
            slot++;
        }
        c0 = now_s();
        s = gptc_dist_exchange(t->dist, sends, ks, recvs, kr, err);
        comm += now_s() - c0;
        free(sends), free(recvs);
        if (s) return s;
        if (len) eval_node(t, 0, G, grads + a, 0);
    }

    double sum = 0;
    for (int w = 0; w < G; w++)
        sum += (double)t->wscale[w] * t->wloss[w];
    float loss = (float)sum;
    if (!isfinite(loss))
        return gptc_fail(err, GPTC_E_RANGE,
                         "train: the loss is %g at step %d: training diverged (try a lower --lr)",
                         loss, t->step + 1);
    float lr = gptc_lr_cosine(t->step, o->lr, o->min_lr, o->warmup, o->steps);
    gptc_adamw opt = {.beta1 = o->beta1,
                      .beta2 = o->beta2,
                      .eps = o->eps,
                      .weight_decay = o->weight_decay,
                      .decay_embeddings = o->decay_embeddings};
    double norm;
    if (t->zero == 0 || N == 1) {
        c0 = now_s();
        if ((s = allgather_ranges(t, grads, sizeof(float), t->shard, err))) return s;
        comm += now_s() - c0;
        norm = gptc_tmodel_adamw(t->m, &opt, t->m1, t->m2, t->step + 1, lr, o->clip);
    } else {
        size_t nc = gptc_tmodel_n_chunks(t->m);
        double *part = calloc(nc + 1, sizeof *part);
        if (!part) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
        gptc_tmodel_sumsq_chunks(t->m, t->cshard[me], t->cshard[me + 1], part + t->cshard[me]);
        c0 = now_s();
        if ((s = allgather_ranges(t, part, sizeof(double), t->cshard, err))) {
            free(part);
            return s;
        }
        comm += now_s() - c0;
        double ss = 0;
        for (size_t c = 0; c < nc; c++)
            ss += part[c];
        free(part);
        norm = sqrt(ss);
        gptc_tmodel_adamw_chunks(t->m, &opt, t->m1, t->m2, t->mo_off, t->step + 1, lr,
                                 gptc_clip_scale(norm, o->clip), t->cshard[me], t->cshard[me + 1]);
        c0 = now_s();
        if ((s = allgather_ranges(t, gptc_tmodel_params(t->m), sizeof(float), t->shard, err)))
            return s;
        comm += now_s() - c0;
    }
    (void)n;
    t->step++;
    info->step = t->step;
    info->loss = loss;
    info->lr = lr;
    info->grad_norm = norm;
    info->comm_s = N > 1 ? comm : 0.0;
    return GPTC_OK;
}

gptc_status gptc_trainer_check_ranks(gptc_trainer *t, uint64_t extra, gptc_err *err)
{
    int N = t->nrank;
    if (N == 1) return GPTC_OK;
    const gptc_train_opts *o = &t->o;
    uint64_t h = GPTC_FNV64_INIT;
    const gptc_tconfig *c = &o->cfg;
    int ints[] = {c->arch,         c->n_vocab,
                  c->n_ctx,        c->n_embd,
                  c->n_layer,      c->n_head,
                  c->n_head_kv,    c->n_ff,
                  c->tied,         o->batch,
                  o->accum,        o->steps,
                  o->warmup,       o->decay_embeddings,
                  o->eval_batches, o->windowed,
                  t->step,         t->zero};
    float flts[] = {c->norm_eps, c->rope_base, o->lr,  o->min_lr, o->weight_decay,
                    o->beta1,    o->beta2,     o->eps, o->clip,   o->val_frac};
    uint64_t u64s[] = {o->seed,
                       t->tok_hash,
                       t->data  ? t->data->n
                       : t->sft ? t->sft->n
                                : 0,
                       t->data  ? t->data->hash
                       : t->sft ? t->sft->hash
                                : 0,
                       extra,
                       (uint64_t)o->seq};
    h = gptc_fnv1a64(h, ints, sizeof ints);
    h = gptc_fnv1a64(h, flts, sizeof flts);
    h = gptc_fnv1a64(h, u64s, sizeof u64s);
    /* the weights: a word-wise hash (they differ if --init or the checkpoint differs) */
    const uint32_t *pw = (const uint32_t *)gptc_tmodel_params(t->m);
    uint64_t hp = 0;
    for (size_t i = 0, n = gptc_tmodel_n_params(t->m); i < n; i++)
        hp = (hp + pw[i]) * 0x9e3779b97f4a7c15ull;
    h = gptc_fnv1a64(h, &hp, sizeof hp);
    uint64_t *all = calloc((size_t)N, sizeof *all);
    if (!all) return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
    gptc_status s = gptc_dist_allgather(t->dist, &h, sizeof h, all, err);
    for (int q = 1; !s && q < N; q++)
        if (all[q] != all[0])
            s = gptc_fail(err, GPTC_E_INVALID,
                          "train: rank %d was started with other options, data, model or "
                          "checkpoint than rank 0 "
                          "(every rank must run the same command)",
                          q);
    free(all);
    return s;
}

/* ZeRO-1: rank 0 gathers every shard's moments into full slabs (*m1, *m2, malloc'd); the other
 * ranks send theirs. */
static gptc_status gather_moments(gptc_trainer *t, float **m1, float **m2, gptc_err *err)
{
    *m1 = *m2 = NULL;
    int N = t->nrank, me = t->rank;
    size_t n = gptc_tmodel_n_params(t->m);
    gptc_status s;
    if (me != 0) {
        gptc_dist_msg sd[2] = {{0, t->m1, t->mo_n * sizeof(float)},
                               {0, t->m2, t->mo_n * sizeof(float)}};
        return gptc_dist_exchange(t->dist, sd, t->mo_n ? 2 : 0, NULL, 0, err);
    }
    float *a = malloc((n + 1) * sizeof(float)), *b = malloc((n + 1) * sizeof(float));
    gptc_dist_msg *r = calloc(2 * (size_t)N, sizeof *r);
    if (!a || !b || !r) {
        free(a), free(b), free(r);
        return gptc_fail(err, GPTC_E_NOMEM, "train: out of memory for the moments");
    }
    memcpy(a + t->mo_off, t->m1, t->mo_n * sizeof(float));
    memcpy(b + t->mo_off, t->m2, t->mo_n * sizeof(float));
    int k = 0;
    for (int q = 1; q < N; q++) {
        size_t qa = t->shard[q], ql = t->shard[q + 1] - qa;
        if (!ql) continue;
        r[k++] = (gptc_dist_msg){q, a + qa, ql * sizeof(float)};
        r[k++] = (gptc_dist_msg){q, b + qa, ql * sizeof(float)};
    }
    s = gptc_dist_exchange(t->dist, NULL, 0, r, k, err);
    free(r);
    if (s) {
        free(a), free(b);
        return s;
    }
    *m1 = a, *m2 = b;
    return GPTC_OK;
}

/* ----- samples -------------------------------------------------------------------------------- */

gptc_status gptc_trainer_sample(gptc_trainer *t, const char *prompt, int n, float temp,
                                uint64_t seed, char **text, gptc_err *err)
{
    *text = NULL;
    gguf_file *g;
    gptc_status s = gptc_tmodel_to_gguf(t->m, t->tok_kvs, NULL, &g, err);
    if (s) return s;
    if (t->n_lora) { /* the frozen weights with the adapters, as gptc run --lora applies them */
        gguf_file *ad, *merged;
        float one = 1.0f;
        if ((s = lora_gguf(t, "sample", &ad, err))) {
            gptc_gguf_close(g);
            return s;
        }
        s = gptc_lora_merge(g, &ad, &one, 1, &merged, err); /* takes g */
        gptc_gguf_close(ad);
        if (s) return s;
        g = merged;
    }
    gptc_model *model = NULL;
    gptc_ctx *ctx = NULL;
    gptc_sampler *smp = NULL;
    int32_t *ids = NULL;
    char *out = NULL;
    if ((s = gptc_model_from_gguf(g, &model, err))) return s; /* g now belongs to the model */
    int T = t->o.cfg.n_ctx;
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = T;
    cp.n_batch = T;
    cp.n_threads = gptc_pool_size(gptc_tmodel_pool(t->m));
    gptc_sampler_params sp = gptc_sampler_default_params();
    sp.temp = temp;
    sp.seed = seed;
    if ((s = gptc_ctx_init(model, &cp, &ctx, err)) ||
        (s = gptc_sampler_init(&sp, t->o.cfg.n_vocab, &smp, err)))
        goto done;
    const gptc_tokenizer *tok = gptc_model_tokenizer(model);
    size_t plen = strlen(prompt), n_ids = 0, cap = plen + 16;
    ids = malloc(cap * sizeof *ids);
    size_t out_cap = plen + (size_t)n * 80 + 64, o = 0;
    out = malloc(out_cap);
    if (!ids || !out) {
        s = gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
        goto done;
    }
    if ((s = gptc_tok_encode(tok, prompt, plen, gptc_tok_add_bos(tok), 0, ids, cap, &n_ids, err)))
        goto done;
    if (n_ids > cap || n_ids == 0 || n_ids >= (size_t)T) {
        s = gptc_fail(err, GPTC_E_INVALID, "train: the sample prompt must give 1 to %d tokens",
                      T - 1);
        goto done;
    }
    memcpy(out, prompt, plen);
    o = plen;
    int32_t pos[1];
    for (size_t i = 0; i < n_ids; i++)
        gptc_sampler_accept(smp, ids[i]);
    int32_t *ppos = malloc(n_ids * sizeof *ppos);
    if (!ppos) {
        s = gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_ids; i++)
        ppos[i] = (int32_t)i;
    gptc_batch b = {.n_tokens = (int)n_ids, .token = ids, .pos = ppos};
    s = gptc_decode(ctx, &b, err);
    free(ppos);
    if (s) goto done;
    gptc_detok d;
    gptc_detok_init(&d);
    float *logits = gptc_get_logits(ctx, (int)n_ids - 1);
    for (int i = 0, p = (int)n_ids; i < n && p <= T; i++, p++) {
        int32_t id = gptc_sampler_sample(smp, logits);
        gptc_sampler_accept(smp, id);
        if (gptc_tok_is_eog(tok, id)) break;
        size_t k;
        if ((s = gptc_detok_push(tok, &d, id, out + o, out_cap - o - 16, &k, err))) goto done;
        o += k;
        if (p == T) break;
        pos[0] = p;
        gptc_batch b1 = {.n_tokens = 1, .token = &id, .pos = pos};
        if ((s = gptc_decode(ctx, &b1, err))) goto done;
        logits = gptc_get_logits(ctx, 0);
    }
    o += gptc_detok_flush(&d, out + o, out_cap - o - 1);
    out[o] = 0;
    *text = out;
    out = NULL;
done:
    free(out);
    free(ids);
    gptc_sampler_free(smp);
    gptc_ctx_free(ctx);
    gptc_model_free(model);
    return s;
}

static gptc_status save_rank0(gptc_trainer *t, const char *path, int checkpoint,
                              const char *chat_template, const float *m1, const float *m2,
                              gptc_err *err);

/* ----- files ---------------------------------------------------------------------------------- */

gptc_status gptc_trainer_save(gptc_trainer *t, const char *path, int checkpoint,
                              const char *chat_template, gptc_err *err)
{
    float *m1 = t->m1, *m2 = t->m2, *g1 = NULL, *g2 = NULL;
    if (checkpoint && t->nrank > 1 && t->zero) {
        gptc_status s = gather_moments(t, &g1, &g2, err);
        if (s) return s;
        m1 = g1, m2 = g2;
    }
    if (t->rank != 0) return GPTC_OK;
    gptc_status s = save_rank0(t, path, checkpoint, chat_template, m1, m2, err);
    free(g1), free(g2);
    return s;
}

static gptc_status save_rank0(gptc_trainer *t, const char *path, int checkpoint,
                              const char *chat_template, const float *m1, const float *m2,
                              gptc_err *err)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    gguf_file *g;
    gptc_status s = gptc_tmodel_to_gguf(t->m, t->tok_kvs, base, &g, err);
    if (s) return s;
    if (chat_template && (s = gptc_gguf_set_str(g, "tokenizer.chat_template", chat_template,
                                                strlen(chat_template), err)))
        goto done;
    if (checkpoint) {
        const gptc_train_opts *o = &t->o;
        float fo[FO_N] = {[FO_LR] = o->lr,     [FO_MIN_LR] = o->min_lr, [FO_WD] = o->weight_decay,
                          [FO_B1] = o->beta1,  [FO_B2] = o->beta2,      [FO_EPS] = o->eps,
                          [FO_CLIP] = o->clip, [FO_VAL] = o->val_frac};
        uint64_t io[IO_N] = {[IO_BATCH] = (uint64_t)o->batch,
                             [IO_ACCUM] = (uint64_t)o->accum,
                             [IO_STEPS] = (uint64_t)o->steps,
                             [IO_WARMUP] = (uint64_t)o->warmup,
                             [IO_DECAY_EMB] = (uint64_t)o->decay_embeddings,
                             [IO_EVAL] = (uint64_t)o->eval_batches,
                             [IO_SEED] = o->seed};
        uint64_t sched[4] = {
            (uint64_t)GPTC_MAX(o->eval_every, 0), (uint64_t)GPTC_MAX(o->ckpt_every, 0),
            (uint64_t)GPTC_MAX(o->sample_every, 0), (uint64_t)GPTC_MAX(o->sample_len, 0)};
        int has_sched =
            o->eval_every >= 0 && o->ckpt_every >= 0 && o->sample_every >= 0 && o->sample_len >= 0;
        uint64_t n = gptc_tmodel_n_params(t->m), ne[1] = {n};
        uint64_t dn = t->data ? t->data->n : t->sft ? t->sft->n : t->want_data_n;
        uint64_t dh = t->data ? t->data->hash : t->sft ? t->sft->hash : t->want_data_hash;
        if ((s = gptc_gguf_set_uint(g, "train.version", GGUF_VT_U32, CKPT_VERSION, err)) ||
            (s = gptc_gguf_set_uint(g, "train.step", GGUF_VT_U64, (uint64_t)t->step, err)) ||
            (s = gptc_gguf_set_arr(g, "train.rng", GGUF_VT_U64, t->rng.s, 4, err)) ||
            (s = gptc_gguf_set_arr(g, "train.data_rng", GGUF_VT_U64, t->data_rng.s, 4, err)) ||
            (s = gptc_gguf_set_uint(g, "train.data_tokens", GGUF_VT_U64, dn, err)) ||
            (s = gptc_gguf_set_uint(g, "train.data_hash", GGUF_VT_U64, dh, err)) ||
            (s = gptc_gguf_set_arr(g, "train.opts", GGUF_VT_F32, fo, FO_N, err)) ||
            (s = gptc_gguf_set_arr(g, "train.iopts", GGUF_VT_U64, io, IO_N, err)) ||
            (s = gptc_gguf_set_uint(g, "train.windowed", GGUF_VT_U32, (uint64_t)o->windowed,
                                    err)) ||
            (s = gptc_gguf_set_uint(g, "train.seq", GGUF_VT_U32, (uint64_t)o->seq, err)) ||
            (has_sched &&
             (s = gptc_gguf_set_arr(g, "train.schedule", GGUF_VT_U64, sched, 4, err))) ||
            (s = gptc_gguf_add_tensor(g, "train.adam_m", 0 /* F32 */, 1, ne, m1, err)) ||
            (s = gptc_gguf_add_tensor(g, "train.adam_v", 0, 1, ne, m2, err)))
            goto done;
    }
    s = gptc_gguf_write_durable(g, path, err);
done:
    gptc_gguf_close(g);
    return s;
}

static gptc_status read_u64s(const gguf_file *f, const char *key, uint32_t type, uint64_t n,
                             void *out, gptc_err *err)
{
    const gguf_kv *kv;
    gptc_status s = gptc_gguf_get_arr(f, key, type, &kv, err);
    if (s) return s;
    if (kv->v.arr.n != n)
        return gptc_fail(err, GPTC_E_FORMAT, "checkpoint: %s has %llu values, expected %llu", key,
                         (unsigned long long)kv->v.arr.n, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        if (type == GGUF_VT_F32)
            ((float *)out)[i] = (float)gptc_gguf_arr_float(kv, i);
        else
            ((uint64_t *)out)[i] = (uint64_t)gptc_gguf_arr_int(kv, i);
    }
    return GPTC_OK;
}

static gptc_status get_u64(const gguf_file *f, const char *key, uint64_t *out, gptc_err *err)
{
    const gguf_kv *kv = gptc_gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_U64)
        return gptc_fail(err, GPTC_E_FORMAT, "checkpoint: %s is missing or not a u64", key);
    *out = kv->v.u;
    return GPTC_OK;
}

static gptc_status open_ckpt(const char *path, gguf_file **f, gptc_err *err)
{
    gptc_status s = gptc_gguf_open(path, f, err);
    if (s) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return gptc_fail(err, s, "checkpoint %s: %s", path, msg);
    }
    int64_t v;
    if (!gptc_gguf_find_kv(*f, "train.version") ||
        gptc_gguf_get_int(*f, "train.version", &v, err) || v != CKPT_VERSION) {
        gptc_gguf_close(*f);
        *f = NULL;
        return gptc_fail(err, GPTC_E_FORMAT,
                         "checkpoint %s: not a gptc training checkpoint (version %d)", path,
                         CKPT_VERSION);
    }
    return GPTC_OK;
}

gptc_status gptc_trainer_ckpt_opts(const char *path, gptc_train_opts *o, gptc_err *err)
{
    gptc_err_clear(err);
    gguf_file *f;
    gptc_status s = open_ckpt(path, &f, err);
    if (s) return s;
    float fo[FO_N];
    uint64_t io[IO_N];
    gptc_train_opts_default(o);
    if (!(s = gptc_tconfig_from_gguf(f, &o->cfg, err)) &&
        !(s = read_u64s(f, "train.opts", GGUF_VT_F32, FO_N, fo, err)) &&
        !(s = read_u64s(f, "train.iopts", GGUF_VT_U64, IO_N, io, err))) {
        o->lr = fo[FO_LR], o->min_lr = fo[FO_MIN_LR], o->weight_decay = fo[FO_WD],
        o->beta1 = fo[FO_B1];
        o->beta2 = fo[FO_B2], o->eps = fo[FO_EPS], o->clip = fo[FO_CLIP], o->val_frac = fo[FO_VAL];
        if (io[IO_BATCH] > (1u << 20) || io[IO_ACCUM] > (1u << 20) || io[IO_STEPS] > (1u << 30) ||
            io[IO_WARMUP] > (1u << 30) || io[IO_EVAL] > (1u << 20))
            s = gptc_fail(err, GPTC_E_FORMAT, "checkpoint %s: options out of range", path);
        o->batch = (int)io[IO_BATCH], o->accum = (int)io[IO_ACCUM], o->steps = (int)io[IO_STEPS];
        o->warmup = (int)io[IO_WARMUP], o->decay_embeddings = io[IO_DECAY_EMB] != 0;
        o->eval_batches = (int)io[IO_EVAL], o->seed = io[IO_SEED];
        int64_t wv = 0;
        if (!s && gptc_gguf_find_kv(f, "train.windowed") &&
            !gptc_gguf_get_int(f, "train.windowed", &wv, err))
            o->windowed = wv != 0;
        if (!s && gptc_gguf_find_kv(f, "train.seq") &&
            !gptc_gguf_get_int(f, "train.seq", &wv, err) && wv > 0 && wv <= o->cfg.n_ctx)
            o->seq = (int)wv;
        uint64_t sched[4];
        if (!s && gptc_gguf_find_kv(f, "train.schedule")) {
            if ((s = read_u64s(f, "train.schedule", GGUF_VT_U64, 4, sched, err))) {
            } else if (sched[0] > (1u << 30) || sched[1] > (1u << 30) || sched[2] > (1u << 30) ||
                       sched[3] > (1u << 20)) {
                s = gptc_fail(err, GPTC_E_FORMAT, "checkpoint %s: schedule out of range", path);
            } else {
                o->eval_every = (int)sched[0], o->ckpt_every = (int)sched[1];
                o->sample_every = (int)sched[2], o->sample_len = (int)sched[3];
            }
        }
    }
    gptc_gguf_close(f);
    return s;
}

gptc_status gptc_trainer_resume(const char *path, const gptc_train_opts *o, gptc_trainer **out,
                                gptc_err *err)
{
    gptc_err_clear(err);
    *out = NULL;
    gguf_file *f;
    gptc_status s = open_ckpt(path, &f, err);
    if (s) return s;
    gptc_tconfig c;
    gptc_trainer *t = NULL;
    if ((s = gptc_tconfig_from_gguf(f, &c, err))) goto done;
    gptc_tconfig want = o->cfg;
    if (!want.n_vocab) want.n_vocab = c.n_vocab;
    gptc_tconfig_defaults(&want);
    if (want.arch != c.arch || want.n_vocab != c.n_vocab || want.n_ctx != c.n_ctx ||
        want.n_embd != c.n_embd || want.n_layer != c.n_layer || want.n_head != c.n_head ||
        want.n_head_kv != c.n_head_kv || want.n_ff != c.n_ff || want.tied != c.tied) {
        s = gptc_fail(err, GPTC_E_INVALID,
                      "checkpoint %s holds a different model than the options ask for "
                      "(leave out the size options when resuming)",
                      path);
        goto done;
    }
    if ((s = trainer_alloc(o, f, &t, err)) || (s = gptc_tmodel_load_params(t->m, f, err)))
        goto done;
    uint64_t n = gptc_tmodel_n_params(t->m), step, dn, dh;
    const char *mom[2] = {"train.adam_m", "train.adam_v"};
    for (int k = 0; k < 2; k++) {
        const gguf_tensor *g = gptc_gguf_find_tensor(f, mom[k]);
        if (!g || g->type != 0 || g->n_dims != 1 || g->ne[0] != n) {
            s = gptc_fail(err, GPTC_E_FORMAT, "checkpoint %s: %s is missing or has the wrong size",
                          path, mom[k]);
            goto done;
        }
        memcpy(k ? t->m2 : t->m1, g->data, n * sizeof(float));
    }
    if ((s = get_u64(f, "train.step", &step, err)) ||
        (s = get_u64(f, "train.data_tokens", &dn, err)) ||
        (s = get_u64(f, "train.data_hash", &dh, err)))
        goto done;
    if ((s = read_u64s(f, "train.rng", GGUF_VT_U64, 4, t->rng.s, err)) ||
        (s = read_u64s(f, "train.data_rng", GGUF_VT_U64, 4, t->data_rng.s, err)))
        goto done;
    if (step > (1u << 30)) {
        s = gptc_fail(err, GPTC_E_FORMAT, "checkpoint %s: step out of range", path);
        goto done;
    }
    t->step = (int)step;
    t->want_data_n = dn;
    t->want_data_hash = dh;
done:
    gptc_gguf_close(f);
    if (s) {
        gptc_trainer_free(t);
        return s;
    }
    *out = t;
    return GPTC_OK;
}
