/*
 * arch.c — the architecture table: every general.architecture gptc runs, each defined in its
 * own file (llama.c, gpt2.c, ...). Adding an architecture = one file with its gptc_arch_def and
 * one row here (docs/architecture.md, "Adding an architecture").
 */
#include <stdio.h>
#include <string.h>

#include "model/decode.h"

/* clang-format off */
static const gptc_arch_def *const g_table[] = {
    &gptc_arch_llama,
    &gptc_arch_gpt2,
    &gptc_arch_smollm3,
    &gptc_arch_qwen2,
    &gptc_arch_qwen3,
    &gptc_arch_gemma2,
    &gptc_arch_gemma3,
    &gptc_arch_gemma4,
    &gptc_arch_phi3,
    &gptc_arch_qwen3moe,
    &gptc_arch_gptoss,
    &gptc_arch_bert,
    &gptc_arch_qwen35,
    &gptc_arch_qwen35moe,
    &gptc_arch_lfm2,
};
/* clang-format on */
#define N_ARCH (sizeof g_table / sizeof g_table[0])

/* every id of the enum, runnable or not (train, messages) */
static const char *const g_names[GPTC_ARCH_COUNT] = {
    [GPTC_ARCH_LLAMA] = "llama",       [GPTC_ARCH_GPT2] = "gpt2",
    [GPTC_ARCH_QWEN2] = "qwen2",       [GPTC_ARCH_QWEN3] = "qwen3",
    [GPTC_ARCH_GEMMA2] = "gemma2",     [GPTC_ARCH_GEMMA3] = "gemma3",
    [GPTC_ARCH_PHI3] = "phi3",         [GPTC_ARCH_SMOLLM3] = "smollm3",
    [GPTC_ARCH_GEMMA4] = "gemma4",     [GPTC_ARCH_BERT] = "bert",
    [GPTC_ARCH_QWEN3MOE] = "qwen3moe", [GPTC_ARCH_GPTOSS] = "gpt-oss",
    [GPTC_ARCH_QWEN35] = "qwen35",     [GPTC_ARCH_QWEN35MOE] = "qwen35moe",
    [GPTC_ARCH_LFM2] = "lfm2",
};

const char *gptc_arch_name(enum gptc_arch a)
{
    return (unsigned)a < GPTC_ARCH_COUNT && g_names[a] ? g_names[a] : "?";
}

const gptc_arch_def *gptc_arch_find(gptc_str name)
{
    for (size_t i = 0; i < N_ARCH; i++)
        if (gptc_str_eq(name, g_table[i]->name)) return g_table[i];
    return NULL;
}

const char *gptc_arch_supported(void)
{
    static char buf[512];
    if (buf[0]) return buf;
    size_t off = 0;
    for (size_t i = 0; i < N_ARCH && off < sizeof buf; i++)
        off +=
            (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? ", " : "", g_table[i]->name);
    return buf;
}
