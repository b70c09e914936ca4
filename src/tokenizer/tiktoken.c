/*
 * tiktoken.c — OpenAI's tiktoken encodings (r50k_base, p50k_base, p50k_edit, cl100k_base,
 * o200k_base, gpt2) and Meta's Llama 3 tokenizer, from their ".tiktoken" rank files.
 *
 * A rank file is one line per token, "<base64 of the token's bytes> <rank>", and the rank is
 * the token id. The file holds neither the split regex nor the special tokens: those are
 * fixed per encoding (the table below, as tiktoken's registry and Llama 3's tokenizer.py
 * define them). Ids the file does not use (cl100k's 100256, o200k's gaps) are UNUSED tokens:
 * they decode to nothing.
 *
 * Where the rank file comes from (gptc never downloads): the path the caller gives, else the
 * first of $GPTC_TIKTOKEN_DIR, $XDG_CACHE_HOME/gptc/tiktoken (~/.cache/gptc/tiktoken),
 * DIR/../share/gptc/tiktoken where DIR holds the running program (the repository ships OpenAI's
 * four rank files there, and `make install` copies them to PREFIX/share/gptc/tiktoken),
 * /usr/local/share/gptc/tiktoken, /usr/share/gptc/tiktoken that holds FILE, where FILE is
 * "<encoding>.tiktoken" (gpt2 uses r50k_base.tiktoken, p50k_edit p50k_base.tiktoken, llama3
 * llama3.tiktoken: Llama 3's tokenizer.model under that name). A file found this way must
 * have the sha256 OpenAI publishes for it (llama3.tiktoken is not checked).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sha256.h"
#include "tokenizer/tokenizer_impl.h"

typedef struct tt_special {
    const char *text;
    int32_t id;
} tt_special;

typedef struct tt_enc {
    const char *name, *file, *pre;
    int32_t bos, eos, eot; /* -1: none */
    int add_bos;
    int n_special;
    const tt_special *special;
    int llama3; /* specials 128000..128255 made by llama3_special() */
} tt_enc;

static const tt_special k_eot50k[] = {{"<|endoftext|>", 50256}};
static const tt_special k_p50k_edit[] = {{"<|endoftext|>", 50256},
                                         {"<|fim_prefix|>", 50281},
                                         {"<|fim_middle|>", 50282},
                                         {"<|fim_suffix|>", 50283}};
static const tt_special k_cl100k[] = {{"<|endoftext|>", 100257},
                                      {"<|fim_prefix|>", 100258},
                                      {"<|fim_middle|>", 100259},
                                      {"<|fim_suffix|>", 100260},
                                      {"<|endofprompt|>", 100276}};
static const tt_special k_o200k[] = {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}};

static const tt_enc k_enc[] = {
    {"r50k_base", "r50k_base.tiktoken", "gpt2", -1, 50256, -1, 0, 1, k_eot50k, 0},
    {"gpt2", "r50k_base.tiktoken", "gpt2", -1, 50256, -1, 0, 1, k_eot50k, 0},
    {"p50k_base", "p50k_base.tiktoken", "gpt2", -1, 50256, -1, 0, 1, k_eot50k, 0},
    {"p50k_edit", "p50k_base.tiktoken", "gpt2", -1, 50256, -1, 0, 4, k_p50k_edit, 0},
    {"cl100k_base", "cl100k_base.tiktoken", "cl100k", -1, 100257, -1, 0, 5, k_cl100k, 0},
    {"o200k_base", "o200k_base.tiktoken", "o200k", -1, 199999, -1, 0, 2, k_o200k, 0},
    {"llama3", "llama3.tiktoken", "llama3-tiktoken", 128000, 128001, 128009, 1, 256, NULL, 1},
};

/* The sha256 OpenAI publishes for each rank file (tiktoken's expected_hash). A file found by
 * name must match it; a path the caller names is taken as it is. */
/* clang-format off */
static const struct { const char *file, *sha256; } k_published[] = {
    {"r50k_base.tiktoken", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"},
    {"p50k_base.tiktoken", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"},
    {"cl100k_base.tiktoken", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"},
    {"o200k_base.tiktoken", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"},
};
/* clang-format on */

static const char *published_sha256(const char *file)
{
    for (size_t i = 0; i < sizeof k_published / sizeof k_published[0]; i++)
        if (strcmp(k_published[i].file, file) == 0) return k_published[i].sha256;
    return NULL;
}

/* Llama 3's 256 special tokens, ids 128000..128255 (Llama 3.1 renames 128008 <|eom_id|> and
 * 128010 <|python_tag|>; the ranks are the same) */
static void llama3_special(int i, char *buf, size_t cap)
{
    static const char *named[] = {
        "<|begin_of_text|>",   "<|end_of_text|>",   NULL, NULL,        NULL, NULL,
        "<|start_header_id|>", "<|end_header_id|>", NULL, "<|eot_id|>"};
    if (i < 10 && named[i]) {
        snprintf(buf, cap, "%s", named[i]);
        return;
    }
    int r = i < 6 ? i - 2 : i == 8 ? 4 : i - 5;
    snprintf(buf, cap, "<|reserved_special_token_%d|>", r);
}

static const tt_enc *find_enc(const char *name)
{
    for (size_t i = 0; i < sizeof k_enc / sizeof k_enc[0]; i++)
        if (name && strcmp(k_enc[i].name, name) == 0) return &k_enc[i];
    return NULL;
}

static int b64val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict base64 (padding required to a multiple of 4) of s[0..n) into out; -1 if malformed. */
static long b64decode(const char *s, size_t n, char *out)
{
    if (n == 0 || n % 4) return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            uint8_t c = (uint8_t)s[i + (size_t)k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad || (v[k] = b64val(c)) < 0) return -1;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (char)(w >> 16);
        if (pad < 2) out[o++] = (char)(w >> 8);
        if (pad < 1) out[o++] = (char)w;
    }
    return (long)o;
}

gptc_status gptc_tiktoken_parse(const char *name, const char *buf, size_t n, gptc_tokenizer **out,
                                gptc_err *err)
{
    if (!out) return gptc_fail(err, GPTC_E_INVALID, "gptc_tiktoken_parse: NULL argument");
    *out = NULL;
    if (!buf && n) return gptc_fail(err, GPTC_E_INVALID, "gptc_tiktoken_parse: NULL argument");
    const tt_enc *e = find_enc(name);
    if (!e)
        return gptc_fail(err, GPTC_E_INVALID,
                         "unknown encoding '%s' (known: r50k_base, p50k_base, p50k_edit, "
                         "cl100k_base, o200k_base, gpt2, llama3)",
                         name ? name : "");
    /* pass 1: count lines and the largest rank */
    size_t lines = 0;
    int64_t max_rank = -1;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) : n;
        size_t ln = end - i;
        if (ln > 0 && buf[end - 1] == '\r') ln--;
        if (ln > 0) {
            const char *sp = memchr(buf + i, ' ', ln);
            if (!sp)
                return gptc_fail(err, GPTC_E_FORMAT, "%s: line %zu has no rank", name, lines + 1);
            int64_t r = 0;
            const char *q = sp + 1, *qe = buf + i + ln;
            if (q == qe)
                return gptc_fail(err, GPTC_E_FORMAT, "%s: line %zu has no rank", name, lines + 1);
            for (; q < qe; q++) {
                if (*q < '0' || *q > '9' || r > (1 << 26))
                    return gptc_fail(err, GPTC_E_FORMAT, "%s: line %zu: bad rank", name, lines + 1);
                r = r * 10 + (*q - '0');
            }
            if (r > max_rank) max_rank = r;
            lines++;
        }
        i = end + 1;
    }
    if (lines == 0) return gptc_fail(err, GPTC_E_FORMAT, "%s: the rank file is empty", name);
    /* ids are dense in real files; a few gaps at most (memory is O(largest rank)) */
    if (max_rank >= (int64_t)lines + 4096)
        return gptc_fail(err, GPTC_E_FORMAT, "%s: rank %lld in a file of %zu lines", name,
                         (long long)max_rank, lines);

    int64_t nv = max_rank + 1;
    char spbuf[64];
    for (int k = 0; k < e->n_special; k++) {
        int32_t id = e->llama3 ? 128000 + k : e->special[k].id;
        if (id + 1 > nv) nv = id + 1;
    }
    gptc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory");
    t->kind = GPTC_TOK_BPE;
    t->n_vocab = (int)nv;
    gptc_status st = GPTC_OK;
    size_t text_cap = n + (size_t)nv + (size_t)e->n_special * 40;
    t->piece = calloc((size_t)nv, sizeof *t->piece);
    t->tbytes = calloc((size_t)nv, sizeof *t->tbytes);
    t->rkey = calloc((size_t)nv, sizeof *t->rkey);
    t->type = malloc((size_t)nv);
    t->text = malloc(text_cap);
    if (!t->piece || !t->tbytes || !t->rkey || !t->type || !t->text) {
        st =
            gptc_fail(err, GPTC_E_NOMEM, "tokenizer: out of memory for %lld tokens", (long long)nv);
        goto fail;
    }
    memset(t->type, GPTC_TT_UNUSED, (size_t)nv);

    /* pass 2: decode */
    char *w = t->text;
    size_t line = 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) : n;
        size_t ln = end - i;
        if (ln > 0 && buf[end - 1] == '\r') ln--;
        if (ln > 0) {
            line++;
            const char *sp = memchr(buf + i, ' ', ln);
            int64_t r = 0; /* digits checked in pass 1; the line is not NUL-terminated */
            for (const char *q = sp + 1; q < buf + i + ln; q++)
                r = r * 10 + (*q - '0');
            long m = b64decode(buf + i, (size_t)(sp - (buf + i)), w);
            if (m <= 0) {
                st = gptc_fail(err, GPTC_E_FORMAT, "%s: line %zu: bad base64", name, line);
                goto fail;
            }
            if (t->type[r] != GPTC_TT_UNUSED) {
                st = gptc_fail(err, GPTC_E_FORMAT, "%s: rank %lld appears twice", name,
                               (long long)r);
                goto fail;
            }
            t->type[r] = GPTC_TT_NORMAL;
            t->piece[r] = (gptc_str){w, (uint64_t)m};
            w[m] = '\0';
            w += m + 1;
        }
        i = end + 1;
    }
    for (int k = 0; k < e->n_special; k++) {
        int32_t id;
        const char *s;
        if (e->llama3) {
            llama3_special(k, spbuf, sizeof spbuf);
            id = 128000 + k;
            s = spbuf;
        } else {
            id = e->special[k].id;
            s = e->special[k].text;
        }
        if (t->type[id] != GPTC_TT_UNUSED) {
            st = gptc_fail(err, GPTC_E_FORMAT, "%s: rank %d is the special token %s's id", name,
                           (int)id, s);
            goto fail;
        }
        size_t sl = strlen(s);
        memcpy(w, s, sl + 1);
        t->piece[id] = (gptc_str){w, sl};
        t->type[id] = GPTC_TT_CONTROL;
        w += sl + 1;
    }
    for (int64_t id = 0; id < nv; id++) {
        if (!t->piece[id].p) t->piece[id] = (gptc_str){w - 1, 0}; /* "" (any NUL will do) */
        t->tbytes[id] = t->piece[id];
        if (t->type[id] == GPTC_TT_NORMAL) t->rkey[id] = t->piece[id];
    }
    if ((st = gptc_tok_build_tables(t, err))) goto fail;
    /* two ranks with the same bytes would make the encoding ambiguous */
    for (int64_t id = 0; id < nv; id++)
        if (t->type[id] == GPTC_TT_NORMAL &&
            gptc_tok_find(t, t->piece[id].p, t->piece[id].n) != (int32_t)id) {
            st = gptc_fail(err, GPTC_E_FORMAT, "%s: two ranks have the same bytes (rank %lld)",
                           name, (long long)id);
            goto fail;
        }
    snprintf(t->name, sizeof t->name, "%s", e->name);
    t->ignore_merges = 1;
    t->bos = e->bos;
    t->eos = e->eos;
    t->eot = e->eot;
    t->unk = t->eom = -1;
    t->add_bos = e->add_bos;
    if ((st = gptc_bpe_finish(t, e->pre, err))) goto fail;
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) {
            st = gptc_fail(err, GPTC_E_FORMAT,
                           "%s: no rank for the single byte 0x%02X: not a byte-level rank file",
                           name, b);
            goto fail;
        }
    *out = t;
    gptc_err_clear(err);
    return GPTC_OK;
fail:
    gptc_tokenizer_free(t);
    return st;
}

static int readable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/* dir + sub + "/" + file into buf, if it fits and names a readable regular file */
static int try_dir(char *buf, size_t cap, const char *dir, const char *sub, const char *file)
{
    int k = snprintf(buf, cap, "%s%s/%s", dir, sub, file);
    return k > 0 && (size_t)k < cap && readable(buf);
}

/* The directory of the running program (Linux: /proc/self/exe), so that a build tree's
 * build/gptc finds share/gptc/tiktoken of its checkout and an installed PREFIX/bin/gptc finds
 * PREFIX/share/gptc/tiktoken. 0 if it cannot be known. */
static int exe_dir(char *buf, size_t cap)
{
    ssize_t k = readlink("/proc/self/exe", buf, cap - 1);
    if (k <= 0 || (size_t)k >= cap - 1) return 0;
    buf[k] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return 0;
    *slash = '\0';
    return 1;
}

gptc_status gptc_tok_load_tiktoken(const char *name, const char *path, gptc_tokenizer **out,
                                   gptc_err *err)
{
    if (!out) return gptc_fail(err, GPTC_E_INVALID, "gptc_tok_load_tiktoken: NULL argument");
    *out = NULL;
    const tt_enc *e = find_enc(name);
    if (!e) return gptc_tiktoken_parse(name, NULL, 0, out, err); /* names the known ones */
    char found[4096], here[4096];
    const char *want_sha = NULL;
    if (!path) {
        const char *env = getenv("GPTC_TIKTOKEN_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
                   *home = getenv("HOME");
        if (env && *env && try_dir(found, sizeof found, env, "", e->file))
            path = found;
        else if (xdg && *xdg && try_dir(found, sizeof found, xdg, "/gptc/tiktoken", e->file))
            path = found;
        else if ((!xdg || !*xdg) && home && *home &&
                 try_dir(found, sizeof found, home, "/.cache/gptc/tiktoken", e->file))
            path = found;
        else if (exe_dir(here, sizeof here) &&
                 try_dir(found, sizeof found, here, "/../share/gptc/tiktoken", e->file))
            path = found;
        else if (try_dir(found, sizeof found, "/usr/local/share/gptc/tiktoken", "", e->file))
            path = found;
        else if (try_dir(found, sizeof found, "/usr/share/gptc/tiktoken", "", e->file))
            path = found;
        if (!path)
            return gptc_fail(err, GPTC_E_IO,
                             "%s: no rank file %s in $GPTC_TIKTOKEN_DIR, ~/.cache/gptc/tiktoken, "
                             "share/gptc/tiktoken beside the program's directory, "
                             "/usr/local/share/gptc/tiktoken or /usr/share/gptc/tiktoken (give "
                             "its path, e.g. --vocab-file FILE)",
                             name, e->file);
        want_sha = published_sha256(e->file);
    }
    struct stat sb;
    if (stat(path, &sb) != 0)
        return gptc_fail(err, GPTC_E_IO, "rank file '%s': %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return gptc_fail(err, GPTC_E_IO, "rank file '%s' is not a regular file", path);
    if (sb.st_size > (1 << 28))
        return gptc_fail(err, GPTC_E_FORMAT, "rank file '%s' is too large (%lld bytes)", path,
                         (long long)sb.st_size);
    FILE *fp = fopen(path, "rb");
    if (!fp) return gptc_fail(err, GPTC_E_IO, "rank file '%s': %s", path, strerror(errno));
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(fp);
        return gptc_fail(err, GPTC_E_NOMEM, "out of memory reading '%s'", path);
    }
    size_t got = fread(buf, 1, n, fp);
    fclose(fp);
    if (got != n) {
        free(buf);
        return gptc_fail(err, GPTC_E_IO, "rank file '%s': short read", path);
    }
    if (want_sha) {
        char hex[65];
        gptc_sha256_hex(buf, n, hex);
        if (strcmp(hex, want_sha) != 0) {
            free(buf);
            return gptc_fail(err, GPTC_E_FORMAT,
                             "rank file '%s' is not OpenAI's %s: sha256 %.16s..., expected "
                             "%.16s...",
                             path, e->file, hex, want_sha);
        }
    }
    gptc_status st = gptc_tiktoken_parse(name, buf, n, out, err);
    free(buf);
    if (st == GPTC_E_FORMAT) {
        gptc_err e2 = *err;
        return gptc_fail(err, st, "%s (%s)", e2.msg, path);
    }
    return st;
}
