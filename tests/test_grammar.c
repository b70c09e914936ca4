/*
 * test_grammar.c — the GBNF parser and matcher against a reference written here.
 *
 * The reference parses the same GBNF text itself into a tree and computes, for a string of
 * codepoints (at most 63), the set of end positions each node can reach from a set of start
 * positions (a 64-bit mask): sequences compose, alternatives unite, repetitions iterate, rule
 * references are memoised per start. A string is in the language iff the root reaches its
 * length from 0. For each grammar of the table, random strings (derivations of the grammar,
 * their mutations, strings over the grammar's alphabet) must be accepted by the matcher exactly
 * when the reference accepts them; every prefix of an accepted string (byte by byte, UTF-8
 * split included) must stay alive; masks over a small vocabulary (multi-byte tokens, tokens
 * that split a UTF-8 character, an end token) must equal the token-by-token check, with the
 * local cache cut to 8, 2 and 1 frames and without it (the plain walk, cut 0), and the fast
 * masks must equal the plain walk's at every state; generation under the mask always parses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "grammar/grammar.h"
#include "grammar/schema.h"
#include "test.h"

/* ----- random ----- */

/* ----- the reference: a tree ----- */
enum { N_LIT, N_CLASS, N_SEQ, N_ALT, N_REP, N_REF };
typedef struct rnode {
    int kind;
    uint32_t cps[64];
    int ncp;          /* LIT */
    int neg;          /* CLASS: ranges in cps as lo,hi pairs (ncp = pairs*2) */
    struct rnode **k; /* SEQ, ALT, REP (k[0]) */
    int nk;
    int m, n; /* REP; n < 0 unbounded */
    int ref;  /* REF: rule index */
} rnode;

#define MAXR 64
typedef struct {
    char name[64][48];
    rnode *body[MAXR];
    int n;
} rgram;

static const char *gp;
static rgram *G;

static void rskip(void)
{
    for (;;) {
        while (*gp == ' ' || *gp == '\t' || *gp == '\n' || *gp == '\r')
            gp++;
        if (*gp == '#') {
            while (*gp && *gp != '\n')
                gp++;
            continue;
        }
        return;
    }
}
static int isname(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}
static int rule_id(const char *s, int n)
{
    for (int i = 0; i < G->n; i++)
        if ((int)strlen(G->name[i]) == n && !memcmp(G->name[i], s, (size_t)n)) return i;
    memcpy(G->name[G->n], s, (size_t)n);
    G->name[G->n][n] = 0;
    G->body[G->n] = NULL;
    return G->n++;
}
static uint32_t rutf8(void)
{
    const unsigned char *q = (const unsigned char *)gp;
    uint32_t c = q[0];
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n > 1) c &= 0x3F >> (n - 1);
    for (int i = 1; i < n; i++)
        c = (c << 6) | (q[i] & 0x3F);
    gp += n;
    return c;
}
static uint32_t rchar(void)
{
    if (*gp != '\\') return rutf8();
    gp++;
    char c = *gp++;
    int nh = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (!nh) return c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : (uint32_t)c;
    uint32_t v = 0;
    for (int i = 0; i < nh; i++) {
        char h = *gp++;
        v = v * 16 + (uint32_t)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
    }
    return v;
}
static rnode *mk(int kind)
{
    rnode *n = calloc(1, sizeof *n);
    n->kind = kind;
    return n;
}
static void addk(rnode *p, rnode *c)
{
    p->k = realloc(p->k, (size_t)(p->nk + 1) * sizeof *p->k);
    p->k[p->nk++] = c;
}
static rnode *ralt(void);
static int at_rule_start(void)
{
    const char *q = gp;
    while (isname((unsigned char)*q))
        q++;
    if (q == gp) return 0;
    while (*q == ' ' || *q == '\t')
        q++;
    return q[0] == ':' && q[1] == ':' && q[2] == '=';
}
static rnode *rseq(void)
{
    rnode *s = mk(N_SEQ);
    for (;;) {
        rskip();
        rnode *it = NULL;
        if (*gp == '"') {
            gp++;
            it = mk(N_LIT);
            while (*gp != '"')
                it->cps[it->ncp++] = rchar();
            gp++;
        } else if (*gp == '[') {
            gp++;
            it = mk(N_CLASS);
            if (*gp == '^') it->neg = 1, gp++;
            while (*gp != ']') {
                uint32_t lo = rchar(), hi = lo;
                if (gp[0] == '-' && gp[1] != ']') gp++, hi = rchar();
                it->cps[it->ncp++] = lo;
                it->cps[it->ncp++] = hi;
            }
            gp++;
        } else if (*gp == '.') {
            gp++;
            it = mk(N_CLASS);
            it->neg = 1;
        } else if (*gp == '(') {
            gp++;
            it = ralt();
            rskip();
            gp++; /* ) */
        } else if (isname((unsigned char)*gp) && !at_rule_start()) {
            const char *n0 = gp;
            while (isname((unsigned char)*gp))
                gp++;
            it = mk(N_REF);
            it->ref = rule_id(n0, (int)(gp - n0));
        } else {
            return s;
        }
        if (*gp == '*' || *gp == '+' || *gp == '?' || *gp == '{') {
            rnode *r = mk(N_REP);
            addk(r, it);
            if (*gp == '*')
                r->m = 0, r->n = -1, gp++;
            else if (*gp == '+')
                r->m = 1, r->n = -1, gp++;
            else if (*gp == '?')
                r->m = 0, r->n = 1, gp++;
            else {
                gp++;
                r->m = (int)strtol(gp, GPTC_UNCONST(char **, &gp), 10);
                r->n = r->m;
                if (*gp == ',') {
                    gp++;
                    r->n = *gp == '}' ? -1 : (int)strtol(gp, GPTC_UNCONST(char **, &gp), 10);
                }
                gp++;
            }
            it = r;
        }
        addk(s, it);
    }
}
static rnode *ralt(void)
{
    rnode *a = mk(N_ALT);
    addk(a, rseq());
    while (*gp == '|') {
        gp++;
        addk(a, rseq());
    }
    return a;
}
static void rparse(rgram *g, const char *text)
{
    memset(g, 0, sizeof *g);
    G = g;
    gp = text;
    rskip();
    while (*gp) {
        const char *n0 = gp;
        while (isname((unsigned char)*gp))
            gp++;
        int r = rule_id(n0, (int)(gp - n0));
        rskip();
        gp += 3;
        g->body[r] = ralt();
        rskip();
    }
}

static uint32_t *S;
static int SN;
static uint64_t memo[MAXR][64];
static uint8_t memo_ok[MAXR][64];

static int rclass_has(const rnode *c, uint32_t cp)
{
    int in = 0;
    for (int i = 0; i < c->ncp; i += 2)
        if (cp >= c->cps[i] && cp <= c->cps[i + 1]) in = 1;
    return in ^ c->neg;
}

static uint64_t ends(const rnode *x, uint64_t st)
{
    uint64_t out = 0;
    switch (x->kind) {
    case N_LIT:
        for (int s = 0; s <= SN; s++) {
            if (!(st >> s & 1) || s + x->ncp > SN) continue;
            int ok = 1;
            for (int i = 0; i < x->ncp && ok; i++)
                ok = S[s + i] == x->cps[i];
            if (ok) out |= 1ull << (s + x->ncp);
        }
        return out;
    case N_CLASS:
        for (int s = 0; s < SN; s++)
            if ((st >> s & 1) && rclass_has(x, S[s])) out |= 1ull << (s + 1);
        return out;
    case N_SEQ:
        for (int i = 0; i < x->nk && st; i++)
            st = ends(x->k[i], st);
        return st;
    case N_ALT:
        for (int i = 0; i < x->nk; i++)
            out |= ends(x->k[i], st);
        return out;
    case N_REP: {
        uint64_t cur = st;
        if (x->m == 0) out = st;
        for (int i = 1; x->n < 0 || i <= x->n; i++) {
            cur = ends(x->k[0], cur);
            if (!cur) break;
            if (i >= x->m) {
                if (x->n < 0 && !(cur & ~out)) break;
                out |= cur;
            }
            if (i > x->m + 70) break;
        }
        return out;
    }
    case N_REF:
        for (int s = 0; s <= SN; s++) {
            if (!(st >> s & 1)) continue;
            if (!memo_ok[x->ref][s]) {
                memo_ok[x->ref][s] = 1;
                memo[x->ref][s] = 0; /* no left recursion in the table */
                memo[x->ref][s] = ends(G->body[x->ref], 1ull << s);
            }
            out |= memo[x->ref][s];
        }
        return out;
    }
    return 0;
}

static void free_node(rnode *x)
{
    if (!x) return;
    for (int i = 0; i < x->nk; i++)
        free_node(x->k[i]);
    free(x->k);
    free(x);
}

static void free_rgram(rgram *g)
{
    for (int i = 0; i < g->n; i++)
        free_node(g->body[i]);
    free(g);
}

static int ref_accepts(rgram *g, uint32_t *cps, int n)
{
    G = g;
    S = cps;
    SN = n;
    memset(memo_ok, 0, sizeof memo_ok);
    int root = -1;
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->name[i], "root")) root = i;
    return (int)((ends(g->body[root], 1) >> n) & 1);
}

/* ----- random strings ----- */
static uint32_t alpha[256];
static int nalpha;
static void add_alpha(uint32_t c)
{
    for (int i = 0; i < nalpha; i++)
        if (alpha[i] == c) return;
    if (nalpha < 256) alpha[nalpha++] = c;
}
static void collect(const rnode *x)
{
    if (!x) return;
    if (x->kind == N_LIT)
        for (int i = 0; i < x->ncp; i++)
            add_alpha(x->cps[i]);
    if (x->kind == N_CLASS)
        for (int i = 0; i < x->ncp; i += 2) {
            add_alpha(x->cps[i]);
            add_alpha(x->cps[i + 1]);
            if (x->cps[i] > 0) add_alpha(x->cps[i] - 1);
            add_alpha(x->cps[i + 1] + 1);
        }
    for (int i = 0; i < x->nk; i++)
        collect(x->k[i]);
}

static int gen_fail;
static void gen(const rnode *x, uint32_t *out, int *n, int depth)
{
    if (gen_fail || *n > 60 || depth > 40) {
        gen_fail = 1;
        return;
    }
    switch (x->kind) {
    case N_LIT:
        for (int i = 0; i < x->ncp && *n < 64; i++)
            out[(*n)++] = x->cps[i];
        return;
    case N_CLASS:
        for (int t = 0; t < 50; t++) {
            uint32_t c;
            if (!x->neg && x->ncp) {
                int r = test_rnd_int(x->ncp / 2) * 2;
                c = x->cps[r] + (uint32_t)test_rnd_int((int)(x->cps[r + 1] - x->cps[r] + 1));
            } else {
                c = test_rnd_int(4) ? alpha[test_rnd_int(nalpha)]
                                    : (uint32_t)(0x20 + test_rnd_int(0x3000));
            }
            if (c >= 0xD800 && c <= 0xDFFF) continue;
            if (rclass_has(x, c)) {
                out[(*n)++] = c;
                return;
            }
        }
        gen_fail = 1;
        return;
    case N_SEQ:
        for (int i = 0; i < x->nk; i++)
            gen(x->k[i], out, n, depth + 1);
        return;
    case N_ALT:
        gen(x->k[depth > 12 ? 0 : test_rnd_int(x->nk)], out, n, depth + 1);
        return;
    case N_REP: {
        int hi = x->n < 0 ? x->m + 3 : (x->n < x->m + 3 ? x->n : x->m + 3);
        int c = x->m + test_rnd_int(hi - x->m + 1);
        if (depth > 12) c = x->m;
        for (int i = 0; i < c; i++)
            gen(x->k[0], out, n, depth + 1);
        return;
    }
    case N_REF:
        gen(G->body[x->ref], out, n, depth + 1);
        return;
    }
}

static int enc(const uint32_t *cps, int n, uint8_t *out)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        uint32_t c = cps[i];
        if (c < 0x80)
            out[k++] = (uint8_t)c;
        else if (c < 0x800) {
            out[k++] = (uint8_t)(0xC0 | (c >> 6));
            out[k++] = (uint8_t)(0x80 | (c & 63));
        } else if (c < 0x10000) {
            out[k++] = (uint8_t)(0xE0 | (c >> 12));
            out[k++] = (uint8_t)(0x80 | ((c >> 6) & 63));
            out[k++] = (uint8_t)(0x80 | (c & 63));
        } else {
            out[k++] = (uint8_t)(0xF0 | (c >> 18));
            out[k++] = (uint8_t)(0x80 | ((c >> 12) & 63));
            out[k++] = (uint8_t)(0x80 | ((c >> 6) & 63));
            out[k++] = (uint8_t)(0x80 | (c & 63));
        }
    }
    return k;
}

/* ----- the table ----- */
/* clang-format off */
static const char *grammars[] = {
    /* JSON (llama.cpp's json.gbnf shape) */
    "root   ::= object\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::=\n"
    "  \"{\" ws (\n"
    "            string \":\" ws value\n"
    "    (\",\" ws string \":\" ws value)*\n"
    "  )? \"}\" ws\n"
    "array  ::=\n"
    "  \"[\" ws (\n"
    "            value\n"
    "    (\",\" ws value)*\n"
    "  )? \"]\" ws\n"
    "string ::=\n"
    "  \"\\\"\" (\n"
    "    [^\"\\\\\\x7F\\x00-\\x1F] |\n"
    "    \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}) # escapes\n"
    "  )* \"\\\"\" ws\n"
    "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n",
    /* arithmetic (llama.cpp's arithmetic.gbnf) */
    "root  ::= (expr \"=\" ws term \"\\n\")+\n"
    "expr  ::= term ([-+*/] term)*\n"
    "term  ::= ident | num | \"(\" ws expr \")\" ws\n"
    "ident ::= [a-z] [a-z0-9_]* ws\n"
    "num   ::= [0-9]+ ws\n"
    "ws    ::= [ \\t\\n]*\n",
    /* a list (llama.cpp's list.gbnf) */
    "root ::= item+\n"
    "# Excludes various line break characters\n"
    "item ::= \"- \" [^\\r\\n\\x0b\\x0c\\x85\\u2028\\u2029]+ \"\\n\"\n",
    /* a C-like identifier language */
    "root ::= stmt*\n"
    "stmt ::= type \" \" id (\" = \" expr)? \";\" | \"return \" expr \";\"\n"
    "type ::= \"int\" | \"char\" | \"float\"\n"
    "id ::= [a-zA-Z_] [a-zA-Z0-9_]{0,7}\n"
    "expr ::= id | [0-9]+ | id \"(\" (expr (\", \" expr)*)? \")\"\n",
    /* nesting (deep stacks: the local cache's cut matters) */
    "root ::= p\n"
    "p ::= \"(\" p \")\" | \"[\" p \"]\" | \"x\" | \"\"\n",
    /* Unicode: escapes, ranges, negation, any */
    "root ::= ([\\u00e0-\\u00ff] | \"\\u20AC\" | [^a-z\\u0100-\\uFFFF] | \"\\U0001F600\" . )+ \"!\"\n",
    /* bounded repetition and nullable pieces */
    "root ::= \"a\"{2,4} (\"b\" | \"c\"?){1,3} d? \"e\"{3} (\"fg\")* \"h\"{0,2}\n"
    "d ::= \"d\" | \"\"\n",
    /* ambiguity: several stacks at once */
    "root ::= (x | y)* \"!\"\n"
    "x ::= \"ab\" | \"a\"\n"
    "y ::= \"b\" | \"ba\" | [a-b]\n",
    /* chess-like moves (llama.cpp's chess.gbnf shape) */
    "root   ::= \"1. \" move \" \" move \"\\n\" ([1-9] [0-9]? \". \" move \" \" move \"\\n\")+\n"
    "move   ::= (pawn | nonpawn | castle) [+#]?\n"
    "nonpawn ::= [NBKQR] [a-h]? [1-8]? \"x\"? [a-h] [1-8]\n"
    "pawn   ::= ([a-h] \"x\")? [a-h] [1-8] (\"=\" [NBKQR])?\n"
    "castle ::= \"O-O\" \"-O\"?\n",
    /* empty-capable root, comments and alternation across lines */
    "# a comment first\n"
    "root ::= \"yes\" # trailing comment\n"
    "       | \"no\"\n"
    "       | \"\"\n",
};
/* clang-format on */
#define NG ((int)(sizeof grammars / sizeof *grammars))

static int m_accepts(gptc_gmatcher *m, const uint8_t *b, int nb)
{
    gptc_gmatcher_reset(m);
    gptc_err err;
    if (gptc_gmatcher_accept_bytes(m, b, (size_t)nb, &err)) return 0;
    return gptc_gmatcher_can_end(m);
}

/* vocabulary of the test: alphabet chars, pieces of derivations, split UTF-8, an end token */
#define NV 400
static uint8_t vb[NV][16];
static size_t vl[NV];
static uint8_t veog[NV];

static void make_vocab(rgram *rg, gptc_gvocab **v)
{
    int n = 0;
    memset(veog, 0, sizeof veog);
    veog[n] = 1;
    vl[n++] = 0;
    vl[n++] = 0; /* a control token without text */
    for (int i = 0; i < nalpha && n < NV; i++) {
        uint32_t c = alpha[i];
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        vl[n] = (size_t)enc(&c, 1, vb[n]);
        n++;
        if (vl[n - 1] > 1 && n < NV - 1) { /* its bytes split */
            vb[n][0] = vb[n - 1][0];
            vl[n] = 1;
            n++;
            memcpy(vb[n], vb[n - 2] + 1, vl[n - 2] - 1);
            vl[n] = vl[n - 2] - 1;
            n++;
        }
    }
    while (n < NV) {
        uint32_t cps[70];
        int k = 0;
        gen_fail = 0;
        gen(rg->body[0], cps, &k, 0);
        uint8_t b[300];
        int nb = enc(cps, k, b);
        if (nb == 0) {
            vb[n][0] = (uint8_t)alpha[test_rnd_int(nalpha)];
            vl[n++] = 1;
            continue;
        }
        int s = test_rnd_int(nb), l = 1 + test_rnd_int(6);
        if (s + l > nb) l = nb - s;
        memcpy(vb[n], b + s, (size_t)l);
        vl[n++] = (size_t)l;
    }
    const uint8_t *ptrs[NV];
    for (int i = 0; i < NV; i++)
        ptrs[i] = vb[i];
    gptc_err err;
    gptc_status st = gptc_gvocab_new(NV, ptrs, vl, veog, v, &err);
    CHECK(st == GPTC_OK, "vocab: %s", err.msg);
}

static void test_grammar(int gi)
{
    rgram *rg = calloc(1, sizeof *rg);
    rparse(rg, grammars[gi]);
    /* put root first for gen's convenience: find it */
    int root = -1;
    for (int i = 0; i < rg->n; i++)
        if (!strcmp(rg->name[i], "root")) root = i;
    CHECK(root >= 0, "grammar %d: reference has a root", gi);
    if (root < 0) return;
    rnode *rootbody = rg->body[root];
    G = rg;
    nalpha = 0;
    for (int i = 0; i < rg->n; i++)
        collect(rg->body[i]);
    add_alpha('a');
    add_alpha(' ');
    add_alpha(0xE9);
    add_alpha(0x20AC);
    add_alpha(0x1F600);

    gptc_gbnf *g = NULL;
    gptc_err err;
    gptc_status st = gptc_gbnf_parse(grammars[gi], strlen(grammars[gi]), NULL, &g, &err);
    CHECK(st == GPTC_OK, "grammar %d parses: %s", gi, err.msg);
    if (st) return;
    gptc_gvocab *v = NULL;
    rnode *save0 = rg->body[0];
    rg->body[0] = rootbody; /* gen() for the vocabulary uses body[0] */
    make_vocab(rg, &v);
    rg->body[0] = save0;
    gptc_gmatcher *m = NULL;
    st = gptc_gmatcher_new(g, v, &m, &err);
    CHECK(st == GPTC_OK, "matcher: %s", err.msg);
    if (st) return;

    int agree = 0, disagree = 0, positives = 0, prefix_bad = 0;
    for (int t = 0; t < 1500; t++) {
        uint32_t cps[80];
        int n = 0;
        int kind = t % 3;
        if (kind < 2) {
            gen_fail = 0;
            G = rg;
            gen(rootbody, cps, &n, 0);
            if (gen_fail || n > 63) continue;
            if (kind == 1 && n > 0) { /* mutate */
                int p = test_rnd_int(n), op = test_rnd_int(3);
                if (op == 0) {
                    memmove(cps + p, cps + p + 1, (size_t)(n - p - 1) * sizeof *cps);
                    n--;
                } else if (op == 1 && n < 63) {
                    memmove(cps + p + 1, cps + p, (size_t)(n - p) * sizeof *cps);
                    cps[p] = alpha[test_rnd_int(nalpha)];
                    n++;
                } else {
                    cps[p] = alpha[test_rnd_int(nalpha)];
                }
            }
        } else {
            n = test_rnd_int(12);
            for (int i = 0; i < n; i++)
                cps[i] = alpha[test_rnd_int(nalpha)];
        }
        int want = ref_accepts(rg, cps, n);
        uint8_t b[300];
        int nb = enc(cps, n, b);
        int got = m_accepts(m, b, nb);
        if (got == want)
            agree++;
        else {
            disagree++;
            if (disagree <= 3)
                printf("grammar %d: '%.*s' matcher %d reference %d\n", gi, nb, (const char *)b, got,
                       want);
        }
        if (want) {
            positives++;
            /* every byte prefix stays alive */
            gptc_gmatcher_reset(m);
            for (int i = 0; i < nb; i++)
                if (gptc_gmatcher_accept_bytes(m, b + i, 1, &err)) {
                    prefix_bad++;
                    break;
                }
        }
    }
    CHECK(disagree == 0, "grammar %d: matcher and reference disagree on %d of %d strings", gi,
          disagree, agree + disagree);
    CHECK(positives >= 50, "grammar %d: only %d accepted strings", gi, positives);
    CHECK(prefix_bad == 0, "grammar %d: %d accepted strings had a dead prefix", gi, prefix_bad);

    /* masks against token-by-token checks; generation under the mask parses */
    int words = (NV + 31) / 32;
    uint32_t mask[(NV + 31) / 32];
    int mask_bad = 0, gen_bad = 0, gens = 0, stuck = 0, slow_bad = 0, slow_n = 0;
    /* the slow path (cut 0: the plain trie walk of the whole state) follows the same tokens */
    gptc_gmatcher *slow = NULL;
    st = gptc_gmatcher_new(g, v, &slow, &err);
    CHECK(st == GPTC_OK, "slow matcher: %s", err.msg);
    if (st) return;
    gptc_gmatcher_set_cut(slow, 0);
    uint32_t smask[(NV + 31) / 32];
    for (int cut = 8; cut >= 0; cut = cut == 8 ? 2 : cut - 1) {
        gptc_gmatcher_set_cut(m, cut);
        for (int run = 0; run < 40; run++) {
            gptc_gmatcher_reset(m);
            gptc_gmatcher_reset(slow);
            uint8_t text[600];
            int nt = 0;
            for (int step = 0; step < 120; step++) {
                st = gptc_gmatcher_mask(m, mask, &err);
                if (st) {
                    mask_bad++;
                    break;
                }
                if (cut > 0) {
                    slow_n++;
                    if (gptc_gmatcher_mask(slow, smask, &err) || memcmp(mask, smask, sizeof mask)) {
                        if (slow_bad < 3)
                            printf("grammar %d cut %d: fast and slow masks differ\n", gi, cut);
                        slow_bad++;
                    }
                }
                int allowed[NV], na = 0;
                for (int id = 0; id < NV; id++) {
                    int bit = (int)(mask[id >> 5] >> (id & 31) & 1);
                    int want;
                    if (veog[id])
                        want = gptc_gmatcher_can_end(m);
                    else
                        want = vl[id] > 0 && gptc_gmatcher_would_accept(m, vb[id], vl[id]);
                    if (bit != want) {
                        if (mask_bad < 3)
                            printf("grammar %d cut %d: token %d '%.*s' mask %d check %d\n", gi, cut,
                                   id, (int)vl[id], vb[id], bit, want);
                        mask_bad++;
                    }
                    if (bit) allowed[na++] = id;
                }
                if (na == 0) {
                    stuck++;
                    break;
                }
                int id = allowed[test_rnd_int(na)];
                if (veog[0] && (mask[0] & 1) && (nt > 20 || test_rnd_int(8) == 0)) id = 0;
                if (veog[id]) {
                    /* decode text back to codepoints and check with the reference */
                    uint32_t cps[200];
                    int n = 0, ok = 1;
                    for (int i = 0; i < nt && n < 200;) {
                        uint8_t c = text[i];
                        int l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
                        uint32_t cp = l == 1 ? c : (uint32_t)(c & (0x3F >> (l - 1)));
                        for (int j = 1; j < l; j++)
                            cp = (cp << 6) | (text[i + j] & 0x3F);
                        cps[n++] = cp;
                        i += l;
                    }
                    if (n <= 63) {
                        gens++;
                        ok = ref_accepts(rg, cps, n);
                        if (!ok) gen_bad++;
                    }
                    break;
                }
                st = gptc_gmatcher_accept_token(m, id, &err);
                if (st || (cut > 0 && gptc_gmatcher_accept_token(slow, id, &err))) {
                    gen_bad++;
                    break;
                }
                if (nt + (int)vl[id] > 590) break;
                memcpy(text + nt, vb[id], vl[id]);
                nt += (int)vl[id];
            }
        }
        if (cut == 0) break;
    }
    (void)words;
    CHECK(slow_bad == 0 && slow_n > 100,
          "grammar %d: fast and slow masks differ at %d of %d states", gi, slow_bad, slow_n);
    gptc_gmatcher_free(slow);
    CHECK(mask_bad == 0, "grammar %d: %d mask bits differ from the token check", gi, mask_bad);
    CHECK(gen_bad == 0, "grammar %d: %d generations do not parse", gi, gen_bad);
    CHECK(gens >= 10, "grammar %d: only %d generations ended", gi, gens);
    CHECK(stuck == 0, "grammar %d: %d generations found no allowed token", gi, stuck);
    gptc_gmatcher_free(m);
    gptc_gvocab_free(v);
    gptc_gbnf_free(g);
    free_rgram(rg);
}

/* ----- bad grammars ----- */
/* clang-format off */
static const struct { const char *text; const char *msg; } bad[] = {
    {"", "no rule named 'root'"},
    {"root ::= foo\n", "line 1 col 10: undefined rule 'foo'"},
    {"root ::= \"abc\n", "unterminated"},
    {"root ::= [a-\n", "unterminated"},
    {"root ::= [z-a]\n", "reversed"},
    {"root ::= (\"a\"\n", "missing ')'"},
    {"root ::= \"a\")\n", "unexpected ')'"},
    {"root ::= \"a\"{3,1}\n", "n < m"},
    {"root ::= \"a\"{x}\n", "expected a number"},
    {"root ::= \"a\"{2\n", "expected '}'"},
    {"root ::= \"a\"{100000}\n", "too large"},
    {"root ::= \"\\q\"\n", "unknown escape"},
    {"root ::= \"\\u12\"\n", "hex digits"},
    {"root ::= \"\\uD800\"\n", "not a Unicode scalar"},
    {"root ::= \"\xff\"\n", "invalid UTF-8"},
    {"root ::= root \"a\" | \"b\"\n", "'root' is left-recursive"},
    {"root ::= a\na ::= b \"x\"\nb ::= \"\" | a\n", "left-recursive"},
    {"root ::= x? root\nx ::= \"a\"\n", "left-recursive"},
    {"root ::= \"a\"\nroot ::= \"b\"\n", "defined twice"},
    {"root = \"a\"\n", "expected '::='"},
    {"::= \"a\"\n", "expected a rule name"},
    {"root ::= \"a\" @\n", "unexpected character"},
    {"root ::= (a ::= \"b\")\n", "inside a group"},
    {"root ::= (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((\"a\"", "nested too deeply"},
};
/* clang-format on */

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gptc_gbnf *g = NULL;
        gptc_err err;
        gptc_status st = gptc_gbnf_parse(bad[i].text, strlen(bad[i].text), NULL, &g, &err);
        CHECK(st != GPTC_OK && strstr(err.msg, bad[i].msg), "bad grammar %zu: want '%s', got '%s'",
              i, bad[i].msg, st ? err.msg : "ok");
        CHECK(g == NULL, "bad grammar %zu: no output", i);
        gptc_gbnf_free(g);
    }
    /* too large: many elements */
    size_t n = 3 * 1000000 + 16;
    char *big = malloc(n);
    strcpy(big, "root ::= \"");
    size_t k = strlen(big);
    while (k < n - 4)
        big[k++] = 'a';
    big[k++] = '"';
    big[k] = 0;
    gptc_gbnf *g = NULL;
    gptc_err err;
    gptc_status st = gptc_gbnf_parse(big, k, NULL, &g, &err);
    CHECK(st == GPTC_E_RANGE && strstr(err.msg, "too large"), "big grammar: %s", err.msg);
    free(big);
    /* exponential ambiguity is bounded: an error, not a hang */
    const char *amb = "root ::= x* \"!\"\nx ::= \"a\" | \"a\" y\ny ::= x | \"\" \n";
    st = gptc_gbnf_parse(amb, strlen(amb), NULL, &g, &err);
    CHECK(st == GPTC_OK, "ambiguous grammar parses: %s", err.msg);
    if (st == GPTC_OK) {
        gptc_gmatcher *m = NULL;
        st = gptc_gmatcher_new(g, NULL, &m, &err);
        CHECK(st == GPTC_OK, "ambiguous matcher");
        gptc_status s2 = GPTC_OK;
        for (int i = 0; i < 3000 && s2 == GPTC_OK; i++)
            s2 = gptc_gmatcher_accept_bytes(m, (const uint8_t *)"a", 1, &err);
        CHECK(s2 == GPTC_OK || s2 == GPTC_E_RANGE, "ambiguity: ok or a bound, got %s", err.msg);
        gptc_gmatcher_free(m);
        gptc_gbnf_free(g);
    }
    /* a custom root and a rule reachable only through it */
    const char *two = "start ::= \"s\" other\nother ::= [0-9]+\n";
    st = gptc_gbnf_parse(two, strlen(two), "start", &g, &err);
    CHECK(st == GPTC_OK, "custom root: %s", err.msg);
    if (st == GPTC_OK) {
        gptc_gmatcher *m = NULL;
        gptc_gmatcher_new(g, NULL, &m, &err);
        CHECK(m_accepts(m, (const uint8_t *)"s42", 3), "custom root accepts s42");
        CHECK(!m_accepts(m, (const uint8_t *)"s", 1), "custom root rejects s");
        CHECK(gptc_gmatcher_accept_bytes(m, (const uint8_t *)"x", 1, &err) == GPTC_E_INVALID,
              "rejected byte is GPTC_E_INVALID");
        gptc_gmatcher_free(m);
        gptc_gbnf_free(g);
    }
}

/* ----- fast path = slow path on a real 150k-token vocabulary ----- */

/* GPT-2's byte-level alphabet: codepoint -> byte */
static int qcp_byte(uint32_t c)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        uint32_t cp = keep ? (uint32_t)b : 256u + (uint32_t)n++;
        if (cp == c) return b;
    }
    return -1;
}

static const char *k_qschema =
    "{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":100000},"
    "\"name\":{\"type\":\"string\",\"maxLength\":12},"
    "\"free\":{\"type\":\"string\"},"
    "\"score\":{\"type\":\"number\"},"
    "\"role\":{\"enum\":[\"admin\",\"user\"]},"
    "\"day\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":3},"
    "\"sub\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]},"
    "\"b\":{\"type\":\"boolean\"}},\"required\":[\"a\"]}},"
    "\"required\":[\"id\",\"name\",\"free\",\"role\",\"tags\",\"sub\"]}";

/* Random generations under a JSON schema and the JSON grammar over Qwen2's vocabulary: at
 * every state the default (cached, cut) mask equals the plain walk's. */
static void test_fast_slow_qwen2(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizers/qwen2/vocab.json", test_data_dir());
    json_error_t je;
    json_t *vj = json_load_file(path, 0, &je);
    if (!vj) {
        printf("skipped: the Qwen2 fast/slow mask test (%s)\n", je.text);
        return;
    }
    static int cpb[512];
    for (uint32_t c = 0; c < 512; c++)
        cpb[c] = qcp_byte(c);
    int nv = (int)json_object_size(vj) + 1; /* + an end token */
    uint8_t **bytes = calloc((size_t)nv, sizeof *bytes);
    size_t *lens = calloc((size_t)nv, sizeof *lens);
    uint8_t *eog = calloc((size_t)nv, 1);
    const char *k;
    json_t *jv;
    json_object_foreach(vj, k, jv)
    {
        int id = (int)json_integer_value(jv);
        size_t kl = strlen(k);
        if (id < 0 || id >= nv - 1 || kl > 256) continue;
        uint8_t *b = malloc(kl + 1);
        size_t n = 0;
        const unsigned char *q = (const unsigned char *)k;
        while (*q && b) {
            uint32_t c = *q;
            int l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            if (l > 1) c &= 0x3Fu >> (l - 1);
            for (int i = 1; i < l; i++)
                c = (c << 6) | (q[i] & 0x3F);
            q += l;
            if (c >= 512 || cpb[c] < 0) {
                n = 0;
                break;
            }
            b[n++] = (uint8_t)cpb[c];
        }
        bytes[id] = b;
        lens[id] = n;
    }
    json_decref(vj);
    eog[nv - 1] = 1;
    gptc_err err;
    gptc_gvocab *v = NULL;
    gptc_status st = gptc_gvocab_new(nv, (const uint8_t *const *)bytes, lens, eog, &v, &err);
    CHECK(st == GPTC_OK, "qwen2 vocab: %s", err.msg);
    int words = (nv + 31) / 32;
    uint32_t *fm = malloc((size_t)words * 4), *sm = malloc((size_t)words * 4);
    int32_t *allowed = malloc((size_t)nv * sizeof *allowed);
    for (int gi = 0; gi < 2 && st == GPTC_OK; gi++) {
        char *gbnf = NULL;
        size_t glen = 0;
        if (gi == 0) {
            st = gptc_schema_to_gbnf(k_qschema, strlen(k_qschema), &gbnf, &glen, &err);
        } else {
            gbnf = strdup(grammars[0]); /* JSON */
            glen = strlen(gbnf);
        }
        CHECK(st == GPTC_OK, "qwen2 grammar %d: %s", gi, err.msg);
        gptc_gbnf *g = NULL;
        gptc_gmatcher *fast = NULL, *slow = NULL;
        if (st == GPTC_OK) st = gptc_gbnf_parse(gbnf, glen, NULL, &g, &err);
        if (st == GPTC_OK) st = gptc_gmatcher_new(g, v, &fast, &err);
        if (st == GPTC_OK) st = gptc_gmatcher_new(g, v, &slow, &err);
        CHECK(st == GPTC_OK, "qwen2 matcher %d: %s", gi, err.msg);
        free(gbnf);
        if (st) break;
        gptc_gmatcher_set_cut(slow, 0);
        int states = 0, differ = 0;
        for (int run = 0; run < 4; run++) {
            gptc_gmatcher_reset(fast);
            gptc_gmatcher_reset(slow);
            for (int step = 0; step < 40; step++) {
                if (gptc_gmatcher_mask(fast, fm, &err) || gptc_gmatcher_mask(slow, sm, &err)) {
                    differ++;
                    break;
                }
                states++;
                if (memcmp(fm, sm, (size_t)words * 4)) differ++;
                int na = 0;
                for (int id = 0; id < nv; id++)
                    if (fm[id >> 5] >> (id & 31) & 1) allowed[na++] = id;
                if (na == 0) break;
                /* mostly short tokens (they move through the grammar), sometimes any */
                int32_t id = allowed[test_rnd_int(na)];
                for (int tries = 0; tries < 20 && lens[id] > 2 && test_rnd_int(4); tries++)
                    id = allowed[test_rnd_int(na)];
                if (eog[id]) break;
                if (gptc_gmatcher_accept_token(fast, id, &err) ||
                    gptc_gmatcher_accept_token(slow, id, &err)) {
                    differ++;
                    break;
                }
            }
        }
        CHECK(differ == 0 && states >= 40,
              "qwen2 grammar %d: fast and slow masks differ at %d of %d states", gi, differ,
              states);
        gptc_gmatcher_free(fast);
        gptc_gmatcher_free(slow);
        gptc_gbnf_free(g);
    }
    free(fm);
    free(sm);
    free(allowed);
    gptc_gvocab_free(v);
    for (int i = 0; i < nv; i++)
        free(bytes[i]);
    free(bytes);
    free(lens);
    free(eog);
}

int main(void)
{
    test_rng_seed(12345ull);
    test_bad();
    test_fast_slow_qwen2();
    for (int i = 0; i < NG; i++)
        test_grammar(i);
    return test_summary();
}
