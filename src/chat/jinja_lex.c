/*
 * gptc_jinja_lex.c — template source -> tokens, with Jinja2's whitespace rules as transformers
 * configures them:
 *
 *   - trim_blocks: the first newline after a block tag (%}) or a comment (#}) is dropped;
 *     `+%}` keeps it. Not after `}}`, and not after `{% raw %}`.
 *   - lstrip_blocks: spaces and tabs between the start of a line and a block tag or comment
 *     are dropped; `{%+` keeps them. Not before `{{`.
 *   - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` all after.
 *   - Inside unbalanced brackets `}}` and `%}` are operators, not tag ends (`{{ {'a': {}} }}`).
 *   - String literals decode Python's escapes (\n, \t, \xhh, \uhhhh, \Uhhhhhhhh, octal, \\,
 *     line continuation; an unknown escape keeps its backslash).
 *
 * "Whitespace" is Python's str.isspace() / regex \s: Unicode spaces count, not just ASCII.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_impl.h"

typedef struct lexer {
    const char *s;
    size_t n;
    jtok *toks;
    size_t nt, cap;
    gptc_err *err;
    /* position tracking for line/col (offsets only increase) */
    size_t pos_off;
    uint32_t pos_line, pos_col;
    int too_many; /* a push failed: JINJA_MAX_TOKENS */
} lexer;

static void where(lexer *L, size_t off, uint32_t *line, uint32_t *col)
{
    if (off < L->pos_off) { /* an earlier position: count again from the start */
        L->pos_off = 0;
        L->pos_line = 1;
        L->pos_col = 1;
    }
    for (size_t i = L->pos_off; i < off && i < L->n; i++) {
        if (L->s[i] == '\n') {
            L->pos_line++;
            L->pos_col = 1;
        } else if (((unsigned char)L->s[i] & 0xC0) != 0x80) {
            L->pos_col++;
        }
    }
    L->pos_off = off;
    *line = L->pos_line;
    *col = L->pos_col;
}

static gptc_status lfail(lexer *L, size_t off, gptc_status st, const char *what)
{
    uint32_t line, col;
    where(L, off, &line, &col);
    return gptc_fail(L->err, st, "template syntax error at line %u col %u: %s", line, col, what);
}

static jtok *push(lexer *L, uint8_t type, size_t off)
{
    if (L->nt >= JINJA_MAX_TOKENS) {
        L->too_many = 1;
        return NULL;
    }
    if (L->nt == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        jtok *t = realloc(L->toks, cap * sizeof *t);
        if (!t) return NULL;
        L->toks = t;
        L->cap = cap;
    }
    jtok *t = &L->toks[L->nt++];
    memset(t, 0, sizeof *t);
    t->type = type;
    where(L, off, &t->line, &t->col);
    return t;
}

/* The error of a failed push: too many tokens, or out of memory. */
static gptc_status push_fail(lexer *L)
{
    if (L->too_many)
        return gptc_fail(L->err, GPTC_E_RANGE, "template too large to parse (more than %u tokens)",
                         JINJA_MAX_TOKENS);
    return gptc_fail(L->err, GPTC_E_NOMEM, "template: out of memory");
}

static jstr *immortal(const char *p, size_t n)
{
    jstr *s = gptc_jstr_new(NULL, p, n);
    if (s) s->rc = JRC_IMMORTAL;
    return s;
}

/* Python whitespace at s[i]? *len: its byte length */
static int ws_at(const lexer *L, size_t i, size_t *len)
{
    if (i >= L->n) return 0;
    unsigned char c = (unsigned char)L->s[i];
    if (c < 0x80) {
        *len = 1;
        return gptc_ju_isspace(c);
    }
    uint32_t cp = ju8_dec(L->s + i, len);
    return gptc_ju_isspace(cp);
}

static size_t skip_ws(const lexer *L, size_t i)
{
    size_t len;
    while (ws_at(L, i, &len))
        i += len;
    return i;
}

static int starts(const lexer *L, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return i + k <= L->n && memcmp(L->s + i, lit, k) == 0;
}

/* Strip trailing whitespace of s[a..z) (str.rstrip) */
static size_t rstrip_end(const lexer *L, size_t a, size_t z)
{
    while (z > a) {
        size_t k = z - 1;
        while (k > a && ((unsigned char)L->s[k] & 0xC0) == 0x80)
            k--;
        size_t len;
        if (!ws_at(L, k, &len)) break;
        z = k;
    }
    return z;
}

/* Apply the opening tag's whitespace control to the text s[a..z) before it. */
static size_t text_end(const lexer *L, size_t a, size_t z, char sign, int lstrip_ok,
                       int line_starting)
{
    if (sign == '-') return rstrip_end(L, a, z);
    if (sign == '+' || !lstrip_ok) return z;
    size_t l = z;
    while (l > a && L->s[l - 1] != '\n')
        l--;
    if (l == a && !line_starting) return z;
    for (size_t i = l; i < z; i++)
        if (L->s[i] != ' ' && L->s[i] != '\t') return z;
    return l;
}

static gptc_status emit_data(lexer *L, size_t a, size_t z)
{
    if (z <= a) return GPTC_OK;
    jtok *t = push(L, JT_DATA, a);
    if (!t) return push_fail(L);
    if (!(t->s = immortal(L->s + a, z - a)))
        return gptc_fail(L->err, GPTC_E_NOMEM, "template: out of memory");
    return GPTC_OK;
}

/* End of a block-style closing delimiter ("%}" or "#}") at i: +X, -X\s*, X\n?. 0: none. */
static size_t block_close(const lexer *L, size_t i, char x)
{
    char plus[4] = {'+', x, '}', 0}, minus[4] = {'-', x, '}', 0}, plain[3] = {x, '}', 0};
    if (starts(L, i, plus)) return i + 3;
    if (starts(L, i, minus)) return skip_ws(L, i + 3);
    if (starts(L, i, plain)) return i + 2 < L->n && L->s[i + 2] == '\n' ? i + 3 : i + 2;
    return 0;
}

/* `{%[-+]?\s*NAME\s*` at i: offset after it, and the sign; 0 when it does not match */
static size_t tag_named(const lexer *L, size_t i, const char *name, char *sign)
{
    if (!starts(L, i, "{%")) return 0;
    size_t p = i + 2;
    *sign = 0;
    if (p < L->n && (L->s[p] == '-' || L->s[p] == '+')) *sign = L->s[p++];
    p = skip_ws(L, p);
    if (!starts(L, p, name)) return 0;
    p += strlen(name);
    return skip_ws(L, p);
}

/* `{% raw %}` at i: offset after the tag, 0 if not a raw tag. */
static size_t raw_begin(const lexer *L, size_t i, char *sign)
{
    size_t p = tag_named(L, i, "raw", sign);
    if (!p) return 0;
    if (starts(L, p, "-%}")) return skip_ws(L, p + 3);
    if (starts(L, p, "%}")) return p + 2;
    return 0;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode a string literal's body s[a..z) (Python unicode-escape after backslashreplace). */
static gptc_status decode_string(lexer *L, size_t a, size_t z, jstr **out)
{
    /* an escaped non-ASCII character can grow: 3 bytes "\\é" -> 4 bytes "\\xe9" */
    char *buf = malloc(4 * (z - a) + 16);
    if (!buf) return gptc_fail(L->err, GPTC_E_NOMEM, "template: out of memory");
    size_t o = 0, i = a;
    while (i < z) {
        char c = L->s[i];
        if (c != '\\') {
            buf[o++] = c;
            i++;
            continue;
        }
        char e = L->s[i + 1]; /* a backslash is always followed by a character here */
        i += 2;
        uint32_t cp = 0;
        int nhex = 0;
        switch (e) {
        case '\n':
            continue;
        case '\\':
            buf[o++] = '\\';
            continue;
        case '\'':
            buf[o++] = '\'';
            continue;
        case '"':
            buf[o++] = '"';
            continue;
        case 'a':
            buf[o++] = '\a';
            continue;
        case 'b':
            buf[o++] = '\b';
            continue;
        case 'f':
            buf[o++] = '\f';
            continue;
        case 'n':
            buf[o++] = '\n';
            continue;
        case 'r':
            buf[o++] = '\r';
            continue;
        case 't':
            buf[o++] = '\t';
            continue;
        case 'v':
            buf[o++] = '\v';
            continue;
        case 'x':
            nhex = 2;
            break;
        case 'u':
            nhex = 4;
            break;
        case 'U':
            nhex = 8;
            break;
        case 'N':
            free(buf);
            return lfail(L, i - 2, GPTC_E_UNSUPPORTED, "\\N{...} escapes are not supported");
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < z && L->s[i] >= '0' && L->s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(L->s[i++] - '0');
                o += gptc_utf8_put(cp, buf + o);
                continue;
            }
            if ((unsigned char)e >= 0x80) {
                /* backslashreplace turned the character into \xNN / \uNNNN / \UNNNNNNNN,
                 * whose backslash pairs with this one: the result is that text without it */
                size_t len;
                uint32_t u = ju8_dec(L->s + i - 1, &len);
                i += len - 1;
                char tmp[16];
                int k = u <= 0xFF     ? snprintf(tmp, sizeof tmp, "\\x%02x", u)
                        : u <= 0xFFFF ? snprintf(tmp, sizeof tmp, "\\u%04x", u)
                                      : snprintf(tmp, sizeof tmp, "\\U%08x", u);
                memcpy(buf + o, tmp, (size_t)k);
                o += (size_t)k;
                continue;
            }
            buf[o++] = '\\';
            buf[o++] = e;
            continue;
        }
        for (int k = 0; k < nhex; k++) {
            int h = i < z ? hexv(L->s[i]) : -1;
            if (h < 0) {
                free(buf);
                return lfail(L, i, GPTC_E_FORMAT, "truncated \\x, \\u or \\U escape in a string");
            }
            cp = cp * 16 + (uint32_t)h;
            i++;
        }
        if (cp > 0x10FFFF) {
            free(buf);
            return lfail(L, i, GPTC_E_FORMAT, "illegal Unicode character in a string escape");
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            free(buf);
            return lfail(L, i, GPTC_E_UNSUPPORTED, "surrogate code point in a string escape");
        }
        o += gptc_utf8_put(cp, buf + o);
    }
    *out = immortal(buf, o);
    free(buf);
    if (!*out) return gptc_fail(L->err, GPTC_E_NOMEM, "template: out of memory");
    return GPTC_OK;
}

/* Python's digits-with-underscores run: \d+(_\d+)* ; returns end or 0 */
static size_t digits_us(const lexer *L, size_t i)
{
    if (i >= L->n || L->s[i] < '0' || L->s[i] > '9') return 0;
    while (i < L->n && L->s[i] >= '0' && L->s[i] <= '9')
        i++;
    while (i + 1 < L->n && L->s[i] == '_' && L->s[i + 1] >= '0' && L->s[i + 1] <= '9') {
        i++;
        while (i < L->n && L->s[i] >= '0' && L->s[i] <= '9')
            i++;
    }
    return i;
}

static size_t match_float(const lexer *L, size_t i)
{
    if (i > 0 && L->s[i - 1] == '.') return 0;
    size_t p = digits_us(L, i);
    if (!p) return 0;
    size_t frac = 0;
    if (p < L->n && L->s[p] == '.') frac = digits_us(L, p + 1);
    size_t q = frac ? frac : p;
    if (q < L->n && (L->s[q] == 'e' || L->s[q] == 'E')) {
        size_t r = q + 1;
        if (r < L->n && (L->s[r] == '+' || L->s[r] == '-')) r++;
        size_t e = digits_us(L, r);
        if (e) return e;
    }
    return frac;
}

/* Integer literal at i: end offset (0: none) and value; *ovf on overflow */
static size_t match_int(const lexer *L, size_t i, int64_t *val, int *ovf)
{
    *ovf = 0;
    *val = 0;
    if (i >= L->n || L->s[i] < '0' || L->s[i] > '9') return 0;
    int base = 10;
    size_t p = i;
    if (L->s[i] == '0' && i + 1 < L->n) {
        char x = (char)(L->s[i + 1] | 32);
        base = x == 'b' ? 2 : x == 'o' ? 8 : x == 'x' ? 16 : 10;
        if (base != 10) p = i + 2;
    }
    uint64_t v = 0;
    size_t nd = 0;
    for (;;) {
        size_t q = p;
        if (q < L->n && L->s[q] == '_' && (nd || base != 10)) q++;
        int d = q < L->n ? hexv(L->s[q]) : -1;
        if (d < 0 || d >= base) break;
        if (base == 10 && nd == 0 && L->s[i] == '0' && d != 0) break; /* 0(_?0)* */
        if (base == 10 && L->s[i] == '0' && d != 0) break;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) *ovf = 1;
        v = v * (uint64_t)base + (uint64_t)d;
        nd++;
        p = q + 1;
    }
    if (base != 10 && nd == 0) { /* "0x" without digits: the integer 0, then a name */
        *val = 0;
        return i + 1;
    }
    if (v > (uint64_t)INT64_MAX) *ovf = 1;
    *val = (int64_t)v;
    return p;
}

static int name_start(unsigned char c)
{
    return c == '_' || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80;
}
static int name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

static const struct {
    const char *s;
    uint8_t op;
} k_ops[] = {
    {"//", JO_FLOORDIV}, {"**", JO_POW},   {"==", JO_EQ},      {"!=", JO_NE},      {">=", JO_GTEQ},
    {"<=", JO_LTEQ},     {"+", JO_ADD},    {"-", JO_SUB},      {"/", JO_DIV},      {"*", JO_MUL},
    {"%", JO_MOD},       {"~", JO_TILDE},  {"[", JO_LBRACKET}, {"]", JO_RBRACKET}, {"(", JO_LPAREN},
    {")", JO_RPAREN},    {"{", JO_LBRACE}, {"}", JO_RBRACE},   {">", JO_GT},       {"<", JO_LT},
    {"=", JO_ASSIGN},    {".", JO_DOT},    {":", JO_COLON},    {"|", JO_PIPE},     {",", JO_COMMA},
    {";", JO_SEMICOLON},
};

/* Tokens of one {{ }} or {% %} tag whose body starts at p. *end: offset after the closing
 * delimiter (with what whitespace control consumed). */
static gptc_status lex_tag(lexer *L, size_t p, int block, size_t *end)
{
    char stack[JINJA_MAX_NEST];
    int depth = 0;
    for (;;) {
        if (p >= L->n)
            return lfail(L, p, GPTC_E_FORMAT,
                         block ? "unexpected end of template, expected '%}'"
                               : "unexpected end of template, expected '}}'");
        if (depth == 0) {
            size_t e = 0;
            if (block) {
                e = block_close(L, p, '%');
            } else if (starts(L, p, "-}}")) {
                e = skip_ws(L, p + 3);
            } else if (starts(L, p, "}}")) {
                e = p + 2;
            }
            if (e) {
                if (!push(L, block ? JT_BLOCK_END : JT_VAR_END, p)) return push_fail(L);
                *end = e;
                return GPTC_OK;
            }
        }
        size_t len;
        if (ws_at(L, p, &len)) {
            p = skip_ws(L, p);
            continue;
        }
        unsigned char c = (unsigned char)L->s[p];
        size_t e;
        if ((e = match_float(L, p)) != 0) {
            char tmp[128];
            size_t k = 0;
            for (size_t i = p; i < e && k < sizeof tmp - 1; i++)
                if (L->s[i] != '_') tmp[k++] = L->s[i];
            tmp[k] = '\0';
            jtok *t = push(L, JT_FLOAT, p);
            if (!t) return push_fail(L);
            t->f = strtod(tmp, NULL);
            p = e;
            continue;
        }
        int64_t iv;
        int ovf;
        if ((e = match_int(L, p, &iv, &ovf)) != 0) {
            if (ovf) return lfail(L, p, GPTC_E_UNSUPPORTED, "integer literal beyond 64 bits");
            jtok *t = push(L, JT_INT, p);
            if (!t) return push_fail(L);
            t->i = iv;
            p = e;
            continue;
        }
        if (name_start(c)) {
            e = p;
            while (e < L->n && name_char((unsigned char)L->s[e])) {
                if ((unsigned char)L->s[e] >= 0x80 && ws_at(L, e, &len)) break;
                e += (unsigned char)L->s[e] >= 0x80 ? (ju8_dec(L->s + e, &len), len) : 1;
            }
            jtok *t = push(L, JT_NAME, p);
            if (!t) return push_fail(L);
            t->p = L->s + p;
            t->n = e - p;
            p = e;
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t q = p + 1;
            while (q < L->n && L->s[q] != (char)c)
                q += L->s[q] == '\\' && q + 1 < L->n ? 2 : 1;
            if (q >= L->n) return lfail(L, p, GPTC_E_FORMAT, "unterminated string literal");
            jtok *t = push(L, JT_STRING, p);
            if (!t) return push_fail(L);
            gptc_status st = decode_string(L, p + 1, q, &t->s);
            if (st != GPTC_OK) return st;
            p = q + 1;
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof k_ops / sizeof k_ops[0]; k++)
            if (starts(L, p, k_ops[k].s)) break;
        if (k == sizeof k_ops / sizeof k_ops[0]) {
            char msg[64];
            if (c >= 0x20 && c < 0x7F)
                snprintf(msg, sizeof msg, "unexpected character '%c'", c);
            else
                snprintf(msg, sizeof msg, "unexpected character 0x%02x", c);
            return lfail(L, p, GPTC_E_FORMAT, msg);
        }
        uint8_t op = k_ops[k].op;
        if (op == JO_LPAREN || op == JO_LBRACKET || op == JO_LBRACE) {
            if (depth >= JINJA_MAX_NEST)
                return lfail(L, p, GPTC_E_RANGE, "brackets nested too deeply");
            stack[depth++] = (char)op;
        } else if (op == JO_RPAREN || op == JO_RBRACKET || op == JO_RBRACE) {
            uint8_t want = op == JO_RPAREN     ? JO_LPAREN
                           : op == JO_RBRACKET ? JO_LBRACKET
                                               : JO_LBRACE;
            if (depth == 0 || (uint8_t)stack[depth - 1] != want) {
                char msg[48];
                snprintf(msg, sizeof msg, "unexpected '%s'", k_ops[k].s);
                return lfail(L, p, GPTC_E_FORMAT, msg);
            }
            depth--;
        }
        jtok *t = push(L, JT_OP, p);
        if (!t) return push_fail(L);
        t->op = op;
        p += strlen(k_ops[k].s);
    }
}

gptc_status gptc_jinja_lex(const char *src, size_t n, jtok **toks, size_t *n_toks, gptc_err *err)
{
    lexer L = {.s = src, .n = n, .err = err, .pos_line = 1, .pos_col = 1};
    gptc_status st = GPTC_OK;
    size_t i = 0;
    int line_starting = 1;
    while (i < n) {
        /* the next tag opener */
        size_t t = i;
        for (; t + 1 < n; t++)
            if (src[t] == '{' && (src[t + 1] == '{' || src[t + 1] == '%' || src[t + 1] == '#'))
                break;
        if (t + 1 >= n) {
            st = emit_data(&L, i, n);
            break;
        }
        char kind = src[t + 1];
        char sign = t + 2 < n && (src[t + 2] == '-' || src[t + 2] == '+') ? src[t + 2] : 0;
        char rsign = 0;
        size_t raw_end = kind == '%' ? raw_begin(&L, t, &rsign) : 0;
        st = emit_data(&L, i, text_end(&L, i, t, sign, kind != '{', line_starting));
        if (st != GPTC_OK) break;
        if (raw_end) {
            /* {% raw %} ... {% endraw %}: the body is text */
            size_t j, after = 0;
            char esign = 0;
            for (j = raw_end; j < n; j++) {
                size_t p = tag_named(&L, j, "endraw", &esign);
                if (p && (after = block_close(&L, p, '%')) != 0) break;
            }
            if (j >= n) {
                st = lfail(&L, t, GPTC_E_FORMAT, "missing {% endraw %}");
                break;
            }
            int ls = raw_end > 0 && src[raw_end - 1] == '\n';
            st = emit_data(&L, raw_end, text_end(&L, raw_end, j, esign, 1, ls));
            if (st != GPTC_OK) break;
            i = after;
            line_starting = src[after - 1] == '\n';
            continue;
        }
        size_t body = t + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            size_t j, after = 0;
            for (j = body; j < n; j++)
                if ((after = block_close(&L, j, '#')) != 0) break;
            if (!after) {
                st = lfail(&L, t, GPTC_E_FORMAT, "missing end of comment tag '#}'");
                break;
            }
            i = after;
            line_starting = src[after - 1] == '\n';
            continue;
        }
        int block = kind == '%';
        if (!push(&L, block ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, t)) {
            st = push_fail(&L);
            break;
        }
        size_t end = n;
        st = lex_tag(&L, body, block, &end);
        if (st != GPTC_OK) break;
        i = end;
        line_starting = src[end - 1] == '\n';
    }
    if (st == GPTC_OK && !push(&L, JT_EOF, n)) st = push_fail(&L);
    if (st != GPTC_OK) {
        gptc_jinja_tokens_free(L.toks, L.nt);
        return st;
    }
    *toks = L.toks;
    *n_toks = L.nt;
    return GPTC_OK;
}

void gptc_jinja_tokens_free(jtok *toks, size_t n)
{
    if (!toks) return;
    for (size_t i = 0; i < n; i++)
        if (toks[i].s) gptc_jstr_free_immortal(toks[i].s);
    free(toks);
}
