/*
 * jinja_filters.c — Jinja's built-in filters as transformers sees them: tojson is
 * json.dumps(ensure_ascii=False, indent, separators, sort_keys) rather than Jinja's
 * HTML-escaping one. Filters Jinja has that chat templates do not use (center, truncate,
 * wordwrap, urlize, groupby ...) are known names that fail with GPTC_E_UNSUPPORTED when a
 * template runs them; unknown names are syntax errors at parse time, as in Jinja2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_impl.h"

int gptc_jinja_binop(jrt *rt, int op, jv a, jv b, jv *out);
int gptc_jinja_str_replace(jrt *rt, const jstr *s, const jstr *old, const jstr *new_, int64_t count,
                           jv *out);
int gptc_jinja_splitlines(jrt *rt, const jstr *s, int keepends, jv *out);

static int given(jv v)
{
    return v.kind != JV_NOARG;
}

static int undefined_error(jrt *rt, jv u)
{
    return gptc_jfail(rt, JE_UNDEFINED, "%s", u.u.s ? u.u.s->p : "value is undefined");
}

static int want_int(jrt *rt, jv v, const char *what, int64_t *out)
{
    if (v.kind == JV_INT || v.kind == JV_BOOL) {
        *out = v.u.i;
        return 0;
    }
    return gptc_jfail(rt, JE_TYPE, "%s: '%s' object cannot be interpreted as an integer", what,
                      gptc_jv_type_name(v));
}

/* item.attr.sub (parts split on '.', digits as integer indexes), as Jinja's make_attrgetter */
static int attr_get(jrt *rt, jv item, jv attr, jv *out)
{
    if (attr.kind != JV_STR) return gptc_jinja_getitem(rt, item, attr, out);
    const jstr *s = attr.u.s;
    jv cur = gptc_jv_incref(item);
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < s->n && s->p[j] != '.')
            j++;
        int digits = j > i;
        for (size_t k = i; k < j; k++)
            if (s->p[k] < '0' || s->p[k] > '9') digits = 0;
        jv key, next;
        int r;
        if (digits && j - i < 18) {
            key = jv_int(strtoll(s->p + i, NULL, 10));
            r = 0;
        } else {
            r = gptc_jv_str(rt, s->p + i, j - i, &key);
        }
        if (r) {
            gptc_jv_decref(cur);
            return -1;
        }
        r = gptc_jinja_getitem(rt, cur, key, &next);
        gptc_jv_decref(key);
        gptc_jv_decref(cur);
        if (r) return -1;
        cur = next;
        if (j >= s->n) break;
        i = j + 1;
    }
    *out = cur;
    return 0;
}

/* key for sort/unique/min/max: the attribute, lowercased when not case-sensitive */
static int sort_key(jrt *rt, jv item, jv attr, int case_sensitive, jv *out)
{
    jv k;
    if (given(attr) && attr.kind != JV_NONE) {
        if (attr_get(rt, item, attr, &k)) return -1;
    } else {
        k = gptc_jv_incref(item);
    }
    if (!case_sensitive && k.kind == JV_STR) {
        jv l;
        int r = gptc_jstr_case(rt, k.u.s, 'l', &l);
        gptc_jv_decref(k);
        if (r) return -1;
        k = l;
    }
    *out = k;
    return 0;
}

/* Stable merge sort of values by keys (parallel arrays); reverse keeps equal items in order */
static int msort(jrt *rt, jv *keys, jv *vals, jv *tk, jv *tv, size_t n, int reverse)
{
    if (n < 2) return 0;
    size_t h = n / 2;
    if (msort(rt, keys, vals, tk, tv, h, reverse) ||
        msort(rt, keys + h, vals + h, tk, tv, n - h, reverse))
        return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c;
        if (reverse ? gptc_jv_cmp(rt, keys[i], keys[j], "<", &c)
                    : gptc_jv_cmp(rt, keys[j], keys[i], "<", &c))
            return -1;
        if (c < 0) {
            tk[k] = keys[j];
            tv[k++] = vals[j++];
        } else {
            tk[k] = keys[i];
            tv[k++] = vals[i++];
        }
    }
    while (i < h) {
        tk[k] = keys[i];
        tv[k++] = vals[i++];
    }
    while (j < n) {
        tk[k] = keys[j];
        tv[k++] = vals[j++];
    }
    memcpy(keys, tk, n * sizeof *keys);
    memcpy(vals, tv, n * sizeof *vals);
    return 0;
}

/* sort items (borrowed) by keys (owned); OUT a new list of the items in order */
static int sorted_list(jrt *rt, const jv *items, jv *keys, size_t n, int reverse, jv *out)
{
    jv *vals = gptc_jalloc(rt, (3 * n + 1) * sizeof *vals);
    if (!vals) return -1;
    memcpy(vals, items, n * sizeof *vals);
    int r = jrt_steps(rt, n * 8);
    if (!r) r = msort(rt, keys, vals, vals + n, vals + 2 * n, n, reverse);
    jlist *l = r ? NULL : gptc_jlist_new(rt, n, 0);
    if (l) {
        for (size_t i = 0; i < n; i++)
            l->v[i] = gptc_jv_incref(vals[i]);
        r = gptc_jlist_finish(rt, l, 0, out);
    } else {
        r = -1;
    }
    free(vals);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Lazy filters. In Jinja, select, reject, selectattr, rejectattr, map, unique, items, batch,
 * slice and reverse give generators: always true, no len(), and whatever goes wrong computing
 * them is raised only when they are iterated ({% if xs|map('f') %} is true and raises nothing).
 * Here they are computed at once into a list marked as a generator; a Python exception on the
 * way is kept in it (gen_err) and raised by whatever iterates it. Limits, memory and
 * unsupported constructs still fail at once.
 */
static int defer(jrt *rt, jlist **res)
{
    if (!rt->failed || rt->ekind == JE_LIMIT || rt->ekind == JE_NOMEM ||
        rt->ekind == JE_UNSUPPORTED)
        return -1;
    jerr_kind kind = rt->ekind;
    char msg[sizeof rt->emsg];
    memcpy(msg, rt->emsg, sizeof msg);
    rt->failed = 0;
    if (!*res) {
        *res = gptc_jlist_new(rt, 0, 0);
        if (!*res) return -1;
    }
    (*res)->gen = 1;
    (*res)->gen_err = gptc_jstr_new(rt, msg, strlen(msg));
    if (!(*res)->gen_err) return -1;
    (*res)->gen_ekind = (uint8_t)kind;
    return 0;
}

/* The input's items (NULL and 0 when falsy_empty and the input is false, as Jinja's
 * `if value:`); on a deferred error *res is already the (failed) result. */
static int lazy_begin(jrt *rt, jv in, int falsy_empty, jlist **items, jlist **res)
{
    *items = NULL;
    *res = NULL;
    if (falsy_empty && !gptc_jv_truthy(in)) {
        *res = gptc_jlist_new(rt, 0, 0);
        if (!*res) return -1;
        (*res)->gen = 1;
        return 0;
    }
    if (gptc_jinja_iterate(rt, in, items)) return defer(rt, res);
    *res = gptc_jlist_new(rt, (*items)->n, 0);
    if (!*res) {
        gptc_jv_decref(jv_listv(*items));
        *items = NULL;
        return -1;
    }
    (*res)->gen = 1;
    return 0;
}

/* Finish a lazy result of n items; r: the status of computing them. */
static int lazy_end(jrt *rt, jlist *items, jlist *res, size_t n, int r, jv *out)
{
    if (items) gptc_jv_decref(jv_listv(items));
    res->n = n;
    if ((r && defer(rt, &res)) || gptc_jlist_seal(rt, res)) {
        gptc_jv_decref(jv_listv(res));
        return -1;
    }
    res->gen = 1;
    *out = jv_listv(res);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The filters
 */
static int f_abs(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1];
    if (gptc_jargs_bind(rt, a, "abs", NULL, 0, p)) return -1;
    if (in.kind == JV_INT || in.kind == JV_BOOL) {
        if (in.u.i == INT64_MIN) return gptc_jfail(rt, JE_UNSUPPORTED, "integer overflow");
        *out = jv_int(in.u.i < 0 ? -in.u.i : in.u.i);
        return 0;
    }
    if (in.kind == JV_FLOAT) {
        *out = jv_float(fabs(in.u.f));
        return 0;
    }
    return gptc_jfail(rt, JE_TYPE, "bad operand type for abs(): '%s'", gptc_jv_type_name(in));
}

static int f_attr(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"name"};
    jv p[1];
    if (gptc_jargs_bind(rt, a, "attr", ps, 1, p)) return -1;
    if (!given(p[0])) return gptc_jfail(rt, JE_TYPE, "attr() missing argument 'name'");
    if (p[0].kind != JV_STR)
        return gptc_jfail(rt, JE_TYPE, "attribute name must be string, not '%s'",
                          gptc_jv_type_name(p[0]));
    return gptc_jinja_getattr_ex(rt, in, p[0].u.s->p, p[0].u.s->n, 0, out);
}

static int f_case(jrt *rt, jv in, const jargs *a, jv *out, const char *name, int mode)
{
    jv p[1], s;
    if (gptc_jargs_bind(rt, a, name, NULL, 0, p)) return -1;
    if (gptc_jv_to_str(rt, in, &s)) return -1;
    int r = gptc_jstr_case(rt, s.u.s, mode, out);
    gptc_jv_decref(s);
    return r;
}
static int f_capitalize(jrt *rt, jv in, const jargs *a, jv *out)
{
    return f_case(rt, in, a, out, "capitalize", 'c');
}
static int f_lower(jrt *rt, jv in, const jargs *a, jv *out)
{
    return f_case(rt, in, a, out, "lower", 'l');
}
static int f_upper(jrt *rt, jv in, const jargs *a, jv *out)
{
    return f_case(rt, in, a, out, "upper", 'u');
}
static int f_title(jrt *rt, jv in, const jargs *a, jv *out)
{
    return f_case(rt, in, a, out, "title", 'T');
}

static int f_default(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"default_value", "boolean"};
    jv p[2];
    if (gptc_jargs_bind(rt, a, "default", ps, 2, p)) return -1;
    int use = in.kind == JV_UNDEF || (given(p[1]) && gptc_jv_truthy(p[1]) && !gptc_jv_truthy(in));
    if (!use) {
        *out = gptc_jv_incref(in);
        return 0;
    }
    if (given(p[0])) {
        *out = gptc_jv_incref(p[0]);
        return 0;
    }
    return gptc_jv_str(rt, "", 0, out);
}

static int f_length(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1];
    int64_t n;
    if (gptc_jargs_bind(rt, a, "length", NULL, 0, p) || gptc_jinja_length(rt, in, &n)) return -1;
    *out = jv_int(n);
    return 0;
}

static int f_escape(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1], s;
    if (gptc_jargs_bind(rt, a, "escape", NULL, 0, p) || gptc_jv_to_str(rt, in, &s)) return -1;
    jbuf b = {0};
    int r = 0;
    for (size_t i = 0; i < s.u.s->n && !r; i++) {
        char c = s.u.s->p[i];
        const char *e = c == '&'    ? "&amp;"
                        : c == '<'  ? "&lt;"
                        : c == '>'  ? "&gt;"
                        : c == '"'  ? "&#34;"
                        : c == '\'' ? "&#39;"
                                    : NULL;
        r = e ? jbuf_puts(rt, &b, e) : gptc_jbuf_put(rt, &b, &c, 1);
    }
    gptc_jv_decref(s);
    return gptc_jbuf_finish(rt, &b, r, out);
}

static int f_first(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1];
    jlist *l;
    if (gptc_jargs_bind(rt, a, "first", NULL, 0, p)) return -1;
    if (in.kind == JV_LIST && in.u.l->gen && in.u.l->n) { /* next(): the first item was made */
        *out = gptc_jv_incref(in.u.l->v[0]);
        return 0;
    }
    if (gptc_jinja_iterate(rt, in, &l)) return -1;
    int r = 0;
    if (l->n)
        *out = gptc_jv_incref(l->v[0]);
    else
        r = gptc_jv_undef_msg(rt, out, "No first item, sequence was empty.");
    gptc_jv_decref(jv_listv(l));
    return r;
}

static int f_last(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1];
    jlist *l;
    if (gptc_jargs_bind(rt, a, "last", NULL, 0, p)) return -1;
    if (in.kind != JV_STR && !(in.kind == JV_LIST && !in.u.l->gen) && in.kind != JV_DICT &&
        in.kind != JV_UNDEF)
        return gptc_jfail(rt, JE_TYPE, "'%s' object is not reversible", gptc_jv_type_name(in));
    if (gptc_jinja_iterate(rt, in, &l)) return -1;
    int r = 0;
    if (l->n)
        *out = gptc_jv_incref(l->v[l->n - 1]);
    else
        r = gptc_jv_undef_msg(rt, out, "No last item, sequence was empty.");
    gptc_jv_decref(jv_listv(l));
    return r;
}

/* Python float(str): whitespace, sign, digits with single underscores between digits, a
 * fraction, an exponent, or inf / infinity / nan */
static int parse_float(const jstr *s, double *out)
{
    size_t a = 0, z = s->n;
    while (a < z && gptc_ju_isspace((unsigned char)s->p[a]))
        a++;
    while (z > a && gptc_ju_isspace((unsigned char)s->p[z - 1]))
        z--;
    char buf[128];
    size_t k = 0, i = a;
    if (z - a >= sizeof buf) return -1;
    if (i < z && (s->p[i] == '+' || s->p[i] == '-')) buf[k++] = s->p[i++];
    const char *words[] = {"infinity", "inf", "nan"};
    for (int w = 0; w < 3; w++) {
        size_t l = strlen(words[w]);
        if (z - i == l && strncasecmp(s->p + i, words[w], l) == 0) {
            double v = w == 2 ? NAN : INFINITY;
            *out = k && buf[0] == '-' ? -v : v;
            return 0;
        }
    }
    int digits = 0, dot = 0, exp = 0, prev_digit = 0;
    for (; i < z; i++) {
        char c = s->p[i];
        if (c >= '0' && c <= '9') {
            digits++;
            prev_digit = 1;
            buf[k++] = c;
        } else if (c == '_') {
            if (!prev_digit || i + 1 >= z || s->p[i + 1] < '0' || s->p[i + 1] > '9') return -1;
            prev_digit = 0;
        } else if (c == '.' && !dot && !exp) {
            dot = 1;
            prev_digit = 0;
            buf[k++] = c;
        } else if ((c == 'e' || c == 'E') && digits && !exp) {
            exp = 1;
            prev_digit = 0;
            buf[k++] = c;
            if (i + 1 < z && (s->p[i + 1] == '+' || s->p[i + 1] == '-')) buf[k++] = s->p[++i];
            if (i + 1 >= z) return -1;
        } else {
            return -1;
        }
    }
    if (!digits || (k && buf[k - 1] == 'e')) return -1;
    buf[k] = '\0';
    char *end;
    *out = strtod(buf, &end);
    return *end ? -1 : 0;
}

/* Python int(str, base) */
static int parse_int(const jstr *s, int base, int64_t *out)
{
    size_t a = 0, z = s->n;
    while (a < z && gptc_ju_isspace((unsigned char)s->p[a]))
        a++;
    while (z > a && gptc_ju_isspace((unsigned char)s->p[z - 1]))
        z--;
    int neg = 0;
    if (a < z && (s->p[a] == '+' || s->p[a] == '-')) neg = s->p[a++] == '-';
    if (z - a >= 2 && s->p[a] == '0') {
        char x = (char)(s->p[a + 1] | 32);
        int pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
        if (pb && (base == pb || base == 0)) {
            base = pb;
            a += 2;
            if (a < z && s->p[a] == '_') a++;
        }
    }
    if (base == 0) base = 10;
    if (a >= z) return -1;
    uint64_t v = 0;
    int prev_digit = 0;
    for (size_t i = a; i < z; i++) {
        char c = s->p[i];
        int d = c >= '0' && c <= '9'                 ? c - '0'
                : (c | 32) >= 'a' && (c | 32) <= 'z' ? (c | 32) - 'a' + 10
                                                     : -1;
        if (c == '_') {
            if (!prev_digit || i + 1 >= z) return -1;
            prev_digit = 0;
            continue;
        }
        if (d < 0 || d >= base) return -1;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return -2;
        v = v * (uint64_t)base + (uint64_t)d;
        prev_digit = 1;
    }
    if (!prev_digit) return -1;
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) return -2;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int f_int(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"default", "base"};
    jv p[2];
    if (gptc_jargs_bind(rt, a, "int", ps, 2, p)) return -1;
    int64_t base = 10, iv;
    if (given(p[1]) && want_int(rt, p[1], "int", &base)) return -1;
    jv dflt = given(p[0]) ? p[0] : jv_int(0);
    switch (in.kind) {
    case JV_UNDEF:
        return undefined_error(rt, in);
    case JV_INT:
    case JV_BOOL:
        *out = jv_int(in.u.i);
        return 0;
    case JV_FLOAT:
        if (isnan(in.u.f)) break;
        if (isinf(in.u.f) || fabs(in.u.f) >= 9.2e18)
            return gptc_jfail(rt, JE_UNSUPPORTED, "integer overflow (gptc's integers are 64-bit)");
        *out = jv_int((int64_t)in.u.f);
        return 0;
    case JV_STR: {
        int r = base < 0 || base == 1 || base > 36 ? -1 : parse_int(in.u.s, (int)base, &iv);
        if (r == -2)
            return gptc_jfail(rt, JE_UNSUPPORTED, "integer overflow (gptc's integers are 64-bit)");
        if (r == 0) {
            *out = jv_int(iv);
            return 0;
        }
        double f;
        if (parse_float(in.u.s, &f) == 0 && !isnan(f)) {
            if (isinf(f) || fabs(f) >= 9.2e18)
                return gptc_jfail(rt, JE_UNSUPPORTED,
                                  "integer overflow (gptc's integers are 64-bit)");
            *out = jv_int((int64_t)f);
            return 0;
        }
        break;
    }
    default:
        break;
    }
    *out = gptc_jv_incref(dflt);
    return 0;
}

static int f_float(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"default"};
    jv p[1];
    if (gptc_jargs_bind(rt, a, "float", ps, 1, p)) return -1;
    double f;
    switch (in.kind) {
    case JV_UNDEF:
        return undefined_error(rt, in);
    case JV_INT:
    case JV_BOOL:
        *out = jv_float((double)in.u.i);
        return 0;
    case JV_FLOAT:
        *out = in;
        return 0;
    case JV_STR:
        if (parse_float(in.u.s, &f) == 0) {
            *out = jv_float(f);
            return 0;
        }
        break;
    default:
        break;
    }
    *out = given(p[0]) ? gptc_jv_incref(p[0]) : jv_float(0.0);
    return 0;
}

static int f_indent(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"width", "first", "blank"};
    jv p[3], s, ind, lines;
    if (gptc_jargs_bind(rt, a, "indent", ps, 3, p)) return -1;
    if (given(p[0]) && p[0].kind == JV_STR) {
        ind = gptc_jv_incref(p[0]);
    } else {
        int64_t w = 4;
        if (given(p[0]) && want_int(rt, p[0], "indent", &w)) return -1;
        if (w < 0) w = 0;
        if (w > 4096) return gptc_jfail(rt, JE_LIMIT, "indent width too large");
        char sp[4097];
        memset(sp, ' ', (size_t)w);
        if (gptc_jv_str(rt, sp, (size_t)w, &ind)) return -1;
    }
    int first = given(p[1]) && gptc_jv_truthy(p[1]), blank = given(p[2]) && gptc_jv_truthy(p[2]);
    if (in.kind != JV_STR) { /* Jinja does s += "\n" on the value itself */
        gptc_jv_decref(ind);
        if (in.kind == JV_UNDEF) return undefined_error(rt, in);
        return gptc_jfail(rt, JE_TYPE, "unsupported operand type(s) for +=: '%s' and 'str'",
                          gptc_jv_type_name(in));
    }
    s = gptc_jv_incref(in);
    /* s += "\n"; lines = s.splitlines() */
    jstr *nl = gptc_jstr_new(rt, "\n", 1);
    jstr *s2 = nl ? gptc_jstr_cat(rt, s.u.s, nl) : NULL;
    free(nl);
    gptc_jv_decref(s);
    int r = s2 ? gptc_jinja_splitlines(rt, s2, 0, &lines) : -1;
    free(s2);
    if (r) {
        gptc_jv_decref(ind);
        return -1;
    }
    jbuf b = {0};
    const jlist *l = lines.u.l;
    const jstr *is = ind.u.s;
    if (first) r = gptc_jbuf_put(rt, &b, is->p, is->n);
    for (size_t i = 0; i < l->n && !r; i++) {
        const jstr *line = l->v[i].u.s;
        if (i) {
            r = gptc_jbuf_put(rt, &b, "\n", 1);
            if (!r && (blank || line->n)) r = gptc_jbuf_put(rt, &b, is->p, is->n);
        }
        if (!r) r = gptc_jbuf_put(rt, &b, line->p, line->n);
    }
    gptc_jv_decref(lines);
    gptc_jv_decref(ind);
    return gptc_jbuf_finish(rt, &b, r, out);
}

static int f_items(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1];
    jlist *res = gptc_jlist_new(rt, in.kind == JV_DICT ? in.u.d->n : 0, 0);
    if (!res) return -1;
    res->gen = 1;
    int r = gptc_jargs_bind(rt, a, "items", NULL, 0, p);
    size_t n = 0;
    if (!r && in.kind != JV_DICT && in.kind != JV_UNDEF)
        r = gptc_jfail(rt, JE_TYPE, "Can only get item pairs from a mapping.");
    for (size_t i = 0; !r && in.kind == JV_DICT && i < in.u.d->n; i++) {
        jlist *t = gptc_jlist_new(rt, 2, 1);
        if (!t) {
            r = -1;
            break;
        }
        t->v[0] = gptc_jv_incref(in.u.d->keys[i]);
        t->v[1] = gptc_jv_incref(in.u.d->vals[i]);
        gptc_jlist_seal(rt, t);
        res->v[n++] = jv_listv(t);
    }
    return lazy_end(rt, NULL, res, n, r, out);
}

static int f_join(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"d", "attribute"};
    jv p[2], sep;
    jlist *l;
    if (gptc_jargs_bind(rt, a, "join", ps, 2, p)) return -1;
    if (given(p[0])) {
        if (gptc_jv_to_str(rt, p[0], &sep)) return -1;
    } else if (gptc_jv_str(rt, "", 0, &sep)) {
        return -1;
    }
    if (gptc_jinja_iterate(rt, in, &l)) {
        gptc_jv_decref(sep);
        return -1;
    }
    jbuf b = {0};
    int r = jrt_steps(rt, l->n);
    for (size_t i = 0; i < l->n && !r; i++) {
        if (i) r = gptc_jbuf_put(rt, &b, sep.u.s->p, sep.u.s->n);
        if (r) break;
        if (given(p[1]) && p[1].kind != JV_NONE) {
            jv x;
            r = attr_get(rt, l->v[i], p[1], &x);
            if (!r) r = gptc_jv_write_str(rt, &b, x);
            if (!r) gptc_jv_decref(x);
        } else {
            r = gptc_jv_write_str(rt, &b, l->v[i]);
        }
    }
    gptc_jv_decref(jv_listv(l));
    gptc_jv_decref(sep);
    return gptc_jbuf_finish(rt, &b, r, out);
}

static int f_list(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1];
    jlist *l;
    if (gptc_jargs_bind(rt, a, "list", NULL, 0, p) || gptc_jinja_iterate(rt, in, &l)) return -1;
    if (l->tuple || l->gen || l->view) { /* list(tuple), list(generator), list(view) */
        jlist *c = gptc_jlist_new(rt, l->n, 0);
        if (!c) {
            gptc_jv_decref(jv_listv(l));
            return -1;
        }
        for (size_t i = 0; i < l->n; i++)
            c->v[i] = gptc_jv_incref(l->v[i]);
        c->depth = l->depth;
        gptc_jv_decref(jv_listv(l));
        l = c;
    }
    *out = jv_listv(l);
    return 0;
}

/* select / reject / selectattr / rejectattr */
static int select_common(jrt *rt, jv in, const jargs *a, jv *out, int by_attr, int reject)
{
    jlist *l, *res;
    if (lazy_begin(rt, in, 1, &l, &res)) return -1;
    if (!l) return lazy_end(rt, NULL, res, 0, 0, out);
    size_t off = by_attr ? 1 : 0, n = 0;
    int r = 0;
    if (by_attr && a->npos < 1)
        r = gptc_jfail(rt, JE_RUNTIME, "Missing parameter for attribute name");
    jv attr = by_attr && a->npos ? a->pos[0] : jv_noarg();
    const char *test = NULL;
    if (!r && a->npos > off) {
        if (a->pos[off].kind != JV_STR)
            r = gptc_jfail(rt, JE_TYPE, "test name must be a string");
        else
            test = a->pos[off].u.s->p;
    }
    jargs ta = {a->npos > off + 1 ? a->pos + off + 1 : NULL,
                a->npos > off + 1 ? a->npos - off - 1 : 0, a->kwn, a->kw, a->nkw};
    if (!r) r = jrt_steps(rt, l->n);
    for (size_t i = 0; i < l->n && !r; i++) {
        jv v;
        if (by_attr) {
            if ((r = attr_get(rt, l->v[i], attr, &v))) break;
        } else {
            v = gptc_jv_incref(l->v[i]);
        }
        int t = 0;
        if (test)
            r = gptc_jinja_test_by_name(rt, test, v, &ta, &t);
        else
            t = gptc_jv_truthy(v);
        gptc_jv_decref(v);
        if (!r && t != reject) res->v[n++] = gptc_jv_incref(l->v[i]);
    }
    return lazy_end(rt, l, res, n, r, out);
}
static int f_select(jrt *rt, jv in, const jargs *a, jv *out)
{
    return select_common(rt, in, a, out, 0, 0);
}
static int f_reject(jrt *rt, jv in, const jargs *a, jv *out)
{
    return select_common(rt, in, a, out, 0, 1);
}
static int f_selectattr(jrt *rt, jv in, const jargs *a, jv *out)
{
    return select_common(rt, in, a, out, 1, 0);
}
static int f_rejectattr(jrt *rt, jv in, const jargs *a, jv *out)
{
    return select_common(rt, in, a, out, 1, 1);
}

static int f_map(jrt *rt, jv in, const jargs *a, jv *out)
{
    jlist *l, *res;
    if (lazy_begin(rt, in, 1, &l, &res)) return -1;
    if (!l) return lazy_end(rt, NULL, res, 0, 0, out);
    jv attr = jv_noarg(), dflt = jv_noarg(); /* default=None means no default */
    const char *filter = NULL;
    jargs fa = {NULL, 0, NULL, NULL, 0};
    int r = 0;
    if (a->npos == 0) {
        for (size_t k = 0; k < a->nkw && !r; k++) {
            if (!strcmp(a->kwn[k]->p, "attribute"))
                attr = a->kw[k];
            else if (!strcmp(a->kwn[k]->p, "default"))
                dflt = a->kw[k];
            else
                r = gptc_jfail(rt, JE_RUNTIME, "Unexpected keyword argument '%s'", a->kwn[k]->p);
        }
        if (!r && !given(attr)) r = gptc_jfail(rt, JE_RUNTIME, "map requires a filter argument");
    } else if (a->pos[0].kind != JV_STR) {
        r = gptc_jfail(rt, JE_TYPE, "filter name must be a string");
    } else {
        filter = a->pos[0].u.s->p;
        fa = (jargs){a->pos + 1, a->npos - 1, a->kwn, a->kw, a->nkw};
    }
    if (!r) r = jrt_steps(rt, l->n);
    size_t n = 0;
    for (size_t i = 0; i < l->n && !r; i++) {
        jv v;
        if (filter) {
            r = gptc_jinja_filter_by_name(rt, filter, l->v[i], &fa, &v);
        } else {
            r = attr_get(rt, l->v[i], attr, &v);
            if (!r && v.kind == JV_UNDEF && given(dflt) && dflt.kind != JV_NONE) {
                gptc_jv_decref(v);
                v = gptc_jv_incref(dflt);
            }
        }
        if (!r) res->v[n++] = v;
    }
    return lazy_end(rt, l, res, n, r, out);
}

static int minmax(jrt *rt, jv in, const jargs *a, jv *out, int want_max)
{
    static const char *const ps[] = {"case_sensitive", "attribute"};
    jv p[2];
    jlist *l;
    if (gptc_jargs_bind(rt, a, want_max ? "max" : "min", ps, 2, p) ||
        gptc_jinja_iterate(rt, in, &l))
        return -1;
    int cs = given(p[0]) && gptc_jv_truthy(p[0]);
    if (l->n == 0) {
        gptc_jv_decref(jv_listv(l));
        return gptc_jv_undef_msg(rt, out, "No aggregated item, sequence was empty.");
    }
    size_t best = 0;
    jv bk;
    int r = sort_key(rt, l->v[0], p[1], cs, &bk);
    for (size_t i = 1; i < l->n && !r; i++) {
        jv k;
        int c;
        if ((r = sort_key(rt, l->v[i], p[1], cs, &k))) break;
        r = gptc_jv_cmp(rt, k, bk, want_max ? ">" : "<", &c);
        if (!r && (want_max ? c == 1 : c == -1)) {
            gptc_jv_decref(bk);
            bk = k;
            best = i;
        } else {
            gptc_jv_decref(k);
        }
    }
    if (!r) {
        gptc_jv_decref(bk);
        *out = gptc_jv_incref(l->v[best]);
    } else if (l->n) {
        gptc_jv_decref(bk);
    }
    gptc_jv_decref(jv_listv(l));
    return r;
}
static int f_max(jrt *rt, jv in, const jargs *a, jv *out)
{
    return minmax(rt, in, a, out, 1);
}
static int f_min(jrt *rt, jv in, const jargs *a, jv *out)
{
    return minmax(rt, in, a, out, 0);
}

static int f_replace(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"old", "new", "count"};
    jv p[3], s, o, n;
    if (gptc_jargs_bind(rt, a, "replace", ps, 3, p)) return -1;
    if (!given(p[0]) || !given(p[1]))
        return gptc_jfail(rt, JE_TYPE, "replace() missing arguments 'old' and 'new'");
    int64_t count = -1;
    if (given(p[2]) && p[2].kind != JV_NONE && want_int(rt, p[2], "replace", &count)) return -1;
    if (gptc_jv_to_str(rt, in, &s)) return -1;
    if (gptc_jv_to_str(rt, p[0], &o)) {
        gptc_jv_decref(s);
        return -1;
    }
    if (gptc_jv_to_str(rt, p[1], &n)) {
        gptc_jv_decref(s);
        gptc_jv_decref(o);
        return -1;
    }
    int r = gptc_jinja_str_replace(rt, s.u.s, o.u.s, n.u.s, count, out);
    gptc_jv_decref(s);
    gptc_jv_decref(o);
    gptc_jv_decref(n);
    return r;
}

static int f_reverse(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1];
    if (gptc_jargs_bind(rt, a, "reverse", NULL, 0, p)) return -1;
    if (in.kind == JV_STR) {
        const jstr *s = in.u.s;
        jstr *r = gptc_jstr_new(rt, s->p, s->n);
        if (!r) return -1;
        size_t o = s->n;
        for (size_t i = 0; i < s->n;) {
            size_t l;
            ju8_dec(s->p + i, &l);
            o -= l;
            memcpy(r->p + o, s->p + i, l);
            i += l;
        }
        *out = jv_strv(r);
        return 0;
    }
    /* reversed(value) for sequences (an iterator), else list(value) reversed */
    int iter = (in.kind == JV_LIST && !in.u.l->gen) || in.kind == JV_DICT || in.kind == JV_UNDEF;
    if (!iter && in.kind != JV_LIST && in.kind != JV_LOOP)
        return gptc_jfail(rt, JE_RUNTIME, "argument must be iterable");
    jlist *l;
    if (gptc_jinja_iterate(rt, in, &l)) return -1;
    jlist *r = gptc_jlist_new(rt, l->n, 0);
    if (!r) {
        gptc_jv_decref(jv_listv(l));
        return -1;
    }
    for (size_t i = 0; i < l->n; i++)
        r->v[i] = gptc_jv_incref(l->v[l->n - 1 - i]);
    r->depth = l->depth;
    r->gen = (uint8_t)iter;
    gptc_jv_decref(jv_listv(l));
    *out = jv_listv(r);
    return 0;
}

static int f_round(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"precision", "method"};
    jv p[2];
    if (gptc_jargs_bind(rt, a, "round", ps, 2, p)) return -1;
    int64_t prec = 0;
    if (given(p[0]) && want_int(rt, p[0], "round", &prec)) return -1;
    const char *method = "common";
    if (given(p[1])) {
        if (p[1].kind != JV_STR)
            return gptc_jfail(rt, JE_RUNTIME, "method must be common, ceil or floor");
        method = p[1].u.s->p;
    }
    int common = !strcmp(method, "common"), ceil_ = !strcmp(method, "ceil"),
        floor_ = !strcmp(method, "floor");
    if (!common && !ceil_ && !floor_)
        return gptc_jfail(rt, JE_RUNTIME, "method must be common, ceil or floor");
    if (in.kind != JV_INT && in.kind != JV_BOOL && in.kind != JV_FLOAT)
        return gptc_jfail(rt, JE_TYPE, "type %s doesn't define __round__ method",
                          gptc_jv_type_name(in));
    if (prec > 300) prec = 300;
    if (prec < -300) prec = -300;
    if (!common) {
        double x = in.kind == JV_FLOAT ? in.u.f : (double)in.u.i, m = pow(10.0, (double)prec);
        *out = jv_float((ceil_ ? ceil(x * m) : floor(x * m)) / m);
        return 0;
    }
    if (in.kind != JV_FLOAT) { /* round(int, n) is an int */
        int64_t v = in.u.i;
        if (prec < 0 && prec > -19) {
            int64_t m = 1;
            for (int64_t k = 0; k < -prec; k++)
                m *= 10;
            int64_t q = v / m, rem = v % m;
            if (rem < 0) {
                q--;
                rem += m;
            }
            if (2 * rem > m || (2 * rem == m && (q & 1))) q++;
            v = q * m;
        } else if (prec <= -19) {
            v = 0;
        }
        *out = jv_int(v);
        return 0;
    }
    double x = in.u.f;
    if (isnan(x) || isinf(x)) {
        *out = in;
        return 0;
    }
    if (prec >= 0) {
        char buf[512];
        snprintf(buf, sizeof buf, "%.*f", (int)GPTC_MIN(prec, 340), x);
        *out = jv_float(strtod(buf, NULL));
    } else {
        double m = pow(10.0, (double)-prec);
        *out = jv_float(nearbyint(x / m) * m);
    }
    return 0;
}

static int f_string(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1];
    if (gptc_jargs_bind(rt, a, "string", NULL, 0, p)) return -1;
    return gptc_jv_to_str(rt, in, out);
}

static int f_sort(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"reverse", "case_sensitive", "attribute"};
    jv p[3];
    jlist *l;
    if (gptc_jargs_bind(rt, a, "sort", ps, 3, p) || gptc_jinja_iterate(rt, in, &l)) return -1;
    int cs = given(p[1]) && gptc_jv_truthy(p[1]);
    jv *keys = gptc_jalloc(rt, (l->n + 1) * sizeof *keys); /* counted against the budget */
    if (keys) memset(keys, 0, (l->n + 1) * sizeof *keys);
    int r = keys ? 0 : -1;
    size_t nk = 0;
    for (; nk < l->n && !r; nk++)
        if ((r = sort_key(rt, l->v[nk], p[2], cs, &keys[nk]))) break;
    if (!r) r = sorted_list(rt, l->v, keys, l->n, given(p[0]) && gptc_jv_truthy(p[0]), out);
    for (size_t i = 0; i < nk; i++)
        gptc_jv_decref(keys[i]);
    free(keys);
    gptc_jv_decref(jv_listv(l));
    return r;
}

static int f_dictsort(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"case_sensitive", "by", "reverse"};
    jv p[3], items;
    if (gptc_jargs_bind(rt, a, "dictsort", ps, 3, p)) return -1;
    int by_value = 0;
    if (given(p[1])) {
        if (p[1].kind == JV_STR && !strcmp(p[1].u.s->p, "value"))
            by_value = 1;
        else if (!(p[1].kind == JV_STR && !strcmp(p[1].u.s->p, "key")))
            return gptc_jfail(rt, JE_RUNTIME, "You can only sort by either \"key\" or \"value\"");
    }
    if (in.kind == JV_UNDEF) return undefined_error(rt, in);
    if (in.kind != JV_DICT)
        return gptc_jfail(rt, JE_TYPE, "'%s' object has no attribute 'items'",
                          gptc_jv_type_name(in));
    jargs none = {0};
    if (f_items(rt, in, &none, &items)) return -1;
    const jlist *l = items.u.l;
    jv *keys = gptc_jalloc(rt, (l->n + 1) * sizeof *keys); /* counted against the budget */
    if (keys) memset(keys, 0, (l->n + 1) * sizeof *keys);
    int r = keys ? 0 : -1;
    size_t nk = 0;
    int cs = given(p[0]) && gptc_jv_truthy(p[0]);
    for (; nk < l->n && !r; nk++)
        if ((r = sort_key(rt, l->v[nk].u.l->v[by_value], jv_noarg(), cs, &keys[nk]))) break;
    if (!r) r = sorted_list(rt, l->v, keys, l->n, given(p[2]) && gptc_jv_truthy(p[2]), out);
    for (size_t i = 0; i < nk; i++)
        gptc_jv_decref(keys[i]);
    free(keys);
    gptc_jv_decref(items);
    return r;
}

static int f_sum(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"attribute", "start"};
    jv p[2];
    jlist *l;
    if (gptc_jargs_bind(rt, a, "sum", ps, 2, p) || gptc_jinja_iterate(rt, in, &l)) return -1;
    jv acc = given(p[1]) ? gptc_jv_incref(p[1]) : jv_int(0);
    int r = jrt_steps(rt, l->n);
    for (size_t i = 0; i < l->n && !r; i++) {
        jv x, s;
        if (given(p[0]) && p[0].kind != JV_NONE) {
            if ((r = attr_get(rt, l->v[i], p[0], &x))) break;
        } else {
            x = gptc_jv_incref(l->v[i]);
        }
        r = gptc_jinja_binop(rt, JO_ADD, acc, x, &s);
        gptc_jv_decref(x);
        if (!r) {
            gptc_jv_decref(acc);
            acc = s;
        }
    }
    gptc_jv_decref(jv_listv(l));
    if (r) {
        gptc_jv_decref(acc);
        return -1;
    }
    *out = acc;
    return 0;
}

static int f_tojson(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
    jv p[4];
    if (gptc_jargs_bind(rt, a, "tojson", ps, 4, p)) return -1;
    jjson_opts o = {.indent = -1};
    o.ensure_ascii = given(p[0]) && gptc_jv_truthy(p[0]);
    o.sort_keys = given(p[3]) && gptc_jv_truthy(p[3]);
    jv ind = p[1];
    if (given(ind) && ind.kind != JV_NONE) {
        if (ind.kind == JV_STR) {
            o.indent_s = ind.u.s;
        } else if (ind.kind == JV_INT || ind.kind == JV_BOOL) {
            if (ind.u.i > 4096) return gptc_jfail(rt, JE_LIMIT, "tojson indent too large");
            o.indent = ind.u.i < 0 ? 0 : (int)ind.u.i;
        } else {
            return gptc_jfail(rt, JE_TYPE, "indent must be an int or a string, not %s",
                              gptc_jv_type_name(ind));
        }
    }
    jv sep = p[2];
    if (given(sep) && sep.kind != JV_NONE) {
        if (sep.kind != JV_LIST || sep.u.l->n != 2 || sep.u.l->v[0].kind != JV_STR ||
            sep.u.l->v[1].kind != JV_STR)
            return gptc_jfail(rt, JE_TYPE, "separators must be a pair of strings");
        o.item_sep = sep.u.l->v[0].u.s;
        o.key_sep = sep.u.l->v[1].u.s;
    }
    jbuf b = {0};
    int r = gptc_jv_write_json(rt, &b, in, &o);
    return gptc_jbuf_finish(rt, &b, r, out);
}

static int f_trim(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"chars"};
    jv p[1], s;
    if (gptc_jargs_bind(rt, a, "trim", ps, 1, p)) return -1;
    const jstr *chars = NULL;
    if (given(p[0]) && p[0].kind != JV_NONE) {
        if (p[0].kind != JV_STR) return gptc_jfail(rt, JE_TYPE, "strip arg must be None or str");
        chars = p[0].u.s;
    }
    if (gptc_jv_to_str(rt, in, &s)) return -1;
    int r = gptc_jstr_strip(rt, s.u.s, chars, 'b', out);
    gptc_jv_decref(s);
    return r;
}

static int f_unique(jrt *rt, jv in, const jargs *a, jv *out)
{
    static const char *const ps[] = {"case_sensitive", "attribute"};
    jv p[2];
    jlist *l, *res;
    if (lazy_begin(rt, in, 0, &l, &res)) return -1;
    if (!l) return lazy_end(rt, NULL, res, 0, 0, out);
    int r = gptc_jargs_bind(rt, a, "unique", ps, 2, p);
    int cs = !r && given(p[0]) && gptc_jv_truthy(p[0]);
    jdict *seen = r ? NULL : gptc_jdict_new(rt, 0);
    if (!r && !seen) r = -1;
    if (!r) r = jrt_steps(rt, l->n);
    size_t n = 0;
    for (size_t i = 0; i < l->n && !r; i++) {
        jv k;
        if ((r = sort_key(rt, l->v[i], p[1], cs, &k))) break;
        long e = gptc_jdict_find(rt, seen, k);
        if (e == -2)
            r = -1;
        else if (e < 0) {
            r = gptc_jdict_set(rt, seen, k, jv_none());
            res->v[n++] = gptc_jv_incref(l->v[i]);
        }
        gptc_jv_decref(k);
    }
    if (seen) gptc_jv_decref(jv_dictv(seen));
    return lazy_end(rt, l, res, n, r, out);
}

/* batch(value, linecount, fill_with) and slice(value, slices, fill_with): lists of lists */
static int f_batch_slice(jrt *rt, jv in, const jargs *a, jv *out, int slice)
{
    static const char *const pb[] = {"linecount", "fill_with"};
    static const char *const ps[] = {"slices", "fill_with"};
    jv p[2];
    jlist *l, *res;
    if (lazy_begin(rt, in, 0, &l, &res)) return -1;
    if (!l) return lazy_end(rt, NULL, res, 0, 0, out);
    int64_t k = 0;
    int r = gptc_jargs_bind(rt, a, slice ? "slice" : "batch", slice ? ps : pb, 2, p);
    if (!r && !given(p[0]))
        r = gptc_jfail(rt, JE_TYPE, "%s() missing 1 required positional argument",
                       slice ? "slice" : "batch");
    if (!r) r = want_int(rt, p[0], slice ? "slice" : "batch", &k);
    if (!r && slice && k == 0) r = gptc_jfail(rt, JE_ZERODIV, "integer division or modulo by zero");
    int fill = !r && given(p[1]) && p[1].kind != JV_NONE;
    size_t n = 0, len = l->n;
    size_t groups = 0;
    if (!r && slice && k > 0)
        groups = (size_t)k;
    else if (!r && !slice)
        groups = k > 0 ? (len + (size_t)k - 1) / (size_t)k : len > 0;
    if (!r && groups > res->n) {
        jlist *grown = gptc_jlist_new(rt, groups, 0);
        if (!grown) {
            r = -1;
        } else {
            grown->gen = 1;
            gptc_jv_decref(jv_listv(res));
            res = grown;
        }
    }
    size_t pos = 0;
    for (size_t g = 0; g < groups && !r; g++) {
        size_t take, cnt;
        if (slice) { /* Jinja: the first len % k slices get one more; the others get fill_with */
            size_t per = len / (size_t)k, extra = len % (size_t)k;
            take = per + (g < extra);
            cnt = take + (fill && g >= extra);
        } else { /* batches of k; the last one filled up to k */
            take = k > 0 ? GPTC_MIN((size_t)k, len - pos) : len;
            cnt = fill && k > 0 && take < (size_t)k ? (size_t)k : take;
        }
        jlist *row = gptc_jlist_new(rt, cnt, 0);
        if (!row) {
            r = -1;
            break;
        }
        for (size_t i = 0; i < take; i++)
            row->v[i] = gptc_jv_incref(l->v[pos + i]);
        for (size_t i = take; i < cnt; i++)
            row->v[i] = gptc_jv_incref(p[1]);
        pos += take;
        if ((r = gptc_jlist_seal(rt, row))) {
            gptc_jv_decref(jv_listv(row));
            break;
        }
        res->v[n++] = jv_listv(row);
    }
    return lazy_end(rt, l, res, n, r, out);
}
static int f_batch(jrt *rt, jv in, const jargs *a, jv *out)
{
    return f_batch_slice(rt, in, a, out, 0);
}
static int f_slice(jrt *rt, jv in, const jargs *a, jv *out)
{
    return f_batch_slice(rt, in, a, out, 1);
}

static int f_wordcount(jrt *rt, jv in, const jargs *a, jv *out)
{
    jv p[1], s;
    if (gptc_jargs_bind(rt, a, "wordcount", NULL, 0, p) || gptc_jv_to_str(rt, in, &s)) return -1;
    int64_t n = 0;
    int inword = 0;
    for (size_t i = 0; i < s.u.s->n;) {
        size_t l;
        uint32_t c = ju8_dec(s.u.s->p + i, &l);
        int w = gptc_ju_isalnum(c) || c == '_'; /* regex \w */
        if (w && !inword) n++;
        inword = w;
        i += l;
    }
    gptc_jv_decref(s);
    *out = jv_int(n);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Table
 */
typedef int (*filter_fn)(jrt *rt, jv in, const jargs *a, jv *out);

static const struct {
    const char *name;
    filter_fn fn; /* NULL: a Jinja filter this engine does not implement */
} k_filters[] = {
    {"abs", f_abs},           {"attr", f_attr},
    {"batch", f_batch},       {"capitalize", f_capitalize},
    {"center", NULL},         {"count", f_length},
    {"d", f_default},         {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape},
    {"escape", f_escape},     {"filesizeformat", NULL},
    {"first", f_first},       {"float", f_float},
    {"forceescape", NULL},    {"format", NULL},
    {"groupby", NULL},        {"indent", f_indent},
    {"int", f_int},           {"items", f_items},
    {"join", f_join},         {"last", f_last},
    {"length", f_length},     {"list", f_list},
    {"lower", f_lower},       {"map", f_map},
    {"max", f_max},           {"min", f_min},
    {"pprint", NULL},         {"random", NULL},
    {"reject", f_reject},     {"rejectattr", f_rejectattr},
    {"replace", f_replace},   {"reverse", f_reverse},
    {"round", f_round},       {"safe", f_string},
    {"select", f_select},     {"selectattr", f_selectattr},
    {"slice", f_slice},       {"sort", f_sort},
    {"string", f_string},     {"striptags", NULL},
    {"sum", f_sum},           {"title", f_title},
    {"tojson", f_tojson},     {"trim", f_trim},
    {"truncate", NULL},       {"unique", f_unique},
    {"upper", f_upper},       {"urlencode", NULL},
    {"urlize", NULL},         {"wordcount", f_wordcount},
    {"wordwrap", NULL},       {"xmlattr", NULL},
};
#define N_FILTERS (int)(sizeof k_filters / sizeof k_filters[0])

int gptc_jinja_filter_id(const char *name, size_t n)
{
    for (int i = 0; i < N_FILTERS; i++)
        if (strlen(k_filters[i].name) == n && memcmp(k_filters[i].name, name, n) == 0) return i;
    return -1;
}

const char *gptc_jinja_filter_name(int id)
{
    return id >= 0 && id < N_FILTERS ? k_filters[id].name : "?";
}

int gptc_jinja_filter(jrt *rt, int id, jv in, const jargs *a, jv *out)
{
    *out = jv_none();
    if (id < 0 || id >= N_FILTERS) return gptc_jfail(rt, JE_RUNTIME, "no such filter");
    if (!k_filters[id].fn)
        return gptc_jfail(rt, JE_UNSUPPORTED, "the '%s' filter", k_filters[id].name);
    return k_filters[id].fn(rt, in, a, out);
}

int gptc_jinja_filter_by_name(jrt *rt, const char *name, jv in, const jargs *a, jv *out)
{
    int id = gptc_jinja_filter_id(name, strlen(name));
    if (id < 0) return gptc_jfail(rt, JE_RUNTIME, "No filter named '%s'.", name);
    return gptc_jinja_filter(rt, id, in, a, out);
}
