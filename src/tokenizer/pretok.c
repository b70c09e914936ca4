/*
 * pretok.c — the regex sets of the byte-level BPE tokenizers, compiled with PCRE2 (+ JIT), and
 * the iterator that cuts text into pieces with them. See pretok.h for the splitting rule.
 *
 * Sources of the patterns: the tiktoken encodings' pat_str (r50k/p50k/cl100k/o200k, as the
 * official tiktoken registry gives them), Meta's Llama 3 tokenizer.py, and for the GGUF
 * pre-tokenizer types the regex lists llama.cpp uses for each tokenizer.ggml.pre value (its
 * fixtures are what the tests compare against). Two rewrites, neither changing a split:
 *   - "\s" is Unicode White_Space written out (WS below): PCRE2's \s lacks U+0085;
 *   - "$" means the end of the piece only (PCRE2_DOLLAR_ENDONLY), as in std::regex.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretok.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

/* Unicode White_Space, the members of \s in Rust's regex and llama.cpp's tables */
#define WS                                                                                         \
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}" \
    "\\x{3000}"
#define S_ "[" WS "]"
#define NS_ "[^" WS "]"
#define NOT_S_L_N "[^" WS "\\p{L}\\p{N}]"

#define GPT2_RE                                                                                    \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?" NOT_S_L_N "+|" S_ "+(?!" NS_ ")|" S_ "+"

/* llama.cpp's Llama 3 / Qwen2 patterns: the contractions as explicit two-case classes */
#define LLAMA_CONTR "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
/* tiktoken's: case-insensitive, as Rust's regex folds it */
#define TT_CONTR "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
#define L3_TAIL(digits)                                                                            \
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" digits "| ?" NOT_S_L_N "+[\\r\\n]*|" S_ "*[\\r\\n]+|" S_     \
    "+(?!" NS_ ")|" S_ "+"

#define O200K_UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define O200K_LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define O200K_RE                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?" O200K_UPPER "*" O200K_LOWER "+" TT_CONTR "?"                          \
    "|[^\\r\\n\\p{L}\\p{N}]?" O200K_UPPER "+" O200K_LOWER "*" TT_CONTR "?"                         \
    "|\\p{N}{1,3}| ?" NOT_S_L_N "+[\\r\\n/]*|" S_ "*[\\r\\n]+|" S_ "+(?!" NS_ ")|" S_ "+"

#define CJK_RE "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

/* DeepSeek LLM's letter class (its tokenizer.json lists these cased-letter ranges), written
 * with escapes: literal Greek and letterlike characters would not survive Unicode normalization */
#define DEEPSEEK_LETTERS                                                                           \
    "[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"                \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"         \
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"                  \
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"                       \
    "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"                 \
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"                 \
    "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}"                 \
    "\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}"         \
    "\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"                           \
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"                 \
    "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}"          \
    "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"                  \
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"         \
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}"                  \
    "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"                 \
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"                 \
    "\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}"         \
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]"

typedef struct re_set {
    const char *name;
    const char *re[GPTC_PRETOK_MAX_RE]; /* NULL-terminated */
} re_set;

static const re_set k_sets[] = {
    {"gpt2", {GPT2_RE}},
    {"llama3", {LLAMA_CONTR L3_TAIL("\\p{N}{1,3}")}},
    {"qwen2", {LLAMA_CONTR L3_TAIL("\\p{N}")}},
    {"starcoder", {"\\p{N}", GPT2_RE}},
    {"deepseek-coder", {"[\\r\\n]", S_ "?\\p{L}+", S_ "?\\p{P}+", CJK_RE, "\\p{N}"}},
    {"deepseek-llm",
     {"[\\r\\n]", S_ "?" DEEPSEEK_LETTERS "+",
      S_ "?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
      S_ "+$", CJK_RE, "\\p{N}+"}},
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"bloom",
     {" ?[^(" WS "|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"}},
    {"viking",
     {" ?[^(" WS "|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+",
      "\\p{N}"}},
    {"cl100k", {TT_CONTR L3_TAIL("\\p{N}{1,3}")}},
    {"llama3-tiktoken", {TT_CONTR L3_TAIL("\\p{N}{1,3}")}},
    {"o200k", {O200K_RE}},
};

struct gptc_pretok {
    const char *name;
    int n_re;
    pcre2_code *re[GPTC_PRETOK_MAX_RE]; /* owned */
    int jit[GPTC_PRETOK_MAX_RE];        /* 1: JIT-compiled, matched with pcre2_jit_match */
};

const char *gptc_pretok_name(const gptc_pretok *p)
{
    return p ? p->name : "";
}

gptc_status gptc_pretok_init(const char *set, gptc_pretok **out, gptc_err *err)
{
    *out = NULL;
    const re_set *rs = NULL;
    for (size_t i = 0; i < sizeof k_sets / sizeof k_sets[0]; i++)
        if (set && strcmp(k_sets[i].name, set) == 0) rs = &k_sets[i];
    if (!rs) return gptc_fail(err, GPTC_E_INVALID, "no pre-tokenizer named '%s'", set ? set : "");
    gptc_pretok *p = calloc(1, sizeof *p);
    if (!p) return gptc_fail(err, GPTC_E_NOMEM, "pre-tokenizer: out of memory");
    p->name = rs->name;
    for (int i = 0; i < GPTC_PRETOK_MAX_RE && rs->re[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        p->re[i] = pcre2_compile((PCRE2_SPTR)rs->re[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_NO_UTF_CHECK,
                                 &ec, &eo, NULL);
        if (!p->re[i]) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(ec, msg, sizeof msg);
            gptc_pretok_free(p);
            /* our own pattern table is wrong: a bug, reported rather than aborted on */
            return gptc_fail(err, GPTC_E_UNSUPPORTED, "pre-tokenizer %s, regex %d: %s at %zu",
                             rs->name, i, (const char *)msg, (size_t)eo);
        }
        p->n_re = i + 1;
        /* without JIT (an odd platform) the interpreter gives the same splits, slower */
        p->jit[i] = pcre2_jit_compile(p->re[i], PCRE2_JIT_COMPLETE) == 0;
    }
    *out = p;
    return GPTC_OK;
}

void gptc_pretok_free(gptc_pretok *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_re; i++)
        pcre2_code_free(p->re[i]);
    free(p);
}

gptc_status gptc_pretok_iter_init(gptc_pretok_iter *it, const gptc_pretok *p, const char *s,
                                  size_t n, gptc_err *err)
{
    memset(it, 0, sizeof *it);
    it->p = p;
    it->s = s;
    it->md = pcre2_match_data_create(1, NULL);
    if (!it->md) return gptc_fail(err, GPTC_E_NOMEM, "pre-tokenizer: out of memory");
    it->lv[0].start = it->lv[0].pos = 0;
    it->lv[0].end = n;
    it->depth = n ? 0 : -1;
    return GPTC_OK;
}

void gptc_pretok_iter_free(gptc_pretok_iter *it)
{
    if (it && it->md) pcre2_match_data_free(it->md);
    if (it) it->md = NULL;
}

gptc_status gptc_pretok_iter_error(const gptc_pretok_iter *it, gptc_err *err)
{
    PCRE2_UCHAR msg[120];
    pcre2_get_error_message(it->rc, msg, sizeof msg);
    return gptc_fail(err, GPTC_E_NOMEM, "pre-tokenizer %s: regex engine error: %s", it->p->name,
                     (const char *)msg);
}

/* Cut the next piece at level d: a gap before the next match, the match, or the rest. */
static int level_step(gptc_pretok_iter *it, int d, size_t *a, size_t *b)
{
    gptc_pretok_level *L = &it->lv[d];
    if (L->qb > L->qa) {
        *a = L->qa, *b = L->qb;
        L->qa = L->qb = 0;
        return 1;
    }
    if (L->pos >= L->end) return 0;
    const gptc_pretok *p = it->p;
    PCRE2_SPTR subj = (PCRE2_SPTR)it->s + L->start;
    size_t n = L->end - L->start, off = L->pos - L->start;
    pcre2_match_data *md = it->md;
    int rc = p->jit[d] ? pcre2_jit_match(p->re[d], subj, n, off, 0, md, NULL)
                       : pcre2_match(p->re[d], subj, n, off, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) {
        *a = L->pos, *b = L->end;
        L->pos = L->end;
        return 1;
    }
    if (rc < 0) {
        it->rc = rc;
        return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t ms = L->start + ov[0], me = L->start + ov[1];
    if (me <= ms) {
        /* an empty match (none of our patterns has one): no cut here, the rest is one piece */
        *a = L->pos, *b = L->end;
        L->pos = L->end;
        return 1;
    }
    if (ms > L->pos) {
        *a = L->pos, *b = ms;
        L->qa = ms, L->qb = me;
    } else {
        *a = ms, *b = me;
    }
    L->pos = me;
    return 1;
}

int gptc_pretok_next(gptc_pretok_iter *it, size_t *a, size_t *b)
{
    while (it->depth >= 0) {
        int d = it->depth;
        int r = level_step(it, d, a, b);
        if (r < 0) return -1;
        if (r == 0) {
            it->depth--;
            continue;
        }
        if (d + 1 == it->p->n_re) return 1;
        /* the next regex cuts this piece */
        it->depth = d + 1;
        it->lv[d + 1].start = it->lv[d + 1].pos = *a;
        it->lv[d + 1].end = *b;
        it->lv[d + 1].qa = it->lv[d + 1].qb = 0;
    }
    return 0;
}
