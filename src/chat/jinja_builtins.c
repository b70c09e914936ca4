/*
 * jinja_builtins.c — what templates reach besides operators: attribute and item access as the
 * sandbox resolves them, the str/dict/list methods templates call (message.content.strip(),
 * tool.items(), param.get('type', 'any') ...), the `loop` object, Jinja's tests (`is defined`,
 * `is string` ...), and the global functions (range, namespace, dict, raise_exception,
 * strftime_now). Filters are in jinja_filters.c.
 *
 * Mutating methods (list.append, dict.update ...) are "unsafe" in transformers'
 * ImmutableSandboxedEnvironment: the attribute is Undefined and calling it fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_impl.h"

int gptc_jinja_binop(jrt *rt, int op, jv a, jv b, jv *out);

/* ---------------------------------------------------------------------------------------------
 * Arguments
 */
int gptc_jargs_bind(jrt *rt, const jargs *a, const char *fname, const char *const *params,
                    size_t nparams, jv *slots)
{
    for (size_t i = 0; i < nparams; i++)
        slots[i] = jv_noarg();
    if (a->npos > nparams)
        return gptc_jfail(rt, JE_TYPE, "%s() takes at most %zu argument(s) (%zu given)", fname,
                          nparams, a->npos);
    for (size_t i = 0; i < a->npos; i++)
        slots[i] = a->pos[i];
    for (size_t k = 0; k < a->nkw; k++) {
        size_t j;
        for (j = 0; j < nparams; j++)
            if (strcmp(params[j], a->kwn[k]->p) == 0) break;
        if (j == nparams)
            return gptc_jfail(rt, JE_TYPE, "%s() got an unexpected keyword argument '%s'", fname,
                              a->kwn[k]->p);
        if (slots[j].kind != JV_NOARG)
            return gptc_jfail(rt, JE_TYPE, "%s() got multiple values for argument '%s'", fname,
                              params[j]);
        slots[j] = a->kw[k];
    }
    return 0;
}

static int given(jv v)
{
    return v.kind != JV_NOARG;
}

/* ---------------------------------------------------------------------------------------------
 * Iteration and length
 */
int gptc_jinja_iterate(jrt *rt, jv v, jlist **out)
{
    switch (v.kind) {
    case JV_LIST:
        if (v.u.l->gen_err)
            return gptc_jfail(rt, (jerr_kind)v.u.l->gen_ekind, "%s", v.u.l->gen_err->p);
        *out = v.u.l;
        v.u.l->rc++;
        return 0;
    case JV_DICT: {
        jlist *l = gptc_jlist_new(rt, v.u.d->n, 0);
        if (!l) return -1;
        for (size_t i = 0; i < v.u.d->n; i++)
            l->v[i] = gptc_jv_incref(v.u.d->keys[i]);
        if (gptc_jlist_seal(rt, l)) {
            gptc_jv_decref(jv_listv(l));
            return -1;
        }
        *out = l;
        return 0;
    }
    case JV_STR: {
        const jstr *s = v.u.s;
        if (jrt_steps(rt, s->ncp)) return -1;
        jlist *l = gptc_jlist_new(rt, s->ncp, 0);
        if (!l) return -1;
        size_t off = 0;
        for (size_t i = 0; i < s->ncp; i++) {
            size_t len;
            ju8_dec(s->p + off, &len);
            if (gptc_jv_str(rt, s->p + off, len, &l->v[i])) {
                gptc_jv_decref(jv_listv(l));
                return -1;
            }
            off += len;
        }
        *out = l;
        return 0;
    }
    case JV_UNDEF:
        *out = gptc_jlist_new(rt, 0, 0);
        return *out ? 0 : -1;
    case JV_LOOP:
        *out = v.u.loop->items;
        v.u.loop->items->rc++;
        return 0;
    default:
        return gptc_jfail(rt, JE_TYPE, "'%s' object is not iterable", gptc_jv_type_name(v));
    }
}

int gptc_jinja_length(jrt *rt, jv v, int64_t *n)
{
    switch (v.kind) {
    case JV_UNDEF:
        *n = 0;
        return 0;
    case JV_STR:
        *n = (int64_t)v.u.s->ncp;
        return 0;
    case JV_LIST:
        if (v.u.l->gen) break;
        *n = (int64_t)v.u.l->n;
        return 0;
    case JV_DICT:
        *n = (int64_t)v.u.d->n;
        return 0;
    case JV_LOOP:
        *n = (int64_t)v.u.loop->items->n;
        return 0;
    default:
        break;
    }
    return gptc_jfail(rt, JE_TYPE, "object of type '%s' has no len()", gptc_jv_type_name(v));
}

/* ---------------------------------------------------------------------------------------------
 * Methods
 */
enum {
    /* str */
    M_CAPITALIZE,
    M_CASEFOLD,
    M_CENTER,
    M_COUNT,
    M_ENCODE,
    M_ENDSWITH,
    M_EXPANDTABS,
    M_FIND,
    M_FORMAT,
    M_FORMAT_MAP,
    M_INDEX,
    M_ISALNUM,
    M_ISALPHA,
    M_ISASCII,
    M_ISDECIMAL,
    M_ISDIGIT,
    M_ISIDENTIFIER,
    M_ISLOWER,
    M_ISNUMERIC,
    M_ISPRINTABLE,
    M_ISSPACE,
    M_ISTITLE,
    M_ISUPPER,
    M_JOIN,
    M_LJUST,
    M_LOWER,
    M_LSTRIP,
    M_MAKETRANS,
    M_PARTITION,
    M_REMOVEPREFIX,
    M_REMOVESUFFIX,
    M_REPLACE,
    M_RFIND,
    M_RINDEX,
    M_RJUST,
    M_RPARTITION,
    M_RSPLIT,
    M_RSTRIP,
    M_SPLIT,
    M_SPLITLINES,
    M_STARTSWITH,
    M_STRIP,
    M_SWAPCASE,
    M_TITLE,
    M_TRANSLATE,
    M_UPPER,
    M_ZFILL,
    /* dict */
    M_D_CLEAR,
    M_D_COPY,
    M_D_FROMKEYS,
    M_D_GET,
    M_D_ITEMS,
    M_D_KEYS,
    M_D_POP,
    M_D_POPITEM,
    M_D_SETDEFAULT,
    M_D_UPDATE,
    M_D_VALUES,
    /* list / tuple */
    M_L_APPEND,
    M_L_CLEAR,
    M_L_COPY,
    M_L_COUNT,
    M_L_EXTEND,
    M_L_INDEX,
    M_L_INSERT,
    M_L_POP,
    M_L_REMOVE,
    M_L_REVERSE,
    M_L_SORT,
    /* loop */
    M_LOOP_CYCLE,
    M_LOOP_CHANGED,
};

typedef struct method_def {
    char kind; /* 's' str, 'd' dict, 'l' list (t: also on tuples), 'o' loop */
    uint8_t flags;
    const char *name;
} method_def;

#define MF_UNSAFE 1
#define MF_TUPLE 2

static const method_def k_methods[] = {
    [M_CAPITALIZE] = {'s', 0, "capitalize"},
    [M_CASEFOLD] = {'s', 0, "casefold"},
    [M_CENTER] = {'s', 0, "center"},
    [M_COUNT] = {'s', 0, "count"},
    [M_ENCODE] = {'s', 0, "encode"},
    [M_ENDSWITH] = {'s', 0, "endswith"},
    [M_EXPANDTABS] = {'s', 0, "expandtabs"},
    [M_FIND] = {'s', 0, "find"},
    [M_FORMAT] = {'s', 0, "format"},
    [M_FORMAT_MAP] = {'s', 0, "format_map"},
    [M_INDEX] = {'s', 0, "index"},
    [M_ISALNUM] = {'s', 0, "isalnum"},
    [M_ISALPHA] = {'s', 0, "isalpha"},
    [M_ISASCII] = {'s', 0, "isascii"},
    [M_ISDECIMAL] = {'s', 0, "isdecimal"},
    [M_ISDIGIT] = {'s', 0, "isdigit"},
    [M_ISIDENTIFIER] = {'s', 0, "isidentifier"},
    [M_ISLOWER] = {'s', 0, "islower"},
    [M_ISNUMERIC] = {'s', 0, "isnumeric"},
    [M_ISPRINTABLE] = {'s', 0, "isprintable"},
    [M_ISSPACE] = {'s', 0, "isspace"},
    [M_ISTITLE] = {'s', 0, "istitle"},
    [M_ISUPPER] = {'s', 0, "isupper"},
    [M_JOIN] = {'s', 0, "join"},
    [M_LJUST] = {'s', 0, "ljust"},
    [M_LOWER] = {'s', 0, "lower"},
    [M_LSTRIP] = {'s', 0, "lstrip"},
    [M_MAKETRANS] = {'s', 0, "maketrans"},
    [M_PARTITION] = {'s', 0, "partition"},
    [M_REMOVEPREFIX] = {'s', 0, "removeprefix"},
    [M_REMOVESUFFIX] = {'s', 0, "removesuffix"},
    [M_REPLACE] = {'s', 0, "replace"},
    [M_RFIND] = {'s', 0, "rfind"},
    [M_RINDEX] = {'s', 0, "rindex"},
    [M_RJUST] = {'s', 0, "rjust"},
    [M_RPARTITION] = {'s', 0, "rpartition"},
    [M_RSPLIT] = {'s', 0, "rsplit"},
    [M_RSTRIP] = {'s', 0, "rstrip"},
    [M_SPLIT] = {'s', 0, "split"},
    [M_SPLITLINES] = {'s', 0, "splitlines"},
    [M_STARTSWITH] = {'s', 0, "startswith"},
    [M_STRIP] = {'s', 0, "strip"},
    [M_SWAPCASE] = {'s', 0, "swapcase"},
    [M_TITLE] = {'s', 0, "title"},
    [M_TRANSLATE] = {'s', 0, "translate"},
    [M_UPPER] = {'s', 0, "upper"},
    [M_ZFILL] = {'s', 0, "zfill"},
    [M_D_CLEAR] = {'d', MF_UNSAFE, "clear"},
    [M_D_COPY] = {'d', 0, "copy"},
    [M_D_FROMKEYS] = {'d', 0, "fromkeys"},
    [M_D_GET] = {'d', 0, "get"},
    [M_D_ITEMS] = {'d', 0, "items"},
    [M_D_KEYS] = {'d', 0, "keys"},
    [M_D_POP] = {'d', MF_UNSAFE, "pop"},
    [M_D_POPITEM] = {'d', MF_UNSAFE, "popitem"},
    [M_D_SETDEFAULT] = {'d', MF_UNSAFE, "setdefault"},
    [M_D_UPDATE] = {'d', MF_UNSAFE, "update"},
    [M_D_VALUES] = {'d', 0, "values"},
    [M_L_APPEND] = {'l', MF_UNSAFE, "append"},
    [M_L_CLEAR] = {'l', MF_UNSAFE, "clear"},
    [M_L_COPY] = {'l', 0, "copy"},
    [M_L_COUNT] = {'l', MF_TUPLE, "count"},
    [M_L_EXTEND] = {'l', MF_UNSAFE, "extend"},
    [M_L_INDEX] = {'l', MF_TUPLE, "index"},
    [M_L_INSERT] = {'l', MF_UNSAFE, "insert"},
    [M_L_POP] = {'l', MF_UNSAFE, "pop"},
    [M_L_REMOVE] = {'l', MF_UNSAFE, "remove"},
    [M_L_REVERSE] = {'l', MF_UNSAFE, "reverse"},
    [M_L_SORT] = {'l', MF_UNSAFE, "sort"},
    [M_LOOP_CYCLE] = {'o', 0, "cycle"},
    [M_LOOP_CHANGED] = {'o', 0, "changed"},
};
#define N_METHODS (sizeof k_methods / sizeof k_methods[0])

/* the method `name` of obj: 1 found (OUT *out), 0 none; -1 error */
static int find_method(jrt *rt, jv obj, const char *name, size_t n, jv *out)
{
    char kind = obj.kind == JV_STR    ? 's'
                : obj.kind == JV_DICT ? 'd'
                : obj.kind == JV_LIST ? 'l'
                : obj.kind == JV_LOOP ? 'o'
                                      : 0;
    if (!kind || (obj.kind == JV_LIST && obj.u.l->gen)) return 0;
    for (size_t i = 0; i < N_METHODS; i++) {
        const method_def *m = &k_methods[i];
        if (m->kind != kind || strlen(m->name) != n || memcmp(m->name, name, n) != 0) continue;
        if (kind == 'l' && obj.u.l->tuple && !(m->flags & MF_TUPLE)) return 0;
        if (m->flags & MF_UNSAFE) {
            if (gptc_jv_undef_msg(rt, out, "access to attribute '%s' of '%s' object is unsafe.",
                                  m->name, gptc_jv_type_name(obj)))
                return -1;
            return 1;
        }
        if (gptc_jv_depth(obj) + 1 > JINJA_MAX_DEPTH)
            return gptc_jfail(rt, JE_LIMIT, "values nested too deeply");
        jmeth *mm = gptc_jalloc(rt, sizeof *mm);
        if (!mm) return -1;
        mm->rc = 1;
        mm->id = (uint16_t)i;
        mm->self = gptc_jv_incref(obj);
        mm->depth = (uint16_t)(gptc_jv_depth(obj) + 1);
        *out = jv_mk(JV_METHOD);
        out->u.meth = mm;
        return 1;
    }
    return 0;
}

static const char *obj_desc(jv v, char *buf, size_t cap)
{
    if (v.kind == JV_NONE) return "'None'";
    snprintf(buf, cap, "'%s object'", gptc_jv_type_name(v));
    return buf;
}

static int loop_attr(jrt *rt, const jloop *lp, const char *name, jv *out, int *found)
{
    size_t i = lp->i, n = lp->items->n;
    *found = 1;
    if (!strcmp(name, "index"))
        *out = jv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0"))
        *out = jv_int((int64_t)i);
    else if (!strcmp(name, "revindex"))
        *out = jv_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0"))
        *out = jv_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first"))
        *out = jv_bool(i == 0);
    else if (!strcmp(name, "last"))
        *out = jv_bool(i + 1 == n);
    else if (!strcmp(name, "length"))
        *out = jv_int((int64_t)n);
    else if (!strcmp(name, "depth"))
        *out = jv_int(1);
    else if (!strcmp(name, "depth0"))
        *out = jv_int(0);
    else if (!strcmp(name, "previtem")) {
        if (i > 0)
            *out = gptc_jv_incref(lp->items->v[i - 1]);
        else
            return gptc_jv_undef_msg(rt, out, "there is no previous item");
    } else if (!strcmp(name, "nextitem")) {
        if (i + 1 < n)
            *out = gptc_jv_incref(lp->items->v[i + 1]);
        else
            return gptc_jv_undef_msg(rt, out, "there is no next item");
    } else {
        *found = 0;
    }
    return 0;
}

int gptc_jinja_getattr_ex(jrt *rt, jv obj, const char *name, size_t n, int items, jv *out)
{
    char b[64];
    *out = jv_none();
    switch (obj.kind) {
    case JV_UNDEF:
        return gptc_jfail(rt, JE_UNDEFINED, "%s", obj.u.s ? obj.u.s->p : "undefined value");
    case JV_DICT: {
        int m = find_method(rt, obj, name, n, out);
        if (m) return m < 0 ? -1 : 0;
        long e = items ? gptc_jdict_find_str(obj.u.d, name, n) : -1;
        if (e >= 0) {
            *out = gptc_jv_incref(obj.u.d->vals[e]);
            return 0;
        }
        break;
    }
    case JV_NS: {
        long e = gptc_jdict_find_str(obj.u.ns->attrs, name, n);
        if (e >= 0) {
            *out = gptc_jv_incref(obj.u.ns->attrs->vals[e]);
            return 0;
        }
        return gptc_jv_undef_msg(rt, out, "'Namespace' object has no attribute '%.*s'", (int)n,
                                 name);
    }
    case JV_LOOP: {
        int found;
        char nm[32];
        if (n < sizeof nm) {
            memcpy(nm, name, n);
            nm[n] = '\0';
            if (loop_attr(rt, obj.u.loop, nm, out, &found)) return -1;
            if (found) return 0;
        }
        int m = find_method(rt, obj, name, n, out);
        if (m) return m < 0 ? -1 : 0;
        return gptc_jv_undef_msg(rt, out, "'LoopContext object' has no attribute '%.*s'", (int)n,
                                 name);
    }
    default: {
        int m = find_method(rt, obj, name, n, out);
        if (m) return m < 0 ? -1 : 0;
        break;
    }
    }
    return gptc_jv_undef_msg(rt, out, "%s has no attribute '%.*s'", obj_desc(obj, b, sizeof b),
                             (int)GPTC_MIN(n, 100), name);
}

int gptc_jinja_getattr(jrt *rt, jv obj, const char *name, size_t n, jv *out)
{
    return gptc_jinja_getattr_ex(rt, obj, name, n, 1, out);
}

int gptc_jinja_getitem(jrt *rt, jv obj, jv key, jv *out)
{
    char b[64];
    *out = jv_none();
    if (obj.kind == JV_UNDEF)
        return gptc_jfail(rt, JE_UNDEFINED, "%s", obj.u.s ? obj.u.s->p : "undefined value");
    if (obj.kind == JV_DICT) {
        uint64_t h;
        if (key.kind != JV_LIST || key.u.l->tuple) { /* lists are unhashable: not found */
            int failed = rt->failed;
            if (gptc_jv_hash(rt, key, &h)) {
                if (failed || rt->ekind != JE_TYPE) return -1;
                rt->failed = 0; /* TypeError: Jinja falls back to Undefined */
            } else {
                long e = gptc_jdict_find(rt, obj.u.d, key);
                if (e == -2) return -1;
                if (e >= 0) {
                    *out = gptc_jv_incref(obj.u.d->vals[e]);
                    return 0;
                }
            }
        }
    } else if (((obj.kind == JV_LIST && !obj.u.l->gen) || obj.kind == JV_STR) &&
               (key.kind == JV_INT || key.kind == JV_BOOL)) {
        int64_t len = obj.kind == JV_STR ? (int64_t)obj.u.s->ncp : (int64_t)obj.u.l->n;
        int64_t i = key.u.i;
        if (i < 0) i += len;
        if (i >= 0 && i < len) {
            if (obj.kind == JV_LIST) {
                *out = gptc_jv_incref(obj.u.l->v[i]);
                return 0;
            }
            const jstr *s = obj.u.s;
            size_t off = gptc_jstr_off(s, (size_t)i), l;
            ju8_dec(s->p + off, &l);
            return gptc_jv_str(rt, s->p + off, l, out);
        }
        return gptc_jv_undef_msg(rt, out, "%s has no element %lld", obj_desc(obj, b, sizeof b),
                                 (long long)key.u.i);
    }
    if (key.kind == JV_STR) {
        jv v;
        if (gptc_jinja_getattr(rt, obj, key.u.s->p, key.u.s->n, &v)) return -1;
        if (v.kind != JV_UNDEF || obj.kind == JV_NS || obj.kind == JV_LOOP) {
            *out = v;
            return 0;
        }
        gptc_jv_decref(v);
        return gptc_jv_undef_msg(rt, out, "%s has no attribute '%.*s'", obj_desc(obj, b, sizeof b),
                                 (int)GPTC_MIN(key.u.s->n, 100), key.u.s->p);
    }
    jbuf kb = {0};
    if (gptc_jv_write_repr(rt, &kb, key)) {
        gptc_jbuf_free(&kb);
        return -1;
    }
    int r = gptc_jv_undef_msg(rt, out, "%s has no element %.*s", obj_desc(obj, b, sizeof b),
                              (int)GPTC_MIN(kb.n, 100), kb.p ? kb.p : "");
    gptc_jbuf_free(&kb);
    return r;
}

/* str helpers */
static int need_str(jrt *rt, jv v, const char *what)
{
    if (v.kind == JV_STR) return 0;
    if (v.kind == JV_UNDEF)
        return gptc_jfail(rt, JE_UNDEFINED, "%s", v.u.s ? v.u.s->p : "undefined value");
    return gptc_jfail(rt, JE_TYPE, "%s must be str, not %s", what, gptc_jv_type_name(v));
}

static long find_bytes(const jstr *h, const jstr *nd, size_t from, int reverse)
{
    if (nd->n > h->n) return -1;
    if (!reverse) {
        if (from > h->n) return -1;
        if (!nd->n) return (long)from;
        /* memchr for the first byte, then memcmp: each call reads only up to the match (memmem
         * is checked over the whole rest of the haystack by ASan, which makes a replace() over a
         * long string quadratic there) */
        const char *p = h->p + from, *end = h->p + h->n;
        while ((size_t)(end - p) >= nd->n) {
            const char *q = memchr(p, nd->p[0], (size_t)(end - p) - nd->n + 1);
            if (!q) return -1;
            if (memcmp(q, nd->p, nd->n) == 0) return (long)(q - h->p);
            p = q + 1;
        }
        return -1;
    }
    for (size_t i = h->n - nd->n + 1; i-- > 0;)
        if (memcmp(h->p + i, nd->p, nd->n) == 0) return (long)i;
    return -1;
}

static int split_str(jrt *rt, const jstr *s, jv sep, int64_t maxsplit, int reverse, jv *out)
{
    jv parts[1];
    (void)parts;
    jbuf idx = {0}; /* pairs of (start, end) offsets as size_t */
    size_t n = s->n;
    int r = 0;
    if (sep.kind == JV_NONE || sep.kind == JV_NOARG) {
        if (!reverse) {
            size_t i = 0;
            int64_t splits = 0;
            for (;;) {
                while (i < n) { /* skip whitespace */
                    size_t l;
                    if (!gptc_ju_isspace(ju8_dec(s->p + i, &l))) break;
                    i += l;
                }
                if (i >= n) break;
                size_t a = i;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    size_t seg[2] = {a, n};
                    r = gptc_jbuf_put(rt, &idx, (const char *)seg, sizeof seg);
                    break;
                }
                while (i < n) {
                    size_t l;
                    if (gptc_ju_isspace(ju8_dec(s->p + i, &l))) break;
                    i += l;
                }
                size_t seg[2] = {a, i};
                if ((r = gptc_jbuf_put(rt, &idx, (const char *)seg, sizeof seg))) break;
                splits++;
            }
        } else {
            size_t i = n;
            int64_t splits = 0;
            for (;;) {
                while (i > 0) {
                    size_t k = i - 1, l;
                    while (k > 0 && ((unsigned char)s->p[k] & 0xC0) == 0x80)
                        k--;
                    if (!gptc_ju_isspace(ju8_dec(s->p + k, &l))) break;
                    i = k;
                }
                if (i == 0) break;
                size_t z = i;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    size_t seg[2] = {0, z};
                    r = gptc_jbuf_put(rt, &idx, (const char *)seg, sizeof seg);
                    break;
                }
                while (i > 0) {
                    size_t k = i - 1, l;
                    while (k > 0 && ((unsigned char)s->p[k] & 0xC0) == 0x80)
                        k--;
                    if (gptc_ju_isspace(ju8_dec(s->p + k, &l))) break;
                    i = k;
                }
                size_t seg[2] = {i, z};
                if ((r = gptc_jbuf_put(rt, &idx, (const char *)seg, sizeof seg))) break;
                splits++;
            }
        }
    } else {
        if ((r = need_str(rt, sep, "separator"))) goto done;
        const jstr *d = sep.u.s;
        if (d->n == 0) {
            r = gptc_jfail(rt, JE_VALUE, "empty separator");
            goto done;
        }
        int64_t splits = 0;
        if (!reverse) {
            size_t i = 0;
            for (;;) {
                long e = maxsplit >= 0 && splits >= maxsplit ? -1 : find_bytes(s, d, i, 0);
                size_t seg[2] = {i, e < 0 ? n : (size_t)e};
                if ((r = gptc_jbuf_put(rt, &idx, (const char *)seg, sizeof seg)) || e < 0) break;
                i = (size_t)e + d->n;
                splits++;
            }
        } else {
            size_t z = n;
            for (;;) {
                long e = -1;
                if (!(maxsplit >= 0 && splits >= maxsplit) && z >= d->n) {
                    for (size_t k = z - d->n + 1; k-- > 0;)
                        if (memcmp(s->p + k, d->p, d->n) == 0) {
                            e = (long)k;
                            break;
                        }
                }
                size_t seg[2] = {e < 0 ? 0 : (size_t)e + d->n, z};
                if ((r = gptc_jbuf_put(rt, &idx, (const char *)seg, sizeof seg)) || e < 0) break;
                z = (size_t)e;
                splits++;
            }
        }
    }
    if (r) goto done;
    {
        size_t cnt = idx.n / (2 * sizeof(size_t));
        const size_t *segs = (const size_t *)(void *)idx.p;
        if (jrt_steps(rt, cnt + n / 64)) {
            r = -1;
            goto done;
        }
        jlist *l = gptc_jlist_new(rt, cnt, 0);
        if (!l) {
            r = -1;
            goto done;
        }
        for (size_t k = 0; k < cnt && !r; k++) {
            size_t j = reverse ? cnt - 1 - k : k;
            r = gptc_jv_str(rt, s->p + segs[2 * j], segs[2 * j + 1] - segs[2 * j], &l->v[k]);
        }
        if (r)
            gptc_jv_decref(jv_listv(l));
        else
            *out = jv_listv(l);
    }
done:
    gptc_jbuf_free(&idx);
    return r;
}

/* str.splitlines() boundaries: \n \r \r\n \v \f \x1c-\x1e \x85 \u2028 \u2029 */
int gptc_jinja_splitlines(jrt *rt, const jstr *s, int keepends, jv *out);
int gptc_jinja_splitlines(jrt *rt, const jstr *s, int keepends, jv *out)
{
    jbuf idx = {0};
    size_t i = 0, a = 0;
    int r = 0;
    while (i < s->n && !r) {
        size_t l;
        uint32_t c = ju8_dec(s->p + i, &l);
        int brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) ||
                  c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!brk) {
            i += l;
            continue;
        }
        size_t e = i + l;
        if (c == '\r' && e < s->n && s->p[e] == '\n') e++;
        size_t seg[2] = {a, keepends ? e : i};
        r = gptc_jbuf_put(rt, &idx, (const char *)seg, sizeof seg);
        i = a = e;
    }
    if (!r && a < s->n) {
        size_t seg[2] = {a, s->n};
        r = gptc_jbuf_put(rt, &idx, (const char *)seg, sizeof seg);
    }
    if (!r) {
        size_t cnt = idx.n / (2 * sizeof(size_t));
        const size_t *segs = (const size_t *)(void *)idx.p;
        jlist *l = gptc_jlist_new(rt, cnt, 0);
        if (!l) r = -1;
        for (size_t k = 0; l && k < cnt && !r; k++)
            r = gptc_jv_str(rt, s->p + segs[2 * k], segs[2 * k + 1] - segs[2 * k], &l->v[k]);
        if (l && r)
            gptc_jv_decref(jv_listv(l));
        else if (l)
            *out = jv_listv(l);
    }
    gptc_jbuf_free(&idx);
    return r;
}

/* The size of the result first, against what is left of the memory budget: a replace that
 * multiplies a large string fails at once instead of after building most of it. */
static int replace_fits(jrt *rt, const jstr *s, const jstr *old, const jstr *new_, int64_t count)
{
    size_t max = rt->opts->limits.max_alloc, left = rt->alloc < max ? max - rt->alloc : 0;
    if (new_->n <= old->n) return 0;
    size_t grow = new_->n - old->n, total = s->n, occ = 0;
    uint64_t limit = count < 0 ? UINT64_MAX : (uint64_t)count;
    if (old->n == 0) {
        uint64_t slots = (uint64_t)s->ncp + 1;
        occ = (size_t)(slots < limit ? slots : limit);
        if (occ && grow > (left - GPTC_MIN(left, total)) / occ)
            occ = SIZE_MAX;
        else
            total += occ * grow;
    } else {
        for (size_t i = 0; occ < limit;) {
            long e = find_bytes(s, old, i, 0);
            if (e < 0) break;
            occ++;
            total += grow;
            if (total > left) break;
            i = (size_t)e + old->n;
        }
    }
    if (occ == SIZE_MAX || total > left)
        return gptc_jfail(rt, JE_LIMIT,
                          "the template used too much memory (more than %zu MiB): replace() "
                          "would make a string of more than the %zu MiB left",
                          max >> 20, left >> 20);
    return 0;
}

static int str_replace(jrt *rt, const jstr *s, const jstr *old, const jstr *new_, int64_t count,
                       jv *out)
{
    jbuf b = {0};
    int r = replace_fits(rt, s, old, new_, count);
    if (r) return r;
    int64_t done = 0;
    if (old->n == 0) { /* insert between every character */
        size_t i = 0;
        while (!r) {
            if (count < 0 || done < count) {
                r = gptc_jbuf_put(rt, &b, new_->p, new_->n);
                done++;
            }
            if (r || i >= s->n) break;
            size_t l;
            ju8_dec(s->p + i, &l);
            r = gptc_jbuf_put(rt, &b, s->p + i, l);
            i += l;
        }
        if (!r && i < s->n) r = gptc_jbuf_put(rt, &b, s->p + i, s->n - i);
    } else {
        size_t i = 0;
        while (!r) {
            long e = count >= 0 && done >= count ? -1 : find_bytes(s, old, i, 0);
            if (e < 0) {
                r = gptc_jbuf_put(rt, &b, s->p + i, s->n - i);
                break;
            }
            r = gptc_jbuf_put(rt, &b, s->p + i, (size_t)e - i);
            if (!r) r = gptc_jbuf_put(rt, &b, new_->p, new_->n);
            i = (size_t)e + old->n;
            done++;
        }
    }
    if (!r) r = jrt_steps(rt, s->n / 64 + (uint64_t)done);
    return gptc_jbuf_finish(rt, &b, r, out);
}
int gptc_jinja_str_replace(jrt *rt, const jstr *s, const jstr *old, const jstr *new_, int64_t count,
                           jv *out);
int gptc_jinja_str_replace(jrt *rt, const jstr *s, const jstr *old, const jstr *new_, int64_t count,
                           jv *out)
{
    return str_replace(rt, s, old, new_, count, out);
}

static int prefix_test(jrt *rt, const jstr *s, jv arg, int suffix, int *res)
{
    *res = 0;
    if (arg.kind == JV_LIST && arg.u.l->tuple) {
        for (size_t i = 0; i < arg.u.l->n && !*res; i++)
            if (prefix_test(rt, s, arg.u.l->v[i], suffix, res)) return -1;
        return 0;
    }
    if (arg.kind != JV_STR)
        return gptc_jfail(rt, JE_TYPE, "%s first arg must be str or a tuple of str, not %s",
                          suffix ? "endswith" : "startswith", gptc_jv_type_name(arg));
    const jstr *p = arg.u.s;
    *res = p->n <= s->n && memcmp(suffix ? s->p + s->n - p->n : s->p, p->p, p->n) == 0;
    return 0;
}

static int str_pred(const jstr *s, int id)
{
    if (id == M_ISASCII) {
        for (size_t i = 0; i < s->n; i++)
            if ((unsigned char)s->p[i] >= 0x80) return 0;
        return 1;
    }
    if (s->n == 0) return 0;
    int cased = 0;
    for (size_t i = 0; i < s->n;) {
        size_t l;
        uint32_t c = ju8_dec(s->p + i, &l);
        i += l;
        int digit = c >= '0' && c <= '9';
        switch (id) {
        case M_ISALNUM:
            if (!gptc_ju_isalnum(c)) return 0;
            break;
        case M_ISALPHA:
            if (!gptc_ju_isalnum(c) || digit || (c >= 0x660 && c <= 0x669) ||
                (c >= 0x966 && c <= 0x96F) || (c >= 0xFF10 && c <= 0xFF19))
                return 0;
            break;
        case M_ISDECIMAL:
        case M_ISDIGIT:
        case M_ISNUMERIC:
            if (!digit) return 0;
            break;
        case M_ISSPACE:
            if (!gptc_ju_isspace(c)) return 0;
            break;
        case M_ISLOWER:
            if (gptc_ju_upper(c) != c && gptc_ju_lower(c) == c)
                cased = 1;
            else if (gptc_ju_lower(c) != c)
                return 0;
            break;
        case M_ISUPPER:
            if (gptc_ju_lower(c) != c && gptc_ju_upper(c) == c)
                cased = 1;
            else if (gptc_ju_upper(c) != c)
                return 0;
            break;
        }
    }
    return (id == M_ISLOWER || id == M_ISUPPER) ? cased : 1;
}

int gptc_jinja_call_method(jrt *rt, jmeth *m, const jargs *a, jv *out)
{
    jv self = m->self;
    const char *name = k_methods[m->id].name;
    jv p[3];
    *out = jv_none();
    switch (m->id) {
    case M_CAPITALIZE:
    case M_CASEFOLD:
    case M_LOWER:
    case M_UPPER:
    case M_TITLE: {
        if (gptc_jargs_bind(rt, a, name, NULL, 0, p)) return -1;
        int mode = m->id == M_CAPITALIZE ? 'c'
                   : m->id == M_UPPER    ? 'u'
                   : m->id == M_TITLE    ? 't'
                   : m->id == M_CASEFOLD ? 'f'
                                         : 'l';
        return gptc_jstr_case(rt, self.u.s, mode, out);
    }
    case M_STRIP:
    case M_LSTRIP:
    case M_RSTRIP: {
        static const char *const ps[] = {"chars"};
        if (gptc_jargs_bind(rt, a, name, ps, 1, p)) return -1;
        const jstr *chars = NULL;
        if (given(p[0]) && p[0].kind != JV_NONE) {
            if (need_str(rt, p[0], "strip arg")) return -1;
            chars = p[0].u.s;
        }
        return gptc_jstr_strip(rt, self.u.s, chars,
                               m->id == M_STRIP    ? 'b'
                               : m->id == M_LSTRIP ? 'l'
                                                   : 'r',
                               out);
    }
    case M_SPLIT:
    case M_RSPLIT: {
        static const char *const ps[] = {"sep", "maxsplit"};
        if (gptc_jargs_bind(rt, a, name, ps, 2, p)) return -1;
        int64_t maxsplit = -1;
        if (given(p[1])) {
            if (p[1].kind != JV_INT && p[1].kind != JV_BOOL)
                return gptc_jfail(rt, JE_TYPE, "'%s' object cannot be interpreted as an integer",
                                  gptc_jv_type_name(p[1]));
            maxsplit = p[1].u.i;
        }
        return split_str(rt, self.u.s, p[0], maxsplit, m->id == M_RSPLIT, out);
    }
    case M_SPLITLINES: {
        static const char *const ps[] = {"keepends"};
        if (gptc_jargs_bind(rt, a, name, ps, 1, p)) return -1;
        return gptc_jinja_splitlines(rt, self.u.s, given(p[0]) && gptc_jv_truthy(p[0]), out);
    }
    case M_STARTSWITH:
    case M_ENDSWITH: {
        static const char *const ps[] = {"prefix", "start", "end"};
        if (gptc_jargs_bind(rt, a, name, ps, 3, p)) return -1;
        if (!given(p[0]))
            return gptc_jfail(rt, JE_TYPE, "%s() takes at least 1 argument (0 given)", name);
        if (given(p[1]) || given(p[2]))
            return gptc_jfail(rt, JE_UNSUPPORTED, "str.%s() with start/end", name);
        int res;
        if (prefix_test(rt, self.u.s, p[0], m->id == M_ENDSWITH, &res)) return -1;
        *out = jv_bool(res);
        return 0;
    }
    case M_FIND:
    case M_RFIND:
    case M_INDEX:
    case M_RINDEX:
    case M_COUNT: {
        static const char *const ps[] = {"sub", "start", "end"};
        if (gptc_jargs_bind(rt, a, name, ps, 3, p)) return -1;
        if (!given(p[0]))
            return gptc_jfail(rt, JE_TYPE, "%s() takes at least 1 argument (0 given)", name);
        if (given(p[1]) || given(p[2]))
            return gptc_jfail(rt, JE_UNSUPPORTED, "str.%s() with start/end", name);
        if (need_str(rt, p[0], "substring")) return -1;
        const jstr *s = self.u.s, *sub = p[0].u.s;
        if (jrt_steps(rt, s->n / 64 + 1)) return -1;
        if (m->id == M_COUNT) {
            int64_t c = 0;
            if (sub->n == 0) {
                c = (int64_t)s->ncp + 1;
            } else {
                size_t i = 0;
                long e;
                while ((e = find_bytes(s, sub, i, 0)) >= 0) {
                    c++;
                    i = (size_t)e + sub->n;
                }
            }
            *out = jv_int(c);
            return 0;
        }
        long e = find_bytes(s, sub, 0, m->id == M_RFIND || m->id == M_RINDEX);
        if (e < 0 && (m->id == M_INDEX || m->id == M_RINDEX))
            return gptc_jfail(rt, JE_VALUE, "substring not found");
        *out = jv_int(e < 0 ? -1 : (int64_t)gptc_ju8_count(s->p, (size_t)e));
        return 0;
    }
    case M_REPLACE: {
        static const char *const ps[] = {"old", "new", "count"};
        if (gptc_jargs_bind(rt, a, name, ps, 3, p)) return -1;
        if (!given(p[0]) || !given(p[1]))
            return gptc_jfail(rt, JE_TYPE, "replace() takes at least 2 arguments");
        if (need_str(rt, p[0], "replace() argument 1") ||
            need_str(rt, p[1], "replace() argument 2"))
            return -1;
        int64_t count = -1;
        if (given(p[2])) {
            if (p[2].kind != JV_INT && p[2].kind != JV_BOOL)
                return gptc_jfail(rt, JE_TYPE, "'%s' object cannot be interpreted as an integer",
                                  gptc_jv_type_name(p[2]));
            count = p[2].u.i;
        }
        return str_replace(rt, self.u.s, p[0].u.s, p[1].u.s, count, out);
    }
    case M_REMOVEPREFIX:
    case M_REMOVESUFFIX: {
        static const char *const ps[] = {"affix"};
        if (gptc_jargs_bind(rt, a, name, ps, 1, p)) return -1;
        if (!given(p[0]) || need_str(rt, p[0], name))
            return given(p[0]) ? -1
                               : gptc_jfail(rt, JE_TYPE, "%s() takes exactly one argument", name);
        const jstr *s = self.u.s, *x = p[0].u.s;
        int suf = m->id == M_REMOVESUFFIX, res;
        if (prefix_test(rt, s, p[0], suf, &res)) return -1;
        if (!res || x->n == 0) {
            *out = gptc_jv_incref(self);
            return 0;
        }
        return gptc_jv_str(rt, suf ? s->p : s->p + x->n, s->n - x->n, out);
    }
    case M_PARTITION:
    case M_RPARTITION: {
        static const char *const ps[] = {"sep"};
        if (gptc_jargs_bind(rt, a, name, ps, 1, p)) return -1;
        if (!given(p[0]) || need_str(rt, p[0], "separator"))
            return given(p[0]) ? -1
                               : gptc_jfail(rt, JE_TYPE, "%s() takes exactly one argument", name);
        const jstr *s = self.u.s, *d = p[0].u.s;
        if (d->n == 0) return gptc_jfail(rt, JE_VALUE, "empty separator");
        long e = find_bytes(s, d, 0, m->id == M_RPARTITION);
        jlist *l = gptc_jlist_new(rt, 3, 1);
        if (!l) return -1;
        int r;
        if (e < 0) {
            int rp = m->id == M_RPARTITION;
            r = gptc_jv_str(rt, rp ? "" : s->p, rp ? 0 : s->n, &l->v[0]);
            if (!r) r = gptc_jv_str(rt, "", 0, &l->v[1]);
            if (!r) r = gptc_jv_str(rt, rp ? s->p : "", rp ? s->n : 0, &l->v[2]);
        } else {
            r = gptc_jv_str(rt, s->p, (size_t)e, &l->v[0]);
            if (!r) l->v[1] = gptc_jv_incref(p[0]);
            if (!r) r = gptc_jv_str(rt, s->p + e + d->n, s->n - (size_t)e - d->n, &l->v[2]);
        }
        if (r) {
            gptc_jv_decref(jv_listv(l));
            return -1;
        }
        *out = jv_listv(l);
        return 0;
    }
    case M_JOIN: {
        static const char *const ps[] = {"iterable"};
        if (gptc_jargs_bind(rt, a, name, ps, 1, p)) return -1;
        if (!given(p[0]))
            return gptc_jfail(rt, JE_TYPE, "join() takes exactly one argument (0 given)");
        jlist *items;
        if (gptc_jinja_iterate(rt, p[0], &items)) return -1;
        jbuf b = {0};
        int r = jrt_steps(rt, items->n);
        for (size_t i = 0; i < items->n && !r; i++) {
            jv x = items->v[i];
            if (x.kind != JV_STR) {
                r = gptc_jfail(rt, JE_TYPE, "sequence item %zu: expected str instance, %s found", i,
                               gptc_jv_type_name(x));
                break;
            }
            if (i) r = gptc_jbuf_put(rt, &b, self.u.s->p, self.u.s->n);
            if (!r) r = gptc_jbuf_put(rt, &b, x.u.s->p, x.u.s->n);
        }
        gptc_jv_decref(jv_listv(items));
        return gptc_jbuf_finish(rt, &b, r, out);
    }
    case M_ISALNUM:
    case M_ISALPHA:
    case M_ISASCII:
    case M_ISDECIMAL:
    case M_ISDIGIT:
    case M_ISNUMERIC:
    case M_ISSPACE:
    case M_ISLOWER:
    case M_ISUPPER:
        if (gptc_jargs_bind(rt, a, name, NULL, 0, p)) return -1;
        *out = jv_bool(str_pred(self.u.s, m->id));
        return 0;
    /* dict */
    case M_D_GET: {
        static const char *const ps[] = {"key", "default"};
        if (gptc_jargs_bind(rt, a, name, ps, 2, p)) return -1;
        if (!given(p[0])) return gptc_jfail(rt, JE_TYPE, "get expected at least 1 argument, got 0");
        long e = gptc_jdict_find(rt, self.u.d, p[0]);
        if (e == -2) return -1;
        if (e >= 0)
            *out = gptc_jv_incref(self.u.d->vals[e]);
        else
            *out = given(p[1]) ? gptc_jv_incref(p[1]) : jv_none();
        return 0;
    }
    case M_D_ITEMS:
    case M_D_KEYS:
    case M_D_VALUES:
    case M_D_COPY: {
        if (gptc_jargs_bind(rt, a, name, NULL, 0, p)) return -1;
        const jdict *d = self.u.d;
        if (m->id == M_D_COPY) {
            *out = gptc_jv_incref(self); /* immutable: a copy is the same value */
            return 0;
        }
        jlist *l = gptc_jlist_new(rt, d->n, 0);
        if (!l) return -1;
        for (size_t i = 0; i < d->n; i++) {
            if (m->id == M_D_KEYS) {
                l->v[i] = gptc_jv_incref(d->keys[i]);
            } else if (m->id == M_D_VALUES) {
                l->v[i] = gptc_jv_incref(d->vals[i]);
            } else {
                jlist *t = gptc_jlist_new(rt, 2, 1);
                if (!t) {
                    gptc_jv_decref(jv_listv(l));
                    return -1;
                }
                t->v[0] = gptc_jv_incref(d->keys[i]);
                t->v[1] = gptc_jv_incref(d->vals[i]);
                gptc_jlist_seal(rt, t);
                l->v[i] = jv_listv(t);
            }
        }
        if (gptc_jlist_seal(rt, l)) {
            gptc_jv_decref(jv_listv(l));
            return -1;
        }
        l->view = (uint8_t)(m->id == M_D_KEYS ? 1 : m->id == M_D_VALUES ? 2 : 3);
        *out = jv_listv(l);
        return 0;
    }
    /* list / tuple */
    case M_L_COPY:
        if (gptc_jargs_bind(rt, a, name, NULL, 0, p)) return -1;
        *out = gptc_jv_incref(self);
        return 0;
    case M_L_COUNT:
    case M_L_INDEX: {
        static const char *const ps[] = {"value"};
        if (gptc_jargs_bind(rt, a, name, ps, 1, p)) return -1;
        if (!given(p[0]))
            return gptc_jfail(rt, JE_TYPE, "%s() takes exactly one argument (0 given)", name);
        const jlist *l = self.u.l;
        if (jrt_steps(rt, l->n)) return -1;
        int64_t c = 0;
        for (size_t i = 0; i < l->n; i++) {
            int eq;
            if (gptc_jv_eq(rt, l->v[i], p[0], &eq)) return -1;
            if (eq && m->id == M_L_INDEX) {
                *out = jv_int((int64_t)i);
                return 0;
            }
            c += eq;
        }
        if (m->id == M_L_INDEX) return gptc_jfail(rt, JE_VALUE, "value is not in list");
        *out = jv_int(c);
        return 0;
    }
    /* loop */
    case M_LOOP_CYCLE: {
        if (a->nkw) return gptc_jfail(rt, JE_TYPE, "cycle() takes no keyword arguments");
        if (a->npos == 0) return gptc_jfail(rt, JE_TYPE, "no items for cycling given");
        *out = gptc_jv_incref(a->pos[self.u.loop->i % a->npos]);
        return 0;
    }
    default:
        return gptc_jfail(rt, JE_UNSUPPORTED, "the method %s.%s()", gptc_jv_type_name(self), name);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Tests
 */
enum {
    T_BOOLEAN,
    T_CALLABLE,
    T_DEFINED,
    T_DIVISIBLEBY,
    T_EQ,
    T_EQUALTO,
    T_ESCAPED,
    T_EVEN,
    T_FALSE,
    T_FILTER,
    T_FLOAT,
    T_GE,
    T_GREATERTHAN,
    T_GT,
    T_IN,
    T_INTEGER,
    T_ITERABLE,
    T_LE,
    T_LESSTHAN,
    T_LOWER,
    T_LT,
    T_MAPPING,
    T_NE,
    T_NONE,
    T_NUMBER,
    T_ODD,
    T_SAMEAS,
    T_SEQUENCE,
    T_STRING,
    T_TEST,
    T_TRUE,
    T_UNDEFINED,
    T_UPPER,
    T_COUNT
};
static const char *const k_tests[] = {
    "boolean", "callable", "defined",  "divisibleby", "eq",       "equalto",     "escaped",
    "even",    "false",    "filter",   "float",       "ge",       "greaterthan", "gt",
    "in",      "integer",  "iterable", "le",          "lessthan", "lower",       "lt",
    "mapping", "ne",       "none",     "number",      "odd",      "sameas",      "sequence",
    "string",  "test",     "true",     "undefined",   "upper",
};

int gptc_jinja_test_id(const char *name, size_t n)
{
    for (int i = 0; i < T_COUNT; i++)
        if (strlen(k_tests[i]) == n && memcmp(k_tests[i], name, n) == 0) return i;
    return -1;
}

const char *gptc_jinja_test_name(int id)
{
    return id >= 0 && id < T_COUNT ? k_tests[id] : "?";
}

int gptc_jinja_test(jrt *rt, int id, jv v, const jargs *a, int *res)
{
    static const char *const p_other[] = {"other"};
    static const char *const p_num[] = {"num"};
    static const char *const p_seq[] = {"seq"};
    jv p[1];
    *res = 0;
    switch (id) {
    case T_DEFINED:
        *res = v.kind != JV_UNDEF;
        return 0;
    case T_UNDEFINED:
        *res = v.kind == JV_UNDEF;
        return 0;
    case T_NONE:
        *res = v.kind == JV_NONE;
        return 0;
    case T_BOOLEAN:
        *res = v.kind == JV_BOOL;
        return 0;
    case T_FALSE:
        *res = v.kind == JV_BOOL && !v.u.i;
        return 0;
    case T_TRUE:
        *res = v.kind == JV_BOOL && v.u.i;
        return 0;
    case T_INTEGER:
        *res = v.kind == JV_INT;
        return 0;
    case T_FLOAT:
        *res = v.kind == JV_FLOAT;
        return 0;
    case T_NUMBER:
        *res = v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_BOOL;
        return 0;
    case T_STRING:
        *res = v.kind == JV_STR;
        return 0;
    case T_MAPPING:
        *res = v.kind == JV_DICT;
        return 0;
    case T_ITERABLE:
        *res = v.kind == JV_STR || v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_UNDEF ||
               v.kind == JV_LOOP;
        return 0;
    case T_SEQUENCE:
        *res = v.kind == JV_STR || (v.kind == JV_LIST && !v.u.l->gen) || v.kind == JV_DICT ||
               v.kind == JV_UNDEF;
        return 0;
    case T_CALLABLE:
        *res = v.kind == JV_MACRO || v.kind == JV_FUNC || v.kind == JV_METHOD ||
               v.kind == JV_UNDEF || v.kind == JV_LOOP;
        return 0;
    case T_ESCAPED:
        return 0;
    case T_LOWER:
    case T_UPPER: {
        jv s;
        if (gptc_jv_to_str(rt, v, &s)) return -1;
        *res = str_pred(s.u.s, id == T_LOWER ? M_ISLOWER : M_ISUPPER);
        gptc_jv_decref(s);
        return 0;
    }
    case T_ODD:
    case T_EVEN:
    case T_DIVISIBLEBY: {
        jv d = jv_int(2), m;
        if (id == T_DIVISIBLEBY) {
            if (gptc_jargs_bind(rt, a, "divisibleby", p_num, 1, p)) return -1;
            if (!given(p[0]))
                return gptc_jfail(rt, JE_TYPE, "divisibleby() missing argument 'num'");
            d = p[0];
        } else if (gptc_jargs_bind(rt, a, k_tests[id], NULL, 0, p)) {
            return -1;
        }
        if (gptc_jinja_binop(rt, JO_MOD, v, d, &m)) return -1;
        jv want = jv_int(id == T_ODD ? 1 : 0);
        int r = gptc_jv_eq(rt, m, want, res);
        gptc_jv_decref(m);
        return r;
    }
    case T_EQ:
    case T_EQUALTO:
    case T_NE:
    case T_LT:
    case T_LESSTHAN:
    case T_LE:
    case T_GT:
    case T_GREATERTHAN:
    case T_GE: {
        if (gptc_jargs_bind(rt, a, k_tests[id], p_other, 1, p)) return -1;
        if (!given(p[0]))
            return gptc_jfail(rt, JE_TYPE, "%s() missing argument 'other'", k_tests[id]);
        if (id == T_EQ || id == T_EQUALTO || id == T_NE) {
            if (gptc_jv_eq(rt, v, p[0], res)) return -1;
            if (id == T_NE) *res = !*res;
            return 0;
        }
        const char *op = id == T_LT || id == T_LESSTHAN ? "<"
                         : id == T_LE                   ? "<="
                         : id == T_GE                   ? ">="
                                                        : ">";
        int c;
        if (gptc_jv_cmp(rt, v, p[0], op, &c)) return -1;
        if (c == 2)
            *res = 0;
        else if (op[0] == '<')
            *res = op[1] ? c <= 0 : c < 0;
        else
            *res = op[1] ? c >= 0 : c > 0;
        return 0;
    }
    case T_SAMEAS: {
        if (gptc_jargs_bind(rt, a, "sameas", p_other, 1, p)) return -1;
        if (!given(p[0])) return gptc_jfail(rt, JE_TYPE, "sameas() missing argument 'other'");
        jv o = p[0];
        if (v.kind != o.kind) return 0;
        switch (v.kind) {
        case JV_NONE:
            *res = 1;
            break;
        case JV_BOOL:
            *res = v.u.i == o.u.i;
            break;
        case JV_INT:
            *res = v.u.i == o.u.i && v.u.i >= -5 && v.u.i <= 256;
            break;
        case JV_FLOAT:
            *res = 0;
            break;
        default:
            *res = v.u.s == o.u.s;
            break;
        }
        return 0;
    }
    case T_IN: {
        if (gptc_jargs_bind(rt, a, "in", p_seq, 1, p)) return -1;
        if (!given(p[0])) return gptc_jfail(rt, JE_TYPE, "in() missing argument 'seq'");
        jv seq = p[0];
        if (seq.kind == JV_STR) {
            if (v.kind != JV_STR)
                return gptc_jfail(rt, JE_TYPE,
                                  "'in <string>' requires string as left operand, not %s",
                                  gptc_jv_type_name(v));
            *res = v.u.s->n == 0 || memmem(seq.u.s->p, seq.u.s->n, v.u.s->p, v.u.s->n) != NULL;
            return 0;
        }
        if (seq.kind == JV_DICT) {
            long e = gptc_jdict_find(rt, seq.u.d, v);
            if (e == -2) return -1;
            *res = e >= 0;
            return 0;
        }
        if (seq.kind == JV_LIST) {
            if (seq.u.l->gen_err)
                return gptc_jfail(rt, (jerr_kind)seq.u.l->gen_ekind, "%s", seq.u.l->gen_err->p);
            for (size_t i = 0; i < seq.u.l->n && !*res; i++)
                if (gptc_jv_eq(rt, seq.u.l->v[i], v, res)) return -1;
            return 0;
        }
        if (seq.kind == JV_UNDEF) return 0;
        return gptc_jfail(rt, JE_TYPE, "argument of type '%s' is not iterable",
                          gptc_jv_type_name(seq));
    }
    case T_FILTER:
    case T_TEST:
        if (v.kind != JV_STR) return 0;
        *res = id == T_FILTER ? gptc_jinja_filter_id(v.u.s->p, v.u.s->n) >= 0
                              : gptc_jinja_test_id(v.u.s->p, v.u.s->n) >= 0;
        return 0;
    default:
        return gptc_jfail(rt, JE_UNSUPPORTED, "the test '%s'", gptc_jinja_test_name(id));
    }
}

int gptc_jinja_test_by_name(jrt *rt, const char *name, jv in, const jargs *a, int *res)
{
    int id = gptc_jinja_test_id(name, strlen(name));
    if (id < 0) return gptc_jfail(rt, JE_RUNTIME, "No test named '%s'.", name);
    return gptc_jinja_test(rt, id, in, a, res);
}

/* ---------------------------------------------------------------------------------------------
 * Global functions
 */
static const char *const k_funcs[JF_COUNT] = {
    [JF_RANGE] = "range",           [JF_NAMESPACE] = "namespace",   [JF_DICT] = "dict",
    [JF_RAISE] = "raise_exception", [JF_STRFTIME] = "strftime_now", [JF_LIPSUM] = "lipsum",
    [JF_CYCLER] = "cycler",         [JF_JOINER] = "joiner",
};

const char *gptc_jinja_func_name(int id)
{
    return id >= 0 && id < JF_COUNT ? k_funcs[id] : "?";
}

static int days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int strftime_now(jrt *rt, const jstr *fmt, jv *out)
{
    static const char *const wday[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    static const char *const mon[] = {"January",   "February", "March",    "April",
                                      "May",       "June",     "July",     "August",
                                      "September", "October",  "November", "December"};
    const jinja_opts *o = rt->opts;
    int y = o->year, mo = o->mon < 1 || o->mon > 12 ? 1 : o->mon, d = o->day;
    int H = o->hour, M = o->min, S = o->sec;
    int days = days_from_civil(y, mo, d);
    int wd = ((days % 7) + 11) % 7; /* 1970-01-01 was a Thursday (4) */
    int yday = days - days_from_civil(y, 1, 1);
    jbuf b = {0};
    int r = 0;
    for (size_t i = 0; i < fmt->n && !r; i++) {
        char c = fmt->p[i];
        if (c != '%' || i + 1 >= fmt->n) {
            r = gptc_jbuf_put(rt, &b, &c, 1);
            continue;
        }
        char f = fmt->p[++i];
        int nopad = 0;
        if (f == '-' && i + 1 < fmt->n) {
            nopad = 1;
            f = fmt->p[++i];
        }
        char t[64];
        const char *pad2 = nopad ? "%d" : "%02d";
        switch (f) {
        case 'a':
            snprintf(t, sizeof t, "%.3s", wday[wd]);
            break;
        case 'A':
            snprintf(t, sizeof t, "%s", wday[wd]);
            break;
        case 'b':
        case 'h':
            snprintf(t, sizeof t, "%.3s", mon[mo - 1]);
            break;
        case 'B':
            snprintf(t, sizeof t, "%s", mon[mo - 1]);
            break;
        case 'c':
            snprintf(t, sizeof t, "%.3s %.3s %2d %02d:%02d:%02d %d", wday[wd], mon[mo - 1], d, H, M,
                     S, y);
            break;
        case 'C':
            snprintf(t, sizeof t, "%02d", y / 100);
            break;
        case 'd':
            snprintf(t, sizeof t, pad2, d);
            break;
        case 'D':
        case 'x':
            snprintf(t, sizeof t, "%02d/%02d/%02d", mo, d, y % 100);
            break;
        case 'e':
            snprintf(t, sizeof t, nopad ? "%d" : "%2d", d);
            break;
        case 'F':
            snprintf(t, sizeof t, "%d-%02d-%02d", y, mo, d);
            break;
        case 'H':
            snprintf(t, sizeof t, pad2, H);
            break;
        case 'I':
            snprintf(t, sizeof t, pad2, H % 12 ? H % 12 : 12);
            break;
        case 'j':
            snprintf(t, sizeof t, nopad ? "%d" : "%03d", yday + 1);
            break;
        case 'k':
            snprintf(t, sizeof t, "%2d", H);
            break;
        case 'l':
            snprintf(t, sizeof t, "%2d", H % 12 ? H % 12 : 12);
            break;
        case 'm':
            snprintf(t, sizeof t, pad2, mo);
            break;
        case 'M':
            snprintf(t, sizeof t, pad2, M);
            break;
        case 'n':
            snprintf(t, sizeof t, "\n");
            break;
        case 'p':
            snprintf(t, sizeof t, "%s", H < 12 ? "AM" : "PM");
            break;
        case 'P':
            snprintf(t, sizeof t, "%s", H < 12 ? "am" : "pm");
            break;
        case 'r':
            snprintf(t, sizeof t, "%02d:%02d:%02d %s", H % 12 ? H % 12 : 12, M, S,
                     H < 12 ? "AM" : "PM");
            break;
        case 'R':
            snprintf(t, sizeof t, "%02d:%02d", H, M);
            break;
        case 'S':
            snprintf(t, sizeof t, pad2, S);
            break;
        case 't':
            snprintf(t, sizeof t, "\t");
            break;
        case 'T':
        case 'X':
            snprintf(t, sizeof t, "%02d:%02d:%02d", H, M, S);
            break;
        case 'u':
            snprintf(t, sizeof t, "%d", wd ? wd : 7);
            break;
        case 'w':
            snprintf(t, sizeof t, "%d", wd);
            break;
        case 'U':
            snprintf(t, sizeof t, pad2, (yday + 7 - wd) / 7);
            break;
        case 'W':
            snprintf(t, sizeof t, pad2, (yday + 7 - (wd + 6) % 7) / 7);
            break;
        case 'y':
            snprintf(t, sizeof t, pad2, y % 100);
            break;
        case 'Y':
            snprintf(t, sizeof t, "%d", y);
            break;
        case 'z':
        case 'Z':
            t[0] = '\0';
            break;
        case '%':
            snprintf(t, sizeof t, "%%");
            break;
        default:
            snprintf(t, sizeof t, "%%%s%c", nopad ? "-" : "", f);
            break;
        }
        r = jbuf_puts(rt, &b, t);
    }
    return gptc_jbuf_finish(rt, &b, r, out);
}

static int as_index(jrt *rt, jv v, int64_t *out)
{
    if (v.kind != JV_INT && v.kind != JV_BOOL)
        return gptc_jfail(rt, JE_TYPE, "'%s' object cannot be interpreted as an integer",
                          gptc_jv_type_name(v));
    *out = v.u.i;
    return 0;
}

/* dict(...) / namespace(...): one optional mapping (or iterable of pairs), then keywords */
static int fill_mapping(jrt *rt, jdict *d, const jargs *a, const char *fname)
{
    if (a->npos > 1)
        return gptc_jfail(rt, JE_TYPE, "%s expected at most 1 argument, got %zu", fname, a->npos);
    if (a->npos == 1) {
        jv m = a->pos[0];
        if (m.kind == JV_DICT) {
            for (size_t i = 0; i < m.u.d->n; i++)
                if (gptc_jdict_set(rt, d, m.u.d->keys[i], m.u.d->vals[i])) return -1;
        } else {
            jlist *items;
            if (gptc_jinja_iterate(rt, m, &items)) return -1;
            int r = 0;
            for (size_t i = 0; i < items->n && !r; i++) {
                jlist *pair;
                if ((r = gptc_jinja_iterate(rt, items->v[i], &pair))) break;
                if (pair->n != 2)
                    r = gptc_jfail(
                        rt, JE_VALUE,
                        "dictionary update sequence element #%zu has length %zu; 2 is required", i,
                        pair->n);
                else
                    r = gptc_jdict_set(rt, d, pair->v[0], pair->v[1]);
                gptc_jv_decref(jv_listv(pair));
            }
            gptc_jv_decref(jv_listv(items));
            if (r) return -1;
        }
    }
    for (size_t k = 0; k < a->nkw; k++) {
        jv key = jv_strv((jstr *)a->kwn[k]);
        if (gptc_jdict_set(rt, d, key, a->kw[k])) return -1;
    }
    return 0;
}

int gptc_jinja_call_func(jrt *rt, int id, const jargs *a, jv *out)
{
    *out = jv_none();
    switch (id) {
    case JF_RANGE: {
        if (a->nkw) return gptc_jfail(rt, JE_TYPE, "range() takes no keyword arguments");
        if (a->npos < 1 || a->npos > 3)
            return gptc_jfail(rt, JE_TYPE, "range expected 1 to 3 arguments, got %zu", a->npos);
        int64_t start = 0, stop = 0, step = 1;
        if (a->npos == 1) {
            if (as_index(rt, a->pos[0], &stop)) return -1;
        } else {
            if (as_index(rt, a->pos[0], &start) || as_index(rt, a->pos[1], &stop)) return -1;
            if (a->npos == 3 && as_index(rt, a->pos[2], &step)) return -1;
        }
        if (step == 0) return gptc_jfail(rt, JE_VALUE, "range() arg 3 must not be zero");
        uint64_t un = 0;
        if (step > 0 && start < stop)
            un = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
        if (step < 0 && start > stop)
            un = ((uint64_t)start - (uint64_t)stop - 1) / (0 - (uint64_t)step) + 1;
        int64_t n = un > JINJA_MAX_RANGE ? JINJA_MAX_RANGE + 1 : (int64_t)un;
        if (n > JINJA_MAX_RANGE)
            return gptc_jfail(
                rt, JE_LIMIT,
                "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).",
                JINJA_MAX_RANGE);
        jlist *l = gptc_jlist_new(rt, (size_t)n, 0);
        if (!l) return -1;
        /* each value lies between start and stop, so adding step n-1 times cannot overflow;
         * start + i * step could, even when the sum fits (range(-2**63, 2**63-1, 2**62)) */
        int64_t v = start;
        for (int64_t i = 0; i < n; i++) {
            l->v[i] = jv_int(v);
            if (i + 1 < n) v += step;
        }
        *out = jv_listv(l);
        return 0;
    }
    case JF_NAMESPACE: {
        jv ns;
        if (gptc_jns_new(rt, &ns)) return -1;
        if (fill_mapping(rt, ns.u.ns->attrs, a, "namespace")) {
            gptc_jv_decref(ns);
            return -1;
        }
        *out = ns;
        return 0;
    }
    case JF_DICT: {
        jdict *d = gptc_jdict_new(rt, a->nkw);
        if (!d) return -1;
        return gptc_jdict_finish(rt, d, fill_mapping(rt, d, a, "dict"), out);
    }
    case JF_RAISE: {
        jv msg = a->npos ? a->pos[0] : a->nkw ? a->kw[0] : jv_none();
        jbuf b = {0};
        if (gptc_jv_write_str(rt, &b, msg)) {
            gptc_jbuf_free(&b);
            return -1;
        }
        gptc_jfail(rt, JE_TEMPLATE, "%s", b.p ? b.p : "");
        gptc_jbuf_free(&b);
        return -1;
    }
    case JF_STRFTIME: {
        static const char *const ps[] = {"format"};
        jv p[1];
        if (gptc_jargs_bind(rt, a, "strftime_now", ps, 1, p)) return -1;
        if (!given(p[0]))
            return gptc_jfail(rt, JE_TYPE,
                              "strftime_now() missing 1 required positional argument: 'format'");
        if (p[0].kind != JV_STR)
            return gptc_jfail(rt, JE_TYPE, "strftime() argument 1 must be str, not %s",
                              gptc_jv_type_name(p[0]));
        return strftime_now(rt, p[0].u.s, out);
    }
    default:
        return gptc_jfail(rt, JE_UNSUPPORTED, "the global function %s()", gptc_jinja_func_name(id));
    }
}
