/*
 * data.c — corpus reading, tokenizing, the shard cache and batches (see data.h).
 */
#include "train/data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"

#define CACHE_MAGIC "GPTCTOKS"
#define CACHE_VERSION 1u
#define CACHE_HEADER 48
#define CHUNK_BYTES (1u << 20) /* tokenize in pieces of about this size, cut after a newline */

/* ----- the inputs ----------------------------------------------------------------------------- */

typedef struct src_list {
    char **path; /* (n) owned */
    int n;
    uint64_t sig;   /* names, sizes, mtimes */
    uint64_t bytes; /* total size */
} src_list;

static void src_free(src_list *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->path[i]);
    free(s->path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static gptc_status src_add(src_list *s, const char *path, gptc_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return gptc_fail(err, GPTC_E_IO, "data '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return gptc_fail(err, GPTC_E_IO, "data '%s' is not a regular file", path);
    char **p = realloc(s->path, (size_t)(s->n + 1) * sizeof *p);
    if (!p) return gptc_fail(err, GPTC_E_NOMEM, "data: out of memory");
    s->path = p;
    if (!(s->path[s->n] = strdup(path))) return gptc_fail(err, GPTC_E_NOMEM, "data: out of memory");
    s->n++;
    s->bytes += (uint64_t)st.st_size;
    uint64_t meta[3] = {(uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
                        (uint64_t)st.st_mtim.tv_nsec};
    s->sig = gptc_fnv1a64(gptc_fnv1a64(s->sig, path, strlen(path) + 1), meta, sizeof meta);
    return GPTC_OK;
}

/* The files to read (a directory: its regular files not starting with '.', by name), and where
 * the cache goes. */
static gptc_status list_sources(const char *path, src_list *s, char *cache, size_t cache_n,
                                gptc_err *err)
{
    memset(s, 0, sizeof *s);
    s->sig = GPTC_FNV64_INIT;
    struct stat st;
    if (stat(path, &st) != 0)
        return gptc_fail(err, GPTC_E_IO, "data '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        snprintf(cache, cache_n, "%s.tokens", path);
        return src_add(s, path, err);
    }
    snprintf(cache, cache_n, "%s/.gptc.tokens", path);
    DIR *dir = opendir(path);
    if (!dir) return gptc_fail(err, GPTC_E_IO, "data '%s': %s", path, strerror(errno));
    char **names = NULL;
    int n = 0;
    gptc_status rc = GPTC_OK;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        size_t l = strlen(e->d_name);
        if (l > 7 && strcmp(e->d_name + l - 7, ".tokens") == 0)
            continue; /* caches of single files */
        char **nn = realloc(names, (size_t)(n + 1) * sizeof *nn);
        if (!nn || !(nn[n] = malloc(strlen(path) + l + 2))) {
            if (nn) names = nn;
            rc = gptc_fail(err, GPTC_E_NOMEM, "data: out of memory");
            break;
        }
        names = nn;
        sprintf(names[n], "%s/%s", path, e->d_name);
        n++;
    }
    closedir(dir);
    if (!rc) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; !rc && i < n; i++) {
        struct stat fs;
        if (stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode)) rc = src_add(s, names[i], err);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!rc && s->n == 0)
        rc = gptc_fail(err, GPTC_E_INVALID, "data: directory '%s' holds no files", path);
    return rc;
}

static gptc_status read_all(const char *path, char **buf, size_t *len, gptc_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return gptc_fail(err, GPTC_E_IO, "data '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return gptc_fail(err, GPTC_E_IO, "data '%s' is not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *b = malloc(n + 1);
    if (!b) {
        fclose(f);
        return gptc_fail(err, GPTC_E_NOMEM, "data: out of memory for '%s' (%zu bytes)", path, n);
    }
    size_t got = fread(b, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(b);
        return gptc_fail(err, GPTC_E_IO, "data '%s': read error", path);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return GPTC_OK;
}

/* Text or not: no NUL byte, and at most 1% of the bytes in invalid UTF-8 sequences. */
static int looks_like_text(const uint8_t *s, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        if (b == 0) return 0;
        if (b < 0x80) {
            i++;
            continue;
        }
        int len = b >= 0xF0 ? (b <= 0xF4 ? 4 : 0) : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
        int ok = len > 0 && i + (size_t)len <= n;
        for (int k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xC0) == 0x80;
        if (ok) {
            i += (size_t)len;
        } else {
            bad++;
            i++;
        }
    }
    return bad * 100 <= n;
}

/* ----- the cache ------------------------------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* 1 and d filled if the cache is valid for these inputs. */
static int cache_read(const char *path, int n_vocab, uint64_t tok_hash, uint64_t sig, gptc_data *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t h[CACHE_HEADER];
    struct stat st;
    int ok = fread(h, 1, CACHE_HEADER, f) == CACHE_HEADER && memcmp(h, CACHE_MAGIC, 8) == 0 &&
             get_u32(h + 8) == CACHE_VERSION && get_u32(h + 12) == (uint32_t)n_vocab &&
             get_u64(h + 16) == tok_hash && get_u64(h + 24) == sig && fstat(fileno(f), &st) == 0;
    uint64_t n = ok ? get_u64(h + 32) : 0;
    ok = ok && n < ((uint64_t)1 << 40) && (uint64_t)st.st_size == CACHE_HEADER + n * 4;
    int32_t *tok = ok ? malloc(n ? n * 4 : 4) : NULL;
    ok = ok && tok && fread(tok, 4, n, f) == n;
    fclose(f);
    for (uint64_t i = 0; ok && i < n; i++)
        ok = tok[i] >= 0 && tok[i] < n_vocab;
    ok = ok && gptc_fnv1a64(GPTC_FNV64_INIT, tok, n * 4) == get_u64(h + 40);
    if (!ok) {
        free(tok);
        return 0;
    }
    d->tok = tok;
    d->n = n;
    return 1;
}

/* Write atomically; on failure, a note saying why (training goes on without a cache). */
static void cache_write(const char *path, int n_vocab, uint64_t tok_hash, uint64_t sig,
                        gptc_data *d)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(d->note, sizeof d->note, "token cache not written (%.400s: %s)", tmp,
                 strerror(errno));
        return;
    }
    uint8_t h[CACHE_HEADER];
    memcpy(h, CACHE_MAGIC, 8);
    put_u32(h + 8, CACHE_VERSION);
    put_u32(h + 12, (uint32_t)n_vocab);
    put_u64(h + 16, tok_hash);
    put_u64(h + 24, sig);
    put_u64(h + 32, d->n);
    put_u64(h + 40, d->hash);
    int ok = fwrite(h, 1, CACHE_HEADER, f) == CACHE_HEADER && fwrite(d->tok, 4, d->n, f) == d->n &&
             fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        if (ok) e = errno;
        remove(tmp);
        snprintf(d->note, sizeof d->note, "token cache not written (%.400s: %s)", path,
                 strerror(e));
    }
}

/* ----- tokenizing ----------------------------------------------------------------------------- */

/* Append the ids of text[0..len) to d, in pieces of about CHUNK_BYTES cut after a newline. */
static gptc_status tokenize(const gptc_tokenizer *tok, const char *text, size_t len, gptc_data *d,
                            size_t *cap, gptc_data_progress progress, void *ud, uint64_t *done,
                            uint64_t total, gptc_err *err)
{
    size_t at = 0;
    while (at < len) {
        size_t end = len;
        if (len - at > CHUNK_BYTES) {
            end = at + CHUNK_BYTES;
            const char *nl = memchr(text + end, '\n', len - end);
            end = nl ? (size_t)(nl - text) + 1 : len;
        }
        size_t piece = end - at, need = piece + 16; /* byte-level: at most one id per byte */
        for (;;) {
            if (d->n + need > *cap) {
                size_t nc = (d->n + need) * 2;
                int32_t *t = realloc(d->tok, nc * sizeof *t);
                if (!t) return gptc_fail(err, GPTC_E_NOMEM, "data: out of memory for token ids");
                d->tok = t;
                *cap = nc;
            }
            size_t avail = *cap - d->n;
            gptc_status s =
                gptc_tok_encode(tok, text + at, piece, 0, 0, d->tok + d->n, avail, &need, err);
            if (s) return s;
            if (need <= avail) break; /* else grow to what the tokenizer asked for and retry */
        }
        d->n += need;
        *done += end - at;
        if (progress) progress(ud, *done, total);
        at = end;
    }
    return GPTC_OK;
}

gptc_status gptc_data_load(const char *path, const gptc_tokenizer *tok, uint64_t tok_hash,
                           gptc_data_progress progress, void *ud, gptc_data *d, gptc_err *err)
{
    memset(d, 0, sizeof *d);
    src_list src;
    gptc_status s = list_sources(path, &src, d->cache_path, sizeof d->cache_path, err);
    if (s) {
        src_free(&src);
        return s;
    }
    int V = gptc_tok_n_vocab(tok);
    d->bytes = src.bytes;
    if (src.bytes == 0) {
        src_free(&src);
        return gptc_fail(err, GPTC_E_INVALID, "data '%s' is empty: nothing to train on", path);
    }
    if (cache_read(d->cache_path, V, tok_hash, src.sig, d)) {
        d->cached = 1;
        d->hash = gptc_fnv1a64(GPTC_FNV64_INIT, d->tok, d->n * 4);
        src_free(&src);
        return GPTC_OK;
    }
    size_t cap = 0;
    uint64_t done = 0;
    for (int i = 0; !s && i < src.n; i++) {
        char *text = NULL;
        size_t len = 0;
        if ((s = read_all(src.path[i], &text, &len, err))) break;
        if (!looks_like_text((const uint8_t *)text, len))
            s = gptc_fail(err, GPTC_E_INVALID,
                          "data '%s' does not look like text (NUL bytes or invalid UTF-8); "
                          "gptc trains on text",
                          src.path[i]);
        if (!s) s = tokenize(tok, text, len, d, &cap, progress, ud, &done, src.bytes, err);
        free(text);
    }
    if (!s && d->n == 0) s = gptc_fail(err, GPTC_E_INVALID, "data '%s' gives no tokens", path);
    if (s) {
        src_free(&src);
        gptc_data_free(d);
        return s;
    }
    d->hash = gptc_fnv1a64(GPTC_FNV64_INIT, d->tok, d->n * 4);
    cache_write(d->cache_path, V, tok_hash, src.sig, d);
    src_free(&src);
    return GPTC_OK;
}

void gptc_data_free(gptc_data *d)
{
    free(d->tok);
    d->tok = NULL;
    d->n = d->n_train = 0;
}

/* ----- split and batches ---------------------------------------------------------------------- */

gptc_status gptc_data_split(gptc_data *d, double val_frac, int B, int T, gptc_err *err)
{
    size_t need = (size_t)B * T + 1;
    if (d->n < need)
        return gptc_fail(
            err, GPTC_E_INVALID,
            "data: the corpus has %zu tokens, less than one batch of %d x %d (+1); use a "
            "larger corpus or a smaller --batch / --ctx",
            d->n, B, T);
    size_t n_val = (size_t)(val_frac * (double)d->n);
    if (n_val < (size_t)T + 1) n_val = (size_t)T + 1; /* at least one validation window */
    if (d->n - n_val < (size_t)T + 1)
        return gptc_fail(
            err, GPTC_E_INVALID,
            "data: %zu tokens leave no training window of %d tokens after the validation "
            "split; use a larger corpus or a smaller --ctx",
            d->n, T + 1);
    d->n_train = d->n - n_val;
    return GPTC_OK;
}

void gptc_data_batch(const gptc_data *d, gptc_rng *rng, int B, int T, int32_t *tok, int32_t *tgt)
{
    uint64_t span = d->n_train - (size_t)T; /* offsets 0 .. n_train - T - 1 */
    for (int b = 0; b < B; b++) {
        size_t off = (size_t)(gptc_rng_u64(rng) % span);
        memcpy(tok + (size_t)b * T, d->tok + off, (size_t)T * sizeof *tok);
        memcpy(tgt + (size_t)b * T, d->tok + off + 1, (size_t)T * sizeof *tgt);
    }
}

void gptc_data_val_batch(const gptc_data *d, int i, int n_batches, int B, int T, int32_t *tok,
                         int32_t *tgt)
{
    size_t n_val = d->n - d->n_train, span = n_val - (size_t)T; /* >= 1 by the split */
    size_t n_win = (size_t)n_batches * B;
    for (int b = 0; b < B; b++) {
        size_t w = (size_t)i * B + b;
        size_t off =
            d->n_train +
            (n_win > 1 ? (size_t)((double)w / (double)(n_win - 1) * (double)(span - 1)) : 0);
        memcpy(tok + (size_t)b * T, d->tok + off, (size_t)T * sizeof *tok);
        memcpy(tgt + (size_t)b * T, d->tok + off + 1, (size_t)T * sizeof *tgt);
    }
}
