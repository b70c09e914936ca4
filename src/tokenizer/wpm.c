/*
 * wpm.c — WordPiece encoding (BERT; tokenizer.ggml.model "bert"), as llama.cpp's WPM tokenizer
 * reads a converted BERT vocabulary: a token that starts a word is stored with a U+2581 prefix
 * ("▁hello"), a continuation without the "##" BERT writes ("ing").
 *
 * 1. Special tokens are split out first, as for SentencePiece (gptc_tok_partition).
 * 2. Each raw fragment is decoded (invalid bytes are dropped), put in canonical decomposition
 *    (NFD) and cut into words: white space ends a word; NUL, U+FFFD, control characters and
 *    nonspacing marks (the accents NFD split off) are dropped; punctuation, ASCII symbols and
 *    CJK ideographs are words of one character; everything else is lowercased and appended.
 * 3. Each word, prefixed with U+2581, is matched greedily from the left, longest vocabulary
 *    piece first; a word with a part no piece matches becomes one unknown token.
 */
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

typedef struct wpm_out {
    int32_t *out;
    size_t cap, n;
} wpm_out;

static void emit(wpm_out *o, int32_t id)
{
    if (o->n < o->cap) o->out[o->n] = id;
    o->n++;
}

static uint32_t get_utf8(const uint8_t *s, int n)
{
    if (n == 1) return s[0];
    uint32_t c = s[0] & (0x7F >> n);
    for (int k = 1; k < n; k++)
        c = c << 6 | (s[k] & 0x3F);
    return c;
}

/* The word w[0..n) (its first 3 bytes the U+2581 prefix): greedy longest match. */
static void word_ids(const gptc_tokenizer *t, const char *w, size_t n, wpm_out *o)
{
    size_t n0 = o->n;
    for (size_t i = 0; i < n;) {
        size_t j = GPTC_MIN(n, i + t->max_piece);
        int32_t id = -1;
        for (; j > i; j--) {
            if (j < n && ((uint8_t)w[j] & 0xC0) == 0x80) continue; /* inside a character */
            if ((id = gptc_tok_find(t, w + i, j - i)) >= 0) break;
        }
        if (id < 0) { /* the whole word is unknown */
            o->n = n0;
            if (t->unk >= 0) emit(o, t->unk);
            return;
        }
        emit(o, id);
        i = j;
    }
}

/* w: room for 3 + 6 * n bytes (NFD turns 2 bytes into at most 4 characters of 3 bytes) */
static void wpm_fragment(const gptc_tokenizer *t, const char *s, size_t n, char *w, wpm_out *o)
{
    static const char k_prefix[] = "\xe2\x96\x81";
    size_t wn = 3;
    memcpy(w, k_prefix, 3);
#define END_WORD()                                                                                 \
    do {                                                                                           \
        if (wn > 3) word_ids(t, w, wn, o);                                                         \
        wn = 3;                                                                                    \
    } while (0)
    for (size_t i = 0; i < n;) {
        int k = gptc_utf8_next((const uint8_t *)s + i, n - i);
        if (k <= 0) { /* invalid or cut short: dropped, as U+FFFD is */
            i += k < 0 ? (size_t)-k : n - i;
            continue;
        }
        uint32_t cps[4];
        int nc = gptc_ucd_nfd(get_utf8((const uint8_t *)s + i, k), cps);
        i += (size_t)k;
        for (int q = 0; q < nc; q++) {
            uint32_t c = cps[q];
            unsigned f = gptc_ucd_flags(c);
            if (f & GPTC_UCD_WS) {
                END_WORD();
                continue;
            }
            if (c == 0 || c == 0xFFFD || (f & (GPTC_UCD_CONTROL | GPTC_UCD_MARK))) continue;
            uint32_t lc = gptc_ucd_lower(c);
            if ((f & GPTC_UCD_PUNCT) || (c < 0x7F && (f & GPTC_UCD_SYMBOL)) || gptc_ucd_is_cjk(c)) {
                END_WORD();
                wn += gptc_utf8_put(lc, w + wn);
                END_WORD();
            } else {
                wn += gptc_utf8_put(lc, w + wn);
            }
        }
    }
    END_WORD();
#undef END_WORD
}

gptc_status gptc_wpm_encode(const gptc_tokenizer *tok, const char *text, size_t len, int add_bos,
                            int parse_special, const uint8_t *literal, int32_t *out, size_t cap,
                            size_t *n_out, gptc_err *err)
{
    if (n_out) *n_out = 0;
    if (!tok || !n_out || (!text && len) || (!out && cap))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_tok_encode: NULL argument");
    wpm_out o = {out, cap, 0};
    if (add_bos && tok->bos >= 0) emit(&o, tok->bos);
    uint64_t n1, wb, frag_n;
    if (gptc_add_ovf(len, 1, &n1) || gptc_mul_ovf(n1, 6, &wb) || gptc_add_ovf(wb, 4, &wb) ||
        gptc_mul_ovf(n1, 2 * 2 * sizeof(gptc_frag), &frag_n) || frag_n > SIZE_MAX / 4)
        return gptc_fail(err, GPTC_E_NOMEM, "gptc_tok_encode: text of %zu bytes is too long", len);
    char *w = malloc((size_t)wb);
    gptc_frag *fa = malloc((size_t)frag_n / 2), *fb = malloc((size_t)frag_n / 2);
    if (!w || !fa || !fb) {
        free(w);
        free(fa);
        free(fb);
        return gptc_fail(err, GPTC_E_NOMEM, "gptc_tok_encode: out of memory for %zu bytes", len);
    }
    size_t n_frag = 0;
    gptc_frag *fr =
        len ? gptc_tok_partition(tok, text, len, parse_special, literal, fa, fb, &n_frag) : NULL;
    for (size_t i = 0; i < n_frag; i++) {
        if (fr[i].id >= 0)
            emit(&o, fr[i].id);
        else
            wpm_fragment(tok, text + fr[i].off, fr[i].n, w, &o);
    }
    free(w);
    free(fa);
    free(fb);
    *n_out = o.n;
    gptc_err_clear(err);
    return GPTC_OK;
}
