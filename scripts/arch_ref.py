#!/usr/bin/python3
"""An independent float64 numpy reference for the architectures gptc runs besides llama2.c's
llama (scripts/llama_ref.py): llama (Llama 3.x rope_freqs), qwen2, qwen3, gemma2, gemma3, phi3,
smollm3. Written from the published model descriptions (the HF transformers modeling code's
math as documented: Llama 3 rope scaling, Qwen2 biases, Qwen3 q/k norm, Gemma 2 soft-capping
and sliding windows, Gemma 3 local/global rope, Phi-3 LongRoPE, SmolLM3 NoPE layers) over the
GGUF tensor layout llama.cpp's converter writes. Run by hand, not in CI:

    /usr/bin/python3 scripts/arch_ref.py ../shared/data/gguf/arch > tests/fixtures/arch_ref.tsv

Each case: a model, a context size, a list of token ids at consecutive positions from `pos0`
(our own prompts: random ids from a fixed seed, long enough to pass the sliding windows, and
positions beyond the rope scaling's original context), then greedy continuation. Output, one
case per line:
    model TAB n_ctx TAB pos0 TAB prompt ids TAB greedy ids TAB logits after the prompt (512, %.6f)
tests/test_arch.c runs gptc on the same cases and compares.

Numerics are float64 throughout except where the architecture's reference implementation itself
rounds: Gemma's GELU goes through ggml's f16 table in llama.cpp, which gptc mimics, so this
reference applies the same f16 rounding around its tanh-GELU (set GELU_F16 = False for the
exact function; the logits then move by about 1e-3).
"""
import sys

import numpy as np

import refcommon
from refcommon import emit, floats_text, greedy, ids_text, read_gguf, rmsnorm, silu

GELU_F16 = True
N_GEN = 16

# ----- blocks --------------------------------------------------------------------------------

def gelu(x):
    return refcommon.gelu(x, GELU_F16)


def rope(x, pos, n_rot, base, neox, factors=None, mscale=1.0):
    """x (T, H, hd); rotate the first n_rot dims of each head by pos * base^(-2i/n_rot) / factor_i"""
    half = n_rot // 2
    inv = base ** (-np.arange(half) * 2.0 / n_rot)
    if factors is not None:
        inv = inv / factors
    ang = pos[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :] * mscale, np.sin(ang)[:, None, :] * mscale
    x = x.copy()
    if neox:
        a, b = x[..., :half].copy(), x[..., half:n_rot].copy()
        x[..., :half], x[..., half:n_rot] = a * c - b * s, a * s + b * c
    else:
        a, b = x[..., 0:n_rot:2].copy(), x[..., 1:n_rot:2].copy()
        x[..., 0:n_rot:2], x[..., 1:n_rot:2] = a * c - b * s, a * s + b * c
    return x

# ----- the models -------------------------------------------------------------------------------

class Model:
    def __init__(self, path, n_ctx):
        kv, t = read_gguf(path)
        self.t = t
        a = kv["general.architecture"]
        self.arch = a
        g = lambda k, d=None: kv.get(a + "." + k, d)
        self.D = g("embedding_length")
        self.L = g("block_count")
        self.H = g("attention.head_count")
        self.Hkv = g("attention.head_count_kv", self.H)
        self.hd = g("attention.key_length", self.D // self.H)
        self.n_rot = g("rope.dimension_count", self.hd)
        self.base = g("rope.freq_base", 10000.0)
        self.eps = g("attention.layer_norm_rms_epsilon", 1e-5)
        self.out = t.get("output.weight", t["token_embd.weight"])
        self.neox = a not in ("llama", "smollm3")
        self.factors, self.mscale = t.get("rope_freqs.weight"), 1.0
        self.scale = 1 / np.sqrt(self.hd)
        self.local = [False] * self.L
        self.window = 0
        self.softcap = self.final_cap = 0
        self.base_local = self.base
        if a == "phi3":
            orig = g("rope.scaling.original_context_length")
            self.factors = t["rope_factors_long.weight"] if n_ctx > orig else t["rope_factors_short.weight"]
            self.mscale = g("rope.scaling.attn_factor", 1.0)
        if a in ("gemma2", "gemma3"):
            self.window = g("attention.sliding_window")
            period = 2 if a == "gemma2" else 6
            self.local = [il % period < period - 1 for il in range(self.L)]
            if a == "gemma2":
                self.softcap = g("attn_logit_softcapping", 50.0)
                self.final_cap = g("final_logit_softcapping", 30.0)
            else:
                self.base_local = g("rope.freq_base_swa", 10000.0)
                self.final_cap = g("final_logit_softcapping", 0.0)

    def forward(self, ids, pos):
        """logits of the last token; ids, pos: the whole sequence so far (no cache: recompute)"""
        t, a = self.t, self.arch
        T = len(ids)
        x = t["token_embd.weight"][ids]
        if a.startswith("gemma"):
            x = x * np.sqrt(self.D)
        pos = np.asarray(pos, dtype=np.float64)
        for il in range(self.L):
            p = "blk.%d." % il
            h = rmsnorm(x, t[p + "attn_norm.weight"], self.eps)
            Q, K = self.H * self.hd, self.Hkv * self.hd
            if p + "attn_qkv.weight" in t:
                qkv = h @ t[p + "attn_qkv.weight"].T
                q, k, v = qkv[:, :Q], qkv[:, Q:Q + K], qkv[:, Q + K:]
            else:
                q, k, v = h @ t[p + "attn_q.weight"].T, h @ t[p + "attn_k.weight"].T, h @ t[p + "attn_v.weight"].T
            if p + "attn_q.bias" in t:
                q, k, v = q + t[p + "attn_q.bias"], k + t[p + "attn_k.bias"], v + t[p + "attn_v.bias"]
            q, k, v = q.reshape(T, self.H, self.hd), k.reshape(T, self.Hkv, self.hd), v.reshape(T, self.Hkv, self.hd)
            if p + "attn_q_norm.weight" in t:
                q = rmsnorm(q, t[p + "attn_q_norm.weight"], self.eps)
                k = rmsnorm(k, t[p + "attn_k_norm.weight"], self.eps)
            no_rope = a == "smollm3" and (il + 1) % 4 == 0
            if not no_rope:
                base = self.base_local if self.local[il] else self.base
                q = rope(q, pos, self.n_rot, base, self.neox, self.factors, self.mscale)
                k = rope(k, pos, self.n_rot, base, self.neox, self.factors, self.mscale)
            g = self.H // self.Hkv
            o = np.zeros((T, self.H, self.hd))
            for hh in range(self.H):
                s = q[:, hh, :] @ k[:, hh // g, :].T * self.scale
                if self.softcap:
                    s = self.softcap * np.tanh(s / self.softcap)
                mask = pos[None, :] > pos[:, None]
                if self.local[il] and self.window:
                    mask |= pos[:, None] - pos[None, :] >= self.window
                s = np.where(mask, -np.inf, s)
                s = np.exp(s - s.max(axis=1, keepdims=True))
                s /= s.sum(axis=1, keepdims=True)
                o[:, hh, :] = s @ v[:, hh // g, :]
            o = o.reshape(T, Q) @ t[p + "attn_output.weight"].T
            if p + "post_attention_norm.weight" in t:
                o = rmsnorm(o, t[p + "post_attention_norm.weight"], self.eps)
            x = x + o
            h = rmsnorm(x, t[p + "ffn_norm.weight"], self.eps)
            if p + "ffn_gate.weight" in t:
                gate, up = h @ t[p + "ffn_gate.weight"].T, h @ t[p + "ffn_up.weight"].T
            else:  # phi3: gate rows then up rows
                gu = h @ t[p + "ffn_up.weight"].T
                F = gu.shape[1] // 2
                gate, up = gu[:, :F], gu[:, F:]
            f = (gelu(gate) if a.startswith("gemma") else silu(gate)) * up
            f = f @ t[p + "ffn_down.weight"].T
            if p + "post_ffw_norm.weight" in t:
                f = rmsnorm(f, t[p + "post_ffw_norm.weight"], self.eps)
            x = x + f
        y = rmsnorm(x[-1], t["output_norm.weight"], self.eps) @ self.out.T
        if self.final_cap:
            y = self.final_cap * np.tanh(y / self.final_cap)
        return y

# ----- the cases -----------------------------------------------------------------------------

def cases():
    rng = np.random.default_rng(20261205)
    ids = lambda n: [int(i) for i in rng.integers(3, 512, n)]
    return [
        ("rand-llama3-d256-F32", 256, 0, ids(20)),
        ("rand-llama3-d256-F32", 16384, 9000, ids(12)),  # beyond the original 8192
        ("rand-qwen2-d128-F32", 256, 0, ids(20)),
        ("rand-qwen3-d128-F32", 256, 0, ids(20)),
        ("rand-gemma2-d128-F32", 256, 0, ids(48)),  # window 32
        ("rand-gemma3-d128-F32", 256, 0, ids(48)),
        ("rand-gemma3-d128-F32", 256, 100, ids(40)),
        ("rand-phi3-d128-F32", 256, 0, ids(20)),  # short factors
        ("rand-phi3-d128-F32", 8192, 5000, ids(12)),  # long factors, beyond the original 4096
        ("rand-smollm3-d128-F32", 256, 0, ids(20)),
    ]


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/gguf/arch"
    for name, n_ctx, pos0, prompt in cases():
        m = Model("%s/%s.gguf" % (d, name), n_ctx)
        gen, logits0 = greedy(lambda seq: m.forward(np.array(seq), np.arange(pos0, pos0 + len(seq))), prompt, N_GEN)
        emit(name, str(n_ctx), str(pos0), ids_text(prompt), ids_text(gen), floats_text(logits0))


if __name__ == "__main__":
    main()
