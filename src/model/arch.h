/*
 * arch.h — the architectures gptc knows (GGUF general.architecture), one enum shared by
 * src/model (inference) and src/train (training), and the name table.
 */
#ifndef GPTC_ARCH_H
#define GPTC_ARCH_H

/* Every architecture id gptc knows. Inference runs those with a row in the table of
 * src/model/arch.c; training supports LLAMA and GPT2. */
enum gptc_arch {
    GPTC_ARCH_LLAMA = 0,
    GPTC_ARCH_GPT2 = 1,
    GPTC_ARCH_QWEN2,
    GPTC_ARCH_QWEN3,
    GPTC_ARCH_GEMMA2,
    GPTC_ARCH_GEMMA3,
    GPTC_ARCH_PHI3,
    GPTC_ARCH_SMOLLM3,
    GPTC_ARCH_GEMMA4,
    GPTC_ARCH_BERT,
    GPTC_ARCH_QWEN3MOE,
    GPTC_ARCH_GPTOSS,
    GPTC_ARCH_QWEN35,
    GPTC_ARCH_QWEN35MOE,
    GPTC_ARCH_LFM2,
    GPTC_ARCH_COUNT
};

/* The GGUF id of an architecture ("llama", "gpt-oss"); "?" outside the enum. */
const char *gptc_arch_name(enum gptc_arch a);

#endif
