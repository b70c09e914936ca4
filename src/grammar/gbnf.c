/*
 * gbnf.c — the GBNF parser (llama.cpp's grammar format) and compiler to flat rules.
 *
 *   root  ::= item ("," ws item)*     # comments run to the end of the line
 *   item  ::= [a-zA-Z_] [a-zA-Z0-9_]{0,15} | "\u00e9" | [^"\\] | . | ( "x" | "y" )?
 *
 * A rule's body ends at a newline unless inside parentheses, after "::=" or after "|" (a line
 * that starts with "|" also continues the rule). Literals and classes are over Unicode
 * codepoints (the grammar text is UTF-8; escapes \xHH \uHHHH \UHHHHHHHH \t \n \r \\ \" \[ \]
 * \- \/). Repetition becomes rules: X* is R ::= X R | ε, X{m,n} is m copies of X then a chain
 * of n-m optional ones. Left recursion (through rules that can match the empty string too) is an
 * error: the matcher expands rules top-down and would not terminate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

typedef struct {
    gptc_gelem *v;
    int n, cap;
} evec;

typedef struct {
    evec *alts;
    int n, cap;
    char *name;
    int defined;
    int ref_line, ref_col; /* first reference, for "undefined rule" */
} prule;

typedef struct {
    uint32_t *v; /* lo, hi pairs */
    int n, cap;  /* in pairs */
    int neg;
} pclass;

typedef struct {
    const char *s, *end, *p;
    prule *rules;
    int n_rules, cap_rules;
    pclass *classes;
    int n_classes, cap_classes;
    long total; /* elements so far */
    gptc_err *err;
    int failed;
    int depth;
} parser;

static void *grow(void *p, int *cap, int need, size_t sz)
{
    if (need <= *cap) return p;
    int nc = *cap ? *cap : 4;
    while (nc < need)
        nc *= 2;
    void *q = realloc(p, (size_t)nc * sz);
    if (!q) return NULL;
    *cap = nc;
    return q;
}

static void where(const parser *ps, const char *at, int *line, int *col)
{
    int l = 1, c = 1;
    for (const char *q = ps->s; q < at && q < ps->end; q++) {
        if (*q == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int perr(parser *ps, const char *at, const char *fmt, const char *arg)
{
    if (ps->failed) return -1;
    int line, col;
    where(ps, at, &line, &col);
    char msg[200];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    gptc_fail(ps->err, GPTC_E_INVALID, "grammar: line %d col %d: %s", line, col, msg);
    ps->failed = 1;
    return -1;
}

static int nomem(parser *ps)
{
    if (!ps->failed) gptc_fail(ps->err, GPTC_E_NOMEM, "grammar: out of memory");
    ps->failed = 1;
    return -1;
}

static int push_elem(parser *ps, evec *e, int type, int val)
{
    if (++ps->total > GPTC_GBNF_MAX_ELEMS) {
        if (!ps->failed)
            gptc_fail(ps->err, GPTC_E_RANGE, "grammar: too large (more than %d elements)",
                      GPTC_GBNF_MAX_ELEMS);
        ps->failed = 1;
        return -1;
    }
    gptc_gelem *v = grow(e->v, &e->cap, e->n + 1, sizeof *v);
    if (!v) return nomem(ps);
    e->v = v;
    e->v[e->n].type = type;
    e->v[e->n].val = val;
    e->n++;
    return 0;
}

static int new_rule(parser *ps, const char *name, size_t nlen)
{
    if (ps->n_rules >= (1 << 20)) return perr(ps, ps->p, "too many rules%s", "");
    prule *r = grow(ps->rules, &ps->cap_rules, ps->n_rules + 1, sizeof *r);
    if (!r) return nomem(ps);
    ps->rules = r;
    prule *n = &ps->rules[ps->n_rules];
    memset(n, 0, sizeof *n);
    n->name = malloc(nlen + 1);
    if (!n->name) return nomem(ps);
    memcpy(n->name, name, nlen);
    n->name[nlen] = 0;
    return ps->n_rules++;
}

static int gen_rule(parser *ps, int parent)
{
    char buf[300];
    snprintf(buf, sizeof buf, "%.200s_%d", ps->rules[parent].name, ps->n_rules);
    int r = new_rule(ps, buf, strlen(buf));
    if (r >= 0) ps->rules[r].defined = 1;
    return r;
}

static evec *new_alt(parser *ps, int rule)
{
    prule *r = &ps->rules[rule];
    evec *a = grow(r->alts, &r->cap, r->n + 1, sizeof *a);
    if (!a) {
        nomem(ps);
        return NULL;
    }
    r->alts = a;
    memset(&r->alts[r->n], 0, sizeof(evec));
    return &r->alts[r->n++];
}

static int find_rule(parser *ps, const char *name, size_t nlen)
{
    for (int i = 0; i < ps->n_rules; i++)
        if (strlen(ps->rules[i].name) == nlen && memcmp(ps->rules[i].name, name, nlen) == 0)
            return i;
    return -1;
}

static int is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Skip blanks and comments; newlines too when nl. */
static void skip_space(parser *ps, int nl)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\r') {
            ps->p++;
        } else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else if (c == '\n' && nl) {
            ps->p++;
        } else {
            break;
        }
    }
}

/* At a newline at rule level: does the next non-blank line start with '|'? */
static int continues_with_bar(parser *ps)
{
    const char *save = ps->p;
    skip_space(ps, 1);
    int yes = ps->p < ps->end && *ps->p == '|';
    if (!yes) ps->p = save;
    return yes;
}

/* One UTF-8 codepoint from the grammar text. */
static int read_utf8(parser *ps, uint32_t *cp)
{
    const unsigned char *q = (const unsigned char *)ps->p;
    size_t left = (size_t)(ps->end - ps->p);
    unsigned c = q[0];
    int n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        ps->p++;
        return 0;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return perr(ps, ps->p, "invalid UTF-8 in the grammar%s", "");
    }
    if (left < (size_t)n) return perr(ps, ps->p, "invalid UTF-8 in the grammar%s", "");
    for (int i = 1; i < n; i++) {
        if ((q[i] & 0xC0) != 0x80) return perr(ps, ps->p, "invalid UTF-8 in the grammar%s", "");
        v = (v << 6) | (q[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return perr(ps, ps->p, "invalid UTF-8 in the grammar%s", "");
    *cp = v;
    ps->p += n;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A character of a literal or class, escapes included. */
static int read_char(parser *ps, uint32_t *cp)
{
    if (ps->p >= ps->end) return perr(ps, ps->p, "unexpected end of grammar%s", "");
    if (*ps->p == '\n') return perr(ps, ps->p, "unterminated literal or class%s", "");
    if (*ps->p != '\\') return read_utf8(ps, cp);
    const char *at = ps->p;
    ps->p++;
    if (ps->p >= ps->end) return perr(ps, at, "unfinished escape%s", "");
    char c = *ps->p++;
    int nhex = 0;
    switch (c) {
    case 'n':
        *cp = '\n';
        return 0;
    case 'r':
        *cp = '\r';
        return 0;
    case 't':
        *cp = '\t';
        return 0;
    case '\\':
    case '"':
    case '[':
    case ']':
    case '-':
    case '/':
    case '^':
        *cp = (uint32_t)c;
        return 0;
    case 'x':
        nhex = 2;
        break;
    case 'u':
        nhex = 4;
        break;
    case 'U':
        nhex = 8;
        break;
    default: {
        char s[2] = {c, 0};
        return perr(ps, at, "unknown escape \\%s", s);
    }
    }
    uint32_t v = 0;
    for (int i = 0; i < nhex; i++) {
        int h = ps->p < ps->end ? hexval(*ps->p) : -1;
        if (h < 0)
            return perr(ps, at, "escape needs %s hex digits",
                        nhex == 2   ? "2"
                        : nhex == 4 ? "4"
                                    : "8");
        v = v * 16 + (uint32_t)h;
        ps->p++;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return perr(ps, at, "escape is not a Unicode scalar value%s", "");
    *cp = v;
    return 0;
}

static int cmp_range(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;
}

static int add_class(parser *ps, pclass *c)
{
    pclass *v = grow(ps->classes, &ps->cap_classes, ps->n_classes + 1, sizeof *v);
    if (!v) {
        free(c->v);
        return nomem(ps);
    }
    ps->classes = v;
    /* sort and merge */
    if (c->n) qsort(c->v, (size_t)c->n, 2 * sizeof(uint32_t), cmp_range);
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        if (k && c->v[2 * i] <= c->v[2 * (k - 1) + 1] + 1) {
            if (c->v[2 * i + 1] > c->v[2 * (k - 1) + 1]) c->v[2 * (k - 1) + 1] = c->v[2 * i + 1];
        } else {
            c->v[2 * k] = c->v[2 * i];
            c->v[2 * k + 1] = c->v[2 * i + 1];
            k++;
        }
    }
    c->n = k;
    ps->classes[ps->n_classes] = *c;
    return ps->n_classes++;
}

static int single_class(parser *ps, uint32_t cp)
{
    pclass c = {0};
    c.v = malloc(2 * sizeof(uint32_t));
    if (!c.v) return nomem(ps);
    c.v[0] = c.v[1] = cp;
    c.n = c.cap = 1;
    return add_class(ps, &c);
}

static int parse_class(parser *ps)
{
    const char *at = ps->p;
    ps->p++; /* [ */
    pclass c = {0};
    if (ps->p < ps->end && *ps->p == '^') {
        c.neg = 1;
        ps->p++;
    }
    while (ps->p < ps->end && *ps->p != ']') {
        uint32_t lo, hi;
        if (read_char(ps, &lo)) goto fail;
        hi = lo;
        if (ps->p + 1 < ps->end && ps->p[0] == '-' && ps->p[1] != ']') {
            ps->p++;
            if (read_char(ps, &hi)) goto fail;
            if (hi < lo) {
                perr(ps, at, "character class range is reversed%s", "");
                goto fail;
            }
        }
        uint32_t *v = grow(c.v, &c.cap, c.n + 1, 2 * sizeof(uint32_t));
        if (!v) {
            nomem(ps);
            goto fail;
        }
        c.v = v;
        c.v[2 * c.n] = lo;
        c.v[2 * c.n + 1] = hi;
        c.n++;
    }
    if (ps->p >= ps->end) {
        perr(ps, at, "unterminated character class%s", "");
        goto fail;
    }
    ps->p++; /* ] */
    return add_class(ps, &c);
fail:
    free(c.v);
    return -1;
}

static int parse_alternates(parser *ps, int rule, int nested);

/* Append x (a single element) to e, {m,n} times (n < 0: unbounded). */
static int emit_repeat(parser *ps, int rule, evec *e, gptc_gelem x, long m, long n)
{
    for (long i = 0; i < m; i++)
        if (push_elem(ps, e, x.type, x.val)) return -1;
    if (n >= 0 && n == m) return 0;
    if (n < 0) {
        /* R ::= x R | ε */
        int r = gen_rule(ps, rule);
        if (r < 0) return -1;
        evec *a = new_alt(ps, r);
        if (!a || push_elem(ps, a, x.type, x.val) || push_elem(ps, a, GPTC_GE_REF, r)) return -1;
        if (!new_alt(ps, r)) return -1;
        return push_elem(ps, e, GPTC_GE_REF, r);
    }
    /* chain of n-m optionals: R_k ::= x R_{k-1} | ε, R_1 ::= x | ε */
    int prev = -1;
    for (long k = 1; k <= n - m; k++) {
        int r = gen_rule(ps, rule);
        if (r < 0) return -1;
        evec *a = new_alt(ps, r);
        if (!a || push_elem(ps, a, x.type, x.val)) return -1;
        if (prev >= 0 && push_elem(ps, a, GPTC_GE_REF, prev)) return -1;
        if (!new_alt(ps, r)) return -1;
        prev = r;
    }
    return push_elem(ps, e, GPTC_GE_REF, prev);
}

static int parse_int(parser *ps, long *v)
{
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return -1;
    long x = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        x = x * 10 + (*ps->p - '0');
        if (x > 100000000) x = 100000000;
        ps->p++;
    }
    *v = x;
    return 0;
}

/* The items of one alternative, appended to alternative `ai` of `rule`. */
static int parse_sequence(parser *ps, int rule, int ai, int nested)
{
    for (;;) {
        skip_space(ps, nested);
        if (ps->p >= ps->end) return 0;
        char c = *ps->p;
        const char *at = ps->p;
        evec item = {0};
        int err = 0;
        if (c == '"') {
            ps->p++;
            while (!err && ps->p < ps->end && *ps->p != '"') {
                uint32_t cp;
                int k;
                if (read_char(ps, &cp) || (k = single_class(ps, cp)) < 0 ||
                    push_elem(ps, &item, GPTC_GE_CHAR, k))
                    err = 1;
            }
            if (!err && ps->p >= ps->end) err = perr(ps, at, "unterminated string literal%s", "");
            if (!err) ps->p++;
        } else if (c == '[') {
            int k = parse_class(ps);
            err = k < 0 || push_elem(ps, &item, GPTC_GE_CHAR, k);
        } else if (c == '.') {
            ps->p++;
            pclass any = {0};
            any.neg = 1;
            int k = add_class(ps, &any);
            err = k < 0 || push_elem(ps, &item, GPTC_GE_CHAR, k);
        } else if (c == '(') {
            ps->p++;
            if (++ps->depth > 200) return perr(ps, at, "groups nested too deeply%s", "");
            int r = gen_rule(ps, rule);
            err = r < 0 || parse_alternates(ps, r, 1);
            ps->depth--;
            if (!err) {
                skip_space(ps, 1);
                if (ps->p >= ps->end || *ps->p != ')')
                    err = perr(ps, at, "missing ')' for this '('%s", "");
                else
                    ps->p++;
            }
            if (!err) err = push_elem(ps, &item, GPTC_GE_REF, r);
        } else if (is_name_char((unsigned char)c)) {
            const char *n0 = ps->p;
            while (ps->p < ps->end && is_name_char((unsigned char)*ps->p))
                ps->p++;
            /* a name followed by ::= starts the next rule: the sequence ends before it */
            const char *save = ps->p;
            skip_space(ps, 0);
            if (ps->end - ps->p >= 3 && memcmp(ps->p, "::=", 3) == 0) {
                ps->p = n0;
                return nested ? perr(ps, n0, "rule definition inside a group%s", "") : 0;
            }
            ps->p = save;
            int r = find_rule(ps, n0, (size_t)(save - n0));
            if (r < 0) {
                r = new_rule(ps, n0, (size_t)(save - n0));
                if (r >= 0) where(ps, n0, &ps->rules[r].ref_line, &ps->rules[r].ref_col);
            }
            err = r < 0 || push_elem(ps, &item, GPTC_GE_REF, r);
        } else {
            return 0; /* '|', ')', newline: the caller decides */
        }
        if (err) {
            free(item.v);
            return -1;
        }
        /* repetition */
        long m = 1, n = 1;
        int rep = 0;
        if (ps->p < ps->end) {
            char q = *ps->p;
            if (q == '*') m = 0, n = -1, rep = 1;
            if (q == '+') m = 1, n = -1, rep = 1;
            if (q == '?') m = 0, n = 1, rep = 1;
            if (rep) ps->p++;
            if (q == '{') {
                const char *b = ps->p++;
                skip_space(ps, 0);
                if (parse_int(ps, &m)) {
                    free(item.v);
                    return perr(ps, b, "expected a number after '{'%s", "");
                }
                skip_space(ps, 0);
                n = m;
                if (ps->p < ps->end && *ps->p == ',') {
                    ps->p++;
                    skip_space(ps, 0);
                    n = -1;
                    if (ps->p < ps->end && *ps->p != '}' && parse_int(ps, &n)) {
                        free(item.v);
                        return perr(ps, b, "expected a number or '}'%s", "");
                    }
                    skip_space(ps, 0);
                }
                if (ps->p >= ps->end || *ps->p != '}') {
                    free(item.v);
                    return perr(ps, b, "expected '}' to close the repetition%s", "");
                }
                ps->p++;
                if (n >= 0 && n < m) {
                    free(item.v);
                    return perr(ps, b, "repetition {m,n} with n < m%s", "");
                }
                if (m > GPTC_GBNF_MAX_REPEAT || n > GPTC_GBNF_MAX_REPEAT) {
                    free(item.v);
                    return perr(ps, b, "repetition count too large (most: 10000)%s", "");
                }
                rep = 1;
            }
        }
        evec *alt = &ps->rules[rule].alts[ai];
        if (!rep) {
            for (int i = 0; i < item.n && !err; i++)
                err = push_elem(ps, alt, item.v[i].type, item.v[i].val);
            free(item.v);
            if (err) return -1;
            continue;
        }
        gptc_gelem x;
        if (item.n == 1) {
            x = item.v[0];
            free(item.v);
        } else {
            /* the whole item (a literal of several characters, or empty) becomes a rule */
            int r = gen_rule(ps, rule);
            evec *a = r >= 0 ? new_alt(ps, r) : NULL;
            if (!a) {
                free(item.v);
                return -1;
            }
            *a = item;
            x.type = GPTC_GE_REF;
            x.val = r;
        }
        if (emit_repeat(ps, rule, &ps->rules[rule].alts[ai], x, m, n)) return -1;
    }
}

static int parse_alternates(parser *ps, int rule, int nested)
{
    for (;;) {
        if (!new_alt(ps, rule)) return -1;
        if (parse_sequence(ps, rule, ps->rules[rule].n - 1, nested)) return -1;
        skip_space(ps, nested);
        if (ps->p < ps->end && *ps->p == '\n' && !nested && continues_with_bar(ps)) {
        }
        if (ps->p < ps->end && *ps->p == '|') {
            ps->p++;
            skip_space(ps, 1);
            continue;
        }
        return 0;
    }
}

static int parse_all(parser *ps)
{
    skip_space(ps, 1);
    while (ps->p < ps->end) {
        const char *n0 = ps->p;
        while (ps->p < ps->end && is_name_char((unsigned char)*ps->p))
            ps->p++;
        if (ps->p == n0) return perr(ps, n0, "expected a rule name%s", "");
        size_t nlen = (size_t)(ps->p - n0);
        skip_space(ps, 0);
        if (ps->end - ps->p < 3 || memcmp(ps->p, "::=", 3) != 0)
            return perr(ps, ps->p, "expected '::=' after the rule name%s", "");
        ps->p += 3;
        int r = find_rule(ps, n0, nlen);
        if (r >= 0 && ps->rules[r].defined)
            return perr(ps, n0, "rule '%s' is defined twice", ps->rules[r].name);
        if (r < 0) r = new_rule(ps, n0, nlen);
        if (r < 0) return -1;
        ps->rules[r].defined = 1;
        skip_space(ps, 1);
        if (parse_alternates(ps, r, 0)) return -1;
        skip_space(ps, 0);
        if (ps->p < ps->end && *ps->p != '\n') {
            if (*ps->p == ')') return perr(ps, ps->p, "unexpected ')'%s", "");
            return perr(ps, ps->p, "unexpected character in rule%s", "");
        }
        skip_space(ps, 1);
    }
    return 0;
}

/* ----- checks: undefined rules, left recursion ----- */

static int check_rules(parser *ps, const char *root, int *root_id)
{
    for (int i = 0; i < ps->n_rules; i++) {
        if (!ps->rules[i].defined) {
            gptc_fail(ps->err, GPTC_E_INVALID, "grammar: line %d col %d: undefined rule '%s'",
                      ps->rules[i].ref_line, ps->rules[i].ref_col, ps->rules[i].name);
            return -1;
        }
    }
    *root_id = find_rule(ps, root, strlen(root));
    if (*root_id < 0) {
        gptc_fail(ps->err, GPTC_E_INVALID, "grammar: no rule named '%.100s' to start from", root);
        return -1;
    }
    int n = ps->n_rules;
    char *nullable = calloc((size_t)n + 1, 1);
    char *mark = calloc((size_t)n + 1, 1);
    int *stack = malloc(((size_t)n + 1) * 2 * sizeof(int));
    if (!nullable || !mark || !stack) {
        free(nullable);
        free(mark);
        free(stack);
        return nomem(ps);
    }
    /* nullable: fixed point */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < n; i++) {
            if (nullable[i]) continue;
            for (int a = 0; a < ps->rules[i].n && !nullable[i]; a++) {
                evec *e = &ps->rules[i].alts[a];
                int all = 1;
                for (int k = 0; k < e->n && all; k++)
                    all = e->v[k].type == GPTC_GE_REF && nullable[e->v[k].val];
                if (all) nullable[i] = 1, changed = 1;
            }
        }
    }
    /* left-corner graph: DFS with colours (1 on the path, 2 done); iterative */
    int rc = 0;
    for (int s = 0; s < n && !rc; s++) {
        if (mark[s]) continue;
        /* stack of (rule, next edge index) where edges are enumerated over alts x prefix */
        int sp = 0;
        stack[0] = s;
        stack[1] = 0;
        mark[s] = 1;
        sp = 1;
        while (sp > 0 && !rc) {
            int r = stack[2 * (sp - 1)];
            int ei = stack[2 * (sp - 1) + 1]++;
            /* find the ei-th left-corner reference of r */
            int found = -1, cnt = 0;
            for (int a = 0; a < ps->rules[r].n && found < 0; a++) {
                evec *e = &ps->rules[r].alts[a];
                for (int k = 0; k < e->n; k++) {
                    if (e->v[k].type != GPTC_GE_REF) break;
                    if (cnt++ == ei) {
                        found = e->v[k].val;
                        break;
                    }
                    if (!nullable[e->v[k].val]) break;
                }
            }
            if (found < 0) {
                mark[r] = 2;
                sp--;
                continue;
            }
            if (mark[found] == 1) {
                /* name the user's rule: a generated one carries its parent's name */
                gptc_fail(ps->err, GPTC_E_INVALID,
                          "grammar: rule '%.100s' is left-recursive (it can reach itself without "
                          "consuming input)",
                          ps->rules[found].name);
                rc = -1;
            } else if (mark[found] == 0) {
                mark[found] = 1;
                stack[2 * sp] = found;
                stack[2 * sp + 1] = 0;
                sp++;
            }
        }
    }
    free(nullable);
    free(mark);
    free(stack);
    return rc;
}

/* ----- flatten ----- */

static gptc_status flatten(parser *ps, int root, gptc_gbnf **out)
{
    gptc_gbnf *g = calloc(1, sizeof *g);
    if (!g) return gptc_fail(ps->err, GPTC_E_NOMEM, "grammar: out of memory");
    int n_alts = 0;
    long n_el = 0;
    for (int i = 0; i < ps->n_rules; i++) {
        n_alts += ps->rules[i].n;
        for (int a = 0; a < ps->rules[i].n; a++)
            n_el += ps->rules[i].alts[a].n + 1;
    }
    g->n_rules = ps->n_rules;
    g->root = root;
    g->n_elems = (int)n_el;
    g->elems = malloc((size_t)(n_el + 1) * sizeof *g->elems);
    g->rule_alt0 = malloc((size_t)g->n_rules * sizeof(int));
    g->rule_nalt = malloc((size_t)g->n_rules * sizeof(int));
    g->alts = malloc((size_t)(n_alts + 1) * sizeof(int));
    g->rule_names = calloc((size_t)g->n_rules, sizeof(char *));
    g->n_classes = ps->n_classes;
    g->classes = calloc((size_t)ps->n_classes + 1, sizeof *g->classes);
    long n_ranges = 0;
    for (int i = 0; i < ps->n_classes; i++)
        n_ranges += ps->classes[i].n;
    g->ranges = malloc((size_t)(n_ranges + 1) * 2 * sizeof(uint32_t));
    if (!g->elems || !g->rule_alt0 || !g->rule_nalt || !g->alts || !g->rule_names || !g->classes ||
        !g->ranges) {
        gptc_gbnf_free(g);
        return gptc_fail(ps->err, GPTC_E_NOMEM, "grammar: out of memory");
    }
    int pos = 0, ai = 0;
    for (int i = 0; i < ps->n_rules; i++) {
        g->rule_alt0[i] = ai;
        g->rule_nalt[i] = ps->rules[i].n;
        g->rule_names[i] = ps->rules[i].name;
        ps->rules[i].name = NULL;
        for (int a = 0; a < ps->rules[i].n; a++) {
            g->alts[ai++] = pos;
            evec *e = &ps->rules[i].alts[a];
            for (int k = 0; k < e->n; k++)
                g->elems[pos++] = e->v[k];
            g->elems[pos].type = GPTC_GE_END;
            g->elems[pos].val = i;
            pos++;
        }
    }
    uint32_t r0 = 0;
    for (int i = 0; i < ps->n_classes; i++) {
        pclass *c = &ps->classes[i];
        gptc_gclass *k = &g->classes[i];
        k->neg = c->neg;
        k->r0 = r0;
        k->nr = (uint32_t)c->n;
        if (c->n) memcpy(g->ranges + 2 * r0, c->v, (size_t)c->n * 2 * sizeof(uint32_t));
        r0 += (uint32_t)c->n;
        k->ascii[0] = k->ascii[1] = 0;
        for (int j = 0; j < c->n; j++)
            for (uint32_t cp = c->v[2 * j]; cp <= c->v[2 * j + 1] && cp < 128; cp++)
                k->ascii[cp >> 6] |= 1ull << (cp & 63);
        if (c->neg) k->ascii[0] = ~k->ascii[0], k->ascii[1] = ~k->ascii[1];
    }
    *out = g;
    return GPTC_OK;
}

int gptc_gclass_has(const gptc_gbnf *g, int cls, uint32_t cp)
{
    const gptc_gclass *k = &g->classes[cls];
    if (cp < 128) return (int)((k->ascii[cp >> 6] >> (cp & 63)) & 1);
    const uint32_t *r = g->ranges + 2 * k->r0;
    int in = 0;
    for (uint32_t i = 0; i < k->nr; i++) {
        if (cp < r[2 * i]) break;
        if (cp <= r[2 * i + 1]) {
            in = 1;
            break;
        }
    }
    return in ^ k->neg;
}

gptc_status gptc_gbnf_parse(const char *text, size_t len, const char *root, gptc_gbnf **out,
                            gptc_err *err)
{
    gptc_err_clear(err);
    if (!out) return gptc_fail(err, GPTC_E_INVALID, "grammar: out is NULL");
    *out = NULL;
    if (!text) return gptc_fail(err, GPTC_E_INVALID, "grammar: text is NULL");
    if (len > 16u << 20)
        return gptc_fail(err, GPTC_E_RANGE, "grammar: text too large (%zu bytes)", len);
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.s = ps.p = text;
    ps.end = text + len;
    ps.err = err;
    int root_id = -1;
    gptc_status st = GPTC_OK;
    if (parse_all(&ps) || check_rules(&ps, root ? root : "root", &root_id))
        st = err && err->status ? err->status : GPTC_E_INVALID;
    else
        st = flatten(&ps, root_id, out);
    for (int i = 0; i < ps.n_rules; i++) {
        for (int a = 0; a < ps.rules[i].n; a++)
            free(ps.rules[i].alts[a].v);
        free(ps.rules[i].alts);
        free(ps.rules[i].name);
    }
    free(ps.rules);
    for (int i = 0; i < ps.n_classes; i++)
        free(ps.classes[i].v);
    free(ps.classes);
    return st;
}

void gptc_gbnf_free(gptc_gbnf *g)
{
    if (!g) return;
    if (g->rule_names)
        for (int i = 0; i < g->n_rules; i++)
            free(g->rule_names[i]);
    free(g->rule_names);
    free(g->elems);
    free(g->rule_alt0);
    free(g->rule_nalt);
    free(g->alts);
    free(g->classes);
    free(g->ranges);
    free(g);
}
