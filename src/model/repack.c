/*
 * repack.c — packing a loaded model's weight matrices for the ops table's faster products
 * (quant/pack.h), once at load; the mapped file is never written.
 *
 * Which weights: the layer products every architecture's shared blocks run through
 * gptc_matmul_rows (wq, wk, wv, wqkv, wo, w_gate, w_up, w_down) and the output classifier,
 * when the ops table packs their type (ops->pack) and their tensor's rows, and the view's first
 * row, are multiples of 16. A tensor is packed once, whole, into one owned buffer (m->pack_buf,
 * 2 MiB-aligned, advised into huge pages) at the same byte offsets as in the file, and every
 * view of it (wq, wk, wv of a fused wqkv; gate and up of a fused up) is moved onto the copy.
 * Anything else that reads the tensor keeps reading the file: a tied classifier's packed copy
 * leaves token_embd's rows for the embedding lookup. Weights read any other way (embeddings,
 * MoE experts, the architectures' own products in aux[]) are not touched.
 *
 * Packing runs on a pool of every online core (new memory's first touch dominates: about 1 s
 * per GB on the VM this was measured on, halved by 2 cores).
 *
 * Cost: the packed tensors' bytes in memory (m->pack_bytes; `gptc info --mem`, `gptc bench`),
 * and the file pages of a packed tensor that nothing else reads are dropped from this
 * process's mapping (MADV_DONTNEED on a read-only file mapping: they stay in the page cache,
 * not in the process).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/ops.h"
#include "core/threads.h"
#include "model/model.h"
#include "quant/pack.h"
#include "quant/quant.h"

typedef struct packed_t {
    const gguf_tensor *t;
    size_t off; /* in m->pack_buf */
    int tied;   /* some weight left on the file reads it */
} packed_t;

/* The tensor of the file that view w lies in, or NULL */
static const gguf_tensor *tensor_of(const gguf_file *f, const gptc_wt *w)
{
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        const char *a = t->data, *p = w->data;
        if (t->nbytes && p >= a && p < a + t->nbytes) return t;
    }
    return NULL;
}

/* 1 when view w of tensor t can be packed by ops */
static int packable(const gptc_ops *ops, const gguf_tensor *t, const gptc_wt *w)
{
    if (!t || !w->data || w->packed || t->type != w->type || !ops->pack(w->type)) return 0;
    if (t->n_dims != 2 || t->ne[0] != (uint64_t)w->cols || t->ne[1] % GPTC_PACK_ROWS) return 0;
    size_t rb = gptc_row_bytes(w->type, w->cols),
           off = (size_t)((const char *)w->data - (const char *)t->data);
    return w->rows % GPTC_PACK_ROWS == 0 && off % (rb * GPTC_PACK_ROWS) == 0;
}

/* Every weight this pass may pack, in a fixed order; returns how many */
static int candidates(gptc_model *m, gptc_wt **out, int cap)
{
    int n = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        gptc_layer *ly = &m->layers[l];
        gptc_wt *lw[] = {&ly->wqkv, &ly->wq,     &ly->wk,   &ly->wv,
                         &ly->wo,   &ly->w_gate, &ly->w_up, &ly->w_down};
        for (size_t i = 0; i < sizeof lw / sizeof lw[0]; i++)
            if (n < cap) out[n++] = lw[i];
    }
    if (n < cap) out[n++] = &m->output;
    return n;
}

/* 1 when a weight the pass leaves alone reads tensor t (so its file pages stay) */
static int read_elsewhere(const gptc_model *m, const gguf_tensor *t)
{
    const char *a = t->data, *b = a + t->nbytes;
    const gptc_wt *others[] = {&m->tok_embd, &m->pos_embd, &m->type_embd, &m->ple_embd,
                               &m->ple_model_proj};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        const char *p = others[i]->data;
        if (p && p >= a && p < b) return 1;
    }
    for (int l = 0; l < m->hp.n_layer; l++)
        for (int i = 0; i < 3; i++) {
            const char *p = m->layers[l].aux[i].data;
            if (p && p >= a && p < b) return 1;
        }
    return 0;
}

/* Drop the whole pages of [p, p + n) from this process, when they lie in the file's own
 * read-only mapping (a file mapping: they come back from the file if ever read). Tensors a
 * builder holds in memory (a merged LoRA) are left alone. */
static void drop_pages(const gguf_file *f, const void *p, size_t n)
{
    const uintptr_t pg = 4096, a = ((uintptr_t)p + pg - 1) & ~(pg - 1),
                    b = ((uintptr_t)p + n) & ~(pg - 1), m = (uintptr_t)f->map;
    if (!f->owns_map || !f->map || (uintptr_t)p < m || (uintptr_t)p + n > m + f->map_size) return;
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

typedef struct pack_job {
    const packed_t *pk;
    int n;
    char *buf;
    const gguf_file *file;
} pack_job;

/* Thread ith of nth packs its share of every tensor's groups: the new pages are first touched
 * (and zeroed by the kernel, most of the cost) on all cores at once. */
static void pack_task(void *arg, int ith, int nth)
{
    const pack_job *j = arg;
    for (int k = 0; k < j->n; k++) {
        const gguf_tensor *t = j->pk[k].t;
        int g0, g1;
        gptc_split((int)(t->ne[1] / GPTC_PACK_ROWS), ith, nth, &g0, &g1);
        gptc_pack_groups(t->type, j->buf + j->pk[k].off, t->data, (int)t->ne[0], g0, g1);
        size_t gb = gptc_row_bytes(t->type, (int)t->ne[0]) * GPTC_PACK_ROWS;
        if (!j->pk[k].tied && g1 > g0)
            drop_pages(j->file, (const char *)t->data + (size_t)g0 * gb, (size_t)(g1 - g0) * gb);
    }
}

/* What a repack of m would copy: the distinct tensors, every one of whose views here can be
 * packed, at their offsets in one buffer of total bytes. Owned arrays: plan_free. */
typedef struct plan_t {
    gptc_wt **ws;
    const gguf_tensor **ts;
    int n; /* candidate views ws[i], in tensor ts[i] (NULL: none) */
    packed_t *pk;
    int nt; /* tensors to pack */
    size_t total;
} plan_t;

static void plan_free(plan_t *p)
{
    free(p->ws), free(p->ts), free(p->pk);
}

static gptc_status plan_make(gptc_model *m, plan_t *p, gptc_err *err)
{
    const gptc_ops *ops = gptc_ops_get();
    int cap = m->hp.n_layer * 8 + 1;
    *p = (plan_t){.ws = malloc((size_t)cap * sizeof *p->ws),
                  .ts = malloc((size_t)cap * sizeof *p->ts),
                  .pk = malloc((size_t)cap * sizeof *p->pk)};
    if (!p->ws || !p->ts || !p->pk) {
        plan_free(p);
        return gptc_fail(err, GPTC_E_NOMEM, "model: out of memory");
    }
    p->n = candidates(m, p->ws, cap);
    for (int i = 0; i < p->n; i++)
        p->ts[i] = p->ws[i]->data ? tensor_of(m->file, p->ws[i]) : NULL;
    for (int i = 0; i < p->n; i++) {
        const gguf_tensor *t = p->ts[i];
        if (!packable(ops, t, p->ws[i])) continue;
        int k = 0;
        while (k < p->nt && p->pk[k].t != t)
            k++;
        if (k < p->nt) continue;
        int all = 1; /* a tensor with one view that cannot move stays on the file */
        for (int j = 0; j < p->n; j++)
            if (p->ts[j] == t && !packable(ops, t, p->ws[j])) all = 0;
        if (!all) continue;
        p->pk[p->nt++] = (packed_t){.t = t, .off = p->total, .tied = read_elsewhere(m, t)};
        p->total += (size_t)t->nbytes;
    }
    return GPTC_OK;
}

uint64_t gptc_model_repack_bytes(gptc_model *m)
{
    if (m->pack_buf) return m->pack_bytes;
    plan_t p;
    gptc_err err;
    if (plan_make(m, &p, &err)) return 0;
    size_t total = p.total;
    plan_free(&p);
    return total;
}

gptc_status gptc_model_repack(gptc_model *m, gptc_err *err)
{
    if (m->pack_buf) return GPTC_OK; /* packed already */
    plan_t p;
    gptc_status s = plan_make(m, &p, err);
    if (s) return s;
    if (p.nt == 0) {
        plan_free(&p);
        return GPTC_OK;
    }
    char *buf = gptc_alloc_huge(p.total);
    if (!buf) {
        plan_free(&p);
        return gptc_fail(err, GPTC_E_NOMEM,
                         "model: out of memory for %.1f MiB of packed weights (--no-repack "
                         "keeps the file's layout)",
                         (double)p.total / (1 << 20));
    }
    pack_job job = {.pk = p.pk, .n = p.nt, .buf = buf, .file = m->file};
    gptc_pool *pool = NULL;
    gptc_err perr;
    if (p.total >= ((size_t)16 << 20) && gptc_pool_init(0, &pool, &perr) == GPTC_OK) {
        gptc_pool_run(pool, pack_task, &job);
        gptc_pool_free(pool);
    } else {
        pack_task(&job, 0, 1);
    }
    for (int k = 0; k < p.nt; k++) {
        const gguf_tensor *t = p.pk[k].t;
        for (int i = 0; i < p.n; i++) {
            if (p.ts[i] != t || p.ws[i]->packed) continue;
            p.ws[i]->data =
                buf + p.pk[k].off + ((const char *)p.ws[i]->data - (const char *)t->data);
            p.ws[i]->packed = 1;
        }
    }
    m->pack_buf = buf;
    m->pack_bytes = p.total;
    plan_free(&p);
    return GPTC_OK;
}
