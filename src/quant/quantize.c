/*
 * quantize.c — gptc_quantize_model: choose each tensor's type (quantize.h lists the rules),
 * quantize it row by row on a thread pool, write the GGUF and check that it loads.
 */
#include "quant/quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/threads.h"
#include "format/gguf.h"
#include "gptc.h"
#include "model/model.h"
#include "quant/quant.h"

enum {
    FT_Q4_0 = 2,
    FT_Q4_1 = 3,
    FT_Q8_0 = 7,
    FT_Q5_0 = 8,
    FT_Q5_1 = 9,
    FT_Q2_K = 10,
    FT_Q3_K_S = 11,
    FT_Q3_K_M = 12,
    FT_Q3_K_L = 13,
    FT_Q4_K_S = 14,
    FT_Q4_K_M = 15,
    FT_Q5_K_M = 17,
    FT_Q6_K = 18,
    FT_Q2_K_S = 21,
    FT_IQ4_NL = 25,
    FT_IQ4_XS = 30,
};

static const struct {
    const char *name;
    int ftype;
    uint32_t base;
} k_mixes[] = {
    {"q8_0", FT_Q8_0, GPTC_TYPE_Q8_0},       {"q4_0", FT_Q4_0, GPTC_TYPE_Q4_0},
    {"q4_1", FT_Q4_1, GPTC_TYPE_Q4_1},       {"q5_0", FT_Q5_0, GPTC_TYPE_Q5_0},
    {"q5_1", FT_Q5_1, GPTC_TYPE_Q5_1},       {"q4_k_s", FT_Q4_K_S, GPTC_TYPE_Q4_K},
    {"q4_k_m", FT_Q4_K_M, GPTC_TYPE_Q4_K},   {"q4_k", FT_Q4_K_M, GPTC_TYPE_Q4_K},
    {"q5_k_m", FT_Q5_K_M, GPTC_TYPE_Q5_K},   {"q5_k", FT_Q5_K_M, GPTC_TYPE_Q5_K},
    {"q6_k", FT_Q6_K, GPTC_TYPE_Q6_K},       {"q2_k", FT_Q2_K, GPTC_TYPE_Q2_K},
    {"q2_k_s", FT_Q2_K_S, GPTC_TYPE_Q2_K},   {"q3_k_s", FT_Q3_K_S, GPTC_TYPE_Q3_K},
    {"q3_k_m", FT_Q3_K_M, GPTC_TYPE_Q3_K},   {"q3_k", FT_Q3_K_M, GPTC_TYPE_Q3_K},
    {"q3_k_l", FT_Q3_K_L, GPTC_TYPE_Q3_K},   {"iq4_nl", FT_IQ4_NL, GPTC_TYPE_IQ4_NL},
    {"iq4_xs", FT_IQ4_XS, GPTC_TYPE_IQ4_XS},
};

int gptc_quantize_ftype(const char *mix)
{
    for (size_t i = 0; i < sizeof k_mixes / sizeof k_mixes[0]; i++)
        if (strcasecmp(mix, k_mixes[i].name) == 0) return k_mixes[i].ftype;
    return -1;
}

static uint32_t base_type(int ftype)
{
    for (size_t i = 0; i < sizeof k_mixes / sizeof k_mixes[0]; i++)
        if (k_mixes[i].ftype == ftype) return k_mixes[i].base;
    return GPTC_TYPE_COUNT;
}

/* ----- type choice ---------------------------------------------------------------------------- */

typedef struct mix_state {
    int ftype;
    int has_output; /* output.weight present (else token_embd is the classifier) */
    int n_attn_v, n_ffn_down;
    int n_layer;
    int n_gqa;    /* head_count / head_count_kv (1 when unknown) */
    int n_expert; /* expert_count (0 for dense models) */
} mix_state;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Layer index of "blk.N.", or -1. */
static int layer_of(const char *name)
{
    int l = -1;
    if (sscanf(name, "blk.%d.", &l) != 1) return -1;
    return l;
}

/* The type llama.cpp falls back to when a row does not fit the chosen type's block. */
static uint32_t fallback_type(uint32_t t)
{
    switch (t) {
    case GPTC_TYPE_Q2_K:
    case GPTC_TYPE_Q3_K:
    case GPTC_TYPE_IQ4_XS:
        return GPTC_TYPE_IQ4_NL;
    case GPTC_TYPE_Q4_K:
        return GPTC_TYPE_Q5_0;
    case GPTC_TYPE_Q5_K:
        return GPTC_TYPE_Q5_1;
    case GPTC_TYPE_Q6_K:
        return GPTC_TYPE_Q8_0;
    default:
        return GPTC_TYPE_F16;
    }
}

/* Should a tensor be quantized at all (llama.cpp's filter)? */
static int wants_quant(int n_dims, const char *name)
{
    return ends_with(name, "weight") && n_dims >= 2 && !strstr(name, "_norm.weight") &&
           !strstr(name, "ffn_gate_inp.weight") && !strstr(name, "ssm_conv1d.weight") &&
           !strstr(name, "shortconv.conv.weight") && strcmp(name, "position_embd.weight") != 0 &&
           strcmp(name, "token_types.weight") != 0;
}

/* The type of a tensor that is quantized; *fallback set when its rows forced another type. */
static uint32_t choose_type(const mix_state *ms, int64_t ne0, const char *name, int *fallback)
{
    uint32_t ty = base_type(ms->ftype);
    int ft = ms->ftype, l = layer_of(name);
    *fallback = 0;
    if (strcmp(name, "output.weight") == 0 ||
        (!ms->has_output && strcmp(name, "token_embd.weight") == 0)) {
        if (ne0 % 256 != 0)
            ty = GPTC_TYPE_Q8_0;
        else if (ty != GPTC_TYPE_Q8_0)
            ty = GPTC_TYPE_Q6_K;
    } else if (strstr(name, "attn_v.weight")) {
        if (ft == FT_Q2_K)
            ty = ms->n_gqa >= 4 ? GPTC_TYPE_Q4_K : GPTC_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S && ms->n_gqa >= 4)
            ty = GPTC_TYPE_Q4_K;
        else if (ft == FT_Q3_K_M)
            ty = l < 2 ? GPTC_TYPE_Q5_K : GPTC_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L)
            ty = GPTC_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && ms->n_gqa >= 4)
            ty = GPTC_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(l, ms->n_attn_v))
            ty = GPTC_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && l < 4)
            ty = GPTC_TYPE_Q5_K;
        /* 70B llamas share each attn_v among 8 heads: more bits cost little there */
        if (ms->n_layer == 80 && (ty == GPTC_TYPE_Q3_K || ty == GPTC_TYPE_Q4_K))
            ty = GPTC_TYPE_Q5_K;
        if (ms->n_expert == 8) ty = GPTC_TYPE_Q8_0; /* Mixtral-style: costs little */
    } else if (strstr(name, "attn_k.weight")) {
        if (ms->n_expert == 8) ty = GPTC_TYPE_Q8_0;
    } else if (strstr(name, "ffn_down")) {
        int n = ms->n_ffn_down;
        if (ft == FT_Q2_K)
            ty = GPTC_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S)
            ty = l < n / 8 ? GPTC_TYPE_Q4_K : ty;
        else if (ft == FT_Q3_K_M)
            ty = l < n / 16 ? GPTC_TYPE_Q5_K : GPTC_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L)
            ty = GPTC_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M)
            ty = use_more_bits(l, n) ? GPTC_TYPE_Q6_K : ty;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && l < n / 8)
            ty = GPTC_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M && use_more_bits(l, n))
            ty = GPTC_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && l < n / 8)
            ty = GPTC_TYPE_Q5_K;
    } else if (strstr(name, "attn_output.weight")) {
        if (ms->n_expert == 8) {
            if (ft == FT_Q2_K || ft == FT_Q3_K_S || ft == FT_Q3_K_M || ft == FT_IQ4_NL ||
                ft == FT_Q4_K_S || ft == FT_Q4_K_M || ft == FT_IQ4_XS)
                ty = GPTC_TYPE_Q5_K;
        } else {
            if (ft == FT_Q2_K)
                ty = GPTC_TYPE_Q3_K;
            else if (ft == FT_Q3_K_M)
                ty = GPTC_TYPE_Q4_K;
            else if (ft == FT_Q3_K_L)
                ty = GPTC_TYPE_Q5_K;
        }
    } else if (strstr(name, "attn_qkv.weight")) {
        if (ft == FT_Q3_K_M || ft == FT_Q3_K_L)
            ty = GPTC_TYPE_Q4_K;
        else if (ft == FT_Q4_K_M)
            ty = GPTC_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M)
            ty = GPTC_TYPE_Q6_K;
    }
    int blck = gptc_type_info(ty)->blck;
    if (ne0 % blck != 0) {
        *fallback = 1;
        ty = fallback_type(ty);
        if (ne0 % gptc_type_info(ty)->blck != 0) ty = GPTC_TYPE_F16;
    }
    return ty;
}

uint32_t gptc_quantize_type_for(const char *mix, const char *name, uint32_t type, int n_dims,
                                int64_t ne0, int n_layer, int n_attn_v, int n_ffn_down,
                                int has_output, int *fallback)
{
    mix_state ms = {.ftype = mix ? gptc_quantize_ftype(mix) : -1,
                    .has_output = has_output,
                    .n_attn_v = n_attn_v,
                    .n_ffn_down = n_ffn_down,
                    .n_layer = n_layer};
    int fb = 0;
    uint32_t to = GPTC_TYPE_COUNT;
    if (name && ms.ftype >= 0)
        to = wants_quant(n_dims, name) ? choose_type(&ms, ne0, name, &fb) : type;
    if (fallback) *fallback = fb;
    return to;
}

/* ----- the work ------------------------------------------------------------------------------- */

typedef struct qjob {
    const gguf_tensor *src;
    uint32_t to;
    uint8_t *dst;
    int64_t rows, ne0;
    float *scratch; /* (threads, ne0) */
} qjob;

static void job_quant(void *arg, int ith, int nth)
{
    qjob *j = arg;
    int64_t per = (j->rows + nth - 1) / nth, r0 = per * ith, r1 = GPTC_MIN(j->rows, r0 + per);
    const gptc_type_traits *from = gptc_type_info(j->src->type), *to = gptc_type_info(j->to);
    size_t rb_in = gptc_row_bytes(j->src->type, j->ne0), rb_out = gptc_row_bytes(j->to, j->ne0);
    float *x = j->scratch + (size_t)ith * j->ne0;
    for (int64_t r = r0; r < r1; r++) {
        from->to_float((const uint8_t *)j->src->data + (size_t)r * rb_in, x, j->ne0);
        to->from_float_ref(x, j->dst + (size_t)r * rb_out, j->ne0);
    }
}

static gptc_status read_info(const gguf_file *f, mix_state *ms, gptc_err *err)
{
    gptc_str arch;
    gptc_status s = gptc_gguf_get_str(f, "general.architecture", &arch, err);
    if (s) return s;
    char key[96];
    snprintf(key, sizeof key, "%.*s.block_count", (int)GPTC_MIN(arch.n, 64), arch.p);
    int64_t nl = 0;
    if (gptc_gguf_find_kv(f, key) && (s = gptc_gguf_get_int(f, key, &nl, err))) return s;
    ms->n_layer = (int)nl;
    int64_t nh = 0, nkv = 0, ne = 0; /* per-layer arrays (some hybrids) leave n_gqa at 1 */
    snprintf(key, sizeof key, "%.*s.attention.head_count", (int)GPTC_MIN(arch.n, 64), arch.p);
    if (gptc_gguf_find_kv(f, key) && gptc_gguf_get_int(f, key, &nh, err) != GPTC_OK) nh = 0;
    snprintf(key, sizeof key, "%.*s.attention.head_count_kv", (int)GPTC_MIN(arch.n, 64), arch.p);
    if (gptc_gguf_find_kv(f, key) && gptc_gguf_get_int(f, key, &nkv, err) != GPTC_OK) nkv = 0;
    snprintf(key, sizeof key, "%.*s.expert_count", (int)GPTC_MIN(arch.n, 64), arch.p);
    if (gptc_gguf_find_kv(f, key) && gptc_gguf_get_int(f, key, &ne, err) != GPTC_OK) ne = 0;
    gptc_err_clear(err);
    ms->n_gqa = nh > 0 && nkv > 0 ? (int)(nh / nkv) : 1;
    ms->n_expert = (int)ne;
    ms->has_output = gptc_gguf_find_tensor(f, "output.weight") != NULL;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)GPTC_MIN(f->tensors[i].name.n, 255),
                 f->tensors[i].name.p);
        ms->n_attn_v += strstr(name, "attn_v.weight") != NULL;
        ms->n_ffn_down += strstr(name, "ffn_down") != NULL;
    }
    if (ms->n_layer > 0)
        ms->n_ffn_down = ms->n_layer; /* llama.cpp counts layers (MoE: exps + shexp) */
    return GPTC_OK;
}

gptc_status gptc_quantize_model(const char *in_path, const char *tokenizer_path,
                                const char *out_path, const char *mix,
                                const gptc_quantize_params *params, gptc_quantize_stats *stats,
                                gptc_err *err)
{
    gptc_err_clear(err);
    gptc_quantize_params p = params ? *params : (gptc_quantize_params){0};
    gptc_quantize_stats st = {0};
    mix_state ms = {.ftype = gptc_quantize_ftype(mix)};
    if (ms.ftype < 0)
        return gptc_fail(err, GPTC_E_INVALID,
                         "quantize: unknown type '%s' (q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q2_k_s q3_k_s "
                         "q3_k_m q3_k_l q4_k_s "
                         "q4_k_m q5_k_m q6_k iq4_nl iq4_xs)",
                         mix);
    gguf_file *in = NULL, *out = NULL;
    gptc_pool *pool = NULL;
    void **bufs = NULL;
    float *scratch = NULL;
    gptc_status s = gptc_model_open_file(in_path, tokenizer_path, &in, err);
    if (s) return s;
    if ((s = read_info(in, &ms, err)) || (s = gptc_gguf_new(&out, err)) ||
        (s = gptc_gguf_copy_kvs(out, in, err)) ||
        (s = gptc_gguf_set_uint(out, "general.quantization_version", GGUF_VT_U32, 2, err)) ||
        (s = gptc_gguf_set_uint(out, "general.file_type", GGUF_VT_U32, (uint64_t)ms.ftype, err)) ||
        (s = gptc_pool_init(p.n_threads, &pool, err)))
        goto done;
    bufs = calloc(in->n_tensors ? in->n_tensors : 1, sizeof *bufs);
    if (!bufs) {
        s = gptc_fail(err, GPTC_E_NOMEM, "quantize: out of memory");
        goto done;
    }
    int nth = gptc_pool_size(pool);
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const gguf_tensor *t = &in->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)GPTC_MIN(t->name.n, 255), t->name.p);
        uint32_t to = t->type;
        int fallback = 0;
        if (wants_quant((int)t->n_dims, name))
            to = choose_type(&ms, (int64_t)t->ne[0], name, &fallback);
        const gptc_type_traits *from_tt = gptc_type_info(t->type);
        if (to != t->type && !from_tt->to_float) {
            s = gptc_fail(err, GPTC_E_UNSUPPORTED,
                          "quantize: tensor '%s' has type %s, which gptc cannot convert", name,
                          from_tt->name);
            goto done;
        }
        if (to != t->type &&
            gptc_type_is_quant(t->type)) { /* a damaged source must not pass silently */
            int64_t ne0 = (int64_t)t->ne[0], rows = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
            size_t rb = gptc_row_bytes(t->type, ne0);
            for (int64_t r = 0; r < rows; r++) {
                int64_t bad =
                    gptc_quant_bad_block(t->type, (const uint8_t *)t->data + (size_t)r * rb, ne0);
                if (bad >= 0) {
                    s = gptc_fail(err, GPTC_E_FORMAT,
                                  "quantize: tensor '%s' (%s) has a NaN or infinite scale in block "
                                  "%lld of row %lld",
                                  name, from_tt->name, (long long)bad, (long long)r);
                    goto done;
                }
            }
        }
        if (p.progress) p.progress(p.ud, (int)i, (int)in->n_tensors, name, t->type, to);
        const void *data = t->data;
        st.bytes_in += t->nbytes;
        if (to != t->type) {
            int64_t ne0 = (int64_t)t->ne[0], rows = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
            size_t bytes = gptc_row_bytes(to, ne0) * (size_t)rows;
            bufs[i] = malloc(bytes ? bytes : 1);
            free(scratch);
            scratch = malloc((size_t)nth * (size_t)ne0 * sizeof *scratch);
            if (!bufs[i] || !scratch) {
                s = gptc_fail(err, GPTC_E_NOMEM, "quantize: out of memory for tensor '%s'", name);
                goto done;
            }
            qjob j = {
                .src = t, .to = to, .dst = bufs[i], .rows = rows, .ne0 = ne0, .scratch = scratch};
            gptc_pool_run(pool, job_quant, &j);
            data = bufs[i];
            st.n_quantized += gptc_type_is_quant(to);
            st.n_fallback += fallback;
        }
        if ((s = gptc_gguf_add_tensor(out, name, to, t->n_dims, t->ne, data, err))) goto done;
        st.bytes_out += out->tensors[out->n_tensors - 1].nbytes;
        st.n_tensors++;
    }
    if ((s = gptc_gguf_write(out, out_path, err))) goto done;
    gptc_model *m = NULL; /* the output must be a model gptc runs */
    if ((s = gptc_model_load(out_path, NULL, &m, err))) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        unlink(out_path);
        s = gptc_fail(err, s, "quantize: the output does not load, removed: %s", msg);
        goto done;
    }
    gptc_model_free(m);
done:
    if (bufs)
        for (uint64_t i = 0; i < in->n_tensors; i++)
            free(bufs[i]);
    free(bufs);
    free(scratch);
    gptc_pool_free(pool);
    gptc_gguf_close(out);
    gptc_gguf_close(in);
    if (stats) *stats = st;
    return s;
}
