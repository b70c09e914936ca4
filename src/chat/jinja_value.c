/*
 * jinja_value.c — Jinja values with Python's semantics: allocation against the render's budget,
 * reference counting, equality, ordering, hashing, truthiness, str()/repr() (including
 * repr(float)'s shortest round-trip digits), json.dumps, and the UTF-8 and case helpers the
 * string methods need.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_impl.h"
#include "core/hash.h"

/* ---------------------------------------------------------------------------------------------
 * Allocation and reference counts
 */
void *gptc_jalloc(jrt *rt, size_t n)
{
    if (rt) {
        if (rt->failed) return NULL;
        if (n > rt->opts->limits.max_alloc || rt->alloc > rt->opts->limits.max_alloc - n) {
            gptc_jfail(rt, JE_LIMIT, "the template used too much memory (more than %zu MiB)",
                       rt->opts->limits.max_alloc >> 20);
            return NULL;
        }
        rt->alloc += n;
    }
    void *p = malloc(n ? n : 1);
    if (!p && rt) gptc_jfail(rt, JE_NOMEM, "out of memory");
    return p;
}

jstr *gptc_jstr_new(jrt *rt, const char *p, size_t n)
{
    if (n > ((size_t)1 << 40)) {
        if (rt) gptc_jfail(rt, JE_LIMIT, "string too long");
        return NULL;
    }
    jstr *s = gptc_jalloc(rt, sizeof *s + n + 1);
    if (!s) return NULL;
    s->rc = 1;
    s->n = n;
    if (n) memcpy(s->p, p, n);
    s->p[n] = '\0';
    s->ncp = gptc_ju8_count(s->p, n);
    return s;
}

jstr *gptc_jstr_cat(jrt *rt, const jstr *a, const jstr *b)
{
    jstr *s = gptc_jalloc(rt, sizeof *s + a->n + b->n + 1);
    if (!s) return NULL;
    s->rc = 1;
    s->n = a->n + b->n;
    memcpy(s->p, a->p, a->n);
    memcpy(s->p + a->n, b->p, b->n);
    s->p[s->n] = '\0';
    s->ncp = a->ncp + b->ncp;
    return s;
}

void gptc_jstr_free_immortal(jstr *s)
{
    free(s);
}

jlist *gptc_jlist_new(jrt *rt, size_t n, int tuple)
{
    if (n > ((size_t)1 << 32)) {
        if (rt) gptc_jfail(rt, JE_LIMIT, "list too long");
        return NULL;
    }
    jlist *l = gptc_jalloc(rt, sizeof *l + n * sizeof(jv));
    if (!l) return NULL;
    l->rc = 1;
    l->depth = 1;
    l->tuple = (uint8_t)(tuple != 0);
    l->gen = 0;
    l->gen_ekind = 0;
    l->view = 0;
    l->gen_err = NULL;
    l->n = n;
    for (size_t i = 0; i < n; i++)
        l->v[i] = jv_none();
    return l;
}

int gptc_jv_depth(jv v)
{
    switch (v.kind) {
    case JV_LIST:
        return v.u.l->depth;
    case JV_DICT:
        return v.u.d->depth;
    case JV_METHOD:
        return v.u.meth->depth;
    case JV_LOOP:
        return v.u.loop->depth;
    default:
        return 0;
    }
}

int gptc_jlist_seal(jrt *rt, jlist *l)
{
    int d = 0;
    for (size_t i = 0; i < l->n; i++) {
        int e = gptc_jv_depth(l->v[i]);
        if (e > d) d = e;
    }
    if (d + 1 > JINJA_MAX_DEPTH)
        return gptc_jfail(rt, JE_LIMIT, "values nested too deeply (more than %d levels)",
                          JINJA_MAX_DEPTH);
    l->depth = (uint16_t)(d + 1);
    return 0;
}

jdict *gptc_jdict_new(jrt *rt, size_t cap)
{
    jdict *d = gptc_jalloc(rt, sizeof *d);
    if (!d) return NULL;
    memset(d, 0, sizeof *d);
    d->rc = 1;
    d->depth = 1;
    if (cap) {
        d->keys = gptc_jalloc(rt, cap * sizeof(jv));
        d->vals = gptc_jalloc(rt, cap * sizeof(jv));
        if (!d->keys || !d->vals) {
            free(d->keys);
            free(d->vals);
            free(d);
            return NULL;
        }
        d->cap = cap;
    }
    return d;
}

static void jdict_free(jdict *d)
{
    for (size_t i = 0; i < d->n; i++) {
        gptc_jv_decref(d->keys[i]);
        gptc_jv_decref(d->vals[i]);
    }
    free(d->keys);
    free(d->vals);
    free(d->index);
    free(d);
}

jv gptc_jv_incref(jv v)
{
    uint32_t *rc = NULL;
    switch (v.kind) {
    case JV_UNDEF:
    case JV_STR:
        rc = v.u.s ? &v.u.s->rc : NULL;
        break;
    case JV_LIST:
        rc = &v.u.l->rc;
        break;
    case JV_DICT:
        rc = &v.u.d->rc;
        break;
    case JV_NS:
        rc = &v.u.ns->rc;
        break;
    case JV_MACRO:
        rc = &v.u.m->rc;
        break;
    case JV_METHOD:
        rc = &v.u.meth->rc;
        break;
    case JV_LOOP:
        rc = &v.u.loop->rc;
        break;
    default:
        break;
    }
    if (rc && *rc != JRC_IMMORTAL) ++*rc;
    return v;
}

void gptc_jv_decref(jv v)
{
    switch (v.kind) {
    case JV_UNDEF:
    case JV_STR:
        if (v.u.s && v.u.s->rc != JRC_IMMORTAL && --v.u.s->rc == 0) free(v.u.s);
        break;
    case JV_LIST:
        if (--v.u.l->rc == 0) {
            for (size_t i = 0; i < v.u.l->n; i++)
                gptc_jv_decref(v.u.l->v[i]);
            free(v.u.l->gen_err);
            free(v.u.l);
        }
        break;
    case JV_DICT:
        if (--v.u.d->rc == 0) jdict_free(v.u.d);
        break;
    case JV_NS:
        if (--v.u.ns->rc == 0) {
            if (v.u.ns->attrs) jdict_free(v.u.ns->attrs);
            free(v.u.ns);
        }
        break;
    case JV_MACRO:
        if (--v.u.m->rc == 0) free(v.u.m);
        break;
    case JV_METHOD:
        if (--v.u.meth->rc == 0) {
            gptc_jv_decref(v.u.meth->self);
            free(v.u.meth);
        }
        break;
    case JV_LOOP:
        if (--v.u.loop->rc == 0) {
            gptc_jv_decref(jv_listv(v.u.loop->items));
            free(v.u.loop);
        }
        break;
    default:
        break;
    }
}

int gptc_jv_str(jrt *rt, const char *p, size_t n, jv *out)
{
    jstr *s = gptc_jstr_new(rt, p, n);
    if (!s) return -1;
    *out = jv_strv(s);
    return 0;
}

int gptc_jv_cstr(jrt *rt, const char *s, jv *out)
{
    return gptc_jv_str(rt, s, strlen(s), out);
}

int gptc_jv_undef_msg(jrt *rt, jv *out, const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    jstr *s = gptc_jstr_new(rt, buf, (size_t)n);
    if (!s) return -1;
    *out = jv_undef();
    out->u.s = s;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Dicts: insertion order kept; an open-addressing index once past 8 entries
 */
static int jdict_reindex(jrt *rt, jdict *d, size_t want)
{
    size_t cap = 16;
    while (cap < 2 * want)
        cap <<= 1;
    uint32_t *idx = gptc_jalloc(rt, cap * sizeof *idx);
    if (!idx) return -1;
    memset(idx, 0, cap * sizeof *idx);
    for (size_t i = 0; i < d->n; i++) {
        uint64_t h = 0;
        if (gptc_jv_hash(rt, d->keys[i], &h)) {
            free(idx);
            return -1;
        }
        size_t j = (size_t)h & (cap - 1);
        while (idx[j])
            j = (j + 1) & (cap - 1);
        idx[j] = (uint32_t)(i + 1);
    }
    free(d->index);
    d->index = idx;
    d->index_cap = cap;
    return 0;
}

long gptc_jdict_find(jrt *rt, const jdict *d, jv key)
{
    uint64_t h;
    if (gptc_jv_hash(rt, key, &h)) return -2;
    if (d->index) {
        size_t j = (size_t)h & (d->index_cap - 1);
        while (d->index[j]) {
            size_t e = d->index[j] - 1;
            int eq = 0;
            if (gptc_jv_eq(rt, d->keys[e], key, &eq)) return -2;
            if (eq) return (long)e;
            j = (j + 1) & (d->index_cap - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < d->n; i++) {
        int eq = 0;
        if (gptc_jv_eq(rt, d->keys[i], key, &eq)) return -2;
        if (eq) return (long)i;
    }
    return -1;
}

long gptc_jdict_find_str(const jdict *d, const char *s, size_t n)
{
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->keys[i];
        if (k.kind == JV_STR && k.u.s->n == n && memcmp(k.u.s->p, s, n) == 0) return (long)i;
    }
    return -1;
}

int gptc_jdict_set(jrt *rt, jdict *d, jv key, jv val)
{
    long e = gptc_jdict_find(rt, d, key);
    if (e == -2) return -1;
    if (e >= 0) {
        gptc_jv_decref(d->vals[e]);
        d->vals[e] = gptc_jv_incref(val);
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *k = gptc_jalloc(rt, cap * sizeof(jv));
        jv *v = gptc_jalloc(rt, cap * sizeof(jv));
        if (!k || !v) {
            free(k);
            free(v);
            return -1;
        }
        if (d->n) {
            memcpy(k, d->keys, d->n * sizeof(jv));
            memcpy(v, d->vals, d->n * sizeof(jv));
        }
        free(d->keys);
        free(d->vals);
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = gptc_jv_incref(key);
    d->vals[d->n] = gptc_jv_incref(val);
    d->n++;
    if (d->n > 8 && (!d->index || 2 * d->n > d->index_cap)) {
        if (jdict_reindex(rt, d, d->n * 2)) return -1;
    } else if (d->index) {
        uint64_t h = 0;
        gptc_jv_hash(rt, key, &h);
        size_t j = (size_t)h & (d->index_cap - 1);
        while (d->index[j])
            j = (j + 1) & (d->index_cap - 1);
        d->index[j] = (uint32_t)d->n;
    }
    return 0;
}

int gptc_jdict_seal(jrt *rt, jdict *d)
{
    int m = 0;
    for (size_t i = 0; i < d->n; i++) {
        int a = gptc_jv_depth(d->keys[i]), b = gptc_jv_depth(d->vals[i]);
        if (a > m) m = a;
        if (b > m) m = b;
    }
    if (m + 1 > JINJA_MAX_DEPTH)
        return gptc_jfail(rt, JE_LIMIT, "values nested too deeply (more than %d levels)",
                          JINJA_MAX_DEPTH);
    d->depth = (uint16_t)(m + 1);
    return 0;
}

int gptc_jlist_finish(jrt *rt, jlist *l, int failed, jv *out)
{
    if (failed || gptc_jlist_seal(rt, l)) {
        gptc_jv_decref(jv_listv(l));
        return -1;
    }
    *out = jv_listv(l);
    return 0;
}

int gptc_jdict_finish(jrt *rt, jdict *d, int failed, jv *out)
{
    if (failed || gptc_jdict_seal(rt, d)) {
        gptc_jv_decref(jv_dictv(d));
        return -1;
    }
    *out = jv_dictv(d);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Python semantics: truth, type names, equality, ordering, hashing
 */
int gptc_jv_truthy(jv v)
{
    switch (v.kind) {
    case JV_UNDEF:
    case JV_NONE:
    case JV_NOARG:
        return 0;
    case JV_BOOL:
    case JV_INT:
        return v.u.i != 0;
    case JV_FLOAT:
        return v.u.f != 0.0;
    case JV_STR:
        return v.u.s->n != 0;
    case JV_LIST:
        return v.u.l->gen || v.u.l->n != 0;
    case JV_DICT:
        return v.u.d->n != 0;
    default:
        return 1;
    }
}

const char *gptc_jv_type_name(jv v)
{
    switch (v.kind) {
    case JV_UNDEF:
        return "Undefined";
    case JV_NONE:
        return "NoneType";
    case JV_BOOL:
        return "bool";
    case JV_INT:
        return "int";
    case JV_FLOAT:
        return "float";
    case JV_STR:
        return "str";
    case JV_LIST:
        return v.u.l->gen ? "generator" : v.u.l->tuple ? "tuple" : "list";
    case JV_DICT:
        return "dict";
    case JV_NS:
        return "Namespace";
    case JV_MACRO:
        return "Macro";
    case JV_FUNC:
        return "function";
    case JV_METHOD:
        return "builtin_function_or_method";
    case JV_LOOP:
        return "LoopContext";
    default:
        return "object";
    }
}

static int is_num(jv v)
{
    return v.kind == JV_BOOL || v.kind == JV_INT || v.kind == JV_FLOAT;
}

/* Exact comparison of an integer and a float, as Python does: -1, 0, 1, or 2 when unordered */
static int cmp_int_float(int64_t i, double f)
{
    if (isnan(f)) return 2;
    if (f >= 9223372036854775808.0) return -1;
    if (f < -9223372036854775808.0) return 1;
    double t = trunc(f);
    int64_t ti = (int64_t)t;
    if (i != ti) return i < ti ? -1 : 1;
    double frac = f - t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int cmp_num(jv a, jv b)
{
    if (a.kind != JV_FLOAT && b.kind != JV_FLOAT) return (a.u.i > b.u.i) - (a.u.i < b.u.i);
    if (a.kind == JV_FLOAT && b.kind == JV_FLOAT) {
        if (isnan(a.u.f) || isnan(b.u.f)) return 2;
        return (a.u.f > b.u.f) - (a.u.f < b.u.f);
    }
    if (a.kind == JV_FLOAT) {
        int r = cmp_int_float(b.u.i, a.u.f);
        return r == 2 ? 2 : -r;
    }
    return cmp_int_float(a.u.i, b.u.f);
}

static int eq_rec(jrt *rt, jv a, jv b, int depth, int *res)
{
    if (depth > JINJA_MAX_DEPTH + 8)
        return gptc_jfail(rt, JE_LIMIT, "values nested too deeply to compare");
    *res = 0;
    if (is_num(a) && is_num(b)) {
        *res = cmp_num(a, b) == 0;
        return 0;
    }
    if (a.kind != b.kind) return 0;
    switch (a.kind) {
    case JV_UNDEF:
    case JV_NONE:
    case JV_NOARG:
        *res = 1;
        return 0;
    case JV_STR:
        *res =
            a.u.s == b.u.s || (a.u.s->n == b.u.s->n && memcmp(a.u.s->p, b.u.s->p, a.u.s->n) == 0);
        return 0;
    case JV_LIST: {
        const jlist *x = a.u.l, *y = b.u.l;
        if (x->gen || y->gen) {
            *res = x == y;
            return 0;
        }
        if (x->tuple != y->tuple || x->n != y->n) return 0;
        if (rt && jrt_steps(rt, x->n)) return -1;
        for (size_t i = 0; i < x->n; i++) {
            int e;
            if (eq_rec(rt, x->v[i], y->v[i], depth + 1, &e)) return -1;
            if (!e) return 0;
        }
        *res = 1;
        return 0;
    }
    case JV_DICT: {
        const jdict *x = a.u.d, *y = b.u.d;
        if (x->n != y->n) return 0;
        if (rt && jrt_steps(rt, x->n)) return -1;
        for (size_t i = 0; i < x->n; i++) {
            long j = gptc_jdict_find(rt, y, x->keys[i]);
            if (j == -2) return -1;
            if (j < 0) return 0;
            int e;
            if (eq_rec(rt, x->vals[i], y->vals[j], depth + 1, &e)) return -1;
            if (!e) return 0;
        }
        *res = 1;
        return 0;
    }
    case JV_FUNC:
        *res = a.u.i == b.u.i;
        return 0;
    case JV_METHOD:
        *res = a.u.meth->id == b.u.meth->id;
        if (*res) return eq_rec(rt, a.u.meth->self, b.u.meth->self, depth + 1, res);
        return 0;
    default:
        *res = a.u.ns == b.u.ns;
        return 0; /* identity: ns, macro, loop */
    }
}

int gptc_jv_eq(jrt *rt, jv a, jv b, int *res)
{
    return eq_rec(rt, a, b, 0, res);
}

static int cmp_rec(jrt *rt, jv a, jv b, const char *op, int depth, int *res)
{
    if (depth > JINJA_MAX_DEPTH + 8)
        return gptc_jfail(rt, JE_LIMIT, "values nested too deeply to compare");
    if (a.kind == JV_UNDEF || b.kind == JV_UNDEF) {
        jv u = a.kind == JV_UNDEF ? a : b;
        return gptc_jfail(rt, JE_UNDEFINED, "%s", u.u.s ? u.u.s->p : "undefined value");
    }
    if (is_num(a) && is_num(b)) {
        *res = cmp_num(a, b);
        return 0;
    }
    if (a.kind == JV_STR && b.kind == JV_STR) {
        size_t n = GPTC_MIN(a.u.s->n, b.u.s->n);
        int c = memcmp(a.u.s->p, b.u.s->p, n); /* UTF-8 byte order is code point order */
        if (c == 0) c = (a.u.s->n > b.u.s->n) - (a.u.s->n < b.u.s->n);
        *res = (c > 0) - (c < 0);
        return 0;
    }
    if (a.kind == JV_LIST && b.kind == JV_LIST && a.u.l->tuple == b.u.l->tuple && !a.u.l->gen &&
        !b.u.l->gen) {
        const jlist *x = a.u.l, *y = b.u.l;
        size_t n = GPTC_MIN(x->n, y->n);
        for (size_t i = 0; i < n; i++) {
            int e;
            if (eq_rec(rt, x->v[i], y->v[i], depth + 1, &e)) return -1;
            if (!e) return cmp_rec(rt, x->v[i], y->v[i], op, depth + 1, res);
        }
        *res = (x->n > y->n) - (x->n < y->n);
        return 0;
    }
    return gptc_jfail(rt, JE_TYPE, "'%s' not supported between instances of '%s' and '%s'", op,
                      gptc_jv_type_name(a), gptc_jv_type_name(b));
}

int gptc_jv_cmp(jrt *rt, jv a, jv b, const char *op, int *res)
{
    return cmp_rec(rt, a, b, op, 0, res);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static int hash_rec(jrt *rt, jv v, int depth, uint64_t *h)
{
    if (depth > JINJA_MAX_DEPTH + 8)
        return gptc_jfail(rt, JE_LIMIT, "values nested too deeply to hash");
    switch (v.kind) {
    case JV_NONE:
        *h = 0x9e3779b97f4a7c15ull;
        return 0;
    case JV_UNDEF:
        *h = 0x51ed270b2d3c7d1full;
        return 0;
    case JV_BOOL:
    case JV_INT:
        *h = mix64((uint64_t)v.u.i);
        return 0;
    case JV_FLOAT: {
        double f = v.u.f;
        if (f == trunc(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0) {
            *h = mix64((uint64_t)(int64_t)f);
        } else {
            uint64_t bits;
            memcpy(&bits, &f, sizeof bits);
            *h = mix64(bits);
        }
        return 0;
    }
    case JV_STR: {
        *h = gptc_fnv1a64(GPTC_FNV64_INIT, v.u.s->p, v.u.s->n);
        return 0;
    }
    case JV_LIST:
        if (v.u.l->gen) {
            *h = mix64((uint64_t)(uintptr_t)v.u.l);
            return 0;
        }
        if (v.u.l->tuple) {
            uint64_t x = 0x345678;
            for (size_t i = 0; i < v.u.l->n; i++) {
                uint64_t e;
                if (hash_rec(rt, v.u.l->v[i], depth + 1, &e)) return -1;
                x = mix64(x ^ e) + i;
            }
            *h = x;
            return 0;
        }
        break;
    case JV_FUNC:
        *h = mix64(1000 + (uint64_t)v.u.i);
        return 0;
    case JV_NS:
    case JV_MACRO:
    case JV_LOOP:
        *h = mix64((uint64_t)(uintptr_t)v.u.ns);
        return 0;
    default:
        break;
    }
    return gptc_jfail(rt, JE_TYPE, "unhashable type: '%s'", gptc_jv_type_name(v));
}

int gptc_jv_hash(jrt *rt, jv v, uint64_t *h)
{
    return hash_rec(rt, v, 0, h);
}

/* ---------------------------------------------------------------------------------------------
 * Buffers and text forms
 */
int gptc_jbuf_put(jrt *rt, jbuf *b, const char *p, size_t n)
{
    if (n == 0) return 0;
    if (b->max && (n > b->max || b->n > b->max - n))
        return gptc_jfail(rt, JE_LIMIT, "the rendered text is too long (more than %zu MiB)",
                          b->max >> 20);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        /* the growth counts against the render's memory budget, as values do: a filter's
         * result is built here before it becomes a string */
        if (rt) {
            size_t grow = cap - b->cap, max = rt->opts->limits.max_alloc;
            if (rt->failed) return -1;
            if (grow > max || rt->alloc > max - grow)
                return gptc_jfail(rt, JE_LIMIT,
                                  "the template used too much memory (more than %zu MiB)",
                                  max >> 20);
            rt->alloc += grow;
        }
        char *q = realloc(b->p, cap);
        if (!q) return gptc_jfail(rt, JE_NOMEM, "out of memory");
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

int gptc_jbuf_printf(jrt *rt, jbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return 0;
    return gptc_jbuf_put(rt, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void gptc_jbuf_free(jbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int gptc_jbuf_finish(jrt *rt, jbuf *b, int failed, jv *out)
{
    int r = failed ? -1 : gptc_jv_str(rt, b->p ? b->p : "", b->n, out);
    gptc_jbuf_free(b);
    return r;
}

/* Python's repr(float): the shortest digits that read back as the same double; fixed notation
 * for exponents -4..15, else d.ddde+XX. */
void gptc_jfloat_repr(double f, char *buf, size_t cap)
{
    if (isnan(f)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, cap, f < 0 ? "-inf" : "inf");
        return;
    }
    if (f == 0) {
        snprintf(buf, cap, signbit(f) ? "-0.0" : "0.0");
        return;
    }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp: [-]d[.ddd]e[+-]XX */
    char digits[24];
    int nd = 0, neg = 0;
    const char *p = tmp;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 >= 0) {
            for (int i = 0; i <= exp10; i++)
                out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (int i = exp10 + 1; i < nd; i++)
                    out[o++] = digits[i];
            else
                out[o++] = '0';
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp10 - 1; i++)
                out[o++] = '0';
            for (int i = 0; i < nd; i++)
                out[o++] = digits[i];
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        out[o] = '\0';
        snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
    }
    snprintf(buf, cap, "%s", out);
}

/* str.isprintable() for a non-ASCII code point (an approximation of the Unicode tables:
 * controls, format characters, separators other than space, private use) */
static int ju_isprintable(uint32_t c)
{
    if (c < 0xA1) return c >= 0x20 && c < 0x7F;
    if (c == 0xAD || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E || c == 0x1680) return 0;
    if (c >= 0x600 && c <= 0x605) return 0;
    if (c >= 0x2000 && c <= 0x200F) return 0;
    if (c >= 0x2028 && c <= 0x202F) return 0;
    if (c >= 0x205F && c <= 0x206F) return 0;
    if (c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) return 0;
    if (c >= 0xE000 && c <= 0xF8FF) return 0;
    if (c >= 0xF0000) return 0;
    if (c >= 0xE0000 && c <= 0xE0FFF) return 0;
    return 1;
}

static int write_str_repr(jrt *rt, jbuf *b, const jstr *s)
{
    int has_sq = memchr(s->p, '\'', s->n) != NULL, has_dq = memchr(s->p, '"', s->n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (gptc_jbuf_put(rt, b, &q, 1)) return -1;
    size_t i = 0, run = 0;
    while (i < s->n) {
        size_t len;
        uint32_t c = ju8_dec(s->p + i, &len);
        char esc[16];
        int ne = 0;
        if (c == (uint32_t)q || c == '\\')
            ne = snprintf(esc, sizeof esc, "\\%c", (char)c);
        else if (c == '\t')
            ne = snprintf(esc, sizeof esc, "\\t");
        else if (c == '\n')
            ne = snprintf(esc, sizeof esc, "\\n");
        else if (c == '\r')
            ne = snprintf(esc, sizeof esc, "\\r");
        else if (c < 0x20 || c == 0x7F)
            ne = snprintf(esc, sizeof esc, "\\x%02x", c);
        else if (c >= 0x80 && !ju_isprintable(c))
            ne = c <= 0xFF     ? snprintf(esc, sizeof esc, "\\x%02x", c)
                 : c <= 0xFFFF ? snprintf(esc, sizeof esc, "\\u%04x", c)
                               : snprintf(esc, sizeof esc, "\\U%08x", c);
        if (ne) {
            if (gptc_jbuf_put(rt, b, s->p + run, i - run) || gptc_jbuf_put(rt, b, esc, (size_t)ne))
                return -1;
            run = i + len;
        }
        i += len;
    }
    if (gptc_jbuf_put(rt, b, s->p + run, s->n - run)) return -1;
    return gptc_jbuf_put(rt, b, &q, 1);
}

static int write_rec(jrt *rt, jbuf *b, jv v, int repr, int depth)
{
    if (depth > JINJA_MAX_DEPTH + 8)
        return gptc_jfail(rt, JE_LIMIT, "values nested too deeply to print");
    if (rt && jrt_steps(rt, 1)) return -1;
    char tmp[64];
    switch (v.kind) {
    case JV_UNDEF:
    case JV_NOARG:
        return repr ? jbuf_puts(rt, b, "Undefined") : 0;
    case JV_NONE:
        return jbuf_puts(rt, b, "None");
    case JV_BOOL:
        return jbuf_puts(rt, b, v.u.i ? "True" : "False");
    case JV_INT:
        return gptc_jbuf_printf(rt, b, "%lld", (long long)v.u.i);
    case JV_FLOAT:
        gptc_jfloat_repr(v.u.f, tmp, sizeof tmp);
        return jbuf_puts(rt, b, tmp);
    case JV_STR:
        return repr ? write_str_repr(rt, b, v.u.s) : gptc_jbuf_put(rt, b, v.u.s->p, v.u.s->n);
    case JV_LIST: {
        const jlist *l = v.u.l;
        if (l->gen) return jbuf_puts(rt, b, "<generator object>");
        static const char *const views[] = {"", "dict_keys(", "dict_values(", "dict_items("};
        if (l->view && jbuf_puts(rt, b, views[l->view & 3])) return -1;
        if (jbuf_puts(rt, b, l->tuple ? "(" : "[")) return -1;
        for (size_t i = 0; i < l->n; i++) {
            if (i && jbuf_puts(rt, b, ", ")) return -1;
            if (write_rec(rt, b, l->v[i], 1, depth + 1)) return -1;
        }
        if (l->tuple && l->n == 1 && jbuf_puts(rt, b, ",")) return -1;
        if (jbuf_puts(rt, b, l->tuple ? ")" : "]")) return -1;
        return l->view ? jbuf_puts(rt, b, ")") : 0;
    }
    case JV_DICT: {
        const jdict *d = v.u.d;
        if (jbuf_puts(rt, b, "{")) return -1;
        for (size_t i = 0; i < d->n; i++) {
            if (i && jbuf_puts(rt, b, ", ")) return -1;
            if (write_rec(rt, b, d->keys[i], 1, depth + 1) || jbuf_puts(rt, b, ": ") ||
                write_rec(rt, b, d->vals[i], 1, depth + 1))
                return -1;
        }
        return jbuf_puts(rt, b, "}");
    }
    case JV_NS: {
        if (jbuf_puts(rt, b, "<Namespace ")) return -1;
        jv d = jv_dictv(v.u.ns->attrs);
        if (write_rec(rt, b, d, 1, depth + 1)) return -1;
        return jbuf_puts(rt, b, ">");
    }
    case JV_MACRO: {
        const jnode *n = v.u.m->node;
        if (n->kind == JN_MACRO && n->u.macro.name)
            return gptc_jbuf_printf(rt, b, "<Macro '%s'>", n->u.macro.name->p);
        return jbuf_puts(rt, b, "<Macro 'caller'>");
    }
    case JV_FUNC:
        return gptc_jbuf_printf(rt, b, "<function %s>", gptc_jinja_func_name((int)v.u.i));
    case JV_METHOD:
        return gptc_jbuf_printf(rt, b, "<built-in method of %s object>",
                                gptc_jv_type_name(v.u.meth->self));
    case JV_LOOP:
        return gptc_jbuf_printf(rt, b, "<LoopContext %zu/%zu>", v.u.loop->i + 1,
                                v.u.loop->items->n);
    default:
        return 0;
    }
}

int gptc_jv_write_str(jrt *rt, jbuf *b, jv v)
{
    return write_rec(rt, b, v, 0, 0);
}
int gptc_jv_write_repr(jrt *rt, jbuf *b, jv v)
{
    return write_rec(rt, b, v, 1, 0);
}

int gptc_jv_to_str(jrt *rt, jv v, jv *out)
{
    if (v.kind == JV_STR) {
        *out = gptc_jv_incref(v);
        return 0;
    }
    jbuf b = {0};
    int r = gptc_jv_write_str(rt, &b, v);
    return gptc_jbuf_finish(rt, &b, r, out);
}

/* ---------------------------------------------------------------------------------------------
 * json.dumps
 */
static int json_str(jrt *rt, jbuf *b, const char *p, size_t n, int ensure_ascii)
{
    if (gptc_jbuf_put(rt, b, "\"", 1)) return -1;
    size_t i = 0, run = 0;
    while (i < n) {
        size_t len;
        uint32_t c = ju8_dec(p + i, &len);
        char esc[16];
        int ne = 0;
        switch (c) {
        case '"':
            ne = snprintf(esc, sizeof esc, "\\\"");
            break;
        case '\\':
            ne = snprintf(esc, sizeof esc, "\\\\");
            break;
        case '\n':
            ne = snprintf(esc, sizeof esc, "\\n");
            break;
        case '\r':
            ne = snprintf(esc, sizeof esc, "\\r");
            break;
        case '\t':
            ne = snprintf(esc, sizeof esc, "\\t");
            break;
        case '\b':
            ne = snprintf(esc, sizeof esc, "\\b");
            break;
        case '\f':
            ne = snprintf(esc, sizeof esc, "\\f");
            break;
        default:
            if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
                ne = snprintf(esc, sizeof esc, "\\u%04x", c);
            } else if (ensure_ascii && c > 0x7F) {
                if (c > 0xFFFF) {
                    uint32_t v = c - 0x10000;
                    ne = snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10),
                                  0xDC00 + (v & 0x3FF));
                } else {
                    ne = snprintf(esc, sizeof esc, "\\u%04x", c);
                }
            }
        }
        if (ne) {
            if (gptc_jbuf_put(rt, b, p + run, i - run) || gptc_jbuf_put(rt, b, esc, (size_t)ne))
                return -1;
            run = i + len;
        }
        i += len;
    }
    if (gptc_jbuf_put(rt, b, p + run, n - run)) return -1;
    return gptc_jbuf_put(rt, b, "\"", 1);
}

static int json_float(jrt *rt, jbuf *b, double f)
{
    if (isnan(f)) return jbuf_puts(rt, b, "NaN");
    if (isinf(f)) return jbuf_puts(rt, b, f < 0 ? "-Infinity" : "Infinity");
    char tmp[64];
    gptc_jfloat_repr(f, tmp, sizeof tmp);
    return jbuf_puts(rt, b, tmp);
}

static int json_newline(jrt *rt, jbuf *b, const jjson_opts *o, int level)
{
    if (gptc_jbuf_put(rt, b, "\n", 1)) return -1;
    for (int i = 0; i < level; i++) {
        if (o->indent_s) {
            if (gptc_jbuf_put(rt, b, o->indent_s->p, o->indent_s->n)) return -1;
        } else {
            for (int k = 0; k < o->indent; k++)
                if (gptc_jbuf_put(rt, b, " ", 1)) return -1;
        }
    }
    return 0;
}

static int json_rec(jrt *rt, jbuf *b, jv v, const jjson_opts *o, int level);

static int json_key(jrt *rt, jbuf *b, jv k, const jjson_opts *o)
{
    char tmp[64];
    switch (k.kind) {
    case JV_STR:
        return json_str(rt, b, k.u.s->p, k.u.s->n, o->ensure_ascii);
    case JV_INT:
        snprintf(tmp, sizeof tmp, "\"%lld\"", (long long)k.u.i);
        break;
    case JV_BOOL:
        snprintf(tmp, sizeof tmp, "\"%s\"", k.u.i ? "true" : "false");
        break;
    case JV_NONE:
        snprintf(tmp, sizeof tmp, "\"null\"");
        break;
    case JV_FLOAT: {
        jbuf t = {0};
        if (json_float(rt, &t, k.u.f)) {
            gptc_jbuf_free(&t);
            return -1;
        }
        snprintf(tmp, sizeof tmp, "\"%s\"", t.p ? t.p : "");
        gptc_jbuf_free(&t);
        break;
    }
    default:
        return gptc_jfail(rt, JE_TYPE, "keys must be str, int, float, bool or None, not %s",
                          gptc_jv_type_name(k));
    }
    return jbuf_puts(rt, b, tmp);
}

/* Stable merge sort of entry indices by key (sort_keys=True) */
static int sort_idx(jrt *rt, const jdict *d, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2) return 0;
    size_t h = n / 2;
    if (sort_idx(rt, d, idx, tmp, h) || sort_idx(rt, d, idx + h, tmp, n - h)) return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c;
        if (gptc_jv_cmp(rt, d->keys[idx[j]], d->keys[idx[i]], "<", &c)) return -1;
        tmp[k++] = c < 0 ? idx[j++] : idx[i++];
    }
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return 0;
}

static int json_rec(jrt *rt, jbuf *b, jv v, const jjson_opts *o, int level)
{
    if (level > JINJA_MAX_DEPTH + 8) return gptc_jfail(rt, JE_VALUE, "Circular reference detected");
    if (rt && jrt_steps(rt, 1)) return -1;
    int pretty = o->indent >= 0 || o->indent_s;
    const char *isep = o->item_sep ? o->item_sep->p : pretty ? "," : ", ";
    size_t isep_n = o->item_sep ? o->item_sep->n : strlen(isep);
    const char *ksep = o->key_sep ? o->key_sep->p : ": ";
    size_t ksep_n = o->key_sep ? o->key_sep->n : 2;
    switch (v.kind) {
    case JV_NONE:
        return jbuf_puts(rt, b, "null");
    case JV_BOOL:
        return jbuf_puts(rt, b, v.u.i ? "true" : "false");
    case JV_INT:
        return gptc_jbuf_printf(rt, b, "%lld", (long long)v.u.i);
    case JV_FLOAT:
        return json_float(rt, b, v.u.f);
    case JV_STR:
        return json_str(rt, b, v.u.s->p, v.u.s->n, o->ensure_ascii);
    case JV_LIST: {
        const jlist *l = v.u.l;
        if (l->gen)
            return gptc_jfail(rt, JE_TYPE, "Object of type generator is not JSON serializable");
        if (l->n == 0) return jbuf_puts(rt, b, "[]");
        if (jbuf_puts(rt, b, "[")) return -1;
        if (pretty && json_newline(rt, b, o, level + 1)) return -1;
        for (size_t i = 0; i < l->n; i++) {
            if (i) {
                if (gptc_jbuf_put(rt, b, isep, isep_n)) return -1;
                if (pretty && json_newline(rt, b, o, level + 1)) return -1;
            }
            if (json_rec(rt, b, l->v[i], o, level + 1)) return -1;
        }
        if (pretty && json_newline(rt, b, o, level)) return -1;
        return jbuf_puts(rt, b, "]");
    }
    case JV_DICT: {
        const jdict *d = v.u.d;
        if (d->n == 0) return jbuf_puts(rt, b, "{}");
        size_t *idx = gptc_jalloc(rt, 2 * d->n * sizeof *idx);
        if (!idx) return -1;
        for (size_t i = 0; i < d->n; i++)
            idx[i] = i;
        int r = -1;
        if (o->sort_keys && sort_idx(rt, d, idx, idx + d->n, d->n)) goto out;
        if (jbuf_puts(rt, b, "{")) goto out;
        if (pretty && json_newline(rt, b, o, level + 1)) goto out;
        for (size_t i = 0; i < d->n; i++) {
            if (i) {
                if (gptc_jbuf_put(rt, b, isep, isep_n)) goto out;
                if (pretty && json_newline(rt, b, o, level + 1)) goto out;
            }
            if (json_key(rt, b, d->keys[idx[i]], o) || gptc_jbuf_put(rt, b, ksep, ksep_n) ||
                json_rec(rt, b, d->vals[idx[i]], o, level + 1))
                goto out;
        }
        if (pretty && json_newline(rt, b, o, level)) goto out;
        r = jbuf_puts(rt, b, "}");
    out:
        free(idx);
        return r;
    }
    default:
        return gptc_jfail(rt, JE_TYPE, "Object of type %s is not JSON serializable",
                          gptc_jv_type_name(v));
    }
}

int gptc_jv_write_json(jrt *rt, jbuf *b, jv v, const jjson_opts *o)
{
    return json_rec(rt, b, v, o, 0);
}

/* ---------------------------------------------------------------------------------------------
 * UTF-8 and case
 */
size_t gptc_ju8_count(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

size_t gptc_jstr_off(const jstr *s, size_t i)
{
    if (s->ncp == s->n) return i;
    size_t off = 0;
    for (size_t k = 0; k < i && off < s->n; k++) {
        size_t len;
        ju8_dec(s->p + off, &len);
        off += len;
    }
    return off;
}

int gptc_ju_isspace(uint32_t c)
{
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

uint32_t gptc_ju_lower(uint32_t c)
{
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x137) return c | 1;
    if (c == 0x130) return 'i';
    if (c >= 0x139 && c <= 0x148) return (c & 1) ? c + 1 : c;
    if (c >= 0x14A && c <= 0x177) return c | 1;
    if (c == 0x178) return 0xFF;
    if (c >= 0x179 && c <= 0x17E) return (c & 1) ? c + 1 : c;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

uint32_t gptc_ju_upper(uint32_t c)
{
    if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c == 0xB5) return 0x39C;
    if (c >= 0x100 && c <= 0x137 && c != 0x131) return c & ~1u;
    if (c == 0x131) return 'I';
    if (c >= 0x139 && c <= 0x148) return (c & 1) ? c : c - 1;
    if (c >= 0x14A && c <= 0x177) return c & ~1u;
    if (c >= 0x179 && c <= 0x17E) return (c & 1) ? c : c - 1;
    if (c == 0x17F) return 'S';
    if (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2) return c - 32;
    if (c == 0x3C2) return 0x3A3;
    if (c == 0x3AC) return 0x386;
    if (c >= 0x3AD && c <= 0x3AF) return c - 37;
    if (c == 0x3CC) return 0x38C;
    if (c == 0x3CD || c == 0x3CE) return c - 63;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}

int gptc_ju_iscased(uint32_t c)
{
    return gptc_ju_lower(c) != c || gptc_ju_upper(c) != c || c == 0xDF;
}

/* str.isalnum() (letters and digits; an approximation of the Unicode categories: the letter
 * blocks of the common scripts, not marks, punctuation, symbols or emoji) */
int gptc_ju_isalnum(uint32_t c)
{
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    if (c == 0xAA || c == 0xB5 || c == 0xBA) return 1;
    if (c >= 0xC0 && c <= 0x24F) return c != 0xD7 && c != 0xF7;
    if (c >= 0x250 && c <= 0x2AF) return 1; /* IPA */
    if (c >= 0x370 && c <= 0x3FF)
        return c != 0x375 && c != 0x37E && c != 0x384 && c != 0x385 && c != 0x387;
    if (c >= 0x400 && c <= 0x52F) return !(c >= 0x482 && c <= 0x489);
    if (c >= 0x531 && c <= 0x587) return c < 0x557 || c > 0x560;
    if (c >= 0x5D0 && c <= 0x5EA) return 1; /* Hebrew letters */
    if (c >= 0x620 && c <= 0x64A) return 1; /* Arabic letters */
    if (c >= 0x660 && c <= 0x669) return 1;
    if (c >= 0x671 && c <= 0x6D3) return 1;
    if (c >= 0x905 && c <= 0x939) return 1; /* Devanagari */
    if (c >= 0x966 && c <= 0x96F) return 1;
    if (c >= 0xE01 && c <= 0xE30) return 1;   /* Thai */
    if (c >= 0x1E00 && c <= 0x1FFF) return 1; /* Latin/Greek extended */
    if (c >= 0x3041 && c <= 0x3096) return 1; /* Hiragana */
    if (c >= 0x30A1 && c <= 0x30FA) return 1; /* Katakana */
    if (c >= 0x3400 && c <= 0x4DBF) return 1;
    if (c >= 0x4E00 && c <= 0x9FFF) return 1; /* CJK */
    if (c >= 0xAC00 && c <= 0xD7A3) return 1; /* Hangul */
    if (c >= 0xFF10 && c <= 0xFF19) return 1;
    if ((c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A)) return 1;
    return 0;
}

static int put_cp(jrt *rt, jbuf *b, uint32_t c)
{
    char tmp[4];
    return gptc_jbuf_put(rt, b, tmp, gptc_utf8_put(c, tmp));
}

static int put_upper(jrt *rt, jbuf *b, uint32_t c)
{
    if (c == 0xDF) return gptc_jbuf_put(rt, b, "SS", 2);
    return put_cp(rt, b, gptc_ju_upper(c));
}

static int is_title_sep(uint32_t c)
{
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || gptc_ju_isspace(c);
}

int gptc_jstr_case(jrt *rt, const jstr *s, int mode, jv *out)
{
    jbuf b = {0};
    int prev_cased = 0, first = 1, prev_sep = 1;
    for (size_t i = 0; i < s->n;) {
        size_t len;
        uint32_t c = ju8_dec(s->p + i, &len);
        int r;
        switch (mode) {
        case 'u':
            r = put_upper(rt, &b, c);
            break;
        case 'l':
            r = put_cp(rt, &b, gptc_ju_lower(c));
            break;
        case 'f': /* casefold: lower, with the full folds of the letters the tables know */
            r = c == 0xDF ? gptc_jbuf_put(rt, &b, "ss", 2)
                          : put_cp(rt, &b, c == 0x17F ? 's' : gptc_ju_lower(c));
            break;
        case 't': /* str.title() */
            r = prev_cased ? put_cp(rt, &b, gptc_ju_lower(c)) : put_upper(rt, &b, c);
            prev_cased = gptc_ju_iscased(c);
            break;
        case 'c':
            r = first ? put_upper(rt, &b, c) : put_cp(rt, &b, gptc_ju_lower(c));
            break;
        default: /* 'T': Jinja's title filter: words begin after -, whitespace, ( { [ < */
            r = prev_sep ? put_upper(rt, &b, c) : put_cp(rt, &b, gptc_ju_lower(c));
            prev_sep = is_title_sep(c);
            break;
        }
        if (r) {
            gptc_jbuf_free(&b);
            return -1;
        }
        first = 0;
        i += len;
    }
    return gptc_jbuf_finish(rt, &b, 0, out);
}

static int in_chars(const jstr *chars, uint32_t c)
{
    if (!chars) return gptc_ju_isspace(c);
    for (size_t i = 0; i < chars->n;) {
        size_t len;
        if (ju8_dec(chars->p + i, &len) == c) return 1;
        i += len;
    }
    return 0;
}

int gptc_jstr_strip(jrt *rt, const jstr *s, const jstr *chars, int which, jv *out)
{
    size_t a = 0, z = s->n;
    if (which != 'r') {
        while (a < z) {
            size_t len;
            uint32_t c = ju8_dec(s->p + a, &len);
            if (!in_chars(chars, c)) break;
            a += len;
        }
    }
    if (which != 'l') {
        while (z > a) {
            size_t k = z - 1;
            while (k > a && ((unsigned char)s->p[k] & 0xC0) == 0x80)
                k--;
            size_t len;
            uint32_t c = ju8_dec(s->p + k, &len);
            if (!in_chars(chars, c)) break;
            z = k;
        }
    }
    return gptc_jv_str(rt, s->p + a, z - a, out);
}
