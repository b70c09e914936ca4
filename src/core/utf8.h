/*
 * utf8.h — writing a code point as UTF-8, the project's one encoder (Jinja's lexer and string
 * values, the chat prompt's placeholders, WordPiece's normalised words). Reading UTF-8 strictly
 * is gptc_utf8_next (tokenizer).
 */
#ifndef GPTC_UTF8_H
#define GPTC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* c (at most U+10FFFF) as 1..4 bytes at out; returns how many. */
static inline size_t gptc_utf8_put(uint32_t c, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

#endif
