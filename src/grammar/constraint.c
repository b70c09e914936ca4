/*
 * constraint.c — the public grammar constraint: a compiled grammar, its matcher over a
 * vocabulary, and a mask buffer; gptc_grammar_apply turns the mask into -inf logits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/schema.h"

struct gptc_grammar {
    gptc_gbnf *g;
    gptc_gmatcher *m;
    const gptc_gvocab *v;
    uint32_t *mask;
    int n_vocab;
};

gptc_status gptc_grammar_from_gbnf(const gptc_gvocab *v, const char *gbnf, size_t len,
                                   const char *root, gptc_grammar **out, gptc_err *err)
{
    gptc_err_clear(err);
    if (!out) return gptc_fail(err, GPTC_E_INVALID, "grammar: out is NULL");
    *out = NULL;
    if (!v) return gptc_fail(err, GPTC_E_INVALID, "grammar: no vocabulary");
    gptc_grammar *c = calloc(1, sizeof *c);
    if (!c) return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    c->v = v;
    c->n_vocab = gptc_gvocab_n(v);
    c->mask = malloc((size_t)(c->n_vocab + 31) / 32 * sizeof *c->mask);
    gptc_status st = c->mask ? GPTC_OK : gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    if (!st) st = gptc_gbnf_parse(gbnf, len, root, &c->g, err);
    if (!st) st = gptc_gmatcher_new(c->g, v, &c->m, err);
    if (st) {
        gptc_grammar_free(c);
        return st;
    }
    *out = c;
    return GPTC_OK;
}

gptc_status gptc_grammar_from_json_schema(const gptc_gvocab *v, const char *schema, size_t len,
                                          gptc_grammar **out, gptc_err *err)
{
    char *gbnf = NULL;
    size_t glen = 0;
    gptc_status st = gptc_schema_to_gbnf(schema, len, &gbnf, &glen, err);
    if (st) return st;
    st = gptc_grammar_from_gbnf(v, gbnf, glen, NULL, out, err);
    free(gbnf);
    return st;
}

void gptc_grammar_free(gptc_grammar *c)
{
    if (!c) return;
    gptc_gmatcher_free(c->m);
    gptc_gbnf_free(c->g);
    free(c->mask);
    free(c);
}

gptc_status gptc_grammar_apply(gptc_grammar *c, float *logits, gptc_err *err)
{
    gptc_status st = gptc_gmatcher_mask(c->m, c->mask, err);
    if (st) return st;
    int words = (c->n_vocab + 31) / 32, any = 0;
    for (int w = 0; w < words; w++) {
        uint32_t b = c->mask[w];
        if (b == 0xFFFFFFFFu) {
            any = 1;
            continue;
        }
        int base = w * 32, n = c->n_vocab - base < 32 ? c->n_vocab - base : 32;
        if (b) any = 1;
        for (int i = 0; i < n; i++)
            if (!(b >> i & 1)) logits[base + i] = -INFINITY;
    }
    if (!any)
        return gptc_fail(err, GPTC_E_INVALID,
                         "grammar: no token can continue the text (the vocabulary cannot spell "
                         "what the grammar needs next)");
    return GPTC_OK;
}

gptc_status gptc_grammar_accept(gptc_grammar *c, int32_t id, gptc_err *err)
{
    return gptc_gmatcher_accept_token(c->m, id, err);
}

int gptc_grammar_can_end(const gptc_grammar *c)
{
    return gptc_gmatcher_can_end(c->m);
}
int gptc_grammar_must_end(const gptc_grammar *c)
{
    return gptc_gmatcher_must_end(c->m);
}
