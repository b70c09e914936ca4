/*
 * jinja_impl.h — what the files of the Jinja engine share: values, tokens, the syntax tree,
 * the render state. Not for use outside src/chat/jinja_*.c (chat.c goes through jinja.h).
 *
 * Values are Python's: a jv is a small tagged union passed by value; strings, lists, dicts,
 * namespaces, macros, bound methods and loop objects live on the heap with a reference count.
 * Strings, lists and dicts are immutable once built (the sandbox forbids list.append and
 * dict.update, as transformers' ImmutableSandboxedEnvironment does), so they are shared
 * freely. Only a namespace changes ({% set ns.x = ... %}); namespaces belong to the render and
 * are emptied at its end, which breaks any cycle through them.
 *
 * Ownership: a function that returns a jv (or fills a jv *out) gives the caller a new
 * reference; jv arguments are borrowed unless a comment says "steals".
 *
 * Every string is valid UTF-8 without surrogates (templates are checked at parse time, JSON
 * strings by jansson, escapes are checked when decoded), so code-point walks need no checks.
 */
#ifndef GPTC_JINJA_IMPL_H
#define GPTC_JINJA_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "chat/jinja.h"
#include "core/base.h"
#include "core/utf8.h"

#define JINJA_MAX_SRC (4u << 20)    /* template source bytes */
#define JINJA_MAX_NEST 100          /* parse nesting: brackets, unary operators, blocks */
#define JINJA_MAX_TOKENS (1u << 19) /* tokens of a template (the largest real one: ~20 k) */
#define JINJA_MAX_TREE (64u << 20)  /* bytes of syntax tree (nodes and their lists) */
#define JINJA_MAX_DEPTH 200         /* nesting of values (lists in lists ...) */
#define JINJA_MAX_RANGE 100000      /* as Jinja's sandbox: range() larger than this raises */

/* ---------------------------------------------------------------------------------------------
 * Values
 */
typedef enum jv_kind {
    JV_UNDEF, /* Jinja's lenient Undefined; u.s: optional hint ("'x' is undefined") */
    JV_NONE,
    JV_BOOL,   /* u.i: 0 or 1 */
    JV_INT,    /* u.i: Python int within int64 (overflow is an error) */
    JV_FLOAT,  /* u.f */
    JV_STR,    /* u.s */
    JV_LIST,   /* u.l (also tuples: l->tuple) */
    JV_DICT,   /* u.d */
    JV_NS,     /* u.ns: namespace() */
    JV_MACRO,  /* u.m */
    JV_FUNC,   /* u.i: a global function (JF_*) */
    JV_METHOD, /* u.meth: a bound method of a str, dict, list or loop */
    JV_LOOP,   /* u.loop: the `loop` object of a for statement */
    JV_NOARG,  /* internal: an argument that was not passed */
} jv_kind;

typedef struct jstr jstr;
typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jns jns;
typedef struct jmacro jmacro;
typedef struct jmeth jmeth;
typedef struct jloop jloop;

typedef struct jv {
    uint8_t kind;
    union {
        int64_t i;
        double f;
        jstr *s;
        jlist *l;
        jdict *d;
        jns *ns;
        jmacro *m;
        jmeth *meth;
        jloop *loop;
    } u;
} jv;

#define JRC_IMMORTAL                                                                               \
    UINT32_MAX /* template constants: shared by concurrent renders, never freed                    \
                */

struct jstr {
    uint32_t rc;
    size_t n;   /* bytes */
    size_t ncp; /* code points (== n when ASCII) */
    char p[];   /* n bytes + NUL */
};

struct jlist {
    uint32_t rc;
    uint16_t depth; /* 1 + the deepest element */
    uint8_t tuple;
    uint8_t gen; /* a generator (what select, map, unique, items, batch, reverse give in
                  * Jinja): always true, no len(), no indexing; iterating it raises gen_err
                  * when its computation failed (Python would raise only when iterated) */
    uint8_t gen_ekind;
    uint8_t view; /* dict.keys() / values() / items(): 1 / 2 / 3, for repr only */
    struct jstr *gen_err;
    size_t n;
    jv v[];
};

struct jdict {
    uint32_t rc;
    uint16_t depth;
    size_t n, cap;
    jv *keys, *vals; /* insertion order */
    uint32_t *index; /* open addressing over entries (entry + 1; 0 empty), when n > 8 */
    size_t index_cap;
};

struct jns {
    uint32_t rc;
    jdict *attrs; /* mutable, private to the namespace */
};

struct jmacro {
    uint32_t rc;
    const struct jnode *node; /* JN_MACRO or JN_CALL_BLOCK (a caller) */
    struct jframe *frame;     /* where it was defined; not owned (kept alive by the render) */
};

struct jmeth {
    uint32_t rc;
    uint16_t depth;
    uint16_t id; /* JM_* */
    jv self;
};

struct jloop {
    uint32_t rc;
    uint16_t depth;
    jlist *items; /* owned */
    size_t i;     /* index0 */
};

/* The render state: allocation accounting, frames, output, errors (defined in jinja_eval.c
 * terms, but values need it for accounting and error reports). */
typedef struct jrt jrt;

/* Errors carry Python's exception class, for messages and status mapping. */
typedef enum jerr_kind {
    JE_SYNTAX,      /* GPTC_E_FORMAT */
    JE_UNSUPPORTED, /* GPTC_E_UNSUPPORTED */
    JE_TEMPLATE,    /* raise_exception: GPTC_E_INVALID */
    JE_TYPE,        /* TypeError: GPTC_E_INVALID */
    JE_VALUE,       /* ValueError */
    JE_UNDEFINED,   /* UndefinedError */
    JE_ZERODIV,     /* ZeroDivisionError */
    JE_SECURITY,    /* SecurityError (calling an unsafe method) */
    JE_RUNTIME,     /* TemplateRuntimeError */
    JE_LIMIT,       /* a bound: GPTC_E_RANGE */
    JE_NOMEM,       /* GPTC_E_NOMEM */
} jerr_kind;

/* Record an error at the current position (first error wins); returns -1. rt may be NULL only
 * for allocation helpers called at parse time, which then report nothing. */
int gptc_jfail(jrt *rt, jerr_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline jv jv_mk(uint8_t kind)
{
    jv v;
    v.kind = kind;
    v.u.i = 0;
    return v;
}
static inline jv jv_none(void)
{
    return jv_mk(JV_NONE);
}
static inline jv jv_undef(void)
{
    return jv_mk(JV_UNDEF);
}
static inline jv jv_noarg(void)
{
    return jv_mk(JV_NOARG);
}
static inline jv jv_bool(int b)
{
    jv v = jv_mk(JV_BOOL);
    v.u.i = b != 0;
    return v;
}
static inline jv jv_int(int64_t i)
{
    jv v = jv_mk(JV_INT);
    v.u.i = i;
    return v;
}
static inline jv jv_float(double f)
{
    jv v;
    v.kind = JV_FLOAT;
    v.u.f = f;
    return v;
}
static inline jv jv_strv(jstr *s)
{
    jv v = jv_mk(JV_STR);
    v.u.s = s;
    return v;
} /* steals s */
static inline jv jv_listv(jlist *l)
{
    jv v = jv_mk(JV_LIST);
    v.u.l = l;
    return v;
}
static inline jv jv_dictv(jdict *d)
{
    jv v = jv_mk(JV_DICT);
    v.u.d = d;
    return v;
}

jv gptc_jv_incref(jv v); /* returns v */
void gptc_jv_decref(jv v);
int gptc_jv_depth(jv v); /* nesting depth of containers (0 for scalars) */

/* Allocation: account bytes against rt's budget (rt NULL: unaccounted, for template
 * constants). NULL on failure, with the error recorded in rt. */
void *gptc_jalloc(jrt *rt, size_t n);
jstr *gptc_jstr_new(jrt *rt, const char *p, size_t n);
jstr *gptc_jstr_cat(jrt *rt, const jstr *a, const jstr *b);
jlist *gptc_jlist_new(jrt *rt, size_t n, int tuple); /* elements zeroed to none; fill, then seal */
int gptc_jlist_seal(jrt *rt, jlist *l);              /* computes depth; -1 when too deep */
jdict *gptc_jdict_new(jrt *rt, size_t cap);
/* Insert or replace key -> val (both borrowed, increfed). -1 on error (unhashable key ...). */
int gptc_jdict_set(jrt *rt, jdict *d, jv key, jv val);
/* Find key; -1 when absent, -2 on error (unhashable). */
long gptc_jdict_find(jrt *rt, const jdict *d, jv key);
long gptc_jdict_find_str(const jdict *d, const char *s, size_t n);
int gptc_jdict_seal(jrt *rt, jdict *d);
/* Finish a container being built (steals it): when failed is 0, seal it and give it to *out;
 * otherwise, or when sealing fails, free it. Returns 0 or -1. */
int gptc_jlist_finish(jrt *rt, jlist *l, int failed, jv *out);
int gptc_jdict_finish(jrt *rt, jdict *d, int failed, jv *out);

/* Convenience constructors returning jv (kind JV_UNDEF with an error recorded on failure:
 * check rt's error state, or use the int-returning forms). */
int gptc_jv_str(jrt *rt, const char *p, size_t n, jv *out);
int gptc_jv_cstr(jrt *rt, const char *s, jv *out);
int gptc_jv_undef_msg(jrt *rt, jv *out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Python semantics */
int gptc_jv_truthy(jv v);
const char *gptc_jv_type_name(jv v);           /* Python's type name: 'NoneType', 'str' ... */
int gptc_jv_eq(jrt *rt, jv a, jv b, int *res); /* ==; -1 on error (too deep) */
/* <: *res = -1, 0, 1 as a < b, equal, a > b; -1 with TypeError when not ordered */
int gptc_jv_cmp(jrt *rt, jv a, jv b, const char *op, int *res);
int gptc_jv_hash(jrt *rt, jv v, uint64_t *h); /* -1 with TypeError: unhashable type */

/* Text forms, appended to a growable buffer */
typedef struct jbuf {
    char *p;
    size_t n, cap, max;
} jbuf;
int gptc_jbuf_put(jrt *rt, jbuf *b, const char *p, size_t n);
static inline int jbuf_puts(jrt *rt, jbuf *b, const char *s);
int gptc_jbuf_printf(jrt *rt, jbuf *b, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void gptc_jbuf_free(jbuf *b);
/* Finish a buffer: when failed is 0, its text as a string value in *out; the buffer is freed
 * either way. Returns 0 or -1. */
int gptc_jbuf_finish(jrt *rt, jbuf *b, int failed, jv *out);
int gptc_jv_write_str(jrt *rt, jbuf *b, jv v);          /* str(v); Undefined -> "" */
int gptc_jv_write_repr(jrt *rt, jbuf *b, jv v);         /* repr(v) */
int gptc_jv_to_str(jrt *rt, jv v, jv *out);             /* str(v) as a string value */
void gptc_jfloat_repr(double f, char *buf, size_t cap); /* Python's repr(float) */

typedef struct jjson_opts {
    int indent;                     /* -1: None */
    const jstr *indent_s;           /* indent given as a string (overrides indent) */
    const jstr *item_sep, *key_sep; /* NULL: ", " / ": " (or "," with indent) */
    int sort_keys;
    int ensure_ascii;
} jjson_opts;
int gptc_jv_write_json(jrt *rt, jbuf *b, jv v, const jjson_opts *o); /* json.dumps */

static inline int jbuf_puts(jrt *rt, jbuf *b, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return gptc_jbuf_put(rt, b, s, n);
}

/* ---------------------------------------------------------------------------------------------
 * UTF-8 and Python string helpers (jinja_value.c)
 */
/* Decode one code point at p (valid UTF-8 assumed); *len its byte length. */
static inline uint32_t ju8_dec(const char *s, size_t *len)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80) {
        *len = 1;
        return p[0];
    }
    if (p[0] < 0xE0) {
        *len = 2;
        return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (p[0] < 0xF0) {
        *len = 3;
        return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
           ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}
size_t gptc_ju8_count(const char *p, size_t n); /* code points */
/* Byte offset of code point index i (i <= ncp). */
size_t gptc_jstr_off(const jstr *s, size_t i);
int gptc_ju_isspace(uint32_t c); /* str.isspace() */
uint32_t
gptc_ju_lower(uint32_t c); /* simple case mapping: ASCII, Latin-1, Latin Ext-A, Greek, Cyrillic */
uint32_t gptc_ju_upper(uint32_t c);
int gptc_ju_iscased(uint32_t c);
int gptc_ju_isalnum(uint32_t c);
/* Case-map a string: mode 'u' upper, 'l' lower, 't' str.title(), 'c' str.capitalize(),
 * 'T' Jinja's title filter, 'f' str.casefold(). */
int gptc_jstr_case(jrt *rt, const jstr *s, int mode, jv *out);
/* Python str.strip family: which 'l', 'r', 'b'; chars NULL = whitespace. */
int gptc_jstr_strip(jrt *rt, const jstr *s, const jstr *chars, int which, jv *out);

/* ---------------------------------------------------------------------------------------------
 * Tokens and the syntax tree (gptc_jinja_lex.c, jinja_parse.c)
 */
typedef enum jtok_type {
    JT_EOF,
    JT_DATA,
    JT_VAR_BEGIN,
    JT_VAR_END,
    JT_BLOCK_BEGIN,
    JT_BLOCK_END,
    JT_NAME,
    JT_STRING,
    JT_INT,
    JT_FLOAT,
    JT_OP,
} jtok_type;

typedef enum jop {
    JO_ADD = 1,
    JO_SUB,
    JO_MUL,
    JO_DIV,
    JO_FLOORDIV,
    JO_MOD,
    JO_POW,
    JO_TILDE,
    JO_LBRACKET,
    JO_RBRACKET,
    JO_LPAREN,
    JO_RPAREN,
    JO_LBRACE,
    JO_RBRACE,
    JO_EQ,
    JO_NE,
    JO_GT,
    JO_GTEQ,
    JO_LT,
    JO_LTEQ,
    JO_ASSIGN,
    JO_DOT,
    JO_COLON,
    JO_PIPE,
    JO_COMMA,
    JO_SEMICOLON,
    JO_IN,
    JO_NOTIN, /* compare operators made by the parser */
} jop;

typedef struct jtok {
    uint8_t type;
    uint8_t op; /* JT_OP */
    uint32_t line, col;
    const char *p; /* JT_NAME: the name; JT_DATA / JT_STRING: see s */
    size_t n;
    jstr *s;   /* JT_DATA, JT_STRING: the text (immortal, owned by the template) */
    int64_t i; /* JT_INT */
    double f;  /* JT_FLOAT */
} jtok;

/* Tokenize normalized source (newlines already \n, trailing newline dropped). OUT: *toks
 * (malloc'd array ending with JT_EOF); strings are immortal, freed by gptc_jinja_tokens_free. */
gptc_status gptc_jinja_lex(const char *src, size_t n, jtok **toks, size_t *n_toks, gptc_err *err);
void gptc_jinja_tokens_free(jtok *toks, size_t n);
void gptc_jstr_free_immortal(jstr *s);

typedef enum jn_kind {
    /* expressions */
    JN_CONST,
    JN_NAME,
    JN_ATTR,
    JN_ITEM,
    JN_SLICE,
    JN_CALL,
    JN_FILTER,
    JN_TEST,
    JN_NEG,
    JN_POS,
    JN_NOT,
    JN_BINOP,
    JN_AND,
    JN_OR,
    JN_COMPARE,
    JN_COND,
    JN_LIST,
    JN_TUPLE,
    JN_DICT,
    JN_CONCAT,
    JN_NSREF,
    /* statements */
    JN_TEXT,
    JN_OUTPUT,
    JN_IF,
    JN_FOR,
    JN_SET,
    JN_SET_BLOCK,
    JN_MACRO,
    JN_CALL_BLOCK,
    JN_FILTER_BLOCK,
    JN_WITH,
    JN_BREAK,
    JN_CONTINUE,
    JN_BODY,
} jn_kind;

typedef struct jnode jnode;
typedef struct jnlist {
    jnode **v;
    uint32_t n;
} jnlist;

#define JNF_VARARGS 1 /* macro body uses varargs */
#define JNF_KWARGS 2  /* ... kwargs */
#define JNF_CALLER 4  /* ... caller */

/* The arguments of a call, a filter or a test: pos(...), kw: kwnames[i]=kw[i] */
typedef struct jcallargs {
    jnlist pos, kw;
    jstr **kwnames;
} jcallargs;

/* A syntax tree node: kind, position, and the fields of its kind in u (named after the kind;
 * a NULL node or an empty list is an omitted part). */
struct jnode {
    uint8_t kind;
    uint32_t line, col;
    union {
        jv cval; /* CONST; TEXT: its string */
        struct {
            uint32_t sym;
            jstr *name;
        } var; /* NAME (also a macro parameter) */
        struct {
            uint32_t sym; /* the namespace */
            jstr *attr;
        } nsref; /* NSREF: a set target sym.attr */
        struct {
            jnode *obj;
            jstr *name;
        } attr; /* ATTR: obj.name */
        struct {
            jnode *obj, *key;
        } item; /* ITEM: obj[key] */
        struct {
            jnode *obj, *start, *stop, *step;
        } slice; /* SLICE: obj[start:stop:step] */
        struct {
            jnode *fn;
            jcallargs args;
        } call; /* CALL: fn(args) */
        struct {
            jnode *in;   /* NULL: the innermost filter of a block's chain (its input is the body) */
            int32_t fid; /* -1: unknown at parse time (raises when evaluated) */
            jstr *name;  /* set when fid is -1 */
            uint8_t neg; /* TEST: `is not` */
            jcallargs args;
        } filter; /* FILTER: in|name(args); TEST: in is [not] name(args) */
        struct {
            jnode *operand;
        } unary; /* NEG, POS, NOT */
        struct {
            uint8_t op; /* JO_*; 0 for AND / OR */
            jnode *lhs, *rhs;
        } binop; /* BINOP, AND, OR */
        struct {
            jnode *first;
            jnlist rest;
            uint8_t *ops; /* ops[i] compares with rest.v[i] */
        } compare;        /* COMPARE */
        struct {
            jnode *test, *then, *orelse;
        } cond; /* COND: then if test else orelse */
        struct {
            jnlist items;
        } seq; /* LIST, TUPLE, CONCAT */
        struct {
            jnlist keys, vals;
        } dict; /* DICT */
        struct {
            jnode *expr;
        } output; /* OUTPUT: {{ expr }} */
        struct {
            jnlist conds, bodies; /* bodies: BODY nodes, one more than conds for an else */
        } ifs;                    /* IF */
        struct {
            jnode *target, *iter, *filter; /* filter: `for target in iter if filter` */
            jnlist body, orelse;
        } forloop; /* FOR */
        struct {
            jnode *target, *value;
        } set; /* SET */
        struct {
            jnode *target, *filters; /* a FILTER chain (its innermost in is NULL), or NULL */
            jnlist body;
        } setblock; /* SET_BLOCK */
        struct {
            uint32_t sym; /* MACRO: the name */
            jstr *name;
            uint8_t flags;           /* JNF_* */
            jnlist params, defaults; /* NAME nodes; an expression or NULL each */
            jnlist body;
            jnode *call; /* CALL_BLOCK: the CALL of {% call(params) call %} */
        } macro;         /* MACRO, CALL_BLOCK (a caller) */
        struct {
            jnode *filters; /* a FILTER chain (its innermost in is NULL) */
            jnlist body;
        } filterblock; /* FILTER_BLOCK */
        struct {
            jnlist targets, values, body;
        } with; /* WITH */
        struct {
            jnlist stmts;
        } body; /* BODY */
    } u;
};

struct jinja_template {
    char *src; /* normalized source */
    size_t n_src;
    jtok *toks;
    size_t n_toks;
    jnode *root; /* JN_BODY */
    jstr **syms; /* interned names, indexed by jnode.sym */
    uint32_t n_syms, cap_syms;
    uint32_t sym_loop, sym_varargs, sym_kwargs, sym_caller;
    jstr **strs; /* other owned constants (concatenated string literals) */
    uint32_t n_strs, cap_strs;
    void *arena;        /* nodes and lists */
    size_t arena_bytes; /* allocated in the arena so far (at most JINJA_MAX_TREE) */
    int tree_full;      /* an allocation failed because of JINJA_MAX_TREE */
};

/* Symbol id of a name (interned at parse time); UINT32_MAX when the template never uses it. */
uint32_t gptc_jinja_sym_find(const jinja_template *t, const char *p, size_t n);

/* ---------------------------------------------------------------------------------------------
 * Builtins (jinja_builtins.c): filters, tests, methods and global functions, by id
 */
typedef struct jargs {
    const jv *pos;
    size_t npos;
    jstr *const *kwn; /* names of keyword arguments */
    const jv *kw;
    size_t nkw;
} jargs;

int gptc_jinja_filter_id(const char *name, size_t n); /* -1: no such filter */
int gptc_jinja_test_id(const char *name, size_t n);   /* -1: no such test */
const char *gptc_jinja_filter_name(int id);
const char *gptc_jinja_test_name(int id);

typedef enum jfunc_id {
    JF_RANGE,
    JF_NAMESPACE,
    JF_DICT,
    JF_RAISE,
    JF_STRFTIME,
    JF_LIPSUM,
    JF_CYCLER,
    JF_JOINER,
    JF_COUNT
} jfunc_id;
const char *gptc_jinja_func_name(int id);

int gptc_jinja_filter(jrt *rt, int id, jv in, const jargs *a, jv *out);
int gptc_jinja_test(jrt *rt, int id, jv in, const jargs *a, int *res);
int gptc_jinja_call_func(jrt *rt, int id, const jargs *a, jv *out);
/* obj.name as the sandbox resolves it (a method, a dict item, a namespace attribute ...). */
int gptc_jinja_getattr(jrt *rt, jv obj, const char *name, size_t n, jv *out);
/* The same without the dict-item fallback (Python's getattr, as the attr filter uses). */
int gptc_jinja_getattr_ex(jrt *rt, jv obj, const char *name, size_t n, int items, jv *out);
/* obj[key] as Jinja's getitem (item, then attribute for a string key). */
int gptc_jinja_getitem(jrt *rt, jv obj, jv key, jv *out);
int gptc_jinja_call_method(jrt *rt, jmeth *m, const jargs *a, jv *out);
/* Materialize what `for` iterates: list, tuple, dict keys, string characters, nothing for
 * Undefined. TypeError otherwise. OUT: a new list reference. */
int gptc_jinja_iterate(jrt *rt, jv v, jlist **out);
/* len(v) as the length filter (Undefined -> 0) */
int gptc_jinja_length(jrt *rt, jv v, int64_t *n);
/* Bind arguments to named parameters; slots get borrowed values or JV_NOARG. */
int gptc_jargs_bind(jrt *rt, const jargs *a, const char *fname, const char *const *params,
                    size_t nparams, jv *slots);

/* ---------------------------------------------------------------------------------------------
 * The render (jinja_eval.c)
 */
typedef struct jframe {
    struct jframe *parent;
    uint32_t n, cap;
    uint32_t *syms;
    jv *vals;
    uint8_t captured;    /* a macro refers to it: kept until the render ends */
    struct jframe *next; /* in the list of captured frames */
} jframe;

struct jrt {
    const jinja_template *t;
    const jinja_opts *opts;
    size_t alloc; /* bytes allocated for values so far */
    uint64_t steps, iters;
    int calls; /* macro call depth */
    int nest;  /* evaluation recursion (bounded by the tree, checked anyway) */
    jbuf *out;
    jframe *frame;
    jframe *captured;
    jns **nss; /* every namespace made by this render */
    size_t n_ns, cap_ns;
    uint32_t line, col; /* position being evaluated, for messages */
    int ctl;            /* 1: break, 2: continue pending */
    int failed;
    jerr_kind ekind;
    char emsg[200];
};

/* Charge n steps; -1 with a limit error when the budget is spent. */
static inline int jrt_steps(jrt *rt, uint64_t n)
{
    rt->steps += n;
    if (rt->steps > rt->opts->limits.max_steps)
        return gptc_jfail(rt, JE_LIMIT, "the template ran too long (more than %llu steps)",
                          (unsigned long long)rt->opts->limits.max_steps);
    return 0;
}

int gptc_jns_new(jrt *rt, jv *out);
/* Call a macro value with arguments; caller: a caller macro or JV_NOARG. */
int gptc_jinja_call_macro(jrt *rt, jmacro *m, const jargs *a, jv caller, jv *out);
/* Apply a filter/test by node (runtime dispatch used by map/select filters). */
int gptc_jinja_filter_by_name(jrt *rt, const char *name, jv in, const jargs *a, jv *out);
int gptc_jinja_test_by_name(jrt *rt, const char *name, jv in, const jargs *a, int *res);

#endif
