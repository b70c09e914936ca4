/*
 * test_gguf.c — the GGUF reader, builder and writer.
 *
 *   - every .gguf under the shared data directory parses; stories260K.gguf has what we expect
 *   - builder -> gptc_gguf_write -> gptc_gguf_open round trips (all 13 value types, alignment 64,
 * and stories260K.gguf itself, which comes back byte for byte as llama.cpp wrote it)
 *   - a table of hand-made bad files, each failing with the expected status and message
 *   - a small valid file truncated at every byte offset fails cleanly
 *   - paths that are not regular files fail with GPTC_E_IO before anything is read
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"
#include "quant/quant.h"
#include "test.h"

static const uint64_t U64MAX = UINT64_MAX;

/* ------------------------------------------------------------------------------------------
 * A little byte writer for hand-made files
 */
typedef struct bw {
    uint8_t *p;
    size_t n, cap;
} bw;

static void bw_bytes(bw *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void bw_u8(bw *b, uint8_t v)
{
    bw_bytes(b, &v, 1);
}
static void bw_u32(bw *b, uint32_t v)
{
    bw_bytes(b, &v, 4);
}
static void bw_u64(bw *b, uint64_t v)
{
    bw_bytes(b, &v, 8);
}
static void bw_str(bw *b, const char *s)
{
    bw_u64(b, strlen(s));
    bw_bytes(b, s, strlen(s));
}
static void bw_pad(bw *b, size_t align)
{
    while (b->n % align)
        bw_u8(b, 0);
}
static void bw_zeros(bw *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bw_u8(b, 0);
}

static void hdr(bw *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    bw_bytes(b, "GGUF", 4);
    bw_u32(b, version);
    bw_u64(b, n_tensors);
    bw_u64(b, n_kv);
}
static void kv_u32(bw *b, const char *key, uint32_t v)
{
    bw_str(b, key);
    bw_u32(b, GGUF_VT_U32);
    bw_u32(b, v);
}
static void kv_str(bw *b, const char *key, const char *v)
{
    bw_str(b, key);
    bw_u32(b, GGUF_VT_STR);
    bw_str(b, v);
}
static void tinfo(bw *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t offset)
{
    bw_str(b, name);
    bw_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        bw_u64(b, ne[d]);
    bw_u32(b, type);
    bw_u64(b, offset);
}

/* A small valid file: 3 kvs, tensors "a" f32 [4] at 0 and "b" f16 [8, 2] at 32; the file ends
 * exactly where b's data ends, so every truncation must fail. */
static void valid_file(bw *b)
{
    hdr(b, 3, 2, 3);
    kv_str(b, "general.architecture", "llama");
    kv_u32(b, "llama.block_count", 2);
    bw_str(b, "tokenizer.ggml.tokens");
    bw_u32(b, GGUF_VT_ARR);
    bw_u32(b, GGUF_VT_STR);
    bw_u64(b, 3);
    bw_str(b, "<unk>");
    bw_str(b, "<s>");
    bw_str(b, "</s>");
    tinfo(b, "a", 1, (uint64_t[]){4}, GPTC_TYPE_F32, 0);
    tinfo(b, "b", 2, (uint64_t[]){8, 2}, GPTC_TYPE_F16, 32);
    bw_pad(b, 32);
    for (int i = 0; i < 4; i++) {
        float x = (float)i + 0.5f;
        bw_bytes(b, &x, 4);
    }
    bw_zeros(b, 16);
    for (int i = 0; i < 16; i++)
        bw_u8(b, (uint8_t)i), bw_u8(b, 0x3c);
}

/* Parse an exact-size heap copy, so ASan sees any read past the end. */
static gptc_status parse_exact(const uint8_t *p, size_t n, gptc_err *err)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, p, n);
    gguf_file *f = NULL;
    gptc_status st = gptc_gguf_parse(copy, n, &f, err);
    if (st == GPTC_OK) {
        /* walk everything, as a consumer would */
        for (uint64_t i = 0; i < f->n_kv; i++) {
            const gguf_kv *kv = &f->kv[i];
            if (kv->type == GGUF_VT_ARR)
                for (uint64_t j = 0; j < kv->v.arr.n; j++) {
                    if (kv->v.arr.type == GGUF_VT_STR)
                        (void)gptc_gguf_arr_str(kv, j);
                    else if (kv->v.arr.type == GGUF_VT_F32 || kv->v.arr.type == GGUF_VT_F64)
                        (void)gptc_gguf_arr_float(kv, j);
                    else
                        (void)gptc_gguf_arr_int(kv, j);
                }
        }
        volatile uint8_t sink = 0;
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const uint8_t *d = f->tensors[i].data;
            sink ^= d[0] ^ d[f->tensors[i].nbytes - 1];
        }
        (void)sink;
    }
    gptc_gguf_close(f);
    free(copy);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Bad inputs
 */
static void b_magic(bw *b)
{
    bw_bytes(b, "GGUX", 4), bw_u32(b, 3), bw_u64(b, 0), bw_u64(b, 0);
}
static void b_v1(bw *b)
{
    hdr(b, 1, 0, 0);
}
static void b_v4(bw *b)
{
    hdr(b, 4, 0, 0);
}
static void b_short(bw *b)
{
    bw_bytes(b, "GGUF", 4), bw_u32(b, 3), bw_u32(b, 0);
}
static void b_nkv_max(bw *b)
{
    hdr(b, 3, 0, U64MAX), kv_u32(b, "k", 1);
}
static void b_nt_max(bw *b)
{
    hdr(b, 3, U64MAX, 0), bw_zeros(b, 64);
}
static void b_nkv_big(bw *b)
{
    hdr(b, 3, 0, 1000), kv_u32(b, "k", 1);
}
static void b_str_max(bw *b)
{
    hdr(b, 3, 0, 1);
    bw_str(b, "k");
    bw_u32(b, GGUF_VT_STR);
    bw_u64(b, U64MAX);
    bw_zeros(b, 16);
}
static void b_key_max(bw *b)
{
    hdr(b, 3, 0, 1), bw_u64(b, U64MAX), bw_zeros(b, 16);
}
static void b_str_past(bw *b)
{
    hdr(b, 3, 0, 1);
    bw_str(b, "k");
    bw_u32(b, GGUF_VT_STR);
    bw_u64(b, 100);
    bw_bytes(b, "hello", 5);
}
static void b_key_empty(bw *b)
{
    hdr(b, 3, 0, 1), kv_u32(b, "", 1);
}
static void arr_head(bw *b, uint32_t et, uint64_t n)
{
    hdr(b, 3, 0, 1);
    bw_str(b, "arr");
    bw_u32(b, GGUF_VT_ARR);
    bw_u32(b, et);
    bw_u64(b, n);
}
static void b_arr_max(bw *b)
{
    arr_head(b, GGUF_VT_U32, U64MAX), bw_zeros(b, 32);
}
static void b_arr_max64(bw *b)
{
    arr_head(b, GGUF_VT_U64, U64MAX / 4), bw_zeros(b, 32);
}
static void b_arr_str_max(bw *b)
{
    arr_head(b, GGUF_VT_STR, U64MAX), bw_zeros(b, 32);
}
static void b_arr_str_big(bw *b)
{
    arr_head(b, GGUF_VT_STR, 5), bw_str(b, "x"), bw_str(b, "y");
}
static void b_arr_past(bw *b)
{
    arr_head(b, GGUF_VT_U32, 10), bw_u32(b, 1), bw_u32(b, 2), bw_u32(b, 3);
}
static void b_arr_nested(bw *b)
{
    arr_head(b, GGUF_VT_ARR, 1), bw_u32(b, GGUF_VT_U8), bw_u64(b, 1), bw_u8(b, 0);
}
static void b_arr_unknown(bw *b)
{
    arr_head(b, 99, 1), bw_zeros(b, 16);
}
static void b_arr_bool(bw *b)
{
    arr_head(b, GGUF_VT_BOOL, 3), bw_u8(b, 0), bw_u8(b, 1), bw_u8(b, 2);
}
static void b_vtype(bw *b)
{
    hdr(b, 3, 0, 1), bw_str(b, "k"), bw_u32(b, 13), bw_zeros(b, 16);
}
static void b_vtype_max(bw *b)
{
    hdr(b, 3, 0, 1), bw_str(b, "k"), bw_u32(b, 0xffffffffu), bw_zeros(b, 16);
}
static void b_bool2(bw *b)
{
    hdr(b, 3, 0, 1), bw_str(b, "k"), bw_u32(b, GGUF_VT_BOOL), bw_u8(b, 2);
}
static void b_dupkey(bw *b)
{
    hdr(b, 3, 0, 3), kv_u32(b, "k", 1), kv_u32(b, "j", 1), kv_u32(b, "k", 2);
}
static void b_align0(bw *b)
{
    hdr(b, 3, 0, 1), kv_u32(b, "general.alignment", 0);
}
static void b_align3(bw *b)
{
    hdr(b, 3, 0, 1), kv_u32(b, "general.alignment", 3);
}
static void b_align_str(bw *b)
{
    hdr(b, 3, 0, 1), kv_str(b, "general.alignment", "32");
}

/* One tensor with the given shape/type/offset, then data_bytes of data after the padding. */
static void one_tensor(bw *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off,
                       size_t data_bytes)
{
    hdr(b, 3, 1, 0);
    tinfo(b, "blk.0.attn_q.weight", n_dims, ne, type, off);
    bw_pad(b, 32);
    bw_zeros(b, data_bytes);
}
static void b_ndims0(bw *b)
{
    one_tensor(b, 0, NULL, GPTC_TYPE_F32, 0, 64);
}
static void b_ndims5(bw *b)
{
    one_tensor(b, 5, (uint64_t[]){1, 1, 1, 1, 1}, GPTC_TYPE_F32, 0, 64);
}
static void b_dim0(bw *b)
{
    one_tensor(b, 2, (uint64_t[]){4, 0}, GPTC_TYPE_F32, 0, 64);
}
static void b_dims_ovf(bw *b)
{
    one_tensor(b, 3, (uint64_t[]){1ull << 32, 1ull << 32, 2}, GPTC_TYPE_F32, 0, 64);
}
static void b_bytes_ovf(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){1ull << 62}, GPTC_TYPE_F32, 0, 64);
}
static void b_type4(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){4}, 4, 0, 64);
}
static void b_type31(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){4}, 31, 0, 64);
}
static void b_type1000(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){4}, 1000, 0, 64);
}
static void b_q8_33(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){33}, GPTC_TYPE_Q8_0, 0, 64);
}
static void b_misaligned(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){4}, GPTC_TYPE_F32, 4, 64);
}
static void b_off_past(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){4}, GPTC_TYPE_F32, 1ull << 40, 64);
}
static void b_off_wrap(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){8}, GPTC_TYPE_F32, U64MAX - 31, 64);
}
static void b_data_short(bw *b)
{
    one_tensor(b, 1, (uint64_t[]){32}, GPTC_TYPE_F32, 0, 100);
}
static void b_no_data(bw *b)
{
    hdr(b, 3, 1, 0), tinfo(b, "w", 1, (uint64_t[]){4}, GPTC_TYPE_F32, 0);
}
static void two_tensors(bw *b, const char *n1, uint64_t ne1, uint64_t off1, const char *n2,
                        uint64_t ne2, uint64_t off2, size_t data_bytes)
{
    hdr(b, 3, 2, 0);
    tinfo(b, n1, 1, &ne1, GPTC_TYPE_F32, off1);
    tinfo(b, n2, 1, &ne2, GPTC_TYPE_F32, off2);
    bw_pad(b, 32);
    bw_zeros(b, data_bytes);
}
/* each fits in the 96-byte data section, together they need 128 */
static void b_sum(bw *b)
{
    two_tensors(b, "x", 16, 0, "y", 16, 32, 96);
}
/* sum 96 fits, but y lies inside x */
static void b_overlap(bw *b)
{
    two_tensors(b, "x", 16, 0, "y", 8, 32, 96);
}
static void b_overlap2(bw *b)
{
    two_tensors(b, "x", 8, 64, "y", 20, 0, 128);
}
static void b_dup_tensor(bw *b)
{
    two_tensors(b, "w", 8, 0, "w", 8, 32, 64);
}
static void b_tname_past(bw *b)
{
    hdr(b, 3, 1, 0), bw_u64(b, 1000), bw_zeros(b, 40);
}

typedef struct bad_case {
    const char *name;
    void (*build)(bw *);
    gptc_status status;
    const char *substr;
} bad_case;

static const bad_case k_bad[] = {
    {"bad magic", b_magic, GPTC_E_FORMAT, "bad magic"},
    {"version 1", b_v1, GPTC_E_UNSUPPORTED, "version 1 is not supported"},
    {"version 4", b_v4, GPTC_E_UNSUPPORTED, "version 4 is not supported"},
    {"short header", b_short, GPTC_E_FORMAT, "runs past the end"},
    {"n_kv 2^64-1", b_nkv_max, GPTC_E_FORMAT, "kv count 18446744073709551615 is impossible"},
    {"n_tensors 2^64-1", b_nt_max, GPTC_E_FORMAT,
     "tensor count 18446744073709551615 is impossible"},
    {"n_kv too many", b_nkv_big, GPTC_E_FORMAT, "kv count 1000"},
    {"string length 2^64-1", b_str_max, GPTC_E_FORMAT,
     "string at offset 37 runs past the end of the file (length 18446744073709551615)"},
    {"key length 2^64-1", b_key_max, GPTC_E_FORMAT, "key at offset 24 runs past the end"},
    {"string past end", b_str_past, GPTC_E_FORMAT, "(length 100)"},
    {"empty key", b_key_empty, GPTC_E_FORMAT, "key at offset 24 is empty"},
    {"array count 2^64-1", b_arr_max, GPTC_E_FORMAT,
     "array 'arr' at offset 43 runs past the end of the file (count 18446744073709551615)"},
    {"array bytes overflow", b_arr_max64, GPTC_E_FORMAT, "array 'arr'"},
    {"string array count 2^64-1", b_arr_str_max, GPTC_E_FORMAT, "count 18446744073709551615"},
    {"string array past end", b_arr_str_big, GPTC_E_FORMAT, "runs past the end"},
    {"array past end", b_arr_past, GPTC_E_FORMAT, "(count 10)"},
    {"nested array", b_arr_nested, GPTC_E_FORMAT, "nested array"},
    {"array of unknown type", b_arr_unknown, GPTC_E_FORMAT, "unknown value type 99"},
    {"bool array value 2", b_arr_bool, GPTC_E_FORMAT, "element 2 is bool 2"},
    {"unknown value type", b_vtype, GPTC_E_FORMAT, "key 'k' has unknown value type 13"},
    {"value type 2^32-1", b_vtype_max, GPTC_E_FORMAT, "unknown value type 4294967295"},
    {"bool value 2", b_bool2, GPTC_E_FORMAT, "bool value 2"},
    {"duplicate key", b_dupkey, GPTC_E_FORMAT, "duplicate key 'k'"},
    {"alignment 0", b_align0, GPTC_E_FORMAT, "general.alignment 0 is not a nonzero power of two"},
    {"alignment 3", b_align3, GPTC_E_FORMAT, "general.alignment 3 is not"},
    {"alignment string", b_align_str, GPTC_E_FORMAT,
     "general.alignment has type string, expected u32"},
    {"n_dims 0", b_ndims0, GPTC_E_FORMAT, "tensor 'blk.0.attn_q.weight' has 0 dimensions"},
    {"n_dims 5", b_ndims5, GPTC_E_FORMAT, "has 5 dimensions"},
    {"dimension 0", b_dim0, GPTC_E_FORMAT, "dimension 1 of size 0"},
    {"dims product overflow", b_dims_ovf, GPTC_E_FORMAT, "dimensions overflow"},
    {"byte size overflow", b_bytes_ovf, GPTC_E_FORMAT, "size overflows"},
    {"type 4", b_type4, GPTC_E_FORMAT, "unknown type 4"},
    {"type 31", b_type31, GPTC_E_FORMAT, "unknown type 31"},
    {"type 1000", b_type1000, GPTC_E_FORMAT, "unknown type 1000"},
    {"q8_0 row 33", b_q8_33, GPTC_E_FORMAT,
     "row length 33 of tensor 'blk.0.attn_q.weight' is not a multiple of the block size 32 of type "
     "q8_0"},
    {"misaligned offset", b_misaligned, GPTC_E_FORMAT,
     "offset 4, not a multiple of the alignment 32"},
    {"offset past end", b_off_past, GPTC_E_FORMAT, "runs past the end of the file"},
    {"offset wraps", b_off_wrap, GPTC_E_FORMAT, "runs past the end of the file"},
    {"data short", b_data_short, GPTC_E_FORMAT, "runs past the end of the file"},
    {"no data section", b_no_data, GPTC_E_FORMAT, "starts past the end"},
    {"sizes sum past the file", b_sum, GPTC_E_FORMAT, "add up to more than the data section"},
    {"overlap", b_overlap, GPTC_E_FORMAT, "tensors 'x' and 'y' overlap"},
    {"overlap, reverse order", b_overlap2, GPTC_E_FORMAT, "tensors 'y' and 'x' overlap"},
    {"duplicate tensor", b_dup_tensor, GPTC_E_FORMAT, "duplicate tensor name 'w'"},
    {"tensor name past end", b_tname_past, GPTC_E_FORMAT,
     "tensor name at offset 24 runs past the end"},
};

static void test_bad_inputs(void)
{
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++) {
        bw b = {0};
        gptc_err err = {0};
        k_bad[i].build(&b);
        gptc_status st = parse_exact(b.p, b.n, &err);
        CHECK(st == k_bad[i].status, "%s: status %s, expected %s (%s)", k_bad[i].name,
              gptc_status_name(st), gptc_status_name(k_bad[i].status), err.msg);
        CHECK(strstr(err.msg, k_bad[i].substr) != NULL, "%s: message '%s' lacks '%s'",
              k_bad[i].name, err.msg, k_bad[i].substr);
        free(b.p);
    }
    gptc_err err = {0};
    CHECK(parse_exact(NULL, 0, &err) == GPTC_E_FORMAT && strstr(err.msg, "empty"), "empty: %s",
          err.msg);
    gguf_file *f = (gguf_file *)&err;
    CHECK(gptc_gguf_parse(NULL, 0, &f, &err) == GPTC_E_FORMAT && f == NULL, "NULL, 0: %s", err.msg);
}

static void test_truncation(void)
{
    bw b = {0};
    valid_file(&b);
    gptc_err err = {0};
    CHECK(parse_exact(b.p, b.n, &err) == GPTC_OK, "the valid file parses: %s", err.msg);
    int all_fail = 1;
    for (size_t n = 0; n < b.n; n++) {
        if (parse_exact(b.p, n, &err) == GPTC_OK) {
            all_fail = 0;
            CHECK(0, "truncated at %zu parsed", n);
        }
    }
    CHECK(all_fail, "every truncation of a %zu-byte file fails", b.n);

    /* the valid file's contents, via gptc_gguf_parse */
    gguf_file *f;
    CHECK(gptc_gguf_parse(b.p, b.n, &f, &err) == GPTC_OK, "%s", err.msg);
    if (f) {
        const gguf_tensor *t = gptc_gguf_find_tensor(f, "b");
        CHECK(f->n_kv == 3 && f->n_tensors == 2 && f->data_offset % 32 == 0, "counts");
        CHECK(t && t->nbytes == 32 && t->ne[0] == 8 && t->ne[1] == 2 && t->ne[2] == 1 &&
                  (const uint8_t *)t->data == b.p + f->data_offset + 32,
              "tensor b placement");
        CHECK(gptc_gguf_find_tensor(f, "nope") == NULL, "missing tensor");
        gptc_gguf_close(f);
    }
    free(b.p);
}

/* ------------------------------------------------------------------------------------------
 * Data files
 */
static int n_files;

static void parse_tree(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir %s", dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            parse_tree(path);
            continue;
        }
        size_t len = strlen(path);
        if (len < 5 || strcmp(path + len - 5, ".gguf") != 0) continue;
        gguf_file *f = NULL;
        gptc_err err = {0};
        gptc_status st = gptc_gguf_open(path, &f, &err);
        CHECK(st == GPTC_OK, "%s: %s", path, err.msg);
        if (st == GPTC_OK) {
            n_files++;
            CHECK(f->n_kv > 0 && f->alignment == 32, "%s: kvs", path);
            gptc_str arch;
            CHECK(gptc_gguf_get_str(f, "general.architecture", &arch, &err) == GPTC_OK, "%s: %s",
                  path, err.msg);
        }
        gptc_gguf_close(f);
    }
    closedir(d);
}

static void test_data_files(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gguf", test_data_dir());
    parse_tree(dir);
    CHECK(n_files >= 14, "parsed %d .gguf files", n_files);

    char path[512];
    snprintf(path, sizeof path, "%s/gguf/stories260K.gguf", test_data_dir());
    gguf_file *f = NULL;
    gptc_err err = {0};
    CHECK(gptc_gguf_open(path, &f, &err) == GPTC_OK, "%s", err.msg);
    if (!f) return;
    CHECK(f->n_tensors == 48 && f->n_kv == 19, "stories260K: %llu tensors, %llu kvs",
          (unsigned long long)f->n_tensors, (unsigned long long)f->n_kv);
    int64_t v = 0;
    CHECK(gptc_gguf_get_int(f, "llama.block_count", &v, &err) == GPTC_OK && v == 5,
          "block_count %lld", (long long)v);
    const gguf_kv *tok = NULL;
    CHECK(gptc_gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_STR, &tok, &err) == GPTC_OK, "%s",
          err.msg);
    if (tok) {
        CHECK(tok->v.arr.n == 512, "512 tokens");
        CHECK(gptc_str_eq(gptc_gguf_arr_str(tok, 1), "<s>"), "token 1 is <s>");
    }
    const gguf_kv *scores = NULL;
    CHECK(gptc_gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_VT_F32, &scores, &err) == GPTC_OK,
          "%s", err.msg);
    if (scores) (void)gptc_gguf_arr_float(scores, 511);
    double eps = 0;
    CHECK(gptc_gguf_get_float(f, "llama.attention.layer_norm_rms_epsilon", &eps, &err) == GPTC_OK &&
              eps > 0 && eps < 1e-3,
          "eps %g", eps);
    const gguf_tensor *t = gptc_gguf_find_tensor(f, "token_embd.weight");
    CHECK(t && t->type == GPTC_TYPE_F32 && t->ne[0] == 64 && t->ne[1] == 512, "token_embd shape");

    /* getters' error paths */
    gptc_str s;
    int bv;
    const gguf_kv *arr;
    CHECK(gptc_gguf_get_int(f, "llama.nope", &v, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "key 'llama.nope' is missing"),
          "missing: %s", err.msg);
    CHECK(gptc_gguf_get_int(f, "general.name", &v, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "key 'general.name' has type string, expected an integer"),
          "%s", err.msg);
    CHECK(gptc_gguf_get_float(f, "llama.block_count", &eps, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "has type u32, expected a float"),
          "%s", err.msg);
    CHECK(gptc_gguf_get_str(f, "llama.block_count", &s, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "expected a string"),
          "%s", err.msg);
    CHECK(gptc_gguf_get_bool(f, "general.name", &bv, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "expected a bool"),
          "%s", err.msg);
    CHECK(gptc_gguf_get_arr(f, "general.name", GGUF_VT_COUNT, &arr, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "expected an array"),
          "%s", err.msg);
    CHECK(gptc_gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_VT_I32, &arr, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "is an array of string, expected an array of i32"),
          "%s", err.msg);
    CHECK(gptc_gguf_get_bool(f, "nope", &bv, &err) == GPTC_E_FORMAT &&
              strstr(err.msg, "'nope' is missing"),
          "%s", err.msg);
    gptc_gguf_close(f);
}

/* ------------------------------------------------------------------------------------------
 * Round trips
 */
static char tmpdir[256];

static int kv_equal(const gguf_kv *a, const gguf_kv *b)
{
    if (a->key.n != b->key.n || memcmp(a->key.p, b->key.p, a->key.n) || a->type != b->type)
        return 0;
    switch (a->type) {
    case GGUF_VT_STR:
        return a->v.str.n == b->v.str.n && !memcmp(a->v.str.p, b->v.str.p, a->v.str.n);
    case GGUF_VT_ARR:
        if (a->v.arr.type != b->v.arr.type || a->v.arr.n != b->v.arr.n) return 0;
        if (a->v.arr.type == GGUF_VT_STR) {
            for (uint64_t i = 0; i < a->v.arr.n; i++) {
                gptc_str x = gptc_gguf_arr_str(a, i), y = gptc_gguf_arr_str(b, i);
                if (x.n != y.n || memcmp(x.p, y.p, x.n)) return 0;
            }
            return 1;
        }
        return !memcmp(a->v.arr.data, b->v.arr.data,
                       a->v.arr.n * gptc_gguf_vtype_size(a->v.arr.type));
    case GGUF_VT_F32:
    case GGUF_VT_F64:
        return a->v.f == b->v.f;
    case GGUF_VT_I8:
    case GGUF_VT_I16:
    case GGUF_VT_I32:
    case GGUF_VT_I64:
        return a->v.i == b->v.i;
    default:
        return a->v.u == b->v.u;
    }
}

static int tensor_equal(const gguf_tensor *a, const gguf_tensor *b)
{
    return a->name.n == b->name.n && !memcmp(a->name.p, b->name.p, a->name.n) &&
           a->n_dims == b->n_dims && !memcmp(a->ne, b->ne, sizeof a->ne) && a->type == b->type &&
           a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(p, 1, (size_t)len, fp);
    fclose(fp);
    return p;
}

static void test_roundtrip_builder(void)
{
    gptc_err err = {0};
    gguf_file *f = NULL, *src = NULL;
    CHECK(gptc_gguf_new(&f, &err) == GPTC_OK, "new");

    /* F64 has no setter: it comes in through a parsed file and gptc_gguf_copy_kvs */
    bw b = {0};
    hdr(&b, 3, 0, 2);
    bw_str(&b, "x.f64");
    bw_u32(&b, GGUF_VT_F64);
    double d = -1.0 / 3.0;
    bw_bytes(&b, &d, 8);
    bw_str(&b, "general.alignment"); /* copy_kvs must skip it */
    bw_u32(&b, GGUF_VT_U32);
    bw_u32(&b, 128);
    CHECK(gptc_gguf_parse(b.p, b.n, &src, &err) == GPTC_OK, "%s", err.msg);

    CHECK(gptc_gguf_set_uint(f, "general.alignment", GGUF_VT_U32, 64, &err) == GPTC_OK, "%s",
          err.msg);
    CHECK(gptc_gguf_set_uint(f, "x.u8", GGUF_VT_U8, 200, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_int(f, "x.i8", GGUF_VT_I8, -100, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_uint(f, "x.u16", GGUF_VT_U16, 60000, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_int(f, "x.i16", GGUF_VT_I16, -30000, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_uint(f, "x.u32", GGUF_VT_U32, 4000000000u, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_int(f, "x.i32", GGUF_VT_I32, -2000000000, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_f32(f, "x.f32", 1.25e-5f, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_bool(f, "x.bool", 1, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_str(f, "x.str", "h\0llo", 5, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_uint(f, "x.u64", GGUF_VT_U64, UINT64_MAX, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_int(f, "x.i64", GGUF_VT_I64, INT64_MIN, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_copy_kvs(f, src, &err) == GPTC_OK, "%s", err.msg);
    CHECK(f->alignment == 64, "copy_kvs left the alignment alone");

    /* arrays of every numeric type, 5 elements each, and of strings */
    static const uint32_t num_types[] = {GGUF_VT_U8,  GGUF_VT_I8,  GGUF_VT_U16, GGUF_VT_I16,
                                         GGUF_VT_U32, GGUF_VT_I32, GGUF_VT_F32, GGUF_VT_BOOL,
                                         GGUF_VT_U64, GGUF_VT_I64, GGUF_VT_F64};
    for (size_t i = 0; i < sizeof num_types / sizeof num_types[0]; i++) {
        uint8_t raw[5 * 8];
        for (size_t j = 0; j < sizeof raw; j++)
            raw[j] = (uint8_t)(j * 37 + i);
        if (num_types[i] == GGUF_VT_BOOL) memcpy(raw, "\1\0\1\1\0", 5);
        if (num_types[i] == GGUF_VT_F32) {
            float fl[5] = {0.5f, -1, 3e8f, 0, 7};
            memcpy(raw, fl, sizeof fl);
        }
        if (num_types[i] == GGUF_VT_F64) {
            double db[5] = {0.5, -1, 3e300, 0, 7};
            memcpy(raw, db, sizeof db);
        }
        char key[32];
        snprintf(key, sizeof key, "arr.%s", gptc_gguf_vtype_name(num_types[i]));
        CHECK(gptc_gguf_set_arr(f, key, num_types[i], raw, 5, &err) == GPTC_OK, "%s: %s", key,
              err.msg);
    }
    gptc_str strs[3] = {{"alpha", 5}, {"", 0}, {"g\xff\xfe", 3}}; /* not UTF-8: fine */
    CHECK(gptc_gguf_set_arr_str(f, "arr.str", strs, 3, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_arr(f, "arr.empty", GGUF_VT_U32, NULL, 0, &err) == GPTC_OK, "%s", err.msg);

    /* replacing a key keeps its place and count */
    uint64_t n_kv = f->n_kv;
    CHECK(gptc_gguf_set_str(f, "x.str", "h\0llo", 5, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_set_uint(f, "x.u8", GGUF_VT_U8, 201, &err) == GPTC_OK, "%s", err.msg);
    CHECK(f->n_kv == n_kv && gptc_gguf_find_kv(f, "x.u8")->v.u == 201, "replace");

    /* builder errors */
    CHECK(gptc_gguf_set_uint(f, "x.bad", GGUF_VT_U8, 256, &err) == GPTC_E_RANGE, "u8 256");
    CHECK(gptc_gguf_set_int(f, "x.bad", GGUF_VT_I16, 40000, &err) == GPTC_E_RANGE, "i16 40000");
    CHECK(gptc_gguf_set_uint(f, "x.bad", GGUF_VT_I32, 1, &err) == GPTC_E_INVALID, "uint as i32");
    CHECK(gptc_gguf_set_uint(f, "general.alignment", GGUF_VT_U32, 3, &err) == GPTC_E_INVALID,
          "align 3");
    CHECK(gptc_gguf_set_uint(f, "general.alignment", GGUF_VT_U64, 64, &err) == GPTC_E_INVALID,
          "align u64");
    CHECK(gptc_gguf_set_uint(f, "", GGUF_VT_U8, 1, &err) == GPTC_E_INVALID, "empty key");
    CHECK(gptc_gguf_set_arr(f, "x.bad", GGUF_VT_STR, strs, 1, &err) == GPTC_E_INVALID,
          "set_arr of STR");
    CHECK(gptc_gguf_find_kv(f, "x.bad") == NULL && f->n_kv == n_kv, "failed sets add nothing");

    /* tensors: f32 [3, 5] (60 bytes: padded), f16 [7], q8_0 [64, 2] */
    float a[15];
    uint16_t h[7];
    uint8_t q[2 * 2 * 34];
    for (int i = 0; i < 15; i++)
        a[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 7; i++)
        h[i] = (uint16_t)(0x3c00 + i);
    for (size_t i = 0; i < sizeof q; i++)
        q[i] = (uint8_t)(i * 7);
    CHECK(gptc_gguf_add_tensor(f, "t.a", GPTC_TYPE_F32, 2, (uint64_t[]){3, 5}, a, &err) == GPTC_OK,
          "%s", err.msg);
    CHECK(gptc_gguf_add_tensor(f, "t.h", GPTC_TYPE_F16, 1, (uint64_t[]){7}, h, &err) == GPTC_OK,
          "%s", err.msg);
    CHECK(gptc_gguf_add_tensor(f, "t.q", GPTC_TYPE_Q8_0, 2, (uint64_t[]){64, 2}, q, &err) ==
              GPTC_OK,
          "%s", err.msg);
    CHECK(gptc_gguf_add_tensor(f, "t.a", GPTC_TYPE_F32, 1, (uint64_t[]){1}, a, &err) ==
                  GPTC_E_INVALID &&
              strstr(err.msg, "duplicate tensor name 't.a'"),
          "dup tensor: %s", err.msg);
    CHECK(gptc_gguf_add_tensor(f, "t.z", GPTC_TYPE_F32, 0, (uint64_t[]){1}, a, &err) ==
              GPTC_E_INVALID,
          "0 dims");
    CHECK(gptc_gguf_add_tensor(f, "t.z", GPTC_TYPE_F32, 5, (uint64_t[]){1, 1, 1, 1, 1}, a, &err) ==
              GPTC_E_INVALID,
          "5 dims");
    CHECK(gptc_gguf_add_tensor(f, "t.z", GPTC_TYPE_F32, 2, (uint64_t[]){1, 0}, a, &err) ==
              GPTC_E_INVALID,
          "dim 0");
    CHECK(gptc_gguf_add_tensor(f, "t.z", 4, 1, (uint64_t[]){1}, a, &err) == GPTC_E_INVALID,
          "type 4");
    CHECK(gptc_gguf_add_tensor(f, "t.z", GPTC_TYPE_Q8_0, 1, (uint64_t[]){33}, q, &err) ==
                  GPTC_E_INVALID &&
              strstr(err.msg, "not a multiple of the block size 32 of type q8_0"),
          "%s", err.msg);
    CHECK(gptc_gguf_add_tensor(f, "t.z", GPTC_TYPE_F32, 2, (uint64_t[]){1ull << 40, 1ull << 40}, a,
                               &err) == GPTC_E_INVALID,
          "overflow");
    CHECK(f->n_tensors == 3 && f->tensors[1].offset == 64 && f->tensors[2].offset == 128,
          "offsets");

    char path[512];
    snprintf(path, sizeof path, "%s/rt.gguf", tmpdir);
    CHECK(gptc_gguf_write(f, path, &err) == GPTC_OK, "write: %s", err.msg);
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0, "no .tmp left behind");

    gguf_file *g = NULL;
    CHECK(gptc_gguf_open(path, &g, &err) == GPTC_OK, "reopen: %s", err.msg);
    if (g) {
        CHECK(g->version == 3 && g->alignment == 64 && g->data_offset % 64 == 0,
              "v3, alignment 64");
        CHECK(g->n_kv == f->n_kv && g->n_tensors == f->n_tensors, "counts");
        for (uint64_t i = 0; i < g->n_kv && i < f->n_kv; i++)
            CHECK(kv_equal(&f->kv[i], &g->kv[i]), "kv %llu (%.*s) equal, in order",
                  (unsigned long long)i, (int)f->kv[i].key.n, f->kv[i].key.p);
        for (uint64_t i = 0; i < g->n_tensors && i < f->n_tensors; i++) {
            CHECK(tensor_equal(&f->tensors[i], &g->tensors[i]), "tensor %llu equal",
                  (unsigned long long)i);
            CHECK(g->tensors[i].offset == f->tensors[i].offset && g->tensors[i].offset % 64 == 0,
                  "tensor %llu offset", (unsigned long long)i);
        }
        CHECK(g->map_size == g->data_offset + 320, "file ends after the last tensor's padding");
        int64_t v;
        double fv;
        gptc_str s;
        int bv;
        CHECK(gptc_gguf_get_int(g, "x.i8", &v, &err) == GPTC_OK && v == -100, "i8");
        CHECK(gptc_gguf_get_int(g, "x.u32", &v, &err) == GPTC_OK && v == 4000000000ll, "u32");
        CHECK(gptc_gguf_get_int(g, "x.i64", &v, &err) == GPTC_OK && v == INT64_MIN, "i64");
        CHECK(gptc_gguf_get_int(g, "x.u64", &v, &err) == GPTC_E_RANGE && strstr(err.msg, "x.u64"),
              "u64 range");
        CHECK(gptc_gguf_get_float(g, "x.f32", &fv, &err) == GPTC_OK && (float)fv == 1.25e-5f,
              "f32");
        CHECK(gptc_gguf_get_float(g, "x.f64", &fv, &err) == GPTC_OK && fv == -1.0 / 3.0, "f64");
        CHECK(gptc_gguf_get_str(g, "x.str", &s, &err) == GPTC_OK && s.n == 5 &&
                  !memcmp(s.p, "h\0llo", 5),
              "str");
        CHECK(gptc_gguf_get_bool(g, "x.bool", &bv, &err) == GPTC_OK && bv == 1, "bool");
        const gguf_kv *arr;
        CHECK(gptc_gguf_get_arr(g, "arr.i16", GGUF_VT_I16, &arr, &err) == GPTC_OK, "%s", err.msg);
        if (arr) {
            int16_t x;
            memcpy(&x, (const uint8_t *)arr->v.arr.data + 6, 2);
            CHECK(gptc_gguf_arr_int(arr, 3) == x, "arr_int i16");
        }
        CHECK(gptc_gguf_get_arr(g, "arr.f64", GGUF_VT_F64, &arr, &err) == GPTC_OK &&
                  gptc_gguf_arr_float(arr, 2) == 3e300,
              "arr_float f64");
        CHECK(gptc_gguf_get_arr(g, "arr.bool", GGUF_VT_COUNT, &arr, &err) == GPTC_OK &&
                  gptc_gguf_arr_int(arr, 2) == 1,
              "arr bool");
        CHECK(gptc_gguf_get_arr(g, "arr.str", GGUF_VT_STR, &arr, &err) == GPTC_OK &&
                  gptc_gguf_arr_str(arr, 2).n == 3 && gptc_gguf_arr_str(arr, 1).n == 0,
              "arr str");
        CHECK(gptc_gguf_get_arr(g, "arr.empty", GGUF_VT_U32, &arr, &err) == GPTC_OK &&
                  arr->v.arr.n == 0,
              "empty arr");
        gptc_gguf_close(g);
    }
    remove(path);
    gptc_gguf_close(f);
    gptc_gguf_close(src);
    free(b.p);

    /* write to a directory that does not exist: GPTC_E_IO, nothing created */
    gguf_file *e = NULL;
    gptc_gguf_new(&e, &err);
    snprintf(path, sizeof path, "%s/no/such/dir/x.gguf", tmpdir);
    CHECK(gptc_gguf_write(e, path, &err) == GPTC_E_IO, "write into a missing dir: %s", err.msg);
    /* an empty builder writes a valid file */
    snprintf(path, sizeof path, "%s/empty.gguf", tmpdir);
    CHECK(gptc_gguf_write(e, path, &err) == GPTC_OK, "%s", err.msg);
    gptc_gguf_close(e);
    CHECK(gptc_gguf_open(path, &e, &err) == GPTC_OK && e->n_kv == 0 && e->n_tensors == 0, "%s",
          err.msg);
    gptc_gguf_close(e);
    remove(path);
}

static void test_roundtrip_stories(void)
{
    char src_path[512], path[512];
    snprintf(src_path, sizeof src_path, "%s/gguf/stories260K.gguf", test_data_dir());
    snprintf(path, sizeof path, "%s/stories.gguf", tmpdir);
    gptc_err err = {0};
    gguf_file *src = NULL, *f = NULL, *g = NULL;
    CHECK(gptc_gguf_open(src_path, &src, &err) == GPTC_OK, "%s", err.msg);
    if (!src) return;
    CHECK(gptc_gguf_new(&f, &err) == GPTC_OK, "new");
    CHECK(gptc_gguf_copy_kvs(f, src, &err) == GPTC_OK, "%s", err.msg);
    for (uint64_t i = 0; i < src->n_tensors; i++) {
        const gguf_tensor *t = &src->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
        CHECK(gptc_gguf_add_tensor(f, name, t->type, t->n_dims, t->ne, t->data, &err) == GPTC_OK,
              "%s", err.msg);
    }
    CHECK(gptc_gguf_write(f, path, &err) == GPTC_OK, "%s", err.msg);
    CHECK(gptc_gguf_open(path, &g, &err) == GPTC_OK, "%s", err.msg);
    if (g) {
        CHECK(g->n_kv == src->n_kv && g->n_tensors == src->n_tensors, "counts");
        for (uint64_t i = 0; i < g->n_kv && i < src->n_kv; i++)
            CHECK(kv_equal(&src->kv[i], &g->kv[i]), "kv %llu", (unsigned long long)i);
        for (uint64_t i = 0; i < g->n_tensors && i < src->n_tensors; i++)
            CHECK(tensor_equal(&src->tensors[i], &g->tensors[i]), "tensor %llu",
                  (unsigned long long)i);
        gptc_gguf_close(g);
    }
    /* llama.cpp wrote the original with the same layout: we reproduce it byte for byte */
    size_t na = 0, nb = 0;
    uint8_t *a = read_all(src_path, &na), *b = read_all(path, &nb);
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0, "byte-identical rewrite (%zu vs %zu bytes)",
          na, nb);
    free(a);
    free(b);
    remove(path);
    gptc_gguf_close(f);
    gptc_gguf_close(src);
}

/* ------------------------------------------------------------------------------------------
 * Paths that are not regular files
 */
static void test_open_paths(void)
{
    gptc_err err = {0};
    gguf_file *f = NULL;
    char path[512];

    CHECK(gptc_gguf_open(tmpdir, &f, &err) == GPTC_E_IO && strstr(err.msg, "directory") && !f,
          "directory: %s", err.msg);
    snprintf(path, sizeof path, "%s/fifo", tmpdir);
    CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    CHECK(gptc_gguf_open(path, &f, &err) == GPTC_E_IO && strstr(err.msg, "FIFO"), "fifo: %s",
          err.msg);
    remove(path);
    CHECK(gptc_gguf_open("/dev/zero", &f, &err) == GPTC_E_IO && strstr(err.msg, "device"),
          "/dev/zero: %s", err.msg);
    snprintf(path, sizeof path, "%s/missing.gguf", tmpdir);
    CHECK(gptc_gguf_open(path, &f, &err) == GPTC_E_IO && strstr(err.msg, "missing.gguf"),
          "missing: %s", err.msg);
    snprintf(path, sizeof path, "%s/empty", tmpdir);
    FILE *fp = fopen(path, "wb");
    if (fp) fclose(fp);
    CHECK(gptc_gguf_open(path, &f, &err) == GPTC_E_FORMAT && strstr(err.msg, "empty"), "empty: %s",
          err.msg);
    remove(path);

    /* an importer hands its own mapping to a built file: gptc_gguf_close unmaps it */
    CHECK(gptc_gguf_new(&f, &err) == GPTC_OK, "new");
    void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap");
    if (f && m != MAP_FAILED) {
        f->map = m;
        f->map_size = 4096;
        f->owns_map = 1;
    }
    gptc_gguf_close(f);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_gguf.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_bad_inputs();
    test_truncation();
    test_data_files();
    test_roundtrip_builder();
    test_roundtrip_stories();
    test_open_paths();
    rmdir(tmpdir);
    return test_summary();
}
