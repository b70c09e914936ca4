/*
 * test_tokenizer.c — the SentencePiece-style tokenizer, the streaming detokenizer and the
 * llama2.c tokenizer.bin import, against llama.cpp's and llama2.c's own outputs:
 *   gguf/ggml-vocab-llama-spm.gguf.inp/.out      llama.cpp's 46 tokenizer fixtures
 *   llama2c/reference/encode_*.tsv               run.c's encode() with tok512.bin, tokenizer.bin
 *   gguf/reference/llamacpp_tokenize_*.tsv       llama-tokenize on stories260K.gguf
 *   gguf/stories260K.gguf                        llama.cpp's conversion of tok512.bin
 * Run from the repository root.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "format/gguf.h"
#include "format/llama2c.h"
#include "gptc.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

static gptc_tokenizer *tok_from_gguf(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_data_dir(), name);
    gguf_file *f = NULL;
    gptc_err err = {0};
    gptc_tokenizer *t = NULL;
    if (gptc_gguf_open(path, &f, &err) != GPTC_OK) {
        printf("cannot open %s: %s\n", path, err.msg);
        return NULL;
    }
    if (gptc_tokenizer_from_gguf(f, &t, &err) != GPTC_OK) printf("%s: %s\n", name, err.msg);
    gptc_gguf_close(f);
    return t;
}

/* tokenizer.bin -> in-memory GGUF; OUT: owned, gptc_gguf_close */
static gguf_file *l2c_gguf(const char *name, int n_vocab)
{
    size_t n;
    char *buf = test_read_data(name, &n);
    if (!buf) {
        printf("cannot read %s\n", name);
        return NULL;
    }
    gguf_file *f = NULL;
    gptc_err err = {0};
    if (gptc_gguf_new(&f, &err) != GPTC_OK ||
        gptc_llama2c_tokenizer_parse(f, buf, n, n_vocab, &err) != GPTC_OK) {
        printf("%s: %s\n", name, err.msg);
        gptc_gguf_close(f);
        f = NULL;
    }
    free(buf);
    return f;
}

static gptc_tokenizer *tok_from_l2c(const char *name, int n_vocab)
{
    gguf_file *f = l2c_gguf(name, n_vocab);
    if (!f) return NULL;
    gptc_tokenizer *t = NULL;
    gptc_err err = {0};
    if (gptc_tokenizer_from_gguf(f, &t, &err) != GPTC_OK) printf("%s: %s\n", name, err.msg);
    gptc_gguf_close(f);
    return t;
}

typedef struct ids {
    int32_t *v;
    size_t n;
} ids;

/* encode with a deliberately small first buffer, to exercise the retry contract */
static ids enc(const gptc_tokenizer *t, const char *s, size_t len, int bos, int special)
{
    ids r = {NULL, 0};
    gptc_err err = {0};
    int32_t small[4];
    size_t need = 0;
    if (gptc_tok_encode(t, s, len, bos, special, small, 4, &need, &err) != GPTC_OK) {
        printf("encode: %s\n", err.msg);
        return r;
    }
    r.v = malloc((need + 1) * sizeof *r.v);
    size_t n2 = 0;
    gptc_status st = gptc_tok_encode(t, s, len, bos, special, r.v, need, &n2, &err);
    CHECK(st == GPTC_OK && n2 == need, "encode twice: %zu then %zu", need, n2);
    if (need <= 4) CHECK(memcmp(small, r.v, need * sizeof *r.v) == 0, "small buffer");
    r.n = need;
    return r;
}

/* strict UTF-8 validity, written independently of the library (Unicode table 3-7) */
static size_t valid_char(const uint8_t *s, size_t n)
{
    uint8_t b = s[0];
    if (b <= 0x7F) return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b == 0xE0)
        len = 3, lo = 0xA0;
    else if (b >= 0xE1 && b <= 0xEC)
        len = 3;
    else if (b == 0xED)
        len = 3, hi = 0x9F;
    else if (b >= 0xEE && b <= 0xEF)
        len = 3;
    else if (b == 0xF0)
        len = 4, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3)
        len = 4;
    else if (b == 0xF4)
        len = 4, hi = 0x8F;
    else
        return 0;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF) return 0;
    return (size_t)len;
}

static int is_valid_utf8(const char *p, size_t n)
{
    const uint8_t *s = (const uint8_t *)p;
    for (size_t i = 0; i < n;) {
        size_t k = valid_char(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* The expected output for arbitrary bytes: one U+FFFD per maximal subpart of an ill-formed
 * sequence (the longest prefix of a well-formed character, or one byte). */
static size_t sanitize(const uint8_t *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = valid_char(s + i, n - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
            continue;
        }
        /* maximal subpart: extend while some well-formed character still starts this way */
        size_t m = 1;
        for (size_t L = 2; L <= 4 && i + L <= n; L++) {
            int ok = 0;
            /* is s[i..i+L) a proper prefix of a well-formed character? try all completions */
            uint8_t tmp[4];
            memcpy(tmp, s + i, L);
            for (int c1 = 0x80; c1 <= 0xBF && !ok; c1++) {
                for (int c2 = 0x80; c2 <= 0xBF && !ok; c2++) {
                    uint8_t t2[4] = {tmp[0], tmp[1], tmp[2], tmp[3]};
                    if (L < 4) t2[L] = (uint8_t)c1;
                    if (L + 1 < 4) t2[L + 1] = (uint8_t)c2;
                    size_t vk = valid_char(t2, 4);
                    if (vk > L) ok = 1;
                }
            }
            if (!ok) break;
            m = L;
        }
        memcpy(out + o, "\xef\xbf\xbd", 3);
        o += 3;
        i += m;
    }
    return o;
}

/* decode one id at a time; every chunk must be valid UTF-8. OUT: malloc'd, *n bytes */
static char *dec(const gptc_tokenizer *t, const ids *x, size_t *n, int *chunks_ok)
{
    size_t cap = x->n * 80 + 16;
    char *out = malloc(cap), chunk[72];
    size_t o = 0;
    gptc_detok d;
    gptc_detok_init(&d);
    *chunks_ok = 1;
    for (size_t i = 0; i < x->n; i++) {
        size_t k = 0;
        gptc_err err = {0};
        if (gptc_detok_push(t, &d, x->v[i], chunk, sizeof chunk, &k, &err) != GPTC_OK) {
            printf("detok: %s\n", err.msg);
            *chunks_ok = 0;
            continue;
        }
        if (!is_valid_utf8(chunk, k)) *chunks_ok = 0;
        memcpy(out + o, chunk, k);
        o += k;
    }
    size_t k = gptc_detok_flush(&d, chunk, sizeof chunk);
    if (!is_valid_utf8(chunk, k)) *chunks_ok = 0;
    memcpy(out + o, chunk, k);
    o += k;
    *n = o;
    return out;
}

/* parse whitespace/comma/bracket separated integers */
static ids parse_ids(const char *s)
{
    ids r = {malloc((strlen(s) + 1) * sizeof(int32_t)), 0};
    while (*s) {
        if (*s >= '0' && *s <= '9') {
            r.v[r.n++] = (int32_t)strtol(s, GPTC_UNCONST(char **, &s), 10);
        } else {
            s++;
        }
    }
    return r;
}

static int ids_eq(const ids *a, const ids *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0);
}

static void print_ids(const char *what, const ids *x)
{
    printf("  %s:", what);
    for (size_t i = 0; i < x->n; i++)
        printf(" %d", x->v[i]);
    printf("\n");
}

/* ----------------------------------------------------------------------------------------------
 * llama.cpp's fixtures: 46 strings, no BOS, dummy prefix; plus the round trip
 */
static void test_spm_fixtures(const gptc_tokenizer *t)
{
    size_t ni, no;
    char *inp = test_read_data("gguf/ggml-vocab-llama-spm.gguf.inp", &ni);
    char *outf = test_read_data("gguf/ggml-vocab-llama-spm.gguf.out", &no);
    CHECK(inp && outf, "spm fixtures readable");
    if (!inp || !outf) goto done;

    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    char *p = inp, *line = outf;
    int n_cases = 0, n_ok = 0, n_rt = 0;
    for (;;) {
        char *e = memmem(p, ni - (size_t)(p - inp), sep, sl);
        if (!e) break;
        size_t len = (size_t)(e - p);
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        ids want = parse_ids(line);
        line = nl + 1;
        ids got = enc(t, p, len, 0, 0);
        n_cases++;
        if (ids_eq(&got, &want)) {
            n_ok++;
        } else {
            printf("spm case %d '%.*s'\n", n_cases, (int)len, p);
            print_ids("want", &want);
            print_ids("got ", &got);
        }
        /* decode(encode(x)) == " " + x */
        size_t dn;
        int chunks_ok;
        char *d = dec(t, &got, &dn, &chunks_ok);
        int rt = len == 0 ? dn == 0 : dn == len + 1 && d[0] == ' ' && memcmp(d + 1, p, len) == 0;
        CHECK(is_valid_utf8(p, len), "spm case %d is valid UTF-8", n_cases);
        CHECK(rt, "spm case %d round trip: '%.*s' -> '%.*s'", n_cases, (int)len, p, (int)dn, d);
        CHECK(chunks_ok, "spm case %d: every streamed chunk is valid UTF-8", n_cases);
        n_rt += rt;
        free(d);
        free(want.v);
        free(got.v);
        p = e + sl;
    }
    CHECK(n_cases == 46, "46 spm cases (found %d)", n_cases);
    CHECK(n_ok == n_cases, "spm cases: %d of %d match llama.cpp", n_ok, n_cases);
    printf("spm fixtures: %d/%d match, %d round trips\n", n_ok, n_cases, n_rt);
done:
    free(inp);
    free(outf);
}

/* PROMPT\t<text> / IDS\t<ids> pairs; \n and \t escaped in the text */
static void test_tsv(const gptc_tokenizer *t, const char *name)
{
    size_t n;
    char *buf = test_read_data(name, &n);
    CHECK(buf != NULL, "%s readable", name);
    if (!buf) return;
    int cases = 0, ok = 0;
    char *prompt = NULL;
    for (char *s = buf; s && *s;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        if (strncmp(s, "PROMPT\t", 7) == 0) {
            prompt = s + 7;
            /* unescape in place */
            char *w = prompt;
            for (char *r = prompt; *r; r++) {
                if (r[0] == '\\' && r[1] == 'n')
                    *w++ = '\n', r++;
                else if (r[0] == '\\' && r[1] == 't')
                    *w++ = '\t', r++;
                else if (r[0] == '\\' && r[1] == '\\')
                    *w++ = '\\', r++;
                else
                    *w++ = *r;
            }
            *w = '\0';
        } else if (strncmp(s, "IDS\t", 4) == 0 && prompt) {
            ids want = parse_ids(s + 4);
            ids got = enc(t, prompt, strlen(prompt), 1, 0);
            cases++;
            if (ids_eq(&got, &want)) {
                ok++;
            } else {
                printf("%s: '%s'\n", name, prompt);
                print_ids("want", &want);
                print_ids("got ", &got);
            }
            free(want.v);
            free(got.v);
            prompt = NULL;
        }
        s = nl ? nl + 1 : NULL;
    }
    CHECK(cases > 0 && ok == cases, "%s: %d of %d match", name, ok, cases);
    printf("%s: %d/%d match\n", name, ok, cases);
    free(buf);
}

/* ----------------------------------------------------------------------------------------------
 * tokenizer.bin import == llama.cpp's converter output
 */
static void compare_arrays(const gguf_file *a, const gguf_file *b, const char *what)
{
    const char *keys[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                          "tokenizer.ggml.token_type"};
    for (int k = 0; k < 3; k++) {
        const gguf_kv *x = gptc_gguf_find_kv(a, keys[k]), *y = gptc_gguf_find_kv(b, keys[k]);
        CHECK(x && y, "%s: %s present in both", what, keys[k]);
        if (!x || !y) continue;
        CHECK(x->type == GGUF_VT_ARR && y->type == GGUF_VT_ARR && x->v.arr.type == y->v.arr.type &&
                  x->v.arr.n == y->v.arr.n,
              "%s: %s same element type and count", what, keys[k]);
        if (x->v.arr.type != y->v.arr.type || x->v.arr.n != y->v.arr.n) continue;
        uint64_t bad = 0, first = 0;
        for (uint64_t i = 0; i < x->v.arr.n; i++) {
            int eq;
            if (x->v.arr.type == GGUF_VT_STR) {
                gptc_str s = gptc_gguf_arr_str(x, i), r = gptc_gguf_arr_str(y, i);
                eq = s.n == r.n && memcmp(s.p, r.p, s.n) == 0;
            } else if (x->v.arr.type == GGUF_VT_F32) {
                float f = (float)gptc_gguf_arr_float(x, i), g = (float)gptc_gguf_arr_float(y, i);
                eq = memcmp(&f, &g, 4) == 0; /* bitwise: -0.0 stays -0.0 */
            } else {
                eq = gptc_gguf_arr_int(x, i) == gptc_gguf_arr_int(y, i);
            }
            if (!eq && !bad++) first = i;
        }
        CHECK(bad == 0, "%s: %s: %llu entries differ, first at %llu", what, keys[k],
              (unsigned long long)bad, (unsigned long long)first);
    }
    const char *id_keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                             "tokenizer.ggml.unknown_token_id"};
    for (int k = 0; k < 3; k++) {
        int64_t u = -2, v = -3;
        gptc_err err;
        gptc_gguf_get_int(a, id_keys[k], &u, &err);
        gptc_gguf_get_int(b, id_keys[k], &v, &err);
        CHECK(u == v, "%s: %s %lld vs %lld", what, id_keys[k], (long long)u, (long long)v);
    }
    gptc_str m1 = {0}, m2 = {0};
    gptc_err err;
    gptc_gguf_get_str(a, "tokenizer.ggml.model", &m1, &err);
    gptc_gguf_get_str(b, "tokenizer.ggml.model", &m2, &err);
    CHECK(gptc_str_eq(m1, "llama") && gptc_str_eq(m2, "llama"), "%s: model llama", what);
}

static void test_l2c_equivalence(void)
{
    char path[512];
    gptc_err err = {0};
    gguf_file *mine = l2c_gguf("llama2c/tok512.bin", 512), *ref = NULL;
    snprintf(path, sizeof path, "%s/gguf/stories260K.gguf", test_data_dir());
    CHECK(mine && gptc_gguf_open(path, &ref, &err) == GPTC_OK,
          "tok512 import and stories260K.gguf");
    if (mine && ref) compare_arrays(mine, ref, "tok512.bin vs stories260K.gguf");
    gptc_gguf_close(mine);
    gptc_gguf_close(ref);

    /* the 32000 vocabulary: llama2.c's export of Llama 2 vs llama.cpp's fixture GGUF */
    mine = l2c_gguf("llama2c/tokenizer.bin", 32000);
    ref = NULL;
    snprintf(path, sizeof path, "%s/gguf/ggml-vocab-llama-spm.gguf", test_data_dir());
    CHECK(mine && gptc_gguf_open(path, &ref, &err) == GPTC_OK, "tokenizer.bin import and spm gguf");
    if (mine && ref) compare_arrays(mine, ref, "tokenizer.bin vs ggml-vocab-llama-spm.gguf");
    gptc_gguf_close(mine);
    gptc_gguf_close(ref);
}

/* ----------------------------------------------------------------------------------------------
 * bad tokenizer.bin inputs
 */
static size_t record_offset(const uint8_t *b, int id)
{
    size_t off = 4;
    for (int i = 0; i < id; i++) {
        int32_t len;
        memcpy(&len, b + off + 4, 4);
        off += 8 + (size_t)len;
    }
    return off;
}

static void test_bad_l2c(void)
{
    size_t n;
    uint8_t *good = (uint8_t *)test_read_data("llama2c/tok512.bin", &n);
    CHECK(good != NULL, "tok512.bin readable");
    if (!good) return;
    uint8_t *b = malloc(n);
    size_t off37 = record_offset(good, 37);
    struct {
        const char *what;
        size_t len; /* bytes of the file given */
        int n_vocab;
        size_t patch_at; /* 0: none */
        int32_t patch;
        const char *msg; /* substring of the message */
    } cases[] = {
        {"empty file", 0, 512, 0, 0, "too short"},
        {"2 bytes", 2, 512, 0, 0, "too short"},
        {"header only", 4, 512, 0, 0, "cannot hold"},
        {"cut in record 0", 12, 1, 0, 0, "token 0 runs past"},
        {"cut inside token 37's text", off37 + 9, 38, 0, 0, "token 37 runs past"},
        {"cut before token 37's length", off37 + 6, 38, 0, 0, "token 37 runs past"},
        {"cut one byte short", n - 1, 512, 0, 0, "token 511 runs past"},
        {"negative length", n, 512, off37 + 4, -5, "token 37 has a negative length"},
        {"INT32_MIN length", n, 512, off37 + 4, INT32_MIN, "token 37 has a negative length"},
        {"huge length", n, 512, off37 + 4, 0x7fffffff, "token 37 runs past"},
        {"length one past the end", n, 512, off37 + 4, (int32_t)(n - off37 - 8 + 1), "token 37"},
        {"n_vocab 513", n, 513, 0, 0, "token 512 runs past"},
        {"n_vocab 100000", n, 100000, 0, 0, "cannot hold"},
        {"n_vocab 0", n, 0, 0, 0, "not positive"},
        {"n_vocab -1", n, -1, 0, 0, "not positive"},
        {"negative max_token_length", n, 512, 0 + 1, 0, "max_token_length"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(b, good, n);
        if (cases[c].patch_at == 1) {
            int32_t neg = -7;
            memcpy(b, &neg, 4);
        } else if (cases[c].patch_at) {
            memcpy(b + cases[c].patch_at, &cases[c].patch, 4);
        }
        gguf_file *f = NULL;
        gptc_err err = {0};
        gptc_gguf_new(&f, &err);
        /* copy into an exact-size buffer so ASan sees any overread */
        uint8_t *exact = malloc(cases[c].len ? cases[c].len : 1);
        memcpy(exact, b, cases[c].len);
        gptc_status st =
            gptc_llama2c_tokenizer_parse(f, exact, cases[c].len, cases[c].n_vocab, &err);
        CHECK(st == GPTC_E_FORMAT && strstr(err.msg, cases[c].msg),
              "bad tokenizer.bin '%s': status %d, message '%s'", cases[c].what, (int)st, err.msg);
        free(exact);
        gptc_gguf_close(f);
    }
    /* a tokenizer of a larger vocabulary than the model's is refused (the 32000-token
     * tokenizer.bin beside a 512-token checkpoint must not load silently) */
    gguf_file *f = NULL;
    gptc_err err = {0};
    gptc_gguf_new(&f, &err);
    CHECK(gptc_llama2c_tokenizer_parse(f, good, n, 300, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "larger vocabulary"),
          "n_vocab 300 of a bigger file: %s", err.msg);
    gptc_gguf_close(f);
    free(b);
    free(good);
}

/* ----------------------------------------------------------------------------------------------
 * loader validation, through the gguf builder
 */
static gguf_file *mini_vocab(const char *model, int n_tokens, int n_scores)
{
    gguf_file *f = NULL;
    gptc_err err = {0};
    gptc_gguf_new(&f, &err);
    static const gptc_str toks[] = {{"<unk>", 5}, {"<s>", 3}, {"</s>", 4}, {"\xe2\x96\x81", 3},
                                    {"a", 1},     {"b", 1},   {"ab", 2}};
    static const float sc[] = {0, 0, 0, -1, -2, -3, -0.5f};
    static const int32_t ty[] = {2, 3, 3, 1, 1, 1, 1};
    if (model) gptc_gguf_set_str(f, "tokenizer.ggml.model", model, strlen(model), &err);
    if (n_tokens >= 0)
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", toks, (uint64_t)n_tokens, &err);
    if (n_scores >= 0)
        gptc_gguf_set_arr(f, "tokenizer.ggml.scores", GGUF_VT_F32, sc, (uint64_t)n_scores, &err);
    if (n_tokens > 0)
        gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, ty, (uint64_t)n_tokens,
                          &err);
    return f;
}

static void test_loader(void)
{
    gptc_err err = {0};
    gptc_tokenizer *t = NULL;
    gguf_file *f;

    f = mini_vocab("llama", 7, 7);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK, "mini vocab: %s", err.msg);
    if (t) {
        ids x = enc(t, "ab ab", 5, 1, 0);
        ids want = {(int32_t[]){1, 3, 6, 3, 6}, 5};
        CHECK(ids_eq(&x, &want), "mini vocab encodes 'ab ab'");
        /* no byte tokens: unknown bytes fall back to <unk> */
        ids y = enc(t, "c", 1, 0, 0);
        ids wy = {(int32_t[]){3, 0}, 2};
        CHECK(ids_eq(&y, &wy), "mini vocab: 'c' -> <unk>");
        free(x.v);
        free(y.v);
        CHECK(gptc_tok_bos(t) == 1 && gptc_tok_eos(t) == 2 && gptc_tok_add_bos(t) == 1,
              "SPM defaults bos 1 eos 2 add_bos 1");
    }
    gptc_tokenizer_free(t);
    t = NULL;

    /* 0xFFFFFFFF means none; an id past the end is an error */
    gptc_gguf_set_uint(f, "tokenizer.ggml.bos_token_id", GGUF_VT_U32, 0xFFFFFFFFu, &err);
    gptc_gguf_set_bool(f, "tokenizer.ggml.add_bos_token", 0, &err);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK && gptc_tok_bos(t) == -1 &&
              gptc_tok_add_bos(t) == 0,
          "bos 0xFFFFFFFF is none");
    gptc_tokenizer_free(t);
    t = NULL;
    gptc_gguf_set_uint(f, "tokenizer.ggml.eos_token_id", GGUF_VT_U32, 7, &err);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT && !t &&
              strstr(err.msg, "eos_token_id"),
          "eos out of range: %s", err.msg);
    gptc_gguf_set_uint(f, "tokenizer.ggml.eos_token_id", GGUF_VT_U32, 2, &err);
    gptc_gguf_set_uint(f, "tokenizer.ggml.eot_token_id", GGUF_VT_U32, 5, &err);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK && gptc_tok_is_eog(t, 5) &&
              gptc_tok_is_eog(t, 2) && !gptc_tok_is_eog(t, 1) && !gptc_tok_is_eog(t, -1),
          "eot is end of generation");
    gptc_tokenizer_free(t);
    t = NULL;
    gptc_gguf_close(f);

    /* byte-level BPE lives in test_bpe.c; a gpt2 vocabulary without merges is malformed */
    f = mini_vocab("gpt2", 7, 7);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT && strstr(err.msg, "merges"),
          "gpt2 without merges: %s", err.msg);
    gptc_gguf_close(f);
    f = mini_vocab("bert", 7, 7); /* WordPiece (test_wpm.c); ids 101/102 outside: no CLS/SEP */
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK, "bert vocabulary loads: %s", err.msg);
    gptc_tokenizer_free(t);
    t = NULL;
    gptc_gguf_close(f);
    f = mini_vocab("t5", 7, 7);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_UNSUPPORTED &&
              strstr(err.msg, "tokenizer model 't5' is not supported yet"),
          "t5 unsupported: %s", err.msg);
    gptc_gguf_close(f);
    f = mini_vocab(NULL, 7, -1); /* no model key, no scores: llama */
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK, "no model key: %s", err.msg);
    gptc_tokenizer_free(t);
    t = NULL;
    gptc_gguf_close(f);
    f = mini_vocab("llama", -1, -1);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT, "no tokens: %s", err.msg);
    gptc_gguf_close(f);
    f = mini_vocab("llama", 0, -1);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT, "empty tokens: %s", err.msg);
    gptc_gguf_close(f);
    f = mini_vocab("llama", 7, 6);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT && strstr(err.msg, "scores"),
          "scores count: %s", err.msg);
    gptc_gguf_close(f);
    f = mini_vocab("llama", 7, 7);
    gptc_gguf_set_int(f, "tokenizer.ggml.token_type", GGUF_VT_I32, 1, &err); /* not an array */
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT, "token_type scalar: %s", err.msg);
    gptc_gguf_close(f);

    t = tok_from_gguf("gguf/ggml-vocab-gpt-2.gguf");
    CHECK(t != NULL && gptc_tok_n_vocab(t) == 50257, "the gpt-2 vocabulary loads (byte-level BPE)");
    gptc_tokenizer_free(t);
    t = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/vocab/ggml-vocab-bert-bge.gguf", test_data_dir());
    if (gptc_gguf_open(path, &f, &err) == GPTC_OK) {
        CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK && gptc_tok_n_vocab(t) == 30522,
              "bert gguf loads: %s", err.msg);
        gptc_tokenizer_free(t);
        t = NULL;
        gptc_gguf_close(f);
    }
}

/* ----------------------------------------------------------------------------------------------
 * own cases
 */
static void test_own(const gptc_tokenizer *t512, const gptc_tokenizer *spm)
{
    gptc_err err = {0};
    ids x, w;

    CHECK(gptc_tok_n_vocab(t512) == 512 && gptc_tok_n_vocab(spm) == 32000, "n_vocab");
    size_t pl = 0;
    const char *p = gptc_tok_piece(t512, 403, &pl);
    CHECK(p && pl == 7 && memcmp(p, "\xe2\x96\x81Once", 7) == 0, "piece 403 is '▁Once'");
    CHECK(gptc_tok_piece(t512, 512, &pl) == NULL && gptc_tok_piece(t512, -1, &pl) == NULL,
          "piece out of range");

    /* empty text */
    x = enc(spm, "", 0, 1, 0);
    CHECK(x.n == 1 && x.v[0] == 1, "empty + BOS = [BOS]");
    free(x.v);
    x = enc(spm, "", 0, 0, 0);
    CHECK(x.n == 0, "empty = []");
    free(x.v);
    x = enc(spm, NULL, 0, 1, 0);
    CHECK(x.n == 1, "NULL text of length 0");
    free(x.v);

    /* only spaces, newlines, tabs: round trip */
    const char *ws[] = {" ", "   ", "\n", "\t\t", " \n \t ", "a\n\tb  c"};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        const gptc_tokenizer *tt[] = {t512, spm};
        for (int k = 0; k < 2; k++) {
            x = enc(tt[k], ws[i], strlen(ws[i]), 0, 0);
            size_t dn;
            int ok;
            char *d = dec(tt[k], &x, &dn, &ok);
            CHECK(x.n > 0 && dn == strlen(ws[i]) + 1 && d[0] == ' ' &&
                      memcmp(d + 1, ws[i], dn - 1) == 0 && ok,
                  "whitespace case %zu round trip (vocab %d)", i, gptc_tok_n_vocab(tt[k]));
            free(d);
            free(x.v);
        }
    }

    /* byte fallback with tok512: byte b is id b + 3 */
    const char *cjk = "中文😊";
    x = enc(t512, cjk, strlen(cjk), 1, 0);
    CHECK(x.n == 2 + strlen(cjk) && x.v[0] == 1 && x.v[1] == 410, "CJK/emoji count");
    int bytes_ok = x.n == 2 + strlen(cjk);
    for (size_t i = 0; bytes_ok && i < strlen(cjk); i++)
        bytes_ok = x.v[2 + i] == (uint8_t)cjk[i] + 3;
    CHECK(bytes_ok, "CJK/emoji fall back to <0xNN> = byte + 3");
    {
        /* streaming: nothing until a character is complete, then all of it */
        gptc_detok d;
        gptc_detok_init(&d);
        char buf[72];
        size_t k, total = 0;
        int shapes_ok = 1;
        size_t expect[] = {0, 1, 0, 0, 3, 0, 0, 3, 0, 0, 0, 4};
        for (size_t i = 0; i < x.n && i < 12; i++) {
            gptc_detok_push(t512, &d, x.v[i], buf, sizeof buf, &k, &err);
            if (k != expect[i]) shapes_ok = 0;
            total += k;
        }
        CHECK(shapes_ok && total == 1 + strlen(cjk), "multi-byte characters are emitted whole");
    }
    free(x.v);
    x = enc(spm, cjk, strlen(cjk), 0, 0);
    w = (ids){(int32_t[]){29871, 30275, 30333, 243, 162, 155, 141}, 7};
    CHECK(ids_eq(&x, &w), "CJK in the 32000 vocab, emoji by bytes");
    if (!ids_eq(&x, &w)) print_ids("got", &x);
    free(x.v);

    /* "<s>" with and without parse_special */
    x = enc(spm, "<s>", 3, 0, 1);
    CHECK(x.n == 1 && x.v[0] == 1, "'<s>' parse_special -> [1]");
    free(x.v);
    x = enc(spm, "<s>", 3, 0, 0);
    int has1 = 0;
    for (size_t i = 0; i < x.n; i++)
        has1 |= x.v[i] == 1;
    CHECK(x.n > 1 && !has1, "'<s>' as text is not BOS");
    free(x.v);
    {
        /* text after a special token gets a space prefix again, as in llama.cpp */
        ids a = enc(spm, "Hello", 5, 0, 0), b = enc(spm, "world", 5, 0, 0);
        ids y = enc(spm, "Hello</s>world", 14, 1, 1);
        int ok = y.n == 1 + a.n + 1 + b.n && y.v[0] == 1 && y.v[1 + a.n] == 2 &&
                 memcmp(y.v + 1, a.v, a.n * 4) == 0 && memcmp(y.v + 2 + a.n, b.v, b.n * 4) == 0;
        CHECK(ok, "'Hello</s>world' with parse_special");
        if (!ok) print_ids("got", &y);
        size_t dn;
        int cok;
        char *d = dec(spm, &y, &dn, &cok);
        CHECK(dn == 12 && memcmp(d, " Hello world", 12) == 0, "control tokens print nothing");
        free(d);
        free(a.v);
        free(b.v);
        free(y.v);
    }

    /* 100 KB: no quadratic blowup */
    {
        size_t n = 100 * 1024;
        char *big = malloc(n);
        const char *words[] = {"Once ", "upon ",  "a ", "time, ",   "there ",
                               "was ",  "Lily. ", "\n", "aaaaaaaa", "😊 "};
        size_t o = 0;
        uint32_t r = 12345;
        while (o < n) {
            r = r * 1103515245u + 12345u;
            const char *wd = words[(r >> 16) % 10];
            size_t l = strlen(wd);
            if (o + l > n) l = n - o;
            memcpy(big + o, wd, l);
            o += l;
        }
        /* keep it valid UTF-8 at the cut */
        while (o > 0 && !is_valid_utf8(big, o))
            o--;
        clock_t c0 = clock();
        x = enc(spm, big, o, 1, 1);
        double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
        CHECK(x.n > 10000 && secs < 5.0, "100 KB in %.3f s, %zu tokens", secs, x.n);
        size_t dn;
        int ok;
        char *d = dec(spm, &x, &dn, &ok);
        CHECK(dn == o + 1 && memcmp(d + 1, big, o) == 0 && ok, "100 KB round trip");
        free(d);
        free(x.v);
        memset(big, 'a', n);
        c0 = clock();
        x = enc(t512, big, n, 0, 0);
        secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
        CHECK(x.n > 0 && secs < 5.0, "100 KB of 'a' in %.3f s", secs);
        free(x.v);
        free(big);
    }

    /* invalid UTF-8 bytes: byte fallback, U+FFFD on the way back */
    {
        const char bad[] = "a\xff"
                           "b\xe2\x82"
                           "c\x80\xc0\xaf\xed\xa0\x80";
        size_t bn = sizeof bad - 1;
        x = enc(t512, bad, bn, 0, 0);
        size_t dn;
        int ok;
        char *d = dec(t512, &x, &dn, &ok);
        char want[128];
        want[0] = ' ';
        size_t wn = 1 + sanitize((const uint8_t *)bad, bn, want + 1);
        CHECK(dn == wn && memcmp(d, want, wn) == 0 && ok, "invalid bytes -> U+FFFD: '%.*s'",
              (int)dn, d);
        /* a\xff: 2 chars; E2 82 is one subpart; C0, AF, ED, A0, 80 are one each */
        const char *w2 = " a\xef\xbf\xbd"
                         "b\xef\xbf\xbd"
                         "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";
        CHECK(dn == strlen(w2) && memcmp(d, w2, dn) == 0, "the U+FFFD rule by hand");
        free(d);
        free(x.v);
    }

    /* random bytes round trip through byte fallback */
    {
        test_rng_seed(0x9E3779B97F4A7C15ull);
        int all_ok = 1;
        for (int it = 0; it < 300; it++) {
            uint8_t raw[64];
            size_t len = 1 + test_rnd_u32() % 63;
            for (size_t i = 0; i < len; i++) {
                raw[i] = (uint8_t)(it % 3 == 0 ? (test_rnd_u32() >> 24)
                                               : (0x80 + ((test_rnd_u32() >> 24) & 0x7F)));
                if (raw[i] == 0xE2) raw[i] = 'x'; /* no accidental U+2581 */
            }
            const gptc_tokenizer *tt = it & 1 ? spm : t512;
            x = enc(tt, (const char *)raw, len, 0, 0);
            size_t dn;
            int ok;
            char *d = dec(tt, &x, &dn, &ok);
            char want[256];
            want[0] = ' ';
            size_t wn = 1 + sanitize(raw, len, want + 1);
            if (!(dn == wn && memcmp(d, want, wn) == 0 && ok)) {
                if (all_ok) printf("random case %d differs\n", it);
                all_ok = 0;
            }
            free(d);
            free(x.v);
        }
        CHECK(all_ok, "300 random byte strings round trip to their U+FFFD form");
    }

    /* whole-buffer decode: pieces with U+2581 as ' ', <0xNN> as the byte, no UTF-8 repair */
    {
        const char *txt = "Hello world \xe4\xb8\xad\xf0\x9f\x98\x80";
        ids e = enc(t512, txt, strlen(txt), 1, 0);
        char buf[128];
        size_t k = 0;
        CHECK(gptc_tok_decode(t512, e.v, e.n, 0, buf, sizeof buf, &k, &err) == GPTC_OK &&
                  k == strlen(txt) + 1 && buf[0] == ' ' && memcmp(buf + 1, txt, k - 1) == 0,
              "gptc_tok_decode: ' ' + text (BOS prints nothing)");
        CHECK(gptc_tok_decode(t512, e.v, e.n, 1, buf, sizeof buf, &k, &err) == GPTC_OK &&
                  k == strlen(txt) + 4 && memcmp(buf, "<s> ", 4) == 0,
              "gptc_tok_decode with special: '<s>' first");
        int32_t bad = 512;
        CHECK(gptc_tok_decode(t512, &bad, 1, 0, buf, sizeof buf, &k, &err) == GPTC_E_RANGE,
              "gptc_tok_decode: id 512 -> GPTC_E_RANGE");
        free(e.v);
    }

    /* detokenizer contract */
    {
        gptc_detok d;
        gptc_detok_init(&d);
        char buf[72];
        size_t k = 99;
        CHECK(gptc_detok_push(spm, &d, 32000, buf, sizeof buf, &k, &err) == GPTC_E_RANGE && k == 0,
              "id 32000 -> GPTC_E_RANGE");
        CHECK(gptc_detok_push(spm, &d, -1, buf, sizeof buf, &k, &err) == GPTC_E_RANGE,
              "id -1 -> GPTC_E_RANGE");
        CHECK(gptc_detok_push(spm, &d, 1, buf, sizeof buf, &k, &err) == GPTC_OK && k == 0,
              "BOS prints nothing");
        CHECK(gptc_detok_push(spm, &d, 0, buf, sizeof buf, &k, &err) == GPTC_OK && k == 0,
              "<unk> prints nothing");
        /* <0xF0> held back, flushed as U+FFFD */
        CHECK(gptc_detok_push(spm, &d, 0xF0 + 3, buf, sizeof buf, &k, &err) == GPTC_OK && k == 0,
              "lead byte held back");
        CHECK(gptc_detok_flush(&d, buf, sizeof buf) == 3 && memcmp(buf, "\xef\xbf\xbd", 3) == 0,
              "flush -> U+FFFD");
        CHECK(gptc_detok_flush(&d, buf, sizeof buf) == 0, "second flush empty");
        /* a lead byte interrupted by an ASCII piece */
        gptc_detok_push(spm, &d, 0xE4 + 3, buf, sizeof buf, &k, &err);
        gptc_detok_push(spm, &d, 403 /* any normal piece */, buf, sizeof buf, &k, &err);
        size_t pl2;
        const char *pc = gptc_tok_piece(spm, 403, &pl2);
        CHECK(k >= 3 && memcmp(buf, "\xef\xbf\xbd", 3) == 0 && pc, "interrupted lead -> U+FFFD");
        /* strip_space */
        gptc_detok_init(&d);
        d.strip_space = 1;
        gptc_detok_push(t512, &d, 1, buf, sizeof buf, &k, &err);
        gptc_detok_push(t512, &d, 403, buf, sizeof buf, &k, &err);
        CHECK(k == 4 && memcmp(buf, "Once", 4) == 0, "strip_space drops the prefix");
        gptc_detok_push(t512, &d, 403, buf, sizeof buf, &k, &err);
        CHECK(k == 5 && memcmp(buf, " Once", 5) == 0, "only once");
        /* too small a buffer: an error, and nothing is consumed */
        gptc_detok_init(&d);
        CHECK(gptc_detok_push(t512, &d, 403, buf, 2, &k, &err) == GPTC_E_INVALID && k == 0,
              "small buffer refused");
        CHECK(gptc_detok_push(t512, &d, 403, buf, sizeof buf, &k, &err) == GPTC_OK && k == 5,
              "then works");
    }
}

int main(void)
{
    gptc_tokenizer *spm = tok_from_gguf("gguf/ggml-vocab-llama-spm.gguf");
    gptc_tokenizer *st260 = tok_from_gguf("gguf/stories260K.gguf");
    gptc_tokenizer *t512 = tok_from_l2c("llama2c/tok512.bin", 512);
    gptc_tokenizer *t32k = tok_from_l2c("llama2c/tokenizer.bin", 32000);
    CHECK(spm && st260 && t512 && t32k, "all four vocabularies load");
    if (spm && st260 && t512 && t32k) {
        test_spm_fixtures(spm);
        test_tsv(t512, "llama2c/reference/encode_tok512.tsv");
        test_tsv(st260, "llama2c/reference/encode_tok512.tsv");
        test_tsv(t32k, "llama2c/reference/encode_tokenizer32000.tsv");
        test_tsv(spm, "llama2c/reference/encode_tokenizer32000.tsv");
        test_tsv(st260, "gguf/reference/llamacpp_tokenize_stories260K.tsv");
        test_tsv(t512, "gguf/reference/llamacpp_tokenize_stories260K.tsv");
        test_own(t512, spm);
    }
    test_l2c_equivalence();
    test_bad_l2c();
    test_loader();
    gptc_tokenizer_free(spm);
    gptc_tokenizer_free(st260);
    gptc_tokenizer_free(t512);
    gptc_tokenizer_free(t32k);
    return test_summary();
}
