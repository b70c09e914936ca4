/*
 * toolcall.c — tool-call formats per template family and the streaming reply parser
 * (toolcall.h).
 *
 * The parser keeps the text it has not reported yet and moves between states:
 *   TEXT   content; scanning for the family's opener (a tail that may begin one is held)
 *   CALL   after an opener, collecting the body up to the closer (or to the end of the reply
 *          for families without one); the whole body is then parsed into calls
 *   THINK  reasoning, up to </think>
 *   LSTART llama3: the reply's first non-space byte decides (a '{' starts a call)
 * Decisions depend only on the text, never on where chunks end, so any chunking gives the same
 * pieces. gpt-oss replies go through the harmony parser (harmony.h).
 */
#include "chat/toolcall.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chat/harmony.h"

enum { ST_TEXT = 0, ST_CALL, ST_THINK, ST_LSTART, ST_TSTART };

#define MAX_HOLD (64u << 20) /* a body larger than this is content */

struct gptc_toolcall_parser {
    gptc_toolcall_opts o;
    char **names;
    int state, first_state;
    char *buf;
    size_t n, cap;
    const char *opener; /* the opener of the call being collected ("" for implicit ones) */
    int n_calls;
    /* harmony */
    gptc_harmony h;
    int h_call;        /* index of the call being collected, -1: none */
    char h_name[128];  /* its recipient */
    char *h_body;      /* its body */
    size_t h_n, h_cap; /* */
    gptc_toolcall_fn fn;
    void *ud;
};

/* ----- formats ---------------------------------------------------------------------------------*/

/* clang-format off */
static const char *const k_names[GPTC_TC_COUNT] = {
    "none", "hermes", "qwen3-xml", "glm", "llama3", "mistral", "mistral-args", "deepseek",
    "dsml", "harmony", "gemma4", "command-r", "functionary"};
/* clang-format on */

const char *gptc_toolcall_format_name(int f)
{
    return f >= 0 && f < GPTC_TC_COUNT ? k_names[f] : "?";
}

int gptc_toolcall_format_from_name(const char *name)
{
    for (int i = 0; i < GPTC_TC_COUNT; i++)
        if (name && !strcmp(name, k_names[i])) return i;
    return -1;
}

static const char *find(const char *b, size_t n, const char *s)
{
    size_t m = strlen(s);
    if (!m) return b;
    for (size_t i = 0; i + m <= n; i++)
        if (b[i] == s[0] && memcmp(b + i, s, m) == 0) return b + i;
    return NULL;
}

/* find() outside JSON strings: for formats whose next call opens with the same marker that
 * closes this one (functionary's ">>>", mistral's "[TOOL_CALLS]"), where the marker inside an
 * argument string must not end the call. */
static const char *find_unquoted(const char *b, size_t n, const char *s)
{
    size_t m = strlen(s);
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            if (b[i] == '\\')
                i++;
            else if (b[i] == '"')
                in_str = 0;
        } else if (b[i] == '"') {
            in_str = 1;
        } else if (i + m <= n && b[i] == s[0] && memcmp(b + i, s, m) == 0) {
            return b + i;
        }
    }
    return NULL;
}

static int has(const char *src, size_t n, const char *s)
{
    return find(src, n, s) != NULL;
}

int gptc_toolcall_detect(const char *src, size_t n)
{
    if (!src) return GPTC_TC_NONE;
    if (has(src, n, "<|channel|>") && has(src, n, "<|call|>")) return GPTC_TC_HARMONY;
    if (has(src, n, DSML)) return GPTC_TC_DSML;
    if (has(src, n, DS_CALLS_BEGIN)) return GPTC_TC_DEEPSEEK;
    if (has(src, n, "[TOOL_CALLS]"))
        return has(src, n, "[ARGS]") ? GPTC_TC_MISTRAL_ARGS : GPTC_TC_MISTRAL;
    if (has(src, n, "<|START_ACTION|>")) return GPTC_TC_COMMAND_R;
    if (has(src, n, "<|tool_call>")) return GPTC_TC_GEMMA4;
    if (has(src, n, ">>>") && has(src, n, "tool_calls")) return GPTC_TC_FUNCTIONARY;
    if (has(src, n, "<tool_call>")) {
        if (has(src, n, "<arg_key>")) return GPTC_TC_GLM;
        if (has(src, n, "<function=")) return GPTC_TC_QWEN3_XML;
        return GPTC_TC_HERMES;
    }
    if (has(src, n, "<|python_tag|>") ||
        (has(src, n, "<|start_header_id|>") && has(src, n, "\"parameters\"") &&
         has(src, n, "tool_calls")))
        return GPTC_TC_LLAMA3;
    return GPTC_TC_NONE;
}

int gptc_toolcall_prompt_opens_think(const char *prompt, size_t n)
{
    while (n && (prompt[n - 1] == '\n' || prompt[n - 1] == ' '))
        n--;
    return n >= 7 && memcmp(prompt + n - 7, "<think>", 7) == 0;
}

/* Openers and closers per format; a closer equal to the opener starts the next call. */
static const char *opener_of(int f)
{
    switch (f) {
    case GPTC_TC_LLAMA3:
        return "<|python_tag|>";
    case GPTC_TC_MISTRAL:
    case GPTC_TC_MISTRAL_ARGS:
        return "[TOOL_CALLS]";
    case GPTC_TC_DEEPSEEK:
        return DS_CALLS_BEGIN;
    case GPTC_TC_DSML:
        return "<" DSML "function_calls>";
    case GPTC_TC_GEMMA4:
        return "<|tool_call>";
    case GPTC_TC_COMMAND_R:
        return "<|START_ACTION|>";
    case GPTC_TC_FUNCTIONARY:
        return ">>>";
    default:
        return "<tool_call>";
    }
}

static const char *closer_of(int f)
{
    switch (f) {
    case GPTC_TC_LLAMA3:
        return NULL;
    case GPTC_TC_MISTRAL:
    case GPTC_TC_MISTRAL_ARGS:
        return "[TOOL_CALLS]";
    case GPTC_TC_DEEPSEEK:
        return DS_CALLS_END;
    case GPTC_TC_DSML:
        return "</" DSML "function_calls>";
    case GPTC_TC_GEMMA4:
        return "<tool_call|>";
    case GPTC_TC_COMMAND_R:
        return "<|END_ACTION|>";
    case GPTC_TC_FUNCTIONARY:
        return ">>>";
    default:
        return "</tool_call>";
    }
}

/* ----- body parsers: text -> [{"name", "arguments"}], or NULL --------------------------------- */

static void trim(const char **p, size_t *n)
{
    while (*n && strchr(" \t\r\n", (*p)[0]))
        (*p)++, (*n)--;
    while (*n && strchr(" \t\r\n", (*p)[*n - 1]))
        (*n)--;
}

/* One JSON value filling the text (spaces around it allowed). */
static json_t *load_all(const char *p, size_t n)
{
    trim(&p, &n);
    if (!n) return NULL;
    return json_loadb(p, n, JSON_DECODE_ANY, NULL);
}

/* A parameter's text: the JSON value when it is one (a quoted string: its text), else the text
 * itself (so a string parameter whose text is a number comes back as a number). */
static json_t *param_value(const char *p, size_t n, int raw)
{
    if (!raw) {
        const char *q = p;
        size_t m = n;
        trim(&q, &m);
        json_t *v = m ? json_loadb(q, m, JSON_DECODE_ANY, NULL) : NULL;
        if (v) return v; /* a quoted "text" is that text */
    }
    return json_stringn(p, n);
}

static int add_call(json_t *calls, const char *name, size_t nn, json_t *args /* stolen */)
{
    if (!nn || !args || !json_is_object(args)) {
        json_decref(args);
        return -1;
    }
    for (size_t i = 0; i < nn; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == '"' || name[i] == '<') {
            json_decref(args);
            return -1;
        }
    json_t *c = json_object();
    json_object_set_new(c, "name", json_stringn(name, nn));
    json_object_set_new(c, "arguments", args);
    json_array_append_new(calls, c);
    return 0;
}

/* {"name", "arguments"|"parameters"}, {"tool_name", "parameters"}, {"function": {...}} */
static int json_call(json_t *calls, json_t *o)
{
    if (!json_is_object(o)) return -1;
    json_t *fn = json_object_get(o, "function");
    if (json_is_object(fn) && !json_object_get(o, "name")) o = fn;
    json_t *name = json_object_get(o, "name");
    if (!name) name = json_object_get(o, "tool_name");
    json_t *args = json_object_get(o, "arguments");
    if (!args) args = json_object_get(o, "parameters");
    if (!json_is_string(name)) return -1;
    json_t *a;
    if (!args || json_is_null(args))
        a = json_object();
    else if (json_is_string(args))
        a = load_all(json_string_value(args), json_string_length(args));
    else
        a = json_incref(args);
    return add_call(calls, json_string_value(name), json_string_length(name), a);
}

static int json_calls(json_t *calls, const char *p, size_t n)
{
    json_t *v = load_all(p, n);
    if (!v) return -1;
    int rc = 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *it;
        if (!json_array_size(v)) rc = -1;
        json_array_foreach(v, i, it)
        {
            if (json_call(calls, it)) rc = -1;
        }
    } else {
        rc = json_call(calls, v);
    }
    json_decref(v);
    return rc;
}

/* <function=N>\n<parameter=K>\nV\n</parameter>\n</function> */
static int xml_calls(json_t *calls, const char *p, size_t n)
{
    trim(&p, &n);
    const char *e = p + n;
    if (n < 10 || memcmp(p, "<function=", 10)) return -1;
    const char *q = p + 10, *gt = memchr(q, '>', (size_t)(e - q));
    if (!gt) return -1;
    const char *name = q;
    size_t nn = (size_t)(gt - q);
    json_t *args = json_object();
    q = gt + 1;
    for (;;) {
        while (q < e && strchr(" \t\r\n", *q))
            q++;
        if ((size_t)(e - q) >= 11 && !memcmp(q, "</function>", 11)) {
            q += 11;
            break;
        }
        if ((size_t)(e - q) < 11 || memcmp(q, "<parameter=", 11)) goto bad;
        q += 11;
        gt = memchr(q, '>', (size_t)(e - q));
        if (!gt || gt == q) goto bad;
        char key[256];
        if ((size_t)(gt - q) >= sizeof key) goto bad;
        memcpy(key, q, (size_t)(gt - q));
        key[gt - q] = 0;
        q = gt + 1;
        const char *end = find(q, (size_t)(e - q), "</parameter>");
        if (!end) goto bad;
        const char *v = q;
        size_t vn = (size_t)(end - q);
        if (vn && v[0] == '\n') v++, vn--;
        if (vn && v[vn - 1] == '\n') vn--;
        json_t *val = param_value(v, vn, 0);
        if (!val) goto bad;
        json_object_set_new(args, key, val);
        q = end + 12;
    }
    while (q < e && strchr(" \t\r\n", *q))
        q++;
    if (q != e) goto bad;
    return add_call(calls, name, nn, args);
bad:
    json_decref(args);
    return -1;
}

/* N\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>... */
static int glm_calls(json_t *calls, const char *p, size_t n)
{
    trim(&p, &n);
    const char *e = p + n, *k = find(p, n, "<arg_key>");
    const char *name = p, *ne = k ? k : e;
    while (ne > name && strchr(" \t\r\n", ne[-1]))
        ne--;
    json_t *args = json_object();
    const char *q = k ? k : e;
    while (q < e) {
        while (q < e && strchr(" \t\r\n", *q))
            q++;
        if (q == e) break;
        if ((size_t)(e - q) < 9 || memcmp(q, "<arg_key>", 9)) goto bad;
        q += 9;
        const char *ke = find(q, (size_t)(e - q), "</arg_key>");
        if (!ke || (size_t)(ke - q) >= 256) goto bad;
        char key[256];
        memcpy(key, q, (size_t)(ke - q));
        key[ke - q] = 0;
        q = ke + 10;
        while (q < e && strchr(" \t\r\n", *q))
            q++;
        if ((size_t)(e - q) < 11 || memcmp(q, "<arg_value>", 11)) goto bad;
        q += 11;
        const char *ve = find(q, (size_t)(e - q), "</arg_value>");
        if (!ve) goto bad;
        json_t *val = param_value(q, (size_t)(ve - q), 0);
        if (!val) goto bad;
        json_object_set_new(args, key, val);
        q = ve + 12;
    }
    return add_call(calls, name, (size_t)(ne - name), args);
bad:
    json_decref(args);
    return -1;
}

static int deepseek_calls(json_t *calls, const char *p, size_t n)
{
    const char *e = p + n, *q = p;
    int got = 0;
    for (;;) {
        while (q < e && strchr(" \t\r\n", *q))
            q++;
        if (q == e) break;
        size_t lb = strlen(DS_CALL_BEGIN);
        if ((size_t)(e - q) < lb || memcmp(q, DS_CALL_BEGIN, lb)) return -1;
        q += lb;
        const char *ce = find(q, (size_t)(e - q), DS_CALL_END);
        if (!ce) ce = e; /* an unclosed last call */
        const char *sep = find(q, (size_t)(ce - q), DS_SEP);
        if (!sep) return -1;
        const char *right = sep + strlen(DS_SEP);
        size_t rn = (size_t)(ce - right);
        if (sep - q == 8 && !memcmp(q, "function", 8)) { /* R1: N\n```json\n{...}\n``` */
            const char *nl = memchr(right, '\n', rn);
            if (!nl) return -1;
            const char *a = nl + 1;
            size_t an = (size_t)(ce - a);
            trim(&a, &an);
            if (an >= 7 && !memcmp(a, "```json", 7)) a += 7, an -= 7;
            if (an >= 3 && !memcmp(a + an - 3, "```", 3)) an -= 3;
            if (add_call(calls, right, (size_t)(nl - right), load_all(a, an))) return -1;
        } else { /* V3.1: N<｜tool▁sep｜>{...} */
            const char *nm = q;
            size_t nn = (size_t)(sep - q);
            trim(&nm, &nn);
            if (add_call(calls, nm, nn, load_all(right, rn))) return -1;
        }
        got++;
        q = ce == e ? e : ce + strlen(DS_CALL_END);
    }
    return got ? 0 : -1;
}

static int dsml_calls(json_t *calls, const char *p, size_t n)
{
    const char *e = p + n, *q = p;
    static const char inv[] = "<" DSML "invoke name=\"", inv_end[] = "</" DSML "invoke>",
                      par[] = "<" DSML "parameter name=\"", par_end[] = "</" DSML "parameter>";
    int got = 0;
    for (;;) {
        while (q < e && strchr(" \t\r\n", *q))
            q++;
        if (q == e) break;
        if ((size_t)(e - q) < sizeof inv - 1 || memcmp(q, inv, sizeof inv - 1)) return -1;
        q += sizeof inv - 1;
        const char *qe = memchr(q, '"', (size_t)(e - q));
        if (!qe || qe + 1 >= e || qe[1] != '>') return -1;
        const char *name = q;
        size_t nn = (size_t)(qe - q);
        q = qe + 2;
        const char *ie = find(q, (size_t)(e - q), inv_end);
        if (!ie) return -1;
        json_t *args = json_object();
        while (q < ie) {
            while (q < ie && strchr(" \t\r\n", *q))
                q++;
            if (q == ie) break;
            if ((size_t)(ie - q) < sizeof par - 1 || memcmp(q, par, sizeof par - 1)) {
                json_decref(args);
                return -1;
            }
            q += sizeof par - 1;
            const char *ke = memchr(q, '"', (size_t)(ie - q));
            const char *gt = ke ? memchr(ke, '>', (size_t)(ie - ke)) : NULL;
            const char *ve = gt ? find(gt, (size_t)(ie - gt), par_end) : NULL;
            if (!ve || ke - q >= 256) {
                json_decref(args);
                return -1;
            }
            char key[256];
            memcpy(key, q, (size_t)(ke - q));
            key[ke - q] = 0;
            int raw = has(ke, (size_t)(gt - ke), "string=\"true\"");
            json_t *val = param_value(gt + 1, (size_t)(ve - gt - 1), raw);
            if (!val) {
                json_decref(args);
                return -1;
            }
            json_object_set_new(args, key, val);
            q = ve + sizeof par_end - 1;
        }
        if (add_call(calls, name, nn, args)) return -1;
        got++;
        q = ie + sizeof inv_end - 1;
    }
    return got ? 0 : -1;
}

/* Gemma 4 values: <|"|>text<|"|>, numbers, true/false/null, {k:v,...}, [v,...]. */
#define GQ "<|\"|>"
static json_t *gemma_value(const char **pp, const char *e, int depth);
static json_t *gemma_object(const char **pp, const char *e, int depth)
{
    const char *q = *pp + 1;
    json_t *o = json_object();
    while (q < e && *q != '}') {
        const char *k = q;
        while (q < e && *q != ':')
            q++;
        if (q == e || q - k >= 256 || q == k) break;
        char key[256];
        memcpy(key, k, (size_t)(q - k));
        key[q - k] = 0;
        q++;
        json_t *v = gemma_value(&q, e, depth + 1);
        if (!v) break;
        json_object_set_new(o, key, v);
        if (q < e && *q == ',') q++;
    }
    if (q >= e || *q != '}') {
        json_decref(o);
        return NULL;
    }
    *pp = q + 1;
    return o;
}
static json_t *gemma_value(const char **pp, const char *e, int depth)
{
    const char *q = *pp;
    if (depth > 64 || q >= e) return NULL;
    if (*q == '{') return gemma_object(pp, e, depth);
    if (*q == '[') {
        json_t *a = json_array();
        q++;
        while (q < e && *q != ']') {
            json_t *v = gemma_value(&q, e, depth + 1);
            if (!v) break;
            json_array_append_new(a, v);
            if (q < e && *q == ',') q++;
        }
        if (q >= e || *q != ']') {
            json_decref(a);
            return NULL;
        }
        *pp = q + 1;
        return a;
    }
    if ((size_t)(e - q) >= 5 && !memcmp(q, GQ, 5)) {
        const char *s = q + 5, *se = find(s, (size_t)(e - s), GQ);
        if (!se) return NULL;
        *pp = se + 5;
        return json_stringn(s, (size_t)(se - s));
    }
    const char *s = q;
    while (q < e && *q != ',' && *q != '}' && *q != ']')
        q++;
    json_t *v = s < q ? json_loadb(s, (size_t)(q - s), JSON_DECODE_ANY, NULL) : NULL;
    if (!v) return NULL;
    *pp = q;
    return v;
}

static int gemma_calls(json_t *calls, const char *p, size_t n)
{
    trim(&p, &n);
    const char *e = p + n;
    if (n < 5 || memcmp(p, "call:", 5)) return -1;
    const char *q = p + 5, *br = memchr(q, '{', (size_t)(e - q));
    if (!br) return -1;
    const char *name = q;
    size_t nn = (size_t)(br - q);
    q = br;
    json_t *args = gemma_object(&q, e, 0);
    if (!args || q != e) {
        json_decref(args);
        return -1;
    }
    return add_call(calls, name, nn, args);
}

/* [TOOL_CALLS] body: a JSON list, or N[CALL_ID]ID[ARGS]{...} */
static int mistral_calls(json_t *calls, const char *p, size_t n)
{
    trim(&p, &n);
    if (n && (p[0] == '[' || p[0] == '{')) return json_calls(calls, p, n);
    const char *a = find(p, n, "[ARGS]");
    if (!a) return -1;
    const char *ne = find(p, (size_t)(a - p), "[CALL_ID]");
    if (!ne) ne = a;
    const char *ap = a + 6;
    return add_call(calls, p, (size_t)(ne - p), load_all(ap, (size_t)(p + n - ap)));
}

/* ----- the parser ------------------------------------------------------------------------------*/

static int grow(gptc_toolcall_parser *p, size_t need)
{
    if (need <= p->cap) return 0;
    size_t c = p->cap ? p->cap : 256;
    while (c < need)
        c *= 2;
    char *b = realloc(p->buf, c);
    if (!b) return -1;
    p->buf = b;
    p->cap = c;
    return 0;
}

static void consume(gptc_toolcall_parser *p, size_t k)
{
    memmove(p->buf, p->buf + k, p->n - k);
    p->n -= k;
}

static void emit(gptc_toolcall_parser *p, int ev, const char *t, size_t n)
{
    if (n || ev == GPTC_TC_EV_ARGS) p->fn(p->ud, ev, -1, t, n);
}

static int name_known(const gptc_toolcall_parser *p, const char *name)
{
    if (!p->names) return 1;
    for (int i = 0; i < p->o.n_names; i++)
        if (!strcmp(p->names[i], name)) return 1;
    return 0;
}

/* Report calls (all names known, all arguments printable) or -1 (nothing reported). */
static int emit_calls(gptc_toolcall_parser *p, json_t *calls)
{
    size_t i, nc = json_array_size(calls);
    json_t *c;
    char **args = calloc(nc ? nc : 1, sizeof *args);
    int rc = args ? 0 : -1;
    json_array_foreach(calls, i, c)
    {
        if (rc) break;
        const char *nm = json_string_value(json_object_get(c, "name"));
        if (!nm || !name_known(p, nm) ||
            !(args[i] = json_dumps(json_object_get(c, "arguments"), JSON_COMPACT)))
            rc = -1;
    }
    if (!rc) json_array_foreach(calls, i, c)
        {
            json_t *nm = json_object_get(c, "name");
            int k = p->n_calls++;
            p->fn(p->ud, GPTC_TC_EV_NAME, k, json_string_value(nm), json_string_length(nm));
            p->fn(p->ud, GPTC_TC_EV_ARGS, k, args[i], strlen(args[i]));
        }
    for (i = 0; args && i < nc; i++)
        free(args[i]);
    free(args);
    return rc;
}

/* A whole call body: calls, or (when it does not parse) the text as content. */
static void body_done(gptc_toolcall_parser *p, const char *body, size_t n, const char *closer)
{
    json_t *calls = json_array();
    int rc = -1, f = p->o.format;
    if (f == GPTC_TC_FUNCTIONARY) {
        const char *nl = memchr(body, '\n', n);
        if (nl && nl - body == 3 && !memcmp(body, "all", 3)) {
            emit(p, GPTC_TC_EV_CONTENT, nl + 1, (size_t)(body + n - nl - 1));
            json_decref(calls);
            return;
        }
        if (nl)
            rc = add_call(calls, body, (size_t)(nl - body),
                          load_all(nl + 1, (size_t)(body + n - nl - 1)));
    } else if (f == GPTC_TC_MISTRAL || f == GPTC_TC_MISTRAL_ARGS) {
        rc = mistral_calls(calls, body, n);
    } else if (f == GPTC_TC_DEEPSEEK) {
        rc = deepseek_calls(calls, body, n);
    } else if (f == GPTC_TC_DSML) {
        rc = dsml_calls(calls, body, n);
    } else if (f == GPTC_TC_GEMMA4) {
        rc = gemma_calls(calls, body, n);
    } else if (f == GPTC_TC_LLAMA3 || f == GPTC_TC_COMMAND_R) {
        rc = json_calls(calls, body, n);
    } else { /* <tool_call> families: the body tells which */
        const char *q = body;
        size_t m = n;
        trim(&q, &m);
        if (m >= 10 && !memcmp(q, "<function=", 10))
            rc = xml_calls(calls, q, m);
        else if (has(q, m, "<arg_key>") || (m && q[0] != '{' && q[0] != '['))
            rc = glm_calls(calls, q, m);
        else
            rc = json_calls(calls, q, m);
    }
    if (rc || emit_calls(p, calls)) {
        emit(p, GPTC_TC_EV_CONTENT, p->opener, strlen(p->opener));
        emit(p, GPTC_TC_EV_CONTENT, body, n);
        if (closer) emit(p, GPTC_TC_EV_CONTENT, closer, strlen(closer));
    }
    json_decref(calls);
}

/* Longest suffix of b[0..n) that is a proper prefix of s. */
static size_t held(const char *b, size_t n, const char *s)
{
    size_t m = strlen(s);
    for (size_t k = m - 1 < n ? m - 1 : n; k > 0; k--)
        if (!memcmp(b + n - k, s, k)) return k;
    return 0;
}

static void run(gptc_toolcall_parser *p, int final)
{
    int f = p->o.format;
    const char *op = opener_of(f), *cl = closer_of(f);
    for (;;) {
        if (p->state == ST_TSTART) { /* a leading <think>? */
            size_t i = 0;
            while (i < p->n && strchr(" \t\r\n", p->buf[i]))
                i++;
            size_t r = p->n - i;
            if (r >= 7 && !memcmp(p->buf + i, "<think>", 7)) {
                consume(p, i + 7);
                p->state = ST_THINK;
                continue;
            }
            if (!final && r < 7 && !memcmp(p->buf + i, "<think>", r)) return;
            p->state = p->first_state;
            continue;
        }
        if (p->state == ST_THINK) {
            const char *e = find(p->buf, p->n, "</think>");
            if (e) {
                emit(p, GPTC_TC_EV_REASONING, p->buf, (size_t)(e - p->buf));
                consume(p, (size_t)(e - p->buf) + 8);
                p->state = p->first_state;
                continue;
            }
            size_t h = final ? 0 : held(p->buf, p->n, "</think>");
            emit(p, GPTC_TC_EV_REASONING, p->buf, p->n - h);
            consume(p, p->n - h);
            return;
        }
        if (p->state == ST_LSTART) {
            size_t i = 0;
            while (i < p->n && strchr(" \t\r\n", p->buf[i]))
                i++;
            if (i == p->n && !final) return;
            if (i < p->n && p->buf[i] == '{') {
                consume(p, i);
                p->opener = "";
                p->state = ST_CALL;
            } else {
                p->state = ST_TEXT;
            }
            continue;
        }
        if (p->state == ST_TEXT) {
            const char *o = find(p->buf, p->n, op);
            if (o) {
                emit(p, GPTC_TC_EV_CONTENT, p->buf, (size_t)(o - p->buf));
                consume(p, (size_t)(o - p->buf) + strlen(op));
                p->opener = op;
                p->state = ST_CALL;
                continue;
            }
            size_t h = final ? 0 : held(p->buf, p->n, op);
            emit(p, GPTC_TC_EV_CONTENT, p->buf, p->n - h);
            consume(p, p->n - h);
            return;
        }
        /* ST_CALL */
        int reopen = cl && !strcmp(cl, op);
        const char *c = !cl      ? NULL
                        : reopen ? find_unquoted(p->buf, p->n, cl)
                                 : find(p->buf, p->n, cl);
        if (c) {
            size_t bn = (size_t)(c - p->buf);
            body_done(p, p->buf, bn, reopen ? NULL : cl);
            consume(p, bn + strlen(cl));
            if (reopen)
                p->opener = op;
            else
                p->state = ST_TEXT;
            continue;
        }
        if (final || p->n > MAX_HOLD) {
            body_done(p, p->buf, p->n, NULL);
            consume(p, p->n);
            p->state = ST_TEXT;
        }
        return;
    }
}

/* harmony: reasoning and content pass through; a call's body is collected, then parsed. */
static void h_flush(gptc_toolcall_parser *p)
{
    if (p->h_call < 0) return;
    const char *nm = p->h_name;
    if (!strncmp(nm, "functions.", 10)) nm += 10;
    json_t *calls = json_array();
    int rc = add_call(calls, nm, strlen(nm), load_all(p->h_body ? p->h_body : "", p->h_n));
    if (rc || emit_calls(p, calls)) emit(p, GPTC_TC_EV_CONTENT, p->h_body, p->h_n);
    json_decref(calls);
    p->h_call = -1;
    p->h_n = 0;
}

static void on_harmony(void *ud, int kind, const char *recipient, int call_index, const char *t,
                       size_t n)
{
    gptc_toolcall_parser *p = ud;
    if (kind == GPTC_HARMONY_REASONING) {
        emit(p, GPTC_TC_EV_REASONING, t, n);
        return;
    }
    if (kind != GPTC_HARMONY_TOOL_CALL) {
        emit(p, GPTC_TC_EV_CONTENT, t, n);
        return;
    }
    if (call_index != p->h_call) {
        h_flush(p);
        p->h_call = call_index;
        snprintf(p->h_name, sizeof p->h_name, "%s", recipient);
    }
    if (p->h_n + n > p->h_cap) {
        size_t c = p->h_cap ? p->h_cap * 2 : 256;
        while (c < p->h_n + n)
            c *= 2;
        char *b = realloc(p->h_body, c);
        if (!b) return;
        p->h_body = b;
        p->h_cap = c;
    }
    memcpy(p->h_body + p->h_n, t, n);
    p->h_n += n;
}

gptc_status gptc_toolcall_new(const gptc_toolcall_opts *o, gptc_toolcall_parser **out,
                              gptc_err *err)
{
    gptc_err_clear(err);
    *out = NULL;
    if (!o || o->format < 0 || o->format >= GPTC_TC_COUNT || o->n_names < 0)
        return gptc_fail(err, GPTC_E_INVALID, "toolcall: bad options");
    gptc_toolcall_parser *p = calloc(1, sizeof *p);
    if (!p) return gptc_fail(err, GPTC_E_NOMEM, "toolcall: out of memory");
    p->o = *o;
    if (o->names) {
        p->names = calloc((size_t)o->n_names + 1, sizeof *p->names);
        for (int i = 0; p->names && i < o->n_names; i++)
            if (!(p->names[i] = strdup(o->names[i]))) {
                p->o.n_names = i;
                gptc_toolcall_free(p);
                return gptc_fail(err, GPTC_E_NOMEM, "toolcall: out of memory");
            }
        if (!p->names) {
            free(p);
            return gptc_fail(err, GPTC_E_NOMEM, "toolcall: out of memory");
        }
    }
    p->o.names = NULL;
    if (grow(p, 256)) {
        gptc_toolcall_free(p);
        return gptc_fail(err, GPTC_E_NOMEM, "toolcall: out of memory");
    }
    p->first_state = o->format == GPTC_TC_LLAMA3 ? ST_LSTART : ST_TEXT;
    p->opener = "";
    if (o->format == GPTC_TC_FUNCTIONARY) p->first_state = ST_CALL;
    p->state = o->think == 2 ? ST_THINK : o->think == 1 ? ST_TSTART : p->first_state;
    p->h_call = -1;
    gptc_harmony_init(&p->h);
    *out = p;
    return GPTC_OK;
}

void gptc_toolcall_free(gptc_toolcall_parser *p)
{
    if (!p) return;
    if (p->names)
        for (int i = 0; i < p->o.n_names; i++)
            free(p->names[i]);
    free(p->names);
    free(p->buf);
    free(p->h_body);
    free(p);
}

void gptc_toolcall_feed(gptc_toolcall_parser *p, const char *text, size_t n, gptc_toolcall_fn fn,
                        void *ud)
{
    p->fn = fn;
    p->ud = ud;
    if (p->o.format == GPTC_TC_HARMONY) {
        gptc_harmony_feed(&p->h, text, n, on_harmony, p);
        return;
    }
    if (grow(p, p->n + n)) { /* out of memory: pass the text on as content */
        emit(p, GPTC_TC_EV_CONTENT, text, n);
        return;
    }
    memcpy(p->buf + p->n, text, n);
    p->n += n;
    run(p, 0);
}

void gptc_toolcall_finish(gptc_toolcall_parser *p, gptc_toolcall_fn fn, void *ud)
{
    p->fn = fn;
    p->ud = ud;
    if (p->o.format == GPTC_TC_HARMONY) {
        gptc_harmony_finish(&p->h, on_harmony, p);
        h_flush(p);
        return;
    }
    run(p, 1);
}

int gptc_toolcall_n_calls(const gptc_toolcall_parser *p)
{
    return p->n_calls;
}
