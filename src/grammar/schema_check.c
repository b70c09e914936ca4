/*
 * schema_check.c — does a JSON value satisfy a JSON schema? For the keywords the schema
 * compiler supports (docs/agents.md); used where a reply was not generated under the schema's
 * grammar (tool_choice "auto") to tell a real tool call from text that only looks like one.
 * Keywords outside that set do not constrain here (the compiler is where they are refused).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "grammar/schema.h"

#include <math.h>
#include <pcre2.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_STEPS                                                                                  \
    200000 /* schema nodes visited; past it (a $ref cycle, anyOf of them) the                      \
            * value is taken as valid: undecided, so not refused */

typedef struct cx {
    const json_t *root;
    long steps;
    int gave_up;
} cx;

static const json_t *resolve(const json_t *root, const char *ref)
{
    if (!strcmp(ref, "#")) return root;
    const char *name = NULL;
    const json_t *defs = NULL;
    if (!strncmp(ref, "#/$defs/", 8)) {
        defs = json_object_get(root, "$defs");
        name = ref + 8;
    } else if (!strncmp(ref, "#/definitions/", 14)) {
        defs = json_object_get(root, "definitions");
        name = ref + 14;
    }
    return defs && name ? json_object_get(defs, name) : NULL;
}

static int type_is(const char *t, const json_t *v)
{
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    return 0;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static int pattern_ok(const char *pat, const char *s, size_t n)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
    if (!re) return 1; /* the compiler refuses what it cannot read */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = md ? pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL) : 0;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int format_ok(const char *f, const char *s, size_t n)
{
    if (!strcmp(f, "date"))
        return n == 10 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) && s[7] == '-' &&
               digits(s + 8, 2);
    if (!strcmp(f, "time"))
        return n >= 9 && digits(s, 2) && s[2] == ':' && digits(s + 3, 2) && s[5] == ':' &&
               digits(s + 6, 2);
    if (!strcmp(f, "date-time")) {
        const char *t = memchr(s, 'T', n);
        return t && format_ok("date", s, (size_t)(t - s)) &&
               format_ok("time", t + 1, n - (size_t)(t - s) - 1);
    }
    if (!strcmp(f, "uuid")) {
        if (n != 36) return 0;
        for (size_t i = 0; i < n; i++) {
            int dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i])) return 0;
        }
    }
    return 1;
}

static int check(cx *c, const json_t *sc, const json_t *v, int depth)
{
    if (c->gave_up || ++c->steps > MAX_STEPS || depth > MAX_DEPTH) {
        c->gave_up = 1;
        return 1;
    }
    if (json_is_true(sc) || !sc) return 1;
    if (json_is_false(sc)) return 0;
    if (!json_is_object(sc)) return 1;
    const json_t *x;
    if ((x = json_object_get(sc, "$ref")) && json_is_string(x)) {
        const json_t *t = resolve(c->root, json_string_value(x));
        if (!t || !check(c, t, v, depth + 1)) return 0;
    }
    if (json_is_null(v) && json_is_true(json_object_get(sc, "nullable"))) return 1;
    if ((x = json_object_get(sc, "type"))) {
        int ok = 0;
        if (json_is_string(x)) ok = type_is(json_string_value(x), v);
        for (size_t i = 0; json_is_array(x) && i < json_array_size(x) && !ok; i++)
            ok = json_is_string(json_array_get(x, i)) &&
                 type_is(json_string_value(json_array_get(x, i)), v);
        if (!ok) return 0;
    }
    if ((x = json_object_get(sc, "const")) && !json_equal(GPTC_UNCONST(json_t *, x), v)) return 0;
    if ((x = json_object_get(sc, "enum")) && json_is_array(x)) {
        int ok = 0;
        for (size_t i = 0; i < json_array_size(x) && !ok; i++)
            ok = json_equal(json_array_get(x, i), GPTC_UNCONST(json_t *, v));
        if (!ok) return 0;
    }
    static const char *const k_any[] = {"anyOf", "oneOf"};
    for (int k = 0; k < 2; k++)
        if ((x = json_object_get(sc, k_any[k])) && json_is_array(x)) {
            int ok = 0;
            for (size_t i = 0; i < json_array_size(x) && !ok; i++)
                ok = check(c, json_array_get(x, i), v, depth + 1);
            if (!ok) return 0;
        }
    if ((x = json_object_get(sc, "allOf")) && json_is_array(x))
        for (size_t i = 0; i < json_array_size(x); i++)
            if (!check(c, json_array_get(x, i), v, depth + 1)) return 0;
    if (json_is_object(v)) {
        const json_t *props = json_object_get(sc, "properties");
        const json_t *req = json_object_get(sc, "required");
        for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++) {
            const char *k = json_string_value(json_array_get(req, i));
            if (k && !json_object_get(v, k)) return 0;
        }
        const json_t *add = json_object_get(sc, "additionalProperties");
        const char *k;
        json_t *pv;
        json_object_foreach(GPTC_UNCONST(json_t *, v), k, pv)
        {
            const json_t *ps = json_object_get(props, k);
            if (ps) {
                if (!check(c, ps, pv, depth + 1)) return 0;
            } else if (add && !check(c, add, pv, depth + 1)) {
                return 0;
            }
        }
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if ((x = json_object_get(sc, "minItems")) && json_is_integer(x) &&
            (json_int_t)n < json_integer_value(x))
            return 0;
        if ((x = json_object_get(sc, "maxItems")) && json_is_integer(x) &&
            (json_int_t)n > json_integer_value(x))
            return 0;
        if ((x = json_object_get(sc, "items")))
            for (size_t i = 0; i < n; i++)
                if (!check(c, x, json_array_get(v, i), depth + 1)) return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), chars = utf8_chars(s, n);
        if ((x = json_object_get(sc, "minLength")) && json_is_integer(x) &&
            (json_int_t)chars < json_integer_value(x))
            return 0;
        if ((x = json_object_get(sc, "maxLength")) && json_is_integer(x) &&
            (json_int_t)chars > json_integer_value(x))
            return 0;
        if ((x = json_object_get(sc, "pattern")) && json_is_string(x) &&
            !pattern_ok(json_string_value(x), s, n))
            return 0;
        if ((x = json_object_get(sc, "format")) && json_is_string(x) &&
            !format_ok(json_string_value(x), s, n))
            return 0;
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if ((x = json_object_get(sc, "minimum")) && json_is_number(x) && d < json_number_value(x))
            return 0;
        if ((x = json_object_get(sc, "maximum")) && json_is_number(x) && d > json_number_value(x))
            return 0;
        if ((x = json_object_get(sc, "exclusiveMinimum")) && json_is_number(x) &&
            d <= json_number_value(x))
            return 0;
        if ((x = json_object_get(sc, "exclusiveMaximum")) && json_is_number(x) &&
            d >= json_number_value(x))
            return 0;
    }
    return 1;
}

int gptc_schema_check(const json_t *schema, const json_t *value)
{
    cx c = {.root = schema};
    int ok = check(&c, schema, value, 0);
    return c.gave_up ? 1 : ok;
}
