/*
 * test_bpe.c — byte-level BPE (bpe.c, pretok.c, tiktoken.c) against the reference tokenizers'
 * own outputs:
 *   tokenizers/tiktoken/tiktoken_vectors.jsonl   tiktoken (WASM core): 175 vectors, 5 encodings
 *   tokenizers/tiktoken/TestPlans.txt            313 cases (r50k, p50k, p50k_edit, cl100k, o200k)
 *   gguf/ggml-vocab-gpt-2.gguf.inp/.out          llama.cpp's 46 cases, pre "gpt-2"
 *   gguf/vocab/ggml-vocab-{deepseek-coder,starcoder}.gguf.inp/.out   46 each
 *   tokenizers/llama3 (.tiktoken ranks) and tokenizers/qwen2 (vocab.json + merges.txt, built
 *   into an in-memory GGUF here), with llama.cpp's 46 cases each
 *   tests/fixtures/bpe/extra.jsonl               tiktoken's ids for our own cases (scripts,
 *                                                emoji, digit and whitespace runs, CRLF), made
 *                                                by tests/fixtures/bpe/make_extra.cjs
 * plus round trips of random bytes, the linear-cost check, bad inputs. Run from the repository
 * root; GPTC_DATA overrides ../shared/data.
 */
#include <stdint.h>
#include <string.h>

#include "format/gguf.h"
#include "gptc.h"
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

static char *read_data(const char *name, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_data_dir(), name);
    char *b = test_read_file(path, n);
    if (!b) printf("cannot read %s\n", path);
    return b;
}

typedef struct ids {
    int32_t *v;
    size_t n;
} ids;

static int ids_eq(const ids *a, const ids *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0);
}

static void print_ids(const char *what, const ids *x)
{
    printf("  %s:", what);
    for (size_t i = 0; i < x->n && i < 64; i++)
        printf(" %d", x->v[i]);
    printf("%s\n", x->n > 64 ? " ..." : "");
}

static ids parse_ids(const char *s, const char *end)
{
    ids r = {malloc(((size_t)(end - s) + 1) * sizeof(int32_t)), 0};
    while (s < end) {
        if (*s >= '0' && *s <= '9')
            r.v[r.n++] = (int32_t)strtol(s, GPTC_UNCONST(char **, &s), 10);
        else
            s++;
    }
    return r;
}

/* encode with a deliberately small first buffer, to exercise the retry contract */
static ids enc(const gptc_tokenizer *t, const char *s, size_t len, int special)
{
    ids r = {NULL, 0};
    gptc_err err = {0};
    int32_t small[3];
    size_t need = 0;
    if (gptc_tok_encode(t, s, len, 0, special, small, 3, &need, &err) != GPTC_OK) {
        printf("encode: %s\n", err.msg);
        return r;
    }
    r.v = malloc((need + 1) * sizeof *r.v);
    size_t n2 = 0;
    gptc_status st = gptc_tok_encode(t, s, len, 0, special, r.v, need, &n2, &err);
    if (st != GPTC_OK || n2 != need) CHECK(0, "encode twice: %zu then %zu (%s)", need, n2, err.msg);
    if (need <= 3 && need && memcmp(small, r.v, need * sizeof *r.v) != 0) CHECK(0, "small buffer");
    r.n = need;
    return r;
}

/* whole-buffer decode; OUT: malloc'd */
static char *dec(const gptc_tokenizer *t, const ids *x, int special, size_t *n)
{
    gptc_err err = {0};
    size_t need = 0;
    if (gptc_tok_decode(t, x->v, x->n, special, NULL, 0, &need, &err) != GPTC_OK) {
        printf("decode: %s\n", err.msg);
        *n = 0;
        return calloc(1, 1);
    }
    char *out = malloc(need + 1);
    gptc_tok_decode(t, x->v, x->n, special, out, need, n, &err);
    return out;
}

/* strict UTF-8 validity, written independently of the library */
static int is_valid_utf8(const char *p, size_t n)
{
    const uint8_t *s = (const uint8_t *)p;
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t len = b < 0x80                 ? 1
                     : b >= 0xC2 && b <= 0xDF ? 2
                     : b >= 0xE0 && b <= 0xEF ? 3
                     : b >= 0xF0 && b <= 0xF4 ? 4
                                              : 0;
        if (!len || i + len > n) return 0;
        uint8_t lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
        if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi)) return 0;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

/* stream one id at a time; 1 if every chunk was valid UTF-8. OUT: malloc'd text */
static char *stream(const gptc_tokenizer *t, const ids *x, int special, size_t *n, int *ok)
{
    char *out = malloc(x->n * 300 + 16), chunk[300];
    size_t o = 0;
    gptc_detok d;
    gptc_detok_init(&d);
    d.special = special;
    *ok = 1;
    for (size_t i = 0; i < x->n; i++) {
        size_t k = 0;
        gptc_err err = {0};
        if (gptc_detok_push(t, &d, x->v[i], chunk, sizeof chunk, &k, &err) != GPTC_OK) {
            printf("detok: %s\n", err.msg);
            *ok = 0;
            continue;
        }
        if (!is_valid_utf8(chunk, k)) *ok = 0;
        memcpy(out + o, chunk, k);
        o += k;
    }
    size_t k = gptc_detok_flush(&d, chunk, sizeof chunk);
    if (!is_valid_utf8(chunk, k)) *ok = 0;
    memcpy(out + o, chunk, k);
    *n = o + k;
    return out;
}

/* ----------------------------------------------------------------------------------------------
 * minimal JSON: a string value and an id array from one line of a .jsonl file
 */
static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : 0);
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 63)),
               o[2] = (char)(0x80 | (cp & 63)), 3;
    return o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 63)),
           o[2] = (char)(0x80 | (cp >> 6 & 63)), o[3] = (char)(0x80 | (cp & 63)), 4;
}

/* decode the JSON string starting at p (at its opening quote) into out; *end after it */
static size_t json_str(const char *p, char *out, const char **end)
{
    size_t o = 0;
    p++;
    while (*p && *p != '"') {
        if (*p != '\\') {
            out[o++] = *p++;
            continue;
        }
        p++;
        char c = *p++;
        switch (c) {
        case 'n':
            out[o++] = '\n';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo = (uint32_t)hex4(p + 2);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += put_utf8(out + o, cp);
            break;
        }
        default:
            out[o++] = c;
            break;
        }
    }
    if (end) *end = *p ? p + 1 : p;
    return o;
}

/* the value after "key": in line (NULL if absent) */
static const char *json_field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? p + strlen(pat) : NULL;
}

/* ----------------------------------------------------------------------------------------------
 * tokenizers under test
 */
enum { TT_R50K, TT_GPT2, TT_P50K, TT_P50K_EDIT, TT_CL100K, TT_O200K, TT_LLAMA3, TT_N };
static const char *k_tt_names[TT_N] = {"r50k_base",   "gpt2",       "p50k_base", "p50k_edit",
                                       "cl100k_base", "o200k_base", "llama3"};
static gptc_tokenizer *g_tt[TT_N];
static gptc_tokenizer *g_gpt2_gguf, *g_qwen2, *g_deepseek, *g_starcoder;

static gptc_tokenizer *tt_by_name(const char *name, size_t n)
{
    for (int i = 0; i < TT_N; i++)
        if (strlen(k_tt_names[i]) == n && memcmp(k_tt_names[i], name, n) == 0) return g_tt[i];
    if (n == 5 && memcmp(name, "qwen2", 5) == 0) return g_qwen2;
    return NULL;
}

static gptc_tokenizer *gguf_tok(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_data_dir(), name);
    gptc_tokenizer *t = NULL;
    gptc_err err = {0};
    if (gptc_tok_load_gguf(path, &t, &err) != GPTC_OK) printf("%s: %s\n", name, err.msg);
    return t;
}

/* Qwen2 as llama.cpp's converter writes it: tokens from vocab.json (GPT-2 alphabet), merges
 * from merges.txt, three control tokens, pre "qwen2". OUT: owned gguf. */
static gguf_file *qwen2_gguf(void)
{
    size_t nv, nm;
    char *vj = read_data("tokenizers/qwen2/vocab.json", &nv);
    char *mt = read_data("tokenizers/qwen2/merges.txt", &nm);
    if (!vj || !mt) {
        free(vj);
        free(mt);
        return NULL;
    }
    enum { N_REG = 151643, N_TOK = 151646 };
    gptc_str *tok = calloc(N_TOK, sizeof *tok);
    int32_t *ty = malloc(N_TOK * sizeof *ty);
    char *strs = malloc(nv + 64);
    char *w = strs;
    const char *p = strchr(vj, '{') + 1;
    int count = 0;
    while ((p = strchr(p, '"'))) {
        const char *e;
        size_t k = json_str(p, w, &e);
        long id = strtol(e + 1, GPTC_UNCONST(char **, &p), 10);
        if (id >= 0 && id < N_REG) {
            tok[id] = (gptc_str){w, k};
            ty[id] = 1;
            count++;
        }
        w += k;
    }
    static const char *ctl[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (int i = 0; i < 3; i++) {
        tok[N_REG + i] = (gptc_str){ctl[i], strlen(ctl[i])};
        ty[N_REG + i] = 3;
    }
    /* merges: one per line after the header */
    size_t n_merges = 0;
    gptc_str *mg = malloc((nm / 3 + 1) * sizeof *mg);
    for (char *s = strchr(mt, '\n') + 1; s && *s;) {
        char *nl = strchr(s, '\n');
        size_t l = nl ? (size_t)(nl - s) : strlen(s);
        if (l) mg[n_merges++] = (gptc_str){s, l};
        s = nl ? nl + 1 : NULL;
    }
    gguf_file *f = NULL;
    gptc_err err = {0};
    int32_t eos = N_REG;
    if (count != N_REG || gptc_gguf_new(&f, &err) ||
        gptc_gguf_set_str(f, "tokenizer.ggml.model", "gpt2", 4, &err) ||
        gptc_gguf_set_str(f, "tokenizer.ggml.pre", "qwen2", 5, &err) ||
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", tok, N_TOK, &err) ||
        gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, ty, N_TOK, &err) ||
        gptc_gguf_set_arr_str(f, "tokenizer.ggml.merges", mg, n_merges, &err) ||
        gptc_gguf_set_arr(f, "tokenizer.ggml.eos_token_id", GGUF_VT_I32, &eos, 1, &err)) {
        printf("qwen2 gguf: %d tokens, %s\n", count, err.msg);
    }
    /* eos as a scalar, like the converters write it */
    gptc_gguf_set_uint(f, "tokenizer.ggml.eos_token_id", GGUF_VT_U32, (uint64_t)eos, &err);
    free(tok);
    free(ty);
    free(strs);
    free(mg);
    free(vj);
    free(mt);
    return f;
}

/* ----------------------------------------------------------------------------------------------
 * reference vectors
 */
static void check_case(const char *what, int idx, const gptc_tokenizer *t, const char *text,
                       size_t len, int special, const ids *want, int *n_ok)
{
    ids got = enc(t, text, len, special);
    int ok = ids_eq(&got, want);
    size_t dn;
    char *d = dec(t, &got, special, &dn);
    int rt = dn == len && memcmp(d, text, len) == 0;
    int sok;
    size_t sn;
    char *s = stream(t, &got, special, &sn, &sok);
    int sv = sok && sn == len && memcmp(s, text, len) == 0;
    if (!ok || !rt || !sv) {
        printf("%s case %d '%.*s': match %d, round trip %d, stream %d\n", what, idx,
               (int)GPTC_MIN(len, 80), text, ok, rt, sv);
        if (!ok) print_ids("want", want), print_ids("got ", &got);
    }
    CHECK(rt, "%s case %d: decode(encode(x)) == x", what, idx);
    CHECK(sv, "%s case %d: streamed text == x, every chunk valid UTF-8", what, idx);
    *n_ok += ok;
    free(d);
    free(s);
    free(got.v);
}

static void test_jsonl(const char *name, int need_lines)
{
    size_t n;
    char *buf = name[0] == '/' || name[0] == '.' ? test_read_file(name, &n) : read_data(name, &n);
    CHECK(buf != NULL, "%s readable", name);
    if (!buf) return;
    char *text = malloc(n + 1);
    int cases = 0, ok = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        const char *e = json_field(line, "encoding"), *tx = json_field(line, "text"),
                   *id = json_field(line, "ids");
        if (e && tx && id) {
            const char *ee;
            char enc_name[32];
            size_t en = json_str(e, enc_name, &ee);
            size_t tn = json_str(tx, text, NULL);
            const char *close = strchr(id, ']');
            ids want = parse_ids(id, close ? close : id + strlen(id));
            int special = json_field(line, "allowed_special") != NULL;
            const gptc_tokenizer *t = tt_by_name(enc_name, en);
            CHECK(t != NULL, "%s: encoding %.*s loaded", name, (int)en, enc_name);
            if (t) {
                char what[64];
                snprintf(what, sizeof what, "%.*s", (int)en, enc_name);
                check_case(what, cases, t, text, tn, special, &want, &ok);
            }
            /* GPT-2's GGUF vocabulary is r50k: the same ids from merges as from ranks */
            if (g_gpt2_gguf && en == 9 && memcmp(enc_name, "r50k_base", 9) == 0) {
                int ok2 = 0;
                check_case("gpt-2 gguf", cases, g_gpt2_gguf, text, tn, special, &want, &ok2);
                CHECK(ok2, "gpt-2 gguf agrees with r50k_base on case %d", cases);
            }
            free(want.v);
            cases++;
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK(cases >= need_lines && ok == cases, "%s: %d of %d match", name, ok, cases);
    printf("%s: %d/%d match\n", name, ok, cases);
    free(text);
    free(buf);
}

static void test_plans(void)
{
    size_t n;
    char *buf = read_data("tokenizers/tiktoken/TestPlans.txt", &n);
    CHECK(buf != NULL, "TestPlans.txt readable");
    if (!buf) return;
    int cases = 0, ok = 0;
    const gptc_tokenizer *t = NULL;
    const char *sample = NULL;
    size_t sample_n = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (strncmp(line, "EncodingName: ", 14) == 0) {
            t = tt_by_name(line + 14, strlen(line + 14));
            CHECK(t != NULL, "TestPlans: encoding %s", line + 14);
        } else if (strncmp(line, "Sample: ", 8) == 0 || strcmp(line, "Sample:") == 0) {
            sample = line[7] ? line + 8 : line + 7;
            sample_n = strlen(sample);
        } else if (strncmp(line, "Encoded: ", 9) == 0 && t && sample) {
            ids want = parse_ids(line + 9, line + strlen(line));
            check_case("TestPlans", cases, t, sample, sample_n, 1, &want, &ok);
            free(want.v);
            cases++;
            sample = NULL;
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK(cases == 313 && ok == cases, "TestPlans.txt: %d of %d match", ok, cases);
    printf("TestPlans.txt: %d/%d match\n", ok, cases);
    free(buf);
}

/* llama.cpp's .inp/.out pairs: 46 cases, no BOS */
static void test_inp_out(const gptc_tokenizer *t, const char *inp_name, const char *out_name,
                         const char *what)
{
    size_t ni, no;
    char *inp = read_data(inp_name, &ni);
    char *outf = read_data(out_name, &no);
    CHECK(t && inp && outf, "%s: vocabulary and fixtures", what);
    if (!t || !inp || !outf) goto done;
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    char *p = inp, *line = outf;
    int cases = 0, ok = 0;
    for (;;) {
        char *e = memmem(p, ni - (size_t)(p - inp), sep, sl);
        if (!e) break;
        char *nl = strchr(line, '\n');
        if (!nl) break;
        ids want = parse_ids(line, nl);
        check_case(what, cases, t, p, (size_t)(e - p), 0, &want, &ok);
        free(want.v);
        cases++;
        line = nl + 1;
        p = e + sl;
    }
    CHECK(cases == 46 && ok == cases, "%s: %d of %d match llama.cpp", what, ok, cases);
    printf("%s: %d/%d match\n", what, ok, cases);
done:
    free(inp);
    free(outf);
}

/* ----------------------------------------------------------------------------------------------
 * round trips of arbitrary bytes
 */

/* What a stream shows for arbitrary bytes: one U+FFFD per maximal subpart of an ill-formed
 * sequence (Unicode's table 3-7: a lead byte and the continuation bytes that still fit it count
 * once; any other bad byte counts once). */
static size_t sanitize(const uint8_t *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t len = b < 0x80                 ? 1
                     : b >= 0xC2 && b <= 0xDF ? 2
                     : b >= 0xE0 && b <= 0xEF ? 3
                     : b >= 0xF0 && b <= 0xF4 ? 4
                                              : 0;
        uint8_t lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
        size_t m = len ? 1 : 0; /* bytes of a well-formed prefix */
        while (m && m < len && i + m < n &&
               (m == 1 ? s[i + 1] >= lo && s[i + 1] <= hi : (s[i + m] & 0xC0) == 0x80))
            m++;
        if (len && m == len) {
            memcpy(out + o, s + i, m);
            o += m;
            i += m;
            continue;
        }
        memcpy(out + o, "\xef\xbf\xbd", 3);
        o += 3;
        i += m ? m : 1;
    }
    return o;
}

/* full: the vocabulary has a token for every byte value (tiktoken, GPT-2, Llama 3, Qwen2), so
 * any bytes round trip; otherwise (StarCoder and DeepSeek-Coder lack the bytes that never occur
 * in UTF-8) only valid UTF-8 is tried */
static void test_random_bytes(const gptc_tokenizer *t, const char *what, int full)
{
    static const char *pieces[] = {" ",
                                   "a",
                                   "1",
                                   "\r",
                                   "\n",
                                   "'",
                                   "\xc3\xa9",
                                   "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80",
                                   "\xe4\xb8\xad",
                                   "\t",
                                   "Z"};
    test_rng_seed(0x9E3779B97F4A7C15ull);
    int rt_ok = 1, st_ok = 1;
    for (int it = 0; it < 200; it++) {
        uint8_t raw[400];
        size_t want_len = 1 + test_rnd_u32() % 95, len = 0;
        int mode = full ? it % 3 : 2;
        while (len < want_len) {
            uint8_t b = (uint8_t)(test_rnd_u32() >> 24);
            /* plain random bytes, high bytes only, or whole characters */
            if (mode == 0)
                raw[len++] = b;
            else if (mode == 1)
                raw[len++] = (uint8_t)(0x80 + (b & 0x7F));
            else {
                const char *p = pieces[b % 12];
                memcpy(raw + len, p, strlen(p));
                len += strlen(p);
            }
        }
        ids x = enc(t, (const char *)raw, len, 0);
        size_t dn;
        char *d = dec(t, &x, 0, &dn);
        if (!(dn == len && memcmp(d, raw, len) == 0)) {
            if (rt_ok) printf("%s: random case %d does not round trip\n", what, it);
            rt_ok = 0;
        }
        int ok;
        size_t sn;
        char *sv = stream(t, &x, 0, &sn, &ok);
        char want[1600];
        size_t wn = sanitize(raw, len, want);
        if (!(ok && sn == wn && memcmp(sv, want, wn) == 0)) {
            if (st_ok) printf("%s: random case %d streams wrong\n", what, it);
            st_ok = 0;
        }
        free(sv);
        free(d);
        free(x.v);
    }
    CHECK(rt_ok, "%s: 200 random %s: decode(encode(x)) == x", what,
          full ? "byte strings (invalid UTF-8 too)" : "UTF-8 strings");
    CHECK(st_ok, "%s: ... and streamed, each bad byte sequence becomes U+FFFD", what);
}

/* ----------------------------------------------------------------------------------------------
 * linear cost: the merge work (pair lookups + heap operations) of 1 MB of one byte is about
 * 4x that of 256 KB, and a small constant per byte
 */
static void test_linear(const gptc_tokenizer *t, const char *what, size_t big)
{
    const char fill[] = {'a', ' ', '7'};
    const char *names[] = {"letters", "spaces", "digits"};
    size_t small = big / 4;
    char *buf = malloc(big);
    gptc_err err = {0};
    for (int k = 0; k < 3; k++) {
        memset(buf, fill[k], big);
        uint64_t w1 = 0, w4 = 0;
        size_t n1 = 0, n4 = 0;
        gptc_status s1 = gptc_bpe_encode(t, buf, small, 0, 0, NULL, NULL, 0, &n1, &w1, &err);
        gptc_status s4 = gptc_bpe_encode(t, buf, big, 0, 0, NULL, NULL, 0, &n4, &w4, &err);
        double ratio = w1 ? (double)w4 / (double)w1 : 0;
        printf("%s, %s: %zu KB -> %llu work, %zu tokens; %zu KB -> %llu work, %zu tokens (x%.2f)\n",
               what, names[k], small >> 10, (unsigned long long)w1, n1, big >> 10,
               (unsigned long long)w4, n4, ratio);
        CHECK(s1 == GPTC_OK && s4 == GPTC_OK && n4 > 0, "%s %s: encodes (%s)", what, names[k],
              err.msg);
        /* linear: x4 input, at most x4.4 work (a log factor would show as x4.5 and more only
         * for the heap's depth, which is not counted: the count is of operations) */
        CHECK(w4 <= 16 * (uint64_t)big && (w1 == 0 || ratio < 4.4), "%s %s: linear merge work",
              what, names[k]);
    }
    free(buf);
}

/* the scan merge (short pieces) and the heap merge (long pieces) agree */
static void test_merge_paths(gptc_tokenizer *t, const char *what, const char *text, size_t n)
{
    int keep = t->bpe_short_max;
    t->bpe_short_max = 1 << 30;
    ids a = enc(t, text, n, 0);
    t->bpe_short_max = 0;
    ids b = enc(t, text, n, 0);
    t->bpe_short_max = keep;
    CHECK(a.n > 0 && ids_eq(&a, &b), "%s: scan and heap merges give the same %zu ids", what, a.n);
    free(a.v);
    free(b.v);
}

/* ----------------------------------------------------------------------------------------------
 * API contract and bad inputs
 */
static void test_api(void)
{
    gptc_err err = {0};
    const gptc_tokenizer *cl = g_tt[TT_CL100K];
    /* special tokens are text unless allowed */
    const char *txt = "a<|endoftext|>b";
    ids x = enc(cl, txt, strlen(txt), 0), y = enc(cl, txt, strlen(txt), 1);
    int has = 0;
    for (size_t i = 0; i < x.n; i++)
        has |= x.v[i] == 100257;
    CHECK(!has && x.n > 3, "<|endoftext|> is ordinary text by default");
    CHECK(y.n == 3 && y.v[1] == 100257, "... and id 100257 with parse_special");
    size_t dn;
    char *d = dec(cl, &y, 0, &dn);
    CHECK(dn == 2 && memcmp(d, "ab", 2) == 0, "decode without special drops control tokens");
    free(d);
    d = dec(cl, &y, 1, &dn);
    CHECK(dn == strlen(txt) && memcmp(d, txt, dn) == 0, "decode with special renders them");
    free(d);
    size_t cnt = 0;
    CHECK(gptc_tok_count(cl, txt, strlen(txt), 0, &cnt, &err) == GPTC_OK && cnt == x.n,
          "count = encode's length");
    free(x.v);
    free(y.v);

    /* ids outside the vocabulary */
    int32_t bad[] = {15339, 100277};
    char buf[64];
    size_t k = 99;
    CHECK(gptc_tok_decode(cl, bad, 2, 0, buf, sizeof buf, &k, &err) == GPTC_E_RANGE && k == 0,
          "decode of id n_vocab: GPTC_E_RANGE (%s)", err.msg);
    bad[1] = -1;
    CHECK(gptc_tok_decode(cl, bad, 2, 0, buf, sizeof buf, &k, &err) == GPTC_E_RANGE,
          "decode of id -1: GPTC_E_RANGE");
    gptc_detok dt;
    gptc_detok_init(&dt);
    CHECK(gptc_detok_push(cl, &dt, 100277, buf, sizeof buf, &k, &err) == GPTC_E_RANGE && k == 0,
          "detok of id n_vocab: GPTC_E_RANGE");
    CHECK(gptc_tok_n_vocab(cl) == 100277 && gptc_tok_n_vocab(g_tt[TT_O200K]) == 200019,
          "n_vocab includes the special tokens");
    /* an unused id (cl100k's 100256) decodes to nothing */
    int32_t gap = 100256;
    CHECK(gptc_tok_decode(cl, &gap, 1, 1, buf, sizeof buf, &k, &err) == GPTC_OK && k == 0,
          "unused id decodes to nothing");
    /* pieces */
    size_t pl;
    const char *p = gptc_tok_piece(g_gpt2_gguf, 262, &pl);
    CHECK(p && pl == 5 && memcmp(p, "\xc4\xa0the", 5) == 0, "gpt-2 piece 262 is 'Ġthe'");
    p = gptc_tok_piece(cl, 279, &pl);
    CHECK(p && pl == 4 && memcmp(p, " the", 4) == 0, "cl100k piece 279 is ' the'");
    CHECK(gptc_tok_is_eog(cl, 100257) && !gptc_tok_is_eog(cl, 100258), "cl100k eog");
    CHECK(g_qwen2 && gptc_tok_is_eog(g_qwen2, 151645) && gptc_tok_is_eog(g_qwen2, 151643),
          "qwen2: <|im_end|> ends generation (found by its text)");
    CHECK(gptc_tok_add_bos(g_gpt2_gguf) == 0 && gptc_tok_add_bos(g_tt[TT_LLAMA3]) == 1 &&
              gptc_tok_bos(g_tt[TT_LLAMA3]) == 128000 && gptc_tok_bos(cl) == -1,
          "BOS: gpt-2 none added, llama3 128000");
    /* a streamed character split across byte tokens comes out whole */
    {
        ids e = enc(g_gpt2_gguf, "\xf0\x9f\x98\x80", 4, 0); /* one emoji, several tokens */
        gptc_detok_init(&dt);
        size_t total = 0, first = 99;
        for (size_t i = 0; i < e.n; i++) {
            gptc_detok_push(g_gpt2_gguf, &dt, e.v[i], buf, sizeof buf, &k, &err);
            if (i == 0) first = k;
            total += k;
        }
        CHECK(e.n > 1 && first == 0 && total == 4, "emoji over %zu tokens streams whole", e.n);
        free(e.v);
    }
}

static gguf_file *mini_bpe(const char *pre, int with_merges)
{
    gguf_file *f = NULL;
    gptc_err err = {0};
    gptc_gguf_new(&f, &err);
    gptc_str toks[258];
    char bytes[256][4];
    for (int b = 0; b < 256; b++) {
        size_t n = put_utf8(bytes[b], gptc_bpe_byte_to_cp((uint8_t)b));
        toks[b] = (gptc_str){bytes[b], n};
    }
    toks[256] = (gptc_str){"ab", 2};
    toks[257] = (gptc_str){"<|end|>", 7};
    int32_t ty[258];
    for (int i = 0; i < 258; i++)
        ty[i] = i == 257 ? 3 : 1;
    gptc_str mg[] = {{"a b", 3}};
    gptc_gguf_set_str(f, "tokenizer.ggml.model", "gpt2", 4, &err);
    if (pre) gptc_gguf_set_str(f, "tokenizer.ggml.pre", pre, strlen(pre), &err);
    gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", toks, 258, &err);
    gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, ty, 258, &err);
    if (with_merges) gptc_gguf_set_arr_str(f, "tokenizer.ggml.merges", mg, 1, &err);
    return f;
}

static void test_bad(void)
{
    gptc_err err = {0};
    gptc_tokenizer *t = NULL;
    gguf_file *f = mini_bpe("gpt-2", 1);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK, "mini gpt2 vocabulary: %s", err.msg);
    if (t) {
        /* token b is byte b; "abab" merges twice, " a" has no merge */
        ids x = enc(t, "abab a", 6, 0);
        ids want = {(int32_t[]){256, 256, ' ', 'a'}, 4};
        CHECK(ids_eq(&x, &want), "mini vocabulary merges 'a b'");
        free(x.v);
        CHECK(gptc_tok_is_eog(t, 257), "<|end|> ends generation");
    }
    gptc_tok_free(t);
    t = NULL;
    gptc_gguf_close(f);

    /* every pre-tokenizer type loads and round-trips mixed text (the fixtures above check the
     * ids of gpt-2, llama-bpe, qwen2, starcoder (= smollm's regexes) and deepseek-coder) */
    static const char *pres[] = {"gpt-2",   "llama-bpe", "llama3",       "qwen2",
                                 "smollm",  "starcoder", "deepseek-llm", "deepseek-coder",
                                 "default", "command-r", "dbrx",         "stablelm2",
                                 "mpt",     "olmo",      "bloom",        "viking",
                                 "refact",  "falcon3",   "chatglm-bpe",  "lfm2"};
    const char *mixed = "Hello, World! 12345 \r\n\t  caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 "
                        "\xf0\x9f\x98\x80 \xd0\x9f\xd1\x80\xd0\xb8 I'M ab abab\xff";
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        f = mini_bpe(pres[i], 1);
        gptc_status st = gptc_tokenizer_from_gguf(f, &t, &err);
        int ok = st == GPTC_OK;
        if (ok) {
            ids x = enc(t, mixed, strlen(mixed), 0);
            size_t dn;
            char *d = dec(t, &x, 0, &dn);
            ok = x.n > 10 && dn == strlen(mixed) && memcmp(d, mixed, dn) == 0;
            free(d);
            free(x.v);
        }
        CHECK(ok, "pre '%s' loads and round-trips (%s)", pres[i], err.msg);
        gptc_tok_free(t);
        t = NULL;
        gptc_gguf_close(f);
    }

    /* LiquidAI's LFM2 files say "lfm2": llama.cpp reads it as llama3's split (ignore_merges,
     * BOS) */
    {
        ids v[2];
        for (int k = 0; k < 2; k++) {
            v[k].v = NULL;
            v[k].n = 0;
            f = mini_bpe(k ? "lfm2" : "llama-bpe", 1);
            if (gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK)
                v[k] = enc(t, mixed, strlen(mixed), 1);
            gptc_tok_free(t);
            t = NULL;
            gptc_gguf_close(f);
        }
        CHECK(v[0].n > 10 && v[0].n == v[1].n &&
                  memcmp(v[0].v, v[1].v, v[0].n * sizeof *v[0].v) == 0,
              "pre 'lfm2' encodes as 'llama-bpe'");
        free(v[0].v);
        free(v[1].v);
    }

    f = mini_bpe("klingon-9", 1);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_UNSUPPORTED && !t &&
              strstr(err.msg, "'klingon-9'"),
          "unknown pre is an error naming it: %s", err.msg);
    gptc_gguf_close(f);
    f = mini_bpe(NULL, 1);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_OK && t, "no pre: llama.cpp's default");
    gptc_tok_free(t);
    t = NULL;
    gptc_gguf_close(f);
    f = mini_bpe("gpt-2", 0);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT && strstr(err.msg, "merges"),
          "no merges: %s", err.msg);
    gptc_gguf_close(f);
    f = mini_bpe("gpt-2", 1);
    gptc_gguf_set_uint(f, "tokenizer.ggml.pre", GGUF_VT_U32, 7, &err);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT, "pre not a string: %s", err.msg);
    gptc_gguf_close(f);
    f = mini_bpe("gpt-2", 1);
    gptc_gguf_set_uint(f, "tokenizer.ggml.merges", GGUF_VT_U32, 7, &err);
    CHECK(gptc_tokenizer_from_gguf(f, &t, &err) == GPTC_E_FORMAT, "merges not strings: %s",
          err.msg);
    gptc_gguf_close(f);

    /* tiktoken rank files */
    static const struct {
        const char *name, *text, *msg;
        gptc_status st;
    } cases[] = {
        {"cl100k_base", "", "empty", GPTC_E_FORMAT},
        {"cl100k_base", "IQ==\n", "no rank", GPTC_E_FORMAT},
        {"cl100k_base", "IQ== x\n", "bad rank", GPTC_E_FORMAT},
        {"cl100k_base", "IQ== 0\nIQ== 1\n", "same bytes", GPTC_E_FORMAT},
        {"cl100k_base", "IQ== 0\nIg== 0\n", "twice", GPTC_E_FORMAT},
        {"cl100k_base", "I!== 0\n", "base64", GPTC_E_FORMAT},
        {"cl100k_base", "IQ= 0\n", "base64", GPTC_E_FORMAT},
        {"cl100k_base", "IQ== 0\n", "single byte", GPTC_E_FORMAT},
        {"cl100k_base", "IQ== 99999999\n", "rank", GPTC_E_FORMAT},
        {"r50k_base", "IQ== 50256\n", "rank 50256", GPTC_E_FORMAT},
        {"cl200k", "IQ== 0\n", "unknown encoding", GPTC_E_INVALID},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gptc_status st =
            gptc_tiktoken_parse(cases[c].name, cases[c].text, strlen(cases[c].text), &t, &err);
        CHECK(st == cases[c].st && !t && strstr(err.msg, cases[c].msg),
              "bad rank file %zu: %s (%s)", c, err.msg, gptc_status_name(st));
        gptc_tok_free(t);
        t = NULL;
    }
    /* the lookup names the file and where it looked */
    setenv("GPTC_TIKTOKEN_DIR", "/nonexistent-gptc", 1);
    setenv("XDG_CACHE_HOME", "/nonexistent-gptc", 1);
    CHECK(gptc_tok_load_tiktoken("o200k_base", NULL, &t, &err) == GPTC_E_IO && !t &&
              strstr(err.msg, "o200k_base.tiktoken"),
          "missing rank file: %s", err.msg);
    CHECK(gptc_tok_load_tiktoken("o200k_base", "/nonexistent-gptc/x", &t, &err) == GPTC_E_IO,
          "missing --vocab-file: %s", err.msg);
    CHECK(gptc_tok_load_tiktoken("o200k_base", "/", &t, &err) == GPTC_E_IO, "a directory: %s",
          err.msg);
}

int main(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tokenizers/tiktoken", test_data_dir());
    setenv("GPTC_TIKTOKEN_DIR", dir, 1);
    gptc_err err = {0};
    for (int i = 0; i < TT_N; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tokenizers/llama3/tokenizer.model", test_data_dir());
        gptc_status st =
            gptc_tok_load_tiktoken(k_tt_names[i], i == TT_LLAMA3 ? path : NULL, &g_tt[i], &err);
        CHECK(st == GPTC_OK, "load %s: %s", k_tt_names[i], err.msg);
    }
    g_gpt2_gguf = gguf_tok("gguf/ggml-vocab-gpt-2.gguf");
    g_deepseek = gguf_tok("gguf/vocab/ggml-vocab-deepseek-coder.gguf");
    g_starcoder = gguf_tok("gguf/vocab/ggml-vocab-starcoder.gguf");
    gguf_file *qf = qwen2_gguf();
    if (qf && gptc_tokenizer_from_gguf(qf, &g_qwen2, &err) != GPTC_OK)
        printf("qwen2: %s\n", err.msg);
    gptc_gguf_close(qf);

    test_jsonl("tokenizers/tiktoken/tiktoken_vectors.jsonl", 175);
    test_plans();
    test_jsonl("./tests/fixtures/bpe/extra.jsonl", 470);
    test_inp_out(g_gpt2_gguf, "gguf/ggml-vocab-gpt-2.gguf.inp", "gguf/ggml-vocab-gpt-2.gguf.out",
                 "gpt-2");
    test_inp_out(g_deepseek, "gguf/vocab/ggml-vocab-deepseek-coder.gguf.inp",
                 "gguf/vocab/ggml-vocab-deepseek-coder.gguf.out", "deepseek-coder");
    test_inp_out(g_starcoder, "gguf/vocab/ggml-vocab-starcoder.gguf.inp",
                 "gguf/vocab/ggml-vocab-starcoder.gguf.out", "starcoder");
    test_inp_out(g_tt[TT_LLAMA3], "tokenizers/llama3/ggml-vocab-llama-bpe.gguf.inp",
                 "tokenizers/llama3/ggml-vocab-llama-bpe.gguf.out", "llama3");
    test_inp_out(g_qwen2, "tokenizers/qwen2/ggml-vocab-qwen2.gguf.inp",
                 "tokenizers/qwen2/ggml-vocab-qwen2.gguf.out", "qwen2");

    test_api();
    const gptc_tokenizer *rt[] = {g_tt[TT_CL100K], g_tt[TT_O200K], g_tt[TT_LLAMA3], g_gpt2_gguf,
                                  g_qwen2,         g_deepseek,     g_starcoder};
    const char *rt_names[] = {"cl100k_base", "o200k_base",     "llama3",   "gpt-2 gguf",
                              "qwen2",       "deepseek-coder", "starcoder"};
    for (int i = 0; i < 7; i++)
        if (rt[i]) test_random_bytes(rt[i], rt_names[i], i < 5);
    /* 1 MB with tiktoken's rule; GPT-2's merge table (whose regex keeps digit runs whole, so
     * all three are one long piece there) at 256 KB keeps the test quick under ASan */
    test_linear(g_tt[TT_CL100K], "cl100k_base (ranks)", 1 << 20);
    if (g_gpt2_gguf) test_linear(g_gpt2_gguf, "gpt-2 gguf (merges)", 1 << 18);
    {
        size_t n;
        char *wp = read_data("corpora/war-and-peace/war-and-peace.txt", &n);
        if (wp) {
            size_t m = n < 200000 ? n : 200000;
            test_merge_paths(g_tt[TT_CL100K], "cl100k_base", wp, m);
            test_merge_paths(g_tt[TT_O200K], "o200k_base", wp, m);
            if (g_gpt2_gguf) test_merge_paths(g_gpt2_gguf, "gpt-2 gguf", wp, m);
            free(wp);
        }
    }
    test_bad();

    for (int i = 0; i < TT_N; i++)
        gptc_tok_free(g_tt[i]);
    gptc_tok_free(g_gpt2_gguf);
    gptc_tok_free(g_deepseek);
    gptc_tok_free(g_starcoder);
    gptc_tok_free(g_qwen2);
    return test_summary();
}
