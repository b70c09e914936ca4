/*
 * json.c — typed, range-checked access to request fields (a wrong type or value is a 400 that
 * names the field), UTF-8 repair for text that goes into JSON, and a byte buffer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"

static const char *kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* The field, or NULL when absent or null. */
static const json_t *field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? v : NULL;
}

int gptc_srv_jnum(const json_t *o, const char *key, double lo, double hi, double *out, srv_error *e)
{
    const json_t *v = field(o, key);
    if (!v) return 0;
    if (!json_is_number(v))
        return gptc_srv_fail(e, 400, "invalid_type", key, "'%s' must be a number, not %s", key,
                             kind_name(v));
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return gptc_srv_fail(e, 400, "invalid_value", key, "'%s' must be between %g and %g, got %g",
                             key, lo, hi, x);
    *out = x;
    return 1;
}

int gptc_srv_jint(const json_t *o, const char *key, long long lo, long long hi, long long *out,
                  srv_error *e)
{
    const json_t *v = field(o, key);
    if (!v) return 0;
    long long x;
    if (json_is_integer(v)) {
        x = (long long)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9e15) {
        x = (long long)json_real_value(v); /* 2.0 is an integer to Python clients too */
    } else {
        return gptc_srv_fail(e, 400, "invalid_type", key, "'%s' must be an integer, not %s", key,
                             json_is_real(v) ? "a fraction" : kind_name(v));
    }
    if (x < lo || x > hi)
        return gptc_srv_fail(e, 400, "invalid_value", key,
                             "'%s' must be between %lld and %lld, got %lld", key, lo, hi, x);
    *out = x;
    return 1;
}

int gptc_srv_jbool(const json_t *o, const char *key, int *out, srv_error *e)
{
    const json_t *v = field(o, key);
    if (!v) return 0;
    if (!json_is_boolean(v))
        return gptc_srv_fail(e, 400, "invalid_type", key, "'%s' must be a boolean, not %s", key,
                             kind_name(v));
    *out = json_is_true(v);
    return 1;
}

int gptc_srv_jstr(const json_t *o, const char *key, const char **out, size_t *len, srv_error *e)
{
    const json_t *v = field(o, key);
    if (!v) return 0;
    if (!json_is_string(v))
        return gptc_srv_fail(e, 400, "invalid_type", key, "'%s' must be a string, not %s", key,
                             kind_name(v));
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 1;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF). */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c == 0xE0) {
        len = 3;
        lo = 0xA0;
    } else if (c == 0xED) {
        len = 3;
        hi = 0x9F;
    } else if (c >= 0xE1 && c <= 0xEF)
        len = 3;
    else if (c == 0xF0) {
        len = 4;
        lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3)
        len = 4;
    else if (c == 0xF4) {
        len = 4;
        hi = 0x8F;
    } else
        return 0;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

size_t gptc_srv_utf8_valid_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int k = utf8_seq((const unsigned char *)s + i, n - i);
        if (!k) break;
        i += (size_t)k;
    }
    return i;
}

json_t *gptc_srv_jstring_lossy(const char *s, size_t n)
{
    if (gptc_srv_utf8_valid_len(s, n) == n) {
        json_t *j = json_stringn(s, n);
        if (j) return j; /* NUL bytes are refused by jansson: fall through and drop them */
    }
    srv_buf b = {0};
    size_t i = 0;
    while (i < n) {
        int k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k && s[i] != 0) {
            gptc_srv_buf_add(&b, s + i, (size_t)k);
            i += (size_t)k;
        } else {
            if (s[i] != 0) gptc_srv_buf_add(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    json_t *j = json_stringn(b.p ? b.p : "", b.n);
    gptc_srv_buf_free(&b);
    return j ? j : json_string("");
}

int gptc_srv_buf_add(srv_buf *b, const void *s, size_t n)
{
    if (n > SIZE_MAX - b->n - 1) return -1;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

void gptc_srv_buf_free(srv_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
