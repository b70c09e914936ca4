/*
 * bench_quant_ppl.c — what each quantization costs in quality: perplexity and KL divergence from
 * F32 on the TinyStories excerpt, measured with `gptc quantize` and `gptc perplexity`. Not a
 * test (minutes of work).
 *
 * Models: stories260K (trained, dim 64) and "stories260K-x4", the same network widened exactly to
 * dim 256 so that every matrix row is a multiple of 256 and the K types apply without fallback:
 * activations become four copies x' = [x; x; x; x], so each matrix is tiled 4 x 4 and divided by
 * 4 (W' x' = [W x; ...]), heads and kv heads are 4x as many (each copy attends on its own), the
 * feed-forward width 172 becomes 4 x 172 = 688 plus 80 zero units (silu(0) * 0 = 0) to reach
 * 768, and norms are tiled. RMSNorm sees the same mean square, so x4 computes stories260K's
 * logits (to rounding): a real trained model for Q4_K/Q5_K/Q6_K.
 *
 *   bench_quant_ppl [--gptc build/gptc] [--chunks 200]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "quant/quant.h"

/* Copy every kv of src but the shape keys, which are set anew. */
static int widen(const char *in, const char *out)
{
    gptc_err err;
    gguf_file *f, *o;
    if (gptc_gguf_open(in, &f, &err)) {
        fprintf(stderr, "bench_quant_ppl: %s\n", err.msg);
        return 0;
    }
    const int K = 4; // copies
    int64_t D, F, H, Hkv;
    gptc_gguf_get_int(f, "llama.embedding_length", &D, &err);
    gptc_gguf_get_int(f, "llama.feed_forward_length", &F, &err);
    gptc_gguf_get_int(f, "llama.attention.head_count", &H, &err);
    gptc_gguf_get_int(f, "llama.attention.head_count_kv", &Hkv, &err);
    int64_t D2 = D * K, F2 = (F * K + 255) / 256 * 256;
    gptc_gguf_new(&o, &err);
    gptc_gguf_copy_kvs(o, f, &err);
    gptc_gguf_set_uint(o, "llama.embedding_length", GGUF_VT_U32, (uint64_t)D2, &err);
    gptc_gguf_set_uint(o, "llama.feed_forward_length", GGUF_VT_U32, (uint64_t)F2, &err);
    gptc_gguf_set_uint(o, "llama.attention.head_count", GGUF_VT_U32, (uint64_t)(H * K), &err);
    gptc_gguf_set_uint(o, "llama.attention.head_count_kv", GGUF_VT_U32, (uint64_t)(Hkv * K), &err);
    gptc_gguf_set_str(o, "general.name", "stories260K-x4", 14, &err);
    float **bufs = calloc(f->n_tensors, sizeof *bufs);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
        int64_t c = (int64_t)t->ne[0], r = t->n_dims > 1 ? (int64_t)t->ne[1] : 1;
        float *src = malloc(sizeof *src * (size_t)(c * r));
        gptc_type_info(t->type)->to_float(t->data, src, c * r);
        // new shape: columns of width D become D2 (tiled), rows likewise; F -> F2 (padded)
        int emb_rows = strstr(name, "token_embd") != NULL; // rows are tokens
        int out_rows = strcmp(name, "output.weight") == 0; // rows are tokens
        int64_t c2 = c == F ? F2 : c * K,
                r2 = t->n_dims == 1 || emb_rows || out_rows ? r : (r == F ? F2 : r * K);
        float *dst = calloc((size_t)(c2 * r2), sizeof *dst);
        float scale = t->n_dims == 1 || emb_rows ? 1.0f : 1.0f / K; // matrices average the copies
        for (int64_t i2 = 0; i2 < r2; i2++) {
            int64_t i0 = r2 == r ? i2 : (r == F ? (i2 < F * K ? i2 % F : -1) : i2 % r);
            for (int64_t j2 = 0; j2 < c2; j2++) {
                int64_t j0 = c == F ? (j2 < F * K ? j2 % F : -1) : j2 % c;
                if (i0 >= 0 && j0 >= 0) dst[i2 * c2 + j2] = src[i0 * c + j0] * scale;
            }
        }
        uint64_t ne[2] = {(uint64_t)c2, (uint64_t)r2};
        gptc_gguf_add_tensor(o, name, GPTC_TYPE_F32, t->n_dims, ne, dst, &err);
        bufs[i] = dst;
        free(src);
    }
    int ok = gptc_gguf_write(o, out, &err) == GPTC_OK;
    if (!ok) fprintf(stderr, "bench_quant_ppl: %s\n", err.msg);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        free(bufs[i]);
    free(bufs);
    gptc_gguf_close(o);
    gptc_gguf_close(f);
    return ok;
}

static int run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    return pclose(p) == 0;
}

static double field(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    return p ? atof(p + strlen(prefix)) : -1;
}

int main(int argc, char **argv)
{
    const char *gptc = "build/gptc";
    int chunks = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gptc") && i + 1 < argc)
            gptc = argv[++i];
        else if (!strcmp(argv[i], "--chunks") && i + 1 < argc)
            chunks = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_quant_ppl [--gptc PATH] [--chunks N]\n");
            return 1;
        }
    }
    const char *data = getenv("GPTC_DATA") ? getenv("GPTC_DATA") : "../shared/data";
    char base[512], text[512], dir[] = "/tmp/gptc_bench_ppl_XXXXXX";
    snprintf(base, sizeof base, "%s/gguf/stories260K.gguf", data);
    snprintf(text, sizeof text, "%s/corpora/tinystories-excerpt/tinystories.txt", data);
    if (access(base, R_OK) || access(text, R_OK) || access(gptc, X_OK)) {
        printf("bench_quant_ppl: skipped (needs %s, %s and %s)\n", base, text, gptc);
        return 0;
    }
    if (!mkdtemp(dir)) return 1;
    char wide[600];
    snprintf(wide, sizeof wide, "%s/stories260K-x4.gguf", dir);
    if (!widen(base, wide)) return 1;
    static const char *types[] = {"q8_0",   "q6_k",   "q5_k_m", "q5_1", "q5_0",
                                  "q4_k_m", "q4_k_s", "q4_1",   "q4_0"};
    printf("bench_quant_ppl: gptc perplexity -c 128 --chunks %d --kl-base F32, TinyStories "
           "excerpt\n\n",
           chunks);
    printf("| model | type | perplexity | vs F32 | mean KL | same top token "
           "|\n|---|---|---|---|---|---|\n");
    const char *models[] = {base, wide}, *mnames[] = {"stories260K", "stories260K-x4"};
    for (int mi = 0; mi < 2; mi++) {
        char cmd[2048], out[8192];
        snprintf(cmd, sizeof cmd, "'%s' perplexity '%s' '%s' --chunks %d --kl-base '%s' 2>&1", gptc,
                 models[mi], text, chunks, base);
        if (!run(cmd, out, sizeof out)) {
            fprintf(stderr, "bench_quant_ppl: %s failed:\n%s", cmd, out);
            return 1;
        }
        double f32 = field(out, "perplexity  ");
        printf("| %s | f32 | %.4f | | %.6f | %.1f%% |\n", mnames[mi], f32,
               field(out, "KL          "), field(out, "same top    "));
        fflush(stdout);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            char q[700];
            snprintf(q, sizeof q, "%s/%s-%s.gguf", dir, mnames[mi], types[ti]);
            snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' %s -q 2>&1", gptc, models[mi], q,
                     types[ti]);
            if (!run(cmd, out, sizeof out)) {
                fprintf(stderr, "bench_quant_ppl: %s failed:\n%s", cmd, out);
                return 1;
            }
            snprintf(cmd, sizeof cmd, "'%s' perplexity '%s' '%s' --chunks %d --kl-base '%s' 2>&1",
                     gptc, q, text, chunks, base);
            if (!run(cmd, out, sizeof out)) {
                fprintf(stderr, "bench_quant_ppl: %s failed:\n%s", cmd, out);
                return 1;
            }
            double p = field(out, "perplexity  ");
            printf("| %s | %s | %.4f | %+.2f%% | %.6f | %.1f%% |\n", mnames[mi], types[ti], p,
                   100.0 * (p / f32 - 1), field(out, "KL          "), field(out, "same top    "));
            fflush(stdout);
            unlink(q);
        }
    }
    unlink(wide);
    rmdir(dir);
    return 0;
}
