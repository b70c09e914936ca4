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
#include "core/sha256.h"

#define CACHE_MAGIC "GPTCTOKS"
#define CACHE_VERSION 2u
#define CACHE_HEADER 48
#define CHUNK_BYTES (1u << 20) /* tokenize in pieces of about this size, cut after a newline */

/* ----- the inputs ----------------------------------------------------------------------------- */

typedef struct src_list {
    char **path; /* (n) owned */
    int n;
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
    return GPTC_OK;
}

/* The files to read (a directory: its regular files not starting with '.', by name). */
static gptc_status list_sources(const char *path, src_list *s, gptc_err *err)
{
    memset(s, 0, sizeof *s);
    struct stat st;
    if (stat(path, &st) != 0)
        return gptc_fail(err, GPTC_E_IO, "data '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return src_add(s, path, err);
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
            continue; /* caches of single files written beside them by earlier versions */
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

/* The SHA-256 of the inputs' contents (each file's length, then its bytes, in order): the
 * cache's key, with the tokenizer. Reads the files in pieces. */
static gptc_status content_hash(const src_list *src, uint8_t key[32], gptc_err *err)
{
    gptc_sha256_ctx c;
    gptc_sha256_init(&c);
    enum { BUF = 1 << 16 };
    char *buf = malloc(BUF);
    if (!buf) return gptc_fail(err, GPTC_E_NOMEM, "data: out of memory");
    gptc_status s = GPTC_OK;
    for (int i = 0; !s && i < src->n; i++) {
        FILE *f = fopen(src->path[i], "rb");
        if (!f) {
            s = gptc_fail(err, GPTC_E_IO, "data '%s': %s", src->path[i], strerror(errno));
            break;
        }
        struct stat st;
        uint64_t len = fstat(fileno(f), &st) == 0 ? (uint64_t)st.st_size : 0;
        gptc_sha256_update(&c, &len, sizeof len);
        size_t got;
        while ((got = fread(buf, 1, BUF, f)) > 0)
            gptc_sha256_update(&c, buf, got);
        if (ferror(f)) s = gptc_fail(err, GPTC_E_IO, "data '%s': read error", src->path[i]);
        fclose(f);
    }
    free(buf);
    if (!s) gptc_sha256_final(&c, key);
    return s;
}

/* cache_dir/gptc exists (made 0700 if not), is a directory of ours and nobody else's (group
 * and other permissions removed if it had them). 0: usable. */
static int cache_dir_ok(const char *dir, char *why, size_t why_n)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    /* the parents, as mkdir -p does (XDG: created 0700) */
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            snprintf(why, why_n, "%.300s: %s", p, strerror(errno));
            return -1;
        }
        *q = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST) {
        snprintf(why, why_n, "%.300s: %s", p, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(p, &st) != 0) {
        snprintf(why, why_n, "%.300s: %s", p, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        snprintf(why, why_n, "%.300s is not a directory of this user", p);
        return -1;
    }
    if ((st.st_mode & 077) && chmod(p, 0700) != 0) {
        snprintf(why, why_n, "%.300s is open to other users and cannot be made private: %s", p,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 and d filled if the cache is valid for these inputs. */
static int cache_read(const char *path, int n_vocab, uint64_t tok_hash, uint64_t sig, gptc_data *d)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return 0;
    }
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
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp); /* 0600, a new file: nobody else reads the tokens of private text */
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0) {
            close(fd);
            remove(tmp);
        }
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
                           const char *cache_dir, gptc_data_progress progress, void *ud,
                           gptc_data *d, gptc_err *err)
{
    memset(d, 0, sizeof *d);
    src_list src;
    gptc_status s = list_sources(path, &src, err);
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
    /* the cache: cache_dir/<SHA-256 of the format, the tokenizer and the contents>.tokens */
    uint64_t sig = 0;
    if (cache_dir) {
        uint8_t key[32], name[32];
        if ((s = content_hash(&src, key, err))) {
            src_free(&src);
            return s;
        }
        uint32_t meta[2] = {CACHE_VERSION, (uint32_t)V};
        gptc_sha256_ctx c;
        gptc_sha256_init(&c);
        gptc_sha256_update(&c, meta, sizeof meta);
        gptc_sha256_update(&c, &tok_hash, sizeof tok_hash);
        gptc_sha256_update(&c, key, sizeof key);
        gptc_sha256_final(&c, name);
        memcpy(&sig, key, sizeof sig);
        char why[400];
        if (cache_dir_ok(cache_dir, why, sizeof why) != 0) {
            snprintf(d->note, sizeof d->note, "token cache not used (%s)", why);
        } else {
            int n = snprintf(d->cache_path, sizeof d->cache_path, "%s/", cache_dir);
            for (int i = 0; i < 32 && n > 0 && (size_t)n + 3 < sizeof d->cache_path; i++)
                n += snprintf(d->cache_path + n, sizeof d->cache_path - (size_t)n, "%02x", name[i]);
            if (n <= 0 || (size_t)n + 8 >= sizeof d->cache_path) {
                d->cache_path[0] = 0;
                snprintf(d->note, sizeof d->note, "token cache not used (its path is too long)");
            } else {
                strcat(d->cache_path, ".tokens");
            }
        }
    }
    if (d->cache_path[0] && cache_read(d->cache_path, V, tok_hash, sig, d)) {
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
    if (d->cache_path[0]) cache_write(d->cache_path, V, tok_hash, sig, d);
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
