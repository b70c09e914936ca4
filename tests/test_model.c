/*
 * test_model.c — the forward pass against llama2.c's run.c (per-position logits, greedy ids),
 * batched vs token-by-token equivalence, several sequences in one batch, KV cache operations,
 * and a table of bad model files (hyperparameters, shapes, types).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format/gguf.h"
#include "model/model.h"
#include "quant/quant.h"
#include "test.h"

#include "gguf_variant.h"

static char g_path[4][512];

static const char *data(const char *rel)
{
    static int k;
    char *p = g_path[k++ & 3];
    snprintf(p, 512, "%s/%s", test_data_dir(), rel);
    return p;
}

typedef struct {
    int n_prompt, prompt[16], argmax[16];
    float logits[16][8];
    int n_gen, gen[64];
} ref_fwd;

static int read_ref(ref_fwd *r)
{
    FILE *fp = fopen(data("llama2c/reference/forward_once_upon_a_time.txt"), "r");
    if (!fp) return 0;
    char line[4096];
    memset(r, 0, sizeof *r);
    while (fgets(line, sizeof line, fp)) {
        int pos, in, am, off;
        if (sscanf(line, "pos %d in %d argmax %d logits[0..7]%n", &pos, &in, &am, &off) == 3 &&
            pos < 16) {
            char *s = line + off;
            for (int i = 0; i < 8; i++)
                r->logits[pos][i] = strtof(s, &s);
            r->prompt[pos] = in;
            r->argmax[pos] = am;
            if (pos + 1 > r->n_prompt) r->n_prompt = pos + 1;
        } else if (strncmp(line, "generated_ids", 13) == 0) {
            char *s = line + 13, *e;
            for (;;) {
                long v = strtol(s, &e, 10);
                if (e == s || r->n_gen >= 64) break;
                r->gen[r->n_gen++] = (int)v;
                s = e;
            }
        }
    }
    fclose(fp);
    return r->n_prompt > 0;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* token by token, then greedy; compare with run.c */
static void check_against_runc(gptc_model *m, const ref_fwd *r, const char *what, int n_threads)
{
    gptc_err err;
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.type_k = cp.type_v = 0; /* f32, as run.c */
    cp.n_threads = n_threads;
    gptc_ctx *c;
    CHECK(gptc_ctx_init(m, &cp, &c, &err) == GPTC_OK, "%s: ctx: %s", what, err.msg);
    if (!c) return;
    int V = gptc_model_hparams(m)->n_vocab;
    float maxdiff = 0;
    int32_t tok = 0, pos = 0;
    float *lg = NULL;
    for (int p = 0; p < r->n_prompt; p++) {
        tok = r->prompt[p];
        pos = p;
        gptc_batch b = {.n_tokens = 1, .token = &tok, .pos = &pos};
        CHECK(gptc_decode(c, &b, &err) == GPTC_OK, "%s: decode: %s", what, err.msg);
        lg = gptc_get_logits(c, 0);
        for (int i = 0; i < 8; i++)
            maxdiff = fmaxf(maxdiff, fabsf(lg[i] - r->logits[p][i]));
        CHECK(argmax(lg, V) == r->argmax[p], "%s: argmax at pos %d", what, p);
    }
    CHECK(maxdiff < 1e-4f, "%s: logits differ from run.c by %g", what, maxdiff);
    int ok = 1;
    for (int g = 0; g < r->n_gen; g++) {
        tok = argmax(lg, V);
        if (tok != r->gen[g]) ok = 0;
        pos++;
        gptc_batch b = {.n_tokens = 1, .token = &tok, .pos = &pos};
        if (gptc_decode(c, &b, &err)) break;
        lg = gptc_get_logits(c, 0);
    }
    CHECK(ok, "%s: greedy ids differ from run.c", what);
    gptc_ctx_free(c);
}

/* The prompt as one batch gives the same logits (per position) as token by token. */
static void check_batched(gptc_model *m, const ref_fwd *r)
{
    gptc_err err;
    gptc_ctx *c;
    gptc_ctx_params cp32 = gptc_ctx_default_params();
    cp32.type_k = cp32.type_v = 0; /* f32, as run.c */
    CHECK(gptc_ctx_init(m, &cp32, &c, &err) == GPTC_OK, "ctx: %s", err.msg);
    int32_t pos[16];
    int8_t want[16];
    for (int i = 0; i < r->n_prompt; i++)
        pos[i] = i, want[i] = 1;
    gptc_batch b = {.n_tokens = r->n_prompt, .token = r->prompt, .pos = pos, .logits = want};
    CHECK(gptc_decode(c, &b, &err) == GPTC_OK, "batched decode: %s", err.msg);
    float maxdiff = 0;
    for (int p = 0; p < r->n_prompt; p++) {
        const float *lg = gptc_get_logits(c, p);
        for (int i = 0; i < 8; i++)
            maxdiff = fmaxf(maxdiff, fabsf(lg[i] - r->logits[p][i]));
    }
    CHECK(maxdiff < 1e-4f, "batched prompt logits differ from run.c by %g", maxdiff);
    CHECK(gptc_kv_seq_pos_max(c, 0) == r->n_prompt - 1, "pos max after prompt");

    /* default: logits only for the last token */
    gptc_kv_clear(c);
    gptc_batch b2 = {.n_tokens = r->n_prompt, .token = r->prompt, .pos = pos};
    CHECK(gptc_decode(c, &b2, &err) == GPTC_OK, "decode: %s", err.msg);
    CHECK(gptc_get_logits(c, 0) == NULL, "no logits asked for token 0");
    CHECK(gptc_get_logits(c, r->n_prompt - 1) != NULL, "logits of the last token");

    /* two sequences in one batch: the prompt in seq 0 and its first 3 tokens in seq 1 */
    gptc_ctx_free(c);
    gptc_ctx_params cp = gptc_ctx_default_params();
    cp.type_k = cp.type_v = 0; /* f32, as run.c */
    cp.n_seq_max = 4;
    CHECK(gptc_ctx_init(m, &cp, &c, &err) == GPTC_OK, "ctx: %s", err.msg);
    int32_t tk[16], ps[16], sq[16];
    int n = 0;
    for (int i = 0; i < r->n_prompt; i++)
        tk[n] = r->prompt[i], ps[n] = i, sq[n] = 0, want[n++] = 1;
    for (int i = 0; i < 3; i++)
        tk[n] = r->prompt[i], ps[n] = i, sq[n] = 1, want[n++] = 1;
    gptc_batch b3 = {.n_tokens = n, .token = tk, .pos = ps, .seq_id = sq, .logits = want};
    CHECK(gptc_decode(c, &b3, &err) == GPTC_OK, "two-sequence decode: %s", err.msg);
    maxdiff = 0;
    for (int j = 0; j < n; j++) {
        const float *lg = gptc_get_logits(c, j);
        for (int i = 0; i < 8; i++)
            maxdiff = fmaxf(maxdiff, fabsf(lg[i] - r->logits[ps[j]][i]));
    }
    CHECK(maxdiff < 1e-4f, "two sequences in one batch: logits differ by %g", maxdiff);

    /* prefix copy: seq 2 shares seq 0's first 4 cells, then decodes the 5th token itself */
    gptc_kv_seq_cp(c, 0, 2, 0, 4);
    CHECK(gptc_kv_seq_pos_max(c, 2) == 3, "seq_cp copies positions 0..3");
    int32_t t5 = r->prompt[4], p5 = 4, s2 = 2;
    gptc_batch b4 = {.n_tokens = 1, .token = &t5, .pos = &p5, .seq_id = &s2};
    CHECK(gptc_decode(c, &b4, &err) == GPTC_OK, "decode after seq_cp: %s", err.msg);
    const float *lg = gptc_get_logits(c, 0);
    maxdiff = 0;
    for (int i = 0; i < 8; i++)
        maxdiff = fmaxf(maxdiff, fabsf(lg[i] - r->logits[4][i]));
    CHECK(maxdiff < 1e-4f, "decode on a copied prefix: logits differ by %g", maxdiff);

    /* seq_rm: remove seq 1 entirely, then re-decode it: same logits */
    gptc_kv_seq_rm(c, 1, 0, -1);
    CHECK(gptc_kv_seq_pos_max(c, 1) == -1, "seq_rm empties the sequence");
    gptc_kv_seq_rm(c, 0, 3, -1);
    CHECK(gptc_kv_seq_pos_max(c, 0) == 2, "seq_rm of a range keeps the prefix");
    int32_t t3 = r->prompt[3], p3 = 3, s0 = 0;
    gptc_batch b5 = {.n_tokens = 1, .token = &t3, .pos = &p3, .seq_id = &s0};
    CHECK(gptc_decode(c, &b5, &err) == GPTC_OK, "decode after seq_rm: %s", err.msg);
    lg = gptc_get_logits(c, 0);
    maxdiff = 0;
    for (int i = 0; i < 8; i++)
        maxdiff = fmaxf(maxdiff, fabsf(lg[i] - r->logits[3][i]));
    CHECK(maxdiff < 1e-4f, "decode after truncating a sequence: logits differ by %g", maxdiff);

    /* errors: token out of range, bad seq, a full context */
    int32_t badt = 100000, p0 = 0, bads = 9;
    gptc_batch e1 = {.n_tokens = 1, .token = &badt, .pos = &p0};
    CHECK(gptc_decode(c, &e1, &err) == GPTC_E_RANGE && strstr(err.msg, "vocabulary"),
          "token out of range: %s", err.msg);
    gptc_batch e2 = {.n_tokens = 1, .token = r->prompt, .pos = &p0, .seq_id = &bads};
    CHECK(gptc_decode(c, &e2, &err) == GPTC_E_RANGE, "seq out of range");
    gptc_ctx_free(c);

    cp = gptc_ctx_default_params();
    cp.type_k = cp.type_v = 0;
    cp.n_ctx = 3;
    CHECK(gptc_ctx_init(m, &cp, &c, &err) == GPTC_OK, "small ctx: %s", err.msg);
    gptc_batch e3 = {.n_tokens = 3, .token = r->prompt, .pos = pos};
    CHECK(gptc_decode(c, &e3, &err) == GPTC_OK, "3 tokens fit in 3 cells: %s", err.msg);
    gptc_batch e4 = {.n_tokens = 1, .token = r->prompt, .pos = pos + 3};
    CHECK(gptc_decode(c, &e4, &err) == GPTC_E_KV_FULL && strstr(err.msg, "full"),
          "full context: %s", err.msg);
    CHECK(strcmp(gptc_status_name(GPTC_E_KV_FULL), "KV cache full") == 0, "status name: %s",
          gptc_status_name(GPTC_E_KV_FULL));
    /* a bad token id in a full cache: the batch is checked first, so it is a range error */
    gptc_batch e5 = {.n_tokens = 1, .token = &badt, .pos = pos + 3};
    CHECK(gptc_decode(c, &e5, &err) == GPTC_E_RANGE && strstr(err.msg, "vocabulary"),
          "bad token in a full cache: %s", err.msg);
    /* freeing a cell makes room again */
    gptc_kv_seq_rm(c, 0, 2, -1);
    gptc_batch e6 = {.n_tokens = 1, .token = r->prompt + 2, .pos = pos + 2};
    CHECK(gptc_decode(c, &e6, &err) == GPTC_OK, "decode after freeing a cell: %s", err.msg);
    gptc_ctx_free(c);
}

/* ----- bad model files: take stories260K.gguf, change one thing, write, load ---------------- */

static void check_bad_models(void)
{
    /* clang-format off */
    static const bad_case cases[] = {
        {"missing block_count", .drop_key = "llama.block_count", .expect = "block_count' is missing"},
        {"missing embedding_length", .drop_key = "llama.embedding_length", .expect = "embedding_length' is missing"},
        {"missing architecture", .drop_key = "general.architecture", .expect = "general.architecture"},
        {"n_head 0", .set_key = "llama.attention.head_count", .set_val = 0, .expect = "head_count"},
        {"n_head not dividing dim", .set_key = "llama.attention.head_count", .set_val = 7, .expect = "not a multiple"},
        {"kv heads not dividing heads", .set_key = "llama.attention.head_count_kv", .set_val = 3, .expect = "not a multiple"},
        {"huge block_count", .set_key = "llama.block_count", .set_val = 100000, .expect = "out of range"},
        {"more layers than tensors", .set_key = "llama.block_count", .set_val = 6, .expect = "blk.5.attn_norm.weight' is missing"},
        {"wrong ffn length", .set_key = "llama.feed_forward_length", .set_val = 100, .expect = "ffn_gate.weight' has shape"},
        {"missing tensor", .drop_tensor = "blk.2.attn_k.weight", .expect = "blk.2.attn_k.weight' is missing"},
        {"vocab vs embedding rows", .bad_shape = "token_embd.weight", .expect = "vocabulary has 512 tokens"},
        {"wrong shape", .bad_shape = "blk.0.attn_v.weight", .expect = "attn_v.weight' has shape"},
        {"rope dims over head dim", .set_key = "llama.rope.dimension_count", .set_val = 16, .expect = "rope.dimension_count"},
        {"no tokens", .drop_key = "tokenizer.ggml.tokens", .expect = "tokenizer"},
    };
    /* clang-format on */
    gguf_file *src;
    gptc_err err;
    if (gptc_gguf_open(data("gguf/stories260K.gguf"), &src, &err)) {
        CHECK(0, "open stories260K.gguf: %s", err.msg);
        return;
    }
    char dir[] = "/tmp/gptc_test_model_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[600];
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const bad_case *bc = &cases[k];
        CHECK(write_variant(src, bc, path), "%s: write", bc->desc);
        gptc_model *m = NULL;
        gptc_status s = gptc_model_load(path, NULL, &m, &err);
        CHECK(s != GPTC_OK && m == NULL, "%s: loaded a bad model", bc->desc);
        CHECK(strstr(err.msg, bc->expect) != NULL, "%s: message '%s' lacks '%s'", bc->desc, err.msg,
              bc->expect);
        gptc_model_free(m);
    }
    unlink(path);
    rmdir(dir);
    gptc_gguf_close(src);
}

/* A model file the process may not read is reported as what it is (the open error), not as a
 * file of another format (issue 10, defect 12). Tests run as root, who reads any file: the
 * loading happens in a child that drops to the unprivileged user nobody first. */
static void check_unreadable(void)
{
    char path[] = "/tmp/gptc_unreadable_XXXXXX";
    int fd = mkstemp(path); /* mode 0600, owned by us */
    if (fd < 0) {
        CHECK(0, "mkstemp");
        return;
    }
    CHECK(write(fd, "GGUF\3\0\0\0", 8) == 8, "write");
    close(fd);
    if (geteuid() != 0) chmod(path, 0);
    int pfd[2];
    if (pipe(pfd) != 0) {
        CHECK(0, "pipe");
        unlink(path);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(2);
        gptc_err err = {0};
        gptc_model *m = NULL;
        gptc_status st = gptc_model_load(path, NULL, &m, &err);
        if (st == GPTC_OK) snprintf(err.msg, sizeof err.msg, "(loaded)");
        ssize_t w = write(pfd[1], err.msg, strlen(err.msg) + 1);
        (void)w;
        _exit(0);
    }
    close(pfd[1]);
    char msg[512] = {0};
    size_t n = 0;
    ssize_t r;
    while (n < sizeof msg - 1 && (r = read(pfd[0], msg + n, sizeof msg - 1 - n)) > 0)
        n += (size_t)r;
    close(pfd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    unlink(path);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unreadable model: child exit");
    CHECK(strstr(msg, "Permission denied") && !strstr(msg, "llama2.c"),
          "unreadable model: the open error is reported: '%s'", msg);
}

int main(void)
{
    ref_fwd r;
    if (!read_ref(&r)) {
        CHECK(0, "reference file forward_once_upon_a_time.txt not found under %s", test_data_dir());
        return test_summary();
    }
    CHECK(r.n_prompt == 5 && r.prompt[1] == 403 && r.n_gen == 36, "reference parsed");
    gptc_err err;
    gptc_model *m = NULL;
    gptc_model_params mp = gptc_model_default_params();
    mp.tokenizer_path = data("llama2c/tok512.bin");
    CHECK(gptc_model_load(data("llama2c/stories260K.bin"), &mp, &m, &err) == GPTC_OK,
          "load .bin: %s", err.msg);
    if (m) {
        const gptc_hparams *hp = gptc_model_hparams(m);
        CHECK(hp->n_embd == 64 && hp->n_layer == 5 && hp->n_head == 8 && hp->n_head_kv == 4 &&
                  hp->n_vocab == 512 && hp->n_ff == 172 && hp->tied_output == 1,
              "stories260K.bin hyperparameters");
        check_against_runc(m, &r, "llama2.c .bin, 1 thread", 1);
        check_against_runc(m, &r, "llama2.c .bin, 2 threads", 2);
        check_batched(m, &r);
        gptc_model_free(m);
    }
    m = NULL;
    CHECK(gptc_model_load(data("gguf/stories260K.gguf"), NULL, &m, &err) == GPTC_OK,
          "load .gguf: %s", err.msg);
    if (m) {
        CHECK(gptc_model_hparams(m)->tied_output == 0,
              "llama.cpp's GGUF has a separate output.weight");
        check_against_runc(m, &r, "stories260K.gguf", 0);
        gptc_model_free(m);
    }
    check_bad_models();
    check_unreadable();
    return test_summary();
}
