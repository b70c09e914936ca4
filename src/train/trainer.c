/*
 * trainer.c — a training run (see trainer.h): steps, evaluation, samples, model and checkpoint
 * files.
 */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/model.h"
#include "../tokenizer/tokenizer.h"
#include "ckpt.h"

#define CKPT_VERSION 1
enum { FO_LR, FO_MIN_LR, FO_WD, FO_B1, FO_B2, FO_EPS, FO_CLIP, FO_VAL, FO_N };
enum { IO_BATCH, IO_ACCUM, IO_STEPS, IO_WARMUP, IO_DECAY_EMB, IO_EVAL, IO_SEED, IO_N };

struct gptc_trainer {
    gptc_train_opts o;
    gptc_tmodel *m;        /* owned */
    float *m1, *m2;        /* (n_params) AdamW moments, owned */
    int step;              /* steps done */
    gptc_rng rng;          /* weight init (and nothing else yet) */
    gptc_rng data_rng;     /* training windows */
    gguf_file *tok_kvs;    /* owned: the tokenizer.* keys the model carries */
    gptc_tokenizer *tok;   /* owned, built from tok_kvs */
    uint64_t tok_hash;
    const gptc_data *data; /* borrowed */
    uint64_t want_data_hash, want_data_n; /* resumed runs: the stream the checkpoint trained on */
    int32_t *btok, *btgt;  /* (B, T) batch buffers, owned */
};

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
}

static gptc_status check_opts(const gptc_train_opts *o, gptc_err *err)
{
    if (o->batch < 1 || o->accum < 1 || o->steps < 0 || o->warmup < 0 || o->eval_batches < 1)
        return gptc_fail(err, GPTC_E_INVALID, "train: batch, accum and eval batches must be positive");
    if (!(o->lr > 0 && o->lr < 10) || !(o->min_lr >= 0 && o->min_lr <= o->lr))
        return gptc_fail(err, GPTC_E_INVALID, "train: learning rates must satisfy 0 <= min-lr <= lr < 10");
    if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps > 0 && o->weight_decay >= 0 &&
          o->clip >= 0 && o->val_frac >= 0 && o->val_frac < 1))
        return gptc_fail(err, GPTC_E_INVALID, "train: betas, eps, weight decay, clip or validation fraction out of range");
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
    if ((s = gptc_tok_copy_gguf(tok, &t->tok_kvs, err)) || (s = gptc_tokenizer_from_gguf(t->tok_kvs, &t->tok, err)))
        goto fail;
    t->tok_hash = gptc_tok_keys_hash(t->tok_kvs);
    int V = gptc_tok_n_vocab(t->tok);
    if (t->o.cfg.n_vocab == 0) t->o.cfg.n_vocab = V;
    if (t->o.cfg.n_vocab != V) {
        s = gptc_fail(err, GPTC_E_INVALID, "train: --vocab %d does not match the tokenizer's %d tokens",
                      t->o.cfg.n_vocab, V);
        goto fail;
    }
    gptc_tconfig_defaults(&t->o.cfg);
    if ((s = gptc_tmodel_init(&t->o.cfg, o->batch, t->o.cfg.n_ctx, o->n_threads, &t->m, err))) goto fail;
    size_t n = gptc_tmodel_n_params(t->m), bt = (size_t)o->batch * t->o.cfg.n_ctx;
    t->m1 = calloc(n, sizeof(float));
    t->m2 = calloc(n, sizeof(float));
    t->btok = malloc(bt * sizeof(int32_t));
    t->btgt = malloc(bt * sizeof(int32_t));
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

void gptc_trainer_free(gptc_trainer *t)
{
    if (!t) return;
    gptc_tmodel_free(t->m);
    free(t->m1);
    free(t->m2);
    free(t->btok);
    free(t->btgt);
    gptc_tokenizer_free(t->tok);
    gguf_close(t->tok_kvs);
    free(t);
}

const gptc_train_opts *gptc_trainer_opts(const gptc_trainer *t) { return &t->o; }
gptc_tmodel *gptc_trainer_model(gptc_trainer *t) { return t->m; }
const gptc_tokenizer *gptc_trainer_tokenizer(const gptc_trainer *t) { return t->tok; }
uint64_t gptc_trainer_tok_hash(const gptc_trainer *t) { return t->tok_hash; }
int gptc_trainer_step_no(const gptc_trainer *t) { return t->step; }

gptc_status gptc_trainer_set_data(gptc_trainer *t, const gptc_data *d, gptc_err *err)
{
    if (t->want_data_n && (d->n != t->want_data_n || d->hash != t->want_data_hash))
        return gptc_fail(err, GPTC_E_INVALID,
                         "train: the data differs from the checkpoint's (%zu tokens, expected %llu); resume "
                         "with the same --data", d->n, (unsigned long long)t->want_data_n);
    if (!d->n_train) return gptc_fail(err, GPTC_E_INVALID, "train: the data is not split");
    t->data = d;
    return GPTC_OK;
}

/* ----- steps ---------------------------------------------------------------------------------- */

gptc_status gptc_trainer_step(gptc_trainer *t, gptc_step_info *info, gptc_err *err)
{
    const gptc_train_opts *o = &t->o;
    int B = o->batch, T = o->cfg.n_ctx;
    if (!t->data) return gptc_fail(err, GPTC_E_INVALID, "train: no data");
    double sum = 0;
    for (int k = 0; k < o->accum; k++) {
        float loss;
        gptc_data_batch(t->data, &t->data_rng, B, T, t->btok, t->btgt);
        gptc_status s = gptc_tmodel_forward(t->m, t->btok, t->btgt, B, T, &loss, err);
        if (s) return s;
        gptc_tmodel_backward(t->m, 1.0f / (float)o->accum);
        sum += loss;
    }
    float loss = (float)(sum / o->accum);
    if (!isfinite(loss))
        return gptc_fail(err, GPTC_E_RANGE, "train: the loss is %g at step %d: training diverged (try a lower --lr)",
                         loss, t->step + 1);
    float lr = gptc_lr_cosine(t->step, o->lr, o->min_lr, o->warmup, o->steps);
    gptc_adamw opt = {.beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps, .weight_decay = o->weight_decay,
                      .decay_embeddings = o->decay_embeddings};
    double norm = gptc_tmodel_adamw(t->m, &opt, t->m1, t->m2, t->step + 1, lr, o->clip);
    t->step++;
    info->step = t->step;
    info->loss = loss;
    info->lr = lr;
    info->grad_norm = norm;
    return GPTC_OK;
}

gptc_status gptc_trainer_eval(gptc_trainer *t, float *val_loss, gptc_err *err)
{
    int B = t->o.batch, T = t->o.cfg.n_ctx, n = t->o.eval_batches;
    if (!t->data) return gptc_fail(err, GPTC_E_INVALID, "train: no data");
    double sum = 0;
    for (int i = 0; i < n; i++) {
        float loss;
        gptc_data_val_batch(t->data, i, n, B, T, t->btok, t->btgt);
        gptc_status s = gptc_tmodel_forward(t->m, t->btok, t->btgt, B, T, &loss, err);
        if (s) return s;
        sum += loss;
    }
    *val_loss = (float)(sum / n);
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
    if ((s = gptc_ctx_init(model, &cp, &ctx, err)) || (s = gptc_sampler_init(&sp, t->o.cfg.n_vocab, &smp, err)))
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
    if ((s = gptc_tok_encode(tok, prompt, plen, gptc_tok_add_bos(tok), 0, ids, cap, &n_ids, err))) goto done;
    if (n_ids > cap || n_ids == 0 || n_ids >= (size_t)T) {
        s = gptc_fail(err, GPTC_E_INVALID, "train: the sample prompt must give 1 to %d tokens", T - 1);
        goto done;
    }
    memcpy(out, prompt, plen);
    o = plen;
    int32_t pos[1];
    for (size_t i = 0; i < n_ids; i++) gptc_sampler_accept(smp, ids[i]);
    int32_t *ppos = malloc(n_ids * sizeof *ppos);
    if (!ppos) {
        s = gptc_fail(err, GPTC_E_NOMEM, "train: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_ids; i++) ppos[i] = (int32_t)i;
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

/* ----- files ---------------------------------------------------------------------------------- */

gptc_status gptc_trainer_save(gptc_trainer *t, const char *path, int checkpoint,
                              const char *chat_template, gptc_err *err)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    gguf_file *g;
    gptc_status s = gptc_tmodel_to_gguf(t->m, t->tok_kvs, base, &g, err);
    if (s) return s;
    if (chat_template && (s = gguf_set_str(g, "tokenizer.chat_template", chat_template, strlen(chat_template), err)))
        goto done;
    if (checkpoint) {
        const gptc_train_opts *o = &t->o;
        float fo[FO_N] = {[FO_LR] = o->lr, [FO_MIN_LR] = o->min_lr, [FO_WD] = o->weight_decay, [FO_B1] = o->beta1,
                          [FO_B2] = o->beta2, [FO_EPS] = o->eps, [FO_CLIP] = o->clip, [FO_VAL] = o->val_frac};
        uint64_t io[IO_N] = {[IO_BATCH] = (uint64_t)o->batch, [IO_ACCUM] = (uint64_t)o->accum,
                             [IO_STEPS] = (uint64_t)o->steps, [IO_WARMUP] = (uint64_t)o->warmup,
                             [IO_DECAY_EMB] = (uint64_t)o->decay_embeddings,
                             [IO_EVAL] = (uint64_t)o->eval_batches, [IO_SEED] = o->seed};
        uint64_t n = gptc_tmodel_n_params(t->m), ne[1] = {n};
        uint64_t dn = t->data ? t->data->n : t->want_data_n, dh = t->data ? t->data->hash : t->want_data_hash;
        if ((s = gguf_set_uint(g, "train.version", GGUF_VT_U32, CKPT_VERSION, err)) ||
            (s = gguf_set_uint(g, "train.step", GGUF_VT_U64, (uint64_t)t->step, err)) ||
            (s = gguf_set_arr(g, "train.rng", GGUF_VT_U64, t->rng.s, 4, err)) ||
            (s = gguf_set_arr(g, "train.data_rng", GGUF_VT_U64, t->data_rng.s, 4, err)) ||
            (s = gguf_set_uint(g, "train.data_tokens", GGUF_VT_U64, dn, err)) ||
            (s = gguf_set_uint(g, "train.data_hash", GGUF_VT_U64, dh, err)) ||
            (s = gguf_set_arr(g, "train.opts", GGUF_VT_F32, fo, FO_N, err)) ||
            (s = gguf_set_arr(g, "train.iopts", GGUF_VT_U64, io, IO_N, err)) ||
            (s = gguf_add_tensor(g, "train.adam_m", 0 /* F32 */, 1, ne, t->m1, err)) ||
            (s = gguf_add_tensor(g, "train.adam_v", 0, 1, ne, t->m2, err)))
            goto done;
    }
    s = gptc_gguf_write_durable(g, path, err);
done:
    gguf_close(g);
    return s;
}

static gptc_status read_u64s(const gguf_file *f, const char *key, uint32_t type, uint64_t n, void *out,
                             gptc_err *err)
{
    const gguf_kv *kv;
    gptc_status s = gguf_get_arr(f, key, type, &kv, err);
    if (s) return s;
    if (kv->v.arr.n != n) return gptc_fail(err, GPTC_E_FORMAT, "checkpoint: %s has %llu values, expected %llu", key,
                                           (unsigned long long)kv->v.arr.n, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        if (type == GGUF_VT_F32) ((float *)out)[i] = (float)gguf_arr_float(kv, i);
        else ((uint64_t *)out)[i] = (uint64_t)gguf_arr_int(kv, i);
    }
    return GPTC_OK;
}

static gptc_status get_u64(const gguf_file *f, const char *key, uint64_t *out, gptc_err *err)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_U64)
        return gptc_fail(err, GPTC_E_FORMAT, "checkpoint: %s is missing or not a u64", key);
    *out = kv->v.u;
    return GPTC_OK;
}

static gptc_status open_ckpt(const char *path, gguf_file **f, gptc_err *err)
{
    gptc_status s = gguf_open(path, f, err);
    if (s) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return gptc_fail(err, s, "checkpoint %s: %s", path, msg);
    }
    int64_t v;
    if (!gguf_find_kv(*f, "train.version") || gguf_get_int(*f, "train.version", &v, err) || v != CKPT_VERSION) {
        gguf_close(*f);
        *f = NULL;
        return gptc_fail(err, GPTC_E_FORMAT, "checkpoint %s: not a gptc training checkpoint (version %d)", path,
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
    if (!(s = gptc_tconfig_from_gguf(f, &o->cfg, err)) && !(s = read_u64s(f, "train.opts", GGUF_VT_F32, FO_N, fo, err)) &&
        !(s = read_u64s(f, "train.iopts", GGUF_VT_U64, IO_N, io, err))) {
        o->lr = fo[FO_LR], o->min_lr = fo[FO_MIN_LR], o->weight_decay = fo[FO_WD], o->beta1 = fo[FO_B1];
        o->beta2 = fo[FO_B2], o->eps = fo[FO_EPS], o->clip = fo[FO_CLIP], o->val_frac = fo[FO_VAL];
        if (io[IO_BATCH] > (1u << 20) || io[IO_ACCUM] > (1u << 20) || io[IO_STEPS] > (1u << 30) ||
            io[IO_WARMUP] > (1u << 30) || io[IO_EVAL] > (1u << 20))
            s = gptc_fail(err, GPTC_E_FORMAT, "checkpoint %s: options out of range", path);
        o->batch = (int)io[IO_BATCH], o->accum = (int)io[IO_ACCUM], o->steps = (int)io[IO_STEPS];
        o->warmup = (int)io[IO_WARMUP], o->decay_embeddings = io[IO_DECAY_EMB] != 0;
        o->eval_batches = (int)io[IO_EVAL], o->seed = io[IO_SEED];
    }
    gguf_close(f);
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
    if (want.arch != c.arch || want.n_vocab != c.n_vocab || want.n_ctx != c.n_ctx || want.n_embd != c.n_embd ||
        want.n_layer != c.n_layer || want.n_head != c.n_head || want.n_head_kv != c.n_head_kv ||
        want.n_ff != c.n_ff || want.tied != c.tied) {
        s = gptc_fail(err, GPTC_E_INVALID, "checkpoint %s holds a different model than the options ask for "
                      "(leave out the size options when resuming)", path);
        goto done;
    }
    if ((s = trainer_alloc(o, f, &t, err)) || (s = gptc_tmodel_load_params(t->m, f, err))) goto done;
    uint64_t n = gptc_tmodel_n_params(t->m), step, dn, dh;
    const char *mom[2] = {"train.adam_m", "train.adam_v"};
    for (int k = 0; k < 2; k++) {
        const gguf_tensor *g = gguf_find_tensor(f, mom[k]);
        if (!g || g->type != 0 || g->n_dims != 1 || g->ne[0] != n) {
            s = gptc_fail(err, GPTC_E_FORMAT, "checkpoint %s: %s is missing or has the wrong size", path, mom[k]);
            goto done;
        }
        memcpy(k ? t->m2 : t->m1, g->data, n * sizeof(float));
    }
    if ((s = get_u64(f, "train.step", &step, err)) || (s = get_u64(f, "train.data_tokens", &dn, err)) ||
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
    gguf_close(f);
    if (s) {
        gptc_trainer_free(t);
        return s;
    }
    *out = t;
    return GPTC_OK;
}
