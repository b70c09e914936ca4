/*
 * prompt.c — a conversation to prompt tokens, with special tokens only from the template.
 *
 * A chat template writes control tokens (<|im_start|>, <|eot_id|>, [INST] ...) as text, so the
 * rendered prompt must be tokenized with special-token parsing on. Message content is text from
 * a user: if it were parsed the same way, a user who types "<|im_end|>\n<|im_start|>system"
 * would close their own turn and forge a system turn (prompt injection).
 *
 * How the content is kept apart without changing what the template sees: before rendering,
 * every occurrence of a control token's text inside the data (every string and key of messages,
 * tools and the extra variables) is replaced by one private-use code point standing for it;
 * after rendering, each such code point in the output is replaced back by the token's text and
 * its bytes are marked literal, and the tokenizer (gptc_tok_encode_lit) reads no control token
 * over a literal byte. The rendered text is byte for byte what rendering the data as it is gives
 * (a template that measures or slices a string sees the placeholder as one character where the
 * token's text has several: only text that contains control-token strings can notice).
 * Placeholders are chosen among the code points of planes 15 and 16 (U+F0000..U+10FFFD) that
 * occur neither in the data nor in the template, so no text can forge one.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "core/base.h"
#include "core/utf8.h"

#define PUA_BASE 0xF0000u
#define PUA_COUNT 0x20000u /* planes 15 and 16 */
#define MAX_DEPTH 64

typedef struct ctl {
    const char *p;
    size_t n;
} ctl;

typedef struct mapper {
    const ctl *c; /* control texts, longest first */
    size_t n_c;
    uint32_t *first[256]; /* per first byte: indices into c, longest first */
    uint32_t n_first[256];
    uint8_t *used;    /* PUA_COUNT bits: code points present in data or template */
    uint32_t *cp_of;  /* (n_c) placeholder of control text i, 0 = none yet */
    uint32_t *ctl_of; /* (PUA_COUNT) control index + 1 of a placeholder, 0 = none */
    uint32_t next;    /* next candidate placeholder (offset from PUA_BASE) */
    char *buf;        /* scratch for one mapped string */
    size_t cap;
} mapper;

/* The code point of a 4-byte UTF-8 sequence in planes 15-16 at s (n bytes left), or 0. */
static uint32_t pua_at(const unsigned char *s, size_t n)
{
    if (n < 4 || (s[0] != 0xF3 && s[0] != 0xF4)) return 0;
    if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    uint32_t cp = ((uint32_t)(s[0] & 7) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
                  ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return cp >= PUA_BASE && cp < PUA_BASE + PUA_COUNT ? cp : 0;
}

static void mark_used(mapper *m, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i + 4 <= n; i++) {
        uint32_t cp = pua_at(s + i, n - i);
        if (cp) m->used[(cp - PUA_BASE) >> 3] |= (uint8_t)(1u << ((cp - PUA_BASE) & 7));
    }
}

static int scan_used(mapper *m, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) return -1;
    if (json_is_string(v)) {
        mark_used(m, json_string_value(v), json_string_length(v));
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (scan_used(m, json_array_get(v, i), depth + 1)) return -1;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(GPTC_UNCONST(json_t *, v), k, x)
        {
            mark_used(m, k, strlen(k));
            if (scan_used(m, x, depth + 1)) return -1;
        }
    }
    return 0;
}

/* The placeholder of control text i, allocated on first use; 0 when none is left. */
static uint32_t placeholder(mapper *m, uint32_t i)
{
    if (m->cp_of[i]) return m->cp_of[i];
    while (m->next < PUA_COUNT && ((m->used[m->next >> 3] >> (m->next & 7)) & 1))
        m->next++;
    if (m->next >= PUA_COUNT) return 0;
    /* skip the two noncharacters at the end of each plane */
    if ((m->next & 0xFFFE) == 0xFFFE) {
        m->next++;
        return placeholder(m, i);
    }
    uint32_t cp = PUA_BASE + m->next++;
    m->cp_of[i] = cp;
    m->ctl_of[cp - PUA_BASE] = i + 1;
    return cp;
}

static int buf_reserve(mapper *m, size_t need)
{
    if (need <= m->cap) return 0;
    size_t cap = m->cap ? m->cap : 256;
    while (cap < need)
        cap *= 2;
    char *b = realloc(m->buf, cap);
    if (!b) return -1;
    m->buf = b;
    m->cap = cap;
    return 0;
}

/* Map n bytes of p into m->buf; *out_n its length; *changed whether any control text was
 * found. -1: out of memory or no placeholder left. */
static int map_text(mapper *m, const char *p, size_t n, size_t *out_n, int *changed)
{
    *changed = 0;
    size_t o = 0;
    if (buf_reserve(m, n + 1)) return -1;
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)p[i];
        const uint32_t *cand = m->first[b];
        uint32_t hit = UINT32_MAX;
        for (uint32_t k = 0; k < m->n_first[b]; k++) {
            const ctl *c = &m->c[cand[k]];
            if (c->n <= n - i && memcmp(p + i, c->p, c->n) == 0) {
                hit = cand[k];
                break;
            }
        }
        if (hit == UINT32_MAX) {
            m->buf[o++] = p[i++];
            continue;
        }
        uint32_t cp = placeholder(m, hit);
        if (!cp) return -1;
        /* a 4-byte sequence replaces at least 1 byte: grow by the difference */
        if (buf_reserve(m, o + 4 + (n - i) + 1)) return -1;
        o += gptc_utf8_put(cp, m->buf + o);
        i += m->c[hit].n;
        *changed = 1;
    }
    m->buf[o] = '\0';
    *out_n = o;
    return 0;
}

/* A copy of v with every string and key mapped; NULL on failure (*err set). */
static json_t *map_json(mapper *m, const json_t *v, int depth, gptc_err *err)
{
    if (depth > MAX_DEPTH) {
        gptc_fail(err, GPTC_E_RANGE, "messages nested too deeply (more than %d levels)", MAX_DEPTH);
        return NULL;
    }
    size_t n;
    int changed;
    if (json_is_string(v)) {
        if (map_text(m, json_string_value(v), json_string_length(v), &n, &changed)) goto nomem;
        json_t *s =
            changed ? json_stringn_nocheck(m->buf, n) : json_incref(GPTC_UNCONST(json_t *, v));
        if (!s) goto nomem;
        return s;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        if (!a) goto nomem;
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = map_json(m, json_array_get(v, i), depth + 1, err);
            if (!x || json_array_append_new(a, x)) {
                json_decref(a);
                return x ? (gptc_fail(err, GPTC_E_NOMEM, "out of memory"), NULL) : NULL;
            }
        }
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        if (!o) goto nomem;
        const char *k;
        json_t *x;
        json_object_foreach(GPTC_UNCONST(json_t *, v), k, x)
        {
            json_t *y = map_json(m, x, depth + 1, err);
            if (!y) {
                json_decref(o);
                return NULL;
            }
            if (map_text(m, k, strlen(k), &n, &changed) ||
                json_object_setn_new_nocheck(o, changed ? m->buf : k, changed ? n : strlen(k), y)) {
                json_decref(o);
                goto nomem;
            }
        }
        return o;
    }
    return json_incref(GPTC_UNCONST(json_t *, v));
nomem:
    gptc_fail(err, GPTC_E_NOMEM, "out of memory (or too many distinct control-token strings)");
    return NULL;
}

static void mapper_free(mapper *m)
{
    for (int b = 0; b < 256; b++)
        free(m->first[b]);
    free(m->used);
    free(m->cp_of);
    free(m->ctl_of);
    free(m->buf);
    free(GPTC_UNCONST(void *, m->c));
}

static gptc_status mapper_init(mapper *m, const gptc_tokenizer *tok, gptc_err *err)
{
    memset(m, 0, sizeof *m);
    size_t n = gptc_tok_n_control(tok);
    ctl *c = calloc(n ? n : 1, sizeof *c);
    m->c = c;
    m->used = calloc(PUA_COUNT / 8, 1);
    m->cp_of = calloc(n ? n : 1, sizeof *m->cp_of);
    m->ctl_of = calloc(PUA_COUNT, sizeof *m->ctl_of);
    if (!c || !m->used || !m->cp_of || !m->ctl_of) goto nomem;
    for (size_t i = 0; i < n; i++) {
        c[i].p = gptc_tok_control_text(tok, i, &c[i].n);
        if (c[i].n) m->n_first[(unsigned char)c[i].p[0]]++;
    }
    m->n_c = n;
    for (int b = 0; b < 256; b++) {
        if (!m->n_first[b]) continue;
        m->first[b] = malloc(m->n_first[b] * sizeof *m->first[b]);
        if (!m->first[b]) goto nomem;
        m->n_first[b] = 0;
    }
    for (size_t i = 0; i < n; i++) /* gptc_tok_control_text keeps the longest-first order */
        if (c[i].n) {
            unsigned char b = (unsigned char)c[i].p[0];
            m->first[b][m->n_first[b]++] = (uint32_t)i;
        }
    return GPTC_OK;
nomem:
    mapper_free(m);
    return gptc_fail(err, GPTC_E_NOMEM, "out of memory");
}

gptc_status gptc_chat_render_lit(const gptc_chat_template *t, const json_t *messages,
                                 const json_t *tools, const gptc_chat_opts *opts,
                                 const gptc_tokenizer *tok, char **out, size_t *out_len,
                                 uint8_t **literal, gptc_err *err)
{
    if (!t || !messages || !out || !out_len || !literal)
        return gptc_fail(err, GPTC_E_INVALID, "gptc_chat_render_lit: NULL argument");
    *out = NULL;
    *out_len = 0;
    *literal = NULL;
    gptc_chat_opts dflt = gptc_chat_default_opts();
    if (!opts) opts = &dflt;

    mapper m;
    gptc_status st = mapper_init(&m, tok, err);
    if (st) return st;
    json_t *extra = NULL, *mmsg = NULL, *mtools = NULL, *mextra = NULL;
    char *extra_text = NULL, *text = NULL;
    size_t tn = 0;
    if (opts->extra_json) {
        json_error_t je;
        extra = json_loads(opts->extra_json, JSON_ALLOW_NUL, &je);
        if (!extra || !json_is_object(extra)) {
            st = gptc_fail(err, GPTC_E_FORMAT, "extra template variables: not a JSON object%s%s",
                           extra ? "" : ": ", extra ? "" : je.text);
            goto done;
        }
    }
    size_t src_n;
    const char *src = gptc_chat_template_source(t, &src_n);
    mark_used(&m, src, src_n);
    if (scan_used(&m, messages, 0) || (tools && scan_used(&m, tools, 0)) ||
        (extra && scan_used(&m, extra, 0))) {
        st = gptc_fail(err, GPTC_E_RANGE, "messages nested too deeply (more than %d levels)",
                       MAX_DEPTH);
        goto done;
    }
    if (!(mmsg = map_json(&m, messages, 0, err)) ||
        (tools && !(mtools = map_json(&m, tools, 0, err))) ||
        (extra && !(mextra = map_json(&m, extra, 0, err)))) {
        st = err && err->status ? err->status : GPTC_E_NOMEM;
        goto done;
    }
    gptc_chat_opts o = *opts;
    if (mextra) {
        extra_text = json_dumps(mextra, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!extra_text) {
            st = gptc_fail(err, GPTC_E_NOMEM, "out of memory");
            goto done;
        }
        o.extra_json = extra_text;
    }
    if ((st = gptc_chat_render_json(t, mmsg, mtools, &o, &text, &tn, err))) goto done;

    /* placeholders back to the control texts, marked literal */
    size_t need = 0;
    for (size_t i = 0; i < tn;) {
        uint32_t cp = pua_at((const unsigned char *)text + i, tn - i);
        uint32_t k = cp ? m.ctl_of[cp - PUA_BASE] : 0;
        need += k ? m.c[k - 1].n : 1;
        i += k ? 4 : 1;
    }
    char *res = malloc(need + 1);
    uint8_t *lit = calloc(need ? need : 1, 1);
    if (!res || !lit) {
        free(res);
        free(lit);
        st = gptc_fail(err, GPTC_E_NOMEM, "out of memory");
        goto done;
    }
    size_t o_n = 0;
    for (size_t i = 0; i < tn;) {
        uint32_t cp = pua_at((const unsigned char *)text + i, tn - i);
        uint32_t k = cp ? m.ctl_of[cp - PUA_BASE] : 0;
        if (k) {
            memcpy(res + o_n, m.c[k - 1].p, m.c[k - 1].n);
            memset(lit + o_n, 1, m.c[k - 1].n);
            o_n += m.c[k - 1].n;
            i += 4;
        } else {
            res[o_n++] = text[i++];
        }
    }
    res[o_n] = '\0';
    *out = res;
    *out_len = o_n;
    *literal = lit;
done:
    free(text);
    free(extra_text);
    json_decref(extra);
    json_decref(mmsg);
    json_decref(mtools);
    json_decref(mextra);
    mapper_free(&m);
    return st;
}

gptc_status gptc_chat_prompt(const gptc_chat_template *t, const json_t *messages,
                             const json_t *tools, const gptc_chat_opts *opts,
                             const gptc_tokenizer *tok, int32_t **ids, size_t *n_ids, char **text,
                             size_t *text_len, gptc_err *err)
{
    if (!tok || !ids || !n_ids)
        return gptc_fail(err, GPTC_E_INVALID, "gptc_chat_prompt: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    if (text) *text = NULL;
    if (text_len) *text_len = 0;
    char *s = NULL;
    size_t n = 0;
    uint8_t *lit = NULL;
    gptc_status st = gptc_chat_render_lit(t, messages, tools, opts, tok, &s, &n, &lit, err);
    if (st) return st;
    /* BOS from the tokenizer unless the template already wrote it */
    const char *bos = opts ? opts->bos_token : NULL;
    size_t bl = bos ? strlen(bos) : 0;
    int add_bos = gptc_tok_add_bos(tok) && !(bl && n >= bl && memcmp(s, bos, bl) == 0);
    size_t cnt = 0;
    int32_t *v = NULL;
    if (!(st = gptc_tok_encode_lit(tok, s, n, add_bos, lit, NULL, 0, &cnt, err))) {
        v = malloc((cnt ? cnt : 1) * sizeof *v);
        if (!v)
            st = gptc_fail(err, GPTC_E_NOMEM, "out of memory");
        else
            st = gptc_tok_encode_lit(tok, s, n, add_bos, lit, v, cnt, &cnt, err);
    }
    free(lit);
    if (st) {
        free(v);
        free(s);
        return st;
    }
    *ids = v;
    *n_ids = cnt;
    if (text) {
        *text = s;
        if (text_len) *text_len = n;
    } else {
        free(s);
    }
    return GPTC_OK;
}
