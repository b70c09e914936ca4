/*
 * tokenizer.c — load the vocabulary from the tokenizer.ggml.* keys and answer questions about
 * it: piece <-> id, token types, special ids. Encoding lives in spm.c (SentencePiece) and bpe.c
 * (byte-level BPE), decoding in detok.c, tiktoken rank files in tiktoken.c.
 *
 * tokenizer.ggml.model "llama" is SentencePiece-style (llama.cpp's SPM); "gpt2" is byte-level
 * BPE (bpe.c adds merges and the pre-tokenizer). A file with tokens but no model key is taken
 * to be "llama", as old converters wrote it.
 *
 * Special ids (bos, eos, unknown, eot, eom): an absent key takes llama.cpp's default for the
 * model (SPM: bos 1, eos 2, unk 0; BPE: bos 11, eos 11, no unk; if the vocabulary is that
 * large; eot/eom none); 0xFFFFFFFF (or -1) means "none"; any other id outside the vocabulary
 * is a format error. Token types outside 0..6 are treated as UNDEFINED (llama.cpp does the same).
 */
#include "tokenizer/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

/* ----------------------------------------------------------------------------------------------
 * piece -> id hash table
 */
uint32_t gptc_tok_hash(const char *s, size_t n)
{
    return gptc_fnv1a32(GPTC_FNV32_INIT, s, n);
}

int32_t gptc_tok_find(const gptc_tokenizer *t, const char *s, size_t n)
{
    if (n == 0 || n > t->max_piece) return -1;
    uint32_t i = gptc_tok_hash(s, n) & t->slot_mask;
    for (;;) {
        uint32_t v = t->slot[i];
        if (v == 0) return -1;
        gptc_str p = t->piece[v - 1];
        if (p.n == n && memcmp(p.p, s, n) == 0) return (int32_t)(v - 1);
        i = (i + 1) & t->slot_mask;
    }
}

int32_t gptc_tok_find_raw(const gptc_tokenizer *t, const char *s, size_t n)
{
    if (n == 0 || n > t->max_raw || !t->rslot) return -1;
    uint32_t i = gptc_tok_hash(s, n) & t->rslot_mask;
    for (;;) {
        uint32_t v = t->rslot[i];
        if (v == 0) return -1;
        gptc_str p = t->rkey[v - 1];
        if (p.n == n && memcmp(p.p, s, n) == 0) return (int32_t)(v - 1);
        i = (i + 1) & t->rslot_mask;
    }
}

static void hash_insert(gptc_tokenizer *t, int32_t id)
{
    gptc_str p = t->piece[id];
    uint32_t i = gptc_tok_hash(p.p, p.n) & t->slot_mask;
    for (;;) {
        uint32_t v = t->slot[i];
        if (v == 0) break;
        gptc_str q = t->piece[v - 1];
        if (q.n == p.n && memcmp(q.p, p.p, p.n) == 0) break; /* duplicate: the later id wins */
        i = (i + 1) & t->slot_mask;
    }
    t->slot[i] = (uint32_t)id + 1;
}

/* ----------------------------------------------------------------------------------------------
 * UTF-8
 */
int gptc_utf8_next(const uint8_t *s, size_t n)
{
    if (n == 0) return 0;
    uint8_t b = s[0];
    if (b < 0x80) return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0) lo = 0xA0; /* no overlong forms */
        if (b == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return -1;
    }
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return 0;
        uint8_t c = s[k];
        if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return -k;
    }
    return len;
}

/* ----------------------------------------------------------------------------------------------
 * loading
 */
static int is_int_type(uint32_t t)
{
    switch (t) {
    case GGUF_VT_U8:
    case GGUF_VT_I8:
    case GGUF_VT_U16:
    case GGUF_VT_I16:
    case GGUF_VT_U32:
    case GGUF_VT_I32:
    case GGUF_VT_U64:
    case GGUF_VT_I64:
        return 1;
    default:
        return 0;
    }
}

/* A special-token id key. *id = def when absent (if def is in the vocabulary, else -1). */
static gptc_status read_id(const gguf_file *f, const char *key, int def, int n_vocab, int *id,
                           gptc_err *err)
{
    const gguf_kv *kv = gptc_gguf_find_kv(f, key);
    if (!kv) {
        *id = def >= 0 && def < n_vocab ? def : -1;
        return GPTC_OK;
    }
    if (!is_int_type(kv->type))
        return gptc_fail(err, GPTC_E_FORMAT, "%s has type %s, expected an integer", key,
                         gptc_gguf_vtype_name(kv->type));
    int64_t v;
    gptc_status st = gptc_gguf_get_int(f, key, &v, err);
    if (st != GPTC_OK) return st;
    if (v == -1 || v == 0xFFFFFFFFll) {
        *id = -1;
        return GPTC_OK;
    }
    if (v < 0 || v >= n_vocab)
        return gptc_fail(err, GPTC_E_FORMAT, "%s = %lld is outside the vocabulary (%d tokens)", key,
                         (long long)v, n_vocab);
    *id = (int)v;
    return GPTC_OK;
}

static gptc_status read_flag(const gguf_file *f, const char *key, int def, int *out, gptc_err *err)
{
    if (!gptc_gguf_find_kv(f, key)) {
        *out = def;
        return GPTC_OK;
    }
    gptc_status st = gptc_gguf_get_bool(f, key, out, err);
    if (st != GPTC_OK) return st;
    *out = *out != 0;
    return GPTC_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

typedef struct special_key {
    uint32_t len;
    int32_t id;
} special_key;

static int special_cmp(const void *a, const void *b)
{
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

gptc_status gptc_tok_build_tables(gptc_tokenizer *t, gptc_err *err)
{
    int n = t->n_vocab;

    /* hash table at most half full */
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)n)
        cap <<= 1;
    t->slot = calloc(cap, sizeof *t->slot);
    t->slot_mask = cap - 1;
    t->byte_of = malloc((size_t)n * sizeof *t->byte_of);
    if (!t->slot || !t->byte_of) return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory");
    for (int32_t id = 0; id < n; id++) {
        gptc_str p = t->piece[id];
        if (p.n > t->max_piece) t->max_piece = (uint32_t)p.n;
        if (p.n) hash_insert(t, id);
        t->byte_of[id] = -1;
        if (t->type[id] == GPTC_TT_BYTE && p.n >= 5 && memcmp(p.p, "<0x", 3) == 0) {
            int h = hexval(p.p[3]), l = hexval(p.p[4]);
            if (h >= 0 && l >= 0) t->byte_of[id] = (int16_t)(h * 16 + l);
        }
    }

    /* byte fallback: "<0xNN>" (any token type, as llama.cpp looks it up by text), else the
     * one-byte piece itself */
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        char c = (char)b;
        int32_t id = gptc_tok_find(t, buf, 6);
        t->byte_tok[b] = id >= 0 ? id : gptc_tok_find(t, &c, 1);
    }

    int ns = 0;
    for (int32_t id = 0; id < n; id++) {
        uint8_t ty = t->type[id];
        if ((ty == GPTC_TT_CONTROL || ty == GPTC_TT_UNKNOWN || ty == GPTC_TT_USER_DEFINED) &&
            t->piece[id].n)
            ns++;
    }
    special_key *keys = malloc((size_t)(ns ? ns : 1) * sizeof *keys);
    t->special = malloc((size_t)(ns ? ns : 1) * sizeof *t->special);
    if (!keys || !t->special) {
        free(keys);
        return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory");
    }
    ns = 0;
    for (int32_t id = 0; id < n; id++) {
        uint8_t ty = t->type[id];
        if ((ty == GPTC_TT_CONTROL || ty == GPTC_TT_UNKNOWN || ty == GPTC_TT_USER_DEFINED) &&
            t->piece[id].n)
            keys[ns++] = (special_key){(uint32_t)t->piece[id].n, id};
    }
    qsort(keys, (size_t)ns, sizeof *keys, special_cmp);
    for (int i = 0; i < ns; i++)
        t->special[i] = keys[i].id;
    t->n_special = ns;
    free(keys);
    return GPTC_OK;
}

gptc_status gptc_tokenizer_from_gguf(const gguf_file *f, gptc_tokenizer **out, gptc_err *err)
{
    if (!f || !out)
        return gptc_fail(err, GPTC_E_INVALID, "gptc_tokenizer_from_gguf: NULL argument");
    *out = NULL;

    const gguf_kv *model = gptc_gguf_find_kv(f, "tokenizer.ggml.model");
    const gguf_kv *tokens = gptc_gguf_find_kv(f, "tokenizer.ggml.tokens");
    int bpe = 0, wpm = 0;
    if (model) {
        if (model->type != GGUF_VT_STR)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "tokenizer.ggml.model has type %s, expected string",
                             gptc_gguf_vtype_name(model->type));
        bpe = gptc_str_eq(model->v.str, "gpt2");
        wpm = gptc_str_eq(model->v.str, "bert");
        if (!bpe && !wpm && !gptc_str_eq(model->v.str, "llama")) {
            int n = (int)GPTC_MIN(model->v.str.n, 64);
            return gptc_fail(err, GPTC_E_UNSUPPORTED, "tokenizer model '%.*s' is not supported yet",
                             n, model->v.str.p);
        }
    }
    if (!tokens) return gptc_fail(err, GPTC_E_FORMAT, "the file has no tokenizer.ggml.tokens");
    if (tokens->type != GGUF_VT_ARR || tokens->v.arr.type != GGUF_VT_STR)
        return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.ggml.tokens is not an array of strings");
    uint64_t n64 = tokens->v.arr.n;
    if (n64 == 0) return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.ggml.tokens is empty");
    if (n64 > (1u << 30))
        return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.ggml.tokens has %llu tokens, too many",
                         (unsigned long long)n64);
    int n = (int)n64;

    const gguf_kv *scores = gptc_gguf_find_kv(f, "tokenizer.ggml.scores");
    if (scores) {
        if (scores->type != GGUF_VT_ARR ||
            (scores->v.arr.type != GGUF_VT_F32 && scores->v.arr.type != GGUF_VT_F64))
            return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.ggml.scores is not a float array");
        if (scores->v.arr.n != n64)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "tokenizer.ggml.scores has %llu entries but there are %d tokens",
                             (unsigned long long)scores->v.arr.n, n);
    }
    const gguf_kv *types = gptc_gguf_find_kv(f, "tokenizer.ggml.token_type");
    if (types) {
        if (types->type != GGUF_VT_ARR || !is_int_type(types->v.arr.type))
            return gptc_fail(err, GPTC_E_FORMAT,
                             "tokenizer.ggml.token_type is not an integer array");
        if (types->v.arr.n != n64)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "tokenizer.ggml.token_type has %llu entries but there are %d tokens",
                             (unsigned long long)types->v.arr.n, n);
    }

    gptc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory");
    t->n_vocab = n;
    t->kind = bpe ? GPTC_TOK_BPE : wpm ? GPTC_TOK_WPM : GPTC_TOK_SPM;
    gptc_status st = GPTC_OK;

    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        gptc_str s = gptc_gguf_arr_str(tokens, (uint64_t)i);
        if (gptc_add_ovf(total, s.n, &total) || gptc_add_ovf(total, 1, &total) ||
            total > SIZE_MAX / 2) {
            st = gptc_fail(err, GPTC_E_FORMAT, "tokenizer.ggml.tokens: total size overflows");
            goto fail;
        }
    }
    t->piece = malloc((size_t)n * sizeof *t->piece);
    t->text = malloc((size_t)total);
    t->score = malloc((size_t)n * sizeof *t->score);
    t->type = malloc((size_t)n);
    if (!t->piece || !t->text || !t->score || !t->type) {
        st = gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory for %d tokens", n);
        goto fail;
    }
    char *w = t->text;
    for (int i = 0; i < n; i++) {
        gptc_str s = gptc_gguf_arr_str(tokens, (uint64_t)i);
        if (s.n) memcpy(w, s.p, s.n);
        w[s.n] = '\0';
        t->piece[i] = (gptc_str){w, s.n};
        w += s.n + 1;
        t->score[i] = scores ? (float)gptc_gguf_arr_float(scores, (uint64_t)i) : 0.0f;
        int64_t ty = types ? gptc_gguf_arr_int(types, (uint64_t)i) : GPTC_TT_NORMAL;
        t->type[i] = ty >= 0 && ty <= GPTC_TT_BYTE ? (uint8_t)ty : GPTC_TT_UNDEFINED;
    }

    /* WordPiece: [CLS] text [SEP] are BOS and EOS, both added by default (llama.cpp) */
    if (wpm && ((st = read_id(f, "tokenizer.ggml.cls_token_id", 101, n, &t->bos, err)) ||
                (st = read_id(f, "tokenizer.ggml.seperator_token_id", 102, n, &t->eos, err)) ||
                (st = read_id(f, "tokenizer.ggml.unknown_token_id", 100, n, &t->unk, err)) ||
                (st = read_flag(f, "tokenizer.ggml.add_bos_token", 1, &t->add_bos, err)) ||
                (st = read_flag(f, "tokenizer.ggml.add_eos_token", 1, &t->add_eos, err))))
        goto fail;
    if (wpm) {
        t->eot = t->eom = -1;
        t->add_space_prefix = 0;
    } else if ((st = read_id(f, "tokenizer.ggml.bos_token_id", bpe ? 11 : 1, n, &t->bos, err)) ||
               (st = read_id(f, "tokenizer.ggml.eos_token_id", bpe ? 11 : 2, n, &t->eos, err)) ||
               (st =
                    read_id(f, "tokenizer.ggml.unknown_token_id", bpe ? -1 : 0, n, &t->unk, err)) ||
               (st = read_id(f, "tokenizer.ggml.eot_token_id", -1, n, &t->eot, err)) ||
               (st = read_id(f, "tokenizer.ggml.eom_token_id", -1, n, &t->eom, err)) ||
               (st = read_flag(f, "tokenizer.ggml.add_bos_token", !bpe, &t->add_bos, err)) ||
               (st = read_flag(f, "tokenizer.ggml.add_eos_token", 0, &t->add_eos, err)) ||
               (st = read_flag(f, "tokenizer.ggml.add_space_prefix", !bpe, &t->add_space_prefix,
                               err)))
        goto fail;

    if ((st = gptc_tok_build_tables(t, err)) != GPTC_OK) goto fail;
    if (bpe && (st = gptc_bpe_from_gguf(t, f, err)) != GPTC_OK) goto fail;
    *out = t;
    gptc_err_clear(err);
    return GPTC_OK;
fail:
    gptc_tokenizer_free(t);
    return st;
}

void gptc_tokenizer_free(gptc_tokenizer *t)
{
    if (!t) return;
    free(t->piece);
    free(t->text);
    free(t->score);
    free(t->type);
    free(t->byte_of);
    free(t->slot);
    free(t->special);
    free(t->tbytes);
    free(t->tbytes_text);
    free(t->rslot);
    free(t->rkey);
    free(t->rkey_text);
    free(t->pair);
    gptc_pretok_free(t->pre);
    free(t);
}

/* ----------------------------------------------------------------------------------------------
 * public accessors
 */
int gptc_tokenizer_is_byte_level(const gptc_tokenizer *t)
{
    return t && t->kind == GPTC_TOK_BPE;
}

int gptc_tok_n_vocab(const gptc_tokenizer *tok)
{
    return tok ? tok->n_vocab : 0;
}
int gptc_tok_bos(const gptc_tokenizer *tok)
{
    return tok ? tok->bos : -1;
}
int gptc_tok_eos(const gptc_tokenizer *tok)
{
    return tok ? tok->eos : -1;
}
int gptc_tok_add_bos(const gptc_tokenizer *tok)
{
    return tok && tok->add_bos && tok->bos >= 0;
}

int gptc_tok_is_eog(const gptc_tokenizer *tok, int32_t id)
{
    if (!tok || id < 0) return 0;
    if (id == tok->eos || id == tok->eot || id == tok->eom) return 1;
    for (int i = 0; i < tok->n_eog_extra; i++)
        if (id == tok->eog_extra[i]) return 1;
    return 0;
}

const char *gptc_tok_piece(const gptc_tokenizer *tok, int32_t id, size_t *len)
{
    if (!tok || id < 0 || id >= tok->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = (size_t)tok->piece[id].n;
    return tok->piece[id].p;
}

/* ----------------------------------------------------------------------------------------------
 * special-token partition (shared by both encoders) and the encode entry point
 */
/* 1 when a special token may be read at text[at .. at + n): a CONTROL (or UNKNOWN) token only
 * where no byte is literal; a USER_DEFINED one (read even without parse_special) where the
 * bytes are all literal or all not, as tokenizing the literal span alone would read it. */
static int special_allowed(const gptc_tokenizer *t, int32_t id, const uint8_t *literal, size_t at,
                           size_t n)
{
    if (!literal) return 1;
    size_t lit = 0;
    for (size_t i = 0; i < n; i++)
        lit += literal[at + i] != 0;
    if (t->type[id] == GPTC_TT_USER_DEFINED) return lit == 0 || lit == n;
    return lit == 0;
}

gptc_frag *gptc_tok_partition(const gptc_tokenizer *t, const char *text, size_t len,
                              int parse_special, const uint8_t *literal, gptc_frag *a, gptc_frag *b,
                              size_t *n_frag)
{
    size_t n = 1;
    a[0] = (gptc_frag){-1, 0, len};
    for (int s = 0; s < t->n_special; s++) {
        int32_t id = t->special[s];
        if (!parse_special && t->type[id] != GPTC_TT_USER_DEFINED) continue;
        gptc_str p = t->piece[id];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (a[i].id >= 0 || a[i].n < p.n) {
                b[m++] = a[i];
                continue;
            }
            size_t off = a[i].off, end = a[i].off + a[i].n, from = off;
            for (;;) {
                const char *hit = memmem(text + from, end - from, p.p, p.n);
                if (!hit) break;
                size_t at = (size_t)(hit - text);
                if (!special_allowed(t, id, literal, at, p.n)) {
                    from = at + 1; /* data, not a token: look further */
                    continue;
                }
                if (at > off) b[m++] = (gptc_frag){-1, off, at - off};
                b[m++] = (gptc_frag){id, at, p.n};
                off = from = at + p.n;
            }
            if (off < end) b[m++] = (gptc_frag){-1, off, end - off};
        }
        gptc_frag *tmp = a;
        a = b;
        b = tmp;
        n = m;
    }
    *n_frag = n;
    return a;
}

/* llama.cpp's add_special: BOS when asked, and EOS after the text when the vocabulary says
 * add_eos_token (BERT's [SEP]) */
static gptc_status add_eos(const gptc_tokenizer *tok, int add_special, gptc_status st, int32_t *out,
                           size_t cap, size_t *n_out)
{
    if (st != GPTC_OK || !add_special || !tok->add_eos || tok->eos < 0) return st;
    if (*n_out < cap) out[*n_out] = tok->eos;
    (*n_out)++;
    return st;
}

gptc_status gptc_tok_encode(const gptc_tokenizer *tok, const char *text, size_t len, int add_bos,
                            int parse_special, int32_t *out, size_t cap, size_t *n_out,
                            gptc_err *err)
{
    gptc_status st;
    if (tok && tok->kind == GPTC_TOK_BPE)
        st = gptc_bpe_encode(tok, text, len, add_bos, parse_special, NULL, out, cap, n_out, NULL,
                             err);
    else if (tok && tok->kind == GPTC_TOK_WPM)
        st = gptc_wpm_encode(tok, text, len, add_bos, parse_special, NULL, out, cap, n_out, err);
    else
        st = gptc_spm_encode(tok, text, len, add_bos, parse_special, NULL, out, cap, n_out, err);
    return add_eos(tok, add_bos, st, out, cap, n_out);
}

gptc_status gptc_tok_encode_lit(const gptc_tokenizer *tok, const char *text, size_t len,
                                int add_bos, const uint8_t *literal, int32_t *out, size_t cap,
                                size_t *n_out, gptc_err *err)
{
    gptc_status st;
    if (tok && tok->kind == GPTC_TOK_BPE)
        st = gptc_bpe_encode(tok, text, len, add_bos, 1, literal, out, cap, n_out, NULL, err);
    else if (tok && tok->kind == GPTC_TOK_WPM)
        st = gptc_wpm_encode(tok, text, len, add_bos, 1, literal, out, cap, n_out, err);
    else
        st = gptc_spm_encode(tok, text, len, add_bos, 1, literal, out, cap, n_out, err);
    return add_eos(tok, add_bos, st, out, cap, n_out);
}

size_t gptc_tok_n_control(const gptc_tokenizer *tok)
{
    size_t n = 0;
    for (int s = 0; tok && s < tok->n_special; s++)
        n += tok->type[tok->special[s]] != GPTC_TT_USER_DEFINED;
    return n;
}

const char *gptc_tok_control_text(const gptc_tokenizer *tok, size_t i, size_t *len)
{
    for (int s = 0; tok && s < tok->n_special; s++) {
        int32_t id = tok->special[s];
        if (tok->type[id] == GPTC_TT_USER_DEFINED) continue;
        if (i-- == 0) {
            if (len) *len = (size_t)tok->piece[id].n;
            return tok->piece[id].p;
        }
    }
    if (len) *len = 0;
    return NULL;
}

gptc_status gptc_tok_count(const gptc_tokenizer *tok, const char *text, size_t len,
                           int parse_special, size_t *n, gptc_err *err)
{
    return gptc_tok_encode(tok, text, len, 0, parse_special, NULL, 0, n, err);
}

void gptc_tok_free(gptc_tokenizer *tok)
{
    gptc_tokenizer_free(tok);
}

gptc_status gptc_tok_load_gguf(const char *path, gptc_tokenizer **tok, gptc_err *err)
{
    if (!path || !tok) return gptc_fail(err, GPTC_E_INVALID, "gptc_tok_load_gguf: NULL argument");
    *tok = NULL;
    gguf_file *f = NULL;
    gptc_status st = gptc_gguf_open(path, &f, err);
    if (st) return st;
    st = gptc_tokenizer_from_gguf(f, tok, err);
    gptc_gguf_close(f);
    return st;
}
