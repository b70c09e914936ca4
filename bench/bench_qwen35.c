/*
 * bench_qwen35.c — speed of the Qwen3.5 hybrid (qwen35: gated delta-net layers 3 : 1 with gated
 * attention) at the layer widths of a Qwen3.5-4B-class model, in Q4_K: prefill tok/s, and decode
 * tok/s right after the prompt and at a deep context position, with 1 and 2 threads, next to the
 * bandwidth bound (weight bytes read per token / measured bandwidth). Not a test.
 *
 * The model is written here with random weights directly in Q4_K (no F32 intermediate): every
 * matrix of one row length shares one buffer of quantized random rows (values do not matter for
 * speed). Shape (assumed, from the Qwen3-Next / Qwen3.5 family): dim 2560, ffn 9216, attention
 * 16 heads x 256 (4 KV heads, rope on 64 dims), delta net 16 key heads x 128 and 32 value heads
 * x 128, conv kernel 4, synthetic vocabulary 32000; depth --layers (default 4 = one 3 : 1
 * period, so a deep prefill stays affordable on a small machine; decode time per token scales
 * with the layers, the bandwidth bound is computed for the file as written).
 *
 * usage: bench_qwen35 [--layers N] [--deep P] [--tokens N] [--threads LIST] [--cache f16|f32]
 *   --deep P: the deep decode position (default 8192; the prompt is prefilled in batches of 512)
 *   --cache: the KV cache type of the attention layers (default f16, as gptc run)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_model.h"
#include "bench_util.h"
#include "format/gguf.h"
#include "gptc.h"
#include "quant/quant.h"

enum { D = 2560, FF = 9216, NH = 16, NKV = 4, HD = 256, NROT = 64, G = 16, DK = 128, HV = 32 };
enum { DV = 128, KCONV = 4, VOCAB = 32000, INNER = HV * DV, CQKV = 2 * G * DK + INNER };

/* A buffer of `rows` rows of `cols` values in Q4_K: 64 distinct random rows, repeated. */
static void *q4k_rows(int rows, int cols, uint64_t *rng)
{
    const gptc_type_traits *tt = gptc_type_info(GPTC_TYPE_Q4_K);
    size_t rb = gptc_row_bytes(GPTC_TYPE_Q4_K, cols);
    char *buf = malloc((size_t)rows * rb);
    float *row = malloc((size_t)cols * sizeof *row);
    if (!buf || !row) {
        free(buf), free(row);
        return NULL;
    }
    for (int r = 0; r < rows; r++) {
        if (r >= 64) {
            memcpy(buf + (size_t)r * rb, buf + (size_t)(r % 64) * rb, rb);
            continue;
        }
        for (int i = 0; i < cols; i++)
            row[i] = bench_frand(rng) * 0.05f;
        tt->from_float_ref(row, buf + (size_t)r * rb, cols);
    }
    free(row);
    return buf;
}

static int write_model(const char *path, int layers)
{
    gptc_err err;
    gguf_file *f;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    if (gptc_gguf_new(&f, &err)) return 0;
    const char *a = "qwen35";
    char k[128];
#define KU(name, v)                                                                                \
    (snprintf(k, sizeof k, "%s.%s", a, name), gptc_gguf_set_uint(f, k, GGUF_VT_U32, (v), &err))
    gptc_gguf_set_str(f, "general.architecture", a, strlen(a), &err);
    gptc_gguf_set_str(f, "general.name", "bench-qwen35-4b-width", 21, &err);
    KU("block_count", layers);
    KU("context_length", 262144);
    KU("embedding_length", D);
    KU("feed_forward_length", FF);
    KU("attention.head_count", NH);
    KU("attention.head_count_kv", NKV);
    snprintf(k, sizeof k, "%s.rope.freq_base", a);
    gptc_gguf_set_f32(f, k, 1e7f, &err);
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", a);
    gptc_gguf_set_f32(f, k, 1e-6f, &err);
    KU("attention.key_length", HD);
    KU("attention.value_length", HD);
    KU("ssm.conv_kernel", KCONV);
    KU("ssm.state_size", DK);
    KU("ssm.group_count", G);
    KU("ssm.time_step_rank", HV);
    KU("ssm.inner_size", INNER);
    KU("full_attention_interval", 4);
    KU("rope.dimension_count", NROT);
#undef KU
    int ok = bench_set_vocab(f, VOCAB);
    /* quantized rows by row length; the largest user of each decides its rows */
    void *w2560 = q4k_rows(VOCAB, D, &rng), *w4096 = q4k_rows(D, INNER, &rng),
         *w9216 = q4k_rows(D, FF, &rng);
    float *vec = malloc(sizeof(float) * CQKV * KCONV), *neg = malloc(sizeof(float) * HV),
          *zero = calloc(HV, sizeof(float));
    ok = ok && w2560 && w4096 && w9216 && vec && neg && zero;
    for (int i = 0; ok && i < CQKV * KCONV; i++)
        vec[i] = i < D ? 1.0f : bench_frand(&rng) * 0.5f; /* norms read the first D: 1 */
    for (int i = 0; ok && i < HV; i++)
        neg[i] = -0.5f;
    uint64_t ne[2];
    char nm[64];
#define TQ(name, cols, rows, buf)                                                                  \
    (ne[0] = (cols), ne[1] = (rows),                                                               \
     gptc_gguf_add_tensor(f, name, GPTC_TYPE_Q4_K, 2, ne, buf, &err))
#define TF(name, n, buf)                                                                           \
    (ne[0] = (n), gptc_gguf_add_tensor(f, name, GPTC_TYPE_F32, 1, ne, buf, &err))
#define L(s) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), nm)
    if (ok) {
        TQ("token_embd.weight", D, VOCAB, w2560);
        TF("output_norm.weight", D, vec);
        for (int l = 0; l < layers; l++) {
            TF(L("attn_norm.weight"), D, vec);
            TF(L("post_attention_norm.weight"), D, vec);
            TQ(L("ffn_gate.weight"), D, FF, w2560);
            TQ(L("ffn_up.weight"), D, FF, w2560);
            TQ(L("ffn_down.weight"), FF, D, w9216);
            if ((l + 1) % 4 != 0) {
                TQ(L("attn_qkv.weight"), D, CQKV, w2560);
                TQ(L("attn_gate.weight"), D, INNER, w2560);
                TQ(L("ssm_beta.weight"), D, HV, w2560);
                TQ(L("ssm_alpha.weight"), D, HV, w2560);
                TF(L("ssm_dt.bias"), HV, zero);
                TF(L("ssm_a"), HV, neg);
                ne[0] = KCONV, ne[1] = CQKV;
                gptc_gguf_add_tensor(f, L("ssm_conv1d.weight"), GPTC_TYPE_F32, 2, ne, vec, &err);
                TF(L("ssm_norm.weight"), DV, vec);
                TQ(L("ssm_out.weight"), INNER, D, w4096);
            } else {
                TQ(L("attn_q.weight"), D, 2 * NH * HD, w2560);
                TQ(L("attn_k.weight"), D, NKV * HD, w2560);
                TQ(L("attn_v.weight"), D, NKV * HD, w2560);
                TF(L("attn_q_norm.weight"), HD, vec);
                TF(L("attn_k_norm.weight"), HD, vec);
                TQ(L("attn_output.weight"), NH * HD, D, w4096);
            }
        }
        ok = gptc_gguf_write(f, path, &err) == GPTC_OK;
        if (!ok) fprintf(stderr, "bench: %s\n", err.msg);
    }
#undef TQ
#undef TF
#undef L
    gptc_gguf_close(f);
    free(w2560), free(w4096), free(w9216), free(vec), free(neg), free(zero);
    return ok;
}

static double mem_bandwidth_gbs(int n_threads)
{
    gptc_pool *pool;
    gptc_err err;
    if (gptc_pool_init(n_threads, &pool, &err)) return 0;
    double bw = gptc_bench_mem_bandwidth(pool) / 1e9;
    gptc_pool_free(pool);
    return bw;
}

/* Decode tokens [p0, p1) of a fixed stream in batches of at most `batch`; seconds taken. */
static double feed(gptc_ctx *c, int p0, int p1, int batch, int *ok)
{
    static int32_t tok[512], pos[512];
    gptc_err err;
    double t0 = bench_now();
    for (int p = p0; p < p1 && *ok; p += batch) {
        int n = p1 - p < batch ? p1 - p : batch;
        for (int i = 0; i < n; i++) {
            tok[i] = 3 + (p + i) * 7919 % (VOCAB - 3);
            pos[i] = p + i;
        }
        gptc_batch b = {.n_tokens = n, .token = tok, .pos = pos};
        if (gptc_decode(c, &b, &err)) {
            fprintf(stderr, "bench: decode at %d: %s\n", p, err.msg);
            *ok = 0;
        }
    }
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    int layers = 4, deep = 8192, n_tok = 16, threads[4] = {1, 2}, n_th = 2, cache = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--layers") && i + 1 < argc)
            layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--deep") && i + 1 < argc)
            deep = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
            cache = gptc_cache_type(argv[++i]);
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            n_tok = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_th = 0;
            for (char *s = argv[++i]; *s && n_th < 4; s++) {
                threads[n_th++] = (int)strtol(s, &s, 10);
                if (!*s) break;
            }
        } else {
            fprintf(stderr, "usage: bench_qwen35 [--layers N] [--deep P] [--tokens N] "
                            "[--threads 1,2]\n");
            return 2;
        }
    }
    if (layers < 1 || deep < 1024 || n_tok < 1 || cache < 0) return 2;
    char dir[] = "/tmp/gptc_bench_qwen35_XXXXXX", path[600];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    double t0 = bench_now();
    if (!write_model(path, layers)) return 1;
    printf("qwen35 at Qwen3.5-4B-class widths, %d layers (%d delta-net, %d attention), Q4_K, "
           "written in %.1f s\n",
           layers, layers - layers / 4, layers / 4, bench_now() - t0);
    gptc_model *m;
    gptc_err err;
    if (gptc_model_load(path, NULL, &m, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    double wb = (double)gptc_model_weight_bytes(m);
    printf("weights read per token %.1f MB; recurrent state %.2f MB per sequence\n", wb / 1e6,
           (double)gptc_state_bytes(m) / 1e6);
    printf("KV cache %s\n", cache ? "f16" : "f32");
    printf("threads  bandwidth  bound tok/s  prefill tok/s (512)  decode tok/s @512  @%d\n", deep);
    for (int ti = 0; ti < n_th; ti++) {
        int th = threads[ti], ok = 1;
        double bw = mem_bandwidth_gbs(th);
        gptc_ctx_params cp = gptc_ctx_default_params();
        cp.n_ctx = deep + n_tok + 1;
        cp.n_batch = 512;
        cp.n_threads = th;
        cp.type_k = cp.type_v = cache;
        gptc_ctx *c;
        if (gptc_ctx_init(m, &cp, &c, &err)) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
        double pf = 512 / feed(c, 0, 512, 512, &ok);
        double d0 = n_tok / feed(c, 512, 512 + n_tok, 1, &ok);
        gptc_kv_clear(c);
        feed(c, 0, deep, 512, &ok);
        double dd = n_tok / feed(c, deep, deep + n_tok, 1, &ok);
        if (ok)
            printf("%7d  %6.1f GB/s  %11.1f  %19.1f  %17.2f  %.2f\n", th, bw, bw * 1e9 / wb, pf, d0,
                   dd);
        gptc_ctx_free(c);
    }
    gptc_model_free(m);
    unlink(path);
    rmdir(dir);
    return 0;
}
