/*
 * tool_grammar.c — tool_choice "required" / a named function as a grammar (tool_grammar.h).
 *
 * Each function's `parameters` schema becomes a rule (tc-a<i>) through the JSON-schema
 * generator; the formats whose arguments are one JSON object wrap it in the family's call
 * syntax; the XML-like formats (qwen3-xml, glm, dsml) take each property on its own: a plain
 * string property is raw text without '<', any other property its schema's JSON.
 */
#include "grammar/tool_grammar.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/toolcall.h"
#include "grammar/schema_gen.h"

typedef struct str {
    char *p;
    size_t n, cap;
    int oom;
} str;

static void put(str *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 256;
        while (c < b->n + n + 1)
            c *= 2;
        char *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(str *b, const char *s)
{
    put(b, s, strlen(s));
}

static void printf_(str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(str *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A GBNF literal "..." of s (UTF-8 passes through; quotes, backslashes, controls escaped). */
static void lit(str *b, const char *s)
{
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            printf_(b, "\\x%02X", c);
        } else {
            put(b, s, 1);
        }
    }
    put(b, "\"", 1);
}

/* A JSON string's text, as the formats quote names: "name" with JSON escapes. */
static void json_name_lit(str *b, const char *name)
{
    json_t *s = json_string(name);
    char *t = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    lit(b, t ? t : "\"\"");
    free(t);
    json_decref(s);
}

/* A plain string property: raw text in the XML-like formats. */
static int plain_string(const json_t *sc)
{
    const json_t *t = json_object_get(sc, "type");
    if (!json_is_string(t) || strcmp(json_string_value(t), "string")) return 0;
    static const char *const k[] = {"enum", "const", "pattern", "format", "minLength", "maxLength"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (json_object_get(sc, k[i])) return 0;
    return 1;
}

/* The XML-like formats' parameter list of function i: rule tc-p<i>. */
static gptc_status xml_params(gptc_schema_gen *g, str *b, int fmt, int i, const json_t *params,
                              gptc_err *err)
{
    const json_t *props = json_object_get(params, "properties");
    const json_t *req = json_object_get(params, "required");
    printf_(b, "tc-p%d ::=", i);
    const char *k;
    json_t *sc;
    int j = 0, any = 0;
    json_object_foreach(GPTC_UNCONST(json_t *, props), k, sc)
    {
        int required = 0;
        for (size_t r = 0; r < json_array_size(req); r++)
            if (json_is_string(json_array_get(req, r)) &&
                !strcmp(json_string_value(json_array_get(req, r)), k))
                required = 1;
        char rule[48];
        snprintf(rule, sizeof rule, "tc-v%d-%d", i, j);
        if (plain_string(sc)) {
            char t[64];
            snprintf(t, sizeof t, "%s ::= tc-raw\n", rule);
            gptc_schema_gen_append(g, t);
        } else {
            gptc_status st = gptc_schema_gen_add(g, sc, rule, err);
            if (st) return st;
        }
        int raw = plain_string(sc);
        puts_(b, " (");
        if (fmt == GPTC_TC_QWEN3_XML) {
            puts_(b, "\"<parameter=\" ");
            lit(b, k);
            printf_(b, " \">\\n\" %s \"\\n</parameter>\\n\"", rule);
        } else if (fmt == GPTC_TC_GLM) {
            puts_(b, "\"<arg_key>\" ");
            lit(b, k);
            printf_(b, " \"</arg_key>\\n<arg_value>\" %s \"</arg_value>\\n\"", rule);
        } else {
            puts_(b, "\"<" DSML "parameter name=\\\"\" ");
            lit(b, k);
            printf_(b, " \"\\\" string=\\\"%s\\\">\" %s \"</" DSML "parameter>\\n\"",
                    raw ? "true" : "false", rule);
        }
        puts_(b, required ? ")" : ")?");
        j++;
        any = 1;
    }
    if (!any) puts_(b, " \"\"");
    puts_(b, "\n");
    return GPTC_OK;
}

gptc_status gptc_tool_grammar(int fmt, const char *src, size_t src_len, const json_t *tools,
                              const char *only, int parallel, char **prefix, char **gbnf,
                              size_t *gbnf_len, gptc_err *err)
{
    gptc_err_clear(err);
    *prefix = *gbnf = NULL;
    *gbnf_len = 0;
    if (fmt == GPTC_TC_NONE) fmt = GPTC_TC_HERMES;
    if (fmt == GPTC_TC_GEMMA4)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "forcing tool calls is not supported for the gemma4 tool-call format "
                         "(its argument syntax is not JSON); use tool_choice \"auto\"");
    int n = 0;
    for (size_t i = 0; i < json_array_size(tools); i++) {
        const char *nm = json_string_value(
            json_object_get(json_object_get(json_array_get(tools, i), "function"), "name"));
        if (nm && (!only || !strcmp(nm, only))) n++;
    }
    if (!n) return gptc_fail(err, GPTC_E_INVALID, "no function to call");
    if (fmt == GPTC_TC_HARMONY && n > 1)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "tool_choice \"required\" with several functions is not supported for "
                         "the harmony (gpt-oss) format: name the function");
    if (fmt == GPTC_TC_LLAMA3 || fmt == GPTC_TC_HARMONY) parallel = 0;
    int xml = fmt == GPTC_TC_QWEN3_XML || fmt == GPTC_TC_GLM || fmt == GPTC_TC_DSML;
    int r1 = fmt == GPTC_TC_DEEPSEEK && src && memmem(src, src_len, "```json", 7);

    gptc_schema_gen *g = gptc_schema_gen_new(err);
    if (!g) return GPTC_E_NOMEM;
    str b = {0}, pre = {0};
    gptc_status st = GPTC_OK;
    puts_(&b, "tc-call ::=");
    int k = 0;
    for (size_t i = 0; i < json_array_size(tools) && !st; i++) {
        const json_t *fn = json_object_get(json_array_get(tools, i), "function");
        const char *nm = json_string_value(json_object_get(fn, "name"));
        if (!nm || (only && strcmp(nm, only))) continue;
        json_t *params = json_object_get(fn, "parameters");
        json_t *empty = NULL;
        if (!params) params = empty = json_pack("{s:s}", "type", "object");
        char rule[32];
        snprintf(rule, sizeof rule, "tc-a%d", k);
        str body = {0};
        if (xml) {
            st = xml_params(g, &body, fmt, k, params, err);
        } else {
            st = gptc_schema_gen_add(g, params, rule, err);
        }
        json_decref(empty);
        if (st) {
            free(body.p);
            break;
        }
        if (body.p) gptc_schema_gen_append(g, body.p);
        free(body.p);
        puts_(&b, k ? " | " : " ");
        switch (fmt) {
        case GPTC_TC_QWEN3_XML:
            puts_(&b, "\"\\n<function=\" ");
            lit(&b, nm);
            printf_(&b, " \">\\n\" tc-p%d \"</function>\\n</tool_call>\"", k);
            break;
        case GPTC_TC_GLM:
            lit(&b, nm);
            printf_(&b, " \"\\n\" tc-p%d \"</tool_call>\"", k);
            break;
        case GPTC_TC_DSML:
            puts_(&b, "\"<" DSML "invoke name=\\\"\" ");
            lit(&b, nm);
            printf_(&b, " \"\\\">\\n\" tc-p%d \"</" DSML "invoke>\\n\"", k);
            break;
        case GPTC_TC_LLAMA3:
            puts_(&b, "\"{\\\"name\\\": \" ");
            json_name_lit(&b, nm);
            printf_(&b, " \", \\\"parameters\\\": \" %s \"}\"", rule);
            break;
        case GPTC_TC_MISTRAL:
            puts_(&b, "\"{\\\"name\\\": \" ");
            json_name_lit(&b, nm);
            printf_(&b, " \", \\\"arguments\\\": \" %s \"}\"", rule);
            break;
        case GPTC_TC_MISTRAL_ARGS:
        case GPTC_TC_FUNCTIONARY:
            lit(&b, nm);
            printf_(&b, fmt == GPTC_TC_FUNCTIONARY ? " \"\\n\" %s" : " \"[ARGS]\" %s", rule);
            break;
        case GPTC_TC_DEEPSEEK:
            if (r1) {
                puts_(&b, "\"" DS_CALL_BEGIN "function" DS_SEP "\" ");
                lit(&b, nm);
                printf_(&b, " \"\\n```json\\n\" %s \"\\n```" DS_CALL_END "\"", rule);
            } else {
                puts_(&b, "\"" DS_CALL_BEGIN "\" ");
                lit(&b, nm);
                printf_(&b, " \"" DS_SEP "\" %s \"" DS_CALL_END "\"", rule);
            }
            break;
        case GPTC_TC_HARMONY:
            puts_(&b, rule);
            break;
        case GPTC_TC_COMMAND_R:
            puts_(&b, "\"{\\\"tool_call_id\\\": \\\"\" [0-9] \"\\\", \\\"tool_name\\\": \" ");
            json_name_lit(&b, nm);
            printf_(&b, " \", \\\"parameters\\\": \" %s \"}\"", rule);
            break;
        default: /* hermes */
            puts_(&b, "\"\\n{\\\"name\\\": \" ");
            json_name_lit(&b, nm);
            printf_(&b, " \", \\\"arguments\\\": \" %s \"}\\n</tool_call>\"", rule);
            break;
        }
        if (fmt == GPTC_TC_HARMONY) {
            puts_(&pre, "<|channel|>commentary to=functions.");
            puts_(&pre, nm);
            puts_(&pre, " <|constrain|>json<|message|>");
        }
        k++;
    }
    puts_(&b, "\n");
    if (xml) gptc_schema_gen_append(g, "tc-raw ::= [^<]*\n");
    /* root: the calls after the prefix */
    const char *again = NULL, *open = "", *close = "";
    switch (fmt) {
    case GPTC_TC_QWEN3_XML:
    case GPTC_TC_GLM:
        again = "\"\\n<tool_call>\"";
        break;
    case GPTC_TC_DSML:
        open = "\"\\n\" ";
        again = "\"\"";
        close = " \"</" DSML "function_calls>\"";
        break;
    case GPTC_TC_MISTRAL:
        open = "\"[\" ";
        again = "\", \"";
        close = " \"]\"";
        break;
    case GPTC_TC_MISTRAL_ARGS:
        again = "\"[TOOL_CALLS]\"";
        break;
    case GPTC_TC_FUNCTIONARY:
        again = "\">>>\"";
        break;
    case GPTC_TC_DEEPSEEK:
        again = r1 ? "\"\\n\"" : "\"\"";
        close = " (\"" DS_CALLS_END "\")?";
        break;
    case GPTC_TC_COMMAND_R:
        open = "\"[\\n    \" ";
        again = "\",\\n    \"";
        close = " \"\\n]\" (\"<|END_ACTION|>\")?";
        break;
    case GPTC_TC_LLAMA3:
    case GPTC_TC_HARMONY:
        break;
    default:
        again = "\"\\n<tool_call>\"";
        break;
    }
    if (parallel && again)
        printf_(&b, "root ::= %stc-call (%s tc-call){0,%d}%s\n", open, again,
                GPTC_TOOL_MAX_CALLS - 1, close);
    else
        printf_(&b, "root ::= %stc-call%s\n", open, close);
    if (fmt != GPTC_TC_HARMONY) {
        static const char *const k_prefix[GPTC_TC_COUNT] = {
            [GPTC_TC_HERMES] = "<tool_call>",
            [GPTC_TC_QWEN3_XML] = "<tool_call>",
            [GPTC_TC_GLM] = "<tool_call>",
            [GPTC_TC_MISTRAL] = "[TOOL_CALLS]",
            [GPTC_TC_MISTRAL_ARGS] = "[TOOL_CALLS]",
            [GPTC_TC_DEEPSEEK] = DS_CALLS_BEGIN,
            [GPTC_TC_DSML] = "<" DSML "function_calls>",
            [GPTC_TC_COMMAND_R] = "<|START_ACTION|>",
        };
        puts_(&pre, k_prefix[fmt] ? k_prefix[fmt] : "");
    }
    if (!st && !b.oom) gptc_schema_gen_append(g, b.p);
    size_t len;
    const char *text = gptc_schema_gen_text(g, &len);
    if (!st && (b.oom || pre.oom)) st = gptc_fail(err, GPTC_E_NOMEM, "tool grammar: out of memory");
    if (!st) {
        *gbnf = malloc(len + 1);
        if (!*gbnf) {
            st = gptc_fail(err, GPTC_E_NOMEM, "tool grammar: out of memory");
        } else {
            memcpy(*gbnf, text, len + 1);
            *gbnf_len = len;
            *prefix = pre.p ? pre.p : strdup("");
            pre.p = NULL;
            if (!*prefix) {
                free(*gbnf);
                *gbnf = NULL;
                st = gptc_fail(err, GPTC_E_NOMEM, "tool grammar: out of memory");
            }
        }
    }
    free(b.p);
    free(pre.p);
    gptc_schema_gen_free(g);
    return st;
}
