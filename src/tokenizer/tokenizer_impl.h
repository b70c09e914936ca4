/*
 * tokenizer_impl.h — private to src/tokenizer/: the loaded vocabulary that tokenizer.c builds
 * and spm.c (encoding) and detok.c (decoding) read. Nothing outside src/tokenizer/ includes it.
 */
#ifndef GPTC_TOKENIZER_IMPL_H
#define GPTC_TOKENIZER_IMPL_H

#include "tokenizer.h"

struct gptc_tokenizer {
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
};

/* id of the piece s[0..n), or -1 */
int32_t gptc_tok_find(const gptc_tokenizer *t, const char *s, size_t n);

/* The UTF-8 character at s[0..n) (n > 0), strictly (no overlong forms, surrogates or code points
 * above U+10FFFF): > 0 its length; 0 the bytes are a valid but incomplete start (n too short);
 * -k the first k bytes are the maximal invalid subpart (k >= 1), one U+FFFD's worth. */
int gptc_utf8_next(const uint8_t *s, size_t n);

#endif
