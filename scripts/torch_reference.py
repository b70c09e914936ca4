#!/usr/bin/python3
"""torch_reference.py — golden tensors for tests/test_train_torch.c.

Run by hand (not in CI) with Debian's PyTorch:

    apt-get install python3-torch
    /usr/bin/python3 scripts/torch_reference.py
    # writes tests/fixtures/train/{llama,gpt2}.bin and {llama,gpt2}_ft.bin

For a tiny configuration of each architecture it builds the model exactly as src/train/ defines
it, with float32 initial parameters, and computes in float64 (so the reference is the exact
answer and the C test measures only its own float32 rounding):

  - the logits and mean cross-entropy loss of one batch,
  - the gradient of the loss for every parameter,
  - five AdamW steps on that batch (warmup + cosine learning rate, global-norm clipping, weight
    decay on matmul weights only) with the loss and gradient norm before each step, and the
    parameters after the fifth.

File format (little-endian): b"GPTCFIX1", u32 record count, then records of
  u32 name length, name bytes, u32 dtype (0 = f32, 1 = i32), u32 n_dims, u32 dims[n_dims], data.
Parameter records are named "param.<gguf name>", "grad.<gguf name>", "after5.<gguf name>".

The fine-tuning fixtures ({llama,gpt2}_ft.bin) check the two losses fine-tuning adds, on the same
models with the same parameter records:
  - the masked loss: targets with -1 (no target: chat data's system, user and template tokens)
    are left out of the mean; "masked.loss" and every parameter's "masked.grad.<name>";
  - LoRA: some matrices W (a mix of layers and of the parts of llama's fused q|k|v and gate|up
    products; gpt2's adapters only in its last layer, so the layers below need no gradient)
    become W + alpha / rank * B A with W frozen; records "lora.hyper" (rank, alpha), for each
    adapted W "lora_a.<name>" (rank, in) and "lora_b.<name>" (out, rank), then "lora.logits",
    "lora.loss" (masked targets) and "lora.grad_a.<name>", "lora.grad_b.<name>".
"""
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "train")

LR, MIN_LR, WARMUP, TOTAL = 1e-2, 1e-3, 2, 5
BETA1, BETA2, ADAM_EPS, WD, CLIP = 0.9, 0.95, 1e-8, 0.1, 0.5


def lr_at(step):
    """Learning rate of 0-based step: gptc_lr_cosine in src/train/optim.c."""
    if step < WARMUP:
        return LR * (step + 1) / (WARMUP + 1)
    if step >= TOTAL:
        return MIN_LR
    ratio = (step - WARMUP) / (TOTAL - WARMUP)
    return MIN_LR + 0.5 * (1 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def param_table(cfg):
    """(gguf name, shape as torch (rows, cols) or (n,), kind) in slab order, as tmodel.c."""
    arch, V, C, D, L, H, Hkv, Fd = (cfg[k] for k in ("arch", "V", "ctx", "D", "L", "H", "Hkv", "F"))
    hd = D // H
    t = [("token_embd.weight", (V, D), "embed")]
    if arch == "gpt2":
        t.append(("position_embd.weight", (C, D), "embed"))
    for l in range(L):
        b = "blk.%d." % l
        if arch == "gpt2":
            t += [(b + "attn_norm.weight", (D,), "norm"), (b + "attn_norm.bias", (D,), "bias"),
                  (b + "attn_qkv.weight", (3 * D, D), "matrix"), (b + "attn_qkv.bias", (3 * D,), "bias"),
                  (b + "attn_output.weight", (D, D), "matrix"), (b + "attn_output.bias", (D,), "bias"),
                  (b + "ffn_norm.weight", (D,), "norm"), (b + "ffn_norm.bias", (D,), "bias"),
                  (b + "ffn_up.weight", (Fd, D), "matrix"), (b + "ffn_up.bias", (Fd,), "bias"),
                  (b + "ffn_down.weight", (D, Fd), "matrix"), (b + "ffn_down.bias", (D,), "bias")]
        else:
            t += [(b + "attn_norm.weight", (D,), "norm"), (b + "attn_q.weight", (H * hd, D), "matrix"),
                  (b + "attn_k.weight", (Hkv * hd, D), "matrix"),
                  (b + "attn_v.weight", (Hkv * hd, D), "matrix"),
                  (b + "attn_output.weight", (D, H * hd), "matrix"), (b + "ffn_norm.weight", (D,), "norm"),
                  (b + "ffn_gate.weight", (Fd, D), "matrix"), (b + "ffn_up.weight", (Fd, D), "matrix"),
                  (b + "ffn_down.weight", (D, Fd), "matrix")]
    t.append(("output_norm.weight", (D,), "norm"))
    if arch == "gpt2":
        t.append(("output_norm.bias", (D,), "bias"))
    if not cfg["tied"]:
        t.append(("output.weight", (V, D), "matrix"))
    return t


def init_params(cfg, gen):
    """float32 values: matrices and embeddings N(0, 0.1), norm gains 1 + N(0, 0.1), biases
    N(0, 0.1) — not the training init, so that every gradient path carries signal."""
    ps = {}
    for name, shape, kind in param_table(cfg):
        v = 0.1 * torch.randn(shape, generator=gen)
        if kind == "norm":
            v = 1 + v
        ps[name] = v.float()
    return ps


def rope(x, base):
    """x (B, T, heads, hd): rotate adjacent pairs (2i, 2i+1) by pos * base^(-2i/hd)."""
    Bz, T, nh, hd = x.shape
    inv = torch.pow(torch.tensor(base, dtype=torch.float32),
                    -2.0 * torch.arange(hd // 2, dtype=torch.float32) / hd)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]   # float32 as the C code
    c = torch.cos(ang.double())[None, :, None, :]
    s = torch.sin(ang.double())[None, :, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def forward(cfg, p, tok, lora=None):
    """lora: {name: (A, B, scale)}: the model computes with p[name] + scale * B @ A."""
    if lora:
        p = dict(p)
        for n, (a, b, sc) in lora.items():
            p[n] = p[n] + sc * (b @ a)
    arch, D, L, H, Hkv = (cfg[k] for k in ("arch", "D", "L", "H", "Hkv"))
    eps, hd = cfg["eps"], D // H
    Bz, T = tok.shape

    def norm(x, w, b=None):
        if arch == "gpt2":
            return F.layer_norm(x, (D,), w, b, eps)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    x = p["token_embd.weight"][tok]
    if arch == "gpt2":
        x = x + p["position_embd.weight"][:T][None]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        b = "blk.%d." % l
        a = norm(x, p[b + "attn_norm.weight"], p.get(b + "attn_norm.bias"))
        if arch == "gpt2":
            qkv = a @ p[b + "attn_qkv.weight"].T + p[b + "attn_qkv.bias"]
            q, k, v = qkv.split(D, dim=-1)
        else:
            q, k, v = a @ p[b + "attn_q.weight"].T, a @ p[b + "attn_k.weight"].T, a @ p[b + "attn_v.weight"].T
        q = q.view(Bz, T, H, hd)
        k = k.view(Bz, T, Hkv, hd)
        v = v.view(Bz, T, Hkv, hd)
        if arch == "llama":
            q, k = rope(q, cfg["rope_base"]), rope(k, cfg["rope_base"])
        g = H // Hkv
        k = k.repeat_interleave(g, dim=2)
        v = v.repeat_interleave(g, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))          # (B, H, T, hd)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask, float("-inf"))
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(Bz, T, H * hd)
        y = y @ p[b + "attn_output.weight"].T
        if arch == "gpt2":
            y = y + p[b + "attn_output.bias"]
        x = x + y
        a = norm(x, p[b + "ffn_norm.weight"], p.get(b + "ffn_norm.bias"))
        if arch == "gpt2":
            h = F.gelu(a @ p[b + "ffn_up.weight"].T + p[b + "ffn_up.bias"], approximate="tanh")
            x = x + h @ p[b + "ffn_down.weight"].T + p[b + "ffn_down.bias"]
        else:
            h = F.silu(a @ p[b + "ffn_gate.weight"].T) * (a @ p[b + "ffn_up.weight"].T)
            x = x + h @ p[b + "ffn_down.weight"].T
    x = norm(x, p["output_norm.weight"], p.get("output_norm.bias"))
    w_out = p["token_embd.weight"] if cfg["tied"] else p["output.weight"]
    return x @ w_out.T


def run(cfg, path):
    gen = torch.Generator().manual_seed(cfg["seed"])
    p32 = init_params(cfg, gen)
    Bz, T, V = cfg["B"], cfg["T"], cfg["V"]
    data = torch.randint(0, V, (Bz, T + 1), generator=gen)
    tok, tgt = data[:, :T].contiguous(), data[:, 1:].contiguous()

    table = param_table(cfg)
    p = {n: p32[n].double().clone().requires_grad_(True) for n, _, _ in table}
    logits = forward(cfg, p, tok)
    loss = F.cross_entropy(logits.view(-1, V), tgt.view(-1))
    loss.backward()
    recs = []
    recs.append(("config", "i32", [cfg["arch"] == "gpt2", V, cfg["ctx"], cfg["D"], cfg["L"], cfg["H"],
                                   cfg["Hkv"], cfg["F"], int(cfg["tied"]), Bz, T]))
    recs.append(("hyper", "f32", [cfg["eps"], cfg["rope_base"], LR, MIN_LR, WARMUP, TOTAL, BETA1,
                                  BETA2, ADAM_EPS, WD, CLIP]))
    recs.append(("tokens", "i32", tok))
    recs.append(("targets", "i32", tgt))
    for n, _, _ in table:
        recs.append(("param." + n, "f32", p32[n]))
    recs.append(("logits", "f32", logits.detach()))
    recs.append(("loss", "f32", [loss.item()]))
    for n, _, _ in table:
        recs.append(("grad." + n, "f32", p[n].grad))

    # five AdamW steps
    p = {n: p32[n].double().clone().requires_grad_(True) for n, _, _ in table}
    decay = [p[n] for n, _, k in table if k == "matrix"]
    other = [p[n] for n, _, k in table if k != "matrix"]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": other, "weight_decay": 0.0}],
                            lr=LR, betas=(BETA1, BETA2), eps=ADAM_EPS)
    losses, norms = [], []
    for step in range(5):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step)
        opt.zero_grad()
        loss = F.cross_entropy(forward(cfg, p, tok).view(-1, V), tgt.view(-1))
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(list(p.values()), CLIP).item())
        losses.append(loss.item())
        opt.step()
    recs.append(("losses5", "f32", losses))
    recs.append(("gradnorm5", "f32", norms))
    for n, _, _ in table:
        recs.append(("after5." + n, "f32", p[n].detach()))

    write_fixture(path, recs)
    print("%s: %d records, losses before each step %s" % (path, len(recs), ["%.5f" % x for x in losses]))


def write_fixture(path, recs):
    with open(path, "wb") as f:
        f.write(b"GPTCFIX1")
        f.write(struct.pack("<I", len(recs)))
        for name, dt, val in recs:
            t = torch.as_tensor(val)
            t = t.to(torch.float32 if dt == "f32" else torch.int32).contiguous()
            shape = list(t.shape) or [1]
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<II", 0 if dt == "f32" else 1, len(shape)))
            f.write(struct.pack("<%dI" % len(shape), *shape))
            f.write(t.numpy().astype("<f4" if dt == "f32" else "<i4").tobytes())


def run_ft(cfg, lora_targets, rank, alpha, path):
    """The masked loss and LoRA gradients (see the module's docstring)."""
    gen = torch.Generator().manual_seed(cfg["seed"] + 100)
    p32 = init_params(cfg, gen)
    Bz, T, V = cfg["B"], cfg["T"], cfg["V"]
    data = torch.randint(0, V, (Bz, T + 1), generator=gen)
    tok, tgt = data[:, :T].contiguous(), data[:, 1:].contiguous()
    # mask a run of positions as chat data does (a prompt before each reply) and a few others
    mask = torch.zeros(Bz, T, dtype=torch.bool)
    mask[:, : T // 3] = True
    mask[0, T - 2] = True
    mask[1, T // 2] = True
    tgt = torch.where(mask, torch.full_like(tgt, -1), tgt)
    table = param_table(cfg)
    recs = [("config", "i32", [cfg["arch"] == "gpt2", V, cfg["ctx"], cfg["D"], cfg["L"], cfg["H"],
                               cfg["Hkv"], cfg["F"], int(cfg["tied"]), Bz, T]),
            ("hyper", "f32", [cfg["eps"], cfg["rope_base"]]),
            ("tokens", "i32", tok), ("targets", "i32", tgt)]
    for n, _, _ in table:
        recs.append(("param." + n, "f32", p32[n]))

    # masked loss, every parameter trained
    p = {n: p32[n].double().clone().requires_grad_(True) for n, _, _ in table}
    loss = F.cross_entropy(forward(cfg, p, tok).view(-1, V), tgt.view(-1), ignore_index=-1)
    loss.backward()
    recs.append(("masked.loss", "f32", [loss.item()]))
    for n, _, _ in table:
        recs.append(("masked.grad." + n, "f32", p[n].grad))

    # LoRA: frozen weights, A and B trained
    shapes = {n: s for n, s, _ in table}
    sc = alpha / rank
    lora, a32, b32 = {}, {}, {}
    for n in lora_targets:
        out, inn = shapes[n]
        a32[n] = (0.3 * torch.randn((rank, inn), generator=gen)).float()
        b32[n] = (0.3 * torch.randn((out, rank), generator=gen)).float()
        lora[n] = (a32[n].double().clone().requires_grad_(True),
                   b32[n].double().clone().requires_grad_(True), sc)
    p = {n: p32[n].double() for n, _, _ in table}
    logits = forward(cfg, p, tok, lora)
    loss = F.cross_entropy(logits.view(-1, V), tgt.view(-1), ignore_index=-1)
    loss.backward()
    recs.append(("lora.hyper", "f32", [rank, alpha]))
    for n in lora_targets:
        recs.append(("lora_a." + n, "f32", a32[n]))
        recs.append(("lora_b." + n, "f32", b32[n]))
    recs.append(("lora.logits", "f32", logits.detach()))
    recs.append(("lora.loss", "f32", [loss.item()]))
    for n in lora_targets:
        recs.append(("lora.grad_a." + n, "f32", lora[n][0].grad))
        recs.append(("lora.grad_b." + n, "f32", lora[n][1].grad))
    write_fixture(path, recs)
    print("%s: %d records, LoRA loss %.5f" % (path, len(recs), loss.item()))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    llama = dict(arch="llama", V=32, ctx=8, D=16, L=2, H=4, Hkv=2, F=32, tied=False, B=2, T=8,
                 eps=1e-5, rope_base=10000.0, seed=1)
    gpt2 = dict(arch="gpt2", V=32, ctx=8, D=16, L=2, H=4, Hkv=4, F=64, tied=True, B=2, T=8,
                eps=1e-5, rope_base=10000.0, seed=2)
    run(llama, os.path.join(OUT, "llama.bin"))
    run(gpt2, os.path.join(OUT, "gpt2.bin"))
    run_ft(llama, ["blk.0.attn_k.weight", "blk.0.ffn_up.weight", "blk.1.attn_q.weight",
                   "blk.1.attn_v.weight", "blk.1.attn_output.weight", "blk.1.ffn_gate.weight",
                   "blk.1.ffn_down.weight"], 3, 6.0, os.path.join(OUT, "llama_ft.bin"))
    run_ft(gpt2, ["blk.1.attn_qkv.weight", "blk.1.attn_output.weight", "blk.1.ffn_up.weight",
                  "blk.1.ffn_down.weight"], 4, 2.0, os.path.join(OUT, "gpt2_ft.bin"))


if __name__ == "__main__":
    sys.exit(main())
