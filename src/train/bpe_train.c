/*
 * bpe_train.c — byte-level BPE learning (see bpe_train.h).
 *
 * Data: the distinct pieces of the corpus with their counts (a byte-string table); for learning,
 * each piece as an array of symbol ids (bytes 0..255, then one id per new token), a table of
 * adjacent pairs with their weighted counts and the pieces they occur in, and a max-heap of
 * (count, pair). Counts only fall for pairs that do not contain the newest symbol, so the heap
 * keeps stale entries and re-checks them when they surface; pairs that gain count (they hold
 * the new symbol) are pushed once per merge.
 */
#include "train/bpe_train.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "tokenizer/pretok.h"

#define CHUNK_BYTES (1u << 20)
#define EOT_TEXT "<|endoftext|>"

/* ----- a byte-string -> index table (open addressing, FNV-1a) ----------------------------------
 */

typedef struct strtab {
    char *bytes; /* all strings back to back, owned */
    size_t n_bytes, cap_bytes;
    uint64_t *off; /* (n) start of string i in bytes, owned */
    uint32_t *len; /* (n) */
    uint32_t n, cap;
    uint32_t *slot; /* (mask + 1) index + 1, 0 = empty, owned */
    uint32_t mask;
} strtab;

static uint64_t fnv(const void *p, size_t n)
{
    return gptc_fnv1a64(GPTC_FNV64_INIT, p, n);
}

static void strtab_free(strtab *t)
{
    free(t->bytes);
    free(t->off);
    free(t->len);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static int strtab_grow_slots(strtab *t)
{
    uint32_t cap = t->mask ? 2 * (t->mask + 1) : 1024;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return 0;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t h = (uint32_t)fnv(t->bytes + t->off[i], t->len[i]) & (cap - 1);
        while (s[h])
            h = (h + 1) & (cap - 1);
        s[h] = i + 1;
    }
    free(t->slot);
    t->slot = s;
    t->mask = cap - 1;
    return 1;
}

/* Index of s[0..n) (inserted if absent, *added = 1); -1 when out of memory. */
static int64_t strtab_get(strtab *t, const char *s, size_t n, int *added)
{
    *added = 0;
    if (n > UINT32_MAX) return -1;
    if ((uint64_t)(t->n + 1) * 2 > (uint64_t)t->mask + 1 && !strtab_grow_slots(t)) return -1;
    uint32_t h = (uint32_t)fnv(s, n) & t->mask;
    for (uint32_t v; (v = t->slot[h]); h = (h + 1) & t->mask) {
        uint32_t i = v - 1;
        if (t->len[i] == n && memcmp(t->bytes + t->off[i], s, n) == 0) return i;
    }
    if (t->n == UINT32_MAX - 1) return -1;
    if (t->n == t->cap) {
        uint32_t nc = t->cap ? 2 * t->cap : 4096;
        uint64_t *o = realloc(t->off, nc * sizeof *o);
        if (o) t->off = o;
        uint32_t *l = realloc(t->len, nc * sizeof *l);
        if (l) t->len = l;
        if (!o || !l) return -1;
        t->cap = nc;
    }
    if (t->n_bytes + n > t->cap_bytes) {
        size_t nc = (t->cap_bytes + n) * 2 + 4096;
        char *b = realloc(t->bytes, nc);
        if (!b) return -1;
        t->bytes = b;
        t->cap_bytes = nc;
    }
    memcpy(t->bytes + t->n_bytes, s, n);
    t->off[t->n] = t->n_bytes;
    t->len[t->n] = (uint32_t)n;
    t->n_bytes += n;
    t->slot[h] = t->n + 1;
    *added = 1;
    return t->n++;
}

/* ----- the trainer -----------------------------------------------------------------------------
 */

typedef struct pair {
    uint32_t a, b;
    int64_t cnt;   /* weighted occurrences */
    uint32_t *occ; /* pieces it may occur in (may hold stale or repeated ids), owned */
    uint32_t n_occ, cap_occ;
    uint32_t last; /* the last piece appended to occ (+1), to skip repeats */
} pair;

typedef struct heap_ent {
    int64_t cnt;
    uint32_t p;
} heap_ent;

struct gptc_bpe_trainer {
    gptc_pretok *pre; /* owned */
    strtab words;     /* distinct pieces */
    uint64_t *wcount; /* (words.n) occurrences, owned */
    uint32_t wcap;
    uint64_t n_pieces;

    /* learning */
    strtab toks;           /* token text -> symbol id (bytes first, then merged) */
    uint32_t (*merges)[2]; /* (n_merges) owned */
    int n_merges;
};

gptc_status gptc_bpe_train_init(gptc_bpe_trainer **out, gptc_err *err)
{
    *out = NULL;
    gptc_bpe_trainer *t = calloc(1, sizeof *t);
    if (!t) return gptc_fail(err, GPTC_E_NOMEM, "train-tokenizer: out of memory");
    gptc_status s = gptc_pretok_init("gpt2", &t->pre, err);
    if (s) {
        free(t);
        return s;
    }
    *out = t;
    return GPTC_OK;
}

void gptc_bpe_train_free(gptc_bpe_trainer *t)
{
    if (!t) return;
    gptc_pretok_free(t->pre);
    strtab_free(&t->words);
    strtab_free(&t->toks);
    free(t->wcount);
    free(t->merges);
    free(t);
}

int gptc_bpe_train_n_merges(const gptc_bpe_trainer *t)
{
    return t->n_merges;
}
int gptc_bpe_train_n_tokens(const gptc_bpe_trainer *t)
{
    return t->toks.n ? (int)t->toks.n + 1 : 0;
}
uint64_t gptc_bpe_train_n_pieces(const gptc_bpe_trainer *t)
{
    return t->n_pieces;
}
uint64_t gptc_bpe_train_n_unique(const gptc_bpe_trainer *t)
{
    return t->words.n;
}

static gptc_status count_piece(gptc_bpe_trainer *t, const char *s, size_t n, gptc_err *err)
{
    int added;
    int64_t i = strtab_get(&t->words, s, n, &added);
    if (i < 0)
        return gptc_fail(err, GPTC_E_NOMEM, "train-tokenizer: out of memory counting pieces");
    if (added) {
        if (t->words.n > t->wcap) {
            uint32_t nc = t->wcap ? 2 * t->wcap : 4096;
            uint64_t *c = realloc(t->wcount, nc * sizeof *c);
            if (!c)
                return gptc_fail(err, GPTC_E_NOMEM,
                                 "train-tokenizer: out of memory counting pieces");
            t->wcount = c;
            t->wcap = nc;
        }
        t->wcount[i] = 0;
    }
    t->wcount[i]++;
    t->n_pieces++;
    return GPTC_OK;
}

/* Length of the valid UTF-8 character at s[0..n), 0 if the bytes there are not one. */
static int utf8_len(const uint8_t *s, size_t n)
{
    uint8_t b = s[0];
    if (b < 0x80) return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b >= 0xE0 && b <= 0xEF)
        len = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    else if (b >= 0xF0 && b <= 0xF4)
        len = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if ((size_t)len > n) return 0;
    for (int k = 1; k < len; k++)
        if (k == 1 ? (s[k] < lo || s[k] > hi) : (s[k] & 0xC0) != 0x80) return 0;
    return len;
}

/* Split valid UTF-8 text[0..n) with the regexes and count the pieces. */
static gptc_status add_valid(gptc_bpe_trainer *t, const char *text, size_t n, gptc_err *err)
{
    gptc_pretok_iter it;
    gptc_status s = gptc_pretok_iter_init(&it, t->pre, text, n, err);
    if (s) return s;
    size_t a, b;
    int r;
    while ((r = gptc_pretok_next(&it, &a, &b)) == 1)
        if ((s = count_piece(t, text + a, b - a, err))) break;
    if (!s && r < 0) s = gptc_pretok_iter_error(&it, err);
    gptc_pretok_iter_free(&it);
    return s;
}

gptc_status gptc_bpe_train_add(gptc_bpe_trainer *t, const char *text, size_t n, gptc_err *err)
{
    const uint8_t *u = (const uint8_t *)text;
    size_t at = 0;
    while (at < n) {
        /* a valid run of up to about CHUNK_BYTES, cut after a newline when it is longer */
        size_t end = at;
        while (end < n) {
            int l = utf8_len(u + end, n - end);
            if (!l) break;
            end += (size_t)l;
            if (end - at >= CHUNK_BYTES && u[end - 1] == '\n') break;
        }
        gptc_status s;
        if (end > at && (s = add_valid(t, text + at, end - at, err))) return s;
        if (end < n && !utf8_len(u + end, n - end)) { /* an invalid byte: a piece of its own */
            if ((s = count_piece(t, text + end, 1, err))) return s;
            end++;
        }
        at = end;
    }
    return GPTC_OK;
}

/* ----- learning ---------------------------------------------------------------------------------
 */

typedef struct learn {
    uint32_t *sym; /* all pieces' symbols back to back, owned */
    uint64_t *off; /* (n_words) start of each piece's symbols, owned */
    uint32_t *len; /* (n_words) current length, owned */
    pair *pairs;   /* owned */
    uint32_t n_pairs, cap_pairs;
    uint64_t *pkey; /* pair table: (a << 32 | b) + 1, 0 = empty, owned */
    uint32_t *pidx;
    uint32_t pmask;
    heap_ent *heap; /* owned */
    size_t n_heap, cap_heap;
    uint32_t *touched; /* pairs whose count grew in this merge, owned */
    uint32_t n_touched, cap_touched;
} learn;

static void learn_free(learn *L)
{
    for (uint32_t i = 0; i < L->n_pairs; i++)
        free(L->pairs[i].occ);
    free(L->sym);
    free(L->off);
    free(L->len);
    free(L->pairs);
    free(L->pkey);
    free(L->pidx);
    free(L->heap);
    free(L->touched);
}

static uint32_t hash64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

static int pair_rehash(learn *L)
{
    uint32_t cap = L->pmask ? 2 * (L->pmask + 1) : 65536;
    uint64_t *k = calloc(cap, sizeof *k);
    uint32_t *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return 0;
    }
    for (uint32_t i = 0; i < L->n_pairs; i++) {
        uint64_t key = ((uint64_t)L->pairs[i].a << 32 | L->pairs[i].b) + 1;
        uint32_t h = hash64(key) & (cap - 1);
        while (k[h])
            h = (h + 1) & (cap - 1);
        k[h] = key;
        v[h] = i;
    }
    free(L->pkey);
    free(L->pidx);
    L->pkey = k;
    L->pidx = v;
    L->pmask = cap - 1;
    return 1;
}

/* The pair (a, b), created with count 0 when absent and create; UINT32_MAX if absent (or no
 * memory). */
static uint32_t pair_get(learn *L, uint32_t a, uint32_t b, int create)
{
    uint64_t key = ((uint64_t)a << 32 | b) + 1;
    if (L->pmask) {
        uint32_t h = hash64(key) & L->pmask;
        for (; L->pkey[h]; h = (h + 1) & L->pmask)
            if (L->pkey[h] == key) return L->pidx[h];
    }
    if (!create) return UINT32_MAX;
    if (((uint64_t)L->n_pairs + 1) * 2 > (uint64_t)L->pmask + 1 && !pair_rehash(L))
        return UINT32_MAX;
    if (L->n_pairs == L->cap_pairs) {
        uint32_t nc = L->cap_pairs ? 2 * L->cap_pairs : 65536;
        pair *p = realloc(L->pairs, nc * sizeof *p);
        if (!p) return UINT32_MAX;
        L->pairs = p;
        L->cap_pairs = nc;
    }
    uint32_t i = L->n_pairs++;
    L->pairs[i] = (pair){.a = a, .b = b};
    uint32_t h = hash64(key) & L->pmask;
    while (L->pkey[h])
        h = (h + 1) & L->pmask;
    L->pkey[h] = key;
    L->pidx[h] = i;
    return i;
}

static int occ_add(pair *p, uint32_t w)
{
    if (p->last == w + 1) return 1;
    if (p->n_occ == p->cap_occ) {
        uint32_t nc = p->cap_occ ? 2 * p->cap_occ : 4;
        uint32_t *o = realloc(p->occ, nc * sizeof *o);
        if (!o) return 0;
        p->occ = o;
        p->cap_occ = nc;
    }
    p->occ[p->n_occ++] = w;
    p->last = w + 1;
    return 1;
}

/* heap order: more count first, then the lower (a, b) */
static int before(const learn *L, heap_ent x, heap_ent y)
{
    if (x.cnt != y.cnt) return x.cnt > y.cnt;
    const pair *p = &L->pairs[x.p], *q = &L->pairs[y.p];
    return p->a != q->a ? p->a < q->a : p->b < q->b;
}

static int heap_push(learn *L, heap_ent e)
{
    if (L->n_heap == L->cap_heap) {
        size_t nc = L->cap_heap ? 2 * L->cap_heap : 65536;
        heap_ent *h = realloc(L->heap, nc * sizeof *h);
        if (!h) return 0;
        L->heap = h;
        L->cap_heap = nc;
    }
    size_t i = L->n_heap++;
    while (i > 0 && before(L, e, L->heap[(i - 1) / 2])) {
        L->heap[i] = L->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    L->heap[i] = e;
    return 1;
}

static heap_ent heap_pop(learn *L)
{
    heap_ent top = L->heap[0], last = L->heap[--L->n_heap];
    size_t i = 0, n = L->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(L, L->heap[c + 1], L->heap[c])) c++;
        if (!before(L, L->heap[c], last)) break;
        L->heap[i] = L->heap[c];
        i = c;
    }
    if (n) L->heap[i] = last;
    return top;
}

/* Add count times every adjacent pair of piece w (count < 0 removes); pairs holding symbol
 * fresh get w in their occurrence list and are noted as touched. */
static int add_pairs(learn *L, uint32_t w, int64_t count, uint32_t fresh)
{
    const uint32_t *s = L->sym + L->off[w];
    for (uint32_t i = 0; i + 1 < L->len[w]; i++) {
        int holds = s[i] == fresh || s[i + 1] == fresh;
        uint32_t p = pair_get(L, s[i], s[i + 1], count > 0);
        if (p == UINT32_MAX) {
            if (count > 0) return 0;
            continue;
        }
        L->pairs[p].cnt += count;
        if (count > 0 && holds) {
            if (!occ_add(&L->pairs[p], w)) return 0;
            if (L->n_touched == L->cap_touched) {
                uint32_t nc = L->cap_touched ? 2 * L->cap_touched : 1024;
                uint32_t *t = realloc(L->touched, nc * sizeof *t);
                if (!t) return 0;
                L->touched = t;
                L->cap_touched = nc;
            }
            L->touched[L->n_touched++] = p;
        }
    }
    return 1;
}

gptc_status gptc_bpe_train_run(gptc_bpe_trainer *t, int vocab,
                               void (*progress)(void *ud, int done, int total), void *ud,
                               gptc_err *err)
{
    if (vocab < 257 || vocab > (1 << 24))
        return gptc_fail(err, GPTC_E_INVALID,
                         "train-tokenizer: --vocab %d is out of range [257, %d] (256 bytes + "
                         "merges + <|endoftext|>)",
                         vocab, 1 << 24);
    if (t->words.n == 0)
        return gptc_fail(err, GPTC_E_INVALID, "train-tokenizer: the corpus is empty");
    int want = vocab - 257; /* new tokens */
    learn L = {0};
    gptc_status s = GPTC_OK;
    uint32_t n_words = t->words.n;
    strtab_free(&t->toks);
    free(t->merges);
    /* a merge whose text is already a token adds none, so merges may outnumber new tokens */
    size_t cap_merges = (size_t)want + 16;
    t->merges = malloc(cap_merges * sizeof *t->merges);
    t->n_merges = 0;
    L.off = malloc(((size_t)n_words + 1) * sizeof *L.off);
    L.len = malloc(((size_t)n_words + 1) * sizeof *L.len);
    L.sym = malloc((t->words.n_bytes + 1) * sizeof *L.sym);
    if (!t->merges || !L.off || !L.len || !L.sym) goto nomem;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        int added;
        if (strtab_get(&t->toks, &c, 1, &added) != b) goto nomem;
    }
    for (uint32_t w = 0, at = 0; w < n_words; w++) {
        const uint8_t *p = (const uint8_t *)t->words.bytes + t->words.off[w];
        L.off[w] = at;
        L.len[w] = t->words.len[w];
        for (uint32_t i = 0; i < L.len[w]; i++)
            L.sym[at + i] = p[i];
        at += L.len[w];
    }
    for (uint32_t w = 0; w < n_words; w++)
        if (!add_pairs(&L, w, (int64_t)t->wcount[w], UINT32_MAX)) goto nomem;
    for (uint32_t w = 0; w < n_words; w++) { /* occurrence lists of the initial pairs */
        const uint32_t *sy = L.sym + L.off[w];
        for (uint32_t i = 0; i + 1 < L.len[w]; i++)
            if (!occ_add(&L.pairs[pair_get(&L, sy[i], sy[i + 1], 0)], w)) goto nomem;
    }
    for (uint32_t p = 0; p < L.n_pairs; p++)
        if (!heap_push(&L, (heap_ent){L.pairs[p].cnt, p})) goto nomem;

    while ((int)t->toks.n - 256 < want && L.n_heap) {
        heap_ent e = heap_pop(&L);
        pair *pp = &L.pairs[e.p];
        if (e.cnt != pp->cnt) { /* stale: its count fell since */
            if (pp->cnt > 0 && !heap_push(&L, (heap_ent){pp->cnt, e.p})) goto nomem;
            continue;
        }
        if (e.cnt < 2) break; /* nothing occurs twice any more */
        uint32_t a = pp->a, b = pp->b;
        /* the new token's text; an existing token with the same text keeps its id */
        const strtab *tk = &t->toks;
        size_t la = tk->len[a], lb = tk->len[b];
        char *buf = malloc(la + lb);
        if (!buf) goto nomem;
        memcpy(buf, tk->bytes + tk->off[a], la);
        memcpy(buf + la, tk->bytes + tk->off[b], lb);
        int added;
        int64_t c = strtab_get(&t->toks, buf, la + lb, &added);
        free(buf);
        if (c < 0) goto nomem;
        if ((size_t)t->n_merges == cap_merges) {
            cap_merges *= 2;
            uint32_t(*mg)[2] = realloc(t->merges, cap_merges * sizeof *mg);
            if (!mg) goto nomem;
            t->merges = mg;
        }
        t->merges[t->n_merges][0] = a;
        t->merges[t->n_merges][1] = b;
        t->n_merges++;
        /* rewrite every piece holding (a, b) */
        L.n_touched = 0;
        uint32_t *occ = pp->occ, n_occ = pp->n_occ;
        pp->occ = NULL;
        pp->n_occ = pp->cap_occ = 0;
        for (uint32_t k = 0; k < n_occ; k++) {
            uint32_t w = occ[k];
            uint32_t *sy = L.sym + L.off[w], n = L.len[w];
            int found = 0;
            for (uint32_t i = 0; i + 1 < n && !found; i++)
                found = sy[i] == a && sy[i + 1] == b;
            if (!found) continue; /* a stale entry */
            int64_t cw = (int64_t)t->wcount[w];
            add_pairs(&L, w, -cw, UINT32_MAX);
            uint32_t j = 0;
            for (uint32_t i = 0; i < n; i++) {
                if (i + 1 < n && sy[i] == a && sy[i + 1] == b) {
                    sy[j++] = (uint32_t)c;
                    i++;
                } else {
                    sy[j++] = sy[i];
                }
            }
            L.len[w] = j;
            if (!add_pairs(&L, w, cw, (uint32_t)c)) {
                free(occ);
                goto nomem;
            }
        }
        free(occ);
        for (uint32_t k = 0; k < L.n_touched; k++) {
            uint32_t p = L.touched[k];
            if (L.pairs[p].cnt > 0 && !heap_push(&L, (heap_ent){L.pairs[p].cnt, p})) goto nomem;
        }
        int done = (int)t->toks.n - 256;
        if (progress && (done % 256 == 0 || done == want)) progress(ud, done, want);
    }
    learn_free(&L);
    return s;
nomem:
    learn_free(&L);
    return gptc_fail(err, GPTC_E_NOMEM, "train-tokenizer: out of memory");
}

/* ----- GGUF -------------------------------------------------------------------------------------
 */

/* GPT-2's bytes -> unicode alphabet: printable Latin-1 bytes stand for themselves, the other 68
 * bytes (0x00-0x20, 0x7F-0xA0, 0xAD) for U+0100 onwards in byte order. Appends the UTF-8 of
 * byte b's character to out; returns its length. */
static int map_byte(uint8_t b, char *out)
{
    uint32_t cp;
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        cp = b;
    else if (b <= 0x20)
        cp = 256u + b;
    else if (b <= 0xA0)
        cp = 256u + 33u + (b - 0x7Fu);
    else
        cp = 256u + 67u;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static char *map_token(const strtab *tk, uint32_t id, size_t *n)
{
    size_t len = tk->len[id];
    char *out = malloc(2 * len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++)
        o += (size_t)map_byte((uint8_t)tk->bytes[tk->off[id] + i], out + o);
    out[o] = 0;
    *n = o;
    return out;
}

gptc_status gptc_bpe_train_gguf(const gptc_bpe_trainer *t, gguf_file **out, gptc_err *err)
{
    *out = NULL;
    const strtab *tk = &t->toks;
    if (tk->n < 256) return gptc_fail(err, GPTC_E_INVALID, "train-tokenizer: nothing learned yet");
    uint32_t n_tok = tk->n + 1, eot = tk->n;
    gptc_str *toks = calloc(n_tok, sizeof *toks);
    int32_t *types = malloc(n_tok * sizeof *types);
    gptc_str *merges = calloc((size_t)t->n_merges + 1, sizeof *merges);
    gguf_file *f = NULL;
    gptc_status s = GPTC_OK;
    if (!toks || !types || !merges) {
        s = gptc_fail(err, GPTC_E_NOMEM, "train-tokenizer: out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < tk->n; i++) {
        size_t n;
        char *m = map_token(tk, i, &n);
        if (!m) {
            s = gptc_fail(err, GPTC_E_NOMEM, "train-tokenizer: out of memory");
            goto done;
        }
        toks[i] = (gptc_str){m, n};
        types[i] = 1; /* NORMAL */
    }
    toks[eot] = (gptc_str){strdup(EOT_TEXT), strlen(EOT_TEXT)};
    types[eot] = 3; /* CONTROL */
    for (int k = 0; k < t->n_merges; k++) {
        gptc_str l = toks[t->merges[k][0]], r = toks[t->merges[k][1]];
        char *m = malloc(l.n + r.n + 2);
        if (!m || !toks[eot].p) {
            free(m);
            s = gptc_fail(err, GPTC_E_NOMEM, "train-tokenizer: out of memory");
            goto done;
        }
        memcpy(m, l.p, l.n);
        m[l.n] = ' ';
        memcpy(m + l.n + 1, r.p, r.n);
        merges[k] = (gptc_str){m, l.n + 1 + r.n};
    }
    if ((s = gptc_gguf_new(&f, err)) ||
        (s = gptc_gguf_set_str(f, "tokenizer.ggml.model", "gpt2", 4, err)) ||
        (s = gptc_gguf_set_str(f, "tokenizer.ggml.pre", "gpt-2", 5, err)) ||
        (s = gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", toks, n_tok, err)) ||
        (s = gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, types, n_tok, err)) ||
        (s = gptc_gguf_set_arr_str(f, "tokenizer.ggml.merges", merges, (uint64_t)t->n_merges,
                                   err)) ||
        (s = gptc_gguf_set_uint(f, "tokenizer.ggml.bos_token_id", GGUF_VT_U32, eot, err)) ||
        (s = gptc_gguf_set_uint(f, "tokenizer.ggml.eos_token_id", GGUF_VT_U32, eot, err)) ||
        (s = gptc_gguf_set_bool(f, "tokenizer.ggml.add_bos_token", 0, err)) ||
        (s = gptc_gguf_set_bool(f, "tokenizer.ggml.add_eos_token", 0, err)))
        goto done;
    *out = f;
    f = NULL;
done:
    gptc_gguf_close(f);
    if (toks)
        for (uint32_t i = 0; i < n_tok; i++)
            free(GPTC_UNCONST(char *, toks[i].p));
    if (merges)
        for (int k = 0; k < t->n_merges; k++)
            free(GPTC_UNCONST(char *, merges[k].p));
    free(toks);
    free(types);
    free(merges);
    return s;
}
