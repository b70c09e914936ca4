/*
 * own_gguf.c — a program that links libgptc beside its own gguf_* functions, as one that also
 * uses ggml does: ggml's public gguf_find_tensor, gguf_add_tensor and gguf_set_arr_str are
 * defined here, with ggml's signatures, and the program still loads and runs a model through
 * libgptc. It builds only when libgptc exports no such name: always against libgptc.so (hidden
 * visibility), against libgptc.a once every global of the archive starts with gptc_.
 *
 *   own_gguf MODEL.gguf    prints "own_gguf: ok" and exits 0
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <gptc.h>

struct gguf_context;
struct ggml_tensor;

static int g_calls;

int64_t gguf_find_tensor(const struct gguf_context *ctx, const char *name);
void gguf_add_tensor(struct gguf_context *ctx, const struct ggml_tensor *tensor);
void gguf_set_arr_str(struct gguf_context *ctx, const char *key, const char **data, size_t n);

int64_t gguf_find_tensor(const struct gguf_context *ctx, const char *name)
{
    (void)ctx;
    g_calls++;
    return name && strcmp(name, "mine") == 0 ? 42 : -1;
}

void gguf_add_tensor(struct gguf_context *ctx, const struct ggml_tensor *tensor)
{
    (void)ctx;
    (void)tensor;
    g_calls++;
}

void gguf_set_arr_str(struct gguf_context *ctx, const char *key, const char **data, size_t n)
{
    (void)ctx;
    (void)key;
    (void)data;
    (void)n;
    g_calls++;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: own_gguf MODEL.gguf\n");
        return 2;
    }
    gptc_err err;
    gptc_model *model = NULL;
    if (gptc_model_load(argv[1], NULL, &model, &err)) {
        fprintf(stderr, "own_gguf: load: %s\n", err.msg);
        return 1;
    }
    /* the library read its GGUF with its own reader, and never called ours */
    int lib_calls = g_calls;
    const gptc_hparams *hp = gptc_model_hparams(model);
    int n_vocab = hp->n_vocab;
    gptc_model_free(model);
    gguf_add_tensor(NULL, NULL);
    gguf_set_arr_str(NULL, "k", NULL, 0);
    if (lib_calls != 0 || gguf_find_tensor(NULL, "mine") != 42 || g_calls != 3 || n_vocab <= 0) {
        fprintf(stderr, "own_gguf: wrong function called (library calls %d, calls %d)\n", lib_calls,
                g_calls);
        return 1;
    }
    printf("own_gguf: ok (%s, libgptc %s, n_vocab %d)\n", GPTC_VERSION_STRING, gptc_version(),
           n_vocab);
    return 0;
}
