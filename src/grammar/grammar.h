/*
 * grammar.h — the grammar engine: GBNF (llama.cpp's grammar format) compiled to flat rules,
 * an incremental pushdown matcher over bytes, and the per-vocabulary token mask.
 *
 *   gptc_gbnf      a compiled grammar (immutable; shareable between threads)
 *   gptc_gvocab    a vocabulary's token bytes as a trie (immutable; shareable)
 *   gptc_gmatcher  one generation's position in the grammar + its mask caches (one thread)
 *
 * The matcher's state is a set of stacks. A stack is a list of element positions (the top is a
 * character class still to match; below it, where each enclosing rule continues); stacks are
 * hash-consed nodes (pos, parent), so a state is a sorted array of node ids and two equal
 * states compare as arrays. Codepoints arrive as bytes: a partial UTF-8 sequence keeps only the
 * stacks whose class intersects the codepoints that the bytes so far can still become.
 */
#ifndef GPTC_GRAMMAR_H
#define GPTC_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"

enum { GPTC_GE_END = 0, GPTC_GE_CHAR = 1, GPTC_GE_REF = 2 };

typedef struct gptc_gelem {
    int32_t type; /* GPTC_GE_* */
    int32_t val;  /* CHAR: class index; REF: rule index */
} gptc_gelem;

typedef struct gptc_gclass {
    uint64_t ascii[2]; /* membership of codepoints 0..127, negation applied */
    int neg;
    uint32_t r0, nr; /* sorted, merged ranges: ranges[2*r0 ...] (lo, hi) pairs */
} gptc_gclass;

typedef struct gptc_gbnf {
    gptc_gelem *elems;
    int n_elems;
    int n_rules;
    int *rule_alt0; /* (n_rules) first index into alts */
    int *rule_nalt; /* (n_rules) */
    int *alts;      /* element position where each alternative starts */
    char **rule_names;
    gptc_gclass *classes;
    int n_classes;
    uint32_t *ranges;
    int root;
} gptc_gbnf;

/* Limits: larger grammars are an error, never a hang. */
#define GPTC_GBNF_MAX_ELEMS (1 << 20)
#define GPTC_GBNF_MAX_REPEAT 10000

/* Parse GBNF text; root: the start rule's name (NULL: "root"). Errors name line and column. */
gptc_status gptc_gbnf_parse(const char *text, size_t len, const char *root, gptc_gbnf **out,
                            gptc_err *err);
void gptc_gbnf_free(gptc_gbnf *g);
int gptc_gclass_has(const gptc_gbnf *g, int cls, uint32_t cp);

/* A vocabulary as the grammar sees it: each token's bytes (control tokens have none and are
 * never allowed), and which tokens end generation (allowed exactly when the grammar can end). */
typedef struct gptc_gvocab gptc_gvocab;
/* tok_bytes[i], tok_len[i]: token i's bytes (len 0: never allowed); eog[i] nonzero: ends. */
gptc_status gptc_gvocab_new(int n_vocab, const uint8_t *const *tok_bytes, const size_t *tok_len,
                            const uint8_t *eog, gptc_gvocab **out, gptc_err *err);
/* From a tokenizer: bytes of each token as gptc_tok_decode gives them, EOG from the tokenizer. */
gptc_status gptc_gvocab_from_tokenizer(const gptc_tokenizer *tok, gptc_gvocab **out, gptc_err *err);
void gptc_gvocab_free(gptc_gvocab *v);
int gptc_gvocab_n(const gptc_gvocab *v);
/* Token id's bytes (*len 0: none, e.g. a control or end token). */
const uint8_t *gptc_gvocab_token(const gptc_gvocab *v, int32_t id, size_t *len);

typedef struct gptc_gmatcher gptc_gmatcher;
/* g and v (v may be NULL if no masks are asked for) must outlive the matcher. */
gptc_status gptc_gmatcher_new(const gptc_gbnf *g, const gptc_gvocab *v, gptc_gmatcher **out,
                              gptc_err *err);
void gptc_gmatcher_free(gptc_gmatcher *m);
/* Advance over bytes. Returns GPTC_OK; GPTC_E_INVALID if the bytes leave the grammar (the
 * state is then unchanged); GPTC_E_RANGE when the state grows past the engine's bounds. */
gptc_status gptc_gmatcher_accept_bytes(gptc_gmatcher *m, const uint8_t *p, size_t n, gptc_err *err);
/* Would these bytes be accepted (state unchanged either way)? 1 yes, 0 no. */
int gptc_gmatcher_would_accept(gptc_gmatcher *m, const uint8_t *p, size_t n);
/* The text so far is a whole sentence of the grammar. */
int gptc_gmatcher_can_end(const gptc_gmatcher *m);
/* Nothing but the end is possible (the state holds only the empty stack). */
int gptc_gmatcher_must_end(const gptc_gmatcher *m);
/* Mask of the tokens allowed now: bit i of words[i / 32]; (n_vocab + 31) / 32 words. EOG tokens
 * are allowed exactly when the grammar can end. */
gptc_status gptc_gmatcher_mask(gptc_gmatcher *m, uint32_t *words, gptc_err *err);
/* Advance over a token (an EOG token is accepted only when the grammar can end). */
gptc_status gptc_gmatcher_accept_token(gptc_gmatcher *m, int32_t id, gptc_err *err);
/* Tests and benchmarks: how many stack frames the mask's local cache keeps (1..8; default 8);
 * 0: no caches, every mask is the plain trie walk of the whole state (the reference for the
 * fast path). Clears the caches. */
void gptc_gmatcher_set_cut(gptc_gmatcher *m, int frames);
/* Back to the start of the grammar (caches kept). */
void gptc_gmatcher_reset(gptc_gmatcher *m);

#endif
