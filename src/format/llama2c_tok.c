/*
 * llama2c_tok.c — llama2.c's tokenizer.bin -> the tokenizer.ggml.* keys of a gguf_file, token
 * for token what llama.cpp's convert-llama2c-to-ggml writes (tests/test_tokenizer.c checks the
 * arrays against stories260K.gguf, which that converter made from tok512.bin).
 *
 * tokenizer.bin (little-endian): int32 max_token_length (unused), then n_vocab records of
 * { f32 score, int32 len, len bytes }. Bytes after the last record are ignored.
 *
 * Types follow the converter: id 0 "<unk>" UNKNOWN, 1 "<s>" CONTROL, 2 "</s>" CONTROL (llama2.c
 * stores them as "<unk>", "\n<s>\n", "\n</s>\n"), an empty piece CONTROL, a piece that
 * sscanf("<0x%02hhX>") accepts BYTE, the rest NORMAL; then ' ' -> U+2581 in every piece.
 */
#include "format/llama2c.h"

#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static int32_t rd_i32(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, 4);
    return r;
}

static float rd_f32(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float r;
    memcpy(&r, &v, 4);
    return r;
}

static int is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* What sscanf(text, "<0x%02hhX>", &b) == 1 accepts: "<0x", optional white space, then a hex
 * number of at most 2 characters (sign included). The closing '>' is not checked, as there. */
static int is_byte_piece(const uint8_t *s, size_t n)
{
    if (n < 4 || memcmp(s, "<0x", 3) != 0) return 0;
    size_t i = 3;
    while (i < n && is_space(s[i]))
        i++;
    size_t width = 2;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        i++;
        width--;
    }
    return width > 0 && i < n && is_hex(s[i]);
}

gptc_status gptc_llama2c_tokenizer_parse(gguf_file *f, const void *buf, size_t n, int n_vocab,
                                         gptc_err *err)
{
    if (!f || (!buf && n))
        return gptc_fail(err, GPTC_E_INVALID, "gptc_llama2c_tokenizer_parse: NULL argument");
    if (n_vocab <= 0)
        return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.bin: vocabulary size %d is not positive",
                         n_vocab);
    static const uint8_t empty[1];
    const uint8_t *p = buf ? buf : empty, *end = p + n;
    if (n < 4)
        return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.bin: %zu bytes is too short for the header",
                         n);
    int32_t max_len = rd_i32(p);
    if (max_len < 0)
        return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.bin: negative max_token_length %d",
                         (int)max_len);
    /* each record takes at least 8 bytes: refuse before allocating for the vocabulary */
    if ((uint64_t)n_vocab > (n - 4) / 8)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "tokenizer.bin: %zu bytes cannot hold %d tokens (the model's vocabulary)",
                         n, n_vocab);

    /* pass 1: validate and size the escaped text */
    uint64_t total = 0;
    const uint8_t *q = p + 4;
    for (int i = 0; i < n_vocab; i++) {
        if (end - q < 8)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "tokenizer.bin: token %d runs past the end of the file", i);
        int32_t len = rd_i32(q + 4);
        q += 8;
        if (len < 0)
            return gptc_fail(err, GPTC_E_FORMAT, "tokenizer.bin: token %d has a negative length %d",
                             i, (int)len);
        if ((uint64_t)len > (uint64_t)(end - q))
            return gptc_fail(err, GPTC_E_FORMAT,
                             "tokenizer.bin: token %d runs past the end of the file "
                             "(length %d, %zu bytes left)",
                             i, (int)len, (size_t)(end - q));
        uint64_t spaces = 0;
        for (int32_t k = 0; k < len; k++)
            spaces += q[k] == ' ';
        total += (uint64_t)len + 2 * spaces + 8; /* + room for "</s>" and friends */
        q += len;
    }
    /* llama2.c writes exactly the model's tokens: bytes left over mean the tokenizer belongs to
     * a larger vocabulary (e.g. the 32000-token tokenizer.bin beside a 512-token model). */
    if (q != end)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "tokenizer.bin: %zu bytes are left after the model's %d tokens: this "
                         "tokenizer belongs to a larger vocabulary (wrong --tokenizer?)",
                         (size_t)(end - q), n_vocab);

    gptc_str *strs = malloc((size_t)n_vocab * sizeof *strs);
    float *scores = malloc((size_t)n_vocab * sizeof *scores);
    int32_t *types = malloc((size_t)n_vocab * sizeof *types);
    char *text = malloc((size_t)total);
    gptc_status st = GPTC_OK;
    if (!strs || !scores || !types || !text) {
        st = gptc_fail(err, GPTC_E_NOMEM, "tokenizer.bin: out of memory for %d tokens", n_vocab);
        goto done;
    }

    /* pass 2: fill */
    char *w = text;
    q = p + 4;
    for (int i = 0; i < n_vocab; i++) {
        scores[i] = rd_f32(q);
        int32_t len = rd_i32(q + 4);
        const uint8_t *s = q + 8;
        q = s + len;
        size_t sn = (size_t)len;
        int32_t type;
        if (i == 0) {
            s = (const uint8_t *)"<unk>", sn = 5, type = GPTC_TT_UNKNOWN;
        } else if (i == 1) {
            s = (const uint8_t *)"<s>", sn = 3, type = GPTC_TT_CONTROL;
        } else if (i == 2) {
            s = (const uint8_t *)"</s>", sn = 4, type = GPTC_TT_CONTROL;
        } else if (sn == 0) {
            type = GPTC_TT_CONTROL;
        } else if (is_byte_piece(s, sn)) {
            type = GPTC_TT_BYTE;
        } else {
            type = GPTC_TT_NORMAL;
        }
        types[i] = type;
        strs[i].p = w;
        for (size_t k = 0; k < sn; k++) {
            if (s[k] == ' ') {
                memcpy(w, "\xe2\x96\x81", 3);
                w += 3;
            } else {
                *w++ = (char)s[k];
            }
        }
        strs[i].n = (uint64_t)(w - strs[i].p);
    }

    if ((st = gptc_gguf_set_str(f, "tokenizer.ggml.model", "llama", 5, err)) ||
        (st = gptc_gguf_set_arr_str(f, "tokenizer.ggml.tokens", strs, (uint64_t)n_vocab, err)) ||
        (st = gptc_gguf_set_arr(f, "tokenizer.ggml.scores", GGUF_VT_F32, scores, (uint64_t)n_vocab,
                                err)) ||
        (st = gptc_gguf_set_arr(f, "tokenizer.ggml.token_type", GGUF_VT_I32, types,
                                (uint64_t)n_vocab, err)))
        goto done;
    static const struct {
        const char *key;
        int id;
    } ids[] = {
        {"tokenizer.ggml.unknown_token_id", 0},
        {"tokenizer.ggml.bos_token_id", 1},
        {"tokenizer.ggml.eos_token_id", 2},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (ids[i].id >= n_vocab) continue;
        st = gptc_gguf_set_uint(f, ids[i].key, GGUF_VT_U32, (uint64_t)ids[i].id, err);
        if (st != GPTC_OK) goto done;
    }
    gptc_err_clear(err);
done:
    free(strs);
    free(scores);
    free(types);
    free(text);
    return st;
}
