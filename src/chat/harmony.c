/*
 * harmony.c — the streaming parser of gpt-oss replies (harmony.h).
 *
 * Two states: in a header, bytes accumulate until "<|message|>", then the header is read for its
 * channel and recipient; in a body, bytes are reported except a tail that could still become
 * <|end|>, <|return|> or <|call|> (held until the next chunk decides).
 */
#include "chat/harmony.h"

#include <string.h>

enum { ST_HEADER = 0, ST_BODY, ST_DONE };

static const char *const k_term[3] = {"<|end|>", "<|return|>", "<|call|>"};
#define MSG_TOKEN "<|message|>"

void gptc_harmony_init(gptc_harmony *h)
{
    memset(h, 0, sizeof *h);
    h->state = ST_HEADER;
}

/* Find s (NUL-terminated) in b (n). */
static const char *find(const char *b, size_t n, const char *s)
{
    size_t m = strlen(s);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(b + i, s, m) == 0) return b + i;
    return NULL;
}

/* Copy the word after key ("to=") in the header into out (up to a space or '<'). */
static void word_after(const char *hdr, size_t n, const char *key, char *out, size_t cap)
{
    out[0] = 0;
    const char *p = find(hdr, n, key);
    if (!p) return;
    p += strlen(key);
    size_t k = 0;
    while (p < hdr + n && *p != ' ' && *p != '<' && k + 1 < cap)
        out[k++] = *p++;
    out[k] = 0;
}

static void parse_header(gptc_harmony *h)
{
    char channel[32];
    word_after(h->hdr, h->hdr_n, "<|channel|>", channel, sizeof channel);
    word_after(h->hdr, h->hdr_n, "to=", h->recipient, sizeof h->recipient);
    if (strcmp(channel, "analysis") == 0)
        h->kind = GPTC_HARMONY_REASONING;
    else if (strcmp(channel, "commentary") == 0 && h->recipient[0])
        h->kind = GPTC_HARMONY_TOOL_CALL;
    else
        h->kind = GPTC_HARMONY_CONTENT;
    if (h->kind != GPTC_HARMONY_TOOL_CALL) h->recipient[0] = 0;
}

static void emit(gptc_harmony *h, const char *t, size_t n, gptc_harmony_fn fn, void *ud)
{
    if (n) fn(ud, h->kind, h->recipient, h->kind == GPTC_HARMONY_TOOL_CALL ? h->n_calls : -1, t, n);
}

/* The longest suffix of b (n) that is a proper prefix of a terminator. */
static size_t partial_tail(const char *b, size_t n)
{
    size_t best = 0;
    for (int k = 0; k < 3; k++) {
        size_t m = strlen(k_term[k]);
        for (size_t l = m - 1; l > best; l--)
            if (l <= n && memcmp(b + n - l, k_term[k], l) == 0) {
                best = l;
                break;
            }
    }
    return best;
}

/* Body bytes b (n): report up to a terminator; returns the bytes consumed (all, or through the
 * terminator, which ends the message). */
static size_t body(gptc_harmony *h, const char *b, size_t n, gptc_harmony_fn fn, void *ud)
{
    const char *first = NULL;
    int which = -1;
    for (int k = 0; k < 3; k++) {
        const char *p = find(b, n, k_term[k]);
        if (p && (!first || p < first)) first = p, which = k;
    }
    if (!first) {
        size_t keep = partial_tail(b, n);
        emit(h, b, n - keep, fn, ud);
        memcpy(h->hold, b + n - keep, keep);
        h->hold_n = keep;
        return n;
    }
    emit(h, b, (size_t)(first - b), fn, ud);
    if (h->kind == GPTC_HARMONY_TOOL_CALL) h->n_calls++;
    h->hold_n = 0;
    h->hdr_n = 0;
    h->state = which == 0 ? ST_HEADER : ST_DONE;
    if (which > 0) h->ended = 1;
    return (size_t)(first - b) + strlen(k_term[which]);
}

void gptc_harmony_feed(gptc_harmony *h, const char *text, size_t n, gptc_harmony_fn fn, void *ud)
{
    while (n > 0 && h->state != ST_DONE) {
        if (h->state == ST_HEADER) {
            /* headers are short: accumulate (a runaway header is cut, its end kept) */
            size_t take = 0;
            const char *m = NULL;
            while (take < n) {
                if (h->hdr_n == sizeof h->hdr) {
                    memmove(h->hdr, h->hdr + 128, sizeof h->hdr - 128);
                    h->hdr_n -= 128;
                }
                h->hdr[h->hdr_n++] = text[take++];
                if (h->hdr_n >= strlen(MSG_TOKEN) && memcmp(h->hdr + h->hdr_n - strlen(MSG_TOKEN),
                                                            MSG_TOKEN, strlen(MSG_TOKEN)) == 0) {
                    m = text;
                    break;
                }
            }
            text += take;
            n -= take;
            if (m) {
                parse_header(h);
                h->state = ST_BODY;
                h->hold_n = 0;
            }
            continue;
        }
        /* body: the held tail first, joined with the new bytes */
        char buf[512];
        size_t hn = h->hold_n, take = n < sizeof buf - hn ? n : sizeof buf - hn;
        memcpy(buf, h->hold, hn);
        memcpy(buf + hn, text, take);
        size_t used = body(h, buf, hn + take, fn, ud);
        /* used counts bytes of buf: what came from text is used - hn (at least 0) */
        size_t from_text = used > hn ? used - hn : 0;
        if (h->state == ST_BODY) from_text = take; /* all consumed, tail held */
        text += from_text;
        n -= from_text;
    }
}

void gptc_harmony_finish(gptc_harmony *h, gptc_harmony_fn fn, void *ud)
{
    if (h->state == ST_BODY) {
        emit(h, h->hold, h->hold_n, fn, ud);
    } else if (h->state == ST_HEADER && h->hdr_n) {
        /* a header that never reached <|message|>: report it as content, nothing is lost */
        int kind = h->kind;
        h->kind = GPTC_HARMONY_CONTENT;
        h->recipient[0] = 0;
        emit(h, h->hdr, h->hdr_n, fn, ud);
        h->kind = kind;
    }
    h->hold_n = 0;
    h->hdr_n = 0;
    h->state = ST_DONE;
}
