/*
 * jinja_parse.c — tokens -> syntax tree, by recursive descent with Jinja2's grammar and
 * operator precedence (lowest first):
 *
 *   tuple      expr (, expr)*                    only where Jinja allows a bare tuple
 *   condexpr   or [if or [else condexpr]]
 *   or / and / not
 *   compare    math1 ((== != < <= > >= in, not in) math1)*
 *   math1      concat ((+ -) concat)*
 *   concat     math2 (~ math2)*
 *   math2      pow ((* / // %) pow)*
 *   pow        unary (** unary)*                 left-associative, as in Jinja
 *   unary      - unary | + unary | primary postfix, then filters |f and tests `is t`
 *
 * Statements: if/elif/else, for (tuple targets, inline `if` filter, else), set (names, tuples,
 * namespace attributes, block form with filters), macro, call, filter, with, break, continue,
 * and transformers' {% generation %} (rendered as its body). Unknown filters and tests are
 * errors here, as Jinja2 reports them when it compiles. Nesting is bounded (JINJA_MAX_NEST).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Arena for nodes and their lists: freed in one go with the template
 */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} arena_chunk;

static void *arena_alloc(jinja_template *t, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n > JINJA_MAX_TREE || t->arena_bytes > JINJA_MAX_TREE - n) {
        t->tree_full = 1;
        return NULL;
    }
    t->arena_bytes += n;
    void **arena = &t->arena;
    arena_chunk *c = *arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        arena_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc) return NULL;
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        *arena = nc;
        c = nc;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(void *arena)
{
    arena_chunk *c = arena;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Parser state
 */
typedef struct parser {
    jinja_template *t;
    const jtok *tk;
    size_t i, n;
    gptc_err *err;
    int failed;
    gptc_status status;
    int nest;
    int loops;    /* enclosing for loops (inside the current macro) */
    jnode *macro; /* innermost macro or call block being parsed */
    /* Unknown filters and tests, as Jinja2 3.x treats them: inside an {% if %} or a
     * conditional expression (a "soft" frame: up to the nearest for/macro/call/filter/with/set
     * body) they fail only when evaluated; anywhere else the template is rejected. The
     * first hard ones are kept until the whole template has parsed (a conditional expression
     * makes the ones in its first operand soft after the fact). */
    int soft;
    uint32_t n_unk;
    struct {
        const jtok *at;
        int is_test;
    } unk[8];
} parser;

/* a growable node list while parsing; copied into the arena when done */
typedef struct nvec {
    jnode **v;
    uint32_t n, cap;
} nvec;

static const jtok *cur(parser *P)
{
    return &P->tk[P->i];
}
static const jtok *peek(parser *P, size_t k)
{
    return P->i + k < P->n ? &P->tk[P->i + k] : &P->tk[P->n - 1];
}
static void next(parser *P)
{
    if (P->i + 1 < P->n) P->i++;
}

static void *perr(parser *P, const jtok *at, gptc_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void *perr(parser *P, const jtok *at, gptc_status st, const char *fmt, ...)
{
    if (P->failed) return NULL;
    P->failed = 1;
    P->status = st;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *what = st == GPTC_E_UNSUPPORTED ? "unsupported" : "template syntax error";
    gptc_fail(P->err, st, "%s at line %u col %u: %s", what, at->line, at->col, msg);
    return NULL;
}

static void *nomem(parser *P)
{
    if (!P->failed) {
        P->failed = 1;
        if (P->t->tree_full) {
            P->status = GPTC_E_RANGE;
            gptc_fail(P->err, GPTC_E_RANGE,
                      "template too large to parse (its syntax tree needs more than %u MiB)",
                      JINJA_MAX_TREE >> 20);
        } else {
            P->status = GPTC_E_NOMEM;
            gptc_fail(P->err, GPTC_E_NOMEM, "template: out of memory");
        }
    }
    return NULL;
}

static int is_op(const jtok *t, uint8_t op)
{
    return t->type == JT_OP && t->op == op;
}
static int is_name(const jtok *t, const char *name)
{
    size_t k = strlen(name);
    return t->type == JT_NAME && t->n == k && memcmp(t->p, name, k) == 0;
}

static const char *tok_desc(const jtok *t, char *buf, size_t cap)
{
    switch (t->type) {
    case JT_EOF:
        return "end of template";
    case JT_DATA:
        return "template data";
    case JT_VAR_BEGIN:
        return "'{{'";
    case JT_VAR_END:
        return "'}}'";
    case JT_BLOCK_BEGIN:
        return "'{%'";
    case JT_BLOCK_END:
        return "'%}'";
    case JT_NAME:
        snprintf(buf, cap, "'%.*s'", (int)GPTC_MIN(t->n, 40), t->p);
        return buf;
    case JT_STRING:
        return "a string";
    case JT_INT:
    case JT_FLOAT:
        return "a number";
    default:
        snprintf(buf, cap, "operator");
        return buf;
    }
}

static int expect_op(parser *P, uint8_t op, const char *what)
{
    if (is_op(cur(P), op)) {
        next(P);
        return 0;
    }
    char b[64];
    perr(P, cur(P), GPTC_E_FORMAT, "expected '%s', got %s", what, tok_desc(cur(P), b, sizeof b));
    return -1;
}

static int expect_type(parser *P, uint8_t type, const char *what)
{
    if (cur(P)->type == type) {
        next(P);
        return 0;
    }
    char b[64];
    perr(P, cur(P), GPTC_E_FORMAT, "expected %s, got %s", what, tok_desc(cur(P), b, sizeof b));
    return -1;
}

static jnode *mk(parser *P, uint8_t kind, const jtok *at)
{
    jnode *n = arena_alloc(P->t, sizeof *n);
    if (!n) return nomem(P);
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    if (kind == JN_CONST) n->u.cval = jv_none();
    return n;
}

static int nv_push(parser *P, nvec *v, jnode *n)
{
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 4;
        jnode **p = realloc(v->v, cap * sizeof *p);
        if (!p) {
            nomem(P);
            return -1;
        }
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = n;
    return 0;
}

static jnlist nv_done(parser *P, nvec *v)
{
    jnlist l = {NULL, 0};
    if (v->n) {
        l.v = arena_alloc(P->t, v->n * sizeof *l.v);
        if (l.v) {
            memcpy(l.v, v->v, v->n * sizeof *l.v);
            l.n = v->n;
        } else {
            nomem(P);
        }
    }
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
    return l;
}

/* Intern a name: its symbol id */
static int intern(parser *P, const char *p, size_t n, uint32_t *sym)
{
    jinja_template *t = P->t;
    for (uint32_t i = 0; i < t->n_syms; i++)
        if (t->syms[i]->n == n && memcmp(t->syms[i]->p, p, n) == 0) {
            *sym = i;
            return 0;
        }
    if (t->n_syms == t->cap_syms) {
        uint32_t cap = t->cap_syms ? t->cap_syms * 2 : 32;
        jstr **s = realloc(t->syms, cap * sizeof *s);
        if (!s) {
            nomem(P);
            return -1;
        }
        t->syms = s;
        t->cap_syms = cap;
    }
    jstr *s = gptc_jstr_new(NULL, p, n);
    if (!s) {
        nomem(P);
        return -1;
    }
    s->rc = JRC_IMMORTAL;
    t->syms[t->n_syms] = s;
    *sym = t->n_syms++;
    return 0;
}

uint32_t gptc_jinja_sym_find(const jinja_template *t, const char *p, size_t n)
{
    for (uint32_t i = 0; i < t->n_syms; i++)
        if (t->syms[i]->n == n && memcmp(t->syms[i]->p, p, n) == 0) return i;
    return UINT32_MAX;
}

static jstr *name_str(parser *P, const jtok *tk)
{
    uint32_t sym;
    if (intern(P, tk->p, tk->n, &sym)) return NULL;
    return P->t->syms[sym];
}

/* An unknown filter or test: a node that raises when evaluated; remembered as a parse error
 * unless in a soft frame. */
static int unknown_name(parser *P, jnode *n, const jtok *at, const char *name, int is_test)
{
    uint32_t sym;
    if (intern(P, name, strlen(name), &sym)) return -1;
    n->u.filter.name = P->t->syms[sym];
    n->u.filter.fid = -1;
    if (!P->soft) {
        if (P->n_unk == sizeof P->unk / sizeof P->unk[0]) {
            perr(P, at, GPTC_E_FORMAT, "no %s named '%s'", is_test ? "test" : "filter", name);
            return -1;
        }
        P->unk[P->n_unk].at = at;
        P->unk[P->n_unk].is_test = is_test;
        P->n_unk++;
    }
    return 0;
}

static int enter(parser *P)
{
    if (++P->nest > JINJA_MAX_NEST) {
        perr(P, cur(P), GPTC_E_RANGE, "the template is nested too deeply (more than %d levels)",
             JINJA_MAX_NEST);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Expressions
 */
static jnode *parse_expression(parser *P, int with_condexpr);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, int with_filter);
static jnode *parse_primary(parser *P);
static jnode *parse_postfix(parser *P, jnode *node);
static jnode *parse_filter_expr(parser *P, jnode *node);
static jnode *parse_filter(parser *P, jnode *node, int start_inline);

/* Is the current token the end of a tuple? (extra: a keyword name that also ends it) */
static int tuple_end(parser *P, const char *extra)
{
    const jtok *t = cur(P);
    if (t->type == JT_VAR_END || t->type == JT_BLOCK_END || t->type == JT_EOF) return 1;
    if (is_op(t, JO_RPAREN)) return 1;
    return extra && is_name(t, extra);
}

/* tuple: expr (, expr)* ; simplified: targets (primaries only) */
static jnode *parse_tuple(parser *P, int simplified, int with_condexpr, const char *extra,
                          int explicit_parens)
{
    const jtok *start = cur(P);
    nvec items = {0};
    int is_tuple = 0;
    for (;;) {
        if (items.n && expect_op(P, JO_COMMA, ",")) goto fail;
        if (tuple_end(P, extra)) break;
        jnode *e = simplified ? parse_primary(P) : parse_expression(P, with_condexpr);
        if (!e || nv_push(P, &items, e)) goto fail;
        if (is_op(cur(P), JO_COMMA))
            is_tuple = 1;
        else
            break;
    }
    if (!is_tuple) {
        if (items.n) {
            jnode *e = items.v[0];
            free(items.v);
            return e;
        }
        if (!explicit_parens) {
            char b[64];
            perr(P, cur(P), GPTC_E_FORMAT, "expected an expression, got %s",
                 tok_desc(cur(P), b, sizeof b));
            goto fail;
        }
    }
    jnode *n = mk(P, JN_TUPLE, start);
    if (!n) goto fail;
    n->u.seq.items = nv_done(P, &items);
    return P->failed ? NULL : n;
fail:
    free(items.v);
    return NULL;
}

static jnode *parse_expression(parser *P, int with_condexpr)
{
    if (enter(P)) return NULL;
    uint32_t unk_mark = P->n_unk;
    jnode *e = parse_or(P);
    if (e && with_condexpr) {
        while (is_name(cur(P), "if")) {
            const jtok *at = cur(P);
            next(P);
            int soft = P->soft;
            P->soft = 1; /* the whole conditional expression is a soft frame */
            P->n_unk = unk_mark;
            jnode *cond = parse_or(P);
            P->soft = soft;
            if (!cond) return NULL;
            jnode *els = NULL;
            if (is_name(cur(P), "else")) {
                next(P);
                P->soft = 1;
                els = parse_expression(P, 1);
                P->soft = soft;
                if (!els) return NULL;
            }
            jnode *n = mk(P, JN_COND, at);
            if (!n) return NULL;
            n->u.cond.test = cond;
            n->u.cond.then = e;
            n->u.cond.orelse = els;
            e = n;
        }
    }
    P->nest--;
    return e;
}

static jnode *binary(parser *P, uint8_t kind, uint8_t op, const jtok *at, jnode *a, jnode *b)
{
    if (!a || !b) return NULL;
    jnode *n = mk(P, kind, at);
    if (!n) return NULL;
    n->u.binop.op = op;
    n->u.binop.lhs = a;
    n->u.binop.rhs = b;
    return n;
}

static jnode *parse_not(parser *P);

static jnode *parse_and(parser *P)
{
    jnode *l = parse_not(P);
    while (l && is_name(cur(P), "and")) {
        const jtok *at = cur(P);
        next(P);
        l = binary(P, JN_AND, 0, at, l, parse_not(P));
    }
    return l;
}

static jnode *parse_or(parser *P)
{
    jnode *l = parse_and(P);
    while (l && is_name(cur(P), "or")) {
        const jtok *at = cur(P);
        next(P);
        l = binary(P, JN_OR, 0, at, l, parse_and(P));
    }
    return l;
}

static jnode *parse_compare(parser *P);

static jnode *parse_not(parser *P)
{
    if (is_name(cur(P), "not")) {
        const jtok *at = cur(P);
        next(P);
        if (enter(P)) return NULL;
        jnode *e = parse_not(P);
        P->nest--;
        if (!e) return NULL;
        jnode *n = mk(P, JN_NOT, at);
        if (!n) return NULL;
        n->u.unary.operand = e;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_math1(parser *P);

static jnode *parse_compare(parser *P)
{
    const jtok *at = cur(P);
    jnode *first = parse_math1(P);
    if (!first) return NULL;
    nvec rest = {0};
    uint8_t ops[256];
    uint32_t nops = 0;
    for (;;) {
        const jtok *t = cur(P);
        uint8_t op = 0;
        if (t->type == JT_OP && (t->op == JO_EQ || t->op == JO_NE || t->op == JO_LT ||
                                 t->op == JO_LTEQ || t->op == JO_GT || t->op == JO_GTEQ)) {
            op = t->op;
            next(P);
        } else if (is_name(t, "in")) {
            op = JO_IN;
            next(P);
        } else if (is_name(t, "not") && is_name(peek(P, 1), "in")) {
            op = JO_NOTIN;
            next(P);
            next(P);
        } else {
            break;
        }
        if (nops == sizeof ops) {
            perr(P, t, GPTC_E_RANGE, "too many chained comparisons");
            free(rest.v);
            return NULL;
        }
        jnode *e = parse_math1(P);
        if (!e || nv_push(P, &rest, e)) {
            free(rest.v);
            return NULL;
        }
        ops[nops++] = op;
    }
    if (!nops) return first;
    jnode *n = mk(P, JN_COMPARE, at);
    if (!n) {
        free(rest.v);
        return NULL;
    }
    n->u.compare.first = first;
    n->u.compare.rest = nv_done(P, &rest);
    n->u.compare.ops = arena_alloc(P->t, nops);
    if (!n->u.compare.ops) return nomem(P);
    memcpy(n->u.compare.ops, ops, nops);
    return P->failed ? NULL : n;
}

static jnode *parse_concat(parser *P);

static jnode *parse_math1(parser *P)
{
    jnode *l = parse_concat(P);
    while (l && (is_op(cur(P), JO_ADD) || is_op(cur(P), JO_SUB))) {
        const jtok *at = cur(P);
        uint8_t op = at->op;
        next(P);
        l = binary(P, JN_BINOP, op, at, l, parse_concat(P));
    }
    return l;
}

static jnode *parse_math2(parser *P);

static jnode *parse_concat(parser *P)
{
    const jtok *at = cur(P);
    jnode *first = parse_math2(P);
    if (!first || !is_op(cur(P), JO_TILDE)) return first;
    nvec items = {0};
    if (nv_push(P, &items, first)) return NULL;
    while (is_op(cur(P), JO_TILDE)) {
        next(P);
        jnode *e = parse_math2(P);
        if (!e || nv_push(P, &items, e)) {
            free(items.v);
            return NULL;
        }
    }
    jnode *n = mk(P, JN_CONCAT, at);
    if (!n) {
        free(items.v);
        return NULL;
    }
    n->u.seq.items = nv_done(P, &items);
    return P->failed ? NULL : n;
}

static jnode *parse_pow(parser *P);

static jnode *parse_math2(parser *P)
{
    jnode *l = parse_pow(P);
    while (l && cur(P)->type == JT_OP &&
           (cur(P)->op == JO_MUL || cur(P)->op == JO_DIV || cur(P)->op == JO_FLOORDIV ||
            cur(P)->op == JO_MOD)) {
        const jtok *at = cur(P);
        uint8_t op = at->op;
        next(P);
        l = binary(P, JN_BINOP, op, at, l, parse_pow(P));
    }
    return l;
}

static jnode *parse_pow(parser *P)
{
    jnode *l = parse_unary(P, 1);
    while (l && is_op(cur(P), JO_POW)) {
        const jtok *at = cur(P);
        next(P);
        l = binary(P, JN_BINOP, JO_POW, at, l, parse_unary(P, 1));
    }
    return l;
}

static jnode *parse_unary(parser *P, int with_filter)
{
    const jtok *at = cur(P);
    jnode *node;
    if (enter(P)) return NULL;
    if (is_op(at, JO_SUB) || is_op(at, JO_ADD)) {
        next(P);
        jnode *e = parse_unary(P, 0);
        if (!e) return NULL;
        node = mk(P, at->op == JO_SUB ? JN_NEG : JN_POS, at);
        if (!node) return NULL;
        node->u.unary.operand = e;
    } else {
        node = parse_primary(P);
    }
    node = node ? parse_postfix(P, node) : NULL;
    if (node && with_filter) node = parse_filter_expr(P, node);
    P->nest--;
    return node;
}

/* (args) of a call, filter or test into *ca; -1 on error */
static int parse_call_args(parser *P, jcallargs *ca)
{
    /* current token is '(' */
    if (expect_op(P, JO_LPAREN, "(")) return -1;
    nvec args = {0}, kwv = {0};
    jstr *kwn[64];
    for (;;) {
        if (args.n || kwv.n) {
            if (is_op(cur(P), JO_RPAREN)) break;
            if (expect_op(P, JO_COMMA, ",")) goto fail;
        }
        if (is_op(cur(P), JO_RPAREN)) break;
        if (is_op(cur(P), JO_MUL) || is_op(cur(P), JO_POW)) {
            perr(P, cur(P), GPTC_E_UNSUPPORTED, "*args and **kwargs in calls");
            goto fail;
        }
        if (cur(P)->type == JT_NAME && is_op(peek(P, 1), JO_ASSIGN)) {
            if (kwv.n == sizeof kwn / sizeof kwn[0]) {
                perr(P, cur(P), GPTC_E_RANGE, "too many keyword arguments");
                goto fail;
            }
            jstr *name = name_str(P, cur(P));
            if (!name) goto fail;
            next(P);
            next(P);
            jnode *v = parse_expression(P, 1);
            if (!v || nv_push(P, &kwv, v)) goto fail;
            kwn[kwv.n - 1] = name;
        } else {
            if (kwv.n) {
                perr(P, cur(P), GPTC_E_FORMAT, "positional argument follows keyword argument");
                goto fail;
            }
            jnode *v = parse_expression(P, 1);
            if (!v || nv_push(P, &args, v)) goto fail;
        }
    }
    if (expect_op(P, JO_RPAREN, ")")) goto fail;
    uint32_t nk = kwv.n;
    ca->pos = nv_done(P, &args);
    ca->kw = nv_done(P, &kwv);
    if (nk) {
        ca->kwnames = arena_alloc(P->t, nk * sizeof *ca->kwnames);
        if (!ca->kwnames) {
            nomem(P);
            return -1;
        }
        memcpy(ca->kwnames, kwn, nk * sizeof *kwn);
    }
    return P->failed ? -1 : 0;
fail:
    free(args.v);
    free(kwv.v);
    return -1;
}

/* a possibly dotted name (filters and tests): "a" or "a.b" */
static int dotted_name(parser *P, char *buf, size_t cap)
{
    if (cur(P)->type != JT_NAME) {
        char b[64];
        perr(P, cur(P), GPTC_E_FORMAT, "expected a name, got %s", tok_desc(cur(P), b, sizeof b));
        return -1;
    }
    size_t k = 0;
    for (;;) {
        const jtok *t = cur(P);
        if (k + t->n + 2 > cap) {
            perr(P, t, GPTC_E_FORMAT, "name too long");
            return -1;
        }
        memcpy(buf + k, t->p, t->n);
        k += t->n;
        next(P);
        if (!is_op(cur(P), JO_DOT) || peek(P, 1)->type != JT_NAME) break;
        buf[k++] = '.';
        next(P);
    }
    buf[k] = '\0';
    return 0;
}

static jnode *parse_filter(parser *P, jnode *node, int start_inline)
{
    while (is_op(cur(P), JO_PIPE) || start_inline) {
        if (!start_inline) next(P);
        start_inline = 0;
        const jtok *at = cur(P);
        char name[128];
        if (dotted_name(P, name, sizeof name)) return NULL;
        int fid = gptc_jinja_filter_id(name, strlen(name));
        jnode *f = mk(P, JN_FILTER, at);
        if (!f) return NULL;
        f->u.filter.in = node;
        f->u.filter.fid = fid;
        if (fid < 0 && unknown_name(P, f, at, name, 0)) return NULL;
        if (is_op(cur(P), JO_LPAREN) && parse_call_args(P, &f->u.filter.args)) return NULL;
        node = f;
    }
    return node;
}

static jnode *parse_test(parser *P, jnode *node)
{
    const jtok *at = cur(P);
    next(P); /* 'is' */
    int neg = 0;
    if (is_name(cur(P), "not")) {
        neg = 1;
        next(P);
    }
    const jtok *nt = cur(P);
    char name[128];
    if (dotted_name(P, name, sizeof name)) return NULL;
    int tid = gptc_jinja_test_id(name, strlen(name));
    jnode *t = mk(P, JN_TEST, at);
    if (!t) return NULL;
    t->u.filter.in = node;
    t->u.filter.fid = tid;
    if (tid < 0 && unknown_name(P, t, nt, name, 1)) return NULL;
    t->u.filter.neg = (uint8_t)neg;
    const jtok *c = cur(P);
    if (is_op(c, JO_LPAREN)) {
        if (parse_call_args(P, &t->u.filter.args)) return NULL;
    } else if ((c->type == JT_NAME || c->type == JT_STRING || c->type == JT_INT ||
                c->type == JT_FLOAT || is_op(c, JO_LBRACKET) || is_op(c, JO_LBRACE)) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) return perr(P, c, GPTC_E_FORMAT, "cannot chain tests with 'is'");
        jnode *arg = parse_primary(P);
        if (arg) arg = parse_postfix(P, arg);
        if (!arg) return NULL;
        jnlist *pos = &t->u.filter.args.pos;
        pos->v = arena_alloc(P->t, sizeof *pos->v);
        if (!pos->v) return nomem(P);
        pos->v[0] = arg;
        pos->n = 1;
    }
    return t;
}

static jnode *parse_filter_expr(parser *P, jnode *node)
{
    for (;;) {
        if (!node) return NULL;
        if (is_op(cur(P), JO_PIPE)) {
            node = parse_filter(P, node, 0);
        } else if (is_name(cur(P), "is")) {
            node = parse_test(P, node);
        } else if (is_op(cur(P), JO_LPAREN)) {
            jnode *c = mk(P, JN_CALL, cur(P));
            if (!c) return NULL;
            c->u.call.fn = node;
            node = parse_call_args(P, &c->u.call.args) ? NULL : c;
        } else {
            return node;
        }
    }
}

static jnode *parse_subscribed(parser *P)
{
    const jtok *at = cur(P);
    jnode *args[3] = {NULL, NULL, NULL};
    if (is_op(cur(P), JO_COLON)) {
        next(P);
    } else {
        jnode *e = parse_expression(P, 1);
        if (!e || !is_op(cur(P), JO_COLON)) return e;
        next(P);
        args[0] = e;
    }
    if (!is_op(cur(P), JO_COLON) && !is_op(cur(P), JO_RBRACKET) && !is_op(cur(P), JO_COMMA)) {
        args[1] = parse_expression(P, 1);
        if (!args[1]) return NULL;
    }
    if (is_op(cur(P), JO_COLON)) {
        next(P);
        if (!is_op(cur(P), JO_RBRACKET) && !is_op(cur(P), JO_COMMA)) {
            args[2] = parse_expression(P, 1);
            if (!args[2]) return NULL;
        }
    }
    jnode *s = mk(P, JN_SLICE, at);
    if (!s) return NULL;
    s->u.slice.start = args[0];
    s->u.slice.stop = args[1];
    s->u.slice.step = args[2];
    return s;
}

static jnode *parse_postfix(parser *P, jnode *node)
{
    for (;;) {
        const jtok *at = cur(P);
        if (is_op(at, JO_DOT)) {
            next(P);
            const jtok *t = cur(P);
            if (t->type == JT_NAME) {
                jnode *n = mk(P, JN_ATTR, at);
                if (!n) return NULL;
                n->u.attr.obj = node;
                if (!(n->u.attr.name = name_str(P, t))) return NULL;
                next(P);
                node = n;
            } else if (t->type == JT_INT) {
                jnode *k = mk(P, JN_CONST, t);
                jnode *n = mk(P, JN_ITEM, at);
                if (!k || !n) return NULL;
                k->u.cval = jv_int(t->i);
                n->u.item.obj = node;
                n->u.item.key = k;
                next(P);
                node = n;
            } else {
                return perr(P, t, GPTC_E_FORMAT, "expected a name or number after '.'");
            }
        } else if (is_op(at, JO_LBRACKET)) {
            next(P);
            nvec args = {0};
            while (!is_op(cur(P), JO_RBRACKET)) {
                if (args.n && expect_op(P, JO_COMMA, ",")) {
                    free(args.v);
                    return NULL;
                }
                if (is_op(cur(P), JO_RBRACKET)) break;
                jnode *e = parse_subscribed(P);
                if (!e || nv_push(P, &args, e)) {
                    free(args.v);
                    return NULL;
                }
            }
            if (expect_op(P, JO_RBRACKET, "]")) {
                free(args.v);
                return NULL;
            }
            if (args.n == 0) {
                free(args.v);
                return perr(P, at, GPTC_E_FORMAT, "expected a subscript");
            }
            jnode *sub;
            if (args.n == 1) {
                sub = args.v[0];
                free(args.v);
            } else {
                for (uint32_t k = 0; k < args.n; k++)
                    if (args.v[k]->kind == JN_SLICE) {
                        free(args.v);
                        return perr(P, at, GPTC_E_UNSUPPORTED, "multi-dimensional slicing");
                    }
                sub = mk(P, JN_TUPLE, at);
                if (!sub) {
                    free(args.v);
                    return NULL;
                }
                sub->u.seq.items = nv_done(P, &args);
            }
            if (sub->kind == JN_SLICE) {
                sub->u.slice.obj = node;
                node = sub;
            } else {
                jnode *n = mk(P, JN_ITEM, at);
                if (!n) return NULL;
                n->u.item.obj = node;
                n->u.item.key = sub;
                node = n;
            }
        } else if (is_op(at, JO_LPAREN)) {
            jnode *c = mk(P, JN_CALL, at);
            if (!c) return NULL;
            c->u.call.fn = node;
            if (parse_call_args(P, &c->u.call.args)) return NULL;
            node = c;
        } else {
            return node;
        }
    }
}

static jnode *parse_primary(parser *P)
{
    const jtok *t = cur(P);
    char b[64];
    switch (t->type) {
    case JT_NAME: {
        jnode *n = mk(P, JN_CONST, t);
        if (!n) return NULL;
        if (is_name(t, "true") || is_name(t, "True")) {
            n->u.cval = jv_bool(1);
        } else if (is_name(t, "false") || is_name(t, "False")) {
            n->u.cval = jv_bool(0);
        } else if (is_name(t, "none") || is_name(t, "None")) {
            n->u.cval = jv_none();
        } else {
            n->kind = JN_NAME;
            uint32_t sym;
            if (intern(P, t->p, t->n, &sym)) return NULL;
            n->u.var.sym = sym;
            n->u.var.name = P->t->syms[sym];
            if (P->macro) {
                if (sym == P->t->sym_varargs) P->macro->u.macro.flags |= JNF_VARARGS;
                if (sym == P->t->sym_kwargs) P->macro->u.macro.flags |= JNF_KWARGS;
                if (sym == P->t->sym_caller) P->macro->u.macro.flags |= JNF_CALLER;
            }
        }
        next(P);
        return n;
    }
    case JT_STRING: {
        jnode *n = mk(P, JN_CONST, t);
        if (!n) return NULL;
        jstr *s = t->s;
        next(P);
        if (cur(P)->type == JT_STRING) {
            /* adjacent literals concatenate: build one immortal string */
            size_t total = s->n;
            for (size_t k = P->i; P->tk[k].type == JT_STRING; k++)
                total += P->tk[k].s->n;
            char *buf = malloc(total + 1);
            if (!buf) return nomem(P);
            size_t o = 0;
            memcpy(buf, s->p, s->n);
            o = s->n;
            while (cur(P)->type == JT_STRING) {
                memcpy(buf + o, cur(P)->s->p, cur(P)->s->n);
                o += cur(P)->s->n;
                next(P);
            }
            jstr *cat = gptc_jstr_new(NULL, buf, o);
            free(buf);
            if (!cat) return nomem(P);
            cat->rc = JRC_IMMORTAL;
            jinja_template *tp = P->t;
            if (tp->n_strs == tp->cap_strs) {
                uint32_t cap = tp->cap_strs ? tp->cap_strs * 2 : 8;
                jstr **ns = realloc(tp->strs, cap * sizeof *ns);
                if (!ns) {
                    free(cat);
                    return nomem(P);
                }
                tp->strs = ns;
                tp->cap_strs = cap;
            }
            tp->strs[tp->n_strs++] = cat;
            s = cat;
        }
        n->u.cval = jv_strv(s);
        return n;
    }
    case JT_INT: {
        jnode *n = mk(P, JN_CONST, t);
        if (!n) return NULL;
        n->u.cval = jv_int(t->i);
        next(P);
        return n;
    }
    case JT_FLOAT: {
        jnode *n = mk(P, JN_CONST, t);
        if (!n) return NULL;
        n->u.cval = jv_float(t->f);
        next(P);
        return n;
    }
    case JT_OP:
        if (t->op == JO_LPAREN) {
            next(P);
            if (enter(P)) return NULL;
            jnode *e = parse_tuple(P, 0, 1, NULL, 1);
            P->nest--;
            if (!e || expect_op(P, JO_RPAREN, ")")) return NULL;
            return e;
        }
        if (t->op == JO_LBRACKET || t->op == JO_LBRACE) {
            int dict = t->op == JO_LBRACE;
            uint8_t close = dict ? JO_RBRACE : JO_RBRACKET;
            next(P);
            if (enter(P)) return NULL;
            nvec keys = {0}, vals = {0};
            while (!is_op(cur(P), close)) {
                if (keys.n && expect_op(P, JO_COMMA, ",")) goto fail;
                if (is_op(cur(P), close)) break;
                jnode *k = parse_expression(P, 1);
                if (!k || nv_push(P, &keys, k)) goto fail;
                if (dict) {
                    if (expect_op(P, JO_COLON, ":")) goto fail;
                    jnode *v = parse_expression(P, 1);
                    if (!v || nv_push(P, &vals, v)) goto fail;
                }
            }
            if (expect_op(P, close, dict ? "}" : "]")) goto fail;
            P->nest--;
            jnode *n = mk(P, dict ? JN_DICT : JN_LIST, t);
            if (!n) goto fail;
            if (dict) {
                n->u.dict.keys = nv_done(P, &keys);
                n->u.dict.vals = nv_done(P, &vals);
            } else {
                n->u.seq.items = nv_done(P, &keys);
                free(vals.v);
            }
            return P->failed ? NULL : n;
        fail:
            free(keys.v);
            free(vals.v);
            return NULL;
        }
        break;
    default:
        break;
    }
    return perr(P, t, GPTC_E_FORMAT, "unexpected %s", tok_desc(t, b, sizeof b));
}

/* ---------------------------------------------------------------------------------------------
 * Statements
 */
static jnode *parse_body(parser *P, const char *const *ends, const jtok *opener,
                         const char *opener_name);

static int end_block(parser *P)
{
    return expect_type(P, JT_BLOCK_END, "'%}'");
}

/* consume "{% name" for an expected end tag (the caller knows it is there) */
static void take_tag(parser *P)
{
    next(P); /* BLOCK_BEGIN */
    next(P); /* name */
}

static int check_target(parser *P, jnode *t)
{
    if (t->kind == JN_NAME) return 0;
    if (t->kind == JN_TUPLE) {
        for (uint32_t i = 0; i < t->u.seq.items.n; i++)
            if (check_target(P, t->u.seq.items.v[i])) return -1;
        return 0;
    }
    char b[64];
    (void)b;
    perr(P, &(jtok){.line = t->line, .col = t->col}, GPTC_E_FORMAT,
         "cannot assign to this expression");
    return -1;
}

static jnode *parse_assign_target(parser *P, int with_namespace, const char *extra)
{
    const jtok *t = cur(P);
    if (with_namespace && t->type == JT_NAME && is_op(peek(P, 1), JO_DOT) &&
        peek(P, 2)->type == JT_NAME) {
        jnode *n = mk(P, JN_NSREF, t);
        if (!n || intern(P, t->p, t->n, &n->u.nsref.sym)) return NULL;
        if (!(n->u.nsref.attr = name_str(P, peek(P, 2)))) return NULL;
        next(P);
        next(P);
        next(P);
        return n;
    }
    jnode *target = parse_tuple(P, 1, 1, extra, 0);
    if (!target || check_target(P, target)) return NULL;
    return target;
}

/* (name [= default], ...) of a macro or call block */
static int parse_signature(parser *P, jnode *n)
{
    if (expect_op(P, JO_LPAREN, "(")) return -1;
    nvec params = {0}, defs = {0};
    int have_default = 0;
    while (!is_op(cur(P), JO_RPAREN)) {
        if (params.n && expect_op(P, JO_COMMA, ",")) goto fail;
        if (is_op(cur(P), JO_RPAREN)) break;
        const jtok *t = cur(P);
        if (t->type != JT_NAME) {
            char b[64];
            perr(P, t, GPTC_E_FORMAT, "expected a parameter name, got %s",
                 tok_desc(t, b, sizeof b));
            goto fail;
        }
        jnode *p = mk(P, JN_NAME, t);
        if (!p || intern(P, t->p, t->n, &p->u.var.sym)) goto fail;
        p->u.var.name = P->t->syms[p->u.var.sym];
        next(P);
        jnode *d = NULL;
        if (is_op(cur(P), JO_ASSIGN)) {
            next(P);
            d = parse_expression(P, 1);
            if (!d) goto fail;
            have_default = 1;
        } else if (have_default) {
            perr(P, t, GPTC_E_FORMAT, "non-default argument follows default argument");
            goto fail;
        }
        if (nv_push(P, &params, p) || nv_push(P, &defs, d)) goto fail;
    }
    next(P);
    n->u.macro.params = nv_done(P, &params);
    n->u.macro.defaults = nv_done(P, &defs);
    return P->failed ? -1 : 0;
fail:
    free(params.v);
    free(defs.v);
    return -1;
}

static jnode *parse_if(parser *P, const jtok *at)
{
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    static const char *const ends_else[] = {"endif", NULL};
    jnode *n = mk(P, JN_IF, at);
    if (!n) return NULL;
    nvec conds = {0}, bodies = {0};
    const jtok *opener = at;
    int soft = P->soft;
    P->soft = 1;
    for (;;) {
        jnode *c = parse_tuple(P, 0, 0, NULL, 0);
        if (!c || end_block(P) || nv_push(P, &conds, c)) goto fail;
        jnode *body = parse_body(P, ends, opener, "if");
        if (!body || nv_push(P, &bodies, body)) goto fail;
        const jtok *tag = peek(P, 1);
        take_tag(P);
        if (is_name(tag, "elif")) {
            opener = tag;
            continue;
        }
        if (is_name(tag, "else")) {
            if (end_block(P)) goto fail;
            jnode *eb = parse_body(P, ends_else, tag, "if");
            if (!eb || nv_push(P, &bodies, eb)) goto fail;
            take_tag(P);
        }
        if (end_block(P)) goto fail;
        break;
    }
    P->soft = soft;
    n->u.ifs.conds = nv_done(P, &conds);
    n->u.ifs.bodies = nv_done(P, &bodies);
    return P->failed ? NULL : n;
fail:
    P->soft = soft;
    free(conds.v);
    free(bodies.v);
    return NULL;
}

static jnode *parse_for(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endfor", "else", NULL};
    static const char *const ends_else[] = {"endfor", NULL};
    jnode *n = mk(P, JN_FOR, at);
    if (!n) return NULL;
    n->u.forloop.target = parse_assign_target(P, 0, "in");
    if (!n->u.forloop.target) return NULL;
    if (!is_name(cur(P), "in")) return perr(P, cur(P), GPTC_E_FORMAT, "expected 'in'");
    next(P);
    n->u.forloop.iter = parse_tuple(P, 0, 0, "recursive", 0);
    if (!n->u.forloop.iter) return NULL;
    if (is_name(cur(P), "if")) {
        next(P);
        int soft = P->soft;
        P->soft = 0; /* the loop filter belongs to the loop's frame */
        n->u.forloop.filter = parse_expression(P, 1);
        P->soft = soft;
        if (!n->u.forloop.filter) return NULL;
    }
    if (is_name(cur(P), "recursive"))
        return perr(P, cur(P), GPTC_E_UNSUPPORTED, "recursive for loops");
    if (end_block(P)) return NULL;
    P->loops++;
    jnode *body = parse_body(P, ends, at, "for");
    P->loops--;
    if (!body) return NULL;
    n->u.forloop.body = body->u.body.stmts;
    const jtok *tag = peek(P, 1);
    take_tag(P);
    if (is_name(tag, "else")) {
        if (end_block(P)) return NULL;
        jnode *eb = parse_body(P, ends_else, tag, "for");
        if (!eb) return NULL;
        n->u.forloop.orelse = eb->u.body.stmts;
        take_tag(P);
    }
    return end_block(P) ? NULL : n;
}

static jnode *parse_set(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endset", NULL};
    jnode *target = parse_assign_target(P, 1, NULL);
    if (!target) return NULL;
    if (is_op(cur(P), JO_ASSIGN)) {
        next(P);
        jnode *n = mk(P, JN_SET, at);
        if (!n) return NULL;
        n->u.set.target = target;
        n->u.set.value = parse_tuple(P, 0, 1, NULL, 0);
        if (!n->u.set.value || end_block(P)) return NULL;
        return n;
    }
    jnode *n = mk(P, JN_SET_BLOCK, at);
    if (!n) return NULL;
    n->u.setblock.target = target;
    if (is_op(cur(P), JO_PIPE)) {
        int soft = P->soft;
        P->soft = 0;
        jnode *f = parse_filter(P, NULL, 0);
        P->soft = soft;
        if (!f) return NULL;
        n->u.setblock.filters = f;
    }
    if (end_block(P)) return NULL;
    jnode *body = parse_body(P, ends, at, "set");
    if (!body) return NULL;
    n->u.setblock.body = body->u.body.stmts;
    take_tag(P);
    return end_block(P) ? NULL : n;
}

/* The body of a macro or call block n, through its end tag: a new frame where `varargs`,
 * `kwargs` and `caller` mark n, and break / continue need a loop of its own. */
static jnode *parse_macro_body(parser *P, jnode *n, const char *const *ends, const jtok *at,
                               const char *name)
{
    jnode *outer = P->macro;
    int loops = P->loops;
    P->macro = n;
    P->loops = 0;
    jnode *body = parse_body(P, ends, at, name);
    P->macro = outer;
    P->loops = loops;
    if (!body) return NULL;
    n->u.macro.body = body->u.body.stmts;
    take_tag(P);
    return end_block(P) ? NULL : n;
}

static jnode *parse_macro(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endmacro", NULL};
    const jtok *nt = cur(P);
    if (nt->type != JT_NAME) return perr(P, nt, GPTC_E_FORMAT, "expected a macro name");
    jnode *n = mk(P, JN_MACRO, at);
    if (!n || intern(P, nt->p, nt->n, &n->u.macro.sym)) return NULL;
    n->u.macro.name = P->t->syms[n->u.macro.sym];
    next(P);
    if (parse_signature(P, n) || end_block(P)) return NULL;
    return parse_macro_body(P, n, ends, at, "macro");
}

static jnode *parse_call_block(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endcall", NULL};
    jnode *n = mk(P, JN_CALL_BLOCK, at);
    if (!n) return NULL;
    if (is_op(cur(P), JO_LPAREN) && parse_signature(P, n)) return NULL;
    jnode *call = parse_expression(P, 1);
    if (!call) return NULL;
    if (call->kind != JN_CALL) return perr(P, at, GPTC_E_FORMAT, "expected a call after 'call'");
    n->u.macro.call = call;
    if (end_block(P)) return NULL;
    return parse_macro_body(P, n, ends, at, "call");
}

static jnode *parse_filter_block(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endfilter", NULL};
    jnode *n = mk(P, JN_FILTER_BLOCK, at);
    if (!n) return NULL;
    int soft = P->soft;
    P->soft = 0;
    n->u.filterblock.filters = parse_filter(P, NULL, 1);
    P->soft = soft;
    if (!n->u.filterblock.filters || end_block(P)) return NULL;
    jnode *body = parse_body(P, ends, at, "filter");
    if (!body) return NULL;
    n->u.filterblock.body = body->u.body.stmts;
    take_tag(P);
    return end_block(P) ? NULL : n;
}

static jnode *parse_with(parser *P, const jtok *at)
{
    static const char *const ends[] = {"endwith", NULL};
    jnode *n = mk(P, JN_WITH, at);
    if (!n) return NULL;
    nvec targets = {0}, values = {0};
    while (cur(P)->type != JT_BLOCK_END) {
        if (targets.n && expect_op(P, JO_COMMA, ",")) goto fail;
        jnode *t = parse_assign_target(P, 0, NULL);
        if (!t || nv_push(P, &targets, t) || expect_op(P, JO_ASSIGN, "=")) goto fail;
        jnode *v = parse_expression(P, 1);
        if (!v || nv_push(P, &values, v)) goto fail;
    }
    next(P);
    n->u.with.targets = nv_done(P, &targets);
    n->u.with.values = nv_done(P, &values);
    if (P->failed) return NULL;
    jnode *body = parse_body(P, ends, at, "with");
    if (!body) return NULL;
    n->u.with.body = body->u.body.stmts;
    take_tag(P);
    return end_block(P) ? NULL : n;
fail:
    free(targets.v);
    free(values.v);
    return NULL;
}

static jnode *parse_statement(parser *P)
{
    const jtok *at = cur(P); /* BLOCK_BEGIN */
    next(P);
    const jtok *t = cur(P);
    if (t->type != JT_NAME) return perr(P, t, GPTC_E_FORMAT, "expected a tag name after '{%%'");
    if (enter(P)) return NULL;
    jnode *n = NULL;
    next(P);
    if (is_name(t, "if")) {
        n = parse_if(P, t);
    } else if (is_name(t, "for")) {
        n = parse_for(P, t);
    } else if (is_name(t, "set")) {
        n = parse_set(P, t);
    } else if (is_name(t, "macro")) {
        n = parse_macro(P, t);
    } else if (is_name(t, "call")) {
        n = parse_call_block(P, t);
    } else if (is_name(t, "filter")) {
        n = parse_filter_block(P, t);
    } else if (is_name(t, "with")) {
        n = parse_with(P, t);
    } else if (is_name(t, "break") || is_name(t, "continue")) {
        if (!P->loops) return perr(P, t, GPTC_E_FORMAT, "'%.*s' outside a loop", (int)t->n, t->p);
        n = mk(P, is_name(t, "break") ? JN_BREAK : JN_CONTINUE, t);
        if (n && end_block(P)) n = NULL;
    } else if (is_name(t, "generation")) {
        /* transformers' AssistantTracker: rendered as its body */
        static const char *const ends[] = {"endgeneration", NULL};
        if (end_block(P)) return NULL;
        n = parse_body(P, ends, t, "generation");
        if (n) {
            take_tag(P);
            if (end_block(P)) n = NULL;
        }
    } else if (is_name(t, "include") || is_name(t, "import") || is_name(t, "from") ||
               is_name(t, "extends") || is_name(t, "block") || is_name(t, "autoescape") ||
               is_name(t, "trans")) {
        n = perr(P, t, GPTC_E_UNSUPPORTED, "the '%.*s' tag (templates cannot load others)",
                 (int)t->n, t->p);
    } else {
        n = perr(P, t, GPTC_E_FORMAT, "unknown tag '%.*s'", (int)GPTC_MIN(t->n, 40), t->p);
    }
    P->nest--;
    (void)at;
    return n;
}

/* Statements until one of the end tags (left unconsumed: cur is its BLOCK_BEGIN), or until
 * the end of the template when ends is NULL. Returns a JN_BODY. */
static jnode *parse_body_stmts(parser *P, const char *const *ends, const jtok *opener,
                               const char *opener_name)
{
    jnode *body = mk(P, JN_BODY, cur(P));
    if (!body) return NULL;
    nvec stmts = {0};
    for (;;) {
        const jtok *t = cur(P);
        jnode *s = NULL;
        if (t->type == JT_EOF) {
            if (!ends) break;
            perr(P, t, GPTC_E_FORMAT,
                 "unexpected end of template: the '%s' at line %u was never closed "
                 "(expected '%s')",
                 opener_name, opener->line, ends[0]);
            goto fail;
        }
        if (t->type == JT_DATA) {
            s = mk(P, JN_TEXT, t);
            if (!s) goto fail;
            s->u.cval = jv_strv(t->s);
            next(P);
        } else if (t->type == JT_VAR_BEGIN) {
            next(P);
            s = mk(P, JN_OUTPUT, t);
            if (!s) goto fail;
            s->u.output.expr = parse_tuple(P, 0, 1, NULL, 0);
            if (!s->u.output.expr || expect_type(P, JT_VAR_END, "'}}'")) goto fail;
        } else if (t->type == JT_BLOCK_BEGIN) {
            const jtok *name = peek(P, 1);
            if (ends)
                for (const char *const *e = ends; *e; e++)
                    if (is_name(name, *e)) goto done;
            if (name->type == JT_NAME && (is_name(name, "elif") || is_name(name, "else") ||
                                          (name->n > 3 && memcmp(name->p, "end", 3) == 0))) {
                if (ends)
                    perr(P, name, GPTC_E_FORMAT, "unexpected '%.*s' (expected '%s')",
                         (int)GPTC_MIN(name->n, 40), name->p, ends[0]);
                else
                    perr(P, name, GPTC_E_FORMAT, "unexpected '%.*s'", (int)GPTC_MIN(name->n, 40),
                         name->p);
                goto fail;
            }
            s = parse_statement(P);
            if (!s) goto fail;
        } else {
            char b[64];
            perr(P, t, GPTC_E_FORMAT, "unexpected %s", tok_desc(t, b, sizeof b));
            goto fail;
        }
        if (nv_push(P, &stmts, s)) goto fail;
    }
done:
    body->u.body.stmts = nv_done(P, &stmts);
    return P->failed ? NULL : body;
fail:
    free(stmts.v);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Entry points
 */
/* A body: an if's branches keep the frame's softness; every other body is a new frame. */
static jnode *parse_body(parser *P, const char *const *ends, const jtok *opener,
                         const char *opener_name)
{
    int soft = P->soft;
    if (strcmp(opener_name, "if") != 0) P->soft = 0;
    jnode *body = parse_body_stmts(P, ends, opener, opener_name);
    P->soft = soft;
    return body;
}

static int valid_utf8(const unsigned char *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            *bad = i;
            return 0;
        }
        if (i + len > n) {
            *bad = i;
            return 0;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                *bad = i;
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            *bad = i;
            return 0;
        }
        i += len;
    }
    return 1;
}

void gptc_jinja_template_free(jinja_template *t)
{
    if (!t) return;
    gptc_jinja_tokens_free(t->toks, t->n_toks);
    for (uint32_t i = 0; i < t->n_syms; i++)
        gptc_jstr_free_immortal(t->syms[i]);
    free(t->syms);
    for (uint32_t i = 0; i < t->n_strs; i++)
        gptc_jstr_free_immortal(t->strs[i]);
    free(t->strs);
    arena_free(t->arena);
    free(t->src);
    free(t);
}

const char *gptc_jinja_template_source(const jinja_template *t, size_t *n)
{
    *n = t->n_src;
    return t->src;
}

gptc_status gptc_jinja_template_parse(const char *src, size_t n, jinja_template **out,
                                      gptc_err *err)
{
    if (!out || (!src && n))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_jinja_template_parse: NULL argument");
    *out = NULL;
    if (n > JINJA_MAX_SRC)
        return gptc_fail(err, GPTC_E_RANGE, "template too large (%zu bytes, at most %u)", n,
                         JINJA_MAX_SRC);
    size_t bad;
    if (!valid_utf8((const unsigned char *)src, n, &bad))
        return gptc_fail(err, GPTC_E_FORMAT, "template is not valid UTF-8 (byte %zu)", bad);

    jinja_template *t = calloc(1, sizeof *t);
    if (!t) return gptc_fail(err, GPTC_E_NOMEM, "template: out of memory");
    /* newlines: \r\n and \r become \n; one trailing newline is dropped (keep_trailing_newline
     * is off) */
    t->src = malloc(n + 1);
    if (!t->src) {
        free(t);
        return gptc_fail(err, GPTC_E_NOMEM, "template: out of memory");
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\r') {
            t->src[o++] = '\n';
            if (i + 1 < n && src[i + 1] == '\n') i++;
        } else {
            t->src[o++] = src[i];
        }
    }
    if (o && t->src[o - 1] == '\n') o--;
    t->src[o] = '\0';
    t->n_src = o;

    gptc_status st = gptc_jinja_lex(t->src, t->n_src, &t->toks, &t->n_toks, err);
    if (st != GPTC_OK) {
        gptc_jinja_template_free(t);
        return st;
    }
    parser P = {.t = t, .tk = t->toks, .n = t->n_toks, .err = err};
    if (intern(&P, "loop", 4, &t->sym_loop) || intern(&P, "varargs", 7, &t->sym_varargs) ||
        intern(&P, "kwargs", 6, &t->sym_kwargs) || intern(&P, "caller", 6, &t->sym_caller)) {
        gptc_jinja_template_free(t);
        return GPTC_E_NOMEM;
    }
    t->root = parse_body(&P, NULL, cur(&P), "template");
    if (t->root && !P.failed && P.n_unk) /* Jinja2 compiles after parsing: syntax errors first */
        perr(&P, P.unk[0].at, GPTC_E_FORMAT, "no %s named '%.*s'",
             P.unk[0].is_test ? "test" : "filter", (int)P.unk[0].at->n, P.unk[0].at->p);
    if (!t->root || P.failed) {
        st = P.status != GPTC_OK ? P.status : GPTC_E_FORMAT;
        gptc_jinja_template_free(t);
        return st;
    }
    *out = t;
    return GPTC_OK;
}
