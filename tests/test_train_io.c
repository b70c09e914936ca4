/*
 * test_train_io.c — what training hands to the rest of gptc: the byte-level tokenizer (one token
 * per byte, round trip through the detokenizer), the exported GGUF of both architectures loaded
 * by the inference code (gptc_model_load + gptc_decode give the training forward's logits, for
 * a whole prompt at once and token by token through the KV cache), and parameter import.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_train.h"
#include "train/ckpt.h"
#include "train/train.h"

static void test_byte_tokenizer(void)
{
    gptc_err err;
    gguf_file *g;
    CHECK(gptc_tok_byte_gguf(&g, &err) == GPTC_OK, "byte vocab: %s", err.msg);
    gptc_tokenizer *tok = NULL;
    CHECK(gptc_tokenizer_from_gguf(g, &tok, &err) == GPTC_OK, "tokenizer: %s", err.msg);
    if (!tok) return;
    CHECK(gptc_tok_n_vocab(tok) == GPTC_BYTE_VOCAB, "vocab %d", gptc_tok_n_vocab(tok));
    CHECK(!gptc_tok_add_bos(tok), "no BOS added");
    const char text[] = "Hi there,\n\tworld! \xc3\xa9\xe2\x82\xac \xff\x01<s> x";
    size_t len = sizeof text - 1, n = 0;
    int32_t ids[128];
    CHECK(gptc_tok_encode(tok, text, len, 0, 0, ids, 128, &n, &err) == GPTC_OK, "encode: %s",
          err.msg);
    CHECK(n == len, "one token per byte: %zu tokens for %zu bytes", n, len);
    int ok = n == len;
    for (size_t i = 0; ok && i < n; i++)
        ok = ids[i] == (text[i] == ' ' ? GPTC_BYTE_VOCAB - 1 : 3 + (uint8_t)text[i]);
    CHECK(ok, "ids are byte + 3, space is the last token");
    /* decode back */
    gptc_detok d;
    gptc_detok_init(&d);
    char out[512], buf[128];
    size_t o = 0, k;
    for (size_t i = 0; i < n; i++) {
        gptc_detok_push(tok, &d, ids[i], buf, sizeof buf, &k, &err);
        memcpy(out + o, buf, k);
        o += k;
    }
    o += gptc_detok_flush(&d, out + o, sizeof out - o);
    /* the invalid byte 0xFF comes back as U+FFFD; everything else byte for byte */
    const char want[] = "Hi there,\n\tworld! \xc3\xa9\xe2\x82\xac \xef\xbf\xbd\x01<s> x";
    CHECK(o == sizeof want - 1 && memcmp(out, want, o) == 0, "round trip: '%.*s'", (int)o, out);
    gptc_tokenizer_free(tok);
    gptc_gguf_close(g);
}

/* Training forward vs the inference engine on the exported model. */
static void test_export(enum gptc_arch arch, int tied)
{
    gptc_tconfig c = {.arch = arch,
                      .n_vocab = GPTC_BYTE_VOCAB,
                      .n_ctx = 16,
                      .n_embd = 32,
                      .n_layer = 2,
                      .n_head = 4,
                      .n_head_kv = arch == GPTC_ARCH_LLAMA ? 2 : 4,
                      .tied = tied};
    gptc_tconfig_defaults(&c);
    gptc_err err;
    gptc_tmodel *tm;
    const char *an = gptc_arch_name(arch);
    CHECK(gptc_tmodel_init(&c, 1, 12, 2, &tm, &err) == GPTC_OK, "init: %s", err.msg);
    gptc_rng r;
    gptc_rng_seed(&r, 5);
    gptc_tmodel_init_weights(tm, &r);
    float *p = gptc_tmodel_params(tm);
    for (size_t i = 0; i < gptc_tmodel_n_params(tm); i++)
        p[i] = p[i] * 4 + 0.02f * gptc_rng_normal(&r);
    int32_t tok[12];
    for (int i = 0; i < 12; i++)
        tok[i] = (i * 37 + 5) % GPTC_BYTE_VOCAB;
    CHECK(gptc_tmodel_forward(tm, tok, NULL, 1, 12, NULL, &err) == GPTC_OK, "forward");
    const float *ref = gptc_tmodel_logits(tm);

    gguf_file *tg, *mg;
    CHECK(gptc_tok_byte_gguf(&tg, &err) == GPTC_OK, "tok");
    CHECK(gptc_tmodel_to_gguf(tm, tg, "test", &mg, &err) == GPTC_OK, "to_gguf: %s", err.msg);
    char path[] = "/tmp/gptc_test_train_io_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(gptc_gguf_write_durable(mg, path, &err) == GPTC_OK, "write: %s", err.msg);

    gptc_model *model = NULL;
    CHECK(gptc_model_load(path, NULL, &model, &err) == GPTC_OK, "%s: load exported model: %s", an,
          err.msg);
    if (model) {
        const gptc_hparams *hp = gptc_model_hparams(model);
        CHECK(strcmp(hp->arch, an) == 0 && hp->n_vocab == GPTC_BYTE_VOCAB &&
                  hp->tied_output == (tied || arch == GPTC_ARCH_GPT2),
              "%s: hparams arch %s vocab %d tied %d", an, hp->arch, hp->n_vocab, hp->tied_output);
        gptc_ctx_params cp = gptc_ctx_default_params();
        cp.n_threads = 2;
        cp.type_k = cp.type_v = 0; /* f32, as the training forward */
        gptc_ctx *ctx = NULL;
        CHECK(gptc_ctx_init(model, &cp, &ctx, &err) == GPTC_OK, "ctx: %s", err.msg);
        int32_t pos[12];
        int8_t want[12];
        for (int i = 0; i < 12; i++)
            pos[i] = i, want[i] = 1;
        /* whole prompt */
        gptc_batch b = {.n_tokens = 12, .token = tok, .pos = pos, .logits = want};
        CHECK(gptc_decode(ctx, &b, &err) == GPTC_OK, "decode: %s", err.msg);
        float worst = 0;
        for (int t = 0; t < 12; t++) {
            const float *lg = gptc_get_logits(ctx, t);
            for (int v = 0; v < GPTC_BYTE_VOCAB; v++)
                worst = fmaxf(worst, fabsf(lg[v] - ref[(size_t)t * GPTC_BYTE_VOCAB + v]) /
                                         (1e-4f + 1e-4f * fabsf(lg[v])));
        }
        CHECK(worst <= 1, "%s%s: inference logits vs training forward: %.2f x tolerance", an,
              tied ? " tied" : "", worst);
        /* token by token through the cache */
        gptc_kv_clear(ctx);
        worst = 0;
        for (int t = 0; t < 12; t++) {
            gptc_batch b1 = {.n_tokens = 1, .token = &tok[t], .pos = &pos[t]};
            gptc_decode(ctx, &b1, &err);
            const float *lg = gptc_get_logits(ctx, 0);
            for (int v = 0; v < GPTC_BYTE_VOCAB; v++)
                worst = fmaxf(worst, fabsf(lg[v] - ref[(size_t)t * GPTC_BYTE_VOCAB + v]) /
                                         (1e-4f + 1e-4f * fabsf(lg[v])));
        }
        CHECK(worst <= 1, "%s: cached decode vs training forward: %.2f x tolerance", an, worst);
        if (arch == GPTC_ARCH_GPT2) { /* learned positions end at n_ctx */
            int32_t t0 = 1, p16 = 16;
            gptc_batch b2 = {.n_tokens = 1, .token = &t0, .pos = &p16};
            CHECK(gptc_decode(ctx, &b2, &err) == GPTC_E_RANGE,
                  "gpt2 position beyond n_ctx refused");
        }
        gptc_ctx_free(ctx);
        gptc_model_free(model);
    }

    /* import: config and parameters back from the file */
    gguf_file *in = NULL;
    CHECK(gptc_gguf_open(path, &in, &err) == GPTC_OK, "reopen");
    gptc_tconfig c2;
    CHECK(in && gptc_tconfig_from_gguf(in, &c2, &err) == GPTC_OK, "config from gguf: %s", err.msg);
    CHECK(c2.arch == c.arch && c2.n_embd == c.n_embd && c2.n_ff == c.n_ff &&
              c2.n_head_kv == c.n_head_kv && c2.tied == c.tied && c2.n_vocab == c.n_vocab &&
              c2.n_ctx == c.n_ctx,
          "%s: config round trip", an);
    gptc_tmodel *tm2 = NULL;
    CHECK(gptc_tmodel_init(&c2, 1, 4, 1, &tm2, &err) == GPTC_OK, "init 2");
    if (tm2 && in) {
        CHECK(gptc_tmodel_load_params(tm2, in, &err) == GPTC_OK, "load params: %s", err.msg);
        CHECK(memcmp(gptc_tmodel_params(tm2), p, gptc_tmodel_n_params(tm) * 4) == 0,
              "params round trip");
    }
    gptc_tmodel_free(tm2);
    gptc_gguf_close(in);
    unlink(path);
    gptc_gguf_close(mg);
    gptc_gguf_close(tg);
    gptc_tmodel_free(tm);
}

/* train-tokenizer: learned merges, the vocabulary size, lossless round trips, determinism. */
static void test_bpe_train(void)
{
    gptc_err err;
    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "the cat sat on the mat %d; the hat. ",
                              i % 7);
    text[n++] = (char)0xff; /* an invalid byte: a piece of its own */
    uint64_t hash[2] = {0};
    for (int round = 0; round < 2; round++) {
        gptc_bpe_trainer *t;
        CHECK(gptc_bpe_train_init(&t, &err) == GPTC_OK, "init: %s", err.msg);
        CHECK(gptc_bpe_train_add(t, text, n, &err) == GPTC_OK, "add: %s", err.msg);
        CHECK(gptc_bpe_train_run(t, 270, NULL, NULL, &err) == GPTC_OK, "run: %s", err.msg);
        CHECK(gptc_bpe_train_n_tokens(t) == 270, "vocab %d", gptc_bpe_train_n_tokens(t));
        gguf_file *g = NULL;
        CHECK(gptc_bpe_train_gguf(t, &g, &err) == GPTC_OK, "gguf: %s", err.msg);
        gptc_tokenizer *tok = NULL;
        CHECK(g && gptc_tokenizer_from_gguf(g, &tok, &err) == GPTC_OK,
              "load the learned tokenizer: %s", err.msg);
        if (tok) {
            CHECK(gptc_tok_n_vocab(tok) == 270, "loaded vocab %d", gptc_tok_n_vocab(tok));
            int32_t ids[4096];
            size_t n_ids = 0, back = 0;
            char out[4200];
            CHECK(gptc_tok_encode(tok, text, n, 0, 0, ids, 4096, &n_ids, &err) == GPTC_OK,
                  "encode");
            CHECK(n_ids < n / 2, "the merges compress: %zu tokens for %zu bytes", n_ids, n);
            CHECK(gptc_tok_decode(tok, ids, n_ids, 0, out, sizeof out, &back, &err) == GPTC_OK &&
                      back == n && memcmp(out, text, n) == 0,
                  "round trip (%zu bytes back)", back);
            size_t k = 0;
            int32_t one;
            CHECK(gptc_tok_encode(tok, " the", 4, 0, 0, &one, 1, &k, &err) == GPTC_OK && k == 1,
                  "' the' is one token");
            gptc_tokenizer_free(tok);
        }
        hash[round] = g ? gptc_tok_keys_hash(g) : (uint64_t)round;
        gptc_gguf_close(g);
        gptc_bpe_train_free(t);
    }
    CHECK(hash[0] == hash[1], "the same corpus gives the same tokenizer");
    gptc_bpe_trainer *t;
    gptc_bpe_train_init(&t, &err);
    CHECK(gptc_bpe_train_run(t, 300, NULL, NULL, &err) == GPTC_E_INVALID, "empty corpus refused");
    gptc_bpe_train_add(t, "ab", 2, &err);
    CHECK(gptc_bpe_train_run(t, 200, NULL, NULL, &err) == GPTC_E_INVALID,
          "vocab under 257 refused");
    CHECK(gptc_bpe_train_run(t, 1000, NULL, NULL, &err) == GPTC_OK &&
              gptc_bpe_train_n_tokens(t) == 257,
          "no pair occurs twice: no merges (%d tokens)", gptc_bpe_train_n_tokens(t));
    gptc_bpe_train_free(t);
}

int main(void)
{
    test_bpe_train();
    test_byte_tokenizer();
    test_export(GPTC_ARCH_LLAMA, 0);
    test_export(GPTC_ARCH_LLAMA, 1);
    test_export(GPTC_ARCH_GPT2, 1);
    return test_summary();
}
