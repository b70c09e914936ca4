/*
 * test_quantize.c — gptc_quantize_model (gptc quantize) against llama-quantize:
 *   - the per-tensor type rules of every mix, on a 12- and a 4-layer model's tensor names;
 *   - stories260K.gguf (F32) quantized with q8_0, q4_0, q4_1, q5_0, q5_1: every tensor's type and
 *     bytes equal llama.cpp's files in ../shared/data/gguf/quant (the F16 fallback of the
 *     172-column ffn_down included);
 *   - rand-llama-d256-Q8_0.gguf (which dequantizes exactly to the F32 model llama-quantize read)
 *     requantized with q4_0, q4_k_s, q4_k_m: equal to llama.cpp's files;
 *   - the metadata (general.file_type, general.quantization_version), the output loading, and
 *     clear errors for an unknown mix and a missing input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/gguf.h"
#include "quant/quant.h"
#include "quant/quantize.h"
#include "test.h"

static const char *tname(uint32_t t)
{
    return t < GPTC_TYPE_COUNT && gptc_type_info(t) ? gptc_type_info(t)->name : "?";
}

static uint32_t type_for(const char *mix, const char *name, int64_t ne0, int n_layer,
                         int has_output)
{
    return gptc_quantize_type_for(mix, name, GPTC_TYPE_F32, 2, ne0, n_layer, n_layer, n_layer,
                                  has_output, NULL);
}

static void test_rules(void)
{
    // use_more_bits(i, 12): i < 1, i >= 10, (i - 1) % 3 == 2 -> layers 0, 3, 6, 9, 10, 11
    static const int more12[12] = {1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1};
    int bad = 0;
    for (int l = 0; l < 12; l++) {
        char v[64], d[64], q[64];
        snprintf(v, sizeof v, "blk.%d.attn_v.weight", l);
        snprintf(d, sizeof d, "blk.%d.ffn_down.weight", l);
        snprintf(q, sizeof q, "blk.%d.attn_q.weight", l);
        uint32_t want_m = more12[l] ? GPTC_TYPE_Q6_K : GPTC_TYPE_Q4_K;
        bad += type_for("q4_k_m", v, 512, 12, 1) != want_m;
        bad += type_for("q4_k_m", d, 512, 12, 1) != want_m;
        bad += type_for("q4_k_m", q, 512, 12, 1) != GPTC_TYPE_Q4_K;
        bad += type_for("q5_k_m", v, 512, 12, 1) != (more12[l] ? GPTC_TYPE_Q6_K : GPTC_TYPE_Q5_K);
        bad += type_for("q4_k_s", v, 512, 12, 1) != (l < 4 ? GPTC_TYPE_Q5_K : GPTC_TYPE_Q4_K);
        bad += type_for("q4_k_s", d, 512, 12, 1) != (l < 1 ? GPTC_TYPE_Q5_K : GPTC_TYPE_Q4_K);
        bad += type_for("q6_k", d, 512, 12, 1) != GPTC_TYPE_Q6_K;
        bad += type_for("q4_0", v, 512, 12, 1) != GPTC_TYPE_Q4_0;
    }
    CHECK(bad == 0, "attn_v / ffn_down / attn_q types of a 12-layer model in every mix (%d wrong)",
          bad);

    CHECK(type_for("q4_0", "output.weight", 768, 12, 1) == GPTC_TYPE_Q6_K,
          "output: Q6_K when rows are 256-multiples");
    CHECK(type_for("q4_0", "output.weight", 288, 6, 1) == GPTC_TYPE_Q8_0,
          "output: Q8_0 otherwise (288 columns)");
    CHECK(type_for("q8_0", "output.weight", 768, 12, 1) == GPTC_TYPE_Q8_0,
          "output: Q8_0 in the q8_0 mix");
    CHECK(type_for("q4_k_m", "token_embd.weight", 768, 12, 0) == GPTC_TYPE_Q6_K,
          "tied classifier: token_embd takes the output's type");
    CHECK(type_for("q4_k_m", "token_embd.weight", 768, 12, 1) == GPTC_TYPE_Q4_K,
          "untied: token_embd the base type");
    CHECK(type_for("q4_k_m", "blk.0.attn_norm.weight", 768, 12, 1) == GPTC_TYPE_F32,
          "norms are not quantized");
    CHECK(gptc_quantize_type_for("q4_0", "blk.0.attn_q.weight", GPTC_TYPE_F32, 1, 64, 1, 1, 1, 1,
                                 NULL) == GPTC_TYPE_F32,
          "1-D tensors are not quantized");
    CHECK(type_for("q4_k_m", "blk.0.attn_qkv.weight", 768, 12, 1) == GPTC_TYPE_Q5_K &&
              type_for("q5_k_m", "blk.0.attn_qkv.weight", 768, 12, 1) == GPTC_TYPE_Q6_K,
          "fused attn_qkv: Q5_K (q4_k_m), Q6_K (q5_k_m)");
    CHECK(type_for("q4_k_s", "blk.5.attn_v.weight", 8192, 80, 1) == GPTC_TYPE_Q5_K,
          "80-layer models: attn_v Q5_K instead of Q4_K");
    int fb = 0;
    CHECK(gptc_quantize_type_for("q4_k_m", "blk.0.ffn_down.weight", GPTC_TYPE_F32, 2, 172 * 2, 5, 5,
                                 5, 1, &fb) == GPTC_TYPE_F16 &&
              fb,
          "344 columns (not a 32-multiple after Q4_K's Q5_0 fallback): F16");
    CHECK(gptc_quantize_type_for("q4_k_m", "blk.0.ffn_gate.weight", GPTC_TYPE_F32, 2, 64, 5, 5, 5,
                                 1, &fb) == GPTC_TYPE_Q5_0 &&
              fb,
          "64 columns: Q4_K falls back to Q5_0");
    CHECK(gptc_quantize_type_for("q5_k_m", "blk.0.ffn_gate.weight", GPTC_TYPE_F32, 2, 64, 5, 5, 5,
                                 1, NULL) == GPTC_TYPE_Q5_1,
          "Q5_K falls back to Q5_1");
    CHECK(gptc_quantize_type_for("q6_k", "blk.0.ffn_gate.weight", GPTC_TYPE_F32, 2, 64, 5, 5, 5, 1,
                                 NULL) == GPTC_TYPE_Q8_0,
          "Q6_K falls back to Q8_0");
    CHECK(gptc_quantize_type_for("q4_0", "blk.0.ffn_down.weight", GPTC_TYPE_F32, 2, 172, 5, 5, 5, 1,
                                 &fb) == GPTC_TYPE_F16 &&
              fb,
          "172 columns in q4_0: F16, as llama.cpp's k-quant fallback");
    CHECK(gptc_quantize_ftype("Q4_K_M") == 15 && gptc_quantize_ftype("q4_k") == 15 &&
              gptc_quantize_ftype("q8_0") == 7 && gptc_quantize_ftype("q3_k_xl") == -1,
          "mix names and file types");
}

static gguf_file *open_file(const char *path)
{
    gguf_file *f = NULL;
    gptc_err err;
    if (gptc_gguf_open(path, &f, &err)) return NULL;
    return f;
}

/* Quantize src with mix and compare with llama.cpp's file ref, tensor by tensor. */
static void compare_mix(const char *src, const char *mix, const char *ref, const char *tmp)
{
    char in[1024], want[1024], out[1100];
    snprintf(in, sizeof in, "%s/%s", test_data_dir(), src);
    snprintf(want, sizeof want, "%s/gguf/quant/%s", test_data_dir(), ref);
    snprintf(out, sizeof out, "%s/%s.gguf", tmp, mix);
    gptc_err err;
    gptc_quantize_params qp = {.n_threads = 2};
    gptc_quantize_stats st;
    gptc_status s = gptc_quantize_model(in, NULL, out, mix, &qp, &st, &err);
    CHECK(s == GPTC_OK, "quantize %s with %s (%s)", src, mix, err.msg);
    if (s) return;
    gguf_file *a = open_file(out), *b = open_file(want);
    CHECK(a && b, "open %s and %s", out, want);
    if (a && b) {
        int same = 0, differ = 0;
        for (uint64_t i = 0; i < b->n_tensors; i++) {
            const gguf_tensor *tb = &b->tensors[i];
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)tb->name.n, tb->name.p);
            const gguf_tensor *ta = gptc_gguf_find_tensor(a, name);
            if (ta && ta->type == tb->type && ta->nbytes == tb->nbytes &&
                memcmp(ta->data, tb->data, tb->nbytes) == 0) {
                same++;
            } else {
                differ++;
                printf("  %s %s: %s is %s, llama.cpp's %s%s\n", src, mix, name,
                       ta ? tname(ta->type) : "missing", tname(tb->type),
                       ta && ta->type == tb->type ? " (bytes differ)" : "");
            }
        }
        CHECK(differ == 0 && a->n_tensors == b->n_tensors,
              "%s -> %s: all %d tensors equal llama.cpp's %s", src, mix, same, ref);
        int64_t ft = -1, qv = -1;
        gptc_gguf_get_int(a, "general.file_type", &ft, &err);
        gptc_gguf_get_int(a, "general.quantization_version", &qv, &err);
        int64_t ft_ref = -2;
        gptc_gguf_get_int(b, "general.file_type", &ft_ref, &err);
        CHECK(ft == ft_ref && qv == 2,
              "%s: general.file_type %lld (llama.cpp %lld), quantization_version %lld", mix,
              (long long)ft, (long long)ft_ref, (long long)qv);
    }
    gptc_gguf_close(a);
    gptc_gguf_close(b);
    unlink(out);
}

/* The low-bit and IQ4 mixes (llama-quantize's rules without an importance matrix). */
static void test_rules_lowbit(void)
{
    struct {
        const char *mix, *name;
        int64_t ne0;
        uint32_t want;
    } k[] = {
        {"q2_k", "blk.0.attn_q.weight", 256, GPTC_TYPE_Q2_K},
        {"q2_k", "blk.0.attn_v.weight", 256, GPTC_TYPE_Q3_K}, /* n_gqa < 4 */
        {"q2_k", "blk.3.ffn_down.weight", 256, GPTC_TYPE_Q3_K},
        {"q2_k", "blk.3.attn_output.weight", 256, GPTC_TYPE_Q3_K},
        {"q2_k", "output.weight", 256, GPTC_TYPE_Q6_K},
        {"q2_k", "blk.0.ffn_up.weight", 64,
         GPTC_TYPE_IQ4_NL}, /* rows of 64: llama.cpp's fallback */
        {"q2_k", "blk.0.ffn_up.weight", 48, GPTC_TYPE_F16},
        {"q3_k_s", "blk.0.attn_v.weight", 256, GPTC_TYPE_Q3_K},
        {"q3_k_s", "blk.0.ffn_down.weight", 256, GPTC_TYPE_Q3_K},
        {"q3_k_m", "blk.0.attn_v.weight", 256, GPTC_TYPE_Q5_K},
        {"q3_k_m", "blk.2.attn_v.weight", 256, GPTC_TYPE_Q4_K},
        {"q3_k_m", "blk.0.ffn_down.weight", 256, GPTC_TYPE_Q5_K}, /* layer < 16 / 16 */
        {"q3_k_m", "blk.5.ffn_down.weight", 256, GPTC_TYPE_Q4_K},
        {"q3_k_m", "blk.5.attn_output.weight", 256, GPTC_TYPE_Q4_K},
        {"q3_k_l", "blk.5.attn_v.weight", 256, GPTC_TYPE_Q5_K},
        {"q3_k_l", "blk.5.ffn_down.weight", 256, GPTC_TYPE_Q5_K},
        {"q3_k_l", "blk.5.attn_output.weight", 256, GPTC_TYPE_Q5_K},
        {"q3_k_l", "blk.5.ffn_gate.weight", 256, GPTC_TYPE_Q3_K},
        {"iq4_nl", "blk.5.attn_q.weight", 64, GPTC_TYPE_IQ4_NL},
        {"iq4_nl", "blk.1.ffn_down.weight", 256, GPTC_TYPE_Q5_K}, /* first 16 / 8 layers */
        {"iq4_nl", "blk.2.ffn_down.weight", 256, GPTC_TYPE_IQ4_NL},
        {"iq4_xs", "blk.5.attn_q.weight", 256, GPTC_TYPE_IQ4_XS},
        {"iq4_xs", "blk.5.attn_q.weight", 96, GPTC_TYPE_IQ4_NL},
        {"iq4_xs", "output.weight", 256, GPTC_TYPE_Q6_K},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        uint32_t t = type_for(k[i].mix, k[i].name, k[i].ne0, 16, 1);
        CHECK(t == k[i].want, "%s: %s (ne0 %lld) -> %s (want %s)", k[i].mix, k[i].name,
              (long long)k[i].ne0, tname(t), tname(k[i].want));
    }
    CHECK(gptc_quantize_ftype("Q3_K_M") == 12 && gptc_quantize_ftype("q2_k") == 10 &&
              gptc_quantize_ftype("iq4_nl") == 25 && gptc_quantize_ftype("iq4_xs") == 30 &&
              gptc_quantize_ftype("q3_k") == 12,
          "llama.cpp's file_type numbers of the new mixes");
}

/* A quantized input with a NaN scale is refused, naming the tensor. */
static void test_nan_input(const char *tmp)
{
    char in[1024], bad[1100], out[1100];
    snprintf(in, sizeof in, "%s/gguf/quant/rand-llama-d256-Q8_0.gguf", test_data_dir());
    snprintf(bad, sizeof bad, "%s/nan.gguf", tmp);
    snprintf(out, sizeof out, "%s/nan-q4.gguf", tmp);
    gptc_err err;
    gguf_file *src = open_file(in), *f = NULL;
    if (!src) return;
    void *copy = NULL;
    CHECK(gptc_gguf_new(&f, &err) == GPTC_OK && gptc_gguf_copy_kvs(f, src, &err) == GPTC_OK,
          "copy the kvs");
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const gguf_tensor *t = &src->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
        const void *data = t->data;
        if (strcmp(name, "blk.1.attn_q.weight") == 0) {
            copy = malloc(t->nbytes);
            memcpy(copy, t->data, t->nbytes);
            uint16_t nan = 0x7e00; /* row 3, block 5: its f16 d */
            memcpy((uint8_t *)copy + 3 * gptc_row_bytes(t->type, (int64_t)t->ne[0]) + 5 * 34, &nan,
                   2);
            data = copy;
        }
        gptc_gguf_add_tensor(f, name, t->type, t->n_dims, t->ne, data, &err);
    }
    CHECK(gptc_gguf_write(f, bad, &err) == GPTC_OK, "write the damaged file (%s)", err.msg);
    gptc_gguf_close(f);
    gptc_gguf_close(src);
    free(copy);
    gptc_status s = gptc_quantize_model(bad, NULL, out, "q4_k_m", NULL, NULL, &err);
    CHECK(s == GPTC_E_FORMAT && strstr(err.msg, "blk.1.attn_q.weight") && strstr(err.msg, "NaN") &&
              strstr(err.msg, "block 5 of row 3") && access(out, F_OK) != 0,
          "a NaN scale in the input is a clear error naming the tensor, block and row (%s)",
          err.msg);
    unlink(bad);
}

static void test_errors(const char *tmp)
{
    char in[1024], out[1100];
    snprintf(in, sizeof in, "%s/gguf/stories260K.gguf", test_data_dir());
    snprintf(out, sizeof out, "%s/x.gguf", tmp);
    gptc_err err;
    gptc_status s = gptc_quantize_model(in, NULL, out, "q3_k_xl", NULL, NULL, &err);
    CHECK(s == GPTC_E_INVALID && strstr(err.msg, "q3_k_xl") && access(out, F_OK) != 0,
          "unknown mix: clear error, nothing written (%s)", err.msg);
    s = gptc_quantize_model("/nonexistent/m.gguf", NULL, out, "q8_0", NULL, NULL, &err);
    CHECK(s == GPTC_E_IO && access(out, F_OK) != 0, "missing input: I/O error (%s)", err.msg);
    snprintf(out, sizeof out, "%s/no/such/dir/x.gguf", tmp);
    s = gptc_quantize_model(in, NULL, out, "q8_0", NULL, NULL, &err);
    CHECK(s != GPTC_OK && err.msg[0], "unwritable output: error (%s)", err.msg);
}

int main(void)
{
    test_rules();
    test_rules_lowbit();
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/gguf/quant/stories260K-Q8_0.gguf", test_data_dir());
    if (access(probe, R_OK) != 0) {
        printf("  (skipped the file comparisons: %s not found)\n", probe);
        return test_summary();
    }
    char tmp[] = "/tmp/gptc_test_quantize_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    static const char *simple[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1"};
    static const char *simple_ref[] = {"stories260K-Q8_0.gguf", "stories260K-Q4_0.gguf",
                                       "stories260K-Q4_1.gguf", "stories260K-Q5_0.gguf",
                                       "stories260K-Q5_1.gguf"};
    for (int i = 0; i < 5; i++)
        compare_mix("gguf/stories260K.gguf", simple[i], simple_ref[i], tmp);
    compare_mix("gguf/quant/rand-llama-d256-Q8_0.gguf", "q4_0", "rand-llama-d256-Q4_0.gguf", tmp);
    compare_mix("gguf/quant/rand-llama-d256-Q8_0.gguf", "q4_k_s", "rand-llama-d256-Q4_K_S.gguf",
                tmp);
    compare_mix("gguf/quant/rand-llama-d256-Q8_0.gguf", "q4_k_m", "rand-llama-d256-Q4_K_M.gguf",
                tmp);
    test_errors(tmp);
    test_nan_input(tmp);
    rmdir(tmp);
    return test_summary();
}
