/*
 * bpe.c — byte-level BPE: GPT-2, Llama 3, Qwen2, StarCoder, DeepSeek ... from GGUF
 * (tokenizer.ggml.model "gpt2"), and the tiktoken encodings (tiktoken.c builds those).
 *
 * Encoding a text:
 *   1. special tokens are split out first (gptc_tok_partition: USER_DEFINED always, CONTROL
 *      only with parse_special), as llama.cpp does;
 *   2. each raw fragment is cut into pieces by the pre-tokenizer's regexes (pretok.c);
 *   3. each piece is looked up whole (tiktoken, and llama.cpp's ignore_merges vocabularies:
 *      most words are one token), else its bytes are merged pairwise: always the pair of lowest
 *      rank, the leftmost of equal ones, until no adjacent pair has a rank. The rank of a pair
 *      is its line in tokenizer.ggml.merges (GGUF) or the rank of the merged bytes (tiktoken,
 *      whose ranks are token ids). Both rules give the same ids as llama.cpp and tiktoken.
 *      Short pieces merge by scanning an array (tiktoken's way, quadratic but tiny); long ones
 *      by a min-heap of candidate pairs with lazy deletion, O(n log n) with at most 3n heap
 *      entries, so 1 MB of one letter costs ~1 M merges, not 10^12 steps.
 *
 * Tokens in a GGUF byte-level vocabulary are written in GPT-2's bytes->unicode alphabet
 * ("Ġthe" is " the"); loading turns each into its bytes once, so encoding works on the text's
 * own bytes and never builds the mapped string.
 *
 * Invalid UTF-8 (the regexes need characters): each byte that is not part of a valid
 * character is split as if it were U+FFFD (a symbol: not a letter, digit or space) — what
 * llama.cpp reads there too — but the byte itself is what gets encoded, as its byte token.
 * So decode(encode(x)) == x for any bytes. (llama.cpp encodes U+FFFD's bytes instead, losing
 * the byte; tiktoken accepts only valid UTF-8.)
 */
#include "tokenizer/tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANK_NONE UINT32_MAX

/* ----------------------------------------------------------------------------------------------
 * GPT-2's byte <-> unicode alphabet: printable Latin-1 bytes stand for themselves; the other 68
 * (0x00-0x20, 0x7F-0xA0, 0xAD) are U+0100.. in byte order.
 */
uint32_t gptc_bpe_byte_to_cp(uint8_t b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 256u + b;
    if (b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD */
}

int gptc_bpe_cp_to_byte(uint32_t cp)
{
    if (cp < 256) return gptc_bpe_byte_to_cp((uint8_t)cp) == cp ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(0x7F + cp - 256 - 33);
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

/* Decode the mapped piece s[0..n) into out (n bytes at most). Characters outside the alphabet
 * are copied as they are; returns 1 if every character was in it. *m: bytes written. */
static int unmap(const char *s, size_t n, char *out, size_t *m)
{
    const uint8_t *u = (const uint8_t *)s;
    int full = 1;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = gptc_utf8_next(u + i, n - i);
        if (k <= 0) { /* not UTF-8: keep the byte */
            out[o++] = s[i++];
            full = 0;
            continue;
        }
        uint32_t cp = u[i];
        if (k == 2) cp = (u[i] & 0x1Fu) << 6 | (u[i + 1] & 0x3Fu);
        if (k == 3) cp = (u[i] & 0x0Fu) << 12 | (u[i + 1] & 0x3Fu) << 6 | (u[i + 2] & 0x3Fu);
        if (k == 4)
            cp = (u[i] & 0x07u) << 18 | (u[i + 1] & 0x3Fu) << 12 | (u[i + 2] & 0x3Fu) << 6 |
                 (u[i + 3] & 0x3Fu);
        int b = gptc_bpe_cp_to_byte(cp);
        if (b >= 0) {
            out[o++] = (char)b;
        } else {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            full = 0;
        }
        i += (size_t)k;
    }
    *m = o;
    return full;
}

int gptc_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII 8 bytes at a time */
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = gptc_utf8_next(s + i, n - i);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

/* ----------------------------------------------------------------------------------------------
 * merge pairs (GGUF): (left, right) -> (rank, result)
 */
static uint64_t pair_key(int32_t l, int32_t r)
{
    return ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
}

static uint32_t pair_hash(uint64_t k)
{
    k *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(k >> 32);
}

static const gptc_bpe_pair *pair_find(const gptc_tokenizer *t, int32_t l, int32_t r)
{
    uint64_t k = pair_key(l, r);
    uint32_t i = pair_hash(k) & t->pair_mask;
    for (;;) {
        const gptc_bpe_pair *p = &t->pair[i];
        if (p->key == k) return p;
        if (p->key == 0) return NULL;
        i = (i + 1) & t->pair_mask;
    }
}

/* the first line of a pair wins, as in llama.cpp (its map keeps the first) */
static void pair_insert(gptc_tokenizer *t, int32_t l, int32_t r, uint32_t rank, int32_t res)
{
    uint64_t k = pair_key(l, r);
    uint32_t i = pair_hash(k) & t->pair_mask;
    while (t->pair[i].key != 0) {
        if (t->pair[i].key == k) return;
        i = (i + 1) & t->pair_mask;
    }
    t->pair[i] = (gptc_bpe_pair){k, rank, res};
}

/* ----------------------------------------------------------------------------------------------
 * loading
 */

/* tokenizer.ggml.pre -> regex set and flags, as llama.cpp maps them */
typedef struct pre_type {
    const char *names; /* '|'-separated GGUF values */
    const char *set;
    int ignore_merges, add_bos;
} pre_type;

static const pre_type k_pre[] = {
    {"default|", "default", 0, 0},
    {"gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|jina-v2-code|"
     "roberta-bpe|mpt|olmo|jais|",
     "gpt2", 0, 0},
    {"llama3|llama-v3|llama-bpe|falcon3|lfm2|", "llama3", 1, 1},
    {"dbrx|smaug-bpe|chatglm-bpe|", "llama3", 0, 0},
    {"qwen2|deepseek-r1-qwen|megrez|stablelm2|", "qwen2", 0, 0},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|", "starcoder", 0, 0},
    {"deepseek-llm|", "deepseek-llm", 0, 0},
    {"deepseek-coder|", "deepseek-coder", 0, 0},
    {"poro-chat|bloom|gpt3-finnish|", "bloom", 0, 0},
    {"viking|", "viking", 0, 0},
};

static const pre_type *find_pre(gptc_str name)
{
    for (size_t i = 0; i < sizeof k_pre / sizeof k_pre[0]; i++) {
        const char *p = k_pre[i].names;
        while (*p) {
            const char *bar = strchr(p, '|');
            size_t n = (size_t)(bar - p);
            if (n == name.n && memcmp(p, name.p, n) == 0) return &k_pre[i];
            p = bar + 1;
        }
    }
    return NULL;
}

static void raw_insert(gptc_tokenizer *t, int32_t id)
{
    gptc_str p = t->rkey[id];
    uint32_t i = gptc_tok_hash(p.p, p.n) & t->rslot_mask;
    for (;;) {
        uint32_t v = t->rslot[i];
        if (v == 0) break;
        gptc_str q = t->rkey[v - 1];
        if (q.n == p.n && memcmp(q.p, p.p, p.n) == 0) break; /* the later id wins */
        i = (i + 1) & t->rslot_mask;
    }
    t->rslot[i] = (uint32_t)id + 1;
}

gptc_status gptc_bpe_finish(gptc_tokenizer *t, const char *pre, gptc_err *err)
{
    int n = t->n_vocab;
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)n)
        cap <<= 1;
    t->rslot = calloc(cap, sizeof *t->rslot);
    if (!t->rslot) return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory");
    t->rslot_mask = cap - 1;
    /* NORMAL tokens go in last so that they win over a special token with the same bytes:
     * byte tokens then decode to their byte and round trips hold */
    for (int pass = 0; pass < 2; pass++)
        for (int32_t id = 0; id < n; id++) {
            if (t->rkey[id].n == 0 || (t->type[id] == GPTC_TT_NORMAL) != pass) continue;
            if (t->rkey[id].n > t->max_raw) t->max_raw = (uint32_t)t->rkey[id].n;
            raw_insert(t, id);
        }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = gptc_tok_find_raw(t, &c, 1);
    }
    if (!t->bpe_short_max) t->bpe_short_max = 48;
    gptc_status st = gptc_pretok_init(pre, &t->pre, err);
    if (st) return st;
    return GPTC_OK;
}

gptc_status gptc_bpe_from_gguf(gptc_tokenizer *t, const gguf_file *f, gptc_err *err)
{
    size_t n = (size_t)(uint32_t)t->n_vocab;
    /* pre-tokenizer type */
    gptc_str pre_name = {"default", 7};
    const gguf_kv *pre = gptc_gguf_find_kv(f, "tokenizer.ggml.pre");
    if (pre) {
        if (pre->type != GGUF_VT_STR)
            return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.ggml.pre has type %s, expected string",
                             gptc_gguf_vtype_name(pre->type));
        pre_name = pre->v.str;
    }
    const pre_type *pt = find_pre(pre_name);
    if (!pt)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "unknown pre-tokenizer type tokenizer.ggml.pre = '%.*s' (known: gpt-2, "
                         "llama-bpe, qwen2, smollm, starcoder, deepseek-llm, deepseek-coder, ...)",
                         (int)GPTC_MIN(pre_name.n, 64), pre_name.p);
    snprintf(t->name, sizeof t->name, "%.*s", (int)GPTC_MIN(pre_name.n, 40), pre_name.p);
    t->ignore_merges = pt->ignore_merges;
    if (pt->add_bos && !gptc_gguf_find_kv(f, "tokenizer.ggml.add_bos_token")) t->add_bos = 1;
    t->add_space_prefix = 0;

    /* each token's bytes (tbytes: what it decodes to) and, if its piece is all in the byte
     * alphabet, its key for encoding (rkey) */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (size_t)t->piece[i].n + 1;
    t->tbytes = calloc(n, sizeof *t->tbytes);
    t->rkey = calloc(n, sizeof *t->rkey);
    t->tbytes_text = malloc(total);
    t->rkey_text = malloc(total);
    if (!t->tbytes || !t->rkey || !t->tbytes_text || !t->rkey_text)
        return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory");
    char *tw = t->tbytes_text, *rw = t->rkey_text;
    for (size_t i = 0; i < n; i++) {
        gptc_str p = t->piece[i];
        size_t m;
        int full = unmap(p.p, p.n, rw, &m);
        uint8_t ty = t->type[i];
        int literal = ty == GPTC_TT_USER_DEFINED || ty == GPTC_TT_CONTROL || ty == GPTC_TT_UNKNOWN;
        if (full) {
            t->rkey[i] = (gptc_str){rw, m};
            rw += m;
        }
        if (literal) {
            if (p.n) memcpy(tw, p.p, p.n);
            t->tbytes[i] = (gptc_str){tw, p.n};
            tw += p.n;
        } else {
            size_t m2;
            unmap(p.p, p.n, tw, &m2);
            t->tbytes[i] = (gptc_str){tw, m2};
            tw += m2;
        }
    }
    gptc_status st = gptc_bpe_finish(t, pt->set, err);
    if (st) return st;

    /* merges: "left right", rank = line number */
    const gguf_kv *mg = gptc_gguf_find_kv(f, "tokenizer.ggml.merges");
    if (!mg)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "the file has no tokenizer.ggml.merges (a gpt2 tokenizer needs them)");
    if (mg->type != GGUF_VT_ARR || mg->v.arr.type != GGUF_VT_STR)
        return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.ggml.merges is not an array of strings");
    uint64_t nm = mg->v.arr.n;
    if (nm > (1u << 30))
        return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.ggml.merges has %llu entries, too many",
                         (unsigned long long)nm);
    uint32_t pcap = 16;
    while (pcap < 2u * (uint32_t)nm + 2)
        pcap <<= 1;
    t->pair = calloc(pcap, sizeof *t->pair);
    if (!t->pair) return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory for merges");
    t->pair_mask = pcap - 1;
    char *buf = malloc((size_t)t->max_raw * 2 + 8);
    if (!buf) return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory");
    for (uint64_t r = 0; r < nm; r++) {
        gptc_str s = gptc_gguf_arr_str(mg, r);
        /* split at the first space after the first character, as llama.cpp does */
        const char *sp = s.n > 1 ? memchr(s.p + 1, ' ', s.n - 1) : NULL;
        if (!sp) continue;
        size_t la = (size_t)(sp - s.p), lb = s.n - la - 1;
        /* a piece longer than any token's bytes cannot be a token: skip without decoding */
        if (la > 4 * (size_t)t->max_raw || lb > 4 * (size_t)t->max_raw) continue;
        char *ua = malloc(la + lb + 1);
        if (!ua) {
            free(buf);
            return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory");
        }
        size_t ma, mb;
        int ok = unmap(s.p, la, ua, &ma) & unmap(sp + 1, lb, ua + ma, &mb);
        int32_t a = ok ? gptc_tok_find_raw(t, ua, ma) : -1;
        int32_t b = ok ? gptc_tok_find_raw(t, ua + ma, mb) : -1;
        int32_t ab = ok ? gptc_tok_find_raw(t, ua, ma + mb) : -1;
        free(ua);
        /* a merge whose parts or result are not tokens can never apply to token symbols */
        if (a >= 0 && b >= 0 && ab >= 0) pair_insert(t, a, b, (uint32_t)r, ab);
    }
    free(buf);

    /* end of generation by text, as llama.cpp guesses it for chat models */
    static const char *eog_text[] = {"<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
                                     "<|endoftext|>", "<|eom_id|>", "<EOT>"};
    /* harmony vocabularies (gpt-oss): <|end|> closes one message of a turn (the analysis before
     * the final answer), the turn ends at <|return|> or <|call|> (as llama.cpp treats them) */
    int harmony = gptc_tok_find(t, "<|return|>", 10) >= 0 || gptc_tok_find(t, "<|call|>", 8) >= 0;
    for (size_t k = 0; k < sizeof eog_text / sizeof eog_text[0]; k++) {
        if (harmony && !strcmp(eog_text[k], "<|end|>")) continue;
        int32_t id = gptc_tok_find(t, eog_text[k], strlen(eog_text[k]));
        if (id >= 0 && t->n_eog_extra < 8) t->eog_extra[t->n_eog_extra++] = id;
    }
    static const char *harmony_eog[] = {"<|return|>", "<|call|>"};
    for (size_t k = 0; harmony && k < 2; k++) {
        int32_t id = gptc_tok_find(t, harmony_eog[k], strlen(harmony_eog[k]));
        if (id >= 0 && t->n_eog_extra < 8) t->eog_extra[t->n_eog_extra++] = id;
    }
    return GPTC_OK;
}

/* ----------------------------------------------------------------------------------------------
 * encoding
 */
typedef struct bpe_sym {
    int32_t id;         /* the token this symbol is; -1 once merged into its left neighbour */
    int32_t prev, next; /* live neighbours, -1 at the ends */
    uint32_t start;     /* byte offset in the piece */
    uint32_t rank;      /* rank of the pair (this, next); RANK_NONE if none */
    int32_t res;        /* the token that pair makes */
} bpe_sym;

typedef struct bpe_work {
    bpe_sym *sym;   /* (cap) */
    uint64_t *heap; /* (3 * cap) rank << 32 | left symbol */
    size_t cap, n_heap;
    char *san;     /* the fragment with invalid bytes replaced by U+FFFD */
    uint32_t *map; /* (san length + 1) offset in san -> offset in the fragment */
    size_t san_cap;
    uint64_t work; /* pair lookups + heap pushes + heap pops */
    int32_t *out;
    size_t out_cap, n_out;
} bpe_work;

static void emit(bpe_work *w, int32_t id)
{
    if (w->n_out < w->out_cap) w->out[w->n_out] = id;
    w->n_out++;
}

static gptc_status grow(bpe_work *w, size_t n, gptc_err *err)
{
    if (n <= w->cap) return GPTC_OK;
    size_t c = w->cap ? w->cap : 256;
    while (c < n)
        c *= 2;
    bpe_sym *s = realloc(w->sym, c * sizeof *s);
    if (s) w->sym = s;
    uint64_t *h = realloc(w->heap, 3 * c * sizeof *h);
    if (h) w->heap = h;
    if (!s || !h)
        return gptc_fail(err, GPTC_E_NOMEM, "encode: out of memory for a %zu-byte piece", n);
    w->cap = c;
    return GPTC_OK;
}

/* rank and result of merging symbols l and r of piece p (r's bytes end at end) */
static inline uint32_t pair_rank(const gptc_tokenizer *t, bpe_work *w, const char *p,
                                 const bpe_sym *l, const bpe_sym *r, uint32_t end, int32_t *res)
{
    w->work++;
    if (t->pair) {
        const gptc_bpe_pair *q = pair_find(t, l->id, r->id);
        if (!q) return RANK_NONE;
        *res = q->result;
        return q->rank;
    }
    int32_t id = gptc_tok_find_raw(t, p + l->start, end - l->start);
    if (id < 0) return RANK_NONE;
    *res = id;
    return (uint32_t)id;
}

static inline uint32_t sym_end(const bpe_sym *s, int32_t i, uint32_t n)
{
    return s[i].next >= 0 ? s[s[i].next].start : n;
}

static void set_rank(const gptc_tokenizer *t, bpe_work *w, const char *p, uint32_t n, int32_t i)
{
    bpe_sym *s = w->sym;
    if (i < 0) return;
    if (s[i].next < 0) {
        s[i].rank = RANK_NONE;
        return;
    }
    s[i].rank = pair_rank(t, w, p, &s[i], &s[s[i].next], sym_end(s, s[i].next, n), &s[i].res);
}

static void heap_push(bpe_work *w, uint64_t v)
{
    w->work++;
    uint64_t *h = w->heap;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (h[up] <= v) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = v;
}

static uint64_t heap_pop(bpe_work *w)
{
    w->work++;
    uint64_t *h = w->heap;
    uint64_t top = h[0], last = h[--w->n_heap];
    size_t n = w->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= last) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = last;
    return top;
}

/* merge symbol i with its right neighbour (the pair's rank is current) */
static void merge_right(bpe_work *w, int32_t i)
{
    bpe_sym *s = w->sym;
    int32_t r = s[i].next;
    s[i].id = s[i].res;
    s[i].next = s[r].next;
    if (s[r].next >= 0) s[s[r].next].prev = i;
    s[r].id = -1;
    s[r].rank = RANK_NONE;
}

/* Merge the bytes of piece p[0..n) (n >= 2) into tokens and emit them. */
static gptc_status merge_piece(const gptc_tokenizer *t, bpe_work *w, const char *p, size_t n,
                               gptc_err *err)
{
    gptc_status st = grow(w, n, err);
    if (st) return st;
    bpe_sym *s = w->sym;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[(uint8_t)p[i]];
        if (id < 0) id = t->unk;
        if (id < 0)
            return gptc_fail(err, GPTC_E_UNSUPPORTED,
                             "byte 0x%02X has no token in this vocabulary and there is no <unk>",
                             (uint8_t)p[i]);
        s[i] = (bpe_sym){id,          (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1,
                         (uint32_t)i, RANK_NONE,      -1};
    }
    uint32_t nn = (uint32_t)n;
    for (size_t i = 0; i + 1 < n; i++)
        set_rank(t, w, p, nn, (int32_t)i);

    if (n <= (size_t)t->bpe_short_max) {
        /* scan for the lowest rank, leftmost first; the live list is walked in order */
        for (;;) {
            uint32_t best = RANK_NONE;
            int32_t bi = -1;
            for (int32_t i = 0; i >= 0; i = s[i].next)
                if (s[i].rank < best) best = s[i].rank, bi = i;
            if (bi < 0) break;
            merge_right(w, bi);
            set_rank(t, w, p, nn, bi);
            set_rank(t, w, p, nn, s[bi].prev);
        }
    } else {
        /* the hot loop for long pieces: a min-heap of (rank, left); an entry is live while its
         * left symbol is alive and still has that rank (a pair's rank names the pair) */
        w->n_heap = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (s[i].rank != RANK_NONE) heap_push(w, (uint64_t)s[i].rank << 32 | i);
        while (w->n_heap) {
            uint64_t e = heap_pop(w);
            int32_t i = (int32_t)(uint32_t)e;
            uint32_t rank = (uint32_t)(e >> 32);
            if (s[i].id < 0 || s[i].rank != rank) continue;
            merge_right(w, i);
            set_rank(t, w, p, nn, i);
            if (s[i].rank != RANK_NONE) heap_push(w, (uint64_t)s[i].rank << 32 | (uint32_t)i);
            int32_t pv = s[i].prev;
            if (pv >= 0) {
                set_rank(t, w, p, nn, pv);
                if (s[pv].rank != RANK_NONE)
                    heap_push(w, (uint64_t)s[pv].rank << 32 | (uint32_t)pv);
            }
        }
    }
    for (int32_t i = 0; i >= 0; i = s[i].next)
        emit(w, s[i].id);
    return GPTC_OK;
}

static gptc_status encode_piece(const gptc_tokenizer *t, bpe_work *w, const char *p, size_t n,
                                gptc_err *err)
{
    if (n == 1 && t->byte_id[(uint8_t)p[0]] >= 0) {
        emit(w, t->byte_id[(uint8_t)p[0]]);
        return GPTC_OK;
    }
    if (t->ignore_merges) {
        int32_t id = gptc_tok_find_raw(t, p, n);
        if (id >= 0) {
            emit(w, id);
            return GPTC_OK;
        }
    }
    return merge_piece(t, w, p, n, err);
}

/* Replace each byte outside a valid character by U+FFFD, keeping the offset map. */
static gptc_status sanitize(bpe_work *w, const char *s, size_t n, size_t *m, gptc_err *err)
{
    uint64_t need;
    if (gptc_mul_ovf(n, 3, &need) || need > UINT32_MAX)
        return gptc_fail(err, GPTC_E_NOMEM, "encode: text too long");
    if (need + 1 > w->san_cap) {
        free(w->san);
        free(w->map);
        w->san = malloc((size_t)need + 1);
        w->map = malloc(((size_t)need + 1) * sizeof *w->map);
        w->san_cap = w->san && w->map ? (size_t)need + 1 : 0;
        if (!w->san_cap) return gptc_fail(err, GPTC_E_NOMEM, "encode: out of memory");
    }
    const uint8_t *u = (const uint8_t *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = u[i] < 0x80 ? 1 : gptc_utf8_next(u + i, n - i);
        if (k > 0) {
            for (int j = 0; j < k; j++) {
                w->map[o] = (uint32_t)i;
                w->san[o++] = s[i + (size_t)j];
            }
            i += (size_t)k;
        } else {
            memcpy(w->san + o, "\xef\xbf\xbd", 3);
            w->map[o] = w->map[o + 1] = w->map[o + 2] = (uint32_t)i;
            o += 3;
            i++;
        }
    }
    w->map[o] = (uint32_t)n;
    *m = o;
    return GPTC_OK;
}

static gptc_status encode_fragment(const gptc_tokenizer *t, bpe_work *w, const char *s, size_t n,
                                   gptc_err *err)
{
    const char *subj = s;
    size_t sn = n;
    const uint32_t *map = NULL;
    gptc_status st;
    if (!gptc_utf8_valid((const uint8_t *)s, n)) {
        if ((st = sanitize(w, s, n, &sn, err))) return st;
        subj = w->san;
        map = w->map;
    }
    gptc_pretok_iter it;
    if ((st = gptc_pretok_iter_init(&it, t->pre, subj, sn, err))) return st;
    size_t a, b;
    int r;
    while ((r = gptc_pretok_next(&it, &a, &b)) == 1) {
        if (map) a = map[a], b = map[b];
        if (b > a && (st = encode_piece(t, w, s + a, b - a, err))) break;
    }
    if (r < 0) st = gptc_pretok_iter_error(&it, err);
    gptc_pretok_iter_free(&it);
    return st;
}

gptc_status gptc_bpe_encode(const gptc_tokenizer *t, const char *text, size_t len, int add_bos,
                            int parse_special, const uint8_t *literal, int32_t *out, size_t cap,
                            size_t *n_out, uint64_t *work, gptc_err *err)
{
    if (n_out) *n_out = 0;
    if (work) *work = 0;
    if (!t || !n_out || (!text && len) || (!out && cap))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_tok_encode: NULL argument");
    if (len > UINT32_MAX / 4)
        return gptc_fail(err, GPTC_E_NOMEM, "gptc_tok_encode: text of %zu bytes is too long", len);
    bpe_work w = {0};
    w.out = out;
    w.out_cap = cap;
    if (add_bos && t->bos >= 0) emit(&w, t->bos);
    gptc_status st = GPTC_OK;
    gptc_frag one = {-1, 0, len}, *fa = NULL, *fb = NULL, *fr = &one;
    size_t n_frag = len ? 1 : 0;
    /* fragments: each special occurrence adds at most two, and occurrences do not overlap */
    size_t min_sp = 0;
    for (int i = 0; i < t->n_special; i++) {
        int32_t id = t->special[i];
        if (!parse_special && t->type[id] != GPTC_TT_USER_DEFINED) continue;
        if (!min_sp || t->piece[id].n < min_sp) min_sp = (size_t)t->piece[id].n;
    }
    if (len && min_sp) {
        size_t fn = 2 * (len / min_sp) + 1;
        fa = malloc(fn * sizeof *fa);
        fb = malloc(fn * sizeof *fb);
        if (!fa || !fb) {
            st = gptc_fail(err, GPTC_E_NOMEM, "gptc_tok_encode: out of memory for %zu bytes", len);
            goto done;
        }
        fr = gptc_tok_partition(t, text, len, parse_special, literal, fa, fb, &n_frag);
    }
    for (size_t i = 0; i < n_frag; i++) {
        if (fr[i].id >= 0) {
            emit(&w, fr[i].id);
            continue;
        }
        if ((st = encode_fragment(t, &w, text + fr[i].off, fr[i].n, err))) goto done;
    }
    *n_out = w.n_out;
    if (work) *work = w.work;
    gptc_err_clear(err);
done:
    free(fa);
    free(fb);
    free(w.sym);
    free(w.heap);
    free(w.san);
    free(w.map);
    return st;
}
