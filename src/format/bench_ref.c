/*
 * bench_ref.c — reference benchmark results for `gptc bench --compare` (bench_ref.h).
 */
#include "format/bench_ref.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An integer key in lo..hi: 1 read, 0 absent, -1 present but wrong (err set). */
static int get_int(const json_t *o, const char *key, int lo, int hi, int *out, int entry,
                   gptc_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v) return 0;
    double d = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : NAN;
    if (!(d >= lo && d <= hi) || d != floor(d)) {
        gptc_fail(err, GPTC_E_FORMAT, "entry %d: \"%s\" must be an integer in %d..%d", entry, key,
                  lo, hi);
        return -1;
    }
    *out = (int)d;
    return 1;
}

/* A speed in tok/s (> 0, finite): as get_int. */
static int get_speed(const json_t *o, const char *key, double *out, int entry, gptc_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v))) {
        gptc_fail(err, GPTC_E_FORMAT, "entry %d: \"%s\" must be a number of tokens/s > 0", entry,
                  key);
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

/* A string key copied into dst (cap bytes; longer is an error): as get_int. */
static int get_str(const json_t *o, const char *key, char *dst, size_t cap, int entry,
                   gptc_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        gptc_fail(err, GPTC_E_FORMAT,
                  "entry %d: \"%s\" must be a string of at most %zu bytes without NUL", entry, key,
                  cap - 1);
        return -1;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

static int entry_llama_bench(const json_t *o, gptc_bench_ref *r, int k, gptc_err *err)
{
    char file[1024] = "", commit[64] = "";
    if (get_str(o, "model_filename", file, sizeof file, k, err) < 0 ||
        get_str(o, "build_commit", commit, sizeof commit, k, err) < 0)
        return -1;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (strlen(base) >= sizeof r->model)
        return gptc_fail(err, GPTC_E_FORMAT, "entry %d: \"model_filename\" is too long", k), -1;
    strcpy(r->model, base);
    snprintf(r->source, sizeof r->source, "llama-bench%s%s", commit[0] ? " " : "", commit);
    double ts = 0;
    int n_p = 0, n_g = 0, got_t;
    if ((got_t = get_int(o, "n_threads", 1, 1 << 20, &r->threads, k, err)) < 0 ||
        get_int(o, "n_depth", 0, 1 << 30, &r->depth, k, err) < 0 ||
        get_int(o, "n_prompt", 0, 1 << 30, &n_p, k, err) < 0 ||
        get_int(o, "n_gen", 0, 1 << 30, &n_g, k, err) < 0 ||
        get_speed(o, "avg_ts", &ts, k, err) < 0)
        return -1;
    if (!got_t)
        return gptc_fail(err, GPTC_E_FORMAT, "entry %d: llama-bench row without \"n_threads\"", k),
               -1;
    if (n_p > 0 && n_g > 0)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "entry %d: llama-bench pp+tg test (n_prompt %d and n_gen %d): gptc bench "
                         "measures prefill and decode apart; remove the row",
                         k, n_p, n_g),
               -1;
    if (n_p > 0)
        r->n_prompt = n_p, r->prefill_ts = ts;
    else if (n_g > 0)
        r->n_gen = n_g, r->decode_ts = ts;
    else
        return gptc_fail(err, GPTC_E_FORMAT, "entry %d: llama-bench row with n_prompt and n_gen 0",
                         k),
               -1;
    return 0;
}

static int entry_gptc(json_t *o, gptc_bench_ref *r, int k, gptc_err *err)
{
    static const char *const keys[] = {"model",         "type",         "threads",
                                       "depth",         "n_prompt",     "n_gen",
                                       "prefill_tok_s", "decode_tok_s", "source"};
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        size_t i = 0;
        while (i < sizeof keys / sizeof keys[0] && strcmp(keys[i], key))
            i++;
        if (i == sizeof keys / sizeof keys[0])
            return gptc_fail(err, GPTC_E_FORMAT,
                             "entry %d: unknown key \"%.60s\" (known: model, type, threads, "
                             "depth, n_prompt, n_gen, prefill_tok_s, decode_tok_s, source)",
                             k, key),
                   -1;
    }
    int got_t;
    if (get_str(o, "model", r->model, sizeof r->model, k, err) < 0 ||
        get_str(o, "type", r->type, sizeof r->type, k, err) < 0 ||
        get_str(o, "source", r->source, sizeof r->source, k, err) < 0 ||
        (got_t = get_int(o, "threads", 1, 1 << 20, &r->threads, k, err)) < 0 ||
        get_int(o, "depth", 0, 1 << 30, &r->depth, k, err) < 0 ||
        get_int(o, "n_prompt", 1, 1 << 30, &r->n_prompt, k, err) < 0 ||
        get_int(o, "n_gen", 1, 1 << 30, &r->n_gen, k, err) < 0 ||
        get_speed(o, "prefill_tok_s", &r->prefill_ts, k, err) < 0 ||
        get_speed(o, "decode_tok_s", &r->decode_ts, k, err) < 0)
        return -1;
    if (!got_t) return gptc_fail(err, GPTC_E_FORMAT, "entry %d: no \"threads\"", k), -1;
    if (r->prefill_ts == 0 && r->decode_ts == 0)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "entry %d: neither \"prefill_tok_s\" nor \"decode_tok_s\"", k),
               -1;
    return 0;
}

static int add_entry(json_t *o, gptc_bench_ref **refs, int *n, int *cap, gptc_err *err)
{
    int k = *n + 1;
    if (!json_is_object(o))
        return gptc_fail(err, GPTC_E_FORMAT, "entry %d: not a JSON object", k), -1;
    if (*n == 1 << 20) return gptc_fail(err, GPTC_E_FORMAT, "more than %d entries", 1 << 20), -1;
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        gptc_bench_ref *nr = realloc(*refs, sizeof *nr * (size_t)nc);
        if (!nr) return gptc_fail(err, GPTC_E_NOMEM, "out of memory"), -1;
        *refs = nr, *cap = nc;
    }
    gptc_bench_ref *r = &(*refs)[*n];
    memset(r, 0, sizeof *r);
    int rc =
        json_object_get(o, "avg_ts") ? entry_llama_bench(o, r, k, err) : entry_gptc(o, r, k, err);
    if (rc == 0) ++*n;
    return rc;
}

gptc_status gptc_bench_ref_parse(const char *text, size_t n, gptc_bench_ref **refs, int *n_refs,
                                 gptc_err *err)
{
    *refs = NULL;
    *n_refs = 0;
    gptc_bench_ref *r = NULL;
    int cnt = 0, cap = 0, bad = 0;
    size_t off = 0;
    while (off < n && strchr(" \t\r\n", text[off]) && text[off])
        off++;
    if (off == n) return gptc_fail(err, GPTC_E_FORMAT, "no entries (an empty file)");
    if (memchr(text, 0, n)) return gptc_fail(err, GPTC_E_FORMAT, "a NUL byte: not a JSON text");
    int lines = 0;
    while (off < n && !bad) {
        json_error_t je;
        json_t *v =
            json_loadb(text + off, n - off, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
        if (!v) {
            gptc_fail(err, GPTC_E_FORMAT, "not JSON at line %d, column %d: %s", je.line + lines,
                      je.column, je.text);
            bad = 1;
            break;
        }
        if (json_is_array(v)) {
            if (cnt || off + (size_t)je.position < n) {
                /* an array is the whole file; JSON Lines are objects only */
                size_t rest = off + (size_t)je.position;
                while (rest < n && strchr(" \t\r\n", text[rest]))
                    rest++;
                if (cnt || rest < n) {
                    gptc_fail(err, GPTC_E_FORMAT,
                              "an array of entries must be the whole file (or give one object "
                              "per line)");
                    bad = 1;
                }
            }
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if (bad) break;
                if (add_entry(e, &r, &cnt, &cap, err)) bad = 1;
            }
        } else if (add_entry(v, &r, &cnt, &cap, err))
            bad = 1;
        for (size_t i = 0; i < (size_t)je.position && off + i < n; i++)
            lines += text[off + i] == '\n';
        off += (size_t)je.position;
        json_decref(v);
        while (off < n && strchr(" \t\r\n", text[off]))
            off++;
    }
    if (!bad && cnt == 0) {
        gptc_fail(err, GPTC_E_FORMAT, "no entries (an empty array)");
        bad = 1;
    }
    if (bad) {
        free(r);
        return err->status ? err->status : GPTC_E_FORMAT;
    }
    *refs = r;
    *n_refs = cnt;
    return GPTC_OK;
}

/* needle occurs in hay, ASCII case-insensitive, '-', '_' and '.' alike */
static int fuzzy_in(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        for (; i < nl && h[i]; i++) {
            unsigned char a = (unsigned char)h[i], b = (unsigned char)needle[i];
            if (a >= 'A' && a <= 'Z') a = (unsigned char)(a + 32);
            if (b >= 'A' && b <= 'Z') b = (unsigned char)(b + 32);
            if (a == '-' || a == '.') a = '_';
            if (b == '-' || b == '.') b = '_';
            if (a != b) break;
        }
        if (i == nl) return 1;
    }
    return nl == 0;
}

int gptc_bench_ref_matches(const gptc_bench_ref *ref, const char *path, int n_threads, int depth)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return ref->threads == n_threads && ref->depth == depth &&
           (!ref->model[0] || fuzzy_in(base, ref->model)) &&
           (!ref->type[0] || fuzzy_in(base, ref->type));
}
