/*
 * test_train_ft.c — fine-tuning pieces: the assistant-only mask of chat data (which tokens a
 * conversation teaches, rendered with ChatML on the byte tokenizer), LoRA gradients against
 * central finite differences of the loss (with masked targets, so the masked loss is checked
 * too), and an adapter written by the trainer, merged into the model by gptc_lora_merge, giving
 * the inference engine the training forward's logits (within 1e-4).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat/chat.h"
#include "format/gguf.h"
#include "model/model.h"
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "train/ckpt.h"
#include "train/lora.h"
#include "train/sft.h"
#include "train/trainer.h"

/* The learned tokens of a conversation, as text (byte tokenizer: id - 3 is the byte, the last
 * id is a space). */
static void learned_text(const int32_t *ids, const uint8_t *learn, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        if (!learn[i]) continue;
        out[o++] = ids[i] == GPTC_BYTE_VOCAB - 1 ? ' ' : (char)(ids[i] - 3);
    }
    out[o] = 0;
}

static void test_mask(void)
{
    gptc_err err;
    gguf_file *g;
    gptc_tokenizer *tok = NULL;
    CHECK(gptc_tok_byte_gguf(&g, &err) == GPTC_OK &&
              gptc_tokenizer_from_gguf(g, &tok, &err) == GPTC_OK,
          "tok");
    if (!tok) return;
    gptc_sft_opts o = {.tok = tok, .tmpl = gptc_chat_builtin("chatml"), .T = 512};
    int32_t *ids;
    uint8_t *learn;
    size_t n;
    char text[1024];
    /* two learned replies, one left out (weight 0), system and user context */
    const char *conv =
        "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"assistant\",\"content\":\"Yo\"},{\"role\":\"user\",\"content\":\"Again\"},"
        "{\"role\":\"assistant\",\"content\":\"Skip\",\"weight\":0},{\"role\":\"user\",\"content\":"
        "\"?\"},"
        "{\"role\":\"assistant\",\"content\":\"Done now\"}]";
    CHECK(gptc_sft_render(&o, conv, NULL, &ids, &learn, &n, &err) == GPTC_OK, "render: %s",
          err.msg);
    learned_text(ids, learn, n, text, sizeof text);
    CHECK(strcmp(text, "Yo<|im_end|>\nDone now<|im_end|>\n") == 0, "learned: '%s'", text);
    free(ids), free(learn);
    /* bad conversations */
    const char *bad[][2] = {
        {"[{\"role\":\"user\",\"content\":\"Hi\"}]", "no assistant message"},
        {"[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"x\","
         "\"weight\":0}]",
         "no assistant message"},
        {"[{\"role\":\"robot\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"x\"}]",
         "unknown role 'robot'"},
        {"[{\"role\":\"user\",\"content\":\"Hi\",\"weight\":1},{\"role\":\"assistant\",\"content\":"
         "\"x\"}]",
         "only for assistant"},
        {"[{\"role\":\"user\",\"content\":5},{\"role\":\"assistant\",\"content\":\"x\"}]",
         "must be a string"},
        {"[]", "non-empty array"},
        {"[3]", "not an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gptc_status s = gptc_sft_render(&o, bad[i][0], NULL, &ids, &learn, &n, &err);
        CHECK(s != GPTC_OK && strstr(err.msg, bad[i][1]), "bad %zu: %s", i, err.msg);
        if (!s) free(ids), free(learn);
    }
    /* whole lines, as gptc_sft_load reads them (T = 80 here) */
    o.T = 80;
    const char *good = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":"
                       "\"assistant\",\"content\":\"Yo\"}]}";
    CHECK(gptc_sft_parse_line(&o, good, strlen(good), &ids, &learn, &n, &err) == GPTC_OK && n > 0,
          "good line: %s", err.msg);
    if (n) free(ids), free(learn);
    const char *bad_lines[][2] = {
        {"[1, 2, 3]", "not a JSON object"},
        {"\"text\"", "not JSON"},
        {"not json at all", "not JSON"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}", "not JSON"},
        {"{\"conversation\":[]}", "no \"messages\""},
        {"{\"messages\":{}}", "non-empty array"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "no assistant message"},
        {"{\"messages\":[{\"role\":\"bot\",\"content\":\"Hi\"},{\"role\":\"assistant\","
         "\"content\":\"x\"}]}",
         "unknown role 'bot'"},
        {"{\"messages\":[{\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"x\"}]}",
         "no \"role\""},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
         "\"content\":\"x\",\"weight\":0.5}]}",
         "must be 0 or 1"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\","
         "\"content\":\"x\"}],\"tools\":{}}",
         "\"tools\" must be an array"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a question far longer than eighty "
         "tokens of one byte each, which the window of this test cannot hold "
         "whole\"},{\"role\":\"assistant\",\"content\":\"x\"}]}",
         "longer than the context (80 + 1)"},
    };
    for (size_t i = 0; i < sizeof bad_lines / sizeof *bad_lines; i++) {
        const char *l = bad_lines[i][0];
        gptc_status s = gptc_sft_parse_line(&o, l, strlen(l), &ids, &learn, &n, &err);
        CHECK(s != GPTC_OK && strstr(err.msg, bad_lines[i][1]) && !ids && !learn,
              "bad line %zu: %s", i, err.msg);
        if (!s) free(ids), free(learn);
    }
    gptc_tokenizer_free(tok);
    gptc_gguf_close(g);
}

static gptc_trainer *tiny_trainer(enum gptc_arch arch)
{
    gptc_train_opts o;
    gptc_train_opts_default(&o);
    o.cfg = (gptc_tconfig){.arch = arch,
                           .n_ctx = 12,
                           .n_embd = 16,
                           .n_layer = 2,
                           .n_head = 2,
                           .n_head_kv = arch == GPTC_ARCH_LLAMA ? 1 : 2,
                           .tied = 1};
    o.batch = 2;
    o.n_threads = 1;
    o.seed = 7;
    gptc_err err;
    gguf_file *tg;
    gptc_trainer *t = NULL;
    CHECK(gptc_tok_byte_gguf(&tg, &err) == GPTC_OK, "tok");
    CHECK(gptc_trainer_new(&o, tg, &t, &err) == GPTC_OK, "trainer: %s", err.msg);
    gptc_gguf_close(tg);
    return t;
}

/* Loss of the batch with the current adapters. */
static double loss_of(gptc_trainer *t, const int32_t *tok, const int32_t *tgt)
{
    float loss = 0;
    gptc_err err;
    gptc_tmodel_forward(gptc_trainer_model(t), tok, tgt, 2, 12, &loss, &err);
    return loss;
}

static void test_lora_grad(enum gptc_arch arch)
{
    gptc_trainer *t = tiny_trainer(arch);
    if (!t) return;
    gptc_err err;
    unsigned mask;
    CHECK(gptc_lora_parse_targets(arch == GPTC_ARCH_LLAMA
                                      ? "attn_q,attn_v,attn_output,ffn_gate,ffn_down"
                                      : "attn_qkv,ffn_up",
                                  &mask, &err) == GPTC_OK,
          "targets");
    CHECK(gptc_trainer_set_lora(t, 3, 6.0f, mask, &err) == GPTC_OK, "set_lora: %s", err.msg);
    CHECK(gptc_trainer_set_lora(t, 3, 6.0f, mask, &err) != GPTC_OK, "set_lora twice refused");
    /* B starts at zero: make it nonzero so both gradients are informative */
    gptc_rng r;
    gptc_rng_seed(&r, 3);
    int n;
    for (int i = 0; gptc_trainer_lora_param(t, i, 1, &n); i++) {
        float *b = gptc_trainer_lora_param(t, i, 1, &n);
        for (int k = 0; k < n; k++)
            b[k] = 0.1f * gptc_rng_normal(&r);
    }
    int32_t tok[24], tgt[24];
    for (int i = 0; i < 24; i++) {
        tok[i] = 3 + (i * 29 + 7) % 200;
        tgt[i] = i % 3 == 1 ? -1 : 3 + (i * 31 + 11) % 200; /* a third of the targets masked */
    }
    float loss;
    CHECK(gptc_trainer_lora_grads(t, tok, tgt, 2, 12, &loss, &err) == GPTC_OK, "grads: %s",
          err.msg);
    /* float32 losses: finite differences carry noise of about 1e-4 here, so the error is
     * measured against the largest gradient checked (B small enough for the loss to be close to
     * quadratic over +-h) */
    double worst = 0, gmax = 0;
    int checked = 0;
    for (int i = 0; gptc_trainer_lora_param(t, i, 0, &n); i++) {
        for (int which = 0; which < 2; which++) {
            float *p = gptc_trainer_lora_param(t, i, which, &n);
            const float *g = gptc_trainer_lora_grad(t, i, which, &n);
            for (int k = 0; k < n; k += 7) {
                float keep = p[k], h = 1e-2f;
                p[k] = keep + h;
                double lp = loss_of(t, tok, tgt);
                p[k] = keep - h;
                double lm = loss_of(t, tok, tgt);
                p[k] = keep;
                double fd = (lp - lm) / (2.0 * h), e = fabs(fd - g[k]);
                if (e > worst) worst = e;
                if (fabs(g[k]) > gmax) gmax = fabs(g[k]);
                checked++;
            }
        }
    }
    CHECK(checked > 20 && gmax > 1e-3 && worst < 0.01 * gmax,
          "%s: LoRA gradients vs finite differences: max |error| %.3g, largest gradient %.3g, %d "
          "checked",
          gptc_arch_name(arch), worst, gmax, checked);
    /* a rank larger than a matrix */
    gptc_trainer *t2 = tiny_trainer(arch);
    CHECK(gptc_trainer_set_lora(t2, 17, 1.0f, mask, &err) == GPTC_E_INVALID &&
              strstr(err.msg, "larger than"),
          "rank 17 of 16-wide matrices: %s", err.msg);
    gptc_trainer_free(t2);
    gptc_trainer_free(t);
}

/* The trainer's forward with adapters == the inference engine on base + merged adapter. */
static void test_lora_merge(enum gptc_arch arch)
{
    gptc_trainer *t = tiny_trainer(arch);
    if (!t) return;
    gptc_err err;
    char dir[] = "/tmp/gptc_test_ft_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char base[256], ad[256], merged[256];
    snprintf(base, sizeof base, "%s/base.gguf", dir);
    snprintf(ad, sizeof ad, "%s/ad.gguf", dir);
    snprintf(merged, sizeof merged, "%s/merged.gguf", dir);
    CHECK(gptc_trainer_save(t, base, 0, NULL, &err) == GPTC_OK, "save base: %s", err.msg);
    CHECK(gptc_trainer_set_lora(t, 2, 5.0f, ~0u, &err) == GPTC_OK, "set_lora: %s", err.msg);
    gptc_rng r;
    gptc_rng_seed(&r, 4);
    int n;
    for (int i = 0; gptc_trainer_lora_param(t, i, 1, &n); i++) {
        float *b = gptc_trainer_lora_param(t, i, 1, &n);
        for (int k = 0; k < n; k++)
            b[k] = 0.5f * gptc_rng_normal(&r);
    }
    CHECK(gptc_trainer_save_lora(t, ad, &err) == GPTC_OK, "save adapter: %s", err.msg);
    /* the layout llama.cpp reads */
    gguf_file *a = NULL;
    CHECK(gptc_gguf_open(ad, &a, &err) == GPTC_OK, "open adapter");
    if (a) {
        gptc_str s;
        double alpha = 0;
        CHECK(!gptc_gguf_get_str(a, "general.type", &s, &err) && gptc_str_eq(s, "adapter"),
              "general.type");
        CHECK(!gptc_gguf_get_str(a, "adapter.type", &s, &err) && gptc_str_eq(s, "lora"),
              "adapter.type");
        CHECK(!gptc_gguf_get_float(a, "adapter.lora.alpha", &alpha, &err) && alpha == 5.0,
              "alpha %g", alpha);
        CHECK(!gptc_gguf_get_str(a, "general.architecture", &s, &err) &&
                  gptc_str_eq(s, gptc_arch_name(arch)),
              "arch");
        const char *w = arch == GPTC_ARCH_LLAMA ? "blk.1.ffn_gate.weight" : "blk.1.attn_qkv.weight";
        char an[64], bn[64];
        snprintf(an, sizeof an, "%s.lora_a", w);
        snprintf(bn, sizeof bn, "%s.lora_b", w);
        const gguf_tensor *ta = gptc_gguf_find_tensor(a, an), *tb = gptc_gguf_find_tensor(a, bn);
        const gptc_tparam *tw = gptc_tmodel_find(gptc_trainer_model(t), w);
        CHECK(ta && tb && tw && ta->ne[0] == (uint64_t)tw->ne[0] && ta->ne[1] == 2 &&
                  tb->ne[0] == 2 && tb->ne[1] == (uint64_t)tw->ne[1],
              "%s: lora_a [in, r], lora_b [r, out]", w);
        gptc_gguf_close(a);
    }
    int32_t tok[12];
    for (int i = 0; i < 12; i++)
        tok[i] = 3 + (i * 41 + 9) % 250;
    CHECK(gptc_tmodel_forward(gptc_trainer_model(t), tok, NULL, 1, 12, NULL, &err) == GPTC_OK,
          "forward");
    const float *ref = gptc_tmodel_logits(gptc_trainer_model(t));
    gguf_file *bf, *af;
    gptc_model *m = NULL;
    CHECK(gptc_gguf_open(base, &bf, &err) == GPTC_OK && gptc_gguf_open(ad, &af, &err) == GPTC_OK,
          "open");
    float scale = 1.0f;
    gguf_file *mg;
    CHECK(gptc_lora_merge(bf, &af, &scale, 1, &mg, &err) == GPTC_OK, "merge: %s", err.msg);
    CHECK(gptc_gguf_write_durable(mg, merged, &err) == GPTC_OK, "write merged: %s", err.msg);
    CHECK(gptc_model_from_gguf(mg, &m, &err) == GPTC_OK, "model: %s", err.msg);
    gptc_ctx *ctx = NULL;
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_ctx = 12;
    cp.type_k = cp.type_v = 0; /* f32, as the training forward */
    cp.n_threads = 1;
    CHECK(m && gptc_ctx_init(m, &cp, &ctx, &err) == GPTC_OK, "ctx");
    int32_t pos[12];
    int8_t want[12];
    for (int i = 0; i < 12; i++)
        pos[i] = i, want[i] = 1;
    gptc_batch b = {.n_tokens = 12, .token = tok, .pos = pos, .logits = want};
    double worst = 0;
    if (ctx && gptc_decode(ctx, &b, &err) == GPTC_OK)
        for (int i = 0; i < 12; i++) {
            const float *lg = gptc_get_logits(ctx, i);
            for (int v = 0; lg && v < GPTC_BYTE_VOCAB; v++) {
                double e = fabs(lg[v] - ref[(size_t)i * GPTC_BYTE_VOCAB + v]);
                if (e > worst) worst = e;
            }
        }
    CHECK(worst < 1e-4, "%s: adapter merged at load vs training forward: max |diff| %g",
          gptc_arch_name(arch), worst);
    gptc_ctx_free(ctx);
    gptc_model_free(m);
    gptc_gguf_close(af);
    /* an adapter for another model is refused */
    gguf_file *bf2 = NULL, *af2 = NULL;
    CHECK(gptc_gguf_open(base, &bf2, &err) == GPTC_OK &&
              gptc_gguf_open(merged, &af2, &err) == GPTC_OK,
          "open");
    CHECK(gptc_lora_merge(bf2, &af2, &scale, 1, &mg, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "not a LoRA adapter"),
          "a model as adapter: %s", err.msg);
    gptc_gguf_close(af2);
    unlink(base), unlink(ad), unlink(merged), rmdir(dir);
    gptc_trainer_free(t);
}

int main(void)
{
    test_mask();
    test_lora_grad(GPTC_ARCH_LLAMA);
    test_lora_grad(GPTC_ARCH_GPT2);
    test_lora_merge(GPTC_ARCH_LLAMA);
    test_lora_merge(GPTC_ARCH_GPT2);
    return test_summary();
}
