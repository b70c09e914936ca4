/*
 * detok.c — the streaming detokenizer: token ids -> text bytes, as llama.cpp's token_to_piece
 * (special = false) gives them, made safe to print one token at a time.
 *
 * A token becomes bytes by its type:
 *   NORMAL        its piece with every U+2581 turned back into ' '
 *   BYTE          the one raw byte of "<0xNN>"
 *   USER_DEFINED  its piece unchanged
 *   CONTROL, UNKNOWN, UNUSED, UNDEFINED   nothing (BOS, EOS and <unk> print nothing)
 * The leading dummy-prefix space is kept unless gptc_detok.strip_space is set.
 * Byte-level BPE (bpe.c, tiktoken.c): a NORMAL token is its bytes (GPT-2's alphabet undone at
 * load), USER_DEFINED its text; CONTROL and UNKNOWN print nothing; UNUSED (tiktoken's gaps)
 * nothing. With gptc_detok.special set, CONTROL and UNKNOWN tokens print their text too.
 *
 * Those bytes then pass through a UTF-8 check so that every chunk handed out is valid UTF-8:
 *   - a complete, valid character is written out;
 *   - a valid but incomplete start is held back (at most 3 bytes) for the next token;
 *   - an invalid sequence becomes one U+FFFD per maximal invalid subpart (the Unicode
 *     "substitution of maximal subparts" rule: a lead byte and the valid continuation bytes
 *     that follow it count once; a stray continuation byte, C0, C1 or F5..FF counts once each);
 *   - gptc_detok_flush turns a held-back incomplete start into one U+FFFD.
 * "Valid" is strict: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
#include "tokenizer/tokenizer_impl.h"

#include <string.h>

typedef struct sink {
    char *out;
    size_t cap, n;
} sink;

static void put(sink *o, const void *p, size_t n)
{
    const char *s = p;
    for (size_t i = 0; i < n; i++, o->n++)
        if (o->n < o->cap) o->out[o->n] = s[i];
}

static void put_fffd(sink *o)
{
    put(o, "\xef\xbf\xbd", 3);
}

static void feed(gptc_detok *d, uint8_t b, sink *o)
{
    for (;;) {
        if (d->n_pending == 0 && b < 0x80) {
            put(o, &b, 1);
            return;
        }
        d->pending[d->n_pending++] = b;
        int k = gptc_utf8_next(d->pending, (size_t)d->n_pending);
        if (k == 0) return; /* wait for more */
        if (k > 0) {
            put(o, d->pending, (size_t)k);
            d->n_pending = 0;
            return;
        }
        /* invalid; the bytes before b were a valid start, so b is what broke it */
        int was_alone = d->n_pending == 1;
        d->n_pending = 0;
        put_fffd(o);
        if (was_alone) return; /* b itself was the bad lead byte */
        /* b may start something new */
    }
}

void gptc_detok_init(gptc_detok *d)
{
    if (d) memset(d, 0, sizeof *d);
}

gptc_status gptc_detok_push(const gptc_tokenizer *tok, gptc_detok *d, int32_t id, char *out,
                            size_t cap, size_t *n_out, gptc_err *err)
{
    if (n_out) *n_out = 0;
    if (!tok || !d || !n_out || (!out && cap))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_detok_push: NULL argument");
    if (id < 0 || id >= tok->n_vocab)
        return gptc_fail(err, GPTC_E_RANGE, "token id %d is outside the vocabulary (%d tokens)",
                         (int)id, tok->n_vocab);
    if (d->n_pending < 0 || d->n_pending > 3)
        return gptc_fail(err, GPTC_E_INVALID, "gptc_detok_push: corrupt detokenizer state");

    gptc_detok st = *d; /* committed only if the output fits */
    sink o = {out, cap, 0};
    gptc_str p = tok->piece[id];
    if (tok->kind == GPTC_TOK_BPE) {
        uint8_t ty = tok->type[id];
        int show = ty == GPTC_TT_NORMAL || ty == GPTC_TT_USER_DEFINED ||
                   ((ty == GPTC_TT_CONTROL || ty == GPTC_TT_UNKNOWN) && st.special);
        if (show)
            for (uint64_t i = 0; i < tok->tbytes[id].n; i++)
                feed(&st, (uint8_t)tok->tbytes[id].p[i], &o);
        goto out;
    }
    const uint8_t *s = (const uint8_t *)p.p;
    /* a BYTE token without a "<0xNN>" piece prints as text */
    int type =
        tok->type[id] == GPTC_TT_BYTE && tok->byte_of[id] < 0 ? GPTC_TT_NORMAL : tok->type[id];
    switch (type) {
    case GPTC_TT_BYTE:
        st.strip_space = 0;
        feed(&st, (uint8_t)tok->byte_of[id], &o);
        break;
    case GPTC_TT_NORMAL:
        for (uint64_t i = 0; i < p.n;) {
            uint8_t b = s[i];
            size_t step = 1;
            if (b == 0xE2 && i + 2 < p.n && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
                b = ' ';
                step = 3;
            }
            i += step;
            if (st.strip_space && b == ' ') {
                st.strip_space = 0;
                continue;
            }
            st.strip_space = 0;
            feed(&st, b, &o);
        }
        break;
    case GPTC_TT_USER_DEFINED:
        for (uint64_t i = 0; i < p.n; i++) {
            if (st.strip_space && s[i] == ' ' && i == 0) {
                st.strip_space = 0;
                continue;
            }
            st.strip_space = 0;
            feed(&st, s[i], &o);
        }
        break;
    case GPTC_TT_CONTROL:
    case GPTC_TT_UNKNOWN:
        if (st.special)
            for (uint64_t i = 0; i < p.n; i++)
                feed(&st, s[i], &o);
        break;
    default: /* UNUSED, UNDEFINED */
        break;
    }
out:
    if (o.n > cap)
        return gptc_fail(err, GPTC_E_INVALID,
                         "gptc_detok_push: token %d needs %zu bytes of output, the buffer has %zu",
                         (int)id, o.n, cap);
    *d = st;
    *n_out = o.n;
    gptc_err_clear(err);
    return GPTC_OK;
}

size_t gptc_detok_flush(gptc_detok *d, char *out, size_t cap)
{
    if (!d || d->n_pending == 0) return 0;
    if (!out || cap < 3) return 0; /* keep it pending: the caller can retry with room */
    memcpy(out, "\xef\xbf\xbd", 3);
    d->n_pending = 0;
    return 3;
}

/* ----------------------------------------------------------------------------------------------
 * whole-buffer decode: the raw bytes, no UTF-8 repair
 */
gptc_status gptc_tok_decode(const gptc_tokenizer *tok, const int32_t *ids, size_t n, int special,
                            char *out, size_t cap, size_t *n_out, gptc_err *err)
{
    if (n_out) *n_out = 0;
    if (!tok || !n_out || (!ids && n) || (!out && cap))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_tok_decode: NULL argument");
    sink o = {out, cap, 0};
    for (size_t k = 0; k < n; k++) {
        int32_t id = ids[k];
        if (id < 0 || id >= tok->n_vocab)
            return gptc_fail(err, GPTC_E_RANGE,
                             "token id %d (at %zu) is outside the vocabulary (%d tokens)", (int)id,
                             k, tok->n_vocab);
        uint8_t ty = tok->type[id];
        int ctl = ty == GPTC_TT_CONTROL || ty == GPTC_TT_UNKNOWN;
        gptc_str p = tok->piece[id];
        if (tok->kind == GPTC_TOK_BPE) {
            if (ty == GPTC_TT_NORMAL || ty == GPTC_TT_USER_DEFINED || (ctl && special))
                put(&o, tok->tbytes[id].p, tok->tbytes[id].n);
            continue;
        }
        if (ty == GPTC_TT_BYTE && tok->byte_of[id] >= 0) {
            uint8_t b = (uint8_t)tok->byte_of[id];
            put(&o, &b, 1);
        } else if (ty == GPTC_TT_NORMAL || ty == GPTC_TT_BYTE) {
            for (uint64_t i = 0; i < p.n; i++) {
                if (i + 2 < p.n && memcmp(p.p + i, "\xe2\x96\x81", 3) == 0) {
                    put(&o, " ", 1);
                    i += 2;
                } else {
                    put(&o, p.p + i, 1);
                }
            }
        } else if (ty == GPTC_TT_USER_DEFINED || (ctl && special)) {
            put(&o, p.p, p.n);
        }
    }
    *n_out = o.n;
    gptc_err_clear(err);
    return GPTC_OK;
}
