/*
 * test_wpm.c — the WordPiece (BERT) tokenizer and the Unicode tables under it.
 *
 *   gguf/vocab/ggml-vocab-bert-bge.gguf.inp/.out   llama.cpp's 46 cases for the bge vocabulary
 *
 * plus the Unicode lookups against hand-checked code points, special tokens, [CLS] ... [SEP]
 * from add_special, literal spans, and random bytes (no crash, ids in range).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptc.h"
#include "test.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

/* ids of text (no specials added, no special parsing unless asked) */
static size_t enc(const gptc_tokenizer *t, const char *s, size_t n, int add, int special,
                  int32_t *out, size_t cap)
{
    gptc_err err;
    size_t got = 0;
    if (gptc_tok_encode(t, s, n, add, special, out, cap, &got, &err) != GPTC_OK) {
        printf("encode: %s\n", err.msg);
        return (size_t)-1;
    }
    return got;
}

static void test_unicode(void)
{
    uint32_t d[4];
    CHECK(gptc_ucd_nfd(0xFC, d) == 2 && d[0] == 'u' && d[1] == 0x308, "NFD u-umlaut = u + U+0308");
    CHECK(gptc_ucd_nfd(0x1E69, d) == 3 && d[0] == 's' && d[1] == 0x323 && d[2] == 0x307,
          "NFD U+1E69 = s + dot below + dot above (canonical order)");
    CHECK(gptc_ucd_nfd(0xD55C, d) == 3 && d[0] == 0x1112 && d[1] == 0x1161 && d[2] == 0x11AB,
          "NFD Hangul U+D55C (algorithmic)");
    CHECK(gptc_ucd_nfd(0xAC00, d) == 2 && d[0] == 0x1100 && d[1] == 0x1161, "NFD U+AC00");
    CHECK(gptc_ucd_nfd('a', d) == 1 && d[0] == 'a', "NFD of ASCII is itself");
    CHECK(gptc_ucd_nfd(0x110000, d) == 1, "NFD beyond Unicode is itself");
    int maxn = 0;
    for (uint32_t c = 0; c < 0x110000; c++) {
        int n = gptc_ucd_nfd(c, d);
        if (n > maxn) maxn = n;
    }
    CHECK(maxn == 4, "longest decomposition is 4 code points (%d)", maxn);
    CHECK(gptc_ucd_lower('A') == 'a' && gptc_ucd_lower(0xC9) == 0xE9 &&
              gptc_ucd_lower(0x391) == 0x3B1 && gptc_ucd_lower(0x130) == 'i' &&
              gptc_ucd_lower(0x10400) == 0x10428 && gptc_ucd_lower('z') == 'z' &&
              gptc_ucd_lower(0x4E00) == 0x4E00,
          "simple lowercase");
    CHECK(gptc_ucd_flags(' ') == GPTC_UCD_WS && gptc_ucd_flags('\t') == GPTC_UCD_WS &&
              gptc_ucd_flags(0x3000) == GPTC_UCD_WS && gptc_ucd_flags(0x85) == GPTC_UCD_WS,
          "white space");
    CHECK(gptc_ucd_flags('!') == GPTC_UCD_PUNCT && gptc_ucd_flags(0x3002) == GPTC_UCD_PUNCT &&
              gptc_ucd_flags('$') == GPTC_UCD_SYMBOL && gptc_ucd_flags(0x20AC) == GPTC_UCD_SYMBOL,
          "punctuation and symbols");
    CHECK(gptc_ucd_flags(0x308) == GPTC_UCD_MARK && gptc_ucd_flags(1) == GPTC_UCD_CONTROL &&
              gptc_ucd_flags(0x200D) == GPTC_UCD_CONTROL && gptc_ucd_flags('a') == 0 &&
              gptc_ucd_flags('7') == 0 && gptc_ucd_flags(0x110000) == 0,
          "marks, controls, letters");
    CHECK(gptc_ucd_is_cjk(0x4E2D) && gptc_ucd_is_cjk(0x20000) && !gptc_ucd_is_cjk(0x3042),
          "CJK ideographs (not kana)");
}

static void test_inp_out(const gptc_tokenizer *t)
{
    size_t ni = 0, no = 0;
    char *inp = test_read_data("gguf/vocab/ggml-vocab-bert-bge.gguf.inp", &ni);
    char *outf = test_read_data("gguf/vocab/ggml-vocab-bert-bge.gguf.out", &no);
    CHECK(inp && outf, "bge fixtures readable");
    if (!inp || !outf) goto done;
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    char *p = inp, *line = outf;
    int cases = 0, ok = 0;
    int32_t got[4096], want[4096];
    for (;;) {
        char *e = memmem(p, ni - (size_t)(p - inp), sep, sl);
        char *nl = e ? strchr(line, '\n') : NULL;
        if (!nl) break;
        size_t nw = 0;
        for (char *s = line; s < nl;) {
            if (*s >= '0' && *s <= '9')
                want[nw++] = (int32_t)strtol(s, &s, 10);
            else
                s++;
        }
        size_t ng = enc(t, p, (size_t)(e - p), 0, 0, got, 4096);
        int match = ng == nw && (nw == 0 || memcmp(got, want, nw * sizeof *got) == 0);
        if (!match) {
            printf("bge case %d '%.*s': got", cases, (int)GPTC_MIN(e - p, 60), p);
            for (size_t i = 0; i < ng && i < 24; i++)
                printf(" %d", got[i]);
            printf("\n   want");
            for (size_t i = 0; i < nw && i < 24; i++)
                printf(" %d", want[i]);
            printf("\n");
        }
        ok += match;
        cases++;
        line = nl + 1;
        p = e + sl;
    }
    CHECK(cases == 46 && ok == cases, "bge: %d of %d cases match llama.cpp", ok, cases);
    printf("bge: %d/%d match\n", ok, cases);
done:
    free(inp);
    free(outf);
}

static void test_own(const gptc_tokenizer *t)
{
    int32_t v[64];
    gptc_err err;
    size_t n = enc(t, "hello world", 11, 1, 0, v, 64);
    CHECK(n == 4 && v[0] == 101 && v[3] == 102, "add_special: [CLS] hello world [SEP]");
    n = enc(t, "", 0, 1, 0, v, 64);
    CHECK(n == 2 && v[0] == 101 && v[1] == 102, "empty text: [CLS] [SEP]");
    n = enc(t, "", 0, 0, 0, v, 64);
    CHECK(n == 0, "empty text, no specials: nothing");
    n = enc(t, "[SEP] x", 7, 0, 1, v, 64);
    CHECK(n == 2 && v[0] == 102, "parse_special: [SEP] is its token");
    n = enc(t, "[SEP] x", 7, 0, 0, v, 64);
    CHECK(n == 4 && v[0] != 102, "without parse_special: [ SEP ] x as text (%zu)", n);
    const uint8_t lit[7] = {1, 1, 1, 1, 1, 0, 0};
    size_t got = 0;
    CHECK(gptc_tok_encode_lit(t, "[SEP] x", 7, 0, lit, v, 64, &got, &err) == GPTC_OK && got == 4 &&
              v[0] != 102,
          "literal span: [SEP] in user text stays text");
    n = enc(t, "HELLO", 5, 0, 0, v, 64);
    int32_t h = v[0];
    n = enc(t, "hello", 5, 0, 0, v, 64);
    CHECK(n == 1 && v[0] == h, "uncased: HELLO == hello");
    n = enc(t, "caf\xc3\xa9", 5, 0, 0, v, 64);
    int32_t w1[8];
    size_t n1 = enc(t, "cafe", 4, 0, 0, w1, 8);
    CHECK(n == n1 && memcmp(v, w1, n * 4) == 0, "accents stripped: café == cafe");
    n = enc(t, "\xff\xfe hello \xc3", 9, 0, 0, v, 64);
    CHECK(n == 1 && v[0] == h, "invalid bytes are dropped");
    n = enc(t, "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\xe2\x82\xa9", 49, 0, 0, v, 64);
    CHECK(n >= 1, "long word encodes (%zu ids)", n);
    n = enc(t, "\xe4\xb8\xad\xe6\x96\x87", 6, 0, 0, v, 64);
    CHECK(n == 2, "two CJK ideographs, two words (%zu)", n);
    /* a word with a character no piece has is one [UNK] */
    n = enc(t,
            "ab\xf0\x9f\x98\x80"
            "cd",
            8, 0, 0, v, 64);
    CHECK(n == 1 && v[0] == 100, "word with an unknown character: one [UNK] (%zu, %d)", n, v[0]);

    /* size query and truncation contract */
    got = 0;
    CHECK(gptc_tok_encode(t, "hello world", 11, 1, 0, NULL, 0, &got, &err) == GPTC_OK && got == 4,
          "size query counts [CLS] and [SEP]");
    CHECK(gptc_tok_encode(t, "hello world", 11, 1, 0, v, 2, &got, &err) == GPTC_OK && got == 4 &&
              v[0] == 101,
          "a short buffer gets the first ids and the full count");

    /* random bytes: never a crash, ids in range */
    uint64_t s = 88172645463325252ull;
    char buf[256];
    int bad = 0;
    for (int it = 0; it < 3000; it++) {
        size_t len = (size_t)(it % 200);
        for (size_t i = 0; i < len; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            buf[i] = it & 1 ? (char)(s & 0xFF) : " aZ!\xc3\xa9\xe4\xb8\xad#"[s % 10];
        }
        size_t k = enc(t, buf, len, 1, it & 2, v, 64);
        if (k == (size_t)-1) bad++;
        for (size_t i = 0; i < k && i < 64; i++)
            bad += v[i] < 0 || v[i] >= gptc_tok_n_vocab(t);
    }
    CHECK(bad == 0, "3000 random texts: ids in range, no errors (%d bad)", bad);
}

int main(void)
{
    test_unicode();
    char path[512];
    snprintf(path, sizeof path, "%s/gguf/vocab/ggml-vocab-bert-bge.gguf", test_data_dir());
    gptc_tokenizer *t = NULL;
    gptc_err err;
    CHECK(gptc_tok_load_gguf(path, &t, &err) == GPTC_OK, "load bge vocabulary: %s", err.msg);
    if (t) {
        CHECK(gptc_tok_n_vocab(t) == 30522, "bge: 30522 tokens");
        test_inp_out(t);
        test_own(t);
        gptc_tok_free(t);
    }
    return test_summary();
}
