/*
 * constraint.c — the public grammar constraint: a compiled grammar, its matcher over a
 * vocabulary, and a mask buffer; gptc_grammar_apply turns the mask into -inf logits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/schema.h"

enum { LAZY_OFF = 0, LAZY_WAIT, LAZY_ON, LAZY_GAVE_UP };
#define LAZY_TAIL 64

struct gptc_grammar {
    gptc_gbnf *g;
    gptc_gmatcher *m;
    const gptc_gvocab *v;
    uint32_t *mask;
    int n_vocab;
    /* lazy (gptc_grammar_set_lazy): free text until the trigger */
    int lazy;
    char trig[LAZY_TAIL];
    size_t trig_len;
    int32_t trig_id;
    int in_think;
    char tail[LAZY_TAIL]; /* the last bytes of the text, to find markers across tokens */
    size_t n_tail;
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

gptc_status gptc_grammar_set_lazy(gptc_grammar *c, const char *trigger, size_t len,
                                  int32_t trigger_id, int in_think, gptc_err *err)
{
    gptc_err_clear(err);
    if (!trigger || len == 0 || len > LAZY_TAIL / 2)
        return gptc_fail(err, GPTC_E_INVALID, "grammar: a lazy trigger must be 1 to %d bytes",
                         LAZY_TAIL / 2);
    memcpy(c->trig, trigger, len);
    c->trig_len = len;
    c->trig_id = trigger_id;
    c->in_think = in_think != 0;
    c->n_tail = 0;
    c->lazy = LAZY_WAIT;
    gptc_gmatcher_reset(c->m);
    return GPTC_OK;
}

int gptc_grammar_engaged(const gptc_grammar *c)
{
    return c->lazy == LAZY_OFF || c->lazy == LAZY_ON;
}

static int ends_with(const char *p, size_t n, const char *s, size_t k)
{
    return n >= k && !memcmp(p + n - k, s, k);
}

/* Free text while waiting: look for the think markers and the trigger byte by byte. */
static gptc_status lazy_text(gptc_grammar *c, const uint8_t *b, size_t n, gptc_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (c->n_tail == LAZY_TAIL) {
            memmove(c->tail, c->tail + LAZY_TAIL / 2, LAZY_TAIL / 2);
            c->n_tail = LAZY_TAIL / 2;
        }
        c->tail[c->n_tail++] = (char)b[i];
        if (ends_with(c->tail, c->n_tail, "<think>", 7)) c->in_think = 1;
        if (ends_with(c->tail, c->n_tail, "</think>", 8)) c->in_think = 0;
        if (c->in_think || !ends_with(c->tail, c->n_tail, c->trig, c->trig_len)) continue;
        /* engaged: the rest of this token is the grammar's first text */
        c->lazy = LAZY_ON;
        gptc_gmatcher_reset(c->m);
        if (i + 1 < n && gptc_gmatcher_accept_bytes(c->m, b + i + 1, n - i - 1, err)) {
            /* the model went on past the opener in a way the calls cannot: stay free text
             * (the reply is then parsed, and a broken call stays text) */
            gptc_err_clear(err);
            c->lazy = LAZY_GAVE_UP;
        }
        return GPTC_OK;
    }
    return GPTC_OK;
}

gptc_status gptc_grammar_apply(gptc_grammar *c, float *logits, gptc_err *err)
{
    if (c->lazy == LAZY_WAIT || c->lazy == LAZY_GAVE_UP) return GPTC_OK;
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
    if (c->lazy == LAZY_GAVE_UP) return GPTC_OK;
    if (c->lazy == LAZY_WAIT) {
        gptc_err_clear(err);
        if (id < 0 || id >= c->n_vocab)
            return gptc_fail(err, GPTC_E_RANGE, "grammar: token %d out of the vocabulary", id);
        if (id == c->trig_id && !c->in_think) {
            c->lazy = LAZY_ON;
            gptc_gmatcher_reset(c->m);
            return GPTC_OK;
        }
        size_t n = 0;
        const uint8_t *b = gptc_gvocab_token(c->v, id, &n);
        return lazy_text(c, b, n, err);
    }
    return gptc_gmatcher_accept_token(c->m, id, err);
}

int gptc_grammar_can_end(const gptc_grammar *c)
{
    if (c->lazy == LAZY_WAIT || c->lazy == LAZY_GAVE_UP) return 1;
    return gptc_gmatcher_can_end(c->m);
}
int gptc_grammar_must_end(const gptc_grammar *c)
{
    if (c->lazy == LAZY_WAIT || c->lazy == LAZY_GAVE_UP) return 0;
    return gptc_gmatcher_must_end(c->m);
}
