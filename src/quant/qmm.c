/*
 * qmm.c — the reference quantized matrix product: activations as rows of standard blocks of the
 * weight's vec_dot_type, each output one vec_dot_ref (quant.h). The spec the SIMD tables are
 * tested against; slow.
 */
#include "quant/qmm.h"

#include "quant/pack.h"
#include "quant/quant.h"

static const uint32_t k_form_type[3] = {GPTC_TYPE_Q8_0, GPTC_TYPE_Q8_1, GPTC_TYPE_Q8_K};

int gptc_qmm_act_form_ref(uint32_t wtype)
{
    uint32_t v = gptc_type_info(wtype)->vec_dot_type;
    return v == GPTC_TYPE_Q8_0 ? 0 : v == GPTC_TYPE_Q8_1 ? 1 : 2;
}

int gptc_qmm_pack_none(uint32_t wtype)
{
    (void)wtype;
    return 0;
}

size_t gptc_qmm_act_bytes_ref(int form, int C)
{
    if (form == GPTC_PACK_FORM) return gptc_pack_act_bytes(C);
    return gptc_row_bytes(k_form_type[form], C);
}

void gptc_qmm_act_quant_ref(int form, void *xq, const float *x, int C)
{
    if (form == GPTC_PACK_FORM) {
        gptc_pack_act_quant_ref(xq, x, C);
        return;
    }
    gptc_type_info(k_form_type[form])->from_float_ref(x, xq, C);
}

void gptc_qmm_matmul_ref(uint32_t wtype, float *Y, int ldy, const void *W, const void *Xq, int T,
                         int C, int r0, int r1)
{
    const gptc_type_traits *tt = gptc_type_info(wtype);
    size_t rb = gptc_row_bytes(wtype, C), xb = gptc_row_bytes(tt->vec_dot_type, C);
    for (int t = 0; t < T; t++) {
        const char *x = (const char *)Xq + (size_t)t * xb; // (C) activations of token t
        for (int r = r0; r < r1; r++)
            Y[(size_t)t * ldy + r] = tt->vec_dot_ref(C, (const char *)W + (size_t)r * rb, x);
    }
}
