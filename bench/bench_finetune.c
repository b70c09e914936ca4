/*
 * bench_finetune.c — fine-tuning throughput on the 110M shape (stories110M: llama, dim 768,
 * 12 layers, 12 heads, ff 2048, vocabulary 32000, classifier tied to the embeddings): tokens per
 * second of a full fine-tuning step (forward, backward of every weight, clip + AdamW on all 110M
 * parameters) against a LoRA step of rank 16 on every matrix of every layer (q, k, v, output, gate,
 * up, down), as src/train/trainer.c runs it: forward with W0 frozen plus alpha/r (X A^T) B^T,
 * backward with no weight gradient (only the gradients to the activations and the adapters' dA,
 * dB), clip + AdamW on the adapters.
 *
 *   build/bench/bench_finetune [threads] [steps] [B] [T]     (default 2 threads, 5 steps, 4 x 64)
 *
 * Times are medians after one warm-up step, by the wall clock and by CPU time per thread (on a
 * shared machine the CPU time is closer to what an idle machine's wall clock would be; the load
 * average is printed). Validated: both losses fall on a repeated batch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "train/train.h"

static double process_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct result {
    double wall, cpu;     /* median seconds per step */
    double fwd, bwd, opt; /* median CPU seconds per thread of the parts */
    float first, last;
    size_t trainable;
    double state_mb; /* optimizer state */
} result;

static int run(const gptc_tconfig *cfg, int nth, int steps, int B, int T, int rank, result *res)
{
    gptc_err err;
    gptc_tmodel *m;
    if (gptc_tmodel_init(cfg, B, T, nth, &m, &err)) {
        fprintf(stderr, "bench_finetune: %s\n", err.msg);
        return 1;
    }
    gptc_rng rng;
    gptc_rng_seed(&rng, 42);
    gptc_tmodel_init_weights(m, &rng);
    size_t np = gptc_tmodel_n_params(m);
    int32_t *tok = malloc((size_t)B * T * 4), *tgt = malloc((size_t)B * T * 4);
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)(gptc_rng_u64(&rng) % (uint64_t)cfg->n_vocab),
        tgt[i] = (int32_t)(gptc_rng_u64(&rng) % (uint64_t)cfg->n_vocab);
    gptc_adamw opt = {.beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.0f};
    float *m1 = NULL, *m2 = NULL, *lbuf = NULL;
    gptc_tlora *ad = NULL;
    int n_ad = 0;
    size_t n_lp = 0;
    if (rank) {
        /* every matrix of every layer: A, B, their gradients, moments */
        int nt = gptc_tmodel_n_tensors(m);
        ad = calloc((size_t)nt, sizeof *ad);
        for (int i = 0; i < nt; i++) {
            const gptc_tparam *tp = gptc_tmodel_tensor(m, i);
            if (strncmp(tp->name, "blk.", 4) || tp->kind != GPTC_TP_MATRIX) continue;
            ad[n_ad++] = (gptc_tlora){.off = tp->off, .in = tp->ne[0], .out = tp->ne[1]};
            n_lp += (size_t)rank * (tp->ne[0] + tp->ne[1]);
        }
        lbuf = calloc(4 * n_lp, sizeof(float)); /* params, grads, m1, m2 */
        if (!lbuf) return 1;
        size_t lo = 0;
        for (int i = 0; i < n_ad; i++) {
            gptc_tlora *l = &ad[i];
            size_t na = (size_t)rank * l->in, nb = (size_t)rank * l->out;
            float *a = lbuf + lo;
            l->a = a, l->b = a + na, l->ga = lbuf + n_lp + lo, l->gb = l->ga + na;
            l->rank = rank, l->scale = 2.0f; /* alpha = 2 r */
            for (size_t k = 0; k < na; k++)
                a[k] = (2.0f * gptc_rng_uniform(&rng) - 1.0f) / sqrtf((float)l->in);
            lo += na + nb;
        }
        if (gptc_tmodel_set_lora(m, ad, n_ad, &err)) {
            fprintf(stderr, "bench_finetune: %s\n", err.msg);
            return 1;
        }
        res->trainable = n_lp;
        res->state_mb = 2.0 * n_lp * 4 / 1e6;
    } else {
        m1 = calloc(np, 4), m2 = calloc(np, 4);
        res->trainable = np;
        res->state_mb = 2.0 * np * 4 / 1e6;
    }
    double tw[64], tc[64], tf[64], tb[64], to[64];
    if (steps > 60) steps = 60;
    for (int s = 0; s < steps + 1; s++) {
        float loss;
        double c0 = process_cpu(), t0 = bench_now();
        gptc_tmodel_forward(m, tok, tgt, B, T, &loss, &err);
        double cf = process_cpu();
        gptc_tmodel_backward(m, 1.0f);
        double cb = process_cpu();
        if (rank) {
            double ss = 0;
            for (size_t k = 0; k < n_lp; k++)
                ss += (double)lbuf[n_lp + k] * lbuf[n_lp + k];
            gptc_adamw_ref(lbuf, lbuf + n_lp, lbuf + 2 * n_lp, lbuf + 3 * n_lp, n_lp, 1e-3f, 0.9f,
                           0.99f, 1e-8f, 0.0f, s + 1, gptc_clip_scale(sqrt(ss), 1.0f));
        } else {
            gptc_tmodel_adamw(m, &opt, m1, m2, s + 1, 1e-4f, 1.0f);
        }
        double t1 = bench_now(), c1 = process_cpu();
        if (s == 0) res->first = loss;
        res->last = loss;
        if (s >= 1)
            tw[s - 1] = t1 - t0, tc[s - 1] = (c1 - c0) / nth, tf[s - 1] = (cf - c0) / nth,
                   tb[s - 1] = (cb - cf) / nth, to[s - 1] = (c1 - cb) / nth;
    }
    res->wall = bench_median(tw, steps);
    res->cpu = bench_median(tc, steps);
    res->fwd = bench_median(tf, steps);
    res->bwd = bench_median(tb, steps);
    res->opt = bench_median(to, steps);
    free(m1), free(m2), free(lbuf), free(ad), free(tok), free(tgt);
    gptc_tmodel_free(m);
    if (!(res->last < res->first)) {
        fprintf(stderr, "bench_finetune: %s loss did not fall on a repeated batch (%.4f -> %.4f)\n",
                rank ? "LoRA" : "full", res->first, res->last);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int nth = argc > 1 ? atoi(argv[1]) : 2, steps = argc > 2 ? atoi(argv[2]) : 5;
    int B = argc > 3 ? atoi(argv[3]) : 4, T = argc > 4 ? atoi(argv[4]) : 64, rank = 16;
    if (nth < 1 || steps < 1 || B < 1 || T < 1 || T > 1024) {
        fprintf(stderr, "usage: bench_finetune [threads] [steps] [B] [T<=1024]\n");
        return 2;
    }
    gptc_tconfig cfg = {.arch = GPTC_ARCH_LLAMA,
                        .n_vocab = 32000,
                        .n_ctx = 1024,
                        .n_embd = 768,
                        .n_layer = 12,
                        .n_head = 12,
                        .n_head_kv = 12,
                        .tied = 1};
    gptc_tconfig_defaults(&cfg);
    result full = {0}, lora = {0};
    if (run(&cfg, nth, steps, B, T, 0, &full) || run(&cfg, nth, steps, B, T, rank, &lora)) return 1;
    double load = 0;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load) != 1) load = 0;
        fclose(la);
    }
    double ntok = (double)B * T;
    printf("110M shape (llama, dim 768, 12 layers, ff 2048, vocab 32000, tied) at B=%d, T=%d, %d "
           "threads; load average %.1f on %d cores\n",
           B, T, nth, load, gptc_n_cores());
    printf("| run | trainable params | optimizer state | step (wall) | tok/s (wall) | step "
           "(CPU/thread) "
           "| tok/s (CPU) |\n|---|---|---|---|---|---|---|\n");
    printf("| full fine-tuning | %.1fM (100%%) | %.0f MB | %.3f s | %.0f | %.3f s | %.0f |\n",
           full.trainable / 1e6, full.state_mb, full.wall, ntok / full.wall, full.cpu,
           ntok / full.cpu);
    printf("| LoRA r=%d, all 7 matrices | %.2fM (%.2f%%) | %.0f MB | %.3f s | %.0f | %.3f s | %.0f "
           "|\n",
           rank, lora.trainable / 1e6, 100.0 * lora.trainable / full.trainable, lora.state_mb,
           lora.wall, ntok / lora.wall, lora.cpu, ntok / lora.cpu);
    printf("CPU seconds per thread: full: forward %.3f, backward %.3f, clip+AdamW %.3f; LoRA: "
           "forward %.3f, backward %.3f, clip+AdamW %.3f\n",
           full.fwd, full.bwd, full.opt, lora.fwd, lora.bwd, lora.opt);
    printf("LoRA / full: %.2fx by the wall clock, %.2fx by CPU time (goal >= 1.5x)\n",
           full.wall / lora.wall, full.cpu / lora.cpu);
    return 0;
}
