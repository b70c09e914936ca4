/*
 * matcher.c — the incremental grammar matcher and the token mask.
 *
 * State. A set of stacks, each a hash-consed node (pos, parent): pos is the element to match
 * next (always a character class once expanded), parent the node of the enclosing rule's
 * continuation. Node 0 is the empty stack (the grammar is complete); node 1 stands for "an
 * unknown rest of the stack" and is only used by the mask's truncated states (below). Expanding
 * a rule reference pushes each alternative; a reference that ends its alternative is a tail call
 * and pushes nothing (so X* does not grow the stack). Rules are never left-recursive (gbnf.c
 * rejects it), so expansion terminates; a visited set per step keeps it linear.
 *
 * Bytes. A codepoint's first bytes keep only the stacks whose class can still match one of the
 * codepoints those bytes may become; the last byte advances them. Invalid UTF-8 never matches.
 *
 * Masks. The vocabulary is a byte trie in preorder (gvocab). The mask of a state is a walk of the
 * trie that advances the state byte by byte, sharing prefixes and skipping dead subtrees; the
 * walk interns the states it meets and steps each (state, byte) once (ws_step), so most trie
 * nodes cost a table lookup. Two caches make repeated states cheap:
 *   exact:  state (heads + partial UTF-8) -> mask;
 *   local:  the state with every stack cut to its top TRUNC frames (node 1 below them) -> the
 *           tokens decided inside those frames (XGrammar's context-independent tokens), plus
 *           the "uncertain" tokens that run past a cut stack's bottom; only those are walked
 *           again against the full state (walk_list, prefixes shared).
 * Cut 0 (gptc_gmatcher_set_cut) is the plain walk without caches, the tests' reference.
 * Nodes made while walking are dropped afterwards (the hash chains are LIFO, so truncating the
 * arena unlinks them), so the arena only grows with the real text's states.
 */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "gptc.h"

#define MAX_NODES (1 << 22)
#define MAX_HEADS 4096
#define MAX_PUSH_DEPTH 4096
#define TRUNC 8
#define DEFAULT_CUT                                                                                \
    2 /* frames in the local key; a key with many uncertain tokens goes to TRUNC                   \
       */
#define CACHE_MAX_BYTES (64u << 20)

/* ----- vocabulary trie ----- */

struct gptc_gvocab {
    int n_vocab;
    int n_nodes;
    uint8_t *byte;  /* (n_nodes) byte on the edge into the node; node 0 is the root */
    int32_t *depth; /* (n_nodes) */
    int32_t *end;   /* (n_nodes) end of the node's subtree in preorder */
    int32_t *tok0;  /* (n_nodes + 1) tokens ending at node i: toks[tok0[i], tok0[i + 1]) */
    int32_t *toks;  /* token ids in preorder of their end node */
    uint8_t *eog;   /* (n_vocab) */
    int32_t *eog_ids;
    int n_eog;
    uint8_t **bytes;
    size_t *len;
    int max_depth;
};

int gptc_gvocab_n(const gptc_gvocab *v)
{
    return v->n_vocab;
}

const uint8_t *gptc_gvocab_token(const gptc_gvocab *v, int32_t id, size_t *len)
{
    *len = id >= 0 && id < v->n_vocab ? v->len[id] : 0;
    return *len ? v->bytes[id] : NULL;
}

void gptc_gvocab_free(gptc_gvocab *v)
{
    if (!v) return;
    if (v->bytes)
        for (int i = 0; i < v->n_vocab; i++)
            free(v->bytes[i]);
    free(v->bytes);
    free(v->len);
    free(v->byte);
    free(v->depth);
    free(v->end);
    free(v->tok0);
    free(v->toks);
    free(v->eog);
    free(v->eog_ids);
    free(v);
}

static const gptc_gvocab *sort_vocab;

static int cmp_tok(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = sort_vocab->len[x], ly = sort_vocab->len[y];
    int c = memcmp(sort_vocab->bytes[x], sort_vocab->bytes[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : 1;
}

gptc_status gptc_gvocab_new(int n_vocab, const uint8_t *const *tok_bytes, const size_t *tok_len,
                            const uint8_t *eog, gptc_gvocab **out, gptc_err *err)
{
    gptc_err_clear(err);
    *out = NULL;
    if (n_vocab <= 0) return gptc_fail(err, GPTC_E_INVALID, "grammar: empty vocabulary");
    gptc_gvocab *v = calloc(1, sizeof *v);
    if (!v) return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    v->n_vocab = n_vocab;
    v->bytes = calloc((size_t)n_vocab, sizeof *v->bytes);
    v->len = calloc((size_t)n_vocab, sizeof *v->len);
    v->eog = calloc((size_t)n_vocab, 1);
    v->eog_ids = calloc((size_t)n_vocab, sizeof *v->eog_ids);
    int32_t *order = malloc((size_t)n_vocab * sizeof *order);
    size_t total = 1;
    if (!v->bytes || !v->len || !v->eog || !v->eog_ids || !order) goto nomem;
    int n_tok = 0;
    for (int i = 0; i < n_vocab; i++) {
        v->eog[i] = eog ? eog[i] != 0 : 0;
        if (v->eog[i]) v->eog_ids[v->n_eog++] = i;
        size_t n = v->eog[i] ? 0 : tok_len[i];
        v->len[i] = n;
        if (n) {
            v->bytes[i] = malloc(n);
            if (!v->bytes[i]) goto nomem;
            memcpy(v->bytes[i], tok_bytes[i], n);
            order[n_tok++] = i;
            total += n;
        }
    }
    sort_vocab = v;
    qsort(order, (size_t)n_tok, sizeof *order, cmp_tok);
    sort_vocab = NULL;
    /* preorder nodes: for sorted strings, each adds the nodes past its common prefix with the
     * previous one */
    if (total > (size_t)INT32_MAX / 2) goto nomem;
    v->byte = malloc(total);
    v->depth = malloc(total * sizeof(int32_t));
    v->end = malloc(total * sizeof(int32_t));
    v->tok0 = malloc((total + 1) * sizeof(int32_t));
    v->toks = malloc(((size_t)n_tok + 1) * sizeof(int32_t));
    int32_t *tnode = malloc(((size_t)n_tok + 1) * sizeof(int32_t));
    int32_t *path = malloc((total + 1) * sizeof(int32_t));
    if (!v->byte || !v->depth || !v->end || !v->tok0 || !v->toks || !tnode || !path) {
        free(tnode);
        free(path);
        goto nomem;
    }
    int nn = 1;
    v->byte[0] = 0;
    v->depth[0] = 0;
    path[0] = 0;
    size_t plen = 0;
    const uint8_t *prev = NULL;
    for (int k = 0; k < n_tok; k++) {
        int id = order[k];
        const uint8_t *b = v->bytes[id];
        size_t n = v->len[id], l = 0;
        while (prev && l < plen && l < n && prev[l] == b[l])
            l++;
        for (size_t d = l; d < n; d++) {
            v->byte[nn] = b[d];
            v->depth[nn] = (int32_t)(d + 1);
            path[d + 1] = nn;
            nn++;
        }
        tnode[k] = path[n];
        v->toks[k] = id;
        prev = b;
        plen = n;
        if ((int)n > v->max_depth) v->max_depth = (int)n;
    }
    free(path);
    v->n_nodes = nn;
    /* subtree ends: the next node in preorder whose depth is <= this one's */
    {
        int32_t *st = malloc(((size_t)v->max_depth + 2) * sizeof(int32_t));
        if (!st) {
            free(tnode);
            goto nomem;
        }
        int sp = 0;
        for (int i = 0; i < nn; i++) {
            while (sp > 0 && v->depth[st[sp - 1]] >= v->depth[i])
                v->end[st[--sp]] = i;
            st[sp++] = i;
        }
        while (sp > 0)
            v->end[st[--sp]] = nn;
        free(st);
    }
    /* tok0: first token index whose end node is >= i */
    {
        int k = 0;
        for (int i = 0; i <= nn; i++) {
            while (k < n_tok && tnode[k] < i)
                k++;
            v->tok0[i] = k;
        }
    }
    free(tnode);
    free(order);
    *out = v;
    return GPTC_OK;
nomem:
    free(order);
    gptc_gvocab_free(v);
    return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory for the vocabulary");
}

gptc_status gptc_gvocab_from_tokenizer(const gptc_tokenizer *tok, gptc_gvocab **out, gptc_err *err)
{
    int n = gptc_tok_n_vocab(tok);
    if (n <= 0) return gptc_fail(err, GPTC_E_INVALID, "grammar: empty vocabulary");
    uint8_t **b = calloc((size_t)n, sizeof *b);
    size_t *l = calloc((size_t)n, sizeof *l);
    uint8_t *e = calloc((size_t)n, 1);
    gptc_status st = GPTC_OK;
    if (!b || !l || !e) {
        st = gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
        goto done;
    }
    for (int i = 0; i < n && st == GPTC_OK; i++) {
        e[i] = gptc_tok_is_eog(tok, i) ? 1 : 0;
        if (e[i]) continue;
        char buf[256];
        size_t got = 0;
        int32_t id = i;
        st = gptc_tok_decode(tok, &id, 1, 0, buf, sizeof buf, &got, err);
        if (st) break;
        if (got > sizeof buf) {
            b[i] = malloc(got);
            if (!b[i]) {
                st = gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
                break;
            }
            st = gptc_tok_decode(tok, &id, 1, 0, (char *)b[i], got, &got, err);
        } else if (got) {
            b[i] = malloc(got);
            if (!b[i]) {
                st = gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
                break;
            }
            memcpy(b[i], buf, got);
        }
        l[i] = got;
    }
    if (st == GPTC_OK) st = gptc_gvocab_new(n, (const uint8_t *const *)b, l, e, out, err);
done:
    if (b)
        for (int i = 0; i < n; i++)
            free(b[i]);
    free(b);
    free(l);
    free(e);
    return st;
}

/* ----- caches ----- */

typedef struct {
    uint64_t hash;
    int32_t *key; /* n_key ints */
    int n_key;
    uint32_t *mask;
    int32_t *unc; /* uncertain tokens (local cache) */
    int n_unc;
} centry;

typedef struct {
    centry *e;
    int n, cap;
    int32_t *slot; /* open addressing: entry index + 1, 0 empty */
    int nslot;
    size_t bytes;
} cache;

static void cache_clear(cache *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->e[i].key);
        free(c->e[i].mask);
        free(c->e[i].unc);
    }
    c->n = 0;
    c->bytes = 0;
    if (c->slot) memset(c->slot, 0, (size_t)c->nslot * sizeof *c->slot);
}

static void cache_free(cache *c)
{
    cache_clear(c);
    free(c->e);
    free(c->slot);
}

static uint64_t hash_ints(const int32_t *k, int n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)k[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h;
}

static centry *cache_find(cache *c, const int32_t *key, int n, uint64_t h)
{
    if (!c->nslot) return NULL;
    for (int i = (int)(h & (uint64_t)(c->nslot - 1));; i = (i + 1) & (c->nslot - 1)) {
        int32_t s = c->slot[i];
        if (!s) return NULL;
        centry *e = &c->e[s - 1];
        if (e->hash == h && e->n_key == n && !memcmp(e->key, key, (size_t)n * sizeof *key))
            return e;
    }
}

/* Takes ownership of mask and unc. NULL on out of memory (they are freed). */
static centry *cache_put(cache *c, const int32_t *key, int n, uint64_t h, uint32_t *mask,
                         size_t mask_bytes, int32_t *unc, int n_unc)
{
    size_t add = mask_bytes + (size_t)n * 4 + (size_t)n_unc * 4 + 64;
    if (c->bytes + add > CACHE_MAX_BYTES) cache_clear(c);
    if (2 * (c->n + 1) > c->nslot) {
        int ns = c->nslot ? 2 * c->nslot : 256;
        int32_t *s = calloc((size_t)ns, sizeof *s);
        if (!s) goto fail;
        free(c->slot);
        c->slot = s;
        c->nslot = ns;
        for (int k = 0; k < c->n; k++) {
            int i = (int)(c->e[k].hash & (uint64_t)(ns - 1));
            while (s[i])
                i = (i + 1) & (ns - 1);
            s[i] = k + 1;
        }
    }
    if (c->n == c->cap) {
        int nc = c->cap ? 2 * c->cap : 64;
        centry *e = realloc(c->e, (size_t)nc * sizeof *e);
        if (!e) goto fail;
        c->e = e;
        c->cap = nc;
    }
    centry *e = &c->e[c->n];
    e->key = malloc((size_t)(n ? n : 1) * sizeof *key);
    if (!e->key) goto fail;
    memcpy(e->key, key, (size_t)n * sizeof *key);
    e->n_key = n;
    e->hash = h;
    e->mask = mask;
    e->unc = unc;
    e->n_unc = n_unc;
    int i = (int)(h & (uint64_t)(c->nslot - 1));
    while (c->slot[i])
        i = (i + 1) & (c->nslot - 1);
    c->slot[i] = ++c->n;
    c->bytes += add;
    return e;
fail:
    free(mask);
    free(unc);
    return NULL;
}

/* ----- matcher ----- */

typedef struct {
    int32_t pos, parent;
} snode;

typedef struct {
    uint32_t cp; /* bits so far */
    int need;    /* continuation bytes still to come; 0: none pending */
    int total;   /* length of the sequence */
} partial;

struct gptc_gmatcher {
    const gptc_gbnf *g;
    const gptc_gvocab *v;
    snode *nodes;
    int32_t *hnext;
    int n_nodes, cap_nodes;
    int32_t *bucket;
    int nbucket;
    /* the real state */
    int32_t *heads;
    int n_heads, cap_heads;
    partial pt;
    /* scratch pool for states (stack discipline) */
    int32_t *pool;
    int pool_cap;
    /* visited set of one expansion: (pos, parent) -> stamp */
    uint64_t *vkey;
    uint32_t *vstamp;
    int nvis;
    uint32_t stamp;
    int n_visited;
    int overflow; /* a bound was hit */
    cache exact, local;
    int words;
    /* DFS scratch */
    int32_t *lv_sid; /* walk state id per trie depth */
    /* walk states and their steps (see ws_step) */
    int32_t *ws_slot, *ws_where, *ws_off, *ws_cnt;
    partial *ws_pt;
    uint8_t *ws_unk;
    uint64_t *ws_h;
    int ws_n, ws_nslot;
    uint64_t *tr_key; /* (state << 8 | byte) + 1; 0 empty */
    int32_t *tr_val, *tr_used;
    int32_t *ws_rows; /* (WS_ROWS x 256) steps of the first states, WS_UNSET: not yet */
    int tr_n, tr_cap;
    int pool_top;
    int32_t *unc;
    int n_unc, cap_unc;
    int32_t *key;
    int cap_key;
    int cut; /* frames kept in the local key */
};

static uint64_t hash2(int32_t a, int32_t b)
{
    uint64_t h = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static int rehash(gptc_gmatcher *m, int nb)
{
    int32_t *b = malloc((size_t)nb * sizeof *b);
    if (!b) return -1;
    for (int i = 0; i < nb; i++)
        b[i] = -1;
    for (int i = 2; i < m->n_nodes; i++) {
        int h = (int)(hash2(m->nodes[i].pos, m->nodes[i].parent) & (uint64_t)(nb - 1));
        m->hnext[i] = b[h];
        b[h] = i;
    }
    free(m->bucket);
    m->bucket = b;
    m->nbucket = nb;
    return 0;
}

static int32_t cons(gptc_gmatcher *m, int32_t pos, int32_t parent)
{
    int h = (int)(hash2(pos, parent) & (uint64_t)(m->nbucket - 1));
    for (int32_t i = m->bucket[h]; i >= 0; i = m->hnext[i])
        if (m->nodes[i].pos == pos && m->nodes[i].parent == parent) return i;
    if (m->n_nodes >= MAX_NODES) {
        m->overflow = 1;
        return -1;
    }
    if (m->n_nodes == m->cap_nodes) {
        int nc = m->cap_nodes * 2;
        snode *n = realloc(m->nodes, (size_t)nc * sizeof *n);
        if (!n) {
            m->overflow = 1;
            return -1;
        }
        m->nodes = n;
        int32_t *x = realloc(m->hnext, (size_t)nc * sizeof *x);
        if (!x) {
            m->overflow = 1;
            return -1;
        }
        m->hnext = x;
        m->cap_nodes = nc;
    }
    int32_t id = m->n_nodes++;
    m->nodes[id].pos = pos;
    m->nodes[id].parent = parent;
    m->hnext[id] = m->bucket[h];
    m->bucket[h] = id;
    if (m->n_nodes > 2 * m->nbucket && rehash(m, m->nbucket * 4)) m->overflow = 1;
    return id;
}

/* Drop the nodes made after mark (they are at the heads of their chains). */
static void truncate_nodes(gptc_gmatcher *m, int mark)
{
    for (int i = m->n_nodes - 1; i >= mark; i--) {
        int h = (int)(hash2(m->nodes[i].pos, m->nodes[i].parent) & (uint64_t)(m->nbucket - 1));
        GPTC_ASSERT(m->bucket[h] == i);
        m->bucket[h] = m->hnext[i];
    }
    m->n_nodes = mark;
}

static int pool_reserve(gptc_gmatcher *m, int need)
{
    if (need <= m->pool_cap) return 0;
    int nc = m->pool_cap ? m->pool_cap : 1024;
    while (nc < need)
        nc *= 2;
    int32_t *p = realloc(m->pool, (size_t)nc * sizeof *p);
    if (!p) return -1;
    m->pool = p;
    m->pool_cap = nc;
    return 0;
}

/* visited set (per expansion step) */
static int visit(gptc_gmatcher *m, int32_t pos, int32_t parent)
{
    if (2 * (m->n_visited + 1) > m->nvis) {
        /* grow: rebuild empty (the caller restarts nothing: entries are lost, which only costs
         * duplicate work deduplicated later) */
        int nv = m->nvis * 2;
        uint64_t *k = malloc((size_t)nv * sizeof *k);
        uint32_t *s = calloc((size_t)nv, sizeof *s);
        if (!k || !s) {
            free(k);
            free(s);
            m->overflow = 1;
            return 0;
        }
        for (int i = 0; i < m->nvis; i++) {
            if (m->vstamp[i] != m->stamp) continue;
            int j =
                (int)(hash2((int32_t)(m->vkey[i] >> 32), (int32_t)m->vkey[i]) & (uint64_t)(nv - 1));
            while (s[j] == m->stamp)
                j = (j + 1) & (nv - 1);
            s[j] = m->stamp;
            k[j] = m->vkey[i];
        }
        free(m->vkey);
        free(m->vstamp);
        m->vkey = k;
        m->vstamp = s;
        m->nvis = nv;
    }
    uint64_t key = ((uint64_t)(uint32_t)pos << 32) | (uint32_t)parent;
    int j = (int)(hash2(pos, parent) & (uint64_t)(m->nvis - 1));
    while (m->vstamp[j] == m->stamp) {
        if (m->vkey[j] == key) return 0;
        j = (j + 1) & (m->nvis - 1);
    }
    m->vstamp[j] = m->stamp;
    m->vkey[j] = key;
    m->n_visited++;
    return 1;
}

static void new_step(gptc_gmatcher *m)
{
    m->n_visited = 0;
    if (++m->stamp == 0) {
        memset(m->vstamp, 0, (size_t)m->nvis * sizeof *m->vstamp);
        m->stamp = 1;
    }
}

/* Expand position pos under parent into heads appended at pool[*n ...] (base off). */
static void push_pos(gptc_gmatcher *m, int32_t pos, int32_t parent, int off, int *n, int depth)
{
    if (m->overflow) return;
    if (depth > MAX_PUSH_DEPTH) {
        m->overflow = 1;
        return;
    }
    const gptc_gelem *e = &m->g->elems[pos];
    if (e->type == GPTC_GE_END) {
        if (parent <= 1) {
            if (!visit(m, -1, parent)) return;
            if (pool_reserve(m, off + *n + 1)) {
                m->overflow = 1;
                return;
            }
            m->pool[off + (*n)++] = parent;
            return;
        }
        push_pos(m, m->nodes[parent].pos, m->nodes[parent].parent, off, n, depth + 1);
        return;
    }
    if (!visit(m, pos, parent)) return;
    if (e->type == GPTC_GE_CHAR) {
        int32_t id = cons(m, pos, parent);
        if (id < 0) return;
        if (*n >= MAX_HEADS) {
            m->overflow = 1;
            return;
        }
        if (pool_reserve(m, off + *n + 1)) {
            m->overflow = 1;
            return;
        }
        m->pool[off + (*n)++] = id;
        return;
    }
    /* rule reference */
    int32_t np = parent;
    if (m->g->elems[pos + 1].type != GPTC_GE_END) {
        np = cons(m, pos + 1, parent);
        if (np < 0) return;
    }
    const gptc_gbnf *g = m->g;
    int r = e->val;
    for (int a = 0; a < g->rule_nalt[r]; a++)
        push_pos(m, g->alts[g->rule_alt0[r] + a], np, off, n, depth + 1);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static int sort_unique(int32_t *a, int n)
{
    if (n <= 1) return n;
    /* insertion sort for the common tiny sets */
    if (n <= 16) {
        for (int i = 1; i < n; i++) {
            int32_t x = a[i];
            int j = i - 1;
            while (j >= 0 && a[j] > x) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = x;
        }
    } else {
        qsort(a, (size_t)n, sizeof *a, cmp_i32);
    }
    int k = 1;
    for (int i = 1; i < n; i++)
        if (a[i] != a[k - 1]) a[k++] = a[i];
    return k;
}

/* Does class cls contain some codepoint in [lo, hi]? */
static int class_meets(const gptc_gbnf *g, int cls, uint32_t lo, uint32_t hi)
{
    const gptc_gclass *k = &g->classes[cls];
    const uint32_t *r = g->ranges + 2 * k->r0;
    if (!k->neg) {
        for (uint32_t i = 0; i < k->nr; i++)
            if (r[2 * i] <= hi && r[2 * i + 1] >= lo) return 1;
        return 0;
    }
    uint32_t cur = lo;
    for (uint32_t i = 0; i < k->nr; i++) {
        if (r[2 * i + 1] < cur) continue;
        if (r[2 * i] > cur) break;
        if (r[2 * i + 1] >= hi) return 0;
        cur = r[2 * i + 1] + 1;
    }
    return 1;
}

/*
 * One byte: heads in[0, n_in) with partial *pt -> heads at pool[off ...), returns their count
 * (0: the byte is rejected) and updates *pt. in may point into the pool below off.
 * *unk is set when in holds node 1 (the byte might be taken by the unknown rest).
 */
static int step_byte(gptc_gmatcher *m, int in_off, int n_in, partial *pt, uint8_t b, int off,
                     int *unk)
{
#define IN(i) (m->pool[in_off + (i)])
    const gptc_gbnf *g = m->g;
    uint32_t cp;
    partial np = *pt;
    if (n_in > 0 && IN(0) == 1) *unk = 1;
    if (n_in > 1 && IN(1) == 1) *unk = 1; /* sorted: 0 may come first */
    if (pt->need == 0) {
        if (b < 0x80) {
            cp = b;
            np.need = 0;
        } else {
            if ((b & 0xE0) == 0xC0 && b >= 0xC2)
                np.need = 1, np.cp = b & 0x1F;
            else if ((b & 0xF0) == 0xE0)
                np.need = 2, np.cp = b & 0x0F;
            else if ((b & 0xF8) == 0xF0 && b <= 0xF4)
                np.need = 3, np.cp = b & 0x07;
            else
                return 0;
            np.total = np.need + 1;
            goto filter;
        }
    } else {
        if ((b & 0xC0) != 0x80) return 0;
        np.cp = (np.cp << 6) | (b & 0x3F);
        np.need--;
        if (np.need > 0) goto filter;
        cp = np.cp;
        static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < minv[np.total] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    }
    /* a whole codepoint: advance */
    {
        new_step(m);
        int n = 0;
        for (int i = 0; i < n_in; i++) {
            int32_t h = IN(i);
            if (h <= 1) continue;
            int32_t pos = m->nodes[h].pos;
            if (!gptc_gclass_has(g, g->elems[pos].val, cp)) continue;
            push_pos(m, pos + 1, m->nodes[h].parent, off, &n, 0);
            if (m->overflow) return 0;
        }
        n = sort_unique(m->pool + off, n);
        if (n) *pt = np;
        return n;
    }
filter : {
    static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    int sh = 6 * np.need;
    uint32_t lo = np.cp << sh, hi = lo | ((1u << sh) - 1);
    if (lo < minv[np.total]) lo = minv[np.total];
    if (hi > 0x10FFFF) hi = 0x10FFFF;
    if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF)) return 0;
    if (pool_reserve(m, off + n_in)) {
        m->overflow = 1;
        return 0;
    }
    int n = 0;
    for (int i = 0; i < n_in; i++) {
        int32_t h = IN(i);
        if (h == 0) continue;
        if (h == 1 || class_meets(g, g->elems[m->nodes[h].pos].val, lo, hi)) m->pool[off + n++] = h;
    }
    if (n) *pt = np;
    return n;
}
#undef IN
}

static gptc_status overflow_err(gptc_err *err)
{
    return gptc_fail(err, GPTC_E_RANGE,
                     "grammar: the matcher's state grew past its bounds (%d stacks, %d nodes): "
                     "the grammar is too ambiguous",
                     MAX_HEADS, MAX_NODES);
}

void gptc_gmatcher_reset(gptc_gmatcher *m)
{
    m->pt.need = 0;
    m->pt.cp = 0;
    m->pt.total = 0;
    new_step(m);
    int n = 0;
    const gptc_gbnf *g = m->g;
    int r = g->root;
    for (int a = 0; a < g->rule_nalt[r]; a++)
        push_pos(m, g->alts[g->rule_alt0[r] + a], 0, 0, &n, 0);
    n = sort_unique(m->pool, n);
    if (n > m->cap_heads) {
        int32_t *h = realloc(m->heads, (size_t)n * sizeof *h);
        if (!h) {
            m->overflow = 1;
            return;
        }
        m->heads = h;
        m->cap_heads = n;
    }
    memcpy(m->heads, m->pool, (size_t)n * sizeof *m->heads);
    m->n_heads = n;
}

gptc_status gptc_gmatcher_new(const gptc_gbnf *g, const gptc_gvocab *v, gptc_gmatcher **out,
                              gptc_err *err)
{
    gptc_err_clear(err);
    *out = NULL;
    gptc_gmatcher *m = calloc(1, sizeof *m);
    if (!m) return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    m->g = g;
    m->v = v;
    m->cut = TRUNC;
    m->cap_nodes = 1024;
    m->nodes = malloc((size_t)m->cap_nodes * sizeof *m->nodes);
    m->hnext = malloc((size_t)m->cap_nodes * sizeof *m->hnext);
    m->nvis = 256;
    m->vkey = malloc((size_t)m->nvis * sizeof *m->vkey);
    m->vstamp = calloc((size_t)m->nvis, sizeof *m->vstamp);
    int maxd = v ? v->max_depth + 2 : 2;
    m->lv_sid = malloc((size_t)maxd * sizeof(int32_t));
    m->words = v ? (v->n_vocab + 31) / 32 : 0;
    if (!m->nodes || !m->hnext || !m->vkey || !m->vstamp || !m->lv_sid || rehash(m, 1024) ||
        pool_reserve(m, 1024)) {
        gptc_gmatcher_free(m);
        return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    }
    m->nodes[0].pos = m->nodes[0].parent = -1;
    m->nodes[1].pos = m->nodes[1].parent = -2;
    m->n_nodes = 2;
    gptc_gmatcher_reset(m);
    if (m->overflow) {
        gptc_gmatcher_free(m);
        return overflow_err(err);
    }
    *out = m;
    return GPTC_OK;
}

void gptc_gmatcher_free(gptc_gmatcher *m)
{
    if (!m) return;
    free(m->nodes);
    free(m->hnext);
    free(m->bucket);
    free(m->heads);
    free(m->pool);
    free(m->vkey);
    free(m->vstamp);
    free(m->lv_sid);
    free(m->ws_slot);
    free(m->ws_where);
    free(m->ws_off);
    free(m->ws_cnt);
    free(m->ws_pt);
    free(m->ws_unk);
    free(m->ws_h);
    free(m->tr_key);
    free(m->tr_val);
    free(m->tr_used);
    free(m->ws_rows);
    free(m->unc);
    free(m->key);
    cache_free(&m->exact);
    cache_free(&m->local);
    free(m);
}

/* Run bytes from heads (copied to the pool's start); result at pool[0, return). */
static int run_bytes(gptc_gmatcher *m, const int32_t *heads, int n, partial *pt, const uint8_t *p,
                     size_t len, int *unk)
{
    if (pool_reserve(m, 2 * n + 16)) {
        m->overflow = 1;
        return 0;
    }
    memmove(m->pool, heads, (size_t)n * sizeof *heads);
    int cur = 0;
    for (size_t i = 0; i < len && n > 0; i++) {
        int off = cur + n;
        int k = step_byte(m, cur, n, pt, p[i], off, unk);
        if (k == 0) return 0;
        memmove(m->pool, m->pool + off, (size_t)k * sizeof *m->pool);
        n = k;
        cur = 0;
    }
    return n;
}

gptc_status gptc_gmatcher_accept_bytes(gptc_gmatcher *m, const uint8_t *p, size_t n, gptc_err *err)
{
    if (m->overflow) return overflow_err(err);
    partial pt = m->pt;
    int unk = 0;
    int k = run_bytes(m, m->heads, m->n_heads, &pt, p, n, &unk);
    if (m->overflow) return overflow_err(err);
    if (k == 0) return gptc_fail(err, GPTC_E_INVALID, "grammar: the text does not match");
    if (k > m->cap_heads) {
        int32_t *h = realloc(m->heads, (size_t)k * sizeof *h);
        if (!h) return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
        m->heads = h;
        m->cap_heads = k;
    }
    memcpy(m->heads, m->pool, (size_t)k * sizeof *m->heads);
    m->n_heads = k;
    m->pt = pt;
    return GPTC_OK;
}

int gptc_gmatcher_would_accept(gptc_gmatcher *m, const uint8_t *p, size_t n)
{
    if (m->overflow) return 0;
    int mark = m->n_nodes;
    partial pt = m->pt;
    int unk = 0;
    int k = run_bytes(m, m->heads, m->n_heads, &pt, p, n, &unk);
    truncate_nodes(m, mark);
    if (m->overflow) return 0;
    return k > 0;
}

int gptc_gmatcher_can_end(const gptc_gmatcher *m)
{
    return m->pt.need == 0 && m->n_heads > 0 && m->heads[0] == 0;
}

int gptc_gmatcher_must_end(const gptc_gmatcher *m)
{
    return gptc_gmatcher_can_end(m) && m->n_heads == 1;
}

static int unc_reserve(gptc_gmatcher *m, int need)
{
    if (need <= m->cap_unc) return 0;
    int nc = m->cap_unc ? m->cap_unc : 256;
    while (nc < need)
        nc *= 2;
    int32_t *u = realloc(m->unc, (size_t)nc * sizeof *u);
    if (!u) return -1;
    m->unc = u;
    m->cap_unc = nc;
    return 0;
}

/*
 * Walk states. A walk meets the same few states over and over (inside a string every prefix of
 * every token leads to the same loop), so its states are interned (heads + partial + whether an
 * unknown rest was passed) and each (state, byte) step is computed once: the rest of the walk
 * is a table lookup per trie node. The states' heads live in the pool; the tables are emptied
 * at the start of each walk (node ids made in a walk are dropped after it).
 */
#define WS_DEAD (-1)     /* the byte is rejected */
#define WS_DEAD_UNK (-2) /* rejected, but an unknown rest was passed: uncertain */
#define WS_ERR (-3)
#define WS_UNSET INT32_MIN
#define WS_ROWS 1024 /* states with a direct 256-entry step row; later ones use the hash */

static void ws_begin(gptc_gmatcher *m)
{
    for (int i = 0; i < m->ws_n; i++)
        m->ws_slot[m->ws_where[i]] = 0;
    for (int i = 0; i < m->tr_n; i++)
        m->tr_key[m->tr_used[i]] = 0;
    m->ws_n = 0;
    m->tr_n = 0;
    m->pool_top = 0;
}

static uint64_t ws_hash(const int32_t *h, int n, partial pt, int unk)
{
    uint64_t x = hash_ints(h, n);
    x ^= ((uint64_t)pt.cp << 8 | (uint64_t)pt.need << 4 | (uint64_t)pt.total << 1 | (uint64_t)unk) *
         0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

/* Intern the state whose heads are at pool[off, off + n): its id, or WS_ERR. A new state keeps
 * its heads where they are (pool_top moves past them). */
static int32_t ws_intern(gptc_gmatcher *m, int off, int n, partial pt, int unk)
{
    if (2 * (m->ws_n + 1) > m->ws_nslot) {
        int ns = m->ws_nslot ? 2 * m->ws_nslot : 1024;
        int32_t *s = calloc((size_t)ns, sizeof *s);
        int32_t *w = realloc(m->ws_where, (size_t)ns * sizeof *w);
        if (w) m->ws_where = w;
        size_t each = sizeof(int32_t);
        int32_t *o = realloc(m->ws_off, (size_t)ns * each);
        if (o) m->ws_off = o;
        int32_t *c = realloc(m->ws_cnt, (size_t)ns * each);
        if (c) m->ws_cnt = c;
        partial *p = realloc(m->ws_pt, (size_t)ns * sizeof *p);
        if (p) m->ws_pt = p;
        uint8_t *u = realloc(m->ws_unk, (size_t)ns);
        if (u) m->ws_unk = u;
        uint64_t *hh = realloc(m->ws_h, (size_t)ns * sizeof *hh);
        if (hh) m->ws_h = hh;
        if (!s || !w || !o || !c || !p || !u || !hh) {
            free(s);
            return WS_ERR;
        }
        for (int k = 0; k < m->ws_n; k++) {
            int i = (int)(m->ws_h[k] & (uint64_t)(ns - 1));
            while (s[i])
                i = (i + 1) & (ns - 1);
            s[i] = k + 1;
            m->ws_where[k] = i;
        }
        free(m->ws_slot);
        m->ws_slot = s;
        m->ws_nslot = ns;
    }
    uint64_t h = ws_hash(m->pool + off, n, pt, unk);
    int i = (int)(h & (uint64_t)(m->ws_nslot - 1));
    for (; m->ws_slot[i]; i = (i + 1) & (m->ws_nslot - 1)) {
        int32_t s = m->ws_slot[i] - 1;
        if (m->ws_h[s] == h && m->ws_cnt[s] == n && m->ws_unk[s] == unk &&
            m->ws_pt[s].need == pt.need && m->ws_pt[s].cp == pt.cp &&
            m->ws_pt[s].total == pt.total &&
            !memcmp(m->pool + m->ws_off[s], m->pool + off, (size_t)n * sizeof *m->pool))
            return s;
    }
    int32_t s = m->ws_n++;
    m->ws_slot[i] = s + 1;
    m->ws_where[s] = i;
    m->ws_h[s] = h;
    m->ws_off[s] = off;
    m->ws_cnt[s] = n;
    m->ws_pt[s] = pt;
    m->ws_unk[s] = (uint8_t)unk;
    m->pool_top = off + n;
    if (s < WS_ROWS) {
        if (!m->ws_rows) {
            m->ws_rows = malloc((size_t)WS_ROWS * 256 * sizeof *m->ws_rows);
            if (!m->ws_rows) return WS_ERR;
        }
        int32_t *row = m->ws_rows + (size_t)s * 256;
        for (int b = 0; b < 256; b++)
            row[b] = WS_UNSET;
    }
    return s;
}

/* State s stepped over byte b: a state id, WS_DEAD, WS_DEAD_UNK or WS_ERR. */
static int32_t ws_step(gptc_gmatcher *m, int32_t s, uint8_t b)
{
    int32_t *row = s < WS_ROWS ? m->ws_rows + (size_t)s * 256 : NULL;
    if (row && row[b] != WS_UNSET) return row[b];
    uint64_t key = ((uint64_t)(uint32_t)s << 8 | b) + 1;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    h ^= h >> 31;
    if (!row && m->tr_cap) {
        for (int i = (int)(h & (uint64_t)(m->tr_cap - 1));; i = (i + 1) & (m->tr_cap - 1)) {
            if (!m->tr_key[i]) break;
            if (m->tr_key[i] == key) return m->tr_val[i];
        }
    }
    partial npt = m->ws_pt[s];
    int unk = m->ws_unk[s];
    int off = m->pool_top;
    int k = step_byte(m, m->ws_off[s], m->ws_cnt[s], &npt, b, off, &unk);
    if (m->overflow) return WS_ERR;
    int32_t r = k == 0 ? (unk ? WS_DEAD_UNK : WS_DEAD) : ws_intern(m, off, k, npt, unk);
    if (r == WS_ERR) return r;
    if (row) {
        m->ws_rows[(size_t)s * 256 + b] = r; /* (ws_intern may have allocated the rows) */
        return r;
    }
    if (2 * (m->tr_n + 1) > m->tr_cap) {
        int nc = m->tr_cap ? 2 * m->tr_cap : 4096;
        uint64_t *nk = calloc((size_t)nc, sizeof *nk);
        int32_t *nv = malloc((size_t)nc * sizeof *nv);
        int32_t *nu = realloc(m->tr_used, (size_t)nc * sizeof *nu);
        if (nu) m->tr_used = nu;
        if (!nk || !nv || !nu) {
            free(nk);
            free(nv);
            m->overflow = 1;
            return WS_ERR;
        }
        for (int u = 0; u < m->tr_n; u++) {
            int o = m->tr_used[u];
            uint64_t kk = m->tr_key[o], hh = kk * 0x9E3779B97F4A7C15ull;
            hh ^= hh >> 31;
            int j = (int)(hh & (uint64_t)(nc - 1));
            while (nk[j])
                j = (j + 1) & (nc - 1);
            nk[j] = kk;
            nv[j] = m->tr_val[o];
            m->tr_used[u] = j;
        }
        free(m->tr_key);
        free(m->tr_val);
        m->tr_key = nk;
        m->tr_val = nv;
        m->tr_cap = nc;
    }
    int i = (int)(h & (uint64_t)(m->tr_cap - 1));
    while (m->tr_key[i])
        i = (i + 1) & (m->tr_cap - 1);
    m->tr_key[i] = key;
    m->tr_val[i] = r;
    m->tr_used[m->tr_n++] = i;
    return r;
}

/* The first state of a walk: heads[0, n) with partial pt. */
static int32_t ws_start(gptc_gmatcher *m, const int32_t *heads, int n, partial pt)
{
    ws_begin(m);
    if (pool_reserve(m, n + 16)) return WS_ERR;
    memmove(m->pool, heads, (size_t)n * sizeof *heads);
    return ws_intern(m, 0, n, pt, 0);
}

static int unc_add(gptc_gmatcher *m, int t0, int t1)
{
    if (unc_reserve(m, m->n_unc + (t1 - t0))) return -1;
    memcpy(m->unc + m->n_unc, m->v->toks + t0, (size_t)(t1 - t0) * sizeof *m->v->toks);
    m->n_unc += t1 - t0;
    return 0;
}

/* The trie walk from heads[0, n) with partial pt: allowed tokens set in mask; tokens that need
 * the cut-off rest of the stacks (node 1) go to m->unc. */
static int walk(gptc_gmatcher *m, const int32_t *heads, int n, partial pt, uint32_t *mask)
{
    const gptc_gvocab *v = m->v;
    m->n_unc = 0;
    int32_t s0 = ws_start(m, heads, n, pt);
    if (s0 < 0) return -1;
    m->lv_sid[0] = s0;
    int i = 1;
    while (i < v->n_nodes) {
        int d = v->depth[i];
        int32_t r = ws_step(m, m->lv_sid[d - 1], v->byte[i]);
        if (r == WS_ERR) return -1;
        if (r < 0) {
            if (r == WS_DEAD_UNK && unc_add(m, v->tok0[i], v->tok0[v->end[i]])) return -1;
            i = v->end[i];
            continue;
        }
        if (v->tok0[i] < v->tok0[i + 1]) {
            if (m->ws_pt[r].need > 0 && m->ws_cnt[r] == 1 && m->pool[m->ws_off[r]] == 1) {
                /* only the unknown rest might take this partial character */
                if (unc_add(m, v->tok0[i], v->tok0[i + 1])) return -1;
            } else {
                for (int t = v->tok0[i]; t < v->tok0[i + 1]; t++) {
                    int32_t id = v->toks[t];
                    mask[id >> 5] |= 1u << (id & 31);
                }
            }
        }
        m->lv_sid[d] = r;
        i++;
    }
    return 0;
}

/* The uncertain tokens toks[0, n) (in trie preorder, so neighbours share prefixes) against the
 * whole state heads[0, nh) with partial pt: the accepted ones are set in mask. A prefix is
 * stepped once for all the tokens that share it, and a dead prefix rejects them all. */
static int walk_list(gptc_gmatcher *m, const int32_t *heads, int nh, partial pt,
                     const int32_t *toks, int n, uint32_t *mask)
{
    const gptc_gvocab *v = m->v;
    int32_t s0 = ws_start(m, heads, nh, pt);
    if (s0 < 0) return -1;
    m->lv_sid[0] = s0;
    const uint8_t *prev = NULL;
    size_t valid = 0; /* levels 0..valid hold prev's prefix */
    size_t dead = 0;  /* prev's prefix of this length is dead (0: none) */
    for (int t = 0; t < n; t++) {
        int32_t id = toks[t];
        const uint8_t *b = v->bytes[id];
        size_t len = v->len[id], l = 0;
        while (prev && l < valid && l < len && prev[l] == b[l])
            l++;
        if (dead && l + 1 == dead && len >= dead && prev[l] == b[l]) {
            prev = b;
            valid = l;
            continue; /* shares the dead prefix */
        }
        dead = 0;
        size_t d = l;
        int ok = 1;
        for (; d < len; d++) {
            int32_t r = ws_step(m, m->lv_sid[d], b[d]);
            if (r == WS_ERR) return -1;
            if (r < 0) {
                ok = 0;
                dead = d + 1;
                break;
            }
            m->lv_sid[d + 1] = r;
        }
        prev = b;
        valid = d;
        if (ok) mask[id >> 5] |= 1u << (id & 31);
    }
    return 0;
}

static int key_reserve(gptc_gmatcher *m, int n)
{
    if (n <= m->cap_key) return 0;
    int32_t *k = realloc(m->key, (size_t)n * sizeof *k);
    if (!k) return -1;
    m->key = k;
    m->cap_key = n;
    return 0;
}

/* The local cache's entry for the state cut to `frames` frames per stack (walked on a miss). */
static gptc_status local_entry(gptc_gmatcher *m, int frames, centry **out, gptc_err *err)
{
    size_t mbytes = (size_t)m->words * sizeof(uint32_t);
    int nk = m->n_heads + 3;
    if (key_reserve(m, nk + m->n_heads))
        return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    /* m->key[0, nk) is the exact key; the cut heads go after it (these nodes stay: the cache
     * refers to them) */
    int32_t *cut = m->key + nk;
    for (int i = 0; i < m->n_heads; i++) {
        int32_t fr[TRUNC];
        int nf = 0, hnode = m->heads[i];
        while (hnode > 1 && nf < frames) {
            fr[nf++] = hnode;
            hnode = m->nodes[hnode].parent;
        }
        int32_t root = hnode > 1 ? 1 : hnode;
        for (int f = nf - 1; f >= 0; f--) {
            root = cons(m, m->nodes[fr[f]].pos, root);
            if (root < 0) return overflow_err(err);
        }
        cut[i] = root;
    }
    int nh = sort_unique(cut, m->n_heads);
    int32_t *lkey = malloc(((size_t)nh + 3) * sizeof *lkey);
    if (!lkey) return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    memcpy(lkey, m->key, 3 * sizeof *lkey);
    memcpy(lkey + 3, cut, (size_t)nh * sizeof *lkey);
    uint64_t lh = hash_ints(lkey, nh + 3);
    centry *le = cache_find(&m->local, lkey, nh + 3, lh);
    if (!le) {
        uint32_t *lm = calloc((size_t)m->words, sizeof *lm);
        if (!lm) {
            free(lkey);
            return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
        }
        int wmark = m->n_nodes;
        int rc = walk(m, lkey + 3, nh, m->pt, lm);
        truncate_nodes(m, wmark);
        if (rc) {
            free(lkey);
            free(lm);
            return m->overflow ? overflow_err(err)
                               : gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
        }
        int32_t *unc = NULL;
        if (m->n_unc) {
            unc = malloc((size_t)m->n_unc * sizeof *unc);
            if (!unc) {
                free(lkey);
                free(lm);
                return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
            }
            memcpy(unc, m->unc, (size_t)m->n_unc * sizeof *unc);
        }
        le = cache_put(&m->local, lkey, nh + 3, lh, lm, mbytes, unc, m->n_unc);
        if (!le) {
            free(lkey);
            return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
        }
    }
    free(lkey);
    *out = le;
    return GPTC_OK;
}

/* End-of-generation tokens: allowed exactly when the grammar can end. */
static void set_eog(const gptc_gmatcher *m, uint32_t *words)
{
    int end = gptc_gmatcher_can_end(m);
    for (int i = 0; i < m->v->n_eog; i++) {
        int32_t id = m->v->eog_ids[i];
        if (end)
            words[id >> 5] |= 1u << (id & 31);
        else
            words[id >> 5] &= ~(1u << (id & 31));
    }
}

gptc_status gptc_gmatcher_mask(gptc_gmatcher *m, uint32_t *words, gptc_err *err)
{
    const gptc_gvocab *v = m->v;
    if (!v) return gptc_fail(err, GPTC_E_INVALID, "grammar: the matcher has no vocabulary");
    if (m->overflow) return overflow_err(err);
    size_t mbytes = (size_t)m->words * sizeof(uint32_t);
    int mark = m->n_nodes;
    if (m->cut == 0) { /* the plain walk of the whole state (the reference for the fast path) */
        memset(words, 0, mbytes);
        int rc = walk(m, m->heads, m->n_heads, m->pt, words);
        truncate_nodes(m, mark);
        if (rc)
            return m->overflow ? overflow_err(err)
                               : gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
        set_eog(m, words);
        return GPTC_OK;
    }
    /* exact key: partial, heads */
    int nk = m->n_heads + 3;
    if (key_reserve(m, nk)) return gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    m->key[0] = (int32_t)m->pt.cp;
    m->key[1] = m->pt.need;
    m->key[2] = m->pt.total;
    memcpy(m->key + 3, m->heads, (size_t)m->n_heads * sizeof *m->heads);
    uint64_t h = hash_ints(m->key, nk);
    centry *e = cache_find(&m->exact, m->key, nk, h);
    if (e) {
        memcpy(words, e->mask, mbytes);
        return GPTC_OK;
    }
    centry *le = NULL;
    gptc_status st = local_entry(m, m->cut, &le, err);
    if (st) return st;
    mark = m->n_nodes;
    memcpy(words, le->mask, mbytes);
    /* the uncertain tokens against the whole state */
    if (le->n_unc) {
        int rc = walk_list(m, m->heads, m->n_heads, m->pt, le->unc, le->n_unc, words);
        truncate_nodes(m, mark);
        if (rc)
            return m->overflow ? overflow_err(err)
                               : gptc_fail(err, GPTC_E_NOMEM, "grammar: out of memory");
    }
    set_eog(m, words);
    uint32_t *copy = malloc(mbytes);
    if (copy) {
        memcpy(copy, words, mbytes);
        cache_put(&m->exact, m->key, nk, h, copy, mbytes, NULL, 0);
    }
    return GPTC_OK;
}

gptc_status gptc_gmatcher_accept_token(gptc_gmatcher *m, int32_t id, gptc_err *err)
{
    const gptc_gvocab *v = m->v;
    if (!v || id < 0 || id >= v->n_vocab)
        return gptc_fail(err, GPTC_E_RANGE, "grammar: token %d out of the vocabulary", id);
    if (v->eog[id]) {
        if (!gptc_gmatcher_can_end(m))
            return gptc_fail(err, GPTC_E_INVALID, "grammar: end of text before the grammar ends");
        return GPTC_OK;
    }
    if (v->len[id] == 0) return gptc_fail(err, GPTC_E_INVALID, "grammar: token %d has no text", id);
    return gptc_gmatcher_accept_bytes(m, v->bytes[id], v->len[id], err);
}

void gptc_gmatcher_set_cut(gptc_gmatcher *m, int frames)
{
    m->cut = frames < 0 ? 0 : frames > TRUNC ? TRUNC : frames;
    cache_clear(&m->exact);
    cache_clear(&m->local);
}
