#!/usr/bin/python3
"""torch_train_step.py — the PyTorch side of bench_train: the same GPT-2 model as src/train/ (pre-
LayerNorm blocks with biases, tanh GELU, tied embeddings), AdamW and clipping, timed per step on
the CPU in float32 with the same thread count. Run by hand (Debian python3-torch), not in CI:

    /usr/bin/python3 bench/torch_train_step.py baby   [threads] [steps]   # 4 x 128, T=64, B=12
    /usr/bin/python3 bench/torch_train_step.py 124m   [threads] [steps]   # GPT-2 124M, T=64, B=4

Prints the median step time after two warm-up steps.
"""
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.up, self.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, "scaled_dot_product_attention") \
            else (q @ k.transpose(-1, -2) / math.sqrt(d // self.h)).masked_fill(
                ~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf")).softmax(-1) @ v
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, v, ctx, d, layers, h):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(v, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(Block(d, h) for _ in range(layers))
        self.lnf = nn.LayerNorm(d)

    def forward(self, idx, tgt):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        logits = self.lnf(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1))


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "baby"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if which == "124m":
        v, ctx, d, layers, h, b, t = 50257, 1024, 768, 12, 12, 4, 64
    else:
        v, ctx, d, layers, h, b, t = 260, 64, 128, 4, 4, 12, 64
    model = GPT(v, ctx, d, layers, h)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    idx = torch.randint(0, v, (b, t))
    tgt = torch.randint(0, v, (b, t))
    times = []
    for s in range(steps + 2):
        t0 = time.perf_counter()
        loss = model(idx, tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if s >= 2:
            times.append(time.perf_counter() - t0)
    print("torch %s: %s threads, B=%d T=%d: median step %.4f s over %d steps (loss %.3f)"
          % (torch.__version__, threads, b, t, statistics.median(times), steps, loss.item()))


if __name__ == "__main__":
    main()
