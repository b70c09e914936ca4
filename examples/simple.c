/*
 * simple.c — the smallest complete use of libgptc, with nothing but <gptc.h>: load a model,
 * tokenize a prompt, run the forward pass over it, then sample and decode one token at a time,
 * printing the text as it streams.
 *
 *   build/examples/simple MODEL [-n N_PREDICT] [PROMPT]
 *   build/examples/simple ../shared/data/gguf/stories260K.gguf -n 32 "Once upon a time"
 *
 * Greedy (temperature 0), so the output is the same on every run. Build it against an installed
 * gptc with: cc simple.c $(pkg-config --cflags --libs gptc)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gptc.h>

static int fail(const char *what, const gptc_err *err)
{
    fprintf(stderr, "simple: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = "Once upon a time";
    int n_predict = 32;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n_predict = atoi(argv[++i]);
        else if (!model_path)
            model_path = argv[i];
        else
            prompt = argv[i];
    }
    if (!model_path) {
        fprintf(stderr, "usage: %s MODEL [-n N_PREDICT] [PROMPT]\n", argv[0]);
        return 2;
    }

    /* 1. load the model (weights and tokenizer) and make a context (the KV cache) */
    gptc_err err;
    gptc_model *model = NULL;
    gptc_model_params mp = gptc_model_default_params();
    if (gptc_model_load(model_path, &mp, &model, &err)) return fail("load", &err);
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.n_threads = 1;
    gptc_ctx *ctx = NULL;
    if (gptc_ctx_init(model, &cp, &ctx, &err)) return fail("context", &err);
    const gptc_tokenizer *tok = gptc_model_tokenizer(model);

    /* 2. tokenize: the first call counts, the second fills */
    size_t n_prompt = 0, len = strlen(prompt);
    int add_bos = gptc_tok_add_bos(tok);
    if (gptc_tok_encode(tok, prompt, len, add_bos, 0, NULL, 0, &n_prompt, &err))
        return fail("tokenize", &err);
    if (n_prompt == 0) {
        fprintf(stderr, "simple: the prompt is empty\n");
        return 1;
    }
    int32_t *ids = malloc(n_prompt * sizeof *ids);
    if (!ids || gptc_tok_encode(tok, prompt, len, add_bos, 0, ids, n_prompt, &n_prompt, &err))
        return fail("tokenize", &err);

    /* 3. a sampler: temperature 0 is greedy */
    gptc_sampler_params sp = gptc_sampler_default_params();
    sp.temp = 0;
    gptc_sampler *smp = NULL;
    if (gptc_sampler_init(&sp, gptc_tok_n_vocab(tok), &smp, &err)) return fail("sampler", &err);

    /* 4. print the prompt, run the forward pass over it (logits of the last token only) */
    gptc_detok dt;
    gptc_detok_init(&dt);
    char text[128];
    size_t n_text;
    for (size_t i = 0; i < n_prompt; i++) {
        if (gptc_detok_push(tok, &dt, ids[i], text, sizeof text, &n_text, &err))
            return fail("detokenize", &err);
        fwrite(text, 1, n_text, stdout);
        gptc_sampler_accept(smp, ids[i]);
    }
    int32_t *pos = malloc(n_prompt * sizeof *pos);
    if (!pos) return 1;
    for (size_t i = 0; i < n_prompt; i++)
        pos[i] = (int32_t)i;
    gptc_batch batch = {.n_tokens = (int)n_prompt, .token = ids, .pos = pos};
    if (gptc_decode(ctx, &batch, &err)) return fail("decode", &err);
    float *logits = gptc_get_logits(ctx, (int)n_prompt - 1);

    /* 5. sample a token, print it, feed it back; stop at end-of-generation or n_predict */
    int32_t p = (int32_t)n_prompt;
    for (int n = 0; n < n_predict && p < gptc_ctx_n_ctx(ctx); n++, p++) {
        int32_t id = gptc_sampler_sample(smp, logits);
        gptc_sampler_accept(smp, id);
        if (gptc_tok_is_eog(tok, id)) break;
        if (gptc_detok_push(tok, &dt, id, text, sizeof text, &n_text, &err))
            return fail("detokenize", &err);
        fwrite(text, 1, n_text, stdout);
        fflush(stdout);
        gptc_batch one = {.n_tokens = 1, .token = &id, .pos = &p};
        if (gptc_decode(ctx, &one, &err)) return fail("decode", &err);
        logits = gptc_get_logits(ctx, 0);
    }
    n_text = gptc_detok_flush(&dt, text, sizeof text);
    fwrite(text, 1, n_text, stdout);
    putchar('\n');

    gptc_sampler_free(smp);
    free(pos);
    free(ids);
    gptc_ctx_free(ctx);
    gptc_model_free(model);
    return 0;
}
