/*
 * tokenizer_impl.h — private to src/tokenizer/: the loaded vocabulary that tokenizer.c builds
 * (from GGUF) or tiktoken.c builds (from a rank file), and that spm.c / bpe.c (encoding) and
 * detok.c (decoding) read. Outside src/tokenizer/ only tests include it.
 */
#ifndef GPTC_TOKENIZER_IMPL_H
#define GPTC_TOKENIZER_IMPL_H

#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"

enum gptc_tok_kind {
    GPTC_TOK_SPM = 0, /* SentencePiece-style (spm.c) */
    GPTC_TOK_BPE = 1, /* byte-level BPE with a regex pre-tokenizer (bpe.c) */
    GPTC_TOK_WPM = 2, /* WordPiece (BERT, wpm.c) */
};

/* A GGUF merge: the pair (left id, right id) becomes result at this rank (merge line index). */
typedef struct gptc_bpe_pair {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty slot */
    uint32_t rank;
    int32_t result;
} gptc_bpe_pair;

struct gptc_tokenizer {
    int kind; /* enum gptc_tok_kind */
    int n_vocab;
    gptc_str *piece;  /* (n_vocab) the raw vocabulary text, pointing into text; owned */
    char *text;       /* all pieces back to back, each NUL-terminated; owned */
    float *score;     /* (n_vocab) merge priority, 0 when the file has no scores; owned */
    uint8_t *type;    /* (n_vocab) enum gptc_tok_type; owned */
    int16_t *byte_of; /* (n_vocab) the byte a BYTE token stands for, -1 otherwise; owned */

    /* piece -> id: open addressing with linear probing, slots hold id + 1 (0 = empty).
     * Empty pieces are not in it; for duplicate pieces the last id wins, as in llama.cpp. */
    uint32_t *slot; /* (slot_mask + 1) owned */
    uint32_t slot_mask;
    uint32_t max_piece; /* longest piece in bytes: a longer string is never a token */

    int32_t
        byte_tok[256]; /* byte -> id for byte fallback: <0xNN>, else a one-byte piece, else -1 */

    /* Tokens whose text is split out of raw text before SentencePiece runs: CONTROL and UNKNOWN
     * (only with parse_special), USER_DEFINED (always); longest text first, ties by id. */
    int32_t *special; /* (n_special) owned */
    int n_special;

    int bos, eos, unk, eot, eom; /* -1: none */
    int add_bos, add_eos, add_space_prefix;
    int32_t eog_extra[8]; /* more end-of-generation ids (BPE: <|im_end|>, <|eot_id|> ...) */
    int n_eog_extra;

    /* ---- byte-level BPE (bpe.c, tiktoken.c); unused by SPM ---- */
    gptc_str *tbytes;  /* (n_vocab) the bytes each token decodes to; into tbytes_text; owned */
    char *tbytes_text; /* owned */
    /* raw bytes -> id, the lookup encoding uses (same layout as slot); keyed by rkey, which is
     * empty for tokens encoding never produces; owned */
    gptc_str *rkey;  /* (n_vocab) into rkey_text or tbytes_text; owned */
    char *rkey_text; /* owned, may be NULL */
    uint32_t *rslot;
    uint32_t rslot_mask;
    uint32_t max_raw;
    int32_t byte_id[256]; /* byte -> its one-byte token, -1 if none */
    /* merges: GGUF merge pairs (open addressing); NULL for tiktoken ranks, where the rank of a
     * merge is the id of the merged bytes (tiktoken's rule) */
    gptc_bpe_pair *pair; /* (pair_mask + 1) owned */
    uint32_t pair_mask;
    int ignore_merges; /* look a whole piece up before merging (tiktoken, llama3) */
    gptc_pretok *pre;  /* owned */
    char name[48];     /* pre-tokenizer type or encoding name, for messages */
    int bpe_short_max; /* pieces up to this many bytes merge by scanning, longer ones by heap */
};

/* id of the piece s[0..n), or -1 */
int32_t gptc_tok_find(const gptc_tokenizer *t, const char *s, size_t n);
/* id of the token whose bytes are s[0..n) (BPE), or -1 */
int32_t gptc_tok_find_raw(const gptc_tokenizer *t, const char *s, size_t n);

/* The hash both tables use */
uint32_t gptc_tok_hash(const char *s, size_t n);

/* The piece/special tables every kind needs (piece hash, byte fallback, special list). */
gptc_status gptc_tok_build_tables(gptc_tokenizer *t, gptc_err *err);

/* A fragment of the text: raw bytes (id < 0) or one special token. */
typedef struct gptc_frag {
    int32_t id;
    size_t off, n;
} gptc_frag;
/* llama.cpp's partition: each special token in turn (longest first) splits every raw fragment
 * at each of its occurrences, left to right. USER_DEFINED tokens always, CONTROL/UNKNOWN only
 * with parse_special, and never over a byte marked in literal (NULL: none; else len bytes,
 * nonzero where the text is data, e.g. a chat message's content). a and b hold 2 * (len / m) + 1
 * fragments each, m the shortest special text that can apply (or 2 * len + 1); returns the one
 * holding the result. */
gptc_frag *gptc_tok_partition(const gptc_tokenizer *t, const char *text, size_t len,
                              int parse_special, const uint8_t *literal, gptc_frag *a, gptc_frag *b,
                              size_t *n_frag);

/* byte-level BPE (bpe.c) */
gptc_status gptc_bpe_from_gguf(gptc_tokenizer *t, const gguf_file *f, gptc_err *err);
/* Build the raw-bytes table from rkey, byte_id, and the pre-tokenizer named pre (a regex set
 * of pretok.h). NORMAL tokens win over others with the same bytes. */
gptc_status gptc_bpe_finish(gptc_tokenizer *t, const char *pre, gptc_err *err);
/* Encode as gptc_tok_encode does; *work (may be NULL) receives the merge work done: pair
 * lookups + heap pushes + heap pops (the linear-cost test counts it). */
gptc_status gptc_bpe_encode(const gptc_tokenizer *t, const char *text, size_t len, int add_bos,
                            int parse_special, const uint8_t *literal, int32_t *out, size_t cap,
                            size_t *n_out, uint64_t *work, gptc_err *err);
/* spm.c's encoder (gptc_tok_encode dispatches) */
gptc_status gptc_spm_encode(const gptc_tokenizer *tok, const char *text, size_t len, int add_bos,
                            int parse_special, const uint8_t *literal, int32_t *out, size_t cap,
                            size_t *n_out, gptc_err *err);

/* wpm.c's encoder (WordPiece) */
gptc_status gptc_wpm_encode(const gptc_tokenizer *tok, const char *text, size_t len, int add_bos,
                            int parse_special, const uint8_t *literal, int32_t *out, size_t cap,
                            size_t *n_out, gptc_err *err);

/* GPT-2's bytes -> unicode map: the code point byte b is written as in a byte-level vocabulary */
uint32_t gptc_bpe_byte_to_cp(uint8_t b);
/* ... and back: the byte, or -1 for a code point outside the map */
int gptc_bpe_cp_to_byte(uint32_t cp);

/* 1 if s[0..n) is valid UTF-8 (strict, as gptc_utf8_next) */
int gptc_utf8_valid(const uint8_t *s, size_t n);

/* The UTF-8 character at s[0..n) (n > 0), strictly (no overlong forms, surrogates or code points
 * above U+10FFFF): > 0 its length; 0 the bytes are a valid but incomplete start (n too short);
 * -k the first k bytes are the maximal invalid subpart (k >= 1), one U+FFFD's worth. */
int gptc_utf8_next(const uint8_t *s, size_t n);

#endif
