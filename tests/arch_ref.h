/*
 * arch_ref.h — llama.cpp's reference outputs for the random-weight models of
 * ../shared/data/gguf/arch (its README): the prompt ids, the top-5 ids and logits of every greedy
 * step, the top-2 margins and the all-F32 logits after the prompt. Shared by test_arch.c,
 * test_moe.c and test_hybrid.c; header-only (static functions), each test is one program.
 */
#ifndef GPTC_TEST_ARCH_REF_H
#define GPTC_TEST_ARCH_REF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MAX_STEPS 96

typedef struct ref_run {
    int n_prompt, prompt[16];
    int n_steps, next[MAX_STEPS], top_id[MAX_STEPS][5];
    float top_logit[MAX_STEPS][5], margin[MAX_STEPS];
    float logits0[512];
} ref_run;

static int read_ref(const char *name, ref_run *r)
{
    char path[512], line[4096];
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/gguf/arch/reference/%s.top5.tsv", test_data_dir(), name);
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, "# prompt_ids", 12) == 0) {
            char *s = line + 12, *e;
            for (;;) {
                long v = strtol(s, &e, 10);
                if (e == s || r->n_prompt >= 16) break;
                r->prompt[r->n_prompt++] = (int)v;
                s = e;
            }
        } else if (line[0] != '#') {
            int step, pos, next, off;
            if (sscanf(line, "%d %d %d%n", &step, &pos, &next, &off) != 3 || step != r->n_steps ||
                step >= MAX_STEPS)
                continue;
            r->next[step] = next;
            char *s = line + off;
            for (int k = 0; k < 5; k++) {
                r->top_id[step][k] = (int)strtol(s, &s, 10);
                if (*s == ':') s++;
                r->top_logit[step][k] = strtof(s, &s);
            }
            r->n_steps++;
        }
    }
    fclose(fp);
    snprintf(path, sizeof path, "%s/gguf/arch/reference/%s.margin.tsv", test_data_dir(), name);
    if (!(fp = fopen(path, "r"))) return 0;
    while (fgets(line, sizeof line, fp)) {
        int step, a, b;
        float gap;
        if (line[0] != '#' && sscanf(line, "%d %d %d %f", &step, &a, &b, &gap) == 4 && step >= 0 &&
            step < MAX_STEPS)
            r->margin[step] = gap;
    }
    fclose(fp);
    snprintf(path, sizeof path, "%s/gguf/arch/reference/%s.logits0-f32.tsv", test_data_dir(), name);
    if (!(fp = fopen(path, "r"))) return 0;
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        int id;
        float v;
        if (sscanf(line, "%d %f", &id, &v) == 2 && id >= 0 && id < 512) r->logits0[id] = v, n++;
    }
    fclose(fp);
    return r->n_prompt > 0 && r->n_steps > 0 && n == 512;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

#endif
