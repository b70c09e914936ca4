/*
 * test_bpe_model.c — a model whose GGUF carries a byte-level BPE tokenizer runs end to end:
 * stories260K's weights (vocabulary 512) with a 512-token GPT-2-style vocabulary (the 256
 * bytes + the first 256 of GPT-2's merges that apply to it), written as a GGUF file, loaded by
 * gptc_model_load (the loader calls gptc_tokenizer_from_gguf), prompt encoded, greedy tokens
 * decoded and streamed; and the same file through `gptc run` when $GPTC names the program.
 * The weights were trained on another vocabulary, so the text is gibberish: the test checks
 * the plumbing (no space prefix, exact prompt echo, valid UTF-8 out), not the words.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "gptc.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

static size_t put_cp(char *o, uint32_t cp)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
}

/* GPT-2's byte alphabet: printable Latin-1 is itself, the other 68 bytes are U+0100.. */
static uint32_t byte_cp(int b)
{
    static uint32_t map[256];
    static int init;
    if (!init) {
        int n = 0;
        for (int c = 0; c < 256; c++) {
            int self = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
            map[c] = self ? (uint32_t)c : 256u + (uint32_t)n++;
        }
        init = 1;
    }
    return map[b];
}

static int in_vocab(gptc_str *tok, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (tok[i].n == len && memcmp(tok[i].p, s, len) == 0) return 1;
    return 0;
}

/* stories260K + a 512-token byte-level vocabulary, written to path */
static int write_model(const char *path)
{
    char src[512], gp[512];
    snprintf(src, sizeof src, "%s/gguf/stories260K.gguf", test_data_dir());
    snprintf(gp, sizeof gp, "%s/gguf/ggml-vocab-gpt-2.gguf", test_data_dir());
    gguf_file *m = NULL, *g = NULL, *f = NULL;
    gptc_err err = {0};
    int ok = 0;
    if (gptc_gguf_open(src, &m, &err) || gptc_gguf_open(gp, &g, &err) || gptc_gguf_new(&f, &err)) {
        printf("%s\n", err.msg);
        goto done;
    }
    static char text[512][64];
    gptc_str tok[512];
    gptc_str merges[256];
    int32_t type[512];
    int n = 0;
    for (int b = 0; b < 256; b++, n++) {
        size_t k = put_cp(text[n], byte_cp(b));
        tok[n] = (gptc_str){text[n], k};
        type[n] = 1;
    }
    const gguf_kv *gm = gptc_gguf_find_kv(g, "tokenizer.ggml.merges");
    for (uint64_t r = 0; gm && r < gm->v.arr.n && n < 512; r++) {
        gptc_str s = gptc_gguf_arr_str(gm, r);
        const char *sp = memchr(s.p + 1, ' ', s.n - 1);
        size_t la = (size_t)(sp - s.p), lb = s.n - la - 1;
        if (la + lb >= 64 || !in_vocab(tok, n, s.p, la) || !in_vocab(tok, n, sp + 1, lb)) continue;
        memcpy(text[n], s.p, la);
        memcpy(text[n] + la, sp + 1, lb);
        if (in_vocab(tok, n, text[n], la + lb)) continue;
        tok[n] = (gptc_str){text[n], la + lb};
        type[n] = 1;
        merges[n - 256] = s;
        n++;
    }
    if (n != 512) {
        printf("only %d tokens\n", n);
        goto done;
    }
    if (gptc_gguf_copy_kvs(f, m, &err) ||
        gptc_gguf_set_str(f, "tokenizer.ggml.model", "gpt2", 4, &err) ||
        gptc_gguf_set_str(f, "tokenizer.ggml.pre", "gpt-2", 5, &err) ||
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", tok, 512, &err) ||
        gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, type, 512, &err) ||
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.merges", merges, 256, &err) ||
        gptc_gguf_set_uint(f, "tokenizer.ggml.bos_token_id", GGUF_VT_U32, 0xFFFFFFFFu, &err) ||
        gptc_gguf_set_uint(f, "tokenizer.ggml.eos_token_id", GGUF_VT_U32, 0xFFFFFFFFu, &err) ||
        gptc_gguf_set_bool(f, "tokenizer.ggml.add_bos_token", 0, &err)) {
        printf("build: %s\n", err.msg);
        goto done;
    }
    for (uint64_t i = 0; i < m->n_tensors; i++) {
        const gguf_tensor *t = &m->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
        if (gptc_gguf_add_tensor(f, name, t->type, t->n_dims, t->ne, t->data, &err)) {
            printf("tensor %s: %s\n", name, err.msg);
            goto done;
        }
    }
    if (gptc_gguf_write(f, path, &err)) {
        printf("write: %s\n", err.msg);
        goto done;
    }
    ok = 1;
done:
    gptc_gguf_close(f);
    gptc_gguf_close(g);
    gptc_gguf_close(m);
    return ok;
}

int main(void)
{
    char path[] = "/tmp/gptc-bpe-model-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    CHECK(fd >= 0 && write_model(path), "write a stories260K GGUF with a gpt2 tokenizer");

    gptc_err err = {0};
    gptc_model *model = NULL;
    gptc_model_params mp = gptc_model_default_params();
    CHECK(gptc_model_load(path, &mp, &model, &err) == GPTC_OK, "load: %s", err.msg);
    if (model) {
        const gptc_tokenizer *tok = gptc_model_tokenizer(model);
        const char *prompt = "Once upon a time, caf\xc3\xa9 \xf0\x9f\x98\x80";
        int32_t ids[128];
        size_t n = 0;
        CHECK(gptc_tok_encode(tok, prompt, strlen(prompt), gptc_tok_add_bos(tok), 0, ids, 128, &n,
                              &err) == GPTC_OK &&
                  n > 5 && n < 40,
              "encode the prompt: %zu tokens", n);
        char text[4096];
        size_t o = 0;
        gptc_detok d;
        gptc_detok_init(&d);
        for (size_t i = 0; i < n; i++) {
            size_t k = 0;
            gptc_detok_push(tok, &d, ids[i], text + o, 256, &k, &err);
            o += k;
        }
        CHECK(o == strlen(prompt) && memcmp(text, prompt, o) == 0,
              "the prompt streams back exactly, no space prefix");

        gptc_ctx_params cp = gptc_ctx_default_params();
        cp.n_threads = 1;
        gptc_ctx *ctx = NULL;
        CHECK(gptc_ctx_init(model, &cp, &ctx, &err) == GPTC_OK, "ctx: %s", err.msg);
        int32_t pos[128];
        for (size_t i = 0; i < n; i++)
            pos[i] = (int32_t)i;
        gptc_batch b = {.n_tokens = (int)n, .token = ids, .pos = pos};
        int ran = ctx && gptc_decode(ctx, &b, &err) == GPTC_OK;
        CHECK(ran, "prefill: %s", err.msg);
        o = 0;
        for (int step = 0; ran && step < 16; step++) {
            float *lg = gptc_get_logits(ctx, step == 0 ? (int)n - 1 : 0);
            int32_t best = 0;
            for (int v = 1; v < 512; v++)
                if (lg[v] > lg[best]) best = v;
            size_t k = 0;
            CHECK(gptc_detok_push(tok, &d, best, text + o, 256, &k, &err) == GPTC_OK, "detok");
            o += k;
            int32_t p = (int32_t)n + step;
            gptc_batch nb = {.n_tokens = 1, .token = &best, .pos = &p};
            ran = gptc_decode(ctx, &nb, &err) == GPTC_OK;
        }
        o += gptc_detok_flush(&d, text + o, 16);
        CHECK(ran, "16 greedy steps: %s", err.msg);
        gptc_ctx_free(ctx);
        gptc_model_free(model);
    }

    /* the program itself */
    const char *gptc = getenv("GPTC");
    if (gptc && *gptc && access(gptc, X_OK) == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s run %s -p 'Once upon a time' -n 8 --temp 0 -q 2>&1", gptc,
                 path);
        FILE *p = popen(cmd, "r");
        char out[4096] = {0};
        size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
        int rc = p ? pclose(p) : -1;
        CHECK(rc == 0 && got >= 16 && memcmp(out, "Once upon a time", 16) == 0,
              "gptc run with a gpt2 tokenizer: rc %d, '%.60s'", rc, out);
    } else {
        printf("GPTC not set: skipping the program run\n");
    }
    unlink(path);
    return test_summary();
}
