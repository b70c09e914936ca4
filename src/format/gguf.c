/*
 * gguf.c — the GGUF reader (gptc_gguf_open, gptc_gguf_parse), the accessors and the in-memory
 * builder. The writer is in gptc_gguf_write.c.
 *
 * The parser reads through a cursor that never moves past its end pointer: every length, count
 * and size is compared with the bytes left, using overflow-checked arithmetic, before anything
 * is read or allocated. Counts from the header are bounded by the smallest encoding of one item
 * times the bytes left, so no allocation is larger than a small multiple of the file size.
 *
 * Memory: kv[] and tensors[] are plain malloc'd arrays (the builder grows them); everything else
 * the file owns (copied keys and strings, string-array indexes, copied numeric arrays) lives in
 * a linked list of blocks hanging off f->owned, freed all at once by gptc_gguf_close.
 */
#include "format/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"
#include "quant/quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian values with memcpy: a big-endian host needs byte swaps"
#endif

/* Smallest possible encodings, used to bound header counts by the bytes that follow.
 * kv: key length (8) + a non-empty key (1) + value type (4) + the smallest value (u8: 1).
 * tensor: name length (8) + n_dims (4) + one dimension (8) + type (4) + offset (8). */
#define GGUF_MIN_KV_BYTES 14u
#define GGUF_MIN_TENSOR_BYTES 32u
#define GGUF_HEADER_BYTES 24u

/* ------------------------------------------------------------------------------------------
 * Owned memory: a singly linked list of blocks
 */
typedef struct gguf_block {
    struct gguf_block *next;
    max_align_t data[];
} gguf_block;

/* n bytes owned by f, freed by gptc_gguf_close; NULL when out of memory. */
static void *gguf_alloc(gguf_file *f, uint64_t n)
{
    if (n > SIZE_MAX - sizeof(gguf_block)) return NULL;
    gguf_block *b = malloc(sizeof(gguf_block) + (size_t)n);
    if (!b) return NULL;
    b->next = f->owned;
    f->owned = b;
    return b->data;
}

static void gguf_free_blocks(gguf_file *f)
{
    gguf_block *b = f->owned;
    while (b) {
        gguf_block *next = b->next;
        free(b);
        b = next;
    }
    f->owned = NULL;
}

void gptc_gguf_close(gguf_file *f)
{
    if (!f) return;
    gguf_free_blocks(f);
    free(f->kv);
    free(f->tensors);
    if (f->owns_map && f->map && f->map_size > 0) munmap(GPTC_UNCONST(void *, f->map), f->map_size);
    free(f);
}

/* ------------------------------------------------------------------------------------------
 * Names and sizes
 */
static const char *const k_vtype_names[GGUF_VT_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const uint8_t k_vtype_sizes[GGUF_VT_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gptc_gguf_vtype_name(uint32_t t)
{
    return t < GGUF_VT_COUNT ? k_vtype_names[t] : "unknown";
}

size_t gptc_gguf_vtype_size(uint32_t t)
{
    return t < GGUF_VT_COUNT ? k_vtype_sizes[t] : 0;
}

static int vtype_is_int(uint32_t t)
{
    return t == GGUF_VT_U8 || t == GGUF_VT_I8 || t == GGUF_VT_U16 || t == GGUF_VT_I16 ||
           t == GGUF_VT_U32 || t == GGUF_VT_I32 || t == GGUF_VT_U64 || t == GGUF_VT_I64;
}

static int vtype_is_unsigned(uint32_t t)
{
    return t == GGUF_VT_U8 || t == GGUF_VT_U16 || t == GGUF_VT_U32 || t == GGUF_VT_U64;
}

/* A printable, bounded copy of an untrusted name for error messages (one line, <= 64 bytes). */
typedef struct shown {
    char s[72];
} shown;

static shown show(gptc_str name)
{
    shown r;
    size_t n = name.n > 64 ? 61 : (size_t)name.n, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name.p[i];
        r.s[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (name.n > 64) {
        memcpy(r.s + i, "...", 3);
        i += 3;
    }
    r.s[i] = '\0';
    return r;
}

static gptc_str cstr(const char *s)
{
    gptc_str r = {s, strlen(s)};
    return r;
}

static int str_eq(gptc_str a, gptc_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, (size_t)a.n) == 0);
}

static int is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* ------------------------------------------------------------------------------------------
 * Duplicate detection: an open-addressing set of string pointers, sized for n entries
 */
typedef struct strset {
    const gptc_str **slot;
    size_t mask;
} strset;

static uint64_t str_hash(gptc_str s)
{
    return gptc_fnv1a64(GPTC_FNV64_INIT, s.p, (size_t)s.n);
}

static int strset_init(strset *set, uint64_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2; /* n is bounded by the file size, so this cannot overflow */
    set->slot = calloc(cap, sizeof *set->slot);
    set->mask = cap - 1;
    return set->slot != NULL;
}

/* 1 if s was already present (s is not added again), 0 if it was added. */
static int strset_add(strset *set, const gptc_str *s)
{
    size_t i = (size_t)str_hash(*s) & set->mask;
    while (set->slot[i]) {
        if (str_eq(*set->slot[i], *s)) return 1;
        i = (i + 1) & set->mask;
    }
    set->slot[i] = s;
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Reader: a cursor over [base, end)
 */
typedef struct rd {
    const uint8_t *base, *p, *end;
    gptc_err *err;
} rd;

static uint64_t rd_left(const rd *r)
{
    return (uint64_t)(r->end - r->p);
}
static uint64_t rd_off(const rd *r)
{
    return (uint64_t)(r->p - r->base);
}

static gptc_status rd_bytes(rd *r, void *dst, uint64_t n, const char *what)
{
    if (n > rd_left(r))
        return gptc_fail(r->err, GPTC_E_FORMAT,
                         "gguf: %s at offset %" PRIu64 " runs past the end of the file", what,
                         rd_off(r));
    memcpy(dst, r->p, (size_t)n);
    r->p += n;
    return GPTC_OK;
}

static gptc_status rd_u32(rd *r, uint32_t *v, const char *what)
{
    return rd_bytes(r, v, 4, what);
}
static gptc_status rd_u64(rd *r, uint64_t *v, const char *what)
{
    return rd_bytes(r, v, 8, what);
}

static gptc_status rd_str(rd *r, gptc_str *s, const char *what)
{
    uint64_t at = rd_off(r), len = 0;
    gptc_status st = rd_u64(r, &len, what);
    if (st) return st;
    if (len > rd_left(r))
        return gptc_fail(r->err, GPTC_E_FORMAT,
                         "gguf: %s at offset %" PRIu64
                         " runs past the end of the file (length %" PRIu64 ")",
                         what, at, len);
    s->p = (const char *)r->p;
    s->n = len;
    r->p += len;
    return GPTC_OK;
}

/* Read one scalar of a fixed-size type into kv->v. */
static gptc_status rd_scalar(rd *r, uint32_t type, gguf_kv *kv)
{
    uint8_t b[8];
    size_t sz = gptc_gguf_vtype_size(type);
    uint64_t at = rd_off(r);
    gptc_status st = rd_bytes(r, b, sz, "value");
    if (st) return st;
    switch (type) {
    case GGUF_VT_U8:
        kv->v.u = b[0];
        break;
    case GGUF_VT_I8:
        kv->v.i = (int8_t)b[0];
        break;
    case GGUF_VT_U16: {
        uint16_t x;
        memcpy(&x, b, 2);
        kv->v.u = x;
        break;
    }
    case GGUF_VT_I16: {
        int16_t x;
        memcpy(&x, b, 2);
        kv->v.i = x;
        break;
    }
    case GGUF_VT_U32: {
        uint32_t x;
        memcpy(&x, b, 4);
        kv->v.u = x;
        break;
    }
    case GGUF_VT_I32: {
        int32_t x;
        memcpy(&x, b, 4);
        kv->v.i = x;
        break;
    }
    case GGUF_VT_U64: {
        uint64_t x;
        memcpy(&x, b, 8);
        kv->v.u = x;
        break;
    }
    case GGUF_VT_I64: {
        int64_t x;
        memcpy(&x, b, 8);
        kv->v.i = x;
        break;
    }
    case GGUF_VT_F32: {
        float x;
        memcpy(&x, b, 4);
        kv->v.f = x;
        break;
    }
    case GGUF_VT_F64: {
        double x;
        memcpy(&x, b, 8);
        kv->v.f = x;
        break;
    }
    case GGUF_VT_BOOL:
        if (b[0] > 1)
            return gptc_fail(r->err, GPTC_E_FORMAT,
                             "gguf: key '%s' has bool value %u at offset %" PRIu64
                             " (must be 0 or 1)",
                             show(kv->key).s, b[0], at);
        kv->v.u = b[0];
        break;
    default:
        GPTC_ASSERT(0);
    }
    return GPTC_OK;
}

static gptc_status rd_array(rd *r, gguf_file *f, gguf_kv *kv)
{
    uint32_t et = 0;
    uint64_t n = 0, at;
    gptc_status st = rd_u32(r, &et, "array type");
    if (st) return st;
    if (et == GGUF_VT_ARR)
        return gptc_fail(
            r->err, GPTC_E_FORMAT,
            "gguf: key '%s' is a nested array (array of arrays), which is not supported",
            show(kv->key).s);
    if (et >= GGUF_VT_COUNT)
        return gptc_fail(r->err, GPTC_E_FORMAT,
                         "gguf: key '%s' is an array of unknown value type %u", show(kv->key).s,
                         et);
    at = rd_off(r);
    if ((st = rd_u64(r, &n, "array count"))) return st;
    kv->v.arr.type = et;
    kv->v.arr.n = n;
    if (et == GGUF_VT_STR) {
        /* every string needs at least its 8-byte length: bound n before allocating the index */
        if (n > rd_left(r) / 8)
            return gptc_fail(r->err, GPTC_E_FORMAT,
                             "gguf: array '%s' at offset %" PRIu64
                             " runs past the end of the file (count %" PRIu64 ")",
                             show(kv->key).s, at, n);
        gptc_str *strs = gguf_alloc(f, n * sizeof(gptc_str) + 1);
        if (!strs)
            return gptc_fail(r->err, GPTC_E_NOMEM, "gguf: out of memory for array '%s'",
                             show(kv->key).s);
        for (uint64_t i = 0; i < n; i++)
            if ((st = rd_str(r, &strs[i], "string"))) return st;
        kv->v.arr.data = strs;
        return GPTC_OK;
    }
    uint64_t bytes;
    if (gptc_mul_ovf(n, gptc_gguf_vtype_size(et), &bytes) || bytes > rd_left(r))
        return gptc_fail(r->err, GPTC_E_FORMAT,
                         "gguf: array '%s' at offset %" PRIu64
                         " runs past the end of the file (count %" PRIu64 ")",
                         show(kv->key).s, at, n);
    if (et == GGUF_VT_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (r->p[i] > 1)
                return gptc_fail(r->err, GPTC_E_FORMAT,
                                 "gguf: array '%s' element %" PRIu64 " is bool %u (must be 0 or 1)",
                                 show(kv->key).s, i, r->p[i]);
    kv->v.arr.data = r->p;
    r->p += bytes;
    return GPTC_OK;
}

static gptc_status rd_kv(rd *r, gguf_file *f, gguf_kv *kv)
{
    uint64_t at = rd_off(r);
    gptc_status st = rd_str(r, &kv->key, "key");
    if (st) return st;
    if (kv->key.n == 0)
        return gptc_fail(r->err, GPTC_E_FORMAT, "gguf: key at offset %" PRIu64 " is empty", at);
    if ((st = rd_u32(r, &kv->type, "value type"))) return st;
    switch (kv->type) {
    case GGUF_VT_STR:
        return rd_str(r, &kv->v.str, "string");
    case GGUF_VT_ARR:
        return rd_array(r, f, kv);
    default:
        if (kv->type >= GGUF_VT_COUNT)
            return gptc_fail(r->err, GPTC_E_FORMAT, "gguf: key '%s' has unknown value type %u",
                             show(kv->key).s, kv->type);
        return rd_scalar(r, kv->type, kv);
    }
}

/* Shape and type checks shared by the parser and gptc_gguf_add_tensor; fills t->nbytes. */
static gptc_status check_tensor(gguf_tensor *t, gptc_status bad, gptc_err *err)
{
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return gptc_fail(err, bad, "gguf: tensor '%s' has %u dimensions (expected 1 to %d)",
                         show(t->name).s, t->n_dims, GGUF_MAX_DIMS);
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        if (d >= t->n_dims) t->ne[d] = 1;
        if (t->ne[d] == 0)
            return gptc_fail(err, bad, "gguf: tensor '%s' has dimension %u of size 0",
                             show(t->name).s, d);
        if (gptc_mul_ovf(nelem, t->ne[d], &nelem))
            return gptc_fail(err, bad,
                             "gguf: tensor '%s' has too many elements (the dimensions overflow)",
                             show(t->name).s);
    }
    const gptc_type_traits *ti = gptc_type_info(t->type);
    if (!ti)
        return gptc_fail(err, bad, "gguf: tensor '%s' has unknown type %u", show(t->name).s,
                         t->type);
    if (t->ne[0] % (uint64_t)ti->blck != 0)
        return gptc_fail(err, bad,
                         "gguf: row length %" PRIu64
                         " of tensor '%s' is not a multiple of the block size %d of type %s",
                         t->ne[0], show(t->name).s, ti->blck, ti->name);
    uint64_t nb = t->ne[0] / (uint64_t)ti->blck;
    if (gptc_mul_ovf(nb, ti->type_size, &nb) || gptc_mul_ovf(nb, t->ne[1], &nb) ||
        gptc_mul_ovf(nb, t->ne[2], &nb) || gptc_mul_ovf(nb, t->ne[3], &nb))
        return gptc_fail(err, bad, "gguf: tensor '%s' is too large (its size overflows)",
                         show(t->name).s);
    t->nbytes = nb;
    return GPTC_OK;
}

static gptc_status rd_tensor(rd *r, gguf_tensor *t, uint64_t alignment)
{
    gptc_status st = rd_str(r, &t->name, "tensor name");
    if (st) return st;
    if ((st = rd_u32(r, &t->n_dims, "tensor dimension count"))) return st;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return gptc_fail(r->err, GPTC_E_FORMAT,
                         "gguf: tensor '%s' has %u dimensions (expected 1 to %d)", show(t->name).s,
                         t->n_dims, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < t->n_dims; d++)
        if ((st = rd_u64(r, &t->ne[d], "tensor dimension"))) return st;
    if ((st = rd_u32(r, &t->type, "tensor type"))) return st;
    if ((st = rd_u64(r, &t->offset, "tensor offset"))) return st;
    if ((st = check_tensor(t, GPTC_E_FORMAT, r->err))) return st;
    if (t->offset % alignment != 0)
        return gptc_fail(r->err, GPTC_E_FORMAT,
                         "gguf: tensor '%s' has offset %" PRIu64
                         ", not a multiple of the alignment %" PRIu64,
                         show(t->name).s, t->offset, alignment);
    return GPTC_OK;
}

typedef struct span {
    uint64_t start, end;
    uint64_t idx;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

/* Data placement: inside the buffer, sizes summing to no more than the data section, and no two
 * tensors overlapping. Sets data_offset and every tensor's data pointer. */
static gptc_status place_tensors(gguf_file *f, const uint8_t *buf, uint64_t n, uint64_t header_end,
                                 gptc_err *err)
{
    uint64_t data_off;
    if (gptc_add_ovf(header_end, f->alignment - 1, &data_off))
        return gptc_fail(err, GPTC_E_FORMAT, "gguf: the header is too large");
    data_off -= data_off % f->alignment;
    f->data_offset = data_off;
    if (f->n_tensors == 0) return GPTC_OK;
    if (data_off > n)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "gguf: the data section (offset %" PRIu64
                         ") starts past the end of the file (%" PRIu64 " bytes)",
                         data_off, n);
    uint64_t section = n - data_off, sum = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t end;
        if (gptc_add_ovf(t->offset, t->nbytes, &end) || end > section)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "gguf: data of tensor '%s' (offset %" PRIu64 ", %" PRIu64
                             " bytes) runs past the end of the file",
                             show(t->name).s, t->offset, t->nbytes);
        if (gptc_add_ovf(sum, t->nbytes, &sum) || sum > section)
            return gptc_fail(err, GPTC_E_FORMAT,
                             "gguf: tensor sizes add up to more than the data section (%" PRIu64
                             " bytes)",
                             section);
        t->data = buf + data_off + t->offset;
    }
    span *sp = malloc(f->n_tensors * sizeof *sp); /* n_tensors is bounded by the file size */
    if (!sp) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        sp[i].start = f->tensors[i].offset;
        sp[i].end = f->tensors[i].offset + f->tensors[i].nbytes; /* checked above */
        sp[i].idx = i;
    }
    qsort(sp, f->n_tensors, sizeof *sp, span_cmp);
    for (uint64_t i = 0; i + 1 < f->n_tensors; i++) {
        if (sp[i].end > sp[i + 1].start) {
            gptc_status st = gptc_fail(err, GPTC_E_FORMAT, "gguf: tensors '%s' and '%s' overlap",
                                       show(f->tensors[sp[i].idx].name).s,
                                       show(f->tensors[sp[i + 1].idx].name).s);
            free(sp);
            return st;
        }
    }
    free(sp);
    return GPTC_OK;
}

static gptc_status parse_into(gguf_file *f, const uint8_t *buf, uint64_t n, gptc_err *err)
{
    if (n == 0) return gptc_fail(err, GPTC_E_FORMAT, "gguf: the file is empty");
    rd r = {buf, buf, buf + n, err};
    gptc_status st;
    char magic[4];
    if ((st = rd_bytes(&r, magic, 4, "magic"))) return st;
    if (memcmp(magic, "GGUF", 4) != 0)
        return gptc_fail(err, GPTC_E_FORMAT, "gguf: bad magic (not a GGUF file)");
    if ((st = rd_u32(&r, &f->version, "version"))) return st;
    if (f->version != 2 && f->version != 3)
        return gptc_fail(err, GPTC_E_UNSUPPORTED,
                         "gguf: version %u is not supported (only versions 2 and 3)", f->version);
    if ((st = rd_u64(&r, &f->n_tensors, "tensor count"))) return st;
    if ((st = rd_u64(&r, &f->n_kv, "kv count"))) return st;
    uint64_t left = rd_left(&r);
    if (f->n_kv > left / GGUF_MIN_KV_BYTES)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "gguf: kv count %" PRIu64 " is impossible in a file of %" PRIu64 " bytes",
                         f->n_kv, n);
    if (f->n_tensors > left / GGUF_MIN_TENSOR_BYTES ||
        f->n_tensors > (left - f->n_kv * GGUF_MIN_KV_BYTES) / GGUF_MIN_TENSOR_BYTES)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "gguf: tensor count %" PRIu64 " is impossible in a file of %" PRIu64
                         " bytes",
                         f->n_tensors, n);
    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    if (!f->kv || !f->tensors) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    f->cap_kv = f->n_kv;
    f->cap_tensors = f->n_tensors;

    strset set;
    if (!strset_init(&set, GPTC_MAX(f->n_kv, f->n_tensors)))
        return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < f->n_kv && !st; i++) {
        if ((st = rd_kv(&r, f, &f->kv[i]))) break;
        if (strset_add(&set, &f->kv[i].key))
            st = gptc_fail(err, GPTC_E_FORMAT, "gguf: duplicate key '%s'", show(f->kv[i].key).s);
    }
    if (st) {
        free(set.slot);
        return st;
    }

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = gptc_gguf_find_kv(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_VT_U32)
            st = gptc_fail(err, GPTC_E_FORMAT, "gguf: general.alignment has type %s, expected u32",
                           gptc_gguf_vtype_name(al->type));
        else if (!is_pow2(al->v.u))
            st = gptc_fail(err, GPTC_E_FORMAT,
                           "gguf: general.alignment %" PRIu64 " is not a nonzero power of two",
                           al->v.u);
        else
            f->alignment = al->v.u;
    }

    memset(set.slot, 0, (set.mask + 1) * sizeof *set.slot);
    for (uint64_t i = 0; i < f->n_tensors && !st; i++) {
        if ((st = rd_tensor(&r, &f->tensors[i], f->alignment))) break;
        if (strset_add(&set, &f->tensors[i].name))
            st = gptc_fail(err, GPTC_E_FORMAT, "gguf: duplicate tensor name '%s'",
                           show(f->tensors[i].name).s);
    }
    free(set.slot);
    if (st) return st;
    return place_tensors(f, buf, n, rd_off(&r), err);
}

gptc_status gptc_gguf_parse(const void *buf, size_t n, gguf_file **out, gptc_err *err)
{
    *out = NULL;
    if (!buf && n) return gptc_fail(err, GPTC_E_INVALID, "gguf: NULL buffer");
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    gptc_status st = parse_into(f, buf, n, err);
    if (st) {
        gptc_gguf_close(f);
        return st;
    }
    f->map = buf;
    f->map_size = n;
    f->owns_map = 0;
    gptc_err_clear(err);
    *out = f;
    return GPTC_OK;
}

gptc_status gptc_gguf_open(const char *path, gguf_file **out, gptc_err *err)
{
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; we reject it right after fstat */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return gptc_fail(err, GPTC_E_IO, "gguf: cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return gptc_fail(err, GPTC_E_IO, "gguf: cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        const char *what = S_ISDIR(sb.st_mode)    ? "a directory"
                           : S_ISFIFO(sb.st_mode) ? "a FIFO"
                           : S_ISCHR(sb.st_mode)  ? "a character device"
                           : S_ISBLK(sb.st_mode)  ? "a block device"
                           : S_ISSOCK(sb.st_mode) ? "a socket"
                                                  : "not a regular file";
        close(fd);
        return gptc_fail(err, GPTC_E_IO, "gguf: '%s' is %s, not a regular file", path, what);
    }
    if (sb.st_size == 0) {
        close(fd);
        return gptc_fail(err, GPTC_E_FORMAT, "gguf: '%s' is empty", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return gptc_fail(err, GPTC_E_IO, "gguf: '%s' is too large to map", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return gptc_fail(err, GPTC_E_IO, "gguf: cannot map '%s': %s", path, strerror(e));
    gptc_status st = gptc_gguf_parse(map, size, out, err);
    if (st) {
        munmap(map, size);
        return st;
    }
    (*out)->owns_map = 1;
    return GPTC_OK;
}

/* ------------------------------------------------------------------------------------------
 * Accessors
 */
static const gguf_kv *find_kv_str(const gguf_file *f, gptc_str key)
{
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (str_eq(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const gguf_kv *gptc_gguf_find_kv(const gguf_file *f, const char *key)
{
    return find_kv_str(f, cstr(key));
}

static const gguf_tensor *find_tensor_str(const gguf_file *f, gptc_str name)
{
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (str_eq(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const gguf_tensor *gptc_gguf_find_tensor(const gguf_file *f, const char *name)
{
    return find_tensor_str(f, cstr(name));
}

static gptc_status need_kv(const gguf_file *f, const char *key, const gguf_kv **kv, gptc_err *err)
{
    *kv = gptc_gguf_find_kv(f, key);
    if (!*kv) return gptc_fail(err, GPTC_E_FORMAT, "gguf: key '%s' is missing", key);
    return GPTC_OK;
}

static gptc_status wrong_type(const gguf_kv *kv, const char *key, const char *expected,
                              gptc_err *err)
{
    return gptc_fail(err, GPTC_E_FORMAT, "gguf: key '%s' has type %s, expected %s", key,
                     gptc_gguf_vtype_name(kv->type), expected);
}

gptc_status gptc_gguf_get_int(const gguf_file *f, const char *key, int64_t *out, gptc_err *err)
{
    const gguf_kv *kv;
    gptc_status st = need_kv(f, key, &kv, err);
    if (st) return st;
    if (!vtype_is_int(kv->type)) return wrong_type(kv, key, "an integer", err);
    if (vtype_is_unsigned(kv->type)) {
        if (kv->v.u > (uint64_t)INT64_MAX)
            return gptc_fail(err, GPTC_E_RANGE,
                             "gguf: key '%s' value %" PRIu64 " does not fit in an int64", key,
                             kv->v.u);
        *out = (int64_t)kv->v.u;
    } else {
        *out = kv->v.i;
    }
    return GPTC_OK;
}

gptc_status gptc_gguf_get_float(const gguf_file *f, const char *key, double *out, gptc_err *err)
{
    const gguf_kv *kv;
    gptc_status st = need_kv(f, key, &kv, err);
    if (st) return st;
    if (kv->type != GGUF_VT_F32 && kv->type != GGUF_VT_F64)
        return wrong_type(kv, key, "a float", err);
    *out = kv->v.f;
    return GPTC_OK;
}

gptc_status gptc_gguf_get_str(const gguf_file *f, const char *key, gptc_str *out, gptc_err *err)
{
    const gguf_kv *kv;
    gptc_status st = need_kv(f, key, &kv, err);
    if (st) return st;
    if (kv->type != GGUF_VT_STR) return wrong_type(kv, key, "a string", err);
    *out = kv->v.str;
    return GPTC_OK;
}

gptc_status gptc_gguf_get_bool(const gguf_file *f, const char *key, int *out, gptc_err *err)
{
    const gguf_kv *kv;
    gptc_status st = need_kv(f, key, &kv, err);
    if (st) return st;
    if (kv->type != GGUF_VT_BOOL) return wrong_type(kv, key, "a bool", err);
    *out = kv->v.u != 0;
    return GPTC_OK;
}

gptc_status gptc_gguf_get_arr(const gguf_file *f, const char *key, uint32_t elem_type,
                              const gguf_kv **out, gptc_err *err)
{
    const gguf_kv *kv;
    gptc_status st = need_kv(f, key, &kv, err);
    if (st) return st;
    if (kv->type != GGUF_VT_ARR) return wrong_type(kv, key, "an array", err);
    if (elem_type != GGUF_VT_COUNT && kv->v.arr.type != elem_type)
        return gptc_fail(err, GPTC_E_FORMAT,
                         "gguf: key '%s' is an array of %s, expected an array of %s", key,
                         gptc_gguf_vtype_name(kv->v.arr.type), gptc_gguf_vtype_name(elem_type));
    *out = kv;
    return GPTC_OK;
}

int64_t gptc_gguf_arr_int(const gguf_kv *kv, uint64_t i)
{
    GPTC_ASSERT(kv->type == GGUF_VT_ARR && i < kv->v.arr.n);
    const uint8_t *p = (const uint8_t *)kv->v.arr.data + i * gptc_gguf_vtype_size(kv->v.arr.type);
    switch (kv->v.arr.type) {
    case GGUF_VT_U8:
    case GGUF_VT_BOOL:
        return p[0];
    case GGUF_VT_I8:
        return (int8_t)p[0];
    case GGUF_VT_U16: {
        uint16_t x;
        memcpy(&x, p, 2);
        return x;
    }
    case GGUF_VT_I16: {
        int16_t x;
        memcpy(&x, p, 2);
        return x;
    }
    case GGUF_VT_U32: {
        uint32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    case GGUF_VT_I32: {
        int32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    case GGUF_VT_U64: {
        uint64_t x;
        memcpy(&x, p, 8);
        return (int64_t)x;
    }
    case GGUF_VT_I64: {
        int64_t x;
        memcpy(&x, p, 8);
        return x;
    }
    }
    GPTC_ASSERT(!"gptc_gguf_arr_int on a non-integer array");
    return 0;
}

double gptc_gguf_arr_float(const gguf_kv *kv, uint64_t i)
{
    GPTC_ASSERT(kv->type == GGUF_VT_ARR && i < kv->v.arr.n);
    const uint8_t *p = (const uint8_t *)kv->v.arr.data + i * gptc_gguf_vtype_size(kv->v.arr.type);
    if (kv->v.arr.type == GGUF_VT_F32) {
        float x;
        memcpy(&x, p, 4);
        return x;
    }
    GPTC_ASSERT(kv->v.arr.type == GGUF_VT_F64);
    double x;
    memcpy(&x, p, 8);
    return x;
}

gptc_str gptc_gguf_arr_str(const gguf_kv *kv, uint64_t i)
{
    GPTC_ASSERT(kv->type == GGUF_VT_ARR && kv->v.arr.type == GGUF_VT_STR && i < kv->v.arr.n);
    return ((const gptc_str *)kv->v.arr.data)[i];
}

/* ------------------------------------------------------------------------------------------
 * Builder
 */
gptc_status gptc_gguf_new(gguf_file **out, gptc_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    (*out)->version = 3;
    (*out)->alignment = GGUF_DEFAULT_ALIGNMENT;
    return GPTC_OK;
}

/* A copy of s (plus a NUL, so keys and names are also C strings) owned by f. */
static const char *copy_bytes(gguf_file *f, const char *s, uint64_t n)
{
    if (n == UINT64_MAX) return NULL;
    char *p = gguf_alloc(f, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, (size_t)n);
    p[n] = '\0';
    return p;
}

/* Lay tensors out back to back, each padded to the alignment, as gptc_gguf_write will. */
static void relayout(gguf_file *f)
{
    uint64_t off = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        f->tensors[i].offset = off;
        uint64_t pad = f->tensors[i].nbytes +
                       (f->alignment - f->tensors[i].nbytes % f->alignment) % f->alignment;
        off += pad; /* add_tensor checked the padded total fits */
    }
}

/* Store a value under key: replace in place if the key exists, else append (copying the key).
 * val->key is ignored. The caller has already copied the value into f's memory. */
static gptc_status put_kv(gguf_file *f, gptc_str key, const gguf_kv *val, gptc_err *err)
{
    if (key.n == 0) return gptc_fail(err, GPTC_E_INVALID, "gguf: empty key");
    if (str_eq(key, cstr("general.alignment"))) {
        if (val->type != GGUF_VT_U32)
            return gptc_fail(err, GPTC_E_INVALID, "gguf: general.alignment must be a u32, not %s",
                             gptc_gguf_vtype_name(val->type));
        if (!is_pow2(val->v.u))
            return gptc_fail(err, GPTC_E_INVALID,
                             "gguf: general.alignment %" PRIu64 " is not a nonzero power of two",
                             val->v.u);
    }
    gguf_kv *kv = GPTC_UNCONST(gguf_kv *, find_kv_str(f, key));
    if (!kv) {
        if (f->n_kv == f->cap_kv) {
            uint64_t cap = f->cap_kv ? f->cap_kv * 2 : 16;
            gguf_kv *nk = realloc(f->kv, (size_t)cap * sizeof *nk);
            if (!nk) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
            f->kv = nk;
            f->cap_kv = cap;
        }
        const char *k = copy_bytes(f, key.p, key.n);
        if (!k) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
        kv = &f->kv[f->n_kv++];
        kv->key.p = k;
        kv->key.n = key.n;
    }
    kv->type = val->type;
    kv->v = val->v;
    if (kv->type == GGUF_VT_U32 && str_eq(key, cstr("general.alignment"))) {
        f->alignment = kv->v.u;
        relayout(f);
    }
    return GPTC_OK;
}

gptc_status gptc_gguf_set_uint(gguf_file *f, const char *key, uint32_t vtype, uint64_t v,
                               gptc_err *err)
{
    uint64_t max;
    switch (vtype) {
    case GGUF_VT_U8:
        max = UINT8_MAX;
        break;
    case GGUF_VT_U16:
        max = UINT16_MAX;
        break;
    case GGUF_VT_U32:
        max = UINT32_MAX;
        break;
    case GGUF_VT_U64:
        max = UINT64_MAX;
        break;
    default:
        return gptc_fail(err, GPTC_E_INVALID, "gguf: set_uint of '%s' with non-unsigned type %s",
                         key, gptc_gguf_vtype_name(vtype));
    }
    if (v > max)
        return gptc_fail(err, GPTC_E_RANGE, "gguf: value %" PRIu64 " of '%s' does not fit in %s", v,
                         key, gptc_gguf_vtype_name(vtype));
    gguf_kv val = {.type = vtype};
    val.v.u = v;
    return put_kv(f, cstr(key), &val, err);
}

gptc_status gptc_gguf_set_int(gguf_file *f, const char *key, uint32_t vtype, int64_t v,
                              gptc_err *err)
{
    int64_t lo, hi;
    switch (vtype) {
    case GGUF_VT_I8:
        lo = INT8_MIN;
        hi = INT8_MAX;
        break;
    case GGUF_VT_I16:
        lo = INT16_MIN;
        hi = INT16_MAX;
        break;
    case GGUF_VT_I32:
        lo = INT32_MIN;
        hi = INT32_MAX;
        break;
    case GGUF_VT_I64:
        lo = INT64_MIN;
        hi = INT64_MAX;
        break;
    default:
        return gptc_fail(err, GPTC_E_INVALID, "gguf: set_int of '%s' with non-signed type %s", key,
                         gptc_gguf_vtype_name(vtype));
    }
    if (v < lo || v > hi)
        return gptc_fail(err, GPTC_E_RANGE, "gguf: value %" PRId64 " of '%s' does not fit in %s", v,
                         key, gptc_gguf_vtype_name(vtype));
    gguf_kv val = {.type = vtype};
    val.v.i = v;
    return put_kv(f, cstr(key), &val, err);
}

static gptc_status set_float(gguf_file *f, gptc_str key, uint32_t vtype, double v, gptc_err *err)
{
    gguf_kv val = {.type = vtype};
    val.v.f = vtype == GGUF_VT_F32 ? (double)(float)v : v;
    return put_kv(f, key, &val, err);
}

gptc_status gptc_gguf_set_f32(gguf_file *f, const char *key, float v, gptc_err *err)
{
    return set_float(f, cstr(key), GGUF_VT_F32, v, err);
}

gptc_status gptc_gguf_set_bool(gguf_file *f, const char *key, int v, gptc_err *err)
{
    gguf_kv val = {.type = GGUF_VT_BOOL};
    val.v.u = v != 0;
    return put_kv(f, cstr(key), &val, err);
}

static gptc_status set_str(gguf_file *f, gptc_str key, const char *s, uint64_t n, gptc_err *err)
{
    if (!s && n) return gptc_fail(err, GPTC_E_INVALID, "gguf: NULL string for '%s'", show(key).s);
    gguf_kv val = {.type = GGUF_VT_STR};
    val.v.str.p = copy_bytes(f, s, n);
    val.v.str.n = n;
    if (!val.v.str.p) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    return put_kv(f, key, &val, err);
}

gptc_status gptc_gguf_set_str(gguf_file *f, const char *key, const char *s, size_t n, gptc_err *err)
{
    return set_str(f, cstr(key), s, n, err);
}

static gptc_status set_arr(gguf_file *f, gptc_str key, uint32_t et, const void *data, uint64_t n,
                           gptc_err *err)
{
    size_t esz = gptc_gguf_vtype_size(et);
    uint64_t bytes;
    if (esz == 0)
        return gptc_fail(err, GPTC_E_INVALID, "gguf: array '%s' of type %s is not a numeric array",
                         show(key).s, gptc_gguf_vtype_name(et));
    if (!data && n)
        return gptc_fail(err, GPTC_E_INVALID, "gguf: NULL data for array '%s'", show(key).s);
    if (gptc_mul_ovf(n, esz, &bytes) || bytes == UINT64_MAX)
        return gptc_fail(err, GPTC_E_RANGE, "gguf: array '%s' is too large", show(key).s);
    if (et == GGUF_VT_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return gptc_fail(err, GPTC_E_INVALID,
                                 "gguf: array '%s' element %" PRIu64 " is not a bool", show(key).s,
                                 i);
    void *copy = gguf_alloc(f, bytes + 1);
    if (!copy) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    if (bytes) memcpy(copy, data, (size_t)bytes);
    gguf_kv val = {.type = GGUF_VT_ARR};
    val.v.arr.type = et;
    val.v.arr.n = n;
    val.v.arr.data = copy;
    return put_kv(f, key, &val, err);
}

gptc_status gptc_gguf_set_arr(gguf_file *f, const char *key, uint32_t elem_type, const void *data,
                              uint64_t n, gptc_err *err)
{
    return set_arr(f, cstr(key), elem_type, data, n, err);
}

static gptc_status set_arr_str(gguf_file *f, gptc_str key, const gptc_str *strs, uint64_t n,
                               gptc_err *err)
{
    uint64_t bytes;
    if (!strs && n)
        return gptc_fail(err, GPTC_E_INVALID, "gguf: NULL strings for array '%s'", show(key).s);
    if (gptc_mul_ovf(n, sizeof(gptc_str), &bytes) || bytes == UINT64_MAX)
        return gptc_fail(err, GPTC_E_RANGE, "gguf: array '%s' is too large", show(key).s);
    gptc_str *idx = gguf_alloc(f, bytes + 1);
    if (!idx) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i].p && strs[i].n)
            return gptc_fail(err, GPTC_E_INVALID, "gguf: NULL string %" PRIu64 " in array '%s'", i,
                             show(key).s);
        idx[i].p = copy_bytes(f, strs[i].p, strs[i].n);
        idx[i].n = strs[i].n;
        if (!idx[i].p) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    }
    gguf_kv val = {.type = GGUF_VT_ARR};
    val.v.arr.type = GGUF_VT_STR;
    val.v.arr.n = n;
    val.v.arr.data = idx;
    return put_kv(f, key, &val, err);
}

gptc_status gptc_gguf_set_arr_str(gguf_file *f, const char *key, const gptc_str *strs, uint64_t n,
                                  gptc_err *err)
{
    return set_arr_str(f, cstr(key), strs, n, err);
}

gptc_status gptc_gguf_copy_kv(gguf_file *f, const gguf_kv *kv, gptc_err *err)
{
    switch (kv->type) {
    case GGUF_VT_STR:
        return set_str(f, kv->key, kv->v.str.p, kv->v.str.n, err);
    case GGUF_VT_ARR:
        if (kv->v.arr.type == GGUF_VT_STR)
            return set_arr_str(f, kv->key, kv->v.arr.data, kv->v.arr.n, err);
        return set_arr(f, kv->key, kv->v.arr.type, kv->v.arr.data, kv->v.arr.n, err);
    default: {
        if (kv->type >= GGUF_VT_COUNT)
            return gptc_fail(err, GPTC_E_INVALID, "gguf: key '%s' has unknown value type %u",
                             show(kv->key).s, kv->type);
        gguf_kv val = *kv;
        return put_kv(f, kv->key, &val, err);
    }
    }
}

gptc_status gptc_gguf_copy_kvs(gguf_file *f, const gguf_file *src, gptc_err *err)
{
    for (uint64_t i = 0; i < src->n_kv; i++) {
        if (str_eq(src->kv[i].key, cstr("general.alignment"))) continue;
        gptc_status st = gptc_gguf_copy_kv(f, &src->kv[i], err);
        if (st) return st;
    }
    return GPTC_OK;
}

gptc_status gptc_gguf_add_tensor(gguf_file *f, const char *name, uint32_t type, uint32_t n_dims,
                                 const uint64_t *ne, const void *data, gptc_err *err)
{
    if (!name || !*name) return gptc_fail(err, GPTC_E_INVALID, "gguf: empty tensor name");
    if (!ne) return gptc_fail(err, GPTC_E_INVALID, "gguf: tensor '%s' has no shape", name);
    if (!data) return gptc_fail(err, GPTC_E_INVALID, "gguf: tensor '%s' has no data", name);
    gguf_tensor t = {.name = cstr(name), .n_dims = n_dims, .type = type, .data = data};
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t.ne[d] = d < n_dims ? ne[d] : 1;
    gptc_status st = check_tensor(&t, GPTC_E_INVALID, err);
    if (st) return st;
    if (find_tensor_str(f, t.name))
        return gptc_fail(err, GPTC_E_INVALID, "gguf: duplicate tensor name '%s'", show(t.name).s);
    /* offset after the previous tensor; the padded end must fit in 64 bits */
    uint64_t off = 0, end;
    if (f->n_tensors) {
        const gguf_tensor *p = &f->tensors[f->n_tensors - 1];
        uint64_t pend;
        if (gptc_add_ovf(p->offset, p->nbytes, &pend) || gptc_add_ovf(pend, f->alignment - 1, &off))
            return gptc_fail(err, GPTC_E_RANGE, "gguf: tensor data too large");
        off -= off % f->alignment;
    }
    if (gptc_add_ovf(off, t.nbytes, &end) || gptc_add_ovf(end, f->alignment, &end))
        return gptc_fail(err, GPTC_E_RANGE, "gguf: tensor data too large");
    t.offset = off;
    if (f->n_tensors == f->cap_tensors) {
        uint64_t cap = f->cap_tensors ? f->cap_tensors * 2 : 16;
        gguf_tensor *nt = realloc(f->tensors, (size_t)cap * sizeof *nt);
        if (!nt) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
        f->tensors = nt;
        f->cap_tensors = cap;
    }
    t.name.p = copy_bytes(f, name, t.name.n);
    if (!t.name.p) return gptc_fail(err, GPTC_E_NOMEM, "gguf: out of memory");
    f->tensors[f->n_tensors++] = t;
    return GPTC_OK;
}

void *gptc_gguf_alloc(gguf_file *f, uint64_t n)
{
    return gguf_alloc(f, n);
}
