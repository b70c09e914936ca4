/*
 * jinja_eval.c — the render: walks the tree with Jinja2's scoping and Python's operators.
 *
 * Scopes: the globals (variables given to the render, global functions), the template's root
 * frame, one frame per for loop (emptied at each iteration, so a `set` in one iteration is not
 * seen by the next, and nothing set inside a loop is seen after it — hence namespace()), one
 * per macro call (whose parent is the frame the macro was defined in: a macro sees that
 * scope's variables as they are when it is called), and one per `with`. `if` makes no scope.
 *
 * A frame a macro refers to is kept until the render ends; every namespace of the render is
 * emptied at the end, which frees any cycle made through namespace attributes.
 *
 * Bounds: statements and expressions count steps (max_steps), loops count iterations
 * (max_iters), macro calls nest at most max_calls deep, and eval/exec recursion is capped, so
 * a template cannot run long or overflow the stack.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_impl.h"

#define JINJA_MAX_RECURSION 500 /* eval + exec frames on the C stack: ~200 KB, ~1 MB with ASan */

int gptc_jfail(jrt *rt, jerr_kind kind, const char *fmt, ...)
{
    if (!rt || rt->failed) return -1;
    rt->failed = 1;
    rt->ekind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->emsg, sizeof rt->emsg, fmt, ap);
    va_end(ap);
    return -1;
}

jinja_limits gptc_jinja_default_limits(void)
{
    jinja_limits l;
    l.max_output = (size_t)16 << 20;
    l.max_alloc = (size_t)512 << 20;
    l.max_steps = 50000000;
    l.max_iters = 10000000;
    l.max_calls = 64;
    return l;
}

/* ---------------------------------------------------------------------------------------------
 * Frames
 */
static jframe *frame_new(jrt *rt, jframe *parent)
{
    jframe *f = calloc(1, sizeof *f);
    if (!f) {
        gptc_jfail(rt, JE_NOMEM, "out of memory");
        return NULL;
    }
    f->parent = parent;
    return f;
}

static void frame_clear(jframe *f)
{
    for (uint32_t i = 0; i < f->n; i++)
        gptc_jv_decref(f->vals[i]);
    f->n = 0;
}

static void frame_destroy(jframe *f)
{
    frame_clear(f);
    free(f->syms);
    free(f->vals);
    free(f);
}

/* Leave a frame: freed, unless a macro refers to it (then kept until the render ends). */
static void frame_release(jrt *rt, jframe *f)
{
    if (!f) return;
    if (f->captured) {
        f->next = rt->captured;
        rt->captured = f;
    } else {
        frame_destroy(f);
    }
}

static int frame_set(jrt *rt, jframe *f, uint32_t sym, jv v)
{
    for (uint32_t i = 0; i < f->n; i++)
        if (f->syms[i] == sym) {
            gptc_jv_decref(f->vals[i]);
            f->vals[i] = gptc_jv_incref(v);
            return 0;
        }
    if (f->n == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 8;
        uint32_t *s = realloc(f->syms, cap * sizeof *s);
        if (!s) return gptc_jfail(rt, JE_NOMEM, "out of memory");
        f->syms = s;
        jv *v2 = realloc(f->vals, cap * sizeof *v2);
        if (!v2) return gptc_jfail(rt, JE_NOMEM, "out of memory");
        f->vals = v2;
        f->cap = cap;
    }
    f->syms[f->n] = sym;
    f->vals[f->n] = gptc_jv_incref(v);
    f->n++;
    return 0;
}

static int lookup(const jrt *rt, uint32_t sym, jv *out)
{
    for (const jframe *f = rt->frame; f; f = f->parent)
        for (uint32_t i = 0; i < f->n; i++)
            if (f->syms[i] == sym) {
                *out = gptc_jv_incref(f->vals[i]);
                return 1;
            }
    return 0;
}

static void capture(jframe *f)
{
    for (; f && !f->captured; f = f->parent)
        f->captured = 1;
}

int gptc_jns_new(jrt *rt, jv *out)
{
    if (rt->n_ns == rt->cap_ns) {
        size_t cap = rt->cap_ns ? rt->cap_ns * 2 : 8;
        jns **p = realloc(rt->nss, cap * sizeof *p);
        if (!p) return gptc_jfail(rt, JE_NOMEM, "out of memory");
        rt->nss = p;
        rt->cap_ns = cap;
    }
    jns *ns = gptc_jalloc(rt, sizeof *ns);
    if (!ns) return -1;
    ns->rc = 2; /* the caller's reference and the render's */
    ns->attrs = gptc_jdict_new(rt, 0);
    if (!ns->attrs) {
        free(ns);
        return -1;
    }
    rt->nss[rt->n_ns++] = ns;
    *out = jv_mk(JV_NS);
    out->u.ns = ns;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Operators
 */
static int undefined_error(jrt *rt, jv u)
{
    return gptc_jfail(rt, JE_UNDEFINED, "%s", u.u.s ? u.u.s->p : "value is undefined");
}

static int int_like(jv v)
{
    return v.kind == JV_INT || v.kind == JV_BOOL;
}
static double as_f(jv v)
{
    return v.kind == JV_FLOAT ? v.u.f : (double)v.u.i;
}
static int is_number(jv v)
{
    return v.kind == JV_INT || v.kind == JV_BOOL || v.kind == JV_FLOAT;
}

static const char *op_sym(int op)
{
    switch (op) {
    case JO_ADD:
        return "+";
    case JO_SUB:
        return "-";
    case JO_MUL:
        return "*";
    case JO_DIV:
        return "/";
    case JO_FLOORDIV:
        return "//";
    case JO_MOD:
        return "%";
    case JO_POW:
        return "** or pow()";
    default:
        return "?";
    }
}

static int overflow(jrt *rt)
{
    return gptc_jfail(rt, JE_UNSUPPORTED, "integer overflow (gptc's integers are 64-bit)");
}

static int repeat(jrt *rt, jv seq, int64_t k, jv *out)
{
    if (k < 0) k = 0;
    if (seq.kind == JV_STR) {
        const jstr *s = seq.u.s;
        if (s->n && (uint64_t)k > (rt->opts->limits.max_alloc / s->n))
            return gptc_jfail(rt, JE_LIMIT, "the template used too much memory");
        jbuf b = {0};
        for (int64_t i = 0; i < k; i++)
            if (gptc_jbuf_put(rt, &b, s->p, s->n)) {
                gptc_jbuf_free(&b);
                return -1;
            }
        return gptc_jbuf_finish(rt, &b, 0, out);
    }
    const jlist *l = seq.u.l;
    if (l->n && (uint64_t)k > rt->opts->limits.max_alloc / (l->n * sizeof(jv)))
        return gptc_jfail(rt, JE_LIMIT, "the template used too much memory");
    if (jrt_steps(rt, (uint64_t)k * l->n)) return -1;
    jlist *r = gptc_jlist_new(rt, l->n * (size_t)k, l->tuple);
    if (!r) return -1;
    for (size_t i = 0; i < r->n; i++)
        r->v[i] = gptc_jv_incref(l->v[i % l->n]);
    r->depth = l->depth;
    *out = jv_listv(r);
    return 0;
}

/* 'format' % args: Python's printf-style formatting for %s %r %d %i %% with an optional '-'
 * flag and width; anything else is reported as unsupported. */
static int str_format(jrt *rt, const jstr *f, jv args, jv *out)
{
    const jv *av = &args;
    size_t na = 1, used = 0;
    int mapping = args.kind == JV_DICT || args.kind == JV_UNDEF ||
                  (args.kind == JV_LIST && !args.u.l->tuple && !args.u.l->gen);
    if (args.kind == JV_LIST && args.u.l->tuple) {
        av = args.u.l->v;
        na = args.u.l->n;
    }
    jbuf b = {0};
    int r = 0;
    for (size_t i = 0; i < f->n && !r; i++) {
        if (f->p[i] != '%') {
            r = gptc_jbuf_put(rt, &b, f->p + i, 1);
            continue;
        }
        if (++i >= f->n) {
            r = gptc_jfail(rt, JE_VALUE, "incomplete format");
            break;
        }
        int left = 0;
        size_t width = 0;
        if (f->p[i] == '-') {
            left = 1;
            i++;
        }
        while (i < f->n && f->p[i] >= '0' && f->p[i] <= '9' && width < 10000)
            width = width * 10 + (size_t)(f->p[i++] - '0');
        char c = i < f->n ? f->p[i] : 0;
        if (c == '%' && !left && !width) {
            r = gptc_jbuf_put(rt, &b, "%", 1);
            continue;
        }
        if (c != 's' && c != 'r' && c != 'd' && c != 'i') {
            r = gptc_jfail(rt, JE_UNSUPPORTED, "the format '%%%c' in printf-style formatting",
                           c ? c : '?');
            break;
        }
        if (used >= na) {
            r = gptc_jfail(rt, JE_TYPE, "not enough arguments for format string");
            break;
        }
        jv x = av[used++];
        jbuf t = {0};
        if (c == 's') {
            r = gptc_jv_write_str(rt, &t, x);
        } else if (c == 'r') {
            r = gptc_jv_write_repr(rt, &t, x);
        } else if (x.kind == JV_INT || x.kind == JV_BOOL) {
            r = gptc_jbuf_printf(rt, &t, "%lld", (long long)x.u.i);
        } else if (x.kind == JV_FLOAT && isfinite(x.u.f) && fabs(x.u.f) < 9.2e18) {
            r = gptc_jbuf_printf(rt, &t, "%lld", (long long)x.u.f);
        } else if (x.kind == JV_UNDEF) {
            r = undefined_error(rt, x);
        } else {
            r = gptc_jfail(rt, JE_TYPE, "%%%c format: a real number is required, not %s", c,
                           gptc_jv_type_name(x));
        }
        size_t len = t.n ? gptc_ju8_count(t.p, t.n) : 0;
        for (size_t k = len; !r && !left && k < width; k++)
            r = gptc_jbuf_put(rt, &b, " ", 1);
        if (!r && t.n) r = gptc_jbuf_put(rt, &b, t.p, t.n);
        for (size_t k = len; !r && left && k < width; k++)
            r = gptc_jbuf_put(rt, &b, " ", 1);
        gptc_jbuf_free(&t);
    }
    if (!r && used < na && !mapping)
        r = gptc_jfail(rt, JE_TYPE, "not all arguments converted during string formatting");
    return gptc_jbuf_finish(rt, &b, r, out);
}

int gptc_jinja_binop(jrt *rt, int op, jv a, jv b, jv *out);

int gptc_jinja_binop(jrt *rt, int op, jv a, jv b, jv *out)
{
    if (a.kind == JV_UNDEF) return undefined_error(rt, a);
    if (b.kind == JV_UNDEF) return undefined_error(rt, b);
    if (int_like(a) && int_like(b)) {
        int64_t x = a.u.i, y = b.u.i, r;
        switch (op) {
        case JO_ADD:
            if (__builtin_add_overflow(x, y, &r)) return overflow(rt);
            *out = jv_int(r);
            return 0;
        case JO_SUB:
            if (__builtin_sub_overflow(x, y, &r)) return overflow(rt);
            *out = jv_int(r);
            return 0;
        case JO_MUL:
            if (__builtin_mul_overflow(x, y, &r)) return overflow(rt);
            *out = jv_int(r);
            return 0;
        case JO_DIV:
            if (y == 0) return gptc_jfail(rt, JE_ZERODIV, "division by zero");
            *out = jv_float((double)x / (double)y);
            return 0;
        case JO_FLOORDIV:
        case JO_MOD: {
            if (y == 0) return gptc_jfail(rt, JE_ZERODIV, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) return overflow(rt);
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q--;
                m += y;
            }
            *out = jv_int(op == JO_MOD ? m : q);
            return 0;
        }
        case JO_POW: {
            if (y < 0) {
                if (x == 0)
                    return gptc_jfail(rt, JE_ZERODIV, "0.0 cannot be raised to a negative power");
                *out = jv_float(pow((double)x, (double)y));
                return 0;
            }
            int64_t acc = 1, base = x;
            uint64_t e = (uint64_t)y;
            while (e) {
                if (e & 1 && __builtin_mul_overflow(acc, base, &acc)) return overflow(rt);
                e >>= 1;
                if (e && __builtin_mul_overflow(base, base, &base)) return overflow(rt);
            }
            *out = jv_int(acc);
            return 0;
        }
        }
    }
    if (is_number(a) && is_number(b)) {
        double x = as_f(a), y = as_f(b);
        switch (op) {
        case JO_ADD:
            *out = jv_float(x + y);
            return 0;
        case JO_SUB:
            *out = jv_float(x - y);
            return 0;
        case JO_MUL:
            *out = jv_float(x * y);
            return 0;
        case JO_DIV:
            if (y == 0) return gptc_jfail(rt, JE_ZERODIV, "float division by zero");
            *out = jv_float(x / y);
            return 0;
        case JO_FLOORDIV:
            if (y == 0) return gptc_jfail(rt, JE_ZERODIV, "float floor division by zero");
            *out = jv_float(floor(x / y));
            return 0;
        case JO_MOD: {
            if (y == 0) return gptc_jfail(rt, JE_ZERODIV, "float modulo");
            double m = fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0)))
                m += y;
            else if (m == 0)
                m = copysign(0.0, y);
            *out = jv_float(m);
            return 0;
        }
        case JO_POW:
            if (x == 0 && y < 0)
                return gptc_jfail(rt, JE_ZERODIV, "0.0 cannot be raised to a negative power");
            if (x < 0 && y != floor(y))
                return gptc_jfail(rt, JE_UNSUPPORTED, "complex results of ** are not supported");
            *out = jv_float(pow(x, y));
            return 0;
        }
    }
    if (op == JO_ADD) {
        if (a.kind == JV_STR && b.kind == JV_STR) {
            if (jrt_steps(rt, (a.u.s->n + b.u.s->n) / 64)) return -1;
            jstr *s = gptc_jstr_cat(rt, a.u.s, b.u.s);
            if (!s) return -1;
            *out = jv_strv(s);
            return 0;
        }
        if (a.kind == JV_LIST && b.kind == JV_LIST && a.u.l->tuple == b.u.l->tuple && !a.u.l->gen &&
            !b.u.l->gen) {
            const jlist *x = a.u.l, *y = b.u.l;
            if (jrt_steps(rt, x->n + y->n)) return -1;
            jlist *r = gptc_jlist_new(rt, x->n + y->n, x->tuple);
            if (!r) return -1;
            for (size_t i = 0; i < x->n; i++)
                r->v[i] = gptc_jv_incref(x->v[i]);
            for (size_t i = 0; i < y->n; i++)
                r->v[x->n + i] = gptc_jv_incref(y->v[i]);
            r->depth = GPTC_MAX(x->depth, y->depth);
            *out = jv_listv(r);
            return 0;
        }
        if (a.kind == JV_STR || (a.kind == JV_LIST && !a.u.l->gen))
            return gptc_jfail(rt, JE_TYPE, "can only concatenate %s (not \"%s\") to %s",
                              gptc_jv_type_name(a), gptc_jv_type_name(b), gptc_jv_type_name(a));
    }
    if (op == JO_MUL) {
        if ((a.kind == JV_STR || (a.kind == JV_LIST && !a.u.l->gen)) && int_like(b))
            return repeat(rt, a, b.u.i, out);
        if ((b.kind == JV_STR || (b.kind == JV_LIST && !b.u.l->gen)) && int_like(a))
            return repeat(rt, b, a.u.i, out);
    }
    if (op == JO_MOD && a.kind == JV_STR) return str_format(rt, a.u.s, b, out);
    return gptc_jfail(rt, JE_TYPE, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym(op),
                      gptc_jv_type_name(a), gptc_jv_type_name(b));
}

/* `a in b` */
static int contains(jrt *rt, jv item, jv seq, int *res)
{
    *res = 0;
    switch (seq.kind) {
    case JV_STR: {
        if (item.kind == JV_UNDEF) return undefined_error(rt, item);
        if (item.kind != JV_STR)
            return gptc_jfail(rt, JE_TYPE, "'in <string>' requires string as left operand, not %s",
                              gptc_jv_type_name(item));
        const jstr *h = seq.u.s, *nd = item.u.s;
        if (jrt_steps(rt, h->n / 64 + 1)) return -1;
        *res = nd->n == 0 || memmem(h->p, h->n, nd->p, nd->n) != NULL;
        return 0;
    }
    case JV_LIST:
        if (seq.u.l->gen_err)
            return gptc_jfail(rt, (jerr_kind)seq.u.l->gen_ekind, "%s", seq.u.l->gen_err->p);
        if (jrt_steps(rt, seq.u.l->n)) return -1;
        for (size_t i = 0; i < seq.u.l->n; i++) {
            if (gptc_jv_eq(rt, seq.u.l->v[i], item, res)) return -1;
            if (*res) return 0;
        }
        return 0;
    case JV_DICT: {
        long e = gptc_jdict_find(rt, seq.u.d, item);
        if (e == -2) return -1;
        *res = e >= 0;
        return 0;
    }
    case JV_UNDEF:
        return 0; /* iterating an Undefined yields nothing */
    case JV_LOOP: {
        const jlist *l = seq.u.loop->items;
        for (size_t i = 0; i < l->n; i++) {
            if (gptc_jv_eq(rt, l->v[i], item, res)) return -1;
            if (*res) return 0;
        }
        return 0;
    }
    default:
        return gptc_jfail(rt, JE_TYPE, "argument of type '%s' is not iterable",
                          gptc_jv_type_name(seq));
    }
}

static int compare(jrt *rt, int op, jv a, jv b, int *res)
{
    switch (op) {
    case JO_EQ:
    case JO_NE: {
        int e;
        if (gptc_jv_eq(rt, a, b, &e)) return -1;
        *res = op == JO_EQ ? e : !e;
        return 0;
    }
    case JO_IN:
    case JO_NOTIN: {
        int c;
        if (contains(rt, a, b, &c)) return -1;
        *res = op == JO_IN ? c : !c;
        return 0;
    }
    default: {
        const char *name = op == JO_LT ? "<" : op == JO_LTEQ ? "<=" : op == JO_GT ? ">" : ">=";
        int c;
        if (gptc_jv_cmp(rt, a, b, name, &c)) return -1;
        if (c == 2)
            *res = 0; /* NaN */
        else if (op == JO_LT)
            *res = c < 0;
        else if (op == JO_LTEQ)
            *res = c <= 0;
        else if (op == JO_GT)
            *res = c > 0;
        else
            *res = c >= 0;
        return 0;
    }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Slicing (Python semantics; Jinja turns a failed slice into Undefined)
 */
static int slice_bound(jv v, int64_t *out, int *given)
{
    *given = 0;
    if (v.kind == JV_NONE || v.kind == JV_NOARG) return 0;
    if (!int_like(v)) return -1;
    *out = v.u.i;
    *given = 1;
    return 0;
}

static int do_slice(jrt *rt, jv obj, jv vstart, jv vstop, jv vstep, jv *out)
{
    if (obj.kind == JV_UNDEF) return undefined_error(rt, obj);
    /* Jinja compiles a slice to Python's subscription, so its errors are Python's */
    if (obj.kind == JV_DICT) return gptc_jfail(rt, JE_TYPE, "unhashable type: 'slice'");
    if ((obj.kind != JV_STR && obj.kind != JV_LIST) || (obj.kind == JV_LIST && obj.u.l->gen))
        return gptc_jfail(rt, JE_TYPE, "'%s' object is not subscriptable", gptc_jv_type_name(obj));
    int64_t start = 0, stop = 0, step = 1;
    int gs, ge, gt;
    if (slice_bound(vstart, &start, &gs) || slice_bound(vstop, &stop, &ge) ||
        slice_bound(vstep, &step, &gt))
        return gptc_jfail(rt, JE_TYPE,
                          "slice indices must be integers or None or have an __index__ method");
    if (!gt) step = 1;
    if (step == 0) return gptc_jfail(rt, JE_VALUE, "slice step cannot be zero");
    int64_t len = obj.kind == JV_STR ? (int64_t)obj.u.s->ncp : (int64_t)obj.u.l->n;
    if (step > 0) {
        if (!gs)
            start = 0;
        else if (start < 0)
            start = start + len < 0 ? 0 : start + len;
        else if (start > len)
            start = len;
        if (!ge)
            stop = len;
        else if (stop < 0)
            stop = stop + len < 0 ? 0 : stop + len;
        else if (stop > len)
            stop = len;
    } else {
        if (!gs)
            start = len - 1;
        else if (start < 0)
            start = start + len < 0 ? -1 : start + len;
        else if (start >= len)
            start = len - 1;
        if (!ge)
            stop = -1;
        else if (stop < 0)
            stop = stop + len < 0 ? -1 : stop + len;
        else if (stop >= len)
            stop = len - 1;
    }
    int64_t count = 0;
    if (step > 0 && start < stop) count = (stop - start - 1) / step + 1;
    if (step < 0 && start > stop) count = (start - stop - 1) / (-step) + 1;
    if (jrt_steps(rt, (uint64_t)count)) return -1;
    if (obj.kind == JV_LIST) {
        jlist *r = gptc_jlist_new(rt, (size_t)count, obj.u.l->tuple);
        if (!r) return -1;
        for (int64_t k = 0; k < count; k++)
            r->v[k] = gptc_jv_incref(obj.u.l->v[start + k * step]);
        r->depth = obj.u.l->depth;
        *out = jv_listv(r);
        return 0;
    }
    const jstr *s = obj.u.s;
    if (s->ncp == s->n && step == 1) return gptc_jv_str(rt, s->p + start, (size_t)count, out);
    /* code point offsets */
    size_t *off = gptc_jalloc(rt, (size_t)(len + 1) * sizeof *off);
    if (!off) return -1;
    size_t o = 0;
    for (int64_t k = 0; k < len; k++) {
        off[k] = o;
        size_t l;
        ju8_dec(s->p + o, &l);
        o += l;
    }
    off[len] = o;
    jbuf b = {0};
    int r = 0;
    for (int64_t k = 0; k < count && !r; k++) {
        int64_t i = start + k * step;
        r = gptc_jbuf_put(rt, &b, s->p + off[i], off[i + 1] - off[i]);
    }
    free(off);
    return gptc_jbuf_finish(rt, &b, r, out);
}

/* ---------------------------------------------------------------------------------------------
 * Expressions
 */
static int eval(jrt *rt, const jnode *e, jv *out);
static int exec_list(jrt *rt, const jnlist *l);

typedef struct evargs {
    jv pos[4];
    jv kw[4];
    jv *hpos, *hkw; /* heap when more than 4 */
    jargs a;
} evargs;

static void args_free(evargs *ea)
{
    for (size_t i = 0; i < ea->a.npos; i++)
        gptc_jv_decref(ea->a.pos[i]);
    for (size_t i = 0; i < ea->a.nkw; i++)
        gptc_jv_decref(ea->a.kw[i]);
    free(ea->hpos);
    free(ea->hkw);
}

/* Evaluate call arguments; extra: prepended positional values (borrowed, increfed) */
static int eval_args(jrt *rt, const jcallargs *n, const jv *extra, size_t nextra, evargs *ea)
{
    memset(ea, 0, sizeof *ea);
    size_t np = nextra + n->pos.n, nk = n->kw.n;
    jv *pos = ea->pos, *kw = ea->kw;
    if (np > 4 && !(pos = ea->hpos = calloc(np, sizeof *pos)))
        return gptc_jfail(rt, JE_NOMEM, "out of memory");
    if (nk > 4 && !(kw = ea->hkw = calloc(nk, sizeof *kw)))
        return gptc_jfail(rt, JE_NOMEM, "out of memory");
    ea->a.pos = pos;
    ea->a.kw = kw;
    ea->a.kwn = n->kwnames;
    for (size_t i = 0; i < nextra; i++)
        pos[ea->a.npos++] = gptc_jv_incref(extra[i]);
    for (uint32_t i = 0; i < n->pos.n; i++) {
        if (eval(rt, n->pos.v[i], &pos[ea->a.npos])) return -1;
        ea->a.npos++;
    }
    for (uint32_t i = 0; i < n->kw.n; i++) {
        if (eval(rt, n->kw.v[i], &kw[ea->a.nkw])) return -1;
        ea->a.nkw++;
    }
    return 0;
}

static int call_value(jrt *rt, jv fn, const jargs *a, jv *out)
{
    switch (fn.kind) {
    case JV_FUNC:
        return gptc_jinja_call_func(rt, (int)fn.u.i, a, out);
    case JV_METHOD:
        return gptc_jinja_call_method(rt, fn.u.meth, a, out);
    case JV_MACRO:
        return gptc_jinja_call_macro(rt, fn.u.m, a, jv_noarg(), out);
    case JV_UNDEF:
        return undefined_error(rt, fn);
    default:
        return gptc_jfail(rt, JE_TYPE, "'%s' object is not callable", gptc_jv_type_name(fn));
    }
}

/* A filter node; one unknown at parse time (allowed in a soft frame) raises only here */
static int run_filter(jrt *rt, const jnode *f, jv in, const jargs *a, jv *out)
{
    if (f->u.filter.fid < 0) {
        *out = jv_none();
        return gptc_jfail(rt, JE_RUNTIME, "No filter named '%s' found.", f->u.filter.name->p);
    }
    return gptc_jinja_filter(rt, f->u.filter.fid, in, a, out);
}

/* Apply a chain of FILTER nodes; the innermost node's input is `in` when its in is NULL */
static int apply_filters(jrt *rt, const jnode *f, jv in, jv *out)
{
    jv x;
    if (f->u.filter.in) {
        if (apply_filters(rt, f->u.filter.in, in, &x)) return -1;
    } else {
        x = gptc_jv_incref(in);
    }
    evargs ea;
    int r = eval_args(rt, &f->u.filter.args, NULL, 0, &ea);
    if (!r) r = run_filter(rt, f, x, &ea.a, out);
    args_free(&ea);
    gptc_jv_decref(x);
    return r;
}

static int eval_inner(jrt *rt, const jnode *e, jv *out)
{
    *out = jv_none();
    switch (e->kind) {
    case JN_CONST:
        *out = gptc_jv_incref(e->u.cval);
        return 0;
    case JN_NAME:
        if (lookup(rt, e->u.var.sym, out)) return 0;
        return gptc_jv_undef_msg(rt, out, "'%s' is undefined", e->u.var.name->p);
    case JN_ATTR: {
        jv obj;
        if (eval(rt, e->u.attr.obj, &obj)) return -1;
        rt->line = e->line;
        rt->col = e->col;
        int r = gptc_jinja_getattr(rt, obj, e->u.attr.name->p, e->u.attr.name->n, out);
        gptc_jv_decref(obj);
        return r;
    }
    case JN_ITEM: {
        jv obj, key = jv_none();
        int r = eval(rt, e->u.item.obj, &obj);
        if (!r) r = eval(rt, e->u.item.key, &key);
        if (!r) {
            rt->line = e->line;
            rt->col = e->col;
            r = gptc_jinja_getitem(rt, obj, key, out);
        }
        gptc_jv_decref(obj);
        gptc_jv_decref(key);
        return r;
    }
    case JN_SLICE: {
        jv obj, b[3] = {jv_none(), jv_none(), jv_none()};
        const jnode *bn[3] = {e->u.slice.start, e->u.slice.stop, e->u.slice.step};
        if (eval(rt, e->u.slice.obj, &obj)) return -1;
        int r = 0;
        for (int k = 0; k < 3 && !r; k++)
            if (bn[k]) r = eval(rt, bn[k], &b[k]);
        if (!r) {
            rt->line = e->line;
            rt->col = e->col;
            r = do_slice(rt, obj, b[0], b[1], b[2], out);
        }
        gptc_jv_decref(obj);
        for (int k = 0; k < 3; k++)
            gptc_jv_decref(b[k]);
        return r;
    }
    case JN_CALL:
    case JN_FILTER:
    case JN_TEST: { /* fn(args), in|filter(args), in is test(args) */
        int call = e->kind == JN_CALL;
        jv x;
        if (eval(rt, call ? e->u.call.fn : e->u.filter.in, &x)) return -1;
        evargs ea;
        int res = 0, r = eval_args(rt, call ? &e->u.call.args : &e->u.filter.args, NULL, 0, &ea);
        if (!r) {
            rt->line = e->line;
            rt->col = e->col;
            if (call)
                r = call_value(rt, x, &ea.a, out);
            else if (e->kind == JN_FILTER)
                r = run_filter(rt, e, x, &ea.a, out);
            else if (e->u.filter.fid < 0)
                r = gptc_jfail(rt, JE_RUNTIME, "No test named '%s' found.", e->u.filter.name->p);
            else
                r = gptc_jinja_test(rt, e->u.filter.fid, x, &ea.a, &res);
        }
        args_free(&ea);
        gptc_jv_decref(x);
        if (!r && e->kind == JN_TEST) *out = jv_bool(e->u.filter.neg ? !res : res);
        return r;
    }
    case JN_NEG:
    case JN_POS: {
        jv x;
        if (eval(rt, e->u.unary.operand, &x)) return -1;
        rt->line = e->line;
        rt->col = e->col;
        int r = 0;
        if (x.kind == JV_UNDEF) {
            r = undefined_error(rt, x);
        } else if (int_like(x)) {
            if (e->kind == JN_NEG && x.u.i == INT64_MIN)
                r = overflow(rt);
            else
                *out = jv_int(e->kind == JN_NEG ? -x.u.i : x.u.i);
        } else if (x.kind == JV_FLOAT) {
            *out = jv_float(e->kind == JN_NEG ? -x.u.f : x.u.f);
        } else {
            r = gptc_jfail(rt, JE_TYPE, "bad operand type for unary %c: '%s'",
                           e->kind == JN_NEG ? '-' : '+', gptc_jv_type_name(x));
        }
        gptc_jv_decref(x);
        return r;
    }
    case JN_NOT: {
        jv x;
        if (eval(rt, e->u.unary.operand, &x)) return -1;
        *out = jv_bool(!gptc_jv_truthy(x));
        gptc_jv_decref(x);
        return 0;
    }
    case JN_AND:
    case JN_OR: {
        jv x;
        if (eval(rt, e->u.binop.lhs, &x)) return -1;
        if (gptc_jv_truthy(x) == (e->kind == JN_OR)) {
            *out = x;
            return 0;
        }
        gptc_jv_decref(x);
        return eval(rt, e->u.binop.rhs, out);
    }
    case JN_BINOP: {
        jv a, b = jv_none();
        int r = eval(rt, e->u.binop.lhs, &a);
        if (!r) r = eval(rt, e->u.binop.rhs, &b);
        if (!r) {
            rt->line = e->line;
            rt->col = e->col;
            r = gptc_jinja_binop(rt, e->u.binop.op, a, b, out);
        }
        gptc_jv_decref(a);
        gptc_jv_decref(b);
        return r;
    }
    case JN_COMPARE: {
        jv left;
        if (eval(rt, e->u.compare.first, &left)) return -1;
        int res = 1;
        for (uint32_t i = 0; i < e->u.compare.rest.n && res; i++) {
            jv right;
            if (eval(rt, e->u.compare.rest.v[i], &right)) {
                gptc_jv_decref(left);
                return -1;
            }
            rt->line = e->line;
            rt->col = e->col;
            int r = compare(rt, e->u.compare.ops[i], left, right, &res);
            gptc_jv_decref(left);
            left = right;
            if (r) {
                gptc_jv_decref(left);
                return -1;
            }
        }
        gptc_jv_decref(left);
        *out = jv_bool(res);
        return 0;
    }
    case JN_COND: {
        jv c;
        if (eval(rt, e->u.cond.test, &c)) return -1;
        int t = gptc_jv_truthy(c);
        gptc_jv_decref(c);
        if (t) return eval(rt, e->u.cond.then, out);
        if (e->u.cond.orelse) return eval(rt, e->u.cond.orelse, out);
        return gptc_jv_undef_msg(rt, out,
                                 "the inline if-expression on line %u evaluated to false "
                                 "and no else section was defined.",
                                 e->line);
    }
    case JN_LIST:
    case JN_TUPLE: {
        const jnlist *items = &e->u.seq.items;
        jlist *l = gptc_jlist_new(rt, items->n, e->kind == JN_TUPLE);
        if (!l) return -1;
        int r = 0;
        for (uint32_t i = 0; i < items->n && !r; i++)
            r = eval(rt, items->v[i], &l->v[i]);
        return gptc_jlist_finish(rt, l, r, out);
    }
    case JN_DICT: {
        jdict *d = gptc_jdict_new(rt, e->u.dict.keys.n);
        if (!d) return -1;
        int r = 0;
        for (uint32_t i = 0; i < e->u.dict.keys.n && !r; i++) {
            jv k = jv_none(), v = jv_none();
            r = eval(rt, e->u.dict.keys.v[i], &k);
            if (!r) r = eval(rt, e->u.dict.vals.v[i], &v);
            if (!r) r = gptc_jdict_set(rt, d, k, v);
            gptc_jv_decref(k);
            gptc_jv_decref(v);
        }
        return gptc_jdict_finish(rt, d, r, out);
    }
    case JN_CONCAT: {
        jbuf b = {0};
        int r = 0;
        for (uint32_t i = 0; i < e->u.seq.items.n && !r; i++) {
            jv x;
            r = eval(rt, e->u.seq.items.v[i], &x);
            if (!r) r = gptc_jv_write_str(rt, &b, x);
            gptc_jv_decref(x);
        }
        return gptc_jbuf_finish(rt, &b, r, out);
    }
    default:
        return gptc_jfail(rt, JE_UNSUPPORTED, "expression kind %d", e->kind);
    }
}

static int eval(jrt *rt, const jnode *e, jv *out)
{
    if (++rt->nest > JINJA_MAX_RECURSION) {
        rt->nest--;
        *out = jv_none();
        return gptc_jfail(rt, JE_LIMIT, "expressions nested too deeply");
    }
    rt->line = e->line;
    rt->col = e->col;
    int r = jrt_steps(rt, 1);
    if (!r) r = eval_inner(rt, e, out);
    rt->nest--;
    if (r) *out = jv_none();
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Statements
 */
static int assign(jrt *rt, const jnode *target, jv v)
{
    switch (target->kind) {
    case JN_NAME:
        return frame_set(rt, rt->frame, target->u.var.sym, v);
    case JN_NSREF: {
        jv ns = jv_none();
        if (!lookup(rt, target->u.nsref.sym, &ns) || ns.kind != JV_NS) {
            gptc_jv_decref(ns);
            rt->line = target->line;
            rt->col = target->col;
            return gptc_jfail(rt, JE_RUNTIME, "cannot assign attribute on non-namespace object");
        }
        jv key;
        int r = gptc_jv_str(rt, target->u.nsref.attr->p, target->u.nsref.attr->n, &key);
        if (!r) {
            r = gptc_jdict_set(rt, ns.u.ns->attrs, key, v);
            gptc_jv_decref(key);
        }
        gptc_jv_decref(ns);
        return r;
    }
    case JN_TUPLE: {
        const jnlist *targets = &target->u.seq.items;
        jlist *items;
        if (gptc_jinja_iterate(rt, v, &items)) return -1;
        int r = 0;
        if (items->n != targets->n)
            r = items->n < targets->n
                    ? gptc_jfail(rt, JE_VALUE, "not enough values to unpack (expected %u, got %zu)",
                                 targets->n, items->n)
                    : gptc_jfail(rt, JE_VALUE, "too many values to unpack (expected %u)",
                                 targets->n);
        for (uint32_t i = 0; i < targets->n && !r; i++)
            r = assign(rt, targets->v[i], items->v[i]);
        gptc_jv_decref(jv_listv(items));
        return r;
    }
    default:
        return gptc_jfail(rt, JE_RUNTIME, "cannot assign to this target");
    }
}

/* Render statements into a fresh buffer: OUT the text as a string value */
static int capture_body(jrt *rt, const jnlist *body, jv *out)
{
    jbuf b = {0};
    b.max = rt->opts->limits.max_output;
    jbuf *saved = rt->out;
    rt->out = &b;
    int r = exec_list(rt, body);
    rt->out = saved;
    return gptc_jbuf_finish(rt, &b, r, out);
}

static int exec_for(jrt *rt, const jnode *s)
{
    jv seqv;
    if (eval(rt, s->u.forloop.iter, &seqv)) return -1;
    jlist *items;
    rt->line = s->line;
    rt->col = s->col;
    int r = gptc_jinja_iterate(rt, seqv, &items);
    gptc_jv_decref(seqv);
    if (r) return -1;

    jframe *outer = rt->frame;
    jframe *f = frame_new(rt, outer);
    if (!f) {
        gptc_jv_decref(jv_listv(items));
        return -1;
    }
    if (s->u.forloop.filter) { /* inline filter: `for x in xs if cond` (no `loop` yet) */
        jlist *kept = gptc_jlist_new(rt, items->n, 0);
        size_t nk = 0;
        rt->frame = f;
        for (size_t i = 0; kept && i < items->n && !r; i++) {
            frame_clear(f);
            jv c = jv_none();
            r = assign(rt, s->u.forloop.target, items->v[i]);
            if (!r) r = eval(rt, s->u.forloop.filter, &c);
            if (!r && gptc_jv_truthy(c)) kept->v[nk++] = gptc_jv_incref(items->v[i]);
            gptc_jv_decref(c);
        }
        rt->frame = outer;
        gptc_jv_decref(jv_listv(items));
        if (!kept || r) {
            if (kept) gptc_jv_decref(jv_listv(kept));
            frame_release(rt, f);
            return -1;
        }
        kept->n = nk;
        kept->depth = 1;
        if (gptc_jlist_seal(rt, kept)) {
            gptc_jv_decref(jv_listv(kept));
            frame_release(rt, f);
            return -1;
        }
        items = kept;
    }
    if (items->n == 0) {
        gptc_jv_decref(jv_listv(items));
        frame_release(rt, f);
        return s->u.forloop.orelse.n ? exec_list(rt, &s->u.forloop.orelse) : 0;
    }
    jloop *lp = gptc_jalloc(rt, sizeof *lp);
    if (!lp || items->depth + 1 > JINJA_MAX_DEPTH) {
        if (lp) gptc_jfail(rt, JE_LIMIT, "values nested too deeply");
        free(lp);
        gptc_jv_decref(jv_listv(items));
        frame_release(rt, f);
        return -1;
    }
    lp->rc = 1;
    lp->items = items;
    lp->i = 0;
    lp->depth = (uint16_t)(items->depth + 1);
    jv loopv = jv_mk(JV_LOOP);
    loopv.u.loop = lp;
    for (size_t i = 0; i < items->n && !r; i++) {
        if (++rt->iters > rt->opts->limits.max_iters) {
            r = gptc_jfail(rt, JE_LIMIT,
                           "the template ran too many loop iterations (more than %llu)",
                           (unsigned long long)rt->opts->limits.max_iters);
            break;
        }
        if (f->captured) { /* a macro defined in the last iteration keeps that frame */
            frame_release(rt, f);
            f = frame_new(rt, outer);
            if (!f) {
                r = -1;
                break;
            }
        } else {
            frame_clear(f);
        }
        lp->i = i;
        rt->frame = f;
        r = assign(rt, s->u.forloop.target, items->v[i]);
        if (!r) r = frame_set(rt, f, rt->t->sym_loop, loopv);
        if (!r) r = exec_list(rt, &s->u.forloop.body);
        rt->frame = outer;
        if (rt->ctl == 1) {
            rt->ctl = 0;
            break;
        }
        rt->ctl = 0;
    }
    rt->frame = outer;
    gptc_jv_decref(loopv);
    frame_release(rt, f);
    return r;
}

static int make_macro(jrt *rt, const jnode *node, jv *out)
{
    jmacro *m = gptc_jalloc(rt, sizeof *m);
    if (!m) return -1;
    m->rc = 1;
    m->node = node;
    m->frame = rt->frame;
    capture(rt->frame);
    *out = jv_mk(JV_MACRO);
    out->u.m = m;
    return 0;
}

static int exec_stmt(jrt *rt, const jnode *s)
{
    switch (s->kind) {
    case JN_TEXT:
        return gptc_jbuf_put(rt, rt->out, s->u.cval.u.s->p, s->u.cval.u.s->n);
    case JN_OUTPUT: {
        jv v;
        if (eval(rt, s->u.output.expr, &v)) return -1;
        int r = gptc_jv_write_str(rt, rt->out, v);
        gptc_jv_decref(v);
        return r;
    }
    case JN_IF: {
        const jnlist *conds = &s->u.ifs.conds, *bodies = &s->u.ifs.bodies;
        for (uint32_t i = 0; i < conds->n; i++) {
            jv c;
            if (eval(rt, conds->v[i], &c)) return -1;
            int t = gptc_jv_truthy(c);
            gptc_jv_decref(c);
            if (t) return exec_list(rt, &bodies->v[i]->u.body.stmts);
        }
        if (bodies->n > conds->n) return exec_list(rt, &bodies->v[conds->n]->u.body.stmts);
        return 0;
    }
    case JN_FOR:
        return exec_for(rt, s);
    case JN_SET: {
        jv v;
        if (eval(rt, s->u.set.value, &v)) return -1;
        int r = assign(rt, s->u.set.target, v);
        gptc_jv_decref(v);
        return r;
    }
    case JN_SET_BLOCK: {
        jv text, v;
        if (capture_body(rt, &s->u.setblock.body, &text)) return -1;
        int r = 0;
        if (s->u.setblock.filters) {
            r = apply_filters(rt, s->u.setblock.filters, text, &v);
            gptc_jv_decref(text);
        } else {
            v = text;
        }
        if (r) return -1;
        r = assign(rt, s->u.setblock.target, v);
        gptc_jv_decref(v);
        return r;
    }
    case JN_MACRO: {
        jv m;
        if (make_macro(rt, s, &m)) return -1;
        int r = frame_set(rt, rt->frame, s->u.macro.sym, m);
        gptc_jv_decref(m);
        return r;
    }
    case JN_CALL_BLOCK: {
        const jnode *call = s->u.macro.call;
        jv fn, caller, res;
        if (eval(rt, call->u.call.fn, &fn)) return -1;
        if (fn.kind != JV_MACRO) {
            int r = fn.kind == JV_UNDEF
                        ? undefined_error(rt, fn)
                        : gptc_jfail(rt, JE_UNSUPPORTED,
                                     "{%% call %%} of something other than a macro");
            gptc_jv_decref(fn);
            return r;
        }
        if (make_macro(rt, s, &caller)) {
            gptc_jv_decref(fn);
            return -1;
        }
        evargs ea;
        int r = eval_args(rt, &call->u.call.args, NULL, 0, &ea);
        if (!r) r = gptc_jinja_call_macro(rt, fn.u.m, &ea.a, caller, &res);
        args_free(&ea);
        gptc_jv_decref(caller);
        gptc_jv_decref(fn);
        if (r) return -1;
        r = gptc_jv_write_str(rt, rt->out, res);
        gptc_jv_decref(res);
        return r;
    }
    case JN_FILTER_BLOCK: {
        jv text, v;
        if (capture_body(rt, &s->u.filterblock.body, &text)) return -1;
        int r = apply_filters(rt, s->u.filterblock.filters, text, &v);
        gptc_jv_decref(text);
        if (r) return -1;
        r = gptc_jv_write_str(rt, rt->out, v);
        gptc_jv_decref(v);
        return r;
    }
    case JN_WITH: {
        jv vals[64];
        uint32_t n = s->u.with.targets.n;
        if (n > 64) return gptc_jfail(rt, JE_UNSUPPORTED, "more than 64 variables in one with");
        for (uint32_t i = 0; i < n; i++)
            if (eval(rt, s->u.with.values.v[i], &vals[i])) {
                for (uint32_t k = 0; k < i; k++)
                    gptc_jv_decref(vals[k]);
                return -1;
            }
        jframe *outer = rt->frame, *f = frame_new(rt, outer);
        int r = f ? 0 : -1;
        rt->frame = f ? f : outer;
        for (uint32_t i = 0; i < n && !r; i++)
            r = assign(rt, s->u.with.targets.v[i], vals[i]);
        for (uint32_t i = 0; i < n; i++)
            gptc_jv_decref(vals[i]);
        if (!r) r = exec_list(rt, &s->u.with.body);
        rt->frame = outer;
        frame_release(rt, f);
        return r;
    }
    case JN_BREAK:
        rt->ctl = 1;
        return 0;
    case JN_CONTINUE:
        rt->ctl = 2;
        return 0;
    case JN_BODY:
        return exec_list(rt, &s->u.body.stmts);
    default:
        return gptc_jfail(rt, JE_UNSUPPORTED, "statement kind %d", s->kind);
    }
}

static int exec_list(jrt *rt, const jnlist *l)
{
    if (++rt->nest > JINJA_MAX_RECURSION) {
        rt->nest--;
        return gptc_jfail(rt, JE_LIMIT, "statements nested too deeply");
    }
    int r = 0;
    for (uint32_t i = 0; i < l->n && !r; i++) {
        const jnode *s = l->v[i];
        rt->line = s->line;
        rt->col = s->col;
        r = jrt_steps(rt, 1);
        if (!r) r = exec_stmt(rt, s);
        if (rt->ctl) break;
    }
    rt->nest--;
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Macros
 */
int gptc_jinja_call_macro(jrt *rt, jmacro *m, const jargs *a, jv caller, jv *out)
{
    const jnode *node = m->node;
    const jnlist *params = &node->u.macro.params, *defaults = &node->u.macro.defaults;
    const char *mname = node->kind == JN_MACRO ? node->u.macro.name->p : "caller";
    if (rt->calls >= rt->opts->limits.max_calls)
        return gptc_jfail(rt, JE_LIMIT, "macro calls nested too deeply (more than %d)",
                          rt->opts->limits.max_calls);
    uint32_t np = params->n;
    jframe *f = frame_new(rt, m->frame);
    if (!f) return -1;
    int r = 0;
    uint8_t set[256] = {0};
    if (np > sizeof set) r = gptc_jfail(rt, JE_UNSUPPORTED, "macro with more than 256 parameters");
    jlist *varargs = NULL;
    jdict *kwargs = NULL;
    /* positional */
    size_t nextra = a->npos > np ? a->npos - np : 0;
    if (!r && nextra && !(node->u.macro.flags & JNF_VARARGS))
        r = gptc_jfail(rt, JE_TYPE, "macro '%s' takes not more than %u argument(s)", mname, np);
    if (!r && (node->u.macro.flags & JNF_VARARGS)) {
        varargs = gptc_jlist_new(rt, nextra, 1);
        if (!varargs) r = -1;
    }
    for (size_t i = 0; i < a->npos && !r; i++) {
        if (i < np) {
            r = frame_set(rt, f, params->v[i]->u.var.sym, a->pos[i]);
            set[i] = 1;
        } else {
            varargs->v[i - np] = gptc_jv_incref(a->pos[i]);
        }
    }
    if (!r && varargs) r = gptc_jlist_seal(rt, varargs);
    /* keyword */
    if (!r && (node->u.macro.flags & JNF_KWARGS) && !(kwargs = gptc_jdict_new(rt, 0))) r = -1;
    for (size_t k = 0; k < a->nkw && !r; k++) {
        const jstr *kn = a->kwn[k];
        uint32_t i;
        for (i = 0; i < np; i++) {
            const jstr *pn = params->v[i]->u.var.name;
            if (pn->n == kn->n && memcmp(pn->p, kn->p, kn->n) == 0) break;
        }
        if (i < np) {
            if (set[i]) {
                r = gptc_jfail(rt, JE_TYPE, "macro '%s' got multiple values for argument '%s'",
                               mname, kn->p);
                break;
            }
            r = frame_set(rt, f, params->v[i]->u.var.sym, a->kw[k]);
            set[i] = 1;
        } else if (kn->n == 6 && memcmp(kn->p, "caller", 6) == 0 && caller.kind == JV_NOARG) {
            caller = a->kw[k];
        } else if (kwargs) {
            jv key = jv_strv(GPTC_UNCONST(jstr *, kn));
            r = gptc_jdict_set(rt, kwargs, key, a->kw[k]);
        } else {
            r = gptc_jfail(rt, JE_TYPE, "macro '%s' takes no keyword argument '%s'", mname, kn->p);
        }
    }
    /* defaults, evaluated in the macro's frame (a default may use earlier parameters) */
    jframe *saved = rt->frame;
    rt->frame = f;
    for (uint32_t i = 0; i < np && !r; i++) {
        if (set[i]) continue;
        jv v;
        if (defaults->v && defaults->v[i]) {
            r = eval(rt, defaults->v[i], &v);
        } else {
            r = gptc_jv_undef_msg(rt, &v, "parameter '%s' was not provided",
                                  params->v[i]->u.var.name->p);
        }
        if (!r) {
            r = frame_set(rt, f, params->v[i]->u.var.sym, v);
            gptc_jv_decref(v);
        }
    }
    if (!r && caller.kind != JV_NOARG) r = frame_set(rt, f, rt->t->sym_caller, caller);
    if (!r && varargs) r = frame_set(rt, f, rt->t->sym_varargs, jv_listv(varargs));
    if (!r && kwargs) r = gptc_jdict_seal(rt, kwargs);
    if (!r && kwargs) r = frame_set(rt, f, rt->t->sym_kwargs, jv_dictv(kwargs));
    if (varargs) gptc_jv_decref(jv_listv(varargs));
    if (kwargs) gptc_jv_decref(jv_dictv(kwargs));
    if (!r) {
        rt->calls++;
        int ctl = rt->ctl;
        r = capture_body(rt, &node->u.macro.body, out);
        rt->ctl = ctl;
        rt->calls--;
    }
    rt->frame = saved;
    frame_release(rt, f);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Render
 */
static int from_json(jrt *rt, const json_t *j, int depth, jv *out)
{
    if (depth > JINJA_MAX_DEPTH - 1)
        return gptc_jfail(rt, JE_LIMIT, "input JSON nested too deeply");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        jdict *d = gptc_jdict_new(rt, json_object_size(j));
        if (!d) return -1;
        const char *key;
        json_t *val;
        int r = 0;
        json_object_foreach(GPTC_UNCONST(json_t *, j), key, val)
        {
            jv k = jv_none(), v = jv_none();
            r = gptc_jv_cstr(rt, key, &k);
            if (!r) r = from_json(rt, val, depth + 1, &v);
            if (!r) r = gptc_jdict_set(rt, d, k, v);
            gptc_jv_decref(k);
            gptc_jv_decref(v);
            if (r) break;
        }
        return gptc_jdict_finish(rt, d, r, out);
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        jlist *l = gptc_jlist_new(rt, n, 0);
        if (!l) return -1;
        int r = 0;
        for (size_t i = 0; i < n && !r; i++)
            r = from_json(rt, json_array_get(j, i), depth + 1, &l->v[i]);
        return gptc_jlist_finish(rt, l, r, out);
    }
    case JSON_STRING:
        return gptc_jv_str(rt, json_string_value(j), json_string_length(j), out);
    case JSON_INTEGER:
        *out = jv_int((int64_t)json_integer_value(j));
        return 0;
    case JSON_REAL:
        *out = jv_float(json_real_value(j));
        return 0;
    case JSON_TRUE:
        *out = jv_bool(1);
        return 0;
    case JSON_FALSE:
        *out = jv_bool(0);
        return 0;
    default:
        *out = jv_none();
        return 0;
    }
}

static gptc_status report(jrt *rt, gptc_err *err)
{
    static const struct {
        const char *prefix;
        gptc_status st;
    } k[] = {
        [JE_SYNTAX] = {"template syntax error", GPTC_E_FORMAT},
        [JE_UNSUPPORTED] = {"unsupported", GPTC_E_UNSUPPORTED},
        [JE_TEMPLATE] = {"template raised an exception", GPTC_E_INVALID},
        [JE_TYPE] = {"template error (TypeError)", GPTC_E_INVALID},
        [JE_VALUE] = {"template error (ValueError)", GPTC_E_INVALID},
        [JE_UNDEFINED] = {"template error (UndefinedError)", GPTC_E_INVALID},
        [JE_ZERODIV] = {"template error (ZeroDivisionError)", GPTC_E_INVALID},
        [JE_SECURITY] = {"template error (SecurityError)", GPTC_E_INVALID},
        [JE_RUNTIME] = {"template error", GPTC_E_INVALID},
        [JE_LIMIT] = {"template stopped", GPTC_E_RANGE},
        [JE_NOMEM] = {"template", GPTC_E_NOMEM},
    };
    return gptc_fail(err, k[rt->ekind].st, "%s at line %u col %u: %s", k[rt->ekind].prefix,
                     rt->line, rt->col, rt->emsg);
}

gptc_status gptc_jinja_render(const jinja_template *t, const jinja_var *vars, size_t n_vars,
                              const jinja_opts *opts, char **out, size_t *out_len, gptc_err *err)
{
    if (!t || !opts || !out || (n_vars && !vars))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_jinja_render: NULL argument");
    *out = NULL;
    if (out_len) *out_len = 0;
    jrt rt;
    memset(&rt, 0, sizeof rt);
    rt.t = t;
    rt.opts = opts;
    jbuf buf = {0};
    buf.max = opts->limits.max_output;
    rt.out = &buf;

    jframe *globals = frame_new(&rt, NULL);
    jframe *root = globals ? frame_new(&rt, globals) : NULL;
    int r = root ? 0 : -1;
    for (int id = 0; id < JF_COUNT && !r; id++) {
        const char *name = gptc_jinja_func_name(id);
        uint32_t sym = gptc_jinja_sym_find(t, name, strlen(name));
        if (sym == UINT32_MAX) continue;
        jv fn = jv_mk(JV_FUNC);
        fn.u.i = id;
        r = frame_set(&rt, globals, sym, fn);
    }
    for (size_t i = 0; i < n_vars && !r; i++) {
        const jinja_var *v = &vars[i];
        uint32_t sym = gptc_jinja_sym_find(t, v->name, strlen(v->name));
        if (sym == UINT32_MAX) continue; /* the template never names it */
        jv x = jv_none();
        switch (v->type) {
        case JINJA_VAR_JSON:
            r = v->json ? from_json(&rt, v->json, 0, &x) : 0;
            break;
        case JINJA_VAR_STR:
            r = gptc_jv_str(&rt, v->s ? v->s : "", v->s ? v->n : 0, &x);
            break;
        case JINJA_VAR_BOOL:
            x = jv_bool(v->b);
            break;
        default:
            break;
        }
        if (!r) r = frame_set(&rt, globals, sym, x);
        gptc_jv_decref(x);
    }
    if (!r) {
        rt.frame = root;
        r = exec_list(&rt, &t->root->u.body.stmts);
    }

    /* teardown: frames (root, captured ones), then namespaces (emptied first: cycles) */
    rt.frame = NULL;
    if (root) {
        root->captured = 0;
        frame_destroy(root);
    }
    jframe *f = rt.captured;
    while (f) {
        frame_clear(f);
        f = f->next;
    }
    while (rt.captured) {
        jframe *next = rt.captured->next;
        frame_destroy(rt.captured);
        rt.captured = next;
    }
    if (globals) frame_destroy(globals);
    for (size_t i = 0; i < rt.n_ns; i++) {
        jdict *d = rt.nss[i]->attrs;
        rt.nss[i]->attrs = NULL;
        if (d) {
            jv dv = jv_dictv(d);
            gptc_jv_decref(dv);
        }
    }
    for (size_t i = 0; i < rt.n_ns; i++) {
        jv v = jv_mk(JV_NS);
        v.u.ns = rt.nss[i];
        gptc_jv_decref(v);
    }
    free(rt.nss);

    if (r || rt.failed) {
        gptc_jbuf_free(&buf);
        if (!rt.failed) return gptc_fail(err, GPTC_E_NOMEM, "template: out of memory");
        return report(&rt, err);
    }
    if (!buf.p) {
        buf.p = malloc(1);
        if (!buf.p) return gptc_fail(err, GPTC_E_NOMEM, "template: out of memory");
        buf.p[0] = '\0';
    }
    *out = buf.p;
    if (out_len) *out_len = buf.n;
    return GPTC_OK;
}
