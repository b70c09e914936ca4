/*
 * gptc_gguf_write.c — write a gguf_file as GGUF v3, laid out as llama.cpp writes it:
 *
 *   header | kvs (insertion order) | tensor infos | zero padding to the alignment |
 *   tensor 0 data | padding | tensor 1 data | padding | ...
 *
 * Each tensor's offset is recomputed as the padded end of the one before (llama.cpp checks
 * exactly that), so the offsets stored in f do not matter. The alignment is general.alignment
 * when f has it (written in place as a u32 like any other key), else 32.
 *
 * The file appears atomically: we write path.tmp, flush and fsync it, then rename it over path;
 * on any failure path.tmp is removed and path is untouched.
 */
#include "format/gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct wr {
    FILE *fp;
    uint64_t pos; /* bytes written so far */
    int failed;   /* a write failed: errno saved in err_no */
    int err_no;
} wr;

static void w_bytes(wr *w, const void *p, uint64_t n)
{
    if (w->failed || n == 0) return;
    if (fwrite(p, 1, (size_t)n, w->fp) != (size_t)n) {
        w->failed = 1;
        w->err_no = errno ? errno : EIO;
        return;
    }
    w->pos += n;
}

static void w_u32(wr *w, uint32_t v)
{
    w_bytes(w, &v, 4);
}
static void w_u64(wr *w, uint64_t v)
{
    w_bytes(w, &v, 8);
}

static void w_str(wr *w, gptc_str s)
{
    w_u64(w, s.n);
    w_bytes(w, s.p, s.n);
}

static void w_pad(wr *w, uint64_t alignment)
{
    static const uint8_t zeros[256];
    uint64_t pad = (alignment - w->pos % alignment) % alignment;
    while (pad > 0 && !w->failed) {
        uint64_t n = GPTC_MIN(pad, (uint64_t)sizeof zeros);
        w_bytes(w, zeros, n);
        pad -= n;
    }
}

static void w_scalar(wr *w, const gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_VT_U8:
    case GGUF_VT_BOOL: {
        uint8_t x = (uint8_t)kv->v.u;
        w_bytes(w, &x, 1);
        break;
    }
    case GGUF_VT_I8: {
        int8_t x = (int8_t)kv->v.i;
        w_bytes(w, &x, 1);
        break;
    }
    case GGUF_VT_U16: {
        uint16_t x = (uint16_t)kv->v.u;
        w_bytes(w, &x, 2);
        break;
    }
    case GGUF_VT_I16: {
        int16_t x = (int16_t)kv->v.i;
        w_bytes(w, &x, 2);
        break;
    }
    case GGUF_VT_U32: {
        uint32_t x = (uint32_t)kv->v.u;
        w_bytes(w, &x, 4);
        break;
    }
    case GGUF_VT_I32: {
        int32_t x = (int32_t)kv->v.i;
        w_bytes(w, &x, 4);
        break;
    }
    case GGUF_VT_U64:
        w_u64(w, kv->v.u);
        break;
    case GGUF_VT_I64: {
        int64_t x = kv->v.i;
        w_bytes(w, &x, 8);
        break;
    }
    case GGUF_VT_F32: {
        float x = (float)kv->v.f;
        w_bytes(w, &x, 4);
        break;
    }
    case GGUF_VT_F64: {
        double x = kv->v.f;
        w_bytes(w, &x, 8);
        break;
    }
    default:
        GPTC_ASSERT(0);
    }
}

static void w_kv(wr *w, const gguf_kv *kv)
{
    w_str(w, kv->key);
    w_u32(w, kv->type);
    if (kv->type == GGUF_VT_STR) {
        w_str(w, kv->v.str);
    } else if (kv->type == GGUF_VT_ARR) {
        w_u32(w, kv->v.arr.type);
        w_u64(w, kv->v.arr.n);
        if (kv->v.arr.type == GGUF_VT_STR) {
            const gptc_str *s = kv->v.arr.data;
            for (uint64_t i = 0; i < kv->v.arr.n; i++)
                w_str(w, s[i]);
        } else {
            w_bytes(w, kv->v.arr.data,
                    kv->v.arr.n * gptc_gguf_vtype_size(kv->v.arr.type)); /* checked */
        }
    } else {
        w_scalar(w, kv);
    }
}

/* Everything that could make the output unreadable is checked before a byte is written. */
static gptc_status check_writable(const gguf_file *f, uint64_t *alignment, gptc_err *err)
{
    *alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (kv->key.n == 0)
            return gptc_fail(err, GPTC_E_INVALID, "gguf: kv %" PRIu64 " has an empty key", i);
        if (kv->type >= GGUF_VT_COUNT)
            return gptc_fail(err, GPTC_E_INVALID, "gguf: kv %" PRIu64 " has unknown value type %u",
                             i, kv->type);
        if (kv->type == GGUF_VT_ARR) {
            uint64_t bytes;
            uint32_t et = kv->v.arr.type;
            if (et >= GGUF_VT_COUNT || et == GGUF_VT_ARR)
                return gptc_fail(err, GPTC_E_INVALID,
                                 "gguf: kv %" PRIu64 " has a bad array type %u", i, et);
            if (et != GGUF_VT_STR && gptc_mul_ovf(kv->v.arr.n, gptc_gguf_vtype_size(et), &bytes))
                return gptc_fail(err, GPTC_E_INVALID, "gguf: kv %" PRIu64 " has an array too large",
                                 i);
        }
        if (kv->key.n == 17 && memcmp(kv->key.p, "general.alignment", 17) == 0) {
            if (kv->type != GGUF_VT_U32 || kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) != 0)
                return gptc_fail(err, GPTC_E_INVALID,
                                 "gguf: general.alignment must be a u32 nonzero power of two");
            *alignment = kv->v.u;
        }
    }
    uint64_t off = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (!t->data && t->nbytes)
            return gptc_fail(err, GPTC_E_INVALID, "gguf: tensor %" PRIu64 " has no data", i);
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
            return gptc_fail(err, GPTC_E_INVALID, "gguf: tensor %" PRIu64 " has %u dimensions", i,
                             t->n_dims);
        if (gptc_add_ovf(off, t->nbytes, &off) || gptc_add_ovf(off, *alignment - 1, &off))
            return gptc_fail(err, GPTC_E_INVALID, "gguf: tensor data too large");
        off -= off % *alignment;
    }
    return GPTC_OK;
}

static void w_file(wr *w, const gguf_file *f, uint64_t alignment)
{
    w_bytes(w, "GGUF", 4);
    w_u32(w, 3);
    w_u64(w, f->n_tensors);
    w_u64(w, f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++)
        w_kv(w, &f->kv[i]);
    uint64_t off = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        w_str(w, t->name);
        w_u32(w, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            w_u64(w, t->ne[d]);
        w_u32(w, t->type);
        w_u64(w, off);
        off += t->nbytes + (alignment - t->nbytes % alignment) % alignment; /* checked */
    }
    w_pad(w, alignment);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        w_bytes(w, f->tensors[i].data, f->tensors[i].nbytes);
        w_pad(w, alignment);
    }
}

gptc_status gptc_gguf_write(const gguf_file *f, const char *path, gptc_err *err)
{
    uint64_t alignment;
    gptc_status st = check_writable(f, &alignment, err);
    if (st) return st;

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    wr w = {0};
    w.fp = fopen(tmp, "wb");
    if (!w.fp) {
        st = gptc_fail(err, GPTC_E_IO, "gguf: cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    w_file(&w, f, alignment);
    if (!w.failed && fflush(w.fp) != 0) w.failed = 1, w.err_no = errno;
    if (!w.failed && fsync(fileno(w.fp)) != 0) w.failed = 1, w.err_no = errno;
    if (fclose(w.fp) != 0 && !w.failed) w.failed = 1, w.err_no = errno;
    if (w.failed) {
        st = gptc_fail(err, GPTC_E_IO, "gguf: cannot write '%s': %s", tmp, strerror(w.err_no));
        remove(tmp);
        free(tmp);
        return st;
    }
    if (rename(tmp, path) != 0) {
        st = gptc_fail(err, GPTC_E_IO, "gguf: cannot rename '%s' to '%s': %s", tmp, path,
                       strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return GPTC_OK;
}
