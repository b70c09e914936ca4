/*
 * schema.c — JSON schema -> GBNF.
 *
 * Each schema node becomes a rule; the JSON primitives (string, number, any value ...) are
 * shared rules emitted once. Objects list their properties in the schema's order: with
 * properties p0..pn-1, rule first_i ("nothing written yet, from p_i on") and after_i ("something
 * written, from p_i on") give every subset of the optional ones, in order, in linear size.
 * Extra properties are only generated when additionalProperties is a schema; absent or true
 * allows them in the schema's sense, but a generated object never needs them, so none are made.
 * Integer bounds become digit-wise ranges; everything the generator cannot guarantee is an error
 * naming the keyword (GPTC_E_UNSUPPORTED), never ignored.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/schema.h"
#include "grammar/schema_gen.h"

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}
static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}

typedef struct {
    json_t *doc;
    char *ref;
    int id;
} refmemo;

struct gptc_schema_gen {
    sbuf out;
    int next;
    unsigned prims; /* bit per primitive rule emitted */
    refmemo *refs;
    int n_refs, cap_refs;
    gptc_err *err;
    int failed;
    int depth;
    json_t *doc; /* the document $refs resolve in */
};

enum {
    P_WS = 1,
    P_CHAR = 2,
    P_STRING = 4,
    P_NUMBER = 8,
    P_INTEGER = 16,
    P_BOOL = 32,
    P_NULL = 64,
    P_VALUE = 128,
    P_DATE = 256,
    P_TIME = 512,
    P_UUID = 1024,
};

static void prim(gptc_schema_gen *s, unsigned p);

static int fail(gptc_schema_gen *s, gptc_status st, const char *path, const char *fmt,
                const char *arg)
{
    if (s->failed) return -1;
    char msg[200];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    gptc_fail(s->err, st, "json schema: %s%s%s", msg, path && *path ? " at " : "",
              path && *path ? path : "");
    s->failed = 1;
    return -1;
}

/* Append a GBNF string literal of n bytes. */
static void lit(sbuf *b, const char *p, size_t n)
{
    sb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"')
            sb_puts(b, "\\\"");
        else if (c == '\\')
            sb_puts(b, "\\\\");
        else if (c == '\n')
            sb_puts(b, "\\n");
        else if (c == '\r')
            sb_puts(b, "\\r");
        else if (c == '\t')
            sb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7F)
            sb_printf(b, "\\x%02X", c);
        else
            sb_putn(b, (const char *)&c, 1);
    }
    sb_puts(b, "\"");
}

/* A JSON value as a literal of its compact serialisation. */
static int lit_json(gptc_schema_gen *s, sbuf *b, json_t *v, const char *path)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!t) return fail(s, GPTC_E_NOMEM, path, "out of memory%s", "");
    lit(b, t, strlen(t));
    free(t);
    return 0;
}

static void prim(gptc_schema_gen *s, unsigned p)
{
    if (s->prims & p) return;
    s->prims |= p;
    sbuf *o = &s->out;
    switch (p) {
    case P_WS:
        sb_puts(o, "ws ::= | \" \"\n");
        break;
    case P_CHAR:
        sb_puts(o, "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
                   "[0-9a-fA-F]{4})\n");
        break;
    case P_STRING:
        prim(s, P_CHAR);
        sb_puts(o, "string ::= \"\\\"\" char* \"\\\"\"\n");
        break;
    case P_INTEGER:
        sb_puts(o, "integer ::= \"-\"? ([0-9] | [1-9] [0-9]{1,15})\n");
        break;
    case P_NUMBER:
        sb_puts(o, "number ::= \"-\"? ([0-9] | [1-9] [0-9]{1,15}) (\".\" [0-9]{1,16})? ([eE] "
                   "[-+]? [0-9]{1,2})?\n");
        break;
    case P_BOOL:
        sb_puts(o, "boolean ::= \"true\" | \"false\"\n");
        break;
    case P_NULL:
        sb_puts(o, "null ::= \"null\"\n");
        break;
    case P_VALUE:
        prim(s, P_WS);
        prim(s, P_STRING);
        prim(s, P_NUMBER);
        sb_puts(o, "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
                   "object ::= \"{\" ws (string ws \":\" ws value ws (\",\" ws string ws \":\" ws "
                   "value ws)*)? \"}\"\n"
                   "array ::= \"[\" ws (value ws (\",\" ws value ws)*)? \"]\"\n");
        break;
    case P_DATE:
        sb_puts(o, "date ::= [0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | [12] "
                   "[0-9] | \"3\" [01])\n");
        break;
    case P_TIME:
        sb_puts(o, "time ::= ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] "
                   "(\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] "
                   "[0-9])\n");
        break;
    case P_UUID:
        sb_puts(o, "uuid ::= [0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} "
                   "\"-\" [0-9a-f]{12}\n");
        break;
    }
}

static int gen(gptc_schema_gen *s, json_t *sc, const char *path);

static int new_id(gptc_schema_gen *s)
{
    return s->next++;
}

/* ----- integer ranges ----- */

/* Digits of x (x >= 0) into d; returns the count. */
static int digits(long long x, char *d)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    for (int i = 0; i < n; i++)
        d[i] = t[n - 1 - i];
    return n;
}

/* Same-length digit strings lo <= hi (as strings) -> GBNF alternatives. */
static void same_len(sbuf *b, const char *lo, const char *hi, int n)
{
    if (n == 0) {
        sb_puts(b, "\"\"");
        return;
    }
    if (n == 1) {
        sb_printf(b, "[%c-%c]", lo[0], hi[0]);
        return;
    }
    if (lo[0] == hi[0]) {
        sb_printf(b, "\"%c\" (", lo[0]);
        same_len(b, lo + 1, hi + 1, n - 1);
        sb_puts(b, ")");
        return;
    }
    char nines[24], zeros[24];
    memset(nines, '9', sizeof nines);
    memset(zeros, '0', sizeof zeros);
    sb_printf(b, "\"%c\" (", lo[0]);
    same_len(b, lo + 1, nines, n - 1);
    sb_puts(b, ")");
    if (lo[0] + 1 <= hi[0] - 1) sb_printf(b, " | [%c-%c] [0-9]{%d}", lo[0] + 1, hi[0] - 1, n - 1);
    sb_printf(b, " | \"%c\" (", hi[0]);
    same_len(b, zeros, hi + 1, n - 1);
    sb_puts(b, ")");
}

/* Non-negative integers in [lo, hi] (hi < 0: unbounded), alternatives. */
static void nonneg(sbuf *b, long long lo, long long hi)
{
    char dl[24], dh[24];
    int nl = digits(lo, dl);
    int nh = hi >= 0 ? digits(hi, dh) : 19;
    int first = 1;
    for (int n = nl; n <= nh; n++) {
        char a[24], z[24];
        if (n == nl) {
            memcpy(a, dl, (size_t)n);
        } else {
            a[0] = '1';
            memset(a + 1, '0', (size_t)n - 1);
        }
        if (hi >= 0 && n == nh) {
            memcpy(z, dh, (size_t)n);
        } else if (hi < 0 && n == nl) {
            memset(z, '9', (size_t)n);
        } else if (hi < 0) {
            /* every longer number: one rule */
            if (!first) sb_puts(b, " | ");
            sb_printf(b, "[1-9] [0-9]{%d,15}", n - 1);
            return;
        } else {
            memset(z, '9', (size_t)n);
        }
        if (!first) sb_puts(b, " | ");
        first = 0;
        sb_puts(b, "(");
        same_len(b, a, z, n);
        sb_puts(b, ")");
    }
}

static int get_num(json_t *sc, const char *k, double *v)
{
    json_t *x = json_object_get(sc, k);
    if (!x || !json_is_number(x)) return 0;
    *v = json_number_value(x);
    return 1;
}

static int integer_rule(gptc_schema_gen *s, json_t *sc, const char *path, sbuf *b)
{
    double mn = 0, mx = 0, emn = 0, emx = 0;
    int hmn = get_num(sc, "minimum", &mn), hmx = get_num(sc, "maximum", &mx);
    int hemn = get_num(sc, "exclusiveMinimum", &emn), hemx = get_num(sc, "exclusiveMaximum", &emx);
    if (!hmn && !hmx && !hemn && !hemx) {
        prim(s, P_INTEGER);
        sb_puts(b, "integer");
        return 0;
    }
    const double big = 1e15;
    long long lo = LLONG_MIN, hi = LLONG_MAX;
    if (hmn) lo = (long long)ceil(mn);
    if (hemn && (long long)floor(emn) + 1 > lo) lo = (long long)floor(emn) + 1;
    if (hmx) hi = (long long)floor(mx);
    if (hemx && (long long)ceil(emx) - 1 < hi) hi = (long long)ceil(emx) - 1;
    if ((hmn && fabs(mn) > big) || (hmx && fabs(mx) > big) || (hemn && fabs(emn) > big) ||
        (hemx && fabs(emx) > big))
        return fail(s, GPTC_E_UNSUPPORTED, path, "integer bounds beyond 1e15 are not supported%s",
                    "");
    if (lo != LLONG_MIN && hi != LLONG_MAX && lo > hi)
        return fail(s, GPTC_E_INVALID, path, "integer range is empty (minimum > maximum)%s", "");
    sb_puts(b, "(");
    int any = 0;
    /* negative part: -(n) for n in [max(1, -hi), -lo] */
    if (lo < 0) {
        long long nlo = hi == LLONG_MAX || hi >= 0 ? 1 : -hi;
        long long nhi = lo == LLONG_MIN ? -1 : -lo;
        sb_puts(b, "\"-\" (");
        nonneg(b, nlo, nhi);
        sb_puts(b, ")");
        any = 1;
    }
    if (hi >= 0) {
        if (any) sb_puts(b, " | ");
        nonneg(b, lo < 0 ? 0 : lo, hi == LLONG_MAX ? -1 : hi);
    }
    sb_puts(b, ")");
    return 0;
}

/* ----- pattern: a regex subset -> GBNF ----- */

typedef struct {
    const char *p, *end;
    int bad;
    const char *what;
} rx;

static void rx_alt(rx *r, sbuf *b, int depth);

/* a regex metacharacter that a backslash makes literal */
static int is_meta(char e)
{
    return e && strchr("-.[]^/()*+?{}|$", e) != NULL;
}

static int rx_class_char(rx *r, sbuf *b)
{
    char c = *r->p;
    if (c == '"' || (unsigned char)c < 0x20) {
        r->bad = 1;
        r->what = "a quote or control character in a class";
        return -1;
    }
    if (c == '\\') {
        r->p++;
        if (r->p >= r->end) return r->bad = 1, -1;
        char e = *r->p++;
        switch (e) {
        case 'd':
            sb_puts(b, "0-9");
            return 1;
        case 'w':
            sb_puts(b, "a-zA-Z0-9_");
            return 1;
        default:
            if (is_meta(e)) {
                sb_printf(b, "\\x%02X", (unsigned char)e);
                return 0;
            }
            r->bad = 1;
            r->what = "this escape in a class";
            return -1;
        }
    }
    /* copy one UTF-8 character */
    const char *q = r->p;
    r->p++;
    while (r->p < r->end && ((unsigned char)*r->p & 0xC0) == 0x80)
        r->p++;
    if (*q == ']' || *q == '[')
        sb_printf(b, "\\x%02X", (unsigned char)*q);
    else
        sb_putn(b, q, (size_t)(r->p - q));
    return 0;
}

static void rx_atom(rx *r, sbuf *b, int depth)
{
    char c = *r->p;
    if (c == '(') {
        r->p++;
        if (r->end - r->p >= 2 && r->p[0] == '?' && r->p[1] == ':')
            r->p += 2;
        else if (r->p < r->end && *r->p == '?') {
            r->bad = 1;
            r->what = "lookaround or named groups";
            return;
        }
        sb_puts(b, "(");
        rx_alt(r, b, depth + 1);
        if (r->p >= r->end || *r->p != ')') {
            r->bad = 1;
            r->what = "an unclosed group";
            return;
        }
        r->p++;
        sb_puts(b, ")");
    } else if (c == '[') {
        r->p++;
        sb_puts(b, "[");
        int neg = 0;
        if (r->p < r->end && *r->p == '^') {
            neg = 1;
            r->p++;
            sb_puts(b, "^\\x22\\x5C\\x00-\\x1F");
        }
        (void)neg;
        while (r->p < r->end && *r->p != ']' && !r->bad) {
            int cls = rx_class_char(r, b);
            if (cls < 0) return;
            if (!cls && r->p + 1 < r->end && *r->p == '-' && r->p[1] != ']') {
                r->p++;
                sb_puts(b, "-");
                if (rx_class_char(r, b)) {
                    r->bad = 1;
                    r->what = "a class range";
                    return;
                }
            }
        }
        if (r->p >= r->end) {
            r->bad = 1;
            r->what = "an unclosed class";
            return;
        }
        r->p++;
        sb_puts(b, "]");
    } else if (c == '.') {
        r->p++;
        sb_puts(b, "char");
    } else if (c == '\\') {
        r->p++;
        if (r->p >= r->end) {
            r->bad = 1;
            return;
        }
        char e = *r->p++;
        switch (e) {
        case 'd':
            sb_puts(b, "[0-9]");
            break;
        case 'w':
            sb_puts(b, "[a-zA-Z0-9_]");
            break;
        case 's':
            sb_puts(b, "(\" \" | \"\\\\t\" | \"\\\\n\" | \"\\\\r\")");
            break;
        case 'D':
            sb_puts(b, "[^0-9\\x22\\x5C\\x00-\\x1F]");
            break;
        case 'W':
            sb_puts(b, "[^a-zA-Z0-9_\\x22\\x5C\\x00-\\x1F]");
            break;
        case '\\':
            sb_puts(b, "\"\\\\\\\\\"");
            break;
        default:
            if (is_meta(e)) {
                lit(b, &e, 1);
                break;
            }
            r->bad = 1;
            r->what = "this escape";
            return;
        }
    } else if (c == '"') {
        r->p++;
        sb_puts(b, "\"\\\\\\\"\"");
    } else if ((unsigned char)c < 0x20) {
        r->bad = 1;
        r->what = "a control character";
    } else {
        const char *q = r->p;
        r->p++;
        while (r->p < r->end && ((unsigned char)*r->p & 0xC0) == 0x80)
            r->p++;
        lit(b, q, (size_t)(r->p - q));
    }
}

static void rx_seq(rx *r, sbuf *b, int depth)
{
    int first = 1;
    while (r->p < r->end && !r->bad) {
        char c = *r->p;
        if (c == '|' || c == ')') break;
        if (c == '^' || c == '$') {
            r->bad = 1;
            r->what = "an anchor inside the pattern";
            return;
        }
        if (c == '*' || c == '+' || c == '?' || c == '{') {
            r->bad = 1;
            r->what = "a quantifier with nothing before it";
            return;
        }
        if (!first) sb_puts(b, " ");
        first = 0;
        sb_puts(b, "(");
        rx_atom(r, b, depth);
        sb_puts(b, ")");
        if (r->bad || r->p >= r->end) continue;
        c = *r->p;
        if (c == '*' || c == '+' || c == '?') {
            sb_putn(b, &c, 1);
            r->p++;
        } else if (c == '{') {
            /* {m}, {m,}, {m,n}: digits only (at most 4 each) */
            const char *q = r->p++;
            int nd = 0, commas = 0, ok = 1;
            while (r->p < r->end && *r->p != '}') {
                if (*r->p == ',' && !commas && nd) {
                    commas = 1;
                    nd = 0;
                } else if (*r->p >= '0' && *r->p <= '9' && nd < 4) {
                    nd++;
                } else {
                    ok = 0;
                }
                r->p++;
            }
            if (r->p >= r->end || !ok || (!commas && !nd)) {
                r->bad = 1;
                r->what = "a malformed {m,n} quantifier";
                return;
            }
            r->p++;
            sb_putn(b, q, (size_t)(r->p - q));
        }
        if (r->p < r->end && (*r->p == '?' || *r->p == '+')) {
            r->bad = 1;
            r->what = "lazy or possessive quantifiers";
            return;
        }
    }
    if (first) sb_puts(b, "\"\"");
}

static void rx_alt(rx *r, sbuf *b, int depth)
{
    if (depth > 50) {
        r->bad = 1;
        r->what = "groups nested too deeply";
        return;
    }
    rx_seq(r, b, depth);
    while (!r->bad && r->p < r->end && *r->p == '|') {
        r->p++;
        sb_puts(b, " | ");
        rx_seq(r, b, depth);
    }
}

static int pattern_rule(gptc_schema_gen *s, const char *pat, const char *path, sbuf *b)
{
    rx r = {pat, pat + strlen(pat), 0, NULL};
    int start = 0, end = 0;
    if (r.p < r.end && *r.p == '^') start = 1, r.p++;
    if (r.end > r.p && r.end[-1] == '$' && (r.end - 1 == r.p || r.end[-2] != '\\'))
        end = 1, r.end--;
    prim(s, P_CHAR);
    sbuf body = {0};
    rx_alt(&r, &body, 0);
    if (!r.bad && r.p != r.end) r.bad = 1, r.what = "an unmatched ')'";
    if (r.bad) {
        free(body.p);
        char msg[160];
        snprintf(msg, sizeof msg, "pattern '%.60s': %s is not in the supported subset", pat,
                 r.what ? r.what : "this construct");
        return fail(s, GPTC_E_UNSUPPORTED, path, "%s", msg);
    }
    /* what the translation cannot vouch for (a reversed range, an odd class) fails here */
    sbuf chk = {0};
    sb_puts(&chk, "root ::= (");
    sb_puts(&chk, body.p ? body.p : "\"\"");
    sb_puts(&chk, ")\nchar ::= \"a\"\n");
    gptc_gbnf *probe = NULL;
    gptc_err perr_;
    int bad_probe = chk.oom || gptc_gbnf_parse(chk.p, chk.n, NULL, &probe, &perr_) != GPTC_OK;
    gptc_gbnf_free(probe);
    free(chk.p);
    if (bad_probe) {
        free(body.p);
        char msg[160];
        snprintf(msg, sizeof msg, "pattern '%.60s' is not in the supported subset", pat);
        return fail(s, GPTC_E_UNSUPPORTED, path, "%s", msg);
    }
    sb_puts(b, "\"\\\"\" ");
    if (!start) sb_puts(b, "char* ");
    sb_puts(b, "(");
    sb_puts(b, body.p ? body.p : "\"\"");
    sb_puts(b, ")");
    if (!end) sb_puts(b, " char*");
    sb_puts(b, " \"\\\"\"");
    free(body.p);
    return body.oom ? fail(s, GPTC_E_NOMEM, path, "out of memory%s", "") : 0;
}

/* ----- the schema walk ----- */

static const char *k_ignored[] = {"title",    "description",   "$schema",  "$id",
                                  "default",  "examples",      "$comment", "deprecated",
                                  "readOnly", "writeOnly",     "$defs",    "definitions",
                                  "strict",   "discriminator", NULL};

static int ignored(const char *k)
{
    for (int i = 0; k_ignored[i]; i++)
        if (!strcmp(k, k_ignored[i])) return 1;
    return 0;
}

static int key_in(const char *k, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(k, list[i])) return 1;
    return 0;
}

/* Every keyword of sc must be in allowed (or ignorable). */
static int check_keys(gptc_schema_gen *s, json_t *sc, const char *const *allowed, const char *path)
{
    const char *k;
    json_t *v;
    json_object_foreach(sc, k, v)
    {
        if (ignored(k) || key_in(k, allowed)) continue;
        char msg[200];
        snprintf(msg, sizeof msg, "unsupported keyword '%.80s'", k);
        return fail(s, GPTC_E_UNSUPPORTED, path, "%s", msg);
    }
    return 0;
}

static int sub_path(char *out, size_t cap, const char *path, const char *seg)
{
    snprintf(out, cap, "%s/%s", path, seg);
    return 0;
}

static int string_rule(gptc_schema_gen *s, json_t *sc, const char *path, sbuf *b)
{
    json_t *fmt = json_object_get(sc, "format");
    json_t *pat = json_object_get(sc, "pattern");
    json_t *mnl = json_object_get(sc, "minLength"), *mxl = json_object_get(sc, "maxLength");
    int n_set = (fmt != NULL) + (pat != NULL) + (mnl != NULL || mxl != NULL);
    if (n_set > 1)
        return fail(s, GPTC_E_UNSUPPORTED, path,
                    "combining format, pattern and minLength/maxLength is not supported%s", "");
    if (fmt) {
        const char *f = json_string_value(fmt);
        if (!f) return fail(s, GPTC_E_INVALID, path, "format must be a string%s", "");
        if (!strcmp(f, "date")) {
            prim(s, P_DATE);
            sb_puts(b, "\"\\\"\" date \"\\\"\"");
        } else if (!strcmp(f, "time")) {
            prim(s, P_TIME);
            sb_puts(b, "\"\\\"\" time \"\\\"\"");
        } else if (!strcmp(f, "date-time")) {
            prim(s, P_DATE);
            prim(s, P_TIME);
            sb_puts(b, "\"\\\"\" date \"T\" time \"\\\"\"");
        } else if (!strcmp(f, "uuid")) {
            prim(s, P_UUID);
            sb_puts(b, "\"\\\"\" uuid \"\\\"\"");
        } else {
            char msg[120];
            snprintf(msg, sizeof msg, "unsupported keyword 'format' value '%.40s'", f);
            return fail(s, GPTC_E_UNSUPPORTED, path, "%s", msg);
        }
        return 0;
    }
    if (pat) {
        if (!json_is_string(pat))
            return fail(s, GPTC_E_INVALID, path, "pattern must be a string%s", "");
        return pattern_rule(s, json_string_value(pat), path, b);
    }
    if (mnl || mxl) {
        long long lo = 0, hi = -1;
        if (mnl) {
            if (!json_is_integer(mnl) || json_integer_value(mnl) < 0)
                return fail(s, GPTC_E_INVALID, path, "minLength must be a non-negative integer%s",
                            "");
            lo = json_integer_value(mnl);
        }
        if (mxl) {
            if (!json_is_integer(mxl) || json_integer_value(mxl) < 0)
                return fail(s, GPTC_E_INVALID, path, "maxLength must be a non-negative integer%s",
                            "");
            hi = json_integer_value(mxl);
        }
        if (lo > 10000 || hi > 10000)
            return fail(s, GPTC_E_UNSUPPORTED, path,
                        "string lengths above 10000 are not supported%s", "");
        if (hi >= 0 && hi < lo) return fail(s, GPTC_E_INVALID, path, "maxLength < minLength%s", "");
        prim(s, P_CHAR);
        if (hi < 0)
            sb_printf(b, "\"\\\"\" char{%lld,} \"\\\"\"", lo);
        else
            sb_printf(b, "\"\\\"\" char{%lld,%lld} \"\\\"\"", lo, hi);
        return 0;
    }
    prim(s, P_STRING);
    sb_puts(b, "string");
    return 0;
}

static int number_rule(gptc_schema_gen *s, json_t *sc, const char *path, sbuf *b)
{
    double v;
    if (get_num(sc, "maximum", &v) || get_num(sc, "exclusiveMaximum", &v) ||
        get_num(sc, "exclusiveMinimum", &v))
        return fail(s, GPTC_E_UNSUPPORTED, path,
                    "maximum/exclusiveMinimum/exclusiveMaximum on a number (not integer) are not "
                    "supported%s",
                    "");
    if (get_num(sc, "minimum", &v)) {
        if (v != 0)
            return fail(s, GPTC_E_UNSUPPORTED, path,
                        "minimum on a number is supported only as 0 (use type integer for other "
                        "bounds)%s",
                        "");
        sb_puts(b, "([0-9] | [1-9] [0-9]{1,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?");
        return 0;
    }
    prim(s, P_NUMBER);
    sb_puts(b, "number");
    return 0;
}

static int array_rule(gptc_schema_gen *s, json_t *sc, const char *path, sbuf *b)
{
    json_t *items = json_object_get(sc, "items");
    json_t *mni = json_object_get(sc, "minItems"), *mxi = json_object_get(sc, "maxItems");
    json_t *uniq = json_object_get(sc, "uniqueItems");
    if (uniq && !json_is_false(uniq))
        return fail(s, GPTC_E_UNSUPPORTED, path, "unsupported keyword 'uniqueItems'%s", "");
    long long lo = 0, hi = -1;
    if (mni) {
        if (!json_is_integer(mni) || json_integer_value(mni) < 0)
            return fail(s, GPTC_E_INVALID, path, "minItems must be a non-negative integer%s", "");
        lo = json_integer_value(mni);
    }
    if (mxi) {
        if (!json_is_integer(mxi) || json_integer_value(mxi) < 0)
            return fail(s, GPTC_E_INVALID, path, "maxItems must be a non-negative integer%s", "");
        hi = json_integer_value(mxi);
    }
    if (lo > 1000 || hi > 1000)
        return fail(s, GPTC_E_UNSUPPORTED, path, "minItems/maxItems above 1000 are not supported%s",
                    "");
    if (hi >= 0 && hi < lo) return fail(s, GPTC_E_INVALID, path, "maxItems < minItems%s", "");
    char p2[512];
    sub_path(p2, sizeof p2, path, "items");
    int item;
    char iname[32];
    if (items && json_is_object(items)) {
        item = gen(s, items, p2);
        if (item < 0) return -1;
        snprintf(iname, sizeof iname, "r%d", item);
    } else if (!items || json_is_true(items)) {
        prim(s, P_VALUE);
        snprintf(iname, sizeof iname, "value");
    } else {
        return fail(s, GPTC_E_UNSUPPORTED, path, "'items' must be a schema%s", "");
    }
    prim(s, P_WS);
    sb_puts(b, "\"[\" ws ");
    if (hi == 0) {
        sb_puts(b, "\"]\"");
        return 0;
    }
    /* first item, then (lo-1 .. hi-1) more */
    long long mlo = lo > 0 ? lo - 1 : 0, mhi = hi > 0 ? hi - 1 : -1;
    sb_printf(b, "%s(%s ws (\",\" ws %s ws)", lo == 0 ? "(" : "", iname, iname);
    if (mhi < 0)
        sb_printf(b, "{%lld,}", mlo);
    else
        sb_printf(b, "{%lld,%lld}", mlo, mhi);
    sb_puts(b, ")");
    if (lo == 0) sb_puts(b, ")?");
    sb_puts(b, " \"]\"");
    return 0;
}

/* Merge allOf of object schemas into one object schema (new reference). */
static json_t *merge_allof(gptc_schema_gen *s, json_t *sc, const char *path);

static int object_rule(gptc_schema_gen *s, json_t *sc, const char *path, sbuf *b)
{
    json_t *props = json_object_get(sc, "properties");
    json_t *req = json_object_get(sc, "required");
    json_t *addl = json_object_get(sc, "additionalProperties");
    if (props && !json_is_object(props))
        return fail(s, GPTC_E_INVALID, path, "'properties' must be an object%s", "");
    if (req && !json_is_array(req))
        return fail(s, GPTC_E_INVALID, path, "'required' must be an array%s", "");
    /* required names must be properties */
    size_t ri;
    json_t *rv;
    json_array_foreach(req, ri, rv)
    {
        if (!json_is_string(rv))
            return fail(s, GPTC_E_INVALID, path, "'required' must list strings%s", "");
        if (!props || !json_object_get(props, json_string_value(rv))) {
            if (addl && json_is_object(addl)) continue;
            char msg[160];
            snprintf(msg, sizeof msg, "required property '%.60s' is not in 'properties'",
                     json_string_value(rv));
            return fail(s, GPTC_E_UNSUPPORTED, path, "%s", msg);
        }
    }
    size_t n = props ? json_object_size(props) : 0;
    if (n > 1000) return fail(s, GPTC_E_UNSUPPORTED, path, "more than 1000 properties%s", "");
    int *kv = malloc((n + 1) * sizeof *kv);
    char *isreq = calloc(n + 1, 1);
    if (!kv || !isreq) {
        free(kv);
        free(isreq);
        return fail(s, GPTC_E_NOMEM, path, "out of memory%s", "");
    }
    prim(s, P_WS);
    size_t i = 0;
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(props, k, v)
    {
        char p2[512];
        snprintf(p2, sizeof p2, "%s/properties/%.200s", path, k);
        int vr = gen(s, v, p2);
        if (vr < 0) {
            rc = -1;
            break;
        }
        kv[i] = new_id(s);
        sbuf line = {0};
        sb_printf(&line, "r%d ::= ", kv[i]);
        json_t *ks = json_string(k);
        lit_json(s, &line, ks, p2);
        json_decref(ks);
        sb_printf(&line, " ws \":\" ws r%d\n", vr);
        sb_puts(&s->out, line.p ? line.p : "");
        free(line.p);
        json_array_foreach(req, ri, rv) if (!strcmp(json_string_value(rv), k)) isreq[i] = 1;
        i++;
    }
    /* extra properties */
    int extra = -1;
    if (!rc && addl && json_is_object(addl)) {
        char p2[512];
        sub_path(p2, sizeof p2, path, "additionalProperties");
        int vr = gen(s, addl, p2);
        if (vr < 0)
            rc = -1;
        else {
            prim(s, P_STRING);
            extra = new_id(s);
            sb_printf(&s->out, "r%d ::= string ws \":\" ws r%d\n", extra, vr);
        }
    } else if (!rc && addl && !json_is_boolean(addl)) {
        rc = fail(s, GPTC_E_INVALID, path, "'additionalProperties' must be a boolean or a schema%s",
                  "");
    }
    if (rc) {
        free(kv);
        free(isreq);
        return -1;
    }
    /* first_i / after_i chains */
    int base = s->next;
    s->next += 2 * ((int)n + 1);
#define FIRST(i) (base + 2 * (int)(i))
#define AFTER(i) (base + 2 * (int)(i) + 1)
    if (extra >= 0) {
        sb_printf(&s->out, "r%d ::= (r%d ws (\",\" ws r%d ws)*)?\n", FIRST(n), extra, extra);
        sb_printf(&s->out, "r%d ::= (\",\" ws r%d ws)*\n", AFTER(n), extra);
    } else {
        sb_printf(&s->out, "r%d ::= \"\"\n", FIRST(n));
        sb_printf(&s->out, "r%d ::= \"\"\n", AFTER(n));
    }
    for (size_t j = n; j-- > 0;) {
        if (isreq[j]) {
            sb_printf(&s->out, "r%d ::= r%d ws r%d\n", FIRST(j), kv[j], AFTER(j + 1));
            sb_printf(&s->out, "r%d ::= \",\" ws r%d ws r%d\n", AFTER(j), kv[j], AFTER(j + 1));
        } else {
            sb_printf(&s->out, "r%d ::= r%d ws r%d | r%d\n", FIRST(j), kv[j], AFTER(j + 1),
                      FIRST(j + 1));
            sb_printf(&s->out, "r%d ::= (\",\" ws r%d ws)? r%d\n", AFTER(j), kv[j], AFTER(j + 1));
        }
    }
    sb_printf(b, "\"{\" ws r%d \"}\"", FIRST(0));
#undef FIRST
#undef AFTER
    free(kv);
    free(isreq);
    return 0;
}

static json_t *resolve_ref(gptc_schema_gen *s, const char *ref, const char *path)
{
    if (!strcmp(ref, "#")) return s->doc;
    const char *name = NULL;
    json_t *defs = NULL;
    if (!strncmp(ref, "#/$defs/", 8)) {
        defs = json_object_get(s->doc, "$defs");
        name = ref + 8;
    } else if (!strncmp(ref, "#/definitions/", 14)) {
        defs = json_object_get(s->doc, "definitions");
        name = ref + 14;
    } else {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "$ref '%.80s': only #, #/$defs/NAME and #/definitions/NAME are supported", ref);
        fail(s, GPTC_E_UNSUPPORTED, path, "%s", msg);
        return NULL;
    }
    json_t *t = defs ? json_object_get(defs, name) : NULL;
    if (!t) {
        char msg[160];
        snprintf(msg, sizeof msg, "$ref '%.80s' names no definition", ref);
        fail(s, GPTC_E_INVALID, path, "%s", msg);
    }
    return t;
}

/* Rule for a schema; returns its id (rule "r<id>"). */
static int gen(gptc_schema_gen *s, json_t *sc, const char *path)
{
    if (s->failed) return -1;
    if (++s->depth > 64) {
        s->depth--;
        return fail(s, GPTC_E_UNSUPPORTED, path, "schema nested too deeply%s", "");
    }
    int id = -1;
    sbuf b = {0};
    int rc = 0;
    if (json_is_true(sc) || (json_is_object(sc) && json_object_size(sc) == 0)) {
        prim(s, P_VALUE);
        sb_puts(&b, "value");
        goto emit;
    }
    if (!json_is_object(sc)) {
        rc = fail(s, GPTC_E_UNSUPPORTED, path, "a schema must be an object or true%s", "");
        goto out;
    }
    json_t *ref = json_object_get(sc, "$ref");
    if (ref) {
        static const char *const ok[] = {"$ref", NULL};
        if (check_keys(s, sc, ok, path)) {
            rc = -1;
            goto out;
        }
        if (!json_is_string(ref)) {
            rc = fail(s, GPTC_E_INVALID, path, "$ref must be a string%s", "");
            goto out;
        }
        const char *r = json_string_value(ref);
        for (int i = 0; i < s->n_refs; i++)
            if (s->refs[i].doc == s->doc && !strcmp(s->refs[i].ref, r)) {
                id = s->refs[i].id;
                goto out;
            }
        json_t *t = resolve_ref(s, r, path);
        if (!t) {
            rc = -1;
            goto out;
        }
        id = new_id(s);
        refmemo *m = realloc(s->refs, (size_t)(s->n_refs + 1) * sizeof *m);
        char *copy = strdup(r);
        if (!m || !copy) {
            if (m) s->refs = m;
            free(copy);
            rc = fail(s, GPTC_E_NOMEM, path, "out of memory%s", "");
            goto out;
        }
        s->refs = m;
        s->refs[s->n_refs].doc = s->doc;
        s->refs[s->n_refs].ref = copy;
        s->refs[s->n_refs].id = id;
        s->n_refs++;
        int target = gen(s, t, r);
        if (target < 0) {
            rc = -1;
            goto out;
        }
        sb_printf(&s->out, "r%d ::= r%d\n", id, target);
        goto out;
    }
    json_t *en = json_object_get(sc, "enum"), *cn = json_object_get(sc, "const");
    if (en || cn) {
        static const char *const ok[] = {"enum", "const", "type", "nullable", NULL};
        if (check_keys(s, sc, ok, path)) {
            rc = -1;
            goto out;
        }
        if (en && cn) {
            rc = fail(s, GPTC_E_UNSUPPORTED, path, "enum together with const%s", "");
            goto out;
        }
        if (en) {
            if (!json_is_array(en) || json_array_size(en) == 0) {
                rc = fail(s, GPTC_E_INVALID, path, "enum must be a non-empty array%s", "");
                goto out;
            }
            size_t i;
            json_t *v;
            json_array_foreach(en, i, v)
            {
                if (i) sb_puts(&b, " | ");
                if (lit_json(s, &b, v, path)) {
                    rc = -1;
                    goto out;
                }
            }
        } else {
            if (lit_json(s, &b, cn, path)) {
                rc = -1;
                goto out;
            }
        }
        goto emit;
    }
    json_t *any = json_object_get(sc, "anyOf");
    if (!any) any = json_object_get(sc, "oneOf");
    if (any) {
        static const char *const ok[] = {"anyOf", "oneOf", NULL};
        if (check_keys(s, sc, ok, path)) {
            rc = -1;
            goto out;
        }
        if (json_object_get(sc, "anyOf") && json_object_get(sc, "oneOf")) {
            rc = fail(s, GPTC_E_UNSUPPORTED, path, "anyOf together with oneOf%s", "");
            goto out;
        }
        if (!json_is_array(any) || json_array_size(any) == 0) {
            rc = fail(s, GPTC_E_INVALID, path, "anyOf/oneOf must be a non-empty array%s", "");
            goto out;
        }
        size_t i;
        json_t *v;
        json_array_foreach(any, i, v)
        {
            char p2[512];
            snprintf(p2, sizeof p2, "%s/anyOf/%zu", path, i);
            int r = gen(s, v, p2);
            if (r < 0) {
                rc = -1;
                goto out;
            }
            sb_printf(&b, "%sr%d", i ? " | " : "", r);
        }
        goto emit;
    }
    json_t *all = json_object_get(sc, "allOf");
    if (all) {
        json_t *merged = merge_allof(s, sc, path);
        if (!merged) {
            rc = -1;
            goto out;
        }
        int r = gen(s, merged, path);
        json_decref(merged);
        if (r < 0) {
            rc = -1;
            goto out;
        }
        id = r;
        goto out;
    }
    /* by type */
    json_t *type = json_object_get(sc, "type");
    json_t *nullable = json_object_get(sc, "nullable");
    const char *types[8];
    int nt = 0, has_null = json_is_true(nullable);
    if (nullable && !json_is_boolean(nullable)) {
        rc = fail(s, GPTC_E_INVALID, path, "nullable must be a boolean%s", "");
        goto out;
    }
    if (json_is_string(type)) {
        types[nt++] = json_string_value(type);
    } else if (json_is_array(type)) {
        size_t i;
        json_t *v;
        json_array_foreach(type, i, v)
        {
            if (!json_is_string(v) || nt >= 7) {
                rc = fail(s, GPTC_E_INVALID, path, "type must be a string or a list of strings%s",
                          "");
                goto out;
            }
            types[nt++] = json_string_value(v);
        }
    } else if (type) {
        rc = fail(s, GPTC_E_INVALID, path, "type must be a string or a list of strings%s", "");
        goto out;
    } else {
        /* no type: infer from the keywords */
        if (json_object_get(sc, "properties") || json_object_get(sc, "additionalProperties") ||
            json_object_get(sc, "required"))
            types[nt++] = "object";
        else if (json_object_get(sc, "items") || json_object_get(sc, "minItems") ||
                 json_object_get(sc, "maxItems"))
            types[nt++] = "array";
        else if (json_object_get(sc, "pattern") || json_object_get(sc, "format") ||
                 json_object_get(sc, "minLength") || json_object_get(sc, "maxLength"))
            types[nt++] = "string";
        else if (json_object_get(sc, "minimum") || json_object_get(sc, "maximum"))
            types[nt++] = "number";
    }
    /* allowed keywords: the union of the types' */
    {
        const char *ok[32];
        int nok = 0;
        ok[nok++] = "type";
        ok[nok++] = "nullable";
        for (int t = 0; t < nt; t++) {
            const char *ty = types[t];
            if (!strcmp(ty, "string")) {
                ok[nok++] = "minLength", ok[nok++] = "maxLength", ok[nok++] = "format";
                ok[nok++] = "pattern";
            } else if (!strcmp(ty, "integer") || !strcmp(ty, "number")) {
                ok[nok++] = "minimum", ok[nok++] = "maximum", ok[nok++] = "exclusiveMinimum";
                ok[nok++] = "exclusiveMaximum";
            } else if (!strcmp(ty, "object")) {
                ok[nok++] = "properties", ok[nok++] = "required";
                ok[nok++] = "additionalProperties";
            } else if (!strcmp(ty, "array")) {
                ok[nok++] = "items", ok[nok++] = "minItems", ok[nok++] = "maxItems";
                ok[nok++] = "uniqueItems";
            } else if (!strcmp(ty, "boolean") || !strcmp(ty, "null")) {
            } else {
                char msg[120];
                snprintf(msg, sizeof msg, "unknown type '%.40s'", ty);
                rc = fail(s, GPTC_E_INVALID, path, "%s", msg);
                goto out;
            }
        }
        ok[nok] = NULL;
        if (check_keys(s, sc, ok, path)) {
            rc = -1;
            goto out;
        }
    }
    if (nt == 0) {
        prim(s, P_VALUE);
        sb_puts(&b, "value");
        goto emit;
    }
    for (int t = 0; t < nt; t++) {
        const char *ty = types[t];
        if (t) sb_puts(&b, " | ");
        sb_puts(&b, "(");
        if (!strcmp(ty, "string"))
            rc = string_rule(s, sc, path, &b);
        else if (!strcmp(ty, "integer"))
            rc = integer_rule(s, sc, path, &b);
        else if (!strcmp(ty, "number"))
            rc = number_rule(s, sc, path, &b);
        else if (!strcmp(ty, "boolean"))
            prim(s, P_BOOL), sb_puts(&b, "boolean");
        else if (!strcmp(ty, "null"))
            prim(s, P_NULL), sb_puts(&b, "null");
        else if (!strcmp(ty, "object"))
            rc = object_rule(s, sc, path, &b);
        else if (!strcmp(ty, "array"))
            rc = array_rule(s, sc, path, &b);
        sb_puts(&b, ")");
        if (rc) goto out;
    }
    if (has_null) {
        prim(s, P_NULL);
        sb_puts(&b, " | null");
    }
emit:
    id = new_id(s);
    sb_printf(&s->out, "r%d ::= %s\n", id, b.p ? b.p : "\"\"");
    if (b.oom) rc = fail(s, GPTC_E_NOMEM, path, "out of memory%s", "");
out:
    free(b.p);
    s->depth--;
    return rc || s->failed ? -1 : id;
}

static json_t *merge_allof(gptc_schema_gen *s, json_t *sc, const char *path)
{
    json_t *all = json_object_get(sc, "allOf");
    if (!json_is_array(all) || json_array_size(all) == 0) {
        fail(s, GPTC_E_INVALID, path, "allOf must be a non-empty array%s", "");
        return NULL;
    }
    json_t *m = json_object(), *props = json_object(), *req = json_array();
    json_t *addl = NULL;
    /* the schema's own object keywords count too */
    json_t *parts = json_array();
    json_t *self = json_deep_copy(sc);
    json_object_del(self, "allOf");
    json_array_append_new(parts, self);
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) json_array_append(parts, v);
    int bad = 0;
    json_array_foreach(parts, i, v)
    {
        json_t *part = v;
        json_t *ref = json_object_get(part, "$ref");
        if (ref && json_is_string(ref)) part = resolve_ref(s, json_string_value(ref), path);
        if (!part) {
            bad = 1;
            break;
        }
        const char *k;
        json_t *x;
        json_object_foreach(part, k, x)
        {
            if (ignored(k)) continue;
            if (!strcmp(k, "type")) {
                if (!json_is_string(x) || strcmp(json_string_value(x), "object")) {
                    fail(s, GPTC_E_UNSUPPORTED, path, "allOf is supported only for objects%s", "");
                    bad = 1;
                }
            } else if (!strcmp(k, "properties") && json_is_object(x)) {
                json_object_update(props, x);
            } else if (!strcmp(k, "required") && json_is_array(x)) {
                json_array_extend(req, x);
            } else if (!strcmp(k, "additionalProperties")) {
                if (!json_is_false(x)) {
                    fail(s, GPTC_E_UNSUPPORTED, path,
                         "allOf: additionalProperties other than false%s", "");
                    bad = 1;
                }
                addl = x;
            } else {
                char msg[120];
                snprintf(msg, sizeof msg, "allOf: unsupported keyword '%.60s' in a part", k);
                fail(s, GPTC_E_UNSUPPORTED, path, "%s", msg);
                bad = 1;
            }
            if (bad) break;
        }
        if (bad) break;
    }
    json_decref(parts);
    if (bad) {
        json_decref(m);
        json_decref(props);
        json_decref(req);
        return NULL;
    }
    json_object_set_new(m, "type", json_string("object"));
    json_object_set_new(m, "properties", props);
    json_object_set_new(m, "required", req);
    if (addl) json_object_set(m, "additionalProperties", addl);
    return m;
}

/* ----- API ----- */

gptc_schema_gen *gptc_schema_gen_new(gptc_err *err)
{
    gptc_schema_gen *s = calloc(1, sizeof *s);
    if (!s) gptc_fail(err, GPTC_E_NOMEM, "json schema: out of memory");
    return s;
}

void gptc_schema_gen_free(gptc_schema_gen *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_refs; i++)
        free(s->refs[i].ref);
    free(s->refs);
    free(s->out.p);
    free(s);
}

gptc_status gptc_schema_gen_add(gptc_schema_gen *s, json_t *schema, const char *rule, gptc_err *err)
{
    s->err = err;
    s->failed = 0;
    s->doc = schema;
    int r = gen(s, schema, "");
    if (r < 0) return err && err->status ? err->status : GPTC_E_INVALID;
    if (s->out.oom) return gptc_fail(err, GPTC_E_NOMEM, "json schema: out of memory");
    prim(s, P_WS);
    sb_printf(&s->out, "%s ::= r%d\n", rule, r);
    return GPTC_OK;
}

const char *gptc_schema_gen_text(gptc_schema_gen *s, size_t *len)
{
    *len = s->out.n;
    return s->out.p ? s->out.p : "";
}

void gptc_schema_gen_append(gptc_schema_gen *s, const char *text)
{
    sb_puts(&s->out, text);
}

gptc_status gptc_schema_to_gbnf(const char *schema, size_t len, char **gbnf, size_t *gbnf_len,
                                gptc_err *err)
{
    gptc_err_clear(err);
    *gbnf = NULL;
    *gbnf_len = 0;
    json_error_t je;
    json_t *j = json_loadb(schema, len, JSON_DECODE_ANY, &je);
    if (!j)
        return gptc_fail(err, GPTC_E_INVALID, "json schema: not JSON: %s (line %d)", je.text,
                         je.line);
    gptc_schema_gen *s = gptc_schema_gen_new(err);
    if (!s) {
        json_decref(j);
        return GPTC_E_NOMEM;
    }
    gptc_status st = gptc_schema_gen_add(s, j, "root", err);
    json_decref(j);
    if (st == GPTC_OK) {
        *gbnf = s->out.p;
        *gbnf_len = s->out.n;
        s->out.p = NULL;
    }
    gptc_schema_gen_free(s);
    return st;
}
