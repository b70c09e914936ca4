/*
 * spm.c — SentencePiece-style encoding (llama.cpp's SPM tokenizer, tokenizer.ggml.model "llama").
 *
 * 1. Split out special tokens (USER_DEFINED always; CONTROL and UNKNOWN with parse_special):
 *    for each special token, longest text first, every occurrence in every raw fragment
 *    becomes its id. This is llama.cpp's partition order, which is not leftmost-longest.
 * 2. Each raw fragment that starts the text or follows a special token gets a space prefix
 *    (add_space_prefix, on by default), as llama.cpp does; every ' ' becomes U+2581.
 * 3. The fragment is cut into UTF-8 characters (an invalid byte is a symbol of its own), then
 *    the adjacent pair whose concatenation is a vocabulary piece with the highest score is
 *    merged, ties to the leftmost pair, until no pair is a piece. A max-heap of candidate
 *    pairs with lazy deletion makes this O(n log n).
 * 4. A final symbol that is a piece is its id; otherwise each of its bytes is its byte
 *    fallback token (<0xNN>, else a one-byte piece, else <unk>).
 *
 * llama2.c's run.c encoder picks the same merges (highest score, first on ties, one at a time)
 * and so gives the same ids on valid UTF-8 text without NUL bytes.
 */
#include "tokenizer/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

/* One character run of the fragment; merged symbols absorb their right neighbour. */
typedef struct spm_sym {
    int prev, next; /* neighbours in the live list, -1 at the ends */
    uint32_t off;   /* into the escaped fragment */
    uint32_t n;     /* bytes; 0 once merged into its left neighbour */
} spm_sym;

typedef struct spm_pair {
    float score;
    int left, right;
    uint32_t n; /* bytes of the merged text when the pair was queued (detects stale entries) */
} spm_pair;

/* Scratch for one encode call, sized for the whole text (a fragment is never longer). */
typedef struct spm_work {
    char *esc;      /* (3 * len + 3) the escaped fragment */
    spm_sym *sym;   /* (len + 1) */
    spm_pair *heap; /* (3 * (len + 1)) every merge adds at most two candidates */
    size_t n_heap;
} spm_work;

/* Ids go to out while they fit; n counts all of them. */
typedef struct spm_out {
    int32_t *out;
    size_t cap, n;
} spm_out;

static void emit(spm_out *o, int32_t id)
{
    if (o->n < o->cap) o->out[o->n] = id;
    o->n++;
}

/* heap order: higher score first, then the leftmost pair */
static int pair_before(const spm_pair *a, const spm_pair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm_work *w, spm_pair p)
{
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&p, &w->heap[up])) break;
        w->heap[i] = w->heap[up];
        i = up;
    }
    w->heap[i] = p;
}

static spm_pair heap_pop(spm_work *w)
{
    spm_pair top = w->heap[0];
    spm_pair last = w->heap[--w->n_heap];
    size_t n = w->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!pair_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static void try_pair(const gptc_tokenizer *t, spm_work *w, int left, int right)
{
    if (left < 0 || right < 0) return;
    const spm_sym *l = &w->sym[left], *r = &w->sym[right];
    uint32_t n = l->n + r->n;
    int32_t id = gptc_tok_find(t, w->esc + l->off, n);
    if (id < 0) return;
    heap_push(w, (spm_pair){t->score[id], left, right, n});
}

/* Encode text[0..n) (no special tokens inside) with an optional space prefix. */
static gptc_status spm_fragment(const gptc_tokenizer *t, spm_work *w, const char *text, size_t n,
                                int prefix, spm_out *o, gptc_err *err)
{
    /* escape: ' ' -> U+2581 */
    size_t e = 0;
    if (prefix) {
        memcpy(w->esc, "\xe2\x96\x81", 3);
        e = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') {
            memcpy(w->esc + e, "\xe2\x96\x81", 3);
            e += 3;
        } else {
            w->esc[e++] = text[i];
        }
    }

    /* characters */
    int n_sym = 0;
    for (size_t i = 0; i < e;) {
        int k = gptc_utf8_next((const uint8_t *)w->esc + i, e - i);
        size_t len = k > 0 ? (size_t)k : 1;
        w->sym[n_sym] =
            (spm_sym){n_sym - 1, i + len < e ? n_sym + 1 : -1, (uint32_t)i, (uint32_t)len};
        n_sym++;
        i += len;
    }

    /* merges: the hot loop of encoding */
    w->n_heap = 0;
    for (int i = 1; i < n_sym; i++)
        try_pair(t, w, i - 1, i);
    while (w->n_heap) {
        spm_pair p = heap_pop(w);
        spm_sym *l = &w->sym[p.left], *r = &w->sym[p.right];
        /* sizes only grow, so a pair whose sizes no longer add up is stale */
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.n) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = p.left;
        try_pair(t, w, l->prev, p.left);
        try_pair(t, w, p.left, l->next);
    }

    /* ids; symbol 0 is never merged away */
    for (int i = n_sym ? 0 : -1; i >= 0; i = w->sym[i].next) {
        const spm_sym *s = &w->sym[i];
        int32_t id = gptc_tok_find(t, w->esc + s->off, s->n);
        if (id >= 0) {
            emit(o, id);
            continue;
        }
        for (uint32_t j = 0; j < s->n; j++) {
            uint8_t b = (uint8_t)w->esc[s->off + j];
            int32_t bid = t->byte_tok[b] >= 0 ? t->byte_tok[b] : t->unk;
            if (bid < 0)
                return gptc_fail(err, GPTC_E_UNSUPPORTED,
                                 "byte 0x%02X has no token and the vocabulary has no <unk>", b);
            emit(o, bid);
        }
    }
    return GPTC_OK;
}

gptc_status gptc_spm_encode(const gptc_tokenizer *tok, const char *text, size_t len, int add_bos,
                            int parse_special, const uint8_t *literal, int32_t *out, size_t cap,
                            size_t *n_out, gptc_err *err)
{
    if (n_out) *n_out = 0;
    if (!tok || !n_out || (!text && len) || (!out && cap))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_tok_encode: NULL argument");
    spm_out o = {out, cap, 0};
    if (add_bos && tok->bos >= 0) emit(&o, tok->bos);
    if (len == 0) {
        *n_out = o.n;
        gptc_err_clear(err);
        return GPTC_OK;
    }

    /* scratch sizes, checked: esc 3*len+3, sym len+1, heap 3*(len+1), frags 2*(2*len+1) */
    uint64_t n1, esc_n, sym_n, heap_n, frag_n;
    if (gptc_add_ovf(len, 1, &n1) || gptc_mul_ovf(n1, 3, &esc_n) ||
        gptc_mul_ovf(n1, sizeof(spm_sym), &sym_n) ||
        gptc_mul_ovf(n1, 3 * sizeof(spm_pair), &heap_n) ||
        gptc_mul_ovf(n1, 2 * sizeof(gptc_frag), &frag_n) || heap_n > SIZE_MAX / 4 ||
        len > UINT32_MAX / 4 /* symbol offsets are 32-bit */)
        return gptc_fail(err, GPTC_E_NOMEM, "gptc_tok_encode: text of %zu bytes is too long", len);
    spm_work w = {0};
    w.esc = malloc((size_t)esc_n);
    w.sym = malloc((size_t)sym_n);
    w.heap = malloc((size_t)heap_n);
    gptc_frag *fa = malloc((size_t)frag_n), *fb = malloc((size_t)frag_n);
    gptc_status st = GPTC_OK;
    if (!w.esc || !w.sym || !w.heap || !fa || !fb) {
        st = gptc_fail(err, GPTC_E_NOMEM, "gptc_tok_encode: out of memory for %zu bytes", len);
        goto done;
    }

    size_t n_frag;
    gptc_frag *fr = gptc_tok_partition(tok, text, len, parse_special, literal, fa, fb, &n_frag);
    int prev_special = 1;
    for (size_t i = 0; i < n_frag; i++) {
        if (fr[i].id >= 0) {
            emit(&o, fr[i].id);
            prev_special = 1;
            continue;
        }
        st = spm_fragment(tok, &w, text + fr[i].off, fr[i].n, tok->add_space_prefix && prev_special,
                          &o, err);
        if (st != GPTC_OK) goto done;
        prev_special = 0;
    }
    *n_out = o.n;
    gptc_err_clear(err);
done:
    free(w.esc);
    free(w.sym);
    free(w.heap);
    free(fa);
    free(fb);
    return st;
}
