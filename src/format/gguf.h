/*
 * gguf.h — GGUF v2/v3 files: the in-memory form, the bounds-checked reader, the builder and
 * the writer.
 *
 * File layout (little-endian), as specified by ggml's docs/gguf.md:
 *   u32 magic "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
 *   n_kv   x { string key | u32 value_type | value }
 *   n_tensors x { string name | u32 n_dims (1..4) | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to general.alignment (default 32) | tensor data (offsets relative to here, each
 *   aligned to the alignment)
 *   string = u64 len | len bytes (no NUL). array = u32 elem_type | u64 count | elements.
 *   (v1 used u32 for counts and lengths and is not supported.)
 *
 * One struct, gguf_file, describes a GGUF whether it was parsed from bytes (strings, arrays and
 * tensor data are borrowed views into the mapping) or built in memory (the builder copies keys,
 * strings and arrays into memory the gguf_file owns; tensor data stays borrowed from the
 * caller until gptc_gguf_write returns). The llama2.c importer builds one; `gptc convert` writes
 * it.
 *
 * The parser distrusts every byte: every count, length, offset and size is checked against
 * the end of the buffer with overflow-checked arithmetic, totals included; it allocates at most
 * O(file size) memory.
 */
#ifndef GPTC_GGUF_H
#define GPTC_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"

enum gguf_vtype {
    GGUF_VT_U8 = 0,
    GGUF_VT_I8 = 1,
    GGUF_VT_U16 = 2,
    GGUF_VT_I16 = 3,
    GGUF_VT_U32 = 4,
    GGUF_VT_I32 = 5,
    GGUF_VT_F32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STR = 8,
    GGUF_VT_ARR = 9,
    GGUF_VT_U64 = 10,
    GGUF_VT_I64 = 11,
    GGUF_VT_F64 = 12,
    GGUF_VT_COUNT = 13,
};

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

typedef struct gguf_kv {
    gptc_str key;
    uint32_t type; /* enum gguf_vtype */
    union {
        uint64_t u;   /* U8, U16, U32, U64, BOOL (0/1) */
        int64_t i;    /* I8, I16, I32, I64 */
        double f;     /* F32, F64 */
        gptc_str str; /* STR */
        struct {
            uint32_t type; /* element type; never ARR (nested arrays are rejected) */
            uint64_t n;
            /* numeric: n raw little-endian elements, possibly unaligned (read with the
             * gguf_arr_* accessors); STR: an array of n gptc_str (aligned, owned by the file). */
            const void *data;
        } arr;
    } v;
} gguf_kv;

typedef struct gguf_tensor {
    gptc_str name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length (contiguous); unused dims are 1 */
    uint32_t type;              /* enum gptc_type */
    uint64_t offset;            /* from the start of the data section */
    uint64_t nbytes;
    const void *data; /* borrowed: into the mapping, or the builder's caller */
} gguf_tensor;

typedef struct gguf_file {
    uint32_t version;
    uint64_t alignment;
    uint64_t n_kv;
    gguf_kv *kv; /* (n_kv) owned */
    uint64_t n_tensors;
    gguf_tensor *tensors; /* (n_tensors) owned */
    uint64_t data_offset; /* parsed files: where the data section starts in the file */
    /* private */
    const uint8_t *map; /* the mapping (gptc_gguf_open) or the borrowed buffer (gptc_gguf_parse) */
    size_t map_size;
    void *owned; /* builder/parser allocations, freed on close */
    uint64_t cap_kv, cap_tensors;
    /* 1: gptc_gguf_close munmaps map (set by gptc_gguf_open; an importer that builds with
     * gptc_gguf_new and hands over its own mapping sets map, map_size and owns_map = 1). 0: map is
     * borrowed (gptc_gguf_parse) or absent. */
    int owns_map;
} gguf_file;

/* Map and parse a file. GPTC_E_IO for a missing file, a directory, a FIFO or a device;
 * GPTC_E_FORMAT for malformed contents. OUT: owned, free with gptc_gguf_close. */
gptc_status gptc_gguf_open(const char *path, gguf_file **out, gptc_err *err);
/* Parse a buffer in memory; the buffer is borrowed and must outlive the result. */
gptc_status gptc_gguf_parse(const void *buf, size_t n, gguf_file **out, gptc_err *err);
void gptc_gguf_close(gguf_file *f);

const gguf_kv *gptc_gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gptc_gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters with a clear error naming the key when it is absent or of the wrong type.
 * get_int accepts any integer type (and checks the value fits); get_float accepts F32/F64. */
gptc_status gptc_gguf_get_int(const gguf_file *f, const char *key, int64_t *out, gptc_err *err);
gptc_status gptc_gguf_get_float(const gguf_file *f, const char *key, double *out, gptc_err *err);
gptc_status gptc_gguf_get_str(const gguf_file *f, const char *key, gptc_str *out, gptc_err *err);
gptc_status gptc_gguf_get_bool(const gguf_file *f, const char *key, int *out, gptc_err *err);
/* The array under key, checking its element type (GGUF_VT_COUNT: any). */
gptc_status gptc_gguf_get_arr(const gguf_file *f, const char *key, uint32_t elem_type,
                              const gguf_kv **out, gptc_err *err);

/* Element i of an array kv (no bounds check beyond GPTC_ASSERT: callers loop to arr.n). */
int64_t gptc_gguf_arr_int(const gguf_kv *kv, uint64_t i);  /* integer and bool element types */
double gptc_gguf_arr_float(const gguf_kv *kv, uint64_t i); /* F32/F64 */
gptc_str gptc_gguf_arr_str(const gguf_kv *kv, uint64_t i); /* STR */

const char *gptc_gguf_vtype_name(uint32_t t);
/* Bytes of one element of a fixed-size value type; 0 for STR, ARR and unknown types. */
size_t gptc_gguf_vtype_size(uint32_t t);

/* ----- builder: an empty file (version 3, alignment 32) that owns copies of what is set ----- */
gptc_status gptc_gguf_new(gguf_file **out, gptc_err *err);
/* Setting an existing key replaces its value. Strings are copied. */
gptc_status gptc_gguf_set_uint(gguf_file *f, const char *key, uint32_t vtype, uint64_t v,
                               gptc_err *err);
gptc_status gptc_gguf_set_int(gguf_file *f, const char *key, uint32_t vtype, int64_t v,
                              gptc_err *err);
gptc_status gptc_gguf_set_f32(gguf_file *f, const char *key, float v, gptc_err *err);
gptc_status gptc_gguf_set_bool(gguf_file *f, const char *key, int v, gptc_err *err);
gptc_status gptc_gguf_set_str(gguf_file *f, const char *key, const char *s, size_t n,
                              gptc_err *err);
/* numeric array: n little-endian elements of elem_type, copied */
gptc_status gptc_gguf_set_arr(gguf_file *f, const char *key, uint32_t elem_type, const void *data,
                              uint64_t n, gptc_err *err);
gptc_status gptc_gguf_set_arr_str(gguf_file *f, const char *key, const gptc_str *strs, uint64_t n,
                                  gptc_err *err);
/* Copy one kv of another file (its key, type and value) into f. */
gptc_status gptc_gguf_copy_kv(gguf_file *f, const gguf_kv *kv, gptc_err *err);
/* Copy every kv of src (except general.alignment) into f. */
gptc_status gptc_gguf_copy_kvs(gguf_file *f, const gguf_file *src, gptc_err *err);
/* Add a tensor; data (nbytes as the type and shape imply) is borrowed until gptc_gguf_write. */
/* n bytes owned by f (freed by gptc_gguf_close), e.g. tensor data a builder computed; NULL when out
 * of memory. */
void *gptc_gguf_alloc(gguf_file *f, uint64_t n);
gptc_status gptc_gguf_add_tensor(gguf_file *f, const char *name, uint32_t type, uint32_t n_dims,
                                 const uint64_t *ne, const void *data, gptc_err *err);

/* Write f to path as GGUF v3 atomically (path.tmp, fsync, rename). Offsets are recomputed. */
gptc_status gptc_gguf_write(const gguf_file *f, const char *path, gptc_err *err);

#endif
